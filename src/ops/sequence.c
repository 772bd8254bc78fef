/* sequence.c: sequence and optional values (Sequence*, SplitToSequence,
 * ConcatFromSequence, SequenceMap, Optional*).
 *
 * These ops work on run-time values (lathe_rvalue) rather than on dense
 * buffers, so they have kernels and no loop programs.  A sequence is an
 * array of tensor pointers; an optional that holds a value is that value,
 * and an empty optional is an rvalue of kind OPTIONAL.  Values are
 * immutable once produced, so sequences share their element tensors with the
 * sequences they were made from: inserting or erasing builds a new pointer
 * array and copies no tensor data.  Only SplitToSequence and
 * ConcatFromSequence move elements.
 *
 * The inference function (infer_seq, shared by the rows of ops_control.def)
 * dispatches on the op; sequence types carry the element dtype and, where
 * every element agrees, the element shape (rank -1 otherwise).
 */
#include <string.h>

#include "exec/exec.h"
#include "ops/op.h"

/* ---- types ----------------------------------------------------------------- */

static lathe_type seq_type(lathe_arena *a, int dtype, int rank, const lathe_dim *dims)
{
	lathe_type t = {0};
	t.kind = LATHE_TY_SEQUENCE;
	t.elem_kind = LATHE_TY_TENSOR;
	t.dtype = dtype;
	t.rank = rank;
	if (rank > 0) {
		t.dims = lathe_arena_new(a, lathe_dim, rank);
		if (dims)
			memcpy(t.dims, dims, sizeof(lathe_dim) * (size_t)rank);
		else
			for (int i = 0; i < rank; i++)
				t.dims[i] = (lathe_dim){-1, -1};
	}
	return t;
}

static lathe_type tensor_type(lathe_arena *a, int dtype, int rank, const lathe_dim *dims)
{
	lathe_type t = seq_type(a, dtype, rank, dims);
	t.kind = LATHE_TY_TENSOR;
	return t;
}

static bool dim_eq(lathe_dim a, lathe_dim b)
{
	if (a.sym >= 0 || b.sym >= 0)
		return a.sym == b.sym;
	return a.size == b.size && a.size >= 0;
}

/* Element shape common to a and b (both tensor or sequence element types):
 * rank -1 when ranks differ, unknown dims where they differ. */
static lathe_type join_elem(lathe_arena *ar, int kind, const lathe_type *a, const lathe_type *b)
{
	lathe_type t = seq_type(ar, a->dtype, a->rank, a->dims);
	t.kind = (uint8_t)kind;
	if (a->rank != b->rank) {
		t.rank = -1;
		t.dims = NULL;
		return t;
	}
	for (int i = 0; i < t.rank; i++)
		if (!dim_eq(a->dims[i], b->dims[i]))
			t.dims[i] = (lathe_dim){-1, -1};
	return t;
}

static lathe_err want_kind(const lathe_type *t, int kind, int i)
{
	if (!t)
		return lathe_error(LATHE_EINVAL, "input %d is required", i);
	if (t->kind == LATHE_TY_UNKNOWN || t->kind == kind)
		return NULL;
	return lathe_error(LATHE_EINVAL, "input %d must be a %s", i,
			   kind == LATHE_TY_SEQUENCE ? "sequence" : "tensor");
}

static lathe_err infer_split_to_seq(lathe_infer_ctx *c)
{
	const lathe_type *x = c->in[0];
	LATHE_TRY(want_kind(x, LATHE_TY_TENSOR, 0));
	int keep = (int)lathe_node_attr_int(c->node, "keepdims", 1);
	bool has_split = c->nin > 1 && c->in[1];
	if (x->rank < 0) {
		c->out[0] = seq_type(c->arena, x->dtype, -1, NULL);
		return NULL;
	}
	int axis = 0;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), x->rank, &axis));
	lathe_type t = seq_type(c->arena, x->dtype, x->rank, x->dims);
	t.dims[axis] = (lathe_dim){-1, -1};
	if (!has_split) {
		t.dims[axis] = (lathe_dim){1, -1};
		if (!keep) {
			memmove(t.dims + axis, t.dims + axis + 1,
				sizeof(lathe_dim) * (size_t)(t.rank - axis - 1));
			t.rank--;
		}
	}
	c->out[0] = t;
	return NULL;
}

