/* ukernel_isa.c: sgemm's register-tile kernels and its row copies, one
 * family per instruction set, chosen at run time from what the CPU has.
 *
 * A tile kernel keeps ROWS x NR sums in vector registers and, for each k,
 * loads NR values of the packed B panel, broadcasts ROWS values of the
 * packed A panel, and does ROWS * NR/L fused multiply-adds: no load or
 * store of C inside the k loop.  The shapes fit the register files: with
 * AVX-512 (32 registers of 16 floats) a 12 x 32 tile is 24 accumulators;
 * with AVX2 (16 of 8) 6 x 16 is 12; the portable family (16-byte vectors,
 * no FMA) 4 x 16.  Each family has kernels of fewer rows for the last
 * panel of a matrix whose height is not a multiple of MR.  After the last
 * K block the epilogue (bias, residual, ReLU...) is applied to the sums
 * while they are still in registers, so C is written once.  A partial tile
 * goes through a small buffer (no kernel reads or writes past the edge of
 * C) and gets its epilogue row by row.
 *
 * The x86 families are compiled with target attributes, so the runtime
 * (and a standalone bundle) builds with plain `cc -O2` and still uses
 * AVX-512 where it runs; a CPU without them gets the portable family.  A
 * family computes every sum in the same order on every path, so a given
 * CPU always gives the same bits, whatever the thread count.  max and min
 * follow the loop IR: NaN when either operand is NaN.  libc only.
 */
#include <math.h>
#include <string.h>

#include "lathe_rt_ukernel.h"

/* LATHE_UK_PORTABLE: the portable family only (a bundle that must not
 * carry x86 target attributes, and the tests of that family). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
	!defined(LATHE_UK_PORTABLE)
#define UK_X86 1
#include <immintrin.h>
#else
#define UK_X86 0
#endif

typedef float uk_v4 __attribute__((vector_size(16)));
typedef float uk_v4u __attribute__((vector_size(16), aligned(4)));
typedef int32_t uk_i4 __attribute__((vector_size(16)));

#define UK_SPLAT4(x) ((uk_v4){(x), (x), (x), (x)})
#define UK_SPLAT8(x) ((uk_v8){(x), (x), (x), (x), (x), (x), (x), (x)})
#define UK_SPLAT16(x) ((uk_v16){(x), (x), (x), (x), (x), (x), (x), (x), \
				(x), (x), (x), (x), (x), (x), (x), (x)})

/* max / min of vectors x, y (NaN if either lane is NaN), as VI bit masks. */
#define UK_VSEL(VI, V, m, a, b) ((V)(((VI)(a) & (m)) | ((VI)(b) & ~(m))))
#define UK_VMAXMIN(V, VI, SPLAT, x, y, gt)                                              \
	({                                                                              \
		V x_ = (x), y_ = (y);                                                   \
		VI pick_ = (gt) ? (VI)(y_ > x_) : (VI)(y_ < x_);                        \
		VI nan_ = (VI)(x_ != x_) | (VI)(y_ != y_);                              \
		V r_ = UK_VSEL(VI, V, pick_, y_, x_);                                   \
		UK_VSEL(VI, V, nan_, SPLAT(NAN), r_);                                   \
	})

/* One kernel: ROWS x (NV*L) sums, A panels of MR rows, into c (full
 * tile); B's row k starts at b + k*NR when PACKED, else at b + boff[k]. */
/* How far ahead (floats) the k loop prefetches the packed A: some 80 k
 * steps of a 12-row panel, into the next panel near its end.  Weights too
 * big for the caches (a model's later layers) stream from memory at the
 * rate the FMAs use them instead of stalling on each new line. */
#ifndef UK_PFA
#define UK_PFA 1024
#endif
/* The same for a B panel of weights (the transposed tile): 64 k ahead. */
#ifndef UK_PFB
#define UK_PFB 2048
#endif
#define UK_BPACKED 1
#define UK_BROWS 0
/* One operator of the in-register epilogue, for splat and vector operands
 * in both orders: the tile's element op operand (EXPR). */
#define UK_XV(VU, L) (*(const VU *)(v + (m0 + i) * sm + n0 + j * L))
#define UK_EPI_CASE(K, EXPR, ROWS, NV)                                                         \
	case K:                                                                                \
		_Pragma("GCC unroll 16") for (int i = 0; i < (ROWS); i++)                       \
			_Pragma("GCC unroll 4") for (int j = 0; j < (NV); j++) acc[i][j] = (EXPR); \
		break;
#define UK_EPI_CASES(OP, SPLAT_T, VEC_T, SPLAT_R, VEC_R, ROWS, NV)                             \
	UK_EPI_CASE((OP) * 4 + 0, SPLAT_T, ROWS, NV)                                           \
	UK_EPI_CASE((OP) * 4 + 2, VEC_T, ROWS, NV)                                             \
	UK_EPI_CASE((OP) * 4 + 1, SPLAT_R, ROWS, NV)                                           \
	UK_EPI_CASE((OP) * 4 + 3, VEC_R, ROWS, NV)

#define UK_KERNEL(NAME, ATTR, V, VU, VI, L, NV, ROWS, MR, FMA, SPLAT, PACKED, MAXF, MINF)      \
	UK_KERNEL_PF(NAME, ATTR, V, VU, VI, L, NV, ROWS, MR, FMA, SPLAT, PACKED, MAXF, MINF, 0)
/* PFB: prefetch B's panel (two lines per k) rather than A's: the
 * transposed tile, whose B side is the weights. */
