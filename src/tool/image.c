// SPDX-License-Identifier: GPL-2.0
/*
 * loopnsctl mount-image: the mount broker. Host root runs it for a
 * container: an image file descriptor in, an idmapped mount (or an
 * overlay of idmapped read-only layers) at a path in the container's mount
 * namespace out.
 *
 * Each image is bound to a device of a private, detached loopns instance
 * of the broker's own (fsopen("loopns") + LOOPNS_CTL_ATTACH), never to a
 * device of the container's instance: the container is root of its own
 * instance and could LOOP_CHANGE_FD, LOOP_SET_CAPACITY or detach a device
 * under a kernel filesystem mounted by host root; nobody can reach the
 * broker's instance, which has no mount and no open file once the broker
 * exits, so the device lives exactly as long as the filesystem on it.
 *
 * Order: every image is checked (a readable regular file; libblkid names
 * its filesystem) and mounted detached, nodev and nosuid, then idmapped
 * with mount_setattr(MOUNT_ATTR_IDMAP) and the target's user namespace.
 * The broker then enters the target's mount namespace and makes a private
 * copy of it, where the mount (or the overlay, whose layers must be
 * attached in the caller's namespace on 6.1 and 6.12) is put at PATH; it
 * enters the target's user namespace and copies the mount namespace once
 * more, which locks the mount's nodev, nosuid and read-only flags against
 * the container (MNT_LOCK_*), clones the mount from there (open_tree) and
 * moves the clone to PATH in the target's own mount namespace. Both
 * copies die with the broker; the container's namespace holds the only
 * reference left, so its end unmounts the filesystem and frees the device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <blkid.h>

#include "../../include/uapi/linux/loopns.h"
#include "loopnsctl.h"
#include "sys.h"

/* The new mount API through syscall(2): older libcs have no wrappers. */
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC		0x00000001
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC		0x00000001
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH	0x00000004
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE		1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC	O_CLOEXEC
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY	0x00000001
#define MOUNT_ATTR_NOSUID	0x00000002
#define MOUNT_ATTR_NODEV	0x00000004
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP	0x00100000
#endif
#define IMG_FSCONFIG_SET_FLAG	0
#define IMG_FSCONFIG_SET_STRING	1
#define IMG_FSCONFIG_CMD_CREATE	6

/* struct mount_attr of <linux/mount.h> (MOUNT_ATTR_SIZE_VER0) */
struct img_mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

/**
 * struct img_target - the container a mount is for
 * @pid: its process
 * @pidfd: a pidfd of it, to tell that @pid was not reused meanwhile
 * @userns: its user namespace
 * @mntns: its mount namespace
 * @own_userns: @userns is the broker's (the initial one): nothing to map
 */
struct img_target {
	pid_t pid;
	int pidfd;
	int userns;
	int mntns;
	bool own_userns;
};

static int img_fsopen(const char *type)
{
	return (int)syscall(SYS_fsopen, type, FSOPEN_CLOEXEC);
}

static int img_fsconfig(int fd, unsigned int cmd, const char *key,
			const char *val)
{
	return (int)syscall(SYS_fsconfig, fd, cmd, key, val, 0);
}

static int img_fsmount(int fd, unsigned int attrs)
{
	return (int)syscall(SYS_fsmount, fd, FSMOUNT_CLOEXEC, attrs);
}

/* move_mount() of the detached (or cloned) mount @mnt onto @path */
static int img_move(int mnt, const char *path)
{
	return (int)syscall(SYS_move_mount, mnt, "", AT_FDCWD, path,
			    MOVE_MOUNT_F_EMPTY_PATH);
}

