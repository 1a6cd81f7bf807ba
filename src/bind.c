// SPDX-License-Identifier: GPL-2.0
/*
 * Binding a loopns device to a backing file and changing its
 * configuration: LOOP_CONFIGURE/LOOP_SET_FD, LOOP_CHANGE_FD, LOOP_CLR_FD,
 * LOOP_SET_STATUS*, LOOP_GET_STATUS*, LOOP_SET_CAPACITY,
 * LOOP_SET_DIRECT_IO and LOOP_SET_BLOCK_SIZE, with the semantics and errno
 * values of the in-kernel loop driver.
 */

#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/major.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/statfs.h>
#include <linux/workqueue.h>

#include "loopns.h"

/* Longest chain of stacked loop devices followed by the cycle check. */
#define LNS_BIND_MAX_DEPTH	32

/*
 * LOOP_CHANGE_FD's lock: makes its check of the chain of stacked devices
 * and the change of the backing file that relies on it one step, so that
 * two LOOP_CHANGE_FDs cannot close a cycle (each would check the chain
 * before the other changed it). It is global and a leaf (see
 * src/loopns.h): held only around that walk and the swap of the backing
 * pointer, never across a queue freeze, an fsync, a path lookup or any
 * other call into a filesystem. Nothing else takes it: a bind needs no
 * such section (lns_bind_attach_check() says why), an unbind cannot close
 * a cycle, and the walk itself is lockless (lns_bind_step_lower()).
 */
static DEFINE_MUTEX(lns_bind_mutex);

static loff_t lns_bind_size(loff_t offset, loff_t sizelimit, struct file *file)
{
	loff_t size = i_size_read(file->f_mapping->host);

	if (offset > 0)
		size -= offset;
	if (size < 0)
		return 0;
	if (sizelimit > 0 && sizelimit < size)
		size = sizelimit;
	return size >> SECTOR_SHIFT;
}

static void lns_bind_set_size(struct lns_device *dev, sector_t sectors)
{
	if (!set_capacity_and_notify(dev->disk, sectors))
		kobject_uevent(&disk_to_dev(dev->disk)->kobj, KOBJ_CHANGE);
}

static struct block_device *lns_bind_backing_bdev(struct file *file)
{
	struct inode *inode = file->f_mapping->host;

	if (S_ISBLK(inode->i_mode))
		return I_BDEV(inode);
	return inode->i_sb->s_bdev;
}

/*
 * What loop checks before taking its locks: the file's operations. Its
 * type and access mode are checked later, in lns_bind_check_chain(), in
 * loop's order.
 */
static int lns_bind_check_file(struct file *file)
{
	if (!file->f_op->read_iter)
		return -EINVAL;
	if ((file->f_mode & FMODE_WRITE) && !file->f_op->write_iter)
		return -EINVAL;
	return 0;
}

/*
 * Whether writes through the device may go to @file: not to a file that
 * is append-only or was opened for appending, whose contents must not be
 * rewritten.
 */
static bool lns_bind_file_writable(struct file *file)
{
	return (file->f_mode & FMODE_WRITE) && file->f_op->write_iter &&
	       !(file->f_flags & O_APPEND) &&
	       !IS_APPEND(file->f_mapping->host);
}

/*
 * Block size of the backing file's filesystem, for discard granularity.
 * Asked before any lock is taken: the filesystem may be slow to answer.
 */
static u32 lns_bind_fs_bsize(struct file *file)
{
	struct kstatfs st;

	if (!file->f_op->fallocate || vfs_statfs(&file->f_path, &st))
		return 0;
	return st.f_bsize;
}

/*
 * Where a device of the in-kernel loop driver (major 7) is bound: its
 * struct is private to that driver, so read its sysfs backing_file, which
 * is exactly what it shows userspace, and look the path up.
 * Return: 0 and the backing inode's mode and rdev, -ENXIO if it is not
 * bound, or another negative errno if the path cannot be followed.
 */
