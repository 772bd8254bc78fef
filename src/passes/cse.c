/* cse.c: common subexpression elimination.
 *
 * Two nodes with the same op, the same inputs (value ids) and equal
 * attributes compute the same values: the later one is removed and its
 * readers read the earlier one's outputs.  Likewise two small constants
 * (up to 4 KiB) with the same element type, shape and bytes are merged, so
 * that, say, the 0 and 6 of every Clip in a network become one pair of
 * constants, and nodes that differed only in which copy they read become
 * equal in turn (nodes are visited in order, after their inputs were
 * merged).
 *
 * Not merged: nodes with subgraphs, random ops, nodes without outputs, and
 * a node whose outputs are pinned (graph outputs, captures) where the
 * earlier node's are too (both names must survive).
 *
 * Requires: a verified graph.  Changes: node inputs, removes nodes (the
 * constants it makes unused stay until dce).  Invalidates: node indices,
 * fusion groups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"

enum { MAX_CONST_BYTES = 4096 };

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static bool is_random(int op)
{
	return op == LATHE_OP_Bernoulli || op == LATHE_OP_RandomUniform ||
	       op == LATHE_OP_RandomNormal || op == LATHE_OP_RandomUniformLike ||
	       op == LATHE_OP_RandomNormalLike || op == LATHE_OP_Multinomial ||
	       op == LATHE_OP_Dropout;
}

static bool tensor_equal(const lathe_tensor *a, const lathe_tensor *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->dtype != b->dtype || a->rank != b->rank)
		return false;
	for (int i = 0; i < a->rank; i++)
		if (a->shape[i] != b->shape[i])
			return false;
	int64_t n = lathe_tensor_numel(a);
	if (a->dtype == LATHE_DT_STR) {
		for (int64_t i = 0; i < n; i++) {
			const char *x = ((char *const *)a->data)[i], *y = ((char *const *)b->data)[i];
			if (strcmp(x ? x : "", y ? y : ""))
				return false;
		}
		return true;
	}
	size_t nb = lathe_tensor_nbytes(a);
	return !nb || !memcmp(a->data, b->data, nb);
}

static uint64_t tensor_hash(const lathe_tensor *t)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, &t->dtype, sizeof t->dtype);
	h = fnv(h, t->shape, sizeof(int64_t) * (size_t)t->rank);
	if (t->dtype != LATHE_DT_STR)
		h = fnv(h, t->data, lathe_tensor_nbytes(t));
	return h;
}

static bool attr_equal(const lathe_attr *a, const lathe_attr *b)
{
	if (a->kind != b->kind || strcmp(a->name, b->name))
		return false;
	switch (a->kind) {
	case LATHE_ATTR_INT:
		return a->u.i == b->u.i;
	case LATHE_ATTR_FLOAT:
		return !memcmp(&a->u.f, &b->u.f, sizeof a->u.f);
	case LATHE_ATTR_STRING:
		return a->slen == b->slen && !memcmp(a->u.s, b->u.s, (size_t)a->slen);
	case LATHE_ATTR_TENSOR:
		return tensor_equal(a->u.t, b->u.t);
	case LATHE_ATTR_INTS:
		return a->n == b->n && (!a->n || !memcmp(a->u.ints, b->u.ints, sizeof(int64_t) * (size_t)a->n));
	case LATHE_ATTR_FLOATS:
		return a->n == b->n && (!a->n || !memcmp(a->u.floats, b->u.floats, sizeof(double) * (size_t)a->n));
	case LATHE_ATTR_STRINGS:
		if (a->n != b->n)
			return false;
		for (int64_t i = 0; i < a->n; i++)
			if (strcmp(a->u.strs[i], b->u.strs[i]))
				return false;
		return true;
	case LATHE_ATTR_TENSORS:
		if (a->n != b->n)
			return false;
		for (int64_t i = 0; i < a->n; i++)
			if (!tensor_equal(a->u.tensors[i], b->u.tensors[i]))
				return false;
		return true;
	case LATHE_ATTR_TYPE:
		return lathe_type_equal(&a->u.type, &b->u.type);
	default:
		return false; /* graphs are never merged */
	}
}

