#!/usr/bin/env bats
# Runs inside the test VM booted by tests/packaging/run.sh: the initramfs
# holds the loopns module exactly as DKMS built and installed it on the host
# (under /lib/modules/<kver>/updates/dkms/, possibly xz-compressed) and the
# udev rules 60-block, 60-persistent-storage and our 60-loopns.
# LOOPNS_EXPECT_VERSION: the VERSION file of the source tree.

setup() {
	T=$(mktemp -d /tmp/pkg.XXXXXX)
}

teardown() {
	local m
	for m in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	losetup -D 2>/dev/null
	rm -rf "$T"
}

# disk_of NODE: the global gendisk name (loopnsM) behind an instance node.
disk_of() {
	local mm
	mm=$(stat -c '%t:%T' "$1") || return
	basename "$(readlink "/sys/dev/block/$((16#${mm%:*})):$((16#${mm#*:}))")"
}

# bound_disk: mount an instance at $T/i, bind an ext4 image to its loop0,
# print the gendisk name.
bound_disk() {
	modprobe loopns
	mkdir -p "$T/i"
	mount -t loopns loopns "$T/i"
	loopioctl "$T/i/loop-control" ctl-add 0 >/dev/null
	truncate -s 8M "$T/img"
	mkfs.ext4 -q -F -L lnspkgtest "$T/img"
	loopioctl "$T/i/loop0" set-fd "$T/img" >/dev/null
	disk_of "$T/i/loop0"
}

@test "modprobe loopns loads the DKMS-built module" {
	run modprobe loopns
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^loopns ' /proc/modules
}

@test "the module is the DKMS one (updates/dkms) with the source tree's version" {
	run modinfo -F filename loopns
	echo "filename: $output"
	[[ $output == */updates/dkms/loopns.ko* ]]
	run modinfo -F version loopns
	echo "version: $output, expected ${LOOPNS_EXPECT_VERSION:-?}"
	[ "$output" = "$LOOPNS_EXPECT_VERSION" ]
	[ "$(cat /sys/module/loopns/version)" = "$LOOPNS_EXPECT_VERSION" ]
}

@test "mount -t loopns loads the module on demand (fs-loopns alias)" {
	grep -q '^loopns ' /proc/modules && rmmod loopns
	mkdir -p "$T/m"
	mount -t loopns loopns "$T/m"
	grep -q '^loopns ' /proc/modules
	[ -c "$T/m/loop-control" ]
}

@test "udev rule: a bound loopns disk is hidden from udisks and not probed" {
	disk=$(bound_disk)
	[[ $disk == loopns* ]]
	run udevadm test --action=add "/sys/block/$disk"
	echo "$output" | grep -E '^[A-Z_]+=|rules' | head -n 60
	[[ $output == *$'\nUDISKS_IGNORE=1'* ]]
	[[ $output == *$'\nUDISKS_AUTO=0'* ]]
	[[ $output == *$'\nUDEV_DISABLE_PERSISTENT_STORAGE_RULES_FLAG=1'* ]]
	[[ $output != *ID_FS_TYPE=* ]]
	[[ $output != *by-label/lnspkgtest* ]]
}

@test "udev rule: ENV{LOOPNS_PROBE}=\"1\" in an earlier rule opts in to blkid" {
	disk=$(bound_disk)
	mkdir -p /run/udev/rules.d
	echo 'SUBSYSTEM=="block", KERNEL=="loopns[0-9]*", ENV{LOOPNS_PROBE}="1"' \
		>/run/udev/rules.d/59-loopns-probe.rules
	run udevadm test --action=add "/sys/block/$disk"
	rm -f /run/udev/rules.d/59-loopns-probe.rules
	echo "$output" | grep -E '^[A-Z_]+=' | head -n 60
	[[ $output == *$'\nUDISKS_IGNORE=1'* ]]
	[[ $output == *$'\nID_FS_TYPE=ext4'* ]]
	[[ $output != *UDEV_DISABLE_PERSISTENT_STORAGE_RULES_FLAG* ]]
}

@test "udev rule: the kernel's own loop devices are left alone" {
	modprobe loop 2>/dev/null || true
	[ -e /sys/block/loop0 ] || skip "no loop0 on this kernel"
	run udevadm test --action=add /sys/block/loop0
	[[ $output != *UDISKS_IGNORE=1* ]]
	[[ $output != *UDEV_DISABLE_PERSISTENT_STORAGE_RULES_FLAG=1* ]]
}

@test "rmmod loopns unloads cleanly" {
	modprobe loopns
	run rmmod loopns
	[ "$status" -eq 0 ]
	! grep -q '^loopns ' /proc/modules
}
