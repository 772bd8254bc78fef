/* npy.c: the .npy reader and writer (see npy.h for what is accepted).
 *
 * Layout of a file: "\x93NUMPY", major, minor, a header length (2 bytes
 * little-endian for 1.0, 4 bytes for 2.0/3.0), the header (a Python dict
 * literal with keys 'descr', 'fortran_order', 'shape', space-padded and
 * ending in '\n'), then the raw C-order data.  The reader is a bounds-
 * checked cursor over the bytes: a small parser for that dict literal, then
 * one size check (numel * itemsize must equal the bytes that follow) before
 * anything is allocated, so truncated or hostile files fail cleanly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/npy.h"

#define NPY_MAX_RANK 64
#define NPY_MAX_HEADER ((size_t)1 << 20)
/* Code points of one U<n> element; keeps numel * itemsize below 2^63. */
#define NPY_MAX_STRLEN ((int64_t)1 << 20)

/* What the descr string says. */
struct descr {
	int dtype;       /* LATHE_DT_* of the result */
	size_t itemsize; /* bytes of one element in the file */
	int swap;        /* bytes must be reversed (per scalar) */
	char kind;       /* 'f','i','u','b','c','U','S' */
};

static int host_is_little(void)
{
	uint16_t x = 1;
	uint8_t b;
	memcpy(&b, &x, 1);
	return b == 1;
}

/* ---- header dict parser -------------------------------------------------- */

struct cur {
	const char *p, *end;
};

static void skip_ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int eat(struct cur *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

/* A quoted Python string without escapes (NumPy never writes any in these
 * headers); the result points into the header. */
static int parse_str(struct cur *c, const char **s, size_t *n)
{
	skip_ws(c);
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
		return 0;
	char q = *c->p++;
	const char *start = c->p;
	while (c->p < c->end && *c->p != q) {
		if (*c->p == '\\')
			return 0;
		c->p++;
	}
	if (c->p >= c->end)
		return 0;
	*s = start;
	*n = (size_t)(c->p - start);
	c->p++;
	return 1;
}

static int parse_word(struct cur *c, const char *w)
{
	skip_ws(c);
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n))
		return 0;
	c->p += n;
	return 1;
}

/* "(3, 4)", "(3,)", "()"; ints may carry Python 2's 'L' suffix. */
static int parse_shape(struct cur *c, int *rank, int64_t *shape, const char **why)
{
	*rank = 0;
	if (!eat(c, '(')) {
		*why = "'shape' is not a tuple";
		return 0;
	}
	for (;;) {
		if (eat(c, ')'))
			return 1;
		skip_ws(c);
		if (c->p >= c->end || *c->p < '0' || *c->p > '9') {
			*why = "'shape' holds something other than non-negative integers";
			return 0;
		}
		int64_t v = 0;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			if (v > ((int64_t)1 << 50)) {
				*why = "a dimension in 'shape' is absurdly large";
				return 0;
			}
			v = v * 10 + (*c->p++ - '0');
		}
		if (c->p < c->end && (*c->p == 'L' || *c->p == 'l'))
			c->p++;
		if (*rank >= NPY_MAX_RANK) {
			*why = "'shape' has more than 64 dimensions";
			return 0;
		}
		shape[(*rank)++] = v;
		if (eat(c, ')'))
			return 1;
		if (!eat(c, ',')) {
			*why = "'shape' is not a well-formed tuple";
			return 0;
		}
	}
}

