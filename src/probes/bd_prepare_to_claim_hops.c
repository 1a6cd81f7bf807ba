// SPDX-License-Identifier: GPL-2.0
/* 6.5: bd_prepare_to_claim() gains a blk_holder_ops argument. */
#include <linux/blkdev.h>

int probe(struct block_device *bdev);
int probe(struct block_device *bdev)
{
	return bd_prepare_to_claim(bdev, probe, NULL);
}
