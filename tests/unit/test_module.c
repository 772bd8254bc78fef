/* test_module.c: compiled modules (src/module).
 *
 * - the manifest prints and parses back, and hostile manifests are errors;
 * - the amalgamation of every runtime source compiles as one C file;
 * - a small graph (a fused conv epilogue, an extern kernel, outputs that
 *   are inputs, constants and repeats) compiles to a shared library whose
 *   outputs equal the interpreter's bit for bit... within float rounding
 *   of a different evaluation order (1e-5);
 * - what a module cannot hold (symbolic shapes, control flow,
 *   data-dependent shapes) is refused with a message naming the fix;
 * - a damaged module directory (missing files, mismatched manifest,
 *   truncated weights) fails to open with a clear error.
 * It needs a C compiler (cc or $CC), like `lathe compile` itself.
 */
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/exec.h"
#include "module/internal.h"

static char tmpdir[256];

static lathe_graph *parse(const char *text)
{
	lathe_graph *g = NULL;
	lathe_err e = lathe_graph_parse(text, "test.ir", &g);
	CHECK_OK(e);
	return g;
}

static bool contains(lathe_err e, const char *needle)
{
	bool ok = e && strstr(lathe_error_message(e), needle);
	if (!ok)
		fprintf(stderr, "  error %s does not contain '%s'\n",
			e ? lathe_error_message(e) : "(none)", needle);
	lathe_error_free(e);
	return ok;
}

static void test_manifest(void)
{
	lathe_arena *a = lathe_arena_create();
	int64_t s0[] = {1, 3, 8, 8}, s1[1] = {0};
	lathe_module_io in[1] = {{.name = "x in%", .dtype = LATHE_DT_F32, .rank = 4, .shape = s0,
				  .nbytes = 768}};
	lathe_module_io out[1] = {{.name = "y", .dtype = LATHE_DT_I64, .rank = 0, .shape = s1,
				   .nbytes = 8}};
	lathe_manifest m = {.name = "net", .library = "libnet.so", .workspace_size = 4096,
			    .weights_size = 128, .nin = 1, .nout = 1, .in = in, .out = out};
	lathe_buf b = {0};
	lathe_manifest_print(&b, &m);
	lathe_manifest p;
	CHECK_OK(lathe_manifest_parse(a, b.data, b.len, "m", &p));
	CHECK_STR(p.name, "net");
	CHECK_STR(p.library, "libnet.so");
	CHECK(p.workspace_size == 4096 && p.weights_size == 128);
	CHECK(p.nin == 1 && p.nout == 1);
	CHECK_STR(p.in[0].name, "x in%");
	CHECK(p.in[0].rank == 4 && p.in[0].shape[3] == 8 && p.in[0].nbytes == 768);
	CHECK(p.out[0].rank == 0 && p.out[0].dtype == LATHE_DT_I64 && p.out[0].nbytes == 8);
	lathe_buf again = {0};
	lathe_manifest_print(&again, &p);
	CHECK_STR(again.data, b.data);
	lathe_buf_free(&again);
	lathe_buf_free(&b);

	static const char *const bad[] = {
		"",
		"hello 1\n",
		"lathe-module 2\n",
		"lathe-module 1\nname x\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\noutput f32[1,2 y\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\noutput f99[1] y\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\noutput f32[1]\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\noutput f32[-1] y\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\noutput "
		"f32[1099511627776,1099511627776] y\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\noutput f32[1] %4\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\noutput f32[1] %00\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 99999999999999999999\nworkspace 0\n"
		"output f32[1] y\n",
		"lathe-module 1\nname ../x\nlibrary libx.so\nweights 0\nworkspace 0\noutput f32[1] y\n",
		"lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\nbogus 1\n"
		"output f32[1] y\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		lathe_err e = lathe_manifest_parse(a, bad[i], strlen(bad[i]), "m", &p);
		CHECK(e != NULL);
		if (!e)
			fprintf(stderr, "  accepted bad manifest %zu\n", i);
		lathe_error_free(e);
	}
	/* Every prefix of a good manifest parses or fails cleanly. */
	const char *good = "lathe-module 1\nname x\nlibrary libx.so\nweights 0\nworkspace 0\n"
			   "input f32[1,2] a\noutput f32[2] y\n";
	for (size_t n = 0; n <= strlen(good); n++) {
		char *cut = lathe_arena_strndup(a, good, n);
		lathe_error_free(lathe_manifest_parse(a, cut, n, "m", &p));
	}
	lathe_arena_destroy(a);
}

static void test_names(void)
{
	char n[128];
	lathe_module_default_name("models/mobilenet-v2.onnx", n, sizeof n);
	CHECK_STR(n, "mobilenet_v2");
	lathe_module_default_name("/a/3net.ir", n, sizeof n);
	CHECK_STR(n, "m3net");
	lathe_module_default_name("", n, sizeof n);
	CHECK_STR(n, "model");
}

