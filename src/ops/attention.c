/* attention.c: the attention ops: Attention (opset 23/24), RotaryEmbedding
 * and LinearAttention: inference and computes.
 *
 * Attention is a chain of computes over one scores buffer S[B, Hq, L, T]
 * (T = past + new keys), in the compute type (f32, f64 for f64 data):
 *   1. S = softcap(scale * Q.K^T)             reduction over the head dim
 *   2. S += mask; S = -inf where causal / past nonpad_kv_seqlen
 *   3. softmax over T: a max, a sum of exp, then S = exp(S - max) / sum
 *   4. Y = S.V                                reduction over T
 * with qk_matmul_output copied out after step 1, 2 or 3 as its mode says.
 * 3-D inputs ([B, L, heads*D]) are read through index arithmetic, never
 * reshaped; past keys/values are concatenated on the fly by a select on the
 * sequence index (only the chosen arm of a select is evaluated, so the
 * other arm's out-of-range index is never read).  Query head h reads K/V
 * head h / (Hq / Hkv) (GQA).  A fully masked row gives NaN, as the ONNX
 * reference does.
 *
 * FlexAttention (ai.onnx.preview) runs its score_mod / prob_mod subgraphs
 * between the stages, so it is a kernel calling back into the executor, as
 * If and Loop are.
 *
 * LinearAttention is a recurrence over the sequence: a serial loop over t
 * holding loop nests that decay, correct and update the per-head state
 * S[B, Hkv, dk, dv] and read the output row, all in f32 (f64 for f64).
 */
#include <math.h>
#include <string.h>

#include "exec/exec.h"
#include "ops/nn.h"

/* ---- Attention: shapes ---------------------------------------------------------- */

/* The sizes of one Attention node (-1 where unknown). */
typedef struct att_dims {
	bool d3;
	int64_t B, Hq, Hkv, L, S, P, T, Dk, Dv;
} att_dims;

/* Sizes past this are refused, so that sums and products of two stay in int64. */
#define LIMIT ((int64_t)1 << 30)

static int64_t div_or_unknown(int64_t a, int64_t b)
{
	return a < 0 || b <= 0 ? -1 : a / b;
}

/* dims from shapes: q/k/v rank r (3 or 4); pk: past_key shape or NULL. */
static lathe_err att_dims_of(const lathe_node *node, int r, const int64_t *q, const int64_t *k,
			     const int64_t *v, const int64_t *pk, att_dims *d)
{
	memset(d, 0, sizeof *d);
	for (int i = 0; i < r; i++)
		if (q[i] > LIMIT || k[i] > LIMIT || v[i] > LIMIT || (pk && i < 4 && pk[i] > LIMIT))
			return lathe_error(LATHE_EINVAL, "dim %d is too large", i);
	d->d3 = r == 3;
	d->B = q[0];
	if (d->d3) {
		int64_t qh = lathe_node_attr_int(node, "q_num_heads", 0);
		int64_t kh = lathe_node_attr_int(node, "kv_num_heads", 0);
		if (qh <= 0 || kh <= 0 || qh > LIMIT || kh > LIMIT)
			return lathe_error(LATHE_EINVAL,
					   "3-D inputs need q_num_heads and kv_num_heads in [1, 2^30]");
		d->Hq = qh;
		d->Hkv = kh;
		d->L = q[1];
		d->S = k[1];
		if ((q[2] >= 0 && q[2] % qh) || (k[2] >= 0 && k[2] % kh) || (v[2] >= 0 && v[2] % kh))
			return lathe_error(LATHE_EINVAL,
					   "hidden sizes (%lld, %lld, %lld) are not multiples of the heads "
					   "(%lld, %lld)",
					   (long long)q[2], (long long)k[2], (long long)v[2],
					   (long long)qh, (long long)kh);
		d->Dk = div_or_unknown(q[2], qh);
		d->Dv = div_or_unknown(v[2], kh);
		int64_t dkk = div_or_unknown(k[2], kh);
		if (d->Dk >= 0 && dkk >= 0 && dkk != d->Dk)
			return lathe_error(LATHE_EINVAL, "Q's head size %lld differs from K's %lld",
					   (long long)d->Dk, (long long)dkk);
	} else {
		d->Hq = q[1];
		d->Hkv = k[1];
		d->L = q[2];
		d->S = k[2];
		d->Dk = q[3];
		d->Dv = v[3];
		if (q[3] >= 0 && k[3] >= 0 && q[3] != k[3])
			return lathe_error(LATHE_EINVAL, "Q's head size %lld differs from K's %lld",
					   (long long)q[3], (long long)k[3]);
	}
	if (d->Hq > 0 && d->Hkv > 0 && d->Hq % d->Hkv)
		return lathe_error(LATHE_EINVAL, "%lld query heads are not a multiple of %lld kv heads",
				   (long long)d->Hq, (long long)d->Hkv);
	d->P = pk ? pk[2] : 0;
	d->T = d->P < 0 || d->S < 0 ? -1 : d->P + d->S;
	return NULL;
}

static int64_t *type_dims(lathe_arena *a, const lathe_type *t)
{
	int64_t *s = lathe_arena_new(a, int64_t, t->rank + 1);
	for (int i = 0; i < t->rank; i++)
		if (!lathe_nn_dim(t, i, &s[i]))
			s[i] = -1;
	return s;
}

static lathe_dim known(int64_t v)
{
	return (lathe_dim){.size = v, .sym = -1};
}

