/* resize.c: resampling ops: Resize (and its old form Upsample), GridSample
 * and AffineGrid, as loop programs.
 *
 * Resize is separable: every resized axis maps an output coordinate y to a
 * source coordinate x (coordinate_transformation_mode), then reads the input
 * at the taps around x with one weight per tap (mode: nearest, linear,
 * cubic; antialias widens the kernel by 1/scale when downsampling).  The
 * output element is the sum over the tap grid of the product of the axes'
 * weights, accumulated in f64 and converted to the element type at the end,
 * which is the ONNX reference's arithmetic.  The taps and weights are
 * computed in the loop program from the output index (no tables), so the
 * program's size does not grow with the image.  Axes that the reference
 * treats as identity (scale 1, same size, no crop) read straight through.
 *
 * GridSample reads its sampling positions from data (the grid), so its
 * whole coordinate arithmetic, padding mode included, is in the loop body;
 * tap indices are clamped before every load so nothing reads out of bounds
 * even where the zeros padding mode masks the value away.
 *
 * Scales, sizes and roi are parameter inputs: inference and lowering read
 * their values through the same plan function and cannot disagree.
 */
#include <math.h>
#include <string.h>

#include "ops/movement.h"

/* ---- let bindings ------------------------------------------------------------------- */

/* Expressions bound to variables around a statement, outermost first, so a
 * value used many times in the body is computed once. */
typedef struct lets {
	int n, cap;
	lathe_tir_var **var;
	lathe_tir_expr **val;
} lets;

static lets lets_new(lathe_tir_func *f, int cap)
{
	lets l = {0, cap, lathe_arena_new(f->arena, lathe_tir_var *, cap),
		  lathe_arena_new(f->arena, lathe_tir_expr *, cap)};
	return l;
}

static lathe_tir_expr *bind(lathe_tir_func *f, lets *l, const char *name, lathe_tir_expr *v)
{
	LATHE_ASSERT(l->n < l->cap);
	lathe_tir_var *var = lathe_tir_new_var(f, name, v->dtype);
	l->var[l->n] = var;
	l->val[l->n++] = v;
	return lathe_tir_varref(f, var);
}

static lathe_tir_stmt *wrap_lets(lathe_tir_func *f, const lets *l, lathe_tir_stmt *body)
{
	for (int i = l->n - 1; i >= 0; i--)
		body = lathe_tir_let(f, l->var[i], l->val[i], body);
	return body;
}

/* ---- f64 expression shorthands ---------------------------------------------------------- */

static lathe_tir_expr *fc(lathe_tir_func *f, double v)
{
	return lathe_tir_float(f, LATHE_DT_F64, v);
}

static lathe_tir_expr *f64_of(lathe_tir_func *f, lathe_tir_expr *e)
{
	return e->dtype == LATHE_DT_F64 ? e : lathe_tir_cast(f, LATHE_DT_F64, e);
}

static lathe_tir_expr *e_add(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	return lathe_tir_binary(f, LATHE_TIR_ADD, a, b);
}

static lathe_tir_expr *e_sub(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	return lathe_tir_binary(f, LATHE_TIR_SUB, a, b);
}

static lathe_tir_expr *e_mul(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	return lathe_tir_binary(f, LATHE_TIR_MUL, a, b);
}

static lathe_tir_expr *e_div(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	return lathe_tir_binary(f, LATHE_TIR_DIV, a, b);
}

/* The Keys cubic convolution kernel with parameter A at distance t >= 0. */
static lathe_tir_expr *cubic_kernel(lathe_tir_func *f, lathe_tir_expr *t, double A)
{
	lathe_tir_expr *near = e_add(f, e_mul(f, e_mul(f, e_sub(f, e_mul(f, fc(f, A + 2), t), fc(f, A + 3)), t), t),
				   fc(f, 1));
	lathe_tir_expr *far = e_sub(f, e_mul(f, e_add(f, e_mul(f, e_sub(f, e_mul(f, fc(f, A), t), fc(f, 5 * A)), t),
						  fc(f, 8 * A)), t), fc(f, 4 * A));
	return lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_LE, t, fc(f, 1)), near,
				lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_LT, t, fc(f, 2)), far,
						 fc(f, 0)));
}

/* v (f64) converted to dtype the way the reference saturates: integers
 * round half to even and clamp to the type's range. */
static lathe_tir_expr *from_f64(lathe_tir_func *f, int dtype, lathe_tir_expr *v)
{
	if (dtype == LATHE_DT_F64)
		return v;
	if (lathe_dtype_is_float(dtype))
		return lathe_tir_cast(f, dtype, v);
	v = lathe_tir_unary(f, LATHE_TIR_ROUND, v);
	lathe_tir_expr *lo = lathe_te_lowest(f, dtype), *hi = lathe_te_highest(f, dtype);
	v = lathe_tir_binary(f, LATHE_TIR_MAX, v, f64_of(f, lo));
	v = lathe_tir_binary(f, LATHE_TIR_MIN, v, f64_of(f, hi));
	return lathe_tir_cast(f, dtype, v);
}

/* ---- Resize plan -------------------------------------------------------------------------- */

typedef struct resize_plan {
	double *scale;         /* per dim */
	int64_t *out;          /* per dim output size */
	lathe_dim *odim;       /* per dim output dim for inference (may be symbolic) */
	double *roi_lo, *roi_hi;
	bool *resized;         /* the index map is not the identity */
	bool known;            /* scales/sizes known and input dims too */
	bool roi_f32;          /* roi arithmetic in float, as the reference does */
} resize_plan;

static bool is_close1(double a, double b)
{
	double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
	return fabs(a - b) <= 1e-9 * m;
}

