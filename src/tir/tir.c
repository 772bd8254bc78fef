/* tir.c: building loop-IR functions.
 *
 * The constructors here are what lowering, schedules and the parser use to
 * make nodes; every node goes into the function's arena.  Construction is
 * lenient about types: a node gets the dtype its operator implies (bool for
 * comparisons and predicates, the first operand's dtype otherwise) and
 * lathe_tir_verify reports operands that disagree, so that the parser can
 * build what it read and let the verifier name the problem.  Structural
 * misuse (a NULL operand) is a compiler bug and asserts.
 *
 * Invariants kept here:
 *   - names are unique within a function, buffers and variables together
 *     (the text form and the C backends rely on it);
 *   - constants are canonical: an integer or bool constant is wrapped to its
 *     dtype, a float constant is rounded to its dtype, and the kind (E_INT or
 *     E_FLOAT) follows the dtype, whichever constructor was called;
 *   - a SEQ's statement array has room for the next power of two of its
 *     length, which is how lathe_tir_append grows the top-level sequence
 *     in place.  SEQs must be made with lathe_tir_seq for that to hold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tir/tir_impl.h"

static const char *const unop_names[] = {
#define X(e, s) s,
	LATHE_TIR_UNOPS(X)
#undef X
};
static const char *const binop_names[] = {
#define X(e, s) s,
	LATHE_TIR_BINOPS(X)
#undef X
};

const char *lathe_tir_unop_name(int op)
{
	return op >= 0 && op < LATHE_TIR_UNOP_COUNT ? unop_names[op] : "?";
}

const char *lathe_tir_binop_name(int op)
{
	return op >= 0 && op < LATHE_TIR_BINOP_COUNT ? binop_names[op] : "?";
}

/* ---- names ---------------------------------------------------------------- */

static bool name_taken(const lathe_tir_func *f, const char *name)
{
	for (size_t i = 0; i < f->bufs.len; i++)
		if (!strcmp(f->bufs.data[i]->name, name))
			return true;
	for (size_t i = 0; i < f->vars.len; i++)
		if (!strcmp(f->vars.data[i]->name, name))
			return true;
	return false;
}

static const char *unique_name(lathe_tir_func *f, const char *name)
{
	if (!name)
		name = "";
	if (!name_taken(f, name))
		return lathe_arena_strdup(f->arena, name);
	for (long k = 1;; k++) {
		char *cand = lathe_arena_printf(f->arena, "%s_%ld", name, k);
		if (!name_taken(f, cand))
			return cand;
	}
}

/* ---- functions, buffers, variables ---------------------------------------- */

lathe_tir_func *lathe_tir_func_create(lathe_arena *a, const char *name)
{
	lathe_tir_func *f = lathe_arena_new(a, lathe_tir_func, 1);
	f->arena = a;
	f->name = lathe_arena_strdup(a, name ? name : "");
	f->body = lathe_tir_seq(f, 0, NULL);
	return f;
}

void lathe_tir_func_deinit(lathe_tir_func *f)
{
	if (!f)
		return;
	lathe_vec_free(&f->bufs);
	lathe_vec_free(&f->vars);
}

static lathe_tir_buf *new_buf(lathe_tir_func *f, const char *name, int dtype, int rank,
			      const int64_t *shape, int kind)
{
	LATHE_ASSERT(rank >= 0 && (rank == 0 || shape));
	lathe_tir_buf *b = lathe_arena_new(f->arena, lathe_tir_buf, 1);
	b->name = unique_name(f, name);
	b->id = (int32_t)f->bufs.len;
	b->dtype = dtype;
	b->rank = rank;
	b->shape = lathe_arena_new(f->arena, int64_t, rank);
	if (rank)
		memcpy(b->shape, shape, sizeof *shape * (size_t)rank);
	b->kind = (uint8_t)kind;
	lathe_vec_push(&f->bufs, b);
	return b;
}

lathe_tir_buf *lathe_tir_param(lathe_tir_func *f, const char *name, int dtype, int rank,
			       const int64_t *shape)
{
	LATHE_ASSERT((size_t)f->nparams == f->bufs.len); /* params before locals */
	lathe_tir_buf *b = new_buf(f, name, dtype, rank, shape, LATHE_TIR_PARAM);
	f->nparams++;
	return b;
}

lathe_tir_buf *lathe_tir_local(lathe_tir_func *f, const char *name, int dtype, int rank,
			       const int64_t *shape)
{
	return new_buf(f, name, dtype, rank, shape, LATHE_TIR_LOCAL);
}

