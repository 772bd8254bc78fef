/* text.c: the string ops (StringNormalizer, StringConcat, StringSplit,
 * RegexFullMatch) and TfIdfVectorizer.
 *
 * String tensors hold `char *` elements (NUL-terminated UTF-8, never freed
 * alone), so these kernels work on lathe_tensor data directly and put every
 * new string in the kernel's arena; a NULL element reads as "".  Case
 * changes and whitespace are ASCII-only (other bytes pass through).
 *
 * RegexFullMatch uses a small regular-expression engine of its own (RE2's
 * syntax for the common constructs: literals, ., classes with ranges and
 * \d\w\s escapes and [:posix:] names, groups, alternation, * + ? {n,m},
 * ^ $ \b \B \A \z).  The pattern compiles to a program that a Pike VM runs
 * over code points with a set of states, so matching is linear in the
 * input times the program size and cannot blow up on any pattern.
 * Backreferences, lookaround, flags and Unicode classes are rejected with
 * an error that names them.
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

/* ---- regular expressions ----------------------------------------------------------------- */

enum { RX_CHAR, RX_ANY, RX_CLASS, RX_ASSERT, RX_SPLIT, RX_JMP, RX_MATCH };
enum { AS_BOT, AS_EOT, AS_WORDB, AS_NWORDB };
enum { N_EMPTY, N_LIT, N_ANY, N_CLASS, N_ASSERT, N_CAT, N_ALT, N_REP };
enum { RX_MAX_PROG = 1 << 17, RX_MAX_DEPTH = 500, RX_MAX_REPEAT = 1000 };

typedef struct rx_inst {
	uint8_t op;
	int32_t x, y;
	uint32_t arg;
} rx_inst;
typedef struct rx_range {
	uint32_t lo, hi;
} rx_range;
typedef struct rx_class {
	int32_t first, n;
	uint8_t neg, negb; /* negb bits: \D \W \S inside the brackets */
} rx_class;
typedef struct rx_node {
	uint8_t kind;
	int32_t a, b, min, max;
	uint32_t arg;
} rx_node;

typedef struct rx {
	LATHE_VEC(rx_node) nodes;
	LATHE_VEC(rx_inst) prog;
	LATHE_VEC(rx_range) ranges;
	LATHE_VEC(rx_class) classes;
	const char *p, *end;
	lathe_err err;
	int depth;
} rx;

/* Decodes one UTF-8 code point; an invalid byte stands for itself. */
static uint32_t utf8(const char *s, const char *end, int *len)
{
	const unsigned char *u = (const unsigned char *)s;
	int n = u[0] < 0x80 ? 1 : (u[0] >> 5) == 6 ? 2 : (u[0] >> 4) == 14 ? 3 : (u[0] >> 3) == 30 ? 4 : 0;
	if (n == 0 || s + n > end) {
		*len = 1;
		return u[0];
	}
	uint32_t c = n == 1 ? u[0] : n == 2 ? u[0] & 0x1f : n == 3 ? u[0] & 0x0f : u[0] & 0x07;
	for (int i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80) {
			*len = 1;
			return u[0];
		}
		c = (c << 6) | (u[i] & 0x3f);
	}
	*len = n;
	return c;
}

