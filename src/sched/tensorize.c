/* tensorize.c: replaces a loop nest that computes exactly a matrix product
 * or a convolution by a call of the runtime's micro-kernel computing the
 * same sums (runtime/include/lathe_rt_ukernel.h).
 *
 * The nest is the lowering's reduction form, untouched by any schedule:
 *
 *     for o... { acc = 0; for r... { acc = acc + P * Q }; OUT[o...] = E(acc) }
 *
 * where P and Q are loads of f32 buffers (either possibly through a
 * padding select, `select(in-bounds(idx), X[idx], 0)`), every index is
 * affine in the loop variables, and E applies an epilogue.  Nothing here
 * knows which op the nest came from: the roles of the loops are read off
 * the indices.  The output loop with stride 1 in OUT is N's; the operand
 * that reads it is B, the other A.  Output loops only B reads are N, only
 * A reads are M, both or neither are batch loops (which stay loops around
 * the call); the reduction loops are K (at most three, each read by both
 * operands).  Loops of one axis are merged when their strides nest in
 * every buffer; those that do not merge become batch loops too.
 *
 * B is a strided matrix, or, when it is read through padding or with
 * strides that do not merge (a strided convolution), an im2col view: its
 * last two dimensions must then be h = sh*oh + sum(ch*k) + h0 and
 * w = sw*ow + sum(cw*k) + w0 with ow the stride-1 output loop and oh the
 * loop of stride OW, the other dimensions must not involve N, and the
 * padding condition must be exactly the bounds of those indices (the
 * kernel tests h and w itself).  A must be a strided matrix.  An operand
 * that is a parameter nothing writes and that batch loops do not move is
 * packed by a `pack` call first (for weights, `lathe compile` runs that
 * call at compile time: src/module/prepack.c).  E becomes the kernel's
 * epilogue when it is a chain of additions and multiplications by tensors
 * indexed by M and N and scalars, and max/min with scalars; otherwise the
 * kernel writes the plain sums into OUT and E runs afterwards as its own
 * loop nest over OUT, in place.
 *
 * Depthwise convolutions (a channel loop read by both operands, 2-D
 * windows) go to the dwconv kernel the same way; max pooling to maxpool;
 * softmax's three nests to the softmax kernel and layer normalization's
 * to layernorm (tensorize_rows.c).
 *
 * What changes: the sums are computed in another order, with fused
 * multiply-adds where the CPU has them, so results agree with the nest to
 * rounding, not bit for bit (docs/schedules.md); that is why this is the
 * one step of the default schedules the target must ask for
 * (lathe_target.ukernels).  Anything that does not match exactly is left
 * to the other schedules.  After tensorize the primitives do not touch the
 * calls (their dependence tests do not model a kernel's regions).
 */
#include <string.h>

#include "lathe_rt_ukernel.h"
#include "sched/sched_impl.h"

enum { TZ_MAXV = 16, TZ_MAXK = 3 };
/* The most output positions a convolution may have for the transposed tile
 * (overridable for measurements). */
#ifndef TZ_TRANS_NMAX
#define TZ_TRANS_NMAX 128
#endif

enum { ROLE_M, ROLE_N, ROLE_K, ROLE_BATCH };

typedef struct tz_var {
	lathe_tir_var *v;
	int64_t ext;
	bool red;
	int role;
	int64_t co; /* coefficient in OUT's flat offset */
} tz_var;

typedef struct tz_opnd {
	lathe_tir_expr *load; /* the load (inside the select for padding) */
	lathe_tir_expr *cond; /* padding condition, or NULL */
	sched_aff flat;
} tz_opnd;

/* An epilogue: operations in application order. */
typedef struct tz_epi {
	int n, saves;
	int64_t code[LATHE_UK_EPI_MAX], s1[LATHE_UK_EPI_MAX], s2[LATHE_UK_EPI_MAX];
	lathe_tir_expr *load[LATHE_UK_EPI_MAX]; /* tensor operand */
	bool scalar[LATHE_UK_EPI_MAX];          /* f is the operand (s1 becomes its index) */
	double f[LATHE_UK_EPI_MAX];
} tz_epi;

typedef struct tz {
	lathe_tir_func *f;
	const lathe_target *t;
	sched_info I;
	lathe_tir_stmt *nest;
	int nv, nout;
	tz_var v[TZ_MAXV]; /* output loops (outermost first), then reduction loops */
	lathe_tir_buf *acc;
	lathe_tir_stmt *final; /* OUT[...] = E */
	sched_aff oflat;
	tz_opnd op[2];
} tz;

/* ---- small helpers ----------------------------------------------------------- */

static bool is_zero_f32(const lathe_tir_expr *e)
{
	return e && e->kind == LATHE_TIR_E_FLOAT && e->dtype == LATHE_DT_F32 && e->u.f == 0 &&
	       !__builtin_signbit(e->u.f);
}

static bool is_acc_load(const tz *z, const lathe_tir_expr *e)
{
	return e && e->kind == LATHE_TIR_E_LOAD && e->u.buf == z->acc;
}

static int var_index(const tz *z, const lathe_tir_var *v)
{
	for (int i = 0; i < z->nv; i++)
		if (z->v[i].v == v)
			return i;
	return -1;
}

/* An affine form whose terms are all loop variables of the nest. */
static bool nest_aff(const tz *z, const sched_aff *a)
{
	for (int i = 0; i < a->n; i++)
		if (!a->t[i].var || var_index(z, a->t[i].var) < 0)
			return false;
	return true;
}

static int64_t coef(const sched_aff *a, const tz_var *v)
{
	return sched_aff_coef(a, v->v);
}

/* Row-major stride of dimension d of b. */
static int64_t dim_stride(const lathe_tir_buf *b, int d)
{
	int64_t s = 1;
	for (int k = b->rank - 1; k > d; k--)
		s *= b->shape[k] > 1 ? b->shape[k] : 1;
	return s;
}

/* idx with the variables in zero[] (marks by var id) replaced by 0. */
static lathe_tir_expr **idx_at_zero(tz *z, const lathe_tir_buf *b, lathe_tir_expr *const *idx,
				    const uint8_t *zero)
{
	sched_rw rw;
	sched_rw_init(&rw, z->f);
	for (int i = 0; i < z->nv; i++)
		if (zero[z->v[i].v->id])
			sched_rw_set(&rw, z->v[i].v, sched_i64(z->f, 0));
	lathe_tir_expr **r = lathe_arena_new(z->f->arena, lathe_tir_expr *, b->rank + 1);
	for (int d = 0; d < b->rank; d++)
		r[d] = sched_rw_expr(&rw, idx[d]);
	sched_rw_deinit(&rw);
	return r;
}

/* True when every index of the pointer is provably inside b. */
static bool idx_in_bounds(tz *z, const lathe_tir_buf *b, lathe_tir_expr *const *idx)
{
	for (int d = 0; d < b->rank; d++) {
		int64_t lo, hi;
		if (!sched_expr_range(&z->I, idx[d], &lo, &hi) || lo < 0 || hi >= b->shape[d])
			return false;
	}
	return true;
}

bool lathe_sched_calls(const lathe_tir_stmt *s, const char *name)
{
	if (!s)
		return false;
	switch (s->kind) {
	case LATHE_TIR_S_CALL:
		return !name || !strcmp(s->callee, name);
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++)
			if (lathe_sched_calls(s->stmts[i], name))
				return true;
		return false;
	case LATHE_TIR_S_IF:
		return lathe_sched_calls(s->body, name) || lathe_sched_calls(s->orelse, name);
	case LATHE_TIR_S_FOR: case LATHE_TIR_S_LET:
		return lathe_sched_calls(s->body, name);
	}
	return false;
}

/* ---- matching the reduction nest ---------------------------------------------- */

static bool match_operand(tz *z, lathe_tir_expr *e, tz_opnd *o)
{
	o->cond = NULL;
	if (e->kind == LATHE_TIR_E_SELECT && is_zero_f32(e->c)) {
		o->cond = e->a;
		e = e->b;
	}
	if (e->kind != LATHE_TIR_E_LOAD || e->dtype != LATHE_DT_F32 || e->u.buf == z->acc ||
	    e->u.buf == z->final->buf)
		return false;
	o->load = e;
	return sched_aff_flat(&z->I, e->u.buf, e->idx, &o->flat) && nest_aff(z, &o->flat);
}

