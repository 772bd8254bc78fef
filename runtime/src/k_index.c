/* k_index.c: extern kernels of the data-dependent indexing ops: Compress,
 * NonZero, TopK, Unique and NonMaxSuppression (see lathe_rt_k_index.h for
 * the parameter order of each).
 *
 * They are the part of those ops that loops cannot express: output sizes
 * that depend on the data, sorting, greedy selection.  Everything else about
 * the ops (shape inference, attribute checks) is the compiler's.  Kernels
 * only read inside the tensors they are given: every count taken from the
 * data is checked against the shapes before it is used, and an input that
 * breaks the op's contract is reported in call->err.
 *
 * Sorting is a stable merge sort over element indices, so ties keep their
 * input order (TopK's "lower index first", Unique's first occurrences).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lathe_rt_k_index.h"

#define MAX_RANK 64

static int fail(lathe_rt_call *call, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(call->err, sizeof call->err, fmt, ap);
	va_end(ap);
	return code;
}

/* Output i with the given type: allocated here if the caller did not, or
 * checked against what the caller allocated.  *out is NULL when the node
 * has fewer outputs. */
static int output(lathe_rt_call *call, int i, int32_t dtype, int32_t rank,
		  const int64_t *shape, lathe_tensor **out)
{
	*out = NULL;
	if (i >= call->nout)
		return LATHE_RT_OK;
	lathe_tensor *t = &call->out[i];
	if (t->data == NULL) {
		int rc = call->alloc(call, i, dtype, rank, shape);
		if (rc != LATHE_RT_OK)
			return fail(call, rc, "out of memory for output %d", i);
	} else {
		int same = t->dtype == dtype && t->rank == rank;
		for (int d = 0; same && d < rank; d++)
			same = t->shape[d] == shape[d];
		if (!same)
			return fail(call, LATHE_RT_EINVAL,
				    "output %d was allocated with a shape other than the result's", i);
	}
	*out = t;
	return LATHE_RT_OK;
}

static int is_float(int32_t dt)
{
	switch (dt) {
	case LATHE_DT_F32: case LATHE_DT_F64: case LATHE_DT_F16: case LATHE_DT_BF16:
	case LATHE_DT_F8E4M3FN: case LATHE_DT_F8E4M3FNUZ: case LATHE_DT_F8E5M2:
	case LATHE_DT_F8E5M2FNUZ: case LATHE_DT_F4E2M1: case LATHE_DT_F8E8M0:
		return 1;
	default:
		return 0;
	}
}

/* Three-way comparison of elements a and b of t.  NaN sorts after every
 * number and equal to itself, as NumPy sorts. */
static int elem_cmp(const lathe_tensor *t, int64_t a, int64_t b)
{
	if (t->dtype == LATHE_DT_STR) {
		const char *const *s = t->data;
		int r = strcmp(s[a] ? s[a] : "", s[b] ? s[b] : "");
		return (r > 0) - (r < 0);
	}
	if (t->dtype == LATHE_DT_U64) {
		const uint64_t *u = t->data;
		return (u[a] > u[b]) - (u[a] < u[b]);
	}
	if (is_float(t->dtype)) {
		double x = lathe_rt_load_f64(t, a), y = lathe_rt_load_f64(t, b);
		int nx = isnan(x), ny = isnan(y);
		if (nx || ny)
			return nx - ny;
		return (x > y) - (x < y);
	}
	int64_t x = lathe_rt_load_i64(t, a), y = lathe_rt_load_i64(t, b);
	return (x > y) - (x < y);
}

static int elem_nonzero(const lathe_tensor *t, int64_t i)
{
	if (t->dtype == LATHE_DT_STR) {
		const char *const *s = t->data;
		return s[i] && s[i][0];
	}
	if (t->dtype == LATHE_DT_U64)
		return ((const uint64_t *)t->data)[i] != 0;
	if (is_float(t->dtype))
		return lathe_rt_load_f64(t, i) != 0;
	return lathe_rt_load_i64(t, i) != 0;
}

