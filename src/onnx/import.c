/* import.c: ModelProto to graph IR.
 *
 * Where it sits: the entry of the compiler.  lathe_onnx_load maps the model
 * file and walks ModelProto -> GraphProto -> NodeProto with the wire reader
 * (pb.c); tensors are decoded by tensor.c, calls of model-local functions
 * are inlined by functions.c, and each node passes through normalize.c
 * before it is added, so the graph holds one form per op.
 *
 * Invariants:
 *   - the graph is built in one forward pass in the file's node order, which
 *     ONNX requires to be topological: a node may use only graph inputs,
 *     initializers, earlier nodes' outputs and (in a subgraph) values of
 *     enclosing graphs; anything else is an error naming the node;
 *   - graph inputs that are also initializers become constants, not
 *     positional inputs;
 *   - every error is either located (a wire-level problem, carrying the
 *     message path) or carries the node's label; never both prefixes twice;
 *   - work is bounded by the input: nodes added (function inlining can
 *     multiply them) and bytes decoded are capped by budgets proportional to
 *     the model's size.
 */
#include <stdio.h>
#include <string.h>

#include "onnx/internal.h"

/* Field numbers used below. */
enum { MP_IR_VERSION = 1, MP_GRAPH = 7, MP_OPSET = 8 };
enum { GP_NODE = 1, GP_NAME = 2, GP_INIT = 5, GP_INPUT = 11, GP_OUTPUT = 12,
       GP_VALUE_INFO = 13, GP_SPARSE_INIT = 15 };
enum { NP_INPUT = 1, NP_OUTPUT = 2, NP_NAME = 3, NP_OP_TYPE = 4, NP_ATTR = 5,
       NP_DOMAIN = 7, NP_OVERLOAD = 8 };
enum { AP_NAME = 1, AP_F = 2, AP_I = 3, AP_S = 4, AP_T = 5, AP_G = 6, AP_FLOATS = 7,
       AP_INTS = 8, AP_STRINGS = 9, AP_TENSORS = 10, AP_GRAPHS = 11, AP_TP = 14,
       AP_TYPE_PROTOS = 15, AP_TYPE = 20, AP_REF = 21, AP_SPARSE = 22,
       AP_SPARSES = 23 };
/* AttributeProto.AttributeType */
enum { AT_FLOAT = 1, AT_INT = 2, AT_STRING = 3, AT_TENSOR = 4, AT_GRAPH = 5, AT_FLOATS = 6,
       AT_INTS = 7, AT_STRINGS = 8, AT_TENSORS = 9, AT_GRAPHS = 10, AT_SPARSE = 11,
       AT_SPARSES = 12, AT_TYPE = 13, AT_TYPES = 14 };

lathe_err lathe_onnx_charge(onnx_ctx *c, int64_t units)
{
	if (units > c->work_budget) {
		c->work_budget = 0;
		/* Located: the call chain that led here is not worth printing. */
		return lathe_pb_err(&c->pb, LATHE_ENOMEM,
				    "the model expands to far more nodes than its size suggests "
				    "(recursive or exponential function calls?)");
	}
	c->work_budget -= units;
	return NULL;
}

/* Interns a dim_param through the importer's own map, so lathe_graph's
 * linear search runs once per distinct name, and bounds the symbol table
 * (each subgraph holds a copy of it). */
static lathe_err intern_sym(onnx_ctx *c, lathe_graph *g, const char *name, int32_t *out)
{
	uint64_t v;
	if (lathe_map_get(&c->syms, name, &v)) {
		*out = (int32_t)v;
		return NULL;
	}
	int64_t n = (int64_t)c->syms.len + 1;
	if (n > ONNX_MAX_SYMS || n * (c->nsub + 1) > ONNX_MAX_SYM_COPIES)
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
				    "too many distinct symbolic dimensions (dim_param)");
	*out = lathe_graph_intern_sym(g, name);
	lathe_map_put(&c->syms, name, (uint64_t)*out);
	return NULL;
}

/* A located error stays as it is; others get `label: ` in front. */
static lathe_err add_label(onnx_ctx *c, lathe_err e, const char *label)
{
	if (!e || c->pb.located)
		return e;
	return lathe_error_wrap(e, "%s", label);
}

const char *lathe_onnx_norm_domain(const char *d)
{
	return !strcmp(d, "ai.onnx") ? "" : d;
}

int64_t lathe_onnx_opset_of(const onnx_opsets *s, const char *domain)
{
	for (; s; s = s->fallback)
		for (int i = 0; i < s->n; i++)
			if (!strcmp(s->v[i].domain, domain))
				return s->v[i].version;
	return -1;
}

/* Reads the OperatorSetIdProto fields numbered `num` of m. */
lathe_err lathe_onnx_opsets_parse(onnx_ctx *c, lathe_pb_msg m, uint32_t num, onnx_opsets *out)
{
	int64_t n;
	LATHE_TRY(lathe_pb_count(&c->pb, m, num, &n));
	if (n > ONNX_MAX_OPSETS)
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED, "more than %d opset imports",
				    ONNX_MAX_OPSETS);
	out->n = 0;
	out->v = lathe_arena_new(c->arena, onnx_opset, n ? n : 1);
	lathe_pb_field f, g;
	bool more;
	int64_t k = 0;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next_of(&c->pb, &it, num, &f, &more));
		if (!more)
			break;
		size_t saved;
		LATHE_TRY(lathe_pb_enter_msg(&c->pb, &f, &saved, "opset_import", k++));
		onnx_opset o = {"", 0};
		for (lathe_pb_msg e = f.sub;;) {
			LATHE_TRY(lathe_pb_next(&c->pb, &e, &g, &more));
			if (!more)
				break;
			if (g.num == 1)
				LATHE_TRY(lathe_pb_str(&c->pb, &g, "domain", c->arena, &o.domain));
			else if (g.num == 2)
				LATHE_TRY(lathe_pb_int(&c->pb, &g, "version", &o.version));
		}
		o.domain = lathe_onnx_norm_domain(o.domain);
		if (o.version < 1 || o.version > 100000)
			return lathe_pb_err(&c->pb, LATHE_EINVAL,
					    "opset version %lld of domain '%s' is not valid",
					    (long long)o.version, *o.domain ? o.domain : "ai.onnx");
		bool dup = false;
		for (int i = 0; i < out->n; i++) {
			if (strcmp(out->v[i].domain, o.domain))
				continue;
			if (out->v[i].version != o.version)
				return lathe_pb_err(&c->pb, LATHE_EINVAL,
						    "domain '%s' is imported at opsets %lld and %lld",
						    *o.domain ? o.domain : "ai.onnx",
						    (long long)out->v[i].version, (long long)o.version);
			dup = true;
		}
		if (!dup)
			out->v[out->n++] = o;
		lathe_pb_leave(&c->pb, saved);
	}
	return NULL;
}