static bool add_loop(tz *z, lathe_tir_stmt *l, bool red)
{
	int64_t lo, ext;
	if (z->nv >= TZ_MAXV || l->for_kind != LATHE_TIR_SERIAL || !sched_loop_const(l, &lo, &ext) ||
	    lo != 0 || ext < 1)
		return false;
	z->v[z->nv++] = (tz_var){.v = l->var, .ext = ext, .red = red, .role = red ? ROLE_K : -1};
	return true;
}

/* for o... { acc = 0; for r... { acc = acc + P*Q }; OUT[...] = E(acc) } */
static bool match_nest(tz *z, lathe_tir_stmt *nest)
{
	lathe_tir_stmt *loops[TZ_MAXV], *body;
	int nl = sched_band(nest, loops, TZ_MAXV, &body);
	if (nl < 1)
		return false;
	z->nest = nest;
	z->nv = 0;
	for (int i = 0; i < nl; i++)
		if (!add_loop(z, loops[i], false))
			return false;
	z->nout = z->nv;
	lathe_tir_stmt *sh[3];
	if (!sched_reduce_shell(body, sh) || !is_zero_f32(sh[0]->value))
		return false;
	lathe_tir_stmt *red = sh[1], *fin = sh[2];
	z->acc = sh[0]->buf;
	lathe_tir_stmt *rl[TZ_MAXV], *rbody;
	int nr = sched_band(red, rl, TZ_MAXV, &rbody);
	if (nr < 1 || nr > TZ_MAXK)
		return false;
	for (int i = 0; i < nr; i++)
		if (!add_loop(z, rl[i], true))
			return false;
	rbody = sched_unwrap(rbody);
	if (rbody->kind != LATHE_TIR_S_STORE || rbody->buf != z->acc)
		return false;
	lathe_tir_expr *u = rbody->value, *prod;
	if (u->kind != LATHE_TIR_E_BINARY || u->op != LATHE_TIR_ADD || u->dtype != LATHE_DT_F32)
		return false;
	if (is_acc_load(z, u->a))
		prod = u->b;
	else if (is_acc_load(z, u->b))
		prod = u->a;
	else
		return false;
	if (prod->kind != LATHE_TIR_E_BINARY || prod->op != LATHE_TIR_MUL)
		return false;
	z->final = fin;
	lathe_tir_buf *out = fin->buf;
	if (out == z->acc || out->dtype != LATHE_DT_F32)
		return false;
	/* acc: the init, the update's load and store, E's loads; nothing else. */
	if (sched_count_accesses(z->f->body, z->acc) != 3 + sched_count_accesses(fin, z->acc) ||
	    !sched_expr_reads(fin->value, z->acc))
		return false;
	/* OUT is written once and read nowhere in the nest. */
	if (sched_count_accesses(nest, out) != 1)
		return false;
	if (!match_operand(z, prod->a, &z->op[0]) || !match_operand(z, prod->b, &z->op[1]))
		return false;
	if (!sched_aff_flat(&z->I, out, fin->idx, &z->oflat) || !nest_aff(z, &z->oflat))
		return false;
	for (int i = 0; i < z->nv; i++) {
		tz_var *v = &z->v[i];
		v->co = coef(&z->oflat, v);
		if (v->red && v->co)
			return false;
		/* An output loop OUT does not use would store repeatedly. */
		if (!v->red && !v->co && v->ext > 1)
			return false;
		/* Reduction loops must be read by both operands. */
		if (v->red && (!coef(&z->op[0].flat, v) || !coef(&z->op[1].flat, v)) && v->ext > 1)
			return false;
	}
	return true;
}

/* ---- axes ------------------------------------------------------------------------ */

/* Loops of one role sorted by stride in OUT (innermost first), merged while
 * their strides nest in OUT and in the operand `a`; the rest become batch
 * loops.  out[0..n): the merged loops, innermost first. */
static int merge_axis(tz *z, int role, const sched_aff *a, tz_var **out)
{
	tz_var *c[TZ_MAXV];
	int n = 0;
	for (int i = 0; i < z->nout; i++)
		if (z->v[i].role == role && z->v[i].ext > 1)
			c[n++] = &z->v[i];
	for (int i = 0; i < n; i++) /* by OUT stride, ascending */
		for (int j = i + 1; j < n; j++)
			if (c[j]->co < c[i]->co) {
				tz_var *t = c[i];
				c[i] = c[j];
				c[j] = t;
			}
	int m = 0;
	for (int i = 0; i < n; i++) {
		bool ok = m == 0 || (c[i]->co == out[m - 1]->co * out[m - 1]->ext &&
				     coef(a, c[i]) == coef(a, out[m - 1]) * out[m - 1]->ext);
		if (ok)
			out[m++] = c[i];
		else
			c[i]->role = ROLE_BATCH;
	}
	return m;
}

static int64_t axis_size(tz_var *const *ax, int n)
{
	int64_t s = 1;
	for (int i = 0; i < n; i++)
		s *= ax[i]->ext;
	return s;
}

/* ---- epilogues --------------------------------------------------------------- */

typedef struct tz_axes {
	tz_var *m[TZ_MAXV], *n[TZ_MAXV];
	int nm, nn;
} tz_axes;

/* The stride of a tensor operand along a merged axis (0 if it does not
 * use it); false if it uses the axis's loops in a way that is not one
 * stride. */
static bool axis_stride(const sched_aff *a, tz_var *const *ax, int n, int64_t *s)
{
	*s = n ? coef(a, ax[0]) : 0;
	int64_t want = *s;
	for (int i = 1; i < n; i++) {
		want *= ax[i - 1]->ext;
		if (coef(a, ax[i]) != want)
			return false;
	}
	return true;
}

static bool epi_push(tz_epi *ep, int64_t code, int64_t s1, int64_t s2)
{
	if (ep->n >= LATHE_UK_EPI_MAX)
		return false;
	int i = ep->n++;
	ep->code[i] = code, ep->s1[i] = s1, ep->s2[i] = s2;
	ep->load[i] = NULL;
	ep->scalar[i] = false;
	return true;
}

/* The binary operators an epilogue has, as LATHE_UK_OP_*; -1 otherwise. */
static int epi_op(int tir_op)
{
	switch (tir_op) {
	case LATHE_TIR_ADD: return LATHE_UK_OP_ADD;
	case LATHE_TIR_MUL: return LATHE_UK_OP_MUL;
	case LATHE_TIR_MAX: return LATHE_UK_OP_MAX;
	case LATHE_TIR_MIN: return LATHE_UK_OP_MIN;
	case LATHE_TIR_SUB: return LATHE_UK_OP_SUB;
	case LATHE_TIR_DIV: return LATHE_UK_OP_DIV;
	}
	return -1;
}

/* Emits op(t, other) (op(other, t) when rev) for an operand without acc:
 * a float constant or a load indexed by M and N. */
