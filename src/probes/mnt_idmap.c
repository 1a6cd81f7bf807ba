// SPDX-License-Identifier: GPL-2.0
/* 6.3: inode operations take a struct mnt_idmap instead of a user_namespace. */
#include <linux/fs.h>

static int probe_create(struct mnt_idmap *idmap, struct inode *dir,
			struct dentry *dentry, umode_t mode, bool excl)
{
	return 0;
}

const struct inode_operations probe_iops = {
	.create = probe_create,
};
