/* test_codegen.c: the C backend against the interpreter, bit for bit.
 *
 * Each case is a loop-IR function (built with te or parsed from text) with
 * deterministic inputs.  All cases are printed into one C file (compiled
 * once, with -Wall -Wextra -Werror, so generated code stays warning-free)
 * and each is then run compiled and interpreted on copies of the same
 * inputs: either both fail (division by zero, an index out of bounds) or
 * every buffer is byte-identical afterwards.  Cases cover te-built
 * broadcasting and reductions, every unary and binary operator on every
 * dtype the verifier accepts, casts between all types (every f16, bf16 and
 * float8 bit pattern, a dense sweep of f32), integer wrapping and division
 * edges, vectorized loops (with remainders, selects, min/max), unrolled and
 * parallel loops (with private locals, on a 4-thread pool) and data-
 * dependent indices out of bounds.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "codegen/codegen.h"
#include "codegen/jit.h"
#include "lower/te.h"
#include "sched/sched.h"

typedef int (*entry_fn)(void *const *args, lathe_rt_pool *pool);

enum fill { FILL_NICE, FILL_BITS };

typedef struct tcase {
	char name[96];
	lathe_tir_func *f;
	int fill;
	uint64_t seed;
	/* Optional: adjusts inputs after filling (e.g. indices in range). */
	void (*fixup)(struct tcase *t, void **bufs);
	lathe_codegen_opts opts;
	entry_fn fn;
} tcase;

static LATHE_VEC(tcase) cases;
static lathe_arena *arena;
static char tmpdir[64];

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static tcase *add_case(const char *name, lathe_tir_func *f, int fill)
{
	tcase t = {0};
	snprintf(t.name, sizeof t.name, "%s", name);
	t.f = f;
	t.fill = fill;
	t.seed = 0x9E3779B97F4A7C15ull ^ (cases.len * 7919 + 1);
	lathe_vec_push(&cases, t);
	return &cases.data[cases.len - 1];
}

static lathe_tir_func *parse(const char *text)
{
	lathe_tir_func *f = NULL;
	lathe_err e = lathe_tir_parse(arena, text, "case.tir", &f);
	if (e) {
		fprintf(stderr, "parse error: %s\n%s\n", lathe_error_message(e), text);
		lathe_error_free(e);
		CHECK(0);
	}
	return f;
}

/* ---- inputs -------------------------------------------------------------- */

static void fill_buf(int dt, void *p, int64_t n, int mode, uint64_t *s)
{
	size_t es = lathe_dtype_size(dt);
	unsigned char *b = p;
	if (mode == FILL_BITS) {
		for (int64_t i = 0; i < n * (int64_t)es; i++)
			b[i] = (unsigned char)rng(s);
		if (dt == LATHE_DT_BOOL)
			for (int64_t i = 0; i < n; i++)
				b[i] &= 1;
		return;
	}
	int64_t one = 1;
	for (int64_t i = 0; i < n; i++) {
		lathe_tensor t = {dt, 1, &one, b + i * es};
		uint64_t r = rng(s);
		if (lathe_dtype_is_float(dt))
			lathe_rt_store_f64(&t, 0, ((double)(int64_t)(r % 1025) - 512) / 64.0);
		else if (dt == LATHE_DT_BOOL)
			lathe_rt_store_i64(&t, 0, (int64_t)(r & 1));
		else
			lathe_rt_store_i64(&t, 0, (int64_t)(r % 41) - (lathe_dtype_is_signed(dt) ? 20 : 0));
	}
}

/* ---- compiling and running ----------------------------------------------- */

