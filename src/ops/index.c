/* index.c: the indexing ops: Gather, GatherElements, GatherND, Scatter,
 * ScatterElements, ScatterND, TensorScatter, OneHot, ArrayFeatureExtractor
 * (loop programs) and Compress, NonZero, TopK, Unique, NonMaxSuppression
 * (extern kernels in runtime/src/k_index.c; their output sizes depend on
 * the data, or their meaning is a sort).  Resampling ops are in resize.c.
 *
 * Index tensors are data: they are loaded inside the loop program, converted
 * to i64, and negative values are counted from the end of their dim with a
 * select.  An index still out of range after that is an access out of
 * bounds, which the interpreter reports as an error instead of performing.
 *
 * Scatter ops are two loop nests in order: a copy of the data into the
 * output, then a serial walk over the updates that stores each one (or
 * combines it with the value already there, for the reduction modes), so
 * duplicate indices resolve in the order of the updates, as the ONNX
 * reference does.
 */
#include <string.h>

#include "lathe_rt_k_index.h"
#include "ops/movement.h"

/* ---- Gather ------------------------------------------------------------------------- */

lathe_err infer_gather(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	LATHE_TRY(mv_need(c, 1, "indices"));
	const lathe_type *data = c->in[0], *ind = c->in[1];
	int dtype = mv_dtype(c, 0);
	if (!mv_has_rank(data) || !mv_has_rank(ind)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	if (data->rank < 1)
		return lathe_error(LATHE_EINVAL, "data must have rank 1 or more");
	int axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), data->rank, &axis));
	int q = ind->rank, rank = data->rank + q - 1;
	lathe_type out = lathe_type_tensor(c->arena, dtype, rank, NULL);
	for (int k = 0; k < rank; k++)
		out.dims[k] = k < axis ? data->dims[k]
			      : k < axis + q ? ind->dims[k - axis]
					     : data->dims[k - q + 1];
	c->out[0] = out;
	return NULL;
}

lathe_err lower_gather(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	LATHE_TRY(mv_need_buf(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *data = c->in_buf[0], *ind = c->in_buf[1];
	int axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), data->rank, &axis));
	int q = ind->rank;
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr *i = lathe_tir_load(f, ind, ax.idx + axis);
	lathe_tir_expr **idx = mv_idx(f, data->rank);
	for (int k = 0; k < data->rank; k++)
		idx[k] = k < axis ? ax.idx[k]
			 : k == axis ? mv_wrap_index(f, i, data->shape[axis])
				     : ax.idx[k + q - 1];
	lathe_te_compute(f, c->out_buf[0], ax, lathe_tir_load(f, data, idx));
	return NULL;
}

lathe_err infer_gather_elements(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	LATHE_TRY(mv_need(c, 1, "indices"));
	const lathe_type *data = c->in[0], *ind = c->in[1];
	if (mv_has_rank(data) && mv_has_rank(ind) && data->rank != ind->rank)
		return lathe_error(LATHE_EINVAL, "indices have rank %d, data %d", ind->rank,
				   data->rank);
	c->out[0] = lathe_type_with_dtype(c->arena, ind, mv_dtype(c, 0));
	return NULL;
}

/* The data index of GatherElements and ScatterElements at the position ax
 * walks: that position, with dim axis replaced by the index tensor's value
 * there. */
static lathe_tir_expr **elements_index(lathe_tir_func *f, lathe_tir_buf *data,
				       lathe_tir_buf *ind, lathe_te_axes ax, int axis)
{
	lathe_tir_expr **idx = mv_idx(f, data->rank);
	for (int k = 0; k < data->rank; k++)
		idx[k] = ax.idx[k];
	idx[axis] = mv_wrap_index(f, lathe_tir_load(f, ind, ax.idx), data->shape[axis]);
	return idx;
}

lathe_err lower_gather_elements(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	LATHE_TRY(mv_need_buf(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *data = c->in_buf[0], *ind = c->in_buf[1];
	int axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), data->rank, &axis));
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr **idx = elements_index(f, data, ind, ax, axis);
	lathe_te_compute(f, c->out_buf[0], ax, lathe_tir_load(f, data, idx));
	return NULL;
}

