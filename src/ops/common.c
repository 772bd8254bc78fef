/* common.c: helpers shared by the op definitions (src/ops/<family>.c).
 *
 * Shape arithmetic that many infer functions need: NumPy broadcasting over
 * types whose dims may be constants, symbols or unknown; axis
 * normalization; reading integer parameter tensors; typed attribute
 * getters.  Everything here works on types (never on runtime data beyond a
 * parameter tensor's values) and reports bad input as a lathe_err whose
 * message the caller prefixes with the node's name and op.
 *
 * Broadcast rules with symbols: two dims are the same when they are the
 * same constant or the same symbol; a constant 1 yields to anything; an
 * unknown or symbolic dim facing a constant n > 1 must be n (or 1), so the
 * result is n; two different symbols, or an unknown facing a symbol, give
 * an unknown dim.
 */
#include <string.h>

#include "ops/op.h"

lathe_type lathe_type_like(lathe_arena *a, const lathe_type *t)
{
	lathe_type r = *t;
	if (t->rank > 0 && t->dims) {
		r.dims = lathe_arena_new(a, lathe_dim, t->rank);
		memcpy(r.dims, t->dims, sizeof(lathe_dim) * (size_t)t->rank);
	} else if (t->rank > 0) {
		r.rank = -1;
		r.dims = NULL;
	}
	return r;
}

lathe_type lathe_type_with_dtype(lathe_arena *a, const lathe_type *t, int dtype)
{
	lathe_type r = lathe_type_like(a, t);
	if (r.kind == LATHE_TY_UNKNOWN) {
		r.kind = LATHE_TY_TENSOR;
		r.elem_kind = LATHE_TY_TENSOR;
		r.rank = -1;
	}
	r.dtype = dtype;
	return r;
}

lathe_err lathe_type_shape(const lathe_type *t, int64_t *shape)
{
	if (t->kind != LATHE_TY_TENSOR)
		return lathe_error(LATHE_EINVAL, "expected a tensor, not a %s",
				   t->kind == LATHE_TY_SEQUENCE   ? "sequence"
				   : t->kind == LATHE_TY_OPTIONAL ? "optional"
								  : "value of unknown type");
	if (t->rank < 0)
		return lathe_error(LATHE_EINVAL, "the rank of the tensor is not known");
	for (int i = 0; i < t->rank; i++) {
		if (t->dims[i].sym >= 0 || t->dims[i].size < 0)
			return lathe_error(LATHE_EINVAL,
					   "dimension %d of the tensor is not known "
					   "(give the inputs concrete shapes)", i);
		shape[i] = t->dims[i].size;
	}
	return NULL;
}

static void describe_dims(lathe_buf *b, const lathe_type *t)
{
	lathe_buf_puts(b, "[");
	for (int i = 0; i < t->rank; i++) {
		if (i)
			lathe_buf_puts(b, ",");
		if (t->dims[i].sym >= 0)
			lathe_buf_printf(b, "$%d", (int)t->dims[i].sym);
		else if (t->dims[i].size < 0)
			lathe_buf_puts(b, "?");
		else
			lathe_buf_printf(b, "%lld", (long long)t->dims[i].size);
	}
	lathe_buf_puts(b, "]");
}

/* Joins two dims under the rules in the file comment; false if they cannot
 * broadcast. */
static bool broadcast_dim(lathe_dim a, lathe_dim b, lathe_dim *out)
{
	bool a_one = a.sym < 0 && a.size == 1, b_one = b.sym < 0 && b.size == 1;
	bool a_const = a.sym < 0 && a.size >= 0, b_const = b.sym < 0 && b.size >= 0;
	if (a_one) {
		*out = b;
		return true;
	}
	if (b_one) {
		*out = a;
		return true;
	}
	if (a_const && b_const) {
		*out = a;
		return a.size == b.size;
	}
	if (a_const) {
		*out = a;
		return true;
	}
	if (b_const) {
		*out = b;
		return true;
	}
	if (a.sym >= 0 && a.sym == b.sym) {
		*out = a;
		return true;
	}
	out->size = -1;
	out->sym = -1;
	return true;
}

lathe_err lathe_broadcast_types(lathe_arena *a, int n, const lathe_type *const *in,
				int dtype, lathe_type *out)
{
	int rank = 0;
	bool rank_known = true;
	for (int i = 0; i < n; i++) {
		const lathe_type *t = in[i];
		if (!t)
			continue;
		if (t->kind == LATHE_TY_SEQUENCE || t->kind == LATHE_TY_OPTIONAL)
			return lathe_error(LATHE_EINVAL,
					   "input %d is a %s; broadcasting needs tensors", i,
					   t->kind == LATHE_TY_SEQUENCE ? "sequence" : "optional");
		if (t->kind == LATHE_TY_UNKNOWN || t->rank < 0)
			rank_known = false;
		else if (t->rank > rank)
			rank = t->rank;
	}
	/* Callers pass the dtype of a comparison (bool) or their own; a
	 * non-positive dtype means "the first known input's". */
	for (int i = 0; dtype <= 0 && i < n; i++)
		if (in[i] && in[i]->kind != LATHE_TY_UNKNOWN)
			dtype = in[i]->dtype;
	if (dtype < 0)
		dtype = LATHE_DT_UNDEF;
	if (!rank_known) {
		*out = lathe_type_tensor(a, dtype, -1, NULL);
		return NULL;
	}
	lathe_type r = lathe_type_tensor(a, dtype, rank, NULL);
	for (int k = 0; k < rank; k++) {
		lathe_dim acc = {1, -1};
		for (int i = 0; i < n; i++) {
			const lathe_type *t = in[i];
			if (!t)
				continue;
			int j = t->rank - rank + k;
			if (j < 0)
				continue;
			if (!broadcast_dim(acc, t->dims[j], &acc)) {
				lathe_buf b = {0};
				lathe_buf_puts(&b, "cannot broadcast shapes");
				for (int q = 0; q < n; q++) {
					if (!in[q])
						continue;
					lathe_buf_puts(&b, " ");
					describe_dims(&b, in[q]);
				}
				lathe_buf_printf(&b, " (dimension %d from the right)", rank - k);
				lathe_err e = lathe_error(LATHE_EINVAL, "%s", b.data);
				lathe_buf_free(&b);
				return e;
			}
		}
		r.dims[k] = acc;
	}
	*out = r;
	return NULL;
}

