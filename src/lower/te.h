/* te.h: the tensor-expression builder.
 *
 * Ops define their meaning as computes over index variables, in the style
 * out[n, c, h, w] = sum over (r...) of value(n, c, h, w, r...).  The builder
 * turns such a definition into loop-IR statements appended to a function:
 * one loop nest per compute, with a local accumulator for reductions.  It is
 * the only place that decides the shape of a naive loop nest; schedules
 * transform what it builds.
 */
#ifndef LATHE_TE_H
#define LATHE_TE_H

#include "tir/tir.h"

/* A set of index variables: vars[i] ranges over [0, extent[i]). */
typedef struct lathe_te_axes {
	int n;
	lathe_tir_var **vars;
	lathe_tir_expr **idx; /* idx[i] = reference to vars[i] */
	int64_t *extent;
} lathe_te_axes;

/* New variables named prefix0, prefix1, ... over the given extents. */
lathe_te_axes lathe_te_axes_new(lathe_tir_func *f, const char *prefix, int n,
				const int64_t *extent);
/* Wraps body in serial loops over ax (outermost first). */
lathe_tir_stmt *lathe_te_nest(lathe_tir_func *f, lathe_te_axes ax, lathe_tir_stmt *body);

/* out[ax] = value, appended to f, where ax are the axes returned for out's
 * shape by lathe_te_axes_new(f, "i", out->rank, out->shape). */
void lathe_te_compute(lathe_tir_func *f, lathe_tir_buf *out, lathe_te_axes ax,
		      lathe_tir_expr *value);

/* A reduction.  Begin gives the accumulator (a local scalar buffer of
 * acc_dtype) as an expression the caller may use in `post`:
 *
 *   lathe_te_reduce r = lathe_te_reduce_begin(f, LATHE_DT_F32);
 *   lathe_te_reduce_end(f, &r, out, ax, rax, LATHE_TIR_ADD, init, value, post);
 *
 * appends: for ax { acc = init; for rax { acc = op(acc, value) };
 *                   out[ax] = post (or cast(acc) if post is NULL) }.
 * value is built from ax.idx and rax.idx and must have acc_dtype. */
typedef struct lathe_te_reduce {
	lathe_tir_buf *acc;
	lathe_tir_expr *acc_val; /* load of the accumulator */
} lathe_te_reduce;
lathe_te_reduce lathe_te_reduce_begin(lathe_tir_func *f, int acc_dtype);
void lathe_te_reduce_end(lathe_tir_func *f, lathe_te_reduce *r, lathe_tir_buf *out,
			 lathe_te_axes ax, lathe_te_axes rax, int binop,
			 lathe_tir_expr *init, lathe_tir_expr *value, lathe_tir_expr *post);

/* Loads in from output axes with NumPy broadcasting: in's dims align with
 * the last in->rank axes; a dim of size 1 reads index 0. */
lathe_tir_expr *lathe_te_load_bcast(lathe_tir_func *f, lathe_tir_buf *in, lathe_te_axes ax);
/* Row-major flat offset of idx in shape, and its inverse. */
lathe_tir_expr *lathe_te_ravel(lathe_tir_func *f, int rank, const int64_t *shape,
			       lathe_tir_expr *const *idx);
void lathe_te_unravel(lathe_tir_func *f, lathe_tir_expr *flat, int rank,
		      const int64_t *shape, lathe_tir_expr **out_idx);
/* Convenience: binary/unary/constant in the dtype of `like`. */
lathe_tir_expr *lathe_te_const_like(lathe_tir_func *f, lathe_tir_expr *like, double v);
/* Largest / smallest finite value of a dtype as a constant (-inf/+inf for
 * floats), for max/min reductions. */
lathe_tir_expr *lathe_te_lowest(lathe_tir_func *f, int dtype);
lathe_tir_expr *lathe_te_highest(lathe_tir_func *f, int dtype);

#endif
