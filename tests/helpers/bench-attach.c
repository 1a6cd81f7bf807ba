// SPDX-License-Identifier: GPL-2.0
/*
 * bench-attach - control-path and memory measurements for tests/bench/.
 * Every command prints one JSON object on stdout; errors go to stderr and
 * exit 1 (usage errors exit 2). Works on loopns instances and on the
 * in-kernel loop driver alike (same ioctls).
 *
 *   bench-attach cycle SECONDS BACKING FLAGS DEV [DEV...]
 *       One process per DEV, started together; each repeats
 *       open(DEV) + LOOP_CONFIGURE(BACKING, FLAGS) + LOOP_CLR_FD + close
 *       until SECONDS have passed. Reports cycles, cycles/s in total.
 *   bench-attach turns SECONDS BACKING FLAGS DEVS_A DEVS_B
 *       cycle on the devices of the comma-separated lists DEVS_A and
 *       DEVS_B (one process per device), A and B taking turns in slices
 *       of 50 ms until each ran SECONDS: the same background for both.
 *       One JSON line for A, then one for B.
 *   bench-attach latency N BACKING DEV [DEV...]
 *       N times open(DEV) + LOOP_CONFIGURE(BACKING) + LOOP_CLR_FD +
 *       close, the devices taking turns bind by bind; reports the
 *       LOOP_CONFIGURE latency (p50, p90, p99, mean, max), one JSON line
 *       per DEV.
 *   bench-attach mount SECONDS FSTYPE DIR [DIR...]
 *       One process per DIR: mount(FSTYPE, DIR) + umount(DIR) cycles.
 *   bench-attach mem CONTROL DEVPREFIX FIRST N BACKING
 *       Kernel memory (meminfo, slabinfo) idle, after LOOP_CTL_ADD of
 *       indexes FIRST..FIRST+N-1, after binding each DEVPREFIX<i> to
 *       BACKING, and after unbinding and removing them again.
 *   bench-attach scale BASEDIR NINST NDEV BACKING [LOOPFIRST]
 *       Mount NINST loopns instances under BASEDIR, add NDEV devices to
 *       each, bind them all to BACKING, unmount everything; time and
 *       memory of every phase. With LOOPFIRST, as many loop devices
 *       (/dev/loop<LOOPFIRST>...) are then added and bound too, and the
 *       two teardowns take turns in SCALE_TURNS chunks (unmounting a tenth
 *       of the instances, deleting a tenth of the loop devices, the other
 *       way round in the next chunk): the same background for both.
 *
 * Memory snapshots sync, drop caches and wait for RCU-deferred frees
 * (twice BENCH_SETTLE_MS, default 500).
 * scale adds devices and tears down, mem tears down, in BENCH_PAR (default
 * 32) processes in parallel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "bench-attach: %s %s: %s\n", what, arg ? arg : "",
		strerror(errno));
	exit(1);
}

static long num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || v < 0) {
		fprintf(stderr, "bench-attach: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

/* ---------------------------------------------------------- parallel loops */

struct slot {
	long count;
	long errors;
	int first_errno;
	double elapsed;
};

typedef int (*cycle_fn)(const char *target, void *arg);

#define MAXPROCS 16

/* What the processes of one run did, summed over its slices. */
struct group {
	int n;
	long count[MAXPROCS];
	long errors;
	int first_errno;
	double seconds;
	int failed;
};

/*
 * Run fn(target) in one child per target until @secs passed, adding to
 * @g; all children start when the parent closes the barrier pipe.
 */
static void run_slice(double secs, char **targets, int n, cycle_fn fn,
		      void *arg, struct group *g)
{
	struct slot *slots;
	int barrier[2], i, status;
	double wall = 0;

	slots = mmap(NULL, sizeof(*slots) * n, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED)
		die("mmap", NULL);
	memset(slots, 0, sizeof(*slots) * n);
	if (pipe(barrier) < 0)
		die("pipe", NULL);
	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork", NULL);
		if (pid == 0) {
			char c;
			double t0, t = 0;

			close(barrier[1]);
			if (read(barrier[0], &c, 1) < 0)
				_exit(1);
			t0 = now();
			do {
				if (fn(targets[i], arg) < 0) {
					if (!slots[i].errors++)
						slots[i].first_errno = errno;
					if (slots[i].errors > 1000)
						break;
				} else {
					slots[i].count++;
				}
				t = now();
			} while (t - t0 < secs);
			slots[i].elapsed = t - t0;
			_exit(0);
		}
	}
	close(barrier[0]);
	usleep(20000);
	close(barrier[1]);
	for (i = 0; i < n; i++) {
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			g->failed = 1;
	}
	g->n = n;
	for (i = 0; i < n; i++) {
		g->count[i] += slots[i].count;
		if (slots[i].errors && !g->errors)
			g->first_errno = slots[i].first_errno;
		g->errors += slots[i].errors;
		if (slots[i].elapsed > wall)
			wall = slots[i].elapsed;
	}
	g->seconds += wall;
	munmap(slots, sizeof(*slots) * n);
}

