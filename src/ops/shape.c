/* shape.c: the shape ops and the ops that only move data around: Constant,
 * Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat,
 * Split, Slice, Expand and Tile.  (Padding and the other movement ops with
 * arithmetic of their own live in movement.c.)
 *
 * Inference here works on symbolic dims: a dim that is copied (Reshape's 0,
 * Transpose, Squeeze...) keeps its symbol; a dim computed from unknown
 * parameters is unknown (-1), and a parameter input whose value is not known
 * makes the dims it decides unknown, never an error.  Lowering sees concrete
 * shapes, recomputes the same parameters from the same helpers, and writes
 * each op as a gather: out[i...] = in[f(i...)], one loop nest per output (or
 * per input for Concat), so every op is one definition of which input
 * element lands where.
 *
 * Constant, Shape and Size are kernels: they read no element of their input
 * (or have none), and must work on every dtype, strings included.
 */
#include <string.h>

#include "ops/movement.h"

/* ---- Constant ---------------------------------------------------------------- */

/* The one value attribute of a Constant node, normalized to a type. */
typedef struct const_src {
	const lathe_attr *a;
	int dtype, rank;
	int64_t len; /* for rank 1 */
} const_src;

static lathe_err constant_source(const lathe_node *n, const_src *s)
{
	static const char *const names[] = {"value", "value_float", "value_floats", "value_int",
					    "value_ints", "value_string", "value_strings",
					    "sparse_value"};
	memset(s, 0, sizeof *s);
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		const lathe_attr *a = lathe_node_attr(n, names[k]);
		if (!a)
			continue;
		s->a = a;
		switch (a->kind) {
		case LATHE_ATTR_TENSOR:
			if (!a->u.t)
				break;
			s->dtype = a->u.t->dtype;
			s->rank = a->u.t->rank;
			return NULL;
		case LATHE_ATTR_FLOAT: s->dtype = LATHE_DT_F32; return NULL;
		case LATHE_ATTR_INT: s->dtype = LATHE_DT_I64; return NULL;
		case LATHE_ATTR_STRING: s->dtype = LATHE_DT_STR; return NULL;
		case LATHE_ATTR_FLOATS: s->dtype = LATHE_DT_F32; s->rank = 1; s->len = a->n; return NULL;
		case LATHE_ATTR_INTS: s->dtype = LATHE_DT_I64; s->rank = 1; s->len = a->n; return NULL;
		case LATHE_ATTR_STRINGS: s->dtype = LATHE_DT_STR; s->rank = 1; s->len = a->n; return NULL;
		default: break;
		}
		if (!strcmp(names[k], "sparse_value"))
			return lathe_error(LATHE_EUNSUPPORTED, "sparse_value constants");
		return lathe_error(LATHE_EINVAL, "attribute '%s' has the wrong kind", names[k]);
	}
	return lathe_error(LATHE_EINVAL, "no value attribute (value, value_float, value_ints...)");
}

lathe_err infer_constant(lathe_infer_ctx *c)
{
	const_src s;
	LATHE_TRY(constant_source(c->node, &s));
	if (s.a->kind == LATHE_ATTR_TENSOR)
		c->out[0] = lathe_type_tensor(c->arena, s.dtype, s.rank, s.a->u.t->shape);
	else
		c->out[0] = lathe_type_tensor(c->arena, s.dtype, s.rank, &s.len);
	return NULL;
}

lathe_err kernel_constant(lathe_kernel_ctx *c)
{
	const_src s;
	LATHE_TRY(constant_source(c->node, &s));
	const lathe_attr *a = s.a;
	lathe_tensor *t;
	if (a->kind == LATHE_ATTR_TENSOR) {
		const lathe_tensor *v = a->u.t;
		LATHE_TRY(lathe_kernel_output(c, 0, v->dtype, v->rank, v->shape, &t));
		size_t nb = lathe_tensor_nbytes(t);
		if (nb && v->data)
			memcpy(t->data, v->data, nb);
		return NULL;
	}
	LATHE_TRY(lathe_kernel_output(c, 0, s.dtype, s.rank, &s.len, &t));
	switch (a->kind) {
	case LATHE_ATTR_FLOAT: ((float *)t->data)[0] = (float)a->u.f; break;
	case LATHE_ATTR_INT: ((int64_t *)t->data)[0] = a->u.i; break;
	case LATHE_ATTR_STRING: ((const char **)t->data)[0] = a->u.s; break;
	case LATHE_ATTR_FLOATS:
		for (int64_t i = 0; i < a->n; i++)
			((float *)t->data)[i] = (float)a->u.floats[i];
		break;
	case LATHE_ATTR_INTS:
		if (a->n)
			memcpy(t->data, a->u.ints, (size_t)a->n * sizeof(int64_t));
		break;
	case LATHE_ATTR_STRINGS:
		for (int64_t i = 0; i < a->n; i++)
			((const char **)t->data)[i] = a->u.strs[i];
		break;
	default: break;
	}
	return NULL;
}

