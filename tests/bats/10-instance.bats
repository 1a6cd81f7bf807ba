#!/usr/bin/env bats
# loopns instances as a filesystem: what a mount holds, its options, the
# operations it refuses, unlink of device nodes, and isolation between
# instances.

load helpers

setup() {
	skip_unless_root
	load_loopns
	T=$(mktemp -d /tmp/lns10.XXXXXX)
	chmod 755 "$T"
	A=$T/a B=$T/b
	mkdir -p "$A" "$B"
	make_image "$T/img" 4M
	BASE=$(lns_disk_count)
}

teardown() {
	[[ -n ${FD:-} ]] && exec {FD}>&- 2>/dev/null
	# Unmount everything under $T, innermost first.
	umount_under "$T"
	lns_cleanup
	rm -rf "$T"
}

# baseline: the number of loopns gendisks is back to what setup saw.
baseline() {
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

# eperm CMD...: CMD must fail with "Operation not permitted" (EPERM).
eperm() {
	run "$@"
	echo "$*: status $status: $output"
	[ "$status" -ne 0 ] || return 1
	[[ $output == *"Operation not permitted"* ]]
}

# opts_of DIR: the options field of DIR's line in /proc/mounts.
opts_of() {
	awk -v d="$1" '$2 == d { o = $4 } END { print o }' /proc/mounts
}

@test "a new instance holds only loop-control, a char device" {
	lns_mount "$A"
	run ls -A "$A"
	[ "$status" -eq 0 ]
	[ "$output" = loop-control ]
	[ -c "$A/loop-control" ]
	run awk -v d="$A" '$2 == d { print $1, $3 }' /proc/mounts
	[ "$output" = "loopns loopns" ]
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

@test "every mount is a new instance: devices of one are not seen in the other" {
	lns_mount "$A"
	lns_mount "$B"
	run loopioctl "$A/loop-control" ctl-add 3
	[ "$output" = 3 ]
	[ -b "$A/loop3" ]
	[ ! -e "$B/loop3" ]
	[ "$(ls -A "$B")" = loop-control ]
}

@test "default options: max=1024 shown, nodes root:root mode 0600" {
	lns_mount "$A"
	opts=$(opts_of "$A")
	echo "opts: $opts"
	[[ ,$opts, == *,max=1024,* ]]
	[[ ,$opts, != *,uid=* && ,$opts, != *,gid=* && ,$opts, != *,mode=* ]]
	loopioctl "$A/loop-control" ctl-add 0
	[ "$(stat -c '%u %g %a' "$A/loop-control")" = "0 0 600" ]
	[ "$(stat -c '%u %g %a' "$A/loop0")" = "0 0 600" ]
}

@test "uid=, gid=, mode= apply to loop-control and new nodes and show in /proc/mounts" {
	lns_mount "$A" uid=1000,gid=1001,mode=0640
	opts=$(opts_of "$A")
	echo "opts: $opts"
	[[ ,$opts, == *,max=1024,* ]]
	[[ ,$opts, == *,uid=1000,* ]]
	[[ ,$opts, == *,gid=1001,* ]]
	[[ ,$opts, == *,mode=640,* ]]
	[ "$(stat -c '%u %g %a' "$A/loop-control")" = "1000 1001 640" ]
	loopioctl "$A/loop-control" ctl-add 2
	[ "$(stat -c '%u %g %a' "$A/loop2")" = "1000 1001 640" ]
}

@test "uid= lets that user drive loop-control; others get EACCES" {
	skip_unless_cmd setpriv
	lns_mount "$A" uid=1000
	lns_mount "$B"
	run setpriv --reuid=1000 --regid=1000 --clear-groups loopioctl "$A/loop-control" ctl-get-free
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	[ -b "$A/loop0" ]
	run setpriv --reuid=1000 --regid=1000 --clear-groups loopioctl "$B/loop-control" ctl-get-free
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = EACCES ]
}

@test "mode=0666 and max= bounds are accepted" {
	lns_mount "$A" mode=0666,max=1
	[ "$(stat -c %a "$A/loop-control")" = 666 ]
	[[ ,$(opts_of "$A"), == *,max=1,* ]]
	[[ ,$(opts_of "$A"), == *,mode=666,* ]]
	lns_mount "$B" max=1048576
	[[ ,$(opts_of "$B"), == *,max=1048576,* ]]
}

@test "bad options make the mount fail with EINVAL" {
	local o
	for o in max=0 max=1048577 max=-1 max=abc max= mode=0777 mode=01666 \
		mode=9 uid=abc gid=-5 bogus bogus=1; do
		run mount -t loopns -o "$o" loopns "$A"
		echo "-o $o: status $status: $output"
		[ "$status" -ne 0 ]
		[[ $output == *"Invalid argument"* || $output == *"wrong fs type, bad option"* ]]
		run mountpoint -q "$A"
		[ "$status" -ne 0 ]
	done
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

@test "a rejected option leaves its reason in the kernel log" {
	kmsg_mark "expect a max= complaint"
	run mount -t loopns -o max=0 loopns "$A"
	[ "$status" -ne 0 ]
	run dmesg
	# Only what follows our marker counts.
	tail=$(awk '/loopns-test: expect a max= complaint/ { f = 1; next } f' <<<"$output")
	echo "$tail"
	grep -qi 'loopns' <<<"$tail"
	grep -qi 'max' <<<"$tail"
	kmsg_mark "expect an unknown-parameter complaint"
	run mount -t loopns -o bogusopt=1 loopns "$A"
	[ "$status" -ne 0 ]
	run dmesg
	tail=$(awk '/loopns-test: expect an unknown-parameter complaint/ { f = 1; next } f' <<<"$output")
	echo "$tail"
	grep -q 'bogusopt' <<<"$tail"
}

@test "max= limits the devices of the instance (ENOSPC beyond)" {
	lns_mount "$A" max=2
	[ "$(loopioctl "$A/loop-control" ctl-add 0)" = 0 ]
	[ "$(loopioctl "$A/loop-control" ctl-add 7)" = 7 ]
	run loopioctl "$A/loop-control" ctl-add 1
	[ "$output" = ENOSPC ]
	[ ! -e "$A/loop1" ]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
}

@test "remount,max=N changes the limit and /proc/mounts" {
	lns_mount "$A" max=1
	loopioctl "$A/loop-control" ctl-add 0
	run loopioctl "$A/loop-control" ctl-add 1
	[ "$output" = ENOSPC ]
	mount -o remount,max=3 "$A"
	[[ ,$(opts_of "$A"), == *,max=3,* ]]
	[ "$(loopioctl "$A/loop-control" ctl-add 1)" = 1 ]
	[ "$(loopioctl "$A/loop-control" ctl-add 2)" = 2 ]
	run loopioctl "$A/loop-control" ctl-add 3
	[ "$output" = ENOSPC ]
	# Lowering the limit below the current count keeps the devices.
	mount -o remount,max=1 "$A"
	[[ ,$(opts_of "$A"), == *,max=1,* ]]
	[ -b "$A/loop0" ]
	[ -b "$A/loop1" ]
	[ -b "$A/loop2" ]
	run loopioctl "$A/loop-control" ctl-add 3
	[ "$output" = ENOSPC ]
	# A bad value is refused and the old one stays.
	run mount -o remount,max=0 "$A"
	[ "$status" -ne 0 ]
	[[ ,$(opts_of "$A"), == *,max=1,* ]]
	# Removing makes room again.
	loopioctl "$A/loop-control" ctl-remove 2
	loopioctl "$A/loop-control" ctl-remove 1
	run loopioctl "$A/loop-control" ctl-add 5
	[ "$output" = ENOSPC ]
	loopioctl "$A/loop-control" ctl-remove 0
	[ "$(loopioctl "$A/loop-control" ctl-add 5)" = 5 ]
}

@test "mknod, create, mkdir, symlink, link and rename are refused with EPERM" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	eperm mknod "$A/x" b 7 0
	eperm mknod "$A/loop5" c 1 3
	eperm mkfifo "$A/fifo"
	eperm bash -c ": >'$A/newfile'"
	eperm mkdir "$A/dir"
	eperm ln -s /dev/null "$A/sym"
	eperm ln "$A/loop-control" "$A/hard"
	eperm ln "$A/loop0" "$A/loop9"
	eperm mv -T "$A/loop0" "$A/loop9"
	eperm mv -T "$A/loop-control" "$A/ctl"
	[ "$(ls -A "$A" | sort | tr '\n' ' ')" = "loop-control loop0 " ]
	[ -b "$A/loop0" ]
}

@test "loop-control cannot be unlinked (EPERM)" {
	lns_mount "$A"
	run rm -f "$A/loop-control"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"Operation not permitted"* ]]
	[ -c "$A/loop-control" ]
	loopioctl "$A/loop-control" ctl-get-free
}