static bool nodes_equal(const lathe_node *a, const lathe_node *b)
{
	if (a->op != b->op || a->nin != b->nin || a->nout != b->nout || a->nattr != b->nattr)
		return false;
	for (int i = 0; i < a->nin; i++)
		if (a->in[i] != b->in[i])
			return false;
	for (int i = 0; i < a->nattr; i++) {
		const lathe_attr *other = lathe_node_attr(b, a->attrs[i].name);
		if (!other || !attr_equal(&a->attrs[i], other))
			return false;
	}
	return true;
}

/* A key equal for equal nodes; attributes hashed order-independently. */
static void node_key(lathe_buf *b, const lathe_node *n)
{
	b->len = 0;
	lathe_buf_printf(b, "n%d/%d/%d:", n->op, n->nin, n->nout);
	for (int i = 0; i < n->nin; i++)
		lathe_buf_printf(b, "%u,", (unsigned)n->in[i]);
	uint64_t h = 0;
	for (int i = 0; i < n->nattr; i++) {
		const lathe_attr *a = &n->attrs[i];
		uint64_t ah = fnv(0xcbf29ce484222325ull, a->name, strlen(a->name));
		ah = fnv(ah, &a->kind, sizeof a->kind);
		if (a->kind == LATHE_ATTR_INT)
			ah = fnv(ah, &a->u.i, sizeof a->u.i);
		else if (a->kind == LATHE_ATTR_INTS && a->n > 0)
			ah = fnv(ah, a->u.ints, sizeof(int64_t) * (size_t)a->n);
		h += ah;
	}
	lathe_buf_printf(b, "|%llx", (unsigned long long)h);
}

static bool mergeable(const lathe_node *n)
{
	return !n->dead && n->nout > 0 && !is_random(n->op) && !lathe_node_has_subgraph(n);
}

static void merge_consts(lathe_graph *g)
{
	lathe_map seen;
	lathe_map_init(&seen);
	lathe_buf key = {0};
	for (size_t v = 0; v < g->values.len; v++) {
		const lathe_tensor *t = lathe_pass_const(g, (lathe_vid)v);
		if (!t || t->dtype == LATHE_DT_STR || lathe_tensor_nbytes(t) > MAX_CONST_BYTES)
			continue;
		key.len = 0;
		lathe_buf_printf(&key, "k%llx", (unsigned long long)tensor_hash(t));
		uint64_t first;
		if (!lathe_map_get(&seen, key.data, &first)) {
			lathe_map_put(&seen, key.data, v);
			continue;
		}
		if (tensor_equal(lathe_pass_const(g, (lathe_vid)first), t) &&
		    !lathe_pass_pinned(g, (lathe_vid)v))
			lathe_pass_forward(g, (lathe_vid)v, (lathe_vid)first);
	}
	lathe_buf_free(&key);
	lathe_map_deinit(&seen);
}

lathe_err lathe_pass_cse(lathe_graph *g)
{
	merge_consts(g);
	lathe_map seen;
	lathe_map_init(&seen);
	lathe_buf key = {0};
	for (size_t k = 0; k < g->nodes.len; k++) {
		lathe_node *n = &g->nodes.data[k];
		if (!mergeable(n))
			continue;
		node_key(&key, n);
		uint64_t first;
		if (!lathe_map_get(&seen, key.data, &first)) {
			lathe_map_put(&seen, key.data, k);
			continue;
		}
		lathe_node *m = &g->nodes.data[first];
		if (m->dead || !nodes_equal(m, n))
			continue;
		bool ok = true;
		for (int i = 0; i < n->nout && ok; i++)
			ok = lathe_pass_can_forward(g, n->out[i], m->out[i]);
		if (!ok)
			continue;
		for (int i = 0; i < n->nout; i++)
			lathe_pass_forward(g, g->nodes.data[k].out[i], g->nodes.data[first].out[i]);
		lathe_pass_kill(g, (uint32_t)k);
	}
	lathe_buf_free(&key);
	lathe_map_deinit(&seen);
	return lathe_pass_toposort(g);
}
