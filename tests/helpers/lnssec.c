// SPDX-License-Identifier: GPL-2.0
/*
 * lnssec - security and bad-input probes for the loopns tests
 * (tests/bats/4*.bats). Results are printed as errno names ("EPERM") or
 * numbers; a failed probe exits 1, a usage error 2.
 *
 *   lnssec open PATH HOW FD CMD [ARGS...]
 *       open PATH with HOW onto descriptor FD, then exec CMD. HOW: r, w,
 *       rw, wa (O_WRONLY|O_APPEND), rwa (O_RDWR|O_APPEND), path (O_PATH),
 *       dir (O_RDONLY|O_DIRECTORY). An open failure prints the errno.
 *   lnssec try-open PATH HOW
 *       open and close; prints "ok" or the errno.
 *   lnssec ioctl FD CMD [ARGS...]
 *       a loop ioctl on an inherited descriptor: set-status64 FLAGS
 *       [OFFSET [SIZELIMIT]] (after GET_STATUS64), set-status FLAGS
 *       (legacy, after GET_STATUS), set-capacity,
 *       set-block-size N, set-dio N, clr, get-status64 (prints
 *       "flags=F offset=O"), set-fd BFD, change-fd BFD, ctl-add N,
 *       ctl-remove N, ctl-get-free, attach BFD (LOOPNS_CTL_ATTACH; prints
 *       the index; the new device's descriptor is left open until exit).
 *   lnssec send-fd SOCK FD
 *       listen on the unix socket SOCK, pass descriptor FD (SCM_RIGHTS) to
 *       the first client, exit.
 *   lnssec recv-fd SOCK FD CMD [ARGS...]
 *       connect to SOCK, receive a descriptor onto FD, exec CMD.
 *   lnssec sweep NODE
 *       unknown ioctl numbers on NODE (opened O_RDWR), argument 0; prints
 *       "CMD ERRNO" for every number: _IOC(dir, 'L', nr, size) for all nr,
 *       four dir/size shapes, minus the loop and loopns ioctls, and a few
 *       junk numbers.
 *   lnssec badargs NODE IMAGE
 *       a fixed catalogue of bad arguments to loop ioctls on the unbound
 *       device NODE (IMAGE is bound for the cases that need a bound
 *       device, then unbound again); prints "CASE: RESULT" lines. Run on
 *       both drivers and compared.
 *   lnssec setfd-race NODE IMAGE THREADS ROUNDS
 *       THREADS descriptors of NODE issue LOOP_SET_FD at the same moment,
 *       ROUNDS times (unbinding in between); prints "won=W busy=B other=O"
 *       with totals over all rounds.
 *   lnssec attach-unlink-race DIR SECONDS
 *       one thread does LOOPNS_CTL_ATTACH (backing: a memfd) and closes
 *       the device, another unlinks DIR/loop0..3, for SECONDS; prints
 *       "attached=A enoent=E other=O unlinked=U".
 *   lnssec fsmount-hold IMAGE
 *       a detached instance (fsopen/fsmount, never attached anywhere):
 *       GET_FREE, bind IMAGE, keep the device and nothing else open,
 *       print "ready INDEX" and sleep until killed.
 *   lnssec read PATH
 *       open and read a (sysfs) file; prints its first line, or
 *       "open ERRNO" / "read ERRNO".
 *   lnssec mount SOURCE DIR FSTYPE OPTIONS
 *       mount(2) with OPTIONS as data ("-" for none); prints 0 or the errno.
 *   lnssec userns UIDMAP GIDMAP CMD [ARGS...]
 *       (host root) run CMD as uid/gid 0 of a new user namespace with the
 *       given maps ("INNER:OUTER:COUNT", as in /proc/PID/uid_map) and a new
 *       private mount namespace; exits with CMD's status.
 *   lnssec fill-probe NODE BYTES
 *       O_DIRECT writes of 64 KiB from offset 0 until BYTES are written or
 *       a write fails; prints "written=N err=ERRNO|none".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/mount.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../include/uapi/linux/loopns.h"

// helper-ldlibs: -lpthread

static const char *en(int e)
{
	const char *s = strerrorname_np(e);

	return s ? s : "E?";
}

/* open(2), or print "open ERRNO" and return -1. */
static int open_or_say(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		printf("open %s\n", en(errno));
	return fd;
}

