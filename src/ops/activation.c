/* activation.c: the activation functions among the unary elementwise ops
 * (Relu, Sigmoid, Elu, Gelu, ...), as expressions over one element.
 *
 * lower_unary (elementwise.c) builds the loop nest and calls
 * lathe_ew_activation with the element already converted to its math type
 * (f32 for narrow floats, f64 for integer inputs); attributes keep ONNX's
 * defaults.  Formulas are chosen to be stable where the naive one
 * overflows (Softplus), and otherwise follow the ONNX definitions.
 */
#include <math.h>
#include <string.h>

#include "ops/elementwise.h"

typedef struct act {
	lathe_tir_func *f;
	int dt;
} act;

static lathe_tir_expr *k(act *a, double v)
{
	return lathe_ew_const(a->f, a->dt, v);
}

static lathe_tir_expr *bin(act *a, int op, lathe_tir_expr *x, lathe_tir_expr *y)
{
	return lathe_tir_binary(a->f, op, x, y);
}

static lathe_tir_expr *un(act *a, int op, lathe_tir_expr *x)
{
	return lathe_tir_unary(a->f, op, x);
}

static lathe_tir_expr *sel(act *a, lathe_tir_expr *c, lathe_tir_expr *x, lathe_tir_expr *y)
{
	return lathe_tir_select(a->f, c, x, y);
}

/* log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)). */
static lathe_tir_expr *softplus(act *a, lathe_tir_expr *x)
{
	lathe_tir_expr *t = un(a, LATHE_TIR_EXP, un(a, LATHE_TIR_NEG, un(a, LATHE_TIR_ABS, x)));
	return bin(a, LATHE_TIR_ADD, bin(a, LATHE_TIR_MAX, x, k(a, 0)), un(a, LATHE_TIR_LOG1P, t));
}

/* max(lo, min(hi, v)) */
static lathe_tir_expr *clamp(act *a, lathe_tir_expr *v, double lo, double hi)
{
	return bin(a, LATHE_TIR_MAX, k(a, lo), bin(a, LATHE_TIR_MIN, k(a, hi), v));
}

