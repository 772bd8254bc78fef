/* affine.c: indices read as affine forms, for the dependence tests of
 * dep.c and the regions of region.c.
 *
 * An index becomes c + sum k*term over the row-major flat offset of an
 * access.  A term is a variable (let-bound variables are expanded into
 * their values) or an opaque atom compared structurally.  Fused loops
 * index with floordiv/floormod pairs of one expression; in the flat offset
 * those pairs recombine (floordiv(P, n)*n + floormod(P, n) = P, and the two
 * nested forms the simplifier produces), so a fused loop reads as the
 * single variable it is.  Ranges come from constant loop bounds, clipped
 * by the guards that non-dividing splits leave (`if v_o*f + v_i < E`
 * bounds the sum v_o*f + v_i).  Injectivity is the mixed-radix test: sorted
 * by |k|, each coefficient exceeds what the smaller pieces can add up to.
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_impl.h"


/* ---- affine forms --------------------------------------------------------------- */

enum { AFF_DEPTH = 40 };

static bool term_same(const sched_term *a, const lathe_tir_var *v, const lathe_tir_expr *atom)
{
	if (v || a->var)
		return a->var == v && !a->atom && !atom;
	return sched_expr_eq(a->atom, atom);
}

static bool add_term(sched_aff *a, lathe_tir_var *v, const lathe_tir_expr *atom, int64_t k)
{
	if (k == 0)
		return true;
	for (int i = 0; i < a->n; i++) {
		if (term_same(&a->t[i], v, atom)) {
			if (__builtin_add_overflow(a->t[i].k, k, &a->t[i].k))
				return false;
			if (a->t[i].k == 0)
				a->t[i] = a->t[--a->n];
			return true;
		}
	}
	if (a->n >= SCHED_AFF_MAX)
		return false;
	a->t[a->n++] = (sched_term){v, v ? NULL : atom, k};
	return true;
}

/* a += k * b */
static bool aff_axpy(sched_aff *a, int64_t k, const sched_aff *b)
{
	int64_t t;
	if (__builtin_mul_overflow(k, b->c, &t) || __builtin_add_overflow(a->c, t, &a->c))
		return false;
	for (int i = 0; i < b->n; i++) {
		if (__builtin_mul_overflow(k, b->t[i].k, &t))
			return false;
		if (!add_term(a, b->t[i].var, b->t[i].atom, t))
			return false;
	}
	return true;
}

static bool is_divmod(const lathe_tir_expr *e, int op, const lathe_tir_expr **x, int64_t *n)
{
	if (!e || e->kind != LATHE_TIR_E_BINARY || e->op != op || e->dtype != LATHE_DT_I64)
		return false;
	if (!sched_const(e->b, n) || *n <= 0)
		return false;
	*x = e->a;
	return true;
}

static bool aff_rec(const sched_info *I, const lathe_tir_expr *e, sched_aff *out, int depth)
{
	memset(out, 0, sizeof *out);
	if (!e)
		return false;
	if (e->dtype != LATHE_DT_I64 || depth > AFF_DEPTH)
		return add_term(out, NULL, e, 1);
	switch (e->kind) {
	case LATHE_TIR_E_INT:
		out->c = e->u.i;
		return true;
	case LATHE_TIR_E_VAR: {
		const lathe_tir_stmt *b = sched_binder(I, e->u.var);
		if (b && b->kind == LATHE_TIR_S_LET)
			return aff_rec(I, b->value, out, depth + 1);
		return add_term(out, e->u.var, NULL, 1);
	}
	case LATHE_TIR_E_UNARY:
		if (e->op == LATHE_TIR_NEG) {
			sched_aff x;
			return aff_rec(I, e->a, &x, depth + 1) && aff_axpy(out, -1, &x);
		}
		return add_term(out, NULL, e, 1);
	case LATHE_TIR_E_BINARY: {
		sched_aff x, y;
		switch (e->op) {
		case LATHE_TIR_ADD:
		case LATHE_TIR_SUB:
			return aff_rec(I, e->a, &x, depth + 1) && aff_rec(I, e->b, &y, depth + 1) &&
			       aff_axpy(out, 1, &x) &&
			       aff_axpy(out, e->op == LATHE_TIR_ADD ? 1 : -1, &y);
		case LATHE_TIR_MUL:
			if (!aff_rec(I, e->a, &x, depth + 1) || !aff_rec(I, e->b, &y, depth + 1))
				return false;
			if (y.n == 0)
				return aff_axpy(out, y.c, &x);
			if (x.n == 0)
				return aff_axpy(out, x.c, &y);
			return add_term(out, NULL, e, 1);
		case LATHE_TIR_FLOORDIV:
		case LATHE_TIR_FLOORMOD: {
			int64_t n;
			const lathe_tir_expr *p;
			if (is_divmod(e, e->op, &p, &n)) {
				if (!aff_rec(I, p, &x, depth + 1))
					return false;
				if (n == 1)
					return e->op == LATHE_TIR_FLOORDIV ? aff_axpy(out, 1, &x) : true;
				if (x.n == 0) {
					int64_t q = x.c / n, r = x.c % n;
					if (r < 0) {
						r += n;
						q--;
					}
					out->c = e->op == LATHE_TIR_FLOORDIV ? q : r;
					return true;
				}
			}
			return add_term(out, NULL, e, 1);
		}
		default:
			return add_term(out, NULL, e, 1);
		}
	}
	default:
		return add_term(out, NULL, e, 1);
	}
}

