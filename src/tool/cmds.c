// SPDX-License-Identifier: GPL-2.0
/*
 * loopnsctl: the commands.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libkmod.h>
#include <libsmartcols.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/fs.h>

#include "../../include/uapi/linux/loopns.h"
#include "loopnsctl.h"
#include "sys.h"

#define CMD_ATTACH_RETRIES	100

/* ------------------------------------------------------------ libkmod */

/* libkmod's own messages would repeat ours, less precisely. */
static void cmd_kmod_log(void *data, int priority, const char *file, int line,
			 const char *fn, const char *format, va_list args)
{
}

static struct kmod_ctx *cmd_kmod_ctx(void)
{
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	struct utsname uts;

	if (ctx)
		kmod_set_log_fn(ctx, cmd_kmod_log, NULL);
	if (!ctx) {
		uname(&uts);
		lns_err("libkmod: cannot initialise (is /lib/modules/%s there?)",
			uts.release);
	}
	return ctx;
}

/* The module as modprobe would find it (alias resolution, modules.dep). */
static struct kmod_module *cmd_kmod_lookup(struct kmod_ctx *ctx)
{
	struct kmod_list *list = NULL;
	struct kmod_module *mod = NULL;

	if (kmod_module_new_from_lookup(ctx, LNS_MODNAME, &list) >= 0 && list) {
		mod = kmod_module_get_module(list);
		kmod_module_unref_list(list);
	}
	return mod;
}

static const char *cmd_kmod_info(struct kmod_module *mod, const char *key,
				 char *buf, size_t len)
{
	struct kmod_list *info = NULL, *l;

	buf[0] = 0;
	if (kmod_module_get_info(mod, &info) < 0)
		return NULL;
	kmod_list_foreach(l, info) {
		if (!strcmp(kmod_module_info_get_key(l), key)) {
			snprintf(buf, len, "%s", kmod_module_info_get_value(l));
			break;
		}
	}
	kmod_module_info_free_list(info);
	return buf[0] ? buf : NULL;
}

/* ------------------------------------------------------------ status */

static const char *cmd_kmod_state(struct kmod_module *mod, bool *loaded)
{
	switch (kmod_module_get_initstate(mod)) {
	case KMOD_MODULE_LIVE:
		*loaded = true;
		return "loaded";
	case KMOD_MODULE_COMING:
		return "loading";
	case KMOD_MODULE_GOING:
		return "unloading";
	case KMOD_MODULE_BUILTIN:
		*loaded = true;
		return "built in";
	default:
		return "not loaded";
	}
}

/*
 * The module's state through libkmod, and the path and version of the
 * module modprobe would load (its version goes into @inst_version).
 */
static void cmd_status_kmod(struct lns_status *s, char *inst_version,
			    size_t len)
{
	struct kmod_module *mod = NULL, *inst_mod;
	struct kmod_ctx *ctx = cmd_kmod_ctx();

	if (!ctx)
		return;
	if (kmod_module_new_from_name(ctx, LNS_MODNAME, &mod) >= 0) {
		s->state = cmd_kmod_state(mod, &s->loaded);
		kmod_module_unref(mod);
	}
	inst_mod = cmd_kmod_lookup(ctx);
	if (inst_mod) {
		const char *p = kmod_module_get_path(inst_mod);

		if (p)
			snprintf(s->path, sizeof(s->path), "%s", p);
		cmd_kmod_info(inst_mod, "version", inst_version, len);
		kmod_module_unref(inst_mod);
	}
	kmod_unref(ctx);
}

/* The module's parameters from /sys/module/loopns/parameters. */
static void cmd_status_params(struct lns_status *s)
{
	DIR *d = opendir("/sys/module/loopns/parameters");
	struct dirent *de;
	char p[PATH_MAX];

	while (d && (de = readdir(d)) && s->nparams < 16) {
		char *val = s->params[s->nparams].value;

		snprintf(p, sizeof(p), "/sys/module/loopns/parameters/%s",
			 de->d_name);
		if (de->d_name[0] == '.' ||
		    lns_read_file(p, val, sizeof(s->params[0].value)) < 0)
			continue;
		val[strcspn(val, "\n")] = 0;
		snprintf(s->params[s->nparams++].name, sizeof(s->params[0].name),
			 "%s", de->d_name);
	}
	if (d)
		closedir(d);
}

/* The instances mounted here, the devices of the system. */
static void cmd_status_counts(struct lns_status *s)
{
	int i;

	s->ninst = lns_instances(&s->insts);
	if (s->ninst < 0)
		s->ninst = 0;
	for (i = 0; i < s->ninst; i++)
		s->insts[i].devices = lns_count_nodes(s->insts[i].path);
	s->ndev = lns_sys_disk_count(&s->nbound);
}

static void cmd_status_gather(struct lns_status *s)
{
	char inst_version[128] = "";
	struct utsname uts;

	memset(s, 0, sizeof(*s));
	s->state = "not loaded";
	uname(&uts);
	snprintf(s->kernel, sizeof(s->kernel), "%s", uts.release);
	cmd_status_kmod(s, inst_version, sizeof(inst_version));
	if (lns_read_file("/sys/module/loopns/version", s->version,
			  sizeof(s->version)) > 0)
		s->version[strcspn(s->version, "\n")] = 0;
	else if (!s->loaded)
		snprintf(s->version, sizeof(s->version), "%s", inst_version);
	s->major = lns_major('b');
	s->ctl_major = lns_major('c');
	if (!s->loaded && s->major >= 0) {
		/* libkmod could not tell (e.g. no /sys/module); the kernel can */
		s->state = "loaded";
		s->loaded = true;
	}
	if (s->loaded)
		cmd_status_params(s);
	cmd_status_counts(s);
}

