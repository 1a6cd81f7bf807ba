#!/usr/bin/env bats
# loopnsctl: every command and its error paths (status, load/unload via
# libkmod, mount/umount, attach/list/detach/resize), exit codes and the
# messages that name the cause. setup-dev: 31-loopnsctl-setup-dev.bats;
# run and attach --ephemeral: 32-loopnsctl-run.bats.

load helpers

setup() {
	skip_unless_root
	skip_unless_cmd loopnsctl
	load_loopns
	T=$(mktemp -d /tmp/lns30.XXXXXX)
	chmod 755 "$T"
	make_image "$T/img" 4M
	make_image "$T/img2" 4M
	BASE=$(lns_disk_count)
	unset LOOPNS_DIR
}

teardown() {
	umount_under "$T"
	lns_cleanup
	rm -rf "$T"
	# a test that changed module parameters puts the defaults back
	if [[ -n ${RESTORE_PARAMS:-} ]]; then
		echo 4096 >/sys/module/loopns/parameters/max_devices
		echo 1024 >/sys/module/loopns/parameters/max_devices_per_user
	fi
}

# major: the loopns block major from /proc/devices.
major() {
	awk '/^Block devices:/ { b = 1 } b && $2 == "loopns" { print $1 }' /proc/devices
}

# ctl_major: the character major of loop-control ("loopns-control").
ctl_major() {
	awk '/^Character devices:/ { c = 1 } /^Block/ { c = 0 }
	     c && $2 == "loopns-control" { print $1 }' /proc/devices
}

# sysattr NODE ATTR: /sys/block/<disk>/ATTR of an instance node.
sysattr() {
	cat "/sys/block/$(lns_disk "$1")/$2"
}

@test "--help for every command; usage errors exit 2 and point to --help" {
	local c
	for c in status load unload mount umount attach detach list resize setup-dev run help version; do
		run loopnsctl "$c" --help
		echo "$c: $status: ${lines[0]}"
		[ "$status" -eq 0 ]
		[[ ${lines[0]} == "Usage: loopnsctl $c"* ]]
		run loopnsctl help "$c"
		[ "$status" -eq 0 ]
		[[ ${lines[0]} == "Usage: loopnsctl $c"* ]]
	done
	run loopnsctl --help
	[ "$status" -eq 0 ]
	[[ $output == *setup-dev* ]]
	run loopnsctl
	[ "$status" -eq 2 ]
	run loopnsctl frobnicate
	[ "$status" -eq 2 ]
	[[ $output == *"unknown command 'frobnicate'"* ]]
	run loopnsctl attach
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "loopnsctl: attach: missing IMAGE" ]]
	[[ ${lines[1]} == "Try 'loopnsctl attach --help'." ]]
	run loopnsctl mount "$T/x" --max 0
	[ "$status" -eq 2 ]
	[[ $output == *"--max 0: must be from 1 to 1048576"* ]]
	run loopnsctl mount "$T/x" --mode 0755
	[ "$status" -eq 2 ]
	run loopnsctl attach --block-size 1000 "$T/img"
	[ "$status" -eq 2 ]
	run loopnsctl version
	[ "$status" -eq 0 ]
	[[ $output == "loopnsctl "* ]]
}

