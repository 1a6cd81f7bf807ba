#!/usr/bin/env bats
# loopns in user namespaces: an ordinary host user (uid 1000, no
# capabilities on the host) creates a user + mount namespace with
# `unshare -Urm`, mounts a private instance there and uses its devices end
# to end; node ownership and the uid=/gid=/mode= options follow the
# mounter's namespace; the privileged loop ioctls on a read-only descriptor
# are allowed exactly to those with CAP_SYS_ADMIN over the instance's
# owning user namespace.

load helpers
load userns

setup() {
	skip_unless_root
	skip_unless_cmd setpriv unshare nsenter lnssec
	load_loopns
	T=$(mktemp -d /tmp/lns40.XXXXXX)
	chmod 1777 "$T"
	# The unprivileged user's own directory.
	H=$T/u1000
	mkdir -p "$H/d" "$H/m"
	chown -R 1000:1000 "$H"
	BASE=$(lns_disk_count)
	PIDS=()
}

teardown() {
	kill_pids
	umount_under "$T"
	wait_for 10 test "$(lns_disk_count)" -le "$BASE" || true
	rm -rf "$T"
}

# bound_holder: holder "a" (uid 1000) with an instance at $H/d whose loop0
# is bound to $H/img.
bound_holder() {
	as_user 1000 truncate -s 8M "$H/img"
	hold a 1000 "mount -t loopns loopns $H/d
loopioctl $H/d/loop-control ctl-add 0 >/dev/null
loopioctl $H/d/loop0 set-fd $H/img >/dev/null"
}

# PRIV_OPS: the loop ioctls that need a writable descriptor or
# CAP_SYS_ADMIN over the instance (argument values that change nothing).
PRIV_OPS=("set-capacity" "set-dio 0" "set-block-size 512" "set-status64 0" "set-status 0")

# priv_ro_script NODE: shell code running PRIV_OPS on a read-only
# descriptor of NODE, then the same on a read-write one, then
# GET_STATUS64 read-only; one result per line.
priv_script() {
	local node=$1 op s=''
	for op in "${PRIV_OPS[@]}"; do
		s+="LOOPIOCTL_RDONLY=1 loopioctl $node $op; "
	done
	for op in "${PRIV_OPS[@]}"; do
		s+="loopioctl $node $op; "
	done
	s+="LOOPIOCTL_RDONLY=1 loopioctl $node get-status64 | cut -d' ' -f1"
	echo "$s"
}

