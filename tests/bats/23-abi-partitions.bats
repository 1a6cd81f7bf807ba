#!/usr/bin/env bats
# Partitions of loop devices: PARTSCAN at attach and through SET_STATUS,
# partition nodes (the driver's own: /dev/loopNpM for loop, DIR/loopNpM
# for a loopns instance; and the global devtmpfs /dev/<disk>pM), mkfs and
# mount on a partition, BLKPG add/delete (partx, addpart), and no
# partition left after detach. loop driver vs loopns (parity).

load helpers
load abi-helpers

setup() {
	skip_unless_root
	mkdir -p "$ABI_TMP" "$ABI_SCRATCH"
}

teardown() {
	abi_cleanup
}

# parts N: partitions of device N: sysfs, the driver's nodes, devtmpfs.
parts() {
	local n=$1 sys disk node f s=() d=() g=()
	sys=$(drv_sys "$n")
	disk=${sys##*/}
	node=$DRV_DIR/loop$n
	for f in "$sys/$disk"p*; do [[ -e $f ]] && s+=("${f##*/}"); done
	for f in "$node"p*; do [[ -b $f ]] && d+=("${f##*/}"); done
	for f in "/dev/$disk"p*; do [[ -b $f ]] && g+=("${f##*/}"); done
	echo "sysfs: ${s[*]}"
	echo "nodes: ${d[*]}"
	echo "devtmpfs: ${g[*]}"
}

# wait_parts N COUNT: until the driver's nodes of device N show COUNT
# partitions (instance nodes may follow the gendisk asynchronously).
wait_parts() {
	local i f c
	for ((i = 0; i < 40; i++)); do
		c=0
		for f in "$DRV_DIR/loop$1"p*; do [[ -b $f ]] && c=$((c + 1)); done
		((c == $2)) && return 0
		abi_sleep 0.05
	done
	return 0
}

sc_partitions() {
	local n node disk p m=$ABI_TMP/mnt
	n=$(drv_free)
	node=$DRV_DIR/loop$n
	echo "== attach with LO_FLAGS_PARTSCAN"
	io "$n" configure "$ABI_TMP/gpt.img" 8
	disk=$(drv_disk "$n")
	wait_parts "$n" 3
	parts "$n"
	for p in 1 2 3; do
		echo "p$p: size $(bsize "${node}p$p") start $(sysval "$n" "${disk}p$p/start") partition $(sysval "$n" "${disk}p$p/partition") ro $(sysval "$n" "${disk}p$p/ro")"
	done
	echo "== mkfs on the driver's partition node, mount through /dev/<disk>p2"
	mkfs.ext4 -q -F -L part2 "${node}p2" && echo "mkfs: ok"
	mkdir -p "$m"
	mount "/dev/${disk}p2" "$m" && echo "mount: ok"
	cp "$ABI_TMP/payload" "$m/payload"
	mkdir -p "$m/dir" && echo hello >"$m/dir/hello"
	umount "$m" && echo "umount: ok"
	echo "== BLKPG: partx -d / -a, addpart"
	partx -d --nr 3 "$node" && echo "partx -d 3: ok"
	wait_parts "$n" 2
	parts "$n"
	partx -a --nr 3 "$node" && echo "partx -a 3: ok"
	addpart "$node" 5 110592 4096 && echo "addpart 5: ok"
	wait_parts "$n" 4
	parts "$n"
	echo "p5: size $(bsize "${node}p5")"
	echo "== detach"
	io "$n" clr
	wait_unbound "$n"
	wait_parts "$n" 0
	parts "$n"
	echo "== the partition's data at its offset (no PARTSCAN)"
	io "$n" configure "$ABI_TMP/gpt.img" 0 0 $((34816 * 512)) $((16 * 1048576))
	e2fsck -fn "$node" >/dev/null 2>&1 && echo "e2fsck: clean"
	mount -o ro "$node" "$m" && echo "mount: ok"
	cmp "$ABI_TMP/payload" "$m/payload" && echo "payload: same"
	cat "$m/dir/hello"
	umount "$m"
	parts "$n"
	io "$n" clr
	wait_unbound "$n"
	echo "== PARTSCAN set later through LOOP_SET_STATUS64"
	io "$n" configure "$ABI_TMP/gpt.img"
	parts "$n"
	io "$n" set-status64 8
	wait_parts "$n" 3
	parts "$n"
	echo "flags $(flags "$n") partscan $(sysval "$n" loop/partscan)"
	echo "== a partition held open (mounted) while detaching"
	mount -o ro "/dev/${disk}p2" "$m" && echo "mount: ok"
	io "$n" clr
	echo "flags $(flags "$n") after CLR_FD with a mounted partition"
	cat "$m/dir/hello"
	umount "$m"
	wait_unbound "$n"
	wait_parts "$n" 0
	parts "$n"
	io "$n" get-status64
}

images() {
	truncate -s 64M "$ABI_TMP/gpt.img"
	# 3 partitions of 16 MiB; p2 starts at sector 34816.
	sfdisk -q "$ABI_TMP/gpt.img" <<-EOF
		label: gpt
		start=2048, size=16MiB
		start=34816, size=16MiB
		start=67584, size=16MiB
	EOF
	head -c 3M /dev/urandom >"$ABI_TMP/payload"
}

@test "partitions: PARTSCAN, nodes, mkfs+mount on a partition, BLKPG, none left after detach" {
	images
	parity sc_partitions
	expect_line "sysfs: DISK0p1 DISK0p2 DISK0p3"
	expect_line "devtmpfs: DISK0p1 DISK0p2 DISK0p3"
	expect_line "p2: size 16777216 start 34816 partition 2 ro 0"
	expect_line "mount: ok"
	expect_line "sysfs: DISK0p1 DISK0p2 DISK0p3 DISK0p5"
	expect_line "payload: same"
	expect_line "e2fsck: clean"
	expect_line "sysfs: "
	expect_line "devtmpfs: "
}

# The instance's own partition nodes (DIR/loopNpM) next to DIR/loopN.
@test "loopns: partition nodes appear and disappear in the instance" {
	images
	drv_setup loopns
	local n
	n=$(drv_free)
	loopioctl "$DRV_DIR/loop$n" configure "$ABI_TMP/gpt.img" 8
	wait_parts "$n" 3
	run parts "$n"
	echo "$output"
	[ "${lines[1]}" = "nodes: loop${n}p1 loop${n}p2 loop${n}p3" ]
	# Same device numbers as the global nodes.
	[ "$(stat -c %t:%T "$DRV_DIR/loop${n}p2")" = "$(stat -c %t:%T "/dev/$(drv_disk "$n")p2")" ]
	loopioctl "$DRV_DIR/loop$n" clr
	wait_unbound "$n"
	wait_parts "$n" 0
	run parts "$n"
	[ "${lines[1]}" = "nodes: " ]
}
