/* jit.h: running a graph through compiled C (`lathe run --backend c`).
 *
 * The JIT is a backend of the graph executor (exec.h): every loop program
 * the executor lowers is printed as C (codegen.h), keyed by a hash of its
 * text, and run from a shared library in a cache directory.  A run first
 * walks the graph with the types the inputs give (computing the small
 * shape arithmetic exported models do) and lowers every node it can, as
 * the executor will; what is not compiled yet is compiled, in one call of
 * the C compiler.  Then pass 1 runs the graph: a function already compiled
 * (in this process or by an earlier one: the cache keeps one small file per
 * function naming the library that holds it) runs compiled; any other (a
 * shape only known at run time) is interpreted and recorded.  If some were
 * recorded, they are compiled into one more library and pass 2 reruns the
 * graph with every function compiled; its outputs are the result.  So the
 * first run of a model usually costs one compilation, and later runs (and
 * other models with the same layer shapes) none.
 *
 * The cache is $LATHE_CACHE, else $XDG_CACHE_HOME/lathe, else
 * ~/.cache/lathe: c/KEY.c and c/KEY.so (a library and its source), and
 * f/KEY (which library holds function KEY).  Files are written under
 * temporary names and renamed, so concurrent lathe processes can share it;
 * deleting it is always safe.  Keys cover the generated text, the compiler
 * and its flags.
 */
#ifndef LATHE_JIT_H
#define LATHE_JIT_H

#include <stdio.h>

#include "exec/exec.h"

typedef struct lathe_jit_opts {
	const char *cache_dir; /* NULL: as above */
	int nthreads;          /* threads of parallel loops; <= 0: the machine's cores */
	const char *cflags;    /* extra C compiler flags; NULL: "-march=native -w" */
	bool check_all;        /* bounds-check every access (codegen.h) */
	/* Functions whose lowering gave a schedule class get the default
	 * schedule for this machine (sched.h) unless this is set. */
	bool no_schedule;
	/* When no C compiler can be run, keep the first pass's (interpreted)
	 * results instead of failing; stats.interpreted says so. */
	bool fallback;
	FILE *log;             /* one line per compilation; NULL: quiet */
} lathe_jit_opts;

typedef struct lathe_jit_stats {
	int nfuncs;      /* distinct loop programs the last run used */
	int ncompiled;   /* of which compiled by the last run (0: all cached) */
	int npasses;     /* 1, or 2 when pass 1 met functions the first walk missed */
	double ms_cc;    /* time in the C compiler during the last run */
	bool interpreted; /* fallback taken: no C compiler; results are the interpreter's */
} lathe_jit_stats;

typedef struct lathe_jit lathe_jit;

/* Creates the JIT: finds or creates the cache directory, starts the thread
 * pool.  Fails if no cache directory can be created. */
lathe_err lathe_jit_create(const lathe_jit_opts *o, lathe_jit **out);
void lathe_jit_destroy(lathe_jit *j);

/* Runs g like lathe_exec_run (in: one value per graph input; out: one per
 * graph output, allocated in `arena`), loop programs compiled.  A compiled
 * function that reports an error (integer division by zero, an index out
 * of bounds) is rerun on the interpreter for its message. */
lathe_err lathe_jit_run(lathe_jit *j, lathe_graph *g, lathe_arena *arena, const lathe_rvalue *in,
			lathe_rvalue *out);
const lathe_jit_stats *lathe_jit_last_stats(const lathe_jit *j);

#endif