bool sched_aff_of(const sched_info *I, const lathe_tir_expr *e, sched_aff *out)
{
	return aff_rec(I, e, out, 0);
}

static void drop_terms(sched_aff *a, int i, int j)
{
	if (i < j) {
		int t = i;
		i = j;
		j = t;
	}
	a->t[i] = a->t[--a->n];
	a->t[j] = a->t[--a->n];
}

/* One recombination step; true if something changed (and *ok stays true
 * unless an overflow made the form unusable). */
static bool recombine_once(const sched_info *I, sched_aff *a, bool *ok)
{
	for (int i = 0; i < a->n; i++) {
		const lathe_tir_expr *P, *Q, *X, *Y;
		int64_t n, n2, m;
		if (!a->t[i].atom || !is_divmod(a->t[i].atom, LATHE_TIR_FLOORDIV, &P, &n))
			continue;
		int64_t ka = a->t[i].k;
		for (int j = 0; j < a->n; j++) {
			if (j == i || !a->t[j].atom ||
			    !is_divmod(a->t[j].atom, LATHE_TIR_FLOORMOD, &Q, &n2))
				continue;
			int64_t kb = a->t[j].k, kbn;
			if (__builtin_mul_overflow(kb, n2, &kbn) || kbn != ka)
				continue;
			/* R1: floordiv(P, n)*n + floormod(P, n) = P */
			if (n2 == n && sched_expr_eq(P, Q)) {
				sched_aff p;
				drop_terms(a, i, j);
				*ok = aff_rec(I, P, &p, 1) && aff_axpy(a, kb, &p);
				return true;
			}
			/* R2: floordiv(floormod(X, m), n)*n + floormod(X, n) = floormod(X, m), n | m */
			if (n2 == n && is_divmod(P, LATHE_TIR_FLOORMOD, &X, &m) && m % n == 0 &&
			    sched_expr_eq(X, Q)) {
				drop_terms(a, i, j);
				*ok = add_term(a, NULL, P, kb);
				return true;
			}
			/* R3: floordiv(X, m*n2)*n2 + floormod(floordiv(X, m), n2) = floordiv(X, m) */
			if (is_divmod(Q, LATHE_TIR_FLOORDIV, &Y, &m) && sched_expr_eq(P, Y)) {
				int64_t mn;
				if (!__builtin_mul_overflow(m, n2, &mn) && mn == n) {
					drop_terms(a, i, j);
					*ok = add_term(a, NULL, Q, kb);
					return true;
				}
			}
		}
	}
	return false;
}

bool sched_aff_flat(const sched_info *I, const lathe_tir_buf *b, lathe_tir_expr *const *idx,
		    sched_aff *out)
{
	memset(out, 0, sizeof *out);
	int64_t stride = 1;
	for (int d = b->rank - 1; d >= 0; d--) {
		sched_aff x;
		if (!aff_rec(I, idx[d], &x, 0) || !aff_axpy(out, stride, &x))
			return false;
		int64_t s = b->shape[d] > 1 ? b->shape[d] : 1;
		if (__builtin_mul_overflow(stride, s, &stride))
			return false;
	}
	bool ok = true;
	for (int guard = 0; guard < 64 && recombine_once(I, out, &ok); guard++)
		if (!ok)
			return false;
	return ok;
}

bool sched_aff_eq(const sched_aff *a, const sched_aff *b)
{
	if (a->c != b->c || a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++) {
		bool found = false;
		for (int j = 0; j < b->n && !found; j++)
			found = term_same(&b->t[j], a->t[i].var, a->t[i].atom) && b->t[j].k == a->t[i].k;
		if (!found)
			return false;
	}
	return true;
}

