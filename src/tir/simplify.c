/* simplify.c: the loop-IR simplifier.
 *
 * Runs after lowering and after schedule transformations, before the
 * verifier and a backend.  It rewrites a function into an equivalent one
 * with fewer nodes:
 *   - constant folding of unary, binary, cast and select, with scalar.c's
 *     arithmetic (so folding never changes a result); an integer division
 *     by a constant zero is left for run time to report;
 *   - integer identities: x+0, x-0, x*1, x*0, x/1, floordiv(x, 1),
 *     floormod(x, 1), mod(x, 1), x-x, and nested constants
 *     ((x+c1)+c2, (x-c1)+c2, (x*c1)*c2), with the constant moved right in
 *     commutative operators; x*1 for floats too (exact in IEEE arithmetic);
 *     bool and/or with a constant;
 *   - select with a constant condition or equal arms, cast to the same type;
 *   - with the ranges of loop variables (constant bounds) and lets:
 *     floordiv/floormod of linear index arithmetic by a constant
 *     (floormod(i*4 + j, 4) = j when j is in [0, 4); floormod(i*16 + j, 64)
 *     = floormod(i, 4)*16 + j when j is in [0, 16); the terms the divisor
 *     divides taken out of it), nested floordivs, and comparisons, min and
 *     max that the ranges decide;
 *   - loops of extent 1 become a let of the lower bound (or a substitution
 *     when the bound is constant), empty loops and constant ifs disappear,
 *     lets of constants and variables are substituted, sequences flatten.
 * It is conservative: float rewrites that could change a NaN, an infinity
 * or the sign of zero (x+0.0, x*0.0, x-x) are not done.
 *
 * Requires: only what the constructors guarantee; it may run before the
 * verifier, so ill-typed nodes are rebuilt as they are and left for the
 * verifier to report, never folded.  Invalidates nothing: nodes are never modified in place
 * (expressions may be shared), changed parts are rebuilt in fn->arena and
 * unused variables stay in fn->vars.
 */
#include <stdlib.h>
#include <string.h>

#include "tir/tir_impl.h"

/* A known range [lo, hi] of an i64 expression (ok false: unknown). */
typedef struct range {
	bool ok;
	int64_t lo, hi;
} range;

typedef struct sctx {
	lathe_tir_func *f;
	lathe_tir_expr **subst; /* per variable id: its replacement, or NULL */
	range *vr;              /* per variable id: its range where bound */
} sctx;

typedef LATHE_VEC(lathe_tir_stmt *) stmt_vec;

/* Variables of other functions (malformed IR, reported by the verifier
 * later) are left alone rather than indexed out of bounds. */
static bool own_var(const sctx *c, const lathe_tir_var *v)
{
	return v && v->id >= 0 && (size_t)v->id < c->f->vars.len && c->f->vars.data[v->id] == v;
}

static bool is_const(const lathe_tir_expr *e)
{
	return e->kind == LATHE_TIR_E_INT || e->kind == LATHE_TIR_E_FLOAT;
}

static bool is_int_type(int dt)
{
	return lathe_dtype_is_int(dt);
}

static lathe_tir_val const_val(const lathe_tir_expr *e)
{
	lathe_tir_val v;
	if (e->kind == LATHE_TIR_E_FLOAT)
		v.f = e->u.f;
	else
		v.i = e->u.i;
	return v;
}

static lathe_tir_expr *mk_const(lathe_tir_func *f, int dtype, lathe_tir_val v)
{
	if (lathe_dtype_is_float(dtype))
		return lathe_tir_float(f, dtype, v.f);
	return lathe_tir_int(f, dtype, v.i);
}

/* Structural equality of pure expressions, to a bounded depth. */
static bool expr_equal(const lathe_tir_expr *a, const lathe_tir_expr *b, int depth)
{
	if (a == b)
		return true;
	if (!a || !b || depth > 32 || a->kind != b->kind || a->dtype != b->dtype)
		return false;
	switch (a->kind) {
	case LATHE_TIR_E_INT: return a->u.i == b->u.i;
	case LATHE_TIR_E_FLOAT: return memcmp(&a->u.f, &b->u.f, sizeof a->u.f) == 0;
	case LATHE_TIR_E_VAR: return a->u.var == b->u.var;
	case LATHE_TIR_E_LOAD:
		if (a->u.buf != b->u.buf)
			return false;
		for (int k = 0; k < a->u.buf->rank; k++)
			if (!expr_equal(a->idx[k], b->idx[k], depth + 1))
				return false;
		return true;
	case LATHE_TIR_E_UNARY: case LATHE_TIR_E_BINARY:
		if (a->op != b->op)
			return false;
		break;
	}
	return expr_equal(a->a, b->a, depth + 1) && expr_equal(a->b, b->b, depth + 1) &&
	       expr_equal(a->c, b->c, depth + 1);
}

