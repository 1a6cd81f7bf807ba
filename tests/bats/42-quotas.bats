#!/usr/bin/env bats
# Device quotas: per-instance max=, the global max_devices and the per-host-
# user max_devices_per_user (counted across all instances and nested user
# namespaces of one host user), as seen by unprivileged users in user
# namespaces. Exceeding a limit is ENOSPC and frees nothing already held;
# counts come back when devices go away. Device memory is charged to the
# creator's memory cgroup.

load helpers
load userns

PARAMS=/sys/module/loopns/parameters

setup() {
	skip_unless_root
	skip_unless_cmd setpriv unshare nsenter lnssec
	load_loopns
	T=$(mktemp -d /tmp/lns42.XXXXXX)
	chmod 1777 "$T"
	H=$T/u1000 G=$T/u1001
	mkdir -p "$H/d1" "$H/d2" "$H/n1" "$H/n2" "$G/d" "$T/r"
	truncate -s 4M "$H/img" "$H/img2" "$G/img" "$T/img"
	chown -R 1000:1000 "$H"
	chown -R 1001:1001 "$G"
	OLD_MAX=$(cat "$PARAMS/max_devices")
	OLD_PER_USER=$(cat "$PARAMS/max_devices_per_user")
	BASE=$(lns_disk_count)
	PIDS=()
	CG=
}

teardown() {
	kill_pids
	umount_under "$T"
	echo "$OLD_MAX" >"$PARAMS/max_devices"
	echo "$OLD_PER_USER" >"$PARAMS/max_devices_per_user"
	[[ -n $CG ]] && rmdir "$CG" 2>/dev/null
	wait_for 10 test "$(lns_disk_count)" -le "$BASE" || true
	rm -rf "$T"
}

@test "max= bounds an unprivileged user's instance: ENOSPC for ADD, ADD(-1), GET_FREE and ATTACH; nothing is freed" {
	run userns 1000 bash -c "
		mount -t loopns -o max=2 loopns $H/d1
		c=$H/d1/loop-control
		loopioctl \$c ctl-add 0
		loopioctl $H/d1/loop0 set-fd $H/img
		loopioctl \$c ctl-get-free
		loopioctl $H/d1/loop1 set-fd $H/img2
		loopioctl \$c ctl-add 5
		loopioctl \$c ctl-add -1
		loopioctl \$c ctl-get-free
		loopns-attach \$c $H/img2
		ls $H/d1 | tr '\n' ' '; echo
		loopioctl $H/d1/loop0 get-status64 | cut -d' ' -f1
		loopioctl $H/d1/loop1 get-status64 | cut -d' ' -f1"
	echo "$output"
	[ "${lines[0]}" = 0 ]
	[ "${lines[1]}" = 0 ]
	[ "${lines[2]}" = 1 ]
	[ "${lines[3]}" = 0 ]
	[ "${lines[4]}" = ENOSPC ]
	[ "${lines[5]}" = ENOSPC ]
	[ "${lines[6]}" = ENOSPC ]
	[ "${lines[7]}" = ENOSPC ]
	[ "${lines[8]}" = "loop-control loop0 loop1 " ]
	[ "${lines[9]}" = number=0 ]
	[ "${lines[10]}" = number=1 ]
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
}

@test "max_devices: the global limit gives ENOSPC in every user namespace; raising it takes effect at once" {
	echo $((BASE + 2)) >"$PARAMS/max_devices"
	hold a 1000 "mount -t loopns loopns $H/d1
loopioctl $H/d1/loop-control ctl-add 0 >/dev/null
loopioctl $H/d1/loop0 set-fd $H/img >/dev/null
loopioctl $H/d1/loop-control ctl-add 1 >/dev/null"
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop-control" ctl-add 2)" = ENOSPC ]
	[ "$(in_ns "$PID_a" loopns-attach "$H/d1/loop-control" "$H/img2")" = ENOSPC ]
	# Another user, and host root, are out of room too.
	run userns 1001 bash -c "mount -t loopns loopns $G/d && loopioctl $G/d/loop-control ctl-get-free"
	[ "$output" = ENOSPC ]
	mount -t loopns loopns "$T/r"
	[ "$(loopioctl "$T/r/loop-control" ctl-add 0)" = ENOSPC ]
	# Nothing held was given up.
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop0" get-status64 | cut -d' ' -f1)" = number=0 ]
	[ "$(lns_disk_count)" -eq $((BASE + 2)) ]
	echo $((BASE + 3)) >"$PARAMS/max_devices"
	[ "$(loopioctl "$T/r/loop-control" ctl-add 0)" = 0 ]
	[ "$(loopioctl "$T/r/loop-control" ctl-add 1)" = ENOSPC ]
	# A device going away makes room for anyone.
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop-control" ctl-remove 1)" = 0 ]
	[ "$(loopioctl "$T/r/loop-control" ctl-add 1)" = 1 ]
	umount "$T/r"
	drop a
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
}