lathe_err infer_attention(lathe_infer_ctx *c)
{
	LATHE_TRY(lathe_nn_need(c, 0, "Q"));
	LATHE_TRY(lathe_nn_need(c, 1, "K"));
	LATHE_TRY(lathe_nn_need(c, 2, "V"));
	const lathe_type *q = lathe_nn_in(c, 0), *k = lathe_nn_in(c, 1), *v = lathe_nn_in(c, 2);
	const lathe_type *pk = lathe_nn_in(c, 4);
	int dtype = q ? q->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(lathe_nn_check_float(dtype, "Q"));
	bool has_pk = c->nin > 4 && c->in[4], has_pv = c->nin > 5 && c->in[5];
	if (has_pk != has_pv)
		return lathe_error(LATHE_EINVAL, "past_key and past_value go together");
	if (c->nout > 4)
		return lathe_error(LATHE_EINVAL, "has at most 4 outputs, not %d", c->nout);
	int64_t mode = lathe_node_attr_int(c->node, "qk_matmul_output_mode", 0);
	if (mode < 0 || mode > 3)
		return lathe_error(LATHE_EINVAL, "qk_matmul_output_mode %lld is not 0..3",
				   (long long)mode);
	if (!q || !k || !v || q->rank < 0 || k->rank < 0 || v->rank < 0 ||
	    (has_pk && (!pk || pk->rank < 0))) {
		for (int j = 0; j < c->nout; j++)
			c->out[j] = lathe_nn_type(c->arena, j == 2 && v ? v->dtype : dtype, -1);
		return NULL;
	}
	int r = q->rank;
	if ((r != 3 && r != 4) || k->rank != r || v->rank != r)
		return lathe_error(LATHE_EINVAL, "Q, K and V must all be 3-D or all 4-D (got %d, %d, %d)",
				   q->rank, k->rank, v->rank);
	LATHE_TRY(lathe_nn_check_rank(pk, 4, "past_key"));
	att_dims d;
	LATHE_TRY(att_dims_of(c->node, r, type_dims(c->arena, q), type_dims(c->arena, k),
			      type_dims(c->arena, v), pk ? type_dims(c->arena, pk) : NULL, &d));
	/* Dims that are an input's dim keep it (symbols included). */
	lathe_dim B = q->dims[0], L = q->dims[r == 3 ? 1 : 2];
	lathe_dim Hq = r == 3 ? known(d.Hq) : q->dims[1];
	lathe_dim Hkv = r == 3 ? known(d.Hkv) : k->dims[1];
	lathe_dim Dk = r == 3 ? known(d.Dk) : k->dims[3];
	lathe_dim Dv = r == 3 ? known(d.Dv) : v->dims[3];
	lathe_dim T = has_pk ? known(d.T) : k->dims[r == 3 ? 1 : 2];
	lathe_type y = lathe_nn_type(c->arena, dtype, r);
	y.dims[0] = B;
	if (r == 3) {
		y.dims[1] = L;
		y.dims[2] = known(d.Dv < 0 ? -1 : d.Hq * d.Dv);
	} else {
		y.dims[1] = Hq;
		y.dims[2] = L;
		y.dims[3] = Dv;
	}
	c->out[0] = y;
	for (int j = 1; j < c->nout; j++) {
		lathe_type t = lathe_nn_type(c->arena, j == 2 ? v->dtype : k->dtype, 4);
		lathe_dim dims[4] = {B, j == 3 ? Hq : Hkv, j == 3 ? L : T, j == 1 ? Dk : Dv};
		if (j == 3) {
			dims[3] = T;
			t.dtype = dtype;
		}
		memcpy(t.dims, dims, sizeof dims);
		c->out[j] = t;
	}
	return NULL;
}

/* ---- Attention: compute ---------------------------------------------------------- */

typedef struct att {
	lathe_tir_func *f;
	att_dims d;
	lathe_tir_buf *q, *k, *v, *mask, *pk, *pv, *nonpad;
	int cd; /* compute type */
} att;

/* Q[b, h, l, dd] in the compute type. */
static lathe_tir_expr *att_q(att *a, lathe_tir_expr *b, lathe_tir_expr *h, lathe_tir_expr *l,
			     lathe_tir_expr *dd)
{
	lathe_tir_func *f = a->f;
	lathe_tir_expr *i3[3], *i4[4];
	if (a->d.d3) {
		i3[0] = b;
		i3[1] = l;
		i3[2] = nn_add(f, nn_mulc(f, h, a->d.Dk), dd);
		return lathe_nn_to(f, a->cd, lathe_nn_load(f, a->q, i3));
	}
	i4[0] = b;
	i4[1] = h;
	i4[2] = l;
	i4[3] = dd;
	return lathe_nn_to(f, a->cd, lathe_nn_load(f, a->q, i4));
}

/* present K (or V)[b, hk, t, dd]: past for t < P, then the new rows. */
static lathe_tir_expr *att_kv(att *a, bool is_v, lathe_tir_expr *b, lathe_tir_expr *hk,
			      lathe_tir_expr *t, lathe_tir_expr *dd)
{
	lathe_tir_func *f = a->f;
	lathe_tir_buf *x = is_v ? a->v : a->k, *past = is_v ? a->pv : a->pk;
	int64_t D = is_v ? a->d.Dv : a->d.Dk;
	lathe_tir_expr *tn = nn_addc(f, t, -a->d.P);
	lathe_tir_expr *cur;
	if (a->d.d3) {
		lathe_tir_expr *i3[3] = {b, tn, nn_add(f, nn_mulc(f, hk, D), dd)};
		cur = lathe_nn_load(f, x, i3);
	} else {
		lathe_tir_expr *i4[4] = {b, hk, tn, dd};
		cur = lathe_nn_load(f, x, i4);
	}
	if (!past || a->d.P == 0)
		return cur;
	lathe_tir_expr *pi[4] = {b, hk, t, dd};
	lathe_tir_expr *pv = lathe_nn_to(f, cur->dtype, lathe_nn_load(f, past, pi));
	return lathe_tir_select(f, nn_bin(f, LATHE_TIR_LT, t, nn_i64(f, a->d.P)), pv, cur);
}

/* s + mask[b, h, l, t], then -inf where causal or past nonpad_kv_seqlen. */
static lathe_tir_expr *att_bias(att *a, lathe_tir_expr *const *ax, lathe_tir_expr *s,
				bool causal)
{
	lathe_tir_func *f = a->f;
	lathe_tir_expr *ninf = lathe_nn_const(f, a->cd, -INFINITY);
	lathe_tir_expr *t = ax[3];
	if (a->mask) {
		lathe_tir_buf *m = a->mask;
		lathe_tir_expr **mi = lathe_arena_new(f->arena, lathe_tir_expr *, m->rank);
		for (int j = 0; j < m->rank; j++) {
			int dd = 4 - m->rank + j;
			mi[j] = dd == 3 ? t : m->shape[j] == 1 ? nn_i64(f, 0) : ax[dd];
		}
		int64_t Tm = m->shape[m->rank - 1];
		lathe_tir_expr *mv = lathe_nn_load(f, m, mi);
		if (m->dtype == LATHE_DT_BOOL)
			mv = lathe_tir_select(f, mv, lathe_nn_const(f, a->cd, 0), ninf);
		else
			mv = lathe_nn_to(f, a->cd, mv);
		/* A mask shorter than the keys masks the rest out. */
		if (Tm < a->d.T)
			mv = lathe_tir_select(f, nn_bin(f, LATHE_TIR_LT, t, nn_i64(f, Tm)), mv, ninf);
		s = nn_add(f, s, mv);
	}
	lathe_tir_expr *out = NULL;
	if (causal)
		out = nn_bin(f, LATHE_TIR_GT, t, nn_addc(f, ax[2], a->d.P));
	if (a->nonpad) {
		lathe_tir_expr *bi[1] = {ax[0]};
		lathe_tir_expr *len = lathe_nn_to(f, LATHE_DT_I64, lathe_nn_load(f, a->nonpad, bi));
		lathe_tir_expr *pad = nn_bin(f, LATHE_TIR_GE, t, len);
		out = out ? lathe_tir_binary(f, LATHE_TIR_OR, out, pad) : pad;
	}
	return out ? lathe_tir_select(f, out, ninf, s) : s;
}

