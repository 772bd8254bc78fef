/* c.c: the C emitter's statements and entry points: one loop-IR function
 * in, one C function (plus the outlined bodies of its parallel loops) out.
 *
 * Memory: parameters come from args[] (unaligned element types, restrict);
 * one-element locals are C variables; other locals sit in the scratch area
 * (args[nparams]), zeroed on entry as the interpreter's are.  A local used
 * only inside one parallel loop is private to it: the loop then runs as a
 * fixed number of tasks, each with its own slot of the scratch area, so no
 * two threads share it.  A parallel loop nested in another runs serially.
 *
 * Errors: a statement whose expressions can fail (c_expr.c: checked
 * indices, integer division) computes its values first, checks err_, and
 * only then stores, so nothing is written when it fails; the function then
 * returns LATHE_RT_EINVAL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/c_impl.h"

enum { MAX_TASKS = 64, ALIGN = 64 };

static size_t align_up(size_t n)
{
	return (n + ALIGN - 1) / ALIGN * ALIGN;
}

/* ---- statements ---------------------------------------------------------------------------- */

/* The C text of an expression, printed aside. */
static char *render(cg *c, const lathe_tir_expr *e)
{
	lathe_buf saved = c->fn->body;
	c->fn->body = (lathe_buf){0};
	cg_expr(c, e);
	char *s = lathe_arena_strdup(c->a, c->fn->body.data ? c->fn->body.data : "");
	lathe_buf_free(&c->fn->body);
	c->fn->body = saved;
	return s;
}

static void fail_check(cg *c)
{
	cg_line(c, "if (LC_UNLIKELY(err_))");
	cg_line(c, "\tgoto fail_;");
	c->fn->err_used = true;
	c->fn->fail_used = true;
}

static bool stmt_uses_var(const lathe_tir_stmt *s, const lathe_tir_var *v)
{
	if (!s)
		return false;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		return cg_uses_var(s->lo, v) || cg_uses_var(s->extent, v) || stmt_uses_var(s->body, v);
	case LATHE_TIR_S_STORE:
		for (int k = 0; k < s->buf->rank; k++)
			if (cg_uses_var(s->idx[k], v))
				return true;
		return cg_uses_var(s->value, v);
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			if (stmt_uses_var(s->stmts[i], v))
				return true;
		return false;
	case LATHE_TIR_S_IF:
		return cg_uses_var(s->cond, v) || stmt_uses_var(s->body, v) ||
		       stmt_uses_var(s->orelse, v);
	case LATHE_TIR_S_LET:
		return cg_uses_var(s->value, v) || stmt_uses_var(s->body, v);
	case LATHE_TIR_S_CALL:
		for (int32_t i = 0; i < s->nargs; i++) {
			const lathe_tir_arg *a = &s->args[i];
			if (a->kind == LATHE_TIR_ARG_VALUE && cg_uses_var(a->value, v))
				return true;
			for (int k = 0; a->kind != LATHE_TIR_ARG_VALUE && k < a->buf->rank; k++)
				if (cg_uses_var(a->idx[k], v))
					return true;
		}
		return false;
	}
	return false;
}

/* Whether every store under s has an index that depends on v: then the
 * iterations of a loop over v plausibly write disjoint elements, and the
 * vectorizer may be told so. */
static bool stores_use_var(const lathe_tir_stmt *s, const lathe_tir_var *v)
{
	if (!s)
		return true;
	switch (s->kind) {
	case LATHE_TIR_S_FOR: case LATHE_TIR_S_LET:
		return stores_use_var(s->body, v);
	case LATHE_TIR_S_STORE:
		for (int k = 0; k < s->buf->rank; k++)
			if (cg_uses_var(s->idx[k], v))
				return true;
		return false;
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			if (!stores_use_var(s->stmts[i], v))
				return false;
		return true;
	case LATHE_TIR_S_IF:
		return stores_use_var(s->body, v) && stores_use_var(s->orelse, v);
	case LATHE_TIR_S_CALL:
		return false;
	}
	return true;
}