static bool epi_operand(tz *z, const tz_axes *x, int op, bool rev, lathe_tir_expr *other, tz_epi *ep)
{
	if (other->kind == LATHE_TIR_E_FLOAT && other->dtype == LATHE_DT_F32) {
		static const int64_t codes[] = {LATHE_UK_EPI_ADD_S, LATHE_UK_EPI_MUL_S, LATHE_UK_EPI_MAX_S,
						LATHE_UK_EPI_MIN_S, LATHE_UK_EPI_SUB_S, LATHE_UK_EPI_DIV_S};
		if (!epi_push(ep, codes[op], 0, rev))
			return false;
		ep->scalar[ep->n - 1] = true;
		ep->f[ep->n - 1] = other->u.f;
		return true;
	}
	if (other->kind != LATHE_TIR_E_LOAD || other->dtype != LATHE_DT_F32 ||
	    other->u.buf == z->final->buf || sched_stmt_writes(z->nest, other->u.buf))
		return false;
	sched_aff a;
	int64_t sm, sn;
	if (!sched_aff_flat(&z->I, other->u.buf, other->idx, &a) || !nest_aff(z, &a))
		return false;
	for (int k = z->nout; k < z->nv; k++)
		if (coef(&a, &z->v[k]))
			return false;
	if (!axis_stride(&a, x->m, x->nm, &sm) || !axis_stride(&a, x->n, x->nn, &sn) || sm < 0 ||
	    sn < 0)
		return false;
	int64_t code;
	switch (op) {
	case LATHE_UK_OP_ADD: case LATHE_UK_OP_MUL: { /* commutative: no order */
		int64_t b = op == LATHE_UK_OP_ADD ? LATHE_UK_EPI_ADD_M : LATHE_UK_EPI_MUL_M;
		bool ok = sn == 0 ? epi_push(ep, b, sm, 0)
			  : sm == 0 ? epi_push(ep, b + 1, sn, 0) : epi_push(ep, b + 2, sm, sn);
		if (ok)
			ep->load[ep->n - 1] = other;
		return ok;
	}
	case LATHE_UK_OP_MAX: code = rev ? LATHE_UK_EPI_MAX_TR : LATHE_UK_EPI_MAX_T; break;
	case LATHE_UK_OP_MIN: code = rev ? LATHE_UK_EPI_MIN_TR : LATHE_UK_EPI_MIN_T; break;
	case LATHE_UK_OP_SUB: code = rev ? LATHE_UK_EPI_SUB_TR : LATHE_UK_EPI_SUB_T; break;
	default: code = rev ? LATHE_UK_EPI_DIV_TR : LATHE_UK_EPI_DIV_T; break;
	}
	if (!epi_push(ep, code, sm, sn))
		return false;
	ep->load[ep->n - 1] = other;
	return true;
}

static bool epi_is_base(tz *z, const lathe_tir_expr *e, const lathe_tir_expr *base)
{
	return base ? sched_expr_eq(e, base) : is_acc_load(z, e);
}

/* Emits the operations that compute e from `base` (acc when NULL), in
 * order: e is a chain of operators over base with operands free of acc;
 * where both operands depend on acc (GELU's x * f(x)), one of them must be
 * computed on the way to the other: it is computed, kept (SAVE), the other
 * computed from it, and the two combined (SAVED).  One kept value at most.
 * False if e is not of that form (the caller then runs E as a nest). */
static bool epi_gen(tz *z, const tz_axes *x, lathe_tir_expr *e, lathe_tir_expr *base, tz_epi *ep)
{
	if (epi_is_base(z, e, base))
		return true;
	if (e->dtype != LATHE_DT_F32)
		return false;
	if (e->kind == LATHE_TIR_E_UNARY && e->op == LATHE_TIR_ERF)
		return epi_gen(z, x, e->a, base, ep) && epi_push(ep, LATHE_UK_EPI_ERF, 0, 0);
	int op = e->kind == LATHE_TIR_E_BINARY ? epi_op(e->op) : -1;
	if (op < 0)
		return false;
	bool left = sched_expr_reads(e->a, z->acc), right = sched_expr_reads(e->b, z->acc);
	if (left && right) {
		if (ep->saves)
			return false;
		for (int first = 0; first < 2; first++) {
			lathe_tir_expr *f = first ? e->b : e->a, *g = first ? e->a : e->b;
			int n = ep->n;
			ep->saves = 1;
			if (epi_gen(z, x, f, base, ep) && epi_push(ep, LATHE_UK_EPI_SAVE, 0, 0) &&
			    epi_gen(z, x, g, f, ep) &&
			    epi_push(ep, LATHE_UK_EPI_SAVED, op, first == 0 /* kept value first */))
				return true;
			ep->n = n;
			ep->saves = 0;
		}
		return false;
	}
	if (!left && !right)
		return false;
	lathe_tir_expr *inner = left ? e->a : e->b, *other = left ? e->b : e->a;
	return epi_gen(z, x, inner, base, ep) && epi_operand(z, x, op, !left, other, ep);
}

/* E as an epilogue (operations in order); false if it is not one. */
static bool epi_chain(tz *z, const tz_axes *x, lathe_tir_expr *e, tz_epi *ep)
{
	ep->n = ep->saves = 0;
	return epi_gen(z, x, e, NULL, ep);
}

/* ---- building the call --------------------------------------------------------- */

typedef LATHE_VEC(lathe_tir_arg) arg_vec;

static void arg_ptr(arg_vec *v, int kind, lathe_tir_buf *b, lathe_tir_expr **idx)
{
	lathe_tir_arg a = {.kind = (uint8_t)kind, .buf = b, .idx = idx};
	lathe_vec_push(v, a);
}

static void arg_int(tz *z, arg_vec *v, int64_t x)
{
	lathe_tir_arg a = {.kind = LATHE_TIR_ARG_VALUE, .value = sched_i64(z->f, x)};
	lathe_vec_push(v, a);
}

static void arg_f64(tz *z, arg_vec *v, double x)
{
	lathe_tir_arg a = {.kind = LATHE_TIR_ARG_VALUE, .value = lathe_tir_float(z->f, LATHE_DT_F64, x)};
	lathe_vec_push(v, a);
}

/* Marks (by var id) of the nest's loops with the given roles. */
static uint8_t *role_marks(tz *z, int r1, int r2, int r3)
{
	uint8_t *m = lathe_arena_new(z->f->arena, uint8_t, z->f->vars.len + 1);
	for (int i = 0; i < z->nv; i++) {
		int r = z->v[i].role;
		if (r == r1 || r == r2 || r == r3)
			m[z->v[i].v->id] = 1;
	}
	return m;
}

/* The epilogue's pointers (appended to args) and its ints (to ints). */
static void epi_args(tz *z, const tz_epi *ep, arg_vec *args, int64_t *ints, int *ni,
		     double *flts, int *nf)
{
	uint8_t *mn = role_marks(z, ROLE_M, ROLE_N, ROLE_K);
	for (int i = 0; i < ep->n; i++) {
		ints[(*ni)++] = ep->code[i];
		if (ep->load[i]) {
			lathe_tir_buf *b = ep->load[i]->u.buf;
			arg_ptr(args, LATHE_TIR_ARG_READ, b, idx_at_zero(z, b, ep->load[i]->idx, mn));
			ints[(*ni)++] = ep->s1[i];
			ints[(*ni)++] = ep->s2[i];
		} else if (ep->scalar[i]) {
			flts[*nf] = ep->f[i];
			ints[(*ni)++] = (*nf)++;
			ints[(*ni)++] = ep->s2[i];
		} else {
			ints[(*ni)++] = ep->s1[i];
			ints[(*ni)++] = ep->s2[i];
		}
	}
}

/* The call of kernel name: args (its pointers, consumed), then the
 * epilogue's pointers, ints[0..ni0) followed by the epilogue's ints, and
 * its scalars. */
static lathe_tir_stmt *kernel_call(tz *z, const char *name, arg_vec *args, const tz_epi *ep,
				   int64_t *ints, int ni0)
{
	int ni = ni0, nf = 0;
	double flts[LATHE_UK_EPI_MAX];
	epi_args(z, ep, args, ints, &ni, flts, &nf);
	for (int i = 0; i < ni; i++)
		arg_int(z, args, ints[i]);
	for (int i = 0; i < nf; i++)
		arg_f64(z, args, flts[i]);
	lathe_tir_stmt *call = lathe_tir_call(z->f, name, (int)args->len, args->data);
	lathe_vec_free(args);
	return call;
}

/* The batch loops (outermost first) around `inner`. */
static lathe_tir_stmt *wrap_batch(tz *z, lathe_tir_stmt *inner)
{
	for (int i = z->nout - 1; i >= 0; i--)
		if (z->v[i].role == ROLE_BATCH && z->v[i].ext > 1)
			inner = lathe_tir_for(z->f, z->v[i].v, sched_i64(z->f, 0), sched_i64(z->f, z->v[i].ext),
					      LATHE_TIR_SERIAL, inner);
		else if (z->v[i].role == ROLE_BATCH)
			inner = sched_subst1(z->f, inner, z->v[i].v, sched_i64(z->f, 0));
	return inner;
}

typedef struct tz_cur {
	const tz *z;
	const lathe_tir_stmt *st;
} tz_cur;

