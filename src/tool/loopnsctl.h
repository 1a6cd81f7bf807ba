/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loopnsctl - control tool for loopns instances and devices.
 *
 * Layout:
 *   pure.c    argument parsing, number/size parsing, mountinfo and
 *             /proc/devices parsing, output formatting, JSON writer:
 *             no system calls beyond stdio, unit-tested on the host
 *             (tests/unit/);
 *   sys.c     what talks to the kernel: instances, devices, sysfs;
 *   cmds.c    one function per command;
 *   main.c    entry point and dispatch.
 * tests/helpers/loopnsctl.c builds all four as one translation unit for
 * the test VM, so every non-static name here is unique.
 */
#ifndef LOOPNSCTL_H
#define LOOPNSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LNS_PROG		"loopnsctl"
#define LNS_FSTYPE		"loopns"
#define LNS_MODNAME		"loopns"
#define LNS_SUPER_MAGIC		0x6c6e7373
#define LNS_DEFAULT_MAX		1024	/* the module's per-instance default */
#define LNS_MAX_LIMIT		1048576	/* the module's max= bound */
#define LNS_SETUP_DEV_MAX	256	/* setup-dev/run default max= */
#define LNS_SETUP_DEV_PARTS	15	/* loopNp1..loopNp15 links */
#define LNS_PARTS_LIMIT		255
#define LNS_DEVDIR_NAME		"loopns" /* instance directory in a /dev */
#define LNS_BLKEXT_MAJOR	259	/* partitions: the extended block major */

/* Exit codes (documented in loopnsctl(8)). */
enum lns_exit {
	LNS_EXIT_OK = 0,
	LNS_EXIT_FAIL = 1,	/* the operation failed */
	LNS_EXIT_USAGE = 2,	/* bad command line */
	LNS_EXIT_NOMODULE = 3,	/* module loopns not loaded */
	LNS_EXIT_LIMIT = 4,	/* a device limit was reached */
	LNS_EXIT_PERM = 5,	/* permission denied */
	LNS_EXIT_NOTFOUND = 6,	/* no such instance, device or image */
	LNS_EXIT_BUSY = 7,	/* instance or device busy */
	/* run / attach --ephemeral: like env(1) */
	LNS_EXIT_CANNOT_RUN = 125,
	LNS_EXIT_NOEXEC = 126,
	LNS_EXIT_NOCMD = 127,
};

enum lns_cmd {
	LNS_CMD_NONE,
	LNS_CMD_HELP,
	LNS_CMD_VERSION,
	LNS_CMD_STATUS,
	LNS_CMD_LOAD,
	LNS_CMD_UNLOAD,
	LNS_CMD_MOUNT,
	LNS_CMD_UMOUNT,
	LNS_CMD_ATTACH,
	LNS_CMD_DETACH,
	LNS_CMD_LIST,
	LNS_CMD_RESIZE,
	LNS_CMD_SETUP_DEV,
	LNS_CMD_RUN,
	LNS_CMD__COUNT,
};

/* Options seen on the command line (bits of lns_args.set). */
enum lns_opt {
	LNS_O_HELP,
	LNS_O_JSON,
	LNS_O_ALL,
	LNS_O_INSTANCE,
	LNS_O_READ_ONLY,
	LNS_O_PARTSCAN,
	LNS_O_DIRECT_IO,
	LNS_O_AUTOCLEAR,
	LNS_O_OFFSET,
	LNS_O_SIZELIMIT,
	LNS_O_BLOCK_SIZE,
	LNS_O_EPHEMERAL,
	LNS_O_FD,
	LNS_O_MAX,
	LNS_O_UID,
	LNS_O_GID,
	LNS_O_MODE,
	LNS_O_REMOUNT,
	LNS_O_LAZY,
	LNS_O_PARTITIONS,
	LNS_O_FORCE,
	LNS_O_REMOVE,
	LNS_O_DIR,
	LNS_O_USERNS,
	LNS_O_QUIET,
	LNS_O__COUNT,
};

/**
 * struct lns_args - a parsed command line
 * @cmd: the command
 * @set: bit mask of enum lns_opt given
 * @instance: --instance DIR
 * @dir: --dir DIR (run)
 * @uid: --uid (name or number, resolved later)
 * @gid: --gid
 * @offset: --offset bytes
 * @sizelimit: --sizelimit bytes
 * @block_size: --block-size bytes
 * @max: --max
 * @mode: --mode (subset of 0666)
 * @partitions: --partitions
 * @fd: --fd (attach --ephemeral)
 * @pos: positional arguments
 * @npos: number of positional arguments
 * @argv: the command after "--" (run, attach --ephemeral), NULL-terminated
 * @argc: its length
 * @help_topic: command whose help was asked for ("help attach")
 */
