#!/usr/bin/env bats
# loopnsctl setup-dev: a container's /dev (a fresh tmpfs in a fresh mount
# namespace, no udev) where unmodified util-linux - losetup -f, mount -o
# loop, sfdisk + losetup -P + mkfs on loopNp1 - works on a private
# instance, including devices created after setup-dev ran.

load helpers

setup() {
	skip_unless_root
	skip_unless_cmd loopnsctl losetup sfdisk mkfs.ext4 unshare
	load_loopns
	T=$(mktemp -d /tmp/lns31.XXXXXX)
	chmod 755 "$T"
	BASE=$(lns_disk_count)
	GLOBAL_LOOPS=$(ls -d /sys/block/loop[0-9]* 2>/dev/null | wc -l)
	unset LOOPNS_DIR
}

teardown() {
	umount_under "$T"
	rm -rf "$T"
}

# in_container SCRIPT: run bash SCRIPT in a new mount namespace whose /dev
# is an empty tmpfs (plus null, zero, urandom from the host).
in_container() {
	unshare --mount --propagation private bash -c '
		set -e
		mkdir -p /run/lns31-host
		mount --bind /dev /run/lns31-host
		mount -t tmpfs -o mode=0755 cdev /dev
		for n in null zero urandom; do
			touch /dev/$n
			mount --bind /run/lns31-host/$n /dev/$n
		done
		umount -l /run/lns31-host
		exec bash -e "$1"
	' in_container "$1"
}

@test "setup-dev: unmodified losetup, mount -o loop, sfdisk + losetup -P + mkfs in a tmpfs /dev" {
	truncate -s 16M "$T/plain.img" "$T/fs.img" "$T/disk.img"
	mkfs.ext4 -q -F "$T/fs.img"
	printf 'label: dos\n,4M\n,\n' | sfdisk -q "$T/disk.img"
	cat >"$T/scenario" <<-EOS
		T=$T
		maj=\$(awk '/^Block devices:/ { b = 1 } b && \$2 == "loopns" { print \$1 }' /proc/devices)
		loopnsctl setup-dev /dev --max 8 --partitions 4
		ls /dev | sort | head -5 | tr '\n' ' '; echo
		test "\$(readlink /dev/loop-control)" = loopns/loop-control
		test -c /dev/loop-control
		test "\$(readlink /dev/loop7p4)" = loopns/loop7p4
		test ! -e /dev/loop8

		# losetup -f: LOOP_CTL_GET_FREE, then /dev/loopN at once
		dev=\$(losetup -f --show "\$T/plain.img")
		echo "losetup -f: \$dev"
		test "\$dev" = /dev/loop0
		test "\$(stat -L -c %t "\$dev")" = "\$(printf %x "\$maj")"
		losetup "\$dev" | grep -q "\$T/plain.img"
		mkfs.ext4 -q -F "\$dev"
		losetup -d "\$dev"

		# mount -o loop: libmount's own losetup
		mkdir -p "\$T/mnt"
		mount -o loop "\$T/fs.img" "\$T/mnt"
		src=\$(findmnt -n -o SOURCE "\$T/mnt")
		echo "mount -o loop: \$src"
		test "\$(stat -L -c %t "\$src")" = "\$(printf %x "\$maj")"
		echo hello >"\$T/mnt/hello"
		umount "\$T/mnt"

		# losetup -P + partitions: nodes appear behind the links
		dev=\$(losetup -f --show -P "\$T/disk.img")
		echo "losetup -P: \$dev"
		for i in \$(seq 50); do test -b "\${dev}p2" && break; sleep 0.1; done
		test -b "\${dev}p1"
		test -b "\${dev}p2"
		test "\$(blockdev --getsize64 "\${dev}p1")" = 4194304
		mkfs.ext4 -q -F "\${dev}p1"
		mount "\${dev}p1" "\$T/mnt"
		echo part >"\$T/mnt/part"
		umount "\$T/mnt"
		losetup -d "\$dev"
		for i in \$(seq 50); do test -b "\${dev}p1" || break; sleep 0.1; done
		test ! -b "\${dev}p1"
		echo scenario done
	EOS
	run in_container "$T/scenario"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"losetup -f: /dev/loop0"* ]]
	[[ $output == *"scenario done"* ]]
	# the data went to the images, not anywhere else
	run debugfs -R "cat /hello" "$T/fs.img"
	[[ $output == *hello* ]]
	# the global loop driver was never used; nothing is left behind
	[ "$(ls -d /sys/block/loop[0-9]* 2>/dev/null | wc -l)" -eq "$GLOBAL_LOOPS" ]
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
}

