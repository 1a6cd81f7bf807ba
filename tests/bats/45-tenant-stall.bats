#!/usr/bin/env bats
# One tenant cannot stall another: tenant A backs its loop0 with a file
# served by its own FUSE server (fuse2fs), and the server stops (SIGSTOP)
# while a read is in flight on loop0 and A changes loop0: (a) binds a
# device stacked on loop0 with direct I/O (the switch flushes loop0, which
# waits for the server), (b) LOOP_CHANGE_FD on loop0 (which waits for the
# read). Meanwhile container B (host user 1001) mounts an instance, adds,
# attaches, detaches (last close), removes and unmounts (a detach) within
# 10 s. Then A's server continues, everything finishes, and no device or
# module reference is left. The same with A's server killed instead of
# continued: only A sees errors.

load helpers
load userns

setup() {
	skip_unless_root
	skip_unless_cmd setpriv unshare nsenter fuse2fs mkfs.ext4 dd
	[[ -c /dev/fuse ]] || skip "needs /dev/fuse"
	load_loopns
	T=$(mktemp -d /tmp/lns45.XXXXXX)
	chmod 1777 "$T"
	A=$T/a HB=$T/u1001
	mkdir -p "$A" "$T/fm" "$HB/d"
	truncate -s 4M "$T/back2"
	truncate -s 8M "$HB/img"
	chown -R 1001:1001 "$HB"
	BASE=$(lns_disk_count)
	REFCNT=$(cat /sys/module/loopns/refcnt)
	PIDS=()
	FUSE_PID=
	A_SIGNAL=CONT
}

teardown() {
	[[ -n ${T:-} && -d $T ]] || return 0
	end_tenants
	umount_under "$T"
	wait_for 10 test "$(lns_disk_count)" -le "$BASE" || true
	rm -rf "$T"
}

# settled: no loopns device and no module reference left over.
settled() {
	[[ $(lns_disk_count) -eq $BASE && $(cat /sys/module/loopns/refcnt) -eq $REFCNT ]]
}

# a_start BIND: instance A at $A (loop0, loop1) and fuse2fs serving
# $T/fm; loop0 bound to $T/fm/back (4 MiB) with BIND (set-fd's FILE
# prefix: "" read-write, "ro:" read-only). The server runs as host root:
# the device's requests are served by a kernel worker, whose ids a FUSE
# connection of a user namespace cannot map. Container B only holds its
# namespaces until b_cycle.
a_start() {
	truncate -s 32M "$T/fimg"
	mkfs.ext4 -q -F -O ^has_journal "$T/fimg"
	fuse2fs -f -o fakeroot "$T/fimg" "$T/fm" >/dev/null 2>&1 3>&- </dev/null &
	FUSE_PID=$!
	wait_for 15 grep -q " $T/fm " /proc/self/mounts
	head -c 4M /dev/zero >"$T/fm/back"
	mount -t loopns loopns "$A"
	loopioctl "$A/loop-control" ctl-add 0 >/dev/null
	loopioctl "$A/loop-control" ctl-add 1 >/dev/null
	loopioctl "$A/loop0" set-fd "$1$T/fm/back" >/dev/null
	dd if="$A/loop0" of=/dev/null bs=64k count=1 iflag=direct status=none
	hold b 1001 "true"
}

# a_stall_read: stop A's server with a read of loop0 in flight (the
# backing file's cache dropped first, so that the read reaches the
# server; the read is still running 3 s later). Sets RPID.
a_stall_read() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	kill -STOP "$FUSE_PID"
	dd if="$A/loop0" of=/dev/null bs=64k count=1 skip=9 iflag=direct \
		>"$T/read.out" 2>&1 3>&- &
	RPID=$!
	sleep 3
	echo "the read waits in:"
	cat "/proc/$RPID/stack" 2>/dev/null || true
	cat "$T/read.out"
	kill -0 "$RPID"
}