static lathe_err infer_concat_from_seq(lathe_infer_ctx *c)
{
	const lathe_type *s = c->in[0];
	LATHE_TRY(want_kind(s, LATHE_TY_SEQUENCE, 0));
	int new_axis = (int)lathe_node_attr_int(c->node, "new_axis", 0);
	if (!lathe_node_attr(c->node, "axis"))
		return lathe_error(LATHE_EINVAL, "attribute 'axis' is required");
	if (s->kind == LATHE_TY_UNKNOWN || s->rank < 0) {
		c->out[0] = tensor_type(c->arena, s->dtype, -1, NULL);
		return NULL;
	}
	int rank = s->rank + (new_axis ? 1 : 0);
	int axis = 0;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), rank, &axis));
	lathe_type t = tensor_type(c->arena, s->dtype, rank, NULL);
	for (int i = 0, r = 0; i < rank; i++) {
		if (new_axis && i == axis)
			continue;
		t.dims[i] = (i == axis) ? (lathe_dim){-1, -1} : s->dims[r];
		r++;
	}
	c->out[0] = t;
	return NULL;
}

static lathe_err infer_sequence_map(lathe_infer_ctx *c)
{
	const lathe_attr *a = lathe_node_attr(c->node, "body");
	if (!a || a->kind != LATHE_ATTR_GRAPH)
		return lathe_error(LATHE_EINVAL, "missing graph attribute 'body'");
	lathe_graph *body = a->u.g;
	if ((int)body->outputs.len != c->nout || (int)body->inputs.len != c->nin)
		return lathe_error(LATHE_EINVAL,
				   "body has %d inputs and %d outputs, the node %d and %d",
				   (int)body->inputs.len, (int)body->outputs.len, c->nin, c->nout);
	LATHE_TRY(want_kind(c->in[0], LATHE_TY_SEQUENCE, 0));
	for (int i = 0; i < c->nout; i++) {
		const lathe_type *bt = &lathe_graph_value(body, body->outputs.data[i])->type;
		c->out[i] = seq_type(c->arena, bt->dtype, bt->rank, bt->dims);
	}
	return NULL;
}