@test "setup-dev: devices created later (by anyone) work through the same links" {
	truncate -s 4M "$T/a.img" "$T/b.img"
	cat >"$T/scenario" <<-EOS
		set -x
		loopnsctl setup-dev /dev --max 4 --partitions 0
		test ! -e /dev/loop0p1
		# before: no device exists, the links dangle
		test -L /dev/loop2 && test ! -e /dev/loop2
		# LOOP_CTL_ADD by another program, then losetup on that device
		loopioctl /dev/loop-control ctl-add 2
		test -b /dev/loop2
		losetup /dev/loop2 "$T/a.img"
		# status by node works (the scans of -a/-j/-l look for
		# /dev/<sysfs name>, i.e. /dev/loopnsM: see loopns(7))
		losetup /dev/loop2 | grep -q "^/dev/loop2: .*$T/a.img"
		# loopnsctl attach finds the instance through LOOPNS_DIR
		dev=\$(LOOPNS_DIR=/dev/loopns loopnsctl attach "$T/b.img")
		echo "attach: \$dev"
		test -b "\$dev"
		losetup -d /dev/loop2
		# max= of the instance equals the number of links
		grep " /dev/loopns " /proc/self/mountinfo | grep -q max=4
		losetup -f "$T/a.img"; losetup -f "$T/a.img"; losetup -f "$T/a.img"
		if losetup -f "$T/a.img" 2>"$T/err"; then exit 1; fi
		cat "$T/err"
		grep -Eq "No space left on device|unused loop device" "$T/err"
		echo later done
	EOS
	run in_container "$T/scenario"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"attach: /dev/loop0"* ]]
	[[ $output == *"later done"* ]]
	wait_for 10 test "$(lns_disk_count)" -eq "$BASE"
}

@test "setup-dev: idempotent, refuses foreign entries unless --force, --instance, --remove" {
	local d=$T/dev
	mkdir -p "$d"
	run loopnsctl setup-dev "$d" --max 2 --partitions 1
	[ "$status" -eq 0 ]
	run ls "$d"
	[ "$(echo $output)" = "loop-control loop0 loop0p1 loop1 loop1p1 loopns" ]
	grep " $d/loopns " /proc/self/mountinfo | grep -q max=2
	# again: nothing changes, nothing is mounted twice
	run loopnsctl setup-dev "$d" --partitions 1
	[ "$status" -eq 0 ]
	[ "$(grep -c " $d/loopns " /proc/self/mountinfo)" -eq 1 ]
	# a larger --max extends the links and the instance
	run loopnsctl setup-dev "$d" --max 3 --partitions 1
	[ "$status" -eq 0 ]
	[ -L "$d/loop2p1" ]
	grep " $d/loopns " /proc/self/mountinfo | grep -q max=3
	# foreign entries
	run loopnsctl setup-dev --remove "$d"
	[ "$status" -eq 0 ]
	[ -z "$(ls "$d")" ]
	touch "$d/loop1"
	run loopnsctl setup-dev "$d" --max 2
	echo "$output"
	[ "$status" -eq 7 ]
	[[ $output == *"$d/loop1 exists and is not a loopns link (use --force to replace it)"* ]]
	[ ! -e "$d/loopns" ]
	run loopnsctl setup-dev "$d" --max 2 --force
	[ "$status" -eq 0 ]
	[ "$(readlink "$d/loop1")" = loopns/loop1 ]
	loopnsctl setup-dev --remove "$d"
	# --instance: bind an instance mounted elsewhere
	mkdir -p "$T/inst"
	loopnsctl mount "$T/inst" --max 3
	run loopnsctl setup-dev "$d" --instance "$T/inst" --partitions 0
	[ "$status" -eq 0 ]
	[ -L "$d/loop2" ] && [ ! -e "$d/loop3" ]
	loopioctl "$T/inst/loop-control" ctl-add 1
	[ -b "$d/loop1" ]
	loopnsctl setup-dev --remove "$d"
	[ -b "$T/inst/loop1" ]
	run loopnsctl setup-dev "$d" --instance "$T"
	[ "$status" -eq 6 ]
	run loopnsctl setup-dev "$T/missing"
	[ "$status" -eq 6 ]
}