static void store(cg *c, const lathe_tir_stmt *s)
{
	const lathe_tir_buf *b = s->buf;
	bool fails = cg_may_fail(c, s->value);
	for (int k = 0; k < b->rank; k++)
		fails |= cg_checked(c, s->idx[k]) || cg_may_fail(c, s->idx[k]);
	char *value = render(c, s->value);
	if (!fails) {
		cg_indent(c);
		cg_access(c, b, s->idx);
		cg_put(c, " = ");
		cg_stored_value(c, b, value);
		cg_put(c, ";\n");
		return;
	}
	/* Value and index first, then the check, then the store: nothing is
	 * written when either fails. */
	cg_line(c, "{");
	c->fn->indent++;
	cg_line(c, "%s t_ = %s;", cg_ctype(s->value->dtype), value);
	const char *name = cg_bufname(c, b);
	if (c->b[b->id].storage == CG_AUTO) {
		for (int k = 0; k < b->rank; k++) {
			if (!cg_checked(c, s->idx[k]))
				continue;
			cg_indent(c);
			cg_put(c, "(void)lc_ix(");
			cg_expr(c, s->idx[k]);
			cg_printf(c, ", %lld, &err_);\n", (long long)b->shape[k]);
		}
		fail_check(c);
		cg_line(c, "%s = t_;", name);
	} else {
		cg_indent(c);
		cg_put(c, "const int64_t o_ = ");
		cg_offset(c, b, s->idx);
		cg_put(c, ";\n");
		fail_check(c);
		cg_indent(c);
		cg_printf(c, "%s[o_] = ", name);
		cg_stored_value(c, b, "t_");
		cg_put(c, ";\n");
	}
	c->fn->indent--;
	cg_line(c, "}");
}

static void parallel(cg *c, const lathe_tir_stmt *s);

/* A serial loop (with a pragma for unrolled and vectorized ones). */
static void serial_for(cg *c, const lathe_tir_stmt *s)
{
	cg_var *v = &c->v[s->var->id];
	char pragma[64] = "";
	int64_t lo, ext;
	bool klo = cg_const_int(s->lo, &lo), kext = cg_const_int(s->extent, &ext);
	if (s->for_kind == LATHE_TIR_UNROLLED)
		snprintf(pragma, sizeof pragma, "LC_UNROLL(%d)", kext ? (int)(ext < 2 ? 1 : ext > 64 ? 64 : ext) : 4);
	else if (s->for_kind == LATHE_TIR_VECTORIZED && stores_use_var(s->body, s->var))
		snprintf(pragma, sizeof pragma, "LC_IVDEP");
	bool block = !(klo && kext);
	if (!block) {
		if (pragma[0])
			cg_line(c, "%s", pragma);
		cg_line(c, "for (int64_t %s = %lld; %s < %lld; %s++) {", v->cname, (long long)lo, v->cname,
			(long long)(int64_t)((uint64_t)lo + (uint64_t)ext), v->cname);
	} else {
		cg_line(c, "{");
		c->fn->indent++;
		char *slo = render(c, s->lo), *sext = render(c, s->extent);
		cg_line(c, "const int64_t lo_%s = %s;", v->cname, slo);
		cg_line(c, "const int64_t end_%s = LC_ADD(lo_%s, %s);", v->cname, v->cname, sext);
		if (cg_may_fail(c, s->lo) || cg_may_fail(c, s->extent))
			fail_check(c);
		if (pragma[0])
			cg_line(c, "%s", pragma);
		cg_line(c, "for (int64_t %s = lo_%s; %s < end_%s; %s++) {", v->cname, v->cname, v->cname,
			v->cname, v->cname);
	}
	c->fn->indent++;
	v->tainted = cg_tainted(c, s->lo) || cg_tainted(c, s->extent);
	v->in_scope = true;
	cg_stmt(c, s->body);
	v->in_scope = false;
	c->fn->indent--;
	cg_line(c, "}");
	if (block) {
		c->fn->indent--;
		cg_line(c, "}");
	}
}