lathe_tir_var *lathe_tir_new_var(lathe_tir_func *f, const char *name, int dtype)
{
	lathe_tir_var *v = lathe_arena_new(f->arena, lathe_tir_var, 1);
	v->name = unique_name(f, name);
	v->id = (int32_t)f->vars.len;
	v->dtype = dtype;
	lathe_vec_push(&f->vars, v);
	return v;
}

/* ---- expressions ---------------------------------------------------------- */

static lathe_tir_expr *new_expr(lathe_tir_func *f, int kind, int dtype)
{
	lathe_tir_expr *e = lathe_arena_new(f->arena, lathe_tir_expr, 1);
	e->kind = (uint8_t)kind;
	e->dtype = dtype;
	return e;
}

lathe_tir_expr *lathe_tir_int(lathe_tir_func *f, int dtype, int64_t v)
{
	if (lathe_dtype_is_float(dtype))
		return lathe_tir_float(f, dtype, (double)v);
	lathe_tir_expr *e = new_expr(f, LATHE_TIR_E_INT, dtype);
	e->u.i = lathe_tir_wrap(dtype, v);
	return e;
}

lathe_tir_expr *lathe_tir_i64(lathe_tir_func *f, int64_t v)
{
	return lathe_tir_int(f, LATHE_DT_I64, v);
}

lathe_tir_expr *lathe_tir_float(lathe_tir_func *f, int dtype, double v)
{
	if (!lathe_dtype_is_float(dtype)) {
		lathe_tir_val x = {.f = v};
		return lathe_tir_int(f, dtype, lathe_tir_eval_cast(dtype, LATHE_DT_F64, x).i);
	}
	lathe_tir_expr *e = new_expr(f, LATHE_TIR_E_FLOAT, dtype);
	e->u.f = lathe_tir_round(dtype, v);
	return e;
}

lathe_tir_expr *lathe_tir_varref(lathe_tir_func *f, lathe_tir_var *v)
{
	LATHE_ASSERT(v);
	lathe_tir_expr *e = new_expr(f, LATHE_TIR_E_VAR, v->dtype);
	e->u.var = v;
	return e;
}

static lathe_tir_expr **copy_idx(lathe_tir_func *f, int n, lathe_tir_expr *const *idx)
{
	lathe_tir_expr **c = lathe_arena_new(f->arena, lathe_tir_expr *, n);
	for (int i = 0; i < n; i++) {
		LATHE_ASSERT(idx[i]);
		c[i] = idx[i];
	}
	return c;
}

lathe_tir_expr *lathe_tir_load(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *const *idx)
{
	LATHE_ASSERT(b && (b->rank == 0 || idx));
	lathe_tir_expr *e = new_expr(f, LATHE_TIR_E_LOAD, b->dtype);
	e->u.buf = b;
	e->idx = copy_idx(f, b->rank, idx);
	return e;
}

lathe_tir_expr *lathe_tir_unary(lathe_tir_func *f, int op, lathe_tir_expr *a)
{
	LATHE_ASSERT(a);
	lathe_tir_expr *e = new_expr(f, LATHE_TIR_E_UNARY, lathe_tir_unary_dtype(op, a->dtype));
	e->op = op;
	e->a = a;
	return e;
}

lathe_tir_expr *lathe_tir_binary(lathe_tir_func *f, int op, lathe_tir_expr *a, lathe_tir_expr *b)
{
	LATHE_ASSERT(a && b);
	lathe_tir_expr *e = new_expr(f, LATHE_TIR_E_BINARY, lathe_tir_binary_dtype(op, a->dtype));
	e->op = op;
	e->a = a;
	e->b = b;
	return e;
}

lathe_tir_expr *lathe_tir_select(lathe_tir_func *f, lathe_tir_expr *c, lathe_tir_expr *a,
				 lathe_tir_expr *b)
{
	LATHE_ASSERT(c && a && b);
	lathe_tir_expr *e = new_expr(f, LATHE_TIR_E_SELECT, a->dtype);
	e->a = c;
	e->b = a;
	e->c = b;
	return e;
}

lathe_tir_expr *lathe_tir_cast(lathe_tir_func *f, int dtype, lathe_tir_expr *a)
{
	LATHE_ASSERT(a);
	lathe_tir_expr *e = new_expr(f, LATHE_TIR_E_CAST, dtype);
	e->a = a;
	return e;
}

/* ---- statements ----------------------------------------------------------- */

static lathe_tir_stmt *new_stmt(lathe_tir_func *f, int kind)
{
	lathe_tir_stmt *s = lathe_arena_new(f->arena, lathe_tir_stmt, 1);
	s->kind = (uint8_t)kind;
	return s;
}

