/* random.c: RandomUniform, RandomNormal, their *Like forms, Bernoulli and
 * Multinomial.
 *
 * Random streams are sequential state, so these are extern kernels
 * (lathe_rt_k_random in runtime/src/k_misc.c).  With a `seed` attribute a
 * node gives the same values on every run; without one each run draws a
 * fresh stream.  The generator is lathe's own (xoshiro256**), so values
 * never equal another framework's for the same seed: tests that compare
 * random outputs value by value (the ONNX Bernoulli cases) cannot pass, and
 * only shapes and types are portable.
 */
#include "lathe_rt_k_misc.h"
#include "ops/op.h"

static bool like_op(int op)
{
	return op == LATHE_OP_RandomUniformLike || op == LATHE_OP_RandomNormalLike ||
	       op == LATHE_OP_Bernoulli;
}

static bool float_or_int(int dt)
{
	return lathe_dtype_is_float(dt) || lathe_dtype_is_int(dt) || dt == LATHE_DT_BOOL;
}

lathe_err infer_random(lathe_infer_ctx *c)
{
	int op = c->node->op;
	int64_t dt = lathe_node_attr_int(c->node, "dtype", 0);
	if (op == LATHE_OP_Multinomial) {
		const lathe_type *x = c->nin > 0 ? c->in[0] : NULL;
		if (!x)
			return lathe_error(LATHE_EINVAL, "Multinomial needs its input");
		if (x->rank >= 0 && x->rank != 2)
			return lathe_error(LATHE_EINVAL, "Multinomial input must be [batch, classes]");
		dt = dt ? dt : LATHE_DT_I32;
		if (dt != LATHE_DT_I32 && dt != LATHE_DT_I64)
			return lathe_error(LATHE_EINVAL, "Multinomial dtype must be int32 or int64");
		lathe_dim *d = lathe_arena_new(c->arena, lathe_dim, 2);
		d[0] = x->rank == 2 ? x->dims[0] : (lathe_dim){-1, -1};
		d[1] = (lathe_dim){lathe_node_attr_int(c->node, "sample_size", 1), -1};
		c->out[0] = (lathe_type){.kind = LATHE_TY_TENSOR, .dtype = (int)dt, .rank = 2, .dims = d};
		return NULL;
	}
	if (like_op(op)) {
		const lathe_type *x = c->nin > 0 ? c->in[0] : NULL;
		if (!x)
			return lathe_error(LATHE_EINVAL, "%s needs its input", lathe_op_name(op));
		dt = dt ? dt : x->dtype;
		if (!float_or_int((int)dt))
			return lathe_error(LATHE_EUNSUPPORTED, "random %s values", lathe_dtype_name((int)dt));
		c->out[0] = lathe_type_with_dtype(c->arena, x, (int)dt);
		return NULL;
	}
	int64_t n = 0;
	const int64_t *shape = lathe_node_attr_ints(c->node, "shape", &n);
	if (!shape)
		return lathe_error(LATHE_EINVAL, "attribute 'shape' is required");
	if (n > 64)
		return lathe_error(LATHE_EUNSUPPORTED, "rank %lld too large", (long long)n);
	for (int64_t i = 0; i < n; i++)
		if (shape[i] < 0)
			return lathe_error(LATHE_EINVAL, "shape[%lld] = %lld is negative", (long long)i,
					   (long long)shape[i]);
	dt = dt ? dt : LATHE_DT_F32;
	if (!lathe_dtype_is_float((int)dt))
		return lathe_error(LATHE_EUNSUPPORTED, "random %s values", lathe_dtype_name((int)dt));
	c->out[0] = lathe_type_tensor(c->arena, (int)dt, (int)n, shape);
	return NULL;
}

lathe_err kernel_random(lathe_kernel_ctx *c)
{
	int op = c->node->op;
	int kind = 0;
	double a = 0, b = 1;
	switch (op) {
	case LATHE_OP_RandomUniform:
	case LATHE_OP_RandomUniformLike:
		kind = LATHE_RT_RAND_UNIFORM;
		a = lathe_node_attr_float(c->node, "low", 0);
		b = lathe_node_attr_float(c->node, "high", 1);
		break;
	case LATHE_OP_RandomNormal:
	case LATHE_OP_RandomNormalLike:
		kind = LATHE_RT_RAND_NORMAL;
		a = lathe_node_attr_float(c->node, "mean", 0);
		b = lathe_node_attr_float(c->node, "scale", 1);
		break;
	case LATHE_OP_Bernoulli:
		kind = LATHE_RT_RAND_BERNOULLI;
		break;
	default:
		kind = LATHE_RT_RAND_MULTINOMIAL;
		break;
	}
	int64_t dt = lathe_node_attr_int(c->node, "dtype", 0);
	if (!dt)
		dt = kind == LATHE_RT_RAND_MULTINOMIAL ? LATHE_DT_I32
		     : like_op(op) && c->nin > 0 && c->in[0].t ? c->in[0].t->dtype : LATHE_DT_F32;
	int64_t n = 0;
	const int64_t *shape = like_op(op) || kind == LATHE_RT_RAND_MULTINOMIAL
				       ? NULL : lathe_node_attr_ints(c->node, "shape", &n);
	if (n < 0 || n > 64)
		return lathe_error(LATHE_EINVAL, "bad 'shape' attribute");
	int64_t ip[5 + 64];
	ip[0] = kind;
	ip[1] = dt;
	ip[2] = lathe_node_attr(c->node, "seed") != NULL;
	ip[3] = lathe_node_attr_int(c->node, "sample_size", 1);
	ip[4] = n;
	for (int64_t i = 0; i < n; i++)
		ip[5 + i] = shape[i];
	double fp[3] = {lathe_node_attr_float(c->node, "seed", 0), a, b};
	return lathe_kernel_call_rt(c, lathe_rt_k_random, ip, 5 + (int)n, fp, 3, NULL, 0);
}
