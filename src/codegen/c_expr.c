/* c_expr.c: the C emitter's expressions.
 *
 * The reference is the interpreter (src/tir/interp.c with scalar.c): the
 * generated code must compute the same bits.  So every operator is printed
 * in the form that matches scalar.c on its dtype: integer arithmetic goes
 * through uint64_t and is converted back (wrapping, never signed overflow);
 * f32 arithmetic is float arithmetic with a cast after each operation (no
 * excess precision), which rounds like the interpreter's double-then-float;
 * everything else on floats (transcendentals, floor division, pow) is
 * computed in double and rounded to the type, f16 / bf16 / float8 through
 * the prelude's converters; casts clamp as ONNX Cast does.  Every printed
 * expression is a primary expression (a name, a constant, a call or a
 * parenthesized form), so callers can combine them without precedence
 * worries.
 *
 * An index that depends on loaded data (or any index, with check_all)
 * goes through lc_ix, and an integer division by a non-constant through
 * the prelude's helpers: both set err_ instead of faulting.  Other indices
 * are trusted: the verifier and the lowering guarantee them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen/c_impl.h"

/* ---- printing ---------------------------------------------------------------- */

/* Expressions are printed as trees, so a DAG that shares subexpressions
 * many levels deep would print exponentially; past this size the emitter
 * stops with an error instead of exhausting memory. */
enum { MAX_TEXT = 64 << 20 };

static bool too_big(cg *c)
{
	if (c->fn->body.len <= MAX_TEXT)
		return false;
	if (!c->err)
		c->err = lathe_error(LATHE_EUNSUPPORTED, "the C text of func @%s exceeds %d MiB "
				     "(deeply shared expressions?)", c->f->name, MAX_TEXT >> 20);
	return true;
}

void cg_put(cg *c, const char *s)
{
	if (!too_big(c))
		lathe_buf_puts(&c->fn->body, s);
}

void cg_printf(cg *c, const char *fmt, ...)
{
	if (too_big(c))
		return;
	va_list ap;
	va_start(ap, fmt);
	lathe_buf_vprintf(&c->fn->body, fmt, ap);
	va_end(ap);
}

void cg_indent(cg *c)
{
	for (int i = 0; i < c->fn->indent; i++)
		cg_put(c, "\t");
}

void cg_line(cg *c, const char *fmt, ...)
{
	if (too_big(c))
		return;
	cg_indent(c);
	va_list ap;
	va_start(ap, fmt);
	lathe_buf_vprintf(&c->fn->body, fmt, ap);
	va_end(ap);
	cg_put(c, "\n");
}

/* ---- dtypes ------------------------------------------------------------------- */

static int int_bits(int dt)
{
	switch (dt) {
	case LATHE_DT_BOOL: return 1;
	case LATHE_DT_I2: case LATHE_DT_U2: return 2;
	case LATHE_DT_I4: case LATHE_DT_U4: return 4;
	case LATHE_DT_I8: case LATHE_DT_U8: return 8;
	case LATHE_DT_I16: case LATHE_DT_U16: return 16;
	case LATHE_DT_I32: case LATHE_DT_U32: return 32;
	case LATHE_DT_I64: case LATHE_DT_U64: return 64;
	}
	return 0;
}

static bool is_sint(int dt)
{
	switch (dt) {
	case LATHE_DT_I2: case LATHE_DT_I4: case LATHE_DT_I8: case LATHE_DT_I16:
	case LATHE_DT_I32: case LATHE_DT_I64:
		return true;
	}
	return false;
}

static bool is_float(int dt)
{
	return lathe_dtype_is_float(dt);
}

/* float8 / float4 / E8M0: held as double, rounded through lc_r8. */
static bool is_f8(int dt)
{
	return is_float(dt) && dt != LATHE_DT_F32 && dt != LATHE_DT_F64 && dt != LATHE_DT_F16 &&
	       dt != LATHE_DT_BF16;
}

