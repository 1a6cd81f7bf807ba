#!/bin/bash
# loopns stress suite: concurrent workers against loopns for DURATION
# seconds, each verifying what it can; then everything is torn down and
# nothing may have leaked. Runs as root inside the harness VM (or any
# disposable machine with loopns built and lns-hammer in PATH).
#
#   tests/stress/run.sh [DURATION]        (seconds, default 60)
#
# Workers (all at once, each until the deadline):
#   hammer     lns-hammer on one shared instance: ADD/REMOVE/GET_FREE,
#              unlink, SET_FD/CONFIGURE/CLR_FD/CHANGE_FD/SET_STATUS/
#              SET_CAPACITY/SET_BLOCK_SIZE/SET_DIRECT_IO racing each other,
#              open/close, I/O, stacking, ATTACH (also racing close), remount
#   churn      lns-hammer -p: private instances mounted, used and torn
#              down (umount, umount -l with devices open, fsmount() fds)
#   verify     fio --verify=crc32c on 3 devices of their own instance
#              (buffered, direct I/O, loopns on loopns) while a tweaker
#              toggles direct I/O, block size and capacity under them;
#              at the end the data is verified again (fio verify_only,
#              and cmp against the backing files)
#   stack      chains file -> loopns -> loopns -> loop -> loopns, data
#              checked through the top, torn down in a random order
#   lazy       ext4 on a loopns device, instance unmounted with -l while
#              the filesystem is mounted and written; device gone after
#   fsflush    ext4 on loopns on an ext4 file: metadata churn while the
#              device's page cache is dropped (reads served from the
#              backing page cache in the submitter's context)
#   memcg      in a memory cgroup (cgroup v2 memory.max) half as large as
#              what it writes: fio --verify=crc32c on a buffered loopns
#              device, and on files of ext4 on loopns; reclaim writes the
#              page cache back through loopns all along (the cgroup's
#              pgscan must grow, no OOM kill, e2fsck -fn clean)
#   stressng   stress-ng --loop against an instance (bound over
#              /dev/loop-control in a private mount namespace), if present
#   rmmod      rmmod loopns every second: must be refused while anything
#              exists
#   faults     (debug kernels with fault-injection debugfs knobs only)
#              lns-hammer -f with failslab + fail_page_alloc restricted to
#              loopns call chains, and fail_make_request under a stacked
#              device; every failure must be a clean error
# Afterwards: instances unmounted, /sys/block/loopns* back to none within
# 60 s, every in-kernel loop device unbound, rmmod loopns succeeds (and
# the module is loaded again for whatever runs next).
#
# Environment:
#   LOOPNS_STRESS_WORK     work directory (default $LOOPNS_SCRATCH or /tmp)
#   LOOPNS_STRESS_FAULTS   auto (default: when the debugfs knobs exist), 0, 1
#   LOOPNS_STRESS_JOBS     hammer children (default 4)
#   LOOPNS_STRESS_SKIP     space-separated worker names to leave out
#   LOOPNS_STRESS_ONLY     space-separated worker names to run (all)
#   LOOPNS_STRESS_SEED     lns-hammer seed (default: random, printed);
#                          an odd seed also takes instances down lazily with
#                          stacked devices still bound (STRESS-7)
#   LOOPNS_STRESS_FIO_MB   size written and verified per fio pass (4)
#   LOOPNS_STRESS_MEMCG_MB the memcg worker's cgroup holds this (24) MiB
#                          beside 32 for fio's own (memory.max: their sum);
#                          it writes twice as much per round and fio
#   LOOPNS_STRESS_MEMCG_DRIVER  loopns (default) or loop: the driver of
#                          the memcg worker's two devices (parity runs)
#   LOOPNS_STRESS_MEMCG_WBPS  io.max wbps of the memcg worker's cgroup on
#                          the backing files' disk (none): their writeback,
#                          charged to the cgroup, slowed to this (bytes/s)
#   LOOPNS_STRESS_GRACE    seconds a worker may overrun the deadline
#                          before it counts as hung (180)
# Output: one line per worker, "stress: PASS" or "stress: FAIL (...)" last;
# exit status 0 only on PASS. Worker logs are printed when they fail.
set -uo pipefail

DURATION=${1:-60}
[[ $DURATION =~ ^[0-9]+$ ]] || { echo "usage: $0 [DURATION-SECONDS]" >&2; exit 2; }
export PATH=$PATH:/usr/local/bin:/usr/local/sbin:/usr/sbin:/sbin
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LNS_ENTER=${LNS_ENTER:-lns-enter}
WORKROOT=${LOOPNS_STRESS_WORK:-${LOOPNS_SCRATCH:-/tmp}}
JOBS=${LOOPNS_STRESS_JOBS:-4}
SKIP=" ${LOOPNS_STRESS_SKIP:-} "
ONLY=${LOOPNS_STRESS_ONLY:+" $LOOPNS_STRESS_ONLY "}
SEED=${LOOPNS_STRESS_SEED:-$((RANDOM * 32768 + RANDOM))}
DBG=/sys/kernel/debug

