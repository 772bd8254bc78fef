/* pool.c: the pooling ops MaxPool (with its optional Indices output),
 * AveragePool, LpPool and their Global* forms: inference and computes.
 *
 * A pool is a reduction over the kernel window of each output position:
 *     Y[n, c, o...] = reduce over r... of X[n, c, o*s - pad + r*d]
 * with max / sum / sum of |x|^p.  Window taps outside the image are masked:
 * they never win a max and add nothing to a sum.  AveragePool divides by
 * the number of taps inside the image (count_include_pad = 0) or inside the
 * explicitly padded image (count_include_pad = 1; taps in the extra
 * ceil_mode overhang never count); that number is an index expression
 * computed per dim, not a second reduction.  MaxPool's Indices (the first
 * maximum in window order, as a flat offset into X, row- or column-major
 * per storage_order) needs a value and a position per window, so that form
 * is an explicit loop nest with two scalar accumulators.
 *
 * A window lying wholly in the padding (possible with large pads) gives the
 * type's lowest value and index -1 for MaxPool, and 0 / 0 = NaN for
 * AveragePool with count_include_pad = 0.
 *
 * Global pools are the same computes with the window set to the whole image.
 */
#include <string.h>

#include "ops/nn.h"

static bool is_max(int op)
{
	return op == LATHE_OP_MaxPool || op == LATHE_OP_GlobalMaxPool;
}

static bool is_lp(int op)
{
	return op == LATHE_OP_LpPool || op == LATHE_OP_GlobalLpPool;
}

static lathe_err pool_dtype(int op, int dtype)
{
	if (is_max(op) && (dtype == LATHE_DT_U8 || dtype == LATHE_DT_I8))
		return NULL;
	return lathe_nn_check_float(dtype, "X");
}

lathe_err infer_pool(lathe_infer_ctx *c)
{
	LATHE_TRY(lathe_nn_need(c, 0, "X"));
	const lathe_type *x = lathe_nn_in(c, 0);
	int dtype = x ? x->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(pool_dtype(c->node->op, dtype));
	if (c->nout > 1 && c->node->op != LATHE_OP_MaxPool)
		return lathe_error(LATHE_EINVAL, "has one output, not %d", c->nout);
	if (!x || x->rank < 0) {
		for (int j = 0; j < c->nout; j++)
			c->out[j] = lathe_nn_type(c->arena, j ? LATHE_DT_I64 : dtype, -1);
		return NULL;
	}
	if (x->rank < 3)
		return lathe_error(LATHE_EINVAL, "X must have rank >= 3 (N, C, spatial...), not %d",
				   x->rank);
	int n = x->rank - 2;
	lathe_nn_geom g = {0};
	LATHE_TRY(lathe_nn_geom_init(c->arena, c->node, LATHE_NN_POOL, n,
				     lathe_nn_spatial(c->arena, x, n), NULL, &g));
	if (c->node->op == LATHE_OP_MaxPool) {
		int64_t so = lathe_node_attr_int(c->node, "storage_order", 0);
		if (so != 0 && so != 1)
			return lathe_error(LATHE_EINVAL, "storage_order %lld is not 0 or 1", (long long)so);
	}
	for (int j = 0; j < c->nout; j++) {
		lathe_type t = lathe_nn_type(c->arena, j ? LATHE_DT_I64 : dtype, x->rank);
		t.dims[0] = x->dims[0];
		t.dims[1] = x->dims[1];
		for (int i = 0; i < n; i++)
			t.dims[i + 2].size = g.out[i];
		c->out[j] = t;
	}
	return NULL;
}

lathe_err infer_global_pool(lathe_infer_ctx *c)
{
	LATHE_TRY(lathe_nn_need(c, 0, "X"));
	const lathe_type *x = lathe_nn_in(c, 0);
	int dtype = x ? x->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(pool_dtype(c->node->op, dtype));
	if (!x || x->rank < 0) {
		c->out[0] = lathe_nn_type(c->arena, dtype, -1);
		return NULL;
	}
	if (x->rank < 2)
		return lathe_error(LATHE_EINVAL, "X must have rank >= 2 (N, C, spatial...), not %d",
				   x->rank);
	lathe_type t = lathe_nn_type(c->arena, dtype, x->rank);
	t.dims[0] = x->dims[0];
	t.dims[1] = x->dims[1];
	for (int i = 2; i < x->rank; i++)
		t.dims[i].size = 1;
	c->out[0] = t;
	return NULL;
}