static lathe_tir_expr *acc_to_cur(sched_rw *rw, lathe_tir_expr *e)
{
	const tz_cur *c = rw->ctx;
	return e->u.buf == c->z->acc ? lathe_tir_load(rw->f, c->st->buf, c->st->idx) : e;
}

static lathe_tir_stmt *fin_in_place(sched_rw *rw, lathe_tir_stmt *s)
{
	sched_rw r2;
	sched_rw_init(&r2, rw->f);
	tz_cur cur = {rw->ctx, s};
	r2.load = acc_to_cur;
	r2.ctx = &cur;
	lathe_tir_expr *v = sched_rw_expr(&r2, s->value);
	sched_rw_deinit(&r2);
	return lathe_tir_store(rw->f, s->buf, s->idx, v);
}

/* E's own nest over OUT, in place, on fresh loop variables (when E is no
 * epilogue chain): for o... { OUT[...] = E(OUT[...]) }. */
static lathe_tir_stmt *epilogue_nest(tz *z)
{
	lathe_tir_stmt *s = z->final;
	for (int i = z->nout - 1; i >= 0; i--)
		s = lathe_tir_for(z->f, z->v[i].v, sched_i64(z->f, 0), sched_i64(z->f, z->v[i].ext),
				  LATHE_TIR_SERIAL, s);
	sched_rw rw;
	sched_rw_init(&rw, z->f);
	rw.fresh = true;
	rw.store = fin_in_place;
	rw.ctx = z;
	lathe_tir_stmt *r = sched_rw_stmt(&rw, s);
	sched_rw_deinit(&rw);
	return r;
}

/* Replaces the nest by stmts[0..n). */
static void replace_nest(tz *z, lathe_tir_stmt **stmts, int n)
{
	sched_path p = {0};
	if (sched_find_stmt(z->f, z->nest, &p))
		sched_replace(z->f, &p, sched_seq(z->f, n, stmts));
	sched_path_free(&p);
}

/* A pack call of operand o into a new local, panels of r; k[] the K loops. */
static lathe_tir_stmt *pack_call(tz *z, const tz_opnd *o, int side, tz_var *const *ax, int nax,
				 int64_t r, tz_var *const *k, lathe_tir_buf **out)
{
	int64_t mn = axis_size(ax, nax), kk = 1, smn = nax ? coef(&o->flat, ax[0]) : 0;
	for (int i = 0; i < TZ_MAXK; i++)
		kk *= k[i] ? k[i]->ext : 1;
	/* SIDE 2 (a Winograd transform) writes a 6x6 tile per 3x3 filter */
	int64_t shape[1] = {(mn + r - 1) / r * r * kk * (side == 2 ? 4 : 1)};
	lathe_tir_buf *b = o->load->u.buf;
	*out = sched_new_local(z->f, b->name, "_p", LATHE_DT_F32, 1, shape);
	arg_vec args = {0};
	uint8_t *zero = role_marks(z, ROLE_M, ROLE_N, ROLE_K);
	arg_ptr(&args, LATHE_TIR_ARG_READ, b, idx_at_zero(z, b, o->load->idx, zero));
	lathe_tir_expr *z0 = sched_i64(z->f, 0);
	arg_ptr(&args, LATHE_TIR_ARG_WRITE, *out, &z0);
	int64_t ints[LATHE_UK_P_FIXED] = {side, mn, k[0] ? k[0]->ext : 1, k[1] ? k[1]->ext : 1,
					  k[2] ? k[2]->ext : 1, r, smn,
					  k[0] ? coef(&o->flat, k[0]) : 0, k[1] ? coef(&o->flat, k[1]) : 0,
					  k[2] ? coef(&o->flat, k[2]) : 0};
	for (int i = 0; i < LATHE_UK_P_FIXED; i++)
		arg_int(z, &args, ints[i]);
	lathe_tir_stmt *c = lathe_tir_call(z->f, "pack", (int)args.len, args.data);
	lathe_vec_free(&args);
	return c;
}

/* An operand is packed once, before the batch loops, when it is a constant
 * parameter (weights: `lathe compile` then packs it at compile time) that
 * nothing in the function writes and whose position no batch loop moves.
 * Other operands are read in place or packed by the kernel, block by
 * block. */
static bool packable(tz *z, const tz_opnd *o)
{
	lathe_tir_buf *b = o->load->u.buf;
	if (b->kind != LATHE_TIR_PARAM || !b->constant || o->cond ||
	    sched_stmt_writes(z->f->body, b))
		return false;
	for (int i = 0; i < z->nout; i++)
		if (z->v[i].role == ROLE_BATCH && z->v[i].ext > 1 && coef(&o->flat, &z->v[i]))
			return false;
	return true;
}

/* ---- sgemm ------------------------------------------------------------------------ */

/* The im2col view of B (ints at LATHE_UK_G_IM_*), or false. */
static bool im2col_view(tz *z, const tz_opnd *o, tz_var *ow, tz_var *oh, tz_var *const *k,
			int64_t *ip, lathe_tir_expr ***out_idx)
{
	lathe_tir_expr *ld = o->load;
	lathe_tir_buf *x = ld->u.buf;
	int r = x->rank;
	if (r < 3)
		return false;
	int dw = r - 1, dh = r - 2;
	bool has_h = r >= 4;
	if (!has_h)
		dh = -1;
	sched_aff a[32];
	if (r > 32)
		return false;
	for (int d = 0; d < r; d++)
		if (!sched_aff_of(&z->I, ld->idx[d], &a[d]) || !nest_aff(z, &a[d]))
			return false;
	/* N loops only in the spatial dimensions: ow in w, oh in h. */
	for (int d = 0; d < r; d++) {
		int64_t cw = coef(&a[d], ow), chh = oh ? coef(&a[d], oh) : 0;
		if ((d != dw && cw) || (d != dh && chh))
			return false;
	}
	int64_t sw = coef(&a[dw], ow), sh = oh && has_h ? coef(&a[dh], oh) : 0;
	if (sw < 1 || (oh && oh->ext > 1 && sh < 1))
		return false;
	/* Batch loops only outside the spatial dimensions (they move the pointer). */
	for (int i = 0; i < z->nout; i++) {
		tz_var *v = &z->v[i];
		if (v->role == ROLE_BATCH && (coef(&a[dw], v) || (has_h && coef(&a[dh], v))))
			return false;
	}
	memset(ip + LATHE_UK_G_IM_CC0, 0, sizeof *ip * (LATHE_UK_G_NEPI - LATHE_UK_G_IM_CC0));
	for (int j = 0; j < TZ_MAXK; j++) {
		if (!k[j])
			continue;
		int64_t cc = 0;
		for (int d = 0; d < r; d++)
			if (d != dw && d != dh)
				cc += dim_stride(x, d) * coef(&a[d], k[j]);
		int64_t ch = has_h ? coef(&a[dh], k[j]) : 0, cw = coef(&a[dw], k[j]);
		if (cc < 0 || ch < 0 || cw < 0)
			return false;
		ip[LATHE_UK_G_IM_CC0 + 3 * j] = cc;
		ip[LATHE_UK_G_IM_CH0 + 3 * j] = ch;
		ip[LATHE_UK_G_IM_CW0 + 3 * j] = cw;
	}
	ip[LATHE_UK_G_IM_SC] = 1;
	ip[LATHE_UK_G_IM_SHS] = has_h ? dim_stride(x, dh) : 0;
	ip[LATHE_UK_G_IM_SWS] = dim_stride(x, dw);
	ip[LATHE_UK_G_IM_H] = has_h ? x->shape[dh] : 1;
	ip[LATHE_UK_G_IM_W] = x->shape[dw];
	ip[LATHE_UK_G_IM_OW] = ow->ext;
	ip[LATHE_UK_G_IM_SH] = sh;
	ip[LATHE_UK_G_IM_SW] = sw;
	ip[LATHE_UK_G_IM_H0] = has_h ? a[dh].c : 0;
	ip[LATHE_UK_G_IM_W0] = a[dw].c;
	/* The kernel tests h and w; the other dimensions must stay inside. */
	if (o->cond && !sched_is_inbounds(&z->I, o->cond, x, ld->idx))
		return false;
	for (int d = 0; d < r; d++) {
		if (o->cond && (d == dw || d == dh))
			continue;
		int64_t lo, hi;
		if (!sched_aff_range(&z->I, &a[d], NULL, true, true, &lo, &hi) || lo < 0 ||
		    hi >= x->shape[d])
			return false;
	}
	/* The pointer: spatial dimensions at 0, N and K loops at 0. */
	uint8_t *zero = role_marks(z, ROLE_M, ROLE_N, ROLE_K);
	lathe_tir_expr **idx = idx_at_zero(z, x, ld->idx, zero);
	idx[dw] = sched_i64(z->f, 0);
	if (has_h)
		idx[dh] = sched_i64(z->f, 0);
	*out_idx = idx;
	return idx_in_bounds(z, x, idx);
}

