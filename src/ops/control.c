/* control.c: If, Loop and Scan, the ops that run subgraphs.
 *
 * These ops have no loop program: their kernels call back into the executor
 * (lathe_exec_run_subgraph) once per branch or iteration, so they run on the
 * interpreter path only, and a compiled module keeps them as calls into the
 * executor's frame logic.  The inference functions derive output types from
 * the bodies' declared (or already inferred) output types, merged with the
 * types flowing in; a dimension that may differ between branches or
 * iterations becomes unknown.
 *
 * Invariants: run-time values are immutable once produced, so kernels pass
 * tensors through by pointer (a branch's output becomes the If's output)
 * and only build new storage when they stack or slice.  Scan-8 (batched,
 * with sequence_lens) is run as one Scan-9 per batch row.
 */
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"
#include "ops/op.h"

/* ---- type helpers ---------------------------------------------------------- */

static lathe_type copy_type(lathe_arena *a, const lathe_type *t)
{
	lathe_type r = *t;
	if (t->rank > 0 && t->dims) {
		r.dims = lathe_arena_new(a, lathe_dim, t->rank);
		memcpy(r.dims, t->dims, sizeof(lathe_dim) * (size_t)t->rank);
	}
	return r;
}

static bool dim_equal(lathe_dim a, lathe_dim b)
{
	if (a.sym >= 0 || b.sym >= 0)
		return a.sym == b.sym;
	return a.size == b.size && a.size >= 0;
}

/* The type that describes both a and b: kinds and dtypes must agree (an
 * optional absorbs its element kind), differing dims become unknown. */
static lathe_type merge_types(lathe_arena *ar, const lathe_type *a, const lathe_type *b)
{
	if (a->kind == LATHE_TY_UNKNOWN)
		return copy_type(ar, b);
	if (b->kind == LATHE_TY_UNKNOWN)
		return copy_type(ar, a);
	lathe_type r = copy_type(ar, a);
	if (a->kind != b->kind) {
		if (a->kind == LATHE_TY_OPTIONAL && a->elem_kind == b->kind) {
			/* keep r: optional of a's element */
		} else if (b->kind == LATHE_TY_OPTIONAL && b->elem_kind == a->kind) {
			r.kind = LATHE_TY_OPTIONAL;
			r.elem_kind = a->kind;
		} else {
			return lathe_type_unknown();
		}
	}
	if (a->dtype != b->dtype && b->dtype != LATHE_DT_UNDEF) {
		if (a->dtype == LATHE_DT_UNDEF)
			r.dtype = b->dtype;
		else
			return lathe_type_unknown();
	}
	if (a->rank != b->rank) {
		r.rank = -1;
		r.dims = NULL;
		return r;
	}
	for (int i = 0; i < r.rank; i++) {
		if (!dim_equal(a->dims[i], b->dims[i])) {
			r.dims[i].size = -1;
			r.dims[i].sym = -1;
		}
	}
	return r;
}

static const lathe_type *sub_out_type(lathe_graph *g, int i)
{
	return &lathe_graph_value(g, g->outputs.data[i])->type;
}

static lathe_err node_graph(const lathe_node *n, const char *name, lathe_graph **out)
{
	const lathe_attr *a = lathe_node_attr(n, name);
	if (!a || a->kind != LATHE_ATTR_GRAPH || !a->u.g)
		return lathe_error(LATHE_EINVAL, "missing graph attribute '%s'", name);
	*out = a->u.g;
	return NULL;
}

static int64_t root_opset(const lathe_graph *g)
{
	while (g->parent)
		g = g->parent;
	return g->opset;
}

/* ---- run-time helpers -------------------------------------------------------- */

static lathe_err scalar_bool(const lathe_rvalue *v, const char *what, bool *out)
{
	if (v->kind != LATHE_TY_TENSOR || !v->t)
		return lathe_error(LATHE_EINVAL, "%s must be a tensor", what);
	if (v->t->dtype == LATHE_DT_STR)
		return lathe_error(LATHE_EINVAL, "%s must be a bool, not a string", what);
	if (lathe_tensor_numel(v->t) != 1)
		return lathe_error(LATHE_EINVAL, "%s must hold one element, not %lld", what,
				   (long long)lathe_tensor_numel(v->t));
	*out = lathe_rt_load_f64(v->t, 0) != 0;
	return NULL;
}