int64_t sched_aff_coef(const sched_aff *a, const lathe_tir_var *v)
{
	for (int i = 0; i < a->n; i++)
		if (a->t[i].var == v)
			return a->t[i].k;
	return 0;
}

bool sched_term_uses(const sched_term *t, const uint8_t *marks)
{
	if (t->var)
		return marks[t->var->id] != 0;
	return sched_expr_uses(t->atom, marks);
}

/* ---- ranges ------------------------------------------------------------------------ */

static bool expr_range_d(const sched_info *I, const lathe_tir_expr *e, int64_t *lo, int64_t *hi,
			 int depth);

static bool var_range_d(const sched_info *I, const lathe_tir_var *v, int64_t *lo, int64_t *hi,
			int depth)
{
	const lathe_tir_stmt *b = sched_binder(I, v);
	if (!b)
		return false;
	if (b->kind == LATHE_TIR_S_LET)
		return expr_range_d(I, b->value, lo, hi, depth + 1);
	int64_t l, e;
	if (!sched_loop_const(b, &l, &e))
		return false;
	*lo = l;
	if (e <= 1)
		*hi = l; /* an empty loop never runs: any range holds */
	else if (__builtin_add_overflow(l, e - 1, hi))
		return false;
	return true;
}

bool sched_var_range(const sched_info *I, const lathe_tir_var *v, int64_t *lo, int64_t *hi)
{
	return var_range_d(I, v, lo, hi, 0);
}

static int64_t fdiv(int64_t a, int64_t n)
{
	int64_t q = a / n;
	return (a % n != 0 && ((a < 0) != (n < 0))) ? q - 1 : q;
}

static bool term_range(const sched_info *I, const sched_term *t, int64_t *lo, int64_t *hi,
		       int depth)
{
	int64_t l, h;
	if (t->var) {
		if (!var_range_d(I, t->var, &l, &h, depth))
			return false;
	} else {
		const lathe_tir_expr *x;
		int64_t n;
		if (is_divmod(t->atom, LATHE_TIR_FLOORMOD, &x, &n)) {
			l = 0;
			h = n - 1;
		} else if (is_divmod(t->atom, LATHE_TIR_FLOORDIV, &x, &n)) {
			if (!expr_range_d(I, x, &l, &h, depth + 1))
				return false;
			l = fdiv(l, n);
			h = fdiv(h, n);
		} else {
			return false;
		}
	}
	int64_t a, b;
	if (__builtin_mul_overflow(l, t->k, &a) || __builtin_mul_overflow(h, t->k, &b))
		return false;
	*lo = a < b ? a : b;
	*hi = a < b ? b : a;
	return true;
}

static bool aff_range_d(const sched_info *I, const sched_aff *a, const uint8_t *marks, bool want,
			bool with_c, int64_t *lo, int64_t *hi, int depth)
{
	int64_t l = with_c ? a->c : 0, h = l;
	if (depth > AFF_DEPTH)
		return false;
	for (int i = 0; i < a->n; i++) {
		if (marks && sched_term_uses(&a->t[i], marks) != want)
			continue;
		int64_t tl, th;
		if (!term_range(I, &a->t[i], &tl, &th, depth) || __builtin_add_overflow(l, tl, &l) ||
		    __builtin_add_overflow(h, th, &h))
			return false;
	}
	*lo = l;
	*hi = h;
	return true;
}

bool sched_aff_range(const sched_info *I, const sched_aff *a, const uint8_t *marks, bool want,
		     bool with_c, int64_t *lo, int64_t *hi)
{
	return aff_range_d(I, a, marks, want, with_c, lo, hi, 0);
}

static bool expr_range_d(const sched_info *I, const lathe_tir_expr *e, int64_t *lo, int64_t *hi,
			 int depth)
{
	sched_aff a;
	if (depth > AFF_DEPTH || !aff_rec(I, e, &a, depth))
		return false;
	return aff_range_d(I, &a, NULL, true, true, lo, hi, depth + 1);
}

bool sched_expr_range(const sched_info *I, const lathe_tir_expr *e, int64_t *lo, int64_t *hi)
{
	return expr_range_d(I, e, lo, hi, 0);
}

/* ---- guards ---------------------------------------------------------------------------- */

