// SPDX-License-Identifier: GPL-2.0
/*
 * lns-hammer - racing loop ioctl hammer for the loopns stress suite.
 *
 *   lns-hammer [OPTIONS] DIR
 *
 * Forks -j children that loop random operations on random indexes of the
 * loopns instance mounted at DIR for -t seconds: LOOP_CTL_ADD/REMOVE/
 * GET_FREE, unlink of nodes, LOOP_SET_FD/CONFIGURE/CLR_FD/CHANGE_FD/
 * SET_STATUS64/GET_STATUS64/SET_CAPACITY/SET_BLOCK_SIZE/SET_DIRECT_IO,
 * open/close with several modes (devices are kept open across operations
 * in a small pool), reads and writes, BLKFLSBUF/BLKRRPART/BLKDISCARD,
 * stacking a device on another device of the instance, LOOPNS_CTL_ATTACH
 * (also with a thread closing the new fd number while the ioctl runs),
 * sysfs reads of the loop/ attributes, readdir, remount max=.
 *
 * Every result is checked: errnos a racing peer can legitimately cause
 * (EBUSY ENXIO ENODEV EEXIST EINVAL ENOENT ENOSPC EBADF, and a few per
 * operation) are counted, anything else (EFAULT, ENOMEM, EIO from a
 * control operation, ...) is reported as unexpected. GET_STATUS64 must
 * report the index of the node it was issued on. A syscall taking longer
 * than -w seconds is reported as a possible hang (with the child's kernel
 * stack), and the children are waited for at most -t + -w seconds.
 *
 * Options:
 *   -t SECONDS   run time (default 10)
 *   -j N         children (default 4)
 *   -n N         indexes used: 0..N-1 (default 8)
 *   -b DIR       directory for backing files (default: DIR's parent)
 *   -s SEED      random seed (default: time)
 *   -p           private mode: every child mounts its own instances under
 *                DIR (a directory) and churns them: mount, operate,
 *                unmount (plain, lazy with devices open, or through the
 *                new mount API, a detached instance closed with fds open)
 *   -f           fault-injection mode: make this process's allocations
 *                fail-able (/proc/self/make-it-fail) and also tolerate
 *                ENOMEM, EIO, EINTR, EAGAIN, EFAULT-free errors
 *   -R           also remount the shared instance with random max=
 *   -w SECONDS   one syscall slower than this is a possible hang (60)
 *   -q           quiet: only the summary and unexpected results
 *   -o           open storm: the children only open and close nodes
 *                loop0..loop(-n - 1) as fast as they can (no checks);
 *                for racing other clients of the instance
 *
 * Exit status: 0 if nothing unexpected happened, 1 otherwise, 2 on usage
 * errors. Last line: "lns-hammer: N ops, N unexpected, N hangs".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../include/uapi/linux/loopns.h"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
#endif
#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif

#define NR_BACKING	4
#define POOL		4
#define IMG_SIZE	(1 << 20)

static int opt_t = 10, opt_j = 4, opt_n = 8, opt_p, opt_f, opt_R, opt_w = 60,
	   opt_q, opt_o;
static unsigned int opt_seed;
static const char *opt_b, *dir;

/* Shared counters (MAP_SHARED): ops, unexpected results, hangs. */
struct stats {
	unsigned long ops, bad, hangs, binds, attaches, ios, mounts;
};
static struct stats *shared;
static struct stats me;

/* Per child. */
static unsigned int seed;
static int root = -1;		/* O_PATH fd of the instance root */
static int ctl = -1;		/* its loop-control */
static int is_detached;		/* root is an fsmount() fd */
static char mydir[4096];
static struct {
	int rw, ro, direct;
} bk[NR_BACKING + 1];		/* the last one has another size */
static struct {
	int fd, idx, flags;
} pool[POOL];
static time_t deadline;
static const char *cur_op = "";

static unsigned int rnd(unsigned int n)
{
	return n ? (unsigned int)rand_r(&seed) % n : 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *ename(int e)
{
	static char buf[16];

	switch (e) {
#define E(x) case x: return #x
	E(EPERM); E(ENOENT); E(EIO); E(ENXIO); E(EBADF); E(EAGAIN);
	E(ENOMEM); E(EACCES); E(EFAULT); E(EBUSY); E(EEXIST); E(ENODEV);
	E(ENOTDIR); E(EISDIR); E(EINVAL); E(ENOTTY); E(EFBIG); E(ENOSPC);
	E(EROFS); E(ENOSYS); E(EOVERFLOW); E(EOPNOTSUPP); E(EINTR);
	E(EMFILE); E(ENFILE); E(ESTALE); E(ELOOP);
#undef E
	default:
		snprintf(buf, sizeof(buf), "E%d", e);
		return buf;
	}
}

static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "lns-hammer[%d]: ", getpid());
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", buf);
}

