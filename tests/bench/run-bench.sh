#!/bin/bash
# The loopns benchmark (`make bench`, `make bench-quick`): for each kernel,
# boot the VM of the test harness (tests/harness/lib.sh) once, load loopns
# and the in-kernel loop, and run the same workloads in the same boot
# against a loopns device, a loop device and the raw backing file
# (tests/bench/guest-bench.sh, driven by tests/bench/bench.bats).
#
# Usage: tests/bench/run-bench.sh [--quick] [KEY=VALUE...]
#   --quick              short variant: one kernel (6.12), fewer workloads,
#                        1 repetition, short runtimes
#   --report=DIR         only redo results.md, the JSON and the chart of an
#                        earlier run (build/bench/<timestamp>)
#   KVER=, KVERS=        kernels (default: every Debian cloud kernel and the
#                        sid kernel if prepared, LOOPNS_SID=0 to leave it
#                        out; --quick: 6.12)
#   BENCH_REPS, BENCH_RUNTIME, BENCH_RAMP, BENCH_SIZE, BENCH_CTL_SECS,
#   BENCH_MEM_DEVS, BENCH_MEM_REPS, BENCH_HOT, BENCH_HOT_RUNTIME, BENCH_SETTLE_MS,
#   BENCH_PAR, BENCH_SCALE="I D", BENCH_JOBS="fio sections",
#   BENCH_BACKINGS="tmpfs ext4"           see tests/bench/guest-bench.sh
#   LOOPNS_MEM=MiB, LOOPNS_SMP=N          guest size (default 2048, 2)
#   BENCH_VM_TIMEOUT=s   whole-VM limit (default 1500, --quick 600)
#   BENCH_VM_JOBS=N      kernels benchmarked in parallel VMs (default 2; 1:
#                        one after the other, quieter but twice as long)
#   BENCH_SECTIONS="a b" only these sections of bench.bats (setup always
#                        runs): fio control memory broker scale
#
# Output: build/bench/<timestamp>/ (build/bench/latest points to it):
#   <kver>/raw/...       what the guest wrote (fio JSON, control, memory)
#   <kver>/console.log, <kver>/tap.txt
#   <kver>.json          one JSON per kernel run: every repetition + medians
#   results.md           markdown tables (absolute numbers and ratios)
#   chart.png            fio ratios loopns/loop and loopns/raw (gnuplot)
# Exit status 0 when every kernel's run completed with a clean console log
# and nothing left behind; numbers are never judged.
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/harness/lib.sh
. "$BENCH_DIR/../harness/lib.sh"

QUICK=0 REPORT_ONLY=
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	--report=*) REPORT_ONLY=${arg#--report=} ;;
	-h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*=*) export "${arg?}" ;;
	*) die "unknown argument: $arg (see --help)" ;;
	esac
done

export LOOPNS_MEM=${LOOPNS_MEM:-2048} LOOPNS_SMP=${LOOPNS_SMP:-2}
export LOOPNS_SCRATCH_SIZE=${LOOPNS_SCRATCH_SIZE:-3G}
if ((QUICK)); then
	[[ -z ${KVER:-} && -z ${KVERS:-} ]] && export KVER=6.12
	VM_TIMEOUT=${BENCH_VM_TIMEOUT:-600}
else
	VM_TIMEOUT=${BENCH_VM_TIMEOUT:-1500}
	# The sid kernel too (its loop is upstream's newest), if prepared.
	export LOOPNS_SID=${LOOPNS_SID:-1}
fi
# Full runs boot the kernels side by side to stay within the time budget
# (every ratio pairs targets measured back to back in the same VM).
VM_JOBS=${BENCH_VM_JOBS:-$( ((QUICK)) && echo 1 || echo 2)}

