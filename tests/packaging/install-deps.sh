#!/bin/bash
# Install (as root, from Debian's archive) what building and testing the
# loopns packages needs: DKMS, the Debian packaging toolchain, lintian and
# rpm (for rpmbuild). Idempotent: apt-get update runs only when a package is
# missing. Recommends are not installed (dkms would pull in a generic
# linux-headers flavour, i.e. one more kernel to build for).
#
# Usage: tests/packaging/install-deps.sh [--list]
set -euo pipefail

PACKAGES=(
	# DKMS itself (Debian 12: 3.0.10) and the dh addon: dh-sequence-dkms
	# is a virtual package provided by dh-dkms.
	dkms dh-dkms
	# .deb toolchain and checks
	build-essential debhelper dpkg-dev fakeroot lintian
	# Build-Depends of loopnsctl (in loopns-tools)
	libkmod-dev libsmartcols-dev libmount-dev libjson-c-dev pkgconf
	# rpmbuild (Debian's rpm package)
	rpm
	# the VM boot check and module inspection
	kmod xz-utils cpio
)

case ${1:-} in
--list) printf '%s\n' "${PACKAGES[@]}"; exit 0 ;;
"") ;;
*) echo "usage: $0 [--list]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
	if [[ $(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "packaging install-deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi
if ((EUID != 0)); then
	echo "packaging install-deps: missing packages: ${missing[*]}; run as root" >&2
	exit 1
fi
echo "packaging install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || echo "packaging install-deps: apt-get update reported errors; trying the install anyway" >&2
apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
echo "packaging install-deps: done"
