/* tensorize_rows.c: replaces the three loop nests of Softmax's and
 * LogSoftmax's lowering (src/ops/reduce.c) by one call of the runtime's
 * softmax micro-kernel, and LayerNormalization's four nests (without its
 * optional mean and inverse-deviation outputs) by one call of layernorm
 * (runtime/include/lathe_rt_ukernel.h).  What follows is the softmax match;
 * match_layernorm reads its nests the same way.
 *
 * The function must be exactly, in its top-level sequence:
 *
 *     for o... { a = -inf; for k... { a = max(a, X[..]) }; M[..] = a }
 *     for o... { b = 0; for k... { b = add(b, exp(sub(X[..], M[..]))) }; S[..] = b }
 *     for i... { Y[..] = div(exp(sub(X[..], M[..])), S[..]) }
 *                      (or sub(sub(X[..], M[..]), log(S[..])))
 *
 * all in f32, where X is a buffer the function does not write.  The roles
 * are read off the indices' flat affine forms, not the op: in the first
 * two nests X's offset must cover [0, numel(X)) once, with the reduction
 * loops covering a contiguous run [0, N) (the last axes, any number of
 * them), and M's and S's offsets must be the row number (X's offset less
 * the reduction loops, divided by N); in the third, X and Y have the same
 * offset, covering X once, and the loops below N in it leave M and S
 * alone.  Then the rows are X's numel/N contiguous rows of N, and the call
 * computes the same values (up to rounding: exp is the kernel's, and the
 * division a multiply by 1/S).  Anything else keeps the generic schedule.
 */
#include <string.h>

#include "lathe_rt_ukernel.h"
#include "sched/sched_impl.h"

enum { TR_MAXV = 16 };

typedef struct tr_loops {
	lathe_tir_var *v[TR_MAXV];
	int64_t ext[TR_MAXV];
	int n;
} tr_loops;

typedef struct tr {
	lathe_tir_func *f;
	sched_info I;
	lathe_tir_buf *X, *Y, *M, *S, *acc[2];
	lathe_tir_buf *inv, *G, *B; /* layer normalization's */
	lathe_tir_expr *bload;
	double eps;
	int64_t numel, N;
	bool log;
} tr;

static bool is_f32(const lathe_tir_expr *e)
{
	return e && e->dtype == LATHE_DT_F32;
}

static bool is_const_f32(const lathe_tir_expr *e, bool ninf)
{
	if (!e || e->kind != LATHE_TIR_E_FLOAT || e->dtype != LATHE_DT_F32)
		return false;
	if (ninf)
		return __builtin_isinf(e->u.f) && e->u.f < 0;
	return e->u.f == 0 && !__builtin_signbit(e->u.f);
}

static bool const_f32(const lathe_tir_expr *e, double *v)
{
	if (!e || e->kind != LATHE_TIR_E_FLOAT || e->dtype != LATHE_DT_F32)
		return false;
	*v = e->u.f;
	return true;
}

static bool is_load(const lathe_tir_expr *e, const lathe_tir_buf *b)
{
	return e && e->kind == LATHE_TIR_E_LOAD && e->u.buf == b && is_f32(e);
}

static bool is_binary(const lathe_tir_expr *e, int op)
{
	return e && e->kind == LATHE_TIR_E_BINARY && e->op == op && is_f32(e);
}

static bool is_unary(const lathe_tir_expr *e, int op)
{
	return e && e->kind == LATHE_TIR_E_UNARY && e->op == op && is_f32(e);
}

/* Appends the band at s (constant extents, from 0) to L; its body. */
static bool add_band(tr_loops *L, lathe_tir_stmt *s, lathe_tir_stmt **body)
{
	lathe_tir_stmt *loops[TR_MAXV];
	int n = sched_band(s, loops, TR_MAXV, body);
	if (n < 1 || L->n + n > TR_MAXV)
		return false;
	for (int i = 0; i < n; i++) {
		int64_t lo, ext;
		if (loops[i]->for_kind != LATHE_TIR_SERIAL || !sched_loop_const(loops[i], &lo, &ext) ||
		    lo != 0 || ext < 1)
			return false;
		L->v[L->n] = loops[i]->var;
		L->ext[L->n++] = ext;
	}
	return true;
}

