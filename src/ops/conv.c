/* conv.c: the convolutions: Conv, ConvInteger, QLinearConv, ConvTranspose
 * and CausalConvWithState (inference and computes), and DeformConv's
 * inference (its kernel is in runtime/src/k_nn.c).
 *
 * Every convolution is one reduction over (input channel of the group,
 * kernel offsets...):
 *     Y[n, m, o...] = sum X[n, g*C/G + ci, o*s - pad + r*d] * W[m, ci, r...]
 * Out-of-image taps are masked with a select (the padding value is zero, or
 * the zero point for the integer forms, which the subtraction turns into
 * zero); only the bounds a tap can actually cross are tested.  ConvTranspose
 * is written in the same gather form (each output reads the inputs whose
 * stride grid hits it) so that it, too, is a pure reduction with no scatter.
 *
 * Float data accumulates in f32 (f64 for f64), integer data in i32.  The
 * QLinear requantization follows the ONNX reference's arithmetic exactly:
 * the scale x_scale * w_scale / y_scale in the scales' type, the product in
 * f64, rounding half to even, then saturation.
 */
#include <string.h>

#include "ops/nn.h"

enum { MAX_GROUP = 1 << 30 };

/* Input positions of a conv-like op. */
typedef struct conv_io {
	int x, w, b;         /* b: bias or -1 */
	int xzp, wzp;        /* zero points or -1 */
	int xs, ws, ys, yzp; /* QLinearConv scales and output zero point, or -1 */
} conv_io;

static conv_io conv_inputs(int op)
{
	conv_io io = {0, 1, 2, -1, -1, -1, -1, -1, -1};
	switch (op) {
	case LATHE_OP_ConvInteger:
		io.b = -1;
		io.xzp = 2;
		io.wzp = 3;
		break;
	case LATHE_OP_QLinearConv:
		io = (conv_io){0, 3, 8, 2, 5, 1, 4, 6, 7};
		break;
	case LATHE_OP_DeformConv:
		io.b = 3;
		break;
	default:
		break;
	}
	return io;
}

static bool is_int8(int dt)
{
	return dt == LATHE_DT_U8 || dt == LATHE_DT_I8;
}

/* Output element type of a conv-like op from its input types. */
static lathe_err conv_out_dtype(const lathe_infer_ctx *c, conv_io io, int *out)
{
	const lathe_type *x = lathe_nn_in(c, io.x);
	int xd = x ? x->dtype : LATHE_DT_UNDEF;
	switch (c->node->op) {
	case LATHE_OP_ConvInteger:
		if (xd != LATHE_DT_UNDEF && !is_int8(xd))
			return lathe_error(LATHE_EUNSUPPORTED, "ConvInteger of %s: only u8 and i8",
					   lathe_dtype_name(xd));
		*out = LATHE_DT_I32;
		return NULL;
	case LATHE_OP_QLinearConv: {
		const lathe_type *yz = lathe_nn_in(c, io.yzp);
		int d = yz ? yz->dtype : xd;
		if (d != LATHE_DT_UNDEF && !is_int8(d))
			return lathe_error(LATHE_EUNSUPPORTED, "QLinearConv to %s: only u8 and i8",
					   lathe_dtype_name(d));
		*out = d;
		return NULL;
	}
	default:
		LATHE_TRY(lathe_nn_check_float(xd, "X"));
		*out = xd;
		return NULL;
	}
}

