#!/bin/bash
# Guest side of tests/harness/demo.sh: one private loopns instance, walked
# through step by step with unmodified util-linux and e2fsprogs:
#   modprobe loopns; mount -t loopns loopns /mnt/lns; losetup (via the
#   instance's loop-control, in a private mount namespace made by lns-enter)
#   attaches an image; mkfs.ext4, mount, write, read back, umount, e2fsck,
#   detach; umount the instance; its device is gone and the global loop
#   driver was never touched.
# Exit status 0 only if every step worked.

LNS=/mnt/lns
MNT=/mnt/demo
IMG=${LOOPNS_SCRATCH:-/tmp}/demo.img
ENTER=lns-enter
n=0

step() {
	local what=$1
	shift
	n=$((n + 1))
	printf '\n--- step %d: %s\n$' "$n" "$what"
	local a
	for a in "$@"; do
		if [[ $a =~ ^[[:alnum:]_./:=+,@-]+$ ]]; then printf ' %s' "$a"; else printf " '%s'" "$a"; fi
	done
	printf '\n'
	"$@"
	local rc=$?
	((rc == 0)) && return 0
	printf 'step %d FAILED (status %d): %s\n' "$n" "$rc" "$what"
	exit 1
}

loop_was_loaded=0
grep -q '^loop ' /proc/modules && loop_was_loaded=1

step "load the module" modprobe loopns
step "the filesystem type is registered" grep -w loopns /proc/filesystems
step "create the mount point" mkdir -p "$LNS"
step "mount a private instance at $LNS" mount -t loopns loopns "$LNS"
step "the instance holds its own loop-control" ls -l "$LNS"
step "create a 64 MiB image file" truncate -s 64M "$IMG"
dev=
losetup_attach() {
	local out
	out=$("$ENTER" "$LNS" losetup -f --show "$IMG") || return
	echo "losetup -f --show printed: $out"
	dev=$LNS/loop${out##*loop}
	[[ -b $dev ]] || { echo "$dev is not a block device"; return 1; }
	echo "instance device: $dev"
}
step "attach it with unmodified losetup through the instance's loop-control" losetup_attach
step "the device shows the backing file" "$ENTER" "$LNS" losetup "/dev/${dev##*/}"
step "mkfs.ext4 on the instance's device" mkfs.ext4 -q -F "$dev"
step "create a mount point for the filesystem" mkdir -p "$MNT"
step "mount it" mount -t ext4 "$dev" "$MNT"
step "write a file" sh -c "echo 'hello from a private loop device' >'$MNT/hello.txt' && sync"
step "read it back" grep -q 'hello from a private loop device' "$MNT/hello.txt"
step "unmount the filesystem" umount "$MNT"
step "fsck the filesystem" e2fsck -fn "$dev"
step "detach the device" "$ENTER" "$LNS" losetup -d "/dev/${dev##*/}"
check_unbound() {
	local sys
	sys=/sys/dev/block/$(stat -L -c '%Hr:%Lr' "$dev")
	# The loop/ sysfs group exists only while a device is bound.
	[[ ! -e $sys/loop/backing_file ]]
}
step "the device is unbound" check_unbound
step "unmount the instance" umount "$LNS"
step "its nodes are gone with it" test ! -e "$dev"
check_global_loop_unused() {
	((loop_was_loaded)) || ! grep -q '^loop ' /proc/modules
}
step "the global loop driver was never loaded" check_global_loop_unused
printf '\nall %d steps passed\n' "$n"
