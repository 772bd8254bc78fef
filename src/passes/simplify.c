/* simplify.c: algebraic simplification.
 *
 * Local rewrites, applied in node order until none applies (at most a few
 * sweeps):
 *   - Identity, and Dropout in inference mode (no training_mode, or a
 *     constant false, and its mask unused), are removed: readers read the
 *     input;
 *   - BatchNormalization (inference) after a Conv that only it reads, with
 *     constant parameters, is folded into the Conv: W'[m] = W[m] * s[m],
 *     b'[m] = (b[m] - mean[m]) * s[m] + beta[m], s = scale / sqrt(var + eps),
 *     computed in double and rounded once (f32 and f64 weights);
 *   - MatMul (2-D operands) or Gemm without C, followed by an Add of a bias
 *     that broadcasts to the product's shape, becomes one Gemm with C
 *     (higher-rank MatMul + Add is left to fusion, which makes the Add an
 *     epilogue);
 *   - a reshape (Reshape, Flatten, Squeeze, Unsqueeze) of a reshape becomes
 *     one Reshape to the static output shape; a reshape to the input's own
 *     shape is removed;
 *   - Transpose of Transpose becomes one Transpose (removed when the
 *     composed permutation is the identity);
 *   - Gather of one constant index (a scalar) becomes a Slice of that
 *     index and a Reshape that drops its axis: affine loads, which fusion
 *     inlines into the readers (the q, k and v of a fused attention
 *     projection, say), instead of a copy that loads its index.
 *
 * Requires: a verified, inferred graph.  Changes: rewrites nodes in place,
 * adds constants (new weights, shapes), removes nodes (the values they
 * leave unused stay until dce).  Invalidates: node indices, fusion groups.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"

enum { MAX_SWEEPS = 8 };

static bool only_reader(lathe_graph *g, lathe_vid v)
{
	return !lathe_pass_pinned(g, v) && lathe_pass_use_count(g, v) == 1;
}

/* Forwards out to in and kills node k, if allowed. */
static bool bypass(lathe_graph *g, size_t k, lathe_vid out, lathe_vid in)
{
	if (!lathe_pass_can_forward(g, out, in))
		return false;
	lathe_pass_forward(g, out, in);
	lathe_pass_kill(g, (uint32_t)k);
	return true;
}

static bool rule_identity(lathe_graph *g, size_t k)
{
	lathe_node *n = &g->nodes.data[k];
	if (n->nin != 1 || n->nout != 1 || n->in[0] == LATHE_NOVAL)
		return false;
	return bypass(g, k, n->out[0], n->in[0]);
}

static bool rule_dropout(lathe_graph *g, size_t k)
{
	lathe_node *n = &g->nodes.data[k];
	if (n->nin < 1 || n->nout < 1 || n->in[0] == LATHE_NOVAL)
		return false;
	if (n->nin > 2 && n->in[2] != LATHE_NOVAL) {
		const lathe_tensor *t = lathe_pass_const(g, n->in[2]);
		if (!t || lathe_tensor_numel(t) != 1 || t->dtype == LATHE_DT_STR ||
		    lathe_rt_load_f64(t, 0) != 0)
			return false;
	}
	if (n->nout > 1 && (lathe_pass_pinned(g, n->out[1]) || lathe_pass_use_count(g, n->out[1])))
		return false;
	return bypass(g, k, n->out[0], n->in[0]);
}

static bool float_weights(const lathe_tensor *t, int dtype)
{
	return t && t->dtype == dtype && (dtype == LATHE_DT_F32 || dtype == LATHE_DT_F64);
}

static double get(const lathe_tensor *t, int64_t i)
{
	return lathe_rt_load_f64(t, i);
}

