/* linalg.c: matrix products: MatMul, MatMulInteger, QLinearMatMul, Gemm
 * and Einsum (inference and computes), and Det (inference; its kernel is
 * in runtime/src/k_nn.c).
 *
 * Each product is one reduction over its contracted index:
 *     Y[batch..., m, n] = sum_k A[batch..., m, k] * B[batch..., k, n]
 * with NumPy broadcasting of the batch dims and NumPy's treatment of 1-D
 * operands (a vector A gains and then loses the m axis, a vector B the n
 * axis).  Einsum generalizes this: the equation is parsed into labels, the
 * output labels become the compute's axes, every other label a reduction
 * axis, and the value is the product of one load per operand (a label
 * repeated inside one operand reads its diagonal).
 *
 * Accumulation: f32 for f16/bf16/f32, f64 for f64, i32 for the 8-bit integer
 * products, the own type for wider integers.
 */
#include <string.h>

#include "lathe_rt_k_nn.h"
#include "ops/nn.h"

/* ---- shared: broadcasting of batch dims at inference ----------------------- */

static lathe_dim bcast_dim(lathe_dim a, lathe_dim b)
{
	bool ka = a.sym < 0 && a.size >= 0, kb = b.sym < 0 && b.size >= 0;
	if (ka && a.size == 1)
		return b;
	if (kb && b.size == 1)
		return a;
	if (ka)
		return a;
	if (kb)
		return b;
	if (a.sym >= 0 && a.sym == b.sym)
		return a;
	return (lathe_dim){.size = -1, .sym = -1};
}

static lathe_err check_bcast(lathe_dim a, lathe_dim b, int i)
{
	if (a.sym < 0 && b.sym < 0 && a.size > 1 && b.size > 1 && a.size != b.size)
		return lathe_error(LATHE_EINVAL, "batch dim %d: %lld and %lld do not broadcast", i,
				   (long long)a.size, (long long)b.size);
	return NULL;
}

/* ---- MatMul, MatMulInteger, QLinearMatMul ---------------------------------------- */

typedef struct mm_io {
	int a, b;           /* operands */
	int azp, bzp;       /* zero points or -1 */
	int as, bs, ys, yzp; /* QLinearMatMul scales / output zero point or -1 */
} mm_io;

static mm_io mm_inputs(int op)
{
	if (op == LATHE_OP_MatMulInteger)
		return (mm_io){0, 1, 2, 3, -1, -1, -1, -1};
	if (op == LATHE_OP_QLinearMatMul)
		return (mm_io){0, 3, 2, 5, 1, 4, 6, 7};
	return (mm_io){0, 1, -1, -1, -1, -1, -1, -1};
}

static bool is_int8(int dt)
{
	return dt == LATHE_DT_U8 || dt == LATHE_DT_I8;
}

