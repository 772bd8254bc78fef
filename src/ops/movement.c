/* movement.c: data-movement ops with index arithmetic of their own: Pad,
 * ConstantOfShape, Range, EyeLike, Trilu, DepthToSpace, SpaceToDepth,
 * CenterCropPad and ReverseSequence.
 *
 * Each op is one compute over its output: the output index is mapped back
 * to the input element it copies (or to a fill value where there is none).
 * Index maps that could leave the input (padding, cropping) are guarded by a
 * condition and clamped, so no load is ever out of bounds whatever the
 * backend evaluates.  Values that decide shapes (pads, Range's bounds,
 * ConstantOfShape's shape, Trilu's k) are parameter inputs, read at
 * inference and lowering; other inputs (Pad's constant_value,
 * ReverseSequence's lengths) are data, loaded inside the loops.
 */
#include <math.h>
#include <string.h>

#include "ops/movement.h"

/* A constant of any numeric dtype (lathe_tir_float converts with Cast's
 * rules for integer types). */
static lathe_tir_expr *const_of(lathe_tir_func *f, int dtype, double v)
{
	return lathe_tir_float(f, dtype, v);
}

/* ---- Pad ----------------------------------------------------------------------- */

/* Pads at the start and end of every dim, from the pads and axes inputs.
 * Returns false in *known when their values are not at hand. */
static lathe_err pad_amounts(lathe_arena *a, int rank, const lathe_tensor *pv, bool have_axes,
			     const lathe_tensor *av, int64_t *begin, int64_t *end, bool *known)
{
	*known = false;
	for (int k = 0; k < rank; k++)
		begin[k] = end[k] = 0;
	if (!pv || (have_axes && !av))
		return NULL;
	int64_t *p, np, *ax = NULL, na = rank;
	LATHE_TRY(lathe_tensor_ints(a, pv, &p, &np));
	if (av)
		LATHE_TRY(lathe_tensor_ints(a, av, &ax, &na));
	if (np != 2 * na)
		return lathe_error(LATHE_EINVAL, "pads has %lld entries for %lld axes", (long long)np,
				   (long long)na);
	for (int64_t i = 0; i < na; i++) {
		int d = (int)i;
		if (ax)
			LATHE_TRY(lathe_norm_axis(ax[i], rank, &d));
		begin[d] = p[i];
		end[d] = p[na + i];
	}
	*known = true;
	return NULL;
}

lathe_err infer_pad(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	LATHE_TRY(mv_need(c, 1, "pads"));
	const lathe_type *in = c->in[0];
	if (!mv_has_rank(in)) {
		c->out[0] = lathe_type_tensor(c->arena, mv_dtype(c, 0), -1, NULL);
		return NULL;
	}
	int64_t *b = lathe_arena_new(c->arena, int64_t, in->rank + 1);
	int64_t *e = lathe_arena_new(c->arena, int64_t, in->rank + 1);
	bool known;
	LATHE_TRY(pad_amounts(c->arena, in->rank, mv_val(c, 1), mv_in(c, 3) != NULL, mv_val(c, 3),
			      b, e, &known));
	lathe_type out = lathe_type_like(c->arena, in);
	for (int k = 0; k < in->rank; k++) {
		lathe_dim d = in->dims[k];
		if (!known) {
			out.dims[k] = mv_dim_unknown();
		} else if ((b[k] || e[k]) && mv_dim_known(d)) {
			int64_t n = d.size + b[k] + e[k];
			if (n < 0)
				return lathe_error(LATHE_EINVAL, "pads %lld and %lld make dim %d of size %lld negative",
						   (long long)b[k], (long long)e[k], k, (long long)d.size);
			out.dims[k] = mv_dim(n);
		} else if (b[k] || e[k]) {
			out.dims[k] = mv_dim_unknown();
		}
	}
	c->out[0] = out;
	return NULL;
}

