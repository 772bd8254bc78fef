/* test_pool.c: the runtime's thread pool (runtime/src/pool.c).
 *
 * Every index of [0, n) must be visited exactly once, for every pool size
 * and n (0, 1, fewer than the threads, many); work must really spread over
 * several threads; a call from inside a job, or from a second thread while
 * a job runs, must run serially instead of deadlocking; a NULL pool runs
 * inline; the dispatch through the pool's first member (what generated
 * code uses) must be the same call; idle pools must not burn CPU, and
 * must wake up again for the next job.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lathe_rt.h"

typedef struct visit {
	atomic_int *count;
	int64_t n;
	atomic_int bad_range;
	atomic_int calls;
} visit;

static void visit_fn(void *ctx, int64_t b, int64_t e)
{
	visit *v = ctx;
	atomic_fetch_add(&v->calls, 1);
	if (b < 0 || e > v->n || b >= e)
		atomic_store(&v->bad_range, 1);
	for (int64_t i = b; i < e && i >= 0 && i < v->n; i++)
		atomic_fetch_add(&v->count[i], 1);
}

static bool visits_once(lathe_rt_pool *p, int64_t n, bool via_member)
{
	visit v = {.n = n};
	v.count = calloc((size_t)n + 1, sizeof *v.count);
	if (via_member)
		(*(lathe_rt_parallel_for_fn *)(void *)p)(p, n, visit_fn, &v);
	else
		lathe_rt_parallel_for(p, n, visit_fn, &v);
	bool ok = !atomic_load(&v.bad_range);
	for (int64_t i = 0; i < n; i++)
		ok &= atomic_load(&v.count[i]) == 1;
	if (n <= 0)
		ok &= atomic_load(&v.calls) == 0;
	free(v.count);
	return ok;
}

/* ---- which threads ran ---------------------------------------------------- */

typedef struct who {
	pthread_t seen[64];
	atomic_int nseen;
	pthread_mutex_t mu;
} who;

static void who_fn(void *ctx, int64_t b, int64_t e)
{
	who *w = ctx;
	/* Long enough that every thread gets a chunk. */
	struct timespec ts = {0, 2000000};
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&w->mu);
	pthread_t self = pthread_self();
	bool known = false;
	for (int i = 0; i < atomic_load(&w->nseen); i++)
		known |= pthread_equal(w->seen[i], self) != 0;
	if (!known && atomic_load(&w->nseen) < 64)
		w->seen[atomic_fetch_add(&w->nseen, 1)] = self;
	pthread_mutex_unlock(&w->mu);
	(void)b;
	(void)e;
}

/* ---- nesting ---------------------------------------------------------------- */

typedef struct nest {
	lathe_rt_pool *p;
	atomic_int inner_total;
} nest;

static void inner_fn(void *ctx, int64_t b, int64_t e)
{
	nest *n = ctx;
	atomic_fetch_add(&n->inner_total, (int)(e - b));
}

static void outer_fn(void *ctx, int64_t b, int64_t e)
{
	nest *n = ctx;
	for (int64_t i = b; i < e; i++)
		lathe_rt_parallel_for(n->p, 10, inner_fn, n);
}

typedef struct concurrent {
	lathe_rt_pool *p;
	bool ok;
} concurrent;

static void *second_caller(void *arg)
{
	concurrent *c = arg;
	c->ok = true;
	for (int r = 0; r < 200; r++)
		c->ok &= visits_once(c->p, 1000, false);
	return NULL;
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	/* NULL pool: inline. */
	CHECK(visits_once(NULL, 0, false));
	CHECK(visits_once(NULL, 1, false));
	CHECK(visits_once(NULL, 1000, false));
	CHECK(lathe_rt_pool_size(NULL) == 1);

	static const int sizes[] = {0, 1, 2, 3, 4, 8};
	static const int64_t ns[] = {0, 1, 2, 3, 7, 64, 1000, 100003};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		lathe_rt_pool *p = lathe_rt_pool_create(sizes[s]);
		CHECK(p != NULL);
		CHECK(lathe_rt_pool_size(p) == (sizes[s] < 1 ? 1 : sizes[s]));
		for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
			CHECK(visits_once(p, ns[k], false));
			CHECK(visits_once(p, ns[k], true));
		}
		/* Many small jobs in a row: no job lost or run twice. */
		bool ok = true;
		for (int r = 0; r < 2000; r++)
			ok &= visits_once(p, 5 + r % 13, r & 1);
		CHECK(ok);
		lathe_rt_pool_destroy(p);
	}

	/* Work spreads over the threads. */
	lathe_rt_pool *p = lathe_rt_pool_create(4);
	who w = {0};
	pthread_mutex_init(&w.mu, NULL);
	lathe_rt_parallel_for(p, 64, who_fn, &w);
	CHECK(atomic_load(&w.nseen) >= 2);
	pthread_mutex_destroy(&w.mu);

	/* Nested calls run serially inside the job. */
	nest n = {.p = p};
	lathe_rt_parallel_for(p, 50, outer_fn, &n);
	CHECK(atomic_load(&n.inner_total) == 500);

	/* A second application thread shares the pool. */
	concurrent c = {.p = p};
	pthread_t t;
	CHECK(pthread_create(&t, NULL, second_caller, &c) == 0);
	bool ok = true;
	for (int r = 0; r < 200; r++)
		ok &= visits_once(p, 1000, false);
	pthread_join(t, NULL);
	CHECK(ok);
	CHECK(c.ok);

	/* Idle workers sleep: 200 ms of waiting costs (almost) no CPU. */
	double c0 = cpu_seconds();
	struct timespec ts = {0, 200000000};
	nanosleep(&ts, NULL);
	CHECK(cpu_seconds() - c0 < 0.05);
	/* Sleeping workers wake for the next jobs, and a caller that waits
	 * longer than its spin (slow chunks) is woken by the last worker. */
	ok = true;
	for (int r = 0; r < 20; r++)
		ok &= visits_once(p, 1000, r & 1);
	CHECK(ok);
	who w2 = {0};
	pthread_mutex_init(&w2.mu, NULL);
	lathe_rt_parallel_for(p, 8, who_fn, &w2);
	CHECK(atomic_load(&w2.nseen) >= 2);
	pthread_mutex_destroy(&w2.mu);
	nanosleep(&ts, NULL);
	CHECK(visits_once(p, 100003, false));
	lathe_rt_pool_destroy(p);
	lathe_rt_pool_destroy(NULL);
	return CHECK_DONE("test_pool");
}