static long num(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno == ERANGE)
		v = (long long)strtoull(s, &end, 0);
	if (*end || end == s) {
		fprintf(stderr, "lnssec: bad number '%s'\n", s);
		exit(2);
	}
	return (long)v;
}

static int how_flags(const char *how)
{
	if (!strcmp(how, "r"))
		return O_RDONLY;
	if (!strcmp(how, "w"))
		return O_WRONLY;
	if (!strcmp(how, "rw"))
		return O_RDWR;
	if (!strcmp(how, "wa"))
		return O_WRONLY | O_APPEND;
	if (!strcmp(how, "rwa"))
		return O_RDWR | O_APPEND;
	if (!strcmp(how, "path"))
		return O_PATH;
	if (!strcmp(how, "dir"))
		return O_RDONLY | O_DIRECTORY;
	fprintf(stderr, "lnssec: bad open mode '%s'\n", how);
	exit(2);
}

static int usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of tests/helpers/lnssec.c\n");
	return 2;
}

static int cmd_open(int argc, char **argv)
{
	int fd, want;

	if (argc < 5)
		return usage();
	want = (int)num(argv[2]);
	fd = open(argv[0], how_flags(argv[1]));
	if (fd < 0) {
		printf("%s\n", en(errno));
		return 1;
	}
	if (fd != want) {
		if (dup2(fd, want) < 0)
			return 2;
		close(fd);
	}
	execvp(argv[3], argv + 3);
	perror("lnssec: exec");
	return 127;
}

static int cmd_try_open(int argc, char **argv)
{
	int fd;

	if (argc < 2)
		return usage();
	fd = open(argv[0], how_flags(argv[1]));
	if (fd < 0) {
		printf("%s\n", en(errno));
		return 1;
	}
	close(fd);
	printf("ok\n");
	return 0;
}

static int report(long r)
{
	if (r < 0) {
		printf("%s\n", en(errno));
		return 1;
	}
	printf("%ld\n", r);
	return 0;
}

static int cmd_ioctl(int argc, char **argv)
{
	struct loop_info64 info;
	const char *c;
	int fd;

	if (argc < 2)
		return usage();
	fd = (int)num(argv[0]);
	c = argv[1];
	argc -= 2;
	argv += 2;
	if (!strcmp(c, "set-status64") && argc >= 1) {
		if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
			memset(&info, 0, sizeof(info));
		info.lo_flags = (uint32_t)num(argv[0]);
		if (argc > 1)
			info.lo_offset = (uint64_t)num(argv[1]);
		if (argc > 2)
			info.lo_sizelimit = (uint64_t)num(argv[2]);
		return report(ioctl(fd, LOOP_SET_STATUS64, &info));
	}
	if (!strcmp(c, "set-status") && argc >= 1) {
		struct loop_info old;

		if (ioctl(fd, LOOP_GET_STATUS, &old) < 0)
			memset(&old, 0, sizeof(old));
		old.lo_flags = (int)num(argv[0]);
		return report(ioctl(fd, LOOP_SET_STATUS, &old));
	}
	if (!strcmp(c, "get-status64")) {
		if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
			return report(-1);
		printf("flags=%u offset=%llu\n", info.lo_flags,
		       (unsigned long long)info.lo_offset);
		return 0;
	}
	if (!strcmp(c, "set-capacity"))
		return report(ioctl(fd, LOOP_SET_CAPACITY, 0));
	if (!strcmp(c, "set-block-size") && argc >= 1)
		return report(ioctl(fd, LOOP_SET_BLOCK_SIZE, num(argv[0])));
	if (!strcmp(c, "set-dio") && argc >= 1)
		return report(ioctl(fd, LOOP_SET_DIRECT_IO, num(argv[0])));
	if (!strcmp(c, "clr"))
		return report(ioctl(fd, LOOP_CLR_FD, 0));
	if (!strcmp(c, "set-fd") && argc >= 1)
		return report(ioctl(fd, LOOP_SET_FD, num(argv[0])));
	if (!strcmp(c, "change-fd") && argc >= 1)
		return report(ioctl(fd, LOOP_CHANGE_FD, num(argv[0])));
	if (!strcmp(c, "ctl-add") && argc >= 1)
		return report(ioctl(fd, LOOP_CTL_ADD, num(argv[0])));
	if (!strcmp(c, "ctl-remove") && argc >= 1)
		return report(ioctl(fd, LOOP_CTL_REMOVE, num(argv[0])));
	if (!strcmp(c, "ctl-get-free"))
		return report(ioctl(fd, LOOP_CTL_GET_FREE));
	if (!strcmp(c, "attach") && argc >= 1) {
		struct loopns_attach a;
		int r;

		memset(&a, 0, sizeof(a));
		a.config.fd = (uint32_t)num(argv[0]);
		r = ioctl(fd, LOOPNS_CTL_ATTACH, &a);
		if (r < 0)
			return report(-1);
		printf("%d\n", a.index);
		return 0;
	}
	return usage();
}

