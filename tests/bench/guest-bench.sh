#!/bin/bash
# Guest side of the loopns benchmark (run inside the VM by bench.bats).
#
#   guest-bench.sh setup|fio|control|memory|broker|scale
#
# Every section writes JSON files under $BENCH_OUT (default
# /mnt/scratch/bench, on the scratch disk the host reads back after the VM
# powered off). Parameters (environment, from the host's run-bench.sh):
#   BENCH_QUICK=1        the short variant (fewer workloads and devices)
#   BENCH_REPS=N         alternating repetitions of every measurement
#   BENCH_RUNTIME=T      fio runtime per workload (fio time value: 1s, 500ms)
#   BENCH_RAMP=T         fio ramp time per workload
#   BENCH_SIZE=S         backing file size (fio size value: 512m)
#   BENCH_CTL_SECS=S     seconds per control-path measurement
#   BENCH_LAT_BINDS=N    binds for the LOOP_CONFIGURE latency (1000)
#   BENCH_MEM_DEVS=N     devices for the memory measurement
#   BENCH_MEM_REPS=N     repetitions of the memory measurement (default 1)
#   BENCH_HOT=0|1        the page-cache-hot case (default 1)
#   BENCH_HOT_RUNTIME=T  fio runtime of the page-cache-hot case
#   BENCH_SETTLE_MS=MS   wait after dropping caches before a memory snapshot
#   BENCH_PAR=N          processes creating/deleting devices in parallel (32)
#   BENCH_SCALE="I D"    instances and devices per instance for the scale run
#   BENCH_JOBS="a b"     workloads (sections of fio/matrix.fio; "all"; default:
#                        8 of the 12, --quick: two)
#   BENCH_BACKINGS="tmpfs ext4"  where the backing file lives
#   BENCH_SECTIONS="a b" the parts run-bench.sh runs (recorded in info.json)
set -euo pipefail

QUICK=${BENCH_QUICK:-0}
OUT=${BENCH_OUT:-/mnt/scratch/bench}
WORK=/run/bench
FIO_JOBS=$(dirname "$(readlink -f "$0")")/fio/matrix.fio
if ((QUICK)); then
	REPS=${BENCH_REPS:-1}
	RUNTIME=${BENCH_RUNTIME:-300ms}
	RAMP=${BENCH_RAMP:-50ms}
	SIZE=${BENCH_SIZE:-64m}
	CTL_SECS=${BENCH_CTL_SECS:-0.3}
	MEM_DEVS=${BENCH_MEM_DEVS:-30}
	SCALE=${BENCH_SCALE:-10 4}
	JOBS=${BENCH_JOBS:-randread-4k-qd1-j1 seqwrite-1m-qd1-j2}
	BACKINGS=${BENCH_BACKINGS:-tmpfs}
	export BENCH_SETTLE_MS=${BENCH_SETTLE_MS:-200}
else
	REPS=${BENCH_REPS:-3}
	RUNTIME=${BENCH_RUNTIME:-250ms}
	RAMP=${BENCH_RAMP:-50ms}
	SIZE=${BENCH_SIZE:-128m}
	CTL_SECS=${BENCH_CTL_SECS:-0.5}
	MEM_DEVS=${BENCH_MEM_DEVS:-1000}
	SCALE=${BENCH_SCALE:-1000 4}
	# Every pattern at numjobs 1, random reads also at numjobs 2 and 4 (the
	# parallel-read target); BENCH_JOBS=all adds the other numjobs=2 ones.
	JOBS=${BENCH_JOBS:-seqread-1m-qd1-j1 randread-4k-qd1-j1 randread-4k-qd1-j2 randread-4k-qd1-j4 randread-4k-qd32-j1 randread-4k-qd32-j2 seqwrite-1m-qd1-j1 randwrite-4k-qd1-j1 randwrite-4k-qd32-j1}
	BACKINGS=${BENCH_BACKINGS:-tmpfs ext4}
