/* test_profile.c: what `lathe bench --profile` relies on in src/module.
 *
 * - the manifest's step lines print and parse back, and hostile ones are
 *   errors;
 * - a compiled module lists its steps with their kinds and FLOPs (2 x the
 *   multiply-adds of Conv and MatMul, 0 for other ops);
 * - lathe_module_run_profiled calls the hook with each step's index in
 *   order, then with the step count, and computes what lathe_module_run
 *   computes.
 * It needs a C compiler (cc or $CC), like `lathe compile` itself.
 */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module/module.h"

static char tmpdir[256];

static void test_step_lines(void)
{
	lathe_arena *a = lathe_arena_create();
	int64_t s0[] = {2};
	lathe_module_io out[1] = {{.name = "y", .dtype = LATHE_DT_F32, .rank = 1, .shape = s0,
				   .nbytes = 8}};
	lathe_module_step steps[2] = {
		{.kind = "conv", .flops = 123456789012ull, .ops = "Conv+Add+Relu", .node = "a b%"},
		{.kind = "copy", .flops = 0, .ops = "Copy", .node = "-"},
	};
	lathe_manifest m = {.name = "net", .library = "libnet.so", .nout = 1, .out = out,
			    .nsteps = 2, .steps = steps};
	lathe_buf b = {0};
	lathe_manifest_print(&b, &m);
	CHECK(strstr(b.data, "\nstep conv 123456789012 Conv+Add+Relu a%20b%25\n") != NULL);
	lathe_manifest p;
	CHECK_OK(lathe_manifest_parse(a, b.data, b.len, "m", &p));
	CHECK(p.nsteps == 2);
	if (p.nsteps == 2) {
		CHECK_STR(p.steps[0].kind, "conv");
		CHECK(p.steps[0].flops == 123456789012ull);
		CHECK_STR(p.steps[0].ops, "Conv+Add+Relu");
		CHECK_STR(p.steps[0].node, "a b%");
		CHECK_STR(p.steps[1].node, "-");
	}
	lathe_buf again = {0};
	lathe_manifest_print(&again, &p);
	CHECK_STR(again.data, b.data);
	lathe_buf_free(&again);
	lathe_buf_free(&b);

	static const char *const bad[] = {"step conv\n", "step conv 12\n", "step conv 12 Conv\n",
					  "step conv x Conv n\n", "step c-v 1 Conv n\n",
					  "step conv 1 Conv %0\n", "step  1 Conv n\n",
					  "step conv 99999999999999999999999 Conv n\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[512];
		snprintf(text, sizeof text, "lathe-module 1\nname x\nlibrary libx.so\nweights 0\n"
			 "workspace 0\noutput f32[1] y\n%s", bad[i]);
		lathe_err e = lathe_manifest_parse(a, text, strlen(text), "m", &p);
		CHECK(e != NULL);
		if (!e)
			fprintf(stderr, "  accepted bad step line %zu: %s", i, bad[i]);
		lathe_error_free(e);
	}
	lathe_arena_destroy(a);
}

/* A 1x1 conv with a ReLU epilogue (2 x 32 outputs x 3 MACs = 192 FLOPs)
 * and a MatMul (2 x 6 outputs x 5 MACs = 60 FLOPs). */
static const char net_ir[] =
	"graph main(%x: f32[1,3,4,4], %a: f32[2,5]) -> (%y, %z) {\n"
	"  opset 21\n"
	"  const %w: f32[2,3,1,1] = [1, 0.5, 0, 0, 1, -2]\n"
	"  const %m: f32[5,3] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]\n"
	"  %c = Conv(%x, %w) {kernel_shape = [1, 1]}\n"
	"  %y = Relu(%c)\n"
	"  %z = MatMul(%a, %m)\n"
	"}\n";

typedef struct calls {
	int seq[64];
	int n;
} calls;

static void hook(void *ctx, int step)
{
	calls *c = ctx;
	if (c->n < 64)
		c->seq[c->n] = step;
	c->n++;
}

static void test_profiled_run(void)
{
	lathe_graph *g = NULL;
	CHECK_OK(lathe_graph_parse(net_ir, "net.ir", &g));
	if (!g)
		return;
	char dir[512];
	snprintf(dir, sizeof dir, "%s/net", tmpdir);
	lathe_compile_opts o = {.name = "net"};
	CHECK_OK(lathe_module_compile(g, dir, &o, NULL));
	lathe_graph_destroy(g);
	lathe_module *m = NULL;
	CHECK_OK(lathe_module_open(dir, &m));
	if (!m)
		return;
	const lathe_manifest *man = lathe_module_manifest(m);
	uint64_t conv = 0, mm = 0, other = 0;
	for (int s = 0; s < man->nsteps; s++) {
		const lathe_module_step *st = &man->steps[s];
		if (!strcmp(st->kind, "conv"))
			conv += st->flops;
		else if (!strcmp(st->kind, "matmul"))
			mm += st->flops;
		else
			other += st->flops;
	}
	CHECK(man->nsteps >= 2 && man->nsteps < 64);
	CHECK(conv == 192 && mm == 60 && other == 0);

	float x[48], a[10], y1[32], z1[6], y2[32], z2[6];
	for (int i = 0; i < 48; i++)
		x[i] = (float)(i % 7) - 3;
	for (int i = 0; i < 10; i++)
		a[i] = (float)i / 4;
	void *ws = aligned_alloc(64, (man->workspace_size + 64) / 64 * 64);
	void *ins[2] = {x, a}, *o1[2] = {y1, z1}, *o2[2] = {y2, z2};
	CHECK_OK(lathe_module_run(m, ins, o1, ws, NULL));
	calls c = {.n = 0};
	CHECK_OK(lathe_module_run_profiled(m, ins, o2, ws, NULL, hook, &c));
	CHECK(c.n == man->nsteps + 1);
	bool in_order = c.n == man->nsteps + 1;
	for (int i = 0; in_order && i < c.n; i++)
		in_order = c.seq[i] == i;
	CHECK(in_order);
	CHECK(!memcmp(y1, y2, sizeof y1) && !memcmp(z1, z2, sizeof z1));
	CHECK(z1[0] == 0.25f * (1 * 0 + 4 * 1 + 7 * 2 + 10 * 3 + 13 * 4));
	free(ws);
	lathe_module_close(m);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/lathe_test_profile_XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_step_lines();
	test_profiled_run();
	char cmd[600];
	if (!check_failed_) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		CHECK(system(cmd) == 0);
	} else {
		fprintf(stderr, "test_profile: files left in %s\n", tmpdir);
	}
	return CHECK_DONE("test_profile");
}