lathe_err infer_seq(lathe_infer_ctx *c)
{
	const lathe_type *in0 = c->nin > 0 ? c->in[0] : NULL;
	switch (c->node->op) {
	case LATHE_OP_SequenceConstruct: {
		if (c->nin < 1)
			return lathe_error(LATHE_EINVAL, "SequenceConstruct needs at least one input");
		lathe_type t = seq_type(c->arena, in0 ? in0->dtype : 0, in0 ? in0->rank : -1,
					in0 ? in0->dims : NULL);
		for (int i = 0; i < c->nin; i++) {
			LATHE_TRY(want_kind(c->in[i], LATHE_TY_TENSOR, i));
			if (c->in[i]->dtype != t.dtype)
				return lathe_error(LATHE_EINVAL, "input %d is %s, input 0 %s", i,
						   lathe_dtype_name(c->in[i]->dtype),
						   lathe_dtype_name(t.dtype));
			t = join_elem(c->arena, LATHE_TY_SEQUENCE, &t, c->in[i]);
		}
		c->out[0] = t;
		return NULL;
	}
	case LATHE_OP_SequenceEmpty:
		c->out[0] = seq_type(c->arena, (int)lathe_node_attr_int(c->node, "dtype", LATHE_DT_F32),
				     -1, NULL);
		return NULL;
	case LATHE_OP_SequenceInsert: {
		LATHE_TRY(want_kind(in0, LATHE_TY_SEQUENCE, 0));
		LATHE_TRY(want_kind(c->nin > 1 ? c->in[1] : NULL, LATHE_TY_TENSOR, 1));
		if (in0->dtype != c->in[1]->dtype && in0->kind != LATHE_TY_UNKNOWN)
			return lathe_error(LATHE_EINVAL, "inserting %s into a sequence of %s",
					   lathe_dtype_name(c->in[1]->dtype),
					   lathe_dtype_name(in0->dtype));
		/* Element shapes of the existing elements are unknown when the
		 * sequence came in without a shape. */
		if (in0->kind == LATHE_TY_UNKNOWN)
			c->out[0] = seq_type(c->arena, c->in[1]->dtype, -1, NULL);
		else
			c->out[0] = join_elem(c->arena, LATHE_TY_SEQUENCE, in0, c->in[1]);
		return NULL;
	}
	case LATHE_OP_SequenceErase:
		LATHE_TRY(want_kind(in0, LATHE_TY_SEQUENCE, 0));
		c->out[0] = seq_type(c->arena, in0->dtype, in0->rank, in0->dims);
		return NULL;
	case LATHE_OP_SequenceAt:
		LATHE_TRY(want_kind(in0, LATHE_TY_SEQUENCE, 0));
		c->out[0] = tensor_type(c->arena, in0->dtype, in0->kind == LATHE_TY_UNKNOWN ? -1 : in0->rank,
					in0->dims);
		return NULL;
	case LATHE_OP_SequenceLength:
		LATHE_TRY(want_kind(in0, LATHE_TY_SEQUENCE, 0));
		c->out[0] = tensor_type(c->arena, LATHE_DT_I64, 0, NULL);
		return NULL;
	case LATHE_OP_SplitToSequence:
		return infer_split_to_seq(c);
	case LATHE_OP_ConcatFromSequence:
		return infer_concat_from_seq(c);
	case LATHE_OP_SequenceMap:
		return infer_sequence_map(c);
	case LATHE_OP_Optional: {
		lathe_type t;
		if (in0) {
			t = seq_type(c->arena, in0->dtype, in0->rank, in0->dims);
			t.elem_kind = in0->kind == LATHE_TY_OPTIONAL ? in0->elem_kind : in0->kind;
		} else {
			const lathe_attr *a = lathe_node_attr(c->node, "type");
			if (!a || a->kind != LATHE_ATTR_TYPE)
				return lathe_error(LATHE_EINVAL,
						   "Optional without an input needs the 'type' attribute");
			t = seq_type(c->arena, a->u.type.dtype, a->u.type.rank, a->u.type.dims);
			t.elem_kind = a->u.type.kind;
		}
		t.kind = LATHE_TY_OPTIONAL;
		c->out[0] = t;
		return NULL;
	}
	case LATHE_OP_OptionalHasElement:
		c->out[0] = tensor_type(c->arena, LATHE_DT_BOOL, 0, NULL);
		return NULL;
	case LATHE_OP_OptionalGetElement: {
		if (!in0)
			return lathe_error(LATHE_EINVAL, "input 0 is required");
		lathe_type t = seq_type(c->arena, in0->dtype, in0->rank, in0->dims);
		t.kind = in0->kind == LATHE_TY_OPTIONAL ? in0->elem_kind : in0->kind;
		c->out[0] = t;
		return NULL;
	}
	default:
		return lathe_error(LATHE_EINTERNAL, "infer_seq called for op %s",
				   lathe_op_name(c->node->op));
	}
}

/* ---- run time ------------------------------------------------------------------ */

static lathe_rvalue rv_seq(lathe_tensor **seq, int64_t n, int dtype)
{
	lathe_rvalue v = {0};
	v.kind = LATHE_TY_SEQUENCE;
	v.dtype = dtype;
	v.seq = seq;
	v.nseq = n;
	return v;
}

static bool present(const lathe_rvalue *v)
{
	return v->kind != LATHE_TY_TENSOR || v->t != NULL;
}

