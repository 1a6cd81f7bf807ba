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

# A memory cgroup's OOM kill is a test's own doing: the kernel's report of
# it (with a stack dump) must not fail the run. selftest.sh checks that the
# report reached the console and that the harness did not list it.
@test "selftest: an OOM kill in a memory cgroup" {
	local cg=/sys/fs/cgroup/lns-selftest-oom
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control
	mkdir "$cg"
	echo $((16 << 20)) >"$cg/memory.max"
	run bash -c 'echo $$ >"$1/cgroup.procs" && exec dd if=/dev/zero of=/dev/null bs=64M count=1' _ "$cg"
	echo "$output"
	[ "$status" -eq 137 ]
	grep -qx 'oom_kill 1' "$cg/memory.events"
	rmdir "$cg"
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

@test "selftest: lns-enter points unmodified losetup at an instance directory" {
	# A stand-in instance: a directory holding loop-control and loopN nodes
	# of the in-kernel loop driver, as a loopns instance holds its own.
	modprobe loop
	inst=$(mktemp -d)
	mount -t tmpfs lnsfake "$inst"
	mknod "$inst/loop-control" c 10 237
	for n in 0 1 2 3 4 5 6 7; do mknod "$inst/loop$n" b 7 "$n"; done
	truncate -s 16M "$LOOPNS_SCRATCH/lns-enter.img"
	run lns-enter "$inst" losetup -f --show "$LOOPNS_SCRATCH/lns-enter.img"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == /dev/loop[0-9]* ]]
	dev=$inst/${output#/dev/}
	mkfs.ext4 -q -F "$dev"
	lns-enter "$inst" losetup "$output" | grep -q lns-enter.img
	lns-enter "$inst" losetup -d "$output"
	umount "$inst"
	rm -f "$LOOPNS_SCRATCH/lns-enter.img"
}

@test "selftest: helpers.bash lns_mount works in loop parity mode" {
	load ../../bats/helpers
	LOOPNS_DRIVER=loop
	lns_mount "$BATS_TEST_TMPDIR/inst"
	[ -c "$BATS_TEST_TMPDIR/inst/loop-control" ]
	lns_umount "$BATS_TEST_TMPDIR/inst"
	[ ! -e "$BATS_TEST_TMPDIR/inst/loop-control" ]
}

# Last on purpose: the harness's watchdog must find this test stuck, dump
# the guest's tasks and stop the VM (selftest.sh runs with a short
# LOOPNS_STALL_TIMEOUT). A write to a frozen filesystem sleeps in the
# kernel, uninterruptibly, until the filesystem is thawed: never here.
@test "selftest: a test that hangs in the kernel" {
	fsfreeze --freeze "$LOOPNS_SCRATCH"
	echo "selftest: writing to a frozen filesystem; the watchdog must stop this VM" >/dev/kmsg
	touch "$LOOPNS_SCRATCH/selftest-frozen"
}
