// SPDX-License-Identifier: GPL-2.0
/*
 * loopns-oci-hook - an OCI runtime hook that gives a container a private
 * loopns instance. See loopns-oci-hook(8).
 *
 * It reads the container's state (oci-hooks(5)) on stdin; when the
 * annotation io.loopns.instance is present it does what `loopnsctl
 * setup-dev ROOTFS/dev` does (lns_setup_dev()) in the container's user and
 * mount namespaces: at the createContainer stage the runtime runs it
 * there; at createRuntime (the default) it enters them from the host.
 * The instance is mounted only in the container's mount namespace, so it
 * goes away with the container.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loopnsctl.h"
#include "sys.h"

#define HOOK_ANNOTATION		"io.loopns.instance"
#define HOOK_STATE_MAX		(1 << 20)

/**
 * struct hook_ctx - what the hook learnt about the container
 * @pid: its init, in the hook's pid namespace (0: the hook runs in the
 *       container's namespaces already: createContainer)
 * @rootfs: its root directory as the runtime mounted it (before pivot_root)
 * @config: its config.json
 * @args: setup-dev options from the annotation
 * @uid: --uid storage
 * @gid: --gid storage
 */
struct hook_ctx {
	int pid;
	char rootfs[PATH_MAX];
	struct json_object *config;
	struct lns_args args;
	char uid[16];
	char gid[16];
};

