/* test_passes.c: unit tests of the graph passes (src/passes), fusion-group
 * lowering (src/lower/group.c) and memory planning (src/plan).
 *
 * Most tests are differential: a small graph (text form) runs on the
 * interpreter with random inputs before and after the pipeline, and the
 * outputs must agree (bitwise where no arithmetic was reassociated, within
 * float tolerance where BatchNormalization was folded).  After the pipeline
 * the executor runs each fusion group as ONE loop program through
 * lathe_lower_group, so these also check that fusion computes exactly what
 * the nodes compute one by one.  The shipped model
 * (models/mobilenet_v2_tiny.onnx) is checked the same way, and against its
 * expected output.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/npy.h"
#include "check.h"
#include "exec/exec.h"
#include "lower/group.h"
#include "onnx/onnx.h"
#include "passes/passes.h"
#include "plan/plan.h"

static lathe_graph *parse(const char *text)
{
	lathe_graph *g = NULL;
	lathe_err e = lathe_graph_parse(text, "test.ir", &g);
	CHECK_OK(e);
	if (g) {
		CHECK_OK(lathe_graph_verify(g));
		CHECK_OK(lathe_graph_infer(g));
	}
	return g;
}

static lathe_err run_passes(lathe_graph *g, const char *stop_after)
{
	lathe_pass_opts o = {.stop_after = stop_after, .check = true};
	return lathe_passes_run(g, &o);
}

/* Random inputs for g's (static) inputs, from a fixed seed. */
static lathe_rvalue *random_inputs(lathe_graph *g, lathe_arena *a, uint64_t seed)
{
	lathe_rvalue *in = lathe_arena_new(a, lathe_rvalue, g->inputs.len + 1);
	for (size_t i = 0; i < g->inputs.len; i++) {
		const lathe_type *t = &g->values.data[g->inputs.data[i]].type;
		int64_t shape[16];
		for (int d = 0; d < t->rank; d++)
			shape[d] = t->dims[d].size;
		lathe_tensor *x = NULL;
		CHECK_OK(lathe_tensor_alloc(a, t->dtype, t->rank, shape, &x));
		int64_t n = lathe_tensor_numel(x);
		for (int64_t k = 0; k < n; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			double u = (double)(seed >> 11) / 9007199254740992.0 * 4.0 - 2.0;
			lathe_rt_store_f64(x, k, u);
		}
		in[i] = (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = x->dtype, .t = x};
	}
	return in;
}

static lathe_rvalue *run(lathe_graph *g, lathe_arena *a, const lathe_rvalue *in)
{
	lathe_rvalue *out = lathe_arena_new(a, lathe_rvalue, g->outputs.len + 1);
	lathe_exec *e = lathe_exec_create(a);
	lathe_err err = lathe_exec_run(e, g, in, out);
	lathe_exec_destroy(e);
	CHECK_OK(err);
	return err ? NULL : out;
}

/* Largest |a - b| relative to max(1, max |b|); -1 on a shape mismatch. */
static double rel_diff(const lathe_tensor *a, const lathe_tensor *b)
{
	if (!a || !b || a->dtype != b->dtype || a->rank != b->rank)
		return -1;
	for (int d = 0; d < a->rank; d++)
		if (a->shape[d] != b->shape[d])
			return -1;
	double worst = 0, mag = 1;
	int64_t n = lathe_tensor_numel(a);
	for (int64_t k = 0; k < n; k++) {
		double x = lathe_rt_load_f64(a, k), y = lathe_rt_load_f64(b, k);
		if (isnan(x) != isnan(y))
			return INFINITY;
		if (isnan(x))
			continue;
		if (fabs(y) > mag)
			mag = fabs(y);
		if (fabs(x - y) > worst)
			worst = fabs(x - y);
	}
	return worst / mag;
}

/* Runs text's graph before and after the pipeline (to stop_after) on random
 * inputs; returns the optimized graph (caller destroys) and the largest
 * relative difference of the outputs in *diff. */
static lathe_graph *differential(const char *text, const char *stop_after, double *diff)
{
	*diff = INFINITY;
	lathe_graph *g = parse(text);
	if (!g)
		return NULL;
	lathe_arena *a = lathe_arena_create();
	lathe_rvalue *in = random_inputs(g, a, 42);
	lathe_rvalue *ref = run(g, a, in);
	lathe_err e = run_passes(g, stop_after);
	CHECK_OK(e);
	lathe_rvalue *got = ref && !e ? run(g, a, in) : NULL;
	if (got) {
		*diff = 0;
		for (size_t i = 0; i < g->outputs.len; i++) {
			double d = rel_diff(got[i].t, ref[i].t);
			if (d < 0 || d > *diff)
				*diff = d < 0 ? INFINITY : d;
		}
	}
	lathe_arena_destroy(a);
	return g;
}

