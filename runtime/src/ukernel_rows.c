/* ukernel_rows.c: softmax and log-softmax over rows (lathe_rt_ukernel.h's
 * softmax): Y[r, :] = exp(X[r, :] - m) / s, or (X[r, :] - m) - log(s), with
 * m the row's max and s the sum of exp(X[r, :] - m); and layer
 * normalization over rows (layernorm).
 *
 * The loop nest this replaces (Softmax's lowering, src/ops/reduce.c) reads
 * each row three times and computes exp twice per element; here exp is
 * computed once: the second pass writes exp(x - m) into Y while summing it,
 * the third scales Y by 1/s (a multiply, so results agree with the nest's
 * division to rounding).  Log-softmax sums in the second pass and writes
 * in the third.  The AVX-512 path computes exp with a range reduction
 * (x = n*ln2 + r, |r| <= ln2/2, ln2 split in two parts) and a degree-6
 * polynomial for exp(r) (within 2 ulp), then scales by 2^n with scalef,
 * which also gives 0 for -inf and for arguments below the smallest
 * denormal; NaN stays NaN.  Every NaN in a row reaches the sum, so the
 * whole row becomes NaN, as in the loop nest (whose max is NaN there).
 * Other CPUs use libm's expf in plain loops.  Sums are kept in 16 lanes
 * on the vector path, in one float on the plain one: results depend on
 * the CPU, not on the thread count.  Rows are shared among the pool's
 * threads.
 *
 * Layer normalization takes the same three passes as its loop nests (mean,
 * mean of squared deviations, normalize), each with vector sums and no
 * division per element: Y = (X - mean) * inv * scale + bias with inv =
 * 1/sqrt(var + eps), the last multiply-add fused.
 *
 * Every region is checked against the pointers' avail counts first.
 * Names carry the ur_ prefix: the file is pasted, with the other kernel
 * sources, into one generated translation unit.  libc only.
 */
#include <math.h>
#include <string.h>

#include "lathe_rt_ukernel.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
	!defined(LATHE_UK_PORTABLE)
#define UR_X86 1
#include <immintrin.h>
#else
#define UR_X86 0
#endif

typedef void (*ur_row_fn)(float *y, const float *x, int64_t n, int log);

typedef struct ur_job {
	const float *X;
	float *Y;
	int64_t rows, n, xrs, yrs;
	int log;
	ur_row_fn row;
} ur_job;

static void ur_row_plain(float *y, const float *x, int64_t n, int log)
{
	float m = -INFINITY, s = 0;
	for (int64_t j = 0; j < n; j++)
		m = lathe_rt_uk_maxf(m, x[j]);
	if (log) {
		for (int64_t j = 0; j < n; j++)
			s += expf(x[j] - m);
		float l = logf(s);
		for (int64_t j = 0; j < n; j++)
			y[j] = (x[j] - m) - l;
		return;
	}
	for (int64_t j = 0; j < n; j++) {
		float e = expf(x[j] - m);
		y[j] = e;
		s += e;
	}
	float r = 1.0f / s;
	for (int64_t j = 0; j < n; j++)
		y[j] *= r;
}

#if UR_X86
#define UR_AVX512 __attribute__((target("avx512f")))

/* exp(x) for x <= 0 (any x is safe: above 88.7 it overflows to inf). */
static UR_AVX512 __m512 ur_exp16(__m512 x)
{
	/* below -104 exp rounds to 0 (and -inf would give NaN in the
	 * reduction); max(lo, x) keeps a NaN x (x86 returns the second
	 * operand when either is NaN) */
	x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504089f)),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	__m512 p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
	p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
	return _mm512_scalef_ps(p, n);
}

/* The IR max of a row (NaN if any element is). */
static UR_AVX512 float ur_max16(const float *x, int64_t n)
{
	__m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
	__mmask16 nan = 0;
	int64_t j = 0;
	for (; j + 32 <= n; j += 32) {
		__m512 a = _mm512_loadu_ps(x + j), b = _mm512_loadu_ps(x + j + 16);
		nan |= _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
		m0 = _mm512_max_ps(m0, a);
		m1 = _mm512_max_ps(m1, b);
	}
	for (; j < n; j += 16) {
		__mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
		__m512 a = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, x + j);
		nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
		m0 = _mm512_max_ps(m0, a);
	}
	if (nan)
		return NAN;
	return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