static lathe_err get_seq(const lathe_kernel_ctx *c, int i, const lathe_rvalue **out)
{
	if (i >= c->nin || c->in[i].kind != LATHE_TY_SEQUENCE)
		return lathe_error(LATHE_EINVAL, "input %d must be a sequence", i);
	*out = &c->in[i];
	return NULL;
}

static lathe_err get_tensor(const lathe_kernel_ctx *c, int i, lathe_tensor **out)
{
	if (i >= c->nin || c->in[i].kind != LATHE_TY_TENSOR || !c->in[i].t)
		return lathe_error(LATHE_EINVAL, "input %d must be a tensor", i);
	*out = c->in[i].t;
	return NULL;
}

/* A position input (scalar or one-element tensor) checked against [lo, hi]
 * and made non-negative by adding n. */
static lathe_err get_position(const lathe_kernel_ctx *c, int i, int64_t n, int64_t lo,
			      int64_t hi, int64_t dflt, int64_t *out)
{
	if (i >= c->nin || !present(&c->in[i])) {
		*out = dflt;
		return NULL;
	}
	lathe_tensor *t = NULL;
	LATHE_TRY(get_tensor(c, i, &t));
	if (lathe_tensor_numel(t) != 1 || !lathe_dtype_is_int(t->dtype))
		return lathe_error(LATHE_EINVAL, "position must be one integer");
	int64_t p = lathe_rt_load_i64(t, 0);
	if (p < lo || p > hi)
		return lathe_error(LATHE_EINVAL, "position %lld out of range [%lld, %lld]",
				   (long long)p, (long long)lo, (long long)hi);
	*out = p < 0 ? p + n : p;
	return NULL;
}

/* Copies rows [start, start+len) of axis into a new tensor (drop: remove
 * the axis, len must be 1). */
static lathe_err slice_axis(lathe_arena *a, const lathe_tensor *t, int axis, int64_t start,
			    int64_t len, bool drop, lathe_tensor **out)
{
	if (t->rank > 64)
		return lathe_error(LATHE_EUNSUPPORTED, "rank %d too large", (int)t->rank);
	return lathe_tensor_slice(a, t, axis, start, len, drop, out);
}

static lathe_err split_to_sequence(lathe_kernel_ctx *c)
{
	lathe_tensor *x = NULL;
	LATHE_TRY(get_tensor(c, 0, &x));
	if (x->rank < 1)
		return lathe_error(LATHE_EINVAL, "cannot split a scalar");
	int axis = 0;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), x->rank, &axis));
	int64_t dim = x->shape[axis];
	int keep = (int)lathe_node_attr_int(c->node, "keepdims", 1);
	int64_t *sizes, n;
	bool has_split = c->nin > 1 && present(&c->in[1]);
	if (!has_split) {
		n = dim;
		sizes = lathe_arena_new(c->arena, int64_t, n + 1);
		for (int64_t i = 0; i < n; i++)
			sizes[i] = 1;
	} else {
		lathe_tensor *s = NULL;
		LATHE_TRY(get_tensor(c, 1, &s));
		if (!lathe_dtype_is_int(s->dtype) || s->rank > 1)
			return lathe_error(LATHE_EINVAL, "split must be an integer scalar or 1-D tensor");
		if (s->rank == 0) {
			int64_t k = lathe_rt_load_i64(s, 0);
			if (k <= 0)
				return lathe_error(LATHE_EINVAL, "split %lld must be positive", (long long)k);
			n = dim == 0 ? 0 : (dim + k - 1) / k;
			sizes = lathe_arena_new(c->arena, int64_t, n + 1);
			for (int64_t i = 0; i < n; i++)
				sizes[i] = (i == n - 1) ? dim - k * (n - 1) : k;
		} else {
			n = s->shape[0];
			sizes = lathe_arena_new(c->arena, int64_t, n + 1);
			int64_t sum = 0;
			for (int64_t i = 0; i < n; i++) {
				sizes[i] = lathe_rt_load_i64(s, i);
				if (sizes[i] < 0)
					return lathe_error(LATHE_EINVAL, "split[%lld] = %lld is negative",
							   (long long)i, (long long)sizes[i]);
				sum += sizes[i];
			}
			if (sum != dim)
				return lathe_error(LATHE_EINVAL,
						   "split sums to %lld but axis %d has %lld elements",
						   (long long)sum, axis, (long long)dim);
		}
	}
	lathe_tensor **seq = lathe_arena_new(c->arena, lathe_tensor *, n + 1);
	int64_t start = 0;
	for (int64_t i = 0; i < n; i++) {
		LATHE_TRY(slice_axis(c->arena, x, axis, start, sizes[i], !has_split && !keep, &seq[i]));
		start += sizes[i];
	}
	c->out[0] = rv_seq(seq, n, x->dtype);
	return NULL;
}