void cg_stmt(cg *c, const lathe_tir_stmt *s)
{
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		if (s->for_kind == LATHE_TIR_PARALLEL && c->fn->par < 0) {
			parallel(c, s);
		} else if (s->for_kind == LATHE_TIR_VECTORIZED && cg_vec_loop(c, s)) {
			/* printed as vector code */
		} else {
			serial_for(c, s);
		}
		return;
	case LATHE_TIR_S_STORE:
		store(c, s);
		return;
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			cg_stmt(c, s->stmts[i]);
		return;
	case LATHE_TIR_S_IF: {
		bool fails = cg_may_fail(c, s->cond);
		char *cond = render(c, s->cond);
		if (fails) {
			cg_line(c, "{");
			c->fn->indent++;
			cg_line(c, "const int c_ = %s;", cond);
			fail_check(c);
			cond = "c_";
		}
		cg_line(c, "if (%s) {", cond);
		c->fn->indent++;
		cg_stmt(c, s->body);
		c->fn->indent--;
		if (s->orelse) {
			cg_line(c, "} else {");
			c->fn->indent++;
			cg_stmt(c, s->orelse);
			c->fn->indent--;
		}
		cg_line(c, "}");
		if (fails) {
			c->fn->indent--;
			cg_line(c, "}");
		}
		return;
	}
	case LATHE_TIR_S_CALL:
		cg_call(c, s);
		return;
	case LATHE_TIR_S_LET: {
		cg_var *v = &c->v[s->var->id];
		char *value = render(c, s->value);
		cg_line(c, "{");
		c->fn->indent++;
		cg_line(c, "const %s %s = %s;", cg_ctype(s->var->dtype), v->cname, value);
		if (cg_may_fail(c, s->value))
			fail_check(c);
		if (!stmt_uses_var(s->body, s->var))
			cg_line(c, "(void)%s;", v->cname);
		v->tainted = cg_tainted(c, s->value);
		v->in_scope = true;
		cg_stmt(c, s->body);
		v->in_scope = false;
		c->fn->indent--;
		cg_line(c, "}");
		return;
	}
	}
}

/* ---- declarations -------------------------------------------------------------------------- */

static void buf_comment(lathe_buf *o, const lathe_tir_buf *b)
{
	lathe_buf_printf(o, " /* %s%%%s: %s[", b->kind == LATHE_TIR_LOCAL ? "local " : "", b->name,
			 lathe_dtype_name(b->dtype));
	for (int k = 0; k < b->rank; k++)
		lathe_buf_printf(o, "%s%lld", k ? "," : "", (long long)b->shape[k]);
	lathe_buf_puts(o, "] */");
}

/* Pointers to the parameters and function-level locals fn uses, read from
 * `args` (an expression of type void *const *); `scratch` is the scratch
 * area (char *). */
static void decl_shared(cg *c, lathe_buf *o, const cg_fn *fn, const char *ind, const char *args,
			const char *scratch)
{
	const lathe_tir_func *f = c->f;
	for (size_t i = 0; i < f->bufs.len; i++) {
		const lathe_tir_buf *b = f->bufs.data[i];
		const cg_buf *bi = &c->b[i];
		if (!fn->used[i])
			continue;
		if (bi->storage == CG_PARAM) {
			const char *q = bi->written ? "" : "const ";
			const char *t = cg_mem_type(b->dtype, true);
			lathe_buf_printf(o, "%s%s%s *restrict %s = (%s%s *)%s[%zu];", ind, q, t, bi->cname, q, t,
					 args, i);
		} else if (bi->storage == CG_SCRATCH) {
			const char *t = cg_mem_type(b->dtype, false);
			lathe_buf_printf(o, "%s%s *restrict %s = (%s *)(%s + %zu);", ind, t, bi->cname, t, scratch,
					 bi->off);
		} else {
			continue;
		}
		buf_comment(o, b);
		lathe_buf_puts(o, "\n");
	}
}

/* The locals private to parallel loop `par` (-1: the main function's
 * one-element locals). */
