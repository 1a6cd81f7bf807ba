#!/usr/bin/env bats
# Stress smoke (tests/stress/run.sh for ~20 s) on every kernel of
# `make check`, plus the regression tests of the bugs the stress suite and
# the debug kernel found (tests/stress/README.md lists them).
# LOOPNS_STRESS_SMOKE_SECONDS changes the duration.

load helpers

setup() {
	skip_unless_root
}

teardown() {
	lns_cleanup
}

@test "stress smoke: racing workers for ${LOOPNS_STRESS_SMOKE_SECONDS:-20}s, data verified, nothing leaked" {
	run timeout -k 5 300 bash "$TESTS_DIR/stress/run.sh" "${LOOPNS_STRESS_SMOKE_SECONDS:-20}"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[-1]} == "stress: PASS" ]]
}