static int count_op(const lathe_graph *g, int op)
{
	int n = 0;
	for (size_t k = 0; k < g->nodes.len; k++)
		n += !g->nodes.data[k].dead && g->nodes.data[k].op == op;
	return n;
}

static int count_consts(const lathe_graph *g)
{
	int n = 0;
	for (size_t v = 0; v < g->values.len; v++)
		n += g->values.data[v].def == LATHE_DEF_CONST;
	return n;
}

static int count_groups(const lathe_graph *g)
{
	uint32_t last = 0;
	int n = 0;
	for (size_t k = 0; k < g->nodes.len; k++) {
		uint32_t id = g->nodes.data[k].group;
		if (id && id != last)
			n++;
		last = id;
	}
	return n;
}

/* Locals left in the fused program of the group containing node k. */
static int group_locals(lathe_graph *g, size_t k, int *nparams, int *sched)
{
	size_t first, count;
	lathe_group_range(g, k, &first, &count);
	lathe_arena *a = lathe_arena_create();
	lathe_group_io io;
	lathe_tir_func *f = NULL;
	lathe_err e = lathe_lower_group(g, first, count, a, &io, &f);
	CHECK_OK(e);
	int locals = -1;
	if (f) {
		locals = (int)f->bufs.len - f->nparams;
		*nparams = f->nparams;
		*sched = f->sched_class;
		CHECK(io.nin + io.nout == f->nparams);
		lathe_tir_func_deinit(f);
	}
	lathe_arena_destroy(a);
	return locals;
}

static void test_pass_names(void)
{
	const char *const *names = lathe_passes_names();
	CHECK_STR(names[0], "infer");
	CHECK(lathe_passes_known("fuse"));
	CHECK(!lathe_passes_known("nope"));
	lathe_graph *g = parse("graph m(%x: f32[2]) -> (%y) { %y = Relu(%x) }");
	lathe_pass_opts o = {.stop_after = "nope"};
	lathe_err e = lathe_passes_run(g, &o);
	CHECK(e && strstr(lathe_error_message(e), "const_fold"));
	lathe_error_free(e);
	lathe_pass_opts o2 = {.skip = "fuse,bogus"};
	e = lathe_passes_run(g, &o2);
	CHECK(e && strstr(lathe_error_message(e), "bogus"));
	lathe_error_free(e);
	lathe_graph_destroy(g);
}

/* Shape computations fold once shapes are known. */
static void test_const_fold_shapes(void)
{
	double d;
	lathe_graph *g = differential(
		"graph m(%x: f32[2,3,4]) -> (%y) {\n"
		"  const %i0: i64[] = [0]\n"
		"  const %m1: i64[1] = [-1]\n"
		"  %s = Shape(%x)\n"
		"  %b = Gather(%s, %i0) {axis = 0}\n"
		"  %b1 = Unsqueeze(%b, %i0)\n"
		"  %t = Concat(%b1, %m1) {axis = 0}\n"
		"  %y = Reshape(%x, %t)\n"
		"}",
		NULL, &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_Shape) == 0 && count_op(g, LATHE_OP_Concat) == 0);
	CHECK(count_op(g, LATHE_OP_Reshape) == 1);
	lathe_vid y = g->outputs.data[0];
	CHECK(lathe_type_is_static(&g->values.data[y].type));
	CHECK(g->values.data[y].type.dims[1].size == 12);
	lathe_graph_destroy(g);

	/* All-constant arithmetic folds, keeping the value's name. */
	g = differential("graph m(%x: f32[3]) -> (%y) {\n"
			 "  const %a: f32[3] = [1, 2, 3]\n"
			 "  %b = Mul(%a, %a)\n"
			 "  %y = Add(%x, %b)\n"
			 "}",
			 "const_fold", &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_Mul) == 0);
	lathe_vid b = lathe_graph_lookup(g, "b");
	CHECK(b != LATHE_NOVAL && g->values.data[b].def == LATHE_DEF_CONST &&
	      ((float *)g->values.data[b].konst->data)[2] == 9.0f);
	lathe_graph_destroy(g);

	/* Above the size limit nothing folds. */
	g = parse("graph m(%x: f32[4]) -> (%y) {\n"
		  "  const %s: i64[1] = [1000]\n"
		  "  %c = ConstantOfShape(%s)\n"
		  "  %y = Add(%x, %x)\n"
		  "}");
	CHECK_OK(lathe_pass_const_fold(g, 100));
	CHECK(count_op(g, LATHE_OP_ConstantOfShape) == 1);
	CHECK_OK(lathe_pass_const_fold(g, 0));
	CHECK(count_op(g, LATHE_OP_ConstantOfShape) == 0);
	lathe_graph_destroy(g);

	/* Random ops never fold. */
	g = parse("graph m() -> (%y) { %y = RandomNormal() {shape = [2], dtype = 1} }");
	CHECK_OK(run_passes(g, NULL));
	CHECK(count_op(g, LATHE_OP_RandomNormal) == 1);
	lathe_graph_destroy(g);
}

