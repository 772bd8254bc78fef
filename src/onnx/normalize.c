/* normalize.c: older opsets' forms of ops rewritten to the newest form.
 *
 * Where it sits: import.c calls lathe_onnx_normalize on every node after its
 * inputs are resolved and attributes decoded, before the node is added.  The
 * graph IR documents one form per op (the newest opset's); this file is the
 * only place that knows the older ones, so op definitions never look at
 * graph->opset.
 *
 * Invariants: a rewrite preserves the meaning of the node exactly; where it
 * cannot (the needed information is not known at import), the node is
 * refused with an error saying so, never imported with a changed meaning.
 * Constants made here are fresh graph constants; helper nodes are added
 * before the node they feed.
 *
 * The rewrites (opset = the node's domain's imported version):
 *
 *   op                          opsets  rewrite
 *   --------------------------  ------  ------------------------------------
 *   any                         all     drop `consumed_inputs` (opset < 6
 *                                       buffer-reuse hint, no meaning)
 *   ReduceSum                   < 13    attr axes -> input 1 (i64 [n])
 *   Reduce{Mean,Max,Min,Prod,   < 18    attr axes -> input 1 (i64 [n])
 *     L1,L2,LogSum,LogSumExp,
 *     SumSquare}
 *   Squeeze, Unsqueeze          < 13    attr axes -> input 1
 *   Split                       < 13    attr split -> input 1
 *   Split                       < 18    neither split input nor num_outputs:
 *                                       num_outputs = number of outputs
 *   Slice                       < 10    attrs starts, ends, axes -> inputs
 *                                       1, 2, 3 (i64)
 *   Pad                         < 11    attr pads (`paddings` at opset 1) ->
 *                                       input 1; attr value -> input 2 in
 *                                       the data's type (CastLike when that
 *                                       type is not known at import)
 *   Clip                        < 11    attrs min, max -> inputs 1, 2 (same
 *                                       typing as Pad's value)
 *   TopK                        < 10    attr k -> input 1 (i64 [1])
 *   Dropout                     < 12    attr ratio -> input 1 (f32 scalar);
 *                                       drop is_test
 *   Upsample                    < 9     attr scales -> input 1 (f32);
 *                               < 7     height_scale, width_scale -> scales
 *                                       [1, 1, h, w]; mode bilinear -> linear
 *   Resize                      < 11    input 1 (scales) -> input 2, roi
 *                                       missing; coordinate_transformation_
 *                                       mode = asymmetric, nearest_mode =
 *                                       floor (opset 10's arithmetic)
 *   Softmax, LogSoftmax,        < 13    int attr _coerce2d = 1 (the op does
 *     Hardmax                           the old flatten-to-2-D semantics);
 *                                       axis = 1 when absent (old default)
 *   BatchNormalization          < 9     drop spatial (spatial = 0 refused),
 *                                       is_test
 *   Add Sub Mul Div Pow And Or  < 7     drop broadcast; with `axis`, B is
 *     Xor Equal Greater Less            unsqueezed so that numpy rules align
 *                                       it at axis (needs both ranks known)
 *   Gemm                        < 7     drop broadcast
 *   Concat                      < 4     axis = 1 when absent (old default)
 *   Cast                        < 6     attr to as a string ("FLOAT") -> int
 *   Reshape                     < 5     attr shape -> input 1
 *   LpPool, GlobalLpPool        < 2     float p -> int p
 *   DFT                         < 20    attr axis (default 1) -> input 2
 *   GroupNormalization          < 21    per-group scale and bias repeated to
 *                                       per-channel (Shape, Div, Concat,
 *                                       Reshape, Expand, Reshape)
 *   RNN, GRU, LSTM              < 7     drop output_sequence
 *   Scan                        < 9     kept: control.c runs the batched form
 *   Tile                        < 6     refused (tiles/axis input form)
 */
#include <string.h>
#include <strings.h>

#include "onnx/internal.h"

/* ---- helpers ---------------------------------------------------------------- */

static lathe_attr *find(onnx_nb *nb, const char *name)
{
	for (int i = 0; i < nb->nattr; i++)
		if (!strcmp(nb->attrs[i].name, name))
			return &nb->attrs[i];
	return NULL;
}

