/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * loopns - private loop device instances: userspace API beyond loop's.
 *
 * Every loopns instance's loop-control speaks the loop driver's
 * LOOP_CTL_ADD, LOOP_CTL_REMOVE and LOOP_CTL_GET_FREE, and its devices the
 * loop device ioctls of <linux/loop.h>. This header adds what the loop
 * driver does not have.
 */
#ifndef _UAPI_LINUX_LOOPNS_H
#define _UAPI_LINUX_LOOPNS_H

#include <linux/ioctl.h>
#include <linux/loop.h>
#include <linux/types.h>

/* The returned file descriptor is close-on-exec. */
#define LOOPNS_ATTACH_CLOEXEC	(1U << 0)
#define LOOPNS_ATTACH_FLAGS	(LOOPNS_ATTACH_CLOEXEC)

/**
 * struct loopns_attach - argument of LOOPNS_CTL_ATTACH
 * @config: backing file descriptor and settings, as for LOOP_CONFIGURE
 * @flags: LOOPNS_ATTACH_* flags
 * @index: out: the new device's index in the instance (the N of loopN)
 * @reserved: must be zero
 */
struct loopns_attach {
	struct loop_config config;
	__u32 flags;
	__s32 index;
	__u64 reserved[4];
};

/*
 * LOOPNS_CTL_ATTACH - on an instance's loop-control: create a new device,
 * bind it to config.fd with the settings of config (as LOOP_CONFIGURE) and
 * return an open file descriptor of it: O_RDWR, or O_RDONLY when the
 * device is read-only. The device and its node are deleted when the last
 * file descriptor of the device is closed.
 */
#define LOOPNS_CTL_ATTACH	_IOWR(0x4C, 0xA0, struct loopns_attach)

#endif /* _UAPI_LINUX_LOOPNS_H */
