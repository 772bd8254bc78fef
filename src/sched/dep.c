/* dep.c: what the schedule primitives know about a loop program: which
 * statement touches which buffer element, and so which transformations keep
 * every result bit-identical.  The affine reading of indices is affine.c's.
 *
 * The tests are sufficient, not exact: anything they cannot prove (an
 * index that is not affine in the loop's variables, bounds that are not
 * constants) counts as a dependence, and the primitive refuses.
 *   - independence (parallel, vectorize): at every access of a written
 *     buffer the flat offset is K*v + inner + outer, with one K and one
 *     outer part; a store and another access conflict only if a non-zero
 *     multiple K*m (|m| < extent) falls in the difference of their ranges.
 *     Loops fused in an order that is not the buffer's get a second test
 *     (sched_coord_independent).
 *   - carried loops (reorder, distribution): if every access of a written
 *     buffer has the same flat form, one-to-one in the loop variables it
 *     uses (mixed-radix coefficients), only loops it does not use can order
 *     two conflicting accesses; those loops must keep their relative order.
 *   - private locals: a local accessed only inside a statement that
 *     overwrites all of it before reading it carries no value between
 *     executions of that statement; it is given one copy per iteration
 *     instead (sched_expand_private).
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_impl.h"

/* ---- binders ------------------------------------------------------------------ */

static void bind_walk(sched_info *I, lathe_tir_stmt *s)
{
	if (!s)
		return;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
	case LATHE_TIR_S_LET:
		if ((size_t)s->var->id < I->nvars)
			I->binder[s->var->id] = s;
		bind_walk(I, s->body);
		return;
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++)
			bind_walk(I, s->stmts[i]);
		return;
	case LATHE_TIR_S_IF:
		bind_walk(I, s->body);
		bind_walk(I, s->orelse);
		return;
	default:
		return;
	}
}

void sched_info_init(sched_info *I, lathe_tir_func *f)
{
	I->f = f;
	I->nvars = f->vars.len;
	I->binder = lathe_xcalloc(I->nvars + 1, sizeof *I->binder);
	bind_walk(I, f->body);
}

void sched_info_deinit(sched_info *I)
{
	free(I->binder);
	I->binder = NULL;
}

const lathe_tir_stmt *sched_binder(const sched_info *I, const lathe_tir_var *v)
{
	return v && (size_t)v->id < I->nvars ? I->binder[v->id] : NULL;
}

/* ---- accesses ----------------------------------------------------------------- */

void sched_collect_expr(lathe_tir_expr *e, lathe_tir_stmt *st, const lathe_tir_buf *buf,
			sched_accesses *out)
{
	if (!e)
		return;
	if (e->kind == LATHE_TIR_E_LOAD) {
		for (int i = 0; i < e->u.buf->rank; i++)
			sched_collect_expr(e->idx[i], st, buf, out);
		if (!buf || e->u.buf == buf) {
			sched_access a = {e->u.buf, e->idx, false, st, e};
			lathe_vec_push(out, a);
		}
		return;
	}
	sched_collect_expr(e->a, st, buf, out);
	sched_collect_expr(e->b, st, buf, out);
	sched_collect_expr(e->c, st, buf, out);
}

void sched_collect(lathe_tir_stmt *s, const lathe_tir_buf *buf, sched_accesses *out)
{
	if (!s)
		return;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		sched_collect_expr(s->lo, s, buf, out);
		sched_collect_expr(s->extent, s, buf, out);
		sched_collect(s->body, buf, out);
		return;
	case LATHE_TIR_S_LET:
		sched_collect_expr(s->value, s, buf, out);
		sched_collect(s->body, buf, out);
		return;
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++)
			sched_collect(s->stmts[i], buf, out);
		return;
	case LATHE_TIR_S_IF:
		sched_collect_expr(s->cond, s, buf, out);
		sched_collect(s->body, buf, out);
		sched_collect(s->orelse, buf, out);
		return;
	case LATHE_TIR_S_STORE:
		for (int i = 0; i < s->buf->rank; i++)
			sched_collect_expr(s->idx[i], s, buf, out);
		sched_collect_expr(s->value, s, buf, out);
		if (!buf || s->buf == buf) {
			sched_access a = {s->buf, s->idx, true, s, NULL};
			lathe_vec_push(out, a);
		}
		return;
	case LATHE_TIR_S_CALL:
		/* A call's pointer reaches past its element: the primitives do
		 * not schedule around calls (tensorize comes last), so this only
		 * tells who uses a buffer. */
		for (int i = 0; i < s->nargs; i++) {
			lathe_tir_arg *ca = &s->args[i];
			if (ca->kind == LATHE_TIR_ARG_VALUE) {
				sched_collect_expr(ca->value, s, buf, out);
				continue;
			}
			for (int k = 0; k < ca->buf->rank; k++)
				sched_collect_expr(ca->idx[k], s, buf, out);
			if (!buf || ca->buf == buf) {
				sched_access a = {ca->buf, ca->idx, ca->kind != LATHE_TIR_ARG_READ, s, NULL};
				lathe_vec_push(out, a);
			}
		}
		return;
	}
}