#define UK_KERNEL_PF(NAME, ATTR, V, VU, VI, L, NV, ROWS, MR, FMA, SPLAT, PACKED, MAXF, MINF, PFB) \
	static ATTR void NAME(int64_t kc, const float *a, const float *b, const int64_t *boff,  \
			      float *c, int64_t ldc, int accumulate, const lathe_rt_uk_epi *ep, \
			      int64_t m0, int64_t n0)                                           \
	{                                                                                       \
		V acc[ROWS][NV];                                                                \
		_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++)                         \
			_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                    \
				acc[i][j] = (V){0};                                             \
		for (int64_t k = 0; k < kc; k++) {                                              \
			V bv[NV];                                                               \
			const float *bk = (PACKED) ? b + k * (NV * L) : b + boff[k];            \
			_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                    \
				bv[j] = *(const VU *)(bk + j * L);                              \
			const float *ak = a + k * (MR);                                          \
			if (PFB) {                                                              \
				__builtin_prefetch(bk + UK_PFB, 0, 3);                          \
				__builtin_prefetch(bk + UK_PFB + 16, 0, 3);                     \
			} else {                                                                \
				__builtin_prefetch(ak + UK_PFA, 0, 3);                          \
			}                                                                       \
			_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++) {               \
				V ai = SPLAT(ak[i]);                                            \
				_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)            \
					acc[i][j] = FMA(ai, bv[j], acc[i][j]);                  \
			}                                                                       \
		}                                                                               \
		if (accumulate)                                                                 \
			_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++)                 \
				_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)            \
					acc[i][j] = acc[i][j] + *(const VU *)(c + i * ldc + j * L); \
		for (int e = 0; ep && e < ep->n; e++) {                                         \
			const float *v = ep->v[e];                                              \
			int64_t sm = ep->sm[e];                                                 \
			int byn = v && ep->sn[e], rev = ep->rev[e];                             \
			V xs[ROWS];                                                             \
			_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++)                 \
				xs[i] = SPLAT(v ? v[(m0 + i) * sm] : ep->f[e]);                 \
			switch (ep->op[e] * 4 + byn * 2 + rev) {                                \
			UK_EPI_CASES(LATHE_UK_OP_ADD, acc[i][j] + xs[i], acc[i][j] + UK_XV(VU, L), \
				     xs[i] + acc[i][j], UK_XV(VU, L) + acc[i][j], ROWS, NV)     \
			UK_EPI_CASES(LATHE_UK_OP_MUL, acc[i][j] * xs[i], acc[i][j] * UK_XV(VU, L), \
				     xs[i] * acc[i][j], UK_XV(VU, L) * acc[i][j], ROWS, NV)     \
			UK_EPI_CASES(LATHE_UK_OP_MAX, MAXF(acc[i][j], xs[i]),                   \
				     MAXF(acc[i][j], UK_XV(VU, L)), MAXF(xs[i], acc[i][j]),     \
				     MAXF(UK_XV(VU, L), acc[i][j]), ROWS, NV)                   \
			UK_EPI_CASES(LATHE_UK_OP_MIN, MINF(acc[i][j], xs[i]),                   \
				     MINF(acc[i][j], UK_XV(VU, L)), MINF(xs[i], acc[i][j]),     \
				     MINF(UK_XV(VU, L), acc[i][j]), ROWS, NV)                   \
			}                                                                       \
		}                                                                               \
		_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++)                         \
			_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                    \
				*(VU *)(c + i * ldc + j * L) = acc[i][j];                       \
	}

/* The tile entry of a family: full tiles straight into C (in-register
 * epilogue when its operands are contiguous along n), the rest through a
 * buffer, with the epilogue applied row by row afterwards.  Kn: kernels of
 * rows MR, R2, R3 for packed B; Kni the same reading rows in place. */
/* The longest K a partial tile of at most NR/2 columns takes the half-width
 * kernel for (its row offsets go on the stack). */
enum { UK_HALF_KMAX = 512 };
#define UK_TILE(NAME, ATTR, MR, NR, R2, R3, K1, K2, K3, K1i, K2i, K3i)                         \
	UK_TILE_H(NAME, ATTR, MR, NR, R2, R3, K1, K2, K3, K1i, K2i, K3i, K1i, 0)
/* HALF (when HAS_HALF): an MR x NR/2 kernel reading B's rows at offsets,
 * for partial tiles of at most NR/2 columns (a matrix's last panel). */
#define UK_TILE_H(NAME, ATTR, MR, NR, R2, R3, K1, K2, K3, K1i, K2i, K3i, HALF, HAS_HALF)       \
	static ATTR void NAME(int64_t kc, const float *a, const float *b, const int64_t *boff,  \
			      float *c, int64_t ldc, int m, int n, int accumulate,              \
			      const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0)                \
	{                                                                                       \
		if (n == (NR) && (!ep || (ep->unit && ep->simple))) {                          \
			if (m == (MR)) {                                                        \
				(boff ? K1i : K1)(kc, a, b, boff, c, ldc, accumulate, ep, m0, n0); \
				return;                                                         \
			}                                                                       \
			if (m == (R2)) {                                                        \
				(boff ? K2i : K2)(kc, a, b, boff, c, ldc, accumulate, ep, m0, n0); \
				return;                                                         \
			}                                                                       \
			if (m == (R3)) {                                                        \
				(boff ? K3i : K3)(kc, a, b, boff, c, ldc, accumulate, ep, m0, n0); \
				return;                                                         \
			}                                                                       \
		}                                                                               \
		float t[(MR) * (NR)] __attribute__((aligned(64)));                              \
		memset(t, 0, sizeof t);                                                         \
		if (accumulate)                                                                 \
			for (int i = 0; i < m; i++)                                             \
				memcpy(t + i * (NR), c + i * ldc, sizeof(float) * (size_t)n);   \
		if ((HAS_HALF) && n <= (NR) / 2 && kc <= UK_HALF_KMAX) {                        \
			int64_t hoff[UK_HALF_KMAX];                                             \
			for (int64_t k = 0; k < kc; k++)                                        \
				hoff[k] = boff ? boff[k] : k * (NR);                            \
			HALF(kc, a, b, hoff, t, (NR), 1, NULL, 0, 0);                           \
		} else if (m <= (R3))                                                           \
			(boff ? K3i : K3)(kc, a, b, boff, t, (NR), 1, NULL, 0, 0);              \
		else if (m <= (R2))                                                             \
			(boff ? K2i : K2)(kc, a, b, boff, t, (NR), 1, NULL, 0, 0);              \
		else                                                                            \
			(boff ? K1i : K1)(kc, a, b, boff, t, (NR), 1, NULL, 0, 0);              \
		for (int i = 0; i < m; i++)                                                     \
			memcpy(c + i * ldc, t + i * (NR), sizeof(float) * (size_t)n);           \
		if (ep)                                                                         \
			lathe_rt_uk_epi_rows(ep, c, ldc, m, n, m0, n0);                         \
	}

/* ---- portable: 16-byte vectors, multiply then add ------------------------------- */

#define UK_MULADD(a, b, c) ((a) * (b) + (c))
#define UK_GMAX(a, b) UK_VMAXMIN(uk_v4, uk_i4, UK_SPLAT4, a, b, 1)
#define UK_GMIN(a, b) UK_VMAXMIN(uk_v4, uk_i4, UK_SPLAT4, a, b, 0)
UK_KERNEL(uk_gen_4, , uk_v4, uk_v4u, uk_i4, 4, 4, 4, 4, UK_MULADD, UK_SPLAT4, UK_BPACKED, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_2, , uk_v4, uk_v4u, uk_i4, 4, 4, 2, 4, UK_MULADD, UK_SPLAT4, UK_BPACKED, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_1, , uk_v4, uk_v4u, uk_i4, 4, 4, 1, 4, UK_MULADD, UK_SPLAT4, UK_BPACKED, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_4i, , uk_v4, uk_v4u, uk_i4, 4, 4, 4, 4, UK_MULADD, UK_SPLAT4, UK_BROWS, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_2i, , uk_v4, uk_v4u, uk_i4, 4, 4, 2, 4, UK_MULADD, UK_SPLAT4, UK_BROWS, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_1i, , uk_v4, uk_v4u, uk_i4, 4, 4, 1, 4, UK_MULADD, UK_SPLAT4, UK_BROWS, UK_GMAX, UK_GMIN)
UK_TILE(uk_gen_tile, , 4, 16, 2, 1, uk_gen_4, uk_gen_2, uk_gen_1, uk_gen_4i, uk_gen_2i,
	uk_gen_1i)