/* GatherND's geometry: batch dims b, index tuple length k. */
static lathe_err gather_nd_dims(const lathe_node *n, int r, int q, int64_t klen, int *b)
{
	int64_t bd = lathe_node_attr_int(n, "batch_dims", 0);
	if (q < 1 || r < 1)
		return lathe_error(LATHE_EINVAL, "data and indices must have rank 1 or more");
	if (bd < 0 || bd >= q || bd >= r)
		return lathe_error(LATHE_EINVAL, "batch_dims %lld out of range", (long long)bd);
	if (klen >= 0 && (klen < 1 || klen > r - bd))
		return lathe_error(LATHE_EINVAL,
				   "index tuples of length %lld for data of rank %d with %lld batch dims",
				   (long long)klen, r, (long long)bd);
	*b = (int)bd;
	return NULL;
}

lathe_err infer_gather_nd(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "data"));
	LATHE_TRY(mv_need(c, 1, "indices"));
	const lathe_type *data = c->in[0], *ind = c->in[1];
	int dtype = mv_dtype(c, 0);
	if (!mv_has_rank(data) || !mv_has_rank(ind) || ind->rank < 1 ||
	    !mv_dim_known(ind->dims[ind->rank - 1])) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	int q = ind->rank, r = data->rank, b;
	int64_t k = ind->dims[q - 1].size;
	LATHE_TRY(gather_nd_dims(c->node, r, q, k, &b));
	int rank = q - 1 + r - b - (int)k;
	lathe_type out = lathe_type_tensor(c->arena, dtype, rank, NULL);
	for (int d = 0; d < rank; d++)
		out.dims[d] = d < q - 1 ? ind->dims[d] : data->dims[d - (q - 1) + b + (int)k];
	c->out[0] = out;
	return NULL;
}

/* The data index of GatherND and ScatterND at the position ax walks: b
 * batch dims from ax, then the k entries of the index tuple
 * ind[ax's first q-1 dims, :], then ax's remaining dims. */
static lathe_tir_expr **nd_index(lathe_tir_func *f, lathe_tir_buf *data, lathe_tir_buf *ind,
				 lathe_te_axes ax, int b, int k)
{
	int q = ind->rank, r = data->rank;
	lathe_tir_expr **iidx = mv_idx(f, q), **idx = mv_idx(f, r);
	for (int d = 0; d < q - 1; d++)
		iidx[d] = ax.idx[d];
	for (int d = 0; d < b; d++)
		idx[d] = ax.idx[d];
	for (int j = 0; j < k; j++) {
		iidx[q - 1] = mv_i64(f, j);
		idx[b + j] = mv_wrap_index(f, lathe_tir_load(f, ind, iidx), data->shape[b + j]);
	}
	for (int d = b + k; d < r; d++)
		idx[d] = ax.idx[q - 1 + d - b - k];
	return idx;
}

