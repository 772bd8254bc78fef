/* test_graph.c: unit tests of the graph IR (src/graph) and the op helpers
 * of src/ops/common.c: building a graph through the API, the text form's
 * round trip, parse diagnostics, the verifier, captures, symbols,
 * broadcasting and the inference driver. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "graph/graph.h"
#include "ops/op.h"

static char *print_graph(const lathe_graph *g)
{
	lathe_buf b = {0};
	lathe_graph_print(&b, g);
	return b.data; /* caller frees */
}

static lathe_type ty(lathe_graph *g, int dtype, int rank, const int64_t *shape)
{
	return lathe_type_tensor(g->arena, dtype, rank, shape);
}

/* x: f32[batch,3], const w: f32[3]; y = Add(x, w); z = Relu(y) {alpha = 0.5}
 * and an If whose branches capture z. */
static lathe_graph *build_sample(void)
{
	lathe_graph *g = lathe_graph_create();
	g->opset = 21;
	lathe_type tx = ty(g, LATHE_DT_F32, 2, NULL);
	tx.dims[0].sym = lathe_graph_intern_sym(g, "batch");
	tx.dims[1].size = 3;
	lathe_vid x, w, c;
	CHECK_OK(lathe_graph_add_input(g, "x", tx, &x));
	CHECK_OK(lathe_graph_add_input(g, "c", ty(g, LATHE_DT_BOOL, 0, NULL), &c));
	int64_t three = 3;
	lathe_tensor *t;
	CHECK_OK(lathe_tensor_alloc(g->arena, LATHE_DT_F32, 1, &three, &t));
	((float *)t->data)[0] = 1.0f;
	((float *)t->data)[1] = 0.1f;
	((float *)t->data)[2] = -1e-5f;
	CHECK_OK(lathe_graph_add_const(g, "w", t, &w));

	lathe_node *n;
	const char *yname[] = {"y"};
	CHECK_OK(lathe_graph_add_node(g, LATHE_OP_Add, "add0", 2, (lathe_vid[]){x, w}, 1, yname, &n));
	lathe_vid y = n->out[0];
	CHECK_OK(lathe_graph_add_node(g, LATHE_OP_LeakyRelu, "", 1, &y, 1, NULL, &n));
	lathe_vid z = n->out[0];
	lathe_attr alpha = {.name = "alpha", .kind = LATHE_ATTR_FLOAT, .u.f = 1e-5f};
	lathe_node_set_attr(g, n, alpha);

	lathe_graph *then_g = lathe_graph_create_sub(g);
	then_g->name = "then_body";
	lathe_vid zc = lathe_graph_lookup(then_g, lathe_graph_value(g, z)->name);
	CHECK(zc != LATHE_NOVAL);
	CHECK(lathe_graph_value(then_g, zc)->def == LATHE_DEF_OUTER);
	CHECK(lathe_graph_lookup(then_g, lathe_graph_value(g, z)->name) == zc); /* reused */
	const char *tname[] = {"t"};
	CHECK_OK(lathe_graph_add_node(then_g, LATHE_OP_Neg, "", 1, &zc, 1, tname, &n));
	lathe_vec_push(&then_g->outputs, n->out[0]);

	lathe_graph *else_g = lathe_graph_create_sub(g);
	else_g->name = "else_body";
	lathe_vec_push(&else_g->outputs, lathe_graph_lookup(else_g, "x"));

	const char *rname[] = {"r"};
	CHECK_OK(lathe_graph_add_node(g, LATHE_OP_If, "branch", 1, &c, 1, rname, &n));
	lathe_node_set_attr(g, n, (lathe_attr){.name = "then_branch", .kind = LATHE_ATTR_GRAPH,
					       .u.g = then_g});
	lathe_node_set_attr(g, n, (lathe_attr){.name = "else_branch", .kind = LATHE_ATTR_GRAPH,
					       .u.g = else_g});
	lathe_vec_push(&g->outputs, n->out[0]);
	lathe_vec_push(&g->outputs, y);
	return g;
}

static void test_round_trip(void)
{
	lathe_graph *g = build_sample();
	CHECK_OK(lathe_graph_verify(g));
	char *a = print_graph(g);
	lathe_graph *h = NULL;
	CHECK_OK(lathe_graph_parse(a, "sample.ir", &h));
	if (h) {
		CHECK_OK(lathe_graph_verify(h));
		char *b = print_graph(h);
		CHECK_STR(b, a);
		free(b);
		lathe_graph_destroy(h);
	}
	/* The float attribute was a float: it prints as the short decimal. */
	CHECK(strstr(a, "alpha = 1e-05") != NULL);
	CHECK(strstr(a, "const %w: f32[3] = [1, 0.1, -1e-05]") != NULL);
	CHECK(strstr(a, "graph main(%x: f32[batch,3], %c: bool[]) -> (%r, %y) {") != NULL);
	free(a);
	lathe_graph_destroy(g);
}

