#!/usr/bin/env bats
# The new mount API: fsopen("loopns") + fsconfig + fsmount() give a detached
# instance usable through openat(mntfd, ...); fspick reconfigures; closing
# every fd tears the instance down. Driven by the fsmount helper
# (tests/helpers/fsmount.c).

load helpers

setup() {
	skip_unless_root
	load_loopns
	T=$(mktemp -d /tmp/lns13.XXXXXX)
	A=$T/a BK=$T/backing
	mkdir -p "$A" "$BK"
	mount -t tmpfs -o size=32M lns13bk "$BK"
	make_image "$BK/img" 4M
	BASE=$(lns_disk_count)
	HOLDS=()
}

teardown() {
	local h m
	for h in "${HOLDS[@]}"; do
		hold_stop "$h" 2>/dev/null || true
	done
	umount_under "$T"
	lns_cleanup
	rm -rf "$T"
	modprobe loopns 2>/dev/null || true
}

# hold_start TAG STEP...: run `fsmount STEP... hold` in the background,
# stdin on a FIFO this shell keeps open, output in $T/TAG.out; returns once
# the helper reports hold=ready (fails if it exits first).
hold_start() {
	local tag=$1 pid fd
	shift
	mkfifo "$T/$tag.in"
	fsmount "$@" hold <"$T/$tag.in" >"$T/$tag.out" 2>&1 3>&- &
	pid=$!
	exec {fd}>"$T/$tag.in"
	printf -v "PID_$tag" %s "$pid"
	printf -v "FD_$tag" %s "$fd"
	HOLDS+=("$tag")
	local end=$((SECONDS + 30))
	until grep -q '^hold=ready$' "$T/$tag.out"; do
		if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= end)); then
			cat "$T/$tag.out"
			return 1
		fi
		sleep 0.1
	done
	cat "$T/$tag.out"
}

# hold_stop TAG: close the helper's stdin and wait for it to exit.
hold_stop() {
	local fdvar=FD_$1 pidvar=PID_$1
	[[ -n ${!fdvar:-} ]] || return 0
	local fd=${!fdvar}
	exec {fd}>&-
	wait "${!pidvar}"
	printf -v "$fdvar" %s ""
}

# val FILE KEY [N]: value of the Nth (default 1st) KEY=... line of FILE.
val() {
	sed -n "s/^$2=//p" "$1" | sed -n "${3:-1}p"
}

# gone DISK...: none of the gendisks exists any more.
gone() {
	local d
	for d in "$@"; do
		[[ ! -e /sys/block/$d ]] || return 1
	done
}

baseline() {
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

@test "fsopen/fsconfig/fsmount give a detached instance holding loop-control" {
	before=$(grep -c ' loopns ' /proc/mounts || true)
	run fsmount new - ls
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = new=0 ]
	[ "${lines[1]}" = ls=loop-control ]
	[ "$(grep -c ' loopns ' /proc/mounts || true)" -eq "$before" ]
	baseline
}

@test "GET_FREE through openat(mntfd, loop-control): loop0 exists at return, gone after close" {
	hold_start h new max=8 get-free add 3 get-free ls disk 0 disk 3
	out=$T/h.out
	[ "$(val "$out" get-free 1)" = 0 ]
	[ "$(val "$out" add)" = 3 ]
	[ "$(val "$out" get-free 2)" = 0 ]
	[ "$(val "$out" ls)" = "loop-control loop0 loop3" ]
	d0=$(val "$out" disk 1) d3=$(val "$out" disk 2)
	[[ $d0 =~ ^loopns[0-9]+$ && $d3 =~ ^loopns[0-9]+$ && $d0 != "$d3" ]]
	[ -e "/sys/block/$d0" ]
	[ -e "/sys/block/$d3" ]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
	hold_stop h
	wait_for 10 gone "$d0" "$d3"
	baseline
}

@test "an instance closed without holding disappears when the helper exits" {
	run fsmount new - get-free add 1 add 2 disk 2
	echo "$output"
	[ "$status" -eq 0 ]
	d2=$(sed -n 's/^disk=//p' <<<"$output")
	[[ $d2 =~ ^loopns[0-9]+$ ]]
	wait_for 10 baseline
}

@test "LOOP_SET_FD through openat(mntfd, loopN) binds; the gendisk shows the backing file" {
	hold_start h new - get-free bind 0 "$BK/img" disk 0 backing 0 '?bind' 0 "$BK/img"
	out=$T/h.out
	[ "$(val "$out" bind 1)" = 0 ]
	# A second bind of the same device is refused.
	[ "$(val "$out" bind 2)" = EBUSY ]
	d0=$(val "$out" disk)
	[ "$(val "$out" backing)" = "$BK/img" ]
	[ "$(cat "/sys/block/$d0/loop/backing_file")" = "$BK/img" ]
	[ "$(cat "/sys/block/$d0/size")" -eq 8192 ]
	hold_stop h
	wait_for 10 gone "$d0"
	baseline
	# Detached and released: the backing filesystem is not busy.
	umount "$BK"
}

@test "fsconfig max= limits the detached instance (ENOSPC beyond)" {
	run fsmount new max=2 add 0 add 5 '?add' 1 '?add' -1 '?get-free' ls
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = add=0 ]
	[ "${lines[2]}" = add=5 ]
	[ "${lines[3]}" = add=ENOSPC ]
	[ "${lines[4]}" = add=ENOSPC ]
	# Both devices are unbound: GET_FREE hands out loop0 at the limit.
	[ "${lines[5]}" = get-free=0 ]
	[ "${lines[6]}" = "ls=loop-control loop0 loop5" ]
	wait_for 10 baseline
}