lathe_tir_stmt *lathe_tir_for(lathe_tir_func *f, lathe_tir_var *v, lathe_tir_expr *lo,
			      lathe_tir_expr *extent, int for_kind, lathe_tir_stmt *body)
{
	LATHE_ASSERT(v && lo && extent && body);
	lathe_tir_stmt *s = new_stmt(f, LATHE_TIR_S_FOR);
	s->for_kind = (uint8_t)for_kind;
	s->var = v;
	s->lo = lo;
	s->extent = extent;
	s->body = body;
	return s;
}

lathe_tir_stmt *lathe_tir_store(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *const *idx,
				lathe_tir_expr *value)
{
	LATHE_ASSERT(b && value && (b->rank == 0 || idx));
	lathe_tir_stmt *s = new_stmt(f, LATHE_TIR_S_STORE);
	s->buf = b;
	s->idx = copy_idx(f, b->rank, idx);
	s->value = value;
	return s;
}

/* Room for the next power of two of n (at least 1): see the file comment. */
static size_t seq_room(size_t n)
{
	size_t c = 1;
	while (c < n)
		c <<= 1;
	return c;
}

lathe_tir_stmt *lathe_tir_seq(lathe_tir_func *f, int n, lathe_tir_stmt *const *stmts)
{
	LATHE_ASSERT(n >= 0 && (n == 0 || stmts));
	lathe_tir_stmt *s = new_stmt(f, LATHE_TIR_S_SEQ);
	s->stmts = lathe_arena_new(f->arena, lathe_tir_stmt *, seq_room((size_t)n));
	for (int i = 0; i < n; i++) {
		LATHE_ASSERT(stmts[i]);
		s->stmts[i] = stmts[i];
	}
	s->n = n;
	return s;
}

lathe_tir_stmt *lathe_tir_if(lathe_tir_func *f, lathe_tir_expr *cond, lathe_tir_stmt *then,
			     lathe_tir_stmt *orelse)
{
	LATHE_ASSERT(cond && then);
	lathe_tir_stmt *s = new_stmt(f, LATHE_TIR_S_IF);
	s->cond = cond;
	s->body = then;
	s->orelse = orelse;
	return s;
}

lathe_tir_stmt *lathe_tir_let(lathe_tir_func *f, lathe_tir_var *v, lathe_tir_expr *value,
			      lathe_tir_stmt *body)
{
	LATHE_ASSERT(v && value && body);
	lathe_tir_stmt *s = new_stmt(f, LATHE_TIR_S_LET);
	s->var = v;
	s->value = value;
	s->body = body;
	return s;
}

lathe_tir_stmt *lathe_tir_call(lathe_tir_func *f, const char *callee, int nargs,
			       const lathe_tir_arg *args)
{
	LATHE_ASSERT(callee && nargs >= 0 && (nargs == 0 || args));
	lathe_tir_stmt *s = new_stmt(f, LATHE_TIR_S_CALL);
	s->callee = lathe_arena_strdup(f->arena, callee);
	s->nargs = nargs;
	s->args = lathe_arena_new(f->arena, lathe_tir_arg, nargs + 1);
	for (int i = 0; i < nargs; i++) {
		s->args[i] = args[i];
		if (args[i].kind == LATHE_TIR_ARG_VALUE) {
			LATHE_ASSERT(args[i].value);
			s->args[i].buf = NULL;
			s->args[i].idx = NULL;
		} else {
			LATHE_ASSERT(args[i].buf && (args[i].buf->rank == 0 || args[i].idx));
			s->args[i].idx = copy_idx(f, args[i].buf->rank, args[i].idx);
			s->args[i].value = NULL;
		}
	}
	return s;
}

void lathe_tir_append(lathe_tir_func *f, lathe_tir_stmt *s)
{
	LATHE_ASSERT(s);
	lathe_tir_stmt *body = f->body;
	if (!body || body->kind != LATHE_TIR_S_SEQ) {
		lathe_tir_stmt *one[1] = {body};
		f->body = body = lathe_tir_seq(f, body ? 1 : 0, one);
	}
	size_t n = (size_t)body->n;
	if (n >= 1 && (n & (n - 1)) == 0) {
		lathe_tir_stmt **grown = lathe_arena_new(f->arena, lathe_tir_stmt *, 2 * n);
		memcpy(grown, body->stmts, sizeof *grown * n);
		body->stmts = grown;
	}
	body->stmts[body->n++] = s;
}
