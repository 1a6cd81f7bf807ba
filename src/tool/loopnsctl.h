/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loopnsctl - control tool for loopns instances and devices.
 *
 * Layout:
 *   pure.c    argument parsing (getopt_long), number/size parsing,
 *             /proc/devices parsing, mount options: no system calls
 *             beyond stdio, unit-tested on the host (tests/unit/);
 *   table.c   the list table and --json output through libsmartcols,
 *             unit-tested too;
 *   sys.c     what talks to the kernel: instances (libmount; its
 *             mountinfo reading is unit-tested), devices, sysfs;
 *   cmds.c    one function per command;
 *   image.c   mount-image, the mount broker (libblkid, the new mount
 *             API, idmapped mounts);
 *   main.c    entry point and dispatch.
 * tests/helpers/loopnsctl.c builds them all as one translation unit for
 * the test VM, so every non-static name here is unique.
 */
#ifndef LOOPNSCTL_H
#define LOOPNSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct libscols_table;

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
#define LNS_IMG_MAX_FDS		16	/* mount-image: images (overlay layers) */
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
	LNS_CMD_MOUNT_IMAGE,
	LNS_CMD_HELP,
	LNS_CMD_VERSION,
	LNS_CMD__COUNT,
};

/* Options seen on the command line (bits of lns_args.set: LNS_BIT()). */
enum lns_opt {
	LNS_O_HELP,
	LNS_O_JSON,
	LNS_O_ALL,
	LNS_O_INSTANCE,
	LNS_O_READ_ONLY,
	LNS_O_PARTSCAN,
	LNS_O_DIRECT_IO,
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
	LNS_O_TARGET,
	LNS_O_OVERLAY,
	LNS_O_UPPER,
	LNS_O_WORK,
	LNS_O_NO_IDMAP,
	LNS_O__COUNT,
};

#define LNS_BIT(o)	(1ull << (o))
_Static_assert(LNS_O__COUNT <= 64, "lns_args.set holds 64 options");

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
 * @fd: --fd (attach --ephemeral; mount-image: the first)
 * @fds: mount-image: every --fd, in order
 * @nfd: their number
 * @target: mount-image --target PID
 * @upper: mount-image --upper DIR
 * @work: mount-image --work DIR
 * @pos: positional arguments
 * @npos: number of positional arguments
 * @argv: the command after "--" (run, attach --ephemeral), NULL-terminated
 * @argc: its length
 * @help_topic: command whose help was asked for ("help attach")
 * @err: the message of a usage error (lns_parse_args())
 */
struct lns_args {
	enum lns_cmd cmd;
	uint64_t set;
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
	int fds[LNS_IMG_MAX_FDS];
	int nfd;
	const char *target;
	const char *upper;
	const char *work;
	char **pos;
	int npos;
	char **argv;
	int argc;
	enum lns_cmd help_topic;
	char err[256];
};

static inline bool lns_has(const struct lns_args *a, enum lns_opt o)
{
	return a->set & LNS_BIT(o);
}

/* pure.c: parsing */
const char *lns_cmd_name(enum lns_cmd cmd);
enum lns_cmd lns_cmd_lookup(const char *name);
void lns_usage(enum lns_cmd cmd, FILE *out);
int lns_parse_args(int argc, char **argv, struct lns_args *a);
int lns_parse_u64(const char *s, uint64_t *out);
int lns_parse_size(const char *s, uint64_t *out);
int lns_parse_u32_range(const char *s, uint32_t min, uint32_t max,
			uint32_t *out);
int lns_parse_mode(const char *s, uint32_t *out);
int lns_parse_node_name(const char *name, int *index, int *part);
int lns_find_major(const char *proc_devices, char type, const char *name);

/* pure.c: formatting */
char *lns_fmt_cgroup_rule(char type, int major, char *buf, size_t len);
char *lns_fmt_mount_opts(const struct lns_args *a, uint32_t uid, bool has_uid,
			 uint32_t gid, bool has_gid, char *buf, size_t len);

/**
 * struct lns_devinfo - what `list` shows about one device
 * @node: path of the node in its instance
 * @name: global gendisk name (loopnsM)
 * @index: N of loopN
 * @bound: attached to a backing file
 * @backing: backing file ("" when unknown, e.g. not visible here)
 * @backing_visible: @backing could be read
 * @offset: offset in bytes
 * @sizelimit: size limit in bytes
 * @size: device size in bytes
 * @log_sec: logical sector size in bytes
 * @flags: LO_FLAGS_* as seen in sysfs
 */
struct lns_devinfo {
	char node[4096];
	char name[64];
	int index;
	bool bound;
	char backing[4096];
	bool backing_visible;
	uint64_t offset;
	uint64_t sizelimit;
	uint64_t size;
	uint32_t log_sec;
	uint32_t flags;
};

/**
 * struct lns_instance_info - a visible instance
 * @path: its first mount point
 * @dev: st_dev of its filesystem
 * @max: its max=
 * @devices: its number of devices (status only)
 */
struct lns_instance_info {
	char path[4096];
	dev_t dev;
	int max;
	int devices;
};

/**
 * struct lns_status - what `status` shows
 * @state: "loaded", "not loaded", "loading", "unloading", "built in"
 * @loaded: the module is usable
 * @version: its version ("" when unknown)
 * @path: the module file modprobe would load ("" when not installed)
 * @kernel: the running kernel's release
 * @major: the block major, -1 when not loaded
 * @ctl_major: loop-control's character major, -1 when not loaded
 * @params: module parameters, @nparams of them: name and value
 * @nparams: their number
 * @insts: instances mounted here (with their number of devices)
 * @ninst: their number
 * @ndev: loopns devices of the system
 * @nbound: how many of them are bound
 */
struct lns_status {
	const char *state;
	bool loaded;
	char version[128];
	char path[4096];
	char kernel[128];
	int major;
	int ctl_major;
	struct {
		char name[64];
		char value[64];
	} params[16];
	int nparams;
	struct lns_instance_info *insts;
	int ninst;
	int ndev;
	int nbound;
};

/* table.c: libsmartcols output */
struct libscols_table *lns_list_table(bool json);
int lns_list_add(struct libscols_table *tb, const struct lns_devinfo *d);
int lns_status_json(const struct lns_status *s, FILE *out);

/* main.c */
int lns_main(int argc, char **argv);

#endif /* LOOPNSCTL_H */
