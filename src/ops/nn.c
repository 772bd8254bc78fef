/* nn.c: the shared helpers of nn.h (expressions, inference, sliding-window
 * geometry) and the smaller nn ops: MaxUnpool and Col2Im (computes), and
 * the extern-kernel ops RoiAlign, MaxRoiPool and DeformConv (their compiler
 * side: inference and the packing of attributes for runtime/src/k_nn.c).
 *
 * Geometry is computed by one function for inference and lowering, so the
 * shape a lowering writes is always the shape inference promised.
 */
#include "ops/nn.h"

#include <string.h>

#include "lathe_rt_k_nn.h"

/* ---- expressions ------------------------------------------------------------ */

lathe_tir_expr *lathe_nn_to(lathe_tir_func *f, int dtype, lathe_tir_expr *e)
{
	return e->dtype == dtype ? e : lathe_tir_cast(f, dtype, e);
}

lathe_tir_expr *lathe_nn_const(lathe_tir_func *f, int dtype, double v)
{
	if (lathe_dtype_is_float(dtype))
		return lathe_tir_float(f, dtype, v);
	return lathe_tir_int(f, dtype, (int64_t)v);
}

int lathe_nn_acc_dtype(int dtype)
{
	switch (dtype) {
	case LATHE_DT_F64:
		return LATHE_DT_F64;
	case LATHE_DT_I8:
	case LATHE_DT_U8:
	case LATHE_DT_I16:
	case LATHE_DT_U16:
	case LATHE_DT_BOOL:
		return LATHE_DT_I32;
	case LATHE_DT_I32:
	case LATHE_DT_I64:
	case LATHE_DT_U32:
	case LATHE_DT_U64:
		return dtype;
	default:
		return LATHE_DT_F32;
	}
}

int lathe_nn_math_dtype(int dtype)
{
	if (lathe_dtype_is_float(dtype) && dtype != LATHE_DT_F64)
		return LATHE_DT_F32;
	return dtype;
}

lathe_tir_expr *lathe_nn_load(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *const *idx)
{
	return lathe_tir_load(f, b, idx);
}

static int64_t buf_numel(const lathe_tir_buf *b)
{
	int64_t n = 1;
	for (int i = 0; i < b->rank; i++)
		n *= b->shape[i];
	return n;
}

lathe_err lathe_nn_check_scalar(const lathe_tir_buf *b, const char *what)
{
	if (buf_numel(b) != 1)
		return lathe_error(LATHE_EINVAL, "%s must hold one element, not %lld", what,
				   (long long)buf_numel(b));
	return NULL;
}

lathe_err lathe_nn_check_chan(const lathe_tir_buf *b, int64_t n, const char *what)
{
	if (buf_numel(b) == 1 || (b->rank == 1 && b->shape[0] == n))
		return NULL;
	return lathe_error(LATHE_EINVAL, "%s must be a scalar or have shape [%lld]", what,
			   (long long)n);
}

lathe_tir_expr *lathe_nn_load_scalar(lathe_tir_func *f, lathe_tir_buf *b)
{
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, b->rank + 1);
	for (int i = 0; i < b->rank; i++)
		idx[i] = nn_i64(f, 0);
	return lathe_tir_load(f, b, idx);
}

lathe_tir_expr *lathe_nn_load_chan(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *i)
{
	if (b->rank != 1 || b->shape[0] == 1)
		return lathe_nn_load_scalar(f, b);
	return lathe_tir_load(f, b, &i);
}

lathe_tir_expr *lathe_nn_load_bcast(lathe_tir_func *f, lathe_tir_buf *b, int n,
				    lathe_tir_expr *const *idx)
{
	LATHE_ASSERT(b->rank <= n);
	lathe_tir_expr **bi = lathe_arena_new(f->arena, lathe_tir_expr *, b->rank + 1);
	for (int j = 0; j < b->rank; j++)
		bi[j] = b->shape[j] == 1 ? nn_i64(f, 0) : idx[n - b->rank + j];
	return lathe_tir_load(f, b, bi);
}

lathe_tir_buf *lathe_nn_scalar_local(lathe_tir_func *f, const char *name, int dtype)
{
	return lathe_tir_local(f, name, dtype, 0, NULL);
}

lathe_tir_expr *lathe_nn_load0(lathe_tir_func *f, lathe_tir_buf *b)
{
	return lathe_tir_load(f, b, NULL);
}

lathe_tir_stmt *lathe_nn_store0(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *v)
{
	return lathe_tir_store(f, b, NULL, v);
}