static bool is_word(int64_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int32_t rx_node_new(rx *r, int kind, int32_t a, int32_t b)
{
	rx_node n = {.kind = (uint8_t)kind, .a = a, .b = b};
	lathe_vec_push(&r->nodes, n);
	return (int32_t)r->nodes.len - 1;
}

static int32_t rx_fail(rx *r, const char *what)
{
	if (!r->err)
		r->err = lathe_error(LATHE_EUNSUPPORTED, "regex: %s", what);
	return -1;
}

static void rx_add_range(rx *r, uint32_t lo, uint32_t hi)
{
	rx_range g = {lo, hi};
	lathe_vec_push(&r->ranges, g);
}

/* Adds the ranges of a named class (d, w, s or a POSIX name); false if the
 * name is unknown. */
static bool rx_add_named(rx *r, const char *name, size_t len)
{
#define IS(s) (len == sizeof(s) - 1 && !memcmp(name, s, len))
	if (IS("d") || IS("digit")) {
		rx_add_range(r, '0', '9');
	} else if (IS("w") || IS("word")) {
		rx_add_range(r, '0', '9'), rx_add_range(r, 'A', 'Z'), rx_add_range(r, 'a', 'z');
		rx_add_range(r, '_', '_');
	} else if (IS("s")) {
		rx_add_range(r, '\t', '\n'), rx_add_range(r, '\f', '\r'), rx_add_range(r, ' ', ' ');
	} else if (IS("space")) {
		rx_add_range(r, '\t', '\r'), rx_add_range(r, ' ', ' ');
	} else if (IS("alpha")) {
		rx_add_range(r, 'A', 'Z'), rx_add_range(r, 'a', 'z');
	} else if (IS("alnum")) {
		rx_add_range(r, '0', '9'), rx_add_range(r, 'A', 'Z'), rx_add_range(r, 'a', 'z');
	} else if (IS("upper")) {
		rx_add_range(r, 'A', 'Z');
	} else if (IS("lower")) {
		rx_add_range(r, 'a', 'z');
	} else if (IS("xdigit")) {
		rx_add_range(r, '0', '9'), rx_add_range(r, 'A', 'F'), rx_add_range(r, 'a', 'f');
	} else if (IS("punct")) {
		rx_add_range(r, '!', '/'), rx_add_range(r, ':', '@'), rx_add_range(r, '[', '`');
		rx_add_range(r, '{', '~');
	} else if (IS("blank")) {
		rx_add_range(r, '\t', '\t'), rx_add_range(r, ' ', ' ');
	} else if (IS("cntrl")) {
		rx_add_range(r, 0, 31), rx_add_range(r, 127, 127);
	} else if (IS("print")) {
		rx_add_range(r, ' ', '~');
	} else if (IS("graph")) {
		rx_add_range(r, '!', '~');
	} else {
		return false;
	}
	return true;
#undef IS
}

static int32_t rx_class_node(rx *r, int32_t first, bool neg, uint8_t negb)
{
	rx_class k = {first, (int32_t)r->ranges.len - first, neg, negb};
	lathe_vec_push(&r->classes, k);
	int32_t n = rx_node_new(r, N_CLASS, -1, -1);
	r->nodes.data[n].arg = (uint32_t)r->classes.len - 1;
	return n;
}

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* A single-character escape after '\' (cursor on the letter): the code
 * point, or -1 (error set) for what is not one. */
static int64_t rx_escape_char(rx *r)
{
	char ch = *r->p++;
	switch (ch) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case 'f': return '\f';
	case 'v': return '\v';
	case 'a': return 7;
	case '0': return 0;
	case 'x': {
		int64_t v = 0;
		if (r->p < r->end && *r->p == '{') {
			r->p++;
			while (r->p < r->end && hexval(*r->p) >= 0 && v <= 0x10ffff)
				v = v * 16 + hexval(*r->p++);
			if (r->p >= r->end || *r->p != '}')
				return rx_fail(r, "bad \\x{...} escape");
			r->p++;
			return v;
		}
		for (int i = 0; i < 2; i++) {
			if (r->p >= r->end || hexval(*r->p) < 0)
				return rx_fail(r, "bad \\x escape");
			v = v * 16 + hexval(*r->p++);
		}
		return v;
	}
	}
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '1' && ch <= '9')) {
		if (!r->err)
			r->err = lathe_error(LATHE_EUNSUPPORTED, "regex: escape \\%c is not supported", ch);
		return -1;
	}
	return (unsigned char)ch; /* escaped punctuation */
}