/* Conditions of the `if`s (then branches) between root and target. */
static bool guards_rec(lathe_tir_stmt *s, const lathe_tir_stmt *target, const lathe_tir_expr **out,
		       int max, int *n)
{
	if (!s)
		return false;
	if (s == target)
		return true;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
	case LATHE_TIR_S_LET:
		return guards_rec(s->body, target, out, max, n);
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++)
			if (guards_rec(s->stmts[i], target, out, max, n))
				return true;
		return false;
	case LATHE_TIR_S_IF: {
		int save = *n;
		if (*n < max)
			out[(*n)++] = s->cond;
		if (guards_rec(s->body, target, out, max, n))
			return true;
		*n = save;
		return guards_rec(s->orelse, target, out, max, n);
	}
	default:
		return false;
	}
}

int sched_guards(lathe_tir_stmt *root, const lathe_tir_stmt *target, const lathe_tir_expr **out,
		 int max)
{
	int n = 0;
	if (!guards_rec(root, target, out, max, &n))
		return 0;
	return n;
}

/* A bound X < c, X <= c, X >= c or X > c from a guard conjunct. */
static bool guard_bound(const lathe_tir_expr *c, const lathe_tir_expr **x, int64_t *lo, int64_t *hi)
{
	int64_t k;
	if (c->kind != LATHE_TIR_E_BINARY || !sched_const(c->b, &k) || c->a->dtype != LATHE_DT_I64)
		return false;
	*x = c->a;
	*lo = INT64_MIN;
	*hi = INT64_MAX;
	switch (c->op) {
	case LATHE_TIR_LT: if (k == INT64_MIN) return false; *hi = k - 1; return true;
	case LATHE_TIR_LE: *hi = k; return true;
	case LATHE_TIR_GE: *lo = k; return true;
	case LATHE_TIR_GT: if (k == INT64_MAX) return false; *lo = k + 1; return true;
	default: return false;
	}
}

static int split_and(const lathe_tir_expr *c, const lathe_tir_expr **out, int max, int n)
{
	if (c->kind == LATHE_TIR_E_BINARY && c->op == LATHE_TIR_AND && c->dtype == LATHE_DT_BOOL) {
		n = split_and(c->a, out, max, n);
		return split_and(c->b, out, max, n);
	}
	if (n < max)
		out[n++] = c;
	return n;
}

/* ---- items: ranged pieces of an affine form ---------------------------------------- */

/* A piece k*q of a form, q in [lo, hi]; `inj` when q is one variable or a
 * guarded sum that is one-to-one in its variables. */
typedef struct item {
	int64_t k, lo, hi;
	bool inj;
} item;
typedef struct items {
	int n;
	item it[SCHED_AFF_MAX];
} items;

static bool terms_injective(const sched_info *I, const sched_term *t, int n);

/* Items of the terms of a selected by marks/want; guards clip sums of
 * terms they bound (a split's `if v_o*f + v_i < E` bounds v_o*f + v_i). */
static bool make_items(const sched_info *I, const sched_aff *a, const uint8_t *marks, bool want,
		       const lathe_tir_expr *const *guards, int ng, bool atoms_inj, items *out)
{
	bool sel[SCHED_AFF_MAX], used[SCHED_AFF_MAX] = {0};
	out->n = 0;
	for (int i = 0; i < a->n; i++)
		sel[i] = !marks || sched_term_uses(&a->t[i], marks) == want;
	for (int g = 0; g < ng; g++) {
		const lathe_tir_expr *cj[16];
		int nc = split_and(guards[g], cj, 16, 0);
		for (int c = 0; c < nc; c++) {
			const lathe_tir_expr *x;
			int64_t glo, ghi;
			sched_aff A;
			if (!guard_bound(cj[c], &x, &glo, &ghi) || !sched_aff_of(I, x, &A) || A.n == 0)
				continue;
			/* Every term of A among the unused selected terms, with one scale. */
			int64_t sc = 0;
			int at[SCHED_AFF_MAX];
			bool ok = true;
			for (int j = 0; j < A.n && ok; j++) {
				at[j] = -1;
				for (int i = 0; i < a->n && at[j] < 0; i++)
					if (sel[i] && !used[i] && term_same(&a->t[i], A.t[j].var, A.t[j].atom))
						at[j] = i;
				if (at[j] < 0 || a->t[at[j]].k % A.t[j].k != 0) {
					ok = false;
					break;
				}
				int64_t q = a->t[at[j]].k / A.t[j].k;
				if (j == 0)
					sc = q;
				ok = q == sc && q != 0;
			}
			int64_t la, ha;
			if (!ok || !aff_range_d(I, &A, NULL, true, true, &la, &ha, 1))
				continue;
			la = la > glo ? la : glo;
			ha = ha < ghi ? ha : ghi;
			if (la > ha)
				ha = la; /* never true: the access never runs */
			for (int j = 0; j < A.n; j++)
				used[at[j]] = true;
			out->it[out->n++] = (item){sc, la - A.c, ha - A.c, terms_injective(I, A.t, A.n)};
		}
	}
	for (int i = 0; i < a->n; i++) {
		if (!sel[i] || used[i])
			continue;
		sched_term one = a->t[i];
		int64_t k = one.k;
		one.k = 1;
		int64_t lo, hi;
		if (!term_range(I, &one, &lo, &hi, 0))
			return false;
		out->it[out->n++] = (item){k, lo, hi, one.var != NULL || atoms_inj};
	}
	return true;
}

