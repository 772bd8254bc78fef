/* test_tir.c: unit tests of the loop IR (src/tir/) and the tensor-expression
 * builder (src/lower/te.c): functions built with te and run by the
 * interpreter, the IR's arithmetic at the edges (wrapping, f16 rounding,
 * division by zero, casts), bounds errors, the text form's round trip, the
 * verifier's diagnostics and the simplifier. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "lower/te.h"

static lathe_tir_func *parse_ok(lathe_arena *a, const char *text)
{
	lathe_tir_func *f = NULL;
	lathe_err e = lathe_tir_parse(a, text, "test.tir", &f);
	if (e) {
		fprintf(stderr, "parse error: %s\n", lathe_error_message(e));
		lathe_error_free(e);
	}
	return f;
}

/* The error message of e (freed), or "" when e is NULL. */
static char *msg_of(lathe_err e)
{
	static char m[1024];
	m[0] = 0;
	if (e) {
		snprintf(m, sizeof m, "%s", lathe_error_message(e));
		lathe_error_free(e);
	}
	return m;
}

static char *print_fn(const lathe_tir_func *f)
{
	lathe_buf b = {0};
	lathe_tir_print(&b, f);
	return b.data;
}

/* ---- te + interpreter ------------------------------------------------------ */

static void test_add_broadcast(void)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = lathe_tir_func_create(a, "add");
	int64_t s23[2] = {2, 3}, s3[1] = {3};
	lathe_tir_buf *A = lathe_tir_param(f, "A", LATHE_DT_F32, 2, s23);
	lathe_tir_buf *B = lathe_tir_param(f, "B", LATHE_DT_F32, 1, s3);
	lathe_tir_buf *C = lathe_tir_param(f, "C", LATHE_DT_F32, 2, s23);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 2, C->shape);
	lathe_te_compute(f, C, ax, lathe_tir_binary(f, LATHE_TIR_ADD, lathe_te_load_bcast(f, A, ax),
						     lathe_te_load_bcast(f, B, ax)));
	CHECK_OK(lathe_tir_verify(f));
	char *text = print_fn(f);
	CHECK_STR(text, "func @add(%A: f32[2,3], %B: f32[3], %C: f32[2,3]) {\n"
			"  for %i0 in 0..2 {\n"
			"    for %i1 in 0..3 {\n"
			"      %C[%i0, %i1] = add(%A[%i0, %i1], %B[%i1])\n"
			"    }\n"
			"  }\n"
			"}\n");
	free(text);
	float av[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {10, 20, 30}, cv[6] = {0};
	void *args[3] = {av, bv, cv};
	CHECK_OK(lathe_tir_interp(f, args));
	float want[6] = {11, 22, 33, 14, 25, 36};
	CHECK(!memcmp(cv, want, sizeof want));

	/* A dimension of size 1 broadcasts. */
	lathe_tir_func *g = lathe_tir_func_create(a, "bc");
	int64_t s21[2] = {2, 1}, s13[2] = {1, 3};
	lathe_tir_buf *X = lathe_tir_param(g, "X", LATHE_DT_I32, 2, s21);
	lathe_tir_buf *Y = lathe_tir_param(g, "Y", LATHE_DT_I32, 2, s13);
	lathe_tir_buf *Z = lathe_tir_param(g, "Z", LATHE_DT_I32, 2, s23);
	lathe_te_axes gx = lathe_te_axes_new(g, "i", 2, Z->shape);
	lathe_te_compute(g, Z, gx, lathe_tir_binary(g, LATHE_TIR_MUL, lathe_te_load_bcast(g, X, gx),
						     lathe_te_load_bcast(g, Y, gx)));
	int32_t xv[2] = {2, 3}, yv[3] = {1, 10, 100}, zv[6];
	void *gargs[3] = {xv, yv, zv};
	CHECK_OK(lathe_tir_interp(g, gargs));
	int32_t zw[6] = {2, 20, 200, 3, 30, 300};
	CHECK(!memcmp(zv, zw, sizeof zw));
	lathe_tir_func_deinit(g);
	lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
}