/* ---- Shape, Size ------------------------------------------------------------- */

/* Shape's [start, end) after clamping into [0, rank]. */
static void shape_range(const lathe_node *n, int rank, int64_t *start, int64_t *end)
{
	int64_t s = lathe_node_attr_int(n, "start", 0);
	int64_t e = lathe_node_attr_int(n, "end", rank);
	if (s < 0)
		s += rank;
	if (e < 0)
		e += rank;
	s = s < 0 ? 0 : s > rank ? rank : s;
	e = e < 0 ? 0 : e > rank ? rank : e;
	*start = s;
	*end = e < s ? s : e;
}

lathe_err infer_shape_op(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	const lathe_type *t = c->in[0];
	if (!mv_has_rank(t)) {
		c->out[0] = lathe_type_tensor(c->arena, LATHE_DT_I64, 1, NULL);
		return NULL;
	}
	int64_t s, e;
	shape_range(c->node, t->rank, &s, &e);
	int64_t len = e - s;
	c->out[0] = lathe_type_tensor(c->arena, LATHE_DT_I64, 1, &len);
	return NULL;
}

lathe_err kernel_shape_op(lathe_kernel_ctx *c)
{
	if (c->nin < 1 || c->in[0].kind != LATHE_TY_TENSOR || !c->in[0].t)
		return lathe_error(LATHE_EINVAL, "input 0 must be a tensor");
	const lathe_tensor *x = c->in[0].t;
	int64_t s, e;
	shape_range(c->node, x->rank, &s, &e);
	int64_t len = e - s;
	lathe_tensor *t;
	LATHE_TRY(lathe_kernel_output(c, 0, LATHE_DT_I64, 1, &len, &t));
	for (int64_t i = 0; i < len; i++)
		((int64_t *)t->data)[i] = x->shape[s + i];
	return NULL;
}

lathe_err infer_size(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	c->out[0] = lathe_type_tensor(c->arena, LATHE_DT_I64, 0, NULL);
	return NULL;
}

