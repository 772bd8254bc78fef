/* walk.c: the plumbing every schedule primitive uses: snapshots, finding a
 * loop and rebuilding the statements above it, small builders, buffer
 * table edits, and the copying rewriter.
 *
 * Invariant kept for the whole schedule layer: existing statements are
 * never modified.  A primitive builds new statements and sched_replace
 * copies the chain above them, so the old body stays intact and a snapshot
 * (body pointer, buffer table, variable count) restores the function
 * exactly.  Expressions are shared freely (they are immutable too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_impl.h"

typedef LATHE_VEC(lathe_tir_stmt *) stmt_vec;

/* ---- snapshots ------------------------------------------------------------- */

void sched_snap_take(lathe_tir_func *f, sched_snap *s)
{
	s->body = f->body;
	s->nbufs = f->bufs.len;
	s->bufs = lathe_xmalloc(sizeof *s->bufs * (s->nbufs + 1));
	if (s->nbufs)
		memcpy(s->bufs, f->bufs.data, sizeof *s->bufs * s->nbufs);
	s->nvars = f->vars.len;
	s->nparams = f->nparams;
}

void sched_snap_restore(lathe_tir_func *f, sched_snap *s)
{
	f->body = s->body;
	lathe_vec_reserve(&f->bufs, s->nbufs);
	for (size_t i = 0; i < s->nbufs; i++) {
		f->bufs.data[i] = s->bufs[i];
		f->bufs.data[i]->id = (int32_t)i;
	}
	f->bufs.len = s->nbufs;
	/* Variables made since are referenced only by the discarded tree. */
	if (f->vars.len > s->nvars)
		f->vars.len = s->nvars;
	f->nparams = s->nparams;
	sched_snap_drop(s);
}

void sched_snap_drop(sched_snap *s)
{
	free(s->bufs);
	s->bufs = NULL;
}

/* ---- paths ------------------------------------------------------------------ */

void sched_path_free(sched_path *p)
{
	lathe_vec_free(&p->node);
	lathe_vec_free(&p->slot);
}

static void path_push(sched_path *p, lathe_tir_stmt *s, int slot)
{
	lathe_vec_push(&p->node, s);
	lathe_vec_push(&p->slot, slot);
}

static void path_pop(sched_path *p)
{
	p->node.len--;
	p->slot.len--;
}

/* Depth-first search for a statement satisfying match(); the path is left
 * holding its ancestors. */
static lathe_tir_stmt *search(lathe_tir_stmt *s, sched_path *p,
			      bool (*match)(const lathe_tir_stmt *, const void *), const void *ctx)
{
	if (!s)
		return NULL;
	if (match(s, ctx))
		return s;
	lathe_tir_stmt *r = NULL;
	switch (s->kind) {
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n && !r; i++) {
			path_push(p, s, i);
			r = search(s->stmts[i], p, match, ctx);
			if (!r)
				path_pop(p);
		}
		return r;
	case LATHE_TIR_S_FOR:
	case LATHE_TIR_S_LET:
		path_push(p, s, 0);
		r = search(s->body, p, match, ctx);
		if (!r)
			path_pop(p);
		return r;
	case LATHE_TIR_S_IF:
		path_push(p, s, 0);
		r = search(s->body, p, match, ctx);
		if (!r) {
			path_pop(p);
			path_push(p, s, 1);
			r = search(s->orelse, p, match, ctx);
			if (!r)
				path_pop(p);
		}
		return r;
	default:
		return NULL;
	}
}

static bool match_binder(const lathe_tir_stmt *s, const void *v)
{
	return (s->kind == LATHE_TIR_S_FOR || s->kind == LATHE_TIR_S_LET) && s->var == v;
}

static bool match_ident(const lathe_tir_stmt *s, const void *t)
{
	return s == t;
}

