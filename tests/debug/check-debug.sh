#!/bin/bash
# `make check-debug`: loopns on the debug kernel (KASAN, UBSAN, lockdep,
# kmemleak, hung-task detection, fault injection; tests/debug/debug.config).
#
#   tests/debug/check-debug.sh [KEY=VALUE...]
#
# 1. tests/debug/build-kernel.sh builds the kernel once (cached) and links
#    it into /lib/modules and /boot under its own release
#    (6.12.<n>-loopns-debug);
# 2. the VM harness (tests/harness/check.sh) builds loopns against it and
#    boots it in parallel:
#      suite   the whole Bats suite (tests/bats/*.bats), dealt round-robin
#              over LOOPNS_DEBUG_SHARDS boots (default 2: suite-1, suite-2)
#      stress  tests/stress/run.sh for LOOPNS_STRESS_SECONDS (default 300),
#              then tests/stress/fio-volume.sh: fio --verify=crc32c over
#              LOOPNS_FIO_VOLUME_MIB (default 8192) in a 64 MiB memcg
#    each boot starts with tests/debug/bats/00-debug-baseline.bats (checks
#    the sanitizers, clears kmemleak's boot-time reports) and ends with
#    tests/debug/bats/99-kmemleak.bats (rmmod loopns, two kmemleak scans,
#    any unreferenced object fails);
# 3. the harness fails a boot whose console log has any KASAN, UBSAN,
#    lockdep, hung-task, WARNING or BUG line; the reports are collected in
#    build/debug/splats.txt.
#
# Options (KEY=VALUE or environment):
#   PARTS="suite stress"     which boots (default both); "suite-N" is
#                            only the N-th of the suite's boots
#   LOOPNS_DEBUG_SHARDS      how many boots share the suite (default 2)
#   LOOPNS_DEBUG_OUT         where the logs go (default build/debug)
#   LOOPNS_TIME_SCALE        factor for the tests' waits (default 10)
#   LOOPNS_STRESS_GRACE      a stress worker's overrun limit (default 900)
#   LOOPNS_STRESS_SECONDS    stress duration (default 300)
#   LOOPNS_FIO_VOLUME_MIB    fio verify volume of the stress boot (8192)
#   LOOPNS_STRESS_TEST_TIMEOUT, LOOPNS_STRESS_VM_TIMEOUT  the stress
#                            boot's limits (43200, 50400: the volume)
#   BATS=...  FILTER=...     restrict the suite boot, as for check.sh
#   LOOPNS_MEM (2048), LOOPNS_VM_TIMEOUT (14400), LOOPNS_TEST_TIMEOUT (3600)
# Logs: build/debug/<part>/logs/<kver>/ (console.log, tap.txt, ...).
# Last line: "N passed, N failed" over both boots.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

for arg in "$@"; do
	case $arg in
	-h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*=*) export "${arg?}" ;;
	*) echo "check-debug: unknown argument $arg" >&2; exit 2 ;;
	esac
done
PARTS=${PARTS:-suite stress}
OUT=${LOOPNS_DEBUG_OUT:-$REPO/build/debug}
mkdir -p "$OUT"

t0=$(date +%s)
KV=$("$HERE/build-kernel.sh" build) || { echo "check-debug: debug kernel build failed"; echo "0 passed, 1 failed"; exit 1; }
echo "check-debug: kernel $KV ($("$HERE/build-kernel.sh" status))"

export KVER=$KV LOOPNS_SELFTEST=0
export LOOPNS_MEM=${LOOPNS_MEM:-2048}
export LOOPNS_VM_TIMEOUT=${LOOPNS_VM_TIMEOUT:-14400}
export LOOPNS_TEST_TIMEOUT=${LOOPNS_TEST_TIMEOUT:-3600}
# The watchdog waits above the per-test limit; no time budget here.
export LOOPNS_STALL_TIMEOUT=${LOOPNS_STALL_TIMEOUT:-3900} LOOPNS_VM_BUDGET=0
# Slow sanitized kernel under TCG on a shared machine: no spurious RCU
# stall or soft-lockup reports; every KASAN report, not only the first.
export LOOPNS_CMDLINE="${LOOPNS_CMDLINE:-} kasan_multi_shot watchdog_thresh=60 rcupdate.rcu_cpu_stall_timeout=120"
STRESS_SECONDS=${LOOPNS_STRESS_SECONDS:-300}
# Waits in the tests (wait_for) last this many times longer, and stress
# workers may overrun their deadline by this much: everything is 10 to 20
# times slower on this kernel under TCG.
TIME_SCALE=${LOOPNS_TIME_SCALE:-10}
GRACE=${LOOPNS_STRESS_GRACE:-900}

# Helpers are built into each part's build dir. stress-ng travels with
# them unless the base initramfs has it already (mkinitramfs.sh PROGRAMS).
prepare_part() {
	local b=$OUT/$1 sng
	mkdir -p "$b/helpers"
	sng=$(command -v stress-ng) || return 0
	if ! grep -q 'stress-ng' "$REPO/tests/harness/mkinitramfs.sh"; then
		cp -u "$sng" "$b/helpers/stress-ng"
	fi
}

