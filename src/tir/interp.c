/* interp.c: the loop-IR interpreter, lathe's reference backend.
 *
 * Tests, constant folding and the differential checks of the other backends
 * run programs here, so correctness comes first: every operator goes
 * through scalar.c (the one definition of the IR's arithmetic), every load
 * and store is bounds-checked, and integer division by zero is an error
 * returned to the caller, never a trap.
 *
 * For speed the function is first translated into a private tree (in a
 * scratch arena, once per call) in which variables are slot numbers,
 * buffers carry precomputed strides, and the common operators on i64, f32
 * and f64 have their own opcodes that skip the generic dispatch; the inner
 * loop then allocates nothing.  An error met inside an expression is
 * recorded and a harmless value returned; the enclosing statement checks
 * for it before storing anything, and execution unwinds.
 *
 * Requires: a function that passes lathe_tir_verify (checked here first).
 * Parallel, vectorized and unrolled loops run as serial loops.
 */
#include <stdlib.h>
#include <string.h>

#include "lathe_rt_ukernel.h"
#include "tir/tir_impl.h"

enum {
	X_CONST, X_VAR, X_LOAD, X_LOAD_F32, X_LOAD_I64, X_LOAD_F64,
	X_UNARY, X_BIN, X_SELECT, X_CAST,
	X_ADD_I64, X_SUB_I64, X_MUL_I64, X_MIN_I64, X_MAX_I64,
	X_LT_I64, X_LE_I64, X_GT_I64, X_GE_I64, X_EQ_I64, X_NE_I64,
	X_FLOORDIV_I64, X_FLOORMOD_I64,
	X_ADDK_I64, X_MULK_I64, X_FLOORDIVK_I64, X_FLOORMODK_I64,
	X_ADD_F32, X_SUB_F32, X_MUL_F32, X_DIV_F32, X_MIN_F32, X_MAX_F32,
	X_ADD_F64, X_SUB_F64, X_MUL_F64, X_DIV_F64,
};

typedef struct cx {
	int32_t op;
	int32_t dt;     /* result dtype */
	int32_t sub;    /* UNARY/BIN: the IR operator */
	int32_t from;   /* UNARY/BIN/CAST: the operand dtype */
	int32_t slot;   /* VAR: variable id; LOAD: buffer id */
	int32_t rank;   /* LOAD */
	lathe_tir_val k; /* CONST, and the constant operand of the K forms */
	struct cx *a, *b, *c;
	struct cx **idx;
	const lathe_tir_expr *src; /* for messages */
} cx;

enum { S_FOR, S_STORE, S_STORE_F32, S_STORE_I64, S_SEQ, S_IF, S_LET, S_CALL };

/* A translated call: its kernel and room for its evaluated arguments. */
typedef struct ccall {
	const lathe_tir_stmt *src;
	lathe_rt_uk_fn fn;
	int nptr, nint, nflt;
	int32_t *slot;  /* per argument: buffer id, or -1 for a value */
	cx ***idx;      /* per pointer argument */
	cx **val;       /* per value argument (NULL for pointers) */
	void **ptr;
	int64_t *avail, *ints;
	double *flts;
} ccall;

typedef struct cs {
	int32_t kind;
	int32_t slot; /* FOR, LET: variable id; STORE: buffer id */
	int32_t rank;
	cx *lo, *ext, *value, *cond;
	cx **idx;
	struct cs *body, *orelse;
	struct cs **stmts;
	int32_t n;
	ccall *call;
} cs;

typedef struct rbuf {
	char *data;
	const int64_t *shape;
	int64_t *stride; /* in elements */
	size_t esize;
	int32_t dtype, rank;
	const char *name;
} rbuf;

typedef struct interp {
	const lathe_tir_func *f;
	lathe_tir_val *slots;
	rbuf *bufs;
	lathe_err err;
	lathe_arena *scratch;
} interp;

/* ---- translation ---------------------------------------------------------- */

static cx *cexpr(interp *ip, const lathe_tir_expr *e);

static cx **cidx(interp *ip, int n, lathe_tir_expr *const *idx)
{
	cx **r = lathe_arena_new(ip->scratch, cx *, n);
	for (int i = 0; i < n; i++)
		r[i] = cexpr(ip, idx[i]);
	return r;
}

