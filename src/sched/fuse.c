/* fuse.c: fuse(outer, inner), the inverse of split.
 *
 *   for o in lo_o..+Eo { for i in lo_i..+Ei { body } }
 *     ->  for o_i in 0..Eo*Ei { body[o := lo_o + floordiv(o_i, Ei), i := lo_i + floormod(o_i, Ei)] }
 *
 * Iterations keep their order, so fusing is always legal when the inner
 * loop is the outer loop's whole body and both extents are constants.  The
 * fused loop is serial: annotate it again if needed.  Dependence analysis
 * (dep.c) sees the floordiv/floormod pair of a fused index as the fused
 * variable again.
 */
#include <stdio.h>

#include "sched/sched_impl.h"

lathe_err lathe_sched_fuse(lathe_tir_func *f, lathe_tir_var *outer, lathe_tir_var *inner,
			   lathe_tir_var **out_fused)
{
	lathe_tir_stmt *so;
	sched_path path;
	LATHE_TRY(sched_find_loop(f, "fuse", outer, &so, &path));
	lathe_tir_stmt *si = sched_unwrap(so->body);
	lathe_err err = NULL;
	int64_t lo_o = 0, eo = 0, lo_i = 0, ei = 0, e = 0;
	if (!inner || si->kind != LATHE_TIR_S_FOR || si->var != inner)
		err = lathe_error(LATHE_EINVAL, "fuse: %%%s is not the whole body of loop %%%s",
				  inner ? inner->name : "?", outer->name);
	else if (!sched_loop_const(so, &lo_o, &eo) || !sched_loop_const(si, &lo_i, &ei))
		err = lathe_error(LATHE_EINVAL, "fuse: the bounds of %%%s and %%%s must be constants",
				  outer->name, inner->name);
	else if (__builtin_mul_overflow(eo > 0 ? eo : 0, ei > 0 ? ei : 0, &e))
		err = lathe_error(LATHE_EINVAL, "fuse: %%%s and %%%s have too many iterations",
				  outer->name, inner->name);
	if (err) {
		sched_path_free(&path);
		return err;
	}
	char name[128];
	snprintf(name, sizeof name, "%.60s_%.60s", outer->name, inner->name);
	lathe_tir_var *v = sched_new_var(f, name, "");
	lathe_tir_expr *rv = sched_var(f, v);
	int64_t d = ei > 0 ? ei : 1;
	sched_rw rw;
	sched_rw_init(&rw, f);
	lathe_tir_expr *qo = d == 1 ? rv : lathe_tir_binary(f, LATHE_TIR_FLOORDIV, rv, sched_i64(f, d));
	lathe_tir_expr *qi = d == 1 ? sched_i64(f, 0)
				    : lathe_tir_binary(f, LATHE_TIR_FLOORMOD, rv, sched_i64(f, d));
	sched_rw_set(&rw, outer, sched_addk(f, qo, lo_o));
	sched_rw_set(&rw, inner, sched_addk(f, qi, lo_i));
	lathe_tir_stmt *body = sched_rw_stmt(&rw, si->body);
	sched_rw_deinit(&rw);
	sched_replace(f, &path,
		      lathe_tir_for(f, v, sched_i64(f, 0), sched_i64(f, e), LATHE_TIR_SERIAL, body));
	sched_path_free(&path);
	if (out_fused)
		*out_fused = v;
	return NULL;
}
