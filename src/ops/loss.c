/* loss.c: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
 *
 * Both gather, for each position (n, d1, ...) of the target, the log
 * probability of the target class, weight it by weight[class] (1 without
 * weights, 0 when the class is ignore_index) and reduce: "none" keeps the
 * target's shape, "sum" adds, "mean" divides the sum by the sum of the
 * weights (the number of counted positions without weights).
 * SoftmaxCrossEntropyLoss first takes log_softmax over the class axis 1
 * (two reduction nests for each row's max and sum of exponentials), and may
 * output those log probabilities too.
 *
 * The class read from the target is data: it is clamped into [0, C) before
 * being used as an index, so a bad label never reads out of bounds.
 */
#include <string.h>

#include "ops/elementwise.h"

#define BIN(op, a, b) lathe_tir_binary(f, LATHE_TIR_##op, (a), (b))

enum { RED_NONE, RED_SUM, RED_MEAN };

static lathe_err loss_reduction(const lathe_node *n, int *out)
{
	const char *r = lathe_node_attr_str(n, "reduction", "mean");
	if (!strcmp(r, "none"))
		*out = RED_NONE;
	else if (!strcmp(r, "sum"))
		*out = RED_SUM;
	else if (!strcmp(r, "mean"))
		*out = RED_MEAN;
	else
		return lathe_error(LATHE_EINVAL, "reduction must be \"none\", \"sum\" or \"mean\", not \"%s\"", r);
	return NULL;
}

/* Scores (N, C, d...) and target (N, d...): shapes agree and types fit. */
static lathe_err loss_infer(lathe_infer_ctx *c, bool log_prob_out)
{
	if (c->nin < 2 || !c->in[0] || !c->in[1])
		return lathe_error(LATHE_EINVAL, "inputs 0 (scores) and 1 (target) are required");
	const lathe_type *x = c->in[0], *t = c->in[1];
	int red;
	LATHE_TRY(loss_reduction(c->node, &red));
	if (x->kind == LATHE_TY_TENSOR && t->kind == LATHE_TY_TENSOR) {
		if (!lathe_dtype_is_float(x->dtype))
			return lathe_error(LATHE_EINVAL, "scores must be float, not %s", lathe_dtype_name(x->dtype));
		if (!lathe_dtype_is_int(t->dtype))
			return lathe_error(LATHE_EINVAL, "target must be an integer tensor, not %s",
					   lathe_dtype_name(t->dtype));
		if (x->rank >= 0 && x->rank < 2)
			return lathe_error(LATHE_EINVAL, "scores must have rank >= 2 (N, C, ...), it has %d", x->rank);
		if (x->rank >= 0 && t->rank >= 0 && t->rank != x->rank - 1)
			return lathe_error(LATHE_EINVAL, "target has rank %d, expected %d", t->rank, x->rank - 1);
	}
	if (red != RED_NONE)
		c->out[0] = lathe_type_tensor(c->arena, x->dtype, 0, NULL);
	else if (t->kind == LATHE_TY_TENSOR)
		c->out[0] = lathe_type_with_dtype(c->arena, t, x->dtype);
	else
		c->out[0] = lathe_type_unknown();
	if (log_prob_out && c->nout > 1)
		c->out[1] = lathe_type_like(c->arena, x);
	return NULL;
}

lathe_err infer_nll_loss(lathe_infer_ctx *c)
{
	return loss_infer(c, false);
}

lathe_err infer_sce_loss(lathe_infer_ctx *c)
{
	return loss_infer(c, true);
}

typedef struct loss_ctx {
	lathe_tir_func *f;
	lathe_tir_buf *x, *target, *weight;
	lathe_tir_buf *m, *s; /* SCE: per-(n, d...) max and sum of exp, shape (N, 1, d...) */
	bool has_ii;
	int64_t ii, C;
	int S; /* compute type */
} loss_ctx;

/* For target index ti: the (clamped) class, whether it is ignored, its
 * weight and -log p(class). */
