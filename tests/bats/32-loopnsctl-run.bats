#!/usr/bin/env bats
# loopnsctl run (a private instance in a private mount namespace, gone
# with its last process, even after kill -9) and attach --ephemeral
# (LOOPNS_CTL_ATTACH: the device lives exactly as long as a descriptor of
# it, also one passed to another process over a unix socket).

load helpers

setup() {
	skip_unless_root
	skip_unless_cmd loopnsctl fdpass losetup
	load_loopns
	T=$(mktemp -d /tmp/lns32.XXXXXX)
	chmod 755 "$T"
	make_image "$T/img" 4M
	chmod 666 "$T/img"
	BASE=$(lns_disk_count)
	MOUNTS=$(grep -c ' - loopns ' /proc/self/mountinfo || true)
	unset LOOPNS_DIR
}

teardown() {
	local m p
	for p in ${PIDS:-}; do
		kill -9 "$p" 2>/dev/null
	done
	umount_under "$T"
	lns_cleanup
	rm -rf "$T"
}

# back_to_base: every loopns device made by the test is gone.
back_to_base() {
	wait_for 20 test "$(lns_disk_count)" -eq "$BASE"
}

@test "run: CMD gets a private /dev with an instance; unmodified losetup uses it; nothing outlives CMD" {
	run loopnsctl run --max 4 -- bash -c '
		echo "dir=$LOOPNS_DIR"
		test -c /dev/null && test -c /dev/zero && test -c /dev/urandom
		test "$(readlink /dev/loop0)" = loopns/loop0
		dev=$(losetup -f --show "$1") && echo "dev=$dev"
		test -b "$dev"
		echo "attach=$(loopnsctl attach "$1")"
		loopnsctl list | awk "NR > 1 { print \"list=\" \$1 }"
		grep -c " - loopns " /proc/self/mountinfo
		echo x | dd of=/dev/null status=none
	' bash "$T/img"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"dir=/dev/loopns"* ]]
	[[ $output == *"dev=/dev/loop0"* ]]
	[[ $output == *"attach=/dev/loop1"* ]]
	[[ $output == *"list=/dev/loop0"*"list=/dev/loop1"* ]]
	# the host never saw the instance
	[ "$(grep -c ' - loopns ' /proc/self/mountinfo || true)" -eq "$MOUNTS" ]
	back_to_base
}

@test "run --dir DIR (and LOOPNS_DIR) mounts the instance there and leaves /dev alone" {
	mkdir -p "$T/here"
	run loopnsctl run --dir "$T/here" -- sh -c 'echo "dir=$LOOPNS_DIR"; test -c "$LOOPNS_DIR/loop-control"; test ! -e /dev/loopns; loopnsctl attach "$1"' sh "$T/img"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "dir=$T/here" ]
	[ "${lines[1]}" = "$T/here/loop0" ]
	[ ! -e "$T/here/loop-control" ]
	LOOPNS_DIR=$T/env run loopnsctl run -- sh -c 'echo "dir=$LOOPNS_DIR"; loopnsctl list --all --json'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "dir=$T/env" ]
	[[ $output == *'"loopdevices": ['*']'* && $output != *'"name"'* ]]
	back_to_base
}

@test "run: exit status of CMD, 127 for a missing CMD, default max" {
	run loopnsctl run -- sh -c 'exit 7'
	[ "$status" -eq 7 ]
	run loopnsctl run -- /no/such/cmd
	[ "$status" -eq 127 ]
	[[ $output == *"/no/such/cmd: No such file or directory"* ]]
	run loopnsctl run -- /etc/hostname
	[ "$status" -eq 126 ]
	run loopnsctl run sh -c 'grep " /dev/loopns " /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[[ $output == *max=256* ]]
	run loopnsctl run --max 0 true
	[ "$status" -eq 2 ]
}

@test "run: kill -9 of CMD leaves no device, no instance behind" {
	local pid
	loopnsctl run -- sh -c 'losetup -f --show "$1" >"$2.tmp"; losetup -f --show -P "$1" >>"$2.tmp"; mv "$2.tmp" "$2"; exec sleep 600' sh "$T/img" "$T/out" 3>&- &
	pid=$!
	PIDS=$pid
	wait_for 30 test -s "$T/out"
	cat "$T/out"
	[ "$(wc -l <"$T/out")" -eq 2 ]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
	kill -9 "$pid"
	wait "$pid" || true
	back_to_base
	[ "$(grep -c ' - loopns ' /proc/self/mountinfo || true)" -eq "$MOUNTS" ]
}