static bool items_range(const items *x, int64_t c, int64_t *lo, int64_t *hi)
{
	int64_t l = c, h = c;
	for (int i = 0; i < x->n; i++) {
		int64_t a, b;
		if (__builtin_mul_overflow(x->it[i].lo, x->it[i].k, &a) ||
		    __builtin_mul_overflow(x->it[i].hi, x->it[i].k, &b) ||
		    __builtin_add_overflow(l, a < b ? a : b, &l) ||
		    __builtin_add_overflow(h, a < b ? b : a, &h))
			return false;
	}
	*lo = l;
	*hi = h;
	return true;
}

/* Mixed radix: sorted by |k|, each coefficient exceeds what the smaller
 * pieces can add up to; then the sum is one-to-one in the pieces. */
static bool items_injective(const items *x)
{
	int64_t ks[SCHED_AFF_MAX], spans[SCHED_AFF_MAX];
	int n = 0;
	for (int i = 0; i < x->n; i++) {
		if (x->it[i].hi == x->it[i].lo)
			continue;
		if (!x->it[i].inj || x->it[i].k == INT64_MIN ||
		    __builtin_sub_overflow(x->it[i].hi, x->it[i].lo, &spans[n]))
			return false;
		ks[n] = x->it[i].k < 0 ? -x->it[i].k : x->it[i].k;
		for (int j = n; j > 0 && ks[j] < ks[j - 1]; j--) {
			int64_t t = ks[j];
			ks[j] = ks[j - 1];
			ks[j - 1] = t;
			t = spans[j];
			spans[j] = spans[j - 1];
			spans[j - 1] = t;
		}
		n++;
	}
	int64_t cum = 0;
	for (int i = 0; i < n; i++) {
		int64_t t;
		if (ks[i] <= cum || __builtin_mul_overflow(ks[i], spans[i], &t) ||
		    __builtin_add_overflow(cum, t, &cum))
			return false;
	}
	return true;
}

static bool terms_injective(const sched_info *I, const sched_term *t, int n)
{
	items x = {0};
	for (int i = 0; i < n; i++) {
		sched_term one = t[i];
		one.k = 1;
		if (!t[i].var || !term_range(I, &one, &x.it[x.n].lo, &x.it[x.n].hi, 0))
			return false;
		x.it[x.n].k = t[i].k;
		x.it[x.n].inj = true;
		x.n++;
	}
	return items_injective(&x);
}

bool sched_aff_range_g(const sched_info *I, const sched_aff *a, const uint8_t *marks, bool want,
		       bool with_c, const lathe_tir_expr *const *guards, int ng, int64_t *lo,
		       int64_t *hi)
{
	items x;
	return make_items(I, a, marks, want, guards, ng, false, &x) &&
	       items_range(&x, with_c ? a->c : 0, lo, hi);
}

static int common_guards(const sched_accesses *acc, lathe_tir_stmt *root,
			 const lathe_tir_expr *const *extra, int nextra, const lathe_tir_expr **out, int max);

