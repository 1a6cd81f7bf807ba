// SPDX-License-Identifier: GPL-2.0
/* Unit tests: loopnsctl's command line parsing (getopt_long, src/tool/pure.c). */
#include <errno.h>
#include <stdlib.h>

#include "loopnsctl.h"
#include "tap.h"

static struct lns_args A;
#define E A.err

/* Parse a NULL-terminated word list; argv[0] is "loopnsctl". */
static int parse(const char *first, ...)
{
	static char *argv[64];
	const char *w;
	va_list ap;
	int argc = 0;

	argv[argc++] = "loopnsctl";
	va_start(ap, first);
	for (w = first; w; w = va_arg(ap, const char *))
		argv[argc++] = (char *)w;
	va_end(ap);
	argv[argc] = NULL;
	return lns_parse_args(argc, argv, &A);
}

#define P(...) parse(__VA_ARGS__, (const char *)NULL)

/* The help text of @cmd (valid until the next call). */
static const char *usage(enum lns_cmd cmd)
{
	static char *text;
	size_t len;
	FILE *f;

	free(text);
	text = NULL;
	f = open_memstream(&text, &len);
	lns_usage(cmd, f);
	fclose(f);
	return text;
}

static void test_commands(void)
{
	is_int(P("status"), 0, "status parses");
	is_int(A.cmd, LNS_CMD_STATUS, "status is LNS_CMD_STATUS");
	is_int(P("status", "--json"), 0, "status --json");
	ok(lns_has(&A, LNS_O_JSON), "--json recorded");
	is_int(P("bogus"), -1, "unknown command fails");
	is_str(E, "unknown command 'bogus'", "unknown command message");
	is_int(parse(NULL), -1, "no command fails");
	is_str(E, "missing command", "missing command message");
	is_int(P("--help"), 0, "--help alone");
	is_int(A.cmd, LNS_CMD_HELP, "--help is the help command");
	is_int(P("help", "attach"), 0, "help attach");
	is_int(A.help_topic, LNS_CMD_ATTACH, "help topic is attach");
	is_int(P("help", "nope"), -1, "help with an unknown topic fails");
	is_int(P("--version"), 0, "--version");
	is_int(A.cmd, LNS_CMD_VERSION, "--version is the version command");
	is_int(lns_cmd_lookup("setup-dev"), LNS_CMD_SETUP_DEV, "lookup setup-dev");
	is_str(lns_cmd_name(LNS_CMD_RUN), "run", "name of run");
	ok(strstr(usage(LNS_CMD_NONE), "\n  setup-dev DIR [OPTIONS]     make losetup") != NULL,
	   "overview lists setup-dev with its summary");
}

static void test_help_everywhere(void)
{
	int c;

	for (c = LNS_CMD_NONE + 1; c < LNS_CMD__COUNT; c++) {
		const char *name = lns_cmd_name(c);
		char want[64];

		is_int(P(name, "--help"), 0, "%s --help parses", name);
		ok(lns_has(&A, LNS_O_HELP), "%s --help sets help", name);
		is_int(P(name, "-h"), 0, "%s -h parses", name);
		snprintf(want, sizeof(want), "Usage: loopnsctl %s", name);
		ok(!strncmp(usage(c), want, strlen(want)),
		   "%s has its own usage text", name);
	}
}

/* The Options lists come from the option table: each command's own. */
static void test_usage_options(void)
{
	const char *u = usage(LNS_CMD_ATTACH);

	ok(strstr(u, "\n  -e, --ephemeral        ") != NULL, "attach lists -e, --ephemeral");
	ok(strstr(u, "\n      --fd N             ") != NULL, "attach lists --fd N");
	ok(!strstr(u, "--max"), "attach does not list --max");
	ok(strstr(u, "\n  -h, --help             this text\n") != NULL,
	   "attach lists --help");
	u = usage(LNS_CMD_SETUP_DEV);
	ok(strstr(u, "      --partitions M     ") && strstr(u, "      --remove ") &&
	   !strstr(u, "--json"), "setup-dev lists its options only");
	u = usage(LNS_CMD_MOUNT_IMAGE);
	ok(strstr(u, "Usage: loopnsctl mount-image --target PID --fd N [OPTIONS] PATH\n"
		     "       loopnsctl mount-image --target PID --overlay") == u,
	   "a second form on its own line");
	ok(strstr(usage(LNS_CMD_VERSION), "Options:\n  -h, --help") != NULL,
	   "version takes --help only");
	ok(strstr(usage(LNS_CMD_NONE), "\n  mount-image --target PID --fd N [OPTIONS] PATH\n"
		  "                              (host root)") != NULL,
	   "a long synopsis: the summary on the next line");
}