static lathe_err concat_from_sequence(lathe_kernel_ctx *c)
{
	const lathe_rvalue *s = NULL;
	LATHE_TRY(get_seq(c, 0, &s));
	int new_axis = (int)lathe_node_attr_int(c->node, "new_axis", 0);
	if (s->nseq == 0)
		return lathe_error(LATHE_EINVAL, "cannot concatenate an empty sequence");
	const lathe_tensor *t0 = s->seq[0];
	int rank = t0->rank + (new_axis ? 1 : 0);
	if (rank < 1 || rank > 64)
		return lathe_error(LATHE_EINVAL, "cannot concatenate tensors of rank %d", (int)t0->rank);
	int axis = 0;
	LATHE_TRY(lathe_norm_axis(lathe_node_attr_int(c->node, "axis", 0), rank, &axis));
	/* View every element as [outer, k_i, inner] with k_i = 1 when stacking. */
	int64_t outer = 1, inner = 1, total = 0;
	for (int i = 0; i < t0->rank; i++) {
		if (i < axis)
			outer *= t0->shape[i];
		else if (i > axis || new_axis)
			inner *= t0->shape[i];
	}
	for (int64_t k = 0; k < s->nseq; k++) {
		const lathe_tensor *t = s->seq[k];
		if (t->rank != t0->rank || t->dtype != t0->dtype)
			return lathe_error(LATHE_EINVAL, "element %lld has type %s rank %d, element 0 %s rank %d",
					   (long long)k, lathe_dtype_name(t->dtype), (int)t->rank,
					   lathe_dtype_name(t0->dtype), (int)t0->rank);
		for (int i = 0; i < t->rank; i++)
			if ((new_axis || i != axis) && t->shape[i] != t0->shape[i])
				return lathe_error(LATHE_EINVAL,
						   "element %lld has dim %d = %lld, element 0 has %lld",
						   (long long)k, i, (long long)t->shape[i],
						   (long long)t0->shape[i]);
		total += new_axis ? 1 : t->shape[axis];
	}
	int64_t shape[65];
	for (int i = 0, r = 0; i < rank; i++) {
		if (i == axis) {
			shape[i] = total;
			if (!new_axis)
				r++;
		} else {
			shape[i] = t0->shape[r++];
		}
	}
	lathe_tensor *out = NULL;
	LATHE_TRY(lathe_kernel_output(c, 0, t0->dtype, rank, shape, &out));
	size_t es = lathe_dtype_size(t0->dtype);
	int64_t off = 0;
	for (int64_t k = 0; k < s->nseq; k++) {
		const lathe_tensor *t = s->seq[k];
		int64_t kk = new_axis ? 1 : t->shape[axis];
		size_t blk = (size_t)(kk * inner) * es;
		for (int64_t o = 0; o < outer; o++)
			memcpy((char *)out->data + (size_t)((o * total + off) * inner) * es,
			       (const char *)t->data + (size_t)o * blk, blk);
		off += kk;
	}
	return NULL;
}

