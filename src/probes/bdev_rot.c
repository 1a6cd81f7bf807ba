// SPDX-License-Identifier: GPL-2.0
/* 7.x: bdev_nonrot() is replaced by bdev_rot(). */
#include <linux/blkdev.h>

bool probe(struct block_device *bdev);
bool probe(struct block_device *bdev)
{
	return bdev_rot(bdev);
}
