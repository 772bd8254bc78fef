/* tensor.c: checked shape arithmetic and arena-backed tensor allocation.
 *
 * Every size derived from a model or a file goes through lathe_shape_numel,
 * which refuses negative dimensions, overflow and anything past 2^40
 * elements, so that later byte counts (numel * element size <= 2^44) always
 * fit in size_t and int64_t.
 */
#include <string.h>

#include "base/base.h"

#define MAX_NUMEL ((int64_t)1 << 40)

lathe_err lathe_shape_numel(int rank, const int64_t *shape, int64_t *out)
{
	if (rank < 0)
		return lathe_error(LATHE_EINVAL, "negative rank %d", rank);
	int zero = 0;
	for (int i = 0; i < rank; i++) {
		if (shape[i] < 0)
			return lathe_error(LATHE_EINVAL, "dimension %d is negative (%lld)",
					   i, (long long)shape[i]);
		zero |= shape[i] == 0;
	}
	/* An empty tensor is fine whatever its other dimensions. */
	if (zero) {
		*out = 0;
		return NULL;
	}
	int64_t n = 1;
	for (int i = 0; i < rank; i++) {
		if (shape[i] > MAX_NUMEL || n > MAX_NUMEL / shape[i])
			return lathe_error(LATHE_ENOMEM,
					   "tensor too large: more than 2^40 elements "
					   "(dimension %d is %lld)", i, (long long)shape[i]);
		n *= shape[i];
	}
	*out = n;
	return NULL;
}

int64_t lathe_tensor_numel(const lathe_tensor *t)
{
	/* A header nothing checked yet (an unverified graph's, say) may have
	 * a shape whose product overflows: INT64_MAX then, 0 for any zero. */
	int64_t n = 1;
	bool over = false;
	for (int i = 0; i < t->rank; i++) {
		if (t->shape[i] == 0)
			return 0;
		over = over || __builtin_mul_overflow(n, t->shape[i], &n);
	}
	return over ? INT64_MAX : n;
}

size_t lathe_tensor_nbytes(const lathe_tensor *t)
{
	int64_t n = lathe_tensor_numel(t);
	size_t es = lathe_dtype_size(t->dtype), bytes;
	if (n < 0 || __builtin_mul_overflow((size_t)n, es, &bytes))
		return SIZE_MAX;
	return bytes;
}

lathe_tensor *lathe_tensor_header(lathe_arena *a, int dtype, int rank, const int64_t *shape)
{
	lathe_tensor *t = lathe_arena_new(a, lathe_tensor, 1);
	t->dtype = dtype;
	t->rank = rank;
	t->shape = lathe_arena_new(a, int64_t, rank > 0 ? rank : 1);
	if (rank > 0)
		memcpy(t->shape, shape, sizeof(int64_t) * (size_t)rank);
	return t;
}

lathe_err lathe_tensor_alloc(lathe_arena *a, int dtype, int rank,
			     const int64_t *shape, lathe_tensor **out)
{
	size_t es = lathe_dtype_size(dtype);
	if (!es)
		return lathe_error(LATHE_EINVAL, "tensor of unknown element type %d", dtype);
	int64_t n;
	LATHE_TRY(lathe_shape_numel(rank, shape, &n));
	void *data = lathe_arena_try_alloc(a, (size_t)n * es);
	if (!data)
		return lathe_error(LATHE_ENOMEM, "cannot allocate %lld bytes for a %s tensor of %lld elements",
				   (long long)n * (long long)es, lathe_dtype_name(dtype), (long long)n);
	lathe_tensor *t = lathe_tensor_header(a, dtype, rank, shape);
	t->data = data;
	*out = t;
	return NULL;
}

lathe_err lathe_tensor_slice(lathe_arena *a, const lathe_tensor *t, int axis, int64_t start,
			     int64_t len, bool drop, lathe_tensor **out)
{
	int64_t *shape = lathe_arena_new(a, int64_t, t->rank + 1);
	int64_t outer = 1, inner = 1;
	int r = 0;
	for (int i = 0; i < t->rank; i++) {
		if (i < axis)
			outer *= t->shape[i];
		if (i > axis)
			inner *= t->shape[i];
		if (i != axis)
			shape[r++] = t->shape[i];
		else if (!drop)
			shape[r++] = len;
	}
	LATHE_TRY(lathe_tensor_alloc(a, t->dtype, r, shape, out));
	/* Viewed as [outer, dim, inner]: one block of len * inner per outer. */
	size_t es = lathe_dtype_size(t->dtype);
	size_t blk = (size_t)(inner * len) * es;
	int64_t dim = t->shape[axis];
	for (int64_t o = 0; o < outer; o++)
		memcpy((char *)(*out)->data + (size_t)o * blk,
		       (const char *)t->data + (size_t)((o * dim + start) * inner) * es, blk);
	return NULL;
}
