/* const_fold.c: constant folding.
 *
 * A node whose inputs are all constants is evaluated once, at compile time,
 * with the interpreter backend (src/exec: the same lowering and loop-IR
 * interpreter that define what every op computes, so folding can never
 * disagree with running), and its outputs become constants.  Shape and Size
 * fold from the input's type as soon as that type is static, whatever the
 * input's value, so shape computations (Shape -> Gather -> Unsqueeze ->
 * Concat -> Reshape's target) fold away once shapes are known.  Folding
 * repeats with inference in between, because a folded Reshape target makes
 * the Reshape's output type static, which lets the next Shape fold.
 *
 * Not folded: random ops and Dropout (not deterministic; simplify removes
 * inference Dropout), nodes with subgraphs, outputs that are not tensors or
 * strings, results larger than the limit (16 MiB by default), and heavy ops
 * (convolutions, matrix products, recurrences) whose work would make the
 * compiler slow.  A node that fails to evaluate is left for run time, which
 * reports the error with the node's name.
 *
 * Requires: a verified graph.  Changes: folded outputs become constants
 * (same value id and name), folded nodes are removed; types are re-inferred.
 * Invalidates: node indices (dead nodes are dropped), fusion groups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"
#include "passes/rewrite.h"

enum { MAX_ROUNDS = 16 };
/* Upper bound on (input elements x output elements) for heavy ops: a crude
 * bound on their work that keeps folding in the milliseconds. */
#define HEAVY_WORK_LIMIT ((int64_t)1 << 24)

static bool never_fold(int op)
{
	switch (op) {
	case LATHE_OP_Bernoulli:
	case LATHE_OP_RandomUniform:
	case LATHE_OP_RandomNormal:
	case LATHE_OP_RandomUniformLike:
	case LATHE_OP_RandomNormalLike:
	case LATHE_OP_Multinomial:
	case LATHE_OP_Dropout:
		return true;
	default:
		return false;
	}
}

static bool heavy(int op)
{
	switch (op) {
	case LATHE_OP_Conv:
	case LATHE_OP_ConvTranspose:
	case LATHE_OP_ConvInteger:
	case LATHE_OP_QLinearConv:
	case LATHE_OP_DeformConv:
	case LATHE_OP_MatMul:
	case LATHE_OP_MatMulInteger:
	case LATHE_OP_QLinearMatMul:
	case LATHE_OP_Gemm:
	case LATHE_OP_Einsum:
	case LATHE_OP_Attention:
	case LATHE_OP_RNN:
	case LATHE_OP_GRU:
	case LATHE_OP_LSTM:
	case LATHE_OP_DFT:
	case LATHE_OP_STFT:
		return true;
	default:
		return false;
	}
}

static lathe_err make_const(lathe_graph *g, lathe_vid v, const lathe_tensor *src)
{
	lathe_tensor *t;
	LATHE_TRY(lathe_tensor_alloc(g->arena, src->dtype, src->rank, src->shape, &t));
	size_t nb = lathe_tensor_nbytes(t);
	if (nb)
		memcpy(t->data, src->data, nb);
	lathe_value *val = &g->values.data[v];
	val->def = LATHE_DEF_CONST;
	val->node = 0;
	val->index = 0;
	val->konst = t;
	val->type = lathe_type_tensor(g->arena, t->dtype, t->rank, t->shape);
	return NULL;
}

/* Shape and Size of a static type (Shape's start/end as ONNX clamps them). */
static lathe_err fold_shape(lathe_graph *g, lathe_node *n, bool *done)
{
	int rank;
	int64_t shape[LATHE_PASS_MAX_RANK];
	*done = false;
	if (n->nin < 1 || n->nout != 1 || !lathe_pass_static_shape(g, n->in[0], &rank, shape))
		return NULL;
	lathe_tensor tmp = {.dtype = LATHE_DT_I64};
	int64_t buf[LATHE_PASS_MAX_RANK], dim = 0;
	if (n->op == LATHE_OP_Size) {
		int64_t numel = 1;
		for (int i = 0; i < rank; i++)
			numel *= shape[i];
		buf[0] = numel;
		tmp.rank = 0;
		tmp.data = buf;
	} else {
		int64_t start = lathe_node_attr_int(n, "start", 0);
		int64_t end = lathe_node_attr_int(n, "end", rank);
		if (start < 0)
			start += rank;
		if (end < 0)
			end += rank;
		start = start < 0 ? 0 : start > rank ? rank : start;
		end = end < 0 ? 0 : end > rank ? rank : end;
		for (int64_t i = start; i < end; i++)
			buf[dim++] = shape[i];
		tmp.rank = 1;
		tmp.shape = &dim;
		tmp.data = buf;
	}
	LATHE_TRY(make_const(g, n->out[0], &tmp));
	*done = true;
	return NULL;
}

/* Whether n may be folded: every input constant, static tensor outputs
 * within the limits. */
