/* elementwise.c: the elementwise ops (ops_elementwise.def) and the shared
 * inference helpers other families reuse (infer_same, infer_broadcast,
 * infer_compare, infer_to_bool).
 *
 * Every op here is one compute out[i...] = f(in0[i...], in1[i...], ...) with
 * NumPy broadcasting, built with the tensor-expression builder, except
 * Identity, a kernel that passes any value (sequences and optionals too)
 * through, and training-mode Dropout, whose loop program also runs the
 * random generator.  Float math on f16/bf16 is done in f32 and rounded back,
 * as NumPy does, and integer math wraps at the element width (the loop IR's
 * arithmetic); integer division and modulo by zero give 0, as in NumPy.
 * Activation functions live in activation.c, Cast in cast.c.
 *
 * Inference works on partial types: an input of unknown type gives an
 * unknown output rather than an error, so inference can run before every
 * value is typed.
 */
#include <string.h>

#include "ops/elementwise.h"

/* ---- inference ------------------------------------------------------------ */

static bool is_unknown(const lathe_type *t)
{
	return t->kind == LATHE_TY_UNKNOWN;
}

lathe_err infer_same(lathe_infer_ctx *c)
{
	if (c->nin < 1 || !c->in[0])
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	for (int j = 0; j < c->nout; j++)
		c->out[j] = lathe_type_like(c->arena, c->in[0]);
	return NULL;
}

/* All present inputs must be tensors (or not yet known); returns true when
 * one is unknown, in which case the caller leaves outputs unknown. */
static lathe_err check_tensors(lathe_infer_ctx *c, int n, bool *any_unknown)
{
	*any_unknown = false;
	for (int i = 0; i < n; i++) {
		if (!c->in[i])
			return lathe_error(LATHE_EINVAL, "input %d is required", i);
		if (is_unknown(c->in[i]))
			*any_unknown = true;
		else if (c->in[i]->kind != LATHE_TY_TENSOR)
			return lathe_error(LATHE_EINVAL, "input %d must be a tensor", i);
	}
	return NULL;
}

/* Broadcast of inputs [0, n) to one output of dtype `dtype`; with
 * same_dtype, all known input dtypes must agree. */
static lathe_err infer_bcast_n(lathe_infer_ctx *c, int n, int dtype, bool same_dtype)
{
	bool unknown;
	LATHE_TRY(check_tensors(c, n, &unknown));
	if (same_dtype) {
		for (int i = 1; i < n; i++) {
			int a = c->in[0]->dtype, b = c->in[i]->dtype;
			/* UNDEF: a tensor whose element type is not known yet. */
			if (!unknown && a != b && a != LATHE_DT_UNDEF && b != LATHE_DT_UNDEF)
				return lathe_error(LATHE_EINVAL,
						   "input %d has element type %s but input 0 has %s",
						   i, lathe_dtype_name(b), lathe_dtype_name(a));
		}
	}
	if (unknown) {
		c->out[0] = lathe_type_unknown();
		return NULL;
	}
	return lathe_broadcast_types(c->arena, n, c->in, dtype, &c->out[0]);
}

lathe_err infer_broadcast(lathe_infer_ctx *c)
{
	if (c->nin < 1 || c->nout < 1)
		return lathe_error(LATHE_EINVAL, "expects inputs and an output");
	/* Pow's exponent may have another element type than its base. */
	bool same = c->node->op != LATHE_OP_Pow;
	int dtype = c->in[0] ? c->in[0]->dtype : LATHE_DT_UNDEF;
	for (int i = 1; same && dtype == LATHE_DT_UNDEF && i < c->nin; i++)
		if (c->in[i])
			dtype = c->in[i]->dtype;
	return infer_bcast_n(c, c->nin, dtype, same);
}

lathe_err infer_compare(lathe_infer_ctx *c)
{
	if (c->nin < 1 || c->nout < 1)
		return lathe_error(LATHE_EINVAL, "expects inputs and an output");
	return infer_bcast_n(c, c->nin, LATHE_DT_BOOL, true);
}

lathe_err infer_to_bool(lathe_infer_ctx *c)
{
	if (c->nin < 1 || !c->in[0])
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	if (is_unknown(c->in[0])) {
		c->out[0] = lathe_type_unknown();
		return NULL;
	}
	if (c->in[0]->kind != LATHE_TY_TENSOR)
		return lathe_error(LATHE_EINVAL, "input 0 must be a tensor");
	c->out[0] = lathe_type_with_dtype(c->arena, c->in[0], LATHE_DT_BOOL);
	return NULL;
}

lathe_err infer_variadic(lathe_infer_ctx *c)
{
	if (c->nin < 1 || c->nout < 1)
		return lathe_error(LATHE_EINVAL, "expects at least one input");
	int dtype = c->in[0] ? c->in[0]->dtype : LATHE_DT_UNDEF;
	return infer_bcast_n(c, c->nin, dtype, true);
}

