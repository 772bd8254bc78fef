/* print.c: the graph IR's text form, printing side (parse.c reads it back).
 *
 * The form is documented with an example in docs/graph-ir.md.  The printer
 * is canonical: for any graph g that verifies, print(parse(print(g))) equals
 * print(g), so golden tests can compare text and a bug report can be a
 * paste.  That drives the details:
 *   - floats print as the shortest decimal that reads back to the same
 *     value (as a float when the value is one, so an ONNX float attribute
 *     prints as 1e-05, not 9.9999997473787516e-06), and float attributes
 *     always carry a '.' or an exponent so they read back as floats;
 *   - empty lists name their kind (ints[]), since [] alone could be any;
 *   - names that are not plain tokens are quoted with C-like escapes;
 *   - constants of more than LATHE_PRINT_MAX_ELEMS elements print as
 *     `<elided N bytes>`, which the parser refuses;
 *   - constants print before nodes; dead nodes do not print; captured
 *     outer values are not declared, only named where they are used.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

#define LATHE_PRINT_MAX_ELEMS 64

static void print_graph(lathe_buf *b, const lathe_graph *g, int indent);

static void put_indent(lathe_buf *b, int indent)
{
	for (int i = 0; i < indent; i++)
		lathe_buf_puts(b, "  ");
}

/* Characters of a name that prints without quotes after % or @. */
static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '/';
}

void lathe_graph_put_quoted(lathe_buf *b, const char *s, size_t n)
{
	lathe_buf_puts(b, "\"");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			lathe_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			lathe_buf_puts(b, "\\n");
		else if (c == '\t')
			lathe_buf_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			lathe_buf_printf(b, "\\x%02x", c);
		else
			lathe_buf_printf(b, "%c", c);
	}
	lathe_buf_puts(b, "\"");
}

/* A value or node name: bare when every character is a name character. */
static void put_name(lathe_buf *b, const char *s)
{
	bool bare = *s != 0;
	for (const char *p = s; *p && bare; p++)
		bare = name_char(*p);
	if (bare)
		lathe_buf_puts(b, s);
	else
		lathe_graph_put_quoted(b, s, strlen(s));
}

/* A graph or attribute name: bare when it is an identifier. */
static void put_ident(lathe_buf *b, const char *s)
{
	bool bare = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_';
	for (const char *p = s; *p && bare; p++)
		bare = name_char(*p) && *p != '.' && *p != '/';
	if (bare)
		lathe_buf_puts(b, s);
	else
		lathe_graph_put_quoted(b, s, strlen(s));
}

static void put_value(lathe_buf *b, const lathe_graph *g, lathe_vid v)
{
	if (v == LATHE_NOVAL) {
		lathe_buf_puts(b, "_");
		return;
	}
	lathe_buf_puts(b, "%");
	if (v < g->values.len)
		put_name(b, g->values.data[v].name);
	else
		lathe_buf_printf(b, "\"<bad value #%u>\"", v);
}

/* Whole numbers print in full (65504, not 6.55e+04) while that is short. */
static bool put_whole(char *s, size_t cap, double v)
{
	if (v != floor(v) || fabs(v) >= 1e16)
		return false;
	snprintf(s, cap, "%.0f", v);
	return true;
}

/* Shortest decimal for v; as_float: v is the value of a float (or of a
 * narrower type held as one), and must read back through strtof. */
static void put_real(lathe_buf *b, double v, bool as_float, bool mark)
{
	char s[40];
	if (isnan(v)) {
		lathe_buf_puts(b, "nan");
		return;
	}
	if (isinf(v)) {
		lathe_buf_puts(b, v < 0 ? "-inf" : "inf");
		return;
	}
	if (put_whole(s, sizeof s, v)) {
		/* exact: below 1e16 every whole double prints exactly */
	} else if (as_float) {
		float f = (float)v;
		for (int p = 1; p <= 9; p++) {
			snprintf(s, sizeof s, "%.*g", p, (double)f);
			if (strtof(s, NULL) == f)
				break;
		}
	} else {
		for (int p = 1; p <= 17; p++) {
			snprintf(s, sizeof s, "%.*g", p, v);
			if (strtod(s, NULL) == v)
				break;
		}
	}
	lathe_buf_puts(b, s);
	if (mark && !strpbrk(s, ".e"))
		lathe_buf_puts(b, ".0");
}

static bool exactly_float(double v)
{
	return isnan(v) || isinf(v) || (double)(float)v == v;
}

/* The shortest decimal that the parser (strtof, then the runtime's rounding)
 * turns back into the same bits of an f16 or bf16. */