/* Stable bottom-up merge sort of idx[0..n) by cmp; tmp holds n entries. */
typedef int (*idx_cmp)(const void *ctx, int64_t a, int64_t b);

static void merge_sort(int64_t *idx, int64_t *tmp, int64_t n, idx_cmp cmp, const void *ctx)
{
	int64_t *src = idx, *dst = tmp;
	for (int64_t w = 1; w < n; w *= 2) {
		for (int64_t lo = 0; lo < n; lo += 2 * w) {
			int64_t mid = lo + w < n ? lo + w : n;
			int64_t hi = lo + 2 * w < n ? lo + 2 * w : n;
			int64_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				dst[k++] = cmp(ctx, src[j], src[i]) < 0 ? src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		int64_t *s = src;
		src = dst;
		dst = s;
	}
	if (src != idx)
		memcpy(idx, src, (size_t)n * sizeof *idx);
}

static int norm_axis(lathe_rt_call *call, int64_t axis, int32_t rank, int *out)
{
	if (axis < -(int64_t)rank || axis >= rank)
		return fail(call, LATHE_RT_EINVAL, "axis %lld out of range for rank %d",
			    (long long)axis, (int)rank);
	*out = (int)(axis < 0 ? axis + rank : axis);
	return LATHE_RT_OK;
}

/* outer = product of dims before axis, inner = after it. */
static void split_at(const lathe_tensor *t, int axis, int64_t *outer, int64_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int d = 0; d < t->rank; d++) {
		if (d < axis)
			*outer *= t->shape[d];
		else if (d > axis)
			*inner *= t->shape[d];
	}
}

static int check_input(lathe_rt_call *call, int i, const char *what)
{
	if (i >= call->nin || call->in[i].data == NULL)
		return fail(call, LATHE_RT_EINVAL, "missing input %d (%s)", i, what);
	if (call->in[i].rank > MAX_RANK)
		return fail(call, LATHE_RT_EUNSUPPORTED, "input %d has rank %d, past %d",
			    i, (int)call->in[i].rank, MAX_RANK);
	return LATHE_RT_OK;
}

#define TRY(x)                                                                \
	do {                                                                  \
		int rc_ = (x);                                                \
		if (rc_ != LATHE_RT_OK)                                       \
			return rc_;                                           \
	} while (0)

/* ---- Compress ------------------------------------------------------------ */

int lathe_rt_k_compress(lathe_rt_call *call)
{
	TRY(check_input(call, 0, "input"));
	const lathe_tensor *x = &call->in[0], *cond = &call->in[1];
	if (call->nin < 2 || (cond->data == NULL && lathe_rt_numel(cond) > 0))
		return fail(call, LATHE_RT_EINVAL, "missing input 1 (condition)");
	if (cond->rank != 1)
		return fail(call, LATHE_RT_EINVAL, "condition must be 1-D, has rank %d",
			    (int)cond->rank);
	int has_axis = call->nip > 0 && call->ip[0];
	int axis = 0;
	int64_t outer = 1, inner = 1, len = lathe_rt_numel(x);
	if (has_axis) {
		TRY(norm_axis(call, call->nip > 1 ? call->ip[1] : 0, x->rank, &axis));
		split_at(x, axis, &outer, &inner);
		len = x->shape[axis];
	}
	int64_t nc = lathe_rt_numel(cond), count = 0;
	for (int64_t i = 0; i < nc; i++) {
		if (lathe_rt_load_i64(cond, i) == 0)
			continue;
		if (i >= len)
			return fail(call, LATHE_RT_EINVAL,
				    "condition selects index %lld past the %lld slices of the input",
				    (long long)i, (long long)len);
		count++;
	}
	int64_t shape[MAX_RANK];
	int32_t rank = 1;
	shape[0] = count;
	if (has_axis) {
		rank = x->rank;
		for (int d = 0; d < rank; d++)
			shape[d] = d == axis ? count : x->shape[d];
	}
	lathe_tensor *y;
	TRY(output(call, 0, x->dtype, rank, shape, &y));
	size_t esz = lathe_rt_dtype_size(x->dtype), row = (size_t)inner * esz;
	char *dst = y ? y->data : NULL;
	const char *src = x->data;
	if (!dst || count == 0)
		return LATHE_RT_OK;
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < nc && i < len; i++)
			if (lathe_rt_load_i64(cond, i) != 0) {
				memcpy(dst, src + ((size_t)(o * len + i)) * row, row);
				dst += row;
			}
	return LATHE_RT_OK;
}

