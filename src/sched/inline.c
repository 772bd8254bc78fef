/* inline.c: where intermediate values are computed: compute_inline,
 * reverse_compute_inline (epilogue fusion) and compute_at.
 *
 * All three work on a local produced by a top-level loop nest, as lowering
 * and fusion-group lowering (src/lower/group.c) build them, and move
 * computation without changing any value:
 *   - compute_inline replaces every load of the local by the expression
 *     stored into it;
 *   - reverse_compute_inline moves the single consumer's store into the
 *     producer, at the producer's store (bias, activation, residual add as
 *     the epilogue of a conv or matmul);
 *   - compute_at moves the producer into a consumer loop, computing the
 *     region of the local one iteration reads.
 * The checks: the local is written once, read only where the primitive
 * looks, and whatever the moved computation reads is not written between
 * its old and new place.
 */
#include <string.h>

#include "sched/sched_impl.h"

typedef LATHE_VEC(lathe_tir_stmt *) stmt_vec;

/* The top-level statement index holding the only store to b; its store. */
static lathe_err only_store(lathe_tir_func *f, const char *prim, lathe_tir_buf *b, int *out_top,
			    lathe_tir_stmt **out_store)
{
	if (!b)
		return lathe_error(LATHE_EINVAL, "%s: no buffer given", prim);
	if (b->kind != LATHE_TIR_LOCAL)
		return lathe_error(LATHE_EINVAL, "%s: %%%s is a parameter, not a local", prim, b->name);
	sched_accesses acc = {0};
	sched_collect(f->body, b, &acc);
	lathe_tir_stmt *st = NULL;
	int n = 0;
	for (size_t i = 0; i < acc.len; i++)
		if (acc.data[i].store) {
			st = acc.data[i].stmt;
			n++;
		}
	lathe_vec_free(&acc);
	if (n != 1)
		return lathe_error(LATHE_EINVAL, "%s: %%%s is written by %d stores, not one", prim,
				   b->name, n);
	lathe_tir_stmt *body = f->body;
	for (int k = 0; k < body->n; k++)
		if (sched_stmt_writes(body->stmts[k], b)) {
			*out_top = k;
			*out_store = st;
			return NULL;
		}
	lathe_die("store not found at top level");
}

/* The band loop binding v, or -1. */
static int band_index(lathe_tir_stmt *const *loops, int n, const lathe_tir_expr *x)
{
	if (!x || x->kind != LATHE_TIR_E_VAR)
		return -1;
	for (int i = 0; i < n; i++)
		if (loops[i]->var == x->u.var)
			return i;
	return -1;
}

/* Each index of st is a band loop over the whole dimension (or 0 for a
 * dimension of size 1), each band loop used once; dim_of[i] receives the
 * dimension of loops[i]. */
static bool index_is_band(lathe_tir_stmt *const *loops, int n, const lathe_tir_buf *b,
			  lathe_tir_expr *const *idx, int *dim_of)
{
	for (int i = 0; i < n; i++)
		dim_of[i] = -1;
	for (int d = 0; d < b->rank; d++) {
		int64_t c, lo, ext;
		if (sched_const(idx[d], &c)) {
			if (c != 0 || b->shape[d] != 1)
				return false;
			continue;
		}
		int k = band_index(loops, n, idx[d]);
		if (k < 0 || dim_of[k] >= 0 || !sched_loop_const(loops[k], &lo, &ext) || lo != 0 ||
		    ext != b->shape[d])
			return false;
		dim_of[k] = d;
	}
	for (int i = 0; i < n; i++)
		if (dim_of[i] < 0)
			return false;
	return true;
}

/* Loads in e, as a list of the buffers they read. */
static void buffers_read(lathe_tir_expr *e, sched_bufs *out)
{
	sched_accesses acc = {0};
	sched_collect_expr(e, NULL, NULL, &acc);
	for (size_t i = 0; i < acc.len; i++) {
		bool seen = false;
		for (size_t j = 0; j < out->len && !seen; j++)
			seen = out->data[j] == acc.data[i].buf;
		if (!seen)
			lathe_vec_push(out, acc.data[i].buf);
	}
	lathe_vec_free(&acc);
}

