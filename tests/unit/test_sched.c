/* test_sched.c: schedule primitives and default schedules keep results
 * bit-identical.
 *
 * Every check runs a function with the interpreter before and after a
 * schedule, on the same random inputs, and compares every parameter buffer
 * bytewise.  The interpreter runs parallel and vectorized loops serially,
 * so for those the scheduled function is also run with each parallel or
 * vectorized loop reversed: a loop that really has independent iterations
 * gives the same result in any order.  A random-schedule fuzzer applies
 * random primitives to a set of functions: whatever a primitive accepts
 * must compute the same thing, and whatever it refuses must leave the
 * function exactly as it was.
 *
 *   build/tests/test_sched                 the tests (a few seconds)
 *   build/tests/test_sched --onnx DIR...   also: every node of the ONNX
 *       models under DIR (model.onnx files), lowered for its inferred
 *       shapes, before and after lathe_sched_default
 */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "exec/exec.h"
#include "onnx/onnx.h"
#include "sched/sched.h"

/* ---- helpers ----------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}
static int rndn(int n)
{
	return n > 0 ? (int)(rnd() % (uint64_t)n) : 0;
}

static lathe_tir_func *parse(lathe_arena *a, const char *text)
{
	lathe_tir_func *f = NULL;
	lathe_err e = lathe_tir_parse(a, text, "test", &f);
	if (e) {
		fprintf(stderr, "parse: %s\n%s\n", lathe_error_message(e), text);
		lathe_error_free(e);
		return NULL;
	}
	return f;
}

static char *print_fn(const lathe_tir_func *f)
{
	lathe_buf b = {0};
	lathe_tir_print(&b, f);
	return b.data;
}

static size_t buf_bytes(const lathe_tir_buf *b)
{
	size_t n = lathe_dtype_size(b->dtype);
	for (int d = 0; d < b->rank; d++)
		n *= (size_t)b->shape[d];
	return n;
}

/* Random inputs for f's parameters (same seed -> same data). */
static void **make_args(const lathe_tir_func *f, uint64_t seed)
{
	void **args = calloc((size_t)f->nparams + 1, sizeof *args);
	uint64_t save = rng_state;
	rng_state = seed | 1;
	for (int i = 0; i < f->nparams; i++) {
		const lathe_tir_buf *b = f->bufs.data[i];
		size_t n = buf_bytes(b), es = lathe_dtype_size(b->dtype);
		args[i] = calloc(n + 1, 1);
		for (size_t k = 0; es && k < n / es; k++) {
			char *p = (char *)args[i] + k * es;
			switch (b->dtype) {
			case LATHE_DT_F32: {
				float v = (float)((int)(rnd() % 2001) - 1000) / 250.0f;
				memcpy(p, &v, 4);
				break;
			}
			case LATHE_DT_F64: {
				double v = (double)((int)(rnd() % 2001) - 1000) / 250.0;
				memcpy(p, &v, 8);
				break;
			}
			case LATHE_DT_BOOL:
				*p = (char)(rnd() & 1);
				break;
			default: {
				/* Small non-negative integers: valid indices for gathers. */
				uint64_t v = rnd() % 3;
				memcpy(p, &v, es < 8 ? es : 8);
				break;
			}
			}
		}
	}
	rng_state = save;
	return args;
}

static void free_args(const lathe_tir_func *f, void **args)
{
	for (int i = 0; i < f->nparams; i++)
		free(args[i]);
	free(args);
}

/* Runs f on inputs from seed; returns the args (outputs included) or NULL
 * (with *err) if the interpreter failed. */
static void **run(const lathe_tir_func *f, uint64_t seed, lathe_err *err)
{
	void **args = make_args(f, seed);
	*err = lathe_tir_interp(f, args);
	if (*err) {
		free_args(f, args);
		return NULL;
	}
	return args;
}

static bool same_results(const lathe_tir_func *f, void **a, void **b)
{
	for (int i = 0; i < f->nparams; i++)
		if (memcmp(a[i], b[i], buf_bytes(f->bufs.data[i])))
			return false;
	return true;
}

/* Reverses every parallel and vectorized loop of s (v := lo + ext-1 - v'). */
static lathe_tir_stmt *reverse_par(lathe_tir_func *f, lathe_tir_stmt *s);

static lathe_tir_expr *subst_expr(lathe_tir_func *f, lathe_tir_expr *e, lathe_tir_var *v,
				  lathe_tir_expr *r)
{
	if (!e)
		return NULL;
	if (e->kind == LATHE_TIR_E_VAR)
		return e->u.var == v ? r : e;
	lathe_tir_expr *n = lathe_arena_new(f->arena, lathe_tir_expr, 1);
	*n = *e;
	if (e->kind == LATHE_TIR_E_LOAD) {
		n->idx = lathe_arena_new(f->arena, lathe_tir_expr *, e->u.buf->rank + 1);
		for (int i = 0; i < e->u.buf->rank; i++)
			n->idx[i] = subst_expr(f, e->idx[i], v, r);
		return n;
	}
	if (e->kind == LATHE_TIR_E_INT || e->kind == LATHE_TIR_E_FLOAT)
		return e;
	n->a = subst_expr(f, e->a, v, r);
	n->b = subst_expr(f, e->b, v, r);
	n->c = subst_expr(f, e->c, v, r);
	return n;
}

