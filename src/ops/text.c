/* text.c: the string ops StringNormalizer, StringConcat and StringSplit, and
 * TfIdfVectorizer.
 *
 * String tensors hold `char *` elements (NUL-terminated UTF-8, never freed
 * alone), so these kernels work on lathe_tensor data directly and put every
 * new string in the kernel's arena; a NULL element reads as "".  Case
 * changes and whitespace are ASCII-only (other bytes pass through).
 *
 * RegexFullMatch and its regular-expression engine are in text_regex.c.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ops/op.h"

static const char *str_at(const lathe_tensor *t, int64_t i)
{
	const char *s = ((char *const *)t->data)[i];
	return s ? s : "";
}

static lathe_err want_str(const lathe_kernel_ctx *c, int i, lathe_tensor **out)
{
	if (i >= c->nin || c->in[i].kind != LATHE_TY_TENSOR || !c->in[i].t)
		return lathe_error(LATHE_EINVAL, "input %d must be a tensor", i);
	if (c->in[i].t->dtype != LATHE_DT_STR)
		return lathe_error(LATHE_EINVAL, "input %d must be strings, not %s", i,
				   lathe_dtype_name(c->in[i].t->dtype));
	*out = c->in[i].t;
	return NULL;
}

static lathe_type str_type(lathe_arena *a, int dtype, int rank, const lathe_dim *dims)
{
	lathe_type t = {.kind = LATHE_TY_TENSOR, .dtype = dtype, .rank = rank};
	if (rank > 0) {
		t.dims = lathe_arena_new(a, lathe_dim, rank);
		for (int i = 0; i < rank; i++)
			t.dims[i] = dims ? dims[i] : (lathe_dim){-1, -1};
	}
	return t;
}

/* ---- StringNormalizer ---------------------------------------------------------- */

lathe_err infer_string_normalizer(lathe_infer_ctx *c)
{
	const lathe_type *x = c->in[0];
	if (!x || (x->dtype != LATHE_DT_STR && x->kind == LATHE_TY_TENSOR))
		return lathe_error(LATHE_EINVAL, "StringNormalizer takes a string tensor");
	if (x->rank >= 0 && x->rank != 1 && x->rank != 2)
		return lathe_error(LATHE_EINVAL, "input must be [C] or [1, C], not rank %d", (int)x->rank);
	lathe_type t = str_type(c->arena, LATHE_DT_STR, x->rank, x->dims);
	if (t.rank > 0)
		t.dims[t.rank - 1] = (lathe_dim){-1, -1};
	c->out[0] = t;
	return NULL;
}

