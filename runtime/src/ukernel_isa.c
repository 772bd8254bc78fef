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
 * while they are still in registers, so C is written once.  A tile of
 * fewer columns than NR is written in place by masked kernels where the
 * family has masks (AVX-512), else, like a tile of a row count without a
 * kernel, it goes through a small buffer (no kernel reads or writes past
 * the edge of C) and gets its epilogue row by row.
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
#define UK_XV(LDC, VU, L) LDC(VU, v + (m0 + i) * sm + n0 + j * L, j)
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
	UK_KERNEL_X(NAME, ATTR, V, VU, VI, L, NV, ROWS, MR, FMA, SPLAT, PACKED, MAXF, MINF, PFB,  \
		    UK_MASK_NONE, UK_LD_FULL, UK_ST_FULL)
/* C's vectors (and an epilogue operand's along n) are loaded and stored
 * through LDC(VU, p, j) and STC(VU, p, j, x), j the vector's index in the
 * tile's row, after MDECL(L, NV) (which may declare what they use from n,
 * the tile's number of columns): full vectors, or (ukernel's AVX-512
 * family) vectors masked to the first n columns, for a tile of fewer
 * columns than NR written in place. */
#define UK_MASK_NONE(L, NV) (void)n;
#define UK_LD_FULL(VU, p, j) (*(const VU *)(p))
#define UK_ST_FULL(VU, p, j, x) (*(VU *)(p) = (x))
#define UK_KERNEL_X(NAME, ATTR, V, VU, VI, L, NV, ROWS, MR, FMA, SPLAT, PACKED, MAXF, MINF, PFB,   \
		    MDECL, LDC, STC)                                                            \
	static ATTR void NAME(int64_t kc, const float *a, const float *b, const int64_t *boff,  \
			      float *c, int64_t ldc, int n, int accumulate,                     \
			      const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0)                \
	{                                                                                       \
		MDECL(L, NV)                                                                    \
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
					acc[i][j] = acc[i][j] + LDC(VU, c + i * ldc + j * L, j); \
		for (int e = 0; ep && e < ep->n; e++) {                                         \
			const float *v = ep->v[e];                                              \
			int64_t sm = ep->sm[e];                                                 \
			int byn = v && ep->sn[e], rev = ep->rev[e];                             \
			if (!v && !rev && ep->f[e] == ep->f[e] &&                               \
			    (ep->op[e] == LATHE_UK_OP_MAX || ep->op[e] == LATHE_UK_OP_MIN)) {   \
				/* max/min(acc, s) of a number s (ReLU, Clip): the */         \
				/* family's plain instruction (MAXF##S, MINF##S) */           \
				V s_ = SPLAT(ep->f[e]);                                         \
				if (ep->op[e] == LATHE_UK_OP_MAX)                               \
					_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++) \
						_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) \
							acc[i][j] = MAXF##S(acc[i][j], s_);     \
				else                                                            \
					_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++) \
						_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) \
							acc[i][j] = MINF##S(acc[i][j], s_);     \
				continue;                                                       \
			}                                                                       \
			V xs[ROWS];                                                             \
			_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++)                 \
				xs[i] = SPLAT(v ? v[(m0 + i) * sm] : ep->f[e]);                 \
			switch (ep->op[e] * 4 + byn * 2 + rev) {                                \
			UK_EPI_CASES(LATHE_UK_OP_ADD, acc[i][j] + xs[i], acc[i][j] + UK_XV(LDC, VU, L), \
				     xs[i] + acc[i][j], UK_XV(LDC, VU, L) + acc[i][j], ROWS, NV)     \
			UK_EPI_CASES(LATHE_UK_OP_MUL, acc[i][j] * xs[i], acc[i][j] * UK_XV(LDC, VU, L), \
				     xs[i] * acc[i][j], UK_XV(LDC, VU, L) * acc[i][j], ROWS, NV)     \
			UK_EPI_CASES(LATHE_UK_OP_MAX, MAXF(acc[i][j], xs[i]),                   \
				     MAXF(acc[i][j], UK_XV(LDC, VU, L)), MAXF(xs[i], acc[i][j]),     \
				     MAXF(UK_XV(LDC, VU, L), acc[i][j]), ROWS, NV)                   \
			UK_EPI_CASES(LATHE_UK_OP_MIN, MINF(acc[i][j], xs[i]),                   \
				     MINF(acc[i][j], UK_XV(LDC, VU, L)), MINF(xs[i], acc[i][j]),     \
				     MINF(UK_XV(LDC, VU, L), acc[i][j]), ROWS, NV)                   \
			}                                                                       \
		}                                                                               \
		_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++)                         \
			_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                    \
				STC(VU, c + i * ldc + j * L, j, acc[i][j]);                     \
	}

