/* quant.c: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, BitCast.
 *
 * The three quantization ops are elementwise computes and lower to loop
 * programs.  A scale (and zero point) is applied per tensor (one element),
 * per axis (1-D, indexed by the output's `axis` coordinate) or per block
 * (same rank as x, the `axis` coordinate divided by block_size); the
 * lowering checks that the shapes agree with the chosen form before it
 * builds any loop.  Arithmetic is done in f32 (f64 when x or the scale is
 * f64), rounding half to even, and saturates to the target's range; float8
 * and float4 targets use Cast's conversion.  DynamicQuantizeLinear is two
 * reductions (min, max, both including 0) into rank-0 locals, a few scalar
 * stores, and one elementwise pass.
 *
 * BitCast reinterprets bytes and has an extern kernel (loop IR has no
 * bit-reinterpreting operator).
 */
#include <math.h>
#include <string.h>

#include "lathe_rt_k_misc.h"
#include "ops/op.h"

/* ---- small builders ---------------------------------------------------------- */

static lathe_tir_expr *to(lathe_tir_func *f, int dtype, lathe_tir_expr *e)
{
	return e->dtype == dtype ? e : lathe_tir_cast(f, dtype, e);
}

static lathe_tir_expr *bin(lathe_tir_func *f, int op, lathe_tir_expr *a, lathe_tir_expr *b)
{
	return lathe_tir_binary(f, op, a, b);
}

static lathe_tir_expr *fconst(lathe_tir_func *f, int dtype, double v)
{
	return lathe_tir_float(f, dtype, v);
}

static bool is_float8(int dt)
{
	return dt == LATHE_DT_F8E4M3FN || dt == LATHE_DT_F8E4M3FNUZ || dt == LATHE_DT_F8E5M2 ||
	       dt == LATHE_DT_F8E5M2FNUZ;
}

static bool quant_int_range(int dt, double *lo, double *hi)
{
	switch (dt) {
	case LATHE_DT_U8: *lo = 0; *hi = 255; return true;
	case LATHE_DT_I8: *lo = -128; *hi = 127; return true;
	case LATHE_DT_U16: *lo = 0; *hi = 65535; return true;
	case LATHE_DT_I16: *lo = -32768; *hi = 32767; return true;
	case LATHE_DT_U4: *lo = 0; *hi = 15; return true;
	case LATHE_DT_I4: *lo = -8; *hi = 7; return true;
	case LATHE_DT_U2: *lo = 0; *hi = 3; return true;
	case LATHE_DT_I2: *lo = -2; *hi = 1; return true;
	case LATHE_DT_I32: *lo = -2147483648.0; *hi = 2147483647.0; return true;
	case LATHE_DT_U32: *lo = 0; *hi = 4294967295.0; return true;
	}
	return false;
}

static bool quant_target_ok(int dt)
{
	double lo, hi;
	return quant_int_range(dt, &lo, &hi) || is_float8(dt) || dt == LATHE_DT_F4E2M1;
}

/* How scale/zero point map onto x: per tensor, per axis or per block. */
typedef struct qmap {
	int mode; /* 0 tensor, 1 axis, 2 block */
	int axis;
	int64_t block;
} qmap;

