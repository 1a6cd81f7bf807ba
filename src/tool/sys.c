// SPDX-License-Identifier: GPL-2.0
/*
 * loopnsctl: what talks to the kernel - instances (libmount), devices
 * (instance directories, sysfs), and the messages that name the cause of
 * a failure.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/loop.h>
#include <libmount.h>

#include "loopnsctl.h"
#include "sys.h"

/**
 * lns_err() - print "loopnsctl: MESSAGE" on stderr
 * @fmt: printf format
 */
void lns_err(const char *fmt, ...)
{
	va_list ap;

	fputs(LNS_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/**
 * lns_syserr() - print "loopnsctl: WHAT: strerror(errno)"
 * @what: the file or operation that failed
 *
 * Return: the exit status for errno (lns_errno_exit()).
 */
int lns_syserr(const char *what)
{
	int e = errno;

	lns_err("%s: %s", what, strerror(e));
	return lns_errno_exit(e);
}

/**
 * lns_errno_exit() - exit status for a failed system call
 * @err: positive errno
 *
 * Return: enum lns_exit.
 */
int lns_errno_exit(int err)
{
	switch (err) {
	case EPERM:
	case EACCES:
	case EROFS:
		return LNS_EXIT_PERM;
	case ENOENT:
	case ENOTDIR:
		return LNS_EXIT_NOTFOUND;
	case EBUSY:
		return LNS_EXIT_BUSY;
	case ENOSPC:
		return LNS_EXIT_LIMIT;
	default:
		return LNS_EXIT_FAIL;
	}
}

/**
 * lns_read_file() - read a small file into a NUL-terminated buffer
 * @path: the file
 * @buf: output
 * @len: its size
 *
 * Return: bytes read, or -errno.
 */
ssize_t lns_read_file(const char *path, char *buf, size_t len)
{
	FILE *f = len ? fopen(path, "re") : NULL;
	size_t n;
	int e;

	if (!f)
		return len ? -errno : -EINVAL;
	n = fread(buf, 1, len - 1, f);
	e = ferror(f) ? errno : 0;
	fclose(f);
	buf[n] = 0;
	return e ? -e : (ssize_t)n;
}

/**
 * lns_read_u64() - read a number from a sysfs-style file
 * @path: the file
 * @out: the value
 *
 * Return: 0 or -errno.
 */
int lns_read_u64(const char *path, uint64_t *out)
{
	char buf[64];
	ssize_t n = lns_read_file(path, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	buf[strcspn(buf, "\n")] = 0;
	return lns_parse_u64(buf, out);
}

/**
 * lns_major() - a major of the module, from /proc/devices
 * @type: 'b': the devices' block major; 'c': the character major of the
 *        instances' loop-control ("loopns-control")
 *
 * Return: the major, or -1 if the module is not loaded.
 */
int lns_major(char type)
{
	static char devs[16384];

	if (lns_read_file("/proc/devices", devs, sizeof(devs)) < 0)
		return -1;
	return lns_find_major(devs, type, type == 'b' ? LNS_MODNAME :
			      LNS_MODNAME "-control");
}

/**
 * lns_not_loaded() - say that the module is missing
 *
 * Return: LNS_EXIT_NOMODULE.
 */
int lns_not_loaded(void)
{
	lns_err("module loopns is not loaded: run modprobe loopns or loopnsctl load");
	return LNS_EXIT_NOMODULE;
}

/**
 * lns_is_instance_root() - whether @path is the root of a loopns mount
 * @path: a directory
 *
 * Return: 1 if it is, 0 if not, -errno if @path cannot be examined.
 */
int lns_is_instance_root(const char *path)
{
	struct stat st;
	struct statfs sf;
	struct stat lc;
	char ctl[PATH_MAX];

	if (statfs(path, &sf) < 0 || stat(path, &st) < 0)
		return -errno;
	if ((unsigned long)sf.f_type != LNS_SUPER_MAGIC || !S_ISDIR(st.st_mode))
		return 0;
	/* the root holds loop-control; no other directory exists */
	snprintf(ctl, sizeof(ctl), "%s/loop-control", path);
	return !lstat(ctl, &lc) && S_ISCHR(lc.st_mode);
}

/**
 * lns_need_instance() - check that @dir is the root of an instance
 * @how: how @dir was given, in front of the message: "--instance ",
 *       "LOOPNS_DIR " or ""
 * @dir: the directory
 *
 * Return: LNS_EXIT_OK, or an exit status after saying why not.
 */
int lns_need_instance(const char *how, const char *dir)
{
	int r = lns_is_instance_root(dir);

	if (r > 0)
		return LNS_EXIT_OK;
	if (!r && lns_major('b') < 0)
		return lns_not_loaded();
	lns_err("%s%s: %s", how, dir, r < 0 ? strerror(-r) :
		"not a loopns instance (mount one with loopnsctl mount DIR)");
	return r < 0 ? lns_errno_exit(-r) : LNS_EXIT_NOTFOUND;
}

/* Add the instance mounted as @fs to @v unless its superblock is there. */
static int sys_add_instance(struct libmnt_fs *fs, struct lns_instance_info **v,
			    int n)
{
	struct lns_instance_info *nv, *in;
	dev_t dev = mnt_fs_get_devno(fs);
	char *val = NULL, num[16];
	size_t len = 0;
	uint32_t max;
	int i;

	for (i = 0; i < n; i++)
		if ((*v)[i].dev == dev)
			return n;
	nv = realloc(*v, (size_t)(n + 1) * sizeof(**v));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	in = &nv[n];
	memset(in, 0, sizeof(*in));
	snprintf(in->path, sizeof(in->path), "%s", mnt_fs_get_target(fs));
	in->dev = dev;
	in->max = LNS_DEFAULT_MAX;
	if (!mnt_optstr_get_option(mnt_fs_get_fs_options(fs), "max", &val, &len) &&
	    len < sizeof(num)) {
		snprintf(num, sizeof(num), "%.*s", (int)len, val);
		if (!lns_parse_u32_range(num, 1, LNS_MAX_LIMIT, &max))
			in->max = (int)max;
	}
	return n + 1;
}

/**
 * lns_instances_in() - the loopns instances of a mountinfo file
 * @mountinfo: the file, in /proc/PID/mountinfo format
 * @out: array of instances (free with free())
 *
 * Read through libmount. One entry per superblock (bind mounts of the same
 * instance count once; the first mount point of each wins). Mounts of a
 * subtree (e.g. a bind mount of loop-control alone) are not listed.
 *
 * Return: the number of instances, or -errno.
 */
int lns_instances_in(const char *mountinfo, struct lns_instance_info **out)
{
	struct lns_instance_info *v = NULL;
	struct libmnt_table *tb = mnt_new_table();
	struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;
	int n = tb && it ? 0 : -ENOMEM;

	*out = NULL;
	if (!n)
		n = mnt_table_parse_file(tb, mountinfo);
	while (n >= 0 && !mnt_table_next_fs(tb, it, &fs)) {
		if (mnt_fs_match_fstype(fs, LNS_FSTYPE) &&
		    !strcmp(mnt_fs_get_root(fs) ?: "", "/"))
			n = sys_add_instance(fs, &v, n);
	}
	mnt_free_iter(it);
	mnt_unref_table(tb);
	if (n < 0) {
		free(v);
		return n;
	}
	*out = v;
	return n;
}

/**
 * lns_instances() - the loopns instances mounted in this mount namespace
 * @out: array of instances (free with free())
 *
 * Return: the number of instances, or -errno.
 */
int lns_instances(struct lns_instance_info **out)
{
	return lns_instances_in("/proc/self/mountinfo", out);
}

/**
 * lns_instance_info_of() - mountinfo data of the instance holding @path
 * @path: an instance root (or anything on its filesystem)
 * @info: output
 *
 * Return: 0, or -ENOENT if no visible mount of that instance exists.
 */
int lns_instance_info_of(const char *path, struct lns_instance_info *info)
{
	struct lns_instance_info *v;
	struct stat st;
	int n, i;

	if (stat(path, &st) < 0)
		return -errno;
	n = lns_instances(&v);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (v[i].dev == st.st_dev) {
			*info = v[i];
			free(v);
			return 0;
		}
	}
	free(v);
	return -ENOENT;
}

/**
 * lns_resolve_instance() - the instance a command works on
 * @given: --instance DIR, or NULL
 * @out: its path
 * @len: size of @out
 *
 * --instance, else $LOOPNS_DIR, else the only instance mounted in this
 * mount namespace. Prints the reason on failure.
 *
 * Return: LNS_EXIT_OK or an exit status.
 */
int lns_resolve_instance(const char *given, char *out, size_t len)
{
	struct lns_instance_info *v;
	const char *how = "--instance ";
	int n;

	if (!given || !*given) {
		given = getenv("LOOPNS_DIR");
		how = "LOOPNS_DIR ";
	}
	if (given && *given) {
		snprintf(out, len, "%s", given);
		return lns_need_instance(how, given);
	}
	n = lns_instances(&v);
	if (n == 1)
		snprintf(out, len, "%s", v[0].path);
	free(v);
	if (n == 1)
		return LNS_EXIT_OK;
	if (n < 0) {
		lns_err("/proc/self/mountinfo: %s", strerror(-n));
		return LNS_EXIT_FAIL;
	}
	if (!n && lns_major('b') < 0)
		return lns_not_loaded();
	if (!n) {
		lns_err("no loopns instance is mounted here: mount one with loopnsctl mount DIR, or give --instance DIR");
		return LNS_EXIT_NOTFOUND;
	}
	lns_err("%d loopns instances are mounted here: choose one with --instance DIR (see loopnsctl list)",
		n);
	return LNS_EXIT_USAGE;
}

/**
 * lns_node_path() - the path to show for device @index of an instance
 * @inst: the instance's path
 * @index: N of loopN
 * @out: the path
 * @len: size of @out
 *
 * In the setup-dev layout (the instance at DIR/loopns, DIR/loopN a link to
 * loopns/loopN) that is DIR/loopN, the name unmodified tools use;
 * otherwise the node in the instance.
 */
void lns_node_path(const char *inst, int index, char *out, size_t len)
{
	char parent[PATH_MAX], link[PATH_MAX], want[64], got[PATH_MAX];
	const char *base = strrchr(inst, '/');
	ssize_t n;

	snprintf(out, len, "%s/loop%d", inst, index);
	if (!base || strcmp(base + 1, LNS_DEVDIR_NAME))
		return;
	snprintf(parent, sizeof(parent), "%.*s", (int)(base - inst), inst);
	snprintf(link, sizeof(link), "%s/loop%d", parent, index);
	snprintf(want, sizeof(want), LNS_DEVDIR_NAME "/loop%d", index);
	n = readlink(link, got, sizeof(got) - 1);
	if (n < 0)
		return;
	got[n] = 0;
	if (!strcmp(got, want))
		snprintf(out, len, "%s", link);
}

/**
 * lns_count_nodes() - number of devices (loopN nodes) in an instance
 * @inst: the instance's path
 *
 * Return: the count, or -errno.
 */
int lns_count_nodes(const char *inst)
{
	struct dirent *de;
	int n = 0, idx, part;
	DIR *d = opendir(inst);

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (!lns_parse_node_name(de->d_name, &idx, &part) && !part)
			n++;
	closedir(d);
	return n;
}

/**
 * lns_sys_disk_count() - loopns gendisks on the system (/sys/block/loopns*)
 * @bound: if not NULL, how many of them are bound
 *
 * Return: the count.
 */
int lns_sys_disk_count(int *bound)
{
	struct dirent *de;
	char path[PATH_MAX];
	struct stat st;
	int n = 0, b = 0;
	DIR *d = opendir("/sys/block");

	if (d) {
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, LNS_MODNAME, strlen(LNS_MODNAME)))
				continue;
			n++;
			snprintf(path, sizeof(path), "/sys/block/%s/loop", de->d_name);
			if (!stat(path, &st))
				b++;
		}
		closedir(d);
	}
	if (bound)
		*bound = b;
	return n;
}