bool sched_coord_independent(const sched_info *I, const sched_accesses *acc,
			     const lathe_tir_var *v, const uint8_t *marks, lathe_tir_stmt *root)
{
	sched_aff F0;
	if (!acc->len || !sched_aff_flat(I, acc->data[0].buf, acc->data[0].idx, &F0))
		return false;
	for (size_t i = 1; i < acc->len; i++) {
		sched_aff F;
		if (!sched_aff_flat(I, acc->data[i].buf, acc->data[i].idx, &F) || !sched_aff_eq(&F, &F0))
			return false;
	}
	bool direct = false;
	const lathe_tir_expr *divs[SCHED_AFF_MAX], *mods[SCHED_AFF_MAX];
	int64_t ndiv[SCHED_AFF_MAX], nmod[SCHED_AFF_MAX];
	int nd = 0, nm = 0;
	for (int i = 0; i < F0.n; i++) {
		const sched_term *t = &F0.t[i];
		if (!sched_term_uses(t, marks))
			continue;
		if (t->var) {
			direct |= t->var == v;
			continue;
		}
		const lathe_tir_expr *X;
		int64_t n;
		sched_aff xa;
		bool dv = is_divmod(t->atom, LATHE_TIR_FLOORDIV, &X, &n);
		if (!dv && !is_divmod(t->atom, LATHE_TIR_FLOORMOD, &X, &n))
			return false;
		if (!sched_aff_of(I, X, &xa))
			return false;
		for (int j = 0; j < xa.n; j++)
			if (!xa.t[j].var && sched_term_uses(&xa.t[j], marks))
				return false;
		if (dv) {
			divs[nd] = X;
			ndiv[nd++] = n;
		} else {
			mods[nm] = X;
			nmod[nm++] = n;
		}
	}
	/* The floordiv/floormod pieces are coordinates of their X: one-to-one
	 * in the offset like variables. */
	const lathe_tir_expr *g[48];
	int ng = common_guards(acc, root, NULL, 0, g, 48);
	items x;
	if (!make_items(I, &F0, marks, true, g, ng, true, &x) || !items_injective(&x))
		return false;
	if (direct)
		return true;
	for (int i = 0; i < nd; i++)
		for (int j = 0; j < nm; j++) {
			if (ndiv[i] != nmod[j] || !sched_expr_eq(divs[i], mods[j]))
				continue;
			sched_aff xa;
			int64_t lo, hi;
			if (!sched_aff_of(I, divs[i], &xa))
				continue;
			int64_t K = sched_aff_coef(&xa, v);
			uint8_t *others = lathe_xcalloc(I->f->vars.len + 1, 1);
			memcpy(others, marks, I->f->vars.len);
			others[v->id] = 0;
			bool r = K != 0 && K != INT64_MIN &&
				 aff_range_d(I, &xa, others, true, false, &lo, &hi, 0) &&
				 (uint64_t)hi - (uint64_t)lo < (uint64_t)(K < 0 ? -K : K);
			free(others);
			if (r)
				return true;
		}
	return false;
}

static int common_guards(const sched_accesses *acc, lathe_tir_stmt *root,
			 const lathe_tir_expr *const *extra, int nextra, const lathe_tir_expr **out, int max)
{
	int n = 0;
	for (int i = 0; i < nextra && n < max; i++)
		out[n++] = extra[i];
	if (!acc->len || !root)
		return n;
	const lathe_tir_expr *g0[32];
	int n0 = sched_guards(root, acc->data[0].stmt, g0, 32);
	for (int k = 0; k < n0 && n < max; k++) {
		bool all = true;
		for (size_t i = 1; i < acc->len && all; i++) {
			const lathe_tir_expr *gi[32];
			int ni = sched_guards(root, acc->data[i].stmt, gi, 32);
			bool has = false;
			for (int j = 0; j < ni && !has; j++)
				has = sched_expr_eq(gi[j], g0[k]);
			all = has;
		}
		if (all)
			out[n++] = g0[k];
	}
	return n;
}

bool sched_uniform_injective(const sched_info *I, const sched_accesses *acc, const uint8_t *marks,
			     uint8_t *out_used, lathe_tir_stmt *root,
			     const lathe_tir_expr *const *extra, int nextra)
{
	if (!acc->len)
		return true;
	sched_aff a0;
	if (!sched_aff_flat(I, acc->data[0].buf, acc->data[0].idx, &a0))
		return false;
	for (size_t i = 1; i < acc->len; i++) {
		sched_aff a;
		if (!sched_aff_flat(I, acc->data[i].buf, acc->data[i].idx, &a) || !sched_aff_eq(&a, &a0))
			return false;
	}
	for (int i = 0; i < a0.n; i++) {
		if (!sched_term_uses(&a0.t[i], marks))
			continue;
		if (!a0.t[i].var)
			return false;
		if (out_used)
			out_used[a0.t[i].var->id] = 1;
	}
	const lathe_tir_expr *g[48];
	int ng = common_guards(acc, root, extra, nextra, g, 48);
	items x;
	return make_items(I, &a0, marks, true, g, ng, false, &x) && items_injective(&x);
}