@test "status, load and unload through libkmod; messages when the module is missing" {
	lns_cleanup
	run unload_loopns
	[ "$status" -eq 0 ] || skip "loopns cannot be unloaded here: $output"

	run loopnsctl status
	echo "$output"
	[ "$status" -eq 3 ]
	[[ $output == *"module:        not loaded"* ]]
	[[ $output == *"module loopns is not loaded: run modprobe loopns or loopnsctl load"* ]]
	[[ $output == *"/updates/loopns.ko"* ]]
	run loopnsctl status --json
	[ "$status" -eq 3 ]
	[[ $output == *'"loaded": false'* ]]
	run loopnsctl attach "$T/img"
	[ "$status" -eq 3 ]
	[[ $output == *"module loopns is not loaded: run modprobe loopns or loopnsctl load"* ]]
	run loopnsctl list
	[ "$status" -eq 3 ]
	run loopnsctl unload
	[ "$status" -eq 3 ]

	RESTORE_PARAMS=1
	run loopnsctl load max_devices_per_user=5
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "loaded loopns "*", block major $(major)" ]]
	[ "$(cat /sys/module/loopns/parameters/max_devices_per_user)" = 5 ]
	run loopnsctl load
	[ "$status" -eq 0 ]
	[[ $output == *"already loaded"* ]]
	# loaded: parameters change at run time
	run loopnsctl load max_devices=77
	[ "$status" -eq 0 ]
	[ "$(cat /sys/module/loopns/parameters/max_devices)" = 77 ]
	run loopnsctl load no_such_param=1
	[ "$status" -eq 2 ]
	[[ $output == *"loopns has no parameter 'no_such_param'"* ]]
	run loopnsctl load max_devices=banana
	[ "$status" -eq 1 ]
	[[ $output == *"invalid value 'banana'"* ]]
	run loopnsctl load notanassignment
	[ "$status" -eq 2 ]

	# busy while an instance exists
	lns_mount "$T/a"
	run loopnsctl unload
	echo "$output"
	[ "$status" -eq 7 ]
	[[ $output == *"in use"* ]]
	lns_umount "$T/a"
	run loopnsctl unload
	[ "$status" -eq 0 ]
	run grep -q '^loopns ' /proc/modules
	[ "$status" -ne 0 ]
	run loopnsctl load
	[ "$status" -eq 0 ]
	grep -q '^loopns ' /proc/modules
}

@test "status: version, major, limits, counts and the device cgroup rule" {
	local maj
	maj=$(major)
	lns_mount "$T/a" max=3
	lns_mount "$T/b"
	loopnsctl attach -i "$T/a" "$T/img" >/dev/null
	run loopnsctl status
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"module:        loaded"* ]]
	[[ $output == *"version:       $(cat /sys/module/loopns/version)"* ]]
	[[ $output == *"block major:   $maj (dynamic)"* ]]
	[[ $output == *"max_devices    $(cat /sys/module/loopns/parameters/max_devices)"* ]]
	[[ $output == *"max_devices_per_user $(cat /sys/module/loopns/parameters/max_devices_per_user)"* ]]
	[[ $output == *"instances:     2 "* ]]
	[[ $output == *"  $T/a max=3 devices=1"* ]]
	[[ $output == *"devices:       $(lns_disk_count) ("* ]]
	[[ $output == *"device cgroup: b $maj:* rwm"* ]]
	[[ $output == *"c $(ctl_major):* rwm (loop-control)"* ]]
	[[ $output == *"b 259:* rwm"* ]]
	run loopnsctl status --json
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *'"loaded": true'* ]]
	[[ $output == *"\"major\": $maj,"* ]]
	[[ $output == *"\"b $maj:* rwm\", \"c $(ctl_major):* rwm\""* ]]
	[[ $output == *'"device-cgroup-rules": ['* ]]
	# the instances are the children of the module
	[[ $output == *'"children": ['*"\"path\": \"$T/a\","*'"max": 3,'* ]]
}