static lathe_tir_stmt *subst_stmt(lathe_tir_func *f, lathe_tir_stmt *s, lathe_tir_var *v,
				  lathe_tir_expr *r)
{
	if (!s)
		return NULL;
	lathe_tir_stmt *n = lathe_arena_new(f->arena, lathe_tir_stmt, 1);
	*n = *s;
	n->lo = subst_expr(f, s->lo, v, r);
	n->extent = subst_expr(f, s->extent, v, r);
	n->cond = subst_expr(f, s->cond, v, r);
	n->value = subst_expr(f, s->value, v, r);
	if (s->kind == LATHE_TIR_S_STORE) {
		n->idx = lathe_arena_new(f->arena, lathe_tir_expr *, s->buf->rank + 1);
		for (int i = 0; i < s->buf->rank; i++)
			n->idx[i] = subst_expr(f, s->idx[i], v, r);
	}
	n->body = subst_stmt(f, s->body, v, r);
	n->orelse = subst_stmt(f, s->orelse, v, r);
	if (s->kind == LATHE_TIR_S_SEQ) {
		n->stmts = lathe_arena_new(f->arena, lathe_tir_stmt *, s->n + 1);
		for (int i = 0; i < s->n; i++)
			n->stmts[i] = subst_stmt(f, s->stmts[i], v, r);
	}
	return n;
}

static lathe_tir_stmt *reverse_par(lathe_tir_func *f, lathe_tir_stmt *s)
{
	if (!s)
		return NULL;
	lathe_tir_stmt *n = lathe_arena_new(f->arena, lathe_tir_stmt, 1);
	*n = *s;
	n->body = reverse_par(f, s->body);
	n->orelse = reverse_par(f, s->orelse);
	if (s->kind == LATHE_TIR_S_SEQ) {
		n->stmts = lathe_arena_new(f->arena, lathe_tir_stmt *, s->n + 1);
		for (int i = 0; i < s->n; i++)
			n->stmts[i] = reverse_par(f, s->stmts[i]);
	}
	if (s->kind == LATHE_TIR_S_FOR &&
	    (s->for_kind == LATHE_TIR_PARALLEL || s->for_kind == LATHE_TIR_VECTORIZED)) {
		/* v -> lo + (extent - 1 - (v - lo)) = 2*lo + extent - 1 - v */
		lathe_tir_expr *rv = lathe_tir_varref(f, s->var);
		lathe_tir_expr *top = lathe_tir_binary(
			f, LATHE_TIR_ADD, lathe_tir_binary(f, LATHE_TIR_ADD, s->lo, s->lo),
			lathe_tir_binary(f, LATHE_TIR_SUB, s->extent, lathe_tir_i64(f, 1)));
		n->body = subst_stmt(f, n->body, s->var, lathe_tir_binary(f, LATHE_TIR_SUB, top, rv));
	}
	return n;
}

static bool has_par(const lathe_tir_stmt *s)
{
	if (!s)
		return false;
	if (s->kind == LATHE_TIR_S_FOR && (s->for_kind == LATHE_TIR_PARALLEL ||
					   s->for_kind == LATHE_TIR_VECTORIZED))
		return true;
	if (s->kind == LATHE_TIR_S_SEQ) {
		for (int i = 0; i < s->n; i++)
			if (has_par(s->stmts[i]))
				return true;
		return false;
	}
	return has_par(s->body) || has_par(s->orelse);
}

/* f (scheduled) computes what ref computes, also with its parallel loops
 * reversed.  Returns false and prints both on a mismatch. */
static bool equivalent(const lathe_tir_func *ref, lathe_tir_func *f, const char *what)
{
	lathe_err e1, e2;
	uint64_t seed = rnd();
	void **a = run(ref, seed, &e1);
	if (!a) {
		lathe_error_free(e1);
		return true; /* the reference itself fails (e.g. data-dependent bounds) */
	}
	void **b = run(f, seed, &e2);
	bool ok = b && same_results(ref, a, b);
	if (ok && has_par(f->body)) {
		lathe_tir_stmt *saved = f->body;
		f->body = reverse_par(f, f->body);
		void **c = run(f, seed, &e2);
		ok = c && same_results(ref, a, c);
		if (c)
			free_args(f, c);
		f->body = saved;
		if (!ok)
			fprintf(stderr, "%s: differs with parallel/vectorized loops reversed\n", what);
	}
	if (!ok) {
		char *p0 = print_fn(ref), *p1 = print_fn(f);
		fprintf(stderr, "%s: results differ%s%s\n--- before\n%s--- after\n%s", what,
			b ? "" : ": ", b ? "" : lathe_error_message(e2), p0, p1);
		free(p0);
		free(p1);
		if (!b)
			lathe_error_free(e2);
	}
	free_args(ref, a);
	if (b)
		free_args(f, b);
	return ok;
}

/* ---- directed tests ------------------------------------------------------------- */

static const char matmul_tir[] =
	"func @matmul(%A: f32[8,5], %B: f32[5,32], %C: f32[8,32]) {\n"
	"  local %acc: f32[]\n"
	"  for %i in 0..8 {\n"
	"    for %j in 0..32 {\n"
	"      %acc[] = 0:f32\n"
	"      for %k in 0..5 {\n"
	"        %acc[] = add(%acc[], mul(%A[%i, %k], %B[%k, %j]))\n"
	"      }\n"
	"      %C[%i, %j] = %acc[]\n"
	"    }\n"
	"  }\n"
	"}\n";

static const char conv_tir[] =
	"func @conv(%X: f32[1,2,6,7], %W: f32[4,2,3,3], %Y: f32[1,4,6,7]) {\n"
	"  local %acc: f32[]\n"
	"  for %co in 0..4 {\n"
	"    for %oh in 0..6 {\n"
	"      for %ow in 0..7 {\n"
	"        %acc[] = 0:f32\n"
	"        for %ci in 0..2 {\n"
	"          for %kh in 0..3 {\n"
	"            for %kw in 0..3 {\n"
	"              %acc[] = add(%acc[], mul(select(and(and(and(ge(add(add(%oh, -1), %kh), 0), "
	"lt(add(add(%oh, -1), %kh), 6)), ge(add(add(%ow, -1), %kw), 0)), lt(add(add(%ow, -1), %kw), 7)), "
	"%X[0, %ci, add(add(%oh, -1), %kh), add(add(%ow, -1), %kw)], 0:f32), %W[%co, %ci, %kh, %kw]))\n"
	"            }\n"
	"          }\n"
	"        }\n"
	"        %Y[0, %co, %oh, %ow] = max(%acc[], 0:f32)\n"
	"      }\n"
	"    }\n"
	"  }\n"
	"}\n";

