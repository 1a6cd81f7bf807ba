// SPDX-License-Identifier: GPL-2.0
/*
 * Execution of one loopns request against the backing file, in a worker
 * of the request path (io.c dispatches; nothing here runs in ->queue_rq).
 *
 * Reads and writes go through the backing file's ->read_iter/->write_iter
 * with a kiocb over the request's own pages (a bvec iterator, no copy):
 * synchronous in buffered mode, asynchronous with IOCB_DIRECT and
 * ->ki_complete in direct I/O mode, so that one worker keeps many direct
 * requests in flight. FLUSH is an fsync, DISCARD and WRITE_ZEROES are
 * fallocate. A request the backing file did not take or fill in full is
 * retried for the rest, then fails.
 *
 * Buffered writes charge the backing file's page cache to the memcg the
 * worker adopted (as loop's worker does), but two brakes a writer in that
 * memcg has do not hold the worker: balance_dirty_pages() throttles it in
 * the domain of its own memcg, the root, not the adopted one; and with
 * PF_LOCAL_THROTTLE its reclaim does not wait for writeback. A memcg full
 * of the backing file's dirty and writeback pages (slow backing disk) can
 * thus be OOM-killed from the worker's charge, with loop as with loopns
 * (issue 16: measured with the stress suite's memcg worker and io.max).
 * Writing the backing file back and waiting before each write in a nearly
 * full memcg made it worse there (3 OOM-killed rounds of 3, against 0 of
 * 4: while the worker waits, the upper pages it would clean wait too),
 * and letting its reclaim wait for writeback only moved the failing
 * charge to the writer; nothing here tries either.
 */

#include <linux/cred.h>
#include <linux/falloc.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "loopns.h"
#include "io.h"

/*
 * The backing file moved fewer bytes than the request carries. With some
 * progress, end the whole sectors moved and retry the rest: a retry either
 * progresses or fails. Without any, the rest fails; a read's buffers are
 * zeroed as with loop. A write is never reported done for bytes the
 * backing file did not take.
 */
static void lns_exec_short(struct request *rq, struct lns_io_cmd *cmd)
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

/*
 * End a request, in the context that served it: a worker, or the backing
 * file's completion of an asynchronous request. Not through
 * blk_mq_complete_request(): on a device with one hardware queue (io.c)
 * that defers every completion to the block softirq, and from a worker,
 * in process context, raising it wakes ksoftirqd: a context switch per
 * request at depth 1. A read or write that moved fewer bytes than it
 * carries is not ended as done: see lns_exec_short().
 */
static void lns_exec_complete(struct request *rq)
{
	struct lns_io_cmd *cmd = blk_mq_rq_to_pdu(rq);
	long ret = cmd->ret;

	if (ret >= 0 && ret != blk_rq_bytes(rq) &&
	    (req_op(rq) == REQ_OP_READ || req_op(rq) == REQ_OP_WRITE)) {
		lns_exec_short(rq, cmd);
		return;
	}
	/* An unsupported limit is withdrawn; callers fall back quietly. */
	if (ret == -EOPNOTSUPP)
		rq->rq_flags |= RQF_QUIET;
	blk_mq_end_request(rq, ret < 0 ? errno_to_blk_status(ret) : BLK_STS_OK);
}

static void lns_exec_rw_put(struct lns_io_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);

	if (!atomic_dec_and_test(&cmd->ref))
		return;
	kfree(cmd->bvec);
	cmd->bvec = NULL;
	if (req_op(rq) == REQ_OP_WRITE)
		kiocb_end_write(&cmd->iocb);
	lns_exec_complete(rq);
}

static void lns_exec_rw_done(struct kiocb *iocb, long ret)
{
	struct lns_io_cmd *cmd = container_of(iocb, struct lns_io_cmd, iocb);

	cmd->ret = ret;
	lns_exec_rw_put(cmd);
}

