/* driver.h: the subcommands of the `lathe` command line. */
#ifndef LATHE_DRIVER_H
#define LATHE_DRIVER_H

#include "base/base.h"

#define LATHE_VERSION "0.1.0"

/* Each takes the arguments after the command name; returns the exit code. */
int lathe_cmd_show(int argc, char **argv);
int lathe_cmd_run(int argc, char **argv);
int lathe_cmd_compile(int argc, char **argv);

/* `lathe run DIR` (run_module.c): runs the compiled module in dir. */
typedef struct lathe_run_module_opts {
	const char *dir, *outdir;   /* outdir NULL: write no files */
	const char *const *inputs; /* ninputs tensor files */
	int ninputs, runs, threads; /* threads <= 0: the machine's CPUs */
	bool random_inputs, print;
} lathe_run_module_opts;
bool lathe_is_module_dir(const char *path);
lathe_err lathe_run_module(const lathe_run_module_opts *o);

/* Prints e (if any) to stderr, frees it, returns its exit code. */
int lathe_report(lathe_err e);
int lathe_exit_code(lathe_err e);

#endif