static int __lns_bind_loop_backing(dev_t devt, umode_t *mode, dev_t *rdev)
{
	struct file *attr;
	struct path path;
	char *buf;
	loff_t pos = 0;
	ssize_t len;
	int err;

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	snprintf(buf, PATH_MAX, "/sys/dev/block/%u:%u/loop/backing_file",
		 MAJOR(devt), MINOR(devt));
	attr = filp_open(buf, O_RDONLY, 0);
	if (IS_ERR(attr)) {
		err = PTR_ERR(attr) == -ENOENT ? -ENXIO : PTR_ERR(attr);
		goto out;
	}
	len = kernel_read(attr, buf, PATH_MAX - 1, &pos);
	fput(attr);
	err = len < 0 ? len : -EINVAL;
	if (len <= 1)
		goto out;
	buf[len - 1] = 0;	/* the newline */
	err = kern_path(buf, LOOKUP_FOLLOW, &path);
	if (err)
		goto out;
	*mode = d_inode(path.dentry)->i_mode;
	*rdev = d_inode(path.dentry)->i_rdev;
	path_put(&path);
out:
	kfree(buf);
	return err;
}

struct lns_bind_loop_walk {
	struct work_struct work;
	dev_t devt;
	umode_t mode;
	dev_t rdev;
	int err;
};

static void lns_bind_loop_walk_fn(struct work_struct *work)
{
	struct lns_bind_loop_walk *w =
		container_of(work, struct lns_bind_loop_walk, work);

	w->err = __lns_bind_loop_backing(w->devt, &w->mode, &w->rdev);
}

/*
 * __lns_bind_loop_backing() in a kernel worker, whose root directory and
 * mount namespace are init's: the caller's own could be forged (a /sys of
 * its making, a file mounted over the path), and backing_file shows the
 * path relative to the root of whoever reads it.
 */
static int lns_bind_loop_backing(dev_t devt, umode_t *mode, dev_t *rdev)
{
	struct lns_bind_loop_walk w = { .devt = devt };

	INIT_WORK_ONSTACK(&w.work, lns_bind_loop_walk_fn);
	queue_work(system_unbound_wq, &w.work);
	flush_work(&w.work);
	destroy_work_on_stack(&w.work);
	*mode = w.mode;
	*rdev = w.rdev;
	return w.err;
}

/* Walk step through in-kernel loop device @devt: where it is bound. */
static int lns_bind_step_loop(umode_t *mode, dev_t *devt)
{
	/*
	 * The chain is followed through paths, which only the host can be
	 * trusted with: a container could forge them in its own mount
	 * namespace.
	 */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return lns_bind_loop_backing(*devt, mode, devt) ? -EINVAL : 0;
}

/*
 * Walk step through loopns device @devt (a whole disk): where its backing
 * file leads. -EINVAL if it is not bound, -EBADF if that is a node of
 * @bdev's disk, partitions included. No sleeping lock: the device is
 * freed only after an RCU grace period, and its backing file is read
 * under its backing_lock, which every change of the pointer takes; the
 * file stays open until the pointer no longer leads to it.
 */
static int lns_bind_step_lower(struct block_device *bdev, umode_t *mode,
			       dev_t *devt)
{
	struct lns_device *lower;
	struct inode *inode;
	int err = -EINVAL;

	rcu_read_lock();
	lower = lns_device_find_bound(*devt);
	if (lower) {
		spin_lock_irq(&lower->backing_lock);
		/* NULL if it was unbound since: the chain ends there. */
		if (lower->backing) {
			inode = lower->backing->f_mapping->host;
			*mode = inode->i_mode;
			*devt = inode->i_rdev;
			err = 0;
			if (S_ISBLK(*mode) &&
			    I_BDEV(inode)->bd_disk == bdev->bd_disk)
				err = -EBADF;
		}
		spin_unlock_irq(&lower->backing_lock);
	}
	rcu_read_unlock();
	return err;
}

/*
 * Follow @file down through stacked loop and loopns devices by dev_t.
 * Binding @bdev to it must not make @bdev its own backing store: that
 * gives EBADF, and an unbound device in the chain gives EINVAL, as in
 * loop. With @follow_loop, the caller holds no lock but its device's,
 * and in-kernel loop devices are followed by looking their backing files
 * up, which may block in any filesystem. Without it (LOOP_CHANGE_FD under
 * lns_bind_mutex: the check is one step with the change of the backing
 * file), the walk stops at an in-kernel loop device, which a walk with
 * @follow_loop followed before.
 */