/* src clamped into [0, d), with "src lies in [0, d)" and-ed into *inside. */
static lathe_tir_expr *clamp_guarded(lathe_tir_func *f, lathe_tir_expr *src, int64_t d,
				     lathe_tir_expr **inside)
{
	lathe_tir_expr *ok = mv_in_range(f, src, 0, d);
	*inside = *inside ? mv_bin(f, LATHE_TIR_AND, *inside, ok) : ok;
	return mv_clamp(f, src, 0, d - 1);
}

/* out = in[idx] where inside holds (everywhere when inside is NULL), fill
 * elsewhere; an empty input leaves only fill. */
static void compute_padded(lathe_tir_func *f, lathe_tir_buf *out, lathe_te_axes ax,
			   lathe_tir_buf *in, lathe_tir_expr **idx, lathe_tir_expr *inside,
			   bool empty, lathe_tir_expr *fill)
{
	lathe_tir_expr *v;
	if (empty)
		v = fill;
	else if (inside)
		v = lathe_tir_select(f, inside, lathe_tir_load(f, in, idx), fill);
	else
		v = lathe_tir_load(f, in, idx);
	lathe_te_compute(f, out, ax, v);
}

lathe_err lower_pad(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0], *out = c->out_buf[0];
	int rank = in->rank;
	int64_t *b = lathe_arena_new(f->arena, int64_t, rank + 1);
	int64_t *e = lathe_arena_new(f->arena, int64_t, rank + 1);
	bool known;
	bool have_axes = c->nin > 3 && c->in[3];
	LATHE_TRY(pad_amounts(f->arena, rank, c->nin > 1 ? c->in_val[1] : NULL, have_axes,
			      have_axes ? c->in_val[3] : NULL, b, e, &known));
	if (!known)
		return lathe_error(LATHE_EINVAL, "pads are not known");
	const char *mode = lathe_node_attr_str(c->node, "mode", "constant");
	enum { CONSTANT, REFLECT, EDGE, WRAP } m;
	if (!strcmp(mode, "constant"))
		m = CONSTANT;
	else if (!strcmp(mode, "reflect"))
		m = REFLECT;
	else if (!strcmp(mode, "edge"))
		m = EDGE;
	else if (!strcmp(mode, "wrap"))
		m = WRAP;
	else
		return lathe_error(LATHE_EINVAL, "unknown mode '%s' (constant, reflect, edge, wrap)",
				   mode);
	lathe_tir_expr *fill = const_of(f, out->dtype, 0);
	lathe_tir_buf *cv = mv_buf(c, 2);
	if (m == CONSTANT && cv && lathe_type_numel(c->in[2]) > 0)
		fill = mv_load_first(f, cv);
	if (fill->dtype != out->dtype)
		fill = lathe_tir_cast(f, out->dtype, fill);

	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr **idx = mv_idx(f, rank);
	lathe_tir_expr *inside = NULL;
	bool empty = false;
	for (int k = 0; k < rank; k++) {
		int64_t d = in->shape[k];
		lathe_tir_expr *src = mv_addc(f, ax.idx[k], -b[k]);
		if (d == 0) {
			if (out->shape[k] > 0 && m != CONSTANT)
				return lathe_error(LATHE_EINVAL,
						   "cannot pad empty dim %d in mode '%s'", k, mode);
			empty = true;
			idx[k] = ax.idx[k];
			continue;
		}
		if (b[k] == 0 && e[k] == 0) {
			idx[k] = ax.idx[k];
			continue;
		}
		switch (m) {
		case CONSTANT:
			idx[k] = clamp_guarded(f, src, d, &inside);
			break;
		case EDGE:
			idx[k] = mv_clamp(f, src, 0, d - 1);
			break;
		case WRAP:
			idx[k] = mv_bin(f, LATHE_TIR_FLOORMOD, src, mv_i64(f, d));
			break;
		case REFLECT: {
			if (d == 1) {
				idx[k] = mv_i64(f, 0);
				break;
			}
			/* Reflection without repeating the edge has period 2(d-1). */
			lathe_tir_expr *r = mv_bin(f, LATHE_TIR_FLOORMOD, src, mv_i64(f, 2 * (d - 1)));
			idx[k] = lathe_tir_select(f, mv_bin(f, LATHE_TIR_LT, r, mv_i64(f, d)), r,
						  mv_bin(f, LATHE_TIR_SUB, mv_i64(f, 2 * (d - 1)), r));
			break;
		}
		}
	}
	compute_padded(f, out, ax, in, idx, inside, empty, fill);
	return NULL;
}