lathe_err infer_where(lathe_infer_ctx *c)
{
	if (c->nin != 3 || c->nout < 1)
		return lathe_error(LATHE_EINVAL, "expects 3 inputs (condition, X, Y)");
	bool unknown;
	LATHE_TRY(check_tensors(c, 3, &unknown));
	if (unknown) {
		c->out[0] = lathe_type_unknown();
		return NULL;
	}
	if (c->in[0]->dtype != LATHE_DT_BOOL)
		return lathe_error(LATHE_EINVAL, "condition must be bool, not %s",
				   lathe_dtype_name(c->in[0]->dtype));
	if (c->in[1]->dtype != c->in[2]->dtype)
		return lathe_error(LATHE_EINVAL, "X is %s but Y is %s",
				   lathe_dtype_name(c->in[1]->dtype),
				   lathe_dtype_name(c->in[2]->dtype));
	return lathe_broadcast_types(c->arena, 3, c->in, c->in[1]->dtype, &c->out[0]);
}

/* Reads element 0 of a parameter input's value as a double. */
static lathe_err param_scalar(const lathe_tensor *t, const char *what, double *out)
{
	if (lathe_tensor_numel(t) < 1)
		return lathe_error(LATHE_EINVAL, "%s must hold one value, it is empty", what);
	if (t->dtype == LATHE_DT_STR)
		return lathe_error(LATHE_EINVAL, "%s must be numeric, not a string", what);
	*out = lathe_rt_load_f64(t, 0);
	return NULL;
}

lathe_err infer_dropout(lathe_infer_ctx *c)
{
	if (c->nin < 1 || !c->in[0])
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	if (c->nin > 1 && c->in_val[1]) {
		double r;
		LATHE_TRY(param_scalar(c->in_val[1], "ratio", &r));
		if (!(r >= 0 && r < 1))
			return lathe_error(LATHE_EINVAL, "ratio %g is outside [0, 1)", r);
	}
	c->out[0] = lathe_type_like(c->arena, c->in[0]);
	if (c->nout > 1) {
		if (c->in[0]->kind == LATHE_TY_UNKNOWN)
			c->out[1] = lathe_type_unknown();
		else
			c->out[1] = lathe_type_with_dtype(c->arena, c->in[0], LATHE_DT_BOOL);
	}
	return NULL;
}

/* ---- shared helpers ------------------------------------------------------- */

int lathe_ew_math_dtype(int dtype)
{
	switch (dtype) {
	case LATHE_DT_F16:
	case LATHE_DT_BF16:
	case LATHE_DT_F8E4M3FN:
	case LATHE_DT_F8E4M3FNUZ:
	case LATHE_DT_F8E5M2:
	case LATHE_DT_F8E5M2FNUZ:
	case LATHE_DT_F8E8M0:
	case LATHE_DT_F4E2M1:
		return LATHE_DT_F32;
	default:
		return dtype;
	}
}

int lathe_ew_acc_dtype(int dtype)
{
	if (dtype == LATHE_DT_F64)
		return LATHE_DT_F64;
	if (lathe_dtype_is_float(dtype))
		return LATHE_DT_F32;
	return dtype;
}

lathe_tir_expr *lathe_ew_to(lathe_tir_func *f, int dtype, lathe_tir_expr *e)
{
	return e->dtype == dtype ? e : lathe_tir_cast(f, dtype, e);
}

lathe_tir_expr *lathe_ew_const(lathe_tir_func *f, int dtype, double v)
{
	if (lathe_dtype_is_float(dtype))
		return lathe_tir_float(f, dtype, v);
	return lathe_tir_int(f, dtype, (int64_t)v);
}

lathe_tir_expr *lathe_ew_muladd(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b,
			     lathe_tir_expr *c)
{
	return lathe_tir_binary(f, LATHE_TIR_ADD, lathe_tir_binary(f, LATHE_TIR_MUL, a, b), c);
}

lathe_tir_expr *lathe_ew_load_scalar(lathe_tir_func *f, lathe_tir_buf *b)
{
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, b->rank + 1);
	for (int i = 0; i < b->rank; i++)
		idx[i] = lathe_tir_i64(f, 0);
	return lathe_tir_load(f, b, idx);
}

/* ---- lowering ------------------------------------------------------------- */

/* One compute out[i...] = value over the output's shape; `value` is built by
 * the caller from ax and is converted to the output's element type. */
static void compute_out(lathe_lower_ctx *c, int j, lathe_te_axes ax, lathe_tir_expr *value)
{
	lathe_tir_buf *out = c->out_buf[j];
	lathe_te_compute(c->fn, out, ax, lathe_ew_to(c->fn, out->dtype, value));
}

static lathe_te_axes out_axes(lathe_lower_ctx *c, int j)
{
	lathe_tir_buf *out = c->out_buf[j];
	return lathe_te_axes_new(c->fn, "i", out->rank, out->shape);
}

static lathe_err need_tensor_bufs(lathe_lower_ctx *c, int n)
{
	for (int i = 0; i < n; i++)
		if (i >= c->nin || !c->in_buf[i])
			return lathe_error(LATHE_EINVAL, "input %d is required", i);
	return NULL;
}

/* Identity is a kernel rather than a loop so that it also passes sequences
 * and optionals through; a tensor is shared, not copied (run-time values
 * are never written after they are produced). */