/* Removes attribute `name`; if present and `out`, copies it there first. */
static bool take(onnx_nb *nb, const char *name, lathe_attr *out)
{
	for (int i = 0; i < nb->nattr; i++) {
		if (strcmp(nb->attrs[i].name, name))
			continue;
		if (out)
			*out = nb->attrs[i];
		memmove(&nb->attrs[i], &nb->attrs[i + 1],
			sizeof(lathe_attr) * (size_t)(nb->nattr - i - 1));
		nb->nattr--;
		return true;
	}
	return false;
}

static void put(onnx_ctx *c, onnx_nb *nb, lathe_attr a)
{
	lathe_attr *old = find(nb, a.name);
	if (old) {
		*old = a;
		return;
	}
	if (nb->nattr == nb->cap_attr) {
		lathe_attr *na = lathe_arena_new(c->arena, lathe_attr, nb->cap_attr * 2 + 4);
		memcpy(na, nb->attrs, sizeof(lathe_attr) * (size_t)nb->nattr);
		nb->attrs = na;
		nb->cap_attr = nb->cap_attr * 2 + 4;
	}
	nb->attrs[nb->nattr++] = a;
}

static lathe_attr int_attr(const char *name, int64_t v)
{
	lathe_attr a = {0};
	a.name = name;
	a.kind = LATHE_ATTR_INT;
	a.u.i = v;
	return a;
}

static lathe_attr str_attr(const char *name, const char *s)
{
	lathe_attr a = {0};
	a.name = name;
	a.kind = LATHE_ATTR_STRING;
	a.u.s = s;
	a.slen = (int64_t)strlen(s);
	return a;
}

/* Sets input i, extending with missing inputs. */
static void set_input(onnx_ctx *c, onnx_nb *nb, int i, lathe_vid v)
{
	if (i >= nb->cap_in) {
		lathe_vid *ni = lathe_arena_new(c->arena, lathe_vid, i + 8);
		memcpy(ni, nb->in, sizeof(lathe_vid) * (size_t)nb->nin);
		nb->in = ni;
		nb->cap_in = i + 8;
	}
	while (nb->nin <= i)
		nb->in[nb->nin++] = LATHE_NOVAL;
	nb->in[i] = v;
}

static bool has_input(const onnx_nb *nb, int i)
{
	return i < nb->nin && nb->in[i] != LATHE_NOVAL;
}

static lathe_err add_const(lathe_graph *g, lathe_tensor *t, lathe_vid *out)
{
	return lathe_graph_add_const(g, lathe_graph_fresh_name(g, "_onnx_c"), t, out);
}

/* An i64 constant: a vector of n values, or a scalar when rank == 0. */
static lathe_err i64_const(onnx_ctx *c, lathe_graph *g, const int64_t *v, int64_t n, int rank,
			   lathe_vid *out)
{
	lathe_tensor *t = lathe_tensor_header(c->arena, LATHE_DT_I64, rank, &n);
	t->data = lathe_arena_memdup(c->arena, v, sizeof(int64_t) * (size_t)(n ? n : 1));
	return add_const(g, t, out);
}

static lathe_err f32_const(onnx_ctx *c, lathe_graph *g, const double *v, int64_t n, int rank,
			   lathe_vid *out)
{
	lathe_tensor *t = lathe_tensor_header(c->arena, LATHE_DT_F32, rank, &n);
	float *d = lathe_arena_new(c->arena, float, n ? n : 1);
	for (int64_t i = 0; i < n; i++)
		d[i] = (float)v[i];
	t->data = d;
	return add_const(g, t, out);
}

static int known_dtype(lathe_graph *g, lathe_vid v)
{
	if (v == LATHE_NOVAL)
		return 0;
	const lathe_type *t = &g->values.data[v].type;
	return t->kind == LATHE_TY_TENSOR ? t->dtype : 0;
}

static int known_rank(lathe_graph *g, lathe_vid v)
{
	if (v == LATHE_NOVAL)
		return -1;
	const lathe_value *val = &g->values.data[v];
	if (val->konst)
		return val->konst->rank;
	return val->type.kind == LATHE_TY_TENSOR ? val->type.rank : -1;
}

/* A scalar of the same element type as `like` (Pad's value, Clip's bounds):
 * made directly when that type is known to be one a double converts to
 * exactly enough, else an f32 constant followed by CastLike. */
