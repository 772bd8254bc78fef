/* vec.c: growth for LATHE_VEC and the lathe_buf string builder.
 *
 * Both are plain malloc-backed buffers that double on growth; they die only
 * when the system is out of memory or a size would overflow, which callers
 * prevent by bounding input-driven sizes first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

void lathe_vec_grow_(void **data, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return;
	size_t n = *cap ? *cap : 8;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			lathe_die("vector of %zu elements is too large", need);
		n *= 2;
	}
	if (elem && n > SIZE_MAX / elem)
		lathe_die("vector of %zu elements of %zu bytes is too large", n, elem);
	*data = lathe_xrealloc(*data, n * elem);
	*cap = n;
}

static void buf_reserve(lathe_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1)
		lathe_die("string of %zu bytes is too large", extra);
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t n = b->cap ? b->cap : 64;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	b->data = lathe_xrealloc(b->data, n);
	b->cap = n;
}

void lathe_buf_vprintf(lathe_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	buf_reserve(b, (size_t)n);
	if (n > 0)
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	b->data[b->len] = '\0';
}

void lathe_buf_printf(lathe_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lathe_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void lathe_buf_puts(lathe_buf *b, const char *s)
{
	size_t n = strlen(s);
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n + 1);
	b->len += n;
}

void lathe_buf_free(lathe_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
