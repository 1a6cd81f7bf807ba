// SPDX-License-Identifier: GPL-2.0
/*
 * Device quotas. Anyone may create a user namespace and mount instances,
 * so the per-instance max= bounds nothing on its own. Two more limits
 * apply to every device creation:
 *   max_devices          - loopns devices in all instances together;
 *   max_devices_per_user - devices charged to one user of the initial
 *                          user namespace, across all instances and all
 *                          nested namespaces.
 * An instance is charged to the user who owns the outermost user
 * namespace below the initial one (the host user that created the
 * container), or to the mounter when it is mounted in the initial one.
 * Both limits are module parameters that host root may change at runtime.
 */
#include <linux/hashtable.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/user_namespace.h>

#include "loopns.h"

static unsigned int lns_max_devices = 4096;
module_param_named(max_devices, lns_max_devices, uint, 0644);
MODULE_PARM_DESC(max_devices,
		 "Most loopns devices in all instances together (default 4096)");

static unsigned int lns_max_devices_per_user = 1024;
module_param_named(max_devices_per_user, lns_max_devices_per_user, uint, 0644);
MODULE_PARM_DESC(max_devices_per_user,
		 "Most loopns devices charged to one host user (default 1024)");

/**
 * struct lns_quota_user - devices charged to one user
 * @node: entry in lns_quota_users
 * @uid: the user, in the initial user namespace
 * @count: devices charged
 */
struct lns_quota_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int count;
};

/* lns_quota_lock protects lns_quota_users, lns_quota_total and counts. */
static DEFINE_SPINLOCK(lns_quota_lock);
static DEFINE_HASHTABLE(lns_quota_users, 6);
static unsigned int lns_quota_total;

/**
 * lns_quota_owner() - the host user an instance is charged to
 * @user_ns: the instance's user namespace
 *
 * Return: the owner of the outermost non-initial namespace above
 * @user_ns, or the caller's euid if @user_ns is the initial namespace.
 */
kuid_t lns_quota_owner(struct user_namespace *user_ns)
{
	if (user_ns == &init_user_ns)
		return current_euid();
	while (user_ns->parent != &init_user_ns)
		user_ns = user_ns->parent;
	return user_ns->owner;
}

static struct lns_quota_user *lns_quota_find(kuid_t uid)
{
	struct lns_quota_user *u;

	hash_for_each_possible(lns_quota_users, u, node, __kuid_val(uid))
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

/**
 * lns_quota_charge() - account one more device to @uid
 * @uid: the instance's owner (see lns_quota_owner())
 *
 * Return: 0, or -ENOSPC if a limit would be exceeded (nothing is charged).
 */
int lns_quota_charge(kuid_t uid)
{
	struct lns_quota_user *u, *fresh;
	int err = 0;

	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	if (!fresh)
		return -ENOMEM;

	spin_lock(&lns_quota_lock);
	u = lns_quota_find(uid);
	if (lns_quota_total >= READ_ONCE(lns_max_devices)) {
		pr_warn_ratelimited("device limit reached (max_devices=%u)\n",
				    READ_ONCE(lns_max_devices));
		err = -ENOSPC;
	} else if (u && u->count >= READ_ONCE(lns_max_devices_per_user)) {
		pr_warn_ratelimited("device limit of uid %u reached (max_devices_per_user=%u)\n",
				    from_kuid(&init_user_ns, uid),
				    READ_ONCE(lns_max_devices_per_user));
		err = -ENOSPC;
	} else if (!READ_ONCE(lns_max_devices_per_user)) {
		err = -ENOSPC;
	} else {
		if (!u) {
			u = fresh;
			fresh = NULL;
			u->uid = uid;
			hash_add(lns_quota_users, &u->node, __kuid_val(uid));
		}
		u->count++;
		lns_quota_total++;
	}
	spin_unlock(&lns_quota_lock);
	kfree(fresh);
	return err;
}

/**
 * lns_quota_uncharge() - give back a device charged with lns_quota_charge()
 * @uid: the user it was charged to
 */
void lns_quota_uncharge(kuid_t uid)
{
	struct lns_quota_user *u;

	spin_lock(&lns_quota_lock);
	u = lns_quota_find(uid);
	if (!WARN_ON_ONCE(!u)) {
		lns_quota_total--;
		if (!--u->count) {
			hash_del(&u->node);
			kfree(u);
		}
	}
	spin_unlock(&lns_quota_lock);
}

/**
 * lns_quota_total_devices() - devices charged in all instances
 *
 * Return: the count, including orphans not yet deleted.
 */
unsigned int lns_quota_total_devices(void)
{
	return READ_ONCE(lns_quota_total);
}