/* The tile entry of a family: full tiles straight into C (in-register
 * epilogue when its operands are contiguous along n), tiles of fewer
 * columns too where the family has masked kernels (MTILE, which says
 * whether it took the tile), the rest through a buffer, with the epilogue
 * applied row by row afterwards.  Kn: kernels of rows MR, R2, R3 for
 * packed B; Kni the same reading rows in place. */
/* The longest K a partial tile of at most NR/2 columns takes the half-width
 * kernel for (its row offsets go on the stack). */
enum { UK_HALF_KMAX = 512 };
#define UK_TILE(NAME, ATTR, MR, NR, R2, R3, K1, K2, K3, K1i, K2i, K3i, MTILE)                  \
	UK_TILE_H(NAME, ATTR, MR, NR, R2, R3, K1, K2, K3, K1i, K2i, K3i, K1i, 0, MTILE)
/* The MTILE of a family without masked kernels. */
static inline int uk_mtile_none(int64_t kc, const float *a, const float *b, const int64_t *boff,
				float *c, int64_t ldc, int m, int n, int accumulate,
				const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0)
{
	(void)kc, (void)a, (void)b, (void)boff, (void)c, (void)ldc, (void)m, (void)n;
	(void)accumulate, (void)ep, (void)m0, (void)n0;
	return 0;
}
/* HALF (when HAS_HALF): an MR x NR/2 kernel reading B's rows at offsets,
 * for partial tiles of at most NR/2 columns (a matrix's last panel). */
#define UK_TILE_H(NAME, ATTR, MR, NR, R2, R3, K1, K2, K3, K1i, K2i, K3i, HALF, HAS_HALF, MTILE) \
	static ATTR void NAME(int64_t kc, const float *a, const float *b, const int64_t *boff,  \
			      float *c, int64_t ldc, int m, int n, int accumulate,              \
			      const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0)                \
	{                                                                                       \
		if (n == (NR) && (!ep || (ep->unit && ep->simple))) {                          \
			if (m == (MR)) {                                                        \
				(boff ? K1i : K1)(kc, a, b, boff, c, ldc, n, accumulate, ep, m0, n0); \
				return;                                                         \
			}                                                                       \
			if (m == (R2)) {                                                        \
				(boff ? K2i : K2)(kc, a, b, boff, c, ldc, n, accumulate, ep, m0, n0); \
				return;                                                         \
			}                                                                       \
			if (m == (R3)) {                                                        \
				(boff ? K3i : K3)(kc, a, b, boff, c, ldc, n, accumulate, ep, m0, n0); \
				return;                                                         \
			}                                                                       \
		}                                                                               \
		if (n > 0 && n < (NR) && (!ep || (ep->unit && ep->simple)) &&                  \
		    MTILE(kc, a, b, boff, c, ldc, m, n, accumulate, ep, m0, n0))                \
			return;                                                                 \
		float t[(MR) * (NR)] __attribute__((aligned(64)));                              \
		memset(t, 0, sizeof t);                                                         \
		if (accumulate)                                                                 \
			for (int i = 0; i < m; i++)                                             \
				memcpy(t + i * (NR), c + i * ldc, sizeof(float) * (size_t)n);   \
		if ((HAS_HALF) && n <= (NR) / 2 && kc <= UK_HALF_KMAX) {                        \
			int64_t hoff[UK_HALF_KMAX];                                             \
			for (int64_t k = 0; k < kc; k++)                                        \
				hoff[k] = boff ? boff[k] : k * (NR);                            \
			HALF(kc, a, b, hoff, t, (NR), (NR) / 2, 1, NULL, 0, 0);                 \
		} else if (m <= (R3))                                                           \
			(boff ? K3i : K3)(kc, a, b, boff, t, (NR), (NR), 1, NULL, 0, 0);        \
		else if (m <= (R2))                                                             \
			(boff ? K2i : K2)(kc, a, b, boff, t, (NR), (NR), 1, NULL, 0, 0);        \
		else                                                                            \
			(boff ? K1i : K1)(kc, a, b, boff, t, (NR), (NR), 1, NULL, 0, 0);        \
		for (int i = 0; i < m; i++)                                                     \
			memcpy(c + i * ldc, t + i * (NR), sizeof(float) * (size_t)n);           \
		if (ep)                                                                         \
			lathe_rt_uk_epi_rows(ep, c, ldc, m, n, m0, n0);                         \
	}

