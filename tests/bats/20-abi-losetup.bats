#!/usr/bin/env bats
# Unmodified util-linux (losetup, mount -o loop) against the in-kernel loop
# driver and against a loopns instance, in the same VM: the transcripts
# must match (abi-helpers.bash: parity). For loopns the tools run in a
# private mount namespace whose /dev/loop-control and /dev/loopN are the
# instance's (drv_run); /dev/loopnsM link to the global nodes, which
# losetup -l/-j/-a and mount's overlap check look up after scanning
# /sys/block/loop*.
#
# Deliberate divergence: losetup -l/-a/-j name loopns devices by their
# global node /dev/loopnsM (the gendisk name; block device names are
# global), while losetup -f/--show print the instance name /dev/loopN.
# norm maps both to DEVn, so the transcripts still compare equal; the
# loopns-specific test at the end asserts the global name explicitly.

load helpers
load abi-helpers

setup() {
	skip_unless_root
	mkdir -p "$ABI_TMP" "$ABI_SCRATCH"
}

teardown() {
	abi_cleanup
}

# Runs inside the driver's /dev view (one namespace for the whole
# scenario: entering one costs seconds under TCG). $1=tmpfs dir, $2=ext4 dir.
inner_losetup() {
	local T=$1 S=$2 dev dev2 d i
	# (Lines sorted: losetup lists devices in /sys/block readdir order.)
	L() {
		echo "\$ losetup $*"
		losetup "$@" 2>&1 | sort
		echo "rc=${PIPESTATUS[0]}"
	}
	sysd() {
		echo "/sys/dev/block/$(stat -Lc '%Hr:%Lr' "$1")"
	}
	attrs() {
		local d a v
		d=$(sysd "$1")
		for a in loop/backing_file loop/offset loop/sizelimit loop/autoclear loop/partscan \
			loop/dio ro size queue/logical_block_size; do
			v=-
			[[ -r $d/$a ]] && read -r v <"$d/$a"
			printf '%s=%s ' "${a#loop/}" "$v"
		done
		echo "getsize64=$(blockdev --getsize64 "$1")"
	}
	unbound() {
		local d i
		d=$(sysd "$1")
		for ((i = 0; i < 50; i++)); do
			[[ -e $d/loop ]] || { echo "$1 unbound"; return; }
			sleep 0.1
		done
		echo "$1 still bound"
	}
	cols=NAME,BACK-FILE,OFFSET,SIZELIMIT,RO,AUTOCLEAR,PARTSCAN,DIO,LOG-SEC

	echo "== -f --show"
	dev=$(losetup -f --show "$T/img")
	echo "show: $dev rc=$?"
	attrs "$dev"
	L -l
	L -l -n -O "$cols"
	L -a
	L -j "$T/img"
	L -j "$T/fs.img"
	L "$dev"
	echo "== second device, -j with offset"
	dev2=$(losetup -f --show -o 4096 "$T/img")
	echo "show: $dev2"
	L -j "$T/img"
	L -j "$T/img" -o 4096
	L -l -n -O "$cols"
	L -d "$dev" "$dev2"
	unbound "$dev"
	unbound "$dev2"
	L -a
	L -d "$dev"

	echo "== -r"
	dev=$(losetup -f --show -r "$T/img")
	attrs "$dev"
	blockdev --getro "$dev"
	L -l -n -O "$cols"
	L -d "$dev"
	unbound "$dev"

	echo "== -o --sizelimit"
	dev=$(losetup -f --show -o 1048576 --sizelimit 4194304 "$T/img")
	attrs "$dev"
	L -l -n -O "$cols"
	L -d "$dev"
	unbound "$dev"
	dev=$(losetup -f --show -o 1048576 "$T/img")
	attrs "$dev"
	L -d "$dev"
	unbound "$dev"

	echo "== -b 4096"
	dev=$(losetup -f --show -b 4096 "$T/img")
	attrs "$dev"
	L -l -n -O "$cols"
	L -d "$dev"
	unbound "$dev"

	echo "== --direct-io=on (ext4 backing)"
	dev=$(losetup -f --show --direct-io=on "$S/img")
	attrs "$dev"
	L -l -n -O "$cols"
	L --direct-io=off "$dev"
	attrs "$dev"
	L -d "$dev"
	unbound "$dev"

	echo "== -P"
	dev=$(losetup -f --show -P "$T/gpt.img")
	attrs "$dev"
	d=$(sysd "$dev")
	for i in 1 2 3 4; do
		[[ -e $d/$(basename "$(readlink -f "$d")")p$i ]] && echo "partition $i present"
	done
	L -l -n -O "$cols"
	L -d "$dev"
	unbound "$dev"

	echo "== -c after truncate"
	truncate -s 8M "$T/grow.img"
	dev=$(losetup -f --show "$T/grow.img")
	blockdev --getsize64 "$dev"
	truncate -s 24M "$T/grow.img"
	blockdev --getsize64 "$dev"
	L -c "$dev"
	blockdev --getsize64 "$dev"
	L -l -n -O NAME,SIZELIMIT
	L -d "$dev"
	unbound "$dev"

	echo "== -D"
	losetup -f "$T/img"
	losetup -f "$T/grow.img"
	L -l -n -O NAME,BACK-FILE
	L -D
	sleep 0.5
	L -l -n -O NAME,BACK-FILE

	echo "== mount -o loop"
	mkdir -p "$T/mnt" "$T/mnt2"
	mount -o loop "$T/fs.img" "$T/mnt"
	echo "mount rc=$?"
	cat "$T/mnt/hello"
	dev=$(findmnt -no SOURCE "$T/mnt")
	echo "source: $dev"
	L -l -n -O "$cols"
	echo data >"$T/mnt/new"
	umount "$T/mnt"
	unbound "$dev"
	L -l -n -O NAME
	echo "== mount -o loop,ro twice reuses the device"
	mount -o loop,ro "$T/fs.img" "$T/mnt"
	mount -o loop,ro "$T/fs.img" "$T/mnt2"
	echo "sources: $(findmnt -no SOURCE "$T/mnt") $(findmnt -no SOURCE "$T/mnt2")"
	cat "$T/mnt2/new"
	L -l -n -O NAME,RO,AUTOCLEAR
	umount "$T/mnt2"
	umount "$T/mnt"
	unbound "$dev"
	echo "== mount -o loop,offset"
	mount -o loop,offset=1048576 "$T/fsoff.img" "$T/mnt"
	echo "mount rc=$?"
	cat "$T/mnt/hello"
	L -l -n -O OFFSET,AUTOCLEAR
	umount "$T/mnt"
}

