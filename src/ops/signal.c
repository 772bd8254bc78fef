/* signal.c: DFT, STFT, the Hann/Hamming/Blackman windows and
 * MelWeightMatrix.
 *
 * The windows are elementwise formulas of the index and lower to loop
 * programs (their size input is a parameter: it decides the output shape).
 * The transforms and the mel matrix are extern kernels in
 * runtime/src/k_misc.c; this file infers their shapes and resolves their
 * scalar parameters.  DFT's axis is an input since opset 20 and an
 * attribute before; whichever the node has is used, else the default of
 * the model's opset (-2 from 20 on, 1 before).
 */
#include <math.h>

#include "lathe_rt_k_misc.h"
#include "ops/op.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* A scalar integer parameter value; false if unknown. */
static bool scalar_int(const lathe_tensor *t, int64_t *out)
{
	if (!t || lathe_tensor_numel(t) != 1)
		return false;
	*out = lathe_rt_load_i64(t, 0);
	return true;
}

static lathe_dim known(int64_t v)
{
	return (lathe_dim){v, -1};
}

static const lathe_dim unknown = {-1, -1};

/* ---- DFT ------------------------------------------------------------------------- */

/* The DFT axis (normalized against rank) from input 2, the attribute or
 * the opset default; *ok false when the input's value is not known. */
static lathe_err dft_axis(const lathe_graph *g, const lathe_node *n, bool has_in,
			  const lathe_tensor *val, int rank, int *axis, bool *ok)
{
	int64_t a = 0;
	*ok = true;
	if (has_in) {
		if (!val) {
			*ok = false;
			return NULL;
		}
		if (!scalar_int(val, &a))
			return lathe_error(LATHE_EINVAL, "axis must be an integer scalar");
	} else if (lathe_node_attr(n, "axis")) {
		a = lathe_node_attr_int(n, "axis", 1);
	} else {
		while (g->parent)
			g = g->parent;
		a = g->opset >= 20 ? -2 : 1;
	}
	LATHE_TRY(lathe_norm_axis(a, rank, axis));
	if (*axis == rank - 1)
		return lathe_error(LATHE_EINVAL, "axis %lld is the last dim, which holds the real "
				   "and imaginary parts", (long long)a);
	return NULL;
}

lathe_err infer_dft(lathe_infer_ctx *c)
{
	const lathe_type *x = c->in[0];
	if (!x)
		return lathe_error(LATHE_EINVAL, "DFT needs an input");
	if (!lathe_dtype_is_float(x->dtype))
		return lathe_error(LATHE_EUNSUPPORTED, "DFT of %s", lathe_dtype_name(x->dtype));
	int inverse = (int)lathe_node_attr_int(c->node, "inverse", 0);
	int onesided = (int)lathe_node_attr_int(c->node, "onesided", 0);
	lathe_type t = lathe_type_like(c->arena, x);
	c->out[0] = t;
	if (x->rank < 0)
		return NULL;
	if (x->rank < 2)
		return lathe_error(LATHE_EINVAL, "DFT input needs rank >= 2, got %d", (int)x->rank);
	int axis = 0;
	bool ok = false;
	bool has_axis = c->nin > 2 && c->in[2];
	LATHE_TRY(dft_axis(c->graph, c->node, has_axis, has_axis ? c->in_val[2] : NULL, x->rank,
			   &axis, &ok));
	bool irfft = inverse && onesided;
	t.dims[x->rank - 1] = known(irfft ? 1 : 2);
	if (!ok) { /* axis unknown: every signal dim may change */
		for (int i = 0; i < x->rank - 1; i++)
			t.dims[i] = unknown;
		c->out[0] = t;
		return NULL;
	}
	int64_t n = -1, m = x->dims[axis].sym < 0 ? x->dims[axis].size : -1;
	if (c->nin > 1 && c->in[1]) {
		if (c->in_val[1] && !scalar_int(c->in_val[1], &n))
			return lathe_error(LATHE_EINVAL, "dft_length must be an integer scalar");
		if (c->in_val[1] && n <= 0)
			return lathe_error(LATHE_EINVAL, "dft_length %lld must be positive", (long long)n);
	} else if (m >= 0) {
		n = irfft ? 2 * (m - 1) : m;
	}
	int64_t len = n < 0 ? -1 : (onesided && !inverse) ? n / 2 + 1 : n;
	if (!(c->nin > 1 && c->in[1]) && !(onesided || irfft))
		t.dims[axis] = x->dims[axis];
	else
		t.dims[axis] = len < 0 ? unknown : known(len);
	c->out[0] = t;
	return NULL;
}