static bool old_form(const lathe_graph *g, const lathe_node *n)
{
	return n->op == LATHE_OP_Upsample || (g && g->opset > 0 && g->opset < 11);
}

/* keep_aspect_ratio_policy: one scale for all axes, the smallest
 * (not_larger) or the largest (not_smaller). */
static lathe_err keep_aspect(const lathe_node *n, const int *axes, int na, const lathe_dim *dims,
			     resize_plan *p, bool *all_known)
{
	const char *policy = lathe_node_attr_str(n, "keep_aspect_ratio_policy", "stretch");
	bool larger = !strcmp(policy, "not_larger"), smaller = !strcmp(policy, "not_smaller");
	if (!larger && !smaller && strcmp(policy, "stretch"))
		return lathe_error(LATHE_EINVAL,
				   "unknown keep_aspect_ratio_policy '%s' (stretch, not_larger, "
				   "not_smaller)", policy);
	if ((!larger && !smaller) || na == 0)
		return NULL;
	if (!*all_known) {
		for (int i = 0; i < na; i++)
			p->odim[axes[i]] = mv_dim_unknown();
		return NULL;
	}
	double s = p->scale[axes[0]];
	for (int i = 1; i < na; i++) {
		double si = p->scale[axes[i]];
		s = larger ? (si < s ? si : s) : (si > s ? si : s);
	}
	for (int i = 0; i < na; i++) {
		int d = axes[i];
		p->scale[d] = s;
		p->out[d] = (int64_t)(s * (double)dims[d].size + 0.5);
		p->odim[d] = mv_dim(p->out[d]);
	}
	return NULL;
}

/* Fills p for an input of `rank` dims `dims` from the param tensors roi,
 * scales, sizes (each NULL if absent or empty).  unknown_param: one is
 * present but its value is not known.  p->known is false when something
 * the lowering needs is unknown; p->odim still says what can be told. */
static lathe_err resize_plan_make(lathe_arena *a, const lathe_node *n, int rank,
				  const lathe_dim *dims, const lathe_tensor *roi,
				  const lathe_tensor *scales, const lathe_tensor *sizes,
				  bool unknown_param, resize_plan *p)
{
	p->scale = lathe_arena_new(a, double, rank + 1);
	p->out = lathe_arena_new(a, int64_t, rank + 1);
	p->odim = lathe_arena_new(a, lathe_dim, rank + 1);
	p->roi_lo = lathe_arena_new(a, double, rank + 1);
	p->roi_hi = lathe_arena_new(a, double, rank + 1);
	p->resized = lathe_arena_new(a, bool, rank + 1);
	p->known = false;
	p->roi_f32 = roi && roi->dtype == LATHE_DT_F32;
	int64_t na;
	const int64_t *axes_attr = lathe_node_attr_ints(n, "axes", &na);
	int *axes = lathe_arena_new(a, int, rank + 1);
	bool *named = lathe_arena_new(a, bool, rank + 1);
	if (!axes_attr)
		na = rank;
	if (na > rank)
		return lathe_error(LATHE_EINVAL, "%lld axes for rank %d", (long long)na, rank);
	for (int i = 0; i < na; i++) {
		int d = i;
		if (axes_attr)
			LATHE_TRY(lathe_norm_axis(axes_attr[i], rank, &d));
		if (named[d])
			return lathe_error(LATHE_EINVAL, "axis %d repeated", d);
		named[d] = true;
		axes[i] = d;
	}
	for (int d = 0; d < rank; d++) {
		p->scale[d] = 1;
		p->out[d] = mv_dim_known(dims[d]) ? dims[d].size : -1;
		p->odim[d] = named[d] ? mv_dim_unknown() : dims[d];
		p->roi_lo[d] = 0;
		p->roi_hi[d] = 1;
	}
	if (unknown_param)
		return NULL;
	if (!scales == !sizes)
		return lathe_error(LATHE_EINVAL, "exactly one of scales and sizes must be given");
	if (roi) {
		int64_t nr = lathe_tensor_numel(roi);
		if (nr != 2 * na)
			return lathe_error(LATHE_EINVAL, "roi has %lld values for %lld axes",
					   (long long)nr, (long long)na);
		for (int i = 0; i < na; i++) {
			p->roi_lo[axes[i]] = lathe_rt_load_f64(roi, i);
			p->roi_hi[axes[i]] = lathe_rt_load_f64(roi, na + i);
		}
	}
	const lathe_tensor *given = scales ? scales : sizes;
	if (lathe_tensor_numel(given) != na)
		return lathe_error(LATHE_EINVAL, "%s has %lld values for %lld axes",
				   scales ? "scales" : "sizes", (long long)lathe_tensor_numel(given),
				   (long long)na);
	bool all_known = true;
	for (int i = 0; i < na; i++) {
		int d = axes[i];
		bool dk = mv_dim_known(dims[d]);
		all_known = all_known && dk;
		if (scales) {
			double s = lathe_rt_load_f64(scales, i);
			if (!(s > 0) || s > 1e6)
				return lathe_error(LATHE_EINVAL, "scale %g for axis %d", s, d);
			p->scale[d] = s;
			if (dk) {
				p->out[d] = (int64_t)floor(s * (double)dims[d].size);
				p->odim[d] = mv_dim(p->out[d]);
			} else if (s == 1) {
				p->odim[d] = dims[d];
			}
		} else {
			int64_t o = lathe_rt_load_i64(sizes, i);
			if (o < 0 || o > ((int64_t)1 << 32))
				return lathe_error(LATHE_EINVAL, "size %lld for axis %d", (long long)o, d);
			if (dk && dims[d].size == 0 && o > 0)
				return lathe_error(LATHE_EINVAL, "cannot resize empty axis %d to %lld", d,
						   (long long)o);
			p->out[d] = o;
			p->odim[d] = mv_dim(o);
			if (dk)
				p->scale[d] = dims[d].size ? (double)o / (double)dims[d].size : 1;
		}
	}
	if (sizes)
		LATHE_TRY(keep_aspect(n, axes, (int)na, dims, p, &all_known));
	if (!all_known)
		return NULL;
	for (int d = 0; d < rank; d++)
		p->resized[d] = !(is_close1(p->scale[d], 1) && p->out[d] == dims[d].size &&
				  fabs(p->roi_lo[d]) <= 1e-9 && is_close1(p->roi_hi[d], 1));
	p->known = true;
	return NULL;
}

