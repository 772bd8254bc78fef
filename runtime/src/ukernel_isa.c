/* ukernel_isa.c: sgemm's register-tile kernels, one family per instruction
 * set, chosen at run time from what the CPU supports.
 *
 * A tile kernel keeps ROWS x NR sums in vector registers and, for each k,
 * loads NR values of the packed B panel, broadcasts ROWS values of the
 * packed A panel, and does ROWS * NR/L fused multiply-adds: no load or
 * store of C inside the k loop.  The shapes fit the register files: with
 * AVX-512 (32 registers of 16 floats) a 12 x 32 tile is 24 accumulators;
 * with AVX2 (16 of 8) 6 x 16 is 12; the portable family (16-byte vectors,
 * no FMA) 4 x 16.  Each family also has kernels of fewer rows for the last
 * panel of a matrix whose height is not a multiple of MR, and partial
 * tiles go through a small buffer so that no kernel reads or writes past
 * the edge of C.
 *
 * The x86 families are compiled with target attributes, so the runtime
 * (and a standalone bundle) builds with plain `cc -O2` and still uses
 * AVX-512 where it runs; a CPU without them gets the portable family.  The
 * sums are computed in the same order on every path of a family, so a
 * given CPU always gives the same bits, whatever the thread count.
 * libc only.
 */
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

#define UK_SPLAT4(x) ((uk_v4){(x), (x), (x), (x)})
#define UK_SPLAT8(x) ((uk_v8){(x), (x), (x), (x), (x), (x), (x), (x)})
#define UK_SPLAT16(x) ((uk_v16){(x), (x), (x), (x), (x), (x), (x), (x), \
				(x), (x), (x), (x), (x), (x), (x), (x)})

/* One kernel: ROWS x (NV*L) sums, A panels of MR rows. */
#define UK_KERNEL(NAME, ATTR, V, VU, L, NV, ROWS, MR, FMA, SPLAT)                             \
	static ATTR void NAME(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, \
			      int accumulate)                                                   \
	{                                                                                       \
		V acc[ROWS][NV];                                                                \
		_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++)                         \
			_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                    \
				acc[i][j] = (V){0};                                             \
		for (int64_t k = 0; k < kc; k++) {                                              \
			V bv[NV];                                                               \
			_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                    \
				bv[j] = *(const VU *)(b + k * (NV * L) + j * L);                \
			const float *ak = a + k * (MR);                                          \
			_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++) {               \
				V ai = SPLAT(ak[i]);                                            \
				_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)            \
					acc[i][j] = FMA(ai, bv[j], acc[i][j]);                  \
			}                                                                       \
		}                                                                               \
		_Pragma("GCC unroll 16") for (int i = 0; i < ROWS; i++)                         \
			_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) {                  \
				VU *p = (VU *)(c + i * ldc + j * L);                            \
				*p = accumulate ? acc[i][j] + *p : acc[i][j];                   \
			}                                                                       \
	}

/* The tile entry of a family: full tiles straight into C (the kernel of
 * the fewest rows that covers m), partial ones through a buffer. */
#define UK_TILE(NAME, ATTR, MR, NR, R2, R3, K1, K2, K3)                                        \
	static ATTR void NAME(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, \
			      int m, int n, int accumulate)                                     \
	{                                                                                       \
		if (n == (NR) && m == (MR)) {                                                   \
			K1(kc, a, b, c, ldc, accumulate);                                       \
			return;                                                                 \
		}                                                                               \
		float t[(MR) * (NR)] __attribute__((aligned(64)));                              \
		memset(t, 0, sizeof t);                                                         \
		if (accumulate)                                                                 \
			for (int i = 0; i < m; i++)                                             \
				memcpy(t + i * (NR), c + i * ldc, sizeof(float) * (size_t)n);   \
		if (m <= (R3))                                                                  \
			K3(kc, a, b, t, (NR), 1);                                               \
		else if (m <= (R2))                                                             \
			K2(kc, a, b, t, (NR), 1);                                               \
		else                                                                            \
			K1(kc, a, b, t, (NR), 1);                                               \
		for (int i = 0; i < m; i++)                                                     \
			memcpy(c + i * ldc, t + i * (NR), sizeof(float) * (size_t)n);           \
	}

