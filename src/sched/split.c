/* split.c: split(loop, factor), the primitive every tiling starts from.
 *
 *   for v in lo..+E  ->  for v_o in 0..ceil(E/f) { for v_i in 0..f {
 *                           [if v_o*f + v_i < E] body[v := lo + v_o*f + v_i] } }
 *
 * The iterations run in the same order, so a split is always legal; when f
 * does not divide E the guard skips the overhang.  A factor of E or more
 * leaves an outer loop of extent 1 (the simplifier removes it) and, past
 * E, a guard (a vector of 16 over a width of 14).  The loop's
 * kind goes where it still makes sense: parallel on the outer loop,
 * vectorized or unrolled on the inner one.
 */
#include "sched/sched_impl.h"

lathe_err lathe_sched_split(lathe_tir_func *f, lathe_tir_var *loop, int64_t factor,
			    lathe_tir_var **out_outer, lathe_tir_var **out_inner)
{
	lathe_tir_stmt *s;
	sched_path path;
	LATHE_TRY(sched_find_loop(f, "split", loop, &s, &path));
	int64_t ext;
	lathe_err err = NULL;
	if (factor < 1)
		err = lathe_error(LATHE_EINVAL, "split: the factor must be at least 1, not %lld",
				  (long long)factor);
	else if (!sched_const(s->extent, &ext))
		err = lathe_error(LATHE_EINVAL, "split: the extent of %%%s is not a constant",
				  loop->name);
	if (err) {
		sched_path_free(&path);
		return err;
	}
	if (ext < 0)
		ext = 0;
	int64_t fac = factor;
	int64_t nout = ext / fac + (ext % fac != 0);
	lathe_tir_var *vo = sched_new_var(f, loop->name, "_o");
	lathe_tir_var *vi = sched_new_var(f, loop->name, "_i");
	lathe_tir_expr *pos = sched_add(f, sched_mulk(f, sched_var(f, vo), fac), sched_var(f, vi));
	lathe_tir_stmt *body = sched_subst1(f, s->body, loop, sched_add(f, s->lo, pos));
	if (ext % fac != 0)
		body = lathe_tir_if(f, lathe_tir_binary(f, LATHE_TIR_LT, pos, sched_i64(f, ext)), body,
				    NULL);
	int kind_o = s->for_kind == LATHE_TIR_PARALLEL ? LATHE_TIR_PARALLEL : LATHE_TIR_SERIAL;
	int kind_i = s->for_kind == LATHE_TIR_VECTORIZED || s->for_kind == LATHE_TIR_UNROLLED
			     ? s->for_kind
			     : LATHE_TIR_SERIAL;
	lathe_tir_stmt *inner = lathe_tir_for(f, vi, sched_i64(f, 0), sched_i64(f, fac), kind_i, body);
	lathe_tir_stmt *outer = lathe_tir_for(f, vo, sched_i64(f, 0), sched_i64(f, nout), kind_o, inner);
	sched_replace(f, &path, outer);
	sched_path_free(&path);
	if (out_outer)
		*out_outer = vo;
	if (out_inner)
		*out_inner = vi;
	return NULL;
}