lathe_err infer_matmul(lathe_infer_ctx *c)
{
	int op = c->node->op;
	mm_io io = mm_inputs(op);
	LATHE_TRY(lathe_nn_need(c, io.a, "A"));
	LATHE_TRY(lathe_nn_need(c, io.b, "B"));
	if (op == LATHE_OP_QLinearMatMul)
		for (int i = 1; i < 8; i++)
			LATHE_TRY(lathe_nn_need(c, i, "a scale or zero point"));
	const lathe_type *a = lathe_nn_in(c, io.a), *b = lathe_nn_in(c, io.b);
	int dtype = a ? a->dtype : LATHE_DT_UNDEF;
	if (op == LATHE_OP_MatMulInteger) {
		if (dtype != LATHE_DT_UNDEF && !is_int8(dtype))
			return lathe_error(LATHE_EUNSUPPORTED, "MatMulInteger of %s: only u8 and i8",
					   lathe_dtype_name(dtype));
		dtype = LATHE_DT_I32;
	} else if (op == LATHE_OP_QLinearMatMul) {
		const lathe_type *yz = lathe_nn_in(c, io.yzp);
		if (yz)
			dtype = yz->dtype;
		if (dtype != LATHE_DT_UNDEF && !is_int8(dtype))
			return lathe_error(LATHE_EUNSUPPORTED, "QLinearMatMul to %s: only u8 and i8",
					   lathe_dtype_name(dtype));
	} else if (dtype == LATHE_DT_BOOL || dtype == LATHE_DT_STR) {
		return lathe_error(LATHE_EUNSUPPORTED, "MatMul of %s", lathe_dtype_name(dtype));
	}
	if (!a || !b || a->rank < 0 || b->rank < 0) {
		c->out[0] = lathe_nn_type(c->arena, dtype, -1);
		return NULL;
	}
	int ra = a->rank, rb = b->rank;
	if (ra < 1 || rb < 1)
		return lathe_error(LATHE_EINVAL, "MatMul operands must have rank >= 1 (got %d and %d)",
				   ra, rb);
	int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0, nb = ba > bb ? ba : bb;
	int rank = nb + (ra >= 2) + (rb >= 2);
	int64_t ka, kb;
	if (lathe_nn_dim(a, ra - 1, &ka) && lathe_nn_dim(b, rb >= 2 ? rb - 2 : 0, &kb) && ka != kb)
		return lathe_error(LATHE_EINVAL,
				   "inner dims differ: A has %lld columns, B has %lld rows",
				   (long long)ka, (long long)kb);
	lathe_type t = lathe_nn_type(c->arena, dtype, rank);
	for (int i = 0; i < nb; i++) {
		lathe_dim one = {.size = 1, .sym = -1};
		int ia = i - (nb - ba), ib = i - (nb - bb);
		lathe_dim da = ia >= 0 ? a->dims[ia] : one, db = ib >= 0 ? b->dims[ib] : one;
		LATHE_TRY(check_bcast(da, db, i));
		t.dims[i] = bcast_dim(da, db);
	}
	if (ra >= 2)
		t.dims[nb] = a->dims[ra - 2];
	if (rb >= 2)
		t.dims[rank - 1] = b->dims[rb - 1];
	c->out[0] = t;
	return NULL;
}

/* A quantization parameter of operand x (rank xr, indexed by xi): a scalar,
 * a vector over x's rows (A) or columns (B) indexed by `rc`, or an N-D
 * tensor broadcasting against x ([..., M, 1] for A, [..., 1, N] for B). */
static lathe_err qparam(lathe_tir_func *f, lathe_tir_buf *p, int xr, const int64_t *xshape,
			lathe_tir_expr *const *xi, lathe_tir_expr *rc, int64_t len, const char *what,
			lathe_tir_expr **out)
{
	int64_t numel = 1;
	for (int i = 0; i < p->rank; i++)
		numel *= p->shape[i];
	if (numel == 1) {
		*out = lathe_nn_load_scalar(f, p);
		return NULL;
	}
	if (p->rank == 1 && p->shape[0] == len && rc) {
		*out = lathe_tir_load(f, p, &rc);
		return NULL;
	}
	bool ok = p->rank >= 2 && p->rank <= xr;
	for (int i = 0; ok && i < p->rank; i++) {
		int64_t want = xshape[xr - p->rank + i];
		ok = p->shape[i] == 1 || p->shape[i] == want;
	}
	if (!ok)
		return lathe_error(LATHE_EINVAL,
				   "%s must be a scalar, a vector of %lld, or broadcast against its operand",
				   what, (long long)len);
	*out = lathe_nn_load_bcast(f, p, xr, xi);
	return NULL;
}

