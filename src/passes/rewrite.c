/* rewrite.c: the graph-rewriting helpers the passes share (rewrite.h).
 *
 * Passes never free anything: a removed node is marked dead, a removed
 * value is left as an orphan (def NODE, node UINT32_MAX), and the two
 * clean-up steps here drop them: lathe_pass_toposort rebuilds the node
 * list (after a pass appended nodes out of order, or killed some), and
 * lathe_pass_compact rebuilds the value table.  Both keep every invariant
 * the verifier checks (def records, name map, captures' outer ids).
 *
 * Only the main graph is rewritten; subgraph captures are treated as reads
 * by the node that owns the subgraph, and captured values are pinned (a
 * capture names its outer value, so it cannot be renamed).
 */
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"

bool lathe_node_has_subgraph(const lathe_node *n)
{
	for (int i = 0; i < n->nattr; i++)
		if (n->attrs[i].kind == LATHE_ATTR_GRAPH || n->attrs[i].kind == LATHE_ATTR_GRAPHS)
			return true;
	return false;
}

static void sub_captures(const lathe_graph *g, const lathe_graph *sub,
			 void (*fn)(void *ctx, lathe_vid v), void *ctx)
{
	if (!sub || sub->parent != g)
		return;
	for (size_t i = 0; i < sub->values.len; i++) {
		const lathe_value *v = &sub->values.data[i];
		if (v->def == LATHE_DEF_OUTER && v->outer < g->values.len)
			fn(ctx, v->outer);
	}
}

void lathe_node_captures(const lathe_graph *g, const lathe_node *n,
			 void (*fn)(void *ctx, lathe_vid v), void *ctx)
{
	for (int i = 0; i < n->nattr; i++) {
		const lathe_attr *a = &n->attrs[i];
		if (a->kind == LATHE_ATTR_GRAPH)
			sub_captures(g, a->u.g, fn, ctx);
		for (int64_t j = 0; a->kind == LATHE_ATTR_GRAPHS && j < a->n; j++)
			sub_captures(g, a->u.graphs[j], fn, ctx);
	}
}

/* ---- uses ------------------------------------------------------------------ */

typedef struct use_ctx {
	lathe_uses *u;
	uint32_t node;
	bool fill;
} use_ctx;

static void count_capture(void *ctx, lathe_vid v)
{
	use_ctx *c = ctx;
	c->u->pinned[v] = true;
	if (c->fill)
		c->u->users[c->u->start[v + 1]++] = c->node;
	else
		c->u->start[v + 1]++;
}

void lathe_uses_build(const lathe_graph *g, lathe_uses *u)
{
	size_t nv = g->values.len;
	u->nvalues = nv;
	u->start = lathe_xcalloc(nv + 2, sizeof *u->start);
	u->pinned = lathe_xcalloc(nv + 1, sizeof *u->pinned);
	for (size_t i = 0; i < g->outputs.len; i++)
		if (g->outputs.data[i] < nv)
			u->pinned[g->outputs.data[i]] = true;
	/* Two sweeps: count into start[v + 1], then fill (start[v + 1] used
	 * as the cursor, restored by the shift below). */
	for (int fill = 0; fill < 2; fill++) {
		for (size_t k = 0; k < g->nodes.len; k++) {
			const lathe_node *n = &g->nodes.data[k];
			if (n->dead)
				continue;
			for (int i = 0; i < n->nin; i++) {
				lathe_vid v = n->in[i];
				if (v == LATHE_NOVAL || v >= nv)
					continue;
				if (fill)
					u->users[u->start[v + 1]++] = (uint32_t)k;
				else
					u->start[v + 1]++;
			}
			if (lathe_node_has_subgraph(n)) {
				use_ctx c = {u, (uint32_t)k, fill != 0};
				lathe_node_captures(g, n, count_capture, &c);
			}
		}
		if (!fill) {
			for (size_t v = 0; v < nv; v++)
				u->start[v + 1] += u->start[v];
			u->users = lathe_xcalloc(u->start[nv] + 1, sizeof *u->users);
			/* Cursor for value v starts at start[v]: shift right. */
			memmove(u->start + 1, u->start, nv * sizeof *u->start);
			u->start[0] = 0;
		}
	}
}

