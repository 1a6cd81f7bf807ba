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
	char err[512];

	if (lns_parse_args(argc, argv, &a, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", LNS_PROG, err);
		if (a.cmd != LNS_CMD_NONE && a.cmd != LNS_CMD_HELP)
			fprintf(stderr, "Try '%s %s --help'.\n", LNS_PROG,
				lns_cmd_name(a.cmd));
		else
			fprintf(stderr, "Try '%s --help'.\n", LNS_PROG);
		return LNS_EXIT_USAGE;
	}
	if (lns_has(&a, LNS_O_HELP)) {
		fputs(lns_cmd_usage(a.cmd), stdout);
		return LNS_EXIT_OK;
	}
	switch (a.cmd) {
	case LNS_CMD_HELP:
		fputs(lns_cmd_usage(a.help_topic), stdout);
		return LNS_EXIT_OK;
	case LNS_CMD_VERSION:
		printf("loopnsctl %s\n", LOOPNS_TOOL_VERSION);
		return LNS_EXIT_OK;
	case LNS_CMD_STATUS:
		return lns_cmd_status(&a);
	case LNS_CMD_LOAD:
		return lns_cmd_load(&a);
	case LNS_CMD_UNLOAD:
		return lns_cmd_unload(&a);
	case LNS_CMD_MOUNT:
		return lns_cmd_mount(&a);
	case LNS_CMD_UMOUNT:
		return lns_cmd_umount(&a);
	case LNS_CMD_ATTACH:
		return lns_cmd_attach(&a);
	case LNS_CMD_DETACH:
		return lns_cmd_detach(&a);
	case LNS_CMD_LIST:
		return lns_cmd_list(&a);
	case LNS_CMD_RESIZE:
		return lns_cmd_resize(&a);
	case LNS_CMD_SETUP_DEV:
		return lns_cmd_setup_dev(&a);
	case LNS_CMD_RUN:
		return lns_cmd_run(&a);
	default:
		fputs(lns_cmd_usage(LNS_CMD_NONE), stderr);
		return LNS_EXIT_USAGE;
	}
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
