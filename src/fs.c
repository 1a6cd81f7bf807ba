// SPDX-License-Identifier: GPL-2.0
/*
 * The loopns filesystem: every mount is a new private instance whose root
 * directory holds "loop-control" and one block device node per device.
 *
 * The directory lives entirely in the dcache (like ramfs): nodes are
 * created and removed only by loopns itself (and unlink(2)), under the
 * root directory's i_rwsem, held for the dcache operations only. A device
 * node's inode points to its device (i_private) until the device is
 * deleted by loopns; a device claimed by unlink(2) is deleted when that
 * inode is evicted, after the VFS dropped the directory lock.
 */

#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/fsnotify.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>

#include "loopns.h"

#define LNS_SUPER_MAGIC		0x6c6e7373	/* "lnss" */
#define LNS_MAX_LIMIT		1048576
#define LNS_ROOT_INO		1
#define LNS_CONTROL_INO		2
#define LNS_NODE_INO_BASE	16	/* + device index << 16 | partition */

enum lns_fs_param {
	LNS_OPT_MAX,
	LNS_OPT_UID,
	LNS_OPT_GID,
	LNS_OPT_MODE,
};

static const struct fs_parameter_spec lns_fs_params[] = {
	fsparam_u32("max", LNS_OPT_MAX),
	fsparam_u32("uid", LNS_OPT_UID),
	fsparam_u32("gid", LNS_OPT_GID),
	fsparam_u32oct("mode", LNS_OPT_MODE),
	{}
};

/**
 * struct lns_fs_context - mount options being parsed
 * @max: max= value
 * @uid: owner of the nodes
 * @gid: group of the nodes
 * @mode: permission bits of the nodes
 * @set: bit mask of the LNS_OPT_* given
 */
struct lns_fs_context {
	int max;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
	unsigned int set;
};

static struct file_system_type lns_fs_type;

static int lns_fs_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct lns_fs_context *ctx = fc->fs_private;
	struct fs_parse_result result;
	int opt;

	opt = fs_parse(fc, lns_fs_params, param, &result);
	if (opt < 0)
		return opt;

	switch (opt) {
	case LNS_OPT_MAX:
		if (result.uint_32 < 1 || result.uint_32 > LNS_MAX_LIMIT)
			return invalfc(fc, "max must be between 1 and %d",
				       LNS_MAX_LIMIT);
		ctx->max = result.uint_32;
		break;
	case LNS_OPT_UID:
		ctx->uid = make_kuid(fc->user_ns, result.uint_32);
		if (!uid_valid(ctx->uid))
			return invalfc(fc, "uid %u is not mapped in the mounter's user namespace",
				       result.uint_32);
		break;
	case LNS_OPT_GID:
		ctx->gid = make_kgid(fc->user_ns, result.uint_32);
		if (!gid_valid(ctx->gid))
			return invalfc(fc, "gid %u is not mapped in the mounter's user namespace",
				       result.uint_32);
		break;
	case LNS_OPT_MODE:
		if (result.uint_32 & ~0666)
			return invalfc(fc, "mode must be a subset of 0666");
		ctx->mode = result.uint_32;
		break;
	}
	ctx->set |= BIT(opt);
	return 0;
}

static void lns_fs_apply_options(struct lns_instance *inst,
				 const struct lns_fs_context *ctx)
{
	mutex_lock(&inst->lock);
	if (ctx->set & BIT(LNS_OPT_MAX))
		inst->max = ctx->max;
	if (ctx->set & BIT(LNS_OPT_UID))
		inst->uid = ctx->uid;
	if (ctx->set & BIT(LNS_OPT_GID))
		inst->gid = ctx->gid;
	if (ctx->set & BIT(LNS_OPT_MODE))
		inst->mode = ctx->mode;
	mutex_unlock(&inst->lock);
}

static struct inode *lns_fs_new_inode(struct super_block *sb,
				      unsigned long ino, umode_t mode)
{
	struct lns_instance *inst = sb->s_fs_info;
	struct inode *inode = new_inode(sb);

	if (!inode)
		return NULL;
	inode->i_ino = ino;
	inode->i_mode = mode;
	inode->i_uid = inst->uid;
	inode->i_gid = inst->gid;
	lns_compat_inode_init_ts(inode);
	return inode;
}

/*
 * Link @inode into the root directory under @name; the dentry stays pinned.
 * On failure @inode is put without its i_private: its eviction must not
 * delete a device that the caller still owns.
 */