static void test_attach(void)
{
	is_int(P("attach", "img"), 0, "attach IMAGE");
	is_str(A.pos[0], "img", "IMAGE positional");
	is_int(A.npos, 1, "one positional");
	is_int(A.fd, 3, "default --fd is 3");
	is_int(P("attach", "-rP", "--offset", "1M", "--sizelimit=4K", "-b", "4096",
		 "--direct-io", "--instance", "/run/x", "img"), 0,
	       "attach with every option");
	ok(lns_has(&A, LNS_O_READ_ONLY) && lns_has(&A, LNS_O_PARTSCAN),
	   "clustered -rP");
	is_int(A.offset, 1048576, "--offset 1M");
	is_int(A.sizelimit, 4096, "--sizelimit=4K");
	is_int(A.block_size, 4096, "-b 4096");
	ok(lns_has(&A, LNS_O_DIRECT_IO), "--direct-io");
	is_str(A.instance, "/run/x", "--instance");
	is_int(P("attach", "-o4096", "img"), 0, "attached short value -o4096");
	is_int(A.offset, 4096, "-o4096 value");
	is_int(P("attach", "img", "-r"), 0, "options after the positional");
	ok(lns_has(&A, LNS_O_READ_ONLY), "-r after IMAGE");
	is_int(P("attach"), -1, "attach without IMAGE");
	is_str(E, "attach: missing IMAGE", "missing IMAGE message");
	is_int(P("attach", "a", "b"), -1, "attach with two images");
	is_str(E, "attach: unexpected argument 'b'", "two images message");
	is_int(P("attach", "-e", "a", "b"), -1, "attach -e with CMD not after --");
	is_str(E, "attach: unexpected argument 'b' (put -- before CMD)",
	       "the hint to put -- before CMD");
	is_int(P("attach", "--offset", "x", "img"), -1, "bad offset");
	is_str(E, "--offset x: not a number", "bad offset message");
	is_int(P("attach", "--offset"), -1, "--offset without value");
	is_str(E, "option --offset needs a value", "missing value message");
	is_int(P("attach", "--block-size", "1000", "img"), -1, "block size not a power of 2");
	is_int(P("attach", "--block-size", "256", "img"), -1, "block size below 512");
	is_int(P("attach", "-b", "1M", "img"), -1, "block size above the page size");
	ok(strstr(E, "-b 1M: must be a power of two from 512 to the page size (") == E,
	   "block size message");
	is_int(P("attach", "--read-only=yes", "img"), -1, "flag with a value");
	is_str(E, "option --read-only takes no value", "flag value message");
	is_int(P("attach", "--max", "3", "img"), -1, "--max is not an attach option");
	is_str(E, "attach: unknown option --max", "unknown option message");
	is_int(P("attach", "-r", "-r", "img"), -1, "option twice");
	is_str(E, "option -r given twice", "option twice message");
	is_int(P("attach", "-rZ", "img"), -1, "unknown short option in a cluster");
	is_str(E, "attach: unknown option -Z", "unknown short option message");
	is_int(P("attach", "--inst", "/run/y", "img"), 0, "abbreviated long option");
	is_str(A.instance, "/run/y", "--inst is --instance (getopt_long)");
	is_int(P("attach", "-o"), -1, "-o without value");
	is_str(E, "option -o needs a value", "short option missing value message");
	is_int(P("attach", "--", "-img"), -1, "-- without --ephemeral");
	is_int(P("attach", "--ephemeral", "img", "--", "sh", "-c", "true"), 0,
	       "attach --ephemeral IMAGE -- CMD");
	is_int(A.argc, 3, "CMD has 3 words");
	is_str(A.argv[0], "sh", "CMD[0]");
	is_str(A.argv[1], "-c", "CMD options are not ours");
	ok(A.argv[3] == NULL, "CMD is NULL-terminated");
	is_int(P("attach", "--ephemeral", "img"), -1, "--ephemeral without CMD");
	is_int(P("attach", "--ephemeral", "img", "--"), -1, "--ephemeral with empty CMD");
	is_int(P("attach", "-e", "--fd", "5", "img", "--", "true"), 0, "--fd 5");
	is_int(A.fd, 5, "--fd value");
	is_int(P("attach", "-e", "--fd", "1", "img", "--", "true"), -1, "--fd 1 refused");
	is_int(P("attach", "--fd", "4", "img"), -1, "--fd without --ephemeral");
}