static int unix_sock(const char *path, struct sockaddr_un *sa)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0 || strlen(path) >= sizeof(sa->sun_path)) {
		perror("lnssec: socket");
		exit(2);
	}
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	strcpy(sa->sun_path, path);
	return s;
}

static int cmd_send_fd(int argc, char **argv)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte = 'F';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { 0 };
	struct sockaddr_un sa;
	struct cmsghdr *cm;
	int s, c, fd;

	if (argc < 2)
		return usage();
	fd = (int)num(argv[1]);
	s = unix_sock(argv[0], &sa);
	unlink(argv[0]);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0) {
		perror("lnssec: bind");
		return 2;
	}
	chmod(argv[0], 0777);
	c = accept(s, NULL, NULL);
	if (c < 0) {
		perror("lnssec: accept");
		return 2;
	}
	memset(cbuf, 0, sizeof(cbuf));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(c, &msg, 0) < 0) {
		perror("lnssec: sendmsg");
		return 2;
	}
	close(c);
	unlink(argv[0]);
	return 0;
}

static int cmd_recv_fd(int argc, char **argv)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { 0 };
	struct sockaddr_un sa;
	struct cmsghdr *cm;
	int s, fd, want, i;

	if (argc < 3)
		return usage();
	want = (int)num(argv[1]);
	s = unix_sock(argv[0], &sa);
	for (i = 0; connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0; i++) {
		if (i > 100) {
			printf("%s\n", en(errno));
			return 1;
		}
		usleep(50000);
	}
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	if (recvmsg(s, &msg, MSG_CMSG_CLOEXEC) <= 0) {
		perror("lnssec: recvmsg");
		return 2;
	}
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS) {
		fprintf(stderr, "lnssec: no descriptor received\n");
		return 2;
	}
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	close(s);	/* before dup2: s may be the wanted number */
	if (fd == want) {
		if (fcntl(fd, F_SETFD, 0) < 0)
			return 2;
	} else {
		if (dup2(fd, want) < 0)
			return 2;
		close(fd);
	}
	execvp(argv[2], argv + 2);
	perror("lnssec: exec");
	return 127;
}

static int is_known(unsigned long cmd)
{
	static const unsigned long known[] = {
		LOOP_SET_FD, LOOP_CLR_FD, LOOP_SET_STATUS, LOOP_GET_STATUS,
		LOOP_SET_STATUS64, LOOP_GET_STATUS64, LOOP_CHANGE_FD,
		LOOP_SET_CAPACITY, LOOP_SET_DIRECT_IO, LOOP_SET_BLOCK_SIZE,
		LOOP_CONFIGURE, LOOP_CTL_ADD, LOOP_CTL_REMOVE,
		LOOP_CTL_GET_FREE, LOOPNS_CTL_ATTACH,
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i] == cmd)
			return 1;
	return 0;
}