lathe_err kernel_identity(lathe_kernel_ctx *c)
{
	if (c->nin < 1 || c->nout < 1)
		return lathe_error(LATHE_EINVAL, "Identity takes one input and one output");
	const lathe_rvalue *in = &c->in[0];
	if (in->kind == LATHE_TY_TENSOR && !in->t)
		return lathe_error(LATHE_EINVAL, "input 0 is required");
	c->out[0] = *in;
	return NULL;
}

static bool is_unsigned(int dtype)
{
	return dtype == LATHE_DT_U8 || dtype == LATHE_DT_U16 || dtype == LATHE_DT_U32 ||
	       dtype == LATHE_DT_U64 || dtype == LATHE_DT_U4 || dtype == LATHE_DT_U2 ||
	       dtype == LATHE_DT_BOOL;
}

static lathe_err need_float(int op, int dtype)
{
	if (!lathe_dtype_is_float(dtype))
		return lathe_error(LATHE_EUNSUPPORTED, "%s takes a float input, not %s",
				   lathe_op_name(op), lathe_dtype_name(dtype));
	return NULL;
}

static lathe_err need_dtype_class(int op, int dtype, bool want_bool)
{
	bool ok = want_bool ? dtype == LATHE_DT_BOOL : lathe_dtype_is_int(dtype);
	if (!ok)
		return lathe_error(LATHE_EUNSUPPORTED, "%s takes %s input, not %s",
				   lathe_op_name(op), want_bool ? "a bool" : "an integer",
				   lathe_dtype_name(dtype));
	return NULL;
}

/* The unary float functions of the loop IR, by op. */
static int float_unop(int op)
{
	switch (op) {
	case LATHE_OP_Sqrt: return LATHE_TIR_SQRT;
	case LATHE_OP_Exp: return LATHE_TIR_EXP;
	case LATHE_OP_Log: return LATHE_TIR_LOG;
	case LATHE_OP_Sin: return LATHE_TIR_SIN;
	case LATHE_OP_Cos: return LATHE_TIR_COS;
	case LATHE_OP_Tan: return LATHE_TIR_TAN;
	case LATHE_OP_Asin: return LATHE_TIR_ASIN;
	case LATHE_OP_Acos: return LATHE_TIR_ACOS;
	case LATHE_OP_Atan: return LATHE_TIR_ATAN;
	case LATHE_OP_Sinh: return LATHE_TIR_SINH;
	case LATHE_OP_Cosh: return LATHE_TIR_COSH;
	case LATHE_OP_Tanh: return LATHE_TIR_TANH;
	case LATHE_OP_Asinh: return LATHE_TIR_ASINH;
	case LATHE_OP_Acosh: return LATHE_TIR_ACOSH;
	case LATHE_OP_Atanh: return LATHE_TIR_ATANH;
	case LATHE_OP_Erf: return LATHE_TIR_ERF;
	case LATHE_OP_Floor: return LATHE_TIR_FLOOR;
	case LATHE_OP_Ceil: return LATHE_TIR_CEIL;
	case LATHE_OP_Round: return LATHE_TIR_ROUND;
	default: return -1;
	}
}

static lathe_err unary_value(lathe_lower_ctx *c, lathe_tir_expr *x, lathe_tir_expr **out)
{
	lathe_tir_func *f = c->fn;
	int op = c->node->op, dt = x->dtype, mt = lathe_ew_math_dtype(dt);
	lathe_tir_expr *xm = lathe_ew_to(f, mt, x);
	int fu = float_unop(op);
	if (fu >= 0) {
		/* Rounding an integer is the integer itself. */
		if (lathe_dtype_is_int(dt) && (op == LATHE_OP_Floor || op == LATHE_OP_Ceil ||
					       op == LATHE_OP_Round)) {
			*out = x;
			return NULL;
		}
		LATHE_TRY(need_float(op, dt));
		*out = lathe_tir_unary(f, fu, xm);
		return NULL;
	}
	switch (op) {
	case LATHE_OP_Abs:
		*out = is_unsigned(dt) ? x : lathe_tir_unary(f, LATHE_TIR_ABS, xm);
		return NULL;
	case LATHE_OP_Neg:
		*out = lathe_tir_unary(f, LATHE_TIR_NEG, xm);
		return NULL;
	case LATHE_OP_Sign:
		*out = lathe_tir_unary(f, LATHE_TIR_SIGN, xm);
		return NULL;
	case LATHE_OP_Reciprocal:
		LATHE_TRY(need_float(op, dt));
		*out = lathe_tir_binary(f, LATHE_TIR_DIV, lathe_ew_const(f, mt, 1), xm);
		return NULL;
	case LATHE_OP_Not:
		LATHE_TRY(need_dtype_class(op, dt, true));
		*out = lathe_tir_unary(f, LATHE_TIR_NOT, x);
		return NULL;
	case LATHE_OP_BitwiseNot:
		LATHE_TRY(need_dtype_class(op, dt, false));
		*out = lathe_tir_unary(f, LATHE_TIR_BITNOT, x);
		return NULL;
	case LATHE_OP_IsNaN:
		if (!lathe_dtype_is_float(dt)) {
			*out = lathe_tir_int(f, LATHE_DT_BOOL, 0);
			return NULL;
		}
		*out = lathe_tir_unary(f, LATHE_TIR_ISNAN, xm);
		return NULL;
	case LATHE_OP_IsInf: {
		bool neg = lathe_node_attr_int(c->node, "detect_negative", 1) != 0;
		bool pos = lathe_node_attr_int(c->node, "detect_positive", 1) != 0;
		if (!lathe_dtype_is_float(dt) || (!neg && !pos))
			*out = lathe_tir_int(f, LATHE_DT_BOOL, 0);
		else
			*out = lathe_tir_unary(f, neg && pos ? LATHE_TIR_ISINF
						  : pos    ? LATHE_TIR_ISPOSINF
							   : LATHE_TIR_ISNEGINF, xm);
		return NULL;
	}
	default:
		break;
	}
	/* Activations: integer inputs (where ONNX allows them) compute in f64
	 * and truncate back, except Relu, which is exact in any type. */
	if (!lathe_dtype_is_float(dt) && op != LATHE_OP_Relu) {
		if (!lathe_dtype_is_int(dt))
			return lathe_error(LATHE_EUNSUPPORTED, "%s does not take %s input",
					   lathe_op_name(op), lathe_dtype_name(dt));
		xm = lathe_tir_cast(f, LATHE_DT_F64, x);
	}
	return lathe_ew_activation(c, xm, out);
}