# make_report DIR: report.py and gnuplot; non-zero if either failed.
make_report() {
	local dir=$1
	log "report"
	python3 "$BENCH_DIR/report.py" "$dir" || { warn "report: results missing or broken"; return 1; }
	if command -v gnuplot >/dev/null; then
		gnuplot -e "datafile='$dir/chart.dat'; varsfile='$dir/chart.vars'; outfile='$dir/chart.png'" \
			"$BENCH_DIR/chart.gp" 2>"$dir/gnuplot.log" ||
			{ warn "gnuplot failed: $(tail -n 3 "$dir/gnuplot.log")"; return 1; }
	else
		warn "gnuplot missing (tests/bench/install-deps.sh): no chart"
	fi
}

if [[ -n $REPORT_ONLY ]]; then
	make_report "$REPORT_ONLY"
	rc=$?
	cat "$REPORT_ONLY/results.md"
	exit $rc
fi

mapfile -t KVER_LIST < <(harness_kvers)
((${#KVER_LIST[@]})) || die "no kernels found"

ROOT=$BUILD_DIR/bench
STAMP=$(date +%Y%m%d-%H%M%S)$( ((QUICK)) && echo -quick)
OUT=$ROOT/$STAMP
mkdir -p "$OUT"
ln -sfn "$STAMP" "$ROOT/latest$( ((QUICK)) && echo -quick)"

# One bench at a time: the VM directories are shared, and two benches
# would measure each other.
exec 8>"$ROOT/.lock"
flock -n 8 || { log "another bench is running; waiting"; flock 8; }

# Parameters for the guest (tests/guest/init exports LOOPNS_GUEST_ENV).
genv="BENCH_QUICK=$QUICK"
for v in BENCH_REPS BENCH_RUNTIME BENCH_RAMP BENCH_SIZE BENCH_CTL_SECS BENCH_MEM_DEVS \
	BENCH_MEM_REPS BENCH_HOT BENCH_HOT_RUNTIME BENCH_SETTLE_MS BENCH_PAR; do
	[[ -n ${!v:-} ]] && genv+=" $v=${!v}"
done
# Values with spaces travel with "," instead (guest-bench.sh splits them).
for v in BENCH_SCALE BENCH_JOBS BENCH_BACKINGS BENCH_SECTIONS; do
	[[ -n ${!v:-} ]] && genv+=" $v=$(tr ' ' , <<<"${!v}")"
done
export LOOPNS_GUEST_ENV="$genv${LOOPNS_GUEST_ENV:+ $LOOPNS_GUEST_ENV}"

# BENCH_SECTIONS as a Bats filter on the test names ("bench: control ...").
SECTION_FILTER=
if [[ -n ${BENCH_SECTIONS:-} ]]; then
	SECTION_FILTER="^bench: (setup|(mount )?(${BENCH_SECTIONS// /|}))"
fi
KERNEL_ISSUES=$(harness_kernel_issues)
T0=$(date +%s)
# What was measured, and on how busy a host.
src_commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
src_dirty=$(git -C "$REPO_ROOT" status --porcelain -- src include Kbuild 2>/dev/null | wc -l)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "bench$( ((QUICK)) && echo ' --quick'): kernels ${KVER_LIST[*]}, output ${OUT#"$REPO_ROOT"/}"
harness_build_helpers || die "helpers failed to build"

# bench_kernel KVER: prepare, boot, collect. Returns non-zero on failure.
bench_kernel() {
	local k=$1 vm=$ROOT/vm/$1 logs=$OUT/$1 t0 rc tests pass
	mkdir -p "$vm" "$logs"
	harness_run_env "$vm/run.env" test
	{
		printf 'LOOPNS_BATS_FILES=%q\n' /opt/loopns/tests/bench/bench.bats
		printf 'LOOPNS_FILTER=%q\n' "$SECTION_FILTER"
		printf 'LOOPNS_TEST_TIMEOUT=%q\n' "$VM_TIMEOUT"
	} >>"$vm/run.env"
	if ! harness_prepare "$k" "$vm" "$logs" "$vm/run.env"; then
		warn "$k: $(cat "$logs/prepare.err")"
		return 1
	fi
	log "$k: booting (guest ${LOOPNS_SMP} CPUs, ${LOOPNS_MEM} MiB)"
	t0=$(date +%s)
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout -k 10 "$VM_TIMEOUT" bash -c '. "$1"; shift; harness_qemu "$@"' _ "$HARNESS_DIR/lib.sh" "$k" "$vm" \
		-nographic -monitor none \
		-serial "file:$logs/console.log" -serial "file:$logs/tap.raw" \
		</dev/null >"$logs/qemu.log" 2>&1
	rc=$?
	tr -d '\r' <"$logs/tap.raw" >"$logs/tap.txt" && rm -f "$logs/tap.raw"
	log "$k: VM finished in $(($(date +%s) - t0))s (status $rc)"
	sed 's/^/  /' "$logs/tap.txt" | grep -v '^  # loopns-harness:' >&2
	rm -rf "$logs/raw"
	mkdir -p "$logs/raw"
	debugfs -R "rdump /bench $logs/raw" "$vm/scratch.img" >"$logs/debugfs.log" 2>&1
	[[ -d $logs/raw/bench ]] && mv "$logs/raw/bench"/* "$logs/raw/" && rmdir "$logs/raw/bench"
	rm -f "$vm/scratch.img"
	local fail=0
	((rc == 0)) || { warn "$k: qemu exited with status $rc"; fail=1; }
	tests=$(grep -c '^1\.\.' "$logs/tap.txt")
	pass=$(grep -cE '^ok ' "$logs/tap.txt")
	if ! grep -q '^# loopns-harness: bats-exit=0' "$logs/tap.txt" || ((tests != 1)); then
		warn "$k: the guest bench did not complete (see $logs/tap.txt, $logs/console.log)"
		fail=1
	fi
	if grep -qE '^not ok ' "$logs/tap.txt"; then
		warn "$k: a bench section failed"
		fail=1
	fi
	if tr -d '\r' <"$logs/console.log" | grep -nE "$KERNEL_ISSUES" >"$logs/kernel-issues.txt"; then
		warn "$k: console log has kernel warnings:"
		head -n 30 "$logs/kernel-issues.txt" >&2
		fail=1
	else
		rm -f "$logs/kernel-issues.txt"
	fi
	[[ -f $logs/raw/info.json ]] || { warn "$k: no results on the scratch disk"; fail=1; }
	log "$k: $pass sections ok"
	return $fail
}

failed=0
if ((VM_JOBS <= 1 || ${#KVER_LIST[@]} == 1)); then
	for k in "${KVER_LIST[@]}"; do
		bench_kernel "$k" || failed=1
	done
else
	# Kernels in parallel VMs: shorter, but the VMs share the host's CPUs.
	declare -A pid_of=()
	for k in "${KVER_LIST[@]}"; do
		while (($(jobs -rp | wc -l) >= VM_JOBS)); do wait -n; done
		bench_kernel "$k" >"$OUT/$k.log" 2>&1 &
		pid_of[$k]=$!
	done
	for k in "${KVER_LIST[@]}"; do
		wait "${pid_of[$k]}" || failed=1
		cat "$OUT/$k.log" >&2
	done
fi

printf '{"commit":"%s","src_dirty_files":%d,"quick":%d,"vm_jobs":%d,"kernels":"%s","wall_s":%d,"host_nproc":%d,"host_load_start":"%s","host_load_end":"%s","guest_env":"%s"}\n' \
	"$src_commit" "$src_dirty" "$QUICK" "$VM_JOBS" "${KVER_LIST[*]}" $(($(date +%s) - T0)) "$(nproc)" \
	"$LOAD0" "$(cut -d' ' -f1-3 /proc/loadavg)" "$LOOPNS_GUEST_ENV" >"$OUT/run.json"
make_report "$OUT" || failed=1
[[ -f $OUT/results.md ]] && cat "$OUT/results.md"
log "time: $(($(date +%s) - T0))s; results in ${OUT#"$REPO_ROOT"/}"
if ((failed)); then
	echo "bench: FAILED"
	exit 1
fi
echo "bench: ok"
