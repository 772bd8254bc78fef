/* region.c: the part of a buffer a piece of code touches, for compute_at,
 * cache_read and cache_write.
 *
 * Each index of each access is split into an outer part (variables fixed
 * while the scope runs: the scope's own loop and those around it) and a
 * varying part (variables bound inside the scope).  All accesses must share
 * the outer part of each dimension; the varying parts' ranges (constant
 * loop bounds) give the box: start = outer + lo, extent = hi - lo + 1.  A
 * local of the box's shape then holds everything the scope touches, and an
 * access idx maps to idx - start, always inside the local, even where the
 * original index leaves the buffer (padding reads under a select).
 */
#include <string.h>

#include "sched/sched_impl.h"

lathe_tir_expr *sched_aff_build(lathe_tir_func *f, const sched_aff *a, const uint8_t *marks,
				bool want, bool with_c)
{
	lathe_tir_expr *e = NULL;
	for (int i = 0; i < a->n; i++) {
		if (marks && sched_term_uses(&a->t[i], marks) != want)
			continue;
		lathe_tir_expr *t = a->t[i].var ? sched_var(f, a->t[i].var)
						: (lathe_tir_expr *)a->t[i].atom;
		t = sched_mulk(f, t, a->t[i].k);
		e = e ? lathe_tir_binary(f, LATHE_TIR_ADD, e, t) : t;
	}
	int64_t c = with_c ? a->c : 0;
	if (!e)
		return sched_i64(f, c);
	return sched_addk(f, e, c);
}

/* e can be evaluated anywhere without failing: no loads, no division by
 * anything but a non-zero constant.  Region positions are computed before
 * the guards of the code they serve. */
static bool safe_anywhere(const lathe_tir_expr *e)
{
	if (!e)
		return true;
	if (e->kind == LATHE_TIR_E_LOAD)
		return false;
	if (e->kind == LATHE_TIR_E_BINARY &&
	    (e->op == LATHE_TIR_DIV || e->op == LATHE_TIR_MOD || e->op == LATHE_TIR_FLOORDIV ||
	     e->op == LATHE_TIR_FLOORMOD)) {
		int64_t k;
		if (!sched_const(e->b, &k) || k == 0)
			return false;
	}
	return safe_anywhere(e->a) && safe_anywhere(e->b) && safe_anywhere(e->c);
}

lathe_err sched_region_of(const sched_info *I, const char *prim, const lathe_tir_buf *b,
			  const sched_accesses *acc, const uint8_t *marks, lathe_tir_stmt *scope,
			  sched_region *out)
{
	lathe_tir_func *f = I->f;
	int r = b->rank;
	out->rank = r;
	out->start = lathe_arena_new(f->arena, lathe_tir_expr *, r + 1);
	out->lo = lathe_arena_new(f->arena, int64_t, r + 1);
	out->extent = lathe_arena_new(f->arena, int64_t, r + 1);
	out->outer = lathe_arena_new(f->arena, sched_aff, r + 1);
	out->may_oob = lathe_arena_new(f->arena, bool, r + 1);
	if (!acc->len)
		return lathe_error(LATHE_EINVAL, "%s: %%%s is not accessed there", prim, b->name);
	for (int d = 0; d < r; d++) {
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		for (size_t i = 0; i < acc->len; i++) {
			sched_aff a, o = {0};
			if (!sched_aff_of(I, acc->data[i].idx[d], &a))
				return lathe_error(LATHE_EINVAL, "%s: cannot analyze an index of %%%s", prim,
						   b->name);
			for (int t = 0; t < a.n; t++) {
				if (!sched_term_uses(&a.t[t], marks)) {
					if (a.t[t].atom && !safe_anywhere(a.t[t].atom))
						return lathe_error(LATHE_EINVAL,
								   "%s: where %%%s is accessed depends on data (index %d)",
								   prim, b->name, d);
					o.t[o.n++] = a.t[t];
				}
				else if (!a.t[t].var)
					return lathe_error(LATHE_EINVAL,
							   "%s: index %d of %%%s is not affine in the loops it varies with",
							   prim, d, b->name);
			}
			int64_t l, h;
			const lathe_tir_expr *g[32];
			int ng = sched_guards(scope, acc->data[i].stmt, g, 32);
			if (!sched_aff_range_g(I, &a, marks, true, true, g, ng, &l, &h))
				return lathe_error(LATHE_EINVAL,
						   "%s: the range of index %d of %%%s is unknown (loop bounds must be constants)",
						   prim, d, b->name);
			if (i == 0)
				out->outer[d] = o;
			else if (!sched_aff_eq(&o, &out->outer[d]))
				return lathe_error(LATHE_EINVAL,
						   "%s: the accesses of %%%s do not share their position in dimension %d",
						   prim, b->name, d);
			lo = l < lo ? l : lo;
			hi = h > hi ? h : hi;
		}
		int64_t ext;
		if (__builtin_sub_overflow(hi, lo, &ext) || ext >= INT64_MAX / 2)
			return lathe_error(LATHE_EINVAL, "%s: the region of %%%s is too large", prim,
					   b->name);
		out->lo[d] = lo;
		out->extent[d] = ext + 1;
		out->start[d] = sched_aff_build(f, &out->outer[d], NULL, true, false);
		out->start[d] = sched_addk(f, out->start[d], lo);
		/* Does the box stay inside the buffer for every outer value? */
		sched_aff s = out->outer[d];
		int64_t sl, sh, last;
		s.c = lo;
		out->may_oob[d] = true;
		if (sched_aff_range(I, &s, NULL, true, true, &sl, &sh) &&
		    !__builtin_add_overflow(sh, ext, &last))
			out->may_oob[d] = sl < 0 || last >= b->shape[d];
	}
	return NULL;
}

