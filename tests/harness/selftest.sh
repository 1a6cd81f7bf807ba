#!/bin/bash
# Self-test of the VM harness: run check.sh on one kernel with
# tests/harness/selftest/selftest.bats, which holds a deliberately failing
# test, a test that plants "WARNING: CPU: 0 PID: 1 at selftest" in the
# kernel log, an OOM kill in a memory cgroup (whose stack dump must not
# count) and, last, a test that hangs in the kernel, and assert that
# the harness fails loudly:
#   - check.sh exits non-zero,
#   - the summary line counts the failing test, the hung test's missing
#     result and the failed vm health check ("<all but two> passed, 3
#     failed"),
#   - the failing test is reported as "not ok",
#   - the planted warning line is printed from the console log,
#   - the watchdog stopped the VM, naming the hung test, after the
#     guest's blocked tasks were dumped into the console log.
# Usage: tests/harness/selftest.sh [KVER]   (exit 0 = harness behaves)
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

k=${1:-${KVER:-$(harness_kvers | head -n 1)}}
[[ -n $k ]] || die "no kernel to run the self-test on"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

env -u FILTER -u KVERS \
	KVER="$k" BATS=tests/harness/selftest/selftest.bats LOOPNS_SELFTEST=0 LOOPNS_JOBS=1 \
	LOOPNS_STALL_TIMEOUT="${LOOPNS_SELFTEST_STALL:-60}" \
	LOOPNS_LOG_DIR="$BUILD_DIR/logs/selftest" LOOPNS_VM_DIR="$BUILD_DIR/vm/selftest" \
	"$HARNESS_DIR/check.sh" >"$out" 2>&1
rc=$?
cat "$out"

# Every test of selftest.bats passes except the deliberate failure and
# the hung one (no result); the vm health check fails on the planted
# warning and on the watchdog.
total=$(bats --count "$REPO_ROOT/tests/harness/selftest/selftest.bats")
expect="$((total - 2)) passed, 3 failed"
console=$BUILD_DIR/logs/selftest/$k/console.log
fails=0
check() {
	local what=$1
	shift
	if "$@"; then
		echo "selftest: ok - $what"
	else
		echo "selftest: FAILED - $what"
		fails=$((fails + 1))
	fi
}
# not_listed_oom_trace: the "Call Trace:" line of the cgroup's OOM report
# is not among the console lines the harness printed.
not_listed_oom_trace() {
	local n
	n=$(tr -d '\r' <"$console" | awk '/ invoked oom-killer: / { o = 1 } o && /Call Trace:/ { print NR; exit }')
	[[ -n $n ]] && ! grep -qE "^    $n:" "$out"
}
check "harness exit status is non-zero (got $rc)" test "$rc" -ne 0
check "summary line is '$expect'" test "$(tail -n 1 "$out")" = "$expect"
check "the failing test is reported" grep -q '^  not ok [0-9]* selftest: deliberately failing test' "$out"
check "the planted kernel warning is reported" grep -q 'WARNING: CPU: 0 PID: 1 at selftest' "$out"
check "vm health fails on the warning" grep -q 'not ok - vm health' "$out"
check "the watchdog stopped the VM, naming the hung test" \
	grep -q 'watchdog: no progress for [0-9]*s; running: selftest.bats: selftest: a test that hangs in the kernel' "$out"
check "the guest's blocked tasks were dumped" grep -q 'Show Blocked State' "$console"
check "the dump shows the hung writer" grep -qE 'task:touch +state:D' "$console"
check "the memory cgroup's OOM kill reached the console" grep -q 'Memory cgroup out of memory: Killed process [0-9]* (dd)' "$console"
check "its stack dump is not listed as a kernel issue" not_listed_oom_trace
check "the guest environment test passed" grep -q '^  ok [0-9]* selftest: guest environment is complete' "$out"
if ((fails)); then
	echo "selftest: FAIL ($fails assertions failed)"
	exit 1
fi
echo "selftest: PASS (the harness fails loudly on a failing test and on a kernel warning)"