/* Print the JSON summary of @g; 0, or 1 if anything failed. */
static int print_group(const char *kind, const struct group *g)
{
	long total = 0;
	int i;

	printf("{\"kind\":\"%s\",\"procs\":%d,\"per_proc\":[", kind, g->n);
	for (i = 0; i < g->n; i++) {
		total += g->count[i];
		printf("%s%ld", i ? "," : "", g->count[i]);
	}
	printf("],\"cycles\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"errors\":%ld",
	       total, g->seconds, g->seconds > 0 ? total / g->seconds : 0.0,
	       g->errors);
	if (g->errors)
		printf(",\"first_error\":\"%s\"", strerror(g->first_errno));
	printf("}\n");
	if (g->errors)
		fprintf(stderr, "bench-attach: %ld failed cycles\n", g->errors);
	return g->failed || g->errors;
}

static int run_parallel(const char *kind, double secs, char **targets,
			int n, cycle_fn fn, void *arg)
{
	struct group g = { 0 };

	if (n > MAXPROCS) {
		fprintf(stderr, "bench-attach: at most %d targets\n", MAXPROCS);
		exit(2);
	}
	run_slice(secs, targets, n, fn, arg, &g);
	return print_group(kind, &g);
}

/* Split a comma-separated list in place; return the number of items. */
static int split_list(char *list, char **items)
{
	int n = 0;
	char *save, *p;

	for (p = strtok_r(list, ",", &save); p && n < MAXPROCS;
	     p = strtok_r(NULL, ",", &save))
		items[n++] = p;
	return n;
}

/*
 * Two runs taking turns in slices of @slice seconds until each ran @secs
 * (the first one first in even rounds, the second in odd ones), so that
 * both meet the same background; one JSON line each.
 */
static int run_turns(const char *kind, double secs, double slice,
		     char *list_a, char *list_b, cycle_fn fn, void *arg)
{
	char *ta[MAXPROCS], *tb[MAXPROCS];
	struct group g[2] = { { 0 }, { 0 } };
	int na = split_list(list_a, ta), nb = split_list(list_b, tb);
	int round, k, rc;

	if (!na || !nb)
		return 2;
	for (round = 0; g[0].seconds < secs || g[1].seconds < secs; round++) {
		for (k = 0; k < 2; k++) {
			int w = round % 2 ? 1 - k : k;

			if (w == 0)
				run_slice(slice, ta, na, fn, arg, &g[0]);
			else
				run_slice(slice, tb, nb, fn, arg, &g[1]);
		}
	}
	rc = print_group(kind, &g[0]);
	return print_group(kind, &g[1]) || rc;
}

struct cycle_arg {
	int backing;
	unsigned int flags;
};

static int attach_detach(const char *dev, void *p)
{
	struct cycle_arg *a = p;
	struct loop_config cfg;
	int fd, r;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = a->backing;
	cfg.info.lo_flags = a->flags;
	r = ioctl(fd, LOOP_CONFIGURE, &cfg);
	if (r == 0)
		r = ioctl(fd, LOOP_CLR_FD, 0);
	close(fd);
	return r;
}