static void unexpected(const char *what, int idx, long ret, int err)
{
	me.bad++;
	if (me.bad <= 20)
		say("UNEXPECTED %s loop%d -> %ld %s", what, idx, ret,
		    ret < 0 ? ename(err) : "");
}

/*
 * Check the result of one operation. @ok is a string of allowed errno
 * names separated by spaces; "*" allows the common racing set.
 */
static const char common[] =
	"EBUSY ENXIO ENODEV EEXIST EINVAL ENOENT ENOSPC EBADF";
static const char faulty[] = "ENOMEM EIO EINTR EAGAIN ENFILE";

static int in_list(const char *list, const char *n)
{
	size_t l = strlen(n);
	const char *p = list;

	while (*p) {
		size_t t = strcspn(p, " ");

		if (t == 1 && *p == '*' && in_list(common, n))
			return 1;
		if (t == l && !strncmp(p, n, l))
			return 1;
		p += t;
		p += strspn(p, " ");
	}
	return 0;
}

static int allowed(int err, const char *ok)
{
	const char *n = ename(err);

	return in_list(ok, n) || (opt_f && in_list(faulty, n));
}

static long check(const char *what, int idx, long ret, const char *ok)
{
	int err = errno;

	me.ops++;
	if (ret < 0 && !allowed(err, ok))
		unexpected(what, idx, ret, err);
	errno = err;
	return ret;
}

/* Run one syscall under the hang watch. */
static double t0;
static void watch_start(const char *op)
{
	cur_op = op;
	t0 = now();
}

static void watch_end(int idx)
{
	double d = now() - t0;

	if (d > opt_w) {
		me.hangs++;
		say("SLOW %s loop%d took %.1fs", cur_op, idx, d);
	}
	cur_op = "";
}

#define WATCH(op, idx, expr) ({ long __r; watch_start(op); __r = (expr); \
	watch_end(idx); __r; })

static int node_open(int idx, int flags)
{
	char name[32];

	snprintf(name, sizeof(name), "loop%d", idx);
	return WATCH("open", idx, openat(root, name, flags | O_CLOEXEC));
}

/* An open fd of device @idx: from the pool or freshly opened. */
static int get_dev(int idx, int *fresh, int want_write)
{
	static const int modes[] = { O_RDWR, O_RDONLY, O_RDWR | O_EXCL,
				     O_RDWR | O_DIRECT, O_RDWR | O_NONBLOCK };
	int i, fd, flags;

	for (i = 0; i < POOL; i++)
		if (pool[i].fd >= 0 && pool[i].idx == idx &&
		    (!want_write || (pool[i].flags & O_ACCMODE) == O_RDWR) &&
		    rnd(2)) {
			*fresh = 0;
			return pool[i].fd;
		}
	flags = want_write ? O_RDWR : modes[rnd(5)];
	if (want_write && rnd(4) == 0)
		flags |= O_DIRECT;
	fd = node_open(idx, flags);
	check("open", idx, fd, "* EACCES");
	*fresh = 1;
	if (fd >= 0 && rnd(3) == 0) {
		/* Keep it: replace a random pool entry. */
		i = rnd(POOL);
		if (pool[i].fd >= 0)
			close(pool[i].fd);
		pool[i].fd = fd;
		pool[i].idx = idx;
		pool[i].flags = flags;
		*fresh = 0;
	}
	return fd;
}

static void put_dev(int fd, int fresh)
{
	if (fresh && fd >= 0)
		close(fd);
}

static int any_backing(void)
{
	int i = rnd(NR_BACKING);

	switch (rnd(6)) {
	case 0: return bk[i].ro;
	case 1: return bk[i].direct;
	case 2: return bk[NR_BACKING].rw;	/* another size */
	default: return bk[i].rw;
	}
}

static unsigned int rnd_flags(void)
{
	static const unsigned int f[] = { 0, LO_FLAGS_AUTOCLEAR,
		LO_FLAGS_PARTSCAN, LO_FLAGS_READ_ONLY, LO_FLAGS_DIRECT_IO,
		LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN };

	return f[rnd(6)] | (rnd(8) == 0 ? LO_FLAGS_READ_ONLY : 0);
}

