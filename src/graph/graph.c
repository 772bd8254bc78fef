/* graph.c: building the graph IR (graphs, values, nodes, attributes).
 *
 * Every other layer creates graphs through these functions: the ONNX
 * importer, the text parser, and the passes that rewrite graphs.  They keep
 * the invariants the rest of lathe relies on:
 *   - value names are unique within a graph (g->names maps name -> vid);
 *   - a value's def record (kind, node, index) says where it is defined;
 *   - symbolic dimension names live in the root graph, and every graph of a
 *     tree holds an identical copy of the root's syms table, so a dim's sym
 *     index means the same name in a subgraph as in its root;
 *   - all IR memory (names, arrays, subgraph types) is in the root's arena;
 *     only the growable tables (LATHE_VEC, lathe_map) of each graph are
 *     malloc'd, and the root frees them all on destroy.
 * Pointers into g->values or g->nodes (lathe_graph_value, the node returned
 * by lathe_graph_add_node) are invalidated by the next addition.
 */
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

/* The root graph carries the list of its subgraphs, so that destroying the
 * root can free their tables; graph.h only ever sees the lathe_graph. */
typedef struct graph_root {
	lathe_graph g; /* first: a root lathe_graph * is a graph_root * */
	LATHE_VEC(lathe_graph *) subs;
} graph_root;

static lathe_graph *root_of(const lathe_graph *g)
{
	while (g->parent)
		g = g->parent;
	return (lathe_graph *)g;
}

lathe_graph *lathe_graph_create(void)
{
	graph_root *r = lathe_xcalloc(1, sizeof *r);
	r->g.arena = lathe_arena_create();
	r->g.name = "main";
	lathe_map_init(&r->g.names);
	return &r->g;
}

lathe_graph *lathe_graph_create_sub(lathe_graph *parent)
{
	LATHE_ASSERT(parent);
	graph_root *r = (graph_root *)root_of(parent);
	lathe_graph *g = lathe_xcalloc(1, sizeof *g);
	g->arena = parent->arena;
	g->parent = parent;
	g->name = "body";
	g->opset = parent->opset;
	lathe_map_init(&g->names);
	for (size_t i = 0; i < r->g.syms.len; i++)
		lathe_vec_push(&g->syms, r->g.syms.data[i]);
	lathe_vec_push(&r->subs, g);
	return g;
}

static void graph_free_tables(lathe_graph *g)
{
	lathe_vec_free(&g->values);
	lathe_vec_free(&g->nodes);
	lathe_vec_free(&g->inputs);
	lathe_vec_free(&g->outputs);
	lathe_vec_free(&g->syms);
	lathe_map_deinit(&g->names);
	for (size_t i = 0; i < g->files.len; i++)
		lathe_file_unmap(&g->files.data[i]);
	lathe_vec_free(&g->files);
}

void lathe_graph_destroy(lathe_graph *g)
{
	if (!g)
		return;
	LATHE_ASSERT(!g->parent);
	graph_root *r = (graph_root *)g;
	for (size_t i = 0; i < r->subs.len; i++) {
		graph_free_tables(r->subs.data[i]);
		free(r->subs.data[i]);
	}
	lathe_vec_free(&r->subs);
	lathe_arena *a = g->arena;
	graph_free_tables(g);
	lathe_arena_destroy(a);
	free(r);
}

/* ---- values ---------------------------------------------------------------- */

lathe_err lathe_graph_add_value(lathe_graph *g, const char *name, lathe_type type,
				lathe_vid *out)
{
	if (!name || !*name)
		return lathe_error(LATHE_EINVAL, "a value needs a non-empty name");
	if (lathe_map_get(&g->names, name, NULL))
		return lathe_error(LATHE_EINVAL, "value name '%s' is defined twice", name);
	if (g->values.len >= (size_t)UINT32_MAX - 1)
		return lathe_error(LATHE_ENOMEM, "too many values in graph '%s'", g->name);
	lathe_value v = {0};
	v.name = lathe_arena_strdup(g->arena, name);
	v.type = type;
	/* Not defined by anything until a node, input or constant claims it:
	 * the verifier reports a use of such a value. */
	v.def = LATHE_DEF_NODE;
	v.node = UINT32_MAX;
	v.outer = LATHE_NOVAL;
	lathe_vid id = (lathe_vid)g->values.len;
	lathe_vec_push(&g->values, v);
	lathe_map_put(&g->names, v.name, id);
	if (out)
		*out = id;
	return NULL;
}