/* ---- types ---------------------------------------------------------------- */

static lathe_err tensor_type(onnx_ctx *c, lathe_graph *g, lathe_pb_msg m, lathe_type *out)
{
	int64_t elem = 0;
	bool has_shape = false;
	lathe_pb_msg shape = {0};
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num == 1) {
			LATHE_TRY(lathe_pb_int(&c->pb, &f, "elem_type", &elem));
		} else if (f.num == 2) {
			LATHE_TRY(lathe_pb_want(&c->pb, &f, LATHE_PB_LEN, "shape"));
			has_shape = true;
			shape = f.sub;
		}
	}
	if (elem < 0 || elem >= LATHE_DT_COUNT)
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
				    "elem_type %lld is not an element type lathe knows", (long long)elem);
	out->kind = LATHE_TY_TENSOR;
	out->dtype = (int32_t)elem;
	out->rank = -1;
	out->dims = NULL;
	if (!has_shape)
		return NULL;
	int64_t rank;
	LATHE_TRY(lathe_pb_count(&c->pb, shape, 1, &rank));
	if (rank > ONNX_MAX_RANK)
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED, "rank %lld is past lathe's limit of %d",
				    (long long)rank, ONNX_MAX_RANK);
	out->rank = (int32_t)rank;
	out->dims = lathe_arena_new(c->arena, lathe_dim, rank ? rank : 1);
	int64_t k = 0;
	for (lathe_pb_msg it = shape;;) {
		LATHE_TRY(lathe_pb_next_of(&c->pb, &it, 1, &f, &more));
		if (!more)
			break;
		LATHE_TRY(lathe_pb_want(&c->pb, &f, LATHE_PB_LEN, "dim"));
		lathe_dim d = {-1, -1};
		lathe_pb_field h;
		for (lathe_pb_msg e = f.sub;;) {
			LATHE_TRY(lathe_pb_next(&c->pb, &e, &h, &more));
			if (!more)
				break;
			if (h.num == 1) {
				LATHE_TRY(lathe_pb_int(&c->pb, &h, "dim_value", &d.size));
				if (d.size < 0)
					return lathe_pb_err(&c->pb, LATHE_EINVAL,
							    "shape.dim[%lld]: negative dim_value %lld",
							    (long long)k, (long long)d.size);
				d.sym = -1;
			} else if (h.num == 2) {
				const char *p;
				LATHE_TRY(lathe_pb_str(&c->pb, &h, "dim_param", c->arena, &p));
				d.size = -1;
				d.sym = -1;
				if (*p)
					LATHE_TRY(intern_sym(c, g, p, &d.sym));
			}
		}
		out->dims[k++] = d;
	}
	return NULL;
}

/* A TypeProto held by field f (named `field` in error paths). */
static lathe_err sub_type(onnx_ctx *c, lathe_graph *g, const lathe_pb_field *f,
			  const char *field, lathe_type *out)
{
	size_t saved;
	LATHE_TRY(lathe_pb_enter_msg(&c->pb, f, &saved, field, -1));
	LATHE_TRY(lathe_onnx_type(c, g, f->sub, out));
	lathe_pb_leave(&c->pb, saved);
	return NULL;
}

lathe_err lathe_onnx_type(onnx_ctx *c, lathe_graph *g, lathe_pb_msg m, lathe_type *out)
{
	*out = lathe_type_unknown();
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		const char *what = NULL;
		switch (f.num) {
		case 1: what = "tensor_type"; break;
		case 4: what = "sequence_type"; break;
		case 9: what = "optional_type"; break;
		case 5:
			return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED, "map types are not supported");
		case 8:
			return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
					    "sparse tensor types are not supported");
		case 7:
			return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED, "opaque types are not supported");
		default: continue;
		}
		size_t saved;
		LATHE_TRY(lathe_pb_enter_msg(&c->pb, &f, &saved, what, -1));
		if (f.num == 1) {
			LATHE_TRY(tensor_type(c, g, f.sub, out));
		} else {
			/* Sequence and Optional: field 1 is the element TypeProto. */
			lathe_type elem = lathe_type_unknown();
			lathe_pb_field h;
			for (lathe_pb_msg e = f.sub;;) {
				LATHE_TRY(lathe_pb_next_of(&c->pb, &e, 1, &h, &more));
				if (!more)
					break;
				LATHE_TRY(sub_type(c, g, &h, "elem_type", &elem));
			}
			bool seq = f.num == 4;
			if (elem.kind == LATHE_TY_OPTIONAL ||
			    (seq && elem.kind == LATHE_TY_SEQUENCE))
				return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
						    "%s of %s is not supported",
						    seq ? "sequence" : "optional",
						    elem.kind == LATHE_TY_SEQUENCE ? "sequences" : "optionals");
			if (elem.kind == LATHE_TY_UNKNOWN) {
				elem.kind = LATHE_TY_TENSOR;
				elem.dtype = 0;
				elem.rank = -1;
				elem.dims = NULL;
			}
			*out = elem;
			if (seq) {
				out->kind = LATHE_TY_SEQUENCE;
			} else {
				out->elem_kind = elem.kind;
				out->kind = LATHE_TY_OPTIONAL;
			}
		}
		lathe_pb_leave(&c->pb, saved);
	}
	return NULL;
}