lathe_err sched_find_loop(lathe_tir_func *f, const char *prim, lathe_tir_var *v,
			  lathe_tir_stmt **out_loop, sched_path *out_path)
{
	if (!v)
		return lathe_error(LATHE_EINVAL, "%s: no loop given", prim);
	sched_path p = {0};
	lathe_tir_stmt *s = search(f->body, &p, match_binder, v);
	if (!s) {
		sched_path_free(&p);
		return lathe_error(LATHE_EINVAL, "%s: no loop binds %%%s", prim, v->name);
	}
	if (s->kind != LATHE_TIR_S_FOR) {
		sched_path_free(&p);
		return lathe_error(LATHE_EINVAL, "%s: %%%s is bound by a let, not a loop", prim,
				   v->name);
	}
	*out_loop = s;
	if (out_path)
		*out_path = p;
	else
		sched_path_free(&p);
	return NULL;
}

bool sched_find_stmt(lathe_tir_func *f, const lathe_tir_stmt *t, sched_path *out_path)
{
	sched_path p = {0};
	lathe_tir_stmt *s = search(f->body, &p, match_ident, t);
	if (!s) {
		sched_path_free(&p);
		return false;
	}
	*out_path = p;
	return true;
}

int sched_path_top(const sched_path *p)
{
	return p->node.len ? p->slot.data[0] : -1;
}

bool sched_path_has_kind(const sched_path *p, int for_kind, lathe_tir_var **out_var)
{
	for (size_t i = 0; i < p->node.len; i++) {
		lathe_tir_stmt *s = p->node.data[i];
		if (s->kind == LATHE_TIR_S_FOR && s->for_kind == for_kind) {
			if (out_var)
				*out_var = s->var;
			return true;
		}
	}
	return false;
}

static lathe_tir_stmt *copy_stmt(lathe_tir_func *f, const lathe_tir_stmt *s)
{
	lathe_tir_stmt *c = lathe_arena_new(f->arena, lathe_tir_stmt, 1);
	*c = *s;
	return c;
}

void sched_replace(lathe_tir_func *f, const sched_path *p, lathe_tir_stmt *s)
{
	lathe_tir_stmt *cur = s;
	for (size_t i = p->node.len; i-- > 0;) {
		lathe_tir_stmt *up = p->node.data[i];
		int slot = p->slot.data[i];
		if (up->kind == LATHE_TIR_S_SEQ) {
			stmt_vec v = {0};
			for (int k = 0; k < up->n; k++) {
				if (k != slot)
					lathe_vec_push(&v, up->stmts[k]);
				else if (cur)
					lathe_vec_push(&v, cur);
			}
			cur = sched_seq(f, (int)v.len, v.data);
			lathe_vec_free(&v);
			continue;
		}
		if (!cur)
			cur = lathe_tir_seq(f, 0, NULL);
		lathe_tir_stmt *c = copy_stmt(f, up);
		if (slot == 0)
			c->body = cur;
		else
			c->orelse = cur;
		cur = c;
	}
	if (!cur)
		cur = lathe_tir_seq(f, 0, NULL);
	if (cur->kind != LATHE_TIR_S_SEQ)
		cur = lathe_tir_seq(f, 1, &cur);
	f->body = cur;
}

/* ---- building ---------------------------------------------------------------- */

lathe_tir_expr *sched_i64(lathe_tir_func *f, int64_t v)
{
	return lathe_tir_i64(f, v);
}

lathe_tir_expr *sched_var(lathe_tir_func *f, lathe_tir_var *v)
{
	return lathe_tir_varref(f, v);
}

bool sched_const(const lathe_tir_expr *e, int64_t *out)
{
	if (!e || e->kind != LATHE_TIR_E_INT || e->dtype != LATHE_DT_I64)
		return false;
	*out = e->u.i;
	return true;
}

lathe_tir_expr *sched_add(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	int64_t k;
	if (sched_const(a, &k)) {
		if (k == 0)
			return b;
		lathe_tir_expr *t = a; /* constants go right, as the simplifier puts them */
		a = b;
		b = t;
	}
	if (sched_const(b, &k) && k == 0)
		return a;
	return lathe_tir_binary(f, LATHE_TIR_ADD, a, b);
}

lathe_tir_expr *sched_addk(lathe_tir_func *f, lathe_tir_expr *a, int64_t k)
{
	int64_t c;
	if (sched_const(a, &c) && !__builtin_add_overflow(c, k, &c))
		return sched_i64(f, c);
	return k ? lathe_tir_binary(f, LATHE_TIR_ADD, a, sched_i64(f, k)) : a;
}

