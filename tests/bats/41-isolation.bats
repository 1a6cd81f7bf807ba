#!/usr/bin/env bats
# Isolation between instances of two containers: host users 1000 ("A")
# and 1001 ("B") each create a user + mount namespace and mount an
# instance there. B is root in its namespace and tries what a hostile
# container root could: indexes and every control ioctl of its own
# loop-control, the other's nodes through /proc/<pid>/root, setns and
# rename/unlink, forged nodes (mknod in its instance, in a tmpfs of its
# namespace, a loop-control dev_t made elsewhere), the host's /dev/loopnsM,
# the other's backing_file in sysfs, descriptors handed over, and starving
# the other through a stalled FUSE backing file.

load helpers
load userns

setup() {
	skip_unless_root
	skip_unless_cmd setpriv unshare nsenter lnssec
	load_loopns
	T=$(mktemp -d /tmp/lns41.XXXXXX)
	chmod 1777 "$T"
	HA=$T/u1000 HB=$T/u1001
	mkdir -p "$HA/d" "$HA/m" "$HB/d" "$HB/t" "$T/x"
	truncate -s 8M "$HA/img" "$HB/img" "$HB/img2" "$T/img"
	chown -R 1000:1000 "$HA"
	chown -R 1001:1001 "$HB"
	BASE=$(lns_disk_count)
	PIDS=()
	FUSE_PID=
}

teardown() {
	end_tenants
	umount_under "$T"
	wait_for 10 test "$(lns_disk_count)" -le "$BASE" || true
	rm -rf "$T"
}

# Container A: loop0 bound to its image, loop40 and loop41 idle.
# Container B: loop0 bound to its image.
two_containers() {
	hold a 1000 "mount -t loopns loopns $HA/d
loopioctl $HA/d/loop-control ctl-add 0 >/dev/null
loopioctl $HA/d/loop0 set-fd $HA/img >/dev/null
loopioctl $HA/d/loop-control ctl-add 40 >/dev/null
loopioctl $HA/d/loop-control ctl-add 41 >/dev/null"
	hold b 1001 "mount -t loopns loopns $HB/d
loopioctl $HB/d/loop-control ctl-add 0 >/dev/null
loopioctl $HB/d/loop0 set-fd $HB/img >/dev/null"
	RA=/proc/$PID_a/root$HA/d
	DISK_A=$(lns_disk "$RA/loop0")
}

# state_a: what A's instance looks like (names, dev_t, binding).
state_a() {
	in_ns "$PID_a" bash -c "ls -A $HA/d; stat -c '%n %t:%T' $HA/d/loop*; loopioctl $HA/d/loop0 get-status64"
}

# b CMD...: CMD as root of container B.
b() {
	in_ns "$PID_b" "$@"
}

