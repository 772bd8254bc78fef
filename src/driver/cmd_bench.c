/* cmd_bench.c: `lathe bench`, which times a compiled model in this process.
 *
 * A model file is compiled first (src/module, as `lathe compile` does, for
 * the thread count asked) into a temporary directory, removed afterwards,
 * or into -o DIR, kept; a module directory is used as it is.  The module is
 * loaded (lathe_module_open), its inputs read or made deterministically,
 * and its workspace, outputs and thread pool made once; then warm-up runs,
 * then the timed runs of NAME_run alone.  It prints `median_ms: X`,
 * `min_ms`, `max_ms` and the model's GFLOP/s (FLOPs from the manifest's
 * step lines, counted at compile time: src/module/profile.c).
 *
 * With --profile the runs go through NAME_run_hooked, which calls back
 * before each step: a step's time is the gap between two callbacks, so
 * what it measures is the step and nothing else (a clock read per step).
 * Each step's median over the runs gives the table; the per-class summary
 * adds the medians up by kind of kernel.  bench/run.py reads these lines:
 * keep their format.
 */
#include "driver/driver.h"
#include "module/module.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lathe_rt.h"

static const char bench_usage[] =
	"usage: lathe bench MODEL|DIR [options]\n"
	"\n"
	"Times a model in this process: MODEL (an ONNX file or a .ir file) is compiled\n"
	"first, DIR is a module from `lathe compile`.  After the warm-up runs, each\n"
	"timed run is one call of the module's run function on the same buffers.\n"
	"Prints median_ms, min_ms, max_ms and the model's GFLOP/s (2 x the\n"
	"multiply-adds of its Conv, MatMul and Gemm nodes, over the median).\n"
	"\n"
	"  --threads N          threads to run on, and for MODEL to compile for\n"
	"                       (default: this machine's CPUs)\n"
	"  --runs R             timed runs (default 30)\n"
	"  --warmup W           untimed runs before them (default 3)\n"
	"  --profile            time every step (fused kernel, extern kernel, copy): a\n"
	"                       table of each step's median time, GFLOP/s and share of\n"
	"                       the total, and a summary per class (conv, dwconv,\n"
	"                       matmul, other)\n"
	"  --peak GFLOPS        also give GFLOP/s as a share of this peak (the\n"
	"                       machine's, for the thread count: bench/peak measures it)\n"
	"  --input FILE         an input tensor (.npy or ONNX .pb); repeat once per\n"
	"                       module input, in order (default: deterministic random\n"
	"                       inputs, as `lathe run --random-inputs` makes)\n"
	"  -o DIR               compile MODEL into DIR and keep it (default: a temporary\n"
	"                       directory, removed afterwards)\n"
	"  --input-shape N=D,.. --cflags FLAGS   as for `lathe compile`\n"
	"  --quiet              no progress lines\n";

typedef struct bench_opts {
	const char *target;    /* MODEL or DIR */
	const char *outdir;    /* -o */
	const char **inputs;   /* --input, ninputs of them */
	int ninputs;
	const char **shapes;   /* --input-shape */
	int nshapes;
	const char *cflags;
	int threads, runs, warmup;
	bool profile, quiet;
	double peak; /* GFLOP/s; 0: not given */
} bench_opts;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- compiling a model first ------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static lathe_err compile_first(const bench_opts *o, char *dir, size_t n, bool *made_tmp)
{
	*made_tmp = false;
	if (o->outdir) {
		snprintf(dir, n, "%s", o->outdir);
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, n, "%s/lathe-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			return lathe_error(LATHE_EIO, "cannot create a temporary directory %s (set TMPDIR, "
					   "or give -o DIR)", dir);
		*made_tmp = true;
	}
	lathe_compile_opts co = {.model_path = o->target, .threads = o->threads,
				 .input_shapes = o->shapes, .n_input_shapes = o->nshapes,
				 .cflags = o->cflags, .progress = o->quiet ? NULL : stderr};
	lathe_compile_stats st;
	double t0 = now_ns();
	LATHE_TRYF(lathe_compile_model(o->target, dir, &co, &st), "compiling %s", o->target);
	if (!o->quiet)
		fprintf(stderr, "lathe bench: compiled %s in %.0f ms (%d steps)\n", o->target,
			(now_ns() - t0) / 1e6, st.nsteps);
	return NULL;
}