/**
 * lns_explain_enospc() - say which limit stopped a device creation
 * @inst: the instance's path
 */
void lns_explain_enospc(const char *inst)
{
	struct lns_instance_info info;
	uint64_t lim;
	int nodes = lns_count_nodes(inst);

	if (!lns_instance_info_of(inst, &info) && nodes >= info.max) {
		lns_err("instance limit reached (max=%d)", info.max);
		return;
	}
	if (!lns_read_u64("/sys/module/loopns/parameters/max_devices", &lim) &&
	    (uint64_t)lns_sys_disk_count(NULL) >= lim) {
		lns_err("global device limit reached (max_devices=%llu)",
			(unsigned long long)lim);
		return;
	}
	if (!lns_read_u64("/sys/module/loopns/parameters/max_devices_per_user",
			  &lim)) {
		lns_err("device limit of this user reached (max_devices_per_user=%llu)",
			(unsigned long long)lim);
		return;
	}
	lns_err("device limit reached");
}

/* The sysfs attribute loop/@attr (or @attr) of disk @name as a number. */
static uint64_t sys_disk_u64(const char *name, const char *attr)
{
	char path[PATH_MAX];
	uint64_t v = 0;

	snprintf(path, sizeof(path), "/sys/block/%s/%s", name, attr);
	if (lns_read_u64(path, &v))
		return 0;
	return v;
}