lathe_err lower_matmul(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_MATMUL;
	lathe_tir_func *f = c->fn;
	int op = c->node->op;
	mm_io io = mm_inputs(op);
	lathe_tir_buf *a = c->in_buf[io.a], *b = c->in_buf[io.b], *y = c->out_buf[0];
	int ra = a->rank, rb = b->rank;
	int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0, nb = ba > bb ? ba : bb;
	int64_t K = a->shape[ra - 1];
	if (b->shape[rb >= 2 ? rb - 2 : 0] != K)
		return lathe_error(LATHE_EINVAL, "inner dims differ: %lld and %lld", (long long)K,
				   (long long)b->shape[rb >= 2 ? rb - 2 : 0]);
	bool integer = op != LATHE_OP_MatMul;
	if (integer && (!is_int8(a->dtype) || !is_int8(b->dtype)))
		return lathe_error(LATHE_EUNSUPPORTED, "A and B must be u8 or i8, not %s and %s",
				   lathe_dtype_name(a->dtype), lathe_dtype_name(b->dtype));
	int acc = integer ? LATHE_DT_I32 : lathe_nn_acc_dtype(a->dtype);
	if (!integer && a->dtype != b->dtype)
		return lathe_error(LATHE_EINVAL, "A is %s but B is %s", lathe_dtype_name(a->dtype),
				   lathe_dtype_name(b->dtype));

	lathe_te_axes ax = lathe_te_axes_new(f, "i", y->rank, y->shape);
	int64_t kext[1] = {K};
	lathe_te_axes rax = lathe_te_axes_new(f, "k", 1, kext);
	lathe_tir_expr *mi = ra >= 2 ? ax.idx[nb] : NULL;
	lathe_tir_expr *ni = rb >= 2 ? ax.idx[y->rank - 1] : NULL;
	lathe_tir_expr **ai = lathe_arena_new(f->arena, lathe_tir_expr *, ra);
	lathe_tir_expr **bi = lathe_arena_new(f->arena, lathe_tir_expr *, rb);
	for (int j = 0; j < ba; j++)
		ai[j] = a->shape[j] == 1 ? nn_i64(f, 0) : ax.idx[nb - ba + j];
	for (int j = 0; j < bb; j++)
		bi[j] = b->shape[j] == 1 ? nn_i64(f, 0) : ax.idx[nb - bb + j];
	if (ra >= 2)
		ai[ra - 2] = mi;
	ai[ra - 1] = rax.idx[0];
	if (rb >= 2) {
		bi[rb - 2] = rax.idx[0];
		bi[rb - 1] = ni;
	} else {
		bi[0] = rax.idx[0];
	}
	lathe_tir_expr *av = lathe_nn_to(f, acc, lathe_nn_load(f, a, ai));
	lathe_tir_expr *bv = lathe_nn_to(f, acc, lathe_nn_load(f, b, bi));
	int64_t M = ra >= 2 ? a->shape[ra - 2] : 1, N = rb >= 2 ? b->shape[rb - 1] : 1;
	if (integer) {
		lathe_tir_buf *az = io.azp < c->nin ? c->in_buf[io.azp] : NULL;
		lathe_tir_buf *bz = io.bzp < c->nin ? c->in_buf[io.bzp] : NULL;
		lathe_tir_expr *zp;
		if (az) {
			LATHE_TRY(qparam(f, az, ra, a->shape, ai, mi, M, "a_zero_point", &zp));
			av = nn_sub(f, av, lathe_nn_to(f, acc, zp));
		}
		if (bz) {
			LATHE_TRY(qparam(f, bz, rb, b->shape, bi, ni, N, "b_zero_point", &zp));
			bv = nn_sub(f, bv, lathe_nn_to(f, acc, zp));
		}
	}
	lathe_te_reduce r = lathe_te_reduce_begin(f, acc);
	lathe_tir_expr *post = NULL;
	if (op == LATHE_OP_QLinearMatMul) {
		lathe_tir_buf *asb = c->in_buf[io.as], *bsb = c->in_buf[io.bs];
		lathe_tir_expr *as, *bs;
		LATHE_TRY(qparam(f, asb, ra, a->shape, ai, mi, M, "a_scale", &as));
		LATHE_TRY(qparam(f, bsb, rb, b->shape, bi, ni, N, "b_scale", &bs));
		LATHE_TRY(lathe_nn_check_scalar(c->in_buf[io.ys], "y_scale"));
		LATHE_TRY(lathe_nn_check_scalar(c->in_buf[io.yzp], "y_zero_point"));
		lathe_tir_expr *ys = lathe_nn_load_scalar(f, c->in_buf[io.ys]);
		if (as->dtype != bs->dtype || as->dtype != ys->dtype)
			return lathe_error(LATHE_EINVAL, "a_scale, b_scale and y_scale must have one type");
		lathe_tir_expr *zp = lathe_nn_load_scalar(f, c->in_buf[io.yzp]);
		post = lathe_nn_requantize(f, r.acc_val, lathe_nn_qscale(f, as, bs, ys), zp, y->dtype);
	}
	lathe_te_reduce_end(f, &r, y, ax, rax, LATHE_TIR_ADD, lathe_nn_const(f, acc, 0),
			    nn_mul(f, av, bv), post);
	return NULL;
}

/* ---- Gemm ------------------------------------------------------------------------ */