static unsigned long long rnd_offset(void)
{
	static const unsigned long long o[] = { 0, 0, 512, 4096, 65536 };

	return o[rnd(5)];
}

static unsigned long long rnd_sizelimit(void)
{
	static const unsigned long long s[] = { 0, 0, 0, 512 << 10, 4096 };

	return s[rnd(5)];
}

static char *iobuf;

static void op_io(int idx)
{
	int fresh, fd, write = rnd(2);
	unsigned long long size = 0;
	long r;
	off_t off;

	fd = get_dev(idx, &fresh, write);
	if (fd < 0)
		return;
	if (check("BLKGETSIZE64", idx, ioctl(fd, BLKGETSIZE64, &size), "") < 0)
		goto out;
	off = size >= 8192 ? (off_t)rnd(size / 4096) * 4096 : 0;
	me.ios++;
	if (write) {
		memset(iobuf, 'a' + rnd(26), 4096);
		r = WATCH("pwrite", idx, pwrite(fd, iobuf, 4096, off));
		/* EPERM: read-only device; EINVAL: O_DIRECT vs block size. */
		check("pwrite", idx, r, "EIO ENOSPC EPERM EINVAL ENXIO");
	} else {
		r = WATCH("pread", idx, pread(fd, iobuf, 4096, off));
		check("pread", idx, r, "EIO EINVAL ENXIO");
	}
	switch (rnd(4)) {
	case 0:
		check("fsync", idx, WATCH("fsync", idx, fsync(fd)), "EIO ENXIO");
		break;
	case 1:
		check("BLKFLSBUF", idx, WATCH("BLKFLSBUF", idx,
					      ioctl(fd, BLKFLSBUF, 0)),
		      "EIO ENXIO EACCES");
		break;
	case 2: {
		uint64_t range[2] = { 0, 4096 };

		if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
			break;
		check("BLKDISCARD", idx, WATCH("BLKDISCARD", idx,
					       ioctl(fd, BLKDISCARD, range)),
		      "EOPNOTSUPP EIO EINVAL EPERM EBUSY ENXIO");
		break;
	}
	default:
		break;
	}
out:
	put_dev(fd, fresh);
}

static void op_bind(int idx)
{
	int fresh, fd, lower = -1, r, ret;
	struct loop_config c;

	fd = get_dev(idx, &fresh, 0);
	if (fd < 0)
		return;
	memset(&c, 0, sizeof(c));
	if (rnd(5) == 0) {
		/* Stack on another device of this instance (or itself). */
		lower = node_open(rnd(opt_n), rnd(2) ? O_RDWR : O_RDONLY);
		c.fd = lower;
	} else {
		c.fd = any_backing();
	}
	if (c.fd < 0) {
		put_dev(fd, fresh);
		return;
	}
	if (rnd(3) == 0) {
		r = WATCH("SET_FD", idx, ioctl(fd, LOOP_SET_FD, c.fd));
		ret = check("SET_FD", idx, r, "*");
	} else {
		static const unsigned int bs[] = { 0, 0, 512, 1024, 4096, 3 };

		c.block_size = bs[rnd(6)];
		c.info.lo_flags = rnd_flags();
		c.info.lo_offset = rnd_offset();
		c.info.lo_sizelimit = rnd_sizelimit();
		snprintf((char *)c.info.lo_file_name, LO_NAME_SIZE,
			 "hammer-%d", getpid());
		r = WATCH("CONFIGURE", idx, ioctl(fd, LOOP_CONFIGURE, &c));
		ret = check("CONFIGURE", idx, r, "*");
	}
	if (ret == 0)
		me.binds++;
	if (lower >= 0)
		close(lower);
	put_dev(fd, fresh);
}

