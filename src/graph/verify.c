/* verify.c: the graph IR verifier.
 *
 * Runs after import, after parsing and between passes in check builds.  It
 * checks what the rest of lathe assumes without checking:
 *   - every value has a well-formed type and a consistent def record, and
 *     its name maps back to it (so names are unique);
 *   - SSA and order: each node output is defined by exactly that node, and
 *     every use (node input, graph output) comes after its definition;
 *     values of dead nodes count as undefined;
 *   - node arity against the op's ONNX schema (registry.c);
 *   - attributes: unique names, kinds in range, arrays present, subgraphs
 *     owned by this graph; subgraphs are verified recursively, and each of
 *     their captures must name a value of the parent that is defined before
 *     the node that owns the subgraph.
 * It reports the first problem, with the node and graph it is in.  It never
 * changes the graph and never reads out of bounds on a malformed one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

static lathe_err verify_graph(const lathe_graph *g, const uint8_t *parent_defined);

static const char *node_desc(const lathe_graph *g, size_t idx, char *buf, size_t cap)
{
	const lathe_node *n = &g->nodes.data[idx];
	const char *op = n->op >= 0 && n->op < LATHE_OP_COUNT ? lathe_op_name(n->op) : "?";
	if (n->name && *n->name)
		snprintf(buf, cap, "node '%s' (%s)", n->name, op);
	else
		snprintf(buf, cap, "node #%zu (%s)", idx, op);
	return buf;
}

static lathe_err check_type(const lathe_graph *g, const lathe_type *t)
{
	if (t->kind > LATHE_TY_UNKNOWN)
		return lathe_error(LATHE_EINVAL, "bad type kind %d", t->kind);
	if (t->kind == LATHE_TY_UNKNOWN)
		return NULL;
	if (t->kind == LATHE_TY_OPTIONAL && t->elem_kind != LATHE_TY_TENSOR &&
	    t->elem_kind != LATHE_TY_SEQUENCE)
		return lathe_error(LATHE_EINVAL, "optional type holds neither a tensor nor a sequence");
	if (t->dtype < 0 || t->dtype >= LATHE_DT_COUNT)
		return lathe_error(LATHE_EINVAL, "bad element type %d", (int)t->dtype);
	if (t->rank < -1)
		return lathe_error(LATHE_EINVAL, "bad rank %d", (int)t->rank);
	if (t->rank > 0 && !t->dims)
		return lathe_error(LATHE_EINVAL, "rank %d type has no dims", (int)t->rank);
	for (int i = 0; i < t->rank; i++) {
		lathe_dim d = t->dims[i];
		if (d.sym >= 0 && (size_t)d.sym >= g->syms.len)
			return lathe_error(LATHE_EINVAL, "dim %d names symbol #%d, which does not exist",
					   i, (int)d.sym);
		if (d.sym < 0 && d.size < -1)
			return lathe_error(LATHE_EINVAL, "dim %d is negative (%lld)", i,
					   (long long)d.size);
	}
	return NULL;
}

static lathe_err check_tensor(const lathe_tensor *t)
{
	if (!t)
		return lathe_error(LATHE_EINVAL, "missing tensor");
	if (t->dtype <= 0 || t->dtype >= LATHE_DT_COUNT)
		return lathe_error(LATHE_EINVAL, "tensor has bad element type %d", (int)t->dtype);
	if (t->rank < 0 || (t->rank > 0 && !t->shape))
		return lathe_error(LATHE_EINVAL, "tensor has a malformed shape");
	int64_t n;
	LATHE_TRY(lathe_shape_numel(t->rank, t->shape, &n));
	if (n > 0 && !t->data)
		return lathe_error(LATHE_EINVAL, "tensor of %lld elements has no data", (long long)n);
	return NULL;
}

static lathe_err check_values(const lathe_graph *g)
{
	for (size_t i = 0; i < g->values.len; i++) {
		const lathe_value *v = &g->values.data[i];
		if (!v->name || !*v->name)
			return lathe_error(LATHE_EINVAL, "value #%zu has no name", i);
		uint64_t id;
		if (!lathe_map_get(&g->names, v->name, &id) || id != i)
			return lathe_error(LATHE_EINVAL, "value name %%%s is defined twice", v->name);
		LATHE_TRYF(check_type(g, &v->type), "value %%%s", v->name);
		switch (v->def) {
		case LATHE_DEF_INPUT:
			if (v->index >= g->inputs.len || g->inputs.data[v->index] != i)
				return lathe_error(LATHE_EINVAL,
						   "value %%%s claims to be graph input %u, which it is not",
						   v->name, v->index);
			if (v->konst)
				LATHE_TRYF(check_tensor(v->konst), "default of input %%%s", v->name);
			break;
		case LATHE_DEF_CONST:
			LATHE_TRYF(check_tensor(v->konst), "constant %%%s", v->name);
			break;
		case LATHE_DEF_NODE:
			/* node == UINT32_MAX: never defined; an error only if used. */
			if (v->node == UINT32_MAX)
				break;
			if (v->node >= g->nodes.len || v->index >= (uint32_t)g->nodes.data[v->node].nout ||
			    g->nodes.data[v->node].out[v->index] != i)
				return lathe_error(LATHE_EINVAL,
						   "value %%%s claims to be output %u of node #%u, which it is not",
						   v->name, v->index, v->node);
			break;
		case LATHE_DEF_OUTER:
			if (!g->parent)
				return lathe_error(LATHE_EINVAL,
						   "value %%%s captures an outer value, but graph '%s' is not a subgraph",
						   v->name, g->name);
			if (v->outer >= g->parent->values.len)
				return lathe_error(LATHE_EINVAL,
						   "value %%%s captures an outer value that does not exist",
						   v->name);
			break;
		default:
			return lathe_error(LATHE_EINVAL, "value %%%s has a bad def kind %d", v->name,
					   v->def);
		}
	}
	return NULL;
}

