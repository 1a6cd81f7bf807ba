// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: numbers, /proc/devices parsing and mount options of
 * loopnsctl (src/tool/pure.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "loopnsctl.h"
#include "tap.h"

static void test_numbers(void)
{
	uint64_t v = 0;
	uint32_t u = 0;
	int idx = -1, part = -1;

	is_int(lns_parse_size("4096", &v), 0, "size 4096");
	is_int(v, 4096, "size 4096 value");
	is_int(lns_parse_size("1M", &v), 0, "size 1M");
	is_int(v, 1 << 20, "1M = 1048576");
	is_int(lns_parse_size("2GiB", &v), 0, "size 2GiB");
	is_int(v, 2LL << 30, "2GiB value");
	is_int(lns_parse_size("512k", &v), 0, "lower-case suffix");
	is_int(v, 512 << 10, "512k value");
	is_int(lns_parse_size("3KB", &v), 0, "KB suffix");
	is_int(lns_parse_size("0x1000", &v), 0, "hex size");
	is_int(v, 4096, "0x1000 value");
	is_int(lns_parse_size("1X", &v), -EINVAL, "unknown suffix");
	is_int(lns_parse_size("1Mx", &v), -EINVAL, "junk after suffix");
	is_int(lns_parse_size("-1", &v), -EINVAL, "negative size");
	is_int(lns_parse_size("", &v), -EINVAL, "empty size");
	is_int(lns_parse_size("16P", &v), 0, "16P fits");
	is_int(lns_parse_size("99999999P", &v), -ERANGE, "overflow by suffix");
	is_int(lns_parse_size("99999999999999999999", &v), -ERANGE, "overflow");
	is_int(lns_parse_u32_range("7", 1, 10, &u), 0, "in range");
	is_int(lns_parse_u32_range("11", 1, 10, &u), -ERANGE, "above range");
	is_int(lns_parse_u32_range("0", 1, 10, &u), -ERANGE, "below range");
	is_int(lns_parse_mode("600", &u), 0, "mode 600");
	is_int(u, 0600, "mode value");
	is_int(lns_parse_mode("0666", &u), 0, "mode 0666");
	is_int(lns_parse_mode("0700", &u), -ERANGE, "mode with x bit");
	is_int(lns_parse_mode("8", &u), -EINVAL, "mode not octal");
	is_int(lns_parse_node_name("loop12", &idx, &part), 0, "loop12");
	is_int(idx, 12, "index 12");
	is_int(part, 0, "whole device");
	is_int(lns_parse_node_name("loop3p2", &idx, &part), 0, "loop3p2");
	ok(idx == 3 && part == 2, "index 3 partition 2");
	is_int(lns_parse_node_name("loop-control", &idx, &part), -EINVAL, "loop-control");
	is_int(lns_parse_node_name("loop01", &idx, &part), -EINVAL, "leading zero");
	is_int(lns_parse_node_name("loop1p0", &idx, &part), -EINVAL, "p0");
	is_int(lns_parse_node_name("loop", &idx, &part), -EINVAL, "no number");
	is_int(lns_parse_node_name("loopns5", &idx, &part), -EINVAL, "global name");
	is_int(lns_parse_node_name("loop0", &idx, &part), 0, "loop0");
}

static void test_proc(void)
{
	const char *devs =
		"Character devices:\n  1 mem\n 10 misc\n252 loopns-control\n\n"
		"Block devices:\n  7 loop\n  8 sd\n252 loopnsx\n253 loopns\n259 blkext\n";

	is_int(lns_find_major(devs, 'b', "loopns"), 253, "block major by exact name");
	is_int(lns_find_major(devs, 'b', "loop"), 7, "loop major");
	is_int(lns_find_major(devs, 'b', "nbd"), -1, "absent driver");
	is_int(lns_find_major(devs, 'c', "loopns-control"), 252, "character major");
	is_int(lns_find_major(devs, 'c', "loopns"), -1,
	       "a block driver is not a character one");
	is_int(lns_find_major("Character devices:\n252 loopns\n", 'b', "loopns"), -1,
	       "character majors are not block majors");
}

static void test_format(void)
{
	char buf[128];
	struct lns_args a;

	is_str(lns_fmt_cgroup_rule('b', 253, buf, sizeof(buf)), "b 253:* rwm", "cgroup rule");
	is_str(lns_fmt_cgroup_rule('c', 252, buf, sizeof(buf)), "c 252:* rwm",
	       "cgroup rule of a character major");
	memset(&a, 0, sizeof(a));
	is_str(lns_fmt_mount_opts(&a, 0, false, 0, false, buf, sizeof(buf)), "",
	       "no mount options");
	a.max = 4;
	a.set |= LNS_BIT(LNS_O_MAX);
	a.mode = 0660;
	a.set |= LNS_BIT(LNS_O_MODE);
	is_str(lns_fmt_mount_opts(&a, 1000, true, 5, true, buf, sizeof(buf)),
	       "max=4,uid=1000,gid=5,mode=660", "all mount options");
	a.set = LNS_BIT(LNS_O_MODE);
	a.max = 0;
	a.mode = 0;
	is_str(lns_fmt_mount_opts(&a, 0, false, 0, false, buf, sizeof(buf)), "mode=0",
	       "mode 0 is passed");
}

int main(void)
{
	test_numbers();
	test_proc();
	test_format();
	return tap_done();
}