static void op_dev_ioctl(int idx)
{
	int fresh, fd, which = rnd(8);
	struct loop_info64 info;
	long r;

	fd = get_dev(idx, &fresh, 0);
	if (fd < 0)
		return;
	switch (which) {
	case 0:
		r = WATCH("CLR_FD", idx, ioctl(fd, LOOP_CLR_FD, 0));
		check("CLR_FD", idx, r, "*");
		break;
	case 1:
		r = WATCH("CHANGE_FD", idx, ioctl(fd, LOOP_CHANGE_FD,
						 any_backing()));
		check("CHANGE_FD", idx, r, "*");
		break;
	case 2:
		memset(&info, 0, sizeof(info));
		info.lo_flags = rnd_flags();
		info.lo_offset = rnd_offset();
		info.lo_sizelimit = rnd_sizelimit();
		r = WATCH("SET_STATUS64", idx, ioctl(fd, LOOP_SET_STATUS64,
						    &info));
		check("SET_STATUS64", idx, r, "*");
		break;
	case 3:
		r = WATCH("GET_STATUS64", idx, ioctl(fd, LOOP_GET_STATUS64,
						    &info));
		if (check("GET_STATUS64", idx, r, "*") == 0 &&
		    info.lo_number != (unsigned int)idx)
			unexpected("GET_STATUS64 lo_number mismatch", idx,
				   info.lo_number, 0);
		break;
	case 4:
		r = WATCH("SET_CAPACITY", idx, ioctl(fd, LOOP_SET_CAPACITY, 0));
		check("SET_CAPACITY", idx, r, "*");
		break;
	case 5: {
		static const unsigned long bs[] = { 512, 1024, 2048, 4096, 3 };

		r = WATCH("SET_BLOCK_SIZE", idx,
			  ioctl(fd, LOOP_SET_BLOCK_SIZE, bs[rnd(5)]));
		check("SET_BLOCK_SIZE", idx, r, "*");
		break;
	}
	case 6:
		r = WATCH("SET_DIRECT_IO", idx,
			  ioctl(fd, LOOP_SET_DIRECT_IO, (unsigned long)rnd(2)));
		check("SET_DIRECT_IO", idx, r, "*");
		break;
	default:
		r = WATCH("BLKRRPART", idx, ioctl(fd, BLKRRPART, 0));
		/* EIO: the device was being detached under the rescan. */
		check("BLKRRPART", idx, r, "* EACCES EIO");
		break;
	}
	put_dev(fd, fresh);
}

static void op_ctl(int idx)
{
	long r;

	switch (rnd(4)) {
	case 0:
		r = WATCH("CTL_ADD", idx, ioctl(ctl, LOOP_CTL_ADD, idx));
		check("CTL_ADD", idx, r, "EEXIST ENOSPC ENODEV");
		break;
	case 1:
		r = WATCH("CTL_REMOVE", idx, ioctl(ctl, LOOP_CTL_REMOVE, idx));
		check("CTL_REMOVE", idx, r, "EBUSY ENODEV");
		break;
	case 2:
		r = WATCH("CTL_GET_FREE", -1, ioctl(ctl, LOOP_CTL_GET_FREE));
		check("CTL_GET_FREE", -1, r, "ENOSPC ENODEV");
		break;
	default: {
		char name[32];

		snprintf(name, sizeof(name), "loop%d", idx);
		r = WATCH("unlink", idx, unlinkat(root, name, 0));
		/* EPERM: an ephemeral device's node, or a detached mount. */
		check("unlink", idx, r, "EBUSY ENOENT EPERM");
		break;
	}
	}
}

/* LOOPNS_CTL_ATTACH; the fd goes to the pool or is closed at once. */
static void op_attach(void)
{
	struct loopns_attach a;
	int fd, i;

	memset(&a, 0, sizeof(a));
	a.config.fd = any_backing();
	a.config.info.lo_flags = rnd_flags() & ~LO_FLAGS_AUTOCLEAR;
	a.flags = LOOPNS_ATTACH_CLOEXEC;
	fd = WATCH("ATTACH", -1, ioctl(ctl, LOOPNS_CTL_ATTACH, &a));
	/*
	 * EBUSY/ENXIO: another child bound (and maybe cleared) the fresh
	 * node before ATTACH did. ENOENT would mean the device vanished.
	 */
	if (check("ATTACH", -1, fd, "EINVAL EBADF ENOSPC ENODEV ENXIO EBUSY") < 0)
		return;
	me.attaches++;
	if (a.index < 0 || a.index >= 1 << 20)
		unexpected("ATTACH index", a.index, a.index, 0);
	if (rnd(2)) {
		i = rnd(POOL);
		if (pool[i].fd >= 0)
			close(pool[i].fd);
		pool[i].fd = fd;
		pool[i].idx = a.index;
		pool[i].flags = fcntl(fd, F_GETFL);
	} else {
		close(fd);
	}
}