static int lns_bind_validate(struct file *file, struct block_device *bdev,
			     bool follow_loop)
{
	struct inode *inode = file->f_mapping->host;
	umode_t mode = inode->i_mode;
	dev_t devt = inode->i_rdev;
	int depth, err;

	if (!S_ISREG(mode) && !S_ISBLK(mode))
		return -EINVAL;
	/* Any node of @bdev's disk, partitions included, is @bdev. */
	if (S_ISBLK(mode) && I_BDEV(inode)->bd_disk == bdev->bd_disk)
		return -EBADF;
	for (depth = 0; S_ISBLK(mode); depth++) {
		if (devt == bdev->bd_dev)
			return -EBADF;
		if (depth >= LNS_BIND_MAX_DEPTH)
			return -EINVAL;
		if (MAJOR(devt) == LOOP_MAJOR && follow_loop)
			err = lns_bind_step_loop(&mode, &devt);
		else if (MAJOR(devt) == lns_device_major())
			err = lns_bind_step_lower(bdev, &mode, &devt);
		else
			return 0;
		if (err)
			return err;
	}
	return 0;
}

/* A device must not make a write-only file readable. */
static int lns_bind_check_access(struct file *file)
{
	return file->f_mode & FMODE_READ ? 0 : -EBADF;
}

/*
 * lns_bind_validate(), then the access mode: as loop, a file of the wrong
 * type is EINVAL whatever its mode (a pipe's write end, say).
 */
static int lns_bind_check_chain(struct file *file, struct block_device *bdev)
{
	return lns_bind_validate(file, bdev, true) ?:
	       lns_bind_check_access(file);
}

static int lns_bind_info_to_dev(struct lns_device *dev,
				const struct loop_info64 *info)
{
	if ((unsigned int)info->lo_encrypt_key_size > LO_KEY_SIZE)
		return -EINVAL;
	if (info->lo_encrypt_type != LO_CRYPT_NONE)
		return -EINVAL;
	if (info->lo_offset > LLONG_MAX || info->lo_sizelimit > LLONG_MAX)
		return -EOVERFLOW;

	dev->offset = info->lo_offset;
	dev->sizelimit = info->lo_sizelimit;
	memcpy(dev->file_name, info->lo_file_name, LO_NAME_SIZE);
	dev->file_name[LO_NAME_SIZE - 1] = 0;
	dev->flags = info->lo_flags;
	return 0;
}

static void lns_bind_discard_limits(struct lns_device *dev,
				    struct lns_compat_limits *lim)
{
	struct file *file = dev->backing;
	struct inode *inode = file->f_mapping->host;

	if (S_ISBLK(inode->i_mode)) {
		struct block_device *b = I_BDEV(inode);

		/* Discards punch holes, which read back as zeroes. */
		lim->max_discard_sectors = bdev_write_zeroes_sectors(b);
		lim->max_write_zeroes_sectors = lim->max_discard_sectors;
		lim->discard_granularity = bdev_discard_granularity(b);
	} else if (file->f_op->fallocate && dev->backing_bsize) {
		lim->max_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
		lim->max_write_zeroes_sectors = UINT_MAX >> SECTOR_SHIFT;
		lim->discard_granularity = dev->backing_bsize;
	}
}

static void lns_bind_limits(struct lns_device *dev,
			    struct lns_compat_limits *lim, unsigned int bsize)
{
	struct file *file = dev->backing;
	struct block_device *backing_bdev = lns_bind_backing_bdev(file);

	memset(lim, 0, sizeof(*lim));
	if (!bsize && (dev->flags & LO_FLAGS_DIRECT_IO) && backing_bdev)
		bsize = bdev_logical_block_size(backing_bdev);
	lim->logical_block_size = bsize ?: SECTOR_SIZE;
	lim->max_hw_sectors = queue_max_hw_sectors(dev->disk->queue);
	lim->write_cache = file->f_op->fsync &&
			   !(dev->flags & LO_FLAGS_READ_ONLY);
	lim->rotational = backing_bdev && lns_compat_bdev_rot(backing_bdev);
	lns_bind_discard_limits(dev, lim);
}

/* As loop: the block layer's rule (512..PAGE_SIZE, a power of two). */
static bool lns_bind_block_size_ok(unsigned long bsize)
{
	return bsize <= UINT_MAX && !blk_validate_block_size(bsize);
}

/* Direct I/O needs the offset and block size to suit the backing store. */
static bool lns_bind_can_dio(struct lns_device *dev)
{
	struct file *file = dev->backing;
	struct block_device *b = lns_bind_backing_bdev(file);
	unsigned int bsize;

	if (!(file->f_mode & FMODE_CAN_ODIRECT))
		return false;
	if (!b)
		return true;
	bsize = bdev_logical_block_size(b);
	return queue_logical_block_size(dev->disk->queue) >= bsize &&
	       !(dev->offset & (bsize - 1));
}

/*
 * Switch direct I/O on or off; the caller holds dev->lock, and no other
 * lock: the fsync and the freeze may wait for a stalled backing store.
 */