lathe_err kernel_string_normalizer(lathe_kernel_ctx *c)
{
	lathe_tensor *x = NULL;
	LATHE_TRY(want_str(c, 0, &x));
	if (x->rank != 1 && !(x->rank == 2 && x->shape[0] == 1))
		return lathe_error(LATHE_EINVAL, "input must be [C] or [1, C]");
	const char *act = lathe_node_attr_str(c->node, "case_change_action", "NONE");
	int mode = !strcmp(act, "LOWER") ? 1 : !strcmp(act, "UPPER") ? 2 : 0;
	if (!mode && strcmp(act, "NONE"))
		return lathe_error(LATHE_EINVAL, "case_change_action '%s' is not LOWER, UPPER or NONE", act);
	bool cs = lathe_node_attr_int(c->node, "is_case_sensitive", 0) != 0;
	const lathe_attr *sw = lathe_node_attr(c->node, "stopwords");
	int64_t nsw = sw && sw->kind == LATHE_ATTR_STRINGS ? sw->n : 0;
	int64_t n = lathe_tensor_numel(x), kept = 0;
	const char **keep = lathe_arena_new(c->arena, const char *, n + 1);
	for (int64_t i = 0; i < n; i++) {
		const char *s = str_at(x, i);
		bool stop = false;
		for (int64_t k = 0; k < nsw && !stop; k++)
			stop = cs ? !strcmp(s, sw->u.strs[k]) : !strcasecmp(s, sw->u.strs[k]);
		if (!stop)
			keep[kept++] = s;
	}
	/* An all-stopword input gives one empty string, not an empty tensor. */
	int64_t shape[2] = {1, kept ? kept : 1};
	lathe_tensor *y = NULL;
	LATHE_TRY(lathe_kernel_output(c, 0, LATHE_DT_STR, x->rank, x->rank == 2 ? shape : shape + 1, &y));
	char **out = y->data;
	if (!kept)
		out[0] = lathe_arena_strdup(c->arena, "");
	for (int64_t i = 0; i < kept; i++) {
		char *s = lathe_arena_strdup(c->arena, keep[i]);
		for (char *p = s; *p && mode; p++)
			if (mode == 1 && *p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
			else if (mode == 2 && *p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		out[i] = s;
	}
	return NULL;
}

/* ---- StringConcat ------------------------------------------------------------------ */

lathe_err kernel_string_concat(lathe_kernel_ctx *c)
{
	lathe_tensor *a = NULL, *b = NULL;
	LATHE_TRY(want_str(c, 0, &a));
	LATHE_TRY(want_str(c, 1, &b));
	int r = a->rank > b->rank ? a->rank : b->rank;
	if (r > 64)
		return lathe_error(LATHE_EUNSUPPORTED, "rank %d too large", r);
	int64_t shape[64], sa[64], sb[64];
	int64_t ta = 1, tb = 1;
	for (int i = r - 1; i >= 0; i--) {
		int ia = i - (r - a->rank), ib = i - (r - b->rank);
		int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
		if (da != db && da != 1 && db != 1)
			return lathe_error(LATHE_EINVAL, "shapes do not broadcast at dim %d (%lld vs %lld)",
					   i, (long long)da, (long long)db);
		shape[i] = da == 1 ? db : da;
		sa[i] = da == 1 ? 0 : ta;
		sb[i] = db == 1 ? 0 : tb;
		ta *= da;
		tb *= db;
	}
	lathe_tensor *y = NULL;
	LATHE_TRY(lathe_kernel_output(c, 0, LATHE_DT_STR, r, shape, &y));
	int64_t n = lathe_tensor_numel(y);
	for (int64_t k = 0; k < n; k++) {
		int64_t rem = k, ia = 0, ib = 0;
		for (int i = r - 1; i >= 0; i--) {
			int64_t q = rem % shape[i];
			rem /= shape[i];
			ia += q * sa[i];
			ib += q * sb[i];
		}
		((char **)y->data)[k] = lathe_arena_printf(c->arena, "%s%s", str_at(a, ia), str_at(b, ib));
	}
	return NULL;
}

/* ---- StringSplit ---------------------------------------------------------------------- */

lathe_err infer_string_split(lathe_infer_ctx *c)
{
	const lathe_type *x = c->in[0];
	if (!x)
		return lathe_error(LATHE_EINVAL, "StringSplit needs an input");
	if (x->rank < 0) {
		c->out[0] = str_type(c->arena, LATHE_DT_STR, -1, NULL);
		if (c->nout > 1)
			c->out[1] = str_type(c->arena, LATHE_DT_I64, -1, NULL);
		return NULL;
	}
	lathe_type t = str_type(c->arena, LATHE_DT_STR, x->rank + 1, NULL);
	for (int i = 0; i < x->rank; i++)
		t.dims[i] = x->dims[i];
	c->out[0] = t;
	if (c->nout > 1)
		c->out[1] = str_type(c->arena, LATHE_DT_I64, x->rank, x->dims);
	return NULL;
}

static bool ascii_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Splits s like Python's str.split(delim, maxsplit): pieces as (start,
 * length) pairs into pc (which holds room for every piece). */
static int64_t split_one(const char *s, const char *delim, int64_t maxsplit, int64_t *pc)
{
	int64_t n = 0;
	size_t dl = delim ? strlen(delim) : 0;
	const char *p = s;
	if (!dl) { /* runs of whitespace; no empty pieces */
		for (;;) {
			while (*p && ascii_space(*p))
				p++;
			if (!*p)
				break;
			const char *q = p;
			if (maxsplit >= 0 && n == maxsplit) {
				/* the rest, without trailing whitespace */
				const char *e = p + strlen(p);
				while (e > p && ascii_space(e[-1]))
					e--;
				q = e;
			} else {
				while (*q && !ascii_space(*q))
					q++;
			}
			pc[2 * n] = p - s;
			pc[2 * n + 1] = q - p;
			n++;
			p = q;
		}
		return n;
	}
	for (;;) {
		const char *q = (maxsplit >= 0 && n == maxsplit) ? NULL : strstr(p, delim);
		if (!q) {
			pc[2 * n] = p - s;
			pc[2 * n + 1] = (int64_t)strlen(p);
			return n + 1;
		}
		pc[2 * n] = p - s;
		pc[2 * n + 1] = q - p;
		n++;
		p = q + dl;
	}
}

lathe_err kernel_string_split(lathe_kernel_ctx *c)
{
	lathe_tensor *x = NULL;
	LATHE_TRY(want_str(c, 0, &x));
	const char *delim = lathe_node_attr_str(c->node, "delimiter", "");
	int64_t maxsplit = lathe_node_attr_int(c->node, "maxsplit", -1);
	int64_t n = lathe_tensor_numel(x), most = 0, room = 0;
	if (x->rank >= 64)
		return lathe_error(LATHE_EUNSUPPORTED, "rank %d too large", (int)x->rank);
	for (int64_t i = 0; i < n; i++) {
		int64_t len = (int64_t)strlen(str_at(x, i)) + 2;
		room = len > room ? len : room;
	}
	int64_t *pc = lathe_arena_new(c->arena, int64_t, 2 * room + 2);
	int64_t *cnt = lathe_arena_new(c->arena, int64_t, n + 1);
	for (int64_t i = 0; i < n; i++) {
		cnt[i] = split_one(str_at(x, i), delim, maxsplit, pc);
		most = cnt[i] > most ? cnt[i] : most;
	}
	int64_t shape[65];
	memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->rank);
	shape[x->rank] = most;
	lathe_tensor *y, *z = NULL;
	LATHE_TRY(lathe_kernel_output(c, 0, LATHE_DT_STR, x->rank + 1, shape, &y));
	if (c->nout > 1)
		LATHE_TRY(lathe_kernel_output(c, 1, LATHE_DT_I64, x->rank, x->shape, &z));
	char **out = y->data;
	for (int64_t i = 0; i < n; i++) {
		const char *s = str_at(x, i);
		int64_t k = split_one(s, delim, maxsplit, pc);
		for (int64_t j = 0; j < most; j++)
			out[i * most + j] = j < k ? lathe_arena_strndup(c->arena, s + pc[2 * j], (size_t)pc[2 * j + 1])
						  : lathe_arena_strdup(c->arena, "");
		if (z)
			((int64_t *)z->data)[i] = k;
	}
	return NULL;
}