static lathe_err quant_map(const lathe_node *n, const lathe_type *x, const lathe_type *s,
			   const char *what, qmap *m)
{
	int64_t numel = lathe_type_numel(s);
	int64_t block = lathe_node_attr_int(n, "block_size", 0);
	m->block = block;
	m->axis = 0;
	if (block < 0)
		return lathe_error(LATHE_EINVAL, "block_size %lld must not be negative",
				   (long long)block);
	if (s->rank == 0 || (numel == 1 && block == 0)) {
		m->mode = 0;
		return NULL;
	}
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(n, "axis", 1), x->rank, &m->axis));
	int64_t xd = x->dims[m->axis].size;
	if (block == 0) {
		m->mode = 1;
		if (s->rank != 1)
			return lathe_error(LATHE_EINVAL,
					   "%s must be a scalar or 1-D without block_size, got rank %d",
					   what, (int)s->rank);
		if (s->dims[0].size >= 0 && xd >= 0 && s->dims[0].size != xd)
			return lathe_error(LATHE_EINVAL, "%s has %lld entries but axis %d of x has %lld",
					   what, (long long)s->dims[0].size, m->axis, (long long)xd);
		return NULL;
	}
	m->mode = 2;
	if (s->rank != x->rank)
		return lathe_error(LATHE_EINVAL, "blocked %s must have x's rank %d, got %d", what,
				   (int)x->rank, (int)s->rank);
	for (int i = 0; i < x->rank; i++) {
		int64_t sd = s->dims[i].size, d = x->dims[i].size;
		if (sd < 0 || d < 0)
			continue;
		int64_t want = i == m->axis ? (d + block - 1) / block : d;
		if (sd != want)
			return lathe_error(LATHE_EINVAL,
					   "blocked %s has dim %d = %lld, expected %lld for x dim %lld"
					   " and block_size %lld", what, i, (long long)sd,
					   (long long)want, (long long)d, (long long)block);
	}
	return NULL;
}

static lathe_tir_expr *quant_load(lathe_tir_func *f, lathe_tir_buf *b, const qmap *m,
				  lathe_te_axes ax)
{
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, b->rank + 1);
	for (int i = 0; i < b->rank; i++)
		idx[i] = lathe_tir_i64(f, 0);
	if (m->mode == 1) {
		idx[0] = ax.idx[m->axis];
	} else if (m->mode == 2) {
		for (int i = 0; i < b->rank; i++)
			idx[i] = ax.idx[i];
		idx[m->axis] = bin(f, LATHE_TIR_FLOORDIV, ax.idx[m->axis], lathe_tir_i64(f, m->block));
	}
	return lathe_tir_load(f, b, idx);
}

/* ---- QuantizeLinear -------------------------------------------------------------- */

static lathe_err quantize_out_dtype(const lathe_infer_ctx *c, int *out)
{
	int64_t od = lathe_node_attr_int(c->node, "output_dtype", 0);
	const lathe_type *zp = c->nin > 2 ? c->in[2] : NULL;
	if (zp) {
		if (od && od != zp->dtype)
			return lathe_error(LATHE_EINVAL, "output_dtype %s differs from the zero point's %s",
					   lathe_dtype_name((int)od), lathe_dtype_name(zp->dtype));
		od = zp->dtype;
	}
	if (!od)
		od = LATHE_DT_U8;
	if (!quant_target_ok((int)od))
		return lathe_error(LATHE_EUNSUPPORTED, "cannot quantize to %s", lathe_dtype_name((int)od));
	*out = (int)od;
	return NULL;
}

lathe_err infer_quantize(lathe_infer_ctx *c)
{
	if (c->nin < 2 || !c->in[0] || !c->in[1])
		return lathe_error(LATHE_EINVAL, "QuantizeLinear needs x and y_scale");
	int od = 0;
	LATHE_TRY(quantize_out_dtype(c, &od));
	if (!lathe_dtype_is_float(c->in[0]->dtype) && c->in[0]->dtype != LATHE_DT_I32)
		return lathe_error(LATHE_EUNSUPPORTED, "cannot quantize %s input",
				   lathe_dtype_name(c->in[0]->dtype));
	c->out[0] = lathe_type_with_dtype(c->arena, c->in[0], od);
	return NULL;
}

/* Converts v (f32/f64) to a float8 target without saturation: values past
 * the format's largest finite value (and its rounding half-ulp) become NaN.
 * E5M2 would give inf there, but a loop program cannot produce an E5M2
 * infinity (constants and casts round with Cast's saturation), so E5M2
 * overflows to its largest finite value: a known deviation. */
