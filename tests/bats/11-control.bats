#!/usr/bin/env bats
# loop-control of an instance: LOOP_CTL_ADD, LOOP_CTL_REMOVE,
# LOOP_CTL_GET_FREE, their errno values, max= and the global max_devices.

load helpers

MAXDEV=/sys/module/loopns/parameters/max_devices

setup() {
	skip_unless_root
	load_loopns
	T=$(mktemp -d /tmp/lns11.XXXXXX)
	A=$T/a B=$T/b
	mkdir -p "$A" "$B"
	make_image "$T/img" 4M
	make_image "$T/img2" 4M
	BASE=$(lns_disk_count)
	OLD_MAXDEV=$(cat "$MAXDEV")
}

teardown() {
	[[ -n ${FD:-} ]] && exec {FD}>&- 2>/dev/null
	[[ -n ${OLD_MAXDEV:-} ]] && echo "$OLD_MAXDEV" >"$MAXDEV"
	umount_under "$T"
	lns_cleanup
	rm -rf "$T"
}

# ctl DIR ARGS...: loopioctl on DIR/loop-control, output in $output.
ctl() {
	local dir=$1
	shift
	run loopioctl "$dir/loop-control" "$@"
	echo "ctl $*: $output"
}

@test "LOOP_CTL_ADD(n) returns n and creates loopN; EEXIST if present" {
	lns_mount "$A"
	ctl "$A" ctl-add 5
	[ "$status" -eq 0 ]
	[ "$output" = 5 ]
	[ -b "$A/loop5" ]
	[ -e "/sys/block/$(lns_disk "$A/loop5")" ]
	ctl "$A" ctl-add 5
	[ "$status" -eq 1 ]
	[ "$output" = EEXIST ]
	[ "$(ls -A "$A" | wc -l)" -eq 2 ]
	[ "$(lns_disk_count)" -eq $((BASE + 1)) ]
}

@test "LOOP_CTL_ADD with a negative index takes the first free index" {
	lns_mount "$A"
	ctl "$A" ctl-add 0
	ctl "$A" ctl-add 2
	ctl "$A" ctl-add -1
	[ "$output" = 1 ]
	[ -b "$A/loop1" ]
	ctl "$A" ctl-add -1
	[ "$output" = 3 ]
	ctl "$A" ctl-add -5
	[ "$output" = 4 ]
	[ -b "$A/loop4" ]
	[ "$(lns_disk_count)" -eq $((BASE + 5)) ]
}

@test "LOOP_CTL_REMOVE: ENODEV if missing, EINVAL if negative" {
	lns_mount "$A"
	ctl "$A" ctl-remove 0
	[ "$status" -eq 1 ]
	[ "$output" = ENODEV ]
	ctl "$A" ctl-add 1
	ctl "$A" ctl-remove 0
	[ "$output" = ENODEV ]
	ctl "$A" ctl-remove -1
	[ "$status" -eq 1 ]
	[ "$output" = EINVAL ]
	[ -b "$A/loop1" ]
}

@test "LOOP_CTL_REMOVE deletes an idle device: node and gendisk gone" {
	lns_mount "$A"
	ctl "$A" ctl-add 3
	disk=$(lns_disk "$A/loop3")
	ctl "$A" ctl-remove 3
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	[ ! -e "$A/loop3" ]
	[ ! -e "/sys/block/$disk" ]
	ctl "$A" ctl-remove 3
	[ "$output" = ENODEV ]
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

@test "LOOP_CTL_REMOVE of a bound device fails with EBUSY" {
	lns_mount "$A"
	ctl "$A" ctl-add 0
	loopioctl "$A/loop0" set-fd "$T/img"
	ctl "$A" ctl-remove 0
	[ "$status" -eq 1 ]
	[ "$output" = EBUSY ]
	[ -b "$A/loop0" ]
	disk=$(lns_disk "$A/loop0")
	[ "$(cat "/sys/block/$disk/loop/backing_file")" = "$T/img" ]
	loopioctl "$A/loop0" clr
	wait_for 5 test ! -e "/sys/block/$disk/loop"
	ctl "$A" ctl-remove 0
	[ "$output" = 0 ]
	[ ! -e "/sys/block/$disk" ]
}

@test "LOOP_CTL_REMOVE of an open device fails with EBUSY" {
	lns_mount "$A"
	ctl "$A" ctl-add 0
	exec {FD}<"$A/loop0"
	ctl "$A" ctl-remove 0
	[ "$output" = EBUSY ]
	[ -b "$A/loop0" ]
	exec {FD}<&-
	FD=
	ctl "$A" ctl-remove 0
	[ "$output" = 0 ]
	[ ! -e "$A/loop0" ]
}

@test "LOOP_CTL_GET_FREE creates loop0 in an empty instance, then reuses it" {
	lns_mount "$A"
	ctl "$A" ctl-get-free
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	[ -b "$A/loop0" ]
	ctl "$A" ctl-get-free
	[ "$output" = 0 ]
	[ "$(ls -A "$A" | wc -l)" -eq 2 ]
	[ "$(lns_disk_count)" -eq $((BASE + 1)) ]
}

@test "LOOP_CTL_GET_FREE returns the first unbound device, creating one if none" {
	lns_mount "$A"
	ctl "$A" ctl-add 0
	loopioctl "$A/loop0" set-fd "$T/img"
	ctl "$A" ctl-get-free
	[ "$output" = 1 ]
	[ -b "$A/loop1" ]
	ctl "$A" ctl-add 5
	loopioctl "$A/loop1" set-fd "$T/img2"
	ctl "$A" ctl-get-free
	[ "$output" = 5 ]
	[ "$(lns_disk_count)" -eq $((BASE + 3)) ]
	loopioctl "$A/loop0" clr
	wait_for 5 test ! -e "/sys/block/$(lns_disk "$A/loop0")/loop"
	ctl "$A" ctl-get-free
	[ "$output" = 0 ]
}

@test "losetup -f inside lns-enter binds the device LOOP_CTL_GET_FREE returned" {
	lns_mount "$A"
	ctl "$A" ctl-add 0
	loopioctl "$A/loop0" set-fd "$T/img"
	run lns_losetup "$A" -f --show "$T/img2"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = /dev/loop1 ]
	# sysfs shows the path as seen from losetup's mount namespace; the
	# inode identifies the backing file.
	run loopioctl "$A/loop1" get-status64
	echo "$output"
	[[ " $output " == *" inode=$(stat -c %i "$T/img2") "* ]]
}

