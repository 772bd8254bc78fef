/* exec.c: the graph executor of the interpreter backend.
 *
 * Runs a graph node by node.  A frame holds the run-time value of every
 * value id of one graph; subgraph frames (If/Loop/Scan bodies) point at the
 * frame that runs the node owning them, which is where their captures are
 * found.  For an op with a compute, each node is lowered for the concrete
 * types of its inputs into a loop-IR function in a scratch arena, verified,
 * simplified and interpreted; for an op with an extern kernel the kernel
 * runs on the tensors directly.
 *
 * Invariants: a frame's value is set before any node that reads it runs
 * (the graph is in topological order); run-time tensors live in the
 * executor's arena and are never freed alone.
 */
#include "exec/exec.h"
#include "lower/group.h"

#include <stdlib.h>
#include <string.h>

typedef struct frame {
	lathe_graph *g;
	lathe_rvalue *vals;
	bool *have;
	struct frame *parent;
} frame;

struct lathe_exec {
	lathe_arena *arena;
	frame *top; /* the frame whose node is running */
	int depth;
	lathe_exec_backend backend; /* run == NULL: the interpreter */
};

enum { MAX_SUBGRAPH_DEPTH = 64 };

lathe_exec *lathe_exec_create(lathe_arena *arena)
{
	lathe_exec *e = lathe_xcalloc(1, sizeof *e);
	e->arena = arena;
	return e;
}

void lathe_exec_destroy(lathe_exec *e)
{
	free(e);
}

void lathe_exec_set_backend(lathe_exec *e, const lathe_exec_backend *b)
{
	e->backend = b ? *b : (lathe_exec_backend){0};
}

static const char *node_label(lathe_arena *a, const lathe_node *n)
{
	return lathe_arena_printf(a, "node '%s' (%s)", n->name ? n->name : "",
				  lathe_op_name(n->op));
}

/* The type of a run-time tensor value. */
static lathe_type rvalue_type(lathe_arena *a, const lathe_rvalue *v)
{
	lathe_type t = {0};
	if (v->kind == LATHE_TY_TENSOR && v->t)
		return lathe_type_tensor(a, v->t->dtype, v->t->rank, v->t->shape);
	t.kind = v->kind;
	t.elem_kind = LATHE_TY_TENSOR;
	t.dtype = v->dtype;
	t.rank = -1;
	return t;
}

static void type_str(lathe_buf *b, const lathe_graph *g, const lathe_type *t)
{
	lathe_type_print(b, g, t);
}

/* Checks a run-time input against the graph's declared input type. */
static lathe_err check_input(lathe_graph *g, const lathe_value *decl, const lathe_rvalue *v,
			     lathe_arena *a)
{
	const lathe_type *want = &decl->type;
	if (want->kind == LATHE_TY_UNKNOWN)
		return NULL;
	if (want->kind == LATHE_TY_OPTIONAL)
		return NULL; /* anything or nothing */
	if (v->kind != want->kind) {
		return lathe_error(LATHE_EINVAL, "input '%s': expected a %s, got a %s", decl->name,
				   want->kind == LATHE_TY_SEQUENCE ? "sequence" : "tensor",
				   v->kind == LATHE_TY_SEQUENCE ? "sequence" : "tensor");
	}
	if (v->kind != LATHE_TY_TENSOR)
		return NULL;
	bool ok = want->dtype == LATHE_DT_UNDEF || want->dtype == v->t->dtype;
	if (ok && want->rank >= 0) {
		ok = want->rank == v->t->rank;
		for (int i = 0; ok && i < want->rank; i++)
			if (want->dims[i].sym < 0 && want->dims[i].size >= 0 &&
			    want->dims[i].size != v->t->shape[i])
				ok = false;
	}
	if (ok)
		return NULL;
	lathe_type got = rvalue_type(a, v);
	lathe_buf bw = {0}, bg = {0};
	type_str(&bw, g, want);
	type_str(&bg, g, &got);
	lathe_err e = lathe_error(LATHE_EINVAL, "input '%s': expected %s, got %s", decl->name,
				  bw.data, bg.data);
	lathe_buf_free(&bw);
	lathe_buf_free(&bg);
	return e;
}