lathe_err lower_gather_nd(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	LATHE_TRY(mv_need_buf(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *data = c->in_buf[0], *ind = c->in_buf[1];
	int q = ind->rank, r = data->rank, b;
	int64_t k = ind->shape[q - 1];
	LATHE_TRY(gather_nd_dims(c->node, r, q, k, &b));
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr **idx = nd_index(f, data, ind, ax, b, (int)k);
	lathe_te_compute(f, c->out_buf[0], ax, lathe_tir_load(f, data, idx));
	return NULL;
}

/* ---- scatters ------------------------------------------------------------------------- */

/* out = data, the first of a scatter's two loop nests. */
static void copy_into_out(lathe_lower_ctx *c)
{
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_te_compute(c->fn, c->out_buf[0], ax, lathe_tir_load(c->fn, c->in_buf[0], ax.idx));
}

/* The value a scatter stores at idx: the update itself, or it combined
 * with what the output holds. */
static lathe_err scatter_value(lathe_lower_ctx *c, lathe_tir_expr *const *idx,
			       lathe_tir_expr *upd, lathe_tir_expr **out)
{
	lathe_tir_func *f = c->fn;
	const char *red = lathe_node_attr_str(c->node, "reduction", "none");
	int op;
	if (!strcmp(red, "none")) {
		*out = upd;
		return NULL;
	} else if (!strcmp(red, "add")) {
		op = LATHE_TIR_ADD;
	} else if (!strcmp(red, "mul")) {
		op = LATHE_TIR_MUL;
	} else if (!strcmp(red, "max")) {
		op = LATHE_TIR_MAX;
	} else if (!strcmp(red, "min")) {
		op = LATHE_TIR_MIN;
	} else {
		return lathe_error(LATHE_EINVAL, "unknown reduction '%s' (none, add, mul, max, min)",
				   red);
	}
	lathe_tir_buf *o = c->out_buf[0];
	if (o->dtype == LATHE_DT_BOOL && (op == LATHE_TIR_ADD || op == LATHE_TIR_MUL))
		op = op == LATHE_TIR_ADD ? LATHE_TIR_OR : LATHE_TIR_AND;
	*out = mv_bin(f, op, lathe_tir_load(f, o, idx), upd);
	return NULL;
}

lathe_err lower_scatter_elements(lathe_lower_ctx *c)
{
	for (int i = 0; i < 3; i++)
		LATHE_TRY(mv_need_buf(c, i));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *data = c->in_buf[0], *ind = c->in_buf[1], *upd = c->in_buf[2];
	if (ind->rank != data->rank || upd->rank != data->rank)
		return lathe_error(LATHE_EINVAL, "data, indices and updates must have the same rank");
	for (int k = 0; k < ind->rank; k++)
		if (ind->shape[k] != upd->shape[k])
			return lathe_error(LATHE_EINVAL, "indices and updates differ in dim %d", k);
	int axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), data->rank, &axis));
	copy_into_out(c);
	lathe_te_axes ax = lathe_te_axes_new(f, "j", ind->rank, ind->shape);
	lathe_tir_expr **idx = elements_index(f, data, ind, ax, axis);
	lathe_tir_expr *v;
	LATHE_TRY(scatter_value(c, idx, lathe_tir_load(f, upd, ax.idx), &v));
	mv_append_nest(f, ax, lathe_tir_store(f, c->out_buf[0], idx, v));
	return NULL;
}

lathe_err lower_scatter_nd(lathe_lower_ctx *c)
{
	for (int i = 0; i < 3; i++)
		LATHE_TRY(mv_need_buf(c, i));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *data = c->in_buf[0], *ind = c->in_buf[1], *upd = c->in_buf[2];
	int r = data->rank, q = ind->rank;
	if (q < 1)
		return lathe_error(LATHE_EINVAL, "indices must have rank 1 or more");
	int64_t k = ind->shape[q - 1];
	if (k < 1 || k > r)
		return lathe_error(LATHE_EINVAL, "index tuples of length %lld for data of rank %d",
				   (long long)k, r);
	if (upd->rank != q - 1 + r - k)
		return lathe_error(LATHE_EINVAL, "updates have rank %d, expected %lld", upd->rank,
				   (long long)(q - 1 + r - k));
	for (int d = 0; d < upd->rank; d++) {
		int64_t want = d < q - 1 ? ind->shape[d] : data->shape[d - (q - 1) + k];
		if (upd->shape[d] != want)
			return lathe_error(LATHE_EINVAL, "updates dim %d is %lld, expected %lld", d,
					   (long long)upd->shape[d], (long long)want);
	}
	copy_into_out(c);
	lathe_te_axes ax = lathe_te_axes_new(f, "j", upd->rank, upd->shape);
	lathe_tir_expr **idx = nd_index(f, data, ind, ax, 0, (int)k);
	lathe_tir_expr *v;
	LATHE_TRY(scatter_value(c, idx, lathe_tir_load(f, upd, ax.idx), &v));
	mv_append_nest(f, ax, lathe_tir_store(f, c->out_buf[0], idx, v));
	return NULL;
}