static const char softmax_tir[] =
	"func @softmax(%X: f32[3,4,5], %Y: f32[3,4,5]) {\n"
	"  local %m: f32[3,4,1]\n"
	"  local %acc: f32[]\n"
	"  local %acc_1: f32[]\n"
	"  local %s: f32[3,4,1]\n"
	"  for %i0 in 0..3 { for %i1 in 0..4 {\n"
	"    %acc[] = -inf:f32\n"
	"    for %r0 in 0..5 { %acc[] = max(%acc[], %X[%i0, %i1, %r0]) }\n"
	"    %m[%i0, %i1, 0] = %acc[] } }\n"
	"  for %j0 in 0..3 { for %j1 in 0..4 {\n"
	"    %acc_1[] = 0:f32\n"
	"    for %r1 in 0..5 { %acc_1[] = add(%acc_1[], exp(sub(%X[%j0, %j1, %r1], %m[%j0, %j1, 0]))) }\n"
	"    %s[%j0, %j1, 0] = %acc_1[] } }\n"
	"  for %k0 in 0..3 { for %k1 in 0..4 { for %k2 in 0..5 {\n"
	"    %Y[%k0, %k1, %k2] = div(exp(sub(%X[%k0, %k1, %k2], %m[%k0, %k1, 0])), %s[%k0, %k1, 0]) } } }\n"
	"}\n";

static const char chain_tir[] =
	"func @chain(%X: f32[3,10], %S: f32[10], %R: f32[3,10], %Y: f32[3,10]) {\n"
	"  local %t: f32[3,10]\n"
	"  local %u: f32[3,10]\n"
	"  for %a0 in 0..3 { for %a1 in 0..10 { %t[%a0, %a1] = mul(%X[%a0, %a1], %S[%a1]) } }\n"
	"  for %b0 in 0..3 { for %b1 in 0..10 { %u[%b0, %b1] = add(%t[%b0, %b1], %R[%b0, %b1]) } }\n"
	"  for %c0 in 0..3 { for %c1 in 0..10 { %Y[%c0, %c1] = max(%u[%c0, %c1], 0:f32) } }\n"
	"}\n";

static const char cumsum_tir[] =
	"func @cumsum(%X: f32[4,6], %Y: f32[4,6]) {\n"
	"  for %i in 0..4 {\n"
	"    %Y[%i, 0] = %X[%i, 0]\n"
	"    for %j in 1..6 { %Y[%i, %j] = add(%Y[%i, sub(%j, 1)], %X[%i, %j]) }\n"
	"  }\n"
	"}\n";

static const char colsum_tir[] =
	"func @colsum(%X: f32[7,12], %Y: f32[12]) {\n"
	"  local %acc: f32[]\n"
	"  for %j in 0..12 {\n"
	"    %acc[] = 0:f32\n"
	"    for %r in 0..7 { %acc[] = add(%acc[], %X[%r, %j]) }\n"
	"    %Y[%j] = %acc[]\n"
	"  }\n"
	"}\n";

static const char wave_tir[] =
	"func @wave(%Y: f32[5,6]) {\n"
	"  for %i in 1..5 { for %j in 0..5 {\n"
	"    %Y[%i, %j] = add(%Y[sub(%i, 1), add(%j, 1)], %Y[%i, %j]) } }\n"
	"}\n";

static const char transpose_tir[] =
	"func @transpose(%X: f32[6,4], %Y: f32[4,6]) {\n"
	"  for %i in 0..4 { for %j in 0..6 { %Y[%i, %j] = neg(%X[%j, %i]) } }\n"
	"}\n";

static const char scatter_tir[] =
	"func @scatter(%I: i64[6], %U: f32[6], %Y: f32[4]) {\n"
	"  for %i in 0..6 { %Y[%I[%i]] = add(%Y[%I[%i]], %U[%i]) }\n"
	"}\n";

static const char stencil_tir[] =
	"func @stencil(%X: f32[18], %Y: f32[16]) {\n"
	"  for %i in 0..16 { %Y[%i] = add(add(%X[%i], %X[add(%i, 1)]), %X[add(%i, 2)]) }\n"
	"}\n";

typedef struct script_case {
	const char *name, *tir, *script;
	bool ok;
} script_case;