/* ---- TfIdfVectorizer ------------------------------------------------------------------ */

typedef struct ngram_tab {
	int64_t *slot; /* -1 empty, else n-gram ordinal */
	int64_t cap;
	int64_t *start, *len; /* per ordinal: pool offset and size (0: not loaded) */
	bool strs;
	const int64_t *ipool;
	const char *const *spool;
} ngram_tab;

static uint64_t hash_item(const ngram_tab *t, const lathe_tensor *x, int64_t xi, int64_t pi)
{
	uint64_t h = 1469598103934665603ull;
	if (t->strs) {
		const char *s = x ? str_at(x, xi) : t->spool[pi];
		for (; *s; s++)
			h = (h ^ (unsigned char)*s) * 1099511628211ull;
	} else {
		h ^= (uint64_t)(x ? lathe_rt_load_i64(x, xi) : t->ipool[pi]);
		h *= 0x9E3779B97F4A7C15ull;
	}
	return h;
}

static bool item_eq(const ngram_tab *t, const lathe_tensor *x, int64_t xi, int64_t pi)
{
	if (t->strs)
		return !strcmp(str_at(x, xi), t->spool[pi]);
	return lathe_rt_load_i64(x, xi) == t->ipool[pi];
}

/* Hash of an n-gram given by pool offset (x NULL) or by items of x at
 * xi, xi+d, ... */
