#!/usr/bin/env bats
# loopns-oci-hook with the real runtimes (Debian's crun and runc): a bundle
# whose config.json carries the annotation io.loopns.instance and the hook
# at createRuntime or createContainer; and podman running a --rootfs with
# the hooks.d JSON as packaged. Inside, unmodified losetup -fP, mkfs, mount (or
# fuse2fs in a user namespace) work on a private instance; two containers
# each see their own loop0; nothing is left behind after a normal exit, a
# kill -9 of the container's init or of the runtime.

load helpers

HOOK=$HELPERS_DIR/loopns-oci-hook

setup() {
	skip_unless_root
	skip_unless_cmd crun losetup sfdisk mkfs.ext4 "$HOOK"
	load_loopns
	T=$(mktemp -d /tmp/lns34.XXXXXX)
	chmod 755 "$T"
	mkdir -m 777 "$T/work"
	# devtmpfs makes it 0600; a host's udev makes it 0666
	chmod 666 /dev/fuse 2>/dev/null || true
	MAJOR=$(awk '/^Block devices:/ { b = 1 } b && $2 == "loopns" { print $1 }' /proc/devices)
	CMAJOR=$(awk '/^Character devices:/ { c = 1 } /^Block/ { c = 0 } c && $2 == "loopns-control" { print $1 }' /proc/devices)
	BASE=$(lns_disk_count)
}

teardown() {
	local r
	for r in "$T"/pod-*; do
		[[ -d $r ]] && pod "${r##*/pod-}" rm -af >/dev/null 2>&1
	done
	for r in "$T"/state-*; do
		[[ -d $r ]] || continue
		for id in $(ls "$r" 2>/dev/null); do
			"${r##*/state-}" --root "$r" delete -f "$id" 2>/dev/null || true
		done
	done
	umount_under "$T"
	rm -rf "$T"
}

# json_str STRING: STRING as a JSON string.
json_str() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\t'/\\t}
	printf '"%s"' "${s//$'\n'/\\n}"
}