/* Print the messages the kernel left in fs context @fsfd ("e ...") */
static void img_fs_log(int fsfd, const char *what)
{
	char buf[1024];
	ssize_t n;

	while ((n = read(fsfd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = 0;
		if (n > 2 && buf[1] == ' ')
			lns_err("%s: %s", what, buf + 2);
	}
}

/* fsconfig(FSCONFIG_CMD_CREATE) and fsmount(), reporting the kernel's words */
static int img_create(int fsfd, unsigned int attrs, const char *what)
{
	int mnt, e;

	if (img_fsconfig(fsfd, IMG_FSCONFIG_CMD_CREATE, NULL, NULL) < 0) {
		e = errno;
		img_fs_log(fsfd, what);
		lns_err("%s: mount failed: %s (the kernel refused the filesystem; its log may say why)",
			what, strerror(e));
		errno = e;
		return -1;
	}
	mnt = img_fsmount(fsfd, attrs);
	if (mnt < 0) {
		e = errno;
		lns_err("%s: fsmount: %s", what, strerror(e));
		errno = e;
	}
	return mnt;
}

/* The target's namespaces; @pid must not be a process that has exited. */
static int img_target_open(const char *spec, struct img_target *t)
{
	uint32_t pid;
	char p[64];
	struct stat a, b;

	if (lns_parse_u32_range(spec, 1, INT_MAX, &pid)) {
		lns_err("--target %s: not a process id", spec);
		return LNS_EXIT_USAGE;
	}
	t->pid = (pid_t)pid;
	t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
	if (t->pidfd < 0 && errno == ESRCH) {
		lns_err("target %d: no such process (it has exited)", t->pid);
		return LNS_EXIT_NOTFOUND;
	}
	if (t->pidfd < 0)
		return lns_syserr("pidfd_open");
	snprintf(p, sizeof(p), "/proc/%d/ns/user", t->pid);
	t->userns = open(p, O_RDONLY | O_CLOEXEC);
	snprintf(p, sizeof(p), "/proc/%d/ns/mnt", t->pid);
	t->mntns = open(p, O_RDONLY | O_CLOEXEC);
	/* a zombie has no namespaces; a reused pid fails the pidfd */
	if (t->userns < 0 || t->mntns < 0 ||
	    syscall(SYS_pidfd_send_signal, t->pidfd, 0, NULL, 0) < 0) {
		lns_err("target %d: the process has exited", t->pid);
		return LNS_EXIT_NOTFOUND;
	}
	if (fstat(t->userns, &a) || stat("/proc/self/ns/user", &b))
		return lns_syserr("/proc/self/ns/user");
	t->own_userns = a.st_ino == b.st_ino && a.st_dev == b.st_dev;
	return 0;
}

/* A readable regular file, writable unless @ro, not empty. */
static int img_check_fd(int fd, bool ro)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fstat(fd, &st)) {
		lns_err("fd %d: %s", fd, strerror(errno));
		return LNS_EXIT_USAGE;
	}
	if (S_ISBLK(st.st_mode)) {
		lns_err("fd %d is a block device (%u:%u): mount-image takes image files, never a device (it could be another container's)",
			fd, major(st.st_rdev), minor(st.st_rdev));
		return LNS_EXIT_FAIL;
	}
	if (!S_ISREG(st.st_mode)) {
		lns_err("fd %d is not a regular file", fd);
		return LNS_EXIT_FAIL;
	}
	if ((fl & O_ACCMODE) == O_WRONLY) {
		lns_err("fd %d is open write-only: the image must be readable", fd);
		return LNS_EXIT_PERM;
	}
	if (!ro && (fl & O_ACCMODE) != O_RDWR) {
		lns_err("fd %d is open read-only: open it read-write or give --read-only",
			fd);
		return LNS_EXIT_PERM;
	}
	if (st.st_size == 0) {
		lns_err("fd %d: empty file, no filesystem", fd);
		return LNS_EXIT_FAIL;
	}
	return 0;
}