static struct json_object *hook_get(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static struct json_object *hook_read_state(void)
{
	static char buf[HOOK_STATE_MAX];
	size_t n = fread(buf, 1, sizeof(buf) - 1, stdin);

	buf[n] = 0;
	return json_tokener_parse(buf);
}

/* One "key=value" of the annotation into @c->args. Return: 0 or -1. */
static int hook_opt(struct hook_ctx *c, char *kv)
{
	struct lns_args *a = &c->args;
	char *v = strchr(kv, '=');
	int r = -EINVAL;

	if (!v) {
		lns_err("oci-hook: %s=%s: \"%s\" is not KEY=VALUE", HOOK_ANNOTATION,
			kv, kv);
		return -1;
	}
	*v++ = 0;
	if (!strcmp(kv, "max")) {
		r = lns_parse_u32_range(v, 1, LNS_MAX_LIMIT, &a->max);
		a->set |= LNS_BIT(LNS_O_MAX);
	} else if (!strcmp(kv, "partitions")) {
		r = lns_parse_u32_range(v, 0, LNS_PARTS_LIMIT, &a->partitions);
		a->set |= LNS_BIT(LNS_O_PARTITIONS);
	} else if (!strcmp(kv, "mode")) {
		r = lns_parse_mode(v, &a->mode);
		a->set |= LNS_BIT(LNS_O_MODE);
	} else if (!strcmp(kv, "uid") || !strcmp(kv, "gid")) {
		uint32_t id = 0;
		char *dst = kv[0] == 'u' ? c->uid : c->gid;

		r = lns_parse_u32_range(v, 0, UINT32_MAX - 1, &id);
		snprintf(dst, sizeof(c->uid), "%u", id);
		if (kv[0] == 'u')
			a->uid = dst;
		else
			a->gid = dst;
	} else {
		lns_err("oci-hook: %s: unknown option \"%s\" (max, partitions, mode, uid, gid)",
			HOOK_ANNOTATION, kv);
		return -1;
	}
	if (r)
		lns_err("oci-hook: %s: bad %s=%s: %s", HOOK_ANNOTATION, kv, v,
			strerror(-r));
	return r ? -1 : 0;
}

/* The annotation's value ("", "1", "true" or "KEY=VALUE,..." or ";") */
static int hook_parse_opts(struct hook_ctx *c, const char *value)
{
	char buf[512], *save, *kv;

	c->args.cmd = LNS_CMD_SETUP_DEV;
	if (!*value || !strcmp(value, "1") || !strcmp(value, "true"))
		return 0;
	if (strlen(value) >= sizeof(buf)) {
		lns_err("oci-hook: %s: value too long", HOOK_ANNOTATION);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	/* ";" too: podman splits --annotation values at commas */
	for (kv = strtok_r(buf, ",;", &save); kv; kv = strtok_r(NULL, ",;", &save))
		if (hook_opt(c, kv))
			return -1;
	return 0;
}

/* The rootfs from the bundle's config.json (root.path, maybe relative). */
static int hook_rootfs(struct hook_ctx *c, const char *bundle)
{
	char path[PATH_MAX * 2];
	const char *root;

	snprintf(path, sizeof(path), "%s/config.json", bundle);
	c->config = json_object_from_file(path);
	if (!c->config) {
		lns_err("oci-hook: %s: %s", path, json_util_get_last_err() ?: "unreadable");
		return -1;
	}
	root = json_object_get_string(hook_get(hook_get(c->config, "root"), "path"));
	if (!root) {
		lns_err("oci-hook: %s: no root.path", path);
		return -1;
	}
	if (root[0] == '/')
		snprintf(path, sizeof(path), "%s", root);
	else
		snprintf(path, sizeof(path), "%s/%s", bundle, root);
	if (!realpath(path, c->rootfs)) {
		lns_err("oci-hook: root %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Whether the device rules of config.json let the container open devices
 * of @kind ("b" or "c") and @major (the last matching rule decides,
 * default deny).
 */
static bool hook_major_allowed(struct json_object *config, const char *kind,
			       int major)
{
	struct json_object *rules = hook_get(hook_get(hook_get(config, "linux"),
						      "resources"), "devices");
	bool allowed = false;
	size_t i, n;

	if (!rules)
		return true;	/* the runtime's defaults: not ours to judge */
	n = json_object_array_length(rules);
	for (i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(rules, i);
		const char *type = json_object_get_string(hook_get(r, "type"));
		const char *access = json_object_get_string(hook_get(r, "access"));
		struct json_object *maj = hook_get(r, "major");

		if (type && strcmp(type, "a") && strcmp(type, kind))
			continue;
		if (maj && json_object_get_int(maj) != major)
			continue;
		if (access && (!strchr(access, 'r') || !strchr(access, 'w')))
			continue;
		allowed = json_object_get_boolean(hook_get(r, "allow"));
	}
	return allowed;
}

/*
 * Whether config.json masks /sys/dev/block (podman does by default):
 * util-linux recognises a loop device on a major other than 7 only by
 * the name /sys/dev/block/MAJ:MIN resolves to, so `losetup -d /dev/loop0`
 * and every command naming a device fails with ENODEV there.
 */
static bool hook_masks_sys_dev_block(struct json_object *config)
{
	struct json_object *masked = hook_get(hook_get(config, "linux"),
					      "maskedPaths");
	size_t i, n = masked ? json_object_array_length(masked) : 0;

	for (i = 0; i < n; i++) {
		const char *p = json_object_get_string(json_object_array_get_idx(masked, i));

		if (p && (!strcmp(p, "/sys") || !strcmp(p, "/sys/dev") ||
			  !strcmp(p, "/sys/dev/block")))
			return true;
	}
	return false;
}

/* Say which device rule is missing: the container would get EPERM. */
static void hook_check_devices(const struct hook_ctx *c)
{
	int major = lns_major('b'), ctl = lns_major('c');
	uint64_t max_part = 0;

	if (ctl > 0 && !hook_major_allowed(c->config, "c", ctl))
		lns_err("oci-hook: warning: the container's device rules do not allow character major %d (loopns-control): add \"c %d:* rwm\" or opening /dev/loop-control fails with EPERM",
			ctl, ctl);

	if (major > 0 && !hook_major_allowed(c->config, "b", major))
		lns_err("oci-hook: warning: the container's device rules do not allow block major %d (loopns): add \"b %d:* rwm\" (podman --device-cgroup-rule, or linux.resources.devices in config.json) or opening /dev/loopN fails with EPERM",
			major, major);
	lns_read_u64("/sys/module/" LNS_MODNAME "/parameters/max_part", &max_part);
	if (major > 0 && !max_part && c->args.partitions &&
	    !hook_major_allowed(c->config, "b", LNS_BLKEXT_MAJOR))
		lns_err("oci-hook: warning: partitions take the extended major %d (max_part=0): add \"b %d:* rwm\" or partition nodes fail with EPERM",
			LNS_BLKEXT_MAJOR, LNS_BLKEXT_MAJOR);
	if (hook_masks_sys_dev_block(c->config))
		lns_err("oci-hook: warning: the container masks /sys/dev/block, where losetup recognises loop devices: losetup DEVICE fails with ENODEV (podman: add --security-opt unmask=/sys/dev/block)");
}

/* Open the container's namespace @ns; -1 (and @fd -1) if it is ours. */
static int hook_open_ns(int pid, const char *ns, int *fd)
{
	char path[64];
	struct stat mine, theirs;

	*fd = -1;
	snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
	if (stat(path, &mine) < 0)
		return lns_syserr(path);
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, &theirs) < 0)
		return lns_syserr(path);
	if (mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev) {
		close(*fd);
		*fd = -1;
	}
	return LNS_EXIT_OK;
}

/* Become root of the container's user namespace, then enter its mounts. */
static int hook_enter(const struct hook_ctx *c)
{
	int user, mnt = -1, rc;

	/* both before the first setns(): the init is not dumpable */
	rc = hook_open_ns(c->pid, "user", &user);
	if (!rc)
		rc = hook_open_ns(c->pid, "mnt", &mnt);
	if (!rc && user >= 0) {
		if (setns(user, CLONE_NEWUSER) < 0)
			rc = lns_syserr("setns(user namespace)");
		/* the mounter's root owns the instance and the links */
		else if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			lns_err("oci-hook: root of the container's user namespace: %s (is its uid 0 mapped?)",
				strerror(errno));
			rc = LNS_EXIT_PERM;
		} else {
			setgroups(0, NULL);	/* fails harmlessly where denied */
		}
	}
	if (!rc && mnt >= 0 && setns(mnt, CLONE_NEWNS) < 0)
		rc = lns_syserr("setns(mount namespace)");
	if (user >= 0)
		close(user);
	if (mnt >= 0)
		close(mnt);
	return rc;
}

/*
 * The container's /dev, refused when it is the host's own (a bind mount
 * of /dev would put the links and the instance in the host's /dev).
 */
static int hook_dev_dir(const struct hook_ctx *c, const struct stat *host_dev,
			char *out, size_t len)
{
	struct stat st;

	snprintf(out, len, "%s/dev", c->rootfs);
	if (stat(out, &st) < 0)
		return lns_syserr(out);
	if (st.st_dev == host_dev->st_dev && st.st_ino == host_dev->st_ino) {
		lns_err("oci-hook: %s is the host's /dev (privileged container?): refusing to add loop devices to it",
			out);
		return LNS_EXIT_BUSY;
	}
	/*
	 * The instance must not propagate to a peer of the container's /dev
	 * (nor be unmounted from there): make /dev private if it is a mount.
	 */
	if (mount(NULL, out, NULL, MS_PRIVATE, NULL) < 0 && errno != EINVAL)
		return lns_syserr(out);
	return LNS_EXIT_OK;
}

/*
 * Load the module as root before leaving the host's namespaces. Failing
 * is not fatal: root of a user namespace (createContainer) cannot, and
 * the mount then says the module is not loaded.
 */
static void hook_load_module(void)
{
	struct lns_args la = { .cmd = LNS_CMD_LOAD };

	if (lns_major('b') >= 0 || geteuid() != 0)
		return;
	lns_cmd_load(&la);
	fflush(stdout);
}

/* Fill @c from the state on stdin. Return: 1 to act, 0 to do nothing. */
static int hook_read(struct hook_ctx *c, bool inside)
{
	struct json_object *state = hook_read_state();
	struct json_object *ann;
	const char *bundle;
	int r = -1;

	if (!state) {
		lns_err("oci-hook: stdin is not an OCI state (JSON)");
		return -1;
	}
	ann = hook_get(hook_get(state, "annotations"), HOOK_ANNOTATION);
	bundle = json_object_get_string(hook_get(state, "bundle"));
	if (c->pid)
		c->pid = json_object_get_int(hook_get(state, "pid"));
	if (!ann)
		r = 0;
	else if (c->pid < 0 || (c->pid == 0 && !inside) || !bundle)
		lns_err("oci-hook: the state has no bundle, or no pid at createRuntime (or run me with the argument createContainer)");
	else if (!hook_parse_opts(c, json_object_get_string(ann)) &&
		 !hook_rootfs(c, bundle))
		r = 1;
	json_object_put(state);
	return r;
}

int main(int argc, char **argv)
{
	struct hook_ctx c = { .pid = 1 };
	bool inside = argc == 2 && !strcmp(argv[1], "createContainer");
	char dev[PATH_MAX + 8];
	struct stat host_dev;
	int rc;

	if (argc > 2 || (argc == 2 && !inside && strcmp(argv[1], "createRuntime"))) {
		fprintf(stderr, "Usage: %s [createRuntime | createContainer] < STATE\n",
			argv[0]);
		fputs("(an OCI runtime hook; see loopns-oci-hook(8))\n", stderr);
		return LNS_EXIT_USAGE;
	}
	if (inside)
		c.pid = 0;	/* the runtime's pid is not ours to enter */
	rc = hook_read(&c, inside);
	if (rc <= 0)
		return rc ? LNS_EXIT_FAIL : LNS_EXIT_OK;
	hook_load_module();
	rc = LNS_EXIT_OK;
	if (stat("/dev", &host_dev) < 0)
		rc = lns_syserr("/dev");
	if (!rc) {
		hook_check_devices(&c);
		if (c.pid)
			rc = hook_enter(&c);
	}
	if (!rc)
		rc = hook_dev_dir(&c, &host_dev, dev, sizeof(dev));
	if (!rc)
		rc = lns_setup_dev(&c.args, dev);
	json_object_put(c.config);
	return rc;
}