static lathe_tir_buf *in_or_null(lathe_lower_ctx *c, int i)
{
	return i < c->nin ? c->in_buf[i] : NULL;
}

lathe_err lower_attention(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	att a = {.f = f};
	a.q = c->in_buf[0];
	a.k = c->in_buf[1];
	a.v = c->in_buf[2];
	a.mask = in_or_null(c, 3);
	a.pk = in_or_null(c, 4);
	a.pv = in_or_null(c, 5);
	a.nonpad = in_or_null(c, 6);
	int r = a.q->rank;
	if ((r != 3 && r != 4) || a.k->rank != r || a.v->rank != r)
		return lathe_error(LATHE_EINVAL, "Q, K and V must all be 3-D or all 4-D");
	if (!a.pk != !a.pv)
		return lathe_error(LATHE_EINVAL, "past_key and past_value go together");
	LATHE_TRY(att_dims_of(c->node, r, a.q->shape, a.k->shape, a.v->shape,
			      a.pk ? a.pk->shape : NULL, &a.d));
	att_dims *d = &a.d;
	if (a.k->shape[0] != d->B || a.v->shape[0] != d->B)
		return lathe_error(LATHE_EINVAL, "Q, K and V must have one batch size");
	if (r == 4 && (a.v->shape[1] != d->Hkv || a.v->shape[2] != d->S))
		return lathe_error(LATHE_EINVAL, "V must have K's heads and sequence length");
	if (r == 3 && a.v->shape[1] != d->S)
		return lathe_error(LATHE_EINVAL, "V must have K's sequence length");
	if (a.pk) {
		if (a.pk->rank != 4 || a.pv->rank != 4 || a.pk->shape[0] != d->B ||
		    a.pk->shape[1] != d->Hkv || a.pk->shape[3] != d->Dk || a.pv->shape[0] != d->B ||
		    a.pv->shape[1] != d->Hkv || a.pv->shape[2] != d->P || a.pv->shape[3] != d->Dv)
			return lathe_error(LATHE_EINVAL,
					   "past_key/past_value must be [%lld, %lld, P, %lld/%lld]",
					   (long long)d->B, (long long)d->Hkv, (long long)d->Dk,
					   (long long)d->Dv);
	}
	if (a.mask) {
		lathe_tir_buf *m = a.mask;
		int64_t full[4] = {d->B, d->Hq, d->L, d->T};
		bool ok = m->rank >= 1 && m->rank <= 4 && m->shape[m->rank - 1] <= d->T;
		for (int j = 0; ok && j < m->rank - 1; j++) {
			int64_t want = full[4 - m->rank + j];
			ok = m->shape[j] == 1 || m->shape[j] == want;
		}
		if (!ok)
			return lathe_error(LATHE_EINVAL,
					   "attn_mask does not broadcast to [%lld, %lld, %lld, <=%lld]",
					   (long long)d->B, (long long)d->Hq, (long long)d->L,
					   (long long)d->T);
		if (m->dtype != LATHE_DT_BOOL && !lathe_dtype_is_float(m->dtype))
			return lathe_error(LATHE_EUNSUPPORTED, "attn_mask of %s",
					   lathe_dtype_name(m->dtype));
	}
	if (a.nonpad && (a.nonpad->rank != 1 || a.nonpad->shape[0] != d->B))
		return lathe_error(LATHE_EINVAL, "nonpad_kv_seqlen must have shape [%lld]",
				   (long long)d->B);
	int64_t prec = lathe_node_attr_int(c->node, "softmax_precision", 0);
	a.cd = a.q->dtype == LATHE_DT_F64 || prec == LATHE_DT_F64 ? LATHE_DT_F64 : LATHE_DT_F32;
	int cd = a.cd;
	double scale = lathe_node_attr_float(c->node, "scale", 0.0);
	if (!lathe_node_attr(c->node, "scale"))
		scale = d->Dk > 0 ? 1.0 / sqrt((double)d->Dk) : 1.0;
	double softcap = lathe_node_attr_float(c->node, "softcap", 0.0);
	bool causal = lathe_node_attr_int(c->node, "is_causal", 0) != 0;
	int64_t mode = lathe_node_attr_int(c->node, "qk_matmul_output_mode", 0);
	int64_t group = d->Hq / d->Hkv;

	/* 1. S = softcap(scale * Q.K^T). */
	int64_t sshape[4] = {d->B, d->Hq, d->L, d->T};
	lathe_tir_buf *S = lathe_tir_local(f, "scores", cd, 4, sshape);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 4, sshape);
	int64_t dext[1] = {d->Dk};
	lathe_te_axes rax = lathe_te_axes_new(f, "k", 1, dext);
	lathe_tir_expr *hk = nn_divc(f, ax.idx[1], group);
	lathe_tir_expr *qk = nn_mul(f, att_q(&a, ax.idx[0], ax.idx[1], ax.idx[2], rax.idx[0]),
				    lathe_nn_to(f, cd, att_kv(&a, false, ax.idx[0], hk, ax.idx[3],
							      rax.idx[0])));
	lathe_te_reduce r1 = lathe_te_reduce_begin(f, cd);
	lathe_tir_expr *post = nn_mul(f, r1.acc_val, lathe_nn_const(f, cd, scale));
	if (softcap > 0) {
		lathe_tir_expr *sc = lathe_nn_const(f, cd, softcap);
		post = nn_mul(f, lathe_tir_unary(f, LATHE_TIR_TANH, nn_bin(f, LATHE_TIR_DIV, post, sc)),
			      sc);
	}
	lathe_te_reduce_end(f, &r1, S, ax, rax, LATHE_TIR_ADD, lathe_nn_const(f, cd, 0), qk, post);

	lathe_tir_buf *qko = c->nout > 3 ? c->out_buf[3] : NULL;
	if (qko && mode <= 1) {
		lathe_te_axes oa = lathe_te_axes_new(f, "o", 4, sshape);
		lathe_te_compute(f, qko, oa, lathe_nn_to(f, qko->dtype, lathe_nn_load(f, S, oa.idx)));
	}

	/* 2. Mask and causal/padding bias, in place. */
	if (a.mask || causal || a.nonpad) {
		lathe_te_axes ba = lathe_te_axes_new(f, "b", 4, sshape);
		lathe_te_compute(f, S, ba, att_bias(&a, ba.idx, lathe_nn_load(f, S, ba.idx), causal));
	}
	if (qko && mode == 2) {
		lathe_te_axes oa = lathe_te_axes_new(f, "o", 4, sshape);
		lathe_te_compute(f, qko, oa, lathe_nn_to(f, qko->dtype, lathe_nn_load(f, S, oa.idx)));
	}

	/* 3. Softmax over the keys. */
	lathe_tir_buf *mx = lathe_tir_local(f, "rowmax", cd, 3, sshape);
	lathe_tir_buf *sum = lathe_tir_local(f, "rowsum", cd, 3, sshape);
	int64_t text[1] = {d->T};
	{
		lathe_te_axes ma = lathe_te_axes_new(f, "m", 3, sshape);
		lathe_te_axes ta = lathe_te_axes_new(f, "t", 1, text);
		lathe_tir_expr *si[4] = {ma.idx[0], ma.idx[1], ma.idx[2], ta.idx[0]};
		lathe_te_reduce rm = lathe_te_reduce_begin(f, cd);
		lathe_te_reduce_end(f, &rm, mx, ma, ta, LATHE_TIR_MAX, lathe_te_lowest(f, cd),
				    lathe_nn_load(f, S, si), NULL);
	}
	{
		lathe_te_axes sa = lathe_te_axes_new(f, "s", 3, sshape);
		lathe_te_axes ta = lathe_te_axes_new(f, "t", 1, text);
		lathe_tir_expr *si[4] = {sa.idx[0], sa.idx[1], sa.idx[2], ta.idx[0]};
		lathe_tir_expr *e = lathe_tir_unary(
			f, LATHE_TIR_EXP,
			nn_sub(f, lathe_nn_load(f, S, si), lathe_nn_load(f, mx, sa.idx)));
		lathe_te_reduce rs = lathe_te_reduce_begin(f, cd);
		lathe_te_reduce_end(f, &rs, sum, sa, ta, LATHE_TIR_ADD, lathe_nn_const(f, cd, 0), e,
				    NULL);
	}
	{
		lathe_te_axes pa = lathe_te_axes_new(f, "p", 4, sshape);
		lathe_tir_expr *e = lathe_tir_unary(
			f, LATHE_TIR_EXP,
			nn_sub(f, lathe_nn_load(f, S, pa.idx), lathe_nn_load(f, mx, pa.idx)));
		lathe_te_compute(f, S, pa, nn_bin(f, LATHE_TIR_DIV, e, lathe_nn_load(f, sum, pa.idx)));
	}
	if (qko && mode == 3) {
		lathe_te_axes oa = lathe_te_axes_new(f, "o", 4, sshape);
		lathe_te_compute(f, qko, oa, lathe_nn_to(f, qko->dtype, lathe_nn_load(f, S, oa.idx)));
	}

	/* 4. Y = P.V, written in Y's layout. */
	lathe_tir_buf *y = c->out_buf[0];
	lathe_te_axes ya = lathe_te_axes_new(f, "y", y->rank, y->shape);
	lathe_te_axes ta = lathe_te_axes_new(f, "t", 1, text);
	lathe_tir_expr *b = ya.idx[0], *h, *l, *dv;
	if (d->d3) {
		l = ya.idx[1];
		h = nn_divc(f, ya.idx[2], d->Dv);
		dv = nn_modc(f, ya.idx[2], d->Dv);
	} else {
		h = ya.idx[1];
		l = ya.idx[2];
		dv = ya.idx[3];
	}
	lathe_tir_expr *pi[4] = {b, h, l, ta.idx[0]};
	lathe_tir_expr *pv = nn_mul(f, lathe_nn_load(f, S, pi),
				    lathe_nn_to(f, cd, att_kv(&a, true, b, nn_divc(f, h, group),
							      ta.idx[0], dv)));
	lathe_te_reduce ry = lathe_te_reduce_begin(f, cd);
	lathe_te_reduce_end(f, &ry, y, ya, ta, LATHE_TIR_ADD, lathe_nn_const(f, cd, 0), pv, NULL);

	/* present_key / present_value: the concatenated caches. */
	for (int j = 1; j <= 2 && j < c->nout; j++) {
		lathe_tir_buf *o = c->out_buf[j];
		lathe_te_axes oa = lathe_te_axes_new(f, "c", 4, o->shape);
		lathe_te_compute(f, o, oa,
				 lathe_nn_to(f, o->dtype, att_kv(&a, j == 2, oa.idx[0], oa.idx[1],
								 oa.idx[2], oa.idx[3])));
	}
	return NULL;
}

