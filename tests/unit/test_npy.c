/* test_npy.c: the .npy reader and writer: write -> read round trips for
 * every element type, hand-made files in the other versions and byte order,
 * and rejection (never a crash) of truncated, garbled and hostile files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/npy.h"
#include "check.h"

/* A .npy image: magic, version, header length, header, data. */
static size_t make_npy(uint8_t *out, int major, const char *header, const void *data,
		       size_t n)
{
	size_t hl = strlen(header), off = major == 1 ? 10 : 12;
	memcpy(out, "\x93NUMPY", 6);
	out[6] = (uint8_t)major;
	out[7] = 0;
	out[8] = (uint8_t)hl;
	out[9] = (uint8_t)(hl >> 8);
	if (major != 1) {
		out[10] = (uint8_t)(hl >> 16);
		out[11] = (uint8_t)(hl >> 24);
	}
	memcpy(out + off, header, hl);
	if (n)
		memcpy(out + off + hl, data, n);
	return off + hl + n;
}

static lathe_err read_buf(lathe_arena *a, const uint8_t *p, size_t n, lathe_tensor **t)
{
	return lathe_npy_read_mem(a, p, n, "t.npy", t);
}

/* Expects failure and a message holding `part`. */
static void check_rejects(const uint8_t *p, size_t n, const char *part)
{
	lathe_arena *a = lathe_arena_create();
	lathe_tensor *t = NULL;
	lathe_err e = read_buf(a, p, n, &t);
	CHECK(e != NULL);
	if (e) {
		const char *m = lathe_error_message(e);
		CHECK(strstr(m, "t.npy") != NULL);
		if (part && !strstr(m, part)) {
			fprintf(stderr, "  message '%s' lacks '%s'\n", m, part);
			CHECK(0);
		}
	}
	lathe_error_free(e);
	lathe_arena_destroy(a);
}

static void test_roundtrip_numeric(void)
{
	static const int dts[] = {
		LATHE_DT_F32, LATHE_DT_F64, LATHE_DT_F16, LATHE_DT_I8, LATHE_DT_I16,
		LATHE_DT_I32, LATHE_DT_I64, LATHE_DT_U8, LATHE_DT_U16, LATHE_DT_U32,
		LATHE_DT_U64, LATHE_DT_BOOL, LATHE_DT_C64, LATHE_DT_C128,
		/* stored as their raw storage type */
		LATHE_DT_BF16, LATHE_DT_F8E4M3FN, LATHE_DT_F8E5M2FNUZ, LATHE_DT_F8E8M0,
		LATHE_DT_F4E2M1, LATHE_DT_I4, LATHE_DT_U4, LATHE_DT_I2, LATHE_DT_U2,
	};
	static const int back[] = {
		LATHE_DT_F32, LATHE_DT_F64, LATHE_DT_F16, LATHE_DT_I8, LATHE_DT_I16,
		LATHE_DT_I32, LATHE_DT_I64, LATHE_DT_U8, LATHE_DT_U16, LATHE_DT_U32,
		LATHE_DT_U64, LATHE_DT_BOOL, LATHE_DT_C64, LATHE_DT_C128,
		LATHE_DT_U16, LATHE_DT_U8, LATHE_DT_U8, LATHE_DT_U8,
		LATHE_DT_U8, LATHE_DT_I8, LATHE_DT_U8, LATHE_DT_I8, LATHE_DT_U8,
	};
	char path[] = "/tmp/lathe_test_npy_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	int64_t shapes[][3] = {{2, 3, 1}, {7, 0, 0}, {0, 3, 0}, {0, 0, 0}};
	int ranks[] = {3, 1, 2, 0};
	for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++)
		for (int s = 0; s < 4; s++) {
			lathe_arena *a = lathe_arena_create();
			lathe_tensor *t = NULL, *r = NULL;
			CHECK_OK(lathe_tensor_alloc(a, dts[k], ranks[s], shapes[s], &t));
			size_t nb = lathe_tensor_nbytes(t);
			uint8_t *d = t->data;
			for (size_t i = 0; i < nb; i++)
				d[i] = (uint8_t)(i * 37 + k);
			if (dts[k] == LATHE_DT_BOOL)
				for (size_t i = 0; i < nb; i++)
					d[i] &= 1;
			CHECK_OK(lathe_npy_write(path, t));
			lathe_err e = lathe_npy_read(a, path, &r);
			CHECK_OK(e);
			if (e || !r)
				goto next;
			CHECK(r->dtype == back[k]);
			CHECK(r->rank == t->rank);
			CHECK(!memcmp(r->shape, t->shape, sizeof(int64_t) * (size_t)t->rank));
			CHECK(lathe_tensor_nbytes(r) == nb && !memcmp(r->data, t->data, nb));
		next:
			lathe_arena_destroy(a);
		}
	unlink(path);
}