/* ---- ConstantOfShape --------------------------------------------------------------- */

static const lathe_tensor *fill_value(const lathe_node *n)
{
	const lathe_attr *a = lathe_node_attr(n, "value");
	return a && a->kind == LATHE_ATTR_TENSOR ? a->u.t : NULL;
}

lathe_err infer_constant_of_shape(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "input"));
	const lathe_tensor *v = fill_value(c->node);
	if (v && lathe_tensor_numel(v) != 1)
		return lathe_error(LATHE_EINVAL, "value must hold one element, has %lld",
				   (long long)lathe_tensor_numel(v));
	int dtype = v ? v->dtype : LATHE_DT_F32;
	const lathe_tensor *sv = mv_val(c, 0);
	if (!sv) {
		const lathe_type *st = c->in[0];
		int rank = mv_has_rank(st) && st->rank == 1 && mv_dim_known(st->dims[0])
				   ? (int)st->dims[0].size : -1;
		c->out[0] = lathe_type_tensor(c->arena, dtype, rank, NULL);
		return NULL;
	}
	int64_t *s, n;
	LATHE_TRY(lathe_tensor_ints(c->arena, sv, &s, &n));
	if (n > 4096)
		return lathe_error(LATHE_EINVAL, "shape has %lld entries", (long long)n);
	for (int64_t k = 0; k < n; k++)
		if (s[k] < 0)
			return lathe_error(LATHE_EINVAL, "shape entry %lld is %lld", (long long)k,
					   (long long)s[k]);
	c->out[0] = lathe_type_tensor(c->arena, dtype, (int)n, s);
	return NULL;
}

lathe_err lower_constant_of_shape(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *out = c->out_buf[0];
	const lathe_tensor *v = fill_value(c->node);
	lathe_tir_expr *x;
	if (!v)
		x = const_of(f, out->dtype, 0);
	else if (lathe_dtype_is_float(v->dtype))
		x = lathe_tir_float(f, out->dtype, lathe_rt_load_f64(v, 0));
	else
		x = lathe_tir_int(f, out->dtype, lathe_rt_load_i64(v, 0));
	lathe_te_compute(f, out, mv_out_axes(c, 0), x);
	return NULL;
}

/* ---- Range ----------------------------------------------------------------------- */

static lathe_err range_count(const lathe_tensor *s, const lathe_tensor *l, const lathe_tensor *d,
			     int64_t *out)
{
	if (lathe_tensor_numel(s) != 1 || lathe_tensor_numel(l) != 1 || lathe_tensor_numel(d) != 1)
		return lathe_error(LATHE_EINVAL, "start, limit and delta must be scalars");
	double n;
	if (lathe_dtype_is_float(s->dtype)) {
		double a = lathe_rt_load_f64(s, 0), b = lathe_rt_load_f64(l, 0);
		double step = lathe_rt_load_f64(d, 0);
		if (step == 0 || isnan(step))
			return lathe_error(LATHE_EINVAL, "delta is %g", step);
		n = ceil((b - a) / step);
	} else {
		int64_t a = lathe_rt_load_i64(s, 0), b = lathe_rt_load_i64(l, 0);
		int64_t step = lathe_rt_load_i64(d, 0);
		if (step == 0)
			return lathe_error(LATHE_EINVAL, "delta is 0");
		/* In double first so that a huge span is caught, not wrapped. */
		n = ceil(((double)b - (double)a) / (double)step);
		if (n > 0 && n < 9e15) {
			int64_t span = step > 0 ? b - a : a - b, st = step > 0 ? step : -step;
			n = (double)((span + st - 1) / st);
		}
	}
	if (isnan(n) || n > (double)((int64_t)1 << 40))
		return lathe_error(LATHE_EINVAL, "range of %g elements", n);
	*out = n > 0 ? (int64_t)n : 0;
	return NULL;
}