static struct dentry *lns_fs_add_node(struct super_block *sb,
				      const char *name, struct inode *inode)
{
	struct dentry *root = sb->s_root;
	struct dentry *dentry;

	dentry = lns_compat_lookup(root, name);
	if (IS_ERR(dentry)) {
		inode->i_private = NULL;
		iput(inode);
		return dentry;
	}
	if (d_really_is_positive(dentry)) {
		dput(dentry);
		inode->i_private = NULL;
		iput(inode);
		return ERR_PTR(-EEXIST);
	}
	lns_compat_d_instantiate_pinned(dentry, inode);
	fsnotify_create(d_inode(root), dentry);
	return dentry;
}

/*
 * A node is opened through its dev_t. If its device is deleted between
 * the lookup of the node and the block layer's open, and a new device
 * (maybe of another instance) is given that dev_t at once, the open would
 * reach the new device. Nodes therefore have their own ->open: it opens
 * the block device as init_special_inode() would, then checks that it
 * reached device loopN of the node's own instance.
 *
 * lns_fs_blk_fops is the block layer's file_operations (not exported),
 * noted from init_special_inode() whenever a node is made.
 */
static const struct file_operations *lns_fs_blk_fops;

static bool lns_fs_node_reaches(struct inode *inode, struct block_device *bdev)
{
	struct lns_device *dev;

	if (!lns_device_is_ours(bdev))
		return false;
	dev = bdev->bd_disk->private_data;
	return dev->inst == inode->i_sb->s_fs_info &&
	       dev->index == (inode->i_ino - LNS_NODE_INO_BASE) >> 16;
}

static int lns_fs_node_open(struct inode *inode, struct file *file)
{
	const struct file_operations *fops = READ_ONCE(lns_fs_blk_fops);
	int err;

	replace_fops(file, fops);
	err = fops->open(inode, file);
	if (err)
		return err;
	if (lns_fs_node_reaches(inode, I_BDEV(file->f_mapping->host)))
		return 0;
	fops->release(inode, file);
	return -ENXIO;
}

static const struct file_operations lns_fs_node_fops = {
	.owner		= THIS_MODULE,
	.open		= lns_fs_node_open,
};

static void lns_fs_init_node(struct inode *inode, dev_t devt)
{
	init_special_inode(inode, inode->i_mode, devt);
	WRITE_ONCE(lns_fs_blk_fops, inode->i_fop);
	inode->i_fop = &lns_fs_node_fops;
}

/**
 * lns_fs_create_node() - create the node "loopN" of a new device
 * @dev: the device; the caller holds the instance's ctl_lock
 *
 * Return: 0 or a negative errno.
 */
int lns_fs_create_node(struct lns_device *dev)
{
	struct lns_instance *inst = dev->inst;
	struct super_block *sb = inst->sb;
	struct inode *dir = d_inode(sb->s_root);
	struct dentry *dentry;
	struct inode *inode;
	char name[24];

	lockdep_assert_held(&inst->ctl_lock);
	inode = lns_fs_new_inode(sb, LNS_NODE_INO_BASE +
				 ((unsigned long)dev->index << 16),
				 S_IFBLK | inst->mode);
	if (!inode)
		return -ENOMEM;
	lns_fs_init_node(inode, disk_devt(dev->disk));
	/*
	 * Before the dentry is visible: an RCU-walk lookup may find it the
	 * moment it is instantiated, and lns_fs_revalidate() takes a block
	 * node without i_private for a partition's and drops it (the
	 * device's node would be gone: ENOENT for a device that exists).
	 */
	inode->i_private = dev;

	snprintf(name, sizeof(name), "loop%d", dev->index);
	inode_lock(dir);
	dentry = lns_fs_add_node(sb, name, inode);
	if (!IS_ERR(dentry))
		dev->dentry = dentry;
	inode_unlock(dir);
	return PTR_ERR_OR_ZERO(dentry);
}

/**
 * lns_fs_remove_node() - remove the node of a device being deleted
 * @dev: the device; the caller holds the instance's ctl_lock
 */
void lns_fs_remove_node(struct lns_device *dev)
{
	struct dentry *dentry;
	struct inode *dir;

	lockdep_assert_held(&dev->inst->ctl_lock);
	dir = d_inode(dev->inst->sb->s_root);
	inode_lock(dir);
	dentry = dev->dentry;
	if (dentry) {
		dev->dentry = NULL;
		d_inode(dentry)->i_private = NULL;
		dget(dentry);
		simple_unlink(dir, dentry);
		d_delete(dentry);
		dput(dentry);
	}
	inode_unlock(dir);
}