lathe_err lathe_graph_add_input(lathe_graph *g, const char *name, lathe_type type,
				lathe_vid *out)
{
	lathe_vid id;
	LATHE_TRY(lathe_graph_add_value(g, name, type, &id));
	lathe_value *v = lathe_graph_value(g, id);
	v->def = LATHE_DEF_INPUT;
	v->node = 0;
	v->index = (uint32_t)g->inputs.len;
	lathe_vec_push(&g->inputs, id);
	if (out)
		*out = id;
	return NULL;
}

lathe_err lathe_graph_add_const(lathe_graph *g, const char *name, lathe_tensor *t,
				lathe_vid *out)
{
	if (!t)
		return lathe_error(LATHE_EINVAL, "constant '%s' has no tensor", name ? name : "");
	if (t->rank < 0 || (t->rank > 0 && !t->shape))
		return lathe_error(LATHE_EINVAL, "constant '%s' has a malformed shape",
				   name ? name : "");
	for (int i = 0; i < t->rank; i++)
		if (t->shape[i] < 0)
			return lathe_error(LATHE_EINVAL,
					   "constant '%s' has a negative dimension",
					   name ? name : "");
	lathe_vid id;
	LATHE_TRY(lathe_graph_add_value(g, name,
					lathe_type_tensor(g->arena, t->dtype, t->rank, t->shape),
					&id));
	lathe_value *v = lathe_graph_value(g, id);
	v->def = LATHE_DEF_CONST;
	v->node = 0;
	v->konst = t;
	if (out)
		*out = id;
	return NULL;
}

const char *lathe_graph_fresh_name(lathe_graph *g, const char *prefix)
{
	if (!prefix || !*prefix)
		prefix = "t";
	/* Starting at the value count makes the first try succeed almost
	 * always, without a counter in the graph. */
	for (size_t k = g->values.len;; k++) {
		char *s = lathe_arena_printf(g->arena, "%s%zu", prefix, k);
		if (!lathe_map_get(&g->names, s, NULL))
			return s;
	}
}

lathe_err lathe_graph_add_node(lathe_graph *g, int op, const char *name,
			       int nin, const lathe_vid *in, int nout,
			       const char *const *out_names, lathe_node **out)
{
	if (op < 0 || op >= LATHE_OP_COUNT)
		return lathe_error(LATHE_EINVAL, "unknown op id %d", op);
	if (nin < 0 || nout < 0 || nin > 1000000 || nout > 1000000)
		return lathe_error(LATHE_EINVAL, "node '%s' (%s): bad input/output count",
				   name ? name : "", lathe_op_name(op));
	for (int i = 0; i < nin; i++)
		if (in[i] != LATHE_NOVAL && in[i] >= g->values.len)
			return lathe_error(LATHE_EINVAL,
					   "node '%s' (%s): input %d names no value",
					   name ? name : "", lathe_op_name(op), i);
	/* Check every output name first so that a failure leaves g unchanged. */
	for (int i = 0; i < nout; i++) {
		const char *on = out_names ? out_names[i] : NULL;
		if (!on || !*on)
			continue;
		if (lathe_map_get(&g->names, on, NULL))
			return lathe_error(LATHE_EINVAL,
					   "node '%s' (%s): output %d: value name '%s' is defined twice",
					   name ? name : "", lathe_op_name(op), i, on);
		for (int j = 0; j < i; j++)
			if (out_names[j] && !strcmp(out_names[j], on))
				return lathe_error(LATHE_EINVAL,
						   "node '%s' (%s): output name '%s' is repeated",
						   name ? name : "", lathe_op_name(op), on);
	}
	if (g->nodes.len >= (size_t)UINT32_MAX - 1)
		return lathe_error(LATHE_ENOMEM, "too many nodes in graph '%s'", g->name);
	lathe_node n = {0};
	n.op = op;
	n.name = lathe_arena_strdup(g->arena, name ? name : "");
	n.nin = nin;
	n.nout = nout;
	n.in = lathe_arena_new(g->arena, lathe_vid, nin ? nin : 1);
	if (nin)
		memcpy(n.in, in, sizeof(lathe_vid) * (size_t)nin);
	n.out = lathe_arena_new(g->arena, lathe_vid, nout ? nout : 1);
	uint32_t nid = (uint32_t)g->nodes.len;
	/* Named outputs first, so that a generated name cannot take a name
	 * that a later output of this node asks for. */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < nout; i++) {
			const char *on = out_names ? out_names[i] : NULL;
			bool named = on && *on;
			if (named != (pass == 0))
				continue;
			if (!named)
				on = lathe_graph_fresh_name(g, "t");
			lathe_err e = lathe_graph_add_value(g, on, lathe_type_unknown(),
							    &n.out[i]);
			LATHE_ASSERT(!e); /* names were checked above */
			lathe_value *v = lathe_graph_value(g, n.out[i]);
			v->def = LATHE_DEF_NODE;
			v->node = nid;
			v->index = (uint32_t)i;
		}
	}
	lathe_vec_push(&g->nodes, n);
	if (out)
		*out = &g->nodes.data[nid];
	return NULL;
}

