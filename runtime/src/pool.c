/* pool.c: the runtime's thread pool (lathe_rt_parallel_for).
 *
 * Compiled code runs the loops its schedule marked parallel through here:
 * the C backend outlines a parallel loop's body into fn(ctx, begin, end)
 * and the pool runs chunks of the iteration space on its threads and on
 * the calling thread.  The caller chooses the thread count when it creates
 * the pool; that is the only allocation, so the run path allocates nothing.
 *
 * Between jobs the workers sleep on a condition variable (an idle pool uses
 * no CPU).  A job is published under the mutex with a new generation
 * number; each worker takes chunks from an atomic counter until none are
 * left and then reports to the caller, who waits until every worker has
 * reported before it returns, so a worker can never miss or straddle a
 * job.  One job runs at a time: a call made while a job is running (from
 * inside fn, or from a second application thread) runs serially on its own
 * thread instead of waiting, which keeps nested parallel loops from
 * deadlocking.
 *
 * libc and pthreads only; no compiler header.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "lathe_rt.h"

/* Chunks per thread: enough to even out uneven chunks, few enough that the
 * shared counter is not contended. */
enum { CHUNKS_PER_THREAD = 4, MAX_THREADS = 1024 };

struct lathe_rt_pool {
	lathe_rt_parallel_for_fn parallel_for; /* first: see lathe_rt.h */
	int nworkers;                          /* threads besides the caller */
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* workers: a new job or stop */
	pthread_cond_t done; /* caller: the last worker finished */
	/* Under mu. */
	uint64_t gen;  /* generation of the current job */
	int pending;   /* workers that have not finished the current job */
	bool busy, stop;
	/* The current job: written under mu before gen changes, read by
	 * workers after they see the new gen under mu. */
	lathe_rt_task_fn fn;
	void *ctx;
	int64_t n, chunk;
	atomic_llong next; /* first iteration not yet taken */
};

static void run_chunks(lathe_rt_pool *p, lathe_rt_task_fn fn, void *ctx, int64_t n,
		       int64_t chunk)
{
	for (;;) {
		int64_t b = (int64_t)atomic_fetch_add_explicit(&p->next, (long long)chunk,
								memory_order_relaxed);
		if (b >= n)
			return;
		int64_t e = n - b < chunk ? n : b + chunk;
		fn(ctx, b, e);
	}
}

static void *worker(void *arg)
{
	lathe_rt_pool *p = arg;
	uint64_t seen = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->wake, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		lathe_rt_task_fn fn = p->fn;
		void *ctx = p->ctx;
		int64_t n = p->n, chunk = p->chunk;
		pthread_mutex_unlock(&p->mu);
		run_chunks(p, fn, ctx, n, chunk);
		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

lathe_rt_pool *lathe_rt_pool_create(int nthreads)
{
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	lathe_rt_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->parallel_for = lathe_rt_parallel_for;
	atomic_init(&p->next, 0);
	if (pthread_mutex_init(&p->mu, NULL)) {
		free(p);
		return NULL;
	}
	if (pthread_cond_init(&p->wake, NULL)) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	if (pthread_cond_init(&p->done, NULL)) {
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	if (nthreads > 1) {
		p->threads = calloc((size_t)(nthreads - 1), sizeof *p->threads);
		if (!p->threads) {
			lathe_rt_pool_destroy(p);
			return NULL;
		}
	}
	/* A thread that cannot be started leaves a smaller pool, not an error. */
	for (int i = 0; i < nthreads - 1; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p))
			break;
		p->nworkers++;
	}
	return p;
}

void lathe_rt_pool_destroy(lathe_rt_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}

int lathe_rt_pool_size(const lathe_rt_pool *p)
{
	return p ? p->nworkers + 1 : 1;
}

void lathe_rt_parallel_for(lathe_rt_pool *p, int64_t n, lathe_rt_task_fn fn, void *ctx)
{
	if (n <= 0)
		return;
	if (!p || p->nworkers == 0 || n == 1) {
		fn(ctx, 0, n);
		return;
	}
	pthread_mutex_lock(&p->mu);
	if (p->busy) {
		pthread_mutex_unlock(&p->mu);
		fn(ctx, 0, n);
		return;
	}
	int64_t parts = (int64_t)(p->nworkers + 1) * CHUNKS_PER_THREAD;
	int64_t chunk = n / parts + (n % parts != 0);
	p->busy = true;
	p->fn = fn;
	p->ctx = ctx;
	p->n = n;
	p->chunk = chunk;
	atomic_store_explicit(&p->next, 0, memory_order_relaxed);
	p->pending = p->nworkers;
	p->gen++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	run_chunks(p, fn, ctx, n, chunk);
	pthread_mutex_lock(&p->mu);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->mu);
	p->busy = false;
	pthread_mutex_unlock(&p->mu);
}