static int cmd_sweep(int argc, char **argv)
{
	static const struct { unsigned int dir, size; } shape[] = {
		{ _IOC_NONE, 0 }, { _IOC_WRITE, 4 }, { _IOC_READ, 8 },
		{ _IOC_READ | _IOC_WRITE, 232 },
	};
	static const unsigned long junk[] = {
		0xdeadbeefUL, 0xffffffffUL, 0x4c0bUL, 0x4cffUL, 0x4c000000UL,
	};
	unsigned long cmd;
	unsigned int nr, s;
	size_t j;
	int fd;

	if (argc < 1)
		return usage();
	fd = open_or_say(argv[0], O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 1;
	for (s = 0; s < sizeof(shape) / sizeof(shape[0]); s++) {
		for (nr = 0; nr < 256; nr++) {
			cmd = _IOC(shape[s].dir, 'L', nr, shape[s].size);
			if (is_known(cmd))
				continue;
			errno = 0;
			if (ioctl(fd, cmd, 0UL) < 0)
				printf("%#lx %s\n", cmd, en(errno));
			else
				printf("%#lx OK\n", cmd);
		}
	}
	for (j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
		if (ioctl(fd, junk[j], 0UL) < 0)
			printf("%#lx %s\n", junk[j], en(errno));
		else
			printf("%#lx OK\n", junk[j]);
	}
	return 0;
}

/* One bad-argument case: print "NAME: RESULT". */
static void bcase(const char *name, long r)
{
	if (r < 0)
		printf("%s: %s\n", name, en(errno));
	else
		printf("%s: %ld\n", name, r);
}

static long configure(int fd, int bfd, uint32_t flags, uint32_t bsize,
		      uint64_t offset, uint64_t sizelimit, int reserved)
{
	struct loop_config c;

	memset(&c, 0, sizeof(c));
	c.fd = bfd;
	c.block_size = bsize;
	c.info.lo_flags = flags;
	c.info.lo_offset = offset;
	c.info.lo_sizelimit = sizelimit;
	if (reserved)
		c.__reserved[3] = 1;
	return ioctl(fd, LOOP_CONFIGURE, &c);
}

static long set_status64(int fd, uint64_t offset, uint64_t sizelimit,
			 uint32_t enc, uint32_t keysize)
{
	struct loop_info64 i;

	memset(&i, 0, sizeof(i));
	if (ioctl(fd, LOOP_GET_STATUS64, &i) < 0)
		memset(&i, 0, sizeof(i));
	i.lo_offset = offset;
	i.lo_sizelimit = sizelimit;
	i.lo_encrypt_type = enc;
	i.lo_encrypt_key_size = keysize;
	return ioctl(fd, LOOP_SET_STATUS64, &i);
}

static long set_status_old(int fd, int offset)
{
	struct loop_info i;

	memset(&i, 0, sizeof(i));
	if (ioctl(fd, LOOP_GET_STATUS, &i) < 0)
		memset(&i, 0, sizeof(i));
	i.lo_offset = offset;
	return ioctl(fd, LOOP_SET_STATUS, &i);
}

/*
 * Unbind the device of @fd, whose only opener we are (LOOP_CLR_FD takes
 * effect at the last close), and open @node again once it is unbound.
 */
static int unbind_reopen(int fd, const char *node)
{
	struct loop_info64 info;
	int i;

	ioctl(fd, LOOP_CLR_FD, 0);
	close(fd);
	fd = open(node, O_RDWR | O_CLOEXEC);
	for (i = 0; i < 100 && fd >= 0 &&
	     ioctl(fd, LOOP_GET_STATUS64, &info) == 0; i++)
		usleep(50000);
	return fd;
}

static int cmd_badargs(int argc, char **argv)
{
	void *kptr = (void *)0xffffffff81000000UL;
	void *unmapped = (void *)0x10UL;
	char name[64];
	int fd, img, r;
	size_t k;
	static const unsigned long bs[] = {
		0, 1, 256, 511, 513, 768, 1000, 1536, 3000, 8192, 65536,
		(1UL << 32) | 512, (unsigned long)-1,
	};
	static const uint32_t flags[] = {
		1U << 5, 1U << 6, 1U << 7, 1U << 10, 1U << 31,
	};

	if (argc < 2)
		return usage();
	fd = open(argv[0], O_RDWR | O_CLOEXEC);
	img = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0 || img < 0) {
		perror("lnssec: open");
		return 2;
	}

	/* Unbound device. */
	bcase("unbound get-status64 NULL", ioctl(fd, LOOP_GET_STATUS64, NULL));
	bcase("unbound get-status64 unmapped", ioctl(fd, LOOP_GET_STATUS64, unmapped));
	bcase("unbound set-status64 NULL", ioctl(fd, LOOP_SET_STATUS64, NULL));
	bcase("unbound configure NULL", ioctl(fd, LOOP_CONFIGURE, NULL));
	bcase("unbound configure unmapped", ioctl(fd, LOOP_CONFIGURE, unmapped));
	bcase("unbound configure kernel-pointer", ioctl(fd, LOOP_CONFIGURE, kptr));
	bcase("unbound set-fd -1", ioctl(fd, LOOP_SET_FD, -1L));
	bcase("unbound set-fd 1<<31", ioctl(fd, LOOP_SET_FD, 1UL << 31));
	bcase("unbound set-fd 99999", ioctl(fd, LOOP_SET_FD, 99999L));
	bcase("unbound change-fd img", ioctl(fd, LOOP_CHANGE_FD, img));
	bcase("unbound clr", ioctl(fd, LOOP_CLR_FD, 0));
	bcase("unbound set-block-size 4096", ioctl(fd, LOOP_SET_BLOCK_SIZE, 4096L));
	bcase("unbound set-capacity", ioctl(fd, LOOP_SET_CAPACITY, 0));
	bcase("unbound set-dio 1", ioctl(fd, LOOP_SET_DIRECT_IO, 1L));
	for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
		snprintf(name, sizeof(name), "configure flags %#x", flags[k]);
		bcase(name, configure(fd, img, flags[k], 0, 0, 0, 0));
	}
	bcase("configure block-size 511", configure(fd, img, 0, 511, 0, 0, 0));
	bcase("configure block-size 3000", configure(fd, img, 0, 3000, 0, 0, 0));
	r = configure(fd, img, 0, 8192, 0, 0, 0);
	bcase("configure block-size 8192", r);
	/* Valid where the block layer has large block sizes (7.x). */
	if (r == 0)
		fd = unbind_reopen(fd, argv[0]);
	if (fd < 0) {
		perror("lnssec: reopen");
		return 2;
	}
	bcase("configure block-size 256", configure(fd, img, 0, 256, 0, 0, 0));
	bcase("configure offset 1<<63", configure(fd, img, 0, 0, 1ULL << 63, 0, 0));
	bcase("configure offset ~0", configure(fd, img, 0, 0, ~0ULL, 0, 0));
	bcase("configure sizelimit 1<<63", configure(fd, img, 0, 0, 0, 1ULL << 63, 0));

	/* Bound device. */
	r = configure(fd, img, 0, 0, 0, 0, 0);
	bcase("configure ok", r);
	if (r < 0)
		return 1;
	bcase("bound configure again", configure(fd, img, 0, 0, 0, 0, 0));
	bcase("bound set-fd again", ioctl(fd, LOOP_SET_FD, img));
	bcase("bound get-status64 unmapped", ioctl(fd, LOOP_GET_STATUS64, unmapped));
	bcase("bound get-status64 kernel-pointer", ioctl(fd, LOOP_GET_STATUS64, kptr));
	bcase("bound get-status unmapped", ioctl(fd, LOOP_GET_STATUS, unmapped));
	bcase("bound set-status64 unmapped", ioctl(fd, LOOP_SET_STATUS64, unmapped));
	bcase("bound set-status64 kernel-pointer", ioctl(fd, LOOP_SET_STATUS64, kptr));
	bcase("bound set-status unmapped", ioctl(fd, LOOP_SET_STATUS, unmapped));
	bcase("set-status64 offset 1<<63", set_status64(fd, 1ULL << 63, 0, 0, 0));
	bcase("set-status64 offset ~0", set_status64(fd, ~0ULL, 0, 0, 0));
	bcase("set-status64 sizelimit 1<<63", set_status64(fd, 0, 1ULL << 63, 0, 0));
	bcase("set-status64 sizelimit ~0", set_status64(fd, 0, ~0ULL, 0, 0));
	bcase("set-status64 encrypt xor", set_status64(fd, 0, 0, 1, 0));
	bcase("set-status64 key size 33", set_status64(fd, 0, 0, 0, 33));
	bcase("set-status64 key size -1", set_status64(fd, 0, 0, 0, ~0U));
	bcase("set-status offset -1", set_status_old(fd, -1));
	bcase("set-status offset INT_MIN", set_status_old(fd, (int)0x80000000));
	bcase("set-status64 back to 0", set_status64(fd, 0, 0, 0, 0));
	for (k = 0; k < sizeof(bs) / sizeof(bs[0]); k++) {
		snprintf(name, sizeof(name), "set-block-size %#lx", bs[k]);
		bcase(name, ioctl(fd, LOOP_SET_BLOCK_SIZE, bs[k]));
	}
	bcase("set-block-size back to 512", ioctl(fd, LOOP_SET_BLOCK_SIZE, 512L));
	bcase("set-dio 2", ioctl(fd, LOOP_SET_DIRECT_IO, 2L));
	bcase("set-dio 0", ioctl(fd, LOOP_SET_DIRECT_IO, 0L));
	bcase("change-fd on writable device", ioctl(fd, LOOP_CHANGE_FD, img));
	bcase("change-fd -1", ioctl(fd, LOOP_CHANGE_FD, -1L));
	bcase("clr", ioctl(fd, LOOP_CLR_FD, 0));
	close(fd);
	return 0;
}

