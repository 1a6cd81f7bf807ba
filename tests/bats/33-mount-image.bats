#!/usr/bin/env bats
# loopnsctl mount-image, the mount broker: host root mounts an image (a
# file descriptor) on a device of a private loopns instance, idmapped into
# a container's user namespace, at a path in the container's mount
# namespace; --overlay stacks idmapped read-only layer images under the
# container's own upper directory. The "containers" are processes in new
# user + mount namespaces whose id maps host root writes, as a runtime
# does. When a container's mount namespace goes, its mounts and devices go.

load helpers
load userns

setup() {
	skip_unless_root
	skip_unless_cmd unshare nsenter mkfs.ext4 sha256sum
	load_loopns
	T=$(mktemp -d /tmp/lns33.XXXXXX)
	chmod 755 "$T"
	PIDS=()
	# an image tree: ./a owned by 0, ./own/b by 1000
	mkdir -p "$T/src/own" "$T/m" "$T/chk"
	echo a >"$T/src/a"
	echo b >"$T/src/own/b"
	chown -R 1000:1000 "$T/src/own"
	BASE=$(lns_disk_count)
	MNTS=$(wc -l </proc/self/mountinfo)
}

teardown() {
	kill_pids
	umount_under "$T"
	wait_for 10 test "$(lns_disk_count)" -le "$BASE" || true
	rm -rf "$T"
}

# ctr NAME BASE: a container mapping ids 0..65535 to BASE..BASE+65535 in
# a new user and mount namespace (a sleeping process). Sets PID_<NAME>.
ctr() {
	local pid self
	self=$(readlink /proc/self/ns/user)
	unshare -Um --propagation private sleep 3600 3>&- &
	pid=$!
	PIDS+=("$pid")
	wait_for 10 eval '[[ $(readlink /proc/'"$pid"'/ns/user) != "$self" ]]'
	echo "0 $2 65536" >"/proc/$pid/uid_map"
	echo "0 $2 65536" >"/proc/$pid/gid_map"
	printf -v "PID_$1" %s "$pid"
}

# gone: the container processes are killed, and with their namespaces
# every broker mount and device goes; nothing is left on the host.
gone() {
	kill_pids
	PIDS=()
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
	[ "$(wc -l </proc/self/mountinfo)" -eq "$MNTS" ]
}

# host_mount IMAGE DIR [--read-only]: IMAGE at DIR on the host, through
# the broker without idmapping (the test's own, initial namespaces).
host_mount() {
	loopnsctl mount-image --no-idmap --target $$ --fd 3 ${3:-} "$2" 3<>"$1"
}

# in_mnt PID DIR: something is mounted at DIR in PID's mount namespace.
in_mnt() {
	grep -q " ${2} " "/proc/$1/mountinfo"
}

@test "mount-image: an ext4 image idmapped into a container: 0 and 1000 inside, stored as 0, gone with the container" {
	make_image "$T/img" 8M
	mkfs.ext4 -q -d "$T/src" "$T/img"
	ctr c 100000
	loopnsctl mount-image --target "$PID_c" --fd 3 "$T/m" 3<>"$T/img"
	[ "$(lns_disk_count)" -eq $((BASE + 1)) ]
	run mountpoint -q "$T/m"	# only in the container
	[ "$status" -ne 0 ]
	run in_ns "$PID_c" sh -c "cd $T/m && stat -c '%u:%g %n' a own/b &&
		echo new >new && stat -c '%u:%g %n' new &&
		find . -printf '%U:%G\n' | sort -u | paste -sd ' ';
		! mount -o remount,bind,dev $T/m 2>/dev/null || echo dev-unlocked"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "0:0 a" ]
	[ "${lines[1]}" = "1000:1000 own/b" ]
	[ "${lines[2]}" = "0:0 new" ]
	[ "${lines[3]}" = "0:0 1000:1000" ]
	[[ $output != *100000* ]]
	[[ $output != *dev-unlocked* ]]
	gone
	host_mount "$T/img" "$T/chk" --read-only
	run stat -c '%u:%g %s' "$T/chk/new"
	umount "$T/chk"
	[ "$output" = "0:0 4" ]
}

@test "mount-image: the image descriptor comes from the container over a unix socket" {
	skip_unless_cmd fdpass
	make_image "$T/img" 8M
	mkfs.ext4 -q -d "$T/src" "$T/img"
	chown 100000:100000 "$T/img"	# the container's file, opened by it
	ctr c 100000
	(umask 0 && exec fdpass recv "$T/sock" --fd 3 -- \
		loopnsctl mount-image --target "$PID_c" --fd 3 "$T/m") &
	local broker=$!
	in_ns "$PID_c" sh -c "exec 3<>$T/img && fdpass send $T/sock 3"
	wait "$broker"
	run in_ns "$PID_c" stat -c '%u:%g %s' "$T/m/own/b"
	[ "$output" = "1000:1000 2" ]
}

