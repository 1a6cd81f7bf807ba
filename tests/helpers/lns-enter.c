// SPDX-License-Identifier: GPL-2.0
/*
 * lns-enter - run a command where /dev is a loopns instance's.
 *
 *   lns-enter DIR CMD [ARG...]
 *
 * Runs CMD in a private mount namespace where /dev is a small tmpfs
 * holding the usual character devices plus the instance mounted at DIR:
 *   /dev/.lns          DIR (bind mount, so DIR may even live under /dev)
 *   /dev/.host         the host's /dev
 *   /dev/loop-control  DIR/loop-control (bind mount)
 *   /dev/loopN         symlinks to /dev/.lns/loopN for N < LNS_ENTER_MAX
 *                      (default 256); dangling until the instance creates
 *                      loopN, which it does before LOOP_CTL_GET_FREE or
 *                      LOOP_CTL_ADD return
 *   /dev/loopnsM       with LNS_ENTER_HOST_DISKS=N: symlinks to the host's
 *                      /dev/.host/loopnsM for M < N (losetup -l/-j/-a and
 *                      mount's overlap check stat /dev/<gendisk name>)
 * so that unmodified losetup, mount -o loop, mkfs and friends use the
 * instance's devices and never the global loop driver.
 *
 * One program instead of a shell script: under TCG every exec costs tens
 * of milliseconds, and the script ran about forty.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("lns-enter: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (errno)
		fprintf(stderr, ": %s", strerror(errno));
	fputc('\n', stderr);
	exit(2);
}

static void bind(const char *from, const char *to, unsigned long flags)
{
	if (mount(from, to, NULL, MS_BIND | flags, NULL))
		die("bind %s on %s", from, to);
}

static void move(const char *from, const char *to)
{
	if (mount(from, to, NULL, MS_MOVE, NULL))
		die("move %s to %s", from, to);
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) && errno != EEXIST)
		die("mkdir %s", path);
}

static void make_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		die("create %s", path);
	close(fd);
}

static void link_to(const char *target, const char *path)
{
	if (symlink(target, path))
		die("symlink %s", path);
}

/* Bind the host's device NAME (a node or a directory) into the new /dev. */
static void host_node(const char *name)
{
	char from[64], to[64];
	struct stat st;

	snprintf(from, sizeof(from), "/dev/.host/%s", name);
	snprintf(to, sizeof(to), "/dev/%s", name);
	if (stat(from, &st))
		return;
	if (S_ISDIR(st.st_mode))
		make_dir(to);
	else
		make_file(to);
	bind(from, to, 0);
}

/* /dev/PREFIX<i> -> TARGET<i> for i < COUNT. */
static void link_range(const char *prefix, const char *target, long count)
{
	char t[64], p[64];
	long i;

	for (i = 0; i < count; i++) {
		snprintf(t, sizeof(t), "%s%ld", target, i);
		snprintf(p, sizeof(p), "/dev/%s%ld", prefix, i);
		link_to(t, p);
	}
}

static long env_count(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : def;
}

/* Build the new /dev around the instance at DIR (already resolved). */
static void build_dev(const char *dir)
{
	static const char *const nodes[] = {
		"null", "zero", "full", "random", "urandom", "tty", "kmsg",
		"fuse", "ptmx", "pts", "shm", "mqueue", "console",
	};
	char host[] = "/run/lns-enter.XXXXXX", inst[] = "/run/lns-enter.XXXXXX";
	size_t i;

	if (!mkdtemp(host) || !mkdtemp(inst))
		die("mkdtemp in /run");
	bind(dir, inst, 0);
	bind("/dev", host, 0);
	if (mount("lnsdev", "/dev", "tmpfs", 0, "mode=0755,size=1M"))
		die("mount a tmpfs on /dev");
	make_dir("/dev/.host");
	move(host, "/dev/.host");
	make_dir("/dev/.lns");
	move(inst, "/dev/.lns");
	rmdir(host);
	rmdir(inst);
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		host_node(nodes[i]);
	link_to("/proc/self/fd", "/dev/fd");
	link_to("/proc/self/fd/0", "/dev/stdin");
	link_to("/proc/self/fd/1", "/dev/stdout");
	link_to("/proc/self/fd/2", "/dev/stderr");
	make_file("/dev/loop-control");
	bind("/dev/.lns/loop-control", "/dev/loop-control", 0);
	link_range("loop", "/dev/.lns/loop", env_count("LNS_ENTER_MAX", 256));
	link_range("loopns", "/dev/.host/loopns",
		   env_count("LNS_ENTER_HOST_DISKS", 0));
}

int main(int argc, char **argv)
{
	char ctl[PATH_MAX + 16], *dir;

	if (argc < 3) {
		fputs("usage: lns-enter DIR CMD [ARG...]\n", stderr);
		return 2;
	}
	dir = realpath(argv[1], NULL);
	if (!dir)
		die("%s", argv[1]);
	snprintf(ctl, sizeof(ctl), "%s/loop-control", dir);
	if (access(ctl, F_OK)) {
		errno = 0;
		die("%s missing (not a loopns instance?)", ctl);
	}
	if (unshare(CLONE_NEWNS))
		die("unshare a mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("make / private");
	build_dev(dir);
	execvp(argv[2], argv + 2);
	die("exec %s", argv[2]);
}