static UR_AVX512 void ur_row_avx512(float *y, const float *x, int64_t n, int log)
{
	float m = ur_max16(x, n);
	__m512 vm = _mm512_set1_ps(m), s0 = _mm512_setzero_ps(), s1 = s0;
	int64_t j = 0;
	for (; j + 32 <= n; j += 32) {
		__m512 e0 = ur_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
		__m512 e1 = ur_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j + 16), vm));
		if (!log) {
			_mm512_storeu_ps(y + j, e0);
			_mm512_storeu_ps(y + j + 16, e1);
		}
		s0 = _mm512_add_ps(s0, e0);
		s1 = _mm512_add_ps(s1, e1);
	}
	for (; j < n; j += 16) {
		__mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
		__m512 e = _mm512_maskz_mov_ps(
			k, ur_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm)));
		if (!log)
			_mm512_mask_storeu_ps(y + j, k, e);
		s0 = _mm512_add_ps(s0, e);
	}
	float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
	if (log) {
		__m512 l = _mm512_set1_ps(logf(s));
		for (j = 0; j < n; j += 16) {
			__mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
			__m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm);
			_mm512_mask_storeu_ps(y + j, k, _mm512_sub_ps(d, l));
		}
		return;
	}
	__m512 r = _mm512_set1_ps(1.0f / s);
	for (j = 0; j + 16 <= n; j += 16)
		_mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), r));
	if (j < n) {
		__mmask16 k = (__mmask16)((1u << (n - j)) - 1);
		_mm512_mask_storeu_ps(y + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + j), r));
	}
}

static int ur_has_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
}
#endif

/* This CPU's row function (LATHE_UK_PORTABLE or a CPU without AVX-512:
 * the plain loops). */
static ur_row_fn ur_row_kernel(void)
{
#if UR_X86
	if (ur_has_avx512())
		return ur_row_avx512;
#endif
	return ur_row_plain;
}

/* ---- layer normalization ------------------------------------------------------ */

typedef void (*ur_ln_fn)(float *y, const float *x, int64_t n, const float *g, const float *b,
			 float eps);

typedef struct ur_ln_job {
	const float *X, *G, *B;
	float *Y;
	int64_t n, xrs, yrs;
	float eps;
	ur_ln_fn row;
} ur_ln_job;

static void ur_ln_plain(float *y, const float *x, int64_t n, const float *g, const float *b,
			float eps)
{
	float s = 0, v = 0, fn = (float)n;
	for (int64_t j = 0; j < n; j++)
		s += x[j];
	float mean = s / fn;
	for (int64_t j = 0; j < n; j++)
		v += (x[j] - mean) * (x[j] - mean);
	float inv = 1.0f / sqrtf(v / fn + eps);
	for (int64_t j = 0; j < n; j++) {
		float t = (x[j] - mean) * inv * g[j];
		y[j] = b ? t + b[j] : t;
	}
}

#if UR_X86
static UR_AVX512 void ur_ln_avx512(float *y, const float *x, int64_t n, const float *g,
				   const float *b, float eps)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = s0;
	int64_t j = 0;
	for (; j + 32 <= n; j += 32) {
		s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + j));
		s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + j + 16));
	}
	for (; j < n; j += 16) {
		__mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
		s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(k, x + j));
	}
	float fn = (float)n, mean = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / fn;
	__m512 vm = _mm512_set1_ps(mean);
	s0 = s1 = _mm512_setzero_ps();
	for (j = 0; j + 32 <= n; j += 32) {
		__m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + j), vm);
		__m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(x + j + 16), vm);
		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
	}
	for (; j < n; j += 16) {
		__mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
		__m512 d = _mm512_maskz_mov_ps(k, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm));
		s0 = _mm512_fmadd_ps(d, d, s0);
	}
	float var = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / fn;
	__m512 inv = _mm512_set1_ps(1.0f / sqrtf(var + eps));
	for (j = 0; j < n; j += 16) {
		__mmask16 k = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
		__m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm), inv);
		__m512 gv = _mm512_maskz_loadu_ps(k, g + j);
		__m512 t = b ? _mm512_fmadd_ps(d, gv, _mm512_maskz_loadu_ps(k, b + j))
			     : _mm512_mul_ps(d, gv);
		_mm512_mask_storeu_ps(y + j, k, t);
	}
}
#endif

static ur_ln_fn ur_ln_kernel(void)
{
#if UR_X86
	if (ur_has_avx512())
		return ur_ln_avx512;
#endif
	return ur_ln_plain;
}

static void ur_ln_task(void *ctx, int64_t begin, int64_t end)
{
	const ur_ln_job *j = ctx;
	for (int64_t r = begin; r < end; r++)
		j->row(j->Y + r * j->yrs, j->X + r * j->xrs, j->n, j->G, j->B, j->eps);
}