@test "unlink of an unbound, closed loopN deletes the device" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 4
	disk=$(lns_disk "$A/loop4")
	[ -e "/sys/block/$disk" ]
	rm -f "$A/loop4"
	[ ! -e "$A/loop4" ]
	[ ! -e "/sys/block/$disk" ]
	run loopioctl "$A/loop-control" ctl-remove 4
	[ "$output" = ENODEV ]
	# The index is free again.
	[ "$(loopioctl "$A/loop-control" ctl-add 4)" = 4 ]
	[ "$(lns_disk_count)" -eq $((BASE + 1)) ]
}

@test "unlink of a bound loopN fails with EBUSY and keeps it working" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$A/loop0" set-fd "$T/img"
	run rm -f "$A/loop0"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"Device or resource busy"* ]]
	[ -b "$A/loop0" ]
	disk=$(lns_disk "$A/loop0")
	[ "$(cat "/sys/block/$disk/loop/backing_file")" = "$T/img" ]
	loopioctl "$A/loop0" clr
	rm -f "$A/loop0"
	[ ! -e "$A/loop0" ]
	[ ! -e "/sys/block/$disk" ]
}

@test "unlink of an open loopN fails with EBUSY" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 1
	exec {FD}<"$A/loop1"
	run rm -f "$A/loop1"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"Device or resource busy"* ]]
	[ -b "$A/loop1" ]
	exec {FD}<&-
	FD=
	rm -f "$A/loop1"
	[ ! -e "$A/loop1" ]
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