static void test_mount_family(void)
{
	is_int(P("mount", "/run/i", "--max", "4", "--uid", "1000", "--gid", "tester",
		 "--mode", "0660"), 0, "mount with options");
	is_int(A.max, 4, "--max 4");
	is_str(A.uid, "1000", "--uid kept as text");
	is_str(A.gid, "tester", "--gid name");
	is_int(A.mode, 0660, "--mode 0660");
	is_int(P("mount", "/run/i", "--max", "0"), -1, "--max 0 refused");
	is_str(E, "--max 0: must be from 1 to 1048576", "--max range message");
	is_int(P("mount", "/run/i", "--max", "1048577"), -1, "--max too large");
	is_int(P("mount", "/run/i", "--mode", "0777"), -1, "--mode with x bits");
	is_int(P("mount", "/run/i", "--mode", "rw"), -1, "--mode not octal");
	is_int(P("mount"), -1, "mount without DIR");
	is_str(E, "mount: missing DIR", "missing DIR message");
	is_int(P("mount", "/a", "/b"), -1, "mount with two dirs");
	is_int(P("mount", "/a", "--remount"), -1, "--remount without options");
	is_int(P("mount", "/a", "--remount", "--max", "8"), 0, "--remount --max");
	is_int(P("umount", "/a", "-l"), 0, "umount -l");
	ok(lns_has(&A, LNS_O_LAZY), "--lazy");
	is_int(P("umount"), -1, "umount without DIR");
	is_int(P("resize"), -1, "resize without NODE");
	is_str(E, "resize: missing NODE", "resize message");
	is_int(P("detach"), -1, "detach without NODE");
	is_int(P("detach", "--all"), 0, "detach --all");
	is_int(P("detach", "--all", "/x/loop0"), -1, "detach --all and NODE");
	is_int(P("detach", "/x/loop0", "/x/loop1"), 0, "detach two nodes");
	is_int(A.npos, 2, "two nodes");
	is_int(P("detach", "--", "-odd"), 0, "-- ends options for detach");
	is_str(A.pos[0], "-odd", "positional after --");
	is_int(P("detach", "-i", "/x", "/x/loop0"), -1, "--instance without --all");
	is_str(E, "detach: --instance goes with --all", "--instance without --all message");
	is_int(P("detach", "--all", "-i", "/x"), 0, "detach --all --instance");
	is_int(P("list", "--json", "-a", "-i", "/x"), 0, "list options");
	is_int(P("list", "extra"), -1, "list takes no argument");
	is_int(P("load", "max_devices=8", "max_devices_per_user=4"), 0, "load PARAM=VALUE");
	is_int(A.npos, 2, "two parameters");
	is_int(P("load", "max_devices"), -1, "load needs PARAM=VALUE");
	is_int(P("load", "=3"), -1, "load needs a name");
	is_int(P("unload", "x"), -1, "unload takes no argument");
}