/* ---- the runs ---------------------------------------------------------------- */

typedef struct step_clock {
	double *t; /* nsteps + 1 stamps of the current run */
	int nsteps;
} step_clock;

static void on_step(void *ctx, int step)
{
	step_clock *c = ctx;
	if (step >= 0 && step <= c->nsteps)
		c->t[step] = now_ns();
}

/* The steps' classes in the summary: dense conv, dense conv by Winograd's
 * algorithm (whose GFLOP/s count the direct convolution's FLOPs: an
 * effective rate, which may exceed the peak), depthwise conv, matmul,
 * everything else. */
enum { CL_CONV, CL_WINO, CL_DWCONV, CL_MATMUL, CL_OTHER, NCLASS };
static const char *const class_names[NCLASS] = {"conv", "winograd", "dwconv", "matmul", "other"};

static int step_class(const lathe_module_step *s)
{
	if (!strcmp(s->kind, "conv"))
		return CL_CONV;
	if (!strcmp(s->kind, "conv_winograd"))
		return CL_WINO;
	if (!strcmp(s->kind, "depthwise_conv"))
		return CL_DWCONV;
	if (!strcmp(s->kind, "matmul"))
		return CL_MATMUL;
	return CL_OTHER;
}

static void print_rate(double flops, double ms, double peak)
{
	if (flops <= 0 || ms <= 0) {
		printf(peak > 0 ? "  %9s  %6s" : "  %9s", "-", "-");
		return;
	}
	double gf = flops / (ms * 1e6);
	printf("  %9.2f", gf);
	if (peak > 0)
		printf("  %5.1f%%", 100 * gf / peak);
}

static void print_profile(const lathe_manifest *m, double *const *step_ms, int runs, double peak)
{
	double *med = lathe_xcalloc((size_t)m->nsteps + 1, sizeof *med);
	double total = 0;
	for (int s = 0; s < m->nsteps; s++) {
		med[s] = median(step_ms[s], runs);
		total += med[s];
	}
	printf("\nsteps (median over %d runs; GFLOP/s from 2 x multiply-adds of Conv, MatMul, "
	       "Gemm):\n", runs);
	printf("%4s  %-14s %10s %7s  %9s%s  %s\n", "step", "kind", "ms", "share", "GFLOP/s",
	       peak > 0 ? "  %peak" : "", "ops (first node)");
	for (int s = 0; s < m->nsteps; s++) {
		const lathe_module_step *st = &m->steps[s];
		printf("%4d  %-14s %10.3f %6.1f%%", s, st->kind, med[s],
		       total > 0 ? 100 * med[s] / total : 0);
		print_rate((double)st->flops, med[s], peak);
		printf("  %s (%s)\n", st->ops, st->node);
	}
	double cms[NCLASS] = {0}, cfl[NCLASS] = {0};
	int cn[NCLASS] = {0};
	double fl = 0;
	for (int s = 0; s < m->nsteps; s++) {
		int c = step_class(&m->steps[s]);
		cms[c] += med[s];
		cfl[c] += (double)m->steps[s].flops;
		cn[c]++;
		fl += (double)m->steps[s].flops;
	}
	printf("\nper class (sums of the step medians):\n");
	printf("%-8s %5s %10s %7s %9s  %9s%s\n", "class", "steps", "ms", "share", "GFLOP", "GFLOP/s",
	       peak > 0 ? "  %peak" : "");
	for (int c = 0; c <= NCLASS; c++) {
		bool tot = c == NCLASS;
		if (!tot && !cn[c])
			continue;
		double ms = tot ? total : cms[c], f = tot ? fl : cfl[c];
		printf("%-8s %5d %10.3f %6.1f%% ", tot ? "total" : class_names[c],
		       tot ? m->nsteps : cn[c], ms, total > 0 ? 100 * ms / total : 0);
		if (f > 0)
			printf("%9.3f", f / 1e9);
		else
			printf("%9s", "-");
		print_rate(f, ms, peak);
		printf("\n");
	}
	free(med);
}