static lathe_tir_expr *f8_nosat(lathe_tir_func *f, int od, lathe_tir_expr *v)
{
	double lim;
	bool has_inf = od == LATHE_DT_F8E5M2;
	switch (od) {
	case LATHE_DT_F8E4M3FN: lim = 464; break;
	case LATHE_DT_F8E4M3FNUZ: lim = 248; break;
	default: lim = 61440; break;
	}
	lathe_tir_expr *c = lathe_tir_cast(f, od, v);
	if (has_inf)
		return c;
	lathe_tir_expr *big = bin(f, LATHE_TIR_GT, lathe_tir_unary(f, LATHE_TIR_ABS, v),
				  fconst(f, v->dtype, lim));
	return lathe_tir_select(f, big, fconst(f, od, NAN), c);
}

lathe_err lower_quantize(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	const lathe_type *xt = c->in[0];
	int od = c->out[0].dtype;
	qmap ms, mz = {0};
	LATHE_TRY(quant_map(c->node, xt, c->in[1], "y_scale", &ms));
	bool has_zp = c->nin > 2 && c->in_buf[2];
	if (has_zp)
		LATHE_TRY(quant_map(c->node, xt, c->in[2], "y_zero_point", &mz));
	int prec = (int)lathe_node_attr_int(c->node, "precision", 0);
	int mt = (xt->dtype == LATHE_DT_F64 || c->in[1]->dtype == LATHE_DT_F64 ||
		  prec == LATHE_DT_F64) ? LATHE_DT_F64 : LATHE_DT_F32;
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *ob = c->out_buf[0];
	lathe_te_axes ax = lathe_te_axes_new(f, "i", ob->rank, ob->shape);
	lathe_tir_expr *x = to(f, mt, lathe_tir_load(f, c->in_buf[0], ax.idx));
	lathe_tir_expr *s = to(f, mt, quant_load(f, c->in_buf[1], &ms, ax));
	/* The division happens in `precision` (else x's type); a narrow float
	 * type is emulated by rounding the operands and the quotient to it, as
	 * NumPy does. */
	int qt = prec ? prec : xt->dtype;
	bool narrow = qt == LATHE_DT_F16 || qt == LATHE_DT_BF16;
	if (narrow && prec) {
		x = to(f, mt, lathe_tir_cast(f, qt, x));
		s = to(f, mt, lathe_tir_cast(f, qt, s));
	}
	lathe_tir_expr *q = bin(f, LATHE_TIR_DIV, x, s);
	if (narrow)
		q = to(f, mt, lathe_tir_cast(f, qt, q));
	lathe_tir_expr *zp = has_zp ? to(f, mt, quant_load(f, c->in_buf[2], &mz, ax)) : NULL;
	lathe_tir_expr *v;
	double lo, hi;
	if (quant_int_range(od, &lo, &hi)) {
		v = lathe_tir_unary(f, LATHE_TIR_ROUND, q);
		if (zp)
			v = bin(f, LATHE_TIR_ADD, v, zp);
		v = bin(f, LATHE_TIR_MAX, bin(f, LATHE_TIR_MIN, v, fconst(f, mt, hi)), fconst(f, mt, lo));
		v = lathe_tir_cast(f, od, v);
	} else {
		v = zp ? bin(f, LATHE_TIR_ADD, q, zp) : q;
		if (is_float8(od) && !lathe_node_attr_int(c->node, "saturate", 1))
			v = f8_nosat(f, od, v);
		else
			v = lathe_tir_cast(f, od, v);
	}
	lathe_te_compute(f, ob, ax, v);
	return NULL;
}

/* ---- DequantizeLinear ------------------------------------------------------------ */

lathe_err infer_dequantize(lathe_infer_ctx *c)
{
	if (c->nin < 2 || !c->in[0] || !c->in[1])
		return lathe_error(LATHE_EINVAL, "DequantizeLinear needs x and x_scale");
	int od = (int)lathe_node_attr_int(c->node, "output_dtype", 0);
	if (!od)
		od = c->in[1]->dtype;
	if (!lathe_dtype_is_float(od))
		return lathe_error(LATHE_EINVAL, "dequantized output type %s is not a float",
				   lathe_dtype_name(od));
	int xd = c->in[0]->dtype;
	if (xd == LATHE_DT_STR || xd == LATHE_DT_BOOL || xd == LATHE_DT_C64 || xd == LATHE_DT_C128)
		return lathe_error(LATHE_EUNSUPPORTED, "cannot dequantize %s", lathe_dtype_name(xd));
	c->out[0] = lathe_type_with_dtype(c->arena, c->in[0], od);
	return NULL;
}

