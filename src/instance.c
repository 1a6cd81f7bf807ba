// SPDX-License-Identifier: GPL-2.0
/*
 * loopns instances: the per-superblock registry of loop devices.
 *
 * Every mount of the loopns filesystem owns one struct lns_instance. Its
 * devices are numbered from a per-instance IDR, so every instance starts
 * at loop0 and no instance can name another's devices. Control operations
 * (add, remove, get-free, the deletion of an ephemeral device) are
 * serialized by the instance's own ctl_lock, held by the caller; no VFS
 * lock is held across them. lns_instance.lock protects the registry
 * itself for readers that do not hold ctl_lock.
 */

#include <linux/capability.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>

#include "loopns.h"

/**
 * lns_instance_create() - allocate an instance
 * @user_ns: the user namespace that owns it (a reference is taken)
 *
 * Return: the instance with one reference, or NULL.
 */
struct lns_instance *lns_instance_create(struct user_namespace *user_ns)
{
	struct lns_instance *inst;

	inst = kzalloc(sizeof(*inst), GFP_KERNEL_ACCOUNT);
	if (!inst)
		return NULL;
	kref_init(&inst->kref);
	mutex_init(&inst->ctl_lock);
	mutex_init(&inst->lock);
	idr_init(&inst->devices);
	inst->max = LNS_DEFAULT_MAX;
	inst->user_ns = get_user_ns(user_ns);
	inst->owner = lns_quota_owner(user_ns);
	inst->uid = GLOBAL_ROOT_UID;
	inst->gid = GLOBAL_ROOT_GID;
	inst->mode = 0600;
	return inst;
}

/**
 * lns_instance_get() - take a reference on an instance
 * @inst: the instance
 */
void lns_instance_get(struct lns_instance *inst)
{
	kref_get(&inst->kref);
}

static void lns_instance_release(struct kref *kref)
{
	struct lns_instance *inst = container_of(kref, struct lns_instance,
						 kref);

	WARN_ON_ONCE(!idr_is_empty(&inst->devices));
	idr_destroy(&inst->devices);
	put_user_ns(inst->user_ns);
	mutex_destroy(&inst->lock);
	mutex_destroy(&inst->ctl_lock);
	kfree(inst);
}

/**
 * lns_instance_put() - drop a reference on an instance
 * @inst: the instance
 */
void lns_instance_put(struct lns_instance *inst)
{
	kref_put(&inst->kref, lns_instance_release);
}

/**
 * lns_instance_capable() - capability check scoped to an instance
 * @inst: the instance
 * @cap: the capability
 *
 * Privileged loop operations are checked against the user namespace that
 * owns the instance, not the initial one.
 *
 * Return: true if the caller has @cap over @inst.
 */
bool lns_instance_capable(struct lns_instance *inst, int cap)
{
	return ns_capable(inst->user_ns, cap);
}

static int lns_instance_reserve(struct lns_instance *inst, int index)
{
	int id;

	mutex_lock(&inst->lock);
	if (inst->dead) {
		id = -ENODEV;
	} else if (inst->nr_devices >= inst->max) {
		id = -ENOSPC;
	} else if (index >= 0) {
		id = idr_alloc(&inst->devices, NULL, index, index + 1,
			       GFP_KERNEL);
		if (id == -ENOSPC)
			id = -EEXIST;
	} else {
		id = idr_alloc(&inst->devices, NULL, 0, 0, GFP_KERNEL);
	}
	if (id >= 0)
		inst->nr_devices++;
	mutex_unlock(&inst->lock);
	return id;
}

static void lns_instance_unreserve(struct lns_instance *inst, int index)
{
	mutex_lock(&inst->lock);
	idr_remove(&inst->devices, index);
	inst->nr_devices--;
	mutex_unlock(&inst->lock);
}

/**
 * lns_instance_forget() - drop a device from its instance's registry
 * @inst: the instance
 * @dev: the device, being destroyed
 */
