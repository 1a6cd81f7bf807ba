#!/usr/bin/env bats
# sysfs attributes and uevents of loop devices: loop driver vs loopns
# (abi-helpers.bash: parity).
#
# Deliberate divergences (asserted explicitly, kept out of the parity
# transcripts):
# - queue/rotational of a device stacked on a block device follows 6.12's
#   loop rule on every kernel (the lower device's flag); 6.1's loop
#   reports non-rotational there.
# - an unbound loop device keeps its last binding's rotational and
#   discard limits; loopns resets them. Not ABI (no I/O reaches an
#   unbound device), so those values are compared only while bound.

load helpers
load abi-helpers

setup() {
	skip_unless_root
	mkdir -p "$ABI_TMP" "$ABI_SCRATCH"
}

teardown() {
	abi_cleanup
}

LOOP_ATTRS="backing_file offset sizelimit autoclear partscan dio"
QUEUE_ATTRS="ro removable size queue/logical_block_size queue/physical_block_size
queue/rotational queue/max_sectors_kb queue/discard_granularity queue/discard_max_bytes
queue/write_zeroes_max_bytes"

# show N: the loop/ group (file list and values) and queue attributes.
show() {
	local n=$1 sys f a V list=() out=
	sys=$(drv_sys "$n")
	if [[ -d $sys/loop ]]; then
		for f in "$sys"/loop/*; do list+=("${f##*/}"); done
		echo "loop/: ${list[*]}"
	else
		echo "loop/: absent"
	fi
	for a in $LOOP_ATTRS; do
		sysval_r "$n" "loop/$a"
		out+="loop/$a=$V "
	done
	echo "$out"
	out=
	for a in $QUEUE_ATTRS; do
		# Unbound, the loop driver keeps the last binding's rotational
		# and discard limits (never used: I/O fails with ENXIO first);
		# loopns resets them. Not ABI: compared only while bound.
		if [[ ! -d $sys/loop && $a =~ rotational|discard|write_zeroes ]]; then
			continue
		fi
		[[ -n ${SHOW_NO_ROT:-} && $a == queue/rotational ]] && continue
		sysval_r "$n" "$a"
		out+="${a#queue/}=$V "
	done
	echo "$out"
}

sc_lifecycle() {
	local n m node
	n=$(drv_free)
	node=$DRV_DIR/loop$n
	echo "== unbound"
	show "$n"
	echo "== tmpfs backing, offset, sizelimit, partscan, 4k blocks"
	io "$n" configure "$ABI_TMP/img" 8 4096 1048576 8388608
	show "$n"
	echo "== autoclear (device held open)"
	exec 8<"$node"
	io "$n" set-status64 12 1048576 8388608
	show "$n"
	io "$n" set-status64 8 1048576 8388608
	exec 8<&-
	io "$n" clr
	wait_unbound "$n"
	echo "== detached"
	show "$n"
	echo "== ext4 backing (virtio disk), read-only, direct I/O"
	io "$n" configure "ro:$ABI_SCRATCH/img" 16
	show "$n"
	io "$n" set-dio 0
	echo "dio=$(sysval "$n" loop/dio)"
	io "$n" clr
	wait_unbound "$n"
	show "$n"
	echo "== stacked: loop on loop"
	m=$((n + 1))
	drv_get "$m" >/dev/null
	io "$n" configure "$ABI_SCRATCH/img"
	io "$m" configure "$node"
	SHOW_NO_ROT=1 show "$m"
	# Compared outside the transcript (deliberate divergence on 6.1).
	echo "$(sysval "$m" queue/rotational) $(sysval "$n" queue/rotational)" >"$ABI_TMP/rot.$DRV"
	echo "backing of $m: $(sysval "$m" loop/backing_file)"
	io "$m" clr
	wait_unbound "$m"
}