sc_losetup() {
	# shellcheck disable=SC2016
	drv_run bash -c "$(declare -f inner_losetup); inner_losetup \"\$@\"" inner "$ABI_TMP" "$ABI_SCRATCH"
}

images() {
	truncate -s 32M "$ABI_TMP/img"
	truncate -s 32M "$ABI_SCRATCH/img"
	truncate -s 32M "$ABI_TMP/gpt.img"
	sfdisk -q "$ABI_TMP/gpt.img" <<-EOF
		label: gpt
		size=8MiB
		size=8MiB
		size=8MiB
	EOF
	mkdir -p "$ABI_TMP/tree"
	echo "hello from $ABI_TMP" >"$ABI_TMP/tree/hello"
	mkfs.ext4 -q -F -d "$ABI_TMP/tree" "$ABI_TMP/fs.img" 16M
	# An ext4 image 1 MiB into the file.
	truncate -s 1M "$ABI_TMP/fsoff.img"
	cat "$ABI_TMP/fs.img" >>"$ABI_TMP/fsoff.img"
}

@test "losetup -f/-r/-o/--sizelimit/-b/--direct-io/-P/-c/-l/-j/-a/-d/-D and mount -o loop" {
	images
	parity sc_losetup
	expect_line "show: DEV0 rc=0"
	expect_line "backing_file=$ABI_TMP/img offset=0 sizelimit=0 autoclear=0 partscan=0 dio=0 ro=0 size=65536 queue/logical_block_size=512 getsize64=33554432"
	expect_line "DEV0: [$(printf '%04d' "$(stat -c %d "$ABI_TMP/img")")]:$(stat -c %i "$ABI_TMP/img") ($ABI_TMP/img)"
	expect_line "backing_file=$ABI_TMP/img offset=0 sizelimit=0 autoclear=0 partscan=0 dio=0 ro=1 size=65536 queue/logical_block_size=512 getsize64=33554432"
	expect_line "backing_file=$ABI_TMP/img offset=1048576 sizelimit=4194304 autoclear=0 partscan=0 dio=0 ro=0 size=8192 queue/logical_block_size=512 getsize64=4194304"
	expect_line "backing_file=$ABI_TMP/img offset=0 sizelimit=0 autoclear=0 partscan=0 dio=0 ro=0 size=65536 queue/logical_block_size=4096 getsize64=33554432"
	expect_line "backing_file=$ABI_SCRATCH/img offset=0 sizelimit=0 autoclear=0 partscan=0 dio=1 ro=0 size=65536 queue/logical_block_size=512 getsize64=33554432"
	expect_line "partition 3 present"
	expect_line "25165824"
	expect_line "source: DEV0"
	expect_line "hello from $ABI_TMP"
	expect_line "sources: DEV0 DEV0"
	expect_line "DEV0 unbound"
}

# loopns only: what the tools print for an instance device.
@test "loopns: losetup -l names the global node, --show the instance node" {
	images
	drv_setup loopns
	run drv_run bash -c 'losetup -f --show "$1" && losetup -l -n -O NAME,BACK-FILE' x "$ABI_TMP/img"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = /dev/loop0 ]
	[[ ${lines[1]} =~ ^/dev/$(drv_disk 0)\ +$ABI_TMP/img$ ]]
	# losetup on the host (no namespace) sees the same device globally.
	run losetup -j "$ABI_TMP/img"
	[[ $output == "/dev/$(drv_disk 0): "* ]]
}