/* ---- ranges of index expressions ------------------------------------------
 *
 * Loop variables with constant bounds have known ranges; from them the
 * simplifier bounds i64 expressions (with every step checked for overflow,
 * so a known range is exact arithmetic) and uses the bounds to remove
 * floordiv/floormod of index arithmetic and to decide comparisons. */

#define RANGE_DEPTH 24

static const range unknown_range = {false, 0, 0};

static range mk_range(int64_t lo, int64_t hi)
{
	range r = {true, lo, hi};
	return r;
}

static int64_t fdiv(int64_t a, int64_t k) /* k > 0 */
{
	int64_t q = a / k;
	return (a % k != 0 && a < 0) ? q - 1 : q;
}

static int64_t fmodk(int64_t a, int64_t k) /* k > 0 */
{
	int64_t r = a % k;
	return r < 0 ? r + k : r;
}

static range range_mul_k(range a, int64_t k)
{
	int64_t x, y;
	if (!a.ok || __builtin_mul_overflow(a.lo, k, &x) || __builtin_mul_overflow(a.hi, k, &y))
		return unknown_range;
	return x <= y ? mk_range(x, y) : mk_range(y, x);
}

static range range_of(sctx *c, const lathe_tir_expr *e, int depth);

static range int_type_range(int dt)
{
	switch (dt) {
	case LATHE_DT_BOOL: return mk_range(0, 1);
	case LATHE_DT_I8: return mk_range(INT8_MIN, INT8_MAX);
	case LATHE_DT_U8: return mk_range(0, UINT8_MAX);
	case LATHE_DT_I16: return mk_range(INT16_MIN, INT16_MAX);
	case LATHE_DT_U16: return mk_range(0, UINT16_MAX);
	case LATHE_DT_I32: return mk_range(INT32_MIN, INT32_MAX);
	case LATHE_DT_U32: return mk_range(0, UINT32_MAX);
	case LATHE_DT_I4: return mk_range(-8, 7);
	case LATHE_DT_U4: return mk_range(0, 15);
	case LATHE_DT_I2: return mk_range(-2, 1);
	case LATHE_DT_U2: return mk_range(0, 3);
	}
	return unknown_range;
}

static range range_binary(sctx *c, const lathe_tir_expr *e, int depth)
{
	range a = range_of(c, e->a, depth + 1), b = range_of(c, e->b, depth + 1);
	int64_t x, y;
	switch (e->op) {
	case LATHE_TIR_ADD:
		if (!a.ok || !b.ok || __builtin_add_overflow(a.lo, b.lo, &x) ||
		    __builtin_add_overflow(a.hi, b.hi, &y))
			return unknown_range;
		return mk_range(x, y);
	case LATHE_TIR_SUB:
		if (!a.ok || !b.ok || __builtin_sub_overflow(a.lo, b.hi, &x) ||
		    __builtin_sub_overflow(a.hi, b.lo, &y))
			return unknown_range;
		return mk_range(x, y);
	case LATHE_TIR_MUL: {
		if (b.ok && b.lo == b.hi)
			return range_mul_k(a, b.lo);
		if (a.ok && a.lo == a.hi)
			return range_mul_k(b, a.lo);
		if (!a.ok || !b.ok)
			return unknown_range;
		range p = range_mul_k(a, b.lo), q = range_mul_k(a, b.hi);
		if (!p.ok || !q.ok)
			return unknown_range;
		return mk_range(p.lo < q.lo ? p.lo : q.lo, p.hi > q.hi ? p.hi : q.hi);
	}
	case LATHE_TIR_FLOORDIV:
		if (!a.ok || !b.ok || b.lo != b.hi || b.lo <= 0)
			return unknown_range;
		return mk_range(fdiv(a.lo, b.lo), fdiv(a.hi, b.lo));
	case LATHE_TIR_FLOORMOD:
		if (!b.ok || b.lo != b.hi || b.lo <= 0)
			return unknown_range;
		if (a.ok && fdiv(a.lo, b.lo) == fdiv(a.hi, b.lo))
			return mk_range(fmodk(a.lo, b.lo), fmodk(a.hi, b.lo));
		return mk_range(0, b.lo - 1);
	case LATHE_TIR_MIN:
		if (!a.ok || !b.ok)
			return unknown_range;
		return mk_range(a.lo < b.lo ? a.lo : b.lo, a.hi < b.hi ? a.hi : b.hi);
	case LATHE_TIR_MAX:
		if (!a.ok || !b.ok)
			return unknown_range;
		return mk_range(a.lo > b.lo ? a.lo : b.lo, a.hi > b.hi ? a.hi : b.hi);
	}
	return unknown_range;
}

