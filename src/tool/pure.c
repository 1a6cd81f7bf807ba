// SPDX-License-Identifier: GPL-2.0
/*
 * loopnsctl: the parts without system calls - help texts, the command
 * line (getopt_long), numbers, /proc/devices and mount options.
 * Unit-tested on the host by tests/unit/ (make unit-test).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "loopnsctl.h"

/* ------------------------------------------------------------ commands */

/**
 * struct lns_cmddef - a command and its help text
 * @name: its word
 * @synopsis: its forms after "loopnsctl ", one per line
 * @summary: its line in the overview
 * @about: what it does; its options come from lns_optdefs
 */
struct lns_cmddef {
	const char *name;
	const char *synopsis;
	const char *summary;
	const char *about;
};

static const struct lns_cmddef lns_cmddefs[LNS_CMD__COUNT] = {
	[LNS_CMD_NONE] = { "", "COMMAND [OPTIONS] [ARGS]", "",
"Private loop device instances (the loopns filesystem) for containers.\n" },
	[LNS_CMD_STATUS] = { "status", "status [--json]",
		"module, instances, devices, device cgroup rules",
"Show the loopns module's state (libkmod), version, block major and\n"
"parameters, the instances mounted here, the loopns devices of the system\n"
"and the device cgroup rules a container needs (b MAJOR:* rwm), as a\n"
"tree (libsmartcols).\n"
"Exit status: 0 when the module is loaded, 3 when it is not.\n" },
	[LNS_CMD_LOAD] = { "load", "load [PARAM=VALUE...]",
		"load the loopns module (libkmod)",
"Load the loopns module through libkmod with the options of modprobe.d\n"
"plus the given parameters; if it is loaded, set the writable ones\n"
"(max_devices, max_devices_per_user) instead.\n" },
	[LNS_CMD_UNLOAD] = { "unload", "unload", "unload the loopns module",
"Unload the loopns module (fails while instances exist).\n" },
	[LNS_CMD_MOUNT] = { "mount", "mount DIR [OPTIONS]",
		"mount a new instance at DIR",
"Mount a new private loopns instance at DIR (created if missing), or with\n"
"--remount change the options of the instance mounted at DIR.\n" },
	[LNS_CMD_UMOUNT] = { "umount", "umount DIR [--lazy]",
		"unmount an instance (its devices go away)",
"Unmount the instance at DIR; with its last mount its devices go away.\n" },
	[LNS_CMD_ATTACH] = { "attach",
		"attach [OPTIONS] IMAGE\n"
		"attach --ephemeral [OPTIONS] IMAGE -- CMD [ARGS...]",
		"bind IMAGE to a free device, print its node",
"Bind IMAGE to a free device of an instance and print the node's path.\n"
"With --ephemeral, run CMD with a new device open as descriptor 3 (--fd)\n"
"and its node in $LOOPNS_DEVICE; the device is deleted at its last close.\n"
"The instance is --instance DIR, else $LOOPNS_DIR, else the only one\n"
"mounted in this mount namespace. Sizes take the suffixes K, M, G, T\n"
"(powers of 1024).\n" },
	[LNS_CMD_DETACH] = { "detach",
		"detach NODE...\n"
		"detach --all [--instance DIR]",
		"detach devices",
"Detach devices from their backing files (at their last close if open).\n" },
	[LNS_CMD_LIST] = { "list", "list [--json] [--all] [--instance DIR]",
		"devices of the visible instances",
"List the bound devices of the instances mounted here, with losetup's\n"
"columns (NAME, SIZELIMIT, OFFSET, ..., BACK-FILE) plus KNAME and SIZE;\n"
"--json as losetup --list --json.\n" },
	[LNS_CMD_RESIZE] = { "resize", "resize NODE",
		"reread the backing file's size",
"Make a device follow its backing file's size; print the new size.\n" },
	[LNS_CMD_SETUP_DEV] = { "setup-dev",
		"setup-dev DIR [OPTIONS]\n"
		"setup-dev --remove DIR",
		"make losetup and mount -o loop work in DIR",
"Prepare DIR, a container's /dev, so that unmodified losetup and\n"
"mount -o loop use a private instance: DIR/loopns (the instance, or a bind\n"
"mount of --instance), DIR/loop-control, DIR/loopN and DIR/loopNpM links\n"
"into it.\n" },
	[LNS_CMD_RUN] = { "run", "run [OPTIONS] [--] [CMD [ARGS...]]",
		"run CMD with an instance that goes away with it",
"Run CMD (default: $SHELL) in a new mount namespace with a private\n"
"instance that goes away with CMD and its children: by default in a\n"
"private /dev prepared as by setup-dev, with --dir (or $LOOPNS_DIR) at DIR.\n"
"As a user other than root (or with --userns), in a new user namespace.\n"
"Exit status: CMD's; 125 if loopnsctl failed, 126 if CMD could not be\n"
"run, 127 if CMD was not found.\n" },
	[LNS_CMD_MOUNT_IMAGE] = { "mount-image",
		"mount-image --target PID --fd N [OPTIONS] PATH\n"
		"mount-image --target PID --overlay --fd N [--fd M...] --upper DIR --work DIR PATH",
		"(host root) mount an image for a container",
"Run by host root for a container: bind the image open as file descriptor\n"
"N (O_RDWR, or O_RDONLY with --read-only) to a device of a private loopns\n"
"instance, mount its filesystem (detected by libblkid) nodev,nosuid,\n"
"idmapped into the user namespace of process PID, at PATH in PID's mount\n"
"namespace. The mount, the device and the instance go away with that\n"
"mount namespace. With --overlay, the --fd images are read-only lower\n"
"layers, uppermost first, under --upper and --work (paths in the\n"
"container, owned by it).\n" },
	[LNS_CMD_HELP] = { "help", "help [COMMAND]", "this text, or a command's",
"Show the usage of loopnsctl or of one COMMAND.\n" },
	[LNS_CMD_VERSION] = { "version", "version", "print the version",
"Print loopnsctl's version.\n" },
};