static int32_t rx_parse_class(rx *r)
{
	bool neg = false;
	uint8_t negb = 0;
	int32_t first = (int32_t)r->ranges.len;
	if (r->p < r->end && *r->p == '^')
		neg = true, r->p++;
	bool start = true;
	while (r->p < r->end && (*r->p != ']' || start)) {
		start = false;
		int64_t lo = 0;
		if (*r->p == '[' && r->p + 1 < r->end && r->p[1] == ':') {
			const char *e = strstr(r->p + 2, ":]");
			if (!e || e >= r->end || !rx_add_named(r, r->p + 2, (size_t)(e - r->p - 2)))
				return rx_fail(r, "unknown [:class:] name");
			r->p = e + 2;
			continue;
		}
		if (*r->p == '\\') {
			r->p++;
			if (r->p >= r->end)
				return rx_fail(r, "trailing backslash");
			char ch = *r->p;
			const char *low = ch == 'D' ? "d" : ch == 'W' ? "w" : ch == 'S' ? "s" : NULL;
			if (ch == 'd' || ch == 'w' || ch == 's') {
				rx_add_named(r, r->p, 1);
				r->p++;
				continue;
			}
			if (low) {
				negb |= (uint8_t)(ch == 'D' ? 1 : ch == 'W' ? 2 : 4);
				r->p++;
				continue;
			}
			if ((lo = rx_escape_char(r)) < 0)
				return -1;
		} else {
			int len = 0;
			lo = utf8(r->p, r->end, &len);
			r->p += len;
		}
		int64_t hi = lo;
		if (r->p + 1 < r->end && *r->p == '-' && r->p[1] != ']') {
			r->p++;
			if (*r->p == '\\') {
				r->p++;
				if (r->p >= r->end || (hi = rx_escape_char(r)) < 0)
					return rx_fail(r, "bad range end");
			} else {
				int len = 0;
				hi = utf8(r->p, r->end, &len);
				r->p += len;
			}
			if (hi < lo)
				return rx_fail(r, "character class range out of order");
		}
		rx_add_range(r, (uint32_t)lo, (uint32_t)hi);
	}
	if (r->p >= r->end)
		return rx_fail(r, "missing ]");
	r->p++;
	return rx_class_node(r, first, neg, negb);
}

static int32_t rx_parse_alt(rx *r);

static int32_t rx_parse_atom(rx *r)
{
	char ch = *r->p;
	int32_t n;
	switch (ch) {
	case '(':
		r->p++;
		if (r->p < r->end && *r->p == '?') {
			if (r->p + 1 < r->end && r->p[1] == ':')
				r->p += 2;
			else
				return rx_fail(r, "(?...) groups other than (?:...) are not supported");
		}
		if (++r->depth > RX_MAX_DEPTH)
			return rx_fail(r, "nesting too deep");
		n = rx_parse_alt(r);
		r->depth--;
		if (n < 0)
			return -1;
		if (r->p >= r->end || *r->p != ')')
			return rx_fail(r, "missing )");
		r->p++;
		return n;
	case '[':
		r->p++;
		return rx_parse_class(r);
	case '.':
		r->p++;
		return rx_node_new(r, N_ANY, -1, -1);
	case '^':
	case '$':
		r->p++;
		n = rx_node_new(r, N_ASSERT, -1, -1);
		r->nodes.data[n].arg = ch == '^' ? AS_BOT : AS_EOT;
		return n;
	case '*':
	case '+':
	case '?':
		return rx_fail(r, "repetition operator without an operand");
	case '\\': {
		r->p++;
		if (r->p >= r->end)
			return rx_fail(r, "trailing backslash");
		char e = *r->p;
		int as = e == 'b' ? AS_WORDB : e == 'B' ? AS_NWORDB : e == 'A' ? AS_BOT : e == 'z' ? AS_EOT : -1;
		if (as >= 0) {
			r->p++;
			n = rx_node_new(r, N_ASSERT, -1, -1);
			r->nodes.data[n].arg = (uint32_t)as;
			return n;
		}
		if (e == 'd' || e == 'w' || e == 's' || e == 'D' || e == 'W' || e == 'S') {
			int32_t first = (int32_t)r->ranges.len;
			char low = (char)(e | 0x20);
			rx_add_named(r, &low, 1);
			r->p++;
			return rx_class_node(r, first, e != low, 0);
		}
		int64_t v = rx_escape_char(r);
		if (v < 0)
			return -1;
		n = rx_node_new(r, N_LIT, -1, -1);
		r->nodes.data[n].arg = (uint32_t)v;
		return n;
	}
	default: {
		int len = 0;
		uint32_t v = utf8(r->p, r->end, &len);
		r->p += len;
		n = rx_node_new(r, N_LIT, -1, -1);
		r->nodes.data[n].arg = v;
		return n;
	}
	}
}

