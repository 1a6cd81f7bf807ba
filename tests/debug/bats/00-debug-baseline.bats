#!/usr/bin/env bats
# First file of a check-debug boot: the kernel is the debug kernel, its
# sanitizers are on, and kmemleak's view of boot-time allocations is
# cleared so that 99-kmemleak.bats reports only what the tests leaked.

KML=/sys/kernel/debug/kmemleak

@test "debug kernel: KASAN, UBSAN, lockdep, kmemleak, hung-task detection and fault injection are on" {
	local c=/boot/config-$(uname -r) o
	[ -r "$c" ]
	for o in KASAN UBSAN PROVE_LOCKING DEBUG_ATOMIC_SLEEP DEBUG_KMEMLEAK \
		DETECT_HUNG_TASK FAULT_INJECTION FAILSLAB FAIL_MAKE_REQUEST \
		FAULT_INJECTION_DEBUG_FS; do
		grep -qx "CONFIG_$o=y" "$c" || { echo "CONFIG_$o is not set"; false; }
	done
	[ -w "$KML" ]
	[ -d /sys/kernel/debug/failslab ]
	cat /proc/lockdep_stats 2>/dev/null | head -3 || true
}

@test "debug kernel: kmemleak baseline (boot-time reports cleared)" {
	echo scan >"$KML"
	echo clear >"$KML"
}