static int loop_index(const tr_loops *L, const lathe_tir_var *v)
{
	for (int i = 0; i < L->n; i++)
		if (L->v[i] == v)
			return i;
	return -1;
}

/* a's coefficients of L's loops (0 for loops of extent 1, whose variable
 * is always 0); false when a has a constant or any other term. */
static bool coefs(const tr_loops *L, const sched_aff *a, int64_t *k)
{
	if (a->c != 0)
		return false;
	for (int i = 0; i < L->n; i++)
		k[i] = 0;
	for (int t = 0; t < a->n; t++) {
		int i = a->t[t].var ? loop_index(L, a->t[t].var) : -1;
		if (i < 0)
			return false;
		if (L->ext[i] > 1)
			k[i] = a->t[t].k;
	}
	return true;
}

/* True when the loops whose `sel` bit is set (NULL: all) map, by their
 * coefficients k, one to one onto [0, total): sorted by coefficient, the
 * first is 1 and each next is the previous times its extent. */
static bool covers(const tr_loops *L, const int64_t *k, const bool *sel, int64_t total)
{
	bool used[TR_MAXV] = {0};
	int64_t next = 1;
	for (;;) {
		int pick = -1;
		for (int i = 0; i < L->n; i++)
			if (!used[i] && L->ext[i] > 1 && (!sel || sel[i]) && k[i] == next)
				pick = i;
		if (pick < 0)
			break;
		used[pick] = true;
		if (__builtin_mul_overflow(next, L->ext[pick], &next))
			return false;
	}
	for (int i = 0; i < L->n; i++)
		if (L->ext[i] > 1 && (!sel || sel[i]) && !used[i])
			return false;
	return next == total;
}

static bool flat_coefs(tr *r, const tr_loops *L, const lathe_tir_buf *b, lathe_tir_expr *const *idx,
		       int64_t *k)
{
	sched_aff a;
	return sched_aff_flat(&r->I, b, idx, &a) && coefs(L, &a, k);
}

/* The row number's coefficients from X's: k/N above N, 0 below. */
static bool row_of(const tr *r, const tr_loops *L, const int64_t *kx, const int64_t *k)
{
	for (int i = 0; i < L->n; i++) {
		int64_t want = kx[i] >= r->N ? kx[i] / r->N : 0;
		if (L->ext[i] > 1 && k[i] != want)
			return false;
	}
	return true;
}

/* for o... { acc = init; for k... { acc = V }; OUT[row] = acc } (with
 * mean, OUT[row] = div(acc, N)): sets *acc, *out and *val (V), checks X's
 * access (x, within V) and OUT's index; in the first nest (N still 0) it
 * sets N. */
static bool match_reduce(tr *r, lathe_tir_stmt *nest, bool ninf, bool mean, lathe_tir_expr **x,
			 lathe_tir_buf **acc, lathe_tir_buf **out, lathe_tir_expr **val,
			 tr_loops *L, int64_t *kx)
{
	lathe_tir_stmt *body;
	L->n = 0;
	if (!add_band(L, nest, &body))
		return false;
	int no = L->n;
	lathe_tir_stmt *sh[3];
	if (!sched_reduce_shell(body, sh) || !is_const_f32(sh[0]->value, ninf))
		return false;
	lathe_tir_stmt *red = sh[1], *fin = sh[2];
	*acc = sh[0]->buf;
	lathe_tir_stmt *rb;
	if (!add_band(L, red, &rb))
		return false;
	rb = sched_unwrap(rb);
	if (rb->kind != LATHE_TIR_S_STORE || rb->buf != *acc)
		return false;
	*val = rb->value;
	*out = fin->buf;
	lathe_tir_expr *fv = fin->value;
	double div = 0;
	if (mean) {
		if (!is_binary(fv, LATHE_TIR_DIV) || !const_f32(fv->b, &div))
			return false;
		fv = fv->a;
	}
	if (!is_load(fv, *acc) || (*out)->kind != LATHE_TIR_LOCAL ||
	    (*out)->dtype != LATHE_DT_F32 || *out == *acc)
		return false;
	/* the accumulator's index is the same constant everywhere (its one element) */
	if (sched_count_accesses(nest, *acc) != 4 || sched_count_accesses(r->f->body, *acc) != 4)
		return false;
	if (!is_load(*x, r->X) || !flat_coefs(r, L, r->X, (*x)->idx, kx) ||
	    !covers(L, kx, NULL, r->numel))
		return false;
	bool sel[TR_MAXV] = {0};
	int64_t n = 1;
	for (int i = no; i < L->n; i++) {
		sel[i] = true;
		n *= L->ext[i];
	}
	if (!covers(L, kx, sel, n) || (r->N && n != r->N) || (mean && div != (double)n))
		return false;
	r->N = n;
	int64_t ko[TR_MAXV];
	return sched_numel(*out) == r->numel / n && flat_coefs(r, L, *out, fin->idx, ko) &&
	       row_of(r, L, kx, ko);
}

