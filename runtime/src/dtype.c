/* dtype.c: the runtime's element-type facts and conversions.
 *
 * Everything that turns one element type into another lives here, so that
 * the compiler's constant folder, the interpreter and compiled kernels all
 * round the same way: IEEE round-to-nearest-even for every float narrowing,
 * ONNX Cast's rules for float8 (saturating by default: out-of-range finite
 * values and infinities become the largest finite value), float4 E2M1 and
 * E8M0, and two's-complement wrapping for integer narrowing.
 *
 * Small floats (f16, bf16 from double, float8, float4) share one encoder
 * parameterised by mantissa width, bias and special codes.  Sub-byte
 * integers are held one per byte, sign-extended (int4/int2) or zero-extended
 * (uint4/uint2).  libc only; no compiler header.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "lathe_rt.h"

size_t lathe_rt_dtype_size(int32_t dtype)
{
	switch (dtype) {
#define X(e, n, s, b) case n: return (size_t)(b);
		LATHE_DTYPES(X)
#undef X
	}
	return 0;
}

const char *lathe_rt_dtype_name(int32_t dtype)
{
	switch (dtype) {
#define X(e, n, s, b) case n: return s;
		LATHE_DTYPES(X)
#undef X
	}
	return NULL;
}

int64_t lathe_rt_numel(const lathe_tensor *t)
{
	int64_t n = 1;
	for (int32_t i = 0; i < t->rank; i++)
		n *= t->shape[i];
	return n;
}

/* ---- small floats ---------------------------------------------------------
 * A format: sign bit `sign`, mantissa width `mbits`, exponent bias `bias`,
 * largest finite magnitude code `max`.  inf: magnitude code of infinity, or
 * 0 if the format has none.  nan: magnitude code of the canonical NaN.  uz:
 * "unsigned zero" formats (FNUZ), whose only NaN is the lone sign bit and
 * which have no negative zero. */
struct minifloat {
	uint32_t sign, max, inf, nan;
	int mbits, bias;
	int uz;
	int nan_is_neg_zero; /* float4 has no NaN; ONNX's reference data gives -0 */
	double maxv;         /* the value of code `max` */
};

static const struct minifloat FMT_F16 = {0x8000, 0x7BFF, 0x7C00, 0x7E00, 10, 15, 0, 0, 65504.0};
static const struct minifloat FMT_BF16 = {0x8000, 0x7F7F, 0x7F80, 0x7FC0, 7, 127, 0, 0,
					  3.38953138925153547590470800371487866880e38};
static const struct minifloat FMT_E4M3FN = {0x80, 0x7E, 0, 0x7F, 3, 7, 0, 0, 448.0};
static const struct minifloat FMT_E4M3FNUZ = {0x80, 0x7F, 0, 0, 3, 8, 1, 0, 240.0};
static const struct minifloat FMT_E5M2 = {0x80, 0x7B, 0x7C, 0x7E, 2, 15, 0, 0, 57344.0};
static const struct minifloat FMT_E5M2FNUZ = {0x80, 0x7F, 0, 0, 2, 16, 1, 0, 57344.0};
static const struct minifloat FMT_E2M1 = {0x8, 0x7, 0, 0, 1, 1, 0, 1, 6.0};

static double mini_decode(const struct minifloat *f, uint32_t b)
{
	int neg = (b & f->sign) != 0;
	uint32_t mag = b & (f->sign - 1);
	if (f->uz && b == f->sign)
		return NAN;
	if (f->inf && mag >= f->inf) {
		if (mag == f->inf)
			return neg ? -INFINITY : INFINITY;
		return NAN;
	}
	if (!f->uz && !f->inf && f->nan && mag == f->nan)
		return NAN;
	uint32_t e = mag >> f->mbits, m = mag & ((1u << f->mbits) - 1);
	double v = e ? ldexp((double)(m | (1u << f->mbits)), (int)e - f->bias - f->mbits)
		     : ldexp((double)m, 1 - f->bias - f->mbits);
	return neg ? -v : v;
}

/* Rounds a >= 0 (finite) to the format's grid, nearest-even; returns the
 * magnitude code, which may exceed f->max (overflow, caller decides).
 * Inputs far past the range return f->max + 1 without building a code. */
static uint32_t mini_round(const struct minifloat *f, double a)
{
	if (a == 0)
		return 0;
	if (a >= 2 * f->maxv)
		return f->max + 1;
	int e;
	frexp(a, &e); /* a = [0.5, 1) * 2^e, so a = 1.x * 2^(e-1) */
	int E = e - 1, emin = 1 - f->bias;
	int sub = E < emin;
	double q = ldexp(a, (sub ? emin : E) * -1 + f->mbits); /* exact */
	double fl = floor(q), d = q - fl;
	if (d > 0.5 || (d == 0.5 && fmod(fl, 2.0) != 0))
		fl += 1;
	uint32_t n = (uint32_t)fl;
	/* A mantissa that rounds up to the next binade carries into the
	 * exponent field by plain addition. */
	if (sub)
		return n;
	return ((uint32_t)(E + f->bias) << f->mbits) + (n - (1u << f->mbits));
}