lathe_err kernel_size(lathe_kernel_ctx *c)
{
	if (c->nin < 1 || c->in[0].kind != LATHE_TY_TENSOR || !c->in[0].t)
		return lathe_error(LATHE_EINVAL, "input 0 must be a tensor");
	lathe_tensor *t;
	LATHE_TRY(lathe_kernel_output(c, 0, LATHE_DT_I64, 0, NULL, &t));
	((int64_t *)t->data)[0] = lathe_tensor_numel(c->in[0].t);
	return NULL;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze ------------------------------------ */

/* Element count of dims as a constant, or -1 when a dim is not constant.
 * Sizes past 2^62 count as unknown rather than overflow. */
static int64_t dims_numel(const lathe_dim *d, int n)
{
	int64_t p = 1;
	for (int i = 0; i < n; i++) {
		if (!mv_dim_known(d[i]))
			return -1;
		if (d[i].size && p > ((int64_t)1 << 62) / d[i].size)
			return -1;
		p *= d[i].size;
	}
	return p;
}

/* Reshape's -1: the input's element count divided by the other output
 * dims.  Symbols that appear on both sides cancel, so [batch,3,4] reshaped
 * to [0,-1] gives [batch,12].  Returns false if the quotient is not known. */
static bool infer_minus_one(const lathe_type *in, const lathe_dim *out, int rank, int neg,
			    int64_t *val)
{
	int64_t num = 1, den = 1;
	int nsym = 0;
	int32_t syms[64];
	for (int i = 0; i < in->rank; i++) {
		lathe_dim d = in->dims[i];
		if (mv_dim_known(d)) {
			if (d.size && num > ((int64_t)1 << 62) / d.size)
				return false;
			num *= d.size;
		} else if (d.sym >= 0 && nsym < 64) {
			syms[nsym++] = d.sym;
		} else {
			return false;
		}
	}
	for (int i = 0; i < rank; i++) {
		if (i == neg)
			continue;
		lathe_dim d = out[i];
		if (mv_dim_known(d)) {
			if (d.size && den > ((int64_t)1 << 62) / d.size)
				return false;
			den *= d.size;
			continue;
		}
		bool found = false;
		for (int k = 0; k < nsym && !found; k++)
			if (d.sym >= 0 && syms[k] == d.sym) {
				syms[k] = syms[--nsym];
				found = true;
			}
		if (!found)
			return false;
	}
	if (nsym > 0 || den == 0 || num % den != 0)
		return false;
	*val = num / den;
	return true;
}

lathe_err infer_reshape(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	LATHE_TRY(mv_need(c, 1, "shape"));
	const lathe_type *in = c->in[0];
	const lathe_tensor *sv = mv_val(c, 1);
	int dtype = mv_dtype(c, 0);
	if (!sv) {
		const lathe_type *st = c->in[1];
		int rank = mv_has_rank(st) && st->rank == 1 && mv_dim_known(st->dims[0])
				   ? (int)st->dims[0].size : -1;
		c->out[0] = lathe_type_tensor(c->arena, dtype, rank, NULL);
		return NULL;
	}
	int64_t *v, n;
	LATHE_TRY(lathe_tensor_ints(c->arena, sv, &v, &n));
	if (sv->rank != 1)
		return lathe_error(LATHE_EINVAL, "shape must be 1-D, has rank %d", (int)sv->rank);
	if (n > 4096)
		return lathe_error(LATHE_EINVAL, "shape has %lld entries", (long long)n);
	bool allowzero = lathe_node_attr_int(c->node, "allowzero", 0) != 0;
	lathe_type out = lathe_type_tensor(c->arena, dtype, (int)n, NULL);
	int neg = -1;
	for (int i = 0; i < n; i++) {
		if (v[i] == -1) {
			if (neg >= 0)
				return lathe_error(LATHE_EINVAL, "shape has more than one -1");
			neg = i;
		} else if (v[i] < -1) {
			return lathe_error(LATHE_EINVAL, "shape entry %d is %lld", i, (long long)v[i]);
		} else if (v[i] == 0 && !allowzero) {
			if (!mv_has_rank(in))
				continue;
			if (i >= in->rank)
				return lathe_error(LATHE_EINVAL,
						   "shape entry %d is 0 (copy the input's dim) but the "
						   "input has rank %d", i, in->rank);
			out.dims[i] = in->dims[i];
		} else {
			out.dims[i] = mv_dim(v[i]);
		}
	}
	if (neg >= 0 && allowzero)
		for (int i = 0; i < n; i++)
			if (v[i] == 0)
				return lathe_error(LATHE_EINVAL,
						   "shape has both -1 and 0 with allowzero=1");
	if (mv_has_rank(in)) {
		int64_t total = dims_numel(in->dims, in->rank);
		if (neg >= 0) {
			int64_t q;
			if (infer_minus_one(in, out.dims, (int)n, neg, &q))
				out.dims[neg] = mv_dim(q);
			else if (total >= 0 && dims_numel(out.dims, neg) >= 0)
				return lathe_error(LATHE_EINVAL,
						   "cannot reshape %lld elements with a -1 entry "
						   "to fit the other dims", (long long)total);
		}
		int64_t got = dims_numel(out.dims, (int)n);
		if (total >= 0 && got >= 0 && total != got)
			return lathe_error(LATHE_EINVAL,
					   "cannot reshape %lld elements into a shape of %lld",
					   (long long)total, (long long)got);
	}
	c->out[0] = out;
	return NULL;
}

/* Product of dims [lo, hi): the dim itself when it is one, so a symbol
 * survives Flatten of a single dim. */
static lathe_dim dims_product(const lathe_type *t, int lo, int hi)
{
	if (hi - lo == 1)
		return t->dims[lo];
	int64_t p = dims_numel(t->dims + lo, hi - lo);
	return p >= 0 ? mv_dim(p) : mv_dim_unknown();
}

lathe_err infer_flatten(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "input"));
	const lathe_type *in = c->in[0];
	lathe_type out = lathe_type_tensor(c->arena, mv_dtype(c, 0), 2, NULL);
	if (mv_has_rank(in)) {
		int64_t axis = lathe_node_attr_int(c->node, "axis", 1);
		if (axis < -in->rank || axis > in->rank)
			return lathe_error(LATHE_EINVAL, "axis %lld out of range for rank %d",
					   (long long)axis, in->rank);
		if (axis < 0)
			axis += in->rank;
		out.dims[0] = dims_product(in, 0, (int)axis);
		out.dims[1] = dims_product(in, (int)axis, in->rank);
	}
	c->out[0] = out;
	return NULL;
}

