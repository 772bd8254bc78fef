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
/* Input i of a module: read from a .npy or .pb file and checked against
 * the manifest, or made deterministically (what --random-inputs gives). */
struct lathe_module_io;
lathe_err lathe_module_input_read(lathe_arena *a, const struct lathe_module_io *io, int i,
				  const char *path, lathe_tensor **out);
lathe_err lathe_module_input_random(lathe_arena *a, const struct lathe_module_io *io, int i,
				    lathe_tensor **out);

/* cmd_compile.c: compiles model (ONNX or .ir) into dir as `lathe compile`
 * does (the runtime archive found the same way), printing nothing but
 * o->progress. */
struct lathe_compile_opts;
struct lathe_compile_stats;
lathe_err lathe_compile_model(const char *model, const char *dir, struct lathe_compile_opts *o,
			      struct lathe_compile_stats *st);

/* `lathe bench` (cmd_bench.c). */
int lathe_cmd_bench(int argc, char **argv);

/* load.c: a model (ONNX, or graph text when the name ends in .ir) and a
 * text file (no NUL bytes; free() the result). */
struct lathe_graph;
lathe_err lathe_load_model(const char *path, struct lathe_graph **out);
lathe_err lathe_read_text(const char *path, char **out);
bool lathe_ends_with(const char *s, const char *suffix);

/* Prints e (if any) to stderr, frees it, returns its exit code. */
int lathe_report(lathe_err e);
int lathe_exit_code(lathe_err e);

#endif