static void test_use_before_def(void)
{
	lathe_graph *g = lathe_graph_create();
	int64_t two = 2;
	lathe_vid x;
	CHECK_OK(lathe_graph_add_input(g, "x", ty(g, LATHE_DT_F32, 1, &two), &x));
	lathe_node *n;
	const char *tn[] = {"t"}, *un[] = {"u"};
	CHECK_OK(lathe_graph_add_node(g, LATHE_OP_Neg, "first", 1, &x, 1, tn, &n));
	lathe_vid t = n->out[0];
	CHECK_OK(lathe_graph_add_node(g, LATHE_OP_Abs, "second", 1, &t, 1, un, &n));
	lathe_vec_push(&g->outputs, n->out[0]);
	CHECK_OK(lathe_graph_verify(g));

	/* Swap the two nodes (keeping the def records right): now Abs reads %t
	 * before Neg defines it. */
	lathe_node tmp = g->nodes.data[0];
	g->nodes.data[0] = g->nodes.data[1];
	g->nodes.data[1] = tmp;
	lathe_graph_value(g, t)->node = 1;
	lathe_graph_value(g, g->outputs.data[0])->node = 0;
	lathe_err e = lathe_graph_verify(g);
	CHECK(e != NULL);
	if (e) {
		CHECK_STR(lathe_error_message(e),
			  "node 'second' (Abs): input 0 %t is used before its definition");
		lathe_error_free(e);
	}

	/* A dead defining node makes the use an error too. */
	tmp = g->nodes.data[0];
	g->nodes.data[0] = g->nodes.data[1];
	g->nodes.data[1] = tmp;
	lathe_graph_value(g, t)->node = 0;
	lathe_graph_value(g, g->outputs.data[0])->node = 1;
	g->nodes.data[0].dead = true;
	e = lathe_graph_verify(g);
	CHECK(e != NULL);
	if (e) {
		CHECK_STR(lathe_error_message(e), "node 'second' (Abs): input 0 %t is never defined");
		lathe_error_free(e);
	}
	lathe_graph_destroy(g);
}

static void test_names_and_arity(void)
{
	lathe_graph *g = lathe_graph_create();
	lathe_vid x;
	CHECK_OK(lathe_graph_add_input(g, "x", lathe_type_unknown(), &x));
	lathe_err e = lathe_graph_add_input(g, "x", lathe_type_unknown(), NULL);
	CHECK(e && strstr(lathe_error_message(e), "defined twice"));
	lathe_error_free(e);
	const char *dup[] = {"x"};
	e = lathe_graph_add_node(g, LATHE_OP_Neg, "", 1, &x, 1, dup, NULL);
	CHECK(e && strstr(lathe_error_message(e), "defined twice"));
	lathe_error_free(e);
	CHECK(g->nodes.len == 0);

	/* Generated output names are fresh. */
	lathe_node *n;
	CHECK_OK(lathe_graph_add_node(g, LATHE_OP_Neg, "", 1, &x, 1, NULL, &n));
	const char *gen = lathe_graph_value(g, n->out[0])->name;
	CHECK(gen && *gen && strcmp(gen, "x"));

	/* Add with one input is an arity error. */
	CHECK_OK(lathe_graph_add_node(g, LATHE_OP_Add, "bad", 1, &x, 1, NULL, &n));
	e = lathe_graph_verify(g);
	CHECK(e != NULL);
	if (e) {
		CHECK_STR(lathe_error_message(e), "node 'bad' (Add): Add takes 2 inputs, not 1");
		lathe_error_free(e);
	}
	CHECK(lathe_op_lookup("", "Conv") == LATHE_OP_Conv);
	CHECK(lathe_op_lookup("ai.onnx", "Conv") == LATHE_OP_Conv);
	CHECK(lathe_op_lookup("ai.onnx.ml", "Conv") == -1);
	CHECK(lathe_op_lookup("ai.onnx.ml", "LabelEncoder") == LATHE_OP_LabelEncoder);
	CHECK(lathe_op_param_inputs(LATHE_OP_Reshape) == 0x2);
	lathe_graph_destroy(g);
}

static void test_symbols(void)
{
	lathe_graph *g = lathe_graph_create();
	lathe_graph *sub = lathe_graph_create_sub(g);
	int32_t a = lathe_graph_intern_sym(g, "batch");
	int32_t b = lathe_graph_intern_sym(sub, "seq");
	CHECK(lathe_graph_intern_sym(sub, "batch") == a);
	CHECK(g->syms.len == 2 && sub->syms.len == 2);
	CHECK(!strcmp(sub->syms.data[a], "batch") && !strcmp(g->syms.data[b], "seq"));

	lathe_type t = ty(g, LATHE_DT_F32, 3, (const int64_t[]){-1, 4, 0});
	t.dims[2].sym = b;
	lathe_buf buf = {0};
	lathe_type_print(&buf, g, &t);
	CHECK_STR(buf.data, "f32[?,4,seq]");
	lathe_buf_free(&buf);
	lathe_type s = t;
	s.kind = LATHE_TY_OPTIONAL;
	s.elem_kind = LATHE_TY_SEQUENCE;
	s.rank = -1;
	lathe_type_print(&buf, g, &s);
	CHECK_STR(buf.data, "opt<seq<f32>>");
	lathe_buf_free(&buf);
	CHECK(!lathe_type_is_static(&t));
	CHECK(lathe_type_equal(&t, &t));
	lathe_graph_destroy(g);
}