static lathe_err check_attr(const lathe_graph *g, const lathe_attr *a, const uint8_t *defined)
{
	if (a->kind < LATHE_ATTR_INT || a->kind > LATHE_ATTR_TYPE)
		return lathe_error(LATHE_EINVAL, "bad kind %d", a->kind);
	switch (a->kind) {
	case LATHE_ATTR_STRING:
		if (!a->u.s || a->slen < 0)
			return lathe_error(LATHE_EINVAL, "string has no data");
		break;
	case LATHE_ATTR_TENSOR:
		LATHE_TRY(check_tensor(a->u.t));
		break;
	case LATHE_ATTR_GRAPH:
		if (!a->u.g || a->u.g->parent != g)
			return lathe_error(LATHE_EINVAL, "subgraph does not belong to graph '%s'",
					   g->name);
		LATHE_TRYF(verify_graph(a->u.g, defined), "in subgraph '%s'", a->u.g->name);
		break;
	case LATHE_ATTR_INTS:
	case LATHE_ATTR_FLOATS:
	case LATHE_ATTR_STRINGS:
	case LATHE_ATTR_TENSORS:
	case LATHE_ATTR_GRAPHS:
		if (a->n < 0)
			return lathe_error(LATHE_EINVAL, "negative element count");
		if (a->n > 0 && !a->u.ints) /* any member of the union: the array */
			return lathe_error(LATHE_EINVAL, "list of %lld elements has no data",
					   (long long)a->n);
		for (int64_t i = 0; a->kind == LATHE_ATTR_STRINGS && i < a->n; i++)
			if (!a->u.strs[i])
				return lathe_error(LATHE_EINVAL, "string %lld is missing", (long long)i);
		for (int64_t i = 0; a->kind == LATHE_ATTR_TENSORS && i < a->n; i++)
			LATHE_TRYF(check_tensor(a->u.tensors[i]), "tensor %lld", (long long)i);
		for (int64_t i = 0; a->kind == LATHE_ATTR_GRAPHS && i < a->n; i++) {
			const lathe_graph *sub = a->u.graphs[i];
			if (!sub || sub->parent != g)
				return lathe_error(LATHE_EINVAL,
						   "subgraph %lld does not belong to graph '%s'",
						   (long long)i, g->name);
			LATHE_TRYF(verify_graph(sub, defined), "in subgraph '%s'", sub->name);
		}
		break;
	case LATHE_ATTR_TYPE:
		LATHE_TRY(check_type(g, &a->u.type));
		break;
	default:
		break;
	}
	return NULL;
}

/* n inputs or outputs (`what`, after `verb`: "takes 2 inputs") against
 * the op table's range [lo, hi], hi < 0 meaning no upper bound. */
static lathe_err check_count(const char *op, const char *verb, const char *what, int n, int lo,
			     int hi)
{
	if (n >= lo && (hi < 0 || n <= hi))
		return NULL;
	if (lo == hi)
		return lathe_error(LATHE_EINVAL, "%s %s %d %s%s, not %d", op, verb, lo, what,
				   lo == 1 ? "" : "s", n);
	if (hi < 0)
		return lathe_error(LATHE_EINVAL, "%s %s at least %d %s%s, not %d", op, verb, lo,
				   what, lo == 1 ? "" : "s", n);
	return lathe_error(LATHE_EINVAL, "%s %s %d to %d %ss, not %d", op, verb, lo, hi, what, n);
}