lathe_err lower_dequantize(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	const lathe_type *xt = c->in[0];
	qmap ms, mz = {0};
	LATHE_TRY(quant_map(c->node, xt, c->in[1], "x_scale", &ms));
	bool has_zp = c->nin > 2 && c->in_buf[2];
	if (has_zp) {
		LATHE_TRY(quant_map(c->node, xt, c->in[2], "x_zero_point", &mz));
		if (c->in[2]->dtype != xt->dtype)
			return lathe_error(LATHE_EINVAL, "x_zero_point is %s but x is %s",
					   lathe_dtype_name(c->in[2]->dtype), lathe_dtype_name(xt->dtype));
	}
	int mt = (c->in[1]->dtype == LATHE_DT_F64 || c->out[0].dtype == LATHE_DT_F64)
			 ? LATHE_DT_F64 : LATHE_DT_F32;
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *ob = c->out_buf[0];
	lathe_te_axes ax = lathe_te_axes_new(f, "i", ob->rank, ob->shape);
	lathe_tir_expr *x = to(f, mt, lathe_tir_load(f, c->in_buf[0], ax.idx));
	if (has_zp)
		x = bin(f, LATHE_TIR_SUB, x, to(f, mt, quant_load(f, c->in_buf[2], &mz, ax)));
	lathe_tir_expr *s = to(f, mt, quant_load(f, c->in_buf[1], &ms, ax));
	lathe_te_compute(f, ob, ax, to(f, ob->dtype, bin(f, LATHE_TIR_MUL, x, s)));
	return NULL;
}

/* ---- DynamicQuantizeLinear ---------------------------------------------------------- */

lathe_err infer_dynamic_quantize(lathe_infer_ctx *c)
{
	if (c->nin < 1 || !c->in[0])
		return lathe_error(LATHE_EINVAL, "DynamicQuantizeLinear needs x");
	if (c->in[0]->dtype != LATHE_DT_F32)
		return lathe_error(LATHE_EUNSUPPORTED, "DynamicQuantizeLinear takes f32, not %s",
				   lathe_dtype_name(c->in[0]->dtype));
	c->out[0] = lathe_type_with_dtype(c->arena, c->in[0], LATHE_DT_U8);
	for (int i = 1; i < c->nout && i < 3; i++)
		c->out[i] = lathe_type_tensor(c->arena, i == 1 ? LATHE_DT_F32 : LATHE_DT_U8, 0, NULL);
	return NULL;
}

