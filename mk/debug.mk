# SPDX-License-Identifier: GPL-2.0
# Debug-kernel targets (included by the top-level Makefile):
#   make debug-kernel   build (once, cached in /var/cache/loopns/debug-kernel)
#                       the KASAN/UBSAN/lockdep/kmemleak/fault-injection
#                       kernel from Debian's linux-source-6.12 and link it
#                       into /lib/modules and /boot as 6.12.<n>-loopns-debug
#   make check-debug    loopns on that kernel in the VM harness: the whole
#                       Bats suite, the stress suite (5 minutes), kmemleak
# Options: see tests/debug/check-debug.sh --help.

.PHONY: check-debug debug-kernel

debug-kernel:
	$(SRCTREE)/tests/debug/build-kernel.sh build

check-debug:
	$(SRCTREE)/tests/harness/install-deps.sh
	$(SRCTREE)/tests/debug/check-debug.sh