# Kernel uevents of the block subsystem while a device is attached with
# PARTSCAN, a partition is added with BLKPG and the device is detached.
sc_uevents() {
	local n node pid
	n=$(drv_free)
	node=$DRV_DIR/loop$n
	udevadm monitor --kernel --property --subsystem-match=block >"$ABI_TMP/uevents" 2>&1 &
	pid=$!
	sleep 1
	io "$n" configure "$ABI_TMP/gpt.img" 8
	sleep 0.5
	addpart "$node" 5 55296 2048 && echo "addpart: ok"
	sleep 0.5
	io "$n" clr
	wait_unbound "$n"
	sleep 1
	kill "$pid"
	wait "$pid" 2>/dev/null
	grep -E '^(KERNEL|ACTION|DEVNAME|DEVTYPE|PARTN)' "$ABI_TMP/uevents" |
		sed -E 's/^KERNEL\[[0-9.]+\]/KERNEL/'
}

# Without udevadm: count uevents through /sys/kernel/uevent_seqnum.
sc_seqnum() {
	local n node s0 s1 s2
	n=$(drv_free)
	node=$DRV_DIR/loop$n
	read -r s0 </sys/kernel/uevent_seqnum
	io "$n" configure "$ABI_TMP/img"
	read -r s1 </sys/kernel/uevent_seqnum
	io "$n" clr
	wait_unbound "$n"
	read -r s2 </sys/kernel/uevent_seqnum
	echo "attach events: $((s1 - s0)) detach events: $((s2 - s1))"
}

images() {
	truncate -s 32M "$ABI_TMP/img" "$ABI_SCRATCH/img" "$ABI_TMP/gpt.img"
	sfdisk -q "$ABI_TMP/gpt.img" <<-EOF
		label: gpt
		size=8MiB
		size=8MiB
		size=8MiB
	EOF
}

@test "sysfs: loop/ attributes exist exactly while bound; queue limits, ro, rotational" {
	images
	parity sc_lifecycle
	expect_line "loop/: autoclear backing_file dio offset partscan sizelimit"
	expect_line "loop/: absent"
	expect_line "loop/backing_file=$ABI_TMP/img loop/offset=1048576 loop/sizelimit=8388608 loop/autoclear=0 loop/partscan=1 loop/dio=0 "
	expect_line "loop/backing_file=$ABI_TMP/img loop/offset=1048576 loop/sizelimit=8388608 loop/autoclear=1 loop/partscan=1 loop/dio=0 "
	expect_line "loop/backing_file=$ABI_SCRATCH/img loop/offset=0 loop/sizelimit=0 loop/autoclear=0 loop/partscan=0 loop/dio=1 "
	grep -q "^ro=1 .* logical_block_size=512 " <<<"$output"
	grep -q "^ro=0 removable=0 size=16384 logical_block_size=4096 " <<<"$output"
	# Deliberate divergence: a device stacked on a block device reports
	# that device's rotational flag (6.12's loop rule, on every kernel);
	# 6.1's loop driver looks at the block device file's superblock (the
	# bdev pseudo-fs, no s_bdev) and always says non-rotational.
	local top lower
	read -r top lower <"$ABI_TMP/rot.loopns"
	echo "rotational stacked/lower: loop $(<"$ABI_TMP/rot.loop"), loopns $top $lower"
	[ "$top" = "$lower" ]
	if [[ $(uname -r) == 6.1.* ]]; then
		[ "$(<"$ABI_TMP/rot.loop")" = "0 $lower" ]
	else
		[ "$(<"$ABI_TMP/rot.loop")" = "$lower $lower" ]
	fi
}

@test "uevents: change on attach and detach, partition add/remove" {
	images
	if command -v udevadm >/dev/null; then
		parity sc_uevents
		[ "$(grep -c '^ACTION=change$' <<<"$output")" -ge 2 ]
		expect_line "KERNEL change /devices/virtual/block/DISK0 (block)"
		expect_line "KERNEL add /devices/virtual/block/DISK0/DISK0p2 (block)"
		expect_line "KERNEL add /devices/virtual/block/DISK0/DISK0p5 (block)"
		expect_line "KERNEL remove /devices/virtual/block/DISK0/DISK0p5 (block)"
		expect_line "KERNEL remove /devices/virtual/block/DISK0/DISK0p1 (block)"
	else
		parity sc_seqnum
	fi
	parity sc_seqnum
}
