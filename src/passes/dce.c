/* dce.c: dead code elimination.
 *
 * A node is live when one of its outputs is a graph output, is captured by
 * a subgraph, or is read by a live node; every other node is removed (ONNX
 * ops have no side effects).  Then the value table is compacted: orphan
 * values and constants nothing reads are dropped and value ids renumbered,
 * so the text form and the compiled module carry only what is used.  Graph
 * inputs stay, used or not: they are the model's interface.
 *
 * Requires: a verified graph.  Changes: node list (dead nodes dropped),
 * value ids (renumbered).  Invalidates: any node index or value id held
 * across the pass.  Keeps fusion groups valid (a group member is live when
 * its sink is, so a group goes whole or not at all).
 */
#include <stdlib.h>

#include "passes/rewrite.h"

typedef struct mark_ctx {
	bool *live;
} mark_ctx;

static void mark_capture(void *ctx, lathe_vid v)
{
	((mark_ctx *)ctx)->live[v] = true;
}

lathe_err lathe_pass_dce(lathe_graph *g)
{
	size_t nv = g->values.len;
	bool *live = lathe_xcalloc(nv + 1, sizeof *live);
	for (size_t i = 0; i < g->outputs.len; i++)
		live[g->outputs.data[i]] = true;
	/* Nodes are in topological order: one backward sweep settles it. */
	for (size_t k = g->nodes.len; k-- > 0;) {
		lathe_node *n = &g->nodes.data[k];
		if (n->dead)
			continue;
		bool used = false;
		for (int i = 0; i < n->nout && !used; i++)
			used = live[n->out[i]];
		if (!used) {
			n->dead = true;
			continue;
		}
		for (int i = 0; i < n->nin; i++)
			if (n->in[i] != LATHE_NOVAL)
				live[n->in[i]] = true;
		if (lathe_node_has_subgraph(n)) {
			mark_ctx c = {live};
			lathe_node_captures(g, n, mark_capture, &c);
		}
	}
	free(live);
	LATHE_TRY(lathe_pass_toposort(g));
	lathe_pass_compact(g);
	return NULL;
}
