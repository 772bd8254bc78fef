/* test_gemv.c: the one-row sgemm (lathe_rt_uk_sgemv, ukernel_gemv.c)
 * against a double-precision loop, in each of its forms: K contiguous in
 * A and B (dot products, with K split over two loops too), columns
 * contiguous in B (one column after another), and neither (plain loops);
 * odd sizes around the vector widths, a bias-and-clamp epilogue, one
 * thread and several; then refusals: regions one element short, more
 * than one row, a packed operand.  Also that lathe_rt_uk_find knows it.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "lathe_rt.h"
#include "lathe_rt_ukernel.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

/* Y[n] = min(sum_k A[k*ak] B[k*bk + n*bn] + bias[n], 0.5), K split into
 * K0 x K1 loops (strides k1 apart in the inner one). */
static void run(int64_t N, int64_t K0, int64_t K1, int64_t ak, int64_t bk, int64_t bn,
		lathe_rt_pool *pool)
{
	int64_t K = K0 * K1;
	int64_t na = K ? (K - 1) * ak + 1 : 0, nb = K && N ? (K - 1) * bk + (N - 1) * bn + 1 : 0;
	float *A = malloc(sizeof(float) * (size_t)(na + 1)), *B = malloc(sizeof(float) * (size_t)(nb + 1));
	float *Y = malloc(sizeof(float) * (size_t)(N + 1)), *bias = malloc(sizeof(float) * (size_t)(N + 1));
	for (int64_t i = 0; i < na; i++)
		A[i] = rnd();
	for (int64_t i = 0; i < nb; i++)
		B[i] = rnd();
	for (int64_t i = 0; i < N; i++)
		bias[i] = rnd(), Y[i] = NAN;
	int64_t ip[LATHE_UK_G_FIXED + 2 * LATHE_UK_EPI_INTS] = {0};
	ip[LATHE_UK_G_M] = 1, ip[LATHE_UK_G_N] = N;
	ip[LATHE_UK_G_K0] = K0, ip[LATHE_UK_G_K1] = K1, ip[LATHE_UK_G_K2] = 1;
	ip[LATHE_UK_G_AK0] = K1 * ak, ip[LATHE_UK_G_AK1] = ak;
	ip[LATHE_UK_G_BK0] = K1 * bk, ip[LATHE_UK_G_BK1] = bk, ip[LATHE_UK_G_BCS] = bn;
	ip[LATHE_UK_G_AFMT] = ip[LATHE_UK_G_BFMT] = LATHE_UK_FMT_STRIDED;
	ip[LATHE_UK_G_LDC] = N, ip[LATHE_UK_G_SLOTS] = 1;
	ip[LATHE_UK_G_NEPI] = 2;
	int64_t e[2 * LATHE_UK_EPI_INTS] = {LATHE_UK_EPI_ADD_N, 1, 0, LATHE_UK_EPI_MIN_S, 0, 0};
	for (int i = 0; i < 2 * LATHE_UK_EPI_INTS; i++)
		ip[LATHE_UK_G_FIXED + i] = e[i];
	double fp[1] = {0.5};
	float scratch[1];
	void *ptr[5] = {A, B, Y, scratch, bias};
	int64_t av[5] = {na, nb, N, 1, N};
	char err[200] = "";
	lathe_rt_uk_args a = {.pool = pool, .ptr = ptr, .avail = av, .nptr = 5, .ip = ip,
			      .nip = LATHE_UK_G_FIXED + 2 * LATHE_UK_EPI_INTS, .fp = fp, .nfp = 1,
			      .err = err, .err_size = sizeof err};
	int rc = lathe_rt_uk_sgemv(&a);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  sgemv: %s\n", err);
	int bad = 0;
	for (int64_t n = 0; n < N && !bad && !rc; n++) {
		double s = 0, mag = 0;
		for (int64_t k = 0; k < K; k++) {
			double p = (double)A[k * ak] * B[k * bk + n * bn];
			s += p, mag += fabs(p);
		}
		s = (float)(s + bias[n]);
		s = s < 0.5 ? s : 0.5;
		if (!(fabs(Y[n] - s) <= 1e-5 * (mag + 1))) {
			bad = 1;
			fprintf(stderr, "  sgemv N%lld K%lldx%lld ak%lld bk%lld bn%lld: [%lld] = %g, want %g\n",
				(long long)N, (long long)K0, (long long)K1, (long long)ak, (long long)bk,
				(long long)bn, (long long)n, Y[n], s);
		}
	}
	CHECK(!bad);
	/* Each region one element short is refused, before anything is written. */
	for (int i = 0; i < 5; i++) {
		if (i == 3 || (i < 2 && (!K || !N)) || av[i] == 0)
			continue;
		av[i]--;
		CHECK(lathe_rt_uk_sgemv(&a) == 1);
		av[i]++;
	}
	free(A), free(B), free(Y), free(bias);
}

