/* cache.c: cache_read and cache_write, which give a buffer's values a new
 * local at a loop level.
 *
 * cache_read copies the region of a read-only buffer one iteration of a
 * loop reads (or, at the root, everything the function reads) into a local
 * and redirects the loads.  Its main use is padding: a conv reads
 * select(in-bounds, x[...], 0); the copy is a padded tile holding 0 outside
 * x, and the inner loop then reads it with no select, which vectorizes.
 *
 * cache_write has two cases (sched.h).  For an accumulator (a local each
 * iteration of the band under the loop overwrites before reading), it
 * becomes a tile with one element per band iteration and the band is
 * distributed over the statements using it: what turns
 *     for i, j { acc = 0; for k { acc += ... }; C[i, j] = acc }
 * into
 *     for i, j { acc[i, j] = 0 }  for i, j { for k { acc[i, j] += ... } }
 *     for i, j { C[i, j] = acc[i, j] }
 * after which k can move outside i and j (register blocking).  Distribution
 * is legal when every other written buffer is touched at one band point per
 * element.  For any other buffer, the region the loop body touches lives in
 * a local while the body runs (copied in unless the body overwrites all of
 * it first) and is copied back after.
 *
 * Caches are made before parallelizing: a local made inside a parallel loop
 * would be shared by threads, so these refuse to work inside one.
 */
#include <stdio.h>
#include <string.h>

#include "sched/sched_impl.h"

typedef LATHE_VEC(lathe_tir_stmt *) stmt_vec;

static lathe_err not_in_parallel(const char *prim, lathe_tir_stmt *L, const sched_path *p)
{
	lathe_tir_var *around = NULL;
	if (L && (L->for_kind == LATHE_TIR_PARALLEL || L->for_kind == LATHE_TIR_VECTORIZED))
		around = L->var;
	if (!around && p && !sched_path_has_kind(p, LATHE_TIR_PARALLEL, &around))
		sched_path_has_kind(p, LATHE_TIR_VECTORIZED, &around);
	if (around)
		return lathe_error(LATHE_EINVAL,
				   "%s: %%%s is parallel or vectorized: make caches before annotating loops",
				   prim, around->name);
	return NULL;
}

/* A loop nest over the region's box: for t_d in 0..extent[d] { body(p) },
 * p[d] = start[d] + t_d. */
static void box_nest(lathe_tir_func *f, const sched_region *R, lathe_tir_expr ***out_t,
		     lathe_tir_expr ***out_p, lathe_tir_var ***out_v)
{
	int r = R->rank;
	lathe_tir_var **v = lathe_arena_new(f->arena, lathe_tir_var *, r + 1);
	lathe_tir_expr **t = lathe_arena_new(f->arena, lathe_tir_expr *, r + 1);
	lathe_tir_expr **p = lathe_arena_new(f->arena, lathe_tir_expr *, r + 1);
	for (int d = 0; d < r; d++) {
		char suf[16];
		snprintf(suf, sizeof suf, "%d", d);
		v[d] = sched_new_var(f, "c", suf);
		t[d] = sched_var(f, v[d]);
		p[d] = sched_add(f, R->start[d], t[d]);
	}
	*out_t = t;
	*out_p = p;
	*out_v = v;
}

static lathe_tir_stmt *wrap_box(lathe_tir_func *f, const sched_region *R, lathe_tir_var **v,
				lathe_tir_stmt *body)
{
	for (int d = R->rank - 1; d >= 0; d--)
		body = lathe_tir_for(f, v[d], sched_i64(f, 0), sched_i64(f, R->extent[d]),
				     LATHE_TIR_SERIAL, body);
	return body;
}

static lathe_err region_size_ok(const char *prim, const lathe_tir_buf *b, const sched_region *R)
{
	int64_t n = 1;
	for (int d = 0; d < R->rank; d++)
		if (__builtin_mul_overflow(n, R->extent[d], &n) || n > ((int64_t)1 << 28))
			return lathe_error(LATHE_EINVAL, "%s: the region of %%%s is too large", prim,
					   b->name);
	return NULL;
}