static void compile_all(void)
{
	lathe_buf src = {0};
	lathe_codegen_c_prelude(&src);
	/* Twice: the prelude is guarded. */
	lathe_codegen_c_prelude(&src);
	for (size_t i = 0; i < cases.len; i++) {
		char sym[32];
		snprintf(sym, sizeof sym, "case%zu", i);
		lathe_err e = lathe_codegen_c_func_opts(&src, cases.data[i].f, sym, &cases.data[i].opts);
		if (e) {
			fprintf(stderr, "%s: %s\n", cases.data[i].name, lathe_error_message(e));
			lathe_error_free(e);
			CHECK(0);
			continue;
		}
		lathe_buf_printf(&src, "int entry%zu(void *const *args, lathe_rt_pool *pool);\n"
				 "int entry%zu(void *const *args, lathe_rt_pool *pool) { return case%zu(args, pool); }\n\n",
				 i, i, i);
	}
	char cpath[128], sopath[128];
	snprintf(cpath, sizeof cpath, "%s/cases.c", tmpdir);
	snprintf(sopath, sizeof sopath, "%s/cases.so", tmpdir);
	FILE *f = fopen(cpath, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(src.data, 1, src.len, f);
	fclose(f);
	lathe_buf_free(&src);
	const char *files[1] = {cpath};
	lathe_err e = lathe_codegen_cc_shared(files, 1, sopath, "-Wall -Wextra -Werror -march=native");
	if (e) {
		fprintf(stderr, "%s\n", lathe_error_message(e));
		lathe_error_free(e);
		CHECK(0);
		return;
	}
	void *h = dlopen(sopath, RTLD_NOW | RTLD_LOCAL);
	CHECK(h != NULL);
	if (!h)
		return;
	for (size_t i = 0; i < cases.len; i++) {
		char sym[32];
		snprintf(sym, sizeof sym, "entry%zu", i);
		void *p = dlsym(h, sym);
		memcpy(&cases.data[i].fn, &p, sizeof p);
	}
}

static int nfail_cases;

/* Bitwise equal, except that any two NaNs match: which NaN an operation on
 * two NaNs returns (and whether a signaling NaN is quieted on the way)
 * depends on operand order and conversions the C compiler chooses. */
static bool same_elem(int dt, const void *x, const void *y)
{
	size_t es = lathe_dtype_size(dt);
	if (!memcmp(x, y, es))
		return true;
	if (!lathe_dtype_is_float(dt))
		return false;
	int64_t one = 1;
	lathe_tensor tx = {dt, 1, &one, (void *)x}, ty = {dt, 1, &one, (void *)y};
	return isnan(lathe_rt_load_f64(&tx, 0)) && isnan(lathe_rt_load_f64(&ty, 0));
}

static void run_case(tcase *t, lathe_rt_pool *pool)
{
	const lathe_tir_func *f = t->f;
	int np = f->nparams;
	void **a = calloc((size_t)np + 1, sizeof *a), **b = calloc((size_t)np + 1, sizeof *b);
	size_t *nb = calloc((size_t)np + 1, sizeof *nb);
	uint64_t s = t->seed;
	for (int i = 0; i < np; i++) {
		const lathe_tir_buf *buf = f->bufs.data[i];
		int64_t n;
		lathe_err e = lathe_shape_numel(buf->rank, buf->shape, &n);
		lathe_error_free(e);
		nb[i] = (size_t)n * lathe_dtype_size(buf->dtype);
		a[i] = calloc(nb[i] + 1, 1);
		b[i] = calloc(nb[i] + 1, 1);
		fill_buf(buf->dtype, a[i], n, t->fill, &s);
	}
	if (t->fixup)
		t->fixup(t, a);
	for (int i = 0; i < np; i++)
		memcpy(b[i], a[i], nb[i]);
	size_t scratch = lathe_codegen_scratch_size(f);
	b[np] = scratch ? aligned_alloc(64, (scratch + 63) / 64 * 64) : NULL;
	if (b[np])
		memset(b[np], 0xA5, scratch); /* generated code must zero its locals */
	lathe_err ie = lathe_tir_interp(f, a);
	int rc = t->fn ? t->fn(b, pool) : -1;
	bool ok = t->fn != NULL;
	if (ie && rc == 0) {
		fprintf(stderr, "%s: interpreter failed (%s), compiled code did not\n", t->name,
			lathe_error_message(ie));
		ok = false;
	} else if (!ie && rc != 0) {
		fprintf(stderr, "%s: compiled code returned %d, interpreter succeeded\n", t->name, rc);
		ok = false;
	} else if (!ie) {
		for (int i = 0; i < np && ok; i++) {
			if (!memcmp(a[i], b[i], nb[i]))
				continue;
			const lathe_tir_buf *buf = f->bufs.data[i];
			size_t es = lathe_dtype_size(buf->dtype), k = 0, n = nb[i] / es;
			while (k < n && same_elem(buf->dtype, (char *)a[i] + k * es, (char *)b[i] + k * es))
				k++;
			if (k == n)
				continue;
			unsigned long long x = 0, y = 0;
			memcpy(&x, (char *)a[i] + k * es, es < 8 ? es : 8);
			memcpy(&y, (char *)b[i] + k * es, es < 8 ? es : 8);
			fprintf(stderr, "%s: %%%s differs at element %zu: interpreter %#llx, compiled %#llx\n",
				t->name, buf->name, k, x, y);
			ok = false;
		}
	}
	lathe_error_free(ie);
	CHECK(ok);
	if (!ok)
		nfail_cases++;
	for (int i = 0; i <= np; i++) {
		free(a[i]);
		free(b[i]);
	}
	free(a);
	free(b);
	free(nb);
}

/* ---- cases: te-built --------------------------------------------------------- */

static lathe_tir_stmt *nth_loop(lathe_tir_stmt *s, int *n)
{
	if (!s)
		return NULL;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		if ((*n)-- == 0)
			return s;
		return nth_loop(s->body, n);
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++) {
			lathe_tir_stmt *r = nth_loop(s->stmts[i], n);
			if (r)
				return r;
		}
		return NULL;
	case LATHE_TIR_S_IF: case LATHE_TIR_S_LET:
		return nth_loop(s->body, n);
	}
	return NULL;
}

/* Marks the k-th loop (pre-order) of f with kind. */
static void mark_loop(lathe_tir_func *f, int k, int kind)
{
	lathe_tir_stmt *s = nth_loop(f->body, &k);
	CHECK(s != NULL);
	if (s)
		s->for_kind = (uint8_t)kind;
}

static lathe_tir_func *te_add(const char *name, int dt, int64_t m, int64_t n)
{
	lathe_tir_func *f = lathe_tir_func_create(arena, name);
	int64_t smn[2] = {m, n}, sn[1] = {n};
	lathe_tir_buf *A = lathe_tir_param(f, "A", dt, 2, smn);
	lathe_tir_buf *B = lathe_tir_param(f, "B", dt, 1, sn);
	lathe_tir_buf *C = lathe_tir_param(f, "C", dt, 2, smn);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 2, C->shape);
	lathe_te_compute(f, C, ax, lathe_tir_binary(f, LATHE_TIR_ADD, lathe_te_load_bcast(f, A, ax),
						     lathe_te_load_bcast(f, B, ax)));
	return f;
}

