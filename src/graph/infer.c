/* infer.c: the shape and type inference driver.
 *
 * Walks the nodes in their (topological) order and calls each op's infer
 * function from the op table, giving it the input types and, for the op's
 * parameter inputs (ops.def's mask), the values of those inputs that are
 * constants.  The result is merged into the output value's type: a type the
 * model declared is kept where it is more specific than the inferred one
 * (a constant dim over a symbol or an unknown), and only a definite
 * conflict (different element types, ranks or constant dims) is an error.
 *
 * A node's subgraphs (If branches, Loop and Scan bodies) are inferred
 * just before the node itself, because control-flow infer functions derive
 * the node's outputs from the bodies' output types.  A body's inputs keep
 * their declared types (the model declares them; an unknown one just
 * yields unknown types downstream).  On entry a subgraph refreshes the types
 * of its captures from its parent, which has been inferred up to the node
 * that owns the subgraph.
 *
 * Requires: a verified graph (inputs of each node defined before it).
 * Changes: value types only.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

static void describe_node(lathe_buf *b, const lathe_node *n, size_t idx)
{
	if (n->name && *n->name)
		lathe_buf_printf(b, "node '%s' (%s)", n->name, lathe_op_name(n->op));
	else
		lathe_buf_printf(b, "node #%zu (%s)", idx, lathe_op_name(n->op));
}

static lathe_err conflict(const lathe_graph *g, const lathe_value *v,
			  const lathe_type *declared, const lathe_type *inferred,
			  const char *what)
{
	lathe_buf b = {0};
	lathe_buf_printf(&b, "output %%%s: inferred type ", v->name);
	lathe_type_print(&b, g, inferred);
	lathe_buf_puts(&b, " conflicts with the declared type ");
	lathe_type_print(&b, g, declared);
	lathe_buf_printf(&b, " (%s)", what);
	lathe_err e = lathe_error(LATHE_EINVAL, "%s", b.data);
	lathe_buf_free(&b);
	return e;
}

/* Merges inferred type `inf` into declared type `*decl` (in place). */
static lathe_err merge_type(lathe_graph *g, lathe_value *v, const lathe_type *inf)
{
	lathe_type *decl = &v->type;
	if (inf->kind == LATHE_TY_UNKNOWN)
		return NULL;
	if (decl->kind == LATHE_TY_UNKNOWN) {
		*decl = *inf;
		return NULL;
	}
	/* An optional and the kind it holds are not a definite conflict (ONNX
	 * models declare a Loop's optional sequence as a plain sequence): the
	 * declared type stands. */
	bool opt_vs_elem = (decl->kind == LATHE_TY_OPTIONAL && inf->kind == decl->elem_kind) ||
			   (inf->kind == LATHE_TY_OPTIONAL && decl->kind == inf->elem_kind);
	if (opt_vs_elem) {
		if (decl->dtype && inf->dtype && decl->dtype != inf->dtype)
			return conflict(g, v, decl, inf, "different element types");
		return NULL;
	}
	if (decl->kind != inf->kind ||
	    (decl->kind == LATHE_TY_OPTIONAL && decl->elem_kind != inf->elem_kind))
		return conflict(g, v, decl, inf, "different kinds");
	if (decl->dtype && inf->dtype && decl->dtype != inf->dtype)
		return conflict(g, v, decl, inf, "different element types");
	if (decl->rank >= 0 && inf->rank >= 0 && decl->rank != inf->rank)
		return conflict(g, v, decl, inf, "different ranks");
	for (int i = 0; decl->rank >= 0 && inf->rank >= 0 && i < decl->rank; i++) {
		lathe_dim d = decl->dims[i], n = inf->dims[i];
		if (d.sym < 0 && n.sym < 0 && d.size >= 0 && n.size >= 0 && d.size != n.size)
			return conflict(g, v, decl, inf, "different dimensions");
	}
	lathe_type r = *decl;
	if (!r.dtype)
		r.dtype = inf->dtype;
	if (r.rank < 0 && inf->rank >= 0) {
		r = *inf;
		if (!r.dtype)
			r.dtype = decl->dtype;
	} else if (r.rank > 0 && inf->rank >= 0) {
		/* Fresh dims: the declared array may be shared with another type. */
		r.dims = lathe_arena_new(g->arena, lathe_dim, r.rank);
		for (int i = 0; i < r.rank; i++) {
			lathe_dim d = decl->dims[i], n = inf->dims[i];
			bool d_const = d.sym < 0 && d.size >= 0;
			bool n_const = n.sym < 0 && n.size >= 0;
			if (d_const || (!n_const && d.sym >= 0))
				r.dims[i] = d;
			else
				r.dims[i] = n;
		}
	}
	*decl = r;
	return NULL;
}