static void lns_bind_update_dio(struct lns_device *dev, bool want)
{
	bool use_dio = want && lns_bind_can_dio(dev);
	unsigned int token;

	lockdep_assert_held(&dev->lock);
	if (dev->use_dio == use_dio) {
		/* LO_FLAGS_DIRECT_IO tells what is in effect, not what was asked. */
		if (use_dio)
			dev->flags |= LO_FLAGS_DIRECT_IO;
		else
			dev->flags &= ~LO_FLAGS_DIRECT_IO;
		return;
	}
	vfs_fsync(dev->backing, 0);
	token = lns_compat_freeze(dev->disk->queue);
	dev->use_dio = use_dio;
	if (use_dio)
		dev->flags |= LO_FLAGS_DIRECT_IO;
	else
		dev->flags &= ~LO_FLAGS_DIRECT_IO;
	lns_compat_unfreeze(dev->disk->queue, token);
}

/*
 * A backing pointer changes with dev->lock and backing_lock held, so that
 * a holder of either may follow it.
 */
static void lns_bind_set_backing(struct lns_device *dev, struct file *file,
				 struct lns_backing_alias *alias)
{
	lockdep_assert_held(&dev->lock);
	spin_lock_irq(&dev->backing_lock);
	dev->backing = file;
	dev->backing_alias = alias;
	spin_unlock_irq(&dev->backing_lock);
	dev->old_gfp_mask = mapping_gfp_mask(file->f_mapping);
	/* The backing file's page cache must not recurse into our I/O. */
	mapping_set_gfp_mask(file->f_mapping,
			     dev->old_gfp_mask & ~(__GFP_IO | __GFP_FS));
}

/* Direct I/O as wanted, or because the backing file was opened O_DIRECT. */
static void lns_bind_default_dio(struct lns_device *dev, bool want)
{
	lns_bind_update_dio(dev, want || (dev->backing->f_flags & O_DIRECT));
}

/*
 * Forget the backing file and give its mapping its old gfp mask back.
 * The caller owns the file reference and the alias (*@alias) returned.
 */
static struct file *lns_bind_take_backing(struct lns_device *dev,
					  struct lns_backing_alias **alias)
{
	struct file *file = dev->backing;

	lockdep_assert_held(&dev->lock);
	spin_lock_irq(&dev->backing_lock);
	dev->backing = NULL;
	*alias = dev->backing_alias;
	dev->backing_alias = NULL;
	spin_unlock_irq(&dev->backing_lock);
	mapping_set_gfp_mask(file->f_mapping, dev->old_gfp_mask);
	return file;
}

static void lns_bind_rescan(struct lns_device *dev)
{
	int err;

	mutex_lock(&dev->disk->open_mutex);
	err = bdev_disk_changed(dev->disk, false);
	mutex_unlock(&dev->disk->open_mutex);
	if (err)
		pr_warn("%s: partition scan failed: %d\n",
			dev->disk->disk_name, err);
}

/* LOOP_CONFIGURE's checks of the file and the settings, in loop's order. */
static int lns_bind_attach_check(struct lns_device *dev, blk_mode_t mode,
				 struct block_device *bdev, struct file *file,
				 const struct loop_config *config)
{
	int err;

	lockdep_assert_held(&dev->lock);
	if (dev->state != LNS_UNBOUND)
		return -EBUSY;
	/*
	 * The chain is checked once, with no global lock, and not again when
	 * the device is published. A bind cannot close a cycle that this
	 * check misses: an unbound device ends every chain (EINVAL), so
	 * nothing can be bound on top of this one, and a LOOP_CHANGE_FD of a
	 * device in the chain below, the only change of a bound device's
	 * file, that would lead back here finds this device unbound until it
	 * is published, and after that follows its backing file, published
	 * before LNS_BOUND, back to the changing device itself (EBADF).
	 */
	err = lns_bind_check_chain(file, bdev);
	if (err)
		return err;
	if (config->info.lo_flags & ~LOOP_CONFIGURE_SETTABLE_FLAGS)
		return -EINVAL;
	if (config->block_size && !lns_bind_block_size_ok(config->block_size))
		return -EINVAL;
	err = lns_bind_info_to_dev(dev, &config->info);
	if (err)
		return err;
	if (!lns_bind_file_writable(file) || !(mode & BLK_OPEN_WRITE))
		dev->flags |= LO_FLAGS_READ_ONLY;
	return 0;
}