/* ONNX Cast semantics; `saturate` only matters for formats without inf
 * or when the caller asks for it (float8). */
static uint32_t mini_encode(const struct minifloat *f, double v, int saturate)
{
	int neg = signbit(v) != 0;
	uint32_t sgn = neg ? f->sign : 0;
	if (isnan(v)) {
		if (f->uz || f->nan_is_neg_zero)
			return f->sign;
		return sgn | f->nan;
	}
	uint32_t mag;
	if (isinf(v))
		mag = f->max + 1;
	else
		mag = mini_round(f, fabs(v));
	if (mag > f->max) {
		if (saturate)
			mag = f->max;
		else if (f->inf)
			mag = f->inf;
		else
			return f->uz ? f->sign : sgn | f->nan;
	}
	if (mag == 0 && f->uz)
		return 0;
	return sgn | mag;
}

/* f16 <-> f32 by bit manipulation: these sit in hot loops. */
float lathe_rt_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FF, bits;
	if (e == 0x1F) {
		bits = sign | 0x7F800000 | (m << 13) | (m ? 0x400000 : 0);
	} else if (e) {
		bits = sign | ((e + 112) << 23) | (m << 13);
	} else if (m) {
		/* Subnormal: normalise into f32's wider exponent range. */
		int sh = 0;
		while (!(m & 0x400)) {
			m <<= 1;
			sh++;
		}
		m &= 0x3FF;
		bits = sign | ((uint32_t)(113 - sh) << 23) | (m << 13);
	} else {
		bits = sign;
	}
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t lathe_rt_f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t e = (x >> 23) & 0xFF, m = x & 0x7FFFFF;
	if (e == 0xFF)
		return (uint16_t)(sign | 0x7C00 | (m ? 0x200 | (m >> 13) : 0));
	int ue = (int)e - 127;
	if (ue > 15)
		return (uint16_t)(sign | 0x7C00);
	if (ue >= -14) {
		uint32_t r = ((uint32_t)(ue + 15) << 10) | (m >> 13);
		uint32_t rest = m & 0x1FFF;
		if (rest > 0x1000 || (rest == 0x1000 && (r & 1)))
			r++; /* may carry into the exponent, up to infinity: right */
		return (uint16_t)(sign | r);
	}
	if (ue < -25)
		return (uint16_t)sign;
	/* Subnormal half: value = mant * 2^-24 with the implicit bit. */
	m |= 0x800000;
	uint32_t s = (uint32_t)(-1 - ue); /* value = m * 2^(ue-23) = r * 2^-24 */
	uint32_t r = m >> s, rest = m & ((1u << s) - 1), half = 1u << (s - 1);
	if (rest > half || (rest == half && (r & 1)))
		r++;
	return (uint16_t)(sign | r);
}

float lathe_rt_bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t lathe_rt_f32_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	if ((x & 0x7FFFFFFF) > 0x7F800000)
		return (uint16_t)((x >> 16) | 0x40); /* quiet NaN, sign kept */
	x += 0x7FFF + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

static const struct minifloat *small_fmt(int32_t dtype)
{
	switch (dtype) {
	case LATHE_DT_F16: return &FMT_F16;
	case LATHE_DT_BF16: return &FMT_BF16;
	case LATHE_DT_F8E4M3FN: return &FMT_E4M3FN;
	case LATHE_DT_F8E4M3FNUZ: return &FMT_E4M3FNUZ;
	case LATHE_DT_F8E5M2: return &FMT_E5M2;
	case LATHE_DT_F8E5M2FNUZ: return &FMT_E5M2FNUZ;
	case LATHE_DT_F4E2M1: return &FMT_E2M1;
	}
	return NULL;
}

static uint8_t e8m0_encode(double v, int saturate, int round_mode)
{
	if (isnan(v))
		return 0xFF;
	double a = fabs(v); /* negative input is unspecified; use the magnitude */
	if (isinf(a))
		return saturate ? 0xFE : 0xFF;
	if (a == 0)
		return 0;
	int e;
	double fr = frexp(a, &e) * 2 - 1; /* a = (1 + fr) * 2^(e-1) */
	long code = (long)e - 1 + 127;
	if (round_mode == LATHE_RT_ROUND_UP && fr > 0)
		code++;
	else if (round_mode == LATHE_RT_ROUND_NEAREST && fr >= 0.5)
		code++;
	if (code < 0)
		code = 0;
	if (code > 0xFE)
		return saturate ? 0xFE : 0xFF;
	return (uint8_t)code;
}

