/* cmd_run.c: `lathe run`, which runs a model on input tensors.
 *
 * Inputs are positional, one per graph input that is not an initializer, in
 * graph order; each is a .npy file or an ONNX .pb file (TensorProto, or
 * SequenceProto / OptionalProto where the input's type says so).  Outputs
 * go to DIR/output_N.npy in graph-output order; a sequence output to the
 * folder DIR/output_N/ as 0.npy, 1.npy, ...; an empty optional output to
 * an empty file DIR/output_N.none.
 */
#include "base/npy.h"
#include "codegen/jit.h"
#include "driver/driver.h"
#include "exec/exec.h"
#include "onnx/onnx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char run_usage[] =
	"usage: lathe run MODEL [IN...] [-o DIR] [options]\n"
	"       lathe run MODULE_DIR [IN...] [-o DIR] [options]   (from `lathe compile`)\n"
	"\n"
	"Runs MODEL (an ONNX file) on the inputs IN (.npy or ONNX .pb tensor files,\n"
	"one per graph input, in graph order) and writes DIR/output_N.npy.\n"
	"  -o DIR             where to write the outputs (default: no files written)\n"
	"  --backend B        c: loop programs compiled to C and cached (the default;\n"
	"                     docs/c-backend.md); interp: the loop-IR interpreter\n"
	"  --random-inputs    make inputs from a fixed seed instead of reading files\n"
	"  --print            print a summary of each output\n"
	"  --runs N           run N times and report the median time (default 1)\n"
	"  --threads N        threads of a compiled module (default: this machine's CPUs)\n";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static lathe_err read_input(lathe_arena *a, lathe_graph *g, size_t i, const char *path,
			    lathe_rvalue *out)
{
	const lathe_value *decl = &g->values.data[g->inputs.data[i]];
	if (lathe_ends_with(path, ".npy")) {
		lathe_tensor *t;
		LATHE_TRYF(lathe_npy_read(a, path, &t), "input %zu ('%s')", i, decl->name);
		*out = (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = t->dtype, .t = t};
		return NULL;
	}
	LATHE_TRYF(lathe_onnx_read_value_pb(a, path, &decl->type, out), "input %zu ('%s')", i,
		   decl->name);
	return NULL;
}

/* A deterministic input for a declared static tensor type: values in [-1, 1)
 * for floats, small non-negative integers otherwise. */
static lathe_err random_input(lathe_arena *a, lathe_graph *g, size_t i, lathe_rvalue *out)
{
	const lathe_value *decl = &g->values.data[g->inputs.data[i]];
	if (!lathe_type_is_static(&decl->type) || decl->type.kind != LATHE_TY_TENSOR)
		return lathe_error(LATHE_EINVAL,
				   "input '%s' has no static shape: give its data as a file",
				   decl->name);
	int64_t *shape = lathe_arena_new(a, int64_t, decl->type.rank + 1);
	for (int d = 0; d < decl->type.rank; d++)
		shape[d] = decl->type.dims[d].size;
	lathe_tensor *t;
	LATHE_TRY(lathe_tensor_alloc(a, decl->type.dtype, decl->type.rank, shape, &t));
	uint64_t s = 0x9E3779B97F4A7C15ull ^ (i + 1);
	int64_t n = lathe_tensor_numel(t);
	for (int64_t k = 0; k < n; k++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		double u = (double)(s >> 11) / 9007199254740992.0;
		if (lathe_dtype_is_float(t->dtype))
			lathe_rt_store_f64(t, k, 2 * u - 1);
		else
			lathe_rt_store_i64(t, k, (int64_t)(u * 8));
	}
	*out = (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = t->dtype, .t = t};
	return NULL;
}

static lathe_err write_output(const char *dir, size_t i, const lathe_rvalue *v)
{
	char path[4096];
	if (v->kind == LATHE_TY_TENSOR) {
		snprintf(path, sizeof path, "%s/output_%zu.npy", dir, i);
		return lathe_npy_write(path, v->t);
	}
	if (v->kind == LATHE_TY_SEQUENCE) {
		snprintf(path, sizeof path, "%s/output_%zu", dir, i);
		LATHE_TRY(lathe_dir_create(path));
		for (int64_t k = 0; k < v->nseq; k++) {
			char p2[4200];
			snprintf(p2, sizeof p2, "%s/%lld.npy", path, (long long)k);
			LATHE_TRY(lathe_npy_write(p2, v->seq[k]));
		}
		return NULL;
	}
	snprintf(path, sizeof path, "%s/output_%zu.none", dir, i);
	FILE *f = fopen(path, "w");
	if (!f)
		return lathe_error(LATHE_EIO, "cannot write %s: %s", path, strerror(errno));
	fclose(f);
	return NULL;
}

