/* op.h: how an op is defined.
 *
 * Each row of the op table (graph/ops.def) names three functions:
 *   infer  - shape and type inference, on the graph or on concrete inputs;
 *   lower  - the op's meaning as a compute built with the tensor-expression
 *            builder into a loop-IR function (parameters: the inputs, then
 *            the outputs, all with concrete shapes);
 *   kernel - an extern kernel, for what loops cannot express (data-dependent
 *            output shapes, sorting, strings, control flow).
 * Nothing else defines what an op computes.
 *
 * Parameter inputs (ops.def's mask) are the inputs whose values decide the
 * output shape (Reshape's shape, Slice's starts...): infer and lower may read
 * their values through in_val; other inputs' values are never given to them.
 *
 * Errors returned here get the node's name and op prepended by the caller.
 */
#ifndef LATHE_OP_H
#define LATHE_OP_H

#include "graph/graph.h"
#include "lower/te.h"

typedef struct lathe_infer_ctx {
	lathe_graph *graph;
	const lathe_node *node;
	int nin, nout;
	const lathe_type *const *in;        /* NULL for a missing optional input */
	const lathe_tensor *const *in_val;  /* values of parameter inputs, or NULL if unknown */
	lathe_type *out;                    /* to fill: nout entries */
	lathe_arena *arena;                 /* for dims */
} lathe_infer_ctx;

typedef struct lathe_lower_ctx {
	lathe_graph *graph;
	const lathe_node *node;
	int nin, nout;
	const lathe_type *const *in;        /* concrete; NULL for a missing input */
	const lathe_tensor *const *in_val;  /* values of parameter inputs */
	const lathe_type *out;              /* concrete */
	lathe_tir_func *fn;
	lathe_tir_buf **in_buf;             /* NULL for a missing input */
	lathe_tir_buf **out_buf;
} lathe_lower_ctx;

/* A value at run time: a tensor, a sequence of tensors, or an empty optional. */
typedef struct lathe_rvalue {
	uint8_t kind;       /* LATHE_TY_TENSOR, LATHE_TY_SEQUENCE or LATHE_TY_OPTIONAL (= none) */
	int32_t dtype;      /* element type (sequences and none optionals too) */
	lathe_tensor *t;    /* TENSOR */
	lathe_tensor **seq; /* SEQUENCE */
	int64_t nseq;
} lathe_rvalue;

static inline lathe_rvalue lathe_rvalue_tensor(lathe_tensor *t)
{
	lathe_rvalue v = {0};
	v.kind = LATHE_TY_TENSOR;
	v.dtype = t->dtype;
	v.t = t;
	return v;
}

struct lathe_exec;

typedef struct lathe_kernel_ctx {
	lathe_graph *graph;
	const lathe_node *node;
	int nin, nout;
	lathe_rvalue *in;   /* kind TENSOR with t == NULL for a missing input */
	lathe_rvalue *out;  /* to fill */
	lathe_arena *arena; /* outputs live here */
	struct lathe_exec *exec;
	/* Set by the module compiler (src/module/kernels.c): then
	 * lathe_kernel_call_rt records the call here instead of running it. */
	struct lathe_rt_capture *capture;
} lathe_kernel_ctx;

typedef lathe_err (*lathe_infer_fn)(lathe_infer_ctx *c);
typedef lathe_err (*lathe_lower_fn)(lathe_lower_ctx *c);
typedef lathe_err (*lathe_kernel_fn)(lathe_kernel_ctx *c);

typedef struct lathe_op_info {
	const char *name, *domain;
	lathe_infer_fn infer;
	lathe_lower_fn lower;
	lathe_kernel_fn kernel;
	uint32_t params;
} lathe_op_info;

extern const lathe_op_info lathe_ops[LATHE_OP_COUNT];

/* Prototypes of every op function, from the table. */
#define OP(id, domain, name, infer, lower, kernel, params)                    \
	lathe_err infer(lathe_infer_ctx *c);                                  \
	lathe_err lower(lathe_lower_ctx *c);                                  \
	lathe_err kernel(lathe_kernel_ctx *c);
#include "graph/ops.def"
#undef OP

/* ---- helpers shared by op definitions (src/ops/common.c) ----------------- */

/* Tensor type with a copy of dims. */
lathe_type lathe_type_like(lathe_arena *a, const lathe_type *t);
lathe_type lathe_type_with_dtype(lathe_arena *a, const lathe_type *t, int dtype);
/* Static shape of a type into shape[] (rank <= LATHE_MAX_RANK_HINT not required:
 * shape must hold t->rank entries).  Fails if any dim is unknown. */
lathe_err lathe_type_shape(const lathe_type *t, int64_t *shape);
/* NumPy broadcast of n types into *out (dims may stay unknown/symbolic). */
lathe_err lathe_broadcast_types(lathe_arena *a, int n, const lathe_type *const *in,
				int dtype, lathe_type *out);
/* Normalizes a possibly negative axis against rank; error if out of range. */
lathe_err lathe_norm_axis(int64_t axis, int rank, int *out);
/* Reads an integer tensor (i32/i64/u8...) into int64 values (arena copy). */
lathe_err lathe_tensor_ints(lathe_arena *a, const lathe_tensor *t, int64_t **out, int64_t *n);
/* Number of elements of a type (-1 if unknown). */
int64_t lathe_type_numel(const lathe_type *t);
/* The node's `ints` attribute (n = -1 if absent). */
const int64_t *lathe_node_attr_ints(const lathe_node *n, const char *name, int64_t *count);
const double *lathe_node_attr_floats(const lathe_node *n, const char *name, int64_t *count);

/* Kernel helpers: allocate output i as a tensor in c->arena. */
lathe_err lathe_kernel_output(lathe_kernel_ctx *c, int i, int dtype, int rank,
			      const int64_t *shape, lathe_tensor **out);
/* Calls a runtime extern kernel with the node's tensor inputs and outputs;
 * outputs not yet allocated are sized by the kernel through call->alloc. */
lathe_err lathe_kernel_call_rt(lathe_kernel_ctx *c, lathe_rt_kernel fn,
			       const int64_t *ip, int nip, const double *fp, int nfp,
			       const char *const *sp, int nsp);
/* A runtime kernel call recorded instead of run (kernel ctx's `capture`);
 * the arrays are copies in the kernel ctx's arena. */
typedef struct lathe_rt_capture {
	lathe_rt_kernel fn; /* NULL until a call was recorded */
	const int64_t *ip;
	const double *fp;
	const char *const *sp;
	int nip, nfp, nsp;
} lathe_rt_capture;

#endif