/* A buffer of `reads` written by top-level statements [from, to). */
static lathe_tir_buf *written_between(lathe_tir_func *f, const sched_bufs *reads, int from, int to,
				      const lathe_tir_buf *except)
{
	for (int k = from; k < to; k++)
		for (size_t i = 0; i < reads->len; i++)
			if (reads->data[i] != except && sched_stmt_writes(f->body->stmts[k], reads->data[i]))
				return reads->data[i];
	return NULL;
}

/* ---- compute_inline ---------------------------------------------------------- */

typedef struct inline_ctx {
	lathe_tir_buf *b;
	lathe_tir_stmt **loops;
	int n;
	int *dim_of;
	lathe_tir_expr *value;
} inline_ctx;

static lathe_tir_expr *inline_load(sched_rw *rw, lathe_tir_expr *e)
{
	inline_ctx *c = rw->ctx;
	if (e->u.buf != c->b)
		return e;
	sched_rw sub;
	sched_rw_init(&sub, rw->f);
	for (int i = 0; i < c->n; i++)
		sched_rw_set(&sub, c->loops[i]->var, e->idx[c->dim_of[i]]);
	lathe_tir_expr *r = sched_rw_expr(&sub, c->value);
	sched_rw_deinit(&sub);
	return r;
}

lathe_err lathe_sched_compute_inline(lathe_tir_func *f, lathe_tir_buf *b)
{
	const char *prim = "compute_inline";
	int tp;
	lathe_tir_stmt *st;
	LATHE_TRY(only_store(f, prim, b, &tp, &st));
	lathe_tir_stmt *loops[64], *body;
	int n = sched_band(f->body->stmts[tp], loops, 64, &body);
	int dim_of[64];
	if (body != st || !index_is_band(loops, n, b, st->idx, dim_of) ||
	    sched_expr_reads(st->value, b))
		return lathe_error(LATHE_EINVAL,
				   "%s: %%%s is not produced by a top-level loop nest that stores each element once (a reduction?)",
				   prim, b->name);
	for (int k = 0; k < tp; k++)
		if (sched_stmt_uses(f->body->stmts[k], b))
			return lathe_error(LATHE_EINVAL, "%s: %%%s is read before it is computed", prim,
					   b->name);
	sched_bufs reads = {0};
	buffers_read(st->value, &reads);
	lathe_tir_buf *w = written_between(f, &reads, tp + 1, f->body->n, NULL);
	lathe_vec_free(&reads);
	if (w)
		return lathe_error(LATHE_EINVAL,
				   "%s: %%%s is computed from %%%s, which is written after %%%s is computed",
				   prim, b->name, w->name, b->name);
	inline_ctx c = {b, loops, n, dim_of, st->value};
	sched_rw rw;
	sched_rw_init(&rw, f);
	rw.load = inline_load;
	rw.ctx = &c;
	stmt_vec out = {0};
	for (int k = 0; k < f->body->n; k++) {
		lathe_tir_stmt *s = f->body->stmts[k];
		if (k < tp)
			lathe_vec_push(&out, s);
		else if (k > tp)
			lathe_vec_push(&out, sched_stmt_reads(s, b) ? sched_rw_stmt(&rw, s) : s);
	}
	sched_rw_deinit(&rw);
	f->body = sched_seq(f, (int)out.len, out.data);
	lathe_vec_free(&out);
	sched_remove_local(f, b);
	return NULL;
}

/* ---- reverse_compute_inline ---------------------------------------------------- */

typedef struct rev_ctx {
	lathe_tir_buf *b;
	lathe_tir_expr *value; /* what replaces the loads of b */
} rev_ctx;

static lathe_tir_expr *rev_load(sched_rw *rw, lathe_tir_expr *e)
{
	rev_ctx *c = rw->ctx;
	return e->u.buf == c->b ? c->value : e;
}

static bool is_leaf(const lathe_tir_expr *e)
{
	if (e->kind == LATHE_TIR_E_INT || e->kind == LATHE_TIR_E_FLOAT || e->kind == LATHE_TIR_E_VAR)
		return true;
	if (e->kind != LATHE_TIR_E_LOAD)
		return false;
	for (int i = 0; i < e->u.buf->rank; i++)
		if (e->idx[i]->kind != LATHE_TIR_E_INT && e->idx[i]->kind != LATHE_TIR_E_VAR)
			return false;
	return true;
}

