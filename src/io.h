/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loopns request path, shared between its two halves: dispatch (io.c:
 * blk-mq hardware queues, per-cgroup lanes, workers) and execution
 * (exec.c: a request against the backing file).
 */
#ifndef _LOOPNS_IO_H
#define _LOOPNS_IO_H

#include <linux/blk-mq.h>
#include <linux/cgroup.h>
#include <linux/fs.h>
#include <linux/list.h>

struct lns_device;

/**
 * struct lns_io_cmd - per-request data
 * @node: in the cmds list of a lane, or in a worker's batch
 * @iocb: kiocb for the backing file
 * @bvec: bvec array for requests made of several bios
 * @ref: two holders while an asynchronous request is being submitted
 * @ret: result: bytes transferred or a negative errno
 * @use_aio: the request uses direct, asynchronous I/O
 * @blkcg_css: cgroup of the issuing bio, or NULL (the bio holds it)
 */
struct lns_io_cmd {
	struct list_head node;
	struct kiocb iocb;
	struct bio_vec *bvec;
	atomic_t ref;
	long ret;
	bool use_aio;
	struct cgroup_subsys_state *blkcg_css;
};

/* exec.c */
void lns_exec_run(struct lns_device *dev, struct lns_io_cmd *cmd);

#endif /* _LOOPNS_IO_H */