static lathe_err new_scalar(lathe_arena *a, int dtype, int64_t value, lathe_tensor **out)
{
	LATHE_TRY(lathe_tensor_alloc(a, dtype, 0, NULL, out));
	lathe_rt_store_i64(*out, 0, value);
	return NULL;
}

/* Slice index `idx` of `axis` out of t (the axis removed). */
static lathe_err take_slice(lathe_arena *a, const lathe_tensor *t, int axis, int64_t idx,
			    lathe_tensor **out)
{
	if (t->rank > 64)
		return lathe_error(LATHE_EUNSUPPORTED, "rank %d is too large for a scan input",
				   (int)t->rank);
	return lathe_tensor_slice(a, t, axis, idx, 1, true, out);
}

/* Stacks n tensors of one shape along a new axis `axis` (0..rank). elem
 * gives the dtype and element shape to use when n == 0. */
static lathe_err stack(lathe_arena *a, lathe_tensor *const *ts, int64_t n, int axis,
		       int dtype, int erank, const int64_t *eshape, lathe_tensor **out)
{
	int64_t shape[65];
	if (n > 0) {
		dtype = ts[0]->dtype;
		erank = ts[0]->rank;
		eshape = ts[0]->shape;
	}
	if (erank > 64)
		return lathe_error(LATHE_EUNSUPPORTED, "rank %d is too large to stack", erank);
	if (axis < 0 || axis > erank)
		return lathe_error(LATHE_EINVAL, "axis %d out of range for rank %d", axis,
				   erank + 1);
	for (int64_t k = 1; k < n; k++) {
		if (ts[k]->dtype != dtype || ts[k]->rank != erank ||
		    memcmp(ts[k]->shape, eshape, sizeof(int64_t) * (size_t)erank))
			return lathe_error(LATHE_EINVAL,
					   "scan output of iteration %lld has a different "
					   "shape or type than iteration 0", (long long)k);
	}
	int64_t outer = 1, inner = 1;
	for (int i = 0, r = 0; i <= erank; i++) {
		if (i == axis) {
			shape[i] = n;
			continue;
		}
		shape[i] = eshape[r];
		if (i < axis)
			outer *= eshape[r];
		else
			inner *= eshape[r];
		r++;
	}
	LATHE_TRY(lathe_tensor_alloc(a, dtype, erank + 1, shape, out));
	size_t es = lathe_dtype_size(dtype);
	size_t blk = (size_t)inner * es;
	for (int64_t k = 0; k < n; k++)
		for (int64_t o = 0; o < outer; o++)
			memcpy((char *)(*out)->data + (size_t)(o * n + k) * blk,
			       (const char *)ts[k]->data + (size_t)o * blk, blk);
	return NULL;
}

/* Element shape of a body output for a scan that ran zero times: declared
 * dims, unknown ones taken as 0 (the result is empty either way). */
static void empty_elem_shape(const lathe_type *t, int *rank, int64_t *shape)
{
	*rank = t->rank < 0 ? 0 : (t->rank > 64 ? 64 : t->rank);
	for (int i = 0; i < *rank; i++)
		shape[i] = (t->dims[i].sym < 0 && t->dims[i].size >= 0) ? t->dims[i].size : 0;
}

/* ---- If ---------------------------------------------------------------------- */

lathe_err infer_if(lathe_infer_ctx *c)
{
	lathe_graph *tg = NULL, *eg = NULL;
	LATHE_TRY(node_graph(c->node, "then_branch", &tg));
	LATHE_TRY(node_graph(c->node, "else_branch", &eg));
	if ((int)tg->outputs.len != c->nout || (int)eg->outputs.len != c->nout)
		return lathe_error(LATHE_EINVAL,
				   "then_branch has %d outputs and else_branch %d, but the "
				   "node has %d", (int)tg->outputs.len, (int)eg->outputs.len,
				   c->nout);
	for (int i = 0; i < c->nout; i++)
		c->out[i] = merge_types(c->arena, sub_out_type(tg, i), sub_out_type(eg, i));
	return NULL;
}