/* ValueInfoProto: name and type (unknown when absent). */
static lathe_err value_info(onnx_ctx *c, lathe_graph *g, lathe_pb_msg m, const char **name,
			    lathe_type *t)
{
	*name = "";
	*t = lathe_type_unknown();
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num == 1) {
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "name", c->arena, name));
		} else if (f.num == 2) {
			LATHE_TRY(sub_type(c, g, &f, "type", t));
		}
	}
	return NULL;
}

/* ---- names ---------------------------------------------------------------- */

enum onnx_res lathe_onnx_resolve(onnx_frame *f, const char *name, lathe_vid *out)
{
	lathe_graph *cur = f->g;
	*out = LATHE_NOVAL;
	if (!*name)
		return ONNX_MISSING;
	for (onnx_frame *fr = f; fr; fr = fr->parent) {
		uint64_t v;
		if (fr->fn) {
			/* The wall: a body sees its formals and its own values. */
			if (!lathe_map_get(&fr->rename, name, &v))
				return ONNX_UNDEFINED;
			const char *mapped = (const char *)(uintptr_t)v;
			if (!*mapped)
				return ONNX_MISSING; /* optional formal input not given */
			*out = lathe_graph_lookup(cur, mapped);
			return *out == LATHE_NOVAL ? ONNX_UNDEFINED : ONNX_FOUND;
		}
		if (lathe_map_get(&fr->g->names, name, &v)) {
			*out = lathe_graph_lookup(cur, name);
			return *out == LATHE_NOVAL ? ONNX_UNDEFINED : ONNX_FOUND;
		}
	}
	return ONNX_UNDEFINED;
}

lathe_err lathe_onnx_define(onnx_ctx *c, onnx_frame *f, const char *name, const char **out)
{
	*out = "";
	if (!*name)
		return NULL;
	if (!f->fn) {
		if (lathe_map_get(&f->g->names, name, NULL))
			return lathe_error(LATHE_EINVAL, "value '%s' is defined twice", name);
		*out = name;
		return NULL;
	}
	uint64_t v;
	if (lathe_map_get(&f->rename, name, &v)) {
		const char *mapped = (const char *)(uintptr_t)v;
		if (!*mapped || lathe_map_get(&f->g->names, mapped, NULL))
			return lathe_error(LATHE_EINVAL,
					   "value '%s' is defined twice in function '%s'", name,
					   f->fn->name);
		*out = mapped;
		return NULL;
	}
	/* A counter-suffixed name cannot equal another generated one (the
	 * suffix after the last '#' differs); user names are checked. */
	const char *fresh;
	do
		fresh = lathe_arena_printf(c->arena, "%s/%s#%lld", f->prefix, name,
					   (long long)c->fresh++);
	while (lathe_map_get(&f->g->names, fresh, NULL));
	lathe_map_put(&f->rename, name, (uint64_t)(uintptr_t)fresh);
	*out = fresh;
	return NULL;
}

/* ---- attributes ------------------------------------------------------------ */

static lathe_err sub_graph(onnx_ctx *c, onnx_frame *fr, const lathe_pb_field *f,
			   const char *field, int64_t idx, lathe_graph **out)
{
	size_t saved;
	LATHE_TRY(lathe_pb_enter_msg(&c->pb, f, &saved, field, idx));
	if ((c->nsub + 2) * ((int64_t)c->syms.len + 1) > ONNX_MAX_SYM_COPIES)
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
				    "too many subgraphs for the number of symbolic dimensions");
	c->nsub++;
	lathe_graph *sub = lathe_graph_create_sub(fr->g);
	sub->opsets = fr->g->opsets;
	LATHE_TRY(lathe_onnx_graph(c, fr, sub, f->sub));
	lathe_pb_leave(&c->pb, saved);
	*out = sub;
	return NULL;
}

static int infer_attr_type(const int64_t *seen)
{
	static const int order[][2] = {
		{AP_T, AT_TENSOR}, {AP_G, AT_GRAPH}, {AP_SPARSE, AT_SPARSE}, {AP_TP, AT_TYPE},
		{AP_S, AT_STRING}, {AP_I, AT_INT}, {AP_F, AT_FLOAT}, {AP_FLOATS, AT_FLOATS},
		{AP_INTS, AT_INTS}, {AP_STRINGS, AT_STRINGS}, {AP_TENSORS, AT_TENSORS},
		{AP_GRAPHS, AT_GRAPHS}, {AP_SPARSES, AT_SPARSES}, {AP_TYPE_PROTOS, AT_TYPES},
	};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (seen[order[i][0]])
			return order[i][1];
	return 0;
}