static void decl_private(cg *c, lathe_buf *o, const cg_fn *fn, int par, const char *ind)
{
	const lathe_tir_func *f = c->f;
	for (size_t i = 0; i < f->bufs.len; i++) {
		const lathe_tir_buf *b = f->bufs.data[i];
		const cg_buf *bi = &c->b[i];
		if (!fn->used[i] || bi->par != par)
			continue;
		if (bi->storage == CG_AUTO) {
			lathe_buf_printf(o, "%s%s %s = 0;", ind, cg_ctype(b->dtype), bi->cname);
		} else if (bi->storage == CG_PRIV) {
			const char *t = cg_mem_type(b->dtype, false);
			lathe_buf_printf(o, "%s%s *restrict %s = (%s *)(slot_ + %zu);", ind, t, bi->cname, t,
					 bi->off);
		} else {
			continue;
		}
		buf_comment(o, b);
		lathe_buf_puts(o, "\n");
	}
}

/* ---- parallel loops ------------------------------------------------------------------------ */

static void caps_expr(cg *c, const lathe_tir_expr *e, bool *cap)
{
	if (!e)
		return;
	if (e->kind == LATHE_TIR_E_VAR) {
		if (c->v[e->u.var->id].in_scope)
			cap[e->u.var->id] = true;
		return;
	}
	if (e->kind == LATHE_TIR_E_LOAD)
		for (int k = 0; k < e->u.buf->rank; k++)
			caps_expr(c, e->idx[k], cap);
	caps_expr(c, e->a, cap);
	caps_expr(c, e->b, cap);
	caps_expr(c, e->c, cap);
}

static void caps_stmt(cg *c, const lathe_tir_stmt *s, bool *cap)
{
	if (!s)
		return;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		caps_expr(c, s->lo, cap);
		caps_expr(c, s->extent, cap);
		caps_stmt(c, s->body, cap);
		return;
	case LATHE_TIR_S_STORE:
		for (int k = 0; k < s->buf->rank; k++)
			caps_expr(c, s->idx[k], cap);
		caps_expr(c, s->value, cap);
		return;
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			caps_stmt(c, s->stmts[i], cap);
		return;
	case LATHE_TIR_S_IF:
		caps_expr(c, s->cond, cap);
		caps_stmt(c, s->body, cap);
		caps_stmt(c, s->orelse, cap);
		return;
	case LATHE_TIR_S_LET:
		caps_expr(c, s->value, cap);
		caps_stmt(c, s->body, cap);
		return;
	case LATHE_TIR_S_CALL:
		for (int32_t i = 0; i < s->nargs; i++) {
			const lathe_tir_arg *a = &s->args[i];
			caps_expr(c, a->value, cap);
			for (int k = 0; a->kind != LATHE_TIR_ARG_VALUE && k < a->buf->rank; k++)
				caps_expr(c, a->idx[k], cap);
		}
		return;
	}
}

/* Outlines the body into SYM_pK(ctx, begin, end) and calls it through the
 * pool; the enclosing variables it reads travel in a ctx struct. */
