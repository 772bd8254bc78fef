/* test_wino.c: the Winograd 3x3 convolution (runtime/src/ukernel_wino.c)
 * against a direct convolution in double precision.
 * Shapes: widths and heights that are and are not multiples of the 4x4
 * tile, rows of more than 16 tiles and of 4, 8 and 12 (taken flat), padding 0, 1 and 2, channel counts
 * below, at and above the register tile's 12 rows, one slot and several
 * (with and without a pool: the results must be the same bits), the
 * register tiles of the other CPU families, padded
 * channel strides of X and Y, and epilogues: a bias and ReLU (per
 * channel), a residual (per position) and both.  Both the kernel this CPU
 * runs and the portable one (the same file compiled with
 * LATHE_UK_PORTABLE, under other names) are checked, and the refusals of
 * regions that do not fit and of bad parameters.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lathe_rt.h"
#include "lathe_rt_ukernel.h"

/* The same kernel without its x86 paths. */
#define lathe_rt_uk_wino uw_portable_wino
#define lathe_rt_uk_wino_scratch uw_portable_wino_scratch
#define lathe_rt_uk_wino_pack uw_portable_wino_pack
#define LATHE_UK_PORTABLE 1
#include "../../runtime/src/ukernel_wino.c"
#undef lathe_rt_uk_wino
#undef lathe_rt_uk_wino_scratch
#undef lathe_rt_uk_wino_pack
#undef LATHE_UK_PORTABLE

typedef int (*wino_fn)(const lathe_rt_uk_args *a);

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

enum { EPI_NONE, EPI_BIAS_RELU, EPI_RESIDUAL, EPI_ALL };

typedef struct shape {
	int64_t C, H, W, O, PH, PW, OH, OW;
} shape;

/* Runs fn on one shape with slots threads' scratch (pool may be NULL) and
 * returns Y (O*YSC floats), or NULL when the kernel refused. */
/* The register tile the products run on: the CPU's own, or another
 * family's (whose kernel may be missing here: plain loops then). */
static int tile_mr, tile_nr;

static float *run(wino_fn fn, const shape *s, int epi, int64_t slots, lathe_rt_pool *pool,
		  const float *X, int64_t XSC, const float *Wt, const float *bias, const float *res,
		  int64_t YSC)
{
	int mr = tile_mr, nr = tile_nr;
	int64_t np = (s->O + mr - 1) / mr;
	float *U = malloc(sizeof(float) * (size_t)(np * mr * 36 * s->C));
	lathe_rt_uk_wino_pack(U, Wt, s->O, s->C, mr, s->C * 9, 9, 3, 1);
	int64_t ip[LATHE_UK_W_FIXED + 3 * LATHE_UK_EPI_INTS] = {0};
	ip[LATHE_UK_W_C] = s->C, ip[LATHE_UK_W_H] = s->H, ip[LATHE_UK_W_W] = s->W;
	ip[LATHE_UK_W_XSC] = XSC, ip[LATHE_UK_W_XSH] = s->W;
	ip[LATHE_UK_W_O] = s->O, ip[LATHE_UK_W_OH] = s->OH, ip[LATHE_UK_W_OW] = s->OW;
	ip[LATHE_UK_W_YSC] = YSC, ip[LATHE_UK_W_PH] = s->PH, ip[LATHE_UK_W_PW] = s->PW;
	ip[LATHE_UK_W_MR] = mr, ip[LATHE_UK_W_NR] = nr, ip[LATHE_UK_W_SLOTS] = slots;
	void *ptr[6];
	int64_t av[6];
	int nptr = 4, nepi = 0;
	int64_t *e = ip + LATHE_UK_W_FIXED;
	double fp[1] = {0};
	if (epi == EPI_BIAS_RELU || epi == EPI_ALL) {
		e[0] = LATHE_UK_EPI_ADD_M, e[1] = 1, e[2] = 0;
		ptr[nptr] = (void *)bias, av[nptr++] = s->O;
		e += 3, nepi++;
	}
	if (epi == EPI_RESIDUAL || epi == EPI_ALL) {
		e[0] = LATHE_UK_EPI_ADD_MN, e[1] = s->OH * s->OW, e[2] = 1;
		ptr[nptr] = (void *)res, av[nptr++] = s->O * s->OH * s->OW;
		e += 3, nepi++;
	}
	if (epi == EPI_BIAS_RELU || epi == EPI_ALL) {
		e[0] = LATHE_UK_EPI_MAX_S, e[1] = 0, e[2] = 0;
		nepi++;
	}
	ip[LATHE_UK_W_NEPI] = nepi;
	int64_t ws = lathe_rt_uk_wino_scratch(ip, LATHE_UK_W_FIXED);
	CHECK(ws > 0);
	float *scratch = malloc(sizeof(float) * (size_t)ws);
	float *Y = malloc(sizeof(float) * (size_t)(s->O * YSC));
	for (int64_t i = 0; i < s->O * YSC; i++)
		Y[i] = 12345.0f; /* the gaps between channels must stay */
	ptr[0] = U, ptr[1] = (void *)X, ptr[2] = Y, ptr[3] = scratch;
	av[0] = np * mr * 36 * s->C, av[1] = s->C * XSC, av[2] = s->O * YSC, av[3] = ws;
	char err[200] = "";
	lathe_rt_uk_args a = {.pool = pool, .ptr = ptr, .avail = av, .nptr = nptr, .ip = ip,
			      .nip = LATHE_UK_W_FIXED + nepi * LATHE_UK_EPI_INTS, .fp = fp, .nfp = 1,
			      .err = err, .err_size = sizeof err};
	int rc = fn(&a);
	if (rc)
		fprintf(stderr, "wino refused: %s\n", err);
	free(U);
	free(scratch);
	if (rc) {
		free(Y);
		return NULL;
	}
	return Y;
}