static void test_dce_cse(void)
{
	double d;
	lathe_graph *g = differential("graph m(%x: f32[2,3], %unused: f32[1]) -> (%y) {\n"
				      "  const %k: f32[] = [2]\n"
				      "  const %k2: f32[] = [2]\n"
				      "  const %dead: f32[] = [7]\n"
				      "  %a = Mul(%x, %k)\n"
				      "  %b = Mul(%x, %k2)\n"
				      "  %c = Exp(%x)\n"
				      "  %d = Sub(%c, %dead)\n"
				      "  %y = Add(%a, %b)\n"
				      "}",
				      "dce", &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_Mul) == 1);
	CHECK(count_op(g, LATHE_OP_Exp) == 0 && count_op(g, LATHE_OP_Sub) == 0);
	CHECK(count_consts(g) == 1);
	CHECK(g->inputs.len == 2); /* the interface stays */
	CHECK(lathe_graph_lookup(g, "dead") == LATHE_NOVAL);
	lathe_graph_destroy(g);

	/* Two graph outputs from equal nodes: both names survive. */
	g = differential("graph m(%x: f32[3]) -> (%y, %z) {\n"
			 "  %y = Neg(%x)\n"
			 "  %z = Neg(%x)\n"
			 "}",
			 NULL, &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_Neg) == 2);
	lathe_graph_destroy(g);

	/* Attributes decide equality. */
	g = differential("graph m(%x: f32[3]) -> (%y) {\n"
			 "  %a = LeakyRelu(%x) {alpha = 0.1}\n"
			 "  %b = LeakyRelu(%x) {alpha = 0.2}\n"
			 "  %c = LeakyRelu(%x) {alpha = 0.1}\n"
			 "  %s = Sum(%a, %b, %c)\n"
			 "  %y = Identity(%s)\n"
			 "}",
			 "dce", &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_LeakyRelu) == 2);
	CHECK(count_op(g, LATHE_OP_Identity) == 0);
	CHECK(lathe_graph_lookup(g, "y") != LATHE_NOVAL); /* output keeps its name */
	lathe_graph_destroy(g);
}