static bool is_zero(const lathe_tir_expr *z)
{
	return (z->kind == LATHE_TIR_E_INT && z->u.i == 0) ||
	       (z->kind == LATHE_TIR_E_FLOAT && z->u.f == 0);
}

/* ---- cache_read ---------------------------------------------------------------------- */

typedef struct read_ctx {
	const sched_info *I;
	lathe_tir_buf *b, *c;
	const sched_region *R;
	const uint8_t *marks;
	lathe_tir_expr *pad;  /* the value the copy holds outside b */
} read_ctx;

/* select(cond, X, z) with X = b[idx] or cast(b[idx]) and cond "idx in
 * bounds": the load under it, its z in b's type (NULL if none). */
static const lathe_tir_expr *pad_pattern(const read_ctx *c, const lathe_tir_expr *e,
					 const lathe_tir_expr **out_z, bool *out_cast)
{
	if (e->kind != LATHE_TIR_E_SELECT || (e->c->kind != LATHE_TIR_E_INT &&
					      e->c->kind != LATHE_TIR_E_FLOAT))
		return NULL;
	const lathe_tir_expr *x = e->b;
	bool cast = false;
	if (x->kind == LATHE_TIR_E_CAST) {
		cast = true;
		x = x->a;
	}
	if (x->kind != LATHE_TIR_E_LOAD || x->u.buf != c->b)
		return NULL;
	if (cast && !is_zero(e->c))
		return NULL;
	if (!sched_is_inbounds(c->I, e->a, c->b, x->idx))
		return NULL;
	*out_z = e->c;
	*out_cast = cast;
	return x;
}

static lathe_tir_expr *cache_load(read_ctx *c, lathe_tir_func *f, const lathe_tir_expr *ld)
{
	int r = c->b->rank;
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, r + 1);
	for (int d = 0; d < r; d++)
		idx[d] = sched_region_index(c->I, c->R, d, ld->idx[d], c->marks);
	return lathe_tir_load(f, c->c, idx);
}

static lathe_tir_expr *read_pre(sched_rw *rw, lathe_tir_expr *e)
{
	read_ctx *c = rw->ctx;
	const lathe_tir_expr *z;
	bool cast;
	const lathe_tir_expr *ld = pad_pattern(c, e, &z, &cast);
	if (!ld || !c->pad)
		return NULL;
	bool same = cast ? is_zero(c->pad) : sched_expr_eq(z, c->pad);
	if (!same)
		return NULL;
	lathe_tir_expr *v = cache_load(c, rw->f, ld);
	return cast ? lathe_tir_cast(rw->f, e->b->dtype, v) : v;
}

static lathe_tir_expr *read_load(sched_rw *rw, lathe_tir_expr *e)
{
	read_ctx *c = rw->ctx;
	return e->u.buf == c->b ? cache_load(c, rw->f, e) : e;
}

static void find_pad(read_ctx *c, lathe_tir_expr *e)
{
	if (!e || c->pad)
		return;
	const lathe_tir_expr *z;
	bool cast;
	if (pad_pattern(c, e, &z, &cast)) {
		c->pad = cast ? lathe_tir_int(c->I->f, c->b->dtype, 0) : (lathe_tir_expr *)z;
		return;
	}
	if (e->kind == LATHE_TIR_E_LOAD) {
		for (int i = 0; i < e->u.buf->rank; i++)
			find_pad(c, e->idx[i]);
		return;
	}
	find_pad(c, e->a);
	find_pad(c, e->b);
	find_pad(c, e->c);
}

static void find_pad_stmt(read_ctx *c, lathe_tir_stmt *s)
{
	sched_accesses all = {0};
	sched_collect(s, NULL, &all);
	/* Any statement's expressions: walk stores' values and conditions. */
	for (size_t i = 0; i < all.len && !c->pad; i++) {
		lathe_tir_stmt *st = all.data[i].stmt;
		if (st->kind == LATHE_TIR_S_STORE)
			find_pad(c, st->value);
		else if (st->kind == LATHE_TIR_S_LET)
			find_pad(c, st->value);
	}
	lathe_vec_free(&all);
}

