// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: loopnsctl's libsmartcols output (src/tool/table.c): the
 * list table and its JSON (losetup's names and shape), status --json.
 */
#define _GNU_SOURCE
#include <linux/loop.h>
#include <stdlib.h>
#include <libsmartcols.h>

#include "loopnsctl.h"
#include "tap.h"

static struct lns_devinfo dev_fixture(void)
{
	struct lns_devinfo d;

	memset(&d, 0, sizeof(d));
	snprintf(d.node, sizeof(d.node), "/run/i/loop0");
	snprintf(d.name, sizeof(d.name), "loopns7");
	snprintf(d.backing, sizeof(d.backing), "/img \"q\"");
	d.bound = true;
	d.backing_visible = true;
	d.size = 1048576;
	d.offset = 512;
	d.log_sec = 512;
	d.flags = LO_FLAGS_READ_ONLY | LO_FLAGS_PARTSCAN;
	return d;
}

/* The list of @n devices from @d, as a table or as JSON. */
static char *list_output(const struct lns_devinfo *d, int n, bool json)
{
	struct libscols_table *tb = lns_list_table(json);
	char *out = NULL;
	size_t len;
	FILE *f = open_memstream(&out, &len);
	int i;

	scols_table_set_stream(tb, f);
	for (i = 0; i < n; i++)
		lns_list_add(tb, &d[i]);
	scols_print_table(tb);
	scols_unref_table(tb);
	fclose(f);
	return out;
}

static void test_list(void)
{
	struct lns_devinfo d[3] = { dev_fixture(), dev_fixture(), dev_fixture() };
	char *out;

	d[1].backing_visible = false;
	d[2].bound = false;
	d[2].flags = 0;
	out = list_output(d, 3, false);
	is_str(out,
	       "NAME         KNAME      SIZE SIZELIMIT OFFSET AUTOCLEAR RO PARTSCAN DIO LOG-SEC BACK-FILE\n"
	       "/run/i/loop0 loopns7 1048576         0    512         0  1        1   0     512 /img \"q\"\n"
	       "/run/i/loop0 loopns7 1048576         0    512         0  1        1   0     512 (not visible)\n"
	       "/run/i/loop0 loopns7 1048576                             0                  512 (unbound)\n",
	       "list table: losetup's columns, and why BACK-FILE is missing");
	free(out);
	out = list_output(d, 3, true);
	ok(strstr(out, "{\n   \"loopdevices\": [\n      {\n         \"name\": \"/run/i/loop0\",\n") != NULL,
	   "JSON: a \"loopdevices\" array of objects, as losetup --list --json");
	ok(strstr(out, "\"kname\": \"loopns7\",\n         \"size\": 1048576,\n"
		       "         \"sizelimit\": 0,\n         \"offset\": 512,\n"
		       "         \"autoclear\": false,\n         \"ro\": true,\n"
		       "         \"partscan\": true,\n         \"dio\": false,\n"
		       "         \"log-sec\": 512,\n         \"back-file\": \"/img \\\"q\\\"\"\n") != NULL,
	   "JSON: numbers, booleans and an escaped back-file");
	ok(strstr(out, "\"sizelimit\": null,\n         \"offset\": null,\n"
		       "         \"autoclear\": false,") != NULL,
	   "JSON: an unbound device has no size limit or offset");
	ok(strstr(out, "\"back-file\": null\n") != NULL, "JSON: back-file null");
	free(out);
	out = list_output(d, 0, true);
	is_str(out, "{\n   \"loopdevices\": [\n\n   ]\n}\n", "JSON: no devices");
	free(out);
	out = list_output(d, 0, false);
	is_str(out, "", "table: no devices, no header");
	free(out);
}

static void test_status(void)
{
	struct lns_instance_info insts[2] = {
		{ .path = "/run/a", .max = 3, .devices = 1 },
		{ .path = "/run/b", .max = 1024 },
	};
	struct lns_status s = {
		.state = "loaded", .loaded = true, .version = "0.1.0",
		.path = "/lib/modules/x/updates/loopns.ko", .kernel = "6.12",
		.major = 253, .ctl_major = 252, .params = { { "max_devices", "4096" }, { "name", "x" } },
		.nparams = 2, .insts = insts, .ninst = 2, .ndev = 4, .nbound = 2,
	};
	char *out = NULL;
	size_t len;
	FILE *f = open_memstream(&out, &len);

	is_int(lns_status_json(&s, f), 0, "status --json");
	fclose(f);
	ok(strstr(out, "\"status\": [\n      {\n         \"module\": \"loaded\",\n"
		       "         \"loaded\": true,\n         \"version\": \"0.1.0\",\n") != NULL,
	   "status: module, loaded, version");
	ok(strstr(out, "\"major\": 253,") != NULL, "status: major");
	ok(strstr(out, "\"device-cgroup-rules\": [\n             \"b 253:* rwm\", \"c 252:* rwm\", \"b 259:* rwm\"\n") != NULL,
	   "status: the device cgroup rules as an array");
	ok(strstr(out, "\"max_devices\": 4096,") != NULL, "status: numeric parameter");
	ok(strstr(out, "\"name\": \"x\"") != NULL, "status: text parameter");
	ok(strstr(out, "\"path\": \"/run/a\",") && strstr(out, "\"max\": 3,") &&
	   strstr(out, "\"path\": \"/run/b\","), "status: instances as children");
	free(out);
}

int main(void)
{
	test_list();
	test_status();
	return tap_done();
}