lathe_err infer_range(lathe_infer_ctx *c)
{
	for (int i = 0; i < 3; i++)
		LATHE_TRY(mv_need(c, i, i == 0 ? "start" : i == 1 ? "limit" : "delta"));
	int dtype = mv_dtype(c, 0);
	const lathe_tensor *s = mv_val(c, 0), *l = mv_val(c, 1), *d = mv_val(c, 2);
	if (!s || !l || !d) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, 1, NULL);
		return NULL;
	}
	int64_t n;
	LATHE_TRY(range_count(s, l, d, &n));
	c->out[0] = lathe_type_tensor(c->arena, s->dtype, 1, &n);
	return NULL;
}

lathe_err lower_range(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *out = c->out_buf[0];
	if (c->nin < 3 || !c->in_val[0] || !c->in_val[2])
		return lathe_error(LATHE_EINVAL, "start and delta are not known");
	const lathe_tensor *s = c->in_val[0], *d = c->in_val[2];
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr *v;
	if (lathe_dtype_is_float(out->dtype)) {
		lathe_tir_expr *i = lathe_tir_cast(f, LATHE_DT_F64, ax.idx[0]);
		v = mv_bin(f, LATHE_TIR_ADD, lathe_tir_float(f, LATHE_DT_F64, lathe_rt_load_f64(s, 0)),
			   mv_bin(f, LATHE_TIR_MUL, i,
				  lathe_tir_float(f, LATHE_DT_F64, lathe_rt_load_f64(d, 0))));
	} else {
		v = mv_bin(f, LATHE_TIR_ADD, mv_i64(f, lathe_rt_load_i64(s, 0)),
			   mv_bin(f, LATHE_TIR_MUL, ax.idx[0], mv_i64(f, lathe_rt_load_i64(d, 0))));
	}
	lathe_te_compute(f, out, ax, v->dtype == out->dtype ? v : lathe_tir_cast(f, out->dtype, v));
	return NULL;
}

/* ---- EyeLike, Trilu ----------------------------------------------------------------- */

lathe_err infer_eyelike(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "input"));
	const lathe_type *in = c->in[0];
	if (mv_has_rank(in) && in->rank != 2)
		return lathe_error(LATHE_EINVAL, "input must be 2-D, has rank %d", in->rank);
	int dtype = (int)lathe_node_attr_int(c->node, "dtype", mv_dtype(c, 0));
	if (!lathe_dtype_size(dtype) || dtype == LATHE_DT_STR)
		return lathe_error(LATHE_EINVAL, "dtype %d is not a numeric element type", dtype);
	c->out[0] = mv_has_rank(in) ? lathe_type_with_dtype(c->arena, in, dtype)
				    : lathe_type_tensor(c->arena, dtype, 2, NULL);
	return NULL;
}

lathe_err lower_eyelike(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *out = c->out_buf[0];
	int64_t k = lathe_node_attr_int(c->node, "k", 0);
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr *diag = mv_bin(f, LATHE_TIR_EQ, mv_bin(f, LATHE_TIR_SUB, ax.idx[1], ax.idx[0]),
				      mv_i64(f, k));
	lathe_te_compute(f, out, ax,
			 lathe_tir_select(f, diag, const_of(f, out->dtype, 1),
					  const_of(f, out->dtype, 0)));
	return NULL;
}