uint8_t lathe_rt_f64_to_f8(int32_t dtype, double v, int saturate, int round_mode)
{
	if (dtype == LATHE_DT_F8E8M0)
		return e8m0_encode(v, saturate, round_mode);
	if (dtype == LATHE_DT_F4E2M1)
		return (uint8_t)mini_encode(&FMT_E2M1, v, 1);
	const struct minifloat *f = small_fmt(dtype);
	if (!f || f->sign != 0x80)
		return 0;
	return (uint8_t)mini_encode(f, v, saturate);
}

double lathe_rt_f8_to_f64(int32_t dtype, uint8_t bits)
{
	if (dtype == LATHE_DT_F8E8M0)
		return bits == 0xFF ? NAN : ldexp(1.0, (int)bits - 127);
	const struct minifloat *f = small_fmt(dtype);
	if (!f || f->sign > 0x80)
		return 0;
	return mini_decode(f, bits & (f->sign * 2 - 1));
}

/* Values that are exactly floats (most of them) take the fast f32 path,
 * which rounds identically; the rest are rounded once, from the double, so
 * that there is no double rounding through f32. */
uint16_t lathe_rt_f64_to_f16(double v)
{
	float f = (float)v;
	if ((double)f == v)
		return lathe_rt_f32_to_f16(f);
	return (uint16_t)mini_encode(&FMT_F16, v, 0);
}

uint16_t lathe_rt_f64_to_bf16(double v)
{
	float f = (float)v;
	if ((double)f == v)
		return lathe_rt_f32_to_bf16(f);
	return (uint16_t)mini_encode(&FMT_BF16, v, 0);
}

/* ---- element access ------------------------------------------------------ */

/* double -> int64 without undefined behaviour: truncate toward zero,
 * clamp to the int64 range, NaN to 0. */
static int64_t f64_to_i64(double v)
{
	if (isnan(v))
		return 0;
	if (v >= 9223372036854775808.0)
		return INT64_MAX;
	if (v < -9223372036854775808.0)
		return INT64_MIN;
	return (int64_t)v;
}

/* Low bits of an integer: what two's-complement narrowing keeps. */
static int64_t wrap_signed(int64_t v, int bits)
{
	uint64_t m = ((uint64_t)1 << bits) - 1, u = (uint64_t)v & m;
	if (u & ((uint64_t)1 << (bits - 1)))
		return (int64_t)(u | ~m);
	return (int64_t)u;
}

double lathe_rt_load_f64(const lathe_tensor *t, int64_t i)
{
	const void *p = t->data;
	switch (t->dtype) {
	case LATHE_DT_F32: return ((const float *)p)[i];
	case LATHE_DT_F64: return ((const double *)p)[i];
	case LATHE_DT_F16: return lathe_rt_f16_to_f32(((const uint16_t *)p)[i]);
	case LATHE_DT_BF16: return lathe_rt_bf16_to_f32(((const uint16_t *)p)[i]);
	case LATHE_DT_U8: return ((const uint8_t *)p)[i];
	case LATHE_DT_I8: return ((const int8_t *)p)[i];
	case LATHE_DT_U16: return ((const uint16_t *)p)[i];
	case LATHE_DT_I16: return ((const int16_t *)p)[i];
	case LATHE_DT_U32: return ((const uint32_t *)p)[i];
	case LATHE_DT_I32: return ((const int32_t *)p)[i];
	case LATHE_DT_U64: return (double)((const uint64_t *)p)[i];
	case LATHE_DT_I64: return (double)((const int64_t *)p)[i];
	case LATHE_DT_BOOL: return ((const uint8_t *)p)[i] != 0;
	case LATHE_DT_C64: return ((const float *)p)[2 * i];
	case LATHE_DT_C128: return ((const double *)p)[2 * i];
	case LATHE_DT_I4: return (double)wrap_signed(((const int8_t *)p)[i], 4);
	case LATHE_DT_I2: return (double)wrap_signed(((const int8_t *)p)[i], 2);
	case LATHE_DT_U4: return ((const uint8_t *)p)[i] & 0xF;
	case LATHE_DT_U2: return ((const uint8_t *)p)[i] & 0x3;
	case LATHE_DT_F8E4M3FN: case LATHE_DT_F8E4M3FNUZ: case LATHE_DT_F8E5M2:
	case LATHE_DT_F8E5M2FNUZ: case LATHE_DT_F8E8M0: case LATHE_DT_F4E2M1:
		return lathe_rt_f8_to_f64(t->dtype, ((const uint8_t *)p)[i]);
	}
	return 0;
}