bool sched_has_pad_read(lathe_tir_func *f, lathe_tir_stmt *s, lathe_tir_buf *b)
{
	sched_info I;
	sched_info_init(&I, f);
	read_ctx rc = {&I, b, NULL, NULL, NULL, NULL};
	find_pad_stmt(&rc, s);
	sched_info_deinit(&I);
	return rc.pad != NULL;
}

lathe_err lathe_sched_cache_read(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_var *loop,
				 lathe_tir_buf **out_cache)
{
	const char *prim = "cache_read";
	if (!b)
		return lathe_error(LATHE_EINVAL, "%s: no buffer given", prim);
	lathe_tir_stmt *L = NULL;
	sched_path lp = {0};
	if (loop)
		LATHE_TRY(sched_find_loop(f, prim, loop, &L, &lp));
	lathe_err err = not_in_parallel(prim, L, loop ? &lp : NULL);
	int first = -1;
	if (!err && !L) {
		if (sched_stmt_writes(f->body, b))
			err = lathe_error(LATHE_EINVAL, "%s: %%%s is written in the function", prim, b->name);
		for (int k = 0; k < f->body->n && first < 0; k++)
			if (sched_stmt_reads(f->body->stmts[k], b))
				first = k;
	} else if (!err && sched_stmt_writes(L->body, b)) {
		err = lathe_error(LATHE_EINVAL, "%s: %%%s is written inside loop %%%s", prim, b->name,
				  loop->name);
	}
	lathe_tir_stmt *scope = L ? L->body : f->body;
	sched_info I;
	sched_info_init(&I, f);
	uint8_t *marks = sched_bound_in(f, scope);
	sched_accesses loads = {0};
	sched_region R;
	sched_collect(scope, b, &loads);
	if (!err)
		err = sched_region_of(&I, prim, b, &loads, marks, scope, &R);
	if (!err)
		err = region_size_ok(prim, b, &R);
	if (!err) {
		lathe_tir_buf *c = sched_new_local(f, b->name, "_c", b->dtype, b->rank, R.extent);
		read_ctx rc = {&I, b, c, &R, marks, NULL};
		find_pad_stmt(&rc, scope);
		lathe_tir_expr **t, **p;
		lathe_tir_var **v;
		box_nest(f, &R, &t, &p, &v);
		lathe_tir_expr *val = lathe_tir_load(f, b, p);
		bool oob = false;
		for (int d = 0; d < b->rank; d++)
			oob |= R.may_oob[d];
		if (oob)
			val = lathe_tir_select(f, sched_inbounds_cond(f, b, p, R.may_oob), val,
					       rc.pad ? rc.pad : lathe_tir_int(f, b->dtype, 0));
		lathe_tir_stmt *copy = wrap_box(f, &R, v, lathe_tir_store(f, c, t, val));
		sched_rw rw;
		sched_rw_init(&rw, f);
		rw.pre = read_pre;
		rw.load = read_load;
		rw.ctx = &rc;
		if (L) {
			lathe_tir_stmt *two[2] = {copy, sched_rw_stmt(&rw, L->body)};
			sched_replace(f, &lp, lathe_tir_for(f, L->var, L->lo, L->extent, L->for_kind,
							    sched_seq(f, 2, two)));
		} else {
			stmt_vec out = {0};
			for (int k = 0; k < f->body->n; k++) {
				lathe_tir_stmt *s = f->body->stmts[k];
				if (k == first)
					lathe_vec_push(&out, copy);
				lathe_vec_push(&out, k >= first && sched_stmt_reads(s, b) ? sched_rw_stmt(&rw, s) : s);
			}
			f->body = sched_seq(f, (int)out.len, out.data);
			lathe_vec_free(&out);
		}
		sched_rw_deinit(&rw);
		if (out_cache)
			*out_cache = c;
	}
	free(marks);
	lathe_vec_free(&loads);
	sched_info_deinit(&I);
	sched_path_free(&lp);
	return err;
}

/* ---- cache_write: accumulators ------------------------------------------------------- */