static bool rule_bn_into_conv(lathe_graph *g, size_t k)
{
	lathe_node *n = &g->nodes.data[k];
	if (n->nin != 5 || n->nout != 1 || lathe_node_attr_int(n, "training_mode", 0))
		return false;
	lathe_vid x = n->in[0];
	lathe_node *p = lathe_pass_producer(g, x);
	if (!p || p->op != LATHE_OP_Conv || p->nout != 1 || p->nin < 2 || !only_reader(g, x))
		return false;
	const lathe_tensor *w = lathe_pass_const(g, p->in[1]);
	if (!w || w->rank < 3)
		return false;
	int dtype = w->dtype;
	int64_t M = w->shape[0];
	const lathe_tensor *b = NULL;
	if (p->nin > 2 && p->in[2] != LATHE_NOVAL) {
		b = lathe_pass_const(g, p->in[2]);
		if (!float_weights(b, dtype) || b->rank != 1 || b->shape[0] != M)
			return false;
	}
	const lathe_tensor *prm[4];
	for (int i = 0; i < 4; i++) {
		prm[i] = lathe_pass_const(g, n->in[i + 1]);
		if (!float_weights(prm[i], dtype) || prm[i]->rank != 1 || prm[i]->shape[0] != M)
			return false;
	}
	if (!float_weights(w, dtype) || M <= 0)
		return false;
	double eps = lathe_node_attr_float(n, "epsilon", 1e-5);
	lathe_tensor *nw, *nb;
	lathe_err e = lathe_tensor_alloc(g->arena, dtype, w->rank, w->shape, &nw);
	if (!e)
		e = lathe_tensor_alloc(g->arena, dtype, 1, &M, &nb);
	if (e) {
		lathe_error_free(e);
		return false;
	}
	int64_t per = lathe_tensor_numel(w) / M;
	for (int64_t m = 0; m < M; m++) {
		double s = get(prm[0], m) / sqrt(get(prm[3], m) + eps);
		for (int64_t j = 0; j < per; j++)
			lathe_rt_store_f64(nw, m * per + j, get(w, m * per + j) * s);
		double bias = b ? get(b, m) : 0.0;
		lathe_rt_store_f64(nb, m, (bias - get(prm[2], m)) * s + get(prm[1], m));
	}
	lathe_vid wv, bv;
	const char *wname = g->values.data[p->in[1]].name;
	e = lathe_pass_add_const(g, lathe_arena_printf(g->arena, "%s_bn", wname), nw, &wv);
	if (!e)
		e = lathe_pass_add_const(g, lathe_arena_printf(g->arena, "%s_bn_b", wname), nb, &bv);
	if (e) {
		lathe_error_free(e);
		return false;
	}
	/* Adding values may have moved nothing in nodes, but re-read anyway. */
	n = &g->nodes.data[k];
	p = lathe_pass_producer(g, x);
	if (!lathe_pass_can_forward(g, n->out[0], x))
		return false;
	lathe_vid *in = lathe_arena_new(g->arena, lathe_vid, 3);
	in[0] = p->in[0];
	in[1] = wv;
	in[2] = bv;
	p->in = in;
	p->nin = 3;
	return bypass(g, k, n->out[0], x);
}

static bool same_dims(const lathe_graph *g, lathe_vid v, int rank, const int64_t *shape)
{
	int r;
	int64_t s[LATHE_PASS_MAX_RANK];
	if (!lathe_pass_static_shape(g, v, &r, s) || r != rank)
		return false;
	return !memcmp(s, shape, sizeof(int64_t) * (size_t)rank);
}

