/* plan.h: memory planning.
 *
 * A compiled model runs its steps in node order, one step per fusion group
 * or per ungrouped node.  Every intermediate value (a step's output that is
 * neither a graph output nor a constant) gets a byte offset in one
 * workspace that the caller provides; two values share bytes only when
 * their lifetimes (from the step that writes them to the last step that
 * reads them) do not overlap.  Values inside a group that the group's loop
 * program keeps to itself are not planned (they are the program's locals,
 * or were inlined away).  Graph inputs, outputs and constants live outside
 * the workspace (offset -1).
 *
 * The packing is greedy by size: largest values first, each at the lowest
 * offset (best fitting gap) that no lifetime-overlapping value uses.
 * Offsets and sizes are multiples of LATHE_PLAN_ALIGN.
 *
 * A Concat whose inputs nothing else reads, joining along an axis with
 * only 1s before it, costs nothing: its inputs are placed at their slices
 * of its output (which lives from the first of their writing steps) and
 * the node is marked elided; a backend runs no step for it.
 *
 * Values without a static tensor type (data-dependent shapes, sequences,
 * strings) cannot be planned: they get offset -1 and are counted in
 * `unplanned`; a backend must allocate them at run time or refuse.
 */
#ifndef LATHE_PLAN_H
#define LATHE_PLAN_H

#include "graph/graph.h"

#define LATHE_PLAN_ALIGN 64

typedef struct lathe_plan {
	size_t nvalues;            /* g->values.len when planned */
	int64_t *offset;           /* per value id: workspace offset, or -1 */
	int64_t *size;             /* per value id: bytes (unaligned), 0 if not planned */
	int32_t *first_step;       /* per value id: the step that writes it (-1 if not planned) */
	int32_t *last_step;        /* per value id: the last step that reads it */
	int32_t *step_of_node;     /* per node index: its step */
	bool *elided;              /* per node index: a Concat done by placing its inputs */
	int32_t nsteps;
	int64_t workspace_size;    /* bytes, a multiple of LATHE_PLAN_ALIGN */
	int64_t sum_intermediates; /* sum of the planned values' sizes */
	int64_t max_live;          /* largest sum of sizes of values live at one step */
	int64_t nplanned;          /* values given an offset */
	int64_t unplanned;         /* intermediates without a static type */
	int64_t nelided;           /* Concats elided (their inputs are views of the output) */
} lathe_plan;

/* Plans g's intermediates (g: main graph, groups marked or not).  Fails
 * only on a malformed graph or sizes past 2^62 bytes. */
lathe_err lathe_plan_memory(const lathe_graph *g, lathe_plan *out);
void lathe_plan_deinit(lathe_plan *p);

/* A summary (workspace, sum of intermediates, largest live set) and, with
 * per_value, one line per planned value: offset, size, steps, name. */
void lathe_plan_print(lathe_buf *b, const lathe_graph *g, const lathe_plan *p,
		      bool per_value);

#endif
