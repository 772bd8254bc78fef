/* verify.c: the loop-IR verifier.
 *
 * Runs after lowering and after every transformation in check builds, and
 * before the interpreter (which relies on what it checks to stay in bounds
 * of its own tables).  It checks that:
 *   - buffers are numbered in order, parameters come before locals, shapes
 *     are non-negative, element types are ones loops compute with (no
 *     strings, no complex numbers), and names are unique;
 *   - every expression's dtype is what its operator gives and the operands
 *     agree (comparisons and predicates give bool, conditions are bool);
 *   - loads and stores have one integer index per dimension and constant
 *     indices are within the shape;
 *   - every variable is used inside the for or let that binds it, and no
 *     binding shadows another (the interpreter keeps one slot per variable).
 * Errors quote the offending expression and the statement around it; the
 * verifier never changes the function.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lathe_rt_ukernel.h"
#include "tir/tir_impl.h"

/* Deeper trees than this are refused rather than risking the C stack of
 * every recursive walker. */
#define MAX_DEPTH 2000

typedef struct vctx {
	const lathe_tir_func *f;
	uint8_t *bound; /* per variable: inside its binding */
} vctx;

/* The text of e, shortened for a message. */
static char *expr_text(const lathe_tir_expr *e, char *out, size_t n)
{
	lathe_buf b = {0};
	lathe_tir_print_expr(&b, e);
	if (b.len + 1 > n && n > 4)
		snprintf(out, n, "%.*s...", (int)(n - 4), b.data);
	else
		snprintf(out, n, "%s", b.data ? b.data : "");
	lathe_buf_free(&b);
	return out;
}

static bool is_num(int dt)
{
	return lathe_dtype_is_int(dt) || lathe_dtype_is_float(dt);
}

static bool buf_ok(const lathe_tir_func *f, const lathe_tir_buf *b)
{
	return b && b->id >= 0 && (size_t)b->id < f->bufs.len && f->bufs.data[b->id] == b;
}

static bool var_ok(const lathe_tir_func *f, const lathe_tir_var *v)
{
	return v && v->id >= 0 && (size_t)v->id < f->vars.len && f->vars.data[v->id] == v;
}

static lathe_err vexpr(vctx *c, const lathe_tir_expr *e, int depth);

static lathe_err vindices(vctx *c, const lathe_tir_buf *b, lathe_tir_expr *const *idx,
			  const char *what, int depth)
{
	if (b->rank > 0 && !idx)
		return lathe_error(LATHE_EINVAL, "%s %%%s has no indices", what, b->name);
	for (int k = 0; k < b->rank; k++) {
		const lathe_tir_expr *x = idx[k];
		LATHE_TRYF(vexpr(c, x, depth + 1), "index %d of %%%s", k, b->name);
		if (!lathe_dtype_is_int(x->dtype)) {
			char t[160];
			return lathe_error(LATHE_EINVAL, "index %d of %%%s is %s of type %s; indices must be integers",
					   k, b->name, expr_text(x, t, sizeof t), lathe_dtype_name(x->dtype));
		}
		if (x->kind == LATHE_TIR_E_INT && (x->u.i < 0 || x->u.i >= b->shape[k]))
			return lathe_error(LATHE_EINVAL, "index %d of %%%s is %lld, outside [0, %lld)",
					   k, b->name, (long long)x->u.i, (long long)b->shape[k]);
	}
	return NULL;
}

static lathe_err bad_operand(const lathe_tir_expr *e, const char *why)
{
	char t[200];
	return lathe_error(LATHE_EINVAL, "%s: %s", expr_text(e, t, sizeof t), why);
}

static lathe_err vunary(const lathe_tir_expr *e)
{
	int dt = e->a->dtype;
	switch (e->op) {
	case LATHE_TIR_NEG: case LATHE_TIR_ABS: case LATHE_TIR_SIGN:
		if (!is_num(dt))
			return bad_operand(e, "operand must be a number");
		break;
	case LATHE_TIR_NOT:
		if (dt != LATHE_DT_BOOL)
			return bad_operand(e, "not takes a bool (bitnot is for integers)");
		break;
	case LATHE_TIR_BITNOT:
		if (!lathe_dtype_is_int(dt))
			return bad_operand(e, "bitnot takes an integer");
		break;
	default:
		if (!lathe_dtype_is_float(dt))
			return bad_operand(e, "operand must be a float (cast it first)");
		break;
	}
	return NULL;
}