/* Decodes one AttributeProto (r->msg) named r->name into a lathe_attr. */
static lathe_err attr_decode(onnx_ctx *c, onnx_frame *fr, const onnx_attr_ref *r,
			     lathe_attr *out)
{
	int64_t seen[24] = {0};
	int64_t type = 0;
	lathe_pb_field last[24];
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = r->msg;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num >= 24)
			continue;
		seen[f.num]++;
		last[f.num] = f;
		if (f.num == AP_TYPE)
			LATHE_TRY(lathe_pb_int(&c->pb, &f, "type", &type));
	}
	if (type == 0)
		type = infer_attr_type(seen);
	memset(out, 0, sizeof *out);
	out->name = r->name;
	float fv;
	switch (type) {
	case AT_FLOAT:
		out->kind = LATHE_ATTR_FLOAT;
		if (seen[AP_F]) {
			LATHE_TRY(lathe_pb_float(&c->pb, &last[AP_F], "f", &fv));
			out->u.f = fv;
		}
		return NULL;
	case AT_INT:
		out->kind = LATHE_ATTR_INT;
		if (seen[AP_I])
			LATHE_TRY(lathe_pb_int(&c->pb, &last[AP_I], "i", &out->u.i));
		return NULL;
	case AT_STRING:
		out->kind = LATHE_ATTR_STRING;
		out->u.s = "";
		if (seen[AP_S])
			LATHE_TRY(lathe_pb_bytes(&c->pb, &last[AP_S], "s", c->arena, &out->u.s,
						 &out->slen));
		return NULL;
	case AT_TENSOR:
	case AT_SPARSE: {
		int fn = type == AT_TENSOR ? AP_T : AP_SPARSE;
		if (!seen[fn])
			return lathe_pb_err(&c->pb, LATHE_EINVAL, "attribute '%s' has no tensor",
					    r->name);
		out->kind = LATHE_ATTR_TENSOR;
		return lathe_onnx_sub_tensor(c, &last[fn], type == AT_TENSOR ? "t" : "sparse_tensor",
					     -1, type == AT_SPARSE, &out->u.t);
	}
	case AT_GRAPH:
		if (!seen[AP_G])
			return lathe_pb_err(&c->pb, LATHE_EINVAL, "attribute '%s' has no graph",
					    r->name);
		out->kind = LATHE_ATTR_GRAPH;
		return sub_graph(c, fr, &last[AP_G], "g", -1, &out->u.g);
	case AT_TYPE: {
		if (!seen[AP_TP])
			return lathe_pb_err(&c->pb, LATHE_EINVAL, "attribute '%s' has no type",
					    r->name);
		out->kind = LATHE_ATTR_TYPE;
		return sub_type(c, fr->g, &last[AP_TP], "tp", &out->u.type);
	}
	case AT_FLOATS: {
		float *v;
		out->kind = LATHE_ATTR_FLOATS;
		LATHE_TRY(lathe_pb_repeated(&c->pb, r->msg, AP_FLOATS, LATHE_PB_K_FLOAT, "floats",
					    c->arena, (void **)&v, &out->n));
		LATHE_TRY(lathe_onnx_charge(c, out->n));
		out->u.floats = lathe_arena_new(c->arena, double, out->n ? out->n : 1);
		for (int64_t i = 0; i < out->n; i++)
			out->u.floats[i] = v[i];
		return NULL;
	}
	case AT_INTS:
		out->kind = LATHE_ATTR_INTS;
		LATHE_TRY(lathe_pb_repeated(&c->pb, r->msg, AP_INTS, LATHE_PB_K_INT64, "ints",
					    c->arena, (void **)&out->u.ints, &out->n));
		LATHE_TRY(lathe_onnx_charge(c, out->n));
		if (!out->u.ints)
			out->u.ints = lathe_arena_new(c->arena, int64_t, 1);
		return NULL;
	case AT_STRINGS:
	case AT_TENSORS:
	case AT_SPARSES:
	case AT_GRAPHS: {
		int num = type == AT_STRINGS   ? AP_STRINGS
			  : type == AT_TENSORS ? AP_TENSORS
			  : type == AT_SPARSES ? AP_SPARSES
					       : AP_GRAPHS;
		const char *field = type == AT_STRINGS   ? "strings"
				    : type == AT_TENSORS ? "tensors"
				    : type == AT_SPARSES ? "sparse_tensors"
							 : "graphs";
		int64_t n = seen[num];
		out->n = n;
		LATHE_TRY(lathe_onnx_charge(c, n));
		void **arr = lathe_arena_new(c->arena, void *, n ? n : 1);
		out->kind = type == AT_STRINGS ? LATHE_ATTR_STRINGS
			    : type == AT_GRAPHS ? LATHE_ATTR_GRAPHS
						: LATHE_ATTR_TENSORS;
		int64_t k = 0;
		for (lathe_pb_msg it = r->msg;;) {
			LATHE_TRY(lathe_pb_next_of(&c->pb, &it, (uint32_t)num, &f, &more));
			if (!more)
				break;
			if (type == AT_STRINGS) {
				int64_t len;
				LATHE_TRY(lathe_pb_bytes(&c->pb, &f, field, c->arena,
							 (const char **)&arr[k], &len));
			} else if (type == AT_GRAPHS) {
				LATHE_TRY(sub_graph(c, fr, &f, field, k, (lathe_graph **)&arr[k]));
			} else {
				LATHE_TRY(lathe_onnx_sub_tensor(c, &f, field, k, type == AT_SPARSES,
								(lathe_tensor **)&arr[k]));
			}
			k++;
		}
		if (type == AT_STRINGS)
			out->u.strs = (const char **)arr;
		else if (type == AT_GRAPHS)
			out->u.graphs = (lathe_graph **)arr;
		else
			out->u.tensors = (lathe_tensor **)arr;
		return NULL;
	}
	case AT_TYPES:
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
				    "attribute '%s': lists of types are not supported", r->name);
	case 0:
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "attribute '%s' has no type and no value",
				    r->name);
	}
	return lathe_pb_err(&c->pb, LATHE_EINVAL, "attribute '%s' has unknown type %lld", r->name,
			    (long long)type);
}

/* ---- nodes ----------------------------------------------------------------- */