/* Finds the run-time value of a capture by name in the enclosing frames. */
static lathe_err resolve_outer(frame *f, lathe_vid v, lathe_rvalue *out)
{
	const char *name = f->g->values.data[v].name;
	for (frame *p = f->parent; p; p = p->parent) {
		uint64_t id;
		if (lathe_map_get(&p->g->names, name, &id) && p->have[id]) {
			*out = p->vals[id];
			return NULL;
		}
	}
	return lathe_error(LATHE_EINVAL, "subgraph '%s' uses '%s', which no enclosing graph defines",
			   f->g->name ? f->g->name : "", name);
}

lathe_err lathe_exec_lower_node(lathe_graph *g, const lathe_node *n,
				const lathe_type *const *in, const lathe_tensor *const *in_val,
				lathe_arena *a, lathe_tir_func **out)
{
	const lathe_op_info *op = &lathe_ops[n->op];
	if (!op->lower)
		return lathe_error(LATHE_EUNSUPPORTED, "%s is an extern kernel, not a loop program",
				   op->name);
	lathe_type *out_types = lathe_arena_new(a, lathe_type, n->nout);
	lathe_infer_ctx ic = {.graph = g, .node = n, .nin = n->nin, .nout = n->nout,
			      .in = in, .in_val = in_val, .out = out_types, .arena = a};
	LATHE_TRY(op->infer(&ic));
	for (int i = 0; i < n->nout; i++) {
		if (!lathe_type_is_static(&out_types[i]))
			return lathe_error(LATHE_EINTERNAL,
					   "output %d: shape inference left it unknown for known inputs", i);
	}
	lathe_tir_func *fn = lathe_tir_func_create(a, lathe_op_name(n->op));
	lathe_tir_buf **ib = lathe_arena_new(a, lathe_tir_buf *, n->nin + 1);
	lathe_tir_buf **ob = lathe_arena_new(a, lathe_tir_buf *, n->nout + 1);
	for (int i = 0; i < n->nin; i++) {
		if (!in[i] || in[i]->kind != LATHE_TY_TENSOR)
			continue;
		if (in[i]->dtype == LATHE_DT_STR) {
			lathe_tir_func_deinit(fn);
			return lathe_error(LATHE_EUNSUPPORTED, "input %d: strings in a loop program", i);
		}
		int64_t *shape = lathe_arena_new(a, int64_t, in[i]->rank + 1);
		for (int d = 0; d < in[i]->rank; d++)
			shape[d] = in[i]->dims[d].size;
		ib[i] = lathe_tir_param(fn, lathe_arena_printf(a, "in%d", i), in[i]->dtype,
					in[i]->rank, shape);
	}
	for (int i = 0; i < n->nout; i++) {
		int64_t *shape = lathe_arena_new(a, int64_t, out_types[i].rank + 1);
		for (int d = 0; d < out_types[i].rank; d++)
			shape[d] = out_types[i].dims[d].size;
		ob[i] = lathe_tir_param(fn, lathe_arena_printf(a, "out%d", i), out_types[i].dtype,
					out_types[i].rank, shape);
	}
	lathe_lower_ctx lc = {.graph = g, .node = n, .nin = n->nin, .nout = n->nout,
			      .in = in, .in_val = in_val, .out = out_types, .fn = fn,
			      .in_buf = ib, .out_buf = ob};
	lathe_err err = op->lower(&lc);
	if (err) {
		lathe_tir_func_deinit(fn);
		return err;
	}
	*out = fn;
	return NULL;
}

