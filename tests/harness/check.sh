#!/bin/bash
# Engine of `make check`: for every kernel under test, build loopns.ko,
# boot it in QEMU (TCG) with a test initramfs, run the Bats suite inside as
# root, bring TAP back over a second serial port, scan the console log for
# kernel warnings, and print one summary line for the whole matrix.
#
# Usage: tests/harness/check.sh [KEY=VALUE...]
#   KVER=<kver>        one kernel (default: every Debian cloud kernel with
#                      /lib/modules/<kver>/build; or KVERS="a b")
#   BATS=<file|name>   one or more .bats files (space-separated): a path,
#                      or a name under tests/bats/ ("00-module" works)
#   FILTER=<regex>     only tests whose name matches (bats --filter)
#   LOOPNS_KVM=1       use KVM (default TCG; KVM hangs on these machines)
#   LOOPNS_JOBS=N      VMs booted in parallel (default 2)
#   LOOPNS_SMP=N LOOPNS_MEM=MiB       guest size (default 2 CPUs, 1024 MiB)
#   LOOPNS_VM_TIMEOUT=s               whole-VM limit (default 1800)
#   LOOPNS_BOOT_TIMEOUT=s             the guest's init must start by then,
#                                     or the boot is retried (default 600)
#   LOOPNS_BOOT_RETRIES=N             boots retried that way (default 1)
#   LOOPNS_TEST_TIMEOUT=s             per-test limit in bats (default 300)
#   LOOPNS_SELFTEST=0                 skip the harness self-test
#   LOOPNS_DRIVER=loop|loopns         exported to the tests (parity runs)
#   LOOPNS_GUEST_ENV="A=1 B=2"        more variables exported to the tests
#   LOOPNS_VERBOSE=1                  print whole console logs
#
# Every kernel counts its Bats tests plus one "vm health" check (module
# built, VM finished in time, TAP complete, console log free of kernel
# warnings). The harness self-test counts as one more test. Missing or
# truncated results count as failures. Last line: "N passed, N failed".
# Logs: build/logs/<kver>/{console.log,tap.txt,build.log,qemu.log}.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for arg in "$@"; do
	case $arg in
	-h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*=*) export "${arg?}" ;;
	*) die "unknown argument: $arg (use KEY=VALUE, see --help)" ;;
	esac
done

LOG_ROOT=${LOOPNS_LOG_DIR:-$BUILD_DIR/logs}
VM_ROOT=${LOOPNS_VM_DIR:-$BUILD_DIR/vm}
JOBS=${LOOPNS_JOBS:-2}
VM_TIMEOUT=${LOOPNS_VM_TIMEOUT:-1800}
BOOT_TIMEOUT=${LOOPNS_BOOT_TIMEOUT:-600}
BOOT_RETRIES=${LOOPNS_BOOT_RETRIES:-1}
SELFTEST=${LOOPNS_SELFTEST:-1}

# Words the console log must not contain.
KERNEL_ISSUES=$(harness_kernel_issues)

# ---------------------------------------------------------------- inputs

