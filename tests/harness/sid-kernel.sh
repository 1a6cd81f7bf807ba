#!/bin/bash
# The newest Debian kernel (sid's cloud flavour) for the VM harness, and a
# sid chroot to build loopns.ko for it: sid's headers need sid's compiler
# (gcc-16-for-host), which this Debian 12 host does not have.
#
# Usage: tests/harness/sid-kernel.sh COMMAND [ARGS]
#   prepare            (idempotent, as root) make the newest sid cloud kernel
#                      usable by tests/harness; prints its release last
#   kver               print the prepared kernel release (exit 1 if none)
#   has KVER           exit 0 when KVER was prepared here (kernel + chroot)
#   make DIR ARGS...   run `make -C DIR ARGS...` inside the chroot, DIR
#                      bind-mounted at the same path (objects land in DIR)
#   lint DIR           rebuild DIR's loopns.ko for the sid kernel with W=1
#                      and sparse (C=1); fails on any warning, like
#                      `make sparse` does for the host's kernels
#   shell [DIR]        interactive shell in the chroot (DIR mounted)
#   clean              remove everything this script created
#
# What `prepare` does, each step skipped when already done:
#   1. apt (own sources list, lists, archives and status: the host's apt
#      state is untouched) fetches sid's package lists, at most once per
#      LOOPNS_SID_REFRESH seconds (default 21600; 0 = always), and finds the
#      release that linux-image-cloud-amd64 points at (or LOOPNS_SID_KVER).
#   2. linux-binary-, linux-modules- and linux-base-<kver> are downloaded and
#      unpacked with dpkg-deb -x into kernel/<kver>/, then depmod.
#   3. The host gets two symlinks, which is all tests/harness needs:
#        /lib/modules/<kver>   -> kernel/<kver>/usr/lib/modules/<kver>
#                                 (vmlinuz, config, modules; no build/)
#        /boot/config-<kver>   -> .../config   (read by mkinitramfs.sh)
#      No /boot/vmlinuz-<kver>: update-grub would pick that up.
#   4. debootstrap --variant=minbase sid chroot/ with gcc-16, make, libc6-dev
#      and linux-headers-<kver>-cloud-amd64; an existing chroot only gets the
#      new headers (and is rebuilt if that fails). Older kernels' trees,
#      symlinks and headers are removed.
# Cache (outside the work tree): $LOOPNS_CACHE/sid (default
# /var/cache/loopns/sid), about 1.1 GiB. A lock serialises prepare runs
# against each other and against builds.
#
# The harness builds for such a kernel through `make` here when
# /lib/modules/<kver>/build is absent (tests/harness/lib.sh), and lists it
# among the default kernels with LOOPNS_SID=1.
set -euo pipefail