/* The param tensors of a Resize or Upsample node: empty tensors count as
 * absent; *unknown is set when one is present but its value is not known. */
static void resize_params(const lathe_node *n, int nin, const lathe_type *const *types,
			  const lathe_tensor *const *vals, const lathe_tensor **roi,
			  const lathe_tensor **scales, const lathe_tensor **sizes, bool *unknown)
{
	int iroi = -1, iscales = 1, isizes = -1;
	if (n->op == LATHE_OP_Resize) {
		iroi = 1;
		iscales = 2;
		isizes = 3;
	}
	const lathe_tensor **dst[3] = {roi, scales, sizes};
	int idx[3] = {iroi, iscales, isizes};
	*unknown = false;
	for (int k = 0; k < 3; k++) {
		*dst[k] = NULL;
		int i = idx[k];
		if (i < 0 || i >= nin || !types[i])
			continue;
		if (mv_is_tensor(types[i]) && lathe_type_numel(types[i]) == 0)
			continue;
		if (!vals[i]) {
			/* An unknown roi only matters for tf_crop_and_resize. */
			if (k != 0)
				*unknown = true;
			continue;
		}
		if (lathe_tensor_numel(vals[i]) > 0)
			*dst[k] = vals[i];
	}
}

lathe_err infer_resize(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "X"));
	const lathe_type *x = c->in[0];
	if (!mv_has_rank(x)) {
		c->out[0] = lathe_type_tensor(c->arena, mv_dtype(c, 0), -1, NULL);
		return NULL;
	}
	const lathe_tensor *roi, *scales, *sizes;
	bool unknown;
	resize_params(c->node, c->nin, c->in, c->in_val, &roi, &scales, &sizes, &unknown);
	resize_plan p;
	LATHE_TRY(resize_plan_make(c->arena, c->node, x->rank, x->dims, roi, scales, sizes,
				   unknown, &p));
	lathe_type out = lathe_type_like(c->arena, x);
	for (int d = 0; d < x->rank; d++)
		out.dims[d] = p.odim[d];
	c->out[0] = out;
	return NULL;
}

/* ---- Resize lowering ------------------------------------------------------------------------ */

enum { NEAREST, LINEAR, CUBIC };

typedef struct resize_opts {
	int mode;
	const char *ctm;      /* coordinate_transformation_mode */
	const char *nearest;  /* nearest_mode */
	double cubic_a, extrapolation;
	bool antialias, exclude_outside, crop;
} resize_opts;

static lathe_err resize_options(const lathe_lower_ctx *c, resize_opts *o)
{
	const lathe_node *n = c->node;
	bool old = old_form(c->graph, n);
	const char *mode = lathe_node_attr_str(n, "mode", "nearest");
	if (!strcmp(mode, "nearest"))
		o->mode = NEAREST;
	else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear"))
		o->mode = LINEAR;
	else if (!strcmp(mode, "cubic") || !strcmp(mode, "bicubic"))
		o->mode = CUBIC;
	else
		return lathe_error(LATHE_EINVAL, "unknown mode '%s' (nearest, linear, cubic)", mode);
	o->ctm = lathe_node_attr_str(n, "coordinate_transformation_mode",
				     old ? "asymmetric" : "half_pixel");
	o->nearest = lathe_node_attr_str(n, "nearest_mode", old ? "floor" : "round_prefer_floor");
	o->cubic_a = lathe_node_attr_float(n, "cubic_coeff_a", -0.75);
	o->extrapolation = lathe_node_attr_float(n, "extrapolation_value", 0);
	o->antialias = lathe_node_attr_int(n, "antialias", 0) != 0 && o->mode != NEAREST;
	o->exclude_outside = lathe_node_attr_int(n, "exclude_outside", 0) != 0;
	o->crop = !strcmp(o->ctm, "tf_crop_and_resize");
	static const char *const ctms[] = {"half_pixel", "half_pixel_symmetric",
					   "pytorch_half_pixel", "align_corners", "asymmetric",
					   "tf_crop_and_resize"};
	bool ok = false;
	for (size_t i = 0; i < sizeof ctms / sizeof ctms[0]; i++)
		ok = ok || !strcmp(o->ctm, ctms[i]);
	if (!ok)
		return lathe_error(LATHE_EINVAL, "unknown coordinate_transformation_mode '%s'", o->ctm);
	static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
					  "ceil"};
	ok = false;
	for (size_t i = 0; i < sizeof nms / sizeof nms[0]; i++)
		ok = ok || !strcmp(o->nearest, nms[i]);
	if (!ok)
		return lathe_error(LATHE_EINVAL, "unknown nearest_mode '%s'", o->nearest);
	return NULL;
}