/* The filesystem on @fd by libblkid, into @type; 0 or an exit status. */
static int img_probe(int fd, char *type, size_t len)
{
	blkid_probe pr = blkid_new_probe();
	const char *v = NULL, *usage = NULL;
	int rc = -1;

	if (pr && !blkid_probe_set_device(pr, fd, 0, 0)) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
						  BLKID_SUBLKS_USAGE);
		rc = blkid_do_safeprobe(pr);
	}
	if (rc == 0 && !blkid_probe_lookup_value(pr, "TYPE", &v, NULL))
		snprintf(type, len, "%s", v);
	if (rc == 0)
		blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
	if (rc == 0 && (!v || !usage || strcmp(usage, "filesystem"))) {
		lns_err("fd %d: %s is not a filesystem", fd, v ? v : "the content");
		rc = 2;
	}
	if (pr)
		blkid_free_probe(pr);
	if (rc == 1)
		lns_err("fd %d: no filesystem found (unknown or corrupt superblock)",
			fd);
	else if (rc == -2)
		lns_err("fd %d: signatures of several filesystems, refusing to guess",
			fd);
	else if (rc < 0)
		lns_err("fd %d: probing failed", fd);
	return rc ? LNS_EXIT_FAIL : 0;
}

/* A device of a new private instance bound to @fd; its fd, or -1. */
static int img_attach(int fd, bool ro)
{
	struct loopns_attach at;
	int fsfd, mnt = -1, ctl = -1, dev = -1;

	fsfd = img_fsopen(LNS_FSTYPE);
	if (fsfd < 0) {
		if (errno == ENODEV)
			lns_not_loaded();
		else
			lns_syserr("fsopen(loopns)");
		return -1;
	}
	if (img_fsconfig(fsfd, IMG_FSCONFIG_SET_STRING, "max", "1") == 0)
		mnt = img_create(fsfd, 0, "loopns instance");
	if (mnt >= 0)
		ctl = openat(mnt, "loop-control", O_RDWR | O_CLOEXEC);
	memset(&at, 0, sizeof(at));
	at.config.fd = (uint32_t)fd;
	at.config.info.lo_flags = ro ? LO_FLAGS_READ_ONLY : 0;
	at.flags = LOOPNS_ATTACH_CLOEXEC;
	if (ctl >= 0)
		dev = ioctl(ctl, LOOPNS_CTL_ATTACH, &at);
	if (dev < 0)
		lns_err("fd %d: cannot bind to a loopns device: %s", fd,
			strerror(errno));
	if (ctl >= 0)
		close(ctl);
	if (mnt >= 0)
		close(mnt);
	close(fsfd);
	return dev;
}

/* Mount @type from device @dev detached, nodev, nosuid; the mount fd. */
static int img_fs_mount(const char *type, int dev, bool ro, int imgfd)
{
	char src[64], what[96];
	int fsfd, mnt = -1;

	snprintf(what, sizeof(what), "fd %d (%s)", imgfd, type);
	fsfd = img_fsopen(type);
	if (fsfd < 0) {
		lns_err("%s: this kernel cannot mount %s: %s", what, type,
			strerror(errno));
		return -1;
	}
	snprintf(src, sizeof(src), "/proc/self/fd/%d", dev);
	if (img_fsconfig(fsfd, IMG_FSCONFIG_SET_STRING, "source", src) < 0 ||
	    (ro && img_fsconfig(fsfd, IMG_FSCONFIG_SET_FLAG, "ro", NULL) < 0))
		lns_err("%s: fsconfig: %s", what, strerror(errno));
	else
		mnt = img_create(fsfd, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID |
				 (ro ? MOUNT_ATTR_RDONLY : 0), what);
	close(fsfd);
	return mnt;
}

/* Map detached mount @mnt into user namespace @userns. */
static int img_idmap(int mnt, int userns, const char *type, int imgfd)
{
	struct img_mount_attr attr = {
		.attr_set = MOUNT_ATTR_IDMAP,
		.userns_fd = (uint64_t)userns,
	};

	if (!syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &attr,
		     sizeof(attr)))
		return 0;
	if (errno == EINVAL)
		lns_err("fd %d: %s cannot be idmapped by this kernel (the filesystem does not support idmapped mounts)",
			imgfd, type);
	else
		lns_err("fd %d: idmapping the %s mount: %s", imgfd, type,
			strerror(errno));
	return -1;
}