static void check_shape(wino_fn fn, const char *name, shape s, int epi, lathe_rt_pool *pool)
{
	s.OH = s.H + 2 * s.PH - 2;
	s.OW = s.W + 2 * s.PW - 2;
	int64_t XSC = s.H * s.W + 3, YSC = s.OH * s.OW + 5;
	float *X = malloc(sizeof(float) * (size_t)(s.C * XSC));
	float *Wt = malloc(sizeof(float) * (size_t)(s.O * s.C * 9));
	float *bias = malloc(sizeof(float) * (size_t)s.O);
	float *res = malloc(sizeof(float) * (size_t)(s.O * s.OH * s.OW));
	for (int64_t i = 0; i < s.C * XSC; i++)
		X[i] = rnd();
	for (int64_t i = 0; i < s.O * s.C * 9; i++)
		Wt[i] = rnd();
	for (int64_t i = 0; i < s.O; i++)
		bias[i] = rnd();
	for (int64_t i = 0; i < s.O * s.OH * s.OW; i++)
		res[i] = rnd();
	float *y1 = run(fn, &s, epi, 1, NULL, X, XSC, Wt, bias, res, YSC);
	float *y3 = run(fn, &s, epi, 3, pool, X, XSC, Wt, bias, res, YSC);
	CHECK(y1 && y3);
	if (!y1 || !y3)
		return;
	/* Direct sums in double; the error bound scales with the sum of the
	 * terms' magnitudes (inputs and weights in [-1, 1]). */
	double worst = 0;
	bool same = !memcmp(y1, y3, sizeof(float) * (size_t)(s.O * YSC)), gaps = true;
	for (int64_t o = 0; o < s.O; o++) {
		for (int64_t i = s.OH * s.OW; i < YSC; i++)
			gaps &= y1[o * YSC + i] == 12345.0f;
		for (int64_t oh = 0; oh < s.OH; oh++)
			for (int64_t ow = 0; ow < s.OW; ow++) {
				double sum = 0, mag = 0;
				for (int64_t c = 0; c < s.C; c++)
					for (int kh = 0; kh < 3; kh++)
						for (int kw = 0; kw < 3; kw++) {
							int64_t h = oh + kh - s.PH, w = ow + kw - s.PW;
							if (h < 0 || h >= s.H || w < 0 || w >= s.W)
								continue;
							double t = (double)X[c * XSC + h * s.W + w] *
								   Wt[((o * s.C + c) * 3 + kh) * 3 + kw];
							sum += t;
							mag += fabs(t);
						}
				if (epi == EPI_BIAS_RELU || epi == EPI_ALL)
					sum += bias[o];
				if (epi == EPI_RESIDUAL || epi == EPI_ALL)
					sum += res[(o * s.OH + oh) * s.OW + ow];
				if (epi == EPI_BIAS_RELU || epi == EPI_ALL)
					sum = sum > 0 ? sum : 0;
				double d = fabs(y1[o * YSC + oh * s.OW + ow] - sum) / (mag + 1);
				worst = d > worst ? d : worst;
			}
	}
	if (worst > 2e-5 || !same || !gaps)
		fprintf(stderr, "%s: C %lld %lldx%lld O %lld pad %lld,%lld epi %d: error %.3g, "
			"slots agree %d, gaps kept %d\n", name, (long long)s.C, (long long)s.H,
			(long long)s.W, (long long)s.O, (long long)s.PH, (long long)s.PW, epi, worst,
			same, gaps);
	CHECK(worst <= 2e-5);
	CHECK(same);
	CHECK(gaps);
	free(X);
	free(Wt);
	free(bias);
	free(res);
	free(y1);
	free(y3);
}