# bundle NAME MODE SCRIPT [ANNOTATION]: $T/NAME/config.json running bash
# SCRIPT, with $T/work at /work. MODE: root (no user namespace), userns
# (root maps 0 to 100000), rootless (uid 1000 maps itself to 0). The hook
# runs at the stage $STAGE (createRuntime or createContainer).
STAGE=createRuntime
bundle() {
	local name=$1 mode=$2 script=$3 ann=${4-max=8,partitions=4}
	local b=$T/$name d mounts="" ns userns="" caps annjson=""
	mkdir -p "$b/rootfs"/{proc,dev,sys,tmp,mnt,work}
	for d in bin sbin lib lib32 lib64 libx32 usr etc; do
		if [[ -L /$d ]]; then
			ln -s "$(readlink "/$d")" "$b/rootfs/$d"
		elif [[ -d /$d ]]; then
			mkdir -p "$b/rootfs/$d"
			mounts+="{\"destination\": \"/$d\", \"type\": \"bind\", \"source\": \"/$d\", \"options\": [\"rbind\", \"ro\"]},"
		fi
	done
	ns='{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}'
	case $mode in
	userns)
		ns+=', {"type": "user"}'
		userns='"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
			"gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],' ;;
	rootless)
		ns+=', {"type": "user"}'
		userns='"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
			"gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],' ;;
	esac
	caps='["CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID"]'
	# crun keeps a hook's stderr only where this annotation says
	annjson="\"annotations\": {\"run.oci.hooks.stderr\": \"$T/work/hook.err\""
	[[ -n $ann ]] && annjson+=", \"io.loopns.instance\": $(json_str "$ann")"
	annjson+="},"
	cat >"$b/config.json" <<-EOF
	{
		"ociVersion": "1.0.2",
		"process": {
			"terminal": false, "user": {"uid": 0, "gid": 0},
			"args": ["/bin/bash", "-c", $(json_str "set -e; $script")],
			"env": ["PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
			"cwd": "/",
			"capabilities": {"bounding": $caps, "effective": $caps,
				"permitted": $caps}
		},
		"root": {"path": "rootfs"},
		"hostname": "$name",
		$annjson
		"hooks": {"$STAGE": [{"path": "$HOOK", "args": ["loopns-oci-hook", "$STAGE"]}]},
		"mounts": [$mounts
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
			 "options": ["nosuid", "mode=755"]},
			{"destination": "/sys", "type": "bind", "source": "/sys",
			 "options": ["rbind", "ro"]},
			{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
			{"destination": "/dev/fuse", "type": "bind", "source": "/dev/fuse",
			 "options": ["bind"]},
			{"destination": "/work", "type": "bind", "source": "$T/work",
			 "options": ["rbind", "rw"]}
		],
		"linux": {
			$userns
			"namespaces": [$ns],
			"resources": {"devices": [
				{"allow": false, "access": "rwm"},
				{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
				{"allow": true, "type": "c", "major": $CMAJOR, "access": "rwm"},
				{"allow": true, "type": "b", "major": $MAJOR, "access": "rwm"},
				{"allow": true, "type": "b", "major": 259, "access": "rwm"}
			]}
		}
	}
	EOF
}

# oci RUNTIME MODE NAME: run bundle NAME with RUNTIME (crun, runc) in the
# foreground, as uid 1000 for MODE rootless.
oci() {
	local rt=$1 mode=$2 name=$3 root=$T/state-$1
	mkdir -p "$root"
	chmod 777 "$root"
	if [[ $mode == rootless ]]; then
		chmod 755 "$T/$name"
		setpriv --reuid=1000 --regid=1000 --clear-groups \
			env XDG_RUNTIME_DIR="$root" "$rt" --root "$root/u" run \
			--no-pivot --bundle "$T/$name" "$name"
	else
		"$rt" --root "$root" run --no-pivot --bundle "$T/$name" "$name"
	fi
}

# The scenario inside: losetup -fP on a partitioned image, mkfs, use, detach.
# USE: mount (the container may mount) or fuse (fuse2fs in a user namespace).
scenario() {
	local use=$1
	cat <<-EOS
	test "\$(readlink /dev/loop-control)" = loopns/loop-control
	dev=\$(losetup -fP --show /work/disk.img)
	test "\$dev" = /dev/loop0
	test -b /dev/loop0p1 && test -b /dev/loop0p2
	mkfs.ext4 -q -F -O ^has_journal /dev/loop0p2
	if [ $use = mount ]; then
		mount /dev/loop0p2 /mnt
		echo inside >/mnt/f
		umount /mnt
	else
		fuse2fs -o fakeroot /dev/loop0p2 /mnt
		echo inside >/mnt/f
		umount /mnt
	fi
	losetup -d /dev/loop0
	ls /dev/loopns | tr '\n' ' ' >/work/ls
	echo done >/work/ok
	EOS
}

make_disk() {
	truncate -s 24M "$T/work/disk.img"
	printf 'label: dos\n,4M\n,\n' | sfdisk -q "$T/work/disk.img"
	chmod 666 "$T/work/disk.img"
}

# no_leftovers: no loopns device beyond BASE, no instance mounted anywhere.
disks_back() {
	[[ $(lns_disk_count) -eq $BASE ]]
}
no_leftovers() {
	wait_for 20 disks_back
	! grep -q ' loopns ' /proc/[0-9]*/mountinfo 2>/dev/null
}

run_case() {
	local rt=$1 mode=$2 use=$3 STAGE=${4:-createRuntime}
	skip_unless_cmd "$rt"
	make_disk
	# ";" separates options too (podman splits --annotation at commas)
	bundle c1 "$mode" "$(scenario "$use")" 'max=8;partitions=4'
	oci "$rt" "$mode" c1 || { cat "$T/work/hook.err" 2>/dev/null; false; }
	test "$(cat "$T/work/ok")" = done
	echo "container saw: $(cat "$T/work/ls")"
	no_leftovers
}

# podman_setup: a root directory for `podman run --rootfs` (the host's
# /usr bound in), the hooks.d JSON as packaged (src/data/50-loopns.json.in)
# with the hook's path, and a containers.conf for the VM: no pivot_root
# on the initramfs root, cgroupfs and a file event log without systemd.
podman_setup() {
	local r=$T/prootfs d
	skip_unless_cmd podman fuse2fs setpriv
	mkdir -p "$T/hooks" "$r"/{proc,dev,sys,tmp,mnt,work,usr,etc,run}
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$r/$d"; done
	cp /etc/passwd /etc/group "$r/etc/"
	touch "$r"/etc/{hosts,hostname,resolv.conf} "$r/run/.containerenv"
	ln -s ../proc/self/mounts "$r/etc/mtab"
	cat >"$T/hooks/50-loopns.json" <<-EOF
	{
		"version": "1.0.0",
		"hook": {
			"path": "$HOOK",
			"args": ["loopns-oci-hook", "createContainer"]
		},
		"when": {
			"annotations": {
				"^io\\\\.loopns\\\\.instance$": ".*"
			}
		},
		"stages": ["createContainer"]
	}
	EOF
	printf '[engine]\nno_pivot_root = true\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
		>"$T/containers.conf"
	chmod 644 "$T/containers.conf"
	RULES=(--device-cgroup-rule "c $CMAJOR:* rwm" --device-cgroup-rule "b $MAJOR:* rwm"
		--device-cgroup-rule 'b 259:* rwm')
}

# pod MODE ARGS...: podman with its state under $T/pod-MODE; as uid 1000
# for MODE rootless.
pod() {
	local d=$T/pod-$1
	shift
	local -a cmd=(env CONTAINERS_CONF="$T/containers.conf" HOME="$d"
		XDG_RUNTIME_DIR="$d/xdg" podman --root "$d/root" --runroot "$d/run"
		--storage-driver vfs --hooks-dir "$T/hooks" "$@")
	mkdir -p "$d/xdg"
	if [[ $d == */pod-rootless ]]; then
		chown -R 1000:1000 "$d"
		setpriv --reuid=1000 --regid=1000 --clear-groups "${cmd[@]}"
	else
		"${cmd[@]}"
	fi
}

# podman_case MODE USE [ARGS...]: the scenario in `podman run --rootfs`
# with the annotation (";" between options: podman splits at commas) and
# MODE's ARGS; nothing left behind.
podman_case() {
	local mode=$1 use=$2
	shift 2
	make_disk
	pod "$mode" run --rm --rootfs --network none --cap-add SYS_ADMIN \
		--annotation 'io.loopns.instance=max=8;partitions=4' \
		--annotation "run.oci.hooks.stderr=$T/work/hook.err" \
		--security-opt unmask=/sys/dev/block \
		-v /usr:/usr:ro -v "$T/work:/work" "$@" \
		"$T/prootfs" /bin/bash -c "set -e; $(scenario "$use")" ||
		{ cat "$T/work/hook.err" 2>/dev/null; false; }
	test "$(cat "$T/work/ok")" = "done"
	echo "container saw: $(cat "$T/work/ls")"
	# no warning from the hook
	! grep . "$T/work/hook.err" || false
	no_leftovers
}

# (Rootful podman with --uidmap is not here: crun runs a createContainer
# hook in the bundle directory, which podman keeps 0700 for the host's
# root, so the container's root cannot start it; see the README.)
@test "podman rootful, --rootfs and --hooks-dir: losetup -fP, mkfs, mount; podman's /sys/dev/block mask" {
	podman_setup
	podman_case root mount "${RULES[@]}"
	# without unmask: the container gets its links, the hook says what
	# losetup lacks and how to lift podman's mask
	# shellcheck disable=SC2016
	pod root run --rm --rootfs --network none "${RULES[@]}" \
		--annotation io.loopns.instance=1 \
		--annotation "run.oci.hooks.stderr=$T/work/hook.err" \
		-v /usr:/usr:ro "$T/prootfs" /bin/bash -c 'test -L /dev/loop0 && test -z "$(ls /sys/dev/block)"'
	cat "$T/work/hook.err"
	grep -q 'unmask=/sys/dev/block' "$T/work/hook.err"
	no_leftovers
}

@test "podman rootless (uid 1000): losetup -fP, mkfs, fuse2fs, detach" {
	podman_setup
	podman_case rootless fuse --cgroups disabled --device /dev/fuse
}

# lxc_case MODE USE: lxc-execute with `loopnsctl setup-dev` in
# lxc.hook.autodev (the README's recipe) and the three majors in
# lxc.cgroup2.devices.allow behind a deny-all; MODE userns maps root to
# 100000 (lxc.idmap).
lxc_case() {
	local mode=$1 use=$2 r=$T/lxcroot d first
	skip_unless_cmd lxc-execute loopnsctl
	# liblxc mounts the container's root here
	mkdir -p /usr/lib/x86_64-linux-gnu/lxc/rootfs "$r"/{proc,dev,sys,tmp,mnt,work,usr}
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$r/$d"; done
	make_disk
	cat >"$T/lxc.conf" <<-EOF
	lxc.uts.name = lns
	lxc.rootfs.path = dir:$r
	lxc.mount.auto = proc:rw sys:ro
	lxc.mount.entry = /usr usr none bind,ro 0 0
	lxc.mount.entry = $T/work work none bind 0 0
	lxc.mount.entry = /dev/fuse dev/fuse none bind,create=file 0 0
	lxc.autodev = 1
	lxc.net.0.type = empty
	lxc.apparmor.profile = unconfined
	lxc.cgroup2.devices.deny = a
	lxc.cgroup2.devices.allow = c 1:* rwm
	lxc.cgroup2.devices.allow = c 5:* rwm
	lxc.cgroup2.devices.allow = c 136:* rwm
	lxc.cgroup2.devices.allow = c 10:229 rwm
	lxc.cgroup2.devices.allow = c $CMAJOR:* rwm
	lxc.cgroup2.devices.allow = b $MAJOR:* rwm
	lxc.cgroup2.devices.allow = b 259:* rwm
	lxc.hook.autodev = sh -c 'loopnsctl setup-dev "\$LXC_ROOTFS_MOUNT/dev" --max 8 --partitions 4'
	EOF
	if [[ $mode == userns ]]; then
		printf 'lxc.idmap = %s 0 100000 65536\n' u g >>"$T/lxc.conf"
		chmod 755 "$T"
	fi
	lxc-execute -P "$T" -n lns -f "$T/lxc.conf" -o "$T/lxc.log" -l INFO -- \
		/bin/bash -c "set -e; cat /proc/self/uid_map >/work/uid_map; $(scenario "$use")" ||
		{ grep -v ' INFO ' "$T/lxc.log"; false; }
	test "$(cat "$T/work/ok")" = "done"
	cat "$T/work/uid_map"
	if [[ $mode == userns ]]; then
		read -r _ first _ <"$T/work/uid_map"
		test "$first" = 100000
	fi
	echo "container saw: $(cat "$T/work/ls")"
	no_leftovers
}

@test "LXC rootful: lxc-execute, setup-dev in lxc.hook.autodev: losetup -fP, mkfs, mount, detach" {
	lxc_case root mount
}

@test "LXC, user namespace (lxc.idmap 0 -> 100000): losetup -fP, mkfs, fuse2fs" {
	skip_unless_cmd fuse2fs
	lxc_case userns fuse
}

# systemd-nspawn with private users: the container's root runs
# `loopnsctl setup-dev /dev` itself (the README's recipe; loopnsctl comes
# with the host's /usr here). Without systemd
# as PID 1 there is no unit to carry DeviceAllow=, so --keep-unit and no
# device cgroup; nspawn wants the host's os-release and machine-id.
@test "systemd-nspawn --private-users=100000:65536, setup-dev inside: losetup -fP, mkfs, fuse2fs" {
	local r=$T/nsroot d
	skip_unless_cmd systemd-nspawn loopnsctl fuse2fs
	[[ -e /etc/os-release ]] || echo ID=loopns-vm >/etc/os-release
	[[ -e /etc/machine-id ]] || echo 0123456789abcdef0123456789abcdef >/etc/machine-id
	mkdir -p "$r"/{proc,dev,sys,tmp,mnt,work,usr,etc,run}
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$r/$d"; done
	cp /etc/passwd /etc/group /etc/os-release /etc/machine-id "$r/etc/"
	chown -R 100000:100000 "$r"
	make_disk
	systemd-nspawn -q -D "$r" --register=no --keep-unit \
		--private-users=100000:65536 --private-users-ownership=off \
		--bind-ro=/usr --bind="$T/work:/work" --bind=/dev/fuse \
		/bin/bash -c "set -e; loopnsctl setup-dev /dev --max 8 --partitions 4
			cat /proc/self/uid_map >/work/uid_map; $(scenario fuse)"
	test "$(cat "$T/work/ok")" = "done"
	echo "container saw: $(cat "$T/work/ls")"
	read -r _ d _ <"$T/work/uid_map"
	test "$d" = 100000
	no_leftovers
}

@test "crun rootful: losetup -fP, mkfs, mount, detach; no leftovers" {
	run_case crun root mount
}

@test "crun, user namespace (0 -> 100000): losetup -fP, mkfs, fuse2fs" {
	skip_unless_cmd fuse2fs
	run_case crun userns fuse
}

@test "crun rootless (uid 1000), hook at createContainer: losetup -fP, mkfs, fuse2fs" {
	skip_unless_cmd fuse2fs setpriv
	run_case crun rootless fuse createContainer
}

@test "runc rootful, hook at createContainer: losetup -fP, mkfs, mount, detach" {
	run_case runc root mount createContainer
}

@test "runc, user namespace (0 -> 100000): losetup -fP, mkfs, fuse2fs" {
	skip_unless_cmd fuse2fs
	run_case runc userns fuse
}

# (Never a bare `wait`: bats's own test timeout is a background job too.)
@test "two containers at once each see their own loop0 only" {
	local c pids=()
	for c in a b; do
		truncate -s 1M "$T/work/$c.img"
		bundle "c$c" root "
			losetup -f --show /work/$c.img >/work/$c.dev
			losetup -nO BACK-FILE /dev/loop0 >/work/$c.back
			ls /dev/loopns | tr '\n' ' ' >/work/$c.ls
			touch /work/$c.ready
			for i in \$(seq 600); do [ -e /work/go ] && break; sleep 0.1; done
			losetup -d /dev/loop0"
		oci crun root "c$c" >"$T/$c.out" 2>&1 3>&- &
		pids+=($!)
	done
	wait_for 60 test -e "$T/work/a.ready" -a -e "$T/work/b.ready" ||
		{ touch "$T/work/go"; wait "${pids[@]}"; cat "$T"/*.out; false; }
	test "$(lns_disk_count)" -eq $((BASE + 2))
	touch "$T/work/go"
	wait "${pids[@]}"
	cat "$T"/*.out
	for c in a b; do
		echo "$c: $(cat "$T/work/$c.dev") $(cat "$T/work/$c.back") [$(cat "$T/work/$c.ls")]"
		test "$(cat "$T/work/$c.dev")" = /dev/loop0
		test "$(cat "$T/work/$c.back")" = "/work/$c.img"
		test "$(cat "$T/work/$c.ls")" = "loop-control loop0 "
	done
	no_leftovers
}

@test "teardown: exit with a device bound, kill -9 of init, kill -9 of crun" {
	local pid
	truncate -s 1M "$T/work/img"
	# a normal exit that leaves its device bound
	bundle ce root "losetup -f /work/img"
	oci crun root ce
	no_leftovers
	# kill -9 of the container's init
	bundle ck root "losetup -f /work/img; touch /work/k.ready; exec sleep 120"
	oci crun root ck 3>&- &
	pid=$!
	wait_for 30 test -e "$T/work/k.ready"
	test "$(lns_disk_count)" -eq $((BASE + 1))
	kill -9 "$(crun --root "$T/state-crun" state ck | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')"
	wait "$pid" || true
	no_leftovers
	# kill -9 of the runtime: the container's init outlives it, then exits
	bundle cr root "losetup -f /work/img; touch /work/r.ready; sleep 2"
	crun --root "$T/state-crun" run --no-pivot --bundle "$T/cr" cr 3>&- &
	wait_for 30 test -e "$T/work/r.ready"
	pid=$!
	kill -9 "$pid"
	wait "$pid" || true
	no_leftovers
}

@test "no annotation: the hook does nothing; bad annotation: the runtime fails with the cause" {
	bundle cn root 'test ! -e /dev/loop-control; test ! -e /dev/loopns; echo ok >/work/ok' ""
	oci crun root cn
	test "$(cat "$T/work/ok")" = ok
	bundle cb root 'true' 'max=0'
	run oci crun root cb
	echo "$output"
	cat "$T/work/hook.err"
	[ "$status" -ne 0 ]
	grep -q 'bad max=0' "$T/work/hook.err"
	no_leftovers
	# nothing added to the host's /dev
	! ls /dev | grep -q '^loopns'
}
