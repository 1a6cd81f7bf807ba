#!/bin/bash
# Host packages the benchmark needs beyond tests/harness/install-deps.sh:
# gnuplot (the chart) and debugfs (reading results off the scratch disk,
# in e2fsprogs). Idempotent; apt-get runs only when something is missing.
set -euo pipefail
PACKAGES=(gnuplot-nox e2fsprogs python3)
missing=()
for p in "${PACKAGES[@]}"; do
	[[ $(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	echo "bench install-deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi
echo "bench install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
