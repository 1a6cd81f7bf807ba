// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/block/loopnsM/loop/: backing_file, offset, sizelimit, autoclear,
 * partscan and dio, present exactly while the device is bound (util-linux
 * takes a readable loop/offset to mean "in use").
 *
 * sysfs is global, and backing_file names a path in the filesystem of the
 * container that attached the image. It is readable only from the user
 * namespace that owns the device's instance and its ancestors (the host);
 * anyone else gets EACCES. The other attributes reveal nothing about
 * other containers and stay readable, so that "used" stays visible.
 */

#include <linux/blkdev.h>
#include <linux/device.h>
#include <linux/sysfs.h>
#include <linux/user_namespace.h>

#include "loopns.h"

static struct lns_device *lns_sysfs_dev(struct device *d)
{
	return dev_to_disk(d)->private_data;
}

/* Whether the reader's user namespace is @owner or one of its ancestors. */
static bool lns_sysfs_may_see(struct user_namespace *owner)
{
	struct user_namespace *reader = current_user_ns();
	struct user_namespace *ns;

	for (ns = owner; ns != reader; ns = ns->parent)
		if (ns == &init_user_ns)
			return false;
	return true;
}

/* The path of a node that was opened again (backing.c), for the show. */
static char *lns_sysfs_copy_path(const char *path, char *buf)
{
	if (strscpy(buf, path, PAGE_SIZE - 1) < 0)
		return ERR_PTR(-ENAMETOOLONG);
	return buf;
}

static ssize_t backing_file_show(struct device *d,
				 struct device_attribute *attr, char *buf)
{
	struct lns_device *dev = lns_sysfs_dev(d);
	char *p = NULL;
	ssize_t len;

	if (!lns_sysfs_may_see(dev->inst->user_ns))
		return -EACCES;
	spin_lock_irq(&dev->backing_lock);
	if (dev->backing_alias)
		p = lns_sysfs_copy_path(dev->backing_alias->path, buf);
	else if (dev->backing)
		p = file_path(dev->backing, buf, PAGE_SIZE - 1);
	spin_unlock_irq(&dev->backing_lock);

	if (IS_ERR_OR_NULL(p))
		return PTR_ERR(p);
	len = strlen(p);
	memmove(buf, p, len);
	buf[len++] = '\n';
	buf[len] = 0;
	return len;
}

static ssize_t offset_show(struct device *d, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (unsigned long long)lns_sysfs_dev(d)->offset);
}

static ssize_t sizelimit_show(struct device *d, struct device_attribute *attr,
			      char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (unsigned long long)lns_sysfs_dev(d)->sizelimit);
}

static ssize_t lns_sysfs_flag(struct device *d, char *buf, u32 flag)
{
	return sysfs_emit(buf, "%d\n", !!(lns_sysfs_dev(d)->flags & flag));
}

static ssize_t autoclear_show(struct device *d, struct device_attribute *attr,
			      char *buf)
{
	return lns_sysfs_flag(d, buf, LO_FLAGS_AUTOCLEAR);
}

static ssize_t partscan_show(struct device *d, struct device_attribute *attr,
			     char *buf)
{
	return lns_sysfs_flag(d, buf, LO_FLAGS_PARTSCAN);
}

static ssize_t dio_show(struct device *d, struct device_attribute *attr,
			char *buf)
{
	return lns_sysfs_flag(d, buf, LO_FLAGS_DIRECT_IO);
}

static DEVICE_ATTR_RO(backing_file);
static DEVICE_ATTR_RO(offset);
static DEVICE_ATTR_RO(sizelimit);
static DEVICE_ATTR_RO(autoclear);
static DEVICE_ATTR_RO(partscan);
static DEVICE_ATTR_RO(dio);

static struct attribute *lns_sysfs_attrs[] = {
	&dev_attr_backing_file.attr,
	&dev_attr_offset.attr,
	&dev_attr_sizelimit.attr,
	&dev_attr_autoclear.attr,
	&dev_attr_partscan.attr,
	&dev_attr_dio.attr,
	NULL,
};

static const struct attribute_group lns_sysfs_group = {
	.name	= "loop",
	.attrs	= lns_sysfs_attrs,
};

/**
 * lns_sysfs_add() - create the loop/ attributes of a device being bound
 * @dev: the device
 */
void lns_sysfs_add(struct lns_device *dev)
{
	dev->sysfs_inited = !sysfs_create_group(&disk_to_dev(dev->disk)->kobj,
						&lns_sysfs_group);
}

/**
 * lns_sysfs_remove() - remove the loop/ attributes of a device
 * @dev: the device, being unbound
 */
void lns_sysfs_remove(struct lns_device *dev)
{
	if (dev->sysfs_inited)
		sysfs_remove_group(&disk_to_dev(dev->disk)->kobj,
				   &lns_sysfs_group);
	dev->sysfs_inited = false;
}