/* Whether a convolution takes sgemm's transposed tile (32 x 14: 14 output
 * positions by 32 output channels, the channels on the vector axis) rather
 * than the native one (positions on the vector axis): where the positions
 * are few (the later layers of a CNN: 7x7, 14x14, 28x28), the native tile
 * wastes much of its width on the last panel and on a direct
 * convolution's padded rows, while channel counts are multiples of 32
 * (and the kernel has a 7-row tail: 49 positions waste nothing). */
static bool transposed_tile(int vector_bytes, int64_t M, int64_t N)
{
	return vector_bytes >= 64 && M % 32 == 0 && N % 7 == 0 && N <= TZ_TRANS_NMAX;
}

/* ---- Winograd ----------------------------------------------------------------------- */

/* Whether F(4x4, 3x3) beats the direct convolution on this shape (measured
 * on AVX-512, docs/schedules.md): enough channels for the 36 products to
 * run near the tile kernel's peak, and enough rows of tiles to fill its
 * columns.  Small images (7x7) waste most of a tile at their edges. */
static bool wino_pays(int64_t C, int64_t O, int64_t OH, int64_t OW)
{
	return C >= 16 && O >= 32 && OH >= 12 && OW >= 12 && C <= 512;
}

/* A convolution B (im2col, ints gi) of 3x3 windows at stride 1 whose
 * weights A are constant goes to wino (runtime/src/ukernel_wino.c) where
 * that pays: its weights are transformed by a pack call (SIDE 2, done at
 * compile time), the rest as for sgemm.  The K loops must be the input
 * channels (no move in h or w), kh (h + 1) and kw (w + 1); X's rows
 * contiguous. */
static bool tensorize_wino(tz *z, tz_opnd *A, tz_opnd *B, const tz_axes *x, tz_var *const *k,
			   const int64_t *gi, lathe_tir_expr **bidx, const tz_epi *ep, bool chain,
			   int64_t M, int64_t N)
{
	if (z->t->vector_bytes < 64 || z->t->no_winograd || x->nm != 1 || gi[LATHE_UK_G_IM_SH] != 1 ||
	    gi[LATHE_UK_G_IM_SW] != 1 || gi[LATHE_UK_G_IM_SWS] != 1)
		return false;
	int jc = -1, jh = -1, jw = -1;
	for (int j = 0; j < TZ_MAXK; j++) {
		if (!k[j])
			return false;
		int64_t cc = gi[LATHE_UK_G_IM_CC0 + 3 * j], ch = gi[LATHE_UK_G_IM_CH0 + 3 * j];
		int64_t cw = gi[LATHE_UK_G_IM_CW0 + 3 * j];
		if (cc > 0 && !ch && !cw && jc < 0)
			jc = j;
		else if (!cc && ch == 1 && !cw && k[j]->ext == 3 && jh < 0)
			jh = j;
		else if (!cc && !ch && cw == 1 && k[j]->ext == 3 && jw < 0)
			jw = j;
		else
			return false;
	}
	int64_t OW = gi[LATHE_UK_G_IM_OW], OH = N / OW;
	int64_t PH = -gi[LATHE_UK_G_IM_H0], PW = -gi[LATHE_UK_G_IM_W0];
	if (N % OW || PH < 0 || PW < 0 || !wino_pays(k[jc]->ext, M, OH, OW))
		return false;
	int mr, nr;
	lathe_rt_uk_gemm_tile(z->t->vector_bytes, &mr, &nr);
	int64_t wi[LATHE_UK_W_FIXED + LATHE_UK_EPI_MAX * LATHE_UK_EPI_INTS];
	memset(wi, 0, sizeof wi);
	wi[LATHE_UK_W_C] = k[jc]->ext;
	wi[LATHE_UK_W_H] = gi[LATHE_UK_G_IM_H];
	wi[LATHE_UK_W_W] = gi[LATHE_UK_G_IM_W];
	wi[LATHE_UK_W_XSC] = gi[LATHE_UK_G_IM_CC0 + 3 * jc];
	wi[LATHE_UK_W_XSH] = gi[LATHE_UK_G_IM_SHS];
	wi[LATHE_UK_W_O] = M;
	wi[LATHE_UK_W_OH] = OH;
	wi[LATHE_UK_W_OW] = OW;
	wi[LATHE_UK_W_YSC] = x->m[0]->co;
	wi[LATHE_UK_W_PH] = PH;
	wi[LATHE_UK_W_PW] = PW;
	wi[LATHE_UK_W_MR] = mr;
	wi[LATHE_UK_W_NR] = nr;
	wi[LATHE_UK_W_SLOTS] = z->t->threads > 1 ? (z->t->threads < 64 ? z->t->threads : 64) : 1;
	tz_var *kw[TZ_MAXK] = {k[jc], k[jh], k[jw]};
	if (wi[LATHE_UK_W_YSC] < N || coef(&A->flat, x->m[0]) < 0)
		return false;
	for (int j = 0; j < TZ_MAXK; j++) /* a flipped filter (kh -> 2 - kh) is not one */
		if (coef(&A->flat, kw[j]) < 0)
			return false;
	int64_t scratch = lathe_rt_uk_wino_scratch(wi, LATHE_UK_W_FIXED);
	if (scratch < 0)
		return false;
	uint8_t *zero = role_marks(z, ROLE_M, ROLE_N, ROLE_K);
	lathe_tir_buf *bb = B->load->u.buf, *cb = z->final->buf;
	lathe_tir_expr **cidx = idx_at_zero(z, cb, z->final->idx, zero);
	if (!idx_in_bounds(z, bb, bidx) || !idx_in_bounds(z, cb, cidx))
		return false;
	lathe_tir_buf *up = NULL;
	lathe_tir_stmt *pre[3];
	int npre = 0;
	pre[npre++] = pack_call(z, A, 2, x->m, x->nm, mr, kw, &up);
	int64_t wshape[1] = {scratch};
	lathe_tir_buf *ws = sched_new_local(z->f, "ws", "", LATHE_DT_F32, 1, wshape);
	lathe_tir_expr *z0 = sched_i64(z->f, 0);
	arg_vec args = {0};
	arg_ptr(&args, LATHE_TIR_ARG_READ, up, &z0);
	arg_ptr(&args, LATHE_TIR_ARG_READ, bb, bidx);
	arg_ptr(&args, LATHE_TIR_ARG_WRITE, cb, cidx);
	arg_ptr(&args, LATHE_TIR_ARG_SCRATCH, ws, &z0);
	wi[LATHE_UK_W_NEPI] = ep->n;
	pre[npre++] = wrap_batch(z, kernel_call(z, "wino", &args, ep, wi, LATHE_UK_W_FIXED));
	if (!chain)
		pre[npre++] = epilogue_nest(z);
	replace_nest(z, pre, npre);
	return true;
}