static void cmd_status_print(const struct lns_status *s)
{
	char rule[64];
	int i;

	printf("module:        %s\n", s->state);
	printf("version:       %s\n", s->version[0] ? s->version : "-");
	printf("path:          %s\n", s->path[0] ? s->path : "(not installed for this kernel)");
	printf("kernel:        %s\n", s->kernel);
	if (s->major >= 0)
		printf("block major:   %d (dynamic)\n", s->major);
	else
		printf("block major:   -\n");
	for (i = 0; i < s->nparams; i++)
		printf("%-14s %s\n", s->params[i].name, s->params[i].value);
	printf("instances:     %d (mounted in this mount namespace)\n", s->ninst);
	for (i = 0; i < s->ninst; i++)
		printf("  %s max=%d devices=%d\n", s->insts[i].path,
		       s->insts[i].max, s->insts[i].devices);
	printf("devices:       %d (%d bound; all instances of the system)\n",
	       s->ndev, s->nbound);
	if (s->major < 0) {
		printf("device cgroup: - (load the module to learn the major)\n");
		return;
	}
	printf("device cgroup: %s\n",
	       lns_fmt_cgroup_rule('b', s->major, rule, sizeof(rule)));
	if (s->ctl_major >= 0)
		printf("               %s (loop-control)\n",
		       lns_fmt_cgroup_rule('c', s->ctl_major, rule, sizeof(rule)));
	printf("               %s (partitions: the extended block major, shared with other drivers)\n",
	       lns_fmt_cgroup_rule('b', LNS_BLKEXT_MAJOR, rule, sizeof(rule)));
}

int lns_cmd_status(const struct lns_args *a)
{
	struct lns_status s;
	int rc = LNS_EXIT_OK;

	cmd_status_gather(&s);
	if (!lns_has(a, LNS_O_JSON)) {
		cmd_status_print(&s);
	} else if (lns_status_json(&s, stdout)) {
		lns_err("status: out of memory");
		rc = LNS_EXIT_FAIL;
	}
	free(s.insts);
	if (!s.loaded && !lns_has(a, LNS_O_JSON))
		lns_not_loaded();
	return !rc && !s.loaded ? LNS_EXIT_NOMODULE : rc;
}

/* ------------------------------------------------------------ load */

/* Write @text to @path. Return: 0 or -errno (of open or write). */
static int cmd_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int e = fd < 0 || write(fd, text, strlen(text)) < 0 ? -errno : 0;

	if (fd >= 0)
		close(fd);
	return e;
}

static int cmd_set_param(const char *assign)
{
	int len = (int)(strchr(assign, '=') - assign);
	char path[PATH_MAX];
	int e;

	snprintf(path, sizeof(path), "/sys/module/loopns/parameters/%.*s",
		 len, assign);
	e = -cmd_write_file(path, assign + len + 1);
	if (!e)
		return LNS_EXIT_OK;
	if (e == ENOENT) {
		lns_err("load: loopns has no parameter '%.*s'", len, assign);
		return LNS_EXIT_USAGE;
	}
	if (e != EACCES && e != EPERM) {
		lns_err("load: %s: invalid value '%s' (%s)", assign,
			assign + len + 1, strerror(e));
		return LNS_EXIT_FAIL;
	}
	lns_err("load: parameter '%.*s' cannot be changed at run time%s", len,
		assign, geteuid() ? " (run as root)" :
		": unload the module and load it with the parameter");
	return lns_errno_exit(e);
}

int lns_cmd_load(const struct lns_args *a)
{
	struct kmod_ctx *ctx = cmd_kmod_ctx();
	struct kmod_module *mod;
	char opts[4096] = "", ver[128];
	size_t used = 0;
	int i, err, rc = LNS_EXIT_OK;

	if (!ctx)
		return LNS_EXIT_FAIL;
	mod = cmd_kmod_lookup(ctx);
	if (!mod) {
		struct utsname uts;

		uname(&uts);
		lns_err("module loopns is not installed for kernel %s (install loopns-dkms)",
			uts.release);
		kmod_unref(ctx);
		return LNS_EXIT_NOTFOUND;
	}
	if (kmod_module_get_initstate(mod) == KMOD_MODULE_LIVE) {
		for (i = 0; i < a->npos && rc == LNS_EXIT_OK; i++)
			rc = cmd_set_param(a->pos[i]);
		if (!a->npos)
			printf("loopns is already loaded\n");
		kmod_module_unref(mod);
		kmod_unref(ctx);
		return rc;
	}
	for (i = 0; i < a->npos; i++)
		used += (size_t)snprintf(opts + used,
					 used < sizeof(opts) ? sizeof(opts) - used : 0,
					 "%s%s", i ? " " : "", a->pos[i]);
	err = kmod_module_probe_insert_module(mod, 0, a->npos ? opts : NULL,
					      NULL, NULL, NULL);
	if (err < 0) {
		err = -err;
		if (err == EPERM || err == EACCES)
			lns_err("load: permission denied: loading a module needs root (CAP_SYS_MODULE)");
		else if (err == EINVAL || err == ENOENT)
			lns_err("load: the kernel refused loopns (%s): see dmesg (bad parameter, or built for another kernel?)",
				strerror(err));
		else
			lns_err("load: %s", strerror(err));
		rc = lns_errno_exit(err);
		if (rc == LNS_EXIT_NOTFOUND)
			rc = LNS_EXIT_FAIL;
	} else if (err > 0) {
		lns_err("load: loopns is blacklisted or has an install command that failed");
		rc = LNS_EXIT_FAIL;
	} else {
		printf("loaded loopns %s, block major %d\n",
		       cmd_kmod_info(mod, "version", ver, sizeof(ver)) ?: "",
		       lns_major('b'));
	}
	kmod_module_unref(mod);
	kmod_unref(ctx);
	return rc;
}

