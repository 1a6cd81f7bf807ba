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
 * A device's life. Its @state changes only here, under lns_device.lock
 * (lns_device_set_state()); bind.c reports a bind (lns_device_set_bound())
 * and is asked to unbind (lns_bind_detach()):
 *
 *   UNBOUND --LOOP_CONFIGURE/LOOP_SET_FD--> BOUND   (lns_device_set_bound())
 *   BOUND --LOOP_CLR_FD by the only opener--> RUNDOWN  (lns_device_clear())
 *   BOUND --settled: autoclear or unreferenced--> RUNDOWN
 *   RUNDOWN --settled: detached--> UNBOUND
 *   UNBOUND, unreferenced --> DELETING --> freed with its gendisk
 *
 * References. A device is referenced by its openers (the gendisk's) and by
 * holds (@holds, which are only ever dropped): LNS_HOLD_NODE, its node in
 * a live instance, or, for a device LOOPNS_CTL_ATTACH makes, which belongs
 * to its file descriptors, LNS_HOLD_ATTACH until that call is done with
 * it. One rule: a device nothing references is detached and deleted.
 * Whenever a reference goes, the device is settled (lns_device_settle(),
 * under the disk's open_mutex):
 *   - the last close (->release);
 *   - the instance goes away and drops the node's hold
 *     (lns_device_orphan()): the device is an orphan;
 *   - LOOPNS_CTL_ATTACH is done (lns_device_attach_done()): the device
 *     is ephemeral.
 * A device left to its openers is marked autoclear, and detaches at its
 * last close even if LOOP_SET_STATUS cleared that. LOOP_CTL_REMOVE and
 * unlink(2) take the node's hold only if it is the last reference
 * (lns_device_claim_idle()) and delete the device with its node (after
 * unlink(2), when the node's inode is evicted: lns_fs_evict_inode()).
 *
 * Settling detaches only with nobody having the device open, under
 * open_mutex, so no request can be in flight and the queue is not frozen
 * (as 6.12's loop). The deletion runs after open_mutex is dropped
 * (del_gendisk() takes it): lns_instance_reap(), from lns_remove_wq after
 * a last close.
 */

#include <linux/idr.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#include "loopns.h"

/* The holds of a device besides its openers (see the top of this file). */
enum {
	LNS_HOLD_NODE	= BIT(0),	/* its node, in a live instance */
	LNS_HOLD_ATTACH	= BIT(1),	/* LOOPNS_CTL_ATTACH is setting it up */
};

#define LNS_MAX_HW_SECTORS	2560u
#define LNS_RQ_POOL		SZ_32K	/* see lns_device_default_depth() */

static int lns_major;
module_param_named(major, lns_major, int, 0444);
MODULE_PARM_DESC(major,
		 "Block major of loopns devices, for static device-cgroup rules (default 0: allocated at load)");

static unsigned int lns_queue_depth;
module_param_named(queue_depth, lns_queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth,
		 "Requests per device (default 0: as many as fit blk-mq's 32 KiB request pool, 85 on 6.1 and 102 on 6.12, between 64 and 128; the parameter then shows it)");

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

/*
 * Deletes devices after their last close (del_gendisk() cannot run under
 * the disk's open_mutex). Flushed by destroy_workqueue() at unload.
 */
static struct workqueue_struct *lns_remove_wq;

/* Every change of @state is made here. */
static void lns_device_set_state(struct lns_device *dev, enum lns_state state)
{
	lockdep_assert_held(&dev->lock);
	/*
	 * Pairs with smp_load_acquire() of lockless readers (io.c,
	 * lns_device_find_bound()): a bound device's backing file is set.
	 */
	smp_store_release(&dev->state, state);
}

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

/*
 * A reference to @dev was dropped. With nobody having it open: detach it
 * if it is autoclear or unreferenced (no opener: no request in flight, no
 * freeze). Return: true if it is unreferenced and now LNS_DELETING; the
 * caller deletes it after dropping open_mutex.
 */
static bool lns_device_settle(struct lns_device *dev)
{
	struct gendisk *disk = dev->disk;
	bool dead;

	lockdep_assert_held(&disk->open_mutex);
	if (disk_openers(disk) > 0)
		return false;
	/*
	 * The whole detach in one section, as the bind's setup: one round
	 * trip of the lock at the last close, and nobody sees it half done.
	 */
	mutex_lock(&dev->lock);
	if (dev->state == LNS_BOUND &&
	    (!dev->holds || (dev->flags & LO_FLAGS_AUTOCLEAR)))
		lns_device_set_state(dev, LNS_RUNDOWN);
	if (dev->state == LNS_RUNDOWN) {
		lns_bind_detach(dev);
		lns_device_set_state(dev, LNS_UNBOUND);
	}
	dead = !dev->holds && dev->state == LNS_UNBOUND;
	if (dead)
		lns_device_set_state(dev, LNS_DELETING);
	mutex_unlock(&dev->lock);
	return dead;
}

/* Called with disk->open_mutex held, after the opener count dropped. */
static void lns_device_release(struct gendisk *disk)
{
	struct lns_device *dev = disk->private_data;

	if (lns_device_settle(dev))
		queue_work(lns_remove_wq, &dev->remove_work);
}

static void lns_device_free_disk(struct gendisk *disk)
{
	struct lns_device *dev = disk->private_data;

	lns_io_stop(dev);
	ida_free(&lns_minor_ida, dev->minor);
	lns_quota_uncharge(dev->inst->owner);
	lns_instance_put(dev->inst);
	mutex_destroy(&dev->lock);
	/* The walk of bind.c may still be looking at it (see rcu). */
	kfree_rcu(dev, rcu);
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
	lns_instance_reap(container_of(work, struct lns_device, remove_work));
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
 * The caller holds rcu_read_lock(): the device is not freed before
 * rcu_read_unlock(), but it may be unbound at any time (its backing
 * file is followed under its backing_lock). The state is read with
 * acquire semantics, paired with the release of lns_device_set_state()
 * that publishes it after the backing file.
 *
 * Return: the device if it exists and is bound, else NULL.
 */
struct lns_device *lns_device_find_bound(dev_t devt)
{
	struct lns_device *dev;

	RCU_LOCKDEP_WARN(!rcu_read_lock_held(), "needs rcu_read_lock()");
	if (MAJOR(devt) != lns_major)
		return NULL;
	dev = xa_load(&lns_devices_by_minor, MINOR(devt) >> lns_part_shift);
	/* Pairs with lns_device_set_state(): @backing is set. */
	if (dev && smp_load_acquire(&dev->state) != LNS_BOUND)
		dev = NULL;
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
	 * One hardware queue, as loop has: submitters on different CPUs get
	 * different dispatch queues of io.c behind it, which cost far less
	 * than a hardware queue each.
	 */
	set->nr_hw_queues = 1;
	set->queue_depth = lns_queue_depth;
	set->numa_node = NUMA_NO_NODE;
	set->cmd_size = lns_io_cmd_size();
	/* ->queue_rq only queues work: it never sleeps (io.c). */
	set->flags = LNS_COMPAT_MQ_F_MERGE | BLK_MQ_F_STACKING |
		     BLK_MQ_F_NO_SCHED_BY_DEFAULT;
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
 * @ephemeral: held by LOOPNS_CTL_ATTACH, not by its node (see the top of
 *	this file): lns_device_attach_done() ends that
 *
 * Return: the device, or an ERR_PTR(): -ENOSPC beyond the global limit.
 */
struct lns_device *lns_device_create(struct lns_instance *inst, int index,
				     bool ephemeral)
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
	dev->holds = ephemeral ? LNS_HOLD_ATTACH : LNS_HOLD_NODE;
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
	/* Once in lns_devices_by_minor, it may be looked at until then. */
	kfree_rcu(dev, rcu);
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
 * lns_device_claim_idle() - take the node's hold if it is the last reference
 * @dev: the device
 * @nowait: do not wait for the device's lock (under the VFS's directory
 *	lock, which must not wait for a device): a device whose lock is
 *	taken is busy
 *
 * For LOOP_CTL_REMOVE and unlink(2), which delete the device with its
 * node. Devices made by LOOPNS_CTL_ATTACH are not held by their node.
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
	    dev->holds != LNS_HOLD_NODE) {
		err = -EBUSY;
	} else {
		WRITE_ONCE(dev->holds, 0);
		lns_device_set_state(dev, LNS_DELETING);
	}
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
	WRITE_ONCE(dev->holds, 0);
	lns_device_set_state(dev, LNS_DELETING);
	mutex_unlock(&dev->lock);
	lns_device_destroy(dev);
}

/**
 * lns_device_is_spare() - whether LOOP_CTL_GET_FREE may hand @dev out
 * @dev: a device, read without its lock (a hint: binding it decides)
 *
 * Return: true if it is unbound and held by its node (not ephemeral).
 */
bool lns_device_is_spare(struct lns_device *dev)
{
	return READ_ONCE(dev->state) == LNS_UNBOUND &&
	       (READ_ONCE(dev->holds) & LNS_HOLD_NODE);
}

/*
 * Drop @hold. A device left to its openers detaches at its last close
 * (autoclear); one nobody has open is settled, and deleted if nothing
 * references it any more.
 */
static void lns_device_put_hold(struct lns_device *dev, unsigned int hold)
{
	struct gendisk *disk = dev->disk;
	bool dead;

	mutex_lock(&disk->open_mutex);
	mutex_lock(&dev->lock);
	WRITE_ONCE(dev->holds, dev->holds & ~hold);
	if (!dev->holds && dev->state == LNS_BOUND)
		dev->flags |= LO_FLAGS_AUTOCLEAR;
	mutex_unlock(&dev->lock);
	dead = lns_device_settle(dev);
	mutex_unlock(&disk->open_mutex);
	if (dead)
		lns_instance_reap(dev);
}

/**
 * lns_device_attach_done() - LOOPNS_CTL_ATTACH is done with @dev
 * @dev: a device made ephemeral by lns_device_create(); the caller holds
 *	no lock
 *
 * From now on the device lives as long as someone has it open: if bound,
 * it detaches at its last close (autoclear), and whoever closes it last
 * deletes it; if nobody has it open, it is deleted now.
 */
void lns_device_attach_done(struct lns_device *dev)
{
	lns_device_put_hold(dev, LNS_HOLD_ATTACH);
}

/**
 * lns_device_orphan() - the instance of @dev is going away
 * @dev: the device, whose node the caller forgot (lns_fs_forget_node());
 *	the caller holds no lock of the device or the instance
 *
 * A device nobody has open is detached and deleted now. An open one keeps
 * working; its last close detaches it and deletes it.
 */
void lns_device_orphan(struct lns_device *dev)
{
	lns_device_put_hold(dev, LNS_HOLD_NODE);
}

/**
 * lns_device_set_bound() - publish a bind
 * @dev: an unbound device whose backing file is set; the caller holds
 *	its lock
 */
void lns_device_set_bound(struct lns_device *dev)
{
	WARN_ON_ONCE(dev->state != LNS_UNBOUND);
	lns_device_set_state(dev, LNS_BOUND);
}

/**
 * lns_device_lock_bound() - take the lock of a device that must be bound
 * @dev: the device
 *
 * For the ioctls that act on a bound device only: takes dev->lock,
 * killably, and keeps it only if the device is bound (LNS_BOUND), which
 * it stays until the caller drops the lock.
 *
 * Return: 0 with dev->lock held; -EINTR, or -ENXIO if the device is not
 * bound, without it.
 */
int lns_device_lock_bound(struct lns_device *dev)
{
	int err;

	err = mutex_lock_killable(&dev->lock);
	if (err)
		return err;
	if (dev->state != LNS_BOUND) {
		mutex_unlock(&dev->lock);
		return -ENXIO;
	}
	return 0;
}

/**
 * lns_device_clear() - LOOP_CLR_FD
 * @dev: the device
 *
 * Marks the device to be detached at its last close (autoclear); if the
 * caller is the only opener, new opens fail with ENXIO from now on.
 *
 * Return: 0, -ENXIO if the device is not bound, or -EINTR.
 */
int lns_device_clear(struct lns_device *dev)
{
	int err;

	err = lns_device_lock_bound(dev);
	if (err)
		return err;
	dev->flags |= LO_FLAGS_AUTOCLEAR;
	if (disk_openers(dev->disk) == 1)
		lns_device_set_state(dev, LNS_RUNDOWN);
	mutex_unlock(&dev->lock);
	return 0;
}

/*
 * blk-mq preallocates each device's requests, in chunks of up to 64 KiB.
 * With our per-request data a request takes 320 bytes (6.12, 7.2) or 384
 * (6.1), so loop's depth of 128 takes a whole 64 KiB chunk: half of what
 * an idle device costs. The depth that fits LNS_RQ_POOL (102 or 85) takes
 * half as much, from an order-3 allocation instead of an order-4 one, and
 * is still more than the benchmarks keep in flight (64: two fio jobs at
 * depth 32). The size is blk-mq's (struct request and the per-request
 * data, rounded up to a cache line), worked out again here: were its
 * rounding to change, the depth would only fit less well.
 */
static unsigned int lns_device_default_depth(void)
{
	size_t rq = round_up(sizeof(struct request) + lns_io_cmd_size(),
			     cache_line_size());

	return clamp_t(size_t, LNS_RQ_POOL / rq, 64, 128);
}

/**
 * lns_device_init() - check the parameters and register the block major
 *
 * Return: 0 or a negative errno.
 */
int lns_device_init(void)
{
	int ret;

	if (lns_queue_depth > BLK_MQ_MAX_DEPTH) {
		pr_err("queue_depth=%u: must be at most %d\n", lns_queue_depth,
		       BLK_MQ_MAX_DEPTH);
		return -EINVAL;
	}
	if (!lns_queue_depth)
		lns_queue_depth = lns_device_default_depth();
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