static int fast_binary(int op, int dt, const cx *b)
{
	bool kb = b->op == X_CONST;
	if (dt == LATHE_DT_I64) {
		switch (op) {
		case LATHE_TIR_ADD: return kb ? X_ADDK_I64 : X_ADD_I64;
		case LATHE_TIR_SUB: return X_SUB_I64;
		case LATHE_TIR_MUL: return kb ? X_MULK_I64 : X_MUL_I64;
		case LATHE_TIR_MIN: return X_MIN_I64;
		case LATHE_TIR_MAX: return X_MAX_I64;
		case LATHE_TIR_LT: return X_LT_I64;
		case LATHE_TIR_LE: return X_LE_I64;
		case LATHE_TIR_GT: return X_GT_I64;
		case LATHE_TIR_GE: return X_GE_I64;
		case LATHE_TIR_EQ: return X_EQ_I64;
		case LATHE_TIR_NE: return X_NE_I64;
		/* Constant divisors other than 0 and -1 cannot fail or overflow. */
		case LATHE_TIR_FLOORDIV:
			return kb && b->k.i > 0 ? X_FLOORDIVK_I64 : X_FLOORDIV_I64;
		case LATHE_TIR_FLOORMOD:
			return kb && b->k.i > 0 ? X_FLOORMODK_I64 : X_FLOORMOD_I64;
		}
	} else if (dt == LATHE_DT_F32) {
		switch (op) {
		case LATHE_TIR_ADD: return X_ADD_F32;
		case LATHE_TIR_SUB: return X_SUB_F32;
		case LATHE_TIR_MUL: return X_MUL_F32;
		case LATHE_TIR_DIV: return X_DIV_F32;
		case LATHE_TIR_MIN: return X_MIN_F32;
		case LATHE_TIR_MAX: return X_MAX_F32;
		}
	} else if (dt == LATHE_DT_F64) {
		switch (op) {
		case LATHE_TIR_ADD: return X_ADD_F64;
		case LATHE_TIR_SUB: return X_SUB_F64;
		case LATHE_TIR_MUL: return X_MUL_F64;
		case LATHE_TIR_DIV: return X_DIV_F64;
		}
	}
	return X_BIN;
}

static cx *cexpr(interp *ip, const lathe_tir_expr *e)
{
	cx *x = lathe_arena_new(ip->scratch, cx, 1);
	x->dt = e->dtype;
	x->src = e;
	switch (e->kind) {
	case LATHE_TIR_E_INT:
		x->op = X_CONST;
		x->k.i = e->u.i;
		break;
	case LATHE_TIR_E_FLOAT:
		x->op = X_CONST;
		x->k.f = e->u.f;
		break;
	case LATHE_TIR_E_VAR:
		x->op = X_VAR;
		x->slot = e->u.var->id;
		break;
	case LATHE_TIR_E_LOAD:
		x->op = e->dtype == LATHE_DT_F32 ? X_LOAD_F32
			: e->dtype == LATHE_DT_I64 ? X_LOAD_I64
			: e->dtype == LATHE_DT_F64 ? X_LOAD_F64 : X_LOAD;
		x->slot = e->u.buf->id;
		x->rank = e->u.buf->rank;
		x->idx = cidx(ip, x->rank, e->idx);
		break;
	case LATHE_TIR_E_UNARY:
		x->op = X_UNARY;
		x->sub = e->op;
		x->from = e->a->dtype;
		x->a = cexpr(ip, e->a);
		break;
	case LATHE_TIR_E_BINARY:
		x->sub = e->op;
		x->from = e->a->dtype;
		x->a = cexpr(ip, e->a);
		x->b = cexpr(ip, e->b);
		x->op = fast_binary(e->op, x->from, x->b);
		x->k = x->b->k;
		break;
	case LATHE_TIR_E_SELECT:
		x->op = X_SELECT;
		x->a = cexpr(ip, e->a);
		x->b = cexpr(ip, e->b);
		x->c = cexpr(ip, e->c);
		break;
	case LATHE_TIR_E_CAST:
		x->op = X_CAST;
		x->from = e->a->dtype;
		x->a = cexpr(ip, e->a);
		break;
	}
	return x;
}