static lathe_tir_func *te_reduce(const char *name, int dt, int op, int64_t m, int64_t n)
{
	lathe_tir_func *f = lathe_tir_func_create(arena, name);
	int64_t smn[2] = {m, n}, sm[1] = {m};
	lathe_tir_buf *X = lathe_tir_param(f, "X", dt, 2, smn);
	lathe_tir_buf *S = lathe_tir_param(f, "S", dt, 1, sm);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 1, sm);
	lathe_te_axes rax = lathe_te_axes_new(f, "r", 1, &smn[1]);
	lathe_tir_expr *idx[2] = {ax.idx[0], rax.idx[0]};
	lathe_te_reduce r = lathe_te_reduce_begin(f, dt);
	lathe_tir_expr *init = op == LATHE_TIR_MAX ? lathe_te_lowest(f, dt) : lathe_tir_float(f, dt, 0);
	lathe_te_reduce_end(f, &r, S, ax, rax, op, init, lathe_tir_load(f, X, idx), NULL);
	return f;
}

static void te_cases(void)
{
	add_case("te add broadcast f32", te_add("add", LATHE_DT_F32, 5, 7), FILL_BITS);
	lathe_tir_func *v = te_add("addv", LATHE_DT_F32, 3, 16);
	mark_loop(v, 1, LATHE_TIR_VECTORIZED);
	add_case("te add broadcast f32, vectorized", v, FILL_BITS);
	v = te_add("addr", LATHE_DT_F32, 3, 21);
	mark_loop(v, 1, LATHE_TIR_VECTORIZED);
	add_case("te add f32, vectorized with a remainder", v, FILL_NICE);
	v = te_add("addd", LATHE_DT_F64, 4, 8);
	mark_loop(v, 1, LATHE_TIR_VECTORIZED);
	add_case("te add f64, vectorized", v, FILL_BITS);
	v = te_add("addu", LATHE_DT_F32, 4, 9);
	mark_loop(v, 1, LATHE_TIR_UNROLLED);
	add_case("te add f32, unrolled", v, FILL_NICE);
	v = te_add("addp", LATHE_DT_F32, 37, 5);
	mark_loop(v, 0, LATHE_TIR_PARALLEL);
	add_case("te add f32, parallel", v, FILL_NICE);
	add_case("te add i8", te_add("addi8", LATHE_DT_I8, 3, 5), FILL_BITS);
	add_case("te add f16", te_add("addh", LATHE_DT_F16, 3, 5), FILL_BITS);
	add_case("te sum f32", te_reduce("sum", LATHE_DT_F32, LATHE_TIR_ADD, 6, 33), FILL_NICE);
	add_case("te sum f32 (bits)", te_reduce("sumb", LATHE_DT_F32, LATHE_TIR_ADD, 6, 33), FILL_BITS);
	add_case("te max f16", te_reduce("maxh", LATHE_DT_F16, LATHE_TIR_MAX, 4, 9), FILL_BITS);
	lathe_tir_func *p = te_reduce("sump", LATHE_DT_F32, LATHE_TIR_ADD, 100, 17);
	mark_loop(p, 0, LATHE_TIR_PARALLEL);
	add_case("te sum f32, parallel rows (private accumulator)", p, FILL_NICE);
	p = te_reduce("sumbf", LATHE_DT_BF16, LATHE_TIR_ADD, 5, 40);
	add_case("te sum bf16", p, FILL_BITS);
}

/* ---- cases: every operator on every dtype ----------------------------------- */

static const int all_dtypes[] = {
	LATHE_DT_F32, LATHE_DT_F64, LATHE_DT_F16, LATHE_DT_BF16, LATHE_DT_F8E4M3FN,
	LATHE_DT_F8E4M3FNUZ, LATHE_DT_F8E5M2, LATHE_DT_F8E5M2FNUZ, LATHE_DT_F4E2M1, LATHE_DT_F8E8M0,
	LATHE_DT_I8, LATHE_DT_U8, LATHE_DT_I16, LATHE_DT_U16, LATHE_DT_I32, LATHE_DT_U32,
	LATHE_DT_I64, LATHE_DT_U64, LATHE_DT_BOOL, LATHE_DT_I4, LATHE_DT_U4, LATHE_DT_I2, LATHE_DT_U2,
};
#define NDT (int)(sizeof all_dtypes / sizeof *all_dtypes)

/* out[i] = op(x[i]) or op(x[i], y[i]); NULL if the verifier refuses it. */
static lathe_tir_func *op_func(int op, int dt, bool binary, int64_t n)
{
	lathe_tir_func *f = lathe_tir_func_create(arena, binary ? lathe_tir_binop_name(op)
								 : lathe_tir_unop_name(op));
	lathe_tir_buf *X = lathe_tir_param(f, "X", dt, 1, &n);
	lathe_tir_buf *Y = binary ? lathe_tir_param(f, "Y", dt, 1, &n) : NULL;
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 1, &n);
	lathe_tir_expr *x = lathe_tir_load(f, X, ax.idx);
	lathe_tir_expr *v = binary ? lathe_tir_binary(f, op, x, lathe_tir_load(f, Y, ax.idx))
				   : lathe_tir_unary(f, op, x);
	lathe_tir_buf *O = lathe_tir_param(f, "O", v->dtype, 1, &n);
	lathe_te_compute(f, O, ax, v);
	lathe_err e = lathe_tir_verify(f);
	if (e) {
		lathe_error_free(e);
		lathe_tir_func_deinit(f);
		return NULL;
	}
	return f;
}

/* Divisors without zeros (divide-by-zero has its own case). */
static void nonzero_y(tcase *t, void **bufs)
{
	const lathe_tir_buf *Y = t->f->bufs.data[1];
	size_t es = lathe_dtype_size(Y->dtype);
	unsigned char *p = bufs[1];
	for (int64_t i = 0; i < Y->shape[0]; i++)
		p[i * (int64_t)es] |= 1;
}