const char *cg_ctype(int dt)
{
	switch (dt) {
	case LATHE_DT_F32: case LATHE_DT_F16: case LATHE_DT_BF16: return "float";
	case LATHE_DT_F64: return "double";
	case LATHE_DT_I8: case LATHE_DT_I4: case LATHE_DT_I2: return "int8_t";
	case LATHE_DT_U8: case LATHE_DT_U4: case LATHE_DT_U2: case LATHE_DT_BOOL: return "uint8_t";
	case LATHE_DT_I16: return "int16_t";
	case LATHE_DT_U16: return "uint16_t";
	case LATHE_DT_I32: return "int32_t";
	case LATHE_DT_U32: return "uint32_t";
	case LATHE_DT_I64: return "int64_t";
	case LATHE_DT_U64: return "uint64_t";
	}
	return is_float(dt) ? "double" : NULL;
}

/* Element type of a buffer in memory; params use the unaligned forms. */
const char *cg_mem_type(int dt, bool param)
{
	switch (dt) {
	case LATHE_DT_F32: return param ? "lc_uf32" : "float";
	case LATHE_DT_F64: return param ? "lc_uf64" : "double";
	case LATHE_DT_F16: case LATHE_DT_BF16: case LATHE_DT_U16: return param ? "lc_uu16" : "uint16_t";
	case LATHE_DT_I16: return param ? "lc_ui16" : "int16_t";
	case LATHE_DT_I32: return param ? "lc_ui32" : "int32_t";
	case LATHE_DT_U32: return param ? "lc_uu32" : "uint32_t";
	case LATHE_DT_I64: return param ? "lc_ui64" : "int64_t";
	case LATHE_DT_U64: return param ? "lc_uu64" : "uint64_t";
	case LATHE_DT_I8: case LATHE_DT_I4: case LATHE_DT_I2: return "int8_t";
	}
	return "uint8_t";
}

/* ---- expression facts ------------------------------------------------------------ */

bool cg_const_int(const lathe_tir_expr *e, int64_t *v)
{
	if (e->kind != LATHE_TIR_E_INT)
		return false;
	*v = e->u.i;
	return true;
}

bool cg_tainted(cg *c, const lathe_tir_expr *e)
{
	if (!e)
		return false;
	switch (e->kind) {
	case LATHE_TIR_E_LOAD: return true;
	case LATHE_TIR_E_VAR: return c->v[e->u.var->id].tainted;
	case LATHE_TIR_E_INT: case LATHE_TIR_E_FLOAT: return false;
	}
	return cg_tainted(c, e->a) || cg_tainted(c, e->b) || cg_tainted(c, e->c);
}

/* Whether index k of an access goes through lc_ix. */
bool cg_checked(cg *c, const lathe_tir_expr *idx)
{
	return c->o.check_all || cg_tainted(c, idx);
}

static bool int_div_op(int op)
{
	return op == LATHE_TIR_DIV || op == LATHE_TIR_MOD || op == LATHE_TIR_FMOD ||
	       op == LATHE_TIR_FLOORDIV || op == LATHE_TIR_FLOORMOD;
}

bool cg_may_fail(cg *c, const lathe_tir_expr *e)
{
	if (!e)
		return false;
	switch (e->kind) {
	case LATHE_TIR_E_LOAD:
		for (int k = 0; k < e->u.buf->rank; k++)
			if (cg_checked(c, e->idx[k]) || cg_may_fail(c, e->idx[k]))
				return true;
		return false;
	case LATHE_TIR_E_BINARY: {
		int64_t k = 0;
		if (int_div_op(e->op) && !is_float(e->a->dtype) && (!cg_const_int(e->b, &k) || k == 0))
			return true;
		break;
	}
	case LATHE_TIR_E_INT: case LATHE_TIR_E_FLOAT: case LATHE_TIR_E_VAR:
		return false;
	}
	return cg_may_fail(c, e->a) || cg_may_fail(c, e->b) || cg_may_fail(c, e->c);
}

bool cg_uses_var(const lathe_tir_expr *e, const lathe_tir_var *v)
{
	if (!e)
		return false;
	if (e->kind == LATHE_TIR_E_VAR)
		return e->u.var == v;
	if (e->kind == LATHE_TIR_E_LOAD) {
		for (int k = 0; k < e->u.buf->rank; k++)
			if (cg_uses_var(e->idx[k], v))
				return true;
		return false;
	}
	return cg_uses_var(e->a, v) || cg_uses_var(e->b, v) || cg_uses_var(e->c, v);
}