lathe_tir_expr *sched_region_index(const sched_info *I, const sched_region *r, int d,
				   const lathe_tir_expr *idx_d, const uint8_t *marks)
{
	sched_aff a;
	bool ok = sched_aff_of(I, idx_d, &a);
	LATHE_ASSERT(ok); /* sched_region_of analyzed the same index */
	a.c -= r->lo[d];
	return sched_aff_build(I->f, &a, marks, true, true);
}

/* Conjuncts of an and-tree of bools. */
static int conjuncts(const lathe_tir_expr *c, const lathe_tir_expr **out, int max, int n)
{
	if (n < 0)
		return n;
	if (c->kind == LATHE_TIR_E_BINARY && c->op == LATHE_TIR_AND && c->dtype == LATHE_DT_BOOL) {
		n = conjuncts(c->a, out, max, n);
		return n < 0 ? n : conjuncts(c->b, out, max, n);
	}
	if (n >= max)
		return -1;
	out[n] = c;
	return n + 1;
}

bool sched_is_inbounds(const sched_info *I, const lathe_tir_expr *cond, const lathe_tir_buf *b,
		       lathe_tir_expr *const *idx)
{
	const lathe_tir_expr *cj[64];
	int n = conjuncts(cond, cj, 64, 0);
	if (n < 0 || b->rank > 32)
		return false;
	bool has_lo[32] = {0}, has_hi[32] = {0};
	for (int i = 0; i < n; i++) {
		const lathe_tir_expr *c = cj[i];
		int64_t k;
		if (c->kind != LATHE_TIR_E_BINARY || (c->op != LATHE_TIR_GE && c->op != LATHE_TIR_LT) ||
		    !sched_const(c->b, &k))
			return false;
		int d = 0;
		while (d < b->rank && !sched_expr_eq(c->a, idx[d]))
			d++;
		if (d == b->rank)
			return false;
		if (c->op == LATHE_TIR_GE && k == 0)
			has_lo[d] = true;
		else if (c->op == LATHE_TIR_LT && k == b->shape[d])
			has_hi[d] = true;
		else
			return false;
	}
	for (int d = 0; d < b->rank; d++) {
		if (has_lo[d] && has_hi[d])
			continue;
		int64_t lo, hi;
		if (!sched_expr_range(I, idx[d], &lo, &hi))
			return false;
		if ((!has_lo[d] && lo < 0) || (!has_hi[d] && hi >= b->shape[d]))
			return false;
	}
	return true;
}

lathe_tir_expr *sched_inbounds_cond(lathe_tir_func *f, const lathe_tir_buf *b,
				    lathe_tir_expr *const *p, const bool *may_oob)
{
	lathe_tir_expr *c = NULL;
	for (int d = 0; d < b->rank; d++) {
		if (!may_oob[d])
			continue;
		c = sched_and(f, c, lathe_tir_binary(f, LATHE_TIR_GE, p[d], sched_i64(f, 0)));
		c = sched_and(f, c, lathe_tir_binary(f, LATHE_TIR_LT, p[d], sched_i64(f, b->shape[d])));
	}
	return c;
}