void lns_instance_forget(struct lns_instance *inst, struct lns_device *dev)
{
	lns_instance_unreserve(inst, dev->index);
}

/**
 * lns_instance_add() - create a device and its node
 * @inst: the instance; the caller holds its ctl_lock
 * @index: wanted index, or negative for the first free one
 * @ephemeral: for LOOPNS_CTL_ATTACH, which holds the device instead of its
 *	node until lns_device_attach_done()
 * @devp: if not NULL, set to the new device
 *
 * Return: the new index, -EEXIST if @index is taken, -ENOSPC beyond the
 * instance's max= or the global limit, or another negative errno.
 */
int lns_instance_add(struct lns_instance *inst, int index, bool ephemeral,
		     struct lns_device **devp)
{
	struct lns_device *dev;
	int err;

	lockdep_assert_held(&inst->ctl_lock);
	index = lns_instance_reserve(inst, index);
	if (index < 0)
		return index;

	dev = lns_device_create(inst, index, ephemeral);
	if (IS_ERR(dev)) {
		lns_instance_unreserve(inst, index);
		return PTR_ERR(dev);
	}

	err = lns_fs_create_node(dev);
	if (err) {
		lns_device_discard(dev);
		return err;
	}

	mutex_lock(&inst->lock);
	idr_replace(&inst->devices, dev, index);
	mutex_unlock(&inst->lock);
	if (devp)
		*devp = dev;
	return index;
}

static struct lns_device *lns_instance_find(struct lns_instance *inst,
					    int index)
{
	struct lns_device *dev;

	mutex_lock(&inst->lock);
	dev = idr_find(&inst->devices, index);
	mutex_unlock(&inst->lock);
	return dev;
}

/**
 * lns_instance_remove() - LOOP_CTL_REMOVE: take an idle device away
 * @inst: the instance; the caller holds its ctl_lock
 * @index: the device's index
 * @devp: out: the device, without its node, which the caller deletes
 *	with lns_device_destroy() after dropping ctl_lock (so that removals
 *	run in parallel, as loop's do)
 *
 * Return: 0, -EINVAL for a negative index, -ENODEV if there is no such
 * device, -EBUSY if it is bound or open.
 */
int lns_instance_remove(struct lns_instance *inst, int index,
			struct lns_device **devp)
{
	struct lns_device *dev;
	int err;

	lockdep_assert_held(&inst->ctl_lock);
	if (index < 0)
		return -EINVAL;
	dev = lns_instance_find(inst, index);
	if (!dev)
		return -ENODEV;
	err = lns_device_claim_idle(dev, false);
	if (err)
		return err;
	lns_fs_remove_node(dev);
	*devp = dev;
	return 0;
}

/**
 * lns_instance_reap() - delete a device that lost its last reference
 * @dev: the device, in state LNS_DELETING (the rule at the top of device.c)
 *
 * Removes the node, if the device still has one (an ephemeral device),
 * and the device. The device does not keep its instance alive (a device
 * stacked on its node would keep both forever): if the instance is going
 * away, the node goes with it (an orphan's went already) and
 * lns_instance_shutdown() leaves the device to us.
 */
void lns_instance_reap(struct lns_device *dev)
{
	struct lns_instance *inst = dev->inst;
	struct super_block *sb = NULL;

	mutex_lock(&inst->lock);
	if (!inst->dead && atomic_inc_not_zero(&inst->sb->s_active))
		sb = inst->sb;
	else
		/*
		 * The superblock is dying: its node is evicted with it and
		 * must not delete the device a second time. Under inst->lock,
		 * as lns_instance_shutdown() does it, so that either of us
		 * finds the node still there.
		 */
		lns_fs_forget_node(dev);
	mutex_unlock(&inst->lock);
	if (!sb) {
		lns_device_destroy(dev);
		return;
	}
	mutex_lock(&inst->ctl_lock);
	lns_fs_remove_node(dev);
	lns_device_destroy(dev);
	mutex_unlock(&inst->ctl_lock);
	deactivate_super(sb);
}

