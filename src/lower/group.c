/* group.c: lowering a fusion group into one loop-IR function (group.h).
 *
 * Three steps:
 *   1. Every node is lowered with its op's own lowering (lathe_ops[op].lower,
 *      as the executor does for one node) into one shared function: external
 *      inputs and outputs are parameters, internal values local buffers.
 *      Each node appends its loop nests to the top-level sequence.
 *   2. compute_inline (src/sched): each local whose producer is one plain
 *      loop nest (`for i...: T[i...] = value(i...)`, the elementwise shape)
 *      is removed, every load T[e...] replaced by value(e...).  Locals go
 *      in production order, so chains collapse into the last consumer.
 *   3. reverse_compute_inline (src/sched): a local still left (a
 *      reduction's result) whose only reader is one plain loop nest of its
 *      shape is removed, the reader's store moved into the reduction's
 *      store: that is the epilogue (bias, activation, residual add).
 * The primitives check that nothing read moves across a write, and leave
 * the function as it was when they cannot prove it: the local then stays,
 * and the function still computes exactly what the nodes compute one by
 * one.
 */
#include <stdlib.h>
#include <string.h>

#include "lower/group.h"
#include "ops/op.h"
#include "sched/sched.h"

/* ---- buffer uses -------------------------------------------------------------- */

static void expr_uses(const lathe_tir_expr *e, bool *used)
{
	if (!e)
		return;
	if (e->kind == LATHE_TIR_E_LOAD) {
		used[e->u.buf->id] = true;
		for (int k = 0; k < e->u.buf->rank; k++)
			expr_uses(e->idx[k], used);
		return;
	}
	expr_uses(e->a, used);
	expr_uses(e->b, used);
	expr_uses(e->c, used);
}

static void stmt_uses(const lathe_tir_stmt *s, bool *used)
{
	if (!s)
		return;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		expr_uses(s->lo, used);
		expr_uses(s->extent, used);
		stmt_uses(s->body, used);
		break;
	case LATHE_TIR_S_STORE:
		used[s->buf->id] = true;
		for (int k = 0; k < s->buf->rank; k++)
			expr_uses(s->idx[k], used);
		expr_uses(s->value, used);
		break;
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			stmt_uses(s->stmts[i], used);
		break;
	case LATHE_TIR_S_IF:
		expr_uses(s->cond, used);
		stmt_uses(s->body, used);
		stmt_uses(s->orelse, used);
		break;
	case LATHE_TIR_S_LET:
		expr_uses(s->value, used);
		stmt_uses(s->body, used);
		break;
	}
}

/* Drops input parameters the body never reads (the values of Reshape's
 * shape and the like, used while lowering, not at run time), so that a
 * caller passes only what runs. */
static void drop_unread_inputs(lathe_tir_func *f, lathe_group_io *io)
{
	bool *used = lathe_xcalloc(f->bufs.len + 1, sizeof *used);
	stmt_uses(f->body, used);
	size_t nb = 0;
	int nin = 0;
	for (size_t i = 0; i < f->bufs.len; i++) {
		lathe_tir_buf *b = f->bufs.data[i];
		bool input = (int)i < io->nin;
		if (input && !used[i]) {
			f->nparams--;
			continue;
		}
		if (input)
			io->in[nin++] = io->in[i];
		b->id = (int32_t)nb;
		f->bufs.data[nb++] = b;
	}
	f->bufs.len = nb;
	io->nin = nin;
	free(used);
	/* Renumber the names (in0, in1, ...) where that clashes with nothing. */
	for (int i = 0; i < nin; i++) {
		char *name = lathe_arena_printf(f->arena, "in%d", i);
		bool taken = false;
		for (size_t j = 0; j < f->bufs.len && !taken; j++)
			taken = (int)j != i && !strcmp(f->bufs.data[j]->name, name);
		for (size_t j = 0; j < f->vars.len && !taken; j++)
			taken = !strcmp(f->vars.data[j]->name, name);
		if (!taken)
			f->bufs.data[i]->name = name;
	}
}

/* ---- the group ------------------------------------------------------------------ */