static int mount_umount(const char *dir, void *p)
{
	const char *fstype = p;

	if (mount(fstype, dir, fstype, 0, NULL) < 0)
		return -1;
	return umount2(dir, 0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One LOOP_CONFIGURE of @dev, timed; then unbind. Return µs. */
static double timed_bind(const char *dev, const struct loop_config *cfg)
{
	double t;
	int fd;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open", dev);
	t = now();
	if (ioctl(fd, LOOP_CONFIGURE, cfg) < 0)
		die("LOOP_CONFIGURE", dev);
	t = (now() - t) * 1e6;
	if (ioctl(fd, LOOP_CLR_FD, 0) < 0)
		die("LOOP_CLR_FD", dev);
	close(fd);
	return t;
}

static void print_latency(long n, double *lat)
{
	double sum = 0;
	long i;

	for (i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("{\"binds\":%ld,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
	       "\"mean_us\":%.1f,\"max_us\":%.1f}\n", n, lat[n / 2],
	       lat[n * 9 / 10], lat[n * 99 / 100], sum / n, lat[n - 1]);
}

/*
 * N binds of each device, taking turns (one bind of each in every round,
 * the first device first in even rounds, last in odd ones), so that every
 * device meets the same background; one JSON line per device.
 */
static int cmd_latency(long n, const char *backing_path, char **devs,
		       int ndev)
{
	double *lat = calloc(n * ndev, sizeof(*lat));
	struct loop_config cfg;
	int backing, d, k;
	long i;

	if (!lat)
		die("calloc", NULL);
	backing = open(backing_path, O_RDWR | O_CLOEXEC);
	if (backing < 0)
		die("open", backing_path);
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = backing;
	for (i = 0; i < n; i++) {
		for (k = 0; k < ndev; k++) {
			d = i % 2 ? ndev - 1 - k : k;
			lat[d * n + i] = timed_bind(devs[d], &cfg);
		}
	}
	for (d = 0; d < ndev; d++)
		print_latency(n, lat + d * n);
	free(lat);
	close(backing);
	return 0;
}

/* ------------------------------------------------------------------ memory */

/* /proc/meminfo fields, then "PcpFree": free pages on the per-cpu lists
 * (/proc/zoneinfo), which MemFree leaves out; free memory is the sum. */
static const char *const mem_fields[] = {
	"MemFree", "MemAvailable", "Slab", "SReclaimable", "SUnreclaim",
	"KernelStack", "PageTables", "Percpu", "VmallocUsed", "Cached",
	"Buffers", "AnonPages", "PcpFree",
};
#define NFIELDS (sizeof(mem_fields) / sizeof(mem_fields[0]))
#define MAXSLABS 512

struct snapshot {
	long kb[NFIELDS];
	int nslabs;
	char slab_name[MAXSLABS][64];
	long slab_bytes[MAXSLABS];
	double t;
};

static void settle(void)
{
	const char *e = getenv("BENCH_SETTLE_MS");
	int fd, ms = e ? atoi(e) : 500;

	sync();
	for (int i = 0; i < 2; i++) {
		fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "3\n", 2) < 0)
				perror("drop_caches");
			close(fd);
		}
		usleep(ms * 1000);	/* kfree_rcu and friends */
	}
}

static void snap(struct snapshot *s)
{
	char line[512];
	FILE *f;

	settle();
	memset(s, 0, sizeof(*s));
	s->t = now();
	f = fopen("/proc/meminfo", "r");
	if (!f)
		die("open", "/proc/meminfo");
	while (fgets(line, sizeof(line), f)) {
		for (size_t i = 0; i < NFIELDS; i++) {
			size_t l = strlen(mem_fields[i]);

			if (!strncmp(line, mem_fields[i], l) && line[l] == ':')
				s->kb[i] = strtol(line + l + 1, NULL, 10);
		}
	}
	fclose(f);
	f = fopen("/proc/zoneinfo", "r");
	if (f) {
		long pages = 0, v;

		while (fgets(line, sizeof(line), f))
			if (sscanf(line, " count: %ld", &v) == 1)
				pages += v;
		fclose(f);
		s->kb[NFIELDS - 1] = pages * (sysconf(_SC_PAGESIZE) / 1024);
	}
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && s->nslabs < MAXSLABS) {
		char name[64];
		long active, total, size, objper, pagesper;

		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%63s %ld %ld %ld %ld %ld", name, &active,
			   &total, &size, &objper, &pagesper) != 6)
			continue;
		memcpy(s->slab_name[s->nslabs], name, sizeof(name));
		s->slab_bytes[s->nslabs] = total * size;
		s->nslabs++;
	}
	fclose(f);
}

static void print_snap(const char *name, const struct snapshot *s)
{
	printf("\"%s\":{", name);
	for (size_t i = 0; i < NFIELDS; i++)
		printf("%s\"%s\":%ld", i ? "," : "", mem_fields[i], s->kb[i]);
	printf("}");
}