static int count_kind(lathe_tir_stmt *s, const lathe_tir_buf *b, int want /* 0 load 1 store 2 any */)
{
	sched_accesses acc = {0};
	sched_collect(s, b, &acc);
	int n = 0;
	for (size_t i = 0; i < acc.len; i++)
		if (want == 2 || (want == 1) == acc.data[i].store)
			n++;
	lathe_vec_free(&acc);
	return n;
}

bool sched_stmt_writes(lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	return count_kind(s, b, 1) > 0;
}

bool sched_stmt_reads(lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	return count_kind(s, b, 0) > 0;
}

bool sched_stmt_uses(lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	return count_kind(s, b, 2) > 0;
}

int sched_count_accesses(lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	return count_kind(s, b, 2);
}

bool sched_expr_reads(const lathe_tir_expr *e, const lathe_tir_buf *b)
{
	if (!e)
		return false;
	if (e->kind == LATHE_TIR_E_LOAD) {
		if (e->u.buf == b)
			return true;
		for (int i = 0; i < e->u.buf->rank; i++)
			if (sched_expr_reads(e->idx[i], b))
				return true;
		return false;
	}
	return sched_expr_reads(e->a, b) || sched_expr_reads(e->b, b) || sched_expr_reads(e->c, b);
}

bool sched_expr_eq(const lathe_tir_expr *a, const lathe_tir_expr *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->kind != b->kind || a->dtype != b->dtype || a->op != b->op)
		return false;
	switch (a->kind) {
	case LATHE_TIR_E_INT:
		return a->u.i == b->u.i;
	case LATHE_TIR_E_FLOAT:
		return memcmp(&a->u.f, &b->u.f, sizeof a->u.f) == 0;
	case LATHE_TIR_E_VAR:
		return a->u.var == b->u.var;
	case LATHE_TIR_E_LOAD:
		if (a->u.buf != b->u.buf)
			return false;
		for (int i = 0; i < a->u.buf->rank; i++)
			if (!sched_expr_eq(a->idx[i], b->idx[i]))
				return false;
		return true;
	default:
		return sched_expr_eq(a->a, b->a) && sched_expr_eq(a->b, b->b) &&
		       sched_expr_eq(a->c, b->c);
	}
}

bool sched_expr_uses(const lathe_tir_expr *e, const uint8_t *marks)
{
	if (!e)
		return false;
	if (e->kind == LATHE_TIR_E_VAR)
		return e->u.var && marks[e->u.var->id];
	if (e->kind == LATHE_TIR_E_LOAD) {
		for (int i = 0; i < e->u.buf->rank; i++)
			if (sched_expr_uses(e->idx[i], marks))
				return true;
		return false;
	}
	return sched_expr_uses(e->a, marks) || sched_expr_uses(e->b, marks) ||
	       sched_expr_uses(e->c, marks);
}

