/* reduce.c: reductions (Reduce*, ArgMax/ArgMin), the softmax family and
 * the cumulative ops, plus the reduction plan that the normalizations
 * (reduce_norm.c) and losses (loss.c) share.
 *
 * A reduction is described by a plan: the reduced buffer's shape and a mask
 * of reduced dims.  Every pass over the data is one tensor-expression
 * reduction nest (lathe_te_reduce); per-row statistics (a row's max, its sum
 * of exponentials) live in local buffers of the "keepdims" shape, so a
 * softmax is three nests: max, sum of exp(x - max), then the elementwise
 * result.  Float data accumulates in f32 at least (f64 for f64); integers in
 * their own type, wrapping as the loop IR does.
 *
 * Reductions over an empty set give the identity of the reduction: 0 for
 * sums, 1 for products, the lowest value for Max, the highest for Min,
 * -inf for ReduceLogSum(Exp).
 */
#include <math.h>
#include <string.h>

#include "ops/elementwise.h"

/* ---- the reduction plan --------------------------------------------------- */

lathe_err lathe_ew_axis(int64_t axis, int rank, const char *what, int *out)
{
	*out = 0; /* defined on error too, so callers need no initializer */
	if (axis < -(int64_t)rank || axis >= rank)
		return lathe_error(LATHE_EINVAL, "%s %lld out of range for rank %d", what,
				   (long long)axis, rank);
	*out = (int)(axis < 0 ? axis + rank : axis);
	return NULL;
}

lathe_err lathe_ew_rplan_init(lathe_tir_func *f, int rank, const int64_t *shape,
			      const bool *red, lathe_ew_rplan *p)
{
	memset(p, 0, sizeof *p);
	p->rank = rank;
	p->shape = shape;
	p->red = lathe_arena_new(f->arena, bool, rank + 1);
	p->rext = lathe_arena_new(f->arena, int64_t, rank + 1);
	p->kshape = lathe_arena_new(f->arena, int64_t, rank + 1);
	p->oshape = lathe_arena_new(f->arena, int64_t, rank + 1);
	int no = 0;
	for (int d = 0; d < rank; d++) {
		p->red[d] = red[d];
		p->kshape[d] = red[d] ? 1 : shape[d];
		if (red[d])
			p->rext[p->nred++] = shape[d];
		else
			p->oshape[no++] = shape[d];
	}
	return lathe_shape_numel(p->nred, p->rext, &p->count);
}

lathe_tir_expr **lathe_ew_rplan_kidx(lathe_tir_func *f, const lathe_ew_rplan *p,
				     lathe_tir_expr *const *full)
{
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, p->rank + 1);
	for (int d = 0; d < p->rank; d++)
		idx[d] = p->red[d] ? lathe_tir_i64(f, 0) : full[d];
	return idx;
}

lathe_tir_expr *lathe_ew_rplan_rflat(lathe_tir_func *f, const lathe_ew_rplan *p,
				     lathe_tir_expr *const *full)
{
	lathe_tir_expr **ri = lathe_arena_new(f->arena, lathe_tir_expr *, p->nred + 1);
	int k = 0;
	for (int d = 0; d < p->rank; d++)
		if (p->red[d])
			ri[k++] = full[d];
	return lathe_te_ravel(f, p->nred, p->rext, ri);
}

lathe_ew_red lathe_ew_red_begin(lathe_tir_func *f, const lathe_ew_rplan *p, int acc_dtype,
				bool keep)
{
	lathe_ew_red r;
	r.ax = keep ? lathe_te_axes_new(f, "i", p->rank, p->kshape)
		    : lathe_te_axes_new(f, "i", p->rank - p->nred, p->oshape);
	r.rax = lathe_te_axes_new(f, "r", p->nred, p->rext);
	r.in_idx = lathe_arena_new(f->arena, lathe_tir_expr *, p->rank + 1);
	int jo = 0, jr = 0;
	for (int d = 0; d < p->rank; d++) {
		if (p->red[d]) {
			r.in_idx[d] = r.rax.idx[jr++];
			if (keep)
				jo++;
		} else {
			r.in_idx[d] = r.ax.idx[jo++];
		}
	}
	r.r = lathe_te_reduce_begin(f, acc_dtype);
	return r;
}