/* ---- NonZero --------------------------------------------------------------- */

int lathe_rt_k_nonzero(lathe_rt_call *call)
{
	TRY(check_input(call, 0, "X"));
	const lathe_tensor *x = &call->in[0];
	int64_t n = lathe_rt_numel(x), count = 0;
	for (int64_t i = 0; i < n; i++)
		count += elem_nonzero(x, i);
	/* A scalar counts as a one-element vector. */
	int64_t rank = x->rank > 0 ? x->rank : 1;
	int64_t shape[2] = {rank, count};
	lathe_tensor *y;
	TRY(output(call, 0, LATHE_DT_I64, 2, shape, &y));
	if (!y || count == 0)
		return LATHE_RT_OK;
	int64_t *out = y->data, k = 0;
	for (int64_t i = 0; i < n; i++) {
		if (!elem_nonzero(x, i))
			continue;
		int64_t rem = i;
		for (int64_t d = x->rank - 1; d >= 0; d--) {
			out[d * count + k] = rem % x->shape[d];
			rem /= x->shape[d];
		}
		if (x->rank == 0)
			out[k] = 0;
		k++;
	}
	return LATHE_RT_OK;
}

/* ---- TopK ------------------------------------------------------------------ */

typedef struct slice_ctx {
	const lathe_tensor *t;
	int64_t base, stride;
	int desc;
} slice_ctx;

static int slice_cmp(const void *p, int64_t a, int64_t b)
{
	const slice_ctx *s = p;
	int r = elem_cmp(s->t, s->base + a * s->stride, s->base + b * s->stride);
	return s->desc ? -r : r;
}

int lathe_rt_k_topk(lathe_rt_call *call)
{
	TRY(check_input(call, 0, "X"));
	TRY(check_input(call, 1, "K"));
	const lathe_tensor *x = &call->in[0];
	if (x->dtype == LATHE_DT_STR)
		return fail(call, LATHE_RT_EUNSUPPORTED, "TopK on strings");
	if (lathe_rt_numel(&call->in[1]) != 1)
		return fail(call, LATHE_RT_EINVAL, "K must hold one value");
	int64_t k = lathe_rt_load_i64(&call->in[1], 0);
	int axis = 0;
	TRY(norm_axis(call, call->nip > 0 ? call->ip[0] : -1, x->rank, &axis));
	int desc = call->nip > 1 ? call->ip[1] != 0 : 1;
	int64_t n = x->shape[axis], outer, inner;
	if (k < 0 || k > n)
		return fail(call, LATHE_RT_EINVAL, "K = %lld out of range for axis of size %lld",
			    (long long)k, (long long)n);
	split_at(x, axis, &outer, &inner);
	int64_t shape[MAX_RANK];
	for (int d = 0; d < x->rank; d++)
		shape[d] = d == axis ? k : x->shape[d];
	lathe_tensor *vals, *idxs;
	TRY(output(call, 0, x->dtype, x->rank, shape, &vals));
	TRY(output(call, 1, LATHE_DT_I64, x->rank, shape, &idxs));
	if (k == 0 || outer * inner == 0)
		return LATHE_RT_OK;
	int64_t *idx = malloc((size_t)n * 2 * sizeof *idx);
	if (!idx)
		return fail(call, LATHE_RT_ENOMEM, "out of memory sorting %lld elements",
			    (long long)n);
	size_t esz = lathe_rt_dtype_size(x->dtype);
	for (int64_t o = 0; o < outer; o++) {
		for (int64_t j = 0; j < inner; j++) {
			slice_ctx s = {x, o * n * inner + j, inner, desc};
			for (int64_t i = 0; i < n; i++)
				idx[i] = i;
			merge_sort(idx, idx + n, n, slice_cmp, &s);
			for (int64_t i = 0; i < k; i++) {
				int64_t dst = o * k * inner + i * inner + j;
				if (vals)
					memcpy((char *)vals->data + (size_t)dst * esz,
					       (const char *)x->data +
						       (size_t)(s.base + idx[i] * inner) * esz,
					       esz);
				if (idxs)
					((int64_t *)idxs->data)[dst] = idx[i];
			}
		}
	}
	free(idx);
	return LATHE_RT_OK;
}

