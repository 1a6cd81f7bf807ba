#!/usr/bin/env bats
# Stress smoke (tests/stress/run.sh for a few seconds) on every kernel of
# `make check`, plus the regression tests of the bugs the stress suite and
# the debug kernel found (tests/stress/README.md lists them).
# LOOPNS_STRESS_SMOKE_SECONDS changes the duration (default: soak).

load helpers

SMOKE_SECONDS=${LOOPNS_STRESS_SMOKE_SECONDS:-$(soak 6)}

setup() {
	skip_unless_root
}

teardown() {
	lns_cleanup
}

@test "stress smoke: racing workers for ${SMOKE_SECONDS}s, data verified, nothing leaked" {
	local secs=$SMOKE_SECONDS
	# The run's own limit (its workers' grace) and a margin for its checks.
	run timeout -k 5 $((secs + ${LOOPNS_STRESS_GRACE:-180} + 120)) bash "$TESTS_DIR/stress/run.sh" "$secs"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[-1]} == "stress: PASS" ]]
}

# --- regression tests -------------------------------------------------------

# reg_setup: an instance at $D, an image at $IMG, the loopns disk count.
reg_setup() {
	load_loopns
	D=$(mktemp -d /tmp/lns50.XXXXXX)
	IMG=$D.img
	make_image "$IMG" 4M
	chmod 0666 "$IMG"
	BASE=$(lns_disk_count)
}

reg_teardown() {
	mountpoint -q "$D" && { umount "$D" 2>/dev/null || umount -l "$D"; }
	rm -rf "$D" "$IMG"
}

# umount_l_takes_both UPPER LOWER: umount -l of the instance at $D, whose
# disk UPPER is stacked on its disk LOWER, deletes both within 10 s. If not,
# unstack them through the host's node (so that nothing leaks) and fail.
umount_l_takes_both() {
	local up=$1 low=$2
	umount -l "$D"
	run wait_for 10 eval '[ ! -e /sys/block/'"$up"' ] && [ ! -e /sys/block/'"$low"' ]'
	if [ "$status" -ne 0 ]; then
		echo "$up (backing $(cat "/sys/block/$up/loop/backing_file")) and $low survive the instance"
		loopioctl "/dev/$up" clr
		wait_for 10 test ! -e "/sys/block/$low"
	fi
	reg_teardown
	[ "$status" -eq 0 ]
}

# gone: the device count is back to $BASE and the instance holds only
# loop-control.
gone() {
	[ "$(lns_disk_count)" -eq "$BASE" ] || return 1
	! mountpoint -q "$D" || [ "$(ls "$D")" = loop-control ]
}

# module_unloads: nothing pins loopns any more (then load it again).
module_unloads() {
	wait_for 20 rmmod loopns || { cat /sys/module/loopns/refcnt; return 1; }
	modprobe loopns
}

@test "regression: LOOPNS_CTL_ATTACH whose caller cannot open the new node leaves no device and no pinned instance" {
	skip_unless_cmd setpriv
	reg_setup
	# loop-control is 0666 from the mount; nodes made after the remount
	# are 0600 root: uid 1000 may attach but cannot open the node.
	mount -t loopns -o mode=0666 loopns "$D"
	mount -o remount,mode=0600 "$D"
	run setpriv --reuid=1000 --regid=1000 --clear-groups loopns-attach "$D/loop-control" "$IMG"
	echo "attach as uid 1000: status $status, $output"
	run wait_for 10 gone
	if [ "$status" -ne 0 ]; then
		ls -l "$D"
		# An open and a close of a leaked node reap it (suite goes on).
		for n in "$D"/loop[0-9]*; do : <"$n"; done
		reg_teardown
		false
	fi
	umount "$D"
	run module_unloads
	reg_teardown
	[ "$status" -eq 0 ]
}

@test "regression: an ATTACH device whose autoclear was cleared still goes away at its last close" {
	reg_setup
	mount -t loopns loopns "$D"
	run loopns-attach "$D/loop-control" "$IMG" --exec loopioctl /proc/self/fd/3 set-status64 0
	echo "$output"
	[ "$status" -eq 0 ]
	run wait_for 10 gone
	if [ "$status" -ne 0 ]; then
		ls -l "$D"
		# Clean up through the global node so the suite can go on.
		for n in "$D"/loop[0-9]*; do loopioctl "$n" clr; done
		reg_teardown
		false
	fi
	umount "$D"
	run module_unloads
	reg_teardown
	[ "$status" -eq 0 ]
}