void lathe_ew_red_end(lathe_tir_func *f, lathe_ew_red *red, lathe_tir_buf *dst, int binop,
		      lathe_tir_expr *init, lathe_tir_expr *value, lathe_tir_expr *post)
{
	if (!post)
		post = red->r.acc_val;
	post = lathe_ew_to(f, dst->dtype, post);
	lathe_te_reduce_end(f, &red->r, dst, red->ax, red->rax, binop, init, value, post);
}

lathe_tir_buf *lathe_ew_klocal(lathe_tir_func *f, const lathe_ew_rplan *p, const char *name,
			       int dtype)
{
	return lathe_tir_local(f, name, dtype, p->rank, p->kshape);
}

/* ---- Reduce* -------------------------------------------------------------- */

/* The reduced dims of a Reduce* node: from the axes input's value (NULL
 * when the input is absent), keepdims and noop_with_empty_axes.  *noop: the
 * op is the identity (empty axes with noop_with_empty_axes=1). */
static lathe_err reduce_mask(lathe_arena *a, const lathe_node *n, bool axes_given,
			     const lathe_tensor *axes, int rank, bool *red, bool *noop)
{
	*noop = false;
	int64_t *v = NULL, cnt = 0;
	if (axes_given)
		LATHE_TRY(lathe_tensor_ints(a, axes, &v, &cnt));
	for (int d = 0; d < rank; d++)
		red[d] = cnt == 0;
	if (cnt == 0) {
		*noop = lathe_node_attr_int(n, "noop_with_empty_axes", 0) != 0;
		return NULL;
	}
	for (int64_t i = 0; i < cnt; i++) {
		int ax;
		LATHE_TRY(lathe_ew_axis(v[i], rank, "axes value", &ax));
		red[ax] = true;
	}
	return NULL;
}

static lathe_type type_unknown_rank(int dtype)
{
	lathe_type t = {0};
	t.kind = LATHE_TY_TENSOR;
	t.dtype = dtype;
	t.rank = -1;
	return t;
}

/* The type of a reduction's output: dims in `red` dropped, or kept as 1. */
static lathe_type reduced_type(lathe_arena *a, const lathe_type *in, const bool *red,
			       bool keep, int dtype)
{
	lathe_type t = {0};
	t.kind = LATHE_TY_TENSOR;
	t.dtype = dtype;
	t.dims = lathe_arena_new(a, lathe_dim, in->rank + 1);
	for (int d = 0; d < in->rank; d++) {
		if (!red[d])
			t.dims[t.rank++] = in->dims[d];
		else if (keep)
			t.dims[t.rank++] = (lathe_dim){1, -1};
	}
	return t;
}

/* The reduced input of a reduction's inference: *x stays NULL when its type
 * is not known, and the output's is then not either. */
static lathe_err infer_input(lathe_infer_ctx *c, const lathe_type **x)
{
	if (c->nin < 1 || !c->in[0])
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	*x = NULL;
	if (c->in[0]->kind == LATHE_TY_UNKNOWN) {
		c->out[0] = lathe_type_unknown();
		return NULL;
	}
	if (c->in[0]->kind != LATHE_TY_TENSOR)
		return lathe_error(LATHE_EINVAL, "input 0 must be a tensor");
	*x = c->in[0];
	return NULL;
}

