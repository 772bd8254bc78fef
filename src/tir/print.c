/* print.c: the text form of loop-IR functions (docs/loop-ir.md).
 *
 * The printer is the inverse of parse.c: printing a parsed function gives
 * back the text it was parsed from, when that text came from the printer.
 * What makes this exact:
 *   - names print bare when they are plain identifiers and quoted
 *     otherwise, so any name survives;
 *   - float constants print with the fewest digits that read back to the
 *     same value of their dtype, always followed by the dtype;
 *   - nested sequences print flattened (a sequence has no text of its own),
 *     and the parser makes a block of one statement that statement.
 * It must also print malformed IR without crashing, because the verifier
 * quotes the expressions it rejects.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tir/tir_impl.h"

static void print_name(lathe_buf *b, char sigil, const char *name)
{
	if (!name) {
		lathe_buf_printf(b, "%c<null>", sigil);
		return;
	}
	if (lathe_tir_name_is_plain(name)) {
		lathe_buf_printf(b, "%c%s", sigil, name);
		return;
	}
	lathe_buf_printf(b, "%c\"", sigil);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p == '"' || *p == '\\')
			lathe_buf_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			lathe_buf_printf(b, "\\x%02x", *p);
		else
			lathe_buf_printf(b, "%c", *p);
	}
	lathe_buf_puts(b, "\"");
}

static bool same_double(double x, double y)
{
	return x == y && signbit(x) == signbit(y);
}

/* Shortest %g form that parses back to v once rounded to dtype. */
static void print_float(lathe_buf *b, double v, int dtype)
{
	if (isnan(v)) {
		lathe_buf_puts(b, "nan");
		return;
	}
	if (isinf(v)) {
		lathe_buf_puts(b, v < 0 ? "-inf" : "inf");
		return;
	}
	char s[64];
	for (int p = 1; p <= 17; p++) {
		snprintf(s, sizeof s, "%.*g", p, v);
		if (same_double(lathe_tir_round(dtype, strtod(s, NULL)), v))
			break;
	}
	lathe_buf_puts(b, s);
}

static void print_dtype(lathe_buf *b, int dtype)
{
	lathe_buf_puts(b, lathe_dtype_name(dtype));
}

static void print_idx(lathe_buf *b, int n, lathe_tir_expr *const *idx)
{
	lathe_buf_puts(b, "[");
	for (int i = 0; i < n; i++) {
		if (i)
			lathe_buf_puts(b, ", ");
		lathe_tir_print_expr(b, idx ? idx[i] : NULL);
	}
	lathe_buf_puts(b, "]");
}

void lathe_tir_print_expr(lathe_buf *b, const lathe_tir_expr *e)
{
	if (!e) {
		lathe_buf_puts(b, "<null>");
		return;
	}
	switch (e->kind) {
	case LATHE_TIR_E_INT:
		if (e->dtype == LATHE_DT_BOOL)
			lathe_buf_puts(b, e->u.i ? "true" : "false");
		else if (e->dtype == LATHE_DT_I64)
			lathe_buf_printf(b, "%lld", (long long)e->u.i);
		else if (e->dtype == LATHE_DT_U64)
			lathe_buf_printf(b, "%llu:u64", (unsigned long long)(uint64_t)e->u.i);
		else
			lathe_buf_printf(b, "%lld:%s", (long long)e->u.i, lathe_dtype_name(e->dtype));
		return;
	case LATHE_TIR_E_FLOAT:
		print_float(b, e->u.f, e->dtype);
		lathe_buf_printf(b, ":%s", lathe_dtype_name(e->dtype));
		return;
	case LATHE_TIR_E_VAR:
		print_name(b, '%', e->u.var ? e->u.var->name : NULL);
		return;
	case LATHE_TIR_E_LOAD:
		print_name(b, '%', e->u.buf ? e->u.buf->name : NULL);
		print_idx(b, e->u.buf ? e->u.buf->rank : 0, e->idx);
		return;
	case LATHE_TIR_E_UNARY:
		lathe_buf_printf(b, "%s(", lathe_tir_unop_name(e->op));
		lathe_tir_print_expr(b, e->a);
		lathe_buf_puts(b, ")");
		return;
	case LATHE_TIR_E_BINARY:
		lathe_buf_printf(b, "%s(", lathe_tir_binop_name(e->op));
		lathe_tir_print_expr(b, e->a);
		lathe_buf_puts(b, ", ");
		lathe_tir_print_expr(b, e->b);
		lathe_buf_puts(b, ")");
		return;
	case LATHE_TIR_E_SELECT:
		lathe_buf_puts(b, "select(");
		lathe_tir_print_expr(b, e->a);
		lathe_buf_puts(b, ", ");
		lathe_tir_print_expr(b, e->b);
		lathe_buf_puts(b, ", ");
		lathe_tir_print_expr(b, e->c);
		lathe_buf_puts(b, ")");
		return;
	case LATHE_TIR_E_CAST:
		lathe_buf_puts(b, "cast<");
		print_dtype(b, e->dtype);
		lathe_buf_puts(b, ">(");
		lathe_tir_print_expr(b, e->a);
		lathe_buf_puts(b, ")");
		return;
	}
	lathe_buf_printf(b, "<bad expression kind %d>", e->kind);
}

static void indent(lathe_buf *b, int n)
{
	for (int i = 0; i < n; i++)
		lathe_buf_puts(b, "  ");
}

static bool is_i64_const(const lathe_tir_expr *e)
{
	return e && e->kind == LATHE_TIR_E_INT && e->dtype == LATHE_DT_I64;
}

