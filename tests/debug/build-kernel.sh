#!/bin/bash
# Build (once) and install the loopns debug kernel: Debian's linux-source-6.12
# with `make defconfig` + tests/debug/debug.config (KASAN, UBSAN, lockdep,
# kmemleak, hung-task detection, fault injection).
#
#   build-kernel.sh [build]   build unless cached, install the symlinks, print KVER
#   build-kernel.sh kver      print the debug kernel release (needs a build)
#   build-kernel.sh status    cached? build time? key?
#   build-kernel.sh config    only generate and verify .config (fast)
#
# Cache: $LOOPNS_CACHE/debug-kernel/ (default /var/cache/loopns/debug-kernel)
#   src/<pkgver>/linux-source-6.12/   our own unpacked copy (never built in:
#                                     objects go to <key>/obj via O=)
#   <key>/obj/                        the kernel build tree (KDIR for loopns)
#   <key>/root/lib/modules/<kver>/    `make modules_install` output
#   <key>/vmlinuz <key>/config <key>/System.map <key>/build.log
#   <key>/build-seconds               wall-clock build time
#   current -> <key>
# <key> hashes the config fragment, KEY_VERSION below, the gcc version and
# the linux-source package version: change any and the next run rebuilds.
#
# Installed for the harness (which looks in /lib/modules and /boot):
#   /lib/modules/<kver>        -> <key>/root/lib/modules/<kver>
#       (its build -> <key>/obj, so `make KVER=<kver>` builds loopns)
#   /boot/vmlinuz-<kver>       -> <key>/vmlinuz
#   /boot/config-<kver>        -> <key>/config
#   /boot/System.map-<kver>    -> <key>/System.map
# <kver> is 6.12.<n>-loopns-debug (LOCALVERSION), distinct from Debian's.
#
# Environment: LOOPNS_DEBUG_JOBS (make -j, default 2), LOOPNS_CACHE,
# LOOPNS_KERNEL_TARBALL (default /usr/src/linux-source-6.12.tar.xz).
set -euo pipefail