/* One image: checked, bound, mounted, idmapped; 0 or an exit status. */
static int img_open_one(const struct lns_args *a, int fd, bool ro,
			const struct img_target *t, int *mnt)
{
	char type[64];
	int rc, dev;

	rc = img_check_fd(fd, ro);
	if (!rc)
		rc = img_probe(fd, type, sizeof(type));
	if (rc)
		return rc;
	dev = img_attach(fd, ro);
	if (dev < 0)
		return LNS_EXIT_FAIL;
	*mnt = img_fs_mount(type, dev, ro, fd);
	close(dev);	/* the filesystem holds the device now */
	if (*mnt < 0)
		return LNS_EXIT_FAIL;
	if (!lns_has(a, LNS_O_NO_IDMAP) &&
	    img_idmap(*mnt, t->userns, type, fd))
		return LNS_EXIT_FAIL;
	return 0;
}

/* Whether host uid @uid is one of the ids user namespace of @pid maps. */
static bool img_uid_mapped(pid_t pid, uid_t uid)
{
	unsigned long in, out, n;
	bool found = false;
	char p[64];
	FILE *f;

	/* read from the initial namespace, "out" is a host id */
	snprintf(p, sizeof(p), "/proc/%d/uid_map", pid);
	f = fopen(p, "re");
	while (f && !found && fscanf(f, "%lu %lu %lu", &in, &out, &n) == 3)
		found = uid >= out && uid - out < n;
	if (f)
		fclose(f);
	return found;
}

/*
 * An O_PATH fd of directory @dir, resolved in the current namespace
 * without magic links (no /proc/PID/root into another namespace), and
 * owned by one of the target's ids: the container's own directory.
 */