/* ---- constants -------------------------------------------------------------------- */

static void put_int(cg *c, int dt, int64_t v)
{
	if (dt == LATHE_DT_U64) {
		uint64_t u = (uint64_t)v;
		if (u <= INT32_MAX)
			cg_printf(c, "%llu", (unsigned long long)u);
		else
			cg_printf(c, "UINT64_C(%llu)", (unsigned long long)u);
		return;
	}
	if (v == INT64_MIN)
		cg_put(c, "INT64_MIN");
	else if (v > INT32_MIN && v <= INT32_MAX)
		cg_printf(c, v < 0 ? "(%lld)" : "%lld", (long long)v);
	else
		cg_printf(c, "(INT64_C(%lld))", (long long)v);
}

static void put_float(cg *c, int dt, double v)
{
	bool single = dt == LATHE_DT_F32 || dt == LATHE_DT_F16 || dt == LATHE_DT_BF16;
	if (isnan(v)) {
		cg_put(c, signbit(v) ? "(-NAN)" : "NAN");
		return;
	}
	if (isinf(v)) {
		cg_put(c, v < 0 ? "(-INFINITY)" : "INFINITY");
		return;
	}
	char s[64];
	snprintf(s, sizeof s, single ? "%.9g" : "%.17g", v);
	bool dot = strpbrk(s, ".e") != NULL;
	cg_printf(c, "%s%s%s%s%s", v < 0 || signbit(v) ? "(" : "", s, dot ? "" : ".0",
		  single ? "f" : "", v < 0 || signbit(v) ? ")" : "");
}

/* ---- conversions around values ------------------------------------------------------ */

/* An integer result (a uint64_t or int64_t expression between open and
 * close) brought to dtype dt. */
static void wrap_open(cg *c, int dt)
{
	switch (dt) {
	case LATHE_DT_BOOL: cg_put(c, "(("); return;
	case LATHE_DT_I4: case LATHE_DT_I2: cg_put(c, "(int8_t)lc_ws((uint64_t)("); return;
	case LATHE_DT_U4: case LATHE_DT_U2: cg_put(c, "(uint8_t)lc_wu((uint64_t)("); return;
	}
	cg_printf(c, "((%s)(", cg_ctype(dt));
}

static void wrap_close(cg *c, int dt)
{
	if (dt == LATHE_DT_BOOL)
		cg_put(c, ") != 0)");
	else if (dt == LATHE_DT_I4 || dt == LATHE_DT_U4 || dt == LATHE_DT_I2 || dt == LATHE_DT_U2)
		cg_printf(c, "), %d)", int_bits(dt));
	else
		cg_put(c, "))");
}

/* A float result (a double or float expression) rounded to dtype dt. */
static void fround_open(cg *c, int dt)
{
	switch (dt) {
	case LATHE_DT_F32: cg_put(c, "((float)("); return;
	case LATHE_DT_F64: cg_put(c, "(("); return;
	case LATHE_DT_F16: cg_put(c, "lc_rh((float)("); return;
	case LATHE_DT_BF16: cg_put(c, "lc_rb((float)("); return;
	}
	cg_printf(c, "lc_r8(%d, (double)(", dt);
}

static void fround_close(cg *c)
{
	cg_put(c, "))");
}

/* ---- buffers ------------------------------------------------------------------------ */

const char *cg_bufname(cg *c, const lathe_tir_buf *b)
{
	c->fn->used[b->id] = true;
	return c->b[b->id].cname;
}

void cg_offset(cg *c, const lathe_tir_buf *b, lathe_tir_expr *const *idx)
{
	const cg_buf *bi = &c->b[b->id];
	bool any = false;
	for (int k = 0; k < b->rank; k++) {
		bool chk = cg_checked(c, idx[k]);
		int64_t kv;
		if (!chk && (b->shape[k] == 1 || (cg_const_int(idx[k], &kv) && kv == 0)))
			continue;
		if (any)
			cg_put(c, " + ");
		any = true;
		if (chk) {
			cg_put(c, "lc_ix(");
			cg_expr(c, idx[k]);
			cg_printf(c, ", %lld, &err_)", (long long)b->shape[k]);
			c->fn->err_used = true;
		} else {
			cg_expr(c, idx[k]);
		}
		if (bi->stride[k] != 1)
			cg_printf(c, " * %lld", (long long)bi->stride[k]);
	}
	if (!any)
		cg_put(c, "0");
}