static void test_roundtrip_str(void)
{
	lathe_arena *a = lathe_arena_create();
	int64_t shape[] = {2, 2};
	lathe_tensor *t = NULL, *r = NULL;
	CHECK_OK(lathe_tensor_alloc(a, LATHE_DT_STR, 2, shape, &t));
	const char *words[] = {"h\xC3\xA9llo", "", "\xE6\x97\xA5\xE6\x9C\xAC", "\xF0\x9F\x98\x80 ok"};
	char **s = t->data;
	for (int i = 0; i < 4; i++)
		s[i] = (char *)words[i];
	lathe_buf b = {0};
	CHECK_OK(lathe_npy_encode(t, &b));
	CHECK((b.len - 80) % 64 == 0); /* header padded; 4 elements of <U5 */
	CHECK(strstr(b.data + 10, "'descr': '<U5'") != NULL);
	CHECK_OK(read_buf(a, (const uint8_t *)b.data, b.len, &r));
	if (r) {
		CHECK(r->dtype == LATHE_DT_STR && r->rank == 2 && r->shape[1] == 2);
		char **rs = r->data;
		for (int i = 0; i < 4; i++)
			CHECK_STR(rs[i], words[i]);
	}
	lathe_buf_free(&b);
	/* Invalid UTF-8 is refused on write. */
	s[1] = "\xC3";
	lathe_err e = lathe_npy_encode(t, &b);
	CHECK(e && strstr(lathe_error_message(e), "UTF-8"));
	lathe_error_free(e);
	lathe_buf_free(&b);
	lathe_arena_destroy(a);
}

static void test_handmade(void)
{
	uint8_t buf[512];
	lathe_arena *a = lathe_arena_create();
	lathe_tensor *t = NULL;
	/* Big-endian int32, version 2.0, keys in another order, 'L' suffixes. */
	const uint8_t be[] = {0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE, 0x12, 0x34, 0x56, 0x78};
	size_t n = make_npy(buf, 2, "{'shape': (3L,), 'fortran_order': False, 'descr': '>i4'}\n",
			    be, sizeof be);
	CHECK_OK(read_buf(a, buf, n, &t));
	if (t) {
		int32_t *v = t->data;
		CHECK(t->dtype == LATHE_DT_I32 && t->rank == 1 && t->shape[0] == 3);
		CHECK(v[0] == 1 && v[1] == -2 && v[2] == 0x12345678);
	}
	/* Big-endian complex64: each half swapped on its own. */
	const uint8_t bc[] = {0x3F, 0x80, 0, 0, 0xC0, 0, 0, 0};
	n = make_npy(buf, 1, "{\"descr\": \">c8\", \"fortran_order\": False, \"shape\": ()}", bc, 8);
	t = NULL;
	CHECK_OK(read_buf(a, buf, n, &t));
	if (t) {
		float *v = t->data;
		CHECK(t->dtype == LATHE_DT_C64 && t->rank == 0 && v[0] == 1.0f && v[1] == -2.0f);
	}
	/* Version 3.0, big-endian UTF-32 text padded with NULs. */
	const uint8_t bu[] = {0, 0, 0, 'a', 0, 0, 0, 0xE9, 0, 0, 0, 0,
			      0, 1, 0xF6, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
	n = make_npy(buf, 3, "{'descr': '>U3', 'fortran_order': False, 'shape': (2,), }", bu,
		     sizeof bu);
	t = NULL;
	CHECK_OK(read_buf(a, buf, n, &t));
	if (t) {
		char **s = t->data;
		CHECK(t->dtype == LATHE_DT_STR);
		CHECK_STR(s[0], "a\xC3\xA9");
		CHECK_STR(s[1], "\xF0\x9F\x98\x80");
	}
	/* Bytes strings. */
	n = make_npy(buf, 1, "{'descr': '|S4', 'fortran_order': False, 'shape': (2,)}",
		     "ab\0\0wxyz", 8);
	t = NULL;
	CHECK_OK(read_buf(a, buf, n, &t));
	if (t) {
		char **s = t->data;
		CHECK_STR(s[0], "ab");
		CHECK_STR(s[1], "wxyz");
	}
	/* Fortran order is harmless for rank 1, refused above. */
	const float f3[] = {1, 2, 3};
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3,)}", f3, 12);
	t = NULL;
	CHECK_OK(read_buf(a, buf, n, &t));
	CHECK(t && ((float *)t->data)[2] == 3.0f);
	const float f4[] = {1, 2, 3, 4};
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)}", f4, 16);
	check_rejects(buf, n, "Fortran-order arrays are not supported");
	/* Scalar bool written as '?'-less '|b1', and '<' on one-byte types. */
	n = make_npy(buf, 1, "{'descr': '<u1', 'fortran_order': False, 'shape': ()}", "\x07", 1);
	t = NULL;
	CHECK_OK(read_buf(a, buf, n, &t));
	CHECK(t && t->dtype == LATHE_DT_U8 && *(uint8_t *)t->data == 7);
	lathe_arena_destroy(a);

	lathe_err e = lathe_npy_read(a, "/nonexistent/x.npy", &t);
	CHECK(e && strstr(lathe_error_message(e), "/nonexistent/x.npy"));
	lathe_error_free(e);
}

