/* movement.h: helpers shared by the shape, data-movement, indexing and
 * resampling op files (internal to src/ops: shape.c, movement.c, index.c,
 * resize.c).
 *
 * Two kinds: type helpers that keep a dim's symbol where an output dim is an
 * input dim, and short constructors for the index arithmetic these ops'
 * computes are made of.  Index expressions are i64, as loop variables are.
 */
#ifndef LATHE_OPS_MOVEMENT_H
#define LATHE_OPS_MOVEMENT_H

#include "ops/op.h"

/* ---- types ------------------------------------------------------------------ */

static inline bool mv_is_tensor(const lathe_type *t)
{
	return t && t->kind == LATHE_TY_TENSOR;
}

static inline bool mv_has_rank(const lathe_type *t)
{
	return mv_is_tensor(t) && t->rank >= 0;
}

static inline bool mv_dim_known(lathe_dim d)
{
	return d.sym < 0 && d.size >= 0;
}

static inline lathe_dim mv_dim(int64_t n)
{
	lathe_dim d = {n, -1};
	return d;
}

static inline lathe_dim mv_dim_unknown(void)
{
	lathe_dim d = {-1, -1};
	return d;
}

/* Input i's type, NULL when absent. */
static inline const lathe_type *mv_in(lathe_infer_ctx *c, int i)
{
	return i < c->nin ? c->in[i] : NULL;
}

/* Input i's value when it is a parameter input with a known value. */
static inline const lathe_tensor *mv_val(lathe_infer_ctx *c, int i)
{
	return i < c->nin && c->in[i] ? c->in_val[i] : NULL;
}

static inline int mv_dtype(lathe_infer_ctx *c, int i)
{
	const lathe_type *t = mv_in(c, i);
	return mv_is_tensor(t) ? t->dtype : LATHE_DT_UNDEF;
}

static inline lathe_err mv_need(lathe_infer_ctx *c, int i, const char *what)
{
	const lathe_type *t = mv_in(c, i);
	if (!t)
		return lathe_error(LATHE_EINVAL, "input %d (%s) is required", i, what);
	if (t->kind == LATHE_TY_SEQUENCE || t->kind == LATHE_TY_OPTIONAL)
		return lathe_error(LATHE_EINVAL, "input %d (%s) must be a tensor", i, what);
	return NULL;
}

/* ---- lowering ------------------------------------------------------------------ */

static inline lathe_err mv_need_buf(lathe_lower_ctx *c, int i)
{
	if (i >= c->nin || !c->in_buf[i])
		return lathe_error(LATHE_EINVAL, "input %d is required", i);
	return NULL;
}

static inline lathe_tir_buf *mv_buf(lathe_lower_ctx *c, int i)
{
	return i < c->nin ? c->in_buf[i] : NULL;
}

/* Axes over output j's shape. */
static inline lathe_te_axes mv_out_axes(lathe_lower_ctx *c, int j)
{
	return lathe_te_axes_new(c->fn, "i", c->out_buf[j]->rank, c->out_buf[j]->shape);
}

static inline lathe_tir_expr **mv_idx(lathe_tir_func *f, int n)
{
	return lathe_arena_new(f->arena, lathe_tir_expr *, n > 0 ? n : 1);
}

static inline lathe_tir_expr *mv_i64(lathe_tir_func *f, int64_t v)
{
	return lathe_tir_i64(f, v);
}

static inline lathe_tir_expr *mv_bin(lathe_tir_func *f, int op, lathe_tir_expr *a,
				     lathe_tir_expr *b)
{
	return lathe_tir_binary(f, op, a, b);
}

static inline lathe_tir_expr *mv_addc(lathe_tir_func *f, lathe_tir_expr *a, int64_t b)
{
	return b ? lathe_tir_binary(f, LATHE_TIR_ADD, a, lathe_tir_i64(f, b)) : a;
}

static inline lathe_tir_expr *mv_mulc(lathe_tir_func *f, lathe_tir_expr *a, int64_t b)
{
	return b != 1 ? lathe_tir_binary(f, LATHE_TIR_MUL, a, lathe_tir_i64(f, b)) : a;
}

/* e as i64 (no node when it is one already). */
static inline lathe_tir_expr *mv_to_i64(lathe_tir_func *f, lathe_tir_expr *e)
{
	return e->dtype == LATHE_DT_I64 ? e : lathe_tir_cast(f, LATHE_DT_I64, e);
}

/* An index value read from data, as i64, with negative values counted from
 * the end of a dim of size `dim` (Gather and friends). */
static inline lathe_tir_expr *mv_wrap_index(lathe_tir_func *f, lathe_tir_expr *raw, int64_t dim)
{
	lathe_tir_expr *v = mv_to_i64(f, raw);
	return lathe_tir_select(f, mv_bin(f, LATHE_TIR_LT, v, mv_i64(f, 0)), mv_addc(f, v, dim), v);
}

/* lo <= e < hi, as bool. */
static inline lathe_tir_expr *mv_in_range(lathe_tir_func *f, lathe_tir_expr *e, int64_t lo,
					  int64_t hi)
{
	return mv_bin(f, LATHE_TIR_AND, mv_bin(f, LATHE_TIR_GE, e, mv_i64(f, lo)),
		      mv_bin(f, LATHE_TIR_LT, e, mv_i64(f, hi)));
}

/* e clamped into [lo, hi]. */
static inline lathe_tir_expr *mv_clamp(lathe_tir_func *f, lathe_tir_expr *e, int64_t lo,
				       int64_t hi)
{
	return mv_bin(f, LATHE_TIR_MIN, mv_bin(f, LATHE_TIR_MAX, e, mv_i64(f, lo)), mv_i64(f, hi));
}

/* The only element of a scalar (or one-element) buffer. */
static inline lathe_tir_expr *mv_load_first(lathe_tir_func *f, lathe_tir_buf *b)
{
	lathe_tir_expr **idx = mv_idx(f, b->rank);
	for (int k = 0; k < b->rank; k++)
		idx[k] = mv_i64(f, 0);
	return lathe_tir_load(f, b, idx);
}

/* Appends `for ax: body`. */
static inline void mv_append_nest(lathe_tir_func *f, lathe_te_axes ax, lathe_tir_stmt *body)
{
	lathe_tir_append(f, lathe_te_nest(f, ax, body));
}

#endif
