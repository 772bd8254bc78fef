/* functions.c: model-local functions (ModelProto.functions), inlined at
 * each call.
 *
 * Where it sits: import.c finds, for each node, whether (domain, op_type,
 * overload) names a FunctionProto of the model; if so the call is replaced
 * by the function's body, emitted node by node into the caller's graph.
 * Local functions are looked up before lathe's op table, so a model can
 * define an op lathe lacks (or override one) for itself.
 *
 * Invariants of an inlined call:
 *   - the body's values get names unique in the caller's graph
 *     ("<call or function name>/<body name>#<n>"), so two calls never clash;
 *   - formal inputs are bound to the caller's values, formal outputs to the
 *     caller's output names; a missing optional input stays missing;
 *   - attribute references (ref_attr_name) take the call's attribute or the
 *     function's default (attribute_proto); unbound ones are absent;
 *   - the body's nodes use the function's opset_import, then the model's;
 *   - nesting is bounded (ONNX_MAX_INLINE_DEPTH), so recursion is an error,
 *     and the total work is bounded by the importer's work budget, so
 *     calls that multiply (f calls g twice, g calls h twice, ...) cannot
 *     blow up memory.
 */
#include <stdio.h>
#include <string.h>

#include "onnx/internal.h"

enum { FP_NAME = 1, FP_INPUT = 4, FP_OUTPUT = 5, FP_ATTR = 6, FP_NODE = 7, FP_OPSET = 9,
       FP_DOMAIN = 10, FP_ATTR_PROTO = 11, FP_OVERLOAD = 13 };
enum { MP_FUNCTIONS = 25 };

static const char *func_key(lathe_arena *a, const char *dom, const char *name,
			    const char *overload)
{
	return lathe_arena_printf(a, "%s\x01%s\x01%s", dom, name, overload);
}

static lathe_err check_unique(onnx_ctx *c, const char **names, int n, const char *what)
{
	for (int i = 0; i < n; i++) {
		if (!*names[i])
			return lathe_pb_err(&c->pb, LATHE_EINVAL, "function %s %d has an empty name",
					    what, i);
		for (int j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				return lathe_pb_err(&c->pb, LATHE_EINVAL,
						    "function %s '%s' is listed twice", what, names[i]);
	}
	return NULL;
}

static lathe_err parse_function(onnx_ctx *c, lathe_pb_msg m, int64_t index, onnx_func *fn)
{
	memset(fn, 0, sizeof *fn);
	fn->index = index;
	fn->msg = m;
	fn->domain = fn->name = fn->overload = "";
	int64_t cnt[4] = {0, 0, 0, 0}; /* input, output, attribute, attribute_proto */
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		fn->cost++; /* a call walks every field of the function once */
		if (f.num == FP_INPUT)
			cnt[0]++;
		else if (f.num == FP_OUTPUT)
			cnt[1]++;
		else if (f.num == FP_ATTR)
			cnt[2]++;
		else if (f.num == FP_ATTR_PROTO)
			cnt[3]++;
	}
	for (int i = 0; i < 4; i++)
		if (cnt[i] > ONNX_MAX_FORMALS)
			return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
					    "function with more than %d inputs, outputs or attributes",
					    ONNX_MAX_FORMALS);
	fn->in = lathe_arena_new(c->arena, const char *, cnt[0] + 1);
	fn->out = lathe_arena_new(c->arena, const char *, cnt[1] + 1);
	fn->attr = lathe_arena_new(c->arena, const char *, cnt[2] + 1);
	fn->default_name = lathe_arena_new(c->arena, const char *, cnt[3] + 1);
	fn->default_msg = lathe_arena_new(c->arena, lathe_pb_msg, cnt[3] + 1);
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		switch (f.num) {
		case FP_NAME:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "name", c->arena, &fn->name));
			break;
		case FP_DOMAIN:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "domain", c->arena, &fn->domain));
			break;
		case FP_OVERLOAD:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "overload", c->arena, &fn->overload));
			break;
		case FP_INPUT:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "input", c->arena, &fn->in[fn->nin++]));
			break;
		case FP_OUTPUT:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "output", c->arena, &fn->out[fn->nout++]));
			break;
		case FP_ATTR:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "attribute", c->arena,
					       &fn->attr[fn->nattr++]));
			break;
		case FP_ATTR_PROTO: {
			size_t saved;
			LATHE_TRY(lathe_pb_enter_msg(&c->pb, &f, &saved, "attribute_proto",
						     fn->ndefault));
			LATHE_TRY(lathe_onnx_attr_names(c, f.sub, &fn->default_name[fn->ndefault],
							NULL));
			fn->default_msg[fn->ndefault++] = f.sub;
			lathe_pb_leave(&c->pb, saved);
			break;
		}
		default:
			break;
		}
	}
	if (!*fn->name)
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "function without a name");
	fn->domain = lathe_onnx_norm_domain(fn->domain);
	LATHE_TRY(check_unique(c, fn->in, fn->nin, "input"));
	LATHE_TRY(check_unique(c, fn->out, fn->nout, "output"));
	LATHE_TRY(lathe_onnx_opsets_parse(c, m, FP_OPSET, &fn->opsets));
	fn->opsets.fallback = &c->opsets;
	return NULL;
}

