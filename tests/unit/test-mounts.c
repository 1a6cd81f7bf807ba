// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: the instances of a mountinfo file, read through libmount
 * (lns_instances_in(), src/tool/sys.c).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "loopnsctl.h"
#include "sys.h"
#include "tap.h"

static const char mountinfo[] =
	"22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
	"36 22 0:33 / /run/my\\040inst rw,nosuid,relatime shared:12 - loopns loopns rw,max=4,mode=660\n"
	"40 22 0:34 /loop-control /dev/loop-control rw - loopns loopns rw,max=1024\n"
	"41 22 0:33 / /run/bind rw,nosuid - loopns loopns rw,max=4,mode=660\n"
	"42 22 0:35 / /run/plain rw - loopns loopns rw\n"
	"43 22 0:36 / /run/weird rw - loopns loopns rw,max=banana\n";

int main(void)
{
	char path[] = "/tmp/lns-mountinfo.XXXXXX";
	struct lns_instance_info *v = NULL;
	int fd = mkstemp(path), n;

	if (fd < 0 || write(fd, mountinfo, sizeof(mountinfo) - 1) < 0)
		return 1;
	close(fd);
	n = lns_instances_in(path, &v);
	is_int(n, 3, "three instances: bind mounts count once, a subtree mount not");
	if (n == 3) {
		is_str(v[0].path, "/run/my inst", "octal escape in the mount point");
		is_int(v[0].max, 4, "max= from the superblock options");
		ok(v[0].dev == makedev(0, 33), "st_dev 0:33");
		is_str(v[1].path, "/run/plain", "the first mount point of each wins");
		is_int(v[1].max, LNS_DEFAULT_MAX, "no max=: the module's default");
		is_int(v[2].max, LNS_DEFAULT_MAX, "a bad max=: the default");
	}
	free(v);
	unlink(path);
	is_int(lns_instances_in("/nonexistent/mountinfo", &v), -2,
	       "a missing file is -ENOENT");
	return tap_done();
}
