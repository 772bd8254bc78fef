/* reduce_norm.c: the normalization ops (BatchNormalization,
 * InstanceNormalization, LayerNormalization, RMSNormalization,
 * GroupNormalization, LpNormalization, MeanVarianceNormalization, LRN).
 *
 * Each is a few reduction nests that compute per-row statistics into
 * local buffers of the keepdims shape (reduce.c's plan), then one
 * elementwise nest that normalizes.  Mean and variance are two passes
 * (mean, then the mean of squared deviations), as NumPy computes them,
 * which keeps the variance non-negative and accurate.  Statistics are kept
 * in the stash type: f32 unless an op says otherwise, f64 for f64 data.
 */
#include <math.h>
#include <string.h>

#include "ops/elementwise.h"

#define BIN(op, a, b) lathe_tir_binary(f, LATHE_TIR_##op, (a), (b))
#define UN(op, a) lathe_tir_unary(f, LATHE_TIR_##op, (a))

/* mean and (population) variance over the plan's reduced dims, into new
 * kshape locals of type S. */
static void moments(lathe_tir_func *f, const lathe_ew_rplan *p, lathe_tir_buf *x, int S,
		    lathe_tir_buf **mean, lathe_tir_buf **var)
{
	lathe_tir_expr *cnt = lathe_ew_const(f, S, (double)p->count);
	*mean = lathe_ew_klocal(f, p, "mean", S);
	lathe_ew_red R = lathe_ew_red_begin(f, p, S, true);
	lathe_ew_red_end(f, &R, *mean, LATHE_TIR_ADD, lathe_ew_const(f, S, 0),
			 lathe_ew_to(f, S, lathe_tir_load(f, x, R.in_idx)), BIN(DIV, R.r.acc_val, cnt));
	if (!var)
		return;
	*var = lathe_ew_klocal(f, p, "var", S);
	lathe_ew_red V = lathe_ew_red_begin(f, p, S, true);
	lathe_tir_expr *d = BIN(SUB, lathe_ew_to(f, S, lathe_tir_load(f, x, V.in_idx)),
				lathe_tir_load(f, *mean, V.ax.idx));
	lathe_ew_red_end(f, &V, *var, LATHE_TIR_ADD, lathe_ew_const(f, S, 0), BIN(MUL, d, d),
			 BIN(DIV, V.r.acc_val, cnt));
}

static lathe_err need_float_input(lathe_lower_ctx *c, int nreq)
{
	for (int i = 0; i < nreq; i++)
		if (i >= c->nin || !c->in_buf[i])
			return lathe_error(LATHE_EINVAL, "input %d is required", i);
	int dt = c->in_buf[0]->dtype;
	if (!lathe_dtype_is_float(dt))
		return lathe_error(LATHE_EUNSUPPORTED, "%s of %s input",
				   lathe_op_name(c->node->op), lathe_dtype_name(dt));
	return NULL;
}

static bool has_out(lathe_lower_ctx *c, int j)
{
	return j < c->nout && c->out_buf[j];
}

/* A per-channel parameter (1-D, C elements) at channel index ch. */
static lathe_tir_expr *chan(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *ch, int S)
{
	lathe_tir_expr *i = b->shape[0] == 1 ? lathe_tir_i64(f, 0) : ch;
	return lathe_ew_to(f, S, lathe_tir_load(f, b, &i));
}

/* The (N, C, ...) layout the per-channel ops need; what names x. */
static lathe_err need_nc(const lathe_tir_buf *x, const char *what)
{
	if (x->rank < 2)
		return lathe_error(LATHE_EINVAL, "%s must have rank >= 2 (N, C, ...), it has %d",
				   what, x->rank);
	return NULL;
}

/* scale[ch] * (x - mean) / sqrt(var + eps) + bias[ch] over out's axes ax,
 * scale and bias being inputs 1 and 2. */