/* Source coordinate (f64) of output index y along dim d. */
static lathe_tir_expr *source_coord(lathe_tir_func *f, const resize_opts *o,
				    const resize_plan *p, int d, int64_t in_w,
				    lathe_tir_expr *y)
{
	double s = p->scale[d], out_w = s * (double)in_w;
	lathe_tir_expr *half = e_sub(f, e_div(f, e_add(f, y, fc(f, 0.5)), fc(f, s)), fc(f, 0.5));
	const char *m = o->ctm;
	if (!strcmp(m, "half_pixel"))
		return half;
	if (!strcmp(m, "half_pixel_symmetric")) {
		double adjust = (double)p->out[d] / out_w, center = (double)in_w / 2;
		double offset = center * (1 - adjust);
		return e_sub(f, e_add(f, fc(f, offset), e_div(f, e_add(f, y, fc(f, 0.5)), fc(f, s))),
			    fc(f, 0.5));
	}
	if (!strcmp(m, "pytorch_half_pixel"))
		return out_w == 1 ? fc(f, -0.5) : half;
	if (!strcmp(m, "align_corners"))
		return out_w == 1 ? fc(f, 0)
				  : e_div(f, e_mul(f, y, fc(f, (double)(in_w - 1))), fc(f, out_w - 1));
	if (!strcmp(m, "asymmetric"))
		return e_div(f, y, fc(f, s));
	/* tf_crop_and_resize; the reference does the roi arithmetic in the
	 * roi's own precision. */
	double lo = p->roi_lo[d], hi = p->roi_hi[d];
	double span = p->roi_f32 ? (double)((float)hi - (float)lo) : hi - lo;
	double start = p->roi_f32 ? (double)((float)lo * (float)(in_w - 1)) : lo * (double)(in_w - 1);
	lathe_tir_expr *x;
	if (out_w == 1)
		x = fc(f, span * (double)(in_w - 1) / 2);
	else
		x = e_div(f, e_mul(f, e_mul(f, y, fc(f, span)), fc(f, (double)(in_w - 1))),
			 fc(f, out_w - 1));
	return e_add(f, x, fc(f, start));
}

/* Nearest source index (i64, clamped into the input) of coordinate x. */
static lathe_tir_expr *nearest_index(lathe_tir_func *f, const resize_opts *o, lathe_tir_expr *x,
				     int64_t in_w)
{
	lathe_tir_expr *fl = lathe_tir_unary(f, LATHE_TIR_FLOOR, x), *r;
	lathe_tir_expr *frac = e_sub(f, x, fl), *up = e_add(f, fl, fc(f, 1));
	if (!strcmp(o->nearest, "round_prefer_floor"))
		r = lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_LE, frac, fc(f, 0.5)), fl, up);
	else if (!strcmp(o->nearest, "round_prefer_ceil"))
		r = lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_LT, frac, fc(f, 0.5)), fl, up);
	else if (!strcmp(o->nearest, "floor"))
		r = fl;
	else
		r = lathe_tir_unary(f, LATHE_TIR_CEIL, x);
	return mv_clamp(f, lathe_tir_cast(f, LATHE_DT_I64, r), 0, in_w - 1);
}

/* One resized axis of a linear or cubic resize. */
typedef struct taps {
	int64_t n;              /* taps per output element */
	double scale;           /* kernel argument scale (antialias) */
	double radius;
	bool normalize;
	lathe_tir_expr *x, *base; /* source coordinate; first tap index */
	lathe_tir_var *j;       /* the tap loop variable of the sum */
	lathe_tir_buf *wsum;    /* sum of weights, when normalizing */
} taps;

/* Weight (f64) of tap j of axis t. */
static lathe_tir_expr *tap_weight(lathe_tir_func *f, const resize_opts *o, const taps *t,
				  lathe_tir_expr *tap, int64_t in_w)
{
	lathe_tir_expr *dist = e_mul(f, e_sub(f, f64_of(f, tap), t->x), fc(f, t->scale));
	lathe_tir_expr *ad = lathe_tir_unary(f, LATHE_TIR_ABS, dist), *w;
	if (o->mode == LINEAR)
		w = lathe_tir_binary(f, LATHE_TIR_MAX, e_sub(f, fc(f, 1), ad), fc(f, 0));
	else
		w = cubic_kernel(f, ad, o->cubic_a);
	if (o->exclude_outside)
		w = lathe_tir_select(f, mv_in_range(f, tap, 0, in_w), w, fc(f, 0));
	return w;
}