static const script_case cases[] = {
	{"split", matmul_tir, "split(j, 8)", true},
	{"split guard", matmul_tir, "split(j, 5); split(i, 3)", true},
	{"fuse", matmul_tir, "fuse(i, j)", true},
	{"fuse split", matmul_tir, "fuse(i, j); split(i_j, 7); parallel(i_j_o)", true},
	{"reorder", matmul_tir, "reorder(j, i)", true},
	{"tile", matmul_tir, "tile(i, j, 3, 8)", true},
	{"matmul blocking", matmul_tir,
	 "tile(i, j, 4, 16); cache_write(acc, j_o); reorder(k, i_i, j_i); unroll(i_i); "
	 "vectorize(j_i); parallel(i_o)", true},
	{"matmul guard blocking", matmul_tir,
	 "tile(i, j, 3, 16); cache_write(acc, j_o); reorder(k, i_i, j_i); vectorize(j_i); "
	 "parallel(i_o)", true},
	{"parallel rows", matmul_tir, "parallel(i)", true},
	{"parallel reduction", matmul_tir, "parallel(k)", false},
	{"vectorize outer", matmul_tir, "vectorize(i)", false},
	{"conv padded", conv_tir,
	 "cache_read(X, root); split(co, 2); reorder(co_o, oh, co_i); cache_write(acc, oh); "
	 "reorder(ci, kh, kw, co_i, ow); vectorize(ow); parallel(co_o)", true},
	{"conv tile read", conv_tir, "cache_read(X, oh)", true},
	{"softmax compute_at", softmax_tir,
	 "compute_at(s, k1); compute_at(m, k1); fuse(k0, k1); parallel(k0_k1); vectorize(k2)", true},
	{"softmax outer", softmax_tir, "compute_at(s, k0); compute_at(m, k0); parallel(k0)", true},
	{"softmax read outside", softmax_tir, "compute_at(m, k1)", false},
	{"inline chain", chain_tir, "compute_inline(t); compute_inline(u)", true},
	{"reverse inline chain", chain_tir, "reverse_compute_inline(u)", true},
	{"inline then reverse", chain_tir, "compute_inline(t); reverse_compute_inline(u)", true},
	{"cumsum parallel rows", cumsum_tir, "parallel(i)", true},
	{"cumsum parallel j", cumsum_tir, "parallel(j)", false},
	{"cumsum write cache", cumsum_tir, "cache_write(Y, i)", true},
	{"colsum vector", colsum_tir,
	 "split(j, 4); cache_write(acc, j_o); reorder(r, j_i); vectorize(j_i)", true},
	{"wave reorder", wave_tir, "reorder(j, i)", false},
	{"wave parallel j", wave_tir, "parallel(j)", true},
	{"transpose", transpose_tir, "tile(i, j, 2, 4); parallel(i_o); vectorize(j_i)", true},
	{"scatter parallel", scatter_tir, "parallel(i)", false},
	{"stencil cache", stencil_tir, "split(i, 4); cache_read(X, i_o); vectorize(i_i)", true},
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const script_case *c = &cases[i];
		lathe_arena *a = lathe_arena_create();
		lathe_tir_func *ref = parse(a, c->tir), *f = parse(a, c->tir);
		CHECK(ref && f);
		if (!ref || !f) {
			lathe_arena_destroy(a);
			continue;
		}
		char *before = print_fn(f);
		lathe_err e = lathe_sched_script(f, c->script, c->name);
		if (c->ok) {
			if (e)
				fprintf(stderr, "%s: %s\n", c->name, lathe_error_message(e));
			CHECK(!e);
			lathe_err v = lathe_tir_verify(f);
			if (v)
				fprintf(stderr, "%s: verify: %s\n", c->name, lathe_error_message(v));
			CHECK(!v);
			lathe_error_free(v);
			if (!e && !v) {
				CHECK(equivalent(ref, f, c->name));
				lathe_tir_simplify(f);
				CHECK(equivalent(ref, f, c->name));
				/* The text form round-trips. */
				char *p = print_fn(f);
				lathe_tir_func *g = parse(a, p);
				CHECK(g != NULL);
				free(p);
				if (g)
					lathe_tir_func_deinit(g);
			}
		} else {
			if (!e)
				fprintf(stderr, "%s: should have been refused\n", c->name);
			CHECK(e != NULL);
			char *after = print_fn(f);
			CHECK_STR(after, before); /* a refused schedule changes nothing */
			free(after);
		}
		lathe_error_free(e);
		free(before);
		lathe_tir_func_deinit(ref);
		lathe_tir_func_deinit(f);
		lathe_arena_destroy(a);
	}
}

/* ---- the random-schedule fuzzer ----------------------------------------------------- */

static void loop_vars(const lathe_tir_stmt *s, lathe_tir_var **out, int *n, int max)
{
	if (!s)
		return;
	if (s->kind == LATHE_TIR_S_FOR && *n < max)
		out[(*n)++] = s->var;
	if (s->kind == LATHE_TIR_S_SEQ)
		for (int i = 0; i < s->n; i++)
			loop_vars(s->stmts[i], out, n, max);
	loop_vars(s->body, out, n, max);
	loop_vars(s->orelse, out, n, max);
}

static lathe_err random_step(lathe_tir_func *f, char *desc, size_t dn)
{
	lathe_tir_var *v[64];
	int n = 0;
	loop_vars(f->body, v, &n, 64);
	if (!n)
		return lathe_error(LATHE_EINVAL, "no loops");
	lathe_tir_var *x = v[rndn(n)], *y = v[rndn(n)];
	lathe_tir_buf *b = f->bufs.data[rndn((int)f->bufs.len)];
	static const int64_t factors[] = {1, 2, 3, 4, 5, 8, 16};
	int64_t fx = factors[rndn(7)], fy = factors[rndn(7)];
	switch (rndn(13)) {
	case 0:
		snprintf(desc, dn, "split(%s, %lld)", x->name, (long long)fx);
		return lathe_sched_split(f, x, fx, NULL, NULL);
	case 1:
		snprintf(desc, dn, "fuse(%s, %s)", x->name, y->name);
		return lathe_sched_fuse(f, x, y, NULL);
	case 2: {
		lathe_tir_var *o[3] = {x, y, v[rndn(n)]};
		int k = 2 + rndn(2);
		snprintf(desc, dn, "reorder(%s, %s%s%s)", o[0]->name, o[1]->name, k > 2 ? ", " : "",
			 k > 2 ? o[2]->name : "");
		return lathe_sched_reorder(f, k, o);
	}
	case 3:
		snprintf(desc, dn, "tile(%s, %s, %lld, %lld)", x->name, y->name, (long long)fx,
			 (long long)fy);
		return lathe_sched_tile(f, x, y, fx, fy, NULL);
	case 4:
		snprintf(desc, dn, "vectorize(%s)", x->name);
		return lathe_sched_vectorize(f, x);
	case 5:
		snprintf(desc, dn, "unroll(%s)", x->name);
		return lathe_sched_unroll(f, x);
	case 6:
		snprintf(desc, dn, "parallel(%s)", x->name);
		return lathe_sched_parallel(f, x);
	case 7:
		snprintf(desc, dn, "compute_inline(%s)", b->name);
		return lathe_sched_compute_inline(f, b);
	case 8:
		snprintf(desc, dn, "reverse_compute_inline(%s)", b->name);
		return lathe_sched_reverse_compute_inline(f, b);
	case 9:
		snprintf(desc, dn, "compute_at(%s, %s)", b->name, x->name);
		return lathe_sched_compute_at(f, b, x);
	case 10:
		snprintf(desc, dn, "cache_read(%s, %s)", b->name, rnd() & 1 ? x->name : "root");
		return lathe_sched_cache_read(f, b, strstr(desc, "root") ? NULL : x, NULL);
	case 11:
		snprintf(desc, dn, "cache_write(%s, %s)", b->name, x->name);
		return lathe_sched_cache_write(f, b, x, NULL);
	default: {
		lathe_target t = {.vector_bytes = 16 << rndn(3), .threads = 1 + rndn(4),
				  .min_parallel = 1 + rndn(2) * 100000};
		static const int classes[] = {LATHE_SCHED_ELEMENTWISE, LATHE_SCHED_REDUCTION,
					      LATHE_SCHED_MATMUL, LATHE_SCHED_CONV,
					      LATHE_SCHED_DEPTHWISE_CONV, LATHE_SCHED_POOL,
					      LATHE_SCHED_SOFTMAX_NORM};
		f->sched_class = classes[rndn(7)];
		snprintf(desc, dn, "default(%s, %d, %d)", lathe_sched_class_name(f->sched_class),
			 t.vector_bytes, t.threads);
		return lathe_sched_default(f, &t);
	}
	}
}