int lns_cmd_unload(const struct lns_args *a)
{
	struct kmod_ctx *ctx = cmd_kmod_ctx();
	struct kmod_module *mod = NULL;
	int err, rc = LNS_EXIT_OK;

	(void)a;
	if (!ctx)
		return LNS_EXIT_FAIL;
	if (kmod_module_new_from_name(ctx, LNS_MODNAME, &mod) < 0 ||
	    kmod_module_get_initstate(mod) < 0) {
		lns_err("unload: module loopns is not loaded");
		rc = LNS_EXIT_NOMODULE;
		goto out;
	}
	err = kmod_module_remove_module(mod, 0);
	if (err < 0) {
		err = -err;
		if (err == EBUSY || err == EAGAIN) {
			lns_err("unload: module loopns is in use (%d devices on the system): unmount every instance first",
				lns_sys_disk_count(NULL));
			err = EBUSY;
		}
		else if (err == EPERM)
			lns_err("unload: permission denied (needs root)");
		else
			lns_err("unload: %s", strerror(err));
		rc = lns_errno_exit(err);
	}
out:
	if (mod)
		kmod_module_unref(mod);
	kmod_unref(ctx);
	return rc;
}

/* ------------------------------------------------------------ mount */

static int cmd_resolve_id(const char *s, bool group, uint32_t *out)
{
	struct passwd *p;
	struct group *g;
	uint64_t v;

	if (!lns_parse_u64(s, &v) && v < UINT32_MAX) {
		*out = (uint32_t)v;
		return 0;
	}
	p = group ? NULL : getpwnam(s);
	g = group ? getgrnam(s) : NULL;
	if (p || g) {
		*out = p ? p->pw_uid : g->gr_gid;
		return 0;
	}
	lns_err("--%s %s: no such %s", group ? "gid" : "uid", s,
		group ? "group" : "user");
	return -1;
}

/* "max=..,uid=..,gid=..,mode=.." from the options; -1 on a bad name */
static int cmd_mount_data(const struct lns_args *a, char *buf, size_t len)
{
	uint32_t uid = 0, gid = 0;

	if (a->uid && cmd_resolve_id(a->uid, false, &uid))
		return -1;
	if (a->gid && cmd_resolve_id(a->gid, true, &gid))
		return -1;
	lns_fmt_mount_opts(a, uid, a->uid, gid, a->gid, buf, len);
	return 0;
}

/* mount(2) of @dir; on failure print the cause. Return: the exit status. */
static int cmd_mount_call(const char *dir, unsigned long flags,
			  const char *data)
{
	const char *src = flags & MS_REMOUNT ? NULL : LNS_FSTYPE;
	int e;

	if (!mount(src, dir, src, flags, data))
		return LNS_EXIT_OK;
	e = errno;
	if (e == ENODEV)
		return lns_not_loaded();
	if (e == EPERM)
		lns_err("%s: permission denied: mounting an instance needs CAP_SYS_ADMIN (root, or root of a user namespace owning the mount namespace)",
			dir);
	else if (e == EINVAL)
		lns_err("%s: the kernel rejected the mount options", dir);
	else
		lns_err("%s: %s", dir, strerror(e));
	return lns_errno_exit(e);
}

/* MS_REMOUNT keeping the mount's own flags (nosuid, noexec, ...). */
static int cmd_do_remount(const char *dir, const char *data)
{
	static const struct { unsigned long st, ms; } map[] = {
		{ ST_RDONLY, MS_RDONLY }, { ST_NOSUID, MS_NOSUID },
		{ ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
		{ ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
		{ ST_RELATIME, MS_RELATIME },
	};
	unsigned long flags = MS_REMOUNT;
	struct statvfs sv;
	size_t i;
	int rc = lns_need_instance("", dir);

	if (rc)
		return rc;
	if (statvfs(dir, &sv) == 0)
		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (sv.f_flag & map[i].st)
				flags |= map[i].ms;
	return cmd_mount_call(dir, flags, data);
}

int lns_cmd_mount(const struct lns_args *a)
{
	const char *dir = a->pos[0];
	char data[256];
	struct stat st;

	if (cmd_mount_data(a, data, sizeof(data)))
		return LNS_EXIT_USAGE;
	if (lns_has(a, LNS_O_REMOUNT))
		return cmd_do_remount(dir, data);
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT || mkdir(dir, 0755) < 0)
			return lns_syserr(dir);
	} else if (!S_ISDIR(st.st_mode)) {
		lns_err("%s: not a directory", dir);
		return LNS_EXIT_USAGE;
	}
	return cmd_mount_call(dir, MS_NOSUID, data);
}

int lns_cmd_umount(const struct lns_args *a)
{
	const char *dir = a->pos[0];
	int rc = lns_need_instance("", dir);

	if (rc)
		return rc;
	if (umount2(dir, lns_has(a, LNS_O_LAZY) ? MNT_DETACH : 0) < 0) {
		int e = errno;

		if (e == EBUSY)
			lns_err("%s: busy (a device or loop-control of the instance is open here, or a mount is on top); try --lazy",
				dir);
		else if (e == EINVAL)
			lns_err("%s: not a mount point (the instance is mounted elsewhere)",
				dir);
		else
			lns_err("%s: %s", dir, strerror(e));
		return lns_errno_exit(e);
	}
	return LNS_EXIT_OK;
}