lathe_err lathe_sched_reverse_compute_inline(lathe_tir_func *f, lathe_tir_buf *b)
{
	const char *prim = "reverse_compute_inline";
	int tp;
	lathe_tir_stmt *st;
	LATHE_TRY(only_store(f, prim, b, &tp, &st));
	/* The producer's store runs once for every element of b. */
	sched_path sp;
	bool found = sched_find_stmt(f, st, &sp);
	LATHE_ASSERT(found);
	lathe_tir_stmt *ploops[64];
	int pn = 0;
	lathe_err err = NULL;
	for (size_t i = 1; i < sp.node.len && !err; i++) {
		lathe_tir_stmt *s = sp.node.data[i];
		int64_t ext;
		if (s->kind == LATHE_TIR_S_IF)
			err = lathe_error(LATHE_EINVAL, "%s: the store to %%%s is conditional", prim,
					  b->name);
		else if (s->kind == LATHE_TIR_S_FOR) {
			if (pn == 64 || !sched_loop_const(s, NULL, &ext) || ext < 1)
				err = lathe_error(LATHE_EINVAL,
						  "%s: the loops around the store to %%%s must have constant, non-zero extents",
						  prim, b->name);
			else
				ploops[pn++] = s;
		}
	}
	if (!err && sched_expr_reads(st->value, b))
		err = lathe_error(LATHE_EINVAL, "%s: %%%s is read by its own producer", prim, b->name);
	/* Each index of the producer's store is a loop over the whole dimension. */
	for (int d = 0; d < b->rank && !err; d++) {
		int64_t c, lo, ext;
		int k = band_index(ploops, pn, st->idx[d]);
		bool ok = sched_const(st->idx[d], &c) ? c == 0 && b->shape[d] == 1
			  : k >= 0 && sched_loop_const(ploops[k], &lo, &ext) && lo == 0 &&
				    ext == b->shape[d];
		for (int e = 0; ok && e < d; e++)
			ok = !sched_expr_eq(st->idx[e], st->idx[d]) || st->idx[d]->kind != LATHE_TIR_E_VAR;
		if (!ok)
			err = lathe_error(LATHE_EINVAL,
					  "%s: the store to %%%s does not write each element by a loop over its dimension",
					  prim, b->name);
	}
	/* The consumer: one later perfect nest, reading b at its own indices. */
	int tc = -1;
	for (int k = 0; k < f->body->n && !err; k++) {
		if (k == tp || !sched_stmt_reads(f->body->stmts[k], b))
			continue;
		if (k < tp || tc >= 0)
			err = lathe_error(LATHE_EINVAL,
					  "%s: %%%s must be read by exactly one later loop nest", prim,
					  b->name);
		tc = k;
	}
	if (!err && tc < 0)
		err = lathe_error(LATHE_EINVAL, "%s: %%%s is never read", prim, b->name);
	lathe_tir_stmt *cloops[64], *cbody = NULL;
	int cn = 0;
	int dim_of[64];
	sched_accesses loads = {0};
	if (!err) {
		cn = sched_band(f->body->stmts[tc], cloops, 64, &cbody);
		if (cbody->kind != LATHE_TIR_S_STORE || cbody->buf == b) {
			err = lathe_error(LATHE_EINVAL,
					  "%s: the consumer of %%%s is not a loop nest around one store", prim,
					  b->name);
		} else {
			sched_collect(f->body->stmts[tc], b, &loads);
			for (size_t i = 0; i < loads.len && !err; i++)
				if (loads.data[i].stmt != cbody ||
				    !index_is_band(cloops, cn, b, loads.data[i].idx, dim_of))
					err = lathe_error(LATHE_EINVAL,
							  "%s: the consumer does not read each element of %%%s once, at its own loop indices",
							  prim, b->name);
			for (size_t i = 1; i < loads.len && !err; i++)
				for (int d = 0; d < b->rank && !err; d++)
					if (!sched_expr_eq(loads.data[i].idx[d], loads.data[0].idx[d]))
						err = lathe_error(LATHE_EINVAL,
								  "%s: the consumer reads %%%s at different indices",
								  prim, b->name);
		}
	}
	if (!err) {
		/* What the consumer reads must hold the same values at the producer. */
		sched_accesses all = {0};
		sched_bufs reads = {0};
		sched_collect(cbody, NULL, &all);
		for (size_t i = 0; i < all.len; i++)
			if (all.data[i].buf != b)
				lathe_vec_push(&reads, all.data[i].buf);
		lathe_tir_buf *w = written_between(f, &reads, tp, tc, b);
		lathe_vec_free(&all);
		lathe_vec_free(&reads);
		if (w)
			err = lathe_error(LATHE_EINVAL,
					  "%s: the consumer of %%%s uses %%%s, which is written in between",
					  prim, b->name, w->name);
		for (int k = tp; k < tc && !err; k++)
			if (sched_stmt_uses(f->body->stmts[k], cbody->buf))
				err = lathe_error(LATHE_EINVAL,
						  "%s: %%%s, which the consumer writes, is used in between",
						  prim, cbody->buf->name);
	}
	if (err) {
		lathe_vec_free(&loads);
		sched_path_free(&sp);
		return err;
	}
	/* Consumer variables take the producer's indices. */
	sched_rw rw;
	sched_rw_init(&rw, f);
	for (int i = 0; i < cn; i++)
		sched_rw_set(&rw, cloops[i]->var, st->idx[dim_of[i]]);
	lathe_tir_var *tv = NULL;
	lathe_tir_expr *value = st->value;
	if (loads.len > 1 && !is_leaf(value)) {
		tv = lathe_tir_new_var(f, b->name, b->dtype);
		value = sched_var(f, tv);
	}
	rev_ctx c = {b, value};
	rw.load = rev_load;
	rw.ctx = &c;
	lathe_tir_stmt *ns = sched_rw_stmt(&rw, cbody);
	sched_rw_deinit(&rw);
	if (tv)
		ns = lathe_tir_let(f, tv, st->value, ns);
	sched_replace(f, &sp, ns);
	sched_path_free(&sp);
	lathe_vec_free(&loads);
	sched_path rp = {0};
	lathe_vec_push(&rp.node, f->body);
	lathe_vec_push(&rp.slot, tc);
	sched_replace(f, &rp, NULL);
	sched_path_free(&rp);
	sched_remove_local(f, b);
	return NULL;
}