lathe_err infer_conv(lathe_infer_ctx *c)
{
	int op = c->node->op;
	conv_io io = conv_inputs(op);
	LATHE_TRY(lathe_nn_need(c, io.x, "X"));
	LATHE_TRY(lathe_nn_need(c, io.w, "W"));
	if (op == LATHE_OP_QLinearConv)
		for (int i = 1; i < 8; i++)
			LATHE_TRY(lathe_nn_need(c, i, "a scale or zero point"));
	if (op == LATHE_OP_DeformConv)
		LATHE_TRY(lathe_nn_need(c, 2, "offset"));
	int dtype = LATHE_DT_UNDEF;
	LATHE_TRY(conv_out_dtype(c, io, &dtype));
	const lathe_type *x = lathe_nn_in(c, io.x), *w = lathe_nn_in(c, io.w);
	int rank = x && x->rank >= 0 ? x->rank : w && w->rank >= 0 ? w->rank : -1;
	if (rank < 0) {
		c->out[0] = lathe_nn_type(c->arena, dtype, -1);
		return NULL;
	}
	if (rank < 3)
		return lathe_error(LATHE_EINVAL, "X must have rank >= 3 (N, C, spatial...), not %d",
				   rank);
	LATHE_TRY(lathe_nn_check_rank(x, rank, "X"));
	LATHE_TRY(lathe_nn_check_rank(w, rank, "W"));
	int n = rank - 2;
	lathe_type t = lathe_nn_type(c->arena, dtype, rank);
	if (x && x->rank == rank)
		t.dims[0] = x->dims[0];
	if (w && w->rank == rank)
		t.dims[1] = w->dims[0];
	int64_t group = lathe_node_attr_int(c->node, "group", 1), cx, cw, m;
	if (group <= 0 || group > MAX_GROUP)
		return lathe_error(LATHE_EINVAL, "group %lld must be in [1, %d]", (long long)group,
				   MAX_GROUP);
	if (lathe_nn_dim(x, 1, &cx) && lathe_nn_dim(w, 1, &cw) && (cx % group || cx / group != cw))
		return lathe_error(LATHE_EINVAL,
				   "X has %lld channels but W expects %lld x group %lld",
				   (long long)cx, (long long)cw, (long long)group);
	if (lathe_nn_dim(w, 0, &m) && m % group)
		return lathe_error(LATHE_EINVAL, "W's %lld output channels are not a multiple of group %lld",
				   (long long)m, (long long)group);
	lathe_nn_geom g = {0};
	int64_t *in = lathe_arena_new(c->arena, int64_t, n), *wk = lathe_arena_new(c->arena, int64_t, n);
	for (int i = 0; i < n; i++) {
		if (!lathe_nn_dim(x, i + 2, &in[i]))
			in[i] = -1;
		if (!lathe_nn_dim(w, i + 2, &wk[i]))
			wk[i] = -1;
	}
	LATHE_TRY(lathe_nn_geom_init(c->arena, c->node, LATHE_NN_CONV, n, in, wk, &g));
	for (int i = 0; i < n; i++)
		t.dims[i + 2].size = g.out[i];
	c->out[0] = t;
	return NULL;
}

/* The coordinate o*s - pad + r*d of one spatial dim, and the bounds checks
 * the tap can fail (none when every tap lands inside the image). */
static lathe_tir_expr *tap(lathe_tir_func *f, const lathe_nn_geom *g, int i, lathe_tir_expr *o,
			   lathe_tir_expr *r, lathe_tir_expr **cond)
{
	lathe_tir_expr *p = nn_add(f, nn_addc(f, nn_mulc(f, o, g->stride[i]), -g->pad_lo[i]),
				   nn_mulc(f, r, g->dil[i]));
	if (g->pad_lo[i] > 0)
		*cond = nn_and(f, *cond, nn_bin(f, LATHE_TIR_GE, p, nn_i64(f, 0)));
	int64_t last = (g->out[i] - 1) * g->stride[i] - g->pad_lo[i] + (g->kernel[i] - 1) * g->dil[i];
	if (last >= g->in[i])
		*cond = nn_and(f, *cond, nn_bin(f, LATHE_TIR_LT, p, nn_i64(f, g->in[i])));
	return p;
}