/* An access as a C lvalue of the memory type ("b2_out[...]", or the
 * variable of a one-element local; a checked index of such a local is
 * still checked, through a comma expression). */
void cg_access(cg *c, const lathe_tir_buf *b, lathe_tir_expr *const *idx)
{
	const cg_buf *bi = &c->b[b->id];
	const char *name = cg_bufname(c, b);
	if (bi->storage == CG_AUTO) {
		bool chk = false;
		for (int k = 0; k < b->rank; k++)
			chk |= cg_checked(c, idx[k]);
		if (!chk) {
			cg_put(c, name);
			return;
		}
		cg_put(c, "*(");
		for (int k = 0; k < b->rank; k++) {
			if (!cg_checked(c, idx[k]))
				continue;
			cg_put(c, "lc_ix(");
			cg_expr(c, idx[k]);
			cg_printf(c, ", %lld, &err_), ", (long long)b->shape[k]);
			c->fn->err_used = true;
		}
		cg_printf(c, "&%s)", name);
		return;
	}
	cg_printf(c, "%s[", name);
	cg_offset(c, b, idx);
	cg_put(c, "]");
}

static void load(cg *c, const lathe_tir_expr *e)
{
	const lathe_tir_buf *b = e->u.buf;
	int dt = b->dtype;
	if (c->b[b->id].storage == CG_AUTO) {
		cg_access(c, b, e->idx); /* holds the value type already */
		return;
	}
	switch (dt) {
	case LATHE_DT_F16: cg_put(c, "lc_h2f("); break;
	case LATHE_DT_BF16: cg_put(c, "lc_b2f("); break;
	case LATHE_DT_BOOL: cg_put(c, "("); break;
	case LATHE_DT_I4: case LATHE_DT_I2: cg_put(c, "(int8_t)lc_ws((uint64_t)"); break;
	case LATHE_DT_U4: case LATHE_DT_U2: cg_put(c, "(uint8_t)lc_wu("); break;
	default:
		if (is_f8(dt))
			cg_printf(c, "lc_f8dec(%d, ", dt);
		break;
	}
	cg_access(c, b, e->idx);
	switch (dt) {
	case LATHE_DT_F16: case LATHE_DT_BF16: cg_put(c, ")"); break;
	case LATHE_DT_BOOL: cg_put(c, " != 0)"); break;
	case LATHE_DT_I4: case LATHE_DT_U4: cg_put(c, ", 4)"); break;
	case LATHE_DT_I2: case LATHE_DT_U2: cg_put(c, ", 2)"); break;
	default:
		if (is_f8(dt))
			cg_put(c, ")");
		break;
	}
}

/* The value expression converted to buffer b's memory representation. */
void cg_stored_value(cg *c, const lathe_tir_buf *b, const char *value)
{
	int dt = b->dtype;
	if (c->b[b->id].storage == CG_AUTO) {
		cg_put(c, value);
		return;
	}
	switch (dt) {
	case LATHE_DT_F16: cg_printf(c, "lc_f2h(%s)", value); return;
	case LATHE_DT_BF16: cg_printf(c, "lc_f2b(%s)", value); return;
	case LATHE_DT_BOOL: cg_printf(c, "(uint8_t)((%s) != 0)", value); return;
	}
	if (is_f8(dt))
		cg_printf(c, "lc_f8enc(%d, %s)", dt, value);
	else
		cg_printf(c, "(%s)(%s)", cg_mem_type(dt, false), value);
}

/* ---- expressions ------------------------------------------------------------------------ */

