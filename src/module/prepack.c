/* prepack.c: packing constant weights at compile time.
 *
 * Tensorize (src/sched/tensorize.c) starts a matrix product or convolution
 * whose operand is a parameter nothing writes with a call
 *     call @pack(read %W[...], write %W_p[0], ...)
 * that copies the operand into the panel layout the micro-kernel reads.
 * When the parameter is bound to a constant of the model, that call is a
 * pure function of the weights: this pass runs it once, here, with the
 * runtime's own pack kernel, stores the result as a new constant, and
 * turns the local %W_p into a parameter bound to it, so the compiled module
 * neither packs nor keeps the unpacked copy (a parameter nothing reads any
 * more is dropped, and with it the original weights, unless another step
 * reads them).  The loop program means the same before and after: the
 * local held exactly these values when the call had run.
 *
 * Requires: a scheduled step (STEP_FUNC) whose arguments are placed
 * nowhere yet.  Invalidates: the step's scratch size (recompute it).
 */
#include <string.h>

#include "lathe_rt_ukernel.h"
#include "module/internal.h"

/* Writes of b in s other than through call `skip`. */
static int other_writes(const lathe_tir_stmt *s, const lathe_tir_buf *b, const lathe_tir_stmt *skip)
{
	if (!s)
		return 0;
	int n = 0;
	switch (s->kind) {
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			n += other_writes(s->stmts[i], b, skip);
		return n;
	case LATHE_TIR_S_FOR: case LATHE_TIR_S_LET:
		return other_writes(s->body, b, skip);
	case LATHE_TIR_S_IF:
		return other_writes(s->body, b, skip) + other_writes(s->orelse, b, skip);
	case LATHE_TIR_S_STORE:
		return s->buf == b;
	case LATHE_TIR_S_CALL:
		if (s == skip)
			return 0;
		for (int32_t i = 0; i < s->nargs; i++)
			n += s->args[i].kind != LATHE_TIR_ARG_VALUE && s->args[i].kind != LATHE_TIR_ARG_READ &&
			     s->args[i].buf == b;
		return n;
	}
	return 0;
}

static bool expr_uses_buf(const lathe_tir_expr *e, const lathe_tir_buf *b)
{
	if (!e)
		return false;
	if (e->kind == LATHE_TIR_E_LOAD) {
		if (e->u.buf == b)
			return true;
		for (int k = 0; k < e->u.buf->rank; k++)
			if (expr_uses_buf(e->idx[k], b))
				return true;
	}
	return expr_uses_buf(e->a, b) || expr_uses_buf(e->b, b) || expr_uses_buf(e->c, b);
}

static bool stmt_uses_buf(const lathe_tir_stmt *s, const lathe_tir_buf *b)
{
	if (!s)
		return false;
	switch (s->kind) {
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			if (stmt_uses_buf(s->stmts[i], b))
				return true;
		return false;
	case LATHE_TIR_S_FOR:
		return expr_uses_buf(s->lo, b) || expr_uses_buf(s->extent, b) ||
		       stmt_uses_buf(s->body, b);
	case LATHE_TIR_S_LET:
		return expr_uses_buf(s->value, b) || stmt_uses_buf(s->body, b);
	case LATHE_TIR_S_IF:
		return expr_uses_buf(s->cond, b) || stmt_uses_buf(s->body, b) ||
		       stmt_uses_buf(s->orelse, b);
	case LATHE_TIR_S_STORE:
		if (s->buf == b || expr_uses_buf(s->value, b))
			return true;
		for (int k = 0; k < s->buf->rank; k++)
			if (expr_uses_buf(s->idx[k], b))
				return true;
		return false;
	case LATHE_TIR_S_CALL:
		for (int32_t i = 0; i < s->nargs; i++) {
			const lathe_tir_arg *a = &s->args[i];
			if (a->kind == LATHE_TIR_ARG_VALUE) {
				if (expr_uses_buf(a->value, b))
					return true;
				continue;
			}
			if (a->buf == b)
				return true;
			for (int k = 0; k < a->buf->rank; k++)
				if (expr_uses_buf(a->idx[k], b))
					return true;
		}
		return false;
	}
	return false;
}

/* Flat element offset of constant indices; -1 if they are not constant. */
static int64_t const_offset(const lathe_tir_buf *b, lathe_tir_expr *const *idx)
{
	int64_t off = 0;
	for (int d = 0; d < b->rank; d++) {
		if (idx[d]->kind != LATHE_TIR_E_INT || idx[d]->u.i < 0 || idx[d]->u.i >= b->shape[d])
			return -1;
		off = off * b->shape[d] + idx[d]->u.i;
	}
	return off;
}

static void renumber(lathe_tir_func *f)
{
	for (size_t i = 0; i < f->bufs.len; i++)
		f->bufs.data[i]->id = (int32_t)i;
}

/* Runs one pack call on constant data; true (and the new constant in
 * *out) when it could. */
