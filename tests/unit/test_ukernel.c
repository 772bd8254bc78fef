/* test_ukernel.c: the runtime's micro-kernels (lathe_rt_ukernel.h) against
 * naive double-precision loops: sgemm with every operand format (strided,
 * packed, im2col), odd sizes around the register tile, every epilogue,
 * several threads and scratch slots; pack; depthwise convolution with
 * strides, dilations and padding; and refusals of regions that do not fit.
 *
 * `test_ukernel bench` times sgemm on a few model-sized shapes instead
 * (GFLOP/s, one thread and two).
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "lathe_rt.h"
#include "lathe_rt_ukernel.h"

static uint64_t rng = 88172645463325252ull;
static double rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0 * 2 - 1;
}

static float *rnd_buf(int64_t n)
{
	float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
	for (int64_t i = 0; i < n; i++)
		p[i] = (float)rnd();
	return p;
}

/* |got - want| within a tolerance scaled by the sum of absolute products. */
static bool close_to(float got, double want, double mag)
{
	if (isnan(want))
		return isnan(got);
	return fabs(got - want) <= 1e-5 * (mag + 1);
}

/* ---- sgemm ---------------------------------------------------------------------- */

/* Set: sgemm and convolutions run with the transposed tile (32 x 14: C^T,
 * the rows of C on the vector axis) instead of the native one. */
static bool tile_trans;

static void test_tile(int *mr, int *nr)
{
	lathe_rt_uk_native_tile(mr, nr);
	if (tile_trans)
		*mr = 32, *nr = 14;
}

typedef struct gcase {
	int64_t M, N, k0, k1, k2;
	int afmt, bfmt;
	bool transA, transB;
	int slots;
	int nepi;
	int epi[4];
} gcase;

/* Reference epilogue on one value. */
static double ref_epi(const gcase *c, double t, int64_t m, int64_t n, const float *vm,
		      const float *vn, const float *vmn, int64_t N)
{
	for (int i = 0; i < c->nepi; i++) {
		switch (c->epi[i]) {
		case LATHE_UK_EPI_ADD_M: t = (float)(t + vm[m]); break;
		case LATHE_UK_EPI_ADD_N: t = (float)(t + vn[n]); break;
		case LATHE_UK_EPI_ADD_MN: t = (float)(t + vmn[m * N + n]); break;
		case LATHE_UK_EPI_MUL_M: t = (float)(t * vm[m]); break;
		case LATHE_UK_EPI_MAX_S: t = isnan(t) ? t : t > 0.25 ? t : 0.25; break;
		case LATHE_UK_EPI_MIN_S: t = isnan(t) ? t : t < 0.5 ? t : 0.5; break;
		case LATHE_UK_EPI_MUL_S: t = (float)(t * 2.0); break;
		case LATHE_UK_EPI_ERF: t = (float)erf(t); break;
		}
	}
	return t;
}

static void run_gemm(const gcase *c, lathe_rt_pool *pool)
{
	int mr, nr;
	test_tile(&mr, &nr);
	int64_t M = c->M, N = c->N, K = c->k0 * c->k1 * c->k2;
	float *A = rnd_buf(M * K), *B = rnd_buf(K * N), *C = rnd_buf(M * N);
	float *vm = rnd_buf(M), *vn = rnd_buf(N), *vmn = rnd_buf(M * N);
	int64_t ip[LATHE_UK_G_FIXED + 4 * LATHE_UK_EPI_INTS] = {0};
	ip[LATHE_UK_G_M] = M, ip[LATHE_UK_G_N] = N;
	ip[LATHE_UK_G_K0] = c->k0, ip[LATHE_UK_G_K1] = c->k1, ip[LATHE_UK_G_K2] = c->k2;
	ip[LATHE_UK_G_MR] = mr, ip[LATHE_UK_G_NR] = nr;
	/* A is [M][K] (or [K][M] transposed), K = (k0, k1, k2) row-major. */
	int64_t as = c->transA ? 1 : K, ak = c->transA ? M : 1;
	int64_t bs = c->transB ? K : 1, bk = c->transB ? 1 : N;
	ip[LATHE_UK_G_AFMT] = LATHE_UK_FMT_STRIDED;
	ip[LATHE_UK_G_ARS] = as;
	ip[LATHE_UK_G_AK0] = c->k1 * c->k2 * ak, ip[LATHE_UK_G_AK1] = c->k2 * ak,
	ip[LATHE_UK_G_AK2] = ak;
	ip[LATHE_UK_G_BFMT] = LATHE_UK_FMT_STRIDED;
	ip[LATHE_UK_G_BCS] = bs;
	ip[LATHE_UK_G_BK0] = c->k1 * c->k2 * bk, ip[LATHE_UK_G_BK1] = c->k2 * bk,
	ip[LATHE_UK_G_BK2] = bk;
	ip[LATHE_UK_G_LDC] = N;
	ip[LATHE_UK_G_SLOTS] = c->slots;
	ip[LATHE_UK_G_IM_OW] = 1;
	float *Ap = NULL, *Bp = NULL;
	int64_t nap = (M + mr - 1) / mr * mr * K, nbp = (N + nr - 1) / nr * nr * K;
	if (c->afmt == LATHE_UK_FMT_PACKED) {
		Ap = malloc(sizeof(float) * (size_t)(nap + 1));
		int64_t pp[LATHE_UK_P_FIXED] = {0, M, c->k0, c->k1, c->k2, mr, as,
						ip[LATHE_UK_G_AK0], ip[LATHE_UK_G_AK1], ip[LATHE_UK_G_AK2]};
		void *ptr[2] = {A, Ap};
		int64_t av[2] = {M * K, nap};
		lathe_rt_uk_args pa = {.ptr = ptr, .avail = av, .nptr = 2, .ip = pp,
				       .nip = LATHE_UK_P_FIXED};
		CHECK(lathe_rt_uk_pack(&pa) == 0);
		ip[LATHE_UK_G_AFMT] = LATHE_UK_FMT_PACKED;
	}
	if (c->bfmt == LATHE_UK_FMT_PACKED) {
		Bp = malloc(sizeof(float) * (size_t)(nbp + 1));
		int64_t pp[LATHE_UK_P_FIXED] = {1, N, c->k0, c->k1, c->k2, nr, bs,
						ip[LATHE_UK_G_BK0], ip[LATHE_UK_G_BK1], ip[LATHE_UK_G_BK2]};
		void *ptr[2] = {B, Bp};
		int64_t av[2] = {K * N, nbp};
		lathe_rt_uk_args pa = {.ptr = ptr, .avail = av, .nptr = 2, .ip = pp,
				       .nip = LATHE_UK_P_FIXED};
		CHECK(lathe_rt_uk_pack(&pa) == 0);
		ip[LATHE_UK_G_BFMT] = LATHE_UK_FMT_PACKED;
	}
	int nptr = 4;
	void *ptr[8];
	int64_t av[8];
	double fp[2] = {0.25, 0.5};
	double fp2 = 2.0;
	double fps[3] = {fp[0], fp[1], fp2};
	ip[LATHE_UK_G_NEPI] = c->nepi;
	for (int i = 0; i < c->nepi; i++) {
		int64_t *q = ip + LATHE_UK_G_FIXED + i * LATHE_UK_EPI_INTS;
		q[0] = c->epi[i];
		switch (c->epi[i]) {
		case LATHE_UK_EPI_ADD_M: case LATHE_UK_EPI_MUL_M:
			q[1] = 1, ptr[nptr] = vm, av[nptr++] = M; break;
		case LATHE_UK_EPI_ADD_N:
			q[1] = 1, ptr[nptr] = vn, av[nptr++] = N; break;
		case LATHE_UK_EPI_ADD_MN:
			q[1] = N, q[2] = 1, ptr[nptr] = vmn, av[nptr++] = M * N; break;
		case LATHE_UK_EPI_MAX_S: q[1] = 0; break;
		case LATHE_UK_EPI_MIN_S: q[1] = 1; break;
		case LATHE_UK_EPI_MUL_S: q[1] = 2; break;
		}
	}
	int64_t ns = lathe_rt_uk_sgemm_scratch(ip, LATHE_UK_G_FIXED + c->nepi * LATHE_UK_EPI_INTS);
	CHECK(ns > 0);
	float *S = malloc(sizeof(float) * (size_t)(ns + 1));
	ptr[0] = Ap ? Ap : A, av[0] = Ap ? nap : M * K;
	ptr[1] = Bp ? Bp : B, av[1] = Bp ? nbp : K * N;
	ptr[2] = C, av[2] = M * N;
	ptr[3] = S, av[3] = ns;
	char err[200] = "";
	lathe_rt_uk_args ga = {.pool = pool, .ptr = ptr, .avail = av, .nptr = nptr, .ip = ip,
			       .nip = LATHE_UK_G_FIXED + c->nepi * LATHE_UK_EPI_INTS, .fp = fps,
			       .nfp = 3, .err = err, .err_size = sizeof err};
	int rc = lathe_rt_uk_sgemm(&ga);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  sgemm: %s\n", err);
	int bad = 0;
	for (int64_t m = 0; m < M && !bad; m++)
		for (int64_t n = 0; n < N && !bad; n++) {
			double s = 0, mag = 0;
			for (int64_t k = 0; k < K; k++) {
				double p = (double)A[m * as + k * ak] * B[k * bk + n * bs];
				s += p;
				mag += fabs(p);
			}
			double want = ref_epi(c, s, m, n, vm, vn, vmn, N);
			if (!close_to(C[m * N + n], want, mag * 3)) {
				bad = 1;
				fprintf(stderr, "  sgemm %lldx%lldx%lld afmt %d bfmt %d: C[%lld,%lld] = %g, want %g\n",
					(long long)M, (long long)N, (long long)K, c->afmt, c->bfmt, (long long)m,
					(long long)n, C[m * N + n], want);
			}
		}
	CHECK(!bad);
	/* One element short of any operand is refused. */
	for (int i = 0; i < 4 && M && N && K; i++) {
		av[i]--;
		err[0] = 0;
		CHECK(lathe_rt_uk_sgemm(&ga) == 1 && err[0]);
		av[i]++;
	}
	free(A), free(B), free(C), free(vm), free(vn), free(vmn), free(S), free(Ap), free(Bp);
}