/* The window of a global pool: the whole image. */
static void global_geom(lathe_arena *a, const lathe_tir_buf *x, lathe_nn_geom *g)
{
	int n = x->rank - 2;
	g->n = n;
	g->in = lathe_arena_new(a, int64_t, n + 1);
	g->kernel = lathe_arena_new(a, int64_t, n + 1);
	g->stride = lathe_arena_new(a, int64_t, n + 1);
	g->dil = lathe_arena_new(a, int64_t, n + 1);
	g->pad_lo = lathe_arena_new(a, int64_t, n + 1);
	g->pad_hi = lathe_arena_new(a, int64_t, n + 1);
	g->out = lathe_arena_new(a, int64_t, n + 1);
	for (int i = 0; i < n; i++) {
		g->in[i] = g->kernel[i] = x->shape[i + 2];
		g->stride[i] = g->dil[i] = g->out[i] = 1;
	}
}

/* ceil(a / d) for d > 0, on i64 index expressions. */
static lathe_tir_expr *ceil_div(lathe_tir_func *f, lathe_tir_expr *a, int64_t d)
{
	return nn_divc(f, nn_addc(f, a, d - 1), d);
}

/* Number of taps k in [0, K) of dim i with lo <= start + k*d < hi. */
static lathe_tir_expr *tap_count(lathe_tir_func *f, const lathe_nn_geom *g, int i,
				 lathe_tir_expr *start, int64_t lo, int64_t hi)
{
	int64_t d = g->dil[i];
	lathe_tir_expr *kmin = ceil_div(f, nn_sub(f, nn_i64(f, lo), start), d);
	lathe_tir_expr *kmax = ceil_div(f, nn_sub(f, nn_i64(f, hi), start), d);
	kmin = nn_bin(f, LATHE_TIR_MAX, kmin, nn_i64(f, 0));
	kmax = nn_bin(f, LATHE_TIR_MIN, kmax, nn_i64(f, g->kernel[i]));
	return nn_bin(f, LATHE_TIR_MAX, nn_sub(f, kmax, kmin), nn_i64(f, 0));
}

/* MaxPool with Indices: for each window, the first maximum and its flat
 * offset in X. */
static void lower_argmax(lathe_lower_ctx *c, const lathe_nn_geom *g, lathe_te_axes ax,
			 lathe_te_axes rax, lathe_tir_expr *const *xi, lathe_tir_expr *cond)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *y = c->out_buf[0], *ind = c->out_buf[1];
	int n = g->n;
	bool colmajor = lathe_node_attr_int(c->node, "storage_order", 0) == 1;
	lathe_tir_expr *flat;
	if (colmajor) {
		int64_t plane = 1;
		for (int i = 0; i < n; i++)
			plane *= x->shape[i + 2];
		flat = nn_mulc(f, nn_add(f, nn_mulc(f, xi[0], x->shape[1]), xi[1]), plane);
		int64_t stride = 1;
		for (int i = 0; i < n; i++) {
			flat = nn_add(f, flat, nn_mulc(f, xi[i + 2], stride));
			stride *= x->shape[i + 2];
		}
	} else {
		flat = lathe_te_ravel(f, x->rank, x->shape, xi);
	}
	lathe_tir_buf *mb = lathe_nn_scalar_local(f, "max", x->dtype);
	lathe_tir_buf *ib = lathe_nn_scalar_local(f, "argmax", LATHE_DT_I64);
	lathe_tir_var *vv = lathe_tir_new_var(f, "v", x->dtype);
	lathe_tir_expr *v = lathe_tir_varref(f, vv);
	lathe_tir_expr *better = lathe_tir_binary(
		f, LATHE_TIR_OR, nn_bin(f, LATHE_TIR_GT, v, lathe_nn_load0(f, mb)),
		nn_bin(f, LATHE_TIR_LT, lathe_nn_load0(f, ib), nn_i64(f, 0)));
	lathe_tir_stmt *upd[2] = {lathe_nn_store0(f, mb, v), lathe_nn_store0(f, ib, flat)};
	lathe_tir_stmt *inner = lathe_tir_let(f, vv, lathe_nn_load(f, x, xi),
					      lathe_tir_if(f, better, lathe_tir_seq(f, 2, upd), NULL));
	if (cond)
		inner = lathe_tir_if(f, cond, inner, NULL);
	lathe_tir_stmt *body[5] = {
		lathe_nn_store0(f, mb, lathe_te_lowest(f, x->dtype)),
		lathe_nn_store0(f, ib, nn_i64(f, -1)),
		lathe_te_nest(f, rax, inner),
		lathe_tir_store(f, y, ax.idx, lathe_nn_load0(f, mb)),
		lathe_tir_store(f, ind, ax.idx, lathe_nn_load0(f, ib)),
	};
	lathe_tir_append(f, lathe_te_nest(f, ax, lathe_tir_seq(f, 5, body)));
}