typedef struct acc_ctx {
	lathe_tir_buf *old, *neu;
	lathe_tir_expr **prefix;
	int k;
} acc_ctx;

static lathe_tir_expr **acc_idx(lathe_tir_func *f, acc_ctx *c, lathe_tir_expr **idx)
{
	int r = c->old->rank;
	lathe_tir_expr **ni = lathe_arena_new(f->arena, lathe_tir_expr *, c->k + r + 1);
	for (int i = 0; i < c->k; i++)
		ni[i] = c->prefix[i];
	for (int i = 0; i < r; i++)
		ni[c->k + i] = idx[i];
	return ni;
}

static lathe_tir_expr *acc_load(sched_rw *rw, lathe_tir_expr *e)
{
	acc_ctx *c = rw->ctx;
	return e->u.buf == c->old ? lathe_tir_load(rw->f, c->neu, acc_idx(rw->f, c, e->idx)) : e;
}

static lathe_tir_stmt *acc_store(sched_rw *rw, lathe_tir_stmt *s)
{
	acc_ctx *c = rw->ctx;
	return s->buf == c->old ? lathe_tir_store(rw->f, c->neu, acc_idx(rw->f, c, s->idx), s->value)
				: s;
}

static bool reads_memory(const lathe_tir_expr *e)
{
	if (!e)
		return false;
	return e->kind == LATHE_TIR_E_LOAD || reads_memory(e->a) || reads_memory(e->b) ||
	       reads_memory(e->c);
}

/* Split guards (ifs without else reading no memory) around S: their
 * conjunction, and the statement inside. */
static lathe_tir_stmt *peel_guards(lathe_tir_func *f, lathe_tir_stmt *S, lathe_tir_expr **cond,
				   const lathe_tir_expr **list, int *n, int max)
{
	*cond = NULL;
	*n = 0;
	S = sched_unwrap(S);
	while (S->kind == LATHE_TIR_S_IF && !S->orelse && !reads_memory(S->cond) && *n < max) {
		*cond = sched_and(f, *cond, S->cond);
		list[(*n)++] = S->cond;
		S = sched_unwrap(S->body);
	}
	return S;
}

/* e evaluates without fault wherever the loops' bounds allow, guards
 * aside: every load it performs is inside its buffer (or is the value arm
 * of a select on exactly that load's bounds: padding), and no integer
 * division has a divisor that could be zero. */
static bool safe_expr(const sched_info *I, const lathe_tir_expr *e)
{
	if (!e)
		return true;
	switch (e->kind) {
	case LATHE_TIR_E_LOAD:
		for (int d = 0; d < e->u.buf->rank; d++) {
			int64_t lo, hi;
			if (!safe_expr(I, e->idx[d]) || !sched_expr_range(I, e->idx[d], &lo, &hi) ||
			    lo < 0 || hi >= e->u.buf->shape[d])
				return false;
		}
		return true;
	case LATHE_TIR_E_SELECT: {
		const lathe_tir_expr *x = e->b;
		if (x->kind == LATHE_TIR_E_CAST)
			x = x->a;
		if (x->kind == LATHE_TIR_E_LOAD && sched_is_inbounds(I, e->a, x->u.buf, x->idx)) {
			for (int d = 0; d < x->u.buf->rank; d++)
				if (!safe_expr(I, x->idx[d]))
					return false;
			return safe_expr(I, e->a) && safe_expr(I, e->c);
		}
		return safe_expr(I, e->a) && safe_expr(I, e->b) && safe_expr(I, e->c);
	}
	case LATHE_TIR_E_BINARY:
		if (lathe_dtype_is_int(e->dtype) &&
		    (e->op == LATHE_TIR_DIV || e->op == LATHE_TIR_MOD || e->op == LATHE_TIR_FLOORDIV ||
		     e->op == LATHE_TIR_FLOORMOD)) {
			int64_t k;
			if (!sched_const(e->b, &k) || k == 0)
				return false;
		}
		return safe_expr(I, e->a) && safe_expr(I, e->b);
	default:
		return safe_expr(I, e->a) && safe_expr(I, e->b) && safe_expr(I, e->c);
	}
}