static lathe_err parse_descr(const char *s, size_t n, const char *what, struct descr *d)
{
	char text[64];
	if (n == 0 || n >= sizeof text)
		return lathe_error(LATHE_EUNSUPPORTED, "%s: unsupported dtype descr of %zu characters",
				   what, n);
	memcpy(text, s, n);
	text[n] = '\0';
	char order = text[0];
	const char *t = text;
	if (order == '<' || order == '>' || order == '|' || order == '=')
		t++;
	else
		order = '=';
	if (!*t)
		return lathe_error(LATHE_EUNSUPPORTED, "%s: unsupported dtype '%s'", what, text);
	char kind = *t++;
	int64_t size = 0;
	if (!*t && kind == '?')
		size = 1;
	for (; *t; t++) {
		if (*t < '0' || *t > '9' || size > NPY_MAX_STRLEN * 4)
			return lathe_error(LATHE_EUNSUPPORTED, "%s: unsupported dtype '%s'", what, text);
		size = size * 10 + (*t - '0');
	}
	int dt = -1;
	switch (kind) {
	case 'f': dt = size == 2 ? LATHE_DT_F16 : size == 4 ? LATHE_DT_F32 : size == 8 ? LATHE_DT_F64 : -1; break;
	case 'i': dt = size == 1 ? LATHE_DT_I8 : size == 2 ? LATHE_DT_I16 : size == 4 ? LATHE_DT_I32 : size == 8 ? LATHE_DT_I64 : -1; break;
	case 'u': dt = size == 1 ? LATHE_DT_U8 : size == 2 ? LATHE_DT_U16 : size == 4 ? LATHE_DT_U32 : size == 8 ? LATHE_DT_U64 : -1; break;
	case 'b': case '?': dt = size == 1 ? LATHE_DT_BOOL : -1; kind = 'b'; break;
	case 'c': dt = size == 8 ? LATHE_DT_C64 : size == 16 ? LATHE_DT_C128 : -1; break;
	case 'U':
		if (size < 1 || size > NPY_MAX_STRLEN)
			return lathe_error(LATHE_EUNSUPPORTED, "%s: unsupported string dtype '%s'", what, text);
		dt = LATHE_DT_STR;
		size *= 4;
		break;
	case 'S':
		if (size < 1 || size > NPY_MAX_STRLEN)
			return lathe_error(LATHE_EUNSUPPORTED, "%s: unsupported string dtype '%s'", what, text);
		dt = LATHE_DT_STR;
		break;
	case 'O':
		return lathe_error(LATHE_EUNSUPPORTED,
				   "%s: object arrays (pickled Python objects) are not supported", what);
	}
	if (dt < 0)
		return lathe_error(LATHE_EUNSUPPORTED, "%s: unsupported dtype '%s'", what, text);
	int little = host_is_little();
	d->dtype = dt;
	d->itemsize = (size_t)size;
	d->kind = kind;
	d->swap = (order == '>' && little) || (order == '<' && !little);
	return NULL;
}

/* ---- reader -------------------------------------------------------------- */

static void swap_bytes(uint8_t *p, size_t count, size_t width)
{
	for (size_t i = 0; i < count; i++, p += width)
		for (size_t j = 0; j < width / 2; j++) {
			uint8_t t = p[j];
			p[j] = p[width - 1 - j];
			p[width - 1 - j] = t;
		}
}