static lathe_err vbinary(const lathe_tir_expr *e)
{
	int dt = e->a->dtype;
	if (e->a->dtype != e->b->dtype) {
		char t[200];
		return lathe_error(LATHE_EINVAL, "%s: operand types differ (%s and %s)",
				   expr_text(e, t, sizeof t), lathe_dtype_name(e->a->dtype),
				   lathe_dtype_name(e->b->dtype));
	}
	switch (e->op) {
	case LATHE_TIR_EQ: case LATHE_TIR_NE: case LATHE_TIR_LT: case LATHE_TIR_LE:
	case LATHE_TIR_GT: case LATHE_TIR_GE:
		break;
	case LATHE_TIR_AND: case LATHE_TIR_OR: case LATHE_TIR_XOR:
		if (dt != LATHE_DT_BOOL && !lathe_dtype_is_int(dt))
			return bad_operand(e, "operands must be bool or integers");
		break;
	case LATHE_TIR_SHL: case LATHE_TIR_SHR:
		if (!lathe_dtype_is_int(dt))
			return bad_operand(e, "operands must be integers");
		break;
	case LATHE_TIR_ATAN2:
		if (!lathe_dtype_is_float(dt))
			return bad_operand(e, "operands must be floats");
		break;
	default:
		if (!is_num(dt))
			return bad_operand(e, "operands must be numbers");
		break;
	}
	return NULL;
}

static lathe_err vexpr(vctx *c, const lathe_tir_expr *e, int depth)
{
	if (!e)
		return lathe_error(LATHE_EINVAL, "missing expression");
	if (depth > MAX_DEPTH)
		return lathe_error(LATHE_EINVAL, "expression nested deeper than %d", MAX_DEPTH);
	if (!lathe_tir_dtype_ok(e->dtype))
		return bad_operand(e, lathe_dtype_name(e->dtype)[0] == '?'
					      ? "unknown element type"
					      : "element type not supported in loop programs");
	int want = e->dtype;
	switch (e->kind) {
	case LATHE_TIR_E_INT:
		if (lathe_dtype_is_float(e->dtype))
			return bad_operand(e, "integer constant of a float type");
		break;
	case LATHE_TIR_E_FLOAT:
		if (!lathe_dtype_is_float(e->dtype))
			return bad_operand(e, "float constant of a non-float type");
		break;
	case LATHE_TIR_E_VAR:
		if (!var_ok(c->f, e->u.var))
			return bad_operand(e, "variable does not belong to this function");
		if (!c->bound[e->u.var->id])
			return lathe_error(LATHE_EINVAL, "%%%s is used outside the for or let that binds it",
					   e->u.var->name);
		want = e->u.var->dtype;
		break;
	case LATHE_TIR_E_LOAD:
		if (!buf_ok(c->f, e->u.buf))
			return bad_operand(e, "buffer does not belong to this function");
		LATHE_TRY(vindices(c, e->u.buf, e->idx, "load from", depth));
		want = e->u.buf->dtype;
		break;
	case LATHE_TIR_E_UNARY:
		if (e->op < 0 || e->op >= LATHE_TIR_UNOP_COUNT)
			return lathe_error(LATHE_EINVAL, "unknown unary operator %d", e->op);
		LATHE_TRY(vexpr(c, e->a, depth + 1));
		LATHE_TRY(vunary(e));
		want = lathe_tir_unary_dtype(e->op, e->a->dtype);
		break;
	case LATHE_TIR_E_BINARY:
		if (e->op < 0 || e->op >= LATHE_TIR_BINOP_COUNT)
			return lathe_error(LATHE_EINVAL, "unknown binary operator %d", e->op);
		LATHE_TRY(vexpr(c, e->a, depth + 1));
		LATHE_TRY(vexpr(c, e->b, depth + 1));
		LATHE_TRY(vbinary(e));
		want = lathe_tir_binary_dtype(e->op, e->a->dtype);
		break;
	case LATHE_TIR_E_SELECT:
		LATHE_TRY(vexpr(c, e->a, depth + 1));
		LATHE_TRY(vexpr(c, e->b, depth + 1));
		LATHE_TRY(vexpr(c, e->c, depth + 1));
		if (e->a->dtype != LATHE_DT_BOOL)
			return bad_operand(e, "the condition of select must be bool");
		if (e->b->dtype != e->c->dtype) {
			char t[200];
			return lathe_error(LATHE_EINVAL, "%s: arms have different types (%s and %s)",
					   expr_text(e, t, sizeof t), lathe_dtype_name(e->b->dtype),
					   lathe_dtype_name(e->c->dtype));
		}
		want = e->b->dtype;
		break;
	case LATHE_TIR_E_CAST:
		LATHE_TRY(vexpr(c, e->a, depth + 1));
		break;
	default:
		return lathe_error(LATHE_EINVAL, "unknown expression kind %d", e->kind);
	}
	if (want != e->dtype) {
		char t[200];
		return lathe_error(LATHE_EINVAL, "%s is marked %s but computes %s",
				   expr_text(e, t, sizeof t), lathe_dtype_name(e->dtype),
				   lathe_dtype_name(want));
	}
	return NULL;
}