struct race {
	int fd;
	int img;
	pthread_barrier_t *bar;
	long result;
	int err;
};

static void *race_setfd(void *p)
{
	struct race *r = p;

	pthread_barrier_wait(r->bar);
	r->result = ioctl(r->fd, LOOP_SET_FD, r->img);
	r->err = errno;
	return NULL;
}

static int cmd_setfd_race(int argc, char **argv)
{
	int n, rounds, i, k, won = 0, busy = 0, other = 0, img;
	pthread_barrier_t bar;
	struct race *r;
	pthread_t *t;

	if (argc < 4)
		return usage();
	n = (int)num(argv[2]);
	rounds = (int)num(argv[3]);
	r = calloc(n, sizeof(*r));
	t = calloc(n, sizeof(*t));
	img = open(argv[1], O_RDWR | O_CLOEXEC);
	if (!r || !t || img < 0)
		return 2;
	for (k = 0; k < rounds; k++) {
		int w = 0;

		pthread_barrier_init(&bar, NULL, n);
		for (i = 0; i < n; i++) {
			r[i].fd = open_or_say(argv[0], O_RDWR | O_CLOEXEC);
			if (r[i].fd < 0)
				return 1;
			r[i].img = img;
			r[i].bar = &bar;
			pthread_create(&t[i], NULL, race_setfd, &r[i]);
		}
		for (i = 0; i < n; i++) {
			pthread_join(t[i], NULL);
			if (r[i].result == 0) {
				w++;
				won++;
			} else if (r[i].err == EBUSY) {
				busy++;
			} else {
				other++;
				fprintf(stderr, "round %d: %s\n", k, en(r[i].err));
			}
		}
		if (w != 1)
			fprintf(stderr, "round %d: %d winners\n", k, w);
		/* Unbind: CLR_FD takes effect at the last close. */
		if (ioctl(r[0].fd, LOOP_CLR_FD, 0) < 0)
			fprintf(stderr, "round %d: clr %s\n", k, en(errno));
		for (i = 0; i < n; i++)
			close(r[i].fd);
		pthread_barrier_destroy(&bar);
		/* Wait until the device is unbound again. */
		for (i = 0; i < 200; i++) {
			int fd = open(argv[0], O_RDONLY | O_CLOEXEC);
			struct loop_info64 info;
			int unbound;

			if (fd < 0) {
				usleep(10000);
				continue;
			}
			unbound = ioctl(fd, LOOP_GET_STATUS64, &info) < 0 &&
				  errno == ENXIO;
			close(fd);
			if (unbound)
				break;
			usleep(10000);
		}
	}
	printf("won=%d busy=%d other=%d\n", won, busy, other);
	return 0;
}