static void run_all(wino_fn fn, const char *name, lathe_rt_pool *pool)
{
	static const shape shapes[] = {
		{1, 4, 4, 1, 1, 1, 0, 0},      {3, 5, 7, 2, 1, 1, 0, 0},
		{8, 8, 8, 12, 1, 1, 0, 0},     {16, 14, 14, 13, 1, 1, 0, 0},
		{5, 13, 11, 24, 0, 0, 0, 0},   {4, 9, 10, 7, 2, 2, 0, 0},
		{32, 28, 28, 64, 1, 1, 0, 0},  {6, 20, 70, 5, 1, 1, 0, 0},
		{16, 55, 55, 64, 1, 1, 0, 0},  {3, 3, 3, 4, 1, 0, 0, 0},
		{64, 56, 56, 36, 1, 1, 0, 0},  {8, 30, 29, 20, 1, 1, 0, 0},
		{12, 47, 46, 14, 1, 1, 0, 0},  {48, 13, 13, 40, 1, 1, 0, 0},
		{5, 16, 16, 3, 0, 1, 0, 0},
	};
	for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
		for (int epi = 0; epi < 4; epi++)
			check_shape(fn, name, shapes[i], epi, pool);
}

static void test_refusals(void)
{
	float buf[4096] = {0};
	char err[200] = "";
	int64_t ip[LATHE_UK_W_FIXED] = {0};
	ip[LATHE_UK_W_C] = 2, ip[LATHE_UK_W_H] = 6, ip[LATHE_UK_W_W] = 6;
	ip[LATHE_UK_W_XSC] = 36, ip[LATHE_UK_W_XSH] = 6;
	ip[LATHE_UK_W_O] = 3, ip[LATHE_UK_W_OH] = 6, ip[LATHE_UK_W_OW] = 6;
	ip[LATHE_UK_W_YSC] = 36, ip[LATHE_UK_W_PH] = 1, ip[LATHE_UK_W_PW] = 1;
	ip[LATHE_UK_W_MR] = 12, ip[LATHE_UK_W_NR] = 32, ip[LATHE_UK_W_SLOTS] = 1;
	int64_t ws = lathe_rt_uk_wino_scratch(ip, LATHE_UK_W_FIXED);
	CHECK(ws > 0);
	float *scratch = calloc((size_t)ws, sizeof(float));
	void *ptr[4] = {buf, buf + 1024, buf + 2048, scratch};
	int64_t av[4] = {12 * 36 * 2, 72, 108, ws};
	lathe_rt_uk_args a = {.ptr = ptr, .avail = av, .nptr = 4, .ip = ip, .nip = LATHE_UK_W_FIXED,
			      .err = err, .err_size = sizeof err};
	CHECK(lathe_rt_uk_wino(&a) == 0);
	av[1] = 71; /* X one short */
	CHECK(lathe_rt_uk_wino(&a) == 1 && strstr(err, "X"));
	av[1] = 72;
	av[0] = 12 * 36 * 2 - 1; /* the weights one short */
	CHECK(lathe_rt_uk_wino(&a) == 1 && strstr(err, "weights"));
	av[0] = 12 * 36 * 2;
	av[3] = ws - 1;
	CHECK(lathe_rt_uk_wino(&a) == 1 && strstr(err, "scratch"));
	av[3] = ws;
	ip[LATHE_UK_W_OW] = -1;
	CHECK(lathe_rt_uk_wino(&a) == 1 && strstr(err, "wino"));
	CHECK(lathe_rt_uk_wino_scratch(ip, LATHE_UK_W_FIXED) == -1);
	ip[LATHE_UK_W_OW] = 6;
	ip[LATHE_UK_W_XSH] = 5; /* rows overlap */
	CHECK(lathe_rt_uk_wino(&a) == 1 && strstr(err, "overlap"));
	ip[LATHE_UK_W_XSH] = 6;
	ip[LATHE_UK_W_NR] = 0;
	CHECK(lathe_rt_uk_wino(&a) == 1 && strstr(err, "tile"));
	ip[LATHE_UK_W_NR] = 32;
	a.nip = LATHE_UK_W_FIXED - 1;
	CHECK(lathe_rt_uk_wino(&a) == 1);
	a.nip = LATHE_UK_W_FIXED;
	a.nptr = 3;
	CHECK(lathe_rt_uk_wino(&a) == 1);
	a.nptr = 4;
	ip[LATHE_UK_W_NEPI] = 1; /* an epilogue without its integers */
	CHECK(lathe_rt_uk_wino(&a) == 1 && strstr(err, "epilogue"));
	ip[LATHE_UK_W_NEPI] = 0;
	/* pack SIDE 2 takes 3x3 filters only, into a big enough destination */
	int64_t pip[LATHE_UK_P_FIXED] = {2, 3, 2, 3, 3, 12, 18, 9, 3, 1};
	void *pptr[2] = {buf + 3000, buf};
	int64_t pav[2] = {54, 12 * 36 * 2};
	lathe_rt_uk_args p = {.ptr = pptr, .avail = pav, .nptr = 2, .ip = pip, .nip = LATHE_UK_P_FIXED,
			      .err = err, .err_size = sizeof err};
	CHECK(lathe_rt_uk_pack(&p) == 0);
	pav[1] = 12 * 36 * 2 - 1;
	CHECK(lathe_rt_uk_pack(&p) == 1 && strstr(err, "destination"));
	pav[1] = 12 * 36 * 2;
	pip[LATHE_UK_P_K2] = 2;
	CHECK(lathe_rt_uk_pack(&p) == 1 && strstr(err, "3x3"));
	int32_t dt = 0;
	CHECK(lathe_rt_uk_find("wino", &dt) == lathe_rt_uk_wino && dt == 1);
	free(scratch);
}

int main(void)
{
	lathe_rt_pool *pool = lathe_rt_pool_create(3);
	lathe_rt_uk_native_tile(&tile_mr, &tile_nr);
	run_all(lathe_rt_uk_wino, "wino", pool);
	run_all(uw_portable_wino, "wino (portable)", pool);
	static const int tiles[][2] = {{6, 16}, {4, 16}, {12, 32}};
	for (int i = 0; i < 3; i++) {
		tile_mr = tiles[i][0], tile_nr = tiles[i][1];
		check_shape(lathe_rt_uk_wino, "wino (other tile)", (shape){7, 14, 30, 9, 1, 1, 0, 0},
			    EPI_ALL, pool);
		check_shape(uw_portable_wino, "wino (other tile, portable)",
			    (shape){7, 14, 30, 9, 1, 1, 0, 0}, EPI_ALL, pool);
	}
	test_refusals();
	lathe_rt_pool_destroy(pool);
	return CHECK_DONE("test_wino");
}
