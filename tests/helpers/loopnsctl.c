// SPDX-License-Identifier: GPL-2.0
// helper-ldlibs: -I/usr/include/libsmartcols -I/usr/include/libmount -I/usr/include/blkid -lkmod -lsmartcols -lmount -lblkid
/*
 * loopnsctl for the test VM: the real tool (src/tool/), built by the
 * harness as one translation unit so that it lands in the guest's PATH.
 * Not a copy: every source is included from src/tool/.
 */
#define _GNU_SOURCE
/* truncating snprintf()s are deliberate (bounded names and paths) */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#define LOOPNS_TOOL_VERSION "test-build"
#include "../../src/tool/pure.c"
#include "../../src/tool/table.c"
#include "../../src/tool/sys.c"
#include "../../src/tool/cmds.c"
#include "../../src/tool/image.c"
#include "../../src/tool/main.c"