/**
 * lns_fs_forget_node() - the instance is going away with its nodes
 * @dev: a device of the instance, whose superblock is being killed or
 *	cannot be activated any more; the caller holds the instance's lock
 *
 * Unlinks the device from its node, which goes with the superblock: the
 * device lives on as an orphan if it is open, and the node's eviction
 * does not delete it (lns_fs_evict_inode()).
 */
void lns_fs_forget_node(struct lns_device *dev)
{
	lockdep_assert_held(&dev->inst->lock);
	/* No unlink(2) or control operation can run: nothing is mounted. */
	if (dev->dentry)
		d_inode(dev->dentry)->i_private = NULL;
	dev->dentry = NULL;
}

/*
 * A device node unlinked by unlink(2) took its device with it
 * (lns_fs_unlink()): the device is deleted here, with no VFS lock
 * held; every other node lost its i_private before it got here.
 */
static void lns_fs_evict_inode(struct inode *inode)
{
	struct lns_device *dev = inode->i_private;

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (S_ISBLK(inode->i_mode) && dev)
		lns_device_destroy(dev);
}

static int lns_fs_unlink(struct inode *dir, struct dentry *dentry)
{
	struct inode *inode = d_inode(dentry);
	struct lns_device *dev = inode->i_private;
	int err;

	/* loop-control and nodes loopns does not own cannot go away. */
	if (!S_ISBLK(inode->i_mode) || !dev)
		return -EPERM;
	/*
	 * Claim the device without waiting for its lock (the VFS holds the
	 * directory's); the inode keeps @dev, and lns_fs_evict_inode()
	 * deletes it once the VFS dropped the directory lock.
	 */
	err = lns_device_claim_idle(dev, true);
	if (err)
		return err;
	dev->dentry = NULL;
	return simple_unlink(dir, dentry);
}

/*
 * Parse "loop<N>p<M>" (no leading zeros, M >= 1).
 * Return: true and the numbers if @name is a partition node name.
 */
static bool lns_fs_parse_part(const char *name, int *index,
			      unsigned int *partno)
{
	char buf[32];
	char *p;

	if (strlen(name) >= sizeof(buf) || strncmp(name, "loop", 4))
		return false;
	strscpy(buf, name + 4, sizeof(buf));
	p = strchr(buf, 'p');
	if (!p)
		return false;
	*p++ = 0;
	if ((buf[0] == '0' && buf[1]) || (p[0] == '0'))
		return false;
	return !kstrtoint(buf, 10, index) && *index >= 0 &&
	       !kstrtouint(p, 10, partno) && *partno >= 1;
}

/*
 * Partition nodes are not pinned like device nodes: lookup creates them
 * from the disk's current partition table, readdir lists them, and
 * revalidation drops a node whose partition is gone or was renumbered.
 */
static struct dentry *lns_fs_lookup(struct inode *dir, struct dentry *dentry,
				    unsigned int flags)
{
	struct super_block *sb = dir->i_sb;
	struct lns_instance *inst = sb->s_fs_info;
	struct inode *inode = NULL;
	unsigned int partno;
	dev_t devt;
	int index;

	if (dentry->d_name.len > NAME_MAX)
		return ERR_PTR(-ENAMETOOLONG);
	if (lns_fs_parse_part(dentry->d_name.name, &index, &partno) &&
	    lns_instance_find_part(inst, index, partno, &devt)) {
		inode = lns_fs_new_inode(sb, LNS_NODE_INO_BASE +
					 (((unsigned long)index << 16) | partno),
					 S_IFBLK | inst->mode);
		if (!inode)
			return ERR_PTR(-ENOMEM);
		lns_fs_init_node(inode, devt);
	}
	return d_splice_alias(inode, dentry);
}

static int lns_fs_revalidate(struct dentry *dentry, unsigned int flags)
{
	struct inode *inode = d_inode_rcu(dentry);
	struct lns_instance *inst = dentry->d_sb->s_fs_info;
	unsigned int partno;
	dev_t devt;
	int index;

	/* Only partition nodes can go stale behind loopns' back. */
	if (!inode || !S_ISBLK(inode->i_mode) || inode->i_private)
		return 1;
	if (flags & LOOKUP_RCU)
		return -ECHILD;
	if (!lns_fs_parse_part(dentry->d_name.name, &index, &partno))
		return 0;
	return lns_instance_find_part(inst, index, partno, &devt) &&
	       devt == inode->i_rdev;
}