static int img_open_dir(const char *dir, const char *opt,
			const struct img_target *t)
{
	struct {
		uint64_t flags, mode, resolve;
	} how = { O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0x02 /* NO_MAGICLINKS */ };
	struct stat st;
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));

	if (fd < 0 || fstat(fd, &st)) {
		lns_err("--%s %s: %s in the target's mount namespace", opt, dir,
			strerror(errno));
		return -1;
	}
	if (!t->own_userns && !img_uid_mapped(t->pid, st.st_uid)) {
		lns_err("--%s %s: owned by host uid %u, not by the container",
			opt, dir, (unsigned int)st.st_uid);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * In the private copy of the target's namespace: a staging tmpfs at PATH
 * carries the idmapped layers at l0, l1, ... (overlayfs clones its layers
 * only from the caller's own namespace on 6.1 and 6.12); their paths go
 * into @val as a lowerdir= value. 0 or -1.
 */
static int img_stage(const char *path, const int *mnts, int n, char *val,
		     size_t len)
{
	char dir[64];
	int fsfd, stage, i, used = 0;

	fsfd = img_fsopen("tmpfs");
	stage = fsfd < 0 ? -1 : img_create(fsfd, 0, "staging tmpfs");
	if (fsfd >= 0)
		close(fsfd);
	if (stage < 0 || img_move(stage, path)) {
		lns_err("%s: staging the layers: %s", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(dir, sizeof(dir), "l%d", i);
		if (mkdirat(stage, dir, 0700)) {
			lns_syserr("staging dir");
			return -1;
		}
		snprintf(dir, sizeof(dir), "/proc/self/fd/%d/l%d", stage, i);
		if (img_move(mnts[i], dir)) {
			lns_syserr("staging a layer");
			return -1;
		}
		used += snprintf(val + used, len - used, "%s%s", i ? ":" : "",
				 dir);
	}
	return 0;
}

/* The overlay of the layers @mnts and --upper, --work: a detached mount. */
static int img_overlay(const struct lns_args *a, const struct img_target *t,
		       const int *mnts, int n)
{
	char val[LNS_IMG_MAX_FDS * 64], dir[64];
	int fsfd, upper, work, ovl = -1;

	upper = img_open_dir(a->upper, "upper", t);
	work = upper < 0 ? -1 : img_open_dir(a->work, "work", t);
	if (work < 0 || img_stage(a->pos[0], mnts, n, val, sizeof(val)))
		return -1;
	fsfd = img_fsopen("overlay");
	if (fsfd < 0) {
		lns_syserr("fsopen(overlay)");
		return -1;
	}
	if (img_fsconfig(fsfd, IMG_FSCONFIG_SET_STRING, "lowerdir", val) == 0) {
		snprintf(dir, sizeof(dir), "/proc/self/fd/%d", upper);
		img_fsconfig(fsfd, IMG_FSCONFIG_SET_STRING, "upperdir", dir);
		snprintf(dir, sizeof(dir), "/proc/self/fd/%d", work);
		img_fsconfig(fsfd, IMG_FSCONFIG_SET_STRING, "workdir", dir);
		ovl = img_create(fsfd, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID,
				 "overlay");
	}
	return ovl;
}

/*
 * Lock the flags of the mount at PATH against the target by copying the
 * namespace into its user namespace, clone it, and move the clone into
 * the target's own mount namespace.
 */
static int img_hand_over(const char *path, const struct img_target *t)
{
	int clone;

	if (chdir(path))
		return lns_syserr(path);
	if (!t->own_userns &&
	    (setns(t->userns, CLONE_NEWUSER) || unshare(CLONE_NEWNS)))
		return lns_syserr("entering the target's user namespace");
	clone = (int)syscall(SYS_open_tree, AT_FDCWD, ".",
			     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (clone < 0)
		return lns_syserr("open_tree");
	if (setns(t->mntns, CLONE_NEWNS))
		return lns_syserr("entering the target's mount namespace");
	if (img_move(clone, path))
		return lns_syserr(path);
	return 0;
}

/* Put the detached mounts @mnts (one, or overlay layers) at PATH. */
static int img_place(const struct lns_args *a, const struct img_target *t,
		     const int *mnts, int n)
{
	const char *path = a->pos[0];
	int top = mnts[0];

	if (setns(t->mntns, CLONE_NEWNS) || unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return lns_syserr("a private copy of the target's mount namespace");
	if (lns_has(a, LNS_O_OVERLAY))
		top = img_overlay(a, t, mnts, n);
	if (top < 0)
		return LNS_EXIT_FAIL;
	if (img_move(top, path)) {
		lns_err("%s: %s in the target's mount namespace", path,
			strerror(errno));
		return lns_errno_exit(errno);
	}
	return img_hand_over(path, t);
}

/**
 * lns_cmd_mount_image() - loopnsctl mount-image
 * @a: the parsed command line (validated: --target, --fd, one PATH)
 *
 * Return: an exit status. On failure nothing is left: the broker's
 * instances, devices and detached mounts all go with its descriptors.
 */
int lns_cmd_mount_image(const struct lns_args *a)
{
	bool ovl = lns_has(a, LNS_O_OVERLAY);
	bool ro = ovl || lns_has(a, LNS_O_READ_ONLY);
	struct img_target t = { .pidfd = -1, .userns = -1, .mntns = -1 };
	int mnts[LNS_IMG_MAX_FDS];
	int i, rc;

	if (geteuid() != 0) {
		lns_err("mount-image: run it as host root (a container manager's broker)");
		return LNS_EXIT_PERM;
	}
	rc = img_target_open(a->target, &t);
	if (rc)
		return rc;
	if (t.own_userns && !lns_has(a, LNS_O_NO_IDMAP)) {
		lns_err("target %d is in the initial user namespace: nothing to map to (give --no-idmap to mount without idmapping)",
			t.pid);
		return LNS_EXIT_FAIL;
	}
	for (i = 0; i < a->nfd; i++) {
		rc = img_open_one(a, a->fds[i], ro, &t, &mnts[i]);
		if (rc)
			return rc;
	}
	return img_place(a, &t, mnts, a->nfd);
}
