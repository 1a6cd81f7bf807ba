// SPDX-License-Identifier: GPL-2.0
/*
 * loopns devices: gendisks on the loopns block major.
 *
 * The major is allocated dynamically at module load; minors come from one
 * global IDA, and the gendisk of minor M is named "loopnsM" (block device
 * names are global and util-linux recognises loop devices on other majors
 * by the "loop" prefix). The node in the instance keeps the short
 * per-instance name "loopN".
 *
 * A device's life. Every transition is made under lns_device.lock, here,
 * except binding and unbinding (bind.c):
 *
 *   UNBOUND --LOOP_CONFIGURE/LOOP_SET_FD--> BOUND       (bind.c)
 *   BOUND --LOOP_CLR_FD by the only opener, last close with autoclear,
 *           orphan or armed ephemeral device--> RUNDOWN  (bind.c, here)
 *   RUNDOWN --detach--> UNBOUND                          (bind.c)
 *   UNBOUND, not open --deletion--> DELETING --> freed   (here)
 *
 * Deletion follows one rule: an unbound device nobody has open is deleted
 * once nothing may reach it any more:
 *   - its node is gone: LOOP_CTL_REMOVE (lns_device_claim_idle()), or
 *     unlink(2), whose deletion comes with the node's inode's eviction;
 *   - its instance is gone (@orphan, lns_device_orphan()): at once if idle,
 *     else at its last close;
 *   - it belongs to its file descriptors (@ephemeral, LOOPNS_CTL_ATTACH):
 *     at its last close, once LOOPNS_CTL_ATTACH is done with it
 *     (@ephemeral_armed, lns_device_arm_ephemeral()).
 * The last close decides in lns_device_release(); the deletion itself
 * runs in lns_remove_wq (del_gendisk() cannot run under open_mutex).
 */

#include <linux/idr.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "loopns.h"

#define LNS_QUEUE_DEPTH		128
#define LNS_MAX_HW_SECTORS	2560u

static int lns_major;
module_param_named(major, lns_major, int, 0444);
MODULE_PARM_DESC(major,
		 "Block major of loopns devices, for static device-cgroup rules (default 0: allocated at load)");

static int lns_max_part;
module_param_named(max_part, lns_max_part, int, 0444);
MODULE_PARM_DESC(max_part,
		 "Partitions per device numbered on the loopns major (default 0: partitions get dev_ts of the shared extended major 259)");

/* Minors per device: 1 << lns_part_shift. */
static int lns_part_shift;

/* Device numbers (the M of loopnsM); minors are M << lns_part_shift. */
static DEFINE_IDA(lns_minor_ida);

/*
 * Where the search for a free device number starts: numbers are handed
 * out in a cycle, so that a node opened just as its device goes away
 * does not reach a new device (maybe of another instance) that took the
 * same dev_t at once. Only a hint; races between creators are harmless.
 */
static atomic_t lns_minor_hint = ATOMIC_INIT(0);

/*
 * Registered devices by minor, for following chains of stacked devices by
 * dev_t (bind.c). Entries are added before add_disk() (the device is
 * unbound until then, which the walk treats as the end of a chain) and
 * erased before del_gendisk(); the xarray's own lock serializes updates.
 */
static DEFINE_XARRAY(lns_devices_by_minor);

/* Deletes orphaned devices after their last close (del_gendisk cannot run
 * under the disk's open_mutex). Flushed by destroy_workqueue() at unload.
 */
static struct workqueue_struct *lns_remove_wq;

static int lns_device_open(struct gendisk *disk, blk_mode_t mode)
{
	struct lns_device *dev = disk->private_data;
	int err;

	err = mutex_lock_killable(&dev->lock);
	if (err)
		return err;
	if (dev->state == LNS_DELETING || dev->state == LNS_RUNDOWN)
		err = -ENXIO;
	mutex_unlock(&dev->lock);
	return err;
}

