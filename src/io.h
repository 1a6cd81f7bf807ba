/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loopns request path, shared between its two halves: dispatch (io.c:
 * blk-mq hardware queues, per-cgroup lanes, workers) and execution
 * (exec.c: a request against the backing file).
 */
#ifndef _LOOPNS_IO_H
#define _LOOPNS_IO_H

#include <linux/blk-mq.h>
#include <linux/fs.h>

struct lns_device;

/**
 * struct lns_io_cmd - per-request data
 * @iocb: kiocb for the backing file
 * @bvec: bvec array for requests made of several bios
 * @ref: two holders while an asynchronous request is being submitted
 * @ret: result: bytes transferred (at most a request's size) or a
 *	negative errno
 *
 * Kept to 64 bytes: with struct request (248 bytes on 6.12, 256 on 7.2)
 * a preallocated request takes five cache lines instead of six, and 102
 * of them, device.c's default depth there, fit a 32 KiB request pool
 * (85 on 6.1). What a request needs besides is found elsewhere: lanes
 * link requests through their queuelist, the driver's from ->queue_rq
 * until the request ends; the request's cgroup is its bio's (bios of
 * different cgroups are not merged); and whether it is direct I/O is the
 * device's setting, which changes only with the queue frozen, so never
 * under a request.
 */
struct lns_io_cmd {
	struct kiocb iocb;
	struct bio_vec *bvec;
	atomic_t ref;
	int ret;
};

/* exec.c */
void lns_exec_run(struct lns_device *dev, struct lns_io_cmd *cmd);

#endif /* _LOOPNS_IO_H */
