// SPDX-License-Identifier: GPL-2.0
/*
 * fdpass - hand a file descriptor to another process over a unix socket
 * (SCM_RIGHTS), for the tests of LOOPNS_CTL_ATTACH's lifetime rules.
 *
 *   fdpass recv SOCKET [--fd N] -- CMD [ARGS...]
 *       listen on SOCKET (a path; removed first), accept one connection,
 *       receive one descriptor, close the socket, put the descriptor at N
 *       (default 3) and exec CMD.
 *   fdpass send SOCKET FD
 *       connect to SOCKET (retrying for 10 s), send descriptor FD, exit.
 *
 * Errors print a message and exit 1; usage errors exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: fdpass recv SOCKET [--fd N] -- CMD [ARGS...]\n"
			"       fdpass send SOCKET FD\n");
	return 2;
}

static int addr_of(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		fprintf(stderr, "fdpass: %s: path too long\n", path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

static int do_recv(const char *path, int target, char **cmd)
{
	char data, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct sockaddr_un sa;
	struct cmsghdr *c;
	int s, conn, fd;

	if (addr_of(path, &sa))
		return 1;
	unlink(path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s, 1) < 0) {
		perror("fdpass: listen");
		return 1;
	}
	conn = accept4(s, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0) {
		perror("fdpass: accept");
		return 1;
	}
	if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) <= 0) {
		perror("fdpass: recvmsg");
		return 1;
	}
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS) {
		fprintf(stderr, "fdpass: no descriptor received\n");
		return 1;
	}
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	close(conn);
	close(s);
	unlink(path);
	if (fd != target) {
		if (dup2(fd, target) < 0) {
			perror("fdpass: dup2");
			return 1;
		}
		close(fd);
	}
	execvp(cmd[0], cmd);
	fprintf(stderr, "fdpass: %s: %s\n", cmd[0], strerror(errno));
	return 127;
}

static int do_send(const char *path, int fd)
{
	char data = 'F', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	struct sockaddr_un sa;
	struct cmsghdr *c;
	int s, i;

	if (addr_of(path, &sa))
		return 1;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		perror("fdpass: socket");
		return 1;
	}
	for (i = 0; connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0; i++) {
		if (i >= 200 || (errno != ENOENT && errno != ECONNREFUSED)) {
			perror("fdpass: connect");
			return 1;
		}
		nanosleep(&ts, NULL);
	}
	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	if (sendmsg(s, &msg, 0) != 1) {
		perror("fdpass: sendmsg");
		return 1;
	}
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	int target = 3, i;

	if (argc >= 4 && !strcmp(argv[1], "send") && argc == 4)
		return do_send(argv[2], atoi(argv[3]));
	if (argc < 5 || strcmp(argv[1], "recv"))
		return usage();
	for (i = 3; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--fd") && i + 1 < argc)
			target = atoi(argv[++i]);
		else
			return usage();
	}
	if (i + 1 >= argc)
		return usage();
	return do_recv(argv[2], target, &argv[i + 1]);
}