run_part() {
	local part=$1 b=$OUT/$1
	shift
	prepare_part "$part"
	LOOPNS_BUILD_DIR=$b LOOPNS_LOG_DIR=$b/logs LOOPNS_VM_DIR=$b/vm \
		"$REPO/tests/harness/check.sh" "$@" >"$b/check.out" 2>&1
	echo $? >"$b/check.status"
}

"$REPO/tests/stress/install-deps.sh" || echo "check-debug: stress-ng not installable; stress-ng worker will be skipped"

# shard_files I N FILES...: every Nth file from the I-th (1-based).
shard_files() {
	local i=$1 n=$2 k=0 f
	shift 2
	for f in "$@"; do
		((k++ % n == i - 1)) && printf '%s ' "$f"
	done
}

SHARDS=${LOOPNS_DEBUG_SHARDS:-2}
pids=() booted=()
start_part() {
	pids+=($!)
	booted+=("$1")
	echo "check-debug: $1 boot started (log: $OUT/$1/check.out)"
	sleep 20 # let the first one build the module and the base initramfs
}

files=$(cd "$REPO" && ls tests/bats/*.bats | LC_ALL=C sort | tr '\n' ' ')
[[ -n ${BATS:-} ]] && files=$BATS
for part in $PARTS; do
	case $part in
	suite | suite-[1-9]*)
		for ((i = 1; i <= SHARDS; i++)); do
			[[ $part == suite || $part == "suite-$i" ]] || continue
			# shellcheck disable=SC2086 # a list of file names
			LOOPNS_GUEST_ENV="${LOOPNS_GUEST_ENV:-} LOOPNS_TIME_SCALE=$TIME_SCALE LOOPNS_STRESS_GRACE=$GRACE LOOPNS_SOAK_SCALE=${LOOPNS_SOAK_SCALE:-3}" \
				BATS="tests/debug/bats/00-debug-baseline.bats $(shard_files "$i" "$SHARDS" $files)tests/debug/bats/99-kmemleak.bats" \
				run_part "suite-$i" &
			start_part "suite-$i"
		done
		continue
		;;
	stress)
		# A worker's last round may overrun the deadline by minutes on
		# this kernel under TCG (a lazy round took over 8 minutes while
		# the suite boot ran beside it); hangs are for the hung-task
		# detector to report.
		# fio's verify volume runs for hours on this kernel under
		# TCG (about 6 MB/s on the stock kernel; the debug kernel is
		# 10 to 30 times slower): it prints a kernel log line per
		# pass for the watchdog, and gets its own test and VM limits.
		FILTER='' LOOPNS_GUEST_ENV="${LOOPNS_GUEST_ENV:-} LOOPNS_STRESS_SECONDS=$STRESS_SECONDS LOOPNS_STRESS_GRACE=$GRACE LOOPNS_FIO_VOLUME_MIB=${LOOPNS_FIO_VOLUME_MIB:-8192}" \
			LOOPNS_TEST_TIMEOUT=${LOOPNS_STRESS_TEST_TIMEOUT:-43200} LOOPNS_VM_TIMEOUT=${LOOPNS_STRESS_VM_TIMEOUT:-50400} \
			BATS="tests/debug/bats/00-debug-baseline.bats tests/debug/bats/90-stress.bats tests/debug/bats/91-fio-volume.bats tests/debug/bats/99-kmemleak.bats" \
			run_part stress &
		;;
	*) echo "check-debug: unknown part $part" >&2; exit 2 ;;
	esac
	start_part "$part"
done
wait "${pids[@]}"

pass=0 fail=0
: >"$OUT/splats.txt"
for part in "${booted[@]}"; do
	b=$OUT/$part
	echo "=== check-debug part: $part (exit $(cat "$b/check.status" 2>/dev/null))"
	grep -E '^(  )?(ok|not ok) |^  console log|^    [0-9]+:|^--- |^\[harness\] time' "$b/check.out" | head -n 200
	read -r p f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$b/check.out" | tail -n 1)
	pass=$((pass + ${p:-0})) fail=$((fail + ${f:-1}))
	c=$b/logs/$KV/console.log
	if [[ -f $c ]]; then
		# Whole reports, from the first line to the end of their trace.
		tr -d '\r' <"$c" | awk -v part="$part" '
			/BUG:|WARNING:|UBSAN:|KASAN|possible circular|possible recursive|inconsistent lock|INFO: task|hung_task|blocked for more than|kmemleak|Oops|general protection/ { on = 1; n = 0; print "--- " part ": " $0; next }
			on { print; if (++n > 80 || /---\[ end trace/ || /^\[[ 0-9.]+\] =+$/ && n > 5) on = 0 }' >>"$OUT/splats.txt"
	fi
done
secs=$(($(date +%s) - t0))
if [[ -s $OUT/splats.txt ]]; then
	echo "check-debug: kernel reports in the console logs (full text in build/debug/splats.txt):"
	grep '^--- ' "$OUT/splats.txt" | head -n 40
fi
echo "check-debug: total ${secs}s"
echo "$pass passed, $fail failed"
((fail == 0))
