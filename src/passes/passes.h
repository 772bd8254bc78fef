/* passes.h: the graph passes and the pipeline that runs them.
 *
 * A pass rewrites the main graph of a model in place.  The pipeline
 * (pipeline.c) is one short function that lists them in order:
 *
 *   infer       shape and type inference (lathe_graph_infer)
 *   const_fold  nodes whose inputs are all constants (and Shape/Size of
 *               static types) are evaluated with the interpreter and become
 *               constants
 *   simplify    algebraic rewrites: Identity and inference Dropout removed,
 *               BatchNormalization folded into a preceding Conv, MatMul+Add
 *               to Gemm, reshape chains merged, transposes composed
 *   cse         common subexpressions: identical nodes and small constants
 *               merged
 *   dce         dead nodes and unused constants removed; the value table is
 *               compacted
 *   fuse        fusion groups marked on nodes (lathe_node.group):
 *               elementwise and broadcast chains, and elementwise epilogues
 *               of Conv, ConvTranspose, MatMul and Gemm
 *
 * Each pass file opens with what it requires and what it invalidates.  Only
 * the main graph is rewritten: subgraphs (If/Loop/Scan bodies) are left as
 * they are, and values they capture are never renamed or removed.  Graph
 * inputs and outputs keep their names and order.
 *
 * Fusion groups: nodes of one group are contiguous in the node order; the
 * group's last node (its "sink") is the only one whose output may be used
 * outside the group (other members' outputs are used by members alone), so
 * a group is one step in execution order.  The pipeline clears stale group
 * marks before it runs: groups are always recomputed by `fuse`.
 *
 * Errors: a pass fails only on a graph it cannot make sense of (the
 * verifier's findings, an inference error); a rewrite that does not apply
 * is simply not done.
 */
#ifndef LATHE_PASSES_H
#define LATHE_PASSES_H

#include "graph/graph.h"

typedef struct lathe_pass_opts {
	/* Stop after the pass of this name (NULL: run them all).  Unknown
	 * names are an error listing the valid ones. */
	const char *stop_after;
	/* Comma-separated names of passes to skip ("fuse,cse"); NULL: none. */
	const char *skip;
	/* Verify the graph (and fusion groups) after every pass.  Also on
	 * when the environment has LATHE_CHECK=1 or the build defines
	 * LATHE_CHECK. */
	bool check;
	/* Largest constant (bytes) constant folding may create; 0: 16 MiB. */
	int64_t fold_limit;
} lathe_pass_opts;

/* Runs the pipeline on g (o may be NULL: defaults). */
lathe_err lathe_passes_run(lathe_graph *g, const lathe_pass_opts *o);

/* The pass names in pipeline order, NULL-terminated. */
const char *const *lathe_passes_names(void);
/* True if name is a pass name. */
bool lathe_passes_known(const char *name);

/* The passes, one by one (each requires a verified graph). */
lathe_err lathe_pass_const_fold(lathe_graph *g, int64_t limit_bytes);
lathe_err lathe_pass_simplify(lathe_graph *g);
lathe_err lathe_pass_cse(lathe_graph *g);
lathe_err lathe_pass_dce(lathe_graph *g);
lathe_err lathe_pass_fuse(lathe_graph *g);

/* Checks the fusion-group invariants (contiguity, only the sink used
 * outside, static types); an error names the group and the problem. */
lathe_err lathe_passes_check_groups(const lathe_graph *g);

#endif