lathe_err lower_trilu(lathe_lower_ctx *c)
{
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0], *out = c->out_buf[0];
	if (in->rank < 2)
		return lathe_error(LATHE_EINVAL, "input must have rank 2 or more, has %d", in->rank);
	int64_t k = 0;
	if (c->nin > 1 && c->in[1]) {
		const lathe_tensor *kv = c->in_val[1];
		if (!kv || lathe_tensor_numel(kv) != 1)
			return lathe_error(LATHE_EINVAL, "k must be a known scalar");
		k = lathe_rt_load_i64(kv, 0);
	}
	bool upper = lathe_node_attr_int(c->node, "upper", 1) != 0;
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr *diff = mv_bin(f, LATHE_TIR_SUB, ax.idx[in->rank - 1], ax.idx[in->rank - 2]);
	lathe_tir_expr *keep = mv_bin(f, upper ? LATHE_TIR_GE : LATHE_TIR_LE, diff, mv_i64(f, k));
	lathe_te_compute(f, out, ax,
			 lathe_tir_select(f, keep, lathe_tir_load(f, in, ax.idx),
					  const_of(f, out->dtype, 0)));
	return NULL;
}

/* ---- DepthToSpace, SpaceToDepth ------------------------------------------------------- */

static lathe_err blocksize(const lathe_node *n, int64_t *b)
{
	*b = lathe_node_attr_int(n, "blocksize", 0);
	if (*b <= 0)
		return lathe_error(LATHE_EINVAL, "blocksize must be positive, is %lld", (long long)*b);
	return NULL;
}

/* Shared inference: channels divided (to_space) or multiplied by b*b and
 * the spatial dims the other way. */
static lathe_err infer_blocks(lathe_infer_ctx *c, bool to_space)
{
	LATHE_TRY(mv_need(c, 0, "input"));
	int64_t b;
	LATHE_TRY(blocksize(c->node, &b));
	const lathe_type *in = c->in[0];
	if (!mv_has_rank(in)) {
		c->out[0] = lathe_type_tensor(c->arena, mv_dtype(c, 0), 4, NULL);
		return NULL;
	}
	if (in->rank != 4)
		return lathe_error(LATHE_EINVAL, "input must be 4-D (N,C,H,W), has rank %d", in->rank);
	lathe_type out = lathe_type_like(c->arena, in);
	lathe_dim ch = in->dims[1];
	if (to_space) {
		if (mv_dim_known(ch) && ch.size % (b * b))
			return lathe_error(LATHE_EINVAL, "%lld channels do not divide by blocksize^2 = %lld",
					   (long long)ch.size, (long long)(b * b));
		out.dims[1] = mv_dim_known(ch) ? mv_dim(ch.size / (b * b)) : mv_dim_unknown();
	} else {
		out.dims[1] = mv_dim_known(ch) ? mv_dim(ch.size * b * b) : mv_dim_unknown();
	}
	for (int k = 2; k < 4; k++) {
		lathe_dim d = in->dims[k];
		if (!mv_dim_known(d)) {
			out.dims[k] = mv_dim_unknown();
		} else if (to_space) {
			out.dims[k] = mv_dim(d.size * b);
		} else {
			if (d.size % b)
				return lathe_error(LATHE_EINVAL, "dim %d (%lld) does not divide by blocksize %lld",
						   k, (long long)d.size, (long long)b);
			out.dims[k] = mv_dim(d.size / b);
		}
	}
	c->out[0] = out;
	return NULL;
}

lathe_err infer_depth_to_space(lathe_infer_ctx *c)
{
	return infer_blocks(c, true);
}

lathe_err infer_space_to_depth(lathe_infer_ctx *c)
{
	return infer_blocks(c, false);
}