static void op_cases(void)
{
	char name[96];
	for (int d = 0; d < NDT; d++) {
		int dt = all_dtypes[d];
		for (int op = 0; op < LATHE_TIR_UNOP_COUNT; op++) {
			lathe_tir_func *f = op_func(op, dt, false, 64);
			if (!f)
				continue;
			snprintf(name, sizeof name, "%s %s", lathe_tir_unop_name(op), lathe_dtype_name(dt));
			add_case(name, f, FILL_BITS);
			snprintf(name, sizeof name, "%s %s (nice)", lathe_tir_unop_name(op), lathe_dtype_name(dt));
			add_case(name, op_func(op, dt, false, 64), FILL_NICE);
		}
		for (int op = 0; op < LATHE_TIR_BINOP_COUNT; op++) {
			lathe_tir_func *f = op_func(op, dt, true, 64);
			if (!f)
				continue;
			bool idiv = !lathe_dtype_is_float(dt) &&
				    (op == LATHE_TIR_DIV || op == LATHE_TIR_MOD || op == LATHE_TIR_FMOD ||
				     op == LATHE_TIR_FLOORDIV || op == LATHE_TIR_FLOORMOD);
			snprintf(name, sizeof name, "%s %s", lathe_tir_binop_name(op), lathe_dtype_name(dt));
			tcase *t = add_case(name, f, FILL_BITS);
			if (idiv)
				t->fixup = nonzero_y;
			snprintf(name, sizeof name, "%s %s (nice)", lathe_tir_binop_name(op), lathe_dtype_name(dt));
			t = add_case(name, op_func(op, dt, true, 64), FILL_NICE);
			if (idiv)
				t->fixup = nonzero_y;
		}
	}
}

/* Casts between every pair of dtypes, on random bits. */
static void cast_cases(void)
{
	char name[96];
	for (int d = 0; d < NDT; d++) {
		for (int e = 0; e < NDT; e++) {
			int from = all_dtypes[d], to = all_dtypes[e];
			int64_t n = 4096;
			lathe_tir_func *f = lathe_tir_func_create(arena, "cast");
			lathe_tir_buf *X = lathe_tir_param(f, "X", from, 1, &n);
			lathe_tir_buf *O = lathe_tir_param(f, "O", to, 1, &n);
			lathe_te_axes ax = lathe_te_axes_new(f, "i", 1, &n);
			lathe_te_compute(f, O, ax, lathe_tir_cast(f, to, lathe_tir_load(f, X, ax.idx)));
			snprintf(name, sizeof name, "cast %s -> %s", lathe_dtype_name(from), lathe_dtype_name(to));
			add_case(name, f, FILL_BITS);
		}
	}
}

/* Every pattern of a 16-bit or 8-bit input. */
static void all_patterns(tcase *t, void **bufs)
{
	const lathe_tir_buf *X = t->f->bufs.data[0];
	size_t es = lathe_dtype_size(X->dtype);
	for (int64_t i = 0; i < X->shape[0]; i++) {
		if (es == 2) {
			uint16_t v = (uint16_t)i;
			memcpy((char *)bufs[0] + 2 * i, &v, 2);
		} else if (es == 1) {
			((uint8_t *)bufs[0])[i] = (uint8_t)i;
		}
	}
}

/* f32 inputs: every exponent with many mantissas, ties included. */
static void f32_sweep(tcase *t, void **bufs)
{
	const lathe_tir_buf *X = t->f->bufs.data[0];
	for (int64_t i = 0; i < X->shape[0]; i++) {
		uint32_t hi = (uint32_t)(i >> 4), lo = (uint32_t)(i & 15);
		uint32_t low[16] = {0, 1, 0xFFF, 0x1000, 0x1001, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x10000,
				    0x0FFFFF, 0x100000, 0x7FFFF, 0x80000, 0x3FFFFF, 0x7FFFFF};
		uint32_t bits = (hi << 15) ^ low[lo];
		memcpy((float *)bufs[0] + i, &bits, 4);
	}
}

static void conversion_cases(void)
{
	static const int small[] = {LATHE_DT_F16, LATHE_DT_BF16, LATHE_DT_F8E4M3FN,
				    LATHE_DT_F8E4M3FNUZ, LATHE_DT_F8E5M2, LATHE_DT_F8E5M2FNUZ,
				    LATHE_DT_F4E2M1, LATHE_DT_F8E8M0};
	char name[96];
	for (int k = 0; k < 8; k++) {
		int dt = small[k];
		for (int w = 0; w < 2; w++) {
			int to = w ? LATHE_DT_F64 : LATHE_DT_F32;
			int64_t n = lathe_dtype_size(dt) == 2 ? 65536 : 256;
			lathe_tir_func *f = lathe_tir_func_create(arena, "dec");
			lathe_tir_buf *X = lathe_tir_param(f, "X", dt, 1, &n);
			lathe_tir_buf *O = lathe_tir_param(f, "O", to, 1, &n);
			lathe_te_axes ax = lathe_te_axes_new(f, "i", 1, &n);
			lathe_te_compute(f, O, ax, lathe_tir_cast(f, to, lathe_tir_load(f, X, ax.idx)));
			snprintf(name, sizeof name, "every %s -> %s", lathe_dtype_name(dt), lathe_dtype_name(to));
			add_case(name, f, FILL_BITS)->fixup = all_patterns;
		}
		int64_t n = (int64_t)1 << 21;
		lathe_tir_func *f = lathe_tir_func_create(arena, "enc");
		lathe_tir_buf *X = lathe_tir_param(f, "X", LATHE_DT_F32, 1, &n);
		lathe_tir_buf *O = lathe_tir_param(f, "O", dt, 1, &n);
		lathe_te_axes ax = lathe_te_axes_new(f, "i", 1, &n);
		lathe_te_compute(f, O, ax, lathe_tir_cast(f, dt, lathe_tir_load(f, X, ax.idx)));
		snprintf(name, sizeof name, "f32 sweep -> %s", lathe_dtype_name(dt));
		add_case(name, f, FILL_BITS)->fixup = f32_sweep;
	}
}

