// SPDX-License-Identifier: GPL-2.0
/*
 * The loopns request path: blk-mq requests served from the backing file.
 *
 * ->queue_rq never calls into the backing filesystem: that could start a
 * transaction of it or wait on its I/O in the submitter's context, inside
 * submit_bio(). Every request is handed to the device's workqueue as its
 * own work item, so requests of one device proceed in parallel and
 * devices never wait on each other. The worker adopts the blkcg and memcg
 * of the bio that issued the request, so backing-file I/O and page cache
 * are charged to the issuing cgroup as with the in-kernel loop driver.
 * Reads and writes go through the backing file's ->read_iter/->write_iter
 * with a kiocb: synchronous in buffered mode, asynchronous with
 * IOCB_DIRECT in direct I/O mode. A request the backing file did not
 * take or fill in full is retried for the rest, then fails.
 */

#include <linux/blk-cgroup.h>
#include <linux/falloc.h>
#include <linux/kthread.h>
#include <linux/memcontrol.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "loopns.h"

/**
 * struct lns_io_cmd - per-request data
 * @work: runs the request on the device's workqueue
 * @iocb: kiocb for the backing file
 * @bvec: bvec array for requests made of several bios
 * @ref: two holders while an asynchronous request is being submitted
 * @ret: result: bytes transferred or a negative errno
 * @use_aio: the request uses direct, asynchronous I/O
 * @blkcg_css: cgroup of the issuing bio, or NULL
 * @memcg_css: memory cgroup to charge, or NULL (holds a reference)
 */
struct lns_io_cmd {
	struct work_struct work;
	struct kiocb iocb;
	struct bio_vec *bvec;
	atomic_t ref;
	long ret;
	bool use_aio;
	struct cgroup_subsys_state *blkcg_css;
	struct cgroup_subsys_state *memcg_css;
};

/**
 * lns_io_cmd_size() - size of the per-request data for the tag set
 *
 * Return: sizeof(struct lns_io_cmd).
 */
unsigned int lns_io_cmd_size(void)
{
	return sizeof(struct lns_io_cmd);
}

/*
 * The backing file moved fewer bytes than the request carries. With some
 * progress, end the whole sectors moved and retry the rest: a retry either
 * progresses or fails. Without any, the rest fails; a read's buffers are
 * zeroed as with loop. A write is never reported done for bytes the
 * backing file did not take.
 */
static void lns_io_short(struct request *rq, struct lns_io_cmd *cmd)
{
	unsigned int done = round_down(cmd->ret, SECTOR_SIZE);
	struct bio *bio;

	cmd->ret = 0;
	if (done) {
		blk_update_request(rq, BLK_STS_OK, done);
		blk_mq_requeue_request(rq, true);
		return;
	}
	if (req_op(rq) == REQ_OP_READ) {
		for (bio = rq->bio; bio; bio = bio->bi_next)
			zero_fill_bio(bio);
	}
	blk_mq_end_request(rq, BLK_STS_IOERR);
}

static void lns_io_complete(struct request *rq)
{
	struct lns_io_cmd *cmd = blk_mq_rq_to_pdu(rq);
	long ret = cmd->ret;

	if (ret >= 0 && ret != blk_rq_bytes(rq) &&
	    (req_op(rq) == REQ_OP_READ || req_op(rq) == REQ_OP_WRITE)) {
		lns_io_short(rq, cmd);
		return;
	}
	/* An unsupported limit is withdrawn; callers fall back quietly. */
	if (ret == -EOPNOTSUPP)
		rq->rq_flags |= RQF_QUIET;
	blk_mq_end_request(rq, ret < 0 ? errno_to_blk_status(ret) : BLK_STS_OK);
}

static void lns_io_rw_put(struct lns_io_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);

	if (!atomic_dec_and_test(&cmd->ref))
		return;
	kfree(cmd->bvec);
	cmd->bvec = NULL;
	if (req_op(rq) == REQ_OP_WRITE)
		kiocb_end_write(&cmd->iocb);
	blk_mq_complete_request(rq);
}

static void lns_io_rw_done(struct kiocb *iocb, long ret)
{
	struct lns_io_cmd *cmd = container_of(iocb, struct lns_io_cmd, iocb);

	cmd->ret = ret;
	lns_io_rw_put(cmd);
}