static lathe_err scalar_like(onnx_ctx *c, lathe_graph *g, double v, lathe_vid like,
			     lathe_vid *out)
{
	int dt = known_dtype(g, like);
	int64_t one = 1;
	lathe_tensor *t;
	switch (dt) {
	case LATHE_DT_F32:
		return f32_const(c, g, &v, 1, 0, out);
	case LATHE_DT_F64:
		t = lathe_tensor_header(c->arena, dt, 0, &one);
		t->data = lathe_arena_memdup(c->arena, &v, sizeof v);
		return add_const(g, t, out);
	case LATHE_DT_I64:
	case LATHE_DT_I32:
	case LATHE_DT_I16:
	case LATHE_DT_I8:
	case LATHE_DT_U8:
	case LATHE_DT_U16:
	case LATHE_DT_U32:
	case LATHE_DT_U64: {
		/* Old Clip/Pad were float-only; an integer tensor gets the bound
		 * clamped into its range so the cast is defined. */
		size_t es = lathe_dtype_size(dt);
		bool sign = dt == LATHE_DT_I64 || dt == LATHE_DT_I32 || dt == LATHE_DT_I16 ||
			    dt == LATHE_DT_I8;
		double lo = sign ? -(double)((uint64_t)1 << (8 * es - 1)) : 0;
		double hi = es == 8 ? (sign ? 9.2233720368547748e18 : 1.8446744073709552e19)
				    : (double)((uint64_t)1 << (8 * es - (sign ? 1 : 0))) - 1;
		double x = v < lo ? lo : v > hi ? hi : v;
		t = lathe_tensor_header(c->arena, dt, 0, &one);
		uint8_t *d = lathe_arena_alloc(c->arena, 8);
		if (es == 8 && sign) {
			int64_t w = x >= 9.2233720368547748e18 ? INT64_MAX : (int64_t)x;
			memcpy(d, &w, 8);
		} else if (es == 8) {
			uint64_t w = x >= 1.8446744073709552e19 ? UINT64_MAX : (uint64_t)x;
			memcpy(d, &w, 8);
		} else {
			int64_t w = (int64_t)x;
			switch (dt) {
			case LATHE_DT_I32: *(int32_t *)d = (int32_t)w; break;
			case LATHE_DT_U32: *(uint32_t *)d = (uint32_t)w; break;
			case LATHE_DT_I16: *(int16_t *)d = (int16_t)w; break;
			case LATHE_DT_U16: *(uint16_t *)d = (uint16_t)w; break;
			case LATHE_DT_I8: *(int8_t *)d = (int8_t)w; break;
			default: *d = (uint8_t)w; break;
			}
		}
		t->data = d;
		return add_const(g, t, out);
	}
	default: {
		lathe_vid f;
		LATHE_TRY(f32_const(c, g, &v, 1, 0, &f));
		int op = lathe_op_lookup("", "CastLike");
		LATHE_ASSERT(op >= 0);
		lathe_vid in[2] = {f, like};
		return lathe_onnx_add_aux_node(c, g, op, 2, in, 0, NULL, out);
	}
	}
}

/* Moves an ints attribute to input i (if the attribute is present). */
static lathe_err ints_to_input(onnx_ctx *c, lathe_graph *g, onnx_nb *nb, const char *name,
			       int i, int rank)
{
	lathe_attr a;
	if (!take(nb, name, &a))
		return NULL;
	if (a.kind != LATHE_ATTR_INTS && a.kind != LATHE_ATTR_INT)
		return lathe_error(LATHE_EINVAL, "attribute '%s' must be a list of ints", name);
	lathe_vid v;
	if (a.kind == LATHE_ATTR_INT)
		LATHE_TRY(i64_const(c, g, &a.u.i, 1, rank, &v));
	else
		LATHE_TRY(i64_const(c, g, a.u.ints, a.n, 1, &v));
	set_input(c, nb, i, v);
	return NULL;
}

static bool is_op(const onnx_nb *nb, const char *name)
{
	return !strcmp(lathe_op_name(nb->op), name) && !*lathe_op_domain(nb->op);
}

static bool op_in(const onnx_nb *nb, const char *const *names)
{
	for (; *names; names++)
		if (is_op(nb, *names))
			return true;
	return false;
}

static int dtype_from_name(const char *s)
{
	static const char *const names[] = {
		"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
		"STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64",
		"COMPLEX128", "BFLOAT16",
	};
	for (int i = 1; i < (int)(sizeof names / sizeof names[0]); i++)
		if (!strcasecmp(s, names[i]))
			return i;
	return -1;
}

/* ---- family rewrites --------------------------------------------------------- */