/* {n}, {n,} or {n,m} at the cursor; false (cursor unchanged) otherwise. */
static bool rx_counts(rx *r, int32_t *mn, int32_t *mx)
{
	const char *p = r->p + 1;
	int64_t a = 0, b;
	if (p >= r->end || *p < '0' || *p > '9')
		return false;
	while (p < r->end && *p >= '0' && *p <= '9' && a <= RX_MAX_REPEAT)
		a = a * 10 + (*p++ - '0');
	b = a;
	if (p < r->end && *p == ',') {
		p++;
		if (p < r->end && *p == '}') {
			b = -1;
		} else {
			b = 0;
			if (p >= r->end || *p < '0' || *p > '9')
				return false;
			while (p < r->end && *p >= '0' && *p <= '9' && b <= RX_MAX_REPEAT)
				b = b * 10 + (*p++ - '0');
		}
	}
	if (p >= r->end || *p != '}')
		return false;
	r->p = p + 1;
	*mn = (int32_t)a;
	*mx = (int32_t)b;
	return true;
}

static int32_t rx_parse_repeat(rx *r)
{
	int32_t n = rx_parse_atom(r);
	while (n >= 0 && r->p < r->end) {
		int32_t mn, mx;
		char ch = *r->p;
		if (ch == '*' || ch == '+' || ch == '?') {
			r->p++;
			mn = ch == '+' ? 1 : 0;
			mx = ch == '?' ? 1 : -1;
		} else if (ch != '{' || !rx_counts(r, &mn, &mx)) {
			break;
		}
		if (mn > RX_MAX_REPEAT || mx > RX_MAX_REPEAT || (mx >= 0 && mx < mn))
			return rx_fail(r, "bad repetition count");
		if (r->p < r->end && *r->p == '?') /* lazy: the same for a full match */
			r->p++;
		int32_t rep = rx_node_new(r, N_REP, n, -1);
		r->nodes.data[rep].min = mn;
		r->nodes.data[rep].max = mx;
		n = rep;
	}
	return n;
}

static int32_t rx_parse_cat(rx *r)
{
	int32_t n = rx_node_new(r, N_EMPTY, -1, -1);
	while (r->p < r->end && *r->p != '|' && *r->p != ')') {
		int32_t a = rx_parse_repeat(r);
		if (a < 0)
			return -1;
		n = rx_node_new(r, N_CAT, n, a);
	}
	return n;
}

static int32_t rx_parse_alt(rx *r)
{
	int32_t n = rx_parse_cat(r);
	while (n >= 0 && r->p < r->end && *r->p == '|') {
		r->p++;
		int32_t b = rx_parse_cat(r);
		if (b < 0)
			return -1;
		n = rx_node_new(r, N_ALT, n, b);
	}
	return n;
}

static int32_t rx_emit_inst(rx *r, int op, int32_t x, int32_t y, uint32_t arg)
{
	rx_inst in = {(uint8_t)op, x, y, arg};
	lathe_vec_push(&r->prog, in);
	return (int32_t)r->prog.len - 1;
}

