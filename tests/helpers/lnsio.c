// SPDX-License-Identifier: GPL-2.0
/*
 * lnsio - request-path helpers for tests/bats/44-io-integrity.bats.
 *
 *   lnsio configure NODE FILE plain|dsync|sync [LO_FLAGS]
 *       LOOP_CONFIGURE NODE with FILE opened O_RDWR, plus O_DSYNC or
 *       O_SYNC; prints 0 or the errno name.
 *   lnsio ro-zeroout NODE FILE COUNT
 *       open NODE (unbound) read-write, LOOP_CONFIGURE it read-only on
 *       FILE through that descriptor, then issue COUNT BLKZEROOUTs of
 *       4 KiB through it (the block layer lets them reach the driver);
 *       prints one result per call (0 or the errno name), then detaches.
 *
 * Usage errors exit 2, setup errors exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case EACCES: return "EACCES";
	case EBUSY: return "EBUSY";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return "E?";
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: lnsio configure NODE FILE plain|dsync|sync [LO_FLAGS]\n"
			"       lnsio ro-zeroout NODE FILE COUNT\n");
	return 2;
}

static int open_or_die(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "lnsio: open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

static int configure(int node, int backing, unsigned int flags)
{
	struct loop_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = backing;
	cfg.info.lo_flags = flags;
	if (ioctl(node, LOOP_CONFIGURE, &cfg) < 0) {
		printf("%s\n", errname(errno));
		return 1;
	}
	printf("0\n");
	return 0;
}

static int do_configure(char **argv, int argc)
{
	int mode, node, backing;

	if (argc < 3)
		return usage();
	if (!strcmp(argv[2], "plain"))
		mode = 0;
	else if (!strcmp(argv[2], "dsync"))
		mode = O_DSYNC;
	else if (!strcmp(argv[2], "sync"))
		mode = O_SYNC;
	else
		return usage();
	node = open_or_die(argv[0], O_RDWR);
	backing = open_or_die(argv[1], O_RDWR | mode);
	return configure(node, backing,
			 argc > 3 ? (unsigned int)strtoul(argv[3], NULL, 0) : 0);
}

static int do_ro_zeroout(char **argv, int argc)
{
	uint64_t range[2] = { 0, 4096 };
	int node, backing, i, n;

	if (argc < 3)
		return usage();
	n = atoi(argv[2]);
	node = open_or_die(argv[0], O_RDWR);
	backing = open_or_die(argv[1], O_RDONLY);
	if (configure(node, backing, LO_FLAGS_READ_ONLY))
		return 1;
	for (i = 0; i < n; i++) {
		if (ioctl(node, BLKZEROOUT, range) < 0)
			printf("%s\n", errname(errno));
		else
			printf("0\n");
	}
	ioctl(node, LOOP_CLR_FD, 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "configure"))
		return do_configure(argv + 2, argc - 2);
	if (!strcmp(argv[1], "ro-zeroout"))
		return do_ro_zeroout(argv + 2, argc - 2);
	return usage();
}
