/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loopns - private loop device instances.
 *
 * Objects:
 *   struct lns_instance - one mounted loopns filesystem (one superblock):
 *                         its devices, numbered per instance.
 *   struct lns_device   - one loop device: a gendisk on the loopns block
 *                         major, bound to at most one backing file.
 *
 * Lock order (outermost first); a lock may be taken with only locks above
 * it held:
 *   lns_instance.ctl_lock             (the instance's control operations:
 *                                      LOOP_CTL_*, LOOPNS_CTL_ATTACH's
 *                                      creation, the deletion of a device
 *                                      that still has its node
 *                                      (lns_instance_reap());
 *                                      del_gendisk() may run under it,
 *                                      never under a VFS lock)
 *   instance root directory i_rwsem   (node creation and removal only:
 *                                      dcache operations, no other lock
 *                                      is waited for under it; ->unlink,
 *                                      where the VFS holds it, only tries
 *                                      lns_device.lock, and the device is
 *                                      deleted when the node's inode is
 *                                      evicted, after the VFS dropped it)
 *   gendisk open_mutex                (block layer, around ->open and
 *                                      ->release and in del_gendisk();
 *                                      device.c takes it to settle a
 *                                      device that lost a reference, and
 *                                      a device is detached only under
 *                                      it; bind.c takes it for partition
 *                                      rescans)
 *   lns_device.lock                   (the device's configuration, see
 *                                      struct lns_device)
 *   freeze of the device's own queue  (waits for its requests in flight,
 *                                      which may wait for any backing
 *                                      filesystem, a stalled FUSE server
 *                                      too; so does an fsync of the
 *                                      backing file, taken at this level)
 *   lns_bind_mutex (bind.c, global)   (LOOP_CHANGE_FD only: its check of
 *                                      the chain of stacked devices and
 *                                      its swap of the backing pointer, in
 *                                      one section; a leaf held for short
 *                                      sections only: nothing under it
 *                                      sleeps on I/O, a freeze, a path
 *                                      lookup or any call into a
 *                                      filesystem. Binds, unbinds and
 *                                      opens never take it)
 *   lns_device.backing_lock           (spinlock, irqs off: @backing for
 *                                      readers that cannot sleep or do
 *                                      not hold lns_device.lock: sysfs,
 *                                      the walk along stacked devices,
 *                                      which takes one device's at a time
 *                                      under rcu_read_lock(), as devices
 *                                      are freed after a grace period)
 * lns_instance.lock (the instance's device table) nests inside
 * lns_device.lock where both are held, and takes no other lock.
 * No global sleeping lock is held across anything that can wait for a
 * backing store: one tenant's stalled server stalls only its own devices.
 * The backing paths of in-kernel loop devices in a chain of stacked
 * devices are looked up under lns_device.lock only (lns_bind_validate()
 * in bind.c): a lookup may block in a filesystem, which must not happen
 * under lns_bind_mutex, nor under the freeze of LOOP_CHANGE_FD (it could
 * need the frozen device's own I/O); it may take an instance directory's
 * i_rwsem, under which nothing waits for lns_device.lock.
 * A device's @state changes under lns_device.lock, always with
 * smp_store_release() (lns_device_set_state() in device.c), LNS_BOUND
 * after its backing file is set; lockless readers use smp_load_acquire().
 */
#ifndef _LOOPNS_H
#define _LOOPNS_H

#include <linux/blk-mq.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/kref.h>
#include <linux/loop.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#define LNS_NAME		"loopns"
#define LNS_CONTROL_NAME	"loop-control"
#define LNS_DEFAULT_MAX		1024	/* devices per instance */

/**
 * struct lns_instance - a private set of loop devices (one superblock)
 * @kref: the superblock and every device hold a reference
 * @ctl_lock: serializes the instance's control operations (see the lock
 *	order above)
 * @lock: protects @devices, @nr_devices, @max and @dead; once @dead, also
 *	the link between a device and its node (lns_fs_forget_node())
 * @devices: per-instance index -> struct lns_device
 * @nr_devices: number of entries in @devices
 * @max: most devices this instance may hold (mount option max=)
 * @dead: set when the superblock goes away; no device can be added after
 * @sb: the superblock; valid while !@dead
 * @user_ns: user namespace owning the instance (capability checks)
 * @owner: host user the instance's devices are charged to (quota.c)
 * @uid: owner of the device nodes
 * @gid: group of the device nodes
 * @mode: permission bits of the device nodes
 */
struct lns_instance {
	struct kref kref;
	struct mutex ctl_lock;		/* see above */
	struct mutex lock;		/* see above */
	struct idr devices;
	int nr_devices;
	int max;
	bool dead;
	struct super_block *sb;
	struct user_namespace *user_ns;
	kuid_t owner;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
};

enum lns_state {
	LNS_UNBOUND,
	LNS_BOUND,
	LNS_RUNDOWN,
	LNS_DELETING,
};

struct lns_io_ctx;

/**
 * struct lns_device - one loop device
 * @inst: owning instance (a counted reference)
 * @index: number in the instance (the N of loopN)
 * @minor: global device number (M of loopnsM; its first minor is
 *	M << part_shift, see device.c)
 * @lock: protects @state, @holds, @flags, @offset, @sizelimit,
 *	@file_name, @use_dio, @bdev and writes to @backing and
 *	@backing_alias (which also take @backing_lock)
 * @backing_lock: protects @backing and @backing_alias for readers that
 *	cannot sleep or do not hold @lock (sysfs, the walk along stacked
 *	devices in bind.c)
 * @state: enum lns_state; the device's life, and the one rule that
 *	deletes it, are described at the top of device.c, and @state and
 *	@holds change only there
 * @holds: what references the device besides its openers (device.c)
 * @flags: LO_FLAGS_*
 * @offset: start of the device in the backing file, in bytes
 * @sizelimit: size limit in bytes, 0 for none
 * @file_name: lo_file_name as set by userspace
 * @backing: backing file while bound
 * @backing_alias: where @backing was opened by userspace, if backing.c
 *	opened it again (a node of an instance); with @backing
 * @backing_bsize: block size of the backing file's filesystem, 0 if unknown
 * @old_gfp_mask: backing mapping's gfp mask before binding
 * @bdev: the block device that was bound (whole disk)
 * @use_dio: requests go to the backing file with IOCB_DIRECT
 * @sysfs_inited: the loop/ attribute group exists
 * @dentry: node in the instance, NULL once removed
 * @io: request dispatch state (io.c), allocated at first bind
 * @tag_set: blk-mq tag set
 * @disk: the gendisk
 * @remove_work: deferred deletion after the last close
 * @rcu: the device is freed after an RCU grace period, for the lockless
 *	walk along stacked devices (lns_device_find_bound())
 */
struct lns_device {
	struct lns_instance *inst;
	int index;
	int minor;
	struct mutex lock;		/* see above */
	spinlock_t backing_lock;	/* see above */
	enum lns_state state;
	unsigned int holds;
	u32 flags;
	loff_t offset;
	loff_t sizelimit;
	char file_name[LO_NAME_SIZE];
	struct file *backing;
	struct lns_backing_alias *backing_alias;
	u32 backing_bsize;
	gfp_t old_gfp_mask;
	struct block_device *bdev;
	bool use_dio;
	bool sysfs_inited;
	struct dentry *dentry;
	struct lns_io_ctx *io;
	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;
	struct work_struct remove_work;
	struct rcu_head rcu;
};

/**
 * struct lns_backing_alias - a backing node as userspace passed it
 * @dev: device of the filesystem it is on (st_dev)
 * @ino: its inode number (st_ino)
 * @path: its path, shown as sysfs backing_file
 */
struct lns_backing_alias {
	dev_t dev;
	unsigned long ino;
	char path[];
};

/* backing.c */
struct file *lns_backing_open(struct file *file,
			      struct lns_backing_alias **aliasp);

/* quota.c */
kuid_t lns_quota_owner(struct user_namespace *user_ns);
int lns_quota_charge(kuid_t uid);
void lns_quota_uncharge(kuid_t uid);
unsigned int lns_quota_total_devices(void);

/* instance.c */
struct lns_instance *lns_instance_create(struct user_namespace *user_ns);
void lns_instance_get(struct lns_instance *inst);
void lns_instance_put(struct lns_instance *inst);
int lns_instance_add(struct lns_instance *inst, int index, bool ephemeral,
		     struct lns_device **devp);
void lns_instance_reap(struct lns_device *dev);
int lns_instance_remove(struct lns_instance *inst, int index,
			struct lns_device **devp);
int lns_instance_get_free(struct lns_instance *inst);
void lns_instance_shutdown(struct lns_instance *inst);
void lns_instance_forget(struct lns_instance *inst, struct lns_device *dev);
bool lns_instance_capable(struct lns_instance *inst, int cap);

/**
 * struct lns_instance_node - one entry of an instance directory listing
 * @key: position: device index << 16 | partition number (0: the disk)
 * @name: "loopN" or "loopNpM"
 * @devt: the node's dev_t
 */
struct lns_instance_node {
	u64 key;
	char name[32];
	dev_t devt;
};

bool lns_instance_next_node(struct lns_instance *inst,
			    struct lns_instance_node *node);
bool lns_instance_find_part(struct lns_instance *inst, int index,
			    unsigned int partno, dev_t *devt);

/* fs.c */
int lns_fs_init(void);
void lns_fs_exit(void);
bool lns_fs_is_instance(struct super_block *sb);
int lns_fs_create_node(struct lns_device *dev);
void lns_fs_remove_node(struct lns_device *dev);
void lns_fs_forget_node(struct lns_device *dev);

/* control.c */
int lns_control_init(void);
void lns_control_exit(void);
extern const struct file_operations lns_control_fops;
dev_t lns_control_devt(void);

/* device.c */
int lns_device_init(void);
void lns_device_exit(void);
struct lns_device *lns_device_create(struct lns_instance *inst, int index,
				     bool ephemeral);
void lns_device_destroy(struct lns_device *dev);
int lns_device_claim_idle(struct lns_device *dev, bool nowait);
void lns_device_discard(struct lns_device *dev);
bool lns_device_is_spare(struct lns_device *dev);
void lns_device_attach_done(struct lns_device *dev);
void lns_device_orphan(struct lns_device *dev);
void lns_device_set_bound(struct lns_device *dev);
int lns_device_clear(struct lns_device *dev);
bool lns_device_is_ours(struct block_device *bdev);
struct lns_device *lns_device_find_bound(dev_t devt);
int lns_device_lock_bound(struct lns_device *dev);
bool lns_device_next_part(struct lns_device *dev, unsigned long *partno,
			  dev_t *devt);
int lns_device_major(void);

/* bind.c */
int lns_bind_configure(struct lns_device *dev, blk_mode_t mode,
		       struct block_device *bdev,
		       const struct loop_config *config);
int lns_bind_change_fd(struct lns_device *dev, struct block_device *bdev,
		       unsigned int fd);
void lns_bind_detach(struct lns_device *dev);
int lns_bind_set_status(struct lns_device *dev, const struct loop_info64 *info);
int lns_bind_get_status(struct lns_device *dev, struct loop_info64 *info);
void lns_bind_set_capacity(struct lns_device *dev);
int lns_bind_set_dio(struct lns_device *dev, unsigned long arg);
int lns_bind_set_block_size(struct lns_device *dev, blk_mode_t mode,
			    struct block_device *bdev, unsigned long arg);

/* ioctl.c */
int lns_ioctl(struct block_device *bdev, blk_mode_t mode, unsigned int cmd,
	      unsigned long arg);
int lns_ioctl_compat(struct block_device *bdev, blk_mode_t mode,
		     unsigned int cmd, unsigned long arg);

/* io.c (exec.c serves the requests io.c dispatches) */
extern const struct blk_mq_ops lns_io_mq_ops;
unsigned int lns_io_cmd_size(void);
int lns_io_start(struct lns_device *dev);
void lns_io_stop(struct lns_device *dev);

/* sysfs.c */
void lns_sysfs_add(struct lns_device *dev);
void lns_sysfs_remove(struct lns_device *dev);

#endif /* _LOOPNS_H */
