/* module.h: compiled modules, the last layer of the compiler.
 *
 * `lathe compile` turns a graph with static shapes into a module: one C
 * file (the loop programs printed by the C backend plus a NAME_run that
 * calls them in order), a generated header, and the weights.  The module
 * is built either as a shared library linked against the runtime
 * (DIR/libNAME.so, DIR/NAME.h, DIR/weights.bin, DIR/module.txt) or, with
 * emit_c, as a standalone bundle (DIR/NAME.c with the runtime sources it
 * needs amalgamated in, DIR/NAME.h, DIR/weights.bin) that builds with a
 * bare `cc` and links with nothing but libc, libm and pthreads.
 *
 * The generated run function never allocates: every intermediate tensor
 * sits at an offset the memory planner chose in one caller-given
 * workspace, every constant at an offset in the weights, and inputs and
 * outputs are the caller's buffers.  docs/modules.md describes the files,
 * the ABI of NAME_run and the manifest.
 *
 * Loading (lathe_module_open) is the other half: it reads DIR/module.txt,
 * dlopens the library, checks that library, manifest and weights agree, and
 * runs the module on caller-given buffers.  Every failure, at compile or
 * load time, is a lathe_err a user can act on.
 */
#ifndef LATHE_MODULE_H
#define LATHE_MODULE_H

#include <stdio.h>

#include "graph/graph.h"

/* ---- compiling ------------------------------------------------------------ */

typedef struct lathe_compile_opts {
	/* Module name: the prefix of every generated symbol (NAME_run) and file
	 * (NAME.h).  A C identifier; NULL: derived from `model_path`. */
	const char *name;
	const char *model_path; /* for messages and the default name; may be NULL */
	bool emit_c;            /* standalone bundle instead of a shared library */
	int threads;            /* threads the schedules plan for; <= 0: the machine's cores */
	/* 3x3 convolutions stay direct rather than Winograd's (which stores
	 * their weights as 6x6 tiles: 4x the bytes). */
	bool no_winograd;
	/* "NAME=d0,d1,..." pins of graph inputs' shapes (symbolic dims). */
	const char *const *input_shapes;
	int n_input_shapes;
	/* The runtime archive the shared library links (liblathe_rt.a built
	 * with -fPIC).  NULL: the runtime sources lathe carries are compiled
	 * into the library instead (the same ones a bundle gets). */
	const char *runtime_lib;
	/* Extra flags for the C compiler (e.g. "-march=native"); may be NULL. */
	const char *cflags;
	FILE *progress; /* one line per phase; NULL: quiet */
} lathe_compile_opts;

/* What a compilation produced, for progress reports and tests. */
typedef struct lathe_compile_stats {
	char name[128];
	int nsteps;           /* loop programs + extern kernel calls + copies */
	int nkernels;         /* extern kernel calls among them */
	uint64_t workspace_size, weights_size;
	uint64_t sum_intermediates; /* bytes of all intermediate tensors, unplanned */
	uint64_t max_live;          /* bytes of the largest set of simultaneously live ones */
	uint64_t scratch_size;      /* of the workspace: the loop programs' locals */
	double ms_frontend, ms_lower, ms_emit, ms_cc;
} lathe_compile_stats;

/* Compiles g (imported, not yet inferred) into directory `dir` (created if
 * absent; files of a previous compilation are replaced).  Fails with an
 * error naming the node for data-dependent shapes, symbolic input dims not
 * pinned by input_shapes, ops that need the graph executor (If, Loop, Scan,
 * sequences, strings) and C compiler failures (with the compiler's output).
 * g is changed (inferred, optimized); stats may be NULL. */
lathe_err lathe_module_compile(lathe_graph *g, const char *dir, const lathe_compile_opts *o,
			       lathe_compile_stats *stats);

/* A C identifier made from a file name's stem ("models/mobilenet-v2.onnx"
 * -> "mobilenet_v2"), written into out (size n). */
void lathe_module_default_name(const char *path, char *out, size_t n);

/* ---- the manifest (DIR/module.txt) ------------------------------------------ */

typedef struct lathe_module_io {
	const char *name;
	int32_t dtype; /* enum lathe_dtype */
	int32_t rank;
	int64_t *shape;
	uint64_t nbytes;
} lathe_module_io;

/* One step of NAME_run, for profilers (`lathe bench --profile`): what it
 * is and how much arithmetic it does, counted at compile time. */
typedef struct lathe_module_step {
	/* The loop program's schedule class ("conv", "depthwise_conv",
	 * "matmul", "elementwise", ...), "kernel" (an extern kernel call) or
	 * "copy". */
	const char *kind;
	/* Floating-point operations: 2 x the multiply-adds of the Conv,
	 * ConvTranspose, MatMul and Gemm nodes it computes; other ops count 0
	 * (the usual convention for a model's FLOPs). */
	uint64_t flops;
	const char *ops;  /* the ops it computes, "Conv+Add+Relu" */
	const char *node; /* its first node's name ("-" if none) */
} lathe_module_step;

typedef struct lathe_manifest {
	const char *name;    /* module name (C identifier) */
	const char *library; /* file name in DIR ("libNAME.so"); NULL for a bundle */
	uint64_t workspace_size, weights_size;
	int nin, nout;
	lathe_module_io *in, *out;
	/* NAME_run's steps in order (optional: 0 in a manifest without). */
	int nsteps;
	lathe_module_step *steps;
} lathe_manifest;

/* The manifest's text form (docs/modules.md). */
void lathe_manifest_print(lathe_buf *b, const lathe_manifest *m);
/* Parses it; strings and arrays live in `a`.  `what` names the text in
 * errors.  Hostile text gives an error, never an out-of-bounds read. */
lathe_err lathe_manifest_parse(lathe_arena *a, const char *text, size_t len, const char *what,
			       lathe_manifest *out);

/* ---- loading and running a compiled module --------------------------------- */

typedef struct lathe_module lathe_module;
struct lathe_rt_pool;

/* Opens DIR (a shared-library module): reads DIR/module.txt, dlopens the
 * library, maps DIR/weights.bin and checks that the three agree. */
lathe_err lathe_module_open(const char *dir, lathe_module **out);
void lathe_module_close(lathe_module *m);
const lathe_manifest *lathe_module_manifest(const lathe_module *m);
/* Runs the module: inputs/outputs hold one buffer per manifest input and
 * output (sizes as the manifest says); workspace holds at least
 * workspace_size bytes, 64-byte aligned.  pool may be NULL (one thread).
 * Allocates nothing. */
lathe_err lathe_module_run(lathe_module *m, void *const *inputs, void *const *outputs,
			   void *workspace, struct lathe_rt_pool *pool);

/* Called by lathe_module_run_profiled with the index of each step (as the
 * manifest lists them) just before it runs, and with the step count after
 * the last: the time between two calls is one step's. */
typedef void (*lathe_module_step_hook)(void *ctx, int step);
/* lathe_module_run, calling hook(ctx, k) around the steps.  Fails if the
 * library predates profiling (compile the model again). */
lathe_err lathe_module_run_profiled(lathe_module *m, void *const *inputs, void *const *outputs,
				    void *workspace, struct lathe_rt_pool *pool,
				    lathe_module_step_hook hook, void *ctx);

#endif