/* The slab caches that grew most from @a to @b (bytes). */
static void print_slab_delta(const char *name, const struct snapshot *a,
			     const struct snapshot *b)
{
	long d[MAXSLABS];
	int used[MAXSLABS] = { 0 }, shown = 0;

	for (int i = 0; i < b->nslabs; i++) {
		d[i] = b->slab_bytes[i];
		for (int j = 0; j < a->nslabs; j++) {
			if (!strcmp(a->slab_name[j], b->slab_name[i])) {
				d[i] -= a->slab_bytes[j];
				break;
			}
		}
	}
	printf("\"%s\":{", name);
	while (shown < 10) {
		int best = -1;

		for (int i = 0; i < b->nslabs; i++)
			if (!used[i] && d[i] > 0 && (best < 0 || d[i] > d[best]))
				best = i;
		if (best < 0)
			break;
		used[best] = 1;
		printf("%s\"%s\":%ld", shown++ ? "," : "", b->slab_name[best],
		       d[best]);
	}
	printf("}");
}

static int bind_dev(const char *path, int backing)
{
	struct loop_config cfg;
	int fd, r;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = backing;
	r = ioctl(fd, LOOP_CONFIGURE, &cfg);
	close(fd);
	return r;
}

static int unbind_dev(const char *path)
{
	int fd, r;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = ioctl(fd, LOOP_CLR_FD, 0);
	close(fd);
	return r;
}

/* Workers for the phases that create or delete many devices (BENCH_PAR,
 * default 32): they mostly wait for RCU grace periods, which parallel
 * callers share. */
static int par_workers(void)
{
	const char *e = getenv("BENCH_PAR");
	int n = e ? atoi(e) : 32;

	return n < 1 ? 1 : n > 64 ? 64 : n;
}

/* Run fn(k, nworkers, arg) in nworkers children; 0 if all succeeded. */
static int par_run(int nworkers, int (*fn)(int, int, void *), void *arg)
{
	int k, status, rc = 0;

	for (k = 0; k < nworkers; k++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork", NULL);
		if (pid == 0)
			_exit(fn(k, nworkers, arg) ? 1 : 0);
	}
	for (k = 0; k < nworkers; k++)
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			rc = 1;
	return rc;
}

struct mem_args {
	const char *ctlpath, *prefix;
	long first, n;
};