lathe_err lathe_onnx_functions_parse(onnx_ctx *c, lathe_pb_msg model)
{
	int64_t n;
	LATHE_TRY(lathe_pb_count(&c->pb, model, MP_FUNCTIONS, &n));
	c->funcs = lathe_arena_new(c->arena, onnx_func, n ? n : 1);
	c->nfunc = 0;
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = model;;) {
		LATHE_TRY(lathe_pb_next_of(&c->pb, &it, MP_FUNCTIONS, &f, &more));
		if (!more)
			break;
		size_t saved;
		LATHE_TRY(lathe_pb_enter_msg(&c->pb, &f, &saved, "functions", c->nfunc));
		onnx_func *fn = &c->funcs[c->nfunc];
		LATHE_TRY(parse_function(c, f.sub, c->nfunc, fn));
		const char *key = func_key(c->arena, fn->domain, fn->name, fn->overload);
		if (lathe_map_get(&c->func_index, key, NULL))
			return lathe_pb_err(&c->pb, LATHE_EINVAL, "function '%s::%s' is defined twice",
					    *fn->domain ? fn->domain : "ai.onnx", fn->name);
		lathe_map_put(&c->func_index, key, (uint64_t)c->nfunc);
		c->nfunc++;
		lathe_pb_leave(&c->pb, saved);
	}
	return NULL;
}

const onnx_func *lathe_onnx_function_find(const onnx_ctx *c, const char *domain,
					  const char *name, const char *overload)
{
	if (!c->nfunc)
		return NULL;
	char buf[256];
	const char *key = buf;
	int k = snprintf(buf, sizeof buf, "%s\x01%s\x01%s", domain, name, overload);
	if (k < 0 || (size_t)k >= sizeof buf)
		key = func_key(c->arena, domain, name, overload);
	uint64_t i;
	if (!lathe_map_get(&c->func_index, key, &i))
		return NULL;
	return &c->funcs[i];
}

/* Binds the call's values to the function's formals, emits the body, and
 * checks that every requested output was computed. */