/* ---- cases: written as text ----------------------------------------------------- */

static void fix_indices(tcase *t, void **bufs)
{
	/* %I (param 1) holds indices into a dim of 5, some negative. */
	int64_t *p = bufs[1];
	for (int64_t i = 0; i < t->f->bufs.data[1]->shape[0]; i++)
		p[i] = (int64_t)(i % 9) - 4;
}

static void bad_index(tcase *t, void **bufs)
{
	fix_indices(t, bufs);
	((int64_t *)bufs[1])[2] = 5; /* out of bounds after the wrap */
}

static void zero_divisor(tcase *t, void **bufs)
{
	((int32_t *)bufs[1])[3] = 0;
}

static void min_over_minus1(tcase *t, void **bufs)
{
	int32_t *x = bufs[0], *y = bufs[1];
	x[0] = INT32_MIN;
	y[0] = -1;
	x[1] = INT32_MIN;
	y[1] = 1;
}

/* dyn's extent comes from %N: keep it within the buffers. */
static void dyn_n(tcase *t, void **bufs)
{
	((int64_t *)bufs[0])[0] = 7;
}

static const char gather_text[] =
	"func @gather(%D: f32[5,3], %I: i64[8], %O: f32[8,3]) {\n"
	"  for %i in 0..8 {\n"
	"    for %j in 0..3 {\n"
	"      %O[%i, %j] = %D[select(lt(%I[%i], 0), add(%I[%i], 5), %I[%i]), %j]\n"
	"    }\n"
	"  }\n"
	"}\n";

