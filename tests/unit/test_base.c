/* test_base.c: unit tests of src/base (status, arena, vector, string
 * builder, map, dtype helpers, shape arithmetic, file mapping) and of the
 * runtime's element conversions (f16, bf16, float8, float4, e8m0, sub-byte
 * integers), checked against known bit patterns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "check.h"

static void test_status(void)
{
	CHECK(lathe_error_wrap(NULL, "ctx") == NULL);
	CHECK(lathe_error_code(NULL) == LATHE_OK);
	lathe_err e = lathe_error(LATHE_EINVAL, "bad %s %d", "dim", 3);
	CHECK(lathe_error_code(e) == LATHE_EINVAL);
	CHECK_STR(lathe_error_message(e), "bad dim 3");
	e = lathe_error_wrap(e, "input %d", 1);
	e = lathe_error_wrap(e, "node '%s' (%s)", "conv1", "Conv");
	CHECK_STR(lathe_error_message(e), "node 'conv1' (Conv): input 1: bad dim 3");
	CHECK(lathe_error_code(e) == LATHE_EINVAL);
	lathe_error_free(e);
	lathe_error_free(NULL);
	CHECK_STR(lathe_code_name(LATHE_EIO), "i/o error");
	CHECK_STR(lathe_code_name(LATHE_EINTERNAL), "internal error");
	/* An empty message still formats. */
	e = lathe_error(LATHE_EUNSUPPORTED, "%s", "");
	CHECK_STR(lathe_error_message(e), "");
	lathe_error_free(e);
}

static lathe_err fails_with_context(int i)
{
	LATHE_TRYF(lathe_error(LATHE_EIO, "inner"), "outer %d", i);
	return NULL;
}

static void test_try(void)
{
	lathe_err e = fails_with_context(7);
	CHECK_STR(lathe_error_message(e), "outer 7: inner");
	CHECK(lathe_error_code(e) == LATHE_EIO);
	lathe_error_free(e);
}

static void test_arena(void)
{
	lathe_arena *a = lathe_arena_create();
	char *prev = NULL;
	for (int i = 1; i < 3000; i++) {
		size_t n = (size_t)(i * 7 % 301) + 1;
		unsigned char *p = lathe_arena_alloc(a, n);
		int zero = 1;
		for (size_t k = 0; k < n; k++)
			zero &= p[k] == 0;
		CHECK(zero);
		CHECK(((uintptr_t)p & 15) == 0);
		memset(p, 0xAB, n); /* must not disturb other blocks */
		if (i == 1)
			prev = (char *)p;
	}
	CHECK((unsigned char)prev[0] == 0xAB);
	/* A big request gets its own chunk; the small chunk keeps serving. */
	unsigned char *big = lathe_arena_alloc(a, (size_t)1 << 20);
	CHECK(((uintptr_t)big & 15) == 0);
	CHECK(big[0] == 0 && big[((size_t)1 << 20) - 1] == 0);
	memset(big, 1, (size_t)1 << 20);
	int64_t *v = lathe_arena_new(a, int64_t, 10);
	CHECK(v[9] == 0);
	CHECK(lathe_arena_alloc(a, 0) != NULL);
	CHECK_STR(lathe_arena_strdup(a, "hello"), "hello");
	CHECK_STR(lathe_arena_strndup(a, "hello", 3), "hel");
	CHECK_STR(lathe_arena_printf(a, "%s-%d", "x", 42), "x-42");
	CHECK_STR(lathe_arena_printf(a, "%s", ""), "");
	int src[3] = {1, 2, 3};
	int *d = lathe_arena_memdup(a, src, sizeof src);
	CHECK(d != src && d[2] == 3);
	lathe_arena_destroy(a);
	lathe_arena_destroy(NULL);
}