bool sched_stmt_uses_var(lathe_tir_stmt *s, const uint8_t *marks)
{
	if (!s)
		return false;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		return sched_expr_uses(s->lo, marks) || sched_expr_uses(s->extent, marks) ||
		       sched_stmt_uses_var(s->body, marks);
	case LATHE_TIR_S_LET:
		return sched_expr_uses(s->value, marks) || sched_stmt_uses_var(s->body, marks);
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++)
			if (sched_stmt_uses_var(s->stmts[i], marks))
				return true;
		return false;
	case LATHE_TIR_S_IF:
		return sched_expr_uses(s->cond, marks) || sched_stmt_uses_var(s->body, marks) ||
		       sched_stmt_uses_var(s->orelse, marks);
	case LATHE_TIR_S_STORE:
		for (int i = 0; i < s->buf->rank; i++)
			if (sched_expr_uses(s->idx[i], marks))
				return true;
		return sched_expr_uses(s->value, marks);
	case LATHE_TIR_S_CALL:
		for (int i = 0; i < s->nargs; i++) {
			const lathe_tir_arg *ca = &s->args[i];
			if (ca->kind == LATHE_TIR_ARG_VALUE && sched_expr_uses(ca->value, marks))
				return true;
			for (int k = 0; ca->kind != LATHE_TIR_ARG_VALUE && k < ca->buf->rank; k++)
				if (sched_expr_uses(ca->idx[k], marks))
					return true;
		}
		return false;
	}
	return false;
}

static void mark_bound(uint8_t *m, size_t n, lathe_tir_stmt *s)
{
	if (!s)
		return;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
	case LATHE_TIR_S_LET:
		if ((size_t)s->var->id < n)
			m[s->var->id] = 1;
		mark_bound(m, n, s->body);
		return;
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++)
			mark_bound(m, n, s->stmts[i]);
		return;
	case LATHE_TIR_S_IF:
		mark_bound(m, n, s->body);
		mark_bound(m, n, s->orelse);
		return;
	default:
		return;
	}
}

uint8_t *sched_bound_in(const lathe_tir_func *f, lathe_tir_stmt *s)
{
	uint8_t *m = lathe_xcalloc(f->vars.len + 1, 1);
	mark_bound(m, f->vars.len, s);
	return m;
}

bool sched_stmt_has_loop(lathe_tir_stmt *s)
{
	if (!s)
		return false;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		return true;
	case LATHE_TIR_S_LET:
		return sched_stmt_has_loop(s->body);
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++)
			if (sched_stmt_has_loop(s->stmts[i]))
				return true;
		return false;
	case LATHE_TIR_S_IF:
		return sched_stmt_has_loop(s->body) || sched_stmt_has_loop(s->orelse);
	default:
		return false;
	}
}

/* ---- kills and private locals ---------------------------------------------------- */

/* A perfect nest whose single store writes every element of b (one loop per
 * dimension over its whole size, constant 0 for dimensions of size 1). */
static bool covers(lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	lathe_tir_stmt *loops[64], *body;
	int n = sched_band(s, loops, 64, &body);
	if (!body || body->kind != LATHE_TIR_S_STORE || body->buf != b ||
	    sched_expr_reads(body->value, b))
		return false;
	bool used[64] = {0};
	for (int i = 0; i < n; i++) {
		int64_t lo, ext;
		if (!sched_loop_const(loops[i], &lo, &ext) || ext < 1)
			return sched_numel(b) == 0;
		if (sched_expr_reads(loops[i]->lo, b) || sched_expr_reads(loops[i]->extent, b))
			return false;
	}
	for (int d = 0; d < b->rank; d++) {
		const lathe_tir_expr *x = body->idx[d];
		int64_t c;
		if (sched_const(x, &c)) {
			if (c != 0 || b->shape[d] != 1)
				return false;
			continue;
		}
		if (x->kind != LATHE_TIR_E_VAR)
			return false;
		int k = 0;
		while (k < n && loops[k]->var != x->u.var)
			k++;
		int64_t lo, ext;
		if (k == n || used[k] || !sched_loop_const(loops[k], &lo, &ext) || lo != 0 ||
		    ext != b->shape[d])
			return false;
		used[k] = true;
	}
	return true;
}

/* Outcome sets of sched_kill's walk: some path overwrites all of b
 * first (K), some path does not touch it (N), some path may read it first
 * (R). */
enum { K_ = 1, N_ = 2, R_ = 4 };