static lathe_err lower_resize_interp(lathe_lower_ctx *c, const resize_opts *o,
				     const resize_plan *p)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0], *out = c->out_buf[0];
	int rank = in->rank;
	lathe_te_axes ax = mv_out_axes(c, 0);
	lets l = lets_new(f, 4 * rank + 4);
	taps *tp = lathe_arena_new(f->arena, taps, rank + 1);
	lathe_tir_expr *extrap = NULL;
	for (int d = 0; d < rank; d++) {
		if (!p->resized[d])
			continue;
		taps *t = &tp[d];
		int64_t w = in->shape[d];
		t->radius = o->mode == LINEAR ? 1 : 2;
		t->scale = o->antialias && p->scale[d] < 1 ? p->scale[d] : 1;
		/* 2*ceil(radius/scale) taps, centred on the source coordinate. */
		t->n = -2 * (int64_t)floor(-t->radius / t->scale);
		if (t->n > 4096)
			return lathe_error(LATHE_EUNSUPPORTED, "antialias with scale %g needs %lld taps",
					   p->scale[d], (long long)t->n);
		t->normalize = o->antialias || o->exclude_outside;
		t->x = bind(f, &l, "x", source_coord(f, o, p, d, w, f64_of(f, ax.idx[d])));
		if (o->crop) {
			lathe_tir_expr *bad = lathe_tir_binary(
				f, LATHE_TIR_OR, lathe_tir_binary(f, LATHE_TIR_LT, t->x, fc(f, 0)),
				lathe_tir_binary(f, LATHE_TIR_GT, t->x, fc(f, (double)(w - 1))));
			extrap = extrap ? lathe_tir_binary(f, LATHE_TIR_OR, extrap, bad) : bad;
		}
		lathe_tir_expr *fl = lathe_tir_cast(f, LATHE_DT_I64, lathe_tir_unary(f, LATHE_TIR_FLOOR, t->x));
		t->base = bind(f, &l, "t0", mv_addc(f, fl, 1 - t->n / 2));
		if (t->normalize)
			t->wsum = lathe_tir_local(f, "wsum", LATHE_DT_F64, 0, NULL);
	}
	lathe_tir_buf *acc = lathe_tir_local(f, "acc", LATHE_DT_F64, 0, NULL);
	lathe_tir_stmt **seq = lathe_arena_new(f->arena, lathe_tir_stmt *, 2 * rank + 4);
	int ns = 0;
	/* Per normalized axis: wsum = sum of its weights. */
	for (int d = 0; d < rank; d++) {
		taps *t = &tp[d];
		if (!p->resized[d] || !t->normalize)
			continue;
		lathe_tir_var *jw = lathe_tir_new_var(f, "k", LATHE_DT_I64);
		lathe_tir_expr *tap = mv_bin(f, LATHE_TIR_ADD, t->base, lathe_tir_varref(f, jw));
		lathe_tir_expr *w = tap_weight(f, o, t, tap, in->shape[d]);
		lathe_tir_stmt *upd = lathe_tir_store(f, t->wsum, NULL,
						      e_add(f, lathe_tir_load(f, t->wsum, NULL), w));
		seq[ns++] = lathe_tir_store(f, t->wsum, NULL, fc(f, 0));
		seq[ns++] = lathe_tir_for(f, jw, mv_i64(f, 0), mv_i64(f, t->n), LATHE_TIR_SERIAL, upd);
	}
	/* acc = sum over the tap grid of (product of weights) * in[taps]. */
	lathe_tir_expr **idx = mv_idx(f, rank);
	lathe_tir_expr *wprod = NULL;
	for (int d = 0; d < rank; d++) {
		if (!p->resized[d]) {
			idx[d] = ax.idx[d];
			continue;
		}
		taps *t = &tp[d];
		t->j = lathe_tir_new_var(f, "k", LATHE_DT_I64);
		lathe_tir_expr *tap = mv_bin(f, LATHE_TIR_ADD, t->base, lathe_tir_varref(f, t->j));
		idx[d] = mv_clamp(f, tap, 0, in->shape[d] - 1);
		lathe_tir_expr *w = tap_weight(f, o, t, tap, in->shape[d]);
		wprod = wprod ? e_mul(f, wprod, w) : w;
	}
	lathe_tir_expr *term = f64_of(f, lathe_tir_load(f, in, idx));
	if (wprod)
		term = e_mul(f, wprod, term);
	lathe_tir_stmt *body = lathe_tir_store(f, acc, NULL, e_add(f, lathe_tir_load(f, acc, NULL), term));
	for (int d = rank - 1; d >= 0; d--)
		if (p->resized[d])
			body = lathe_tir_for(f, tp[d].j, mv_i64(f, 0), mv_i64(f, tp[d].n),
					     LATHE_TIR_SERIAL, body);
	seq[ns++] = lathe_tir_store(f, acc, NULL, fc(f, 0));
	seq[ns++] = body;
	lathe_tir_expr *res = lathe_tir_load(f, acc, NULL);
	for (int d = 0; d < rank; d++) {
		if (!p->resized[d] || !tp[d].normalize)
			continue;
		lathe_tir_expr *s = lathe_tir_load(f, tp[d].wsum, NULL);
		s = lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_EQ, s, fc(f, 0)), fc(f, 1), s);
		res = e_div(f, res, s);
	}
	res = from_f64(f, out->dtype, res);
	if (extrap)
		res = lathe_tir_select(f, extrap, lathe_tir_float(f, out->dtype, o->extrapolation), res);
	seq[ns++] = lathe_tir_store(f, out, ax.idx, res);
	mv_append_nest(f, ax, wrap_lets(f, &l, lathe_tir_seq(f, ns, seq)));
	return NULL;
}

static lathe_err lower_resize_nearest(lathe_lower_ctx *c, const resize_opts *o,
				      const resize_plan *p)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *in = c->in_buf[0], *out = c->out_buf[0];
	int rank = in->rank;
	lathe_te_axes ax = mv_out_axes(c, 0);
	lets l = lets_new(f, rank + 1);
	lathe_tir_expr **idx = mv_idx(f, rank);
	lathe_tir_expr *extrap = NULL;
	for (int d = 0; d < rank; d++) {
		if (!p->resized[d]) {
			idx[d] = ax.idx[d];
			continue;
		}
		int64_t w = in->shape[d];
		lathe_tir_expr *x = bind(f, &l, "x", source_coord(f, o, p, d, w, f64_of(f, ax.idx[d])));
		if (o->crop) {
			lathe_tir_expr *bad = lathe_tir_binary(
				f, LATHE_TIR_OR, lathe_tir_binary(f, LATHE_TIR_LT, x, fc(f, 0)),
				lathe_tir_binary(f, LATHE_TIR_GT, x, fc(f, (double)(w - 1))));
			extrap = extrap ? lathe_tir_binary(f, LATHE_TIR_OR, extrap, bad) : bad;
		}
		idx[d] = nearest_index(f, o, x, w);
	}
	lathe_tir_expr *v = lathe_tir_load(f, in, idx);
	if (extrap)
		v = lathe_tir_select(f, extrap, lathe_tir_float(f, out->dtype, o->extrapolation), v);
	lathe_tir_stmt *st = lathe_tir_store(f, out, ax.idx, v);
	mv_append_nest(f, ax, wrap_lets(f, &l, st));
	return NULL;
}