static void test_gemm(lathe_rt_pool *pool)
{
	static const gcase cases[] = {
		{1, 1, 1, 1, 1, 0, 0, false, false, 1, 0, {0}},
		{5, 7, 3, 1, 1, 0, 0, false, false, 1, 0, {0}},
		{12, 32, 16, 1, 1, 0, 0, false, false, 1, 0, {0}},
		{13, 33, 17, 1, 1, 1, 0, false, false, 2, 0, {0}},
		{24, 64, 300, 1, 1, 1, 1, false, false, 2, 2, {LATHE_UK_EPI_ADD_M, LATHE_UK_EPI_MAX_S}},
		{37, 70, 2, 3, 5, 1, 0, false, true, 3, 3,
		 {LATHE_UK_EPI_ADD_N, LATHE_UK_EPI_ADD_MN, LATHE_UK_EPI_MIN_S}},
		{64, 49, 576, 1, 1, 1, 0, true, false, 2, 2, {LATHE_UK_EPI_MUL_M, LATHE_UK_EPI_MUL_S}},
		{130, 513, 260, 1, 1, 0, 1, true, true, 4, 1, {LATHE_UK_EPI_ADD_N}},
		{3, 1000, 512, 1, 1, 0, 1, false, true, 2, 0, {0}},
		/* A strided, B packed (a Linear's weights) with an epilogue the
		 * tile cannot apply in registers: applied per row panel (many
		 * column panels) or per block (few), over several K blocks */
		{130, 513, 260, 1, 1, 0, 1, true, true, 2, 2, {LATHE_UK_EPI_ADD_N, LATHE_UK_EPI_ERF}},
		{37, 50, 100, 1, 1, 0, 1, false, false, 1, 2, {LATHE_UK_EPI_ADD_M, LATHE_UK_EPI_ERF}},
		{100, 700, 600, 1, 1, 0, 1, false, false, 3, 3,
		 {LATHE_UK_EPI_ADD_N, LATHE_UK_EPI_ERF, LATHE_UK_EPI_MUL_S}},
		/* last column panels of at most half a tile (the half-width
		 * kernel), over several K blocks */
		{20, 40, 600, 1, 1, 1, 0, false, false, 2, 2, {LATHE_UK_EPI_ADD_M, LATHE_UK_EPI_MAX_S}},
		{30, 169, 512, 1, 1, 0, 1, false, false, 2, 1, {LATHE_UK_EPI_ADD_N}},
		{0, 5, 3, 1, 1, 0, 0, false, false, 1, 0, {0}},
		{4, 5, 0, 1, 1, 0, 0, false, false, 1, 1, {LATHE_UK_EPI_ADD_M}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int t = 0; t < 2; t++) {
			tile_trans = t;
			run_gemm(&cases[i], NULL);
			run_gemm(&cases[i], pool);
		}
		tile_trans = false;
	}
}

/* ---- convolution through im2col ------------------------------------------------------ */

typedef struct ccase {
	int64_t C, H, W, M, KH, KW, S, D, P;
} ccase;

/* layout 0: X is [C][H][W] with channel stride IM_SC; 1: the same with the
 * channel stride in IM_CC0 (as tensorize writes it); 2: X is [H][W][C]
 * (channels last: no direct convolution, B is gathered). */
/* epi 0: none; 1: + bias[m], max 0 (no operand by column); 2: + bias[m]
 * + R[m, n], max 0; 3: + bias[m], erf. */