lathe_err lower_conv(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	int op = c->node->op;
	conv_io io = conv_inputs(op);
	lathe_tir_buf *x = c->in_buf[io.x], *w = c->in_buf[io.w], *y = c->out_buf[0];
	lathe_tir_buf *b = io.b >= 0 && io.b < c->nin ? c->in_buf[io.b] : NULL;
	int rank = x->rank, n = rank - 2;
	int64_t group = lathe_node_attr_int(c->node, "group", 1);
	int64_t C = x->shape[1], M = w->shape[0];
	if (group <= 0 || group > MAX_GROUP)
		return lathe_error(LATHE_EINVAL, "group %lld must be in [1, %d]", (long long)group,
				   MAX_GROUP);
	if (C % group || M % group || C / group != w->shape[1])
		return lathe_error(LATHE_EINVAL, "channels (X %lld, W %lld x %lld) do not fit group %lld",
				   (long long)C, (long long)M, (long long)w->shape[1],
				   (long long)group);
	if (b && (b->rank != 1 || b->shape[0] != M))
		return lathe_error(LATHE_EINVAL, "B must have shape [%lld]", (long long)M);
	lathe_nn_geom g = {0};
	LATHE_TRY(lathe_nn_geom_init(f->arena, c->node, LATHE_NN_CONV, n, x->shape + 2,
				     w->shape + 2, &g));
	bool integer = op == LATHE_OP_ConvInteger || op == LATHE_OP_QLinearConv;
	if (integer && (!is_int8(x->dtype) || !is_int8(w->dtype)))
		return lathe_error(LATHE_EUNSUPPORTED, "X and W must be u8 or i8, not %s and %s",
				   lathe_dtype_name(x->dtype), lathe_dtype_name(w->dtype));
	int acc = integer ? LATHE_DT_I32 : lathe_nn_acc_dtype(x->dtype);

	int64_t Cg = C / group, Mg = M / group;
	f->sched_class = Cg == 1 && group > 1 ? LATHE_SCHED_DEPTHWISE_CONV : LATHE_SCHED_CONV;
	int64_t *rext = lathe_arena_new(f->arena, int64_t, n + 1);
	rext[0] = Cg;
	memcpy(rext + 1, g.kernel, sizeof(int64_t) * (size_t)n);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", y->rank, y->shape);
	lathe_te_axes rax = lathe_te_axes_new(f, "r", n + 1, rext);
	lathe_tir_expr *m = ax.idx[1];
	lathe_tir_expr **xi = lathe_arena_new(f->arena, lathe_tir_expr *, rank);
	lathe_tir_expr **wi = lathe_arena_new(f->arena, lathe_tir_expr *, rank);
	lathe_tir_expr *cond = NULL;
	xi[0] = ax.idx[0];
	xi[1] = nn_add(f, nn_mulc(f, nn_divc(f, m, Mg), Cg), rax.idx[0]);
	wi[0] = m;
	wi[1] = rax.idx[0];
	for (int i = 0; i < n; i++) {
		xi[i + 2] = tap(f, &g, i, ax.idx[i + 2], rax.idx[i + 1], &cond);
		wi[i + 2] = rax.idx[i + 1];
	}
	lathe_tir_expr *xv = lathe_nn_to(f, acc, lathe_nn_load(f, x, xi));
	lathe_tir_expr *wv = lathe_nn_to(f, acc, lathe_nn_load(f, w, wi));
	if (integer) {
		lathe_tir_buf *xz = io.xzp < c->nin ? c->in_buf[io.xzp] : NULL;
		lathe_tir_buf *wz = io.wzp < c->nin ? c->in_buf[io.wzp] : NULL;
		if (xz) {
			LATHE_TRY(lathe_nn_check_scalar(xz, "x_zero_point"));
			xv = nn_sub(f, xv, lathe_nn_to(f, acc, lathe_nn_load_scalar(f, xz)));
		}
		if (wz) {
			LATHE_TRY(lathe_nn_check_chan(wz, M, "w_zero_point"));
			wv = nn_sub(f, wv, lathe_nn_to(f, acc, lathe_nn_load_chan(f, wz, m)));
		}
	}
	if (cond)
		xv = lathe_tir_select(f, cond, xv, lathe_nn_const(f, acc, 0));
	lathe_te_reduce r = lathe_te_reduce_begin(f, acc);
	lathe_tir_expr *post = r.acc_val;
	if (b)
		post = nn_add(f, post, lathe_nn_to(f, acc, lathe_nn_load_chan(f, b, m)));
	if (op == LATHE_OP_QLinearConv) {
		lathe_tir_buf *wsb = c->in_buf[io.ws];
		LATHE_TRY(lathe_nn_check_chan(wsb, M, "w_scale"));
		LATHE_TRY(lathe_nn_check_scalar(c->in_buf[io.xs], "x_scale"));
		LATHE_TRY(lathe_nn_check_scalar(c->in_buf[io.ys], "y_scale"));
		LATHE_TRY(lathe_nn_check_scalar(c->in_buf[io.yzp], "y_zero_point"));
		lathe_tir_expr *xs = lathe_nn_load_scalar(f, c->in_buf[io.xs]);
		lathe_tir_expr *ws = lathe_nn_load_chan(f, wsb, m);
		lathe_tir_expr *ys = lathe_nn_load_scalar(f, c->in_buf[io.ys]);
		if (xs->dtype != ws->dtype || xs->dtype != ys->dtype)
			return lathe_error(LATHE_EINVAL, "x_scale, w_scale and y_scale must have one type");
		lathe_tir_expr *zp = lathe_nn_load_scalar(f, c->in_buf[io.yzp]);
		post = lathe_nn_requantize(f, post, lathe_nn_qscale(f, xs, ws, ys), zp, y->dtype);
	} else {
		post = lathe_nn_to(f, y->dtype, post);
	}
	lathe_te_reduce_end(f, &r, y, ax, rax, LATHE_TIR_ADD, lathe_nn_const(f, acc, 0),
			    nn_mul(f, xv, wv), post);
	return NULL;
}