/* ---- RotaryEmbedding --------------------------------------------------------------- */

lathe_err lower_rotary(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *x = c->in_buf[0], *cs = c->in_buf[1], *sn = c->in_buf[2];
	lathe_tir_buf *pos = in_or_null(c, 3), *y = c->out_buf[0];
	if (!cs || !sn)
		return lathe_error(LATHE_EINVAL, "cos_cache and sin_cache are required");
	bool inter = lathe_node_attr_int(c->node, "interleaved", 0) != 0;
	int64_t rd = lathe_node_attr_int(c->node, "rotary_embedding_dim", 0);
	int64_t nh = lathe_node_attr_int(c->node, "num_heads", 0);
	int64_t B, S, D;
	if (x->rank == 4) {
		B = x->shape[0];
		S = x->shape[2];
		D = x->shape[3];
	} else if (x->rank == 3) {
		if (nh <= 0 || x->shape[2] % nh)
			return lathe_error(LATHE_EINVAL,
					   "3-D input needs num_heads dividing its hidden size %lld",
					   (long long)x->shape[2]);
		B = x->shape[0];
		S = x->shape[1];
		D = x->shape[2] / nh;
	} else {
		return lathe_error(LATHE_EINVAL, "input must be 3-D or 4-D, not rank %d", x->rank);
	}
	if (rd == 0)
		rd = D;
	if (rd < 0 || rd > D || rd % 2)
		return lathe_error(LATHE_EINVAL, "rotary_embedding_dim %lld must be even and <= %lld",
				   (long long)rd, (long long)D);
	int64_t half = rd / 2;
	if (cs->rank != sn->rank || cs->shape[cs->rank - 1] != half ||
	    sn->shape[sn->rank - 1] != half)
		return lathe_error(LATHE_EINVAL, "cos/sin caches must end in rotary_embedding_dim/2 = %lld",
				   (long long)half);
	if (pos) {
		if (pos->rank != 2 || pos->shape[0] != B || pos->shape[1] != S || cs->rank != 2)
			return lathe_error(LATHE_EINVAL,
					   "position_ids must be [%lld, %lld] and the caches 2-D",
					   (long long)B, (long long)S);
	} else if (cs->rank != 3 || cs->shape[0] != B || cs->shape[1] != S) {
		return lathe_error(LATHE_EINVAL, "without position_ids the caches must be [%lld, %lld, %lld]",
				   (long long)B, (long long)S, (long long)half);
	}
	int cd = lathe_nn_math_dtype(x->dtype);
	lathe_te_axes ax = lathe_te_axes_new(f, "i", x->rank, x->shape);
	lathe_tir_expr *b = ax.idx[0], *s = ax.idx[x->rank == 4 ? 2 : 1];
	lathe_tir_expr *jj = x->rank == 4 ? ax.idx[3] : nn_modc(f, ax.idx[2], D);
	/* Pair (x1, x2) of element j: halves split at rd/2, or even/odd
	 * neighbours when interleaved; i is the cache column of the pair. */
	lathe_tir_expr *i_lo, *i_hi, *pair_first;
	if (inter) {
		pair_first = nn_bin(f, LATHE_TIR_EQ, nn_modc(f, jj, 2), nn_i64(f, 0));
		i_lo = i_hi = nn_divc(f, jj, 2);
	} else {
		pair_first = nn_bin(f, LATHE_TIR_LT, jj, nn_i64(f, half));
		i_lo = jj;
		i_hi = nn_addc(f, jj, -half);
	}
	lathe_tir_expr *tab_lo[2], *tab_hi[2]; /* cos, sin at i_lo / i_hi */
	for (int w = 0; w < 2; w++) {
		lathe_tir_buf *tb = w ? sn : cs;
		for (int side = 0; side < 2; side++) {
			lathe_tir_expr *i = side ? i_hi : i_lo;
			lathe_tir_expr *ti[3];
			if (pos) {
				lathe_tir_expr *pidx[2] = {b, s};
				ti[0] = lathe_nn_to(f, LATHE_DT_I64, lathe_nn_load(f, pos, pidx));
				ti[1] = i;
			} else {
				ti[0] = b;
				ti[1] = s;
				ti[2] = i;
			}
			lathe_tir_expr *v = lathe_nn_to(f, cd, lathe_nn_load(f, tb, ti));
			if (side)
				tab_hi[w] = v;
			else
				tab_lo[w] = v;
		}
	}
	/* x at head position j + delta (the select below only evaluates the
	 * arm whose neighbour lies inside the rotated part). */
	lathe_tir_expr *xj[3];
	for (int k = 0; k < 3; k++) {
		int64_t delta = k == 0 ? 0 : k == 1 ? (inter ? 1 : half) : (inter ? -1 : -half);
		lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, x->rank);
		for (int q = 0; q < x->rank; q++)
			idx[q] = ax.idx[q];
		idx[x->rank - 1] = nn_addc(f, ax.idx[x->rank - 1], delta);
		xj[k] = lathe_nn_to(f, cd, lathe_nn_load(f, x, idx));
	}
	/* first of a pair: x*cos - x_next*sin; second: x_prev*sin + x*cos */
	lathe_tir_expr *first = nn_sub(f, nn_mul(f, xj[0], tab_lo[0]), nn_mul(f, xj[1], tab_lo[1]));
	lathe_tir_expr *second = nn_add(f, nn_mul(f, xj[2], tab_hi[1]), nn_mul(f, xj[0], tab_hi[0]));
	lathe_tir_expr *rot = lathe_tir_select(f, pair_first, first, second);
	lathe_tir_expr *keep = lathe_nn_load(f, x, ax.idx);
	lathe_tir_expr *v = lathe_nn_to(f, y->dtype, rot);
	if (rd < D)
		v = lathe_tir_select(f, nn_bin(f, LATHE_TIR_LT, jj, nn_i64(f, rd)), v, keep);
	lathe_te_compute(f, y, ax, v);
	return NULL;
}