static lathe_err legacy_broadcast(onnx_ctx *c, lathe_graph *g, onnx_nb *nb)
{
	take(nb, "broadcast", NULL);
	lathe_attr ax;
	if (!take(nb, "axis", &ax) || nb->nin < 2)
		return NULL;
	if (ax.kind != LATHE_ATTR_INT)
		return lathe_error(LATHE_EINVAL, "attribute 'axis' must be an int");
	int ra = known_rank(g, nb->in[0]), rb = known_rank(g, nb->in[1]);
	if (ra < 0 || rb < 0)
		return lathe_error(LATHE_EUNSUPPORTED,
				   "legacy broadcast with axis=%lld needs the ranks of both inputs "
				   "at import, and they are not declared; convert the model to "
				   "opset 7 or newer", (long long)ax.u.i);
	int64_t axis = ax.u.i < 0 ? ax.u.i + ra : ax.u.i;
	int64_t trailing = ra - axis - rb;
	if (axis < 0 || trailing < 0)
		return lathe_error(LATHE_EINVAL, "broadcast axis %lld does not fit ranks %d and %d",
				   (long long)ax.u.i, ra, rb);
	if (trailing == 0)
		return NULL;
	int64_t *axes = lathe_arena_new(c->arena, int64_t, trailing);
	for (int64_t i = 0; i < trailing; i++)
		axes[i] = rb + i;
	lathe_vid av, out;
	LATHE_TRY(i64_const(c, g, axes, trailing, 1, &av));
	lathe_vid in[2] = {nb->in[1], av};
	LATHE_TRY(lathe_onnx_add_aux_node(c, g, lathe_op_lookup("", "Unsqueeze"), 2, in, 0, NULL,
					  &out));
	nb->in[1] = out;
	return NULL;
}

/* GroupNormalization-18 scales per group; 21 per channel: repeat each
 * group's value C/G times, C read from the data at run time. */
static lathe_err group_norm(onnx_ctx *c, lathe_graph *g, onnx_nb *nb)
{
	if (nb->nin < 3)
		return NULL;
	const lathe_attr *ng = find(nb, "num_groups");
	if (!ng || ng->kind != LATHE_ATTR_INT)
		return lathe_error(LATHE_EINVAL, "attribute 'num_groups' (int) is required");
	int64_t groups = ng->u.i;
	lathe_attr se[2] = {int_attr("start", 1), int_attr("end", 2)};
	lathe_vid ch, gv, per, one, eshape, r0, r1;
	LATHE_TRY(lathe_onnx_add_aux_node(c, g, lathe_op_lookup("", "Shape"), 1, &nb->in[0], 2, se,
					  &ch));
	LATHE_TRY(i64_const(c, g, &groups, 1, 1, &gv));
	lathe_vid dv[2] = {ch, gv};
	LATHE_TRY(lathe_onnx_add_aux_node(c, g, lathe_op_lookup("", "Div"), 2, dv, 0, NULL, &per));
	int64_t k1 = 1, s0[2] = {-1, 1}, s1 = -1;
	LATHE_TRY(i64_const(c, g, &k1, 1, 1, &one));
	lathe_attr axis0 = int_attr("axis", 0);
	lathe_vid cv[2] = {one, per};
	LATHE_TRY(lathe_onnx_add_aux_node(c, g, lathe_op_lookup("", "Concat"), 2, cv, 1, &axis0,
					  &eshape));
	LATHE_TRY(i64_const(c, g, s0, 2, 1, &r0));
	LATHE_TRY(i64_const(c, g, &s1, 1, 1, &r1));
	for (int i = 1; i <= 2; i++) {
		if (nb->in[i] == LATHE_NOVAL)
			continue;
		lathe_vid a[2] = {nb->in[i], r0}, b[2], d[2], x, y;
		LATHE_TRY(lathe_onnx_add_aux_node(c, g, lathe_op_lookup("", "Reshape"), 2, a, 0, NULL,
						  &x));
		b[0] = x;
		b[1] = eshape;
		LATHE_TRY(lathe_onnx_add_aux_node(c, g, lathe_op_lookup("", "Expand"), 2, b, 0, NULL,
						  &y));
		d[0] = y;
		d[1] = r1;
		LATHE_TRY(lathe_onnx_add_aux_node(c, g, lathe_op_lookup("", "Reshape"), 2, d, 0, NULL,
						  &nb->in[i]));
	}
	return NULL;
}