static void test_sum_reduction(void)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = lathe_tir_func_create(a, "sum");
	int64_t s23[2] = {2, 3}, s2[1] = {2}, s3[1] = {3};
	lathe_tir_buf *A = lathe_tir_param(f, "A", LATHE_DT_F16, 2, s23);
	lathe_tir_buf *S = lathe_tir_param(f, "S", LATHE_DT_F16, 1, s2);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 1, s2);
	lathe_te_axes rax = lathe_te_axes_new(f, "r", 1, s3);
	lathe_te_reduce r = lathe_te_reduce_begin(f, LATHE_DT_F32);
	lathe_tir_expr *idx[2] = {ax.idx[0], rax.idx[0]};
	lathe_tir_expr *v = lathe_tir_cast(f, LATHE_DT_F32, lathe_tir_load(f, A, idx));
	lathe_te_reduce_end(f, &r, S, ax, rax, LATHE_TIR_ADD, lathe_tir_float(f, LATHE_DT_F32, 0),
			    v, NULL);
	CHECK_OK(lathe_tir_verify(f));
	char *text = print_fn(f);
	CHECK_STR(text, "func @sum(%A: f16[2,3], %S: f16[2]) {\n"
			"  local %acc: f32[]\n"
			"  for %i0 in 0..2 {\n"
			"    %acc[] = 0:f32\n"
			"    for %r0 in 0..3 {\n"
			"      %acc[] = add(%acc[], cast<f32>(%A[%i0, %r0]))\n"
			"    }\n"
			"    %S[%i0] = cast<f16>(%acc[])\n"
			"  }\n"
			"}\n");
	free(text);
	uint16_t av[6], sv[2];
	float in[6] = {1, 2, 3, 0.5f, 0.25f, -4};
	for (int i = 0; i < 6; i++)
		av[i] = lathe_rt_f32_to_f16(in[i]);
	void *args[2] = {av, sv};
	CHECK_OK(lathe_tir_interp(f, args));
	CHECK(lathe_rt_f16_to_f32(sv[0]) == 6.0f);
	CHECK(lathe_rt_f16_to_f32(sv[1]) == -3.25f);

	/* Max reduction from lathe_te_lowest. */
	lathe_tir_func *g = lathe_tir_func_create(a, "max");
	lathe_tir_buf *X = lathe_tir_param(g, "X", LATHE_DT_I8, 1, s3);
	int64_t one = 1;
	lathe_tir_buf *M = lathe_tir_param(g, "M", LATHE_DT_I8, 1, &one);
	lathe_te_axes gx = lathe_te_axes_new(g, "i", 1, &one);
	lathe_te_axes gr = lathe_te_axes_new(g, "r", 1, s3);
	lathe_te_reduce gm = lathe_te_reduce_begin(g, LATHE_DT_I8);
	lathe_te_reduce_end(g, &gm, M, gx, gr, LATHE_TIR_MAX, lathe_te_lowest(g, LATHE_DT_I8),
			    lathe_tir_load(g, X, gr.idx), NULL);
	int8_t xv[3] = {-100, -128, -7}, mv[1] = {0};
	void *gargs[2] = {xv, mv};
	CHECK_OK(lathe_tir_interp(g, gargs));
	CHECK(mv[0] == -7);
	lathe_tir_func_deinit(g);
	lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
}

static void test_matmul(void)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = lathe_tir_func_create(a, "matmul");
	int64_t sa[2] = {2, 3}, sb[2] = {3, 4}, sc[2] = {2, 4};
	lathe_tir_buf *A = lathe_tir_param(f, "A", LATHE_DT_F32, 2, sa);
	lathe_tir_buf *B = lathe_tir_param(f, "B", LATHE_DT_F32, 2, sb);
	lathe_tir_buf *C = lathe_tir_param(f, "C", LATHE_DT_F32, 2, sc);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 2, sc);
	lathe_te_axes rax = lathe_te_axes_new(f, "k", 1, &sa[1]);
	lathe_te_reduce r = lathe_te_reduce_begin(f, LATHE_DT_F32);
	lathe_tir_expr *ia[2] = {ax.idx[0], rax.idx[0]}, *ib[2] = {rax.idx[0], ax.idx[1]};
	lathe_tir_expr *prod = lathe_tir_binary(f, LATHE_TIR_MUL, lathe_tir_load(f, A, ia),
						lathe_tir_load(f, B, ib));
	lathe_te_reduce_end(f, &r, C, ax, rax, LATHE_TIR_ADD, lathe_tir_float(f, LATHE_DT_F32, 0),
			    prod, NULL);
	CHECK_OK(lathe_tir_verify(f));
	float av[6], bv[12], cv[8];
	for (int i = 0; i < 6; i++)
		av[i] = (float)(i + 1);
	for (int i = 0; i < 12; i++)
		bv[i] = (float)(i % 5) - 1.5f;
	void *args[3] = {av, bv, cv};
	CHECK_OK(lathe_tir_interp(f, args));
	int bad = 0;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 4; j++) {
			float s = 0;
			for (int k = 0; k < 3; k++)
				s += av[i * 3 + k] * bv[k * 4 + j];
			bad += cv[i * 4 + j] != s;
		}
	CHECK(bad == 0);

	/* Printing and parsing give back the same text, and the parsed
	 * function computes the same thing. */
	char *t1 = print_fn(f);
	lathe_tir_func *g = parse_ok(a, t1);
	CHECK(g != NULL);
	if (g) {
		char *t2 = print_fn(g);
		CHECK_STR(t2, t1);
		free(t2);
		float cv2[8];
		void *args2[3] = {av, bv, cv2};
		CHECK_OK(lathe_tir_interp(g, args2));
		CHECK(!memcmp(cv, cv2, sizeof cv));
		lathe_tir_func_deinit(g);
	}
	free(t1);
	lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
}