lathe_err lathe_ew_activation(lathe_lower_ctx *c, lathe_tir_expr *x, lathe_tir_expr **out)
{
	act A = {c->fn, x->dtype}, *a = &A;
	const lathe_node *n = c->node;
	double alpha;
	switch (n->op) {
	case LATHE_OP_Relu:
		*out = bin(a, LATHE_TIR_MAX, x, k(a, 0));
		return NULL;
	case LATHE_OP_Sigmoid:
		*out = un(a, LATHE_TIR_SIGMOID, x);
		return NULL;
	case LATHE_OP_Softplus:
		*out = softplus(a, x);
		return NULL;
	case LATHE_OP_Softsign:
		*out = bin(a, LATHE_TIR_DIV, x, bin(a, LATHE_TIR_ADD, k(a, 1), un(a, LATHE_TIR_ABS, x)));
		return NULL;
	case LATHE_OP_Elu:
		alpha = lathe_node_attr_float(n, "alpha", 1.0);
		*out = sel(a, bin(a, LATHE_TIR_LT, x, k(a, 0)),
			   bin(a, LATHE_TIR_MUL, k(a, alpha), un(a, LATHE_TIR_EXPM1, x)), x);
		return NULL;
	case LATHE_OP_Selu: {
		alpha = lathe_node_attr_float(n, "alpha", 1.67326319217681884765625);
		double gamma = lathe_node_attr_float(n, "gamma", 1.05070102214813232421875);
		lathe_tir_expr *neg = bin(a, LATHE_TIR_SUB,
					  bin(a, LATHE_TIR_MUL, k(a, alpha), un(a, LATHE_TIR_EXP, x)),
					  k(a, alpha));
		*out = bin(a, LATHE_TIR_MUL, k(a, gamma),
			   sel(a, bin(a, LATHE_TIR_LE, x, k(a, 0)), neg, x));
		return NULL;
	}
	case LATHE_OP_Celu: {
		alpha = lathe_node_attr_float(n, "alpha", 1.0);
		if (alpha == 0)
			return lathe_error(LATHE_EINVAL, "Celu alpha must not be 0");
		lathe_tir_expr *e = un(a, LATHE_TIR_EXPM1, bin(a, LATHE_TIR_DIV, x, k(a, alpha)));
		*out = bin(a, LATHE_TIR_ADD, bin(a, LATHE_TIR_MAX, x, k(a, 0)),
			   bin(a, LATHE_TIR_MIN, k(a, 0), bin(a, LATHE_TIR_MUL, k(a, alpha), e)));
		return NULL;
	}
	case LATHE_OP_LeakyRelu:
		alpha = lathe_node_attr_float(n, "alpha", 0.01);
		*out = sel(a, bin(a, LATHE_TIR_LT, x, k(a, 0)), bin(a, LATHE_TIR_MUL, k(a, alpha), x), x);
		return NULL;
	case LATHE_OP_ThresholdedRelu:
		alpha = lathe_node_attr_float(n, "alpha", 1.0);
		*out = sel(a, bin(a, LATHE_TIR_GT, x, k(a, alpha)), x, k(a, 0));
		return NULL;
	case LATHE_OP_HardSigmoid: {
		alpha = lathe_node_attr_float(n, "alpha", 0.2);
		double beta = lathe_node_attr_float(n, "beta", 0.5);
		*out = clamp(a, lathe_ew_muladd(a->f, k(a, alpha), x, k(a, beta)), 0, 1);
		return NULL;
	}
	case LATHE_OP_HardSwish:
		*out = bin(a, LATHE_TIR_MUL, x,
			   clamp(a, lathe_ew_muladd(a->f, k(a, 1.0 / 6.0), x, k(a, 0.5)), 0, 1));
		return NULL;
	case LATHE_OP_Shrink: {
		double bias = lathe_node_attr_float(n, "bias", 0.0);
		double lambd = lathe_node_attr_float(n, "lambd", 0.5);
		*out = sel(a, bin(a, LATHE_TIR_LT, x, k(a, -lambd)), bin(a, LATHE_TIR_ADD, x, k(a, bias)),
			   sel(a, bin(a, LATHE_TIR_GT, x, k(a, lambd)),
			       bin(a, LATHE_TIR_SUB, x, k(a, bias)), k(a, 0)));
		return NULL;
	}
	case LATHE_OP_Gelu: {
		const char *approx = lathe_node_attr_str(n, "approximate", "none");
		lathe_tir_expr *inner;
		if (!strcmp(approx, "none")) {
			inner = un(a, LATHE_TIR_ERF, bin(a, LATHE_TIR_MUL, x, k(a, 1.0 / sqrt(2.0))));
		} else if (!strcmp(approx, "tanh")) {
			lathe_tir_expr *x3 = bin(a, LATHE_TIR_MUL, x, bin(a, LATHE_TIR_MUL, x, x));
			lathe_tir_expr *t = lathe_ew_muladd(a->f, k(a, 0.044715), x3, x);
			inner = un(a, LATHE_TIR_TANH,
				   bin(a, LATHE_TIR_MUL, k(a, sqrt(2.0 / 3.14159265358979323846)), t));
		} else {
			return lathe_error(LATHE_EINVAL,
					   "approximate must be \"none\" or \"tanh\", not \"%s\"", approx);
		}
		lathe_tir_expr *half_x = bin(a, LATHE_TIR_MUL, k(a, 0.5), x);
		*out = bin(a, LATHE_TIR_MUL, half_x, bin(a, LATHE_TIR_ADD, k(a, 1), inner));
		return NULL;
	}
	case LATHE_OP_Mish:
		*out = bin(a, LATHE_TIR_MUL, x, un(a, LATHE_TIR_TANH, softplus(a, x)));
		return NULL;
	case LATHE_OP_Swish:
		alpha = lathe_node_attr_float(n, "alpha", 1.0);
		*out = bin(a, LATHE_TIR_MUL, x,
			   un(a, LATHE_TIR_SIGMOID, bin(a, LATHE_TIR_MUL, k(a, alpha), x)));
		return NULL;
	case LATHE_OP_Binarizer: {
		double th = lathe_node_attr_float(n, "threshold", 0.0);
		*out = sel(a, bin(a, LATHE_TIR_GT, x, k(a, th)), k(a, 1), k(a, 0));
		return NULL;
	}
	default:
		return lathe_error(LATHE_EINTERNAL, "lower_unary has no case for %s",
				   lathe_op_name(n->op));
	}
}