lathe_err lower_tensor_scatter(lathe_lower_ctx *c)
{
	LATHE_TRY(mv_need_buf(c, 0));
	LATHE_TRY(mv_need_buf(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *cache = c->in_buf[0], *upd = c->in_buf[1], *wi = mv_buf(c, 2);
	int r = cache->rank, axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", -2), r, &axis));
	const char *mode = lathe_node_attr_str(c->node, "mode", "linear");
	bool circular = !strcmp(mode, "circular");
	if (!circular && strcmp(mode, "linear"))
		return lathe_error(LATHE_EINVAL, "unknown mode '%s' (linear, circular)", mode);
	if (upd->rank != r)
		return lathe_error(LATHE_EINVAL, "update has rank %d, the cache %d", upd->rank, r);
	for (int k = 0; k < r; k++)
		if (k == axis ? upd->shape[k] > cache->shape[k] : upd->shape[k] != cache->shape[k])
			return lathe_error(LATHE_EINVAL, "update dim %d is %lld, the cache's %lld", k,
					   (long long)upd->shape[k], (long long)cache->shape[k]);
	if (wi && (wi->rank != 1 || wi->shape[0] != cache->shape[0]))
		return lathe_error(LATHE_EINVAL, "write_indices must have shape [%lld]",
				   (long long)cache->shape[0]);
	copy_into_out(c);
	lathe_te_axes ax = lathe_te_axes_new(f, "j", r, upd->shape);
	lathe_tir_expr *pos = ax.idx[axis];
	if (wi)
		pos = mv_bin(f, LATHE_TIR_ADD, mv_to_i64(f, lathe_tir_load(f, wi, ax.idx)), pos);
	if (circular && cache->shape[axis] > 0)
		pos = mv_bin(f, LATHE_TIR_FLOORMOD, pos, mv_i64(f, cache->shape[axis]));
	lathe_tir_expr **idx = mv_idx(f, r);
	for (int k = 0; k < r; k++)
		idx[k] = k == axis ? pos : ax.idx[k];
	mv_append_nest(f, ax, lathe_tir_store(f, c->out_buf[0], idx, lathe_tir_load(f, upd, ax.idx)));
	return NULL;
}

/* ---- OneHot ----------------------------------------------------------------------------- */

static lathe_err onehot_depth(const lathe_tensor *dv, int64_t *depth)
{
	if (lathe_tensor_numel(dv) != 1)
		return lathe_error(LATHE_EINVAL, "depth must hold one value");
	double d = lathe_rt_load_f64(dv, 0);
	if (!(d >= 1) || d > (double)((int64_t)1 << 40))
		return lathe_error(LATHE_EINVAL, "depth is %g", d);
	*depth = (int64_t)d;
	return NULL;
}

lathe_err infer_onehot(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "indices"));
	LATHE_TRY(mv_need(c, 1, "depth"));
	LATHE_TRY(mv_need(c, 2, "values"));
	const lathe_type *ind = c->in[0];
	int dtype = mv_dtype(c, 2);
	if (!mv_has_rank(ind)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	int rank = ind->rank + 1, axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", -1), rank, &axis));
	lathe_dim depth = mv_dim_unknown();
	if (mv_val(c, 1)) {
		int64_t d;
		LATHE_TRY(onehot_depth(mv_val(c, 1), &d));
		depth = mv_dim(d);
	}
	lathe_type out = lathe_type_tensor(c->arena, dtype, rank, NULL);
	for (int k = 0; k < rank; k++)
		out.dims[k] = k < axis ? ind->dims[k] : k == axis ? depth : ind->dims[k - 1];
	c->out[0] = out;
	return NULL;
}

lathe_err lower_onehot(lathe_lower_ctx *c)
{
	for (int i = 0; i < 3; i++)
		LATHE_TRY(mv_need_buf(c, i));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *ind = c->in_buf[0], *vals = c->in_buf[2];
	if (!c->in_val[1])
		return lathe_error(LATHE_EINVAL, "depth is not known");
	if (vals->rank != 1 || vals->shape[0] != 2)
		return lathe_error(LATHE_EINVAL, "values must have shape [2] (off, on)");
	int64_t depth;
	LATHE_TRY(onehot_depth(c->in_val[1], &depth));
	int rank = ind->rank + 1, axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", -1), rank, &axis));
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr **iidx = mv_idx(f, ind->rank);
	for (int k = 0, j = 0; k < rank; k++)
		if (k != axis)
			iidx[j++] = ax.idx[k];
	/* Float indices truncate toward zero, as a cast to int64 does. */
	lathe_tir_expr *i = mv_wrap_index(f, lathe_tir_load(f, ind, iidx), depth);
	lathe_tir_expr *off_i = mv_i64(f, 0), *on_i = mv_i64(f, 1);
	lathe_tir_expr *hot = mv_bin(f, LATHE_TIR_EQ, i, ax.idx[axis]);
	lathe_te_compute(f, c->out_buf[0], ax,
			 lathe_tir_select(f, hot, lathe_tir_load(f, vals, &on_i),
					  lathe_tir_load(f, vals, &off_i)));
	return NULL;
}

/* ---- ArrayFeatureExtractor ------------------------------------------------------------- */

lathe_err infer_array_feature_extractor(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "X"));
	LATHE_TRY(mv_need(c, 1, "Y"));
	const lathe_type *x = c->in[0];
	int dtype = mv_dtype(c, 0);
	if (!mv_has_rank(x)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	if (x->rank < 1)
		return lathe_error(LATHE_EINVAL, "X must have rank 1 or more");
	int64_t n = mv_is_tensor(c->in[1]) ? lathe_type_numel(c->in[1]) : -1;
	int rank = x->rank == 1 ? 2 : x->rank;
	lathe_type out = lathe_type_tensor(c->arena, dtype, rank, NULL);
	if (x->rank == 1)
		out.dims[0] = mv_dim(1);
	for (int k = 0; k < x->rank - 1; k++)
		out.dims[k] = x->dims[k];
	out.dims[rank - 1] = n >= 0 ? mv_dim(n) : mv_dim_unknown();
	c->out[0] = out;
	return NULL;
}