/* Whether the last close deletes the device (see the top of this file). */
static bool lns_device_dies_at_close(struct lns_device *dev)
{
	lockdep_assert_held(&dev->lock);
	return dev->orphan || dev->ephemeral_armed;
}

/* Called with disk->open_mutex held, after the opener count dropped. */
static void lns_device_release(struct gendisk *disk)
{
	struct lns_device *dev = disk->private_data;
	bool detach;

	lockdep_assert_held(&disk->open_mutex);
	if (disk_openers(disk) > 0)
		return;

	/*
	 * Orphans and ephemeral devices detach at their last close whatever
	 * LOOP_SET_STATUS did to their autoclear flag.
	 */
	mutex_lock(&dev->lock);
	if (dev->state == LNS_BOUND && ((dev->flags & LO_FLAGS_AUTOCLEAR) ||
					lns_device_dies_at_close(dev)))
		dev->state = LNS_RUNDOWN;
	detach = dev->state == LNS_RUNDOWN;
	mutex_unlock(&dev->lock);

	if (detach)
		lns_bind_detach(dev, true);

	/* Orphans and ephemeral devices go away at their last close. */
	mutex_lock(&dev->lock);
	if (lns_device_dies_at_close(dev) && dev->state == LNS_UNBOUND) {
		dev->state = LNS_DELETING;
		queue_work(lns_remove_wq, &dev->remove_work);
	}
	mutex_unlock(&dev->lock);
}

static void lns_device_free_disk(struct gendisk *disk)
{
	struct lns_device *dev = disk->private_data;

	lns_io_stop(dev);
	ida_free(&lns_minor_ida, dev->minor);
	lns_quota_uncharge(dev->inst->owner);
	lns_instance_put(dev->inst);
	mutex_destroy(&dev->lock);
	kfree(dev);
}

LNS_COMPAT_DEFINE_BDOPS_TRAMPOLINES(lns_device_open, lns_device_release)

static const struct block_device_operations lns_device_fops = {
	.owner		= THIS_MODULE,
	.open		= LNS_COMPAT_BDOPS_OPEN(lns_device_open),
	.release	= LNS_COMPAT_BDOPS_RELEASE(lns_device_release),
	.ioctl		= lns_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= lns_ioctl_compat,
#endif
	.free_disk	= lns_device_free_disk,
};

static void lns_device_remove_workfn(struct work_struct *work)
{
	struct lns_device *dev = container_of(work, struct lns_device,
					      remove_work);

	/* An orphan's node went with its instance. */
	if (dev->ephemeral && !dev->orphan)
		lns_instance_reap(dev);
	else
		lns_device_destroy(dev);
}

/**
 * lns_device_is_ours() - whether a block device belongs to loopns
 * @bdev: a block device (whole disk or partition)
 *
 * Return: true if @bdev is a loopns device or one of its partitions.
 */
bool lns_device_is_ours(struct block_device *bdev)
{
	return bdev->bd_disk->fops == &lns_device_fops;
}

/**
 * lns_device_next_part() - find a partition of a device
 * @dev: the device
 * @partno: in: first partition number to consider (>= 1); out: the one found
 * @devt: out: its dev_t
 *
 * Return: true if a partition numbered @partno or higher exists.
 */
bool lns_device_next_part(struct lns_device *dev, unsigned long *partno,
			  dev_t *devt)
{
	struct block_device *part;

	if (!*partno)
		*partno = 1;
	rcu_read_lock();
	part = xa_find(&dev->disk->part_tbl, partno, ULONG_MAX, XA_PRESENT);
	if (part)
		*devt = part->bd_dev;
	rcu_read_unlock();
	return part;
}

/**
 * lns_device_find_bound() - the bound loopns device with a given dev_t
 * @devt: a dev_t on the loopns major (a whole disk)
 *
 * A bound device keeps its backing file, and is not freed, while the
 * caller holds the walk's lock of bind.c, which must be held. The state
 * is read with acquire semantics, paired with the release in bind.c that
 * publishes it after the backing file.
 *
 * Return: the device if it exists and is bound, else NULL.
 */