KEY_VERSION=1 # bump when the build procedure changes the result
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FRAGMENT=$HERE/debug.config
CACHE=${LOOPNS_CACHE:-/var/cache/loopns}/debug-kernel
TARBALL=${LOOPNS_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
JOBS=${LOOPNS_DEBUG_JOBS:-2}

log() { printf '[debug-kernel] %s\n' "$*" >&2; }
die() { printf '[debug-kernel] error: %s\n' "$*" >&2; exit 2; }

pkg_version() {
	dpkg-query -W -f '${Version}' linux-source-6.12 2>/dev/null ||
		stat -c '%s-%Y' "$TARBALL"
}

cache_key() {
	{
		echo "key-version $KEY_VERSION"
		cat "$FRAGMENT"
		gcc --version | head -n 1
		echo "source $(pkg_version)"
	} | sha256sum | cut -c1-16
}

KEY=$(cache_key)
OUT=$CACHE/$KEY
SRC=$CACHE/src/$(pkg_version | tr -c 'A-Za-z0-9.+\n-' _)/linux-source-6.12

need_tools() {
	local t missing=()
	for t in gcc make flex bison bc perl xz cpio; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	[[ -e /usr/include/libelf.h ]] || missing+=(libelf-dev)
	[[ -e /usr/include/openssl/ssl.h ]] || missing+=(libssl-dev)
	if ((${#missing[@]})); then
		log "installing build dependencies: ${missing[*]}"
		apt-get install -y -q flex bison bc libelf-dev libssl-dev xz-utils cpio >&2 ||
			die "missing build tools: ${missing[*]}"
	fi
}

unpack() {
	[[ -f $SRC/.unpacked ]] && return
	[[ -r $TARBALL ]] || die "no $TARBALL (apt-get install linux-source-6.12)"
	log "unpacking $TARBALL into $(dirname "$SRC")"
	rm -rf "$(dirname "$SRC")"
	mkdir -p "$(dirname "$SRC")"
	tar -xJf "$TARBALL" -C "$(dirname "$SRC")"
	touch "$SRC/.unpacked"
}

# Generate $OUT/obj/.config and check that every option of the fragment
# has the value the fragment asks for.
configure() {
	local line opt want got bad=0
	mkdir -p "$OUT/obj"
	make -s -C "$SRC" O="$OUT/obj" defconfig >/dev/null
	(cd "$SRC" && KCONFIG_CONFIG="$OUT/obj/.config" scripts/kconfig/merge_config.sh \
		-m -O "$OUT/obj" "$OUT/obj/.config" "$FRAGMENT" >/dev/null)
	make -s -C "$SRC" O="$OUT/obj" olddefconfig >/dev/null
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			opt=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
			opt=${BASH_REMATCH[1]} want=n
		else
			continue
		fi
		got=$(sed -n "s/^$opt=//p" "$OUT/obj/.config")
		[[ -n $got ]] || got=n
		if [[ $got != "$want" ]]; then
			log "config: $opt wanted $want, got $got"
			bad=1
		fi
	done <"$FRAGMENT"
	((bad == 0)) || die "the fragment does not apply cleanly to defconfig (see above)"
}

install_links() {
	local kver=$1
	ln -sfn "$KEY" "$CACHE/current"
	# Replace only our own links (or nothing): never a real Debian kernel.
	local l
	for l in "/lib/modules/$kver" "/boot/vmlinuz-$kver" "/boot/config-$kver" "/boot/System.map-$kver"; do
		[[ -e $l && ! -L $l ]] && die "$l exists and is not a symlink; refusing to touch it"
	done
	ln -sfn "$OUT/root/lib/modules/$kver" "/lib/modules/$kver"
	ln -sfn "$OUT/vmlinuz" "/boot/vmlinuz-$kver"
	ln -sfn "$OUT/config" "/boot/config-$kver"
	ln -sfn "$OUT/System.map" "/boot/System.map-$kver"
}

build() {
	local t0 t1 kver
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	if ! flock -n 9; then
		log "another build holds $CACHE/.lock; waiting"
		flock 9
	fi
	if [[ -f $OUT/.done ]]; then
		kver=$(cat "$OUT/kver")
		install_links "$kver"
		log "cached: $kver ($OUT, built in $(cat "$OUT/build-seconds")s)"
		echo "$kver"
		return
	fi
	need_tools
	unpack
	log "building the debug kernel in $OUT (make -j$JOBS, nice 19; 20-60 min)"
	t0=$(date +%s)
	configure
	if ! nice -n 19 make -C "$SRC" O="$OUT/obj" -j"$JOBS" bzImage modules >"$OUT/build.log" 2>&1; then
		tail -n 40 "$OUT/build.log" >&2
		die "kernel build failed (full log: $OUT/build.log)"
	fi
	kver=$(cat "$OUT/obj/include/config/kernel.release")
	[[ $kver == *-loopns-debug ]] || die "unexpected kernel release $kver"
	rm -rf "$OUT/root"
	make -s -C "$SRC" O="$OUT/obj" INSTALL_MOD_PATH="$OUT/root" modules_install >>"$OUT/build.log" 2>&1 ||
		die "modules_install failed (see $OUT/build.log)"
	# The tree external modules build against (replaces any dangling link).
	rm -f "$OUT/root/lib/modules/$kver/build" "$OUT/root/lib/modules/$kver/source"
	ln -s "$OUT/obj" "$OUT/root/lib/modules/$kver/build"
	cp "$OUT/obj/arch/x86/boot/bzImage" "$OUT/vmlinuz"
	cp "$OUT/obj/.config" "$OUT/config"
	cp "$OUT/obj/System.map" "$OUT/System.map"
	echo "$kver" >"$OUT/kver"
	t1=$(date +%s)
	echo $((t1 - t0)) >"$OUT/build-seconds"
	touch "$OUT/.done"
	install_links "$kver"
	# Keep the newest two builds.
	ls -1dt "$CACHE"/*/.done 2>/dev/null | tail -n +3 | xargs -r -n1 dirname | xargs -r rm -rf
	log "built $kver in $((t1 - t0))s"
	echo "$kver"
}

case ${1:-build} in
build) build ;;
kver)
	[[ -f $OUT/.done ]] || die "not built yet (run $0 build)"
	cat "$OUT/kver"
	;;
status)
	if [[ -f $OUT/.done ]]; then
		echo "built: $(cat "$OUT/kver") key=$KEY dir=$OUT seconds=$(cat "$OUT/build-seconds")"
	else
		echo "not built: key=$KEY dir=$OUT"
		exit 1
	fi
	;;
config)
	need_tools
	unpack
	configure
	log "config OK: $OUT/obj/.config"
	;;
-h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
*) die "usage: $0 [build|kver|status|config]" ;;
esac