lathe_err infer_reduce(lathe_infer_ctx *c)
{
	const lathe_type *x = NULL;
	LATHE_TRY(infer_input(c, &x));
	if (!x)
		return NULL;
	bool keep = lathe_node_attr_int(c->node, "keepdims", 1) != 0;
	bool axes_given = c->nin > 1 && c->in[1];
	if (x->rank < 0 || (axes_given && !c->in_val[1])) {
		/* Unknown axes: with keepdims the rank stays, but which dims
		 * become 1 is unknown. */
		if (keep && x->rank >= 0) {
			c->out[0] = lathe_type_like(c->arena, x);
			for (int d = 0; d < x->rank; d++)
				c->out[0].dims[d] = (lathe_dim){-1, -1};
		} else {
			c->out[0] = type_unknown_rank(x->dtype);
		}
		return NULL;
	}
	bool *red = lathe_arena_new(c->arena, bool, x->rank + 1), noop;
	LATHE_TRY(reduce_mask(c->arena, c->node, axes_given, axes_given ? c->in_val[1] : NULL,
			      x->rank, red, &noop));
	if (noop)
		c->out[0] = lathe_type_like(c->arena, x);
	else
		c->out[0] = reduced_type(c->arena, x, red, keep, x->dtype);
	return NULL;
}