W=$(mktemp -d "$WORKROOT/lns-stress.XXXXXX") || exit 2
LOGS=$W/logs
mkdir -p "$LOGS"
PROBLEMS=()

now() { printf '%(%s)T' -1; }
log() { printf 'stress: %s\n' "$*"; }
kmark() { echo "loopns-stress: $*" >/dev/kmsg 2>/dev/null || true; }
problem() { PROBLEMS+=("$*"); log "PROBLEM: $*"; }
skipped() { [[ $SKIP == *" $1 "* || (-n $ONLY && $ONLY != *" $1 "*) ]]; }

# Every loopns gendisk.
lns_disks() {
	local d
	for d in /sys/block/loopns*; do [[ -e $d ]] && echo "${d##*/}"; done
}
# Global gendisk (loopnsM) of an instance node.
node_disk() {
	local mm
	mm=$(stat -c '%t:%T' "$1") || return
	basename "$(readlink "/sys/dev/block/$((16#${mm%:*})):$((16#${mm#*:}))")"
}
# A worker's own result: "name ok" or "name FAIL reason" in $LOGS/name.result.
result() { echo "$*" >"$LOGS/$1.result"; }

# ------------------------------------------------------------------ setup

modprobe loopns || { echo "stress: cannot load loopns" >&2; exit 1; }
command -v lns-hammer >/dev/null || { echo "stress: lns-hammer not in PATH" >&2; exit 1; }
modprobe loop 2>/dev/null
BASE_DISKS=$(lns_disks | wc -l)
((BASE_DISKS == 0)) || log "note: $BASE_DISKS loopns disks exist before the run"
END=$(($(now) + DURATION))
log "duration ${DURATION}s, work dir $W, seed $SEED, kernel $(uname -r)"
kmark "start (${DURATION}s)"

FAULTS=${LOOPNS_STRESS_FAULTS:-auto}
if [[ $FAULTS == auto ]]; then
	FAULTS=0
	[[ -d $DBG/failslab && -d $DBG/fail_make_request ]] && FAULTS=1
fi

declare -A PIDS=()
spawn() {
	local name=$1
	shift
	skipped "$name" && { log "$name: skipped (LOOPNS_STRESS_SKIP)"; return; }
	("$@" >"$LOGS/$name.log" 2>&1) &
	PIDS[$name]=$!
}

# ------------------------------------------------------------------ workers

# Take an instance down as a careful owner does (clear every device, the
# stacked ones hold nodes of the instance open, then unmount), or, with an
# odd seed, as a dying container does: unmount lazily with devices stacked
# on nodes of the instance still bound (STRESS-7).
instance_down() {
	local d=$1 n i
	if ((SEED % 2 == 0)); then
		for n in "$d"/loop[0-9]*; do
			[[ -b $n && $n != *p[0-9]* ]] && loopioctl "$n" clr >/dev/null 2>&1
		done
		for i in 1 2 3 4 5 6 7 8 9 10; do
			umount "$d" 2>/dev/null && return 0
			sleep 0.5
		done
	fi
	umount "$d" 2>/dev/null || umount -l "$d"
}

w_hammer() {
	local d=$W/shared
	mkdir -p "$d" "$W/hbk"
	mount -t loopns -o max=12 loopns "$d" || { result hammer FAIL mount; return; }
	if lns-hammer -t "$DURATION" -j "$JOBS" -n 8 -R -s "$SEED" -b "$W/hbk" "$d"; then
		result hammer ok
	else
		result hammer FAIL "lns-hammer reported problems"
	fi
	instance_down "$d"
}

w_churn() {
	mkdir -p "$W/priv" "$W/pbk"
	if lns-hammer -p -t "$DURATION" -j 2 -n 4 -s $((SEED + 1)) -b "$W/pbk" "$W/priv"; then
		result churn ok
	else
		result churn FAIL "lns-hammer -p reported problems"
	fi
}

# fio job for verifier device $1 (a node), direct I/O $2, extra args.
FIO_SIZE=${LOOPNS_STRESS_FIO_MB:-4}M
FIO_BYTES=$((${FIO_SIZE%M} << 20))
fio_job() {
	local node=$1 direct=$2
	shift 2
	fio --name=verify --filename="$node" --rw=randwrite --bs=4k --size=$FIO_SIZE \
		--ioengine=psync --direct="$direct" --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --randseed=4242 --randrepeat=1 --output-format=terse \
		--minimal --warnings-fatal "$@"
}

w_verify() {
	local d=$W/fio i n p=0 bad=0 tw
	mkdir -p "$d"
	mount -t loopns loopns "$d" || { result verify FAIL mount; return; }
	for i in 0 1 2; do truncate -s 16M "$W/fio-img$i"; done
	# loop0: buffered; loop1: direct I/O; loop2 on loop3 on a file.
	loopioctl "$d/loop-control" ctl-add 0 >/dev/null &&
		loopioctl "$d/loop-control" ctl-add 1 >/dev/null &&
		loopioctl "$d/loop-control" ctl-add 2 >/dev/null &&
		loopioctl "$d/loop-control" ctl-add 3 >/dev/null &&
		loopioctl "$d/loop0" configure "$W/fio-img0" 0 >/dev/null &&
		loopioctl "$d/loop1" configure "$W/fio-img1" 16 >/dev/null &&
		loopioctl "$d/loop3" configure "$W/fio-img2" 0 >/dev/null &&
		loopioctl "$d/loop2" configure "$d/loop3" 0 >/dev/null ||
		{ result verify FAIL "setup of the verifier devices"; return; }
	echo "$d" >"$W/fio.dir"
	# Tweaker: settings that must not change the data.
	(
		while (($(now) < END)); do
			n=$d/loop$((RANDOM % 4))
			case $((RANDOM % 5)) in
			0) loopioctl "$n" set-dio $((RANDOM % 2)) ;;
			1) loopioctl "$n" set-capacity ;;
			2) loopioctl "$n" set-block-size $((512 << (RANDOM % 4))) ;;
			3) loopioctl "$n" get-status64 ;;
			4) blockdev --flushbufs "$n" ;;
			esac >/dev/null 2>&1
			sleep 0.2
		done
	) &
	tw=$!
	# At least one pass per device, then more until the deadline.
	while ((p < 3 || $(now) < END)); do
		for i in 0 1 2; do
			((p < 3 || $(now) < END)) || break
			if ! fio_job "$d/loop$i" $((i == 1)) >"$LOGS/fio-$i.out" 2>&1; then
				echo "fio pass on loop$i failed:"
				cat "$LOGS/fio-$i.out"
				bad=1
			fi
			p=$((p + 1))
		done
		((bad)) && break
	done
	wait "$tw"
	echo "$p fio passes"
	if ((bad)); then result verify FAIL "fio verification failed during the run"; else result verify ok; fi
}

