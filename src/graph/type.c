/* type.c: value types of the graph IR (element type + shape of dims that are
 * constants, named symbols or unknown), and their text form.
 *
 * A dim is a symbol when sym >= 0 (its size is then ignored), else a
 * constant size, -1 meaning unknown.  Sequences and optionals reuse the
 * tensor fields for the tensors they hold.  Symbol names are read from the
 * graph's syms table, which is the same in every graph of a tree.
 *
 * Text form (parse.c reads it back, see docs/graph-ir.md):
 *   f32[1,3,224,224]   f32[batch,?]   f32[]  (a scalar)   f32  (unknown rank)
 *   seq<f32>   seq<f32[2]>   opt<f32[2]>   opt<seq<i64>>   ?  (not inferred)
 * Symbol names that are not plain identifiers are printed quoted.
 */
#include <string.h>

#include "graph/graph.h"

lathe_type lathe_type_tensor(lathe_arena *a, int dtype, int rank, const int64_t *shape)
{
	lathe_type t = {0};
	t.kind = LATHE_TY_TENSOR;
	t.elem_kind = LATHE_TY_TENSOR;
	t.dtype = dtype;
	t.rank = rank < 0 ? -1 : rank;
	if (t.rank > 0) {
		t.dims = lathe_arena_new(a, lathe_dim, t.rank);
		for (int i = 0; i < t.rank; i++) {
			t.dims[i].size = shape && shape[i] >= 0 ? shape[i] : -1;
			t.dims[i].sym = -1;
		}
	}
	return t;
}

lathe_type lathe_type_unknown(void)
{
	lathe_type t = {0};
	t.kind = LATHE_TY_UNKNOWN;
	t.rank = -1;
	return t;
}

bool lathe_type_is_static(const lathe_type *t)
{
	if (t->kind != LATHE_TY_TENSOR || t->rank < 0)
		return false;
	for (int i = 0; i < t->rank; i++)
		if (t->dims[i].sym >= 0 || t->dims[i].size < 0)
			return false;
	return true;
}

static bool dim_equal(lathe_dim a, lathe_dim b)
{
	if (a.sym >= 0 || b.sym >= 0)
		return a.sym == b.sym;
	return a.size == b.size;
}

bool lathe_type_equal(const lathe_type *a, const lathe_type *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == LATHE_TY_UNKNOWN)
		return true;
	if (a->kind == LATHE_TY_OPTIONAL && a->elem_kind != b->elem_kind)
		return false;
	if (a->dtype != b->dtype || a->rank != b->rank)
		return false;
	for (int i = 0; i < a->rank; i++)
		if (!dim_equal(a->dims[i], b->dims[i]))
			return false;
	return true;
}

static bool is_ident(const char *s)
{
	if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static void print_tensor_part(lathe_buf *b, const lathe_graph *g, const lathe_type *t)
{
	lathe_buf_puts(b, t->dtype == LATHE_DT_UNDEF ? "undef" : lathe_dtype_name(t->dtype));
	if (t->rank < 0 || (t->rank > 0 && !t->dims))
		return; /* dims missing: a bug the verifier reports; print no shape */
	lathe_buf_puts(b, "[");
	for (int i = 0; i < t->rank; i++) {
		lathe_dim d = t->dims[i];
		if (i)
			lathe_buf_puts(b, ",");
		if (d.sym >= 0) {
			if (g && (size_t)d.sym < g->syms.len) {
				const char *s = g->syms.data[d.sym];
				if (is_ident(s))
					lathe_buf_puts(b, s);
				else
					lathe_graph_put_quoted(b, s, strlen(s));
			} else {
				/* A dangling symbol is a bug the verifier reports;
				 * printing must still not read out of bounds. */
				lathe_buf_printf(b, "\"<sym %d>\"", (int)d.sym);
			}
		} else if (d.size < 0) {
			lathe_buf_puts(b, "?");
		} else {
			lathe_buf_printf(b, "%lld", (long long)d.size);
		}
	}
	lathe_buf_puts(b, "]");
}

void lathe_type_print(lathe_buf *b, const lathe_graph *g, const lathe_type *t)
{
	switch (t->kind) {
	case LATHE_TY_TENSOR:
		print_tensor_part(b, g, t);
		return;
	case LATHE_TY_SEQUENCE:
		lathe_buf_puts(b, "seq<");
		print_tensor_part(b, g, t);
		lathe_buf_puts(b, ">");
		return;
	case LATHE_TY_OPTIONAL:
		lathe_buf_puts(b, "opt<");
		if (t->elem_kind == LATHE_TY_SEQUENCE)
			lathe_buf_puts(b, "seq<");
		print_tensor_part(b, g, t);
		if (t->elem_kind == LATHE_TY_SEQUENCE)
			lathe_buf_puts(b, ">");
		lathe_buf_puts(b, ">");
		return;
	default:
		lathe_buf_puts(b, "?");
		return;
	}
}