static lathe_err bench(lathe_module *mod, const bench_opts *o, const char *dir, lathe_arena *a)
{
	const lathe_manifest *m = lathe_module_manifest(mod);
	if (o->ninputs && o->ninputs != m->nin)
		return lathe_error(LATHE_EINVAL, "module %s takes %d input%s, %d given with --input",
				   dir, m->nin, m->nin == 1 ? "" : "s", o->ninputs);
	if (o->profile && !m->nsteps)
		return lathe_error(LATHE_EINVAL, "%s/module.txt lists no steps (compiled by an older "
				   "lathe): compile the model again to profile it", dir);
	void **in = lathe_arena_new(a, void *, m->nin + 1);
	void **out = lathe_arena_new(a, void *, m->nout + 1);
	for (int i = 0; i < m->nin; i++) {
		lathe_tensor *t = NULL;
		LATHE_TRY(o->ninputs ? lathe_module_input_read(a, &m->in[i], i, o->inputs[i], &t)
				     : lathe_module_input_random(a, &m->in[i], i, &t));
		in[i] = t->data;
	}
	for (int i = 0; i < m->nout; i++) {
		lathe_tensor *t = NULL;
		LATHE_TRY(lathe_tensor_alloc(a, m->out[i].dtype, m->out[i].rank, m->out[i].shape, &t));
		out[i] = t->data;
	}
	void *ws = NULL;
	if (m->workspace_size) {
		ws = aligned_alloc(64, (m->workspace_size + 63) / 64 * 64);
		if (!ws)
			return lathe_error(LATHE_ENOMEM, "cannot allocate the module's workspace "
					   "(%llu bytes)", (unsigned long long)m->workspace_size);
	}
	int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	lathe_rt_pool *pool = threads > 1 ? lathe_rt_pool_create(threads) : NULL;
	step_clock clk = {.t = lathe_arena_new(a, double, m->nsteps + 1), .nsteps = m->nsteps};
	double **step_ms = lathe_arena_new(a, double *, m->nsteps + 1);
	for (int s = 0; o->profile && s < m->nsteps; s++)
		step_ms[s] = lathe_arena_new(a, double, o->runs);
	double *ms = lathe_arena_new(a, double, o->runs);
	lathe_err e = NULL;
	for (int r = 0; r < o->warmup + o->runs && !e; r++) {
		double t0 = now_ns();
		e = o->profile ? lathe_module_run_profiled(mod, in, out, ws, pool, on_step, &clk)
			       : lathe_module_run(mod, in, out, ws, pool);
		double t1 = now_ns();
		if (r < o->warmup)
			continue;
		ms[r - o->warmup] = (t1 - t0) / 1e6;
		for (int s = 0; o->profile && s < m->nsteps; s++)
			step_ms[s][r - o->warmup] = (clk.t[s + 1] - clk.t[s]) / 1e6;
	}
	lathe_rt_pool_destroy(pool);
	free(ws);
	LATHE_TRY(e);

	double flops = 0;
	for (int s = 0; s < m->nsteps; s++)
		flops += (double)m->steps[s].flops;
	double mean = 0;
	for (int r = 0; r < o->runs; r++)
		mean += ms[r] / o->runs;
	double med = median(ms, o->runs);
	printf("lathe bench: %s (%s): %d thread%s, %d run%s after %d warm-up run%s\n", m->name, dir,
	       threads, threads == 1 ? "" : "s", o->runs, o->runs == 1 ? "" : "s", o->warmup,
	       o->warmup == 1 ? "" : "s");
	printf("median_ms: %.3f\nmin_ms: %.3f\nmax_ms: %.3f\nmean_ms: %.3f\n", med, ms[0],
	       ms[o->runs - 1], mean);
	if (flops > 0) {
		printf("gflop: %.3f\ngflops: %.2f\n", flops / 1e9, flops / (med * 1e6));
		if (o->peak > 0)
			printf("peak_share: %.1f%% (of %.1f GFLOP/s)\n",
			       100 * flops / (med * 1e6) / o->peak, o->peak);
	}
	if (o->profile)
		print_profile(m, step_ms, o->runs, o->peak);
	return NULL;
}