fi
HOT_RUNTIME=${BENCH_HOT_RUNTIME:-$( ((QUICK)) && echo "$RUNTIME" || echo 1s)}
MEM_REPS=${BENCH_MEM_REPS:-1}
LAT_BINDS=${BENCH_LAT_BINDS:-1000}
HOT=${BENCH_HOT:-1}
# The host passes lists with "," for " " (LOOPNS_GUEST_ENV is split on blanks).
SCALE=${SCALE//,/ } JOBS=${JOBS//,/ } BACKINGS=${BACKINGS//,/ }
SECTIONS=${BENCH_SECTIONS:-all} SECTIONS=${SECTIONS//,/ }
[[ $JOBS == all ]] && JOBS=
LO_FLAGS_DIRECT_IO=16

log() {
	local m
	m=$(printf '# bench [%ss]: %s' "$(cut -d' ' -f1 /proc/uptime)" "$*")
	echo "$m" >&3 2>/dev/null || echo "$m" >&2
}

# fio size value in bytes.
bytes() {
	local v=${1,,} m=1
	case $v in
	*k) m=1024 v=${v%k} ;; *m) m=$((1 << 20)) v=${v%m} ;; *g) m=$((1 << 30)) v=${v%g} ;;
	esac
	echo $((v * m))
}

backing_path() {
	case $1 in
	tmpfs) echo /tmp/bench-backing.img ;;
	ext4) echo /mnt/scratch/bench-backing.img ;;
	esac
}

make_backing() { # path size
	rm -f "$1"
	dd if=/dev/zero of="$1" bs=1M count=$(($(bytes "$2") >> 20)) status=none
	sync
}

# /sys/dev/block/MAJ:MIN of a device node.
sysdev() {
	local t
	t=$(stat -c '%t %T' "$1")
	echo "/sys/dev/block/$((16#${t% *})):$((16#${t#* }))"
}

# attach TARGET FILE MODE: bind a free device of TARGET (loopns|loop) to
# FILE, print its node.
attach() {
	local target=$1 file=$2 mode=$3 ctl dir idx flags=0
	[[ $mode == dio ]] && flags=$LO_FLAGS_DIRECT_IO
	case $target in
	loopns) dir=$WORK/lns ctl=$WORK/lns/loop-control ;;
	loop) dir=/dev ctl=/dev/loop-control ;;
	esac
	idx=$(loopioctl "$ctl" ctl-get-free)
	loopioctl "$dir/loop$idx" configure "$file" "$flags" >/dev/null
	echo "$dir/loop$idx"
}

detach() {
	local _
	for _ in $(seq 50); do
		loopioctl "$1" clr >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	loopioctl "$1" clr
}

# Whether FILE can be opened with O_DIRECT.
can_odirect() {
	dd if="$1" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null
}

meminfo_json() {
	awk 'BEGIN{printf "{"} {sub(":","",$1); printf "%s\"%s\":%s", (NR>1?",":""), $1, $2} END{printf "}"}' /proc/meminfo
}

# gen_jobs REP "WORKLOAD..." < SPEC > JOBFILE: one fio job file from the
# workloads of fio/matrix.fio (all when the list is empty). SPEC lines:
#   GROUP TARGET FILE DIRECT RUNTIME WORKLOADS
# (RUNTIME and WORKLOADS "-" for the defaults; WORKLOADS comma-separated).
# Groups run in the order given; in a group, every workload runs against
# every target of the group, back to back, in an order that rotates with
# the workload, the group and the repetition. Jobs are named
# GROUP.WORKLOAD@TARGET.
gen_jobs() {
	awk -v rep="$1" -v workloads="$2" '
	FNR == NR {
		if ($0 ~ /^\[.*\]$/) { sec = substr($0, 2, length($0) - 2); if (sec != "global") order[++n] = sec; next }
		if ($0 ~ /^;/ || $0 ~ /^[[:space:]]*$/) next
		if (sec == "global") { if ($0 !~ /^(filename|direct)=/) glob = glob $0 "\n"; next }
		if (sec != "") body[sec] = body[sec] $0 "\n"
		next
	}
	NF == 6 {
		if (!($1 in nt)) { G[++ng] = $1; gw[$1] = $6 }
		T[$1, ++nt[$1]] = $2 "|" $3 "|" $4 "|" $5
	}
	END {
		printf "[global]\n%s", glob
		for (gi = 1; gi <= ng; gi++) {
			g = G[gi]
			if (gw[g] != "-") nw = split(gw[g], W, ",")
			else if (workloads != "") nw = split(workloads, W, " ")
			else { nw = n; for (i = 1; i <= n; i++) W[i] = order[i] }
			for (wi = 1; wi <= nw; wi++) {
				if (!(W[wi] in body)) { print "no workload " W[wi] > "/dev/stderr"; exit 1 }
				for (ti = 0; ti < nt[g]; ti++) {
					split(T[g, (wi + gi + rep + ti) % nt[g] + 1], f, "|")
					printf "\n[%s.%s@%s]\nfilename=%s\ndirect=%s\n", g, W[wi], f[1], f[2], f[3]
					if (f[4] != "-") printf "runtime=%s\n", f[4]
					printf "%s", body[W[wi]]
				}
			}
		}
	}' "$FIO_JOBS" -
}

