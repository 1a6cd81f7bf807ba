// SPDX-License-Identifier: GPL-2.0
/*
 * loopnsctl: output through libsmartcols, as losetup, lsblk and findmnt
 * do. `list` is a table named "loopdevices" with losetup's column names
 * (NAME, SIZELIMIT, OFFSET, AUTOCLEAR, RO, BACK-FILE, DIO, LOG-SEC) plus
 * lsblk's KNAME and SIZE and PARTSCAN; `status --json` is a tree whose
 * root is the module and whose children are the instances. No system
 * calls: unit-tested on the host (tests/unit/test-table.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <linux/loop.h>
#include <libsmartcols.h>

#include "loopnsctl.h"

/**
 * struct lns_coldef - a column
 * @name: its header (lower-cased as the JSON key)
 * @whint: width hint for libsmartcols
 * @flags: SCOLS_FL_*
 * @json: SCOLS_JSON_*
 */
struct lns_coldef {
	const char *name;
	double whint;
	int flags;
	int json;
};

enum {
	LCOL_NAME, LCOL_KNAME, LCOL_SIZE, LCOL_SIZELIMIT, LCOL_OFFSET,
	LCOL_AUTOCLEAR, LCOL_RO, LCOL_PARTSCAN, LCOL_DIO, LCOL_LOGSEC,
	LCOL_BACKFILE, LCOL__COUNT,
};

