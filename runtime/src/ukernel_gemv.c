/* ukernel_gemv.c: sgemm with one row (lathe_rt_ukernel.h's sgemv), the
 * matrix-vector product of a classifier or of a decoder step.
 *
 * With M = 1 nothing is reused: every element of B is read once, so the
 * time is the time to stream B, and sgemm's packing and register tiles
 * (built to reuse B across rows of A) only add to it.  The arguments are
 * sgemm's (same pointers, integers and epilogue; A and B strided, the
 * scratch unused), so tensorize.c switches the name only.  K may span up
 * to three loops, each with its strides in A and B.  Three forms, by
 * B's layout:
 *  - K contiguous in A and B (a row per output, transB): dot products, eight
 *    outputs at a time, each a vector of partial sums over K, summed
 *    across lanes at the end;
 *  - columns contiguous in B: y += a[k] * B[k, :], 64 outputs at a time
 *    in registers, k by k;
 *  - plain loops otherwise.
 * Eight rows (or 64 columns) in flight keep several streams from memory
 * going at once.  Outputs are shared among the pool's threads in blocks,
 * so the result does not depend on the thread count.  The AVX-512 bodies
 * carry target attributes and run only where the CPU has AVX-512F; plain
 * loops otherwise.  Every region is checked against avail first.  libc
 * only.
 */
#include <string.h>

#include "lathe_rt_ukernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GV_X86 1
#include <immintrin.h>
#define GV_AVX512 __attribute__((target("avx512f")))
#else
#define GV_X86 0
#endif

typedef struct gv_prob {
	int64_t N, K[3], ak[3], bk[3], bn;
	const float *A, *B;
	float *C;
	int dot; /* K one contiguous run in A and B */
} gv_prob;

/* Element k (of the flattened K loops) of A and of B's column 0. */
static void gv_koff(const gv_prob *p, int64_t k, int64_t *ao, int64_t *bo)
{
	int64_t k2 = k % p->K[2], k1 = (k / p->K[2]) % p->K[1], k0 = k / (p->K[2] * p->K[1]);
	*ao = k0 * p->ak[0] + k1 * p->ak[1] + k2 * p->ak[2];
	*bo = k0 * p->bk[0] + k1 * p->bk[1] + k2 * p->bk[2];
}

/* Outputs [n0, n1), plain loops, k in order. */
static void gv_gen(const gv_prob *p, int64_t n0, int64_t n1)
{
	int64_t K = p->K[0] * p->K[1] * p->K[2];
	for (int64_t n = n0; n < n1; n++)
		p->C[n] = 0;
	for (int64_t k = 0; k < K; k++) {
		int64_t ao, bo;
		gv_koff(p, k, &ao, &bo);
		float a = p->A[ao];
		const float *b = p->B + bo;
		for (int64_t n = n0; n < n1; n++)
			p->C[n] += a * b[n * p->bn];
	}
}

#if GV_X86
static int gv_has_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
}

/* One K loop of stride 1 in B (dot form): rows of B are contiguous runs. */
static GV_AVX512 void gv_avx512_dot(const gv_prob *p, int64_t n0, int64_t n1)
{
	int64_t K = p->K[0] * p->K[1] * p->K[2];
	const float *A = p->A;
	for (int64_t n = n0; n < n1; n += 8) {
		int nr = n1 - n < 8 ? (int)(n1 - n) : 8;
		const float *b[8];
		for (int r = 0; r < 8; r++)
			b[r] = p->B + (n + (r < nr ? r : 0)) * p->bn;
		__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0,
		       s7 = s0;
		int64_t k = 0;
		for (; k < K; k += 16) {
			__mmask16 m = K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (K - k)) - 1);
			__m512 x = _mm512_maskz_loadu_ps(m, A + k);
			s0 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b[0] + k), s0);
			s1 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b[1] + k), s1);
			s2 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b[2] + k), s2);
			s3 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b[3] + k), s3);
			s4 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b[4] + k), s4);
			s5 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b[5] + k), s5);
			s6 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b[6] + k), s6);
			s7 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b[7] + k), s7);
		}
		float out[8] = {_mm512_reduce_add_ps(s0), _mm512_reduce_add_ps(s1),
				_mm512_reduce_add_ps(s2), _mm512_reduce_add_ps(s3),
				_mm512_reduce_add_ps(s4), _mm512_reduce_add_ps(s5),
				_mm512_reduce_add_ps(s6), _mm512_reduce_add_ps(s7)};
		for (int r = 0; r < nr; r++)
			p->C[n + r] = out[r];
	}
}

/* Columns contiguous in B: 64 outputs in four registers, k by k. */
static GV_AVX512 void gv_avx512_axpy(const gv_prob *p, int64_t n0, int64_t n1)
{
	int64_t K = p->K[0] * p->K[1] * p->K[2];
	for (int64_t n = n0; n < n1; n += 64) {
		int64_t w = n1 - n < 64 ? n1 - n : 64;
		__mmask16 m[4];
		for (int q = 0; q < 4; q++) {
			int64_t l = w - 16 * q;
			m[q] = l >= 16 ? 0xFFFF : l <= 0 ? 0 : (__mmask16)((1u << l) - 1);
		}
		__m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
		for (int64_t k = 0; k < K; k++) {
			int64_t ao, bo;
			gv_koff(p, k, &ao, &bo);
			__m512 x = _mm512_set1_ps(p->A[ao]);
			const float *b = p->B + bo + n;
			c0 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m[0], b), c0);
			c1 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m[1], b + 16), c1);
			c2 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m[2], b + 32), c2);
			c3 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m[3], b + 48), c3);
		}
		_mm512_mask_storeu_ps(p->C + n, m[0], c0);
		_mm512_mask_storeu_ps(p->C + n + 16, m[1], c1);
		_mm512_mask_storeu_ps(p->C + n + 32, m[2], c2);
		_mm512_mask_storeu_ps(p->C + n + 48, m[3], c3);
	}
}
#endif