lathe_err lathe_onnx_attr_names(onnx_ctx *c, lathe_pb_msg m, const char **name,
				const char **ref)
{
	*name = "";
	if (ref)
		*ref = NULL;
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num == AP_NAME)
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "name", c->arena, name));
		else if (f.num == AP_REF && ref)
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "ref_attr_name", c->arena, ref));
	}
	if (!**name)
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "attribute without a name");
	return NULL;
}

lathe_err lathe_onnx_node_parse(onnx_ctx *c, lathe_pb_msg m, int64_t index, onnx_node *n)
{
	memset(n, 0, sizeof *n);
	n->index = index;
	n->name = n->op_type = n->domain = n->overload = "";
	int64_t cnt[3] = {0, 0, 0}; /* inputs, outputs, attributes */
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num == NP_INPUT)
			cnt[0]++;
		else if (f.num == NP_OUTPUT)
			cnt[1]++;
		else if (f.num == NP_ATTR)
			cnt[2]++;
	}
	if (cnt[0] > ONNX_MAX_NODE_INPUTS || cnt[1] > ONNX_MAX_NODE_OUTPUTS ||
	    cnt[2] > ONNX_MAX_NODE_ATTRS)
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
				    "node with %lld inputs, %lld outputs and %lld attributes: past "
				    "lathe's limits (%d, %d, %d)", (long long)cnt[0],
				    (long long)cnt[1], (long long)cnt[2], ONNX_MAX_NODE_INPUTS,
				    ONNX_MAX_NODE_OUTPUTS, ONNX_MAX_NODE_ATTRS);
	n->in = lathe_arena_new(c->arena, const char *, cnt[0] ? cnt[0] : 1);
	n->out = lathe_arena_new(c->arena, const char *, cnt[1] ? cnt[1] : 1);
	n->attrs = lathe_arena_new(c->arena, onnx_attr_ref, cnt[2] ? cnt[2] : 1);
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		switch (f.num) {
		case NP_INPUT:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "input", c->arena, &n->in[n->nin++]));
			break;
		case NP_OUTPUT:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "output", c->arena, &n->out[n->nout++]));
			break;
		case NP_NAME:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "name", c->arena, &n->name));
			break;
		case NP_OP_TYPE:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "op_type", c->arena, &n->op_type));
			break;
		case NP_DOMAIN:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "domain", c->arena, &n->domain));
			break;
		case NP_OVERLOAD:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "overload", c->arena, &n->overload));
			break;
		case NP_ATTR: {
			size_t saved;
			LATHE_TRY(lathe_pb_enter_msg(&c->pb, &f, &saved, "attribute", n->nattr));
			onnx_attr_ref *r = &n->attrs[n->nattr++];
			r->msg = f.sub;
			LATHE_TRY(lathe_onnx_attr_names(c, f.sub, &r->name, &r->ref));
			lathe_pb_leave(&c->pb, saved);
			break;
		}
		default:
			break;
		}
	}
	if (!*n->op_type)
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "node without an op_type");
	const char *dup = NULL;
	if (n->nattr <= 16) {
		for (int i = 0; i < n->nattr && !dup; i++)
			for (int j = 0; j < i && !dup; j++)
				if (!strcmp(n->attrs[i].name, n->attrs[j].name))
					dup = n->attrs[i].name;
	} else {
		lathe_map seen;
		lathe_map_init(&seen);
		for (int i = 0; i < n->nattr && !dup; i++) {
			if (lathe_map_get(&seen, n->attrs[i].name, NULL))
				dup = n->attrs[i].name;
			lathe_map_put(&seen, n->attrs[i].name, 0);
		}
		lathe_map_deinit(&seen);
	}
	if (dup)
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "attribute '%s' given twice", dup);
	return NULL;
}

static const char *node_label(onnx_ctx *c, const onnx_node *n, const char *dom, int64_t opset)
{
	const char *d = *dom ? dom : "ai.onnx";
	char ver[32];
	if (opset >= 0)
		snprintf(ver, sizeof ver, "opset %lld", (long long)opset);
	else
		snprintf(ver, sizeof ver, "no opset");
	if (*n->name)
		return lathe_arena_printf(c->arena, "node '%s' (%s::%s, %s)", n->name, d, n->op_type,
					  ver);
	if (n->nout && *n->out[0])
		return lathe_arena_printf(c->arena, "node #%lld with output '%s' (%s::%s, %s)",
					  (long long)n->index, n->out[0], d, n->op_type, ver);
	return lathe_arena_printf(c->arena, "node #%lld (%s::%s, %s)", (long long)n->index, d,
				  n->op_type, ver);
}

/* Replaces references to function attributes (ref_attr_name) by what the
 * innermost call gave, or the function's default; unbound ones vanish, as
 * ONNX specifies. */
static lathe_err resolve_refs(onnx_ctx *c, onnx_frame *f, const onnx_node *n,
			      onnx_attr_ref **out, int *nout)
{
	onnx_attr_ref *res = lathe_arena_new(c->arena, onnx_attr_ref, n->nattr ? n->nattr : 1);
	int k = 0;
	for (int i = 0; i < n->nattr; i++) {
		const onnx_attr_ref *r = &n->attrs[i];
		if (!r->ref) {
			res[k++] = *r;
			continue;
		}
		onnx_frame *fn = f;
		while (fn && !fn->fn)
			fn = fn->parent;
		if (!fn)
			return lathe_error(LATHE_EINVAL,
					   "attribute '%s' refers to '%s', but the node is not in a "
					   "function", r->name, r->ref);
		LATHE_TRY(lathe_onnx_charge(c, (fn->nattr + fn->fn->ndefault) / 32));
		bool bound = false;
		for (int j = 0; j < fn->nattr && !bound; j++)
			if (!strcmp(fn->attrs[j].name, r->ref)) {
				res[k] = fn->attrs[j];
				res[k++].name = r->name;
				bound = true;
			}
		for (int j = 0; j < fn->fn->ndefault && !bound; j++)
			if (!strcmp(fn->fn->default_name[j], r->ref)) {
				res[k].name = r->name;
				res[k].ref = NULL;
				res[k++].msg = fn->fn->default_msg[j];
				bound = true;
			}
	}
	*out = res;
	*nout = k;
	return NULL;
}

