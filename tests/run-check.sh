#!/bin/bash
# `make check`: every stage of the test suite, one summary line.
#
#   tests/run-check.sh [KEY=VALUE...]     (arguments go to the VM harness)
#
# Stages, each counted in the summary:
#   lint       checkpatch --strict and sparse/W=1 on every kernel (1 test)
#   unit       host-side unit tests of loopnsctl (TAP), when present
#   sid        tests/harness/sid-kernel.sh prepare: the newest Debian
#              kernel (sid) and a sid chroot to build for it, cached in
#              /var/cache/loopns/sid; then W=1 and sparse for it (2 tests).
#              LOOPNS_SID=0 leaves the sid kernel out of the whole run.
#   vm         tests/harness/check.sh: the Bats suite in a VM per kernel
#              (both Debian 12 kernels and sid's, all booted at once),
#              plus its own self-test ("N passed, N failed")
#   bench      make bench-quick: the benchmark must still run (no timing
#              is asserted; 1 test)
#   packaging  tests/packaging/run.sh: DKMS, .deb, .rpm (TAP)
# With BATS= or FILTER= only the vm stage runs. The last line is
# "N passed, N failed" for everything; the exit status is non-zero if
# anything failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PASSED=0
FAILED=0
LOGDIR=build/logs/check
mkdir -p "$LOGDIR"

for arg in "$@"; do
	case $arg in
	BATS=* | FILTER=*) export "${arg?}"; ONLY_VM=1 ;;
	*=*) export "${arg?}" ;;
	esac
done
[[ -n ${BATS:-} || -n ${FILTER:-} ]] && ONLY_VM=1

count() { # stage status passed failed
	printf '[check] %-10s %s: %d passed, %d failed\n' "$1" "$2" "$3" "$4"
	PASSED=$((PASSED + $3))
	FAILED=$((FAILED + $4))
}

# A TAP stream: count "ok" and "not ok" lines.
count_tap() { # stage logfile status
	local ok notok
	ok=$(grep -cE '^ok [0-9]+' "$2")
	notok=$(grep -cE '^not ok [0-9]+' "$2")
	if [[ $3 -ne 0 && $notok -eq 0 ]]; then
		notok=1 # the stage failed without saying which test
	fi
	count "$1" "exit $3" "$ok" "$notok"
}

stage_lint() {
	local log=$LOGDIR/lint.log
	if make --no-print-directory lint >"$log" 2>&1; then
		count lint ok 1 0
	else
		tail -30 "$log"
		count lint "FAILED (see $log)" 0 1
	fi
}

stage_unit() {
	local log=$LOGDIR/unit.log
	make -n unit-test >/dev/null 2>&1 || return 0
	make --no-print-directory unit-test >"$log" 2>&1
	local rc=$?
	cat "$log"
	count_tap unit "$log" "$rc"
}

stage_sid() {
	local log=$LOGDIR/sid.log
	[[ ${LOOPNS_SID:-1} == 1 ]] || return 0
	if tests/harness/sid-kernel.sh prepare >"$log" 2>&1; then
		tail -n 1 "$log"
		count sid "prepared" 1 0
	else
		tail -n 30 "$log"
		count sid "prepare FAILED (see $log)" 0 1
		return
	fi
	SID_READY=1
	if tests/harness/sid-kernel.sh lint . >"$LOGDIR/sid-lint.log" 2>&1; then
		count sid-lint ok 1 0
	else
		tail -n 30 "$LOGDIR/sid-lint.log"
		count sid-lint "FAILED (see $LOGDIR/sid-lint.log)" 0 1
	fi
}

stage_vm() {
	local log=$LOGDIR/vm.log line
	local -a sid=()
	# The sid kernel only here: packaging needs host headers (DKMS).
	# Three VMs share the host's two cores: one vCPU each (TCG emulates
	# an SMP guest about 16% slower; races get two vCPUs in
	# `make check-debug`, or here with LOOPNS_SMP=2).
	[[ -n ${SID_READY:-} ]] &&
		sid=(LOOPNS_SID=1 "LOOPNS_JOBS=${LOOPNS_JOBS:-3}" "LOOPNS_SMP=${LOOPNS_SMP:-1}")
	env "${sid[@]}" tests/harness/check.sh 2>&1 | tee "$log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [[ -z $line ]]; then
		count vm "no summary" 0 1
		return
	fi
	count vm done "${line%% passed*}" "$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")"
}

stage_bench() {
	local log=$LOGDIR/bench-quick.log
	make -n bench-quick >/dev/null 2>&1 || return 0
	if make --no-print-directory bench-quick >"$log" 2>&1; then
		count bench ok 1 0
	else
		tail -30 "$log"
		count bench "FAILED (see $log)" 0 1
	fi
}

stage_packaging() {
	local log=$LOGDIR/packaging.log rc
	tests/packaging/run.sh >"$log" 2>&1
	rc=$?
	grep -E '^(not )?ok ' "$log"
	count_tap packaging "$log" "$rc"
}

if [[ -z ${ONLY_VM:-} ]]; then
	stage_lint
	stage_unit
	stage_sid
fi
stage_vm
if [[ -z ${ONLY_VM:-} ]]; then
	stage_bench
	stage_packaging
fi

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