# b_cycle: as root of container B: mount an instance, LOOP_CTL_ADD,
# attach, detach (LOOP_CLR_FD then the last close), attach again,
# LOOP_CTL_REMOVE of an idle device, and umount with a device bound. The
# whole within 10 s, whatever A's server does. Sets B_DONE (yes/no).
b_cycle() {
	local bpid
	B_DONE=no
	(exec nsenter -t "$PID_b" -U -m -- bash -exc "
		mount -t loopns loopns $HB/d
		loopioctl $HB/d/loop-control ctl-add 0
		loopioctl $HB/d/loop-control ctl-add 1
		loopioctl $HB/d/loop0 set-fd $HB/img
		loopioctl $HB/d/loop0 clr
		test \"\$(loopioctl $HB/d/loop0 get-status64)\" = ENXIO
		loopioctl $HB/d/loop1 set-fd $HB/img
		loopioctl $HB/d/loop-control ctl-remove 0
		umount $HB/d
		echo B-DONE") >"$T/b.out" 2>&1 3>&- &
	bpid=$!
	exits_within 10 "$bpid" && B_DONE=yes
	echo "B's cycle done within 10 s: $B_DONE"
	# The rest finishes once A's server continues (or dies: A_SIGNAL).
	kill -"$A_SIGNAL" "$FUSE_PID"
	wait "$bpid" || true
	cat "$T/b.out"
	grep -qx B-DONE "$T/b.out"
}

# a_finish PID: after A's server continued, A's stalled command PID and
# the read finish; A's instance goes away and nothing is left.
a_finish() {
	exits_within 30 "$1"
	exits_within 30 "$RPID"
	wait "$RPID"
	loopioctl "$A/loop1" clr >/dev/null || true
	loopioctl "$A/loop0" clr >/dev/null
	umount "$A"
	umount "$T/fm"
	drop b
	wait_for 15 settled
}

# a_waits_then_b WHAT CMD...: A's CMD, which waits on the stopped server,
# in the background; meanwhile B's whole control plane must finish
# (b_cycle); once the server continues, CMD must succeed.
a_waits_then_b() {
	local what=$1 apid
	shift
	timeout -s KILL 90 "$@" >"$T/a.out" 2>&1 3>&- &
	apid=$!
	sleep 2
	echo "$what waits in:"
	waits_in "$apid"
	b_cycle
	a_finish "$apid"
	echo "$what: $(cat "$T/a.out")"
	[ "$(cat "$T/a.out")" = 0 ]
	[ "$B_DONE" = yes ]
}

@test "A's server stopped with a read in flight and a stacked direct-I/O bind flushing A's device: B's control plane does not wait" {
	a_start ""
	a_stall_read
	# Direct I/O on loop1 stacked on loop0 flushes loop0 (write cache:
	# its backing file has fsync), which waits for the stopped server.
	a_waits_then_b "A's stacked bind" loopioctl "$A/loop1" configure "ro:$A/loop0" 16
}

@test "A's server stopped with a read in flight and A's LOOP_CHANGE_FD waiting for it: B's control plane does not wait" {
	a_start ro:
	a_stall_read
	a_waits_then_b "A's LOOP_CHANGE_FD" loopioctl "$A/loop0" change-fd "ro:$T/back2"
}

@test "A's server killed with a read in flight and A's LOOP_CHANGE_FD waiting for it: B's control plane does not wait, only A sees errors" {
	local apid
	a_start ro:
	a_stall_read
	timeout -s KILL 90 loopioctl "$A/loop0" change-fd "ro:$T/back2" \
		>"$T/a.out" 2>&1 3>&- &
	apid=$!
	sleep 2
	echo "A's LOOP_CHANGE_FD waits in:"
	waits_in "$apid"
	A_SIGNAL=KILL
	b_cycle
	FUSE_PID=
	exits_within 30 "$apid"
	exits_within 30 "$RPID"
	echo "A's LOOP_CHANGE_FD: $(cat "$T/a.out")"
	cat "$T/read.out"
	if wait "$RPID"; then
		echo "A's read did not fail"
		return 1
	fi
	loopioctl "$A/loop0" clr >/dev/null || true
	umount "$A"
	umount "$T/fm" 2>/dev/null || umount -l "$T/fm"
	drop b
	wait_for 15 settled
	[ "$B_DONE" = yes ]
}

@test "nothing is left pinned: the module unloads" {
	[ "$(lns_disk_count)" -eq 0 ]
	unload_loopns
	load_loopns
}