static lathe_err expand(onnx_ctx *c, onnx_frame *f, onnx_frame *nf, const onnx_node *n,
			const onnx_func *fn)
{
	for (int i = 0; i < fn->nin; i++) {
		const char *mapped = "";
		if (i < n->nin && *n->in[i]) {
			lathe_vid v;
			enum onnx_res r = lathe_onnx_resolve(f, n->in[i], &v);
			if (r == ONNX_UNDEFINED)
				return lathe_error(LATHE_EINVAL,
						   "input %d '%s' is not defined (not a graph input, "
						   "initializer or output of an earlier node)", i, n->in[i]);
			if (r == ONNX_FOUND)
				mapped = f->g->values.data[v].name;
		}
		lathe_map_put(&nf->rename, fn->in[i], (uint64_t)(uintptr_t)mapped);
	}
	const char **actual = lathe_arena_new(c->arena, const char *, fn->nout + 1);
	bool *through = lathe_arena_new(c->arena, bool, fn->nout + 1);
	for (int i = 0; i < fn->nout; i++) {
		actual[i] = "";
		if (i < n->nout && *n->out[i])
			LATHE_TRY(lathe_onnx_define(c, f, n->out[i], &actual[i]));
		if (lathe_map_get(&nf->rename, fn->out[i], NULL)) {
			/* The output is one of the inputs: copied below. */
			through[i] = true;
			continue;
		}
		if (*actual[i]) {
			lathe_map_put(&nf->rename, fn->out[i], (uint64_t)(uintptr_t)actual[i]);
		} else {
			const char *unused;
			LATHE_TRY(lathe_onnx_define(c, nf, fn->out[i], &unused));
		}
	}

	/* Errors in the body are located in the function, not at the call. */
	char saved_path[LATHE_PB_PATH_MAX];
	memcpy(saved_path, c->pb.path, sizeof saved_path);
	size_t saved_len = c->pb.pathlen;
	int k = snprintf(c->pb.path, sizeof c->pb.path, "ModelProto.functions[%lld]",
			 (long long)fn->index);
	c->pb.pathlen = k > 0 && (size_t)k < sizeof c->pb.path ? (size_t)k : 0;
	c->pb.path[c->pb.pathlen] = '\0';
	c->inline_depth++;
	lathe_pb_field fld;
	bool more;
	int64_t j = 0;
	for (lathe_pb_msg it = fn->msg;;) {
		LATHE_TRY(lathe_pb_next_of(&c->pb, &it, FP_NODE, &fld, &more));
		if (!more)
			break;
		size_t saved;
		LATHE_TRY(lathe_pb_enter_msg(&c->pb, &fld, &saved, "node", j));
		onnx_node body;
		LATHE_TRY(lathe_onnx_node_parse(c, fld.sub, j, &body));
		LATHE_TRY(lathe_onnx_node_emit(c, nf, &body));
		lathe_pb_leave(&c->pb, saved);
		j++;
	}
	c->inline_depth--;
	memcpy(c->pb.path, saved_path, sizeof saved_path);
	c->pb.pathlen = saved_len;

	for (int i = 0; i < fn->nout; i++) {
		if (!through[i] || !*actual[i])
			continue;
		lathe_vid v;
		if (lathe_onnx_resolve(nf, fn->out[i], &v) != ONNX_FOUND)
			return lathe_error(LATHE_EINVAL,
					   "output '%s' of function '%s' is an optional input that "
					   "was not given", fn->out[i], fn->name);
		LATHE_TRY(lathe_onnx_charge(c, 1));
		int op = lathe_op_lookup("", "Identity");
		LATHE_ASSERT(op >= 0);
		LATHE_TRY(lathe_graph_add_node(f->g, op, "", 1, &v, 1, &actual[i], NULL));
	}
	for (int i = 0; i < fn->nout; i++)
		if (*actual[i] && !lathe_map_get(&f->g->names, actual[i], NULL))
			return lathe_error(LATHE_EINVAL,
					   "function '%s' does not compute its output %d '%s'",
					   fn->name, i, fn->out[i]);
	return NULL;
}

lathe_err lathe_onnx_function_inline(onnx_ctx *c, onnx_frame *f, const onnx_node *n,
				     const onnx_func *fn)
{
	if (c->inline_depth >= ONNX_MAX_INLINE_DEPTH)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				   "function calls nested more than %d deep (does function '%s' "
				   "call itself?)", ONNX_MAX_INLINE_DEPTH, fn->name);
	if (n->nin > fn->nin || n->nout > fn->nout)
		return lathe_error(LATHE_EINVAL,
				   "function '%s' has %d inputs and %d outputs; the node gives "
				   "%d and %d", fn->name, fn->nin, fn->nout, n->nin, n->nout);
	LATHE_TRY(lathe_onnx_charge(c, fn->cost));
	onnx_frame nf = {0};
	nf.parent = f;
	nf.g = f->g;
	nf.opsets = &fn->opsets;
	nf.fn = fn;
	nf.nattr = n->nattr;
	nf.attrs = n->attrs;
	nf.prefix = *n->name ? n->name : fn->name;
	lathe_map_init(&nf.rename);
	lathe_err e = expand(c, f, &nf, n, fn);
	lathe_map_deinit(&nf.rename);
	if (e && !c->pb.located)
		e = lathe_error_wrap(e, "in function '%s::%s'",
				     *fn->domain ? fn->domain : "ai.onnx", fn->name);
	return e;
}
