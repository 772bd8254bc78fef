/* run_bundle.c: a C program that runs a model compiled by lathe into a
 * standalone bundle, with nothing but libc, libm and pthreads.
 *
 *   lathe compile models/mobilenet_v2_tiny.onnx --emit c -o out
 *   cc -O2 -std=c11 -c out/mobilenet_v2_tiny.c -o model.o
 *   cc -O2 -std=c11 -DMODEL=mobilenet_v2_tiny -Iout run_bundle.c model.o \
 *      -o run_bundle -lm -lpthread
 *   ./run_bundle out/weights.bin --input models/mobilenet_v2_tiny.input.npy
 *
 * MODEL is the module's name: the bundle's header is MODEL.h and its run
 * function MODEL_run.  The program loads the weights, reads input 0 from a
 * .npy file (or makes a deterministic one; other inputs are made too),
 * allocates the workspace the header asks for, runs the model on a thread
 * pool of the size you choose, and prints the time and the top-5 scores of
 * output 0.  With --expect it compares output 0 with a .npy file (within
 * 1e-3 of the file's largest magnitude) and exits non-zero on a mismatch,
 * which is how `make example` tests it.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef MODEL
#error "define MODEL as the module's name, e.g. -DMODEL=mobilenet_v2_tiny"
#endif
#define STR_(x) #x
#define STR(x) STR_(x)
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#include STR(MODEL.h)

#define M(suffix) CAT(MODEL, suffix)

/* ONNX element type numbers of the types this program reads and writes. */
enum { DT_F32 = 1, DT_U8 = 2, DT_I8 = 3, DT_I32 = 6, DT_I64 = 7, DT_BOOL = 9, DT_F64 = 11 };

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *alloc64(size_t n)
{
	/* aligned_alloc wants a multiple of the alignment; never 0 bytes. */
	return aligned_alloc(64, (n + 64) / 64 * 64);
}

static int die(const char *msg, const char *what)
{
	fprintf(stderr, "run_bundle: %s%s%s\n", msg, what ? ": " : "", what ? what : "");
	return 1;
}

/* Reads a whole file into 64-byte aligned memory; *size gets its length. */
static void *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	void *p = NULL;
	long n = -1;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		p = alloc64((size_t)n);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
	}
	fclose(f);
	*size = (size_t)n;
	return p;
}

static const char *npy_descr(int dtype)
{
	switch (dtype) {
	case DT_F32: return "<f4";
	case DT_F64: return "<f8";
	case DT_I64: return "<i8";
	case DT_I32: return "<i4";
	case DT_U8: return "|u1";
	case DT_I8: return "|i1";
	case DT_BOOL: return "|b1";
	default: return NULL;
	}
}

/* A tiny .npy reader: version 1 or 2, C order, the given element type and
 * element count (the shape is checked by its product).  Returns the data
 * (aligned, owned by the caller) or NULL with a message. */
static void *read_npy(const char *path, int dtype, size_t numel, size_t elem)
{
	size_t size;
	unsigned char *f = read_file(path, &size);
	const char *descr = npy_descr(dtype);
	if (!f) {
		die("cannot read", path);
		return NULL;
	}
	size_t hl = 0, off = 0;
	if (size >= 10 && !memcmp(f, "\x93NUMPY", 6) && f[6] == 1)
		hl = f[8] | (size_t)f[9] << 8, off = 10;
	else if (size >= 12 && !memcmp(f, "\x93NUMPY", 6) && (f[6] == 2 || f[6] == 3))
		hl = f[8] | (size_t)f[9] << 8 | (size_t)f[10] << 16 | (size_t)f[11] << 24, off = 12;
	void *data = NULL;
	if (!off || hl > size - off) {
		die("not a .npy file", path);
	} else {
		char *h = malloc(hl + 1);
		memcpy(h, f + off, hl);
		h[hl] = 0;
		const char *shape = strstr(h, "'shape': (");
		size_t n = 1;
		for (const char *p = shape ? shape + 10 : ""; *p && *p != ')';) {
			char *end;
			if (*p >= '0' && *p <= '9')
				n *= strtoull(p, &end, 10), p = end;
			else
				p++;
		}
		if (!descr || !strstr(h, descr))
			die("element type differs from the model's input", path);
		else if (strstr(h, "'fortran_order': True"))
			die("Fortran-order arrays are not supported", path);
		else if (!shape || n != numel || size - off - hl != numel * elem)
			die("shape differs from the model's input", path);
		else if ((data = alloc64(numel * elem)))
			memcpy(data, f + off + hl, numel * elem);
		free(h);
	}
	free(f);
	return data;
}

/* Deterministic data in [-1, 1) for floats, zeros for the rest. */
static void fill(void *p, int dtype, size_t numel, unsigned seed)
{
	uint64_t s = 0x9E3779B97F4A7C15ull ^ seed;
	for (size_t k = 0; k < numel; k++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		double u = (double)(s >> 11) / 9007199254740992.0 * 2 - 1;
		if (dtype == DT_F32)
			((float *)p)[k] = (float)u;
		else if (dtype == DT_F64)
			((double *)p)[k] = u;
	}
}