static void test_vec_buf(void)
{
	LATHE_VEC(int) v = {0};
	for (int i = 0; i < 1000; i++)
		lathe_vec_push(&v, i * 2);
	CHECK(v.len == 1000 && v.cap >= 1000);
	CHECK(v.data[0] == 0 && v.data[999] == 1998);
	lathe_vec_reserve(&v, 5000);
	CHECK(v.cap >= 5000 && v.data[500] == 1000);
	lathe_vec_free(&v);
	CHECK(v.data == NULL && v.len == 0 && v.cap == 0);

	lathe_buf b = {0};
	lathe_buf_puts(&b, "a");
	lathe_buf_printf(&b, "%d-%s", 12, "z");
	CHECK_STR(b.data, "a12-z");
	CHECK(b.len == 5);
	for (int i = 0; i < 500; i++)
		lathe_buf_puts(&b, "0123456789");
	CHECK(b.len == 5005 && strlen(b.data) == 5005);
	lathe_buf_free(&b);
	CHECK(b.data == NULL && b.len == 0);
}

static void test_map(void)
{
	lathe_map m;
	lathe_map_init(&m);
	uint64_t v = 0;
	CHECK(!lathe_map_get(&m, "missing", &v));
	char key[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		lathe_map_put(&m, key, (uint64_t)i * 3);
	}
	CHECK(m.len == 20000);
	CHECK(m.len * 10 <= m.cap * 7);
	int ok = 1;
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		ok &= lathe_map_get(&m, key, &v) && v == (uint64_t)i * 3;
	}
	CHECK(ok);
	CHECK(!lathe_map_get(&m, "k20000", &v));
	CHECK(!lathe_map_get(&m, "", &v));
	/* Overwrite keeps the count; keys are copied. */
	snprintf(key, sizeof key, "k5");
	lathe_map_put(&m, key, 99);
	key[1] = '6';
	CHECK(m.len == 20000);
	CHECK(lathe_map_get(&m, "k5", &v) && v == 99);
	CHECK(lathe_map_get(&m, "k6", &v) && v == 18);
	lathe_map_put(&m, "", 1);
	CHECK(lathe_map_get(&m, "", NULL));
	lathe_map_deinit(&m);
	CHECK(m.len == 0 && !lathe_map_get(&m, "k1", &v));
}

static void test_dtype(void)
{
	CHECK(lathe_dtype_parse("f32") == LATHE_DT_F32);
	CHECK(lathe_dtype_parse("f8e4m3fn") == LATHE_DT_F8E4M3FN);
	CHECK(lathe_dtype_parse("i2") == LATHE_DT_I2);
	CHECK(lathe_dtype_parse("float") == -1);
	CHECK(lathe_dtype_parse(NULL) == -1);
	CHECK_STR(lathe_dtype_name(LATHE_DT_BF16), "bf16");
	CHECK_STR(lathe_dtype_name(999), "?");
	CHECK_STR(lathe_dtype_name(-1), "?");
	CHECK(lathe_dtype_size(LATHE_DT_C128) == 16);
	CHECK(lathe_dtype_size(LATHE_DT_STR) == sizeof(char *));
	CHECK(lathe_dtype_size(LATHE_DT_I4) == 1);
	CHECK(lathe_dtype_size(LATHE_DT_UNDEF) == 0);
	CHECK(lathe_dtype_size(1000) == 0);
	for (int d = 0; d < LATHE_DT_COUNT; d++) {
		CHECK(lathe_dtype_parse(lathe_dtype_name(d)) == d);
		CHECK(lathe_rt_dtype_size(d) == lathe_dtype_size(d));
		CHECK_STR(lathe_rt_dtype_name(d), lathe_dtype_name(d));
	}
	CHECK(lathe_rt_dtype_name(77) == NULL);
	CHECK(lathe_dtype_is_float(LATHE_DT_BF16) && lathe_dtype_is_float(LATHE_DT_F4E2M1));
	CHECK(!lathe_dtype_is_float(LATHE_DT_I32) && !lathe_dtype_is_float(LATHE_DT_C64));
	CHECK(lathe_dtype_is_int(LATHE_DT_U4) && !lathe_dtype_is_int(LATHE_DT_BOOL));
	CHECK(lathe_dtype_is_signed(LATHE_DT_I8) && lathe_dtype_is_signed(LATHE_DT_F16));
	CHECK(!lathe_dtype_is_signed(LATHE_DT_U64) && !lathe_dtype_is_signed(LATHE_DT_BOOL));
	CHECK(!lathe_dtype_is_signed(999));
}