static lathe_err run_lowered(lathe_exec *e, lathe_graph *g, const lathe_node *n,
			     lathe_rvalue *in, lathe_rvalue *out)
{
	lathe_arena *scratch = lathe_arena_create();
	lathe_err err = NULL;
	const lathe_type **tin = lathe_arena_new(scratch, const lathe_type *, n->nin + 1);
	const lathe_tensor **vin = lathe_arena_new(scratch, const lathe_tensor *, n->nin + 1);
	uint32_t params = lathe_ops[n->op].params;
	for (int i = 0; i < n->nin; i++) {
		if (in[i].kind != LATHE_TY_TENSOR) {
			err = lathe_error(LATHE_EINVAL, "input %d: expected a tensor, got a %s", i,
					  in[i].kind == LATHE_TY_SEQUENCE ? "sequence" : "empty optional");
			goto done;
		}
		if (!in[i].t)
			continue;
		lathe_type *t = lathe_arena_new(scratch, lathe_type, 1);
		*t = rvalue_type(scratch, &in[i]);
		tin[i] = t;
		if (i < 32 && (params >> i & 1))
			vin[i] = in[i].t;
	}
	lathe_tir_func *fn = NULL;
	err = lathe_exec_lower_node(g, n, tin, vin, scratch, &fn);
	if (err)
		goto done;
	lathe_tir_simplify(fn);
	err = lathe_tir_verify(fn);
	if (err) {
		err = lathe_error_wrap(err, "internal error: the lowered loop program is invalid");
		goto done_fn;
	}
	void **args = lathe_arena_new(scratch, void *, fn->nparams + 1);
	int p = 0;
	for (int i = 0; i < n->nin; i++)
		if (tin[i])
			args[p++] = in[i].t->data;
	for (int i = 0; i < n->nout; i++) {
		lathe_tir_buf *b = fn->bufs.data[p];
		lathe_tensor *t;
		err = lathe_tensor_alloc(e->arena, b->dtype, b->rank, b->shape, &t);
		if (err)
			goto done_fn;
		out[i] = (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = t->dtype, .t = t};
		args[p++] = t->data;
	}
	err = e->backend.run ? e->backend.run(e->backend.ctx, fn, args) : lathe_tir_interp(fn, args);
done_fn:
	lathe_tir_func_deinit(fn);
done:
	lathe_arena_destroy(scratch);
	return err;
}

static lathe_err run_kernel(lathe_exec *e, lathe_graph *g, const lathe_node *n,
			    lathe_rvalue *in, lathe_rvalue *out)
{
	lathe_kernel_ctx kc = {.graph = g, .node = n, .nin = n->nin, .nout = n->nout,
			       .in = in, .out = out, .arena = e->arena, .exec = e};
	LATHE_TRY(lathe_ops[n->op].kernel(&kc));
	for (int i = 0; i < n->nout; i++) {
		if (out[i].kind == LATHE_TY_TENSOR && !out[i].t)
			return lathe_error(LATHE_EINTERNAL, "kernel left output %d unset", i);
	}
	return NULL;
}

/* A fusion group (passes/fuse.c) runs as one loop program (lower/group.c).
 * Where it cannot (its lowering fails, or run-time types differ from the
 * graph's static ones), *done stays false and its nodes run one by one,
 * which reports any real error with the node's name. */
static lathe_err run_group(lathe_exec *e, frame *f, size_t first, size_t count, bool *done)
{
	lathe_arena *scratch = lathe_arena_create();
	lathe_group_io io;
	lathe_tir_func *fn = NULL;
	*done = false;
	lathe_err err = lathe_lower_group(f->g, first, count, scratch, &io, &fn);
	if (err) {
		lathe_error_free(err);
		lathe_arena_destroy(scratch);
		return NULL;
	}
	void **args = lathe_arena_new(scratch, void *, fn->nparams + 1);
	lathe_tensor **outs = lathe_arena_new(scratch, lathe_tensor *, io.nout + 1);
	bool ok = true;
	for (int i = 0; i < io.nin && ok; i++) {
		const lathe_tir_buf *b = fn->bufs.data[i];
		const lathe_rvalue *rv = &f->vals[io.in[i]];
		ok = f->have[io.in[i]] && rv->kind == LATHE_TY_TENSOR && rv->t &&
		     rv->t->dtype == b->dtype && rv->t->rank == b->rank &&
		     (!b->rank || !memcmp(rv->t->shape, b->shape, sizeof(int64_t) * (size_t)b->rank));
		args[i] = ok ? rv->t->data : NULL;
	}
	for (int i = 0; i < io.nout && ok && !err; i++) {
		const lathe_tir_buf *b = fn->bufs.data[io.nin + i];
		err = lathe_tensor_alloc(e->arena, b->dtype, b->rank, b->shape, &outs[i]);
		if (!err)
			args[io.nin + i] = outs[i]->data;
	}
	if (ok && !err) {
		lathe_tir_simplify(fn);
		err = e->backend.run ? e->backend.run(e->backend.ctx, fn, args) : lathe_tir_interp(fn, args);
	}
	if (ok && !err) {
		for (int i = 0; i < io.nout; i++) {
			f->vals[io.out[i]] = (lathe_rvalue){.kind = LATHE_TY_TENSOR,
							    .dtype = outs[i]->dtype, .t = outs[i]};
			f->have[io.out[i]] = true;
		}
		*done = true;
	}
	if (err)
		err = lathe_error_wrap(err, "fused nodes '%s'..'%s'", f->g->nodes.data[first].name,
				       f->g->nodes.data[first + count - 1].name);
	lathe_tir_func_deinit(fn);
	lathe_arena_destroy(scratch);
	return err;
}