lathe_err lower_unary(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(need_tensor_bufs(c, 1));
	lathe_te_axes ax = out_axes(c, 0);
	lathe_tir_expr *x = lathe_te_load_bcast(c->fn, c->in_buf[0], ax), *v;
	if (x->dtype == LATHE_DT_STR)
		return lathe_error(LATHE_EUNSUPPORTED, "%s does not take string input",
				   lathe_op_name(c->node->op));
	LATHE_TRY(unary_value(c, x, &v));
	compute_out(c, 0, ax, v);
	return NULL;
}

static int compare_binop(int op)
{
	switch (op) {
	case LATHE_OP_Equal: return LATHE_TIR_EQ;
	case LATHE_OP_Less: return LATHE_TIR_LT;
	case LATHE_OP_LessOrEqual: return LATHE_TIR_LE;
	case LATHE_OP_Greater: return LATHE_TIR_GT;
	case LATHE_OP_GreaterOrEqual: return LATHE_TIR_GE;
	default: return -1;
	}
}

/* a / b and a % b on integers, where NumPy gives 0 for a zero divisor: the
 * select evaluates only the chosen arm, so no division by zero happens. */
static lathe_tir_expr *int_div_guarded(lathe_tir_func *f, int binop, lathe_tir_expr *a,
				       lathe_tir_expr *b)
{
	lathe_tir_expr *zero = lathe_ew_const(f, a->dtype, 0);
	return lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_EQ, b, zero), zero,
				lathe_tir_binary(f, binop, a, b));
}