static int mem_teardown(int k, int nw, void *p)
{
	struct mem_args *a = p;
	char path[4096];
	int ctl;

	ctl = open(a->ctlpath, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		die("open", a->ctlpath);
	for (long i = a->first + k; i < a->first + a->n; i += nw) {
		int tries = 0;

		snprintf(path, sizeof(path), "%s%ld", a->prefix, i);
		if (unbind_dev(path) < 0)
			die("LOOP_CLR_FD", path);
		/* loop may still be running the device down: retry EBUSY. */
		while (ioctl(ctl, LOOP_CTL_REMOVE, i) < 0) {
			if (errno != EBUSY || ++tries > 1000)
				die("LOOP_CTL_REMOVE", a->ctlpath);
			usleep(1000);
		}
	}
	close(ctl);
	return 0;
}

static int cmd_mem(char **argv)
{
	const char *ctlpath = argv[0], *prefix = argv[1];
	long first = num(argv[2]), n = num(argv[3]), i;
	static struct snapshot s0, s1, s2, s3;
	double t_add, t_bind, t_unbind, t;
	struct mem_args ma = { ctlpath, prefix, first, n };
	int ctl, backing, nw = par_workers();
	char path[4096];

	ctl = open(ctlpath, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		die("open", ctlpath);
	backing = open(argv[4], O_RDWR | O_CLOEXEC);
	if (backing < 0)
		die("open", argv[4]);

	snap(&s0);
	t = now();
	for (i = first; i < first + n; i++)
		if (ioctl(ctl, LOOP_CTL_ADD, i) < 0)
			die("LOOP_CTL_ADD", ctlpath);
	t_add = now() - t;
	snap(&s1);
	t = now();
	for (i = first; i < first + n; i++) {
		snprintf(path, sizeof(path), "%s%ld", prefix, i);
		if (bind_dev(path, backing) < 0)
			die("LOOP_CONFIGURE", path);
	}
	t_bind = now() - t;
	snap(&s2);
	t = now();
	if (par_run(nw, mem_teardown, &ma))
		die("teardown", prefix);
	t_unbind = now() - t;
	snap(&s3);

	printf("{\"devices\":%ld,\"add_s\":%.3f,\"bind_s\":%.3f,\"teardown_s\":%.3f,"
	       "\"workers\":%d,", n, t_add, t_bind, t_unbind, nw);
	print_snap("idle0", &s0);
	printf(",");
	print_snap("added", &s1);
	printf(",");
	print_snap("bound", &s2);
	printf(",");
	print_snap("after", &s3);
	printf(",");
	print_slab_delta("slab_top_added", &s0, &s1);
	printf(",");
	print_slab_delta("slab_top_bound", &s1, &s2);
	printf("}\n");
	return 0;
}

struct scale_args {
	const char *base;
	long ninst, ndev;
	long lo, hi;		/* the instances scale_teardown() unmounts */
};

static int scale_add(int k, int nw, void *p)
{
	struct scale_args *a = p;
	char path[4096];

	for (long i = k; i < a->ninst; i += nw) {
		int ctl;

		snprintf(path, sizeof(path), "%s/i%ld/loop-control", a->base, i);
		ctl = open(path, O_RDWR | O_CLOEXEC);
		if (ctl < 0)
			die("open", path);
		for (long j = 0; j < a->ndev; j++)
			if (ioctl(ctl, LOOP_CTL_ADD, j) < 0)
				die("LOOP_CTL_ADD", path);
		close(ctl);
	}
	return 0;
}

static int scale_teardown(int k, int nw, void *p)
{
	struct scale_args *a = p;
	char path[4096];

	for (long i = a->lo + k; i < a->hi; i += nw) {
		snprintf(path, sizeof(path), "%s/i%ld", a->base, i);
		if (umount2(path, 0) < 0)
			die("umount", path);
	}
	return 0;
}

#define SCALE_TURNS	10

/* Add and bind loop devices FIRST..FIRST+N-1 (for scale_turns()). */
static void scale_loop_setup(long first, long n, int backing)
{
	char path[64];
	int ctl;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		die("open", "/dev/loop-control");
	for (long i = first; i < first + n; i++) {
		snprintf(path, sizeof(path), "/dev/loop%ld", i);
		if (ioctl(ctl, LOOP_CTL_ADD, i) < 0)
			die("LOOP_CTL_ADD", path);
		if (bind_dev(path, backing) < 0)
			die("LOOP_CONFIGURE", path);
	}
	close(ctl);
}

/*
 * Unmount the instances of @sa and delete the loop devices of @ma, taking
 * turns chunk by chunk; the seconds each took in all go to @t_lns, @t_loop.
 */
static void scale_turns(struct scale_args *sa, struct mem_args *ma,
			double *t_lns, double *t_loop)
{
	long first = ma->first, n = ma->n;
	int nw = par_workers();
	double t;

	*t_lns = *t_loop = 0;
	for (int c = 0; c < SCALE_TURNS; c++) {
		sa->lo = sa->ninst * c / SCALE_TURNS;
		sa->hi = sa->ninst * (c + 1) / SCALE_TURNS;
		ma->first = first + n * c / SCALE_TURNS;
		ma->n = first + n * (c + 1) / SCALE_TURNS - ma->first;
		for (int turn = 0; turn < 2; turn++) {
			bool lns = (turn + c) % 2 == 0;

			t = now();
			if (par_run(nw, lns ? scale_teardown : mem_teardown,
				    lns ? (void *)sa : (void *)ma))
				die("teardown", lns ? sa->base : "/dev/loop");
			*(lns ? t_lns : t_loop) += now() - t;
		}
	}
}

static int cmd_scale(char **argv, const char *loopfirst)
{
	const char *base = argv[0];
	long ninst = num(argv[1]), ndev = num(argv[2]), i, j;
	static struct snapshot s0, s1, s2, s3;
	double t_mount, t_add, t_bind, t_down, t_loop = -1, t;
	struct scale_args sa = { base, ninst, ndev, 0, ninst };
	struct mem_args ma = { "/dev/loop-control", "/dev/loop", 0, ninst * ndev };
	int backing, nw = par_workers();
	char path[4096];

	backing = open(argv[3], O_RDWR | O_CLOEXEC);
	if (backing < 0)
		die("open", argv[3]);
	if (mkdir(base, 0755) < 0 && errno != EEXIST)
		die("mkdir", base);
	for (i = 0; i < ninst; i++) {
		snprintf(path, sizeof(path), "%s/i%ld", base, i);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			die("mkdir", path);
	}

	snap(&s0);
	t = now();
	for (i = 0; i < ninst; i++) {
		snprintf(path, sizeof(path), "%s/i%ld", base, i);
		if (mount("loopns", path, "loopns", 0, NULL) < 0)
			die("mount", path);
	}
	t_mount = now() - t;
	t = now();
	if (par_run(nw, scale_add, &sa))
		die("LOOP_CTL_ADD", base);
	t_add = now() - t;
	snap(&s1);
	t = now();
	for (i = 0; i < ninst; i++) {
		for (j = 0; j < ndev; j++) {
			snprintf(path, sizeof(path), "%s/i%ld/loop%ld", base, i, j);
			if (bind_dev(path, backing) < 0)
				die("LOOP_CONFIGURE", path);
		}
	}
	t_bind = now() - t;
	snap(&s2);
	if (loopfirst) {
		ma.first = num(loopfirst);
		scale_loop_setup(ma.first, ma.n, backing);
		scale_turns(&sa, &ma, &t_down, &t_loop);
	} else {
		t = now();
		if (par_run(nw, scale_teardown, &sa))
			die("teardown", base);
		t_down = now() - t;
	}
	for (i = 0; i < ninst; i++) {
		snprintf(path, sizeof(path), "%s/i%ld", base, i);
		rmdir(path);
	}
	snap(&s3);

	printf("{\"instances\":%ld,\"devices_per_instance\":%ld,"
	       "\"mount_s\":%.3f,\"add_s\":%.3f,\"bind_s\":%.3f,\"teardown_s\":%.3f,"
	       "\"workers\":%d,", ninst, ndev, t_mount, t_add, t_bind, t_down, nw);
	if (t_loop >= 0)
		printf("\"loop_devices\":%ld,\"loop_teardown_s\":%.3f,\"turns\":%d,",
		       ninst * ndev, t_loop, SCALE_TURNS);
	print_snap("idle0", &s0);
	printf(",");
	print_snap("added", &s1);
	printf(",");
	print_snap("bound", &s2);
	printf(",");
	print_snap("after", &s3);
	printf("}\n");
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: bench-attach cycle SECONDS BACKING FLAGS DEV...\n"
		"       bench-attach turns SECONDS BACKING FLAGS DEV[,DEV] DEV[,DEV]\n"
		"       bench-attach latency N BACKING DEV...\n"
		"       bench-attach mount SECONDS FSTYPE DIR...\n"
		"       bench-attach mem CONTROL DEVPREFIX FIRST N BACKING\n"
		"       bench-attach scale BASEDIR NINST NDEV BACKING [LOOPFIRST]\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 6 && !strcmp(argv[1], "cycle")) {
		struct cycle_arg a;

		a.backing = open(argv[3], O_RDWR | O_CLOEXEC);
		if (a.backing < 0)
			die("open", argv[3]);
		a.flags = (unsigned int)num(argv[4]);
		return run_parallel("attach-detach", atof(argv[2]), argv + 5,
				    argc - 5, attach_detach, &a);
	}
	if (argc == 7 && !strcmp(argv[1], "turns")) {
		struct cycle_arg a;

		a.backing = open(argv[3], O_RDWR | O_CLOEXEC);
		if (a.backing < 0)
			die("open", argv[3]);
		a.flags = (unsigned int)num(argv[4]);
		return run_turns("attach-detach", atof(argv[2]), 0.05, argv[5],
				 argv[6], attach_detach, &a);
	}
	if (argc >= 5 && !strcmp(argv[1], "latency") && num(argv[2]) > 0)
		return cmd_latency(num(argv[2]), argv[3], argv + 4, argc - 4);
	if (argc >= 5 && !strcmp(argv[1], "mount"))
		return run_parallel("mount-umount", atof(argv[2]), argv + 4,
				    argc - 4, mount_umount, argv[3]);
	if (argc == 7 && !strcmp(argv[1], "mem"))
		return cmd_mem(argv + 2);
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "scale"))
		return cmd_scale(argv + 2, argc == 7 ? argv[6] : NULL);
	return usage();
}