@test "run: as an unprivileged user, in a user namespace of its own" {
	[ "$(cat /proc/sys/user/max_user_namespaces)" -gt 0 ] || skip "user namespaces disabled"
	run setpriv --reuid=1000 --regid=1000 --clear-groups loopnsctl run -- sh -c 'id -u; losetup -f --show "$1"; fuse2fs -V >/dev/null 2>&1; true' sh "$T/img"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 0 ]
	[ "${lines[1]}" = /dev/loop0 ]
	back_to_base
}

@test "attach --ephemeral: CMD holds the device on fd 3; it is gone at last close" {
	local node
	lns_mount "$T/a"
	run loopnsctl attach --ephemeral -i "$T/a" "$T/img" -- sh -c '
		echo "dev=$LOOPNS_DEVICE index=$LOOPNS_INDEX fd=$LOOPNS_FD"
		test -b "$LOOPNS_DEVICE"
		blockdev --getsize64 /proc/self/fd/3
		cat "/sys/block/$(basename "$(readlink /sys/dev/block/$(stat -L -c "%Hr:%Lr" /proc/self/fd/3))")/loop/backing_file"
		echo data | dd of=/proc/self/fd/3 bs=512 conv=sync status=none
	'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "dev=$T/a/loop0 index=0 fd=3" ]
	[ "${lines[1]}" = 4194304 ]
	[ "${lines[2]}" = "$T/img" ]
	[ "$(head -c 4 "$T/img")" = data ]
	wait_for 10 test ! -e "$T/a/loop0"
	back_to_base
	# --fd, read-only, and the exit status of CMD
	run loopnsctl attach -e -r --fd 7 -i "$T/a" "$T/img" -- sh -c 'test -b /proc/self/fd/7 && exit 5'
	[ "$status" -eq 5 ]
	back_to_base
	run loopnsctl attach -e -i "$T/a" "$T/img" -- /no/such/cmd
	[ "$status" -eq 127 ]
	back_to_base
	run loopnsctl attach -e -i "$T/a" "$T/img"
	[ "$status" -eq 2 ]
	[[ $output == *"missing -- CMD"* ]]
}

@test "attach --ephemeral: a descriptor passed over a unix socket keeps the device until its holder closes it" {
	local rpid node
	lns_mount "$T/a"
	fdpass recv "$T/sock" -- sh -c '
		echo received >"$1/got"
		while [ ! -e "$1/release" ]; do sleep 0.1; done
		head -c 4 <&3 >"$1/read"
	' sh "$T" 3>&- &
	rpid=$!
	PIDS=$rpid
	wait_for 10 test -S "$T/sock"
	run loopnsctl attach --ephemeral -i "$T/a" "$T/img" -- sh -c 'echo "$LOOPNS_DEVICE"; echo ping | dd of=/proc/self/fd/3 bs=512 conv=sync status=none; fdpass send "$1" 3' sh "$T/sock"
	echo "$output"
	[ "$status" -eq 0 ]
	node=${lines[0]}
	wait_for 10 test -e "$T/got"
	# the sender has exited; the receiver's descriptor keeps it alive
	sleep 1
	[ -b "$node" ]
	[ "$(lns_disk_count)" -eq $((BASE + 1)) ]
	touch "$T/release"
	wait "$rpid"
	[ "$(cat "$T/read")" = ping ]
	wait_for 10 test ! -e "$node"
	back_to_base
}

@test "attach --ephemeral: limits and a missing instance are named" {
	lns_mount "$T/a" max=1
	loopnsctl attach -i "$T/a" "$T/img"
	run loopnsctl attach -e -i "$T/a" "$T/img" -- true
	echo "$output"
	[ "$status" -eq 4 ]
	[ "$output" = "loopnsctl: instance limit reached (max=1)" ]
	run loopnsctl attach -e -i "$T/none" "$T/img" -- true
	[ "$status" -eq 6 ]
}
