// SPDX-License-Identifier: GPL-2.0
/*
 * loop-control of a loopns instance: LOOP_CTL_ADD, LOOP_CTL_REMOVE and
 * LOOP_CTL_GET_FREE, scoped to the instance the node belongs to, and
 * LOOPNS_CTL_ATTACH (see <linux/loopns.h>).
 *
 * The node's dev_t comes from a one-minor char region with no cdev behind
 * it: loop-control works only through the inode loopns created, never
 * through a node made elsewhere with the same numbers.
 */

#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/loopns.h>
#include <linux/module.h>

#include "loopns.h"

static dev_t lns_control_dev;

/**
 * lns_control_devt() - dev_t of every instance's loop-control node
 *
 * Return: the dev_t.
 */
dev_t lns_control_devt(void)
{
	return lns_control_dev;
}

/* Open the node of @dev through the instance @ctl belongs to. */
static struct file *lns_control_open_node(struct file *ctl,
					  struct lns_device *dev, bool rw)
{
	struct path root = {
		.mnt = ctl->f_path.mnt,
		.dentry = ctl->f_path.mnt->mnt_root,
	};
	char name[24];

	snprintf(name, sizeof(name), "loop%d", dev->index);
	return file_open_root(&root, name, (rw ? O_RDWR : O_RDONLY) |
			      O_LARGEFILE, 0);
}

static bool lns_control_attach_rw(const struct loop_config *config)
{
	struct file *backing;
	bool rw;

	if (config->info.lo_flags & LO_FLAGS_READ_ONLY)
		return false;
	backing = fget(config->fd);
	if (!backing)
		return true;	/* LOOP_CONFIGURE reports EBADF */
	rw = backing->f_mode & FMODE_WRITE;
	fput(backing);
	return rw;
}

static long lns_control_attach(struct file *ctl,
			       struct loopns_attach __user *uarg)
{
	struct lns_instance *inst = file_inode(ctl)->i_sb->s_fs_info;
	struct loopns_attach arg;
	struct lns_device *dev;
	struct file *file;
	bool rw;
	int fd, err;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if ((arg.flags & ~LOOPNS_ATTACH_FLAGS) || arg.reserved[0] ||
	    arg.reserved[1] || arg.reserved[2] || arg.reserved[3])
		return -EINVAL;
	rw = lns_control_attach_rw(&arg.config);

	err = mutex_lock_killable(&inst->ctl_lock);
	if (err)
		return err;
	arg.index = lns_instance_add(inst, -1, true, &dev);
	mutex_unlock(&inst->ctl_lock);
	if (arg.index < 0)
		return arg.index;

	/* After lns_device_attach_done(), closing @file deletes the device. */
	file = lns_control_open_node(ctl, dev, rw);
	if (IS_ERR(file)) {
		/* Nothing will ever close it: deleted now, unless opened. */
		lns_device_attach_done(dev);
		return PTR_ERR(file);
	}
	err = lns_bind_configure(dev, BLK_OPEN_READ | (rw ? BLK_OPEN_WRITE : 0),
				 I_BDEV(file->f_mapping->host), &arg.config);
	lns_device_attach_done(dev);
	if (err)
		goto out_fput;

	fd = get_unused_fd_flags((arg.flags & LOOPNS_ATTACH_CLOEXEC) ?
				 O_CLOEXEC : 0);
	if (fd < 0) {
		err = fd;
		goto out_fput;
	}
	if (copy_to_user(&uarg->index, &arg.index, sizeof(arg.index))) {
		put_unused_fd(fd);
		err = -EFAULT;
		goto out_fput;
	}
	fd_install(fd, file);
	return fd;

out_fput:
	fput(file);
	return err;
}

static long lns_control_ioctl(struct file *file, unsigned int cmd,
			      unsigned long parm)
{
	struct super_block *sb = file_inode(file)->i_sb;
	struct lns_instance *inst = sb->s_fs_info;
	struct lns_device *removed = NULL;
	long ret;

	switch (cmd) {
	case LOOP_CTL_ADD:
	case LOOP_CTL_REMOVE:
	case LOOP_CTL_GET_FREE:
		break;
	case LOOPNS_CTL_ATTACH:
		return lns_control_attach(file, (void __user *)parm);
	default:
		return -ENOSYS;
	}

	ret = mutex_lock_killable(&inst->ctl_lock);
	if (ret)
		return ret;
	switch (cmd) {
	case LOOP_CTL_ADD:
		ret = lns_instance_add(inst, (int)parm, false, NULL);
		break;
	case LOOP_CTL_REMOVE:
		ret = lns_instance_remove(inst, (int)parm, &removed);
		break;
	default:
		ret = lns_instance_get_free(inst);
		break;
	}
	mutex_unlock(&inst->ctl_lock);
	if (removed)
		lns_device_destroy(removed);
	return ret;
}

const struct file_operations lns_control_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= lns_control_ioctl,
	.compat_ioctl	= lns_control_ioctl,
	.llseek		= noop_llseek,
};

/**
 * lns_control_init() - reserve the loop-control dev_t
 *
 * Return: 0 or a negative errno.
 */
int lns_control_init(void)
{
	return alloc_chrdev_region(&lns_control_dev, 0, 1, LNS_NAME "-control");
}

/**
 * lns_control_exit() - release the loop-control dev_t
 */
void lns_control_exit(void)
{
	unregister_chrdev_region(lns_control_dev, 1);
}
