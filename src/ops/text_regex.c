/* text_regex.c: RegexFullMatch and the regular-expression engine it uses.
 *
 * The engine takes RE2's syntax for the common constructs: literals, ., classes
 * with ranges, \d \w \s escapes (ASCII, as in RE2) and [:posix:] names, groups
 * and (?:...), alternation, * + ? {n} {n,} {n,m} (lazy forms accepted),
 * ^ $ \b \B \A \z.  A pattern parses to a tree, which compiles to a program
 * that a Pike VM runs over UTF-8 code points with a set of live states, so a
 * match costs O(input length x program size) whatever the pattern: no
 * backtracking, no blow-up.  Counted repetition is expanded (at most 1000
 * per count, and the program is capped).  Backreferences, lookaround, flags
 * and Unicode classes are rejected with an error that names them.
 *
 * String tensors hold `char *` elements; a NULL element reads as "".
 */
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

static const char *str_at(const lathe_tensor *t, int64_t i)
{
	const char *s = ((char *const *)t->data)[i];
	return s ? s : "";
}

/* ---- regular expressions ----------------------------------------------------------------- */

enum { RX_CHAR, RX_ANY, RX_CLASS, RX_ASSERT, RX_SPLIT, RX_JMP, RX_MATCH };
enum { AS_BOT, AS_EOT, AS_WORDB, AS_NWORDB };
enum { N_EMPTY, N_LIT, N_ANY, N_CLASS, N_ASSERT, N_CAT, N_ALT, N_REP };
enum { RX_MAX_PROG = 1 << 20, RX_MAX_DEPTH = 500, RX_MAX_REPEAT = 1000 };

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

/* A malformed pattern. */
static int32_t rx_fail(rx *r, const char *what)
{
	if (!r->err)
		r->err = lathe_error(LATHE_EINVAL, "regex: %s", what);
	return -1;
}

/* A well-formed pattern this engine does not handle. */
static int32_t rx_unsup(rx *r, const char *what)
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
				return rx_unsup(r, "(?...) groups other than (?:...) are not supported");
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

/* An atom with at most one repetition operator (RE2 rejects a** and
 * a{2}{3}, which also keeps the tree's depth bounded by group nesting). */
static int32_t rx_parse_repeat(rx *r)
{
	int32_t n = rx_parse_atom(r);
	if (n < 0 || r->p >= r->end)
		return n;
	int32_t mn, mx;
	char ch = *r->p;
	if (ch == '*' || ch == '+' || ch == '?') {
		r->p++;
		mn = ch == '+' ? 1 : 0;
		mx = ch == '?' ? 1 : -1;
	} else if (ch != '{' || !rx_counts(r, &mn, &mx)) {
		return n;
	}
	if (mn > RX_MAX_REPEAT || mx > RX_MAX_REPEAT || (mx >= 0 && mx < mn))
		return rx_fail(r, "bad repetition count");
	if (r->p < r->end && *r->p == '?') /* lazy: the same for a full match */
		r->p++;
	int32_t dummy0, dummy1;
	if (r->p < r->end && (*r->p == '*' || *r->p == '+' || *r->p == '?' ||
			      (*r->p == '{' && rx_counts(r, &dummy0, &dummy1))))
		return rx_fail(r, "bad repetition operator (two in a row)");
	int32_t rep = rx_node_new(r, N_REP, n, -1);
	r->nodes.data[rep].min = mn;
	r->nodes.data[rep].max = mx;
	return rep;
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
	if (r->prog.len > RX_MAX_PROG || depth > 8 * RX_MAX_DEPTH) {
		rx_unsup(r, "pattern too large (over 2^20 program steps once repetitions are expanded)");
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
	case N_ALT: {
		/* Chains are left-nested (a long literal or a long word list):
		 * walk them in a loop, so recursion follows group nesting only. */
		size_t k = 0, cap = 16;
		int32_t *parts = malloc(sizeof(int32_t) * cap), cur = id;
		for (; parts && r->nodes.data[cur].kind == n.kind; cur = r->nodes.data[cur].a) {
			if (k == cap) {
				int32_t *np = realloc(parts, sizeof(int32_t) * (cap *= 2));
				if (!np)
					free(parts);
				parts = np;
				if (!parts)
					break;
			}
			parts[k++] = r->nodes.data[cur].b;
		}
		if (!parts) {
			rx_unsup(r, "out of memory");
			return false;
		}
		bool ok = true;
		if (n.kind == N_CAT) {
			ok = rx_emit(r, cur, depth + 1);
			for (size_t i = k; ok && i-- > 0;)
				ok = rx_emit(r, parts[i], depth + 1);
			free(parts);
			return ok;
		}
		/* alternatives in order: cur, parts[k-1], ..., parts[0] */
		LATHE_VEC(int32_t) jmps = {0};
		for (size_t i = k + 1; ok && i-- > 0;) {
			int32_t alt = i == k ? cur : parts[i];
			int32_t sp = -1;
			if (i > 0) {
				sp = rx_emit_inst(r, RX_SPLIT, 0, 0, 0);
				r->prog.data[sp].x = (int32_t)r->prog.len;
			}
			ok = rx_emit(r, alt, depth + 1);
			if (ok && i > 0) {
				lathe_vec_push(&jmps, rx_emit_inst(r, RX_JMP, 0, 0, 0));
				r->prog.data[sp].y = (int32_t)r->prog.len;
			}
		}
		for (size_t i = 0; ok && i < jmps.len; i++)
			r->prog.data[jmps.data[i]].x = (int32_t)r->prog.len;
		lathe_vec_free(&jmps);
		free(parts);
		return ok;
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
			rx_unsup(r, "out of memory");
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
	lathe_tensor *x = c->nin > 0 && c->in[0].kind == LATHE_TY_TENSOR ? c->in[0].t : NULL;
	if (!x || x->dtype != LATHE_DT_STR)
		return lathe_error(LATHE_EINVAL, "input 0 must be a string tensor");
	const lathe_attr *pa = lathe_node_attr(c->node, "pattern");
	if (!pa || pa->kind != LATHE_ATTR_STRING)
		return lathe_error(LATHE_EINVAL, "attribute 'pattern' is required");
	rx r;
	LATHE_TRYF(rx_compile(&r, pa->u.s, (size_t)pa->slen), "pattern '%.60s%s'", pa->u.s,
		   pa->slen > 60 ? "..." : "");
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
