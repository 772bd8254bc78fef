/* te.c: the tensor-expression builder (see te.h).
 *
 * Ops describe what each output element is; this file decides the one naive
 * loop nest that computes it: serial loops over the output axes, outermost
 * first, a store in the innermost body, and for reductions a rank-0 local
 * accumulator that is initialized, updated over the reduction axes and
 * written out.  Schedules transform these nests later; nothing here tries to
 * be fast.
 *
 * Axis variables are i64 and range over [0, extent).  Broadcast loads read
 * index 0 of a dimension of size 1, as NumPy does.  Builder misuse (axes
 * that do not match the buffer's rank) is a bug in the op definition and
 * asserts; the builder has no user input of its own.
 */
#include <math.h>
#include <stdio.h>

#include "lower/te.h"

lathe_te_axes lathe_te_axes_new(lathe_tir_func *f, const char *prefix, int n,
				const int64_t *extent)
{
	LATHE_ASSERT(n >= 0 && (n == 0 || extent));
	lathe_te_axes ax;
	ax.n = n;
	ax.vars = lathe_arena_new(f->arena, lathe_tir_var *, n);
	ax.idx = lathe_arena_new(f->arena, lathe_tir_expr *, n);
	ax.extent = lathe_arena_new(f->arena, int64_t, n);
	for (int i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof name, "%.40s%d", prefix ? prefix : "i", i);
		ax.vars[i] = lathe_tir_new_var(f, name, LATHE_DT_I64);
		ax.idx[i] = lathe_tir_varref(f, ax.vars[i]);
		ax.extent[i] = extent[i];
	}
	return ax;
}

lathe_tir_stmt *lathe_te_nest(lathe_tir_func *f, lathe_te_axes ax, lathe_tir_stmt *body)
{
	for (int i = ax.n - 1; i >= 0; i--)
		body = lathe_tir_for(f, ax.vars[i], lathe_tir_i64(f, 0),
				     lathe_tir_i64(f, ax.extent[i]), LATHE_TIR_SERIAL, body);
	return body;
}

void lathe_te_compute(lathe_tir_func *f, lathe_tir_buf *out, lathe_te_axes ax,
		      lathe_tir_expr *value)
{
	LATHE_ASSERT(out && value && ax.n == out->rank);
	lathe_tir_stmt *st = lathe_tir_store(f, out, ax.idx, value);
	lathe_tir_append(f, lathe_te_nest(f, ax, st));
}

lathe_te_reduce lathe_te_reduce_begin(lathe_tir_func *f, int acc_dtype)
{
	lathe_te_reduce r;
	r.acc = lathe_tir_local(f, "acc", acc_dtype, 0, NULL);
	r.acc_val = lathe_tir_load(f, r.acc, NULL);
	return r;
}

void lathe_te_reduce_end(lathe_tir_func *f, lathe_te_reduce *r, lathe_tir_buf *out,
			 lathe_te_axes ax, lathe_te_axes rax, int binop,
			 lathe_tir_expr *init, lathe_tir_expr *value, lathe_tir_expr *post)
{
	LATHE_ASSERT(r && r->acc && out && init && value && ax.n == out->rank);
	lathe_tir_stmt *s[3];
	s[0] = lathe_tir_store(f, r->acc, NULL, init);
	lathe_tir_expr *upd = lathe_tir_binary(f, binop, r->acc_val, value);
	s[1] = lathe_te_nest(f, rax, lathe_tir_store(f, r->acc, NULL, upd));
	lathe_tir_expr *res = post;
	if (!res)
		res = r->acc->dtype == out->dtype ? r->acc_val
						  : lathe_tir_cast(f, out->dtype, r->acc_val);
	s[2] = lathe_tir_store(f, out, ax.idx, res);
	lathe_tir_append(f, lathe_te_nest(f, ax, lathe_tir_seq(f, 3, s)));
}

lathe_tir_expr *lathe_te_load_bcast(lathe_tir_func *f, lathe_tir_buf *in, lathe_te_axes ax)
{
	LATHE_ASSERT(in && in->rank <= ax.n);
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, in->rank);
	int off = ax.n - in->rank;
	for (int k = 0; k < in->rank; k++)
		idx[k] = in->shape[k] == 1 ? lathe_tir_i64(f, 0) : ax.idx[off + k];
	return lathe_tir_load(f, in, idx);
}

/* Row-major strides; a zero-size dimension counts as 1 here, which keeps
 * the strides free of zero divisors (loops over an empty shape never run). */