static lathe_err infer_node(lathe_graph *g, size_t idx, const lathe_type **in,
			    const lathe_tensor **in_val, lathe_type *out)
{
	lathe_node *n = &g->nodes.data[idx];
	for (int i = 0; i < n->nattr; i++) {
		const lathe_attr *a = &n->attrs[i];
		if (a->kind == LATHE_ATTR_GRAPH && a->u.g)
			LATHE_TRY(lathe_graph_infer(a->u.g));
		for (int64_t j = 0; a->kind == LATHE_ATTR_GRAPHS && j < a->n; j++)
			if (a->u.graphs[j])
				LATHE_TRY(lathe_graph_infer(a->u.graphs[j]));
	}
	uint32_t params = lathe_op_param_inputs(n->op);
	for (int i = 0; i < n->nin; i++) {
		in[i] = NULL;
		in_val[i] = NULL;
		lathe_vid v = n->in[i];
		if (v == LATHE_NOVAL)
			continue;
		if (v >= g->values.len)
			return lathe_error(LATHE_EINVAL, "input %d names no value", i);
		const lathe_value *val = &g->values.data[v];
		in[i] = &val->type;
		if (i < 32 && (params >> i & 1) && val->def == LATHE_DEF_CONST)
			in_val[i] = val->konst;
	}
	for (int i = 0; i < n->nout; i++)
		out[i] = lathe_type_unknown();
	lathe_infer_ctx c = {
		.graph = g,
		.node = n,
		.nin = n->nin,
		.nout = n->nout,
		.in = in,
		.in_val = in_val,
		.out = out,
		.arena = g->arena,
	};
	LATHE_TRY(lathe_ops[n->op].infer(&c));
	/* The infer function may have added values (rare) and so moved the
	 * node table: re-read the node. */
	n = &g->nodes.data[idx];
	for (int i = 0; i < n->nout; i++)
		LATHE_TRY(merge_type(g, &g->values.data[n->out[i]], &out[i]));
	return NULL;
}

lathe_err lathe_graph_infer(lathe_graph *g)
{
	if (g->parent) {
		for (size_t i = 0; i < g->values.len; i++) {
			lathe_value *v = &g->values.data[i];
			if (v->def == LATHE_DEF_OUTER && v->outer < g->parent->values.len)
				v->type = g->parent->values.data[v->outer].type;
		}
	}
	int maxin = 1, maxout = 1;
	for (size_t i = 0; i < g->nodes.len; i++) {
		if (g->nodes.data[i].nin > maxin)
			maxin = g->nodes.data[i].nin;
		if (g->nodes.data[i].nout > maxout)
			maxout = g->nodes.data[i].nout;
	}
	const lathe_type **in = lathe_xcalloc((size_t)maxin, sizeof *in);
	const lathe_tensor **in_val = lathe_xcalloc((size_t)maxin, sizeof *in_val);
	lathe_type *out = lathe_xcalloc((size_t)maxout, sizeof *out);
	lathe_err e = NULL;
	for (size_t i = 0; i < g->nodes.len && !e; i++) {
		const lathe_node *n = &g->nodes.data[i];
		if (n->dead)
			continue;
		if (n->op < 0 || n->op >= LATHE_OP_COUNT || !lathe_ops[n->op].infer) {
			e = lathe_error(LATHE_EINTERNAL, "node #%zu has no infer function", i);
			break;
		}
		e = infer_node(g, i, in, in_val, out);
		if (e) {
			lathe_buf b = {0};
			describe_node(&b, &g->nodes.data[i], i);
			e = lathe_error_wrap(e, "%s", b.data);
			lathe_buf_free(&b);
		}
	}
	free(in);
	free(in_val);
	free(out);
	if (e && g->parent)
		e = lathe_error_wrap(e, "in subgraph '%s'", g->name);
	return e;
}