/* ---- Unique ---------------------------------------------------------------- */

/* Slices along an axis, compared lexicographically in row-major order. */
typedef struct uniq_ctx {
	const lathe_tensor *t;
	int64_t outer, len, inner;
} uniq_ctx;

static int uniq_cmp(const void *p, int64_t a, int64_t b)
{
	const uniq_ctx *u = p;
	for (int64_t o = 0; o < u->outer; o++)
		for (int64_t j = 0; j < u->inner; j++) {
			int64_t base = o * u->len * u->inner + j;
			int r = elem_cmp(u->t, base + a * u->inner, base + b * u->inner);
			if (r)
				return r;
		}
	return 0;
}

static int first_cmp(const void *p, int64_t a, int64_t b)
{
	const int64_t *first = p;
	return (first[a] > first[b]) - (first[a] < first[b]);
}

int lathe_rt_k_unique(lathe_rt_call *call)
{
	TRY(check_input(call, 0, "X"));
	const lathe_tensor *x = &call->in[0];
	int has_axis = call->nip > 0 && call->ip[0];
	int sorted = call->nip > 2 ? call->ip[2] != 0 : 1;
	uniq_ctx u = {x, 1, lathe_rt_numel(x), 1};
	int axis = 0;
	if (has_axis) {
		TRY(norm_axis(call, call->nip > 1 ? call->ip[1] : 0, x->rank, &axis));
		split_at(x, axis, &u.outer, &u.inner);
		u.len = x->shape[axis];
	}
	int64_t n = u.len;
	/* order: slices sorted; group[i]: unique id of slice i; first[g], count[g]. */
	int64_t *buf = malloc(((size_t)n * 6 + 1) * sizeof *buf);
	if (!buf)
		return fail(call, LATHE_RT_ENOMEM, "out of memory for Unique of %lld slices",
			    (long long)n);
	int64_t *order = buf, *tmp = buf + n, *group = buf + 2 * n, *first = buf + 3 * n;
	int64_t *count = buf + 4 * n, *rank_of = buf + 5 * n;
	for (int64_t i = 0; i < n; i++)
		order[i] = i;
	merge_sort(order, tmp, n, uniq_cmp, &u);
	int64_t nu = 0;
	for (int64_t i = 0; i < n; i++) {
		if (i == 0 || uniq_cmp(&u, order[i - 1], order[i]) != 0) {
			first[nu] = order[i]; /* stable sort: the first occurrence */
			count[nu] = 0;
			nu++;
		}
		group[order[i]] = nu - 1;
		count[nu - 1]++;
	}
	/* out_pos[g]: where unique g lands in the output. */
	int64_t *perm = tmp; /* output position -> group */
	for (int64_t g = 0; g < nu; g++)
		perm[g] = g;
	if (!sorted)
		merge_sort(perm, order, nu, first_cmp, first);
	for (int64_t p = 0; p < nu; p++)
		rank_of[perm[p]] = p;

	int64_t shape[MAX_RANK];
	int32_t rank = 1;
	shape[0] = nu;
	if (has_axis) {
		rank = x->rank;
		for (int d = 0; d < rank; d++)
			shape[d] = d == axis ? nu : x->shape[d];
	}
	lathe_tensor *y, *yi, *yinv, *yc;
	int rc = output(call, 0, x->dtype, rank, shape, &y);
	if (rc == LATHE_RT_OK)
		rc = output(call, 1, LATHE_DT_I64, 1, &nu, &yi);
	if (rc == LATHE_RT_OK)
		rc = output(call, 2, LATHE_DT_I64, 1, &n, &yinv);
	if (rc == LATHE_RT_OK)
		rc = output(call, 3, LATHE_DT_I64, 1, &nu, &yc);
	if (rc != LATHE_RT_OK) {
		free(buf);
		return rc;
	}
	size_t esz = lathe_rt_dtype_size(x->dtype), row = (size_t)u.inner * esz;
	for (int64_t p = 0; p < nu; p++) {
		int64_t g = perm[p];
		if (y && row)
			for (int64_t o = 0; o < u.outer; o++)
				memcpy((char *)y->data + ((size_t)(o * nu + p)) * row,
				       (const char *)x->data + ((size_t)(o * n + first[g])) * row,
				       row);
		if (yi)
			((int64_t *)yi->data)[p] = first[g];
		if (yc)
			((int64_t *)yc->data)[p] = count[g];
	}
	if (yinv)
		for (int64_t i = 0; i < n; i++)
			((int64_t *)yinv->data)[i] = rank_of[group[i]];
	free(buf);
	return LATHE_RT_OK;
}