LNS_COMPAT_DEFINE_D_REVALIDATE_TRAMPOLINE(lns_fs_revalidate)

static const struct dentry_operations lns_fs_dentry_ops = {
	.d_revalidate	= LNS_COMPAT_D_REVALIDATE(lns_fs_revalidate),
	.d_delete	= always_delete_dentry,
};

static int lns_fs_iterate(struct file *file, struct dir_context *ctx)
{
	struct lns_instance *inst = file_inode(file)->i_sb->s_fs_info;
	struct lns_instance_node node;

	if (!dir_emit_dots(file, ctx))
		return 0;
	if (ctx->pos == 2) {
		if (!dir_emit(ctx, LNS_CONTROL_NAME, strlen(LNS_CONTROL_NAME),
			      LNS_CONTROL_INO, DT_CHR))
			return 0;
		ctx->pos = 3;
	}
	node.key = ctx->pos - 3;
	while (lns_instance_next_node(inst, &node)) {
		if (!dir_emit(ctx, node.name, strlen(node.name),
			      LNS_NODE_INO_BASE + node.key, DT_BLK))
			return 0;
		node.key++;
		ctx->pos = 3 + node.key;
	}
	return 0;
}

static const struct file_operations lns_fs_dir_fops = {
	.llseek		= generic_file_llseek,
	.read		= generic_read_dir,
	.iterate_shared	= lns_fs_iterate,
	.fsync		= noop_fsync,
};

/* Nothing but loop-control creates nodes in an instance. */
static int lns_fs_create(lns_compat_idmap_t *idmap, struct inode *dir,
			 struct dentry *dentry, umode_t mode, bool excl)
{
	return -EPERM;
}

/*
 * No ->mknod, ->mkdir, ->symlink, ->link or ->rename: the VFS answers
 * EPERM for each of them.
 */
static const struct inode_operations lns_fs_dir_iops = {
	.lookup		= lns_fs_lookup,
	.create		= lns_fs_create,
	.unlink		= lns_fs_unlink,
};

static int lns_fs_show_options(struct seq_file *m, struct dentry *root)
{
	struct lns_instance *inst = root->d_sb->s_fs_info;

	mutex_lock(&inst->lock);
	seq_printf(m, ",max=%d", inst->max);
	if (!uid_eq(inst->uid, make_kuid(inst->user_ns, 0)))
		seq_printf(m, ",uid=%u",
			   from_kuid_munged(&init_user_ns, inst->uid));
	if (!gid_eq(inst->gid, make_kgid(inst->user_ns, 0)))
		seq_printf(m, ",gid=%u",
			   from_kgid_munged(&init_user_ns, inst->gid));
	if (inst->mode != 0600)
		seq_printf(m, ",mode=%o", inst->mode);
	mutex_unlock(&inst->lock);
	return 0;
}

static const struct super_operations lns_fs_super_ops = {
	.statfs		= simple_statfs,
	.drop_inode	= lns_compat_inode_just_drop,
	.evict_inode	= lns_fs_evict_inode,
	.show_options	= lns_fs_show_options,
};

static int lns_fs_make_control(struct super_block *sb)
{
	struct lns_instance *inst = sb->s_fs_info;
	struct dentry *dentry;
	struct inode *inode;

	inode = lns_fs_new_inode(sb, LNS_CONTROL_INO, S_IFCHR | inst->mode);
	if (!inode)
		return -ENOMEM;
	init_special_inode(inode, inode->i_mode, lns_control_devt());
	/* Opened through this node only: the dev_t has no cdev behind it. */
	inode->i_fop = &lns_control_fops;

	inode_lock(d_inode(sb->s_root));
	dentry = lns_fs_add_node(sb, LNS_CONTROL_NAME, inode);
	inode_unlock(d_inode(sb->s_root));
	if (IS_ERR(dentry))
		return PTR_ERR(dentry);
	return 0;
}

