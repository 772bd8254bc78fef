/* ukernel_plane.c: the kernels that walk one image plane or one row of
 * it, per instruction set: depthwise convolution (taps summed along a row,
 * whole small planes, the 3x3 kernels of stride 1 and 2), max pooling's
 * planes, and the even/odd split of a row for stride-2 convolutions.  The
 * drivers that cut a tensor into these calls are ukernel_dw.c and
 * ukernel_pool.c; sgemm's tile kernels are in ukernel_isa.c.
 *
 * As there, the AVX-512 kernels carry target attributes and are picked at
 * run time; a CPU without AVX-512 gets the portable kernels where there
 * are some, and NULL (the driver's own loops) where there are none.  Sums
 * run in the same order on every path; max follows the loop IR (NaN when
 * either operand is).  libc only.
 */
#include <math.h>
#include <string.h>

#include "lathe_rt_ukernel.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
	!defined(LATHE_UK_PORTABLE)
#define UP_X86 1
#include <immintrin.h>
#else
#define UP_X86 0
#endif

/* ---- portable ------------------------------------------------------------------ */

/* The portable taps: multiply, then add, tap after tap. */
static void uk_gen_taps(float *y, int64_t n, const float *const *row, const int64_t *off,
			const float *w, const int64_t *lo, const int64_t *hi, int ntap,
			const lathe_rt_uk_epi *ep, int64_t m)
{
	memset(y, 0, sizeof(float) * (size_t)n);
	for (int t = 0; t < ntap; t++) {
		const float *x = row[t];
		float wt = w[t];
		for (int64_t j = lo[t] > 0 ? lo[t] : 0; j < hi[t] && j < n; j++)
			y[j] = y[j] + wt * x[off[t] + j];
	}
	if (ep)
		lathe_rt_uk_epi_rows(ep, y, n, 1, n, m, 0);
}

static void uk_gen_deint(float *even, float *odd, const float *src, int64_t n)
{
	for (int64_t i = 0; 2 * i < n; i++) {
		even[i] = src[2 * i];
		if (2 * i + 1 < n)
			odd[i] = src[2 * i + 1];
	}
}

/* ---- x86: AVX-512 ---------------------------------------------------------------- */

#if UP_X86
#define UP_AVX512 __attribute__((target("avx512f")))
/* max and min as the loop IR defines them (see ukernel_isa.c's UK_MAX512). */
#define UP_MAX512(a, b) \
	_mm512_mask_max_ps((b), _mm512_cmp_ps_mask((b), (b), _CMP_ORD_Q), (b), (a))
#define UP_MIN512(a, b) \
	_mm512_mask_min_ps((b), _mm512_cmp_ps_mask((b), (b), _CMP_ORD_Q), (b), (a))

/* Depthwise rows: 16 outputs at a time summed over every tap in a
 * register.  Where every tap's columns lie inside the image (most of a
 * row) the loads are plain; at the edges they are masked. */
/* The splat of operation e's operand for row m, and whether it is NaN. */
#define UK_SPLAT_SET(o, nn, ep, e, m)                                                         \
	do {                                                                                  \
		float x_ = (ep)->v[e] ? (ep)->v[e][(m) * (ep)->sm[e]] : (float)(ep)->f[e];      \
		(o)[e] = _mm512_set1_ps(x_);                                                   \
		(nn)[e] = x_ != x_;                                                            \
	} while (0)
/* Declares the splats o of ep's operands for row m, which are NaN (nn),
 * and ep's operations as local copies (ne_, code_): stores through the
 * kernel's float pointers cannot change them, so the epilogue does not
 * reload ep after each store. */
#define UK_SPLAT_DECL(o, nn, ep, m)                                                           \
	__m512 o[LATHE_UK_EPI_MAX];                                                           \
	int nn[LATHE_UK_EPI_MAX], code_[LATHE_UK_EPI_MAX];                                    \
	const int ne_ = (ep) ? (ep)->n : 0;                                                   \
	for (int e = 0; e < ne_; e++) {                                                       \
		UK_SPLAT_SET(o, nn, ep, e, m);                                                \
		code_[e] = (ep)->op[e] * 2 + (ep)->rev[e];                                    \
	}
/* Applies operations whose operands are the splats o (n-independent) to a
 * (UK_SPLAT_DECL's; ep is not read).  max(a, o) is maxps(o, a) (a when
 * either is NaN) unless o is NaN.  With nacc a constant (at most 8) the
 * loops unroll and a stays in registers. */