resolve_bats() {
	local w f
	if [[ -z ${BATS:-} ]]; then
		ls -1 "$REPO_ROOT"/tests/bats/*.bats 2>/dev/null | LC_ALL=C sort
		return
	fi
	for w in $BATS; do
		for f in "$w" "$REPO_ROOT/$w" "$REPO_ROOT/tests/bats/$w" "$REPO_ROOT/tests/bats/$w.bats"; do
			[[ -f $f ]] && { realpath "$f"; continue 2; }
		done
		die "BATS=$w: no such .bats file"
	done
}

mapfile -t BATS_FILES < <(resolve_bats)
((${#BATS_FILES[@]})) || die "no .bats files to run"
GUEST_BATS=()
for f in "${BATS_FILES[@]}"; do
	[[ $f == "$REPO_ROOT"/tests/* ]] || die "$f: .bats files must live under tests/"
	GUEST_BATS+=("/opt/loopns/tests/${f#"$REPO_ROOT"/tests/}")
done

count_args=()
[[ -n ${FILTER:-} ]] && count_args+=(--filter "$FILTER")
EXPECTED=$(bats --count "${count_args[@]}" "${BATS_FILES[@]}" 2>/dev/null) || EXPECTED=
[[ $EXPECTED =~ ^[0-9]+$ ]] || { warn "bats --count failed on the host"; EXPECTED=1; }

mapfile -t KVER_LIST < <(harness_kvers)
((${#KVER_LIST[@]})) || die "no kernels found (need /lib/modules/*-cloud-amd64/build or KVERS=)"

# ---------------------------------------------------------------- phases

write_run_env() {
	harness_run_env "$1" test
	{
		printf 'LOOPNS_BATS_FILES=%q\n' "${GUEST_BATS[*]}"
		printf 'LOOPNS_FILTER=%q\n' "${FILTER:-}"
		printf 'LOOPNS_TEST_TIMEOUT=%q\n' "${LOOPNS_TEST_TIMEOUT:-300}"
	} >>"$1"
}

# Build module + initramfs for kernel $1. Leaves $VM_ROOT/$1/initrd.img.
prepare_kernel() {
	local k=$1 logs=$LOG_ROOT/$1 vm=$VM_ROOT/$1
	rm -rf "$logs" && mkdir -p "$logs" "$vm"
	write_run_env "$vm/run.env"
	harness_prepare "$k" "$vm" "$logs" "$vm/run.env"
}

# boot_once KVER: one boot; returns 3 if the guest's init did not start
# within BOOT_TIMEOUT (the VM is then killed), else qemu's status.
boot_once() {
	local k=$1 logs=$LOG_ROOT/$1 vm=$VM_ROOT/$1 pid end
	timeout -k 10 "$VM_TIMEOUT" bash -c '. "$1"; shift; harness_qemu "$@"' _ "$HARNESS_DIR/lib.sh" "$k" "$vm" \
		-nographic -monitor none \
		-serial "file:$logs/console.log" -serial "file:$logs/tap.raw" \
		</dev/null >"$logs/qemu.log" 2>&1 &
	pid=$!
	end=$((SECONDS + BOOT_TIMEOUT))
	until grep -qs '^\[guest\] kernel ' "$logs/console.log"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		elif ((SECONDS >= end)); then
			kill "$pid"
			wait "$pid"
			return 3
		fi
		sleep 2
	done
	wait "$pid"
}

# Boot kernel $1; console and TAP land in build/logs/<kver>/. A boot that
# stalls before the guest's init starts (the kernel's own early boot: seen
# once with the debug kernel under TCG, KASAN reports from an interrupt
# taken in start_kernel) is retried; its console log is kept as
# console.stalled-<n>.log and reported by evaluate_kernel.
boot_kernel() {
	local k=$1 logs=$LOG_ROOT/$1 vm=$VM_ROOT/$1 t0 rc ms try
	t0=$(date +%s%N)
	for ((try = 1; ; try++)); do
		boot_once "$k"
		rc=$?
		((rc == 3 && try <= BOOT_RETRIES)) || break
		mv "$logs/console.log" "$logs/console.stalled-$try.log"
		: >"$logs/tap.raw"
		log "$k: boot $try stalled before init (${BOOT_TIMEOUT}s); booting again"
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	printf '%s %d.%01d\n' "$rc" $((ms / 1000)) $((ms % 1000 / 100)) >"$logs/vm.status"
	tr -d '\r' <"$logs/tap.raw" >"$logs/tap.txt"
	rm -f "$vm/scratch.img"
}

# Judge kernel $1: prints a report, writes "passed failed skipped" to result.
evaluate_kernel() {
	local k=$1 logs=$LOG_ROOT/$1 pass=0 fail=0 skip=0 plan='' done_marker='' bats_rc=''
	local vm_rc=- vm_time=- missing expected line health=() issues=
	if [[ -f $logs/vm.status ]]; then
		read -r vm_rc vm_time <"$logs/vm.status"
	fi
	echo "=== kernel $k"
	if [[ -f $logs/prepare.err ]]; then
		health+=("$(cat "$logs/prepare.err")")
	fi
	if [[ -f $logs/tap.txt ]]; then
		while IFS= read -r line; do
			case $line in
			"not ok "*) ((fail++)) ;;
			"ok "*"# skip"*) ((skip++)) ;;
			"ok "*) ((pass++)) ;;
			1..*) plan=${line#1..} ;;
			"# loopns-harness: bats-exit="*)
				done_marker=1
				bats_rc=${line#*bats-exit=}
				bats_rc=${bats_rc%% *}
				;;
			esac
		done <"$logs/tap.txt"
		sed 's/^/  /' "$logs/tap.txt" | grep -v '^  # loopns-harness:'
	fi
	expected=${plan:-$EXPECTED}
	[[ $expected =~ ^[0-9]+$ ]] || expected=$EXPECTED
	missing=$((expected - pass - fail - skip))
	if ((missing > 0)); then
		fail=$((fail + missing))
		health+=("TAP incomplete: $missing of $expected results missing (counted as failures)")
	fi
	if [[ ! -f $logs/prepare.err ]]; then
		if [[ $vm_rc == 3 ]]; then
			health+=("the guest's init did not start within ${BOOT_TIMEOUT}s, $((BOOT_RETRIES + 1)) boot(s)")
		elif [[ $vm_rc == 124 || $vm_rc == 137 ]]; then
			health+=("VM killed after ${VM_TIMEOUT}s timeout")
		elif [[ $vm_rc != 0 ]]; then
			health+=("qemu exited with status $vm_rc: $(tail -n 3 "$logs/qemu.log" 2>/dev/null | tr '\n' ' ')")
		fi
		[[ -n $done_marker ]] || health+=("guest never reported the end of the bats run")
		if [[ -n $done_marker && $bats_rc != 0 ]] && ((fail == 0)); then
			health+=("bats exited with status $bats_rc without a failing test")
		fi
	fi
	if [[ -f $logs/console.log ]]; then
		issues=$(tr -d '\r' <"$logs/console.log" | grep -nE "$KERNEL_ISSUES")
		if [[ -n $issues ]]; then
			health+=("kernel log has $(wc -l <<<"$issues") suspicious line(s), listed above")
			echo "  console log ($logs/console.log) contains:"
			head -n 60 <<<"$issues" | sed 's/^/    /'
		fi
		[[ ${LOOPNS_VERBOSE:-0} == 1 ]] && sed 's/^/  | /' "$logs/console.log"
	fi
	for line in "$logs"/console.stalled-*.log; do
		[[ -f $line ]] || continue
		echo "  # a boot stalled before init and was retried: $line"
		tr -d '\r' <"$line" | grep -m 3 -E "$KERNEL_ISSUES" | sed 's/^/  #   /'
	done
	if ((${#health[@]})) && [[ -z ${issues:-} && -s $logs/console.log && ${LOOPNS_VERBOSE:-0} != 1 ]]; then
		echo "  last lines of $logs/console.log:"
		tr -d '\r' <"$logs/console.log" | tail -n 25 | sed 's/^/  | /'
	fi
	if ((${#health[@]})); then
		fail=$((fail + 1))
		echo "  not ok - vm health ($k)"
		printf '    # %s\n' "${health[@]}"
	else
		pass=$((pass + 1))
		echo "  ok - vm health ($k): finished, TAP complete, console log clean"
	fi
	echo "$pass $fail $skip" >"$logs/result"
	echo "--- $k: $pass passed, $fail failed, $skip skipped (VM ${vm_time}s) logs: ${logs#"$REPO_ROOT"/}"
}

run_selftest() {
	mkdir -p "$LOG_ROOT/selftest"
	"$HARNESS_DIR/selftest.sh" "${KVER_LIST[0]}" >"$LOG_ROOT/selftest/output.log" 2>&1
	echo $? >"$LOG_ROOT/selftest/status"
}

# ---------------------------------------------------------------- main

# One run at a time per log directory: runs sharing a work tree would
# overwrite each other's logs, initramfs and scratch disks.
mkdir -p "$LOG_ROOT"
exec 8>"$LOG_ROOT/.lock"
if ! flock -n 8; then
	log "another check.sh run uses $LOG_ROOT; waiting for it"
	flock 8
fi

T0=$(date +%s)
log "kernels: ${KVER_LIST[*]}"
log "bats: ${BATS_FILES[*]#"$REPO_ROOT"/} (${EXPECTED} tests${FILTER:+, filter $FILTER})"
harness_build_helpers || warn "some helpers failed to build"

do_selftest=0
[[ $SELFTEST == 1 && -z ${BATS:-} && -z ${FILTER:-} ]] && do_selftest=1
((do_selftest)) && rm -rf "$LOG_ROOT/selftest"

for k in "${KVER_LIST[@]}"; do
	prepare_kernel "$k" || warn "$k: $(cat "$LOG_ROOT/$k/prepare.err")"
done
T1=$(date +%s)

# Boot the VMs (and the self-test, which boots its own) JOBS at a time.
running=0
start_job() {
	if ((running >= JOBS)); then
		wait -n
		((running--))
	fi
	"$@" &
	((running++))
}
((do_selftest)) && { log "self-test: booting ${KVER_LIST[0]} with a deliberately failing suite"; start_job run_selftest; }
for k in "${KVER_LIST[@]}"; do
	[[ -f $LOG_ROOT/$k/prepare.err ]] && continue
	log "booting $k"
	start_job boot_kernel "$k"
done
wait
T2=$(date +%s)

total_pass=0 total_fail=0 total_skip=0
for k in "${KVER_LIST[@]}"; do
	evaluate_kernel "$k"
	read -r p f s <"$LOG_ROOT/$k/result"
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
done
if ((do_selftest)); then
	echo "=== harness self-test (${KVER_LIST[0]})"
	sed 's/^/  | /' "$LOG_ROOT/selftest/output.log" | grep -E '^  \| (selftest|  ok|  not ok)' || true
	if [[ $(cat "$LOG_ROOT/selftest/status" 2>/dev/null) == 0 ]]; then
		echo "ok - harness self-test: a failing test and a kernel warning both fail the run"
		total_pass=$((total_pass + 1))
	else
		echo "not ok - harness self-test (full output: $LOG_ROOT/selftest/output.log)"
		tail -n 30 "$LOG_ROOT/selftest/output.log" | sed 's/^/  # /'
		total_fail=$((total_fail + 1))
	fi
fi
echo
log "time: prepare $((T1 - T0))s, VMs $((T2 - T1))s, total $(($(date +%s) - T0))s"
((total_skip)) && echo "skipped: $total_skip"
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
