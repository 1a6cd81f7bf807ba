// SPDX-License-Identifier: GPL-2.0
/*
 * Loop device ioctls of loopns devices: argument copying, permission
 * checks and the 32-bit compat layout. The work is done in bind.c.
 *
 * Privileged operations need CAP_SYS_ADMIN in the user namespace that owns
 * the device's instance (where the in-kernel loop driver asks for it in
 * the initial namespace), or a file opened for writing, as in loop.
 */

#include <linux/compat.h>
#include <linux/uaccess.h>

#include "loopns.h"

static bool lns_ioctl_may_write(struct lns_device *dev, blk_mode_t mode)
{
	return (mode & BLK_OPEN_WRITE) ||
	       lns_instance_capable(dev->inst, CAP_SYS_ADMIN);
}

static void lns_ioctl_info_from_old(const struct loop_info *info,
				    struct loop_info64 *info64)
{
	memset(info64, 0, sizeof(*info64));
	info64->lo_number = info->lo_number;
	info64->lo_device = info->lo_device;
	info64->lo_inode = info->lo_inode;
	info64->lo_rdevice = info->lo_rdevice;
	info64->lo_offset = info->lo_offset;
	info64->lo_flags = info->lo_flags;
	memcpy(info64->lo_file_name, info->lo_name, LO_NAME_SIZE);
}

static int lns_ioctl_info_to_old(const struct loop_info64 *info64,
				 struct loop_info *info)
{
	memset(info, 0, sizeof(*info));
	info->lo_number = info64->lo_number;
	info->lo_device = info64->lo_device;
	info->lo_inode = info64->lo_inode;
	info->lo_rdevice = info64->lo_rdevice;
	info->lo_offset = info64->lo_offset;
	info->lo_flags = info64->lo_flags;
	memcpy(info->lo_name, info64->lo_file_name, LO_NAME_SIZE);

	/* Values that do not fit the old layout are an error. */
	if (info->lo_device != info64->lo_device ||
	    info->lo_rdevice != info64->lo_rdevice ||
	    info->lo_inode != info64->lo_inode ||
	    info->lo_offset != info64->lo_offset)
		return -EOVERFLOW;
	return 0;
}

static int lns_ioctl_set_status_old(struct lns_device *dev,
				    const struct loop_info __user *arg)
{
	struct loop_info64 info64;
	struct loop_info info;

	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	lns_ioctl_info_from_old(&info, &info64);
	return lns_bind_set_status(dev, &info64);
}

static int lns_ioctl_get_status_old(struct lns_device *dev,
				    struct loop_info __user *arg)
{
	struct loop_info64 info64;
	struct loop_info info;
	int err;

	if (!arg)
		return -EINVAL;
	err = lns_bind_get_status(dev, &info64);
	if (!err)
		err = lns_ioctl_info_to_old(&info64, &info);
	if (!err && copy_to_user(arg, &info, sizeof(info)))
		err = -EFAULT;
	return err;
}

static int lns_ioctl_set_status64(struct lns_device *dev,
				  const struct loop_info64 __user *arg)
{
	struct loop_info64 info64;

	if (copy_from_user(&info64, arg, sizeof(info64)))
		return -EFAULT;
	return lns_bind_set_status(dev, &info64);
}

static int lns_ioctl_get_status64(struct lns_device *dev,
				  struct loop_info64 __user *arg)
{
	struct loop_info64 info64;
	int err;

	if (!arg)
		return -EINVAL;
	err = lns_bind_get_status(dev, &info64);
	if (!err && copy_to_user(arg, &info64, sizeof(info64)))
		err = -EFAULT;
	return err;
}

static int lns_ioctl_configure(struct lns_device *dev, blk_mode_t mode,
			       struct block_device *bdev, unsigned int cmd,
			       unsigned long arg)
{
	struct loop_config config;

	if (cmd == LOOP_SET_FD) {
		/* The legacy call: defaults for everything but the fd. */
		memset(&config, 0, sizeof(config));
		config.fd = arg;
	} else if (copy_from_user(&config, (void __user *)arg,
				  sizeof(config))) {
		return -EFAULT;
	}
	return lns_bind_configure(dev, mode, bdev, &config);
}

/* Ioctls of a bound device that need nothing but dev->lock. */
static int lns_ioctl_simple(struct lns_device *dev, unsigned int cmd,
			    unsigned long arg)
{
	int err;

	err = lns_device_lock_bound(dev);
	if (err)
		return err;
	if (cmd == LOOP_SET_CAPACITY)
		lns_bind_set_capacity(dev);
	else
		err = lns_bind_set_dio(dev, arg);
	mutex_unlock(&dev->lock);
	return err;
}

/**
 * lns_ioctl() - ->ioctl of loopns block devices
 * @bdev: the block device
 * @mode: open mode of the caller's file
 * @cmd: ioctl number
 * @arg: ioctl argument
 *
 * Return: as the in-kernel loop driver, with -EINVAL for unknown commands
 * (after the block layer's own ioctls have been tried).
 */
