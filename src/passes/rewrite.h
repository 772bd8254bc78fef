/* rewrite.h: what the graph passes share among themselves (not a public
 * header: nothing outside src/passes/ includes it).
 *
 * Rewriting vocabulary:
 *   - a value is *pinned* when its name is visible outside the node list:
 *     a graph output, or a value some subgraph captures (captures name
 *     their outer value);
 *   - *forwarding* old to new makes every reader of old read new instead;
 *     when old is pinned, new's defining node takes over old's name (new
 *     becomes an orphan: defined by nothing, used by nothing), so graph
 *     outputs keep their names.  The caller then kills old's defining node;
 *   - a *killed* node is marked dead; lathe_pass_toposort drops dead nodes
 *     and restores the topological order after nodes were appended;
 *   - lathe_pass_compact renumbers the value table without orphans and
 *     unused constants.
 */
#ifndef LATHE_PASSES_REWRITE_H
#define LATHE_PASSES_REWRITE_H

#include "passes/passes.h"
#include "ops/op.h"

/* Readers of each value of the main graph: users[start[v] .. start[v+1])
 * are node indices, one per input slot (a node reading v twice is listed
 * twice); a subgraph capture counts as a read by the node owning the
 * subgraph.  Dead nodes are not counted. */
typedef struct lathe_uses {
	size_t nvalues;
	uint32_t *start;
	uint32_t *users;
	bool *pinned;
} lathe_uses;

void lathe_uses_build(const lathe_graph *g, lathe_uses *u);
void lathe_uses_free(lathe_uses *u);
static inline uint32_t lathe_uses_count(const lathe_uses *u, lathe_vid v)
{
	return u->start[v + 1] - u->start[v];
}

bool lathe_node_has_subgraph(const lathe_node *n);
/* Calls fn for each value of g captured by a subgraph of node n. */
void lathe_node_captures(const lathe_graph *g, const lathe_node *n,
			 void (*fn)(void *ctx, lathe_vid v), void *ctx);
bool lathe_pass_pinned(const lathe_graph *g, lathe_vid v);
/* Reads of v by live nodes (captures included); O(graph size). */
uint32_t lathe_pass_use_count(const lathe_graph *g, lathe_vid v);
/* The live node defining v, or NULL. */
lathe_node *lathe_pass_producer(lathe_graph *g, lathe_vid v);

/* The tensor of a constant value, or NULL. */
const lathe_tensor *lathe_pass_const(const lathe_graph *g, lathe_vid v);
/* Static shape of a value's type into shape[] (LATHE_PASS_MAX_RANK room);
 * false unless a static tensor type of rank <= LATHE_PASS_MAX_RANK. */
enum { LATHE_PASS_MAX_RANK = 16 };
bool lathe_pass_static_shape(const lathe_graph *g, lathe_vid v, int *rank, int64_t *shape);

bool lathe_pass_can_forward(const lathe_graph *g, lathe_vid old, lathe_vid new_v);
/* Requires lathe_pass_can_forward(g, old, new_v). */
void lathe_pass_forward(lathe_graph *g, lathe_vid old, lathe_vid new_v);
void lathe_pass_kill(lathe_graph *g, uint32_t node);

/* A new constant named prefix (prefix<N> if taken); t must live in g's arena. */
lathe_err lathe_pass_add_const(lathe_graph *g, const char *prefix, lathe_tensor *t,
			       lathe_vid *out);
/* Restores topological order (stable: nodes keep their relative order
 * where their dependences allow) and drops dead nodes. */
lathe_err lathe_pass_toposort(lathe_graph *g);
/* Drops orphan values and constants nothing uses; renumbers value ids
 * (node inputs/outputs, graph inputs/outputs, subgraph captures). */
void lathe_pass_compact(lathe_graph *g);

#endif