static void text_cases(void)
{
	add_case("gather (data-dependent index)", parse(gather_text), FILL_NICE)->fixup = fix_indices;
	add_case("gather, index out of bounds", parse(gather_text), FILL_NICE)->fixup = bad_index;
	tcase *t = add_case("gather, every access checked", parse(gather_text), FILL_NICE);
	t->fixup = fix_indices;
	t->opts.check_all = true;

	static const char scatter[] =
		"func @scatter(%U: f32[4], %I: i64[4], %O: f32[6]) {\n"
		"  for %i in 0..4 {\n"
		"    %O[%I[%i]] = %U[%i]\n"
		"  }\n"
		"}\n";
	add_case("scatter, store index out of bounds", parse(scatter), FILL_NICE)->fixup = bad_index;

	static const char divs[] =
		"func @divs(%X: i32[8], %Y: i32[8], %Q: i32[8], %R: i32[8], %F: i32[8], %M: i32[8]) {\n"
		"  for %i in 0..8 {\n"
		"    %Q[%i] = div(%X[%i], %Y[%i])\n"
		"    %R[%i] = mod(%X[%i], %Y[%i])\n"
		"    %F[%i] = floordiv(%X[%i], %Y[%i])\n"
		"    %M[%i] = floormod(%X[%i], %Y[%i])\n"
		"  }\n"
		"}\n";
	add_case("integer division by zero", parse(divs), FILL_NICE)->fixup = zero_divisor;
	add_case("INT_MIN / -1", parse(divs), FILL_NICE)->fixup = min_over_minus1;

	static const char kdivs[] =
		"func @kdivs(%X: i64[64], %Q: i64[64], %R: i64[64], %F: i64[64], %M: i64[64], %N: i64[64]) {\n"
		"  for %i in 0..64 {\n"
		"    %Q[%i] = div(%X[%i], -3)\n"
		"    %R[%i] = mod(%X[%i], 7)\n"
		"    %F[%i] = floordiv(%X[%i], -4)\n"
		"    %M[%i] = floormod(%X[%i], 5)\n"
		"    %N[%i] = add(floordiv(%X[%i], -1), floormod(%X[%i], -1))\n"
		"  }\n"
		"}\n";
	add_case("division by constants", parse(kdivs), FILL_BITS);

	static const char u8k[] =
		"func @u8k(%X: u8[64], %Q: u8[64], %R: u8[64]) {\n"
		"  for %i in 0..64 {\n"
		"    %Q[%i] = div(%X[%i], 7:u8)\n"
		"    %R[%i] = floormod(%X[%i], 200:u8)\n"
		"  }\n"
		"}\n";
	add_case("u8 division by constants", parse(u8k), FILL_BITS);

	static const char zk[] =
		"func @zk(%X: i16[4], %Q: i16[4]) {\n"
		"  for %i in 0..4 {\n"
		"    %Q[%i] = div(%X[%i], 0:i16)\n"
		"  }\n"
		"}\n";
	add_case("division by a constant zero", parse(zk), FILL_NICE);

	static const char sel[] =
		"func @sel(%X: i32[16], %Y: i32[16], %O: i32[16]) {\n"
		"  for %i in 0..16 {\n"
		"    %O[%i] = select(eq(%Y[%i], 0:i32), 0:i32, div(%X[%i], %Y[%i]))\n"
		"  }\n"
		"}\n";
	add_case("select guards a division", parse(sel), FILL_NICE);

	static const char vsel[] =
		"func @vsel(%A: f32[4,32], %B: f32[32], %O: f32[4,32], %P: f64[4,32]) {\n"
		"  for %i in 0..4 {\n"
		"    for %j in 0..32 vectorized {\n"
		"      let %x: f32 = mul(%A[%i, %j], %B[%j]) {\n"
		"        %O[%i, %j] = select(gt(%x, 0:f32), min(%x, 3:f32), max(neg(%x), %A[%i, 0]))\n"
		"        %P[%i, %j] = add(cast<f64>(abs(%x)), cast<f64>(div(%x, sub(%B[%j], 1.5:f32))))\n"
		"      }\n"
		"    }\n"
		"  }\n"
		"}\n";
	add_case("vectorized select, min, max, abs, let, f64", parse(vsel), FILL_BITS);
	add_case("vectorized select, min, max, abs, let, f64 (nice)", parse(vsel), FILL_NICE);

	static const char vrem[] =
		"func @vrem(%A: f32[3,13], %O: f32[3,13]) {\n"
		"  for %i in 0..3 {\n"
		"    for %j in 0..13 vectorized {\n"
		"      %O[%i, %j] = add(mul(%A[%i, %j], 2:f32), sqrt(%A[%i, %j]))\n"
		"    }\n"
		"  }\n"
		"}\n";
	add_case("vectorized, not vectorizable (sqrt), 13 lanes", parse(vrem), FILL_NICE);

	static const char vacc[] =
		"func @vacc(%A: f32[8,16], %B: f32[16,24], %C: f32[8,24]) {\n"
		"  local %acc: f32[24]\n"
		"  for %i in 0..8 parallel {\n"
		"    for %j0 in 0..24 vectorized {\n"
		"      %acc[%j0] = 0:f32\n"
		"    }\n"
		"    for %k in 0..16 {\n"
		"      for %j in 0..24 vectorized {\n"
		"        %acc[%j] = add(%acc[%j], mul(%A[%i, %k], %B[%k, %j]))\n"
		"      }\n"
		"    }\n"
		"    for %j1 in 0..24 vectorized {\n"
		"      %C[%i, %j1] = %acc[%j1]\n"
		"    }\n"
		"  }\n"
		"}\n";
	add_case("matmul: parallel rows, private vector accumulator", parse(vacc), FILL_NICE);
	add_case("matmul: parallel rows, private vector accumulator (bits)", parse(vacc), FILL_BITS);

	static const char shared[] =
		"func @shared(%A: f32[16], %O: f32[16]) {\n"
		"  local %t: f32[16]\n"
		"  local %s: f32[]\n"
		"  %s[] = 2:f32\n"
		"  for %i in 0..16 parallel {\n"
		"    %t[%i] = mul(%A[%i], %s[])\n"
		"  }\n"
		"  for %i1 in 0..16 parallel {\n"
		"    let %k: i64 = sub(15, %i1) {\n"
		"      %O[%i1] = add(%t[%k], 1:f32)\n"
		"    }\n"
		"  }\n"
		"}\n";
	add_case("locals shared by two parallel loops", parse(shared), FILL_NICE);

	static const char nested[] =
		"func @nested(%A: f32[6,10], %O: f32[6,10]) {\n"
		"  for %i in 0..6 parallel {\n"
		"    for %j in 0..10 parallel {\n"
		"      if lt(%j, %i) {\n"
		"        %O[%i, %j] = %A[%i, %j]\n"
		"      } else {\n"
		"        %O[%i, %j] = neg(%A[sub(5, %i), sub(9, %j)])\n"
		"      }\n"
		"    }\n"
		"  }\n"
		"}\n";
	add_case("nested parallel loops, if/else", parse(nested), FILL_BITS);

	static const char dyn[] =
		"func @dyn(%N: i64[1], %A: f32[10], %O: f32[10]) {\n"
		"  for %i in 0..+%N[0] parallel {\n"
		"    %O[%i] = %A[%i]\n"
		"  }\n"
		"}\n";
	add_case("parallel loop, data-dependent extent", parse(dyn), FILL_NICE)->fixup = dyn_n;

	static const char zero[] =
		"func @zeroed(%O: f32[4], %P: i32[4]) {\n"
		"  local %l: f32[4]\n"
		"  local %m: i32[]\n"
		"  for %i in 0..4 {\n"
		"    %O[%i] = %l[%i]\n"
		"    %P[%i] = %m[]\n"
		"  }\n"
		"}\n";
	add_case("locals start zeroed", parse(zero), FILL_BITS);

	static const char wrapped[] =
		"func @wrap(%X: i8[64], %Y: i8[64], %O: i8[64], %S: u8[64], %T: i4[64]) {\n"
		"  for %i in 0..64 {\n"
		"    %O[%i] = add(mul(%X[%i], %Y[%i]), neg(%X[%i]))\n"
		"    %S[%i] = cast<u8>(sub(cast<i16>(%X[%i]), 300:i16))\n"
		"    %T[%i] = add(cast<i4>(%X[%i]), cast<i4>(%Y[%i]))\n"
		"  }\n"
		"}\n";
	add_case("int8 wrapping", parse(wrapped), FILL_BITS);
}

/* ---- cases: default schedules ------------------------------------------------ */

static lathe_tir_func *te_matmul(int64_t m, int64_t k, int64_t n)
{
	lathe_tir_func *f = lathe_tir_func_create(arena, "matmul");
	int64_t smk[2] = {m, k}, skn[2] = {k, n}, smn[2] = {m, n};
	lathe_tir_buf *A = lathe_tir_param(f, "A", LATHE_DT_F32, 2, smk);
	lathe_tir_buf *B = lathe_tir_param(f, "B", LATHE_DT_F32, 2, skn);
	lathe_tir_buf *C = lathe_tir_param(f, "C", LATHE_DT_F32, 2, smn);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 2, smn);
	lathe_te_axes rax = lathe_te_axes_new(f, "r", 1, &k);
	lathe_tir_expr *ia[2] = {ax.idx[0], rax.idx[0]}, *ib[2] = {rax.idx[0], ax.idx[1]};
	lathe_te_reduce r = lathe_te_reduce_begin(f, LATHE_DT_F32);
	lathe_te_reduce_end(f, &r, C, ax, rax, LATHE_TIR_ADD, lathe_tir_float(f, LATHE_DT_F32, 0),
			    lathe_tir_binary(f, LATHE_TIR_MUL, lathe_tir_load(f, A, ia),
					     lathe_tir_load(f, B, ib)),
			    NULL);
	f->sched_class = LATHE_SCHED_MATMUL;
	return f;
}