# Final check of the verifier devices, after every other worker stopped.
verify_final() {
	local d i bad=0
	[[ -f $W/fio.dir ]] || return 0
	d=$(cat "$W/fio.dir")
	# Write back top down: loop2's pages land in loop3's page cache, which
	# must reach the bottom file before cmp reads it.
	for i in 0 1 2 3; do
		blockdev --flushbufs "$d/loop$i" 2>/dev/null
	done
	echo 3 >/proc/sys/vm/drop_caches
	for i in 0 1 2; do
		if ! fio_job "$d/loop$i" 0 --verify_only >"$LOGS/fio-final-$i.out" 2>&1; then
			problem "verify: data of loop$i no longer verifies at the end"
			cat "$LOGS/fio-final-$i.out"
			bad=1
		fi
	done
	cmp -n "$FIO_BYTES" "$d/loop0" "$W/fio-img0" || { problem "verify: loop0 differs from its backing file"; bad=1; }
	cmp -n "$FIO_BYTES" "$d/loop1" "$W/fio-img1" || { problem "verify: loop1 differs from its backing file"; bad=1; }
	cmp -n "$FIO_BYTES" "$d/loop2" "$W/fio-img2" || { problem "verify: loop2 (on loop3) differs from the bottom file"; bad=1; }
	((bad)) || log "verify: final data check of 3 devices: ok"
	# loop2's backing file is loop3's node: it keeps the mount busy.
	loopioctl "$d/loop2" clr >/dev/null
	for i in 1 2 3 4 5 6 7 8 9 10; do
		umount "$d" 2>/dev/null && return
		sleep 0.5
	done
	problem "verify: the verifier instance stays busy after loop2 was cleared"
	umount -l "$d"
}