lathe_err lower_reduce(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_REDUCTION;
	if (c->nin < 1 || !c->in_buf[0])
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	int op = c->node->op, dt = x->dtype;
	/* Max and Min of bools are "any" and "all"; nothing else takes bools. */
	bool minmax = op == LATHE_OP_ReduceMax || op == LATHE_OP_ReduceMin;
	if (dt == LATHE_DT_STR || (dt == LATHE_DT_BOOL && !minmax))
		return lathe_error(LATHE_EUNSUPPORTED, "%s of %s input", lathe_op_name(op),
				   lathe_dtype_name(dt));
	bool axes_given = c->nin > 1 && c->in_buf[1];
	if (axes_given && !c->in_val[1])
		return lathe_error(LATHE_EINVAL, "the value of axes is not known");
	bool *red = lathe_arena_new(f->arena, bool, x->rank + 1), noop;
	LATHE_TRY(reduce_mask(f->arena, c->node, axes_given, axes_given ? c->in_val[1] : NULL,
			      x->rank, red, &noop));
	if (noop) {
		lathe_te_axes ax = lathe_te_axes_new(f, "i", out->rank, out->shape);
		lathe_te_compute(f, out, ax, lathe_te_load_bcast(f, x, ax));
		return NULL;
	}
	bool keep = lathe_node_attr_int(c->node, "keepdims", 1) != 0;
	lathe_ew_rplan p;
	LATHE_TRY(lathe_ew_rplan_init(f, x->rank, x->shape, red, &p));

	bool isf = lathe_dtype_is_float(dt);
	/* Results that need a logarithm or a root compute integers in f64. */
	bool transc = op == LATHE_OP_ReduceL2 || op == LATHE_OP_ReduceLogSum ||
		      op == LATHE_OP_ReduceLogSumExp;
	int A = isf ? lathe_ew_acc_dtype(dt) : transc ? LATHE_DT_F64 : dt;
	lathe_ew_red R = lathe_ew_red_begin(f, &p, A, keep);
	lathe_tir_expr *v = lathe_ew_to(f, A, lathe_tir_load(f, x, R.in_idx));
	lathe_tir_expr *acc = R.r.acc_val, *zero = lathe_ew_const(f, A, 0);
	switch (op) {
	case LATHE_OP_ReduceSum:
		lathe_ew_red_end(f, &R, out, LATHE_TIR_ADD, zero, v, NULL);
		return NULL;
	case LATHE_OP_ReduceSumSquare:
		lathe_ew_red_end(f, &R, out, LATHE_TIR_ADD, zero, lathe_tir_binary(f, LATHE_TIR_MUL, v, v), NULL);
		return NULL;
	case LATHE_OP_ReduceL1:
		lathe_ew_red_end(f, &R, out, LATHE_TIR_ADD, zero, lathe_tir_unary(f, LATHE_TIR_ABS, v), NULL);
		return NULL;
	case LATHE_OP_ReduceL2:
		lathe_ew_red_end(f, &R, out, LATHE_TIR_ADD, zero, lathe_tir_binary(f, LATHE_TIR_MUL, v, v),
				 lathe_tir_unary(f, LATHE_TIR_SQRT, acc));
		return NULL;
	case LATHE_OP_ReduceLogSum:
		lathe_ew_red_end(f, &R, out, LATHE_TIR_ADD, zero, v, lathe_tir_unary(f, LATHE_TIR_LOG, acc));
		return NULL;
	case LATHE_OP_ReduceProd:
		lathe_ew_red_end(f, &R, out, LATHE_TIR_MUL, lathe_ew_const(f, A, 1), v, NULL);
		return NULL;
	case LATHE_OP_ReduceMax:
		if (dt == LATHE_DT_BOOL) {
			lathe_ew_red_end(f, &R, out, LATHE_TIR_OR, lathe_tir_int(f, A, 0), v, NULL);
			return NULL;
		}
		lathe_ew_red_end(f, &R, out, LATHE_TIR_MAX, lathe_te_lowest(f, A), v, NULL);
		return NULL;
	case LATHE_OP_ReduceMin:
		if (dt == LATHE_DT_BOOL) {
			lathe_ew_red_end(f, &R, out, LATHE_TIR_AND, lathe_tir_int(f, A, 1), v, NULL);
			return NULL;
		}
		lathe_ew_red_end(f, &R, out, LATHE_TIR_MIN, lathe_te_highest(f, A), v, NULL);
		return NULL;
	case LATHE_OP_ReduceMean: {
		lathe_tir_expr *post;
		if (isf)
			post = lathe_tir_binary(f, LATHE_TIR_DIV, acc, lathe_ew_const(f, A, (double)p.count));
		else if (p.count == 0)
			post = lathe_ew_const(f, A, 0);
		else /* NumPy's mean of integers, truncated back to the type */
			post = lathe_tir_binary(f, LATHE_TIR_DIV, lathe_tir_cast(f, LATHE_DT_F64, acc),
						lathe_tir_float(f, LATHE_DT_F64, (double)p.count));
		lathe_ew_red_end(f, &R, out, LATHE_TIR_ADD, zero, v, post);
		return NULL;
	}
	case LATHE_OP_ReduceLogSumExp: {
		/* log(sum(exp(x - m))) + m with m the row max; an infinite m
		 * (empty or all -inf rows) is replaced by 0 so x - m stays
		 * defined. */
		lathe_tir_buf *m = lathe_tir_local(f, "m", A, out->rank, out->shape);
		lathe_ew_red_end(f, &R, m, LATHE_TIR_MAX, lathe_te_lowest(f, A), v, NULL);
		lathe_ew_red S = lathe_ew_red_begin(f, &p, A, keep);
		lathe_tir_expr *mv = lathe_tir_load(f, m, S.ax.idx);
		mv = lathe_tir_select(f, lathe_tir_unary(f, LATHE_TIR_ISINF, mv), lathe_ew_const(f, A, 0), mv);
		lathe_tir_expr *xs = lathe_ew_to(f, A, lathe_tir_load(f, x, S.in_idx));
		lathe_tir_expr *e = lathe_tir_unary(f, LATHE_TIR_EXP, lathe_tir_binary(f, LATHE_TIR_SUB, xs, mv));
		lathe_tir_expr *post = lathe_tir_binary(f, LATHE_TIR_ADD,
							lathe_tir_unary(f, LATHE_TIR_LOG, S.r.acc_val), mv);
		lathe_ew_red_end(f, &S, out, LATHE_TIR_ADD, lathe_ew_const(f, A, 0), e, post);
		return NULL;
	}
	default:
		return lathe_error(LATHE_EINTERNAL, "lower_reduce used for %s", lathe_op_name(op));
	}
}

/* ---- ArgMax / ArgMin ------------------------------------------------------ */