static lathe_err binary_value(lathe_lower_ctx *c, lathe_tir_expr *a, lathe_tir_expr *b,
			      lathe_tir_expr **out)
{
	lathe_tir_func *f = c->fn;
	int op = c->node->op, dt = a->dtype, mt = lathe_ew_math_dtype(dt);
	bool isf = lathe_dtype_is_float(dt);
	if (dt == LATHE_DT_STR || b->dtype == LATHE_DT_STR)
		return lathe_error(LATHE_EUNSUPPORTED, "%s on strings is not supported",
				   lathe_op_name(op));
	if (op != LATHE_OP_Pow && b->dtype != dt)
		return lathe_error(LATHE_EINVAL, "inputs have element types %s and %s",
				   lathe_dtype_name(dt), lathe_dtype_name(b->dtype));
	lathe_tir_expr *am = lathe_ew_to(f, mt, a), *bm = op == LATHE_OP_Pow ? b : lathe_ew_to(f, mt, b);
	int cmp = compare_binop(op);
	if (cmp >= 0) {
		*out = lathe_tir_binary(f, cmp, am, bm);
		return NULL;
	}
	switch (op) {
	case LATHE_OP_Add:
		*out = lathe_tir_binary(f, LATHE_TIR_ADD, am, bm);
		return NULL;
	case LATHE_OP_Sub:
		*out = lathe_tir_binary(f, LATHE_TIR_SUB, am, bm);
		return NULL;
	case LATHE_OP_Mul:
		*out = lathe_tir_binary(f, LATHE_TIR_MUL, am, bm);
		return NULL;
	case LATHE_OP_Div:
		*out = isf ? lathe_tir_binary(f, LATHE_TIR_DIV, am, bm)
			   : int_div_guarded(f, LATHE_TIR_DIV, am, bm);
		return NULL;
	case LATHE_OP_Mod: {
		bool fmod = lathe_node_attr_int(c->node, "fmod", 0) != 0;
		if (isf) {
			/* Float Mod is C's fmod either way (the ONNX reference);
			 * with fmod=0 a NaN result (x % 0) becomes 0. */
			lathe_tir_expr *r = lathe_tir_binary(f, LATHE_TIR_FMOD, am, bm);
			if (!fmod)
				r = lathe_tir_select(f, lathe_tir_unary(f, LATHE_TIR_ISNAN, r),
						     lathe_ew_const(f, mt, 0), r);
			*out = r;
		} else {
			*out = int_div_guarded(f, fmod ? LATHE_TIR_MOD : LATHE_TIR_FLOORMOD, am, bm);
		}
		return NULL;
	}
	case LATHE_OP_Pow: {
		if (b->dtype == LATHE_DT_STR || b->dtype == LATHE_DT_BOOL)
			return lathe_error(LATHE_EUNSUPPORTED, "Pow exponent of type %s",
					   lathe_dtype_name(b->dtype));
		/* An integer base computes in f64 (exact for the integers
		 * that fit its mantissa) and truncates back. */
		int pt = isf ? mt : LATHE_DT_F64;
		if (!isf && !lathe_dtype_is_int(dt))
			return lathe_error(LATHE_EUNSUPPORTED, "Pow base of type %s",
					   lathe_dtype_name(dt));
		*out = lathe_tir_binary(f, LATHE_TIR_POW, lathe_ew_to(f, pt, a),
					lathe_ew_to(f, pt, lathe_ew_to(f, lathe_ew_math_dtype(b->dtype), b)));
		return NULL;
	}
	case LATHE_OP_PRelu: {
		lathe_tir_expr *neg = lathe_tir_binary(f, LATHE_TIR_LT, am, lathe_ew_const(f, mt, 0));
		*out = lathe_tir_select(f, neg, lathe_tir_binary(f, LATHE_TIR_MUL, bm, am), am);
		return NULL;
	}
	case LATHE_OP_BitShift: {
		LATHE_TRY(need_dtype_class(op, dt, false));
		const char *dir = lathe_node_attr_str(c->node, "direction", "");
		int sh;
		if (!strcmp(dir, "LEFT"))
			sh = LATHE_TIR_SHL;
		else if (!strcmp(dir, "RIGHT"))
			sh = LATHE_TIR_SHR;
		else
			return lathe_error(LATHE_EINVAL,
					   "direction must be \"LEFT\" or \"RIGHT\", not \"%s\"", dir);
		*out = lathe_tir_binary(f, sh, a, b);
		return NULL;
	}
	case LATHE_OP_BitwiseAnd:
	case LATHE_OP_BitwiseOr:
	case LATHE_OP_BitwiseXor:
	case LATHE_OP_And:
	case LATHE_OP_Or:
	case LATHE_OP_Xor: {
		bool logical = op == LATHE_OP_And || op == LATHE_OP_Or || op == LATHE_OP_Xor;
		LATHE_TRY(need_dtype_class(op, dt, logical));
		int bo = (op == LATHE_OP_BitwiseAnd || op == LATHE_OP_And) ? LATHE_TIR_AND
			 : (op == LATHE_OP_BitwiseOr || op == LATHE_OP_Or) ? LATHE_TIR_OR
									      : LATHE_TIR_XOR;
		*out = lathe_tir_binary(f, bo, a, b);
		return NULL;
	}
	default:
		return lathe_error(LATHE_EINTERNAL, "lower_binary used for %s", lathe_op_name(op));
	}
}

lathe_err lower_binary(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(need_tensor_bufs(c, 2));
	lathe_te_axes ax = out_axes(c, 0);
	lathe_tir_expr *a = lathe_te_load_bcast(c->fn, c->in_buf[0], ax);
	lathe_tir_expr *b = lathe_te_load_bcast(c->fn, c->in_buf[1], ax), *v = NULL;
	LATHE_TRY(binary_value(c, a, b, &v));
	compute_out(c, 0, ax, v);
	return NULL;
}

lathe_err lower_variadic(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	int op = c->node->op;
	LATHE_TRY(need_tensor_bufs(c, c->nin));
	if (c->nin < 1)
		return lathe_error(LATHE_EINVAL, "%s needs at least one input", lathe_op_name(op));
	lathe_tir_func *f = c->fn;
	lathe_te_axes ax = out_axes(c, 0);
	int dt = c->in_buf[0]->dtype, mt = lathe_ew_math_dtype(dt);
	if (dt == LATHE_DT_STR || dt == LATHE_DT_BOOL)
		return lathe_error(LATHE_EUNSUPPORTED, "%s of %s inputs", lathe_op_name(op),
				   lathe_dtype_name(dt));
	if (op == LATHE_OP_Mean)
		LATHE_TRY(need_float(op, dt));
	int bo = op == LATHE_OP_Max ? LATHE_TIR_MAX : op == LATHE_OP_Min ? LATHE_TIR_MIN : LATHE_TIR_ADD;
	lathe_tir_expr *acc = NULL;
	for (int i = 0; i < c->nin; i++) {
		if (c->in_buf[i]->dtype != dt)
			return lathe_error(LATHE_EINVAL, "input %d is %s but input 0 is %s", i,
					   lathe_dtype_name(c->in_buf[i]->dtype), lathe_dtype_name(dt));
		lathe_tir_expr *x = lathe_ew_to(f, mt, lathe_te_load_bcast(f, c->in_buf[i], ax));
		acc = acc ? lathe_tir_binary(f, bo, acc, x) : x;
	}
	if (op == LATHE_OP_Mean)
		acc = lathe_tir_binary(f, LATHE_TIR_DIV, acc, lathe_ew_const(f, mt, c->nin));
	compute_out(c, 0, ax, acc);
	return NULL;
}