lathe_tir_expr *sched_mulk(lathe_tir_func *f, lathe_tir_expr *a, int64_t k)
{
	int64_t c;
	if (sched_const(a, &c) && !__builtin_mul_overflow(c, k, &c))
		return sched_i64(f, c);
	if (k == 1)
		return a;
	return lathe_tir_binary(f, LATHE_TIR_MUL, a, sched_i64(f, k));
}

lathe_tir_expr *sched_and(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return lathe_tir_binary(f, LATHE_TIR_AND, a, b);
}

static void splice(stmt_vec *v, lathe_tir_stmt *s)
{
	if (s->kind == LATHE_TIR_S_SEQ) {
		for (int i = 0; i < s->n; i++)
			splice(v, s->stmts[i]);
		return;
	}
	lathe_vec_push(v, s);
}

lathe_tir_stmt *sched_seq(lathe_tir_func *f, int n, lathe_tir_stmt *const *s)
{
	stmt_vec v = {0};
	for (int i = 0; i < n; i++)
		splice(&v, s[i]);
	lathe_tir_stmt *r = lathe_tir_seq(f, (int)v.len, v.data);
	lathe_vec_free(&v);
	return r;
}

lathe_tir_stmt *sched_block(lathe_tir_func *f, int n, lathe_tir_stmt *const *s)
{
	lathe_tir_stmt *r = sched_seq(f, n, s);
	return r->n == 1 ? r->stmts[0] : r;
}

lathe_tir_stmt *sched_unwrap(lathe_tir_stmt *s)
{
	while (s && s->kind == LATHE_TIR_S_SEQ && s->n == 1)
		s = s->stmts[0];
	return s;
}

int sched_stmts(lathe_tir_stmt *s, lathe_tir_stmt ***out, lathe_tir_stmt **one)
{
	s = sched_unwrap(s);
	if (s->kind == LATHE_TIR_S_SEQ) {
		*out = s->stmts;
		return s->n;
	}
	*one = s;
	*out = one;
	return 1;
}

bool sched_reduce_shell(lathe_tir_stmt *body, lathe_tir_stmt **out)
{
	lathe_tir_stmt **ss, *one;
	if (sched_stmts(body, &ss, &one) != 3)
		return false;
	lathe_tir_stmt *init = ss[0], *red = ss[1], *fin = ss[2];
	if (init->kind != LATHE_TIR_S_STORE || red->kind != LATHE_TIR_S_FOR ||
	    fin->kind != LATHE_TIR_S_STORE)
		return false;
	const lathe_tir_buf *acc = init->buf;
	if (acc->kind != LATHE_TIR_LOCAL || acc->dtype != LATHE_DT_F32 || sched_numel(acc) != 1)
		return false;
	out[0] = init, out[1] = red, out[2] = fin;
	return true;
}

bool sched_loop_const(const lathe_tir_stmt *loop, int64_t *lo, int64_t *extent)
{
	int64_t l, e;
	if (!loop || loop->kind != LATHE_TIR_S_FOR || !sched_const(loop->lo, &l) ||
	    !sched_const(loop->extent, &e))
		return false;
	if (lo)
		*lo = l;
	if (extent)
		*extent = e;
	return true;
}

lathe_tir_var *sched_new_var(lathe_tir_func *f, const char *base, const char *suffix)
{
	char name[96];
	snprintf(name, sizeof name, "%.60s%.30s", base ? base : "v", suffix ? suffix : "");
	return lathe_tir_new_var(f, name, LATHE_DT_I64);
}

int sched_band(lathe_tir_stmt *s, lathe_tir_stmt **loops, int max, lathe_tir_stmt **out_body)
{
	int n = 0;
	s = sched_unwrap(s);
	while (s && s->kind == LATHE_TIR_S_FOR && n < max) {
		loops[n++] = s;
		s = sched_unwrap(s->body);
	}
	if (out_body)
		*out_body = s;
	return n;
}

/* ---- buffers ----------------------------------------------------------------- */