lathe_err lower_resize(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_ELEMENTWISE;
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_buf *in = c->in_buf[0];
	resize_opts o;
	LATHE_TRY(resize_options(c, &o));
	const lathe_tensor *roi, *scales, *sizes;
	bool unknown;
	resize_params(c->node, c->nin, c->in, c->in_val, &roi, &scales, &sizes, &unknown);
	resize_plan p;
	LATHE_TRY(resize_plan_make(c->fn->arena, c->node, c->in[0]->rank, c->in[0]->dims, roi,
				   scales, sizes, unknown, &p));
	if (!p.known)
		return lathe_error(LATHE_EINVAL, "scales or sizes are not known");
	if (lathe_type_numel(c->in[0]) == 0) {
		if (lathe_type_numel(&c->out[0]) != 0)
			return lathe_error(LATHE_EINVAL, "cannot resize an empty tensor");
		return NULL;
	}
	if (o.mode != NEAREST && !lathe_dtype_is_float(in->dtype) && !lathe_dtype_is_int(in->dtype))
		return lathe_error(LATHE_EUNSUPPORTED, "%s interpolation of %s",
				   o.mode == LINEAR ? "linear" : "cubic", lathe_dtype_name(in->dtype));
	return o.mode == NEAREST ? lower_resize_nearest(c, &o, &p) : lower_resize_interp(c, &o, &p);
}

/* ---- GridSample ------------------------------------------------------------------------------ */

lathe_err infer_grid_sample(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "X"));
	LATHE_TRY(mv_need(c, 1, "grid"));
	const lathe_type *x = c->in[0], *g = c->in[1];
	int dtype = mv_dtype(c, 0);
	int rank = mv_has_rank(x) ? x->rank : mv_has_rank(g) ? g->rank : -1;
	if (rank < 0) {
		c->out[0] = lathe_type_tensor(c->arena, dtype, -1, NULL);
		return NULL;
	}
	if (rank < 3)
		return lathe_error(LATHE_EINVAL, "X must have rank 3 or more (N, C, spatial...)");
	if (mv_has_rank(x) && mv_has_rank(g)) {
		if (g->rank != x->rank)
			return lathe_error(LATHE_EINVAL, "grid has rank %d, X %d", g->rank, x->rank);
		lathe_dim k = g->dims[g->rank - 1];
		if (mv_dim_known(k) && k.size != x->rank - 2)
			return lathe_error(LATHE_EINVAL, "grid's last dim is %lld, expected %d",
					   (long long)k.size, x->rank - 2);
	}
	lathe_type out = lathe_type_tensor(c->arena, dtype, rank, NULL);
	if (mv_has_rank(x)) {
		out.dims[0] = x->dims[0];
		out.dims[1] = x->dims[1];
	}
	if (mv_has_rank(g))
		for (int k = 2; k < rank; k++)
			out.dims[k] = g->dims[k - 1];
	c->out[0] = out;
	return NULL;
}

/* v reflected into [lo, hi] by folding at the borders, as PyTorch does. */
static lathe_tir_expr *reflect(lathe_tir_func *f, lathe_tir_expr *v, double lo, double hi)
{
	double span = hi - lo;
	if (span <= 0)
		return fc(f, lo);
	lathe_tir_expr *below = e_sub(f, fc(f, lo), v), *above = e_sub(f, v, fc(f, hi));
	lathe_tir_expr *res[2];
	lathe_tir_expr *dist[2] = {below, above};
	for (int k = 0; k < 2; k++) {
		lathe_tir_expr *nf = lathe_tir_unary(f, LATHE_TIR_TRUNC, e_div(f, dist[k], fc(f, span)));
		lathe_tir_expr *r = e_sub(f, dist[k], e_mul(f, nf, fc(f, span)));
		lathe_tir_expr *even = lathe_tir_binary(f, LATHE_TIR_EQ,
							lathe_tir_binary(f, LATHE_TIR_FMOD, nf, fc(f, 2)),
							fc(f, 0));
		/* From below: an even number of folds lands r above lo. */
		lathe_tir_expr *near = k == 0 ? e_add(f, fc(f, lo), r) : e_sub(f, fc(f, hi), r);
		lathe_tir_expr *far = k == 0 ? e_sub(f, fc(f, hi), r) : e_add(f, fc(f, lo), r);
		res[k] = lathe_tir_select(f, even, near, far);
	}
	return lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_LT, v, fc(f, lo)), res[0],
				lathe_tir_select(f, lathe_tir_binary(f, LATHE_TIR_GT, v, fc(f, hi)),
						 res[1], v));
}

enum { PAD_ZEROS, PAD_BORDER, PAD_REFLECTION };