static void test_simplify(void)
{
	double d;
	/* BatchNormalization folded into the Conv. */
	lathe_graph *g = differential(
		"graph m(%x: f32[1,2,4,4]) -> (%y) {\n"
		"  const %w: f32[3,2,1,1] = [0.5, -1, 2, 0.25, 1, 1]\n"
		"  const %s: f32[3] = [1.5, 0.5, 2]\n"
		"  const %b: f32[3] = [0.1, -0.2, 0.3]\n"
		"  const %m: f32[3] = [0.2, 0, -0.4]\n"
		"  const %v: f32[3] = [1, 2, 0.5]\n"
		"  %c = Conv(%x, %w) {kernel_shape = [1, 1]}\n"
		"  %y = BatchNormalization(%c, %s, %b, %m, %v) {epsilon = 0.001}\n"
		"}",
		"dce", &d);
	CHECK(d < 1e-5);
	CHECK(count_op(g, LATHE_OP_BatchNormalization) == 0);
	CHECK(count_op(g, LATHE_OP_Conv) == 1);
	CHECK(lathe_graph_lookup(g, "y") == g->outputs.data[0]);
	CHECK(count_consts(g) == 2); /* W' and b' */
	lathe_graph_destroy(g);

	/* MatMul + bias -> Gemm; Gemm without C + bias -> Gemm with C. */
	g = differential("graph m(%x: f32[3,4]) -> (%y, %z) {\n"
			 "  const %w: f32[4,2] = [1, 2, 3, 4, 5, 6, 7, 8]\n"
			 "  const %b: f32[2] = [0.5, -0.5]\n"
			 "  %p = MatMul(%x, %w)\n"
			 "  %y = Add(%p, %b)\n"
			 "  %q = Gemm(%x, %w) {alpha = 2.0, beta = 3.0}\n"
			 "  %z = Add(%b, %q)\n"
			 "}",
			 "dce", &d);
	CHECK(d < 1e-6);
	CHECK(count_op(g, LATHE_OP_MatMul) == 0 && count_op(g, LATHE_OP_Add) == 0);
	CHECK(count_op(g, LATHE_OP_Gemm) == 2);
	lathe_graph_destroy(g);

	/* A bias that broadcasts the product up is not a Gemm's C. */
	g = differential("graph m(%x: f32[1,4]) -> (%y) {\n"
			 "  const %w: f32[4,1] = [1, 2, 3, 4]\n"
			 "  const %b: f32[3,1] = [1, 2, 3]\n"
			 "  %p = MatMul(%x, %w)\n"
			 "  %y = Add(%p, %b)\n"
			 "}",
			 "dce", &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_MatMul) == 1);
	lathe_graph_destroy(g);

	/* Reshape chains and transposes; Dropout and Identity removed. */
	g = differential("graph m(%x: f32[2,3,4]) -> (%y, %z) {\n"
			 "  const %s1: i64[2] = [6, 4]\n"
			 "  const %ax: i64[1] = [0]\n"
			 "  %r = Reshape(%x, %s1)\n"
			 "  %f = Flatten(%r) {axis = 0}\n"
			 "  %u = Unsqueeze(%f, %ax)\n"
			 "  %dr = Dropout(%u)\n"
			 "  %y = Identity(%dr)\n"
			 "  %t1 = Transpose(%x) {perm = [1, 0, 2]}\n"
			 "  %t2 = Transpose(%t1) {perm = [2, 1, 0]}\n"
			 "  %t3 = Transpose(%t2) {perm = [1, 0, 2]}\n"
			 "  %z = Transpose(%t3) {perm = [0, 2, 1]}\n"
			 "}",
			 "dce", &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_Reshape) == 1 && count_op(g, LATHE_OP_Flatten) == 0);
	CHECK(count_op(g, LATHE_OP_Dropout) == 0 && count_op(g, LATHE_OP_Identity) == 0);
	CHECK(count_op(g, LATHE_OP_Transpose) == 1);
	lathe_graph_destroy(g);

	/* Transposes that cancel disappear; an identity on an input stays
	 * (the output needs its own name). */
	g = differential("graph m(%x: f32[2,3]) -> (%y, %z) {\n"
			 "  %a = Transpose(%x)\n"
			 "  %b = Transpose(%a)\n"
			 "  %y = Relu(%b)\n"
			 "  %z = Identity(%x)\n"
			 "}",
			 "dce", &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_Transpose) == 0 && count_op(g, LATHE_OP_Identity) == 1);
	lathe_graph_destroy(g);

	/* Gathers of one constant index become Slice + Reshape (negative and
	 * i32 indices too), which fusion joins to their readers; an index
	 * vector or an index out of range stays a Gather. */
	g = differential("graph m(%x: f32[3,4,5]) -> (%a, %b, %c, %d) {\n"
			 "  const %i0: i64[] = [2]\n"
			 "  const %i1: i64[] = [-1]\n"
			 "  const %i2: i32[] = [3]\n"
			 "  const %iv: i64[2] = [0, 2]\n"
			 "  %g0 = Gather(%x, %i0)\n"
			 "  %a = Relu(%g0)\n"
			 "  %g1 = Gather(%x, %i1) {axis = 2}\n"
			 "  %b = Transpose(%g1)\n"
			 "  %c = Gather(%x, %i2) {axis = -2}\n"
			 "  %d = Gather(%x, %iv) {axis = 1}\n"
			 "}",
			 "fuse", &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_Gather) == 1 && count_op(g, LATHE_OP_Slice) == 3);
	for (size_t k = 0; g && k < g->nodes.len; k++) {
		const lathe_node *n = &g->nodes.data[k];
		if (!n->dead && n->op == LATHE_OP_Slice)
			CHECK(n->group != 0); /* with its Reshape at least */
	}
	lathe_graph_destroy(g);
	/* One element of a vector: a Reshape to a scalar. */
	g = differential("graph m(%x: f32[5]) -> (%y) {\n"
			 "  const %i: i64[] = [-2]\n"
			 "  %g = Gather(%x, %i)\n"
			 "  %y = Neg(%g)\n"
			 "}",
			 "fuse", &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_Gather) == 0 && count_op(g, LATHE_OP_Slice) == 1);
	lathe_graph_destroy(g);
	g = parse("graph m(%x: f32[3,4]) -> (%y) {\n"
		  "  const %i: i64[] = [3]\n"
		  "  %y = Gather(%x, %i)\n"
		  "}");
	CHECK_OK(run_passes(g, "dce"));
	CHECK(count_op(g, LATHE_OP_Gather) == 1 && count_op(g, LATHE_OP_Slice) == 0);
	lathe_graph_destroy(g);
}