/* Every runtime source at once: the bundle's worst case for clashes. */
static void test_amalgamation(void)
{
	const char *files[64];
	int n = mod_base_rt_files(files, 60);
	files[n++] = "k_index.c", files[n++] = "k_misc.c", files[n++] = "k_nn.c";
	lathe_buf b = {0};
	CHECK_OK(mod_amalgamate(&b, files, n,
				"static int fail(void) { return 0; }\n"
				"int use_all(lathe_rt_call *c) { return fail() + lathe_rt_k_topk(c) + "
				"lathe_rt_k_rnn(c) + lathe_rt_k_det(c); }\n"));
	char path[512], cmd[1200];
	snprintf(path, sizeof path, "%s/amal.c", tmpdir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(b.data, 1, b.len, f);
	fclose(f);
	const char *cc = getenv("CC") ? getenv("CC") : "cc";
	snprintf(cmd, sizeof cmd, "%s -std=c11 -Wall -Werror -c %s -o %s/amal.o", cc, path, tmpdir);
	CHECK(system(cmd) == 0);
	lathe_buf_free(&b);
	lathe_buf c = {0};
	CHECK(contains(mod_amalgamate(&c, (const char *[]){"no_such.c"}, 1, ""), "no_such.c"));
	lathe_buf_free(&c);
}

static const char net_ir[] =
	"graph main(%x: f32[1,3,4,4]) -> (%y, %vals, %idx, %x, %k, %y) {\n"
	"  opset 21\n"
	"  const %w: f32[2,3,1,1] = [1, 0.5, 0, 0, 1, -2]\n"
	"  const %b: f32[2] = [0.5, -0.25]\n"
	"  const %k: i64[1] = [3]\n"
	"  const %shape: i64[2] = [1, 32]\n"
	"  %c = Conv(%x, %w, %b) {kernel_shape = [1, 1]}\n"
	"  %r = Relu(%c)\n"
	"  %y = Add(%r, %c)\n"
	"  %flat = Reshape(%y, %shape)\n"
	"  %vals, %idx = TopK(%flat, %k) {axis = -1}\n"
	"}\n";

static lathe_err compile_text(const char *text, const char *name, const char *const *shapes,
			      int nshapes, bool emit_c)
{
	lathe_graph *g = parse(text);
	if (!g)
		return lathe_error(LATHE_EINVAL, "parse failed");
	char dir[512];
	snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
	lathe_compile_opts o = {.name = name, .input_shapes = shapes, .n_input_shapes = nshapes,
				.emit_c = emit_c};
	lathe_err e = lathe_module_compile(g, dir, &o, NULL);
	lathe_graph_destroy(g);
	return e;
}

static void test_compile_and_run(void)
{
	CHECK_OK(compile_text(net_ir, "net", NULL, 0, false));
	char dir[512];
	snprintf(dir, sizeof dir, "%s/net", tmpdir);
	lathe_module *m = NULL;
	CHECK_OK(lathe_module_open(dir, &m));
	if (!m)
		return;
	const lathe_manifest *man = lathe_module_manifest(m);
	CHECK(man->nin == 1 && man->nout == 6);
	CHECK(man->out[1].rank == 2 && man->out[1].shape[1] == 3);

	/* The interpreter's answer on the same input. */
	lathe_graph *g = parse(net_ir);
	lathe_arena *a = lathe_arena_create();
	int64_t xs[4] = {1, 3, 4, 4};
	lathe_tensor *x;
	CHECK_OK(lathe_tensor_alloc(a, LATHE_DT_F32, 4, xs, &x));
	for (int i = 0; i < 48; i++)
		((float *)x->data)[i] = (float)((i * 37) % 23 - 11) / 7.0f;
	lathe_rvalue in = {.kind = LATHE_TY_TENSOR, .dtype = LATHE_DT_F32, .t = x};
	lathe_rvalue want[6];
	lathe_exec *ex = lathe_exec_create(a);
	CHECK_OK(lathe_exec_run(ex, g, &in, want));
	lathe_exec_destroy(ex);

	void *outs[6];
	for (int i = 0; i < 6; i++)
		outs[i] = lathe_arena_alloc(a, man->out[i].nbytes + 1);
	void *ws = aligned_alloc(64, (man->workspace_size + 64) / 64 * 64);
	void *ins[1] = {x->data};
	for (int run = 0; run < 2; run++) { /* a second run on the same workspace */
		CHECK_OK(lathe_module_run(m, ins, outs, ws, NULL));
		for (int i = 0; i < 6; i++) {
			const lathe_tensor *t = want[i].t;
			CHECK(man->out[i].nbytes == lathe_tensor_nbytes(t));
			int64_t n = lathe_tensor_numel(t);
			double maxd = 0;
			for (int64_t k = 0; k < n; k++) {
				lathe_tensor got = *t;
				got.data = outs[i];
				maxd = fmax(maxd, fabs(lathe_rt_load_f64(&got, k) -
						       lathe_rt_load_f64(t, k)));
			}
			CHECK(maxd <= 1e-5);
			if (maxd > 1e-5)
				fprintf(stderr, "  output %d differs by %g\n", i, maxd);
		}
	}
	free(ws);
	lathe_module_close(m);
	lathe_arena_destroy(a);
	lathe_graph_destroy(g);

	/* The bundle of the same graph builds with a bare cc. */
	CHECK_OK(compile_text(net_ir, "netc", NULL, 0, true));
	char cmd[1200];
	const char *cc = getenv("CC") ? getenv("CC") : "cc";
	snprintf(cmd, sizeof cmd, "%s -O1 -std=c11 -c %s/netc/netc.c -o %s/netc.o", cc, tmpdir,
		 tmpdir);
	CHECK(system(cmd) == 0);
	m = NULL;
	snprintf(dir, sizeof dir, "%s/netc", tmpdir);
	CHECK(contains(lathe_module_open(dir, &m), "standalone C bundle"));
}

static void test_refusals(void)
{
	const char *sym = "graph main(%x: f32[batch,4]) -> (%y) {\n  %y = Relu(%x)\n}\n";
	CHECK(contains(compile_text(sym, "sym", NULL, 0, false), "--input-shape x="));
	const char *pin_bad[] = {"x=2,4,1"};
	CHECK(contains(compile_text(sym, "sym", pin_bad, 1, false), "rank 2"));
	const char *pin_name[] = {"nope=2,4"};
	CHECK(contains(compile_text(sym, "sym", pin_name, 1, false), "no input 'nope'"));
	const char *pin_syntax[] = {"x=2,a"};
	CHECK(contains(compile_text(sym, "sym", pin_syntax, 1, false), "non-negative integers"));
	const char *nz = "graph main(%x: f32[4]) -> (%y) {\n  %y = NonZero(%x)\n}\n";
	CHECK(contains(compile_text(nz, "nz", NULL, 0, false), "NonZero"));
	const char *loop =
		"graph main(%n: i64[], %init: f32[2]) -> (%final) {\n"
		"  opset 21\n"
		"  %final: f32[2] = Loop(%n, _, %init) {\n"
		"    body = graph body(%i: i64[], %cond: bool[], %acc: f32[2]) -> (%cond_out, %next) {\n"
		"      %cond_out: bool[] = Identity(%cond)\n"
		"      %next: f32[2] = Add(%acc, %acc)\n"
		"    }\n"
		"  }\n"
		"}\n";
	CHECK(contains(compile_text(loop, "loop", NULL, 0, false), "control flow"));
	lathe_graph *g = parse(sym);
	lathe_compile_opts o = {.name = "not an identifier"};
	CHECK(contains(lathe_module_compile(g, tmpdir, &o, NULL), "C identifier"));
	lathe_graph_destroy(g);
}

/* Runs a shell command with $d set to dir. */
static void run_sh(const char *script, const char *dir)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "d='%s'; %s", dir, script);
	CHECK(system(cmd) == 0);
}