/* sub(X[..], M[..]) with X's index kx-equal to the nest's and M's the row. */
static bool match_diff(tr *r, const tr_loops *L, lathe_tir_expr *e, const int64_t *kx)
{
	int64_t k[TR_MAXV];
	if (!is_binary(e, LATHE_TIR_SUB) || !is_load(e->a, r->X) || !is_load(e->b, r->M))
		return false;
	if (!flat_coefs(r, L, r->X, e->a->idx, k))
		return false;
	for (int i = 0; i < L->n; i++)
		if (k[i] != kx[i])
			return false;
	return flat_coefs(r, L, r->M, e->b->idx, k) && row_of(r, L, kx, k);
}

/* The output nest (softmax's and layer normalization's last): a store
 * into Y, an f32 tensor of X's size that is neither X nor a local; its
 * loops go to L.  The store, or NULL. */
static lathe_tir_stmt *out_store(tr *r, tr_loops *L, lathe_tir_stmt *nest)
{
	lathe_tir_stmt *st;
	L->n = 0;
	if (!add_band(L, nest, &st))
		return NULL;
	st = sched_unwrap(st);
	if (st->kind != LATHE_TIR_S_STORE)
		return NULL;
	r->Y = st->buf;
	if (r->Y->dtype != LATHE_DT_F32 || r->Y->kind == LATHE_TIR_LOCAL || r->Y == r->X ||
	    sched_numel(r->Y) != r->numel)
		return NULL;
	return st;
}

/* In the output nest st (loops L): d is X - M read over all of X (index
 * coefficients kx), Y is written at the same positions, and the loops
 * below N cover exactly [0, N); k gets Y's coefficients. */
static bool out_diff(tr *r, const tr_loops *L, lathe_tir_expr *d, const lathe_tir_stmt *st,
		     int64_t *k, int64_t *kx)
{
	if (!is_binary(d, LATHE_TIR_SUB) || !is_load(d->a, r->X) ||
	    !flat_coefs(r, L, r->X, d->a->idx, kx) || !covers(L, kx, NULL, r->numel) ||
	    !flat_coefs(r, L, r->Y, st->idx, k))
		return false;
	for (int i = 0; i < L->n; i++)
		if (k[i] != kx[i])
			return false;
	bool sel[TR_MAXV] = {0};
	for (int i = 0; i < L->n; i++)
		sel[i] = kx[i] < r->N;
	return covers(L, kx, sel, r->N) && match_diff(r, L, d, kx);
}

