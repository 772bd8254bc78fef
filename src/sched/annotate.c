/* annotate.c: vectorize, unroll, parallel (and serial): loop kinds.
 *
 * An annotation promises the backends something about a loop; this file
 * checks the promise:
 *   - unrolled: a constant extent (at most 512, to keep code size sane);
 *   - vectorized: a constant extent, no loop inside, iterations independent;
 *   - parallel: iterations independent, no parallel or vectorized loop
 *     around it and no parallel loop inside (threads do not nest).
 * "Independent" is dep.c's test: no two iterations touch one element of a
 * written buffer.  Private locals (temporaries and accumulators that each
 * iteration overwrites before reading) are not a dependence, but threads
 * and vector lanes must not share them, so each iteration gets its own
 * copy: the local gains a leading dimension of the loop's extent.  That is
 * why default schedules parallelize a loop over a few chunks, not over
 * every row.
 */
#include "sched/sched_impl.h"

enum { MAX_UNROLL = 512 };
/* Bytes a private local may grow to when expanded per iteration. */
static const int64_t MAX_EXPANDED = (int64_t)64 << 20;

static const char *kind_name(int kind)
{
	switch (kind) {
	case LATHE_TIR_PARALLEL: return "parallel";
	case LATHE_TIR_VECTORIZED: return "vectorize";
	case LATHE_TIR_UNROLLED: return "unroll";
	default: return "serial";
	}
}

static bool has_kind_inside(lathe_tir_stmt *s, int kind)
{
	if (!s)
		return false;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		return s->for_kind == kind || has_kind_inside(s->body, kind);
	case LATHE_TIR_S_LET:
		return has_kind_inside(s->body, kind);
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++)
			if (has_kind_inside(s->stmts[i], kind))
				return true;
		return false;
	case LATHE_TIR_S_IF:
		return has_kind_inside(s->body, kind) || has_kind_inside(s->orelse, kind);
	default:
		return false;
	}
}

static lathe_err check_expand(lathe_tir_stmt *s, const char *prim, const sched_bufs *priv)
{
	int64_t ext;
	if (!priv->len)
		return NULL;
	if (!sched_loop_const(s, NULL, &ext))
		return lathe_error(LATHE_EINVAL,
				   "%s: %%%s needs a constant extent to give each iteration its own %%%s",
				   prim, s->var->name, priv->data[0]->name);
	for (size_t i = 0; i < priv->len; i++) {
		int64_t bytes = sched_numel(priv->data[i]);
		size_t es = lathe_dtype_size(priv->data[i]->dtype);
		if (__builtin_mul_overflow(bytes, (int64_t)(es ? es : 1), &bytes) ||
		    __builtin_mul_overflow(bytes, ext > 0 ? ext : 0, &bytes) || bytes > MAX_EXPANDED)
			return lathe_error(LATHE_EINVAL,
					   "%s: giving each of the %lld iterations of %%%s its own %%%s takes too much memory; split %%%s first",
					   prim, (long long)ext, s->var->name, priv->data[i]->name,
					   s->var->name);
	}
	return NULL;
}

static lathe_err annotate(lathe_tir_func *f, lathe_tir_var *v, int kind)
{
	const char *prim = kind_name(kind);
	lathe_tir_stmt *s;
	sched_path path;
	LATHE_TRY(sched_find_loop(f, prim, v, &s, &path));
	lathe_err err = NULL;
	int64_t ext;
	sched_bufs priv = {0};
	lathe_tir_var *around = NULL;
	bool cext = sched_const(s->extent, &ext);
	switch (kind) {
	case LATHE_TIR_UNROLLED:
		if (!cext)
			err = lathe_error(LATHE_EINVAL, "unroll: the extent of %%%s is not a constant",
					  v->name);
		else if (ext > MAX_UNROLL)
			err = lathe_error(LATHE_EINVAL,
					  "unroll: %%%s has %lld iterations, more than %d: split it first",
					  v->name, (long long)ext, MAX_UNROLL);
		break;
	case LATHE_TIR_VECTORIZED:
		if (!cext)
			err = lathe_error(LATHE_EINVAL, "vectorize: the extent of %%%s is not a constant",
					  v->name);
		else if (sched_stmt_has_loop(s->body))
			err = lathe_error(LATHE_EINVAL,
					  "vectorize: %%%s has a loop inside it (only innermost loops vectorize)",
					  v->name);
		break;
	case LATHE_TIR_PARALLEL:
		if (sched_path_has_kind(&path, LATHE_TIR_PARALLEL, &around))
			err = lathe_error(LATHE_EINVAL,
					  "parallel: %%%s is inside parallel loop %%%s (threads do not nest)",
					  v->name, around->name);
		else if (sched_path_has_kind(&path, LATHE_TIR_VECTORIZED, &around))
			err = lathe_error(LATHE_EINVAL, "parallel: %%%s is inside vectorized loop %%%s",
					  v->name, around->name);
		else if (has_kind_inside(s->body, LATHE_TIR_PARALLEL))
			err = lathe_error(LATHE_EINVAL,
					  "parallel: %%%s has a parallel loop inside it (threads do not nest)",
					  v->name);
		break;
	default:
		break;
	}
	if (!err && (kind == LATHE_TIR_VECTORIZED || kind == LATHE_TIR_PARALLEL)) {
		sched_info I;
		sched_info_init(&I, f);
		err = sched_check_independent(&I, prim, s, &priv);
		sched_info_deinit(&I);
		if (!err)
			err = check_expand(s, prim, &priv);
	}
	if (!err) {
		lathe_tir_stmt *n = sched_expand_private(f, s, priv.data, priv.len);
		sched_replace(f, &path, lathe_tir_for(f, n->var, n->lo, n->extent, kind, n->body));
	}
	lathe_vec_free(&priv);
	sched_path_free(&path);
	return err;
}

lathe_err lathe_sched_vectorize(lathe_tir_func *f, lathe_tir_var *loop)
{
	return annotate(f, loop, LATHE_TIR_VECTORIZED);
}

lathe_err lathe_sched_unroll(lathe_tir_func *f, lathe_tir_var *loop)
{
	return annotate(f, loop, LATHE_TIR_UNROLLED);
}

lathe_err lathe_sched_parallel(lathe_tir_func *f, lathe_tir_var *loop)
{
	return annotate(f, loop, LATHE_TIR_PARALLEL);
}

lathe_err lathe_sched_serial(lathe_tir_func *f, lathe_tir_var *loop)
{
	return annotate(f, loop, LATHE_TIR_SERIAL);
}