static void norm_affine(lathe_lower_ctx *c, lathe_te_axes ax, int S, lathe_tir_expr *mean,
			lathe_tir_expr *var, double eps)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *out = c->out_buf[0];
	lathe_tir_expr *ch = ax.idx[1];
	lathe_tir_expr *xv = lathe_ew_to(f, S, lathe_tir_load(f, c->in_buf[0], ax.idx));
	lathe_tir_expr *num = BIN(MUL, chan(f, c->in_buf[1], ch, S), BIN(SUB, xv, mean));
	lathe_tir_expr *den = UN(SQRT, BIN(ADD, var, lathe_ew_const(f, S, eps)));
	lathe_tir_expr *y = BIN(ADD, BIN(DIV, num, den), chan(f, c->in_buf[2], ch, S));
	lathe_te_compute(f, out, ax, lathe_ew_to(f, out->dtype, y));
}

static lathe_err check_chan_param(lathe_tir_buf *b, int64_t C, const char *what)
{
	if (b->rank != 1 || (b->shape[0] != C && b->shape[0] != 1))
		return lathe_error(LATHE_EINVAL, "%s must have shape [%lld]", what, (long long)C);
	return NULL;
}

/* The stash type: statistics of f64 data stay f64; otherwise stash_type's
 * element type (f32 by default). */
static int stash_dtype(lathe_lower_ctx *c)
{
	int dt = c->in_buf[0]->dtype;
	if (dt == LATHE_DT_F64)
		return LATHE_DT_F64;
	int64_t st = lathe_node_attr_int(c->node, "stash_type", LATHE_DT_F32);
	return st == LATHE_DT_F64 ? LATHE_DT_F64 : LATHE_DT_F32;
}

/* ---- BatchNormalization ---------------------------------------------------- */

lathe_err infer_batchnorm(lathe_infer_ctx *c)
{
	for (int i = 0; i < 5; i++)
		if (i >= c->nin || !c->in[i])
			return lathe_error(LATHE_EINVAL, "input %d is required", i);
	c->out[0] = lathe_type_like(c->arena, c->in[0]);
	for (int j = 1; j < c->nout && j < 3; j++)
		c->out[j] = lathe_type_like(c->arena, c->in[j + 2]);
	return NULL;
}

lathe_err lower_batchnorm(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(need_float_input(c, 5));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0];
	LATHE_TRY(need_nc(x, "X"));
	int64_t C = x->shape[1];
	static const char *const names[] = {"X", "scale", "B", "input_mean", "input_var"};
	for (int i = 1; i < 5; i++)
		LATHE_TRY(check_chan_param(c->in_buf[i], C, names[i]));
	int S = lathe_ew_acc_dtype(x->dtype);
	double eps = lathe_node_attr_float(c->node, "epsilon", 1e-5);
	double mom = lathe_node_attr_float(c->node, "momentum", 0.9);
	bool train = lathe_node_attr_int(c->node, "training_mode", 0) != 0;

	lathe_te_axes ax = lathe_te_axes_new(f, "i", x->rank, x->shape);
	lathe_tir_expr *ch = ax.idx[1], *mean, *var;
	lathe_ew_rplan p;
	if (train) {
		bool *red = lathe_arena_new(f->arena, bool, x->rank);
		for (int d = 0; d < x->rank; d++)
			red[d] = d != 1;
		LATHE_TRY(lathe_ew_rplan_init(f, x->rank, x->shape, red, &p));
		lathe_tir_buf *bm, *bv;
		moments(f, &p, x, S, &bm, &bv);
		lathe_tir_expr **k = lathe_ew_rplan_kidx(f, &p, ax.idx);
		mean = lathe_tir_load(f, bm, k);
		var = lathe_tir_load(f, bv, k);
		/* running = input * momentum + batch * (1 - momentum) */
		for (int j = 1; j <= 2; j++) {
			if (!has_out(c, j))
				continue;
			lathe_tir_buf *o = c->out_buf[j];
			lathe_te_axes cx = lathe_te_axes_new(f, "c", 1, &C);
			lathe_tir_expr **ki = lathe_arena_new(f->arena, lathe_tir_expr *, x->rank);
			for (int d = 0; d < x->rank; d++)
				ki[d] = d == 1 ? cx.idx[0] : lathe_tir_i64(f, 0);
			lathe_tir_expr *batch = lathe_tir_load(f, j == 1 ? bm : bv, ki);
			lathe_tir_expr *in = chan(f, c->in_buf[j + 2], cx.idx[0], S);
			lathe_tir_expr *v = BIN(ADD, BIN(MUL, in, lathe_ew_const(f, S, mom)),
						BIN(MUL, batch, lathe_ew_const(f, S, 1 - mom)));
			lathe_te_compute(f, o, cx, lathe_ew_to(f, o->dtype, v));
		}
	} else {
		mean = chan(f, c->in_buf[3], ch, S);
		var = chan(f, c->in_buf[4], ch, S);
	}
	norm_affine(c, ax, S, mean, var, eps);
	return NULL;
}

