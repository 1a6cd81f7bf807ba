// SPDX-License-Identifier: GPL-2.0
/*
 * loopns-attach - exercise LOOPNS_CTL_ATTACH for the tests.
 *
 *   loopns-attach CONTROL IMAGE [--ro] [--flags N] [--raw-flags N]
 *                 [--exec CMD [ARGS...]]
 *
 * Attaches IMAGE through the instance's loop-control and prints the new
 * index. With --exec, runs CMD with the device open as fd 3 and
 * LOOPNS_INDEX set, then exits with CMD's status; the device goes away
 * when both have exited. Errors print the errno name and exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../include/uapi/linux/loopns.h"

int main(int argc, char **argv)
{
	struct loopns_attach arg;
	int ctl, img, fd, i, ro = 0;
	char **cmd = NULL;
	char buf[16];

	if (argc < 3) {
		fprintf(stderr, "usage: loopns-attach CONTROL IMAGE [--ro] [--raw-flags N] [--exec CMD...]\n");
		return 2;
	}
	memset(&arg, 0, sizeof(arg));
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--ro")) {
			ro = 1;
		} else if (!strcmp(argv[i], "--flags") && i + 1 < argc) {
			arg.config.info.lo_flags = strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--raw-flags") && i + 1 < argc) {
			arg.flags = strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--reserved")) {
			arg.reserved[2] = 1;
		} else if (!strcmp(argv[i], "--exec") && i + 1 < argc) {
			cmd = argv + i + 1;
			break;
		} else {
			fprintf(stderr, "loopns-attach: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	ctl = open(argv[1], O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		perror("loopns-attach: open control");
		return 2;
	}
	if (!strcmp(argv[2], "-"))
		img = -1;
	else
		img = open(argv[2], (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (img < 0 && strcmp(argv[2], "-")) {
		perror("loopns-attach: open image");
		return 2;
	}
	arg.config.fd = img < 0 ? 999 : img;
	fd = ioctl(ctl, LOOPNS_CTL_ATTACH, &arg);
	if (fd < 0) {
		printf("%s\n", strerrorname_np(errno));
		return 1;
	}
	close(ctl);
	if (img >= 0)
		close(img);
	printf("%d\n", arg.index);
	fflush(stdout);
	if (!cmd)
		return 0;
	if (dup2(fd, 3) < 0)
		return 2;
	if (fd != 3)
		close(fd);
	snprintf(buf, sizeof(buf), "%d", arg.index);
	setenv("LOOPNS_INDEX", buf, 1);
	execvp(cmd[0], cmd);
	perror("loopns-attach: exec");
	return 127;
}
