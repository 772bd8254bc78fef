/* test_ukernel_rows.c: the softmax and layernorm micro-kernels
 * (runtime/src/ukernel_rows.c) against plain double-precision loops.
 * Softmax: rows of many lengths (1, below, at and above a vector's 16,
 * long ones), padded row strides, Y in place of X, one thread and several,
 * -inf entries, rows that are all -inf, NaN or +inf (the loop nest gives
 * NaN rows there), large values, and refusals of regions that do not fit.
 * Layer normalization: rows of many lengths, with and without bias, in
 * place, and its refusals.  Both the kernel this CPU runs and the portable
 * one (the same file compiled with LATHE_UK_PORTABLE, under other names)
 * are checked.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "lathe_rt.h"
#include "lathe_rt_ukernel.h"

/* The same kernel without its x86 paths. */
#define lathe_rt_uk_softmax ur_portable_softmax
#define lathe_rt_uk_layernorm ur_portable_layernorm
#define LATHE_UK_PORTABLE 1
#include "../../runtime/src/ukernel_rows.c"
#undef lathe_rt_uk_softmax
#undef lathe_rt_uk_layernorm
#undef LATHE_UK_PORTABLE

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0 * 2 - 1;
}

/* The loop nest's result for one row, in double (NaN where its max or sum
 * is NaN). */
static void ref_row(double *want, const float *x, int64_t n, bool lg)
{
	double m = -INFINITY, s = 0;
	bool nan = false;
	for (int64_t j = 0; j < n; j++) {
		if (isnan(x[j]))
			nan = true;
		else if (x[j] > m)
			m = x[j];
	}
	if (nan)
		m = NAN;
	for (int64_t j = 0; j < n; j++)
		s += exp((double)x[j] - m);
	for (int64_t j = 0; j < n; j++)
		want[j] = lg ? ((double)x[j] - m) - log(s) : exp((double)x[j] - m) / s;
}

/* Within float rounding of a few operations: relative 1e-5, and absolute
 * 1e-30 for softmax (results deep in the denormals), 1e-6 for log-softmax
 * (log(s) of a float sum s near 1 is off by about s's rounding). */
static bool close_to(float got, double want, bool lg)
{
	if (isnan(want))
		return isnan(got);
	if (isinf(want))
		return got == want;
	return fabs(got - want) <= 1e-5 * fabs(want) + (lg ? 1e-6 : 1e-30);
}

enum { FILL_RANDOM, FILL_NINF, FILL_ALL_NINF, FILL_NAN, FILL_PINF, FILL_LARGE, FILL_SPREAD };

static void fill_row(float *x, int64_t n, int fill)
{
	for (int64_t j = 0; j < n; j++)
		x[j] = (float)(4 * rnd());
	switch (fill) {
	case FILL_NINF:
		for (int64_t j = 0; j < n; j += 3)
			x[j] = -INFINITY;
		break;
	case FILL_ALL_NINF:
		for (int64_t j = 0; j < n; j++)
			x[j] = -INFINITY;
		break;
	case FILL_NAN:
		x[n / 2] = NAN;
		break;
	case FILL_PINF:
		x[n - 1] = INFINITY;
		break;
	case FILL_LARGE:
		for (int64_t j = 0; j < n; j++)
			x[j] = (float)(1e30 * rnd());
		x[0] = 3e38f;
		break;
	case FILL_SPREAD: /* exp of every argument from 0 down to about -120 */
		for (int64_t j = 0; j < n; j++)
			x[j] = (float)(-120.0 * (double)j / (double)n + rnd() * 1e-3);
		break;
	}
}

typedef int (*softmax_fn)(const lathe_rt_uk_args *a);

/* rows of n at strides xrs, yrs (Y is X when inplace), every row filled
 * the same way. */