static void test_ravel_unravel(void)
{
	/* out[i, j, k] = in[unravel(ravel(i, j, k))] over a reshaped view:
	 * a reshape from [2,3,4] to [4,6]. */
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = lathe_tir_func_create(a, "reshape");
	int64_t si[3] = {2, 3, 4}, so[2] = {4, 6};
	lathe_tir_buf *X = lathe_tir_param(f, "X", LATHE_DT_I64, 3, si);
	lathe_tir_buf *Y = lathe_tir_param(f, "Y", LATHE_DT_I64, 2, so);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 2, so);
	lathe_tir_expr *flat = lathe_te_ravel(f, 2, so, ax.idx);
	lathe_tir_expr *idx[3];
	lathe_te_unravel(f, flat, 3, si, idx);
	lathe_te_compute(f, Y, ax, lathe_tir_load(f, X, idx));
	CHECK_OK(lathe_tir_verify(f));
	int64_t xv[24], yv[24];
	for (int i = 0; i < 24; i++)
		xv[i] = i * 7 - 3;
	void *args[2] = {xv, yv};
	CHECK_OK(lathe_tir_interp(f, args));
	CHECK(!memcmp(xv, yv, sizeof xv));
	lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
}

/* ---- arithmetic at the edges ---------------------------------------------- */

/* Runs `func` from text with the given buffers (no verification errors
 * expected); returns the interpreter's error message ("" for success). */
static char *run_text(const char *text, void **args)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = parse_ok(a, text);
	char *m = "parse failed";
	if (f) {
		m = msg_of(lathe_tir_interp(f, args));
		lathe_tir_func_deinit(f);
	}
	lathe_arena_destroy(a);
	return m;
}

static void test_int_wrap(void)
{
	int8_t x[2] = {100, -128}, y[2] = {100, -1}, o[6];
	void *args[3] = {x, y, o};
	CHECK_STR(run_text("func @w(%X: i8[2], %Y: i8[2], %O: i8[6]) {\n"
			   "  %O[0] = add(%X[0], %Y[0])\n"
			   "  %O[1] = mul(%X[0], %Y[0])\n"
			   "  %O[2] = div(%X[1], %Y[1])\n"
			   "  %O[3] = mod(%X[1], %Y[1])\n"
			   "  %O[4] = neg(%X[1])\n"
			   "  %O[5] = abs(%X[1])\n"
			   "}\n", args), "");
	CHECK(o[0] == -56);
	CHECK(o[1] == 16); /* 10000 mod 256 */
	CHECK(o[2] == -128);
	CHECK(o[3] == 0);
	CHECK(o[4] == -128);
	CHECK(o[5] == -128);

	int64_t m[2] = {INT64_MIN, -1}, r[3];
	void *a2[2] = {m, r};
	CHECK_STR(run_text("func @w(%X: i64[2], %O: i64[3]) {\n"
			   "  %O[0] = div(%X[0], %X[1])\n"
			   "  %O[1] = floordiv(%X[0], %X[1])\n"
			   "  %O[2] = floormod(-7, 3)\n"
			   "}\n", a2), "");
	CHECK(r[0] == INT64_MIN && r[1] == INT64_MIN && r[2] == 2);

	uint8_t u[1] = {3}, uo[3];
	void *a3[2] = {u, uo};
	CHECK_STR(run_text("func @u(%X: u8[1], %O: u8[3]) {\n"
			   "  %O[0] = sub(%X[0], 5:u8)\n"
			   "  %O[1] = shl(%X[0], 7:u8)\n"
			   "  %O[2] = shr(%X[0], 9:u8)\n"
			   "}\n", a3), "");
	CHECK(uo[0] == 254 && uo[1] == 128 && uo[2] == 0);

	/* Division by zero is an error, not a trap, and select evaluates only
	 * the arm it picks. */
	int32_t d[2] = {7, 0}, dout[1];
	void *a4[2] = {d, dout};
	CHECK_STR(run_text("func @d(%X: i32[2], %O: i32[1]) {\n"
			   "  %O[0] = div(%X[0], %X[1])\n"
			   "}\n", a4),
		  "func @d: integer division by zero in div(%X[0], %X[1])");
	CHECK_STR(run_text("func @d(%X: i32[2], %O: i32[1]) {\n"
			   "  %O[0] = select(eq(%X[1], 0:i32), -1:i32, div(%X[0], %X[1]))\n"
			   "}\n", a4), "");
	CHECK(dout[0] == -1);
}