/* ---- LinearAttention ------------------------------------------------------------------ */

typedef struct lin_dims {
	int64_t B, T, Hq, Hkv, dk, dv;
} lin_dims;

static lathe_err lin_rule(const lathe_node *node, bool *gated, bool *delta)
{
	const char *rule = lathe_node_attr_str(node, "update_rule", "gated_delta");
	*gated = !strcmp(rule, "gated") || !strcmp(rule, "gated_delta");
	*delta = !strcmp(rule, "delta") || !strcmp(rule, "gated_delta");
	if (!*gated && !*delta && strcmp(rule, "linear"))
		return lathe_error(LATHE_EINVAL,
				   "update_rule '%s' is not linear, gated, delta or gated_delta", rule);
	return NULL;
}

static lathe_err lin_heads(const lathe_node *node, int64_t *hq, int64_t *hkv)
{
	*hq = lathe_node_attr_int(node, "q_num_heads", 0);
	*hkv = lathe_node_attr_int(node, "kv_num_heads", 0);
	if (*hq <= 0 || *hkv <= 0 || *hq > LIMIT || *hq % *hkv)
		return lathe_error(LATHE_EINVAL,
				   "q_num_heads (%lld) must be a positive multiple of kv_num_heads (%lld)",
				   (long long)*hq, (long long)*hkv);
	return NULL;
}