static void run_conv(const ccase *c, lathe_rt_pool *pool, int slots, int layout, int epi)
{
	int mr, nr;
	test_tile(&mr, &nr);
	int64_t OH = (c->H + 2 * c->P - c->D * (c->KH - 1) - 1) / c->S + 1;
	int64_t OW = (c->W + 2 * c->P - c->D * (c->KW - 1) - 1) / c->S + 1;
	int64_t K = c->C * c->KH * c->KW, N = OH * OW, M = c->M;
	float *X = rnd_buf(c->C * c->H * c->W), *Wt = rnd_buf(M * K), *Y = rnd_buf(M * N);
	float *bias = rnd_buf(M), *R = rnd_buf(M * N);
	enum { NI = LATHE_UK_G_FIXED + 3 * LATHE_UK_EPI_INTS };
	int64_t ip[NI] = {0};
	int64_t *q = ip + LATHE_UK_G_FIXED;
	if (epi == 1)
		ip[LATHE_UK_G_NEPI] = 2, q[0] = LATHE_UK_EPI_ADD_M, q[1] = 1,
		q[3] = LATHE_UK_EPI_MAX_S;
	if (epi == 2)
		ip[LATHE_UK_G_NEPI] = 3, q[0] = LATHE_UK_EPI_ADD_M, q[1] = 1,
		q[3] = LATHE_UK_EPI_ADD_MN, q[4] = N, q[5] = 1, q[6] = LATHE_UK_EPI_MAX_S;
	if (epi == 3)
		ip[LATHE_UK_G_NEPI] = 2, q[0] = LATHE_UK_EPI_ADD_M, q[1] = 1,
		q[3] = LATHE_UK_EPI_ERF;
	double fp[1] = {0};
	ip[LATHE_UK_G_M] = M, ip[LATHE_UK_G_N] = N;
	ip[LATHE_UK_G_K0] = c->C, ip[LATHE_UK_G_K1] = c->KH, ip[LATHE_UK_G_K2] = c->KW;
	ip[LATHE_UK_G_MR] = mr, ip[LATHE_UK_G_NR] = nr;
	ip[LATHE_UK_G_AFMT] = LATHE_UK_FMT_STRIDED;
	ip[LATHE_UK_G_ARS] = K, ip[LATHE_UK_G_AK0] = c->KH * c->KW, ip[LATHE_UK_G_AK1] = c->KW,
	ip[LATHE_UK_G_AK2] = 1;
	ip[LATHE_UK_G_BFMT] = LATHE_UK_FMT_IM2COL;
	ip[LATHE_UK_G_LDC] = N, ip[LATHE_UK_G_SLOTS] = slots;
	ip[LATHE_UK_G_IM_CC0] = 1, ip[LATHE_UK_G_IM_CH1] = c->D, ip[LATHE_UK_G_IM_CW2] = c->D;
	ip[LATHE_UK_G_IM_SC] = c->H * c->W, ip[LATHE_UK_G_IM_SHS] = c->W, ip[LATHE_UK_G_IM_SWS] = 1;
	if (layout == 1)
		ip[LATHE_UK_G_IM_CC0] = c->H * c->W, ip[LATHE_UK_G_IM_SC] = 1;
	if (layout == 2)
		ip[LATHE_UK_G_IM_SC] = 1, ip[LATHE_UK_G_IM_SHS] = c->W * c->C,
		ip[LATHE_UK_G_IM_SWS] = c->C;
	ip[LATHE_UK_G_IM_H] = c->H, ip[LATHE_UK_G_IM_W] = c->W, ip[LATHE_UK_G_IM_OW] = OW;
	ip[LATHE_UK_G_IM_SH] = c->S, ip[LATHE_UK_G_IM_SW] = c->S;
	ip[LATHE_UK_G_IM_H0] = -c->P, ip[LATHE_UK_G_IM_W0] = -c->P;
	int64_t ns = lathe_rt_uk_sgemm_scratch(ip, NI);
	float *S = malloc(sizeof(float) * (size_t)ns);
	int64_t xs[3] = {c->H * c->W, c->W, 1}; /* strides of channel, row, column */
	if (layout == 2)
		xs[0] = 1, xs[1] = c->W * c->C, xs[2] = c->C;
	void *ptr[6] = {Wt, X, Y, S, bias, R};
	int64_t av[6] = {M * K, c->C * c->H * c->W, M * N, ns, M, M * N};
	char err[200] = "";
	lathe_rt_uk_args ga = {.pool = pool, .ptr = ptr, .avail = av, .nptr = 4 + (epi > 0) + (epi == 2),
			       .ip = ip, .nip = NI, .fp = fp, .nfp = 1, .err = err,
			       .err_size = sizeof err};
	int rc = lathe_rt_uk_sgemm(&ga);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  conv: %s\n", err);
	int bad = 0;
	for (int64_t m = 0; m < M && !bad; m++)
		for (int64_t oh = 0; oh < OH && !bad; oh++)
			for (int64_t ow = 0; ow < OW && !bad; ow++) {
				double s = 0, mag = 0;
				for (int64_t ci = 0; ci < c->C; ci++)
					for (int64_t kh = 0; kh < c->KH; kh++)
						for (int64_t kw = 0; kw < c->KW; kw++) {
							int64_t h = oh * c->S + kh * c->D - c->P;
							int64_t w = ow * c->S + kw * c->D - c->P;
							if (h < 0 || h >= c->H || w < 0 || w >= c->W)
								continue;
							double p = (double)X[ci * xs[0] + h * xs[1] + w * xs[2]] *
								   Wt[((m * c->C + ci) * c->KH + kh) * c->KW + kw];
							s += p, mag += fabs(p);
						}
				if (epi)
					s += bias[m];
				if (epi == 2)
					s += R[m * N + oh * OW + ow];
				if (epi == 1 || epi == 2)
					s = s > 0 ? s : 0;
				if (epi == 3)
					s = erf(s);
				float got = Y[m * N + oh * OW + ow];
				if (!close_to(got, s, mag * 3)) {
					bad = 1;
					fprintf(stderr, "  conv C%lld %lldx%lld M%lld k%lld s%lld d%lld p%lld: "
						"Y[%lld,%lld,%lld] = %g, want %g\n", (long long)c->C,
						(long long)c->H, (long long)c->W, (long long)M,
						(long long)c->KH, (long long)c->S, (long long)c->D,
						(long long)c->P, (long long)m, (long long)oh, (long long)ow,
						got, s);
				}
			}
	CHECK(!bad);
	av[1]--;
	CHECK(lathe_rt_uk_sgemm(&ga) == 1);
	free(X), free(Wt), free(Y), free(S), free(bias), free(R);
}

static void test_conv(lathe_rt_pool *pool)
{
	static const ccase cases[] = {
		{3, 16, 16, 8, 3, 3, 1, 1, 1},  {3, 23, 19, 13, 7, 7, 2, 1, 3},
		{16, 14, 14, 24, 1, 1, 1, 1, 0}, {8, 15, 15, 5, 1, 1, 2, 1, 0},
		{4, 9, 11, 7, 3, 3, 1, 2, 2},   {2, 5, 5, 3, 5, 5, 1, 1, 0},
		{32, 56, 56, 64, 3, 3, 1, 1, 1},
		/* strides 2 and 3 (phase planes), dilation with stride, more
		 * than one K block, a single output row */
		{5, 12, 17, 6, 3, 3, 3, 1, 1},  {4, 14, 13, 9, 3, 3, 2, 2, 2},
		{64, 10, 10, 20, 3, 3, 2, 1, 1}, {3, 8, 9, 4, 2, 2, 2, 1, 0},
		{4, 3, 20, 5, 3, 3, 2, 1, 0},   {40, 9, 9, 30, 3, 3, 1, 1, 1},
		/* resnet's last stage in small: 7x7 outputs (the transposed
		 * tile's 7-row tail), K blocks; odd sizes on both sides */
		{96, 7, 7, 64, 3, 3, 1, 1, 1},  {300, 9, 9, 40, 3, 3, 2, 1, 1},
		/* 1x1 of strides 2 and 3: one phase plane, no padding columns
		 * (tiles straight into C across output rows); with padding */
		{40, 30, 30, 48, 1, 1, 2, 1, 0}, {24, 20, 22, 36, 1, 1, 2, 1, 1},
		{6, 13, 14, 7, 1, 1, 3, 1, 0},
		/* row tiles (output rows of whole tiles, or ending in a half
		 * tile): few channels, stride 2, the 7x7 of a first layer; K
		 * blocks with rows of one and of one half tile */
		{3, 32, 32, 13, 3, 3, 1, 1, 1}, {3, 96, 96, 20, 3, 3, 2, 1, 1},
		{3, 64, 64, 16, 7, 7, 2, 1, 3}, {80, 6, 32, 12, 3, 3, 1, 1, 1},
		{64, 8, 16, 20, 3, 3, 1, 1, 1},
		/* row tiles whose last tile is partial (masked stores): 28
		 * columns (full-width kernel), 13 (half-width), stride 2 with
		 * 31 and 47 (a first layer's 3 channels), K blocks with 14
		 * and 30 */
		{16, 28, 28, 20, 3, 3, 1, 1, 1}, {8, 13, 13, 14, 3, 3, 1, 1, 1},
		{3, 63, 63, 13, 3, 3, 2, 1, 0},  {3, 95, 95, 13, 3, 3, 2, 1, 0},
		{80, 6, 14, 12, 3, 3, 1, 1, 1},  {40, 5, 30, 12, 3, 3, 1, 1, 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int layout = 0; layout < 3; layout++) {
			for (int t = 0; t < 2; t++) {
				tile_trans = t;
				run_conv(&cases[i], NULL, 1, layout, (int)(i + layout) % 4);
				run_conv(&cases[i], pool, 2, layout, (int)(i + layout + 1) % 4);
			}
			tile_trans = false;
		}
	}
}

/* ---- depthwise ------------------------------------------------------------------------ */

