/* main.c: the `lathe` command line.
 *
 * Dispatches to one function per subcommand (cmd_*.c).  Exit codes:
 *   0 success, 1 bad input (model, tensor file, shapes), 2 usage error,
 *   3 unsupported by lathe, 4 internal error (a bug: please report it).
 */
#include "driver/driver.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: lathe <command> [options]\n"
	"\n"
	"commands:\n"
	"  show MODEL        print a model's graph IR (or a .ir / .tir text file)\n"
	"  run MODEL IN...   run a model on input tensors, write output_N.npy\n"
	"  compile MODEL     compile a model into a module (shared library or C bundle)\n"
	"  run DIR IN...     run a compiled module\n"
	"  bench MODEL|DIR   time a model (compiled first) or a compiled module\n"
	"\n"
	"`lathe <command> --help` describes a command's options.\n";

int lathe_exit_code(lathe_err e)
{
	if (!e)
		return 0;
	switch (lathe_error_code(e)) {
	case LATHE_EUNSUPPORTED:
		return 3;
	case LATHE_EINTERNAL:
		return 4;
	default:
		return 1;
	}
}

int lathe_report(lathe_err e)
{
	int rc = lathe_exit_code(e);
	if (e) {
		fprintf(stderr, "lathe: %s%s\n",
			lathe_error_code(e) == LATHE_EUNSUPPORTED ? "unsupported: "
			: lathe_error_code(e) == LATHE_EINTERNAL ? "internal error: "
								  : "error: ",
			lathe_error_message(e));
		lathe_error_free(e);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		puts("lathe " LATHE_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "show"))
		return lathe_cmd_show(argc - 2, argv + 2);
	if (!strcmp(cmd, "run"))
		return lathe_cmd_run(argc - 2, argv + 2);
	if (!strcmp(cmd, "compile"))
		return lathe_cmd_compile(argc - 2, argv + 2);
	if (!strcmp(cmd, "bench"))
		return lathe_cmd_bench(argc - 2, argv + 2);
	fprintf(stderr, "lathe: unknown command '%s'\n\n%s", cmd, usage);
	return 2;
}
