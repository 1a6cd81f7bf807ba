// SPDX-License-Identifier: GPL-2.0
/*
 * loopns - private sets of loop devices, one per mount of the loopns
 * filesystem. Module entry points and parameters.
 */

#include <linux/module.h>
#include <linux/moduleparam.h>

#include "loopns.h"

static int __init loopns_init(void)
{
	int err;

	err = lns_device_init();
	if (err)
		return err;
	err = lns_control_init();
	if (err)
		goto out_device;
	err = lns_fs_init();
	if (err)
		goto out_control;
	pr_info("version %s loaded, block major %d\n", LOOPNS_VERSION,
		lns_device_major());
	return 0;

out_control:
	lns_control_exit();
out_device:
	lns_device_exit();
	return err;
}

static void __exit loopns_exit(void)
{
	lns_fs_exit();
	lns_control_exit();
	lns_device_exit();
}

module_init(loopns_init);
module_exit(loopns_exit);

MODULE_DESCRIPTION("Private loop device instances (loopns filesystem)");
MODULE_AUTHOR("The loopns developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(LOOPNS_VERSION);
MODULE_ALIAS_FS("loopns");