static volatile int stop;
static const char *race_dir;
static long unlinked;

static void *unlinker(void *p)
{
	char path[4096];
	int i = 0;

	while (!stop) {
		snprintf(path, sizeof(path), "%s/loop%d", race_dir, i++ % 4);
		if (unlink(path) == 0)
			unlinked++;
	}
	return NULL;
}

static int cmd_attach_unlink_race(int argc, char **argv)
{
	long attached = 0, enoent = 0, other = 0;
	char path[4096];
	pthread_t th;
	time_t end;
	int ctl, mfd;

	if (argc < 2)
		return usage();
	race_dir = argv[0];
	end = time(NULL) + num(argv[1]);
	snprintf(path, sizeof(path), "%s/loop-control", race_dir);
	ctl = open(path, O_RDWR | O_CLOEXEC);
	mfd = memfd_create("lnssec", MFD_CLOEXEC);
	if (ctl < 0 || mfd < 0 || ftruncate(mfd, 1 << 20) < 0) {
		perror("lnssec: setup");
		return 2;
	}
	pthread_create(&th, NULL, unlinker, NULL);
	while (time(NULL) < end) {
		struct loopns_attach a;
		int fd;

		memset(&a, 0, sizeof(a));
		a.config.fd = mfd;
		fd = ioctl(ctl, LOOPNS_CTL_ATTACH, &a);
		if (fd >= 0) {
			attached++;
			close(fd);
		} else if (errno == ENOENT) {
			enoent++;
		} else {
			other++;
			if (other < 5)
				fprintf(stderr, "attach: %s\n", en(errno));
		}
	}
	stop = 1;
	pthread_join(th, NULL);
	printf("attached=%ld enoent=%ld other=%ld unlinked=%ld\n", attached,
	       enoent, other, unlinked);
	return 0;
}