/* Range of an i64 expression (unknown for other dtypes). */
static range range_of(sctx *c, const lathe_tir_expr *e, int depth)
{
	if (e->dtype != LATHE_DT_I64 || depth > RANGE_DEPTH)
		return unknown_range;
	switch (e->kind) {
	case LATHE_TIR_E_INT:
		return mk_range(e->u.i, e->u.i);
	case LATHE_TIR_E_VAR:
		return own_var(c, e->u.var) ? c->vr[e->u.var->id] : unknown_range;
	case LATHE_TIR_E_BINARY:
		if (e->a->dtype != LATHE_DT_I64 || e->b->dtype != LATHE_DT_I64)
			return unknown_range;
		return range_binary(c, e, depth);
	case LATHE_TIR_E_SELECT: {
		range a = range_of(c, e->b, depth + 1), b = range_of(c, e->c, depth + 1);
		if (!a.ok || !b.ok)
			return unknown_range;
		return mk_range(a.lo < b.lo ? a.lo : b.lo, a.hi > b.hi ? a.hi : b.hi);
	}
	case LATHE_TIR_E_CAST:
		return int_type_range(e->a->dtype);
	}
	return unknown_range;
}

/* ---- linear forms: sum of k_t * e_t + c0 ---------------------------------- */

#define MAX_TERMS 12

typedef struct lin {
	bool ok;
	int n;
	lathe_tir_expr *e[MAX_TERMS];
	int64_t k[MAX_TERMS];
	int64_t c0;
} lin;

static bool expr_equal(const lathe_tir_expr *a, const lathe_tir_expr *b, int depth);

static void lin_add(lin *L, lathe_tir_expr *e, int64_t k, int depth)
{
	int64_t t;
	if (!L->ok)
		return;
	if (depth > RANGE_DEPTH || e->dtype != LATHE_DT_I64) {
		L->ok = false;
		return;
	}
	if (e->kind == LATHE_TIR_E_INT) {
		if (__builtin_mul_overflow(e->u.i, k, &t) || __builtin_add_overflow(L->c0, t, &L->c0))
			L->ok = false;
		return;
	}
	if (e->kind == LATHE_TIR_E_BINARY && e->a->dtype == LATHE_DT_I64) {
		if (e->op == LATHE_TIR_ADD || e->op == LATHE_TIR_SUB) {
			lin_add(L, e->a, k, depth + 1);
			if (e->op == LATHE_TIR_SUB && k == INT64_MIN)
				L->ok = false;
			else
				lin_add(L, e->b, e->op == LATHE_TIR_SUB ? -k : k, depth + 1);
			return;
		}
		if (e->op == LATHE_TIR_MUL && e->b->kind == LATHE_TIR_E_INT) {
			if (__builtin_mul_overflow(e->b->u.i, k, &t))
				L->ok = false;
			else
				lin_add(L, e->a, t, depth + 1);
			return;
		}
	}
	for (int i = 0; i < L->n; i++)
		if (expr_equal(L->e[i], e, 0)) {
			if (__builtin_add_overflow(L->k[i], k, &L->k[i]))
				L->ok = false;
			return;
		}
	if (L->n == MAX_TERMS) {
		L->ok = false;
		return;
	}
	L->e[L->n] = e;
	L->k[L->n++] = k;
}