@test "mount-image --overlay: two id ranges share one read-only layer image, each sees its own writes only" {
	mkfs.ext4 -q -d "$T/src" "$T/layer" 8M
	sum=$(sha256sum <"$T/layer")
	local c b
	for c in 1 2; do
		b=$((c * 100000))
		mkdir -p "$T/c$c/upper" "$T/c$c/work" "$T/c$c/m"
		chown "$b:$b" "$T/c$c/upper" "$T/c$c/work"
		ctr "c$c" "$b"
		pid=PID_c$c
		loopnsctl mount-image --overlay --target "${!pid}" --fd 3 \
			--upper "$T/c$c/upper" --work "$T/c$c/work" "$T/c$c/m" 3<"$T/layer"
		run in_ns "${!pid}" sh -c "cd $T/c$c/m && stat -c '%u:%g %n' a own/b &&
			echo w$c >>a && echo $c >mine && cat a && ls"
		echo "$output"
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "0:0 a" ]
		[ "${lines[1]}" = "1000:1000 own/b" ]
		[ "${lines[2]}" = "a" ]
		[ "${lines[3]}" = "w$c" ]	# not the other container's write
		[ "$(echo "${lines[@]:4}")" = "a lost+found mine own" ]
		# the writes are in this container's upper, owned by its root
		[ "$(stat -c %u "$T/c$c/upper/mine")" = "$b" ]
	done
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
	gone
	[ "$(sha256sum <"$T/layer")" = "$sum" ]
}

@test "mount-image: xfs and btrfs images, where the kernel and the VM have them" {
	local fs n=0
	ctr c 100000
	# the same tree as $T/src, made without mounting
	printf '/dev/null\n0 0\nd--755 0 0\na ---644 0 0 %s\nown d--755 1000 1000\n$\n$\n' \
		"$T/src/a" >"$T/proto"
	for fs in xfs btrfs; do
		command -v "mkfs.$fs" >/dev/null && modprobe -q "$fs" 2>/dev/null || continue
		make_image "$T/$fs.img" 300M
		if [[ $fs == xfs ]]; then
			mkfs.xfs -q -K -p "$T/proto" "$T/$fs.img"
		else
			mkfs.btrfs -q -K --rootdir "$T/src" "$T/$fs.img" >/dev/null 2>&1
		fi
		mkdir -p "$T/$fs"
		loopnsctl mount-image --target "$PID_c" --fd 3 "$T/$fs" 3<>"$T/$fs.img"
		run in_ns "$PID_c" sh -c "cd $T/$fs && stat -c '%u:%g %n' a own &&
			echo new >own/new && stat -c '%u:%g' own/new"
		echo "$fs: $output"
		[ "$status" -eq 0 ]
		[ "$output" = "$(printf '0:0 a\n1000:1000 own\n0:0')" ]
		n=$((n + 1))
	done
	((n)) || skip "neither xfs nor btrfs here"
	gone
	for fs in xfs btrfs; do
		[ -e "$T/$fs.img" ] || continue
		host_mount "$T/$fs.img" "$T/chk" --read-only
		run stat -c '%u:%g' "$T/chk/own/new"
		umount "$T/chk"
		[ "$output" = "0:0" ]
	done
}

# refused MESSAGE-PART ARGS... (fd 3 set up by the caller): mount-image
# fails naming the cause, and leaves no device and no mount anywhere.
refused() {
	local want=$1
	shift
	run loopnsctl mount-image "$@" "$T/m"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"$want"* ]]
	# a device that a filesystem held goes at its release, just after
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
	[ "$(wc -l </proc/self/mountinfo)" -eq "$MNTS" ]
	! in_mnt "$PID_c" "$T/m"
}

@test "mount-image: bad input is refused with its cause, nothing left behind" {
	ctr c 100000
	ctr o 200000
	mkfs.ext4 -q -O ^metadata_csum -d "$T/src" "$T/img" 8M
	cp "$T/img" "$T/bad"
	# s_log_block_size = 255: ext4's magic, an impossible geometry
	printf '\377' | dd of="$T/bad" bs=1 seek=$((1024 + 24)) conv=notrunc status=none
	refused "fd 3 (ext4): mount failed" --target "$PID_c" --fd 3 3<>"$T/bad"
	: >"$T/empty"
	refused "empty file" --target "$PID_c" --fd 3 3<>"$T/empty"
	refused "write-only" --target "$PID_c" --fd 3 3>>"$T/img"
	refused "read-only" --target "$PID_c" --fd 3 3<"$T/img"
	mkfs.ext2 -q "$T/ext2" 4M
	refused "ext2 cannot be idmapped" --target "$PID_c" --fd 3 3<>"$T/ext2"
	refused "initial user namespace" --target $$ --fd 3 3<>"$T/img"
	sleep 0 &
	local dead=$!
	wait "$dead"
	refused "no such process" --target "$dead" --fd 3 3<>"$T/img"
	mkdir "$T/hostdir"	# host root's, not the container's
	refused "not by the container" --target "$PID_c" --overlay --fd 3 \
		--upper "$T/hostdir" --work "$T/hostdir" 3<"$T/img"
	# a device of another container's instance
	mkdir "$T/inst"
	in_ns "$PID_o" sh -c "mount -t loopns loopns $T/inst &&
		loopioctl $T/inst/loop-control ctl-add 0 >/dev/null &&
		loopioctl $T/inst/loop0 set-fd $T/img >/dev/null"
	BASE=$((BASE + 1))
	refused "block device" --target "$PID_c" --fd 3 3<>"/proc/$PID_o/root$T/inst/loop0"
}