static uint64_t gram_hash(const ngram_tab *t, const lathe_tensor *x, int64_t at, int64_t d, int64_t n)
{
	uint64_t h = (uint64_t)n * 31;
	for (int64_t k = 0; k < n; k++)
		h = (h ^ hash_item(t, x, at + k * d, at + k)) * 1099511628211ull + 7;
	return h;
}

lathe_err infer_tfidf(lathe_infer_ctx *c)
{
	const lathe_type *x = c->in[0];
	if (!x)
		return lathe_error(LATHE_EINVAL, "TfIdfVectorizer needs an input");
	if (x->dtype != LATHE_DT_STR && x->dtype != LATHE_DT_I32 && x->dtype != LATHE_DT_I64)
		return lathe_error(LATHE_EUNSUPPORTED, "TfIdfVectorizer on %s", lathe_dtype_name(x->dtype));
	int64_t ni = 0;
	const int64_t *idx = lathe_node_attr_ints(c->node, "ngram_indexes", &ni);
	int64_t size = 0;
	for (int64_t i = 0; idx && i < ni; i++) {
		if (idx[i] < 0)
			return lathe_error(LATHE_EINVAL, "ngram_indexes[%lld] is negative", (long long)i);
		size = idx[i] + 1 > size ? idx[i] + 1 : size;
	}
	if (x->rank > 2)
		return lathe_error(LATHE_EINVAL, "input must be [C] or [B, C], not rank %d", (int)x->rank);
	lathe_dim d[2] = {{-1, -1}, {size, -1}};
	if (x->rank == 2)
		d[0] = x->dims[0];
	c->out[0] = x->rank == 2 ? str_type(c->arena, LATHE_DT_F32, 2, d)
		    : x->rank < 0 ? str_type(c->arena, LATHE_DT_F32, -1, NULL)
				  : str_type(c->arena, LATHE_DT_F32, 1, d + 1);
	return NULL;
}