int lns_ioctl(struct block_device *bdev, blk_mode_t mode, unsigned int cmd,
	      unsigned long arg)
{
	struct lns_device *dev = bdev->bd_disk->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case LOOP_SET_FD:
	case LOOP_CONFIGURE:
		return lns_ioctl_configure(dev, mode, bdev, cmd, arg);
	case LOOP_CHANGE_FD:
		return lns_bind_change_fd(dev, bdev, arg);
	case LOOP_CLR_FD:
		return lns_device_clear(dev);
	case LOOP_SET_STATUS:
		if (!lns_ioctl_may_write(dev, mode))
			return -EPERM;
		return lns_ioctl_set_status_old(dev, argp);
	case LOOP_GET_STATUS:
		return lns_ioctl_get_status_old(dev, argp);
	case LOOP_SET_STATUS64:
		if (!lns_ioctl_may_write(dev, mode))
			return -EPERM;
		return lns_ioctl_set_status64(dev, argp);
	case LOOP_GET_STATUS64:
		return lns_ioctl_get_status64(dev, argp);
	case LOOP_SET_BLOCK_SIZE:
		if (!lns_ioctl_may_write(dev, mode))
			return -EPERM;
		return lns_bind_set_block_size(dev, mode, bdev, arg);
	case LOOP_SET_CAPACITY:
	case LOOP_SET_DIRECT_IO:
		if (!lns_ioctl_may_write(dev, mode))
			return -EPERM;
		return lns_ioctl_simple(dev, cmd, arg);
	default:
		return -EINVAL;
	}
}

#ifdef CONFIG_COMPAT
/* struct loop_info as 32-bit userspace lays it out. */
struct lns_compat_loop_info {
	compat_int_t	lo_number;
	compat_dev_t	lo_device;
	compat_ulong_t	lo_inode;
	compat_dev_t	lo_rdevice;
	compat_int_t	lo_offset;
	compat_int_t	lo_encrypt_type;
	compat_int_t	lo_encrypt_key_size;
	compat_int_t	lo_flags;
	char		lo_name[LO_NAME_SIZE];
	unsigned char	lo_encrypt_key[LO_KEY_SIZE];
	compat_ulong_t	lo_init[2];
	char		reserved[4];
};

static noinline int
lns_ioctl_set_status_compat(struct lns_device *dev,
			    const struct lns_compat_loop_info __user *arg)
{
	struct lns_compat_loop_info info;
	struct loop_info64 info64;

	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	memset(&info64, 0, sizeof(info64));
	info64.lo_number = info.lo_number;
	info64.lo_device = info.lo_device;
	info64.lo_inode = info.lo_inode;
	info64.lo_rdevice = info.lo_rdevice;
	info64.lo_offset = info.lo_offset;
	info64.lo_flags = info.lo_flags;
	memcpy(info64.lo_file_name, info.lo_name, LO_NAME_SIZE);
	return lns_bind_set_status(dev, &info64);
}

static noinline int
lns_ioctl_get_status_compat(struct lns_device *dev,
			    struct lns_compat_loop_info __user *arg)
{
	struct lns_compat_loop_info info;
	struct loop_info64 info64;
	int err;

	if (!arg)
		return -EINVAL;
	err = lns_bind_get_status(dev, &info64);
	if (err)
		return err;
	memset(&info, 0, sizeof(info));
	info.lo_number = info64.lo_number;
	info.lo_device = info64.lo_device;
	info.lo_inode = info64.lo_inode;
	info.lo_rdevice = info64.lo_rdevice;
	info.lo_offset = info64.lo_offset;
	info.lo_flags = info64.lo_flags;
	memcpy(info.lo_name, info64.lo_file_name, LO_NAME_SIZE);
	if (info.lo_device != info64.lo_device ||
	    info.lo_rdevice != info64.lo_rdevice ||
	    info.lo_inode != info64.lo_inode ||
	    info.lo_offset != info64.lo_offset)
		return -EOVERFLOW;
	if (copy_to_user(arg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

/**
 * lns_ioctl_compat() - ->compat_ioctl of loopns block devices
 * @bdev: the block device
 * @mode: open mode of the caller's file
 * @cmd: ioctl number
 * @arg: ioctl argument from a 32-bit process
 *
 * Return: as lns_ioctl(), or -ENOIOCTLCMD for commands loop does not know.
 */
int lns_ioctl_compat(struct block_device *bdev, blk_mode_t mode,
		     unsigned int cmd, unsigned long arg)
{
	struct lns_device *dev = bdev->bd_disk->private_data;

	switch (cmd) {
	case LOOP_SET_STATUS:
		if (!lns_ioctl_may_write(dev, mode))
			return -EPERM;
		return lns_ioctl_set_status_compat(dev, compat_ptr(arg));
	case LOOP_GET_STATUS:
		return lns_ioctl_get_status_compat(dev, compat_ptr(arg));
	case LOOP_SET_CAPACITY:
	case LOOP_CLR_FD:
	case LOOP_GET_STATUS64:
	case LOOP_SET_STATUS64:
	case LOOP_CONFIGURE:
		return lns_ioctl(bdev, mode, cmd,
				 (unsigned long)compat_ptr(arg));
	case LOOP_SET_FD:
	case LOOP_CHANGE_FD:
	case LOOP_SET_BLOCK_SIZE:
	case LOOP_SET_DIRECT_IO:
		return lns_ioctl(bdev, mode, cmd, arg);
	default:
		return -ENOIOCTLCMD;
	}
}
#endif