struct lns_device *lns_device_find_bound(dev_t devt)
{
	struct lns_device *dev;

	if (MAJOR(devt) != lns_major)
		return NULL;
	rcu_read_lock();
	dev = xa_load(&lns_devices_by_minor, MINOR(devt) >> lns_part_shift);
	/* Pairs with smp_store_release() in bind.c: @backing is set. */
	if (dev && smp_load_acquire(&dev->state) != LNS_BOUND)
		dev = NULL;
	rcu_read_unlock();
	return dev;
}

/**
 * lns_device_major() - the loopns block major
 *
 * Return: the dynamically allocated major number.
 */
int lns_device_major(void)
{
	return lns_major;
}

static int lns_device_init_tag_set(struct lns_device *dev)
{
	struct blk_mq_tag_set *set = &dev->tag_set;

	set->ops = &lns_io_mq_ops;
	/*
	 * Submitters on different CPUs get different queues (io.c), which
	 * share one set of tags: a queue per CPU costs no request memory.
	 */
	set->nr_hw_queues = lns_io_nr_hw_queues();
	set->queue_depth = LNS_QUEUE_DEPTH;
	set->numa_node = NUMA_NO_NODE;
	set->cmd_size = lns_io_cmd_size();
	/* ->queue_rq only queues work: it never sleeps (io.c). */
	set->flags = LNS_COMPAT_MQ_F_MERGE | BLK_MQ_F_STACKING |
		     BLK_MQ_F_NO_SCHED_BY_DEFAULT | BLK_MQ_F_TAG_HCTX_SHARED;
	set->driver_data = dev;
	return blk_mq_alloc_tag_set(set);
}

static int lns_device_init_disk(struct lns_device *dev)
{
	struct lns_compat_limits lim = {
		.logical_block_size = SECTOR_SIZE,
		.max_hw_sectors = LNS_MAX_HW_SECTORS,
	};
	struct gendisk *disk;

	disk = lns_compat_alloc_disk(&dev->tag_set, &lim, dev);
	if (IS_ERR(disk))
		return PTR_ERR(disk);

	/* Partitions are scanned only when asked for (LO_FLAGS_PARTSCAN). */
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	disk->major = lns_major;
	disk->first_minor = dev->minor << lns_part_shift;
	disk->minors = 1 << lns_part_shift;
	disk->fops = &lns_device_fops;
	disk->private_data = dev;
	disk->events = DISK_EVENT_MEDIA_CHANGE;
	disk->event_flags = DISK_EVENT_FLAG_UEVENT;
	snprintf(disk->disk_name, sizeof(disk->disk_name), LNS_NAME "%d",
		 dev->minor);
	dev->disk = disk;
	return 0;
}

/* A free device number, the next one after the last handed out. */
static int lns_device_alloc_minor(void)
{
	int max = MINORMASK >> lns_part_shift;
	int start = atomic_read(&lns_minor_hint);
	int minor;

	minor = ida_alloc_range(&lns_minor_ida, start, max, GFP_KERNEL);
	if (minor == -ENOSPC && start > 0)
		minor = ida_alloc_range(&lns_minor_ida, 0, start - 1,
					GFP_KERNEL);
	if (minor >= 0)
		atomic_set(&lns_minor_hint, minor < max ? minor + 1 : 0);
	return minor;
}

/**
 * lns_device_create() - create an unbound device and register its gendisk
 * @inst: owning instance (the device takes a reference)
 * @index: per-instance index
 *
 * Return: the device, or an ERR_PTR(): -ENOSPC beyond the global limit.
 */
struct lns_device *lns_device_create(struct lns_instance *inst, int index)
{
	struct lns_device *dev;
	int err;

