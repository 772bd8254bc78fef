/* cast.c: Cast and CastLike.
 *
 * The conversion itself is the loop IR's cast, which has ONNX Cast
 * semantics (wrapping for integers and sub-byte integers, round to nearest
 * even for floats, saturation for float8, round up for e8m0).  What the
 * loop IR's cast does not cover is expressed here around it: saturate=0 for
 * the float8 types (out-of-range values and infinities become NaN, or
 * infinity for E5M2).  Strings cannot be converted in a loop program and are
 * refused with a clear error.
 */
#include <math.h>
#include <string.h>

#include "ops/elementwise.h"

lathe_err infer_cast(lathe_infer_ctx *c)
{
	if (c->nin < 1 || !c->in[0])
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	int to;
	if (c->node->op == LATHE_OP_CastLike) {
		if (c->nin < 2 || !c->in[1])
			return lathe_error(LATHE_EINVAL, "CastLike needs input 1 (target_type)");
		to = c->in[1]->dtype;
	} else {
		const lathe_attr *a = lathe_node_attr(c->node, "to");
		if (!a || a->kind != LATHE_ATTR_INT)
			return lathe_error(LATHE_EINVAL, "Cast needs an integer attribute 'to'");
		if (a->u.i <= LATHE_DT_UNDEF || a->u.i >= LATHE_DT_COUNT || !lathe_dtype_size((int)a->u.i))
			return lathe_error(LATHE_EINVAL, "Cast to unknown element type %lld",
					   (long long)a->u.i);
		to = (int)a->u.i;
	}
	if (c->in[0]->kind == LATHE_TY_UNKNOWN) {
		c->out[0] = lathe_type_unknown();
		c->out[0].dtype = to;
		return NULL;
	}
	if (c->in[0]->kind != LATHE_TY_TENSOR)
		return lathe_error(LATHE_EINVAL, "input 0 must be a tensor");
	c->out[0] = lathe_type_with_dtype(c->arena, c->in[0], to);
	return NULL;
}

static bool is_float8(int dt)
{
	return dt == LATHE_DT_F8E4M3FN || dt == LATHE_DT_F8E4M3FNUZ || dt == LATHE_DT_F8E5M2 ||
	       dt == LATHE_DT_F8E5M2FNUZ;
}

/* Without saturation, a float8 target turns magnitudes that round past its
 * largest finite value into NaN (or infinity for E5M2).  The thresholds are
 * the midpoints above the largest finite value, with ties rounding to even:
 * 448 (mantissa 110) keeps 464, 240 (111) loses 248, 57344 (11) loses 61440. */
static lathe_tir_expr *cast_no_saturate(lathe_tir_func *f, int to, lathe_tir_expr *x)
{
	int ct = x->dtype == LATHE_DT_F64 ? LATHE_DT_F64 : LATHE_DT_F32;
	lathe_tir_expr *xc = lathe_ew_to(f, ct, x);
	lathe_tir_expr *ax = lathe_tir_unary(f, LATHE_TIR_ABS, xc);
	lathe_tir_expr *over;
	switch (to) {
	case LATHE_DT_F8E4M3FN:
		over = lathe_tir_binary(f, LATHE_TIR_GT, ax, lathe_ew_const(f, ct, 464));
		break;
	case LATHE_DT_F8E4M3FNUZ:
		over = lathe_tir_binary(f, LATHE_TIR_GE, ax, lathe_ew_const(f, ct, 248));
		break;
	default:
		over = lathe_tir_binary(f, LATHE_TIR_GE, ax, lathe_ew_const(f, ct, 61440));
		break;
	}
	lathe_tir_expr *special;
	if (to == LATHE_DT_F8E5M2)
		special = lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_GT, xc, lathe_ew_const(f, ct, 0)),
					   lathe_ew_const(f, ct, INFINITY), lathe_ew_const(f, ct, -INFINITY));
	else
		special = lathe_ew_const(f, ct, NAN);
	/* NaN compares false, so it takes the plain cast (NaN in every format). */
	return lathe_tir_select(f, over, lathe_tir_cast(f, to, special), lathe_tir_cast(f, to, xc));
}

lathe_err lower_cast(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	if (c->nin < 1 || !c->in_buf[0])
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *out = c->out_buf[0];
	int from = c->in_buf[0]->dtype, to = out->dtype;
	if (from == LATHE_DT_STR || to == LATHE_DT_STR)
		return lathe_error(LATHE_EUNSUPPORTED, "cast from %s to %s: string conversion is not supported",
				   lathe_dtype_name(from), lathe_dtype_name(to));
	if (from == LATHE_DT_C64 || from == LATHE_DT_C128 || to == LATHE_DT_C64 || to == LATHE_DT_C128)
		return lathe_error(LATHE_EUNSUPPORTED, "cast from %s to %s: complex types are not supported",
				   lathe_dtype_name(from), lathe_dtype_name(to));
	bool saturate = lathe_node_attr_int(c->node, "saturate", 1) != 0;
	if (to == LATHE_DT_F8E8M0) {
		const char *mode = lathe_node_attr_str(c->node, "round_mode", "up");
		if (strcmp(mode, "up") || !saturate)
			return lathe_error(LATHE_EUNSUPPORTED,
					   "cast to f8e8m0 with round_mode \"%s\" and saturate=%d "
					   "(only round_mode \"up\" with saturate=1 is supported)",
					   mode, saturate);
	}
	lathe_te_axes ax = lathe_te_axes_new(f, "i", out->rank, out->shape);
	lathe_tir_expr *x = lathe_te_load_bcast(f, c->in_buf[0], ax), *v;
	if (from == to)
		v = x;
	else if (!saturate && is_float8(to) && lathe_dtype_is_float(from))
		v = cast_no_saturate(f, to, x);
	else
		v = lathe_tir_cast(f, to, x);
	lathe_te_compute(f, out, ax, v);
	return NULL;
}