lathe_err infer_squeeze(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	const lathe_type *in = c->in[0];
	int dtype = mv_dtype(c, 0);
	bool have_axes = mv_in(c, 1) != NULL;
	const lathe_tensor *av = mv_val(c, 1);
	if (!mv_has_rank(in) || (have_axes && !av)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	bool *drop = lathe_arena_new(c->arena, bool, in->rank + 1);
	if (have_axes) {
		int64_t *v, n;
		LATHE_TRY(lathe_tensor_ints(c->arena, av, &v, &n));
		for (int64_t k = 0; k < n; k++) {
			int a;
			LATHE_TRY(lathe_norm_axis(v[k], in->rank, &a));
			lathe_dim d = in->dims[a];
			if (mv_dim_known(d) && d.size != 1)
				return lathe_error(LATHE_EINVAL,
						   "cannot squeeze axis %d of size %lld", a,
						   (long long)d.size);
			drop[a] = true;
		}
	} else {
		for (int a = 0; a < in->rank; a++) {
			lathe_dim d = in->dims[a];
			if (!mv_dim_known(d)) {
				c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
				return NULL;
			}
			drop[a] = d.size == 1;
		}
	}
	int rank = 0;
	for (int a = 0; a < in->rank; a++)
		rank += !drop[a];
	lathe_type out = lathe_type_tensor(c->arena, dtype, rank, NULL);
	for (int a = 0, k = 0; a < in->rank; a++)
		if (!drop[a])
			out.dims[k++] = in->dims[a];
	c->out[0] = out;
	return NULL;
}

lathe_err infer_unsqueeze(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	LATHE_TRY(mv_need(c, 1, "axes"));
	const lathe_type *in = c->in[0];
	int dtype = mv_dtype(c, 0);
	const lathe_tensor *av = mv_val(c, 1);
	if (!mv_has_rank(in) || !av) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	int64_t *v, n;
	LATHE_TRY(lathe_tensor_ints(c->arena, av, &v, &n));
	if (n > 4096)
		return lathe_error(LATHE_EINVAL, "%lld axes", (long long)n);
	int rank = in->rank + (int)n;
	bool *ins = lathe_arena_new(c->arena, bool, rank + 1);
	for (int64_t k = 0; k < n; k++) {
		int a;
		LATHE_TRY(lathe_norm_axis(v[k], rank, &a));
		if (ins[a])
			return lathe_error(LATHE_EINVAL, "axis %d repeated in axes", a);
		ins[a] = true;
	}
	lathe_type out = lathe_type_tensor(c->arena, dtype, rank, NULL);
	for (int a = 0, k = 0; a < rank; a++)
		out.dims[a] = ins[a] ? mv_dim(1) : in->dims[k++];
	c->out[0] = out;
	return NULL;
}

/* Reshape, Flatten, Squeeze, Unsqueeze: the same elements in the same
 * row-major order under another shape. */
lathe_err lower_copy(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0], *out = c->out_buf[0];
	lathe_te_axes ax = mv_out_axes(c, 0);
	bool same = in->rank == out->rank;
	for (int k = 0; same && k < in->rank; k++)
		same = in->shape[k] == out->shape[k];
	if (same) {
		lathe_te_compute(f, out, ax, lathe_tir_load(f, in, ax.idx));
		return NULL;
	}
	lathe_tir_expr *flat = lathe_te_ravel(f, out->rank, out->shape, ax.idx);
	lathe_tir_expr **idx = mv_idx(f, in->rank);
	lathe_te_unravel(f, flat, in->rank, in->shape, idx);
	lathe_te_compute(f, out, ax, lathe_tir_load(f, in, idx));
	return NULL;
}

/* ---- Transpose ---------------------------------------------------------------- */

/* perm[] of a Transpose for rank, checked to be a permutation. */
static lathe_err transpose_perm(const lathe_node *n, int rank, int *perm)
{
	int64_t np;
	const int64_t *p = lathe_node_attr_ints(n, "perm", &np);
	if (!p) {
		for (int k = 0; k < rank; k++)
			perm[k] = rank - 1 - k;
		return NULL;
	}
	if (np != rank)
		return lathe_error(LATHE_EINVAL, "perm has %lld entries for rank %d",
				   (long long)np, rank);
	for (int k = 0; k < rank; k++) {
		if (p[k] < 0 || p[k] >= rank)
			return lathe_error(LATHE_EINVAL, "perm entry %lld out of range for rank %d",
					   (long long)p[k], rank);
		for (int j = 0; j < k; j++)
			if (perm[j] == p[k])
				return lathe_error(LATHE_EINVAL, "perm repeats %lld", (long long)p[k]);
		perm[k] = (int)p[k];
	}
	return NULL;
}