/* ---- InstanceNormalization -------------------------------------------------- */

lathe_err lower_instancenorm(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_SOFTMAX_NORM;
	LATHE_TRY(need_float_input(c, 3));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0];
	LATHE_TRY(need_nc(x, "input"));
	LATHE_TRY(check_chan_param(c->in_buf[1], x->shape[1], "scale"));
	LATHE_TRY(check_chan_param(c->in_buf[2], x->shape[1], "B"));
	int S = lathe_ew_acc_dtype(x->dtype);
	double eps = lathe_node_attr_float(c->node, "epsilon", 1e-5);
	bool *red = lathe_arena_new(f->arena, bool, x->rank);
	for (int d = 2; d < x->rank; d++)
		red[d] = true;
	lathe_ew_rplan p;
	LATHE_TRY(lathe_ew_rplan_init(f, x->rank, x->shape, red, &p));
	lathe_tir_buf *bm, *bv;
	moments(f, &p, x, S, &bm, &bv);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", x->rank, x->shape);
	lathe_tir_expr **k = lathe_ew_rplan_kidx(f, &p, ax.idx);
	norm_affine(c, ax, S, lathe_tir_load(f, bm, k), lathe_tir_load(f, bv, k), eps);
	return NULL;
}

/* ---- LayerNormalization, RMSNormalization ------------------------------------ */

/* Dims axis..rank-1 are normalized together. */
static lathe_err trailing_plan(lathe_tir_func *f, lathe_tir_buf *x, int64_t axis_attr,
			       lathe_ew_rplan *p)
{
	int axis;
	LATHE_TRY(lathe_ew_axis(axis_attr, x->rank, "axis", &axis));
	bool *red = lathe_arena_new(f->arena, bool, x->rank + 1);
	for (int d = axis; d < x->rank; d++)
		red[d] = true;
	return lathe_ew_rplan_init(f, x->rank, x->shape, red, p);
}

lathe_err infer_layernorm(lathe_infer_ctx *c)
{
	if (c->nin < 2 || !c->in[0] || !c->in[1])
		return lathe_error(LATHE_EINVAL, "inputs X and Scale are required");
	const lathe_type *x = c->in[0];
	c->out[0] = lathe_type_like(c->arena, x);
	if (c->nout < 2)
		return NULL;
	int64_t st = lathe_node_attr_int(c->node, "stash_type", LATHE_DT_F32);
	int sdt = st == LATHE_DT_F64 ? LATHE_DT_F64 : LATHE_DT_F32;
	lathe_type stat;
	if (x->kind != LATHE_TY_TENSOR || x->rank < 0) {
		stat = lathe_type_unknown();
		if (x->kind == LATHE_TY_TENSOR) {
			stat.kind = LATHE_TY_TENSOR;
			stat.rank = -1;
		}
		stat.dtype = sdt;
	} else {
		int axis;
		LATHE_TRY(lathe_ew_axis(lathe_node_attr_int(c->node, "axis", -1), x->rank, "axis", &axis));
		stat = lathe_type_with_dtype(c->arena, x, sdt);
		for (int d = axis; d < x->rank; d++)
			stat.dims[d] = (lathe_dim){1, -1};
	}
	for (int j = 1; j < c->nout && j < 3; j++)
		c->out[j] = lathe_type_like(c->arena, &stat);
	return NULL;
}

