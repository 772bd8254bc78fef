/* test_tensorize.c: src/sched/tensorize.c end to end.  Each case is a loop
 * program in the text form, as the lowering builds it (matmuls, batched and
 * transposed; convolutions with padding, strides, dilation, 1-D, by
 * Winograd's algorithm; depthwise;
 * max pooling;
 * epilogues: bias, residual, ReLU, Clip by tensors, GELU's erf, and one the
 * kernels do not have).  For each: the default schedule with micro-kernels
 * must turn it into calls (or leave it alone where it says so); the
 * interpreter must give the same outputs before and after, to rounding
 * (the kernels sum in another order, with fused multiply-adds); the C the
 * backend prints for it (the kernels pasted in, as the JIT does) must build
 * with warnings as errors and give the interpreter's outputs bit for bit
 * (both run the same kernels on the same CPU); and the function must print
 * and parse back to the same text.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "codegen/codegen.h"
#include "sched/sched.h"

typedef struct tcase {
	const char *name;
	const char *text;
	const char *cls;
	int calls; /* calls expected after the schedule (0: must stay loops) */
} tcase;

static const tcase cases[] = {
	{"bmm", "func @bmm(%A: f32[2,40,24], %B: f32[2,24,48], %C: f32[2,40,48]) {\n"
		"  local %acc: f32[]\n"
		"  for %b in 0..2 { for %i in 0..40 { for %j in 0..48 {\n"
		"    %acc[] = 0:f32\n"
		"    for %k in 0..24 { %acc[] = add(%acc[], mul(%A[%b, %i, %k], %B[%b, %k, %j])) }\n"
		"    %C[%b, %i, %j] = %acc[] } } }\n}\n", "matmul", 1},
	{"gemm_tb_alpha", "func @g(%A: f32[13,70], %B: f32[33,70] const, %c: f32[33], %Y: f32[13,33]) {\n"
		"  local %acc: f32[]\n"
		"  for %i in 0..13 { for %j in 0..33 {\n"
		"    %acc[] = 0:f32\n"
		"    for %k in 0..70 { %acc[] = add(%acc[], mul(%A[%i, %k], %B[%j, %k])) }\n"
		"    %Y[%i, %j] = add(mul(%acc[], 0.5:f32), %c[%j]) } }\n}\n", "matmul", 2},
	{"matmul_fold_m", "func @m(%X: f32[2,8,16], %W: f32[16,24] const, %Y: f32[2,8,24]) {\n"
		"  local %acc: f32[]\n"
		"  for %b in 0..2 { for %i in 0..8 { for %j in 0..24 {\n"
		"    %acc[] = 0:f32\n"
		"    for %k in 0..16 { %acc[] = add(%acc[], mul(%X[%b, %i, %k], %W[%k, %j])) }\n"
		"    %Y[%b, %i, %j] = max(%acc[], 0:f32) } } }\n}\n", "matmul", 2},
	{"gelu", "func @ff(%X: f32[1,20,32], %W: f32[32,40] const, %b: f32[40], %c: f32[], %d: f32[], %e: f32[], %Y: f32[1,20,40]) {\n"
		"  local %acc: f32[]\n"
		"  for %i in 0..20 { for %j in 0..40 {\n"
		"    %acc[] = 0:f32\n"
		"    for %k in 0..32 { %acc[] = add(%acc[], mul(%X[0, %i, %k], %W[%k, %j])) }\n"
		"    %Y[0, %i, %j] = mul(mul(add(%b[%j], %acc[]), add(erf(div(add(%b[%j], %acc[]), %c[])), %d[])), %e[]) } }\n}\n",
	 "matmul", 2},
	{"sigmoid_nest", "func @s(%A: f32[9,20], %B: f32[20,17], %Y: f32[9,17]) {\n"
		"  local %acc: f32[]\n"
		"  for %i in 0..9 { for %j in 0..17 {\n"
		"    %acc[] = 0:f32\n"
		"    for %k in 0..20 { %acc[] = add(%acc[], mul(%A[%i, %k], %B[%k, %j])) }\n"
		"    %Y[%i, %j] = sigmoid(%acc[]) } }\n}\n", "matmul", 1},
	{"conv3x3", "func @conv(%X: f32[1,4,16,16], %W: f32[12,4,3,3] const, %B: f32[12], %R: f32[1,12,16,16], %Y: f32[1,12,16,16]) {\n"
		"  local %acc: f32[]\n"
		"  for %co in 0..12 { for %oh in 0..16 { for %ow in 0..16 {\n"
		"    %acc[] = 0:f32\n"
		"    for %ci in 0..4 { for %kh in 0..3 { for %kw in 0..3 {\n"
		"      %acc[] = add(%acc[], mul(select(and(and(and(ge(add(add(%oh, -1), %kh), 0), lt(add(add(%oh, -1), %kh), 16)), ge(add(add(%ow, -1), %kw), 0)), lt(add(add(%ow, -1), %kw), 16)), %X[0, %ci, add(add(%oh, -1), %kh), add(add(%ow, -1), %kw)], 0:f32), %W[%co, %ci, %kh, %kw])) } } }\n"
		"    %Y[0, %co, %oh, %ow] = max(add(add(%acc[], %B[%co]), %R[0, %co, %oh, %ow]), 0:f32) } } }\n}\n",
	 "conv", 2},
	/* Winograd (wino): 16 input channels, a 20x18 image (not whole 4x4
	 * tiles), 33 outputs (not whole panels of 12), bias, residual, ReLU */
	{"conv3x3_wino", "func @cw(%X: f32[1,16,20,18], %W: f32[33,16,3,3] const, %B: f32[33], %R: f32[1,33,20,18], %Y: f32[1,33,20,18]) {\n"
		"  local %acc: f32[]\n"
		"  for %co in 0..33 { for %oh in 0..20 { for %ow in 0..18 {\n"
		"    %acc[] = 0:f32\n"
		"    for %ci in 0..16 { for %kh in 0..3 { for %kw in 0..3 {\n"
		"      %acc[] = add(%acc[], mul(select(and(and(and(ge(add(add(%oh, -1), %kh), 0), lt(add(add(%oh, -1), %kh), 20)), ge(add(add(%ow, -1), %kw), 0)), lt(add(add(%ow, -1), %kw), 18)), %X[0, %ci, add(add(%oh, -1), %kh), add(add(%ow, -1), %kw)], 0:f32), %W[%co, %ci, %kh, %kw])) } } }\n"
		"    %Y[0, %co, %oh, %ow] = max(add(add(%acc[], %B[%co]), %R[0, %co, %oh, %ow]), 0:f32) } } }\n}\n",
	 "conv", 2},
	{"conv7x7s2", "func @c7(%X: f32[1,3,23,19], %W: f32[13,3,7,7] const, %Y: f32[1,13,10,8]) {\n"
		"  local %acc: f32[]\n"
		"  for %co in 0..13 { for %oh in 0..10 { for %ow in 0..8 {\n"
		"    %acc[] = 0:f32\n"
		"    for %ci in 0..3 { for %kh in 0..7 { for %kw in 0..7 {\n"
		"      %acc[] = add(%acc[], mul(select(and(and(and(ge(add(add(mul(%oh, 2), -3), %kh), 0), lt(add(add(mul(%oh, 2), -3), %kh), 23)), ge(add(add(mul(%ow, 2), -3), %kw), 0)), lt(add(add(mul(%ow, 2), -3), %kw), 19)), %X[0, %ci, add(add(mul(%oh, 2), -3), %kh), add(add(mul(%ow, 2), -3), %kw)], 0:f32), %W[%co, %ci, %kh, %kw])) } } }\n"
		"    %Y[0, %co, %oh, %ow] = %acc[] } } }\n}\n", "conv", 2},
	{"conv1x1s2", "func @c1(%X: f32[1,8,15,15], %W: f32[5,8,1,1] const, %Y: f32[1,5,8,8]) {\n"
		"  local %acc: f32[]\n"
		"  for %co in 0..5 { for %oh in 0..8 { for %ow in 0..8 {\n"
		"    %acc[] = 0:f32\n"
		"    for %ci in 0..8 { %acc[] = add(%acc[], mul(%X[0, %ci, mul(%oh, 2), mul(%ow, 2)], %W[%co, %ci, 0, 0])) }\n"
		"    %Y[0, %co, %oh, %ow] = %acc[] } } }\n}\n", "conv", 2},
	/* 1x1 over 7x7 positions, 32 output channels: the transposed tile
	 * with B strided (the input as it is), bias and Clip after */
	{"conv1x1_7x7", "func @cp(%X: f32[1,20,7,7], %W: f32[32,20,1,1] const, %B: f32[32], %Y: f32[1,32,7,7]) {\n"
		"  local %acc: f32[]\n"
		"  for %co in 0..32 { for %oh in 0..7 { for %ow in 0..7 {\n"
		"    %acc[] = 0:f32\n"
		"    for %ci in 0..20 { %acc[] = add(%acc[], mul(%X[0, %ci, %oh, %ow], %W[%co, %ci, 0, 0])) }\n"
		"    %Y[0, %co, %oh, %ow] = min(max(add(%acc[], %B[%co]), 0:f32), 6:f32) } } }\n}\n", "conv", 2},
	{"conv_dil2", "func @cd(%X: f32[1,4,9,11], %W: f32[7,4,3,3], %Y: f32[1,7,9,11]) {\n"
		"  local %acc: f32[]\n"
		"  for %co in 0..7 { for %oh in 0..9 { for %ow in 0..11 {\n"
		"    %acc[] = 0:f32\n"
		"    for %ci in 0..4 { for %kh in 0..3 { for %kw in 0..3 {\n"
		"      %acc[] = add(%acc[], mul(select(and(and(and(ge(add(add(%oh, -2), mul(%kh, 2)), 0), lt(add(add(%oh, -2), mul(%kh, 2)), 9)), ge(add(add(%ow, -2), mul(%kw, 2)), 0)), lt(add(add(%ow, -2), mul(%kw, 2)), 11)), %X[0, %ci, add(add(%oh, -2), mul(%kh, 2)), add(add(%ow, -2), mul(%kw, 2))], 0:f32), %W[%co, %ci, %kh, %kw])) } } }\n"
		"    %Y[0, %co, %oh, %ow] = %acc[] } } }\n}\n", "conv", 1},
	{"conv1d", "func @c1d(%X: f32[2,3,20], %W: f32[6,3,5] const, %Y: f32[2,6,18]) {\n"
		"  local %acc: f32[]\n"
		"  for %n in 0..2 { for %co in 0..6 { for %ow in 0..18 {\n"
		"    %acc[] = 0:f32\n"
		"    for %ci in 0..3 { for %kw in 0..5 {\n"
		"      %acc[] = add(%acc[], mul(select(and(ge(add(add(%ow, -1), %kw), 0), lt(add(add(%ow, -1), %kw), 20)), %X[%n, %ci, add(add(%ow, -1), %kw)], 0:f32), %W[%co, %ci, %kw])) } }\n"
		"    %Y[%n, %co, %ow] = %acc[] } } }\n}\n", "conv", 2},
	{"dw_s2_clip", "func @dw(%X: f32[1,16,24,24], %W: f32[16,1,3,3], %B: f32[16], %lo: f32[], %hi: f32[], %Y: f32[1,16,12,12]) {\n"
		"  local %acc: f32[]\n"
		"  for %c in 0..16 { for %oh in 0..12 { for %ow in 0..12 {\n"
		"    %acc[] = 0:f32\n"
		"    for %kh in 0..3 { for %kw in 0..3 {\n"
		"      %acc[] = add(%acc[], mul(select(and(ge(add(add(mul(%oh, 2), -1), %kh), 0), ge(add(add(mul(%ow, 2), -1), %kw), 0)), %X[0, %c, add(add(mul(%oh, 2), -1), %kh), add(add(mul(%ow, 2), -1), %kw)], 0:f32), %W[%c, 0, %kh, %kw])) } }\n"
		"    %Y[0, %c, %oh, %ow] = min(max(add(%acc[], %B[%c]), %lo[]), %hi[]) } } }\n}\n",
	 "depthwise_conv", 1},
	{"dw_s1", "func @dw1(%X: f32[1,5,13,10], %W: f32[5,1,3,3], %Y: f32[1,5,13,10]) {\n"
		"  local %acc: f32[]\n"
		"  for %c in 0..5 { for %oh in 0..13 { for %ow in 0..10 {\n"
		"    %acc[] = 0:f32\n"
		"    for %kh in 0..3 { for %kw in 0..3 {\n"
		"      %acc[] = add(%acc[], mul(select(and(and(and(ge(add(add(%oh, -1), %kh), 0), lt(add(add(%oh, -1), %kh), 13)), ge(add(add(%ow, -1), %kw), 0)), lt(add(add(%ow, -1), %kw), 10)), %X[0, %c, add(add(%oh, -1), %kh), add(add(%ow, -1), %kw)], 0:f32), %W[%c, 0, %kh, %kw])) } }\n"
		"    %Y[0, %c, %oh, %ow] = %acc[] } } }\n}\n", "depthwise_conv", 1},
	/* max pooling: padding (the lowering tests only the bounds it cannot
	 * prove), none with a partial last window, an epilogue */
	{"maxpool_pad", "func @mp(%X: f32[1,6,16,16], %Y: f32[1,6,8,8]) {\n"
		"  local %acc: f32[]\n"
		"  for %c in 0..6 { for %oh in 0..8 { for %ow in 0..8 {\n"
		"    %acc[] = -inf:f32\n"
		"    for %kh in 0..3 { for %kw in 0..3 {\n"
		"      %acc[] = max(%acc[], select(and(ge(add(add(mul(%oh, 2), -1), %kh), 0), ge(add(add(mul(%ow, 2), -1), %kw), 0)), %X[0, %c, add(add(mul(%oh, 2), -1), %kh), add(add(mul(%ow, 2), -1), %kw)], -inf:f32)) } }\n"
		"    %Y[0, %c, %oh, %ow] = %acc[] } } }\n}\n", "pool", 1},
	{"maxpool_relu", "func @mpr(%X: f32[2,4,11,11], %Y: f32[2,4,5,5]) {\n"
		"  local %acc: f32[]\n"
		"  for %n in 0..2 { for %c in 0..4 { for %oh in 0..5 { for %ow in 0..5 {\n"
		"    %acc[] = -inf:f32\n"
		"    for %kh in 0..3 { for %kw in 0..3 {\n"
		"      %acc[] = max(%acc[], %X[%n, %c, add(mul(%oh, 2), %kh), add(mul(%ow, 2), %kw)]) } }\n"
		"    %Y[%n, %c, %oh, %ow] = max(%acc[], 0:f32) } } } }\n}\n", "pool", 1},
	/* the maximum taken the other way round: left to the loops */
	{"maxpool_rev", "func @mpv(%X: f32[1,2,8,8], %Y: f32[1,2,4,4]) {\n"
		"  local %acc: f32[]\n"
		"  for %c in 0..2 { for %oh in 0..4 { for %ow in 0..4 {\n"
		"    %acc[] = -inf:f32\n"
		"    for %kh in 0..2 { for %kw in 0..2 {\n"
		"      %acc[] = max(%X[0, %c, add(mul(%oh, 2), %kh), add(mul(%ow, 2), %kw)], %acc[]) } }\n"
		"    %Y[0, %c, %oh, %ow] = %acc[] } } }\n}\n", "pool", 0},
	/* a reduction that is not a product of two loads: left to the loops */
	{"not_a_product", "func @r(%A: f32[8,16], %Y: f32[8]) {\n"
		"  local %acc: f32[]\n"
		"  for %i in 0..8 {\n"
		"    %acc[] = 0:f32\n"
		"    for %k in 0..16 { %acc[] = add(%acc[], mul(%A[%i, %k], %A[%i, %k])) }\n"
		"    %Y[%i] = %acc[] }\n}\n", "matmul", 0},
};
enum { NCASES = sizeof cases / sizeof cases[0] };