/* Any other shape (a module packed for another CPU): plain loops, in the
 * portable family's order of operations. */
LATHE_RT_UK_API void lathe_rt_uk_any_tile(int mr, int nr, int64_t kc, const float *a,
					  const float *b, const int64_t *boff, float *c, int64_t ldc,
					  int m, int n, int accumulate, const lathe_rt_uk_epi *ep,
					  int64_t m0, int64_t n0)
{
	for (int i = 0; i < m; i++) {
		for (int j = 0; j < n; j++) {
			float s = 0;
			for (int64_t k = 0; k < kc; k++)
				s = a[k * mr + i] * b[(boff ? boff[k] : k * nr) + j] + s;
			c[i * ldc + j] = accumulate ? s + c[i * ldc + j] : s;
		}
	}
	if (ep)
		lathe_rt_uk_epi_rows(ep, c, ldc, m, n, m0, n0);
}

/* The portable panel of rows. */
static void uk_gen_panel(float *dst, const float *src, const int64_t *off, int64_t kc, int nr,
			 int cols)
{
	for (int64_t k = 0; k < kc; k++) {
		const float *s = src + off[k];
		float *d = dst + k * nr;
		for (int j = 0; j < cols; j++)
			d[j] = s[j];
		for (int j = cols; j < nr; j++)
			d[j] = 0;
	}
}

/* The portable row copy. */
static void uk_gen_copy(float *dst, const float *row, int64_t w, int64_t len, int64_t W)
{
	int64_t lo = w < 0 ? -w : 0, hi = W - w;
	if (lo > len)
		lo = len;
	if (hi > len)
		hi = len;
	if (hi < lo)
		hi = lo;
	memset(dst, 0, sizeof(float) * (size_t)lo);
	int64_t j = lo;
	for (; j + 4 <= hi; j += 4)
		*(uk_v4u *)(dst + j) = *(const uk_v4u *)(row + w + j);
	for (; j < hi; j++)
		dst[j] = row[w + j];
	memset(dst + hi, 0, sizeof(float) * (size_t)(len - hi));
}

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

static void uk_gen_untrans(float *c, int64_t ldc, const float *t, int64_t ldt, int64_t m,
			   int64_t n, const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0)
{
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++)
			c[i * ldc + j] = t[j * ldt + i];
	if (ep)
		lathe_rt_uk_epi_rows(ep, c, ldc, m, n, m0, n0);
}

static void uk_gen_deint(float *even, float *odd, const float *src, int64_t n)
{
	for (int64_t i = 0; 2 * i < n; i++) {
		even[i] = src[2 * i];
		if (2 * i + 1 < n)
			odd[i] = src[2 * i + 1];
	}
}

/* ---- x86: AVX2 + FMA, AVX-512 ----------------------------------------------------- */

#if UK_X86
typedef float uk_v8 __attribute__((vector_size(32)));
typedef float uk_v8u __attribute__((vector_size(32), aligned(4)));
typedef int32_t uk_i8 __attribute__((vector_size(32)));
typedef float uk_v16 __attribute__((vector_size(64)));
typedef float uk_v16u __attribute__((vector_size(64), aligned(4)));
typedef int32_t uk_i16 __attribute__((vector_size(64)));

#define UK_AVX2 __attribute__((target("avx2,fma")))
#define UK_FMA8(a, b, c) ((uk_v8)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
/* IR max(a, b) = (b > a ? b : a), NaN if either is: x86's max(b, a), with
 * a NaN b put back (x86 returns its second operand when either is NaN). */
#define UK_MAX8(a, b) ((uk_v8)_mm256_blendv_ps(_mm256_max_ps((__m256)(b), (__m256)(a)), (__m256)(b), \
					      _mm256_cmp_ps((__m256)(b), (__m256)(b), _CMP_UNORD_Q)))
#define UK_MIN8(a, b) ((uk_v8)_mm256_blendv_ps(_mm256_min_ps((__m256)(b), (__m256)(a)), (__m256)(b), \
					      _mm256_cmp_ps((__m256)(b), (__m256)(b), _CMP_UNORD_Q)))
UK_KERNEL(uk_avx2_6, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 6, 6, UK_FMA8, UK_SPLAT8, UK_BPACKED, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_4, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 4, 6, UK_FMA8, UK_SPLAT8, UK_BPACKED, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_2, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 2, 6, UK_FMA8, UK_SPLAT8, UK_BPACKED, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_6i, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 6, 6, UK_FMA8, UK_SPLAT8, UK_BROWS, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_4i, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 4, 6, UK_FMA8, UK_SPLAT8, UK_BROWS, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_2i, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 2, 6, UK_FMA8, UK_SPLAT8, UK_BROWS, UK_MAX8, UK_MIN8)
UK_TILE(uk_avx2_tile, UK_AVX2, 6, 16, 4, 2, uk_avx2_6, uk_avx2_4, uk_avx2_2, uk_avx2_6i,
	uk_avx2_4i, uk_avx2_2i)

#define UK_AVX512 __attribute__((target("avx512f")))
#define UK_FMA16(a, b, c) ((uk_v16)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define UK_MAX16(a, b) ((uk_v16)_mm512_mask_mov_ps(_mm512_max_ps((__m512)(b), (__m512)(a)),     \
					 _mm512_cmp_ps_mask((__m512)(b), (__m512)(b), _CMP_UNORD_Q), \
					 (__m512)(b)))
#define UK_MIN16(a, b) ((uk_v16)_mm512_mask_mov_ps(_mm512_min_ps((__m512)(b), (__m512)(a)),     \
					 _mm512_cmp_ps_mask((__m512)(b), (__m512)(b), _CMP_UNORD_Q), \
					 (__m512)(b)))
/* ROWS x NV vectors, A panels of 12 rows. */
#define UK_K512V(NAME, NV, ROWS, PACKED)                                                     \
	UK_KERNEL(NAME, UK_AVX512, uk_v16, uk_v16u, uk_i16, 16, NV, ROWS, 12, UK_FMA16,         \
		  UK_SPLAT16, PACKED, UK_MAX16, UK_MIN16)
#define UK_K512(NAME, ROWS, PACKED) UK_K512V(NAME, 2, ROWS, PACKED)
UK_K512(uk_avx512_12, 12, UK_BPACKED)
UK_K512(uk_avx512_8, 8, UK_BPACKED)
UK_K512(uk_avx512_4, 4, UK_BPACKED)
UK_K512(uk_avx512_12i, 12, UK_BROWS)
UK_K512(uk_avx512_8i, 8, UK_BROWS)
UK_K512(uk_avx512_4i, 4, UK_BROWS)
/* Half as wide (12 x 16): for products with few columns (the Winograd
 * convolution's blocks of 16 tiles), and for the 12 x 32 tile's partial
 * tiles of at most 16 columns (half the multiply-adds of a full one). */