struct lns_args {
	enum lns_cmd cmd;
	uint32_t set;
	const char *instance;
	const char *dir;
	const char *uid;
	const char *gid;
	uint64_t offset;
	uint64_t sizelimit;
	uint32_t block_size;
	uint32_t max;
	uint32_t mode;
	uint32_t partitions;
	int fd;
	char **pos;
	int npos;
	char **argv;
	int argc;
	enum lns_cmd help_topic;
};

static inline bool lns_has(const struct lns_args *a, enum lns_opt o)
{
	return a->set & (1u << o);
}

/* pure.c: parsing */
const char *lns_cmd_name(enum lns_cmd cmd);
enum lns_cmd lns_cmd_lookup(const char *name);
const char *lns_cmd_usage(enum lns_cmd cmd);
int lns_parse_args(int argc, char **argv, struct lns_args *out,
		   char *err, size_t errlen);
int lns_parse_u64(const char *s, uint64_t *out);
int lns_parse_size(const char *s, uint64_t *out);
int lns_parse_u32_range(const char *s, uint32_t min, uint32_t max,
			uint32_t *out);
int lns_parse_mode(const char *s, uint32_t *out);
bool lns_valid_block_size(uint64_t bs, uint64_t page_size);
int lns_parse_node_name(const char *name, int *index, int *part);

/**
 * struct lns_mountinfo - one line of /proc/self/mountinfo
 * @mnt_id: mount ID
 * @dev_major: st_dev major of the filesystem
 * @dev_minor: st_dev minor
 * @root: root of the mount within the filesystem (unescaped)
 * @mountpoint: mount point (unescaped)
 * @fstype: filesystem type
 * @source: mount source
 * @super_opts: per-superblock options ("rw,max=4,mode=666")
 */
struct lns_mountinfo {
	int mnt_id;
	unsigned int dev_major;
	unsigned int dev_minor;
	char *root;
	char *mountpoint;
	char *fstype;
	char *source;
	char *super_opts;
};

int lns_parse_mountinfo_line(char *line, struct lns_mountinfo *mi);
void lns_unescape_octal(char *s);
bool lns_opt_get(const char *opts, const char *key, char *val, size_t len);
int lns_find_block_major(const char *proc_devices, const char *name);

/* pure.c: formatting */
char *lns_fmt_flags(uint32_t lo_flags, char *buf, size_t len);
char *lns_fmt_cgroup_rule(int major, char *buf, size_t len);
char *lns_fmt_mount_opts(const struct lns_args *a, uint32_t uid, bool has_uid,
			 uint32_t gid, bool has_gid, char *buf, size_t len);
char *lns_fmt_bytes(uint64_t bytes, char *buf, size_t len);

/**
 * struct lns_json - a minimal streaming JSON writer
 * @f: output
 * @depth: nesting depth
 * @first: per level: no member written yet
 * @pretty: indent with tabs
 */
struct lns_json {
	FILE *f;
	int depth;
	bool first[16];
	bool after_key;
	bool pretty;
};

void lns_json_init(struct lns_json *j, FILE *f, bool pretty);
void lns_json_begin_object(struct lns_json *j);
void lns_json_end_object(struct lns_json *j);
void lns_json_begin_array(struct lns_json *j);
void lns_json_end_array(struct lns_json *j);
void lns_json_key(struct lns_json *j, const char *key);
void lns_json_string(struct lns_json *j, const char *s);
void lns_json_u64(struct lns_json *j, uint64_t v);
void lns_json_i64(struct lns_json *j, int64_t v);
void lns_json_bool(struct lns_json *j, bool v);
void lns_json_null(struct lns_json *j);
void lns_json_escape(FILE *f, const char *s);

/**
 * struct lns_devinfo - what `list` shows about one device
 * @node: path of the node in its instance
 * @instance: the instance's mount point
 * @name: global gendisk name (loopnsM)
 * @index: N of loopN
 * @major: block major
 * @minor: block minor
 * @bound: attached to a backing file
 * @backing: backing file ("" when unknown, e.g. not visible here)
 * @backing_visible: @backing could be read
 * @offset: offset in bytes
 * @sizelimit: size limit in bytes
 * @size: device size in bytes
 * @flags: LO_FLAGS_* as seen in sysfs
 */
struct lns_devinfo {
	char node[4096];
	char instance[4096];
	char name[64];
	int index;
	unsigned int major;
	unsigned int minor;
	bool bound;
	char backing[4096];
	bool backing_visible;
	uint64_t offset;
	uint64_t sizelimit;
	uint64_t size;
	uint32_t flags;
};

void lns_print_list_header(FILE *f);
void lns_print_list_row(FILE *f, const struct lns_devinfo *d);
void lns_json_devinfo(struct lns_json *j, const struct lns_devinfo *d);

/* main.c */
int lns_main(int argc, char **argv);

#endif /* LOOPNSCTL_H */
