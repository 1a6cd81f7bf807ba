// SPDX-License-Identifier: GPL-2.0
/*
 * loopioctl - issue one loop ioctl and report the result, for the tests.
 *
 *   loopioctl NODE COMMAND [ARGS...]
 *
 * Prints the ioctl's return value (or the requested structure) on success
 * and exits 0; on failure prints the errno name (e.g. "ENXIO") on stdout
 * and exits 1. Usage errors exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
#define E(x) case x: return #x
	E(EPERM); E(ENOENT); E(EIO); E(ENXIO); E(EBADF); E(EAGAIN);
	E(ENOMEM); E(EACCES); E(EFAULT); E(EBUSY); E(EEXIST); E(ENODEV);
	E(ENOTDIR); E(EISDIR); E(EINVAL); E(ENOTTY); E(EFBIG); E(ENOSPC);
	E(EROFS); E(ENOSYS); E(EOVERFLOW); E(EOPNOTSUPP); E(EINTR);
#undef E
	default: return "E?";
	}
}

static unsigned long long num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "loopioctl: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int fail(void)
{
	printf("%s\n", errname(errno));
	return 1;
}

static int open_backing(const char *path)
{
	int ro = 0, fd;

	if (!strncmp(path, "ro:", 3)) {
		ro = 1;
		path += 3;
	}
	if (!strncmp(path, "fd:", 3))
		return (int)num(path + 3);
	if (!strncmp(path, "path:", 5)) {	/* an O_PATH fd */
		fd = open(path + 5, O_PATH | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "loopioctl: open %s: %s\n", path + 5, strerror(errno));
			exit(2);
		}
		return fd;
	}
	if (!strcmp(path, "pipe:") || !strcmp(path, "socket:")) {
		int fds[2];

		if ((path[0] == 'p' ? pipe(fds) :
		     socketpair(AF_UNIX, SOCK_STREAM, 0, fds)) < 0) {
			fprintf(stderr, "loopioctl: %s %s\n", path, strerror(errno));
			exit(2);
		}
		return fds[0];
	}
	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0 && errno == EISDIR)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && !ro)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "loopioctl: open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

static void print_info64(const struct loop_info64 *i)
{
	printf("number=%u device=%llu inode=%llu rdevice=%llu offset=%llu sizelimit=%llu flags=%u name=%s\n",
	       i->lo_number, (unsigned long long)i->lo_device,
	       (unsigned long long)i->lo_inode,
	       (unsigned long long)i->lo_rdevice,
	       (unsigned long long)i->lo_offset,
	       (unsigned long long)i->lo_sizelimit, i->lo_flags,
	       (const char *)i->lo_file_name);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: loopioctl NODE COMMAND [ARGS]\n"
		"  ctl-add N | ctl-remove N | ctl-get-free | ctl-raw CMD ARG\n"
		"  set-fd FILE | configure FILE [FLAGS [BSIZE [OFFSET [SIZELIMIT]]]]\n"
		"  clr | clr-then-open | change-fd FILE | set-capacity | set-dio 0|1\n"
		"  set-block-size N | get-status64 | get-status | get-status-null\n"
		"  get-status64-null | set-status64 FLAGS [OFFSET [SIZELIMIT [ENCRYPT]]]\n"
		"  set-status FLAGS [OFFSET] | raw CMD ARG\n"
		"FILE may be ro:PATH (O_RDONLY), fd:N (an inherited fd), path:PATH\n"
		"(O_PATH), pipe: or socket: (one end of a new pipe/socketpair).\n"
		"Open NODE read-only with LOOPIOCTL_RDONLY=1.\n");
	return 2;
}

static int ctl(int fd, const char *cmd, char **argv, int argc)
{
	long r;

	if (!strcmp(cmd, "ctl-add") && argc >= 1)
		r = ioctl(fd, LOOP_CTL_ADD, (long)num(argv[0]));
	else if (!strcmp(cmd, "ctl-remove") && argc >= 1)
		r = ioctl(fd, LOOP_CTL_REMOVE, (long)num(argv[0]));
	else if (!strcmp(cmd, "ctl-get-free"))
		r = ioctl(fd, LOOP_CTL_GET_FREE);
	else if (!strcmp(cmd, "ctl-raw") && argc >= 2)
		r = ioctl(fd, (unsigned long)num(argv[0]), (long)num(argv[1]));
	else
		return usage();
	if (r < 0)
		return fail();
	printf("%ld\n", r);
	return 0;
}

static int configure(int fd, char **argv, int argc)
{
	struct loop_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = open_backing(argv[0]);
	if (argc > 1)
		cfg.info.lo_flags = (uint32_t)num(argv[1]);
	if (argc > 2)
		cfg.block_size = (uint32_t)num(argv[2]);
	if (argc > 3)
		cfg.info.lo_offset = num(argv[3]);
	if (argc > 4)
		cfg.info.lo_sizelimit = num(argv[4]);
	if (ioctl(fd, LOOP_CONFIGURE, &cfg) < 0)
		return fail();
	printf("0\n");
	return 0;
}

