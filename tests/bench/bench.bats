#!/usr/bin/env bats
# The loopns benchmark inside the VM: booted by tests/bench/run-bench.sh
# (not part of the Bats suite of tests/bats/). Each test is one section of
# tests/bench/guest-bench.sh; results go to $BENCH_OUT on the scratch disk.
# No test asserts a number: a test fails only when a section cannot run
# or leaves something behind.

GB="$BATS_TEST_DIRNAME/guest-bench.sh"

@test "bench: setup (modules, backing files)" {
	"$GB" setup
}

@test "bench: fio matrix and page-cache-hot case (loopns, loop, raw file)" {
	"$GB" fio
}

@test "bench: control path (attach/detach, mount/umount)" {
	"$GB" control
}

@test "bench: memory per idle and per bound device" {
	"$GB" memory
}

@test "bench: mount broker (loopnsctl mount-image) vs fuse2fs" {
	"$GB" broker
}

@test "bench: scale (instances x devices), nothing left, rmmod" {
	"$GB" scale
}