/* ---- portable: 16-byte vectors, multiply then add ------------------------------- */

#define UK_MULADD(a, b, c) ((a) * (b) + (c))
UK_KERNEL(uk_gen_4, , uk_v4, uk_v4u, 4, 4, 4, 4, UK_MULADD, UK_SPLAT4)
UK_KERNEL(uk_gen_2, , uk_v4, uk_v4u, 4, 4, 2, 4, UK_MULADD, UK_SPLAT4)
UK_KERNEL(uk_gen_1, , uk_v4, uk_v4u, 4, 4, 1, 4, UK_MULADD, UK_SPLAT4)
UK_TILE(uk_gen_tile, , 4, 16, 2, 1, uk_gen_4, uk_gen_2, uk_gen_1)

/* Any other shape (a module packed for another CPU): plain loops, same
 * order of operations as the portable family. */
static void uk_any_tile(int mr, int nr, int64_t kc, const float *a, const float *b, float *c,
			int64_t ldc, int m, int n, int accumulate)
{
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			float s = 0;
			for (int64_t k = 0; k < kc; k++)
				s = a[k * mr + i] * b[k * nr + j] + s;
			c[i * ldc + j] = accumulate ? s + c[i * ldc + j] : s;
		}
}

/* ---- x86: AVX2 + FMA, AVX-512 ----------------------------------------------------- */

#if UK_X86
typedef float uk_v8 __attribute__((vector_size(32)));
typedef float uk_v8u __attribute__((vector_size(32), aligned(4)));
typedef float uk_v16 __attribute__((vector_size(64)));
typedef float uk_v16u __attribute__((vector_size(64), aligned(4)));

#define UK_AVX2 __attribute__((target("avx2,fma")))
#define UK_FMA8(a, b, c) ((uk_v8)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
UK_KERNEL(uk_avx2_6, UK_AVX2, uk_v8, uk_v8u, 8, 2, 6, 6, UK_FMA8, UK_SPLAT8)
UK_KERNEL(uk_avx2_4, UK_AVX2, uk_v8, uk_v8u, 8, 2, 4, 6, UK_FMA8, UK_SPLAT8)
UK_KERNEL(uk_avx2_2, UK_AVX2, uk_v8, uk_v8u, 8, 2, 2, 6, UK_FMA8, UK_SPLAT8)
UK_TILE(uk_avx2_tile, UK_AVX2, 6, 16, 4, 2, uk_avx2_6, uk_avx2_4, uk_avx2_2)

#define UK_AVX512 __attribute__((target("avx512f")))
#define UK_FMA16(a, b, c) ((uk_v16)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
UK_KERNEL(uk_avx512_12, UK_AVX512, uk_v16, uk_v16u, 16, 2, 12, 12, UK_FMA16, UK_SPLAT16)
UK_KERNEL(uk_avx512_8, UK_AVX512, uk_v16, uk_v16u, 16, 2, 8, 12, UK_FMA16, UK_SPLAT16)
UK_KERNEL(uk_avx512_4, UK_AVX512, uk_v16, uk_v16u, 16, 2, 4, 12, UK_FMA16, UK_SPLAT16)
UK_TILE(uk_avx512_tile, UK_AVX512, 12, 32, 8, 4, uk_avx512_12, uk_avx512_8, uk_avx512_4)

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

/* The caller of a NULL kernel uses this one (it needs the shape). */
LATHE_RT_UK_API void lathe_rt_uk_any_tile(int mr, int nr, int64_t kc, const float *a,
					  const float *b, float *c, int64_t ldc, int m, int n,
					  int accumulate)
{
	uk_any_tile(mr, nr, kc, a, b, c, ldc, m, n, accumulate);
}