static void test_fuzz(int rounds)
{
	const char *funcs[] = {matmul_tir, conv_tir, softmax_tir, chain_tir, cumsum_tir,
			       colsum_tir, wave_tir, transpose_tir, scatter_tir, stencil_tir};
	int accepted = 0, refused = 0, bad = 0;
	for (int r = 0; r < rounds; r++) {
		const char *text = funcs[r % (int)(sizeof funcs / sizeof funcs[0])];
		lathe_arena *a = lathe_arena_create();
		lathe_tir_func *ref = parse(a, text), *f = parse(a, text);
		char hist[2048] = "";
		for (int step = 0; step < 6 && bad < 5; step++) {
			char desc[256];
			char *before = print_fn(f);
			lathe_err e = random_step(f, desc, sizeof desc);
			size_t hl = strlen(hist);
			snprintf(hist + hl, sizeof hist - hl, "%s%s%s", hl ? "; " : "", e ? "!" : "", desc);
			if (e) {
				refused++;
				char *after = print_fn(f);
				bool same = !strcmp(before, after);
				CHECK(same);
				if (!same)
					fprintf(stderr, "refused but changed: %s: %s\n", hist,
						lathe_error_message(e));
				free(after);
				lathe_error_free(e);
				free(before);
				continue;
			}
			free(before);
			accepted++;
			lathe_err v = lathe_tir_verify(f);
			CHECK(!v);
			if (v) {
				fprintf(stderr, "invalid after %s: %s\n", hist, lathe_error_message(v));
				lathe_error_free(v);
				bad++;
				break;
			}
			bool ok = equivalent(ref, f, hist);
			CHECK(ok);
			if (!ok) {
				bad++;
				break;
			}
		}
		lathe_tir_func_deinit(ref);
		lathe_tir_func_deinit(f);
		lathe_arena_destroy(a);
	}
	printf("fuzz: %d primitives applied, %d refused\n", accepted, refused);
}

/* ---- default schedules ------------------------------------------------------------- */

typedef struct default_case {
	const char *name, *tir;
	int cls;
	const char *expect; /* a substring of the scheduled text */
} default_case;

/* Big enough for threads (PAR_MIN iterations). */
static const char big_matmul_tir[] =
	"func @bmm(%A: f32[2,40,24], %B: f32[2,24,48], %C: f32[2,40,48]) {\n"
	"  local %acc: f32[]\n"
	"  for %b in 0..2 { for %i in 0..40 { for %j in 0..48 {\n"
	"    %acc[] = 0:f32\n"
	"    for %k in 0..24 { %acc[] = add(%acc[], mul(%A[%b, %i, %k], %B[%b, %k, %j])) }\n"
	"    %C[%b, %i, %j] = %acc[] } } }\n"
	"}\n";

static const char big_gemm_t_tir[] =
	"func @gemm_t(%A: f32[30,64], %B: f32[50,64], %Bias: f32[50], %C: f32[30,50]) {\n"
	"  local %acc: f32[]\n"
	"  for %i in 0..30 { for %j in 0..50 {\n"
	"    %acc[] = 0:f32\n"
	"    for %k in 0..64 { %acc[] = add(%acc[], mul(%A[%i, %k], %B[%j, %k])) }\n"
	"    %C[%i, %j] = add(%acc[], %Bias[%j]) } }\n"
	"}\n";

static const char big_conv_tir[] =
	"func @conv(%X: f32[1,4,16,16], %W: f32[12,4,3,3], %B: f32[12], %Y: f32[1,12,16,16]) {\n"
	"  local %acc: f32[]\n"
	"  for %co in 0..12 { for %oh in 0..16 { for %ow in 0..16 {\n"
	"    %acc[] = 0:f32\n"
	"    for %ci in 0..4 { for %kh in 0..3 { for %kw in 0..3 {\n"
	"      %acc[] = add(%acc[], mul(select(and(and(and(ge(add(add(%oh, -1), %kh), 0), "
	"lt(add(add(%oh, -1), %kh), 16)), ge(add(add(%ow, -1), %kw), 0)), lt(add(add(%ow, -1), %kw), 16)), "
	"%X[0, %ci, add(add(%oh, -1), %kh), add(add(%ow, -1), %kw)], 0:f32), %W[%co, %ci, %kh, %kw])) } } }\n"
	"    %Y[0, %co, %oh, %ow] = max(add(%acc[], %B[%co]), 0:f32) } } }\n"
	"}\n";