lathe_err lower_grid_sample(lathe_lower_ctx *c)
{
	LATHE_TRY(mv_need_buf(c, 0));
	LATHE_TRY(mv_need_buf(c, 1));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *grid = c->in_buf[1], *out = c->out_buf[0];
	int rank = x->rank, k = rank - 2;
	if (rank < 3 || grid->rank != rank || grid->shape[rank - 1] != k)
		return lathe_error(LATHE_EINVAL, "grid must have shape [N, out spatial..., %d]", k);
	if (grid->shape[0] != x->shape[0])
		return lathe_error(LATHE_EINVAL, "grid has batch %lld, X %lld",
				   (long long)grid->shape[0], (long long)x->shape[0]);
	/* Opset 16 spelled the modes bilinear and bicubic; both forms mean the same. */
	const char *ms = lathe_node_attr_str(c->node, "mode", "linear");
	int mode;
	if (!strcmp(ms, "nearest"))
		mode = NEAREST;
	else if (!strcmp(ms, "linear") || !strcmp(ms, "bilinear"))
		mode = LINEAR;
	else if (!strcmp(ms, "cubic") || !strcmp(ms, "bicubic"))
		mode = CUBIC;
	else
		return lathe_error(LATHE_EINVAL, "unknown mode '%s' (nearest, linear, cubic)", ms);
	const char *ps = lathe_node_attr_str(c->node, "padding_mode", "zeros");
	int pad = !strcmp(ps, "zeros") ? PAD_ZEROS : !strcmp(ps, "border") ? PAD_BORDER
		  : !strcmp(ps, "reflection") ? PAD_REFLECTION : -1;
	if (pad < 0)
		return lathe_error(LATHE_EINVAL, "unknown padding_mode '%s' (zeros, border, reflection)",
				   ps);
	bool align = lathe_node_attr_int(c->node, "align_corners", 0) != 0;
	if (mode != NEAREST && !lathe_dtype_is_float(x->dtype))
		return lathe_error(LATHE_EUNSUPPORTED, "interpolation of %s", lathe_dtype_name(x->dtype));
	for (int d = 0; d < k; d++)
		if (x->shape[2 + d] == 0 && lathe_type_numel(&c->out[0]) > 0)
			return lathe_error(LATHE_EINVAL, "cannot sample an empty spatial dim");
	if (lathe_type_numel(&c->out[0]) == 0)
		return NULL;

	int ntap = mode == NEAREST ? 1 : mode == LINEAR ? 2 : 4;
	lathe_te_axes ax = mv_out_axes(c, 0);
	lets l = lets_new(f, k * (4 + 3 * ntap) + 1);
	/* w[d][j], at[d][j], ok[d][j]: weight, clamped index and validity of
	 * tap j along spatial dim d. */
	lathe_tir_expr *w[3][4], *at[3][4], *ok[3][4];
	if (k > 3)
		return lathe_error(LATHE_EUNSUPPORTED, "GridSample with %d spatial dims", k);
	lathe_tir_expr **gidx = mv_idx(f, rank);
	gidx[0] = ax.idx[0];
	for (int d = 0; d < k; d++)
		gidx[1 + d] = ax.idx[2 + d];
	for (int d = 0; d < k; d++) {
		int64_t len = x->shape[2 + d];
		double lo = align ? 0 : -0.5, hi = align ? (double)len - 1 : (double)len - 0.5;
		/* The grid's last dim lists coordinates innermost dim first. */
		gidx[rank - 1] = mv_i64(f, k - 1 - d);
		lathe_tir_expr *g = lathe_tir_cast(f, LATHE_DT_F32, lathe_tir_load(f, grid, gidx));
		lathe_tir_expr *one = lathe_tir_float(f, LATHE_DT_F32, 1);
		lathe_tir_expr *two = lathe_tir_float(f, LATHE_DT_F32, 2);
		lathe_tir_expr *lenf = lathe_tir_float(f, LATHE_DT_F32, (double)len);
		lathe_tir_expr *pos;
		/* Unnormalized in f32, the precision the reference works in. */
		if (align)
			pos = e_mul(f, e_div(f, e_add(f, g, one), two),
				   lathe_tir_float(f, LATHE_DT_F32, (double)(len - 1)));
		else
			pos = e_div(f, e_sub(f, e_mul(f, e_add(f, g, one), lenf), one), two);
		pos = f64_of(f, pos);
		if (mode == NEAREST)
			pos = lathe_tir_unary(f, LATHE_TIR_ROUND, pos);
		/* Coordinates inside [lo, hi] stay put; the padding mode only
		 * moves the ones outside (taps past the edge are handled below). */
		pos = bind(f, &l, "u", pos);
		lathe_tir_expr *outside = lathe_tir_binary(
			f, LATHE_TIR_OR, lathe_tir_binary(f, LATHE_TIR_LT, pos, fc(f, lo)),
			lathe_tir_binary(f, LATHE_TIR_GT, pos, fc(f, hi)));
		if (pad == PAD_BORDER)
			pos = lathe_tir_select(
				f, outside,
				lathe_tir_binary(f, LATHE_TIR_MIN,
						 lathe_tir_binary(f, LATHE_TIR_MAX, pos, fc(f, 0)),
						 fc(f, (double)(len - 1))),
				pos);
		else if (pad == PAD_REFLECTION)
			pos = reflect(f, pos, lo, hi);
		pos = bind(f, &l, "x", pos);
		lathe_tir_expr *base, *r = NULL;
		if (mode == NEAREST) {
			base = lathe_tir_cast(f, LATHE_DT_I64, lathe_tir_unary(f, LATHE_TIR_TRUNC, pos));
		} else {
			lathe_tir_expr *fl = lathe_tir_unary(f, LATHE_TIR_FLOOR, pos);
			r = bind(f, &l, "r", e_sub(f, pos, fl));
			base = lathe_tir_cast(f, LATHE_DT_I64, fl);
			if (mode == CUBIC)
				base = mv_addc(f, base, -1);
		}
		base = bind(f, &l, "b", base);
		for (int j = 0; j < ntap; j++) {
			lathe_tir_expr *tap = mv_addc(f, base, j);
			if (mode == NEAREST)
				w[d][j] = NULL;
			else if (mode == LINEAR)
				w[d][j] = bind(f, &l, "w", j == 0 ? e_sub(f, fc(f, 1), r) : r);
			else /* distances r+1, r, 1-r, 2-r */
				w[d][j] = bind(f, &l, "w",
					       cubic_kernel(f, lathe_tir_unary(f, LATHE_TIR_ABS,
									       e_sub(f, r, fc(f, j - 1))),
							    -0.75));
			ok[d][j] = NULL;
			if (pad == PAD_ZEROS) {
				ok[d][j] = bind(f, &l, "ok", mv_in_range(f, tap, 0, len));
			} else if (pad == PAD_REFLECTION) {
				tap = lathe_tir_cast(f, LATHE_DT_I64,
						     lathe_tir_unary(f, LATHE_TIR_TRUNC,
								     reflect(f, f64_of(f, tap), lo, hi)));
			}
			at[d][j] = bind(f, &l, "at", mv_clamp(f, tap, 0, len - 1));
		}
	}
	/* Sum over the tap grid, odometer style. */
	int combos = 1;
	for (int d = 0; d < k; d++)
		combos *= ntap;
	lathe_tir_expr *sum = NULL;
	lathe_tir_expr **xidx = mv_idx(f, rank);
	xidx[0] = ax.idx[0];
	xidx[1] = ax.idx[1];
	for (int cb = 0; cb < combos; cb++) {
		int rem = cb;
		lathe_tir_expr *wp = NULL, *valid = NULL;
		for (int d = k - 1; d >= 0; d--) {
			int j = rem % ntap;
			rem /= ntap;
			xidx[2 + d] = at[d][j];
			if (w[d][j])
				wp = wp ? e_mul(f, wp, w[d][j]) : w[d][j];
			if (ok[d][j])
				valid = valid ? lathe_tir_binary(f, LATHE_TIR_AND, valid, ok[d][j]) : ok[d][j];
		}
		lathe_tir_expr *v = lathe_tir_load(f, x, xidx);
		if (mode != NEAREST)
			v = f64_of(f, v);
		if (valid)
			v = lathe_tir_select(f, valid, v, lathe_tir_float(f, v->dtype, 0));
		if (wp)
			v = e_mul(f, wp, v);
		sum = sum ? e_add(f, sum, v) : v;
	}
	if (sum->dtype != out->dtype)
		sum = lathe_tir_cast(f, out->dtype, sum);
	mv_append_nest(f, ax, wrap_lets(f, &l, lathe_tir_store(f, out, ax.idx, sum)));
	return NULL;
}