/* ------------------------------------------------------------ attach */

/* Open IMAGE; may downgrade to read-only like losetup. */
static int cmd_open_image(const char *image, bool *ro)
{
	int fd = open(image, (*ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);

	if (fd < 0 && !*ro && (errno == EROFS || errno == EACCES || errno == EPERM)) {
		fd = open(image, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			fprintf(stderr, "%s: %s: write access denied, attaching read-only\n",
				LNS_PROG, image);
			*ro = true;
		}
	}
	if (fd < 0) {
		int e = errno;

		lns_err("%s: %s", image, strerror(e));
		return -e;
	}
	return fd;
}

static void cmd_fill_config(const struct lns_args *a, const char *image,
			    int imgfd, bool ro, struct loop_config *cfg)
{
	char real[PATH_MAX];

	memset(cfg, 0, sizeof(*cfg));
	cfg->fd = (uint32_t)imgfd;
	cfg->block_size = a->block_size;
	cfg->info.lo_offset = a->offset;
	cfg->info.lo_sizelimit = a->sizelimit;
	if (ro)
		cfg->info.lo_flags |= LO_FLAGS_READ_ONLY;
	if (lns_has(a, LNS_O_PARTSCAN))
		cfg->info.lo_flags |= LO_FLAGS_PARTSCAN;
	if (lns_has(a, LNS_O_DIRECT_IO))
		cfg->info.lo_flags |= LO_FLAGS_DIRECT_IO;
	if (!realpath(image, real))
		snprintf(real, sizeof(real), "%s", image);
	snprintf((char *)cfg->info.lo_file_name, LO_NAME_SIZE, "%s", real);
}

static int cmd_configure_error(const char *image, const struct lns_args *a,
			       int e)
{
	switch (e) {
	case EINVAL:
		if (a->block_size)
			lns_err("%s: invalid settings (block size %u must suit the backing file and page size; offset %llu must be a multiple of it)",
				image, a->block_size, (unsigned long long)a->offset);
		else if (lns_has(a, LNS_O_DIRECT_IO))
			lns_err("%s: invalid settings (direct I/O needs an offset aligned to the backing file's block size)",
				image);
		else
			lns_err("%s: the kernel refused it as backing file (loop cycle, or a file it cannot do I/O on)",
				image);
		break;
	case EBADF:
		lns_err("%s: not usable as backing file (EBADF: a loop device cycle, or not a regular file or block device)",
			image);
		break;
	case EFBIG:
		lns_err("%s: offset or size limit beyond the backing file", image);
		break;
	default:
		lns_err("%s: %s", image, strerror(e));
	}
	return lns_errno_exit(e);
}

static int cmd_open_control(const char *inst)
{
	char ctl[PATH_MAX];
	int fd;

	snprintf(ctl, sizeof(ctl), "%s/loop-control", inst);
	fd = open(ctl, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if (e == EACCES)
			lns_err("%s: permission denied (see the instance's uid=, gid=, mode= options)",
				ctl);
		else
			lns_err("%s: %s", ctl, strerror(e));
		return -e;
	}
	return fd;
}

/* Run @argv; @how starts the message if it cannot. Return: 127 or 126. */
static int cmd_exec(const char *how, char *const *argv)
{
	int e;

	fflush(NULL);
	execvp(argv[0], argv);
	e = errno;
	lns_err("%s%s: %s", how, argv[0], strerror(e));
	return e == ENOENT ? LNS_EXIT_NOCMD : LNS_EXIT_NOEXEC;
}

static int cmd_attach_ephemeral(const struct lns_args *a, const char *inst,
				int ctl, struct loop_config *cfg)
{
	struct loopns_attach at;
	char node[PATH_MAX], buf[32];
	int fd, e;

	memset(&at, 0, sizeof(at));
	at.config = *cfg;
	at.flags = LOOPNS_ATTACH_CLOEXEC;
	fd = ioctl(ctl, LOOPNS_CTL_ATTACH, &at);
	if (fd < 0) {
		e = errno;
		if (e == ENOSPC)
			lns_explain_enospc(inst);
		else if (e == ENOSYS || e == ENOTTY)
			lns_err("%s: this loopns module has no LOOPNS_CTL_ATTACH (too old?)",
				inst);
		else
			return cmd_configure_error(a->pos[0], a, e);
		return lns_errno_exit(e);
	}
	close(ctl);
	close((int)cfg->fd);
	if (fd != a->fd) {
		if (dup2(fd, a->fd) < 0) {
			lns_err("dup2: %s", strerror(errno));
			return LNS_EXIT_CANNOT_RUN;
		}
		close(fd);
	} else {
		fcntl(fd, F_SETFD, 0);
	}
	lns_node_path(inst, at.index, node, sizeof(node));
	setenv("LOOPNS_DEVICE", node, 1);
	snprintf(buf, sizeof(buf), "%d", at.index);
	setenv("LOOPNS_INDEX", buf, 1);
	snprintf(buf, sizeof(buf), "%d", a->fd);
	setenv("LOOPNS_FD", buf, 1);
	setenv("LOOPNS_DIR", inst, 1);
	return cmd_exec("", a->argv);
}

/*
 * One try: LOOP_CONFIGURE of the device LOOP_CTL_GET_FREE gives. Return:
 * its index, -1 when another process took or deleted it first (try
 * again), or -2 - exit status after printing the cause.
 */
static int cmd_attach_try(const struct lns_args *a, const char *inst, int ctl,
			  const struct loop_config *cfg)
{
	char node[PATH_MAX + 32];
	int n = ioctl(ctl, LOOP_CTL_GET_FREE), dev, e;

	if (n < 0) {
		e = errno;
		if (e == ENOSPC)
			lns_explain_enospc(inst);
		else
			lns_err("%s/loop-control: LOOP_CTL_GET_FREE: %s", inst,
				strerror(e));
		return -2 - lns_errno_exit(e);
	}
	snprintf(node, sizeof(node), "%s/loop%d", inst, n);
	dev = open(node, O_RDWR | O_CLOEXEC);
	if (dev < 0 && (errno == EACCES || errno == EROFS) &&
	    (cfg->info.lo_flags & LO_FLAGS_READ_ONLY))
		dev = open(node, O_RDONLY | O_CLOEXEC);
	if (dev < 0) {
		e = errno;
		if (e == ENOENT || e == ENXIO)
			return -1;
		lns_err("%s: %s", node, strerror(e));
		return -2 - lns_errno_exit(e);
	}
	if (ioctl(dev, LOOP_CONFIGURE, cfg) < 0) {
		e = errno;
		close(dev);
		if (e == EBUSY || e == ENXIO)
			return -1;
		return -2 - cmd_configure_error(a->pos[0], a, e);
	}
	close(dev);
	return n;
}

/*
 * GET_FREE then LOOP_CONFIGURE. Another process may take the device in
 * between (EBUSY from CONFIGURE) or delete it (ENOENT/ENXIO when opening
 * the node): ask for another free device.
 */
static int cmd_attach_free(const struct lns_args *a, const char *inst, int ctl,
			   const struct loop_config *cfg)
{
	char node[PATH_MAX + 32];
	int attempt;

	for (attempt = 0; attempt < CMD_ATTACH_RETRIES; attempt++) {
		int n = cmd_attach_try(a, inst, ctl, cfg);

		if (n == -1)
			continue;
		if (n < 0)
			return -2 - n;
		lns_node_path(inst, n, node, sizeof(node));
		printf("%s\n", node);
		return LNS_EXIT_OK;
	}
	lns_err("%s: gave up after %d attempts: other processes kept taking the free device",
		inst, CMD_ATTACH_RETRIES);
	return LNS_EXIT_BUSY;
}

int lns_cmd_attach(const struct lns_args *a)
{
	const char *image = a->pos[0];
	char inst[PATH_MAX];
	struct loop_config cfg;
	bool ro = lns_has(a, LNS_O_READ_ONLY);
	int rc, img, ctl;

	rc = lns_resolve_instance(a->instance, inst, sizeof(inst));
	if (rc)
		return rc;
	img = cmd_open_image(image, &ro);
	if (img < 0)
		return lns_errno_exit(-img);
	ctl = cmd_open_control(inst);
	if (ctl < 0) {
		close(img);
		return lns_errno_exit(-ctl);
	}
	cmd_fill_config(a, image, img, ro, &cfg);
	if (lns_has(a, LNS_O_EPHEMERAL)) {
		/* returns only on failure: the codes of attach, or 126/127 */
		rc = cmd_attach_ephemeral(a, inst, ctl, &cfg);
		if (!rc)
			rc = LNS_EXIT_FAIL;
	} else {
		rc = cmd_attach_free(a, inst, ctl, &cfg);
	}
	close(ctl);
	close(img);
	return rc;
}

/* ------------------------------------------------------------ detach, resize */

/*
 * ioctl @req (LOOP_CLR_FD or LOOP_SET_CAPACITY) on the device at @node,
 * then its size into @size unless NULL. @all (detach --all): @node is an
 * instance's, and a device deleted or detached meanwhile is no error.
 */
static int cmd_node_ioctl(const char *node, unsigned long req, bool all,
			  uint64_t *size)
{
	const char *name = req == LOOP_CLR_FD ? "LOOP_CLR_FD" : "LOOP_SET_CAPACITY";
	int fd, rc, e;

	if (all) {
		fd = open(node, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT || errno == ENXIO ? LNS_EXIT_OK :
			       lns_syserr(node);
	} else {
		rc = lns_check_node(node, O_RDONLY, &fd);
		if (rc)
			return rc;
	}
	e = ioctl(fd, req, 0) < 0 ? errno : 0;
	if (!e && size && ioctl(fd, BLKGETSIZE64, size) < 0) {
		e = errno;
		name = "BLKGETSIZE64";
	}
	close(fd);
	if (!e || (all && e == ENXIO))
		return LNS_EXIT_OK;
	if (e == ENXIO)
		lns_err("%s: not attached", node);
	else if (e == EBUSY && req == LOOP_CLR_FD)
		lns_err("%s: busy (still open elsewhere)", node);
	else
		lns_err("%s: %s: %s", node, name, strerror(e));
	return lns_errno_exit(e);
}

int lns_cmd_detach(const struct lns_args *a)
{
	struct lns_devinfo *devs;
	char inst[PATH_MAX];
	int i, n, rc = LNS_EXIT_OK, r;

	for (i = 0; i < a->npos; i++) {
		r = cmd_node_ioctl(a->pos[i], LOOP_CLR_FD, false, NULL);
		if (r && !rc)
			rc = r;
	}
	if (!lns_has(a, LNS_O_ALL))
		return rc;
	rc = lns_resolve_instance(a->instance, inst, sizeof(inst));
	if (rc)
		return rc;
	n = lns_instance_devices(inst, &devs);
	if (n < 0) {
		lns_err("%s: %s", inst, strerror(-n));
		return lns_errno_exit(-n);
	}
	for (i = 0; i < n; i++) {
		r = devs[i].bound ? cmd_node_ioctl(devs[i].node, LOOP_CLR_FD, true,
						   NULL) : 0;
		if (r && !rc)
			rc = r;
	}
	free(devs);
	return rc;
}

int lns_cmd_resize(const struct lns_args *a)
{
	uint64_t size = 0;
	int rc = cmd_node_ioctl(a->pos[0], LOOP_SET_CAPACITY, false, &size);

	if (!rc)
		printf("%llu\n", (unsigned long long)size);
	return rc;
}

/* ------------------------------------------------------------ list */

/* The instances `list` shows: --instance DIR, or all visible ones. */
static int cmd_list_instances(const struct lns_args *a,
			      struct lns_instance_info **insts, int *n)
{
	if (a->instance) {
		*insts = calloc(1, sizeof(**insts));
		if (!*insts)
			return LNS_EXIT_FAIL;
		*n = 1;
		return lns_resolve_instance(a->instance, (*insts)->path,
					    sizeof((*insts)->path));
	}
	*n = lns_instances(insts);
	if (*n < 0) {
		lns_err("/proc/self/mountinfo: %s", strerror(-*n));
		return LNS_EXIT_FAIL;
	}
	return !*n && lns_major('b') < 0 ? lns_not_loaded() : LNS_EXIT_OK;
}

/* Add the devices of @inst to @tb (unbound ones with --all). */
static int cmd_list_add(struct libscols_table *tb, const char *inst, bool all)
{
	struct lns_devinfo *devs;
	int n = lns_instance_devices(inst, &devs), k, rc = LNS_EXIT_OK;

	if (n < 0) {
		lns_err("%s: %s", inst, strerror(-n));
		return LNS_EXIT_FAIL;
	}
	for (k = 0; k < n && !rc; k++) {
		if (!all && !devs[k].bound)
			continue;
		if (lns_list_add(tb, &devs[k]) < 0) {
			lns_err("list: out of memory");
			rc = LNS_EXIT_FAIL;
		}
	}
	free(devs);
	return rc;
}

int lns_cmd_list(const struct lns_args *a)
{
	struct lns_instance_info *insts = NULL;
	struct libscols_table *tb;
	int ninst = 0, i, rc;

	rc = cmd_list_instances(a, &insts, &ninst);
	tb = rc ? NULL : lns_list_table(lns_has(a, LNS_O_JSON));
	if (!rc && !tb) {
		lns_err("list: out of memory");
		rc = LNS_EXIT_FAIL;
	}
	for (i = 0; tb && i < ninst; i++) {
		int r = cmd_list_add(tb, insts[i].path, lns_has(a, LNS_O_ALL));

		if (r && !rc)
			rc = r;
	}
	if (tb)
		scols_print_table(tb);
	scols_unref_table(tb);
	free(insts);
	return rc;
}

/* ------------------------------------------------------------ setup-dev */

/**
 * struct cmd_devdir - what setup-dev builds
 * @dir: the /dev directory
 * @dfd: it, open
 * @max: links loop0..loop(max-1)
 * @parts: links loopNp1..loopNp(parts)
 * @force: replace foreign entries
 */
struct cmd_devdir {
	const char *dir;
	int dfd;
	uint32_t max;
	uint32_t parts;
	bool force;
};

/*
 * Make @name in the /dev directory a link to loopns/@name, or with !@make
 * only check that this can be done: @name is that link already, absent,
 * or (--force) a file to replace.
 */
static int cmd_link(const struct cmd_devdir *dd, const char *name, bool make)
{
	char target[96], buf[PATH_MAX];
	ssize_t n;
	struct stat st;

	snprintf(target, sizeof(target), LNS_DEVDIR_NAME "/%s", name);
	n = readlinkat(dd->dfd, name, buf, sizeof(buf) - 1);
	buf[n >= 0 ? n : 0] = 0;
	if ((n >= 0 && !strcmp(buf, target)) || (!make && n < 0 && errno == ENOENT))
		return 0;
	if (!make && !fstatat(dd->dfd, name, &st, AT_SYMLINK_NOFOLLOW) &&
	    S_ISDIR(st.st_mode)) {
		lns_err("%s/%s is a directory; remove it first", dd->dir, name);
		return LNS_EXIT_BUSY;
	}
	if (!make && !dd->force) {
		lns_err("%s/%s exists and is not a loopns link (use --force to replace it)",
			dd->dir, name);
		return LNS_EXIT_BUSY;
	}
	if (make && ((unlinkat(dd->dfd, name, 0) < 0 && errno != ENOENT) ||
		     symlinkat(target, dd->dfd, name) < 0)) {
		int e = errno;

		lns_err("%s/%s: %s%s", dd->dir, name, strerror(e),
			e == ENOSPC ? " (the tmpfs is full: give it more inodes, or a smaller --max or --partitions)" : "");
		return lns_errno_exit(e);
	}
	return 0;
}

/* cmd_link() for each link setup-dev wants, up to the first failure. */
static int cmd_links(const struct cmd_devdir *dd, bool make)
{
	char name[64];
	uint32_t n, m;
	int r = cmd_link(dd, "loop-control", make);

	for (n = 0; !r && n < dd->max; n++) {
		snprintf(name, sizeof(name), "loop%u", n);
		r = cmd_link(dd, name, make);
		for (m = 1; !r && m <= dd->parts; m++) {
			snprintf(name, sizeof(name), "loop%up%u", n, m);
			r = cmd_link(dd, name, make);
		}
	}
	return r;
}

/* Remove every link into loopns/ (whatever --max made them). */
static int cmd_setup_dev_remove(const char *dir)
{
	char inst[PATH_MAX], buf[PATH_MAX];
	struct dirent *de;
	int dfd, r, rc = LNS_EXIT_OK;
	DIR *d;

	snprintf(inst, sizeof(inst), "%s/" LNS_DEVDIR_NAME, dir);
	d = opendir(dir);
	if (!d)
		return lns_syserr(dir);
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		ssize_t n;

		if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
			continue;
		n = readlinkat(dfd, de->d_name, buf, sizeof(buf) - 1);
		if (n < 0)
			continue;
		buf[n] = 0;
		if (!strncmp(buf, LNS_DEVDIR_NAME "/", strlen(LNS_DEVDIR_NAME) + 1) &&
		    (!strcmp(de->d_name, "loop-control") ||
		     !strncmp(de->d_name, "loop", 4)))
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(d);
	r = lns_is_instance_root(inst);
	if (r > 0 && umount2(inst, MNT_DETACH) < 0)
		rc = lns_syserr(inst);
	if (r >= 0 && rmdir(inst) < 0 && errno != ENOENT && errno != EBUSY)
		rc = lns_syserr(inst);
	return rc;
}

/*
 * The number of loopN links: --max, else the max= of the instance already
 * at DIR/loopns (@mounted) or of --instance. Return: an exit status.
 */
static int cmd_setup_dev_max(const struct lns_args *a, const char *inst,
			     bool mounted, struct cmd_devdir *dd)
{
	struct lns_instance_info info;
	int rc;

	if (mounted && !lns_has(a, LNS_O_MAX) && !lns_instance_info_of(inst, &info))
		dd->max = (uint32_t)info.max;	/* keep what is there */
	if (!a->instance)
		return LNS_EXIT_OK;
	rc = lns_need_instance("--instance ", a->instance);
	if (rc)
		return rc;
	if (!lns_instance_info_of(a->instance, &info))
		dd->max = (uint32_t)info.max;
	return LNS_EXIT_OK;
}

/* A new instance at @inst (or a bind mount of --instance). */
static int cmd_setup_dev_mount(const struct lns_args *a, const char *inst,
			       const struct cmd_devdir *dd)
{
	struct lns_args ma = *a;
	char data[256];

	if (mkdirat(dd->dfd, LNS_DEVDIR_NAME, 0755) < 0 && errno != EEXIST)
		return lns_syserr(inst);
	if (a->instance) {
		if (mount(a->instance, inst, NULL, MS_BIND, NULL) < 0) {
			lns_err("%s: bind mount of %s: %s", inst, a->instance,
				strerror(errno));
			return lns_errno_exit(errno);
		}
		return LNS_EXIT_OK;
	}
	ma.max = dd->max;
	ma.set |= LNS_BIT(LNS_O_MAX);
	if (cmd_mount_data(&ma, data, sizeof(data)))
		return LNS_EXIT_USAGE;
	return cmd_mount_call(inst, MS_NOSUID, data);
}

/* The instance already at @inst: make its max= match the links. */
static int cmd_setup_dev_remount(const struct lns_args *a, const char *inst)
{
	struct lns_args ma = *a;
	char data[256];

	if (!lns_has(a, LNS_O_MAX) || a->instance)
		return LNS_EXIT_OK;
	ma.set &= ~(LNS_BIT(LNS_O_UID) | LNS_BIT(LNS_O_GID) | LNS_BIT(LNS_O_MODE));
	ma.uid = ma.gid = NULL;
	if (cmd_mount_data(&ma, data, sizeof(data)))
		return LNS_EXIT_OK;
	return cmd_do_remount(inst, data);
}

/**
 * lns_setup_dev() - prepare a /dev for unmodified util-linux (setup-dev;
 *                   also the OCI hook's)
 * @a: options (--max, --partitions, --instance, --uid, --gid, --mode,
 *     --force)
 * @dir: the /dev directory
 *
 * Return: an exit status.
 */
int lns_setup_dev(const struct lns_args *a, const char *dir)
{
	struct cmd_devdir dd = {
		.dir = dir,
		.max = lns_has(a, LNS_O_MAX) ? a->max : LNS_SETUP_DEV_MAX,
		.parts = lns_has(a, LNS_O_PARTITIONS) ? a->partitions :
			 LNS_SETUP_DEV_PARTS,
		.force = lns_has(a, LNS_O_FORCE),
	};
	char inst[PATH_MAX];
	struct stat st;
	int r, rc;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		lns_err("%s: %s", dir, errno ? strerror(errno) : "not a directory");
		return LNS_EXIT_NOTFOUND;
	}
	snprintf(inst, sizeof(inst), "%s/" LNS_DEVDIR_NAME, dir);
	dd.dfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dd.dfd < 0)
		return lns_syserr(dir);
	r = lns_is_instance_root(inst);
	rc = cmd_setup_dev_max(a, inst, r > 0, &dd);
	/* Check every entry before changing anything. */
	if (!rc)
		rc = cmd_links(&dd, false);
	if (!rc && r <= 0)
		rc = cmd_setup_dev_mount(a, inst, &dd);
	else if (!rc)
		rc = cmd_setup_dev_remount(a, inst);
	if (!rc)
		rc = cmd_links(&dd, true);
	close(dd.dfd);
	return rc;
}