lathe_err infer_linear_attention(lathe_infer_ctx *c)
{
	for (int i = 0; i < 3; i++)
		LATHE_TRY(lathe_nn_need(c, i, i == 0 ? "query" : i == 1 ? "key" : "value"));
	bool gated = false, delta = false;
	LATHE_TRY(lin_rule(c->node, &gated, &delta));
	bool has_decay = c->nin > 4 && c->in[4], has_beta = c->nin > 5 && c->in[5];
	if (gated != has_decay)
		return lathe_error(LATHE_EINVAL, "the decay input is %s by this update_rule",
				   gated ? "required" : "forbidden");
	if (delta != has_beta)
		return lathe_error(LATHE_EINVAL, "the beta input is %s by this update_rule",
				   delta ? "required" : "forbidden");
	int64_t hq = 0, hkv = 0;
	LATHE_TRY(lin_heads(c->node, &hq, &hkv));
	const lathe_type *q = lathe_nn_in(c, 0), *v = lathe_nn_in(c, 2), *ps = lathe_nn_in(c, 3);
	int dtype = q ? q->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(lathe_nn_check_float(dtype, "query"));
	for (int i = 0; i < 3; i++)
		LATHE_TRY(lathe_nn_check_rank(lathe_nn_in(c, i), 3, "query, key and value"));
	int sdt = c->nin > 3 && c->in[3] ? (ps ? ps->dtype : LATHE_DT_UNDEF) : dtype;
	lathe_type o = lathe_nn_type(c->arena, dtype, 3);
	lathe_type st = lathe_nn_type(c->arena, sdt, 4);
	int64_t hd, dv = -1, dk = -1;
	if (q && q->rank == 3) {
		o.dims[0] = q->dims[0];
		o.dims[1] = q->dims[1];
		st.dims[0] = q->dims[0];
		if (lathe_nn_dim(q, 2, &hd)) {
			if (hd % hq || hd > LIMIT)
				return lathe_error(LATHE_EINVAL, "query's last dim %lld is not a multiple of %lld heads",
						   (long long)hd, (long long)hq);
			dk = hd / hq;
		}
	}
	if (v && v->rank == 3 && lathe_nn_dim(v, 2, &hd)) {
		if (hd % hkv || hd > LIMIT)
			return lathe_error(LATHE_EINVAL, "value's last dim %lld is not a multiple of %lld heads",
					   (long long)hd, (long long)hkv);
		dv = hd / hkv;
	}
	o.dims[2].size = dv < 0 ? -1 : hq * dv;
	st.dims[1].size = hkv;
	st.dims[2].size = dk;
	st.dims[3].size = dv;
	c->out[0] = o;
	if (c->nout > 1)
		c->out[1] = st;
	return NULL;
}

