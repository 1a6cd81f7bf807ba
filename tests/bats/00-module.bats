#!/usr/bin/env bats
# Module lifecycle: load, registration, metadata, unload, reload.

load helpers

setup_file() {
	# Start from an unloaded module so that every test sees a fresh load.
	grep -q '^loopns ' /proc/modules && rmmod loopns || true
}

teardown_file() {
	modprobe loopns || true
}

@test "modprobe loopns loads the module" {
	run modprobe loopns
	[ "$status" -eq 0 ]
	grep -q '^loopns ' /proc/modules
	[ -d /sys/module/loopns ]
}

@test "the module is found under updates/ by modinfo" {
	run modinfo -F filename loopns
	[ "$status" -eq 0 ]
	[[ $output == */updates/loopns.ko* ]]
}

@test "/proc/filesystems lists loopns" {
	load_loopns
	grep -qE '^nodev[[:space:]]+loopns$' /proc/filesystems
}

@test "/proc/devices lists a block major named loopns" {
	load_loopns
	sed -n '/^Block devices:/,$p' /proc/devices | grep -qE '^ *[0-9]+ loopns$'
}

@test "modinfo shows license GPL, version, description and parameters" {
	run modinfo loopns
	[ "$status" -eq 0 ]
	echo "$output"
	[[ $output =~ (^|$'\n')license:\ +GPL($'\n'|$) ]]
	[[ $output =~ (^|$'\n')version:\ +[^[:space:]]+ ]]
	[[ $output =~ (^|$'\n')description:\ +[^[:space:]]+ ]]
	[[ $output =~ (^|$'\n')parm:\ +max_devices: ]]
}

@test "module parameters are visible in sysfs" {
	load_loopns
	[ -r /sys/module/loopns/parameters/max_devices ]
	[[ $(cat /sys/module/loopns/parameters/max_devices) =~ ^[0-9]+$ ]]
}

@test "rmmod loopns unregisters the filesystem and the major" {
	load_loopns
	run rmmod loopns
	[ "$status" -eq 0 ]
	! grep -q '^loopns ' /proc/modules
	! grep -qE '[[:space:]]loopns$' /proc/filesystems
	! grep -qE '^ *[0-9]+ loopns$' /proc/devices
}

@test "modprobe works again after rmmod" {
	unload_loopns
	run modprobe loopns
	[ "$status" -eq 0 ]
	grep -qE '[[:space:]]loopns$' /proc/filesystems
	grep -qE '^ *[0-9]+ loopns$' /proc/devices
	run rmmod loopns
	[ "$status" -eq 0 ]
	run modprobe loopns
	[ "$status" -eq 0 ]
}

@test "max_devices can be set at load time" {
	unload_loopns
	run modprobe loopns max_devices=7
	[ "$status" -eq 0 ]
	[ "$(cat /sys/module/loopns/parameters/max_devices)" = 7 ]
	rmmod loopns
	modprobe loopns
}

# The default depth fills blk-mq's 32 KiB request pool: 85 requests of 384
# bytes on 6.1, 102 of 320 on 6.12 and 7.2 (struct request and loopns's 64
# bytes, to a 64-byte cache line); loop's 128 take a 64 KiB one.
@test "queue_depth: by default what fits 32 KiB of requests, set at load, too deep refused" {
	local d dir
	unload_loopns
	run modprobe loopns queue_depth=20000
	[ "$status" -ne 0 ]
	run grep -q '^loopns ' /proc/modules
	[ "$status" -ne 0 ]
	for d in 0 256; do
		modprobe loopns queue_depth=$d
		if ((d == 0)); then
			d=$(cat /sys/module/loopns/parameters/queue_depth)
			echo "default queue_depth: $d"
			((d == 85 || d == 102))
		fi
		dir=$(mktemp -d "$LOOPNS_TMP/lns00.XXXXXX")
		lns_mount "$dir"
		loopioctl "$dir/loop-control" ctl-add 0
		[ "$(cat "/sys/block/$(lns_disk "$dir/loop0")/queue/nr_requests")" = "$d" ]
		lns_cleanup
		rmdir "$dir"
		wait_for 10 rmmod loopns
	done
	modprobe loopns
}