int lns_cmd_setup_dev(const struct lns_args *a)
{
	if (lns_has(a, LNS_O_REMOVE))
		return cmd_setup_dev_remove(a->pos[0]);
	return lns_setup_dev(a, a->pos[0]);
}

/* ------------------------------------------------------------ run */

static int cmd_enter_userns(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int e;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		e = errno;
		lns_err("run: cannot create a user namespace: %s%s", strerror(e),
			e == EPERM || e == ENOSPC ?
			" (unprivileged user namespaces disabled? see user.max_user_namespaces)" : "");
		return -1;
	}
	cmd_write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned int)uid);
	if ((e = cmd_write_file("/proc/self/uid_map", map))) {
		lns_err("run: uid_map: %s", strerror(-e));
		return -1;
	}
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned int)gid);
	if ((e = cmd_write_file("/proc/self/gid_map", map))) {
		lns_err("run: gid_map: %s", strerror(-e));
		return -1;
	}
	return 0;
}

/*
 * Bind /dev/<name> of the old /dev (open as @old), a node or a directory,
 * into the new one; copy it if it is a symbolic link.
 */
static void cmd_bind_old_dev(int old, const char *name)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	if (fstatat(old, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	snprintf(dst, sizeof(dst), "/dev/%s", name);
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(old, name, src, sizeof(src) - 1);
		src[n > 0 ? n : 0] = 0;
		if (n > 0 && symlink(src, dst) < 0)
			lns_err("run: %s: %s", dst, strerror(errno));
		return;
	}
	fd = S_ISDIR(st.st_mode) ? mkdir(dst, 0755) :
	     open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (!S_ISDIR(st.st_mode))
		close(fd);
	snprintf(src, sizeof(src), "/proc/self/fd/%d/%s", old, name);
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		remove(dst);
}

