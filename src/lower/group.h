/* group.h: lowering a fusion group (or any contiguous run of nodes) into
 * ONE loop-IR function.
 *
 * The function's parameters are the group's external inputs (values it
 * reads but does not produce: graph inputs, constants, other nodes'
 * outputs), then its external outputs (values it produces that something
 * outside the run reads, or that are graph outputs or subgraph captures),
 * in the order `io` lists them (inputs the loop program never reads, such
 * as Reshape's target shape, which lowering consumed, are left out).
 * Values produced and used only inside the
 * run are local buffers, which the lowering then removes where it can:
 * a producer whose loop program is one plain loop nest (elementwise ops)
 * is inlined into its readers, and an elementwise consumer of a
 * reduction's result (Conv, MatMul, Gemm...) is applied in the reduction's
 * store, as its epilogue.  What cannot be inlined stays a local buffer, so
 * the function always computes exactly what the nodes compute one by one.
 *
 * Requires static tensor types on every value the nodes read and write
 * (lathe_graph_infer on a graph with static input shapes) and constant
 * values for parameter inputs (Reshape's shape...).  Errors name the node.
 */
#ifndef LATHE_LOWER_GROUP_H
#define LATHE_LOWER_GROUP_H

#include "graph/graph.h"
#include "tir/tir.h"

typedef struct lathe_group_io {
	int nin, nout;
	lathe_vid *in;  /* nin external inputs: parameters 0..nin-1 */
	lathe_vid *out; /* nout external outputs: parameters nin..nin+nout-1 */
} lathe_group_io;

/* The run of nodes to lower together for node k: its fusion group
 * (lathe_node.group, contiguous by the pass's invariant), or k alone. */
void lathe_group_range(const lathe_graph *g, size_t k, size_t *first, size_t *count);

/* Lowers nodes [first, first + count) of g into one function allocated in
 * arena a (io's arrays too).  The function's sched_class is the group's
 * anchor's (CONV, MATMUL...), or ELEMENTWISE for a pure elementwise group.
 * The caller owns the function (lathe_tir_func_deinit). */
lathe_err lathe_lower_group(lathe_graph *g, size_t first, size_t count, lathe_arena *a,
			    lathe_group_io *io, lathe_tir_func **out);

#endif