lathe_err lower_layernorm(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_SOFTMAX_NORM;
	LATHE_TRY(need_float_input(c, 2));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	lathe_tir_buf *bias = c->nin > 2 ? c->in_buf[2] : NULL;
	int S = stash_dtype(c);
	double eps = lathe_node_attr_float(c->node, "epsilon", 1e-5);
	lathe_ew_rplan p;
	LATHE_TRY(trailing_plan(f, x, lathe_node_attr_int(c->node, "axis", -1), &p));
	lathe_tir_buf *bm, *bv;
	moments(f, &p, x, S, &bm, &bv);
	/* inv_std_dev = 1 / sqrt(var + epsilon), kept for the optional output */
	lathe_tir_buf *inv = lathe_ew_klocal(f, &p, "inv_std", S);
	lathe_te_axes kx = lathe_te_axes_new(f, "k", x->rank, p.kshape);
	lathe_te_compute(f, inv, kx, BIN(DIV, lathe_ew_const(f, S, 1),
					 UN(SQRT, BIN(ADD, lathe_tir_load(f, bv, kx.idx),
						      lathe_ew_const(f, S, eps)))));
	for (int j = 1; j <= 2; j++) {
		if (!has_out(c, j))
			continue;
		lathe_tir_buf *o = c->out_buf[j];
		lathe_te_axes ox = lathe_te_axes_new(f, "k", o->rank, o->shape);
		lathe_te_compute(f, o, ox, lathe_ew_to(f, o->dtype, lathe_tir_load(f, j == 1 ? bm : inv, ox.idx)));
	}
	lathe_te_axes ax = lathe_te_axes_new(f, "i", x->rank, x->shape);
	lathe_tir_expr **k = lathe_ew_rplan_kidx(f, &p, ax.idx);
	lathe_tir_expr *xv = lathe_ew_to(f, S, lathe_tir_load(f, x, ax.idx));
	lathe_tir_expr *y = BIN(MUL, BIN(SUB, xv, lathe_tir_load(f, bm, k)), lathe_tir_load(f, inv, k));
	y = BIN(MUL, y, lathe_ew_to(f, S, lathe_te_load_bcast(f, c->in_buf[1], ax)));
	if (bias)
		y = BIN(ADD, y, lathe_ew_to(f, S, lathe_te_load_bcast(f, bias, ax)));
	lathe_te_compute(f, out, ax, lathe_ew_to(f, out->dtype, y));
	return NULL;
}

lathe_err lower_rmsnorm(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_SOFTMAX_NORM;
	LATHE_TRY(need_float_input(c, 2));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	int S = stash_dtype(c);
	double eps = lathe_node_attr_float(c->node, "epsilon", 1e-5);
	lathe_ew_rplan p;
	LATHE_TRY(trailing_plan(f, x, lathe_node_attr_int(c->node, "axis", -1), &p));
	lathe_tir_buf *inv = lathe_ew_klocal(f, &p, "inv_rms", S);
	lathe_ew_red R = lathe_ew_red_begin(f, &p, S, true);
	lathe_tir_expr *v = lathe_ew_to(f, S, lathe_tir_load(f, x, R.in_idx));
	lathe_tir_expr *ms = BIN(DIV, R.r.acc_val, lathe_ew_const(f, S, (double)p.count));
	lathe_tir_expr *post = BIN(DIV, lathe_ew_const(f, S, 1),
				   UN(SQRT, BIN(ADD, ms, lathe_ew_const(f, S, eps))));
	lathe_ew_red_end(f, &R, inv, LATHE_TIR_ADD, lathe_ew_const(f, S, 0), BIN(MUL, v, v), post);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", x->rank, x->shape);
	lathe_tir_expr *xv = lathe_ew_to(f, S, lathe_tir_load(f, x, ax.idx));
	lathe_tir_expr *y = BIN(MUL, xv, lathe_tir_load(f, inv, lathe_ew_rplan_kidx(f, &p, ax.idx)));
	y = BIN(MUL, y, lathe_ew_to(f, S, lathe_te_load_bcast(f, c->in_buf[1], ax)));
	lathe_te_compute(f, out, ax, lathe_ew_to(f, out->dtype, y));
	return NULL;
}