static void parallel(cg *c, const lathe_tir_stmt *s)
{
	int k = -1;
	for (size_t i = 0; i < c->pars.len; i++)
		if (c->pars.data[i].loop == s)
			k = (int)i;
	LATHE_ASSERT(k >= 0);
	const cg_par *p = &c->pars.data[k];
	const lathe_tir_func *f = c->f;
	cg_var *v = &c->v[s->var->id];
	bool *cap = lathe_arena_new(c->a, bool, f->vars.len + 1);
	caps_stmt(c, s->body, cap);

	/* The body, printed into its own function. */
	cg_fn nf = {0};
	nf.used = lathe_arena_new(c->a, bool, f->bufs.len + 1);
	nf.par = k;
	nf.indent = p->tasks ? 3 : 2;
	cg_fn *saved = c->fn;
	c->fn = &nf;
	v->tainted = cg_tainted(c, s->lo) || cg_tainted(c, s->extent);
	v->in_scope = true;
	cg_stmt(c, s->body);
	v->in_scope = false;
	c->fn = saved;

	/* The call. */
	char *lo = render(c, s->lo), *ext = render(c, s->extent);
	cg_line(c, "{");
	c->fn->indent++;
	cg_indent(c);
	cg_printf(c, "struct %s_p%d_ctx p%d_ = {.args = args, .scratch = (char *)args[%d], .lo = %s, .n = %s",
		  c->sym, k, k, (int)f->nparams, lo, ext);
	for (size_t i = 0; i < f->vars.len; i++)
		if (cap[i])
			cg_printf(c, ", .%s = %s", c->v[i].cname, c->v[i].cname);
	cg_put(c, "};\n");
	if (cg_may_fail(c, s->lo) || cg_may_fail(c, s->extent))
		fail_check(c);
	if (p->tasks)
		cg_line(c, "lc_pfor(pool, %lld, %s_p%d, &p%d_);", (long long)p->ntasks, c->sym, k, k);
	else
		cg_line(c, "lc_pfor(pool, p%d_.n, %s_p%d, &p%d_);", k, c->sym, k, k);
	if (nf.fail_used) {
		cg_line(c, "if (LC_UNLIKELY(p%d_.err))", k);
		cg_line(c, "\tgoto fail_;");
		c->fn->fail_used = true;
	}
	c->fn->pool_used = true;
	c->fn->indent--;
	cg_line(c, "}");

	lathe_buf *o = &c->pre;
	lathe_buf_printf(o, "struct %s_p%d_ctx {\n\tvoid *const *args;\n\tchar *scratch;\n\tint err;\n"
			 "\tint64_t lo, n;\n", c->sym, k);
	for (size_t i = 0; i < f->vars.len; i++)
		if (cap[i])
			lathe_buf_printf(o, "\t%s %s;\n", cg_ctype(f->vars.data[i]->dtype), c->v[i].cname);
	lathe_buf_printf(o, "};\n\nstatic void %s_p%d(void *ctx_, int64_t begin_, int64_t end_)\n{\n"
			 "\tstruct %s_p%d_ctx *c_ = ctx_;\n", c->sym, k, c->sym, k);
	decl_shared(c, o, &nf, "\t", "c_->args", "c_->scratch");
	for (size_t i = 0; i < f->vars.len; i++)
		if (cap[i])
			lathe_buf_printf(o, "\tconst %s %s = c_->%s;\n", cg_ctype(f->vars.data[i]->dtype),
					 c->v[i].cname, c->v[i].cname);
	if (nf.err_used)
		lathe_buf_puts(o, "\tint err_ = 0;\n");
	if (p->tasks) {
		lathe_buf_printf(o, "\tfor (int64_t t_ = begin_; t_ < end_; t_++) {\n"
				 "\t\tchar *slot_ = c_->scratch + %zu + (size_t)t_ * %zu;\n"
				 "\t\tmemset(slot_, 0, %zu);\n", p->off, p->slot, p->slot);
		decl_private(c, o, &nf, k, "\t\t");
		lathe_buf_printf(o, "\t\tconst int64_t b_ = c_->lo + t_ * c_->n / %lld;\n"
				 "\t\tconst int64_t e_ = c_->lo + (t_ + 1) * c_->n / %lld;\n"
				 "\t\tfor (int64_t %s = b_; %s < e_; %s++) {\n",
				 (long long)p->ntasks, (long long)p->ntasks, v->cname, v->cname, v->cname);
		lathe_buf_puts(o, nf.body.data ? nf.body.data : "");
		lathe_buf_puts(o, "\t\t}\n\t}\n");
	} else {
		decl_private(c, o, &nf, k, "\t");
		lathe_buf_printf(o, "\tfor (int64_t %s = c_->lo + begin_; %s < c_->lo + end_; %s++) {\n",
				 v->cname, v->cname, v->cname);
		lathe_buf_puts(o, nf.body.data ? nf.body.data : "");
		lathe_buf_puts(o, "\t}\n");
	}
	if (nf.fail_used)
		lathe_buf_puts(o, "\treturn;\nfail_:\n\t__atomic_store_n(&c_->err, 1, __ATOMIC_RELAXED);\n");
	lathe_buf_puts(o, "}\n\n");
	lathe_buf_free(&nf.body);
}

