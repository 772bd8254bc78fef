/* cmd_compile.c: `lathe compile`, which turns a model into a compiled module
 * (src/module): a shared library plus header and weights, or with
 * --emit c a standalone C bundle.  Progress goes to stderr, one line per
 * phase; the summary to stdout.
 */
#include "driver/driver.h"
#include "module/module.h"
#include "onnx/onnx.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char compile_usage[] =
	"usage: lathe compile MODEL -o DIR [options]\n"
	"\n"
	"Compiles MODEL (an ONNX file, or a graph IR text file .ir) into DIR:\n"
	"  libNAME.so, NAME.h, weights.bin, module.txt   (run with `lathe run DIR IN...`)\n"
	"or, with --emit c, a standalone bundle that builds with any C compiler:\n"
	"  NAME.c, NAME.h, weights.bin   (cc -O2 -c NAME.c; link with -lm -lpthread)\n"
	"\n"
	"  -o DIR               where to write the module (created if absent)\n"
	"  --emit c             write the standalone C bundle instead of a library\n"
	"  --name NAME          module name, the prefix of its symbols (default: from MODEL)\n"
	"  --input-shape N=D,.. give input N this static shape (symbolic dims must be\n"
	"                       pinned: a module has static shapes); repeatable\n"
	"  --threads N          threads the schedules plan for (default: this machine's CPUs)\n"
	"  --cflags FLAGS       extra flags for the C compiler (e.g. \"-march=native\")\n"
	"  --no-winograd        3x3 convolutions stay direct (Winograd's algorithm, used\n"
	"                       where it pays, is faster but stores their weights 4x as big)\n"
	"  --quiet              no progress lines\n"
	"\n"
	"The library links the runtime archive found next to the lathe executable\n"
	"(liblathe_rt.a, or $LATHE_RT_LIB); without one, the runtime sources lathe\n"
	"carries are compiled in.\n";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

/* liblathe_rt.a: $LATHE_RT_LIB, else next to this executable; NULL if absent.
 * A sanitizer build's archive is instrumented and cannot go into a plain
 * library, so such a build compiles the runtime sources in instead. */
static char *find_runtime_lib(void)
{
#ifdef SANITIZED
	return NULL;
#endif
	struct stat st;
	const char *env = getenv("LATHE_RT_LIB");
	if (env && *env)
		return stat(env, &st) ? NULL : lathe_xstrdup(env);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 32);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	strcpy(slash + 1, "liblathe_rt.a");
	return stat(exe, &st) ? NULL : lathe_xstrdup(exe);
}

static lathe_err compile(const char *model, const char *dir, lathe_compile_opts *o)
{
	double t0 = now_ms();
	lathe_graph *g = NULL;
	LATHE_TRY(lathe_load_model(model, &g));
	lathe_err e = lathe_graph_verify(g);
	char *rt = NULL;
	if (!o->emit_c)
		o->runtime_lib = rt = find_runtime_lib();
	lathe_compile_stats st;
	if (!e)
		e = lathe_module_compile(g, dir, o, &st);
	double total = now_ms() - t0;
	if (!e) {
		printf("compiled %s into %s/: ", model, dir);
		if (o->emit_c)
			printf("%s.c, %s.h, weights.bin (standalone bundle)\n", st.name, st.name);
		else
			printf("lib%s.so, %s.h, weights.bin, module.txt\n", st.name, st.name);
		printf("  %d step%s (%d extern kernel call%s); weights %.1f KiB\n", st.nsteps,
		       st.nsteps == 1 ? "" : "s", st.nkernels, st.nkernels == 1 ? "" : "s",
		       st.weights_size / 1024.0);
		printf("  workspace %.1f KiB: tensors %.1f KiB (largest live set %.1f KiB, all "
		       "intermediates %.1f KiB), scratch %.1f KiB\n", st.workspace_size / 1024.0,
		       (st.workspace_size - st.scratch_size) / 1024.0, st.max_live / 1024.0,
		       st.sum_intermediates / 1024.0, st.scratch_size / 1024.0);
		printf("  %.0f ms: import and passes %.0f, lowering and schedules %.0f, emit %.0f", total,
		       st.ms_frontend, st.ms_lower, st.ms_emit);
		if (!o->emit_c)
			printf(", C compiler %.0f", st.ms_cc);
		printf("\n");
	}
	free(rt);
	lathe_graph_destroy(g);
	return e;
}

lathe_err lathe_compile_model(const char *model, const char *dir, lathe_compile_opts *o,
			      lathe_compile_stats *st)
{
	lathe_graph *g = NULL;
	LATHE_TRY(lathe_load_model(model, &g));
	lathe_err e = lathe_graph_verify(g);
	char *rt = NULL;
	if (!o->emit_c)
		o->runtime_lib = rt = find_runtime_lib();
	if (!e)
		e = lathe_module_compile(g, dir, o, st);
	o->runtime_lib = NULL;
	free(rt);
	lathe_graph_destroy(g);
	return e;
}

int lathe_cmd_compile(int argc, char **argv)
{
	lathe_compile_opts o = {.progress = stderr};
	const char **shapes = lathe_xcalloc((size_t)argc + 1, sizeof *shapes);
	const char *model = NULL, *dir = NULL;
	int rc = -1;
	for (int i = 0; i < argc && rc < 0; i++) {
		const char *a = argv[i];
		bool takes = !strcmp(a, "-o") || !strcmp(a, "--emit") || !strcmp(a, "--name") ||
			     !strcmp(a, "--input-shape") || !strcmp(a, "--threads") ||
			     !strcmp(a, "--cflags");
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(compile_usage, stdout);
			rc = 0;
		} else if (takes && i + 1 >= argc) {
			fprintf(stderr, "lathe compile: %s needs a value\n", a);
			rc = 2;
		} else if (!strcmp(a, "-o")) {
			dir = argv[++i];
		} else if (!strcmp(a, "--emit")) {
			if (strcmp(argv[++i], "c")) {
				fprintf(stderr, "lathe compile: --emit takes 'c' (a standalone bundle)\n");
				rc = 2;
			}
			o.emit_c = true;
		} else if (!strcmp(a, "--name")) {
			o.name = argv[++i];
		} else if (!strcmp(a, "--input-shape")) {
			shapes[o.n_input_shapes++] = argv[++i];
		} else if (!strcmp(a, "--threads")) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 1024) {
				fprintf(stderr, "lathe compile: --threads wants a count from 1 to 1024\n");
				rc = 2;
			}
			o.threads = (int)v;
		} else if (!strcmp(a, "--cflags")) {
			o.cflags = argv[++i];
		} else if (!strcmp(a, "--no-winograd")) {
			o.no_winograd = true;
		} else if (!strcmp(a, "--quiet")) {
			o.progress = NULL;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "lathe compile: unknown option '%s'\n%s", a, compile_usage);
			rc = 2;
		} else if (!model) {
			model = a;
		} else {
			fprintf(stderr, "lathe compile: one model at a time ('%s' and '%s' given)\n", model,
				a);
			rc = 2;
		}
	}
	if (rc < 0 && (!model || !dir)) {
		fprintf(stderr, "lathe compile: %s\n%s", model ? "-o DIR is required" : "no model given",
			compile_usage);
		rc = 2;
	}
	if (rc < 0) {
		o.input_shapes = shapes;
		o.model_path = model;
		rc = lathe_report(compile(model, dir, &o));
	}
	free(shapes);
	return rc;
}
