/* c_vec.c: vectorized loops as GCC vector-extension code.
 *
 * A loop marked vectorized promises independent iterations.  When its body
 * is simple enough, it is printed as a vector loop of L lanes (one C
 * vector per value; lane i computes iteration V + i) followed by a scalar
 * loop for the remaining iterations; otherwise (c.c) as a scalar loop with
 * an ivdep pragma, which the C compiler may still vectorize.
 *
 * What "simple enough" means, so that the vector code computes exactly
 * what the scalar loop computes:
 *   - the body is stores and lets only (no loops, no ifs);
 *   - values that depend on the loop variable are f32 or f64 (or masks
 *     from comparing them), combined with + - * / min max neg abs select
 *     and f32<->f64 casts: these are exact lane by lane, so vector and
 *     scalar results are the same bits;
 *   - every access that depends on the loop variable is contiguous in it
 *     (the flat offset is V + something uniform) and unchecked; stores
 *     depend on it (a store to one element would be a reduction);
 *   - a select whose condition varies evaluates both arms, so a load in an
 *     arm must also occur unguarded (else it might be out of bounds in the
 *     lanes the condition rejects: padding);
 *   - a buffer that is stored is only loaded at the very index it is
 *     stored at, and stored at one index (lanes then cannot see each
 *     other's writes out of order);
 *   - nothing can fail (no checked index, no integer division).
 * Values that do not depend on the loop variable ("uniform") are computed
 * as scalars and splatted.
 *
 * Lanes: the loop's extent when it is a power of two of at most 64 bytes
 * (the schedule split it to the target's vector width), else
 * vector_bytes / element size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/c_impl.h"

enum { U = 0, VF32, VF64, VM32, VM64, BAD = -1 };

typedef struct vstore {
	const lathe_tir_buf *buf;
	lathe_tir_expr *const *idx;
} vstore;

typedef struct vx {
	cg *c;
	const lathe_tir_var *v;
	bool *vary;  /* per variable: a let in the body bound to a varying value */
	int *vkind;  /* per variable: its kind, when varying */
	LATHE_VEC(const lathe_tir_expr *) loads; /* unguarded varying or uniform loads */
	LATHE_VEC(vstore) stores;
	int lanes;
	/* 1: collecting unguarded loads; 2: checking guarded ones against
	 * them; 3: printing (the plan holds). */
	int pass;
} vx;

static bool expr_eq(const lathe_tir_expr *a, const lathe_tir_expr *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->kind != b->kind || a->dtype != b->dtype || a->op != b->op)
		return false;
	switch (a->kind) {
	case LATHE_TIR_E_INT: return a->u.i == b->u.i;
	case LATHE_TIR_E_FLOAT: return !memcmp(&a->u.f, &b->u.f, sizeof a->u.f);
	case LATHE_TIR_E_VAR: return a->u.var == b->u.var;
	case LATHE_TIR_E_LOAD:
		if (a->u.buf != b->u.buf)
			return false;
		for (int k = 0; k < a->u.buf->rank; k++)
			if (!expr_eq(a->idx[k], b->idx[k]))
				return false;
		return true;
	}
	return expr_eq(a->a, b->a) && expr_eq(a->b, b->b) && expr_eq(a->c, b->c);
}

static bool idx_eq(const lathe_tir_buf *b, lathe_tir_expr *const *x, lathe_tir_expr *const *y)
{
	for (int k = 0; k < b->rank; k++)
		if (!expr_eq(x[k], y[k]))
			return false;
	return true;
}

/* Whether e depends on the loop variable (directly or through a let). */
static bool depends(const vx *x, const lathe_tir_expr *e)
{
	if (!e)
		return false;
	switch (e->kind) {
	case LATHE_TIR_E_VAR: return e->u.var == x->v || x->vary[e->u.var->id];
	case LATHE_TIR_E_INT: case LATHE_TIR_E_FLOAT: return false;
	case LATHE_TIR_E_LOAD:
		for (int k = 0; k < e->u.buf->rank; k++)
			if (depends(x, e->idx[k]))
				return true;
		return false;
	}
	return depends(x, e->a) || depends(x, e->b) || depends(x, e->c);
}

/* e = v + (uniform), possibly nested: coefficient one in v. */
static bool unit(const vx *x, const lathe_tir_expr *e)
{
	if (e->kind == LATHE_TIR_E_VAR)
		return e->u.var == x->v;
	if (e->kind != LATHE_TIR_E_BINARY || e->dtype != LATHE_DT_I64)
		return false;
	if (e->op == LATHE_TIR_ADD)
		return (unit(x, e->a) && !depends(x, e->b)) || (!depends(x, e->a) && unit(x, e->b));
	if (e->op == LATHE_TIR_SUB)
		return unit(x, e->a) && !depends(x, e->b);
	return false;
}