static void test_rejects(void)
{
	uint8_t buf[1024];
	const float f6[6] = {0};
	size_t n;
	check_rejects((const uint8_t *)"", 0, "bad magic");
	check_rejects((const uint8_t *)"PK\3\4xxxxxxxxxxxx", 16, "bad magic");
	n = make_npy(buf, 4, "{}", NULL, 0);
	check_rejects(buf, n, "version");
	/* Header length past the end of the file. */
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", f6, 24);
	buf[9] = 0x7F;
	check_rejects(buf, n, "truncated");
	/* Data too short, then too long. */
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", f6, 20);
	check_rejects(buf, n, "need 24");
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", f6, 24);
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}", f6, 24);
	check_rejects(buf, n, "need 16");
	/* Header shapes and syntax. */
	const char *bad[][2] = {
		{"{'descr': '<f4', 'fortran_order': False}", "lacks"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "shape"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "shape"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "tuple"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "absurd"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576)}", "too large"},
		{"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (6,)}", "fortran_order"},
		{"{'descr': <f4, 'fortran_order': False, 'shape': (6,)}", "descr"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'extra': 1}", "key"},
		{"['descr', '<f4']", "dict"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)", "header"},
		{"{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}", "header"},
		{"{'descr': '<f3', 'fortran_order': False, 'shape': (6,)}", "dtype"},
		{"{'descr': '<', 'fortran_order': False, 'shape': (6,)}", "dtype"},
		{"{'descr': '', 'fortran_order': False, 'shape': (6,)}", "dtype"},
		{"{'descr': '|O', 'fortran_order': False, 'shape': (6,)}", "object"},
		{"{'descr': '<U0', 'fortran_order': False, 'shape': (6,)}", "dtype"},
		{"{'descr': '<U99999999999', 'fortran_order': False, 'shape': (6,)}", "dtype"},
		{"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,)}", "structured"},
		{"{'descr': '<f4\\n', 'fortran_order': False, 'shape': (6,)}", NULL},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': ((6,),)}", "shape"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = make_npy(buf, 1, bad[i][0], f6, 24);
		check_rejects(buf, n, bad[i][1]);
	}
	/* 65 dimensions. */
	char h[400] = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
	for (int i = 0; i < 65; i++)
		strcat(h, "1,");
	strcat(h, ")}");
	n = make_npy(buf, 1, h, f6, 4);
	check_rejects(buf, n, "64");
	/* A code point past Unicode. */
	const uint8_t cp[] = {0, 0, 0x11, 0};
	n = make_npy(buf, 1, "{'descr': '<U1', 'fortran_order': False, 'shape': (1,)}", cp, 4);
	check_rejects(buf, n, "code point");
}

/* Every prefix of a valid file, and many random corruptions of it, fail
 * cleanly or succeed: never crash (run under the sanitizers). */
static void test_fuzz(void)
{
	lathe_arena *a = lathe_arena_create();
	int64_t shape[] = {3, 5};
	lathe_tensor *t = NULL;
	CHECK_OK(lathe_tensor_alloc(a, LATHE_DT_I16, 2, shape, &t));
	lathe_buf b = {0};
	CHECK_OK(lathe_npy_encode(t, &b));
	int ok = 1;
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
		memcpy(copy, b.data, n);
		lathe_tensor *r = NULL;
		lathe_err e = read_buf(a, copy, n, &r);
		ok &= e != NULL;
		lathe_error_free(e);
		free(copy);
	}
	CHECK(ok);
	uint32_t x = 2024;
	int accepted = 0;
	for (int it = 0; it < 20000; it++) {
		uint8_t *copy = malloc(b.len);
		memcpy(copy, b.data, b.len);
		int flips = 1 + it % 4;
		for (int k = 0; k < flips; k++) {
			x = x * 1664525u + 1013904223u;
			size_t at = (x >> 8) % (b.len < 128 ? b.len : 128);
			x = x * 1664525u + 1013904223u;
			copy[at] = (uint8_t)(x >> 24);
		}
		lathe_arena *s = lathe_arena_create();
		lathe_tensor *r = NULL;
		lathe_err e = read_buf(s, copy, b.len, &r);
		accepted += e == NULL;
		lathe_error_free(e);
		lathe_arena_destroy(s);
		free(copy);
	}
	CHECK(accepted > 0 && accepted < 20000);
	lathe_buf_free(&b);
	lathe_arena_destroy(a);
}

int main(void)
{
	test_roundtrip_numeric();
	test_roundtrip_str();
	test_handmade();
	test_rejects();
	test_fuzz();
	return CHECK_DONE("npy");
}
