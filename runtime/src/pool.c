/* pool.c: the runtime's thread pool (lathe_rt_parallel_for).
 *
 * Compiled code runs the loops its schedule marked parallel through here:
 * the C backend outlines a parallel loop's body into fn(ctx, begin, end)
 * and the pool runs chunks of the iteration space on its threads and on
 * the calling thread.  The caller chooses the thread count when it creates
 * the pool; that is the only allocation, so the run path allocates nothing.
 *
 * A model runs dozens of parallel loops back to back, each a fraction of a
 * millisecond, so waking a sleeping thread for each (tens of microseconds
 * through the kernel) would cost more than the second thread gains.  So
 * the threads spin: a worker that finished a job watches the generation
 * counter for a while (SPIN_ROUNDS polls: from a fraction of a millisecond
 * to a few, depending on how long the CPU's pause instruction waits) before it goes to
 * sleep on a condition variable, and the caller spins the same way while
 * it waits for the workers to finish.  An idle pool still ends up asleep
 * and uses no CPU.
 *
 * Publishing a job: the caller writes the job's fields, opens it in
 * `state` (the job's generation in the high 32 bits, a closed bit, and the
 * number of workers in it), then bumps `gen` (release); a worker that sees
 * the new gen joins the job by a compare-and-swap on `state` that adds one
 * to the count, and only if the job is still the one it saw and not
 * closed; then it reads the fields and takes chunks.  The caller, once no
 * chunk is left to take (it takes them too), closes the job and waits
 * only for the workers that joined: a worker that was descheduled (another
 * process holds its CPU) or was slow to wake misses the job instead of
 * holding the caller up, so a loaded machine degrades to the caller's own
 * speed, not to the scheduler's time slices.  A worker can never straddle
 * jobs: the caller changes the fields only once the count is back to zero
 * with the job closed, and the compare-and-swap fails for a worker that
 * saw an older job.
 *
 * Sleeping and waking: a worker counts itself in `sleepers` and re-checks
 * `gen` under the mutex before it waits; the caller bumps `gen` before it
 * reads `sleepers` and broadcasts under the mutex if anyone sleeps.  Both
 * sides use sequentially consistent atomics, so either the worker sees the
 * new gen or the caller sees the sleeper, and no wake-up is lost.
 * Finishing works the same way the other way round, with the count in
 * `state` and `caller_sleeps`.
 *
 * Sharing the work: the iterations are cut into one contiguous run per
 * participant (the caller's first, then worker i's), each taken by its
 * owner in CHUNKS_PER_THREAD chunks; one that has finished its own run
 * takes chunks of the others' runs, in turn.  So a thread does the same
 * part of each loop as long as the threads keep pace (a layer's top rows
 * in every step, say, where the kernels order their iterations by
 * position), and finds the data it wrote in its own caches: on CPUs that
 * do not share a last-level cache (chiplets, sockets), reading what the
 * other thread wrote costs about twice as much.  A late or slow worker's
 * run is taken by the others.
 *
 * One job runs at a time: a call made while a job is running (from inside
 * fn, or from a second application thread) runs serially on its own thread
 * instead of waiting, which keeps nested parallel loops from deadlocking.
 *
 * libc and pthreads only; no compiler header.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "lathe_rt.h"

/* Chunks per thread: enough to even out uneven chunks, few enough that the
 * shared counter is not contended.  SPIN_ROUNDS: polls of a counter before
 * a thread sleeps (each poll waits for one pause instruction: tens to
 * about 150 cycles, by CPU). */
enum { CHUNKS_PER_THREAD = 4, MAX_THREADS = 1024, SPIN_ROUNDS = 1 << 16 };
#define ST_CLOSED (1ull << 31)
#define ST_COUNT (ST_CLOSED - 1)
#define ST_GEN(g) ((uint64_t)(g) << 32)

/* A participant's share of the current job: iterations [next, end), taken
 * by chunk from the front; its own cache line, as its owner takes from it
 * while the others only look once they have run out. */
typedef struct pool_part {
	_Alignas(64) atomic_llong next;
	int64_t end, chunk;
} pool_part;

/* What a worker thread is started with: its pool and its share's index. */
typedef struct pool_worker {
	struct lathe_rt_pool *pool;
	int part;
} pool_worker;

struct lathe_rt_pool {
	lathe_rt_parallel_for_fn parallel_for; /* first: see lathe_rt.h */
	int size;                              /* second: nworkers + 1 */
	int nworkers;                          /* threads besides the caller */
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* workers: a new job or stop */
	pthread_cond_t done; /* caller: the last worker finished */
	atomic_ullong gen;   /* generation of the current job */
	atomic_ullong state; /* the job's gen (low 32 bits) << 32 | closed | workers in it */
	atomic_int sleepers; /* workers asleep (or about to be) on wake */
	atomic_bool caller_sleeps;
	atomic_bool busy, stop;
	/* The current job: written before gen changes, read by workers after
	 * they see the new gen. */
	lathe_rt_task_fn fn;
	void *ctx;
	pool_part *parts; /* nworkers + 1 of them: the caller's, then each worker's */
	pool_worker *ids;
};

/* One poll's wait: tells the core this is a spin loop (it yields the
 * pipeline to the sibling hyper-thread and saves power). */
static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Runs chunks of participant me's share, then of the others' in turn
 * (those of a worker that is late or slower). */
static void run_chunks(lathe_rt_pool *p, lathe_rt_task_fn fn, void *ctx, int me)
{
	int np = p->nworkers + 1;
	for (int k = 0; k < np; k++) {
		pool_part *q = &p->parts[(me + k) % np];
		for (;;) {
			int64_t b = (int64_t)atomic_fetch_add_explicit(&q->next, (long long)q->chunk,
									memory_order_relaxed);
			if (b >= q->end)
				break;
			int64_t e = q->end - b < q->chunk ? q->end : b + q->chunk;
			fn(ctx, b, e);
		}
	}
}