/* A varying access: contiguous in v, unchecked, in memory. */
static bool contiguous(const vx *x, const lathe_tir_buf *b, lathe_tir_expr *const *idx)
{
	const cg_buf *bi = &x->c->b[b->id];
	if (bi->storage == CG_AUTO)
		return false;
	int64_t coef = 0;
	for (int k = 0; k < b->rank; k++) {
		if (cg_checked(x->c, idx[k]) || cg_may_fail(x->c, idx[k]))
			return false;
		if (!depends(x, idx[k]))
			continue;
		if (!unit(x, idx[k]))
			return false;
		coef += bi->stride[k];
	}
	return coef == 1;
}

static int fkind(int dt)
{
	return dt == LATHE_DT_F32 ? VF32 : dt == LATHE_DT_F64 ? VF64 : BAD;
}

/* The kind of e: U (uniform), a vector kind, or BAD.  `guarded`: inside an
 * arm of a varying select. */
static int kind_of(vx *x, const lathe_tir_expr *e, bool guarded);

static int mask_of(int k)
{
	return k == VF32 ? VM32 : k == VF64 ? VM64 : BAD;
}

static int kind_binary(vx *x, const lathe_tir_expr *e, bool guarded)
{
	int ka = kind_of(x, e->a, guarded), kb = kind_of(x, e->b, guarded);
	if (ka == BAD || kb == BAD)
		return BAD;
	int dt = e->a->dtype;
	if (dt == LATHE_DT_BOOL) {
		if (e->op != LATHE_TIR_AND && e->op != LATHE_TIR_OR && e->op != LATHE_TIR_XOR)
			return BAD;
		if (ka != U && kb != U && ka != kb)
			return BAD;
		return ka != U ? ka : kb;
	}
	int k = fkind(dt);
	if (k == BAD)
		return BAD;
	switch (e->op) {
	case LATHE_TIR_ADD: case LATHE_TIR_SUB: case LATHE_TIR_MUL: case LATHE_TIR_DIV:
	case LATHE_TIR_MIN: case LATHE_TIR_MAX:
		return k;
	case LATHE_TIR_EQ: case LATHE_TIR_NE: case LATHE_TIR_LT: case LATHE_TIR_LE:
	case LATHE_TIR_GT: case LATHE_TIR_GE:
		return mask_of(k);
	}
	return BAD;
}

static int kind_of(vx *x, const lathe_tir_expr *e, bool guarded)
{
	if (!depends(x, e)) {
		/* Uniform: printed as a scalar by cg_expr, evaluated every vector
		 * iteration whatever any condition says. */
		if (x->pass < 3 && cg_may_fail(x->c, e))
			return BAD;
		return U;
	}
	switch (e->kind) {
	case LATHE_TIR_E_VAR:
		return e->u.var == x->v ? BAD : x->vkind[e->u.var->id];
	case LATHE_TIR_E_LOAD: {
		int k = fkind(e->dtype);
		if (x->pass == 3)
			return k;
		if (k == BAD || !contiguous(x, e->u.buf, e->idx))
			return BAD;
		if (!guarded) {
			lathe_vec_push(&x->loads, e);
			return k;
		}
		if (x->pass == 1)
			return k;
		for (size_t i = 0; i < x->loads.len; i++)
			if (expr_eq(x->loads.data[i], e))
				return k;
		return BAD;
	}
	case LATHE_TIR_E_UNARY: {
		int k = kind_of(x, e->a, guarded);
		if (k == BAD)
			return BAD;
		if (e->op == LATHE_TIR_NOT && e->a->dtype == LATHE_DT_BOOL)
			return k;
		if ((e->op == LATHE_TIR_NEG || e->op == LATHE_TIR_ABS) && fkind(e->a->dtype) != BAD)
			return k;
		return BAD;
	}
	case LATHE_TIR_E_BINARY:
		return kind_binary(x, e, guarded);
	case LATHE_TIR_E_SELECT: {
		int kc = kind_of(x, e->a, guarded);
		if (kc == BAD || fkind(e->dtype) == BAD)
			return BAD;
		/* Both arms are evaluated in vector code. */
		int ka = kind_of(x, e->b, true), kb = kind_of(x, e->c, true);
		int k = fkind(e->dtype);
		if (ka == BAD || kb == BAD || (kc != U && kc != mask_of(k)))
			return BAD;
		return k;
	}
	case LATHE_TIR_E_CAST: {
		int k = kind_of(x, e->a, guarded);
		if (k == BAD || fkind(e->dtype) == BAD || fkind(e->a->dtype) == BAD)
			return BAD;
		return fkind(e->dtype);
	}
	}
	return BAD;
}