static int count_calls(const lathe_tir_stmt *s)
{
	if (!s)
		return 0;
	switch (s->kind) {
	case LATHE_TIR_S_CALL:
		return 1;
	case LATHE_TIR_S_SEQ: {
		int n = 0;
		for (int i = 0; i < s->n; i++)
			n += count_calls(s->stmts[i]);
		return n;
	}
	case LATHE_TIR_S_IF:
		return count_calls(s->body) + count_calls(s->orelse);
	default:
		return count_calls(s->body);
	}
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float rndf(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

typedef int (*entry_fn)(void *const *args, lathe_rt_pool *pool);

static void run_case(const tcase *tc, const char *dir, int idx)
{
	lathe_arena *a = lathe_arena_create(), *a2 = lathe_arena_create();
	lathe_tir_func *ref = NULL, *f = NULL;
	CHECK_OK(lathe_tir_parse(a, tc->text, tc->name, &ref));
	CHECK_OK(lathe_tir_parse(a2, tc->text, tc->name, &f));
	if (!ref || !f)
		return;
	f->sched_class = lathe_sched_class_parse(tc->cls);
	ref->sched_class = f->sched_class;
	lathe_target t = {.vector_bytes = 64, .threads = 2, .ukernels = true};
	CHECK_OK(lathe_sched_default(f, &t));
	int calls = count_calls(f->body);
	if (tc->calls ? calls < tc->calls : calls != 0) {
		fprintf(stderr, "%s: %d calls after the schedule, %d wanted\n", tc->name, calls, tc->calls);
		CHECK(0);
	}
	/* Only the case made for it runs Winograd's algorithm (conv3x3 has
	 * too few channels for it to pay). */
	CHECK(lathe_sched_calls(f->body, "wino") == (strstr(tc->name, "wino") != NULL));
	/* The text form round-trips. */
	lathe_buf p1 = {0}, p2 = {0};
	lathe_tir_print(&p1, f);
	lathe_arena *a3 = lathe_arena_create();
	lathe_tir_func *back = NULL;
	CHECK_OK(lathe_tir_parse(a3, p1.data, tc->name, &back));
	if (back) {
		lathe_tir_print(&p2, back);
		CHECK_STR(p2.data, p1.data);
		lathe_tir_func_deinit(back);
	}
	if (getenv("TENSORIZE_SHOW"))
		printf("%s", p1.data);
	/* Inputs, random; outputs poisoned. */
	int np = f->nparams;
	void **in_ref = calloc((size_t)np + 1, sizeof *in_ref);
	void **in_f = calloc((size_t)np + 2, sizeof *in_f);
	void **in_c = calloc((size_t)np + 2, sizeof *in_c);
	int64_t *nel = calloc((size_t)np + 1, sizeof *nel);
	for (int i = 0; i < np; i++) {
		const lathe_tir_buf *b = ref->bufs.data[i];
		int64_t n = 1;
		for (int d = 0; d < b->rank; d++)
			n *= b->shape[d];
		nel[i] = n;
		float *x = malloc(sizeof(float) * (size_t)(n + 1));
		for (int64_t k = 0; k < n; k++)
			x[k] = rndf();
		if (!strcmp(b->name, "lo"))
			x[0] = 0;
		if (!strcmp(b->name, "hi"))
			x[0] = 0.5f;
		if (!strcmp(b->name, "c"))
			x[0] = 1.4142135f;
		in_ref[i] = x;
		in_f[i] = malloc(sizeof(float) * (size_t)(n + 1));
		in_c[i] = malloc(sizeof(float) * (size_t)(n + 1));
		memcpy(in_f[i], x, sizeof(float) * (size_t)n);
		memcpy(in_c[i], x, sizeof(float) * (size_t)n);
	}
	CHECK_OK(lathe_tir_interp(ref, in_ref));
	CHECK_OK(lathe_tir_interp(f, in_f));
	/* The outputs: the last parameter of every case. */
	int o = np - 1;
	int bad = 0;
	const float *r = in_ref[o], *g = in_f[o];
	for (int64_t k = 0; k < nel[o] && !bad; k++)
		if (!(fabsf(r[k] - g[k]) <= 2e-5f * (1 + fabsf(r[k])))) {
			fprintf(stderr, "%s: output[%lld] = %.9g, the loops give %.9g\n", tc->name,
				(long long)k, g[k], r[k]);
			bad = 1;
		}
	CHECK(!bad);
	/* Compiled as the JIT does: the kernels pasted in. */
	lathe_buf src = {0};
	lathe_codegen_c_prelude(&src);
	lathe_codegen_opts co = {.vector_bytes = 64, .embed_ukernels = true};
	CHECK_OK(lathe_codegen_c_func_opts(&src, f, "fn", &co));
	lathe_buf_puts(&src, "int entry(void *const *args, lathe_rt_pool *pool);\n"
			     "int entry(void *const *args, lathe_rt_pool *pool) { return fn(args, pool); }\n");
	char cpath[256], sopath[256];
	snprintf(cpath, sizeof cpath, "%s/t%d.c", dir, idx);
	snprintf(sopath, sizeof sopath, "%s/t%d.so", dir, idx);
	FILE *fp = fopen(cpath, "w");
	if (fp) {
		fwrite(src.data, 1, src.len, fp);
		fclose(fp);
	}
	const char *files[1] = {cpath};
	lathe_err e = lathe_codegen_cc_shared(files, 1, sopath, "-Wall -Wextra -Werror -march=native");
	CHECK_OK(e);
	void *h = e ? NULL : dlopen(sopath, RTLD_NOW | RTLD_LOCAL);
	if (h) {
		void *sym = dlsym(h, "entry");
		entry_fn fn;
		memcpy(&fn, &sym, sizeof fn);
		size_t ns = lathe_codegen_scratch_size(f);
		void *scratch = aligned_alloc(64, ns ? (ns + 63) / 64 * 64 : 64);
		in_c[np] = scratch;
		lathe_rt_pool *pool = lathe_rt_pool_create(2);
		CHECK(fn && fn(in_c, pool) == 0);
		lathe_rt_pool_destroy(pool);
		const float *c = in_c[o];
		int diff = 0;
		for (int64_t k = 0; k < nel[o] && !diff; k++)
			if (memcmp(&c[k], &g[k], 4) && !(isnan(c[k]) && isnan(g[k]))) {
				fprintf(stderr, "%s: compiled output[%lld] = %.9g, interpreted %.9g\n",
					tc->name, (long long)k, c[k], g[k]);
				diff = 1;
			}
		CHECK(!diff);
		free(scratch);
		dlclose(h);
	}
	for (int i = 0; i < np; i++)
		free(in_ref[i]), free(in_f[i]), free(in_c[i]);
	free(in_ref), free(in_f), free(in_c), free(nel);
	lathe_buf_free(&src);
	lathe_buf_free(&p1);
	lathe_buf_free(&p2);
	lathe_tir_func_deinit(ref);
	lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
	lathe_arena_destroy(a2);
	lathe_arena_destroy(a3);
}

/* Calls that do not fit are refused, by the verifier or the kernel. */
static void test_refusals(void)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = NULL;
	lathe_err e = lathe_tir_parse(a, "func @f(%A: f32[4]) {\n  call @nope(read %A[0])\n}\n", "x", &f);
	if (!e)
		e = lathe_tir_verify(f);
	CHECK(e && strstr(lathe_error_message(e), "micro-kernel"));
	lathe_error_free(e);
	if (f)
		lathe_tir_func_deinit(f);
	f = NULL;
	e = lathe_tir_parse(a, "func @f(%A: i32[4]) {\n  call @pack(read %A[0], write %A[0])\n}\n", "x", &f);
	if (!e)
		e = lathe_tir_verify(f);
	CHECK(e && strstr(lathe_error_message(e), "takes f32"));
	lathe_error_free(e);
	if (f)
		lathe_tir_func_deinit(f);
	/* A pack too big for its destination: the interpreter reports the kernel's reason. */
	f = NULL;
	CHECK_OK(lathe_tir_parse(a, "func @f(%A: f32[4,4], %B: f32[8]) {\n"
				 "  call @pack(read %A[0, 0], write %B[0], 0, 4, 1, 1, 4, 4, 4, 0, 0, 1)\n}\n",
				 "x", &f));
	float A[16] = {0}, B[8];
	void *args[2] = {A, B};
	e = f ? lathe_tir_interp(f, args) : NULL;
	CHECK(e && strstr(lathe_error_message(e), "destination"));
	lathe_error_free(e);
	if (f)
		lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
}

/* The Winograd case on a target that does not allow Winograd's algorithm
 * (lathe compile --no-winograd, or winograd=0) becomes sgemm. */
static void test_no_winograd(void)
{
	const tcase *tc = NULL;
	for (int i = 0; i < (int)NCASES; i++)
		if (!strcmp(cases[i].name, "conv3x3_wino"))
			tc = &cases[i];
	CHECK(tc != NULL);
	if (!tc)
		return;
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = NULL;
	CHECK_OK(lathe_tir_parse(a, tc->text, tc->name, &f));
	lathe_target t;
	CHECK_OK(lathe_target_parse("avx512,threads=2,winograd=0", &t));
	CHECK(t.no_winograd);
	if (f) {
		f->sched_class = lathe_sched_class_parse(tc->cls);
		CHECK_OK(lathe_sched_default(f, &t));
		CHECK(lathe_sched_calls(f->body, "sgemm") && !lathe_sched_calls(f->body, "wino"));
		lathe_tir_func_deinit(f);
	}
	CHECK_OK(lathe_target_parse("avx512,winograd=1", &t));
	CHECK(!t.no_winograd);
	lathe_arena_destroy(a);
}

int main(void)
{
	char dir[] = "/tmp/lathe-tensorize-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	for (int i = 0; i < (int)NCASES; i++)
		run_case(&cases[i], dir, i);
	test_refusals();
	test_no_winograd();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return CHECK_DONE("test_tensorize");
}