/* ---- portable: 16-byte vectors, multiply then add ------------------------------- */

#define UK_MULADD(a, b, c) ((a) * (b) + (c))
#define UK_GMAX(a, b) UK_VMAXMIN(uk_v4, uk_i4, UK_SPLAT4, a, b, 1)
#define UK_GMIN(a, b) UK_VMAXMIN(uk_v4, uk_i4, UK_SPLAT4, a, b, 0)
#define UK_GMAXS UK_GMAX
#define UK_GMINS UK_GMIN
UK_KERNEL(uk_gen_4, , uk_v4, uk_v4u, uk_i4, 4, 4, 4, 4, UK_MULADD, UK_SPLAT4, UK_BPACKED, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_2, , uk_v4, uk_v4u, uk_i4, 4, 4, 2, 4, UK_MULADD, UK_SPLAT4, UK_BPACKED, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_1, , uk_v4, uk_v4u, uk_i4, 4, 4, 1, 4, UK_MULADD, UK_SPLAT4, UK_BPACKED, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_4i, , uk_v4, uk_v4u, uk_i4, 4, 4, 4, 4, UK_MULADD, UK_SPLAT4, UK_BROWS, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_2i, , uk_v4, uk_v4u, uk_i4, 4, 4, 2, 4, UK_MULADD, UK_SPLAT4, UK_BROWS, UK_GMAX, UK_GMIN)
UK_KERNEL(uk_gen_1i, , uk_v4, uk_v4u, uk_i4, 4, 4, 1, 4, UK_MULADD, UK_SPLAT4, UK_BROWS, UK_GMAX, UK_GMIN)
UK_TILE(uk_gen_tile, , 4, 16, 2, 1, uk_gen_4, uk_gen_2, uk_gen_1, uk_gen_4i, uk_gen_2i,
	uk_gen_1i, uk_mtile_none)

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