/* Sum of the terms selected by `pick` (k_t divided by div) plus c. */
static lathe_tir_expr *lin_build(lathe_tir_func *f, const lin *L, const bool *pick,
				 int64_t div, int64_t c)
{
	lathe_tir_expr *r = NULL;
	for (int i = 0; i < L->n; i++) {
		if (!pick[i] || L->k[i] == 0)
			continue;
		int64_t k = L->k[i] / div;
		lathe_tir_expr *t = k == 1 ? L->e[i] : lathe_tir_binary(f, LATHE_TIR_MUL, L->e[i], lathe_tir_i64(f, k));
		r = r ? lathe_tir_binary(f, LATHE_TIR_ADD, r, t) : t;
	}
	if (!r)
		return lathe_tir_i64(f, c);
	return c ? lathe_tir_binary(f, LATHE_TIR_ADD, r, lathe_tir_i64(f, c)) : r;
}

static int64_t gcd64(int64_t a, int64_t b)
{
	uint64_t x = a < 0 ? 0 - (uint64_t)a : (uint64_t)a, y = b < 0 ? 0 - (uint64_t)b : (uint64_t)b;
	while (y) {
		uint64_t t = x % y;
		x = y;
		y = t;
	}
	return x > INT64_MAX ? 0 : (int64_t)x;
}

static lathe_tir_expr *sbinary(sctx *c, lathe_tir_expr *e, lathe_tir_expr *a, lathe_tir_expr *b);
static lathe_tir_expr *sexpr(sctx *c, lathe_tir_expr *e);

static lathe_tir_expr *mk_bin(sctx *c, int op, lathe_tir_expr *a, lathe_tir_expr *b)
{
	lathe_tir_expr *e = lathe_tir_binary(c->f, op, a, b);
	return sbinary(c, e, a, b);
}

/* floordiv(x, d) or floormod(x, d) with a constant d > 0, by writing
 * x = m*Y + R with m dividing d and R in [0, m): then
 *   floordiv(x, d) = floordiv(Y, d/m) and floormod(x, d) = floormod(Y, d/m)*m + R.
 * With m = d that removes the division; with a smaller m it moves it onto
 * fewer terms.  Every term needs a known range, so the identities hold in
 * exact arithmetic.  NULL when nothing applies. */
static lathe_tir_expr *divmod_linear(sctx *c, int op, lathe_tir_expr *x, int64_t d)
{
	lin L = {.ok = true};
	lin_add(&L, x, 1, 0);
	if (!L.ok)
		return NULL;
	range tr[MAX_TERMS];
	for (int i = 0; i < L.n; i++) {
		tr[i] = range_mul_k(range_of(c, L.e[i], 0), L.k[i]);
		if (!tr[i].ok)
			return NULL;
	}
	int64_t cand[MAX_TERMS + 1];
	lathe_tir_expr *later = NULL; /* a rewrite that keeps a floormod, if none removes it */
	int nc = 0;
	cand[nc++] = d;
	for (int i = 0; i < L.n; i++)
		cand[nc++] = gcd64(d, L.k[i]);
	for (int j = 0; j < nc; j++) {
		int64_t m = cand[j];
		if (m <= 1)
			continue;
		bool pick[MAX_TERMS], rest[MAX_TERMS];
		int64_t lo = fmodk(L.c0, m), hi = lo;
		bool ok = true;
		for (int i = 0; i < L.n && ok; i++) {
			pick[i] = L.k[i] % m == 0;
			rest[i] = !pick[i];
			if (rest[i] && (__builtin_add_overflow(lo, tr[i].lo, &lo) ||
					__builtin_add_overflow(hi, tr[i].hi, &hi)))
				ok = false;
		}
		if (!ok || lo < 0 || hi >= m)
			continue;
		lathe_tir_func *f = c->f;
		lathe_tir_expr *Y = lin_build(f, &L, pick, m, fdiv(L.c0, m));
		lathe_tir_expr *R = lin_build(f, &L, rest, 1, fmodk(L.c0, m));
		if (op == LATHE_TIR_FLOORDIV)
			return m == d ? sexpr(c, Y) : mk_bin(c, LATHE_TIR_FLOORDIV, Y, lathe_tir_i64(f, d / m));
		if (m == d)
			return sexpr(c, R);
		/* R leaves the modulus: floormod(j*16 + l, 64) = floormod(j, 4)*16 + l,
		 * affine in l (a vector lane, say); kept for later if the
		 * modulus stays, in case another m removes it */
		lathe_tir_expr *inner = mk_bin(c, LATHE_TIR_FLOORMOD, Y, lathe_tir_i64(f, d / m));
		lathe_tir_expr *r = mk_bin(c, LATHE_TIR_ADD, mk_bin(c, LATHE_TIR_MUL, inner, lathe_tir_i64(f, m)), R);
		if (inner->kind != LATHE_TIR_E_BINARY || inner->op != LATHE_TIR_FLOORMOD)
			return r;
		if (!later)
			later = r;
	}
	if (later)
		return later;
	/* The terms that d divides leave the division however wide the
	 * others' ranges: floordiv(d*Y + R, d) = Y + floordiv(R, d) and
	 * floormod(d*Y + R, d) = floormod(R, d) (the constant's multiple of d
	 * goes to Y), so floormod(floordiv(i*16 + j, 4), 4) becomes
	 * floordiv(j, 4) when j is in [0, 16). */
	bool pick[MAX_TERMS], rest[MAX_TERMS];
	int npick = 0, nrest = 0;
	for (int i = 0; i < L.n; i++) {
		pick[i] = L.k[i] != 0 && L.k[i] % d == 0;
		rest[i] = !pick[i];
		npick += pick[i];
		nrest += rest[i] && L.k[i] != 0;
	}
	if (!npick || !nrest)
		return NULL;
	lathe_tir_func *f = c->f;
	lathe_tir_expr *R = mk_bin(c, op, lin_build(f, &L, rest, 1, fmodk(L.c0, d)), lathe_tir_i64(f, d));
	if (op == LATHE_TIR_FLOORMOD)
		return R;
	return mk_bin(c, LATHE_TIR_ADD, sexpr(c, lin_build(f, &L, pick, d, fdiv(L.c0, d))), R);
}