/*
 * The part of LOOP_CONFIGURE done under dev->lock, and under no global
 * lock: the fsync and freeze of a direct I/O switch may wait for the
 * backing store.
 */
static int lns_bind_attach(struct lns_device *dev, blk_mode_t mode,
			   struct block_device *bdev, struct file *file,
			   struct lns_backing_alias *alias,
			   const struct loop_config *config, u32 fs_bsize)
{
	struct lns_compat_limits lim;
	int err;

	err = lns_bind_attach_check(dev, mode, bdev, file, config);
	if (err)
		return err;
	err = lns_io_start(dev);
	if (err)
		return err;

	dev_set_uevent_suppress(disk_to_dev(dev->disk), 1);
	lns_compat_force_media_change(dev->disk);
	set_disk_ro(dev->disk, (dev->flags & LO_FLAGS_READ_ONLY) != 0);
	dev->use_dio = false;
	dev->bdev = bdev;
	dev->backing_bsize = fs_bsize;
	lns_bind_set_backing(dev, file, alias);

	lns_bind_limits(dev, &lim, config->block_size);
	err = lns_compat_apply_limits(dev->disk->queue, &lim);
	if (err) {
		/* The caller still owns @file and @alias. */
		lns_bind_take_backing(dev, &alias);
		dev->bdev = NULL;
		dev_set_uevent_suppress(disk_to_dev(dev->disk), 0);
		return err;
	}
	lns_bind_default_dio(dev, dev->flags & LO_FLAGS_DIRECT_IO);
	lns_sysfs_add(dev);
	lns_bind_set_size(dev, lns_bind_size(dev->offset, dev->sizelimit,
					     file));

	lns_device_set_bound(dev);
	if (dev->flags & LO_FLAGS_PARTSCAN)
		clear_bit(GD_SUPPRESS_PART_SCAN, &dev->disk->state);
	dev_set_uevent_suppress(disk_to_dev(dev->disk), 0);
	kobject_uevent(&disk_to_dev(dev->disk)->kobj, KOBJ_CHANGE);
	return 0;
}

/* lns_bind_attach() under dev->lock. */
static int lns_bind_attach_locked(struct lns_device *dev, blk_mode_t mode,
				  struct block_device *bdev, struct file *file,
				  struct lns_backing_alias *alias,
				  const struct loop_config *config,
				  u32 fs_bsize, bool *partscan)
{
	int err;

	err = mutex_lock_killable(&dev->lock);
	if (err)
		return err;
	err = lns_bind_attach(dev, mode, bdev, file, alias, config, fs_bsize);
	*partscan = !err && (dev->flags & LO_FLAGS_PARTSCAN);
	mutex_unlock(&dev->lock);
	return err;
}

/**
 * lns_bind_configure() - LOOP_CONFIGURE and LOOP_SET_FD
 * @dev: the device
 * @mode: open mode of the caller's file
 * @bdev: the device's block device
 * @config: fd, block size and loop_info64 settings
 *
 * Return: 0, -EBADF for a bad fd or a cycle back to @dev, -EBUSY if the
 * device is bound, -EINVAL for an unusable file or bad settings, -EPERM
 * if the chain leads through an in-kernel loop device and the caller is
 * not the host's administrator.
 */
int lns_bind_configure(struct lns_device *dev, blk_mode_t mode,
		       struct block_device *bdev,
		       const struct loop_config *config)
{
	struct file *file = fget(config->fd);
	struct lns_backing_alias *alias = NULL;
	bool partscan = false;
	u32 fs_bsize;
	int err;

	if (!file)
		return -EBADF;
	err = lns_bind_check_file(file);
	if (err)
		goto out_putf;
	fs_bsize = lns_bind_fs_bsize(file);
	file = lns_backing_open(file, &alias);
	if (IS_ERR(file))
		return PTR_ERR(file);

	/* A bound device pins the module; open() holds a reference now. */
	__module_get(THIS_MODULE);

	/* Do not change the device under an exclusive owner. */
	if (!(mode & BLK_OPEN_EXCL)) {
		err = lns_compat_prepare_to_claim(bdev, lns_bind_configure);
		if (err)
			goto out_module;
	}

	err = lns_bind_attach_locked(dev, mode, bdev, file, alias, config,
				     fs_bsize, &partscan);
	if (partscan)
		lns_bind_rescan(dev);
	if (!(mode & BLK_OPEN_EXCL))
		bd_abort_claiming(bdev, lns_bind_configure);
	if (!err)
		return 0;
out_module:
	module_put(THIS_MODULE);
out_putf:
	kfree(alias);
	fput(file);
	return err;
}