/* ---- the plan ---------------------------------------------------------------------------- */

static void note(cg *c, const lathe_tir_buf *b, lathe_tir_expr *const *idx, int par)
{
	cg_buf *bi = &c->b[b->id];
	bi->scratch_only = false;
	if (par >= 0)
		bi->in_par = true;
	/* Partitioned: every access indexes dimension 0 by the parallel loop's
	 * variable itself, so iterations touch disjoint slices. */
	if (par < 0 || b->rank < 1 || idx[0]->kind != LATHE_TIR_E_VAR ||
	    idx[0]->u.var != c->pars.data[par].loop->var)
		bi->part = false;
	if (bi->seen == -2)
		bi->seen = par;
	else if (bi->seen != par)
		bi->seen = -1;
}

static void plan_expr(cg *c, const lathe_tir_expr *e, int par)
{
	if (!e)
		return;
	if (e->kind == LATHE_TIR_E_LOAD) {
		note(c, e->u.buf, e->idx, par);
		for (int k = 0; k < e->u.buf->rank; k++)
			plan_expr(c, e->idx[k], par);
	}
	plan_expr(c, e->a, par);
	plan_expr(c, e->b, par);
	plan_expr(c, e->c, par);
}

static void plan_stmt(cg *c, const lathe_tir_stmt *s, int par)
{
	if (!s)
		return;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		plan_expr(c, s->lo, par);
		plan_expr(c, s->extent, par);
		if (s->for_kind == LATHE_TIR_PARALLEL && par < 0) {
			int64_t ext;
			cg_par p = {.loop = s, .ntasks = MAX_TASKS};
			if (cg_const_int(s->extent, &ext))
				p.ntasks = ext < 1 ? 1 : ext > MAX_TASKS ? MAX_TASKS : ext;
			lathe_vec_push(&c->pars, p);
			plan_stmt(c, s->body, (int)c->pars.len - 1);
		} else {
			plan_stmt(c, s->body, par);
		}
		return;
	case LATHE_TIR_S_STORE:
		note(c, s->buf, s->idx, par);
		c->b[s->buf->id].written = true;
		for (int k = 0; k < s->buf->rank; k++)
			plan_expr(c, s->idx[k], par);
		plan_expr(c, s->value, par);
		return;
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			plan_stmt(c, s->stmts[i], par);
		return;
	case LATHE_TIR_S_IF:
		plan_expr(c, s->cond, par);
		plan_stmt(c, s->body, par);
		plan_stmt(c, s->orelse, par);
		return;
	case LATHE_TIR_S_LET:
		plan_expr(c, s->value, par);
		plan_stmt(c, s->body, par);
		return;
	case LATHE_TIR_S_CALL:
		for (int32_t i = 0; i < s->nargs; i++) {
			const lathe_tir_arg *a = &s->args[i];
			if (a->kind == LATHE_TIR_ARG_VALUE) {
				plan_expr(c, a->value, par);
				continue;
			}
			cg_buf *bi = &c->b[a->buf->id];
			bool only = bi->scratch_only;
			note(c, a->buf, a->idx, par);
			bi->scratch_only = only && a->kind == LATHE_TIR_ARG_SCRATCH;
			if (a->kind != LATHE_TIR_ARG_READ)
				bi->written = true;
			for (int k = 0; k < a->buf->rank; k++)
				plan_expr(c, a->idx[k], par);
		}
		return;
	}
}

/* A C identifier from an IR name: PREFIX<id>_<letters, digits, _>. */
static const char *cident(lathe_arena *a, char prefix, int id, const char *name)
{
	char s[48];
	int n = snprintf(s, sizeof s, "%c%d_", prefix, id);
	for (const char *p = name ? name : ""; *p && n < 40; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
		s[n++] = ok ? ch : '_';
	}
	s[n] = '\0';
	return lathe_arena_strdup(a, s);
}

/* A local used only in one parallel loop, sliced by its variable over the
 * whole first dimension: shared, since no two iterations meet. */