lathe_err infer_argreduce(lathe_infer_ctx *c)
{
	const lathe_type *x = NULL;
	LATHE_TRY(infer_input(c, &x));
	if (!x)
		return NULL;
	bool keep = lathe_node_attr_int(c->node, "keepdims", 1) != 0;
	if (x->rank < 0) {
		c->out[0] = type_unknown_rank(LATHE_DT_I64);
		return NULL;
	}
	int axis;
	LATHE_TRY(lathe_ew_axis(lathe_node_attr_int(c->node, "axis", 0), x->rank, "axis", &axis));
	bool *red = lathe_arena_new(c->arena, bool, x->rank + 1);
	red[axis] = true;
	c->out[0] = reduced_type(c->arena, x, red, keep, LATHE_DT_I64);
	return NULL;
}

/* Two passes: the extreme value m of each row, then the first (or last)
 * position holding it.  A NaN row matches NumPy: NaN is the extreme and the
 * first NaN is its position. */
lathe_err lower_argreduce(lathe_lower_ctx *c)
{
	if (c->nin < 1 || !c->in_buf[0])
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	int op = c->node->op, dt = x->dtype;
	if (dt == LATHE_DT_STR || dt == LATHE_DT_BOOL)
		return lathe_error(LATHE_EUNSUPPORTED, "%s of %s input", lathe_op_name(op),
				   lathe_dtype_name(dt));
	int axis;
	LATHE_TRY(lathe_ew_axis(lathe_node_attr_int(c->node, "axis", 0), x->rank, "axis", &axis));
	if (x->shape[axis] == 0)
		return lathe_error(LATHE_EINVAL, "%s over axis %d of size 0 has no answer",
				   lathe_op_name(op), axis);
	bool keep = lathe_node_attr_int(c->node, "keepdims", 1) != 0;
	bool last = lathe_node_attr_int(c->node, "select_last_index", 0) != 0;
	bool *red = lathe_arena_new(f->arena, bool, x->rank + 1);
	red[axis] = true;
	lathe_ew_rplan p;
	LATHE_TRY(lathe_ew_rplan_init(f, x->rank, x->shape, red, &p));
	bool isf = lathe_dtype_is_float(dt);
	int A = lathe_ew_acc_dtype(dt);
	bool is_max = op == LATHE_OP_ArgMax;

	lathe_tir_buf *m = lathe_tir_local(f, "m", A, out->rank, out->shape);
	lathe_ew_red R = lathe_ew_red_begin(f, &p, A, keep);
	lathe_tir_expr *v = lathe_ew_to(f, A, lathe_tir_load(f, x, R.in_idx));
	lathe_ew_red_end(f, &R, m, is_max ? LATHE_TIR_MAX : LATHE_TIR_MIN,
			 is_max ? lathe_te_lowest(f, A) : lathe_te_highest(f, A), v, NULL);

	lathe_ew_red S = lathe_ew_red_begin(f, &p, LATHE_DT_I64, keep);
	lathe_tir_expr *xv = lathe_ew_to(f, A, lathe_tir_load(f, x, S.in_idx));
	lathe_tir_expr *mv = lathe_tir_load(f, m, S.ax.idx);
	lathe_tir_expr *hit = lathe_tir_binary(f, LATHE_TIR_EQ, xv, mv);
	if (isf)
		hit = lathe_tir_binary(f, LATHE_TIR_OR, hit,
				       lathe_tir_binary(f, LATHE_TIR_AND, lathe_tir_unary(f, LATHE_TIR_ISNAN, mv),
							lathe_tir_unary(f, LATHE_TIR_ISNAN, xv)));
	int64_t n = x->shape[axis];
	lathe_tir_expr *none = lathe_tir_i64(f, last ? -1 : n);
	lathe_tir_expr *pos = lathe_tir_select(f, hit, S.rax.idx[0], none);
	lathe_ew_red_end(f, &S, out, last ? LATHE_TIR_MAX : LATHE_TIR_MIN, none, pos, NULL);
	return NULL;
}

/* ---- Softmax, LogSoftmax, Hardmax ----------------------------------------- */

