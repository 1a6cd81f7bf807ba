/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loopns kernel compatibility layer.
 *
 * Force-included into every loopns source file by Kbuild. The HAVE_*
 * symbols come from gen/loopns/compat-gen.h, which the Makefile writes from
 * the compile probes in src/probes/ (one probe per API change, named after
 * the symbol it defines). Driver sources call the lns_compat_* helpers
 * below and otherwise read like upstream code for the newest API.
 */
#ifndef _LOOPNS_COMPAT_H
#define _LOOPNS_COMPAT_H

/*
 * This header is included before anything else, so the message prefix of
 * every loopns file is set here, ahead of printk.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/version.h>
#include <loopns/compat-gen.h>

/*
 * The only version check: the oldest API generation we probe for. 5.10
 * and 5.15 lack blk_mq_alloc_disk() or the 6.0 disk teardown and are not
 * supported (dkms.conf refuses them too). The missing include stops the
 * compiler here instead of a page of follow-up errors.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "loopns needs Linux 6.1 or newer"
#include <loopns-needs-linux-6.1-or-newer>
#endif

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/namei.h>

/**
 * struct lns_compat_limits - queue limits loopns sets on a device
 * @logical_block_size: logical (and physical, and io_min) block size
 * @max_hw_sectors: largest request in 512-byte sectors
 * @max_discard_sectors: discard limit, 0 when discard is not supported
 * @max_write_zeroes_sectors: write-zeroes limit, 0 when not supported
 * @discard_granularity: discard granularity in bytes
 * @write_cache: the device has a volatile write cache (flush needed)
 * @rotational: the backing storage is rotational
 *
 * Kernels before 6.9 set limits one by one; newer ones take a whole
 * struct queue_limits. The driver describes the limits once, here.
 */
struct lns_compat_limits {
	unsigned int logical_block_size;
	unsigned int max_hw_sectors;
	unsigned int max_discard_sectors;
	unsigned int max_write_zeroes_sectors;
	unsigned int discard_granularity;
	bool write_cache;
	bool rotational;
};

#ifdef HAVE_QUEUE_LIMITS_COMMIT_UPDATE
static inline void lns_compat_fill_limits(struct queue_limits *lim,
					  const struct lns_compat_limits *l)
{
	lim->logical_block_size = l->logical_block_size;
	lim->physical_block_size = l->logical_block_size;
	lim->io_min = l->logical_block_size;
	lim->max_hw_sectors = l->max_hw_sectors;
	lim->max_hw_discard_sectors = l->max_discard_sectors;
	lim->max_write_zeroes_sectors = l->max_write_zeroes_sectors;
	lim->discard_granularity = l->discard_granularity;
#ifdef HAVE_BLK_FEAT_WRITE_CACHE
	lim->features &= ~(BLK_FEAT_WRITE_CACHE | BLK_FEAT_ROTATIONAL);
	if (l->write_cache)
		lim->features |= BLK_FEAT_WRITE_CACHE;
	if (l->rotational)
		lim->features |= BLK_FEAT_ROTATIONAL;
#endif
}
#endif

/*
 * Feature flags that are not queue limits yet (before 6.11) are queue
 * flags and the write-cache setter.
 */
static inline void lns_compat_apply_features(struct request_queue *q,
					     const struct lns_compat_limits *l)
{
#ifndef HAVE_BLK_FEAT_WRITE_CACHE
	blk_queue_write_cache(q, l->write_cache, false);
	if (l->rotational)
		blk_queue_flag_clear(QUEUE_FLAG_NONROT, q);
	else
		blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
#endif
}

/**
 * lns_compat_apply_limits() - set a device's queue limits
 * @q: the queue, frozen by the caller when I/O may be in flight
 * @l: the limits
 *
 * Return: 0 or a negative errno from the block layer.
 */
static inline int lns_compat_apply_limits(struct request_queue *q,
					  const struct lns_compat_limits *l)
{
#ifdef HAVE_QUEUE_LIMITS_COMMIT_UPDATE
	struct queue_limits lim = queue_limits_start_update(q);
	int err;

	lns_compat_fill_limits(&lim, l);
	err = queue_limits_commit_update(q, &lim);
	if (err)
		return err;
#else
	blk_queue_logical_block_size(q, l->logical_block_size);
	blk_queue_physical_block_size(q, l->logical_block_size);
	blk_queue_io_min(q, l->logical_block_size);
	blk_queue_max_hw_sectors(q, l->max_hw_sectors);
	blk_queue_max_discard_sectors(q, l->max_discard_sectors);
	blk_queue_max_write_zeroes_sectors(q, l->max_write_zeroes_sectors);
	q->limits.discard_granularity = l->discard_granularity;
#endif
	lns_compat_apply_features(q, l);
	return 0;
}

/**
 * lns_compat_alloc_disk() - allocate a blk-mq gendisk with initial limits
 * @set: the tag set
 * @l: initial limits
 * @data: queuedata
 *
 * Return: the gendisk or an ERR_PTR().
 */