/* ---- GroupNormalization ------------------------------------------------------ */

/* Channels split into num_groups groups of C/G; statistics per (n, group)
 * over the group's channels and all spatial positions.  Scale and bias are
 * per channel (opset 21; the frontend repeats opset 18's per-group ones). */
lathe_err lower_groupnorm(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_SOFTMAX_NORM;
	LATHE_TRY(need_float_input(c, 3));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	LATHE_TRY(need_nc(x, "X"));
	int64_t G = lathe_node_attr_int(c->node, "num_groups", 0), N = x->shape[0], C = x->shape[1];
	if (G <= 0 || C % G != 0)
		return lathe_error(LATHE_EINVAL, "num_groups %lld must be positive and divide C = %lld",
				   (long long)G, (long long)C);
	int64_t CG = C / G;
	for (int i = 1; i <= 2; i++)
		LATHE_TRY(check_chan_param(c->in_buf[i], C, i == 1 ? "scale" : "bias"));
	int S = stash_dtype(c);
	double eps = lathe_node_attr_float(c->node, "epsilon", 1e-5);

	/* A view of X as (N, G, CG, spatial...) for the statistics. */
	int gr = x->rank + 1;
	int64_t *gshape = lathe_arena_new(f->arena, int64_t, gr);
	gshape[0] = N;
	gshape[1] = G;
	gshape[2] = CG;
	for (int d = 2; d < x->rank; d++)
		gshape[d + 1] = x->shape[d];
	bool *red = lathe_arena_new(f->arena, bool, gr);
	for (int d = 2; d < gr; d++)
		red[d] = true;
	lathe_ew_rplan p;
	LATHE_TRY(lathe_ew_rplan_init(f, gr, gshape, red, &p));
	lathe_tir_expr *cnt = lathe_ew_const(f, S, (double)p.count);
	lathe_tir_buf *stat[2];
	for (int s = 0; s < 2; s++) {
		stat[s] = lathe_ew_klocal(f, &p, s ? "var" : "mean", S);
		lathe_ew_red R = lathe_ew_red_begin(f, &p, S, true);
		lathe_tir_expr **xi = lathe_arena_new(f->arena, lathe_tir_expr *, x->rank);
		xi[0] = R.in_idx[0];
		xi[1] = lathe_ew_muladd(f, R.in_idx[1], lathe_tir_i64(f, CG), R.in_idx[2]);
		for (int d = 2; d < x->rank; d++)
			xi[d] = R.in_idx[d + 1];
		lathe_tir_expr *v = lathe_ew_to(f, S, lathe_tir_load(f, x, xi));
		if (s) {
			v = BIN(SUB, v, lathe_tir_load(f, stat[0], R.ax.idx));
			v = BIN(MUL, v, v);
		}
		lathe_ew_red_end(f, &R, stat[s], LATHE_TIR_ADD, lathe_ew_const(f, S, 0), v,
				 BIN(DIV, R.r.acc_val, cnt));
	}
	lathe_te_axes ax = lathe_te_axes_new(f, "i", x->rank, x->shape);
	lathe_tir_expr *g = BIN(FLOORDIV, ax.idx[1], lathe_tir_i64(f, CG));
	lathe_tir_expr **k = lathe_arena_new(f->arena, lathe_tir_expr *, gr);
	k[0] = ax.idx[0];
	k[1] = g;
	for (int d = 2; d < gr; d++)
		k[d] = lathe_tir_i64(f, 0);
	lathe_tir_expr *xv = lathe_ew_to(f, S, lathe_tir_load(f, x, ax.idx));
	lathe_tir_expr *norm = BIN(DIV, BIN(SUB, xv, lathe_tir_load(f, stat[0], k)),
				   UN(SQRT, BIN(ADD, lathe_tir_load(f, stat[1], k), lathe_ew_const(f, S, eps))));
	lathe_tir_expr *y = BIN(ADD, BIN(MUL, chan(f, c->in_buf[1], ax.idx[1], S), norm),
				chan(f, c->in_buf[2], ax.idx[1], S));
	lathe_te_compute(f, out, ax, lathe_ew_to(f, out->dtype, y));
	return NULL;
}