lathe_err lower_depth_to_space(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	int64_t b;
	LATHE_TRY(blocksize(c->node, &b));
	const char *mode = lathe_node_attr_str(c->node, "mode", "DCR");
	bool crd = !strcmp(mode, "CRD");
	if (!crd && strcmp(mode, "DCR"))
		return lathe_error(LATHE_EINVAL, "unknown mode '%s' (DCR, CRD)", mode);
	lathe_tir_buf *out = c->out_buf[0];
	int64_t oc = out->shape[1];
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr *by = mv_bin(f, LATHE_TIR_FLOORMOD, ax.idx[2], mv_i64(f, b));
	lathe_tir_expr *bx = mv_bin(f, LATHE_TIR_FLOORMOD, ax.idx[3], mv_i64(f, b));
	lathe_tir_expr *blk = mv_bin(f, LATHE_TIR_ADD, mv_mulc(f, by, b), bx);
	lathe_tir_expr *idx[4];
	idx[0] = ax.idx[0];
	/* DCR: depth is (block row, block col, channel); CRD: (channel, row, col). */
	idx[1] = crd ? mv_bin(f, LATHE_TIR_ADD, mv_mulc(f, ax.idx[1], b * b), blk)
		     : mv_bin(f, LATHE_TIR_ADD, mv_mulc(f, blk, oc), ax.idx[1]);
	idx[2] = mv_bin(f, LATHE_TIR_FLOORDIV, ax.idx[2], mv_i64(f, b));
	idx[3] = mv_bin(f, LATHE_TIR_FLOORDIV, ax.idx[3], mv_i64(f, b));
	lathe_te_compute(f, out, ax, lathe_tir_load(f, c->in_buf[0], idx));
	return NULL;
}

lathe_err lower_space_to_depth(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	int64_t b;
	LATHE_TRY(blocksize(c->node, &b));
	lathe_tir_buf *in = c->in_buf[0];
	int64_t ic = in->shape[1];
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr *blk = mv_bin(f, LATHE_TIR_FLOORDIV, ax.idx[1], mv_i64(f, ic > 0 ? ic : 1));
	lathe_tir_expr *by = mv_bin(f, LATHE_TIR_FLOORDIV, blk, mv_i64(f, b));
	lathe_tir_expr *bx = mv_bin(f, LATHE_TIR_FLOORMOD, blk, mv_i64(f, b));
	lathe_tir_expr *idx[4];
	idx[0] = ax.idx[0];
	idx[1] = mv_bin(f, LATHE_TIR_FLOORMOD, ax.idx[1], mv_i64(f, ic > 0 ? ic : 1));
	idx[2] = mv_bin(f, LATHE_TIR_ADD, mv_mulc(f, ax.idx[2], b), by);
	idx[3] = mv_bin(f, LATHE_TIR_ADD, mv_mulc(f, ax.idx[3], b), bx);
	lathe_te_compute(f, c->out_buf[0], ax, lathe_tir_load(f, in, idx));
	return NULL;
}

/* ---- CenterCropPad ------------------------------------------------------------------- */

/* target[d] for every dim (the input's own size where no axis names it),
 * or *known false. */
static lathe_err crop_targets(lathe_arena *a, const lathe_node *n, int rank,
			      const lathe_tensor *sv, int64_t *target, bool *named, bool *known)
{
	*known = false;
	for (int k = 0; k < rank; k++)
		named[k] = false;
	if (!sv)
		return NULL;
	int64_t *s, ns, na;
	LATHE_TRY(lathe_tensor_ints(a, sv, &s, &ns));
	const int64_t *axes = lathe_node_attr_ints(n, "axes", &na);
	if (!axes)
		na = rank;
	if (ns != na)
		return lathe_error(LATHE_EINVAL, "shape has %lld entries for %lld axes",
				   (long long)ns, (long long)na);
	for (int64_t i = 0; i < na; i++) {
		int d = (int)i;
		if (axes)
			LATHE_TRY(lathe_norm_axis(axes[i], rank, &d));
		if (named[d])
			return lathe_error(LATHE_EINVAL, "axis %d repeated", d);
		if (s[i] < 0)
			return lathe_error(LATHE_EINVAL, "shape entry %lld is %lld", (long long)i,
					   (long long)s[i]);
		named[d] = true;
		target[d] = s[i];
	}
	*known = true;
	return NULL;
}