static lathe_err pad_or_clip(onnx_ctx *c, lathe_graph *g, onnx_nb *nb, bool pad)
{
	if (nb->nin < 1)
		return NULL;
	lathe_attr a;
	if (pad) {
		if (!take(nb, "pads", &a) && !take(nb, "paddings", &a))
			return lathe_error(LATHE_EINVAL, "attribute 'pads' is required");
		if (a.kind != LATHE_ATTR_INTS)
			return lathe_error(LATHE_EINVAL, "attribute 'pads' must be a list of ints");
		lathe_vid v;
		LATHE_TRY(i64_const(c, g, a.u.ints, a.n, 1, &v));
		set_input(c, nb, 1, v);
		if (take(nb, "value", &a)) {
			LATHE_TRY(scalar_like(c, g, a.kind == LATHE_ATTR_INT ? (double)a.u.i : a.u.f,
					      nb->in[0], &v));
			set_input(c, nb, 2, v);
		}
		return NULL;
	}
	static const char *const names[2] = {"min", "max"};
	for (int i = 0; i < 2; i++) {
		if (!take(nb, names[i], &a))
			continue;
		lathe_vid v;
		LATHE_TRY(scalar_like(c, g, a.kind == LATHE_ATTR_INT ? (double)a.u.i : a.u.f,
				      nb->in[0], &v));
		set_input(c, nb, 1 + i, v);
	}
	return NULL;
}

static lathe_err upsample(onnx_ctx *c, lathe_graph *g, onnx_nb *nb)
{
	lathe_attr a;
	lathe_vid v;
	if (nb->opset < 7) {
		double sc[4] = {1, 1, 1, 1};
		if (take(nb, "height_scale", &a))
			sc[2] = a.u.f;
		if (take(nb, "width_scale", &a))
			sc[3] = a.u.f;
		LATHE_TRY(f32_const(c, g, sc, 4, 1, &v));
		set_input(c, nb, 1, v);
		const lathe_attr *m = find(nb, "mode");
		if (m && m->kind == LATHE_ATTR_STRING && !strcmp(m->u.s, "bilinear"))
			put(c, nb, str_attr("mode", "linear"));
		return NULL;
	}
	if (!take(nb, "scales", &a))
		return NULL;
	if (a.kind != LATHE_ATTR_FLOATS)
		return lathe_error(LATHE_EINVAL, "attribute 'scales' must be a list of floats");
	LATHE_TRY(f32_const(c, g, a.u.floats, a.n, 1, &v));
	set_input(c, nb, 1, v);
	return NULL;
}

/* ---- the table ---------------------------------------------------------------- */