static void test_setup_dev_run(void)
{
	is_int(P("setup-dev", "/c/dev"), 0, "setup-dev DIR");
	is_int(P("setup-dev", "/c/dev", "--max", "8", "--partitions", "3", "--force"),
	       0, "setup-dev options");
	is_int(A.partitions, 3, "--partitions 3");
	is_int(P("setup-dev", "/c/dev", "--partitions", "256"), -1, "--partitions too large");
	is_int(P("setup-dev", "--remove", "/c/dev"), 0, "setup-dev --remove");
	is_int(P("setup-dev", "--remove", "--max", "3", "/c/dev"), -1,
	       "--remove takes no other option");
	is_int(P("setup-dev", "-i", "/run/i", "--max", "3", "/c/dev"), -1,
	       "--instance with --max refused");
	is_int(P("setup-dev", "-i", "/run/i", "/c/dev"), 0, "--instance alone");
	is_int(P("run"), 0, "run without CMD (shell)");
	ok(A.argv == NULL, "no CMD");
	is_int(P("run", "--max", "2", "losetup", "-f"), 0, "run stops at CMD");
	is_int(A.max, 2, "run --max");
	is_str(A.argv[0], "losetup", "run CMD");
	is_str(A.argv[1], "-f", "CMD's own option");
	is_int(P("run", "-U", "-d", "/tmp/x", "--", "sh"), 0, "run -U -d DIR -- CMD");
	ok(lns_has(&A, LNS_O_USERNS), "--userns");
	is_str(A.dir, "/tmp/x", "--dir");
	is_int(P("run", "--dir", "", "sh"), -1, "empty --dir");
	is_int(P("run", "--bogus", "sh"), -1, "unknown run option");
	is_int(P("run", "--"), -1, "run -- without CMD");
	is_str(E, "run: missing command after --", "run -- message");
	is_int(P("run", "sh", "--max", "3"), 0, "run: options after CMD are CMD's");
	ok(!lns_has(&A, LNS_O_MAX) && A.argc == 3, "CMD keeps --max 3");
}

static void test_mount_image(void)
{
	is_int(P("mount-image", "-t", "42", "--fd", "3", "/m"), 0, "mount-image parses");
	is_int(A.cmd, LNS_CMD_MOUNT_IMAGE, "mount-image command");
	is_str(A.target, "42", "--target value");
	ok(A.nfd == 1 && A.fds[0] == 3, "one --fd");
	is_int(P("mount-image", "--target", "42", "--overlay", "--fd", "3", "--fd", "4",
		 "--upper", "/u", "--work", "/w", "/m"), 0, "overlay with two layers");
	ok(A.nfd == 2 && A.fds[1] == 4, "--fd repeated, in order");
	is_int(P("mount-image", "--fd", "3", "/m"), -1, "no --target");
	is_str(E, "mount-image: missing --target PID", "no --target message");
	is_int(P("mount-image", "-t", "1", "/m"), -1, "no --fd");
	is_int(P("mount-image", "-t", "1", "--fd", "3", "m"), -1, "relative PATH");
	is_int(P("mount-image", "-t", "1", "--fd", "3", "/m", "/n"), -1, "two PATHs");
	is_str(E, "mount-image: unexpected argument '/n'", "two PATHs message");
	is_int(P("mount-image", "-t", "1", "--fd", "3"), -1, "no PATH");
	is_str(E, "mount-image: missing PATH", "no PATH message");
	is_int(P("mount-image", "-t", "1", "--fd", "3", "--fd", "4", "/m"), -1,
	       "two --fd without --overlay");
	is_int(P("mount-image", "-t", "1", "--fd", "3", "--overlay", "/m"), -1,
	       "--overlay without --upper/--work");
	is_int(P("mount-image", "-t", "1", "--fd", "3", "--upper", "/u", "/m"), -1,
	       "--upper without --overlay");
	is_int(P("attach", "-e", "--fd", "3", "--fd", "4", "i", "--", "true"), -1,
	       "attach: --fd still once");
}

int main(void)
{
	test_commands();
	test_help_everywhere();
	test_usage_options();
	test_attach();
	test_mount_family();
	test_setup_dev_run();
	test_mount_image();
	return tap_done();
}