static bool rx_emit(rx *r, int32_t id, int depth)
{
	if (r->prog.len > RX_MAX_PROG || depth > 4 * RX_MAX_DEPTH + 4096) {
		rx_fail(r, "pattern too large");
		return false;
	}
	rx_node n = r->nodes.data[id];
	switch (n.kind) {
	case N_EMPTY:
		return true;
	case N_LIT:
		rx_emit_inst(r, RX_CHAR, 0, 0, n.arg);
		return true;
	case N_ANY:
		rx_emit_inst(r, RX_ANY, 0, 0, 0);
		return true;
	case N_CLASS:
		rx_emit_inst(r, RX_CLASS, 0, 0, n.arg);
		return true;
	case N_ASSERT:
		rx_emit_inst(r, RX_ASSERT, 0, 0, n.arg);
		return true;
	case N_CAT:
		return rx_emit(r, n.a, depth + 1) && rx_emit(r, n.b, depth + 1);
	case N_ALT: {
		int32_t sp = rx_emit_inst(r, RX_SPLIT, 0, 0, 0);
		r->prog.data[sp].x = (int32_t)r->prog.len;
		if (!rx_emit(r, n.a, depth + 1))
			return false;
		int32_t j = rx_emit_inst(r, RX_JMP, 0, 0, 0);
		r->prog.data[sp].y = (int32_t)r->prog.len;
		if (!rx_emit(r, n.b, depth + 1))
			return false;
		r->prog.data[j].x = (int32_t)r->prog.len;
		return true;
	}
	default: { /* N_REP: min copies, then optional copies or a loop */
		for (int32_t i = 0; i < n.min; i++)
			if (!rx_emit(r, n.a, depth + 1))
				return false;
		if (n.max < 0) {
			int32_t sp = rx_emit_inst(r, RX_SPLIT, 0, 0, 0);
			r->prog.data[sp].x = (int32_t)r->prog.len;
			if (!rx_emit(r, n.a, depth + 1))
				return false;
			rx_emit_inst(r, RX_JMP, sp, 0, 0);
			r->prog.data[sp].y = (int32_t)r->prog.len;
			return true;
		}
		int32_t nopt = n.max - n.min;
		int32_t *splits = malloc(sizeof(int32_t) * (size_t)(nopt > 0 ? nopt : 1));
		if (!splits) {
			rx_fail(r, "out of memory");
			return false;
		}
		bool ok = true;
		for (int32_t i = 0; i < nopt && ok; i++) {
			splits[i] = rx_emit_inst(r, RX_SPLIT, 0, 0, 0);
			r->prog.data[splits[i]].x = (int32_t)r->prog.len;
			ok = rx_emit(r, n.a, depth + 1);
		}
		for (int32_t i = 0; i < nopt && ok; i++)
			r->prog.data[splits[i]].y = (int32_t)r->prog.len;
		free(splits);
		return ok;
	}
	}
}

static void rx_free(rx *r)
{
	lathe_vec_free(&r->nodes);
	lathe_vec_free(&r->prog);
	lathe_vec_free(&r->ranges);
	lathe_vec_free(&r->classes);
}

static lathe_err rx_compile(rx *r, const char *pat, size_t len)
{
	memset(r, 0, sizeof *r);
	r->p = pat;
	r->end = pat + len;
	int32_t root = rx_parse_alt(r);
	if (root >= 0 && r->p < r->end)
		rx_fail(r, "unmatched )");
	if (root >= 0 && !r->err && rx_emit(r, root, 0))
		rx_emit_inst(r, RX_MATCH, 0, 0, 0);
	if (r->err) {
		lathe_err e = r->err;
		rx_free(r);
		return e;
	}
	return NULL;
}

