/* base.h: what every layer of the compiler stands on.
 *
 * - lathe_err: a status.  NULL means success; otherwise an owned object with
 *   a code and a message to which callers prepend context on the way up
 *   ("node 'conv1' (Conv): input 1: ...").  Library code never exits or
 *   aborts on bad input; it returns one of these.
 * - lathe_arena: bump allocation for IR; everything in an arena is freed at
 *   once, nothing alone.
 * - LATHE_VEC: the one growable vector (malloc-backed).
 * - lathe_map: the one hash map (string key -> uint64 value).
 * - dtype helpers, tensor helpers and file mapping.
 *
 * Internal invariants use LATHE_ASSERT / lathe_die, which print file:line:
 * they mean a compiler bug, never bad input.
 */
#ifndef LATHE_BASE_H
#define LATHE_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lathe_rt.h"

#if defined(__GNUC__)
#define LATHE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define LATHE_NORETURN __attribute__((noreturn))
#else
#define LATHE_PRINTF(a, b)
#define LATHE_NORETURN
#endif

/* ---- status -------------------------------------------------------------- */

enum lathe_code {
	LATHE_OK = 0,
	LATHE_EINVAL,      /* malformed input: model, file, shape, argument */
	LATHE_EUNSUPPORTED, /* well-formed but not (yet) handled by lathe */
	LATHE_EIO,         /* file system */
	LATHE_ENOMEM,      /* allocation failed or size past a sane limit */
	LATHE_EINTERNAL,   /* a bug in lathe */
};

typedef struct lathe_status *lathe_err;

lathe_err lathe_error(enum lathe_code code, const char *fmt, ...) LATHE_PRINTF(2, 3);
lathe_err lathe_error_v(enum lathe_code code, const char *fmt, va_list ap);
/* Prepends "context: " to e's message; returns e.  e may be NULL (then NULL). */
lathe_err lathe_error_wrap(lathe_err e, const char *fmt, ...) LATHE_PRINTF(2, 3);
enum lathe_code lathe_error_code(lathe_err e);
const char *lathe_error_message(lathe_err e);
const char *lathe_code_name(enum lathe_code code);
void lathe_error_free(lathe_err e);

#define LATHE_TRY(expr)                                                       \
	do {                                                                  \
		lathe_err try_e_ = (expr);                                    \
		if (try_e_)                                                   \
			return try_e_;                                        \
	} while (0)
/* LATHE_TRYF(expr, fmt, ...): on error, add context and return. */
#define LATHE_TRYF(expr, ...)                                                 \
	do {                                                                  \
		lathe_err try_e_ = (expr);                                    \
		if (try_e_)                                                   \
			return lathe_error_wrap(try_e_, __VA_ARGS__);         \
	} while (0)

LATHE_NORETURN void lathe_die_(const char *file, int line, const char *fmt, ...)
	LATHE_PRINTF(3, 4);