lathe_err infer_transpose(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	const lathe_type *in = c->in[0];
	int dtype = mv_dtype(c, 0);
	if (!mv_has_rank(in)) {
		int64_t np;
		const int64_t *p = lathe_node_attr_ints(c->node, "perm", &np);
		c->out[0] = lathe_type_tensor(c->arena, dtype, p ? (int)np : -1, NULL);
		return NULL;
	}
	int *perm = lathe_arena_new(c->arena, int, in->rank + 1);
	LATHE_TRY(transpose_perm(c->node, in->rank, perm));
	lathe_type out = lathe_type_tensor(c->arena, dtype, in->rank, NULL);
	for (int k = 0; k < in->rank; k++)
		out.dims[k] = in->dims[perm[k]];
	c->out[0] = out;
	return NULL;
}

lathe_err lower_transpose(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0];
	int *perm = lathe_arena_new(f->arena, int, in->rank + 1);
	LATHE_TRY(transpose_perm(c->node, in->rank, perm));
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr **idx = mv_idx(f, in->rank);
	for (int k = 0; k < in->rank; k++)
		idx[perm[k]] = ax.idx[k];
	lathe_te_compute(f, c->out_buf[0], ax, lathe_tir_load(f, in, idx));
	return NULL;
}

/* ---- Concat -------------------------------------------------------------------- */

lathe_err infer_concat(lathe_infer_ctx *c)
{
	if (c->nin < 1)
		return lathe_error(LATHE_EINVAL, "needs at least one input");
	const lathe_attr *aa = lathe_node_attr(c->node, "axis");
	if (!aa || aa->kind != LATHE_ATTR_INT)
		return lathe_error(LATHE_EINVAL, "attribute 'axis' (int) is required");
	int rank = -1, dtype = LATHE_DT_UNDEF;
	for (int i = 0; i < c->nin; i++) {
		LATHE_TRY(mv_need(c, i, "inputs"));
		const lathe_type *t = c->in[i];
		if (mv_is_tensor(t) && dtype == LATHE_DT_UNDEF)
			dtype = t->dtype;
		if (mv_is_tensor(t) && dtype != t->dtype)
			return lathe_error(LATHE_EINVAL, "input %d is %s, input 0 is %s", i,
					   lathe_dtype_name(t->dtype), lathe_dtype_name(dtype));
		if (!mv_has_rank(t))
			continue;
		if (rank >= 0 && t->rank != rank)
			return lathe_error(LATHE_EINVAL, "input %d has rank %d, others %d", i,
					   t->rank, rank);
		rank = t->rank;
	}
	if (rank < 0) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	int axis;
	LATHE_TRY(lathe_norm_axis(aa->u.i, rank, &axis));
	lathe_type out = lathe_type_tensor(c->arena, dtype, rank, NULL);
	int64_t sum = 0;
	bool sum_known = true;
	for (int i = 0; i < c->nin; i++) {
		const lathe_type *t = c->in[i];
		if (!mv_has_rank(t)) {
			sum_known = false;
			continue;
		}
		for (int k = 0; k < rank; k++) {
			lathe_dim d = t->dims[k];
			if (k == axis) {
				if (mv_dim_known(d))
					sum += d.size;
				else
					sum_known = false;
				continue;
			}
			lathe_dim o = out.dims[k];
			if (mv_dim_known(o) && mv_dim_known(d) && o.size != d.size)
				return lathe_error(LATHE_EINVAL,
						   "input %d has size %lld in dim %d, input 0 %lld", i,
						   (long long)d.size, k, (long long)o.size);
			/* Prefer a constant, then a symbol, to an unknown. */
			if (!mv_dim_known(o) && (mv_dim_known(d) || (o.sym < 0 && d.sym >= 0)))
				out.dims[k] = d;
		}
	}
	out.dims[axis] = sum_known ? mv_dim(sum) : mv_dim_unknown();
	c->out[0] = out;
	return NULL;
}