static void print_output(lathe_graph *g, size_t i, const lathe_rvalue *v)
{
	const char *name = g->values.data[g->outputs.data[i]].name;
	if (v->kind == LATHE_TY_SEQUENCE) {
		printf("output %zu '%s': sequence of %lld tensors\n", i, name, (long long)v->nseq);
		return;
	}
	if (v->kind != LATHE_TY_TENSOR) {
		printf("output %zu '%s': empty optional\n", i, name);
		return;
	}
	const lathe_tensor *t = v->t;
	printf("output %zu '%s': %s[", i, name, lathe_dtype_name(t->dtype));
	for (int d = 0; d < t->rank; d++)
		printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
	printf("]");
	int64_t n = lathe_tensor_numel(t);
	if (t->dtype == LATHE_DT_STR) {
		printf("\n");
		return;
	}
	printf(" =");
	for (int64_t k = 0; k < n && k < 6; k++) {
		if (lathe_dtype_is_float(t->dtype))
			printf(" %.6g", lathe_rt_load_f64(t, k));
		else
			printf(" %lld", (long long)lathe_rt_load_i64(t, k));
	}
	printf("%s\n", n > 6 ? " ..." : "");
	/* A classifier's scores: show the five best classes. */
	if (lathe_dtype_is_float(t->dtype) && n >= 5 && t->rank >= 1 && t->shape[t->rank - 1] == n) {
		int best[5] = {-1, -1, -1, -1, -1};
		for (int r = 0; r < 5; r++) {
			for (int64_t k = 0; k < n; k++) {
				bool taken = false;
				for (int q = 0; q < r; q++)
					taken |= best[q] == k;
				if (!taken && (best[r] < 0 || lathe_rt_load_f64(t, k) >
								  lathe_rt_load_f64(t, best[r])))
					best[r] = (int)k;
			}
		}
		printf("  top-5 classes:");
		for (int r = 0; r < 5; r++)
			printf(" %d (%.4f)", best[r], lathe_rt_load_f64(t, best[r]));
		printf("\n");
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

typedef struct run_opts {
	const char *model, *outdir;
	const char **inputs;
	int ninputs, runs, threads;
	bool random_inputs, print;
	bool backend_interp; /* --backend interp */
	bool backend_c;      /* --backend c (else: c, or the interpreter without a compiler) */
} run_opts;

static lathe_err run(const run_opts *o)
{
	double t0 = now_ms();
	lathe_graph *g = NULL;
	LATHE_TRY(lathe_load_model(o->model, &g));
	lathe_err e = lathe_graph_verify(g);
	double t_load = now_ms() - t0;
	lathe_arena *a = lathe_arena_create();
	lathe_rvalue *in = lathe_arena_new(a, lathe_rvalue, g->inputs.len + 1);
	lathe_rvalue *out = lathe_arena_new(a, lathe_rvalue, g->outputs.len + 1);
	if (!e && !o->random_inputs && (size_t)o->ninputs != g->inputs.len) {
		lathe_buf names = {0};
		for (size_t i = 0; i < g->inputs.len; i++)
			lathe_buf_printf(&names, "%s'%s'", i ? ", " : "",
					 g->values.data[g->inputs.data[i]].name);
		e = lathe_error(LATHE_EINVAL, "%s takes %zu input%s (%s), %d given", o->model,
				g->inputs.len, g->inputs.len == 1 ? "" : "s",
				names.data ? names.data : "", o->ninputs);
		lathe_buf_free(&names);
	}
	for (size_t i = 0; !e && i < g->inputs.len; i++)
		e = o->random_inputs ? random_input(a, g, i, &in[i])
				     : read_input(a, g, i, o->inputs[i], &in[i]);
	double *times = lathe_arena_new(a, double, o->runs);
	lathe_arena *run_arena = NULL;
	lathe_jit *jit = NULL;
	lathe_jit_stats first = {0};
	if (!e && !o->backend_interp) {
		lathe_jit_opts jo = {.nthreads = o->threads, .log = o->print ? stdout : NULL,
				     .fallback = !o->backend_c};
		e = lathe_jit_create(&jo, &jit);
		if (e && !o->backend_c) {
			fprintf(stderr, "lathe: warning: %s; running on the interpreter\n",
				lathe_error_message(e));
			lathe_error_free(e);
			e = NULL;
		}
	}
	for (int r = 0; !e && r < o->runs; r++) {
		if (run_arena)
			lathe_arena_destroy(run_arena);
		run_arena = lathe_arena_create();
		double t1 = now_ms();
		if (jit) {
			e = lathe_jit_run(jit, g, run_arena, in, out);
			if (r == 0)
				first = *lathe_jit_last_stats(jit);
			if (!e && r == 0 && first.interpreted)
				fprintf(stderr, "lathe: warning: no C compiler could be run (set $CC); "
					"ran on the interpreter\n");
		} else {
			lathe_exec *x = lathe_exec_create(run_arena);
			e = lathe_exec_run(x, g, in, out);
			lathe_exec_destroy(x);
		}
		times[r] = now_ms() - t1;
	}
	if (!e && o->outdir) {
		e = lathe_dir_create(o->outdir);
		for (size_t i = 0; !e && i < g->outputs.len; i++)
			e = write_output(o->outdir, i, &out[i]);
	}
	if (!e && o->print) {
		for (size_t i = 0; i < g->outputs.len; i++)
			print_output(g, i, &out[i]);
		qsort(times, o->runs, sizeof *times, cmp_double);
		printf("model %s: %zu nodes, loaded in %.1f ms; ran %s in %.1f ms"
		       " (median of %d run%s)\n",
		       o->model, g->nodes.len, t_load,
		       jit && !first.interpreted ? "compiled C" : "on the interpreter",
		       times[o->runs / 2], o->runs, o->runs == 1 ? "" : "s");
		if (jit && !first.interpreted)
			printf("C backend: %d loop programs, %d compiled by the first run (%.0f ms in the C "
			       "compiler), the rest from the cache\n",
			       first.nfuncs, first.ncompiled, first.ms_cc);
	}
	lathe_jit_destroy(jit);
	if (run_arena)
		lathe_arena_destroy(run_arena);
	lathe_arena_destroy(a);
	lathe_graph_destroy(g);
	return e;
}

int lathe_cmd_run(int argc, char **argv)
{
	run_opts o = {.runs = 1};
	o.inputs = lathe_xcalloc(argc + 1, sizeof *o.inputs);
	int rc = -1;
	for (int i = 0; i < argc && rc < 0; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(run_usage, stdout);
			rc = 0;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--backend") || !strcmp(a, "--runs") ||
			   !strcmp(a, "--threads")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "lathe run: %s needs a value\n", a);
				rc = 2;
			} else if (!strcmp(a, "-o")) {
				o.outdir = argv[++i];
			} else if (!strcmp(a, "--threads")) {
				char *end;
				long v = strtol(argv[++i], &end, 10);
				if (*end || v < 1 || v > 1024) {
					fprintf(stderr, "lathe run: --threads wants a count from 1 to 1024\n");
					rc = 2;
				}
				o.threads = (int)v;
			} else if (!strcmp(a, "--runs")) {
				char *end;
				long v = strtol(argv[++i], &end, 10);
				if (*end || v < 1 || v > 100000) {
					fprintf(stderr, "lathe run: --runs wants a count from 1 to 100000\n");
					rc = 2;
				}
				o.runs = (int)v;
			} else if (!strcmp(argv[++i], "c")) {
				o.backend_c = true;
				o.backend_interp = false;
			} else if (!strcmp(argv[i], "interp")) {
				o.backend_interp = true;
				o.backend_c = false;
			} else {
				fprintf(stderr, "lathe run: unknown backend '%s' (available: interp, c)\n",
					argv[i]);
				rc = 2;
			}
		} else if (!strcmp(a, "--random-inputs")) {
			o.random_inputs = true;
		} else if (!strcmp(a, "--print")) {
			o.print = true;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "lathe run: unknown option '%s'\n%s", a, run_usage);
			rc = 2;
		} else if (!o.model) {
			o.model = a;
		} else {
			o.inputs[o.ninputs++] = a;
		}
	}
	if (rc < 0 && !o.model) {
		fputs(run_usage, stderr);
		rc = 2;
	}
	if (rc < 0 && o.random_inputs && o.ninputs) {
		fprintf(stderr, "lathe run: --random-inputs and input files are exclusive\n");
		rc = 2;
	}
	if (rc < 0 && lathe_is_module_dir(o.model)) {
		lathe_run_module_opts mo = {.dir = o.model, .outdir = o.outdir, .inputs = o.inputs,
					    .ninputs = o.ninputs, .runs = o.runs, .threads = o.threads,
					    .random_inputs = o.random_inputs, .print = o.print};
		rc = lathe_report(lathe_run_module(&mo));
	}
	if (rc < 0)
		rc = lathe_report(run(&o));
	free(o.inputs);
	return rc;
}