static lathe_err one_bool(lathe_kernel_ctx *c, bool v)
{
	lathe_tensor *t = NULL;
	LATHE_TRY(lathe_kernel_output(c, 0, LATHE_DT_BOOL, 0, NULL, &t));
	*(uint8_t *)t->data = v;
	return NULL;
}

lathe_err kernel_seq(lathe_kernel_ctx *c)
{
	switch (c->node->op) {
	case LATHE_OP_SequenceConstruct: {
		lathe_tensor **seq = lathe_arena_new(c->arena, lathe_tensor *, c->nin + 1);
		for (int i = 0; i < c->nin; i++) {
			LATHE_TRY(get_tensor(c, i, &seq[i]));
			if (seq[i]->dtype != seq[0]->dtype)
				return lathe_error(LATHE_EINVAL, "input %d is %s, input 0 %s", i,
						   lathe_dtype_name(seq[i]->dtype),
						   lathe_dtype_name(seq[0]->dtype));
		}
		c->out[0] = rv_seq(seq, c->nin, c->nin ? seq[0]->dtype : LATHE_DT_F32);
		return NULL;
	}
	case LATHE_OP_SequenceEmpty:
		c->out[0] = rv_seq(NULL, 0, (int)lathe_node_attr_int(c->node, "dtype", LATHE_DT_F32));
		return NULL;
	case LATHE_OP_SequenceInsert: {
		const lathe_rvalue *s = NULL;
		lathe_tensor *t = NULL;
		int64_t pos = 0;
		LATHE_TRY(get_seq(c, 0, &s));
		LATHE_TRY(get_tensor(c, 1, &t));
		if (s->nseq > 0 && t->dtype != s->seq[0]->dtype)
			return lathe_error(LATHE_EINVAL, "inserting %s into a sequence of %s",
					   lathe_dtype_name(t->dtype), lathe_dtype_name(s->seq[0]->dtype));
		LATHE_TRY(get_position(c, 2, s->nseq, -s->nseq, s->nseq, s->nseq, &pos));
		lathe_tensor **seq = lathe_arena_new(c->arena, lathe_tensor *, s->nseq + 1);
		for (int64_t i = 0, j = 0; i <= s->nseq; i++)
			seq[i] = i == pos ? t : s->seq[j++];
		c->out[0] = rv_seq(seq, s->nseq + 1, t->dtype);
		return NULL;
	}
	case LATHE_OP_SequenceErase: {
		const lathe_rvalue *s = NULL;
		int64_t pos = 0;
		LATHE_TRY(get_seq(c, 0, &s));
		if (s->nseq == 0)
			return lathe_error(LATHE_EINVAL, "cannot erase from an empty sequence");
		LATHE_TRY(get_position(c, 1, s->nseq, -s->nseq, s->nseq - 1, s->nseq - 1, &pos));
		lathe_tensor **seq = lathe_arena_new(c->arena, lathe_tensor *, s->nseq);
		for (int64_t i = 0, j = 0; i < s->nseq; i++)
			if (i != pos)
				seq[j++] = s->seq[i];
		c->out[0] = rv_seq(seq, s->nseq - 1, s->dtype);
		return NULL;
	}
	case LATHE_OP_SequenceAt: {
		const lathe_rvalue *s = NULL;
		int64_t pos = 0;
		LATHE_TRY(get_seq(c, 0, &s));
		if (c->nin < 2 || !present(&c->in[1]))
			return lathe_error(LATHE_EINVAL, "position is required");
		LATHE_TRY(get_position(c, 1, s->nseq, -s->nseq, s->nseq - 1, 0, &pos));
		c->out[0] = lathe_rvalue_tensor(s->seq[pos]);
		return NULL;
	}
	case LATHE_OP_SequenceLength: {
		const lathe_rvalue *s = NULL;
		lathe_tensor *t = NULL;
		LATHE_TRY(get_seq(c, 0, &s));
		LATHE_TRY(lathe_kernel_output(c, 0, LATHE_DT_I64, 0, NULL, &t));
		*(int64_t *)t->data = s->nseq;
		return NULL;
	}
	case LATHE_OP_SplitToSequence:
		return split_to_sequence(c);
	case LATHE_OP_ConcatFromSequence:
		return concat_from_sequence(c);
	case LATHE_OP_Optional: {
		if (c->nin > 0 && present(&c->in[0])) {
			c->out[0] = c->in[0];
			return NULL;
		}
		lathe_rvalue v = {0};
		v.kind = LATHE_TY_OPTIONAL;
		const lathe_attr *a = lathe_node_attr(c->node, "type");
		v.dtype = a && a->kind == LATHE_ATTR_TYPE ? a->u.type.dtype : LATHE_DT_UNDEF;
		c->out[0] = v;
		return NULL;
	}
	case LATHE_OP_OptionalHasElement:
		return one_bool(c, c->nin > 0 && present(&c->in[0]) &&
				       c->in[0].kind != LATHE_TY_OPTIONAL);
	case LATHE_OP_OptionalGetElement:
		if (c->nin < 1 || !present(&c->in[0]) || c->in[0].kind == LATHE_TY_OPTIONAL)
			return lathe_error(LATHE_EINVAL, "the optional input is empty");
		c->out[0] = c->in[0];
		return NULL;
	default:
		return lathe_error(LATHE_EINTERNAL, "kernel_seq called for op %s",
				   lathe_op_name(c->node->op));
	}
}

