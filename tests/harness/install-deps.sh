#!/bin/bash
# Install (as root, from Debian's archive) everything that building loopns
# and running its VM test suite need. Idempotent and quick when everything is
# present: apt-get update runs only when a package is missing.
#
# Usage: tests/harness/install-deps.sh [--list | --source]
#   --list    print the package list
#   --source  also unpack scripts/ of linux-source-6.12 (checkpatch.pl and
#             its data files) into $LOOPNS_CACHE/src/linux-source-6.12
#             (default /var/cache/loopns), once.
set -euo pipefail
LOOPNS_CACHE=${LOOPNS_CACHE:-/var/cache/loopns}

PACKAGES=(
	# build: compiler, kbuild, both Debian cloud kernels and their headers
	gcc make libc6-dev bc pahole
	linux-image-cloud-amd64 linux-headers-cloud-amd64
	linux-image-6.12-cloud-amd64 linux-headers-6.12-cloud-amd64
	# lint: sparse, checkpatch.pl (inside linux-source-6.12)
	sparse linux-source-6.12
	# libkmod for the tests' helper programs and loopnsctl (make tool),
	# libsmartcols and libmount for loopnsctl; groff for its man pages
	# (make tool-lint)
	libkmod-dev libsmartcols-dev libmount-dev libblkid-dev pkgconf groff-base
	# VM harness: qemu, initramfs tools, bats; debootstrap for the sid
	# chroot (tests/harness/sid-kernel.sh)
	qemu-system-x86 busybox-static cpio xz-utils zstd bats
	debootstrap debian-archive-keyring
	# programs copied into the guest
	bash coreutils util-linux util-linux-extra mount fdisk kmod
	e2fsprogs fuse2fs fio strace udev procps psmisc bsdextrautils xxd
	findutils diffutils grep sed gawk tar gzip libcap2-bin
	# mount-image's xfs and btrfs tests (tests/bats/33-mount-image.bats)
	xfsprogs btrfs-progs
	# the OCI hook (json-c) and the runtimes its tests run in the guest
	libjson-c-dev crun runc podman lxc systemd-container
)

want_source=0
case ${1:-} in
--list) printf '%s\n' "${PACKAGES[@]}"; exit 0 ;;
--source) want_source=1 ;;
"") ;;
*) echo "usage: $0 [--list | --source]" >&2; exit 2 ;;
esac

# checkpatch.pl lives in the kernel source tarball: unpack scripts/ once.
unpack_source() {
	local dst=$LOOPNS_CACHE/src tar=/usr/src/linux-source-6.12.tar.xz
	((want_source)) || return 0
	[[ -f $dst/linux-source-6.12/scripts/checkpatch.pl ]] && return 0
	echo "install-deps: unpacking scripts/ of $tar into $dst"
	mkdir -p "$dst"
	tar -xJf "$tar" -C "$dst" linux-source-6.12/scripts
}

missing=()
for p in "${PACKAGES[@]}"; do
	if [[ $(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#PACKAGES[@]} packages present"
	unpack_source
	exit 0
fi

if ((EUID != 0)); then
	echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A third-party source that cannot be reached must not stop us: Debian's
# own lists are what we need.
apt-get update -q || echo "install-deps: apt-get update reported errors; trying the install anyway" >&2
apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
unpack_source
echo "install-deps: done"
