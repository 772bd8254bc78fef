/* rnn.c: RNN, GRU and LSTM.
 *
 * The recurrences are sequential in time with a data-dependent length per
 * batch row (sequence_lens), so they run as one extern kernel
 * (lathe_rt_k_rnn in runtime/src/k_misc.c); this file infers the output
 * types and packs the attributes.  Activations are resolved here: the
 * activation_alpha/beta lists are consumed in activation order, one value
 * per activation that takes that parameter, and an activation without one
 * gets its ONNX default (NaN in the packed list).
 */
#include <math.h>
#include <strings.h>

#include "lathe_rt_k_misc.h"
#include "ops/op.h"

static int cell_of(int op)
{
	return op == LATHE_OP_RNN ? LATHE_RT_RNN : op == LATHE_OP_GRU ? LATHE_RT_GRU : LATHE_RT_LSTM;
}

static lathe_err direction_of(const lathe_node *n, int *dir, int *nd)
{
	const char *d = lathe_node_attr_str(n, "direction", "forward");
	if (!strcasecmp(d, "forward"))
		*dir = 0;
	else if (!strcasecmp(d, "reverse"))
		*dir = 1;
	else if (!strcasecmp(d, "bidirectional"))
		*dir = 2;
	else
		return lathe_error(LATHE_EINVAL, "direction '%s' is not forward, reverse or "
				   "bidirectional", d);
	*nd = *dir == 2 ? 2 : 1;
	return NULL;
}

lathe_err infer_rnn(lathe_infer_ctx *c)
{
	if (c->nin < 3 || !c->in[0] || !c->in[1] || !c->in[2])
		return lathe_error(LATHE_EINVAL, "X, W and R are required");
	const lathe_type *x = c->in[0];
	if (!lathe_dtype_is_float(x->dtype))
		return lathe_error(LATHE_EUNSUPPORTED, "%s on %s", lathe_op_name(c->node->op),
				   lathe_dtype_name(x->dtype));
	if (x->rank >= 0 && x->rank != 3)
		return lathe_error(LATHE_EINVAL, "X must have rank 3, not %d", (int)x->rank);
	int dir = 0, nd = 1;
	LATHE_TRY(direction_of(c->node, &dir, &nd));
	int layout = (int)lathe_node_attr_int(c->node, "layout", 0);
	lathe_dim H = {lathe_node_attr_int(c->node, "hidden_size", -1), -1};
	if (H.size < 0 && c->in[2]->rank == 3)
		H = c->in[2]->dims[2];
	lathe_dim S = {-1, -1}, B = {-1, -1}, D = {nd, -1};
	if (x->rank == 3) {
		S = x->dims[layout ? 1 : 0];
		B = x->dims[layout ? 0 : 1];
	}
	lathe_dim *y = lathe_arena_new(c->arena, lathe_dim, 4);
	if (layout) {
		y[0] = B, y[1] = S, y[2] = D, y[3] = H;
	} else {
		y[0] = S, y[1] = D, y[2] = B, y[3] = H;
	}
	lathe_type ty = {.kind = LATHE_TY_TENSOR, .dtype = x->dtype, .rank = 4, .dims = y};
	for (int i = 0; i < c->nout; i++) {
		if (i == 0) {
			c->out[0] = ty;
			continue;
		}
		lathe_dim *h = lathe_arena_new(c->arena, lathe_dim, 3);
		h[0] = layout ? B : D;
		h[1] = layout ? D : B;
		h[2] = H;
		c->out[i] = (lathe_type){.kind = LATHE_TY_TENSOR, .dtype = x->dtype, .rank = 3, .dims = h};
	}
	return NULL;
}

static bool takes_alpha(const char *a)
{
	static const char *const names[] = {"Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
					    "HardSigmoid", "Elu"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcasecmp(a, names[i]))
			return true;
	return false;
}

static bool takes_beta(const char *a)
{
	return !strcasecmp(a, "Affine") || !strcasecmp(a, "ScaledTanh") ||
	       !strcasecmp(a, "HardSigmoid");
}

lathe_err kernel_rnn(lathe_kernel_ctx *c)
{
	int dir = 0, nd = 1;
	LATHE_TRY(direction_of(c->node, &dir, &nd));
	int64_t H = lathe_node_attr_int(c->node, "hidden_size", -1);
	if (H < 0 && c->nin > 2 && c->in[2].t && c->in[2].t->rank == 3)
		H = c->in[2].t->shape[2];
	const lathe_attr *acts = lathe_node_attr(c->node, "activations");
	int nact = acts && acts->kind == LATHE_ATTR_STRINGS ? (int)acts->n : 0;
	if (nact > 6)
		return lathe_error(LATHE_EINVAL, "%d activations given; at most 6", nact);
	int64_t ip[7] = {cell_of(c->node->op), H, dir, lathe_node_attr_int(c->node, "layout", 0),
			 lathe_node_attr_int(c->node, "linear_before_reset", 0),
			 lathe_node_attr_int(c->node, "input_forget", 0), nact};
	double fp[13];
	const char *sp[6];
	fp[0] = lathe_node_attr_float(c->node, "clip", 0);
	int64_t na = 0, nb = 0;
	const double *al = lathe_node_attr_floats(c->node, "activation_alpha", &na);
	const double *be = lathe_node_attr_floats(c->node, "activation_beta", &nb);
	int64_t ia = 0, ib = 0;
	for (int k = 0; k < nact; k++) {
		sp[k] = acts->u.strs[k];
		fp[1 + k] = NAN;
		fp[1 + nact + k] = NAN;
		if (al && takes_alpha(sp[k]) && ia < na)
			fp[1 + k] = al[ia++];
		if (be && takes_beta(sp[k]) && ib < nb)
			fp[1 + nact + k] = be[ib++];
	}
	return lathe_kernel_call_rt(c, lathe_rt_k_rnn, ip, 7, fp, 1 + 2 * nact, sp, nact);
}
