/* peak.c: measures this machine's FP32 fused-multiply-add peak, per core.
 *
 * Runs chains of independent vector FMAs (enough accumulators to cover the
 * FMA latency) on every thread asked for, and prints GFLOP/s.  Built with
 * -O2 -march=native by bench/run.py, so the vector width is the CPU's own
 * (GCC vector extensions: 64-byte vectors on AVX-512 machines, where the
 * compiler splits them on narrower ones).
 *
 *     peak [THREADS] -> "peak_gflops: X" (all threads together)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float v16 __attribute__((vector_size(64)));

enum { ACC = 12, ITERS = 20000000 };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *work(void *arg)
{
	v16 acc[ACC];
	v16 a, b;
	for (int i = 0; i < 16; i++) {
		a[i] = 1.0f + 1e-7f * i;
		b[i] = 0.999999f;
	}
	for (int k = 0; k < ACC; k++)
		acc[k] = a * (float)(k + 1);
	long iters = *(long *)arg;
	for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
		for (int k = 0; k < ACC; k++)
			acc[k] = acc[k] * b + a; /* contracted to an FMA with -march=native */
		__asm__ volatile("" : "+x"(b));
	}
	float s = 0;
	for (int k = 0; k < ACC; k++)
		for (int i = 0; i < 16; i++)
			s += acc[k][i];
	*(float *)arg = s;
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	if (threads < 1 || threads > 256)
		threads = 1;
	pthread_t tid[256];
	long arg[256];
	double best = 0;
	for (int rep = 0; rep < 3; rep++) {
		double t0 = now();
		for (int t = 0; t < threads; t++) {
			arg[t] = ITERS / 4;
			pthread_create(&tid[t], NULL, work, &arg[t]);
		}
		for (int t = 0; t < threads; t++)
			pthread_join(tid[t], NULL);
		double secs = now() - t0;
		double flops = 2.0 * 16 * ACC * (double)(ITERS / 4) * threads;
		if (flops / secs > best)
			best = flops / secs;
	}
	printf("peak_gflops: %.1f\n", best / 1e9);
	return 0;
}