lathe_err kernel_if(lathe_kernel_ctx *c)
{
	bool cond = false;
	LATHE_TRY(scalar_bool(&c->in[0], "cond", &cond));
	lathe_graph *g = NULL;
	LATHE_TRY(node_graph(c->node, cond ? "then_branch" : "else_branch", &g));
	if ((int)g->outputs.len != c->nout)
		return lathe_error(LATHE_EINVAL, "%s has %d outputs, the node %d",
				   cond ? "then_branch" : "else_branch", (int)g->outputs.len,
				   c->nout);
	LATHE_TRYF(lathe_exec_run_subgraph(c, g, NULL, c->out), "%s",
		   cond ? "then_branch" : "else_branch");
	return NULL;
}

typedef LATHE_VEC(lathe_tensor *) tensor_vec;

/* ---- Loop -------------------------------------------------------------------- */

/* Body: (iter, cond, carried...) -> (cond, carried..., scan...). */
static lathe_err loop_shape(const lathe_node *n, lathe_graph *body, int nin, int nout,
			    int *ncarried, int *nscan)
{
	*ncarried = nin - 2;
	if (*ncarried < 0)
		return lathe_error(LATHE_EINVAL, "Loop needs inputs M and cond (possibly empty)");
	if ((int)body->inputs.len != *ncarried + 2)
		return lathe_error(LATHE_EINVAL,
				   "body takes %d inputs but the Loop carries %d values (+2)",
				   (int)body->inputs.len, *ncarried);
	*nscan = (int)body->outputs.len - 1 - *ncarried;
	if (*nscan < 0)
		return lathe_error(LATHE_EINVAL, "body has %d outputs, fewer than 1 + %d carried",
				   (int)body->outputs.len, *ncarried);
	if (nout != *ncarried + *nscan)
		return lathe_error(LATHE_EINVAL, "Loop has %d outputs, body gives %d carried + %d scan",
				   nout, *ncarried, *nscan);
	return NULL;
}

lathe_err infer_loop(lathe_infer_ctx *c)
{
	lathe_graph *body = NULL;
	int nc = 0, ns = 0;
	LATHE_TRY(node_graph(c->node, "body", &body));
	LATHE_TRY(loop_shape(c->node, body, c->nin, c->nout, &nc, &ns));
	for (int i = 0; i < nc; i++) {
		const lathe_type *bt = sub_out_type(body, 1 + i);
		c->out[i] = c->in[2 + i] ? merge_types(c->arena, c->in[2 + i], bt)
					 : copy_type(c->arena, bt);
		/* a loop that may run zero times yields the initial value: a
		 * declared optional body output is then still right. */
	}
	for (int j = 0; j < ns; j++) {
		const lathe_type *bt = sub_out_type(body, 1 + nc + j);
		lathe_type t = lathe_type_unknown();
		if (bt->kind == LATHE_TY_TENSOR) {
			t = copy_type(c->arena, bt);
			if (bt->rank >= 0) {
				t.rank = bt->rank + 1;
				t.dims = lathe_arena_new(c->arena, lathe_dim, t.rank);
				t.dims[0].size = -1;
				t.dims[0].sym = -1;
				if (bt->rank > 0)
					memcpy(t.dims + 1, bt->dims, sizeof(lathe_dim) * (size_t)bt->rank);
			}
		}
		c->out[nc + j] = t;
	}
	return NULL;
}