#define UK_SPLAT_EPI(a, nacc, ep, o)                                                          \
	for (int e_ = 0; e_ < ne_; e_++) {                                                     \
		switch (code_[e_]) {                                                            \
		case LATHE_UK_OP_ADD * 2: case LATHE_UK_OP_ADD * 2 + 1:                         \
			_Pragma("GCC unroll 8") for (int q_ = 0; q_ < (nacc); q_++)          \
				(a)[q_] = _mm512_add_ps((a)[q_], (o)[e_]);                      \
			break;                                                                  \
		case LATHE_UK_OP_MUL * 2: case LATHE_UK_OP_MUL * 2 + 1:                         \
			_Pragma("GCC unroll 8") for (int q_ = 0; q_ < (nacc); q_++)          \
				(a)[q_] = _mm512_mul_ps((a)[q_], (o)[e_]);                      \
			break;                                                                  \
		case LATHE_UK_OP_MAX * 2:                                                       \
			_Pragma("GCC unroll 8") for (int q_ = 0; q_ < (nacc); q_++)          \
				(a)[q_] = nn[e_] ? (o)[e_] : _mm512_max_ps((o)[e_], (a)[q_]);    \
			break;                                                                  \
		case LATHE_UK_OP_MAX * 2 + 1:                                                   \
			_Pragma("GCC unroll 8") for (int q_ = 0; q_ < (nacc); q_++)          \
				(a)[q_] = UP_MAX512((o)[e_], (a)[q_]);                          \
			break;                                                                  \
		case LATHE_UK_OP_MIN * 2:                                                       \
			_Pragma("GCC unroll 8") for (int q_ = 0; q_ < (nacc); q_++)          \
				(a)[q_] = nn[e_] ? (o)[e_] : _mm512_min_ps((o)[e_], (a)[q_]);    \
			break;                                                                  \
		default:                                                                        \
			_Pragma("GCC unroll 8") for (int q_ = 0; q_ < (nacc); q_++)          \
				(a)[q_] = UP_MIN512((o)[e_], (a)[q_]);                          \
			break;                                                                  \
		}                                                                               \
	}

static UP_AVX512 void uk_avx512_taps(float *y, int64_t n, const float *const *row,
				     const int64_t *off, const float *w, const int64_t *lo,
				     const int64_t *hi, int ntap, const lathe_rt_uk_epi *ep, int64_t m)
{
	UK_SPLAT_DECL(o, nn, ep, m);
	int64_t in_lo = 0, in_hi = n;
	for (int t = 0; t < ntap; t++) {
		if (lo[t] > in_lo)
			in_lo = lo[t];
		if (hi[t] < in_hi)
			in_hi = hi[t];
	}
	int64_t j = 0;
	while (j < n) {
		/* Four vectors at once where every tap is inside: four chains of
		 * multiply-adds in flight instead of one. */
		if (j >= in_lo && j + 64 <= in_hi) {
			__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
			for (int t = 0; t < ntap; t++) {
				const float *p = row[t] + off[t] + j;
				__m512 wv = _mm512_set1_ps(w[t]);
				a0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p), a0);
				a1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p + 16), a1);
				a2 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p + 32), a2);
				a3 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p + 48), a3);
			}
			__m512 a[4] = {a0, a1, a2, a3};
			UK_SPLAT_EPI(a, 4, ep, o)
			_mm512_storeu_ps(y + j, a[0]);
			_mm512_storeu_ps(y + j + 16, a[1]);
			_mm512_storeu_ps(y + j + 32, a[2]);
			_mm512_storeu_ps(y + j + 48, a[3]);
			j += 64;
			continue;
		}
		int64_t len = n - j < 16 ? n - j : 16;
		__m512 acc = _mm512_setzero_ps();
		for (int t = 0; t < ntap; t++) {
			int64_t l = lo[t] - j, h = hi[t] - j;
			if (l < 0)
				l = 0;
			if (h > len)
				h = len;
			if (h <= l)
				continue;
			uint32_t in = (h >= 16 ? 0xFFFFu : (1u << h) - 1) & ~((1u << l) - 1);
			/* Lanes outside [l, h) are never read: only the address is formed. */
			const float *p = (const float *)((uintptr_t)row[t] + (uintptr_t)((off[t] + j) * 4));
			__m512 x = in == 0xFFFFu ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps((__mmask16)in, p);
			acc = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), x, acc);
		}
		UK_SPLAT_EPI(&acc, 1, ep, o)
		if (len == 16)
			_mm512_storeu_ps(y + j, acc);
		else
			_mm512_mask_storeu_ps(y + j, (__mmask16)((1u << len) - 1), acc);
		j += 16;
	}
}

/* A channel's flat run of outputs, four vectors at a time while they last:
 * each tap one masked load per vector (lanes outside the image are not
 * read), summed in tap order. */