static void test_fuse(void)
{
	double d;
	/* Conv + bias + Relu + residual Add: one group, the epilogue in the
	 * conv's store (only the accumulator is left as a local). */
	lathe_graph *g = differential(
		"graph m(%x: f32[1,2,5,5]) -> (%y) {\n"
		"  const %w: f32[2,2,3,3] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9,\n"
		"                           -1, 2, -3, 4, -5, 6, -7, 8, -9, 1, 0, 1, 0, 1, 0, 1, 0, 1]\n"
		"  const %b: f32[2,1,1] = [0.5, -0.5]\n"
		"  const %lo: f32[] = [0]\n"
		"  const %hi: f32[] = [6]\n"
		"  %c = Conv(%x, %w) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]}\n"
		"  %cb = Add(%c, %b)\n"
		"  %r = Clip(%cb, %lo, %hi)\n"
		"  %y = Add(%r, %x)\n"
		"}",
		NULL, &d);
	CHECK(d == 0);
	CHECK(count_groups(g) == 1);
	int np = 0, sc = 0;
	CHECK(group_locals(g, 0, &np, &sc) == 1);
	CHECK(np == 6 && sc != LATHE_SCHED_ELEMENTWISE && sc != LATHE_SCHED_NONE);
	lathe_graph_destroy(g);

	/* GELU as ONNX exports it: the matmul's output is read twice, both
	 * readers join; the whole chain is the epilogue. */
	g = differential("graph m(%x: f32[2,3,4]) -> (%y) {\n"
			 "  const %w: f32[4,4] = [1, 0, 0, 1, 0, 1, 1, 0, 0.5, 0.5, 0, 0, -1, 0, 0, 1]\n"
			 "  const %bias: f32[4] = [0.1, 0.2, 0.3, 0.4]\n"
			 "  const %s2: f32[] = [1.4142135]\n"
			 "  const %one: f32[] = [1]\n"
			 "  const %half: f32[] = [0.5]\n"
			 "  %m = MatMul(%x, %w)\n"
			 "  %t = Add(%m, %bias)\n"
			 "  %q = Div(%t, %s2)\n"
			 "  %e = Erf(%q)\n"
			 "  %e1 = Add(%e, %one)\n"
			 "  %p = Mul(%t, %e1)\n"
			 "  %y = Mul(%p, %half)\n"
			 "}",
			 NULL, &d);
	CHECK(d == 0);
	CHECK(count_groups(g) == 1 && g->nodes.len == 7);
	CHECK(group_locals(g, 0, &np, &sc) == 1);
	lathe_graph_destroy(g);

	/* A conv read twice (by a Relu and by the graph output): the Relu
	 * cannot be an epilogue.  Two independent elementwise chains meet. */
	g = differential("graph m(%x: f32[1,1,3,3], %z: f32[1,1,3,3]) -> (%c, %y) {\n"
			 "  const %w: f32[1,1,1,1] = [2]\n"
			 "  %c = Conv(%x, %w) {kernel_shape = [1, 1]}\n"
			 "  %r = Relu(%c)\n"
			 "  %e = Exp(%z)\n"
			 "  %s = Sin(%z)\n"
			 "  %a = Add(%e, %s)\n"
			 "  %y = Mul(%a, %r)\n"
			 "}",
			 NULL, &d);
	CHECK(d == 0);
	CHECK(g->nodes.data[0].op == LATHE_OP_Conv && g->nodes.data[0].group == 0);
	CHECK(count_groups(g) == 1);
	size_t k = 1;
	while (k < g->nodes.len && !g->nodes.data[k].group)
		k++;
	CHECK(k < g->nodes.len && group_locals(g, k, &np, &sc) == 0);
	CHECK(sc == LATHE_SCHED_ELEMENTWISE);
	lathe_graph_destroy(g);

	/* Broadcasting up is not fused (it would repeat the work); casts and
	 * comparisons with other element types are. */
	g = differential("graph m(%x: f32[4], %z: f32[3,4]) -> (%y) {\n"
			 "  const %zero: f32[] = [0]\n"
			 "  %e = Exp(%x)\n"
			 "  %a = Add(%e, %z)\n"
			 "  %gt = Greater(%a, %zero)\n"
			 "  %y = Cast(%gt) {to = 7}\n"
			 "}",
			 NULL, &d);
	CHECK(d == 0);
	CHECK(count_groups(g) == 1 && g->nodes.data[0].op == LATHE_OP_Exp &&
	      g->nodes.data[0].group == 0);
	lathe_graph_destroy(g);
}