static void run_sm(softmax_fn fn, const char *name, int64_t rows, int64_t n, int64_t xpad,
		   int64_t ypad, bool lg, bool inplace, int fill, lathe_rt_pool *pool)
{
	int64_t xrs = n + xpad, yrs = inplace ? xrs : n + ypad;
	int64_t nx = rows * xrs, ny = rows * yrs;
	float *X = malloc(sizeof(float) * (size_t)nx), *Y = inplace ? X : malloc(sizeof(float) * (size_t)ny);
	float *X0 = malloc(sizeof(float) * (size_t)nx);
	double *want = malloc(sizeof(double) * (size_t)n);
	for (int64_t r = 0; r < rows; r++)
		fill_row(X + r * xrs, n, fill);
	for (int64_t i = 0; i < nx; i++)
		if (i % xrs >= n)
			X[i] = 1234.0f;
	memcpy(X0, X, sizeof(float) * (size_t)nx);
	if (!inplace)
		for (int64_t i = 0; i < ny; i++)
			Y[i] = -7.0f;
	int64_t ip[LATHE_UK_S_FIXED] = {rows, n, xrs, yrs, lg};
	void *ptr[2] = {X, Y};
	int64_t av[2] = {(rows - 1) * xrs + n, (rows - 1) * yrs + n};
	char err[200] = "";
	lathe_rt_uk_args a = {.pool = pool, .ptr = ptr, .avail = av, .nptr = 2, .ip = ip,
			      .nip = LATHE_UK_S_FIXED, .err = err, .err_size = sizeof err};
	int rc = fn(&a);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  %s: %s\n", name, err);
	int bad = 0;
	for (int64_t r = 0; r < rows && !bad; r++) {
		ref_row(want, X0 + r * xrs, n, lg);
		for (int64_t j = 0; j < n && !bad; j++) {
			float got = Y[r * yrs + j];
			if (!close_to(got, want[j], lg)) {
				bad = 1;
				fprintf(stderr, "  %s rows %lld n %lld log %d fill %d: [%lld,%lld] = %.9g, "
					"want %.9g (x %.9g)\n", name, (long long)rows, (long long)n, lg,
					fill, (long long)r, (long long)j, got, want[j],
					X0[r * xrs + j]);
			}
		}
		/* nothing between the rows is touched */
		for (int64_t j = n; j < yrs && r + 1 < rows && !bad; j++)
			if (Y[r * yrs + j] != (inplace ? 1234.0f : -7.0f))
				bad = 1;
	}
	CHECK(!bad);
	free(X0), free(want), free(X);
	if (!inplace)
		free(Y);
}

static void run_all(softmax_fn fn, const char *name, lathe_rt_pool *pool)
{
	static const int64_t ns[] = {1, 2, 7, 15, 16, 17, 31, 32, 33, 47, 64, 100, 128, 129, 1000};
	for (int lg = 0; lg < 2; lg++) {
		for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
			run_sm(fn, name, 3, ns[i], 0, 0, lg, false, FILL_RANDOM, NULL);
			run_sm(fn, name, 5, ns[i], 3, 1, lg, false, FILL_NINF, pool);
			run_sm(fn, name, 2, ns[i], 1, 0, lg, true, FILL_LARGE, NULL);
		}
		for (int fill = FILL_RANDOM; fill <= FILL_SPREAD; fill++) {
			run_sm(fn, name, 4, 33, 0, 0, lg, false, fill, pool);
			run_sm(fn, name, 2, 200, 5, 0, lg, fill == FILL_NAN, fill, NULL);
			run_sm(fn, name, 1, 1, 0, 0, lg, false, fill, NULL);
		}
		run_sm(fn, name, 48, 128, 0, 0, lg, false, FILL_RANDOM, pool); /* attention scores */
	}
}

/* ---- layernorm ------------------------------------------------------------------ */

static void run_ln(softmax_fn fn, const char *name, int64_t rows, int64_t n, int64_t xpad,
		   bool bias, bool inplace, lathe_rt_pool *pool)
{
	int64_t xrs = n + xpad, yrs = xrs;
	int64_t nx = rows * xrs;
	float *X = malloc(sizeof(float) * (size_t)nx), *Y = inplace ? X : malloc(sizeof(float) * (size_t)nx);
	float *X0 = malloc(sizeof(float) * (size_t)nx), *G = malloc(sizeof(float) * (size_t)n);
	float *B = malloc(sizeof(float) * (size_t)n);
	for (int64_t i = 0; i < nx; i++)
		X[i] = i % xrs >= n ? 1234.0f : (float)(3 + 4 * rnd());
	for (int64_t j = 0; j < n; j++) {
		G[j] = (float)(1 + rnd());
		B[j] = (float)rnd();
	}
	if (!inplace)
		for (int64_t i = 0; i < nx; i++)
			Y[i] = -7.0f;
	memcpy(X0, X, sizeof(float) * (size_t)nx);
	int64_t ip[LATHE_UK_S_FIXED] = {rows, n, xrs, yrs, bias};
	double eps = 1e-5;
	void *ptr[4] = {X, Y, G, B};
	int64_t av[4] = {(rows - 1) * xrs + n, (rows - 1) * yrs + n, n, n};
	char err[200] = "";
	lathe_rt_uk_args a = {.pool = pool, .ptr = ptr, .avail = av, .nptr = 3 + bias, .ip = ip,
			      .nip = LATHE_UK_S_FIXED, .fp = &eps, .nfp = 1, .err = err,
			      .err_size = sizeof err};
	int rc = fn(&a);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  %s: %s\n", name, err);
	int bad = 0;
	for (int64_t r = 0; r < rows && !bad; r++) {
		const float *x = X0 + r * xrs;
		double m = 0, v = 0;
		for (int64_t j = 0; j < n; j++)
			m += x[j];
		m /= (double)n;
		for (int64_t j = 0; j < n; j++)
			v += (x[j] - m) * (x[j] - m);
		double inv = 1 / sqrt(v / (double)n + (double)(float)eps);
		for (int64_t j = 0; j < n && !bad; j++) {
			double want = (x[j] - m) * inv * G[j] + (bias ? B[j] : 0);
			float got = Y[r * yrs + j];
			if (!(fabs(got - want) <= 2e-5 * (fabs(want) + 1))) {
				bad = 1;
				fprintf(stderr, "  %s rows %lld n %lld bias %d: [%lld,%lld] = %.9g, want %.9g\n",
					name, (long long)rows, (long long)n, bias, (long long)r,
					(long long)j, got, want);
			}
		}
		for (int64_t j = n; j < yrs && r + 1 < rows && !bad; j++)
			if (Y[r * yrs + j] != (inplace ? 1234.0f : -7.0f))
				bad = 1;
	}
	CHECK(!bad);
	/* regions that do not fit */
	for (int i = 0; i < 3 + bias; i++) {
		av[i]--;
		CHECK(fn(&a) == 1);
		av[i]++;
	}
	a.nfp = 0;
	CHECK(fn(&a) == 1);
	a.nfp = 1;
	a.nptr = 2 + bias;
	CHECK(fn(&a) == 1);
	free(X0), free(G), free(B), free(X);
	if (!inplace)
		free(Y);
}

