/* run_module.c: `lathe run DIR`, which runs a compiled module with the
 * conventions `lathe run MODEL` has for a model file: inputs positional
 * (.npy or ONNX TensorProto .pb), checked against the module's manifest for
 * count, element type and shape; outputs to OUT/output_N.npy.
 *
 * The workspace is allocated once and reused by every run (--runs N), and
 * the thread pool is created once: the timed part is NAME_run alone.
 */
#include "base/npy.h"
#include "driver/driver.h"
#include "module/module.h"
#include "onnx/onnx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

bool lathe_is_module_dir(const char *path)
{
	struct stat st;
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static void io_type(lathe_buf *b, int dtype, int rank, const int64_t *shape)
{
	lathe_buf_printf(b, "%s[", lathe_dtype_name(dtype));
	for (int d = 0; d < rank; d++)
		lathe_buf_printf(b, "%s%lld", d ? "," : "", (long long)shape[d]);
	lathe_buf_puts(b, "]");
}

static lathe_err read_input(lathe_arena *a, const lathe_module_io *io, int i, const char *path,
			    lathe_tensor **out)
{
	size_t n = strlen(path);
	lathe_tensor *t = NULL;
	if (n >= 4 && !strcmp(path + n - 4, ".npy")) {
		LATHE_TRYF(lathe_npy_read(a, path, &t), "input %d ('%s')", i, io->name);
	} else {
		lathe_type want = lathe_type_tensor(a, io->dtype, io->rank, io->shape);
		lathe_rvalue v;
		LATHE_TRYF(lathe_onnx_read_value_pb(a, path, &want, &v), "input %d ('%s')", i,
			   io->name);
		if (v.kind != LATHE_TY_TENSOR || !v.t)
			return lathe_error(LATHE_EINVAL, "input %d ('%s'): %s does not hold a tensor", i,
					   io->name, path);
		t = v.t;
	}
	bool ok = t->dtype == io->dtype && t->rank == io->rank;
	for (int d = 0; ok && d < io->rank; d++)
		ok = t->shape[d] == io->shape[d];
	if (!ok) {
		lathe_buf w = {0}, g = {0};
		io_type(&w, io->dtype, io->rank, io->shape);
		io_type(&g, t->dtype, t->rank, t->shape);
		lathe_err e = lathe_error(LATHE_EINVAL, "input %d ('%s'): the module was compiled for "
					  "%s, %s holds %s", i, io->name, w.data, path, g.data);
		lathe_buf_free(&w);
		lathe_buf_free(&g);
		return e;
	}
	*out = t;
	return NULL;
}

/* The same deterministic values `lathe run MODEL --random-inputs` makes. */
static void fill_random(lathe_tensor *t, int i)
{
	uint64_t s = 0x9E3779B97F4A7C15ull ^ (uint64_t)(i + 1);
	int64_t n = lathe_tensor_numel(t);
	for (int64_t k = 0; k < n; k++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		double u = (double)(s >> 11) / 9007199254740992.0;
		if (lathe_dtype_is_float(t->dtype))
			lathe_rt_store_f64(t, k, 2 * u - 1);
		else
			lathe_rt_store_i64(t, k, (int64_t)(u * 8));
	}
}

static lathe_err random_input(lathe_arena *a, const lathe_module_io *io, int i, lathe_tensor **out)
{
	lathe_tensor *t;
	LATHE_TRY(lathe_tensor_alloc(a, io->dtype, io->rank, io->shape, &t));
	fill_random(t, i);
	*out = t;
	return NULL;
}

/* A tensor of io's type over a buffer of its own (64-byte aligned, as the
 * workspace), *owned to free: a module's tensors can be far larger than
 * memory (the manifest bounds them at 2^40 elements), and running out must
 * be an error, not the arena's abort. */
static lathe_err io_buffer(lathe_arena *a, const lathe_module_io *io, const char *kind, int i,
			   void **owned, lathe_tensor **out)
{
	size_t n = io->nbytes ? (size_t)(io->nbytes + 63) / 64 * 64 : 64;
	void *p = aligned_alloc(64, n);
	if (!p)
		return lathe_error(LATHE_ENOMEM, "cannot allocate %llu bytes for %s %d ('%s')",
				   (unsigned long long)io->nbytes, kind, i, io->name);
	*owned = p;
	lathe_tensor *t = lathe_tensor_header(a, io->dtype, io->rank, io->shape);
	t->data = p;
	*out = t;
	return NULL;
}

static void print_output(int i, const char *name, const lathe_tensor *t)
{
	lathe_buf b = {0};
	io_type(&b, t->dtype, t->rank, t->shape);
	printf("output %d '%s': %s =", i, name, b.data);
	lathe_buf_free(&b);
	int64_t n = lathe_tensor_numel(t);
	bool fl = lathe_dtype_is_float(t->dtype);
	for (int64_t k = 0; k < n && k < 6; k++) {
		if (fl)
			printf(" %.6g", lathe_rt_load_f64(t, k));
		else
			printf(" %lld", (long long)lathe_rt_load_i64(t, k));
	}
	printf("%s\n", n > 6 ? " ..." : "");
	if (!fl || n < 5 || t->rank < 1 || t->shape[t->rank - 1] != n)
		return;
	/* A classifier's scores: the five best classes. */
	int64_t best[5] = {-1, -1, -1, -1, -1};
	for (int r = 0; r < 5; r++)
		for (int64_t k = 0; k < n; k++) {
			bool taken = false;
			for (int q = 0; q < r; q++)
				taken |= best[q] == k;
			if (!taken && (best[r] < 0 || lathe_rt_load_f64(t, k) >
							  lathe_rt_load_f64(t, best[r])))
				best[r] = k;
		}
	printf("  top-5 classes:");
	for (int r = 0; r < 5; r++)
		printf(" %lld (%.4f)", (long long)best[r], lathe_rt_load_f64(t, best[r]));
	printf("\n");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static lathe_err run(lathe_module *mod, const lathe_run_module_opts *o, lathe_arena *a)
{
	const lathe_manifest *m = lathe_module_manifest(mod);
	if (!o->random_inputs && o->ninputs != m->nin) {
		lathe_buf names = {0};
		for (int i = 0; i < m->nin; i++) {
			lathe_buf_printf(&names, "%s'%s' ", i ? ", " : "", m->in[i].name);
			io_type(&names, m->in[i].dtype, m->in[i].rank, m->in[i].shape);
		}
		lathe_err e = lathe_error(LATHE_EINVAL, "module %s takes %d input%s (%s), %d given",
					  o->dir, m->nin, m->nin == 1 ? "" : "s",
					  names.data ? names.data : "", o->ninputs);
		lathe_buf_free(&names);
		return e;
	}
	void **in = lathe_arena_new(a, void *, m->nin + 1);
	void **out = lathe_arena_new(a, void *, m->nout + 1);
	lathe_tensor **outs = lathe_arena_new(a, lathe_tensor *, m->nout + 1);
	/* Buffers of ours to free: random inputs, outputs, the workspace. */
	void **owned = lathe_arena_new(a, void *, (size_t)m->nin + m->nout + 1);
	int nowned = 0;
	lathe_err e = NULL;
	for (int i = 0; i < m->nin && !e; i++) {
		lathe_tensor *t = NULL;
		if (o->random_inputs) {
			e = io_buffer(a, &m->in[i], "input", i, &owned[nowned], &t);
			if (!e) {
				nowned++;
				fill_random(t, i);
			}
		} else {
			e = read_input(a, &m->in[i], i, o->inputs[i], &t);
		}
		if (!e)
			in[i] = t->data;
	}
	for (int i = 0; i < m->nout && !e; i++) {
		e = io_buffer(a, &m->out[i], "output", i, &owned[nowned], &outs[i]);
		if (!e) {
			nowned++;
			out[i] = outs[i]->data;
		}
	}
	void *ws = NULL;
	if (!e && m->workspace_size) {
		ws = aligned_alloc(64, (m->workspace_size + 63) / 64 * 64);
		if (!ws)
			e = lathe_error(LATHE_ENOMEM, "cannot allocate the module's workspace "
					"(%llu bytes)", (unsigned long long)m->workspace_size);
	}
	if (e) {
		for (int k = 0; k < nowned; k++)
			free(owned[k]);
		return e;
	}
	int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	lathe_rt_pool *pool = threads > 1 ? lathe_rt_pool_create(threads) : NULL;
	double *times = lathe_arena_new(a, double, o->runs + 1);
	for (int r = 0; r < o->runs && !e; r++) {
		double t0 = now_ms();
		e = lathe_module_run(mod, in, out, ws, pool);
		times[r] = now_ms() - t0;
	}
	lathe_rt_pool_destroy(pool);
	free(ws);
	if (!e && o->outdir) {
		e = lathe_dir_create(o->outdir);
		for (int i = 0; i < m->nout && !e; i++) {
			char path[4200];
			snprintf(path, sizeof path, "%s/output_%d.npy", o->outdir, i);
			e = lathe_npy_write(path, outs[i]);
		}
	}
	if (!e && o->print) {
		for (int i = 0; i < m->nout; i++)
			print_output(i, m->out[i].name, outs[i]);
		qsort(times, (size_t)o->runs, sizeof *times, cmp_double);
		printf("module %s (%s): ran in %.2f ms on %d thread%s (median of %d run%s)\n", o->dir,
		       m->name, times[o->runs / 2], threads > 1 ? threads : 1, threads > 1 ? "s" : "",
		       o->runs, o->runs == 1 ? "" : "s");
	}
	for (int k = 0; k < nowned; k++)
		free(owned[k]);
	return e;
}

lathe_err lathe_run_module(const lathe_run_module_opts *o)
{
	lathe_module *mod;
	LATHE_TRY(lathe_module_open(o->dir, &mod));
	lathe_arena *a = lathe_arena_create();
	lathe_err e = run(mod, o, a);
	lathe_arena_destroy(a);
	lathe_module_close(mod);
	return e;
}

lathe_err lathe_module_input_read(lathe_arena *a, const lathe_module_io *io, int i,
				  const char *path, lathe_tensor **out)
{
	return read_input(a, io, i, path, out);
}

lathe_err lathe_module_input_random(lathe_arena *a, const lathe_module_io *io, int i,
				    lathe_tensor **out)
{
	return random_input(a, io, i, out);
}