lathe_err lower_linear_attention(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *q = c->in_buf[0], *k = c->in_buf[1], *v = c->in_buf[2];
	lathe_tir_buf *past = in_or_null(c, 3), *decay = in_or_null(c, 4), *beta = in_or_null(c, 5);
	lathe_tir_buf *out = c->out_buf[0];
	bool gated = false, delta = false;
	LATHE_TRY(lin_rule(c->node, &gated, &delta));
	lin_dims d = {0};
	LATHE_TRY(lin_heads(c->node, &d.Hq, &d.Hkv));
	if (q->rank != 3 || k->rank != 3 || v->rank != 3)
		return lathe_error(LATHE_EINVAL, "query, key and value must be 3-D");
	d.B = q->shape[0];
	d.T = q->shape[1];
	if (q->shape[2] % d.Hq || k->shape[2] % d.Hkv || v->shape[2] % d.Hkv)
		return lathe_error(LATHE_EINVAL, "hidden sizes are not multiples of the head counts");
	d.dk = q->shape[2] / d.Hq;
	d.dv = v->shape[2] / d.Hkv;
	if (k->shape[2] / d.Hkv != d.dk || k->shape[0] != d.B || v->shape[0] != d.B ||
	    k->shape[1] != d.T || v->shape[1] != d.T)
		return lathe_error(LATHE_EINVAL, "key must be [%lld, %lld, %lld] and value [%lld, %lld, *]",
				   (long long)d.B, (long long)d.T, (long long)(d.Hkv * d.dk),
				   (long long)d.B, (long long)d.T);
	int64_t sshape[4] = {d.B, d.Hkv, d.dk, d.dv};
	if (past && (past->rank != 4 || memcmp(past->shape, sshape, sizeof sshape)))
		return lathe_error(LATHE_EINVAL, "past_state must be [%lld, %lld, %lld, %lld]",
				   (long long)d.B, (long long)d.Hkv, (long long)d.dk, (long long)d.dv);
	bool decay_per_key = false;
	if (decay) {
		if (decay->rank != 3 || decay->shape[0] != d.B || decay->shape[1] != d.T ||
		    (decay->shape[2] != d.Hkv && decay->shape[2] != d.Hkv * d.dk))
			return lathe_error(LATHE_EINVAL, "decay must be [%lld, %lld, %lld or %lld]",
					   (long long)d.B, (long long)d.T, (long long)d.Hkv,
					   (long long)(d.Hkv * d.dk));
		decay_per_key = decay->shape[2] != d.Hkv;
	}
	if (beta && (beta->rank != 3 || beta->shape[0] != d.B || beta->shape[1] != d.T ||
		     (beta->shape[2] != d.Hkv && beta->shape[2] != 1)))
		return lathe_error(LATHE_EINVAL, "beta must be [%lld, %lld, %lld or 1]", (long long)d.B,
				   (long long)d.T, (long long)d.Hkv);
	double scale = lathe_node_attr_float(c->node, "scale", 0.0);
	if (scale == 0.0)
		scale = 1.0 / sqrt((double)d.dk);
	int cd = lathe_nn_acc_dtype(q->dtype);
	int64_t group = d.Hq / d.Hkv;

	/* state = past (or 0) */
	lathe_tir_buf *st = lathe_tir_local(f, "state", cd, 4, sshape);
	lathe_te_axes ia = lathe_te_axes_new(f, "s", 4, sshape);
	lathe_te_compute(f, st, ia,
			 past ? lathe_nn_to(f, cd, lathe_nn_load(f, past, ia.idx))
			      : lathe_nn_const(f, cd, 0));

	lathe_tir_var *tv = lathe_tir_new_var(f, "t", LATHE_DT_I64);
	lathe_tir_expr *t = lathe_tir_varref(f, tv);
	lathe_tir_stmt *steps[4];
	int ns = 0;
	/* x[b, t, h*D + j] of a packed 3-D input, in the compute type. */
#define PACKED(buf, bb, hh, D, jj)                                                    \
	lathe_nn_to(f, cd,                                                            \
		    lathe_nn_load(f, (buf),                                           \
				  (lathe_tir_expr *[]){(bb), t,                       \
						       nn_add(f, nn_mulc(f, (hh), (D)), (jj))}))
	if (gated) {
		lathe_te_axes ga = lathe_te_axes_new(f, "g", 4, sshape);
		lathe_tir_expr *g = decay_per_key ? PACKED(decay, ga.idx[0], ga.idx[1], d.dk, ga.idx[2])
						  : PACKED(decay, ga.idx[0], ga.idx[1], 1, nn_i64(f, 0));
		lathe_tir_expr *nv = nn_mul(f, lathe_nn_load(f, st, ga.idx),
					    lathe_tir_unary(f, LATHE_TIR_EXP, g));
		steps[ns++] = lathe_te_nest(f, ga, lathe_tir_store(f, st, ga.idx, nv));
	}
	lathe_tir_buf *upd = NULL;
	int64_t ushape[3] = {d.B, d.Hkv, d.dv};
	if (delta) {
		/* upd[b, h, j] = beta * (v - sum_i state[b, h, i, j] * k[i]) */
		upd = lathe_tir_local(f, "update", cd, 3, ushape);
		lathe_tir_buf *acc = lathe_nn_scalar_local(f, "racc", cd);
		lathe_te_axes ua = lathe_te_axes_new(f, "u", 3, ushape);
		int64_t kext[1] = {d.dk};
		lathe_te_axes ka = lathe_te_axes_new(f, "r", 1, kext);
		lathe_tir_expr *si[4] = {ua.idx[0], ua.idx[1], ka.idx[0], ua.idx[2]};
		lathe_tir_expr *prod = nn_mul(f, lathe_nn_load(f, st, si),
					      PACKED(k, ua.idx[0], ua.idx[1], d.dk, ka.idx[0]));
		lathe_tir_expr *bt = beta->shape[2] == 1
					     ? PACKED(beta, ua.idx[0], nn_i64(f, 0), 1, nn_i64(f, 0))
					     : PACKED(beta, ua.idx[0], ua.idx[1], 1, nn_i64(f, 0));
		lathe_tir_expr *post = nn_mul(
			f, bt, nn_sub(f, PACKED(v, ua.idx[0], ua.idx[1], d.dv, ua.idx[2]),
				      lathe_nn_load0(f, acc)));
		steps[ns++] = lathe_te_nest(
			f, ua,
			lathe_nn_reduce_stmt(f, acc, upd, ua.idx, ka, LATHE_TIR_ADD,
					     lathe_nn_const(f, cd, 0), prod, post));
	}
	{
		/* state[b, h, i, j] += k[i] * (upd or v)[j] */
		lathe_te_axes wa = lathe_te_axes_new(f, "w", 4, sshape);
		lathe_tir_expr *ui[3] = {wa.idx[0], wa.idx[1], wa.idx[3]};
		lathe_tir_expr *uv = upd ? lathe_nn_load(f, upd, ui)
					 : PACKED(v, wa.idx[0], wa.idx[1], d.dv, wa.idx[3]);
		lathe_tir_expr *nv = nn_add(
			f, lathe_nn_load(f, st, wa.idx),
			nn_mul(f, PACKED(k, wa.idx[0], wa.idx[1], d.dk, wa.idx[2]), uv));
		steps[ns++] = lathe_te_nest(f, wa, lathe_tir_store(f, st, wa.idx, nv));
	}
	{
		/* out[b, t, h*dv + j] = scale * sum_i q[i] * state[b, h/group, i, j] */
		int64_t oshape[3] = {d.B, d.Hq, d.dv};
		lathe_te_axes oa = lathe_te_axes_new(f, "o", 3, oshape);
		int64_t kext[1] = {d.dk};
		lathe_te_axes ka = lathe_te_axes_new(f, "r", 1, kext);
		lathe_tir_buf *acc = lathe_nn_scalar_local(f, "oacc", cd);
		lathe_tir_expr *si[4] = {oa.idx[0], nn_divc(f, oa.idx[1], group), ka.idx[0],
					 oa.idx[2]};
		lathe_tir_expr *prod = nn_mul(f, PACKED(q, oa.idx[0], oa.idx[1], d.dk, ka.idx[0]),
					      lathe_nn_load(f, st, si));
		lathe_tir_expr *post = lathe_nn_to(
			f, out->dtype, nn_mul(f, lathe_nn_load0(f, acc), lathe_nn_const(f, cd, scale)));
		lathe_tir_expr *yi[3] = {oa.idx[0], t, nn_add(f, nn_mulc(f, oa.idx[1], d.dv), oa.idx[2])};
		steps[ns++] = lathe_te_nest(
			f, oa,
			lathe_nn_reduce_stmt(f, acc, out, yi, ka, LATHE_TIR_ADD,
					     lathe_nn_const(f, cd, 0), prod, post));
	}
#undef PACKED
	lathe_tir_append(f, lathe_tir_for(f, tv, nn_i64(f, 0), nn_i64(f, d.T), LATHE_TIR_SERIAL,
					  lathe_tir_seq(f, ns, steps)));
	if (c->nout > 1) {
		lathe_tir_buf *ps = c->out_buf[1];
		lathe_te_axes pa = lathe_te_axes_new(f, "p", 4, sshape);
		lathe_te_compute(f, ps, pa, lathe_nn_to(f, ps->dtype, lathe_nn_load(f, st, pa.idx)));
	}
	return NULL;
}

/* ---- FlexAttention (ai.onnx.preview) --------------------------------------------------- */

/* FlexAttention runs user subgraphs (score_mod on the scores, prob_mod on
 * the probabilities) between its stages, so like If/Loop it is a kernel
 * that calls back into the executor; its arithmetic is the plain
 * scaled-dot-product chain in the softmax precision (f32, or f64 for f64
 * data), done here on the tensors between the subgraph calls. */

static lathe_err flex_check(const lathe_type *q, const lathe_type *k, const lathe_type *v)
{
	LATHE_TRY(lathe_nn_check_rank(q, 4, "Q"));
	LATHE_TRY(lathe_nn_check_rank(k, 4, "K"));
	LATHE_TRY(lathe_nn_check_rank(v, 4, "V"));
	return NULL;
}

lathe_err infer_flex_attention(lathe_infer_ctx *c)
{
	for (int i = 0; i < 3; i++)
		LATHE_TRY(lathe_nn_need(c, i, i == 0 ? "Q" : i == 1 ? "K" : "V"));
	const lathe_type *q = lathe_nn_in(c, 0), *k = lathe_nn_in(c, 1), *v = lathe_nn_in(c, 2);
	LATHE_TRY(flex_check(q, k, v));
	int dtype = q ? q->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(lathe_nn_check_float(dtype, "Q"));
	lathe_type t = lathe_nn_type(c->arena, dtype, 4);
	if (q && q->rank == 4)
		memcpy(t.dims, q->dims, sizeof(lathe_dim) * 3);
	if (v && v->rank == 4)
		t.dims[3] = v->dims[3];
	c->out[0] = t;
	return NULL;
}

