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
 *   - loops of extent 1 become a let of the lower bound (or a substitution
 *     when the bound is constant), empty loops and constant ifs disappear,
 *     lets of constants and variables are substituted, sequences flatten.
 * It is conservative: float rewrites that could change a NaN, an infinity
 * or the sign of zero (x+0.0, x*0.0, x-x) are not done.
 *
 * Requires: a function whose expressions are well-typed (it folds by the
 * dtypes it finds).  Invalidates nothing: nodes are never modified in place
 * (expressions may be shared), changed parts are rebuilt in fn->arena and
 * unused variables stay in fn->vars.
 */
#include <stdlib.h>
#include <string.h>

#include "tir/tir_impl.h"

typedef struct sctx {
	lathe_tir_func *f;
	lathe_tir_expr **subst; /* per variable id: its replacement, or NULL */
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

/* An integer constant equal to v (not bool). */
static bool is_int_k(const lathe_tir_expr *e, int64_t v)
{
	return e->kind == LATHE_TIR_E_INT && is_int_type(e->dtype) && e->u.i == v;
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
				  lathe_tir_stmt *body)
{
	if (!own_var(c, v))
		return sstmt(c, body);
	lathe_tir_expr *saved = c->subst[v->id];
	c->subst[v->id] = value;
	lathe_tir_stmt *r = sstmt(c, body);
	c->subst[v->id] = saved;
	return r;
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
				if (lo->kind == LATHE_TIR_E_INT)
					return with_subst(c, s->var, lo, s->body);
				lathe_tir_stmt *body = with_subst(c, s->var, NULL, s->body);
				return lathe_tir_let(f, s->var, lo, body);
			}
		}
		lathe_tir_stmt *body = with_subst(c, s->var, NULL, s->body);
		if (is_empty(body))
			return body;
		return lathe_tir_for(f, s->var, lo, ext, s->for_kind, body);
	}
	case LATHE_TIR_S_LET: {
		lathe_tir_expr *v = sexpr(c, s->value);
		if (is_const(v) || v->kind == LATHE_TIR_E_VAR)
			return with_subst(c, s->var, v, s->body);
		lathe_tir_stmt *body = with_subst(c, s->var, NULL, s->body);
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
	}
	return s;
}

void lathe_tir_simplify(lathe_tir_func *f)
{
	if (!f || !f->body)
		return;
	sctx c = {f, lathe_xcalloc(f->vars.len + 1, sizeof(lathe_tir_expr *))};
	lathe_tir_stmt *body = sstmt(&c, f->body);
	if (body->kind != LATHE_TIR_S_SEQ)
		body = lathe_tir_seq(f, 1, &body);
	f->body = body;
	free(c.subst);
}