static lathe_err run(const bench_opts *o)
{
	char dir[4096];
	bool made_tmp = false;
	lathe_err e = NULL;
	if (lathe_is_module_dir(o->target)) {
		if (o->outdir || o->nshapes || o->cflags)
			return lathe_error(LATHE_EINVAL, "%s is a compiled module: -o, --input-shape and "
					   "--cflags apply to a model file only", o->target);
		snprintf(dir, sizeof dir, "%s", o->target);
	} else {
		e = compile_first(o, dir, sizeof dir, &made_tmp);
	}
	lathe_module *mod = NULL;
	if (!e)
		e = lathe_module_open(dir, &mod);
	if (!e) {
		lathe_arena *a = lathe_arena_create();
		e = bench(mod, o, made_tmp ? o->target : dir, a);
		lathe_arena_destroy(a);
	}
	lathe_module_close(mod);
	if (made_tmp)
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return e;
}

/* A whole number in [lo, hi], or false. */
static bool parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

int lathe_cmd_bench(int argc, char **argv)
{
	bench_opts o = {.runs = 30, .warmup = 3};
	o.inputs = lathe_xcalloc((size_t)argc + 1, sizeof *o.inputs);
	o.shapes = lathe_xcalloc((size_t)argc + 1, sizeof *o.shapes);
	int rc = -1;
	for (int i = 0; i < argc && rc < 0; i++) {
		const char *a = argv[i];
		bool takes = !strcmp(a, "--threads") || !strcmp(a, "--runs") ||
			     !strcmp(a, "--warmup") || !strcmp(a, "--peak") || !strcmp(a, "--input") ||
			     !strcmp(a, "-o") || !strcmp(a, "--input-shape") || !strcmp(a, "--cflags");
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(bench_usage, stdout);
			rc = 0;
		} else if (takes && i + 1 >= argc) {
			fprintf(stderr, "lathe bench: %s needs a value\n", a);
			rc = 2;
		} else if (!strcmp(a, "--threads")) {
			if (!parse_int(argv[++i], 1, 1024, &o.threads)) {
				fprintf(stderr, "lathe bench: --threads wants a count from 1 to 1024\n");
				rc = 2;
			}
		} else if (!strcmp(a, "--runs")) {
			if (!parse_int(argv[++i], 1, 1000000, &o.runs)) {
				fprintf(stderr, "lathe bench: --runs wants a count from 1 to 1000000\n");
				rc = 2;
			}
		} else if (!strcmp(a, "--warmup")) {
			if (!parse_int(argv[++i], 0, 1000000, &o.warmup)) {
				fprintf(stderr, "lathe bench: --warmup wants a count from 0 to 1000000\n");
				rc = 2;
			}
		} else if (!strcmp(a, "--peak")) {
			char *end;
			o.peak = strtod(argv[++i], &end);
			if (end == argv[i] || *end || !(o.peak > 0 && o.peak < 1e9)) {
				fprintf(stderr, "lathe bench: --peak wants GFLOP/s, a positive number\n");
				rc = 2;
			}
		} else if (!strcmp(a, "--input")) {
			o.inputs[o.ninputs++] = argv[++i];
		} else if (!strcmp(a, "-o")) {
			o.outdir = argv[++i];
		} else if (!strcmp(a, "--input-shape")) {
			o.shapes[o.nshapes++] = argv[++i];
		} else if (!strcmp(a, "--cflags")) {
			o.cflags = argv[++i];
		} else if (!strcmp(a, "--profile")) {
			o.profile = true;
		} else if (!strcmp(a, "--quiet")) {
			o.quiet = true;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "lathe bench: unknown option '%s'\n%s", a, bench_usage);
			rc = 2;
		} else if (!o.target) {
			o.target = a;
		} else {
			fprintf(stderr, "lathe bench: one model at a time ('%s' and '%s' given)\n",
				o.target, a);
			rc = 2;
		}
	}
	if (rc < 0 && !o.target) {
		fprintf(stderr, "lathe bench: no model or module directory given\n%s", bench_usage);
		rc = 2;
	}
	if (rc < 0)
		rc = lathe_report(run(&o));
	free(o.inputs);
	free(o.shapes);
	return rc;
}