static void lns_bind_reset_limits(struct lns_device *dev)
{
	struct lns_compat_limits lim = {
		.logical_block_size = SECTOR_SIZE,
		.max_hw_sectors = queue_max_hw_sectors(dev->disk->queue),
	};

	lns_compat_apply_limits(dev->disk->queue, &lim);
}

/**
 * lns_bind_detach() - unbind a device in LNS_RUNDOWN
 * @dev: the device; nobody has it open, and the caller holds the disk's
 *	open_mutex and dev->lock (lns_device_settle(), which makes it
 *	LNS_UNBOUND in the same section)
 *
 * The backing file is released and partitions are dropped, in the one
 * section under dev->lock that LOOP_CONFIGURE's setup has too; no global
 * lock is held. No request can be in flight: every opener is gone,
 * in-kernel ones too (a device stacked on this one holds it open through
 * its backing file, a mounted filesystem through its superblock), the
 * block layer wrote back and dropped the page cache at the last close,
 * asynchronous I/O holds its file open until it completes, and no open
 * can start (open_mutex). So there is nothing to wait for and no freeze,
 * as with loop since 6.12.
 */
void lns_bind_detach(struct lns_device *dev)
{
	struct gendisk *disk = dev->disk;
	struct lns_backing_alias *alias;
	struct file *filp;
	int err;

	lockdep_assert_held(&disk->open_mutex);
	lockdep_assert_held(&dev->lock);
	filp = lns_bind_take_backing(dev, &alias);
	dev->bdev = NULL;
	dev->offset = 0;
	dev->sizelimit = 0;
	memset(dev->file_name, 0, LO_NAME_SIZE);
	lns_bind_reset_limits(dev);
	invalidate_disk(disk);
	lns_sysfs_remove(dev);
	kobject_uevent(&disk_to_dev(disk)->kobj, KOBJ_CHANGE);
	module_put(THIS_MODULE);
	lns_compat_force_media_change(disk);

	if (dev->flags & LO_FLAGS_PARTSCAN) {
		err = bdev_disk_changed(disk, false);
		if (err)
			pr_warn("%s: partition removal failed: %d\n",
				disk->disk_name, err);
	}
	dev->flags = 0;
	dev->use_dio = false;
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	/*
	 * fput() only queues the last __fput() (task work, or delayed work
	 * in a kernel thread), which may take another disk's open_mutex
	 * (a stacked device's node): nothing of it runs under dev->lock.
	 */
	fput(filp);
	kfree(alias);
}

/*
 * Check the chain, the access mode and the size, then change the backing
 * file, in one section under lns_bind_mutex (two changes must not close
 * a cycle). The caller froze the queue: nothing uses the old file.
 */
static int lns_bind_swap_frozen(struct lns_device *dev,
				struct block_device *bdev, struct file *file,
				struct lns_backing_alias **alias,
				struct file **old)
{
	struct lns_backing_alias *new_alias = *alias;
	int err;

	lockdep_assert_held(&dev->lock);
	mutex_lock(&lns_bind_mutex);
	err = lns_bind_validate(file, bdev, false) ?:
	      lns_bind_check_access(file);
	if (!err && lns_bind_size(dev->offset, dev->sizelimit, file) !=
		    lns_bind_size(dev->offset, dev->sizelimit, dev->backing))
		err = -EINVAL;
	if (!err) {
		*old = lns_bind_take_backing(dev, alias);
		lns_bind_set_backing(dev, file, new_alias);
	}
	mutex_unlock(&lns_bind_mutex);
	return err;
}

/*
 * The part of LOOP_CHANGE_FD done under dev->lock, on a bound device.
 * The freeze waits for
 * the requests in flight, which may wait for a stalled backing store:
 * with no lock held but this device's.
 */
static int lns_bind_swap(struct lns_device *dev, struct block_device *bdev,
			 struct file *file, struct lns_backing_alias **alias,
			 struct file **old, u32 fs_bsize)
{
	unsigned int token;
	int err;

	lockdep_assert_held(&dev->lock);
	if (!(dev->flags & LO_FLAGS_READ_ONLY))
		return -EINVAL;
	/* In-kernel loop devices are followed before the freeze. */
	err = lns_bind_validate(file, bdev, true);
	if (err)
		return err;

