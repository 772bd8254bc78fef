/* pb.c: the protobuf wire-format reader (see pb.h).
 *
 * Invariants: every read is preceded by a check against the end of the
 * message it belongs to; a length-delimited payload is handed out only after
 * its length has been compared with the bytes left; arrays for repeated
 * fields are sized by a counting pass over bytes that exist, so their size is
 * at most eight times the bytes read.  Nothing here keeps state outside the
 * lathe_pb_ctx the caller owns.
 */
#include <stdio.h>
#include <string.h>

#include "onnx/pb.h"

static const char *wire_name(int w)
{
	switch (w) {
	case LATHE_PB_VARINT: return "varint";
	case LATHE_PB_I64: return "fixed64";
	case LATHE_PB_LEN: return "length-delimited";
	case LATHE_PB_SGROUP: return "start-group";
	case LATHE_PB_EGROUP: return "end-group";
	case LATHE_PB_I32: return "fixed32";
	}
	return "invalid";
}

void lathe_pb_init(lathe_pb_ctx *c, const char *root)
{
	size_t n = strlen(root);
	if (n >= sizeof c->path)
		n = sizeof c->path - 1;
	memcpy(c->path, root, n);
	c->path[n] = '\0';
	c->pathlen = n;
	c->depth = 0;
	c->located = false;
}

lathe_err lathe_pb_enter(lathe_pb_ctx *c, size_t *saved, const char *name, int64_t index)
{
	if (c->depth >= LATHE_PB_MAX_DEPTH)
		return lathe_pb_err(c, LATHE_EINVAL,
				    "messages nested more than %d deep (entering '%s')",
				    LATHE_PB_MAX_DEPTH, name);
	*saved = c->pathlen;
	c->depth++;
	size_t room = sizeof c->path - c->pathlen;
	int k;
	if (index >= 0)
		k = snprintf(c->path + c->pathlen, room, ".%s[%lld]", name, (long long)index);
	else
		k = snprintf(c->path + c->pathlen, room, ".%s", name);
	/* A path too long for the buffer is cut: the message stays useful. */
	if (k < 0 || (size_t)k >= room)
		c->pathlen = sizeof c->path - 1;
	else
		c->pathlen += (size_t)k;
	return NULL;
}

void lathe_pb_leave(lathe_pb_ctx *c, size_t saved)
{
	LATHE_ASSERT(c->depth > 0 && saved <= c->pathlen);
	c->depth--;
	c->pathlen = saved;
	c->path[saved] = '\0';
}

lathe_err lathe_pb_err(lathe_pb_ctx *c, enum lathe_code code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->located = true;
	return lathe_error(code, "%s: %s", c->path, msg);
}

/* Decodes one varint from [*pp, end); returns NULL or the reason. */
static const char *varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	for (int i = 0; i < 10; i++) {
		if (p >= end)
			return "truncated varint";
		uint8_t b = *p++;
		if (i == 9 && b > 1)
			return "varint overflows 64 bits";
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*pp = p;
			*out = v;
			return NULL;
		}
	}
	return "varint longer than 10 bytes";
}

lathe_err lathe_pb_next(lathe_pb_ctx *c, lathe_pb_msg *m, lathe_pb_field *f, bool *more)
{
	if (m->p >= m->end) {
		*more = false;
		return NULL;
	}
	size_t at = lathe_pb_left(*m);
	uint64_t tag;
	const char *why = varint(&m->p, m->end, &tag);
	if (why)
		return lathe_pb_err(c, LATHE_EINVAL, "field tag: %s (%zu bytes left)", why, at);
	uint64_t num = tag >> 3;
	int wire = (int)(tag & 7);
	if (num == 0 || num > 0x1fffffff)
		return lathe_pb_err(c, LATHE_EINVAL, "invalid field number %llu (%zu bytes left)",
				    (unsigned long long)num, at);
	f->num = (uint32_t)num;
	f->wire = (uint8_t)wire;
	f->u = 0;
	f->sub.p = f->sub.end = m->p;
	size_t left;
	switch (wire) {
	case LATHE_PB_VARINT:
		why = varint(&m->p, m->end, &f->u);
		if (why)
			return lathe_pb_err(c, LATHE_EINVAL, "field %u: %s", f->num, why);
		break;
	case LATHE_PB_I64:
	case LATHE_PB_I32: {
		size_t w = wire == LATHE_PB_I64 ? 8 : 4; /* little-endian words */
		if (lathe_pb_left(*m) < w)
			return lathe_pb_err(c, LATHE_EINVAL,
					    "field %u: %s past end of data (%zu bytes left)",
					    f->num, wire_name(wire), lathe_pb_left(*m));
		for (size_t i = 0; i < w; i++)
			f->u |= (uint64_t)m->p[i] << (8 * i);
		m->p += w;
		break;
	}
	case LATHE_PB_LEN: {
		uint64_t len;
		why = varint(&m->p, m->end, &len);
		if (why)
			return lathe_pb_err(c, LATHE_EINVAL, "field %u: length: %s", f->num, why);
		left = lathe_pb_left(*m);
		if (len > left)
			return lathe_pb_err(c, LATHE_EINVAL,
					    "field %u: length %llu past end of data (%zu bytes left)",
					    f->num, (unsigned long long)len, left);
		f->sub.p = m->p;
		f->sub.end = m->p + len;
		m->p += len;
		break;
	}
	case LATHE_PB_SGROUP:
	case LATHE_PB_EGROUP:
		return lathe_pb_err(c, LATHE_EINVAL,
				    "field %u: protobuf groups are not used by ONNX "
				    "(the data is probably not an ONNX file)", f->num);
	default:
		return lathe_pb_err(c, LATHE_EINVAL, "field %u: invalid wire type %d", f->num,
				    wire);
	}
	*more = true;
	return NULL;
}