/* Loads (unguarded ones first: a guarded load may be matched by one that
 * comes later in the text, so expressions are walked twice). */
static bool plan_body(vx *x, const lathe_tir_stmt *s)
{
	switch (s->kind) {
	case LATHE_TIR_S_STORE: {
		if (fkind(s->buf->dtype) == BAD || !contiguous(x, s->buf, s->idx))
			return false;
		int k = kind_of(x, s->value, false);
		if (k == BAD || (k != U && k != fkind(s->buf->dtype)))
			return false;
		vstore st = {s->buf, s->idx};
		lathe_vec_push(&x->stores, st);
		return true;
	}
	case LATHE_TIR_S_LET: {
		int k = kind_of(x, s->value, false);
		if (k == BAD)
			return false;
		if (k != U) {
			x->vary[s->var->id] = true;
			x->vkind[s->var->id] = k;
		}
		return plan_body(x, s->body);
	}
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			if (!plan_body(x, s->stmts[i]))
				return false;
		return true;
	}
	return false;
}

static bool aliasing_ok(const vx *x)
{
	for (size_t i = 0; i < x->stores.len; i++) {
		const vstore *st = &x->stores.data[i];
		for (size_t j = 0; j < x->stores.len; j++)
			if (x->stores.data[j].buf == st->buf && !idx_eq(st->buf, st->idx, x->stores.data[j].idx))
				return false;
		for (size_t j = 0; j < x->loads.len; j++) {
			const lathe_tir_expr *l = x->loads.data[j];
			if (l->u.buf == st->buf && !idx_eq(st->buf, st->idx, l->idx))
				return false;
		}
	}
	return true;
}

/* Uniform loads of stored buffers are not in x->loads (they were not
 * varying); check them too. */
static bool uniform_loads_ok(const vx *x, const lathe_tir_expr *e)
{
	if (!e)
		return true;
	if (e->kind == LATHE_TIR_E_LOAD) {
		for (size_t i = 0; i < x->stores.len; i++)
			if (x->stores.data[i].buf == e->u.buf && !depends(x, e))
				return false;
		for (int k = 0; k < e->u.buf->rank; k++)
			if (!uniform_loads_ok(x, e->idx[k]))
				return false;
		return true;
	}
	return uniform_loads_ok(x, e->a) && uniform_loads_ok(x, e->b) && uniform_loads_ok(x, e->c);
}

static bool uniform_loads_stmt(const vx *x, const lathe_tir_stmt *s)
{
	switch (s->kind) {
	case LATHE_TIR_S_STORE:
		for (int k = 0; k < s->buf->rank; k++)
			if (!uniform_loads_ok(x, s->idx[k]))
				return false;
		return uniform_loads_ok(x, s->value);
	case LATHE_TIR_S_LET:
		return uniform_loads_ok(x, s->value) && uniform_loads_stmt(x, s->body);
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			if (!uniform_loads_stmt(x, s->stmts[i]))
				return false;
		return true;
	}
	return false;
}

/* ---- printing ------------------------------------------------------------------ */

static const char *vt(const vx *x, int k)
{
	return lathe_arena_printf(x->c->a, "lc_v%s%dx%d", k == VF32 || k == VF64 ? "f" : "i",
				  k == VF32 || k == VM32 ? 32 : 64, x->lanes);
}

static const char *mt_of(const vx *x, int k)
{
	return vt(x, k == VF32 ? VM32 : VM64);
}

static void vexpr(vx *x, const lathe_tir_expr *e, int want);