#define UK_K512H(NAME, ROWS, PACKED) UK_K512V(NAME, 1, ROWS, PACKED)
UK_K512H(uk_avx512_h12, 12, UK_BPACKED)
UK_K512H(uk_avx512_h8, 8, UK_BPACKED)
UK_K512H(uk_avx512_h4, 4, UK_BPACKED)
UK_K512H(uk_avx512_h12i, 12, UK_BROWS)
UK_K512H(uk_avx512_h8i, 8, UK_BROWS)
UK_K512H(uk_avx512_h4i, 4, UK_BROWS)
UK_TILE(uk_avx512_tile_h, UK_AVX512, 12, 16, 8, 4, uk_avx512_h12, uk_avx512_h8, uk_avx512_h4,
	uk_avx512_h12i, uk_avx512_h8i, uk_avx512_h4i)
UK_TILE_H(uk_avx512_tile, UK_AVX512, 12, 32, 8, 4, uk_avx512_12, uk_avx512_8, uk_avx512_4,
	  uk_avx512_12i, uk_avx512_8i, uk_avx512_4i, uk_avx512_h12i, 1)
/* The same tile prefetching B's panel rather than A's: for a B of weights
 * packed at compile time and an A of activations packed per call (a
 * transformer's Linear: A is hot in the caches, B comes from memory, and
 * a row panel's tiles walk B's panels in order, so 64 k ahead runs into
 * the next panel). */
#define UK_K512B(NAME, ROWS)                                                                 \
	UK_KERNEL_PF(NAME, UK_AVX512, uk_v16, uk_v16u, uk_i16, 16, 2, ROWS, 12, UK_FMA16,       \
		     UK_SPLAT16, UK_BPACKED, UK_MAX16, UK_MIN16, 1)
UK_K512B(uk_avx512_12b, 12)
UK_K512B(uk_avx512_8b, 8)
UK_K512B(uk_avx512_4b, 4)
UK_TILE_H(uk_avx512_tile_b, UK_AVX512, 12, 32, 8, 4, uk_avx512_12b, uk_avx512_8b, uk_avx512_4b,
	  uk_avx512_12i, uk_avx512_8i, uk_avx512_4i, uk_avx512_h12i, 1)

/* The transposed tile (sgemm's 32 x 14): 14 rows of C^T by 32 columns, 28
 * accumulators, two loads of the 32-wide panel and 14 broadcasts per k;
 * 7 rows for a last panel of 7 columns of C (a 7x7 image).  Only full
 * tiles without an epilogue come here (sgemm's only use); rows past m
 * are computed from whatever the panel holds there (uk_pack_planes
 * repeats its first column) into c, which has room; they are never
 * copied to C. */
UK_KERNEL_PF(uk_avx512_t14, UK_AVX512, uk_v16, uk_v16u, uk_i16, 16, 2, 14, 14, UK_FMA16,
	     UK_SPLAT16, UK_BPACKED, UK_MAX16, UK_MIN16, 1)
UK_KERNEL_PF(uk_avx512_t7, UK_AVX512, uk_v16, uk_v16u, uk_i16, 16, 2, 7, 14, UK_FMA16,
	     UK_SPLAT16, UK_BPACKED, UK_MAX16, UK_MIN16, 1)
static UK_AVX512 void uk_avx512_tile_t(int64_t kc, const float *a, const float *b,
				       const int64_t *boff, float *c, int64_t ldc, int m, int n,
				       int accumulate, const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0)
{
	if (m > 7 && m <= 14 && n == 32 && !boff && !ep)
		uk_avx512_t14(kc, a, b, NULL, c, ldc, accumulate, NULL, 0, 0);
	else if (m >= 1 && m <= 7 && n == 32 && !boff && !ep)
		uk_avx512_t7(kc, a, b, NULL, c, ldc, accumulate, NULL, 0, 0);
	else
		lathe_rt_uk_any_tile(14, 32, kc, a, b, boff, c, ldc, m, n, accumulate, ep, m0, n0);
}

/* The row copy with masked loads: lanes outside [0, W) are never read. */
static UK_AVX512 void uk_avx512_copy(float *dst, const float *row, int64_t w, int64_t len,
				     int64_t W)
{
	for (int64_t j = 0; j < len; j += 16) {
		int64_t lo = -(w + j), hi = W - (w + j), n = len - j;
		if (lo < 0)
			lo = 0;
		if (hi > 16)
			hi = 16;
		if (n > 16)
			n = 16;
		uint32_t keep = n >= 16 ? 0xFFFFu : (1u << n) - 1;
		uint32_t in = hi <= lo ? 0 : (hi >= 16 ? 0xFFFFu : (1u << hi) - 1) & ~((1u << lo) - 1);
		__m512 v = in == 0xFFFFu ? _mm512_loadu_ps(row + w + j)
			   : in ? _mm512_maskz_loadu_ps((__mmask16)in, row + w + j) : _mm512_setzero_ps();
		if (keep == 0xFFFFu)
			_mm512_storeu_ps(dst + j, v);
		else
			_mm512_mask_storeu_ps(dst + j, (__mmask16)keep, v);
	}
}

/* A panel of rows: up to four vectors per row, their masks (the columns
 * read, the lanes written) worked out once for all the rows. */
static UK_AVX512 void uk_avx512_panel(float *dst, const float *src, const int64_t *off,
				      int64_t kc, int nr, int cols)
{
	__mmask16 rd[4], wr[4];
	int nv = (nr + 15) / 16;
	if (nr > 64) {
		uk_gen_panel(dst, src, off, kc, nr, cols);
		return;
	}
	for (int v = 0; v < 4; v++) {
		int r = cols - 16 * v, w = nr - 16 * v;
		rd[v] = (__mmask16)(r >= 16 ? 0xFFFFu : r > 0 ? (1u << r) - 1 : 0);
		wr[v] = (__mmask16)(w >= 16 ? 0xFFFFu : w > 0 ? (1u << w) - 1 : 0);
	}
	for (int64_t k = 0; k < kc; k++) {
		const float *s = src + off[k];
		float *d = dst + k * nr;
		for (int v = 0; v < nv; v++)
			_mm512_mask_storeu_ps(d + 16 * v, wr[v],
					      _mm512_maskz_loadu_ps(rd[v], s + 16 * v));
	}
}

/* max and min as the loop IR defines them, from x86's (which return their
 * second operand when either is NaN): IR max(a, b) = (b > a ? b : a), NaN
 * if either is, which is maxps(b, a) once a NaN b is put back. */
#define UK_MAX512(a, b) \
	_mm512_mask_mov_ps(_mm512_max_ps((b), (a)), _mm512_cmp_ps_mask((b), (b), _CMP_UNORD_Q), (b))
#define UK_MIN512(a, b) \
	_mm512_mask_mov_ps(_mm512_min_ps((b), (a)), _mm512_cmp_ps_mask((b), (b), _CMP_UNORD_Q), (b))