static bool partitioned(cg *c, const lathe_tir_buf *b)
{
	const cg_buf *bi = &c->b[b->id];
	int64_t lo, ext;
	const lathe_tir_stmt *loop = c->pars.data[bi->seen].loop;
	return bi->part && cg_const_int(loop->lo, &lo) && lo == 0 &&
	       cg_const_int(loop->extent, &ext) && ext == b->shape[0];
}

static lathe_err plan(cg *c)
{
	const lathe_tir_func *f = c->f;
	size_t nb = f->bufs.len, nv = f->vars.len;
	c->b = lathe_arena_new(c->a, cg_buf, nb + 1);
	c->v = lathe_arena_new(c->a, cg_var, nv + 1);
	for (size_t i = 0; i < nv; i++)
		c->v[i].cname = cident(c->a, 'v', (int)i, f->vars.data[i]->name);
	for (size_t i = 0; i < nb; i++) {
		const lathe_tir_buf *b = f->bufs.data[i];
		cg_buf *bi = &c->b[i];
		bi->seen = -2;
		bi->par = -1;
		bi->part = true;
		bi->scratch_only = true;
		bi->cname = cident(c->a, 'b', (int)i, b->name);
		LATHE_TRYF(lathe_shape_numel(b->rank, b->shape, &bi->numel), "%%%s", b->name);
		bi->stride = lathe_arena_new(c->a, int64_t, b->rank + 1);
		int64_t st = 1;
		for (int k = b->rank - 1; k >= 0 && bi->numel > 0; k--) {
			bi->stride[k] = st;
			st *= b->shape[k];
		}
	}
	plan_stmt(c, f->body, -1);
	for (size_t i = 0; i < nb; i++) {
		const lathe_tir_buf *b = f->bufs.data[i];
		cg_buf *bi = &c->b[i];
		size_t bytes = (size_t)bi->numel * lathe_dtype_size(b->dtype);
		if (b->kind == LATHE_TIR_PARAM) {
			bi->storage = CG_PARAM;
		} else if (bi->numel <= 1) {
			/* A scalar shared between the main function and a parallel
			 * loop (or two) must be in memory; otherwise it is a C variable
			 * of whichever function uses it. */
			if (bi->seen >= 0) {
				bi->storage = CG_AUTO;
				bi->par = bi->seen;
			} else if (bi->in_par) {
				bi->storage = CG_SCRATCH;
				bi->off = c->fn_scratch;
				c->fn_scratch += align_up(bytes);
			} else {
				bi->storage = CG_AUTO;
			}
		} else if (bi->seen >= 0 && !partitioned(c, b)) {
			cg_par *p = &c->pars.data[bi->seen];
			bi->storage = CG_PRIV;
			bi->par = bi->seen;
			bi->off = p->slot;
			p->slot += align_up(bytes);
			p->tasks = true;
		} else {
			bi->storage = CG_SCRATCH;
			if (bi->scratch_only && bi->seen != -2)
				continue; /* placed after the zeroed locals */
			bi->off = c->fn_scratch;
			c->fn_scratch += align_up(bytes);
		}
	}
	/* Kernels' workspaces are never read before they are written: they
	 * go after the locals that are zeroed on entry. */
	c->scratch_size = c->fn_scratch;
	for (size_t i = 0; i < nb; i++) {
		cg_buf *bi = &c->b[i];
		if (bi->storage != CG_SCRATCH || !bi->scratch_only || bi->seen == -2)
			continue;
		bi->off = c->scratch_size;
		c->scratch_size += align_up((size_t)bi->numel * lathe_dtype_size(f->bufs.data[i]->dtype));
	}
	for (size_t k = 0; k < c->pars.len; k++) {
		cg_par *p = &c->pars.data[k];
		if (!p->tasks)
			continue;
		p->off = c->scratch_size;
		c->scratch_size += (size_t)p->ntasks * p->slot;
	}
	return NULL;
}

/* ---- entry points ------------------------------------------------------------------------- */