static void test_numel(void)
{
	int64_t n = -1;
	CHECK_OK(lathe_shape_numel(0, NULL, &n));
	CHECK(n == 1);
	int64_t s1[] = {2, 3, 4};
	CHECK_OK(lathe_shape_numel(3, s1, &n));
	CHECK(n == 24);
	int64_t s2[] = {5, 0, 7};
	CHECK_OK(lathe_shape_numel(3, s2, &n));
	CHECK(n == 0);
	/* A zero anywhere makes huge dimensions harmless... */
	int64_t s3[] = {INT64_MAX, 0};
	CHECK_OK(lathe_shape_numel(2, s3, &n));
	CHECK(n == 0);
	/* ...but a negative one never is. */
	int64_t s4[] = {0, -1};
	lathe_err e = lathe_shape_numel(2, s4, &n);
	CHECK(e && lathe_error_code(e) == LATHE_EINVAL);
	CHECK(e && strstr(lathe_error_message(e), "negative"));
	lathe_error_free(e);
	int64_t s5[] = {1 << 20, 1 << 20, 2};
	e = lathe_shape_numel(3, s5, &n);
	CHECK(e && lathe_error_code(e) == LATHE_ENOMEM);
	lathe_error_free(e);
	int64_t s6[] = {1 << 20, 1 << 20};
	CHECK_OK(lathe_shape_numel(2, s6, &n));
	CHECK(n == (int64_t)1 << 40);
	int64_t s7[] = {INT64_MAX, INT64_MAX};
	e = lathe_shape_numel(2, s7, &n);
	CHECK(e != NULL);
	lathe_error_free(e);
	int64_t s8[] = {3037000500, 3037000500}; /* product overflows int64 */
	e = lathe_shape_numel(2, s8, &n);
	CHECK(e != NULL);
	lathe_error_free(e);

	lathe_arena *a = lathe_arena_create();
	lathe_tensor *t = NULL;
	int64_t sh[] = {2, 3};
	CHECK_OK(lathe_tensor_alloc(a, LATHE_DT_F32, 2, sh, &t));
	CHECK(t && t->rank == 2 && t->shape[1] == 3 && t->shape != sh);
	CHECK(lathe_tensor_numel(t) == 6 && lathe_rt_numel(t) == 6);
	CHECK(lathe_tensor_nbytes(t) == 24);
	CHECK(((float *)t->data)[5] == 0.0f);
	CHECK_OK(lathe_tensor_alloc(a, LATHE_DT_I64, 0, NULL, &t));
	CHECK(t->rank == 0 && lathe_tensor_nbytes(t) == 8);
	e = lathe_tensor_alloc(a, 99, 2, sh, &t);
	CHECK(e && lathe_error_code(e) == LATHE_EINVAL);
	lathe_error_free(e);
	e = lathe_tensor_alloc(a, LATHE_DT_F32, 3, s5, &t);
	CHECK(e != NULL);
	lathe_error_free(e);
	/* Headers nothing checked (an unverified graph's initializers) may
	 * describe more elements than int64_t holds: counts saturate. */
	int64_t huge[] = {INT64_C(1) << 40, INT64_C(1) << 40, 3};
	t = lathe_tensor_header(a, LATHE_DT_F32, 3, huge);
	CHECK(lathe_tensor_numel(t) == INT64_MAX && lathe_tensor_nbytes(t) == SIZE_MAX);
	int64_t huge0[] = {INT64_C(1) << 40, INT64_C(1) << 40, 0, 3};
	t = lathe_tensor_header(a, LATHE_DT_F32, 4, huge0);
	CHECK(lathe_tensor_numel(t) == 0 && lathe_tensor_nbytes(t) == 0);
	int64_t big[] = {INT64_C(1) << 61, 2};
	t = lathe_tensor_header(a, LATHE_DT_F32, 2, big);
	CHECK(lathe_tensor_numel(t) == INT64_C(1) << 62 && lathe_tensor_nbytes(t) == SIZE_MAX);
	lathe_arena_destroy(a);
}