static lathe_err constant_node(onnx_ctx *c, onnx_frame *f, const onnx_node *n,
			       const onnx_attr_ref *attrs, int nattr)
{
	if (n->nin != 0 || n->nout != 1)
		return lathe_error(LATHE_EINVAL, "Constant takes no inputs and has one output "
				   "(it has %d and %d)", n->nin, n->nout);
	if (nattr != 1)
		return lathe_error(LATHE_EINVAL, "Constant needs exactly one value attribute "
				   "(it has %d)", nattr);
	static const struct { const char *name; int kind, dtype; bool list; } forms[] = {
		{"value", LATHE_ATTR_TENSOR, 0, false},
		{"sparse_value", LATHE_ATTR_TENSOR, 0, false},
		{"value_float", LATHE_ATTR_FLOAT, LATHE_DT_F32, false},
		{"value_floats", LATHE_ATTR_FLOATS, LATHE_DT_F32, true},
		{"value_int", LATHE_ATTR_INT, LATHE_DT_I64, false},
		{"value_ints", LATHE_ATTR_INTS, LATHE_DT_I64, true},
		{"value_string", LATHE_ATTR_STRING, LATHE_DT_STR, false},
		{"value_strings", LATHE_ATTR_STRINGS, LATHE_DT_STR, true},
	};
	int form = -1;
	for (int i = 0; i < (int)(sizeof forms / sizeof forms[0]); i++)
		if (!strcmp(attrs[0].name, forms[i].name))
			form = i;
	if (form < 0)
		return lathe_error(LATHE_EINVAL, "unknown Constant attribute '%s'", attrs[0].name);
	lathe_attr a;
	LATHE_TRY(attr_decode(c, f, &attrs[0], &a));
	if (a.kind != forms[form].kind)
		return lathe_error(LATHE_EINVAL, "Constant attribute '%s' has the wrong type",
				   a.name);
	lathe_tensor *t;
	if (forms[form].kind == LATHE_ATTR_TENSOR) {
		t = a.u.t;
	} else {
		int64_t n1 = a.n;
		t = lathe_tensor_header(c->arena, forms[form].dtype, forms[form].list ? 1 : 0, &n1);
		int64_t cnt = forms[form].list ? n1 : 1;
		switch (a.kind) {
		case LATHE_ATTR_FLOAT:
		case LATHE_ATTR_FLOATS: {
			float *d = lathe_arena_new(c->arena, float, cnt);
			for (int64_t i = 0; i < cnt; i++)
				d[i] = (float)(a.kind == LATHE_ATTR_FLOAT ? a.u.f : a.u.floats[i]);
			t->data = d;
			break;
		}
		case LATHE_ATTR_INT:
			t->data = lathe_arena_memdup(c->arena, &a.u.i, sizeof a.u.i);
			break;
		case LATHE_ATTR_INTS:
			t->data = a.u.ints;
			break;
		case LATHE_ATTR_STRING:
			t->data = lathe_arena_memdup(c->arena, &a.u.s, sizeof a.u.s);
			break;
		default:
			t->data = (void *)a.u.strs;
			break;
		}
	}
	const char *name;
	LATHE_TRY(lathe_onnx_define(c, f, n->out[0], &name));
	if (!*name)
		return NULL; /* nobody can use it */
	return lathe_graph_add_const(f->g, name, t, NULL);
}

lathe_err lathe_onnx_add_aux_node(onnx_ctx *c, lathe_graph *g, int op, int nin,
				  const lathe_vid *in, int nattr, const lathe_attr *attrs,
				  lathe_vid *out)
{
	LATHE_TRY(lathe_onnx_charge(c, 1 + nin + nattr));
	const char *name = lathe_graph_fresh_name(g, "_onnx");
	lathe_node *n;
	LATHE_TRY(lathe_graph_add_node(g, op, "", nin, in, 1, &name, &n));
	if (nattr) {
		n->attrs = lathe_arena_memdup(g->arena, attrs, sizeof *attrs * (size_t)nattr);
		n->nattr = nattr;
	}
	*out = n->out[0];
	return NULL;
}

