// SPDX-License-Identifier: GPL-2.0
/*
 * loopnsctl - control tool for loopns, private loop device instances.
 * See loopnsctl(8) and loopns(7).
 */
#include <stdio.h>
#include <stdlib.h>

#include "loopnsctl.h"
#include "sys.h"

#ifndef LOOPNS_TOOL_VERSION
#define LOOPNS_TOOL_VERSION "unknown"
#endif

static int (*const lns_cmds[LNS_CMD__COUNT])(const struct lns_args *) = {
	[LNS_CMD_STATUS] = lns_cmd_status,
	[LNS_CMD_LOAD] = lns_cmd_load,
	[LNS_CMD_UNLOAD] = lns_cmd_unload,
	[LNS_CMD_MOUNT] = lns_cmd_mount,
	[LNS_CMD_UMOUNT] = lns_cmd_umount,
	[LNS_CMD_ATTACH] = lns_cmd_attach,
	[LNS_CMD_DETACH] = lns_cmd_detach,
	[LNS_CMD_LIST] = lns_cmd_list,
	[LNS_CMD_RESIZE] = lns_cmd_resize,
	[LNS_CMD_SETUP_DEV] = lns_cmd_setup_dev,
	[LNS_CMD_RUN] = lns_cmd_run,
	[LNS_CMD_MOUNT_IMAGE] = lns_cmd_mount_image,
};

/**
 * lns_main() - run loopnsctl
 * @argc: argument count
 * @argv: arguments
 *
 * Return: the exit status (enum lns_exit, or CMD's for run).
 */
int lns_main(int argc, char **argv)
{
	struct lns_args a;

	if (lns_parse_args(argc, argv, &a)) {
		fprintf(stderr, "%s: %s\n", LNS_PROG, a.err);
		if (a.cmd != LNS_CMD_NONE && a.cmd != LNS_CMD_HELP)
			fprintf(stderr, "Try '%s %s --help'.\n", LNS_PROG,
				lns_cmd_name(a.cmd));
		else
			fprintf(stderr, "Try '%s --help'.\n", LNS_PROG);
		return LNS_EXIT_USAGE;
	}
	if (lns_has(&a, LNS_O_HELP) || a.cmd == LNS_CMD_HELP) {
		/* "attach --help" or "help attach" */
		lns_usage(lns_has(&a, LNS_O_HELP) ? a.cmd : a.help_topic, stdout);
		return LNS_EXIT_OK;
	}
	if (a.cmd == LNS_CMD_VERSION) {
		printf("loopnsctl %s\n", LOOPNS_TOOL_VERSION);
		return LNS_EXIT_OK;
	}
	return lns_cmds[a.cmd](&a);
}

#ifndef LOOPNSCTL_NO_MAIN
int main(int argc, char **argv)
{
	int rc = lns_main(argc, argv);

	if (fflush(stdout) || ferror(stdout)) {
		perror(LNS_PROG ": stdout");
		if (!rc)
			rc = LNS_EXIT_FAIL;
	}
	return rc;
}
#endif