lathe_err lathe_norm_axis(int64_t axis, int rank, int *out)
{
	*out = 0; /* defined even on error: callers' compilers can't see through the status */
	if (axis < -(int64_t)rank || axis >= (int64_t)rank)
		return lathe_error(LATHE_EINVAL, "axis %lld is out of range for rank %d",
				   (long long)axis, rank);
	*out = (int)(axis < 0 ? axis + rank : axis);
	return NULL;
}

lathe_err lathe_tensor_ints(lathe_arena *a, const lathe_tensor *t, int64_t **out, int64_t *n)
{
	if (!t)
		return lathe_error(LATHE_EINVAL, "expected an integer tensor, got none");
	if (!lathe_dtype_is_int(t->dtype) && t->dtype != LATHE_DT_BOOL)
		return lathe_error(LATHE_EINVAL, "expected an integer tensor, got %s",
				   lathe_dtype_name(t->dtype));
	if (t->rank < 0 || (t->rank > 0 && !t->shape))
		return lathe_error(LATHE_EINVAL, "integer tensor has a malformed shape");
	int64_t count;
	LATHE_TRY(lathe_shape_numel(t->rank, t->shape, &count));
	if (count > 0 && !t->data)
		return lathe_error(LATHE_EINVAL, "integer tensor has no data");
	int64_t *v = lathe_arena_new(a, int64_t, count ? count : 1);
	for (int64_t i = 0; i < count; i++) {
		switch (t->dtype) {
		case LATHE_DT_I64: v[i] = ((const int64_t *)t->data)[i]; break;
		case LATHE_DT_I32: v[i] = ((const int32_t *)t->data)[i]; break;
		case LATHE_DT_I16: v[i] = ((const int16_t *)t->data)[i]; break;
		case LATHE_DT_I8: v[i] = ((const int8_t *)t->data)[i]; break;
		case LATHE_DT_U8: v[i] = ((const uint8_t *)t->data)[i]; break;
		case LATHE_DT_BOOL: v[i] = ((const uint8_t *)t->data)[i] != 0; break;
		case LATHE_DT_U16: v[i] = ((const uint16_t *)t->data)[i]; break;
		case LATHE_DT_U32: v[i] = ((const uint32_t *)t->data)[i]; break;
		case LATHE_DT_U64: {
			uint64_t u = ((const uint64_t *)t->data)[i];
			if (u > (uint64_t)INT64_MAX)
				return lathe_error(LATHE_EINVAL,
						   "u64 value %llu does not fit in int64",
						   (unsigned long long)u);
			v[i] = (int64_t)u;
			break;
		}
		default:
			/* Sub-byte ints are held one per byte. */
			v[i] = lathe_rt_load_i64(t, i);
			break;
		}
	}
	*out = v;
	*n = count;
	return NULL;
}

int64_t lathe_type_numel(const lathe_type *t)
{
	if (t->kind != LATHE_TY_TENSOR || t->rank < 0)
		return -1;
	int64_t n = 1;
	for (int i = 0; i < t->rank; i++) {
		int64_t d = t->dims[i].size;
		if (t->dims[i].sym >= 0 || d < 0)
			return -1;
		if (d && n > INT64_MAX / d)
			return -1;
		n *= d;
	}
	return n;
}

const int64_t *lathe_node_attr_ints(const lathe_node *n, const char *name, int64_t *count)
{
	const lathe_attr *a = lathe_node_attr(n, name);
	if (a && a->kind == LATHE_ATTR_INTS) {
		*count = a->n;
		return a->u.ints;
	}
	if (a && a->kind == LATHE_ATTR_INT) {
		*count = 1;
		return &a->u.i;
	}
	*count = -1;
	return NULL;
}

const double *lathe_node_attr_floats(const lathe_node *n, const char *name, int64_t *count)
{
	const lathe_attr *a = lathe_node_attr(n, name);
	if (a && a->kind == LATHE_ATTR_FLOATS) {
		*count = a->n;
		return a->u.floats;
	}
	if (a && a->kind == LATHE_ATTR_FLOAT) {
		*count = 1;
		return &a->u.f;
	}
	*count = -1;
	return NULL;
}