/* Runs modifier subgraph `name` (if the node has it) on *t, which it
 * replaces with the subgraph's output (same shape and element type). */
static lathe_err flex_mod(lathe_kernel_ctx *c, const char *name, lathe_tensor **t)
{
	const lathe_attr *a = lathe_node_attr(c->node, name);
	if (!a)
		return NULL;
	if (a->kind != LATHE_ATTR_GRAPH || !a->u.g)
		return lathe_error(LATHE_EINVAL, "attribute %s must be a graph", name);
	lathe_graph *g = a->u.g;
	if (g->inputs.len != 1 || g->outputs.len != 1)
		return lathe_error(LATHE_EINVAL, "%s must have one input and one output", name);
	lathe_rvalue in = {.kind = LATHE_TY_TENSOR, .dtype = (*t)->dtype, .t = *t}, out = {0};
	LATHE_TRYF(lathe_exec_run_subgraph(c, g, &in, &out), "%s", name);
	lathe_tensor *r = out.t;
	bool ok = out.kind == LATHE_TY_TENSOR && r && r->dtype == (*t)->dtype && r->rank == 4;
	for (int i = 0; ok && i < 4; i++)
		ok = r->shape[i] == (*t)->shape[i];
	if (!ok)
		return lathe_error(LATHE_EINVAL, "%s must return a %s tensor of its input's shape",
				   name, lathe_dtype_name((*t)->dtype));
	*t = r;
	return NULL;
}

lathe_err kernel_flex_attention(lathe_kernel_ctx *c)
{
	for (int i = 0; i < 3; i++)
		if (i >= c->nin || c->in[i].kind != LATHE_TY_TENSOR || !c->in[i].t)
			return lathe_error(LATHE_EINVAL, "Q, K and V are required tensors");
	const lathe_tensor *q = c->in[0].t, *k = c->in[1].t, *v = c->in[2].t;
	if (q->rank != 4 || k->rank != 4 || v->rank != 4)
		return lathe_error(LATHE_EINVAL, "Q, K and V must be 4-D");
	LATHE_TRY(lathe_nn_check_float(q->dtype, "Q"));
	int64_t B = q->shape[0], Hq = q->shape[1], L = q->shape[2], Dk = q->shape[3];
	int64_t Hkv = k->shape[1], S = k->shape[2], Dv = v->shape[3];
	if (k->shape[0] != B || v->shape[0] != B || k->shape[3] != Dk || v->shape[1] != Hkv ||
	    v->shape[2] != S || Hkv <= 0 || Hq % Hkv)
		return lathe_error(LATHE_EINVAL,
				   "shapes do not fit: Q [B,Hq,L,D], K [B,Hkv,S,D], V [B,Hkv,S,Dv] "
				   "with Hq a multiple of Hkv");
	int sdt = q->dtype == LATHE_DT_F64 ? LATHE_DT_F64 : LATHE_DT_F32;
	int64_t prec = lathe_node_attr_int(c->node, "softmax_precision", 0);
	if (prec)
		sdt = (int)prec;
	if (sdt != LATHE_DT_F32 && sdt != LATHE_DT_F64 && sdt != LATHE_DT_F16 &&
	    sdt != LATHE_DT_BF16)
		return lathe_error(LATHE_EUNSUPPORTED, "softmax_precision %lld", (long long)prec);
	double scale = lathe_node_attr(c->node, "scale")
			       ? lathe_node_attr_float(c->node, "scale", 1.0)
			       : 1.0 / sqrt((double)(Dk > 0 ? Dk : 1));
	int64_t group = Hq / Hkv;
	int64_t sshape[4] = {B, Hq, L, S};
	lathe_tensor *sc = NULL;
	LATHE_TRY(lathe_tensor_alloc(c->arena, sdt, 4, sshape, &sc));
	for (int64_t b = 0; b < B; b++)
		for (int64_t h = 0; h < Hq; h++)
			for (int64_t l = 0; l < L; l++)
				for (int64_t s = 0; s < S; s++) {
					double acc = 0;
					int64_t qo = ((b * Hq + h) * L + l) * Dk;
					int64_t ko = ((b * Hkv + h / group) * S + s) * Dk;
					for (int64_t d = 0; d < Dk; d++)
						acc += lathe_rt_load_f64(q, qo + d) * lathe_rt_load_f64(k, ko + d);
					lathe_rt_store_f64(sc, ((b * Hq + h) * L + l) * S + s, acc * scale);
				}
	LATHE_TRY(flex_mod(c, "score_mod", &sc));
	lathe_tensor *p = NULL;
	LATHE_TRY(lathe_tensor_alloc(c->arena, sdt, 4, sshape, &p));
	for (int64_t row = 0; row < B * Hq * L; row++) {
		double mx = -INFINITY, sum = 0;
		for (int64_t s = 0; s < S; s++) {
			double x = lathe_rt_load_f64(sc, row * S + s);
			mx = x > mx ? x : mx;
		}
		for (int64_t s = 0; s < S; s++)
			sum += exp(lathe_rt_load_f64(sc, row * S + s) - mx);
		for (int64_t s = 0; s < S; s++)
			lathe_rt_store_f64(p, row * S + s,
					   exp(lathe_rt_load_f64(sc, row * S + s) - mx) / sum);
	}
	LATHE_TRY(flex_mod(c, "prob_mod", &p));
	int64_t yshape[4] = {B, Hq, L, Dv};
	lathe_tensor *y = NULL;
	LATHE_TRY(lathe_kernel_output(c, 0, q->dtype, 4, yshape, &y));
	for (int64_t b = 0; b < B; b++)
		for (int64_t h = 0; h < Hq; h++)
			for (int64_t l = 0; l < L; l++)
				for (int64_t d = 0; d < Dv; d++) {
					double acc = 0;
					int64_t po = ((b * Hq + h) * L + l) * S;
					int64_t vo = (b * Hkv + h / group) * S;
					for (int64_t s = 0; s < S; s++)
						acc += lathe_rt_load_f64(p, po + s) *
						       lathe_rt_load_f64(v, (vo + s) * Dv + d);
					lathe_rt_store_f64(y, ((b * Hq + h) * L + l) * Dv + d, acc);
				}
	return NULL;
}