@test "regression: an orphaned device whose autoclear was cleared still goes away at its last close" {
	reg_setup
	mount -t loopns loopns "$D"
	i=$(loopioctl "$D/loop-control" ctl-get-free)
	loopioctl "$D/loop$i" set-fd "$IMG"
	disk=$(lns_disk "$D/loop$i")
	# Held open through the global node; the instance goes away.
	exec 8<>"/dev/$disk"
	umount "$D"
	[ "$(cat "/sys/block/$disk/loop/autoclear")" = 1 ]
	loopioctl "/dev/$disk" set-status64 0
	exec 8>&-
	run wait_for 10 test ! -e "/sys/block/$disk"
	if [ "$status" -ne 0 ]; then
		echo "/dev/$disk still exists after its last close"
		loopioctl "/dev/$disk" clr
		wait_for 10 test ! -e "/sys/block/$disk"
		reg_teardown
		false
	fi
	run module_unloads
	reg_teardown
	[ "$status" -eq 0 ]
}

@test "regression: ext4 on loopns on an ext4 file: metadata reads under a journal handle while the device cache is dropped" {
	# Reads that hit the backing file's page cache are served in the
	# submitter's context; the submitter may hold a journal handle of the
	# upper filesystem while the backing filesystem updates atime.
	reg_setup
	local img=$LOOPNS_SCRATCH/lns50-fs.img m=$D.mnt i r f dev rounds
	rounds=$(soak 3)
	rm -f "$img" && truncate -s 64M "$img"
	mount -t loopns loopns "$D"
	i=$(loopioctl "$D/loop-control" ctl-get-free)
	loopioctl "$D/loop$i" set-fd "$img"
	dev=$D/loop$i
	mkfs.ext4 -q -F -b 1024 "$dev"
	mkdir -p "$m"
	mount -t ext4 "$dev" "$m"
	for ((r = 1; r <= rounds; r++)); do
		mkdir "$m/r$r"
		for ((f = 0; f < 150; f++)); do printf '%6000s' "$r$f" >"$m/r$r/f$f"; done
		sync
		# Checkpoint the journal (it pins metadata buffers), then drop
		# the device's cache: the bitmaps now live only in the backing
		# file's page cache, and rm reads them under a journal handle.
		fsfreeze -f "$m" && fsfreeze -u "$m"
		blockdev --flushbufs "$dev"
		# The first reads after the backing file was written (its
		# atime is due) come from truncates of cached inodes, which
		# run under a handle: bitmaps and inode table blocks.
		for ((f = 0; f < 150; f += 10)); do : >"$m/r$r/f$f"; done
		rm -rf "$m/r$((r - 1))"
		sync
	done
	umount "$m"
	run fsck.ext4 -fn "$dev"
	echo "$output"
	umount "$D"
	rm -rf "$m" "$img"
	reg_teardown
	[ "$status" -eq 0 ]
}

@test "regression: a bind to a file on a filesystem that does not answer does not block binds in other instances" {
	# A container controls its own FUSE daemon (fuse2fs is userns-
	# mountable); a stalled daemon must not stall every other tenant.
	skip_unless_cmd fuse2fs mkfs.ext4
	reg_setup
	local fimg=$D.fuse.img m=$D.fuse d2=$D.other img2=$D.img2 f p1 r
	truncate -s 16M "$fimg" && mkfs.ext4 -q -F "$fimg"
	mkdir -p "$m" "$d2"
	fuse2fs -f -o fakeroot "$fimg" "$m" 3>&- &
	f=$!
	wait_for 10 mountpoint -q "$m"
	truncate -s 4M "$m/backing"
	mount -t loopns loopns "$D"
	mount -t loopns loopns "$d2"
	make_image "$img2" 4M
	loopioctl "$D/loop-control" ctl-add 0
	loopioctl "$d2/loop-control" ctl-add 0
	# Tenant 1 binds while its filesystem daemon is stopped.
	exec 7<>"$m/backing"
	kill -STOP "$f"
	loopioctl "$D/loop0" set-fd fd:7 >/dev/null 2>&1 3>&- &
	p1=$!
	sleep 2
	# Tenant 2 is not affected.
	run timeout 15 loopioctl "$d2/loop0" set-fd "$img2"
	r=$status
	echo "bind in the other instance: status $r, $output"
	kill -CONT "$f"
	wait "$p1" || true
	exec 7>&-
	loopioctl "$d2/loop0" clr || true
	loopioctl "$D/loop0" clr || true
	umount "$d2"
	umount "$D"
	umount "$m" || umount -l "$m"
	wait "$f" || true
	rm -rf "$m" "$d2" "$fimg" "$img2"
	reg_teardown
	[ "$r" -eq 0 ]
}