lathe_err lathe_onnx_normalize(onnx_ctx *c, lathe_graph *g, onnx_nb *nb)
{
	static const char *const reduce18[] = {
		"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", NULL};
	static const char *const legacy_bc[] = {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or",
						"Xor", "Equal", "Greater", "Less", NULL};
	static const char *const softmax[] = {"Softmax", "LogSoftmax", "Hardmax", NULL};
	static const char *const rnn[] = {"RNN", "GRU", "LSTM", NULL};
	int64_t v = nb->opset;
	lathe_attr a;

	take(nb, "consumed_inputs", NULL);
	if (*lathe_op_domain(nb->op))
		return NULL; /* only ai.onnx ops have older forms lathe rewrites */

	if ((is_op(nb, "ReduceSum") && v < 13) || (op_in(nb, reduce18) && v < 18))
		return ints_to_input(c, g, nb, "axes", 1, 1);
	if ((is_op(nb, "Squeeze") || is_op(nb, "Unsqueeze")) && v < 13)
		return ints_to_input(c, g, nb, "axes", 1, 1);
	if (is_op(nb, "Split")) {
		if (v < 13)
			LATHE_TRY(ints_to_input(c, g, nb, "split", 1, 1));
		if (v < 18 && !has_input(nb, 1) && !find(nb, "num_outputs"))
			put(c, nb, int_attr("num_outputs", nb->nout));
		return NULL;
	}
	if (is_op(nb, "Slice") && v < 10) {
		if (!find(nb, "starts") || !find(nb, "ends"))
			return lathe_error(LATHE_EINVAL, "attributes 'starts' and 'ends' are required");
		LATHE_TRY(ints_to_input(c, g, nb, "starts", 1, 1));
		LATHE_TRY(ints_to_input(c, g, nb, "ends", 2, 1));
		return ints_to_input(c, g, nb, "axes", 3, 1);
	}
	if (is_op(nb, "Pad") && v < 11)
		return pad_or_clip(c, g, nb, true);
	if (is_op(nb, "Clip") && v < 11)
		return pad_or_clip(c, g, nb, false);
	if (is_op(nb, "TopK") && v < 10) {
		if (!find(nb, "k"))
			return lathe_error(LATHE_EINVAL, "attribute 'k' is required");
		return ints_to_input(c, g, nb, "k", 1, 1);
	}
	if (is_op(nb, "Dropout") && v < 12) {
		take(nb, "is_test", NULL);
		if (take(nb, "ratio", &a)) {
			lathe_vid r;
			double ratio = a.kind == LATHE_ATTR_INT ? (double)a.u.i : a.u.f;
			LATHE_TRY(f32_const(c, g, &ratio, 1, 0, &r));
			set_input(c, nb, 1, r);
		}
		return NULL;
	}
	if (is_op(nb, "Upsample") && v < 9)
		return upsample(c, g, nb);
	if (is_op(nb, "Resize") && v < 11) {
		if (nb->nin >= 2) {
			lathe_vid scales = nb->in[1];
			set_input(c, nb, 2, scales);
			nb->in[1] = LATHE_NOVAL;
		}
		const lathe_attr *m = find(nb, "mode");
		bool nearest = !m || (m->kind == LATHE_ATTR_STRING && !strcmp(m->u.s, "nearest"));
		put(c, nb, str_attr("coordinate_transformation_mode", "asymmetric"));
		if (nearest)
			put(c, nb, str_attr("nearest_mode", "floor"));
		return NULL;
	}
	if (op_in(nb, softmax) && v < 13) {
		put(c, nb, int_attr("_coerce2d", 1));
		if (!find(nb, "axis"))
			put(c, nb, int_attr("axis", 1));
		return NULL;
	}
	if (is_op(nb, "BatchNormalization")) {
		take(nb, "is_test", NULL);
		if (take(nb, "spatial", &a) && v < 9 && a.kind == LATHE_ATTR_INT && a.u.i == 0)
			return lathe_error(LATHE_EUNSUPPORTED,
					   "BatchNormalization with spatial=0 (statistics per "
					   "activation) is not supported");
		return NULL;
	}
	if (op_in(nb, legacy_bc) && v < 7)
		return legacy_broadcast(c, g, nb);
	if (is_op(nb, "Gemm") && v < 7) {
		take(nb, "broadcast", NULL);
		return NULL;
	}
	if (is_op(nb, "Concat") && v < 4 && !find(nb, "axis")) {
		put(c, nb, int_attr("axis", 1));
		return NULL;
	}
	if (is_op(nb, "Cast") && v < 6) {
		lathe_attr *to = find(nb, "to");
		if (to && to->kind == LATHE_ATTR_STRING) {
			int dt = dtype_from_name(to->u.s);
			if (dt < 0)
				return lathe_error(LATHE_EINVAL, "Cast to unknown type '%s'", to->u.s);
			*to = int_attr("to", dt);
		}
		return NULL;
	}
	if (is_op(nb, "Reshape") && v < 5)
		return ints_to_input(c, g, nb, "shape", 1, 1);
	if ((is_op(nb, "LpPool") || is_op(nb, "GlobalLpPool")) && v < 2) {
		lathe_attr *p = find(nb, "p");
		if (p && p->kind == LATHE_ATTR_FLOAT)
			*p = int_attr("p", (int64_t)p->u.f);
		return NULL;
	}
	if (is_op(nb, "DFT") && v < 20) {
		int64_t axis = 1;
		if (take(nb, "axis", &a))
			axis = a.u.i;
		lathe_vid av;
		LATHE_TRY(i64_const(c, g, &axis, 1, 0, &av));
		set_input(c, nb, 2, av);
		return NULL;
	}
	if (is_op(nb, "GroupNormalization") && v < 21)
		return group_norm(c, g, nb);
	if (op_in(nb, rnn) && v < 7) {
		take(nb, "output_sequence", NULL);
		return NULL;
	}
	if (is_op(nb, "Tile") && v < 6)
		return lathe_error(LATHE_EUNSUPPORTED,
				   "Tile before opset 6 (tiles and axis inputs) is not supported; "
				   "convert the model to opset 6 or newer");
	return NULL;
}