/* ---- ConvTranspose ---------------------------------------------------------------- */

lathe_err infer_conv_transpose(lathe_infer_ctx *c)
{
	LATHE_TRY(lathe_nn_need(c, 0, "X"));
	LATHE_TRY(lathe_nn_need(c, 1, "W"));
	const lathe_type *x = lathe_nn_in(c, 0), *w = lathe_nn_in(c, 1);
	int dtype = x ? x->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(lathe_nn_check_float(dtype, "X"));
	int rank = x && x->rank >= 0 ? x->rank : w && w->rank >= 0 ? w->rank : -1;
	if (rank < 0) {
		c->out[0] = lathe_nn_type(c->arena, dtype, -1);
		return NULL;
	}
	if (rank < 3)
		return lathe_error(LATHE_EINVAL, "X must have rank >= 3, not %d", rank);
	LATHE_TRY(lathe_nn_check_rank(x, rank, "X"));
	LATHE_TRY(lathe_nn_check_rank(w, rank, "W"));
	int n = rank - 2;
	int64_t group = lathe_node_attr_int(c->node, "group", 1), cx, cw, mg;
	if (group <= 0 || group > MAX_GROUP)
		return lathe_error(LATHE_EINVAL, "group %lld must be in [1, %d]", (long long)group,
				   MAX_GROUP);
	if (lathe_nn_dim(x, 1, &cx) && lathe_nn_dim(w, 0, &cw) && cx != cw)
		return lathe_error(LATHE_EINVAL, "X has %lld channels but W has %lld",
				   (long long)cx, (long long)cw);
	lathe_type t = lathe_nn_type(c->arena, dtype, rank);
	if (x && x->rank == rank)
		t.dims[0] = x->dims[0];
	if (lathe_nn_dim(w, 1, &mg) && mg <= ((int64_t)1 << 40) / group)
		t.dims[1].size = mg * group;
	int64_t *in = lathe_arena_new(c->arena, int64_t, n), *wk = lathe_arena_new(c->arena, int64_t, n);
	for (int i = 0; i < n; i++) {
		if (!lathe_nn_dim(x, i + 2, &in[i]))
			in[i] = -1;
		if (!lathe_nn_dim(w, i + 2, &wk[i]))
			wk[i] = -1;
	}
	lathe_nn_geom g = {0};
	LATHE_TRY(lathe_nn_geom_init(c->arena, c->node, LATHE_NN_CONV_T, n, in, wk, &g));
	for (int i = 0; i < n; i++)
		t.dims[i + 2].size = g.out[i];
	c->out[0] = t;
	return NULL;
}