lathe_err infer_gemm(lathe_infer_ctx *c)
{
	LATHE_TRY(lathe_nn_need(c, 0, "A"));
	LATHE_TRY(lathe_nn_need(c, 1, "B"));
	const lathe_type *a = lathe_nn_in(c, 0), *b = lathe_nn_in(c, 1);
	int dtype = a ? a->dtype : LATHE_DT_UNDEF;
	if (dtype == LATHE_DT_BOOL || dtype == LATHE_DT_STR)
		return lathe_error(LATHE_EUNSUPPORTED, "Gemm of %s", lathe_dtype_name(dtype));
	LATHE_TRY(lathe_nn_check_rank(a, 2, "A"));
	LATHE_TRY(lathe_nn_check_rank(b, 2, "B"));
	bool ta = lathe_node_attr_int(c->node, "transA", 0) != 0;
	bool tb = lathe_node_attr_int(c->node, "transB", 0) != 0;
	lathe_type t = lathe_nn_type(c->arena, dtype, 2);
	int64_t ka, kb;
	if (lathe_nn_dim(a, ta ? 0 : 1, &ka) && lathe_nn_dim(b, tb ? 1 : 0, &kb) && ka != kb)
		return lathe_error(LATHE_EINVAL, "inner dims differ: %lld and %lld", (long long)ka,
				   (long long)kb);
	if (a && a->rank == 2)
		t.dims[0] = a->dims[ta ? 1 : 0];
	if (b && b->rank == 2)
		t.dims[1] = b->dims[tb ? 0 : 1];
	c->out[0] = t;
	return NULL;
}

lathe_err lower_gemm(lathe_lower_ctx *c)
{
	c->fn->sched_class = LATHE_SCHED_MATMUL;
	lathe_tir_func *f = c->fn;
	lathe_tir_buf *a = c->in_buf[0], *b = c->in_buf[1], *y = c->out_buf[0];
	lathe_tir_buf *cc = c->nin > 2 ? c->in_buf[2] : NULL;
	bool ta = lathe_node_attr_int(c->node, "transA", 0) != 0;
	bool tb = lathe_node_attr_int(c->node, "transB", 0) != 0;
	double alpha = lathe_node_attr_float(c->node, "alpha", 1.0);
	double beta = lathe_node_attr_float(c->node, "beta", 1.0);
	int64_t K = a->shape[ta ? 0 : 1];
	if (b->shape[tb ? 1 : 0] != K)
		return lathe_error(LATHE_EINVAL, "inner dims differ: %lld and %lld", (long long)K,
				   (long long)b->shape[tb ? 1 : 0]);
	if (a->dtype != b->dtype)
		return lathe_error(LATHE_EINVAL, "A is %s but B is %s", lathe_dtype_name(a->dtype),
				   lathe_dtype_name(b->dtype));
	if (cc) {
		if (cc->rank > 2)
			return lathe_error(LATHE_EINVAL, "C must have rank <= 2, not %d", cc->rank);
		for (int i = 0; i < cc->rank; i++) {
			int64_t d = cc->shape[i], want = y->shape[2 - cc->rank + i];
			if (d != 1 && d != want)
				return lathe_error(LATHE_EINVAL,
						   "C's dim %d (%lld) does not broadcast to %lld", i,
						   (long long)d, (long long)want);
		}
	}
	int acc = lathe_nn_acc_dtype(a->dtype);
	/* Integer Gemm scales in f64, as NumPy would with float alpha/beta. */
	int post_t = lathe_dtype_is_float(acc) ? acc : LATHE_DT_F64;
	lathe_te_axes ax = lathe_te_axes_new(f, "i", 2, y->shape);
	int64_t kext[1] = {K};
	lathe_te_axes rax = lathe_te_axes_new(f, "k", 1, kext);
	lathe_tir_expr *k = rax.idx[0], *m = ax.idx[0], *n = ax.idx[1];
	lathe_tir_expr *ai[2] = {ta ? k : m, ta ? m : k};
	lathe_tir_expr *bi[2] = {tb ? n : k, tb ? k : n};
	lathe_tir_expr *v = nn_mul(f, lathe_nn_to(f, acc, lathe_nn_load(f, a, ai)),
				   lathe_nn_to(f, acc, lathe_nn_load(f, b, bi)));
	lathe_te_reduce r = lathe_te_reduce_begin(f, acc);
	lathe_tir_expr *post = lathe_nn_to(f, post_t, r.acc_val);
	if (alpha != 1.0)
		post = nn_mul(f, post, lathe_nn_const(f, post_t, alpha));
	if (cc && beta != 0.0) {
		lathe_tir_expr *cv = lathe_nn_to(f, post_t, lathe_nn_load_bcast(f, cc, 2, ax.idx));
		if (beta != 1.0)
			cv = nn_mul(f, cv, lathe_nn_const(f, post_t, beta));
		post = nn_add(f, post, cv);
	}
	lathe_te_reduce_end(f, &r, y, ax, rax, LATHE_TIR_ADD, lathe_nn_const(f, acc, 0), v,
			    lathe_nn_to(f, y->dtype, post));
	return NULL;
}