static bool rx_class_has(const rx *r, const rx_class *k, uint32_t c)
{
	bool in = false;
	for (int32_t i = 0; i < k->n && !in; i++)
		in = c >= r->ranges.data[k->first + i].lo && c <= r->ranges.data[k->first + i].hi;
	if (!in && (k->negb & 1))
		in = !(c >= '0' && c <= '9');
	if (!in && (k->negb & 2))
		in = !is_word(c);
	if (!in && (k->negb & 4))
		in = !(c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ');
	return in != (bool)k->neg;
}

typedef struct rx_run {
	const rx *r;
	int32_t *stack;
	uint32_t *mark;
	uint32_t gen;
} rx_run;

/* Adds pc and everything reachable from it without consuming input, at a
 * position between code points prev and cur (-1: text boundary). */
static void rx_add(rx_run *m, int32_t *list, int32_t *cnt, int32_t pc, int64_t prev, int64_t cur)
{
	int32_t sp = 0;
	m->stack[sp++] = pc;
	while (sp > 0) {
		pc = m->stack[--sp];
		if (m->mark[pc] == m->gen)
			continue;
		m->mark[pc] = m->gen;
		const rx_inst *in = &m->r->prog.data[pc];
		bool ok = false;
		switch (in->op) {
		case RX_JMP:
			m->stack[sp++] = in->x;
			break;
		case RX_SPLIT:
			m->stack[sp++] = in->y;
			m->stack[sp++] = in->x;
			break;
		case RX_ASSERT:
			switch (in->arg) {
			case AS_BOT: ok = prev < 0; break;
			case AS_EOT: ok = cur < 0; break;
			case AS_WORDB: ok = is_word(prev) != is_word(cur); break;
			default: ok = is_word(prev) == is_word(cur); break;
			}
			if (ok)
				m->stack[sp++] = pc + 1;
			break;
		default:
			list[(*cnt)++] = pc;
		}
	}
}

/* Whether the whole of s (len bytes) matches. */
static bool rx_full_match(const rx *r, const char *s, size_t len, int32_t *buf, uint32_t *mark)
{
	int32_t np = (int32_t)r->prog.len;
	rx_run m = {r, buf + 2 * np, mark, 0};
	memset(mark, 0, sizeof(uint32_t) * (size_t)np);
	int32_t *cl = buf, *nl = buf + np, nc = 0, nn;
	const char *p = s, *end = s + len;
	int l = 0;
	int64_t prev = -1, cur = p < end ? (int64_t)utf8(p, end, &l) : -1;
	m.gen++;
	rx_add(&m, cl, &nc, 0, prev, cur);
	for (;;) {
		if (cur < 0) {
			for (int32_t i = 0; i < nc; i++)
				if (r->prog.data[cl[i]].op == RX_MATCH)
					return true;
			return false;
		}
		utf8(p, end, &l);
		const char *q = p + l;
		int64_t next = q < end ? (int64_t)utf8(q, end, &l) : -1;
		m.gen++;
		nn = 0;
		for (int32_t i = 0; i < nc; i++) {
			const rx_inst *in = &r->prog.data[cl[i]];
			bool ok = (in->op == RX_CHAR && in->arg == (uint32_t)cur) ||
				  (in->op == RX_ANY && cur != '\n') ||
				  (in->op == RX_CLASS && rx_class_has(r, &r->classes.data[in->arg], (uint32_t)cur));
			if (ok)
				rx_add(&m, nl, &nn, cl[i] + 1, cur, next);
		}
		if (!nn)
			return false;
		int32_t *t = cl;
		cl = nl, nl = t, nc = nn;
		prev = cur, cur = next, p = q;
	}
}

lathe_err kernel_regex_full_match(lathe_kernel_ctx *c)
{
	lathe_tensor *x = NULL;
	LATHE_TRY(want_str(c, 0, &x));
	const lathe_attr *pa = lathe_node_attr(c->node, "pattern");
	if (!pa || pa->kind != LATHE_ATTR_STRING)
		return lathe_error(LATHE_EINVAL, "attribute 'pattern' is required");
	rx r;
	LATHE_TRYF(rx_compile(&r, pa->u.s, (size_t)pa->slen), "pattern '%s'", pa->u.s);
	lathe_tensor *y = NULL;
	lathe_err err = lathe_kernel_output(c, 0, LATHE_DT_BOOL, x->rank, x->shape, &y);
	size_t np = r.prog.len;
	/* two state lists and the closure stack (each state pushes at most 2) */
	int32_t *buf = malloc(sizeof(int32_t) * (4 * np + 4));
	uint32_t *mark = malloc(sizeof(uint32_t) * (np + 1));
	if (!err && (!buf || !mark))
		err = lathe_error(LATHE_ENOMEM, "regex state for %zu instructions", np);
	for (int64_t i = 0, n = lathe_tensor_numel(x); !err && i < n; i++) {
		const char *s = str_at(x, i);
		((uint8_t *)y->data)[i] = rx_full_match(&r, s, strlen(s), buf, mark);
	}
	free(buf);
	free(mark);
	rx_free(&r);
	return err;
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
