/* elementwise.h: helpers shared by the elementwise, activation, cast and
 * reduction op files (internal to src/ops).
 *
 * The "math type" of an element type is the type arithmetic is done in:
 * f16, bf16 and the 8/4-bit floats compute in f32 (rounded back on store,
 * NumPy's behaviour), everything else in itself.  Reductions accumulate in
 * f32 at least (f64 for f64).
 */
#ifndef LATHE_OPS_ELEMENTWISE_H
#define LATHE_OPS_ELEMENTWISE_H

#include "ops/op.h"

int lathe_ew_math_dtype(int dtype);
/* Accumulator type of a reduction over `dtype`: f32 for narrow floats and
 * f32 itself, f64 for f64, the type itself for integers. */
int lathe_ew_acc_dtype(int dtype);
/* e converted to dtype (no node when it already has it). */
lathe_tir_expr *lathe_ew_to(lathe_tir_func *f, int dtype, lathe_tir_expr *e);
/* A constant of dtype; v is truncated for integer types. */
lathe_tir_expr *lathe_ew_const(lathe_tir_func *f, int dtype, double v);
/* a * b + c (two roundings: not a fused multiply-add). */
lathe_tir_expr *lathe_ew_muladd(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b,
			     lathe_tir_expr *c);
/* A scalar (rank-0 or one-element) buffer's only element. */
lathe_tir_expr *lathe_ew_load_scalar(lathe_tir_func *f, lathe_tir_buf *b);

/* activation.c: c's activation function (Relu, Elu, Gelu...) of x, which
 * already has its math type (f64 for integer inputs); an error for an op
 * that is not an activation. */
lathe_err lathe_ew_activation(lathe_lower_ctx *c, lathe_tir_expr *x, lathe_tir_expr **out);

/* ---- reductions (reduce.c) ---------------------------------------------- */

/* A reduction of a buffer of shape `shape` over the dims marked in `red`.
 * kshape is the shape with reduced dims set to 1 (keepdims), the shape of
 * the locals that hold per-row statistics (max, sum, mean...). */
typedef struct lathe_ew_rplan {
	int rank;
	const int64_t *shape;
	bool *red;
	int nred;
	int64_t *rext;   /* extents of the reduced dims, in order */
	int64_t count;   /* product of rext (elements per reduction) */
	int64_t *kshape;
	int64_t *oshape; /* shape without the reduced dims */
} lathe_ew_rplan;

lathe_err lathe_ew_rplan_init(lathe_tir_func *f, int rank, const int64_t *shape,
			      const bool *red, lathe_ew_rplan *p);
/* Index into a kshape buffer from indices over the full shape. */
lathe_tir_expr **lathe_ew_rplan_kidx(lathe_tir_func *f, const lathe_ew_rplan *p,
				     lathe_tir_expr *const *full);
/* Flat index of the reduced dims' part of a full-shape index, row-major. */
lathe_tir_expr *lathe_ew_rplan_rflat(lathe_tir_func *f, const lathe_ew_rplan *p,
				     lathe_tir_expr *const *full);

/* One reduction nest: ax ranges over the destination (kshape when keep,
 * else oshape), rax over the reduced extents; in_idx indexes the reduced
 * buffer.  Build the value from in_idx (and ax.idx for kshape locals),
 * then call _end. */
typedef struct lathe_ew_red {
	lathe_te_axes ax, rax;
	lathe_tir_expr **in_idx;
	lathe_te_reduce r;
} lathe_ew_red;
lathe_ew_red lathe_ew_red_begin(lathe_tir_func *f, const lathe_ew_rplan *p, int acc_dtype,
				bool keep);
/* Appends the nest; post (may use r.acc_val) is converted to dst's type; a
 * NULL post stores the accumulator. */
void lathe_ew_red_end(lathe_tir_func *f, lathe_ew_red *red, lathe_tir_buf *dst, int binop,
		      lathe_tir_expr *init, lathe_tir_expr *value, lathe_tir_expr *post);
/* A new local buffer of kshape. */
lathe_tir_buf *lathe_ew_klocal(lathe_tir_func *f, const lathe_ew_rplan *p, const char *name,
			       int dtype);
/* Normalizes an axis attribute against a rank; errors name the attribute. */
lathe_err lathe_ew_axis(int64_t axis, int rank, const char *what, int *out);

#endif