static int cmd_fsmount_hold(int argc, char **argv)
{
	int fs, mnt, ctl, dev, img, idx;
	char name[32];

	if (argc < 1)
		return usage();
	fs = syscall(SYS_fsopen, "loopns", FSOPEN_CLOEXEC);
	if (fs < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		printf("fsopen %s\n", en(errno));
		return 1;
	}
	mnt = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0) {
		printf("fsmount %s\n", en(errno));
		return 1;
	}
	close(fs);
	ctl = openat(mnt, "loop-control", O_RDWR | O_CLOEXEC);
	idx = ctl < 0 ? -1 : ioctl(ctl, LOOP_CTL_GET_FREE);
	if (idx < 0) {
		printf("get-free %s\n", en(errno));
		return 1;
	}
	snprintf(name, sizeof(name), "loop%d", idx);
	dev = openat(mnt, name, O_RDWR | O_CLOEXEC);
	img = open(argv[0], O_RDWR | O_CLOEXEC);
	if (dev < 0 || img < 0 || ioctl(dev, LOOP_SET_FD, img) < 0) {
		printf("bind %s\n", en(errno));
		return 1;
	}
	close(img);
	close(ctl);
	close(mnt);	/* only the device descriptor is left */
	printf("ready %d\n", idx);
	fflush(stdout);
	for (;;)
		pause();
}

static int cmd_fill_probe(int argc, char **argv)
{
	long long want, done = 0;
	void *buf;
	int fd;

	if (argc < 2)
		return usage();
	want = num(argv[1]);
	fd = open(argv[0], O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0 || posix_memalign(&buf, 65536, 65536)) {
		printf("written=0 err=%s\n", en(errno));
		return 1;
	}
	memset(buf, 0x5a, 65536);
	while (done < want) {
		ssize_t n = pwrite(fd, buf, 65536, done);

		if (n <= 0) {
			printf("written=%lld err=%s\n", done,
			       n < 0 ? en(errno) : "short");
			return 1;
		}
		done += n;
	}
	printf("written=%lld err=none\n", done);
	return 0;
}