lathe_tir_buf *sched_local_reshape(lathe_tir_func *f, lathe_tir_buf *old, int rank,
				   const int64_t *shape)
{
	lathe_tir_buf *b = lathe_arena_new(f->arena, lathe_tir_buf, 1);
	*b = *old;
	b->rank = rank;
	b->shape = lathe_arena_new(f->arena, int64_t, rank + 1);
	if (rank)
		memcpy(b->shape, shape, sizeof *shape * (size_t)rank);
	LATHE_ASSERT(old->id >= 0 && (size_t)old->id < f->bufs.len && f->bufs.data[old->id] == old);
	f->bufs.data[old->id] = b;
	return b;
}

void sched_remove_local(lathe_tir_func *f, lathe_tir_buf *b)
{
	size_t id = (size_t)b->id;
	LATHE_ASSERT(id < f->bufs.len && f->bufs.data[id] == b && b->kind == LATHE_TIR_LOCAL);
	for (size_t i = id + 1; i < f->bufs.len; i++) {
		f->bufs.data[i - 1] = f->bufs.data[i];
		f->bufs.data[i - 1]->id = (int32_t)(i - 1);
	}
	f->bufs.len--;
}

lathe_tir_buf *sched_new_local(lathe_tir_func *f, const char *base, const char *suffix,
			       int dtype, int rank, const int64_t *shape)
{
	char name[96];
	snprintf(name, sizeof name, "%.60s%.30s", base ? base : "t", suffix ? suffix : "");
	return lathe_tir_local(f, name, dtype, rank, shape);
}

int64_t sched_numel(const lathe_tir_buf *b)
{
	int64_t n = 1;
	for (int d = 0; d < b->rank; d++) {
		if (b->shape[d] <= 0)
			return 0;
		if (__builtin_mul_overflow(n, b->shape[d], &n))
			return INT64_MAX;
	}
	return n;
}

/* ---- rewriting --------------------------------------------------------------- */

void sched_rw_init(sched_rw *rw, lathe_tir_func *f)
{
	memset(rw, 0, sizeof *rw);
	rw->f = f;
	rw->nvmap = f->vars.len;
	rw->vmap = lathe_xcalloc(rw->nvmap + 1, sizeof *rw->vmap);
}

void sched_rw_deinit(sched_rw *rw)
{
	free(rw->vmap);
	rw->vmap = NULL;
}

void sched_rw_set(sched_rw *rw, lathe_tir_var *v, lathe_tir_expr *e)
{
	LATHE_ASSERT(v && (size_t)v->id < rw->nvmap);
	rw->vmap[v->id] = e;
}

lathe_tir_expr *sched_rw_expr(sched_rw *rw, lathe_tir_expr *e)
{
	if (!e)
		return NULL;
	if (rw->pre) {
		lathe_tir_expr *r = rw->pre(rw, e);
		if (r)
			return r;
	}
	lathe_tir_func *f = rw->f;
	switch (e->kind) {
	case LATHE_TIR_E_INT:
	case LATHE_TIR_E_FLOAT:
		return e;
	case LATHE_TIR_E_VAR: {
		lathe_tir_var *v = e->u.var;
		if (v && (size_t)v->id < rw->nvmap && rw->vmap[v->id])
			return rw->vmap[v->id];
		return e;
	}
	case LATHE_TIR_E_LOAD: {
		int r = e->u.buf->rank;
		bool changed = false;
		lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, r + 1);
		for (int i = 0; i < r; i++) {
			idx[i] = sched_rw_expr(rw, e->idx[i]);
			changed |= idx[i] != e->idx[i];
		}
		lathe_tir_expr *n = e;
		if (changed) {
			n = lathe_arena_new(f->arena, lathe_tir_expr, 1);
			*n = *e;
			n->idx = idx;
		}
		return rw->load ? rw->load(rw, n) : n;
	}
	default: {
		lathe_tir_expr *a = sched_rw_expr(rw, e->a);
		lathe_tir_expr *b = sched_rw_expr(rw, e->b);
		lathe_tir_expr *c = sched_rw_expr(rw, e->c);
		if (a == e->a && b == e->b && c == e->c)
			return e;
		lathe_tir_expr *n = lathe_arena_new(f->arena, lathe_tir_expr, 1);
		*n = *e;
		n->a = a;
		n->b = b;
		n->c = c;
		return n;
	}
	}
}

