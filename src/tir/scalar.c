/* scalar.c: the arithmetic of the loop IR, defined once.
 *
 * Every operator on every element type is evaluated here, on lathe_tir_val
 * scalars (see tir_impl.h for how a value is read through its dtype).  The
 * interpreter calls these functions and the simplifier folds constants with
 * them, so a folded expression is bit-identical to the computed one.
 *
 * The rules (tir.h states them for users): integer results wrap at the
 * dtype's width, computed through uint64_t so that C never sees a signed
 * overflow; float results are computed in double and rounded to the dtype;
 * integer DIV/MOD truncate, FLOORDIV/FLOORMOD round toward minus infinity,
 * and division by zero is reported to the caller instead of trapping;
 * INT_MIN / -1 wraps.  Casts follow ONNX Cast (NumPy's astype): float to
 * int truncates, NaN gives 0, values are clamped to the 64-bit range before
 * the C conversion (so it is never undefined) and then wrapped to the
 * target width; float to float8 saturates (the runtime's conversion).
 */
#include <math.h>
#include <string.h>

#include "tir/tir_impl.h"

int lathe_tir_int_bits(int dtype)
{
	switch (dtype) {
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

static bool is_signed_int(int dt)
{
	switch (dt) {
	case LATHE_DT_I2: case LATHE_DT_I4: case LATHE_DT_I8: case LATHE_DT_I16:
	case LATHE_DT_I32: case LATHE_DT_I64:
		return true;
	}
	return false;
}

int64_t lathe_tir_wrap(int dtype, int64_t v)
{
	if (dtype == LATHE_DT_BOOL)
		return v != 0;
	int bits = lathe_tir_int_bits(dtype);
	if (bits == 0 || bits >= 64)
		return v;
	uint64_t m = ((uint64_t)1 << bits) - 1, u = (uint64_t)v & m;
	if (is_signed_int(dtype) && ((u >> (bits - 1)) & 1))
		u |= ~m;
	return (int64_t)u;
}

bool lathe_tir_dtype_ok(int dtype)
{
	return dtype == LATHE_DT_BOOL || lathe_dtype_is_int(dtype) ||
	       lathe_dtype_is_float(dtype);
}

/* The small float formats go through the runtime's converters, which
 * implement ONNX's saturating casts. */
static double small_float_round(int dtype, double v)
{
	uint8_t byte = 0;
	int64_t one = 1;
	lathe_tensor t = {dtype, 1, &one, &byte};
	lathe_rt_store_f64(&t, 0, v);
	return lathe_rt_load_f64(&t, 0);
}

double lathe_tir_round(int dtype, double v)
{
	switch (dtype) {
	case LATHE_DT_F64: return v;
	case LATHE_DT_F32: return (double)(float)v;
	case LATHE_DT_F16: return lathe_rt_f16_to_f32(lathe_rt_f32_to_f16((float)v));
	case LATHE_DT_BF16: return lathe_rt_bf16_to_f32(lathe_rt_f32_to_bf16((float)v));
	}
	if (lathe_dtype_is_float(dtype))
		return small_float_round(dtype, v);
	return v;
}

bool lathe_tir_binop_is_compare(int op)
{
	return op == LATHE_TIR_EQ || op == LATHE_TIR_NE || op == LATHE_TIR_LT ||
	       op == LATHE_TIR_LE || op == LATHE_TIR_GT || op == LATHE_TIR_GE;
}

int lathe_tir_unary_dtype(int op, int dtype)
{
	switch (op) {
	case LATHE_TIR_ISNAN: case LATHE_TIR_ISINF: case LATHE_TIR_ISPOSINF:
	case LATHE_TIR_ISNEGINF:
		return LATHE_DT_BOOL;
	}
	return dtype;
}

int lathe_tir_binary_dtype(int op, int dtype)
{
	return lathe_tir_binop_is_compare(op) ? LATHE_DT_BOOL : dtype;
}

/* ---- unary ---------------------------------------------------------------- */

/* Half to even without depending on the floating-point environment. */
static double round_half_even(double x)
{
	if (!isfinite(x))
		return x;
	double r = floor(x), d = x - r;
	if (d > 0.5)
		return r + 1 == 0 ? copysign(0.0, x) : r + 1;
	if (d < 0.5)
		return r == 0 ? copysign(0.0, x) : r;
	r = fmod(r, 2.0) == 0 ? r : r + 1;
	return r == 0 ? copysign(0.0, x) : r; /* round(-0.5) is -0 */
}

static lathe_tir_val unary_float(int op, int dtype, double x)
{
	lathe_tir_val r = {0};
	double y;
	switch (op) {
	case LATHE_TIR_NEG: y = -x; break;
	case LATHE_TIR_ABS: y = fabs(x); break;
	case LATHE_TIR_SQRT: y = sqrt(x); break;
	case LATHE_TIR_EXP: y = exp(x); break;
	case LATHE_TIR_LOG: y = log(x); break;
	case LATHE_TIR_SIN: y = sin(x); break;
	case LATHE_TIR_COS: y = cos(x); break;
	case LATHE_TIR_TAN: y = tan(x); break;
	case LATHE_TIR_ASIN: y = asin(x); break;
	case LATHE_TIR_ACOS: y = acos(x); break;
	case LATHE_TIR_ATAN: y = atan(x); break;
	case LATHE_TIR_SINH: y = sinh(x); break;
	case LATHE_TIR_COSH: y = cosh(x); break;
	case LATHE_TIR_TANH: y = tanh(x); break;
	case LATHE_TIR_ASINH: y = asinh(x); break;
	case LATHE_TIR_ACOSH: y = acosh(x); break;
	case LATHE_TIR_ATANH: y = atanh(x); break;
	case LATHE_TIR_ERF: y = erf(x); break;
	case LATHE_TIR_FLOOR: y = floor(x); break;
	case LATHE_TIR_CEIL: y = ceil(x); break;
	case LATHE_TIR_ROUND: y = round_half_even(x); break;
	case LATHE_TIR_TRUNC: y = trunc(x); break;
	case LATHE_TIR_SIGN: y = x > 0 ? 1.0 : x < 0 ? -1.0 : x; break; /* NaN, +-0 stay */
	case LATHE_TIR_SIGMOID:
		/* Written so that neither branch overflows exp(). */
		if (x >= 0) {
			y = 1.0 / (1.0 + exp(-x));
		} else {
			double e = exp(x);
			y = e / (1.0 + e);
		}
		break;
	case LATHE_TIR_LOG1P: y = log1p(x); break;
	case LATHE_TIR_EXPM1: y = expm1(x); break;
	case LATHE_TIR_ISNAN: r.i = isnan(x) != 0; return r;
	case LATHE_TIR_ISINF: r.i = isinf(x) != 0; return r;
	case LATHE_TIR_ISPOSINF: r.i = isinf(x) && x > 0; return r;
	case LATHE_TIR_ISNEGINF: r.i = isinf(x) && x < 0; return r;
	case LATHE_TIR_NOT: r.f = lathe_tir_round(dtype, x == 0 ? 1.0 : 0.0); return r;
	default: y = 0; break; /* BITNOT: not defined on floats (the verifier refuses it) */
	}
	r.f = lathe_tir_round(dtype, y);
	return r;
}

lathe_tir_val lathe_tir_eval_unary(int op, int dtype, lathe_tir_val a)
{
	if (lathe_dtype_is_float(dtype))
		return unary_float(op, dtype, a.f);
	lathe_tir_val r = {0};
	bool sgn = is_signed_int(dtype);
	switch (op) {
	case LATHE_TIR_NEG: r.i = (int64_t)(0 - a.u); break;
	case LATHE_TIR_NOT: r.i = a.i == 0; return r;
	case LATHE_TIR_BITNOT: r.i = (int64_t)~a.u; break;
	case LATHE_TIR_ABS: r.i = sgn && a.i < 0 ? (int64_t)(0 - a.u) : a.i; break;
	case LATHE_TIR_SIGN: r.i = sgn && a.i < 0 ? -1 : a.i != 0; break;
	case LATHE_TIR_FLOOR: case LATHE_TIR_CEIL: case LATHE_TIR_ROUND:
	case LATHE_TIR_TRUNC:
		r = a;
		break;
	case LATHE_TIR_ISNAN: case LATHE_TIR_ISINF: case LATHE_TIR_ISPOSINF:
	case LATHE_TIR_ISNEGINF:
		r.i = 0;
		return r;
	default: {
		/* Transcendentals on integers (the verifier refuses them): computed
		 * in double and cast back, so the result is at least defined. */
		double x = sgn ? (double)a.i : (double)a.u;
		lathe_tir_val f = unary_float(op, LATHE_DT_F64, x);
		return lathe_tir_eval_cast(dtype, LATHE_DT_F64, f);
	}
	}
	r.i = lathe_tir_wrap(dtype, r.i);
	return r;
}

/* ---- binary --------------------------------------------------------------- */

static double float_floormod(double a, double b)
{
	double m = fmod(a, b);
	if (m != 0 && ((m < 0) != (b < 0)))
		m += b;
	return m;
}

static bool binary_float(int op, int dtype, double a, double b, lathe_tir_val *out)
{
	double y;
	out->i = 0;
	switch (op) {
	case LATHE_TIR_ADD: y = a + b; break;
	case LATHE_TIR_SUB: y = a - b; break;
	case LATHE_TIR_MUL: y = a * b; break;
	case LATHE_TIR_DIV: y = a / b; break;
	case LATHE_TIR_MOD: case LATHE_TIR_FMOD: y = fmod(a, b); break;
	case LATHE_TIR_FLOORDIV: y = floor(a / b); break;
	case LATHE_TIR_FLOORMOD: y = float_floormod(a, b); break;
	case LATHE_TIR_MIN: y = isnan(a) || isnan(b) ? NAN : (b < a ? b : a); break;
	case LATHE_TIR_MAX: y = isnan(a) || isnan(b) ? NAN : (b > a ? b : a); break;
	case LATHE_TIR_POW: y = pow(a, b); break;
	case LATHE_TIR_ATAN2: y = atan2(a, b); break;
	case LATHE_TIR_EQ: out->i = a == b; return true;
	case LATHE_TIR_NE: out->i = a != b; return true;
	case LATHE_TIR_LT: out->i = a < b; return true;
	case LATHE_TIR_LE: out->i = a <= b; return true;
	case LATHE_TIR_GT: out->i = a > b; return true;
	case LATHE_TIR_GE: out->i = a >= b; return true;
	case LATHE_TIR_AND: y = (a != 0) && (b != 0); break;
	case LATHE_TIR_OR: y = (a != 0) || (b != 0); break;
	case LATHE_TIR_XOR: y = (a != 0) != (b != 0); break;
	default: y = 0; break; /* shifts: not defined on floats */
	}
	out->f = lathe_tir_round(dtype, y);
	return true;
}

static int64_t ipow(int64_t base, int64_t e, bool sgn)
{
	if (sgn && e < 0) {
		if (base == 1)
			return 1;
		if (base == -1)
			return (e & 1) ? -1 : 1;
		return 0;
	}
	uint64_t r = 1, b = (uint64_t)base, n = (uint64_t)e;
	while (n) {
		if (n & 1)
			r *= b;
		b *= b;
		n >>= 1;
	}
	return (int64_t)r;
}

bool lathe_tir_eval_binary(int op, int dtype, lathe_tir_val a, lathe_tir_val b,
			   lathe_tir_val *out)
{
	if (lathe_dtype_is_float(dtype))
		return binary_float(op, dtype, a.f, b.f, out);
	bool sgn = is_signed_int(dtype);
	int bits = lathe_tir_int_bits(dtype);
	int64_t r;
	out->i = 0;
	switch (op) {
	case LATHE_TIR_ADD: r = (int64_t)(a.u + b.u); break;
	case LATHE_TIR_SUB: r = (int64_t)(a.u - b.u); break;
	case LATHE_TIR_MUL: r = (int64_t)(a.u * b.u); break;
	case LATHE_TIR_DIV:
	case LATHE_TIR_FLOORDIV:
		if (b.i == 0)
			return false;
		if (!sgn) {
			r = (int64_t)(a.u / b.u);
		} else if (b.i == -1) {
			r = (int64_t)(0 - a.u); /* INT_MIN / -1 wraps */
		} else {
			r = a.i / b.i;
			if (op == LATHE_TIR_FLOORDIV && a.i % b.i != 0 && ((a.i < 0) != (b.i < 0)))
				r--;
		}
		break;
	case LATHE_TIR_MOD:
	case LATHE_TIR_FMOD:
	case LATHE_TIR_FLOORMOD:
		if (b.i == 0)
			return false;
		if (!sgn) {
			r = (int64_t)(a.u % b.u);
		} else if (b.i == -1) {
			r = 0;
		} else {
			r = a.i % b.i;
			if (op == LATHE_TIR_FLOORMOD && r != 0 && ((r < 0) != (b.i < 0)))
				r += b.i;
		}
		break;
	case LATHE_TIR_MIN: r = (sgn ? b.i < a.i : b.u < a.u) ? b.i : a.i; break;
	case LATHE_TIR_MAX: r = (sgn ? b.i > a.i : b.u > a.u) ? b.i : a.i; break;
	case LATHE_TIR_POW: r = ipow(a.i, b.i, sgn); break;
	case LATHE_TIR_ATAN2: {
		double x = sgn ? (double)a.i : (double)a.u, y = sgn ? (double)b.i : (double)b.u;
		lathe_tir_val f = {.f = atan2(x, y)};
		*out = lathe_tir_eval_cast(dtype, LATHE_DT_F64, f);
		return true;
	}
	case LATHE_TIR_EQ: out->i = a.i == b.i; return true;
	case LATHE_TIR_NE: out->i = a.i != b.i; return true;
	case LATHE_TIR_LT: out->i = sgn ? a.i < b.i : a.u < b.u; return true;
	case LATHE_TIR_LE: out->i = sgn ? a.i <= b.i : a.u <= b.u; return true;
	case LATHE_TIR_GT: out->i = sgn ? a.i > b.i : a.u > b.u; return true;
	case LATHE_TIR_GE: out->i = sgn ? a.i >= b.i : a.u >= b.u; return true;
	case LATHE_TIR_AND: r = (int64_t)(a.u & b.u); break;
	case LATHE_TIR_OR: r = (int64_t)(a.u | b.u); break;
	case LATHE_TIR_XOR: r = (int64_t)(a.u ^ b.u); break;
	case LATHE_TIR_SHL:
		if ((sgn && b.i < 0) || b.u >= (uint64_t)bits)
			r = 0;
		else
			r = (int64_t)(a.u << b.u);
		break;
	case LATHE_TIR_SHR:
		if ((sgn && b.i < 0) || b.u >= (uint64_t)bits)
			r = 0;
		else if (!sgn || a.i >= 0)
			r = (int64_t)(a.u >> b.u);
		else
			r = ~(int64_t)((~a.u) >> b.u); /* arithmetic, without relying on >> of negatives */
		break;
	default: r = 0; break;
	}
	out->i = lathe_tir_wrap(dtype, r);
	return true;
}

/* ---- cast ----------------------------------------------------------------- */

static int64_t float_to_int(int to, double x)
{
	if (isnan(x))
		return 0;
	x = trunc(x);
	if (to == LATHE_DT_U64) {
		if (x >= 18446744073709551616.0)
			return (int64_t)UINT64_MAX;
		if (x >= 0)
			return (int64_t)(uint64_t)x;
	}
	if (x >= 9223372036854775808.0)
		return lathe_tir_wrap(to, INT64_MAX);
	if (x < -9223372036854775808.0)
		return lathe_tir_wrap(to, INT64_MIN);
	return lathe_tir_wrap(to, (int64_t)x);
}

lathe_tir_val lathe_tir_eval_cast(int to, int from, lathe_tir_val a)
{
	lathe_tir_val r = {0};
	if (to == from)
		return a;
	bool from_float = lathe_dtype_is_float(from);
	if (to == LATHE_DT_BOOL) {
		r.i = from_float ? a.f != 0 : a.i != 0;
		return r;
	}
	if (lathe_dtype_is_float(to)) {
		if (from_float) {
			r.f = lathe_tir_round(to, a.f);
		} else if (from == LATHE_DT_U64) {
			r.f = to == LATHE_DT_F32 ? (double)(float)a.u : lathe_tir_round(to, (double)a.u);
		} else {
			r.f = to == LATHE_DT_F32 ? (double)(float)a.i : lathe_tir_round(to, (double)a.i);
		}
		return r;
	}
	if (from_float)
		r.i = float_to_int(to, a.f);
	else
		r.i = lathe_tir_wrap(to, a.i);
	return r;
}

/* ---- memory --------------------------------------------------------------- */

/* memcpy: weights mapped from a file need not be aligned. */
lathe_tir_val lathe_tir_load_raw(int dtype, const void *p)
{
	lathe_tir_val v = {0};
	switch (dtype) {
	case LATHE_DT_F32: { float x; memcpy(&x, p, 4); v.f = x; return v; }
	case LATHE_DT_F64: memcpy(&v.f, p, 8); return v;
	case LATHE_DT_F16: { uint16_t h; memcpy(&h, p, 2); v.f = lathe_rt_f16_to_f32(h); return v; }
	case LATHE_DT_BF16: { uint16_t h; memcpy(&h, p, 2); v.f = lathe_rt_bf16_to_f32(h); return v; }
	case LATHE_DT_I64: case LATHE_DT_U64: memcpy(&v.i, p, 8); return v;
	case LATHE_DT_I32: { int32_t x; memcpy(&x, p, 4); v.i = x; return v; }
	case LATHE_DT_U32: { uint32_t x; memcpy(&x, p, 4); v.i = x; return v; }
	case LATHE_DT_I16: { int16_t x; memcpy(&x, p, 2); v.i = x; return v; }
	case LATHE_DT_U16: { uint16_t x; memcpy(&x, p, 2); v.i = x; return v; }
	case LATHE_DT_I8: v.i = *(const int8_t *)p; return v;
	case LATHE_DT_U8: v.i = *(const uint8_t *)p; return v;
	case LATHE_DT_BOOL: v.i = *(const uint8_t *)p != 0; return v;
	case LATHE_DT_I4: case LATHE_DT_U4: case LATHE_DT_I2: case LATHE_DT_U2:
		v.i = lathe_tir_wrap(dtype, *(const uint8_t *)p);
		return v;
	}
	if (lathe_dtype_is_float(dtype)) {
		int64_t one = 1;
		lathe_tensor t = {dtype, 1, &one, (void *)p};
		v.f = lathe_rt_load_f64(&t, 0);
	}
	return v;
}

void lathe_tir_store_raw(int dtype, void *p, lathe_tir_val v)
{
	switch (dtype) {
	case LATHE_DT_F32: { float x = (float)v.f; memcpy(p, &x, 4); return; }
	case LATHE_DT_F64: memcpy(p, &v.f, 8); return;
	case LATHE_DT_F16: { uint16_t h = lathe_rt_f32_to_f16((float)v.f); memcpy(p, &h, 2); return; }
	case LATHE_DT_BF16: { uint16_t h = lathe_rt_f32_to_bf16((float)v.f); memcpy(p, &h, 2); return; }
	case LATHE_DT_I64: case LATHE_DT_U64: memcpy(p, &v.i, 8); return;
	case LATHE_DT_I32: case LATHE_DT_U32: { uint32_t x = (uint32_t)v.u; memcpy(p, &x, 4); return; }
	case LATHE_DT_I16: case LATHE_DT_U16: { uint16_t x = (uint16_t)v.u; memcpy(p, &x, 2); return; }
	case LATHE_DT_BOOL: *(uint8_t *)p = v.i != 0; return;
	case LATHE_DT_I8: case LATHE_DT_U8: case LATHE_DT_I4: case LATHE_DT_U4:
	case LATHE_DT_I2: case LATHE_DT_U2:
		*(uint8_t *)p = (uint8_t)v.u;
		return;
	}
	if (lathe_dtype_is_float(dtype)) {
		int64_t one = 1;
		lathe_tensor t = {dtype, 1, &one, p};
		lathe_rt_store_f64(&t, 0, v.f);
	}
}

bool lathe_tir_name_is_plain(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}
