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

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
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
#define UK_BPACKED 1
#define UK_BROWS 0
#define UK_KERNEL(NAME, ATTR, V, VU, VI, L, NV, ROWS, MR, FMA, SPLAT, PACKED)                  \
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
			int byn = v && ep->sn[e];                                               \
			int op = ep->op[e], rev = ep->rev[e];                                   \
			_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++) {               \
				V x0 = SPLAT(v ? v[(m0 + i) * sm] : ep->f[e]);                  \
				_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) {          \
					V x = byn ? *(const VU *)(v + (m0 + i) * sm + n0 + j * L) : x0; \
					V t = acc[i][j];                                        \
					acc[i][j] = op == LATHE_UK_OP_ADD ? t + x                \
						    : op == LATHE_UK_OP_MUL ? t * x              \
						    : rev ? UK_VMAXMIN(V, VI, SPLAT, x, t, op == LATHE_UK_OP_MAX) \
							  : UK_VMAXMIN(V, VI, SPLAT, t, x, op == LATHE_UK_OP_MAX); \
				}                                                               \
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
#define UK_TILE(NAME, ATTR, MR, NR, R2, R3, K1, K2, K3, K1i, K2i, K3i)                         \
	static ATTR void NAME(int64_t kc, const float *a, const float *b, const int64_t *boff,  \
			      float *c, int64_t ldc, int m, int n, int accumulate,              \
			      const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0)                \
	{                                                                                       \
		if (n == (NR) && m == (MR) && (!ep || ep->unit)) {                              \
			if (boff)                                                               \
				K1i(kc, a, b, boff, c, ldc, accumulate, ep, m0, n0);            \
			else                                                                    \
				K1(kc, a, b, boff, c, ldc, accumulate, ep, m0, n0);             \
			return;                                                                 \
		}                                                                               \
		float t[(MR) * (NR)] __attribute__((aligned(64)));                              \
		memset(t, 0, sizeof t);                                                         \
		if (accumulate)                                                                 \
			for (int i = 0; i < m; i++)                                             \
				memcpy(t + i * (NR), c + i * ldc, sizeof(float) * (size_t)n);   \
		if (m <= (R3))                                                                  \
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
UK_KERNEL(uk_gen_4, , uk_v4, uk_v4u, uk_i4, 4, 4, 4, 4, UK_MULADD, UK_SPLAT4, UK_BPACKED)
UK_KERNEL(uk_gen_2, , uk_v4, uk_v4u, uk_i4, 4, 4, 2, 4, UK_MULADD, UK_SPLAT4, UK_BPACKED)
UK_KERNEL(uk_gen_1, , uk_v4, uk_v4u, uk_i4, 4, 4, 1, 4, UK_MULADD, UK_SPLAT4, UK_BPACKED)
UK_KERNEL(uk_gen_4i, , uk_v4, uk_v4u, uk_i4, 4, 4, 4, 4, UK_MULADD, UK_SPLAT4, UK_BROWS)
UK_KERNEL(uk_gen_2i, , uk_v4, uk_v4u, uk_i4, 4, 4, 2, 4, UK_MULADD, UK_SPLAT4, UK_BROWS)
UK_KERNEL(uk_gen_1i, , uk_v4, uk_v4u, uk_i4, 4, 4, 1, 4, UK_MULADD, UK_SPLAT4, UK_BROWS)
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
UK_KERNEL(uk_avx2_6, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 6, 6, UK_FMA8, UK_SPLAT8, UK_BPACKED)
UK_KERNEL(uk_avx2_4, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 4, 6, UK_FMA8, UK_SPLAT8, UK_BPACKED)
UK_KERNEL(uk_avx2_2, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 2, 6, UK_FMA8, UK_SPLAT8, UK_BPACKED)
UK_KERNEL(uk_avx2_6i, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 6, 6, UK_FMA8, UK_SPLAT8, UK_BROWS)
UK_KERNEL(uk_avx2_4i, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 4, 6, UK_FMA8, UK_SPLAT8, UK_BROWS)
UK_KERNEL(uk_avx2_2i, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 2, 6, UK_FMA8, UK_SPLAT8, UK_BROWS)
UK_TILE(uk_avx2_tile, UK_AVX2, 6, 16, 4, 2, uk_avx2_6, uk_avx2_4, uk_avx2_2, uk_avx2_6i,
	uk_avx2_4i, uk_avx2_2i)

#define UK_AVX512 __attribute__((target("avx512f")))
#define UK_FMA16(a, b, c) ((uk_v16)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define UK_K512(NAME, ROWS, PACKED) \
	UK_KERNEL(NAME, UK_AVX512, uk_v16, uk_v16u, uk_i16, 16, 2, ROWS, 12, UK_FMA16, UK_SPLAT16, PACKED)
UK_K512(uk_avx512_12, 12, UK_BPACKED)
UK_K512(uk_avx512_8, 8, UK_BPACKED)
UK_K512(uk_avx512_4, 4, UK_BPACKED)
UK_K512(uk_avx512_12i, 12, UK_BROWS)
UK_K512(uk_avx512_8i, 8, UK_BROWS)
UK_K512(uk_avx512_4i, 4, UK_BROWS)
UK_TILE(uk_avx512_tile, UK_AVX512, 12, 32, 8, 4, uk_avx512_12, uk_avx512_8, uk_avx512_4,
	uk_avx512_12i, uk_avx512_8i, uk_avx512_4i)

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

/* An epilogue over rows of C, 16 columns at a time (masked at the end of a
 * row): each vector is loaded once, goes through every operation in
 * registers and is stored once (reloading what was just stored with a mask
 * would wait on the store).  Operands are resolved once per row. */
static UK_AVX512 void uk_avx512_epi_rows(const lathe_rt_uk_epi *ep, float *c, int64_t ldc,
					 int64_t nrows, int64_t n, int64_t m0, int64_t n0)
{
	const float *w[LATHE_UK_EPI_MAX];
	uk_v16 o[LATHE_UK_EPI_MAX];
	int ne = ep->n;
	for (int64_t i = 0; i < nrows; i++) {
		float *r = c + i * ldc;
		int64_t m = m0 + i;
		for (int e = 0; e < ne; e++) {
			const float *v = ep->v[e];
			w[e] = v && ep->sn[e] ? v + m * ep->sm[e] + n0 * ep->sn[e] : NULL;
			o[e] = UK_SPLAT16(v ? v[m * ep->sm[e]] : ep->f[e]);
		}
		for (int64_t j = 0; j < n; j += 16) {
			int64_t len = n - j < 16 ? n - j : 16;
			__mmask16 k = (__mmask16)(len == 16 ? 0xFFFFu : (1u << len) - 1);
			uk_v16 x = (uk_v16)_mm512_maskz_loadu_ps(k, r + j);
			for (int e = 0; e < ne; e++) {
				uk_v16 y = o[e];
				if (w[e] && ep->sn[e] == 1) {
					y = (uk_v16)_mm512_maskz_loadu_ps(k, w[e] + j);
				} else if (w[e]) {
					float t[16] = {0};
					for (int64_t q = 0; q < len; q++)
						t[q] = w[e][(j + q) * ep->sn[e]];
					y = *(const uk_v16u *)t;
				}
				int op = ep->op[e];
				x = op == LATHE_UK_OP_ADD ? x + y
				    : op == LATHE_UK_OP_MUL ? x * y
				    : ep->rev[e] ? UK_VMAXMIN(uk_v16, uk_i16, UK_SPLAT16, y, x, op == LATHE_UK_OP_MAX)
						 : UK_VMAXMIN(uk_v16, uk_i16, UK_SPLAT16, x, y, op == LATHE_UK_OP_MAX);
			}
			_mm512_mask_storeu_ps(r + j, k, (__m512)x);
		}
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
#endif
	if (mr == 4 && nr == 16)
		return uk_gen_tile;
	return NULL;
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