# One chain file -> A/loop0 -> A/loop1 -> /dev/loopK -> A/loop2, a data
# check through the top, and a teardown in a random order.
stack_round() {
	local a=$1 img=$2 k steps s i j tmp sum1 sum2 disks
	mount -t loopns loopns "$a" || { echo "mount failed"; return 1; }
	loopioctl "$a/loop-control" ctl-add 0 >/dev/null
	loopioctl "$a/loop-control" ctl-add 1 >/dev/null
	loopioctl "$a/loop-control" ctl-add 2 >/dev/null
	loopioctl "$a/loop0" configure "$img" 0 >/dev/null || { echo "bind loop0 failed"; return 1; }
	loopioctl "$a/loop1" configure "$a/loop0" 0 >/dev/null || { echo "bind loop1 failed"; return 1; }
	k=
	if [[ -e /dev/loop-control ]]; then
		k=$(losetup -f --show "$a/loop1" 2>/dev/null) || k=
	fi
	if [[ -n $k ]]; then
		loopioctl "$a/loop2" configure "$k" 0 >/dev/null || { echo "bind loop2 on $k failed"; return 1; }
		top=$a/loop2
	else
		top=$a/loop1
	fi
	# The global nodes (/dev/loopnsM): usable after umount -l too.
	disks=$(for i in 0 1 2; do node_disk "$a/loop$i"; done)
	local -a g
	mapfile -t g <<<"$disks"
	# A cycle must be refused: loop0 onto the top of its own chain.
	if loopioctl "$a/loop0" change-fd "$top" >/dev/null 2>&1; then
		echo "LOOP_CHANGE_FD into a cycle succeeded"
		return 1
	fi
	dd if=/dev/urandom of="$W/stack.pat" bs=64k count=4 status=none
	dd if="$W/stack.pat" of="$top" bs=64k oflag=direct conv=fsync status=none || { echo "write through $top failed"; return 1; }
	blockdev --flushbufs "$top" "$a/loop0" 2>/dev/null
	sum1=$(md5sum <"$W/stack.pat")
	sum2=$(head -c 262144 "$img" | md5sum)
	[[ $sum1 == "$sum2" ]] || { echo "data written through the chain is not in the file"; return 1; }
	# Teardown steps in a random order.
	steps=("clr2" "clr1" "clr0" "umount" "lod")
	for ((i = ${#steps[@]} - 1; i > 0; i--)); do
		j=$((RANDOM % (i + 1)))
		tmp=${steps[i]} steps[i]=${steps[j]} steps[j]=$tmp
	done
	echo "teardown order: ${steps[*]}"
	for s in "${steps[@]}"; do
		case $s in
		clr*) loopioctl "/dev/${g[${s#clr}]}" clr >/dev/null 2>&1 ;;
		umount) umount -l "$a" ;;
		lod) [[ -n $k ]] && losetup -d "$k" 2>/dev/null ;;
		esac
	done
	mountpoint -q "$a" && umount -l "$a"
	# Everything of the chain goes away by itself.
	for ((i = 0; i < 300; i++)); do
		local left=0 dsk
		for dsk in $disks; do [[ -e /sys/block/$dsk ]] && left=1; done
		[[ -n $k && -e /sys/block/${k#/dev/}/loop/backing_file ]] && left=1
		((left)) || return 0
		sleep 0.1
	done
	echo "chain not torn down after 30s (order ${steps[*]}):"
	for dsk in $disks; do
		[[ -e /sys/block/$dsk ]] || continue
		echo "  $dsk: size=$(cat /sys/block/$dsk/size) backing=$(cat /sys/block/$dsk/loop/backing_file 2>/dev/null) autoclear=$(cat /sys/block/$dsk/loop/autoclear 2>/dev/null)"
		find /proc/[0-9]*/fd -lname "*$dsk" 2>/dev/null | sed "s/^/    open: /"
	done
	grep loopns /proc/self/mountinfo | sed 's/^/  mount: /'
	# Recover as host root would, so that the next round starts clean.
	for dsk in $disks; do loopioctl "/dev/$dsk" clr >/dev/null 2>&1; done
	[[ -n $k ]] && cat "/sys/block/${k#/dev/}/loop/backing_file" 2>/dev/null
	return 1
}

w_stack() {
	local n=0 img=$W/stack-img
	truncate -s 4M "$img"
	mkdir -p "$W/stack"
	while (($(now) < END)); do
		if ! stack_round "$W/stack" "$img"; then
			result stack FAIL "round $n failed"
			return
		fi
		n=$((n + 1))
	done
	echo "$n stack rounds"
	result stack ok
}

w_lazy() {
	local n=0 a=$W/lazy m=$W/lazy-mnt img=$W/lazy-img dsk i
	mkdir -p "$a" "$m"
	while (($(now) < END)); do
		truncate -s 16M "$img"
		mkfs.ext4 -q -F "$img" || { result lazy FAIL mkfs; return; }
		mount -t loopns loopns "$a" || { result lazy FAIL "mount instance"; return; }
		i=$(loopioctl "$a/loop-control" ctl-get-free) &&
			loopioctl "$a/loop$i" set-fd "$img" >/dev/null ||
			{ result lazy FAIL bind; return; }
		dsk=$(node_disk "$a/loop$i")
		mount -t ext4 "$a/loop$i" "$m" || { result lazy FAIL "mount ext4"; return; }
		umount -l "$a"
		# The filesystem keeps working on the orphaned device.
		# sync -f: only this filesystem (a global sync waits on every
		# worker's I/O, minutes on the debug kernel).
		cp -r "$HERE" "$m/copy" && sync -f "$m" && diff -r "$HERE" "$m/copy" >/dev/null ||
			{ result lazy FAIL "I/O on the orphaned device"; return; }
		umount "$m"
		for ((i = 0; i < 300; i++)); do
			[[ -e /sys/block/$dsk ]] || break
			sleep 0.1
		done
		[[ -e /sys/block/$dsk ]] && { result lazy FAIL "$dsk still there 30s after the last umount"; return; }
		n=$((n + 1))
	done
	echo "$n lazy rounds"
	result lazy ok
}

# ext4 on loopns on an ext4 file, metadata churn, page cache of the
# loopns device dropped often: reads hit the backing file's page cache.
w_fsflush() {
	local a=$W/fsf m=$W/fsf-mnt img=$W/fsf-img n=0 i dev
	mkdir -p "$a" "$m"
	truncate -s 32M "$img"
	mkfs.ext4 -q -F -b 1024 "$img" || { result fsflush FAIL mkfs; return; }
	mount -t loopns loopns "$a" || { result fsflush FAIL "mount instance"; return; }
	i=$(loopioctl "$a/loop-control" ctl-get-free) &&
		loopioctl "$a/loop$i" set-fd "$img" >/dev/null || { result fsflush FAIL bind; return; }
	dev=$a/loop$i
	mount -t ext4 "$dev" "$m" || { result fsflush FAIL "mount ext4"; return; }
	while (($(now) < END)); do
		# Backing file written (mtime moves): its atime is due again.
		mkdir -p "$m/d$n" && cp -r "$HERE" "$m/d$n/"
		for i in 1 2 3 4 5 6 7 8; do printf '%6000s' "$n$i" >"$m/d$n/f$i"; done
		sync
		# Checkpoint (the journal pins buffers), then drop the cache;
		# truncates of cached inodes then read under a journal handle.
		fsfreeze -f "$m" && fsfreeze -u "$m"
		blockdev --flushbufs "$dev"
		for i in 1 2 3 4 5 6 7 8; do : >"$m/d$n/f$i"; done
		rm -rf "$m/d$((n - 2))"
		n=$((n + 1))
	done
	sync
	umount "$m" || { result fsflush FAIL "umount ext4"; return; }
	fsck.ext4 -fn "$dev" >"$LOGS/fsflush-fsck.out" 2>&1 ||
		{ cat "$LOGS/fsflush-fsck.out"; result fsflush FAIL "fsck found errors"; umount "$a"; return; }
	umount "$a"
	echo "$n fsflush rounds"
	result fsflush ok
}

# memcg: I/O over loopns in a memory cgroup half as large as what it
# writes. Only this worker's processes are in the cgroup; the backing
# files are on the virtio disk (ext4), whose page cache can be written
# back and reclaimed (tmpfs pages could not, without swap). A round whose
# fio is OOM-killed is run again, up to 3 times: when the backing disk's
# writeback is slow, the worker's charges of the backing files' page cache
# can find nothing to reclaim, and the in-kernel loop driver gets the same
# OOM kills (src/exec.c). A failed verification, an error, a hang, an OOM
# kill of anything but fio, or fsck errors fail the worker.
MEMCG=/sys/fs/cgroup/lns-stress-memcg
memcg_oom_kills() {
	awk '$1 == "oom_kill" { print $2; f = 1 } END { if (!f) print 0 }' "$MEMCG/memory.events"
}
# OOM kills in the cgroup of a task other than fio, from the kernel's
# "oom-kill:...,oom_memcg=...,task=NAME,pid=..." lines (one OOM can kill
# both of fio's processes, so memory.events alone cannot tell).
memcg_other_kills() {
	dmesg | grep -F "oom_memcg=/${MEMCG##*/}," | grep -vcF ",task=fio," || true
}
w_memcg() {
	local mb=${LOOPNS_STRESS_MEMCG_MB:-24} drv=${LOOPNS_STRESS_MEMCG_DRIVER:-loopns}
	local a=$W/mcg m=$W/mcg-mnt n=0 killed=0 i dev fsdev scan oom oom0 others peak
	if ! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
		echo "no cgroup v2 memory controller"
		result memcg ok
		return
	fi
	mkdir -p "$a" "$m"
	truncate -s $((2 * mb))M "$W/mcg-img"
	truncate -s $((3 * mb))M "$W/mcg-fs"
	mkfs.ext4 -q -F -E nodiscard "$W/mcg-fs" || { result memcg FAIL mkfs; return; }
	if [[ $drv == loop ]]; then
		dev=$(losetup -f --show "$W/mcg-img") && fsdev=$(losetup -f --show "$W/mcg-fs") ||
			{ result memcg FAIL "losetup"; return; }
	else
		mount -t loopns loopns "$a" || { result memcg FAIL mount; return; }
		i=$(loopioctl "$a/loop-control" ctl-get-free) && loopioctl "$a/loop$i" configure "$W/mcg-img" 0 >/dev/null &&
			dev=$a/loop$i && i=$(loopioctl "$a/loop-control" ctl-get-free) &&
			loopioctl "$a/loop$i" configure "$W/mcg-fs" 0 >/dev/null && fsdev=$a/loop$i ||
			{ result memcg FAIL bind; return; }
	fi
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control
	# fio itself holds about 29 MiB there (24 of shared job memory, 5
	# anonymous: the OOM reports' shmem-rss and anon-rss, fio 3.33): with
	# 32 MiB for it the page cache gets about $mb MiB, half of what each
	# pass writes.
	mkdir -p "$MEMCG" && echo $(((mb + 32) << 20)) >"$MEMCG/memory.max" && echo "$BASHPID" >"$MEMCG/cgroup.procs" ||
		{ result memcg FAIL "cgroup setup"; return; }
	# A cgroup an earlier run could not remove (an OOM-killed fio left
	# a process in it) keeps its OOM kills: only new ones count.
	oom0=$(memcg_oom_kills) others=$(memcg_other_kills)
	if [[ -n ${LOOPNS_STRESS_MEMCG_WBPS:-} ]]; then
		# The backing files' writeback, charged to the cgroup, is slow.
		echo +io >/sys/fs/cgroup/cgroup.subtree_control &&
			echo "$(findmnt -no MAJ:MIN -T "$W") wbps=$LOOPNS_STRESS_MEMCG_WBPS" >"$MEMCG/io.max" ||
			{ result memcg FAIL "io.max"; return; }
	fi
	mount -t ext4 "$fsdev" "$m" || { result memcg FAIL "mount ext4"; return; }
	while ((n < 1 || $(now) < END)); do
		# The device, then files on ext4 on the other device.
		if ! fio --name=memcg --filename="$dev" --rw=randwrite --bs=16k --size=$((2 * mb))M \
			--ioengine=psync --verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=0 \
			--output-format=terse --minimal --warnings-fatal >"$LOGS/memcg-fio.out" 2>&1 ||
			! fio --name=memcg-fs --directory="$m" --nrfiles=8 --size=$((2 * mb))M --rw=write \
				--bs=64k --ioengine=psync --end_fsync=1 --verify=crc32c --verify_fatal=1 \
				--do_verify=1 --unlink=1 --output-format=terse --minimal --warnings-fatal \
				>>"$LOGS/memcg-fio.out" 2>&1; then
			if (($(memcg_oom_kills) > oom0 && killed < 3)); then
				# fio was OOM-killed before it could verify: the
				# round proves nothing either way; try again.
				oom0=$(memcg_oom_kills) killed=$((killed + 1))
				echo "memcg: fio OOM-killed in round $n ($killed)"
				continue
			fi
			cat "$LOGS/memcg-fio.out"
			result memcg FAIL "fio failed in round $n (OOM kills: $killed)"
			return
		fi
		n=$((n + 1))
	done
	umount "$m" || { result memcg FAIL "umount ext4"; return; }
	echo "$BASHPID" >/sys/fs/cgroup/cgroup.procs
	scan=$(awk '$1 == "pgscan" { print $2 }' "$MEMCG/memory.stat")
	oom=$(memcg_oom_kills)
	peak=$(($(cat "$MEMCG/memory.peak" 2>/dev/null || echo 0) >> 20))
	echo "memcg ${mb} MiB ($drv): pgscan ${scan:-?}, oom_kill ${oom:-?}, peak $peak MiB"
	rmdir "$MEMCG"
	fsck.ext4 -fn "$fsdev" >"$LOGS/memcg-fsck.out" 2>&1 ||
		{ cat "$LOGS/memcg-fsck.out"; result memcg FAIL "fsck found errors"; return; }
	if [[ $drv == loop ]]; then losetup -d "$dev" "$fsdev"; else umount "$a"; fi
	((${scan:-0} > 0)) || { result memcg FAIL "the cgroup never reclaimed"; return; }
	# Kills after the last retried round, or of anything but fio, fail.
	((oom == oom0)) || { result memcg FAIL "OOM kills after the last retried round"; return; }
	(($(memcg_other_kills) <= others)) ||
		{ dmesg | grep -F "oom_memcg=/${MEMCG##*/},"; result memcg FAIL "OOM kills in the cgroup besides fio's"; return; }
	echo "$n memcg rounds in ${mb} MiB ($drv), $killed OOM-killed, pgscan $scan, peak $peak MiB"
	result memcg ok
}

w_stressng() {
	local a=$W/sng left
	if ! command -v stress-ng >/dev/null; then
		echo "stress-ng not installed"
		result stressng ok
		return
	fi
	mkdir -p "$a" "$W/sng-tmp"
	mount -t loopns loopns "$a" || { result stressng FAIL mount; return; }
	left=$((END - $(now)))
	((left > 2)) || left=2
	if "$LNS_ENTER" "$a" stress-ng --loop 2 --timeout "${left}s" --temp-path "$W/sng-tmp" \
		--metrics-brief --verbose; then
		result stressng ok
	else
		result stressng FAIL "stress-ng --loop failed"
	fi
	umount "$a" 2>/dev/null || umount -l "$a"
}

w_rmmod() {
	local n=0 ok=0 out disks
	sleep 3
	while (($(now) < END)); do
		if out=$(rmmod loopns 2>&1); then
			# Allowed only when nothing was left. Other workers' mounts
			# load the module again at once: devices that exist while
			# the module is still gone were left behind.
			disks=$(lns_disks)
			if [[ -n $disks && ! -e /sys/module/loopns ]]; then
				result rmmod FAIL "rmmod succeeded while loopns devices existed: $disks"
				modprobe loopns
				return
			fi
			ok=$((ok + 1))
			modprobe loopns
		elif [[ $out != *"in use"* && $out != *"not currently loaded"* ]]; then
			result rmmod FAIL "rmmod refused oddly: $out"
			return
		fi
		n=$((n + 1))
		sleep 1
	done
	echo "$n rmmod attempts ($ok succeeded between instances)"
	result rmmod ok
}

# ------------------------------------------------------------------ faults

fault_knob() { [[ -w $DBG/$1/$2 ]] && echo "$3" >"$DBG/$1/$2"; }

# Restrict failslab/fail_page_alloc to call chains through loopns code.
fault_setup() {
	local f lo='' hi='' a
	# Text symbols of loopns; kernel addresses do not fit awk's doubles.
	a=$(awk '$4 == "[loopns]" && ($2 == "t" || $2 == "T") { print $1 }' /proc/kallsyms | sort | sed -n '1p;$p')
	if [[ -n $a && $a != *0000000000000000* ]]; then
		lo=$(printf '0x%x' "$((0x$(head -n 1 <<<"$a")))")
		hi=$(printf '0x%x' "$((0x$(tail -n 1 <<<"$a") + 65536))")
		echo "fault injection restricted to loopns text $lo-$hi"
	fi
	for f in failslab fail_page_alloc; do
		[[ -d $DBG/$f ]] || continue
		fault_knob $f probability 5
		fault_knob $f interval 1
		fault_knob $f times -1
		fault_knob $f space 0
		fault_knob $f verbose 0
		fault_knob $f task-filter Y
		fault_knob $f ignore-gfp-wait N
		fault_knob $f ignore-gfp-highmem N
		fault_knob $f cache-filter N
		fault_knob $f min-order 0
		fault_knob $f stacktrace-depth 32
		if [[ -n ${lo:-} ]]; then
			fault_knob $f require-start "$lo"
			fault_knob $f require-end "$hi"
		fi
	done
}

fault_off() {
	local f
	for f in failslab fail_page_alloc fail_make_request; do
		fault_knob $f probability 0
		fault_knob $f times 0
	done
}

w_faults() {
	local d=$W/fault a=$W/fmr bad=0 i n=0 lower
	fault_setup
	mkdir -p "$d" "$W/fbk" "$a"
	mount -t loopns loopns "$d" || { result faults FAIL mount; return; }
	# fail_make_request below a stacked device: the upper one sees EIO.
	mount -t loopns loopns "$a" || { result faults FAIL mount; return; }
	truncate -s 8M "$W/fmr-img"
	loopioctl "$a/loop-control" ctl-add 0 >/dev/null
	loopioctl "$a/loop-control" ctl-add 1 >/dev/null
	loopioctl "$a/loop0" configure "$W/fmr-img" 0 >/dev/null &&
		loopioctl "$a/loop1" configure "$a/loop0" 0 >/dev/null ||
		{ result faults FAIL "stacked setup"; return; }
	lower=$(node_disk "$a/loop0")
	fault_knob fail_make_request probability 20
	fault_knob fail_make_request interval 1
	fault_knob fail_make_request times -1
	fault_knob fail_make_request verbose 0
	echo 1 >"/sys/block/$lower/make-it-fail"
	(
		while (($(now) < END)); do
			dd if=/dev/urandom of="$a/loop1" bs=4k count=64 oflag=direct status=none 2>/dev/null
			dd if="$a/loop1" of=/dev/null bs=4k count=64 iflag=direct status=none 2>/dev/null
			n=$((n + 1))
		done
		echo "$n fail_make_request rounds"
	) &
	lns-hammer -f -t "$DURATION" -j 2 -n 6 -s $((SEED + 2)) -b "$W/fbk" "$d" || bad=1
	wait
	echo 0 >"/sys/block/$lower/make-it-fail"
	fault_off
	# With the faults off the stack works again.
	dd if=/dev/zero of="$a/loop1" bs=4k count=16 oflag=direct status=none ||
		{ echo "I/O through the stack fails after fail_make_request was switched off"; bad=1; }
	umount "$a" || bad=1
	umount "$d" 2>/dev/null || umount -l "$d"
	if ((bad)); then result faults FAIL "see log"; else result faults ok; fi
}

# ------------------------------------------------------------------ run

spawn hammer w_hammer
spawn churn w_churn
spawn verify w_verify
spawn stack w_stack
spawn lazy w_lazy
spawn fsflush w_fsflush
spawn memcg w_memcg
spawn stressng w_stressng
spawn rmmod w_rmmod
if [[ $FAULTS == 1 ]]; then
	spawn faults w_faults
else
	log "faults: skipped (no fault-injection knobs in $DBG; debug kernel only)"
fi

# Wait for the workers; one that outlives the deadline by far is hung.
HARD=$((END + ${LOOPNS_STRESS_GRACE:-180}))
for name in "${!PIDS[@]}"; do
	pid=${PIDS[$name]}
	while kill -0 "$pid" 2>/dev/null && (($(now) < HARD)); do sleep 1; done
	if kill -0 "$pid" 2>/dev/null; then
		problem "$name: still running $((HARD - END))s after the deadline (hang?)"
		for t in /proc/[0-9]*; do
			[[ -r $t/stack ]] || continue
			grep -q -E 'loopns|lns_|blk_|loop_' "$t/stack" 2>/dev/null || continue
			echo "--- $(cat "$t/comm" 2>/dev/null) ${t#/proc/}:"
			cat "$t/stack"
		done
		echo w >/proc/sysrq-trigger 2>/dev/null
		continue
	fi
	wait "$pid"
done
for name in "${!PIDS[@]}"; do
	r=$(cat "$LOGS/$name.result" 2>/dev/null) || r="$name FAIL no result"
	if [[ $r == "$name ok" ]]; then
		log "$name: ok ($(grep -E 'lns-hammer: [0-9]+ ops|rounds|passes|attempts|successful run' "$LOGS/$name.log" | tail -n 1 | sed 's/^lns-hammer: //'))"
	else
		problem "${r/ FAIL /: }"
		sed 's/^/    | /' "$LOGS/$name.log" | tail -n 60
	fi
done
kmark "workers done"

# ------------------------------------------------------------------ checks

verify_final
# The memcg worker's cgroup, if it failed before removing it.
[[ -d $MEMCG ]] && rmdir "$MEMCG" 2>/dev/null
# Tear down whatever is left of the run, then nothing may remain.
for m in $(awk -v w="$W/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
	umount "$m" 2>/dev/null || umount -l "$m"
done
left=
for ((i = 0; i < 300; i++)); do
	left=$(lns_disks)
	[[ $(wc -w <<<"$left") -le $BASE_DISKS ]] && break
	sleep 0.1
done
if [[ $(wc -w <<<"$left") -gt $BASE_DISKS ]]; then
	problem "leak: loopns disks left 30s after the teardown: $(echo $left)"
	for d in $left; do
		echo "    $d: size=$(cat /sys/block/$d/size) backing=$(cat /sys/block/$d/loop/backing_file 2>/dev/null) autoclear=$(cat /sys/block/$d/loop/autoclear 2>/dev/null) holders=$(ls /sys/block/$d/holders 2>/dev/null)"
	done
	# Recover (as host root can) so that what runs next is not poisoned:
	# clear every leftover through its global node, open and close it.
	for d in $left; do
		loopioctl "/dev/$d" clr >/dev/null 2>&1
		: <"/dev/$d" 2>/dev/null
	done
	sleep 2
fi
if command -v losetup >/dev/null && [[ -n $(losetup -a 2>/dev/null) ]]; then
	problem "leak: in-kernel loop devices still bound: $(losetup -a | tr '\n' ' ')"
	losetup -D
fi
if ((BASE_DISKS == 0)); then
	ok=0
	for ((i = 0; i < 20; i++)); do
		if out=$(rmmod loopns 2>&1); then ok=1; break; fi
		sleep 0.5
	done
	if ((ok)); then
		log "rmmod loopns after the run: ok"
	else
		problem "leak: rmmod loopns still fails after the teardown: $out (refcnt $(cat /sys/module/loopns/refcnt 2>/dev/null))"
	fi
	modprobe loopns
fi
kmark "end"
rm -rf "$W"

if ((${#PROBLEMS[@]})); then
	log "FAIL (${#PROBLEMS[@]} problems)"
	printf '  - %s\n' "${PROBLEMS[@]}"
	exit 1
fi
log "PASS"