static void test_float_rounding(void)
{
	/* f16: 2048 + 1 is a tie between 2048 and 2050 and rounds to even. */
	uint16_t x[3], o[3];
	x[0] = lathe_rt_f32_to_f16(2048.0f);
	x[1] = lathe_rt_f32_to_f16(1.0f);
	x[2] = lathe_rt_f32_to_f16(3.0f);
	void *args[2] = {x, o};
	CHECK_STR(run_text("func @h(%X: f16[3], %O: f16[3]) {\n"
			   "  %O[0] = add(%X[0], %X[1])\n"
			   "  %O[1] = add(%X[0], %X[2])\n"
			   "  %O[2] = div(%X[1], %X[2])\n"
			   "}\n", args), "");
	CHECK(lathe_rt_f16_to_f32(o[0]) == 2048.0f);
	CHECK(lathe_rt_f16_to_f32(o[1]) == 2052.0f);
	CHECK(o[2] == lathe_rt_f32_to_f16(1.0f / 3.0f));

	/* round is half to even; casts truncate, NaN gives 0, wrap like NumPy. */
	float f[6] = {2.5f, -0.5f, 3.5f, -3.7f, NAN, 300.0f};
	int8_t io[6];
	float ro[3];
	void *a2[3] = {f, ro, io};
	CHECK_STR(run_text("func @r(%F: f32[6], %R: f32[3], %I: i8[6]) {\n"
			   "  for %i in 0..3 {\n"
			   "    %R[%i] = round(%F[%i])\n"
			   "  }\n"
			   "  for %j in 0..6 {\n"
			   "    %I[%j] = cast<i8>(%F[%j])\n"
			   "  }\n"
			   "}\n", a2), "");
	CHECK(ro[0] == 2.0f && ro[1] == 0.0f && signbit(ro[1]) && ro[2] == 4.0f);
	CHECK(io[0] == 2 && io[1] == 0 && io[3] == -3 && io[4] == 0 && io[5] == 44);

	/* f32 arithmetic rounds each step to float. */
	float p[2] = {16777216.0f, 1.0f}, q[1];
	void *a3[2] = {p, q};
	CHECK_STR(run_text("func @s(%X: f32[2], %O: f32[1]) {\n"
			   "  %O[0] = sub(add(%X[0], %X[1]), %X[0])\n"
			   "}\n", a3), "");
	CHECK(q[0] == 0.0f);

	/* bool: comparisons and logic. */
	uint8_t bo[2];
	float c[2] = {1.0f, NAN};
	void *a4[2] = {c, bo};
	CHECK_STR(run_text("func @b(%X: f32[2], %O: bool[2]) {\n"
			   "  %O[0] = and(lt(%X[0], 2:f32), not(isnan(%X[0])))\n"
			   "  %O[1] = or(isnan(%X[1]), false)\n"
			   "}\n", a4), "");
	CHECK(bo[0] == 1 && bo[1] == 1);
}

static void test_bounds(void)
{
	float c[6];
	void *args[1] = {c};
	CHECK_STR(run_text("func @oob(%C: f32[2,3]) {\n"
			   "  for %i in 0..4 {\n"
			   "    %C[%i, 0] = 1:f32\n"
			   "  }\n"
			   "}\n", args),
		  "func @oob: store to %C index [2, 0] out of bounds of [2, 3]");
	CHECK_STR(run_text("func @oob(%C: f32[2,3]) {\n"
			   "  %C[0, 0] = %C[1, sub(0, 1)]\n"
			   "}\n", args),
		  "func @oob: load from %C index [1, -1] out of bounds of [2, 3]");
	void *none[1] = {NULL};
	CHECK_STR(run_text("func @n(%C: f32[2]) {\n}\n", none),
		  "func @n: parameter %C: no data given");
}

/* ---- text form, verifier, simplifier --------------------------------------- */

static const char *roundtrip_text =
	"func @\"my fn\"(%\"in.0\": f32[4], %B: bf16[2,2], %Q: u64[1], %O: f32[4]) {\n"
	"  local %t: f64[2]\n"
	"  local %s: i32[]\n"
	"  for %i in 0..4 parallel {\n"
	"    let %x: f32 = mul(%\"in.0\"[%i], 0.1:f32) {\n"
	"      if gt(%x, -inf:f32) {\n"
	"        %O[%i] = select(isnan(%x), nan:f32, max(%x, 1e-07:f32))\n"
	"      } else {\n"
	"        %O[%i] = 3:f32\n"
	"      }\n"
	"    }\n"
	"  }\n"
	"  for %j in 1..+add(%s[], 1:i32) vectorized {\n"
	"    %t[0] = cast<f64>(%B[0, 1])\n"
	"  }\n"
	"  for %k in 0..2 unrolled {\n"
	"    %Q[0] = 18446744073709551615:u64\n"
	"    %s[] = floormod(-3:i32, 2:i32)\n"
	"    %t[%k] = 0.30000000000000004:f64\n"
	"  }\n"
	"}\n";