static void test_refusals(void)
{
	float x[64] = {0};
	int64_t ip[LATHE_UK_G_FIXED] = {0};
	ip[LATHE_UK_G_M] = 2, ip[LATHE_UK_G_N] = 4;
	ip[LATHE_UK_G_K0] = 4, ip[LATHE_UK_G_K1] = 1, ip[LATHE_UK_G_K2] = 1;
	ip[LATHE_UK_G_AK0] = 1, ip[LATHE_UK_G_BK0] = 4, ip[LATHE_UK_G_BCS] = 1;
	void *ptr[4] = {x, x, x, x};
	int64_t av[4] = {64, 64, 64, 64};
	lathe_rt_uk_args a = {.ptr = ptr, .avail = av, .nptr = 4, .ip = ip, .nip = LATHE_UK_G_FIXED};
	CHECK(lathe_rt_uk_sgemv(&a) == 1); /* two rows */
	ip[LATHE_UK_G_M] = 1;
	CHECK(lathe_rt_uk_sgemv(&a) == 0);
	ip[LATHE_UK_G_BFMT] = LATHE_UK_FMT_PACKED;
	CHECK(lathe_rt_uk_sgemv(&a) == 1);
	ip[LATHE_UK_G_BFMT] = LATHE_UK_FMT_STRIDED;
	ip[LATHE_UK_G_BK0] = -1;
	CHECK(lathe_rt_uk_sgemv(&a) == 1);
	ip[LATHE_UK_G_BK0] = 4;
	/* K loops whose product wraps to 0 in 64 bits: refused, not an empty sum */
	ip[LATHE_UK_G_K0] = (int64_t)1 << 30, ip[LATHE_UK_G_K1] = (int64_t)1 << 30;
	ip[LATHE_UK_G_K2] = 16;
	CHECK(lathe_rt_uk_sgemv(&a) == 1);
	ip[LATHE_UK_G_K0] = (int64_t)1 << 16, ip[LATHE_UK_G_K1] = (int64_t)1 << 15;
	ip[LATHE_UK_G_K2] = 1;
	CHECK(lathe_rt_uk_sgemv(&a) == 1); /* K = 2^31 */
	ip[LATHE_UK_G_K0] = 4, ip[LATHE_UK_G_K1] = 1;
	a.nip = 3;
	CHECK(lathe_rt_uk_sgemv(&a) == 1);
	CHECK(lathe_rt_uk_find("sgemv", NULL) == lathe_rt_uk_sgemv);
}

int main(void)
{
	lathe_rt_pool *pool = lathe_rt_pool_create(3);
	/* dot products: K contiguous (the classifier's shape), odd sizes */
	run(1000, 1280, 1, 1, 1, 1280, NULL);
	run(1000, 1280, 1, 1, 1, 1280, pool);
	run(13, 37, 1, 1, 1, 37, NULL);
	run(9, 5, 3, 1, 1, 15, pool);
	run(7, 16, 1, 1, 1, 20, NULL);
	/* columns contiguous in B */
	run(130, 77, 1, 1, 130, 1, NULL);
	run(200, 33, 2, 1, 200, 1, pool);
	run(5, 3, 1, 2, 7, 1, NULL);
	/* neither: plain loops */
	run(21, 19, 1, 3, 2, 40, pool);
	/* nothing to sum: the epilogue of zeros */
	run(17, 0, 1, 1, 1, 1, NULL);
	test_refusals();
	lathe_rt_pool_destroy(pool);
	return CHECK_DONE("test_gemv");
}
