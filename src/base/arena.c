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

static struct chunk *chunk_new(size_t size)
{
	if (size > SIZE_MAX - sizeof(struct chunk))
		lathe_die("arena allocation of %zu bytes is too large", size);
	struct chunk *c = malloc(sizeof(struct chunk) + size);
	if (!c)
		lathe_die("out of memory allocating an arena chunk of %zu bytes", size);
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

void *lathe_arena_alloc(lathe_arena *a, size_t n)
{
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - ARENA_ALIGN)
		lathe_die("arena allocation of %zu bytes is too large", n);
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	struct chunk *c = a->head;
	if (c && c->size - c->used >= need) {
		void *p = c->data + c->used;
		c->used += need;
		memset(p, 0, n);
		return p;
	}
	if (need > ARENA_CHUNK / 4) {
		struct chunk *big = chunk_new(need);
		big->used = need;
		if (c) {
			big->next = c->next;
			c->next = big;
		} else {
			a->head = big;
		}
		memset(big->data, 0, n);
		return big->data;
	}
	c = chunk_new(ARENA_CHUNK);
	c->next = a->head;
	a->head = c;
	c->used = need;
	memset(c->data, 0, n);
	return c->data;
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