# fio_rep REP: one repetition of the fio matrix in one fio process. Binds a
# loopns and a loop device per backing file and device mode, warms the
# page cache, then runs: the page-cache-hot case (4 KiB random reads at QD1
# on the buffered-mode devices and the cached file), then every workload
# against the loopns device (direct=1), the loop device (direct=1) and the
# raw backing file (direct=1 in dio mode, else buffered); detaches.
# Results: $OUT/fio/r<rep>.json (fio's JSON) and r<rep>.meta.json.
fio_rep() {
	local rep=$1 b m g file raw_direct rc=0 base=$OUT/fio/r$1
	local -A dev=()
	mkdir -p "$OUT/fio"
	local spec='' meta=''
	for b in $BACKINGS; do
		file=$(backing_path "$b")
		for m in buffered dio; do
			dev[$b.$m.loopns]=$(attach loopns "$file" "$m")
			dev[$b.$m.loop]=$(attach loop "$file" "$m")
		done
		if ((HOT)); then
			spec+="$b.hot loopns ${dev[$b.buffered.loopns]} 1 $HOT_RUNTIME randread-4k-qd1-j1"$'\n'
			spec+="$b.hot loop ${dev[$b.buffered.loop]} 1 $HOT_RUNTIME randread-4k-qd1-j1"$'\n'
			spec+="$b.hot raw $file 0 $HOT_RUNTIME randread-4k-qd1-j1"$'\n'
		fi
	done
	for b in $BACKINGS; do
		file=$(backing_path "$b")
		for m in buffered dio; do
			g=$b.$m raw_direct=0
			local note=
			if [[ $m == dio ]]; then
				if can_odirect "$file"; then raw_direct=1; else note="O_DIRECT not supported on $b"; fi
			fi
			spec+="$g loopns ${dev[$g.loopns]} 1 - -"$'\n'
			spec+="$g loop ${dev[$g.loop]} 1 - -"$'\n'
			[[ -z $note ]] && spec+="$g raw $file $raw_direct - -"$'\n'
			meta+=$(printf '%s"%s":{"raw_direct":%d,"raw_note":"%s","dio_effective":{"loopns":"%s","loop":"%s"}}' \
				"${meta:+,}" "$g" "$raw_direct" "$note" \
				"$(cat "$(sysdev "${dev[$g.loopns]}")/loop/dio" 2>/dev/null)" \
				"$(cat "$(sysdev "${dev[$g.loop]}")/loop/dio" 2>/dev/null)")
		done
	done
	printf '{"rep":%d,"size":"%s","runtime":"%s","ramp":"%s","hot_runtime":"%s","groups":{%s}}\n' \
		"$rep" "$SIZE" "$RUNTIME" "$RAMP" "$HOT_RUNTIME" "$meta" >"$base.meta.json"
	printf '%s' "$spec" | gen_jobs "$rep" "$JOBS" >"$base.fio" || rc=1
	sync
	for b in $BACKINGS; do cat "$(backing_path "$b")" >/dev/null; done
	if ((rc == 0)); then
		SIZE=$SIZE HALF=$(($(bytes "$SIZE") / 2)) RUNTIME=$RUNTIME RAMP=$RAMP \
			fio --output-format=json --output="$base.json" "$base.fio" >/dev/null 2>"$base.err" ||
			{ rc=1; log "fio failed (rep $rep): $(tail -n 3 "$base.err")"; }
	fi
	[[ -s $base.err ]] || rm -f "$base.err"
	for g in "${dev[@]}"; do detach "$g"; done
	sync
	return $rc
}