static bool match_softmax(tr *r)
{
	lathe_tir_func *f = r->f;
	if (f->body->n != 3)
		return false;
	for (int i = 0; i < 3; i++)
		if (f->body->stmts[i]->kind != LATHE_TIR_S_FOR)
			return false;
	tr_loops L;
	int64_t kx[TR_MAXV], k[TR_MAXV];
	lathe_tir_expr *v, *x;

	/* 1: the max */
	lathe_tir_stmt *n1 = f->body->stmts[0];
	{
		lathe_tir_stmt *body, *rb;
		tr_loops t = {0};
		/* find X first: the load inside max(acc, X) */
		if (!add_band(&t, n1, &body))
			return false;
		lathe_tir_stmt **ss, *one;
		if (sched_stmts(body, &ss, &one) != 3 || ss[1]->kind != LATHE_TIR_S_FOR ||
		    !add_band(&t, ss[1], &rb))
			return false;
		rb = sched_unwrap(rb);
		if (rb->kind != LATHE_TIR_S_STORE || !is_binary(rb->value, LATHE_TIR_MAX) ||
		    !is_load(rb->value->a, rb->buf) || rb->value->b->kind != LATHE_TIR_E_LOAD)
			return false;
		r->X = rb->value->b->u.buf;
	}
	if (r->X->dtype != LATHE_DT_F32 || r->X->kind == LATHE_TIR_LOCAL || r->X->rank < 1)
		return false;
	r->numel = sched_numel(r->X);
	if (r->numel < 1)
		return false;
	{
		lathe_tir_stmt *body, **ss, *one, *rb;
		tr_loops t = {0};
		add_band(&t, n1, &body);
		sched_stmts(body, &ss, &one);
		add_band(&t, ss[1], &rb);
		x = sched_unwrap(rb)->value->b;
	}
	if (!match_reduce(r, n1, true, false, &x, &r->acc[0], &r->M, &v, &L, kx) ||
	    !is_binary(v, LATHE_TIR_MAX) || !is_load(v->a, r->acc[0]) || v->b != x)
		return false;

	/* 2: the sum of exp(x - m) */
	lathe_tir_stmt *n2 = f->body->stmts[1];
	{
		lathe_tir_stmt *body, **ss, *one, *rb;
		tr_loops t = {0};
		if (!add_band(&t, n2, &body) || sched_stmts(body, &ss, &one) != 3 ||
		    ss[1]->kind != LATHE_TIR_S_FOR || !add_band(&t, ss[1], &rb))
			return false;
		rb = sched_unwrap(rb);
		v = rb->kind == LATHE_TIR_S_STORE ? rb->value : NULL;
		if (!is_binary(v, LATHE_TIR_ADD) || !is_unary(v->b, LATHE_TIR_EXP) ||
		    !is_binary(v->b->a, LATHE_TIR_SUB))
			return false;
		x = v->b->a->a;
	}
	if (!match_reduce(r, n2, false, false, &x, &r->acc[1], &r->S, &v, &L, kx) ||
	    !is_load(v->a, r->acc[1]) || !match_diff(r, &L, v->b->a, kx) || r->S == r->M ||
	    r->acc[1] == r->acc[0] || r->acc[1] == r->M || r->acc[0] == r->S)
		return false;

	/* 3: the output */
	lathe_tir_stmt *st = out_store(r, &L, f->body->stmts[2]);
	if (!st)
		return false;
	v = st->value;
	lathe_tir_expr *d, *sl;
	if (is_binary(v, LATHE_TIR_DIV) && is_unary(v->a, LATHE_TIR_EXP)) {
		d = v->a->a;
		sl = v->b;
		r->log = false;
	} else if (is_binary(v, LATHE_TIR_SUB) && is_unary(v->b, LATHE_TIR_LOG)) {
		d = v->a;
		sl = v->b->a;
		r->log = true;
	} else {
		return false;
	}
	if (!is_load(sl, r->S) || !out_diff(r, &L, d, st, k, kx) ||
	    !flat_coefs(r, &L, r->S, sl->idx, k) || !row_of(r, &L, kx, k))
		return false;
	/* X is only read; M and S are only these statements' */
	if (sched_stmt_writes(f->body, r->X) || sched_count_accesses(f->body, r->M) != 3 ||
	    sched_count_accesses(f->body, r->S) != 2 || sched_count_accesses(f->body, r->Y) != 1)
		return false;
	return true;
}

/* The first nest's reduction store (to find X before matching it). */
static lathe_tir_stmt *red_store(lathe_tir_stmt *nest)
{
	lathe_tir_stmt *body, **ss, *one, *rb;
	tr_loops t = {0};
	if (!add_band(&t, nest, &body) || sched_stmts(body, &ss, &one) != 3 ||
	    ss[1]->kind != LATHE_TIR_S_FOR || !add_band(&t, ss[1], &rb))
		return NULL;
	rb = sched_unwrap(rb);
	return rb->kind == LATHE_TIR_S_STORE ? rb : NULL;
}

/* A parameter of f32 with numel elements that f does not write. */
static bool input_f32(tr *r, const lathe_tir_buf *b, int64_t numel)
{
	return b->dtype == LATHE_DT_F32 && b->kind != LATHE_TIR_LOCAL && sched_numel(b) == numel &&
	       !sched_stmt_writes(r->f->body, b);
}