static UP_AVX512 void uk_avx512_dwflat(float *y, int64_t n, const float *src, const int64_t *off,
				       const float *w, int ntap, const uint16_t *mask,
				       const lathe_rt_uk_epi *ep, int64_t m)
{
	UK_SPLAT_DECL(o, nn, ep, m);
	/* Addresses are formed as integers: those of lanes outside are not
	 * inside any object. */
	uintptr_t s0 = (uintptr_t)src;
	int64_t j = 0;
	for (; j + 64 <= n; j += 64, mask += 4 * ntap) {
		/* sums in named registers (an array indexed in loops would live
		 * on the stack) */
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		for (int t = 0; t < ntap; t++) {
			const float *p = (const float *)(s0 + (uintptr_t)((j + off[t]) * 4));
			__m512 wv = _mm512_set1_ps(w[t]);
			a0 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask[t], p), a0);
			a1 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask[ntap + t], p + 16), a1);
			a2 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask[2 * ntap + t], p + 32), a2);
			a3 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask[3 * ntap + t], p + 48), a3);
		}
		__m512 a[4] = {a0, a1, a2, a3};
		UK_SPLAT_EPI(a, 4, ep, o)
		for (int q = 0; q < 4; q++)
			_mm512_storeu_ps(y + j + 16 * q, a[q]);
	}
	if (j < n) {
		/* The last one to four vectors (the last maybe partial) side by side: small
		 * planes (7x7) are nothing but this, and one chain of
		 * multiply-adds at a time would leave them latency-bound.  The
		 * masks of vectors past the last (nv) are never read. */
		int nv = (int)((n - j + 15) / 16);
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		for (int t = 0; t < ntap; t++) {
			const float *p = (const float *)(s0 + (uintptr_t)((j + off[t]) * 4));
			__m512 wv = _mm512_set1_ps(w[t]);
			a0 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask[t], p), a0);
			if (nv > 1)
				a1 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask[ntap + t], p + 16), a1);
			if (nv > 2)
				a2 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask[2 * ntap + t], p + 32),
						     a2);
			if (nv > 3)
				a3 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask[3 * ntap + t], p + 48),
						     a3);
		}
		__m512 a[4] = {a0, a1, a2, a3};
		UK_SPLAT_EPI(a, 4, ep, o) /* the unused sums too: fewer branches */
		for (int q = 0; q < nv; q++, j += 16) {
			if (n - j >= 16)
				_mm512_storeu_ps(y + j, a[q]);
			else
				_mm512_mask_storeu_ps(y + j, (__mmask16)((1u << (n - j)) - 1), a[q]);
		}
	}
}

/* Lanes l of a vector at src + i with 0 <= i + l < nin. */
static inline __mmask16 uk_range16(int64_t i, int64_t nin)
{
	int64_t lo = -i, hi = nin - i;
	lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
	hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
	if (hi <= lo)
		return 0;
	return (__mmask16)((hi >= 16 ? 0xFFFFu : (1u << hi) - 1) & ~((1u << lo) - 1));
}

/* Three adjacent columns of taps, stride 2 across, straight from the
 * image: per row of taps the 33 input columns under 16 outputs are loaded
 * once (zeros outside the image), and the taps are their even columns,
 * their odd ones and the even ones shifted by one, as in uk_avx512_max3s2.
 * Up to four vectors of a row at a time.  The common case (three rows of
 * taps, one apart, stride 2 down) takes two output rows at a time, which
 * read five input rows: each is split once, and the middle one feeds both
 * (the first row's last tap row and the second's first): eight chains of
 * multiply-adds in flight (rows of one or two vectors: eight or four rows
 * at a time, uk_avx512_dw3_narrow).  Other cases take one output row at a time.
 * The sums live in named registers (arrays indexed at run time would live
 * on the stack and bound the loop by store-to-load latency).  Sums in
 * (kh, kw) order. */