/* erf in single precision, within 3 units in the last place of the
 * correctly rounded value (the loop IR rounds erf computed in double):
 * |x| (at most 4, where erf rounds to 1) falls in one of 16 intervals of
 * 0.25, and a degree-5 polynomial in |x| less the interval's middle (less
 * 0 for the first, whose constant term is 0) gives erf(|x|); the sign of x
 * goes on last.  The interval's coefficients come from tables of 16 by
 * permutes (one instruction each), so the cost is one polynomial, not the
 * two of a split at 1.  Coefficients fitted for this file (least squares
 * on Chebyshev nodes, relative error); NaN stays NaN, -0 stays -0. */
static UK_AVX512 __m512 uk_avx512_erf(__m512 x)
{
	static const float mid[16] = {
		0.000000000e+00f, 3.750000000e-01f, 6.250000000e-01f, 8.750000000e-01f,
		1.125000000e+00f, 1.375000000e+00f, 1.625000000e+00f, 1.875000000e+00f,
		2.125000000e+00f, 2.375000000e+00f, 2.625000000e+00f, 2.875000000e+00f,
		3.125000000e+00f, 3.375000000e+00f, 3.625000000e+00f, 3.875000000e+00f,
	};
	static const float c[6][16] = {
		{
			0.000000000e+00f, 4.041168988e-01f, 6.232408881e-01f, 7.840750813e-01f,
			8.883882165e-01f, 9.481700659e-01f, 9.784437418e-01f, 9.919900298e-01f,
			9.973459840e-01f, 9.992170334e-01f, 9.997946024e-01f, 9.999521375e-01f,
			9.999901056e-01f, 9.999982119e-01f, 9.999997020e-01f, 9.999999404e-01f,
		},
		{
			1.128379107e+00f, 9.803528786e-01f, 7.634995580e-01f, 5.247450471e-01f,
			3.182739615e-01f, 1.703597754e-01f, 8.047225326e-02f, 3.354582563e-02f,
			1.234081946e-02f, 4.006478004e-03f, 1.147875446e-03f, 2.902284905e-04f,
			6.475879491e-05f, 1.275178420e-05f, 2.215933591e-06f, 3.398257888e-07f,
		},
		{
			6.623939953e-06f, -3.676255047e-01f, -4.771815240e-01f, -4.591504931e-01f,
			-3.580603302e-01f, -2.342477292e-01f, -1.307694018e-01f, -6.289900094e-02f,
			-2.622399665e-02f, -9.514957666e-03f, -3.012862755e-03f, -8.342487854e-04f,
			-2.023081906e-04f, -4.301677109e-05f, -8.027197509e-06f, -1.315549071e-06f,
		},
		{
			-3.763250411e-01f, -2.348940670e-01f, -5.568264425e-02f, 9.291854501e-02f,
			1.624511182e-01f, 1.579386145e-01f, 1.148421243e-01f, 6.744217128e-02f,
			3.303780407e-02f, 1.373050734e-02f, 4.890280776e-03f, 1.502422849e-03f,
			3.999625624e-04f, 9.256094199e-05f, 1.866693674e-05f, 3.286748779e-06f,
		},
		{
			1.979193883e-03f, 1.654152572e-01f, 1.754921228e-01f, 1.121522710e-01f,
			2.833561599e-02f, -2.998203039e-02f, -4.938066006e-02f, -4.216289148e-02f,
			-2.640299685e-02f, -1.320606470e-02f, -5.467024632e-03f, -1.908581937e-03f,
			-5.682400079e-04f, -1.453486038e-04f, -3.210520299e-05f, -6.146805845e-06f,
		},
		{
			1.060353741e-01f, 4.629793018e-02f, -2.663394250e-02f, -6.665267795e-02f,
			-6.110409647e-02f, -3.067532927e-02f, -2.312931232e-03f, 1.132670324e-02f,
			1.244431641e-02f, 8.360683918e-03f, 4.236461129e-03f, 1.727730152e-03f,
			5.842723767e-04f, 1.665837044e-04f, 4.046075264e-05f, 8.430718481e-06f,
		},
	};
	/* min(4, |x|): a NaN |x| stays NaN (x86's min returns its second
	 * operand when either is NaN), and its index (cvtt gives INT_MIN)
	 * is 0 modulo 16 */
	__m512 ax = _mm512_min_ps(_mm512_set1_ps(4.0f), _mm512_abs_ps(x));
	__m512i i = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_mul_ps(ax, _mm512_set1_ps(4.0f))),
				     _mm512_set1_epi32(15));
	__m512 t = _mm512_sub_ps(ax, _mm512_permutexvar_ps(i, _mm512_loadu_ps(mid)));
	__m512 p = _mm512_permutexvar_ps(i, _mm512_loadu_ps(c[5]));
	for (int j = 4; j >= 0; j--)
		p = _mm512_fmadd_ps(p, t, _mm512_permutexvar_ps(i, _mm512_loadu_ps(c[j])));
	/* min(1, p) keeps a NaN p */
	p = _mm512_min_ps(_mm512_set1_ps(1.0f), p);
	return _mm512_castsi512_ps(_mm512_or_si512(
		_mm512_castps_si512(p),
		_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
}

/* An epilogue over rows of C, 16 columns at a time (masked at the end of a
 * row): each vector is loaded once, goes through every operation in
 * registers and is stored once (reloading what was just stored with a mask
 * would wait on the store).  Operands are resolved once per row.  Four
 * vectors at a time in the body of a row (one dispatch per operation
 * serves them; they are plain variables, so they stay in registers), one
 * at a time at its end. */
/* Operation e's second operand for the vector at column j (mask k). */
static inline __attribute__((always_inline)) UK_AVX512 __m512
uk_avx512_epi_y(const lathe_rt_uk_epi *ep, int e, const float *const *w, const __m512 *o,
		__m512 kept, int64_t j, int64_t n, __mmask16 k)
{
	if (ep->saved[e])
		return kept;
	if (!w[e])
		return o[e];
	if (ep->sn[e] == 1)
		return k == 0xFFFF ? _mm512_loadu_ps(w[e] + j) : _mm512_maskz_loadu_ps(k, w[e] + j);
	float t[16] = {0};
	for (int64_t u = 0; u < 16 && j + u < n; u++)
		t[u] = w[e][(j + u) * ep->sn[e]];
	return _mm512_loadu_ps(t);
}

/* x op y, or y op x when rev. */
static inline __attribute__((always_inline)) UK_AVX512 __m512 uk_avx512_epi_op(int op, int rev,
									      __m512 x, __m512 y)
{
	if (rev) {
		__m512 z = y;
		y = x;
		x = z;
	}
	switch (op) {
	case LATHE_UK_OP_ADD: return _mm512_add_ps(x, y);
	case LATHE_UK_OP_MUL: return _mm512_mul_ps(x, y);
	case LATHE_UK_OP_SUB: return _mm512_sub_ps(x, y);
	case LATHE_UK_OP_DIV: return _mm512_div_ps(x, y);
	case LATHE_UK_OP_MAX: return UK_MAX512(x, y);
	default: return UK_MIN512(x, y);
	}
}

static UK_AVX512 void uk_avx512_epi_rows(const lathe_rt_uk_epi *ep, float *c, int64_t ldc,
					 int64_t nrows, int64_t n, int64_t m0, int64_t n0)
{
	const float *w[LATHE_UK_EPI_MAX];
	__m512 o[LATHE_UK_EPI_MAX];
	int ne = ep->n;
	for (int64_t i = 0; i < nrows; i++) {
		float *r = c + i * ldc;
		int64_t m = m0 + i;
		for (int e = 0; e < ne; e++) {
			const float *v = ep->v[e];
			w[e] = v && ep->sn[e] ? v + m * ep->sm[e] + n0 * ep->sn[e] : NULL;
			o[e] = _mm512_set1_ps(v ? v[m * ep->sm[e]] : ep->f[e]);
		}
		int64_t j = 0;
		for (; j + 64 <= n; j += 64) {
			__m512 x0 = _mm512_loadu_ps(r + j), x1 = _mm512_loadu_ps(r + j + 16);
			__m512 x2 = _mm512_loadu_ps(r + j + 32), x3 = _mm512_loadu_ps(r + j + 48);
			__m512 k0 = _mm512_setzero_ps(), k1 = k0, k2 = k0, k3 = k0;
			for (int e = 0; e < ne; e++) {
				int op = ep->op[e], rev = ep->rev[e];
				if (op == LATHE_UK_OP_SAVE) {
					k0 = x0, k1 = x1, k2 = x2, k3 = x3;
				} else if (op == LATHE_UK_OP_ERF) {
					x0 = uk_avx512_erf(x0), x1 = uk_avx512_erf(x1);
					x2 = uk_avx512_erf(x2), x3 = uk_avx512_erf(x3);
				} else {
					x0 = uk_avx512_epi_op(op, rev, x0,
							      uk_avx512_epi_y(ep, e, w, o, k0, j, n, 0xFFFF));
					x1 = uk_avx512_epi_op(op, rev, x1,
							      uk_avx512_epi_y(ep, e, w, o, k1, j + 16, n, 0xFFFF));
					x2 = uk_avx512_epi_op(op, rev, x2,
							      uk_avx512_epi_y(ep, e, w, o, k2, j + 32, n, 0xFFFF));
					x3 = uk_avx512_epi_op(op, rev, x3,
							      uk_avx512_epi_y(ep, e, w, o, k3, j + 48, n, 0xFFFF));
				}
			}
			_mm512_storeu_ps(r + j, x0);
			_mm512_storeu_ps(r + j + 16, x1);
			_mm512_storeu_ps(r + j + 32, x2);
			_mm512_storeu_ps(r + j + 48, x3);
		}
		for (; j < n; j += 16) {
			int64_t len = n - j < 16 ? n - j : 16;
			__mmask16 k = (__mmask16)(len == 16 ? 0xFFFFu : (1u << len) - 1);
			/* Masked memory accesses are slow on some CPUs: only the tail. */
			__m512 x = len == 16 ? _mm512_loadu_ps(r + j) : _mm512_maskz_loadu_ps(k, r + j);
			__m512 kept = _mm512_setzero_ps();
			for (int e = 0; e < ne; e++) {
				int op = ep->op[e];
				if (op == LATHE_UK_OP_SAVE)
					kept = x;
				else if (op == LATHE_UK_OP_ERF)
					x = uk_avx512_erf(x);
				else
					x = uk_avx512_epi_op(op, ep->rev[e], x,
							     uk_avx512_epi_y(ep, e, w, o, kept, j, n, k));
			}
			if (len == 16)
				_mm512_storeu_ps(r + j, x);
			else
				_mm512_mask_storeu_ps(r + j, k, x);
		}
	}
}

/* r[p] lane q <- r[q] lane p: a 16 x 16 transpose in registers (32-bit
 * interleaves, then 64-bit, then two rounds of 128-bit blocks). */
static inline __attribute__((always_inline)) UK_AVX512 void uk_avx512_tr16(__m512 *r)
{
	__m512 a[16], b[16];
	for (int q = 0; q < 16; q += 2) {
		a[q] = _mm512_unpacklo_ps(r[q], r[q + 1]);
		a[q + 1] = _mm512_unpackhi_ps(r[q], r[q + 1]);
	}
	/* b[4g + s], block L: rows 4g .. 4g+3 at column 4L + s */
	for (int g = 0; g < 16; g += 4) {
		b[g] = _mm512_shuffle_ps(a[g], a[g + 2], 0x44);
		b[g + 1] = _mm512_shuffle_ps(a[g], a[g + 2], 0xEE);
		b[g + 2] = _mm512_shuffle_ps(a[g + 1], a[g + 3], 0x44);
		b[g + 3] = _mm512_shuffle_ps(a[g + 1], a[g + 3], 0xEE);
	}
	for (int s = 0; s < 4; s++) {
		__m512 c0 = _mm512_shuffle_f32x4(b[s], b[4 + s], 0x88);
		__m512 c1 = _mm512_shuffle_f32x4(b[s], b[4 + s], 0xDD);
		__m512 c2 = _mm512_shuffle_f32x4(b[8 + s], b[12 + s], 0x88);
		__m512 c3 = _mm512_shuffle_f32x4(b[8 + s], b[12 + s], 0xDD);
		r[s] = _mm512_shuffle_f32x4(c0, c2, 0x88);
		r[8 + s] = _mm512_shuffle_f32x4(c0, c2, 0xDD);
		r[4 + s] = _mm512_shuffle_f32x4(c1, c3, 0x88);
		r[12 + s] = _mm512_shuffle_f32x4(c1, c3, 0xDD);
	}
}

/* C^T to C by blocks of 16 x 16: 16 rows of t loaded (16 of C's rows
 * each, masked past m), transposed in registers, and each row of C's 16
 * columns stored once, masked at the right edge; in place of a copy
 * element by element and a pass of the epilogue over C.  An epilogue
 * whose operands do not depend on the column (bias, activation) is
 * applied before the transpose, on t's rows, its operands a vector
 * along them (one per 16 rows of C); else by the row epilogue over each
 * block of 16 rows of C once they are stored. */
static UK_AVX512 void uk_avx512_untrans(float *c, int64_t ldc, const float *t, int64_t ldt,
					int64_t m, int64_t n, const lathe_rt_uk_epi *ep,
					int64_t m0, int64_t n0)
{
	__m512 o[LATHE_UK_EPI_MAX];
	int ne = ep ? ep->n : 0, before = 1;
	for (int e = 0; e < ne; e++)
		before &= !(ep->v[e] && ep->sn[e]);
	for (int64_t i = 0; i < m; i += 16) {
		int64_t mi = m - i < 16 ? m - i : 16;
		__mmask16 km = (__mmask16)(mi == 16 ? 0xFFFFu : (1u << mi) - 1);
		for (int e = 0; before && e < ne; e++) {
			float f[16] = {0};
			for (int64_t p = 0; p < mi; p++)
				f[p] = ep->v[e] ? ep->v[e][(m0 + i + p) * ep->sm[e]] : (float)ep->f[e];
			o[e] = _mm512_loadu_ps(f);
		}
		for (int64_t j = 0; j < n; j += 16) {
			int64_t len = n - j < 16 ? n - j : 16;
			__mmask16 k = (__mmask16)(len == 16 ? 0xFFFFu : (1u << len) - 1);
			__m512 r[16], kept[16];
			for (int q = 0; q < 16; q++)
				r[q] = q >= len ? _mm512_setzero_ps()
				       : mi == 16 ? _mm512_loadu_ps(t + (j + q) * ldt + i)
						  : _mm512_maskz_loadu_ps(km, t + (j + q) * ldt + i);
			for (int e = 0; before && e < ne; e++) {
				int op = ep->op[e], rev = ep->rev[e];
				for (int q = 0; q < len; q++) {
					if (op == LATHE_UK_OP_SAVE)
						kept[q] = r[q];
					else if (op == LATHE_UK_OP_ERF)
						r[q] = uk_avx512_erf(r[q]);
					else
						r[q] = uk_avx512_epi_op(op, rev, r[q],
									ep->saved[e] ? kept[q] : o[e]);
				}
			}
			uk_avx512_tr16(r);
			for (int p = 0; p < mi; p++) {
				float *d = c + (i + p) * ldc + j;
				if (len == 16)
					_mm512_storeu_ps(d, r[p]);
				else
					_mm512_mask_storeu_ps(d, k, r[p]);
			}
		}
		if (!before) /* the block's rows, still in L1 */
			uk_avx512_epi_rows(ep, c + i * ldc, ldc, mi, n, m0 + i, n0);
	}
}

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
				(a)[q_] = UK_MAX512((o)[e_], (a)[q_]);                          \
			break;                                                                  \
		case LATHE_UK_OP_MIN * 2:                                                       \
			_Pragma("GCC unroll 8") for (int q_ = 0; q_ < (nacc); q_++)          \
				(a)[q_] = nn[e_] ? (o)[e_] : _mm512_min_ps((o)[e_], (a)[q_]);    \
			break;                                                                  \
		default:                                                                        \
			_Pragma("GCC unroll 8") for (int q_ = 0; q_ < (nacc); q_++)          \
				(a)[q_] = UK_MIN512((o)[e_], (a)[q_]);                          \
			break;                                                                  \
		}                                                                               \
	}