lathe_err lathe_pb_next_of(lathe_pb_ctx *c, lathe_pb_msg *m, uint32_t num, lathe_pb_field *f,
			   bool *more)
{
	for (;;) {
		LATHE_TRY(lathe_pb_next(c, m, f, more));
		if (!*more || f->num == num)
			return NULL;
	}
}

lathe_err lathe_pb_want(lathe_pb_ctx *c, const lathe_pb_field *f, int wire, const char *name)
{
	if (f->wire == wire)
		return NULL;
	return lathe_pb_err(c, LATHE_EINVAL, "field '%s' (%u) has wire type %s, expected %s",
			    name, f->num, wire_name(f->wire), wire_name(wire));
}

lathe_err lathe_pb_enter_msg(lathe_pb_ctx *c, const lathe_pb_field *f, size_t *saved,
			     const char *name, int64_t index)
{
	LATHE_TRY(lathe_pb_want(c, f, LATHE_PB_LEN, name));
	return lathe_pb_enter(c, saved, name, index);
}

lathe_err lathe_pb_int(lathe_pb_ctx *c, const lathe_pb_field *f, const char *name, int64_t *out)
{
	LATHE_TRY(lathe_pb_want(c, f, LATHE_PB_VARINT, name));
	*out = (int64_t)f->u;
	return NULL;
}

lathe_err lathe_pb_float(lathe_pb_ctx *c, const lathe_pb_field *f, const char *name, float *out)
{
	LATHE_TRY(lathe_pb_want(c, f, LATHE_PB_I32, name));
	uint32_t bits = (uint32_t)f->u;
	memcpy(out, &bits, 4);
	return NULL;
}

lathe_err lathe_pb_str(lathe_pb_ctx *c, const lathe_pb_field *f, const char *name,
		       lathe_arena *a, const char **out)
{
	LATHE_TRY(lathe_pb_want(c, f, LATHE_PB_LEN, name));
	size_t n = lathe_pb_left(f->sub);
	if (n && memchr(f->sub.p, 0, n))
		return lathe_pb_err(c, LATHE_EINVAL, "field '%s' holds a NUL byte", name);
	*out = lathe_arena_strndup(a, (const char *)f->sub.p, n);
	return NULL;
}

lathe_err lathe_pb_bytes(lathe_pb_ctx *c, const lathe_pb_field *f, const char *name,
			 lathe_arena *a, const char **out, int64_t *len)
{
	LATHE_TRY(lathe_pb_want(c, f, LATHE_PB_LEN, name));
	size_t n = lathe_pb_left(f->sub);
	*out = lathe_arena_strndup(a, (const char *)f->sub.p, n);
	*len = (int64_t)n;
	return NULL;
}

lathe_err lathe_pb_count(lathe_pb_ctx *c, lathe_pb_msg m, uint32_t num, int64_t *out)
{
	int64_t n = 0;
	lathe_pb_field f;
	bool more;
	for (;;) {
		LATHE_TRY(lathe_pb_next_of(c, &m, num, &f, &more));
		if (!more)
			break;
		n++;
	}
	*out = n;
	return NULL;
}

