/* fuse.c: operator fusion.
 *
 * Marks fusion groups (lathe_node.group) that lower/group.c turns into one
 * loop program each:
 *   - elementwise and broadcast chains (unary, binary, variadic, Where,
 *     Clip, Cast, inference BatchNormalization) become one loop nest, each
 *     producer inlined into its consumer; data movement that maps each
 *     output element to one input element (Reshape, Flatten, Squeeze,
 *     Unsqueeze, Transpose, Expand, Slice) joins such chains too, its index
 *     arithmetic inlined into the loads instead of a copy;
 *   - elementwise consumers of a Conv, ConvTranspose, MatMul or Gemm (the
 *     group's *anchor*; at most one per group) become its epilogue: bias
 *     add, activation, residual add applied in the anchor's store.
 *
 * The groups are in-trees: a node joins the group of a producer when every
 * reader of that producer group's last node (its *sink*) is the joining node
 * or a member of another group joining at the same time; the joining node
 * becomes the new sink.  So every member but the sink is read only inside
 * its group, which makes the group movable as a block: its members are
 * moved down to sit right before the sink, which keeps the order
 * topological.  Further conditions: static shapes; a producer group joins
 * only over an edge that does not broadcast it up (same element count, so
 * fusing never multiplies work); with an anchor, the new sink has the
 * anchor's output shape, so the epilogue is computed where the anchor
 * stores.  Groups of one node are left unmarked (group 0).
 *
 * Requires: a verified, inferred graph.  Changes: node order within the
 * limits above, lathe_node.group.  Invalidates: node indices.  Any later
 * rewrite of the graph invalidates the groups (the pipeline runs fuse last;
 * lathe_passes_check_groups checks them).
 */
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"

typedef LATHE_VEC(uint32_t) u32_vec;

typedef struct grp {
	u32_vec members;
	uint32_t sink;
	int64_t anchor; /* node index, or -1 */
} grp;

static bool static_tensor(const lathe_graph *g, lathe_vid v)
{
	const lathe_type *t = &g->values.data[v].type;
	return t->kind == LATHE_TY_TENSOR && lathe_type_is_static(t) && t->dtype != LATHE_DT_STR &&
	       t->dtype != LATHE_DT_UNDEF;
}

static bool static_node(const lathe_graph *g, const lathe_node *n)
{
	if (n->nout != 1 || lathe_node_has_subgraph(n) || !lathe_ops[n->op].lower)
		return false;
	uint32_t params = lathe_op_param_inputs(n->op);
	for (int i = 0; i < n->nin; i++) {
		if (n->in[i] == LATHE_NOVAL)
			continue;
		if (!static_tensor(g, n->in[i]))
			return false;
		/* Lowering needs the values that decide shapes. */
		if (i < 32 && (params >> i & 1) && g->values.data[n->in[i]].def != LATHE_DEF_CONST)
			return false;
	}
	return static_tensor(g, n->out[0]);
}

static bool is_elementwise(const lathe_graph *g, const lathe_node *n)
{
	lathe_lower_fn f = lathe_ops[n->op].lower;
	bool ew = f == lower_unary || f == lower_binary || f == lower_variadic ||
		  f == lower_where || f == lower_clip || f == lower_cast || f == lower_copy ||
		  f == lower_transpose || f == lower_expand || f == lower_slice;
	if (n->op == LATHE_OP_BatchNormalization)
		ew = !lathe_node_attr_int(n, "training_mode", 0);
	if (n->op == LATHE_OP_Dropout)
		ew = false;
	return ew && static_node(g, n);
}

static bool is_anchor(const lathe_graph *g, const lathe_node *n)
{
	switch (n->op) {
	case LATHE_OP_Conv:
	case LATHE_OP_ConvTranspose:
	case LATHE_OP_MatMul:
	case LATHE_OP_Gemm:
		break;
	default:
		return false;
	}
	return static_node(g, n) && lathe_dtype_is_float(g->values.data[n->out[0]].type.dtype);
}

