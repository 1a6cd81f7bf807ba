#!/usr/bin/env bats
# The stress suite on the debug kernel: LOOPNS_STRESS_SECONDS (default 300).

load ../../bats/helpers

@test "stress suite: ${LOOPNS_STRESS_SECONDS:-300}s of racing workers with fault injection, nothing leaked" {
	skip_unless_root
	run bash "$TESTS_DIR/stress/run.sh" "${LOOPNS_STRESS_SECONDS:-300}"
	echo "$output"
	# What every worker did, in the TAP log even when the test passes.
	printf '# %s\n' "${lines[@]}" >&3
	[ "$status" -eq 0 ]
	[[ ${lines[-1]} == "stress: PASS" ]]
}