/* Comparisons, min and max of i64 expressions decided by their ranges. */
static lathe_tir_expr *by_ranges(sctx *c, int op, lathe_tir_expr *a, lathe_tir_expr *b)
{
	range x = range_of(c, a, 0), y = range_of(c, b, 0);
	if (!x.ok || !y.ok)
		return NULL;
	int t = -1; /* -1 unknown, else the bool result */
	switch (op) {
	case LATHE_TIR_LT: t = x.hi < y.lo ? 1 : x.lo >= y.hi ? 0 : -1; break;
	case LATHE_TIR_LE: t = x.hi <= y.lo ? 1 : x.lo > y.hi ? 0 : -1; break;
	case LATHE_TIR_GT: t = x.lo > y.hi ? 1 : x.hi <= y.lo ? 0 : -1; break;
	case LATHE_TIR_GE: t = x.lo >= y.hi ? 1 : x.hi < y.lo ? 0 : -1; break;
	case LATHE_TIR_EQ: t = (x.hi < y.lo || y.hi < x.lo) ? 0 : -1; break;
	case LATHE_TIR_NE: t = (x.hi < y.lo || y.hi < x.lo) ? 1 : -1; break;
	case LATHE_TIR_MIN: return x.hi <= y.lo ? a : y.hi <= x.lo ? b : NULL;
	case LATHE_TIR_MAX: return x.lo >= y.hi ? a : y.lo >= x.hi ? b : NULL;
	}
	return t < 0 ? NULL : lathe_tir_int(c->f, LATHE_DT_BOOL, t);
}

static bool commutative(int op)
{
	switch (op) {
	case LATHE_TIR_ADD: case LATHE_TIR_MUL: case LATHE_TIR_MIN: case LATHE_TIR_MAX:
	case LATHE_TIR_EQ: case LATHE_TIR_NE: case LATHE_TIR_AND: case LATHE_TIR_OR:
	case LATHE_TIR_XOR:
		return true;
	}
	return false;
}

/* c1 op c2 folded in dtype (never fails for add/sub/mul). */
static lathe_tir_expr *fold2(lathe_tir_func *f, int op, int dtype, const lathe_tir_expr *x,
			     const lathe_tir_expr *y)
{
	lathe_tir_val r;
	lathe_tir_eval_binary(op, dtype, const_val(x), const_val(y), &r);
	return mk_const(f, dtype, r);
}