static void test_file(void)
{
	lathe_mapped_file f;
	lathe_err e = lathe_file_map("/nonexistent/dir/model.onnx", &f);
	CHECK(e && lathe_error_code(e) == LATHE_EIO);
	CHECK(e && strstr(lathe_error_message(e), "/nonexistent/dir/model.onnx"));
	CHECK(e && strstr(lathe_error_message(e), "No such file"));
	lathe_error_free(e);
	e = lathe_file_map("/tmp", &f);
	CHECK(e && strstr(lathe_error_message(e), "directory"));
	lathe_error_free(e);

	char path[] = "/tmp/lathe_test_base_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_OK(lathe_file_map(path, &f));
	CHECK(f.size == 0);
	lathe_file_unmap(&f);
	CHECK(write(fd, "hello", 5) == 5);
	close(fd);
	CHECK_OK(lathe_file_map(path, &f));
	CHECK(f.size == 5 && f.data && !memcmp(f.data, "hello", 5));
	lathe_file_unmap(&f);
	CHECK(f.data == NULL && f.size == 0);
	unlink(path);
}

/* ---- runtime conversions ------------------------------------------------- */

static uint32_t fbits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float bitsf(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static void test_f16(void)
{
	struct {
		float f;
		uint16_t h;
	} known[] = {
		{0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3C00}, {-2.0f, 0xC000},
		{65504.0f, 0x7BFF}, {0.5f, 0x3800}, {0.333251953125f, 0x3555},
		{6.103515625e-05f, 0x0400}, /* smallest normal */
		{5.9604644775390625e-08f, 0x0001}, /* smallest subnormal */
		{6.0975551605224609e-05f, 0x03FF}, /* largest subnormal */
		{INFINITY, 0x7C00}, {-INFINITY, 0xFC00},
	};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		CHECK(lathe_rt_f32_to_f16(known[i].f) == known[i].h);
		CHECK(fbits(lathe_rt_f16_to_f32(known[i].h)) == fbits(known[i].f));
		CHECK(lathe_rt_f64_to_f16(known[i].f) == known[i].h);
	}
	/* Rounding: ties to even, overflow to infinity, underflow to zero. */
	CHECK(lathe_rt_f32_to_f16(1.0f + 1.0f / 2048) == 0x3C00); /* tie, even down */
	CHECK(lathe_rt_f32_to_f16(1.0f + 3.0f / 2048) == 0x3C02); /* tie, even up */
	CHECK(lathe_rt_f32_to_f16(1.0f + 1.0f / 2048 + 1.0f / 65536) == 0x3C01);
	CHECK(lathe_rt_f32_to_f16(65520.0f) == 0x7C00); /* rounds past max */
	CHECK(lathe_rt_f32_to_f16(65519.0f) == 0x7BFF);
	CHECK(lathe_rt_f32_to_f16(1e10f) == 0x7C00);
	CHECK(lathe_rt_f32_to_f16(2.98023223876953125e-08f) == 0x0000); /* half of min: tie to 0 */
	CHECK(lathe_rt_f32_to_f16(2.99e-08f) == 0x0001);
	CHECK(lathe_rt_f32_to_f16(-1e-10f) == 0x8000);
	CHECK(lathe_rt_f32_to_f16(8.940696716308594e-08f) == 0x0002); /* 1.5 ulp: tie to even 2 */
	uint16_t n = lathe_rt_f32_to_f16(NAN);
	CHECK((n & 0x7C00) == 0x7C00 && (n & 0x3FF));
	CHECK(isnan(lathe_rt_f16_to_f32(0x7E00)) && isnan(lathe_rt_f16_to_f32(0xFC01)));
	/* Every finite half survives a round trip through f32 and double. */
	int ok = 1;
	for (uint32_t h = 0; h < 0x10000; h++) {
		if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF))
			continue;
		float f = lathe_rt_f16_to_f32((uint16_t)h);
		ok &= lathe_rt_f32_to_f16(f) == h && lathe_rt_f64_to_f16(f) == h;
	}
	CHECK(ok);
	/* f32 and double paths agree on f32 inputs (a deterministic sweep). */
	ok = 1;
	uint32_t x = 12345;
	for (int i = 0; i < 200000; i++) {
		x = x * 1664525u + 1013904223u;
		float f = bitsf(x);
		if (isnan(f))
			continue;
		ok &= lathe_rt_f32_to_f16(f) == lathe_rt_f64_to_f16(f);
		ok &= lathe_rt_f32_to_bf16(f) == lathe_rt_f64_to_bf16(f);
	}
	CHECK(ok);
	/* Doubles just off a midpoint round the way they lean: no double
	 * rounding through f32 (which would see an exact tie). */
	ok = 1;
	for (uint32_t h = 1; h < 0x7BFF; h += 7) {
		double lo = lathe_rt_f16_to_f32((uint16_t)h), hi = lathe_rt_f16_to_f32((uint16_t)(h + 1));
		double mid = (lo + hi) / 2, eps = ldexp(mid, -40);
		ok &= lathe_rt_f64_to_f16(mid + eps) == h + 1 && lathe_rt_f64_to_f16(mid - eps) == h;
		ok &= lathe_rt_f64_to_f16(-(mid + eps)) == (0x8000 | (h + 1));
	}
	for (uint32_t h = 1; h < 0x7F7F; h += 13) {
		double lo = lathe_rt_bf16_to_f32((uint16_t)h), hi = lathe_rt_bf16_to_f32((uint16_t)(h + 1));
		double mid = (lo + hi) / 2, eps = ldexp(mid, -40);
		ok &= lathe_rt_f64_to_bf16(mid + eps) == h + 1 && lathe_rt_f64_to_bf16(mid - eps) == h;
	}
	CHECK(ok);
}