static void test_roundtrip(void)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = parse_ok(a, roundtrip_text);
	CHECK(f != NULL);
	if (f) {
		char *t = print_fn(f);
		CHECK_STR(t, roundtrip_text);
		free(t);
		/* The extent above is an i32 expression: the verifier says so. */
		CHECK(strstr(msg_of(lathe_tir_verify(f)), "loop bounds must be i64") != NULL);
		lathe_tir_func_deinit(f);
	}
	lathe_arena_destroy(a);
}

static char *parse_err(const char *text)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = NULL;
	char *m = msg_of(lathe_tir_parse(a, text, "t.tir", &f));
	if (f) {
		m = msg_of(lathe_tir_verify(f));
		lathe_tir_func_deinit(f);
	}
	lathe_arena_destroy(a);
	return m;
}

static void test_errors(void)
{
	CHECK_STR(parse_err("func @f(%A: f32[2]) {\n  %A[0, 1] = 1:f32\n}\n"),
		  "t.tir:2:3: %A has rank 1 but 2 indices are given\n    %A[0, 1] = 1:f32\n    ^");
	CHECK_STR(parse_err("func @f(%A: f32[2]) {\n  %A[%i] = 1:f32\n}\n"),
		  "t.tir:2:6: unknown name %i\n    %A[%i] = 1:f32\n       ^");
	CHECK_STR(parse_err("func @f(%A: f32[2]) {\n  %A[0] = add(%A[1], 1)\n}\n"),
		  "func @f: store to %A: add(%A[1], 1): operand types differ (f32 and i64)");
	CHECK_STR(parse_err("func @f(%A: f32[2]) {\n  %A[2] = 1:f32\n}\n"),
		  "func @f: store to %A: index 0 of %A is 2, outside [0, 2)");
	CHECK_STR(parse_err("func @f(%A: i8[2]) {\n  %A[0] = 300:i8\n}\n"),
		  "t.tir:2:11: 300 does not fit i8\n    %A[0] = 300:i8\n            ^");
	CHECK_STR(parse_err("func @f(%A: f32[2]) {\n  if 1 {\n  }\n}\n"),
		  "func @f: if 1: the condition is i64; it must be bool");
	CHECK_STR(parse_err("func @f(%A: str[2]) {\n}\n"),
		  "func @f: %A: str buffers are not supported in loop programs");
	CHECK(strstr(parse_err("func @f(%A: f32[2]) {\n  for %i in 0..2 {\n  }\n"
			       "  %A[%i] = 0:f32\n}\n"),
		     "%i is used outside the for or let that binds it") != NULL);
	CHECK(strstr(parse_err("func @f(%A: f32[2]) {\n  for %A in 0..2 {\n  }\n}\n"),
		     "%A is already declared") != NULL);
	CHECK(strstr(parse_err("func @f(%A: f32[2]) {\n  %A[0] = 1.5\n}\n"),
		     "a float constant needs a float type") != NULL);

	/* Built by hand: a variable used outside its loop, and a shadowing. */
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = lathe_tir_func_create(a, "h");
	int64_t two = 2;
	lathe_tir_buf *A = lathe_tir_param(f, "A", LATHE_DT_I64, 1, &two);
	lathe_tir_var *i = lathe_tir_new_var(f, "i", LATHE_DT_I64);
	lathe_tir_var *i2 = lathe_tir_new_var(f, "i", LATHE_DT_I64);
	CHECK_STR(i2->name, "i_1");
	lathe_tir_expr *ix = lathe_tir_varref(f, i);
	lathe_tir_stmt *st = lathe_tir_store(f, A, &ix, ix);
	lathe_tir_append(f, lathe_tir_for(f, i, lathe_tir_i64(f, 0), lathe_tir_i64(f, 2),
					  LATHE_TIR_SERIAL,
					  lathe_tir_for(f, i, lathe_tir_i64(f, 0), lathe_tir_i64(f, 2),
							LATHE_TIR_SERIAL, st)));
	CHECK(strstr(msg_of(lathe_tir_verify(f)), "%i is bound again") != NULL);
	lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
}

static char *simplified(const char *text)
{
	static char out[2048];
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = parse_ok(a, text);
	out[0] = 0;
	if (f) {
		lathe_tir_simplify(f);
		lathe_err e = lathe_tir_verify(f);
		if (e)
			snprintf(out, sizeof out, "verify: %s", msg_of(e));
		else {
			char *t = print_fn(f);
			snprintf(out, sizeof out, "%s", t);
			free(t);
		}
		lathe_tir_func_deinit(f);
	}
	lathe_arena_destroy(a);
	return out;
}