sec_setup() {
	mkdir -p "$OUT" "$WORK"
	# Enough devices for the scale run (defaults: 4096 in all, 1024 per user).
	modprobe loopns max_devices=16384 max_devices_per_user=16384
	modprobe loop
	mkdir -p "$WORK/lns"
	mountpoint -q "$WORK/lns" || mount -t loopns loopns "$WORK/lns"
	local b
	for b in $BACKINGS; do make_backing "$(backing_path "$b")" "$SIZE"; done
	{
		printf '{"kernel":"%s","nproc":%d,"quick":%d,"reps":%d,"runtime":"%s","ramp":"%s","hot_runtime":"%s","size":"%s",' \
			"$(uname -r)" "$(nproc)" "$QUICK" "$REPS" "$RUNTIME" "$RAMP" "$HOT_RUNTIME" "$SIZE"
		printf '"ctl_secs":%s,"mem_devs":%d,"scale":"%s","backings":"%s","sections":"%s",' \
			"$CTL_SECS" "$MEM_DEVS" "$SCALE" "$BACKINGS" "$SECTIONS"
		printf '"fio":"%s","loopns_version":"%s","cpu":"%s","started":%s,"meminfo":' \
			"$(fio --version)" "$(cat /sys/module/loopns/version 2>/dev/null)" \
			"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
			"$(cut -d' ' -f1 /proc/uptime)"
		meminfo_json
		printf '}\n'
	} >"$OUT/info.json"
}

sec_fio() {
	local rep rc=0
	for ((rep = 1; rep <= REPS; rep++)); do
		log "fio rep $rep/$REPS"
		fio_rep "$rep" || rc=1
	done
	return $rc
}

# ctl_turns BACKING LOOPNS_DEVS LOOP_DEVS LOOPNS_OUT LOOP_OUT: attach+detach
# cycles, one process per device (comma-separated lists), loopns and loop
# taking turns (bench-attach turns).
ctl_turns() {
	local t=$OUT/control/turns.tmp
	bench-attach turns "$CTL_SECS" "$1" 0 "$2" "$3" >"$t"
	sed -n 1p "$t" >"$4"
	sed -n 2p "$t" >"$5"
	rm -f "$t"
}

sec_control() {
	local d=$OUT/control rep f=/tmp/bench-ctl.img
	mkdir -p "$d" "$WORK"/c1 "$WORK"/c2 "$WORK"/m1 "$WORK"/m2 "$WORK"/t1
	make_backing "$f" 16m
	mount -t loopns loopns "$WORK/c1"
	mount -t loopns loopns "$WORK/c2"
	loopioctl "$WORK/c1/loop-control" ctl-add 0 >/dev/null
	loopioctl "$WORK/c1/loop-control" ctl-add 1 >/dev/null
	loopioctl "$WORK/c2/loop-control" ctl-add 0 >/dev/null
	loopioctl /dev/loop-control ctl-add 200 >/dev/null
	loopioctl /dev/loop-control ctl-add 201 >/dev/null
	for ((rep = 1; rep <= REPS; rep++)); do
		log "control rep $rep/$REPS"
		# Whatever the last rep left for workers and RCU (instance
		# umounts) runs now, not in the next measurement.
		sync
		sleep 0.5
		# The two devices take turns bind by bind: the same background.
		bench-attach latency "$LAT_BINDS" "$f" "$WORK/c1/loop0" /dev/loop200 >"$d/lat.tmp"
		sed -n 1p "$d/lat.tmp" >"$d/lat${rep}_loopns.json"
		sed -n 2p "$d/lat.tmp" >"$d/lat${rep}_loop.json"
		rm -f "$d/lat.tmp"
		# loopns and loop take turns in 50 ms slices: the same background.
		ctl_turns "$f" "$WORK/c1/loop0" /dev/loop200 \
			"$d/r${rep}_attach_loopns_1.json" "$d/r${rep}_attach_loop_1.json"
		ctl_turns "$f" "$WORK/c1/loop0,$WORK/c2/loop0" /dev/loop200,/dev/loop201 \
			"$d/r${rep}_attach_loopns_2inst.json" "$d/r${rep}_attach_loop_2proc.json"
		bench-attach cycle "$CTL_SECS" "$f" 0 "$WORK/c1/loop0" "$WORK/c1/loop1" >"$d/r${rep}_attach_loopns_1inst2proc.json"
		bench-attach mount "$CTL_SECS" loopns "$WORK/m1" >"$d/r${rep}_mount_loopns_1.json"
		bench-attach mount "$CTL_SECS" loopns "$WORK/m1" "$WORK/m2" >"$d/r${rep}_mount_loopns_2.json"
		bench-attach mount "$CTL_SECS" tmpfs "$WORK/t1" >"$d/r${rep}_mount_tmpfs_1.json"
	done
	umount "$WORK/c1" "$WORK/c2"
	loopioctl /dev/loop-control ctl-remove 200 >/dev/null
	loopioctl /dev/loop-control ctl-remove 201 >/dev/null
	rm -f "$f"
}