static void test_bf16(void)
{
	CHECK(lathe_rt_f32_to_bf16(1.0f) == 0x3F80);
	CHECK(lathe_rt_f32_to_bf16(-2.0f) == 0xC000);
	CHECK(lathe_rt_f32_to_bf16(3.140625f) == 0x4049);
	CHECK(lathe_rt_f32_to_bf16(bitsf(0x3F808000)) == 0x3F80); /* tie, even down */
	CHECK(lathe_rt_f32_to_bf16(bitsf(0x3F818000)) == 0x3F82); /* tie, even up */
	CHECK(lathe_rt_f32_to_bf16(bitsf(0x3F808001)) == 0x3F81);
	CHECK(lathe_rt_f32_to_bf16(bitsf(0x7F7FFFFF)) == 0x7F80); /* rounds to inf */
	CHECK(lathe_rt_f32_to_bf16(INFINITY) == 0x7F80);
	CHECK(lathe_rt_f32_to_bf16(-INFINITY) == 0xFF80);
	CHECK(lathe_rt_f32_to_bf16(bitsf(0x00000001)) == 0x0000);
	uint16_t n = lathe_rt_f32_to_bf16(bitsf(0x7F800001)); /* NaN stays NaN */
	CHECK((n & 0x7F80) == 0x7F80 && (n & 0x7F));
	CHECK(lathe_rt_f32_to_bf16(bitsf(0xFFC00000)) == 0xFFC0);
	CHECK(fbits(lathe_rt_bf16_to_f32(0x4049)) == 0x40490000);
	CHECK(lathe_rt_f64_to_bf16(1e300) == 0x7F80);
}

static uint8_t f8(int dt, double v)
{
	return lathe_rt_f64_to_f8(dt, v, 1, LATHE_RT_ROUND_UP);
}

static uint8_t f8ns(int dt, double v)
{
	return lathe_rt_f64_to_f8(dt, v, 0, LATHE_RT_ROUND_UP);
}

