// SPDX-License-Identifier: GPL-2.0
/* 7.x: blk_mq_ops->init_request takes the NUMA node as a signed int. */
#include <linux/blk-mq.h>

static int probe_init_request(struct blk_mq_tag_set *set, struct request *rq,
			      unsigned int hctx_idx, int numa_node)
{
	return 0;
}

const struct blk_mq_ops probe_mq_ops = {
	.init_request = probe_init_request,
};
