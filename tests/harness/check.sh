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
#   LOOPNS_STALL_TIMEOUT=s            the watchdog: a guest that prints
#                                     nothing (console or TAP) for this
#                                     long gets its tasks dumped (SysRq
#                                     W, L, T) and is stopped; the report
#                                     names the running test (default 420)
#   LOOPNS_VM_TIMEOUT=s               backstop on a whole VM, far above
#                                     any healthy run (default 3600: CI
#                                     gives 5400 s to all of .ci/run)
#   LOOPNS_VM_BUDGET=s                the whole suite's VM stage must fit
#                                     in this on a quiet machine, or the
#                                     run fails (default 1200, about a
#                                     fifth of CI's 5400 s; 0: no check)
#   LOOPNS_BOOT_TIMEOUT=s             the guest's init must start by then,
#                                     or the boot is retried (default 600)
#   LOOPNS_BOOT_RETRIES=N             boots retried that way (default 1)
#   LOOPNS_TEST_TIMEOUT=s             per-test limit in bats (default 300)
#   LOOPNS_SELFTEST=0                 skip the harness self-test
#   LOOPNS_CRASH=0|1                  the crash test (tests/crash/): after
#                                     the suite the guest writes, fsyncs
#                                     and resets itself (SysRq-B); the
#                                     kernel is booted again on the same
#                                     scratch disk to check what survived
#                                     (default 1 for the whole suite, 0
#                                     with BATS= or FILTER=)
#   SLOW=1                            soak-like scenarios run
#                                     LOOPNS_SOAK_SCALE (default 4) times
#                                     longer (tests' soak)
#   LOOPNS_DRIVER=loop|loopns         exported to the tests (parity runs)
#   LOOPNS_GUEST_ENV="A=1 B=2"        more variables exported to the tests
#   LOOPNS_VERBOSE=1                  print whole console logs
#
# Every kernel counts its Bats tests plus one "vm health" check (module
# built, VM finished in time, TAP complete, console log free of kernel
# warnings); the crash test's second boot counts its own tests and
# health check. The harness self-test counts as one more test. Missing or
# truncated results count as failures. Last line: "N passed, N failed".
# Logs: build/logs/<kver>/{console.log,tap.txt,build.log,qemu.log}, the
# crash test's second boot in build/logs/<kver>/crash/.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for arg in "$@"; do
	case $arg in
	-h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*=*) export "${arg?}" ;;
	*) die "unknown argument: $arg (use KEY=VALUE, see --help)" ;;
	esac
done

if [[ ${SLOW:-0} == 1 ]]; then
	export LOOPNS_GUEST_ENV="${LOOPNS_GUEST_ENV:-} LOOPNS_SOAK_SCALE=${LOOPNS_SOAK_SCALE:-4}"
fi

LOG_ROOT=${LOOPNS_LOG_DIR:-$BUILD_DIR/logs}
VM_ROOT=${LOOPNS_VM_DIR:-$BUILD_DIR/vm}
JOBS=${LOOPNS_JOBS:-2}
VM_TIMEOUT=${LOOPNS_VM_TIMEOUT:-3600}
STALL_TIMEOUT=${LOOPNS_STALL_TIMEOUT:-420}
VM_BUDGET=${LOOPNS_VM_BUDGET:-1200}
BOOT_TIMEOUT=${LOOPNS_BOOT_TIMEOUT:-600}
BOOT_RETRIES=${LOOPNS_BOOT_RETRIES:-1}
SELFTEST=${LOOPNS_SELFTEST:-1}
CRASH=${LOOPNS_CRASH:-}
if [[ -z $CRASH ]]; then
	CRASH=0
	[[ -z ${BATS:-} && -z ${FILTER:-} ]] && CRASH=1
fi
CRASH_BATS=$REPO_ROOT/tests/crash/verify.bats

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
CRASH_EXPECTED=$(bats --count "$CRASH_BATS" 2>/dev/null) || CRASH_EXPECTED=1