lathe_err kernel_loop(lathe_kernel_ctx *c)
{
	lathe_graph *body = NULL;
	int nc = 0, ns = 0;
	LATHE_TRY(node_graph(c->node, "body", &body));
	LATHE_TRY(loop_shape(c->node, body, c->nin, c->nout, &nc, &ns));

	bool has_m = c->in[0].kind == LATHE_TY_TENSOR && c->in[0].t;
	bool has_cond = c->in[1].kind == LATHE_TY_TENSOR && c->in[1].t;
	int64_t m = INT64_MAX;
	bool cond = true;
	if (has_m) {
		if (lathe_tensor_numel(c->in[0].t) != 1)
			return lathe_error(LATHE_EINVAL, "M must hold one element");
		m = lathe_rt_load_i64(c->in[0].t, 0);
	}
	if (has_cond)
		LATHE_TRY(scalar_bool(&c->in[1], "cond", &cond));
	if (!has_m && !has_cond)
		return lathe_error(LATHE_EINVAL,
				   "Loop with neither a trip count M nor a condition never ends");

	lathe_rvalue *bin = lathe_arena_new(c->arena, lathe_rvalue, nc + 2);
	lathe_rvalue *bout = lathe_arena_new(c->arena, lathe_rvalue, nc + ns + 1);
	for (int k = 0; k < nc; k++)
		bin[2 + k] = c->in[2 + k];
	tensor_vec *scans = lathe_arena_new(c->arena, tensor_vec, ns > 0 ? ns : 1);
	lathe_err err = NULL;
	int64_t it = 0;
	for (; it < m && cond; it++) {
		lathe_tensor *ti = NULL, *tc = NULL;
		if ((err = new_scalar(c->arena, LATHE_DT_I64, it, &ti)))
			break;
		if ((err = new_scalar(c->arena, LATHE_DT_BOOL, cond, &tc)))
			break;
		bin[0] = lathe_rvalue_tensor(ti);
		bin[1] = lathe_rvalue_tensor(tc);
		if ((err = lathe_exec_run_subgraph(c, body, bin, bout))) {
			err = lathe_error_wrap(err, "iteration %lld", (long long)it);
			break;
		}
		if ((err = scalar_bool(&bout[0], "body's cond output", &cond)))
			break;
		if (!has_cond)
			cond = true; /* the output is required but ignored */
		for (int k = 0; k < nc; k++)
			bin[2 + k] = bout[1 + k];
		for (int j = 0; j < ns; j++) {
			lathe_rvalue *v = &bout[1 + nc + j];
			if (v->kind != LATHE_TY_TENSOR || !v->t) {
				err = lathe_error(LATHE_EINVAL, "scan output %d is not a tensor", j);
				break;
			}
			lathe_vec_push(&scans[j], v->t);
		}
		if (err)
			break;
	}
	for (int k = 0; k < nc && !err; k++)
		c->out[k] = bin[2 + k];
	for (int j = 0; j < ns; j++) {
		if (!err) {
			int er = 0;
			int64_t es[64];
			empty_elem_shape(sub_out_type(body, 1 + nc + j), &er, es);
			lathe_tensor *t = NULL;
			err = stack(c->arena, scans[j].data, (int64_t)scans[j].len, 0,
				    sub_out_type(body, 1 + nc + j)->dtype, er, es, &t);
			if (!err)
				c->out[nc + j] = lathe_rvalue_tensor(t);
			else
				err = lathe_error_wrap(err, "scan output %d", j);
		}
		lathe_vec_free(&scans[j]);
	}
	return err;
}

/* ---- Scan -------------------------------------------------------------------- */

typedef struct scan_spec {
	int nstate, nin, nout;   /* state vars, scan inputs, scan outputs */
	int *in_axis, *in_rev;   /* per scan input */
	int *out_axis, *out_rev; /* per scan output (axis < 0: relative to rank+1) */
} scan_spec;

