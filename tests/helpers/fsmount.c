// SPDX-License-Identifier: GPL-2.0
/*
 * fsmount - drive a loopns instance through the new mount API, for the tests.
 *
 *   fsmount STEP [STEP...]
 *
 * Steps run in order on one "current" instance; each prints one line
 * NAME=RESULT on success. A failing step prints NAME=ERRNO (e.g.
 * "add=EEXIST"), followed by "log=..." lines with the messages the kernel
 * left in the fs context, and exits 1 -- unless the step is prefixed with
 * '?', in which case the failure is printed and the run goes on.
 *
 *   new OPTS        fsopen("loopns"), fsconfig(SET_STRING/SET_FLAG) for each
 *                   comma-separated key[=value] of OPTS ("-" for none),
 *                   FSCONFIG_CMD_CREATE, fsmount(): a detached instance.
 *                   Prints new=0.
 *   get-free        openat(mnt, "loop-control"), LOOP_CTL_GET_FREE; checks
 *                   that loopN exists when the ioctl returned. get-free=N
 *   add N           LOOP_CTL_ADD(N) (N may be negative).         add=N
 *   remove N        LOOP_CTL_REMOVE(N).                          remove=0
 *   bind N FILE     openat(mnt, "loopN"), LOOP_SET_FD with FILE.  bind=0
 *   clr N           openat(mnt, "loopN"), LOOP_CLR_FD.            clr=0
 *   disk N          fstatat(mnt, "loopN") st_rdev -> /sys/dev/block/M:m
 *                   -> global gendisk name.                     disk=loopnsM
 *   backing N       /sys/block/<disk of loopN>/loop/backing_file. backing=PATH
 *   open N          openat(mnt, "loopN", O_RDWR), kept open.      open=FD
 *   ls              names in the instance root, sorted.   ls=loop-control ...
 *   reconf OPTS     fspick(mnt, "", FSPICK_EMPTY_PATH), set OPTS,
 *                   FSCONFIG_CMD_RECONFIGURE.                     reconf=0
 *   pick DIR OPTS   the same on the mount at DIR (fspick by path). pick=0
 *   attach DIR      move_mount() the detached instance onto DIR.  attach=0
 *   close-mnt       close the mount fd and the fs context fd (fds of
 *                   opened devices stay open).                close-mnt=0
 *   hold            print "hold=ready", then wait until stdin reaches EOF.
 *
 * Raw syscalls are used so that the helper does not depend on the libc's
 * wrappers. Usage errors exit 2.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int fs_fd = -1;		/* fs context of the current instance */
static int mnt_fd = -1;		/* detached (or attached) mount */
static int soft;		/* current step may fail */

static const char *errname(int e)
{
	switch (e) {
#define E(x) case x: return #x
	E(EPERM); E(ENOENT); E(EIO); E(ENXIO); E(EBADF); E(EAGAIN);
	E(ENOMEM); E(EACCES); E(EFAULT); E(EBUSY); E(EEXIST); E(ENODEV);
	E(ENOTDIR); E(EISDIR); E(EINVAL); E(ENOTTY); E(EFBIG); E(ENOSPC);
	E(EROFS); E(ENOSYS); E(EOVERFLOW); E(EOPNOTSUPP); E(EINTR);
	E(ENODATA); E(EXDEV);
#undef E
	default: return "E?";
	}
}

static int sys_fsopen(const char *name, unsigned int flags)
{
	return (int)syscall(SYS_fsopen, name, flags);
}

static int sys_fsconfig(int fd, unsigned int cmd, const char *key,
			const void *val, int aux)
{
	return (int)syscall(SYS_fsconfig, fd, cmd, key, val, aux);
}

static int sys_fsmount(int fd, unsigned int flags, unsigned int attrs)
{
	return (int)syscall(SYS_fsmount, fd, flags, attrs);
}

static int sys_fspick(int dfd, const char *path, unsigned int flags)
{
	return (int)syscall(SYS_fspick, dfd, path, flags);
}

static int sys_move_mount(int from_dfd, const char *from, int to_dfd,
			  const char *to, unsigned int flags)
{
	return (int)syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}

/* Print and consume the messages queued on an fs context fd. */
static void drain_log(int fd)
{
	char buf[1024];
	ssize_t n;

	if (fd < 0)
		return;
	for (;;) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			break;
		buf[n] = 0;
		if (n > 0 && buf[n - 1] == '\n')
			buf[n - 1] = 0;
		printf("log=%s\n", buf);
	}
}

/* Report a failed step; exits unless the step was marked with '?'. */
static int fail(const char *step, int logfd)
{
	int e = errno;

	printf("%s=%s\n", step, errname(e));
	drain_log(logfd);
	fflush(stdout);
	if (!soft)
		exit(1);
	return -1;
}