void lathe_uses_free(lathe_uses *u)
{
	free(u->start);
	free(u->users);
	free(u->pinned);
	memset(u, 0, sizeof *u);
}

typedef struct find_ctx {
	lathe_vid v;
	bool found;
} find_ctx;

static void find_capture(void *ctx, lathe_vid v)
{
	find_ctx *c = ctx;
	if (v == c->v)
		c->found = true;
}

bool lathe_pass_pinned(const lathe_graph *g, lathe_vid v)
{
	for (size_t i = 0; i < g->outputs.len; i++)
		if (g->outputs.data[i] == v)
			return true;
	for (size_t k = 0; k < g->nodes.len; k++) {
		const lathe_node *n = &g->nodes.data[k];
		if (n->dead || !lathe_node_has_subgraph(n))
			continue;
		find_ctx c = {v, false};
		lathe_node_captures(g, n, find_capture, &c);
		if (c.found)
			return true;
	}
	return false;
}

typedef struct count_ctx {
	lathe_vid v;
	uint32_t n;
} count_ctx;

static void count_reads(void *ctx, lathe_vid v)
{
	count_ctx *c = ctx;
	if (v == c->v)
		c->n++;
}

uint32_t lathe_pass_use_count(const lathe_graph *g, lathe_vid v)
{
	count_ctx c = {v, 0};
	for (size_t k = 0; k < g->nodes.len; k++) {
		const lathe_node *n = &g->nodes.data[k];
		if (n->dead)
			continue;
		for (int i = 0; i < n->nin; i++)
			if (n->in[i] == v)
				c.n++;
		if (lathe_node_has_subgraph(n))
			lathe_node_captures(g, n, count_reads, &c);
	}
	return c.n;
}

/* ---- values ----------------------------------------------------------------- */

const lathe_tensor *lathe_pass_const(const lathe_graph *g, lathe_vid v)
{
	if (v == LATHE_NOVAL || v >= g->values.len)
		return NULL;
	const lathe_value *val = &g->values.data[v];
	return val->def == LATHE_DEF_CONST ? val->konst : NULL;
}

bool lathe_pass_static_shape(const lathe_graph *g, lathe_vid v, int *rank, int64_t *shape)
{
	if (v == LATHE_NOVAL || v >= g->values.len)
		return false;
	const lathe_type *t = &g->values.data[v].type;
	if (t->kind != LATHE_TY_TENSOR || !lathe_type_is_static(t) || t->rank > LATHE_PASS_MAX_RANK)
		return false;
	*rank = t->rank;
	for (int i = 0; i < t->rank; i++)
		shape[i] = t->dims[i].size;
	return true;
}

static bool node_defined(const lathe_graph *g, lathe_vid v)
{
	const lathe_value *val = &g->values.data[v];
	return val->def == LATHE_DEF_NODE && val->node < g->nodes.len &&
	       !g->nodes.data[val->node].dead;
}

lathe_node *lathe_pass_producer(lathe_graph *g, lathe_vid v)
{
	if (v == LATHE_NOVAL || v >= g->values.len || !node_defined(g, v))
		return NULL;
	return &g->nodes.data[g->values.data[v].node];
}

bool lathe_pass_can_forward(const lathe_graph *g, lathe_vid old, lathe_vid new_v)
{
	if (old == new_v)
		return true;
	if (!lathe_pass_pinned(g, old))
		return true;
	/* old keeps its name: new's definition must be movable to it. */
	return node_defined(g, new_v) && !lathe_pass_pinned(g, new_v);
}

static void replace_inputs(lathe_graph *g, lathe_vid from, lathe_vid to)
{
	for (size_t k = 0; k < g->nodes.len; k++) {
		lathe_node *n = &g->nodes.data[k];
		if (n->dead)
			continue;
		for (int i = 0; i < n->nin; i++)
			if (n->in[i] == from)
				n->in[i] = to;
	}
}