static void uk_gen_gather(float *dst, const float *src, const int64_t *off, int64_t kc, int nr,
			  const int64_t *col)
{
	for (int64_t k = 0; k < kc; k++) {
		const float *s = src + off[k];
		float *d = dst + k * nr;
		for (int j = 0; j < nr; j++)
			d[j] = s[col[j]];
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

static void uk_gen_untrans(float *c, int64_t ldc, const float *t, int64_t ldt, int64_t m,
			   int64_t n, const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0)
{
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++)
			c[i * ldc + j] = t[j * ldt + i];
	if (ep)
		lathe_rt_uk_epi_rows(ep, c, ldc, m, n, m0, n0);
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
/* The same for a b that is not NaN (a splat of a number): x86's max(b, a)
 * alone, which returns a when a is NaN or both are zeros. */
#define UK_MAX8S(a, b) ((uk_v8)_mm256_max_ps((__m256)(b), (__m256)(a)))
#define UK_MIN8S(a, b) ((uk_v8)_mm256_min_ps((__m256)(b), (__m256)(a)))
UK_KERNEL(uk_avx2_6, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 6, 6, UK_FMA8, UK_SPLAT8, UK_BPACKED, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_4, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 4, 6, UK_FMA8, UK_SPLAT8, UK_BPACKED, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_2, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 2, 6, UK_FMA8, UK_SPLAT8, UK_BPACKED, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_6i, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 6, 6, UK_FMA8, UK_SPLAT8, UK_BROWS, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_4i, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 4, 6, UK_FMA8, UK_SPLAT8, UK_BROWS, UK_MAX8, UK_MIN8)
UK_KERNEL(uk_avx2_2i, UK_AVX2, uk_v8, uk_v8u, uk_i8, 8, 2, 2, 6, UK_FMA8, UK_SPLAT8, UK_BROWS, UK_MAX8, UK_MIN8)
UK_TILE(uk_avx2_tile, UK_AVX2, 6, 16, 4, 2, uk_avx2_6, uk_avx2_4, uk_avx2_2, uk_avx2_6i,
	uk_avx2_4i, uk_avx2_2i, uk_mtile_none)

#define UK_AVX512 __attribute__((target("avx512f")))
/* max and min as the loop IR defines them, from x86's (which return their
 * second operand when either is NaN): IR max(a, b) = (b > a ? b : a), NaN
 * if either is, which is maxps(b, a) where b is not NaN and b where it is:
 * one masked max after the compare. */
#define UK_MAX512(a, b) \
	_mm512_mask_max_ps((b), _mm512_cmp_ps_mask((b), (b), _CMP_ORD_Q), (b), (a))
#define UK_MIN512(a, b) \
	_mm512_mask_min_ps((b), _mm512_cmp_ps_mask((b), (b), _CMP_ORD_Q), (b), (a))
#define UK_FMA16(a, b, c) ((uk_v16)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define UK_MAX16(a, b) ((uk_v16)UK_MAX512((__m512)(a), (__m512)(b)))
#define UK_MIN16(a, b) ((uk_v16)UK_MIN512((__m512)(a), (__m512)(b)))
#define UK_MAX16S(a, b) ((uk_v16)_mm512_max_ps((__m512)(b), (__m512)(a)))
#define UK_MIN16S(a, b) ((uk_v16)_mm512_min_ps((__m512)(b), (__m512)(a)))
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
/* Masked (suffix m): C's vectors, and an epilogue operand's along n, only
 * in their first n columns (tiles of fewer columns than NR: a matrix's
 * last panel, a convolution's row tile at the end of an output row). */
#define UK_MASK16(L, NV)                                                                     \
	__mmask16 km_[NV];                                                                   \
	for (int j_ = 0; j_ < (NV); j_++)                                                    \
		km_[j_] = n - j_ * 16 >= 16 ? (__mmask16)0xFFFF                              \
			  : n - j_ * 16 <= 0 ? (__mmask16)0                                  \
					     : (__mmask16)((1u << (n - j_ * 16)) - 1);       \
	(void)km_;
#define UK_LD_M16(VU, p, j) ((uk_v16)_mm512_maskz_loadu_ps(km_[j], (p)))
#define UK_ST_M16(VU, p, j, x) _mm512_mask_storeu_ps((p), km_[j], (__m512)(x))
#define UK_K512M(NAME, NV, ROWS, PACKED)                                                     \
	UK_KERNEL_X(NAME, UK_AVX512, uk_v16, uk_v16u, uk_i16, 16, NV, ROWS, 12, UK_FMA16,       \
		    UK_SPLAT16, PACKED, UK_MAX16, UK_MIN16, 0, UK_MASK16, UK_LD_M16, UK_ST_M16)
UK_K512M(uk_avx512_12m, 2, 12, UK_BPACKED)
UK_K512M(uk_avx512_8m, 2, 8, UK_BPACKED)
UK_K512M(uk_avx512_4m, 2, 4, UK_BPACKED)
UK_K512M(uk_avx512_12im, 2, 12, UK_BROWS)
UK_K512M(uk_avx512_8im, 2, 8, UK_BROWS)
UK_K512M(uk_avx512_4im, 2, 4, UK_BROWS)
UK_K512M(uk_avx512_h12m, 1, 12, UK_BPACKED)
UK_K512M(uk_avx512_h8m, 1, 8, UK_BPACKED)
UK_K512M(uk_avx512_h4m, 1, 4, UK_BPACKED)
UK_K512M(uk_avx512_h12im, 1, 12, UK_BROWS)
UK_K512M(uk_avx512_h8im, 1, 8, UK_BROWS)
UK_K512M(uk_avx512_h4im, 1, 4, UK_BROWS)
typedef void (*uk_kernel_fn)(int64_t kc, const float *a, const float *b, const int64_t *boff,
			     float *c, int64_t ldc, int n, int accumulate,
			     const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0);
/* The masked kernel of nv vectors (1: 12 x 16, 2: 12 x 32) for m rows and
 * B's mode on the tile; 0 when there is none for m rows. */
static UK_AVX512 int uk_avx512_mcall(int nv, int64_t kc, const float *a, const float *b,
				     const int64_t *boff, float *c, int64_t ldc, int m, int n,
				     int accumulate, const lathe_rt_uk_epi *ep, int64_t m0,
				     int64_t n0)
{
	static const uk_kernel_fn k[2][2][3] = {
		{{uk_avx512_h12m, uk_avx512_h8m, uk_avx512_h4m},
		 {uk_avx512_h12im, uk_avx512_h8im, uk_avx512_h4im}},
		{{uk_avx512_12m, uk_avx512_8m, uk_avx512_4m},
		 {uk_avx512_12im, uk_avx512_8im, uk_avx512_4im}},
	};
	int r = m == 12 ? 0 : m == 8 ? 1 : m == 4 ? 2 : -1;
	if (r < 0)
		return 0;
	k[nv - 1][boff != NULL][r](kc, a, b, boff, c, ldc, n, accumulate, ep, m0, n0);
	return 1;
}
/* The 12 x 16 tile's MTILE: masked 12 x 16 kernels. */
static UK_AVX512 int uk_avx512_mtile16(int64_t kc, const float *a, const float *b,
				       const int64_t *boff, float *c, int64_t ldc, int m, int n,
				       int accumulate, const lathe_rt_uk_epi *ep, int64_t m0,
				       int64_t n0)
{
	return uk_avx512_mcall(1, kc, a, b, boff, c, ldc, m, n, accumulate, ep, m0, n0);
}
/* The 12 x 32 tile's: at most 16 columns by the masked 12 x 16 kernels
 * (half the multiply-adds; a packed panel's rows of 32 read at offsets),
 * more by masked 12 x 32 kernels. */
static UK_AVX512 int uk_avx512_mtile32(int64_t kc, const float *a, const float *b,
				       const int64_t *boff, float *c, int64_t ldc, int m, int n,
				       int accumulate, const lathe_rt_uk_epi *ep, int64_t m0,
				       int64_t n0)
{
	if (n > 16 || boff)
		return uk_avx512_mcall(n > 16 ? 2 : 1, kc, a, b, boff, c, ldc, m, n, accumulate, ep,
				       m0, n0);
	if (kc > UK_HALF_KMAX)
		return 0;
	int64_t hoff[UK_HALF_KMAX];
	for (int64_t i = 0; i < kc; i++)
		hoff[i] = i * 32;
	return uk_avx512_mcall(1, kc, a, b, hoff, c, ldc, m, n, accumulate, ep, m0, n0);
}
UK_TILE(uk_avx512_tile_h, UK_AVX512, 12, 16, 8, 4, uk_avx512_h12, uk_avx512_h8, uk_avx512_h4,
	uk_avx512_h12i, uk_avx512_h8i, uk_avx512_h4i, uk_avx512_mtile16)
UK_TILE_H(uk_avx512_tile, UK_AVX512, 12, 32, 8, 4, uk_avx512_12, uk_avx512_8, uk_avx512_4,
	  uk_avx512_12i, uk_avx512_8i, uk_avx512_4i, uk_avx512_h12i, 1, uk_avx512_mtile32)
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
	  uk_avx512_12i, uk_avx512_8i, uk_avx512_4i, uk_avx512_h12i, 1, uk_avx512_mtile32)

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
		uk_avx512_t14(kc, a, b, NULL, c, ldc, n, accumulate, NULL, 0, 0);
	else if (m >= 1 && m <= 7 && n == 32 && !boff && !ep)
		uk_avx512_t7(kc, a, b, NULL, c, ldc, n, accumulate, NULL, 0, 0);
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

/* The gather by permutes: columns within 16 (32) of each other come from
 * one (two) masked loads of the span they cover, put in place by one
 * permute, stored masked to nr. */
static UK_AVX512 void uk_avx512_gather(float *dst, const float *src, const int64_t *off,
				       int64_t kc, int nr, const int64_t *col)
{
	if (nr < 1 || nr > 16) {
		uk_gen_gather(dst, src, off, kc, nr, col);
		return;
	}
	int64_t lo = col[0], hi = col[0];
	for (int j = 1; j < nr; j++) {
		lo = col[j] < lo ? col[j] : lo;
		hi = col[j] > hi ? col[j] : hi;
	}
	int64_t span = hi - lo + 1;
	if (span > 32) {
		uk_gen_gather(dst, src, off, kc, nr, col);
		return;
	}
	int32_t ix[16] = {0};
	for (int j = 0; j < nr; j++)
		ix[j] = (int32_t)(col[j] - lo);
	__m512i idx = _mm512_loadu_si512(ix);
	__mmask16 wr = (__mmask16)((1u << nr) - 1);
	__mmask16 r0 = (__mmask16)(span >= 16 ? 0xFFFFu : (1u << span) - 1);
	__mmask16 r1 = (__mmask16)(span <= 16 ? 0 : span >= 32 ? 0xFFFFu : (1u << (span - 16)) - 1);
	for (int64_t k = 0; k < kc; k++) {
		const float *s = src + off[k] + lo;
		__m512 a = _mm512_maskz_loadu_ps(r0, s);
		__m512 v = r1 ? _mm512_permutex2var_ps(a, idx, _mm512_maskz_loadu_ps(r1, s + 16))
			      : _mm512_permutexvar_ps(idx, a);
		_mm512_mask_storeu_ps(dst + k * nr, wr, v);
	}
}

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

LATHE_RT_UK_API lathe_rt_uk_gather_fn lathe_rt_uk_gather_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_gather;
#endif
	return uk_gen_gather;
}

LATHE_RT_UK_API lathe_rt_uk_untrans_fn lathe_rt_uk_untrans_kernel(void)
{
#if UK_X86
	if (has_avx512())
		return uk_avx512_untrans;
#endif
	return uk_gen_untrans;
}