static void need_mnt(void)
{
	if (mnt_fd < 0) {
		fprintf(stderr, "fsmount: no instance (use 'new' first)\n");
		exit(2);
	}
}

static long num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || end == s) {
		fprintf(stderr, "fsmount: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

/* Apply comma-separated key[=value] options to an fs context. */
static int set_opts(int fd, const char *opts)
{
	char *copy, *tok, *save = NULL, *eq;
	int ret = 0;

	if (!strcmp(opts, "-"))
		return 0;
	copy = strdup(opts);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		eq = strchr(tok, '=');
		if (eq) {
			*eq = 0;
			ret = sys_fsconfig(fd, FSCONFIG_SET_STRING, tok, eq + 1, 0);
		} else {
			ret = sys_fsconfig(fd, FSCONFIG_SET_FLAG, tok, NULL, 0);
		}
		if (ret < 0)
			break;
	}
	free(copy);
	return ret;
}

static int step_new(const char *opts)
{
	if (mnt_fd >= 0)
		close(mnt_fd);
	if (fs_fd >= 0)
		close(fs_fd);
	mnt_fd = -1;
	fs_fd = sys_fsopen("loopns", FSOPEN_CLOEXEC);
	if (fs_fd < 0)
		return fail("new", -1);
	if (set_opts(fs_fd, opts) < 0)
		return fail("new", fs_fd);
	if (sys_fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return fail("new", fs_fd);
	mnt_fd = sys_fsmount(fs_fd, FSMOUNT_CLOEXEC, 0);
	if (mnt_fd < 0)
		return fail("new", fs_fd);
	printf("new=0\n");
	return 0;
}

static int open_node(const char *name, int flags)
{
	need_mnt();
	return openat(mnt_fd, name, flags | O_CLOEXEC);
}

static void dev_name(long n, char *buf, size_t len)
{
	snprintf(buf, len, "loop%ld", n);
}

static int step_ctl(const char *step, unsigned long cmd, long arg)
{
	char name[32];
	struct stat st;
	int fd, r;

	fd = open_node("loop-control", O_RDWR);
	if (fd < 0)
		return fail(step, -1);
	r = ioctl(fd, cmd, arg);
	if (r < 0) {
		fail(step, -1);
		close(fd);
		return -1;
	}
	close(fd);
	if (cmd != LOOP_CTL_REMOVE) {
		/* The node must exist by the time the ioctl returns. */
		dev_name(r, name, sizeof(name));
		if (fstatat(mnt_fd, name, &st, 0) < 0 || !S_ISBLK(st.st_mode)) {
			printf("%s=NONODE\n", step);
			fflush(stdout);
			if (!soft)
				exit(1);
			return -1;
		}
	}
	printf("%s=%d\n", step, r);
	return 0;
}

static int step_bind(const char *step, long n, const char *file)
{
	char name[32];
	int fd, bfd;

	dev_name(n, name, sizeof(name));
	fd = open_node(name, O_RDWR);
	if (fd < 0)
		return fail(step, -1);
	if (file) {
		bfd = open(file, O_RDWR | O_CLOEXEC);
		if (bfd < 0) {
			fprintf(stderr, "fsmount: open %s: %s\n", file,
				strerror(errno));
			exit(2);
		}
		if (ioctl(fd, LOOP_SET_FD, bfd) < 0) {
			fail(step, -1);
			close(bfd);
			close(fd);
			return -1;
		}
		close(bfd);
	} else if (ioctl(fd, LOOP_CLR_FD, 0) < 0) {
		fail(step, -1);
		close(fd);
		return -1;
	}
	close(fd);
	printf("%s=0\n", step);
	return 0;
}

/* Global gendisk name of loopN: st_rdev -> /sys/dev/block/MAJ:MIN. */
static int disk_of(long n, char *out, size_t len)
{
	char name[32], link[64], target[PATH_MAX];
	struct stat st;
	const char *base;
	ssize_t l;

	dev_name(n, name, sizeof(name));
	need_mnt();
	if (fstatat(mnt_fd, name, &st, 0) < 0)
		return -1;
	if (!S_ISBLK(st.st_mode)) {
		errno = ENOTTY;
		return -1;
	}
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u",
		 major(st.st_rdev), minor(st.st_rdev));
	l = readlink(link, target, sizeof(target) - 1);
	if (l < 0)
		return -1;
	target[l] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

static int step_disk(long n)
{
	char disk[NAME_MAX + 1];

	if (disk_of(n, disk, sizeof(disk)) < 0)
		return fail("disk", -1);
	printf("disk=%s\n", disk);
	return 0;
}

static int step_backing(long n)
{
	char disk[NAME_MAX + 1], path[PATH_MAX], buf[PATH_MAX];
	ssize_t l;
	int fd;

	if (disk_of(n, disk, sizeof(disk)) < 0)
		return fail("backing", -1);
	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", disk);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("backing", -1);
	l = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (l < 0)
		return fail("backing", -1);
	buf[l] = 0;
	if (l > 0 && buf[l - 1] == '\n')
		buf[l - 1] = 0;
	printf("backing=%s\n", buf);
	return 0;
}

static int step_open(long n)
{
	char name[32];
	int fd;

	dev_name(n, name, sizeof(name));
	fd = open_node(name, O_RDWR);
	if (fd < 0)
		return fail("open", -1);
	printf("open=%d\n", fd);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int step_ls(void)
{
	char *names[4096];
	struct dirent *de;
	size_t n = 0, i;
	DIR *d;
	int fd;

	fd = open_node(".", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fail("ls", -1);
	d = fdopendir(fd);
	if (!d)
		return fail("ls", -1);
	while ((de = readdir(d)) && n < 4096) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	printf("ls=");
	for (i = 0; i < n; i++) {
		printf("%s%s", i ? " " : "", names[i]);
		free(names[i]);
	}
	printf("\n");
	return 0;
}

static int reconfigure(const char *step, int dfd, const char *path,
		       unsigned int flags, const char *opts)
{
	int fd = sys_fspick(dfd, path, flags | FSPICK_CLOEXEC);

	if (fd < 0)
		return fail(step, -1);
	if (set_opts(fd, opts) < 0 ||
	    sys_fsconfig(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0) {
		fail(step, fd);
		close(fd);
		return -1;
	}
	close(fd);
	printf("%s=0\n", step);
	return 0;
}

static int step_attach(const char *dir)
{
	need_mnt();
	if (sys_move_mount(mnt_fd, "", AT_FDCWD, dir,
			   MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return fail("attach", -1);
	printf("attach=0\n");
	return 0;
}

static int step_hold(void)
{
	char buf[256];

	printf("hold=ready\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: fsmount STEP [STEP...]; a '?' prefix lets a step fail\n"
		"  new OPTS | get-free | add N | remove N | bind N FILE | clr N\n"
		"  disk N | backing N | open N | ls | reconf OPTS | pick DIR OPTS\n"
		"  attach DIR | close-mnt | hold\n"
		"OPTS: comma-separated key[=value], or - for none\n");
	return 2;
}

int main(int argc, char **argv)
{
	int i = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return usage();
	while (i < argc) {
		const char *s = argv[i++];
		int left = argc - i;

		soft = s[0] == '?';
		if (soft)
			s++;
#define ARGS(n) do { if (left < (n)) return usage(); } while (0)
		if (!strcmp(s, "new")) {
			ARGS(1);
			step_new(argv[i++]);
		} else if (!strcmp(s, "get-free")) {
			step_ctl("get-free", LOOP_CTL_GET_FREE, 0);
		} else if (!strcmp(s, "add")) {
			ARGS(1);
			step_ctl("add", LOOP_CTL_ADD, num(argv[i++]));
		} else if (!strcmp(s, "remove")) {
			ARGS(1);
			step_ctl("remove", LOOP_CTL_REMOVE, num(argv[i++]));
		} else if (!strcmp(s, "bind")) {
			ARGS(2);
			step_bind("bind", num(argv[i]), argv[i + 1]);
			i += 2;
		} else if (!strcmp(s, "clr")) {
			ARGS(1);
			step_bind("clr", num(argv[i++]), NULL);
		} else if (!strcmp(s, "disk")) {
			ARGS(1);
			step_disk(num(argv[i++]));
		} else if (!strcmp(s, "backing")) {
			ARGS(1);
			step_backing(num(argv[i++]));
		} else if (!strcmp(s, "open")) {
			ARGS(1);
			step_open(num(argv[i++]));
		} else if (!strcmp(s, "ls")) {
			step_ls();
		} else if (!strcmp(s, "reconf")) {
			ARGS(1);
			need_mnt();
			reconfigure("reconf", mnt_fd, "", FSPICK_EMPTY_PATH,
				    argv[i++]);
		} else if (!strcmp(s, "pick")) {
			ARGS(2);
			reconfigure("pick", AT_FDCWD, argv[i], 0, argv[i + 1]);
			i += 2;
		} else if (!strcmp(s, "attach")) {
			ARGS(1);
			step_attach(argv[i++]);
		} else if (!strcmp(s, "close-mnt")) {
			if (mnt_fd >= 0)
				close(mnt_fd);
			if (fs_fd >= 0)
				close(fs_fd);
			mnt_fd = fs_fd = -1;
			printf("close-mnt=0\n");
		} else if (!strcmp(s, "hold")) {
			step_hold();
		} else {
			return usage();
		}
#undef ARGS
	}
	return 0;
}