/* ---- Einsum ------------------------------------------------------------------------ */

enum { EIN_LABELS = 52, EIN_ELL = -1 };

/* One operand (or the output) of an equation: labels in order, EIN_ELL
 * standing for the ellipsis. */
typedef struct ein_term {
	int n;
	int *lab;
	bool ell;
} ein_term;

static int label_id(char ch)
{
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	return -2;
}

static lathe_err parse_term(lathe_arena *a, const char *s, size_t len, ein_term *t)
{
	t->lab = lathe_arena_new(a, int, len + 1);
	t->n = 0;
	t->ell = false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == ' ')
			continue;
		if (s[i] == '.') {
			if (t->ell || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.')
				return lathe_error(LATHE_EINVAL, "a '.' that is not one '...'");
			t->ell = true;
			t->lab[t->n++] = EIN_ELL;
			i += 2;
			continue;
		}
		int id = label_id(s[i]);
		if (id < 0)
			return lathe_error(LATHE_EINVAL, "'%c' is not a letter", s[i]);
		t->lab[t->n++] = id;
	}
	return NULL;
}

/* The parsed equation with every label's size and the ellipsis shape. */
typedef struct ein_eq {
	int nin;
	ein_term *in;
	ein_term out;
	lathe_dim size[EIN_LABELS]; /* broadcast of the label's dims */
	bool used[EIN_LABELS];
	int nell;                   /* broadcast rank of the ellipsis */
	lathe_dim *ell;             /* its dims */
	int *ell_rank;              /* per operand */
} ein_eq;

static lathe_err ein_parse(lathe_arena *a, const char *eq, int nin, const lathe_type *const *in,
			   ein_eq *e)
{
	memset(e, 0, sizeof *e);
	const char *arrow = strstr(eq, "->");
	size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
	e->nin = nin;
	e->in = lathe_arena_new(a, ein_term, nin + 1);
	e->ell_rank = lathe_arena_new(a, int, nin + 1);
	int k = 0;
	size_t start = 0;
	for (size_t i = 0; i <= lhs_len; i++) {
		if (i < lhs_len && eq[i] != ',')
			continue;
		if (k >= nin)
			return lathe_error(LATHE_EINVAL, "the equation has more operands than the %d inputs",
					   nin);
		LATHE_TRY(parse_term(a, eq + start, i - start, &e->in[k]));
		k++;
		start = i + 1;
	}
	if (k != nin)
		return lathe_error(LATHE_EINVAL, "the equation has %d operands for %d inputs", k,
				   nin);
	lathe_dim one = {.size = 1, .sym = -1};
	for (int i = 0; i < EIN_LABELS; i++)
		e->size[i] = one;
	int count[EIN_LABELS] = {0};
	int nell = 0;
	for (int j = 0; j < nin; j++) {
		ein_term *t = &e->in[j];
		int nlab = t->n - (t->ell ? 1 : 0);
		int rank = in[j] ? in[j]->rank : -1;
		if (rank < 0)
			return lathe_error(LATHE_EINVAL, "input %d has unknown rank", j);
		if (t->ell ? rank < nlab : rank != nlab)
			return lathe_error(LATHE_EINVAL, "operand %d has %d labels for rank %d",
					   j, nlab, rank);
		e->ell_rank[j] = rank - nlab;
		if (e->ell_rank[j] > nell)
			nell = e->ell_rank[j];
	}
	e->nell = nell;
	e->ell = lathe_arena_new(a, lathe_dim, nell + 1);
	for (int i = 0; i < nell; i++)
		e->ell[i] = one;
	for (int j = 0; j < nin; j++) {
		ein_term *t = &e->in[j];
		int d = 0;
		bool seen[EIN_LABELS] = {false};
		for (int p = 0; p < t->n; p++) {
			if (t->lab[p] == EIN_ELL) {
				for (int q = 0; q < e->ell_rank[j]; q++, d++) {
					int slot = nell - e->ell_rank[j] + q;
					LATHE_TRY(check_bcast(e->ell[slot], in[j]->dims[d], slot));
					e->ell[slot] = bcast_dim(e->ell[slot], in[j]->dims[d]);
				}
				continue;
			}
			int l = t->lab[p];
			lathe_dim dm = in[j]->dims[d++];
			if (!seen[l])
				count[l]++;
			seen[l] = true;
			e->used[l] = true;
			if (check_bcast(e->size[l], dm, 0))
				return lathe_error(LATHE_EINVAL, "label '%c' has sizes %lld and %lld",
						   l < 26 ? 'A' + l : 'a' + l - 26,
						   (long long)e->size[l].size, (long long)dm.size);
			e->size[l] = bcast_dim(e->size[l], dm);
		}
	}
	if (arrow) {
		LATHE_TRY(parse_term(a, arrow + 2, strlen(arrow + 2), &e->out));
		bool seen[EIN_LABELS] = {false};
		for (int p = 0; p < e->out.n; p++) {
			int l = e->out.lab[p];
			if (l == EIN_ELL)
				continue;
			if (!e->used[l] || seen[l])
				return lathe_error(LATHE_EINVAL,
						   "output label '%c' is repeated or not an input's",
						   l < 26 ? 'A' + l : 'a' + l - 26);
			seen[l] = true;
		}
	} else {
		/* Implicit output: the ellipsis, then the labels used once, sorted. */
		e->out.lab = lathe_arena_new(a, int, EIN_LABELS + 1);
		if (nell > 0) {
			e->out.lab[e->out.n++] = EIN_ELL;
			e->out.ell = true;
		}
		for (int l = 0; l < EIN_LABELS; l++)
			if (count[l] == 1) {
				/* A label repeated inside one operand only also counts once. */
				int occ = 0;
				for (int j = 0; j < nin; j++)
					for (int p = 0; p < e->in[j].n; p++)
						occ += e->in[j].lab[p] == l;
				if (occ == 1)
					e->out.lab[e->out.n++] = l;
			}
	}
	return NULL;
}