static bool safe_stmt(const sched_info *I, lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	switch (s->kind) {
	case LATHE_TIR_S_STORE:
		for (int d = 0; d < s->buf->rank; d++)
			if (!safe_expr(I, s->idx[d]))
				return false;
		return s->buf == b && safe_expr(I, s->value);
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++)
			if (!safe_stmt(I, s->stmts[i], b))
				return false;
		return true;
	case LATHE_TIR_S_FOR:
		return safe_expr(I, s->lo) && safe_expr(I, s->extent) && safe_stmt(I, s->body, b);
	case LATHE_TIR_S_LET:
		return safe_expr(I, s->value) && safe_stmt(I, s->body, b);
	case LATHE_TIR_S_IF:
		return safe_expr(I, s->cond) && safe_stmt(I, s->body, b) &&
		       (!s->orelse || safe_stmt(I, s->orelse, b));
	}
	return false;
}

/* s can run without the split guards around it: it writes only the
 * accumulator (whose tile has room for the overhang), and nothing it
 * reads or computes can fail there.  The overhang's values are computed
 * and never stored (the final store keeps the guard): what lets a conv
 * over a width of 14 run 16-wide vectors. */
static bool runs_unguarded(const sched_info *I, lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	return safe_stmt(I, s, b);
}

static lathe_err write_acc(lathe_tir_func *f, sched_info *I, lathe_tir_buf *b, lathe_tir_stmt *L,
			   sched_path *lp, lathe_tir_stmt **band, int k, lathe_tir_stmt *S,
			   lathe_tir_buf **out_cache)
{
	lathe_tir_expr *guard;
	const lathe_tir_expr *glist[16];
	int ng;
	S = peel_guards(f, S, &guard, glist, &ng, 16);
	const char *prim = "cache_write";
	int64_t *shape = lathe_arena_new(f->arena, int64_t, k + b->rank + 1);
	int64_t *los = lathe_arena_new(f->arena, int64_t, k + 1);
	for (int j = 0; j < k; j++) {
		if (!sched_loop_const(band[j], &los[j], &shape[j]))
			return lathe_error(LATHE_EINVAL, "%s: the bounds of %%%s must be constants", prim,
					   band[j]->var->name);
		if (shape[j] < 0)
			shape[j] = 0;
	}
	for (int d = 0; d < b->rank; d++)
		shape[k + d] = b->shape[d];
	int64_t total = 1;
	for (int j = 0; j < k + b->rank; j++)
		if (__builtin_mul_overflow(total, shape[j] > 0 ? shape[j] : 1, &total) ||
		    total > ((int64_t)1 << 26))
			return lathe_error(LATHE_EINVAL, "%s: a tile of %%%s over the loops inside %%%s is too large",
					   prim, b->name, L->var->name);
	lathe_tir_stmt **ss, *one;
	int n = sched_stmts(S, &ss, &one);
	/* Distribution: every other written buffer is touched at one band point
	 * per element, or is private to one statement. */
	uint8_t *marks = sched_bound_in(f, S);
	for (int j = 0; j < k; j++)
		marks[band[j]->var->id] = 1;
	uint8_t *used = lathe_xcalloc(f->vars.len + 1, 1);
	sched_accesses all = {0}, acc = {0};
	sched_collect(S, NULL, &all);
	lathe_err err = NULL;
	for (size_t i = 0; i < all.len && !err; i++) {
		lathe_tir_buf *x = all.data[i].buf;
		if (x == b || !all.data[i].store)
			continue;
		if (sched_private(I, S, x)) {
			int holders = 0, at = 0;
			for (int s = 0; s < n; s++)
				if (sched_stmt_uses(ss[s], x)) {
					holders++;
					at = s;
				}
			if (holders != 1 || sched_kill(I, ss[at], x) != SCHED_KILL)
				err = lathe_error(LATHE_EINVAL,
						  "%s: %%%s carries values between the statements of the loop body",
						  prim, x->name);
			continue;
		}
		acc.len = 0;
		for (size_t j = 0; j < all.len; j++)
			if (all.data[j].buf == x)
				lathe_vec_push(&acc, all.data[j]);
		memset(used, 0, f->vars.len + 1);
		bool ok = sched_uniform_injective(I, &acc, marks, used, S, glist, ng);
		for (int j = 0; j < k && ok; j++)
			ok = used[band[j]->var->id] != 0;
		if (!ok)
			err = lathe_error(LATHE_EINVAL,
					  "%s: cannot distribute the loops inside %%%s: iterations may share elements of %%%s",
					  prim, L->var->name, x->name);
	}
	free(marks);
	free(used);
	lathe_vec_free(&all);
	lathe_vec_free(&acc);
	if (err)
		return err;
	lathe_tir_buf *nb = sched_local_reshape(f, b, k + b->rank, shape);
	int main_stmt = 0;
	for (int s = n - 1; s >= 0; s--)
		if (sched_stmt_has_loop(ss[s]))
			main_stmt = s;
	stmt_vec nests = {0};
	for (int s = 0; s < n; s++) {
		lathe_tir_var **vars = lathe_arena_new(f->arena, lathe_tir_var *, k + 1);
		lathe_tir_expr **prefix = lathe_arena_new(f->arena, lathe_tir_expr *, k + 1);
		sched_rw rw;
		sched_rw_init(&rw, f);
		for (int j = 0; j < k; j++) {
			lathe_tir_var *v = band[j]->var;
			vars[j] = s == main_stmt ? v : lathe_tir_new_var(f, v->name, v->dtype);
			if (vars[j] != v)
				sched_rw_set(&rw, v, sched_var(f, vars[j]));
			prefix[j] = sched_addk(f, sched_var(f, vars[j]), -los[j]);
		}
		acc_ctx c = {b, nb, prefix, k};
		rw.load = acc_load;
		rw.store = acc_store;
		rw.ctx = &c;
		lathe_tir_stmt *body = ss[s];
		/* Statements that only update the accumulator run unguarded (its
		 * init then overwrites all of the tile, which lets later
		 * primitives see each iteration overwrite it). */
		if (guard && !runs_unguarded(I, ss[s], b))
			body = lathe_tir_if(f, guard, body, NULL);
		body = sched_rw_stmt(&rw, body);
		sched_rw_deinit(&rw);
		for (int j = k - 1; j >= 0; j--)
			body = lathe_tir_for(f, vars[j], band[j]->lo, band[j]->extent, band[j]->for_kind,
					     body);
		lathe_vec_push(&nests, body);
	}
	sched_replace(f, lp, lathe_tir_for(f, L->var, L->lo, L->extent, L->for_kind,
					   sched_seq(f, (int)nests.len, nests.data)));
	lathe_vec_free(&nests);
	if (out_cache)
		*out_cache = nb;
	return NULL;
}