lathe_err lower_array_feature_extractor(lathe_lower_ctx *c)
{
	LATHE_TRY(mv_need_buf(c, 0));
	LATHE_TRY(mv_need_buf(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *ind = c->in_buf[1], *out = c->out_buf[0];
	lathe_te_axes ax = mv_out_axes(c, 0);
	lathe_tir_expr *j = ax.idx[out->rank - 1];
	lathe_tir_expr **iidx = mv_idx(f, ind->rank);
	lathe_te_unravel(f, j, ind->rank, ind->shape, iidx);
	int64_t nf = x->shape[x->rank - 1];
	lathe_tir_expr *feat = mv_wrap_index(f, lathe_tir_load(f, ind, iidx), nf);
	lathe_tir_expr **idx = mv_idx(f, x->rank);
	for (int k = 0; k < x->rank - 1; k++)
		idx[k] = ax.idx[k];
	idx[x->rank - 1] = feat;
	lathe_te_compute(f, out, ax, lathe_tir_load(f, x, idx));
	return NULL;
}

/* ---- extern kernels: Compress, NonZero, TopK, Unique, NonMaxSuppression ------------------ */

lathe_err infer_compress(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "input"));
	LATHE_TRY(mv_need(c, 1, "condition"));
	const lathe_type *in = c->in[0];
	int dtype = mv_dtype(c, 0);
	const lathe_attr *a = lathe_node_attr(c->node, "axis");
	if (!a) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, 1, NULL);
		return NULL;
	}
	if (!mv_has_rank(in)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	int axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), in->rank, &axis));
	lathe_type out = lathe_type_like(c->arena, in);
	out.dims[axis] = mv_dim_unknown();
	c->out[0] = out;
	return NULL;
}

lathe_err kernel_compress(lathe_kernel_ctx *c)
{
	const lathe_attr *a = lathe_node_attr(c->node, "axis");
	int64_t ip[2] = {a != NULL, lathe_node_attr_int(c->node, "axis", 0)};
	return lathe_kernel_call_rt(c, lathe_rt_k_compress, ip, 2, NULL, 0, NULL, 0);
}

lathe_err infer_nonzero(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "X"));
	const lathe_type *x = c->in[0];
	c->out[0] = lathe_type_tensor(c->arena, LATHE_DT_I64, 2, NULL);
	if (mv_has_rank(x))
		c->out[0].dims[0] = mv_dim(x->rank > 0 ? x->rank : 1);
	return NULL;
}