static int scalar_wire(enum lathe_pb_scalar k)
{
	switch (k) {
	case LATHE_PB_K_FLOAT: return LATHE_PB_I32;
	case LATHE_PB_K_DOUBLE: return LATHE_PB_I64;
	default: return LATHE_PB_VARINT;
	}
}

static size_t scalar_size(enum lathe_pb_scalar k)
{
	switch (k) {
	case LATHE_PB_K_INT32:
	case LATHE_PB_K_FLOAT: return 4;
	default: return 8;
	}
}

/* Counts the elements of a packed payload, validating it. */
static lathe_err packed_count(lathe_pb_ctx *c, lathe_pb_msg p, enum lathe_pb_scalar k,
			      const char *name, int64_t *out)
{
	size_t n = lathe_pb_left(p);
	int w = scalar_wire(k);
	if (w == LATHE_PB_I32 || w == LATHE_PB_I64) {
		size_t es = w == LATHE_PB_I32 ? 4 : 8;
		if (n % es)
			return lathe_pb_err(c, LATHE_EINVAL,
					    "packed field '%s': %zu bytes is not a multiple of %zu",
					    name, n, es);
		*out = (int64_t)(n / es);
		return NULL;
	}
	int64_t cnt = 0;
	while (p.p < p.end) {
		uint64_t v;
		const char *why = varint(&p.p, p.end, &v);
		if (why)
			return lathe_pb_err(c, LATHE_EINVAL, "packed field '%s', element %lld: %s",
					    name, (long long)cnt, why);
		cnt++;
	}
	*out = cnt;
	return NULL;
}

static void store(void *arr, int64_t i, enum lathe_pb_scalar k, uint64_t u)
{
	switch (k) {
	case LATHE_PB_K_INT64: ((int64_t *)arr)[i] = (int64_t)u; break;
	case LATHE_PB_K_INT32: ((int32_t *)arr)[i] = (int32_t)(uint32_t)u; break;
	case LATHE_PB_K_UINT64: ((uint64_t *)arr)[i] = u; break;
	case LATHE_PB_K_FLOAT: {
		uint32_t b = (uint32_t)u;
		memcpy((float *)arr + i, &b, 4);
		break;
	}
	case LATHE_PB_K_DOUBLE: memcpy((double *)arr + i, &u, 8); break;
	}
}

lathe_err lathe_pb_repeated(lathe_pb_ctx *c, lathe_pb_msg m, uint32_t num,
			    enum lathe_pb_scalar kind, const char *name, lathe_arena *a,
			    void **out, int64_t *n)
{
	int w = scalar_wire(kind);
	int64_t total = 0;
	lathe_pb_field f;
	bool more;
	/* Pass 1: count, and check every occurrence's wire type. */
	lathe_pb_msg it = m;
	for (;;) {
		LATHE_TRY(lathe_pb_next_of(c, &it, num, &f, &more));
		if (!more)
			break;
		if (f.wire == LATHE_PB_LEN) {
			int64_t k = 0;
			LATHE_TRY(packed_count(c, f.sub, kind, name, &k));
			total += k;
		} else if (f.wire == w) {
			total++;
		} else {
			return lathe_pb_err(c, LATHE_EINVAL,
					    "field '%s' (%u) has wire type %s, expected %s or packed",
					    name, num, wire_name(f.wire), wire_name(w));
		}
	}
	*n = total;
	*out = NULL;
	if (!total)
		return NULL;
	void *arr = lathe_arena_alloc(a, (size_t)total * scalar_size(kind));
	/* Pass 2: fill.  The bytes were validated by pass 1. */
	int64_t i = 0;
	it = m;
	for (;;) {
		LATHE_TRY(lathe_pb_next_of(c, &it, num, &f, &more));
		if (!more)
			break;
		if (f.wire != LATHE_PB_LEN) {
			store(arr, i++, kind, f.u);
			continue;
		}
		const uint8_t *p = f.sub.p;
		while (p < f.sub.end) {
			uint64_t u = 0;
			if (w == LATHE_PB_VARINT) {
				const char *why = varint(&p, f.sub.end, &u);
				LATHE_ASSERT(!why);
			} else {
				int es = w == LATHE_PB_I32 ? 4 : 8;
				for (int b = 0; b < es; b++)
					u |= (uint64_t)p[b] << (8 * b);
				p += es;
			}
			store(arr, i++, kind, u);
		}
	}
	LATHE_ASSERT(i == total);
	*out = arr;
	return NULL;
}