/* A private /dev: a tmpfs with the usual nodes and the instance. */
static int cmd_private_dev(const struct lns_args *a)
{
	static const char *const nodes[] = {
		"null", "zero", "full", "random", "urandom", "tty", "ptmx",
		"console", "fuse", "kmsg", "net", "kvm", "pts", "shm", "mqueue",
		"hugepages",
	};
	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
		{ "core", "/proc/kcore" },
	};
	struct lns_args sa = *a;
	size_t i;
	int old, rc;

	old = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (old < 0) {
		lns_err("run: /dev: %s", strerror(errno));
		return LNS_EXIT_CANNOT_RUN;
	}
	if (mount("loopnsdev", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
		  "mode=0755") < 0) {
		lns_err("run: tmpfs on /dev: %s", strerror(errno));
		close(old);
		return LNS_EXIT_CANNOT_RUN;
	}
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		cmd_bind_old_dev(old, nodes[i]);
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char dst[64];

		snprintf(dst, sizeof(dst), "/dev/%s", links[i][0]);
		if (symlink(links[i][1], dst) < 0 && errno != EEXIST)
			lns_err("run: %s: %s", dst, strerror(errno));
	}
	close(old);
	sa.instance = NULL;
	sa.set &= ~(LNS_BIT(LNS_O_INSTANCE) | LNS_BIT(LNS_O_FORCE));
	rc = lns_setup_dev(&sa, "/dev");
	if (rc)
		return LNS_EXIT_CANNOT_RUN;
	setenv("LOOPNS_DIR", "/dev/" LNS_DEVDIR_NAME, 1);
	return LNS_EXIT_OK;
}