static int lns_fs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct lns_fs_context *ctx = fc->fs_private;
	struct lns_instance *inst;
	struct inode *root;

	sb->s_blocksize = PAGE_SIZE;
	sb->s_blocksize_bits = PAGE_SHIFT;
	sb->s_magic = LNS_SUPER_MAGIC;
	sb->s_op = &lns_fs_super_ops;
	sb->s_time_gran = 1;
	lns_compat_set_default_d_op(sb, &lns_fs_dentry_ops);

	/*
	 * The VFS sets SB_I_NODEV for every superblock owned by a user
	 * namespace other than the initial one, so that a namespace root
	 * cannot mknod a device node that reaches a host device. Clearing it
	 * here is safe because no node can be created in a loopns instance
	 * by anyone: the directory has no ->mknod, ->link, ->symlink or
	 * ->rename and ->create fails; the only nodes are loop-control
	 * (whose dev_t has no cdev, so it works through this inode only)
	 * and the nodes loopns creates itself for this instance's own
	 * devices. Device nodes here are therefore exactly the devices the
	 * instance owns.
	 */
	sb->s_iflags &= ~SB_I_NODEV;
	sb->s_iflags |= SB_I_NOEXEC;

	inst = lns_instance_create(fc->user_ns);
	if (!inst)
		return -ENOMEM;
	inst->uid = make_kuid(fc->user_ns, 0);
	inst->gid = make_kgid(fc->user_ns, 0);
	if (!uid_valid(inst->uid))
		inst->uid = GLOBAL_ROOT_UID;
	if (!gid_valid(inst->gid))
		inst->gid = GLOBAL_ROOT_GID;
	lns_fs_apply_options(inst, ctx);
	inst->sb = sb;
	sb->s_fs_info = inst;

	root = lns_fs_new_inode(sb, LNS_ROOT_INO, S_IFDIR | 0755);
	if (!root)
		return -ENOMEM;
	root->i_uid = make_kuid(fc->user_ns, 0);
	root->i_gid = make_kgid(fc->user_ns, 0);
	if (!uid_valid(root->i_uid))
		root->i_uid = GLOBAL_ROOT_UID;
	if (!gid_valid(root->i_gid))
		root->i_gid = GLOBAL_ROOT_GID;
	root->i_op = &lns_fs_dir_iops;
	root->i_fop = &lns_fs_dir_fops;
	set_nlink(root, 2);
	sb->s_root = d_make_root(root);
	if (!sb->s_root)
		return -ENOMEM;

	return lns_fs_make_control(sb);
}

static int lns_fs_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, lns_fs_fill_super);
}

static int lns_fs_reconfigure(struct fs_context *fc)
{
	struct lns_instance *inst = fc->root->d_sb->s_fs_info;

	lns_fs_apply_options(inst, fc->fs_private);
	return 0;
}

static void lns_fs_free_fc(struct fs_context *fc)
{
	kfree(fc->fs_private);
}

static const struct fs_context_operations lns_fs_context_ops = {
	.free		= lns_fs_free_fc,
	.parse_param	= lns_fs_parse_param,
	.get_tree	= lns_fs_get_tree,
	.reconfigure	= lns_fs_reconfigure,
};

static int lns_fs_init_fs_context(struct fs_context *fc)
{
	struct lns_fs_context *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->max = LNS_DEFAULT_MAX;
	ctx->mode = 0600;
	fc->fs_private = ctx;
	fc->ops = &lns_fs_context_ops;
	return 0;
}

static void lns_fs_kill_sb(struct super_block *sb)
{
	struct lns_instance *inst = sb->s_fs_info;

	if (inst)
		lns_instance_shutdown(inst);
	lns_compat_kill_super(sb);
	if (inst)
		lns_instance_put(inst);
}

static struct file_system_type lns_fs_type = {
	.owner			= THIS_MODULE,
	.name			= LNS_NAME,
	.init_fs_context	= lns_fs_init_fs_context,
	.parameters		= lns_fs_params,
	.kill_sb		= lns_fs_kill_sb,
	.fs_flags		= FS_USERNS_MOUNT,
};

/**
 * lns_fs_is_instance() - whether @sb is the superblock of an instance
 * @sb: any superblock
 *
 * Return: true for a mounted loopns filesystem.
 */
bool lns_fs_is_instance(struct super_block *sb)
{
	return sb->s_type == &lns_fs_type;
}

/**
 * lns_fs_init() - register the loopns filesystem type
 *
 * Return: 0 or a negative errno.
 */
int lns_fs_init(void)
{
	return register_filesystem(&lns_fs_type);
}

/**
 * lns_fs_exit() - unregister the loopns filesystem type
 */
void lns_fs_exit(void)
{
	unregister_filesystem(&lns_fs_type);
}