static bool tensorize_gemm(tz *z)
{
	/* N: the output loop of stride 1; B reads it, A does not. */
	tz_var *vn = NULL;
	for (int i = 0; i < z->nout; i++)
		if (z->v[i].co == 1 && z->v[i].ext > 1)
			vn = &z->v[i];
	if (!vn)
		return false;
	bool in0 = coef(&z->op[0].flat, vn) != 0, in1 = coef(&z->op[1].flat, vn) != 0;
	if (in0 == in1)
		return false;
	tz_opnd *A = &z->op[in0 ? 1 : 0], *B = &z->op[in0 ? 0 : 1];
	if (A->cond)
		return false;
	for (int i = 0; i < z->nout; i++) {
		tz_var *v = &z->v[i];
		bool a = coef(&A->flat, v) != 0, b = coef(&B->flat, v) != 0;
		v->role = a == b ? ROLE_BATCH : a ? ROLE_M : ROLE_N;
	}
	tz_axes x = {0};
	x.nm = merge_axis(z, ROLE_M, &A->flat, x.m);
	tz_var *k[TZ_MAXK] = {0};
	for (int i = z->nout, j = 0; i < z->nv; i++)
		k[j++] = &z->v[i];
	int mr, nr;
	lathe_rt_uk_gemm_tile(z->t->vector_bytes, &mr, &nr);
	int64_t ip[LATHE_UK_G_FIXED + LATHE_UK_EPI_MAX * LATHE_UK_EPI_INTS];
	memset(ip, 0, sizeof ip);
	lathe_tir_expr **bidx = NULL;
	/* B strided when its N loops merge and nothing pads it. */
	tz_var *nsave[TZ_MAXV];
	int roles[TZ_MAXV];
	for (int i = 0; i < z->nout; i++)
		roles[i] = z->v[i].role;
	x.nn = merge_axis(z, ROLE_N, &B->flat, x.n);
	bool im2col = B->cond != NULL;
	for (int i = 0; i < z->nout; i++)
		if (roles[i] == ROLE_N && z->v[i].role != ROLE_N && z->v[i].ext > 1)
			im2col = true;
	if (x.nn < 1 || x.n[0] != vn)
		return false;
	if (im2col) {
		/* Back to the N loops as they were: ow and oh. */
		int nn = 0;
		for (int i = 0; i < z->nout; i++) {
			z->v[i].role = roles[i];
			if (roles[i] == ROLE_N && z->v[i].ext > 1)
				nsave[nn++] = &z->v[i];
		}
		/* oh: the loop of stride OW in OUT; any other N loop (a batch
		 * only B reads) stays a loop around the call. */
		tz_var *oh = NULL;
		for (int i = 0; i < nn; i++) {
			if (nsave[i] == vn)
				continue;
			if (!oh && nsave[i]->co == vn->ext)
				oh = nsave[i];
			else
				nsave[i]->role = ROLE_BATCH;
		}
		x.nn = 0;
		x.n[x.nn++] = vn;
		if (oh)
			x.n[x.nn++] = oh;
		if (!im2col_view(z, B, vn, oh, k, ip, &bidx))
			return false;
	}
	int64_t M = axis_size(x.m, x.nm), N = axis_size(x.n, x.nn);
	/* E as an epilogue, or a nest of its own after the call. */
	tz_epi ep = {0};
	bool chain = epi_chain(z, &x, z->final->value, &ep);
	if (!chain)
		ep.n = 0;
	bool packA = packable(z, A), packB = !im2col && packable(z, B);
	if (im2col && packA && tensorize_wino(z, A, B, &x, k, ip, bidx, &ep, chain, M, N))
		return true;
	/* The transposed tile for convolutions, im2col or 1x1 (constant
	 * weights times a strided input: B is the activations, packed per
	 * task into the tile's panels of 14 positions). */
	if ((im2col || (packA && !packB && M > 1)) && transposed_tile(z->t->vector_bytes, M, N))
		mr = 32, nr = 14;
	/* One row reuses nothing: B is streamed once, unpacked, by sgemv
	 * (runtime/src/ukernel_gemv.c), which takes sgemm's arguments. */
	bool gemv = M == 1 && !im2col;
	if (gemv)
		packA = packB = false;
	ip[LATHE_UK_G_M] = M;
	ip[LATHE_UK_G_N] = N;
	for (int j = 0; j < TZ_MAXK; j++)
		ip[LATHE_UK_G_K0 + j] = k[j] ? k[j]->ext : 1;
	ip[LATHE_UK_G_MR] = mr;
	ip[LATHE_UK_G_NR] = nr;
	ip[LATHE_UK_G_AFMT] = packA ? LATHE_UK_FMT_PACKED : LATHE_UK_FMT_STRIDED;
	ip[LATHE_UK_G_ARS] = x.nm ? coef(&A->flat, x.m[0]) : 0;
	ip[LATHE_UK_G_BFMT] = im2col ? LATHE_UK_FMT_IM2COL
			      : packB ? LATHE_UK_FMT_PACKED : LATHE_UK_FMT_STRIDED;
	ip[LATHE_UK_G_BCS] = im2col ? 0 : coef(&B->flat, vn);
	for (int j = 0; j < TZ_MAXK; j++) {
		ip[LATHE_UK_G_AK0 + j] = k[j] ? coef(&A->flat, k[j]) : 0;
		ip[LATHE_UK_G_BK0 + j] = k[j] && !im2col ? coef(&B->flat, k[j]) : 0;
		if (ip[LATHE_UK_G_AK0 + j] < 0 || ip[LATHE_UK_G_BK0 + j] < 0)
			return false;
	}
	ip[LATHE_UK_G_LDC] = x.nm ? x.m[0]->co : N;
	ip[LATHE_UK_G_SLOTS] = z->t->threads > 1 ? (z->t->threads < 64 ? z->t->threads : 64) : 1;
	if (ip[LATHE_UK_G_ARS] < 0 || ip[LATHE_UK_G_BCS] < 0 || ip[LATHE_UK_G_LDC] < N)
		return false;
	int64_t scratch = lathe_rt_uk_sgemm_scratch(ip, LATHE_UK_G_FIXED);
	if (scratch < 0)
		return false;
	if (gemv)
		scratch = 1;

	/* Pointers at the origin of M, N and K (batch loops stay). */
	uint8_t *zero = role_marks(z, ROLE_M, ROLE_N, ROLE_K);
	lathe_tir_buf *ab = A->load->u.buf, *bb = B->load->u.buf, *cb = z->final->buf;
	lathe_tir_expr **aidx = idx_at_zero(z, ab, A->load->idx, zero);
	if (!bidx)
		bidx = idx_at_zero(z, bb, B->load->idx, zero);
	lathe_tir_expr **cidx = idx_at_zero(z, cb, z->final->idx, zero);
	if (!idx_in_bounds(z, ab, aidx) || !idx_in_bounds(z, bb, bidx) || !idx_in_bounds(z, cb, cidx))
		return false;

	lathe_tir_stmt *pre[4];
	int npre = 0;
	lathe_tir_buf *ap = NULL, *bp = NULL;
	if (packA)
		pre[npre++] = pack_call(z, A, 0, x.m, x.nm, mr, k, &ap);
	if (packB)
		pre[npre++] = pack_call(z, B, 1, x.n, x.nn, nr, k, &bp);
	int64_t wshape[1] = {scratch};
	lathe_tir_buf *ws = sched_new_local(z->f, "ws", "", LATHE_DT_F32, 1, wshape);
	lathe_tir_expr *z0 = sched_i64(z->f, 0);
	arg_vec args = {0};
	if (ap)
		arg_ptr(&args, LATHE_TIR_ARG_READ, ap, &z0);
	else
		arg_ptr(&args, LATHE_TIR_ARG_READ, ab, aidx);
	if (bp)
		arg_ptr(&args, LATHE_TIR_ARG_READ, bp, &z0);
	else
		arg_ptr(&args, LATHE_TIR_ARG_READ, bb, bidx);
	arg_ptr(&args, LATHE_TIR_ARG_WRITE, cb, cidx);
	arg_ptr(&args, LATHE_TIR_ARG_SCRATCH, ws, &z0);
	ip[LATHE_UK_G_NEPI] = ep.n;
	pre[npre++] = wrap_batch(z, kernel_call(z, gemv ? "sgemv" : "sgemm", &args, &ep, ip,
						LATHE_UK_G_FIXED));
	if (!chain)
		pre[npre++] = epilogue_nest(z);
	replace_nest(z, pre, npre);
	return true;
}

/* ---- depthwise convolution ---------------------------------------------------------- */

/* dwconv's and maxpool's sizes and strides: below 2^24, as they take them. */
static bool uk_d_ok(const int64_t *ip)
{
	for (int i = 0; i < LATHE_UK_D_NEPI; i++)
		if (ip[i] < 0 || ip[i] >= ((int64_t)1 << 24))
			return false;
	return true;
}