/* Strides SH, SW; the input's rows XW >= W apart. */
static void run_dw2(int64_t C, int64_t H, int64_t W, int64_t K, int64_t SH, int64_t SW, int64_t D,
		    int64_t P, int64_t XW, lathe_rt_pool *pool)
{
	int64_t OH = (H + 2 * P - D * (K - 1) - 1) / SH + 1;
	int64_t OW = (W + 2 * P - D * (K - 1) - 1) / SW + 1;
	float *X = rnd_buf(C * H * XW), *Wt = rnd_buf(C * K * K), *Y = rnd_buf(C * OH * OW);
	float *bias = rnd_buf(C);
	int64_t ip[LATHE_UK_D_FIXED + 2 * LATHE_UK_EPI_INTS] = {
		C, H, W, OH, OW, K, K, SH, SW, D, D, P, P, H * XW, XW, K * K, OH * OW, 2,
		LATHE_UK_EPI_ADD_M, 1, 0, LATHE_UK_EPI_MIN_S, 0, 0};
	double fp[1] = {0.5};
	void *ptr[4] = {X, Wt, Y, bias};
	int64_t av[4] = {(C * H - 1) * XW + W, C * K * K, C * OH * OW, C}; /* all it reads */
	char err[200] = "";
	lathe_rt_uk_args a = {.pool = pool, .ptr = ptr, .avail = av, .nptr = 4, .ip = ip,
			      .nip = LATHE_UK_D_FIXED + 2 * LATHE_UK_EPI_INTS, .fp = fp, .nfp = 1,
			      .err = err, .err_size = sizeof err};
	int rc = lathe_rt_uk_dwconv(&a);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  dwconv: %s\n", err);
	int bad = 0;
	for (int64_t c = 0; c < C && !bad; c++)
		for (int64_t oh = 0; oh < OH && !bad; oh++)
			for (int64_t ow = 0; ow < OW && !bad; ow++) {
				double s = 0, mag = 0;
				for (int64_t kh = 0; kh < K; kh++)
					for (int64_t kw = 0; kw < K; kw++) {
						int64_t h = oh * SH + kh * D - P, w = ow * SW + kw * D - P;
						if (h < 0 || h >= H || w < 0 || w >= W)
							continue;
						double p = (double)X[(c * H + h) * XW + w] *
							   Wt[(c * K + kh) * K + kw];
						s += p, mag += fabs(p);
					}
				s = (float)(s + bias[c]);
				s = s < 0.5 ? s : 0.5;
				float got = Y[(c * OH + oh) * OW + ow];
				if (!close_to(got, s, mag * 3)) {
					bad = 1;
					fprintf(stderr, "  dwconv C%lld %lldx%lld k%lld s%lld,%lld d%lld p%lld: "
						"[%lld,%lld,%lld] = %g, want %g\n", (long long)C, (long long)H,
						(long long)W, (long long)K, (long long)SH, (long long)SW, (long long)D,
						(long long)P, (long long)c, (long long)oh, (long long)ow, got, s);
				}
			}
	CHECK(!bad);
	for (int i = 0; i < 4; i++) {
		av[i]--;
		CHECK(lathe_rt_uk_dwconv(&a) == 1);
		av[i]++;
	}
	free(X), free(Wt), free(Y), free(bias);
}

static void run_dw(int64_t C, int64_t H, int64_t W, int64_t K, int64_t S, int64_t D, int64_t P,
		   lathe_rt_pool *pool)
{
	run_dw2(C, H, W, K, S, S, D, P, W, pool);
}

static void test_dw(lathe_rt_pool *pool)
{
	run_dw(3, 8, 8, 3, 1, 1, 1, pool);
	run_dw(5, 17, 13, 3, 2, 1, 1, NULL);
	run_dw(4, 16, 16, 3, 2, 1, 1, pool);
	run_dw(2, 9, 10, 5, 1, 2, 4, NULL);
	run_dw(2, 7, 7, 3, 3, 1, 0, NULL);
	run_dw(32, 112, 112, 3, 1, 1, 1, pool);
	/* rows in bands of 7, 7, 7 and 8 on the test's 4 threads */
	run_dw(8, 57, 57, 3, 2, 1, 1, pool);
	/* 'same' convolutions (flat runs: in place, or phase planes), and
	 * ones whose output rows are narrower (padded planes) */
	run_dw(3, 14, 14, 5, 2, 1, 2, pool);
	run_dw(3, 28, 28, 5, 2, 1, 2, pool);
	run_dw(2, 18, 20, 5, 1, 2, 4, NULL);
	run_dw(2, 31, 31, 3, 3, 1, 0, NULL);
	run_dw(6, 7, 7, 3, 1, 1, 1, NULL);
	/* small planes of many channels (a network's last stages): 7x7 of
	 * stride 1, 14x14 to 7x7, a dilated 5x5, 16x16 in */
	run_dw(37, 7, 7, 3, 1, 1, 1, pool);
	run_dw(21, 14, 14, 3, 2, 1, 1, NULL);
	run_dw(16, 9, 9, 5, 1, 2, 3, pool);
	run_dw(18, 16, 16, 3, 2, 1, 0, NULL);
	run_dw(3, 10, 12, 3, 1, 1, 0, NULL);
	run_dw(2, 9, 9, 3, 2, 1, 0, NULL);
	run_dw(2, 16, 16, 3, 2, 1, 0, pool);
	run_dw2(3, 11, 9, 3, 2, 1, 1, 1, 9, NULL);
	run_dw2(3, 11, 9, 3, 1, 2, 1, 1, 9, NULL);
	run_dw2(3, 11, 9, 3, 1, 1, 1, 1, 13, pool);
	run_dw2(2, 12, 10, 3, 2, 2, 1, 1, 11, NULL);
	/* wide rows (three columns of taps by shifts) */
	run_dw(2, 5, 50, 3, 1, 1, 1, NULL);
	run_dw(3, 3, 64, 3, 1, 1, 1, NULL);
	run_dw(2, 9, 49, 3, 1, 1, 1, pool);
	run_dw(3, 28, 28, 3, 1, 1, 1, pool);
	/* small planes: the flat run's last vectors side by side */
	run_dw(4, 14, 14, 3, 1, 1, 1, NULL);
	run_dw(5, 6, 9, 3, 1, 1, 1, NULL);
	/* three columns of stride 2 from the image in place (rows of 16
	 * outputs or more): padding 0 to 2, odd row counts, strided rows */
	run_dw(3, 40, 37, 3, 2, 1, 1, NULL);
	run_dw(2, 33, 70, 3, 2, 1, 0, pool);
	run_dw(2, 15, 130, 3, 2, 1, 2, NULL);
	run_dw2(2, 13, 40, 3, 1, 2, 1, 1, 45, NULL);
	run_dw2(3, 21, 33, 3, 2, 2, 1, 1, 36, pool);
	run_dw(2, 28, 28, 3, 2, 1, 1, NULL);
	run_dw(3, 112, 112, 3, 2, 1, 1, pool);
	/* three columns of stride 1 by rows (12 outputs or more): padding 0
	 * to 2, odd row counts, strided rows, stride 2 down (one row at a
	 * time), rows of 64 outputs and more */
	run_dw(2, 9, 20, 3, 1, 1, 0, NULL);
	run_dw(2, 11, 30, 3, 1, 1, 2, pool);
	run_dw(3, 13, 14, 3, 1, 1, 1, NULL);
	run_dw2(3, 11, 20, 3, 1, 1, 1, 1, 23, NULL);
	run_dw2(2, 15, 40, 3, 2, 1, 1, 1, 41, pool);
	run_dw(2, 6, 130, 3, 1, 1, 1, NULL);
	run_dw(1, 1, 16, 3, 1, 1, 1, NULL);
	run_dw(1, 2, 16, 3, 2, 1, 1, NULL);
}

/* ---- maxpool --------------------------------------------------------------------------- */

static float ir_max(float a, float b)
{
	if (isnan(a) || isnan(b))
		return NAN;
	return b > a ? b : a;
}

/* Exact agreement with the loop IR's order of maxima (NaNs, signed zeros
 * in the input), and an epilogue when epi. */