@test "mount and umount: options, remount, ownership of new nodes, errors" {
	run loopnsctl mount "$T/new" --max 2 --uid tester --gid 1000 --mode 0660
	[ "$status" -eq 0 ]
	LNS_MOUNTED+=("$T/new")
	run awk -v d="$T/new" '$2 == d { print $3, $4 }' /proc/mounts
	echo "$output"
	[[ $output == "loopns "*"max=2,uid=1000,gid=1000,mode=660"* ]]
	[[ $output == *nosuid* ]]
	loopnsctl attach -i "$T/new" "$T/img"
	[ "$(stat -c '%u %g %a' "$T/new/loop0")" = "1000 1000 660" ]
	run loopnsctl mount "$T/new" --remount --max 5
	[ "$status" -eq 0 ]
	run awk -v d="$T/new" '$2 == d { print $4 }' /proc/mounts
	[[ $output == *"max=5"* ]]
	[[ $output == *nosuid* ]]
	run loopnsctl mount "$T" --remount --max 5
	[ "$status" -eq 6 ]
	[[ $output == *"not a loopns instance"* ]]
	run loopnsctl mount "$T/nope" --uid no-such-user
	[ "$status" -eq 2 ]
	[[ $output == *"--uid no-such-user: no such user"* ]]
	touch "$T/file"
	run loopnsctl mount "$T/file"
	[ "$status" -eq 2 ]
	run loopnsctl umount "$T"
	[ "$status" -eq 6 ]
	[[ $output == *"$T: not a loopns instance"* ]]
	run loopnsctl umount "$T/missing"
	[ "$status" -eq 6 ]
	# a device open in the instance keeps it busy; --lazy detaches
	exec {fd}<"$T/new/loop0"
	run loopnsctl umount "$T/new"
	echo "$output"
	exec {fd}<&-
	[ "$status" -eq 7 ]
	[[ $output == *busy* ]]
	run loopnsctl umount "$T/new"
	[ "$status" -eq 0 ]
	[ "$(lns_disk_count)" -eq "$BASE" ] || wait_for 5 test "$(lns_disk_count)" -eq "$BASE"
	lns_mount "$T/lazy"
	exec {fd}<"$T/lazy/loop-control"
	run loopnsctl umount --lazy "$T/lazy"
	exec {fd}<&-
	[ "$status" -eq 0 ]
	run grep -q " $T/lazy " /proc/mounts
	[ "$status" -ne 0 ]
	# as a user without privileges
	mkdir -p "$T/u" && chown tester "$T/u"
	run setpriv --reuid=1000 --regid=1000 --clear-groups loopnsctl mount "$T/u"
	echo "$output"
	[ "$status" -eq 5 ]
	[[ $output == *"permission denied: mounting an instance needs CAP_SYS_ADMIN"* ]]
}

@test "attach prints the node; list shows node, global name, backing file, flags, size" {
	local n name
	lns_mount "$T/a"
	run loopnsctl attach --instance "$T/a" "$T/img"
	[ "$status" -eq 0 ]
	[ "$output" = "$T/a/loop0" ]
	n=$output
	name=$(lns_disk "$n")
	[ "$(sysattr "$n" loop/backing_file)" = "$T/img" ]
	run loopnsctl attach -i "$T/a" -r -P --direct-io --offset 1M --sizelimit 2M -b 4096 "$T/img2"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$T/a/loop1" ]
	[ "$(sysattr "$T/a/loop1" loop/offset)" = 1048576 ]
	[ "$(sysattr "$T/a/loop1" loop/sizelimit)" = 2097152 ]
	[ "$(sysattr "$T/a/loop1" loop/partscan)" = 1 ]
	[ "$(sysattr "$T/a/loop1" ro)" = 1 ]
	[ "$(blockdev --getss "$T/a/loop1")" = 4096 ]
	[ "$(blockdev --getsize64 "$T/a/loop1")" = 2097152 ]

	# libsmartcols: losetup's column names, plus lsblk's KNAME and SIZE
	run loopnsctl list
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^NAME\ +KNAME\ +SIZE\ +SIZELIMIT\ +OFFSET\ +AUTOCLEAR\ +RO\ +PARTSCAN\ +DIO\ +LOG-SEC\ +BACK-FILE$ ]]
	[[ ${lines[1]} =~ ^$T/a/loop0\ +$name\ +4194304\ +0\ +0\ +0\ +0\ +0\ +0\ +512\ +$T/img$ ]]
	[[ ${lines[2]} =~ ^$T/a/loop1\ +loopns[0-9]+\ +2097152\ +2097152\ +1048576\ +0\ +1\ +1\ +[01]\ +4096\ +$T/img2$ ]]
	# and the JSON shape of losetup --list --json
	run loopnsctl list --json
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "{"*'"loopdevices": ['* ]]
	[[ $output == *"\"name\": \"$T/a/loop0\""* ]]
	[[ $output == *"\"kname\": \"$name\""* ]]
	[[ $output == *"\"back-file\": \"$T/img\""* ]]
	[[ $output == *'"ro": true'* ]]
	[[ $output == *'"size": 4194304'* ]]
	[[ $output == *'"log-sec": 4096'* ]]

	# unbound devices only with --all
	loopnsctl detach "$T/a/loop0"
	run loopnsctl list
	[ "${#lines[@]}" -eq 2 ]
	run loopnsctl list --all -i "$T/a"
	[ "${#lines[@]}" -eq 3 ]
	[[ ${lines[1]} == *"(unbound)" ]]
	# LOOPNS_DIR picks the instance
	LOOPNS_DIR=$T/a run loopnsctl attach "$T/img"
	[ "$status" -eq 0 ]
	[ "$output" = "$T/a/loop0" ]
}

