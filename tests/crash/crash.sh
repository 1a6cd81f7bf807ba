#!/bin/bash
# First boot of the crash test (tests/crash/crash.bash): run by the guest's
# init after the Bats suite when the harness set LOOPNS_CRASH=1. For every
# configuration: mkfs.ext4 through the device, files written and fsync'ed
# (plain, overwritten in place, renamed over, O_DIRECT), more files written
# without fsync, a writer still running; then the VM is reset at once with
# SysRq-B (no sync, no unmount; QEMU runs with -no-reboot and exits). The
# harness boots the same kernel on the same disk with tests/crash/verify.bats.
#
# Returns only when it could not crash the VM (setup failed); the harness
# then does not boot the second time and counts the crash tests as failed.
# LOOPNS_CRASH_NOSYNC=1 leaves the fsyncs out: the second boot must then
# fail (a proof that the test can fail).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/crash.bash"

say() { printf '[guest] crash test: %s\n' "$*"; }
fail() { say "setup failed: $*"; exit 1; }
# fsync FILE...: fsync(2) each (coreutils sync with arguments), unless
# LOOPNS_CRASH_NOSYNC=1.
fsync() { [[ ${LOOPNS_CRASH_NOSYNC:-0} == 1 ]] || sync "$@"; }
ddsync=,fsync
[[ ${LOOPNS_CRASH_NOSYNC:-0} == 1 ]] && ddsync=

src=/tmp/crash-src
# No writeback but fsync's: the flusher must not save what a driver
# failed to flush (measured: with the defaults, the background writeback
# that the writers below start put unsynced files on the disk in time).
echo 50 >/proc/sys/vm/dirty_background_ratio
echo 80 >/proc/sys/vm/dirty_ratio
echo 360000 >/proc/sys/vm/dirty_expire_centisecs
echo 0 >/proc/sys/vm/dirty_writeback_centisecs
rm -rf "$CRASH_DIR" "$src"
mkdir -p "$CRASH_DIR" "$src" || fail "mkdir"
# Default module parameters whatever the suite left (unless in use).
rmmod loopns 2>/dev/null
crash_setup_drivers || fail "loading the drivers"

# Contents, from /dev/urandom; expected/ holds what each fsync'ed file
# must contain after the crash.
head -c 4096 /dev/urandom >"$src/s-small"
head -c 307200 /dev/urandom >"$src/s-mid"
head -c 2097152 /dev/urandom >"$src/s-big"
head -c 65536 /dev/urandom >"$src/s-over"
head -c 131072 /dev/urandom >"$src/patch"
cp "$src/s-mid" "$src/s-renamed"
cp "$src/s-big" "$src/s-direct"
mkdir "$src/expected"
cp "$src"/s-* "$src/expected/"
# s-over: 8 KiB at offset 4 KiB rewritten in place after the first fsync.
dd if="$src/patch" of="$src/expected/s-over" bs=4096 seek=1 count=2 conv=notrunc status=none
(cd "$src/expected" && sha256sum "${CRASH_SYNCED[@]}") >"$CRASH_DIR/manifest" || fail "manifest"
# What the unsynced files u-a and u-b would hold.
(cd "$src" && sha256sum s-mid s-small) | sed 's/ s-mid$/ u-a/; s/ s-small$/ u-b/' >"$CRASH_DIR/unsynced"

for c in "${CRASH_CONFIGS[@]}"; do
	read -r name drv flags <<<"$c"
	img=$CRASH_DIR/$name.img m=$CRASH_MNT/$name
	truncate -s 64M "$img"
	dev=$(crash_bind "$drv" "$img" "$flags") || fail "$name: binding $img"
	crash_dio "$dev" >"$CRASH_DIR/$name.dio" || fail "$name: no loop/dio in sysfs"
	mkfs.ext4 -q -F -E nodiscard "$dev" || fail "$name: mkfs"
	mkdir -p "$m" && mount -t ext4 "$dev" "$m" || fail "$name: mount"
	cp "$src/s-small" "$src/s-mid" "$src/s-big" "$src/s-over" "$m/" &&
		cp "$src/s-renamed" "$m/s-renamed.tmp" &&
		fsync "$m"/s-* "$m" &&
		dd if="$src/patch" of="$m/s-over" bs=4096 seek=1 count=2 conv=notrunc$ddsync status=none &&
		mv "$m/s-renamed.tmp" "$m/s-renamed" &&
		dd if="$src/s-direct" of="$m/s-direct" bs=64k oflag=direct status=none &&
		fsync "$m/s-direct" "$m" || fail "$name: writing the fsync'ed files"
done
# The last fsync is done. Files nobody syncs, and writers busy when the
# VM dies (direct I/O: requests in flight in the driver).
for c in "${CRASH_CONFIGS[@]}"; do
	read -r name _ <<<"$c"
	m=$CRASH_MNT/$name
	cp "$src/s-mid" "$m/u-a"
	cp "$src/s-small" "$m/u-b"
	dd if=/dev/zero of="$m/u-bulk" bs=4k count=2048 oflag=direct status=none 2>/dev/null &
done
sync "$CRASH_DIR/manifest" "$CRASH_DIR/unsynced" "$CRASH_DIR"/*.dio "$CRASH_DIR"
sleep 1
echo "$CRASH_CANARY_TEXT" >"$CRASH_DIR/canary"
say "files written; resetting the VM now (SysRq-B, no sync)"
# Closing the port waits until the line is sent: the harness boots again
# only when it sees it.
echo "# loopns-harness: crash-point" >/dev/ttyS1
echo b >/proc/sysrq-trigger
sleep 30
fail "SysRq-B did not reset the VM"
