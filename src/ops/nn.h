/* nn.h: helpers shared by the convolution, pooling, matrix-product and
 * attention op files (internal to src/ops: conv.c, pool.c, nn.c, linalg.c,
 * attention.c).
 *
 * Three kinds of help:
 *  - short constructors for loop-IR index and value expressions (the computes
 *    of these ops are mostly index arithmetic);
 *  - a few type-inference helpers that keep symbolic dims where an output dim
 *    is an input dim;
 *  - the sliding-window geometry of Conv, ConvTranspose and the pools
 *    (kernel, strides, dilations, pads, auto_pad, ceil_mode), computed once
 *    for inference and lowering alike, so the two can never disagree.
 *
 * Accumulation types: float products accumulate in f32 (f64 for f64 data);
 * integer products (ConvInteger, MatMulInteger, the QLinear ops) in i32.
 */
#ifndef LATHE_OPS_NN_H
#define LATHE_OPS_NN_H

#include "ops/op.h"

/* ---- expressions ------------------------------------------------------------ */

static inline lathe_tir_expr *nn_i64(lathe_tir_func *f, int64_t v)
{
	return lathe_tir_i64(f, v);
}
static inline lathe_tir_expr *nn_bin(lathe_tir_func *f, int op, lathe_tir_expr *a,
				     lathe_tir_expr *b)
{
	return lathe_tir_binary(f, op, a, b);
}
static inline lathe_tir_expr *nn_add(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	return lathe_tir_binary(f, LATHE_TIR_ADD, a, b);
}
static inline lathe_tir_expr *nn_sub(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	return lathe_tir_binary(f, LATHE_TIR_SUB, a, b);
}
static inline lathe_tir_expr *nn_mul(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	return lathe_tir_binary(f, LATHE_TIR_MUL, a, b);
}
/* i64 index arithmetic with a constant operand. */
static inline lathe_tir_expr *nn_addc(lathe_tir_func *f, lathe_tir_expr *a, int64_t c)
{
	return c ? nn_add(f, a, nn_i64(f, c)) : a;
}
static inline lathe_tir_expr *nn_mulc(lathe_tir_func *f, lathe_tir_expr *a, int64_t c)
{
	return c == 1 ? a : nn_mul(f, a, nn_i64(f, c));
}
static inline lathe_tir_expr *nn_divc(lathe_tir_func *f, lathe_tir_expr *a, int64_t c)
{
	return c == 1 ? a : nn_bin(f, LATHE_TIR_FLOORDIV, a, nn_i64(f, c));
}
static inline lathe_tir_expr *nn_modc(lathe_tir_func *f, lathe_tir_expr *a, int64_t c)
{
	return nn_bin(f, LATHE_TIR_FLOORMOD, a, nn_i64(f, c));
}
/* Logical and of two bool conditions; NULL stands for "true". */
static inline lathe_tir_expr *nn_and(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return lathe_tir_binary(f, LATHE_TIR_AND, a, b);
}

/* e converted to dtype (e itself when it already has it). */
lathe_tir_expr *lathe_nn_to(lathe_tir_func *f, int dtype, lathe_tir_expr *e);
/* A constant of dtype (float or integer). */
lathe_tir_expr *lathe_nn_const(lathe_tir_func *f, int dtype, double v);
/* Accumulator type of products of `dtype`: f64 for f64, f32 for the other
 * floats, i32 for 8/16-bit integers, the type itself for wider integers. */
int lathe_nn_acc_dtype(int dtype);
/* The type narrow floats compute in: f32 for f16/bf16/float8, else itself. */
int lathe_nn_math_dtype(int dtype);
/* The only element of a one-element buffer (rank 0 or all dims 1); element
 * `i` of a 1-D per-channel buffer when it has more than one element. */
lathe_tir_expr *lathe_nn_load_scalar(lathe_tir_func *f, lathe_tir_buf *b);
lathe_tir_expr *lathe_nn_load_chan(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *i);
/* Errors unless b holds one element / one element or n (1-D). */
lathe_err lathe_nn_check_scalar(const lathe_tir_buf *b, const char *what);
lathe_err lathe_nn_check_chan(const lathe_tir_buf *b, int64_t n, const char *what);
/* Loads b at idx (b->rank expressions). */
lathe_tir_expr *lathe_nn_load(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *const *idx);
/* Loads b with NumPy broadcasting against `n` indices of a shape of which b's
 * dims are the trailing ones (dims of size 1 read index 0). */