lathe_err lower_concat(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *out = c->out_buf[0];
	int axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), out->rank, &axis));
	int64_t off = 0;
	for (int i = 0; i < c->nin; i++) {
		LATHE_TRY(mv_need_buf(c, i));
		lathe_tir_buf *in = c->in_buf[i];
		lathe_te_axes ax = lathe_te_axes_new(f, "i", in->rank, in->shape);
		lathe_tir_expr **idx = mv_idx(f, out->rank);
		for (int k = 0; k < out->rank; k++)
			idx[k] = k == axis ? mv_addc(f, ax.idx[k], off) : ax.idx[k];
		lathe_tir_stmt *st = lathe_tir_store(f, out, idx, lathe_tir_load(f, in, ax.idx));
		lathe_tir_append(f, lathe_te_nest(f, ax, st));
		off += in->shape[axis];
	}
	return NULL;
}

/* ---- Split ---------------------------------------------------------------------- */

/* Sizes of Split's outputs along the axis; known[0] false when they cannot
 * be told (unknown dim or split values). */
static lathe_err split_sizes(const lathe_node *n, bool have_split, const lathe_tensor *sv,
			     lathe_arena *a, int nout, lathe_dim dim, int64_t *sizes, bool *known)
{
	*known = false;
	if (have_split) {
		if (!sv)
			return NULL;
		int64_t *v, cnt;
		LATHE_TRY(lathe_tensor_ints(a, sv, &v, &cnt));
		if (cnt != nout)
			return lathe_error(LATHE_EINVAL, "split has %lld entries for %d outputs",
					   (long long)cnt, nout);
		int64_t sum = 0;
		for (int i = 0; i < nout; i++) {
			if (v[i] < 0)
				return lathe_error(LATHE_EINVAL, "split entry %d is %lld", i,
						   (long long)v[i]);
			sizes[i] = v[i];
			sum += v[i];
		}
		if (mv_dim_known(dim) && sum != dim.size)
			return lathe_error(LATHE_EINVAL, "split sums to %lld, the axis has %lld",
					   (long long)sum, (long long)dim.size);
		*known = true;
		return NULL;
	}
	int64_t parts = lathe_node_attr_int(n, "num_outputs", nout);
	if (parts != nout)
		return lathe_error(LATHE_EINVAL, "num_outputs is %lld but the node has %d outputs",
				   (long long)parts, nout);
	if (!mv_dim_known(dim))
		return NULL;
	/* ceil(dim / n) each, the last one smaller when it does not divide. */
	int64_t chunk = nout > 0 ? (dim.size + nout - 1) / nout : 0;
	for (int i = 0; i < nout; i++) {
		int64_t left = dim.size - chunk * i;
		sizes[i] = left < 0 ? 0 : left < chunk ? left : chunk;
	}
	*known = true;
	return NULL;
}

lathe_err infer_split(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "input"));
	const lathe_type *in = c->in[0];
	int dtype = mv_dtype(c, 0);
	if (!mv_has_rank(in)) {
		for (int j = 0; j < c->nout; j++)
			c->out[j] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	int axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), in->rank, &axis));
	int64_t *sizes = lathe_arena_new(c->arena, int64_t, c->nout + 1);
	bool known;
	LATHE_TRY(split_sizes(c->node, mv_in(c, 1) != NULL, mv_val(c, 1), c->arena, c->nout,
			      in->dims[axis], sizes, &known));
	for (int j = 0; j < c->nout; j++) {
		lathe_type o = lathe_type_like(c->arena, in);
		o.dims[axis] = known ? mv_dim(sizes[j]) : mv_dim_unknown();
		if (c->nout == 1 && !mv_in(c, 1))
			o.dims[axis] = in->dims[axis];
		c->out[j] = o;
	}
	return NULL;
}

lathe_err lower_split(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0];
	int axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), in->rank, &axis));
	int64_t off = 0;
	for (int j = 0; j < c->nout; j++) {
		lathe_te_axes ax = mv_out_axes(c, j);
		lathe_tir_expr **idx = mv_idx(f, in->rank);
		for (int k = 0; k < in->rank; k++)
			idx[k] = k == axis ? mv_addc(f, ax.idx[k], off) : ax.idx[k];
		lathe_te_compute(f, c->out_buf[j], ax, lathe_tir_load(f, in, idx));
		off += c->out_buf[j]->shape[axis];
	}
	if (off != in->shape[axis])
		return lathe_error(LATHE_EINVAL, "outputs cover %lld of the axis's %lld",
				   (long long)off, (long long)in->shape[axis]);
	return NULL;
}