static lathe_err node_emit(onnx_ctx *c, onnx_frame *f, const onnx_node *n, const char *dom,
			   int64_t opset)
{
	/* lathe_graph_add_node checks output names pairwise. */
	int64_t nout = n->nout;
	LATHE_TRY(lathe_onnx_charge(c, 1 + n->nin + nout + n->nattr + nout * nout / 64));
	onnx_attr_ref *attrs = NULL;
	int nattr = 0;
	LATHE_TRY(resolve_refs(c, f, n, &attrs, &nattr));
	const onnx_func *fn = lathe_onnx_function_find(c, dom, n->op_type, n->overload);
	if (fn) {
		onnx_node call = *n;
		call.attrs = attrs;
		call.nattr = nattr;
		return lathe_onnx_function_inline(c, f, &call, fn);
	}
	if (opset < 0)
		return lathe_error(LATHE_EINVAL, "the model imports no opset for domain '%s'",
				   *dom ? dom : "ai.onnx");
	if (!*dom && !strcmp(n->op_type, "Constant"))
		return constant_node(c, f, n, attrs, nattr);
	int op = lathe_op_lookup(dom, n->op_type);
	if (op < 0)
		return lathe_error(LATHE_EUNSUPPORTED, "unsupported operator");

	onnx_nb nb = {0};
	nb.op = op;
	nb.opset = opset;
	nb.cap_attr = nattr + 8;
	nb.attrs = lathe_arena_new(c->arena, lathe_attr, nb.cap_attr);
	for (int i = 0; i < nattr; i++) {
		size_t saved;
		LATHE_TRY(lathe_pb_enter(&c->pb, &saved, "attribute", i));
		lathe_err e = attr_decode(c, f, &attrs[i], &nb.attrs[nb.nattr]);
		if (e)
			return add_label(c, e, lathe_arena_printf(c->arena, "attribute '%s'",
								  attrs[i].name));
		nb.nattr++;
		lathe_pb_leave(&c->pb, saved);
	}
	nb.cap_in = n->nin + 8;
	nb.in = lathe_arena_new(c->arena, lathe_vid, nb.cap_in);
	for (int i = 0; i < n->nin; i++) {
		enum onnx_res r = lathe_onnx_resolve(f, n->in[i], &nb.in[nb.nin]);
		if (r == ONNX_UNDEFINED)
			return lathe_error(LATHE_EINVAL,
					   "input %d '%s' is not defined (not a graph input, "
					   "initializer or output of an earlier node)", i, n->in[i]);
		nb.nin++;
	}
	nb.nout = n->nout;
	nb.out = lathe_arena_new(c->arena, const char *, n->nout ? n->nout : 1);
	for (int i = 0; i < n->nout; i++)
		LATHE_TRY(lathe_onnx_define(c, f, n->out[i], &nb.out[i]));
	LATHE_TRY(lathe_onnx_normalize(c, f->g, &nb));
	lathe_node *node;
	LATHE_TRY(lathe_graph_add_node(f->g, nb.op, n->name, nb.nin, nb.in, nb.nout, nb.out,
				       &node));
	node->attrs = nb.attrs;
	node->nattr = nb.nattr;
	return NULL;
}

lathe_err lathe_onnx_node_emit(onnx_ctx *c, onnx_frame *f, const onnx_node *n)
{
	const char *dom = lathe_onnx_norm_domain(n->domain);
	int64_t opset = lathe_onnx_opset_of(f->opsets, dom);
	lathe_err e = node_emit(c, f, n, dom, opset);
	return e ? add_label(c, e, node_label(c, n, dom, opset)) : NULL;
}

/* ---- graphs ----------------------------------------------------------------- */

static lathe_err set_declared_type(lathe_graph *g, lathe_vid v, const lathe_type *t)
{
	lathe_value *val = lathe_graph_value(g, v);
	if (val->type.kind == LATHE_TY_UNKNOWN && t->kind != LATHE_TY_UNKNOWN)
		val->type = *t;
	return NULL;
}

lathe_err lathe_onnx_graph(onnx_ctx *c, onnx_frame *parent, lathe_graph *g, lathe_pb_msg m)
{
	onnx_frame fr = {0};
	fr.parent = parent;
	fr.g = g;
	fr.opsets = parent ? parent->opsets : &c->opsets;
	lathe_pb_field f;
	bool more;
	lathe_map inits;
	lathe_map_init(&inits);
	lathe_err e = NULL;
	/* One walk per kind of field: initializers must exist before inputs
	 * are sorted from constants, and nodes need both. */
	static const int order[] = {GP_NAME, GP_INIT, GP_SPARSE_INIT, GP_INPUT, GP_NODE,
				    GP_VALUE_INFO, GP_OUTPUT};
	static const char *const field[] = {"name", "initializer", "sparse_initializer", "input",
					    "node", "value_info", "output"};
	for (int pass = 0; pass < 7 && !e; pass++) {
		int64_t idx = 0;
		for (lathe_pb_msg it = m; !e;) {
			e = lathe_pb_next_of(&c->pb, &it, (uint32_t)order[pass], &f, &more);
			if (e || !more)
				break;
			if (f.num == GP_NAME) {
				const char *name;
				e = lathe_pb_str(&c->pb, &f, "name", c->arena, &name);
				if (!e && *name)
					g->name = name;
				continue;
			}
			size_t saved;
			e = lathe_pb_enter_msg(&c->pb, &f, &saved, field[pass], idx);
			if (e)
				break;
			const char *name = "";
			lathe_type ty;
			lathe_vid v;
			switch (f.num) {
			case GP_INIT:
			case GP_SPARSE_INIT: {
				lathe_tensor *t;
				if (f.num == GP_INIT)
					e = lathe_onnx_tensor(c, f.sub, &t, &name);
				else
					e = lathe_onnx_sparse(c, f.sub, &t, &name);
				if (!e && !*name)
					e = lathe_pb_err(&c->pb, LATHE_EINVAL, "initializer without a name");
				if (!e && lathe_map_get(&g->names, name, NULL))
					e = lathe_pb_err(&c->pb, LATHE_EINVAL,
							 "initializer '%s' is defined twice", name);
				if (!e)
					e = lathe_graph_add_const(g, name, t, &v);
				if (!e)
					lathe_map_put(&inits, name, v);
				break;
			}
			case GP_INPUT:
				e = value_info(c, g, f.sub, &name, &ty);
				if (!e && !*name)
					e = lathe_pb_err(&c->pb, LATHE_EINVAL, "graph input without a name");
				if (e || lathe_map_get(&inits, name, NULL))
					break; /* an initializer: a constant, not an input */
				if (lathe_map_get(&g->names, name, NULL))
					e = lathe_pb_err(&c->pb, LATHE_EINVAL,
							 "graph input '%s' is declared twice", name);
				/* The IR requires it of a model's inputs; without it
				 * nothing downstream can check or compile the input. */
				else if (!parent && ty.kind == LATHE_TY_TENSOR &&
					 ty.dtype == LATHE_DT_UNDEF)
					e = lathe_pb_err(&c->pb, LATHE_EINVAL,
							 "graph input '%s' has no element type "
							 "(elem_type is 0, UNDEFINED)", name);
				else
					e = lathe_graph_add_input(g, name, ty, NULL);
				break;
			case GP_NODE: {
				onnx_node n;
				e = lathe_onnx_node_parse(c, f.sub, idx, &n);
				if (!e)
					e = lathe_onnx_node_emit(c, &fr, &n);
				break;
			}
			case GP_VALUE_INFO: {
				uint64_t id;
				e = value_info(c, g, f.sub, &name, &ty);
				if (!e && lathe_map_get(&g->names, name, &id))
					e = set_declared_type(g, (lathe_vid)id, &ty);
				break;
			}
			case GP_OUTPUT:
				e = value_info(c, g, f.sub, &name, &ty);
				if (e)
					break;
				if (lathe_onnx_resolve(&fr, name, &v) != ONNX_FOUND) {
					e = lathe_error(LATHE_EINVAL,
							"graph output '%s' is not computed: no node, "
							"input or initializer of that name", name);
					break;
				}
				lathe_vec_push(&g->outputs, v);
				e = set_declared_type(g, v, &ty);
				break;
			}
			if (!e)
				lathe_pb_leave(&c->pb, saved);
			idx++;
		}
	}
	lathe_map_deinit(&inits);
	return e;
}