lathe_err lower_where(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(need_tensor_bufs(c, 3));
	lathe_tir_func *f = c->fn;
	lathe_te_axes ax = out_axes(c, 0);
	lathe_tir_expr *cond = lathe_te_load_bcast(f, c->in_buf[0], ax);
	lathe_tir_expr *x = lathe_te_load_bcast(f, c->in_buf[1], ax);
	lathe_tir_expr *y = lathe_te_load_bcast(f, c->in_buf[2], ax);
	if (cond->dtype != LATHE_DT_BOOL || x->dtype != y->dtype)
		return lathe_error(LATHE_EINVAL, "Where takes (bool, T, T), got (%s, %s, %s)",
				   lathe_dtype_name(cond->dtype), lathe_dtype_name(x->dtype),
				   lathe_dtype_name(y->dtype));
	compute_out(c, 0, ax, lathe_tir_select(f, cond, x, y));
	return NULL;
}

/* Clip(x, min?, max?) = min(max(x, lo), hi), NumPy's order: with lo > hi
 * every element becomes hi. */
lathe_err lower_clip(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(need_tensor_bufs(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_te_axes ax = out_axes(c, 0);
	lathe_tir_expr *x = lathe_te_load_bcast(f, c->in_buf[0], ax);
	int dt = x->dtype, mt = lathe_ew_math_dtype(dt);
	if (dt == LATHE_DT_STR || dt == LATHE_DT_BOOL)
		return lathe_error(LATHE_EUNSUPPORTED, "Clip of %s input", lathe_dtype_name(dt));
	lathe_tir_expr *r = lathe_ew_to(f, mt, x);
	for (int i = 1; i <= 2; i++) {
		if (i >= c->nin || !c->in_buf[i])
			continue;
		lathe_tir_buf *b = c->in_buf[i];
		if (b->dtype != dt)
			return lathe_error(LATHE_EINVAL, "input %d is %s but input 0 is %s", i,
					   lathe_dtype_name(b->dtype), lathe_dtype_name(dt));
		int64_t n;
		LATHE_TRY(lathe_shape_numel(b->rank, b->shape, &n));
		if (n != 1)
			return lathe_error(LATHE_EINVAL, "%s must be a scalar, it has %lld elements",
					   i == 1 ? "min" : "max", (long long)n);
		lathe_tir_expr *bound = lathe_ew_to(f, mt, lathe_ew_load_scalar(f, b));
		r = lathe_tir_binary(f, i == 1 ? LATHE_TIR_MAX : LATHE_TIR_MIN, r, bound);
	}
	compute_out(c, 0, ax, r);
	return NULL;
}

/* ---- Dropout -------------------------------------------------------------- */

/* Training-mode Dropout draws its mask the way the ONNX reference does, with
 * NumPy's legacy RandomState(seed).uniform: MT19937 seeded by init_genrand,
 * each double made of two 32-bit draws, ((a >> 5) * 2^26 + (b >> 6)) / 2^53,
 * an element kept when its double is >= ratio.  Element k (row-major) takes
 * draws 2k and 2k+1; the state holds 624 words, an even number, so both come
 * from the same regeneration and the program regenerates once per 312
 * elements.  Without a seed attribute the seed is 0: lathe's output must not
 * depend on anything but its inputs. */
#define MT_N 624
#define MT_M 397

typedef struct let_chain {
	lathe_tir_var *var[8];
	lathe_tir_expr *val[8];
	int n;
} let_chain;

static lathe_tir_expr *let_bind(lathe_tir_func *f, let_chain *l, const char *name,
				lathe_tir_expr *v)
{
	LATHE_ASSERT(l->n < 8);
	lathe_tir_var *var = lathe_tir_new_var(f, name, v->dtype);
	l->var[l->n] = var;
	l->val[l->n++] = v;
	return lathe_tir_varref(f, var);
}

static lathe_tir_stmt *let_wrap(lathe_tir_func *f, let_chain *l, lathe_tir_stmt *body)
{
	for (int i = l->n - 1; i >= 0; i--)
		body = lathe_tir_let(f, l->var[i], l->val[i], body);
	l->n = 0;
	return body;
}

static lathe_tir_expr *u32c(lathe_tir_func *f, uint32_t v)
{
	return lathe_tir_int(f, LATHE_DT_U32, v);
}

static lathe_tir_expr *mt_temper(lathe_tir_func *f, let_chain *l, lathe_tir_expr *y)
{
	y = let_bind(f, l, "y", lathe_tir_binary(f, LATHE_TIR_XOR, y,
						  lathe_tir_binary(f, LATHE_TIR_SHR, y, u32c(f, 11))));
	lathe_tir_expr *t = lathe_tir_binary(f, LATHE_TIR_SHL, y, u32c(f, 7));
	y = let_bind(f, l, "y", lathe_tir_binary(f, LATHE_TIR_XOR, y,
						  lathe_tir_binary(f, LATHE_TIR_AND, t, u32c(f, 0x9d2c5680u))));
	t = lathe_tir_binary(f, LATHE_TIR_SHL, y, u32c(f, 15));
	y = let_bind(f, l, "y", lathe_tir_binary(f, LATHE_TIR_XOR, y,
						  lathe_tir_binary(f, LATHE_TIR_AND, t, u32c(f, 0xefc60000u))));
	return lathe_tir_binary(f, LATHE_TIR_XOR, y, lathe_tir_binary(f, LATHE_TIR_SHR, y, u32c(f, 18)));
}

static lathe_tir_expr *mt_at(lathe_tir_func *f, lathe_tir_buf *mt, lathe_tir_expr *i)
{
	return lathe_tir_load(f, mt, &i);
}

static lathe_err dropout_train(lathe_lower_ctx *c, double ratio)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *out = c->out_buf[0];
	lathe_tir_buf *mask = c->nout > 1 ? c->out_buf[1] : NULL;
	if (!lathe_dtype_is_float(x->dtype))
		return lathe_error(LATHE_EUNSUPPORTED, "training-mode Dropout of %s input",
				   lathe_dtype_name(x->dtype));
	int64_t n;
	LATHE_TRY(lathe_shape_numel(out->rank, out->shape, &n));
	uint32_t seed = (uint32_t)lathe_node_attr_int(c->node, "seed", 0);
	int64_t nmt = MT_N;
	lathe_tir_buf *mt = lathe_tir_local(f, "mt", LATHE_DT_U32, 1, &nmt);
	let_chain l = {0};

	/* init_genrand: mt[i] = 1812433253 * (p ^ (p >> 30)) + i, p = mt[i-1]. */
	lathe_tir_expr *zero = lathe_tir_i64(f, 0);
	lathe_tir_append(f, lathe_tir_store(f, mt, &zero, u32c(f, seed)));
	lathe_tir_var *iv = lathe_tir_new_var(f, "s", LATHE_DT_I64);
	lathe_tir_expr *i = lathe_tir_varref(f, iv);
	lathe_tir_expr *p = mt_at(f, mt, lathe_tir_binary(f, LATHE_TIR_SUB, i, lathe_tir_i64(f, 1)));
	p = let_bind(f, &l, "p", p);
	lathe_tir_expr *nv = lathe_ew_muladd(f, u32c(f, 1812433253u),
					  lathe_tir_binary(f, LATHE_TIR_XOR, p,
							   lathe_tir_binary(f, LATHE_TIR_SHR, p, u32c(f, 30))),
					  lathe_tir_cast(f, LATHE_DT_U32, i));
	lathe_tir_stmt *st = let_wrap(f, &l, lathe_tir_store(f, mt, &i, nv));
	lathe_tir_append(f, lathe_tir_for(f, iv, lathe_tir_i64(f, 1), lathe_tir_i64(f, MT_N - 1),
					  LATHE_TIR_SERIAL, st));

	/* Regeneration of the whole state, in place, in the standard order. */
	lathe_tir_var *tv = lathe_tir_new_var(f, "t", LATHE_DT_I64);
	lathe_tir_expr *t = lathe_tir_varref(f, tv);
	lathe_tir_expr *t1 = lathe_tir_binary(f, LATHE_TIR_FLOORMOD,
					      lathe_tir_binary(f, LATHE_TIR_ADD, t, lathe_tir_i64(f, 1)),
					      lathe_tir_i64(f, MT_N));
	lathe_tir_expr *tm = lathe_tir_binary(f, LATHE_TIR_FLOORMOD,
					      lathe_tir_binary(f, LATHE_TIR_ADD, t, lathe_tir_i64(f, MT_M)),
					      lathe_tir_i64(f, MT_N));
	lathe_tir_expr *y = lathe_tir_binary(
		f, LATHE_TIR_OR, lathe_tir_binary(f, LATHE_TIR_AND, mt_at(f, mt, t), u32c(f, 0x80000000u)),
		lathe_tir_binary(f, LATHE_TIR_AND, mt_at(f, mt, t1), u32c(f, 0x7fffffffu)));
	y = let_bind(f, &l, "y", y);
	lathe_tir_expr *odd = lathe_tir_binary(f, LATHE_TIR_NE,
					       lathe_tir_binary(f, LATHE_TIR_AND, y, u32c(f, 1)), u32c(f, 0));
	lathe_tir_expr *nt = lathe_tir_binary(
		f, LATHE_TIR_XOR,
		lathe_tir_binary(f, LATHE_TIR_XOR, mt_at(f, mt, tm),
				 lathe_tir_binary(f, LATHE_TIR_SHR, y, u32c(f, 1))),
		lathe_tir_select(f, odd, u32c(f, 0x9908b0dfu), u32c(f, 0)));
	lathe_tir_stmt *twist = lathe_tir_for(f, tv, lathe_tir_i64(f, 0), lathe_tir_i64(f, MT_N),
					      LATHE_TIR_SERIAL,
					      let_wrap(f, &l, lathe_tir_store(f, mt, &t, nt)));

	/* Per element: two tempered draws, one double, keep or drop. */
	lathe_tir_var *bv = lathe_tir_new_var(f, "blk", LATHE_DT_I64);
	lathe_tir_var *jv = lathe_tir_new_var(f, "j", LATHE_DT_I64);
	lathe_tir_expr *j = lathe_tir_varref(f, jv);
	lathe_tir_expr *kk = lathe_ew_muladd(f, lathe_tir_varref(f, bv), lathe_tir_i64(f, MT_N / 2), j);
	lathe_tir_expr *j2 = lathe_tir_binary(f, LATHE_TIR_MUL, j, lathe_tir_i64(f, 2));
	lathe_tir_expr *a = mt_temper(f, &l, mt_at(f, mt, j2));
	a = let_bind(f, &l, "a", lathe_tir_binary(f, LATHE_TIR_SHR, a, u32c(f, 5)));
	lathe_tir_expr *b = mt_temper(f, &l, mt_at(f, mt, lathe_tir_binary(f, LATHE_TIR_ADD, j2,
									     lathe_tir_i64(f, 1))));
	b = lathe_tir_binary(f, LATHE_TIR_SHR, b, u32c(f, 6));
	lathe_tir_expr *d = lathe_ew_muladd(f, lathe_tir_cast(f, LATHE_DT_F64, a),
					 lathe_tir_float(f, LATHE_DT_F64, 67108864.0),
					 lathe_tir_cast(f, LATHE_DT_F64, b));
	d = lathe_tir_binary(f, LATHE_TIR_DIV, d, lathe_tir_float(f, LATHE_DT_F64, 9007199254740992.0));
	lathe_tir_expr *keep = let_bind(f, &l, "keep", lathe_tir_binary(f, LATHE_TIR_GE, d,
									 lathe_tir_float(f, LATHE_DT_F64, ratio)));
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, out->rank + 1);
	lathe_te_unravel(f, kk, out->rank, out->shape, idx);
	int mtp = lathe_ew_math_dtype(x->dtype);
	/* NumPy computes the scale as float32 arithmetic on the float32 ratio. */
	float r32 = (float)ratio, scale = 1.0f / (1.0f - r32);
	lathe_tir_expr *xv = lathe_ew_to(f, mtp, lathe_tir_load(f, x, idx));
	lathe_tir_expr *yv = lathe_tir_select(f, keep,
					      lathe_tir_binary(f, LATHE_TIR_MUL, xv, lathe_ew_const(f, mtp, scale)),
					      lathe_ew_const(f, mtp, 0));
	lathe_tir_stmt *stores[2];
	int ns = 0;
	stores[ns++] = lathe_tir_store(f, out, idx, lathe_ew_to(f, out->dtype, yv));
	if (mask)
		stores[ns++] = lathe_tir_store(f, mask, idx, keep);
	lathe_tir_stmt *elem = let_wrap(f, &l, lathe_tir_seq(f, ns, stores));
	elem = lathe_tir_if(f, lathe_tir_binary(f, LATHE_TIR_LT, kk, lathe_tir_i64(f, n)), elem, NULL);
	lathe_tir_stmt *inner = lathe_tir_for(f, jv, lathe_tir_i64(f, 0), lathe_tir_i64(f, MT_N / 2),
					      LATHE_TIR_SERIAL, elem);
	lathe_tir_stmt *blk[2] = {twist, inner};
	int64_t nblk = (n + MT_N / 2 - 1) / (MT_N / 2);
	lathe_tir_append(f, lathe_tir_for(f, bv, lathe_tir_i64(f, 0), lathe_tir_i64(f, nblk),
					  LATHE_TIR_SERIAL, lathe_tir_seq(f, 2, blk)));
	return NULL;
}