/* ---- NonMaxSuppression ------------------------------------------------------ */

/* Arithmetic is in float, as the op's reference computes it, so that boxes
 * exactly at the IoU threshold fall on the same side. */
typedef struct nms_box {
	float xmin, ymin, xmax, ymax;
} nms_box;

static nms_box nms_read(const lathe_tensor *boxes, int64_t base, int center)
{
	float v[4];
	for (int i = 0; i < 4; i++)
		v[i] = (float)lathe_rt_load_f64(boxes, base + i);
	nms_box b;
	if (center) {
		float hw = v[2] / 2, hh = v[3] / 2;
		b.xmin = v[0] - hw;
		b.xmax = v[0] + hw;
		b.ymin = v[1] - hh;
		b.ymax = v[1] + hh;
	} else {
		b.ymin = v[0] < v[2] ? v[0] : v[2];
		b.ymax = v[0] < v[2] ? v[2] : v[0];
		b.xmin = v[1] < v[3] ? v[1] : v[3];
		b.xmax = v[1] < v[3] ? v[3] : v[1];
	}
	return b;
}

static int nms_suppress(nms_box a, nms_box b, float iou_threshold)
{
	float ixmin = a.xmin > b.xmin ? a.xmin : b.xmin;
	float ixmax = a.xmax < b.xmax ? a.xmax : b.xmax;
	if (ixmax <= ixmin)
		return 0;
	float iymin = a.ymin > b.ymin ? a.ymin : b.ymin;
	float iymax = a.ymax < b.ymax ? a.ymax : b.ymax;
	if (iymax <= iymin)
		return 0;
	float inter = (ixmax - ixmin) * (iymax - iymin);
	float area_a = (a.xmax - a.xmin) * (a.ymax - a.ymin);
	float area_b = (b.xmax - b.xmin) * (b.ymax - b.ymin);
	float uni = area_a + area_b - inter;
	if (inter <= 0 || area_a <= 0 || area_b <= 0 || uni <= 0)
		return 0;
	return inter / uni > iou_threshold;
}

typedef struct score_ctx {
	const lathe_tensor *scores;
	int64_t base;
} score_ctx;

/* Descending score; stable, so equal scores keep the lower box index first. */
static int score_cmp(const void *p, int64_t a, int64_t b)
{
	const score_ctx *s = p;
	float x = (float)lathe_rt_load_f64(s->scores, s->base + a);
	float y = (float)lathe_rt_load_f64(s->scores, s->base + b);
	return (x < y) - (x > y);
}