lathe_err lower_conv_transpose(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_CONV;
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *w = c->in_buf[1], *y = c->out_buf[0];
	lathe_tir_buf *b = c->nin > 2 ? c->in_buf[2] : NULL;
	int rank = x->rank, n = rank - 2;
	int64_t group = lathe_node_attr_int(c->node, "group", 1);
	if (group <= 0 || group > MAX_GROUP)
		return lathe_error(LATHE_EINVAL, "group %lld must be in [1, %d]", (long long)group,
				   MAX_GROUP);
	int64_t C = x->shape[1], Mg = w->shape[1];
	if (w->shape[0] != C || C % group)
		return lathe_error(LATHE_EINVAL, "W's dim 0 (%lld) must be X's channels (%lld), a "
				   "multiple of group %lld",
				   (long long)w->shape[0], (long long)C, (long long)group);
	if (Mg > ((int64_t)1 << 40) / group)
		return lathe_error(LATHE_EINVAL, "W's dim 1 (%lld) x group is too large", (long long)Mg);
	int64_t M = Mg * group;
	if (b && (b->rank != 1 || b->shape[0] != M))
		return lathe_error(LATHE_EINVAL, "B must have shape [%lld]", (long long)M);
	lathe_nn_geom g = {0};
	LATHE_TRY(lathe_nn_geom_init(f->arena, c->node, LATHE_NN_CONV_T, n, x->shape + 2,
				     w->shape + 2, &g));
	int acc = lathe_nn_acc_dtype(x->dtype);
	int64_t Cg = C / group;
	int64_t *rext = lathe_arena_new(f->arena, int64_t, n + 1);
	rext[0] = Cg;
	memcpy(rext + 1, g.kernel, sizeof(int64_t) * (size_t)n);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", y->rank, y->shape);
	lathe_te_axes rax = lathe_te_axes_new(f, "r", n + 1, rext);
	lathe_tir_expr *m = ax.idx[1];
	lathe_tir_expr *cin = nn_add(f, nn_mulc(f, nn_divc(f, m, Mg), Cg), rax.idx[0]);
	lathe_tir_expr **xi = lathe_arena_new(f->arena, lathe_tir_expr *, rank);
	lathe_tir_expr **wi = lathe_arena_new(f->arena, lathe_tir_expr *, rank);
	lathe_tir_expr *cond = NULL;
	xi[0] = ax.idx[0];
	xi[1] = cin;
	wi[0] = cin;
	wi[1] = nn_modc(f, m, Mg);
	/* Output o receives input q where q*s - pad + r*d = o. */
	for (int i = 0; i < n; i++) {
		lathe_tir_expr *t = nn_sub(f, nn_addc(f, ax.idx[i + 2], g.pad_lo[i]),
					   nn_mulc(f, rax.idx[i + 1], g.dil[i]));
		lathe_tir_expr *q = nn_divc(f, t, g.stride[i]);
		if (g.stride[i] > 1)
			cond = nn_and(f, cond, nn_bin(f, LATHE_TIR_EQ, nn_modc(f, t, g.stride[i]),
						      nn_i64(f, 0)));
		cond = nn_and(f, cond, nn_bin(f, LATHE_TIR_GE, q, nn_i64(f, 0)));
		cond = nn_and(f, cond, nn_bin(f, LATHE_TIR_LT, q, nn_i64(f, g.in[i])));
		xi[i + 2] = q;
		wi[i + 2] = rax.idx[i + 1];
	}
	lathe_tir_expr *xv = lathe_nn_to(f, acc, lathe_nn_load(f, x, xi));
	lathe_tir_expr *wv = lathe_nn_to(f, acc, lathe_nn_load(f, w, wi));
	lathe_tir_expr *v = lathe_tir_select(f, cond, nn_mul(f, xv, wv), lathe_nn_const(f, acc, 0));
	lathe_te_reduce r = lathe_te_reduce_begin(f, acc);
	lathe_tir_expr *post = r.acc_val;
	if (b)
		post = nn_add(f, post, lathe_nn_to(f, acc, lathe_nn_load_chan(f, b, m)));
	lathe_te_reduce_end(f, &r, y, ax, rax, LATHE_TIR_ADD, lathe_nn_const(f, acc, 0), v,
			    lathe_nn_to(f, y->dtype, post));
	return NULL;
}

/* ---- CausalConvWithState ------------------------------------------------------------ */

/* Inputs: input [B,C,L], weight [C,1,k], bias [C]?, past_state [B,C,k-1]?
 * Outputs: output [B,C,L], present_state [B,C,k-1]. */
lathe_err infer_causal_conv(lathe_infer_ctx *c)
{
	LATHE_TRY(lathe_nn_need(c, 0, "input"));
	LATHE_TRY(lathe_nn_need(c, 1, "weight"));
	const lathe_type *x = lathe_nn_in(c, 0), *w = lathe_nn_in(c, 1);
	int dtype = x ? x->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(lathe_nn_check_float(dtype, "input"));
	LATHE_TRY(lathe_nn_check_rank(x, 3, "input"));
	LATHE_TRY(lathe_nn_check_rank(w, 3, "weight"));
	const char *act = lathe_node_attr_str(c->node, "activation", "none");
	if (strcmp(act, "none") && strcmp(act, "silu") && strcmp(act, "swish"))
		return lathe_error(LATHE_EINVAL, "activation '%s' is not none, silu or swish", act);
	c->out[0] = lathe_nn_type(c->arena, dtype, 3);
	if (c->nout > 1)
		c->out[1] = lathe_nn_type(c->arena, dtype, 3);
	if (x && x->rank == 3) {
		for (int i = 0; i < 3; i++)
			c->out[0].dims[i] = x->dims[i];
		if (c->nout > 1) {
			c->out[1].dims[0] = x->dims[0];
			c->out[1].dims[1] = x->dims[1];
		}
	}
	int64_t k;
	if (c->nout > 1 && lathe_nn_dim(w, 2, &k)) {
		if (k < 1)
			return lathe_error(LATHE_EINVAL, "the kernel size must be positive");
		c->out[1].dims[2].size = k - 1;
	}
	return NULL;
}