static lathe_tir_expr *sbinary(sctx *c, lathe_tir_expr *e, lathe_tir_expr *a, lathe_tir_expr *b)
{
	lathe_tir_func *f = c->f;
	int op = e->op, dt = a->dtype;
	if (a->dtype != b->dtype || !lathe_tir_dtype_ok(dt))
		goto rebuild; /* ill-typed: leave it for the verifier */
	if (is_const(a) && is_const(b)) {
		lathe_tir_val r;
		if (lathe_tir_eval_binary(op, dt, const_val(a), const_val(b), &r))
			return mk_const(f, lathe_tir_binary_dtype(op, dt), r);
		goto rebuild;
	}
	if (is_const(a) && commutative(op)) {
		lathe_tir_expr *t = a;
		a = b;
		b = t;
	}
	if (is_int_type(dt) && b->kind == LATHE_TIR_E_INT) {
		int64_t k = b->u.i;
		switch (op) {
		case LATHE_TIR_ADD:
		case LATHE_TIR_SUB:
			if (k == 0)
				return a;
			/* (x + c1) +- c2 and (x - c1) +- c2: wrapping arithmetic is
			 * associative, so the constants combine. */
			if (a->kind == LATHE_TIR_E_BINARY && b->kind == LATHE_TIR_E_INT &&
			    (a->op == LATHE_TIR_ADD || a->op == LATHE_TIR_SUB) &&
			    a->b->kind == LATHE_TIR_E_INT && a->b->dtype == dt) {
				lathe_tir_expr *c1 = a->b;
				if (a->op == LATHE_TIR_SUB)
					c1 = fold2(f, LATHE_TIR_SUB, dt, lathe_tir_int(f, dt, 0), c1);
				lathe_tir_expr *k2 = fold2(f, op, dt, c1, b);
				if (k2->u.i == 0)
					return a->a;
				return lathe_tir_binary(f, LATHE_TIR_ADD, a->a, k2);
			}
			break;
		case LATHE_TIR_MUL:
			if (k == 1)
				return a;
			if (k == 0)
				return b;
			if (a->kind == LATHE_TIR_E_BINARY && a->op == LATHE_TIR_MUL &&
			    a->b->kind == LATHE_TIR_E_INT && a->b->dtype == dt)
				return lathe_tir_binary(f, LATHE_TIR_MUL, a->a, fold2(f, LATHE_TIR_MUL, dt, a->b, b));
			break;
		case LATHE_TIR_DIV: case LATHE_TIR_FLOORDIV:
			if (k == 1)
				return a;
			break;
		case LATHE_TIR_MOD: case LATHE_TIR_FLOORMOD: case LATHE_TIR_FMOD:
			if (k == 1)
				return lathe_tir_int(f, dt, 0);
			break;
		}
	}
	if (dt == LATHE_DT_I64) {
		lathe_tir_expr *r = NULL;
		if ((op == LATHE_TIR_FLOORDIV || op == LATHE_TIR_FLOORMOD) &&
		    b->kind == LATHE_TIR_E_INT && b->u.i > 0) {
			int64_t k2;
			/* floordiv(floordiv(x, p), q) = floordiv(x, p*q) for p, q > 0 */
			if (op == LATHE_TIR_FLOORDIV && a->kind == LATHE_TIR_E_BINARY &&
			    a->op == LATHE_TIR_FLOORDIV && a->b->kind == LATHE_TIR_E_INT &&
			    a->b->u.i > 0 && !__builtin_mul_overflow(a->b->u.i, b->u.i, &k2))
				return mk_bin(c, LATHE_TIR_FLOORDIV, a->a, lathe_tir_i64(f, k2));
			r = divmod_linear(c, op, a, b->u.i);
		} else if (lathe_tir_binop_is_compare(op) || op == LATHE_TIR_MIN || op == LATHE_TIR_MAX) {
			r = by_ranges(c, op, a, b);
		}
		if (r)
			return r;
	}
	if (is_int_type(dt) && op == LATHE_TIR_SUB && expr_equal(a, b, 0))
		return lathe_tir_int(f, dt, 0);
	if (lathe_dtype_is_float(dt) && op == LATHE_TIR_MUL && b->kind == LATHE_TIR_E_FLOAT &&
	    b->u.f == 1.0)
		return a;
	if (dt == LATHE_DT_BOOL && b->kind == LATHE_TIR_E_INT) {
		if (op == LATHE_TIR_AND)
			return b->u.i ? a : b;
		if (op == LATHE_TIR_OR)
			return b->u.i ? b : a;
	}
rebuild:
	if (a == e->a && b == e->b)
		return e;
	return lathe_tir_binary(f, op, a, b);
}