sec_memory() {
	local d=$OUT/memory rep f=/tmp/bench-mem.img
	mkdir -p "$d" "$WORK/mem"
	# The fio backing files would only add noise now.
	rm -f "$(backing_path tmpfs)" "$(backing_path ext4)"
	make_backing "$f" 1m
	# Warm-up of both drivers, not recorded: the first run grows the slab
	# caches and percpu chunks that the second would find ready and be
	# credited with (loop, measured second, showed 0 percpu per device).
	log "memory warm-up: loopns and loop, $MEM_DEVS devices each"
	mount -t loopns -o max=$((MEM_DEVS + 8)) loopns "$WORK/mem"
	bench-attach mem "$WORK/mem/loop-control" "$WORK/mem/loop" 0 "$MEM_DEVS" "$f" >/dev/null
	umount "$WORK/mem"
	bench-attach mem /dev/loop-control /dev/loop 1000 "$MEM_DEVS" "$f" >/dev/null
	for ((rep = 1; rep <= MEM_REPS; rep++)); do
		log "memory rep $rep: loopns, $MEM_DEVS devices"
		mount -t loopns -o max=$((MEM_DEVS + 8)) loopns "$WORK/mem"
		bench-attach mem "$WORK/mem/loop-control" "$WORK/mem/loop" 0 "$MEM_DEVS" "$f" >"$d/r${rep}_loopns.json"
		umount "$WORK/mem"
		log "memory rep $rep: loop, $MEM_DEVS devices"
		bench-attach mem /dev/loop-control /dev/loop 1000 "$MEM_DEVS" "$f" >"$d/r${rep}_loop.json"
	done
	rm -f "$f"
}

sec_scale() {
	local f=/tmp/bench-scale.img left rc=0 rmmod_ok=0 mounts
	read -r ni nd <<<"$SCALE"
	make_backing "$f" 1m
	# loopns's teardown (unmounting the instances) and loop's (LOOP_CLR_FD
	# + LOOP_CTL_REMOVE of as many bound devices, as many processes) take
	# turns chunk by chunk: the same background for both (one after the
	# other, with the other kernel's VM busy beside this one, measured
	# anything from 1.1x to 2.7x for the same code).
	log "scale: $ni instances x $nd devices, and $((ni * nd)) loop devices"
	bench-attach scale "$WORK/scale" "$ni" "$nd" "$f" 1000 >"$OUT/scale.tmp" || rc=1
	[[ -s $OUT/scale.tmp ]] || echo '{"error":"bench-attach scale failed"}' >"$OUT/scale.tmp"
	rm -f "$f"
	# Everything else of the bench is gone too: nothing may be left.
	umount "$WORK/lns" 2>/dev/null || true
	sleep 1
	left=$(find /sys/block -maxdepth 1 -name 'loopns*' | wc -l)
	mounts=$(grep -c ' loopns ' /proc/mounts || true)
	if rmmod loopns; then rmmod_ok=1; else rc=1; fi
	((left == 0 && mounts == 0)) || rc=1
	{
		tr -d '\n' <"$OUT/scale.tmp" | sed 's/}$//'
		printf ',"left_sysfs":%d,"left_mounts":%d,"rmmod_ok":%d}\n' "$left" "$mounts" "$rmmod_ok"
	} >"$OUT/scale.json"
	rm -f "$OUT/scale.tmp"
	return $rc
}