/* Values captured by subgraphs are never renamed or removed. */
static void test_captures(void)
{
	double d;
	lathe_graph *g = differential("graph m(%x: f32[2], %c: bool[]) -> (%r) {\n"
				      "  const %k: f32[2] = [1, 2]\n"
				      "  %a = Identity(%x)\n"
				      "  %n = Neg(%x)\n"
				      "  %n2 = Neg(%x)\n"
				      "  %kk = Mul(%k, %k)\n"
				      "  %r = If(%c) {\n"
				      "    then_branch = graph t() -> (%o) { %o = Add(%a, %n2) },\n"
				      "    else_branch = graph e() -> (%o2) { %o2 = Sub(%kk, %n) }\n"
				      "  }\n"
				      "}",
				      NULL, &d);
	CHECK(d == 0);
	CHECK(count_op(g, LATHE_OP_Identity) == 1 && count_op(g, LATHE_OP_Neg) == 2);
	lathe_vid kk = lathe_graph_lookup(g, "kk");
	CHECK(kk != LATHE_NOVAL && g->values.data[kk].def == LATHE_DEF_CONST);
	lathe_graph_destroy(g);
}

/* The groups of a parsed graph (text form with `group N`) lower and run. */
static void test_group_text(void)
{
	lathe_graph *g = parse("graph m(%x: f32[2,2]) -> (%y) {\n"
			       "  %a = Neg(%x) group 1\n"
			       "  %y = Exp(%a) group 1\n"
			       "}");
	CHECK(g && g->nodes.data[1].group == 1);
	lathe_buf b = {0};
	lathe_graph_print(&b, g);
	CHECK(b.data && strstr(b.data, "Exp(%a) group 1\n"));
	lathe_buf_free(&b);
	int np, sc;
	CHECK(group_locals(g, 1, &np, &sc) == 0 && np == 2);
	CHECK_OK(lathe_passes_check_groups(g));
	lathe_graph_destroy(g);

	/* The checker rejects a member read outside its group. */
	g = parse("graph m(%x: f32[2]) -> (%y, %a) {\n"
		  "  %a = Neg(%x) group 1\n"
		  "  %y = Exp(%a) group 1\n"
		  "}");
	lathe_err e = lathe_passes_check_groups(g);
	CHECK(e != NULL);
	lathe_error_free(e);
	lathe_graph_destroy(g);
}

/* Every pair of planned values with overlapping lifetimes is disjoint. */
static bool plan_ok(const lathe_graph *g, const lathe_plan *p)
{
	for (size_t a = 0; a < p->nvalues; a++) {
		if (p->offset[a] < 0)
			continue;
		if (p->offset[a] % LATHE_PLAN_ALIGN || p->offset[a] + p->size[a] > p->workspace_size)
			return false;
		for (size_t b = a + 1; b < p->nvalues; b++) {
			if (p->offset[b] < 0)
				continue;
			bool live = p->first_step[a] <= p->last_step[b] &&
				    p->first_step[b] <= p->last_step[a];
			bool mem = p->offset[a] < p->offset[b] + p->size[b] &&
				   p->offset[b] < p->offset[a] + p->size[a];
			if (live && mem && p->size[a] && p->size[b]) {
				fprintf(stderr, "plan: %s and %s overlap\n", g->values.data[a].name,
					g->values.data[b].name);
				return false;
			}
		}
	}
	return true;
}