static lathe_err run_frame(lathe_exec *e, frame *f, const lathe_rvalue *in, lathe_rvalue *out)
{
	lathe_graph *g = f->g;
	size_t nv = g->values.len;
	f->vals = lathe_arena_new(e->arena, lathe_rvalue, nv + 1);
	f->have = lathe_arena_new(e->arena, bool, nv + 1);
	for (size_t v = 0; v < nv; v++) {
		lathe_value *val = &g->values.data[v];
		switch (val->def) {
		case LATHE_DEF_CONST:
			f->vals[v] = (lathe_rvalue){.kind = LATHE_TY_TENSOR,
						    .dtype = val->konst->dtype, .t = val->konst};
			f->have[v] = true;
			break;
		case LATHE_DEF_OUTER:
			LATHE_TRY(resolve_outer(f, (lathe_vid)v, &f->vals[v]));
			f->have[v] = true;
			break;
		case LATHE_DEF_INPUT:
			LATHE_TRY(check_input(g, val, &in[val->index], e->arena));
			f->vals[v] = in[val->index];
			f->have[v] = true;
			break;
		default:
			break;
		}
	}
	frame *saved = e->top;
	e->top = f;
	lathe_err err = NULL;
	for (size_t k = 0; k < g->nodes.len && !err; k++) {
		lathe_node *n = &g->nodes.data[k];
		if (n->dead)
			continue;
		if (n->group) {
			size_t first, count;
			bool done = false;
			lathe_group_range(g, k, &first, &count);
			if (first == k && count > 1)
				err = run_group(e, f, k, count, &done);
			if (err)
				break;
			if (done) {
				k += count - 1;
				continue;
			}
		}
		lathe_rvalue *nin = lathe_arena_new(e->arena, lathe_rvalue, n->nin + 1);
		lathe_rvalue *nout = lathe_arena_new(e->arena, lathe_rvalue, n->nout + 1);
		for (int i = 0; i < n->nin; i++) {
			if (n->in[i] == LATHE_NOVAL) {
				nin[i] = (lathe_rvalue){.kind = LATHE_TY_TENSOR};
				continue;
			}
			if (!f->have[n->in[i]]) {
				err = lathe_error(LATHE_EINVAL, "input %d ('%s') has no value", i,
						  g->values.data[n->in[i]].name);
				break;
			}
			nin[i] = f->vals[n->in[i]];
		}
		if (!err) {
			if (lathe_ops[n->op].lower)
				err = run_lowered(e, g, n, nin, nout);
			else
				err = run_kernel(e, g, n, nin, nout);
		}
		if (err) {
			err = lathe_error_wrap(err, "%s", node_label(e->arena, n));
			break;
		}
		for (int i = 0; i < n->nout; i++) {
			f->vals[n->out[i]] = nout[i];
			f->have[n->out[i]] = true;
		}
	}
	e->top = saved;
	if (err)
		return err;
	for (size_t i = 0; i < g->outputs.len; i++) {
		lathe_vid v = g->outputs.data[i];
		if (!f->have[v])
			return lathe_error(LATHE_EINVAL, "graph output '%s' has no value",
					   g->values.data[v].name);
		out[i] = f->vals[v];
	}
	return NULL;
}

lathe_err lathe_exec_run(lathe_exec *e, lathe_graph *g, const lathe_rvalue *in,
			 lathe_rvalue *out)
{
	frame f = {.g = g, .parent = e->top};
	return run_frame(e, &f, in, out);
}