/* ---- compute_at ------------------------------------------------------------------ */

lathe_err lathe_sched_compute_at(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_var *loop)
{
	const char *prim = "compute_at";
	int tp;
	lathe_tir_stmt *st;
	LATHE_TRY(only_store(f, prim, b, &tp, &st));
	lathe_tir_stmt *L;
	sched_path lp;
	LATHE_TRY(sched_find_loop(f, prim, loop, &L, &lp));
	lathe_err err = NULL;
	int tl = sched_path_top(&lp);
	lathe_tir_stmt *P = f->body->stmts[tp];
	lathe_tir_stmt *loops[64], *pbody;
	int n = sched_band(P, loops, 64, &pbody);
	int dim_of[64];
	lathe_tir_stmt **ps;
	lathe_tir_stmt *one;
	int np = 0;
	if (tl <= tp)
		err = lathe_error(LATHE_EINVAL, "%s: loop %%%s does not come after the nest computing %%%s",
				  prim, loop->name, b->name);
	else if (n == 0 || !index_is_band(loops, n, b, st->idx, dim_of))
		err = lathe_error(LATHE_EINVAL,
				  "%s: %%%s is not computed by a nest whose loops run over its dimensions",
				  prim, b->name);
	if (!err) {
		np = sched_stmts(pbody, &ps, &one);
		bool direct = false;
		for (int i = 0; i < np; i++)
			direct |= ps[i] == st;
		if (!direct)
			err = lathe_error(LATHE_EINVAL,
					  "%s: the store to %%%s is not directly in the body of its nest", prim,
					  b->name);
	}
	sched_info I;
	sched_info_init(&I, f);
	if (!err && sched_stmt_reads(P, b))
		err = lathe_error(LATHE_EINVAL, "%s: %%%s is read by its own producer", prim, b->name);
	/* Everything else the producer writes must be private to one point. */
	sched_accesses pacc = {0};
	sched_bufs reads = {0};
	if (!err) {
		sched_collect(P, NULL, &pacc);
		for (size_t i = 0; i < pacc.len && !err; i++) {
			lathe_tir_buf *x = pacc.data[i].buf;
			if (x == b)
				continue;
			if (pacc.data[i].store && !sched_private(&I, pbody, x))
				err = lathe_error(LATHE_EINVAL,
						  "%s: the nest computing %%%s also writes %%%s", prim, b->name,
						  x->name);
			if (!pacc.data[i].store && !sched_private(&I, pbody, x))
				lathe_vec_push(&reads, x);
		}
	}
	if (!err) {
		lathe_tir_buf *w = written_between(f, &reads, tp + 1, tl + 1, b);
		if (w)
			err = lathe_error(LATHE_EINVAL,
					  "%s: %%%s is computed from %%%s, which is written before %%%s runs",
					  prim, b->name, w->name, loop->name);
	}
	for (int k = 0; k < f->body->n && !err; k++)
		if (k != tp && k != tl && sched_stmt_uses(f->body->stmts[k], b))
			err = lathe_error(LATHE_EINVAL, "%s: %%%s is also read outside loop %%%s", prim,
					  b->name, loop->name);
	sched_accesses lacc = {0};
	uint8_t *marks = NULL;
	sched_region R;
	if (!err) {
		sched_collect(L->body, b, &lacc);
		if ((int)lacc.len != sched_count_accesses(f->body->stmts[tl], b))
			err = lathe_error(LATHE_EINVAL, "%s: %%%s is also read outside loop %%%s", prim,
					  b->name, loop->name);
	}
	if (!err) {
		marks = sched_bound_in(f, L->body);
		err = sched_region_of(&I, prim, b, &lacc, marks, L->body, &R);
	}
	if (!err) {
		/* Rebind each band loop to the region: for v in 0..ext { v := start + v }. */
		lathe_tir_stmt *inner = pbody;
		sched_rw rw;
		sched_rw_init(&rw, f);
		lathe_tir_expr **lo = lathe_arena_new(f->arena, lathe_tir_expr *, n);
		lathe_tir_expr **ext = lathe_arena_new(f->arena, lathe_tir_expr *, n);
		for (int i = 0; i < n; i++) {
			int d = dim_of[i];
			lathe_tir_var *v = loops[i]->var;
			lathe_tir_expr *start = R.start[d];
			ext[i] = sched_i64(f, R.extent[d]);
			if (R.may_oob[d]) {
				/* Clip to the buffer: max(start, 0) .. min(start + ext, size). */
				lathe_tir_expr *s0 = lathe_tir_binary(f, LATHE_TIR_MAX, start, sched_i64(f, 0));
				lathe_tir_expr *e0 = lathe_tir_binary(
					f, LATHE_TIR_MIN, sched_addk(f, start, R.extent[d]),
					sched_i64(f, b->shape[d]));
				start = s0;
				ext[i] = lathe_tir_binary(f, LATHE_TIR_SUB, e0, s0);
			}
			lo[i] = start;
			int64_t c;
			if (!(sched_const(start, &c) && c == 0))
				sched_rw_set(&rw, v, sched_add(f, start, sched_var(f, v)));
		}
		inner = sched_rw_stmt(&rw, inner);
		sched_rw_deinit(&rw);
		for (int i = n - 1; i >= 0; i--)
			inner = lathe_tir_for(f, loops[i]->var, sched_i64(f, 0), ext[i], LATHE_TIR_SERIAL,
					      inner);
		lathe_tir_stmt *two[2] = {inner, L->body};
		lathe_tir_stmt *nl = lathe_tir_for(f, L->var, L->lo, L->extent, L->for_kind,
						   sched_seq(f, 2, two));
		sched_replace(f, &lp, nl);
		sched_path rp = {0};
		lathe_vec_push(&rp.node, f->body);
		lathe_vec_push(&rp.slot, tp);
		sched_replace(f, &rp, NULL);
		sched_path_free(&rp);
	}
	free(marks);
	sched_info_deinit(&I);
	lathe_vec_free(&pacc);
	lathe_vec_free(&reads);
	lathe_vec_free(&lacc);
	sched_path_free(&lp);
	return err;
}