@test "indexes are per instance: B's loop-control ADD/REMOVE/GET_FREE/ATTACH never touch A" {
	two_containers
	local before m ctl=$HB/d/loop-control
	before=$(state_a)
	echo "$before"
	# A's indexes mean B's own devices (or nothing) in B.
	[ "$(b loopioctl "$ctl" ctl-remove 40)" = ENODEV ]
	[ "$(b loopioctl "$ctl" ctl-remove 41)" = ENODEV ]
	[ "$(b loopioctl "$ctl" ctl-remove 0)" = EBUSY ]
	[ "$(b loopioctl "$ctl" ctl-add 40)" = 40 ]
	[ "$(b loopioctl "$ctl" ctl-remove 40)" = 0 ]
	# A's loop40/41 are free, B's loop0 is not: GET_FREE creates B's loop1.
	[ "$(b loopioctl "$ctl" ctl-get-free)" = 1 ]
	[ "$(b loopioctl "$ctl" ctl-add -1)" = 2 ]
	run b loopns-attach "$ctl" "$HB/img2" --exec true
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 3 ]
	# Global device numbers (the M of A's loopnsM) are not indexes in B.
	for m in $(stat -c '%T' "$RA"/loop*); do
		m=$((16#$m))
		((m >= 0 && m <= 3)) && continue
		[ "$(b loopioctl "$ctl" ctl-remove "$m")" = ENODEV ]
	done
	[ "$(b loopioctl "$ctl" ctl-remove 1)" = 0 ]
	[ "$(b loopioctl "$ctl" ctl-remove 2)" = 0 ]
	[ "$(state_a)" = "$before" ]
	[ "$(b ls -A "$HB/d" | tr '\n' ' ')" = "loop-control loop0 " ]
	[ "$(cat "/sys/block/$DISK_A/loop/backing_file")" = "$HA/img" ]
}

@test "B cannot reach A's nodes: not mounted in B, /proc/<pid>/root and setns refused, no unlink or rename" {
	two_containers
	local before
	before=$(state_a)
	# A's mount point is an empty directory in B's mount namespace.
	[ -z "$(b ls -A "$HA/d")" ]
	[ "$(b lnssec try-open "$HA/d/loop0" r)" = ENOENT ]
	# The way into another mount namespace is ptrace-checked: other host user.
	[ "$(b lnssec try-open "$RA/loop0" r)" = EACCES ]
	[ "$(b lnssec try-open "$RA/loop-control" rw)" = EACCES ]
	run b rm -f "$RA/loop40"
	echo "$output"
	[ "$status" -ne 0 ]
	run b mv "$RA/loop41" "$RA/loop42"
	[ "$status" -ne 0 ]
	run b nsenter -t "$PID_a" -m true
	echo "$output"
	[ "$status" -ne 0 ]
	run b nsenter -t "$PID_a" -U -m true
	[ "$status" -ne 0 ]
	# Nor can B's owner on the host (uid 1001, no namespace).
	[ "$(as_user 1001 lnssec try-open "$RA/loop0" r)" = EACCES ]
	# In its own pid namespace, B does not even see A's pid.
	run as_user 1001 unshare -Urmpf --mount-proc lnssec try-open "$RA/loop0" r
	[ "$output" = ENOENT ]
	[ "$(state_a)" = "$before" ]
}

@test "forged nodes: no mknod in an instance or a namespace's tmpfs; a node inside B's own image does not open" {
	skip_unless_cmd mkfs.ext4 debugfs fuse2fs
	[[ -c /dev/fuse ]] || skip "needs /dev/fuse"
	two_containers
	local mm maj min
	mm=$(stat -c '%t:%T' "$RA/loop0")
	maj=$((16#${mm%:*})) min=$((16#${mm#*:}))
	# mknod needs CAP_MKNOD in the initial namespace; in loopns also
	# nothing but loopns creates nodes.
	run b mknod "$HB/d/fake" b "$maj" "$min"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"Operation not permitted"* ]]
	b mount -t tmpfs lns41 "$HB/t"
	run b mknod "$HB/t/fake" b "$maj" "$min"
	[ "$status" -ne 0 ]
	[[ $output == *"Operation not permitted"* ]]
	# An image B brings along holds a node with A's dev_t, mode 0666 (an
	# image or tarball may hold any node): mounted by B (fuse2fs), its
	# superblock belongs to B's namespace, has SB_I_NODEV, and the node
	# never opens, not even for host root.
	truncate -s 16M "$HB/fimg"
	mkfs.ext4 -q -F -O ^has_journal "$HB/fimg"
	debugfs -w -R "mknod fake b $maj $min" "$HB/fimg"
	debugfs -w -R "sif fake mode 060666" "$HB/fimg"
	chown 1001:1001 "$HB/fimg"
	mkdir -p "$HB/m"
	chown 1001:1001 "$HB/m"
	b bash -c "fuse2fs -o fakeroot $HB/fimg $HB/m >/dev/null 2>&1 3>&- </dev/null"
	[ "$(b stat -c '%t:%T %a' "$HB/m/fake")" = "$mm 666" ]
	[ "$(b lnssec try-open "$HB/m/fake" r)" = EACCES ]
	[ "$(b lnssec try-open "$HB/m/fake" rw)" = EACCES ]
	[ "$(lnssec try-open "/proc/$PID_b/root$HB/m/fake" r)" = EACCES ]
	b umount "$HB/m"
	# No devtmpfs of its own either.
	run b mount -t devtmpfs lns41 "$HB/t"
	[ "$status" -ne 0 ]
	[ ! -e "$HB/d/fake" ]
}

@test "the host's /dev/loopnsM nodes and a copied loop-control dev_t give B nothing" {
	two_containers
	local mm
	# devtmpfs nodes: root's, mode 0600; B's root maps to host uid 1001.
	[ "$(stat -c '%u %g %a' "/dev/$DISK_A")" = "0 0 600" ]
	[ "$(b lnssec try-open "/dev/$DISK_A" r)" = EACCES ]
	[ "$(b lnssec try-open "/dev/$DISK_A" rw)" = EACCES ]
	[ "$(b lnssec try-open "/dev/$(lns_disk "/proc/$PID_b/root$HB/d/loop0")" r)" = EACCES ]
	# A loop-control dev_t made by host root anywhere has no cdev: ENXIO
	# for everyone, whatever the mode.
	mm=$(stat -c '%t:%T' "$RA/loop-control")
	mknod -m 0666 "$T/ctl" c "$((16#${mm%:*}))" "$((16#${mm#*:}))"
	[ "$(lnssec try-open "$T/ctl" rw)" = ENXIO ]
	[ "$(b lnssec try-open "$T/ctl" rw)" = ENXIO ]
	[ "$(as_user 1000 lnssec try-open "$T/ctl" rw)" = ENXIO ]
}

@test "backing_file: readable by the owning namespace, its ancestors and the host; EACCES for siblings and children" {
	two_containers
	local f=/sys/block/$DISK_A/loop a nested disk_n
	[ "$(lnssec read "$f/backing_file")" = "$HA/img" ]
	[ "$(in_ns "$PID_a" lnssec read "$f/backing_file")" = "$HA/img" ]
	[ "$(b lnssec read "$f/backing_file")" = "read EACCES" ]
	# A child namespace of A is not A.
	[ "$(in_ns "$PID_a" unshare -Ur lnssec read "$f/backing_file")" = "read EACCES" ]
	# Any host process is in the initial namespace, an ancestor of all:
	# even another unprivileged host user reads it.
	[ "$(as_user 1001 lnssec read "$f/backing_file")" = "$HA/img" ]
	# The rest of loop/ stays readable everywhere ("in use" for util-linux).
	for a in offset sizelimit autoclear partscan dio; do
		[ "$(b lnssec read "$f/$a")" = 0 ]
	done
	# An instance of a namespace nested in A: A and the host may read it.
	(exec nsenter -t "$PID_a" -U -m -- unshare -Urm bash -ec "
		mkdir -p $HA/n
		mount -t loopns loopns $HA/n
		loopioctl $HA/n/loop-control ctl-add 0 >/dev/null
		loopioctl $HA/n/loop0 set-fd $HA/img >/dev/null
		touch $T/nested.ready
		exec sleep 3600") 3>&- &
	PIDS+=($!)
	nested=$!
	wait_for 30 test -e "$T/nested.ready"
	disk_n=$(lns_disk "/proc/$nested/root$HA/n/loop0")
	[ "$(lnssec read "/sys/block/$disk_n/loop/backing_file")" = "$HA/img" ]
	[ "$(in_ns "$PID_a" lnssec read "/sys/block/$disk_n/loop/backing_file")" = "$HA/img" ]
	[ "$(b lnssec read "/sys/block/$disk_n/loop/backing_file")" = "read EACCES" ]
}

@test "descriptors handed to B: A's loop-control acts on A's instance; a read-only device fd gives B's root no privileged ioctl" {
	two_containers
	local op
	# A's loop-control through SCM_RIGHTS: the instance is the descriptor's.
	in_ns "$PID_a" lnssec open "$HA/d/loop-control" rw 5 lnssec send-fd "$T/sock" 5 3>&- &
	run b lnssec recv-fd "$T/sock" 5 lnssec ioctl 5 ctl-add 7
	wait $!
	[ "$output" = 7 ]
	[ -b "$RA/loop7" ]
	[ ! -e "/proc/$PID_b/root$HB/d/loop7" ]
	# A read-only descriptor of A's loop0: B is root with every capability
	# of its own namespace, none over A's.
	in_ns "$PID_a" lnssec open "$HA/d/loop0" r 5 lnssec send-fd "$T/sock" 5 3>&- &
	run b lnssec recv-fd "$T/sock" 5 bash -c \
		"lnssec ioctl 5 set-capacity; lnssec ioctl 5 set-dio 0; lnssec ioctl 5 set-block-size 4096; lnssec ioctl 5 set-status64 4; lnssec ioctl 5 get-status64"
	wait $!
	echo "$output"
	[ "${lines[0]}" = EPERM ]
	[ "${lines[1]}" = EPERM ]
	[ "${lines[2]}" = EPERM ]
	[ "${lines[3]}" = EPERM ]
	[ "${lines[4]}" = "flags=0 offset=0" ]
	[ "$(cat "/sys/block/$DISK_A/queue/logical_block_size")" = 512 ]
	[ "$(cat "/sys/block/$DISK_A/loop/autoclear")" = 0 ]
}

@test "a stalled FUSE backing file in container A does not block attach or detach anywhere else" {
	skip_unless_cmd fuse2fs mkfs.ext4
	[[ -c /dev/fuse ]] || skip "needs /dev/fuse"
	as_user 1000 truncate -s 32M "$HA/fimg"
	as_user 1000 mkfs.ext4 -q -F -O ^has_journal "$HA/fimg"
	two_containers
	# Host root's own instance: loop0 bound before, loop1 to bind during.
	mount -t loopns loopns "$T/x"
	loopioctl "$T/x/loop-control" ctl-add 0
	loopioctl "$T/x/loop-control" ctl-add 1
	loopioctl "$T/x/loop0" set-fd "$T/img"
	# A: fuse2fs serves a file that becomes A's backing file; A's own
	# daemon then stops answering (SIGSTOP) while A binds loop40 to it.
	in_ns "$PID_a" bash -ec "
		fuse2fs -f -o fakeroot $HA/fimg $HA/m >/dev/null 2>&1 3>&- </dev/null &
		echo \$! >$HA/fuse.pid
		for i in \$(seq 150); do grep -q ' $HA/m ' /proc/self/mounts && break; sleep 0.1; done
		head -c 4M /dev/zero >$HA/m/back"
	FUSE_PID=$(cat "$HA/fuse.pid")
	(exec nsenter -t "$PID_a" -U -m -- bash -c "exec 4<>$HA/m/back; kill -STOP $FUSE_PID
		exec timeout -s KILL 90 loopioctl $HA/d/loop40 set-fd fd:4") >"$T/a.out" 2>&1 3>&- &
	local apid=$! t0 rc host_out b_rc b_out umount_pid umount_done=no
	sleep 3
	echo "A's attach waits in:"
	waits_in "$apid"
	# Host root attaches in its own instance ...
	t0=$SECONDS
	run timeout -s KILL 15 loopioctl "$T/x/loop1" set-fd "$T/img"
	rc=$status host_out=$output
	echo "host attach: status $rc output '$output' after $((SECONDS - t0))s"
	# ... container B attaches in its own ...
	t0=$SECONDS
	run b bash -c "loopioctl $HB/d/loop-control ctl-add 1 >/dev/null && timeout -s KILL 15 loopioctl $HB/d/loop1 set-fd $HB/img2"
	b_rc=$status b_out=$output
	echo "B attach: status $status output '$output' after $((SECONDS - t0))s"
	# ... and host root unmounts its instance, detaching loop0 (a detach
	# that waits for the same lock sleeps uninterruptibly: give it 10 s).
	umount "$T/x" &
	umount_pid=$!
	exits_within 10 "$umount_pid" && umount_done=yes
	echo "host umount (detach) done within 10 s: $umount_done"
	# A's daemon answers again: everything unwinds.
	kill -CONT "$FUSE_PID"
	wait "$umount_pid" || true
	wait "$apid" || true
	echo "A's attach: $(cat "$T/a.out")"
	[ "$rc" -eq 0 ]
	[ "$host_out" = 0 ]
	[ "$b_rc" -eq 0 ]
	[ "$b_out" = 0 ]
	[ "$umount_done" = yes ]
}

# retake NODE DIR INDEX IMAGE, with NODE's partition held open O_PATH on
# descriptor 9: detach NODE's device, then bind DIR/loopINDEX (with
# partitions) to IMAGE until its loopINDEXp1 gets the old dev_t (a
# partition's dev_t is freed after an RCU grace period); open the held
# node again through /proc/self/fd. Prints "reused OLD" and the open's
# result.
retake() {
	local old try
	old=$(stat -Lc %t:%T /proc/self/fd/9)
	losetup -d "${1%p1}"
	for try in $(seq 50); do
		losetup -P "$2/loop$3" "$4"
		[ "$(stat -c %t:%T "$2/loop$3p1" 2>/dev/null)" = "$old" ] && break
		losetup -d "$2/loop$3"
		sleep 0.2
	done
	[ "$(stat -c %t:%T "$2/loop$3p1" 2>/dev/null)" = "$old" ] && echo "reused $old"
	lnssec try-open /proc/self/fd/9 rw
}

@test "a stale partition node never opens the partition that next takes its dev_t, in another instance or its own" {
	# max_part=0: partitions take dev_ts of the shared extended major,
	# lowest free first, so a freed one is handed out again at once.
	wait_for 30 unload_loopns
	load_loopns
	truncate -s 8M "$T/p.img"
	echo 'start=2048, size=4MiB' | sfdisk -q "$T/p.img"
	mkdir "$T/a" "$T/b"
	mount -t loopns loopns "$T/a"
	mount -t loopns loopns "$T/b"
	for i in 3 5 6; do
		loopioctl "$T/a/loop-control" ctl-add $i >/dev/null
	done
	loopioctl "$T/b/loop-control" ctl-add 0 >/dev/null
	losetup -P "$T/a/loop3" "$T/p.img"
	losetup -P "$T/a/loop5" "$T/p.img"
	# A's loop3p1 goes away and B's loop0p1 takes its dev_t.
	run lnssec open "$T/a/loop3p1" path 9 bash -c "$(declare -f retake); retake $T/a/loop3p1 $T/b 0 $T/p.img"
	echo "$output"
	[[ ${lines[0]} == "reused "* ]]
	[ "${lines[1]}" = ENXIO ]
	# A's loop5p1 goes away and A's own loop6p1 takes its dev_t.
	run lnssec open "$T/a/loop5p1" path 9 bash -c "$(declare -f retake); retake $T/a/loop5p1 $T/a 6 $T/p.img"
	echo "$output"
	[[ ${lines[0]} == "reused "* ]]
	[ "${lines[1]}" = ENXIO ]
	# The partitions that took the numbers open through their own nodes.
	[ "$(lnssec try-open "$T/b/loop0p1" rw)" = ok ]
	[ "$(lnssec try-open "$T/a/loop6p1" rw)" = ok ]
	losetup -d "$T/b/loop0"
	losetup -d "$T/a/loop6"
}