static void print_range(lathe_buf *b, const lathe_tir_stmt *s)
{
	if (is_i64_const(s->lo) && is_i64_const(s->extent)) {
		int64_t lo = s->lo->u.i, ext = s->extent->u.i, end;
		if (!__builtin_add_overflow(lo, ext, &end)) {
			lathe_buf_printf(b, "%lld..%lld", (long long)lo, (long long)end);
			return;
		}
	}
	lathe_tir_print_expr(b, s->lo);
	lathe_buf_puts(b, "..+");
	lathe_tir_print_expr(b, s->extent);
}

static const char *for_kind_name(int k)
{
	switch (k) {
	case LATHE_TIR_SERIAL: return "";
	case LATHE_TIR_PARALLEL: return " parallel";
	case LATHE_TIR_VECTORIZED: return " vectorized";
	case LATHE_TIR_UNROLLED: return " unrolled";
	}
	return " <bad loop kind>";
}

static void print_stmt(lathe_buf *b, const lathe_tir_stmt *s, int ind);

static void print_block(lathe_buf *b, const lathe_tir_stmt *s, int ind)
{
	lathe_buf_puts(b, "{\n");
	print_stmt(b, s, ind + 1);
	indent(b, ind);
	lathe_buf_puts(b, "}");
}

static void print_stmt(lathe_buf *b, const lathe_tir_stmt *s, int ind)
{
	if (!s) {
		indent(b, ind);
		lathe_buf_puts(b, "<null>\n");
		return;
	}
	if (s->kind == LATHE_TIR_S_SEQ) {
		for (int i = 0; i < s->n; i++)
			print_stmt(b, s->stmts ? s->stmts[i] : NULL, ind);
		return;
	}
	indent(b, ind);
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		lathe_buf_puts(b, "for ");
		print_name(b, '%', s->var ? s->var->name : NULL);
		lathe_buf_puts(b, " in ");
		print_range(b, s);
		lathe_buf_printf(b, "%s ", for_kind_name(s->for_kind));
		print_block(b, s->body, ind);
		break;
	case LATHE_TIR_S_STORE:
		print_name(b, '%', s->buf ? s->buf->name : NULL);
		print_idx(b, s->buf ? s->buf->rank : 0, s->idx);
		lathe_buf_puts(b, " = ");
		lathe_tir_print_expr(b, s->value);
		break;
	case LATHE_TIR_S_IF:
		lathe_buf_puts(b, "if ");
		lathe_tir_print_expr(b, s->cond);
		lathe_buf_puts(b, " ");
		print_block(b, s->body, ind);
		if (s->orelse) {
			lathe_buf_puts(b, " else ");
			print_block(b, s->orelse, ind);
		}
		break;
	case LATHE_TIR_S_LET:
		lathe_buf_puts(b, "let ");
		print_name(b, '%', s->var ? s->var->name : NULL);
		lathe_buf_printf(b, ": %s = ", s->var ? lathe_dtype_name(s->var->dtype) : "?");
		lathe_tir_print_expr(b, s->value);
		lathe_buf_puts(b, " ");
		print_block(b, s->body, ind);
		break;
	case LATHE_TIR_S_CALL:
		lathe_buf_puts(b, "call ");
		print_name(b, '@', s->callee);
		lathe_buf_puts(b, "(");
		for (int i = 0; i < s->nargs; i++) {
			const lathe_tir_arg *a = &s->args[i];
			if (i)
				lathe_buf_puts(b, ", ");
			if (a->kind == LATHE_TIR_ARG_VALUE) {
				lathe_tir_print_expr(b, a->value);
				continue;
			}
			lathe_buf_puts(b, a->kind == LATHE_TIR_ARG_READ ? "read "
					  : a->kind == LATHE_TIR_ARG_WRITE ? "write " : "scratch ");
			print_name(b, '%', a->buf ? a->buf->name : NULL);
			print_idx(b, a->buf ? a->buf->rank : 0, a->idx);
		}
		lathe_buf_puts(b, ")");
		break;
	default:
		lathe_buf_printf(b, "<bad statement kind %d>", s->kind);
		break;
	}
	lathe_buf_puts(b, "\n");
}

static void print_buf_decl(lathe_buf *b, const lathe_tir_buf *buf)
{
	print_name(b, '%', buf->name);
	lathe_buf_printf(b, ": %s[", lathe_dtype_name(buf->dtype));
	for (int i = 0; i < buf->rank; i++)
		lathe_buf_printf(b, "%s%lld", i ? "," : "", (long long)buf->shape[i]);
	lathe_buf_puts(b, "]");
}

void lathe_tir_print(lathe_buf *b, const lathe_tir_func *f)
{
	lathe_buf_puts(b, "func ");
	print_name(b, '@', f->name);
	lathe_buf_puts(b, "(");
	for (int32_t i = 0; i < f->nparams && (size_t)i < f->bufs.len; i++) {
		if (i)
			lathe_buf_puts(b, ", ");
		print_buf_decl(b, f->bufs.data[i]);
		if (f->bufs.data[i]->constant)
			lathe_buf_puts(b, " const");
	}
	lathe_buf_puts(b, ") {\n");
	for (size_t i = (size_t)(f->nparams > 0 ? f->nparams : 0); i < f->bufs.len; i++) {
		indent(b, 1);
		lathe_buf_puts(b, "local ");
		print_buf_decl(b, f->bufs.data[i]);
		lathe_buf_puts(b, "\n");
	}
	print_stmt(b, f->body, 1);
	lathe_buf_puts(b, "}\n");
}