/* The C function of a float unary operator that maps double to double. */
static const char *float_fn(int op)
{
	switch (op) {
	case LATHE_TIR_ABS: return "fabs";
	case LATHE_TIR_SQRT: return "sqrt";
	case LATHE_TIR_EXP: return "exp";
	case LATHE_TIR_LOG: return "log";
	case LATHE_TIR_SIN: return "sin";
	case LATHE_TIR_COS: return "cos";
	case LATHE_TIR_TAN: return "tan";
	case LATHE_TIR_ASIN: return "asin";
	case LATHE_TIR_ACOS: return "acos";
	case LATHE_TIR_ATAN: return "atan";
	case LATHE_TIR_SINH: return "sinh";
	case LATHE_TIR_COSH: return "cosh";
	case LATHE_TIR_TANH: return "tanh";
	case LATHE_TIR_ASINH: return "asinh";
	case LATHE_TIR_ACOSH: return "acosh";
	case LATHE_TIR_ATANH: return "atanh";
	case LATHE_TIR_ERF: return "erf";
	case LATHE_TIR_FLOOR: return "floor";
	case LATHE_TIR_CEIL: return "ceil";
	case LATHE_TIR_ROUND: return "lc_round";
	case LATHE_TIR_TRUNC: return "trunc";
	case LATHE_TIR_SIGN: return "lc_sign";
	case LATHE_TIR_SIGMOID: return "lc_sigmoid";
	case LATHE_TIR_LOG1P: return "log1p";
	case LATHE_TIR_EXPM1: return "expm1";
	}
	return "0.0 * "; /* not defined on floats (the verifier refuses it) */
}

static void unary_float(cg *c, const lathe_tir_expr *e)
{
	int dt = e->a->dtype;
	const char *fn = NULL;
	switch (e->op) {
	case LATHE_TIR_ISNAN: case LATHE_TIR_ISINF:
		cg_put(c, e->op == LATHE_TIR_ISNAN ? "(isnan(" : "(isinf(");
		cg_expr(c, e->a);
		cg_put(c, ") != 0)");
		return;
	case LATHE_TIR_ISPOSINF: case LATHE_TIR_ISNEGINF:
		cg_put(c, "(isinf(");
		cg_expr(c, e->a);
		cg_put(c, ") && ");
		cg_expr(c, e->a);
		cg_put(c, e->op == LATHE_TIR_ISPOSINF ? " > 0)" : " < 0)");
		return;
	case LATHE_TIR_NEG:
		if (dt == LATHE_DT_F32 || dt == LATHE_DT_F64) {
			cg_put(c, "(-");
			cg_expr(c, e->a);
			cg_put(c, ")");
			return;
		}
		fround_open(c, dt);
		cg_put(c, "-");
		cg_expr(c, e->a);
		fround_close(c);
		return;
	case LATHE_TIR_NOT:
		fround_open(c, dt);
		cg_put(c, "(");
		cg_expr(c, e->a);
		cg_put(c, ") == 0 ? 1.0 : 0.0");
		fround_close(c);
		return;
	case LATHE_TIR_BITNOT:
		fround_open(c, dt);
		cg_put(c, "0.0");
		fround_close(c);
		return;
	default: fn = float_fn(e->op); break;
	}
	fround_open(c, dt);
	cg_printf(c, "%s((double)", fn);
	cg_expr(c, e->a);
	cg_put(c, ")");
	fround_close(c);
}

/* A double expression (printed by the caller between open and close)
 * converted to integer dtype dt as Cast does. */
static void f2i_open(cg *c, int dt)
{
	if (dt == LATHE_DT_U64) {
		cg_put(c, "lc_f2u64(");
		return;
	}
	wrap_open(c, dt);
	cg_put(c, "(uint64_t)lc_f2i(");
}

static void f2i_close(cg *c, int dt)
{
	cg_put(c, ")");
	if (dt != LATHE_DT_U64)
		wrap_close(c, dt);
}

