/* target.c: what default schedules are tuned for: the SIMD width and the
 * number of threads.
 *
 * The host is read from cpuid through __builtin_cpu_supports (gcc and
 * clang): AVX-512F gives 64-byte vectors, AVX2 32, anything else
 * (SSE2 on x86-64, NEON on arm64) 16.  The thread count is the number of
 * online CPUs; the caller of a compiled model may still choose fewer at
 * run time.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sched/sched_impl.h"

static int host_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

void lathe_target_host(lathe_target *out)
{
	out->vector_bytes = 16;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		out->vector_bytes = 64;
	else if (__builtin_cpu_supports("avx2"))
		out->vector_bytes = 32;
#endif
	out->threads = host_threads();
	out->min_parallel = 0;
	out->ukernels = true;
	out->no_winograd = false;
}

lathe_err lathe_target_parse(const char *spec, lathe_target *out)
{
	if (!spec)
		spec = "host";
	lathe_target t;
	lathe_target_host(&t);
	const char *comma = strchr(spec, ',');
	size_t n = comma ? (size_t)(comma - spec) : strlen(spec);
	static const struct {
		const char *name;
		int bytes;
	} names[] = {{"generic", 16}, {"sse", 16}, {"neon", 16}, {"avx2", 32}, {"avx512", 64}};
	bool known = n == 4 && !strncmp(spec, "host", 4);
	for (size_t i = 0; i < sizeof names / sizeof names[0] && !known; i++)
		if (strlen(names[i].name) == n && !strncmp(spec, names[i].name, n)) {
			t.vector_bytes = names[i].bytes;
			known = true;
		}
	if (!known)
		return lathe_error(LATHE_EINVAL,
				   "unknown target '%.*s' (host, generic, sse, neon, avx2 or avx512)",
				   (int)n, spec);
	while (comma) {
		const char *opt = comma + 1;
		comma = strchr(opt, ',');
		size_t m = comma ? (size_t)(comma - opt) : strlen(opt);
		char buf[64];
		snprintf(buf, sizeof buf, "%.*s", (int)(m < 63 ? m : 63), opt);
		int v;
		char extra;
		if (sscanf(buf, "threads=%d%c", &v, &extra) == 1 && v >= 1 && v <= 1024)
			t.threads = v;
		else if (sscanf(buf, "ukernels=%d%c", &v, &extra) == 1 && (v == 0 || v == 1))
			t.ukernels = v;
		else if (sscanf(buf, "winograd=%d%c", &v, &extra) == 1 && (v == 0 || v == 1))
			t.no_winograd = !v;
		else
			return lathe_error(LATHE_EINVAL,
					   "bad target option '%s' (expected threads=N, N from 1 to 1024, "
					   "ukernels=0|1 or winograd=0|1)",
					   buf);
	}
	*out = t;
	return NULL;
}
