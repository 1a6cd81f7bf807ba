// SPDX-License-Identifier: GPL-2.0
/* 6.18: generic_delete_inode() is renamed inode_just_drop(). */
#include <linux/fs.h>

int probe(struct inode *inode);
int probe(struct inode *inode)
{
	return inode_just_drop(inode);
}