static lathe_err einsum_equation(const lathe_node *node, const char **out)
{
	const char *eq = lathe_node_attr_str(node, "equation", NULL);
	if (!eq)
		return lathe_error(LATHE_EINVAL, "attribute equation is required");
	*out = eq;
	return NULL;
}

lathe_err infer_einsum(lathe_infer_ctx *c)
{
	const char *eq = NULL;
	LATHE_TRY(einsum_equation(c->node, &eq));
	if (c->nin < 1)
		return lathe_error(LATHE_EINVAL, "needs at least one input");
	int dtype = LATHE_DT_UNDEF;
	for (int i = 0; i < c->nin; i++) {
		LATHE_TRY(lathe_nn_need(c, i, "an operand"));
		const lathe_type *t = lathe_nn_in(c, i);
		if (!t || t->rank < 0) {
			c->out[0] = lathe_nn_type(c->arena, t ? t->dtype : LATHE_DT_UNDEF, -1);
			return NULL;
		}
		if (i == 0)
			dtype = t->dtype;
		else if (t->dtype != dtype)
			return lathe_error(LATHE_EINVAL, "input %d is %s but input 0 is %s", i,
					   lathe_dtype_name(t->dtype), lathe_dtype_name(dtype));
	}
	ein_eq e;
	LATHE_TRY(ein_parse(c->arena, eq, c->nin, c->in, &e));
	int rank = 0;
	for (int p = 0; p < e.out.n; p++)
		rank += e.out.lab[p] == EIN_ELL ? e.nell : 1;
	lathe_type t = lathe_nn_type(c->arena, dtype, rank);
	int d = 0;
	for (int p = 0; p < e.out.n; p++) {
		if (e.out.lab[p] == EIN_ELL) {
			for (int q = 0; q < e.nell; q++)
				t.dims[d++] = e.ell[q];
		} else {
			t.dims[d++] = e.size[e.out.lab[p]];
		}
	}
	c->out[0] = t;
	return NULL;
}