static void top5(const float *x, size_t n)
{
	size_t best[5];
	int nb = n < 5 ? (int)n : 5;
	for (int r = 0; r < nb; r++) {
		size_t b = SIZE_MAX;
		for (size_t k = 0; k < n; k++) {
			int taken = 0;
			for (int q = 0; q < r; q++)
				taken |= best[q] == k;
			if (!taken && (b == SIZE_MAX || x[k] > x[b]))
				b = k;
		}
		best[r] = b;
	}
	printf("top-5:");
	for (int r = 0; r < nb; r++)
		printf(" %zu (%.4f)", best[r], x[best[r]]);
	printf("\n");
}

int main(int argc, char **argv)
{
	const char *weights_path = NULL, *input_path = NULL, *expect_path = NULL;
	int threads = 1, runs = 10;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--input") && i + 1 < argc)
			input_path = argv[++i];
		else if (!strcmp(argv[i], "--expect") && i + 1 < argc)
			expect_path = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (argv[i][0] != '-' && !weights_path)
			weights_path = argv[i];
		else
			return die("usage: run_bundle WEIGHTS.bin [--input X.npy] [--expect Y.npy] "
				   "[--threads N] [--runs N]", NULL);
	}
	if (!weights_path || runs < 1)
		return die("usage: run_bundle WEIGHTS.bin [--input X.npy] [--expect Y.npy] "
			   "[--threads N] [--runs N]", NULL);

	size_t wsize;
	void *weights = read_file(weights_path, &wsize);
	if (!weights)
		return die("cannot read", weights_path);
	if (wsize != M(_WEIGHTS_SIZE))
		return die("the weights file does not belong to this model", weights_path);

	static const int in_dtype[] = M(_INPUT_DTYPES), out_dtype[] = M(_OUTPUT_DTYPES);
	static const size_t in_size[] = M(_INPUT_SIZES), out_size[] = M(_OUTPUT_SIZES);
	static const size_t in_numel[] = M(_INPUT_NUMELS), out_numel[] = M(_OUTPUT_NUMELS);
	void *inputs[M(_NUM_INPUTS) + 1], *outputs[M(_NUM_OUTPUTS) + 1];
	for (int i = 0; i < M(_NUM_INPUTS); i++) {
		if (i == 0 && input_path) {
			inputs[i] = read_npy(input_path, in_dtype[i], in_numel[i],
					     in_numel[i] ? in_size[i] / in_numel[i] : 1);
			if (!inputs[i])
				return 1;
		} else {
			inputs[i] = alloc64(in_size[i]);
			memset(inputs[i], 0, in_size[i]);
			fill(inputs[i], in_dtype[i], in_numel[i], (unsigned)i + 1);
		}
	}
	for (int i = 0; i < M(_NUM_OUTPUTS); i++)
		outputs[i] = alloc64(out_size[i]);
	void *workspace = alloc64(M(_WORKSPACE_SIZE));
	lathe_rt_pool *pool = lathe_rt_pool_create(threads);

	/* One run to warm the caches, then the timed ones. */
	int rc = M(_run)(weights, inputs, outputs, workspace, pool);
	double best = 1e30, total = 0;
	for (int r = 0; r < runs && !rc; r++) {
		double t0 = now_ms();
		rc = M(_run)(weights, inputs, outputs, workspace, pool);
		double t = now_ms() - t0;
		total += t;
		best = t < best ? t : best;
	}
	if (rc)
		return fprintf(stderr, "run_bundle: %s_run failed with code %d\n", STR(MODEL), rc), 1;
	printf("%s: %d runs on %d thread%s: best %.3f ms, mean %.3f ms\n", STR(MODEL), runs,
	       threads, threads == 1 ? "" : "s", best, total / runs);
	if (out_dtype[0] == DT_F32)
		top5(outputs[0], out_numel[0]);

	int status = 0;
	if (expect_path) {
		float *want = read_npy(expect_path, DT_F32, out_numel[0], 4);
		if (!want || out_dtype[0] != DT_F32)
			return die("cannot compare output 0 with", expect_path);
		const float *got = outputs[0];
		double maxabs = 0, maxdiff = 0;
		for (size_t k = 0; k < out_numel[0]; k++) {
			maxabs = fmax(maxabs, fabs(want[k]));
			double d = fabs((double)got[k] - want[k]);
			maxdiff = isnan(d) ? INFINITY : fmax(maxdiff, d);
		}
		status = maxdiff <= 1e-3 * maxabs ? 0 : 1;
		printf("%s: output 0 vs %s: max abs diff %.3g (tolerance %.3g)\n",
		       status ? "FAIL" : "PASS", expect_path, maxdiff, 1e-3 * maxabs);
		free(want);
	}
	lathe_rt_pool_destroy(pool);
	for (int i = 0; i < M(_NUM_INPUTS); i++)
		free(inputs[i]);
	for (int i = 0; i < M(_NUM_OUTPUTS); i++)
		free(outputs[i]);
	free(workspace);
	free(weights);
	return status;
}
