#!/bin/bash
# Host packages the stress suite wants in the guest (the initramfs takes
# host binaries): stress-ng for `stress-ng --loop` against an instance.
# fio comes with tests/harness/install-deps.sh. Idempotent; needs root.
set -euo pipefail
want=()
command -v stress-ng >/dev/null || want+=(stress-ng)
((${#want[@]})) || exit 0
if [[ $(id -u) != 0 ]]; then
	echo "stress/install-deps.sh: need root to install ${want[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null ||
	{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null; }