#define UK_S2_SPLIT(q, base)                                                                   \
	const float *p##q = (const float *)((base) + (uintptr_t)(c0[q] * 4));                  \
	__m512 lo##q, hi##q, nx##q;                                                            \
	if (full[q]) {                                                                         \
		lo##q = _mm512_loadu_ps(p##q);                                                 \
		hi##q = _mm512_loadu_ps(p##q + 16);                                            \
		nx##q = _mm512_castps128_ps512(_mm_load_ss(p##q + 32));                        \
	} else {                                                                               \
		lo##q = _mm512_maskz_loadu_ps(k[q][0], p##q);                                  \
		hi##q = _mm512_maskz_loadu_ps(k[q][1], p##q + 16);                             \
		nx##q = _mm512_maskz_loadu_ps(k[q][2], p##q + 32);                             \
	}                                                                                      \
	__m512 ev##q = _mm512_permutex2var_ps(lo##q, ie, hi##q);                               \
	__m512 od##q = _mm512_permutex2var_ps(lo##q, io, hi##q);                               \
	__m512 e2##q = _mm512_castsi512_ps(                                                    \
		_mm512_alignr_epi32(_mm512_castps_si512(nx##q), _mm512_castps_si512(ev##q), 1))
#define UK_S2_FMA(acc, q, w0, w1, w2)                                                          \
	acc = _mm512_fmadd_ps(w2, e2##q, _mm512_fmadd_ps(w1, od##q, _mm512_fmadd_ps(w0, ev##q, acc)))
/* Input row i (0..S + 2) of those under output rows oh, oh + 1 (stride S
 * down, SPLIT the taps of stride S across): tap row i of the first
 * (i < 3) and i - S of the second (i >= S, when there is one). */
#define UK_DW3_VEC(q, i, S, SPLIT)                                                             \
	if (q < nv) {                                                                          \
		SPLIT(q, base);                                                                \
		if (i < 3)                                                                     \
			UK_S2_FMA(a##q, q, wv[3 * i], wv[3 * i + 1], wv[3 * i + 2]);           \
		if (i >= (S) && two)                                                           \
			UK_S2_FMA(b##q, q, wv[3 * (i - (S))], wv[3 * (i - (S)) + 1],           \
				  wv[3 * (i - (S)) + 2]);                                      \
	}
#define UK_DW3_ROW(i, S, SPLIT)                                                                \
	do {                                                                                   \
		int64_t h_ = h0 + (i);                                                         \
		if (h_ < 0 || h_ >= H || ((i) >= 3 && !two))                                   \
			break;                                                                 \
		uintptr_t base = (uintptr_t)(x + h_ * XSH);                                    \
		UK_DW3_VEC(0, i, S, SPLIT)                                                     \
		UK_DW3_VEC(1, i, S, SPLIT)                                                     \
		UK_DW3_VEC(2, i, S, SPLIT)                                                     \
		UK_DW3_VEC(3, i, S, SPLIT)                                                     \
	} while (0)
#define UK_S2_ROW(i) UK_DW3_ROW(i, 2, UK_S2_SPLIT)
/* The epilogue over the sums of output rows oh (a) and, when two, oh + 1
 * (b), in one pass; then their stores. */
#define UK_S2_STORE_ROW(yr, s_, v0)                                                            \
	_Pragma("GCC unroll 4") for (int q_ = 0; q_ < 4; q_++) {                               \
		int64_t j_ = ob + 16 * q_;                                                     \
		if (q_ >= nv)                                                                  \
			break;                                                                 \
		if (OW - j_ >= 16)                                                             \
			_mm512_storeu_ps((yr) + j_, s_[(v0) + q_]);                            \
		else                                                                           \
			_mm512_mask_storeu_ps((yr) + j_, uk_range16(j_, OW), s_[(v0) + q_]);   \
	}
#define UK_S2_STORE(yr, two)                                                                   \
	do {                                                                                   \
		__m512 s_[8] = {a0, a1, a2, a3, b0, b1, b2, b3};                               \
		UK_SPLAT_EPI(s_, 8, ep, o)                                                     \
		UK_S2_STORE_ROW(yr, s_, 0)                                                     \
		if (two) {                                                                     \
			UK_S2_STORE_ROW((yr) + OW, s_, 4)                                      \
		}                                                                              \
	} while (0)

/* Rows of NV vectors (NV 1 or 2: 32 outputs or fewer) and three rows of
 * taps one apart, stride S (1 or 2) both ways: 8/NV output rows at a
 * time, so that eight chains of multiply-adds are in flight where a pair
 * of rows would leave the loop waiting on the latency of two or four;
 * each input row is loaded and split once for the (up to three) output
 * rows it feeds.  w holds the nine weights' splats; o, nn, code_ and ne_
 * are UK_SPLAT_DECL's. */
static inline __attribute__((always_inline)) UP_AVX512 void
uk_avx512_dw3_narrow(float *y, int64_t OH, int64_t OW, const float *x, int64_t H, int64_t W,
		     int64_t XSH, const int S, const int NV, int64_t hoff0, int64_t off0,
		     const __m512 *wv, const __m512 *o, const int *nn, const int *code_, const int ne_)
{
	const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
	const int R = 8 / NV;
	__mmask16 k0[2], k1[2], k2[2], ks[2];
	for (int v = 0; v < NV; v++) {
		int64_t c = off0 + 16 * S * v;
		k0[v] = uk_range16(c, W);
		k1[v] = uk_range16(c + 16, W);
		k2[v] = uk_range16(c + 32, W) & 1;
		ks[v] = uk_range16(16 * v, OW);
	}
	for (int64_t oh = 0; oh < OH; oh += R) {
		int nr = OH - oh < R ? (int)(OH - oh) : R;
		__m512 acc[8];
		_Pragma("GCC unroll 8") for (int r = 0; r < 8; r++)
			acc[r] = _mm512_setzero_ps();
		_Pragma("GCC unroll 17") for (int i = 0; i < (R - 1) * S + 3; i++) {
			int64_t h = oh * S + hoff0 + i;
			if (i > (nr - 1) * S + 2)
				break;
			if (h < 0 || h >= H)
				continue;
			_Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {
				const float *p = (const float *)((uintptr_t)(x + h * XSH) +
								 (uintptr_t)((off0 + 16 * S * v) * 4));
				__m512 t0, t1, t2;
				if (S == 1) {
					t0 = _mm512_maskz_loadu_ps(k0[v], p);
					__m512 hi = _mm512_maskz_loadu_ps(k1[v] & 3, p + 16);
					t1 = _mm512_castsi512_ps(_mm512_alignr_epi32(
						_mm512_castps_si512(hi), _mm512_castps_si512(t0), 1));
					t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(
						_mm512_castps_si512(hi), _mm512_castps_si512(t0), 2));
				} else {
					__m512 lo = _mm512_maskz_loadu_ps(k0[v], p);
					__m512 hi = _mm512_maskz_loadu_ps(k1[v], p + 16);
					__m512 nx = _mm512_maskz_loadu_ps(k2[v], p + 32);
					t0 = _mm512_permutex2var_ps(lo, ie, hi);
					t1 = _mm512_permutex2var_ps(lo, io, hi);
					t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(
						_mm512_castps_si512(nx), _mm512_castps_si512(t0), 1));
				}
				_Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
					int kh = i - S * r;
					if (kh < 0 || kh > 2 || r >= nr)
						continue;
					__m512 a = acc[r * NV + v];
					a = _mm512_fmadd_ps(wv[3 * kh], t0, a);
					a = _mm512_fmadd_ps(wv[3 * kh + 1], t1, a);
					acc[r * NV + v] = _mm512_fmadd_ps(wv[3 * kh + 2], t2, a);
				}
			}
		}
		UK_SPLAT_EPI(acc, 8, ep, o)
		_Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
			_Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)
				if (r < nr)
					_mm512_mask_storeu_ps(y + (oh + r) * OW + 16 * v, ks[v],
							      acc[r * NV + v]);
	}
}