lathe_err lower_softmax(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_SOFTMAX_NORM;
	if (c->nin < 1 || !c->in_buf[0])
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	int op = c->node->op, dt = x->dtype;
	if (!lathe_dtype_is_float(dt))
		return lathe_error(LATHE_EUNSUPPORTED, "%s of %s input", lathe_op_name(op),
				   lathe_dtype_name(dt));
	/* Before opset 13 these ops flattened the input to 2-D at axis (default
	 * 1) and normalized each row: the reduced dims are axis..rank-1. */
	bool coerce = lathe_node_attr_int(c->node, "_coerce2d", 0) != 0;
	int axis, rank = x->rank;
	if (rank == 0)
		return lathe_error(LATHE_EINVAL, "%s needs an input of rank >= 1", lathe_op_name(op));
	LATHE_TRY(lathe_ew_axis(lathe_node_attr_int(c->node, "axis", coerce ? 1 : -1), rank, "axis",
				&axis));
	bool *red = lathe_arena_new(f->arena, bool, rank + 1);
	for (int d = 0; d < rank; d++)
		red[d] = coerce ? d >= axis : d == axis;
	lathe_ew_rplan p;
	LATHE_TRY(lathe_ew_rplan_init(f, rank, x->shape, red, &p));
	int A = lathe_ew_acc_dtype(dt);

	lathe_tir_buf *m = lathe_ew_klocal(f, &p, "m", A);
	lathe_ew_red R = lathe_ew_red_begin(f, &p, A, true);
	lathe_ew_red_end(f, &R, m, LATHE_TIR_MAX, lathe_te_lowest(f, A),
			 lathe_ew_to(f, A, lathe_tir_load(f, x, R.in_idx)), NULL);

	lathe_ew_red S = lathe_ew_red_begin(f, &p, op == LATHE_OP_Hardmax ? LATHE_DT_I64 : A, true);
	lathe_tir_expr *xs = lathe_ew_to(f, A, lathe_tir_load(f, x, S.in_idx));
	lathe_tir_expr *ms = lathe_tir_load(f, m, S.ax.idx);
	lathe_tir_buf *s;
	if (op == LATHE_OP_Hardmax) {
		/* s = the first flat position (within the reduced dims) of the max */
		s = lathe_ew_klocal(f, &p, "first", LATHE_DT_I64);
		lathe_tir_expr *none = lathe_tir_i64(f, p.count);
		lathe_tir_expr *pos = lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_EQ, xs, ms),
						       lathe_ew_rplan_rflat(f, &p, S.in_idx), none);
		lathe_ew_red_end(f, &S, s, LATHE_TIR_MIN, none, pos, NULL);
	} else {
		s = lathe_ew_klocal(f, &p, "s", A);
		lathe_tir_expr *e = lathe_tir_unary(f, LATHE_TIR_EXP, lathe_tir_binary(f, LATHE_TIR_SUB, xs, ms));
		lathe_ew_red_end(f, &S, s, LATHE_TIR_ADD, lathe_ew_const(f, A, 0), e, NULL);
	}

	lathe_te_axes ax = lathe_te_axes_new(f, "i", rank, x->shape);
	lathe_tir_expr **kidx = lathe_ew_rplan_kidx(f, &p, ax.idx);
	lathe_tir_expr *xv = lathe_ew_to(f, A, lathe_tir_load(f, x, ax.idx));
	lathe_tir_expr *sv = lathe_tir_load(f, s, kidx), *r;
	if (op == LATHE_OP_Hardmax) {
		lathe_tir_expr *at = lathe_tir_binary(f, LATHE_TIR_EQ, lathe_ew_rplan_rflat(f, &p, ax.idx), sv);
		r = lathe_tir_select(f, at, lathe_ew_const(f, A, 1), lathe_ew_const(f, A, 0));
	} else {
		lathe_tir_expr *d = lathe_tir_binary(f, LATHE_TIR_SUB, xv, lathe_tir_load(f, m, kidx));
		if (op == LATHE_OP_Softmax)
			r = lathe_tir_binary(f, LATHE_TIR_DIV, lathe_tir_unary(f, LATHE_TIR_EXP, d), sv);
		else
			r = lathe_tir_binary(f, LATHE_TIR_SUB, d, lathe_tir_unary(f, LATHE_TIR_LOG, sv));
	}
	lathe_te_compute(f, out, ax, lathe_ew_to(f, out->dtype, r));
	return NULL;
}