/* A short description of a statement, for the context of its errors. */
static void stmt_head(const lathe_tir_stmt *s, char *out, size_t n)
{
	lathe_buf b = {0};
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		lathe_buf_printf(&b, "for %%%s", s->var && s->var->name ? s->var->name : "?");
		break;
	case LATHE_TIR_S_LET:
		lathe_buf_printf(&b, "let %%%s", s->var && s->var->name ? s->var->name : "?");
		break;
	case LATHE_TIR_S_STORE:
		lathe_buf_printf(&b, "store to %%%s", s->buf && s->buf->name ? s->buf->name : "?");
		break;
	case LATHE_TIR_S_IF:
		lathe_buf_puts(&b, "if ");
		lathe_tir_print_expr(&b, s->cond);
		break;
	case LATHE_TIR_S_CALL:
		lathe_buf_printf(&b, "call @%s", s->callee ? s->callee : "?");
		break;
	default:
		lathe_buf_puts(&b, "statement");
		break;
	}
	snprintf(out, n, "%s", b.data ? b.data : "");
	lathe_buf_free(&b);
}

static lathe_err vstmt(vctx *c, const lathe_tir_stmt *s, int depth);

/* Checks an expression that belongs to statement s, adding s as context. */
static lathe_err vexpr_in(vctx *c, const lathe_tir_stmt *s, const lathe_tir_expr *e, int depth)
{
	lathe_err err = vexpr(c, e, depth);
	if (err) {
		char h[160];
		stmt_head(s, h, sizeof h);
		return lathe_error_wrap(err, "%s", h);
	}
	return NULL;
}

static lathe_err stmt_error(const lathe_tir_stmt *s, const char *fmt, const char *arg)
{
	char h[160];
	stmt_head(s, h, sizeof h);
	lathe_err e = lathe_error(LATHE_EINVAL, fmt, arg);
	return lathe_error_wrap(e, "%s", h);
}

static lathe_err vbinding(vctx *c, const lathe_tir_stmt *s, int depth)
{
	const lathe_tir_var *v = s->var;
	if (!var_ok(c->f, v))
		return stmt_error(s, "%s", "the variable does not belong to this function");
	if (c->bound[v->id])
		return stmt_error(s, "%%%s is bound again inside its own for or let", v->name);
	if (!s->body)
		return stmt_error(s, "%s", "missing body");
	c->bound[v->id] = 1;
	lathe_err err = vstmt(c, s->body, depth + 1);
	c->bound[v->id] = 0;
	return err;
}

/* A call names a micro-kernel of the runtime; its pointers are elements of
 * buffers of the kernel's element type, its values i64 or f64 scalars. */