/* What sysfs says about the binding of a bound device. */
static void sys_devinfo_loop(struct lns_devinfo *d)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", d->name);
	if (lns_read_file(path, d->backing, sizeof(d->backing)) >= 0) {
		d->backing[strcspn(d->backing, "\n")] = 0;
		d->backing_visible = true;
	}
	d->offset = sys_disk_u64(d->name, "loop/offset");
	d->sizelimit = sys_disk_u64(d->name, "loop/sizelimit");
	if (sys_disk_u64(d->name, "loop/autoclear"))
		d->flags |= LO_FLAGS_AUTOCLEAR;
	if (sys_disk_u64(d->name, "loop/partscan"))
		d->flags |= LO_FLAGS_PARTSCAN;
	if (sys_disk_u64(d->name, "loop/dio"))
		d->flags |= LO_FLAGS_DIRECT_IO;
}

/*
 * Where /sys/dev/block/MAJ:MIN of @rdev points, "" if it cannot be read:
 * ../../devices/virtual/block/loopns3, the disk's name last.
 */
static char *sys_dev_link(dev_t rdev, char *link, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(rdev),
		 minor(rdev));
	n = readlink(path, link, len - 1);
	link[n > 0 ? n : 0] = 0;
	return link;
}

/* The device behind node @node, device @index; 0 or -errno. */
static int sys_devinfo_fill(const char *node, int index, struct lns_devinfo *d)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *base;
	struct stat st;

	memset(d, 0, sizeof(*d));
	if (stat(node, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	d->index = index;
	if (!*sys_dev_link(st.st_rdev, link, sizeof(link)))
		return -ENODEV;
	base = strrchr(link, '/');
	snprintf(d->name, sizeof(d->name), "%s", base ? base + 1 : link);
	d->size = sys_disk_u64(d->name, "size") * 512;
	d->log_sec = (uint32_t)sys_disk_u64(d->name, "queue/logical_block_size");
	if (sys_disk_u64(d->name, "ro"))
		d->flags |= LO_FLAGS_READ_ONLY;
	snprintf(path, sizeof(path), "/sys/block/%s/loop", d->name);
	d->bound = !access(path, F_OK);
	if (d->bound)
		sys_devinfo_loop(d);
	return 0;
}

static int sys_cmp_devinfo(const void *a, const void *b)
{
	const struct lns_devinfo *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

/**
 * lns_instance_devices() - the devices of one instance, by index
 * @inst: the instance's path
 * @out: array (free with free())
 *
 * Return: the number of devices, or -errno.
 */
int lns_instance_devices(const char *inst, struct lns_devinfo **out)
{
	struct lns_devinfo *v = NULL, *nv;
	struct dirent *de;
	char node[PATH_MAX];
	int n = 0, idx, part;
	DIR *d;

	*out = NULL;
	d = opendir(inst);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (lns_parse_node_name(de->d_name, &idx, &part) || part)
			continue;
		nv = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			closedir(d);
			return -ENOMEM;
		}
		v = nv;
		snprintf(node, sizeof(node), "%s%s%s", inst,
			 inst[strlen(inst) - 1] == '/' ? "" : "/", de->d_name);
		/* a device deleted meanwhile simply drops out */
		if (sys_devinfo_fill(node, idx, &v[n]))
			continue;
		lns_node_path(inst, idx, v[n].node, sizeof(v[n].node));
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof(*v), sys_cmp_devinfo);
	*out = v;
	return n;
}

