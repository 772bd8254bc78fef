/* test_plan_concat.c: Concats the memory plan elides (plan.h): the inputs
 * of a Concat along an axis with only 1s before it, read by nothing else,
 * are placed at their slices of its output, which lives from the first
 * input's step; and the cases that must keep their copy: an input read
 * twice, a leading dimension above 1, a graph input or output, an input
 * that is another elided Concat's output.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan/plan.h"

static lathe_graph *parse(const char *text)
{
	lathe_graph *g = NULL;
	CHECK_OK(lathe_graph_parse(text, "test.ir", &g));
	if (g) {
		CHECK_OK(lathe_graph_verify(g));
		CHECK_OK(lathe_graph_infer(g));
	}
	return g;
}

static lathe_vid val(lathe_graph *g, const char *name)
{
	return lathe_graph_lookup(g, name);
}

/* The Concat's node is elided, each input at its slice of the output. */
static void test_elided(void)
{
	lathe_graph *g = parse("graph m(%x: f32[1,16,4,4]) -> (%y) {\n"
			       "  %a = Neg(%x)\n"
			       "  %b = Exp(%x)\n"
			       "  %c = Concat(%a, %b) {axis = 1}\n"
			       "  %y = Sin(%c)\n"
			       "}");
	if (!g)
		return;
	lathe_plan p;
	CHECK_OK(lathe_plan_memory(g, &p));
	CHECK(p.nelided == 1);
	lathe_vid a = val(g, "a"), b = val(g, "b"), c = val(g, "c");
	CHECK(p.offset[c] >= 0);
	CHECK(p.offset[a] == p.offset[c]);
	CHECK(p.offset[b] == p.offset[c] + 16 * 16 * 4);
	CHECK(p.first_step[c] == p.first_step[a]); /* live from the first input's step */
	int elided = 0;
	for (size_t k = 0; k < g->nodes.len; k++)
		if (p.elided[k]) {
			elided++;
			CHECK(g->nodes.data[k].op == LATHE_OP_Concat);
		}
	CHECK(elided == 1);
	lathe_buf buf = {0};
	lathe_plan_print(&buf, g, &p, false);
	CHECK(buf.data && strstr(buf.data, "1 Concats elided"));
	lathe_buf_free(&buf);
	lathe_plan_deinit(&p);
	lathe_graph_destroy(g);
}

/* Each of these keeps its copy. */
static void test_kept(void)
{
	static const char *const cases[] = {
		/* an input read by another node too */
		"graph m(%x: f32[1,16,4,4]) -> (%y) {\n"
		"  %a = Neg(%x)\n  %b = Exp(%x)\n  %c = Concat(%a, %b) {axis = 1}\n"
		"  %d = Sin(%c)\n  %y = Add(%d, %d)\n  %z = Cos(%a)\n}",
		/* a leading dimension above 1: slices are not contiguous */
		"graph m(%x: f32[2,16,4]) -> (%y) {\n"
		"  %a = Neg(%x)\n  %b = Exp(%x)\n  %c = Concat(%a, %b) {axis = 1}\n"
		"  %y = Sin(%c)\n}",
		/* a graph input */
		"graph m(%x: f32[1,16,4,4]) -> (%y) {\n"
		"  %b = Exp(%x)\n  %c = Concat(%x, %b) {axis = 1}\n  %y = Sin(%c)\n}",
		/* the output a graph output */
		"graph m(%x: f32[1,16,4,4]) -> (%c) {\n"
		"  %a = Neg(%x)\n  %b = Exp(%x)\n  %c = Concat(%a, %b) {axis = 1}\n}",
		/* the same input twice */
		"graph m(%x: f32[1,16,4,4]) -> (%y) {\n"
		"  %a = Neg(%x)\n  %c = Concat(%a, %a) {axis = 1}\n  %y = Sin(%c)\n}",
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		lathe_graph *g = parse(cases[i]);
		if (!g)
			continue;
		lathe_plan p;
		CHECK_OK(lathe_plan_memory(g, &p));
		CHECK(p.nelided == 0);
		if (p.nelided)
			fprintf(stderr, "  case %zu elided\n", i);
		lathe_plan_deinit(&p);
		lathe_graph_destroy(g);
	}
	/* Nested: the inner Concat is elided, the outer one (whose input is
	 * the inner's output) keeps its copy. */
	lathe_graph *g = parse("graph m(%x: f32[1,16,4,4]) -> (%y) {\n"
			       "  %a = Neg(%x)\n  %b = Exp(%x)\n"
			       "  %c = Concat(%a, %b) {axis = 1}\n"
			       "  %d = Cos(%x)\n"
			       "  %e = Concat(%c, %d) {axis = 1}\n"
			       "  %y = Sin(%e)\n}");
	if (g) {
		lathe_plan p;
		CHECK_OK(lathe_plan_memory(g, &p));
		CHECK(p.nelided == 1);
		lathe_vid c = val(g, "c"), e = val(g, "e");
		CHECK(p.offset[c] >= 0 && p.offset[e] >= 0);
		/* c is live while e is written: no overlap */
		CHECK(p.offset[c] + 2 * 1024 <= p.offset[e] || p.offset[e] + 3 * 1024 <= p.offset[c]);
		lathe_plan_deinit(&p);
		lathe_graph_destroy(g);
	}
}

int main(void)
{
	test_elided();
	test_kept();
	return CHECK_DONE("test_plan_concat");
}