void lathe_group_range(const lathe_graph *g, size_t k, size_t *first, size_t *count)
{
	LATHE_ASSERT(k < g->nodes.len);
	uint32_t id = g->nodes.data[k].group;
	size_t a = k, b = k + 1;
	while (id && a > 0 && g->nodes.data[a - 1].group == id)
		a--;
	while (id && b < g->nodes.len && g->nodes.data[b].group == id)
		b++;
	*first = a;
	*count = b - a;
}

static bool static_tensor(const lathe_type *t)
{
	return t->kind == LATHE_TY_TENSOR && lathe_type_is_static(t) && t->dtype != LATHE_DT_STR;
}

static int64_t *shape_of(lathe_arena *a, const lathe_type *t)
{
	int64_t *s = lathe_arena_new(a, int64_t, t->rank + 1);
	for (int d = 0; d < t->rank; d++)
		s[d] = t->dims[d].size;
	return s;
}

/* A buffer name from a value name: letters, digits and _ only. */
static const char *buf_name(lathe_arena *a, const char *name)
{
	char *s = lathe_arena_printf(a, "v_%s", name);
	for (char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			*p = '_';
	return s;
}

/* Whether v is read outside nodes [first, end) or is a graph output or a
 * subgraph capture. */
static bool used_outside(const lathe_graph *g, lathe_vid v, size_t first, size_t end)
{
	for (size_t i = 0; i < g->outputs.len; i++)
		if (g->outputs.data[i] == v)
			return true;
	const char *name = g->values.data[v].name;
	for (size_t k = 0; k < g->nodes.len; k++) {
		const lathe_node *n = &g->nodes.data[k];
		if (n->dead)
			continue;
		if (k < first || k >= end) {
			for (int i = 0; i < n->nin; i++)
				if (n->in[i] == v)
					return true;
		}
		for (int i = 0; i < n->nattr; i++) {
			const lathe_attr *at = &n->attrs[i];
			int64_t cnt = at->kind == LATHE_ATTR_GRAPH ? 1
				      : at->kind == LATHE_ATTR_GRAPHS ? at->n : 0;
			for (int64_t j = 0; j < cnt; j++) {
				const lathe_graph *sub = at->kind == LATHE_ATTR_GRAPH ? at->u.g
										       : at->u.graphs[j];
				uint64_t id;
				if (sub && lathe_map_get(&sub->names, name, &id) && id < sub->values.len &&
				    sub->values.data[id].def == LATHE_DEF_OUTER)
					return true;
			}
		}
	}
	return false;
}

static int class_by_op(const lathe_graph *g, size_t first, size_t count)
{
	for (size_t k = first; k < first + count; k++) {
		const lathe_node *n = &g->nodes.data[k];
		switch (n->op) {
		case LATHE_OP_Conv: {
			const lathe_type *x = &g->values.data[n->in[0]].type;
			int64_t grp = lathe_node_attr_int(n, "group", 1);
			if (grp > 1 && x->rank >= 2 && x->dims[1].size == grp)
				return LATHE_SCHED_DEPTHWISE_CONV;
			return LATHE_SCHED_CONV;
		}
		case LATHE_OP_ConvTranspose:
			return LATHE_SCHED_CONV;
		case LATHE_OP_MatMul:
		case LATHE_OP_Gemm:
			return LATHE_SCHED_MATMUL;
		default:
			break;
		}
	}
	return LATHE_SCHED_ELEMENTWISE;
}

static lathe_err check_node(const lathe_graph *g, const lathe_node *n)
{
	if (n->dead)
		return lathe_error(LATHE_EINVAL, "the node was removed");
	if (!lathe_ops[n->op].lower)
		return lathe_error(LATHE_EUNSUPPORTED, "%s is an extern kernel, not a loop program",
				   lathe_op_name(n->op));
	uint32_t params = lathe_op_param_inputs(n->op);
	for (int i = 0; i < n->nin; i++) {
		lathe_vid v = n->in[i];
		if (v == LATHE_NOVAL)
			continue;
		const lathe_value *val = &g->values.data[v];
		if (!static_tensor(&val->type))
			return lathe_error(LATHE_EUNSUPPORTED,
					   "input %d ('%s') has no static tensor type", i, val->name);
		if (i < 32 && (params >> i & 1) && val->def != LATHE_DEF_CONST)
			return lathe_error(LATHE_EUNSUPPORTED,
					   "input %d ('%s') decides the output's shape and must be a "
					   "constant", i, val->name);
	}
	for (int i = 0; i < n->nout; i++) {
		const lathe_value *val = &g->values.data[n->out[i]];
		if (!static_tensor(&val->type))
			return lathe_error(LATHE_EUNSUPPORTED,
					   "output %d ('%s') has no static tensor type", i, val->name);
	}
	return NULL;
}

/* Step 1: one node's lowering into the shared function. */
static lathe_err lower_one(lathe_graph *g, const lathe_node *n, lathe_tir_func *f,
			   lathe_tir_buf **bufs, lathe_arena *a)
{
	const lathe_type **tin = lathe_arena_new(a, const lathe_type *, n->nin + 1);
	const lathe_tensor **vin = lathe_arena_new(a, const lathe_tensor *, n->nin + 1);
	lathe_tir_buf **ib = lathe_arena_new(a, lathe_tir_buf *, n->nin + 1);
	lathe_tir_buf **ob = lathe_arena_new(a, lathe_tir_buf *, n->nout + 1);
	lathe_type *tout = lathe_arena_new(a, lathe_type, n->nout + 1);
	uint32_t params = lathe_op_param_inputs(n->op);
	for (int i = 0; i < n->nin; i++) {
		lathe_vid v = n->in[i];
		if (v == LATHE_NOVAL)
			continue;
		const lathe_value *val = &g->values.data[v];
		tin[i] = &val->type;
		ib[i] = bufs[v];
		if (i < 32 && (params >> i & 1))
			vin[i] = val->konst;
	}
	for (int i = 0; i < n->nout; i++) {
		tout[i] = g->values.data[n->out[i]].type;
		ob[i] = bufs[n->out[i]];
	}
	lathe_lower_ctx lc = {.graph = g, .node = n, .nin = n->nin, .nout = n->nout,
			      .in = tin, .in_val = vin, .out = tout, .fn = f,
			      .in_buf = ib, .out_buf = ob};
	return lathe_ops[n->op].lower(&lc);
}

static lathe_err lower_group(lathe_graph *g, size_t first, size_t count, lathe_arena *a,
			     lathe_group_io *io, lathe_tir_func *f, lathe_tir_buf **bufs)
{
	size_t end = first + count;
	/* Which node of the run produces each value (-1: none). */
	size_t nv = g->values.len;
	int *prod = lathe_arena_new(a, int, nv + 1);
	for (size_t v = 0; v < nv; v++)
		prod[v] = -1;
	for (size_t k = first; k < end; k++) {
		const lathe_node *n = &g->nodes.data[k];
		LATHE_TRYF(check_node(g, n), "node '%s' (%s)", n->name, lathe_op_name(n->op));
		for (int i = 0; i < n->nout; i++)
			prod[n->out[i]] = (int)(k - first);
	}
	LATHE_VEC(lathe_vid) ins = {0}, outs = {0}, locals = {0};
	for (size_t k = first; k < end; k++) {
		const lathe_node *n = &g->nodes.data[k];
		for (int i = 0; i < n->nin; i++) {
			lathe_vid v = n->in[i];
			if (v == LATHE_NOVAL || prod[v] >= 0)
				continue;
			bool seen = false;
			for (size_t j = 0; j < ins.len && !seen; j++)
				seen = ins.data[j] == v;
			if (!seen)
				lathe_vec_push(&ins, v);
		}
	}
	for (size_t k = first; k < end; k++) {
		const lathe_node *n = &g->nodes.data[k];
		for (int i = 0; i < n->nout; i++) {
			if (used_outside(g, n->out[i], first, end))
				lathe_vec_push(&outs, n->out[i]);
			else
				lathe_vec_push(&locals, n->out[i]);
		}
	}
	io->nin = (int)ins.len;
	io->nout = (int)outs.len;
	io->in = lathe_arena_memdup(a, ins.data ? (void *)ins.data : (void *)"",
				    sizeof(lathe_vid) * ins.len);
	io->out = lathe_arena_memdup(a, outs.data ? (void *)outs.data : (void *)"",
				     sizeof(lathe_vid) * outs.len);
	for (size_t i = 0; i < ins.len; i++) {
		const lathe_type *t = &g->values.data[ins.data[i]].type;
		bufs[ins.data[i]] = lathe_tir_param(f, lathe_arena_printf(a, "in%zu", i), t->dtype,
						    t->rank, shape_of(a, t));
	}
	for (size_t i = 0; i < outs.len; i++) {
		const lathe_type *t = &g->values.data[outs.data[i]].type;
		bufs[outs.data[i]] = lathe_tir_param(f, lathe_arena_printf(a, "out%zu", i),
						     t->dtype, t->rank, shape_of(a, t));
	}
	for (size_t i = 0; i < locals.len; i++) {
		const lathe_value *val = &g->values.data[locals.data[i]];
		bufs[locals.data[i]] = lathe_tir_local(f, buf_name(a, val->name), val->type.dtype,
						       val->type.rank, shape_of(a, &val->type));
	}
	lathe_vec_free(&ins);
	lathe_vec_free(&outs);

	int cls = LATHE_SCHED_NONE;
	lathe_err err = NULL;
	for (size_t k = first; k < end && !err; k++) {
		const lathe_node *n = &g->nodes.data[k];
		f->sched_class = LATHE_SCHED_NONE;
		err = lower_one(g, n, f, bufs, a);
		if (err) {
			err = lathe_error_wrap(err, "node '%s' (%s)", n->name, lathe_op_name(n->op));
			break;
		}
		if (f->sched_class != LATHE_SCHED_NONE &&
		    (cls == LATHE_SCHED_NONE || cls == LATHE_SCHED_ELEMENTWISE))
			cls = f->sched_class;
	}
	if (err) {
		lathe_vec_free(&locals);
		return err;
	}
	if (cls == LATHE_SCHED_NONE && count > 1)
		cls = class_by_op(g, first, count);
	f->sched_class = cls;

	/* The primitives match plain loop nests: simplify first, which drops
	 * the extent-1 loops the builder makes for size-1 dimensions (indexed
	 * by a constant 0).  A primitive that does not apply says why and
	 * changes nothing: the local then stays a buffer. */
	lathe_tir_simplify(f);
	bool *gone = lathe_arena_new(a, bool, locals.len + 1);
	for (size_t i = 0; i < locals.len; i++) {
		lathe_err e = lathe_sched_compute_inline(f, bufs[locals.data[i]]);
		gone[i] = !e;
		lathe_error_free(e);
	}
	for (size_t i = 0; i < locals.len; i++)
		if (!gone[i])
			lathe_error_free(lathe_sched_reverse_compute_inline(f, bufs[locals.data[i]]));
	lathe_vec_free(&locals);
	drop_unread_inputs(f, io);
	return NULL;
}

lathe_err lathe_lower_group(lathe_graph *g, size_t first, size_t count, lathe_arena *a,
			    lathe_group_io *io, lathe_tir_func **out)
{
	if (!count || first >= g->nodes.len || count > g->nodes.len - first)
		return lathe_error(LATHE_EINVAL, "nodes [%zu, %zu) are not in the graph", first,
				   first + count);
	const lathe_node *sink = &g->nodes.data[first + count - 1];
	/* Named after the sink node, or its output where nodes are unnamed. */
	const char *sname = sink->name && *sink->name ? sink->name
			    : sink->nout			? g->values.data[sink->out[0]].name
							: "";
	const char *name = count > 1 ? lathe_arena_printf(a, "fused_%s", sname)
				     : lathe_op_name(sink->op);
	lathe_tir_func *f = lathe_tir_func_create(a, name);
	lathe_tir_buf **bufs = lathe_xcalloc(g->values.len + 1, sizeof *bufs);
	lathe_err err = lower_group(g, first, count, a, io, f, bufs);
	free(bufs);
	if (!err) {
		err = lathe_tir_verify(f);
		if (err)
			err = lathe_error_wrap(err, "internal error: the fused loop program of nodes "
					       "'%s'..'%s' is invalid",
					       g->nodes.data[first].name, sink->name);
	}
	if (err) {
		lathe_tir_func_deinit(f);
		return err;
	}
	*out = f;
	return NULL;
}