@test "two instances both get loop0, with distinct global gendisks" {
	lns_mount "$A"
	lns_mount "$B"
	[ "$(loopioctl "$A/loop-control" ctl-get-free)" = 0 ]
	[ "$(loopioctl "$B/loop-control" ctl-get-free)" = 0 ]
	[ -b "$A/loop0" ]
	[ -b "$B/loop0" ]
	[ "$(stat -c '%t:%T' "$A/loop0")" != "$(stat -c '%t:%T' "$B/loop0")" ]
	da=$(lns_disk "$A/loop0") db=$(lns_disk "$B/loop0")
	echo "A/loop0=$da B/loop0=$db"
	[[ $da =~ ^loopns[0-9]+$ && $db =~ ^loopns[0-9]+$ && $da != "$db" ]]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
}

@test "removing or binding in one instance does not touch the other" {
	lns_mount "$A"
	lns_mount "$B"
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$B/loop-control" ctl-add 0
	db=$(lns_disk "$B/loop0")
	loopioctl "$A/loop-control" ctl-remove 0
	[ ! -e "$A/loop0" ]
	[ -b "$B/loop0" ]
	[ -e "/sys/block/$db" ]
	# A's control cannot reach B's indexes.
	loopioctl "$B/loop-control" ctl-add 5
	run loopioctl "$A/loop-control" ctl-remove 5
	[ "$output" = ENODEV ]
	[ -b "$B/loop5" ]
	# Binding A's loop0 leaves B's loop0 unbound and free.
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$A/loop0" set-fd "$T/img"
	run loopioctl "$B/loop0" get-status64
	[ "$output" = ENXIO ]
	[ ! -e "/sys/block/$db/loop" ]
	[ "$(loopioctl "$B/loop-control" ctl-get-free)" = 0 ]
	[ "$(loopioctl "$A/loop-control" ctl-get-free)" = 1 ]
	# Unmounting A leaves B intact.
	lns_umount "$A"
	[ -b "$B/loop0" ]
	[ -b "$B/loop5" ]
	[ -e "/sys/block/$db" ]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
}

@test "a bind mount shares the instance and keeps it alive" {
	lns_mount "$A"
	mkdir -p "$B"
	mount --bind "$A" "$B"
	loopioctl "$A/loop-control" ctl-add 2
	[ -b "$B/loop2" ]
	[ "$(stat -c '%t:%T' "$A/loop2")" = "$(stat -c '%t:%T' "$B/loop2")" ]
	lns_umount "$A"
	[ -b "$B/loop2" ]
	[ "$(loopioctl "$B/loop-control" ctl-add 3)" = 3 ]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
	umount "$B"
	wait_for 5 baseline
}

@test "loopN maps to its gendisk: stat %t:%T -> /sys/dev/block -> loopnsM" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 3
	mm=$(stat -c '%t:%T' "$A/loop3")
	maj=$((16#${mm%:*})) min=$((16#${mm#*:}))
	major=$(awk '/^Block devices:/ { b = 1 } b && $2 == "loopns" { print $1 }' /proc/devices)
	[ "$maj" -eq "$major" ]
	link=$(readlink "/sys/dev/block/$maj:$min")
	echo "$link"
	name=${link##*/}
	[[ $name =~ ^loopns[0-9]+$ ]]
	[[ $link == */block/$name ]]
	[ "$(cat "/sys/block/$name/dev")" = "$maj:$min" ]
	[ ! -e "/sys/block/$name/loop" ]
	loopioctl "$A/loop3" set-fd "$T/img"
	[ "$(cat "/sys/block/$name/loop/backing_file")" = "$T/img" ]
	loopioctl "$A/loop3" clr
	wait_for 5 test ! -e "/sys/block/$name/loop"
}

@test "a copy of loop-control made with mknod elsewhere does not work" {
	lns_mount "$A"
	mm=$(stat -c '%t:%T' "$A/loop-control")
	mknod "$T/ctl-copy" c "$((16#${mm%:*}))" "$((16#${mm#*:}))"
	run loopioctl "$T/ctl-copy" ctl-add 0
	echo "$output"
	[ "$status" -ne 0 ]
	[ "${lines[-1]}" = ENXIO ] || [ "${lines[-1]}" = ENODEV ]
	[ ! -e "$A/loop0" ]
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

@test "unmounting an instance removes its devices from /sys/block" {
	lns_mount "$A"
	loopioctl "$A/loop-control" ctl-add 0
	loopioctl "$A/loop-control" ctl-add 1
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
	lns_umount "$A"
	wait_for 5 baseline
}