static const char big_conv14_tir[] =
	"func @conv14(%X: f32[1,8,14,14], %W: f32[16,8,3,3], %Y: f32[1,16,14,14]) {\n"
	"  local %acc: f32[]\n"
	"  for %co in 0..16 { for %oh in 0..14 { for %ow in 0..14 {\n"
	"    %acc[] = 0:f32\n"
	"    for %ci in 0..8 { for %kh in 0..3 { for %kw in 0..3 {\n"
	"      %acc[] = add(%acc[], mul(select(and(and(and(ge(add(add(%oh, -1), %kh), 0), "
	"lt(add(add(%oh, -1), %kh), 14)), ge(add(add(%ow, -1), %kw), 0)), lt(add(add(%ow, -1), %kw), 14)), "
	"%X[0, %ci, add(add(%oh, -1), %kh), add(add(%ow, -1), %kw)], 0:f32), %W[%co, %ci, %kh, %kw])) } } }\n"
	"    %Y[0, %co, %oh, %ow] = %acc[] } } }\n"
	"}\n";

static const char big_conv_s2_tir[] =
	"func @conv_s2(%X: f32[2,3,15,15], %W: f32[8,3,3,3], %Y: f32[2,8,7,7]) {\n"
	"  local %acc: f32[]\n"
	"  for %n in 0..2 { for %co in 0..8 { for %oh in 0..7 { for %ow in 0..7 {\n"
	"    %acc[] = 0:f32\n"
	"    for %ci in 0..3 { for %kh in 0..3 { for %kw in 0..3 {\n"
	"      %acc[] = add(%acc[], mul(%X[%n, %ci, add(mul(%oh, 2), %kh), add(mul(%ow, 2), %kw)], "
	"%W[%co, %ci, %kh, %kw])) } } }\n"
	"    %Y[%n, %co, %oh, %ow] = %acc[] } } } }\n"
	"}\n";

static const char big_dw_tir[] =
	"func @dw(%X: f32[1,16,12,12], %W: f32[16,1,3,3], %Y: f32[1,16,12,12]) {\n"
	"  local %acc: f32[]\n"
	"  for %c in 0..16 { for %oh in 0..12 { for %ow in 0..12 {\n"
	"    %acc[] = 0:f32\n"
	"    for %kh in 0..3 { for %kw in 0..3 {\n"
	"      %acc[] = add(%acc[], mul(select(and(and(and(ge(add(add(%oh, -1), %kh), 0), "
	"lt(add(add(%oh, -1), %kh), 12)), ge(add(add(%ow, -1), %kw), 0)), lt(add(add(%ow, -1), %kw), 12)), "
	"%X[0, %c, add(add(%oh, -1), %kh), add(add(%ow, -1), %kw)], 0:f32), %W[%c, 0, %kh, %kw])) } }\n"
	"    %Y[0, %c, %oh, %ow] = %acc[] } } }\n"
	"}\n";

static const char big_pool_tir[] =
	"func @maxpool(%X: f32[1,8,16,16], %Y: f32[1,8,8,8]) {\n"
	"  local %acc: f32[]\n"
	"  for %c in 0..8 { for %oh in 0..8 { for %ow in 0..8 {\n"
	"    %acc[] = -inf:f32\n"
	"    for %kh in 0..3 { for %kw in 0..3 {\n"
	"      %acc[] = max(%acc[], select(and(ge(add(add(mul(%oh, 2), -1), %kh), 0), "
	"ge(add(add(mul(%ow, 2), -1), %kw), 0)), %X[0, %c, add(add(mul(%oh, 2), -1), %kh), "
	"add(add(mul(%ow, 2), -1), %kw)], -inf:f32)) } }\n"
	"    %Y[0, %c, %oh, %ow] = %acc[] } } }\n"
	"}\n";

static const char big_softmax_tir[] =
	"func @softmax(%X: f32[8,32,64], %Y: f32[8,32,64]) {\n"
	"  local %m: f32[8,32,1]\n"
	"  local %acc: f32[]\n"
	"  local %acc_1: f32[]\n"
	"  local %s: f32[8,32,1]\n"
	"  for %i0 in 0..8 { for %i1 in 0..32 {\n"
	"    %acc[] = -inf:f32\n"
	"    for %r0 in 0..64 { %acc[] = max(%acc[], %X[%i0, %i1, %r0]) }\n"
	"    %m[%i0, %i1, 0] = %acc[] } }\n"
	"  for %j0 in 0..8 { for %j1 in 0..32 {\n"
	"    %acc_1[] = 0:f32\n"
	"    for %r1 in 0..64 { %acc_1[] = add(%acc_1[], exp(sub(%X[%j0, %j1, %r1], %m[%j0, %j1, 0]))) }\n"
	"    %s[%j0, %j1, 0] = %acc_1[] } }\n"
	"  for %k0 in 0..8 { for %k1 in 0..32 { for %k2 in 0..64 {\n"
	"    %Y[%k0, %k1, %k2] = div(exp(sub(%X[%k0, %k1, %k2], %m[%k0, %k1, 0])), %s[%k0, %k1, 0]) } } }\n"
	"}\n";

