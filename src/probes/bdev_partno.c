// SPDX-License-Identifier: GPL-2.0
/* 6.10: bd_partno moves into bd_flags behind bdev_partno(). */
#include <linux/blkdev.h>

u8 probe(const struct block_device *bdev);
u8 probe(const struct block_device *bdev)
{
	return bdev_partno(bdev);
}