static void test_simplify(void)
{
	CHECK_STR(simplified("func @s(%A: i64[8], %F: f32[8]) {\n"
			     "  for %i in 0..1 {\n"
			     "    for %j in 0..4 {\n"
			     "      %A[add(add(mul(%j, 1), 0), %i)] = add(add(%j, 2), 3)\n"
			     "      %A[floordiv(%j, 1)] = floormod(%j, 1)\n"
			     "      %F[mul(0, %j)] = mul(%F[%j], 1:f32)\n"
			     "      %F[sub(%j, %j)] = add(%F[%j], 0:f32)\n"
			     "      %A[0] = select(lt(2, 3), mul(2, 21), %j)\n"
			     "      %F[0] = cast<f32>(cast<i8>(200:i32))\n"
			     "      %A[0] = div(%j, 0)\n"
			     "    }\n"
			     "  }\n"
			     "}\n"),
		  "func @s(%A: i64[8], %F: f32[8]) {\n"
		  "  for %j in 0..4 {\n"
		  "    %A[%j] = add(%j, 5)\n"
		  "    %A[%j] = 0\n"
		  "    %F[0] = %F[%j]\n"
		  "    %F[0] = add(%F[%j], 0:f32)\n"
		  "    %A[0] = 42\n"
		  "    %F[0] = -56:f32\n"
		  "    %A[0] = div(%j, 0)\n"
		  "  }\n"
		  "}\n");
	/* Terms a divisor divides leave its floordiv and floormod however
	 * wide the other terms' ranges; a remainder in range leaves the
	 * modulus (%j, a vector lane say, stays affine).  With a term of
	 * unknown range (%K[0]) nothing moves. */
	CHECK_STR(simplified("func @s(%A: i64[64], %K: i64[1]) {\n"
			     "  for %i in 0..4 {\n"
			     "    for %o in 0..16 {\n"
			     "      for %j in 0..16 {\n"
			     "        %A[floormod(floordiv(add(mul(%i, 16), %o), 4), 4)] = 0\n"
			     "        %A[floormod(add(add(mul(%i, 256), mul(%o, 16)), %j), 64)] = 1\n"
			     "        %A[0] = floordiv(add(mul(%i, 8), add(%o, 9)), 4)\n"
			     "        %A[1] = floormod(sub(%j, mul(%o, 12)), 6)\n"
			     "        %A[2] = floormod(add(mul(%i, 6), %K[0]), 6)\n"
			     "      }\n"
			     "    }\n"
			     "  }\n"
			     "}\n"),
		  "func @s(%A: i64[64], %K: i64[1]) {\n"
		  "  for %i in 0..4 {\n"
		  "    for %o in 0..16 {\n"
		  "      for %j in 0..16 {\n"
		  "        %A[floordiv(%o, 4)] = 0\n"
		  "        %A[add(mul(floormod(%o, 4), 16), %j)] = 1\n"
		  "        %A[0] = add(add(mul(%i, 2), 2), floordiv(add(%o, 1), 4))\n"
		  "        %A[1] = floormod(%j, 6)\n"
		  "        %A[2] = floormod(add(mul(%i, 6), %K[0]), 6)\n"
		  "      }\n"
		  "    }\n"
		  "  }\n"
		  "}\n");
	/* A loop of extent 1 with a variable start becomes a let. */
	CHECK_STR(simplified("func @s(%A: i64[8]) {\n"
			     "  for %i in 0..4 {\n"
			     "    for %j in add(%i, 1)..+1 {\n"
			     "      %A[%j] = sub(add(%j, 7), 2)\n"
			     "    }\n"
			     "    for %l in %i..+1 {\n"
			     "      %A[%l] = 0\n"
			     "    }\n"
			     "  }\n"
			     "  for %k in 0..0 {\n"
			     "    %A[%k] = 1\n"
			     "  }\n"
			     "  if false {\n"
			     "    %A[0] = 1\n"
			     "  } else {\n"
			     "    %A[1] = 2\n"
			     "  }\n"
			     "}\n"),
		  "func @s(%A: i64[8]) {\n"
		  "  for %i in 0..4 {\n"
		  "    let %j: i64 = add(%i, 1) {\n"
		  "      %A[%j] = add(%j, 5)\n"
		  "    }\n"
		  "    %A[%i] = 0\n"
		  "  }\n"
		  "  %A[1] = 2\n"
		  "}\n");
}