@test "regression: LOOP_CHANGE_FD through a partition node onto the device itself is refused (no self-backed device)" {
	skip_unless_cmd sfdisk
	reg_setup
	local dev st r
	make_image "$IMG" 8M
	echo ',,L' | sfdisk -q "$IMG"
	mount -t loopns loopns "$D"
	loopioctl "$D/loop-control" ctl-add 0
	# read-only (CHANGE_FD needs it) + partscan
	loopioctl "$D/loop0" configure "ro:$IMG" $((1 | 8))
	wait_for 10 test -e "$D/loop0p1"
	dev=$(stat -c '%t:%T' "$D/loop0")
	# Hold the partition open: a rescan (after CHANGE_FD, or at the next
	# open) then fails with EBUSY instead of reading a self-backed disk.
	exec 8<"$D/loop0p1"
	LOOPIOCTL_RDONLY=1 run loopioctl "$D/loop0p1" change-fd "ro:$D/loop0"
	r=$output
	echo "CHANGE_FD via loop0p1 onto loop0: $r"
	st=$(LOOPIOCTL_RDONLY=1 loopioctl "$D/loop0p1" get-status64)
	echo "status now: $st"
	if [[ $r == 0 ]]; then
		# Undo before anything reads the self-backed device.
		LOOPIOCTL_RDONLY=1 loopioctl "$D/loop0p1" change-fd "ro:$IMG"
	fi
	exec 8<&-
	loopioctl "$D/loop0" clr
	umount "$D"
	reg_teardown
	[ "$r" = EBADF ]
}

@test "regression: a device stacked on another node of its own instance does not keep the instance alive after umount -l" {
	# STRESS-7: the backing file opened through the instance pinned its
	# mount; backing.c opens such nodes again on a private mount.
	# What a container that ran `losetup /dev/loop1 /dev/loop0` (both
	# nodes of its instance) leaves when its mount namespace goes away.
	reg_setup
	local d0 d1
	mount -t loopns loopns "$D"
	loopioctl "$D/loop-control" ctl-add 0
	loopioctl "$D/loop-control" ctl-add 1
	loopioctl "$D/loop0" set-fd "$IMG"
	loopioctl "$D/loop1" set-fd "$D/loop0"
	d0=$(lns_disk "$D/loop0") d1=$(lns_disk "$D/loop1")
	umount_l_takes_both "$d1" "$d0"
}

@test "regression: LOOPNS_CTL_ATTACH is not disturbed by another process opening the new node" {
	reg_setup
	local n fails=0 out p
	mount -t loopns loopns "$D"
	# Open and close whatever node the next ATTACH creates, all the time.
	lns-hammer -o -q -t "$(soak 8)" -j 2 -n 3 "$D" 2>/dev/null &
	p=$!
	for n in $(seq 30); do
		kill -0 "$p" 2>/dev/null || break
		out=$(loopns-attach "$D/loop-control" "$IMG") || { echo "attach $n: $out"; fails=$((fails + 1)); }
	done
	wait "$p" 2>/dev/null || true
	run wait_for 10 gone
	echo "failed attaches: $fails; leftover: $(ls "$D" | tr '\n' ' ')"
	for n in "$D"/loop[0-9]*; do [ -e "$n" ] && { loopioctl "$n" clr; : <"$n"; }; done
	umount "$D"
	reg_teardown
	[ "$fails" -eq 0 ]
	[ "$status" -eq 0 ]
}

@test "regression: LOOP_CHANGE_FD to a file racing LOOP_CHANGE_FD onto a stacked device does not deadlock" {
	# lockdep on the debug kernel: lns_bind_swap() took lns_bind_mutex
	# under dev->lock, lns_bind_lock() takes them the other way round.
	reg_setup
	local a=$D.a b=$D.b c=$D.c p1 p2 i ok=1 rounds
	rounds=$(soak 15)
	make_image "$a" 4M; make_image "$b" 4M; make_image "$c" 4M
	mount -t loopns loopns "$D"
	loopioctl "$D/loop-control" ctl-add 0
	loopioctl "$D/loop-control" ctl-add 1
	loopioctl "$D/loop1" configure "ro:$c" 1
	loopioctl "$D/loop0" configure "ro:$a" 1
	export LOOPIOCTL_RDONLY=1
	( for ((i = 0; i < rounds; i++)); do loopioctl "$D/loop0" change-fd "ro:$a"; loopioctl "$D/loop0" change-fd "ro:$b"; done ) >/dev/null 2>&1 &
	p1=$!
	( for ((i = 0; i < rounds; i++)); do loopioctl "$D/loop0" change-fd "ro:$D/loop1"; done ) >/dev/null 2>&1 &
	p2=$!
	for i in $(seq 1200); do
		kill -0 "$p1" 2>/dev/null || kill -0 "$p2" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$p1" 2>/dev/null || kill -0 "$p2" 2>/dev/null; then
		ok=0
		echo "CHANGE_FD racers still running after 120 s (deadlock?):"
		for i in $(pgrep loopioctl); do echo "--- $i"; cat /proc/$i/stack; done
	fi
	unset LOOPIOCTL_RDONLY
	if ((ok)); then
		loopioctl "$D/loop0" clr
		loopioctl "$D/loop1" clr
		umount "$D"
		rm -f "$a" "$b" "$c"
		reg_teardown
	fi
	[ "$ok" -eq 1 ]
}