/* ---- Slice ---------------------------------------------------------------------- */

/* Per dim of the input: first index, step and count of the slice (count -1
 * when the dim is not known).  Parameters not known leave known false. */
typedef struct slice_plan {
	int64_t *start, *step, *count;
	bool *touched; /* dims named by the slice's axes */
	bool known;
} slice_plan;

static lathe_err slice_plan_make(lathe_arena *a, int rank, const lathe_dim *dims,
				 const lathe_tensor *const *vals, const bool *present,
				 slice_plan *p)
{
	p->start = lathe_arena_new(a, int64_t, rank + 1);
	p->step = lathe_arena_new(a, int64_t, rank + 1);
	p->count = lathe_arena_new(a, int64_t, rank + 1);
	p->touched = lathe_arena_new(a, bool, rank + 1);
	p->known = false;
	for (int k = 0; k < rank; k++) {
		p->step[k] = 1;
		p->count[k] = mv_dim_known(dims[k]) ? dims[k].size : -1;
	}
	/* vals: starts, ends, axes, steps (inputs 1..4). */
	if (!vals[0] || !vals[1] || (present[2] && !vals[2]) || (present[3] && !vals[3]))
		return NULL;
	int64_t *st, *en, *ax = NULL, *sp = NULL, n, n2, n3 = 0, n4 = 0;
	LATHE_TRY(lathe_tensor_ints(a, vals[0], &st, &n));
	LATHE_TRY(lathe_tensor_ints(a, vals[1], &en, &n2));
	if (vals[2])
		LATHE_TRY(lathe_tensor_ints(a, vals[2], &ax, &n3));
	if (vals[3])
		LATHE_TRY(lathe_tensor_ints(a, vals[3], &sp, &n4));
	if (n2 != n || (ax && n3 != n) || (sp && n4 != n))
		return lathe_error(LATHE_EINVAL,
				   "starts, ends, axes and steps must have the same length");
	bool *seen = p->touched;
	for (int64_t i = 0; i < n; i++) {
		int d = (int)i;
		if (ax)
			LATHE_TRY(lathe_norm_axis(ax[i], rank, &d));
		else if (i >= rank)
			return lathe_error(LATHE_EINVAL, "%lld starts for rank %d", (long long)n, rank);
		if (seen[d])
			return lathe_error(LATHE_EINVAL, "axis %d sliced twice", d);
		seen[d] = true;
		int64_t step = sp ? sp[i] : 1;
		if (step == 0)
			return lathe_error(LATHE_EINVAL, "step of axis %d is 0", d);
		p->step[d] = step;
		if (!mv_dim_known(dims[d]))
			continue;
		int64_t dim = dims[d].size, s = st[i], e = en[i];
		if (s < 0)
			s += dim;
		if (e < 0)
			e += dim;
		int64_t cnt;
		if (step > 0) {
			s = s < 0 ? 0 : s > dim ? dim : s;
			e = e < 0 ? 0 : e > dim ? dim : e;
			cnt = e > s ? (e - s + step - 1) / step : 0;
		} else {
			s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
			e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
			cnt = s > e ? (s - e + (-step) - 1) / (-step) : 0;
		}
		p->start[d] = s;
		p->count[d] = cnt;
	}
	p->known = true;
	return NULL;
}

static lathe_err slice_plan_infer(lathe_infer_ctx *c, const lathe_type *in, slice_plan *p)
{
	const lathe_tensor *vals[4];
	bool present[4];
	for (int i = 0; i < 4; i++) {
		vals[i] = mv_val(c, i + 1);
		present[i] = mv_in(c, i + 1) != NULL;
	}
	return slice_plan_make(c->arena, in->rank, in->dims, vals, present, p);
}