static bool is_ident(const char *s)
{
	if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

static void cg_init(cg *c, const lathe_tir_func *f, const lathe_codegen_opts *o)
{
	memset(c, 0, sizeof *c);
	c->f = f;
	if (o)
		c->o = *o;
	if (c->o.vector_bytes != 16 && c->o.vector_bytes != 32 && c->o.vector_bytes != 64)
		c->o.vector_bytes = 32;
	c->a = lathe_arena_create();
}

static void cg_deinit(cg *c)
{
	lathe_vec_free(&c->pars);
	lathe_buf_free(&c->pre);
	lathe_arena_destroy(c->a);
}

size_t lathe_codegen_scratch_size(const lathe_tir_func *f)
{
	cg c;
	cg_init(&c, f, NULL);
	lathe_err e = plan(&c);
	size_t n = e ? 0 : c.scratch_size;
	lathe_error_free(e);
	cg_deinit(&c);
	return n;
}

lathe_err lathe_codegen_c_func(lathe_buf *out, const lathe_tir_func *f, const char *symbol)
{
	return lathe_codegen_c_func_opts(out, f, symbol, NULL);
}

lathe_err lathe_codegen_c_func_opts(lathe_buf *out, const lathe_tir_func *f, const char *symbol,
				    const lathe_codegen_opts *o)
{
	if (!is_ident(symbol))
		return lathe_error(LATHE_EINVAL, "C backend: '%s' is not a C identifier",
				   symbol ? symbol : "(null)");
	LATHE_TRY(lathe_tir_verify(f));
	cg c;
	cg_init(&c, f, o);
	c.sym = symbol;
	lathe_err err = plan(&c);
	if (err) {
		cg_deinit(&c);
		return lathe_error_wrap(err, "C backend: func @%s", f->name);
	}
	cg_fn mf = {0};
	mf.used = lathe_arena_new(c.a, bool, f->bufs.len + 1);
	mf.par = -1;
	mf.indent = 1;
	c.fn = &mf;
	cg_stmt(&c, f->body);
	if (c.err) {
		lathe_buf_free(&mf.body);
		err = c.err;
		cg_deinit(&c);
		return lathe_error_wrap(err, "C backend: func @%s", f->name);
	}

	if (c.o.embed_ukernels && cg_func_has_call(f->body)) {
		err = cg_ukernel_source(out);
		if (err) {
			lathe_buf_free(&mf.body);
			cg_deinit(&c);
			return err;
		}
	}
	lathe_buf_printf(out, "/* func @%s */\n", f->name);
	if (c.pre.data)
		lathe_buf_puts(out, c.pre.data);
	lathe_buf_printf(out, "static int %s(void *const *args, lathe_rt_pool *pool)\n{\n", symbol);
	bool args_used = c.pars.len > 0 || c.fn_scratch > 0;
	for (size_t i = 0; i < f->bufs.len; i++)
		args_used |= mf.used[i] && c.b[i].storage != CG_AUTO;
	if (!args_used)
		lathe_buf_puts(out, "\t(void)args;\n");
	if (!mf.pool_used)
		lathe_buf_puts(out, "\t(void)pool;\n");
	char scratch[32];
	snprintf(scratch, sizeof scratch, "(char *)args[%d]", (int)f->nparams);
	decl_shared(&c, out, &mf, "\t", "args", scratch);
	decl_private(&c, out, &mf, -1, "\t");
	if (c.fn_scratch > 0)
		lathe_buf_printf(out, "\tmemset(args[%d], 0, %zu);\n", (int)f->nparams, c.fn_scratch);
	if (mf.err_used)
		lathe_buf_puts(out, "\tint err_ = 0;\n");
	if (mf.body.data)
		lathe_buf_puts(out, mf.body.data);
	lathe_buf_puts(out, "\treturn 0;\n");
	if (mf.fail_used)
		lathe_buf_puts(out, "fail_:\n\treturn 1; /* LATHE_RT_EINVAL */\n");
	lathe_buf_puts(out, "}\n\n");
	lathe_buf_free(&mf.body);
	cg_deinit(&c);
	return NULL;
}