static void test_float8(void)
{
	enum { FN = LATHE_DT_F8E4M3FN, FNUZ = LATHE_DT_F8E4M3FNUZ, E5 = LATHE_DT_F8E5M2,
	       E5UZ = LATHE_DT_F8E5M2FNUZ, F4 = LATHE_DT_F4E2M1, E8 = LATHE_DT_F8E8M0 };
	/* E4M3FN: bias 7, max 448 = 0x7E, NaN 0x7F, no infinity. */
	CHECK(f8(FN, 1.0) == 0x38);
	CHECK(f8(FN, -1.0) == 0xB8);
	CHECK(f8(FN, 448) == 0x7E);
	CHECK(f8(FN, 464) == 0x7E); /* saturates */
	CHECK(f8(FN, 1e6) == 0x7E && f8(FN, -1e6) == 0xFE);
	CHECK(f8(FN, INFINITY) == 0x7E && f8(FN, -INFINITY) == 0xFE);
	CHECK(f8(FN, NAN) == 0x7F);
	CHECK(f8(FN, 0.0) == 0x00 && f8(FN, -0.0) == 0x80);
	CHECK(f8(FN, -1e-7) == 0x80);
	CHECK(f8(FN, 0.001953125) == 0x01); /* 2^-9, smallest subnormal */
	CHECK(f8(FN, 0.0009765625) == 0x00); /* half of it: tie to even 0 */
	CHECK(f8(FN, 0.47892547) == 0x2F && f8(FN, 0.49968487) == 0x30); /* ONNX test data */
	CHECK(f8(FN, 0.81910545) == 0x35 && f8(FN, 0.72290379) == 0x34);
	CHECK(f8ns(FN, 1e6) == 0x7F && f8ns(FN, -INFINITY) == 0xFF);
	CHECK(f8ns(FN, 449) == 0x7E); /* rounds down to max: not an overflow */
	CHECK(lathe_rt_f8_to_f64(FN, 0x7E) == 448 && isnan(lathe_rt_f8_to_f64(FN, 0xFF)));
	CHECK(lathe_rt_f8_to_f64(FN, 0x01) == 0.001953125);
	CHECK(signbit(lathe_rt_f8_to_f64(FN, 0x80)));
	/* E4M3FNUZ: bias 8, max 240 = 0x7F, NaN 0x80, no -0. */
	CHECK(f8(FNUZ, 1.0) == 0x40);
	CHECK(f8(FNUZ, 1e6) == 0x7F && f8(FNUZ, -INFINITY) == 0xFF);
	CHECK(f8(FNUZ, NAN) == 0x80 && f8ns(FNUZ, 1e6) == 0x80);
	CHECK(f8(FNUZ, -0.0) == 0x00 && f8(FNUZ, -1e-9) == 0x00);
	CHECK(isnan(lathe_rt_f8_to_f64(FNUZ, 0x80)) && lathe_rt_f8_to_f64(FNUZ, 0x7F) == 240);
	/* E5M2: bias 15, max 57344 = 0x7B, inf 0x7C, NaN 0x7E. */
	CHECK(f8(E5, 1.0) == 0x3C && f8(E5, 0.47892547) == 0x38);
	CHECK(f8(E5, 1e6) == 0x7B && f8(E5, -INFINITY) == 0xFB && f8(E5, NAN) == 0x7E);
	CHECK(f8ns(E5, 1e6) == 0x7C && f8ns(E5, -INFINITY) == 0xFC);
	CHECK(lathe_rt_f8_to_f64(E5, 0x7C) == INFINITY && isnan(lathe_rt_f8_to_f64(E5, 0x7D)));
	CHECK(lathe_rt_f8_to_f64(E5, 0x7B) == 57344);
	/* E5M2FNUZ: bias 16. */
	CHECK(f8(E5UZ, 1.0) == 0x40 && f8(E5UZ, 0.47892547) == 0x3C);
	CHECK(f8(E5UZ, -1e6) == 0xFF && f8(E5UZ, NAN) == 0x80 && f8(E5UZ, -1e-7) == 0x00);
	/* Float4 E2M1: 0 0.5 1 1.5 2 3 4 6, always saturating. */
	CHECK(f8(F4, 0.48) == 0x1 && f8(F4, 0.25) == 0x0 && f8(F4, 1.05) == 0x2);
	CHECK(f8(F4, -3.5) == 0xE && f8(F4, -8) == 0xF && f8(F4, 9) == 0x7);
	CHECK(f8(F4, INFINITY) == 0x7 && f8(F4, -INFINITY) == 0xF && f8(F4, -0.0) == 0x8);
	CHECK(f8(F4, 2.5) == 0x4 && f8(F4, 5) == 0x6); /* ties to even */
	CHECK(f8(F4, NAN) == 0x8); /* as ONNX's reference data has it */
	CHECK(lathe_rt_f8_to_f64(F4, 0x7) == 6 && lathe_rt_f8_to_f64(F4, 0xD) == -3);
	/* E8M0: powers of two, bias 127, 0xFF NaN; Cast rounds up by default. */
	CHECK(f8(E8, 1.0) == 0x7F && f8(E8, 1.1) == 0x80 && f8(E8, 0.124) == 0x7C);
	CHECK(f8(E8, 0.25) == 0x7D && f8(E8, 8) == 0x82 && f8(E8, 0) == 0x00);
	CHECK(f8(E8, NAN) == 0xFF && f8(E8, INFINITY) == 0xFE);
	CHECK(lathe_rt_f64_to_f8(E8, 3.0, 1, LATHE_RT_ROUND_DOWN) == 0x80);
	CHECK(lathe_rt_f64_to_f8(E8, 3.0, 1, LATHE_RT_ROUND_NEAREST) == 0x81);
	CHECK(lathe_rt_f64_to_f8(E8, 2.9, 1, LATHE_RT_ROUND_NEAREST) == 0x80);
	CHECK(lathe_rt_f64_to_f8(E8, 2.4, 1, LATHE_RT_ROUND_NEAREST) == 0x80);
	CHECK(lathe_rt_f64_to_f8(E8, 1e300, 0, LATHE_RT_ROUND_UP) == 0xFF);
	CHECK(lathe_rt_f8_to_f64(E8, 0x7F) == 1.0 && isnan(lathe_rt_f8_to_f64(E8, 0xFF)));
	/* Every non-NaN code of every format round-trips. */
	int dts[] = {FN, FNUZ, E5, E5UZ, F4, E8};
	int ok = 1;
	for (int k = 0; k < 6; k++)
		for (int b = 0; b < (dts[k] == F4 ? 16 : 256); b++) {
			double v = lathe_rt_f8_to_f64(dts[k], (uint8_t)b);
			if (isnan(v) || (dts[k] == E5 && isinf(v)))
				continue;
			ok &= f8(dts[k], v) == b;
		}
	CHECK(ok);
}