/**
 * lns_cmd_name() - a command's name
 * @cmd: the command
 *
 * Return: its name, or "" for LNS_CMD_NONE.
 */
const char *lns_cmd_name(enum lns_cmd cmd)
{
	if (cmd <= LNS_CMD_NONE || cmd >= LNS_CMD__COUNT)
		return "";
	return lns_cmddefs[cmd].name;
}

/**
 * lns_cmd_lookup() - a command by name
 * @name: its name
 *
 * Return: the command, or LNS_CMD_NONE if there is none of that name.
 */
enum lns_cmd lns_cmd_lookup(const char *name)
{
	int i;

	for (i = LNS_CMD_NONE + 1; i < LNS_CMD__COUNT; i++)
		if (!strcmp(name, lns_cmddefs[i].name))
			return i;
	return LNS_CMD_NONE;
}

/* ------------------------------------------------------------ numbers */

/* The number at the start of @s (decimal or 0x hex, no sign), @end after it. */
static int lns_strtou64(const char *s, uint64_t *v, char **end)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, end, 0);
	return errno == ERANGE ? -ERANGE : errno ? -EINVAL : 0;
}

/**
 * lns_parse_u64() - parse a decimal (or 0x hexadecimal) number
 * @s: the text; no sign, no spaces
 * @out: the value
 *
 * Return: 0, or -EINVAL / -ERANGE.
 */
int lns_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v;
	char *end;
	int e = lns_strtou64(s, &v, &end);

	if (!e && *end)
		e = -EINVAL;
	if (!e)
		*out = v;
	return e;
}

/**
 * lns_parse_size() - parse a byte count with an optional binary suffix
 * @s: "4096", "1M", "2GiB", "512k", "0x1000"
 * @out: bytes
 *
 * Suffixes K, M, G, T, P (optionally followed by "iB" or "B") are powers
 * of 1024, case-insensitive.
 *
 * Return: 0, or -EINVAL / -ERANGE.
 */
int lns_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTP";
	const char *u;
	uint64_t v;
	char *end;
	int shift, e = lns_strtou64(s, &v, &end);

	if (e || !*end) {
		if (!e)
			*out = v;
		return e;
	}
	u = strchr(units, toupper((unsigned char)*end++));
	if (!u)
		return -EINVAL;
	shift = 10 * (int)(u - units + 1);
	if (!strcasecmp(end, "iB") || !strcasecmp(end, "B"))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

/**
 * lns_parse_u32_range() - parse a number within [min, max]
 * @s: the text
 * @min: smallest allowed
 * @max: largest allowed
 * @out: the value
 *
 * Return: 0, -EINVAL, or -ERANGE when out of range.
 */