static lathe_err check_arity(const lathe_node *n)
{
	int min_in, max_in, min_out, max_out;
	if (!lathe_op_arity(n->op, &min_in, &max_in, &min_out, &max_out))
		return NULL;
	const char *op = lathe_op_name(n->op);
	LATHE_TRY(check_count(op, "takes", "input", n->nin, min_in, max_in));
	return check_count(op, "has", "output", n->nout, min_out, max_out);
}

static lathe_err check_node(const lathe_graph *g, size_t idx, uint8_t *defined)
{
	const lathe_node *n = &g->nodes.data[idx];
	if (n->op < 0 || n->op >= LATHE_OP_COUNT)
		return lathe_error(LATHE_EINVAL, "bad op id %d", n->op);
	if (n->nin < 0 || n->nout < 0 || (n->nin && !n->in) || (n->nout && !n->out) ||
	    n->nattr < 0 || (n->nattr && !n->attrs))
		return lathe_error(LATHE_EINVAL, "malformed input, output or attribute list");
	LATHE_TRY(check_arity(n));
	for (int i = 0; i < n->nin; i++) {
		lathe_vid v = n->in[i];
		if (v == LATHE_NOVAL)
			continue;
		if (v >= g->values.len)
			return lathe_error(LATHE_EINVAL, "input %d names no value", i);
		if (!defined[v]) {
			const lathe_value *val = &g->values.data[v];
			bool never = val->def == LATHE_DEF_NODE &&
				     (val->node == UINT32_MAX || g->nodes.data[val->node].dead);
			return lathe_error(LATHE_EINVAL, "input %d %%%s is %s", i, val->name,
					   never ? "never defined" : "used before its definition");
		}
	}
	for (int i = 0; i < n->nattr; i++) {
		const lathe_attr *a = &n->attrs[i];
		if (!a->name || !*a->name)
			return lathe_error(LATHE_EINVAL, "attribute %d has no name", i);
		for (int j = 0; j < i; j++)
			if (!strcmp(n->attrs[j].name, a->name))
				return lathe_error(LATHE_EINVAL, "attribute '%s' is given twice",
						   a->name);
		LATHE_TRYF(check_attr(g, a, defined), "attribute '%s'", a->name);
	}
	for (int i = 0; i < n->nout; i++) {
		lathe_vid v = n->out[i];
		if (v >= g->values.len)
			return lathe_error(LATHE_EINVAL, "output %d names no value", i);
		const lathe_value *val = &g->values.data[v];
		if (val->def != LATHE_DEF_NODE || val->node != idx || val->index != (uint32_t)i ||
		    defined[v])
			return lathe_error(LATHE_EINVAL, "output %d %%%s is defined twice", i,
					   val->name);
		defined[v] = 1;
	}
	return NULL;
}

static lathe_err verify_body(const lathe_graph *g, const uint8_t *parent_defined,
			     uint8_t *defined)
{
	LATHE_TRY(check_values(g));
	for (size_t i = 0; i < g->inputs.len; i++) {
		lathe_vid v = g->inputs.data[i];
		if (v >= g->values.len || g->values.data[v].def != LATHE_DEF_INPUT ||
		    g->values.data[v].index != i)
			return lathe_error(LATHE_EINVAL, "graph input %zu is not an input value", i);
	}
	for (size_t i = 0; i < g->values.len; i++) {
		const lathe_value *v = &g->values.data[i];
		if (v->def == LATHE_DEF_INPUT || v->def == LATHE_DEF_CONST)
			defined[i] = 1;
		if (v->def == LATHE_DEF_OUTER) {
			if (parent_defined && !parent_defined[v->outer])
				return lathe_error(LATHE_EINVAL,
						   "captured value %%%s is not defined before the node that owns this subgraph",
						   v->name);
			defined[i] = 1;
		}
	}
	for (size_t i = 0; i < g->nodes.len; i++) {
		if (g->nodes.data[i].dead)
			continue;
		char desc[256];
		LATHE_TRYF(check_node(g, i, defined), "%s", node_desc(g, i, desc, sizeof desc));
	}
	for (size_t i = 0; i < g->outputs.len; i++) {
		lathe_vid v = g->outputs.data[i];
		if (v >= g->values.len)
			return lathe_error(LATHE_EINVAL, "graph output %zu names no value", i);
		if (!defined[v])
			return lathe_error(LATHE_EINVAL, "graph output %%%s is never defined",
					   g->values.data[v].name);
	}
	return NULL;
}

static lathe_err verify_graph(const lathe_graph *g, const uint8_t *parent_defined)
{
	uint8_t *defined = lathe_xcalloc(g->values.len ? g->values.len : 1, 1);
	lathe_err e = verify_body(g, parent_defined, defined);
	free(defined);
	return e;
}

lathe_err lathe_graph_verify(const lathe_graph *g)
{
	if (!g)
		return lathe_error(LATHE_EINVAL, "no graph");
	return verify_graph(g, NULL);
}