/* Add(MatMul(A, B), C) or Add(Gemm(A, B), C) -> Gemm(A, B, C). */
static bool rule_gemm_bias(lathe_graph *g, size_t k)
{
	lathe_node *n = &g->nodes.data[k];
	if (n->nin != 2 || n->nout != 1)
		return false;
	int64_t ys[LATHE_PASS_MAX_RANK];
	int yr;
	if (!lathe_pass_static_shape(g, n->out[0], &yr, ys) || yr != 2)
		return false;
	int dtype = g->values.data[n->out[0]].type.dtype;
	if (!lathe_dtype_is_float(dtype))
		return false;
	for (int j = 0; j < 2; j++) {
		lathe_vid x = n->in[j], c = n->in[1 - j];
		lathe_node *p = lathe_pass_producer(g, x);
		if (!p || p->nout != 1 || !only_reader(g, x) || !same_dims(g, x, 2, ys))
			continue;
		bool gemm = p->op == LATHE_OP_Gemm && (p->nin < 3 || p->in[2] == LATHE_NOVAL);
		if (p->op != LATHE_OP_MatMul && !gemm)
			continue;
		int ar, br, cr;
		int64_t as[LATHE_PASS_MAX_RANK], bs[LATHE_PASS_MAX_RANK], cs[LATHE_PASS_MAX_RANK];
		if (!lathe_pass_static_shape(g, p->in[0], &ar, as) || ar != 2 ||
		    !lathe_pass_static_shape(g, p->in[1], &br, bs) || br != 2 ||
		    !lathe_pass_static_shape(g, c, &cr, cs) || cr > 2 ||
		    g->values.data[c].type.dtype != dtype)
			continue;
		/* C must broadcast to [M, N] without growing the result. */
		bool fits = true;
		for (int i = 0; i < cr; i++)
			fits = fits && (cs[i] == 1 || cs[i] == ys[2 - cr + i]);
		if (!fits)
			continue;
		lathe_vid *in = lathe_arena_new(g->arena, lathe_vid, 3);
		in[0] = p->in[0];
		in[1] = p->in[1];
		in[2] = c;
		int nattr = 0;
		lathe_attr *attrs = lathe_arena_new(g->arena, lathe_attr, p->nattr + 1);
		for (int i = 0; gemm && i < p->nattr; i++)
			if (strcmp(p->attrs[i].name, "beta"))
				attrs[nattr++] = p->attrs[i];
		n->op = LATHE_OP_Gemm;
		n->in = in;
		n->nin = 3;
		n->attrs = attrs;
		n->nattr = nattr;
		lathe_pass_kill(g, g->values.data[x].node);
		return true;
	}
	return false;
}

static bool is_reshape(int op)
{
	return op == LATHE_OP_Reshape || op == LATHE_OP_Flatten || op == LATHE_OP_Squeeze ||
	       op == LATHE_OP_Unsqueeze;
}

static bool rule_reshape(lathe_graph *g, size_t k)
{
	lathe_node *n = &g->nodes.data[k];
	if (n->nin < 1 || n->nout != 1 || n->in[0] == LATHE_NOVAL)
		return false;
	int r;
	int64_t s[LATHE_PASS_MAX_RANK];
	lathe_vid x = n->in[0];
	const lathe_type *xt = &g->values.data[x].type;
	if (!lathe_pass_static_shape(g, n->out[0], &r, s) || xt->kind != LATHE_TY_TENSOR)
		return false;
	if (same_dims(g, x, r, s))
		return bypass(g, k, n->out[0], x);
	lathe_node *p = lathe_pass_producer(g, x);
	if (!p || !is_reshape(p->op) || p->nin < 1 || p->in[0] == LATHE_NOVAL || p->nout != 1)
		return false;
	lathe_tensor *t;
	int64_t rank = r;
	lathe_err e = lathe_tensor_alloc(g->arena, LATHE_DT_I64, 1, &rank, &t);
	lathe_vid sv;
	if (!e) {
		if (r)
			memcpy(t->data, s, sizeof(int64_t) * (size_t)r);
		e = lathe_pass_add_const(g, "shape", t, &sv);
	}
	if (e) {
		lathe_error_free(e);
		return false;
	}
	n = &g->nodes.data[k];
	p = lathe_pass_producer(g, x);
	bool zero = false;
	for (int i = 0; i < r; i++)
		zero = zero || s[i] == 0;
	lathe_vid *in = lathe_arena_new(g->arena, lathe_vid, 2);
	in[0] = p->in[0];
	in[1] = sv;
	n->op = LATHE_OP_Reshape;
	n->in = in;
	n->nin = 2;
	n->nattr = 0;
	n->attrs = NULL;
	if (zero) /* a 0 in the target means "copy" unless allowzero */
		lathe_node_set_attr(g, n, (lathe_attr){.name = "allowzero", .kind = LATHE_ATTR_INT,
						       .u.i = 1});
	return true;
}