static void unary_int(cg *c, const lathe_tir_expr *e)
{
	int dt = e->a->dtype;
	bool sgn = is_sint(dt);
	switch (e->op) {
	case LATHE_TIR_NEG: case LATHE_TIR_BITNOT:
		wrap_open(c, dt);
		cg_put(c, e->op == LATHE_TIR_NEG ? "0 - (uint64_t)" : "~(uint64_t)");
		cg_expr(c, e->a);
		wrap_close(c, dt);
		return;
	case LATHE_TIR_NOT:
		cg_put(c, "(");
		cg_expr(c, e->a);
		cg_put(c, " == 0)");
		return;
	case LATHE_TIR_ABS:
		if (!sgn) {
			cg_expr(c, e->a);
			return;
		}
		wrap_open(c, dt);
		cg_put(c, "lc_iabs(");
		cg_expr(c, e->a);
		cg_put(c, ")");
		wrap_close(c, dt);
		return;
	case LATHE_TIR_SIGN:
		cg_printf(c, "((%s)(", cg_ctype(dt));
		if (sgn) {
			cg_expr(c, e->a);
			cg_put(c, " < 0 ? -1 : ");
		}
		cg_expr(c, e->a);
		cg_put(c, " != 0))");
		return;
	case LATHE_TIR_FLOOR: case LATHE_TIR_CEIL: case LATHE_TIR_ROUND: case LATHE_TIR_TRUNC:
		cg_expr(c, e->a);
		return;
	case LATHE_TIR_ISNAN: case LATHE_TIR_ISINF: case LATHE_TIR_ISPOSINF:
	case LATHE_TIR_ISNEGINF:
		cg_put(c, "0");
		return;
	}
	/* Transcendentals on integers (the verifier refuses them): in double,
	 * cast back, as scalar.c does. */
	f2i_open(c, dt);
	cg_printf(c, "%s((double)", float_fn(e->op));
	cg_expr(c, e->a);
	cg_put(c, ")");
	f2i_close(c, dt);
}

/* Comparisons read the same for every operand type; true if e was one. */
static bool binary_compare(cg *c, const lathe_tir_expr *e)
{
	const char *infix = NULL;
	switch (e->op) {
	case LATHE_TIR_EQ: infix = " == "; break;
	case LATHE_TIR_NE: infix = " != "; break;
	case LATHE_TIR_LT: infix = " < "; break;
	case LATHE_TIR_LE: infix = " <= "; break;
	case LATHE_TIR_GT: infix = " > "; break;
	case LATHE_TIR_GE: infix = " >= "; break;
	}
	if (!infix)
		return false;
	cg_put(c, "(");
	cg_expr(c, e->a);
	cg_put(c, infix);
	cg_expr(c, e->b);
	cg_put(c, ")");
	return true;
}

static void binary_float(cg *c, const lathe_tir_expr *e)
{
	int dt = e->a->dtype;
	const char *infix = NULL, *fn = NULL;
	if (binary_compare(c, e))
		return;
	switch (e->op) {
	case LATHE_TIR_ADD: infix = " + "; break;
	case LATHE_TIR_SUB: infix = " - "; break;
	case LATHE_TIR_MUL: infix = " * "; break;
	case LATHE_TIR_DIV: infix = " / "; break;
	case LATHE_TIR_MOD: case LATHE_TIR_FMOD: fn = "fmod"; break;
	case LATHE_TIR_FLOORMOD: fn = "lc_floormod"; break;
	case LATHE_TIR_MIN: fn = dt == LATHE_DT_F32 ? "lc_fminf" : "lc_fmin"; break;
	case LATHE_TIR_MAX: fn = dt == LATHE_DT_F32 ? "lc_fmaxf" : "lc_fmax"; break;
	case LATHE_TIR_POW: fn = "pow"; break;
	case LATHE_TIR_ATAN2: fn = "atan2"; break;
	}
	fround_open(c, dt);
	if (infix) {
		/* float (or double) arithmetic: the same rounding as double-then-type
		 * for + - * / (f16 and bf16 values are floats here). */
		cg_expr(c, e->a);
		cg_put(c, infix);
		cg_expr(c, e->b);
	} else if (fn) {
		cg_printf(c, "%s(", fn);
		cg_expr(c, e->a);
		cg_put(c, ", ");
		cg_expr(c, e->b);
		cg_put(c, ")");
	} else if (e->op == LATHE_TIR_FLOORDIV) {
		cg_put(c, "floor((double)");
		cg_expr(c, e->a);
		cg_put(c, " / (double)");
		cg_expr(c, e->b);
		cg_put(c, ")");
	} else if (e->op == LATHE_TIR_AND || e->op == LATHE_TIR_OR || e->op == LATHE_TIR_XOR) {
		cg_put(c, "(");
		cg_expr(c, e->a);
		cg_put(c, e->op == LATHE_TIR_XOR ? " != 0) != (" : e->op == LATHE_TIR_AND ? " != 0) && (" : " != 0) || (");
		cg_expr(c, e->b);
		cg_put(c, " != 0)");
	} else {
		cg_put(c, "0.0"); /* shifts: not defined on floats */
	}
	fround_close(c);
}