/* LayerNormalization's lowering (src/ops/reduce_norm.c), without its
 * optional outputs:
 *
 *     for o... { a = 0; for k... { a = add(a, X) }; MEAN[row] = div(a, N) }
 *     for o... { b = 0; for k... { b = add(b, mul(sub(X, MEAN), sub(X, MEAN))) };
 *                VAR[row] = div(b, N) }
 *     for o... { INV[row] = div(1, sqrt(add(VAR[row], eps))) }
 *     for i... { Y = add(mul(mul(sub(X, MEAN), INV), SCALE[j]), BIAS[j]) }
 *
 * (the add of BIAS optional), where j is the position in the row. */
static bool match_layernorm(tr *r)
{
	lathe_tir_func *f = r->f;
	if (f->body->n != 4)
		return false;
	for (int i = 0; i < 4; i++)
		if (f->body->stmts[i]->kind != LATHE_TIR_S_FOR)
			return false;
	tr_loops L;
	int64_t kx[TR_MAXV], k[TR_MAXV];
	lathe_tir_expr *v, *x;
	double c;

	lathe_tir_stmt *rb = red_store(f->body->stmts[0]);
	if (!rb || !is_binary(rb->value, LATHE_TIR_ADD) || rb->value->b->kind != LATHE_TIR_E_LOAD)
		return false;
	x = rb->value->b;
	r->X = x->u.buf;
	r->numel = sched_numel(r->X);
	if (r->X->rank < 1 || r->numel < 1 || !input_f32(r, r->X, r->numel))
		return false;
	if (!match_reduce(r, f->body->stmts[0], false, true, &x, &r->acc[0], &r->M, &v, &L, kx) ||
	    !is_load(v->a, r->acc[0]) || v->b != x)
		return false;

	rb = red_store(f->body->stmts[1]);
	v = rb ? rb->value : NULL;
	if (!is_binary(v, LATHE_TIR_ADD) || !is_binary(v->b, LATHE_TIR_MUL) ||
	    !is_binary(v->b->a, LATHE_TIR_SUB))
		return false;
	x = v->b->a->a;
	if (!match_reduce(r, f->body->stmts[1], false, true, &x, &r->acc[1], &r->S, &v, &L, kx) ||
	    !is_load(v->a, r->acc[1]) || !match_diff(r, &L, v->b->a, kx) ||
	    !match_diff(r, &L, v->b->b, kx) || r->S == r->M || r->acc[1] == r->acc[0] ||
	    r->acc[1] == r->M || r->acc[0] == r->S)
		return false;

	/* inv = 1/sqrt(var + eps), row by row */
	lathe_tir_stmt *st;
	L.n = 0;
	if (!add_band(&L, f->body->stmts[2], &st))
		return false;
	st = sched_unwrap(st);
	int64_t rows = r->numel / r->N;
	if (st->kind != LATHE_TIR_S_STORE || st->buf->kind != LATHE_TIR_LOCAL ||
	    st->buf->dtype != LATHE_DT_F32 || sched_numel(st->buf) != rows)
		return false;
	r->inv = st->buf;
	v = st->value;
	if (!is_binary(v, LATHE_TIR_DIV) || !const_f32(v->a, &c) || c != 1 ||
	    !is_unary(v->b, LATHE_TIR_SQRT) || !is_binary(v->b->a, LATHE_TIR_ADD) ||
	    !is_load(v->b->a->a, r->S) || !const_f32(v->b->a->b, &r->eps) ||
	    !flat_coefs(r, &L, r->inv, st->idx, kx) || !covers(&L, kx, NULL, rows) ||
	    !flat_coefs(r, &L, r->S, v->b->a->a->idx, k))
		return false;
	for (int i = 0; i < L.n; i++)
		if (k[i] != kx[i])
			return false;

	/* the output */
	if (!(st = out_store(r, &L, f->body->stmts[3])))
		return false;
	v = st->value;
	r->B = NULL;
	if (is_binary(v, LATHE_TIR_ADD)) {
		if (v->b->kind != LATHE_TIR_E_LOAD)
			return false;
		r->B = v->b->u.buf;
		r->bload = v->b;
		v = v->a;
	}
	if (!is_binary(v, LATHE_TIR_MUL) || !is_binary(v->a, LATHE_TIR_MUL) ||
	    v->b->kind != LATHE_TIR_E_LOAD || !is_load(v->a->b, r->inv))
		return false;
	r->G = v->b->u.buf;
	lathe_tir_expr *d = v->a->a, *g = v->b, *iv = v->a->b;
	if (!out_diff(r, &L, d, st, k, kx) || !flat_coefs(r, &L, r->inv, iv->idx, k) ||
	    !row_of(r, &L, kx, k))
		return false;
	/* scale and bias: position j in the row */
	lathe_tir_expr *pj[2] = {g, r->B ? r->bload : NULL};
	for (int p = 0; p < 2; p++) {
		if (!pj[p])
			continue;
		if (!is_f32(pj[p]) || !input_f32(r, pj[p]->u.buf, r->N) ||
		    !flat_coefs(r, &L, pj[p]->u.buf, pj[p]->idx, k))
			return false;
		for (int i = 0; i < L.n; i++)
			if (L.ext[i] > 1 && k[i] != (kx[i] < r->N ? kx[i] : 0))
				return false;
	}
	if (sched_count_accesses(f->body, r->M) != 4 || sched_count_accesses(f->body, r->S) != 2 ||
	    sched_count_accesses(f->body, r->inv) != 2 || sched_count_accesses(f->body, r->Y) != 1)
		return false;
	return true;
}