lathe_err kernel_nonzero(lathe_kernel_ctx *c)
{
	return lathe_kernel_call_rt(c, lathe_rt_k_nonzero, NULL, 0, NULL, 0, NULL, 0);
}

lathe_err infer_topk(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "X"));
	LATHE_TRY(mv_need(c, 1, "K"));
	const lathe_type *x = c->in[0];
	int dtype = mv_dtype(c, 0);
	if (!mv_has_rank(x)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		c->out[1] = lathe_type_tensor(c->arena, LATHE_DT_I64, -1, NULL);
		return NULL;
	}
	int axis;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", -1), x->rank, &axis));
	lathe_type out = lathe_type_like(c->arena, x);
	out.dims[axis] = mv_dim_unknown();
	const lathe_tensor *kv = mv_val(c, 1);
	if (kv) {
		if (lathe_tensor_numel(kv) != 1)
			return lathe_error(LATHE_EINVAL, "K must hold one value");
		int64_t k = lathe_rt_load_i64(kv, 0);
		lathe_dim d = x->dims[axis];
		if (k < 0 || (mv_dim_known(d) && k > d.size))
			return lathe_error(LATHE_EINVAL, "K = %lld out of range for axis of size %lld",
					   (long long)k, (long long)d.size);
		out.dims[axis] = mv_dim(k);
	}
	c->out[0] = out;
	if (c->nout > 1)
		c->out[1] = lathe_type_with_dtype(c->arena, &out, LATHE_DT_I64);
	return NULL;
}

lathe_err kernel_topk(lathe_kernel_ctx *c)
{
	int64_t ip[3] = {lathe_node_attr_int(c->node, "axis", -1),
			 lathe_node_attr_int(c->node, "largest", 1),
			 lathe_node_attr_int(c->node, "sorted", 1)};
	return lathe_kernel_call_rt(c, lathe_rt_k_topk, ip, 3, NULL, 0, NULL, 0);
}

lathe_err infer_unique(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "X"));
	const lathe_type *x = c->in[0];
	int dtype = mv_dtype(c, 0);
	const lathe_attr *a = lathe_node_attr(c->node, "axis");
	lathe_dim n = mv_dim_unknown();
	if (!a) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, 1, NULL);
		int64_t cnt = mv_is_tensor(x) ? lathe_type_numel(x) : -1;
		if (cnt >= 0)
			n = mv_dim(cnt);
	} else if (!mv_has_rank(x)) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
	} else {
		int axis;
		LATHE_TRY(lathe_norm_axis(a->kind == LATHE_ATTR_INT ? a->u.i : 0, x->rank, &axis));
		c->out[0] = lathe_type_like(c->arena, x);
		c->out[0].dims[axis] = mv_dim_unknown();
		n = x->dims[axis];
	}
	for (int j = 1; j < c->nout; j++) {
		c->out[j] = lathe_type_tensor(c->arena, LATHE_DT_I64, 1, NULL);
		if (j == 2)
			c->out[j].dims[0] = n;
	}
	return NULL;
}

lathe_err kernel_unique(lathe_kernel_ctx *c)
{
	const lathe_attr *a = lathe_node_attr(c->node, "axis");
	int64_t ip[3] = {a != NULL, lathe_node_attr_int(c->node, "axis", 0),
			 lathe_node_attr_int(c->node, "sorted", 1)};
	return lathe_kernel_call_rt(c, lathe_rt_k_unique, ip, 3, NULL, 0, NULL, 0);
}

lathe_err infer_nms(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "boxes"));
	LATHE_TRY(mv_need(c, 1, "scores"));
	int64_t shape[2] = {-1, 3};
	c->out[0] = lathe_type_tensor(c->arena, LATHE_DT_I64, 2, shape);
	return NULL;
}

lathe_err kernel_nms(lathe_kernel_ctx *c)
{
	int64_t ip[1] = {lathe_node_attr_int(c->node, "center_point_box", 0)};
	return lathe_kernel_call_rt(c, lathe_rt_k_nms, ip, 1, NULL, 0, NULL, 0);
}