static lathe_err scan_attrs(const lathe_node *n, lathe_arena *a, lathe_graph *body,
			    int nin_node, int nout_node, bool v8, scan_spec *s)
{
	int64_t k = lathe_node_attr_int(n, "num_scan_inputs", -1);
	int first = v8 ? 1 : 0;
	if (k < 1 || k > nin_node - first)
		return lathe_error(LATHE_EINVAL, "num_scan_inputs %lld is out of range for %d inputs",
				   (long long)k, nin_node - first);
	s->nin = (int)k;
	s->nstate = nin_node - first - s->nin;
	s->nout = nout_node - s->nstate;
	if (s->nout < 0)
		return lathe_error(LATHE_EINVAL, "Scan has %d outputs, fewer than its %d states",
				   nout_node, s->nstate);
	if ((int)body->inputs.len != s->nstate + s->nin ||
	    (int)body->outputs.len != s->nstate + s->nout)
		return lathe_error(LATHE_EINVAL,
				   "body has %d inputs and %d outputs; expected %d and %d",
				   (int)body->inputs.len, (int)body->outputs.len,
				   s->nstate + s->nin, s->nstate + s->nout);
	s->in_axis = lathe_arena_new(a, int, s->nin + 1);
	s->in_rev = lathe_arena_new(a, int, s->nin + 1);
	s->out_axis = lathe_arena_new(a, int, s->nout + 1);
	s->out_rev = lathe_arena_new(a, int, s->nout + 1);
	int64_t cnt = 0;
	const int64_t *v = lathe_node_attr_ints(n, v8 ? "directions" : "scan_input_directions", &cnt);
	for (int i = 0; v && i < s->nin && i < cnt; i++)
		s->in_rev[i] = v[i] != 0;
	if (!v8) {
		v = lathe_node_attr_ints(n, "scan_input_axes", &cnt);
		for (int i = 0; v && i < s->nin && i < cnt; i++)
			s->in_axis[i] = (int)v[i];
		v = lathe_node_attr_ints(n, "scan_output_axes", &cnt);
		for (int i = 0; v && i < s->nout && i < cnt; i++)
			s->out_axis[i] = (int)v[i];
		v = lathe_node_attr_ints(n, "scan_output_directions", &cnt);
		for (int i = 0; v && i < s->nout && i < cnt; i++)
			s->out_rev[i] = v[i] != 0;
	}
	return NULL;
}

lathe_err infer_scan(lathe_infer_ctx *c)
{
	lathe_graph *body = NULL;
	scan_spec s;
	bool v8 = root_opset(c->graph) < 9;
	LATHE_TRY(node_graph(c->node, "body", &body));
	LATHE_TRY(scan_attrs(c->node, c->arena, body, c->nin, c->nout, v8, &s));
	int first = v8 ? 1 : 0;
	/* The sequence length: the scanned axis of the first scan input. */
	lathe_dim len = {-1, -1};
	const lathe_type *x0 = c->in[first + s.nstate];
	if (x0 && x0->rank > 0) {
		int ax = 0;
		if (!lathe_norm_axis(v8 ? 1 : s.in_axis[0], x0->rank, &ax))
			len = x0->dims[ax];
	}
	for (int i = 0; i < s.nstate; i++) {
		const lathe_type *it = c->in[first + i];
		c->out[i] = it ? merge_types(c->arena, it, sub_out_type(body, i))
			       : copy_type(c->arena, sub_out_type(body, i));
	}
	for (int j = 0; j < s.nout; j++) {
		const lathe_type *bt = sub_out_type(body, s.nstate + j);
		lathe_type t = copy_type(c->arena, bt);
		if (bt->kind != LATHE_TY_TENSOR || bt->rank < 0) {
			t.rank = -1;
			t.dims = NULL;
			c->out[s.nstate + j] = t;
			continue;
		}
		int extra = v8 ? 2 : 1;
		t.rank = bt->rank + extra;
		t.dims = lathe_arena_new(c->arena, lathe_dim, t.rank);
		int ax = v8 ? 1 : s.out_axis[j];
		if (ax < 0)
			ax += bt->rank + 1;
		if (ax < 0 || ax > bt->rank)
			return lathe_error(LATHE_EINVAL, "scan_output_axes[%d] = %d out of range", j,
					   s.out_axis[j]);
		int r = 0, d = 0;
		if (v8) {
			t.dims[d++] = x0 && x0->rank > 0 ? x0->dims[0] : (lathe_dim){-1, -1};
		}
		for (int i = 0; i <= bt->rank; i++) {
			if (i == ax)
				t.dims[d++] = len;
			else
				t.dims[d++] = bt->dims[r++];
		}
		c->out[s.nstate + j] = t;
	}
	return NULL;
}