/* Damaged module directories: each file missing or wrong in turn. */
static void test_hostile_dirs(void)
{
	lathe_module *m = NULL;
	char dir[512];
	snprintf(dir, sizeof dir, "%s/none", tmpdir);
	CHECK(contains(lathe_module_open(dir, &m), "no such module directory"));
	snprintf(dir, sizeof dir, "%s/bad", tmpdir);
	run_sh("rm -rf $d && mkdir $d", dir);
	CHECK(contains(lathe_module_open(dir, &m), "no module.txt"));
	run_sh("cp -r $d/../net/. $d", dir);
	CHECK_OK(lathe_module_open(dir, &m));
	lathe_module_close(m);
	m = NULL;
	run_sh("truncate -s 4 $d/weights.bin", dir);
	CHECK(contains(lathe_module_open(dir, &m), "has 4 bytes"));
	run_sh("rm $d/weights.bin", dir);
	CHECK(contains(lathe_module_open(dir, &m), "weights"));
	run_sh("cp $d/../net/weights.bin $d/", dir);
	run_sh("sed -i 's/^workspace .*/workspace 64/' $d/module.txt", dir);
	CHECK(contains(lathe_module_open(dir, &m), "another manifest"));
	run_sh("sed -i 's/^name net$/name other/' $d/module.txt", dir);
	CHECK(contains(lathe_module_open(dir, &m), "must be libother.so"));
	run_sh("cp $d/../net/module.txt $d/ && rm $d/libnet.so", dir);
	CHECK(contains(lathe_module_open(dir, &m), "libnet.so is missing"));
	run_sh("echo garbage > $d/libnet.so", dir);
	CHECK(contains(lathe_module_open(dir, &m), "cannot load"));
	run_sh("printf 'lathe-module 1\\nname net\\n' > $d/module.txt", dir);
	CHECK(contains(lathe_module_open(dir, &m), "incomplete manifest"));
	CHECK(m == NULL);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/lathe_test_module_XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_manifest();
	test_names();
	test_amalgamation();
	test_compile_and_run();
	test_refusals();
	test_hostile_dirs();
	if (!check_failed_)
		run_sh("rm -rf $d", tmpdir);
	else
		fprintf(stderr, "test_module: files left in %s\n", tmpdir);
	return CHECK_DONE("test_module");
}