static UK_AVX512 void uk_avx512_taps(float *y, int64_t n, const float *const *row,
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
static UK_AVX512 void uk_avx512_dwflat(float *y, int64_t n, const float *src, const int64_t *off,
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
static inline __attribute__((always_inline)) UK_AVX512 void
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
static inline __attribute__((always_inline)) UK_AVX512 void
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
		acc = UK_MAX512(acc, x_);                                                  \
	}

/* The row kernels over channels m0 .. m0 + nch - 1 (X, W and Y advanced
 * by XSC, WSC and YSC per channel): one call per task, not per channel,
 * which small planes (7x7, 14x14) notice. */
static UK_AVX512 void uk_avx512_dw3s2(float *y, int64_t OH, int64_t OW, const float *x,
				     int64_t H, int64_t W, int64_t XSH, int64_t SH,
				     const int64_t *hoff, int nkh, int64_t off0, const float *w,
				     const lathe_rt_uk_epi *ep, int64_t m0, int64_t nch, int64_t XSC,
				     int64_t WSC, int64_t YSC)
{
	for (int64_t c = 0; c < nch; c++)
		uk_avx512_dw3_one(y + c * YSC, OH, OW, x + c * XSC, H, W, XSH, SH, hoff, nkh, off0,
				  w + c * WSC, ep, m0 + c, 2);
}

static UK_AVX512 void uk_avx512_dw3s1(float *y, int64_t OH, int64_t OW, const float *x,
				     int64_t H, int64_t W, int64_t XSH, int64_t SH,
				     const int64_t *hoff, int nkh, int64_t off0, const float *w,
				     const lathe_rt_uk_epi *ep, int64_t m0, int64_t nch, int64_t XSC,
				     int64_t WSC, int64_t YSC)
{
	for (int64_t c = 0; c < nch; c++)
		uk_avx512_dw3_one(y + c * YSC, OH, OW, x + c * XSC, H, W, XSH, SH, hoff, nkh, off0,
				  w + c * WSC, ep, m0 + c, 1);
}

/* The fold of input row h's three columns under vector q (-inf for a row
 * outside the image, or a vector past nv). */
#define UK_MX_ROW(h, q, dst)                                                                   \
	do {                                                                                   \
		(dst) = ninf;                                                                  \
		if ((h) >= 0 && (h) < H && (q) < nv) {                                         \
			const float *p_ = x + (h) * XSH;                                        \
			p_ = (const float *)((uintptr_t)p_ + (uintptr_t)(c0[q] * 4));           \
			__m512 lo_ = _mm512_mask_loadu_ps(ninf, k[q][0], p_);                   \
			__m512 hi_ = _mm512_mask_loadu_ps(ninf, k[q][1], p_ + 16);              \
			__m512 nx_ = _mm512_mask_loadu_ps(ninf, k[q][2], p_ + 32);              \
			__m512 ev_ = _mm512_permutex2var_ps(lo_, ie, hi_);                      \
			__m512 od_ = _mm512_permutex2var_ps(lo_, io, hi_);                      \
			__m512 e2_ = _mm512_castsi512_ps(_mm512_alignr_epi32(                   \
				_mm512_castps_si512(nx_), _mm512_castps_si512(ev_), 1));        \
			(dst) = UK_MAX512(UK_MAX512(ev_, od_), e2_);                            \
		}                                                                              \
	} while (0)
#define UK_MX_ROWS(h, d0, d1, d2, d3)                                                          \
	do {                                                                                   \
		UK_MX_ROW(h, 0, d0);                                                           \
		UK_MX_ROW(h, 1, d1);                                                           \
		UK_MX_ROW(h, 2, d2);                                                           \
		UK_MX_ROW(h, 3, d3);                                                           \
	} while (0)

/* Three adjacent columns, stride 2 (the commonest pooling): one row's 33
 * input columns under 16 outputs are loaded once (-inf outside the
 * image), and the taps are their even columns, their odd ones and the
 * even ones shifted by one. */
static UK_AVX512 void uk_avx512_max3s2(float *y, int64_t OH, int64_t OW, const float *x,
				       int64_t H, int64_t W, int64_t XSH, int64_t SH,
				       const int64_t *hoff, int nkh, int64_t off0)
{
	const __m512 ninf = _mm512_set1_ps(-INFINITY);
	const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
	int stream = nkh == 3 && SH == 2 && hoff[1] == hoff[0] + 1 && hoff[2] == hoff[0] + 2;
	for (int64_t o = 0; o < OW; o += 64) {
		int nv = OW - o >= 64 ? 4 : (int)((OW - o + 15) / 16);
		__mmask16 k[4][3];
		int64_t c0[4];
		for (int q = 0; q < 4; q++) {
			c0[q] = 2 * (o + 16 * q) + off0;
			k[q][0] = q < nv ? uk_range16(c0[q], W) : 0;
			k[q][1] = q < nv ? uk_range16(c0[q] + 16, W) : 0;
			k[q][2] = q < nv ? uk_range16(c0[q] + 32, W) & 1 : 0;
		}
		/* Three rows one apart, stride 2 down: each input row's three
		 * columns folded once (r), and output row oh the fold of rows
		 * 2*oh + hoff[0] + 0, 1, 2, the last carried over to the next
		 * output row as its first.  The max taken as UK_MAX512 is
		 * associative (the last NaN, else the first of the largest), so
		 * this grouping gives the bits of the (kh, kw) order. */
		__m512 c0v = ninf, c1v = ninf, c2v = ninf, c3v = ninf;
		for (int64_t oh = 0; stream && oh < OH; oh++) {
			int64_t h0 = 2 * oh + hoff[0];
			__m512 r0, r1, r2, r3, t0, t1, t2, t3;
			if (oh == 0)
				UK_MX_ROWS(h0, c0v, c1v, c2v, c3v);
			UK_MX_ROWS(h0 + 1, r0, r1, r2, r3);
			c0v = UK_MAX512(c0v, r0), c1v = UK_MAX512(c1v, r1);
			c2v = UK_MAX512(c2v, r2), c3v = UK_MAX512(c3v, r3);
			UK_MX_ROWS(h0 + 2, t0, t1, t2, t3);
			__m512 acc[4] = {UK_MAX512(c0v, t0), UK_MAX512(c1v, t1), UK_MAX512(c2v, t2),
					 UK_MAX512(c3v, t3)};
			c0v = t0, c1v = t1, c2v = t2, c3v = t3;
			float *yr = y + oh * OW;
			_Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
				int64_t ob = o + 16 * q;
				if (q >= nv)
					break;
				if (OW - ob >= 16)
					_mm512_storeu_ps(yr + ob, acc[q]);
				else
					_mm512_mask_storeu_ps(yr + ob, uk_range16(ob, OW), acc[q]);
			}
		}
		for (int64_t oh = 0; !stream && oh < OH; oh++) {
			__m512 acc[4] = {ninf, ninf, ninf, ninf};
			for (int kh = 0; kh < nkh; kh++) {
				int64_t h = oh * SH + hoff[kh];
				if (h < 0 || h >= H)
					continue;
				uintptr_t base = (uintptr_t)(x + h * XSH);
				_Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
					if (q >= nv)
						break;
					const float *p = (const float *)(base + (uintptr_t)(c0[q] * 4));
					__m512 lo = _mm512_mask_loadu_ps(ninf, k[q][0], p);
					__m512 hi = _mm512_mask_loadu_ps(ninf, k[q][1], p + 16);
					__m512 nx = _mm512_mask_loadu_ps(ninf, k[q][2], p + 32);
					__m512 ev = _mm512_permutex2var_ps(lo, ie, hi);
					__m512 od = _mm512_permutex2var_ps(lo, io, hi);
					__m512 e2 = _mm512_castsi512_ps(_mm512_alignr_epi32(
						_mm512_castps_si512(nx), _mm512_castps_si512(ev), 1));
					acc[q] = UK_MAX512(acc[q], ev);
					acc[q] = UK_MAX512(acc[q], od);
					acc[q] = UK_MAX512(acc[q], e2);
				}
			}
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

static UK_AVX512 void uk_avx512_maxplane(float *y, int64_t OH, int64_t OW, const float *x,
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
static UK_AVX512 void uk_avx512_deint(float *even, float *odd, const float *src, int64_t n)
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

static int has_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
}

static int has_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

/* ---- dispatch -------------------------------------------------------------------- */

LATHE_RT_UK_API void lathe_rt_uk_gemm_tile(int vector_bytes, int *mr, int *nr)
{
	if (vector_bytes >= 64)
		*mr = 12, *nr = 32;
	else if (vector_bytes >= 32)
		*mr = 6, *nr = 16;
	else
		*mr = 4, *nr = 16;
}

LATHE_RT_UK_API void lathe_rt_uk_native_tile(int *mr, int *nr)
{
	int vb = 16;
#if UK_X86
	vb = has_avx512() ? 64 : has_avx2() ? 32 : 16;
#endif
	lathe_rt_uk_gemm_tile(vb, mr, nr);
}

LATHE_RT_UK_API lathe_rt_uk_tile_fn lathe_rt_uk_tile_kernel(int mr, int nr)
{
#if UK_X86
	if (mr == 12 && nr == 32 && has_avx512())
		return uk_avx512_tile;
	if (mr == 6 && nr == 16 && has_avx2())
		return uk_avx2_tile;
	if (mr == 14 && nr == 32 && has_avx512())
		return uk_avx512_tile_t;
	if (mr == 12 && nr == 16 && has_avx512())
		return uk_avx512_tile_h;
#endif
	if (mr == 4 && nr == 16)
		return uk_gen_tile;
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_tile_fn lathe_rt_uk_tile_kernel_pfb(int mr, int nr)
{
#if UK_X86
	if (mr == 12 && nr == 32 && has_avx512())
		return uk_avx512_tile_b;
#endif
	return lathe_rt_uk_tile_kernel(mr, nr);
}

LATHE_RT_UK_API lathe_rt_uk_copy_fn lathe_rt_uk_copy_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_copy;
#endif
	return uk_gen_copy;
}

LATHE_RT_UK_API void (*lathe_rt_uk_epi_rows_kernel(void))(const struct lathe_rt_uk_epi *ep,
							    float *c, int64_t ldc, int64_t nrows,
							    int64_t n, int64_t m0, int64_t n0)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_epi_rows;
#endif
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_panel_fn lathe_rt_uk_panel_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_panel;
#endif
	return uk_gen_panel;
}

LATHE_RT_UK_API lathe_rt_uk_untrans_fn lathe_rt_uk_untrans_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_untrans;
#endif
	return uk_gen_untrans;
}

LATHE_RT_UK_API lathe_rt_uk_taps_fn lathe_rt_uk_taps_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_taps;
#endif
	return uk_gen_taps;
}

LATHE_RT_UK_API lathe_rt_uk_dwflat_fn lathe_rt_uk_dwflat_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_dwflat;
#endif
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_dw3s2_fn lathe_rt_uk_dw3s2_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_dw3s2;
#endif
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_dw3s2_fn lathe_rt_uk_dw3s1_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_dw3s1;
#endif
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_maxplane_fn lathe_rt_uk_maxplane_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_maxplane;
#endif
	return NULL;
}

LATHE_RT_UK_API lathe_rt_uk_deint_fn lathe_rt_uk_deint_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_deint;
#endif
	return uk_gen_deint;
}