int lns_parse_u32_range(const char *s, uint32_t min, uint32_t max,
			uint32_t *out)
{
	uint64_t v;
	int err = lns_parse_u64(s, &v);

	if (err)
		return err;
	if (v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

/**
 * lns_parse_mode() - parse node permissions: octal, a subset of 0666
 * @s: "0660", "666", "600"
 * @out: the mode
 *
 * Return: 0, -EINVAL (not octal) or -ERANGE (bits outside 0666).
 */
int lns_parse_mode(const char *s, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (!s || !*s || strspn(s, "01234567") != strlen(s) || strlen(s) > 6)
		return -EINVAL;
	v = strtoul(s, &end, 8);
	if (v & ~0666UL)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

/**
 * lns_parse_node_name() - parse an instance's node name
 * @name: "loopN" or "loopNpM"
 * @index: N
 * @part: M, or 0 for a whole device
 *
 * Return: 0, or -EINVAL if @name is not a node name (leading zeros, "p0"
 * and other spellings are not).
 */
int lns_parse_node_name(const char *name, int *index, int *part)
{
	const char *p = name;
	long n, m = 0;
	char *end;

	if (strncmp(p, "loop", 4))
		return -EINVAL;
	p += 4;
	if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
		return -EINVAL;
	errno = 0;
	n = strtol(p, &end, 10);
	if (errno || n > 0x7fffffff)
		return -EINVAL;
	if (*end == 'p') {
		p = end + 1;
		if (!isdigit((unsigned char)*p) || *p == '0')
			return -EINVAL;
		m = strtol(p, &end, 10);
		if (errno || m > 0x7fffffff)
			return -EINVAL;
	}
	if (*end)
		return -EINVAL;
	*index = (int)n;
	*part = (int)m;
	return 0;
}

/* ------------------------------------------------------------ arguments */

/* bits of lns_optdef.cmds and of lns_args.set */
#define C(x)	LNS_BIT(x)

/**
 * struct lns_optdef - one option
 * @name: long name
 * @shrt: short letter, 0 for none
 * @arg: name of its value in the help text, NULL for a flag
 * @id: enum lns_opt
 * @cmds: bit mask of the commands that take it
 * @help: its line in the help text
 */
struct lns_optdef {
	const char *name;
	char shrt;
	const char *arg;
	enum lns_opt id;
	uint64_t cmds;
	const char *help;
};

static const struct lns_optdef lns_optdefs[] = {
	{ "json", 0, NULL, LNS_O_JSON, C(LNS_CMD_STATUS) | C(LNS_CMD_LIST),
	  "JSON (libsmartcols)" },
	{ "all", 'a', NULL, LNS_O_ALL, C(LNS_CMD_LIST) | C(LNS_CMD_DETACH),
	  "list: unbound devices too; detach: all" },
	{ "instance", 'i', "DIR", LNS_O_INSTANCE, C(LNS_CMD_ATTACH) |
	  C(LNS_CMD_DETACH) | C(LNS_CMD_LIST) | C(LNS_CMD_SETUP_DEV),
	  "the instance (its mount point)" },
	{ "read-only", 'r', NULL, LNS_O_READ_ONLY, C(LNS_CMD_ATTACH) |
	  C(LNS_CMD_MOUNT_IMAGE), "read-only device and mount" },
	{ "partscan", 'P', NULL, LNS_O_PARTSCAN, C(LNS_CMD_ATTACH),
	  "scan the partition table (nodes loopNpM)" },
	{ "direct-io", 0, NULL, LNS_O_DIRECT_IO, C(LNS_CMD_ATTACH),
	  "direct I/O to the backing file" },
	{ "offset", 'o', "N", LNS_O_OFFSET, C(LNS_CMD_ATTACH),
	  "start at byte N of IMAGE" },
	{ "sizelimit", 0, "N", LNS_O_SIZELIMIT, C(LNS_CMD_ATTACH),
	  "at most N bytes of IMAGE" },
	{ "block-size", 'b', "N", LNS_O_BLOCK_SIZE, C(LNS_CMD_ATTACH),
	  "logical block size (512..page size, power of 2)" },
	{ "ephemeral", 'e', NULL, LNS_O_EPHEMERAL, C(LNS_CMD_ATTACH),
	  "a device for CMD alone (see above)" },
	{ "fd", 0, "N", LNS_O_FD, C(LNS_CMD_ATTACH) | C(LNS_CMD_MOUNT_IMAGE),
	  "attach -e: CMD's device (3); mount-image: an image" },
	{ "max", 0, "N", LNS_O_MAX, C(LNS_CMD_MOUNT) | C(LNS_CMD_SETUP_DEV) |
	  C(LNS_CMD_RUN), "at most N devices (default: mount 1024, else 256)" },
	{ "uid", 0, "USER", LNS_O_UID, C(LNS_CMD_MOUNT) | C(LNS_CMD_SETUP_DEV),
	  "owner of the device nodes (name or number)" },
	{ "gid", 0, "GROUP", LNS_O_GID, C(LNS_CMD_MOUNT) | C(LNS_CMD_SETUP_DEV),
	  "group of the device nodes (name or number)" },
	{ "mode", 0, "MODE", LNS_O_MODE, C(LNS_CMD_MOUNT) | C(LNS_CMD_SETUP_DEV),
	  "their permissions, octal within 0666 (default 0600)" },
	{ "remount", 0, NULL, LNS_O_REMOUNT, C(LNS_CMD_MOUNT),
	  "change the options of an existing instance" },
	{ "lazy", 'l', NULL, LNS_O_LAZY, C(LNS_CMD_UMOUNT),
	  "detach the mount now, clean up when no longer busy" },
	{ "partitions", 0, "M", LNS_O_PARTITIONS, C(LNS_CMD_SETUP_DEV) |
	  C(LNS_CMD_RUN), "partition links per device (default 15)" },
	{ "force", 0, NULL, LNS_O_FORCE, C(LNS_CMD_SETUP_DEV),
	  "replace existing loop* entries in DIR" },
	{ "remove", 0, NULL, LNS_O_REMOVE, C(LNS_CMD_SETUP_DEV),
	  "undo: unmount DIR/loopns, remove the links" },
	{ "dir", 'd', "DIR", LNS_O_DIR, C(LNS_CMD_RUN),
	  "mount the instance at DIR, keep /dev" },
	{ "userns", 'U', NULL, LNS_O_USERNS, C(LNS_CMD_RUN),
	  "also create a user namespace" },
	{ "target", 't', "PID", LNS_O_TARGET, C(LNS_CMD_MOUNT_IMAGE),
	  "the container: its user and mount namespaces" },
	{ "overlay", 0, NULL, LNS_O_OVERLAY, C(LNS_CMD_MOUNT_IMAGE),
	  "overlayfs of read-only idmapped layer images" },
	{ "upper", 0, "DIR", LNS_O_UPPER, C(LNS_CMD_MOUNT_IMAGE),
	  "overlayfs's upper directory" },
	{ "work", 0, "DIR", LNS_O_WORK, C(LNS_CMD_MOUNT_IMAGE),
	  "overlayfs's work directory" },
	{ "no-idmap", 0, NULL, LNS_O_NO_IDMAP, C(LNS_CMD_MOUNT_IMAGE),
	  "no idmapping (PID may be in the initial user ns)" },
	{ "help", 'h', NULL, LNS_O_HELP, ~0ull, "this text" },
};

#define LNS_NOPTS	(sizeof(lns_optdefs) / sizeof(lns_optdefs[0]))
/* getopt_long's value of an option without a short letter */
#define LNS_LONG_VAL(id)	(256 + (int)(id))

/* Each line of @text (after the first) after @indent. */
static void lns_print_lines(const char *indent, const char *text, FILE *out)
{
	const char *nl;

	while ((nl = strchr(text, '\n'))) {
		fprintf(out, "%.*s\n%s", (int)(nl - text), text, indent);
		text = nl + 1;
	}
	fprintf(out, "%s\n", text);
}

/* The commands with their summaries, for "loopnsctl help". */
static void lns_print_commands(FILE *out)
{
	int c;
	char syn[128];

	fputs("\nCommands:\n", out);
	for (c = LNS_CMD_NONE + 1; c < LNS_CMD__COUNT; c++) {
		const struct lns_cmddef *d = &lns_cmddefs[c];

		snprintf(syn, sizeof(syn), "%.*s", (int)strcspn(d->synopsis, "\n"),
			 d->synopsis);
		if (strlen(syn) >= 28)
			fprintf(out, "  %s\n%30s", syn, "");
		else
			fprintf(out, "  %-28s", syn);
		fprintf(out, "%s\n", d->summary);
	}
	fputs("\nEvery command takes --help. For more details see loopnsctl(8) and\nloopns(7).\n",
	      out);
}

/**
 * lns_usage() - print the help text of a command
 * @cmd: the command, LNS_CMD_NONE for the overview
 * @out: where
 *
 * The synopsis and text of lns_cmddefs, then the command's options from
 * lns_optdefs (the overview: the commands).
 */
void lns_usage(enum lns_cmd cmd, FILE *out)
{
	const struct lns_cmddef *d = &lns_cmddefs[cmd];
	char left[64];
	size_t i;

	fputs("Usage: loopnsctl ", out);
	lns_print_lines("       loopnsctl ", d->synopsis, out);
	fprintf(out, "\n%s", d->about);
	if (cmd == LNS_CMD_NONE) {
		lns_print_commands(out);
		return;
	}
	fputs("\nOptions:\n", out);
	for (i = 0; i < LNS_NOPTS; i++) {
		const struct lns_optdef *o = &lns_optdefs[i];

		if (!(o->cmds & C(cmd)))
			continue;
		snprintf(left, sizeof(left), "%c%c%c --%s%s%s", o->shrt ? '-' : ' ',
			 o->shrt ? o->shrt : ' ', o->shrt ? ',' : ' ', o->name,
			 o->arg ? " " : "", o->arg ?: "");
		fprintf(out, "  %-22s %s\n", left, o->help);
	}
}

static int lns_errf(struct lns_args *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A usage error: its message into @a->err. Return: -1. */
static int lns_errf(struct lns_args *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	return -1;
}

static int lns_optval(const struct lns_optdef *o)
{
	return o->shrt ? o->shrt : LNS_LONG_VAL(o->id);
}

/* The option getopt_long() returned as @val (its letter or LNS_LONG_VAL). */
static const struct lns_optdef *lns_find_val(int val)
{
	size_t i;

	for (i = 0; i < LNS_NOPTS; i++)
		if (lns_optval(&lns_optdefs[i]) == val)
			return &lns_optdefs[i];
	return NULL;
}

/*
 * getopt_long()'s tables for @cmd: only its options, so that another
 * command's option is unknown. "+" makes run stop at its CMD; ":" reports
 * a missing value apart from an unknown option.
 */
static void lns_getopt_tables(enum lns_cmd cmd, struct option *lo, char *so)
{
	size_t i, n = 0;

	if (cmd == LNS_CMD_RUN)
		*so++ = '+';
	*so++ = ':';
	for (i = 0; i < LNS_NOPTS; i++) {
		const struct lns_optdef *o = &lns_optdefs[i];

		if (!(o->cmds & C(cmd)))
			continue;
		lo[n++] = (struct option){ o->name,
			o->arg ? required_argument : no_argument, NULL,
			lns_optval(o) };
		if (o->shrt) {
			*so++ = o->shrt;
			if (o->arg)
				*so++ = ':';
		}
	}
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	*so = 0;
}

/* The options whose value is a non-empty text: where it goes, what it is. */
static const struct lns_textopt {
	enum lns_opt id;
	size_t off;
	const char *what;
} lns_textopts[] = {
	{ LNS_O_INSTANCE, offsetof(struct lns_args, instance), "path" },
	{ LNS_O_DIR, offsetof(struct lns_args, dir), "path" },
	{ LNS_O_UID, offsetof(struct lns_args, uid), "user" },
	{ LNS_O_GID, offsetof(struct lns_args, gid), "group" },
	{ LNS_O_TARGET, offsetof(struct lns_args, target), "PID" },
	{ LNS_O_UPPER, offsetof(struct lns_args, upper), "path" },
	{ LNS_O_WORK, offsetof(struct lns_args, work), "path" },
};

/* A number from @min to @max for option @spelled. */
static int lns_store_u32(struct lns_args *a, const char *spelled,
			 const char *val, uint32_t min, uint32_t max,
			 uint32_t *out)
{
	int e = lns_parse_u32_range(val, min, max, out);

	if (e == -ERANGE)
		return lns_errf(a, "%s %s: must be from %u to %u",
				spelled, val, min, max);
	if (e)
		return lns_errf(a, "%s %s: not a number", spelled, val);
	return 0;
}

/* --fd: mount-image takes several (overlay layers), attach one. */
static int lns_store_fd(struct lns_args *a, const char *spelled,
			const char *val)
{
	uint32_t fd;

	if (lns_store_u32(a, spelled, val, 3, 1023, &fd))
		return -1;
	if (a->nfd >= LNS_IMG_MAX_FDS)
		return lns_errf(a, "%s: at most %d", spelled, LNS_IMG_MAX_FDS);
	if (!a->nfd)
		a->fd = (int)fd;
	a->fds[a->nfd++] = (int)fd;
	return 0;
}

static int lns_store_number(struct lns_args *a, enum lns_opt id,
			    const char *spelled, const char *val)
{
	uint64_t v = 0;
	int e;

	switch (id) {
	case LNS_O_MAX:
		return lns_store_u32(a, spelled, val, 1, LNS_MAX_LIMIT, &a->max);
	case LNS_O_PARTITIONS:
		return lns_store_u32(a, spelled, val, 0, LNS_PARTS_LIMIT,
				     &a->partitions);
	case LNS_O_FD:
		return lns_store_fd(a, spelled, val);
	case LNS_O_MODE:
		e = lns_parse_mode(val, &a->mode);
		if (e == -ERANGE)
			return lns_errf(a, "%s %s: only read and write bits (within 0666)",
					spelled, val);
		if (e)
			return lns_errf(a, "%s %s: not an octal mode",
					spelled, val);
		return 0;
	case LNS_O_OFFSET:
		e = lns_parse_size(val, &a->offset);
		break;
	case LNS_O_SIZELIMIT:
		e = lns_parse_size(val, &a->sizelimit);
		break;
	default: /* LNS_O_BLOCK_SIZE */
		e = lns_parse_size(val, &v);
		if (!e && (v < 512 || v > (uint64_t)sysconf(_SC_PAGESIZE) ||
			   (v & (v - 1))))
			return lns_errf(a, "%s %s: must be a power of two from 512 to the page size (%ld)",
					spelled, val, sysconf(_SC_PAGESIZE));
		a->block_size = (uint32_t)v;
		break;
	}
	if (e == -ERANGE)
		return lns_errf(a, "%s %s: number too large", spelled, val);
	if (e)
		return lns_errf(a, "%s %s: not a number", spelled, val);
	return 0;
}

/* Store the value of option @o; "--name" or "-x" is how it was spelled. */
static int lns_store(struct lns_args *a, const struct lns_optdef *o,
		     const char *spelled, const char *val)
{
	size_t i;

	if (a->set & C(o->id) && o->id != LNS_O_HELP &&
	    !(o->id == LNS_O_FD && a->cmd == LNS_CMD_MOUNT_IMAGE))
		return lns_errf(a, "option %s given twice", spelled);
	a->set |= C(o->id);
	for (i = 0; i < sizeof(lns_textopts) / sizeof(lns_textopts[0]); i++) {
		const struct lns_textopt *t = &lns_textopts[i];

		if (t->id != o->id)
			continue;
		if (!*val)
			return lns_errf(a, "%s: empty %s", spelled, t->what);
		*(const char **)((char *)a + t->off) = val;
		return 0;
	}
	return o->arg ? lns_store_number(a, o->id, spelled, val) : 0;
}

/* The message for getopt_long()'s '?' or ':' on argv[optind - 1]. */
static int lns_getopt_error(struct lns_args *a, int c, char **argv)
{
	const char *arg = argv[optind - 1];
	const struct lns_optdef *o = optopt ? lns_find_val(optopt) : NULL;
	char spelled[64];

	if (!strncmp(arg, "--", 2))
		snprintf(spelled, sizeof(spelled), "%.*s",
			 (int)strcspn(arg, "="), arg);
	else
		snprintf(spelled, sizeof(spelled), "-%c", optopt);
	if (c == ':')
		return lns_errf(a, "option %s needs a value", spelled);
	if (o && (o->cmds & C(a->cmd)) && strchr(arg, '=') && !o->arg)
		return lns_errf(a, "option %s takes no value", spelled);
	return lns_errf(a, "%s: unknown option %s", lns_cmd_name(a->cmd), spelled);
}

/*
 * Options of @a->cmd in argv[1..argc-1] (argv[0] is the command's word),
 * then the positional arguments, which getopt_long() moved to the end.
 */
static int lns_getopt(int argc, char **argv, struct lns_args *a)
{
	struct option lo[LNS_NOPTS + 1];
	char so[3 * LNS_NOPTS + 3];
	int c, li;

	lns_getopt_tables(a->cmd, lo, so);
	optind = 0;	/* a full restart, also for the unit tests */
	opterr = 0;
	while ((li = -1, c = getopt_long(argc, argv, so, lo, &li)) != -1) {
		const struct lns_optdef *o;
		char spelled[64];

		if (c == '?' || c == ':')
			return lns_getopt_error(a, c, argv);
		o = lns_find_val(c);
		if (li >= 0)
			snprintf(spelled, sizeof(spelled), "--%s", o->name);
		else
			snprintf(spelled, sizeof(spelled), "-%c", c);
		if (lns_store(a, o, spelled, optarg))
			return -1;
	}
	a->pos = &argv[optind];
	a->npos = argc - optind;
	return 0;
}

/*
 * The command after "--" of attach (attach --ephemeral IMAGE -- CMD):
 * argv is cut there, and getopt_long() sees only what comes before.
 */
static int lns_split_argv(int *argc, char **argv, struct lns_args *a)
{
	int i;

	for (i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--"))
			continue;
		if (i + 1 >= *argc)
			return lns_errf(a, "%s: missing command after --",
					lns_cmd_name(a->cmd));
		a->argv = &argv[i + 1];
		a->argc = *argc - i - 1;
		*argc = i;
		break;
	}
	return 0;
}

/* run: the positional arguments are CMD; "--" alone is a missing CMD. */
static int lns_run_argv(char **argv, struct lns_args *a)
{
	if (!a->npos) {
		if (optind > 1 && !strcmp(argv[optind - 1], "--"))
			return lns_errf(a, "run: missing command after --");
		return 0;
	}
	a->argv = a->pos;
	a->argc = a->npos;
	a->npos = 0;
	return 0;
}

/* ------------------------------------------------------------ validation */

#define LNS_MOUNT_OPTS	(C(LNS_O_MAX) | C(LNS_O_UID) | C(LNS_O_GID) | C(LNS_O_MODE))
#define LNS_OVL_MSG	"mount-image --overlay: needs --upper DIR and --work DIR"

/*
 * The positional argument of a command, as messages call it: it takes
 * exactly one. "": any number, checked in lns_validate_cmd(); NULL: none.
 */
static const char *const lns_pos_names[LNS_CMD__COUNT] = {
	[LNS_CMD_MOUNT] = "DIR", [LNS_CMD_UMOUNT] = "DIR",
	[LNS_CMD_SETUP_DEV] = "DIR", [LNS_CMD_RESIZE] = "NODE",
	[LNS_CMD_ATTACH] = "IMAGE", [LNS_CMD_MOUNT_IMAGE] = "PATH",
	[LNS_CMD_HELP] = "", [LNS_CMD_LOAD] = "", [LNS_CMD_DETACH] = "",
	[LNS_CMD_RUN] = "",
};

/**
 * struct lns_rule - options that need or exclude others
 * @cmd: the command
 * @when: the rule applies when one of these is given (0: always)
 * @need: then one of these must be given too (0: none needed)
 * @forbid: and none of these
 * @msg: the message when it is broken
 */
static const struct lns_rule {
	enum lns_cmd cmd;
	uint64_t when, need, forbid;
	const char *msg;
} lns_rules[] = {
	{ LNS_CMD_MOUNT, C(LNS_O_REMOUNT), LNS_MOUNT_OPTS, 0,
	  "mount --remount: nothing to change (give --max, --uid, --gid or --mode)" },
	{ LNS_CMD_SETUP_DEV, C(LNS_O_REMOVE), 0, ~C(LNS_O_REMOVE),
	  "setup-dev --remove takes no other option" },
	{ LNS_CMD_SETUP_DEV, C(LNS_O_INSTANCE), 0, LNS_MOUNT_OPTS,
	  "setup-dev: --instance binds an existing instance; --max, --uid, --gid and --mode apply to new ones" },
	{ LNS_CMD_ATTACH, C(LNS_O_FD), C(LNS_O_EPHEMERAL), 0,
	  "attach: --fd needs --ephemeral" },
	{ LNS_CMD_DETACH, C(LNS_O_INSTANCE), C(LNS_O_ALL), 0,
	  "detach: --instance goes with --all" },
	{ LNS_CMD_MOUNT_IMAGE, 0, C(LNS_O_TARGET), 0,
	  "mount-image: missing --target PID" },
	{ LNS_CMD_MOUNT_IMAGE, 0, C(LNS_O_FD), 0,
	  "mount-image: missing --fd N (the image)" },
	{ LNS_CMD_MOUNT_IMAGE, C(LNS_O_OVERLAY), C(LNS_O_UPPER), 0, LNS_OVL_MSG },
	{ LNS_CMD_MOUNT_IMAGE, C(LNS_O_OVERLAY), C(LNS_O_WORK), 0, LNS_OVL_MSG },
	{ LNS_CMD_MOUNT_IMAGE, C(LNS_O_UPPER) | C(LNS_O_WORK), C(LNS_O_OVERLAY), 0,
	  "mount-image: --upper and --work go with --overlay" },
};

/* The positional arguments as lns_pos_names wants them. */
static int lns_validate_pos(struct lns_args *a)
{
	const char *name = lns_cmd_name(a->cmd), *what = lns_pos_names[a->cmd];
	bool eph = a->cmd == LNS_CMD_ATTACH && lns_has(a, LNS_O_EPHEMERAL);

	if (what && !*what)
		return 0;
	if (what && a->npos < 1)
		return lns_errf(a, "%s: missing %s", name, what);
	if (a->npos > (what ? 1 : 0))
		return lns_errf(a, "%s: unexpected argument '%s'%s", name,
				a->pos[what ? 1 : 0], eph ? " (put -- before CMD)" : "");
	if (what && !*a->pos[0])
		return lns_errf(a, "%s: empty %s", name, what);
	return 0;
}

/* What the tables cannot say. */
static int lns_validate_cmd(struct lns_args *a)
{
	bool eph = lns_has(a, LNS_O_EPHEMERAL), all = lns_has(a, LNS_O_ALL);
	int i;

	switch (a->cmd) {
	case LNS_CMD_HELP:
		if (a->npos > 1)
			return lns_errf(a, "help: one command at most");
		a->help_topic = a->npos ? lns_cmd_lookup(a->pos[0]) : LNS_CMD_NONE;
		if (a->npos && a->help_topic == LNS_CMD_NONE)
			return lns_errf(a, "help: unknown command '%s'",
					a->pos[0]);
		return 0;
	case LNS_CMD_LOAD:
		for (i = 0; i < a->npos; i++) {
			const char *eq = strchr(a->pos[i], '=');

			if (!eq || eq == a->pos[i] || strpbrk(a->pos[i], " \n"))
				return lns_errf(a, "load: '%s' is not PARAM=VALUE",
						a->pos[i]);
		}
		return 0;
	case LNS_CMD_ATTACH:
		if (eph && !a->argv)
			return lns_errf(a, "attach --ephemeral: missing -- CMD (the device lives only while CMD holds it)");
		if (!eph && a->argv)
			return lns_errf(a, "attach: a command after -- needs --ephemeral");
		return 0;
	case LNS_CMD_DETACH:
		if (all == !!a->npos)
			return lns_errf(a, all ? "detach: give NODE or --all, not both" :
					"detach: missing NODE (or --all)");
		return 0;
	case LNS_CMD_MOUNT_IMAGE:
		if (a->pos[0][0] != '/')
			return lns_errf(a, "mount-image: PATH must be absolute (a path in the target's mount namespace)");
		if (!lns_has(a, LNS_O_OVERLAY) && a->nfd > 1)
			return lns_errf(a, "mount-image: one --fd (several are overlay layers: add --overlay)");
		return 0;
	default:
		return 0;
	}
}

/* Per-command checks once everything is parsed. */
static int lns_validate(struct lns_args *a)
{
	const struct lns_rule *r;

	if (lns_has(a, LNS_O_HELP))
		return 0;
	if (lns_validate_pos(a))
		return -1;
	for (r = lns_rules; r < lns_rules + sizeof(lns_rules) / sizeof(*r); r++) {
		if (r->cmd != a->cmd || (r->when && !(a->set & r->when)))
			continue;
		if ((r->need && !(a->set & r->need)) || (a->set & r->forbid))
			return lns_errf(a, "%s", r->msg);
	}
	return lns_validate_cmd(a);
}

/* The command word: a command's name, or -h/--help, -V/--version. */
static enum lns_cmd lns_first_word(const char *w)
{
	if (!strcmp(w, "--help") || !strcmp(w, "-h"))
		return LNS_CMD_HELP;
	if (!strcmp(w, "--version") || !strcmp(w, "-V"))
		return LNS_CMD_VERSION;
	return lns_cmd_lookup(w);
}

/**
 * lns_parse_args() - parse a loopnsctl command line
 * @argc: argument count
 * @argv: arguments, argv[0] being the program; kept, reordered by
 *        getopt_long() and pointed into
 * @a: the result (zeroed first)
 *
 * getopt_long() with each command's own options: they may come before or
 * after positional arguments, as --name VALUE, --name=VALUE, -x VALUE,
 * -xVALUE or clustered -rP, and long names may be abbreviated. "--" ends
 * the options; for run (which also stops at its first argument) and attach,
 * what follows is the command to run.
 *
 * Return: 0, or -1 for a usage error, its message in @a->err (without the
 * program's name).
 */
int lns_parse_args(int argc, char **argv, struct lns_args *a)
{
	memset(a, 0, sizeof(*a));
	a->fd = 3;
	if (argc < 2)
		return lns_errf(a, "missing command");
	a->cmd = lns_first_word(argv[1]);
	if (a->cmd == LNS_CMD_NONE)
		return lns_errf(a, "unknown command '%s'", argv[1]);
	argc--;
	argv++;
	if (a->cmd == LNS_CMD_ATTACH && lns_split_argv(&argc, argv, a))
		return -1;
	if (lns_getopt(argc, argv, a))
		return -1;
	if (a->cmd == LNS_CMD_RUN && !lns_has(a, LNS_O_HELP) &&
	    lns_run_argv(argv, a))
		return -1;
	return lns_validate(a) ? -1 : 0;
}

/* ------------------------------------------------------------ /proc, mount options */

/**
 * lns_find_major() - a major's number in /proc/devices
 * @proc_devices: the file's contents
 * @type: 'b' (block devices) or 'c' (character devices)
 * @name: driver name ("loopns", "loopns-control")
 *
 * Return: the major, or -1 if there is no driver @name of that type.
 */
int lns_find_major(const char *proc_devices, char type, const char *name)
{
	const char *p = strstr(proc_devices, type == 'b' ? "Block devices:" :
			       "Character devices:");
	size_t nlen = strlen(name);

	if (!p)
		return -1;
	p = strchr(p, '\n');
	while (p && *++p && *p != '\n') {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		int major;
		int off;

		if (sscanf(p, " %d %n", &major, &off) == 1 &&
		    n - (size_t)off == nlen && !strncmp(p + off, name, nlen))
			return major;
		p = eol;
	}
	return -1;
}

/**
 * lns_fmt_cgroup_rule() - the device cgroup rule for a major
 * @type: 'b' (block) or 'c' (character)
 * @major: the major
 * @buf: output
 * @len: its size
 *
 * Return: @buf: "TYPE MAJOR:* rwm".
 */
char *lns_fmt_cgroup_rule(char type, int major, char *buf, size_t len)
{
	snprintf(buf, len, "%c %d:* rwm", type, major);
	return buf;
}

/**
 * lns_fmt_mount_opts() - the data string for mount(2) of an instance
 * @a: parsed options (--max, --mode)
 * @uid: resolved --uid
 * @has_uid: whether to pass uid=
 * @gid: resolved --gid
 * @has_gid: whether to pass gid=
 * @buf: output
 * @len: its size
 *
 * Return: @buf, e.g. "max=4,uid=1000,mode=660" ("" without options).
 */
char *lns_fmt_mount_opts(const struct lns_args *a, uint32_t uid, bool has_uid,
			 uint32_t gid, bool has_gid, char *buf, size_t len)
{
	size_t used = 0;

#define LNS_ADD(...) do { \
	used += (size_t)snprintf(buf + used, used < len ? len - used : 0, \
				 "%s", used ? "," : ""); \
	used += (size_t)snprintf(buf + used, used < len ? len - used : 0, \
				 __VA_ARGS__); \
} while (0)
	if (!len)
		return buf;
	buf[0] = 0;
	if (lns_has(a, LNS_O_MAX) || a->max)
		LNS_ADD("max=%u", a->max);
	if (has_uid)
		LNS_ADD("uid=%u", uid);
	if (has_gid)
		LNS_ADD("gid=%u", gid);
	if (lns_has(a, LNS_O_MODE))
		LNS_ADD("mode=%o", a->mode);
#undef LNS_ADD
	return buf;
}