/* SequenceMap: body runs once per element of the sequence inputs; tensor
 * inputs are passed whole to every run. */
lathe_err kernel_sequence_map(lathe_kernel_ctx *c)
{
	const lathe_attr *a = lathe_node_attr(c->node, "body");
	if (!a || a->kind != LATHE_ATTR_GRAPH)
		return lathe_error(LATHE_EINVAL, "missing graph attribute 'body'");
	lathe_graph *body = a->u.g;
	if ((int)body->inputs.len != c->nin || (int)body->outputs.len != c->nout)
		return lathe_error(LATHE_EINVAL, "body has %d inputs and %d outputs, the node %d and %d",
				   (int)body->inputs.len, (int)body->outputs.len, c->nin, c->nout);
	const lathe_rvalue *s0 = NULL;
	LATHE_TRY(get_seq(c, 0, &s0));
	int64_t n = s0->nseq;
	for (int i = 1; i < c->nin; i++) {
		if (c->in[i].kind == LATHE_TY_SEQUENCE && c->in[i].nseq != n)
			return lathe_error(LATHE_EINVAL, "input %d has %lld elements, input 0 has %lld",
					   i, (long long)c->in[i].nseq, (long long)n);
		if (c->in[i].kind == LATHE_TY_TENSOR && !c->in[i].t)
			return lathe_error(LATHE_EINVAL, "input %d is missing", i);
	}
	lathe_rvalue *bin = lathe_arena_new(c->arena, lathe_rvalue, c->nin);
	lathe_rvalue *bout = lathe_arena_new(c->arena, lathe_rvalue, c->nout);
	for (int j = 0; j < c->nout; j++) {
		int dt = lathe_graph_value(body, body->outputs.data[j])->type.dtype;
		c->out[j] = rv_seq(lathe_arena_new(c->arena, lathe_tensor *, n + 1), n, dt);
	}
	for (int64_t k = 0; k < n; k++) {
		for (int i = 0; i < c->nin; i++)
			bin[i] = c->in[i].kind == LATHE_TY_SEQUENCE
					 ? lathe_rvalue_tensor(c->in[i].seq[k])
					 : c->in[i];
		LATHE_TRYF(lathe_exec_run_subgraph(c, body, bin, bout), "element %lld", (long long)k);
		for (int j = 0; j < c->nout; j++) {
			if (bout[j].kind != LATHE_TY_TENSOR || !bout[j].t)
				return lathe_error(LATHE_EINVAL, "body output %d is not a tensor", j);
			c->out[j].seq[k] = bout[j].t;
			c->out[j].dtype = bout[j].t->dtype;
		}
	}
	return NULL;
}