static lathe_err vcall(vctx *c, const lathe_tir_stmt *s, int depth)
{
	int32_t dt = 0;
	if (!s->callee || !lathe_rt_uk_find(s->callee, &dt))
		return stmt_error(s, "%s", "no runtime micro-kernel has this name (sgemm, sgemv, pack, wino, dwconv, maxpool, softmax, layernorm)");
	if (s->nargs < 0 || (s->nargs > 0 && !s->args))
		return stmt_error(s, "%s", "malformed arguments");
	for (int32_t i = 0; i < s->nargs; i++) {
		const lathe_tir_arg *a = &s->args[i];
		char t[120];
		if (a->kind == LATHE_TIR_ARG_VALUE) {
			if (!a->value)
				return stmt_error(s, "%s", "an argument is missing");
			LATHE_TRY(vexpr_in(c, s, a->value, depth + 1));
			if (a->value->dtype != LATHE_DT_I64 && a->value->dtype != LATHE_DT_F64) {
				snprintf(t, sizeof t, "argument %d is %s; values must be i64 or f64", i,
					 lathe_dtype_name(a->value->dtype));
				return stmt_error(s, "%s", t);
			}
			continue;
		}
		if (a->kind > LATHE_TIR_ARG_SCRATCH)
			return stmt_error(s, "%s", "unknown argument kind");
		if (!buf_ok(c->f, a->buf))
			return stmt_error(s, "%s", "a buffer does not belong to this function");
		if (a->buf->dtype != dt) {
			snprintf(t, sizeof t, "%%%s holds %s; the kernel takes %s", a->buf->name,
				 lathe_dtype_name(a->buf->dtype), lathe_dtype_name(dt));
			return stmt_error(s, "%s", t);
		}
		lathe_err err = vindices(c, a->buf, a->idx, "pointer into", depth);
		if (err) {
			char h[160];
			stmt_head(s, h, sizeof h);
			return lathe_error_wrap(err, "%s", h);
		}
	}
	return NULL;
}

static lathe_err vstmt(vctx *c, const lathe_tir_stmt *s, int depth)
{
	if (!s)
		return lathe_error(LATHE_EINVAL, "missing statement");
	if (depth > MAX_DEPTH)
		return lathe_error(LATHE_EINVAL, "statements nested deeper than %d", MAX_DEPTH);
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		if (s->for_kind > LATHE_TIR_UNROLLED)
			return stmt_error(s, "%s", "unknown loop kind");
		LATHE_TRY(vexpr_in(c, s, s->lo, depth + 1));
		LATHE_TRY(vexpr_in(c, s, s->extent, depth + 1));
		if (s->lo->dtype != LATHE_DT_I64 || s->extent->dtype != LATHE_DT_I64)
			return stmt_error(s, "%s", "loop bounds must be i64");
		if (s->var && s->var->dtype != LATHE_DT_I64)
			return stmt_error(s, "%s", "loop variables must be i64");
		return vbinding(c, s, depth);
	case LATHE_TIR_S_LET:
		LATHE_TRY(vexpr_in(c, s, s->value, depth + 1));
		if (s->var && s->var->dtype != s->value->dtype) {
			char t[100];
			snprintf(t, sizeof t, "%s, its value %s", lathe_dtype_name(s->var->dtype),
				 lathe_dtype_name(s->value->dtype));
			return stmt_error(s, "the variable is %s", t);
		}
		return vbinding(c, s, depth);
	case LATHE_TIR_S_STORE: {
		if (!buf_ok(c->f, s->buf))
			return stmt_error(s, "%s", "the buffer does not belong to this function");
		lathe_err err = vindices(c, s->buf, s->idx, "store to", depth);
		if (err) {
			char h[160];
			stmt_head(s, h, sizeof h);
			return lathe_error_wrap(err, "%s", h);
		}
		LATHE_TRY(vexpr_in(c, s, s->value, depth + 1));
		if (s->value->dtype != s->buf->dtype) {
			char t[100];
			snprintf(t, sizeof t, "the value is %s but the buffer holds %s",
				 lathe_dtype_name(s->value->dtype), lathe_dtype_name(s->buf->dtype));
			return stmt_error(s, "%s", t);
		}
		return NULL;
	}
	case LATHE_TIR_S_SEQ:
		if (s->n < 0 || (s->n > 0 && !s->stmts))
			return lathe_error(LATHE_EINVAL, "malformed sequence");
		for (int32_t i = 0; i < s->n; i++)
			LATHE_TRY(vstmt(c, s->stmts[i], depth + 1));
		return NULL;
	case LATHE_TIR_S_IF:
		LATHE_TRY(vexpr_in(c, s, s->cond, depth + 1));
		if (s->cond->dtype != LATHE_DT_BOOL)
			return stmt_error(s, "the condition is %s; it must be bool",
					  lathe_dtype_name(s->cond->dtype));
		if (!s->body)
			return stmt_error(s, "%s", "missing body");
		LATHE_TRY(vstmt(c, s->body, depth + 1));
		if (s->orelse)
			LATHE_TRY(vstmt(c, s->orelse, depth + 1));
		return NULL;
	case LATHE_TIR_S_CALL:
		return vcall(c, s, depth);
	}
	return lathe_error(LATHE_EINVAL, "unknown statement kind %d", s->kind);
}