/* ---- models ----------------------------------------------------------------- */

static lathe_err import_model(onnx_ctx *c, lathe_pb_msg m)
{
	bool has_graph = false, has_opsets = false;
	lathe_pb_msg gm = {0};
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num == MP_IR_VERSION) {
			LATHE_TRY(lathe_pb_int(&c->pb, &f, "ir_version", &c->ir_version));
		} else if (f.num == MP_GRAPH) {
			LATHE_TRY(lathe_pb_want(&c->pb, &f, LATHE_PB_LEN, "graph"));
			has_graph = true;
			gm = f.sub;
		} else if (f.num == MP_OPSET) {
			has_opsets = true;
		}
	}
	if (!has_graph)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "no graph (is this an ONNX model file?)");
	LATHE_TRY(lathe_onnx_opsets_parse(c, m, MP_OPSET, &c->opsets));
	/* Before opset_import existed (IR version < 3) everything was opset 1. */
	if (!has_opsets && c->ir_version < 3) {
		c->opsets.v = lathe_arena_new(c->arena, onnx_opset, 1);
		c->opsets.v[0] = (onnx_opset){"", 1};
		c->opsets.n = 1;
	}
	int64_t v = lathe_onnx_opset_of(&c->opsets, "");
	c->root->opset = v > 0 ? v : 0;
	for (int i = c->opsets.n - 1; i >= 0; i--) {
		lathe_opset_import *o = lathe_arena_new(c->arena, lathe_opset_import, 1);
		o->domain = c->opsets.v[i].domain;
		o->version = c->opsets.v[i].version;
		o->next = c->root->opsets;
		c->root->opsets = o;
	}
	LATHE_TRY(lathe_onnx_functions_parse(c, m));
	size_t saved;
	LATHE_TRY(lathe_pb_enter(&c->pb, &saved, "graph", -1));
	LATHE_TRY(lathe_onnx_graph(c, NULL, c->root, gm));
	lathe_pb_leave(&c->pb, saved);
	return NULL;
}

static lathe_err load(const uint8_t *data, size_t size, const char *dir, bool borrow,
		      lathe_graph *g)
{
	onnx_ctx c = {0};
	lathe_pb_init(&c.pb, "ModelProto");
	c.arena = g->arena;
	c.root = g;
	c.borrow_model = borrow;
	c.dir = dir;
	lathe_map_init(&c.func_index);
	lathe_map_init(&c.syms);
	/* Budgets: a file can legitimately expand (functions called many
	 * times, varints widened, sparse tensors densified), but not without
	 * bound. */
	int64_t sz = (int64_t)(size < ((size_t)1 << 40) ? size : ((size_t)1 << 40));
	c.work_budget = 32 * sz + ((int64_t)1 << 20);
	c.data_budget = 64 * sz + ((int64_t)64 << 20);
	lathe_err e = import_model(&c, lathe_pb_msg_of(data, size));
	lathe_onnx_ctx_deinit(&c);
	return e;
}

lathe_err lathe_onnx_load_mem(const uint8_t *data, size_t size,
			      const char *dir_for_external_data, lathe_graph **out)
{
	*out = NULL;
	if (!data && size)
		return lathe_error(LATHE_EINVAL, "no model data");
	lathe_graph *g = lathe_graph_create();
	const char *dir = dir_for_external_data
				  ? lathe_arena_strdup(g->arena, dir_for_external_data)
				  : NULL;
	lathe_err e = load(data ? data : (const uint8_t *)"", size, dir, false, g);
	if (e) {
		lathe_graph_destroy(g);
		return e;
	}
	*out = g;
	return NULL;
}

lathe_err lathe_onnx_load(const char *path, lathe_graph **out)
{
	*out = NULL;
	lathe_graph *g = lathe_graph_create();
	lathe_mapped_file mf;
	lathe_err e = lathe_file_map(path, &mf);
	if (e) {
		lathe_graph_destroy(g);
		return e;
	}
	/* The graph holds the mapping: constants may point into it. */
	lathe_vec_push(&g->files, mf);
	const char *slash = strrchr(path, '/');
	const char *dir = !slash ? "."
			  : slash == path ? "/"
					  : lathe_arena_strndup(g->arena, path, (size_t)(slash - path));
	e = load(mf.data ? mf.data : (const uint8_t *)"", mf.size, dir, true, g);
	if (e) {
		lathe_graph_destroy(g);
		return lathe_error_wrap(e, "%s", path);
	}
	*out = g;
	return NULL;
}