lathe_tir_stmt *lathe_nn_reduce_stmt(lathe_tir_func *f, lathe_tir_buf *acc, lathe_tir_buf *out,
				     lathe_tir_expr *const *out_idx, lathe_te_axes rax, int binop,
				     lathe_tir_expr *init, lathe_tir_expr *value,
				     lathe_tir_expr *post)
{
	lathe_tir_expr *cur = lathe_nn_load0(f, acc);
	lathe_tir_stmt *s[3];
	s[0] = lathe_nn_store0(f, acc, init);
	s[1] = lathe_te_nest(f, rax, lathe_nn_store0(f, acc, nn_bin(f, binop, cur, value)));
	s[2] = lathe_tir_store(f, out, out_idx, post ? post : lathe_nn_to(f, out->dtype, cur));
	return lathe_tir_seq(f, 3, s);
}

lathe_tir_expr *lathe_nn_requantize(lathe_tir_func *f, lathe_tir_expr *acc,
				    lathe_tir_expr *scale, lathe_tir_expr *zp, int out_dtype)
{
	lathe_tir_expr *r = nn_mul(f, lathe_nn_to(f, LATHE_DT_F64, acc),
				   lathe_nn_to(f, LATHE_DT_F64, scale));
	if (zp)
		r = nn_add(f, r, lathe_nn_to(f, LATHE_DT_F64, zp));
	r = lathe_tir_unary(f, LATHE_TIR_ROUND, r);
	bool s8 = out_dtype == LATHE_DT_I8;
	r = nn_bin(f, LATHE_TIR_MAX, r, lathe_nn_const(f, LATHE_DT_F64, s8 ? -128 : 0));
	r = nn_bin(f, LATHE_TIR_MIN, r, lathe_nn_const(f, LATHE_DT_F64, s8 ? 127 : 255));
	return lathe_tir_cast(f, out_dtype, r);
}

lathe_tir_expr *lathe_nn_qscale(lathe_tir_func *f, lathe_tir_expr *as, lathe_tir_expr *bs,
				lathe_tir_expr *ys)
{
	return nn_bin(f, LATHE_TIR_DIV, nn_mul(f, as, bs), ys);
}

/* ---- inference --------------------------------------------------------------- */

lathe_type lathe_nn_type(lathe_arena *a, int dtype, int rank)
{
	lathe_type t = {0};
	t.kind = LATHE_TY_TENSOR;
	t.dtype = dtype;
	t.rank = rank;
	if (rank > 0) {
		t.dims = lathe_arena_new(a, lathe_dim, rank);
		for (int i = 0; i < rank; i++)
			t.dims[i] = (lathe_dim){.size = -1, .sym = -1};
	}
	return t;
}

bool lathe_nn_dim(const lathe_type *t, int i, int64_t *out)
{
	if (!t || t->kind != LATHE_TY_TENSOR || i < 0 || i >= t->rank)
		return false;
	if (t->dims[i].sym >= 0 || t->dims[i].size < 0)
		return false;
	*out = t->dims[i].size;
	return true;
}

const lathe_type *lathe_nn_in(const lathe_infer_ctx *c, int i)
{
	if (i >= c->nin || !c->in[i] || c->in[i]->kind != LATHE_TY_TENSOR)
		return NULL;
	return c->in[i];
}

lathe_err lathe_nn_need(const lathe_infer_ctx *c, int i, const char *what)
{
	if (i >= c->nin || !c->in[i])
		return lathe_error(LATHE_EINVAL, "input %d (%s) is required", i, what);
	if (c->in[i]->kind != LATHE_TY_TENSOR && c->in[i]->kind != LATHE_TY_UNKNOWN)
		return lathe_error(LATHE_EINVAL, "input %d (%s) must be a tensor", i, what);
	return NULL;
}

lathe_err lathe_nn_check_rank(const lathe_type *t, int rank, const char *what)
{
	if (t && t->kind == LATHE_TY_TENSOR && t->rank >= 0 && t->rank != rank)
		return lathe_error(LATHE_EINVAL, "%s must have rank %d, not %d", what, rank,
				   t->rank);
	return NULL;
}

lathe_err lathe_nn_check_float(int dtype, const char *what)
{
	switch (dtype) {
	case LATHE_DT_F16:
	case LATHE_DT_BF16:
	case LATHE_DT_F32:
	case LATHE_DT_F64:
	case LATHE_DT_UNDEF:
		return NULL;
	default:
		return lathe_error(LATHE_EUNSUPPORTED, "%s of element type %s is not supported",
				   what, lathe_dtype_name(dtype));
	}
}

int64_t *lathe_nn_spatial(lathe_arena *a, const lathe_type *t, int n)
{
	int64_t *s = lathe_arena_new(a, int64_t, n + 1);
	for (int i = 0; i < n; i++)
		if (!lathe_nn_dim(t, i + 2, &s[i]))
			s[i] = -1;
	return s;
}

