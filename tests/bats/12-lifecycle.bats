#!/usr/bin/env bats
# Instance lifecycle: teardown at the last umount (idle, bound, mounted
# filesystem, open fd, lazy umount), no leaks, and the module's refusal to
# unload while anything of it is alive.

load helpers

setup() {
	skip_unless_root
	load_loopns
	T=$(mktemp -d /tmp/lns12.XXXXXX)
	A=$T/a B=$T/b MNT=$T/mnt BK=$T/backing
	mkdir -p "$A" "$B" "$MNT" "$BK"
	# Backing files live on their own tmpfs: if loopns still held one,
	# unmounting it would fail with EBUSY.
	mount -t tmpfs -o size=64M lns12bk "$BK"
	make_image "$BK/img" 16M
	make_image "$BK/img2" 4M
	BASE=$(lns_disk_count)
	FD= FD2=
}

teardown() {
	[[ -n $FD ]] && exec {FD}>&-
	[[ -n $FD2 ]] && exec {FD2}>&-
	umount_under "$T"
	lns_cleanup
	rm -rf "$T"
	modprobe loopns 2>/dev/null || true
}

# gone DISK...: none of the gendisks exists any more.
gone() {
	local d
	for d in "$@"; do
		[[ ! -e /sys/block/$d ]] || return 1
	done
}

# baseline: the number of loopns gendisks is back to what setup saw.
baseline() {
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

@test "umount of an idle instance deletes its devices at once" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$A/loop-control" ctl-add 1
	loopioctl "$A/loop-control" ctl-add 7
	d0=$(lns_disk "$A/loop0") d1=$(lns_disk "$A/loop1") d7=$(lns_disk "$A/loop7")
	[ "$(lns_disk_count)" -eq $((BASE + 3)) ]
	lns_umount "$A"
	# Deleted before umount returned, no waiting.
	gone "$d0" "$d1" "$d7"
	baseline
}

@test "umount detaches and deletes bound devices and releases the backing files" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$A/loop-control" ctl-add 1
	loopioctl "$A/loop-control" ctl-add 2
	loopioctl "$A/loop0" set-fd "$BK/img"
	loopioctl "$A/loop2" configure "$BK/img2"
	d0=$(lns_disk "$A/loop0") d1=$(lns_disk "$A/loop1") d2=$(lns_disk "$A/loop2")
	[ -e "/sys/block/$d0/loop/backing_file" ]
	[ -e "/sys/block/$d2/loop/backing_file" ]
	lns_umount "$A"
	gone "$d0" "$d1" "$d2"
	baseline
	# Nothing holds the backing files any more.
	umount "$BK"
}

@test "a mounted filesystem keeps its device working past umount; then it goes" {
	skip_unless_cmd mkfs.ext4
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$A/loop-control" ctl-add 1
	loopioctl "$A/loop0" set-fd "$BK/img"
	d0=$(lns_disk "$A/loop0") d1=$(lns_disk "$A/loop1")
	mkfs.ext4 -q -F "$A/loop0"
	mount -t ext4 "$A/loop0" "$MNT"
	echo before >"$MNT/before"
	lns_umount "$A"
	# The idle device went at once; the mounted one lives on.
	gone "$d1"
	[ -e "/sys/block/$d0" ]
	[ "$(cat "/sys/block/$d0/loop/backing_file")" = "$BK/img" ]
	[ "$(cat "$MNT/before")" = before ]
	dd if=/dev/urandom of="$MNT/after" bs=64k count=16 status=none
	sync
	sum=$(cksum <"$MNT/after")
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(cksum <"$MNT/after")" = "$sum" ]
	umount "$MNT"
	wait_for 10 gone "$d0"
	baseline
	# The data reached the backing file: read it back through a new instance.
	lns_mount "$B"
	loopioctl "$B/loop-control" ctl-add 0
	loopioctl "$B/loop0" set-fd "$BK/img"
	mount -t ext4 -o ro "$B/loop0" "$MNT"
	[ "$(cat "$MNT/before")" = before ]
	[ "$(cksum <"$MNT/after")" = "$sum" ]
	umount "$MNT"
	lns_umount "$B"
	baseline
	umount "$BK"
}

@test "an open fd keeps bound and unbound devices past umount; last close deletes them" {
	printf 'loopns-lifecycle' | dd of="$BK/img" conv=notrunc status=none
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$A/loop-control" ctl-add 1
	loopioctl "$A/loop0" set-fd "$BK/img"
	d0=$(lns_disk "$A/loop0") d1=$(lns_disk "$A/loop1")
	# Opened through the global devtmpfs nodes: an fd opened through the
	# instance would pin its mount and make umount fail (busy).
	exec {FD}<>"/dev/$d0"
	exec {FD2}<"/dev/$d1"
	lns_umount "$A"
	[ -e "/sys/block/$d0" ]
	[ -e "/sys/block/$d1" ]
	# The bound device still reads its backing file through the fd.
	[ "$(head -c 16 <&$FD)" = loopns-lifecycle ]
	[ "$(cat "/sys/block/$d0/loop/backing_file")" = "$BK/img" ]
	exec {FD}>&-
	FD=
	wait_for 10 gone "$d0"
	[ -e "/sys/block/$d1" ]
	exec {FD2}<&-
	FD2=
	wait_for 10 gone "$d1"
	baseline
	umount "$BK"
}