void lathe_pass_forward(lathe_graph *g, lathe_vid old, lathe_vid new_v)
{
	if (old == new_v)
		return;
	if (!lathe_pass_pinned(g, old)) {
		replace_inputs(g, old, new_v);
		return;
	}
	LATHE_ASSERT(node_defined(g, new_v));
	lathe_value *nv = &g->values.data[new_v], *ov = &g->values.data[old];
	lathe_node *def = &g->nodes.data[nv->node];
	def->out[nv->index] = old;
	ov->def = LATHE_DEF_NODE;
	ov->node = nv->node;
	ov->index = nv->index;
	ov->konst = NULL;
	if (nv->type.kind != LATHE_TY_UNKNOWN)
		ov->type = nv->type;
	nv->node = UINT32_MAX; /* orphan */
	replace_inputs(g, new_v, old);
}

void lathe_pass_kill(lathe_graph *g, uint32_t node)
{
	LATHE_ASSERT(node < g->nodes.len);
	g->nodes.data[node].dead = true;
}

lathe_err lathe_pass_add_const(lathe_graph *g, const char *prefix, lathe_tensor *t,
			       lathe_vid *out)
{
	/* The prefix itself when free: names stay readable (w_bn, not w_bn486). */
	const char *name = prefix && *prefix && !lathe_map_get(&g->names, prefix, NULL)
				   ? prefix
				   : lathe_graph_fresh_name(g, prefix);
	return lathe_graph_add_const(g, name, t, out);
}

/* ---- node order -------------------------------------------------------------- */

typedef LATHE_VEC(uint32_t) u32_vec;

typedef struct dep_ctx {
	const lathe_graph *g;
	u32_vec *deps;
} dep_ctx;

static void add_dep(const lathe_graph *g, lathe_vid v, u32_vec *deps)
{
	if (v == LATHE_NOVAL || v >= g->values.len || !node_defined(g, v))
		return;
	lathe_vec_push(deps, g->values.data[v].node);
}

static void capture_dep(void *ctx, lathe_vid v)
{
	dep_ctx *c = ctx;
	add_dep(c->g, v, c->deps);
}

/* The producers of node k's inputs and captures. */
static void node_deps(const lathe_graph *g, uint32_t k, u32_vec *deps)
{
	const lathe_node *n = &g->nodes.data[k];
	for (int i = 0; i < n->nin; i++)
		add_dep(g, n->in[i], deps);
	if (lathe_node_has_subgraph(n)) {
		dep_ctx c = {g, deps};
		lathe_node_captures(g, n, capture_dep, &c);
	}
}

lathe_err lathe_pass_toposort(lathe_graph *g)
{
	size_t nn = g->nodes.len;
	uint8_t *state = lathe_xcalloc(nn + 1, 1); /* 0 new, 1 on stack, 2 placed */
	uint32_t *order = lathe_xcalloc(nn + 1, sizeof *order);
	size_t placed = 0;
	u32_vec stack = {0};
	u32_vec deps = {0};
	lathe_err err = NULL;
	/* Depth-first over producers, placing a node once all its producers
	 * are placed; roots are taken in the current order, which keeps the
	 * order stable. */
	for (size_t r = 0; r < nn && !err; r++) {
		if (g->nodes.data[r].dead || state[r])
			continue;
		lathe_vec_push(&stack, (uint32_t)r);
		state[r] = 1;
		while (stack.len && !err) {
			uint32_t k = stack.data[stack.len - 1];
			deps.len = 0;
			node_deps(g, k, &deps);
			bool pushed = false;
			for (size_t i = 0; i < deps.len; i++) {
				uint32_t d = deps.data[i];
				if (state[d] == 2)
					continue;
				if (state[d] == 1) {
					err = lathe_error(LATHE_EINTERNAL,
							  "the graph has a cycle through node '%s' (%s)",
							  g->nodes.data[d].name,
							  lathe_op_name(g->nodes.data[d].op));
					break;
				}
				state[d] = 1;
				lathe_vec_push(&stack, d);
				pushed = true;
				break;
			}
			if (!pushed && !err) {
				stack.len--;
				state[k] = 2;
				order[placed++] = k;
			}
		}
	}
	if (!err) {
		lathe_node *nodes = lathe_xcalloc(placed + 1, sizeof *nodes);
		for (size_t i = 0; i < placed; i++)
			nodes[i] = g->nodes.data[order[i]];
		/* Values of dropped (dead) nodes become orphans. */
		for (size_t v = 0; v < g->values.len; v++) {
			lathe_value *val = &g->values.data[v];
			if (val->def == LATHE_DEF_NODE && val->node < nn &&
			    g->nodes.data[val->node].dead)
				val->node = UINT32_MAX;
		}
		if (placed)
			memcpy(g->nodes.data, nodes, placed * sizeof *nodes);
		g->nodes.len = placed;
		free(nodes);
		for (size_t i = 0; i < placed; i++) {
			lathe_node *n = &g->nodes.data[i];
			for (int j = 0; j < n->nout; j++) {
				lathe_value *val = &g->values.data[n->out[j]];
				val->node = (uint32_t)i;
				val->index = (uint32_t)j;
			}
		}
	}
	lathe_vec_free(&stack);
	lathe_vec_free(&deps);
	free(state);
	free(order);
	return err;
}