/* Describe the request's data as a bvec iterator. */
static int lns_io_init_iter(struct lns_io_cmd *cmd, struct iov_iter *iter,
			    unsigned int direction)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct req_iterator rq_iter;
	const struct bio_vec *bvec;
	struct bio_vec bv;
	unsigned int nr = 0;

	rq_for_each_bvec(bv, rq, rq_iter)
		nr++;

	if (rq->bio == rq->biotail) {
		/* A split bio may start inside its first bvec. */
		struct bio *bio = rq->bio;

		bvec = __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter);
		iov_iter_bvec(iter, direction, bvec, nr, blk_rq_bytes(rq));
		iter->iov_offset = bio->bi_iter.bi_bvec_done;
		return 0;
	}

	cmd->bvec = kmalloc_array(nr, sizeof(*bvec), GFP_NOIO);
	if (!cmd->bvec)
		return -EIO;
	nr = 0;
	rq_for_each_bvec(bv, rq, rq_iter)
		cmd->bvec[nr++] = bv;
	iov_iter_bvec(iter, direction, cmd->bvec, nr, blk_rq_bytes(rq));
	return 0;
}

/*
 * Writes are synchronous as the backing file was opened: O_SYNC and
 * O_DSYNC carry over from its open flags. Direct I/O is the device's
 * setting, not the file's, and O_APPEND files are never written.
 */
static void lns_io_init_kiocb(struct lns_io_cmd *cmd, struct file *file,
			      loff_t pos, unsigned short ioprio)
{
	struct kiocb *iocb = &cmd->iocb;

	init_sync_kiocb(iocb, file);
	iocb->ki_flags &= IOCB_DSYNC | IOCB_SYNC;
	iocb->ki_pos = pos;
	iocb->ki_ioprio = ioprio;
	if (cmd->use_aio) {
		iocb->ki_flags |= IOCB_DIRECT;
		iocb->ki_complete = lns_io_rw_done;
	}
}

static int lns_io_rw(struct lns_device *dev, struct lns_io_cmd *cmd,
		     loff_t pos, unsigned int direction)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct file *file = dev->backing;
	struct iov_iter iter;
	ssize_t ret;

	ret = lns_io_init_iter(cmd, &iter, direction);
	if (ret)
		return ret;

	atomic_set(&cmd->ref, 2);
	lns_io_init_kiocb(cmd, file, pos, req_get_ioprio(rq));

	if (direction == ITER_SOURCE) {
		kiocb_start_write(&cmd->iocb);
		ret = file->f_op->write_iter(&cmd->iocb, &iter);
	} else {
		ret = file->f_op->read_iter(&cmd->iocb, &iter);
	}

	lns_io_rw_put(cmd);
	if (ret != -EIOCBQUEUED)
		lns_io_rw_done(&cmd->iocb, ret);
	return -EIOCBQUEUED;
}

static int lns_io_flush(struct lns_device *dev)
{
	int ret = vfs_fsync(dev->backing, 0);

	return ret && ret != -EINVAL ? -EIO : 0;
}

/* Discard and write-zeroes map to fallocate on the backing file. */
static int lns_io_fallocate(struct lns_device *dev, struct request *rq,
			    loff_t pos, int mode)
{
	struct request_queue *q = rq->q;
	struct file *file = dev->backing;
	int ret;

	if (!file->f_op->fallocate)
		ret = -EOPNOTSUPP;
	else
		ret = file->f_op->fallocate(file, mode | FALLOC_FL_KEEP_SIZE,
					    pos, blk_rq_bytes(rq));
	if (ret == -EOPNOTSUPP) {
		/*
		 * Limits are advertised hoping fallocate works; withdraw the
		 * one that does not so that the block layer falls back
		 * instead of failing every request.
		 */
		if (req_op(rq) == REQ_OP_DISCARD)
			lns_compat_withdraw_discard(q);
		else
			lns_compat_withdraw_write_zeroes(q);
		return ret;
	}
	return ret && ret != -EINVAL ? -EIO : 0;
}

static int lns_io_do(struct lns_device *dev, struct lns_io_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	loff_t pos = ((loff_t)blk_rq_pos(rq) << SECTOR_SHIFT) + dev->offset;

	switch (req_op(rq)) {
	case REQ_OP_FLUSH:
		return lns_io_flush(dev);
	case REQ_OP_WRITE_ZEROES:
		/* Deallocate unless the caller asked to keep the blocks. */
		return lns_io_fallocate(dev, rq, pos,
					(rq->cmd_flags & REQ_NOUNMAP) ?
					FALLOC_FL_ZERO_RANGE :
					FALLOC_FL_PUNCH_HOLE);
	case REQ_OP_DISCARD:
		return lns_io_fallocate(dev, rq, pos, FALLOC_FL_PUNCH_HOLE);
	case REQ_OP_WRITE:
		return lns_io_rw(dev, cmd, pos, ITER_SOURCE);
	case REQ_OP_READ:
		return lns_io_rw(dev, cmd, pos, ITER_DEST);
	default:
		return -EIO;
	}
}