static int set_status64(int fd, char **argv, int argc)
{
	struct loop_info64 info;

	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
		memset(&info, 0, sizeof(info));
	info.lo_flags = (uint32_t)num(argv[0]);
	if (argc > 1)
		info.lo_offset = num(argv[1]);
	if (argc > 2)
		info.lo_sizelimit = num(argv[2]);
	if (argc > 3)
		info.lo_encrypt_type = (uint32_t)num(argv[3]);
	if (ioctl(fd, LOOP_SET_STATUS64, &info) < 0)
		return fail();
	printf("0\n");
	return 0;
}

static int set_status_old(int fd, char **argv, int argc)
{
	struct loop_info info;

	if (ioctl(fd, LOOP_GET_STATUS, &info) < 0)
		memset(&info, 0, sizeof(info));
	info.lo_flags = (int)num(argv[0]);
	if (argc > 1)
		info.lo_offset = (int)num(argv[1]);
	if (ioctl(fd, LOOP_SET_STATUS, &info) < 0)
		return fail();
	printf("0\n");
	return 0;
}

static int get_status(int fd, const char *cmd)
{
	struct loop_info64 i64;
	struct loop_info old;

	if (!strcmp(cmd, "get-status64")) {
		if (ioctl(fd, LOOP_GET_STATUS64, &i64) < 0)
			return fail();
		print_info64(&i64);
		return 0;
	}
	if (!strcmp(cmd, "get-status")) {
		if (ioctl(fd, LOOP_GET_STATUS, &old) < 0)
			return fail();
		printf("number=%d device=%lu inode=%lu offset=%d flags=%d name=%s\n",
		       old.lo_number, (unsigned long)old.lo_device,
		       old.lo_inode, old.lo_offset, old.lo_flags, old.lo_name);
		return 0;
	}
	if (ioctl(fd, !strcmp(cmd, "get-status-null") ? LOOP_GET_STATUS :
		  LOOP_GET_STATUS64, NULL) < 0)
		return fail();
	printf("0\n");
	return 0;
}

static int simple(int fd, unsigned long req, unsigned long arg)
{
	int r = ioctl(fd, req, arg);

	if (r < 0)
		return fail();
	printf("%d\n", r);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;
	int fd, n;

	if (argc < 3)
		return usage();
	cmd = argv[2];
	n = argc - 3;
	fd = open(argv[1], (getenv("LOOPIOCTL_RDONLY") ? O_RDONLY : O_RDWR) |
		  O_CLOEXEC);
	if (fd < 0) {
		printf("%s\n", errname(errno));
		fprintf(stderr, "loopioctl: open %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	if (!strncmp(cmd, "ctl-", 4))
		return ctl(fd, cmd, argv + 3, n);
	if (!strcmp(cmd, "set-fd") && n >= 1)
		return simple(fd, LOOP_SET_FD, open_backing(argv[3]));
	if (!strcmp(cmd, "configure") && n >= 1)
		return configure(fd, argv + 3, n);
	if (!strcmp(cmd, "clr"))
		return simple(fd, LOOP_CLR_FD, 0);
	if (!strcmp(cmd, "clr-then-open")) {
		/* LOOP_CLR_FD, then a second open while the first is held. */
		int fd2;

		if (ioctl(fd, LOOP_CLR_FD, 0) < 0)
			return fail();
		fd2 = open(argv[1], O_RDONLY | O_CLOEXEC);
		if (fd2 < 0)
			return fail();
		printf("open ok\n");
		close(fd2);
		return 0;
	}
	if (!strcmp(cmd, "change-fd") && n >= 1)
		return simple(fd, LOOP_CHANGE_FD, open_backing(argv[3]));
	if (!strcmp(cmd, "set-capacity"))
		return simple(fd, LOOP_SET_CAPACITY, 0);
	if (!strcmp(cmd, "set-dio") && n >= 1)
		return simple(fd, LOOP_SET_DIRECT_IO, num(argv[3]));
	if (!strcmp(cmd, "set-block-size") && n >= 1)
		return simple(fd, LOOP_SET_BLOCK_SIZE, num(argv[3]));
	if (!strncmp(cmd, "get-status", 10))
		return get_status(fd, cmd);
	if (!strcmp(cmd, "set-status64") && n >= 1)
		return set_status64(fd, argv + 3, n);
	if (!strcmp(cmd, "set-status") && n >= 1)
		return set_status_old(fd, argv + 3, n);
	if (!strcmp(cmd, "raw") && n >= 2)
		return simple(fd, num(argv[3]), num(argv[4]));
	return usage();
}