/* ---- cache_write: regions --------------------------------------------------------------- */

typedef struct region_ctx {
	const sched_info *I;
	lathe_tir_buf *b, *c;
	const sched_region *R;
	const uint8_t *marks;
} region_ctx;

static lathe_tir_expr **region_idx(region_ctx *c, lathe_tir_func *f, lathe_tir_expr **idx)
{
	lathe_tir_expr **ni = lathe_arena_new(f->arena, lathe_tir_expr *, c->b->rank + 1);
	for (int d = 0; d < c->b->rank; d++)
		ni[d] = sched_region_index(c->I, c->R, d, idx[d], c->marks);
	return ni;
}

static lathe_tir_expr *region_load(sched_rw *rw, lathe_tir_expr *e)
{
	region_ctx *c = rw->ctx;
	return e->u.buf == c->b ? lathe_tir_load(rw->f, c->c, region_idx(c, rw->f, e->idx)) : e;
}

static lathe_tir_stmt *region_store(sched_rw *rw, lathe_tir_stmt *s)
{
	region_ctx *c = rw->ctx;
	return s->buf == c->b ? lathe_tir_store(rw->f, c->c, region_idx(c, rw->f, s->idx), s->value)
			      : s;
}

static lathe_err write_region(lathe_tir_func *f, sched_info *I, lathe_tir_buf *b, lathe_tir_stmt *L,
			      sched_path *lp, lathe_tir_buf **out_cache)
{
	const char *prim = "cache_write";
	uint8_t *marks = sched_bound_in(f, L->body);
	sched_accesses acc = {0};
	sched_region R;
	sched_collect(L->body, b, &acc);
	lathe_err err = sched_region_of(I, prim, b, &acc, marks, L->body, &R);
	if (!err)
		err = region_size_ok(prim, b, &R);
	if (!err) {
		lathe_tir_buf *c = sched_new_local(f, b->name, "_c", b->dtype, b->rank, R.extent);
		region_ctx rc = {I, b, c, &R, marks};
		sched_rw rw;
		sched_rw_init(&rw, f);
		rw.load = region_load;
		rw.store = region_store;
		rw.ctx = &rc;
		lathe_tir_stmt *body = sched_rw_stmt(&rw, L->body);
		sched_rw_deinit(&rw);
		bool oob = false;
		for (int d = 0; d < b->rank; d++)
			oob |= R.may_oob[d];
		lathe_tir_stmt *parts[3];
		int np = 0;
		lathe_tir_expr **t, **p;
		lathe_tir_var **v;
		if (sched_kill(I, body, c) != SCHED_KILL) {
			box_nest(f, &R, &t, &p, &v);
			lathe_tir_expr *val = lathe_tir_load(f, b, p);
			if (oob)
				val = lathe_tir_select(f, sched_inbounds_cond(f, b, p, R.may_oob), val,
						       lathe_tir_int(f, b->dtype, 0));
			parts[np++] = wrap_box(f, &R, v, lathe_tir_store(f, c, t, val));
		}
		parts[np++] = body;
		box_nest(f, &R, &t, &p, &v);
		lathe_tir_stmt *back = lathe_tir_store(f, b, p, lathe_tir_load(f, c, t));
		if (oob)
			back = lathe_tir_if(f, sched_inbounds_cond(f, b, p, R.may_oob), back, NULL);
		parts[np++] = wrap_box(f, &R, v, back);
		sched_replace(f, lp, lathe_tir_for(f, L->var, L->lo, L->extent, L->for_kind,
						   sched_seq(f, np, parts)));
		if (out_cache)
			*out_cache = c;
	}
	free(marks);
	lathe_vec_free(&acc);
	return err;
}