static cs *cstmt(interp *ip, const lathe_tir_stmt *s)
{
	cs *c = lathe_arena_new(ip->scratch, cs, 1);
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		c->kind = S_FOR;
		c->slot = s->var->id;
		c->lo = cexpr(ip, s->lo);
		c->ext = cexpr(ip, s->extent);
		c->body = cstmt(ip, s->body);
		break;
	case LATHE_TIR_S_STORE:
		c->kind = s->buf->dtype == LATHE_DT_F32 ? S_STORE_F32
			: s->buf->dtype == LATHE_DT_I64 ? S_STORE_I64 : S_STORE;
		c->slot = s->buf->id;
		c->rank = s->buf->rank;
		c->idx = cidx(ip, c->rank, s->idx);
		c->value = cexpr(ip, s->value);
		break;
	case LATHE_TIR_S_SEQ:
		c->kind = S_SEQ;
		c->n = s->n;
		c->stmts = lathe_arena_new(ip->scratch, cs *, s->n);
		for (int32_t i = 0; i < s->n; i++)
			c->stmts[i] = cstmt(ip, s->stmts[i]);
		break;
	case LATHE_TIR_S_IF:
		c->kind = S_IF;
		c->cond = cexpr(ip, s->cond);
		c->body = cstmt(ip, s->body);
		c->orelse = s->orelse ? cstmt(ip, s->orelse) : NULL;
		break;
	case LATHE_TIR_S_LET:
		c->kind = S_LET;
		c->slot = s->var->id;
		c->value = cexpr(ip, s->value);
		c->body = cstmt(ip, s->body);
		break;
	case LATHE_TIR_S_CALL: {
		c->kind = S_CALL;
		ccall *k = c->call = lathe_arena_new(ip->scratch, ccall, 1);
		int n = s->nargs;
		k->src = s;
		k->fn = lathe_rt_uk_find(s->callee, NULL);
		k->slot = lathe_arena_new(ip->scratch, int32_t, n + 1);
		k->idx = lathe_arena_new(ip->scratch, cx **, n + 1);
		k->val = lathe_arena_new(ip->scratch, cx *, n + 1);
		k->ptr = lathe_arena_new(ip->scratch, void *, n + 1);
		k->avail = lathe_arena_new(ip->scratch, int64_t, n + 1);
		k->ints = lathe_arena_new(ip->scratch, int64_t, n + 1);
		k->flts = lathe_arena_new(ip->scratch, double, n + 1);
		for (int i = 0; i < n; i++) {
			const lathe_tir_arg *a = &s->args[i];
			if (a->kind == LATHE_TIR_ARG_VALUE) {
				k->slot[i] = -1;
				k->val[i] = cexpr(ip, a->value);
			} else {
				k->slot[i] = a->buf->id;
				k->idx[i] = cidx(ip, a->buf->rank, a->idx);
			}
		}
		break;
	}
	}
	return c;
}

/* ---- evaluation ----------------------------------------------------------- */

static lathe_tir_val ev(interp *ip, const cx *x);

static void fail(interp *ip, lathe_err e)
{
	if (!ip->err)
		ip->err = e;
	else
		lathe_error_free(e);
}

/* Out-of-bounds access: re-evaluates the (pure) indices for the message. */
static void fail_bounds(interp *ip, const rbuf *b, cx *const *idx, const char *what)
{
	if (ip->err)
		return;
	lathe_buf m = {0};
	lathe_buf_printf(&m, "%s %%%s index [", what, b->name);
	for (int k = 0; k < b->rank; k++)
		lathe_buf_printf(&m, "%s%lld", k ? ", " : "", (long long)ev(ip, idx[k]).i);
	lathe_buf_puts(&m, "] out of bounds of [");
	for (int k = 0; k < b->rank; k++)
		lathe_buf_printf(&m, "%s%lld", k ? ", " : "", (long long)b->shape[k]);
	lathe_buf_puts(&m, "]");
	fail(ip, lathe_error(LATHE_EINVAL, "%s", m.data));
	lathe_buf_free(&m);
}