/* A constant i64 vector of n entries, added to g (false on failure). */
static bool add_ints(lathe_graph *g, const char *prefix, const int64_t *v, int64_t n,
		     lathe_vid *out)
{
	lathe_tensor *t;
	lathe_err e = lathe_tensor_alloc(g->arena, LATHE_DT_I64, 1, &n, &t);
	if (!e) {
		if (n)
			memcpy(t->data, v, sizeof(int64_t) * (size_t)n);
		e = lathe_pass_add_const(g, prefix, t, out);
	}
	if (e) {
		lathe_error_free(e);
		return false;
	}
	return true;
}

/* Gather(X, i) with i a constant scalar -> Reshape(Slice(X, i, i + 1,
 * axis)): the slice's loads are affine (a copy the fusion pass can inline
 * into its readers) where the Gather loads its index at run time and
 * checks it per element.  An index out of range stays a Gather (its
 * error at run time). */
static bool rule_gather_const(lathe_graph *g, size_t k)
{
	lathe_node *n = &g->nodes.data[k];
	if (n->nin != 2 || n->nout != 1 || n->in[0] == LATHE_NOVAL)
		return false;
	const lathe_tensor *it = lathe_pass_const(g, n->in[1]);
	int xr, yr;
	int64_t xs[LATHE_PASS_MAX_RANK], ys[LATHE_PASS_MAX_RANK];
	if (!it || it->rank != 0 || (it->dtype != LATHE_DT_I64 && it->dtype != LATHE_DT_I32) ||
	    !lathe_pass_static_shape(g, n->in[0], &xr, xs) ||
	    !lathe_pass_static_shape(g, n->out[0], &yr, ys) || xr < 1)
		return false;
	int64_t axis = lathe_node_attr_int(n, "axis", 0);
	if (axis < 0)
		axis += xr;
	if (axis < 0 || axis >= xr)
		return false;
	int64_t i = it->dtype == LATHE_DT_I64 ? ((const int64_t *)it->data)[0]
					      : ((const int32_t *)it->data)[0];
	if (i < 0)
		i += xs[axis];
	if (i < 0 || i >= xs[axis])
		return false;
	int64_t end = i + 1;
	lathe_vid sv[4], mid;
	if (!add_ints(g, "starts", &i, 1, &sv[1]) || !add_ints(g, "ends", &end, 1, &sv[2]) ||
	    !add_ints(g, "axes", &axis, 1, &sv[3]) || !add_ints(g, "shape", ys, yr, &sv[0]))
		return false;
	n = &g->nodes.data[k];
	lathe_vid x = n->in[0];
	/* the Slice keeps the Gather's name (a profile's steps show it) */
	const char *vname = lathe_graph_fresh_name(g, "slice");
	lathe_node *sl;
	lathe_vid in[4] = {x, sv[1], sv[2], sv[3]};
	lathe_err e = lathe_graph_add_node(g, LATHE_OP_Slice, n->name, 4, in, 1, &vname, &sl);
	if (e) {
		lathe_error_free(e);
		return false;
	}
	mid = sl->out[0];
	lathe_type *mt = &g->values.data[mid].type;
	*mt = g->values.data[x].type;
	mt->dims = lathe_arena_memdup(g->arena, mt->dims, sizeof(lathe_dim) * (size_t)xr);
	mt->dims[axis] = (lathe_dim){1, -1};
	n = &g->nodes.data[k]; /* the node table may have moved */
	lathe_vid *rin = lathe_arena_new(g->arena, lathe_vid, 2);
	rin[0] = mid;
	rin[1] = sv[0];
	n->op = LATHE_OP_Reshape;
	n->in = rin;
	n->nin = 2;
	n->nattr = 0;
	n->attrs = NULL;
	return true;
}

