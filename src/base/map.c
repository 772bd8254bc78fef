/* map.c: the one hash map, string keys (copied, owned by the map) to
 * uint64 values.
 *
 * Open addressing with linear probing over a power-of-two table, FNV-1a
 * hashing; the table doubles when an insert would pass 70% load.  There is
 * no deletion, so no tombstones: a probe stops at the first empty slot.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

struct lathe_map_slot {
	char *key; /* NULL when empty */
	uint64_t hash;
	uint64_t value;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

void lathe_map_init(lathe_map *m)
{
	m->slots = NULL;
	m->cap = m->len = 0;
}

void lathe_map_deinit(lathe_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	lathe_map_init(m);
}

static struct lathe_map_slot *find(const lathe_map *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct lathe_map_slot *s = &m->slots[i];
		if (!s->key || (s->hash == h && !strcmp(s->key, key)))
			return s;
	}
}

bool lathe_map_get(const lathe_map *m, const char *key, uint64_t *out)
{
	if (!m->cap)
		return false;
	struct lathe_map_slot *s = find(m, key, hash_str(key));
	if (!s->key)
		return false;
	if (out)
		*out = s->value;
	return true;
}

static void grow(lathe_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	if (ncap < m->cap || ncap > SIZE_MAX / sizeof(struct lathe_map_slot))
		lathe_die("hash map of %zu slots is too large", ncap);
	lathe_map old = *m;
	m->slots = lathe_xcalloc(ncap, sizeof(struct lathe_map_slot));
	m->cap = ncap;
	for (size_t i = 0; i < old.cap; i++) {
		struct lathe_map_slot *o = &old.slots[i];
		if (o->key)
			*find(m, o->key, o->hash) = *o;
	}
	free(old.slots);
}

void lathe_map_put(lathe_map *m, const char *key, uint64_t value)
{
	uint64_t h = hash_str(key);
	if (m->cap) {
		struct lathe_map_slot *s = find(m, key, h);
		if (s->key) {
			s->value = value;
			return;
		}
	}
	/* Grow before inserting so that load stays at or below 70%. */
	if ((m->len + 1) * 10 > m->cap * 7)
		grow(m);
	struct lathe_map_slot *s = find(m, key, h);
	s->key = lathe_xstrdup(key);
	s->hash = h;
	s->value = value;
	m->len++;
}