static size_t utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static lathe_err read_strings(lathe_arena *a, const uint8_t *src, int64_t numel,
			      const struct descr *d, const char *what, char **dst)
{
	int little = d->swap ? !host_is_little() : host_is_little();
	for (int64_t i = 0; i < numel; i++) {
		const uint8_t *e = src + (size_t)i * d->itemsize;
		if (d->kind == 'S') {
			size_t n = d->itemsize;
			while (n > 0 && e[n - 1] == 0)
				n--;
			dst[i] = lathe_arena_strndup(a, (const char *)e, n);
			continue;
		}
		size_t n = d->itemsize / 4;
		/* Trailing NULs are padding, as NumPy reads them. */
		while (n > 0 && !memcmp(e + 4 * (n - 1), "\0\0\0\0", 4))
			n--;
		char *s = lathe_arena_alloc(a, 4 * n + 1), *o = s;
		for (size_t k = 0; k < n; k++) {
			const uint8_t *q = e + 4 * k;
			uint32_t cp = little ? (uint32_t)q[0] | (uint32_t)q[1] << 8 |
						       (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24
					     : (uint32_t)q[3] | (uint32_t)q[2] << 8 |
						       (uint32_t)q[1] << 16 | (uint32_t)q[0] << 24;
			if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
				return lathe_error(LATHE_EINVAL,
						   "%s: string element %lld holds an invalid code point 0x%X",
						   what, (long long)i, (unsigned)cp);
			o += utf8_put(o, cp);
		}
		*o = '\0';
		dst[i] = s;
	}
	return NULL;
}

lathe_err lathe_npy_read_mem(lathe_arena *a, const uint8_t *data, size_t size,
			     const char *what, lathe_tensor **out)
{
	if (!what)
		what = "<npy>";
	if (size < 10 || memcmp(data, "\x93NUMPY", 6))
		return lathe_error(LATHE_EINVAL, "%s: not a .npy file (bad magic)", what);
	unsigned major = data[6], minor = data[7];
	size_t hlen, off;
	if (major == 1) {
		hlen = (size_t)data[8] | (size_t)data[9] << 8;
		off = 10;
	} else if (major == 2 || major == 3) {
		if (size < 12)
			return lathe_error(LATHE_EINVAL, "%s: truncated .npy header", what);
		hlen = (size_t)data[8] | (size_t)data[9] << 8 | (size_t)data[10] << 16 |
		       (size_t)data[11] << 24;
		off = 12;
	} else {
		return lathe_error(LATHE_EUNSUPPORTED, "%s: unsupported .npy format version %u.%u",
				   what, major, minor);
	}
	if (hlen > NPY_MAX_HEADER)
		return lathe_error(LATHE_EINVAL, "%s: .npy header length %zu is absurd", what, hlen);
	if (hlen > size - off)
		return lathe_error(LATHE_EINVAL,
				   "%s: truncated .npy header (says %zu bytes, file has %zu after the prefix)",
				   what, hlen, size - off);

	struct cur c = {(const char *)data + off, (const char *)data + off + hlen};
	const char *dstr = NULL;
	size_t dlen = 0;
	int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0, rank = 0;
	int64_t shape[NPY_MAX_RANK];
	const char *why = NULL;
	if (!eat(&c, '{'))
		return lathe_error(LATHE_EINVAL, "%s: .npy header is not a dict", what);
	while (!eat(&c, '}')) {
		const char *key;
		size_t klen;
		if (!parse_str(&c, &key, &klen) || !eat(&c, ':')) {
			why = "expected a quoted key and ':'";
			break;
		}
		if (klen == 5 && !memcmp(key, "descr", 5)) {
			skip_ws(&c);
			if (c.p < c.end && *c.p == '[')
				return lathe_error(LATHE_EUNSUPPORTED,
						   "%s: structured dtypes are not supported", what);
			if (!parse_str(&c, &dstr, &dlen)) {
				why = "'descr' is not a string";
				break;
			}
			have_descr = 1;
		} else if (klen == 13 && !memcmp(key, "fortran_order", 13)) {
			if (parse_word(&c, "True"))
				fortran = 1;
			else if (parse_word(&c, "False"))
				fortran = 0;
			else {
				why = "'fortran_order' is not True or False";
				break;
			}
			have_order = 1;
		} else if (klen == 5 && !memcmp(key, "shape", 5)) {
			if (!parse_shape(&c, &rank, shape, &why))
				break;
			have_shape = 1;
		} else {
			why = "unexpected key";
			break;
		}
		if (!eat(&c, ',')) {
			if (!eat(&c, '}'))
				why = "expected ',' or '}'";
			break;
		}
	}
	if (why)
		return lathe_error(LATHE_EINVAL, "%s: cannot parse .npy header: %s", what, why);
	if (!have_descr || !have_order || !have_shape)
		return lathe_error(LATHE_EINVAL,
				   "%s: .npy header lacks one of 'descr', 'fortran_order', 'shape'", what);
	if (fortran && rank > 1)
		return lathe_error(LATHE_EUNSUPPORTED, "%s: Fortran-order arrays are not supported",
				   what);

	struct descr d = {0};
	LATHE_TRY(parse_descr(dstr, dlen, what, &d));
	int64_t numel;
	LATHE_TRYF(lathe_shape_numel(rank, shape, &numel), "%s", what);
	size_t avail = size - off - hlen;
	/* numel <= 2^40 and itemsize <= 2^22: the product fits in 64 bits. */
	uint64_t need = (uint64_t)numel * d.itemsize;
	if (need != avail)
		return lathe_error(LATHE_EINVAL,
				   "%s: .npy data is %zu bytes but its shape and dtype '%.*s' need %llu",
				   what, avail, (int)dlen, dstr, (unsigned long long)need);

	lathe_tensor *t;
	LATHE_TRYF(lathe_tensor_alloc(a, d.dtype, rank, shape, &t), "%s", what);
	const uint8_t *src = data + off + hlen;
	if (d.dtype == LATHE_DT_STR) {
		LATHE_TRY(read_strings(a, src, numel, &d, what, t->data));
	} else {
		if (need)
			memcpy(t->data, src, (size_t)need);
		if (d.swap) {
			size_t w = d.kind == 'c' ? d.itemsize / 2 : d.itemsize;
			swap_bytes(t->data, (size_t)need / w, w);
		}
	}
	*out = t;
	return NULL;
}

lathe_err lathe_npy_read(lathe_arena *a, const char *path, lathe_tensor **out)
{
	lathe_mapped_file f;
	LATHE_TRY(lathe_file_map(path, &f));
	lathe_err e = lathe_npy_read_mem(a, f.data, f.size, path, out);
	lathe_file_unmap(&f);
	return e;
}

/* ---- writer -------------------------------------------------------------- */

static void buf_append(lathe_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = lathe_xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Decodes one UTF-8 sequence; returns its length or 0 if malformed. */
static size_t utf8_get(const unsigned char *s, uint32_t *cp)
{
	unsigned c = s[0];
	size_t n;
	uint32_t v;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xE0) == 0xC0) {
		n = 2, v = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3, v = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4, v = c & 0x07;
	} else {
		return 0;
	}
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[k] & 0x3F);
	}
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (v < min[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

static lathe_err str_len(const char *s, int64_t i, size_t *n)
{
	*n = 0;
	if (!s)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp;
		size_t k = utf8_get(p, &cp);
		if (!k)
			return lathe_error(LATHE_EINVAL, "string element %lld is not valid UTF-8",
					   (long long)i);
		p += k;
		(*n)++;
	}
	return NULL;
}

static const char *write_descr(int dtype)
{
	switch (dtype) {
	case LATHE_DT_F32: return "<f4";
	case LATHE_DT_F64: return "<f8";
	case LATHE_DT_F16: return "<f2";
	case LATHE_DT_I8: return "|i1";
	case LATHE_DT_I16: return "<i2";
	case LATHE_DT_I32: return "<i4";
	case LATHE_DT_I64: return "<i8";
	case LATHE_DT_U8: return "|u1";
	case LATHE_DT_U16: return "<u2";
	case LATHE_DT_U32: return "<u4";
	case LATHE_DT_U64: return "<u8";
	case LATHE_DT_BOOL: return "|b1";
	case LATHE_DT_C64: return "<c8";
	case LATHE_DT_C128: return "<c16";
	case LATHE_DT_BF16: return "<u2";
	case LATHE_DT_F8E4M3FN: case LATHE_DT_F8E4M3FNUZ: case LATHE_DT_F8E5M2:
	case LATHE_DT_F8E5M2FNUZ: case LATHE_DT_F8E8M0: case LATHE_DT_F4E2M1:
	case LATHE_DT_U4: case LATHE_DT_U2:
		return "|u1";
	case LATHE_DT_I4: case LATHE_DT_I2: return "|i1";
	}
	return NULL;
}

lathe_err lathe_npy_encode(const lathe_tensor *t, lathe_buf *out)
{
	int64_t numel;
	if (t->rank < 0 || t->rank > NPY_MAX_RANK)
		return lathe_error(LATHE_EINVAL, "cannot write a tensor of rank %d as .npy",
				   (int)t->rank);
	LATHE_TRY(lathe_shape_numel(t->rank, t->shape, &numel));
	char descr[32];
	size_t maxlen = 1;
	if (t->dtype == LATHE_DT_STR) {
		char *const *s = t->data;
		for (int64_t i = 0; i < numel; i++) {
			size_t n;
			LATHE_TRY(str_len(s[i], i, &n));
			if (n > maxlen)
				maxlen = n;
		}
		if ((uint64_t)maxlen * 4 * (uint64_t)numel > ((uint64_t)1 << 44))
			return lathe_error(LATHE_ENOMEM, "string tensor too large to write as .npy");
		snprintf(descr, sizeof descr, "<U%zu", maxlen);
	} else {
		const char *d = write_descr(t->dtype);
		if (!d)
			return lathe_error(LATHE_EUNSUPPORTED,
					   "cannot write element type %s as .npy",
					   lathe_dtype_name(t->dtype));
		snprintf(descr, sizeof descr, "%s", d);
	}

	lathe_buf h = {0};
	lathe_buf_printf(&h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
	/* Python's tuple syntax: "()", "(3,)", "(3, 4)". */
	for (int i = 0; i < t->rank; i++)
		lathe_buf_printf(&h, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
	lathe_buf_puts(&h, t->rank == 1 ? ",), }" : "), }");
	/* Pad with spaces so that the data starts 64-byte aligned; '\n' last. */
	int v2 = h.len + 1 + 10 > 65535;
	size_t pre = v2 ? 12 : 10;
	size_t total = pre + h.len + 1;
	size_t pad = (64 - total % 64) % 64;
	for (size_t i = 0; i < pad; i++)
		lathe_buf_puts(&h, " ");
	lathe_buf_puts(&h, "\n");

	uint8_t prefix[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (uint8_t)(v2 ? 2 : 1), 0};
	size_t hl = h.len;
	prefix[8] = (uint8_t)hl;
	prefix[9] = (uint8_t)(hl >> 8);
	if (v2) {
		prefix[10] = (uint8_t)(hl >> 16);
		prefix[11] = (uint8_t)(hl >> 24);
	}
	buf_append(out, prefix, pre);
	buf_append(out, h.data, h.len);
	lathe_buf_free(&h);

	int little = host_is_little();
	if (t->dtype == LATHE_DT_STR) {
		char *const *s = t->data;
		uint8_t *row = lathe_xcalloc(maxlen, 4);
		for (int64_t i = 0; i < numel; i++) {
			memset(row, 0, maxlen * 4);
			const unsigned char *p = (const unsigned char *)(s[i] ? s[i] : "");
			for (size_t k = 0; *p; k++) {
				uint32_t cp;
				p += utf8_get(p, &cp); /* validated above */
				row[4 * k] = (uint8_t)cp;
				row[4 * k + 1] = (uint8_t)(cp >> 8);
				row[4 * k + 2] = (uint8_t)(cp >> 16);
				row[4 * k + 3] = (uint8_t)(cp >> 24);
			}
			buf_append(out, row, maxlen * 4);
		}
		free(row);
		return NULL;
	}
	size_t es = lathe_dtype_size(t->dtype);
	size_t nbytes = (size_t)numel * es;
	size_t start = out->len;
	buf_append(out, t->data, nbytes);
	if (!little && es > 1) {
		size_t w = (t->dtype == LATHE_DT_C64 || t->dtype == LATHE_DT_C128) ? es / 2 : es;
		swap_bytes((uint8_t *)out->data + start, nbytes / w, w);
	}
	return NULL;
}

lathe_err lathe_npy_write(const char *path, const lathe_tensor *t)
{
	lathe_buf b = {0};
	lathe_err e = lathe_npy_encode(t, &b);
	if (e) {
		lathe_buf_free(&b);
		return lathe_error_wrap(e, "%s", path);
	}
	FILE *f = fopen(path, "wb");
	if (!f) {
		int err = errno;
		lathe_buf_free(&b);
		return lathe_error(LATHE_EIO, "%s: cannot create: %s", path, strerror(err));
	}
	size_t w = fwrite(b.data, 1, b.len, f);
	int err = errno;
	int bad = w != b.len || ferror(f);
	if (fclose(f) != 0 && !bad) {
		err = errno;
		bad = 1;
	}
	lathe_buf_free(&b);
	if (bad)
		return lathe_error(LATHE_EIO, "%s: write failed: %s", path, strerror(err));
	return NULL;
}