static int cmd_read(int argc, char **argv)
{
	char buf[4096];
	ssize_t n;
	int fd;

	if (argc < 1)
		return usage();
	fd = open_or_say(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		printf("read %s\n", en(errno));
		return 1;
	}
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	printf("%s\n", buf);
	return 0;
}

static int cmd_mount(int argc, char **argv)
{
	if (argc < 4)
		return usage();
	if (mount(argv[0], argv[1], argv[2], 0,
		  strcmp(argv[3], "-") ? argv[3] : NULL) < 0) {
		printf("%s\n", en(errno));
		return 1;
	}
	printf("0\n");
	return 0;
}

static void write_map(pid_t pid, const char *file, const char *map)
{
	char path[64], buf[128];
	unsigned long in, out, n;
	int fd;

	if (sscanf(map, "%lu:%lu:%lu", &in, &out, &n) != 3) {
		fprintf(stderr, "lnssec: bad map '%s'\n", map);
		exit(2);
	}
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	snprintf(buf, sizeof(buf), "%lu %lu %lu\n", in, out, n);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, buf, strlen(buf)) < 0) {
		fprintf(stderr, "lnssec: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	close(fd);
}

static int cmd_userns(int argc, char **argv)
{
	int p1[2], p2[2], st;
	pid_t pid;
	char c;

	if (argc < 3)
		return usage();
	if (pipe(p1) < 0 || pipe(p2) < 0)
		return 2;
	pid = fork();
	if (pid < 0)
		return 2;
	if (!pid) {
		close(p1[0]);
		close(p2[1]);
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
			perror("lnssec: unshare");
			_exit(2);
		}
		if (write(p1[1], "u", 1) != 1 || read(p2[0], &c, 1) != 1)
			_exit(2);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			perror("lnssec: setresuid");
			_exit(2);
		}
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			perror("lnssec: make-rprivate");
			_exit(2);
		}
		execvp(argv[2], argv + 2);
		perror("lnssec: exec");
		_exit(127);
	}
	close(p1[1]);
	close(p2[0]);
	if (read(p1[0], &c, 1) != 1)
		return 2;
	write_map(pid, "uid_map", argv[0]);
	write_map(pid, "gid_map", argv[1]);
	if (write(p2[1], "g", 1) != 1)
		return 2;
	if (waitpid(pid, &st, 0) < 0)
		return 2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	const char *c;

	if (argc < 2)
		return usage();
	c = argv[1];
	argc -= 2;
	argv += 2;
	if (!strcmp(c, "open"))
		return cmd_open(argc, argv);
	if (!strcmp(c, "try-open"))
		return cmd_try_open(argc, argv);
	if (!strcmp(c, "ioctl"))
		return cmd_ioctl(argc, argv);
	if (!strcmp(c, "send-fd"))
		return cmd_send_fd(argc, argv);
	if (!strcmp(c, "recv-fd"))
		return cmd_recv_fd(argc, argv);
	if (!strcmp(c, "sweep"))
		return cmd_sweep(argc, argv);
	if (!strcmp(c, "badargs"))
		return cmd_badargs(argc, argv);
	if (!strcmp(c, "setfd-race"))
		return cmd_setfd_race(argc, argv);
	if (!strcmp(c, "attach-unlink-race"))
		return cmd_attach_unlink_race(argc, argv);
	if (!strcmp(c, "fsmount-hold"))
		return cmd_fsmount_hold(argc, argv);
	if (!strcmp(c, "mount"))
		return cmd_mount(argc, argv);
	if (!strcmp(c, "read"))
		return cmd_read(argc, argv);
	if (!strcmp(c, "userns"))
		return cmd_userns(argc, argv);
	if (!strcmp(c, "fill-probe"))
		return cmd_fill_probe(argc, argv);
	return usage();
}