lathe_err lower_causal_conv(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *w = c->in_buf[1], *y = c->out_buf[0];
	lathe_tir_buf *b = c->nin > 2 ? c->in_buf[2] : NULL;
	lathe_tir_buf *past = c->nin > 3 ? c->in_buf[3] : NULL;
	int64_t B = x->shape[0], C = x->shape[1], L = x->shape[2], k = w->shape[2];
	if (w->shape[0] != C || w->shape[1] != 1 || k < 1)
		return lathe_error(LATHE_EINVAL, "weight must have shape [%lld, 1, k]", (long long)C);
	if (b && (b->rank != 1 || b->shape[0] != C))
		return lathe_error(LATHE_EINVAL, "bias must have shape [%lld]", (long long)C);
	if (past && (past->rank != 3 || past->shape[0] != B || past->shape[1] != C ||
		     past->shape[2] != k - 1))
		return lathe_error(LATHE_EINVAL, "past_state must have shape [%lld, %lld, %lld]",
				   (long long)B, (long long)C, (long long)(k - 1));
	const char *act = lathe_node_attr_str(c->node, "activation", "none");
	bool silu = !strcmp(act, "silu") || !strcmp(act, "swish");
	int acc = lathe_nn_acc_dtype(x->dtype);

	/* padded[b, c, j] = past (or 0) for j < k-1, then the input. */
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 3, y->shape);
	int64_t rext[1] = {k};
	lathe_te_axes rax = lathe_te_axes_new(f, "r", 1, rext);
	lathe_tir_expr *j = nn_add(f, ax.idx[2], rax.idx[0]);
	lathe_tir_expr *xi[3] = {ax.idx[0], ax.idx[1], nn_addc(f, j, -(k - 1))};
	lathe_tir_expr *xv = lathe_nn_to(f, acc, lathe_nn_load(f, x, xi));
	lathe_tir_expr *pv = lathe_nn_const(f, acc, 0);
	if (past) {
		lathe_tir_expr *pi[3] = {ax.idx[0], ax.idx[1], j};
		pv = lathe_nn_to(f, acc, lathe_nn_load(f, past, pi));
	}
	lathe_tir_expr *v = lathe_tir_select(f, nn_bin(f, LATHE_TIR_LT, j, nn_i64(f, k - 1)), pv, xv);
	lathe_tir_expr *wi[3] = {ax.idx[1], nn_i64(f, 0), rax.idx[0]};
	v = nn_mul(f, v, lathe_nn_to(f, acc, lathe_nn_load(f, w, wi)));
	lathe_te_reduce r = lathe_te_reduce_begin(f, acc);
	lathe_tir_expr *post = r.acc_val;
	if (b)
		post = nn_add(f, post, lathe_nn_to(f, acc, lathe_nn_load_chan(f, b, ax.idx[1])));
	if (silu) {
		/* The reference rounds the convolution to the data type first. */
		lathe_tir_expr *yv = lathe_nn_to(f, acc, lathe_nn_to(f, y->dtype, post));
		post = nn_mul(f, yv, lathe_tir_unary(f, LATHE_TIR_SIGMOID, yv));
	}
	lathe_te_reduce_end(f, &r, y, ax, rax, LATHE_TIR_ADD, lathe_nn_const(f, acc, 0), v,
			    lathe_nn_to(f, y->dtype, post));

	if (c->nout > 1) {
		/* present[b, c, j] = padded[b, c, L + j]. */
		lathe_tir_buf *ps = c->out_buf[1];
		lathe_te_axes pax = lathe_te_axes_new(f, "p", 3, ps->shape);
		lathe_tir_expr *pj = nn_addc(f, pax.idx[2], L);
		lathe_tir_expr *si[3] = {pax.idx[0], pax.idx[1], nn_addc(f, pj, -(k - 1))};
		lathe_tir_expr *sv = lathe_nn_load(f, x, si);
		lathe_tir_expr *qv = lathe_nn_const(f, ps->dtype, 0);
		if (past) {
			lathe_tir_expr *qi[3] = {pax.idx[0], pax.idx[1], pj};
			qv = lathe_nn_to(f, ps->dtype, lathe_nn_load(f, past, qi));
		}
		lathe_te_compute(f, ps, pax,
				 lathe_tir_select(f, nn_bin(f, LATHE_TIR_LT, pj, nn_i64(f, k - 1)),
						  qv, lathe_nn_to(f, ps->dtype, sv)));
	}
	return NULL;
}