/* e printed as a vector of kind `want` (splatted if uniform). */
static void vexpr(vx *x, const lathe_tir_expr *e, int want)
{
	cg *c = x->c;
	int k = kind_of(x, e, true);
	if (k == U) {
		if (want == VM32 || want == VM64) {
			cg_printf(c, "((%s){0} - (%s)", vt(x, want), want == VM32 ? "int32_t" : "int64_t");
			cg_expr(c, e);
			cg_put(c, ")");
		} else {
			cg_printf(c, "LC_VSPLAT(%s, %s, ", vt(x, want), mt_of(x, want));
			cg_expr(c, e);
			cg_put(c, ")");
		}
		return;
	}
	switch (e->kind) {
	case LATHE_TIR_E_VAR:
		cg_put(c, c->v[e->u.var->id].cname);
		return;
	case LATHE_TIR_E_LOAD:
		cg_printf(c, "LC_VLD(%s, &%s[", vt(x, k), cg_bufname(c, e->u.buf));
		cg_offset(c, e->u.buf, e->idx);
		cg_put(c, "])");
		return;
	case LATHE_TIR_E_UNARY:
		if (e->op == LATHE_TIR_NOT) {
			cg_put(c, "(~");
			vexpr(x, e->a, k);
			cg_put(c, ")");
		} else if (e->op == LATHE_TIR_NEG) {
			cg_put(c, "(-");
			vexpr(x, e->a, k);
			cg_put(c, ")");
		} else {
			cg_printf(c, "LC_VABS(%s, %s, ", vt(x, k), mt_of(x, k));
			vexpr(x, e->a, k);
			cg_put(c, k == VF32 ? ", 0x7FFFFFFF)" : ", INT64_MAX)");
		}
		return;
	case LATHE_TIR_E_BINARY: {
		int ok = e->a->dtype == LATHE_DT_BOOL ? k : fkind(e->a->dtype);
		const char *op = NULL;
		switch (e->op) {
		case LATHE_TIR_ADD: op = " + "; break;
		case LATHE_TIR_SUB: op = " - "; break;
		case LATHE_TIR_MUL: op = " * "; break;
		case LATHE_TIR_DIV: op = " / "; break;
		case LATHE_TIR_AND: op = " & "; break;
		case LATHE_TIR_OR: op = " | "; break;
		case LATHE_TIR_XOR: op = " ^ "; break;
		case LATHE_TIR_EQ: op = " == "; break;
		case LATHE_TIR_NE: op = " != "; break;
		case LATHE_TIR_LT: op = " < "; break;
		case LATHE_TIR_LE: op = " <= "; break;
		case LATHE_TIR_GT: op = " > "; break;
		case LATHE_TIR_GE: op = " >= "; break;
		}
		if (e->op == LATHE_TIR_MIN || e->op == LATHE_TIR_MAX) {
			cg_printf(c, "%s(%s, %s, ", e->op == LATHE_TIR_MIN ? "LC_VMIN" : "LC_VMAX", vt(x, k),
				  mt_of(x, k));
			vexpr(x, e->a, k);
			cg_put(c, ", ");
			vexpr(x, e->b, k);
			cg_put(c, ")");
			return;
		}
		bool cmp = (k == VM32 || k == VM64) && e->a->dtype != LATHE_DT_BOOL;
		if (cmp)
			cg_printf(c, "(%s)", vt(x, k));
		cg_put(c, "(");
		vexpr(x, e->a, ok);
		cg_put(c, op);
		vexpr(x, e->b, ok);
		cg_put(c, ")");
		return;
	}
	case LATHE_TIR_E_SELECT:
		cg_printf(c, "LC_VSEL(%s, %s, ", vt(x, k), mt_of(x, k));
		vexpr(x, e->a, k == VF32 ? VM32 : VM64);
		cg_put(c, ", ");
		vexpr(x, e->b, k);
		cg_put(c, ", ");
		vexpr(x, e->c, k);
		cg_put(c, ")");
		return;
	case LATHE_TIR_E_CAST:
		if (e->dtype == e->a->dtype) {
			vexpr(x, e->a, k);
			return;
		}
		cg_put(c, "__builtin_convertvector(");
		vexpr(x, e->a, fkind(e->a->dtype));
		cg_printf(c, ", %s)", vt(x, k));
		return;
	}
}

static void vstmt(vx *x, const lathe_tir_stmt *s)
{
	cg *c = x->c;
	switch (s->kind) {
	case LATHE_TIR_S_STORE: {
		cg_indent(c);
		cg_printf(c, "LC_VST(&%s[", cg_bufname(c, s->buf));
		cg_offset(c, s->buf, s->idx);
		cg_put(c, "], ");
		vexpr(x, s->value, fkind(s->buf->dtype));
		cg_put(c, ");\n");
		return;
	}
	case LATHE_TIR_S_LET: {
		cg_var *v = &c->v[s->var->id];
		cg_line(c, "{");
		c->fn->indent++;
		cg_indent(c);
		if (x->vary[s->var->id]) {
			cg_printf(c, "const %s %s = ", vt(x, x->vkind[s->var->id]), v->cname);
			vexpr(x, s->value, x->vkind[s->var->id]);
		} else {
			cg_printf(c, "const %s %s = ", cg_ctype(s->var->dtype), v->cname);
			cg_expr(c, s->value);
		}
		cg_put(c, ";\n");
		v->in_scope = true;
		vstmt(x, s->body);
		v->in_scope = false;
		c->fn->indent--;
		cg_line(c, "}");
		return;
	}
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			vstmt(x, s->stmts[i]);
		return;
	}
}