lathe_err lower_dynamic_quantize(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *xb = c->in_buf[0];
	const int F = LATHE_DT_F32;
	lathe_te_axes none = lathe_te_axes_new(f, "o", 0, NULL);
	lathe_tir_buf *lim[2];
	for (int k = 0; k < 2; k++) {
		lim[k] = lathe_tir_local(f, k ? "maxv" : "minv", F, 0, NULL);
		lathe_te_axes rax = lathe_te_axes_new(f, k ? "r" : "q", xb->rank, xb->shape);
		lathe_te_reduce r = lathe_te_reduce_begin(f, F);
		/* Both reductions start from 0: the range always includes it. */
		lathe_te_reduce_end(f, &r, lim[k], none, rax, k ? LATHE_TIR_MAX : LATHE_TIR_MIN,
				    fconst(f, F, 0), lathe_tir_load(f, xb, rax.idx), NULL);
	}
	lathe_tir_expr *mn = lathe_tir_load(f, lim[0], NULL), *mx = lathe_tir_load(f, lim[1], NULL);
	lathe_tir_buf *sb = lathe_tir_local(f, "scale", F, 0, NULL);
	lathe_tir_buf *zb = lathe_tir_local(f, "zp", F, 0, NULL);
	lathe_tir_expr *range = lathe_tir_select(f, bin(f, LATHE_TIR_EQ, mx, mn), fconst(f, F, 1),
						 bin(f, LATHE_TIR_SUB, mx, mn));
	lathe_tir_append(f, lathe_tir_store(f, sb, NULL, bin(f, LATHE_TIR_DIV, range, fconst(f, F, 255))));
	lathe_tir_expr *scale = lathe_tir_load(f, sb, NULL);
	lathe_tir_expr *zp0 = bin(f, LATHE_TIR_SUB, fconst(f, F, 0), bin(f, LATHE_TIR_DIV, mn, scale));
	zp0 = bin(f, LATHE_TIR_MAX, bin(f, LATHE_TIR_MIN, zp0, fconst(f, F, 255)), fconst(f, F, 0));
	lathe_tir_append(f, lathe_tir_store(f, zb, NULL, lathe_tir_unary(f, LATHE_TIR_ROUND, zp0)));
	lathe_tir_expr *zp = lathe_tir_load(f, zb, NULL);
	if (c->nout > 1 && c->out_buf[1])
		lathe_tir_append(f, lathe_tir_store(f, c->out_buf[1], NULL, scale));
	if (c->nout > 2 && c->out_buf[2])
		lathe_tir_append(f, lathe_tir_store(f, c->out_buf[2], NULL, lathe_tir_cast(f, LATHE_DT_U8, zp)));
	lathe_tir_buf *ob = c->out_buf[0];
	lathe_te_axes ax = lathe_te_axes_new(f, "i", ob->rank, ob->shape);
	lathe_tir_expr *v = lathe_tir_unary(f, LATHE_TIR_ROUND,
					    bin(f, LATHE_TIR_DIV, lathe_tir_load(f, xb, ax.idx), scale));
	v = bin(f, LATHE_TIR_ADD, v, zp);
	v = bin(f, LATHE_TIR_MAX, bin(f, LATHE_TIR_MIN, v, fconst(f, F, 255)), fconst(f, F, 0));
	lathe_te_compute(f, ob, ax, lathe_tir_cast(f, LATHE_DT_U8, v));
	return NULL;
}

/* ---- BitCast ----------------------------------------------------------------------- */

static int dtype_bits(int dt)
{
	switch (dt) {
	case LATHE_DT_U4: case LATHE_DT_I4: case LATHE_DT_F4E2M1: return 4;
	case LATHE_DT_U2: case LATHE_DT_I2: return 2;
	case LATHE_DT_STR: case LATHE_DT_UNDEF: return 0;
	}
	return (int)lathe_dtype_size(dt) * 8;
}

lathe_err infer_bitcast(lathe_infer_ctx *c)
{
	if (c->nin < 1 || !c->in[0])
		return lathe_error(LATHE_EINVAL, "BitCast needs an input");
	int64_t to_dt = lathe_node_attr_int(c->node, "to", -1);
	if (to_dt <= 0 || to_dt >= LATHE_DT_COUNT || !dtype_bits((int)to_dt))
		return lathe_error(LATHE_EINVAL, "BitCast 'to' = %lld is not a supported type",
				   (long long)to_dt);
	int from = c->in[0]->dtype;
	if (!dtype_bits(from))
		return lathe_error(LATHE_EUNSUPPORTED, "BitCast of %s", lathe_dtype_name(from));
	if (dtype_bits(from) != dtype_bits((int)to_dt))
		return lathe_error(LATHE_EINVAL, "BitCast from %s (%d bits) to %s (%d bits): "
				   "the widths must agree", lathe_dtype_name(from), dtype_bits(from),
				   lathe_dtype_name((int)to_dt), dtype_bits((int)to_dt));
	c->out[0] = lathe_type_with_dtype(c->arena, c->in[0], (int)to_dt);
	return NULL;
}

lathe_err kernel_bitcast(lathe_kernel_ctx *c)
{
	int64_t ip[1] = {lathe_node_attr_int(c->node, "to", 0)};
	return lathe_kernel_call_rt(c, lathe_rt_k_bitcast, ip, 1, NULL, 0, NULL, 0);
}