	err = lns_quota_charge(inst->owner);
	if (err)
		return ERR_PTR(err);

	err = -ENOMEM;
	dev = kzalloc(sizeof(*dev), GFP_KERNEL_ACCOUNT);
	if (!dev)
		goto out_uncharge;
	mutex_init(&dev->lock);
	spin_lock_init(&dev->backing_lock);
	INIT_WORK(&dev->remove_work, lns_device_remove_workfn);
	dev->state = LNS_UNBOUND;
	dev->inst = inst;
	dev->index = index;

	err = lns_device_alloc_minor();
	if (err < 0)
		goto out_free_dev;
	dev->minor = err;

	err = lns_device_init_tag_set(dev);
	if (err)
		goto out_free_minor;
	err = lns_device_init_disk(dev);
	if (err)
		goto out_free_tags;
	err = xa_insert(&lns_devices_by_minor, dev->minor, dev, GFP_KERNEL);
	if (err)
		goto out_put_disk;
	err = add_disk(dev->disk);
	if (err) {
		/*
		 * device_add() reports a failed allocation of the disk's name
		 * as EINVAL; every argument given here is valid.
		 */
		if (err == -EINVAL)
			err = -ENOMEM;
		goto out_erase;
	}

	lns_instance_get(inst);
	return dev;

out_erase:
	xa_erase(&lns_devices_by_minor, dev->minor);
out_put_disk:
	put_disk(dev->disk);
out_free_tags:
	blk_mq_free_tag_set(&dev->tag_set);
out_free_minor:
	ida_free(&lns_minor_ida, dev->minor);
out_free_dev:
	mutex_destroy(&dev->lock);
	kfree(dev);
out_uncharge:
	lns_quota_uncharge(inst->owner);
	return ERR_PTR(err);
}

/**
 * lns_device_destroy() - unregister and release a device
 * @dev: a device in state LNS_DELETING, unbound and not open
 *
 * The memory goes with the last reference to the gendisk.
 */
void lns_device_destroy(struct lns_device *dev)
{
	xa_erase(&lns_devices_by_minor, dev->minor);
	del_gendisk(dev->disk);
	blk_mq_free_tag_set(&dev->tag_set);
	lns_instance_forget(dev->inst, dev);
	put_disk(dev->disk);
}

/**
 * lns_device_claim_idle() - mark an idle device as being deleted
 * @dev: the device
 * @nowait: do not wait for the device's lock (under the VFS's directory
 *	lock, which must not wait for a device): a device whose lock is
 *	taken is busy
 *
 * Devices made by LOOPNS_CTL_ATTACH belong to their file descriptors
 * until their last close and are never idle.
 *
 * Return: 0 (the device is LNS_DELETING: the caller deletes it), -EBUSY
 * if it is bound, open or ephemeral, or -EINTR.
 */
int lns_device_claim_idle(struct lns_device *dev, bool nowait)
{
	int err = 0;

	if (nowait) {
		if (!mutex_trylock(&dev->lock))
			return -EBUSY;
	} else {
		err = mutex_lock_killable(&dev->lock);
		if (err)
			return err;
	}
	if (dev->state != LNS_UNBOUND || disk_openers(dev->disk) > 0 ||
	    dev->ephemeral)
		err = -EBUSY;
	else
		dev->state = LNS_DELETING;
	mutex_unlock(&dev->lock);
	return err;
}

/**
 * lns_device_discard() - delete a device nobody could reach yet
 * @dev: a device whose node could not be made
 */
void lns_device_discard(struct lns_device *dev)
{
	mutex_lock(&dev->lock);
	dev->state = LNS_DELETING;
	mutex_unlock(&dev->lock);
	lns_device_destroy(dev);
}

/**
 * lns_device_make_ephemeral() - the device belongs to its file descriptors
 * @dev: a new device of LOOPNS_CTL_ATTACH, not reachable by anyone else
 *	yet (no LOOP_CTL_REMOVE, LOOP_CTL_GET_FREE or unlink(2) takes it)
 */