lathe_tir_stmt *sched_rw_stmt(sched_rw *rw, lathe_tir_stmt *s)
{
	lathe_tir_func *f = rw->f;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
	case LATHE_TIR_S_LET: {
		lathe_tir_var *v = s->var;
		lathe_tir_expr *lo = s->kind == LATHE_TIR_S_FOR ? sched_rw_expr(rw, s->lo) : NULL;
		lathe_tir_expr *ext = s->kind == LATHE_TIR_S_FOR ? sched_rw_expr(rw, s->extent) : NULL;
		lathe_tir_expr *val = s->kind == LATHE_TIR_S_LET ? sched_rw_expr(rw, s->value) : NULL;
		if (rw->fresh && (size_t)v->id < rw->nvmap) {
			lathe_tir_var *nv = lathe_tir_new_var(f, v->name, v->dtype);
			rw->vmap[v->id] = lathe_tir_varref(f, nv);
			v = nv;
		}
		lathe_tir_stmt *body = sched_rw_stmt(rw, s->body);
		if (s->kind == LATHE_TIR_S_FOR)
			return lathe_tir_for(f, v, lo, ext, s->for_kind, body);
		return lathe_tir_let(f, v, val, body);
	}
	case LATHE_TIR_S_STORE: {
		int r = s->buf->rank;
		lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, r + 1);
		for (int i = 0; i < r; i++)
			idx[i] = sched_rw_expr(rw, s->idx[i]);
		lathe_tir_stmt *n = lathe_tir_store(f, s->buf, idx, sched_rw_expr(rw, s->value));
		return rw->store ? rw->store(rw, n) : n;
	}
	case LATHE_TIR_S_SEQ: {
		lathe_tir_stmt **v = lathe_arena_new(f->arena, lathe_tir_stmt *, s->n + 1);
		for (int i = 0; i < s->n; i++)
			v[i] = sched_rw_stmt(rw, s->stmts[i]);
		return lathe_tir_seq(f, s->n, v);
	}
	case LATHE_TIR_S_IF: {
		lathe_tir_expr *c = sched_rw_expr(rw, s->cond);
		lathe_tir_stmt *t = sched_rw_stmt(rw, s->body);
		lathe_tir_stmt *e = s->orelse ? sched_rw_stmt(rw, s->orelse) : NULL;
		return lathe_tir_if(f, c, t, e);
	}
	case LATHE_TIR_S_CALL: {
		lathe_tir_arg *args = lathe_arena_new(f->arena, lathe_tir_arg, s->nargs + 1);
		for (int i = 0; i < s->nargs; i++) {
			args[i] = s->args[i];
			if (args[i].kind == LATHE_TIR_ARG_VALUE) {
				args[i].value = sched_rw_expr(rw, args[i].value);
				continue;
			}
			int r = args[i].buf->rank;
			args[i].idx = lathe_arena_new(f->arena, lathe_tir_expr *, r + 1);
			for (int k = 0; k < r; k++)
				args[i].idx[k] = sched_rw_expr(rw, s->args[i].idx[k]);
		}
		return lathe_tir_call(f, s->callee, s->nargs, args);
	}
	}
	lathe_die("bad statement kind %d", s->kind);
}

lathe_tir_stmt *sched_subst1(lathe_tir_func *f, lathe_tir_stmt *s, lathe_tir_var *v,
			     lathe_tir_expr *e)
{
	sched_rw rw;
	sched_rw_init(&rw, f);
	sched_rw_set(&rw, v, e);
	lathe_tir_stmt *r = sched_rw_stmt(&rw, s);
	sched_rw_deinit(&rw);
	return r;
}

/* ---- lookup by name ----------------------------------------------------------- */

lathe_tir_var *lathe_sched_var(const lathe_tir_func *f, const char *name)
{
	for (size_t i = 0; i < f->vars.len; i++)
		if (!strcmp(f->vars.data[i]->name, name))
			return f->vars.data[i];
	return NULL;
}

lathe_tir_buf *lathe_sched_buf(const lathe_tir_func *f, const char *name)
{
	for (size_t i = 0; i < f->bufs.len; i++)
		if (!strcmp(f->bufs.data[i]->name, name))
			return f->bufs.data[i];
	return NULL;
}