static int64_t numel_of(const lathe_graph *g, lathe_vid v)
{
	return lathe_type_numel(&g->values.data[v].type);
}

static bool same_shape(const lathe_graph *g, lathe_vid a, lathe_vid b)
{
	const lathe_type *x = &g->values.data[a].type, *y = &g->values.data[b].type;
	if (x->rank != y->rank)
		return false;
	for (int i = 0; i < x->rank; i++)
		if (x->dims[i].size != y->dims[i].size)
			return false;
	return true;
}

static bool in_list(const u32_vec *v, uint32_t x)
{
	for (size_t i = 0; i < v->len; i++)
		if (v->data[i] == x)
			return true;
	return false;
}

/* Drops candidate groups that cannot join node k; true if it dropped one. */
static bool prune(const lathe_graph *g, const lathe_uses *u, const uint32_t *gid,
		  const grp *groups, u32_vec *cands, uint32_t k)
{
	lathe_vid out = g->nodes.data[k].out[0];
	int64_t anchor_seen = -1;
	for (size_t i = 0; i < cands->len; i++) {
		const grp *G = &groups[cands->data[i]];
		lathe_vid sv = g->nodes.data[G->sink].out[0];
		bool ok = !u->pinned[sv] && numel_of(g, sv) == numel_of(g, out);
		for (uint32_t j = u->start[sv]; ok && j < u->start[sv + 1]; j++) {
			uint32_t r = u->users[j];
			ok = r == k || (gid[r] && in_list(cands, gid[r]));
		}
		if (ok && G->anchor >= 0) {
			lathe_vid av = g->nodes.data[G->anchor].out[0];
			ok = anchor_seen < 0 && same_shape(g, av, out);
			anchor_seen = G->anchor;
		}
		if (!ok) {
			cands->data[i] = cands->data[--cands->len];
			return true;
		}
	}
	return false;
}

lathe_err lathe_pass_fuse(lathe_graph *g)
{
	size_t nn = g->nodes.len;
	for (size_t k = 0; k < nn; k++)
		g->nodes.data[k].group = 0;
	lathe_uses u;
	lathe_uses_build(g, &u);
	uint32_t *gid = lathe_xcalloc(nn + 1, sizeof *gid);
	LATHE_VEC(grp) groups = {0};
	lathe_vec_push(&groups, (grp){.anchor = -1}); /* id 0: none */
	u32_vec cands = {0};
	for (size_t k = 0; k < nn; k++) {
		const lathe_node *n = &g->nodes.data[k];
		if (n->dead)
			continue;
		bool anchor = is_anchor(g, n);
		cands.len = 0;
		if (!anchor && is_elementwise(g, n)) {
			for (int i = 0; i < n->nin; i++) {
				lathe_node *p = lathe_pass_producer(g, n->in[i]);
				if (!p)
					continue;
				uint32_t pk = (uint32_t)(p - g->nodes.data);
				if (gid[pk] && groups.data[gid[pk]].sink == pk &&
				    !in_list(&cands, gid[pk]))
					lathe_vec_push(&cands, gid[pk]);
			}
			while (prune(g, &u, gid, groups.data, &cands, (uint32_t)k))
				;
		} else if (!anchor) {
			continue;
		}
		uint32_t id;
		if (cands.len) {
			id = cands.data[0];
			grp *G = &groups.data[id];
			for (size_t i = 1; i < cands.len; i++) {
				grp *H = &groups.data[cands.data[i]];
				for (size_t j = 0; j < H->members.len; j++) {
					lathe_vec_push(&G->members, H->members.data[j]);
					gid[H->members.data[j]] = id;
				}
				if (H->anchor >= 0)
					G->anchor = H->anchor;
				lathe_vec_free(&H->members);
			}
		} else {
			id = (uint32_t)groups.len;
			lathe_vec_push(&groups, (grp){.anchor = anchor ? (int64_t)k : -1});
		}
		grp *G = &groups.data[id];
		lathe_vec_push(&G->members, (uint32_t)k);
		G->sink = (uint32_t)k;
		gid[k] = id;
	}
	/* New order: each group's members right before its sink. */
	lathe_node *nodes = lathe_xcalloc(nn + 1, sizeof *nodes);
	size_t placed = 0;
	uint32_t next_group = 1;
	for (size_t k = 0; k < nn; k++) {
		grp *G = gid[k] ? &groups.data[gid[k]] : NULL;
		if (G && G->members.len > 1 && G->sink != k)
			continue;
		if (!G || G->members.len == 1) {
			nodes[placed] = g->nodes.data[k];
			nodes[placed++].group = 0;
			continue;
		}
		/* Members in their original (topological) order. */
		size_t m = G->members.len;
		for (size_t i = 1; i < m; i++)
			for (size_t j = i; j > 0 && G->members.data[j - 1] > G->members.data[j]; j--) {
				uint32_t t = G->members.data[j];
				G->members.data[j] = G->members.data[j - 1];
				G->members.data[j - 1] = t;
			}
		for (size_t i = 0; i < m; i++) {
			nodes[placed] = g->nodes.data[G->members.data[i]];
			nodes[placed++].group = next_group;
		}
		next_group++;
	}
	LATHE_ASSERT(placed <= nn);
	if (placed)
		memcpy(g->nodes.data, nodes, placed * sizeof *nodes);
	g->nodes.len = placed;
	for (size_t i = 0; i < placed; i++) {
		lathe_node *n = &g->nodes.data[i];
		for (int j = 0; j < n->nout; j++) {
			g->values.data[n->out[j]].node = (uint32_t)i;
			g->values.data[n->out[j]].index = (uint32_t)j;
		}
	}
	free(nodes);
	for (size_t i = 0; i < groups.len; i++)
		lathe_vec_free(&groups.data[i].members);
	lathe_vec_free(&groups);
	lathe_vec_free(&cands);
	free(gid);
	lathe_uses_free(&u);
	return NULL;
}

