/* ml.c: the ai.onnx.ml ops LabelEncoder and TreeEnsemble, and the training
 * optimizers Adagrad, Adam and Momentum (ai.onnx.preview.training).
 *
 * The optimizers are elementwise updates and lower to loop programs, one
 * compute per output, in f64 (the scalars R and T and the attributes are
 * doubles; results are rounded to the tensors' type on store).
 * LabelEncoder maps keys of any kind (strings, integers, floats; from the
 * list attributes or the tensor ones) and works on tensor data directly,
 * since strings are involved.  TreeEnsemble packs its node arrays for the
 * extern kernel lathe_rt_k_tree_ensemble (runtime/src/k_misc.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lathe_rt_k_misc.h"
#include "ops/op.h"

/* ---- LabelEncoder ------------------------------------------------------------------ */

/* A list of keys or values: from a list attribute or a tensor attribute. */
typedef struct le_list {
	int dtype; /* LATHE_DT_STR, an integer or a float type */
	int64_t n;
	const int64_t *ints;
	const double *floats;
	const char *const *strs;
	const lathe_tensor *t;
} le_list;

static bool le_get(const lathe_node *n, const char *prefix, le_list *l)
{
	char name[64];
	memset(l, 0, sizeof *l);
	snprintf(name, sizeof name, "%s_tensor", prefix);
	const lathe_attr *a = lathe_node_attr(n, name);
	if (a && a->kind == LATHE_ATTR_TENSOR && a->u.t) {
		l->t = a->u.t;
		l->dtype = a->u.t->dtype;
		l->n = lathe_tensor_numel(a->u.t);
		return true;
	}
	snprintf(name, sizeof name, "%s_strings", prefix);
	if ((a = lathe_node_attr(n, name)) && a->kind == LATHE_ATTR_STRINGS) {
		l->dtype = LATHE_DT_STR, l->n = a->n, l->strs = a->u.strs;
		return true;
	}
	snprintf(name, sizeof name, "%s_int64s", prefix);
	if ((a = lathe_node_attr(n, name)) && a->kind == LATHE_ATTR_INTS) {
		l->dtype = LATHE_DT_I64, l->n = a->n, l->ints = a->u.ints;
		return true;
	}
	snprintf(name, sizeof name, "%s_floats", prefix);
	if ((a = lathe_node_attr(n, name)) && a->kind == LATHE_ATTR_FLOATS) {
		l->dtype = LATHE_DT_F32, l->n = a->n, l->floats = a->u.floats;
		return true;
	}
	return false;
}

static const char *le_str(const le_list *l, int64_t i)
{
	if (l->strs)
		return l->strs[i];
	const char *s = ((char *const *)l->t->data)[i];
	return s ? s : "";
}

static double le_f64(const le_list *l, int64_t i)
{
	return l->floats ? l->floats[i] : l->ints ? (double)l->ints[i] : lathe_rt_load_f64(l->t, i);
}

static int64_t le_i64(const le_list *l, int64_t i)
{
	return l->ints ? l->ints[i] : l->floats ? (int64_t)l->floats[i] : lathe_rt_load_i64(l->t, i);
}

static int kind_of(int dt)
{
	return dt == LATHE_DT_STR ? 0 : lathe_dtype_is_float(dt) ? 2 : 1;
}

lathe_err infer_label_encoder(lathe_infer_ctx *c)
{
	const lathe_type *x = c->in[0];
	le_list k, v;
	if (!x)
		return lathe_error(LATHE_EINVAL, "LabelEncoder needs an input");
	if (!le_get(c->node, "keys", &k) || !le_get(c->node, "values", &v))
		return lathe_error(LATHE_EINVAL, "LabelEncoder needs keys_* and values_* attributes");
	if (k.n != v.n)
		return lathe_error(LATHE_EINVAL, "%lld keys but %lld values", (long long)k.n, (long long)v.n);
	if (kind_of(k.dtype) != kind_of(x->dtype))
		return lathe_error(LATHE_EINVAL, "keys are %s but the input is %s",
				   lathe_dtype_name(k.dtype), lathe_dtype_name(x->dtype));
	c->out[0] = lathe_type_with_dtype(c->arena, x, v.dtype);
	return NULL;
}

typedef struct le_key {
	double f;
	int64_t i;
	int64_t idx;
} le_key;

static int cmp_f(const void *a, const void *b)
{
	double x = ((const le_key *)a)->f, y = ((const le_key *)b)->f;
	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y); /* NaN sorts last */
	return (x > y) - (x < y);
}