static const char big_layernorm_tir[] =
	"func @layernorm(%X: f32[128,48], %G: f32[48], %B: f32[48], %Y: f32[128,48]) {\n"
	"  local %mean: f32[128,1]\n"
	"  local %acc: f32[]\n"
	"  local %var: f32[128,1]\n"
	"  local %acc_1: f32[]\n"
	"  local %inv: f32[128,1]\n"
	"  for %i0 in 0..128 { %acc[] = 0:f32\n"
	"    for %r0 in 0..48 { %acc[] = add(%acc[], %X[%i0, %r0]) }\n"
	"    %mean[%i0, 0] = div(%acc[], 48:f32) }\n"
	"  for %j0 in 0..128 { %acc_1[] = 0:f32\n"
	"    for %r1 in 0..48 { %acc_1[] = add(%acc_1[], mul(sub(%X[%j0, %r1], %mean[%j0, 0]), "
	"sub(%X[%j0, %r1], %mean[%j0, 0]))) }\n"
	"    %var[%j0, 0] = div(%acc_1[], 48:f32) }\n"
	"  for %k0 in 0..128 { %inv[%k0, 0] = div(1:f32, sqrt(add(%var[%k0, 0], 1e-05:f32))) }\n"
	"  for %y0 in 0..128 { for %y1 in 0..48 {\n"
	"    %Y[%y0, %y1] = add(mul(mul(sub(%X[%y0, %y1], %mean[%y0, 0]), %inv[%y0, 0]), %G[%y1]), %B[%y1]) } }\n"
	"}\n";

static const char big_colsum_tir[] =
	"func @colsum(%X: f32[64,128], %Y: f32[128]) {\n"
	"  local %acc: f32[]\n"
	"  for %j in 0..128 {\n"
	"    %acc[] = 0:f32\n"
	"    for %r in 0..64 { %acc[] = add(%acc[], %X[%r, %j]) }\n"
	"    %Y[%j] = %acc[]\n"
	"  }\n"
	"}\n";

static const char big_rowsum_tir[] =
	"func @rowsum(%X: f32[200,100], %Y: f32[200,1]) {\n"
	"  local %acc: f32[]\n"
	"  for %i in 0..200 {\n"
	"    %acc[] = 0:f32\n"
	"    for %r in 0..100 { %acc[] = add(%acc[], %X[%i, %r]) }\n"
	"    %Y[%i, 0] = %acc[]\n"
	"  }\n"
	"}\n";

static const char big_eltwise_tir[] =
	"func @bias_relu(%X: f32[1,32,28,28], %B: f32[32], %Y: f32[1,32,28,28]) {\n"
	"  for %i1 in 0..32 { for %i2 in 0..28 { for %i3 in 0..28 {\n"
	"    %Y[0, %i1, %i2, %i3] = max(add(%X[0, %i1, %i2, %i3], %B[%i1]), 0:f32) } } }\n"
	"}\n";

static const char big_small_inner_tir[] =
	"func @scale7(%X: f32[1,512,7,7], %Y: f32[1,512,7,7]) {\n"
	"  for %i1 in 0..512 { for %i2 in 0..7 { for %i3 in 0..7 {\n"
	"    %Y[0, %i1, %i2, %i3] = mul(%X[0, %i1, %i2, %i3], 0.5:f32) } } }\n"
	"}\n";

static const char big_transpose_tir[] =
	"func @transpose(%X: f32[96,192], %Y: f32[192,96]) {\n"
	"  for %i in 0..192 { for %j in 0..96 { %Y[%i, %j] = %X[%j, %i] } }\n"
	"}\n";

static const char big_cumsum_tir[] =
	"func @cumsum(%X: f32[200,100], %Y: f32[200,100]) {\n"
	"  for %i in 0..200 {\n"
	"    %Y[%i, 0] = %X[%i, 0]\n"
	"    for %j in 1..100 { %Y[%i, %j] = add(%Y[%i, sub(%j, 1)], %X[%i, %j]) }\n"
	"  }\n"
	"}\n";

static const char big_gather_tir[] =
	"func @gather(%D: f32[3,64], %I: i64[300], %Y: f32[300,64]) {\n"
	"  for %i in 0..300 { for %j in 0..64 { %Y[%i, %j] = %D[%I[%i], %j] } }\n"
	"}\n";

static const default_case defaults[] = {
	{"matmul", big_matmul_tir, LATHE_SCHED_MATMUL, "vectorized"},
	{"gemm transposed", big_gemm_t_tir, LATHE_SCHED_MATMUL, "parallel"},
	{"conv", big_conv_tir, LATHE_SCHED_CONV, "vectorized"},
	{"conv stride 2", big_conv_s2_tir, LATHE_SCHED_CONV, "unrolled"},
	{"conv overhang", big_conv14_tir, LATHE_SCHED_CONV, "vectorized"},
	{"depthwise", big_dw_tir, LATHE_SCHED_DEPTHWISE_CONV, "vectorized"},
	{"maxpool", big_pool_tir, LATHE_SCHED_POOL, "X_c"},
	{"softmax", big_softmax_tir, LATHE_SCHED_SOFTMAX_NORM, "parallel"},
	{"layernorm", big_layernorm_tir, LATHE_SCHED_SOFTMAX_NORM, "parallel"},
	{"colsum", big_colsum_tir, LATHE_SCHED_REDUCTION, "vectorized"},
	{"rowsum", big_rowsum_tir, LATHE_SCHED_REDUCTION, "parallel"},
	{"bias relu", big_eltwise_tir, LATHE_SCHED_ELEMENTWISE, "vectorized"},
	{"7x7", big_small_inner_tir, LATHE_SCHED_ELEMENTWISE, "parallel"},
	{"transpose", big_transpose_tir, LATHE_SCHED_ELEMENTWISE, "parallel"},
	{"cumsum", big_cumsum_tir, LATHE_SCHED_ELEMENTWISE, "parallel"},
	{"gather", big_gather_tir, LATHE_SCHED_ELEMENTWISE, "vectorized"},
	{"tiny matmul", matmul_tir, LATHE_SCHED_MATMUL, "vectorized"},
	{"tiny softmax", softmax_tir, LATHE_SCHED_SOFTMAX_NORM, NULL},
	{"scatter", scatter_tir, LATHE_SCHED_ELEMENTWISE, NULL},
	{"wave", wave_tir, LATHE_SCHED_ELEMENTWISE, NULL},
	{"chain", chain_tir, LATHE_SCHED_ELEMENTWISE, NULL},
};