/* A new mount namespace (and user namespace) whose mounts stay in it. */
static int cmd_run_unshare(bool userns)
{
	int e;

	if (userns && lns_major('b') < 0) {
		/* the mount would autoload it only for root */
		lns_not_loaded();
		return LNS_EXIT_CANNOT_RUN;
	}
	if (userns) {
		if (cmd_enter_userns())
			return LNS_EXIT_CANNOT_RUN;
	} else if (unshare(CLONE_NEWNS) < 0) {
		e = errno;
		lns_err("run: cannot create a mount namespace: %s%s", strerror(e),
			e == EPERM ? " (needs root, or try --userns)" : "");
		return LNS_EXIT_CANNOT_RUN;
	}
	/* Nothing mounted from here on propagates out. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		lns_err("run: making mounts private: %s", strerror(errno));
		return LNS_EXIT_CANNOT_RUN;
	}
	return LNS_EXIT_OK;
}

/* run --dir DIR: the instance at DIR, /dev left alone. */
static int cmd_run_dir(const struct lns_args *a, const char *dir)
{
	struct lns_args ma = *a;
	char data[256];
	struct stat st;

	if (stat(dir, &st) < 0 && (errno != ENOENT || mkdir(dir, 0755) < 0)) {
		lns_err("run: %s: %s", dir, strerror(errno));
		return LNS_EXIT_CANNOT_RUN;
	}
	ma.max = lns_has(a, LNS_O_MAX) ? a->max : LNS_SETUP_DEV_MAX;
	ma.set |= LNS_BIT(LNS_O_MAX);
	lns_fmt_mount_opts(&ma, 0, false, 0, false, data, sizeof(data));
	if (cmd_mount_call(dir, MS_NOSUID, data))
		return LNS_EXIT_CANNOT_RUN;
	setenv("LOOPNS_DIR", dir, 1);
	return LNS_EXIT_OK;
}

int lns_cmd_run(const struct lns_args *a)
{
	const char *dir = a->dir;
	char *shell_argv[2];
	char *const *argv = a->argv;
	int rc;

	if (!dir) {
		dir = getenv("LOOPNS_DIR");
		if (dir && !*dir)
			dir = NULL;
	}
	if (!argv) {
		const char *sh = getenv("SHELL");

		shell_argv[0] = (char *)(sh && *sh ? sh : "/bin/sh");
		shell_argv[1] = NULL;
		argv = shell_argv;
	}
	rc = cmd_run_unshare(lns_has(a, LNS_O_USERNS) || geteuid() != 0);
	if (!rc)
		rc = dir ? cmd_run_dir(a, dir) : cmd_private_dev(a);
	return rc ? rc : cmd_exec("run: ", argv);
}