/* Simplifying never changes what a program computes. */
static void test_simplify_preserves(void)
{
	lathe_arena *a = lathe_arena_create();
	const char *text =
		"func @p(%X: i32[5], %Y: i32[5,3]) {\n"
		"  for %i in 0..5 {\n"
		"    for %j in 0..3 {\n"
		"      %Y[%i, %j] = add(mul(sub(%X[%i], add(2:i32, 3:i32)), cast<i32>(add(%j, 1))),\n"
		"                       floormod(mul(%X[%i], 1:i32), add(1:i32, 2:i32)))\n"
		"    }\n"
		"  }\n"
		"}\n";
	lathe_tir_func *f = parse_ok(a, text), *g = parse_ok(a, text);
	if (f && g) {
		lathe_tir_simplify(g);
		int32_t x[5] = {-7, 0, 3, 2147483647, -2147483647 - 1}, y1[15], y2[15];
		void *a1[2] = {x, y1}, *a2[2] = {x, y2};
		CHECK_OK(lathe_tir_interp(f, a1));
		CHECK_OK(lathe_tir_interp(g, a2));
		CHECK(!memcmp(y1, y2, sizeof y1));
	}
	lathe_tir_func_deinit(f);
	lathe_tir_func_deinit(g);
	lathe_arena_destroy(a);
}

/* Random index arithmetic over loop variables, simplified and not: the
 * range-based rewrites (floordiv/floormod of linear forms, comparisons
 * decided by bounds) must never change a value. */
static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static lathe_tir_expr *rand_expr(lathe_tir_func *f, lathe_tir_var **v, int nv, uint64_t *s, int depth)
{
	int pick = (int)(rnd(s) % (depth > 4 ? 2 : 9));
	if (pick == 0)
		return lathe_tir_i64(f, (int64_t)(rnd(s) % 26) - 5);
	if (pick == 1)
		return lathe_tir_varref(f, v[rnd(s) % (uint64_t)nv]);
	lathe_tir_expr *a = rand_expr(f, v, nv, s, depth + 1);
	int64_t k = (int64_t)(rnd(s) % 14) - 3;
	if (k == 0)
		k = 4;
	switch (pick) {
	case 2: return lathe_tir_binary(f, LATHE_TIR_ADD, a, rand_expr(f, v, nv, s, depth + 1));
	case 3: return lathe_tir_binary(f, LATHE_TIR_SUB, a, rand_expr(f, v, nv, s, depth + 1));
	case 4: return lathe_tir_binary(f, LATHE_TIR_MUL, a, lathe_tir_i64(f, k));
	case 5: return lathe_tir_binary(f, LATHE_TIR_FLOORDIV, a, lathe_tir_i64(f, k));
	case 6: return lathe_tir_binary(f, LATHE_TIR_FLOORMOD, a, lathe_tir_i64(f, k));
	case 7: return lathe_tir_binary(f, rnd(s) & 1 ? LATHE_TIR_MIN : LATHE_TIR_MAX, a,
					rand_expr(f, v, nv, s, depth + 1));
	default:
		return lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_LT, a, rand_expr(f, v, nv, s, depth + 1)),
					rand_expr(f, v, nv, s, depth + 1), rand_expr(f, v, nv, s, depth + 1));
	}
}

static lathe_tir_func *rand_prog(lathe_arena *a, uint64_t seed, int nexpr)
{
	lathe_tir_func *f = lathe_tir_func_create(a, "r");
	int64_t shape[3] = {6, 5, nexpr};
	lathe_tir_buf *O = lathe_tir_param(f, "O", LATHE_DT_I64, 3, shape);
	lathe_tir_var *v[3] = {lathe_tir_new_var(f, "i", LATHE_DT_I64),
			       lathe_tir_new_var(f, "j", LATHE_DT_I64),
			       lathe_tir_new_var(f, "l", LATHE_DT_I64)};
	lathe_tir_stmt **st = lathe_arena_new(a, lathe_tir_stmt *, nexpr);
	lathe_tir_expr *jj = lathe_tir_binary(f, LATHE_TIR_SUB, lathe_tir_varref(f, v[1]), lathe_tir_i64(f, 2));
	for (int t = 0; t < nexpr; t++) {
		lathe_tir_expr *idx[3] = {lathe_tir_varref(f, v[0]), jj, lathe_tir_i64(f, t)};
		st[t] = lathe_tir_store(f, O, idx, rand_expr(f, v, 3, &seed, 0));
	}
	/* %l is a let of an expression of %i, with a range the simplifier knows. */
	lathe_tir_stmt *inner = lathe_tir_let(f, v[2], lathe_tir_binary(f, LATHE_TIR_FLOORMOD,
		lathe_tir_binary(f, LATHE_TIR_MUL, lathe_tir_varref(f, v[0]), lathe_tir_i64(f, 3)),
		lathe_tir_i64(f, 4)), lathe_tir_seq(f, nexpr, st));
	lathe_tir_stmt *lj = lathe_tir_for(f, v[1], lathe_tir_i64(f, 2), lathe_tir_i64(f, 5),
					   LATHE_TIR_SERIAL, inner);
	lathe_tir_append(f, lathe_tir_for(f, v[0], lathe_tir_i64(f, 0), lathe_tir_i64(f, 6),
					  LATHE_TIR_SERIAL, lj));
	return f;
}