static int kill_rec(lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	if (!s)
		return N_;
	switch (s->kind) {
	case LATHE_TIR_S_SEQ: {
		int acc = N_;
		for (int i = 0; i < s->n && (acc & N_); i++) {
			int r = kill_rec(s->stmts[i], b);
			if (r & R_)
				return R_;
			acc = (acc & K_) | r;
		}
		return acc;
	}
	case LATHE_TIR_S_FOR: {
		if (sched_expr_reads(s->lo, b) || sched_expr_reads(s->extent, b))
			return R_;
		if (!sched_stmt_uses(s->body, b))
			return N_;
		if (covers(s, b))
			return K_;
		int64_t ext;
		int r = kill_rec(s->body, b);
		if (r & R_)
			return R_;
		/* Later iterations take paths of the same kinds as the first. */
		return sched_loop_const(s, NULL, &ext) && ext >= 1 ? r : r | N_;
	}
	case LATHE_TIR_S_LET:
		if (sched_expr_reads(s->value, b))
			return R_;
		return kill_rec(s->body, b);
	case LATHE_TIR_S_IF: {
		if (sched_expr_reads(s->cond, b))
			return R_;
		int r = kill_rec(s->body, b) | (s->orelse ? kill_rec(s->orelse, b) : N_);
		return r & R_ ? R_ : r;
	}
	case LATHE_TIR_S_STORE:
		for (int i = 0; i < s->buf->rank; i++)
			if (sched_expr_reads(s->idx[i], b))
				return R_;
		if (sched_expr_reads(s->value, b))
			return R_;
		if (s->buf != b)
			return N_;
		return b->rank == 0 || sched_numel(b) == 1 ? K_ : R_;
	}
	return R_;
}

int sched_kill(const sched_info *I, lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	int r = kill_rec(s, b);
	if (r & R_)
		return SCHED_READ;
	return r & K_ ? SCHED_KILL : SCHED_NONE;
}

bool sched_private(const sched_info *I, lathe_tir_stmt *body, const lathe_tir_buf *b)
{
	if (b->kind != LATHE_TIR_LOCAL)
		return false;
	int inside = sched_count_accesses(body, b);
	if (inside == 0 || inside != sched_count_accesses(I->f->body, b))
		return false;
	return sched_kill(I, body, b) == SCHED_KILL;
}

/* ---- dependence tests ------------------------------------------------------------- */

/* The distinct buffers written in acc, in order of first write. */
static void written_bufs(const sched_accesses *acc, sched_bufs *out)
{
	for (size_t i = 0; i < acc->len; i++) {
		if (!acc->data[i].store)
			continue;
		bool seen = false;
		for (size_t j = 0; j < out->len && !seen; j++)
			seen = out->data[j] == acc->data[i].buf;
		if (!seen)
			lathe_vec_push(out, acc->data[i].buf);
	}
}

static void only_buf(const sched_accesses *all, const lathe_tir_buf *b, sched_accesses *out)
{
	out->len = 0;
	for (size_t i = 0; i < all->len; i++)
		if (all->data[i].buf == b)
			lathe_vec_push(out, all->data[i]);
}

/* The part of a made of terms that do not use marks. */
static void outer_part(const sched_aff *a, const uint8_t *marks, sched_aff *out)
{
	memset(out, 0, sizeof *out);
	for (int i = 0; i < a->n; i++)
		if (!sched_term_uses(&a->t[i], marks))
			out->t[out->n++] = a->t[i];
}

/* One access, as the independence test sees it: flat offset
 * k*v + outer + [lo, hi]. */
typedef struct ind_access {
	int64_t k, lo, hi;
	sched_aff outer;
	bool store;
} ind_access;

/* Can iteration v of store s and iteration v' != v of access a touch the
 * same element?  k*(v' - v) must fall in the difference of their ranges;
 * |v' - v| < ext. */
static bool may_conflict(const ind_access *s, const ind_access *a, int64_t ext)
{
	if (s->k != a->k || !sched_aff_eq(&s->outer, &a->outer))
		return true;
	if (s->k == 0)
		return ext > 1;
	int64_t dlo, dhi;
	if (__builtin_sub_overflow(s->lo, a->hi, &dlo) || __builtin_sub_overflow(s->hi, a->lo, &dhi))
		return true;
	int64_t k = s->k < 0 ? -s->k : s->k;
	if (k <= 0)
		return true;
	/* Multiples m*k in [dlo, dhi]: m from ceil(dlo/k) to floor(dhi/k); a
	 * conflict needs one with 0 < |m| < ext. */
	if (dlo == INT64_MIN || dhi == INT64_MIN || k == INT64_MIN)
		return true;
	int64_t mlo = dlo >= 0 ? (dlo + k - 1) / k : -((-dlo) / k);
	int64_t mhi = dhi >= 0 ? dhi / k : -((-dhi + k - 1) / k);
	int64_t lim = ext - 1;
	if (mlo < -lim)
		mlo = -lim;
	if (mhi > lim)
		mhi = lim;
	return mlo <= mhi && !(mlo == 0 && mhi == 0);
}