/* Dropout at inference (training_mode false or ratio 0) is the identity
 * with an all-true mask.  In training mode the mask is drawn from the
 * generator NumPy's RandomState uses (see dropout_train). */
lathe_err lower_dropout(lathe_lower_ctx *c)
{
	LATHE_TRY(need_tensor_bufs(c, 1));
	double ratio = 0.5, training = 0;
	if (c->nin > 1 && c->in_buf[1]) {
		if (!c->in_val[1])
			return lathe_error(LATHE_EINVAL, "the value of ratio is not known");
		LATHE_TRY(param_scalar(c->in_val[1], "ratio", &ratio));
	}
	if (c->nin > 2 && c->in_buf[2]) {
		if (!c->in_val[2])
			return lathe_error(LATHE_EINVAL, "the value of training_mode is not known");
		LATHE_TRY(param_scalar(c->in_val[2], "training_mode", &training));
	}
	if (!(ratio >= 0 && ratio < 1))
		return lathe_error(LATHE_EINVAL, "ratio %g is outside [0, 1)", ratio);
	if (training != 0 && ratio > 0)
		return dropout_train(c, ratio);
	lathe_te_axes ax = out_axes(c, 0);
	compute_out(c, 0, ax, lathe_te_load_bcast(c->fn, c->in_buf[0], ax));
	if (c->nout > 1 && c->out_buf[1]) {
		lathe_te_axes mx = out_axes(c, 1);
		compute_out(c, 1, mx, lathe_tir_int(c->fn, LATHE_DT_BOOL, 1));
	}
	return NULL;
}