static void test_defaults(void)
{
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		const default_case *c = &defaults[i];
		for (int vb = 16; vb <= 64; vb *= 2) {
			lathe_arena *a = lathe_arena_create();
			lathe_tir_func *ref = parse(a, c->tir), *f = parse(a, c->tir);
			f->sched_class = c->cls;
			lathe_target t = {.vector_bytes = vb, .threads = 4};
			CHECK_OK(lathe_sched_default(f, &t));
			CHECK_OK(lathe_tir_verify(f));
			CHECK(equivalent(ref, f, c->name));
			char *p = print_fn(f);
			if (c->expect && vb == 32 && !strstr(p, c->expect)) {
				fprintf(stderr, "default %s: no '%s' in\n%s", c->name, c->expect, p);
				CHECK(false);
			}
			if (getenv("SCHED_SHOW") && vb == 32)
				printf("// default %s\n%s\n", c->name, p);
			free(p);
			lathe_tir_func_deinit(ref);
			lathe_tir_func_deinit(f);
			lathe_arena_destroy(a);
		}
	}
}

static void test_target(void)
{
	lathe_target t;
	lathe_target_host(&t);
	CHECK(t.vector_bytes == 16 || t.vector_bytes == 32 || t.vector_bytes == 64);
	CHECK(t.threads >= 1);
	CHECK_OK(lathe_target_parse("avx2,threads=3", &t));
	CHECK(t.vector_bytes == 32 && t.threads == 3);
	lathe_err e = lathe_target_parse("avx9", &t);
	CHECK(e != NULL);
	lathe_error_free(e);
	e = lathe_target_parse("sse,threads=0", &t);
	CHECK(e != NULL);
	lathe_error_free(e);
}

/* ---- ONNX models: every node, before and after its default schedule ------------------ */

static int onnx_nodes, onnx_sched, onnx_bad;

static void check_model(const char *path, const lathe_target *t)
{
	lathe_graph *g = NULL;
	lathe_err e = lathe_onnx_load(path, &g);
	if (!e)
		e = lathe_graph_infer(g);
	if (e) {
		lathe_error_free(e);
		lathe_graph_destroy(g);
		return;
	}
	for (size_t k = 0; k < g->nodes.len; k++) {
		lathe_node *n = &g->nodes.data[k];
		if (n->dead || !lathe_ops[n->op].lower)
			continue;
		lathe_arena *a = lathe_arena_create();
		const lathe_type **in = lathe_arena_new(a, const lathe_type *, n->nin + 1);
		const lathe_tensor **val = lathe_arena_new(a, const lathe_tensor *, n->nin + 1);
		bool ok = true;
		for (int i = 0; i < n->nin; i++) {
			if (n->in[i] == LATHE_NOVAL)
				continue;
			lathe_value *v = &g->values.data[n->in[i]];
			in[i] = &v->type;
			val[i] = v->def == LATHE_DEF_CONST ? v->konst : NULL;
			ok = ok && lathe_type_is_static(&v->type);
		}
		lathe_tir_func *ref = NULL, *f = NULL;
		lathe_err le = ok ? lathe_exec_lower_node(g, n, in, val, a, &ref) : NULL;
		if (!le && ref)
			le = lathe_exec_lower_node(g, n, in, val, a, &f);
		bool lowered = ok && !le && ref && f;
		lathe_error_free(le);
		if (lowered) {
			lathe_tir_simplify(ref);
			onnx_nodes++;
			char *before = print_fn(f);
			e = lathe_sched_default(f, t);
			if (e) {
				fprintf(stderr, "%s: node %zu: %s\n", path, k, lathe_error_message(e));
				lathe_error_free(e);
				onnx_bad++;
			} else {
				lathe_err v = lathe_tir_verify(f);
				if (v) {
					fprintf(stderr, "%s: node %zu: invalid: %s\n", path, k,
						lathe_error_message(v));
					lathe_error_free(v);
					onnx_bad++;
				} else {
					char *after = print_fn(f);
					if (strcmp(before, after))
						onnx_sched++;
					free(after);
					if (!equivalent(ref, f, path))
						onnx_bad++;
				}
			}
			free(before);
		}
		if (ref)
			lathe_tir_func_deinit(ref);
		if (f)
			lathe_tir_func_deinit(f);
		lathe_arena_destroy(a);
	}
	lathe_graph_destroy(g);
}

static void walk_models(const char *dir, const lathe_target *t)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		struct stat st;
		if (stat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			walk_models(path, t);
		else if (strlen(de->d_name) > 5 && !strcmp(de->d_name + strlen(de->d_name) - 5, ".onnx"))
			check_model(path, t);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	test_target();
	test_cases();
	test_defaults();
	test_fuzz(getenv("SCHED_FUZZ") ? atoi(getenv("SCHED_FUZZ")) : 300);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--onnx") || i + 1 >= argc)
			continue;
		/* Threads from the first nest on, so that parallel loops get
		 * tested on small shapes too. */
		lathe_target t = {.vector_bytes = 32, .threads = 4, .min_parallel = 1};
		if (getenv("SCHED_VBYTES"))
			t.vector_bytes = atoi(getenv("SCHED_VBYTES"));
		for (i++; i < argc; i++)
			walk_models(argv[i], &t);
		printf("onnx: %d nodes, %d scheduled, %d failed\n", onnx_nodes, onnx_sched, onnx_bad);
		CHECK(onnx_bad == 0);
	}
	return CHECK_DONE("test_sched");
}