static void loss_terms(loss_ctx *L, lathe_tir_expr *const *ti, lathe_tir_expr **w,
		       lathe_tir_expr **nll)
{
	lathe_tir_func *f = L->f;
	int rank = L->x->rank;
	lathe_tir_expr *cls = lathe_ew_to(f, LATHE_DT_I64, lathe_tir_load(f, L->target, ti));
	lathe_tir_expr *ign = L->has_ii ? BIN(EQ, cls, lathe_tir_i64(f, L->ii)) : NULL;
	lathe_tir_expr *cl = BIN(MAX, lathe_tir_i64(f, 0), BIN(MIN, cls, lathe_tir_i64(f, L->C - 1)));
	lathe_tir_expr **xi = lathe_arena_new(f->arena, lathe_tir_expr *, rank);
	lathe_tir_expr **ki = lathe_arena_new(f->arena, lathe_tir_expr *, rank);
	for (int d = 0; d < rank; d++) {
		lathe_tir_expr *e = d == 0 ? ti[0] : d == 1 ? NULL : ti[d - 1];
		xi[d] = d == 1 ? cl : e;
		ki[d] = d == 1 ? lathe_tir_i64(f, 0) : e;
	}
	lathe_tir_expr *lp = lathe_ew_to(f, L->S, lathe_tir_load(f, L->x, xi));
	if (L->m) {
		lp = BIN(SUB, lp, lathe_tir_load(f, L->m, ki));
		lp = BIN(SUB, lp, lathe_tir_unary(f, LATHE_TIR_LOG, lathe_tir_load(f, L->s, ki)));
	}
	lathe_tir_expr *wt = L->weight ? lathe_ew_to(f, L->S, lathe_tir_load(f, L->weight, &cl))
				       : lathe_ew_const(f, L->S, 1);
	lathe_tir_expr *zero = lathe_ew_const(f, L->S, 0);
	lathe_tir_expr *v = BIN(MUL, lathe_tir_unary(f, LATHE_TIR_NEG, lp), wt);
	*w = ign ? lathe_tir_select(f, ign, zero, wt) : wt;
	*nll = ign ? lathe_tir_select(f, ign, zero, v) : v;
}