static bool foldable(const lathe_graph *g, const lathe_node *n, int64_t limit)
{
	if (never_fold(n->op) || n->nout < 1 || lathe_node_has_subgraph(n))
		return false;
	int64_t in_elems = 0, out_elems = 0, out_bytes = 0;
	for (int i = 0; i < n->nin; i++) {
		if (n->in[i] == LATHE_NOVAL)
			continue;
		const lathe_tensor *t = lathe_pass_const(g, n->in[i]);
		if (!t)
			return false;
		in_elems += lathe_tensor_numel(t);
	}
	for (int i = 0; i < n->nout; i++) {
		const lathe_type *t = &g->values.data[n->out[i]].type;
		if (t->kind != LATHE_TY_TENSOR || !lathe_type_is_static(t) || t->dtype == LATHE_DT_STR)
			return false;
		int64_t numel = lathe_type_numel(t);
		size_t es = lathe_dtype_size(t->dtype);
		if (numel < 0 || !es || numel > limit / (int64_t)es)
			return false;
		out_elems += numel;
		out_bytes += numel * (int64_t)es;
		if (out_bytes > limit)
			return false;
	}
	if (heavy(n->op) && out_elems && in_elems > HEAVY_WORK_LIMIT / out_elems)
		return false;
	return true;
}

/* Evaluates node n of g (all inputs constant) in a one-node graph. */
static lathe_err eval_node(lathe_graph *g, const lathe_node *n, lathe_arena *scratch,
			   lathe_rvalue *out)
{
	lathe_graph *mg = lathe_graph_create();
	mg->opset = g->opset;
	lathe_vid *ins = lathe_arena_new(scratch, lathe_vid, n->nin + 1);
	lathe_err err = NULL;
	for (int i = 0; i < n->nin && !err; i++) {
		ins[i] = LATHE_NOVAL;
		if (n->in[i] == LATHE_NOVAL)
			continue;
		char name[32];
		snprintf(name, sizeof name, "c%d", i);
		/* The tensor stays g's: mg only points at it. */
		err = lathe_graph_add_const(mg, name, (lathe_tensor *)lathe_pass_const(g, n->in[i]),
					    &ins[i]);
	}
	lathe_node *mn = NULL;
	if (!err)
		err = lathe_graph_add_node(mg, n->op, n->name, n->nin, ins, n->nout, NULL, &mn);
	if (!err) {
		mn->attrs = n->attrs; /* in g's arena, which outlives mg */
		mn->nattr = n->nattr;
		for (int i = 0; i < n->nout; i++)
			lathe_vec_push(&mg->outputs, mn->out[i]);
		lathe_exec *e = lathe_exec_create(scratch);
		err = lathe_exec_run(e, mg, NULL, out);
		lathe_exec_destroy(e);
	}
	lathe_graph_destroy(mg);
	return err;
}

/* One sweep over the nodes; *count gets the number folded. */
static lathe_err sweep(lathe_graph *g, int64_t limit, int *count)
{
	*count = 0;
	for (size_t k = 0; k < g->nodes.len; k++) {
		lathe_node *n = &g->nodes.data[k];
		if (n->dead)
			continue;
		if (n->op == LATHE_OP_Shape || n->op == LATHE_OP_Size) {
			bool done;
			LATHE_TRY(fold_shape(g, n, &done));
			if (done) {
				lathe_pass_kill(g, (uint32_t)k);
				++*count;
				continue;
			}
		}
		if (!foldable(g, n, limit))
			continue;
		lathe_arena *scratch = lathe_arena_create();
		lathe_rvalue *out = lathe_arena_new(scratch, lathe_rvalue, n->nout);
		lathe_err err = eval_node(g, n, scratch, out);
		bool ok = !err;
		lathe_error_free(err); /* left for run time to report */
		for (int i = 0; ok && i < n->nout; i++)
			ok = out[i].kind == LATHE_TY_TENSOR && out[i].t &&
			     out[i].t->dtype != LATHE_DT_STR &&
			     (int64_t)lathe_tensor_nbytes(out[i].t) <= limit;
		err = NULL;
		for (int i = 0; ok && i < n->nout && !err; i++)
			err = make_const(g, g->nodes.data[k].out[i], out[i].t);
		lathe_arena_destroy(scratch);
		LATHE_TRY(err);
		if (ok) {
			lathe_pass_kill(g, (uint32_t)k);
			++*count;
		}
	}
	return NULL;
}

lathe_err lathe_pass_const_fold(lathe_graph *g, int64_t limit)
{
	if (limit <= 0)
		limit = (int64_t)16 << 20;
	for (int round = 0; round < MAX_ROUNDS; round++) {
		LATHE_TRY(lathe_graph_infer(g));
		int count;
		LATHE_TRY(sweep(g, limit, &count));
		LATHE_TRY(lathe_pass_toposort(g));
		if (!count)
			break;
	}
	return NULL;
}
