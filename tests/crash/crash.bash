# shellcheck shell=bash disable=SC2034 # a library: crash.sh and verify.bats use its variables
# Shared by the crash test's two boots (README.md, "Tests"):
#   tests/crash/crash.sh    first boot: write, fsync some, crash the VM
#   tests/crash/verify.bats second boot, same disk: what was fsync'ed is there
#
# Four configurations, written side by side in the same boot: ext4 on a
# loopns device and on an in-kernel loop device, each with buffered and
# with direct I/O to its backing file. Backing files are sparse images on
# the VM's virtio disk (LOOPNS_SCRATCH), which outlives the crash.

CRASH_DIR=${LOOPNS_SCRATCH:-/mnt/scratch}/crash
CRASH_INST=/tmp/crash-inst	# the loopns instance
CRASH_MNT=/tmp/crash-mnt	# ext4 of configuration NAME at $CRASH_MNT/NAME
# name driver lo_flags (16: LO_FLAGS_DIRECT_IO)
CRASH_CONFIGS=(
	"loopns-buffered loopns 0"
	"loopns-dio loopns 16"
	"loop-buffered loop 0"
	"loop-dio loop 16"
)
# Files fsync'ed before the crash (their checksums are in $CRASH_DIR/manifest)
# and files written after the last fsync, which may or may not survive
# (checksums in $CRASH_DIR/unsynced; u-bulk is still being written).
CRASH_SYNCED=(s-small s-mid s-big s-over s-renamed s-direct)
CRASH_UNSYNCED=(u-a u-b)
# Written to the outer disk without fsync just before the crash: it must be
# lost, or the VM was not really crashed.
CRASH_CANARY_TEXT="written after the last sync"

# crash_ctl DRIVER: the directory holding the driver's loop-control and
# loopN nodes.
crash_ctl() {
	if [[ $1 == loop ]]; then echo /dev; else echo "$CRASH_INST"; fi
}

# crash_setup_drivers: load loop and loopns, mount the loopns instance.
crash_setup_drivers() {
	modprobe loop || return
	modprobe loopns || return
	mkdir -p "$CRASH_INST" "$CRASH_MNT"
	mountpoint -q "$CRASH_INST" || mount -t loopns loopns "$CRASH_INST"
}

# crash_bind DRIVER IMAGE FLAGS: bind IMAGE to a free device of DRIVER
# with LOOP_CONFIGURE; prints the device node.
crash_bind() {
	local dir n
	dir=$(crash_ctl "$1")
	n=$(loopioctl "$dir/loop-control" ctl-get-free) || return
	loopioctl "$dir/loop$n" configure "$2" "$3" >/dev/null || return
	echo "$dir/loop$n"
}

# crash_dio NODE: the device's direct-I/O state from sysfs (loop/dio).
crash_dio() {
	local mm
	mm=$(stat -Lc '%Hr:%Lr' "$1") || return
	cat "/sys/dev/block/$mm/loop/dio"
}