static inline struct gendisk *
lns_compat_alloc_disk(struct blk_mq_tag_set *set,
		      const struct lns_compat_limits *l, void *data)
{
	struct gendisk *disk;

#ifdef HAVE_BLK_MQ_ALLOC_DISK_LIM
	struct queue_limits lim = { };

	lns_compat_fill_limits(&lim, l);
	disk = blk_mq_alloc_disk(set, &lim, data);
#else
	disk = blk_mq_alloc_disk(set, data);
	if (!IS_ERR(disk))
		lns_compat_apply_limits(disk->queue, l);
#endif
	return disk;
}

/**
 * lns_compat_withdraw_discard() - stop advertising discard
 * @q: the queue; may be called from the I/O path, without freezing
 */
static inline void lns_compat_withdraw_discard(struct request_queue *q)
{
#ifdef HAVE_BLK_QUEUE_DISABLE_WRITE_ZEROES
	blk_queue_disable_discard(q);
#else
	blk_queue_max_discard_sectors(q, 0);
#endif
}

/**
 * lns_compat_withdraw_write_zeroes() - stop advertising write-zeroes
 * @q: the queue; may be called from the I/O path, without freezing
 */
static inline void lns_compat_withdraw_write_zeroes(struct request_queue *q)
{
#ifdef HAVE_BLK_QUEUE_DISABLE_WRITE_ZEROES
	blk_queue_disable_write_zeroes(q);
#else
	blk_queue_max_write_zeroes_sectors(q, 0);
#endif
}

#ifdef HAVE_BLK_MQ_F_SHOULD_MERGE
#define LNS_COMPAT_MQ_F_MERGE BLK_MQ_F_SHOULD_MERGE
#else
#define LNS_COMPAT_MQ_F_MERGE 0
#endif

/**
 * lns_compat_freeze() - freeze a queue
 * @q: the queue
 *
 * Return: a token to pass to lns_compat_unfreeze().
 */
static inline unsigned int lns_compat_freeze(struct request_queue *q)
{
#ifdef HAVE_BLK_MQ_FREEZE_MEMFLAGS
	return blk_mq_freeze_queue(q);
#else
	blk_mq_freeze_queue(q);
	return 0;
#endif
}

static inline void lns_compat_unfreeze(struct request_queue *q,
				       unsigned int token)
{
#ifdef HAVE_BLK_MQ_FREEZE_MEMFLAGS
	blk_mq_unfreeze_queue(q, token);
#else
	blk_mq_unfreeze_queue(q);
#endif
}

static inline void lns_compat_force_media_change(struct gendisk *disk)
{
#ifdef HAVE_DISK_FORCE_MEDIA_CHANGE_1ARG
	disk_force_media_change(disk);
#else
	disk_force_media_change(disk, DISK_EVENT_MEDIA_CHANGE);
#endif
}

static inline int lns_compat_prepare_to_claim(struct block_device *bdev,
					      void *holder)
{
#ifdef HAVE_BD_PREPARE_TO_CLAIM_HOPS
	return bd_prepare_to_claim(bdev, holder, NULL);
#else
	return bd_prepare_to_claim(bdev, holder);
#endif
}

/*
 * 6.5: block_device_operations take a gendisk and blk_mode_t. The driver is
 * written against that form; older kernels get trampolines.
 */
#ifdef HAVE_BLK_MODE_T
#define LNS_COMPAT_BDOPS_OPEN(fn)	(fn)
#define LNS_COMPAT_BDOPS_RELEASE(fn)	(fn)
#define LNS_COMPAT_DEFINE_BDOPS_TRAMPOLINES(open_fn, release_fn)
#else
typedef fmode_t blk_mode_t;
#define BLK_OPEN_READ	FMODE_READ
#define BLK_OPEN_WRITE	FMODE_WRITE
#define BLK_OPEN_EXCL	FMODE_EXCL
#define LNS_COMPAT_BDOPS_OPEN(fn)	(fn##_trampoline)
#define LNS_COMPAT_BDOPS_RELEASE(fn)	(fn##_trampoline)
#define LNS_COMPAT_DEFINE_BDOPS_TRAMPOLINES(open_fn, release_fn)	\
static int open_fn##_trampoline(struct block_device *bdev,		\
				fmode_t mode)				\
{									\
	return open_fn(bdev->bd_disk, mode);				\
}									\
static void release_fn##_trampoline(struct gendisk *disk,		\
				    fmode_t mode)			\
{									\
	release_fn(disk);						\
}
#endif

/* 6.3: inode operations take a struct mnt_idmap. */
#ifdef HAVE_MNT_IDMAP
typedef struct mnt_idmap lns_compat_idmap_t;
#else
typedef struct user_namespace lns_compat_idmap_t;
#endif

static inline void lns_compat_inode_init_ts(struct inode *inode)
{
#ifdef HAVE_SIMPLE_INODE_INIT_TS
	simple_inode_init_ts(inode);
#else
	struct timespec64 now = inode_set_ctime_current(inode);

	inode->i_atime = now;
	inode->i_mtime = now;
#endif
}

