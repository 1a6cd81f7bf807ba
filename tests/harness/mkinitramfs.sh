#!/bin/bash
# Build the guest initramfs for the loopns VM harness.
#
#   mkinitramfs.sh base KVER
#       Assemble (or reuse) the cached base archive for KVER and print the
#       directory holding it: <dir>/base.cpio and <dir>/root (the staging tree).
#       Cache: $LOOPNS_CACHE/initramfs/<kver>-<hash>/, hash over the inputs
#       (this script, the installed package versions, the kernel's module
#       index and config, the module list).
#   mkinitramfs.sh payload KVER OUT.cpio RUN_ENV [MODULE.ko] [EXTRA_DIR...]
#       Small per-run archive appended after the base one: /init, the run
#       configuration, loopns.ko under updates/ with a regenerated module
#       index, tests/ at /opt/loopns/tests, build/helpers/* in /usr/local/bin.
#       EXTRA_DIR entries "src=dst" are copied to /dst in the guest.
#
# Environment: LOOPNS_EXTRA_MODULES (more kernel modules to include).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Whole packages whose programs go in (if installed).
PACKAGES=(coreutils util-linux mount fdisk util-linux-extra e2fsprogs fuse2fs
	findutils diffutils grep sed gawk kmod procps psmisc bsdextrautils
	xxd tar gzip xz-utils zstd cpio strace fio libc-bin)
# Single programs (if installed). podman and conmon (33 MB), lxc-execute
# and init.lxc (1.5 MB), systemd-nspawn (4 MB) for the container tests
# (tests/bats/34-oci-hook.bats).
PROGRAMS=(bash busybox udevadm capsh setcap getcap crun runc podman conmon
	lxc-execute init.lxc systemd-nspawn
	hexdump getent ldd mkfs.xfs mkfs.btrfs)
# Kernel modules the guest may load; built-in or absent ones are skipped.
MODULES=(loop fuse virtio_pci virtio_blk virtio_console crc32c_intel
	null_blk brd overlay squashfs xfs btrfs ${LOOPNS_EXTRA_MODULES:-})

declare -A SEEN=()
ROOT=