@test "max_devices_per_user counts one host user across instances and nested namespaces; other users are not affected" {
	echo 4 >"$PARAMS/max_devices_per_user"
	# uid 1000: two containers (2 + 1 devices) ...
	hold a1 1000 "mount -t loopns loopns $H/d1
loopioctl $H/d1/loop-control ctl-add 0 >/dev/null
loopioctl $H/d1/loop0 set-fd $H/img >/dev/null
loopioctl $H/d1/loop-control ctl-add 1 >/dev/null"
	hold a2 1000 "mount -t loopns loopns $H/d2
loopioctl $H/d2/loop-control ctl-add 0 >/dev/null"
	# ... and an instance two namespaces deeper inside the first: the 4th.
	(exec nsenter -t "$PID_a1" -U -m -- unshare -Urm unshare -Urm bash -ec "
		mount -t loopns loopns $H/n1
		test \"\$(loopioctl $H/n1/loop-control ctl-add 0)\" = 0
		touch $T/nested.ready
		exec sleep 3600") >"$T/nested.log" 2>&1 3>&- &
	PIDS+=($!)
	local nested=$!
	wait_for 30 test -e "$T/nested.ready" || { cat "$T/nested.log"; false; }
	# uid 1000 is at its limit everywhere, however deep.
	[ "$(in_ns "$PID_a1" loopioctl "$H/d1/loop-control" ctl-add 2)" = ENOSPC ]
	[ "$(in_ns "$PID_a2" loopioctl "$H/d2/loop-control" ctl-add -1)" = ENOSPC ]
	[ "$(in_ns "$PID_a2" loopns-attach "$H/d2/loop-control" "$H/img2")" = ENOSPC ]
	[ "$(in_ns "$nested" loopioctl "$H/n1/loop-control" ctl-add 1)" = ENOSPC ]
	run in_ns "$PID_a1" unshare -Urm bash -c "mount -t loopns loopns $H/n2 && loopioctl $H/n2/loop-control ctl-get-free"
	[ "$output" = ENOSPC ]
	# GET_FREE hands out an existing unbound device without charging.
	[ "$(in_ns "$PID_a2" loopioctl "$H/d2/loop-control" ctl-get-free)" = 0 ]
	# Nothing held was freed.
	[ "$(in_ns "$PID_a1" loopioctl "$H/d1/loop0" get-status64 | cut -d' ' -f1)" = number=0 ]
	[ "$(lns_disk_count)" -eq $((BASE + 4)) ]
	# uid 1001 has a budget of its own; so has host root.
	run userns 1001 bash -c "mount -t loopns loopns $G/d; for i in 0 1 2 3 4; do loopioctl $G/d/loop-control ctl-add \$i; done"
	echo "$output"
	[ "$(echo $output)" = "0 1 2 3 ENOSPC" ]
	mount -t loopns loopns "$T/r"
	[ "$(loopioctl "$T/r/loop-control" ctl-add 0)" = 0 ]
	umount "$T/r"
	# The nested namespace ends: uid 1000 gets one device back.
	kill -9 "$nested"
	wait "$nested" 2>/dev/null || true
	wait_for 10 test "$(lns_disk_count)" -eq $((BASE + 3))
	[ "$(in_ns "$PID_a2" loopioctl "$H/d2/loop-control" ctl-add 1)" = 1 ]
	[ "$(in_ns "$PID_a1" loopioctl "$H/d1/loop-control" ctl-add 2)" = ENOSPC ]
	# Both containers end: the full budget is back.
	drop a1
	drop a2
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
	run userns 1000 bash -c "mount -t loopns loopns $H/d1; for i in 0 1 2 3 4; do loopioctl $H/d1/loop-control ctl-add \$i; done"
	[ "$(echo $output)" = "0 1 2 3 ENOSPC" ]
}

@test "a user namespace created by host root is charged to host root (rootful runtimes share one budget)" {
	echo 2 >"$PARAMS/max_devices_per_user"
	mount -t loopns loopns "$T/r"
	[ "$(loopioctl "$T/r/loop-control" ctl-add 0)" = 0 ]
	mkdir -p "$T/w"
	run lnssec userns 0:100000:65536 0:100000:65536 bash -c "
		mount -t loopns loopns $T/w
		loopioctl $T/w/loop-control ctl-add 0
		loopioctl $T/w/loop-control ctl-add 1"
	echo "$output"
	[ "$(echo $output)" = "0 ENOSPC" ]
	# uid 1000's budget is untouched.
	run userns 1000 bash -c "mount -t loopns loopns $H/d1; loopioctl $H/d1/loop-control ctl-add 0; loopioctl $H/d1/loop-control ctl-add 1"
	[ "$(echo $output)" = "0 1" ]
}

@test "limits lowered below use keep existing devices; max_devices_per_user=0 refuses every new device" {
	hold a 1000 "mount -t loopns loopns $H/d1
loopioctl $H/d1/loop-control ctl-add 0 >/dev/null
loopioctl $H/d1/loop0 set-fd $H/img >/dev/null
loopioctl $H/d1/loop-control ctl-add 1 >/dev/null
loopioctl $H/d1/loop-control ctl-add 2 >/dev/null"
	echo 1 >"$PARAMS/max_devices_per_user"
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop-control" ctl-add 3)" = ENOSPC ]
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop0" get-status64 | cut -d' ' -f1)" = number=0 ]
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop1" set-fd "$H/img2")" = 0 ]
	# Back under the limit only once enough devices are gone.
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop-control" ctl-remove 2)" = 0 ]
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop-control" ctl-add 2)" = ENOSPC ]
	echo 0 >"$PARAMS/max_devices_per_user"
	mount -t loopns loopns "$T/r"
	[ "$(loopioctl "$T/r/loop-control" ctl-add 0)" = ENOSPC ]
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop-control" ctl-add 2)" = ENOSPC ]
	[ "$(in_ns "$PID_a" loopioctl "$H/d1/loop1" get-status64 | cut -d' ' -f1)" = number=1 ]
}