static lathe_tir_expr **zeros(lathe_tir_func *f, int rank)
{
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, rank + 1);
	for (int d = 0; d < rank; d++)
		idx[d] = sched_i64(f, 0);
	return idx;
}

bool sched_tensorize_rows(lathe_tir_func *f, const lathe_target *t)
{
	(void)t;
	tr r = {.f = f};
	sched_info_init(&r.I, f);
	bool sm = match_softmax(&r), ln = false;
	if (!sm) {
		sched_info_deinit(&r.I);
		memset(&r, 0, sizeof r);
		r.f = f;
		sched_info_init(&r.I, f);
		ln = match_layernorm(&r);
	}
	sched_info_deinit(&r.I);
	/* layernorm divides by N as a float: N below 2^24 is exact */
	if ((!sm && !ln) || r.N < 1 || r.N >= ((int64_t)1 << (ln ? 24 : 31)) ||
	    r.numel / r.N >= ((int64_t)1 << 31))
		return false;
	int64_t ip[LATHE_UK_S_FIXED] = {r.numel / r.N, r.N, r.N, r.N, sm ? r.log : r.B != NULL};
	lathe_tir_arg args[4 + LATHE_UK_S_FIXED + 1];
	memset(args, 0, sizeof args);
	int na = 0;
	args[na++] = (lathe_tir_arg){.kind = LATHE_TIR_ARG_READ, .buf = r.X, .idx = zeros(f, r.X->rank)};
	args[na++] = (lathe_tir_arg){.kind = LATHE_TIR_ARG_WRITE, .buf = r.Y, .idx = zeros(f, r.Y->rank)};
	if (ln) {
		args[na++] = (lathe_tir_arg){.kind = LATHE_TIR_ARG_READ, .buf = r.G,
					     .idx = zeros(f, r.G->rank)};
		if (r.B)
			args[na++] = (lathe_tir_arg){.kind = LATHE_TIR_ARG_READ, .buf = r.B,
						     .idx = zeros(f, r.B->rank)};
	}
	for (int i = 0; i < LATHE_UK_S_FIXED; i++)
		args[na++] = (lathe_tir_arg){.kind = LATHE_TIR_ARG_VALUE, .value = sched_i64(f, ip[i])};
	if (ln)
		args[na++] = (lathe_tir_arg){.kind = LATHE_TIR_ARG_VALUE,
					     .value = lathe_tir_float(f, LATHE_DT_F64, r.eps)};
	lathe_tir_stmt *call = lathe_tir_call(f, sm ? "softmax" : "layernorm", na, args);
	f->body = sched_seq(f, 1, &call);
	lathe_tir_buf *dead[5] = {r.M, r.S, r.acc[0], r.acc[1], ln ? r.inv : NULL};
	for (int i = 0; i < 5; i++)
		if (dead[i])
			sched_remove_local(f, dead[i]);
	return true;
}