LOOPNS_CACHE=${LOOPNS_CACHE:-/var/cache/loopns}
SID=${LOOPNS_SID_CACHE:-$LOOPNS_CACHE/sid}
MIRROR=${LOOPNS_SID_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
REFRESH=${LOOPNS_SID_REFRESH:-21600}
FLAVOUR=cloud-amd64
CHROOT=$SID/chroot
APTDIR=$SID/apt
# sparse: `make C=1` for the sid kernel too.
CHROOT_PACKAGES=gcc-16,make,libc6-dev,sparse

log() { printf '[sid-kernel] %s\n' "$*" >&2; }
die() { printf '[sid-kernel] error: %s\n' "$*" >&2; exit 2; }

need_root() { ((EUID == 0)) || die "$1 needs root"; }

# ------------------------------------------------------------------ apt

APT_OPTS=(
	-o "Dir::Etc::SourceList=$APTDIR/sources.list"
	-o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
	-o "Dir::State=$APTDIR/state"
	-o "Dir::State::Lists=$APTDIR/lists"
	-o "Dir::State::status=$APTDIR/status"
	-o "Dir::Cache=$APTDIR/cache"
	-o "Dir::Cache::Archives=$APTDIR/archives"
	-o "APT::Architecture=amd64"
	-o "APT::Architectures=amd64"
	-o "Acquire::Languages=none"
	-o "APT::Sandbox::User=root"
)

apt_setup() {
	mkdir -p "$APTDIR"/{sources.list.d,state,lists/partial,cache,archives/partial}
	printf 'deb [signed-by=%s] %s sid main\n' "$KEYRING" "$MIRROR" >"$APTDIR/sources.list"
	: >>"$APTDIR/status"
}

# Refresh sid's lists when older than $REFRESH seconds. A failed refresh is
# not fatal while older lists exist.
apt_refresh() {
	local stamp=$APTDIR/lists/.updated now age
	now=$(date +%s)
	if [[ -f $stamp ]]; then
		age=$((now - $(stat -c %Y "$stamp")))
		if ((REFRESH > 0 && age < REFRESH)); then
			log "sid package lists are ${age}s old (refresh after ${REFRESH}s)"
			return 0
		fi
	fi
	log "fetching sid package lists"
	if apt-get -q "${APT_OPTS[@]}" update >"$SID/apt-update.log" 2>&1; then
		touch "$stamp"
	elif [[ -f $stamp ]]; then
		log "warning: apt-get update failed; using the lists from $(date -r "$stamp")"
	else
		cat "$SID/apt-update.log" >&2
		die "apt-get update for sid failed"
	fi
}

# Release the cloud meta-package points at, e.g. 7.2.13+deb14-cloud-amd64.
newest_kver() {
	apt-cache "${APT_OPTS[@]}" depends "linux-image-$FLAVOUR" 2>/dev/null |
		sed -n "s/^ *Depends: linux-image-\(.*-$FLAVOUR\)\$/\1/p" | head -n 1
}

# ------------------------------------------------------------------ kernel

kernel_root() { printf '%s\n' "$SID/kernel/$1"; }
modules_dir() { printf '%s\n' "$SID/kernel/$1/usr/lib/modules/$1"; }

unpack_kernel() {
	local k=$1 root tmp p deb
	root=$(kernel_root "$k")
	[[ -f $root/.complete ]] && return 0
	log "downloading the $k kernel image and modules"
	(cd "$APTDIR/archives" &&
		apt-get -q "${APT_OPTS[@]}" download "linux-binary-$k" "linux-modules-$k" "linux-base-$k" \
			>"$SID/apt-download.log" 2>&1) || {
		cat "$SID/apt-download.log" >&2
		die "downloading the $k packages failed"
	}
	tmp=$SID/kernel/.unpack-$k
	rm -rf "$tmp"
	mkdir -p "$tmp"
	for p in binary modules base; do
		for deb in "$APTDIR/archives/linux-$p-${k}_"*.deb; do
			dpkg-deb -x "$deb" "$tmp"
		done
	done
	[[ -f $tmp/usr/lib/modules/$k/vmlinuz && -f $tmp/usr/lib/modules/$k/config ]] ||
		die "the $k packages have no vmlinuz or config under /usr/lib/modules/$k"
	ln -sfn usr/lib "$tmp/lib" # depmod -b reads <base>/lib/modules
	depmod -b "$tmp" "$k"
	touch "$tmp/.complete"
	rm -rf "$root"
	mv -T "$tmp" "$root"
	rm -f "$APTDIR/archives/linux-"*"-${k}_"*.deb
}

# The two host symlinks (see the header). Refuses to replace anything that
# is not a symlink into our cache.
link_kernel() {
	local k=$1 mods
	mods=$(modules_dir "$k")
	link_one "$mods" "/lib/modules/$k"
	link_one "$mods/config" "/boot/config-$k"
}

link_one() {
	local target=$1 link=$2
	if [[ -e $link || -L $link ]]; then
		[[ -L $link && $(readlink "$link") == "$SID/"* ]] ||
			die "$link exists and is not ours; refusing to replace it"
		[[ $(readlink "$link") == "$target" ]] && return 0
	fi
	ln -sfn "$target" "$link"
}

unlink_kernel() {
	local k=$1 l
	for l in "/lib/modules/$k" "/boot/config-$k"; do
		[[ -L $l && $(readlink "$l") == "$SID/"* ]] && rm -f "$l"
	done
	return 0
}

# ------------------------------------------------------------------ chroot

# chroot_run [-b DIR]... CMD...: run CMD inside the chroot in a private
# mount namespace (proc, dev and the bind mounts vanish with it).
chroot_run() {
	local -a binds=()
	while [[ ${1:-} == -b ]]; do
		binds+=("$(realpath -e "$2")")
		shift 2
	done
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- bash -euc '
		c=$1; shift; n=$1; shift
		mount -t proc proc "$c/proc"
		mount --rbind /dev "$c/dev"
		mount -t tmpfs tmpfs "$c/tmp"
		cp -L /etc/resolv.conf "$c/etc/resolv.conf" 2>/dev/null || true
		while ((n--)); do
			mkdir -p "$c$1"
			mount --bind "$1" "$c$1"
			shift
		done
		exec chroot "$c" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
			HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive "$@"
	' _ "$CHROOT" "${#binds[@]}" "${binds[@]}" "$@"
}

headers_dir() { printf '%s\n' "$CHROOT/usr/src/linux-headers-$1"; }

make_chroot() {
	local k=$1 tmp=$SID/chroot.new
	command -v debootstrap >/dev/null || {
		log "installing debootstrap on the host"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2
	}
	log "debootstrap: minbase sid chroot with $CHROOT_PACKAGES and the $k headers"
	rm -rf "$tmp"
	if ! debootstrap --variant=minbase --keyring="$KEYRING" \
		--include="$CHROOT_PACKAGES,linux-headers-$k" \
		sid "$tmp" "$MIRROR" >"$SID/debootstrap.log" 2>&1; then
		tail -n 20 "$SID/debootstrap.log" >&2
		[[ -f $tmp/debootstrap/debootstrap.log ]] && tail -n 20 "$tmp/debootstrap/debootstrap.log" >&2
		die "debootstrap failed (log: $SID/debootstrap.log)"
	fi
	rm -rf "$CHROOT"
	mv -T "$tmp" "$CHROOT"
	chroot_apt_config
	chroot_run apt-get clean
}

# The host's policy on stale Release files (a mirror snapshot may be
# older than its Valid-Until, and the host's apt is then told so) holds
# for the chroot's apt too; debootstrap itself does not check.
chroot_apt_config() {
	local f=$CHROOT/etc/apt/apt.conf.d/99loopns-host
	apt-config dump | grep -E '^Acquire::Check-(Valid-Until|Date) ' >"$f.tmp" || true
	mv "$f.tmp" "$f"
}

# Packages of the chroot (of $@) that are not installed.
chroot_missing() {
	# shellcheck disable=SC2016 # a dpkg-query format
	{ chroot_run dpkg-query -W -f '${db:Status-Status} ${Package}\n' "$@" 2>/dev/null || true; } |
		awk -v want="$*" '$1 == "installed" { ok[$2] = 1 }
			END { n = split(want, w, " "); for (i = 1; i <= n; i++) if (!ok[w[i]]) print w[i] }'
}

# CHROOT_PACKAGES and the headers for $1 in the chroot, other kernels'
# headers removed.
chroot_headers() {
	local k=$1 old missing
	if [[ ! -x $CHROOT/usr/bin/make ]]; then
		make_chroot "$k"
		missing=
	else
		# shellcheck disable=SC2086 # a list
		missing=$(chroot_missing ${CHROOT_PACKAGES//,/ } "linux-headers-$k" | xargs)
	fi
	if [[ -n $missing ]]; then
		log "installing in the chroot: $missing"
		chroot_apt_config
		if ! chroot_run sh -c "apt-get -q update && apt-get -y -q --no-install-recommends install $missing && apt-get clean" \
			>"$SID/chroot-apt.log" 2>&1; then
			tail -n 20 "$SID/chroot-apt.log" >&2
			log "updating the chroot failed; building a new one"
			make_chroot "$k"
		fi
	fi
	[[ -f $(headers_dir "$k")/Makefile && -e $CHROOT/lib/modules/$k/build ]] ||
		die "linux-headers-$k missing in the chroot after installing it"
	# shellcheck disable=SC2016 # a dpkg-query format
	old=$(chroot_run dpkg-query -W -f '${db:Status-Status} ${Package}\n' "linux-headers-*-$FLAVOUR" 2>/dev/null |
		awk -v keep="linux-headers-$k" '$1 == "installed" && $2 != keep { print $2 }' || true)
	if [[ -n $old ]]; then
		log "removing old headers from the chroot: $old"
		# shellcheck disable=SC2086
		chroot_run apt-get -y -q purge --autoremove $old >"$SID/chroot-apt.log" 2>&1 ||
			log "warning: removing $old failed (see $SID/chroot-apt.log)"
	fi
}

# ------------------------------------------------------------------ commands

current_kver() {
	[[ -f $SID/current ]] || return 1
	cat "$SID/current"
}

cmd_prepare() {
	local k old t0=$SECONDS
	need_root prepare
	mkdir -p "$SID/kernel"
	exec 9>"$SID/.lock"
	flock 9
	apt_setup
	apt_refresh
	k=${LOOPNS_SID_KVER:-$(newest_kver)}
	if [[ -z $k ]]; then
		k=$(current_kver) || die "no linux-image-$FLAVOUR in sid's lists"
		log "warning: no linux-image-$FLAVOUR in the lists; keeping $k"
	fi
	log "sid kernel: $k"
	unpack_kernel "$k"
	link_kernel "$k"
	chroot_headers "$k"
	echo "$k" >"$SID/current"
	for old in "$SID"/kernel/*; do
		old=${old##*/}
		[[ -d $SID/kernel/$old && $old != "$k" ]] || continue
		log "removing the old kernel $old"
		unlink_kernel "$old"
		rm -rf "${SID:?}/kernel/$old"
	done
	log "ready in $((SECONDS - t0))s: vmlinuz $(modules_dir "$k")/vmlinuz, modules /lib/modules/$k, headers in $CHROOT"
	printf '%s\n' "$k"
}

cmd_has() {
	local k=${1:?usage: has KVER}
	[[ -f $(kernel_root "$k")/.complete && -f $(headers_dir "$k")/Makefile ]]
}

cmd_make() {
	local dir=${1:?usage: make DIR ARGS...}
	shift
	need_root make
	[[ -x $CHROOT/usr/bin/make ]] || die "no chroot in $CHROOT; run $0 prepare"
	dir=$(realpath -e "$dir")
	exec 9>>"$SID/.lock"
	flock -s 9
	chroot_run -b "$dir" make -C "$dir" "$@"
}

cmd_lint() {
	local dir=${1:?usage: lint DIR} k logf rc=0
	k=$(current_kver) || die "no sid kernel prepared; run $0 prepare"
	dir=$(realpath -e "$dir")
	mkdir -p "$dir/build/$k"
	logf=$dir/build/$k/sparse.log
	rm -f "$dir/build/$k/src/"*.o
	cmd_make "$dir" --no-print-directory modules KVER="$k" W=1 C=1 >"$logf" 2>&1 || rc=$?
	cat "$logf"
	if grep -E 'warning:|error:' "$logf" >/dev/null || ((rc)); then
		echo "sparse/W=1 findings on $k (log: $logf)"
		return 1
	fi
}

cmd_shell() {
	need_root shell
	[[ -x $CHROOT/bin/bash ]] || die "no chroot in $CHROOT; run $0 prepare"
	if [[ -n ${1:-} ]]; then
		chroot_run -b "$1" bash -c "cd $(printf %q "$(realpath -e "$1")") && exec bash -i"
	else
		chroot_run bash -i
	fi
}

cmd_clean() {
	local d
	need_root clean
	exec 9>>"$SID/.lock"
	flock 9
	for d in "$SID"/kernel/*; do
		[[ -d $d ]] && unlink_kernel "${d##*/}"
	done
	rm -rf "${SID:?}"
}

case ${1:-} in
prepare) shift; cmd_prepare "$@" ;;
kver) current_kver ;;
has) shift; cmd_has "$@" ;;
make) shift; cmd_make "$@" ;;
lint) shift; cmd_lint "$@" ;;
shell) shift; cmd_shell "$@" ;;
clean) cmd_clean ;;
-h | --help | "") sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
*) die "unknown command $1 (see --help)" ;;
esac