/* Transpose's permutation (default: reversed axes) into perm; false if
 * malformed. */
static bool get_perm(const lathe_node *n, int rank, int64_t *perm)
{
	int64_t cnt;
	const int64_t *p = lathe_node_attr_ints(n, "perm", &cnt);
	if (cnt < 0) {
		for (int i = 0; i < rank; i++)
			perm[i] = rank - 1 - i;
		return true;
	}
	if (cnt != rank)
		return false;
	bool seen[LATHE_PASS_MAX_RANK] = {0};
	for (int i = 0; i < rank; i++) {
		if (p[i] < 0 || p[i] >= rank || seen[p[i]])
			return false;
		seen[p[i]] = true;
		perm[i] = p[i];
	}
	return true;
}

static bool rule_transpose(lathe_graph *g, size_t k)
{
	lathe_node *n = &g->nodes.data[k];
	if (n->nin != 1 || n->nout != 1)
		return false;
	int r;
	int64_t s[LATHE_PASS_MAX_RANK], q[LATHE_PASS_MAX_RANK], pp[LATHE_PASS_MAX_RANK];
	lathe_vid x = n->in[0];
	if (!lathe_pass_static_shape(g, x, &r, s) || !get_perm(n, r, q))
		return false;
	bool ident = true;
	for (int i = 0; i < r; i++)
		ident = ident && q[i] == i;
	if (ident)
		return bypass(g, k, n->out[0], x);
	lathe_node *p = lathe_pass_producer(g, x);
	if (!p || p->op != LATHE_OP_Transpose || p->nin != 1 || p->nout != 1 ||
	    !get_perm(p, r, pp))
		return false;
	/* out[i] = x[q[i]] = y[pp[q[i]]]. */
	int64_t *c = lathe_arena_new(g->arena, int64_t, r);
	ident = true;
	for (int i = 0; i < r; i++) {
		c[i] = pp[q[i]];
		ident = ident && c[i] == i;
	}
	if (ident && bypass(g, k, n->out[0], p->in[0]))
		return true;
	n->in = lathe_arena_memdup(g->arena, &p->in[0], sizeof(lathe_vid));
	lathe_node_set_attr(g, n, (lathe_attr){.name = "perm", .kind = LATHE_ATTR_INTS, .n = r,
					       .u.ints = c});
	return true;
}

static bool apply(lathe_graph *g, size_t k)
{
	switch (g->nodes.data[k].op) {
	case LATHE_OP_Identity:
		return rule_identity(g, k);
	case LATHE_OP_Dropout:
		return rule_dropout(g, k);
	case LATHE_OP_BatchNormalization:
		return rule_bn_into_conv(g, k);
	case LATHE_OP_Add:
		return rule_gemm_bias(g, k);
	case LATHE_OP_Transpose:
		return rule_transpose(g, k);
	case LATHE_OP_Gather:
		return rule_gather_const(g, k);
	default:
		return is_reshape(g->nodes.data[k].op) && rule_reshape(g, k);
	}
}

lathe_err lathe_pass_simplify(lathe_graph *g)
{
	for (int sweep = 0; sweep < MAX_SWEEPS; sweep++) {
		bool changed = false;
		for (size_t k = 0; k < g->nodes.len; k++)
			if (!g->nodes.data[k].dead && !lathe_node_has_subgraph(&g->nodes.data[k]))
				changed |= apply(g, k);
		LATHE_TRY(lathe_pass_toposort(g));
		if (!changed)
			break;
	}
	return NULL;
}