/* The same, stride 1 across: the taps of a vector of outputs are the 16
 * input columns under it and those shifted by one and two (the next 16
 * columns' first two coming in), two loads and two shifts per row of
 * taps.  Three rows of taps one apart, stride 1 down: two output rows at a
 * time read four input rows, the middle two feeding both.  Zeros are
 * loaded outside the image, so the edges need no other masking. */
#define UK_S1_SPLIT(q, base)                                                                   \
	const float *p##q = (const float *)((base) + (uintptr_t)(c0[q] * 4));                  \
	__m512 ev##q, hi##q;                                                                   \
	if (full[q]) {                                                                         \
		ev##q = _mm512_loadu_ps(p##q);                                                 \
		hi##q = _mm512_castps128_ps512(_mm_loadl_pi(_mm_setzero_ps(),                 \
							    (const __m64 *)(p##q + 16)));      \
	} else {                                                                               \
		ev##q = _mm512_maskz_loadu_ps(k[q][0], p##q);                                  \
		hi##q = _mm512_maskz_loadu_ps(k[q][1], p##q + 16);                             \
	}                                                                                      \
	__m512 od##q = _mm512_castsi512_ps(                                                    \
		_mm512_alignr_epi32(_mm512_castps_si512(hi##q), _mm512_castps_si512(ev##q), 1)); \
	__m512 e2##q = _mm512_castsi512_ps(                                                    \
		_mm512_alignr_epi32(_mm512_castps_si512(hi##q), _mm512_castps_si512(ev##q), 2))
#define UK_S1_ROW(i) UK_DW3_ROW(i, 1, UK_S1_SPLIT)

/* A channel of dw3s1 (S 1) or dw3s2 (S 2): rows of 32 outputs or fewer
 * go to dw3_narrow; wider ones 64 outputs at a time, two output rows per
 * pass where the three rows of taps are one apart and the stride down is
 * S, else row by row. */
static inline __attribute__((always_inline)) UP_AVX512 void
uk_avx512_dw3_one(float *y, int64_t OH, int64_t OW, const float *x, int64_t H, int64_t W,
		  int64_t XSH, int64_t SH, const int64_t *hoff, int nkh, int64_t off0,
		  const float *w, const lathe_rt_uk_epi *ep, int64_t m, const int S)
{
	UK_SPLAT_DECL(o, nn, ep, m);
	const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
	int paired = nkh == 3 && SH == S && hoff[1] == hoff[0] + 1 && hoff[2] == hoff[0] + 2;
	__m512 wv[9];
	for (int t = 0; paired && t < 9; t++)
		wv[t] = _mm512_set1_ps(w[t]);
	/* NV a constant in each call: the kernel is specialized for it */
	if (paired && OW <= 16) {
		uk_avx512_dw3_narrow(y, OH, OW, x, H, W, XSH, S, 1, hoff[0], off0, wv, o, nn, code_, ne_);
		return;
	}
	if (paired && OW <= 32) {
		uk_avx512_dw3_narrow(y, OH, OW, x, H, W, XSH, S, 2, hoff[0], off0, wv, o, nn, code_, ne_);
		return;
	}
	for (int64_t ob = 0; ob < OW; ob += 64) {
		int nv = OW - ob >= 64 ? 4 : (int)((OW - ob + 15) / 16);
		__mmask16 k[4][3];
		int64_t c0[4];
		int full[4];
		for (int q = 0; q < 4; q++) {
			c0[q] = S * (ob + 16 * q) + off0;
			k[q][0] = q < nv ? uk_range16(c0[q], W) : 0;
			k[q][1] = q < nv ? uk_range16(c0[q] + 16, W) & (S == 1 ? 3 : 0xffff) : 0;
			k[q][2] = q < nv ? uk_range16(c0[q] + 32, W) & 1 : 0;
			/* all the columns under the vector inside (18, or 33 for
			 * stride 2): plain loads */
			full[q] = q < nv && c0[q] >= 0 && c0[q] + (S == 1 ? 18 : 33) <= W;
		}
		for (int64_t oh = 0; paired && oh < OH; oh += 2) {
			int two = OH - oh >= 2;
			int64_t h0 = S * oh + hoff[0];
			__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
			__m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
			if (S == 1) {
				UK_S1_ROW(0);
				UK_S1_ROW(1);
				UK_S1_ROW(2);
				UK_S1_ROW(3);
			} else {
				UK_S2_ROW(0);
				UK_S2_ROW(1);
				UK_S2_ROW(2);
				UK_S2_ROW(3);
				UK_S2_ROW(4);
			}
			UK_S2_STORE(y + oh * OW, two);
		}
		for (int64_t oh = 0; !paired && oh < OH; oh++) {
			__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
			__m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
			for (int kh = 0; kh < nkh; kh++) {
				int64_t h = oh * SH + hoff[kh];
				if (h < 0 || h >= H)
					continue;
				__m512 w0 = _mm512_set1_ps(w[3 * kh]), w1 = _mm512_set1_ps(w[3 * kh + 1]);
				__m512 w2 = _mm512_set1_ps(w[3 * kh + 2]);
				uintptr_t base = (uintptr_t)(x + h * XSH);
#define UK_DW3_TAPS(q)                                                                          \
	if (q < nv) {                                                                          \
		if (S == 1) {                                                                  \
			UK_S1_SPLIT(q, base);                                                  \
			UK_S2_FMA(a##q, q, w0, w1, w2);                                        \
		} else {                                                                       \
			UK_S2_SPLIT(q, base);                                                  \
			UK_S2_FMA(a##q, q, w0, w1, w2);                                        \
		}                                                                              \
	}
				UK_DW3_TAPS(0)
				UK_DW3_TAPS(1)
				UK_DW3_TAPS(2)
				UK_DW3_TAPS(3)
#undef UK_DW3_TAPS
			}
			UK_S2_STORE(y + oh * OW, 0);
		}
	}
}

/* Max pooling: 64 outputs of a row at a time in four registers over the
 * whole window; a tap's lanes outside the image load -inf (which the max
 * leaves alone).  Stride 2 loads the 32 input columns under 16 outputs and
 * keeps the even ones.  The masks depend on the columns only: computed
 * once per 64 columns for all the rows. */
#define UK_MP_TAP(q, acc)                                                                  \
	if ((q) < nv) {                                                                    \
		const float *p_ = (const float *)(base + (uintptr_t)(cb[kw] + 16 * (q) * SW) * 4); \
		__m512 x_ = _mm512_mask_loadu_ps(ninf, ka[kw][q], p_);                        \
		if (SW == 2)                                                               \
			x_ = _mm512_permutex2var_ps(                                       \
				x_, ie, _mm512_mask_loadu_ps(ninf, kb[kw][q], p_ + 16));   \
		acc = UP_MAX512(acc, x_);                                                  \
	}

/* The row kernels over channels m0 .. m0 + nch - 1 (X, W and Y advanced
 * by XSC, WSC and YSC per channel): one call per task, not per channel,
 * which small planes (7x7, 14x14) notice. */
static UP_AVX512 void uk_avx512_dw3s2(float *y, int64_t OH, int64_t OW, const float *x,
				     int64_t H, int64_t W, int64_t XSH, int64_t SH,
				     const int64_t *hoff, int nkh, int64_t off0, const float *w,
				     const lathe_rt_uk_epi *ep, int64_t m0, int64_t nch, int64_t XSC,
				     int64_t WSC, int64_t YSC)
{
	for (int64_t c = 0; c < nch; c++)
		uk_avx512_dw3_one(y + c * YSC, OH, OW, x + c * XSC, H, W, XSH, SH, hoff, nkh, off0,
				  w + c * WSC, ep, m0 + c, 2);
}

static UP_AVX512 void uk_avx512_dw3s1(float *y, int64_t OH, int64_t OW, const float *x,
				     int64_t H, int64_t W, int64_t XSH, int64_t SH,
				     const int64_t *hoff, int nkh, int64_t off0, const float *w,
				     const lathe_rt_uk_epi *ep, int64_t m0, int64_t nch, int64_t XSC,
				     int64_t WSC, int64_t YSC)
{
	for (int64_t c = 0; c < nch; c++)
		uk_avx512_dw3_one(y + c * YSC, OH, OW, x + c * XSC, H, W, XSH, SH, hoff, nkh, off0,
				  w + c * WSC, ep, m0 + c, 1);
}

/* How many input rows ahead the stream of 3x3 stride-2 windows prefetches
 * the two rows it folds next (the band's own rows only): the conv output a
 * pool reads has mostly left the L2 cache by then. */
#ifndef UP_PFROWS
#define UP_PFROWS 4
#endif
/* Input row p's three columns under 16 outputs folded (ev, od, ev shifted
 * by one): FULL, all 33 columns inside the image (plain loads), else the
 * masks k0, k1, k2 (-inf outside). */
static inline __attribute__((always_inline)) UP_AVX512 __m512
uk_mx_fold(const float *p, int full, __mmask16 k0, __mmask16 k1, __mmask16 k2, __m512 ninf,
	   __m512i ie, __m512i io)
{
	__m512 lo = full ? _mm512_loadu_ps(p) : _mm512_mask_loadu_ps(ninf, k0, p);
	__m512 hi = full ? _mm512_loadu_ps(p + 16) : _mm512_mask_loadu_ps(ninf, k1, p + 16);
	__m512 nx = full ? _mm512_set1_ps(p[32]) : _mm512_mask_loadu_ps(ninf, k2, p + 32);
	__m512 ev = _mm512_permutex2var_ps(lo, ie, hi);
	__m512 od = _mm512_permutex2var_ps(lo, io, hi);
	__m512 e2 = _mm512_castsi512_ps(
		_mm512_alignr_epi32(_mm512_castps_si512(nx), _mm512_castps_si512(ev), 1));
	return UP_MAX512(UP_MAX512(ev, od), e2);
}

/* Input row h's fold (uk_mx_fold) at x0, the strip's first column of row
 * 0, rows rowb bytes apart; -inf for a row outside the image (its address
 * is never formed). */
static inline __attribute__((always_inline)) UP_AVX512 __m512
uk_mx_row(uintptr_t x0, uintptr_t rowb, int64_t h, int64_t H, int full, __mmask16 k0,
	  __mmask16 k1, __mmask16 k2, __m512 ninf, __m512i ie, __m512i io)
{
	if (h < 0 || h >= H)
		return ninf;
	return uk_mx_fold((const float *)(x0 + (uintptr_t)h * rowb), full, k0, k1, k2, ninf, ie, io);
}

/* One strip of 16 outputs (columns c0.. of the input) down all OH rows of
 * a 3-row, stride-2 window: each input row folded once, the window's last
 * row carried to the next output row as its first.  The max taken as
 * UP_MAX512 is associative (the last NaN, else the first of the largest),
 * so this grouping gives the bits of the (kh, kw) order. */
static inline __attribute__((always_inline)) UP_AVX512 void
uk_mx_strip(float *y, int64_t OH, int64_t OW, uintptr_t x0, uintptr_t rowb, int64_t H,
	    int64_t h0, int full, __mmask16 k0, __mmask16 k1, __mmask16 k2, __mmask16 ks,
	    __m512 ninf, __m512i ie, __m512i io)
{
	__m512 c = uk_mx_row(x0, rowb, h0, H, full, k0, k1, k2, ninf, ie, io);
	for (int64_t oh = 0; oh < OH; oh++, h0 += 2) {
		if (UP_PFROWS && oh + UP_PFROWS / 2 < OH)
			for (int r = 1; r <= 2; r++) {
				uintptr_t pf = x0 + (uintptr_t)(h0 + UP_PFROWS + r) * rowb;
				_mm_prefetch((const char *)pf, _MM_HINT_T0);
				_mm_prefetch((const char *)(pf + 64), _MM_HINT_T0);
				_mm_prefetch((const char *)(pf + 128), _MM_HINT_T0);
			}
		__m512 r = uk_mx_row(x0, rowb, h0 + 1, H, full, k0, k1, k2, ninf, ie, io);
		__m512 t = uk_mx_row(x0, rowb, h0 + 2, H, full, k0, k1, k2, ninf, ie, io);
		__m512 acc = UP_MAX512(UP_MAX512(c, r), t);
		c = t;
		if (ks == 0xFFFF)
			_mm512_storeu_ps(y + oh * OW, acc);
		else
			_mm512_mask_storeu_ps(y + oh * OW, ks, acc);
	}
}

/* Three adjacent columns, stride 2 (the commonest pooling): one row's 33
 * input columns under 16 outputs are loaded once (-inf outside the
 * image), and the taps are their even columns, their odd ones and the
 * even ones shifted by one. */
static UP_AVX512 void uk_avx512_max3s2(float *y, int64_t OH, int64_t OW, const float *x,
				       int64_t H, int64_t W, int64_t XSH, int64_t SH,
				       const int64_t *hoff, int nkh, int64_t off0)
{
	const __m512 ninf = _mm512_set1_ps(-INFINITY);
	const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
	int stream = nkh == 3 && SH == 2 && hoff[1] == hoff[0] + 1 && hoff[2] == hoff[0] + 2;
	/* Strips of 16 outputs down all rows: the strip's masks stay in
	 * registers, and strips whose 33 columns are all inside the image (all
	 * but the edges') load without them. */
	uintptr_t rowb = (uintptr_t)XSH * sizeof(float);
	for (int64_t o = 0; o < OW; o += 16) {
		int64_t c0 = 2 * o + off0;
		__mmask16 k0 = uk_range16(c0, W), k1 = uk_range16(c0 + 16, W);
		__mmask16 k2 = uk_range16(c0 + 32, W) & 1, ks = uk_range16(o, OW);
		uintptr_t x0 = (uintptr_t)x + (uintptr_t)(c0 * 4);
		int full = c0 >= 0 && c0 + 33 <= W;
		if (stream && full)
			uk_mx_strip(y + o, OH, OW, x0, rowb, H, hoff[0], 1, k0, k1, k2, ks, ninf, ie,
				    io);
		else if (stream)
			uk_mx_strip(y + o, OH, OW, x0, rowb, H, hoff[0], 0, k0, k1, k2, ks, ninf, ie,
				    io);
		else /* window by window (rows not one apart, or stride 1 down) */
			for (int64_t oh = 0; oh < OH; oh++) {
				__m512 acc = ninf;
				for (int kh = 0; kh < nkh; kh++)
					acc = UP_MAX512(acc, uk_mx_row(x0, rowb, oh * SH + hoff[kh], H,
								       full, k0, k1, k2, ninf, ie, io));
				_mm512_mask_storeu_ps(y + oh * OW + o, ks, acc);
			}
	}
}

static UP_AVX512 void uk_avx512_maxplane(float *y, int64_t OH, int64_t OW, const float *x,
					 int64_t H, int64_t W, int64_t XSH, int64_t SH,
					 const int64_t *hoff, int nkh, int64_t SW,
					 const int64_t *off, int nkw)
{
	const __m512 ninf = _mm512_set1_ps(-INFINITY);
	const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	__mmask16 ka[64][4], kb[64][4];
	int64_t cb[64];
	if (nkw > 64 || (SW != 1 && SW != 2))
		return;
	if (SW == 2 && nkw == 3 && off[1] == off[0] + 1 && off[2] == off[0] + 2) {
		uk_avx512_max3s2(y, OH, OW, x, H, W, XSH, SH, hoff, nkh, off[0]);
		return;
	}
	for (int64_t o = 0; o < OW; o += 64) {
		int nv = OW - o >= 64 ? 4 : (int)((OW - o + 15) / 16);
		for (int kw = 0; kw < nkw; kw++) {
			cb[kw] = o * SW + off[kw];
			for (int q = 0; q < nv; q++) {
				/* input columns from c0 on: inside [0, W), and under
				 * outputs below OW */
				int64_t ob = o + 16 * q, c0 = ob * SW + off[kw];
				int64_t nout = OW - ob < 16 ? OW - ob : 16, cend = c0 + SW * nout;
				ka[kw][q] = uk_range16(c0, W < cend ? W : cend);
				kb[kw][q] = uk_range16(c0 + 16, W < cend ? W : cend);
			}
		}
		for (int64_t oh = 0; oh < OH; oh++) {
			__m512 a0 = ninf, a1 = ninf, a2 = ninf, a3 = ninf;
			for (int kh = 0; kh < nkh; kh++) {
				int64_t h = oh * SH + hoff[kh];
				if (h < 0 || h >= H)
					continue;
				uintptr_t base = (uintptr_t)(x + h * XSH);
				for (int kw = 0; kw < nkw; kw++) {
					UK_MP_TAP(0, a0)
					UK_MP_TAP(1, a1)
					UK_MP_TAP(2, a2)
					UK_MP_TAP(3, a3)
				}
			}
			__m512 acc[4] = {a0, a1, a2, a3};
			float *yr = y + oh * OW;
			for (int q = 0; q < nv; q++) {
				int64_t ob = o + 16 * q;
				if (OW - ob >= 16)
					_mm512_storeu_ps(yr + ob, acc[q]);
				else
					_mm512_mask_storeu_ps(yr + ob, uk_range16(ob, OW), acc[q]);
			}
		}
	}
}

/* 32 values at a time into their even and odd halves. */
static UP_AVX512 void uk_avx512_deint(float *even, float *odd, const float *src, int64_t n)
{
	const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		__m512 a = _mm512_loadu_ps(src + i), b = _mm512_loadu_ps(src + i + 16);
		_mm512_storeu_ps(even + i / 2, _mm512_permutex2var_ps(a, ie, b));
		_mm512_storeu_ps(odd + i / 2, _mm512_permutex2var_ps(a, io, b));
	}
	if (i < n) { /* the last 1 to 31, masked */
		int64_t r = n - i;
		__mmask16 ka = (__mmask16)(r >= 16 ? 0xFFFFu : (1u << r) - 1);
		__mmask16 kb = (__mmask16)(r > 16 ? (1u << (r - 16)) - 1 : 0);
		__m512 a = _mm512_maskz_loadu_ps(ka, src + i);
		__m512 b = _mm512_maskz_loadu_ps(kb, src + i + 16);
		_mm512_mask_storeu_ps(even + i / 2, (__mmask16)((1u << ((r + 1) / 2)) - 1),
				      _mm512_permutex2var_ps(a, ie, b));
		_mm512_mask_storeu_ps(odd + i / 2, (__mmask16)((1u << (r / 2)) - 1),
				      _mm512_permutex2var_ps(a, io, b));
	}
}

static int up_has_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
}
#endif

/* ---- dispatch -------------------------------------------------------------------- */

LATHE_RT_UK_API lathe_rt_uk_taps_fn lathe_rt_uk_taps_kernel(void)
{
#if UP_X86
	if (up_has_avx512())
		return uk_avx512_taps;
#endif
	return uk_gen_taps;
}

LATHE_RT_UK_API lathe_rt_uk_dwflat_fn lathe_rt_uk_dwflat_kernel(void)
{
#if UP_X86
	if (up_has_avx512())
		return uk_avx512_dwflat;
#endif
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_dw3s2_fn lathe_rt_uk_dw3s2_kernel(void)
{
#if UP_X86
	if (up_has_avx512())
		return uk_avx512_dw3s2;
#endif
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_dw3s2_fn lathe_rt_uk_dw3s1_kernel(void)
{
#if UP_X86
	if (up_has_avx512())
		return uk_avx512_dw3s1;
#endif
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_maxplane_fn lathe_rt_uk_maxplane_kernel(void)
{
#if UP_X86
	if (up_has_avx512())
		return uk_avx512_maxplane;
#endif
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_deint_fn lathe_rt_uk_deint_kernel(void)
{
#if UP_X86
	if (up_has_avx512())
		return uk_avx512_deint;
#endif
	return uk_gen_deint;
}