static const struct lns_coldef lns_list_cols[LCOL__COUNT] = {
	[LCOL_NAME] = { "NAME", 0, 0, SCOLS_JSON_STRING },
	[LCOL_KNAME] = { "KNAME", 0, 0, SCOLS_JSON_STRING },
	[LCOL_SIZE] = { "SIZE", 5, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[LCOL_SIZELIMIT] = { "SIZELIMIT", 5, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[LCOL_OFFSET] = { "OFFSET", 5, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[LCOL_AUTOCLEAR] = { "AUTOCLEAR", 1, SCOLS_FL_RIGHT, SCOLS_JSON_BOOLEAN },
	[LCOL_RO] = { "RO", 1, SCOLS_FL_RIGHT, SCOLS_JSON_BOOLEAN },
	[LCOL_PARTSCAN] = { "PARTSCAN", 1, SCOLS_FL_RIGHT, SCOLS_JSON_BOOLEAN },
	[LCOL_DIO] = { "DIO", 1, SCOLS_FL_RIGHT, SCOLS_JSON_BOOLEAN },
	[LCOL_LOGSEC] = { "LOG-SEC", 4, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[LCOL_BACKFILE] = { "BACK-FILE", 0.3, 0, SCOLS_JSON_STRING },
};

/* A table named @name with @n columns from @defs; NULL when out of memory. */
static struct libscols_table *lns_new_table(const char *name,
					    const struct lns_coldef *defs,
					    size_t n, bool json)
{
	struct libscols_table *tb = scols_new_table();
	struct libscols_column *cl;
	size_t i;

	if (!tb)
		return NULL;
	scols_table_set_name(tb, name);
	scols_table_enable_json(tb, json);
	for (i = 0; i < n; i++) {
		cl = scols_table_new_column(tb, defs[i].name, defs[i].whint,
					    defs[i].flags);
		if (!cl) {
			scols_unref_table(tb);
			return NULL;
		}
		scols_column_set_json_type(cl, defs[i].json);
		if (defs[i].json == SCOLS_JSON_ARRAY_STRING)
			scols_column_set_wrapfunc(cl, scols_wrapnl_chunksize,
						  scols_wrapnl_nextchunk, NULL);
	}
	return tb;
}

/**
 * lns_list_table() - the empty table of `list`
 * @json: print it as JSON
 *
 * Return: the table (scols_unref_table() it), or NULL when out of memory.
 */
struct libscols_table *lns_list_table(bool json)
{
	return lns_new_table("loopdevices", lns_list_cols, LCOL__COUNT, json);
}

static int lns_set_u64(struct libscols_line *ln, size_t col, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return scols_line_set_data(ln, col, buf);
}

static int lns_set_flag(struct libscols_line *ln, size_t col, uint32_t flags,
			uint32_t bit)
{
	return scols_line_set_data(ln, col, flags & bit ? "1" : "0");
}

/* What BACK-FILE shows: in a table, why there is no backing file. */
static const char *lns_backing_cell(const struct lns_devinfo *d, bool json)
{
	if (d->bound && d->backing_visible)
		return d->backing;
	if (json)
		return NULL;	/* null */
	return d->bound ? "(not visible)" : "(unbound)";
}

/**
 * lns_list_add() - one device as a line of the `list` table
 * @tb: the table from lns_list_table()
 * @d: the device
 *
 * An unbound device has no size limit, offset or loop flags (null in JSON).
 *
 * Return: 0 or -ENOMEM.
 */
int lns_list_add(struct libscols_table *tb, const struct lns_devinfo *d)
{
	struct libscols_line *ln = scols_table_new_line(tb, NULL);
	int r;

	if (!ln)
		return -ENOMEM;
	r = scols_line_set_data(ln, LCOL_NAME, d->node);
	r |= scols_line_set_data(ln, LCOL_KNAME, d->name);
	r |= lns_set_u64(ln, LCOL_SIZE, d->size);
	r |= lns_set_flag(ln, LCOL_RO, d->flags, LO_FLAGS_READ_ONLY);
	if (d->log_sec)
		r |= lns_set_u64(ln, LCOL_LOGSEC, d->log_sec);
	r |= scols_line_set_data(ln, LCOL_BACKFILE,
				 lns_backing_cell(d, scols_table_is_json(tb)));
	if (!d->bound)
		return r ? -ENOMEM : 0;
	r |= lns_set_u64(ln, LCOL_SIZELIMIT, d->sizelimit);
	r |= lns_set_u64(ln, LCOL_OFFSET, d->offset);
	r |= lns_set_flag(ln, LCOL_AUTOCLEAR, d->flags, LO_FLAGS_AUTOCLEAR);
	r |= lns_set_flag(ln, LCOL_PARTSCAN, d->flags, LO_FLAGS_PARTSCAN);
	r |= lns_set_flag(ln, LCOL_DIO, d->flags, LO_FLAGS_DIRECT_IO);
	return r ? -ENOMEM : 0;
}

/* ------------------------------------------------------------ status */

enum {
	SCOL_MODULE, SCOL_LOADED, SCOL_VERSION, SCOL_PATH, SCOL_KERNEL,
	SCOL_MAJOR, SCOL_MAX, SCOL_DEVICES, SCOL_BOUND, SCOL_RULES,
	SCOL__COUNT,
};

static const struct lns_coldef lns_status_cols[SCOL__COUNT] = {
	[SCOL_MODULE] = { "MODULE", 0, SCOLS_FL_TREE, SCOLS_JSON_STRING },
	[SCOL_LOADED] = { "LOADED", 1, 0, SCOLS_JSON_BOOLEAN_OPTIONAL },
	[SCOL_VERSION] = { "VERSION", 0, 0, SCOLS_JSON_STRING },
	[SCOL_PATH] = { "PATH", 0, 0, SCOLS_JSON_STRING },
	[SCOL_KERNEL] = { "KERNEL", 0, 0, SCOLS_JSON_STRING },
	[SCOL_MAJOR] = { "MAJOR", 1, 0, SCOLS_JSON_NUMBER },
	[SCOL_MAX] = { "MAX", 1, 0, SCOLS_JSON_NUMBER },
	[SCOL_DEVICES] = { "DEVICES", 1, 0, SCOLS_JSON_NUMBER },
	[SCOL_BOUND] = { "BOUND", 1, 0, SCOLS_JSON_NUMBER },
	[SCOL_RULES] = { "DEVICE-CGROUP-RULES", 0, SCOLS_FL_WRAP,
			 SCOLS_JSON_ARRAY_STRING },
};

/* One column per module parameter ("name=value"), a number if it is one. */
static int lns_status_param_cols(struct libscols_table *tb,
				 const struct lns_status *s)
{
	struct libscols_column *cl;
	uint64_t v;
	int i;

	for (i = 0; i < s->nparams; i++) {
		cl = scols_table_new_column(tb, s->params[i].name, 1, 0);
		if (!cl)
			return -ENOMEM;
		if (!lns_parse_u64(s->params[i].value, &v))
			scols_column_set_json_type(cl, SCOLS_JSON_NUMBER);
	}
	return 0;
}

/* The root line: the module, its limits and the system's counts. */
static int lns_status_module(struct libscols_line *ln, const struct lns_status *s)
{
	char rules[96], rule[32];
	int i, r;

	r = scols_line_set_data(ln, SCOL_MODULE, s->state);
	r |= scols_line_set_data(ln, SCOL_LOADED, s->loaded ? "1" : "0");
	r |= scols_line_set_data(ln, SCOL_VERSION, s->version[0] ? s->version : NULL);
	r |= scols_line_set_data(ln, SCOL_PATH, s->path[0] ? s->path : NULL);
	r |= scols_line_set_data(ln, SCOL_KERNEL, s->kernel);
	r |= lns_set_u64(ln, SCOL_DEVICES, (uint64_t)s->ndev);
	r |= lns_set_u64(ln, SCOL_BOUND, (uint64_t)s->nbound);
	for (i = 0; i < s->nparams; i++)
		r |= scols_line_set_data(ln, SCOL__COUNT + (size_t)i,
					 s->params[i].value);
	if (s->major < 0)
		return r;
	r |= lns_set_u64(ln, SCOL_MAJOR, (uint64_t)s->major);
	lns_fmt_cgroup_rule('b', s->major, rules, sizeof(rules));
	if (s->ctl_major >= 0)
		snprintf(rules + strlen(rules), sizeof(rules) - strlen(rules),
			 "\n%s", lns_fmt_cgroup_rule('c', s->ctl_major, rule,
						     sizeof(rule)));
	snprintf(rules + strlen(rules), sizeof(rules) - strlen(rules), "\n%s",
		 lns_fmt_cgroup_rule('b', LNS_BLKEXT_MAJOR, rule, sizeof(rule)));
	return r | scols_line_set_data(ln, SCOL_RULES, rules);
}

/**
 * lns_status_json() - `status --json`
 * @s: what to show
 * @out: where
 *
 * {"status": [{"module": STATE, "loaded": BOOL, "version", "path",
 * "kernel", "major", "devices", "bound", "device-cgroup-rules": [...],
 * PARAMETER: VALUE..., "children": [{"path": MOUNT POINT, "max",
 * "devices"}...]}]}: the children are the instances mounted here.
 *
 * Return: 0 or -errno.
 */
int lns_status_json(const struct lns_status *s, FILE *out)
{
	struct libscols_table *tb;
	struct libscols_line *root, *ln;
	int i, r;

	tb = lns_new_table("status", lns_status_cols, SCOL__COUNT, true);
	if (!tb)
		return -ENOMEM;
	scols_table_set_stream(tb, out);
	r = lns_status_param_cols(tb, s);
	root = r ? NULL : scols_table_new_line(tb, NULL);
	r = root ? lns_status_module(root, s) : -ENOMEM;
	for (i = 0; !r && i < s->ninst; i++) {
		ln = scols_table_new_line(tb, root);
		if (!ln) {
			r = -ENOMEM;
			break;
		}
		r = scols_line_set_data(ln, SCOL_PATH, s->insts[i].path);
		r |= lns_set_u64(ln, SCOL_MAX, (uint64_t)s->insts[i].max);
		r |= lns_set_u64(ln, SCOL_DEVICES, (uint64_t)s->insts[i].devices);
	}
	if (!r)
		r = scols_print_table(tb);
	scols_unref_table(tb);
	return r ? -ENOMEM : 0;
}
