// SPDX-License-Identifier: GPL-2.0
/*
 * loopcompat - issue one loop ioctl through the 32-bit compat syscall path.
 *
 *   loopcompat NODE COMMAND [ARGS...]
 *
 * The test machines cannot link -m32 programs, so this 64-bit program
 * enters the kernel with "int $0x80": on x86-64 that is the ia32 syscall
 * entry, the kernel marks the task as in a compat syscall and the block
 * layer routes the ioctl to ->compat_ioctl, exactly as for a 32-bit
 * losetup. Every structure passed lives below 4 GiB (MAP_32BIT) and uses
 * the i386 layout.
 *
 * Commands (output formats match loopioctl):
 *   probe                 prints "ok" if the ia32 entry works (exit 0),
 *                         else "unsupported" (exit 3)
 *   get-status | get-status64 | get-status-null | get-status64-null
 *   set-status FLAGS [OFFSET] | set-status64 FLAGS [OFFSET [SIZELIMIT]]
 *   set-fd FILE | configure FILE [FLAGS [BSIZE [OFFSET [SIZELIMIT]]]]
 *   clr | change-fd FILE | set-capacity | set-dio 0|1 | set-block-size N
 *   raw CMD ARG
 * FILE may be ro:PATH. Failures print the errno name and exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NR32_IOCTL 54

/* struct loop_info as a 32-bit x86 program sees it (compat_loop_info). */
struct loop_info32 {
	int32_t lo_number;
	uint16_t lo_device;		/* compat_dev_t */
	uint16_t pad1;
	uint32_t lo_inode;		/* compat_ulong_t */
	uint16_t lo_rdevice;
	uint16_t pad2;
	int32_t lo_offset;
	int32_t lo_encrypt_type;
	int32_t lo_encrypt_key_size;
	int32_t lo_flags;
	char lo_name[LO_NAME_SIZE];
	unsigned char lo_encrypt_key[LO_KEY_SIZE];
	uint32_t lo_init[2];
	char reserved[4];
};
_Static_assert(sizeof(struct loop_info32) == 140, "i386 loop_info is 140 bytes");
/* loop_info64 and loop_config have the same layout on i386 and x86-64. */
_Static_assert(sizeof(struct loop_info64) == 232, "loop_info64 is 232 bytes");

static long ioctl32(int fd, unsigned int cmd, uint32_t arg)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(NR32_IOCTL), "b"(fd), "c"(cmd), "d"(arg)
			 : "memory", "r8", "r9", "r10", "r11");
	if (ret < 0 && ret > -4096) {
		errno = -ret;
		return -1;
	}
	return ret;
}

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
		fprintf(stderr, "loopcompat: bad number '%s'\n", s);
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
	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0 && !ro)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "loopcompat: open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

static void *low;	/* one page below 4 GiB */

static uint32_t lowptr(void)
{
	return (uint32_t)(uintptr_t)low;
}

static int done(long r)
{
	if (r < 0)
		return fail();
	printf("%ld\n", r);
	return 0;
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
	fprintf(stderr, "usage: loopcompat NODE COMMAND [ARGS] (see the source)\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct loop_info64 *i64;
	struct loop_info32 *i32;
	struct loop_config *cfg;
	const char *cmd;
	int fd, n;

	if (argc < 3)
		return usage();
	cmd = argv[2];
	n = argc - 3;
	low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (low == MAP_FAILED || (uintptr_t)low >= 0x100000000ULL) {
		fprintf(stderr, "loopcompat: no low memory\n");
		return 2;
	}
	i64 = low;
	i32 = low;
	cfg = low;
	fd = open(argv[1], (getenv("LOOPIOCTL_RDONLY") ? O_RDONLY : O_RDWR) |
		  O_CLOEXEC);
	if (fd < 0) {
		printf("%s\n", errname(errno));
		return 1;
	}
	if (!strcmp(cmd, "probe")) {
		/* An ioctl every fd rejects; ENOSYS means no ia32 entry. */
		if (ioctl32(fd, 0, 0) < 0 && errno == ENOSYS) {
			printf("unsupported\n");
			return 3;
		}
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "get-status64")) {
		if (ioctl32(fd, LOOP_GET_STATUS64, lowptr()) < 0)
			return fail();
		print_info64(i64);
		return 0;
	}
	if (!strcmp(cmd, "get-status")) {
		if (ioctl32(fd, LOOP_GET_STATUS, lowptr()) < 0)
			return fail();
		printf("number=%d device=%u inode=%u offset=%d flags=%d name=%s\n",
		       i32->lo_number, i32->lo_device, i32->lo_inode,
		       i32->lo_offset, i32->lo_flags, i32->lo_name);
		return 0;
	}
	if (!strcmp(cmd, "get-status-null"))
		return done(ioctl32(fd, LOOP_GET_STATUS, 0));
	if (!strcmp(cmd, "get-status64-null"))
		return done(ioctl32(fd, LOOP_GET_STATUS64, 0));
	if (!strcmp(cmd, "set-status") && n >= 1) {
		if (ioctl32(fd, LOOP_GET_STATUS, lowptr()) < 0)
			memset(i32, 0, sizeof(*i32));
		i32->lo_flags = (int32_t)num(argv[3]);
		if (n > 1)
			i32->lo_offset = (int32_t)num(argv[4]);
		return done(ioctl32(fd, LOOP_SET_STATUS, lowptr()));
	}
	if (!strcmp(cmd, "set-status64") && n >= 1) {
		if (ioctl32(fd, LOOP_GET_STATUS64, lowptr()) < 0)
			memset(i64, 0, sizeof(*i64));
		i64->lo_flags = (uint32_t)num(argv[3]);
		if (n > 1)
			i64->lo_offset = num(argv[4]);
		if (n > 2)
			i64->lo_sizelimit = num(argv[5]);
		return done(ioctl32(fd, LOOP_SET_STATUS64, lowptr()));
	}
	if (!strcmp(cmd, "set-fd") && n >= 1)
		return done(ioctl32(fd, LOOP_SET_FD, open_backing(argv[3])));
	if (!strcmp(cmd, "change-fd") && n >= 1)
		return done(ioctl32(fd, LOOP_CHANGE_FD, open_backing(argv[3])));
	if (!strcmp(cmd, "configure") && n >= 1) {
		memset(cfg, 0, sizeof(*cfg));
		cfg->fd = open_backing(argv[3]);
		if (n > 1)
			cfg->info.lo_flags = (uint32_t)num(argv[4]);
		if (n > 2)
			cfg->block_size = (uint32_t)num(argv[5]);
		if (n > 3)
			cfg->info.lo_offset = num(argv[6]);
		if (n > 4)
			cfg->info.lo_sizelimit = num(argv[7]);
		return done(ioctl32(fd, LOOP_CONFIGURE, lowptr()));
	}
	if (!strcmp(cmd, "clr"))
		return done(ioctl32(fd, LOOP_CLR_FD, 0));
	if (!strcmp(cmd, "set-capacity"))
		return done(ioctl32(fd, LOOP_SET_CAPACITY, 0));
	if (!strcmp(cmd, "set-dio") && n >= 1)
		return done(ioctl32(fd, LOOP_SET_DIRECT_IO, (uint32_t)num(argv[3])));
	if (!strcmp(cmd, "set-block-size") && n >= 1)
		return done(ioctl32(fd, LOOP_SET_BLOCK_SIZE, (uint32_t)num(argv[3])));
	if (!strcmp(cmd, "raw") && n >= 2)
		return done(ioctl32(fd, (unsigned int)num(argv[3]), (uint32_t)num(argv[4])));
	return usage();
}