#define lathe_die(...) lathe_die_(__FILE__, __LINE__, __VA_ARGS__)
#define LATHE_ASSERT(c)                                                       \
	do {                                                                  \
		if (!(c))                                                     \
			lathe_die("assertion failed: %s", #c);                \
	} while (0)

/* malloc/calloc/realloc that die on exhaustion (callers bound sizes first). */
void *lathe_xmalloc(size_t n);
void *lathe_xcalloc(size_t n, size_t size);
void *lathe_xrealloc(void *p, size_t n);
char *lathe_xstrdup(const char *s);

/* ---- arena --------------------------------------------------------------- */

typedef struct lathe_arena lathe_arena;

lathe_arena *lathe_arena_create(void);
void lathe_arena_destroy(lathe_arena *a);
/* Zeroed, 16-byte aligned. Dies if the system is out of memory. */
void *lathe_arena_alloc(lathe_arena *a, size_t n);
/* The same, but NULL when the system has no memory for it (for sizes that
 * come from input data, such as run-time tensors). */
void *lathe_arena_try_alloc(lathe_arena *a, size_t n);
#define lathe_arena_new(a, T, n) ((T *)lathe_arena_alloc((a), sizeof(T) * (size_t)(n)))
char *lathe_arena_strdup(lathe_arena *a, const char *s);
char *lathe_arena_strndup(lathe_arena *a, const char *s, size_t n);
char *lathe_arena_printf(lathe_arena *a, const char *fmt, ...) LATHE_PRINTF(2, 3);
void *lathe_arena_memdup(lathe_arena *a, const void *p, size_t n);

/* ---- vector -------------------------------------------------------------- */

#define LATHE_VEC(T)                                                          \
	struct {                                                              \
		T *data;                                                      \
		size_t len, cap;                                              \
	}
void lathe_vec_grow_(void **data, size_t *cap, size_t need, size_t elem);
#define lathe_vec_reserve(v, n)                                               \
	lathe_vec_grow_((void **)&(v)->data, &(v)->cap, (n), sizeof *(v)->data)
#define lathe_vec_push(v, x)                                                  \
	(lathe_vec_reserve((v), (v)->len + 1), (v)->data[(v)->len++] = (x))
#define lathe_vec_free(v) (free((v)->data), (v)->data = NULL, (v)->len = (v)->cap = 0)

/* ---- string builder ------------------------------------------------------ */

typedef struct lathe_buf {
	char *data; /* NUL-terminated */
	size_t len, cap;
} lathe_buf;
void lathe_buf_printf(lathe_buf *b, const char *fmt, ...) LATHE_PRINTF(2, 3);
void lathe_buf_vprintf(lathe_buf *b, const char *fmt, va_list ap);
void lathe_buf_puts(lathe_buf *b, const char *s);
void lathe_buf_free(lathe_buf *b);

/* ---- hash map ------------------------------------------------------------ */

/* String keys (copied) to uint64 values; open addressing. */
typedef struct lathe_map {
	struct lathe_map_slot *slots;
	size_t cap, len;
} lathe_map;
void lathe_map_init(lathe_map *m);
void lathe_map_deinit(lathe_map *m);
/* Returns true and sets *out if present. */
bool lathe_map_get(const lathe_map *m, const char *key, uint64_t *out);
/* Inserts or overwrites. */
void lathe_map_put(lathe_map *m, const char *key, uint64_t value);

/* ---- element types ------------------------------------------------------- */

size_t lathe_dtype_size(int dtype);        /* 0 for unknown */
const char *lathe_dtype_name(int dtype);   /* "f32"...; "?" for unknown */
int lathe_dtype_parse(const char *name);   /* -1 if unknown */
bool lathe_dtype_is_float(int dtype);      /* f16 bf16 f32 f64 and float8/4 */
bool lathe_dtype_is_int(int dtype);        /* signed or unsigned ints (not bool) */
bool lathe_dtype_is_signed(int dtype);     /* signed ints and floats */

/* ---- tensors ------------------------------------------------------------- */

/* Checked element count: fails (not dies) past 2^40 elements or on overflow. */
lathe_err lathe_shape_numel(int rank, const int64_t *shape, int64_t *out);
int64_t lathe_tensor_numel(const lathe_tensor *t);
size_t lathe_tensor_nbytes(const lathe_tensor *t);
/* Allocates a tensor with zeroed data from the arena. */
lathe_err lathe_tensor_alloc(lathe_arena *a, int dtype, int rank,
			     const int64_t *shape, lathe_tensor **out);
/* A tensor with its shape copied into the arena and data NULL, for a caller
 * that points data at bytes of its own.  Nothing is checked: the caller has
 * bounded the shape. */
lathe_tensor *lathe_tensor_header(lathe_arena *a, int dtype, int rank, const int64_t *shape);
/* A copy of positions [start, start + len) of dim axis of t; with drop
 * (len 1) that dim is removed.  The caller has checked axis, start and len
 * against t's shape. */
lathe_err lathe_tensor_slice(lathe_arena *a, const lathe_tensor *t, int axis, int64_t start,
			     int64_t len, bool drop, lathe_tensor **out);

/* ---- files --------------------------------------------------------------- */

/* A read-only mapping of a whole file (mmap; an empty file maps to size 0). */
typedef struct lathe_mapped_file {
	const uint8_t *data;
	size_t size;
} lathe_mapped_file;
lathe_err lathe_file_map(const char *path, lathe_mapped_file *out);
void lathe_file_unmap(lathe_mapped_file *f);
/* Creates a directory and its missing parents (mkdir -p); fine if it exists,
 * an error if the path is something else. */
lathe_err lathe_dir_create(const char *path);

#endif