mapfile -t KVER_LIST < <(harness_kvers)
((${#KVER_LIST[@]})) || die "no kernels found (need /lib/modules/*-cloud-amd64/build or KVERS=)"

# ---------------------------------------------------------------- phases

write_run_env() {
	harness_run_env "$1" test
	{
		printf 'LOOPNS_BATS_FILES=%q\n' "${GUEST_BATS[*]}"
		printf 'LOOPNS_FILTER=%q\n' "${FILTER:-}"
		printf 'LOOPNS_TEST_TIMEOUT=%q\n' "${LOOPNS_TEST_TIMEOUT:-300}"
		printf 'LOOPNS_CRASH=%q\n' "$CRASH"
	} >>"$1"
}

# Build module + initramfs for kernel $1. Leaves $VM_ROOT/$1/initrd.img.
prepare_kernel() {
	local k=$1 logs=$LOG_ROOT/$1 vm=$VM_ROOT/$1
	rm -rf "$logs" && mkdir -p "$logs" "$vm"
	write_run_env "$vm/run.env"
	harness_prepare "$k" "$vm" "$logs" "$vm/run.env"
}

# running_test TAP: the test the guest was running when its TAP stream
# (tests/guest/bats-format-progress: "# file", "# begin N name") ended.
running_test() {
	tr -d '\r' <"$1" | awk '
		/^# file / { file = substr($0, 8) }
		/^# begin / { n = $3; cur = file ": " substr($0, length("# begin " n " ") + 1); open = 1 }
		/^(not )?ok / { if ($0 ~ ("^(not )?ok " n " ")) open = 0 }
		END { if (open) print cur; else if (file != "") print file " (outside a test)" }'
}

# log_size FILE...: the files' total size in bytes.
log_size() {
	local f n=0
	for f in "$@"; do
		[[ -f $f ]] && n=$((n + $(stat -c %s "$f")))
	done
	echo "$n"
}

# monitor_send KVER COMMAND: one line to the VM's QEMU monitor (a FIFO
# pair; opened read-write, so that a dead QEMU never blocks us).
monitor_send() {
	printf '%s\n' "$2" 1<>"$VM_ROOT/$1/monitor.in"
}

# watchdog_fire KVER PID IDLE: the guest made no progress for IDLE
# seconds. Ask its kernel for blocked tasks, all CPUs' backtraces and all
# tasks (Alt-SysRq-W, -L, -T through the monitor's keyboard; -7 first:
# the dumps print at KERN_INFO, below the console's loglevel=6), wait
# until the dump has reached the console log, then stop the VM.
watchdog_fire() {
	local k=$1 pid=$2 idle=$3 logs=$LOG_ROOT/$1 what key size prev=-1 i
	what=$(running_test "$logs/tap.raw")
	printf 'no progress for %ds; running: %s\n' "$idle" "${what:-unknown}" >"$logs/watchdog"
	log "$k: watchdog: no progress for ${idle}s, running: ${what:-unknown}; dumping the guest's tasks"
	for key in 7 w l t; do
		monitor_send "$k" "sendkey alt-sysrq-$key"
		sleep 2
	done
	for ((i = 0; i < 30; i++)); do
		size=$(log_size "$logs/console.log")
		((size == prev)) && break
		prev=$size
		sleep 3
	done
	kill "$pid" 2>/dev/null
}

# watch_vm KVER PID: watch one boot until QEMU exits. Returns 3 if the
# guest's init did not start within BOOT_TIMEOUT (or QEMU quit before it
# did), 4 if the guest then
# printed nothing (console or TAP) for STALL_TIMEOUT seconds (the
# watchdog stopped it), else 0.
watch_vm() {
	local k=$1 pid=$2 logs=$LOG_ROOT/$1 size last_size=-1 last=$SECONDS
	local boot_end=$((SECONDS + BOOT_TIMEOUT)) booted=0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		if ((!booted)); then
			if grep -qs '^\[guest\] kernel ' "$logs/console.log"; then
				booted=1
			elif ((SECONDS >= boot_end)); then
				kill "$pid"
				return 3
			fi
			continue
		fi
		size=$(log_size "$logs/console.log" "$logs/tap.raw")
		if ((size != last_size)); then
			last_size=$size
			last=$SECONDS
		elif ((SECONDS - last >= STALL_TIMEOUT)); then
			watchdog_fire "$k" "$pid" $((SECONDS - last))
			return 4
		fi
	done
	# QEMU quit before the guest's init started: the kernel panicked in
	# its early boot (seen under heavy host load: "IO-APIC + timer
	# doesn't work", the timer check timing out under TCG).
	((booted)) || grep -qs '^\[guest\] kernel ' "$logs/console.log" || return 3
	return 0
}

# A boot's logs and VM files are in $LOG_ROOT/T and $VM_ROOT/T, where the
# target T is a kernel release (the suite's boot) or KVER/crash (the crash
# test's second boot). The functions below take a target.

# boot_once T: one boot, watched by watch_vm; returns its verdict (3,
# 4) or QEMU's status. TIMES gets the CPU time QEMU used (bash `times`).
boot_once() {
	local k=$1 logs=$LOG_ROOT/$1 vm=$VM_ROOT/$1 pid mon watch rc
	rm -f "$vm/monitor.in" "$vm/monitor.out" "$logs/watchdog" "$logs/qemu.times"
	mkfifo "$vm/monitor.in" "$vm/monitor.out" || return 1
	cat 0<>"$vm/monitor.out" >"$logs/monitor.log" &
	mon=$!
	TIMES=$logs/qemu.times timeout -k 10 "$VM_TIMEOUT" bash -c '. "$1"; shift; harness_qemu "$@"; rc=$?; times >"$TIMES"; exit $rc' \
		_ "$HARNESS_DIR/lib.sh" "${k%%/*}" "$vm" \
		-nographic -monitor "pipe:$vm/monitor" \
		-serial "file:$logs/console.log" -serial "file:$logs/tap.raw" \
		</dev/null >"$logs/qemu.log" 2>&1 &
	pid=$!
	watch_vm "$k" "$pid"
	watch=$?
	wait "$pid"
	rc=$?
	kill "$mon" 2>/dev/null
	wait "$mon" 2>/dev/null
	((watch)) && return "$watch"
	return "$rc"
}

# Boot target $1; console and TAP land in build/logs/<target>/. A boot that
# stalls or panics before the guest's init starts (the kernel's own early
# boot: seen once with the debug kernel under TCG, KASAN reports from an
# interrupt taken in start_kernel; and the IO-APIC timer check under heavy
# host load) is retried; its console log is kept as
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
		log "$k: boot $try stalled or stopped before init (${BOOT_TIMEOUT}s); booting again"
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	printf '%s %d.%01d\n' "$rc" $((ms / 1000)) $((ms % 1000 / 100)) >"$logs/vm.status"
	tr -d '\r' <"$logs/tap.raw" >"$logs/tap.txt"
}

# crash_boot KVER: the crash test's second boot, when the first (the
# suite's) reached the crash point: the same kernel and initramfs, with a
# run.env appended that runs tests/crash/verify.bats, on the same scratch
# disk. Otherwise the reason goes to build/logs/KVER/crash/prepare.err.
crash_boot() {
	local k=$1 logs=$LOG_ROOT/$1/crash vm=$VM_ROOT/$1/crash stage
	rm -rf "$logs" "$vm"
	mkdir -p "$logs" "$vm"
	if ! grep -qs '^# loopns-harness: crash-point' "$LOG_ROOT/$k/tap.txt"; then
		echo "the first boot did not reach the crash point (see $LOG_ROOT/$k/console.log)" >"$logs/prepare.err"
		return
	fi
	stage=$(mktemp -d)
	mkdir -p "$stage/etc/loopns"
	harness_run_env "$stage/etc/loopns/run.env" test
	{
		printf 'LOOPNS_BATS_FILES=%q\n' "/opt/loopns/tests/${CRASH_BATS#"$REPO_ROOT"/tests/}"
		printf 'LOOPNS_TEST_TIMEOUT=%q\n' "${LOOPNS_TEST_TIMEOUT:-300}"
	} >>"$stage/etc/loopns/run.env"
	(cd "$stage" && printf '%s\n' etc etc/loopns etc/loopns/run.env | cpio --quiet -o -H newc -R 0:0) >"$vm/run.cpio"
	rm -rf "$stage"
	cat "$VM_ROOT/$k/initrd.img" "$vm/run.cpio" >"$vm/initrd.img"
	mv "$VM_ROOT/$k/scratch.img" "$vm/scratch.img"
	log "$k: booting again on the same disk (crash test)"
	boot_kernel "$k/crash"
	rm -f "$vm/scratch.img" "$vm/initrd.img"
}

# kernel_job KVER: the suite's boot, then the crash test's second boot.
kernel_job() {
	boot_kernel "$1"
	((CRASH)) && crash_boot "$1"
	rm -f "$VM_ROOT/$1/scratch.img"
}

# evaluate_kernel T [EXPECTED]: judge target T, whose Bats files hold
# EXPECTED tests (default: the suite's); prints a report, writes "passed
# failed skipped" to result.
evaluate_kernel() {
	local k=$1 logs=$LOG_ROOT/$1 pass=0 fail=0 skip=0 plan='' done_marker='' bats_rc=''
	local vm_rc=- vm_time=- missing expected line health=() issues="" count=${2:-$EXPECTED}
	if [[ -f $logs/vm.status ]]; then
		read -r vm_rc vm_time <"$logs/vm.status"
	fi
	if [[ $k == */crash ]]; then
		echo "=== kernel ${k%/crash}, crash test: second boot on the same disk"
	else
		echo "=== kernel $k"
	fi
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
	expected=${plan:-$count}
	[[ $expected =~ ^[0-9]+$ ]] || expected=$count
	missing=$((expected - pass - fail - skip))
	if ((missing > 0)); then
		fail=$((fail + missing))
		health+=("TAP incomplete: $missing of $expected results missing (counted as failures)")
	fi
	if [[ ! -f $logs/prepare.err ]]; then
		if [[ $vm_rc == 3 ]]; then
			health+=("the guest's init did not start within ${BOOT_TIMEOUT}s, $((BOOT_RETRIES + 1)) boot(s)")
		elif [[ $vm_rc == 4 ]]; then
			health+=("watchdog: $(cat "$logs/watchdog" 2>/dev/null); the guest's tasks (SysRq W, L, T) are in $logs/console.log")
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
		issues=$(harness_console_issues "$logs/console.log")
		if [[ -n $issues ]]; then
			health+=("kernel log has $(wc -l <<<"$issues") suspicious line(s), listed above")
			echo "  console log ($logs/console.log) contains:"
			head -n 60 <<<"$issues" | sed 's/^/    /'
		fi
		[[ ${LOOPNS_VERBOSE:-0} == 1 ]] && sed 's/^/  | /' "$logs/console.log"
	fi
	for line in "$logs"/console.stalled-*.log; do
		[[ -f $line ]] || continue
		echo "  # a boot stalled or stopped before init and was retried: $line"
		harness_console_issues "$line" | head -n 3 | sed 's/^/  #   /'
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

# cpu_seconds FILE: user + system seconds of QEMU from bash `times`
# output (second line: children), or 0.
cpu_seconds() {
	[[ -f $1 ]] || { echo 0; return; }
	sed -n 2p "$1" | awk '{
		t = 0
		for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
		printf "%d\n", t }'
}

# slowest_report: the ten slowest tests and the five slowest files over
# every kernel, from the "# in N ms" and "# file" lines of the TAP logs.
slowest_report() {
	local k
	echo "slowest tests (seconds, kernel, test):"
	for k in "${KVER_LIST[@]}"; do
		[[ -f $LOG_ROOT/$k/tap.txt ]] || continue
		sed -nE "s/^(not )?ok [0-9]+ (.*) # in ([0-9]+) ms.*/\3 $k \2/p" "$LOG_ROOT/$k/tap.txt"
	done | sort -rn | head -n 10 | awk '{ $1 = sprintf("%7.1f", $1 / 1000); print "  " $0 }'
	echo "slowest files (seconds summed over the kernels):"
	for k in "${KVER_LIST[@]}"; do
		[[ -f $LOG_ROOT/$k/tap.txt ]] && cat "$LOG_ROOT/$k/tap.txt"
	done | awk '
		/^# file / { f = $3 }
		/# in [0-9]+ ms/ { match($0, /# in [0-9]+ ms/); t[f] += substr($0, RSTART + 5, RLENGTH - 8) }
		END { for (f in t) printf "%7.1f  %s\n", t[f] / 1000, f }' | sort -rn | head -n 5 | sed 's/^/  /'
}

# budget_check WALL: print the VM stage's times; fail (return 1) when the
# whole suite would take more than VM_BUDGET seconds on a quiet machine.
# A busy host stretches the wall time but not the CPU time QEMU needs, so
# the quiet time is estimated from QEMU's CPU time: the slowest VM, or
# all VMs' time spread over the host's cores, whichever is longer (never
# more than the wall time).
budget_check() {
	local wall=$1 k c sum=0 max=0 per=() est cores
	cores=$(nproc)
	for k in "${KVER_LIST[@]}" "${KVER_LIST[@]/%//crash}" selftest/"${KVER_LIST[0]}"; do
		c=$(cpu_seconds "$LOG_ROOT/$k/qemu.times")
		((c)) || continue
		per+=("$k=${c}s")
		sum=$((sum + c))
		((c > max)) && max=$c
	done
	est=$(((sum + cores - 1) / cores))
	((max > est)) && est=$max
	((wall < est)) && est=$wall
	echo "VM stage: ${wall}s wall; QEMU CPU ${sum}s (${per[*]}); quiet-machine estimate ${est}s, budget ${VM_BUDGET}s"
	((VM_BUDGET == 0 || est <= VM_BUDGET)) && return 0
	echo "the VM stage would take ${est}s on a quiet machine, over its budget of ${VM_BUDGET}s (LOOPNS_VM_BUDGET): make the slowest tests above cheaper before adding more"
	return 1
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
JOB_PIDS=()
start_job() {
	local pid alive
	while ((${#JOB_PIDS[@]} >= JOBS)); do
		wait -n "${JOB_PIDS[@]}"
		alive=()
		for pid in "${JOB_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive+=("$pid")
		done
		JOB_PIDS=("${alive[@]}")
	done
	"$@" &
	JOB_PIDS+=($!)
}
# The self-test's VM is short and mostly waits (for its watchdog): it
# takes no slot from the suite's VMs.
((do_selftest)) && { log "self-test: booting ${KVER_LIST[0]} with a deliberately failing suite"; run_selftest & }
for k in "${KVER_LIST[@]}"; do
	[[ -f $LOG_ROOT/$k/prepare.err ]] && continue
	log "booting $k"
	start_job kernel_job "$k"
done
wait
T2=$(date +%s)

total_pass=0 total_fail=0 total_skip=0
for k in "${KVER_LIST[@]}"; do
	evaluate_kernel "$k"
	read -r p f s <"$LOG_ROOT/$k/result"
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
	if ((CRASH)); then
		[[ -d $LOG_ROOT/$k/crash ]] || { mkdir -p "$LOG_ROOT/$k/crash"; cp "$LOG_ROOT/$k/prepare.err" "$LOG_ROOT/$k/crash/" 2>/dev/null; }
		evaluate_kernel "$k/crash" "$CRASH_EXPECTED"
		read -r p f s <"$LOG_ROOT/$k/crash/result"
		total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
	fi
done
if ((do_selftest)); then
	echo "=== harness self-test (${KVER_LIST[0]})"
	sed 's/^/  | /' "$LOG_ROOT/selftest/output.log" | grep -E '^  \| (selftest|  ok|  not ok)' || true
	if [[ $(cat "$LOG_ROOT/selftest/status" 2>/dev/null) == 0 ]]; then
		echo "ok - harness self-test: a failing test, a kernel warning and a hung test (watchdog) all fail the run"
		total_pass=$((total_pass + 1))
	else
		echo "not ok - harness self-test (full output: $LOG_ROOT/selftest/output.log)"
		tail -n 30 "$LOG_ROOT/selftest/output.log" | sed 's/^/  # /'
		total_fail=$((total_fail + 1))
	fi
fi
echo
slowest_report
budget_check $((T2 - T1))
budget_rc=$?
# Only the whole suite is held to the budget.
if ((do_selftest && VM_BUDGET)); then
	if ((budget_rc)); then
		echo "not ok - vm time budget"
		total_fail=$((total_fail + 1))
	else
		echo "ok - vm time budget"
		total_pass=$((total_pass + 1))
	fi
fi
log "time: prepare $((T1 - T0))s, VMs $((T2 - T1))s, total $(($(date +%s) - T0))s"
((total_skip)) && echo "skipped: $total_skip"
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