/* Flat element offset, or -1 (error recorded) when out of bounds. */
static inline int64_t offset(interp *ip, const rbuf *b, cx *const *idx, const char *what)
{
	int64_t off = 0;
	for (int k = 0; k < b->rank; k++) {
		int64_t v = ev(ip, idx[k]).i;
		if ((uint64_t)v >= (uint64_t)b->shape[k]) {
			fail_bounds(ip, b, idx, what);
			return -1;
		}
		off += v * b->stride[k];
	}
	return off;
}

static void fail_div(interp *ip, const cx *x)
{
	if (ip->err)
		return;
	lathe_buf m = {0};
	lathe_tir_print_expr(&m, x->src);
	fail(ip, lathe_error(LATHE_EINVAL, "integer division by zero in %s", m.data));
	lathe_buf_free(&m);
}

static inline lathe_tir_val vi(int64_t i)
{
	lathe_tir_val v;
	v.i = i;
	return v;
}

static inline lathe_tir_val vf(double f)
{
	lathe_tir_val v;
	v.f = f;
	return v;
}

static int64_t floordiv_i64(int64_t a, int64_t b)
{
	if (b == -1)
		return (int64_t)(0 - (uint64_t)a);
	int64_t q = a / b;
	if (a % b != 0 && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64_t floormod_i64(int64_t a, int64_t b)
{
	if (b == -1)
		return 0;
	int64_t r = a % b;
	if (r != 0 && ((r < 0) != (b < 0)))
		r += b;
	return r;
}

static lathe_tir_val ev(interp *ip, const cx *x)
{
	lathe_tir_val a, b;
	switch (x->op) {
	case X_CONST:
		return x->k;
	case X_VAR:
		return ip->slots[x->slot];
	case X_LOAD_F32: {
		const rbuf *rb = &ip->bufs[x->slot];
		int64_t off = offset(ip, rb, x->idx, "load from");
		if (off < 0)
			return vi(0);
		float f;
		memcpy(&f, rb->data + off * 4, 4);
		return vf(f);
	}
	case X_LOAD_I64: case X_LOAD_F64: {
		const rbuf *rb = &ip->bufs[x->slot];
		int64_t off = offset(ip, rb, x->idx, "load from");
		if (off < 0)
			return vi(0);
		memcpy(&a, rb->data + off * 8, 8);
		return a;
	}
	case X_LOAD: {
		const rbuf *rb = &ip->bufs[x->slot];
		int64_t off = offset(ip, rb, x->idx, "load from");
		if (off < 0)
			return vi(0);
		return lathe_tir_load_raw(rb->dtype, rb->data + (size_t)off * rb->esize);
	}
	case X_UNARY:
		return lathe_tir_eval_unary(x->sub, x->from, ev(ip, x->a));
	case X_BIN: {
		lathe_tir_val r;
		a = ev(ip, x->a);
		b = ev(ip, x->b);
		if (!lathe_tir_eval_binary(x->sub, x->from, a, b, &r))
			fail_div(ip, x);
		return r;
	}
	case X_SELECT:
		return ev(ip, x->a).i ? ev(ip, x->b) : ev(ip, x->c);
	case X_CAST:
		return lathe_tir_eval_cast(x->dt, x->from, ev(ip, x->a));
	case X_ADD_I64: return vi((int64_t)(ev(ip, x->a).u + ev(ip, x->b).u));
	case X_SUB_I64: a = ev(ip, x->a); return vi((int64_t)(a.u - ev(ip, x->b).u));
	case X_MUL_I64: return vi((int64_t)(ev(ip, x->a).u * ev(ip, x->b).u));
	case X_ADDK_I64: return vi((int64_t)(ev(ip, x->a).u + x->k.u));
	case X_MULK_I64: return vi((int64_t)(ev(ip, x->a).u * x->k.u));
	case X_MIN_I64: a = ev(ip, x->a); b = ev(ip, x->b); return b.i < a.i ? b : a;
	case X_MAX_I64: a = ev(ip, x->a); b = ev(ip, x->b); return b.i > a.i ? b : a;
	case X_LT_I64: a = ev(ip, x->a); return vi(a.i < ev(ip, x->b).i);
	case X_LE_I64: a = ev(ip, x->a); return vi(a.i <= ev(ip, x->b).i);
	case X_GT_I64: a = ev(ip, x->a); return vi(a.i > ev(ip, x->b).i);
	case X_GE_I64: a = ev(ip, x->a); return vi(a.i >= ev(ip, x->b).i);
	case X_EQ_I64: a = ev(ip, x->a); return vi(a.i == ev(ip, x->b).i);
	case X_NE_I64: a = ev(ip, x->a); return vi(a.i != ev(ip, x->b).i);
	case X_FLOORDIV_I64:
	case X_FLOORMOD_I64:
		a = ev(ip, x->a);
		b = ev(ip, x->b);
		if (b.i == 0) {
			fail_div(ip, x);
			return vi(0);
		}
		return vi(x->op == X_FLOORDIV_I64 ? floordiv_i64(a.i, b.i) : floormod_i64(a.i, b.i));
	case X_FLOORDIVK_I64: return vi(floordiv_i64(ev(ip, x->a).i, x->k.i));
	case X_FLOORMODK_I64: return vi(floormod_i64(ev(ip, x->a).i, x->k.i));
	case X_ADD_F32: a = ev(ip, x->a); return vf((float)(a.f + ev(ip, x->b).f));
	case X_SUB_F32: a = ev(ip, x->a); return vf((float)(a.f - ev(ip, x->b).f));
	case X_MUL_F32: a = ev(ip, x->a); return vf((float)(a.f * ev(ip, x->b).f));
	case X_DIV_F32: a = ev(ip, x->a); return vf((float)(a.f / ev(ip, x->b).f));
	case X_ADD_F64: a = ev(ip, x->a); return vf(a.f + ev(ip, x->b).f);
	case X_SUB_F64: a = ev(ip, x->a); return vf(a.f - ev(ip, x->b).f);
	case X_MUL_F64: a = ev(ip, x->a); return vf(a.f * ev(ip, x->b).f);
	case X_DIV_F64: a = ev(ip, x->a); return vf(a.f / ev(ip, x->b).f);
	case X_MIN_F32: case X_MAX_F32: {
		lathe_tir_val r;
		a = ev(ip, x->a);
		b = ev(ip, x->b);
		lathe_tir_eval_binary(x->sub, LATHE_DT_F32, a, b, &r);
		return r;
	}
	}
	return vi(0);
}

static bool run_call(interp *ip, ccall *k);

static bool run(interp *ip, const cs *s)
{
	switch (s->kind) {
	case S_FOR: {
		int64_t lo = ev(ip, s->lo).i, ext = ev(ip, s->ext).i;
		if (ip->err)
			return false;
		lathe_tir_val *v = &ip->slots[s->slot];
		for (int64_t i = 0; i < ext; i++) {
			v->i = (int64_t)((uint64_t)lo + (uint64_t)i);
			if (!run(ip, s->body))
				return false;
		}
		return true;
	}
	case S_STORE_F32: case S_STORE_I64: case S_STORE: {
		const rbuf *rb = &ip->bufs[s->slot];
		lathe_tir_val v = ev(ip, s->value);
		int64_t off = offset(ip, rb, s->idx, "store to");
		if (ip->err)
			return false;
		char *p = rb->data + (size_t)off * rb->esize;
		if (s->kind == S_STORE_F32) {
			float f = (float)v.f;
			memcpy(p, &f, 4);
		} else if (s->kind == S_STORE_I64) {
			memcpy(p, &v, 8);
		} else {
			lathe_tir_store_raw(rb->dtype, p, v);
		}
		return true;
	}
	case S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			if (!run(ip, s->stmts[i]))
				return false;
		return true;
	case S_IF: {
		int64_t c = ev(ip, s->cond).i;
		if (ip->err)
			return false;
		if (c)
			return run(ip, s->body);
		return s->orelse ? run(ip, s->orelse) : true;
	}
	case S_LET: {
		lathe_tir_val v = ev(ip, s->value);
		if (ip->err)
			return false;
		ip->slots[s->slot] = v;
		return run(ip, s->body);
	}
	case S_CALL:
		return run_call(ip, s->call);
	}
	return true;
}

/* Evaluates the arguments (pointers bounds-checked) and calls the kernel,
 * serially; its reason becomes the error. */
static bool run_call(interp *ip, ccall *k)
{
	const lathe_tir_stmt *s = k->src;
	int np = 0, ni = 0, nf = 0;
	for (int i = 0; i < s->nargs; i++) {
		if (k->slot[i] < 0) {
			lathe_tir_val v = ev(ip, k->val[i]);
			if (k->val[i]->dt == LATHE_DT_F64)
				k->flts[nf++] = v.f;
			else
				k->ints[ni++] = v.i;
			continue;
		}
		const rbuf *rb = &ip->bufs[k->slot[i]];
		int64_t off = offset(ip, rb, k->idx[i], "pointer into");
		if (off < 0)
			return false;
		int64_t numel = 1;
		for (int d = 0; d < rb->rank; d++)
			numel *= rb->shape[d];
		k->ptr[np] = rb->data + (size_t)off * rb->esize;
		k->avail[np++] = numel - off;
	}
	if (ip->err)
		return false;
	char why[256] = "";
	lathe_rt_uk_args a = {.pool = NULL, .ptr = k->ptr, .avail = k->avail, .nptr = np,
			      .ip = k->ints, .nip = ni, .fp = k->flts, .nfp = nf, .err = why,
			      .err_size = sizeof why};
	if (!k->fn || k->fn(&a)) {
		fail(ip, lathe_error(LATHE_EINVAL, "call @%s: %s", s->callee,
				     why[0] ? why : "the kernel failed"));
		return false;
	}
	return true;
}

/* ---- entry ---------------------------------------------------------------- */

static lathe_err setup_bufs(interp *ip, void *const *args, void **owned)
{
	const lathe_tir_func *f = ip->f;
	for (size_t i = 0; i < f->bufs.len; i++) {
		const lathe_tir_buf *b = f->bufs.data[i];
		rbuf *r = &ip->bufs[i];
		int64_t numel;
		LATHE_TRYF(lathe_shape_numel(b->rank, b->shape, &numel), "%%%s", b->name);
		r->name = b->name;
		r->dtype = b->dtype;
		r->rank = b->rank;
		r->shape = b->shape;
		r->esize = lathe_dtype_size(b->dtype);
		r->stride = lathe_arena_new(ip->scratch, int64_t, b->rank);
		/* Products stay below numel, which is bounded; an empty buffer
		 * keeps zero strides (no index of it is ever in bounds). */
		int64_t s = 1;
		for (int k = b->rank - 1; k >= 0 && numel > 0; k--) {
			r->stride[k] = s;
			s *= b->shape[k];
		}
		if (b->kind == LATHE_TIR_PARAM) {
			r->data = args ? args[i] : NULL;
			if (!r->data && numel > 0)
				return lathe_error(LATHE_EINVAL, "parameter %%%s: no data given", b->name);
		} else {
			owned[i] = calloc((size_t)(numel > 0 ? numel : 1), r->esize);
			if (!owned[i])
				return lathe_error(LATHE_ENOMEM, "local %%%s: cannot allocate %lld elements of %s",
						   b->name, (long long)numel, lathe_dtype_name(b->dtype));
			r->data = owned[i];
		}
	}
	return NULL;
}

lathe_err lathe_tir_interp(const lathe_tir_func *f, void *const *args)
{
	LATHE_TRY(lathe_tir_verify(f));
	interp ip = {0};
	ip.f = f;
	ip.scratch = lathe_arena_create();
	ip.slots = lathe_arena_new(ip.scratch, lathe_tir_val, f->vars.len + 1);
	ip.bufs = lathe_arena_new(ip.scratch, rbuf, f->bufs.len + 1);
	void **owned = lathe_xcalloc(f->bufs.len + 1, sizeof *owned);
	lathe_err err = setup_bufs(&ip, args, owned);
	if (!err) {
		cs *body = cstmt(&ip, f->body);
		run(&ip, body);
		err = ip.err;
	}
	for (size_t i = 0; i < f->bufs.len; i++)
		free(owned[i]);
	free(owned);
	lathe_arena_destroy(ip.scratch);
	return err ? lathe_error_wrap(err, "func @%s", f->name) : NULL;
}