/**
 * lns_instance_get_free() - LOOP_CTL_GET_FREE
 * @inst: the instance; the caller holds its ctl_lock
 *
 * Two callers may be handed the same unbound device; the first to bind it
 * wins and the other gets -EBUSY from LOOP_SET_FD/LOOP_CONFIGURE, as with
 * the in-kernel loop driver.
 *
 * Return: the index of an unbound device, created if there is none.
 */
int lns_instance_get_free(struct lns_instance *inst)
{
	struct lns_device *dev;
	int id, found = -1;

	lockdep_assert_held(&inst->ctl_lock);
	mutex_lock(&inst->lock);
	idr_for_each_entry(&inst->devices, dev, id) {
		if (lns_device_is_spare(dev)) {
			found = id;
			break;
		}
	}
	mutex_unlock(&inst->lock);
	if (found >= 0)
		return found;
	return lns_instance_add(inst, -1, false, NULL);
}

/**
 * lns_instance_shutdown() - tear an instance down (its superblock is dying)
 * @inst: the instance
 *
 * Every device loses its node (lns_device_orphan()): idle devices are
 * deleted now, bound ones detached and deleted; devices still open keep
 * working and are deleted at their last close.
 */
void lns_instance_shutdown(struct lns_instance *inst)
{
	struct lns_device *dev;
	int id = 0;

	mutex_lock(&inst->lock);
	inst->dead = true;
	mutex_unlock(&inst->lock);

	for (;;) {
		mutex_lock(&inst->lock);
		dev = idr_get_next(&inst->devices, &id);
		/* lns_instance_reap() may delete it meanwhile. */
		if (dev) {
			get_device(disk_to_dev(dev->disk));
			lns_fs_forget_node(dev);
		}
		mutex_unlock(&inst->lock);
		if (!dev)
			break;
		id++;
		lns_device_orphan(dev);
		put_device(disk_to_dev(dev->disk));
	}
}

/**
 * lns_instance_next_node() - next device or partition node, in index order
 * @inst: the instance
 * @node: in: @node->key is the first position to consider; out: the node
 *
 * Return: true if a node at position @node->key or later exists.
 */
bool lns_instance_next_node(struct lns_instance *inst,
			    struct lns_instance_node *node)
{
	unsigned long partno = node->key & 0xffff;
	int index = node->key >> 16;
	struct lns_device *dev;
	bool found = false;

	mutex_lock(&inst->lock);
	while (!found && (dev = idr_get_next(&inst->devices, &index))) {
		if (!partno) {
			snprintf(node->name, sizeof(node->name), "loop%d",
				 index);
			node->devt = disk_devt(dev->disk);
			found = true;
		} else if (partno <= 0xffff &&
			   lns_device_next_part(dev, &partno, &node->devt) &&
			   partno <= 0xffff) {
			snprintf(node->name, sizeof(node->name), "loop%dp%lu",
				 index, partno);
			found = true;
		} else {
			index++;
			partno = 0;
			continue;
		}
		node->key = ((u64)index << 16) | partno;
	}
	mutex_unlock(&inst->lock);
	return found;
}

/**
 * lns_instance_find_part() - dev_t of partition @partno of device @index
 * @inst: the instance
 * @index: device index
 * @partno: partition number (>= 1)
 * @devt: out: the partition's dev_t
 *
 * Return: true if that partition exists.
 */
bool lns_instance_find_part(struct lns_instance *inst, int index,
			    unsigned int partno, dev_t *devt)
{
	unsigned long found = partno;
	struct lns_device *dev;
	bool ret = false;

	mutex_lock(&inst->lock);
	dev = idr_find(&inst->devices, index);
	if (dev && lns_device_next_part(dev, &found, devt))
		ret = found == partno;
	mutex_unlock(&inst->lock);
	return ret;
}