typedef struct gv_run {
	const gv_prob *p;
	const lathe_rt_uk_epi *ep;
	int64_t block;
	void (*body)(const gv_prob *p, int64_t n0, int64_t n1);
} gv_run;

static void gv_task(void *ctx, int64_t begin, int64_t end)
{
	const gv_run *r = ctx;
	for (int64_t b = begin; b < end; b++) {
		int64_t n0 = b * r->block, n1 = n0 + r->block < r->p->N ? n0 + r->block : r->p->N;
		r->body(r->p, n0, n1);
		if (r->ep->n)
			lathe_rt_uk_epi_rows(r->ep, r->p->C + n0, n1 - n0, 1, n1 - n0, 0, n0);
	}
}

/* The largest index reached from 0 by extents e (> 0) with strides s. */
static int64_t gv_last(int n, const int64_t *e, const int64_t *s)
{
	int64_t x = 0;
	for (int i = 0; i < n; i++)
		x += (e[i] - 1) * s[i];
	return x;
}

LATHE_RT_UK_API int lathe_rt_uk_sgemv(const lathe_rt_uk_args *a)
{
	if (a->nip < LATHE_UK_G_FIXED || a->nptr < 3)
		return lathe_rt_uk_fail(a, "sgemv: %d integer parameters and %d pointers (%d and 3 needed)",
			       a->nip, a->nptr, LATHE_UK_G_FIXED);
	const int64_t *ip = a->ip;
	gv_prob p;
	memset(&p, 0, sizeof p);
	const int64_t lim = (int64_t)1 << 31;
	int64_t M = ip[LATHE_UK_G_M];
	p.N = ip[LATHE_UK_G_N];
	p.bn = ip[LATHE_UK_G_BCS];
	int64_t K = 1;
	for (int j = 0; j < 3; j++) {
		p.K[j] = ip[LATHE_UK_G_K0 + j];
		p.ak[j] = ip[LATHE_UK_G_AK0 + j];
		p.bk[j] = ip[LATHE_UK_G_BK0 + j];
		if (p.K[j] < 0 || p.K[j] >= lim || p.ak[j] < 0 || p.ak[j] >= lim || p.bk[j] < 0 ||
		    p.bk[j] >= lim)
			return lathe_rt_uk_fail(a, "sgemv: bad K loop %d", j);
		K *= p.K[j]; /* K < 2^31 before, p.K[j] < 2^31: no overflow */
		if (K >= lim)
			return lathe_rt_uk_fail(a, "sgemv: K of 2^31 or more");
	}
	if (M != 1 || p.N < 0 || p.N >= lim || p.bn < 0 || p.bn >= lim || K >= lim ||
	    ip[LATHE_UK_G_AFMT] != LATHE_UK_FMT_STRIDED || ip[LATHE_UK_G_BFMT] != LATHE_UK_FMT_STRIDED)
		return lathe_rt_uk_fail(a, "sgemv: one row of A and both operands strided needed");
	int64_t nepi = a->nip > LATHE_UK_G_NEPI ? ip[LATHE_UK_G_NEPI] : 0;
	lathe_rt_uk_epi ep;
	if (lathe_rt_uk_epi_parse(a, LATHE_UK_G_FIXED, nepi, 4, 1, p.N, &ep))
		return 1;
	if (p.N > a->avail[2])
		return lathe_rt_uk_fail(a, "sgemv: C needs %lld elements, %lld available", (long long)p.N,
			       (long long)a->avail[2]);
	/* Strides and sizes below 2^31: these sums fit in 64 bits. */
	if (p.N && K) {
		int64_t na = gv_last(3, p.K, p.ak) + 1;
		int64_t nb = gv_last(3, p.K, p.bk) + (p.N - 1) * p.bn + 1;
		if (na > a->avail[0])
			return lathe_rt_uk_fail(a, "sgemv: A needs %lld elements, %lld available", (long long)na,
				       (long long)a->avail[0]);
		if (nb > a->avail[1])
			return lathe_rt_uk_fail(a, "sgemv: B needs %lld elements, %lld available", (long long)nb,
				       (long long)a->avail[1]);
	}
	if (!p.N)
		return 0;
	p.A = a->ptr[0];
	p.B = a->ptr[1];
	p.C = a->ptr[2];
	/* The dot form: K one contiguous run in both A and B (each loop's
	 * strides the product of the inner extents). */
	int64_t inner = 1;
	p.dot = 1;
	for (int j = 2; j >= 0; j--) {
		if (p.K[j] == 1)
			continue;
		p.dot &= p.bk[j] == inner && p.ak[j] == inner;
		inner *= p.K[j];
	}
	gv_run r = {.p = &p, .ep = &ep, .block = 64, .body = gv_gen};
#if GV_X86
	if (gv_has_avx512() && K)
		r.body = p.dot ? gv_avx512_dot : p.bn == 1 ? gv_avx512_axpy : gv_gen;
#endif
	lathe_rt_uk_pfor(a->pool, (p.N + r.block - 1) / r.block, gv_task, &r);
	return 0;
}
