/* arena.c: the bump allocator that holds all IR.
 *
 * Memory comes in chunks linked newest-first; an allocation is carved from
 * the newest chunk, or a fresh chunk is started.  Requests larger than a
 * quarter of the standard chunk get a chunk of their own (linked behind the
 * current one, so the current chunk's free tail is not wasted).  Every
 * allocation is zeroed and 16-byte aligned; nothing is freed alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define ARENA_ALIGN 16
#define ARENA_CHUNK ((size_t)64 * 1024)

struct chunk {
	struct chunk *next;
	size_t size, used; /* of data[] */
	_Alignas(16) unsigned char data[];
};

struct lathe_arena {
	struct chunk *head;
};

lathe_arena *lathe_arena_create(void)
{
	return lathe_xcalloc(1, sizeof(lathe_arena));
}

void lathe_arena_destroy(lathe_arena *a)
{
	if (!a)
		return;
	struct chunk *c = a->head;
	while (c) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(a);
}

/* A chunk of `size` usable bytes, zeroed; NULL if the system has no memory
 * for it (or the size overflows). */
static struct chunk *chunk_new(size_t size)
{
	if (size > SIZE_MAX - sizeof(struct chunk))
		return NULL;
	struct chunk *c = calloc(1, sizeof(struct chunk) + size);
	if (!c)
		return NULL;
	c->size = size;
	return c;
}

static void *arena_alloc(lathe_arena *a, size_t n, bool may_fail)
{
	if (n == 0)
		n = 1;
	size_t need = n > SIZE_MAX - ARENA_ALIGN ? SIZE_MAX
						 : (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	struct chunk *c = a->head;
	if (c && c->size - c->used >= need) {
		void *p = c->data + c->used;
		c->used += need;
		memset(p, 0, n);
		return p;
	}
	/* Big requests get a chunk of their own, behind the current one so its
	 * free space stays in use; calloc leaves their pages untouched. */
	bool big = need > ARENA_CHUNK / 4;
	struct chunk *fresh = chunk_new(big ? need : ARENA_CHUNK);
	if (!fresh) {
		if (may_fail)
			return NULL;
		lathe_die("out of memory allocating %zu bytes", n);
	}
	fresh->used = need;
	if (big && c) {
		fresh->next = c->next;
		c->next = fresh;
	} else {
		fresh->next = c;
		a->head = fresh;
	}
	return fresh->data;
}

void *lathe_arena_alloc(lathe_arena *a, size_t n)
{
	return arena_alloc(a, n, false);
}

void *lathe_arena_try_alloc(lathe_arena *a, size_t n)
{
	return arena_alloc(a, n, true);
}

char *lathe_arena_strndup(lathe_arena *a, const char *s, size_t n)
{
	char *d = lathe_arena_alloc(a, n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *lathe_arena_strdup(lathe_arena *a, const char *s)
{
	return lathe_arena_strndup(a, s, strlen(s));
}

char *lathe_arena_printf(lathe_arena *a, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	char *s = lathe_arena_alloc(a, (size_t)n + 1);
	if (n > 0)
		vsnprintf(s, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return s;
}

void *lathe_arena_memdup(lathe_arena *a, const void *p, size_t n)
{
	void *d = lathe_arena_alloc(a, n);
	if (n)
		memcpy(d, p, n);
	return d;
}