static lathe_err vdecls(const lathe_tir_func *f)
{
	if (f->nparams < 0 || (size_t)f->nparams > f->bufs.len)
		return lathe_error(LATHE_EINVAL, "bad parameter count %d", f->nparams);
	lathe_map names;
	lathe_map_init(&names);
	lathe_err err = NULL;
	for (size_t i = 0; i < f->bufs.len && !err; i++) {
		const lathe_tir_buf *b = f->bufs.data[i];
		if (!b || !b->name || b->id != (int32_t)i) {
			err = lathe_error(LATHE_EINVAL, "buffer %zu is malformed", i);
			break;
		}
		int want = i < (size_t)f->nparams ? LATHE_TIR_PARAM : LATHE_TIR_LOCAL;
		if (b->kind != want) {
			err = lathe_error(LATHE_EINVAL, "%%%s: parameters must come before locals", b->name);
		} else if (b->dtype == LATHE_DT_STR) {
			err = lathe_error(LATHE_EUNSUPPORTED,
					  "%%%s: str buffers are not supported in loop programs", b->name);
		} else if (!lathe_tir_dtype_ok(b->dtype)) {
			err = lathe_error(LATHE_EUNSUPPORTED, "%%%s: element type %s is not supported in loop programs",
					  b->name, lathe_dtype_name(b->dtype));
		} else if (b->rank < 0 || (b->rank > 0 && !b->shape)) {
			err = lathe_error(LATHE_EINVAL, "%%%s: malformed shape", b->name);
		} else if (lathe_map_get(&names, b->name, NULL)) {
			err = lathe_error(LATHE_EINVAL, "%%%s is declared twice", b->name);
		}
		for (int k = 0; !err && k < b->rank; k++)
			if (b->shape[k] < 0)
				err = lathe_error(LATHE_EINVAL, "%%%s: dimension %d is negative (%lld)",
						  b->name, k, (long long)b->shape[k]);
		if (!err)
			lathe_map_put(&names, b->name, i);
	}
	for (size_t i = 0; i < f->vars.len && !err; i++) {
		const lathe_tir_var *v = f->vars.data[i];
		if (!v || !v->name || v->id != (int32_t)i)
			err = lathe_error(LATHE_EINVAL, "variable %zu is malformed", i);
		else if (!lathe_tir_dtype_ok(v->dtype))
			err = lathe_error(LATHE_EINVAL, "%%%s: element type %s is not supported",
					  v->name, lathe_dtype_name(v->dtype));
		else if (lathe_map_get(&names, v->name, NULL))
			err = lathe_error(LATHE_EINVAL, "the name %%%s is used twice", v->name);
		else
			lathe_map_put(&names, v->name, i);
	}
	lathe_map_deinit(&names);
	return err;
}

lathe_err lathe_tir_verify(const lathe_tir_func *f)
{
	if (!f)
		return lathe_error(LATHE_EINVAL, "no function");
	const char *name = f->name ? f->name : "?";
	lathe_err err = vdecls(f);
	if (!err && (!f->body || f->body->kind != LATHE_TIR_S_SEQ))
		err = lathe_error(LATHE_EINVAL, "the body must be a sequence");
	if (!err) {
		vctx c = {f, lathe_xcalloc(f->vars.len + 1, 1)};
		err = vstmt(&c, f->body, 0);
		free(c.bound);
	}
	return err ? lathe_error_wrap(err, "func @%s", name) : NULL;
}