/* One Scan-9 run over states[] and scan inputs xs[]; len = iterations. */
static lathe_err scan_run(lathe_kernel_ctx *c, lathe_graph *body, const scan_spec *s,
			  const lathe_rvalue *states, lathe_tensor *const *xs, int64_t len,
			  lathe_rvalue *out)
{
	int nb = s->nstate + s->nin;
	lathe_rvalue *bin = lathe_arena_new(c->arena, lathe_rvalue, nb + 1);
	lathe_rvalue *bout = lathe_arena_new(c->arena, lathe_rvalue, s->nstate + s->nout + 1);
	lathe_tensor **col = lathe_arena_new(c->arena, lathe_tensor *,
					     (size_t)(s->nout > 0 ? s->nout : 1) * (size_t)(len > 0 ? len : 1));
	int *axes = lathe_arena_new(c->arena, int, s->nin + 1);
	for (int i = 0; i < s->nstate; i++)
		bin[i] = states[i];
	for (int k = 0; k < s->nin; k++) {
		int ax = 0;
		LATHE_TRYF(lathe_norm_axis(s->in_axis[k], xs[k]->rank, &ax), "scan input %d", k);
		if (xs[k]->shape[ax] != len)
			return lathe_error(LATHE_EINVAL,
					   "scan input %d has %lld steps along axis %d, input 0 has %lld",
					   k, (long long)xs[k]->shape[ax], ax, (long long)len);
		axes[k] = ax;
	}
	for (int64_t t = 0; t < len; t++) {
		for (int k = 0; k < s->nin; k++) {
			lathe_tensor *sl = NULL;
			LATHE_TRY(take_slice(c->arena, xs[k], axes[k], s->in_rev[k] ? len - 1 - t : t, &sl));
			bin[s->nstate + k] = lathe_rvalue_tensor(sl);
		}
		LATHE_TRYF(lathe_exec_run_subgraph(c, body, bin, bout), "iteration %lld", (long long)t);
		for (int i = 0; i < s->nstate; i++)
			bin[i] = bout[i];
		for (int j = 0; j < s->nout; j++) {
			lathe_rvalue *v = &bout[s->nstate + j];
			if (v->kind != LATHE_TY_TENSOR || !v->t)
				return lathe_error(LATHE_EINVAL, "scan output %d is not a tensor", j);
			col[(size_t)j * (size_t)len + (size_t)(s->out_rev[j] ? len - 1 - t : t)] = v->t;
		}
	}
	for (int i = 0; i < s->nstate; i++)
		out[i] = bin[i];
	for (int j = 0; j < s->nout; j++) {
		const lathe_type *bt = sub_out_type(body, s->nstate + j);
		int er = 0;
		int64_t es[64];
		empty_elem_shape(bt, &er, es);
		if (len > 0)
			er = col[(size_t)j * (size_t)len]->rank;
		int ax = s->out_axis[j] < 0 ? s->out_axis[j] + er + 1 : s->out_axis[j];
		lathe_tensor *st = NULL;
		LATHE_TRYF(stack(c->arena, col + (size_t)j * (size_t)len, len, ax, bt->dtype, er, es, &st),
			   "scan output %d", j);
		out[s->nstate + j] = lathe_rvalue_tensor(st);
	}
	return NULL;
}

/* Scan-8: inputs (sequence_lens?, states..., scan inputs...) all batched on
 * axis 0, scanned on axis 1.  Rows run one at a time; steps past a row's
 * length leave zeros in the scan outputs. */