lathe_err lathe_sched_cache_write(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_var *loop,
				  lathe_tir_buf **out_cache)
{
	const char *prim = "cache_write";
	if (!b)
		return lathe_error(LATHE_EINVAL, "%s: no buffer given", prim);
	lathe_tir_stmt *L;
	sched_path lp;
	LATHE_TRY(sched_find_loop(f, prim, loop, &L, &lp));
	lathe_err err = not_in_parallel(prim, L, &lp);
	if (!err && !sched_stmt_writes(L->body, b))
		err = lathe_error(LATHE_EINVAL, "%s: %%%s is not written inside loop %%%s", prim, b->name,
				  loop->name);
	if (!err) {
		sched_info I;
		sched_info_init(&I, f);
		lathe_tir_stmt *band[64], *S;
		int k = sched_band(L->body, band, 64, &S);
		lathe_tir_expr *guard;
		const lathe_tir_expr *glist[16];
		int ng;
		lathe_tir_stmt *inside = peel_guards(f, S, &guard, glist, &ng, 16);
		if (b->kind == LATHE_TIR_LOCAL && sched_private(&I, L->body, b)) {
			if (k == 0 || !sched_private(&I, inside, b))
				err = lathe_error(LATHE_EINVAL,
						  "%s: accumulator %%%s has no loops to be tiled over inside %%%s",
						  prim, b->name, loop->name);
			else
				err = write_acc(f, &I, b, L, &lp, band, k, S, out_cache);
		} else {
			err = write_region(f, &I, b, L, &lp, out_cache);
		}
		sched_info_deinit(&I);
	}
	sched_path_free(&lp);
	return err;
}