lathe_err lathe_exec_run_subgraph(lathe_kernel_ctx *c, lathe_graph *sub,
				  const lathe_rvalue *in, lathe_rvalue *out)
{
	lathe_exec *e = c->exec;
	if (e->depth >= MAX_SUBGRAPH_DEPTH)
		return lathe_error(LATHE_EINVAL, "subgraphs nested deeper than %d", MAX_SUBGRAPH_DEPTH);
	frame f = {.g = sub, .parent = e->top};
	e->depth++;
	lathe_err err = run_frame(e, &f, in, out);
	e->depth--;
	return err;
}

/* ---- kernel helpers (declared in ops/op.h) -------------------------------- */

lathe_err lathe_kernel_output(lathe_kernel_ctx *c, int i, int dtype, int rank,
			      const int64_t *shape, lathe_tensor **out)
{
	LATHE_ASSERT(i >= 0 && i < c->nout);
	lathe_tensor *t;
	LATHE_TRY(lathe_tensor_alloc(c->arena, dtype, rank, shape, &t));
	c->out[i] = (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = dtype, .t = t};
	if (out)
		*out = t;
	return NULL;
}

typedef struct rt_alloc_ctx {
	lathe_kernel_ctx *kc;
	lathe_err err;
} rt_alloc_ctx;

static int rt_alloc(lathe_rt_call *call, int i, int32_t dtype, int32_t rank,
		    const int64_t *shape)
{
	rt_alloc_ctx *ac = call->alloc_ctx;
	if (i < 0 || i >= call->nout)
		return LATHE_RT_EINVAL;
	lathe_tensor *t;
	lathe_err err = lathe_kernel_output(ac->kc, i, dtype, rank, shape, &t);
	if (err) {
		if (!ac->err)
			ac->err = err;
		else
			lathe_error_free(err);
		return LATHE_RT_ENOMEM;
	}
	call->out[i] = *t;
	return LATHE_RT_OK;
}

lathe_err lathe_kernel_call_rt(lathe_kernel_ctx *c, lathe_rt_kernel fn,
			       const int64_t *ip, int nip, const double *fp, int nfp,
			       const char *const *sp, int nsp)
{
	if (c->capture) {
		lathe_rt_capture *k = c->capture;
		const char **s = lathe_arena_new(c->arena, const char *, nsp + 1);
		for (int i = 0; i < nsp; i++)
			s[i] = lathe_arena_strdup(c->arena, sp[i] ? sp[i] : "");
		*k = (lathe_rt_capture){
			.fn = fn, .nip = nip, .nfp = nfp, .nsp = nsp, .sp = s,
			.ip = lathe_arena_memdup(c->arena, ip, sizeof *ip * (size_t)(nip > 0 ? nip : 0)),
			.fp = lathe_arena_memdup(c->arena, fp, sizeof *fp * (size_t)(nfp > 0 ? nfp : 0))};
		return NULL;
	}
	lathe_tensor *in = lathe_arena_new(c->arena, lathe_tensor, c->nin + 1);
	lathe_tensor *out = lathe_arena_new(c->arena, lathe_tensor, c->nout + 1);
	for (int i = 0; i < c->nin; i++) {
		if (c->in[i].kind != LATHE_TY_TENSOR)
			return lathe_error(LATHE_EINVAL, "input %d: expected a tensor", i);
		if (c->in[i].t)
			in[i] = *c->in[i].t;
	}
	rt_alloc_ctx ac = {.kc = c};
	lathe_rt_call call = {.in = in, .nin = c->nin, .out = out, .nout = c->nout,
			      .ip = ip, .nip = nip, .fp = fp, .nfp = nfp, .sp = sp, .nsp = nsp,
			      .alloc = rt_alloc, .alloc_ctx = &ac};
	int rc = fn(&call);
	if (ac.err) {
		if (rc == LATHE_RT_OK)
			return ac.err;
		return lathe_error_wrap(ac.err, "%s", call.err[0] ? call.err : "kernel failed");
	}
	if (rc != LATHE_RT_OK) {
		enum lathe_code code = rc == LATHE_RT_EUNSUPPORTED ? LATHE_EUNSUPPORTED
				     : rc == LATHE_RT_ENOMEM	   ? LATHE_ENOMEM
								   : LATHE_EINVAL;
		return lathe_error(code, "%s", call.err[0] ? call.err : "kernel failed");
	}
	for (int i = 0; i < c->nout; i++)
		if (!c->out[i].t)
			return lathe_error(LATHE_EINTERNAL, "kernel did not produce output %d", i);
	return NULL;
}