lathe_err lower_pool(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_POOL;
	lathe_tir_func *f = c->fn;
	int op = c->node->op;
	lathe_tir_buf *x = c->in_buf[0], *y = c->out_buf[0];
	int n = x->rank - 2;
	bool global = op == LATHE_OP_GlobalAveragePool || op == LATHE_OP_GlobalMaxPool ||
		      op == LATHE_OP_GlobalLpPool;
	lathe_nn_geom g = {0};
	if (global)
		global_geom(f->arena, x, &g);
	else
		LATHE_TRY(lathe_nn_geom_init(f->arena, c->node, LATHE_NN_POOL, n, x->shape + 2,
					     NULL, &g));
	lathe_te_axes ax = lathe_te_axes_new(f, "i", y->rank, y->shape);
	lathe_te_axes rax = lathe_te_axes_new(f, "r", n, g.kernel);
	lathe_tir_expr **xi = lathe_arena_new(f->arena, lathe_tir_expr *, x->rank);
	lathe_tir_expr **start = lathe_arena_new(f->arena, lathe_tir_expr *, n + 1);
	lathe_tir_expr *cond = NULL;
	bool full = true; /* every tap of every window inside the image */
	xi[0] = ax.idx[0];
	xi[1] = ax.idx[1];
	for (int i = 0; i < n; i++) {
		start[i] = nn_addc(f, nn_mulc(f, ax.idx[i + 2], g.stride[i]), -g.pad_lo[i]);
		lathe_tir_expr *p = nn_add(f, start[i], nn_mulc(f, rax.idx[i], g.dil[i]));
		int64_t last = (g.out[i] - 1) * g.stride[i] - g.pad_lo[i] +
			       (g.kernel[i] - 1) * g.dil[i];
		if (g.pad_lo[i] > 0) {
			cond = nn_and(f, cond, nn_bin(f, LATHE_TIR_GE, p, nn_i64(f, 0)));
			full = false;
		}
		if (last >= g.in[i]) {
			cond = nn_and(f, cond, nn_bin(f, LATHE_TIR_LT, p, nn_i64(f, g.in[i])));
			full = false;
		}
		xi[i + 2] = p;
	}
	lathe_tir_expr *xv = lathe_nn_load(f, x, xi);

	if (is_max(op)) {
		if (c->nout > 1) {
			lower_argmax(c, &g, ax, rax, xi, cond);
			return NULL;
		}
		if (cond)
			xv = lathe_tir_select(f, cond, xv, lathe_te_lowest(f, x->dtype));
		lathe_te_reduce r = lathe_te_reduce_begin(f, x->dtype);
		lathe_te_reduce_end(f, &r, y, ax, rax, LATHE_TIR_MAX, lathe_te_lowest(f, x->dtype),
				    xv, NULL);
		return NULL;
	}

	int acc = lathe_nn_acc_dtype(x->dtype);
	xv = lathe_nn_to(f, acc, xv);
	double p = 0;
	if (is_lp(op)) {
		p = (double)lathe_node_attr_int(c->node, "p", 2);
		if (p <= 0)
			return lathe_error(LATHE_EINVAL, "p must be positive, not %g", p);
		lathe_tir_expr *ab = lathe_tir_unary(f, LATHE_TIR_ABS, xv);
		xv = p == 1 ? ab : p == 2 ? nn_mul(f, xv, xv)
					   : nn_bin(f, LATHE_TIR_POW, ab, lathe_nn_const(f, acc, p));
	}
	if (cond)
		xv = lathe_tir_select(f, cond, xv, lathe_nn_const(f, acc, 0));
	lathe_te_reduce r = lathe_te_reduce_begin(f, acc);
	lathe_tir_expr *post = r.acc_val;
	if (is_lp(op)) {
		if (p == 2)
			post = lathe_tir_unary(f, LATHE_TIR_SQRT, post);
		else if (p != 1)
			post = nn_bin(f, LATHE_TIR_POW, post, lathe_nn_const(f, acc, 1.0 / p));
	} else {
		bool incl = lathe_node_attr_int(c->node, "count_include_pad", 0) != 0;
		int64_t kprod = 1;
		for (int i = 0; i < n; i++)
			kprod *= g.kernel[i];
		lathe_tir_expr *cnt;
		if (full) {
			cnt = nn_i64(f, kprod);
		} else {
			cnt = NULL;
			for (int i = 0; i < n; i++) {
				int64_t lo = incl ? -g.pad_lo[i] : 0;
				int64_t hi = incl ? g.in[i] + g.pad_hi[i] : g.in[i];
				lathe_tir_expr *ci = tap_count(f, &g, i, start[i], lo, hi);
				cnt = cnt ? nn_mul(f, cnt, ci) : ci;
			}
			if (!cnt)
				cnt = nn_i64(f, 1);
		}
		post = nn_bin(f, LATHE_TIR_DIV, post, lathe_nn_to(f, acc, cnt));
	}
	lathe_te_reduce_end(f, &r, y, ax, rax, LATHE_TIR_ADD, lathe_nn_const(f, acc, 0), xv,
			    lathe_nn_to(f, y->dtype, post));
	return NULL;
}