@test "max= bounds ADD, ADD(-1) and GET_FREE with ENOSPC" {
	lns_mount "$A" max=2
	ctl "$A" ctl-get-free
	[ "$output" = 0 ]
	ctl "$A" ctl-add 9
	[ "$output" = 9 ]
	ctl "$A" ctl-add 1
	[ "$output" = ENOSPC ]
	ctl "$A" ctl-add -1
	[ "$output" = ENOSPC ]
	# An unbound device is still handed out at the limit...
	ctl "$A" ctl-get-free
	[ "$output" = 0 ]
	# ...but none can be created once all are bound.
	loopioctl "$A/loop0" set-fd "$T/img"
	loopioctl "$A/loop9" set-fd "$T/img2"
	ctl "$A" ctl-get-free
	[ "$status" -eq 1 ]
	[ "$output" = ENOSPC ]
	[ "$(ls -A "$A" | wc -l)" -eq 3 ]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
}

@test "unknown loop-control ioctls fail with ENOSYS" {
	lns_mount "$A"
	local cmd
	# LOOP_SET_FD, LOOP_GET_STATUS64, one past LOOP_CTL_GET_FREE, junk.
	for cmd in 0x4C00 0x4C05 0x4C83 0x1234; do
		ctl "$A" ctl-raw "$cmd" 0
		[ "$status" -eq 1 ]
		[ "$output" = ENOSYS ]
	done
	[ "$(ls -A "$A")" = loop-control ]
}

@test "the global max_devices limit gives ENOSPC in every instance" {
	lns_mount "$A"
	lns_mount "$B"
	echo $((BASE + 2)) >"$MAXDEV"
	[ "$(cat "$MAXDEV")" -eq $((BASE + 2)) ]
	ctl "$A" ctl-add 0
	[ "$output" = 0 ]
	ctl "$B" ctl-get-free
	[ "$output" = 0 ]
	ctl "$A" ctl-add 1
	[ "$output" = ENOSPC ]
	[ ! -e "$A/loop1" ]
	loopioctl "$B/loop0" set-fd "$T/img"
	ctl "$B" ctl-get-free
	[ "$output" = ENOSPC ]
	ctl "$B" ctl-add -1
	[ "$output" = ENOSPC ]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
	# Freeing a device anywhere makes room everywhere.
	ctl "$A" ctl-remove 0
	ctl "$B" ctl-add 1
	[ "$output" = 1 ]
	# Raising the limit takes effect at once.
	echo $((BASE + 3)) >"$MAXDEV"
	ctl "$A" ctl-add 0
	[ "$output" = 0 ]
}

@test "GET_FREE race: both callers get the same index, the loser's SET_FD gets EBUSY" {
	lns_mount "$A"
	first=$(loopioctl "$A/loop-control" ctl-get-free)
	second=$(loopioctl "$A/loop-control" ctl-get-free)
	[ "$first" = 0 ]
	[ "$second" = 0 ]
	run loopioctl "$A/loop$first" set-fd "$T/img"
	[ "$status" -eq 0 ]
	run loopioctl "$A/loop$second" set-fd "$T/img2"
	[ "$status" -eq 1 ]
	[ "$output" = EBUSY ]
	run loopioctl "$A/loop$second" configure "$T/img2"
	[ "$output" = EBUSY ]
	[ "$(cat "/sys/block/$(lns_disk "$A/loop0")/loop/backing_file")" = "$T/img" ]
	# The loser retries and gets a new device.
	[ "$(loopioctl "$A/loop-control" ctl-get-free)" = 1 ]
}

@test "24 devices can be added and removed; nothing is left behind" {
	lns_mount "$A"
	local i
	for ((i = 0; i < 24; i++)); do
		[ "$(loopioctl "$A/loop-control" ctl-add $i)" = "$i" ]
	done
	[ "$(ls -A "$A" | wc -l)" -eq 25 ]
	[ "$(lns_disk_count)" -eq $((BASE + 24)) ]
	for ((i = 0; i < 24; i++)); do
		[ "$(loopioctl "$A/loop-control" ctl-remove $i)" = 0 ]
	done
	[ "$(ls -A "$A")" = loop-control ]
	[ "$(lns_disk_count)" -eq "$BASE" ]
}