static void run_mp(int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t SH, int64_t SW,
		   int64_t D, int64_t P, int epi, lathe_rt_pool *pool)
{
	int64_t OH = (H + 2 * P - D * (KH - 1) - 1) / SH + 1;
	int64_t OW = (W + 2 * P - D * (KW - 1) - 1) / SW + 1;
	float *X = rnd_buf(C * H * W), *Y = rnd_buf(C * OH * OW), *bias = rnd_buf(C);
	for (int64_t i = 0; i < C * H * W; i += 7)
		X[i] = i % 3 ? -0.0f : 0.0f;
	if (C * H * W > 40)
		X[37] = NAN;
	for (int64_t i = 1000; i < C * H * W; i += 1733) /* windows with two NaNs, some */
		X[i] = X[i + (i % 2 ? 1 : W) < C * H * W ? i + (i % 2 ? 1 : W) : i] = NAN;
	int64_t ip[LATHE_UK_D_FIXED + LATHE_UK_EPI_INTS] = {
		C, H, W, OH, OW, KH, KW, SH, SW, D, D, P, P, H * W, W, 0, OH * OW, epi ? 1 : 0,
		LATHE_UK_EPI_ADD_M, 1, 0};
	void *ptr[3] = {X, Y, bias};
	int64_t av[3] = {C * H * W, C * OH * OW, C};
	char err[200] = "";
	lathe_rt_uk_args a = {.pool = pool, .ptr = ptr, .avail = av, .nptr = 2 + (epi != 0), .ip = ip,
			      .nip = LATHE_UK_D_FIXED + (epi ? LATHE_UK_EPI_INTS : 0), .err = err,
			      .err_size = sizeof err};
	int rc = lathe_rt_uk_maxpool(&a);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  maxpool: %s\n", err);
	int bad = 0;
	for (int64_t c = 0; c < C && !bad; c++)
		for (int64_t oh = 0; oh < OH && !bad; oh++)
			for (int64_t ow = 0; ow < OW && !bad; ow++) {
				float m = -INFINITY;
				for (int64_t kh = 0; kh < KH; kh++)
					for (int64_t kw = 0; kw < KW; kw++) {
						int64_t h = oh * SH + kh * D - P, w = ow * SW + kw * D - P;
						if (h >= 0 && h < H && w >= 0 && w < W)
							m = ir_max(m, X[(c * H + h) * W + w]);
					}
				if (epi)
					m = m + bias[c];
				float got = Y[(c * OH + oh) * OW + ow];
				if (isnan(m) ? !isnan(got) : memcmp(&m, &got, sizeof m) != 0) {
					bad = 1;
					fprintf(stderr, "  maxpool C%lld %lldx%lld k%lldx%lld s%lld,%lld d%lld "
						"p%lld: [%lld,%lld,%lld] = %g, want %g\n", (long long)C,
						(long long)H, (long long)W, (long long)KH, (long long)KW,
						(long long)SH, (long long)SW, (long long)D, (long long)P,
						(long long)c, (long long)oh, (long long)ow, got, m);
				}
			}
	CHECK(!bad);
	for (int i = 0; i < 2; i++) {
		av[i]--;
		CHECK(lathe_rt_uk_maxpool(&a) == 1);
		av[i]++;
	}
	free(X), free(Y), free(bias);
}

static void test_maxpool(lathe_rt_pool *pool)
{
	run_mp(3, 112, 112, 3, 3, 2, 2, 1, 1, 0, pool); /* resnet18 */
	run_mp(4, 111, 111, 3, 3, 2, 2, 1, 0, 1, NULL); /* squeezenet */
	run_mp(2, 9, 9, 3, 3, 1, 1, 1, 1, 0, NULL);
	run_mp(2, 10, 70, 2, 2, 2, 2, 1, 0, 1, pool);
	run_mp(2, 13, 17, 3, 5, 1, 2, 2, 2, 0, NULL);
	run_mp(2, 11, 11, 3, 3, 3, 3, 1, 1, 0, NULL); /* stride 3: plain loops */
	run_mp(1, 5, 80, 1, 1, 1, 1, 1, 0, 1, NULL);
	run_mp(2, 4, 4, 5, 5, 1, 1, 1, 2, 0, NULL);
	/* three columns, stride 2: rows folded once and carried (stride 2
	 * down), or window by window (stride 1 down) */
	run_mp(3, 55, 55, 3, 3, 2, 2, 1, 0, 1, pool);
	run_mp(5, 27, 27, 3, 3, 2, 2, 1, 0, 0, NULL);
	run_mp(2, 10, 40, 3, 3, 2, 2, 1, 1, 0, NULL);
	run_mp(2, 13, 40, 3, 3, 1, 2, 1, 1, 0, NULL);
	run_mp(1, 2, 150, 3, 3, 2, 2, 1, 1, 0, NULL);
}

/* ---- epilogues ------------------------------------------------------------------------ */

/* A GELU-like program over rows (bias by row, a kept value, division, erf,
 * subtraction, max/min by scalars and tensors in both orders), checked
 * against the same operations in plain C: erf within 4 units in the last
 * place, the rest exact.  NaN and signed zeros go through max and min. */
static void test_epilogue(void)
{
	enum { M = 5, N = 37 };
	float c[M * N], want[M * N], bias[M], t2[M * N];
	for (int i = 0; i < M * N; i++)
		c[i] = (float)(rnd() * 4), t2[i] = (float)rnd();
	c[3] = NAN, c[7] = -0.0f, c[8] = 0.0f, t2[9] = NAN;
	for (int i = 0; i < M; i++)
		bias[i] = (float)rnd();
	memcpy(want, c, sizeof c);
	int64_t ip[] = {
		LATHE_UK_EPI_ADD_M, 1, 0,        /* t += bias[m] */
		LATHE_UK_EPI_SAVE, 0, 0,         /* x = t */
		LATHE_UK_EPI_DIV_S, 0, 0,        /* t / 1.4142 */
		LATHE_UK_EPI_ERF, 0, 0,          /* erf */
		LATHE_UK_EPI_ADD_S, 1, 0,        /* + 1 */
		LATHE_UK_EPI_SAVED, LATHE_UK_OP_MUL, 1, /* x * t */
		LATHE_UK_EPI_SUB_S, 2, 1,        /* 0.25 - t */
		LATHE_UK_EPI_MAX_TR, N, 1,       /* max(t2, t) */
		LATHE_UK_EPI_MIN_S, 3, 0,        /* min(t, 3) */
		LATHE_UK_EPI_DIV_T, N, 1,        /* t / t2 */
	};
	double fp[4] = {1.4142, 1.0, 0.25, 3.0};
	void *ptr[3] = {bias, t2, t2}; /* one per tensor operand */
	int64_t av[3] = {M, M * N, M * N};
	lathe_rt_uk_args a = {.ptr = ptr, .avail = av, .nptr = 3, .ip = ip, .nip = 30, .fp = fp, .nfp = 4};
	lathe_rt_uk_epi ep;
	CHECK(lathe_rt_uk_epi_parse(&a, 0, 10, 0, M, N, &ep) == 0);
	CHECK(!ep.simple && ep.unit);
	lathe_rt_uk_epi_rows(&ep, c, N, M, N, 0, 0);
	int bad = 0;
	for (int m = 0; m < M; m++)
		for (int n = 0; n < N; n++) {
			float t = want[m * N + n] + bias[m], x = t;
			t = t / (float)1.4142;
			float e = (float)erf((double)t);
			t = (e + 1.0f) * x;
			t = 0.25f - t;
			float v = t2[m * N + n];
			t = isnan(v) || isnan(t) ? NAN : (t > v ? t : v); /* max(v, t) */
			t = isnan(t) ? t : (3.0f < t ? 3.0f : t);
			t = t / v;
			float got = c[m * N + n];
			double tol = 4 * fabs(t) * 1.2e-7 * 8 + 1e-30;
			if (isnan(t) ? !isnan(got) : fabs(got - t) > tol) {
				bad++;
				if (bad < 4)
					fprintf(stderr, "  epilogue [%d,%d]: %g, want %g\n", m, n, got, t);
			}
		}
	CHECK(!bad);
	/* max(-0, +0) keeps the first operand's sign, min likewise */
	float z[2] = {-0.0f, 0.0f};
	int64_t ip2[] = {LATHE_UK_EPI_MAX_S, 0, 0};
	double fz[1] = {0.0};
	lathe_rt_uk_args a2 = {.ip = ip2, .nip = 3, .fp = fz, .nfp = 1};
	CHECK(lathe_rt_uk_epi_parse(&a2, 0, 1, 0, 1, 2, &ep) == 0);
	lathe_rt_uk_epi_rows(&ep, z, 2, 1, 2, 0, 0);
	CHECK(signbit(z[0]) && !signbit(z[1]));
	/* SAVED without SAVE is refused */
	int64_t ip3[] = {LATHE_UK_EPI_SAVED, LATHE_UK_OP_ADD, 0};
	lathe_rt_uk_args a3 = {.ip = ip3, .nip = 3};
	CHECK(lathe_rt_uk_epi_parse(&a3, 0, 1, 0, 1, 2, &ep) == 1);
}

/* The tile's in-register max and min of splat operands, a row panel with a
 * NaN operand and one without; exact sums (small integers), so the bits
 * (NaN rows, the sign of a zero) can be compared. */