	token = lns_compat_freeze(dev->disk->queue);
	err = lns_bind_swap_frozen(dev, bdev, file, alias, old);
	if (!err)
		dev->backing_bsize = fs_bsize;
	lns_compat_unfreeze(dev->disk->queue, token);
	if (err)
		return err;
	lns_compat_force_media_change(dev->disk);
	lns_bind_default_dio(dev, dev->use_dio);
	return 0;
}

/* lns_bind_swap() under dev->lock, if the device is bound. */
static int lns_bind_swap_locked(struct lns_device *dev,
				struct block_device *bdev, struct file *file,
				struct lns_backing_alias **alias,
				struct file **old, u32 fs_bsize, bool *partscan)
{
	int err;

	err = lns_device_lock_bound(dev);
	if (err)
		return err;
	err = lns_bind_swap(dev, bdev, file, alias, old, fs_bsize);
	*partscan = dev->flags & LO_FLAGS_PARTSCAN;
	mutex_unlock(&dev->lock);
	return err;
}

/**
 * lns_bind_change_fd() - LOOP_CHANGE_FD
 * @dev: the device
 * @bdev: its block device
 * @fd: new backing file descriptor
 *
 * Return: 0, -EBADF, -ENXIO if unbound, -EINVAL unless the device is
 * read-only and the new file has the same size, -EPERM as for
 * lns_bind_configure().
 */
int lns_bind_change_fd(struct lns_device *dev, struct block_device *bdev,
		       unsigned int fd)
{
	struct file *file = fget(fd);
	struct lns_backing_alias *alias = NULL;
	struct file *old = NULL;
	bool partscan = false;
	u32 fs_bsize;
	int err;

	if (!file)
		return -EBADF;
	err = lns_bind_check_file(file);
	if (err)
		goto out_putf;
	fs_bsize = lns_bind_fs_bsize(file);
	file = lns_backing_open(file, &alias);
	if (IS_ERR(file))
		return PTR_ERR(file);

	dev_set_uevent_suppress(disk_to_dev(dev->disk), 1);
	/* On success, @alias is the old file's afterwards. */
	err = lns_bind_swap_locked(dev, bdev, file, &alias, &old, fs_bsize,
				   &partscan);
	dev_set_uevent_suppress(disk_to_dev(dev->disk), 0);
	if (!err) {
		fput(old);
		kfree(alias);
		if (partscan)
			lns_bind_rescan(dev);
		kobject_uevent(&disk_to_dev(dev->disk)->kobj, KOBJ_CHANGE);
		return 0;
	}
	kobject_uevent(&disk_to_dev(dev->disk)->kobj, KOBJ_CHANGE);
out_putf:
	kfree(alias);
	fput(file);
	return err;
}

/**
 * lns_bind_set_status() - LOOP_SET_STATUS and LOOP_SET_STATUS64
 * @dev: the device
 * @info: new settings; only AUTOCLEAR and PARTSCAN may be set, only
 *	AUTOCLEAR cleared
 *
 * Return: 0, -ENXIO if unbound, -EINVAL or -EOVERFLOW for bad settings.
 */
int lns_bind_set_status(struct lns_device *dev, const struct loop_info64 *info)
{
	bool partscan = false;
	bool resize = false;
	unsigned int token;
	u32 old_flags;
	int err;

	err = lns_device_lock_bound(dev);
	if (err)
		return err;
	if (dev->offset != info->lo_offset ||
	    dev->sizelimit != info->lo_sizelimit) {
		resize = true;
		sync_blockdev(dev->bdev);
		invalidate_bdev(dev->bdev);
	}

	token = lns_compat_freeze(dev->disk->queue);
	old_flags = dev->flags;
	err = lns_bind_info_to_dev(dev, info);
	if (!err) {
		dev->flags &= LOOP_SET_STATUS_SETTABLE_FLAGS;
		dev->flags |= old_flags & ~LOOP_SET_STATUS_SETTABLE_FLAGS;
		dev->flags |= old_flags & ~LOOP_SET_STATUS_CLEARABLE_FLAGS;
		if (resize)
			lns_bind_set_size(dev, lns_bind_size(dev->offset,
							     dev->sizelimit,
							     dev->backing));
	}
	lns_compat_unfreeze(dev->disk->queue, token);
	if (!err) {
		lns_bind_update_dio(dev, dev->use_dio);
		if ((dev->flags & LO_FLAGS_PARTSCAN) &&
		    !(old_flags & LO_FLAGS_PARTSCAN)) {
			clear_bit(GD_SUPPRESS_PART_SCAN, &dev->disk->state);
			partscan = true;
		}
	}
	mutex_unlock(&dev->lock);
	if (partscan)
		lns_bind_rescan(dev);
	return err;
}