static void put_half(lathe_buf *b, uint16_t bits, bool bf16)
{
	float v = bf16 ? lathe_rt_bf16_to_f32(bits) : lathe_rt_f16_to_f32(bits);
	if (isnan(v) || isinf(v)) {
		put_real(b, v, true, false);
		return;
	}
	char s[40];
	for (int p = 1; p <= 9 && !put_whole(s, sizeof s, v); p++) {
		snprintf(s, sizeof s, "%.*g", p, (double)v);
		float r = strtof(s, NULL);
		if ((bf16 ? lathe_rt_f32_to_bf16(r) : lathe_rt_f32_to_f16(r)) == bits)
			break;
	}
	lathe_buf_puts(b, s);
}

/* Same for the one-byte float kinds (float8, float4, e8m0), which the
 * parser stores through lathe_rt_store_f64. */
static void put_byte_float(lathe_buf *b, const lathe_tensor *t, int64_t i)
{
	double v = lathe_rt_load_f64(t, i);
	if (isnan(v) || isinf(v)) {
		put_real(b, v, true, false);
		return;
	}
	uint8_t want = ((const uint8_t *)t->data)[i], got = 0;
	int64_t one = 1;
	lathe_tensor tmp = {t->dtype, 0, &one, &got};
	char s[40];
	for (int p = 1; p <= 17 && !put_whole(s, sizeof s, v); p++) {
		snprintf(s, sizeof s, "%.*g", p, v);
		lathe_rt_store_f64(&tmp, 0, strtod(s, NULL));
		if (got == want)
			break;
	}
	lathe_buf_puts(b, s);
}

static void put_elem(lathe_buf *b, const lathe_tensor *t, int64_t i)
{
	const void *d = t->data;
	switch (t->dtype) {
	case LATHE_DT_F32: put_real(b, ((const float *)d)[i], true, false); return;
	case LATHE_DT_F64: put_real(b, ((const double *)d)[i], false, false); return;
	case LATHE_DT_F16: put_half(b, ((const uint16_t *)d)[i], false); return;
	case LATHE_DT_BF16: put_half(b, ((const uint16_t *)d)[i], true); return;
	case LATHE_DT_C64:
		put_real(b, ((const float *)d)[2 * i], true, false);
		lathe_buf_puts(b, ", ");
		put_real(b, ((const float *)d)[2 * i + 1], true, false);
		return;
	case LATHE_DT_C128:
		put_real(b, ((const double *)d)[2 * i], false, false);
		lathe_buf_puts(b, ", ");
		put_real(b, ((const double *)d)[2 * i + 1], false, false);
		return;
	case LATHE_DT_BOOL: lathe_buf_puts(b, ((const uint8_t *)d)[i] ? "true" : "false"); return;
	case LATHE_DT_I8: lathe_buf_printf(b, "%d", ((const int8_t *)d)[i]); return;
	case LATHE_DT_U8: lathe_buf_printf(b, "%u", ((const uint8_t *)d)[i]); return;
	case LATHE_DT_I16: lathe_buf_printf(b, "%d", ((const int16_t *)d)[i]); return;
	case LATHE_DT_U16: lathe_buf_printf(b, "%u", ((const uint16_t *)d)[i]); return;
	case LATHE_DT_I32: lathe_buf_printf(b, "%d", ((const int32_t *)d)[i]); return;
	case LATHE_DT_U32: lathe_buf_printf(b, "%u", ((const uint32_t *)d)[i]); return;
	case LATHE_DT_I64: lathe_buf_printf(b, "%lld", (long long)((const int64_t *)d)[i]); return;
	case LATHE_DT_U64:
		lathe_buf_printf(b, "%llu", (unsigned long long)((const uint64_t *)d)[i]);
		return;
	case LATHE_DT_STR: {
		const char *s = ((char *const *)d)[i];
		lathe_graph_put_quoted(b, s ? s : "", s ? strlen(s) : 0);
		return;
	}
	case LATHE_DT_U4: case LATHE_DT_I4: case LATHE_DT_U2: case LATHE_DT_I2:
		lathe_buf_printf(b, "%lld", (long long)lathe_rt_load_i64(t, i));
		return;
	default:
		put_byte_float(b, t, i);
		return;
	}
}