lathe_err infer_slice(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	LATHE_TRY(mv_need(c, 1, "starts"));
	LATHE_TRY(mv_need(c, 2, "ends"));
	const lathe_type *in = c->in[0];
	int dtype = mv_dtype(c, 0);
	if (!mv_has_rank(in)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	slice_plan p;
	LATHE_TRY(slice_plan_infer(c, in, &p));
	lathe_type out = lathe_type_like(c->arena, in);
	for (int k = 0; k < in->rank; k++) {
		if (!p.known)
			out.dims[k] = mv_dim_unknown();
		else if (p.touched[k])
			out.dims[k] = p.count[k] >= 0 ? mv_dim(p.count[k]) : mv_dim_unknown();
	}
	c->out[0] = out;
	return NULL;
}

lathe_err lower_slice(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0];
	const lathe_type *t = c->in[0];
	const lathe_tensor *vals[4];
	bool present[4];
	for (int i = 0; i < 4; i++) {
		present[i] = i + 1 < c->nin && c->in[i + 1];
		vals[i] = present[i] ? c->in_val[i + 1] : NULL;
	}
	slice_plan p;
	LATHE_TRY(slice_plan_make(f->arena, t->rank, t->dims, vals, present, &p));
	if (!p.known)
		return lathe_error(LATHE_EINVAL, "slice parameters are not known");
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr **idx = mv_idx(f, in->rank);
	for (int k = 0; k < in->rank; k++)
		idx[k] = mv_addc(f, mv_mulc(f, ax.idx[k], p.step[k]), p.start[k]);
	lathe_te_compute(f, c->out_buf[0], ax, lathe_tir_load(f, in, idx));
	return NULL;
}

/* ---- Expand, Tile ---------------------------------------------------------------- */

lathe_err infer_expand(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "input"));
	LATHE_TRY(mv_need(c, 1, "shape"));
	const lathe_type *in = c->in[0];
	int dtype = mv_dtype(c, 0);
	const lathe_tensor *sv = mv_val(c, 1);
	if (!sv || !mv_has_rank(in)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	int64_t *v, n;
	LATHE_TRY(lathe_tensor_ints(c->arena, sv, &v, &n));
	if (n > 4096)
		return lathe_error(LATHE_EINVAL, "shape has %lld entries", (long long)n);
	int rank = in->rank > n ? in->rank : (int)n;
	lathe_type out = lathe_type_tensor(c->arena, dtype, rank, NULL);
	for (int k = 0; k < rank; k++) {
		int ki = k - (rank - in->rank), ks = k - (rank - (int)n);
		lathe_dim a = ki >= 0 ? in->dims[ki] : mv_dim(1);
		int64_t b = ks >= 0 ? v[ks] : 1;
		if (b < 0)
			return lathe_error(LATHE_EINVAL, "shape entry %d is %lld", ks, (long long)b);
		if (b == 1)
			out.dims[k] = a;
		else if (mv_dim_known(a) && a.size != 1 && a.size != b)
			return lathe_error(LATHE_EINVAL,
					   "cannot expand dim of size %lld to %lld", (long long)a.size,
					   (long long)b);
		else
			out.dims[k] = mv_dim(b);
	}
	c->out[0] = out;
	return NULL;
}

lathe_err lower_expand(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_te_compute(c->fn, c->out_buf[0], ax, lathe_te_load_bcast(c->fn, c->in_buf[0], ax));
	return NULL;
}

lathe_err infer_tile(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "input"));
	LATHE_TRY(mv_need(c, 1, "repeats"));
	const lathe_type *in = c->in[0];
	int dtype = mv_dtype(c, 0);
	if (!mv_has_rank(in)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	lathe_type out = lathe_type_tensor(c->arena, dtype, in->rank, NULL);
	const lathe_tensor *rv = mv_val(c, 1);
	if (!rv) {
		c->out[0] = out;
		return NULL;
	}
	int64_t *v, n;
	LATHE_TRY(lathe_tensor_ints(c->arena, rv, &v, &n));
	if (n != in->rank)
		return lathe_error(LATHE_EINVAL, "repeats has %lld entries for rank %d",
				   (long long)n, in->rank);
	for (int k = 0; k < in->rank; k++) {
		if (v[k] < 0)
			return lathe_error(LATHE_EINVAL, "repeats entry %d is %lld", k,
					   (long long)v[k]);
		lathe_dim d = in->dims[k];
		if (v[k] == 1)
			out.dims[k] = d;
		else if (mv_dim_known(d))
			out.dims[k] = mv_dim(d.size * v[k]);
	}
	c->out[0] = out;
	return NULL;
}

lathe_err lower_tile(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0];
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr **idx = mv_idx(f, in->rank);
	for (int k = 0; k < in->rank; k++) {
		int64_t d = in->shape[k];
		if (d == 1)
			idx[k] = lathe_tir_i64(f, 0);
		else if (d == c->out_buf[0]->shape[k] || d == 0)
			idx[k] = ax.idx[k];
		else
			idx[k] = lathe_tir_binary(f, LATHE_TIR_FLOORMOD, ax.idx[k], lathe_tir_i64(f, d));
	}
	lathe_te_compute(f, c->out_buf[0], ax, lathe_tir_load(f, in, idx));
	return NULL;
}