lathe_vid lathe_graph_lookup(lathe_graph *g, const char *name)
{
	uint64_t id;
	if (!name || !*name)
		return LATHE_NOVAL;
	if (lathe_map_get(&g->names, name, &id))
		return (lathe_vid)id;
	if (!g->parent)
		return LATHE_NOVAL;
	lathe_vid outer = lathe_graph_lookup(g->parent, name);
	if (outer == LATHE_NOVAL)
		return LATHE_NOVAL;
	/* The capture takes the outer value's name (so the text form can name
	 * it without declaring it) and, for now, its type; inference refreshes
	 * the type from the parent. */
	lathe_vid cap;
	lathe_err e = lathe_graph_add_value(g, name, g->parent->values.data[outer].type, &cap);
	LATHE_ASSERT(!e);
	lathe_value *v = lathe_graph_value(g, cap);
	v->def = LATHE_DEF_OUTER;
	v->node = 0;
	v->outer = outer;
	return cap;
}

int32_t lathe_graph_intern_sym(lathe_graph *g, const char *name)
{
	lathe_graph *root = root_of(g);
	for (size_t i = 0; i < root->syms.len; i++)
		if (!strcmp(root->syms.data[i], name))
			return (int32_t)i;
	const char *s = lathe_arena_strdup(root->arena, name);
	lathe_vec_push(&root->syms, s);
	graph_root *r = (graph_root *)root;
	for (size_t i = 0; i < r->subs.len; i++)
		lathe_vec_push(&r->subs.data[i]->syms, s);
	return (int32_t)(root->syms.len - 1);
}

/* ---- attributes --------------------------------------------------------------- */

const lathe_attr *lathe_node_attr(const lathe_node *n, const char *name)
{
	for (int i = 0; i < n->nattr; i++)
		if (!strcmp(n->attrs[i].name, name))
			return &n->attrs[i];
	return NULL;
}

int64_t lathe_node_attr_int(const lathe_node *n, const char *name, int64_t dflt)
{
	const lathe_attr *a = lathe_node_attr(n, name);
	if (!a || a->kind != LATHE_ATTR_INT)
		return dflt;
	return a->u.i;
}

double lathe_node_attr_float(const lathe_node *n, const char *name, double dflt)
{
	const lathe_attr *a = lathe_node_attr(n, name);
	if (!a)
		return dflt;
	if (a->kind == LATHE_ATTR_FLOAT)
		return a->u.f;
	if (a->kind == LATHE_ATTR_INT)
		return (double)a->u.i;
	return dflt;
}

const char *lathe_node_attr_str(const lathe_node *n, const char *name, const char *dflt)
{
	const lathe_attr *a = lathe_node_attr(n, name);
	if (!a || a->kind != LATHE_ATTR_STRING)
		return dflt;
	return a->u.s;
}

void lathe_node_set_attr(lathe_graph *g, lathe_node *n, lathe_attr a)
{
	for (int i = 0; i < n->nattr; i++) {
		if (!strcmp(n->attrs[i].name, a.name)) {
			n->attrs[i] = a;
			return;
		}
	}
	/* Nodes have a handful of attributes and the array may have come from
	 * the caller, so grow by copying rather than assume a capacity. */
	lathe_attr *na = lathe_arena_new(g->arena, lathe_attr, n->nattr + 1);
	if (n->nattr)
		memcpy(na, n->attrs, sizeof(lathe_attr) * (size_t)n->nattr);
	na[n->nattr] = a;
	n->attrs = na;
	n->nattr++;
}