/* The values of t: `[a, b, ...]` or `<elided N bytes>`. */
static void put_tensor_values(lathe_buf *b, const lathe_tensor *t)
{
	int64_t n = lathe_tensor_numel(t);
	if (n > 0 && !t->data) {
		/* Unverified graphs still print without a crash. */
		lathe_buf_puts(b, "<no data>");
		return;
	}
	if (n > LATHE_PRINT_MAX_ELEMS) {
		lathe_buf_printf(b, "<elided %zu bytes>", lathe_tensor_nbytes(t));
		return;
	}
	lathe_buf_puts(b, "[");
	for (int64_t i = 0; i < n; i++) {
		if (i)
			lathe_buf_puts(b, ", ");
		put_elem(b, t, i);
	}
	lathe_buf_puts(b, "]");
}

static void put_tensor_type(lathe_buf *b, const lathe_tensor *t)
{
	lathe_buf_puts(b, lathe_dtype_name(t->dtype));
	lathe_buf_puts(b, "[");
	for (int i = 0; i < t->rank; i++)
		lathe_buf_printf(b, i ? ",%lld" : "%lld", (long long)t->shape[i]);
	lathe_buf_puts(b, "]");
}

/* `tensor f32[2] [1, 2]` */
static void put_tensor(lathe_buf *b, const lathe_graph *g, const lathe_tensor *t)
{
	lathe_buf_puts(b, "tensor ");
	put_tensor_type(b, t);
	lathe_buf_puts(b, " ");
	put_tensor_values(b, t);
}

/* `: T = [..]` for a constant or an input's default: the values take the
 * declared type unless the tensor's own shape differs from it. */
static void put_typed_tensor(lathe_buf *b, const lathe_graph *g, const lathe_value *v)
{
	lathe_buf_puts(b, ": ");
	lathe_type_print(b, g, &v->type);
	lathe_buf_puts(b, " = ");
	const lathe_tensor *t = v->konst;
	bool same = v->type.kind == LATHE_TY_TENSOR && v->type.dtype == t->dtype &&
		    v->type.rank == t->rank;
	for (int i = 0; same && i < t->rank; i++)
		same = v->type.dims[i].sym < 0 && v->type.dims[i].size == t->shape[i];
	if (same)
		put_tensor_values(b, t);
	else
		put_tensor(b, g, t);
}

static bool attr_is_multiline(const lathe_attr *a)
{
	return a->kind == LATHE_ATTR_GRAPH || (a->kind == LATHE_ATTR_GRAPHS && a->n > 0);
}

static void put_attr_value(lathe_buf *b, const lathe_graph *g, const lathe_attr *a,
			   int indent)
{
	static const char *const empty_names[] = {
		[LATHE_ATTR_INTS] = "ints[]", [LATHE_ATTR_FLOATS] = "floats[]",
		[LATHE_ATTR_STRINGS] = "strings[]", [LATHE_ATTR_TENSORS] = "tensors[]",
		[LATHE_ATTR_GRAPHS] = "graphs[]",
	};
	switch (a->kind) {
	case LATHE_ATTR_INT: lathe_buf_printf(b, "%lld", (long long)a->u.i); return;
	case LATHE_ATTR_FLOAT: put_real(b, a->u.f, exactly_float(a->u.f), true); return;
	case LATHE_ATTR_STRING:
		/* slen == 0 with text: a builder that did not set slen. */
		lathe_graph_put_quoted(b, a->u.s,
				       a->slen || !a->u.s[0] ? (size_t)a->slen : strlen(a->u.s));
		return;
	case LATHE_ATTR_TENSOR: put_tensor(b, g, a->u.t); return;
	case LATHE_ATTR_GRAPH: print_graph(b, a->u.g, indent); return;
	case LATHE_ATTR_TYPE:
		lathe_buf_puts(b, "type ");
		lathe_type_print(b, g, &a->u.type);
		return;
	default:
		break;
	}
	if (a->n == 0) {
		lathe_buf_puts(b, empty_names[a->kind]);
		return;
	}
	lathe_buf_puts(b, "[");
	for (int64_t i = 0; i < a->n; i++) {
		if (i)
			lathe_buf_puts(b, ", ");
		switch (a->kind) {
		case LATHE_ATTR_INTS: lathe_buf_printf(b, "%lld", (long long)a->u.ints[i]); break;
		case LATHE_ATTR_FLOATS:
			put_real(b, a->u.floats[i], exactly_float(a->u.floats[i]), true);
			break;
		case LATHE_ATTR_STRINGS: {
			const char *s = a->u.strs[i];
			lathe_graph_put_quoted(b, s, strlen(s));
			break;
		}
		case LATHE_ATTR_TENSORS: put_tensor(b, g, a->u.tensors[i]); break;
		case LATHE_ATTR_GRAPHS: print_graph(b, a->u.graphs[i], indent); break;
		default: break;
		}
	}
	lathe_buf_puts(b, "]");
}