bool cg_vec_loop(cg *c, const lathe_tir_stmt *loop)
{
	const lathe_tir_func *f = c->f;
	vx x = {.c = c, .v = loop->var};
	x.vary = lathe_arena_new(c->a, bool, f->vars.len + 1);
	x.vkind = lathe_arena_new(c->a, int, f->vars.len + 1);
	x.pass = 1;
	bool ok = !cg_may_fail(c, loop->lo) && !cg_may_fail(c, loop->extent) &&
		  plan_body(&x, loop->body) && x.stores.len > 0;
	/* Second walk: guarded loads must match unguarded ones (from anywhere
	 * in the body, hence the first walk). */
	if (ok) {
		x.pass = 2;
		x.stores.len = 0;
		ok = plan_body(&x, loop->body) && aliasing_ok(&x) && uniform_loads_stmt(&x, loop->body);
	}
	x.pass = 3;
	int esize = 4;
	for (size_t i = 0; ok && i < f->vars.len; i++)
		if (x.vary[i] && (x.vkind[i] == VF64 || x.vkind[i] == VM64))
			esize = 8;
	for (size_t i = 0; ok && i < x.stores.len; i++)
		if (x.stores.data[i].buf->dtype == LATHE_DT_F64)
			esize = 8;
	for (size_t i = 0; ok && i < x.loads.len; i++)
		if (x.loads.data[i]->dtype == LATHE_DT_F64)
			esize = 8;
	int64_t ext = 0;
	bool kext = cg_const_int(loop->extent, &ext);
	if (ok) {
		if (kext && ext >= 2 && ext <= 16 && (ext & (ext - 1)) == 0 && ext * esize <= 64)
			x.lanes = (int)ext;
		else
			x.lanes = c->o.vector_bytes / esize;
		if (x.lanes < 2 || (kext && ext < x.lanes))
			ok = false;
	}
	lathe_vec_free(&x.loads);
	lathe_vec_free(&x.stores);
	if (!ok)
		return false;

	/* for (V = lo; V + L <= end; V += L) vector body; then the rest. */
	cg_var *v = &c->v[loop->var->id];
	int64_t lo = 0;
	int L = x.lanes;
	v->tainted = false;
	if (kext && cg_const_int(loop->lo, &lo)) {
		int64_t nvec = ext / L * L;
		if (nvec == L)
			cg_line(c, "{ /* %d lanes */", L);
		else
			cg_line(c, "for (int64_t %s = %lld; %s < %lld; %s += %d) {", v->cname, (long long)lo,
				v->cname, (long long)(lo + nvec), v->cname, L);
		c->fn->indent++;
		if (nvec == L)
			cg_line(c, "const int64_t %s = %lld;", v->cname, (long long)lo);
		v->in_scope = true;
		vstmt(&x, loop->body);
		c->fn->indent--;
		cg_line(c, "}");
		memset(x.vary, 0, sizeof(bool) * f->vars.len);
		if (ext % L) {
			cg_line(c, "for (int64_t %s = %lld; %s < %lld; %s++) {", v->cname, (long long)(lo + nvec),
				v->cname, (long long)(lo + ext), v->cname);
			c->fn->indent++;
			cg_stmt(c, loop->body);
			c->fn->indent--;
			cg_line(c, "}");
		}
		v->in_scope = false;
		return true;
	}
	cg_line(c, "{");
	c->fn->indent++;
	cg_indent(c);
	cg_printf(c, "int64_t %s = ", v->cname);
	cg_expr(c, loop->lo);
	cg_put(c, ";\n");
	cg_indent(c);
	cg_printf(c, "const int64_t end_%s = LC_ADD(%s, ", v->cname, v->cname);
	cg_expr(c, loop->extent);
	cg_put(c, ");\n");
	cg_line(c, "for (; %s <= end_%s - %d; %s += %d) {", v->cname, v->cname, L, v->cname, L);
	c->fn->indent++;
	v->in_scope = true;
	vstmt(&x, loop->body);
	c->fn->indent--;
	cg_line(c, "}");
	memset(x.vary, 0, sizeof(bool) * f->vars.len);
	cg_line(c, "for (; %s < end_%s; %s++) {", v->cname, v->cname, v->cname);
	c->fn->indent++;
	cg_stmt(c, loop->body);
	c->fn->indent--;
	cg_line(c, "}");
	v->in_scope = false;
	c->fn->indent--;
	cg_line(c, "}");
	return true;
}