static lathe_err scan8(lathe_kernel_ctx *c, lathe_graph *body, scan_spec *s)
{
	lathe_tensor *const *ins = NULL;
	lathe_tensor **all = lathe_arena_new(c->arena, lathe_tensor *, c->nin + 1);
	for (int i = 1; i < c->nin; i++) {
		if (c->in[i].kind != LATHE_TY_TENSOR || !c->in[i].t || c->in[i].t->rank < 1)
			return lathe_error(LATHE_EINVAL, "input %d must be a batched tensor", i);
		all[i] = c->in[i].t;
	}
	ins = all;
	int64_t batch = ins[1]->shape[0];
	int64_t maxlen = 0;
	if (s->nin > 0) {
		lathe_tensor *x0 = ins[1 + s->nstate];
		if (x0->rank < 2)
			return lathe_error(LATHE_EINVAL, "scan input needs [batch, time, ...] dims");
		maxlen = x0->shape[1];
	}
	const lathe_tensor *lens = c->in[0].kind == LATHE_TY_TENSOR ? c->in[0].t : NULL;
	lathe_rvalue *states = lathe_arena_new(c->arena, lathe_rvalue, s->nstate + 1);
	lathe_tensor **xs = lathe_arena_new(c->arena, lathe_tensor *, s->nin + 1);
	lathe_rvalue *res = lathe_arena_new(c->arena, lathe_rvalue, s->nstate + s->nout + 1);
	int nres = s->nstate + s->nout;
	lathe_tensor **rows = lathe_arena_new(c->arena, lathe_tensor *,
					      (size_t)(nres > 0 ? nres : 1) * (size_t)(batch > 0 ? batch : 1));
	for (int k = 0; k < s->nin; k++)
		s->in_axis[k] = 0; /* after removing the batch axis, time is axis 0 */
	for (int64_t b = 0; b < batch; b++) {
		int64_t len = maxlen;
		if (lens && lens->data) {
			if (lathe_tensor_numel(lens) != batch)
				return lathe_error(LATHE_EINVAL, "sequence_lens has %lld entries, batch is %lld",
						   (long long)lathe_tensor_numel(lens), (long long)batch);
			len = lathe_rt_load_i64(lens, b);
			if (len < 0 || len > maxlen)
				return lathe_error(LATHE_EINVAL, "sequence_lens[%lld] = %lld out of [0, %lld]",
						   (long long)b, (long long)len, (long long)maxlen);
		}
		for (int i = 0; i < s->nstate; i++) {
			lathe_tensor *t = NULL;
			LATHE_TRY(take_slice(c->arena, ins[1 + i], 0, b, &t));
			states[i] = lathe_rvalue_tensor(t);
		}
		for (int k = 0; k < s->nin; k++) {
			lathe_tensor *t = NULL;
			LATHE_TRY(take_slice(c->arena, ins[1 + s->nstate + k], 0, b, &t));
			if (len < maxlen) /* shorten to the row's length */
				t->shape[0] = len;
			xs[k] = t;
		}
		LATHE_TRYF(scan_run(c, body, s, states, xs, len, res), "batch row %lld", (long long)b);
		for (int i = 0; i < nres; i++) {
			lathe_tensor *t = res[i].t;
			if (i >= s->nstate && len < maxlen) { /* pad to maxlen with zeros */
				lathe_tensor *p = NULL;
				int64_t shp[64];
				memcpy(shp, t->shape, sizeof(int64_t) * (size_t)t->rank);
				shp[0] = maxlen;
				LATHE_TRY(lathe_tensor_alloc(c->arena, t->dtype, t->rank, shp, &p));
				memcpy(p->data, t->data, lathe_tensor_nbytes(t));
				t = p;
			}
			rows[(size_t)i * (size_t)batch + (size_t)b] = t;
		}
	}
	for (int i = 0; i < nres; i++) {
		const lathe_type *bt = sub_out_type(body, i);
		int er = 0;
		int64_t es[64];
		empty_elem_shape(bt, &er, es);
		lathe_tensor *t = NULL;
		LATHE_TRYF(stack(c->arena, rows + (size_t)i * (size_t)batch, batch, 0, bt->dtype,
				 er, es, &t), "output %d", i);
		c->out[i] = lathe_rvalue_tensor(t);
	}
	return NULL;
}

lathe_err kernel_scan(lathe_kernel_ctx *c)
{
	lathe_graph *body = NULL;
	scan_spec s;
	bool v8 = root_opset(c->graph) < 9;
	LATHE_TRY(node_graph(c->node, "body", &body));
	LATHE_TRY(scan_attrs(c->node, c->arena, body, c->nin, c->nout, v8, &s));
	if (v8)
		return scan8(c, body, &s);
	lathe_tensor **xs = lathe_arena_new(c->arena, lathe_tensor *, s.nin + 1);
	for (int k = 0; k < s.nin; k++) {
		const lathe_rvalue *v = &c->in[s.nstate + k];
		if (v->kind != LATHE_TY_TENSOR || !v->t || v->t->rank < 1)
			return lathe_error(LATHE_EINVAL, "scan input %d must be a tensor of rank >= 1", k);
		xs[k] = v->t;
	}
	int ax = 0;
	LATHE_TRYF(lathe_norm_axis(s.in_axis[0], xs[0]->rank, &ax), "scan input 0");
	return scan_run(c, body, &s, c->in, xs, xs[0]->shape[ax], c->out);
}