static void test_parse_errors(void)
{
	lathe_graph *g = NULL;
	lathe_err e = lathe_graph_parse("graph main(%x: f32[2] -> (%x) {\n}\n", "t.ir", &g);
	CHECK(e != NULL);
	if (e) {
		CHECK_STR(lathe_error_message(e),
			  "t.ir:1:23: expected ',' or ')' after a graph input\n"
			  "graph main(%x: f32[2] -> (%x) {\n"
			  "                      ^");
		lathe_error_free(e);
	}
	e = lathe_graph_parse("graph main() -> () {\n  %y = Frobnicate()\n}\n", "t.ir", &g);
	CHECK(e && strstr(lathe_error_message(e), "t.ir:2:8: unknown op 'Frobnicate'"));
	lathe_error_free(e);
	e = lathe_graph_parse("graph main() -> () {\n  const %w: f32[2] = [1]\n}\n", "t.ir", &g);
	CHECK(e && strstr(lathe_error_message(e), "has 2 elements but 1 value is given"));
	lathe_error_free(e);
	e = lathe_graph_parse("graph main() -> () {\n  %a = Identity(%b) {x = []}\n}", "t.ir", &g);
	CHECK(e && strstr(lathe_error_message(e), "%b is not defined"));
	lathe_error_free(e);
	e = lathe_graph_parse("graph main(%b: f32) -> () {\n  %a = Identity(%b) {x = []}\n}", "t.ir",
			      &g);
	CHECK(e && strstr(lathe_error_message(e), "an empty list needs its kind"));
	lathe_error_free(e);
}

static void test_broadcast(void)
{
	lathe_arena *a = lathe_arena_create();
	lathe_type x = lathe_type_tensor(a, LATHE_DT_F32, 3, (const int64_t[]){-1, 1, 4});
	x.dims[0].sym = 0;
	lathe_type y = lathe_type_tensor(a, LATHE_DT_F32, 2, (const int64_t[]){3, 1});
	const lathe_type *in[] = {&x, &y};
	lathe_type r;
	CHECK_OK(lathe_broadcast_types(a, 2, in, -1, &r));
	CHECK(r.rank == 3 && r.dims[0].sym == 0 && r.dims[1].size == 3 && r.dims[2].size == 4);
	CHECK(r.dtype == LATHE_DT_F32);
	lathe_type z = lathe_type_tensor(a, LATHE_DT_F32, 1, (const int64_t[]){5});
	const lathe_type *bad[] = {&x, &z};
	lathe_err e = lathe_broadcast_types(a, 2, bad, LATHE_DT_BOOL, &r);
	CHECK(e && strstr(lathe_error_message(e), "cannot broadcast"));
	lathe_error_free(e);
	int ax;
	CHECK_OK(lathe_norm_axis(-1, 3, &ax));
	CHECK(ax == 2);
	e = lathe_norm_axis(3, 3, &ax);
	CHECK(e != NULL);
	lathe_error_free(e);
	lathe_arena_destroy(a);
}

static void test_infer_add(void)
{
	lathe_graph *g = NULL;
	CHECK_OK(lathe_graph_parse("graph main(%x: f32[batch,1,4], %y: f32[3,1]) -> (%z) {\n"
				   "  %z = Add(%x, %y)\n"
				   "}\n",
				   "add.ir", &g));
	if (!g)
		return;
	CHECK_OK(lathe_graph_verify(g));
	CHECK_OK(lathe_graph_infer(g));
	lathe_buf b = {0};
	lathe_type_print(&b, g, &lathe_graph_value(g, g->outputs.data[0])->type);
	CHECK_STR(b.data, "f32[batch,3,4]");
	lathe_buf_free(&b);
	lathe_graph_destroy(g);

	/* A declared type that conflicts with inference is an error. */
	CHECK_OK(lathe_graph_parse("graph main(%x: f32[2], %y: f32[2]) -> (%z) {\n"
				   "  %z: i64[2] = Add(%x, %y) @sum\n"
				   "}\n",
				   "add.ir", &g));
	lathe_err e = g ? lathe_graph_infer(g) : NULL;
	CHECK(e && strstr(lathe_error_message(e), "node 'sum' (Add): output %z: inferred type "
							  "f32[2] conflicts with the declared "
							  "type i64[2]"));
	lathe_error_free(e);
	lathe_graph_destroy(g);
}

int main(void)
{
	test_round_trip();
	test_use_before_def();
	test_names_and_arity();
	test_symbols();
	test_parse_errors();
	test_broadcast();
	test_infer_add();
	return CHECK_DONE("test_graph");
}
