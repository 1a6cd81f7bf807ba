// SPDX-License-Identifier: GPL-2.0
/*
 * Backing files that are nodes of a loopns instance.
 *
 * A struct file holds the mount it was opened through, and a mount holds
 * its superblock. A device bound to a node of an instance would therefore
 * keep that instance alive: after `umount -l` of a container's instance
 * in which loop1 is stacked on loop0, loop1's backing file pins the
 * instance, the instance keeps loop1 bound, and neither ever goes away.
 *
 * Such a backing file is opened again on a superblock of its own, with a
 * single block device inode for the same dev_t as root, and the caller's
 * file is dropped. The new file pins only that tiny superblock, which
 * pins the module (not any instance) until the file's last reference is
 * gone. Where the node was and what it was called is kept in a struct
 * lns_backing_alias, for LOOP_GET_STATUS and sysfs backing_file.
 */

#include <linux/blkdev.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/slab.h>

#include "loopns.h"

#define LNS_BACKING_MAGIC	0x6c6e7362	/* "lnsb" */

static const struct super_operations lns_backing_sops = {
	.statfs		= simple_statfs,
	.drop_inode	= lns_compat_inode_just_drop,
};

static int lns_backing_fill_super(struct super_block *sb,
				  struct fs_context *fc)
{
	dev_t *devt = fc->fs_private;
	struct inode *inode;

	sb->s_magic = LNS_BACKING_MAGIC;
	sb->s_op = &lns_backing_sops;

	inode = new_inode(sb);
	if (!inode)
		return -ENOMEM;
	inode->i_ino = 1;
	init_special_inode(inode, S_IFBLK | 0600, *devt);
	sb->s_root = d_make_root(inode);
	return sb->s_root ? 0 : -ENOMEM;
}

static int lns_backing_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, lns_backing_fill_super);
}

static const struct fs_context_operations lns_backing_context_ops = {
	.get_tree	= lns_backing_get_tree,
};

static int lns_backing_init_fs_context(struct fs_context *fc)
{
	fc->ops = &lns_backing_context_ops;
	return 0;
}

/*
 * Never registered: mounted only here, never visible in a mount
 * namespace. Its owner makes each superblock pin the module.
 */
static struct file_system_type lns_backing_fs_type = {
	.owner			= THIS_MODULE,
	.name			= "loopns-backing",
	.init_fs_context	= lns_backing_init_fs_context,
	.kill_sb		= kill_anon_super,
};

/* A private mount whose root is a block device inode for @devt. */
static struct vfsmount *lns_backing_mount(dev_t devt)
{
	struct fs_context *fc;
	struct vfsmount *mnt;

	fc = fs_context_for_mount(&lns_backing_fs_type, SB_KERNMOUNT);
	if (IS_ERR(fc))
		return ERR_CAST(fc);
	fc->fs_private = &devt;
	mnt = fc_mount(fc);
	fc->fs_private = NULL;
	put_fs_context(fc);
	return mnt;
}

/* Where @file was opened, as the backing file's identity to userspace. */
static struct lns_backing_alias *lns_backing_alias(struct file *file)
{
	struct inode *inode = file_inode(file);
	struct lns_backing_alias *alias;
	char *buf, *p;
	size_t len;

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	p = file_path(file, buf, PATH_MAX);
	if (IS_ERR(p)) {
		kfree(buf);
		return ERR_CAST(p);
	}
	len = strlen(p) + 1;
	alias = kmalloc(struct_size(alias, path, len), GFP_KERNEL);
	if (alias) {
		alias->dev = inode->i_sb->s_dev;
		alias->ino = inode->i_ino;
		memcpy(alias->path, p, len);
	}
	kfree(buf);
	return alias ?: ERR_PTR(-ENOMEM);
}

/**
 * lns_backing_open() - the file a device may keep as its backing store
 * @file: the file userspace passed (a reference the caller owns)
 * @aliasp: out: NULL, or where @file really was (free with kfree())
 *
 * A block device node of a loopns instance is opened again, with the same
 * flags and credentials, on a private mount (see the top of this file),
 * and @file is released; any other file is returned as it is.
 *
 * Return: the file to bind (the caller's reference), or an ERR_PTR, in
 * which case @file has been released too.
 */
struct file *lns_backing_open(struct file *file,
			      struct lns_backing_alias **aliasp)
{
	struct inode *inode = file_inode(file);
	struct lns_backing_alias *alias;
	struct file *reopened;
	struct path path;

	*aliasp = NULL;
	if (!S_ISBLK(inode->i_mode) || !lns_fs_is_instance(inode->i_sb))
		return file;

	alias = lns_backing_alias(file);
	if (IS_ERR(alias)) {
		fput(file);
		return ERR_CAST(alias);
	}
	path.mnt = lns_backing_mount(inode->i_rdev);
	if (IS_ERR(path.mnt)) {
		reopened = ERR_CAST(path.mnt);
		goto out;
	}
	path.dentry = path.mnt->mnt_root;
	reopened = dentry_open(&path, file->f_flags & ~(O_CREAT | O_EXCL |
							  O_NOCTTY | O_TRUNC),
			       file->f_cred);
	/* The file, if any, holds the mount now. */
	mntput(path.mnt);
out:
	fput(file);
	if (IS_ERR(reopened))
		kfree(alias);
	else
		*aliasp = alias;
	return reopened;
}