/* Waits until gen moves past seen or the pool stops; returns the new gen. */
static uint64_t await_job(lathe_rt_pool *p, uint64_t seen)
{
	for (int i = 0; i < SPIN_ROUNDS; i++) {
		uint64_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
		if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed))
			return g;
		spin_pause();
	}
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->sleepers, 1);
	uint64_t g;
	while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
		pthread_cond_wait(&p->wake, &p->mu);
	atomic_fetch_sub(&p->sleepers, 1);
	pthread_mutex_unlock(&p->mu);
	return g;
}

/* Joins job g (counts the worker in) unless it is closed or a newer one
 * replaced it. */
static bool join_job(lathe_rt_pool *p, uint64_t g)
{
	unsigned long long s = atomic_load(&p->state);
	while ((s >> 32) == (g & 0xffffffffu) && !(s & ST_CLOSED))
		if (atomic_compare_exchange_weak(&p->state, &s, s + 1))
			return true;
	return false;
}

static void *worker(void *arg)
{
	lathe_rt_pool *p = ((pool_worker *)arg)->pool;
	int me = ((pool_worker *)arg)->part;
	uint64_t seen = 0;
	for (;;) {
		seen = await_job(p, seen);
		if (atomic_load(&p->stop))
			return NULL;
		if (!join_job(p, seen))
			continue;
		run_chunks(p, p->fn, p->ctx, me);
		uint64_t s = atomic_fetch_sub(&p->state, 1) - 1;
		if ((s & ST_CLOSED) && !(s & ST_COUNT) && atomic_load(&p->caller_sleeps)) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

/* The caller's wait for the workers that joined the current job, once it
 * is closed. */
static void await_workers(lathe_rt_pool *p)
{
	for (int i = 0; i < SPIN_ROUNDS; i++) {
		if (!(atomic_load_explicit(&p->state, memory_order_acquire) & ST_COUNT))
			return;
		spin_pause();
	}
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->caller_sleeps, true);
	while (atomic_load(&p->state) & ST_COUNT)
		pthread_cond_wait(&p->done, &p->mu);
	atomic_store(&p->caller_sleeps, false);
	pthread_mutex_unlock(&p->mu);
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
	atomic_init(&p->gen, 0);
	atomic_init(&p->state, ST_CLOSED);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->caller_sleeps, false);
	atomic_init(&p->busy, false);
	atomic_init(&p->stop, false);
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
	p->parts = aligned_alloc(_Alignof(pool_part), sizeof(pool_part) * (size_t)nthreads);
	if (!p->parts) {
		lathe_rt_pool_destroy(p);
		return NULL;
	}
	for (int i = 0; i < nthreads; i++) {
		atomic_init(&p->parts[i].next, 0);
		p->parts[i].end = p->parts[i].chunk = 0;
	}
	if (nthreads > 1) {
		p->threads = calloc((size_t)(nthreads - 1), sizeof *p->threads);
		p->ids = calloc((size_t)(nthreads - 1), sizeof *p->ids);
		if (!p->threads || !p->ids) {
			lathe_rt_pool_destroy(p);
			return NULL;
		}
	}
	/* A thread that cannot be started leaves a smaller pool, not an error. */
	for (int i = 0; i < nthreads - 1; i++) {
		p->ids[i] = (pool_worker){p, i + 1};
		if (pthread_create(&p->threads[i], NULL, worker, &p->ids[i]))
			break;
		p->nworkers++;
	}
	p->size = p->nworkers + 1;
	return p;
}

void lathe_rt_pool_destroy(lathe_rt_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, true);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p->ids);
	free(p->parts);
	free(p);
}

int lathe_rt_pool_size(const lathe_rt_pool *p)
{
	return p ? p->size : 1;
}

void lathe_rt_parallel_for(lathe_rt_pool *p, int64_t n, lathe_rt_task_fn fn, void *ctx)
{
	if (n <= 0)
		return;
	if (!p || p->nworkers == 0 || n == 1 || atomic_exchange(&p->busy, true)) {
		fn(ctx, 0, n);
		return;
	}
	/* Participant r's share: the r-th of np contiguous runs of the
	 * iterations, so that the same thread takes the same part of every
	 * loop (of a layer's rows, say) and finds in its own caches what it
	 * wrote in the loop before, which matters where the CPUs do not share
	 * their last-level cache. */
	int np = p->nworkers + 1;
	int64_t base = n / np, extra = n % np, b = 0;
	for (int r = 0; r < np; r++) {
		pool_part *q = &p->parts[r];
		int64_t len = base + (r < extra);
		atomic_store_explicit(&q->next, b, memory_order_relaxed);
		q->end = b + len;
		q->chunk = len / CHUNKS_PER_THREAD + (len % CHUNKS_PER_THREAD != 0);
		if (q->chunk < 1)
			q->chunk = 1;
		b += len;
	}
	p->fn = fn;
	p->ctx = ctx;
	uint64_t g = atomic_load(&p->gen) + 1;
	atomic_store(&p->state, ST_GEN(g & 0xffffffffu)); /* open, nobody in it */
	atomic_store(&p->gen, g);
	if (atomic_load(&p->sleepers) > 0) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->mu);
	}
	run_chunks(p, fn, ctx, 0);
	atomic_fetch_or(&p->state, ST_CLOSED);
	await_workers(p);
	atomic_store(&p->busy, false);
}