static void run_epi_splat(lathe_rt_pool *pool, int nan_scalar)
{
	int mr, nr;
	lathe_rt_uk_native_tile(&mr, &nr);
	int64_t M = 2 * mr, N = 2 * nr, K = 4;
	float *A = rnd_buf(M * K), *B = rnd_buf(K * N), *C = rnd_buf(M * N), *bias = rnd_buf(M);
	for (int64_t m = 0; m < M; m++)
		for (int64_t k = 0; k < K; k++)
			A[m * K + k] = m == 5 ? 0.0f : (float)((m + k) % 5 - 2);
	for (int64_t i = 0; i < K * N; i++)
		B[i] = (float)((i * 3) % 7 - 3);
	for (int64_t m = 0; m < M; m++)
		bias[m] = (float)(m % 3 - 1);
	bias[M - 2] = NAN, bias[5] = -0.0f; /* a NaN in the second row panel only */
	enum { NI = LATHE_UK_G_FIXED + 2 * LATHE_UK_EPI_INTS };
	int64_t ip[NI] = {0};
	ip[LATHE_UK_G_M] = M, ip[LATHE_UK_G_N] = N;
	ip[LATHE_UK_G_K0] = K, ip[LATHE_UK_G_K1] = 1, ip[LATHE_UK_G_K2] = 1;
	ip[LATHE_UK_G_MR] = mr, ip[LATHE_UK_G_NR] = nr;
	ip[LATHE_UK_G_AFMT] = LATHE_UK_FMT_STRIDED, ip[LATHE_UK_G_ARS] = K, ip[LATHE_UK_G_AK0] = 1;
	ip[LATHE_UK_G_BFMT] = LATHE_UK_FMT_STRIDED, ip[LATHE_UK_G_BCS] = 1, ip[LATHE_UK_G_BK0] = N;
	ip[LATHE_UK_G_LDC] = N, ip[LATHE_UK_G_SLOTS] = 2, ip[LATHE_UK_G_IM_OW] = 1;
	int64_t *q = ip + LATHE_UK_G_FIXED;
	ip[LATHE_UK_G_NEPI] = 2;
	q[0] = LATHE_UK_EPI_MAX_T, q[1] = 1, q[2] = 0; /* max(t, bias[m]) */
	q[3] = LATHE_UK_EPI_MIN_S, q[4] = 0, q[5] = 0; /* min(t, s) */
	double fp[1] = {nan_scalar ? NAN : 2.0};
	int64_t ns = lathe_rt_uk_sgemm_scratch(ip, NI);
	float *S = malloc(sizeof(float) * (size_t)ns);
	void *ptr[5] = {A, B, C, S, bias};
	int64_t av[5] = {M * K, K * N, M * N, ns, M};
	lathe_rt_uk_args a = {.pool = pool, .ptr = ptr, .avail = av, .nptr = 5, .ip = ip, .nip = NI,
			      .fp = fp, .nfp = 1};
	CHECK(lathe_rt_uk_sgemm(&a) == 0);
	int bad = 0;
	for (int64_t m = 0; m < M; m++)
		for (int64_t n = 0; n < N; n++) {
			float t = 0;
			for (int64_t k = 0; k < K; k++)
				t += A[m * K + k] * B[k * N + n];
			float v = bias[m], s = (float)fp[0];
			t = isnan(t) || isnan(v) ? NAN : (v > t ? v : t);
			t = isnan(t) || isnan(s) ? NAN : (s < t ? s : t);
			float got = C[m * N + n];
			if (isnan(t) ? !isnan(got) : memcmp(&t, &got, sizeof t) != 0) {
				if (!bad)
					fprintf(stderr, "  sgemm max/min [%lld,%lld] = %g, want %g\n",
						(long long)m, (long long)n, got, t);
				bad++;
			}
		}
	CHECK(!bad);
	free(A), free(B), free(C), free(bias), free(S);
}

/* ---- misc -------------------------------------------------------------------------- */

static void test_misc(void)
{
	int32_t dt = 0;
	CHECK(lathe_rt_uk_find("sgemm", &dt) == lathe_rt_uk_sgemm && dt == LATHE_DT_F32);
	CHECK(lathe_rt_uk_find("pack", NULL) == lathe_rt_uk_pack);
	CHECK(lathe_rt_uk_find("dwconv", NULL) == lathe_rt_uk_dwconv);
	CHECK(lathe_rt_uk_find("nope", NULL) == NULL);
	int64_t ip[LATHE_UK_G_FIXED] = {0};
	CHECK(lathe_rt_uk_sgemm_scratch(ip, LATHE_UK_G_FIXED) == -1); /* MR = 0 */
	CHECK(lathe_rt_uk_sgemm_scratch(ip, 3) == -1);
	char err[100] = "";
	lathe_rt_uk_args a = {.ip = ip, .nip = 3, .err = err, .err_size = sizeof err};
	CHECK(lathe_rt_uk_sgemm(&a) == 1 && strstr(err, "integer parameters"));
	CHECK(lathe_rt_uk_pack(&a) == 1);
	CHECK(lathe_rt_uk_dwconv(&a) == 1);
}

/* The gather kernel against its definition, dst[k*nr + j] = src[off[k] +
 * col[j]]: columns spanning one vector, two, and more (the portable
 * loop), repeated and out of order, the last at the span's end, nr from 1
 * to 16; nothing is written past the panel. */
static void test_gather(void)
{
	lathe_rt_uk_gather_fn g = lathe_rt_uk_gather_kernel();
	enum { KC = 5, SRC = 400 };
	float *src = rnd_buf(SRC);
	int64_t off[KC] = {0, 37, 3, 200, 111};
	const int64_t spans[] = {1, 7, 16, 17, 30, 32, 33, 90};
	for (size_t si = 0; si < sizeof spans / sizeof spans[0]; si++)
		for (int nr = 1; nr <= 16; nr++) {
			int64_t col[16];
			for (int j = 0; j < nr; j++) /* out of order, some repeated */
				col[j] = (j * 7 + 3) % spans[si];
			col[nr - 1] = spans[si] - 1;
			float dst[KC * 16 + 1];
			for (int i = 0; i < KC * 16 + 1; i++)
				dst[i] = -7.0f;
			g(dst, src, off, KC, nr, col);
			bool ok = true;
			for (int k = 0; k < KC; k++)
				for (int j = 0; j < nr; j++)
					ok &= dst[k * nr + j] == src[off[k] + col[j]];
			ok &= dst[KC * nr] == -7.0f;
			if (!ok)
				fprintf(stderr, "gather: span %lld, nr %d\n", (long long)spans[si], nr);
			CHECK(ok);
		}
	free(src);
}

/* ---- bench ----------------------------------------------------------------------------- */