/**
 * lns_check_node() - open a device node given on the command line
 * @node: the path
 * @flags: open flags
 * @fd: the open descriptor
 *
 * Checks that @node is a whole loopns device. Prints the cause on failure.
 *
 * Return: LNS_EXIT_OK or an exit status.
 */
int lns_check_node(const char *node, int flags, int *fd)
{
	struct stat st;
	int major = lns_major('b');
	int f;

	if (stat(node, &st) < 0) {
		int e = errno;

		if (major < 0)
			return lns_not_loaded();
		lns_err("%s: %s", node, strerror(e));
		return lns_errno_exit(e);
	}
	if (!S_ISBLK(st.st_mode)) {
		lns_err("%s: not a block device", node);
		return LNS_EXIT_NOTFOUND;
	}
	if (major < 0)
		return lns_not_loaded();
	if ((int)major(st.st_rdev) != major) {
		char link[PATH_MAX];

		/* on another major, only a partition (on 259) can be ours */
		if (strstr(sys_dev_link(st.st_rdev, link, sizeof(link)),
			   "/" LNS_MODNAME)) {
			lns_err("%s: a partition; give its device (loopN)", node);
			return LNS_EXIT_USAGE;
		}
		lns_err("%s: not a loopns device (major %u, loopns is %d)", node,
			major(st.st_rdev), major);
		return LNS_EXIT_NOTFOUND;
	}
	f = open(node, flags | O_CLOEXEC);
	if (f < 0 && (errno == EACCES || errno == EROFS) &&
	    (flags & O_ACCMODE) == O_RDWR)
		f = open(node, (flags & ~O_ACCMODE) | O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		int e = errno;

		if (e == ENXIO)
			lns_err("%s: the device is being deleted", node);
		else
			lns_err("%s: %s", node, strerror(e));
		return lns_errno_exit(e);
	}
	*fd = f;
	return LNS_EXIT_OK;
}