static bool run_pack(mod_unit *u, mod_step *st, const lathe_tir_stmt *s, lathe_vid *out)
{
	lathe_tir_func *f = st->fn;
	if (s->nargs < 2 + LATHE_UK_P_FIXED || s->args[0].kind != LATHE_TIR_ARG_READ ||
	    s->args[1].kind != LATHE_TIR_ARG_WRITE)
		return false;
	lathe_tir_buf *src = s->args[0].buf, *dst = s->args[1].buf;
	if (src->kind != LATHE_TIR_PARAM || dst->kind != LATHE_TIR_LOCAL ||
	    src->id >= st->nargs || dst->dtype != LATHE_DT_F32 || src->dtype != LATHE_DT_F32)
		return false;
	const lathe_value *val = &u->g->values.data[st->args[src->id]];
	if (val->def != LATHE_DEF_CONST || !val->konst || val->konst->dtype != LATHE_DT_F32 ||
	    (!val->konst->data && lathe_rt_numel(val->konst) > 0))
		return false;
	int64_t so = const_offset(src, s->args[0].idx), d0 = const_offset(dst, s->args[1].idx);
	if (so < 0 || d0 != 0 || other_writes(f->body, dst, s) != 0)
		return false;
	int64_t ints[LATHE_UK_P_FIXED + 8];
	int ni = 0;
	for (int32_t i = 2; i < s->nargs; i++) {
		const lathe_tir_arg *a = &s->args[i];
		if (a->kind != LATHE_TIR_ARG_VALUE || a->value->kind != LATHE_TIR_E_INT ||
		    a->value->dtype != LATHE_DT_I64 || ni >= LATHE_UK_P_FIXED + 8)
			return false;
		ints[ni++] = a->value->u.i;
	}
	int64_t sn = 1, dn = 1;
	for (int d = 0; d < src->rank; d++)
		sn *= src->shape[d];
	for (int d = 0; d < dst->rank; d++)
		dn *= dst->shape[d];
	float *data = lathe_arena_new(u->g->arena, float, (size_t)dn + 1);
	void *ptr[2] = {(char *)val->konst->data + so * 4, data};
	int64_t avail[2] = {sn - so, dn};
	lathe_rt_uk_args a = {.ptr = ptr, .avail = avail, .nptr = 2, .ip = ints, .nip = ni};
	if (lathe_rt_uk_pack(&a) != 0)
		return false;
	lathe_tensor *t = lathe_arena_new(u->g->arena, lathe_tensor, 1);
	t->dtype = LATHE_DT_F32;
	t->rank = dst->rank;
	t->shape = lathe_arena_new(u->g->arena, int64_t, dst->rank + 1);
	memcpy(t->shape, dst->shape, sizeof(int64_t) * (size_t)dst->rank);
	t->data = data;
	const char *name = lathe_graph_fresh_name(u->g, lathe_arena_printf(u->arena, "%s_packed",
									    val->name));
	lathe_err e = lathe_graph_add_const(u->g, name, t, out);
	if (e) {
		lathe_error_free(e);
		return false;
	}
	return true;
}

lathe_err mod_prepack(mod_unit *u, mod_step *st)
{
	if (st->kind != STEP_FUNC || !st->fn)
		return NULL;
	lathe_tir_func *f = st->fn;
	bool changed = false;
	for (int32_t k = 0; k < f->body->n; k++) {
		lathe_tir_stmt *s = f->body->stmts[k];
		lathe_vid v;
		if (s->kind != LATHE_TIR_S_CALL || strcmp(s->callee, "pack") || !run_pack(u, st, s, &v))
			continue;
		/* The local becomes the next parameter, bound to the constant. */
		lathe_tir_buf *dst = s->args[1].buf;
		size_t at = (size_t)f->nparams;
		size_t from = (size_t)dst->id;
		for (size_t i = from; i > at; i--)
			f->bufs.data[i] = f->bufs.data[i - 1];
		f->bufs.data[at] = dst;
		dst->kind = LATHE_TIR_PARAM;
		dst->constant = true;
		f->nparams++;
		renumber(f);
		lathe_vid *args = lathe_arena_new(u->arena, lathe_vid, st->nargs + 2);
		memcpy(args, st->args, sizeof *args * (size_t)st->nargs);
		args[st->nargs++] = v;
		st->args = args;
		/* Drop the call. */
		memmove(f->body->stmts + k, f->body->stmts + k + 1,
			sizeof *f->body->stmts * (size_t)(f->body->n - k - 1));
		f->body->n--;
		k--;
		changed = true;
	}
	if (!changed)
		return NULL;
	/* Parameters nothing reads any more (the unpacked weights) go. */
	for (int32_t p = 0; p < f->nparams; p++) {
		lathe_tir_buf *b = f->bufs.data[p];
		const lathe_value *val = &u->g->values.data[st->args[p]];
		if (val->def != LATHE_DEF_CONST || stmt_uses_buf(f->body, b))
			continue;
		memmove(f->bufs.data + p, f->bufs.data + p + 1,
			sizeof *f->bufs.data * (f->bufs.len - (size_t)p - 1));
		f->bufs.len--;
		memmove(st->args + p, st->args + p + 1, sizeof *st->args * (size_t)(st->nargs - p - 1));
		st->nargs--;
		f->nparams--;
		renumber(f);
		p--;
	}
	LATHE_TRYF(lathe_tir_verify(f), "internal error: packing weights at compile time");
	return NULL;
}