lathe_tir_expr *lathe_nn_load_bcast(lathe_tir_func *f, lathe_tir_buf *b, int n,
				    lathe_tir_expr *const *idx);
/* A statement computing out[ax] = op-reduction of value over rax, for use
 * inside other loops (lathe_te_reduce_end appends at the top level instead).
 * `acc` is a rank-0 local of the accumulator type; post may use its load. */
lathe_tir_stmt *lathe_nn_reduce_stmt(lathe_tir_func *f, lathe_tir_buf *acc, lathe_tir_buf *out,
				     lathe_tir_expr *const *out_idx, lathe_te_axes rax, int binop,
				     lathe_tir_expr *init, lathe_tir_expr *value,
				     lathe_tir_expr *post);
/* A rank-0 local buffer of dtype and a load of it. */
lathe_tir_buf *lathe_nn_scalar_local(lathe_tir_func *f, const char *name, int dtype);
lathe_tir_expr *lathe_nn_load0(lathe_tir_func *f, lathe_tir_buf *b);
lathe_tir_stmt *lathe_nn_store0(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *v);

/* QLinear requantization of an i32 accumulator, with the ONNX reference's
 * arithmetic: saturate(round_half_even(f64(acc) * f64(scale) + f64(zp)))
 * to u8 or i8; scale = a_scale * b_scale / y_scale in the scales' own type. */
lathe_tir_expr *lathe_nn_requantize(lathe_tir_func *f, lathe_tir_expr *acc,
				    lathe_tir_expr *scale, lathe_tir_expr *zp, int out_dtype);
lathe_tir_expr *lathe_nn_qscale(lathe_tir_func *f, lathe_tir_expr *as, lathe_tir_expr *bs,
				lathe_tir_expr *ys);

/* ---- inference --------------------------------------------------------------- */

/* A tensor type of dtype and rank (-1: unknown rank) with every dim unknown. */
lathe_type lathe_nn_type(lathe_arena *a, int dtype, int rank);
/* True (and *out set) when dim i of t is a known constant. */
bool lathe_nn_dim(const lathe_type *t, int i, int64_t *out);
/* The input, or NULL when missing or of unknown type. */
const lathe_type *lathe_nn_in(const lathe_infer_ctx *c, int i);
/* Error unless input i is present. */
lathe_err lathe_nn_need(const lathe_infer_ctx *c, int i, const char *what);
/* Error if a known rank differs from `rank`. */
lathe_err lathe_nn_check_rank(const lathe_type *t, int rank, const char *what);
/* Element type check: floats (f16/bf16/f32/f64) only. */
lathe_err lathe_nn_check_float(int dtype, const char *what);

/* ---- sliding windows ----------------------------------------------------------- */

enum lathe_nn_window {
	LATHE_NN_CONV,      /* Conv, ConvInteger, QLinearConv, DeformConv */
	LATHE_NN_CONV_T,    /* ConvTranspose */
	LATHE_NN_POOL,      /* MaxPool, AveragePool, LpPool (ceil_mode) */
};

/* Geometry of one sliding-window op over `n` spatial dims.  Sizes that
 * depend on an unknown input dim are -1 (in, out, and SAME pads). */
typedef struct lathe_nn_geom {
	int n;
	int64_t *in;       /* input spatial sizes */
	int64_t *kernel;
	int64_t *stride;
	int64_t *dil;
	int64_t *pad_lo;   /* effective pads (auto_pad resolved) */
	int64_t *pad_hi;
	int64_t *out;      /* output spatial sizes */
} lathe_nn_geom;

/* Computes the geometry from the node's attributes.  in: n spatial input
 * sizes (-1 unknown); wkernel: the kernel dims taken from the weight (NULL
 * for pools, or entries -1 when unknown), checked against kernel_shape. */
lathe_err lathe_nn_geom_init(lathe_arena *a, const lathe_node *node, int kind, int n,
			     const int64_t *in, const int64_t *wkernel, lathe_nn_geom *g);
/* Spatial sizes of a type from dim 2 on (-1 where unknown); n = rank - 2. */
int64_t *lathe_nn_spatial(lathe_arena *a, const lathe_type *t, int n);

#endif