/* ---- value table -------------------------------------------------------------- */

typedef struct keep_ctx {
	bool *keep;
} keep_ctx;

static void keep_capture(void *ctx, lathe_vid v)
{
	((keep_ctx *)ctx)->keep[v] = true;
}

static void remap_sub(lathe_graph *g, lathe_graph *sub, const lathe_vid *map, size_t nv)
{
	if (!sub || sub->parent != g)
		return;
	for (size_t i = 0; i < sub->values.len; i++) {
		lathe_value *v = &sub->values.data[i];
		if (v->def == LATHE_DEF_OUTER && v->outer < nv)
			v->outer = map[v->outer];
	}
}

void lathe_pass_compact(lathe_graph *g)
{
	size_t nv = g->values.len;
	for (size_t k = 0; k < g->nodes.len; k++)
		LATHE_ASSERT(!g->nodes.data[k].dead); /* lathe_pass_toposort first */
	bool *keep = lathe_xcalloc(nv + 1, sizeof *keep);
	for (size_t v = 0; v < nv; v++) {
		const lathe_value *val = &g->values.data[v];
		if (val->def == LATHE_DEF_INPUT || val->def == LATHE_DEF_OUTER)
			keep[v] = true;
	}
	for (size_t i = 0; i < g->outputs.len; i++)
		keep[g->outputs.data[i]] = true;
	for (size_t k = 0; k < g->nodes.len; k++) {
		const lathe_node *n = &g->nodes.data[k];
		for (int i = 0; i < n->nin; i++)
			if (n->in[i] != LATHE_NOVAL)
				keep[n->in[i]] = true;
		for (int i = 0; i < n->nout; i++)
			keep[n->out[i]] = true;
		if (lathe_node_has_subgraph(n)) {
			keep_ctx c = {keep};
			lathe_node_captures(g, n, keep_capture, &c);
		}
	}
	lathe_vid *map = lathe_xcalloc(nv + 1, sizeof *map);
	size_t nk = 0;
	for (size_t v = 0; v < nv; v++) {
		map[v] = keep[v] ? (lathe_vid)nk : LATHE_NOVAL;
		if (keep[v])
			g->values.data[nk++] = g->values.data[v];
	}
	g->values.len = nk;
	lathe_map_deinit(&g->names);
	lathe_map_init(&g->names);
	for (size_t v = 0; v < nk; v++)
		lathe_map_put(&g->names, g->values.data[v].name, v);
	for (size_t i = 0; i < g->inputs.len; i++)
		g->inputs.data[i] = map[g->inputs.data[i]];
	for (size_t i = 0; i < g->outputs.len; i++)
		g->outputs.data[i] = map[g->outputs.data[i]];
	for (size_t k = 0; k < g->nodes.len; k++) {
		lathe_node *n = &g->nodes.data[k];
		for (int i = 0; i < n->nin; i++)
			if (n->in[i] != LATHE_NOVAL)
				n->in[i] = map[n->in[i]];
		for (int i = 0; i < n->nout; i++)
			n->out[i] = map[n->out[i]];
		for (int i = 0; i < n->nattr; i++) {
			lathe_attr *a = &n->attrs[i];
			if (a->kind == LATHE_ATTR_GRAPH)
				remap_sub(g, a->u.g, map, nv);
			for (int64_t j = 0; a->kind == LATHE_ATTR_GRAPHS && j < a->n; j++)
				remap_sub(g, a->u.graphs[j], map, nv);
		}
	}
	free(map);
	free(keep);
}