static void run_ln_all(softmax_fn fn, const char *name, lathe_rt_pool *pool)
{
	static const int64_t ns[] = {1, 3, 15, 16, 17, 32, 33, 100, 256, 768, 1001};
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		run_ln(fn, name, 3, ns[i], 0, true, false, NULL);
		run_ln(fn, name, 5, ns[i], 2, false, false, pool);
		run_ln(fn, name, 2, ns[i], 1, true, true, NULL);
	}
	run_ln(fn, name, 128, 768, 0, true, false, pool); /* BERT */
}

static void test_refusals(void)
{
	float X[64] = {0}, Y[64];
	int64_t ip[LATHE_UK_S_FIXED] = {4, 16, 16, 16, 0};
	void *ptr[2] = {X, Y};
	int64_t av[2] = {64, 64};
	char err[200] = "";
	lathe_rt_uk_args a = {.ptr = ptr, .avail = av, .nptr = 2, .ip = ip,
			      .nip = LATHE_UK_S_FIXED, .err = err, .err_size = sizeof err};
	CHECK(lathe_rt_uk_softmax(&a) == 0);
	for (int i = 0; i < 2; i++) {
		av[i]--;
		CHECK(lathe_rt_uk_softmax(&a) == 1);
		av[i]++;
	}
	ip[LATHE_UK_S_XRS] = 17; /* X's last row ends past avail */
	CHECK(lathe_rt_uk_softmax(&a) == 1);
	ip[LATHE_UK_S_XRS] = 16;
	ip[LATHE_UK_S_YRS] = 15; /* rows of Y overlap */
	CHECK(lathe_rt_uk_softmax(&a) == 1);
	ip[LATHE_UK_S_YRS] = 16;
	ip[LATHE_UK_S_LOG] = 2;
	CHECK(lathe_rt_uk_softmax(&a) == 1);
	ip[LATHE_UK_S_LOG] = 0;
	ip[LATHE_UK_S_N] = -1;
	CHECK(lathe_rt_uk_softmax(&a) == 1);
	ip[LATHE_UK_S_N] = 16;
	a.nip = LATHE_UK_S_FIXED - 1;
	CHECK(lathe_rt_uk_softmax(&a) == 1);
	CHECK(strstr(err, "softmax") != NULL);
	a.nip = LATHE_UK_S_FIXED;
	a.nptr = 1;
	CHECK(lathe_rt_uk_softmax(&a) == 1);
	a.nptr = 2;
	ip[LATHE_UK_S_ROWS] = 0; /* nothing to do */
	CHECK(lathe_rt_uk_softmax(&a) == 0);
	int32_t dt = 0;
	CHECK(lathe_rt_uk_find("softmax", &dt) == lathe_rt_uk_softmax && dt == 1);
	CHECK(lathe_rt_uk_find("layernorm", &dt) == lathe_rt_uk_layernorm && dt == 1);
}

int main(void)
{
	lathe_rt_pool *pool = lathe_rt_pool_create(4);
	run_all(lathe_rt_uk_softmax, "softmax", pool);
	run_all(ur_portable_softmax, "softmax (portable)", pool);
	run_ln_all(lathe_rt_uk_layernorm, "layernorm", pool);
	run_ln_all(ur_portable_layernorm, "layernorm (portable)", pool);
	test_refusals();
	lathe_rt_pool_destroy(pool);
	return CHECK_DONE("test_ukernel_rows");
}
