// SPDX-License-Identifier: GPL-2.0
/* 6.6: disk_force_media_change() loses its events argument. */
#include <linux/blkdev.h>

void probe(struct gendisk *disk);
void probe(struct gendisk *disk)
{
	disk_force_media_change(disk);
}