static void *closer(void *arg)
{
	int base = *(int *)arg, i;

	for (i = 0; i < 2000; i++)
		close(base + (i & 3));
	return NULL;
}

/*
 * LOOPNS_CTL_ATTACH while a thread closes the fd numbers it is about to
 * return, in a throwaway child (exit closes whatever is left).
 */
static void op_attach_race(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct loopns_attach a;
		pthread_t th;
		int base, r;

		base = dup(0);
		close(base);
		memset(&a, 0, sizeof(a));
		a.config.fd = bk[rnd(NR_BACKING)].rw;
		pthread_create(&th, NULL, closer, &base);
		r = ioctl(ctl, LOOPNS_CTL_ATTACH, &a);
		if (r < 0 && !allowed(errno, "EINVAL EBADF ENOSPC ENODEV ENXIO EBUSY")) {
			say("UNEXPECTED ATTACH (racing close) -> %s",
			    ename(errno));
			_exit(1);
		}
		pthread_join(th, NULL);
		_exit(0);
	}
	if (pid < 0)
		return;
	me.ops++;
	if (waitpid(pid, &st, 0) == pid && (!WIFEXITED(st) || WEXITSTATUS(st)))
		me.bad++;
}

static void op_misc(int idx)
{
	char path[256], buf[4096];
	struct stat st;
	int fd;

	switch (rnd(3)) {
	case 0: {
		/* Read the loop/ attributes, racing detach. */
		static const char *attrs[] = { "backing_file", "offset",
			"sizelimit", "autoclear", "partscan", "dio" };

		snprintf(path, sizeof(path), "loop%d", idx);
		if (fstatat(root, path, &st, 0) < 0)
			break;
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/%s",
			 major(st.st_rdev), minor(st.st_rdev), attrs[rnd(6)]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			me.ops++;
			if (read(fd, buf, sizeof(buf)) < 0 &&
			    !allowed(errno, "ENOENT ENODEV EACCES"))
				unexpected("sysfs read", idx, -1, errno);
			close(fd);
		}
		break;
	}
	case 1: {
		/* readdir + stat every entry. */
		DIR *d;
		struct dirent *e;

		fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (check("opendir", -1, fd, "") < 0)
			break;
		d = fdopendir(fd);
		while (d && (e = readdir(d)))
			fstatat(root, e->d_name, &st, AT_SYMLINK_NOFOLLOW);
		if (d)
			closedir(d);
		break;
	}
	default:
		/* Partition node of a random device. */
		snprintf(path, sizeof(path), "loop%dp%d", idx, 1 + rnd(2));
		fd = openat(root, path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
		else
			check("open part", idx, fd, "ENOENT ENXIO ENODEV");
		break;
	}
}

static void op_remount(void)
{
	char opts[32];

	if (is_detached || !opt_R)
		return;
	snprintf(opts, sizeof(opts), "max=%d", 2 + rnd(opt_n + 4));
	check("remount", -1, mount("loopns", mydir, NULL, MS_REMOUNT, opts),
	      "EINVAL");
}

static void one_op(void)
{
	int idx = rnd(opt_n);
	unsigned int w = rnd(100);

	if (w < 16)
		op_ctl(idx);
	else if (w < 32)
		op_bind(idx);
	else if (w < 62)
		op_dev_ioctl(idx);
	else if (w < 80)
		op_io(idx);
	else if (w < 86)
		op_attach();
	else if (w < 88)
		op_attach_race();
	else if (w < 97)
		op_misc(idx);
	else if (w < 98)
		op_remount();
	else {
		/* Drop a pooled fd. */
		int i = rnd(POOL);

		if (pool[i].fd >= 0)
			close(pool[i].fd);
		pool[i].fd = -1;
	}
}

static void drop_pool(void)
{
	int i;

	for (i = 0; i < POOL; i++) {
		if (pool[i].fd >= 0)
			close(pool[i].fd);
		pool[i].fd = -1;
	}
}

static int open_instance_at(const char *path)
{
	root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	ctl = openat(root, "loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		close(root);
		root = -1;
		return -1;
	}
	return 0;
}