static void put_attrs(lathe_buf *b, const lathe_graph *g, const lathe_node *n, int indent)
{
	if (!n->nattr)
		return;
	bool multi = false;
	for (int i = 0; i < n->nattr; i++)
		multi |= attr_is_multiline(&n->attrs[i]);
	lathe_buf_puts(b, " {");
	for (int i = 0; i < n->nattr; i++) {
		const lathe_attr *a = &n->attrs[i];
		if (multi) {
			lathe_buf_puts(b, i ? ",\n" : "\n");
			put_indent(b, indent + 1);
		} else if (i) {
			lathe_buf_puts(b, ", ");
		}
		put_ident(b, a->name);
		lathe_buf_puts(b, " = ");
		put_attr_value(b, g, a, indent + 1);
	}
	if (multi) {
		lathe_buf_puts(b, "\n");
		put_indent(b, indent);
	}
	lathe_buf_puts(b, "}");
}

static void print_node(lathe_buf *b, const lathe_graph *g, const lathe_node *n, int indent)
{
	put_indent(b, indent);
	for (int i = 0; i < n->nout; i++) {
		if (i)
			lathe_buf_puts(b, ", ");
		put_value(b, g, n->out[i]);
		if (n->out[i] < g->values.len &&
		    g->values.data[n->out[i]].type.kind != LATHE_TY_UNKNOWN) {
			lathe_buf_puts(b, ": ");
			lathe_type_print(b, g, &g->values.data[n->out[i]].type);
		}
	}
	if (n->nout)
		lathe_buf_puts(b, " = ");
	lathe_buf_puts(b, lathe_op_name(n->op));
	lathe_buf_puts(b, "(");
	for (int i = 0; i < n->nin; i++) {
		if (i)
			lathe_buf_puts(b, ", ");
		put_value(b, g, n->in[i]);
	}
	lathe_buf_puts(b, ")");
	put_attrs(b, g, n, indent);
	if (n->name && *n->name) {
		lathe_buf_puts(b, " @");
		put_name(b, n->name);
	}
	if (n->group) /* fusion group (src/passes/fuse.c) */
		lathe_buf_printf(b, " group %u", (unsigned)n->group);
	lathe_buf_puts(b, "\n");
}

/* `graph name(%in: T, ...) -> (%out, ...) {` ... `}`; the opening line
 * continues the current one, the closing brace is at `indent`. */
static void print_graph(lathe_buf *b, const lathe_graph *g, int indent)
{
	lathe_buf_puts(b, "graph ");
	put_ident(b, g->name ? g->name : "");
	lathe_buf_puts(b, "(");
	for (size_t i = 0; i < g->inputs.len; i++) {
		lathe_vid v = g->inputs.data[i];
		if (i)
			lathe_buf_puts(b, ", ");
		put_value(b, g, v);
		if (v >= g->values.len)
			continue;
		const lathe_value *val = &g->values.data[v];
		if (val->konst) {
			put_typed_tensor(b, g, val);
		} else {
			lathe_buf_puts(b, ": ");
			lathe_type_print(b, g, &val->type);
		}
	}
	lathe_buf_puts(b, ") -> (");
	for (size_t i = 0; i < g->outputs.len; i++) {
		if (i)
			lathe_buf_puts(b, ", ");
		put_value(b, g, g->outputs.data[i]);
	}
	lathe_buf_puts(b, ") {\n");
	if (g->opset && (!g->parent || g->parent->opset != g->opset)) {
		put_indent(b, indent + 1);
		lathe_buf_printf(b, "opset %lld\n", (long long)g->opset);
	}
	for (size_t i = 0; i < g->values.len; i++) {
		const lathe_value *v = &g->values.data[i];
		if (v->def != LATHE_DEF_CONST || !v->konst)
			continue;
		put_indent(b, indent + 1);
		lathe_buf_puts(b, "const %");
		put_name(b, v->name);
		put_typed_tensor(b, g, v);
		lathe_buf_puts(b, "\n");
	}
	for (size_t i = 0; i < g->nodes.len; i++)
		if (!g->nodes.data[i].dead)
			print_node(b, g, &g->nodes.data[i], indent + 1);
	put_indent(b, indent);
	lathe_buf_puts(b, "}");
}

void lathe_graph_print(lathe_buf *b, const lathe_graph *g)
{
	print_graph(b, g, 0);
	lathe_buf_puts(b, "\n");
}