static const char conv_text[] =
	"func @conv(%X: f32[1,3,9,11], %W: f32[8,3,3,3], %Y: f32[1,8,9,11]) {\n"
	"  local %acc: f32[]\n"
	"  for %n in 0..1 {\n"
	"    for %c in 0..8 {\n"
	"      for %h in 0..9 {\n"
	"        for %w in 0..11 {\n"
	"          %acc[] = 0:f32\n"
	"          for %ci in 0..3 {\n"
	"            for %kh in 0..3 {\n"
	"              for %kw in 0..3 {\n"
	"                %acc[] = add(%acc[], mul(select(and(and(ge(add(%h, sub(%kh, 1)), 0), "
	"lt(add(%h, sub(%kh, 1)), 9)), and(ge(add(%w, sub(%kw, 1)), 0), lt(add(%w, sub(%kw, 1)), 11))), "
	"%X[%n, %ci, add(%h, sub(%kh, 1)), add(%w, sub(%kw, 1))], 0:f32), %W[%c, %ci, %kh, %kw]))\n"
	"              }\n"
	"            }\n"
	"          }\n"
	"          %Y[%n, %c, %h, %w] = max(%acc[], 0:f32)\n"
	"        }\n"
	"      }\n"
	"    }\n"
	"  }\n"
	"}\n";

/* The default schedules (src/sched) make vectorized, unrolled and parallel
 * loops, tiles and padded copies: the printed code must still compute the
 * interpreter's bits. */
static void sched_cases(void)
{
	static const int vbytes[] = {16, 32, 64};
	char name[96];
	for (int v = 0; v < 3; v++) {
		lathe_target t = {.vector_bytes = vbytes[v], .threads = 4};
		struct {
			const char *what;
			lathe_tir_func *f;
			int cls;
		} fs[] = {
			{"matmul 13x17x29", te_matmul(13, 17, 29), LATHE_SCHED_MATMUL},
			{"matmul 64x32x48", te_matmul(64, 32, 48), LATHE_SCHED_MATMUL},
			{"add 37x100", te_add("add", LATHE_DT_F32, 37, 100), LATHE_SCHED_ELEMENTWISE},
			{"add 300x260", te_add("add", LATHE_DT_F32, 300, 260), LATHE_SCHED_ELEMENTWISE},
			{"sum 40x333", te_reduce("sum", LATHE_DT_F32, LATHE_TIR_ADD, 40, 333),
			 LATHE_SCHED_REDUCTION},
			{"conv 3x3 pad 1 + relu", parse(conv_text), LATHE_SCHED_CONV},
		};
		for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
			fs[i].f->sched_class = fs[i].cls;
			lathe_err e = lathe_sched_default(fs[i].f, &t);
			CHECK_OK(e);
			snprintf(name, sizeof name, "scheduled %s (%d-byte vectors)", fs[i].what, vbytes[v]);
			tcase *tc = add_case(name, fs[i].f, FILL_NICE);
			tc->opts.vector_bytes = vbytes[v];
			snprintf(name, sizeof name, "scheduled %s (%d-byte vectors, bits)", fs[i].what, vbytes[v]);
			tc = add_case(name, fs[i].f, FILL_BITS);
			tc->opts.vector_bytes = vbytes[v];
		}
	}
}

/* ---- the JIT behind `lathe run` --------------------------------------------- */

static const char jit_graph[] =
	"graph main(%x: f32[1,3,8,8]) -> (%y, %n) {\n"
	"  opset 21\n"
	"  const %w: f32[2,3,1,1] = [1, 0.5, 0, 0, 1, -2]\n"
	"  const %b: f32[2] = [0.5, -0.25]\n"
	"  %c: f32[1,2,8,8] = Conv(%x, %w, %b) {kernel_shape = [1, 1], pads = [0, 0, 0, 0], strides = [1, 1]}\n"
	"  %r: f32[1,2,8,8] = Relu(%c)\n"
	"  %y: f32[1,2,8,8] = Add(%r, %c)\n"
	"  %nz: i64[4,?] = NonZero(%r)\n"
	"  %n: i64[4,?] = Neg(%nz)\n"
	"}\n";

static bool same_rvalue(const lathe_rvalue *a, const lathe_rvalue *b)
{
	return a->kind == LATHE_TY_TENSOR && b->kind == LATHE_TY_TENSOR && a->t && b->t &&
	       a->t->dtype == b->t->dtype && a->t->rank == b->t->rank &&
	       !memcmp(a->t->shape, b->t->shape, sizeof(int64_t) * (size_t)a->t->rank) &&
	       !memcmp(a->t->data, b->t->data, lathe_tensor_nbytes(a->t));
}