static lathe_err loss_lower(lathe_lower_ctx *c, bool softmax)
{
	lathe_tir_func *f = c->fn;
	if (c->nin < 2 || !c->in_buf[0] || !c->in_buf[1])
		return lathe_error(LATHE_EINVAL, "inputs 0 (scores) and 1 (target) are required");
	loss_ctx L = {0};
	L.f = f;
	L.x = c->in_buf[0];
	L.target = c->in_buf[1];
	L.weight = c->nin > 2 ? c->in_buf[2] : NULL;
	int rank = L.x->rank, red;
	LATHE_TRY(loss_reduction(c->node, &red));
	if (rank < 2 || L.target->rank != rank - 1)
		return lathe_error(LATHE_EINVAL, "scores (rank %d) and target (rank %d) do not fit", rank,
				   L.target->rank);
	L.C = L.x->shape[1];
	for (int d = 0; d < rank - 1; d++)
		if (L.target->shape[d] != L.x->shape[d == 0 ? 0 : d + 1])
			return lathe_error(LATHE_EINVAL, "target dim %d is %lld, scores have %lld", d,
					   (long long)L.target->shape[d],
					   (long long)L.x->shape[d == 0 ? 0 : d + 1]);
	if (L.weight && (L.weight->rank != 1 || L.weight->shape[0] != L.C))
		return lathe_error(LATHE_EINVAL, "weight must have shape [%lld]", (long long)L.C);
	if (!lathe_dtype_is_float(L.x->dtype) || !lathe_dtype_is_int(L.target->dtype))
		return lathe_error(LATHE_EUNSUPPORTED, "scores of %s and target of %s",
				   lathe_dtype_name(L.x->dtype), lathe_dtype_name(L.target->dtype));
	const lathe_attr *ia = lathe_node_attr(c->node, "ignore_index");
	L.has_ii = ia && ia->kind == LATHE_ATTR_INT;
	L.ii = L.has_ii ? ia->u.i : 0;
	L.S = lathe_ew_acc_dtype(L.x->dtype);
	if (L.C == 0)
		return lathe_error(LATHE_EINVAL, "scores have no classes (C = 0)");

	if (softmax) {
		bool *rm = lathe_arena_new(f->arena, bool, rank);
		rm[1] = true;
		lathe_ew_rplan p;
		LATHE_TRY(lathe_ew_rplan_init(f, rank, L.x->shape, rm, &p));
		L.m = lathe_ew_klocal(f, &p, "m", L.S);
		lathe_ew_red R = lathe_ew_red_begin(f, &p, L.S, true);
		lathe_ew_red_end(f, &R, L.m, LATHE_TIR_MAX, lathe_te_lowest(f, L.S),
				 lathe_ew_to(f, L.S, lathe_tir_load(f, L.x, R.in_idx)), NULL);
		L.s = lathe_ew_klocal(f, &p, "s", L.S);
		lathe_ew_red E = lathe_ew_red_begin(f, &p, L.S, true);
		lathe_tir_expr *d = BIN(SUB, lathe_ew_to(f, L.S, lathe_tir_load(f, L.x, E.in_idx)),
					lathe_tir_load(f, L.m, E.ax.idx));
		lathe_ew_red_end(f, &E, L.s, LATHE_TIR_ADD, lathe_ew_const(f, L.S, 0),
				 lathe_tir_unary(f, LATHE_TIR_EXP, d), NULL);
		if (c->nout > 1 && c->out_buf[1]) {
			lathe_tir_buf *o = c->out_buf[1];
			lathe_te_axes ax = lathe_te_axes_new(f, "i", rank, L.x->shape);
			lathe_tir_expr **k = lathe_ew_rplan_kidx(f, &p, ax.idx);
			lathe_tir_expr *lp = BIN(SUB, lathe_ew_to(f, L.S, lathe_tir_load(f, L.x, ax.idx)),
						 lathe_tir_load(f, L.m, k));
			lp = BIN(SUB, lp, lathe_tir_unary(f, LATHE_TIR_LOG, lathe_tir_load(f, L.s, k)));
			lathe_te_compute(f, o, ax, lathe_ew_to(f, o->dtype, lp));
		}
	}

	lathe_tir_buf *out = c->out_buf[0];
	lathe_tir_expr *w, *nll;
	if (red == RED_NONE) {
		lathe_te_axes ax = lathe_te_axes_new(f, "i", rank - 1, L.target->shape);
		loss_terms(&L, ax.idx, &w, &nll);
		lathe_te_compute(f, out, ax, lathe_ew_to(f, out->dtype, nll));
		return NULL;
	}
	lathe_te_axes none = lathe_te_axes_new(f, "o", 0, NULL);
	lathe_tir_expr *den = NULL;
	if (red == RED_MEAN) {
		lathe_tir_buf *wsum = lathe_tir_local(f, "wsum", L.S, 0, NULL);
		lathe_te_axes rax = lathe_te_axes_new(f, "r", rank - 1, L.target->shape);
		lathe_te_reduce r = lathe_te_reduce_begin(f, L.S);
		loss_terms(&L, rax.idx, &w, &nll);
		lathe_te_reduce_end(f, &r, wsum, none, rax, LATHE_TIR_ADD, lathe_ew_const(f, L.S, 0), w, NULL);
		den = lathe_tir_load(f, wsum, NULL);
	}
	lathe_te_axes rax = lathe_te_axes_new(f, "r", rank - 1, L.target->shape);
	lathe_te_reduce r = lathe_te_reduce_begin(f, L.S);
	loss_terms(&L, rax.idx, &w, &nll);
	lathe_tir_expr *post = den ? BIN(DIV, r.acc_val, den) : r.acc_val;
	lathe_te_reduce_end(f, &r, out, none, rax, LATHE_TIR_ADD, lathe_ew_const(f, L.S, 0), nll,
			    lathe_ew_to(f, out->dtype, post));
	return NULL;
}

lathe_err lower_nll_loss(lathe_lower_ctx *c)
{
	return loss_lower(c, false);
}

lathe_err lower_sce_loss(lathe_lower_ctx *c)
{
	return loss_lower(c, true);
}