static lathe_tir_expr *sexpr(sctx *c, lathe_tir_expr *e)
{
	lathe_tir_func *f = c->f;
	switch (e->kind) {
	case LATHE_TIR_E_INT:
	case LATHE_TIR_E_FLOAT:
		return e;
	case LATHE_TIR_E_VAR:
		if (own_var(c, e->u.var) && c->subst[e->u.var->id])
			return c->subst[e->u.var->id];
		return e;
	case LATHE_TIR_E_LOAD: {
		int n = e->u.buf->rank;
		lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, n);
		bool changed = false;
		for (int k = 0; k < n; k++) {
			idx[k] = sexpr(c, e->idx[k]);
			changed |= idx[k] != e->idx[k];
		}
		return changed ? lathe_tir_load(f, e->u.buf, idx) : e;
	}
	case LATHE_TIR_E_UNARY: {
		lathe_tir_expr *a = sexpr(c, e->a);
		if (is_const(a) && lathe_tir_dtype_ok(a->dtype))
			return mk_const(f, e->dtype, lathe_tir_eval_unary(e->op, a->dtype, const_val(a)));
		return a == e->a ? e : lathe_tir_unary(f, e->op, a);
	}
	case LATHE_TIR_E_BINARY:
		return sbinary(c, e, sexpr(c, e->a), sexpr(c, e->b));
	case LATHE_TIR_E_SELECT: {
		lathe_tir_expr *cond = sexpr(c, e->a);
		if (cond->kind == LATHE_TIR_E_INT && cond->dtype == LATHE_DT_BOOL)
			return sexpr(c, cond->u.i ? e->b : e->c);
		lathe_tir_expr *x = sexpr(c, e->b), *y = sexpr(c, e->c);
		if (expr_equal(x, y, 0))
			return x;
		if (cond == e->a && x == e->b && y == e->c)
			return e;
		return lathe_tir_select(f, cond, x, y);
	}
	case LATHE_TIR_E_CAST: {
		lathe_tir_expr *a = sexpr(c, e->a);
		if (a->dtype == e->dtype)
			return a;
		if (is_const(a) && lathe_tir_dtype_ok(a->dtype) && lathe_tir_dtype_ok(e->dtype))
			return mk_const(f, e->dtype, lathe_tir_eval_cast(e->dtype, a->dtype, const_val(a)));
		return a == e->a ? e : lathe_tir_cast(f, e->dtype, a);
	}
	}
	return e;
}

static lathe_tir_stmt *empty(lathe_tir_func *f)
{
	return lathe_tir_seq(f, 0, NULL);
}

static bool is_empty(const lathe_tir_stmt *s)
{
	return s->kind == LATHE_TIR_S_SEQ && s->n == 0;
}

/* Body with var replaced by value (value NULL: no replacement). */
static lathe_tir_stmt *sstmt(sctx *c, lathe_tir_stmt *s);

static lathe_tir_stmt *with_subst(sctx *c, lathe_tir_var *v, lathe_tir_expr *value,
				  range r, lathe_tir_stmt *body)
{
	if (!own_var(c, v))
		return sstmt(c, body);
	lathe_tir_expr *saved = c->subst[v->id];
	range saved_r = c->vr[v->id];
	c->subst[v->id] = value;
	c->vr[v->id] = r;
	lathe_tir_stmt *res = sstmt(c, body);
	c->subst[v->id] = saved;
	c->vr[v->id] = saved_r;
	return res;
}

/* The range of a loop variable: [lo, lo + extent) when both are known. */
static range loop_range(sctx *c, lathe_tir_expr *lo, lathe_tir_expr *ext)
{
	range l = range_of(c, lo, 0), e = range_of(c, ext, 0);
	int64_t hi;
	if (!l.ok || !e.ok || e.hi < 1 || __builtin_add_overflow(l.hi, e.hi - 1, &hi))
		return unknown_range;
	return mk_range(l.lo, hi);
}

static void flatten_into(stmt_vec *out, lathe_tir_stmt *s)
{
	if (s->kind == LATHE_TIR_S_SEQ) {
		for (int32_t i = 0; i < s->n; i++)
			flatten_into(out, s->stmts[i]);
		return;
	}
	lathe_vec_push(out, s);
}

