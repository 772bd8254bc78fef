/* driver.h: the subcommands of the `lathe` command line. */
#ifndef LATHE_DRIVER_H
#define LATHE_DRIVER_H

#include "base/base.h"

#define LATHE_VERSION "0.1.0"

/* Each takes the arguments after the command name; returns the exit code. */
int lathe_cmd_show(int argc, char **argv);
int lathe_cmd_run(int argc, char **argv);

/* Prints e (if any) to stderr, frees it, returns its exit code. */
int lathe_report(lathe_err e);
int lathe_exit_code(lathe_err e);

#endif