/* ---- AffineGrid ----------------------------------------------------------------------------- */

lathe_err infer_affine_grid(lathe_infer_ctx *c)
{
	LATHE_TRY(mv_need(c, 0, "theta"));
	LATHE_TRY(mv_need(c, 1, "size"));
	int dtype = mv_dtype(c, 0);
	const lathe_tensor *sv = mv_val(c, 1);
	if (!sv) {
		const lathe_type *st = c->in[1];
		int n = mv_has_rank(st) && st->rank == 1 && mv_dim_known(st->dims[0])
				? (int)st->dims[0].size : -1;
		c->out[0] = lathe_type_tensor(c->arena, dtype, n > 0 ? n : -1, NULL);
		return NULL;
	}
	int64_t *s, n;
	LATHE_TRY(lathe_tensor_ints(c->arena, sv, &s, &n));
	if (n != 4 && n != 5)
		return lathe_error(LATHE_EINVAL, "size must be [N, C, H, W] or [N, C, D, H, W]");
	for (int i = 0; i < n; i++)
		if (s[i] < 0)
			return lathe_error(LATHE_EINVAL, "size entry %d is %lld", i, (long long)s[i]);
	int64_t shape[5];
	shape[0] = s[0];
	for (int i = 2; i < n; i++)
		shape[i - 1] = s[i];
	shape[n - 1] = n - 2;
	const lathe_type *th = c->in[0];
	if (mv_has_rank(th) && (th->rank != 3 || (mv_dim_known(th->dims[1]) && th->dims[1].size != n - 2)))
		return lathe_error(LATHE_EINVAL, "theta must have shape [N, %d, %d]", (int)n - 2,
				   (int)n - 1);
	c->out[0] = lathe_type_tensor(c->arena, dtype, (int)n, shape);
	return NULL;
}

lathe_err lower_affine_grid(lathe_lower_ctx *c)
{
	LATHE_TRY(mv_need_buf(c, 0));
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *theta = c->in_buf[0], *out = c->out_buf[0];
	int k = out->rank - 2; /* spatial dims */
	if (theta->rank != 3 || theta->shape[1] != k || theta->shape[2] != k + 1)
		return lathe_error(LATHE_EINVAL, "theta must have shape [N, %d, %d]", k, k + 1);
	bool align = lathe_node_attr_int(c->node, "align_corners", 0) != 0;
	lathe_te_axes ax = mv_out_axes(c, 0);
	/* h[j]: homogeneous coordinate j, innermost spatial dim first. */
	lathe_tir_expr *h[4];
	for (int d = 0; d < k; d++) {
		int64_t len = out->shape[1 + d];
		double step = align ? (len > 1 ? 2.0 / (double)(len - 1) : 0) : 2.0 / (double)len;
		double start = align ? -1 : -1 + step / 2;
		/* Evenly spaced like NumPy's arange: start + i * (second - first). */
		double delta = (start + step) - start;
		h[k - 1 - d] = e_add(f, fc(f, start), e_mul(f, f64_of(f, ax.idx[1 + d]), fc(f, delta)));
	}
	h[k] = fc(f, 1);
	lathe_tir_expr *ti[3] = {ax.idx[0], ax.idx[out->rank - 1], NULL}, *sum = NULL;
	for (int j = 0; j <= k; j++) {
		ti[2] = mv_i64(f, j);
		lathe_tir_expr *t = e_mul(f, f64_of(f, lathe_tir_load(f, theta, ti)), h[j]);
		sum = sum ? e_add(f, sum, t) : t;
	}
	lathe_te_compute(f, out, ax, sum->dtype == out->dtype ? sum : lathe_tir_cast(f, out->dtype, sum));
	return NULL;
}
