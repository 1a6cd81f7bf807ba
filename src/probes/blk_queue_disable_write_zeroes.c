// SPDX-License-Identifier: GPL-2.0
/* 6.10: blk_queue_disable_{discard,write_zeroes}() replace the setters. */
#include <linux/blkdev.h>

void probe(struct request_queue *q);
void probe(struct request_queue *q)
{
	blk_queue_disable_discard(q);
	blk_queue_disable_write_zeroes(q);
}