# Copy one path into $ROOT at its canonical location, following symlink
# chains so that both the links and their targets exist in the guest.
add_path() {
	local src=$1 dir base dst tgt
	[[ -e $src || -L $src ]] || return 0
	dir=$(realpath -e "$(dirname "$src")") || return 0
	base=$(basename "$src")
	src=$dir/$base
	[[ -n ${SEEN[$src]:-} ]] && return 0
	SEEN[$src]=1
	dst=$ROOT$src
	mkdir -p "$ROOT$dir"
	if [[ -L $src ]]; then
		tgt=$(readlink "$src")
		ln -sfn "$tgt" "$dst"
		[[ $tgt == /* ]] || tgt=$dir/$tgt
		add_path "$tgt"
	elif [[ -d $src ]]; then
		mkdir -p "$dst"
	else
		cp -p "$src" "$dst"
	fi
}

# Copy an executable and its shared-library closure.
add_prog() {
	local p=$1 lib
	add_path "$p"
	[[ -f $p && ! -L $p ]] || p=$(realpath -e "$p") || return 0
	[[ -n ${SEEN["ldd:$p"]:-} ]] && return 0
	SEEN["ldd:$p"]=1
	while read -r lib; do
		add_path "$lib"
	done < <(ldd "$p" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}')
}

add_tree() {
	local f
	while IFS= read -r -d '' f; do
		if [[ -f $f && -x $f && ! -L $f ]]; then add_prog "$f"; else add_path "$f"; fi
	done < <(find "$1" -print0)
}

base_key() {
	{
		cat "${BASH_SOURCE[0]}"
		echo "$KV ${MODULES[*]}"
		# Installed packages (not the project's own, e.g. a loopns-dkms
		# being tried out), the kernel modules we take, the config.
		dpkg-query -W -f '${db:Status-Status} ${Package} ${Version}\n' |
			awk '$1 == "installed" && $2 !~ /^loopns/'
		modules_for | xargs -r stat -L -c '%n %s %Y'
		stat -L -c '%n %s %Y' "/boot/config-$KV" 2>/dev/null || true
	} | sha256sum | cut -c1-16
}

modules_for() {
	# Prints module file paths for $KV needed by MODULES (with deps).
	local m
	for m in "${MODULES[@]}"; do
		modprobe -S "$KV" --show-depends "$m" 2>/dev/null |
			awk '$1=="insmod"{print $2}' || true
	done | sort -u
}

build_base() {
	local cache out tmp p pkg f
	cache=$LOOPNS_CACHE/initramfs
	out=$cache/$KV-$(base_key)
	mkdir -p "$cache"
	exec 9>"$cache/.lock-$KV"
	flock 9
	if [[ -f $out/base.cpio ]]; then
		printf '%s\n' "$out"
		return
	fi
	log "assembling base initramfs for $KV (cached in $out)"
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.build-XXXXXX")
	ROOT=$tmp/root
	mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,dev,proc,sys,run,tmp,mnt/scratch,root,etc,var/tmp,usr/local/bin,opt/loopns}
	ln -s usr/bin "$ROOT/bin"
	ln -s usr/sbin "$ROOT/sbin"
	ln -s usr/lib "$ROOT/lib"
	ln -s usr/lib64 "$ROOT/lib64"
	ln -s ../run "$ROOT/var/run"
	chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
	mknod "$ROOT/dev/console" c 5 1 2>/dev/null || true
	mknod "$ROOT/dev/null" c 1 3 2>/dev/null || true

	for pkg in "${PACKAGES[@]}"; do
		dpkg-query -W "$pkg" >/dev/null 2>&1 || { warn "package $pkg not installed; skipped"; continue; }
		while read -r f; do
			[[ $f =~ ^/(usr/)?s?bin/ ]] || continue
			add_prog "$f"
		done < <(dpkg -L "$pkg")
	done
	for p in "${PROGRAMS[@]}"; do
		f=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v "$p") || { warn "program $p not found; skipped"; continue; }
		add_prog "$f"
	done
	# bats: the launcher plus its libexec and lib trees.
	for f in /usr/bin/bats /usr/lib/bats-core /usr/libexec/bats-core; do
		add_tree "$f"
	done
	# /bin/sh is bash: busybox sh would run its own applets (vm-notes.md).
	ln -sfn bash "$ROOT/usr/bin/sh"
	[[ -e $ROOT/usr/bin/gawk ]] && ln -sfn gawk "$ROOT/usr/bin/awk"

	# Configuration files.
	for f in /etc/mke2fs.conf /etc/e2scrub.conf /etc/ld.so.conf /etc/ld.so.conf.d \
		/etc/fuse.conf /etc/protocols /etc/services; do
		[[ -e $f ]] && cp -a "$f" "$ROOT/etc/"
	done
	cat >"$ROOT/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
tester:x:1000:1000:unprivileged test user:/tmp:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PW
	cat >"$ROOT/etc/group" <<'GR'
root:x:0:
daemon:x:1:
disk:x:6:
tester:x:1000:
nogroup:x:65534:
GR
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$ROOT/etc/nsswitch.conf"
	printf '127.0.0.1 localhost loopns-vm\n' >"$ROOT/etc/hosts"
	echo loopns-vm >"$ROOT/etc/hostname"
	: >"$ROOT/etc/fstab"
	ln -sfn ../proc/self/mounts "$ROOT/etc/mtab"
	echo 'root:100000:65536' >"$ROOT/etc/subuid"
	echo 'root:100000:65536' >"$ROOT/etc/subgid"
	mkdir -p "$ROOT/etc/modprobe.d" "$ROOT/etc/depmod.d"
	ldconfig -r "$ROOT"

	# Kernel: config and a module subset with its index.
	mkdir -p "$ROOT/boot" "$ROOT/usr/lib/modules/$KV"
	cp "/boot/config-$KV" "$ROOT/boot/"
	for f in modules.builtin modules.builtin.modinfo modules.order; do
		[[ -e /lib/modules/$KV/$f ]] && cp "/lib/modules/$KV/$f" "$ROOT/usr/lib/modules/$KV/"
	done
	while read -r f; do
		[[ -n $f ]] || continue
		p=${f#/lib/modules/"$KV"/}
		p=${p#/usr/lib/modules/"$KV"/}
		mkdir -p "$ROOT/usr/lib/modules/$KV/$(dirname "$p")"
		cp "$f" "$ROOT/usr/lib/modules/$KV/$p"
	done < <(modules_for)
	depmod -b "$ROOT" "$KV"

	(cd "$ROOT" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$tmp/base.cpio"
	rm -rf "$out"
	mv -T "$tmp" "$out"
	# Keep only the newest two base archives per kernel.
	ls -1dt "$cache/$KV"-* 2>/dev/null | tail -n +3 | xargs -r rm -rf
	log "base initramfs $KV: $(du -h "$out/base.cpio" | cut -f1)"
	printf '%s\n' "$out"
}

build_payload() {
	local out=$1 env=$2 ko=${3:-} base stage md f spec
	shift 3 || shift $#
	base=$(build_base)
	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' RETURN
	install -D -m 0755 "$REPO_ROOT/tests/guest/init" "$stage/init"
	install -D -m 0644 "$env" "$stage/etc/loopns/run.env"
	# tests/ tree (bats files, guest scripts, helper sources, data).
	mkdir -p "$stage/opt/loopns"
	cp -a "$REPO_ROOT/tests" "$stage/opt/loopns/tests"
	for spec in "$@"; do
		mkdir -p "$stage/${spec#*=}"
		cp -a "${spec%%=*}/." "$stage/${spec#*=}/"
	done
	if [[ -d $BUILD_DIR/helpers ]]; then
		mkdir -p "$stage/usr/local/bin"
		cp -a "$BUILD_DIR/helpers/." "$stage/usr/local/bin/"
		# Shared libraries of the helpers that the base lacks (soname link
		# and real file, in their canonical directory).
		local lib real dir
		for f in "$BUILD_DIR"/helpers/*; do
			[[ -f $f && -x $f ]] || continue
			while read -r lib; do
				real=$(realpath -e "$lib") || continue
				dir=$(dirname "$real")
				lib=$dir/$(basename "$lib")
				[[ -e $base/root$lib ]] && continue
				install -D -m 0644 "$real" "$stage$real"
				[[ $lib == "$real" ]] || ln -sfn "$(basename "$real")" "$stage$lib"
			done < <(ldd "$f" 2>/dev/null | awk '/=> \//{print $3}')
		done
	fi
	# Module index with loopns.ko in updates/.
	md=$stage/usr/lib/modules/$KV
	mkdir -p "$md"
	ln -s usr/lib "$stage/lib" # for depmod -b; not archived
	cp -a "$base/root/usr/lib/modules/$KV/." "$md/"
	if [[ -n $ko ]]; then
		mkdir -p "$md/updates"
		cp "$ko" "$md/updates/loopns.ko"
	fi
	depmod -b "$stage" "$KV"
	# Only the index and updates/ need to travel: the rest is in the base.
	(cd "$stage" && find . -mindepth 1 ! -path ./lib \
		! -path "./usr/lib/modules/$KV/kernel" ! -path "./usr/lib/modules/$KV/kernel/*" \
		! -name modules.builtin ! -name modules.builtin.modinfo ! -name modules.order -printf '%P\n' |
		LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$out"
}

cmd=${1:-}
KV=${2:-}
[[ -n $cmd && -n $KV ]] || die "usage: $0 base KVER | payload KVER OUT RUN_ENV [KO] [SRC=DST...]"
[[ -d /lib/modules/$KV ]] || die "no /lib/modules/$KV"
case $cmd in
base) build_base ;;
payload) shift 2; build_payload "$@" ;;
*) die "unknown command $cmd" ;;
esac