/* ---- sliding windows ----------------------------------------------------------- */

/* Window attributes (kernel, strides, dilations, pads) past this are
 * refused: no model needs them, and the bound keeps every size product
 * below (in + pads) * stride inside int64. */
enum { MAX_WINDOW_ATTR = 1 << 20 };

static lathe_err check_attr(const char *name, int i, int64_t v, int64_t lo)
{
	if (v < lo || v > MAX_WINDOW_ATTR)
		return lathe_error(LATHE_EINVAL, "%s[%d] = %lld is outside [%lld, %d]", name, i,
				   (long long)v, (long long)lo, MAX_WINDOW_ATTR);
	return NULL;
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Reads an ints attribute of exactly `n` entries into dst (dflt when absent). */
static lathe_err attr_ints(const lathe_node *node, const char *name, int n, int64_t dflt,
			   int64_t *dst)
{
	int64_t cnt;
	const int64_t *v = lathe_node_attr_ints(node, name, &cnt);
	if (!v || cnt < 0) {
		for (int i = 0; i < n; i++)
			dst[i] = dflt;
		return NULL;
	}
	if (cnt != n)
		return lathe_error(LATHE_EINVAL, "attribute %s has %lld entries, expected %d", name,
				   (long long)cnt, n);
	memcpy(dst, v, sizeof *dst * (size_t)n);
	return NULL;
}

enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

static lathe_err auto_pad_of(const lathe_node *node, int *out)
{
	const char *s = lathe_node_attr_str(node, "auto_pad", "NOTSET");
	if (!strcmp(s, "NOTSET") || !*s)
		*out = PAD_NOTSET;
	else if (!strcmp(s, "SAME_UPPER"))
		*out = PAD_SAME_UPPER;
	else if (!strcmp(s, "SAME_LOWER"))
		*out = PAD_SAME_LOWER;
	else if (!strcmp(s, "VALID"))
		*out = PAD_VALID;
	else
		return lathe_error(LATHE_EINVAL,
				   "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID",
				   s);
	return NULL;
}

/* Splits a total padding; SAME_UPPER puts the odd one at the end. */
static void split_pad(int64_t total, bool upper, int64_t *lo, int64_t *hi)
{
	if (upper) {
		*lo = floordiv(total, 2);
		*hi = total - *lo;
	} else {
		*hi = floordiv(total, 2);
		*lo = total - *hi;
	}
}

static lathe_err geom_dim(int kind, int ap, bool ceil_mode,
			  const int64_t *oshape, int64_t opad, lathe_nn_geom *g, int i)
{
	int64_t in = g->in[i], k = g->kernel[i], s = g->stride[i], d = g->dil[i];
	if (in < 0 || k < 0) {
		g->out[i] = -1;
		if (ap == PAD_SAME_UPPER || ap == PAD_SAME_LOWER || oshape)
			g->pad_lo[i] = g->pad_hi[i] = -1;
		if (kind == LATHE_NN_CONV_T && oshape)
			g->out[i] = oshape[i];
		return NULL;
	}
	int64_t ek = (k - 1) * d + 1;
	if (kind == LATHE_NN_CONV_T) {
		int64_t out;
		if (oshape || ap == PAD_SAME_UPPER || ap == PAD_SAME_LOWER) {
			out = oshape ? oshape[i] : in * s;
			int64_t total = s * (in - 1) + opad + ek - out;
			split_pad(total, ap == PAD_SAME_UPPER, &g->pad_lo[i], &g->pad_hi[i]);
		} else {
			out = s * (in - 1) + opad + ek - g->pad_lo[i] - g->pad_hi[i];
		}
		if (out < 0)
			return lathe_error(LATHE_EINVAL,
					   "spatial dim %d: output size %lld is negative", i,
					   (long long)out);
		g->out[i] = out;
		return NULL;
	}
	if (ap == PAD_SAME_UPPER || ap == PAD_SAME_LOWER) {
		int64_t out = (in + s - 1) / s;
		int64_t total = (out - 1) * s + ek - in;
		if (total < 0)
			total = 0;
		split_pad(total, ap == PAD_SAME_UPPER, &g->pad_lo[i], &g->pad_hi[i]);
		g->out[i] = out;
		return NULL;
	}
	int64_t span = in + g->pad_lo[i] + g->pad_hi[i] - ek;
	if (span < 0)
		return lathe_error(LATHE_EINVAL,
				   "spatial dim %d: the window (%lld with dilation) is larger than "
				   "the padded input (%lld)",
				   i, (long long)ek, (long long)(in + g->pad_lo[i] + g->pad_hi[i]));
	int64_t out = span / s + 1;
	if (ceil_mode) {
		out = (span + s - 1) / s + 1;
		/* The last window may not start in the end padding. */
		if ((out - 1) * s >= in + g->pad_lo[i])
			out--;
	}
	g->out[i] = out;
	return NULL;
}

lathe_err lathe_nn_geom_init(lathe_arena *a, const lathe_node *node, int kind, int n,
			     const int64_t *in, const int64_t *wkernel, lathe_nn_geom *g)
{
	if (n < 1)
		return lathe_error(LATHE_EINVAL, "needs at least one spatial dim (rank >= 3)");
	g->n = n;
	g->in = lathe_arena_new(a, int64_t, n);
	g->kernel = lathe_arena_new(a, int64_t, n);
	g->stride = lathe_arena_new(a, int64_t, n);
	g->dil = lathe_arena_new(a, int64_t, n);
	g->pad_lo = lathe_arena_new(a, int64_t, n);
	g->pad_hi = lathe_arena_new(a, int64_t, n);
	g->out = lathe_arena_new(a, int64_t, n);
	memcpy(g->in, in, sizeof *in * (size_t)n);
	for (int i = 0; i < n; i++)
		if (in[i] > ((int64_t)1 << 40))
			return lathe_error(LATHE_EINVAL, "spatial dim %d (%lld) is too large", i,
					   (long long)in[i]);

	int64_t cnt;
	const int64_t *ks = lathe_node_attr_ints(node, "kernel_shape", &cnt);
	if (ks && cnt >= 0) {
		if (cnt != n)
			return lathe_error(LATHE_EINVAL,
					   "kernel_shape has %lld entries for %d spatial dims",
					   (long long)cnt, n);
		for (int i = 0; i < n; i++) {
			LATHE_TRY(check_attr("kernel_shape", i, ks[i], 1));
			if (wkernel && wkernel[i] >= 0 && wkernel[i] != ks[i])
				return lathe_error(LATHE_EINVAL,
						   "kernel_shape[%d] = %lld but the weight's dim is %lld",
						   i, (long long)ks[i], (long long)wkernel[i]);
			g->kernel[i] = ks[i];
		}
	} else if (wkernel) {
		memcpy(g->kernel, wkernel, sizeof *wkernel * (size_t)n);
	} else {
		return lathe_error(LATHE_EINVAL, "attribute kernel_shape is required");
	}
	LATHE_TRY(attr_ints(node, "strides", n, 1, g->stride));
	LATHE_TRY(attr_ints(node, "dilations", n, 1, g->dil));
	int64_t *pads = lathe_arena_new(a, int64_t, 2 * n);
	LATHE_TRY(attr_ints(node, "pads", 2 * n, 0, pads));
	for (int i = 0; i < n; i++) {
		LATHE_TRY(check_attr("strides", i, g->stride[i], 1));
		LATHE_TRY(check_attr("dilations", i, g->dil[i], 1));
		LATHE_TRY(check_attr("pads", i, pads[i], 0));
		LATHE_TRY(check_attr("pads", n + i, pads[n + i], 0));
		if (wkernel && wkernel[i] > MAX_WINDOW_ATTR)
			return lathe_error(LATHE_EINVAL, "kernel dim %d (%lld) is too large", i,
					   (long long)wkernel[i]);
		g->pad_lo[i] = pads[i];
		g->pad_hi[i] = pads[n + i];
	}
	int ap = PAD_NOTSET;
	LATHE_TRY(auto_pad_of(node, &ap));
	if (ap != PAD_NOTSET) {
		for (int i = 0; i < n; i++)
			g->pad_lo[i] = g->pad_hi[i] = 0;
	}
	bool ceil_mode = kind == LATHE_NN_POOL && lathe_node_attr_int(node, "ceil_mode", 0) != 0;

	const int64_t *oshape = NULL;
	int64_t *opad = lathe_arena_new(a, int64_t, n);
	if (kind == LATHE_NN_CONV_T) {
		LATHE_TRY(attr_ints(node, "output_padding", n, 0, opad));
		for (int i = 0; i < n; i++)
			LATHE_TRY(check_attr("output_padding", i, opad[i], 0));
		const int64_t *os = lathe_node_attr_ints(node, "output_shape", &cnt);
		if (os && cnt >= 0) {
			/* Old exporters wrote the full shape (N, C, spatial...). */
			if (cnt == n + 2)
				os += 2;
			else if (cnt != n)
				return lathe_error(LATHE_EINVAL,
						   "output_shape has %lld entries for %d spatial dims",
						   (long long)cnt, n);
			for (int i = 0; i < n; i++)
				if (os[i] < 0 || os[i] > ((int64_t)1 << 40))
					return lathe_error(LATHE_EINVAL, "output_shape[%d] = %lld is out of range",
							   i, (long long)os[i]);
			oshape = os;
		}
	}
	for (int i = 0; i < n; i++)
		LATHE_TRY(geom_dim(kind, ap, ceil_mode, oshape, opad[i], g, i));
	return NULL;
}

/* ---- MaxUnpool -------------------------------------------------------------------- */

/* The unpooled shape before output_shape: (in - 1) * stride - pads + kernel. */
static lathe_err unpool_shape(lathe_arena *a, const lathe_node *node, int n, const int64_t *in,
			      int64_t *out)
{
	lathe_nn_geom g = {0};
	int64_t *fake = lathe_arena_new(a, int64_t, n);
	for (int i = 0; i < n; i++)
		fake[i] = -1; /* only the attributes are wanted */
	LATHE_TRY(lathe_nn_geom_init(a, node, LATHE_NN_POOL, n, fake, NULL, &g));
	for (int i = 0; i < n; i++)
		out[i] = in[i] < 0 ? -1
				   : (in[i] - 1) * g.stride[i] - g.pad_lo[i] - g.pad_hi[i] +
					     g.kernel[i];
	return NULL;
}

lathe_err infer_max_unpool(lathe_infer_ctx *c)
{
	LATHE_TRY(lathe_nn_need(c, 0, "X"));
	LATHE_TRY(lathe_nn_need(c, 1, "I"));
	const lathe_type *x = lathe_nn_in(c, 0);
	if (!x || x->rank < 0) {
		c->out[0] = lathe_nn_type(c->arena, x ? x->dtype : LATHE_DT_UNDEF, -1);
		return NULL;
	}
	if (x->rank < 3)
		return lathe_error(LATHE_EINVAL, "X must have rank >= 3, not %d", x->rank);
	int n = x->rank - 2;
	lathe_type t = lathe_nn_type(c->arena, x->dtype, x->rank);
	t.dims[0] = x->dims[0];
	t.dims[1] = x->dims[1];
	bool has_shape = c->nin > 2 && c->in[2];
	if (has_shape) {
		const lathe_tensor *v = c->in_val[2];
		if (v) {
			int64_t *s = NULL, cnt = 0;
			LATHE_TRY(lathe_tensor_ints(c->arena, v, &s, &cnt));
			if (cnt != x->rank)
				return lathe_error(LATHE_EINVAL,
						   "output_shape has %lld entries for X of rank %d",
						   (long long)cnt, x->rank);
			for (int i = 0; i < cnt; i++) {
				if (s[i] < 0)
					return lathe_error(LATHE_EINVAL, "output_shape[%d] is negative", i);
				t.dims[i] = (lathe_dim){.size = s[i], .sym = -1};
			}
		}
	} else {
		int64_t *out = lathe_arena_new(c->arena, int64_t, n);
		LATHE_TRY(unpool_shape(c->arena, c->node, n, lathe_nn_spatial(c->arena, x, n), out));
		for (int i = 0; i < n; i++)
			t.dims[i + 2] = (lathe_dim){.size = out[i], .sym = -1};
	}
	c->out[0] = t;
	return NULL;
}

lathe_err lower_max_unpool(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *ix = c->in_buf[1], *y = c->out_buf[0];
	int rank = x->rank, n = rank - 2;
	if (ix->rank != rank)
		return lathe_error(LATHE_EINVAL, "I must have X's shape");
	for (int i = 0; i < rank; i++)
		if (ix->shape[i] != x->shape[i])
			return lathe_error(LATHE_EINVAL, "I must have X's shape");
	if (!lathe_dtype_is_int(ix->dtype))
		return lathe_error(LATHE_EINVAL, "I must hold integers");
	/* Indices are flat offsets into the unpooled shape; output_shape only
	 * pads that shape at the end of each dim. */
	int64_t *ushape = lathe_arena_new(f->arena, int64_t, rank);
	ushape[0] = x->shape[0];
	ushape[1] = x->shape[1];
	LATHE_TRY(unpool_shape(f->arena, c->node, n, x->shape + 2, ushape + 2));
	int64_t unumel = 1;
	for (int i = 0; i < rank; i++) {
		if (ushape[i] < 0)
			return lathe_error(LATHE_EINVAL, "the unpooled size of dim %d is negative", i);
		unumel *= ushape[i];
	}

	lathe_te_axes oax = lathe_te_axes_new(f, "i", y->rank, y->shape);
	lathe_te_compute(f, y, oax, lathe_nn_const(f, y->dtype, 0));

	lathe_te_axes ax = lathe_te_axes_new(f, "j", rank, x->shape);
	lathe_tir_var *fv = lathe_tir_new_var(f, "flat", LATHE_DT_I64);
	lathe_tir_expr *flat = lathe_tir_varref(f, fv);
	lathe_tir_expr **pos = lathe_arena_new(f->arena, lathe_tir_expr *, rank);
	lathe_te_unravel(f, flat, rank, ushape, pos);
	lathe_tir_expr *cond = nn_and(f, nn_bin(f, LATHE_TIR_GE, flat, nn_i64(f, 0)),
				      nn_bin(f, LATHE_TIR_LT, flat, nn_i64(f, unumel)));
	for (int i = 2; i < rank; i++)
		if (y->shape[i] < ushape[i])
			cond = nn_and(f, cond,
				      nn_bin(f, LATHE_TIR_LT, pos[i], nn_i64(f, y->shape[i])));
	lathe_tir_stmt *st = lathe_tir_store(f, y, pos, lathe_nn_load(f, x, ax.idx));
	lathe_tir_stmt *body = lathe_tir_let(
		f, fv, lathe_nn_to(f, LATHE_DT_I64, lathe_nn_load(f, ix, ax.idx)),
		lathe_tir_if(f, cond, st, NULL));
	lathe_tir_append(f, lathe_te_nest(f, ax, body));
	return NULL;
}

/* ---- Col2Im ----------------------------------------------------------------------- */

/* image_shape (input 1) and block_shape (input 2) as n-entry int arrays. */
static lathe_err col2im_params(lathe_arena *a, const lathe_tensor *const *val, int64_t **img,
			       int64_t **blk, int64_t *n)
{
	int64_t ni, nb;
	LATHE_TRY(lathe_tensor_ints(a, val[1], img, &ni));
	LATHE_TRY(lathe_tensor_ints(a, val[2], blk, &nb));
	if (ni != nb || ni < 1)
		return lathe_error(LATHE_EINVAL,
				   "image_shape (%lld entries) and block_shape (%lld) must match",
				   (long long)ni, (long long)nb);
	for (int i = 0; i < ni; i++)
		if ((*img)[i] < 0 || (*blk)[i] <= 0 || (*img)[i] > ((int64_t)1 << 40) ||
		    (*blk)[i] > MAX_WINDOW_ATTR)
			return lathe_error(LATHE_EINVAL,
					   "image_shape and block_shape must be positive and in range");
	*n = ni;
	return NULL;
}

lathe_err infer_col2im(lathe_infer_ctx *c)
{
	LATHE_TRY(lathe_nn_need(c, 0, "input"));
	LATHE_TRY(lathe_nn_need(c, 1, "image_shape"));
	LATHE_TRY(lathe_nn_need(c, 2, "block_shape"));
	const lathe_type *x = lathe_nn_in(c, 0);
	int dtype = x ? x->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(lathe_nn_check_rank(x, 3, "input"));
	if (!c->in_val[1] || !c->in_val[2]) {
		c->out[0] = lathe_nn_type(c->arena, dtype, -1);
		return NULL;
	}
	int64_t *img = NULL, *blk = NULL, n = 0;
	LATHE_TRY(col2im_params(c->arena, c->in_val, &img, &blk, &n));
	lathe_type t = lathe_nn_type(c->arena, dtype, (int)n + 2);
	int64_t cb, kprod = 1;
	for (int i = 0; i < n; i++) {
		if (blk[i] > ((int64_t)1 << 40) / kprod)
			return lathe_error(LATHE_EINVAL, "block_shape is too large");
		kprod *= blk[i];
	}
	if (x && x->rank == 3) {
		t.dims[0] = x->dims[0];
		if (lathe_nn_dim(x, 1, &cb)) {
			if (cb % kprod)
				return lathe_error(LATHE_EINVAL,
						   "input dim 1 (%lld) is not a multiple of the block size %lld",
						   (long long)cb, (long long)kprod);
			t.dims[1].size = cb / kprod;
		}
	}
	for (int i = 0; i < n; i++)
		t.dims[i + 2].size = img[i];
	c->out[0] = t;
	return NULL;
}

lathe_err lower_col2im(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *y = c->out_buf[0];
	int64_t *img = NULL, *blk = NULL, n = 0;
	LATHE_TRY(col2im_params(f->arena, c->in_val, &img, &blk, &n));
	int64_t *st = lathe_arena_new(f->arena, int64_t, n);
	int64_t *dil = lathe_arena_new(f->arena, int64_t, n);
	int64_t *pads = lathe_arena_new(f->arena, int64_t, 2 * n);
	LATHE_TRY(attr_ints(c->node, "strides", (int)n, 1, st));
	LATHE_TRY(attr_ints(c->node, "dilations", (int)n, 1, dil));
	LATHE_TRY(attr_ints(c->node, "pads", 2 * (int)n, 0, pads));
	int64_t *nblk = lathe_arena_new(f->arena, int64_t, n);
	int64_t L = 1, kprod = 1;
	bool empty = false;
	for (int i = 0; i < n; i++) {
		LATHE_TRY(check_attr("strides", i, st[i], 1));
		LATHE_TRY(check_attr("dilations", i, dil[i], 1));
		LATHE_TRY(check_attr("pads", i, pads[i], 0));
		LATHE_TRY(check_attr("pads", (int)n + i, pads[n + i], 0));
		int64_t span = img[i] + pads[i] + pads[n + i] - (blk[i] - 1) * dil[i] - 1;
		nblk[i] = span < 0 ? 0 : span / st[i] + 1;
		if (nblk[i] > ((int64_t)1 << 40) / L || blk[i] > ((int64_t)1 << 40) / kprod)
			return lathe_error(LATHE_EINVAL, "image_shape or block_shape is too large");
		if (nblk[i])
			L *= nblk[i];
		else
			empty = true;
		kprod *= blk[i];
	}
	if (empty)
		L = 0;
	if (x->shape[2] != L)
		return lathe_error(LATHE_EINVAL,
				   "input dim 2 is %lld but the image holds %lld blocks",
				   (long long)x->shape[2], (long long)L);
	int acc = lathe_nn_acc_dtype(x->dtype);
	/* out[b, c, p...] = sum over kernel offsets r of the column whose block
	 * covers p at offset r: p + pad - r * dil must be a multiple of the
	 * stride landing inside the block grid. */
	lathe_te_axes ax = lathe_te_axes_new(f, "i", y->rank, y->shape);
	lathe_te_axes rax = lathe_te_axes_new(f, "r", (int)n, blk);
	lathe_tir_expr *cond = NULL;
	lathe_tir_expr **bpos = lathe_arena_new(f->arena, lathe_tir_expr *, n);
	for (int i = 0; i < n; i++) {
		lathe_tir_expr *t = nn_sub(f, nn_addc(f, ax.idx[i + 2], pads[i]),
					   nn_mulc(f, rax.idx[i], dil[i]));
		lathe_tir_expr *q = nn_divc(f, t, st[i]);
		if (st[i] > 1)
			cond = nn_and(f, cond, nn_bin(f, LATHE_TIR_EQ, nn_modc(f, t, st[i]),
						      nn_i64(f, 0)));
		cond = nn_and(f, cond, nn_bin(f, LATHE_TIR_GE, q, nn_i64(f, 0)));
		cond = nn_and(f, cond, nn_bin(f, LATHE_TIR_LT, q, nn_i64(f, nblk[i])));
		bpos[i] = q;
	}
	lathe_tir_expr *xi[3];
	xi[0] = ax.idx[0];
	xi[1] = nn_add(f, nn_mulc(f, ax.idx[1], kprod), lathe_te_ravel(f, (int)n, blk, rax.idx));
	xi[2] = lathe_te_ravel(f, (int)n, nblk, bpos);
	lathe_tir_expr *v = lathe_nn_to(f, acc, lathe_nn_load(f, x, xi));
	v = lathe_tir_select(f, cond, v, lathe_nn_const(f, acc, 0));
	lathe_te_reduce r = lathe_te_reduce_begin(f, acc);
	lathe_te_reduce_end(f, &r, y, ax, rax, LATHE_TIR_ADD, lathe_nn_const(f, acc, 0), v,
			    lathe_nn_to(f, y->dtype, r.acc_val));
	return NULL;
}

/* ---- RoiAlign and MaxRoiPool (extern kernels) --------------------------------------- */

lathe_err infer_roi_pool(lathe_infer_ctx *c)
{
	bool align = c->node->op == LATHE_OP_RoiAlign;
	LATHE_TRY(lathe_nn_need(c, 0, "X"));
	LATHE_TRY(lathe_nn_need(c, 1, "rois"));
	if (align)
		LATHE_TRY(lathe_nn_need(c, 2, "batch_indices"));
	const lathe_type *x = lathe_nn_in(c, 0), *rois = lathe_nn_in(c, 1);
	LATHE_TRY(lathe_nn_check_rank(x, 4, "X"));
	LATHE_TRY(lathe_nn_check_rank(rois, 2, "rois"));
	int dtype = x ? x->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(lathe_nn_check_float(dtype, "X"));
	int64_t oh, ow;
	if (align) {
		oh = lathe_node_attr_int(c->node, "output_height", 1);
		ow = lathe_node_attr_int(c->node, "output_width", 1);
	} else {
		int64_t cnt;
		const int64_t *ps = lathe_node_attr_ints(c->node, "pooled_shape", &cnt);
		if (!ps || cnt != 2)
			return lathe_error(LATHE_EINVAL, "attribute pooled_shape (2 ints) is required");
		oh = ps[0];
		ow = ps[1];
	}
	if (oh <= 0 || ow <= 0)
		return lathe_error(LATHE_EINVAL, "the pooled size must be positive");
	lathe_type t = lathe_nn_type(c->arena, dtype, 4);
	if (rois && rois->rank == 2)
		t.dims[0] = rois->dims[0];
	if (x && x->rank == 4)
		t.dims[1] = x->dims[1];
	t.dims[2].size = oh;
	t.dims[3].size = ow;
	c->out[0] = t;
	return NULL;
}

lathe_err kernel_roi_pool(lathe_kernel_ctx *c)
{
	int64_t cnt;
	const int64_t *ps = lathe_node_attr_ints(c->node, "pooled_shape", &cnt);
	if (!ps || cnt != 2 || ps[0] <= 0 || ps[1] <= 0)
		return lathe_error(LATHE_EINVAL, "attribute pooled_shape (2 positive ints) is required");
	int64_t ip[2] = {ps[0], ps[1]};
	double fp[1] = {lathe_node_attr_float(c->node, "spatial_scale", 1.0)};
	return lathe_kernel_call_rt(c, lathe_rt_k_max_roi_pool, ip, 2, fp, 1, NULL, 0);
}

lathe_err kernel_roi_align(lathe_kernel_ctx *c)
{
	const char *mode = lathe_node_attr_str(c->node, "mode", "avg");
	const char *ctm =
		lathe_node_attr_str(c->node, "coordinate_transformation_mode", "half_pixel");
	int64_t m, half;
	if (!strcmp(mode, "avg"))
		m = 0;
	else if (!strcmp(mode, "max"))
		m = 1;
	else
		return lathe_error(LATHE_EINVAL, "mode '%s' is not avg or max", mode);
	if (!strcmp(ctm, "half_pixel"))
		half = 1;
	else if (!strcmp(ctm, "output_half_pixel"))
		half = 0;
	else
		return lathe_error(LATHE_EINVAL,
				   "coordinate_transformation_mode '%s' is not half_pixel or "
				   "output_half_pixel",
				   ctm);
	int64_t ip[5] = {lathe_node_attr_int(c->node, "output_height", 1),
			 lathe_node_attr_int(c->node, "output_width", 1),
			 lathe_node_attr_int(c->node, "sampling_ratio", 0), m, half};
	if (ip[0] <= 0 || ip[1] <= 0 || ip[2] < 0)
		return lathe_error(LATHE_EINVAL,
				   "output_height/width must be positive, sampling_ratio not negative");
	double fp[1] = {lathe_node_attr_float(c->node, "spatial_scale", 1.0)};
	return lathe_kernel_call_rt(c, lathe_rt_k_roi_align, ip, 5, fp, 1, NULL, 0);
}

/* ---- DeformConv (extern kernel) -------------------------------------------------------- */

lathe_err kernel_deform_conv(lathe_kernel_ctx *c)
{
	if (c->nin < 3 || !c->in[0].t || !c->in[1].t || !c->in[2].t)
		return lathe_error(LATHE_EINVAL, "X, W and offset are required");
	const lathe_tensor *x = c->in[0].t, *w = c->in[1].t;
	if (x->rank < 3 || w->rank != x->rank)
		return lathe_error(LATHE_EINVAL, "X and W must have the same rank >= 3");
	int n = x->rank - 2;
	lathe_nn_geom g = {0};
	LATHE_TRY(lathe_nn_geom_init(c->arena, c->node, LATHE_NN_CONV, n, x->shape + 2,
				     w->shape + 2, &g));
	int64_t *ip = lathe_arena_new(c->arena, int64_t, 3 + 4 * n);
	ip[0] = lathe_node_attr_int(c->node, "group", 1);
	ip[1] = lathe_node_attr_int(c->node, "offset_group", 1);
	ip[2] = n;
	for (int i = 0; i < n; i++) {
		ip[3 + i] = g.stride[i];
		ip[3 + n + i] = g.dil[i];
		ip[3 + 2 * n + i] = g.pad_lo[i];
		ip[3 + 3 * n + i] = g.out[i];
	}
	return lathe_kernel_call_rt(c, lathe_rt_k_deform_conv, ip, 3 + 4 * n, NULL, 0, NULL, 0);
}