static int64_t *strides_of(lathe_tir_func *f, int rank, const int64_t *shape)
{
	int64_t *st = lathe_arena_new(f->arena, int64_t, rank);
	int64_t s = 1;
	for (int k = rank - 1; k >= 0; k--) {
		st[k] = s;
		int64_t d = shape[k] > 1 ? shape[k] : 1;
		s = (s > INT64_MAX / d) ? INT64_MAX : s * d;
	}
	return st;
}

lathe_tir_expr *lathe_te_ravel(lathe_tir_func *f, int rank, const int64_t *shape,
			       lathe_tir_expr *const *idx)
{
	int64_t *st = strides_of(f, rank, shape);
	lathe_tir_expr *flat = NULL;
	for (int k = 0; k < rank; k++) {
		lathe_tir_expr *t = idx[k];
		if (st[k] != 1)
			t = lathe_tir_binary(f, LATHE_TIR_MUL, t, lathe_tir_i64(f, st[k]));
		flat = flat ? lathe_tir_binary(f, LATHE_TIR_ADD, flat, t) : t;
	}
	return flat ? flat : lathe_tir_i64(f, 0);
}

void lathe_te_unravel(lathe_tir_func *f, lathe_tir_expr *flat, int rank,
		      const int64_t *shape, lathe_tir_expr **out_idx)
{
	int64_t *st = strides_of(f, rank, shape);
	for (int k = 0; k < rank; k++) {
		if (shape[k] == 1) {
			out_idx[k] = lathe_tir_i64(f, 0);
			continue;
		}
		lathe_tir_expr *e = flat;
		if (st[k] != 1)
			e = lathe_tir_binary(f, LATHE_TIR_FLOORDIV, e, lathe_tir_i64(f, st[k]));
		/* No modulo on the outermost axis: an out-of-range flat index then
		 * stays out of range, and the access is caught, not wrapped. */
		if (k > 0)
			e = lathe_tir_binary(f, LATHE_TIR_FLOORMOD, e,
					     lathe_tir_i64(f, shape[k] > 1 ? shape[k] : 1));
		out_idx[k] = e;
	}
}

lathe_tir_expr *lathe_te_const_like(lathe_tir_func *f, lathe_tir_expr *like, double v)
{
	LATHE_ASSERT(like);
	/* lathe_tir_float converts to an integer dtype with Cast's rules. */
	return lathe_tir_float(f, like->dtype, v);
}

static void int_range(int dtype, int64_t *lo, int64_t *hi)
{
	switch (dtype) {
	case LATHE_DT_BOOL: *lo = 0; *hi = 1; return;
	case LATHE_DT_I2: *lo = -2; *hi = 1; return;
	case LATHE_DT_U2: *lo = 0; *hi = 3; return;
	case LATHE_DT_I4: *lo = -8; *hi = 7; return;
	case LATHE_DT_U4: *lo = 0; *hi = 15; return;
	case LATHE_DT_I8: *lo = INT8_MIN; *hi = INT8_MAX; return;
	case LATHE_DT_U8: *lo = 0; *hi = UINT8_MAX; return;
	case LATHE_DT_I16: *lo = INT16_MIN; *hi = INT16_MAX; return;
	case LATHE_DT_U16: *lo = 0; *hi = UINT16_MAX; return;
	case LATHE_DT_I32: *lo = INT32_MIN; *hi = INT32_MAX; return;
	case LATHE_DT_U32: *lo = 0; *hi = UINT32_MAX; return;
	case LATHE_DT_U64: *lo = 0; *hi = -1; return; /* the bit pattern of UINT64_MAX */
	default: *lo = INT64_MIN; *hi = INT64_MAX; return;
	}
}

lathe_tir_expr *lathe_te_lowest(lathe_tir_func *f, int dtype)
{
	if (lathe_dtype_is_float(dtype))
		return lathe_tir_float(f, dtype, -INFINITY);
	int64_t lo, hi;
	int_range(dtype, &lo, &hi);
	return lathe_tir_int(f, dtype, lo);
}

lathe_tir_expr *lathe_te_highest(lathe_tir_func *f, int dtype)
{
	if (lathe_dtype_is_float(dtype))
		return lathe_tir_float(f, dtype, INFINITY);
	int64_t lo, hi;
	int_range(dtype, &lo, &hi);
	return lathe_tir_int(f, dtype, hi);
}