static void binary_int(cg *c, const lathe_tir_expr *e)
{
	int dt = e->a->dtype;
	bool sgn = is_sint(dt);
	const char *infix = NULL;
	if (binary_compare(c, e))
		return;
	switch (e->op) {
	case LATHE_TIR_ADD: infix = " + "; break;
	case LATHE_TIR_SUB: infix = " - "; break;
	case LATHE_TIR_MUL: infix = " * "; break;
	case LATHE_TIR_AND: infix = " & "; break;
	case LATHE_TIR_OR: infix = " | "; break;
	case LATHE_TIR_XOR: infix = " ^ "; break;
	}
	if (infix && dt == LATHE_DT_I64 &&
	    (e->op == LATHE_TIR_ADD || e->op == LATHE_TIR_SUB || e->op == LATHE_TIR_MUL)) {
		/* Index arithmetic, mostly: the prelude's wrapping macros read better. */
		cg_put(c, e->op == LATHE_TIR_ADD ? "LC_ADD(" : e->op == LATHE_TIR_SUB ? "LC_SUB(" : "LC_MUL(");
		cg_expr(c, e->a);
		cg_put(c, ", ");
		cg_expr(c, e->b);
		cg_put(c, ")");
		return;
	}
	if (infix) {
		wrap_open(c, dt);
		cg_put(c, "(uint64_t)");
		cg_expr(c, e->a);
		cg_put(c, infix);
		cg_put(c, "(uint64_t)");
		cg_expr(c, e->b);
		wrap_close(c, dt);
		return;
	}
	if (e->op == LATHE_TIR_ATAN2) {
		f2i_open(c, dt);
		cg_put(c, "atan2((double)");
		cg_expr(c, e->a);
		cg_put(c, ", (double)");
		cg_expr(c, e->b);
		cg_put(c, ")");
		f2i_close(c, dt);
		return;
	}
	wrap_open(c, dt);
	int64_t k = 0;
	bool kb = cg_const_int(e->b, &k);
	if (dt == LATHE_DT_U64 && kb)
		kb = k != 0; /* the constant as a u64 pattern: only 0 is special */
	switch (e->op) {
	case LATHE_TIR_DIV: case LATHE_TIR_FLOORDIV:
	case LATHE_TIR_MOD: case LATHE_TIR_FMOD: case LATHE_TIR_FLOORMOD: {
		bool div = e->op == LATHE_TIR_DIV || e->op == LATHE_TIR_FLOORDIV;
		bool floor = e->op == LATHE_TIR_FLOORDIV || e->op == LATHE_TIR_FLOORMOD;
		if (!sgn) {
			if (kb && k != 0) {
				cg_put(c, "(uint64_t)");
				cg_expr(c, e->a);
				cg_printf(c, div ? " / UINT64_C(%llu)" : " %% UINT64_C(%llu)",
					  (unsigned long long)(dt == LATHE_DT_U64 ? (uint64_t)k
								  : (uint64_t)k & (~0ull >> (64 - int_bits(dt)))));
			} else {
				cg_put(c, div ? "lc_udiv((uint64_t)" : "lc_umod((uint64_t)");
				cg_expr(c, e->a);
				cg_put(c, ", (uint64_t)");
				cg_expr(c, e->b);
				cg_put(c, ", &err_)");
				c->fn->err_used = true;
			}
		} else if (kb && k == -1) {
			if (div) {
				cg_put(c, "0 - (uint64_t)");
				cg_expr(c, e->a);
			} else {
				cg_put(c, "0");
			}
		} else if (kb && k != 0) {
			if (floor) {
				cg_put(c, div ? "lc_sfdivk(" : "lc_sfmodk(");
				cg_expr(c, e->a);
				cg_put(c, ", ");
				put_int(c, LATHE_DT_I64, k);
				cg_put(c, ")");
			} else {
				cg_put(c, "(int64_t)");
				cg_expr(c, e->a);
				cg_put(c, div ? " / " : " % ");
				put_int(c, LATHE_DT_I64, k);
			}
		} else {
			cg_put(c, div ? (floor ? "lc_sfdiv(" : "lc_sdiv(") : (floor ? "lc_sfmod(" : "lc_smod("));
			cg_expr(c, e->a);
			cg_put(c, ", ");
			cg_expr(c, e->b);
			cg_put(c, ", &err_)");
			c->fn->err_used = true;
		}
		break;
	}
	case LATHE_TIR_MIN: case LATHE_TIR_MAX:
		cg_printf(c, "lc_%c%s(", sgn ? 's' : 'u', e->op == LATHE_TIR_MIN ? "min" : "max");
		cg_expr(c, e->a);
		cg_put(c, ", ");
		cg_expr(c, e->b);
		cg_put(c, ")");
		break;
	case LATHE_TIR_POW:
		cg_put(c, "lc_ipow((int64_t)");
		cg_expr(c, e->a);
		cg_put(c, ", (int64_t)");
		cg_expr(c, e->b);
		cg_printf(c, ", %d)", sgn);
		break;
	case LATHE_TIR_SHL: case LATHE_TIR_SHR:
		cg_put(c, e->op == LATHE_TIR_SHL ? "lc_shl((uint64_t)" : "lc_shr((uint64_t)");
		cg_expr(c, e->a);
		cg_put(c, ", (uint64_t)");
		cg_expr(c, e->b);
		cg_printf(c, ", %d, %d)", sgn, int_bits(dt));
		break;
	default:
		cg_put(c, "0");
		break;
	}
	wrap_close(c, dt);
}

