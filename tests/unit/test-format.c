// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: numbers, /proc parsing, output formatting and JSON of
 * loopnsctl (src/tool/pure.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/loop.h>
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
	ok(lns_valid_block_size(0, 4096), "block size 0 = default");
	ok(lns_valid_block_size(512, 4096), "512 valid");
	ok(lns_valid_block_size(4096, 4096), "4096 valid on 4K pages");
	ok(!lns_valid_block_size(8192, 4096), "8192 invalid on 4K pages");
	ok(!lns_valid_block_size(1536, 4096), "1536 not a power of two");
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
	char l1[] = "36 25 0:33 / /run/my\\040inst rw,nosuid,relatime shared:12 - loopns loopns rw,max=4,mode=660\n";
	char l2[] = "40 25 0:34 /loop-control /dev/loop-control rw - loopns loopns rw,max=1024\n";
	char l3[] = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n";
	char bad[] = "garbage line\n";
	char val[32];
	struct lns_mountinfo mi;
	char esc[] = "a\\011b\\134c\\";
	const char *devs =
		"Character devices:\n  1 mem\n 10 misc\n252 loopns-control\n\n"
		"Block devices:\n  7 loop\n  8 sd\n252 loopnsx\n253 loopns\n259 blkext\n";

	is_int(lns_parse_mountinfo_line(l1, &mi), 0, "mountinfo line parses");
	is_int(mi.mnt_id, 36, "mount id");
	ok(mi.dev_major == 0 && mi.dev_minor == 33, "st_dev 0:33");
	is_str(mi.mountpoint, "/run/my inst", "octal escape in mount point");
	is_str(mi.fstype, "loopns", "fstype after the separator");
	is_str(mi.super_opts, "rw,max=4,mode=660", "super options");
	is_str(mi.root, "/", "root");
	is_int(lns_parse_mountinfo_line(l2, &mi), 0, "no optional fields");
	is_str(mi.root, "/loop-control", "root of a file bind mount");
	is_int(lns_parse_mountinfo_line(l3, &mi), 0, "ext4 line");
	is_str(mi.source, "/dev/sda1", "source");
	is_int(lns_parse_mountinfo_line(bad, &mi), -EINVAL, "malformed line");
	ok(lns_opt_get("rw,max=4,mode=660", "max", val, sizeof(val)), "max present");
	is_str(val, "4", "max value");
	ok(lns_opt_get("rw,max=4,mode=660", "rw", val, sizeof(val)), "flag present");
	is_str(val, "", "flag has no value");
	ok(!lns_opt_get("rw,maxx=4", "max", val, sizeof(val)), "prefix is not a match");
	ok(!lns_opt_get("", "max", val, sizeof(val)), "empty options");
	lns_unescape_octal(esc);
	is_str(esc, "a\tb\\c\\", "unescape tab and backslash, keep a lone one");
	is_int(lns_find_block_major(devs, "loopns"), 253, "block major by exact name");
	is_int(lns_find_block_major(devs, "loop"), 7, "loop major");
	is_int(lns_find_block_major(devs, "nbd"), -1, "absent driver");
	is_int(lns_find_block_major("Character devices:\n252 loopns\n", "loopns"), -1,
	       "character majors are not block majors");
}

static char *capture_json(void (*fn)(struct lns_json *), bool pretty)
{
	static char *buf;
	size_t len;
	struct lns_json j;
	FILE *f;

	free(buf);
	f = open_memstream(&buf, &len);
	lns_json_init(&j, f, pretty);
	fn(&j);
	fclose(f);
	return buf;
}

static void json_nested(struct lns_json *j)
{
	lns_json_begin_object(j);
	lns_json_key(j, "a");
	lns_json_u64(j, 1);
	lns_json_key(j, "list");
	lns_json_begin_array(j);
	lns_json_string(j, "x\"y\\z\n\x01");
	lns_json_bool(j, true);
	lns_json_null(j);
	lns_json_i64(j, -5);
	lns_json_end_array(j);
	lns_json_key(j, "empty");
	lns_json_begin_array(j);
	lns_json_end_array(j);
	lns_json_key(j, "o");
	lns_json_begin_object(j);
	lns_json_end_object(j);
	lns_json_end_object(j);
}

static struct lns_devinfo dev_fixture(void)
{
	struct lns_devinfo d;

	memset(&d, 0, sizeof(d));
	snprintf(d.node, sizeof(d.node), "/run/i/loop0");
	snprintf(d.instance, sizeof(d.instance), "/run/i");
	snprintf(d.name, sizeof(d.name), "loopns7");
	d.index = 0;
	d.major = 253;
	d.minor = 7;
	d.bound = true;
	d.backing_visible = true;
	snprintf(d.backing, sizeof(d.backing), "/img \"q\"");
	d.size = 1048576;
	d.offset = 512;
	d.flags = LO_FLAGS_READ_ONLY | LO_FLAGS_PARTSCAN;
	return d;
}