# broker_ctr: a container (user + mount namespace, ids 0..65535 -> 100000..)
# for the broker section; prints its pid.
broker_ctr() {
	local pid
	unshare -Um --propagation private sleep 3600 </dev/null >/dev/null 2>&1 3>&- &
	pid=$!
	until [[ $(readlink "/proc/$pid/ns/user") != "$(readlink /proc/self/ns/user)" ]]; do
		sleep 0.05
	done
	echo "0 100000 65536" >"/proc/$pid/uid_map"
	echo "0 100000 65536" >"/proc/$pid/gid_map"
	echo "$pid"
}

# ms since the epoch
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# broker_read PID FILE MIB: cold sequential read of FILE (MIB MiB) in
# PID's namespaces; prints MiB/s.
broker_read() {
	local t0 t1
	echo 3 >/proc/sys/vm/drop_caches
	t0=$(now_ms)
	nsenter -t "$1" -U -m dd if="$2" of=/dev/null bs=1M status=none
	t1=$(now_ms)
	echo $(($3 * 1000 / (t1 - t0 + 1)))
}

# The mount broker (loopnsctl mount-image: ext4, idmapped) against the
# fuse2fs path a container has without it (its own instance's device,
# fuse2fs -o fakeroot as its root): time from request to a file visible in
# the container, and a cold sequential read of a large file there.
sec_broker() {
	local img=/tmp/bench-broker.img src=/tmp/bench-broker-src mb pid rep t0 f
	local bm=() bt=() fm=() ft=()
	mb=$(($(bytes "$SIZE") >> 20))
	mkdir -p "$src" "$WORK/bm" "$WORK/fm" "$WORK/fi"
	dd if=/dev/urandom of="$src/big" bs=1M count="$mb" status=none
	mkfs.ext4 -q -d "$src" "$img" "$((mb + mb / 4 + 8))M"
	rm -rf "$src"
	pid=$(broker_ctr)
	BROKER_PID=$pid
	# the container, its mounts and devices go whatever happens
	trap 'kill "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null' EXIT
	nsenter -t "$pid" -U -m mount -t loopns loopns "$WORK/fi"
	for ((rep = 1; rep <= REPS; rep++)); do
		log "broker rep $rep/$REPS"
		t0=$(now_ms)
		loopnsctl mount-image --read-only --target "$pid" --fd 3 "$WORK/bm" 3<"$img"
		nsenter -t "$pid" -U -m test -e "$WORK/bm/big"
		bm+=($(($(now_ms) - t0)))
		bt+=("$(broker_read "$pid" "$WORK/bm/big" "$mb")")
		nsenter -t "$pid" -U -m umount "$WORK/bm"
		t0=$(now_ms)
		nsenter -t "$pid" -U -m sh -c "n=\$(loopioctl $WORK/fi/loop-control ctl-get-free) &&
			loopioctl $WORK/fi/loop\$n configure $img 1 >/dev/null &&
			fuse2fs -o ro,fakeroot $WORK/fi/loop\$n $WORK/fm >/dev/null 2>&1 3>&- </dev/null &&
			test -e $WORK/fm/big"
		fm+=($(($(now_ms) - t0)))
		ft+=("$(broker_read "$pid" "$WORK/fm/big" "$mb")")
		nsenter -t "$pid" -U -m umount "$WORK/fm"
	done
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	trap - EXIT
	rm -f "$img"
	f=$(printf '"size_mib":%d,"broker_mount_ms":[%s],"broker_read_mibs":[%s],"fuse2fs_mount_ms":[%s],"fuse2fs_read_mibs":[%s]' \
		"$mb" "$(IFS=,; echo "${bm[*]}")" "$(IFS=,; echo "${bt[*]}")" \
		"$(IFS=,; echo "${fm[*]}")" "$(IFS=,; echo "${ft[*]}")")
	echo "{$f}" >"$OUT/broker.json"
	log "broker: mount ms ${bm[*]} vs fuse2fs ${fm[*]}; read MiB/s ${bt[*]} vs ${ft[*]}"
}

case ${1:-} in
setup | fio | control | memory | broker | scale) "sec_$1" ;;
*) echo "usage: $0 setup|fio|control|memory|broker|scale" >&2; exit 2 ;;
esac