static bool tensorize_dw(tz *z)
{
	if (z->nv - z->nout > 2)
		return false;
	tz_var *ow = NULL;
	for (int i = 0; i < z->nout; i++)
		if (z->v[i].co == 1 && z->v[i].ext > 1)
			ow = &z->v[i];
	if (!ow)
		return false;
	/* X reads ow; the filter does not. */
	bool in0 = coef(&z->op[0].flat, ow) != 0, in1 = coef(&z->op[1].flat, ow) != 0;
	if (in0 == in1)
		return false;
	tz_opnd *X = &z->op[in0 ? 0 : 1], *Wt = &z->op[in0 ? 1 : 0];
	if (Wt->cond)
		return false;
	lathe_tir_buf *xb = X->load->u.buf;
	int r = xb->rank;
	if (r != 4)
		return false;
	sched_aff a[4];
	for (int d = 0; d < r; d++)
		if (!sched_aff_of(&z->I, X->load->idx[d], &a[d]) || !nest_aff(z, &a[d]))
			return false;
	/* Roles: ow (w), oh (h), the channel loop (in X, the filter and OUT),
	 * batch loops (X and OUT only), kh (h) and kw (w). */
	tz_var *oh = NULL, *ch = NULL, *kh = NULL, *kw = NULL;
	for (int i = 0; i < z->nv; i++) {
		tz_var *v = &z->v[i];
		if (v == ow || v->ext == 1)
			continue;
		bool inw = coef(&Wt->flat, v) != 0;
		if (v->red) {
			if (coef(&a[2], v) && !coef(&a[3], v) && !kh)
				kh = v;
			else if (coef(&a[3], v) && !coef(&a[2], v) && !kw)
				kw = v;
			else
				return false;
			if (coef(&a[0], v) || coef(&a[1], v) || !inw)
				return false;
		} else if (inw) {
			if (ch)
				return false;
			ch = v;
		} else if (coef(&a[2], v)) {
			if (oh)
				return false;
			oh = v;
		} else {
			v->role = ROLE_BATCH;
		}
	}
	if (!ch || coef(&a[2], ch) || coef(&a[3], ch))
		return false;
	for (int i = 0; i < z->nout; i++) {
		tz_var *v = &z->v[i];
		if (v->role == ROLE_BATCH && (coef(&a[2], v) || coef(&a[3], v) || coef(&Wt->flat, v)))
			return false;
	}
	if (oh && (coef(&a[3], oh) || coef(&a[0], oh) || coef(&a[1], oh)))
		return false;
	if (coef(&a[0], ow) || coef(&a[1], ow) || coef(&a[2], ow))
		return false;
	int64_t OW = ow->ext, OH = oh ? oh->ext : 1, KH = kh ? kh->ext : 1, KW = kw ? kw->ext : 1;
	int64_t SH = oh ? coef(&a[2], oh) : 1, SW = coef(&a[3], ow);
	int64_t DH = kh ? coef(&a[2], kh) : 1, DW = kw ? coef(&a[3], kw) : 1;
	int64_t PH = -a[2].c, PW = -a[3].c;
	int64_t xsc = dim_stride(xb, 0) * coef(&a[0], ch) + dim_stride(xb, 1) * coef(&a[1], ch);
	/* The filter: [c][kh][kw] contiguous; OUT: [c][oh][ow]. */
	int64_t wsc = coef(&Wt->flat, ch);
	if ((kw && coef(&Wt->flat, kw) != 1) || (kh && coef(&Wt->flat, kh) != KW) ||
	    (oh && oh->co != OW) || SH < 1 || SW < 1 || DH < 1 || DW < 1 || PH < 0 || PW < 0 ||
	    xsc < 1 || wsc < KH * KW || ch->co < OH * OW)
		return false;
	if (X->cond && !sched_is_inbounds(&z->I, X->cond, xb, X->load->idx))
		return false;
	for (int d = 0; d < r; d++) {
		int64_t lo, hi;
		if (X->cond && d >= 2)
			continue;
		if (!sched_aff_range(&z->I, &a[d], NULL, true, true, &lo, &hi) || lo < 0 ||
		    hi >= xb->shape[d])
			return false;
	}
	ch->role = ROLE_M;
	ow->role = ROLE_N;
	if (oh)
		oh->role = ROLE_N;
	tz_axes x = {.nm = 1, .nn = 1};
	x.m[0] = ch;
	x.n[0] = ow;
	if (oh)
		x.n[x.nn++] = oh;
	tz_epi ep = {0};
	bool chain = epi_chain(z, &x, z->final->value, &ep);
	if (!chain)
		ep.n = 0;
	uint8_t *zero = role_marks(z, ROLE_M, ROLE_N, ROLE_K);
	lathe_tir_expr **xidx = idx_at_zero(z, xb, X->load->idx, zero);
	xidx[2] = xidx[3] = sched_i64(z->f, 0);
	lathe_tir_buf *wb = Wt->load->u.buf, *yb = z->final->buf;
	lathe_tir_expr **widx = idx_at_zero(z, wb, Wt->load->idx, zero);
	lathe_tir_expr **yidx = idx_at_zero(z, yb, z->final->idx, zero);
	if (!idx_in_bounds(z, xb, xidx) || !idx_in_bounds(z, wb, widx) || !idx_in_bounds(z, yb, yidx))
		return false;
	arg_vec args = {0};
	arg_ptr(&args, LATHE_TIR_ARG_READ, xb, xidx);
	arg_ptr(&args, LATHE_TIR_ARG_READ, wb, widx);
	arg_ptr(&args, LATHE_TIR_ARG_WRITE, yb, yidx);
	int64_t ip[LATHE_UK_D_FIXED + LATHE_UK_EPI_MAX * LATHE_UK_EPI_INTS] = {
		ch->ext, xb->shape[2], xb->shape[3], OH, OW, KH, KW, SH, SW, DH, DW, PH, PW,
		xsc, dim_stride(xb, 2), wsc, ch->co, ep.n};
	if (!uk_d_ok(ip)) {
		lathe_vec_free(&args);
		return false;
	}
	lathe_tir_stmt *out[2];
	int n = 0;
	out[n++] = wrap_batch(z, kernel_call(z, "dwconv", &args, &ep, ip, LATHE_UK_D_FIXED));
	if (!chain)
		out[n++] = epilogue_nest(z);
	replace_nest(z, out, n);
	return true;
}

/* ---- max pooling ------------------------------------------------------------------ */

static bool is_ninf_f32(const lathe_tir_expr *e)
{
	return e && e->kind == LATHE_TIR_E_FLOAT && e->dtype == LATHE_DT_F32 && __builtin_isinf(e->u.f) &&
	       e->u.f < 0;
}

/* for o... { acc = -inf; for r... { acc = max(acc, P) }; OUT[...] = E(acc) }
 * with P a load of a rank-4 f32 buffer, possibly through
 * select(in-bounds, X[idx], -inf); sets z->op[0]. */