static void cast(cg *c, const lathe_tir_expr *e)
{
	int to = e->dtype, from = e->a->dtype;
	if (to == from) {
		cg_expr(c, e->a);
		return;
	}
	if (to == LATHE_DT_BOOL) {
		cg_put(c, "(");
		cg_expr(c, e->a);
		cg_put(c, " != 0)");
		return;
	}
	if (is_float(to)) {
		if (is_float(from)) {
			if (to == LATHE_DT_F64) {
				cg_put(c, "((double)");
				cg_expr(c, e->a);
				cg_put(c, ")");
				return;
			}
			fround_open(c, to);
			cg_expr(c, e->a);
			fround_close(c);
			return;
		}
		/* From an integer: straight to f32 (one rounding), else through
		 * double, as scalar.c does. */
		const char *via = from == LATHE_DT_U64 ? "(uint64_t)" : "(int64_t)";
		if (to == LATHE_DT_F32) {
			cg_printf(c, "((float)%s", via);
			cg_expr(c, e->a);
			cg_put(c, ")");
			return;
		}
		fround_open(c, to);
		cg_printf(c, "(double)%s", via);
		cg_expr(c, e->a);
		fround_close(c);
		return;
	}
	if (is_float(from)) {
		f2i_open(c, to);
		cg_put(c, "(double)");
		cg_expr(c, e->a);
		f2i_close(c, to);
		return;
	}
	wrap_open(c, to);
	cg_put(c, "(uint64_t)");
	cg_expr(c, e->a);
	wrap_close(c, to);
}

void cg_expr(cg *c, const lathe_tir_expr *e)
{
	switch (e->kind) {
	case LATHE_TIR_E_INT:
		put_int(c, e->dtype, e->u.i);
		return;
	case LATHE_TIR_E_FLOAT:
		put_float(c, e->dtype, e->u.f);
		return;
	case LATHE_TIR_E_VAR:
		cg_put(c, c->v[e->u.var->id].cname);
		return;
	case LATHE_TIR_E_LOAD:
		load(c, e);
		return;
	case LATHE_TIR_E_UNARY:
		if (is_float(e->a->dtype))
			unary_float(c, e);
		else
			unary_int(c, e);
		return;
	case LATHE_TIR_E_BINARY:
		if (is_float(e->a->dtype))
			binary_float(c, e);
		else
			binary_int(c, e);
		return;
	case LATHE_TIR_E_SELECT:
		cg_put(c, "(");
		cg_expr(c, e->a);
		cg_put(c, " ? ");
		cg_expr(c, e->b);
		cg_put(c, " : ");
		cg_expr(c, e->c);
		cg_put(c, ")");
		return;
	case LATHE_TIR_E_CAST:
		cast(c, e);
		return;
	}
}