/* A detached instance through fsopen/fsconfig/fsmount. */
static int open_detached(void)
{
	int fs, mnt;
	char max[16];

	fs = syscall(SYS_fsopen, "loopns", 1 /* FSOPEN_CLOEXEC */);
	if (check("fsopen", -1, fs, "") < 0)
		return -1;
	snprintf(max, sizeof(max), "%d", opt_n);
	syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "max", max, 0);
	if (check("fsconfig", -1, syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE,
					 NULL, NULL, 0), "") < 0) {
		close(fs);
		return -1;
	}
	mnt = syscall(SYS_fsmount, fs, 1 /* FSMOUNT_CLOEXEC */, 0);
	close(fs);
	if (check("fsmount", -1, mnt, "") < 0)
		return -1;
	root = mnt;
	ctl = openat(root, "loop-control", O_RDWR | O_CLOEXEC);
	if (check("open loop-control", -1, ctl, "") < 0) {
		close(root);
		root = -1;
		return -1;
	}
	is_detached = 1;
	return 0;
}

static void close_instance(void)
{
	if (ctl >= 0)
		close(ctl);
	if (root >= 0)
		close(root);
	ctl = root = -1;
	is_detached = 0;
}

/* Private mode: churn instances of our own. */
static void private_loop(int child)
{
	char opts[32];
	int how, n;

	snprintf(mydir, sizeof(mydir), "%s/c%d", dir, child);
	mkdir(mydir, 0755);
	while (time(NULL) < deadline) {
		how = rnd(4);
		if (how == 3) {
			if (open_detached() < 0)
				break;
		} else {
			snprintf(opts, sizeof(opts), "max=%d", opt_n);
			if (check("mount", -1, WATCH("mount", -1,
				  mount("loopns", mydir, "loopns", 0, opts)),
				  "") < 0)
				break;
			if (check("open instance", -1, open_instance_at(mydir),
				  "") < 0)
				break;
		}
		me.mounts++;
		for (n = 20 + rnd(200); n > 0 && time(NULL) < deadline; n--)
			one_op();
		/* Keep some devices open across the teardown, or not. */
		if (rnd(2))
			drop_pool();
		close_instance();
		if (how == 0) {
			/* Plain umount; EBUSY only if we hold nothing. */
			if (WATCH("umount", -1, umount2(mydir, 0)) < 0) {
				check("umount", -1, -1, "EBUSY");
				umount2(mydir, MNT_DETACH);
			}
		} else if (how != 3) {
			check("umount -l", -1,
			      WATCH("umount -l", -1, umount2(mydir, MNT_DETACH)),
			      "");
		}
		/* Orphans: use and close the devices we kept. */
		for (n = 0; n < POOL; n++) {
			if (pool[n].fd >= 0) {
				struct loop_info64 info;

				ioctl(pool[n].fd, LOOP_GET_STATUS64, &info);
				pread(pool[n].fd, iobuf, 4096, 0);
			}
		}
		drop_pool();
	}
	rmdir(mydir);
}

static void shared_loop(void)
{
	snprintf(mydir, sizeof(mydir), "%s", dir);
	if (open_instance_at(dir) < 0) {
		say("cannot open %s/loop-control: %s", dir, strerror(errno));
		me.bad++;
		return;
	}
	while (time(NULL) < deadline)
		one_op();
	drop_pool();
	close_instance();
}

static void open_backing(void)
{
	char path[4096];
	int i;

	for (i = 0; i <= NR_BACKING; i++) {
		snprintf(path, sizeof(path), "%s/.hammer-img%d", opt_b, i);
		bk[i].rw = open(path, O_RDWR | O_CLOEXEC);
		bk[i].ro = open(path, O_RDONLY | O_CLOEXEC);
		bk[i].direct = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (bk[i].direct < 0)
			bk[i].direct = open(path, O_RDWR | O_CLOEXEC);
		if (bk[i].rw < 0 || bk[i].ro < 0) {
			say("cannot open %s: %s", path, strerror(errno));
			exit(2);
		}
	}
}

static void make_backing(void)
{
	char path[4096];
	int i, fd;

	for (i = 0; i <= NR_BACKING; i++) {
		snprintf(path, sizeof(path), "%s/.hammer-img%d", opt_b, i);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, i == NR_BACKING ? 2 * IMG_SIZE :
					 IMG_SIZE) < 0) {
			say("cannot create %s: %s", path, strerror(errno));
			exit(2);
		}
		close(fd);
	}
}

static void open_storm(void)
{
	char name[32];
	int fd;

	while (time(NULL) < deadline) {
		snprintf(name, sizeof(name), "%s/loop%d", dir, rnd(opt_n));
		fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
	}
	exit(0);
}