@test "regression: SET_BLOCK_SIZE with dirty pages, CHANGE_FD and a last-close detach in one instance (lock order)" {
	# lockdep on the debug kernel (STRESS-10): lns_bind_detach() froze the
	# queue and then took lns_bind_mutex, while LOOP_CHANGE_FD nests
	# lns_bind_mutex -> dev->lock and LOOP_SET_BLOCK_SIZE flushing dirty
	# pages nests dev->lock -> the queue. Doing each once is enough for
	# lockdep; every kernel checks that each one did its job.
	reg_setup
	local ro=$D.ro d0 d1 got fd
	make_image "$ro" 4M
	mount -t loopns loopns "$D"
	loopioctl "$D/loop-control" ctl-add 0
	loopioctl "$D/loop-control" ctl-add 1
	loopioctl "$D/loop0" set-fd "$IMG"
	loopioctl "$D/loop1" configure "ro:$ro" 1
	d0=$(lns_disk "$D/loop0") d1=$(lns_disk "$D/loop1")
	# Hold loop0 open so that the write stays dirty until SET_BLOCK_SIZE.
	exec {fd}<"$D/loop0"
	printf 'stress10' | dd of="$D/loop0" bs=512 conv=notrunc status=none
	loopioctl "$D/loop0" set-block-size 4096
	[ "$(cat "/sys/block/$d0/queue/logical_block_size")" -eq 4096 ]
	got=$(dd if="$IMG" bs=8 count=1 status=none)
	[ "$got" = stress10 ]
	LOOPIOCTL_RDONLY=1 loopioctl "$D/loop1" change-fd "ro:$IMG"
	[ "$(cat "/sys/block/$d1/loop/backing_file")" = "$IMG" ]
	# Autoclear, then the last close detaches loop0 from ->release.
	loopioctl "$D/loop0" clr
	[ -e "/sys/block/$d0/loop/backing_file" ]
	exec {fd}<&-
	run wait_for 10 test ! -e "/sys/block/$d0/loop/backing_file"
	[ "$status" -eq 0 ]
	loopioctl "$D/loop1" clr
	umount "$D"
	rm -f "$ro"
	reg_teardown
}

@test "regression: a device stacked on an ATTACH device of its own instance does not keep the instance alive after umount -l" {
	# STRESS-11: a LOOPNS_CTL_ATTACH device held an active reference on
	# its instance until its last close; a device of the same instance
	# bound to its node kept it open, so neither ever went away.
	reg_setup
	local n de du
	mount -t loopns loopns "$D"
	loopioctl "$D/loop-control" ctl-add 5
	# loop5 stacked on the ATTACH device, whose own fd then closes.
	n=$(loopns-attach "$D/loop-control" "$IMG" --exec \
		sh -c 'loopioctl "$0/loop5" set-fd "$0/loop$LOOPNS_INDEX" >/dev/null' "$D")
	de=$(lns_disk "$D/loop$n") du=$(lns_disk "$D/loop5")
	[ "$(cat "/sys/block/$du/loop/backing_file")" = "$D/loop$n" ]
	# The ATTACH device lives on: loop5 holds it open.
	[ -e "/sys/block/$de" ]
	umount_l_takes_both "$du" "$de"
}

@test "regression: buffered reads through a device stacked on a loopns device whose data is cached" {
	# lockdep on the debug kernel (STRESS-12): the page-cache fast path of
	# ->queue_rq read a block device backing through its read_iter from
	# the reader of the upper device, nesting two block device inode locks.
	reg_setup
	dd if=/dev/urandom of="$IMG" bs=1M count=1 conv=notrunc status=none
	mount -t loopns loopns "$D"
	loopioctl "$D/loop-control" ctl-add 0
	loopioctl "$D/loop-control" ctl-add 1
	loopioctl "$D/loop0" set-fd "$IMG"
	loopioctl "$D/loop1" set-fd "$D/loop0"
	# loop0's page cache holds the data; readahead on loop1 wants it.
	cat "$D/loop0" >/dev/null
	cmp -n 1048576 "$D/loop1" "$IMG"
	loopioctl "$D/loop1" clr
	loopioctl "$D/loop0" clr
	umount "$D"
	reg_teardown
}