static bool match_pool(tz *z, lathe_tir_stmt *nest)
{
	lathe_tir_stmt *loops[TZ_MAXV], *body;
	int nl = sched_band(nest, loops, TZ_MAXV, &body);
	if (nl < 1)
		return false;
	z->nest = nest;
	z->nv = 0;
	for (int i = 0; i < nl; i++)
		if (!add_loop(z, loops[i], false))
			return false;
	z->nout = z->nv;
	lathe_tir_stmt *sh[3];
	if (!sched_reduce_shell(body, sh) || !is_ninf_f32(sh[0]->value))
		return false;
	lathe_tir_stmt *red = sh[1], *fin = sh[2];
	z->acc = sh[0]->buf;
	lathe_tir_stmt *rl[TZ_MAXV], *rbody;
	int nr = sched_band(red, rl, TZ_MAXV, &rbody);
	if (nr < 1 || nr > 2)
		return false;
	for (int i = 0; i < nr; i++)
		if (!add_loop(z, rl[i], true))
			return false;
	rbody = sched_unwrap(rbody);
	if (rbody->kind != LATHE_TIR_S_STORE || rbody->buf != z->acc)
		return false;
	/* max(acc, P), acc first: the kernel keeps the loop IR's order. */
	lathe_tir_expr *u = rbody->value, *x;
	if (u->kind != LATHE_TIR_E_BINARY || u->op != LATHE_TIR_MAX || u->dtype != LATHE_DT_F32 ||
	    !is_acc_load(z, u->a))
		return false;
	x = u->b;
	z->final = fin;
	lathe_tir_buf *out = fin->buf;
	if (out == z->acc || out->dtype != LATHE_DT_F32)
		return false;
	if (sched_count_accesses(z->f->body, z->acc) != 3 + sched_count_accesses(fin, z->acc) ||
	    !sched_expr_reads(fin->value, z->acc) || sched_count_accesses(nest, out) != 1)
		return false;
	tz_opnd *o = &z->op[0];
	o->cond = NULL;
	if (x->kind == LATHE_TIR_E_SELECT && is_ninf_f32(x->c)) {
		o->cond = x->a;
		x = x->b;
	}
	if (x->kind != LATHE_TIR_E_LOAD || x->dtype != LATHE_DT_F32 || x->u.buf == z->acc ||
	    x->u.buf == out || x->u.buf->rank != 4)
		return false;
	o->load = x;
	if (!sched_aff_flat(&z->I, out, fin->idx, &z->oflat) || !nest_aff(z, &z->oflat))
		return false;
	for (int i = 0; i < z->nv; i++) {
		tz_var *v = &z->v[i];
		v->co = coef(&z->oflat, v);
		if ((v->red && v->co) || (!v->red && !v->co && v->ext > 1))
			return false;
	}
	return true;
}

static bool tensorize_pool(tz *z)
{
	tz_opnd *X = &z->op[0];
	lathe_tir_buf *xb = X->load->u.buf;
	sched_aff a[4];
	for (int d = 0; d < 4; d++)
		if (!sched_aff_of(&z->I, X->load->idx[d], &a[d]) || !nest_aff(z, &a[d]))
			return false;
	/* Roles: ow (w, stride 1 in OUT), oh (h), kh (h), kw (w), the channel
	 * loop (X's dimension 1), batch loops (the rest, not in h or w). */
	tz_var *ow = NULL, *oh = NULL, *ch = NULL, *kh = NULL, *kw = NULL;
	for (int i = 0; i < z->nv; i++) {
		tz_var *v = &z->v[i];
		if (v->ext == 1)
			continue;
		bool in_h = coef(&a[2], v) != 0, in_w = coef(&a[3], v) != 0;
		bool in_nc = coef(&a[0], v) || coef(&a[1], v);
		if (v->red) {
			if (in_nc || in_h == in_w || (in_h ? kh : kw))
				return false;
			*(in_h ? &kh : &kw) = v;
		} else if (in_w) {
			if (ow || in_h || in_nc || v->co != 1)
				return false;
			ow = v;
		} else if (in_h) {
			if (oh || in_nc)
				return false;
			oh = v;
		} else if (coef(&a[1], v) && !ch) {
			ch = v;
		} else {
			v->role = ROLE_BATCH;
		}
	}
	if (!ow)
		return false;
	int64_t OW = ow->ext, OH = oh ? oh->ext : 1, KH = kh ? kh->ext : 1, KW = kw ? kw->ext : 1;
	int64_t SH = oh ? coef(&a[2], oh) : 1, SW = coef(&a[3], ow);
	int64_t DH = kh ? coef(&a[2], kh) : 1, DW = kw ? coef(&a[3], kw) : 1;
	int64_t PH = -a[2].c, PW = -a[3].c;
	int64_t xsc = ch ? dim_stride(xb, 0) * coef(&a[0], ch) + dim_stride(xb, 1) * coef(&a[1], ch)
			 : 0;
	int64_t C = ch ? ch->ext : 1, ysc = ch ? ch->co : OH * OW;
	if ((oh && oh->co != OW) || SH < 1 || SW < 1 || DH < 1 || DW < 1 || PH < 0 || PW < 0 ||
	    (ch && xsc < 1) || ysc < OH * OW)
		return false;
	if (X->cond && !sched_is_inbounds(&z->I, X->cond, xb, X->load->idx))
		return false;
	for (int d = 0; d < 4; d++) {
		int64_t lo, hi;
		if (X->cond && d >= 2)
			continue;
		if (!sched_aff_range(&z->I, &a[d], NULL, true, true, &lo, &hi) || lo < 0 ||
		    hi >= xb->shape[d])
			return false;
	}
	tz_axes x = {0};
	if (ch) {
		ch->role = ROLE_M;
		x.m[x.nm++] = ch;
	}
	ow->role = ROLE_N;
	x.n[x.nn++] = ow;
	if (oh) {
		oh->role = ROLE_N;
		x.n[x.nn++] = oh;
	}
	tz_epi ep = {0};
	bool chain = epi_chain(z, &x, z->final->value, &ep);
	if (!chain)
		ep.n = 0;
	uint8_t *zero = role_marks(z, ROLE_M, ROLE_N, ROLE_K);
	lathe_tir_expr **xidx = idx_at_zero(z, xb, X->load->idx, zero);
	xidx[2] = xidx[3] = sched_i64(z->f, 0);
	lathe_tir_buf *yb = z->final->buf;
	lathe_tir_expr **yidx = idx_at_zero(z, yb, z->final->idx, zero);
	if (!idx_in_bounds(z, xb, xidx) || !idx_in_bounds(z, yb, yidx))
		return false;
	arg_vec args = {0};
	arg_ptr(&args, LATHE_TIR_ARG_READ, xb, xidx);
	arg_ptr(&args, LATHE_TIR_ARG_WRITE, yb, yidx);
	int64_t ip[LATHE_UK_D_FIXED + LATHE_UK_EPI_MAX * LATHE_UK_EPI_INTS] = {
		C, xb->shape[2], xb->shape[3], OH, OW, KH, KW, SH, SW, DH, DW, PH, PW,
		xsc, dim_stride(xb, 2), 0, ysc, ep.n};
	if (!uk_d_ok(ip)) {
		lathe_vec_free(&args);
		return false;
	}
	lathe_tir_stmt *out[2];
	int n = 0;
	out[n++] = wrap_batch(z, kernel_call(z, "maxpool", &args, &ep, ip, LATHE_UK_D_FIXED));
	if (!chain)
		out[n++] = epilogue_nest(z);
	replace_nest(z, out, n);
	return true;
}

/* ---- driver ------------------------------------------------------------------------ */

void sched_tensorize(lathe_tir_func *f, const lathe_target *t)
{
	int cls = f->sched_class;
	if (cls == LATHE_SCHED_SOFTMAX_NORM) {
		sched_tensorize_rows(f, t);
		return;
	}
	if (cls != LATHE_SCHED_MATMUL && cls != LATHE_SCHED_CONV &&
	    cls != LATHE_SCHED_DEPTHWISE_CONV && cls != LATHE_SCHED_POOL)
		return;
	/* Top-level nests, by identity (the body is rebuilt as they go). */
	LATHE_VEC(lathe_tir_stmt *) nests = {0};
	for (int i = 0; i < f->body->n; i++)
		if (f->body->stmts[i]->kind == LATHE_TIR_S_FOR)
			lathe_vec_push(&nests, f->body->stmts[i]);
	for (size_t i = 0; i < nests.len; i++) {
		tz z = {.f = f, .t = t};
		sched_info_init(&z.I, f);
		sched_snap snap;
		sched_snap_take(f, &snap);
		bool done = false;
		if (cls == LATHE_SCHED_POOL)
			done = match_pool(&z, nests.data[i]) && tensorize_pool(&z);
		else if (match_nest(&z, nests.data[i]))
			done = cls == LATHE_SCHED_DEPTHWISE_CONV ? tensorize_dw(&z) : tensorize_gemm(&z);
		if (done && sched_count_accesses(f->body, z.acc) == 0)
			sched_remove_local(f, z.acc);
		sched_info_deinit(&z.I);
		if (done)
			sched_snap_drop(&snap);
		else
			sched_snap_restore(f, &snap);
	}
	lathe_vec_free(&nests);
}
