#!/bin/bash
# fio --verify=crc32c over loopns devices until TOTAL MiB were written and
# read back, across backings, loopns modes, fio modes and block sizes.
# Runs as root inside a test VM (tests/debug/bats/91-fio-volume.bats).
#
#   tests/stress/fio-volume.sh [TOTAL-MIB]      (default 8192)
#
# Eight configurations share the volume by weight (small blocks cost the
# most time per byte: 4 KiB gets 1 share, 64 KiB 3, 1 MiB 6); each runs
# fio passes over its device (a pass writes the device once and verifies
# it; a line in the kernel log after each, so that the harness's watchdog
# sees progress):
#   backing  tmpfs (LOOPNS_TMP) or ext4 on the virtio disk (LOOPNS_SCRATCH)
#   loopns   buffered or direct I/O to the backing file (LO_FLAGS_DIRECT_IO)
#   fio      buffered or O_DIRECT on the device; random 4 KiB and 64 KiB,
#            sequential 1 MiB
# With LOOPNS_VOLUME_MEMCG_MB=N (default 64; 0: off) fio runs in a memory
# cgroup of N MiB, smaller than every device: the device's page cache is
# reclaimed (written back through loopns) all along, and the cgroup's
# reclaim counters must show it (when a configuration with a page cache
# has a device larger than the cgroup: a small TOTAL shrinks the devices).
# Output: one line per configuration, then "fio-volume: PASS (N MiB
# written and verified, 0 errors)" or "fio-volume: FAIL (...)".
set -uo pipefail
TOTAL=${1:-8192}
[[ $TOTAL =~ ^[0-9]+$ ]] || { echo "usage: $0 [TOTAL-MIB]" >&2; exit 2; }
export PATH=$PATH:/usr/local/bin:/usr/local/sbin:/usr/sbin:/sbin
MEMCG_MB=${LOOPNS_VOLUME_MEMCG_MB:-64}
TMPD=$(mktemp -d "${LOOPNS_TMP:-/tmp}/lns-vol.XXXXXX") || exit 2
DISK=$(mktemp -d "${LOOPNS_SCRATCH:-/tmp}/lns-vol.XXXXXX") || exit 2
INST=$TMPD/inst
CG=/sys/fs/cgroup/lns-fio-volume
# backing loopns-flags fio-direct rw bs device-MiB shares
CONFIGS=(
	"tmpfs 0 0 randwrite 4k 128 1"
	"tmpfs 0 1 randwrite 64k 128 3"
	"tmpfs 0 1 write 1m 128 6"
	"ext4 0 0 randwrite 4k 256 1"
	"ext4 0 1 write 1m 256 6"
	"ext4 16 1 randwrite 4k 256 1"
	"ext4 16 1 randwrite 64k 256 3"
	"ext4 16 0 write 1m 256 6"
)
shares=0
for c in "${CONFIGS[@]}"; do shares=$((shares + ${c##* })); done
done_kb=0 bad=0 pressure=0

cleanup() {
	[[ -d $CG ]] && { echo $$ >/sys/fs/cgroup/cgroup.procs; rmdir "$CG"; } 2>/dev/null
	umount "$INST" 2>/dev/null || umount -l "$INST" 2>/dev/null
	rm -rf "$TMPD" "$DISK"
}
trap cleanup EXIT

modprobe loopns || { echo "fio-volume: cannot load loopns"; exit 1; }
mkdir -p "$INST" && mount -t loopns loopns "$INST" || { echo "fio-volume: mount failed"; exit 1; }
cg_in=()
if ((MEMCG_MB)) && grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control
	mkdir -p "$CG" && echo $((MEMCG_MB << 20)) >"$CG/memory.max" || exit 1
	# fio (and only fio) in the cgroup: a shell that moves itself, then execs.
	cg_in=(bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG")
fi
echo "fio-volume: ${TOTAL} MiB over ${#CONFIGS[@]} configurations, memcg ${MEMCG_MB} MiB, kernel $(uname -r)"

i=0
for c in "${CONFIGS[@]}"; do
	read -r backing flags direct rw bs size share <<<"$c"
	i=$((i + 1))
	# This configuration's volume; a small one gets a smaller device.
	per=$(((TOTAL * share + shares - 1) / shares))
	((per < size)) && size=$per
	((size > MEMCG_MB && (flags == 0 || direct == 0))) && pressure=1
	if [[ $backing == tmpfs ]]; then img=$TMPD/img$i; else img=$DISK/img$i; fi
	# Backing blocks allocated before fio starts: tmpfs pages charged
	# outside the cgroup (they cannot be reclaimed without swap).
	fallocate -l "${size}M" "$img" || { echo "fallocate $img failed"; bad=1; break; }
	n=$(loopioctl "$INST/loop-control" ctl-get-free) &&
		loopioctl "$INST/loop$n" configure "$img" "$flags" >/dev/null ||
		{ echo "binding $img failed"; bad=1; break; }
	loops=$(((per + size - 1) / size))
	desc="$backing, loopns $( ((flags)) && echo direct || echo buffered), fio $( ((direct)) && echo O_DIRECT || echo buffered) $rw $bs"
	t0=$SECONDS wkb=0
	for ((p = 1; p <= loops; p++)); do
		out=$("${cg_in[@]}" fio --name=vol --filename="$INST/loop$n" --rw="$rw" --bs="$bs" \
			--size="${size}M" --ioengine=psync --direct="$direct" \
			--verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=0 \
			--output-format=terse --minimal --warnings-fatal 2>&1)
		rc=$?
		# terse: field 6 is KiB read (the verify pass), 47 KiB written.
		read -r r w < <(awk -F';' 'NF > 47 { print $6, $47 }' <<<"$out")
		if ((rc != 0)) || [[ ${w:-0} != $((size * 1024)) || ${r:-0} -lt ${w:-0} ]]; then
			echo "FAIL $desc, pass $p: fio exit $rc, wrote ${w:-?} KiB, read back ${r:-?} KiB"
			echo "$out" | tail -n 20
			bad=1
			break
		fi
		wkb=$((wkb + w))
		echo "fio-volume: $desc: pass $p of $loops verified" >/dev/kmsg 2>/dev/null
	done
	if ((!bad)); then
		echo "ok   $desc: $((wkb >> 10)) MiB on a ${size} MiB device, written and verified in $((SECONDS - t0))s"
		done_kb=$((done_kb + wkb))
	fi
	loopioctl "$INST/loop$n" clr >/dev/null
	rm -f "$img"
	((bad)) && break
done
if [[ -d $CG ]]; then
	scan=$(awk '$1 == "pgscan" { print $2 }' "$CG/memory.stat")
	oom=$(awk '$1 == "oom_kill" { print $2 }' "$CG/memory.events")
	echo "memcg ${MEMCG_MB} MiB: pgscan ${scan:-?}, oom_kill ${oom:-?}, peak $(cat "$CG/memory.peak" 2>/dev/null || echo ?)"
	((${scan:-0} > 0 || !pressure)) || { echo "FAIL the cgroup never reclaimed: no memory pressure"; bad=1; }
	((${oom:-0} == 0)) || { echo "FAIL OOM kills in the cgroup"; bad=1; }
fi
if ((bad || done_kb < TOTAL * 1024)); then
	echo "fio-volume: FAIL ($((done_kb >> 10)) of ${TOTAL} MiB verified)"
	exit 1
fi
echo "fio-volume: PASS ($((done_kb >> 10)) MiB written and verified, 0 errors)"