static lathe_err check_groups_impl(const lathe_graph *g, const lathe_uses *u)
{
	size_t nn = g->nodes.len;
	for (size_t k = 0; k < nn;) {
		uint32_t id = g->nodes.data[k].group;
		if (!id) {
			k++;
			continue;
		}
		size_t end = k;
		while (end < nn && g->nodes.data[end].group == id)
			end++;
		for (size_t j = end; j < nn; j++)
			if (g->nodes.data[j].group == id)
				return lathe_error(LATHE_EINVAL,
						   "fusion group %u is not contiguous (node '%s' is apart)",
						   id, g->nodes.data[j].name);
		for (size_t j = 0; j < k; j++)
			if (g->nodes.data[j].group == id)
				return lathe_error(LATHE_EINVAL,
						   "fusion group %u is not contiguous (node '%s' is apart)",
						   id, g->nodes.data[j].name);
		for (size_t j = k; j < end; j++) {
			const lathe_node *n = &g->nodes.data[j];
			if (n->dead || !static_node(g, n))
				return lathe_error(LATHE_EINVAL,
						   "fusion group %u: node '%s' (%s) is not a single-output "
						   "loop program with static shapes",
						   id, n->name, lathe_op_name(n->op));
			if (j + 1 == end)
				break;
			lathe_vid v = n->out[0];
			bool inside = !u->pinned[v];
			for (uint32_t r = u->start[v]; inside && r < u->start[v + 1]; r++)
				inside = u->users[r] >= k && u->users[r] < end;
			if (!inside)
				return lathe_error(LATHE_EINVAL,
						   "fusion group %u: the output of node '%s' is used outside "
						   "the group, but only its last node's may be",
						   id, n->name);
		}
		k = end;
	}
	return NULL;
}

lathe_err lathe_passes_check_groups(const lathe_graph *g)
{
	lathe_uses u;
	lathe_uses_build(g, &u);
	lathe_err e = check_groups_impl(g, &u);
	lathe_uses_free(&u);
	return e;
}