int64_t lathe_rt_load_i64(const lathe_tensor *t, int64_t i)
{
	const void *p = t->data;
	switch (t->dtype) {
	case LATHE_DT_U8: return ((const uint8_t *)p)[i];
	case LATHE_DT_I8: return ((const int8_t *)p)[i];
	case LATHE_DT_U16: return ((const uint16_t *)p)[i];
	case LATHE_DT_I16: return ((const int16_t *)p)[i];
	case LATHE_DT_U32: return ((const uint32_t *)p)[i];
	case LATHE_DT_I32: return ((const int32_t *)p)[i];
	case LATHE_DT_U64: return (int64_t)((const uint64_t *)p)[i]; /* wraps */
	case LATHE_DT_I64: return ((const int64_t *)p)[i];
	case LATHE_DT_BOOL: return ((const uint8_t *)p)[i] != 0;
	case LATHE_DT_I4: return wrap_signed(((const int8_t *)p)[i], 4);
	case LATHE_DT_I2: return wrap_signed(((const int8_t *)p)[i], 2);
	case LATHE_DT_U4: return ((const uint8_t *)p)[i] & 0xF;
	case LATHE_DT_U2: return ((const uint8_t *)p)[i] & 0x3;
	}
	return f64_to_i64(lathe_rt_load_f64(t, i));
}

/* Integer narrowing shared by both stores: v already an int64. */
static int store_int(lathe_tensor *t, int64_t i, int64_t v)
{
	void *p = t->data;
	switch (t->dtype) {
	case LATHE_DT_U8: ((uint8_t *)p)[i] = (uint8_t)v; return 1;
	case LATHE_DT_I8: ((int8_t *)p)[i] = (int8_t)wrap_signed(v, 8); return 1;
	case LATHE_DT_U16: ((uint16_t *)p)[i] = (uint16_t)v; return 1;
	case LATHE_DT_I16: ((int16_t *)p)[i] = (int16_t)wrap_signed(v, 16); return 1;
	case LATHE_DT_U32: ((uint32_t *)p)[i] = (uint32_t)v; return 1;
	case LATHE_DT_I32: ((int32_t *)p)[i] = (int32_t)wrap_signed(v, 32); return 1;
	case LATHE_DT_U64: ((uint64_t *)p)[i] = (uint64_t)v; return 1;
	case LATHE_DT_I64: ((int64_t *)p)[i] = v; return 1;
	case LATHE_DT_I4: ((int8_t *)p)[i] = (int8_t)wrap_signed(v, 4); return 1;
	case LATHE_DT_I2: ((int8_t *)p)[i] = (int8_t)wrap_signed(v, 2); return 1;
	case LATHE_DT_U4: ((uint8_t *)p)[i] = (uint8_t)(v & 0xF); return 1;
	case LATHE_DT_U2: ((uint8_t *)p)[i] = (uint8_t)(v & 0x3); return 1;
	}
	return 0;
}

void lathe_rt_store_f64(lathe_tensor *t, int64_t i, double v)
{
	void *p = t->data;
	switch (t->dtype) {
	case LATHE_DT_F32: ((float *)p)[i] = (float)v; return;
	case LATHE_DT_F64: ((double *)p)[i] = v; return;
	case LATHE_DT_F16: ((uint16_t *)p)[i] = lathe_rt_f64_to_f16(v); return;
	case LATHE_DT_BF16: ((uint16_t *)p)[i] = lathe_rt_f64_to_bf16(v); return;
	case LATHE_DT_BOOL: ((uint8_t *)p)[i] = v != 0; return; /* NaN is true */
	case LATHE_DT_C64:
		((float *)p)[2 * i] = (float)v;
		((float *)p)[2 * i + 1] = 0;
		return;
	case LATHE_DT_C128:
		((double *)p)[2 * i] = v;
		((double *)p)[2 * i + 1] = 0;
		return;
	case LATHE_DT_F8E4M3FN: case LATHE_DT_F8E4M3FNUZ: case LATHE_DT_F8E5M2:
	case LATHE_DT_F8E5M2FNUZ: case LATHE_DT_F8E8M0: case LATHE_DT_F4E2M1:
		((uint8_t *)p)[i] = lathe_rt_f64_to_f8(t->dtype, v, 1, LATHE_RT_ROUND_UP);
		return;
	case LATHE_DT_U64:
		/* The upper half of u64 does not fit an int64. */
		if (v >= 9223372036854775808.0 && v < 18446744073709551616.0) {
			((uint64_t *)p)[i] = (uint64_t)v;
			return;
		}
		break;
	}
	store_int(t, i, f64_to_i64(v));
}

void lathe_rt_store_i64(lathe_tensor *t, int64_t i, int64_t v)
{
	if (t->dtype == LATHE_DT_BOOL) {
		((uint8_t *)t->data)[i] = v != 0;
		return;
	}
	if (!store_int(t, i, v))
		lathe_rt_store_f64(t, i, (double)v);
}