/* Run the request charged to the cgroups of the bio that issued it. */
static int lns_io_do_charged(struct lns_device *dev, struct lns_io_cmd *cmd,
			     struct cgroup_subsys_state *blkcg_css,
			     struct cgroup_subsys_state *memcg_css)
{
	struct mem_cgroup *old_memcg = NULL;
	int ret;

	if (blkcg_css)
		kthread_associate_blkcg(blkcg_css);
	if (memcg_css)
		old_memcg = set_active_memcg(mem_cgroup_from_css(memcg_css));

	ret = lns_io_do(dev, cmd);

	if (memcg_css)
		set_active_memcg(old_memcg);
	if (blkcg_css)
		kthread_associate_blkcg(NULL);
	return ret;
}

static void lns_io_workfn(struct work_struct *work)
{
	struct lns_io_cmd *cmd = container_of(work, struct lns_io_cmd, work);
	struct cgroup_subsys_state *blkcg_css = cmd->blkcg_css;
	struct cgroup_subsys_state *memcg_css = cmd->memcg_css;
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct lns_device *dev = rq->q->queuedata;
	unsigned int old_flags = current->flags;
	int ret;

	/*
	 * No I/O from reclaim (it could recurse into this device), and
	 * writeback throttling only against the backing device.
	 */
	current->flags |= PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO;

	/* The request may be complete, and @cmd reused, once this returns. */
	if (op_is_write(req_op(rq)) && (dev->flags & LO_FLAGS_READ_ONLY))
		ret = -EIO;
	else
		ret = lns_io_do_charged(dev, cmd, blkcg_css, memcg_css);

	if (memcg_css)
		css_put(memcg_css);
	if (ret != -EIOCBQUEUED) {
		cmd->ret = ret == -EOPNOTSUPP ? ret : (ret ? -EIO : 0);
		blk_mq_complete_request(rq);
	}
	current->flags = old_flags;
}

static void lns_io_set_cgroups(struct lns_io_cmd *cmd, struct request *rq)
{
	cmd->blkcg_css = NULL;
	cmd->memcg_css = NULL;
#ifdef CONFIG_BLK_CGROUP
	if (rq->bio) {
		cmd->blkcg_css = bio_blkcg_css(rq->bio);
#ifdef CONFIG_MEMCG
		if (cmd->blkcg_css)
			cmd->memcg_css = cgroup_get_e_css(cmd->blkcg_css->cgroup,
							  &memory_cgrp_subsys);
#endif
	}
#endif
}

static blk_status_t lns_io_queue_rq(struct blk_mq_hw_ctx *hctx,
				    const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct lns_io_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct lns_device *dev = rq->q->queuedata;

	blk_mq_start_request(rq);
	/* Pairs with smp_store_release() in bind.c: the backing file is set. */
	if (smp_load_acquire(&dev->state) != LNS_BOUND)
		return BLK_STS_IOERR;

	switch (req_op(rq)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		cmd->use_aio = dev->use_dio;
		break;
	default:
		cmd->use_aio = false;
		break;
	}
	lns_io_set_cgroups(cmd, rq);
	queue_work(dev->wq, &cmd->work);
	return BLK_STS_OK;
}

static int lns_io_init_request(struct blk_mq_tag_set *set, struct request *rq,
			       unsigned int hctx_idx,
			       lns_compat_numa_node_t numa_node)
{
	struct lns_io_cmd *cmd = blk_mq_rq_to_pdu(rq);

	INIT_WORK(&cmd->work, lns_io_workfn);
	return 0;
}

const struct blk_mq_ops lns_io_mq_ops = {
	.queue_rq	= lns_io_queue_rq,
	.complete	= lns_io_complete,
	.init_request	= lns_io_init_request,
};

/**
 * lns_io_start() - get a device ready to serve requests
 * @dev: the device, being bound; the caller holds dev->lock
 *
 * Return: 0 or -ENOMEM.
 */
int lns_io_start(struct lns_device *dev)
{
	if (dev->wq)
		return 0;
	dev->wq = alloc_workqueue("%s", WQ_UNBOUND | WQ_FREEZABLE, 0,
				  dev->disk->disk_name);
	return dev->wq ? 0 : -ENOMEM;
}

/**
 * lns_io_stop() - release what lns_io_start() set up
 * @dev: the device, being freed
 */
void lns_io_stop(struct lns_device *dev)
{
	if (dev->wq)
		destroy_workqueue(dev->wq);
	dev->wq = NULL;
}