/* Thread CPU time: other processes on a busy machine do not count. */
static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void bench_conv(const char *name, const ccase *c, lathe_rt_pool *pool, int slots, bool trans)
{
	int mr, nr;
	lathe_rt_uk_native_tile(&mr, &nr);
	if (trans)
		mr = 32, nr = 14;
	int64_t OH = (c->H + 2 * c->P - c->D * (c->KH - 1) - 1) / c->S + 1;
	int64_t OW = (c->W + 2 * c->P - c->D * (c->KW - 1) - 1) / c->S + 1;
	int64_t K = c->C * c->KH * c->KW, N = OH * OW, M = c->M;
	float *X = rnd_buf(c->C * c->H * c->W), *Wt = rnd_buf(M * K), *Y = rnd_buf(M * N);
	int64_t nap = (M + mr - 1) / mr * mr * K;
	float *Wp = malloc(sizeof(float) * (size_t)nap);
	int64_t pp[LATHE_UK_P_FIXED] = {0, M, c->C, c->KH, c->KW, mr, K, c->KH * c->KW, c->KW, 1};
	void *pptr[2] = {Wt, Wp};
	int64_t pav[2] = {M * K, nap};
	lathe_rt_uk_args pa = {.ptr = pptr, .avail = pav, .nptr = 2, .ip = pp, .nip = LATHE_UK_P_FIXED};
	lathe_rt_uk_pack(&pa);
	int64_t ip[LATHE_UK_G_FIXED + 3 * LATHE_UK_EPI_INTS] = {0};
	ip[LATHE_UK_G_M] = M, ip[LATHE_UK_G_N] = N;
	ip[LATHE_UK_G_K0] = c->C, ip[LATHE_UK_G_K1] = c->KH, ip[LATHE_UK_G_K2] = c->KW;
	ip[LATHE_UK_G_MR] = mr, ip[LATHE_UK_G_NR] = nr;
	ip[LATHE_UK_G_AFMT] = LATHE_UK_FMT_PACKED;
	bool strided = c->KH == 1 && c->KW == 1 && c->S == 1 && c->P == 0;
	ip[LATHE_UK_G_BFMT] = strided ? LATHE_UK_FMT_STRIDED : LATHE_UK_FMT_IM2COL;
	ip[LATHE_UK_G_BCS] = 1, ip[LATHE_UK_G_BK0] = N;
	ip[LATHE_UK_G_LDC] = N, ip[LATHE_UK_G_SLOTS] = slots;
	ip[LATHE_UK_G_IM_CC0] = 1, ip[LATHE_UK_G_IM_CH1] = c->D, ip[LATHE_UK_G_IM_CW2] = c->D;
	ip[LATHE_UK_G_IM_SC] = c->H * c->W, ip[LATHE_UK_G_IM_SHS] = c->W, ip[LATHE_UK_G_IM_SWS] = 1;
	ip[LATHE_UK_G_IM_H] = c->H, ip[LATHE_UK_G_IM_W] = c->W, ip[LATHE_UK_G_IM_OW] = OW;
	ip[LATHE_UK_G_IM_SH] = c->S, ip[LATHE_UK_G_IM_SW] = c->S;
	ip[LATHE_UK_G_IM_H0] = -c->P, ip[LATHE_UK_G_IM_W0] = -c->P;
	/* BENCH_EPI: + bias[m] + R[m, n], max 0 (a residual block's end) */
	enum { NI = LATHE_UK_G_FIXED + 3 * LATHE_UK_EPI_INTS };
	int epi = getenv("BENCH_EPI") != NULL;
	int64_t *q = ip + LATHE_UK_G_FIXED;
	if (epi)
		ip[LATHE_UK_G_NEPI] = 3, q[0] = LATHE_UK_EPI_ADD_M, q[1] = 1,
		q[3] = LATHE_UK_EPI_ADD_MN, q[4] = N, q[5] = 1, q[6] = LATHE_UK_EPI_MAX_S;
	/* BENCH_CLIP: + bias[m], then max 0 and min 6 (scalars): Conv+Clip */
	if (getenv("BENCH_CLIP"))
		epi = 0, ip[LATHE_UK_G_NEPI] = 3, q[0] = LATHE_UK_EPI_ADD_M, q[1] = 1,
		q[3] = LATHE_UK_EPI_MAX_S, q[4] = 0, q[6] = LATHE_UK_EPI_MIN_S, q[7] = 1;
	double fp[2] = {0, 6};
	float *bias = rnd_buf(M), *R = rnd_buf(M * N);
	int64_t ns = lathe_rt_uk_sgemm_scratch(ip, NI);
	float *S = aligned_alloc(64, sizeof(float) * (size_t)(ns + 16));
	void *ptr[6] = {Wp, X, Y, S, bias, R};
	int64_t av[6] = {nap, c->C * c->H * c->W, M * N, ns, M, M * N};
	lathe_rt_uk_args ga = {.pool = pool, .ptr = ptr, .avail = av,
			       .nptr = epi ? 6 : getenv("BENCH_CLIP") ? 5 : 4, .ip = ip, .nip = NI,
			       .fp = fp, .nfp = 2};
	double best = 1e9;
	int runs = getenv("BENCH_RUNS") ? atoi(getenv("BENCH_RUNS")) : 30;
	for (int r = 0; r < runs; r++) {
		double t = now_s();
		lathe_rt_uk_sgemm(&ga);
		t = now_s() - t;
		if (t < best)
			best = t;
	}
	printf("%-22s %d thr%s: %8.3f ms  %6.1f GFLOP/s\n", name, slots, trans ? " (32x14)" : "", best * 1e3,
	       2.0 * M * N * K / best * 1e-9);
	free(X), free(Wt), free(Y), free(S), free(Wp), free(bias), free(R);
}

static void bench_dw(int64_t C, int64_t H, int64_t S)
{
	int64_t K = 3, P = 1, OH = (H + 2 * P - K) / S + 1, OW = OH;
	float *X = rnd_buf(C * H * H), *Wt = rnd_buf(C * K * K), *Y = rnd_buf(C * OH * OW);
	float *bias = rnd_buf(C);
	int64_t ip[LATHE_UK_D_FIXED + 3 * LATHE_UK_EPI_INTS] = {
		C, H, H, OH, OW, K, K, S, S, 1, 1, P, P, H * H, H, K * K, OH * OW, 3,
		LATHE_UK_EPI_ADD_M, 1, 0, LATHE_UK_EPI_MAX_S, 0, 0, LATHE_UK_EPI_MIN_S, 1, 0};
	double fp[2] = {0, 6};
	void *ptr[4] = {X, Wt, Y, bias};
	int64_t av[4] = {C * H * H, C * K * K, C * OH * OW, C};
	lathe_rt_uk_args a = {.ptr = ptr, .avail = av, .nptr = 4, .ip = ip,
			      .nip = LATHE_UK_D_FIXED + 3 * LATHE_UK_EPI_INTS, .fp = fp, .nfp = 2};
	double best = 1e9;
	for (int r = 0; r < 30; r++) {
		double t = now_s();
		lathe_rt_uk_dwconv(&a);
		t = now_s() - t;
		if (t < best)
			best = t;
	}
	printf("dwconv C%lld %lldx%lld s%lld       %8.3f ms  %6.1f GFLOP/s\n", (long long)C,
	       (long long)H, (long long)H, (long long)S, best * 1e3, 2.0 * C * OH * OW * 9 / best * 1e-9);
	free(X), free(Wt), free(Y), free(bias);
}

/* BENCH_MM: a transformer's Linear, C[M,N] = X[M,K] W[K,N] (+ bias[n]):
 * the activations X strided (packed per call), the weights W packed as
 * the compiler does; NW copies of W cycled, so that they come from memory
 * as a large model's do. */
/* Wall-clock time, for runs on more than one thread (now_s counts the
 * calling thread's CPU time alone). */