/* ---- LpNormalization, MeanVarianceNormalization, LRN ------------------------- */

/* x / ||x||_p along axis; a zero norm gives 0 (the ONNX reference). */
lathe_err lower_lpnorm(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_SOFTMAX_NORM;
	LATHE_TRY(need_float_input(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	int64_t pnorm = lathe_node_attr_int(c->node, "p", 2);
	if (pnorm != 1 && pnorm != 2)
		return lathe_error(LATHE_EINVAL, "p must be 1 or 2, not %lld", (long long)pnorm);
	int axis;
	LATHE_TRY(lathe_ew_axis(lathe_node_attr_int(c->node, "axis", -1), x->rank, "axis", &axis));
	bool *red = lathe_arena_new(f->arena, bool, x->rank);
	red[axis] = true;
	lathe_ew_rplan p;
	LATHE_TRY(lathe_ew_rplan_init(f, x->rank, x->shape, red, &p));
	int S = lathe_ew_acc_dtype(x->dtype);
	lathe_tir_buf *nb = lathe_ew_klocal(f, &p, "norm", S);
	lathe_ew_red R = lathe_ew_red_begin(f, &p, S, true);
	lathe_tir_expr *v = lathe_ew_to(f, S, lathe_tir_load(f, x, R.in_idx));
	lathe_ew_red_end(f, &R, nb, LATHE_TIR_ADD, lathe_ew_const(f, S, 0),
			 pnorm == 1 ? UN(ABS, v) : BIN(MUL, v, v),
			 pnorm == 1 ? R.r.acc_val : UN(SQRT, R.r.acc_val));
	lathe_te_axes ax = lathe_te_axes_new(f, "i", x->rank, x->shape);
	lathe_tir_expr *n = lathe_tir_load(f, nb, lathe_ew_rplan_kidx(f, &p, ax.idx));
	lathe_tir_expr *xv = lathe_ew_to(f, S, lathe_tir_load(f, x, ax.idx));
	lathe_tir_expr *zero = lathe_ew_const(f, S, 0);
	lathe_tir_expr *y = lathe_tir_select(f, BIN(EQ, n, zero), zero, BIN(DIV, xv, n));
	lathe_te_compute(f, out, ax, lathe_ew_to(f, out->dtype, y));
	return NULL;
}

/* (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9) over `axes` (default 0, 2, 3). */
lathe_err lower_mvn(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_SOFTMAX_NORM;
	LATHE_TRY(need_float_input(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	static const int64_t dflt[] = {0, 2, 3};
	int64_t na;
	const int64_t *axes = lathe_node_attr_ints(c->node, "axes", &na);
	if (na < 0) {
		axes = dflt;
		na = 3;
	}
	bool *red = lathe_arena_new(f->arena, bool, x->rank + 1);
	for (int64_t i = 0; i < na; i++) {
		int a;
		LATHE_TRY(lathe_ew_axis(axes[i], x->rank, "axes value", &a));
		red[a] = true;
	}
	lathe_ew_rplan p;
	LATHE_TRY(lathe_ew_rplan_init(f, x->rank, x->shape, red, &p));
	int S = lathe_ew_acc_dtype(x->dtype);
	lathe_tir_expr *cnt = lathe_ew_const(f, S, (double)p.count);
	lathe_tir_buf *bm, *b2 = lathe_ew_klocal(f, &p, "mean_sq", S);
	moments(f, &p, x, S, &bm, NULL);
	lathe_ew_red R = lathe_ew_red_begin(f, &p, S, true);
	lathe_tir_expr *v = lathe_ew_to(f, S, lathe_tir_load(f, x, R.in_idx));
	lathe_ew_red_end(f, &R, b2, LATHE_TIR_ADD, lathe_ew_const(f, S, 0), BIN(MUL, v, v),
			 BIN(DIV, R.r.acc_val, cnt));
	lathe_te_axes ax = lathe_te_axes_new(f, "i", x->rank, x->shape);
	lathe_tir_expr **k = lathe_ew_rplan_kidx(f, &p, ax.idx);
	lathe_tir_expr *m = lathe_tir_load(f, bm, k);
	lathe_tir_expr *sd = UN(SQRT, BIN(SUB, lathe_tir_load(f, b2, k), BIN(MUL, m, m)));
	lathe_tir_expr *xv = lathe_ew_to(f, S, lathe_tir_load(f, x, ax.idx));
	lathe_tir_expr *y = BIN(DIV, BIN(SUB, xv, m), BIN(ADD, sd, lathe_ew_const(f, S, 1e-9)));
	lathe_te_compute(f, out, ax, lathe_ew_to(f, out->dtype, y));
	return NULL;
}

/* y = x / (bias + alpha / size * sum of x^2 over the channel window)^beta,
 * the window being [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to
 * the channels. */
lathe_err lower_lrn(lathe_lower_ctx *c)
{
	LATHE_TRY(need_float_input(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	LATHE_TRY(need_nc(x, "input"));
	int64_t size = lathe_node_attr_int(c->node, "size", 0);
	if (size <= 0)
		return lathe_error(LATHE_EINVAL, "size must be a positive integer, not %lld", (long long)size);
	double alpha = lathe_node_attr_float(c->node, "alpha", 1e-4);
	double beta = lathe_node_attr_float(c->node, "beta", 0.75);
	double bias = lathe_node_attr_float(c->node, "bias", 1.0);
	int S = lathe_ew_acc_dtype(x->dtype);
	int64_t C = x->shape[1], lo = (size - 1) / 2;
	lathe_te_axes ax = lathe_te_axes_new(f, "i", x->rank, x->shape);
	lathe_te_axes rax = lathe_te_axes_new(f, "r", 1, &size);
	lathe_tir_expr *cc = BIN(ADD, BIN(SUB, ax.idx[1], lathe_tir_i64(f, lo)), rax.idx[0]);
	lathe_tir_expr *ok = BIN(AND, BIN(GE, cc, lathe_tir_i64(f, 0)), BIN(LT, cc, lathe_tir_i64(f, C)));
	lathe_tir_expr **xi = lathe_arena_new(f->arena, lathe_tir_expr *, x->rank);
	for (int d = 0; d < x->rank; d++)
		xi[d] = d == 1 ? cc : ax.idx[d];
	lathe_tir_expr *v = lathe_ew_to(f, S, lathe_tir_load(f, x, xi));
	lathe_tir_expr *sq = lathe_tir_select(f, ok, BIN(MUL, v, v), lathe_ew_const(f, S, 0));
	lathe_te_reduce r = lathe_te_reduce_begin(f, S);
	lathe_tir_expr *xv = lathe_ew_to(f, S, lathe_tir_load(f, x, ax.idx));
	lathe_tir_expr *base = lathe_ew_muladd(f, lathe_ew_const(f, S, alpha / (double)size), r.acc_val,
					    lathe_ew_const(f, S, bias));
	lathe_tir_expr *y = BIN(DIV, xv, BIN(POW, base, lathe_ew_const(f, S, beta)));
	lathe_te_reduce_end(f, &r, out, ax, rax, LATHE_TIR_ADD, lathe_ew_const(f, S, 0), sq,
			    lathe_ew_to(f, out->dtype, y));
	return NULL;
}
