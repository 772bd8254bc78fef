/* pipeline.c: the graph-pass pipeline, in one function.
 *
 * lathe_passes_run below is the whole optimizer's flow on one screen: each
 * step names a pass (its file says what it requires and invalidates).
 * Between passes, in check mode, the verifier runs (and, once groups
 * exist, the fusion-group check), and a failure names the pass after which
 * the graph went wrong.  `stop_after` ends the pipeline after the named
 * pass: `lathe show --after PASS` prints the graph there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

typedef struct run_state {
	lathe_graph *g;
	const lathe_pass_opts *o;
	bool check, stopped;
	int64_t fold_limit;
} run_state;

static const char *const pass_names[] = {"infer", "const_fold", "simplify", "cse",
					 "dce",   "fuse",       NULL};

const char *const *lathe_passes_names(void)
{
	return pass_names;
}

bool lathe_passes_known(const char *name)
{
	for (int i = 0; name && pass_names[i]; i++)
		if (!strcmp(pass_names[i], name))
			return true;
	return false;
}

static bool skipped(const char *skip, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = skip; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		p = end ? end + 1 : p + len;
	}
	return false;
}

static lathe_err unknown_pass(const char *what, const char *name)
{
	lathe_buf b = {0};
	for (int i = 0; pass_names[i]; i++)
		lathe_buf_printf(&b, "%s%s", i ? ", " : "", pass_names[i]);
	lathe_err e = lathe_error(LATHE_EINVAL, "%s: unknown pass '%s' (passes: %s)", what, name,
				  b.data);
	lathe_buf_free(&b);
	return e;
}

/* Runs one pass unless stopped or skipped; verifies after it in check mode. */
static lathe_err step(run_state *s, const char *name, lathe_err (*pass)(run_state *))
{
	if (s->stopped || skipped(s->o->skip, name))
		return NULL;
	LATHE_TRYF(pass(s), "pass %s", name);
	if (s->check) {
		LATHE_TRYF(lathe_graph_verify(s->g), "internal error: after pass %s", name);
		LATHE_TRYF(lathe_passes_check_groups(s->g), "internal error: after pass %s", name);
	}
	if (s->o->stop_after && !strcmp(s->o->stop_after, name))
		s->stopped = true;
	return NULL;
}

static lathe_err p_infer(run_state *s) { return lathe_graph_infer(s->g); }
static lathe_err p_fold(run_state *s) { return lathe_pass_const_fold(s->g, s->fold_limit); }
static lathe_err p_simplify(run_state *s) { return lathe_pass_simplify(s->g); }
static lathe_err p_cse(run_state *s) { return lathe_pass_cse(s->g); }
static lathe_err p_dce(run_state *s) { return lathe_pass_dce(s->g); }
static lathe_err p_fuse(run_state *s) { return lathe_pass_fuse(s->g); }

lathe_err lathe_passes_run(lathe_graph *g, const lathe_pass_opts *o)
{
	static const lathe_pass_opts defaults = {0};
	if (!o)
		o = &defaults;
	if (o->stop_after && !lathe_passes_known(o->stop_after))
		return unknown_pass("--after", o->stop_after);
	for (const char *p = o->skip; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), p);
		if (len && !lathe_passes_known(name))
			return unknown_pass("skip", name);
		p = end ? end + 1 : p + len;
	}
	const char *env = getenv("LATHE_CHECK");
	run_state s = {.g = g, .o = o, .fold_limit = o->fold_limit};
	s.check = o->check || (env && !strcmp(env, "1"));
#ifdef LATHE_CHECK
	s.check = true;
#endif
	/* Groups are recomputed by fuse; stale marks would mislead the others. */
	for (size_t k = 0; k < g->nodes.len; k++)
		g->nodes.data[k].group = 0;

	LATHE_TRY(step(&s, "infer", p_infer));
	LATHE_TRY(step(&s, "const_fold", p_fold));
	LATHE_TRY(step(&s, "simplify", p_simplify));
	LATHE_TRY(step(&s, "cse", p_cse));
	LATHE_TRY(step(&s, "dce", p_dce));
	LATHE_TRY(step(&s, "fuse", p_fuse));
	return NULL;
}