static double wall_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void bench_mm(const char *name, int64_t M, int64_t K, int64_t N, int gelu,
		     lathe_rt_pool *pool, int slots)
{
	enum { NWMAX = 8 };
	/* BENCH_HOT: one copy (the weights stay in the caches) */
	int NW = getenv("BENCH_HOT") ? 1 : NWMAX;
	int mr, nr;
	lathe_rt_uk_native_tile(&mr, &nr);
	float *X = rnd_buf(M * K), *Wt = rnd_buf(K * N), *Y = rnd_buf(M * N), *bias = rnd_buf(N);
	int64_t nbp = (N + nr - 1) / nr * nr * K;
	float *Wp[NWMAX];
	for (int w = 0; w < NW; w++) {
		Wp[w] = malloc(sizeof(float) * (size_t)nbp);
		int64_t pp[LATHE_UK_P_FIXED] = {1, N, K, 1, 1, nr, 1, N, 1, 1};
		void *pptr[2] = {Wt, Wp[w]};
		int64_t pav[2] = {K * N, nbp};
		lathe_rt_uk_args pa = {.ptr = pptr, .avail = pav, .nptr = 2, .ip = pp,
				       .nip = LATHE_UK_P_FIXED};
		lathe_rt_uk_pack(&pa);
	}
	enum { NI = LATHE_UK_G_FIXED + 7 * LATHE_UK_EPI_INTS };
	int64_t ip[NI] = {0};
	ip[LATHE_UK_G_M] = M, ip[LATHE_UK_G_N] = N;
	ip[LATHE_UK_G_K0] = K, ip[LATHE_UK_G_K1] = 1, ip[LATHE_UK_G_K2] = 1;
	ip[LATHE_UK_G_MR] = mr, ip[LATHE_UK_G_NR] = nr;
	ip[LATHE_UK_G_AFMT] = LATHE_UK_FMT_STRIDED, ip[LATHE_UK_G_ARS] = K, ip[LATHE_UK_G_AK0] = 1;
	ip[LATHE_UK_G_BFMT] = LATHE_UK_FMT_PACKED;
	ip[LATHE_UK_G_LDC] = N, ip[LATHE_UK_G_SLOTS] = slots;
	ip[LATHE_UK_G_NEPI] = 1, ip[LATHE_UK_G_FIXED] = LATHE_UK_EPI_ADD_N, ip[LATHE_UK_G_FIXED + 1] = 1;
	/* gelu: + bias[n], then x * (erf(x / s2) + 1) * 0.5 as BERT's exporter writes it */
	static const int64_t gq[] = {LATHE_UK_EPI_SAVE, 0, 0, LATHE_UK_EPI_DIV_T, 0, 0,
				     LATHE_UK_EPI_ERF, 0, 0, LATHE_UK_EPI_ADD_M, 0, 0,
				     LATHE_UK_EPI_SAVED, LATHE_UK_OP_MUL, 1, LATHE_UK_EPI_MUL_M, 0, 0};
	if (gelu) {
		ip[LATHE_UK_G_NEPI] = 7;
		memcpy(ip + LATHE_UK_G_FIXED + LATHE_UK_EPI_INTS, gq, sizeof gq);
	}
	float consts[3] = {1.41421354f, 1.0f, 0.5f};
	int64_t ns = lathe_rt_uk_sgemm_scratch(ip, NI);
	float *S = aligned_alloc(64, sizeof(float) * (size_t)(ns + 16));
	double best = 1e9;
	for (int r = 0; r < 40; r++) {
		void *ptr[8] = {X, Wp[r % NW], Y, S, bias, consts, consts + 1, consts + 2};
		int64_t av[8] = {M * K, nbp, M * N, ns, N, 1, 1, 1};
		char err[200] = "";
		lathe_rt_uk_args ga = {.pool = pool, .ptr = ptr, .avail = av, .nptr = gelu ? 8 : 5, .ip = ip,
				       .nip = NI, .err = err, .err_size = sizeof err};
		double t = slots > 1 ? wall_s() : now_s();
		if (lathe_rt_uk_sgemm(&ga)) {
			printf("%s: %s\n", name, err);
			break;
		}
		t = (slots > 1 ? wall_s() : now_s()) - t;
		if (t < best)
			best = t;
	}
	printf("%-22s %d thr: %8.3f ms  %6.1f GFLOP/s%s\n", name, slots, best * 1e3,
	       2.0 * M * N * K / best * 1e-9, slots > 1 ? " (wall clock)" : "");
	for (int w = 0; w < NW; w++)
		free(Wp[w]);
	free(X), free(Wt), free(Y), free(S), free(bias);
}

static int bench(void)
{
	lathe_rt_pool *pool = lathe_rt_pool_create(2);
	if (getenv("BENCH_MM")) {
		static const struct {
			const char *name;
			int64_t M, K, N;
			int gelu;
		} ms[] = {
			{"bert qkv 128x768x2304", 128, 768, 2304, 0},
			{"bert out 128x768x768", 128, 768, 768, 0},
			{"bert ffn1 128x768x3072", 128, 768, 3072, 0},
			{"bert ffn1+gelu", 128, 768, 3072, 1},
			{"bert ffn2 128x3072x768", 128, 3072, 768, 0},
			{"attn 128x64x128", 128, 64, 128, 0},
			{"attn 128x128x64", 128, 128, 64, 0},
		};
		for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
			bench_mm(ms[i].name, ms[i].M, ms[i].K, ms[i].N, ms[i].gelu, NULL, 1);
			if (getenv("BENCH_THREADS"))
				bench_mm(ms[i].name, ms[i].M, ms[i].K, ms[i].N, ms[i].gelu, pool, 2);
		}
		lathe_rt_pool_destroy(pool);
		return 0;
	}
	static const struct {
		const char *name;
		ccase c;
	} cs[] = {
		{"r18 conv1 7x7s2", {3, 224, 224, 64, 7, 7, 2, 1, 3}},
		{"mnv2 conv0 3x3s2", {3, 224, 224, 32, 3, 3, 2, 1, 1}},
		{"sq conv0 3x3s2 p0", {3, 224, 224, 64, 3, 3, 2, 1, 0}},
		{"r18 l1 3x3 64", {64, 56, 56, 64, 3, 3, 1, 1, 1}},
		{"r18 l2 3x3 128", {128, 28, 28, 128, 3, 3, 1, 1, 1}},
		{"r18 l3 3x3 256", {256, 14, 14, 256, 3, 3, 1, 1, 1}},
		{"r18 l4 3x3 512", {512, 7, 7, 512, 3, 3, 1, 1, 1}},
		{"r18 l2 3x3s2", {64, 56, 56, 128, 3, 3, 2, 1, 1}},
		{"r18 l3 3x3s2", {128, 28, 28, 256, 3, 3, 2, 1, 1}},
		{"r18 l3 1x1s2", {128, 28, 28, 256, 1, 1, 2, 1, 0}},
		{"r18 l4 3x3s2", {256, 14, 14, 512, 3, 3, 2, 1, 1}},
		{"r18 l4 1x1s2", {256, 14, 14, 512, 1, 1, 2, 1, 0}},
		{"r18 l2 1x1s2", {64, 56, 56, 128, 1, 1, 2, 1, 0}},
		{"gemm 128x768x256", {256, 1, 128, 768, 1, 1, 1, 1, 0}},
		{"gemm 128x3072x768", {768, 1, 128, 3072, 1, 1, 1, 1, 0}},
		{"mnv2 1x1 96->24 56", {96, 56, 56, 24, 1, 1, 1, 1, 0}},
		{"mnv2 1x1 160->960 7", {160, 7, 7, 960, 1, 1, 1, 1, 0}},
		{"mnv2 1x1 960->160 7", {960, 7, 7, 160, 1, 1, 1, 1, 0}},
		{"mnv2 1x1 96->576 14", {96, 14, 14, 576, 1, 1, 1, 1, 0}},
		{"mnv2 1x1 576->96 14", {576, 14, 14, 96, 1, 1, 1, 1, 0}},
		{"mnv2 1x1 64->384 14", {64, 14, 14, 384, 1, 1, 1, 1, 0}},
		{"mnv2 1x1 32->192 28", {32, 28, 28, 192, 1, 1, 1, 1, 0}},
		{"mnv2 1x1 24->144 56", {24, 56, 56, 144, 1, 1, 1, 1, 0}},
		{"mnv2 1x1 320->1280 7", {320, 7, 7, 1280, 1, 1, 1, 1, 0}},
	};
	/* BENCH_ONLY=text: only the cases whose name contains it (for perf) */
	const char *only = getenv("BENCH_ONLY");
	for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
		if (only && !strstr(cs[i].name, only))
			continue;
		bench_conv(cs[i].name, &cs[i].c, NULL, 1, false);
		if (getenv("BENCH_THREADS"))
			bench_conv(cs[i].name, &cs[i].c, pool, 2, false);
		if (getenv("BENCH_TRANS")) {
			bench_conv(cs[i].name, &cs[i].c, NULL, 1, true);
			if (getenv("BENCH_THREADS"))
				bench_conv(cs[i].name, &cs[i].c, pool, 2, true);
		}
	}
	if (only)
		goto done;
	bench_dw(32, 112, 1);
	bench_dw(96, 112, 2);
	bench_dw(144, 56, 1);
	bench_dw(384, 14, 1);
	bench_dw(960, 7, 1);
	bench_dw(144, 56, 2);
	bench_dw(192, 28, 2);
	bench_dw(576, 14, 2);
done:
	lathe_rt_pool_destroy(pool);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "bench"))
		return bench();
	lathe_rt_pool *pool = lathe_rt_pool_create(4);
	test_misc();
	test_gather();
	test_epilogue();
	run_epi_splat(pool, 0);
	run_epi_splat(NULL, 1);
	test_gemm(pool);
	test_conv(pool);
	test_dw(pool);
	test_maxpool(pool);
	lathe_rt_pool_destroy(pool);
	return CHECK_DONE("test_ukernel");
}
