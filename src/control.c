// SPDX-License-Identifier: GPL-2.0
/*
 * loop-control of a loopns instance: LOOP_CTL_ADD, LOOP_CTL_REMOVE and
 * LOOP_CTL_GET_FREE, scoped to the instance the node belongs to.
 *
 * The node's dev_t comes from a one-minor char region with no cdev behind
 * it: loop-control works only through the inode loopns created, never
 * through a node made elsewhere with the same numbers.
 */

#include <linux/fs.h>
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

static long lns_control_ioctl(struct file *file, unsigned int cmd,
			      unsigned long parm)
{
	struct super_block *sb = file_inode(file)->i_sb;
	struct lns_instance *inst = sb->s_fs_info;
	struct inode *dir = d_inode(sb->s_root);
	long ret;

	switch (cmd) {
	case LOOP_CTL_ADD:
	case LOOP_CTL_REMOVE:
	case LOOP_CTL_GET_FREE:
		break;
	default:
		return -ENOSYS;
	}

	ret = down_write_killable(&dir->i_rwsem);
	if (ret)
		return ret;
	switch (cmd) {
	case LOOP_CTL_ADD:
		ret = lns_instance_add(inst, (int)parm);
		break;
	case LOOP_CTL_REMOVE:
		ret = lns_instance_remove(inst, (int)parm);
		break;
	default:
		ret = lns_instance_get_free(inst);
		break;
	}
	inode_unlock(dir);
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