/* Describe the request's data as a bvec iterator. */
static int lns_exec_init_iter(struct lns_io_cmd *cmd, struct iov_iter *iter,
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
static void lns_exec_init_kiocb(struct lns_io_cmd *cmd, struct file *file,
				loff_t pos, unsigned short ioprio, bool dio)
{
	struct kiocb *iocb = &cmd->iocb;

	init_sync_kiocb(iocb, file);
	iocb->ki_flags &= IOCB_DSYNC | IOCB_SYNC;
	iocb->ki_pos = pos;
	iocb->ki_ioprio = ioprio;
	if (dio) {
		iocb->ki_flags |= IOCB_DIRECT;
		iocb->ki_complete = lns_exec_rw_done;
	}
}

static int lns_exec_rw(struct lns_device *dev, struct lns_io_cmd *cmd,
		       loff_t pos, unsigned int direction)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct file *file = dev->backing;
	struct iov_iter iter;
	ssize_t ret;

	ret = lns_exec_init_iter(cmd, &iter, direction);
	if (ret)
		return ret;

	atomic_set(&cmd->ref, 2);
	lns_exec_init_kiocb(cmd, file, pos, req_get_ioprio(rq), dev->use_dio);

	if (direction == ITER_SOURCE) {
		kiocb_start_write(&cmd->iocb);
		ret = file->f_op->write_iter(&cmd->iocb, &iter);
	} else {
		ret = file->f_op->read_iter(&cmd->iocb, &iter);
	}

	lns_exec_rw_put(cmd);
	if (ret != -EIOCBQUEUED)
		lns_exec_rw_done(&cmd->iocb, ret);
	return -EIOCBQUEUED;
}

static int lns_exec_flush(struct lns_device *dev)
{
	int ret = vfs_fsync(dev->backing, 0);

	return ret && ret != -EINVAL ? -EIO : 0;
}

/* Discard and write-zeroes map to fallocate on the backing file. */
static int lns_exec_fallocate(struct lns_device *dev, struct request *rq,
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

static int lns_exec_do(struct lns_device *dev, struct lns_io_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	loff_t pos = ((loff_t)blk_rq_pos(rq) << SECTOR_SHIFT) + dev->offset;

	switch (req_op(rq)) {
	case REQ_OP_FLUSH:
		return lns_exec_flush(dev);
	case REQ_OP_WRITE_ZEROES:
		/* Deallocate unless the caller asked to keep the blocks. */
		return lns_exec_fallocate(dev, rq, pos,
					(rq->cmd_flags & REQ_NOUNMAP) ?
					FALLOC_FL_ZERO_RANGE :
					FALLOC_FL_PUNCH_HOLE);
	case REQ_OP_DISCARD:
		return lns_exec_fallocate(dev, rq, pos, FALLOC_FL_PUNCH_HOLE);
	case REQ_OP_WRITE:
		return lns_exec_rw(dev, cmd, pos, ITER_SOURCE);
	case REQ_OP_READ:
		return lns_exec_rw(dev, cmd, pos, ITER_DEST);
	default:
		return -EIO;
	}
}

/**
 * lns_exec_run() - serve a request from the backing file
 * @dev: the device
 * @cmd: the request's data
 *
 * Runs in a worker, with the cgroups of the request adopted and
 * PF_MEMALLOC_NOIO set. The request is completed here, or by the backing
 * file's completion of an asynchronous request; either may have happened
 * (and @cmd be reused) once this returns.
 */
void lns_exec_run(struct lns_device *dev, struct lns_io_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	const struct cred *old_cred;
	int ret;

	if (op_is_write(req_op(rq)) && (dev->flags & LO_FLAGS_READ_ONLY)) {
		ret = -EIO;
	} else {
		/*
		 * As whoever opened the backing file, not as the worker: a
		 * FUSE server mounted in a user namespace refuses requests
		 * from ids it cannot map (EOVERFLOW), and no filesystem
		 * should see a tenant's I/O with the kernel's capabilities.
		 * The file, and so its credentials, stays while a request
		 * is in flight (a change of backing file freezes the queue).
		 */
		old_cred = override_creds(dev->backing->f_cred);
		ret = lns_exec_do(dev, cmd);
		revert_creds(old_cred);
	}
	if (ret == -EIOCBQUEUED)
		return;
	cmd->ret = ret == -EOPNOTSUPP ? ret : (ret ? -EIO : 0);
	lns_exec_complete(rq);
}