/**
 * lns_compat_d_instantiate_pinned() - make a new node's dentry positive
 * @dentry: negative dentry from lns_compat_lookup(); the caller's reference
 *          becomes the pin that keeps the node in the dcache
 * @inode: the node's inode
 *
 * The dentry stays until simple_unlink() or unmount. 6.19 marks such
 * dentries DCACHE_PERSISTENT (simple_unlink() then warns about any other
 * kind); older kernels keep the reference, which kill_litter_super() drops.
 */
static inline void lns_compat_d_instantiate_pinned(struct dentry *dentry,
						   struct inode *inode)
{
#ifdef HAVE_D_MAKE_PERSISTENT
	d_make_persistent(dentry, inode);
	dput(dentry);
#else
	d_instantiate(dentry, inode);
#endif
}

/* Unmount drops the pins taken by lns_compat_d_instantiate_pinned(). */
static inline void lns_compat_kill_super(struct super_block *sb)
{
#ifdef HAVE_D_MAKE_PERSISTENT
	kill_anon_super(sb);
#else
	kill_litter_super(sb);
#endif
}

/* 6.18: generic_delete_inode() is renamed; for ->drop_inode. */
#ifdef HAVE_INODE_JUST_DROP
#define lns_compat_inode_just_drop	inode_just_drop
#else
#define lns_compat_inode_just_drop	generic_delete_inode
#endif

/* 6.17: the default dentry_operations are set with set_default_d_op(). */
static inline void lns_compat_set_default_d_op(struct super_block *sb,
					       const struct dentry_operations *ops)
{
#ifdef HAVE_SET_DEFAULT_D_OP
	set_default_d_op(sb, ops);
#else
	sb->s_d_op = ops;
#endif
}

/* 7.x: bdev_nonrot() gives way to bdev_rot(). */
static inline bool lns_compat_bdev_rot(struct block_device *bdev)
{
#ifdef HAVE_BDEV_ROT
	return bdev_rot(bdev);
#else
	return !bdev_nonrot(bdev);
#endif
}

/* Newer kernels (7.x) warn about a workqueue neither WQ_PERCPU nor unbound. */
#ifdef HAVE_WQ_PERCPU
#define LNS_COMPAT_WQ_PERCPU	WQ_PERCPU
#else
#define LNS_COMPAT_WQ_PERCPU	0
#endif

/*
 * 6.14: blk_mq_ops->queue_rqs takes a struct rq_list; before, a pointer to
 * the first request. rq_list_pop() takes either.
 */
#ifdef HAVE_RQ_LIST_STRUCT
typedef struct rq_list lns_compat_rq_list_t;
#else
typedef struct request *lns_compat_rq_list_t;
#endif

/**
 * lns_compat_start_batched_request() - blk_mq_start_request() in ->queue_rqs
 * @rq: a request taken from the list given to ->queue_rqs
 *
 * 6.1 leaves the driver to enter a request reaching it through
 * ->queue_rqs in its tags' table, as blk_mq_get_driver_tag() does on the
 * ->queue_rq path (tag iterators read it); 6.12 does it in
 * blk_mq_start_request(). Doing it here too stores the same value.
 */
static inline void lns_compat_start_batched_request(struct request *rq)
{
	rq->mq_hctx->tags->rqs[rq->tag] = rq;
	blk_mq_start_request(rq);
}

static inline u8 lns_compat_bdev_partno(const struct block_device *bdev)
{
#ifdef HAVE_BDEV_PARTNO
	return bdev_partno(bdev);
#else
	return bdev->bd_partno;
#endif
}

/**
 * lns_compat_lookup() - find or allocate the dentry @name in @dir
 * @dir: directory dentry; the caller holds its inode lock
 * @name: NUL-terminated name
 *
 * Return: a referenced dentry (possibly negative) or an ERR_PTR().
 */
static inline struct dentry *lns_compat_lookup(struct dentry *dir,
					       const char *name)
{
#ifdef HAVE_LOOKUP_NOPERM
	struct qstr qname = QSTR_INIT(name, strlen(name));

	return lookup_noperm(&qname, dir);
#else
	return lookup_one_len(name, dir, strlen(name));
#endif
}

/*
 * 6.14: ->d_revalidate gets the parent inode and the name. The driver
 * implements fn(struct dentry *, unsigned int).
 */
#ifdef HAVE_D_REVALIDATE_NAME
#define LNS_COMPAT_D_REVALIDATE(fn)	(fn##_trampoline)
#define LNS_COMPAT_DEFINE_D_REVALIDATE_TRAMPOLINE(fn)			\
static int fn##_trampoline(struct inode *dir, const struct qstr *name,	\
			   struct dentry *dentry, unsigned int flags)	\
{									\
	return fn(dentry, flags);					\
}
#else
#define LNS_COMPAT_D_REVALIDATE(fn)	(fn)
#define LNS_COMPAT_DEFINE_D_REVALIDATE_TRAMPOLINE(fn)
#endif

#endif /* _LOOPNS_COMPAT_H */