int lathe_rt_k_nms(lathe_rt_call *call)
{
	TRY(check_input(call, 0, "boxes"));
	TRY(check_input(call, 1, "scores"));
	const lathe_tensor *boxes = &call->in[0], *scores = &call->in[1];
	if (boxes->rank != 3 || boxes->shape[2] != 4)
		return fail(call, LATHE_RT_EINVAL, "boxes must have shape [batches, boxes, 4]");
	if (scores->rank != 3 || scores->shape[0] != boxes->shape[0] ||
	    scores->shape[2] != boxes->shape[1])
		return fail(call, LATHE_RT_EINVAL,
			    "scores must have shape [batches, classes, boxes] matching boxes");
	int64_t nb = boxes->shape[0], nbox = boxes->shape[1], ncls = scores->shape[1];
	int64_t max_out = 0;
	float iou_th = 0, score_th = 0;
	int has_score_th = 0;
	if (call->nin > 2 && call->in[2].data && lathe_rt_numel(&call->in[2]) > 0)
		max_out = lathe_rt_load_i64(&call->in[2], 0);
	if (max_out < 0)
		max_out = 0;
	if (call->nin > 3 && call->in[3].data && lathe_rt_numel(&call->in[3]) > 0)
		iou_th = (float)lathe_rt_load_f64(&call->in[3], 0);
	if (call->nin > 4 && call->in[4].data && lathe_rt_numel(&call->in[4]) > 0) {
		score_th = (float)lathe_rt_load_f64(&call->in[4], 0);
		has_score_th = 1;
	}
	int center = call->nip > 0 && call->ip[0] != 0;
	int64_t per_class = max_out < nbox ? max_out : nbox;
	/* cand: sorted candidates, tmp: sort scratch, sel: selected of a class,
	 * res: (batch, class, box) triples of the whole result. */
	size_t cap = (size_t)nbox * 3 + (size_t)(nb * ncls * per_class) * 3 + 1;
	int64_t *buf = malloc(cap * sizeof *buf);
	if (!buf)
		return fail(call, LATHE_RT_ENOMEM, "out of memory for NonMaxSuppression");
	int64_t *cand = buf, *tmp = buf + nbox, *sel = buf + 2 * nbox, *res = buf + 3 * nbox;
	int64_t nres = 0;
	for (int64_t b = 0; b < nb && per_class > 0; b++) {
		for (int64_t c = 0; c < ncls; c++) {
			score_ctx s = {scores, (b * ncls + c) * nbox};
			int64_t nc = 0;
			for (int64_t i = 0; i < nbox; i++)
				if (!has_score_th ||
				    (float)lathe_rt_load_f64(scores, s.base + i) > score_th)
					cand[nc++] = i;
			merge_sort(cand, tmp, nc, score_cmp, &s);
			int64_t nsel = 0;
			for (int64_t i = 0; i < nc && nsel < per_class; i++) {
				nms_box bi = nms_read(boxes, (b * nbox + cand[i]) * 4, center);
				int keep = 1;
				for (int64_t j = 0; j < nsel && keep; j++) {
					nms_box bj = nms_read(boxes, (b * nbox + sel[j]) * 4, center);
					keep = !nms_suppress(bi, bj, iou_th);
				}
				if (!keep)
					continue;
				sel[nsel++] = cand[i];
				res[nres * 3] = b;
				res[nres * 3 + 1] = c;
				res[nres * 3 + 2] = cand[i];
				nres++;
			}
		}
	}
	int64_t shape[2] = {nres, 3};
	lathe_tensor *y;
	int rc = output(call, 0, LATHE_DT_I64, 2, shape, &y);
	if (rc == LATHE_RT_OK && y && nres)
		memcpy(y->data, res, (size_t)nres * 3 * sizeof *res);
	free(buf);
	return rc;
}