@test "fsconfig rejects bad options with EINVAL and explains in the fs context log" {
	local o key
	for o in max=0 max=1048577 max=abc mode=0777 mode=xyz uid=nope bogus=1 bogus; do
		key=${o%%=*}
		run fsmount new "$o"
		echo "$o: $output"
		[ "$status" -eq 1 ]
		[ "${lines[0]}" = new=EINVAL ]
		# At least one message, naming the option or its value.
		[[ $output == *$'\n'log=* ]]
		[[ $output == *log=*"$key"* ]]
	done
	baseline
}

@test "uid=, gid=, mode= given to fsconfig apply to the nodes" {
	hold_start h new uid=1000,gid=1001,mode=0604 add 0 open 0
	pid=$PID_h
	fd=$(val "$T/h.out" open)
	[ "$(stat -L -c '%u %g %a' "/proc/$pid/fd/$fd")" = "1000 1001 604" ]
	hold_stop h
	wait_for 10 baseline
}

@test "fspick(mntfd) + FSCONFIG_CMD_RECONFIGURE changes max= of a detached instance" {
	run fsmount new max=1 add 0 '?add' 1 reconf max=3 add 1 add 2 '?add' 3 \
		'?reconf' max=0 '?add' 3 reconf max=4 add 3
	echo "$output"
	[ "$status" -eq 0 ]
	want=(new=0 add=0 add=ENOSPC reconf=0 add=1 add=2 add=ENOSPC reconf=EINVAL)
	for i in "${!want[@]}"; do
		[ "${lines[$i]}" = "${want[$i]}" ]
	done
	# The refused reconfigure explained itself and changed nothing.
	[[ ${lines[8]} == log=* ]]
	[ "$(sed -n '/^log=/!p' <<<"$output" | tail -n 3 | tr '\n' ' ')" = "add=ENOSPC reconf=0 add=3 " ]
	wait_for 10 baseline
}

@test "fspick by path + FSCONFIG_CMD_RECONFIGURE changes max= of a mounted instance" {
	lns_mount "$A" max=1
	loopioctl "$A/loop-control" ctl-add 0
	run fsmount pick "$A" max=3
	echo "$output"
	[ "$output" = pick=0 ]
	awk -v d="$A" '$2 == d' /proc/mounts | grep -q '[,]max=3\b'
	[ "$(loopioctl "$A/loop-control" ctl-add 1)" = 1 ]
	[ "$(loopioctl "$A/loop-control" ctl-add 2)" = 2 ]
	[ "$(loopioctl "$A/loop-control" ctl-add 3)" = ENOSPC ]
	run fsmount pick "$A" max=abc
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = pick=EINVAL ]
	[[ ${lines[1]} == log=* ]]
	awk -v d="$A" '$2 == d' /proc/mounts | grep -q '[,]max=3\b'
}

@test "move_mount attaches a detached instance; umount tears it down" {
	run fsmount new max=7 add 0 disk 0 attach "$A"
	echo "$output"
	[ "$status" -eq 0 ]
	d0=$(sed -n 's/^disk=//p' <<<"$output")
	mountpoint -q "$A"
	LNS_MOUNTED+=("$A")
	[ "$(awk -v d="$A" '$2 == d { print $3 }' /proc/mounts)" = loopns ]
	awk -v d="$A" '$2 == d' /proc/mounts | grep -q '[,]max=7\b'
	[ -b "$A/loop0" ]
	[ "$(lns_disk "$A/loop0")" = "$d0" ]
	lns_umount "$A"
	gone "$d0"
	baseline
}

@test "an open device fd keeps a detached instance after its mount fd is closed" {
	hold_start h new - add 0 add 1 bind 0 "$BK/img" disk 0 disk 1 open 0 close-mnt
	d0=$(val "$T/h.out" disk 1) d1=$(val "$T/h.out" disk 2)
	sleep 1
	[ -e "/sys/block/$d0" ]
	[ -e "/sys/block/$d1" ]
	[ "$(cat "/sys/block/$d0/loop/backing_file")" = "$BK/img" ]
	hold_stop h
	wait_for 10 gone "$d0" "$d1"
	baseline
	umount "$BK"
}

@test "two detached instances both get loop0 and do not share devices" {
	hold_start x new - get-free disk 0
	hold_start y new - get-free disk 0 '?remove' 0 get-free '?remove' 0 ls
	dx=$(val "$T/x.out" disk) dy=$(val "$T/y.out" disk)
	[ "$(val "$T/x.out" get-free)" = 0 ]
	[ "$(val "$T/y.out" get-free)" = 0 ]
	[[ $dx != "$dy" ]]
	# y removed its own loop0 (twice); x's is untouched.
	[ "$(val "$T/y.out" remove 1)" = 0 ]
	[ "$(val "$T/y.out" remove 2)" = 0 ]
	[ -e "/sys/block/$dx" ]
	gone "$dy"
	[ "$(val "$T/y.out" ls)" = loop-control ]
	hold_stop y
	[ -e "/sys/block/$dx" ]
	hold_stop x
	wait_for 10 gone "$dx"
	baseline
}

@test "a detached instance pins the module until its fds are closed" {
	hold_start h new - get-free
	run rmmod loopns
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"in use"* ]]
	hold_stop h
	wait_for 10 rmmod loopns
}
