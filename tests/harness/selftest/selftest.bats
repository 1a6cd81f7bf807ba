#!/usr/bin/env bats
# Harness self-test suite (run by tests/harness/selftest.sh, never by the
# normal matrix). One test fails on purpose; another plants a fake kernel
# warning in the console log. The harness must report both and fail.

@test "selftest: deliberately failing test" {
	echo "this failure is expected by tests/harness/selftest.sh"
	[ 1 -eq 2 ]
}

@test "selftest: plant a fake kernel warning" {
	echo "<4>WARNING: CPU: 0 PID: 1 at selftest (planted by the harness self-test)" >/dev/kmsg
}

@test "selftest: guest environment is complete" {
	[ "$LOOPNS_SCRATCH" = /mnt/scratch ]
	mountpoint -q "$LOOPNS_SCRATCH"
	[ -d "$TESTS_DIR/bats" ]
	[ -d "$HELPERS_DIR" ]
	[ "$(readlink -f /bin/sh)" = /usr/bin/bash ]
	modinfo loopns | grep -q '^filename:.*/updates/loopns.ko'
	modprobe loop
	echo "ok" >"$LOOPNS_SCRATCH/probe" && rm "$LOOPNS_SCRATCH/probe"
}