lathe_err lower_einsum(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	const char *eq = NULL;
	LATHE_TRY(einsum_equation(c->node, &eq));
	ein_eq e;
	LATHE_TRY(ein_parse(f->arena, eq, c->nin, c->in, &e));
	lathe_tir_buf *y = c->out_buf[0];
	lathe_te_axes ax = lathe_te_axes_new(f, "i", y->rank, y->shape);
	/* Every label and ellipsis dim gets an index: an output axis, or a
	 * reduction axis when the output does not name it. */
	lathe_tir_expr *lab[EIN_LABELS] = {0};
	lathe_tir_expr **ell = lathe_arena_new(f->arena, lathe_tir_expr *, e.nell + 1);
	int d = 0;
	bool out_ell = false;
	for (int p = 0; p < e.out.n; p++) {
		if (e.out.lab[p] == EIN_ELL) {
			out_ell = true;
			for (int q = 0; q < e.nell; q++)
				ell[q] = ax.idx[d++];
		} else {
			lab[e.out.lab[p]] = ax.idx[d++];
		}
	}
	int nr = 0;
	int64_t rext[EIN_LABELS + 64];
	int rlab[EIN_LABELS + 64];
	if (!out_ell) {
		if (e.nell > 64)
			return lathe_error(LATHE_EUNSUPPORTED, "too many ellipsis dims");
		for (int q = 0; q < e.nell; q++) {
			rlab[nr] = -1 - q;
			rext[nr++] = e.ell[q].size;
		}
	}
	for (int l = 0; l < EIN_LABELS; l++)
		if (e.used[l] && !lab[l]) {
			rlab[nr] = l;
			rext[nr++] = e.size[l].size;
		}
	lathe_te_axes rax = lathe_te_axes_new(f, "r", nr, rext);
	for (int i = 0; i < nr; i++) {
		if (rlab[i] >= 0)
			lab[rlab[i]] = rax.idx[i];
		else
			ell[-1 - rlab[i]] = rax.idx[i];
	}
	int dtype = c->in_buf[0]->dtype;
	int acc = lathe_nn_acc_dtype(dtype);
	lathe_tir_expr *v = NULL;
	for (int j = 0; j < c->nin; j++) {
		lathe_tir_buf *b = c->in_buf[j];
		lathe_tir_expr **bi = lathe_arena_new(f->arena, lathe_tir_expr *, b->rank + 1);
		int bd = 0;
		ein_term *t = &e.in[j];
		for (int p = 0; p < t->n; p++) {
			if (t->lab[p] == EIN_ELL) {
				for (int q = 0; q < e.ell_rank[j]; q++, bd++)
					bi[bd] = b->shape[bd] == 1
							 ? nn_i64(f, 0)
							 : ell[e.nell - e.ell_rank[j] + q];
				continue;
			}
			bi[bd] = b->shape[bd] == 1 ? nn_i64(f, 0) : lab[t->lab[p]];
			bd++;
		}
		lathe_tir_expr *lv = lathe_nn_to(f, acc, lathe_nn_load(f, b, bi));
		v = v ? nn_mul(f, v, lv) : lv;
	}
	lathe_te_reduce r = lathe_te_reduce_begin(f, acc);
	lathe_te_reduce_end(f, &r, y, ax, rax, LATHE_TIR_ADD, lathe_nn_const(f, acc, 0), v, NULL);
	return NULL;
}

/* ---- Det --------------------------------------------------------------------------- */

lathe_err infer_det(lathe_infer_ctx *c)
{
	LATHE_TRY(lathe_nn_need(c, 0, "X"));
	const lathe_type *x = lathe_nn_in(c, 0);
	int dtype = x ? x->dtype : LATHE_DT_UNDEF;
	LATHE_TRY(lathe_nn_check_float(dtype, "X"));
	if (!x || x->rank < 0) {
		c->out[0] = lathe_nn_type(c->arena, dtype, -1);
		return NULL;
	}
	if (x->rank < 2)
		return lathe_error(LATHE_EINVAL, "X must have rank >= 2, not %d", x->rank);
	int64_t r, cc;
	if (lathe_nn_dim(x, x->rank - 2, &r) && lathe_nn_dim(x, x->rank - 1, &cc) && r != cc)
		return lathe_error(LATHE_EINVAL, "X's matrices must be square, not %lldx%lld",
				   (long long)r, (long long)cc);
	lathe_type t = lathe_nn_type(c->arena, dtype, x->rank - 2);
	for (int i = 0; i < x->rank - 2; i++)
		t.dims[i] = x->dims[i];
	c->out[0] = t;
	return NULL;
}

lathe_err kernel_det(lathe_kernel_ctx *c)
{
	return lathe_kernel_call_rt(c, lathe_rt_k_det, NULL, 0, NULL, 0, NULL, 0);
}