lathe_err kernel_tfidf(lathe_kernel_ctx *c)
{
	lathe_tensor *x = c->in[0].kind == LATHE_TY_TENSOR ? c->in[0].t : NULL;
	if (!x || x->rank > 2)
		return lathe_error(LATHE_EINVAL, "input must be a tensor [C] or [B, C]");
	int64_t mn = lathe_node_attr_int(c->node, "min_gram_length", 1);
	int64_t mx = lathe_node_attr_int(c->node, "max_gram_length", 1);
	int64_t skip = lathe_node_attr_int(c->node, "max_skip_count", 0);
	const char *mode = lathe_node_attr_str(c->node, "mode", "TF");
	int wmode = !strcmp(mode, "TF") ? 0 : !strcmp(mode, "IDF") ? 1 : !strcmp(mode, "TFIDF") ? 2 : -1;
	if (wmode < 0)
		return lathe_error(LATHE_EINVAL, "mode '%s' is not TF, IDF or TFIDF", mode);
	if (mn < 1 || mx < mn || skip < 0)
		return lathe_error(LATHE_EINVAL, "bad gram lengths %lld..%lld or skip %lld",
				   (long long)mn, (long long)mx, (long long)skip);
	int64_t nc, ni, nw = 0, npool;
	const int64_t *counts = lathe_node_attr_ints(c->node, "ngram_counts", &nc);
	const int64_t *idx = lathe_node_attr_ints(c->node, "ngram_indexes", &ni);
	const double *w = lathe_node_attr_floats(c->node, "weights", &nw);
	ngram_tab t = {0};
	t.strs = x->dtype == LATHE_DT_STR;
	const lathe_attr *ps = lathe_node_attr(c->node, t.strs ? "pool_strings" : "pool_int64s");
	if (!counts || !idx || !ps || (t.strs ? ps->kind != LATHE_ATTR_STRINGS : ps->kind != LATHE_ATTR_INTS))
		return lathe_error(LATHE_EINVAL, "ngram_counts, ngram_indexes and a pool matching "
				   "the %s input are required", lathe_dtype_name(x->dtype));
	npool = ps->n;
	t.ipool = ps->u.ints;
	t.spool = ps->u.strs;
	int64_t size = 0;
	for (int64_t i = 0; i < ni; i++)
		size = idx[i] + 1 > size ? idx[i] + 1 : size;
	/* n-gram ordinals: all sizes in pool order, as ngram_indexes counts them */
	t.start = lathe_arena_new(c->arena, int64_t, ni + 1);
	t.len = lathe_arena_new(c->arena, int64_t, ni + 1);
	int64_t ord = 0;
	for (int64_t i = 0; i < nc; i++) {
		int64_t s = counts[i], e = i + 1 < nc ? counts[i + 1] : npool, n = i + 1;
		if (s < 0 || e > npool || e < s)
			return lathe_error(LATHE_EINVAL, "ngram_counts[%lld] out of the pool", (long long)i);
		for (int64_t p = s; p + n <= e; p += n, ord++) {
			if (ord >= ni)
				return lathe_error(LATHE_EINVAL, "more n-grams in the pool than ngram_indexes");
			t.start[ord] = p;
			t.len[ord] = n >= mn && n <= mx ? n : 0;
		}
	}
	t.cap = 16;
	while (t.cap < 2 * ord + 2)
		t.cap *= 2;
	t.slot = lathe_arena_new(c->arena, int64_t, t.cap);
	for (int64_t i = 0; i < t.cap; i++)
		t.slot[i] = -1;
	for (int64_t o = 0; o < ord; o++) {
		if (!t.len[o])
			continue;
		uint64_t h = gram_hash(&t, NULL, t.start[o], 1, t.len[o]);
		for (int64_t k = (int64_t)(h & (uint64_t)(t.cap - 1));; k = (k + 1) & (t.cap - 1)) {
			int64_t q = t.slot[k];
			bool same = q >= 0 && t.len[q] == t.len[o];
			for (int64_t j = 0; same && j < t.len[o]; j++)
				same = t.strs ? !strcmp(t.spool[t.start[q] + j], t.spool[t.start[o] + j])
					      : t.ipool[t.start[q] + j] == t.ipool[t.start[o] + j];
			if (q < 0 || same) { /* a repeated n-gram takes the later ordinal */
				t.slot[k] = o;
				break;
			}
		}
	}
	int64_t rows = x->rank == 2 ? x->shape[0] : 1, C = x->rank == 0 ? 1 : x->shape[x->rank - 1];
	int64_t shape[2] = {rows, size};
	lathe_tensor *y = NULL;
	LATHE_TRY(lathe_kernel_output(c, 0, LATHE_DT_F32, x->rank == 2 ? 2 : 1,
				      x->rank == 2 ? shape : shape + 1, &y));
	float *out = y->data;
	for (int64_t r = 0; r < rows; r++) {
		for (int64_t n = mn; n <= mx; n++) {
			for (int64_t d = 1; d <= (n == 1 ? 1 : skip + 1); d++) {
				for (int64_t s = 0; s + (n - 1) * d < C; s++) {
					int64_t at = r * C + s;
					uint64_t h = gram_hash(&t, x, at, d, n);
					for (int64_t k = (int64_t)(h & (uint64_t)(t.cap - 1)); t.slot[k] >= 0;
					     k = (k + 1) & (t.cap - 1)) {
						int64_t q = t.slot[k];
						bool same = t.len[q] == n;
						for (int64_t j = 0; same && j < n; j++)
							same = item_eq(&t, x, at + j * d, t.start[q] + j);
						if (same) {
							out[r * size + idx[q]] += 1;
							break;
						}
					}
				}
			}
		}
		for (int64_t j = 0; j < size; j++) {
			float *v = &out[r * size + j];
			double wt = w && j < nw ? w[j] : 1;
			if (wmode == 1)
				*v = *v > 0 ? (float)wt : 0;
			else if (wmode == 2)
				*v = (float)(*v * wt);
		}
	}
	return NULL;
}