lathe_err kernel_dft(lathe_kernel_ctx *c)
{
	lathe_tensor *x = c->in[0].t;
	if (!x)
		return lathe_error(LATHE_EINVAL, "DFT needs an input");
	int axis = 0;
	bool ok = false;
	bool has_axis = c->nin > 2 && c->in[2].t;
	LATHE_TRY(dft_axis(c->graph, c->node, has_axis, has_axis ? c->in[2].t : NULL, x->rank,
			   &axis, &ok));
	int64_t n = 0;
	if (c->nin > 1 && c->in[1].t) {
		if (!scalar_int(c->in[1].t, &n) || n <= 0)
			return lathe_error(LATHE_EINVAL, "dft_length must be a positive integer scalar");
	}
	int64_t ip[4] = {axis, lathe_node_attr_int(c->node, "inverse", 0),
			 lathe_node_attr_int(c->node, "onesided", 0), n};
	return lathe_kernel_call_rt(c, lathe_rt_k_dft, ip, 4, NULL, 0, NULL, 0);
}

/* ---- STFT ------------------------------------------------------------------------ */

lathe_err infer_stft(lathe_infer_ctx *c)
{
	const lathe_type *x = c->in[0];
	if (!x || c->nin < 2 || !c->in[1])
		return lathe_error(LATHE_EINVAL, "STFT needs a signal and frame_step");
	if (x->rank >= 0 && x->rank != 3)
		return lathe_error(LATHE_EINVAL, "signal must be [batch, length, 1|2], got rank %d",
				   (int)x->rank);
	int onesided = (int)lathe_node_attr_int(c->node, "onesided", 1);
	lathe_dim *d = lathe_arena_new(c->arena, lathe_dim, 4);
	d[0] = x->rank == 3 ? x->dims[0] : unknown;
	d[1] = d[2] = unknown;
	d[3] = known(2);
	int64_t step = 0, fl = -1, L = x->rank == 3 && x->dims[1].sym < 0 ? x->dims[1].size : -1;
	bool has_step = scalar_int(c->in_val[1], &step);
	if (c->nin > 3 && c->in[3])
		scalar_int(c->in_val[3], &fl);
	else if (c->nin > 2 && c->in[2] && c->in[2]->rank == 1 && c->in[2]->dims[0].sym < 0)
		fl = c->in[2]->dims[0].size;
	else if (!(c->nin > 2 && c->in[2]))
		fl = L;
	if (fl > 0)
		d[2] = known(onesided ? fl / 2 + 1 : fl);
	if (fl > 0 && L >= fl && has_step && step > 0)
		d[1] = known(1 + (L - fl) / step);
	c->out[0] = (lathe_type){.kind = LATHE_TY_TENSOR, .dtype = x->dtype, .rank = 4, .dims = d};
	return NULL;
}

lathe_err kernel_stft(lathe_kernel_ctx *c)
{
	lathe_tensor *x = c->in[0].t;
	int64_t step = 0, fl = 0;
	if (!x || x->rank != 3)
		return lathe_error(LATHE_EINVAL, "signal must be [batch, length, 1|2]");
	if (c->nin < 2 || !scalar_int(c->in[1].t, &step))
		return lathe_error(LATHE_EINVAL, "frame_step must be an integer scalar");
	if (c->nin > 3 && c->in[3].t) {
		if (!scalar_int(c->in[3].t, &fl))
			return lathe_error(LATHE_EINVAL, "frame_length must be an integer scalar");
	} else if (c->nin > 2 && c->in[2].t) {
		fl = c->in[2].t->rank == 1 ? c->in[2].t->shape[0] : -1;
	} else {
		fl = x->shape[1];
	}
	int64_t ip[3] = {lathe_node_attr_int(c->node, "onesided", 1), step, fl};
	return lathe_kernel_call_rt(c, lathe_rt_k_stft, ip, 3, NULL, 0, NULL, 0);
}

/* ---- windows --------------------------------------------------------------------- */