@test "plain umount with an open node fails (busy) and changes nothing" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	exec {FD}<>"$A/loop-control"
	run umount "$A"
	echo "$output"
	[ "$status" -ne 0 ]
	mountpoint -q "$A"
	[ -b "$A/loop0" ]
	[ "$(lns_disk_count)" -eq $((BASE + 1)) ]
}

@test "umount -l with loop-control open: the instance lives until the fd closes" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	d0=$(lns_disk "$A/loop0")
	exec {FD}<>"$A/loop-control"
	umount -l "$A"
	run mountpoint -q "$A"
	[ "$status" -ne 0 ]
	[ -e "/sys/block/$d0" ]
	# loop-control still works through the open file.
	run loopioctl "/proc/self/fd/$FD" ctl-add 1
	echo "$output"
	[ "$output" = 1 ]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
	sleep 1
	[ -e "/sys/block/$d0" ]
	exec {FD}>&-
	FD=
	wait_for 10 baseline
}

@test "umount -l with a bound device open: the instance lives until the fd closes" {
	printf 'lazy-umount-data' | dd of="$BK/img2" conv=notrunc status=none
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$A/loop-control" ctl-add 1
	loopioctl "$A/loop0" set-fd "$BK/img2"
	d0=$(lns_disk "$A/loop0") d1=$(lns_disk "$A/loop1")
	exec {FD}<"$A/loop0"
	umount -l "$A"
	[ -e "/sys/block/$d0" ]
	[ -e "/sys/block/$d1" ]
	[ "$(head -c 16 <&$FD)" = lazy-umount-data ]
	exec {FD}<&-
	FD=
	wait_for 10 gone "$d0" "$d1"
	baseline
	umount "$BK"
}

@test "rmmod is refused while an instance is mounted, then succeeds" {
	lns_mount "$A"
	run rmmod loopns
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"in use"* ]]
	grep -q '^loopns ' /proc/modules
	loopioctl "$A/loop-control" ctl-get-free
	lns_umount "$A"
	baseline
	run rmmod loopns
	echo "$output"
	[ "$status" -eq 0 ]
	run grep -q '^loopns ' /proc/modules
	[ "$status" -ne 0 ]
}

@test "rmmod is refused while a device outlives its instance" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$A/loop0" set-fd "$BK/img2"
	d0=$(lns_disk "$A/loop0")
	exec {FD}<"/dev/$d0"
	lns_umount "$A"
	run rmmod loopns
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"in use"* ]]
	exec {FD}<&-
	FD=
	wait_for 10 gone "$d0"
	baseline
	# The last deletion may still be unwinding; allow it a moment.
	wait_for 10 rmmod loopns
	umount "$BK"
}

@test "rmmod is refused while a lazily unmounted instance lives" {
	lns_mount "$A"
	exec {FD}<>"$A/loop-control"
	umount -l "$A"
	run rmmod loopns
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"in use"* ]]
	exec {FD}>&-
	FD=
	wait_for 10 rmmod loopns
}

@test "modprobe -r then modprobe works, and instances work after the reload" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-get-free
	lns_umount "$A"
	modprobe -r loopns
	run grep -q '^loopns ' /proc/modules
	[ "$status" -ne 0 ]
	modprobe loopns
	grep -q '^loopns ' /proc/modules
	lns_mount "$A"
	[ "$(loopioctl "$A/loop-control" ctl-get-free)" = 0 ]
	loopioctl "$A/loop0" set-fd "$BK/img2"
	[ -e "/sys/block/$(lns_disk "$A/loop0")/loop/backing_file" ]
	lns_umount "$A"
	[ "$(lns_disk_count)" -eq 0 ]
	modprobe -r loopns
	modprobe loopns
}

@test "10 instance cycles leave nothing behind" {
	local i
	for ((i = 0; i < 10; i++)); do
		lns_mount "$A"
		n=$(loopioctl "$A/loop-control" ctl-get-free)
		loopioctl "$A/loop$n" set-fd "$BK/img2" >/dev/null
		loopioctl "$A/loop-control" ctl-add 3 >/dev/null
		m=$(loopioctl "$A/loop-control" ctl-get-free)
		echo "cycle $i: get-free $n, then $m"
		[ "$n" = 0 ]
		[ "$m" = 3 ]
		if ((i % 3 == 0)); then
			loopioctl "$A/loop$n" clr >/dev/null
		fi
		lns_umount "$A"
	done
	wait_for 10 baseline
	umount "$BK"
	wait_for 10 rmmod loopns
}