static lathe_tir_stmt *sstmt(sctx *c, lathe_tir_stmt *s)
{
	lathe_tir_func *f = c->f;
	switch (s->kind) {
	case LATHE_TIR_S_FOR: {
		lathe_tir_expr *lo = sexpr(c, s->lo), *ext = sexpr(c, s->extent);
		if (ext->kind == LATHE_TIR_E_INT) {
			if (ext->u.i <= 0)
				return empty(f);
			if (ext->u.i == 1) {
				range r = range_of(c, lo, 0);
				if (is_const(lo) || lo->kind == LATHE_TIR_E_VAR)
					return with_subst(c, s->var, lo, r, s->body);
				lathe_tir_stmt *body = with_subst(c, s->var, NULL, r, s->body);
				return lathe_tir_let(f, s->var, lo, body);
			}
		}
		lathe_tir_stmt *body = with_subst(c, s->var, NULL, loop_range(c, lo, ext), s->body);
		if (is_empty(body))
			return body;
		return lathe_tir_for(f, s->var, lo, ext, s->for_kind, body);
	}
	case LATHE_TIR_S_LET: {
		lathe_tir_expr *v = sexpr(c, s->value);
		range r = range_of(c, v, 0);
		if (is_const(v) || v->kind == LATHE_TIR_E_VAR)
			return with_subst(c, s->var, v, r, s->body);
		lathe_tir_stmt *body = with_subst(c, s->var, NULL, r, s->body);
		if (is_empty(body))
			return body;
		return lathe_tir_let(f, s->var, v, body);
	}
	case LATHE_TIR_S_STORE: {
		int n = s->buf->rank;
		lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, n);
		for (int k = 0; k < n; k++)
			idx[k] = sexpr(c, s->idx[k]);
		return lathe_tir_store(f, s->buf, idx, sexpr(c, s->value));
	}
	case LATHE_TIR_S_SEQ: {
		stmt_vec out = {0};
		for (int32_t i = 0; i < s->n; i++)
			flatten_into(&out, sstmt(c, s->stmts[i]));
		if (out.len == 1 && s != f->body) {
			lathe_tir_stmt *one = out.data[0];
			lathe_vec_free(&out);
			return one;
		}
		lathe_tir_stmt *r = lathe_tir_seq(f, (int)out.len, out.data);
		lathe_vec_free(&out);
		return r;
	}
	case LATHE_TIR_S_IF: {
		lathe_tir_expr *cond = sexpr(c, s->cond);
		if (cond->kind == LATHE_TIR_E_INT && cond->dtype == LATHE_DT_BOOL) {
			lathe_tir_stmt *arm = cond->u.i ? s->body : s->orelse;
			return arm ? sstmt(c, arm) : empty(f);
		}
		lathe_tir_stmt *then = sstmt(c, s->body);
		lathe_tir_stmt *orelse = s->orelse ? sstmt(c, s->orelse) : NULL;
		if (orelse && is_empty(orelse))
			orelse = NULL;
		if (is_empty(then) && !orelse)
			return then;
		return lathe_tir_if(f, cond, then, orelse);
	}
	case LATHE_TIR_S_CALL: {
		lathe_tir_arg *args = lathe_arena_new(f->arena, lathe_tir_arg, s->nargs + 1);
		for (int32_t i = 0; i < s->nargs; i++) {
			args[i] = s->args[i];
			if (args[i].kind == LATHE_TIR_ARG_VALUE) {
				args[i].value = sexpr(c, args[i].value);
				continue;
			}
			int n = args[i].buf->rank;
			args[i].idx = lathe_arena_new(f->arena, lathe_tir_expr *, n + 1);
			for (int k = 0; k < n; k++)
				args[i].idx[k] = sexpr(c, s->args[i].idx[k]);
		}
		return lathe_tir_call(f, s->callee, s->nargs, args);
	}
	}
	return s;
}

void lathe_tir_simplify(lathe_tir_func *f)
{
	if (!f || !f->body)
		return;
	sctx c = {f, lathe_xcalloc(f->vars.len + 1, sizeof(lathe_tir_expr *)),
		  lathe_xcalloc(f->vars.len + 1, sizeof(range))};
	lathe_tir_stmt *body = sstmt(&c, f->body);
	if (body->kind != LATHE_TIR_S_SEQ)
		body = lathe_tir_seq(f, 1, &body);
	f->body = body;
	free(c.subst);
	free(c.vr);
}
