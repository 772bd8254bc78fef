/* status.c: lathe_err, the one error channel of the compiler library, plus
 * the die-on-exhaustion allocators and the internal-bug exit (lathe_die).
 *
 * A lathe_err is either NULL (success) or a heap object the caller owns and
 * must free with lathe_error_free (or hand further up).  Context is added by
 * prepending, so the final message reads from the outermost frame inward.
 * Nothing here keeps state between calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

struct lathe_status {
	enum lathe_code code;
	char *msg; /* malloc'd, NUL-terminated */
};

/* Formats into a fresh malloc'd string; NULL only if memory is exhausted. */
static char *vformat(const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	if (n > 0)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	else
		s[0] = '\0';
	return s;
}

lathe_err lathe_error_v(enum lathe_code code, const char *fmt, va_list ap)
{
	struct lathe_status *e = lathe_xmalloc(sizeof *e);
	e->code = code == LATHE_OK ? LATHE_EINTERNAL : code;
	e->msg = vformat(fmt ? fmt : "", ap);
	if (!e->msg)
		lathe_die("out of memory formatting an error");
	return e;
}

lathe_err lathe_error(enum lathe_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lathe_err e = lathe_error_v(code, fmt, ap);
	va_end(ap);
	return e;
}

lathe_err lathe_error_wrap(lathe_err e, const char *fmt, ...)
{
	if (!e)
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = vformat(fmt, ap);
	va_end(ap);
	if (!ctx)
		lathe_die("out of memory formatting an error");
	size_t lc = strlen(ctx), lm = strlen(e->msg);
	char *s = lathe_xmalloc(lc + 2 + lm + 1);
	memcpy(s, ctx, lc);
	memcpy(s + lc, ": ", 2);
	memcpy(s + lc + 2, e->msg, lm + 1);
	free(ctx);
	free(e->msg);
	e->msg = s;
	return e;
}

enum lathe_code lathe_error_code(lathe_err e)
{
	return e ? e->code : LATHE_OK;
}

const char *lathe_error_message(lathe_err e)
{
	return e ? e->msg : "ok";
}

const char *lathe_code_name(enum lathe_code code)
{
	switch (code) {
	case LATHE_OK: return "ok";
	case LATHE_EINVAL: return "invalid input";
	case LATHE_EUNSUPPORTED: return "unsupported";
	case LATHE_EIO: return "i/o error";
	case LATHE_ENOMEM: return "out of memory";
	case LATHE_EINTERNAL: return "internal error";
	}
	return "unknown error";
}

void lathe_error_free(lathe_err e)
{
	if (!e)
		return;
	free(e->msg);
	free(e);
}

void lathe_die_(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "lathe: internal error at %s:%d: ", file, line);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
	abort();
}

void *lathe_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		lathe_die("out of memory allocating %zu bytes", n);
	return p;
}

void *lathe_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		lathe_die("out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *lathe_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		lathe_die("out of memory reallocating to %zu bytes", n);
	return q;
}

char *lathe_xstrdup(const char *s)
{
	size_t n = strlen(s);
	char *d = lathe_xmalloc(n + 1);
	memcpy(d, s, n + 1);
	return d;
}
