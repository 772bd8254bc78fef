/* exec.h: running a graph on the interpreter backend.
 *
 * The executor walks the nodes in order.  For each node it takes the
 * concrete types of the input values, infers the outputs' types (parameter
 * inputs' values in hand), and either lowers the op to a loop-IR function
 * and runs it with the loop-IR interpreter, or calls the op's extern kernel.
 * This is the reference path: tests, constant folding and differential
 * checks of other backends use it.
 */
#ifndef LATHE_EXEC_H
#define LATHE_EXEC_H

#include "ops/op.h"

typedef struct lathe_exec lathe_exec;

/* arena: where run-time tensors (outputs included) are allocated. */
lathe_exec *lathe_exec_create(lathe_arena *arena);
void lathe_exec_destroy(lathe_exec *e);

/* Runs g: `in` has one value per graph input (g->inputs order); `out` gets
 * one per graph output.  Values in `in` must outlive the call; outputs live
 * in the executor's arena.  Type or shape mismatches against the declared
 * input types are errors naming the input. */
lathe_err lathe_exec_run(lathe_exec *e, lathe_graph *g, const lathe_rvalue *in,
			 lathe_rvalue *out);

/* For control-flow kernels: runs subgraph `sub` of the graph being run
 * (captured outer values are taken from the enclosing frame). */
lathe_err lathe_exec_run_subgraph(lathe_kernel_ctx *c, lathe_graph *sub,
				  const lathe_rvalue *in, lathe_rvalue *out);

/* Lowers one node for concrete input types into a loop-IR function (for
 * `lathe show --tir` and tests). */
lathe_err lathe_exec_lower_node(lathe_graph *g, const lathe_node *n,
				const lathe_type *const *in, const lathe_tensor *const *in_val,
				lathe_arena *a, lathe_tir_func **out);

/* A backend for lowered loop programs: the executor calls run() where it
 * would call the interpreter (the default when none is set), with fn
 * verified and simplified and args[i] the data of fn's parameter i (one
 * more entry, args[fn->nparams], is NULL).  The C backend's JIT
 * (codegen/jit.h) is one.  Extern kernels are not affected. */
typedef struct lathe_exec_backend {
	void *ctx;
	lathe_err (*run)(void *ctx, lathe_tir_func *fn, void *const *args);
} lathe_exec_backend;
/* b is copied; NULL restores the interpreter. */
void lathe_exec_set_backend(lathe_exec *e, const lathe_exec_backend *b);

#endif