@test "attach: which instance, and errors naming the cause" {
	run loopnsctl attach "$T/img"
	echo "$output"
	[ "$status" -eq 6 ]
	[[ $output == *"no loopns instance is mounted here"* ]]
	lns_mount "$T/a"
	lns_mount "$T/b"
	run loopnsctl attach "$T/img"
	[ "$status" -eq 2 ]
	[[ $output == *"2 loopns instances are mounted here: choose one with --instance DIR"* ]]
	run loopnsctl attach -i "$T" "$T/img"
	[ "$status" -eq 6 ]
	[[ $output == *"--instance $T: not a loopns instance"* ]]
	LOOPNS_DIR=$T/none run loopnsctl attach "$T/img"
	[ "$status" -eq 6 ]
	[[ $output == *"LOOPNS_DIR $T/none: No such file or directory"* ]]
	run loopnsctl attach -i "$T/a" "$T/no-image"
	[ "$status" -eq 6 ]
	[[ $output == *"$T/no-image: No such file or directory"* ]]
	chmod 0444 "$T/img2"
	chown tester "$T/img2"
	run setpriv --reuid=1000 --regid=1000 --clear-groups loopnsctl attach -i "$T/a" "$T/img2"
	echo "$output"
	# the instance's nodes are root's (mode 0600): permission denied
	[ "$status" -eq 5 ]
	[[ $output == *"permission denied (see the instance's uid=, gid=, mode= options)"* ]]
	# an image on a read-only mount attaches read-only, with a warning
	mkdir "$T/ro" && cp "$T/img" "$T/ro/img"
	mount --bind "$T/ro" "$T/ro" && mount -o remount,bind,ro "$T/ro"
	run loopnsctl attach -i "$T/b" "$T/ro/img"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "loopnsctl: $T/ro/img: write access denied, attaching read-only" ]
	[ "${lines[1]}" = "$T/b/loop0" ]
	[ "$(sysattr "$T/b/loop0" ro)" = 1 ]
	run loopnsctl attach -i "$T/b" /proc/version
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$(lns_disk_count)" -le $((BASE + 2)) ]
}