void lns_device_make_ephemeral(struct lns_device *dev)
{
	mutex_lock(&dev->lock);
	dev->ephemeral = true;
	mutex_unlock(&dev->lock);
}

/**
 * lns_device_arm_ephemeral() - LOOPNS_CTL_ATTACH is done with @dev
 * @dev: an ephemeral device
 * @bound: the bind succeeded: detach at the last close (autoclear)
 * @opened: the caller holds it open: if not, and nobody else does, it
 *	is deleted now, as nothing will ever close it
 *
 * From now on, whoever closes the device last deletes it.
 */
void lns_device_arm_ephemeral(struct lns_device *dev, bool bound,
			      bool opened)
{
	bool reap = false;

	mutex_lock(&dev->lock);
	dev->ephemeral_armed = true;
	if (bound)
		dev->flags |= LO_FLAGS_AUTOCLEAR;
	if (!opened && dev->state == LNS_UNBOUND && !disk_openers(dev->disk)) {
		dev->state = LNS_DELETING;
		reap = true;
	}
	mutex_unlock(&dev->lock);
	if (reap)
		lns_instance_reap(dev);
}

/**
 * lns_device_orphan() - the instance of @dev is going away
 * @dev: the device
 *
 * A device nobody has open is detached and deleted now. An open one keeps
 * working; its last close detaches it and deletes it.
 */
void lns_device_orphan(struct lns_device *dev)
{
	bool detach = false;

	mutex_lock(&dev->lock);
	if (dev->state == LNS_DELETING) {
		/* Its deletion is queued already (lns_instance_reap()). */
		mutex_unlock(&dev->lock);
		return;
	}
	dev->orphan = true;
	if (disk_openers(dev->disk) > 0 || dev->state == LNS_RUNDOWN) {
		if (dev->state == LNS_BOUND)
			dev->flags |= LO_FLAGS_AUTOCLEAR;
		mutex_unlock(&dev->lock);
		return;
	}
	if (dev->state == LNS_BOUND) {
		dev->state = LNS_RUNDOWN;
		detach = true;
	}
	mutex_unlock(&dev->lock);

	if (detach)
		lns_bind_detach(dev, false);

	mutex_lock(&dev->lock);
	dev->state = LNS_DELETING;
	mutex_unlock(&dev->lock);
	lns_device_destroy(dev);
}

/**
 * lns_device_init() - register the block major
 *
 * Return: 0 or a negative errno.
 */
int lns_device_init(void)
{
	int ret;

	if (lns_max_part < 0 || lns_max_part >= DISK_MAX_PARTS) {
		pr_err("max_part=%d: must be between 0 and %d\n", lns_max_part,
		       DISK_MAX_PARTS - 1);
		return -EINVAL;
	}
	if (lns_max_part) {
		/* Round up so that every device gets a power of two. */
		lns_part_shift = fls(lns_max_part);
		lns_max_part = (1 << lns_part_shift) - 1;
	}

	lns_remove_wq = alloc_workqueue("loopns_remove", WQ_UNBOUND, 0);
	if (!lns_remove_wq)
		return -ENOMEM;
	ret = register_blkdev(lns_major, LNS_NAME);
	if (ret < 0) {
		pr_err("cannot register block major %d: %d\n", lns_major, ret);
		destroy_workqueue(lns_remove_wq);
		return ret;
	}
	if (!lns_major)
		lns_major = ret;
	return 0;
}

/**
 * lns_device_exit() - unregister the block major
 *
 * Every device is gone by now: instances and open devices pin the module.
 */
void lns_device_exit(void)
{
	destroy_workqueue(lns_remove_wq);
	unregister_blkdev(lns_major, LNS_NAME);
	ida_destroy(&lns_minor_ida);
}