/* The second independence test, for loops fused in an order that is not
 * the buffer's (a parallel loop over (channel block, row) of a conv output
 * whose channel tile sits between them in memory): the flat offset is not
 * affine in the loop, but it is one-to-one in its pieces, among them the
 * floordiv/floormod pair of one expression X, which together determine X;
 * X in turn determines v when X = K*v + R with R spanning less than |K|.
 * Every access must have the same form. */
lathe_err sched_check_independent(const sched_info *I, const char *prim, lathe_tir_stmt *loop,
				  sched_bufs *out_private)
{
	lathe_tir_func *f = I->f;
	lathe_tir_var *v = loop->var;
	uint8_t *marks = sched_bound_in(f, loop->body);
	marks[v->id] = 1;
	uint8_t *inner = sched_bound_in(f, loop->body); /* marks without v */
	sched_accesses all = {0}, acc = {0};
	sched_bufs written = {0};
	sched_collect(loop->body, NULL, &all);
	written_bufs(&all, &written);
	int64_t ext;
	if (!sched_loop_const(loop, NULL, &ext))
		ext = INT64_MAX;
	ind_access *ia = NULL;
	lathe_err err = NULL;
	for (size_t w = 0; w < written.len && !err; w++) {
		lathe_tir_buf *b = written.data[w];
		if (sched_private(I, loop->body, b)) {
			lathe_vec_push(out_private, b);
			continue;
		}
		only_buf(&all, b, &acc);
		free(ia);
		ia = lathe_xcalloc(acc.len + 1, sizeof *ia);
		for (size_t i = 0; i < acc.len && !err; i++) {
			sched_aff a;
			if (!sched_aff_flat(I, b, acc.data[i].idx, &a)) {
				err = lathe_error(LATHE_EINVAL, "%s: cannot analyze an index of %%%s in loop %%%s",
						  prim, b->name, v->name);
				break;
			}
			bool atom_inner = false;
			for (int t = 0; t < a.n; t++)
				if (!a.t[t].var && sched_term_uses(&a.t[t], marks))
					atom_inner = true;
			const lathe_tir_expr *g[32];
			int ng = sched_guards(loop->body, acc.data[i].stmt, g, 32);
			ia[i].k = sched_aff_coef(&a, v);
			ia[i].store = acc.data[i].store;
			outer_part(&a, marks, &ia[i].outer);
			if (atom_inner ||
			    !sched_aff_range_g(I, &a, inner, true, true, g, ng, &ia[i].lo, &ia[i].hi))
				err = lathe_error(LATHE_EINVAL,
						  "%s: %%%s is indexed in a way that depends on %%%s but is not affine in it",
						  prim, b->name, v->name);
		}
		for (size_t i = 0; i < acc.len && !err; i++) {
			if (!ia[i].store)
				continue;
			if (ia[i].k == 0 && ext > 1) {
				err = lathe_error(LATHE_EINVAL,
						  "%s: every iteration of %%%s writes the same elements of %%%s (a reduction or a reused temporary)",
						  prim, v->name, b->name);
				break;
			}
			for (size_t j = 0; j < acc.len && !err; j++)
				if (may_conflict(&ia[i], &ia[j], ext))
					err = lathe_error(LATHE_EINVAL,
							  "%s: iterations of %%%s may touch the same element of %%%s",
							  prim, v->name, b->name);
		}
		if (err && sched_coord_independent(I, &acc, v, marks, loop->body)) {
			lathe_error_free(err);
			err = NULL;
		}
	}
	free(ia);
	free(marks);
	free(inner);
	lathe_vec_free(&all);
	lathe_vec_free(&acc);
	lathe_vec_free(&written);
	return err;
}

