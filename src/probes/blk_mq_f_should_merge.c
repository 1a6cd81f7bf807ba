// SPDX-License-Identifier: GPL-2.0
/* 6.14: BLK_MQ_F_SHOULD_MERGE is removed (merging is the default). */
#include <linux/blk-mq.h>

unsigned int probe(void);
unsigned int probe(void)
{
	return BLK_MQ_F_SHOULD_MERGE;
}