static void child(int n)
{
	int i, fd;

	seed = opt_seed + 7919 * (n + 1);
	if (opt_o)
		open_storm();

	for (i = 0; i < POOL; i++)
		pool[i].fd = -1;
	if (posix_memalign((void **)&iobuf, 4096, 4096))
		exit(2);
	open_backing();
	if (opt_f) {
		fd = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			write(fd, "1", 1);
			close(fd);
		}
	}
	if (opt_p)
		private_loop(n);
	else
		shared_loop();
	__atomic_add_fetch(&shared->ops, me.ops, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&shared->bad, me.bad, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&shared->hangs, me.hangs, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&shared->binds, me.binds, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&shared->attaches, me.attaches, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&shared->ios, me.ios, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&shared->mounts, me.mounts, __ATOMIC_SEQ_CST);
	exit(0);
}

static void dump_stack(pid_t pid)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = 0;
		fprintf(stderr, "lns-hammer: kernel stack of %d:\n%s", pid, buf);
	}
}

int main(int argc, char **argv)
{
	pid_t *pids;
	int c, i, st, left, rc = 0;
	time_t hard;

	while ((c = getopt(argc, argv, "t:j:n:b:s:pfRw:qoK")) != -1) {
		switch (c) {
		case 't': opt_t = atoi(optarg); break;
		case 'j': opt_j = atoi(optarg); break;
		case 'n': opt_n = atoi(optarg); break;
		case 'b': opt_b = optarg; break;
		case 's': opt_seed = strtoul(optarg, NULL, 0); break;
		case 'p': opt_p = 1; break;
		case 'f': opt_f = 1; break;
		case 'R': opt_R = 1; break;
		case 'w': opt_w = atoi(optarg); break;
		case 'q': opt_q = 1; break;
		case 'o': opt_o = 1; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || opt_j < 1 || opt_n < 1 || opt_t < 0)
		goto usage;
	dir = argv[optind];
	if (!opt_b) {
		static char parent[4096];
		char *s;

		snprintf(parent, sizeof(parent), "%s", dir);
		s = strrchr(parent, '/');
		if (s && s != parent)
			*s = 0;
		else
			snprintf(parent, sizeof(parent), "/tmp");
		opt_b = parent;
	}
	if (!opt_seed)
		opt_seed = time(NULL) ^ getpid();
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return 2;
	if (!opt_o)
		make_backing();
	if (!opt_q)
		fprintf(stderr, "lns-hammer: %s%s, %d children, %d indexes, %ds, seed %u\n",
			dir, opt_p ? " (private instances)" : "", opt_j, opt_n,
			opt_t, opt_seed);
	deadline = time(NULL) + opt_t;
	pids = calloc(opt_j, sizeof(*pids));
	for (i = 0; i < opt_j; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			child(i);
		if (pids[i] < 0) {
			perror("fork");
			return 2;
		}
	}
	/* Wait, but not forever: a child stuck in the kernel is a hang. */
	hard = deadline + opt_w;
	left = opt_j;
	while (left > 0) {
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p > 0) {
			left--;
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "lns-hammer: child %d failed (status 0x%x)\n",
					p, st);
				rc = 1;
			}
			continue;
		}
		if (time(NULL) > hard) {
			for (i = 0; i < opt_j; i++) {
				if (kill(pids[i], 0) == 0) {
					fprintf(stderr, "lns-hammer: HANG: child %d still running %ds after the deadline\n",
						pids[i], opt_w);
					dump_stack(pids[i]);
					shared->hangs++;
				}
			}
			rc = 1;
			break;
		}
		usleep(100000);
	}
	fprintf(stderr, "lns-hammer: %lu ops (%lu binds, %lu attaches, %lu I/Os, %lu mounts), %lu unexpected, %lu hangs\n",
		shared->ops, shared->binds, shared->attaches, shared->ios,
		shared->mounts, shared->bad, shared->hangs);
	for (i = 0; i <= NR_BACKING && left == 0 && !opt_o; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/.hammer-img%d", opt_b, i);
		unlink(path);
	}
	if (shared->bad || shared->hangs)
		rc = 1;
	return rc;
usage:
	fprintf(stderr, "usage: lns-hammer [-t SEC] [-j N] [-n N] [-b DIR] [-s SEED] [-p] [-f] [-R] [-w SEC] [-q] [-o] DIR\n");
	return 2;
}