lathe_err infer_window(lathe_infer_ctx *c)
{
	if (c->nin < 1 || !c->in[0])
		return lathe_error(LATHE_EINVAL, "the window size is required");
	int dt = (int)lathe_node_attr_int(c->node, "output_datatype", LATHE_DT_F32);
	if (!lathe_dtype_is_float(dt) && !lathe_dtype_is_int(dt))
		return lathe_error(LATHE_EUNSUPPORTED, "window of type %s", lathe_dtype_name(dt));
	int64_t n = 0;
	lathe_dim *d = lathe_arena_new(c->arena, lathe_dim, 1);
	d[0] = unknown;
	if (scalar_int(c->in_val[0], &n)) {
		if (n < 0 || n > ((int64_t)1 << 32))
			return lathe_error(LATHE_EINVAL, "window size %lld out of range", (long long)n);
		d[0] = known(n);
	}
	c->out[0] = (lathe_type){.kind = LATHE_TY_TENSOR, .dtype = dt, .rank = 1, .dims = d};
	return NULL;
}

lathe_err lower_window(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *ob = c->out_buf[0];
	int periodic = (int)lathe_node_attr_int(c->node, "periodic", 1);
	double N = (double)(periodic ? ob->shape[0] : ob->shape[0] - 1);
	const int D = LATHE_DT_F64;
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 1, ob->shape);
	lathe_tir_expr *n = lathe_tir_cast(f, D, ax.idx[0]);
	/* phase = 2*pi*n/N */
	lathe_tir_expr *ph = lathe_tir_binary(f, LATHE_TIR_DIV,
					      lathe_tir_binary(f, LATHE_TIR_MUL, n,
							       lathe_tir_float(f, D, 2 * M_PI)),
					      lathe_tir_float(f, D, N));
	lathe_tir_expr *v;
	switch (c->node->op) {
	case LATHE_OP_HannWindow: {
		lathe_tir_expr *s = lathe_tir_unary(f, LATHE_TIR_SIN,
						    lathe_tir_binary(f, LATHE_TIR_MUL, ph,
								     lathe_tir_float(f, D, 0.5)));
		v = lathe_tir_binary(f, LATHE_TIR_MUL, s, s);
		break;
	}
	case LATHE_OP_HammingWindow: {
		double a = 25.0 / 46.0;
		v = lathe_tir_binary(f, LATHE_TIR_SUB, lathe_tir_float(f, D, a),
				     lathe_tir_binary(f, LATHE_TIR_MUL, lathe_tir_float(f, D, 1 - a),
						      lathe_tir_unary(f, LATHE_TIR_COS, ph)));
		break;
	}
	default: { /* Blackman */
		lathe_tir_expr *c1 = lathe_tir_unary(f, LATHE_TIR_COS, ph);
		lathe_tir_expr *c2 = lathe_tir_unary(f, LATHE_TIR_COS,
						     lathe_tir_binary(f, LATHE_TIR_MUL, ph,
								      lathe_tir_float(f, D, 2)));
		v = lathe_tir_binary(f, LATHE_TIR_ADD, lathe_tir_float(f, D, 0.42),
				     lathe_tir_binary(f, LATHE_TIR_MUL, lathe_tir_float(f, D, -0.5), c1));
		v = lathe_tir_binary(f, LATHE_TIR_ADD, v,
				     lathe_tir_binary(f, LATHE_TIR_MUL, lathe_tir_float(f, D, 0.08), c2));
		break;
	}
	}
	lathe_te_compute(f, ob, ax, ob->dtype == D ? v : lathe_tir_cast(f, ob->dtype, v));
	return NULL;
}

/* ---- MelWeightMatrix --------------------------------------------------------------- */

lathe_err infer_mel(lathe_infer_ctx *c)
{
	if (c->nin < 5)
		return lathe_error(LATHE_EINVAL, "MelWeightMatrix takes 5 inputs");
	int dt = (int)lathe_node_attr_int(c->node, "output_datatype", LATHE_DT_F32);
	lathe_dim *d = lathe_arena_new(c->arena, lathe_dim, 2);
	int64_t nmel = 0, dftn = 0;
	d[0] = scalar_int(c->in_val[1], &dftn) && dftn > 0 ? known(dftn / 2 + 1) : unknown;
	d[1] = scalar_int(c->in_val[0], &nmel) && nmel > 0 ? known(nmel) : unknown;
	c->out[0] = (lathe_type){.kind = LATHE_TY_TENSOR, .dtype = dt, .rank = 2, .dims = d};
	return NULL;
}

lathe_err kernel_mel(lathe_kernel_ctx *c)
{
	int64_t ip[1] = {lathe_node_attr_int(c->node, "output_datatype", LATHE_DT_F32)};
	return lathe_kernel_call_rt(c, lathe_rt_k_mel, ip, 1, NULL, 0, NULL, 0);
}