@test "failed creations leak no charge: ENOSPC from max=, failed LOOPNS_CTL_ATTACH" {
	echo 8 >"$PARAMS/max_devices_per_user"
	mkfifo "$H/fifo"
	chown 1000:1000 "$H/fifo"
	run userns 1000 bash -c "
		mount -t loopns -o max=1 loopns $H/d1
		mount -t loopns loopns $H/d2
		c=$H/d1/loop-control
		loopioctl \$c ctl-add 0
		for i in \$(seq 20); do loopioctl \$c ctl-add 0; loopioctl \$c ctl-add 1; done | sort | uniq -c | awk '{ print \$2 \":\" \$1 }' | tr '\n' ' '; echo
		# A bad fd, bad flags, a fifo: the first and the last make a device
		# that is deleted again after its last close, from a worker.
		for i in \$(seq 20); do loopns-attach $H/d2/loop-control -; loopns-attach $H/d2/loop-control $H/img --raw-flags 2; loopns-attach $H/d2/loop-control $H/fifo; done | sort | uniq -c | awk '{ print \$2 \":\" \$1 }' | tr '\n' ' '; echo
		add() { for t in \$(seq 30); do r=\$(loopioctl $H/d2/loop-control ctl-add \$1); [ \"\$r\" != ENOSPC ] && break; sleep 0.1; done; echo \$r; }
		for i in 0 1 2 3 4 5 6 7; do add \$i; done | tr '\n' ' '"
	echo "$output"
	[ "${lines[0]}" = 0 ]
	# max= is checked first: ENOSPC even for the taken index.
	[ "${lines[1]%% }" = "ENOSPC:40" ]
	[ "${lines[2]%% }" = "EBADF:20 EINVAL:40" ]
	# uid 1000 holds loop0 of d1: exactly 7 more fit.
	[ "${lines[3]%% }" = "0 1 2 3 4 5 6 ENOSPC" ]
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
}

@test "device memory is charged to the creator's memory cgroup" {
	grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null || skip "needs the cgroup v2 memory controller"
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control
	CG=/sys/fs/cgroup/lns42.$$
	mkdir "$CG"
	local n=64 delta
	# An unprivileged user's container, running in the cgroup.
	run bash -c "echo \$\$ >$CG/cgroup.procs
		exec setpriv --reuid=1000 --regid=1000 --clear-groups unshare -Urm bash -c '
			mount -t loopns loopns $H/d1
			c0=\$(cat $CG/memory.current)
			for i in \$(seq 0 $((n - 1))); do loopioctl $H/d1/loop-control ctl-add \$i >/dev/null; done
			c1=\$(cat $CG/memory.current)
			echo \$((c1 - c0))'"
	echo "$output"
	[ "$status" -eq 0 ]
	delta=${lines[-1]}
	echo "charged $((delta / n)) bytes per device"
	# The devices' slab objects (instance, device, kernfs, inodes) are
	# charged: at least 8 KiB per device.
	((delta >= n * 8192))
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
}