# expect_priv RO-RESULT: $output (from priv_script) shows RO-RESULT for
# every read-only call, 0 for every read-write call and a working
# GET_STATUS64.
expect_priv() {
	local i n=${#PRIV_OPS[@]}
	echo "$output"
	((${#lines[@]} == 2 * n + 1)) || return 1
	for ((i = 0; i < n; i++)); do
		[[ ${lines[i]} == "$1" ]] || { echo "read-only ${PRIV_OPS[i]}: ${lines[i]}, expected $1"; return 1; }
		[[ ${lines[n + i]} == 0 ]] || { echo "read-write ${PRIV_OPS[i]}: ${lines[n + i]}"; return 1; }
	done
	[[ ${lines[2 * n]} == number=0 ]]
}

@test "an unprivileged user formats an image through its own instance and fuse2fs; the host sees a clean filesystem" {
	skip_unless_cmd fuse2fs mkfs.ext4 e2fsck debugfs
	[[ -c /dev/fuse ]] || skip "needs /dev/fuse"
	local d=$H/d m=$H/m img=$H/img
	as_user 1000 truncate -s 64M "$img"
	run userns 1000 bash -ec "
		mount -t loopns loopns $d
		test \"\$(stat -c '%u %a' $d/loop-control)\" = '0 600'
		n=\$(loopioctl $d/loop-control ctl-get-free)
		loopioctl $d/loop\$n set-fd $img >/dev/null
		mkfs.ext4 -q -F -O ^has_journal -L fromuserns $d/loop\$n
		fuse2fs -f -o fakeroot $d/loop\$n $m 3>&- & f=\$!
		for i in \$(seq 150); do grep -q ' $m ' /proc/self/mounts && break; sleep 0.1; done
		echo 'written inside the user namespace' >$m/hello
		mkdir $m/dir
		head -c 1M /dev/urandom >$m/dir/blob
		sha256sum <$m/dir/blob | cut -d' ' -f1 >$H/blob.sum
		umount $m
		wait \$f
		loopioctl $d/loop\$n clr >/dev/null
		umount $d
		echo done"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = done ]
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
	# The host sees a clean ext4 holding the files.
	run e2fsck -fn "$img"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(debugfs -R 'cat /hello' "$img" 2>/dev/null)" = 'written inside the user namespace' ]
	debugfs -R "dump /dir/blob $T/blob" "$img"
	[ "$(sha256sum <"$T/blob" | cut -d' ' -f1)" = "$(cat "$H/blob.sum")" ]
	[ "$(debugfs -R 'stats' "$img" 2>/dev/null | awk -F': *' '/^Filesystem volume name/ { print $2 }')" = fromuserns ]
}

@test "nodes of a user namespace's instance belong to its root (host uid 1000); the mount stays private" {
	hold a 1000 "mount -t loopns loopns $H/d
loopioctl $H/d/loop-control ctl-add 0 >/dev/null
loopioctl $H/d/loop-control ctl-add 3 >/dev/null"
	local r=/proc/$PID_a/root$H/d disk
	[ "$(stat -c '%u %g %a' "$r")" = "1000 1000 755" ]
	[ "$(stat -c '%u %g %a %F' "$r/loop-control")" = "1000 1000 600 character special file" ]
	[ "$(stat -c '%u %g %a %F' "$r/loop0")" = "1000 1000 600 block special file" ]
	[ "$(stat -c '%u %g %a %F' "$r/loop3")" = "1000 1000 600 block special file" ]
	# Inside, the same nodes belong to root.
	[ "$(in_ns "$PID_a" stat -c '%u %g' "$H/d/loop-control" "$H/d/loop3" | sort -u)" = "0 0" ]
	# Only the namespace's mount table has the instance; its options name
	# no uid=/gid= (the defaults are the namespace's root).
	run grep -q " $H/d " /proc/self/mounts
	[ "$status" -ne 0 ]
	run awk -v d="$H/d" '$2 == d { print $1, $3, $4 }' "/proc/$PID_a/mounts"
	echo "$output"
	[[ $output == "loopns loopns "* ]]
	[[ ,${output##* }, == *,max=1024,* ]]
	[[ ,${output##* }, != *,uid=* && ,${output##* }, != *,gid=* ]]
	# The gendisk is global; its devtmpfs node stays root's alone.
	disk=$(lns_disk "$r/loop3")
	[ -d "/sys/block/$disk" ]
	[ "$(stat -c '%u %g %a' "/dev/$disk")" = "0 0 600" ]
	# The namespace going away tears the instance down.
	kill -9 "$PID_a"
	wait "$PID_a" || true
	wait_for 10 test ! -e "/sys/block/$disk"
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

@test "uid=, gid=, mode= are read in the mounter's user namespace; unmapped ids and bad modes are EINVAL" {
	# unshare -Urm maps only 0 -> 1000.
	run userns 1000 bash -c "
		lnssec mount loopns $H/d loopns uid=1
		lnssec mount loopns $H/d loopns gid=1000
		lnssec mount loopns $H/d loopns uid=65534
		lnssec mount loopns $H/d loopns mode=0777
		lnssec mount loopns $H/d loopns mode=01600
		lnssec mount loopns $H/d loopns uid=0,gid=0,mode=0604
		stat -c '%u %g %a' $H/d/loop-control"
	echo "$output"
	[ "${lines[0]}" = EINVAL ]
	[ "${lines[1]}" = EINVAL ]
	[ "${lines[2]}" = EINVAL ]
	[ "${lines[3]}" = EINVAL ]
	[ "${lines[4]}" = EINVAL ]
	[ "${lines[5]}" = 0 ]
	[ "${lines[6]}" = "0 0 604" ]

	# A namespace made by host root with a wide map: inner 0..65535 is
	# host uid 100000.. and gid 200000..
	mkdir -p "$T/w"
	lnssec userns 0:100000:65536 0:200000:65536 bash -ec "
		test \"\$(lnssec mount loopns $T/w loopns uid=65536)\" = EINVAL
		test \"\$(lnssec mount loopns $T/w loopns gid=70000)\" = EINVAL
		lnssec mount loopns $T/w loopns uid=5,gid=7,mode=0640 >/dev/null
		loopioctl $T/w/loop-control ctl-add 0 >/dev/null
		test \"\$(stat -c '%u %g %a' $T/w/loop-control $T/w/loop0 | sort -u)\" = '5 7 640'
		test \"\$(stat -c '%u %g' $T/w)\" = '0 0'
		touch $T/wide.ready
		exec sleep 3600" >"$T/wide.log" 2>&1 3>&- &
	PIDS+=($!)
	wait_for 30 test -e "$T/wide.ready" || { cat "$T/wide.log"; false; }
	# lnssec userns forks: the namespace is its child's.
	local inner
	inner=$(pgrep -P "${PIDS[-1]}")
	PIDS+=("$inner")
	local r=/proc/$inner/root$T/w
	[ "$(stat -c '%u %g %a' "$r/loop-control")" = "100005 200007 640" ]
	[ "$(stat -c '%u %g %a' "$r/loop0")" = "100005 200007 640" ]
	[ "$(stat -c '%u %g' "$r")" = "100000 200000" ]
	# /proc/mounts shows the options as host ids.
	run awk -v d="$T/w" '$2 == d { print $4 }' "/proc/$inner/mounts"
	echo "$output"
	[[ ,$output, == *,uid=100005,* && ,$output, == *,gid=200007,* && ,$output, == *,mode=640,* ]]
}

@test "read-only descriptor: root of the owning namespace may use the privileged loop ioctls" {
	bound_holder
	local node=$H/d/loop0 disk
	disk=$(lns_disk "/proc/$PID_a/root$node")
	run in_ns "$PID_a" bash -c "$(priv_script "$node")"
	expect_priv 0
	# ... and they take effect: block size through a read-only descriptor.
	run in_ns "$PID_a" env LOOPIOCTL_RDONLY=1 loopioctl "$node" set-block-size 4096
	[ "$output" = 0 ]
	[ "$(cat "/sys/block/$disk/queue/logical_block_size")" = 4096 ]
	run in_ns "$PID_a" env LOOPIOCTL_RDONLY=1 loopioctl "$node" set-status64 8
	[ "$output" = 0 ]
	[ "$(cat "/sys/block/$disk/loop/partscan")" = 1 ]
}

@test "read-only descriptor: namespace root without capabilities gets EPERM" {
	bound_holder
	local node=$H/d/loop0
	# uid 0 in the namespace, owner of the node, but an empty bounding
	# set: exec leaves no capability at all.
	run in_ns "$PID_a" setpriv --bounding-set=-all --inh-caps=-all bash -c \
		"grep -q '^CapEff:.*0000000000000000' /proc/self/status && $(priv_script "$node")"
	expect_priv EPERM
}

@test "read-only descriptor: root of a nested user namespace gets EPERM" {
	bound_holder
	local node=$H/d/loop0
	# Root of a child namespace: CAP_SYS_ADMIN there, none over the
	# instance's namespace; the node's owner maps to it, so it can open it.
	run in_ns "$PID_a" unshare -Ur bash -c \
		"test \"\$(stat -c %u $node)\" = 0 && $(priv_script "$node")"
	expect_priv EPERM
}

@test "read-only descriptor: host root and the namespace's owner (host uid 1000) may" {
	bound_holder
	local node=/proc/$PID_a/root$H/d/loop0
	run bash -c "$(priv_script "$node")"
	expect_priv 0
	# The creator of a user namespace holds every capability in it.
	run as_user 1000 bash -c "$(priv_script "$node")"
	expect_priv 0
	# Another host user cannot even reach the node.
	run as_user 1001 lnssec try-open "$node" r
	[ "$output" = EACCES ]
}

@test "a read-only descriptor passed to another host user gives no privileged ioctl; a writable one does" {
	bound_holder
	local node=$H/d/loop0 how op s
	for how in r rw; do
		rm -f "$T/sock"
		in_ns "$PID_a" lnssec open "$node" "$how" 5 lnssec send-fd "$T/sock" 5 3>&- &
		s=''
		for op in "${PRIV_OPS[@]}"; do
			s+="lnssec ioctl 5 $op; "
		done
		s+="lnssec ioctl 5 get-status64 | cut -d' ' -f1"
		run as_user 1001 lnssec recv-fd "$T/sock" 5 bash -c "$s"
		wait $!
		echo "$how: $output"
		if [[ $how == r ]]; then
			[ "$(printf '%s\n' "${lines[@]:0:5}" | sort -u)" = EPERM ]
		else
			[ "$(printf '%s\n' "${lines[@]:0:5}" | sort -u)" = 0 ]
		fi
		[ "${lines[5]}" = flags=0 ]
	done
}

# The kernel's workers serve a device's requests; a FUSE server mounted in
# a user namespace answers only requests from ids mapped there. loopns
# serves the backing file as whoever opened it (before, its reads and
# writes failed with EOVERFLOW).
@test "a device backed by a file on a FUSE filesystem mounted in the user namespace reads and writes it" {
	skip_unless_cmd fuse2fs mkfs.ext4 debugfs
	[[ -c /dev/fuse ]] || skip "needs /dev/fuse"
	local d=$H/d m=$H/m img=$H/img
	as_user 1000 truncate -s 16M "$img"
	as_user 1000 sh -c "head -c 1M /dev/urandom >$H/data; head -c 64k /dev/urandom >$H/new"
	# The backing file is in the image before the server starts: no page
	# of it is cached, every read through the device asks the server.
	mkfs.ext4 -q -F -O ^has_journal "$img"
	debugfs -w -R "write $H/data inner" "$img" >/dev/null 2>&1
	# On failure the trap stops the server, which would hold bats' pipe.
	run userns 1000 bash -ec "
		fuse2fs -f -o fakeroot $img $m >/dev/null 2>&1 3>&- & f=\$!
		trap 'kill \$f 2>/dev/null || :' EXIT
		for i in \$(seq 150); do grep -q ' $m ' /proc/self/mounts && break; sleep 0.1; done
		mount -t loopns loopns $d
		n=\$(loopioctl $d/loop-control ctl-get-free)
		loopioctl $d/loop\$n set-fd $m/inner
		cmp $H/data $d/loop\$n
		dd if=$H/new of=$d/loop\$n bs=64k oflag=direct conv=notrunc status=none
		loopioctl $d/loop\$n clr >/dev/null
		cmp -n 65536 $H/new $m/inner
		umount $d
		umount $m
		wait \$f
		echo done"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = done ]
}