/**
 * lns_bind_get_status() - LOOP_GET_STATUS and LOOP_GET_STATUS64
 * @dev: the device
 * @info: filled in, including the backing file's device and inode
 *
 * Return: 0, -ENXIO if unbound, or an error from getattr.
 */
int lns_bind_get_status(struct lns_device *dev, struct loop_info64 *info)
{
	struct lns_backing_alias *alias;
	struct kstat stat;
	struct path path;
	int err;

	err = lns_device_lock_bound(dev);
	if (err)
		return err;
	memset(info, 0, sizeof(*info));
	info->lo_number = dev->index;
	info->lo_offset = dev->offset;
	info->lo_sizelimit = dev->sizelimit;
	info->lo_flags = dev->flags;
	memcpy(info->lo_file_name, dev->file_name, LO_NAME_SIZE);
	path = dev->backing->f_path;
	path_get(&path);
	alias = dev->backing_alias;
	if (alias) {
		/* The node userspace passed, not its private reopening. */
		info->lo_device = huge_encode_dev(alias->dev);
		info->lo_inode = alias->ino;
	}
	mutex_unlock(&dev->lock);

	/* Not under dev->lock: this calls into the backing filesystem. */
	err = vfs_getattr(&path, &stat, STATX_INO, AT_STATX_SYNC_AS_STAT);
	if (!err) {
		if (!alias) {
			info->lo_device = huge_encode_dev(stat.dev);
			info->lo_inode = stat.ino;
		}
		info->lo_rdevice = huge_encode_dev(stat.rdev);
	}
	path_put(&path);
	return err;
}

/**
 * lns_bind_set_capacity() - LOOP_SET_CAPACITY: re-read the backing size
 * @dev: a bound device; the caller holds dev->lock (lns_device_lock_bound())
 */
void lns_bind_set_capacity(struct lns_device *dev)
{
	lockdep_assert_held(&dev->lock);
	lns_bind_set_size(dev, lns_bind_size(dev->offset, dev->sizelimit,
					     dev->backing));
}

/**
 * lns_bind_set_dio() - LOOP_SET_DIRECT_IO
 * @dev: a bound device; the caller holds dev->lock (lns_device_lock_bound())
 * @arg: nonzero to switch direct I/O on
 *
 * Return: 0, or -EINVAL if direct I/O is not possible.
 */
int lns_bind_set_dio(struct lns_device *dev, unsigned long arg)
{
	lockdep_assert_held(&dev->lock);
	lns_bind_update_dio(dev, !!arg);
	return dev->use_dio == !!arg ? 0 : -EINVAL;
}

/**
 * lns_bind_set_block_size() - LOOP_SET_BLOCK_SIZE
 * @dev: the device
 * @mode: open mode of the caller's file
 * @bdev: the device's block device
 * @arg: new logical block size
 *
 * Return: 0, -ENXIO if unbound, -EINVAL for a bad size, -EBUSY if the
 * device has an exclusive owner.
 */
int lns_bind_set_block_size(struct lns_device *dev, blk_mode_t mode,
			    struct block_device *bdev, unsigned long arg)
{
	struct lns_compat_limits lim;
	unsigned int token;
	int err;

	if (!(mode & BLK_OPEN_EXCL)) {
		err = lns_compat_prepare_to_claim(bdev, lns_bind_set_block_size);
		if (err)
			return err;
	}
	err = lns_device_lock_bound(dev);
	if (err)
		goto out_claim;
	if (!lns_bind_block_size_ok(arg)) {
		err = -EINVAL;
		goto out_unlock;
	}
	if (queue_logical_block_size(dev->disk->queue) == arg)
		goto out_unlock;

	sync_blockdev(dev->bdev);
	invalidate_bdev(dev->bdev);
	token = lns_compat_freeze(dev->disk->queue);
	lns_bind_limits(dev, &lim, arg);
	err = lns_compat_apply_limits(dev->disk->queue, &lim);
	lns_compat_unfreeze(dev->disk->queue, token);
	lns_bind_default_dio(dev, dev->use_dio);
out_unlock:
	mutex_unlock(&dev->lock);
out_claim:
	if (!(mode & BLK_OPEN_EXCL))
		bd_abort_claiming(bdev, lns_bind_set_block_size);
	return err;
}
