#!/usr/bin/env bats
# One tenant cannot stall another: container A (host user 1000) backs its
# loop0 with a file served by its own FUSE server (fuse2fs), and stops the
# server (SIGSTOP) while a read is in flight on loop0 and A changes loop0:
# (a) binds a device stacked on loop0 with direct I/O (the switch flushes
# loop0, which waits for the server), (b) LOOP_CHANGE_FD on loop0 (which
# waits for the read). Meanwhile container B (host user 1001) mounts an
# instance, adds, attaches, detaches (last close), removes and unmounts
# (a detach) within 10 s. Then A's server continues, everything finishes,
# and no device or module reference is left.

load helpers
load userns

setup() {
	skip_unless_root
	skip_unless_cmd setpriv unshare nsenter fuse2fs mkfs.ext4 dd
	[[ -c /dev/fuse ]] || skip "needs /dev/fuse"
	load_loopns
	T=$(mktemp -d /tmp/lns45.XXXXXX)
	chmod 1777 "$T"
	HA=$T/u1000 HB=$T/u1001
	mkdir -p "$HA/d" "$HA/m" "$HB/d"
	truncate -s 4M "$HA/back2"
	truncate -s 8M "$HB/img"
	chown -R 1000:1000 "$HA"
	chown -R 1001:1001 "$HB"
	BASE=$(lns_disk_count)
	REFCNT=$(cat /sys/module/loopns/refcnt)
	PIDS=()
	FUSE_PID=
}

teardown() {
	[[ -n ${T:-} && -d $T ]] || return 0
	[[ -n $FUSE_PID ]] && kill -CONT "$FUSE_PID" 2>/dev/null
	kill_pids
	umount_under "$T"
	wait_for 10 test "$(lns_disk_count)" -le "$BASE" || true
	rm -rf "$T"
}

# settled: no loopns device and no module reference left over.
settled() {
	[[ $(lns_disk_count) -eq $BASE && $(cat /sys/module/loopns/refcnt) -eq $REFCNT ]]
}

# a_start BIND: container A with its instance at $HA/d (loop0, loop1) and
# fuse2fs serving $HA/m; loop0 bound to $HA/m/back (4 MiB) with BIND
# (set-fd's FILE prefix: "" read-write, "ro:" read-only).
a_start() {
	as_user 1000 truncate -s 32M "$HA/fimg"
	as_user 1000 mkfs.ext4 -q -F -O ^has_journal "$HA/fimg"
	hold a 1000 "mount -t loopns loopns $HA/d
loopioctl $HA/d/loop-control ctl-add 0 >/dev/null
loopioctl $HA/d/loop-control ctl-add 1 >/dev/null"
	hold b 1001 "true"
	in_ns "$PID_a" bash -ec "
		fuse2fs -f -o fakeroot $HA/fimg $HA/m >/dev/null 2>&1 3>&- </dev/null &
		echo \$! >$HA/fuse.pid
		for i in \$(seq 150); do grep -q ' $HA/m ' /proc/self/mounts && break; sleep 0.1; done
		head -c 4M /dev/zero >$HA/m/back
		loopioctl $HA/d/loop0 set-fd $1$HA/m/back >/dev/null"
	FUSE_PID=$(cat "$HA/fuse.pid")
	DISK_A=$(lns_disk "/proc/$PID_a/root$HA/d/loop0")
}

# reads_in_flight: A's loop0 has a read request in flight.
reads_in_flight() {
	local r w
	read -r r w <"/sys/block/$DISK_A/inflight"
	((r > 0))
}

# a_stall_read: stop A's server with a read of loop0 in flight (the
# backing file's cache dropped first, so that the read reaches the
# server). Sets RPID.
a_stall_read() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	kill -STOP "$FUSE_PID"
	(exec nsenter -t "$PID_a" -U -m -- dd if="$HA/d/loop0" of=/dev/null \
		bs=64k count=1 iflag=direct) >"$T/read.out" 2>&1 3>&- &
	RPID=$!
	wait_for 10 reads_in_flight
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
	# The rest finishes once A's server continues.
	kill -CONT "$FUSE_PID"
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
	in_ns "$PID_a" bash -ec "
		loopioctl $HA/d/loop1 clr >/dev/null || true
		loopioctl $HA/d/loop0 clr >/dev/null
		umount $HA/d
		fusermount -u $HA/m 2>/dev/null || umount $HA/m"
	drop a
	drop b
	wait_for 15 settled
}

@test "A's server stopped with a read in flight and a stacked direct-I/O bind flushing A's device: B's control plane does not wait" {
	local apid
	a_start ""
	a_stall_read
	# Direct I/O on loop1 stacked on loop0 flushes loop0 (write cache:
	# its backing file has fsync), which waits for the stopped server.
	(exec nsenter -t "$PID_a" -U -m -- timeout -s KILL 90 \
		loopioctl "$HA/d/loop1" configure "ro:$HA/d/loop0" 16) >"$T/a.out" 2>&1 3>&- &
	apid=$!
	sleep 2
	echo "A's stacked bind waits in:"
	waits_in "$apid"
	b_cycle
	a_finish "$apid"
	echo "A's stacked bind: $(cat "$T/a.out")"
	[ "$(cat "$T/a.out")" = 0 ]
	[ "$B_DONE" = yes ]
}

@test "A's server stopped with a read in flight and A's LOOP_CHANGE_FD waiting for it: B's control plane does not wait" {
	local apid
	a_start ro:
	a_stall_read
	(exec nsenter -t "$PID_a" -U -m -- timeout -s KILL 90 \
		loopioctl "$HA/d/loop0" change-fd "ro:$HA/back2") >"$T/a.out" 2>&1 3>&- &
	apid=$!
	sleep 2
	echo "A's LOOP_CHANGE_FD waits in:"
	waits_in "$apid"
	b_cycle
	a_finish "$apid"
	echo "A's LOOP_CHANGE_FD: $(cat "$T/a.out")"
	[ "$(cat "$T/a.out")" = 0 ]
	[ "$B_DONE" = yes ]
}

@test "nothing is left pinned: the module unloads" {
	[ "$(lns_disk_count)" -eq 0 ]
	unload_loopns
	load_loopns
}