static int cmp_i(const void *a, const void *b)
{
	int64_t x = ((const le_key *)a)->i, y = ((const le_key *)b)->i;
	return (x > y) - (x < y);
}

lathe_err kernel_label_encoder(lathe_kernel_ctx *c)
{
	lathe_tensor *x = c->in[0].kind == LATHE_TY_TENSOR ? c->in[0].t : NULL;
	le_list k, v, dflt;
	if (!x)
		return lathe_error(LATHE_EINVAL, "LabelEncoder needs an input tensor");
	if (!le_get(c->node, "keys", &k) || !le_get(c->node, "values", &v) || k.n != v.n)
		return lathe_error(LATHE_EINVAL, "LabelEncoder needs matching keys_* and values_*");
	int kk = kind_of(k.dtype);
	if (kk != kind_of(x->dtype))
		return lathe_error(LATHE_EINVAL, "keys are %s but the input is %s",
				   lathe_dtype_name(k.dtype), lathe_dtype_name(x->dtype));
	bool has_dflt = le_get(c->node, "default", &dflt) && dflt.t && dflt.n >= 1;
	lathe_tensor *y = NULL;
	LATHE_TRY(lathe_kernel_output(c, 0, v.dtype, x->rank, x->shape, &y));
	int64_t n = lathe_tensor_numel(x);
	lathe_map smap;
	le_key *keys = NULL;
	if (kk == 0) {
		lathe_map_init(&smap);
		for (int64_t i = k.n - 1; i >= 0; i--) /* the first of equal keys wins */
			lathe_map_put(&smap, le_str(&k, i), (uint64_t)i);
	} else {
		keys = malloc(sizeof(le_key) * (size_t)(k.n + 1));
		if (!keys)
			return lathe_error(LATHE_ENOMEM, "%lld keys", (long long)k.n);
		for (int64_t i = 0; i < k.n; i++)
			keys[i] = (le_key){le_f64(&k, i), le_i64(&k, i), i};
		qsort(keys, (size_t)k.n, sizeof(le_key), kk == 2 ? cmp_f : cmp_i);
	}
	const char *dstr = lathe_node_attr_str(c->node, "default_string", "_Unused");
	for (int64_t e = 0; e < n; e++) {
		int64_t hit = -1;
		if (kk == 0) {
			uint64_t id;
			const char *s = ((char *const *)x->data)[e];
			if (lathe_map_get(&smap, s ? s : "", &id))
				hit = (int64_t)id;
		} else {
			le_key q = {lathe_rt_load_f64(x, e), lathe_rt_load_i64(x, e), 0};
			int64_t lo = 0, hi = k.n;
			while (lo < hi) { /* first key >= q */
				int64_t mid = lo + (hi - lo) / 2;
				if ((kk == 2 ? cmp_f : cmp_i)(&keys[mid], &q) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < k.n && (kk == 2 ? cmp_f : cmp_i)(&keys[lo], &q) == 0)
				hit = keys[lo].idx;
		}
		if (v.dtype == LATHE_DT_STR) {
			const char *s = hit >= 0 ? le_str(&v, hit) : has_dflt ? le_str(&dflt, 0) : dstr;
			((const char **)y->data)[e] = s;
		} else if (lathe_dtype_is_float(v.dtype)) {
			double d = hit >= 0 ? le_f64(&v, hit)
				   : has_dflt ? lathe_rt_load_f64(dflt.t, 0)
					      : lathe_node_attr_float(c->node, "default_float", -0.0);
			lathe_rt_store_f64(y, e, d);
		} else {
			int64_t d = hit >= 0 ? le_i64(&v, hit)
				    : has_dflt ? lathe_rt_load_i64(dflt.t, 0)
					       : lathe_node_attr_int(c->node, "default_int64", -1);
			lathe_rt_store_i64(y, e, d);
		}
	}
	if (kk == 0)
		lathe_map_deinit(&smap);
	free(keys);
	return NULL;
}

/* ---- TreeEnsemble --------------------------------------------------------------------- */

lathe_err infer_tree_ensemble(lathe_infer_ctx *c)
{
	const lathe_type *x = c->in[0];
	if (!x)
		return lathe_error(LATHE_EINVAL, "TreeEnsemble needs X");
	if (!lathe_dtype_is_float(x->dtype))
		return lathe_error(LATHE_EUNSUPPORTED, "TreeEnsemble on %s", lathe_dtype_name(x->dtype));
	if (x->rank >= 0 && x->rank != 2)
		return lathe_error(LATHE_EINVAL, "X must be [batch, features], not rank %d", (int)x->rank);
	lathe_dim *d = lathe_arena_new(c->arena, lathe_dim, 2);
	d[0] = x->rank == 2 ? x->dims[0] : (lathe_dim){-1, -1};
	d[1] = (lathe_dim){lathe_node_attr_int(c->node, "n_targets", 1), -1};
	c->out[0] = (lathe_type){.kind = LATHE_TY_TENSOR, .dtype = x->dtype, .rank = 2, .dims = d};
	return NULL;
}

/* Values of an ints attribute or of a tensor attribute, as int64 or double. */
static lathe_err te_ints(const lathe_node *n, const char *name, bool required, int64_t want,
			 int64_t *dst, int64_t *count)
{
	int64_t cnt = 0;
	const int64_t *v = lathe_node_attr_ints(n, name, &cnt);
	const lathe_attr *a = lathe_node_attr(n, name);
	if (!v && a && a->kind == LATHE_ATTR_TENSOR && a->u.t)
		cnt = lathe_tensor_numel(a->u.t);
	else if (!v)
		cnt = -1;
	if (cnt < 0) {
		if (required)
			return lathe_error(LATHE_EINVAL, "attribute '%s' is required", name);
		if (dst)
			for (int64_t i = 0; i < want; i++)
				dst[i] = 0;
		if (count)
			*count = 0;
		return NULL;
	}
	if (want >= 0 && cnt != want)
		return lathe_error(LATHE_EINVAL, "'%s' has %lld entries, expected %lld", name,
				   (long long)cnt, (long long)want);
	if (dst)
		for (int64_t i = 0; i < cnt; i++)
			dst[i] = v ? v[i] : lathe_rt_load_i64(a->u.t, i);
	if (count)
		*count = cnt;
	return NULL;
}

static lathe_err te_floats(const lathe_node *n, const char *name, bool required, int64_t *count,
			   double *dst)
{
	const lathe_attr *a = lathe_node_attr(n, name);
	int64_t cnt = -1;
	if (a && a->kind == LATHE_ATTR_TENSOR && a->u.t)
		cnt = lathe_tensor_numel(a->u.t);
	else if (a && a->kind == LATHE_ATTR_FLOATS)
		cnt = a->n;
	if (cnt < 0) {
		if (required)
			return lathe_error(LATHE_EINVAL, "attribute '%s' is required", name);
		cnt = 0;
	}
	if (*count >= 0 && cnt != *count && (required || cnt))
		return lathe_error(LATHE_EINVAL, "'%s' has %lld entries, expected %lld", name,
				   (long long)cnt, (long long)*count);
	for (int64_t i = 0; dst && i < cnt; i++)
		dst[i] = a->kind == LATHE_ATTR_FLOATS ? a->u.floats[i] : lathe_rt_load_f64(a->u.t, i);
	*count = cnt;
	return NULL;
}

lathe_err kernel_tree_ensemble(lathe_kernel_ctx *c)
{
	const lathe_node *n = c->node;
	int64_t N = 0, L = 0, T = 0, M = -1;
	LATHE_TRY(te_ints(n, "nodes_featureids", true, -1, NULL, &N));
	LATHE_TRY(te_ints(n, "leaf_targetids", true, -1, NULL, &L));
	LATHE_TRY(te_ints(n, "tree_roots", true, -1, NULL, &T));
	LATHE_TRY(te_floats(n, "membership_values", false, &M, NULL));
	if (N > ((int64_t)1 << 28) || L > ((int64_t)1 << 28) || T > ((int64_t)1 << 28))
		return lathe_error(LATHE_EINVAL, "tree ensemble too large");
	int64_t nip = 7 + 7 * N + L + T, nfp = N + L + M;
	int64_t *ip = lathe_arena_new(c->arena, int64_t, nip + 1);
	double *fp = lathe_arena_new(c->arena, double, nfp + 1);
	ip[0] = N, ip[1] = L, ip[2] = T;
	ip[3] = lathe_node_attr_int(n, "n_targets", 1);
	ip[4] = lathe_node_attr_int(n, "aggregate_function", 1);
	ip[5] = lathe_node_attr_int(n, "post_transform", 0);
	ip[6] = M;
	static const char *const node_attrs[] = {"nodes_featureids", "nodes_modes", "nodes_truenodeids",
						 "nodes_falsenodeids", "nodes_trueleafs", "nodes_falseleafs",
						 "nodes_missing_value_tracks_true"};
	for (int k = 0; k < 7; k++)
		LATHE_TRY(te_ints(n, node_attrs[k], k < 6, N, ip + 7 + k * N, NULL));
	LATHE_TRY(te_ints(n, "leaf_targetids", true, L, ip + 7 + 7 * N, NULL));
	LATHE_TRY(te_ints(n, "tree_roots", true, T, ip + 7 + 7 * N + L, NULL));
	LATHE_TRY(te_floats(n, "nodes_splits", true, &N, fp));
	LATHE_TRY(te_floats(n, "leaf_weights", true, &L, fp + N));
	LATHE_TRY(te_floats(n, "membership_values", false, &M, fp + N + L));
	if (ip[4] < 0 || ip[4] > 3 || ip[5] < 0 || ip[5] > 4)
		return lathe_error(LATHE_EINVAL, "aggregate_function %lld / post_transform %lld unknown",
				   (long long)ip[4], (long long)ip[5]);
	return lathe_kernel_call_rt(c, lathe_rt_k_tree_ensemble, ip, (int)nip, fp, (int)nfp, NULL, 0);
}

/* ---- optimizers ------------------------------------------------------------------------ */

/* Tensors per group: Adagrad (X, G, H), Adam (X, G, V, H), Momentum (X, G, V). */
static int opt_group(int op)
{
	return op == LATHE_OP_Adam ? 4 : 3;
}

lathe_err infer_optimizer(lathe_infer_ctx *c)
{
	int g = opt_group(c->node->op);
	if (c->nin < 2 + g || (c->nin - 2) % g)
		return lathe_error(LATHE_EINVAL, "expected R, T and %d tensors per updated input", g);
	int n = (c->nin - 2) / g;
	if (c->nout != (g - 1) * n)
		return lathe_error(LATHE_EINVAL, "expected %d outputs, got %d", (g - 1) * n, c->nout);
	for (int i = 0; i < c->nin; i++)
		if (!c->in[i])
			return lathe_error(LATHE_EINVAL, "input %d is required", i);
	/* outputs: X_new..., then (V_new...,) H_new...: the shapes of X, V, H */
	for (int j = 0; j < g - 1; j++)
		for (int i = 0; i < n; i++) {
			int src = j == 0 ? 2 + i : 2 + (j + 1) * n + i;
			c->out[j * n + i] = lathe_type_like(c->arena, c->in[src]);
		}
	return NULL;
}

static lathe_tir_expr *ld_scalar(lathe_tir_func *f, lathe_tir_buf *b)
{
	lathe_tir_expr **idx = lathe_arena_new(f->arena, lathe_tir_expr *, b->rank + 1);
	for (int i = 0; i < b->rank; i++)
		idx[i] = lathe_tir_i64(f, 0);
	return lathe_tir_cast(f, LATHE_DT_F64, lathe_tir_load(f, b, idx));
}

static lathe_tir_expr *K(lathe_tir_func *f, double v)
{
	return lathe_tir_float(f, LATHE_DT_F64, v);
}

static lathe_tir_expr *B(lathe_tir_func *f, int op, lathe_tir_expr *a, lathe_tir_expr *b)
{
	return lathe_tir_binary(f, op, a, b);
}

lathe_err lower_optimizer(lathe_lower_ctx *c)
{
	lathe_tir_func *f = c->fn;
	const lathe_node *nd = c->node;
	int op = nd->op, g = opt_group(op), n = (c->nin - 2) / g;
	const int D = LATHE_DT_F64;
	for (int i = 0; i < c->nin; i++)
		if (i >= 2 && !lathe_type_equal(c->in[i], c->in[2 + (i - 2) % n]))
			return lathe_error(LATHE_EINVAL, "input %d differs in type or shape from input %d",
					   i, 2 + (i - 2) % n);
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < g - 1; j++) {
			lathe_tir_buf *ob = c->out_buf[j * n + i];
			lathe_te_axes ax = lathe_te_axes_new(f, "i", ob->rank, ob->shape);
			lathe_tir_expr *r = ld_scalar(f, c->in_buf[0]), *t = ld_scalar(f, c->in_buf[1]);
			lathe_tir_expr *x = lathe_tir_cast(f, D, lathe_tir_load(f, c->in_buf[2 + i], ax.idx));
			lathe_tir_expr *gr = lathe_tir_cast(f, D, lathe_tir_load(f, c->in_buf[2 + n + i], ax.idx));
			lathe_tir_expr *s3 = lathe_tir_cast(f, D, lathe_tir_load(f, c->in_buf[2 + 2 * n + i], ax.idx));
			double norm = lathe_node_attr_float(nd, "norm_coefficient", 0);
			/* gradient plus the regularization term's gradient */
			gr = B(f, LATHE_TIR_ADD, B(f, LATHE_TIR_MUL, K(f, norm), x), gr);
			lathe_tir_expr *v = NULL;
			if (op == LATHE_OP_Adagrad) {
				double decay = lathe_node_attr_float(nd, "decay_factor", 0);
				double eps = lathe_node_attr_float(nd, "epsilon", 1e-6);
				lathe_tir_expr *h = B(f, LATHE_TIR_ADD, s3, B(f, LATHE_TIR_MUL, gr, gr));
				if (j == 1) {
					v = h;
				} else {
					lathe_tir_expr *rr = B(f, LATHE_TIR_DIV, r,
							       B(f, LATHE_TIR_ADD, K(f, 1), B(f, LATHE_TIR_MUL, t, K(f, decay))));
					lathe_tir_expr *den = B(f, LATHE_TIR_ADD, lathe_tir_unary(f, LATHE_TIR_SQRT, h), K(f, eps));
					v = B(f, LATHE_TIR_SUB, x, B(f, LATHE_TIR_DIV, B(f, LATHE_TIR_MUL, rr, gr), den));
				}
			} else if (op == LATHE_OP_Adam) {
				double al = lathe_node_attr_float(nd, "alpha", 0.9);
				double be = lathe_node_attr_float(nd, "beta", 0.999);
				double eps = lathe_node_attr_float(nd, "epsilon", 1e-6);
				double post = lathe_node_attr_float(nd, "norm_coefficient_post", 0);
				lathe_tir_expr *h0 = lathe_tir_cast(f, D, lathe_tir_load(f, c->in_buf[2 + 3 * n + i], ax.idx));
				lathe_tir_expr *vn = B(f, LATHE_TIR_ADD, B(f, LATHE_TIR_MUL, K(f, al), s3),
						       B(f, LATHE_TIR_MUL, K(f, 1 - al), gr));
				lathe_tir_expr *hn = B(f, LATHE_TIR_ADD, B(f, LATHE_TIR_MUL, K(f, be), h0),
						       B(f, LATHE_TIR_MUL, K(f, 1 - be), B(f, LATHE_TIR_MUL, gr, gr)));
				if (j == 1) {
					v = vn;
				} else if (j == 2) {
					v = hn;
				} else {
					/* bias correction once T > 0 */
					lathe_tir_expr *corr = B(f, LATHE_TIR_DIV,
								 lathe_tir_unary(f, LATHE_TIR_SQRT,
										 B(f, LATHE_TIR_SUB, K(f, 1), B(f, LATHE_TIR_POW, K(f, be), t))),
								 B(f, LATHE_TIR_SUB, K(f, 1), B(f, LATHE_TIR_POW, K(f, al), t)));
					lathe_tir_expr *ra = lathe_tir_select(f, B(f, LATHE_TIR_GT, t, K(f, 0)),
									      B(f, LATHE_TIR_MUL, r, corr), r);
					lathe_tir_expr *den = B(f, LATHE_TIR_ADD, lathe_tir_unary(f, LATHE_TIR_SQRT, hn), K(f, eps));
					v = B(f, LATHE_TIR_SUB, x, B(f, LATHE_TIR_MUL, ra, B(f, LATHE_TIR_DIV, vn, den)));
					v = B(f, LATHE_TIR_MUL, K(f, 1 - post), v);
				}
			} else {
				const char *mode = lathe_node_attr_str(nd, "mode", "standard");
				bool nesterov = !strcmp(mode, "nesterov");
				if (!nesterov && strcmp(mode, "standard"))
					return lathe_error(LATHE_EINVAL, "mode '%s' is not standard or nesterov", mode);
				double al = lathe_node_attr_float(nd, "alpha", 0);
				double be = lathe_node_attr_float(nd, "beta", 0);
				/* the gradient's coefficient is 1 on the first step */
				lathe_tir_expr *ba = lathe_tir_select(f, B(f, LATHE_TIR_GT, t, K(f, 0)), K(f, be), K(f, 1));
				lathe_tir_expr *vn = B(f, LATHE_TIR_ADD, B(f, LATHE_TIR_MUL, K(f, al), s3),
						       B(f, LATHE_TIR_MUL, ba, gr));
				if (j == 1)
					v = vn;
				else if (nesterov)
					v = B(f, LATHE_TIR_SUB, x, B(f, LATHE_TIR_MUL, r,
								     B(f, LATHE_TIR_ADD, gr, B(f, LATHE_TIR_MUL, K(f, al), vn))));
				else
					v = B(f, LATHE_TIR_SUB, x, B(f, LATHE_TIR_MUL, r, vn));
			}
			lathe_te_compute(f, ob, ax, ob->dtype == D ? v : lathe_tir_cast(f, ob->dtype, v));
		}
	}
	return NULL;
}