static void jit_tests(void)
{
	lathe_graph *g = NULL;
	lathe_err e = lathe_graph_parse(jit_graph, "jit.ir", &g);
	CHECK_OK(e);
	if (!g)
		return;
	lathe_arena *a = lathe_arena_create();
	int64_t shape[4] = {1, 3, 8, 8};
	lathe_tensor *x;
	CHECK_OK(lathe_tensor_alloc(a, LATHE_DT_F32, 4, shape, &x));
	uint64_t s = 12345;
	for (int i = 0; i < 192; i++)
		((float *)x->data)[i] = (float)((int64_t)(rng(&s) % 17) - 8) / 4;
	lathe_rvalue in = {.kind = LATHE_TY_TENSOR, .dtype = LATHE_DT_F32, .t = x};
	lathe_rvalue want[2], got[2];
	lathe_exec *ex = lathe_exec_create(a);
	CHECK_OK(lathe_exec_run(ex, g, &in, want));
	lathe_exec_destroy(ex);

	char cache[128];
	snprintf(cache, sizeof cache, "%s/cache", tmpdir);
	lathe_jit_opts o = {.cache_dir = cache, .nthreads = 2};
	lathe_jit *j = NULL;
	CHECK_OK(lathe_jit_create(&o, &j));
	if (!j)
		return;
	/* First run: the prescan compiles what the static shapes predict;
	 * Neg of NonZero's data-dependent output needs pass 2. */
	CHECK_OK(lathe_jit_run(j, g, a, &in, got));
	const lathe_jit_stats *st = lathe_jit_last_stats(j);
	CHECK(same_rvalue(&want[0], &got[0]) && same_rvalue(&want[1], &got[1]));
	CHECK(st->npasses == 2 && st->ncompiled == st->nfuncs && st->nfuncs == 4);
	/* Again: everything is compiled. */
	CHECK_OK(lathe_jit_run(j, g, a, &in, got));
	CHECK(same_rvalue(&want[0], &got[0]) && same_rvalue(&want[1], &got[1]));
	CHECK(st->npasses == 1 && st->ncompiled == 0 && st->nfuncs == 4);
	lathe_jit_destroy(j);
	/* A new JIT finds it all in the cache. */
	CHECK_OK(lathe_jit_create(&o, &j));
	CHECK_OK(lathe_jit_run(j, g, a, &in, got));
	st = lathe_jit_last_stats(j);
	CHECK(same_rvalue(&want[0], &got[0]) && same_rvalue(&want[1], &got[1]));
	CHECK(st->npasses == 1 && st->ncompiled == 0);
	lathe_jit_destroy(j);

	/* No C compiler: an error, or with fallback the interpreter's results. */
	char *cc = getenv("CC") ? lathe_xstrdup(getenv("CC")) : NULL;
	setenv("CC", "/nonexistent/cc", 1);
	snprintf(cache, sizeof cache, "%s/cache2", tmpdir);
	CHECK_OK(lathe_jit_create(&o, &j));
	e = lathe_jit_run(j, g, a, &in, got);
	CHECK(e && lathe_error_code(e) == LATHE_EUNSUPPORTED);
	lathe_error_free(e);
	lathe_jit_destroy(j);
	o.fallback = true;
	CHECK_OK(lathe_jit_create(&o, &j));
	CHECK_OK(lathe_jit_run(j, g, a, &in, got));
	CHECK(lathe_jit_last_stats(j)->interpreted);
	CHECK(same_rvalue(&want[0], &got[0]) && same_rvalue(&want[1], &got[1]));
	lathe_jit_destroy(j);
	if (cc)
		setenv("CC", cc, 1);
	else
		unsetenv("CC");
	free(cc);

	/* A cache directory that cannot be made. */
	o.cache_dir = "/proc/lathe-no-such-dir/x";
	e = lathe_jit_create(&o, &j);
	CHECK(e && lathe_error_code(e) == LATHE_EIO);
	lathe_error_free(e);
	lathe_arena_destroy(a);
	lathe_graph_destroy(g);
}

int main(void)
{
	arena = lathe_arena_create();
	snprintf(tmpdir, sizeof tmpdir, "/tmp/lathe-test-codegen-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	te_cases();
	op_cases();
	cast_cases();
	conversion_cases();
	text_cases();
	sched_cases();
	if (getenv("LATHE_TEST_DUMP")) {
		/* Prints the cases whose name contains $LATHE_TEST_DUMP. */
		for (size_t i = 0; i < cases.len; i++) {
			if (!strstr(cases.data[i].name, getenv("LATHE_TEST_DUMP")))
				continue;
			lathe_buf b = {0};
			lathe_tir_print(&b, cases.data[i].f);
			lathe_err e = lathe_codegen_c_func_opts(&b, cases.data[i].f, "dump", &cases.data[i].opts);
			lathe_error_free(e);
			printf("// %s\n%s\n", cases.data[i].name, b.data);
			lathe_buf_free(&b);
		}
	}

	/* The emitter refuses what it must. */
	lathe_buf junk = {0};
	lathe_err e = lathe_codegen_c_func(&junk, cases.data[0].f, "not an identifier");
	CHECK(e && lathe_error_code(e) == LATHE_EINVAL);
	lathe_error_free(e);
	lathe_buf_free(&junk);

	jit_tests();
	compile_all();
	lathe_rt_pool *pool = lathe_rt_pool_create(4);
	for (size_t i = 0; i < cases.len; i++)
		run_case(&cases.data[i], pool);
	/* Parallel cases again without a pool (serial). */
	for (size_t i = 0; i < cases.len; i++)
		if (strstr(cases.data[i].name, "parallel"))
			run_case(&cases.data[i], NULL);
	lathe_rt_pool_destroy(pool);
	printf("test_codegen: %zu cases, %d differ\n", cases.len, nfail_cases);

	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	for (size_t i = 0; i < cases.len; i++)
		lathe_tir_func_deinit(cases.data[i].f);
	lathe_vec_free(&cases);
	lathe_arena_destroy(arena);
	return CHECK_DONE("test_codegen");
}
