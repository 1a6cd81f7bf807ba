// SPDX-License-Identifier: GPL-2.0
// helper-ldlibs: -I/usr/include/libsmartcols -I/usr/include/libmount -lkmod -lsmartcols -lmount -ljson-c
/*
 * loopns-oci-hook for the test VM: the real hook (src/tool/ocihook.c and
 * loopnsctl's code), built by the harness as one translation unit.
 */
#define _GNU_SOURCE
#pragma GCC diagnostic ignored "-Wformat-truncation"
#define LOOPNS_TOOL_VERSION "test-build"
#include "../../src/tool/pure.c"
#include "../../src/tool/table.c"
#include "../../src/tool/sys.c"
#include "../../src/tool/cmds.c"
#include "../../src/tool/ocihook.c"