@test "attach: instance limit and global limits are named" {
	local n
	lns_mount "$T/a" max=2
	loopnsctl attach -i "$T/a" "$T/img"
	loopnsctl attach -i "$T/a" "$T/img2"
	run loopnsctl attach -i "$T/a" "$T/img"
	echo "$output"
	[ "$status" -eq 4 ]
	[ "$output" = "loopnsctl: instance limit reached (max=2)" ]
	loopnsctl mount "$T/a" --remount --max 3
	RESTORE_PARAMS=1
	n=$(lns_disk_count)
	echo "$n" >/sys/module/loopns/parameters/max_devices
	run loopnsctl attach -i "$T/a" "$T/img"
	echo "$output"
	[ "$status" -eq 4 ]
	[ "$output" = "loopnsctl: global device limit reached (max_devices=$n)" ]
	echo 4096 >/sys/module/loopns/parameters/max_devices
	echo 0 >/sys/module/loopns/parameters/max_devices_per_user
	run loopnsctl attach -i "$T/a" "$T/img"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ $output == "loopnsctl: device limit of this user reached (max_devices_per_user=0)" ]]
}

@test "attach: concurrent attaches in one instance all get their own device" {
	local i pids=() out
	lns_mount "$T/a"
	for i in $(seq 8); do
		make_image "$T/c$i" 1M
		loopnsctl attach -i "$T/a" "$T/c$i" >"$T/out$i" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	cat "$T"/out*
	out=$(cat "$T"/out* | sort -u | wc -l)
	[ "$out" -eq 8 ]
	for i in $(seq 8); do
		[ "$(sysattr "$(cat "$T/out$i")" loop/backing_file)" = "$T/c$i" ]
	done
}

@test "detach NODE and --all; errors" {
	lns_mount "$T/a"
	lns_mount "$T/b"
	loopnsctl attach -i "$T/a" "$T/img"
	loopnsctl attach -i "$T/a" "$T/img2"
	loopnsctl attach -i "$T/b" "$T/img"
	run loopnsctl detach "$T/a/loop0"
	[ "$status" -eq 0 ]
	[ ! -e "/sys/block/$(lns_disk "$T/a/loop0")/loop" ]
	run loopnsctl detach "$T/a/loop0"
	[ "$status" -eq 1 ]
	[ "$output" = "loopnsctl: $T/a/loop0: not attached" ]
	run loopnsctl detach --all
	[ "$status" -eq 2 ]
	run loopnsctl detach --all -i "$T/a"
	[ "$status" -eq 0 ]
	[ ! -e "/sys/block/$(lns_disk "$T/a/loop1")/loop" ]
	[ -e "/sys/block/$(lns_disk "$T/b/loop0")/loop" ]
	run loopnsctl detach "$T/img"
	[ "$status" -eq 6 ]
	[[ $output == *"not a block device"* ]]
	run loopnsctl detach "$T/a/loop9"
	[ "$status" -eq 6 ]
	run loopnsctl detach /dev/vda
	[ "$status" -eq 6 ]
	[[ $output == *"not a loopns device"* ]]
}

@test "detach of a partition node names the device to use" {
	skip_unless_cmd sfdisk
	lns_mount "$T/a"
	truncate -s 8M "$T/pimg"
	printf 'label: dos\n,2M\n,\n' | sfdisk -q "$T/pimg"
	loopnsctl attach -i "$T/a" -P "$T/pimg"
	wait_for 5 test -b "$T/a/loop0p1"
	run loopnsctl detach "$T/a/loop0p1"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ $output == *"a partition; give its device (loopN)"* ]]
	run loopnsctl detach "$T/a/loop0"
	[ "$status" -eq 0 ]
}

@test "resize follows the backing file" {
	lns_mount "$T/a"
	loopnsctl attach -i "$T/a" "$T/img"
	truncate -s 6M "$T/img"
	run loopnsctl resize "$T/a/loop0"
	[ "$status" -eq 0 ]
	[ "$output" = 6291456 ]
	[ "$(blockdev --getsize64 "$T/a/loop0")" = 6291456 ]
	loopnsctl detach "$T/a/loop0"
	run loopnsctl resize "$T/a/loop0"
	[ "$status" -eq 1 ]
	[ "$output" = "loopnsctl: $T/a/loop0: not attached" ]
	run loopnsctl resize
	[ "$status" -eq 2 ]
}
