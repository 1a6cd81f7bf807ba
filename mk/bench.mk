# SPDX-License-Identifier: GPL-2.0
#
# Benchmarks of loopns against the in-kernel loop driver and the raw
# backing file, in the VM of the test harness (tests/bench/). Included by
# the top-level Makefile.
#
#   make bench           every tested kernel: fio matrix, page-cache-hot
#                        reads, control path, memory, scale (< 15 min)
#   make bench-quick     6.12 only, a few workloads, one repetition
#                        (< 3 min); make check runs it so that the bench
#                        cannot rot. Exit 0 when the run completed; no
#                        number is ever judged.
#   make bench BENCH_ARGS="KVER=6.1 BENCH_REPS=5"   (see
#                        tests/bench/run-bench.sh --help)
#
# Results: build/bench/<timestamp>/{results.md,<kver>.json,chart.png},
# build/bench/latest (and latest-quick) point to the newest run.

BENCH_ARGS ?=

.PHONY: bench bench-quick bench-deps

bench-deps:
	@$(SRCTREE)/tests/harness/install-deps.sh >/dev/null
	@$(SRCTREE)/tests/bench/install-deps.sh >/dev/null

bench: bench-deps
	$(SRCTREE)/tests/bench/run-bench.sh $(BENCH_ARGS)

bench-quick: bench-deps
	$(SRCTREE)/tests/bench/run-bench.sh --quick $(BENCH_ARGS)