/* Guards every access in acc has (structurally), plus `extra`. */
void sched_carried(const sched_info *I, lathe_tir_stmt *const *loops, int n, lathe_tir_stmt *body,
		   const lathe_tir_expr *const *guards, int ng, bool *carry, lathe_tir_buf **why)
{
	lathe_tir_func *f = I->f;
	uint8_t *marks = sched_bound_in(f, body);
	for (int i = 0; i < n; i++) {
		marks[loops[i]->var->id] = 1;
		carry[i] = false;
	}
	sched_accesses all = {0}, acc = {0};
	sched_bufs written = {0};
	sched_collect(body, NULL, &all);
	written_bufs(&all, &written);
	uint8_t *used = lathe_xcalloc(f->vars.len + 1, 1);
	for (size_t w = 0; w < written.len; w++) {
		lathe_tir_buf *b = written.data[w];
		if (sched_private(I, body, b))
			continue;
		only_buf(&all, b, &acc);
		memset(used, 0, f->vars.len + 1);
		bool ok = sched_uniform_injective(I, &acc, marks, used, body, guards, ng);
		for (int i = 0; i < n; i++) {
			if ((!ok || !used[loops[i]->var->id]) && !carry[i]) {
				carry[i] = true;
				if (why)
					why[i] = b;
			}
		}
	}
	free(used);
	free(marks);
	lathe_vec_free(&all);
	lathe_vec_free(&acc);
	lathe_vec_free(&written);
}

/* ---- private locals ----------------------------------------------------------------- */

typedef struct expand_ctx {
	lathe_tir_buf *const *old;
	lathe_tir_buf **neu;
	size_t n;
	lathe_tir_expr *prefix;
} expand_ctx;

static lathe_tir_expr **prefixed(lathe_tir_func *f, lathe_tir_expr *p, lathe_tir_expr **idx, int rank)
{
	lathe_tir_expr **ni = lathe_arena_new(f->arena, lathe_tir_expr *, rank + 2);
	ni[0] = p;
	for (int i = 0; i < rank; i++)
		ni[i + 1] = idx[i];
	return ni;
}

static lathe_tir_expr *expand_load(sched_rw *rw, lathe_tir_expr *e)
{
	expand_ctx *c = rw->ctx;
	for (size_t i = 0; i < c->n; i++)
		if (e->u.buf == c->old[i])
			return lathe_tir_load(rw->f, c->neu[i],
					      prefixed(rw->f, c->prefix, e->idx, e->u.buf->rank));
	return e;
}

static lathe_tir_stmt *expand_store(sched_rw *rw, lathe_tir_stmt *s)
{
	expand_ctx *c = rw->ctx;
	for (size_t i = 0; i < c->n; i++)
		if (s->buf == c->old[i])
			return lathe_tir_store(rw->f, c->neu[i],
					       prefixed(rw->f, c->prefix, s->idx, s->buf->rank), s->value);
	return s;
}

lathe_tir_stmt *sched_expand_private(lathe_tir_func *f, lathe_tir_stmt *loop,
				     lathe_tir_buf *const *bufs, size_t n)
{
	if (!n)
		return loop;
	int64_t lo, ext;
	LATHE_ASSERT(sched_loop_const(loop, &lo, &ext));
	lathe_tir_buf **neu = lathe_arena_new(f->arena, lathe_tir_buf *, n);
	for (size_t i = 0; i < n; i++) {
		int64_t *shape = lathe_arena_new(f->arena, int64_t, bufs[i]->rank + 2);
		shape[0] = ext > 0 ? ext : 0;
		for (int d = 0; d < bufs[i]->rank; d++)
			shape[d + 1] = bufs[i]->shape[d];
		neu[i] = sched_local_reshape(f, bufs[i], bufs[i]->rank + 1, shape);
	}
	expand_ctx c = {bufs, neu, n, sched_addk(f, sched_var(f, loop->var), -lo)};
	sched_rw rw;
	sched_rw_init(&rw, f);
	rw.load = expand_load;
	rw.store = expand_store;
	rw.ctx = &c;
	lathe_tir_stmt *body = sched_rw_stmt(&rw, loop->body);
	sched_rw_deinit(&rw);
	return lathe_tir_for(f, loop->var, loop->lo, loop->extent, loop->for_kind, body);
}