LATHE_RT_UK_API int lathe_rt_uk_layernorm(const lathe_rt_uk_args *a)
{
	if (a->nip < LATHE_UK_S_FIXED || a->nfp < 1 || a->nptr < 3)
		return lathe_rt_uk_fail(a, "layernorm: %d integer, %d float parameters and %d pointers "
				  "(%d, 1 and 3 needed)",
			       a->nip, a->nfp, a->nptr, LATHE_UK_S_FIXED);
	const int64_t *ip = a->ip;
	int64_t rows = ip[LATHE_UK_S_ROWS], bias = ip[LATHE_UK_S_LOG];
	ur_ln_job j = {0};
	j.n = ip[LATHE_UK_S_N];
	j.xrs = ip[LATHE_UK_S_XRS];
	j.yrs = ip[LATHE_UK_S_YRS];
	const int64_t lim = (int64_t)1 << 31;
	if (rows < 0 || rows >= lim || j.n < 0 || j.n >= lim || j.xrs < 0 || j.xrs >= lim ||
	    j.yrs < 0 || j.yrs >= lim || (bias != 0 && bias != 1) || a->nptr < 3 + bias)
		return lathe_rt_uk_fail(a, "layernorm: bad parameters (rows %lld, n %lld, strides %lld %lld, "
				  "bias %lld, %d pointers)",
			       (long long)rows, (long long)j.n, (long long)j.xrs, (long long)j.yrs,
			       (long long)bias, a->nptr);
	if (!rows || !j.n)
		return 0;
	if (rows > 1 && j.yrs < j.n)
		return lathe_rt_uk_fail(a, "layernorm: rows of Y overlap (stride %lld, length %lld)",
			       (long long)j.yrs, (long long)j.n);
	int64_t nx = (rows - 1) * j.xrs + j.n, ny = (rows - 1) * j.yrs + j.n;
	const char *const what[4] = {"X", "Y", "scale", "bias"};
	int64_t need[4] = {nx, ny, j.n, j.n};
	if (lathe_rt_uk_need(a, "layernorm", 3 + bias, need, what))
		return 1;
	j.X = a->ptr[0];
	j.Y = a->ptr[1];
	j.G = a->ptr[2];
	j.B = bias ? a->ptr[3] : NULL;
	j.eps = (float)a->fp[0];
	j.row = ur_ln_kernel();
	lathe_rt_uk_pfor(a->pool, rows, ur_ln_task, &j);
	return 0;
}

/* ---- softmax: the entry ---------------------------------------------------------- */

static void ur_task(void *ctx, int64_t begin, int64_t end)
{
	const ur_job *j = ctx;
	for (int64_t r = begin; r < end; r++)
		j->row(j->Y + r * j->yrs, j->X + r * j->xrs, j->n, j->log);
}

LATHE_RT_UK_API int lathe_rt_uk_softmax(const lathe_rt_uk_args *a)
{
	if (a->nip < LATHE_UK_S_FIXED || a->nptr < 2)
		return lathe_rt_uk_fail(a, "softmax: %d integer parameters and %d pointers (%d and 2 needed)",
			       a->nip, a->nptr, LATHE_UK_S_FIXED);
	const int64_t *ip = a->ip;
	ur_job j = {0};
	j.rows = ip[LATHE_UK_S_ROWS];
	j.n = ip[LATHE_UK_S_N];
	j.xrs = ip[LATHE_UK_S_XRS];
	j.yrs = ip[LATHE_UK_S_YRS];
	int64_t log = ip[LATHE_UK_S_LOG];
	const int64_t lim = (int64_t)1 << 31;
	if (j.rows < 0 || j.rows >= lim || j.n < 0 || j.n >= lim || j.xrs < 0 || j.xrs >= lim ||
	    j.yrs < 0 || j.yrs >= lim || (log != 0 && log != 1))
		return lathe_rt_uk_fail(a, "softmax: bad parameters (rows %lld, n %lld, strides %lld %lld, "
				  "log %lld)",
			       (long long)j.rows, (long long)j.n, (long long)j.xrs, (long long)j.yrs,
			       (long long)log);
	if (!j.rows || !j.n)
		return 0;
	if (j.rows > 1 && j.yrs < j.n)
		return lathe_rt_uk_fail(a, "softmax: rows of Y overlap (stride %lld, length %lld)",
			       (long long)j.yrs, (long long)j.n);
	/* Below 2^31 each: the products fit in 64 bits. */
	int64_t nx = (j.rows - 1) * j.xrs + j.n, ny = (j.rows - 1) * j.yrs + j.n;
	static const char *const what[2] = {"X", "Y"};
	int64_t need[2] = {nx, ny};
	if (lathe_rt_uk_need(a, "softmax", 2, need, what))
		return 1;
	j.X = a->ptr[0];
	j.Y = a->ptr[1];
	j.log = (int)log;
	j.row = ur_row_kernel();
	lathe_rt_uk_pfor(a->pool, j.rows, ur_task, &j);
	return 0;
}