static void test_simplify_random(void)
{
	int bad = 0, failed = 0;
	for (uint64_t seed = 1; seed <= 300; seed++) {
		lathe_arena *a = lathe_arena_create();
		lathe_tir_func *f = rand_prog(a, seed, 6), *g = rand_prog(a, seed, 6);
		lathe_tir_simplify(g);
		int64_t o1[180], o2[180];
		void *a1[1] = {o1}, *a2[1] = {o2};
		lathe_err e1 = lathe_tir_interp(f, a1), e2 = lathe_tir_interp(g, a2);
		failed += e1 != NULL || e2 != NULL;
		if (!e1 && !e2 && memcmp(o1, o2, sizeof o1)) {
			if (!bad) {
				char *t1 = print_fn(f), *t2 = print_fn(g);
				fprintf(stderr, "seed %llu:\n%s=>\n%s", (unsigned long long)seed, t1, t2);
				free(t1);
				free(t2);
			}
			bad++;
		}
		lathe_error_free(e1);
		lathe_error_free(e2);
		lathe_tir_func_deinit(f);
		lathe_tir_func_deinit(g);
		lathe_arena_destroy(a);
	}
	CHECK(failed == 0);
	CHECK(bad == 0);
}

static void test_te_helpers(void)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = lathe_tir_func_create(a, "k");
	CHECK(lathe_te_lowest(f, LATHE_DT_I16)->u.i == INT16_MIN);
	CHECK(lathe_te_highest(f, LATHE_DT_U8)->u.i == 255);
	CHECK(lathe_te_highest(f, LATHE_DT_U64)->u.i == -1);
	CHECK(isinf(lathe_te_lowest(f, LATHE_DT_F32)->u.f));
	CHECK(lathe_te_lowest(f, LATHE_DT_F8E4M3FN)->u.f == -448.0);
	lathe_tir_expr *like = lathe_tir_int(f, LATHE_DT_I32, 0);
	CHECK(lathe_te_const_like(f, like, 2.9)->u.i == 2);
	CHECK(lathe_te_const_like(f, lathe_tir_float(f, LATHE_DT_F16, 0), 0.1)->u.f ==
	      lathe_rt_f16_to_f32(lathe_rt_f32_to_f16(0.1f)));
	/* Appending many statements keeps them all, in order. */
	int64_t n = 100;
	lathe_tir_buf *A = lathe_tir_param(f, "A", LATHE_DT_I64, 1, &n);
	for (int i = 0; i < 100; i++) {
		lathe_tir_expr *ix = lathe_tir_i64(f, i);
		lathe_tir_append(f, lathe_tir_store(f, A, &ix, lathe_tir_i64(f, i * i)));
	}
	int64_t av[100];
	void *args[1] = {av};
	CHECK_OK(lathe_tir_interp(f, args));
	CHECK(av[0] == 0 && av[57] == 57 * 57 && av[99] == 99 * 99);
	lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
}

/* Throughput of the interpreter on a simple elementwise nest. */
static void test_speed(void)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = parse_ok(a,
		"func @axpy(%X: f32[256,256], %Y: f32[256,256], %Z: f32[256,256]) {\n"
		"  for %r in 0..10 {\n"
		"    for %i in 0..256 {\n"
		"      for %j in 0..256 {\n"
		"        %Z[%i, %j] = add(mul(%X[%i, %j], 2:f32), %Y[%i, %j])\n"
		"      }\n"
		"    }\n"
		"  }\n"
		"}\n");
	if (!f)
		return;
	size_t n = 256 * 256;
	float *x = calloc(n, 4), *y = calloc(n, 4), *z = calloc(n, 4);
	void *args[3] = {x, y, z};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OK(lathe_tir_interp(f, args));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	/* Nodes per element: add, mul, 2 loads, 4 index vars, a constant, the
	 * store's 2 indices: 11. */
	double rate = 11.0 * 10 * (double)n / s;
	printf("test_tir: interpreter: %.0f M expression nodes/s\n", rate / 1e6);
	CHECK(rate > 5e6); /* loose: shared machines are noisy */
	free(x);
	free(y);
	free(z);
	lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
}

int main(void)
{
	test_add_broadcast();
	test_sum_reduction();
	test_matmul();
	test_ravel_unravel();
	test_int_wrap();
	test_float_rounding();
	test_bounds();
	test_roundtrip();
	test_errors();
	test_simplify();
	test_simplify_preserves();
	test_simplify_random();
	test_te_helpers();
	test_speed();
	return CHECK_DONE("test_tir");
}