/* ---- CumSum, CumProd ------------------------------------------------------ */

/* A sequential scan along the axis: one running accumulator per row, so
 * the work is linear in the axis length.  exclusive stores before
 * accumulating; reverse walks the axis from its end. */
lathe_err lower_cumulative(lathe_lower_ctx *c)
{
	if (c->nin < 2 || !c->in_buf[0] || !c->in_buf[1])
		return lathe_error(LATHE_EINVAL, "inputs x and axis are required");
	if (!c->in_val[1])
		return lathe_error(LATHE_EINVAL, "the value of axis is not known");
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	int op = c->node->op, dt = x->dtype, rank = x->rank;
	if (dt == LATHE_DT_STR || dt == LATHE_DT_BOOL)
		return lathe_error(LATHE_EUNSUPPORTED, "%s of %s input", lathe_op_name(op),
				   lathe_dtype_name(dt));
	if (rank == 0)
		return lathe_error(LATHE_EINVAL, "%s needs an input of rank >= 1", lathe_op_name(op));
	int64_t *av, na;
	LATHE_TRY(lathe_tensor_ints(f->arena, c->in_val[1], &av, &na));
	if (na != 1)
		return lathe_error(LATHE_EINVAL, "axis must hold one value, it has %lld", (long long)na);
	int axis;
	LATHE_TRY(lathe_ew_axis(av[0], rank, "axis", &axis));
	bool excl = lathe_node_attr_int(c->node, "exclusive", 0) != 0;
	bool rev = lathe_node_attr_int(c->node, "reverse", 0) != 0;
	int binop = op == LATHE_OP_CumProd ? LATHE_TIR_MUL : LATHE_TIR_ADD;
	double init = op == LATHE_OP_CumProd ? 1 : 0;

	int64_t *ext = lathe_arena_new(f->arena, int64_t, rank);
	for (int d = 0, k = 0; d < rank; d++)
		if (d != axis)
			ext[k++] = x->shape[d];
	lathe_te_axes ax = lathe_te_axes_new(f, "i", rank - 1, ext);
	int64_t n = x->shape[axis];
	/* The scan runs in the data's own type, as NumPy's cumsum does. */
	lathe_tir_buf *acc = lathe_tir_local(f, "acc", dt, 0, NULL);
	lathe_tir_expr **none = lathe_arena_new(f->arena, lathe_tir_expr *, 1);
	lathe_tir_var *kv = lathe_tir_new_var(f, "k", LATHE_DT_I64);
	lathe_tir_expr *k = lathe_tir_varref(f, kv);
	lathe_tir_expr *pos = rev ? lathe_tir_binary(f, LATHE_TIR_SUB, lathe_tir_i64(f, n - 1), k) : k;
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, rank);
	for (int d = 0, j = 0; d < rank; d++)
		idx[d] = d == axis ? pos : ax.idx[j++];
	lathe_tir_expr *accv = lathe_tir_load(f, acc, none);
	lathe_tir_stmt *upd = lathe_tir_store(f, acc, none,
					      lathe_tir_binary(f, binop, accv, lathe_tir_load(f, x, idx)));
	lathe_tir_stmt *put = lathe_tir_store(f, out, idx, lathe_ew_to(f, out->dtype, accv));
	lathe_tir_stmt *step[2] = {excl ? put : upd, excl ? upd : put};
	lathe_tir_stmt *scan = lathe_tir_for(f, kv, lathe_tir_i64(f, 0), lathe_tir_i64(f, n),
					     LATHE_TIR_SERIAL, lathe_tir_seq(f, 2, step));
	lathe_tir_stmt *row[2] = {lathe_tir_store(f, acc, none, lathe_ew_const(f, dt, init)), scan};
	lathe_tir_append(f, lathe_te_nest(f, ax, lathe_tir_seq(f, 2, row)));
	return NULL;
}