static void json_dev(struct lns_json *j)
{
	struct lns_devinfo d = dev_fixture();

	lns_json_devinfo(j, &d);
}

static void test_format(void)
{
	char buf[128], *out;
	struct lns_args a;
	struct lns_devinfo d = dev_fixture();
	size_t len;
	FILE *f;

	is_str(lns_fmt_flags(0, buf, sizeof(buf)), "-", "no flags");
	is_str(lns_fmt_flags(LO_FLAGS_READ_ONLY | LO_FLAGS_DIRECT_IO, buf, sizeof(buf)),
	       "ro,dio", "ro,dio");
	is_str(lns_fmt_flags(LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR |
			     LO_FLAGS_PARTSCAN | LO_FLAGS_DIRECT_IO, buf, sizeof(buf)),
	       "ro,autoclear,partscan,dio", "all flags in order");
	is_str(lns_fmt_flags(LO_FLAGS_PARTSCAN | LO_FLAGS_AUTOCLEAR, buf, 6), "autoc",
	       "truncated flags stay terminated");
	is_str(lns_fmt_cgroup_rule(253, buf, sizeof(buf)), "b 253:* rwm", "cgroup rule");
	memset(&a, 0, sizeof(a));
	is_str(lns_fmt_mount_opts(&a, 0, false, 0, false, buf, sizeof(buf)), "",
	       "no mount options");
	a.max = 4;
	a.set |= 1u << LNS_O_MAX;
	a.mode = 0660;
	a.set |= 1u << LNS_O_MODE;
	is_str(lns_fmt_mount_opts(&a, 1000, true, 5, true, buf, sizeof(buf)),
	       "max=4,uid=1000,gid=5,mode=660", "all mount options");
	a.set = 1u << LNS_O_MODE;
	a.max = 0;
	a.mode = 0;
	is_str(lns_fmt_mount_opts(&a, 0, false, 0, false, buf, sizeof(buf)), "mode=0",
	       "mode 0 is passed");
	is_str(lns_fmt_bytes(512, buf, sizeof(buf)), "512", "bytes");
	is_str(lns_fmt_bytes(1536, buf, sizeof(buf)), "1.5K", "1.5K");
	is_str(lns_fmt_bytes(64ULL << 20, buf, sizeof(buf)), "64M", "64M");

	out = capture_json(json_nested, false);
	is_str(out, "{\"a\":1,\"list\":[\"x\\\"y\\\\z\\n\\u0001\",true,null,-5],\"empty\":[],\"o\":{}}\n",
	       "compact JSON with escapes and empty containers");
	out = capture_json(json_nested, true);
	is_str(out, "{\n\t\"a\": 1,\n\t\"list\": [\n\t\t\"x\\\"y\\\\z\\n\\u0001\",\n\t\ttrue,\n\t\tnull,\n\t\t-5\n\t],\n\t\"empty\": [],\n\t\"o\": {}\n}\n",
	       "pretty JSON");
	out = capture_json(json_dev, false);
	is_str(out, "{\"node\":\"/run/i/loop0\",\"name\":\"loopns7\",\"instance\":\"/run/i\","
	       "\"index\":0,\"major\":253,\"minor\":7,\"bound\":true,"
	       "\"backing_file\":\"/img \\\"q\\\"\",\"size\":1048576,\"offset\":512,"
	       "\"sizelimit\":0,\"flags\":\"ro,partscan\",\"read_only\":true,"
	       "\"autoclear\":false,\"partscan\":true,\"direct_io\":false}\n",
	       "device as JSON");

	f = open_memstream(&out, &len);
	lns_print_list_header(f);
	lns_print_list_row(f, &d);
	d.backing_visible = false;
	lns_print_list_row(f, &d);
	d.bound = false;
	d.flags = 0;
	lns_print_list_row(f, &d);
	fclose(f);
	is_str(out,
	       "NODE                     NAME                 SIZE     OFFSET  SIZELIMIT FLAGS                  BACKING-FILE\n"
	       "/run/i/loop0             loopns7           1048576        512          0 ro,partscan            /img \"q\"\n"
	       "/run/i/loop0             loopns7           1048576        512          0 ro,partscan            (not visible)\n"
	       "/run/i/loop0             loopns7           1048576        512          0 -                      (unbound)\n",
	       "list table");
	free(out);
}

int main(void)
{
	test_numbers();
	test_proc();
	test_format();
	return tap_done();
}