static void test_plan(void)
{
	lathe_graph *g = parse("graph m(%x: f32[1024]) -> (%y) {\n"
			       "  %a = Neg(%x)\n"
			       "  %b = Exp(%a)\n"
			       "  %c = Sin(%b)\n"
			       "  %d = Add(%c, %b)\n"
			       "  %y = Cos(%d)\n"
			       "}");
	lathe_plan p;
	CHECK_OK(lathe_plan_memory(g, &p));
	CHECK(plan_ok(g, &p));
	CHECK(p.nplanned == 4 && p.sum_intermediates == 4 * 4096);
	CHECK(p.max_live == 3 * 4096);       /* b, c and d at the Add */
	CHECK(p.workspace_size == 3 * 4096); /* a's bytes reused */
	CHECK(p.offset[lathe_graph_lookup(g, "y")] == -1);
	lathe_buf b = {0};
	lathe_plan_print(&b, g, &p, true);
	CHECK(b.data && strstr(b.data, "largest live set") && strstr(b.data, "%d"));
	lathe_buf_free(&b);
	lathe_plan_deinit(&p);
	/* Fused, only the group's output is planned. */
	CHECK_OK(run_passes(g, NULL));
	CHECK_OK(lathe_plan_memory(g, &p));
	CHECK(p.nplanned == 0 && p.workspace_size == 0 && p.nsteps == 1);
	lathe_plan_deinit(&p);
	lathe_graph_destroy(g);
}

static lathe_rvalue tensor_value(lathe_tensor *t)
{
	return (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = t->dtype, .t = t};
}

/* The shipped model, optimized, runs to the unoptimized output. */
static void test_model(void)
{
	const char *path = "models/mobilenet_v2_tiny.onnx";
	lathe_graph *g = NULL;
	lathe_err e = lathe_onnx_load(path, &g);
	if (e) {
		fprintf(stderr, "test_passes: skipped the model check (%s)\n", lathe_error_message(e));
		lathe_error_free(e);
		return;
	}
	CHECK_OK(lathe_graph_infer(g));
	lathe_arena *a = lathe_arena_create();
	lathe_tensor *x = NULL, *want = NULL;
	CHECK_OK(lathe_npy_read(a, "models/mobilenet_v2_tiny.input.npy", &x));
	CHECK_OK(lathe_npy_read(a, "models/mobilenet_v2_tiny.expected.npy", &want));
	lathe_rvalue in = x ? tensor_value(x) : (lathe_rvalue){0};
	lathe_rvalue *ref = x ? run(g, a, &in) : NULL;
	size_t nodes_before = g->nodes.len;
	CHECK_OK(run_passes(g, NULL));
	CHECK(g->nodes.len < nodes_before);
	CHECK(count_op(g, LATHE_OP_BatchNormalization) == 0);
	CHECK(count_groups(g) >= 30);
	/* Every group lowers into one program with its epilogue inlined. */
	for (size_t k = 0; k < g->nodes.len; k++) {
		size_t first, count;
		lathe_group_range(g, k, &first, &count);
		if (count < 2 || first != k)
			continue;
		int np, sc;
		CHECK(group_locals(g, k, &np, &sc) <= 1);
	}
	lathe_rvalue *got = x ? run(g, a, &in) : NULL;
	if (ref && got) {
		double d = rel_diff(got[0].t, ref[0].t);
		CHECK(d >= 0 && d < 1e-5);
		if (want)
			CHECK(rel_diff(got[0].t, want) >= 0 && rel_diff(got[0].t, want) < 1e-4);
	}
	lathe_plan p;
	CHECK_OK(lathe_plan_memory(g, &p));
	CHECK(plan_ok(g, &p));
	CHECK(p.workspace_size <= p.max_live * 12 / 10 + LATHE_PLAN_ALIGN * p.nplanned);
	CHECK(p.workspace_size < p.sum_intermediates);
	lathe_plan_deinit(&p);
	lathe_arena_destroy(a);
	lathe_graph_destroy(g);
}

int main(void)
{
	test_pass_names();
	test_const_fold_shapes();
	test_dce_cse();
	test_simplify();
	test_fuse();
	test_captures();
	test_group_text();
	test_plan();
	test_model();
	return CHECK_DONE("test_passes");
}