static void test_load_store(void)
{
	int64_t shape[] = {8};
	uint8_t raw[8 * 16];
	lathe_tensor t = {LATHE_DT_I4, 1, shape, raw};
	int64_t in[] = {-9, -8, 7, 8, 9, 300, -1, 0};
	int64_t want_i4[] = {7, -8, 7, -8, -7, -4, -1, 0};
	for (int i = 0; i < 8; i++)
		lathe_rt_store_i64(&t, i, in[i]);
	int ok = 1;
	for (int i = 0; i < 8; i++)
		ok &= lathe_rt_load_i64(&t, i) == want_i4[i] && lathe_rt_load_f64(&t, i) == want_i4[i];
	CHECK(ok);
	t.dtype = LATHE_DT_U4;
	int64_t want_u4[] = {7, 8, 7, 8, 9, 12, 15, 0};
	for (int i = 0; i < 8; i++)
		lathe_rt_store_f64(&t, i, (double)in[i]);
	ok = 1;
	for (int i = 0; i < 8; i++)
		ok &= lathe_rt_load_i64(&t, i) == want_u4[i];
	CHECK(ok);
	t.dtype = LATHE_DT_I2;
	int64_t want_i2[] = {-1, 0, -1, 0, 1, 0, -1, 0};
	for (int i = 0; i < 8; i++)
		lathe_rt_store_i64(&t, i, in[i]);
	ok = 1;
	for (int i = 0; i < 8; i++)
		ok &= lathe_rt_load_i64(&t, i) == want_i2[i];
	CHECK(ok);
	t.dtype = LATHE_DT_U2;
	lathe_rt_store_i64(&t, 0, -1);
	CHECK(lathe_rt_load_i64(&t, 0) == 3 && raw[0] == 3);

	/* Float to int truncates; NaN to 0; out-of-range does not trap. */
	t.dtype = LATHE_DT_I32;
	lathe_rt_store_f64(&t, 0, -2.7);
	CHECK(lathe_rt_load_i64(&t, 0) == -2);
	lathe_rt_store_f64(&t, 1, NAN);
	CHECK(lathe_rt_load_i64(&t, 1) == 0);
	lathe_rt_store_f64(&t, 2, 1e300);
	lathe_rt_store_i64(&t, 3, 200 + 65536LL * 65536);
	CHECK(lathe_rt_load_i64(&t, 3) == 200);
	t.dtype = LATHE_DT_I8;
	lathe_rt_store_i64(&t, 0, 200);
	CHECK(lathe_rt_load_i64(&t, 0) == -56); /* ONNX's example */
	t.dtype = LATHE_DT_U64;
	lathe_rt_store_f64(&t, 0, 1.8e19);
	CHECK(((uint64_t *)raw)[0] == 18000000000000000000ull);
	lathe_rt_store_i64(&t, 1, -1);
	CHECK(((uint64_t *)raw)[1] == UINT64_MAX);
	t.dtype = LATHE_DT_BOOL;
	lathe_rt_store_f64(&t, 0, 0.25);
	lathe_rt_store_f64(&t, 1, -0.0);
	lathe_rt_store_i64(&t, 2, -7);
	lathe_rt_store_f64(&t, 3, NAN);
	CHECK(raw[0] == 1 && raw[1] == 0 && raw[2] == 1 && raw[3] == 1);

	/* Floats. */
	t.dtype = LATHE_DT_F16;
	lathe_rt_store_f64(&t, 0, 1.0);
	lathe_rt_store_i64(&t, 1, 70000);
	CHECK(((uint16_t *)raw)[0] == 0x3C00 && ((uint16_t *)raw)[1] == 0x7C00);
	CHECK(lathe_rt_load_f64(&t, 0) == 1.0 && lathe_rt_load_i64(&t, 0) == 1);
	t.dtype = LATHE_DT_BF16;
	lathe_rt_store_f64(&t, 0, -2.0);
	CHECK(((uint16_t *)raw)[0] == 0xC000 && lathe_rt_load_f64(&t, 0) == -2.0);
	t.dtype = LATHE_DT_F8E4M3FN;
	lathe_rt_store_f64(&t, 0, 1000);
	lathe_rt_store_i64(&t, 1, -1);
	CHECK(raw[0] == 0x7E && raw[1] == 0xB8 && lathe_rt_load_f64(&t, 0) == 448);
	t.dtype = LATHE_DT_F8E8M0;
	lathe_rt_store_f64(&t, 0, 1.1);
	CHECK(raw[0] == 0x80 && lathe_rt_load_f64(&t, 0) == 2.0);
	t.dtype = LATHE_DT_C64;
	lathe_rt_store_f64(&t, 1, 2.5);
	CHECK(((float *)raw)[2] == 2.5f && ((float *)raw)[3] == 0 && lathe_rt_load_f64(&t, 1) == 2.5);
	t.dtype = LATHE_DT_F64;
	lathe_rt_store_i64(&t, 0, INT64_MIN);
	CHECK(lathe_rt_load_i64(&t, 0) == INT64_MIN);
	lathe_rt_store_f64(&t, 1, 1e30);
	CHECK(lathe_rt_load_i64(&t, 1) == INT64_MAX);
	t.dtype = LATHE_DT_I64;
	lathe_rt_store_i64(&t, 0, INT64_MAX);
	CHECK(lathe_rt_load_i64(&t, 0) == INT64_MAX);
}

int main(void)
{
	test_status();
	test_try();
	test_arena();
	test_vec_buf();
	test_map();
	test_dtype();
	test_numel();
	test_file();
	test_f16();
	test_bf16();
	test_float8();
	test_load_store();
	return CHECK_DONE("base");
}