lathe_err infer_center_crop_pad(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "input_data"));
	LATHE_TRY(mv_need(c, 1, "shape"));
	const lathe_type *in = c->in[0];
	if (!mv_has_rank(in)) {
		c->out[0] = lathe_type_tensor(c->arena, mv_dtype(c, 0), -1, NULL);
		return NULL;
	}
	int64_t *t = lathe_arena_new(c->arena, int64_t, in->rank + 1);
	bool *named = lathe_arena_new(c->arena, bool, in->rank + 1), known;
	LATHE_TRY(crop_targets(c->arena, c->node, in->rank, mv_val(c, 1), t, named, &known));
	lathe_type out = lathe_type_like(c->arena, in);
	for (int k = 0; k < in->rank; k++)
		if (!known)
			out.dims[k] = mv_dim_unknown();
		else if (named[k])
			out.dims[k] = mv_dim(t[k]);
	c->out[0] = out;
	return NULL;
}

lathe_err lower_center_crop_pad(lathe_lower_ctx *c)
{
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0], *out = c->out_buf[0];
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr **idx = mv_idx(f, in->rank);
	lathe_tir_expr *inside = NULL;
	bool empty = false;
	for (int k = 0; k < in->rank; k++) {
		int64_t d = in->shape[k], o = out->shape[k];
		/* Cropping starts (d-o)/2 into the input; padding puts the input
		 * (o-d)/2 into the output: either way out[i] = in[i + off]. */
		int64_t off = o <= d ? (d - o) / 2 : -((o - d) / 2);
		lathe_tir_expr *src = mv_addc(f, ax.idx[k], off);
		if (d == 0)
			empty = true;
		if (o > d && d > 0)
			src = clamp_guarded(f, src, d, &inside);
		idx[k] = src;
	}
	compute_padded(f, out, ax, in, idx, inside, empty, const_of(f, out->dtype, 0));
	return NULL;
}

/* ---- ReverseSequence ------------------------------------------------------------------- */

lathe_err lower_reverse_sequence(lathe_lower_ctx *c)
{
	LATHE_TRY(mv_need_buf(c, 0));
	LATHE_TRY(mv_need_buf(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0], *lens = c->in_buf[1];
	if (in->rank < 2)
		return lathe_error(LATHE_EINVAL, "input must have rank 2 or more, has %d", in->rank);
	int bax, tax;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "batch_axis", 1), in->rank, &bax));
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "time_axis", 0), in->rank, &tax));
	if (bax == tax)
		return lathe_error(LATHE_EINVAL, "batch_axis and time_axis are both %d", bax);
	if (lens->rank != 1 || lens->shape[0] != in->shape[bax])
		return lathe_error(LATHE_EINVAL, "sequence_lens must have shape [%lld]",
				   (long long)in->shape[bax]);
	int64_t steps = in->shape[tax];
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr *bi = ax.idx[bax];
	lathe_tir_expr *len = mv_clamp(f, mv_to_i64(f, lathe_tir_load(f, lens, &bi)), 0, steps);
	lathe_tir_expr *t = ax.idx[tax];
	lathe_tir_expr *rev = mv_bin(f, LATHE_TIR_SUB, mv_addc(f, len, -1), t);
	lathe_tir_expr **idx = mv_idx(f, in->rank);
	for (int k = 0; k < in->rank; k++)
		idx[k] = ax.idx[k];
	idx[tax] = lathe_tir_select(f, mv_bin(f, LATHE_TIR_LT, t, len), rev, t);
	lathe_te_compute(f, c->out_buf[0], ax, lathe_tir_load(f, in, idx));
	return NULL;
}
