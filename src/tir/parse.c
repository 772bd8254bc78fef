/* parse.c: reads the text form of a loop-IR function (docs/loop-ir.md).
 *
 * A recursive-descent parser straight over the characters, with no token
 * stream: the grammar is small and every construct starts with a keyword,
 * a sigil (% or @) or an operator name.  It builds the function with
 * tir.c's constructors and leaves type checking to lathe_tir_verify, so a
 * file with a type error parses and the verifier names the problem; what
 * the parser itself refuses is what it cannot build: unknown names,
 * variables used outside their binding, index counts that differ from a
 * buffer's rank, names declared twice, constants that do not fit their
 * type, nesting deeper than MAX_DEPTH.
 *
 * Errors read "file:line:col: message" followed by the line and a caret.
 * The input is a NUL-terminated string; nothing is read past its end.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tir/tir_impl.h"

#define MAX_DEPTH 500

enum { ENT_BUF, ENT_VAR };

typedef struct ent {
	int kind;
	void *p;    /* lathe_tir_buf or lathe_tir_var */
	bool bound; /* ENT_VAR: inside its for or let */
} ent;

typedef struct parser {
	const char *src, *p, *filename;
	lathe_tir_func *f;
	lathe_map names; /* name -> index into ents */
	LATHE_VEC(ent) ents;
	int depth;
	lathe_err err;
} parser;

/* ---- errors --------------------------------------------------------------- */

static void errat(parser *ps, const char *at, const char *fmt, ...) LATHE_PRINTF(3, 4);

static void errat(parser *ps, const char *at, const char *fmt, ...)
{
	if (ps->err)
		return;
	int line = 1;
	const char *ls = ps->src;
	for (const char *q = ps->src; q < at && *q; q++)
		if (*q == '\n') {
			line++;
			ls = q + 1;
		}
	const char *le = ls;
	while (*le && *le != '\n')
		le++;
	lathe_buf m = {0};
	va_list ap;
	va_start(ap, fmt);
	lathe_buf_printf(&m, "%s:%d:%d: ", ps->filename, line, (int)(at - ls) + 1);
	lathe_buf_vprintf(&m, fmt, ap);
	va_end(ap);
	int n = (int)(le - ls) > 200 ? 200 : (int)(le - ls);
	lathe_buf_printf(&m, "\n  %.*s\n  ", n, ls);
	for (const char *q = ls; q < at && q < ls + n; q++)
		lathe_buf_puts(&m, *q == '\t' ? "\t" : " ");
	lathe_buf_puts(&m, "^");
	ps->err = lathe_error(LATHE_EINVAL, "%s", m.data);
	lathe_buf_free(&m);
}

/* ---- characters ----------------------------------------------------------- */

static void skip(parser *ps)
{
	for (;;) {
		while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
			ps->p++;
		if (ps->p[0] == '/' && ps->p[1] == '/') {
			while (*ps->p && *ps->p != '\n')
				ps->p++;
			continue;
		}
		return;
	}
}

static bool is_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static bool accept(parser *ps, char c)
{
	skip(ps);
	if (*ps->p != c)
		return false;
	ps->p++;
	return true;
}

static bool expect(parser *ps, char c, const char *what)
{
	if (accept(ps, c))
		return true;
	errat(ps, ps->p, "expected '%c' %s", c, what);
	return false;
}

/* The keyword w followed by a non-identifier character. */
static bool accept_kw(parser *ps, const char *w)
{
	skip(ps);
	size_t n = strlen(w);
	if (strncmp(ps->p, w, n) || is_ident_char(ps->p[n]))
		return false;
	ps->p += n;
	return true;
}

/* An identifier into out (truncated to n-1 characters); false if none. */
static bool read_ident(parser *ps, char *out, size_t n)
{
	skip(ps);
	const char *s = ps->p;
	while (is_ident_char(*ps->p))
		ps->p++;
	size_t len = (size_t)(ps->p - s);
	if (!len)
		return false;
	if (len >= n)
		len = n - 1;
	memcpy(out, s, len);
	out[len] = '\0';
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A name after its sigil: bare or "quoted" (with \" \\ \xHH). Arena copy. */
static const char *read_name(parser *ps, char sigil)
{
	skip(ps);
	const char *at = ps->p;
	if (*ps->p != sigil) {
		errat(ps, at, "expected a %c name", sigil);
		return NULL;
	}
	ps->p++;
	if (*ps->p != '"') {
		const char *s = ps->p;
		while (is_ident_char(*ps->p))
			ps->p++;
		if (ps->p == s) {
			errat(ps, at, "expected a name after '%c'", sigil);
			return NULL;
		}
		return lathe_arena_strndup(ps->f->arena, s, (size_t)(ps->p - s));
	}
	ps->p++;
	lathe_buf b = {0};
	lathe_buf_puts(&b, "");
	for (;;) {
		char c = *ps->p;
		if (c == '\0' || c == '\n') {
			errat(ps, at, "unterminated quoted name");
			break;
		}
		ps->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			char d = *ps->p;
			if (d == '"' || d == '\\') {
				ps->p++;
				c = d;
			} else if (d == 'x' && hexval(ps->p[1]) >= 0 && hexval(ps->p[2]) >= 0) {
				c = (char)(hexval(ps->p[1]) * 16 + hexval(ps->p[2]));
				ps->p += 3;
				if (!c) {
					errat(ps, ps->p - 4, "a name cannot contain \\x00");
					break;
				}
			} else {
				errat(ps, ps->p - 1, "unknown escape in a name (use \\\", \\\\ or \\xHH)");
				break;
			}
		}
		lathe_buf_printf(&b, "%c", c);
	}
	const char *r = ps->err ? NULL : lathe_arena_strdup(ps->f->arena, b.data);
	lathe_buf_free(&b);
	return r;
}

static int read_dtype(parser *ps)
{
	char w[32];
	const char *at = (skip(ps), ps->p);
	if (!read_ident(ps, w, sizeof w)) {
		errat(ps, at, "expected an element type (f32, i64, ...)");
		return -1;
	}
	int dt = lathe_dtype_parse(w);
	if (dt <= 0) {
		errat(ps, at, "unknown element type '%s'", w);
		return -1;
	}
	return dt;
}

/* A non-negative decimal integer that fits int64. */
static bool read_size(parser *ps, int64_t *out)
{
	skip(ps);
	const char *at = ps->p;
	if (!isdigit((unsigned char)*ps->p)) {
		errat(ps, at, "expected a size");
		return false;
	}
	uint64_t v = 0;
	while (isdigit((unsigned char)*ps->p)) {
		unsigned d = (unsigned)(*ps->p++ - '0');
		if (v > (uint64_t)(INT64_MAX - d) / 10) {
			errat(ps, at, "size too large");
			return false;
		}
		v = v * 10 + d;
	}
	*out = (int64_t)v;
	return true;
}

/* ---- names ---------------------------------------------------------------- */

static ent *lookup(parser *ps, const char *name)
{
	uint64_t i;
	return lathe_map_get(&ps->names, name, &i) ? &ps->ents.data[i] : NULL;
}

static bool declare(parser *ps, const char *at, const char *name, int kind, void *p)
{
	if (lookup(ps, name)) {
		errat(ps, at, "%%%s is already declared (names are unique within a function)", name);
		return false;
	}
	ent e = {kind, p, false};
	lathe_map_put(&ps->names, name, ps->ents.len);
	lathe_vec_push(&ps->ents, e);
	return true;
}

/* ---- expressions ---------------------------------------------------------- */

static lathe_tir_expr *parse_expr(parser *ps);

static lathe_tir_expr **parse_indices(parser *ps, const lathe_tir_buf *b, const char *at)
{
	if (!expect(ps, '[', "after a buffer name"))
		return NULL;
	LATHE_VEC(lathe_tir_expr *) idx = {0};
	if (!accept(ps, ']')) {
		do {
			lathe_tir_expr *e = parse_expr(ps);
			if (!e)
				break;
			lathe_vec_push(&idx, e);
		} while (accept(ps, ','));
		if (!ps->err)
			expect(ps, ']', "after the indices");
	}
	lathe_tir_expr **r = NULL;
	if (!ps->err && (int64_t)idx.len != b->rank)
		errat(ps, at, "%%%s has rank %d but %zu ind%s given", b->name, b->rank, idx.len,
		      idx.len == 1 ? "ex is" : "ices are");
	if (!ps->err) {
		r = lathe_arena_new(ps->f->arena, lathe_tir_expr *, idx.len);
		if (idx.len)
			memcpy(r, idx.data, idx.len * sizeof *r);
	}
	lathe_vec_free(&idx);
	return r;
}

/* The value of the decimal text [s, e) (strtod alone could read on). */
static double num_text(const char *s, const char *e)
{
	char t[400];
	size_t n = (size_t)(e - s) < sizeof t - 1 ? (size_t)(e - s) : sizeof t - 1;
	memcpy(t, s, n);
	t[n] = '\0';
	return strtod(t, NULL);
}

/* A number (with its optional :dtype).  Integers without a type are i64;
 * floats must say their type. */
static lathe_tir_expr *parse_number(parser *ps)
{
	const char *at = ps->p, *q = ps->p;
	bool neg = *q == '-';
	if (neg)
		q++;
	bool is_float = false, special = false;
	if ((!strncmp(q, "inf", 3) || !strncmp(q, "nan", 3)) && !is_ident_char(q[3])) {
		is_float = special = true;
		q += 3;
	} else {
		if (!isdigit((unsigned char)*q)) {
			errat(ps, at, "expected an expression");
			return NULL;
		}
		while (isdigit((unsigned char)*q))
			q++;
		if (*q == '.' && isdigit((unsigned char)q[1])) {
			is_float = true;
			for (q++; isdigit((unsigned char)*q); q++)
				;
		}
		if ((*q == 'e' || *q == 'E') &&
		    (isdigit((unsigned char)q[1]) ||
		     ((q[1] == '+' || q[1] == '-') && isdigit((unsigned char)q[2])))) {
			is_float = true;
			for (q += 2; isdigit((unsigned char)*q); q++)
				;
		}
	}
	ps->p = q;
	int dt = is_float ? -1 : LATHE_DT_I64;
	if (*ps->p == ':') {
		ps->p++;
		dt = read_dtype(ps);
		if (dt < 0)
			return NULL;
	}
	if (is_float) {
		if (dt < 0 || !lathe_dtype_is_float(dt)) {
			errat(ps, at, "a float constant needs a float type, as in 1.5:f32");
			return NULL;
		}
		double v;
		if (special) {
			v = q[-3] == 'i' ? INFINITY : NAN;
			if (neg)
				v = -v;
		} else {
			v = num_text(at, q);
		}
		return lathe_tir_float(ps->f, dt, v);
	}
	/* Integer digits: magnitude in uint64 with overflow detection. */
	uint64_t mag = 0;
	bool over = false;
	for (const char *d = at + neg; d < q; d++) {
		unsigned x = (unsigned)(*d - '0');
		if (mag > (UINT64_MAX - x) / 10)
			over = true;
		mag = mag * 10 + x;
	}
	if (lathe_dtype_is_float(dt))
		return lathe_tir_float(ps->f, dt, num_text(at, q));
	int bits = lathe_tir_int_bits(dt);
	if (!bits) {
		errat(ps, at, "an integer constant cannot have type %s", lathe_dtype_name(dt));
		return NULL;
	}
	bool sgn = lathe_dtype_is_signed(dt);
	uint64_t maxpos = bits == 64 ? (sgn ? (uint64_t)INT64_MAX : UINT64_MAX)
				     : (sgn ? ((uint64_t)1 << (bits - 1)) - 1 : ((uint64_t)1 << bits) - 1);
	uint64_t maxneg = sgn ? maxpos + 1 : 0;
	if (over || (!neg && mag > maxpos) || (neg && mag > maxneg)) {
		errat(ps, at, "%.*s does not fit %s", (int)(q - at), at, lathe_dtype_name(dt));
		return NULL;
	}
	return lathe_tir_int(ps->f, dt, neg ? (int64_t)(0 - mag) : (int64_t)mag);
}

static int find_op(const char *w, const char *(*name)(int), int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(w, name(i)))
			return i;
	return -1;
}

static lathe_tir_expr *parse_call(parser *ps, const char *at, const char *w)
{
	lathe_tir_func *f = ps->f;
	if (!strcmp(w, "true") || !strcmp(w, "false"))
		return lathe_tir_int(f, LATHE_DT_BOOL, w[0] == 't');
	int dt = -1;
	if (!strcmp(w, "cast")) {
		if (!expect(ps, '<', "after cast") || (dt = read_dtype(ps)) < 0 ||
		    !expect(ps, '>', "after the type of a cast"))
			return NULL;
	}
	int un = find_op(w, lathe_tir_unop_name, LATHE_TIR_UNOP_COUNT);
	int bin = find_op(w, lathe_tir_binop_name, LATHE_TIR_BINOP_COUNT);
	bool sel = !strcmp(w, "select");
	int nargs = dt >= 0 || un >= 0 ? 1 : bin >= 0 ? 2 : sel ? 3 : 0;
	if (!nargs) {
		errat(ps, at, "unknown operator '%s'", w);
		return NULL;
	}
	lathe_tir_expr *arg[3] = {0};
	if (!expect(ps, '(', "after an operator"))
		return NULL;
	for (int i = 0; i < nargs; i++) {
		if (i && !expect(ps, ',', "between operands"))
			return NULL;
		if (!(arg[i] = parse_expr(ps)))
			return NULL;
	}
	if (!accept(ps, ')')) {
		errat(ps, ps->p, "%s takes %d operand%s; expected ')'", w, nargs,
		      nargs == 1 ? "" : "s");
		return NULL;
	}
	if (dt >= 0)
		return lathe_tir_cast(f, dt, arg[0]);
	if (un >= 0)
		return lathe_tir_unary(f, un, arg[0]);
	if (bin >= 0)
		return lathe_tir_binary(f, bin, arg[0], arg[1]);
	return lathe_tir_select(f, arg[0], arg[1], arg[2]);
}

static lathe_tir_expr *parse_expr(parser *ps)
{
	skip(ps);
	const char *at = ps->p;
	if (++ps->depth > MAX_DEPTH) {
		errat(ps, at, "expression nested deeper than %d", MAX_DEPTH);
		return NULL;
	}
	lathe_tir_expr *r = NULL;
	if (*ps->p == '%') {
		const char *name = read_name(ps, '%');
		ent *e = name ? lookup(ps, name) : NULL;
		if (!name) {
			/* error already set */
		} else if (!e) {
			errat(ps, at, "unknown name %%%s", name);
		} else if (e->kind == ENT_BUF) {
			lathe_tir_expr **idx = parse_indices(ps, e->p, at);
			if (idx)
				r = lathe_tir_load(ps->f, e->p, idx);
		} else if (!e->bound) {
			errat(ps, at, "%%%s is used outside the for or let that binds it", name);
		} else {
			r = lathe_tir_varref(ps->f, e->p);
		}
	} else if (*ps->p == '-' || isdigit((unsigned char)*ps->p) ||
		   ((!strncmp(ps->p, "inf", 3) || !strncmp(ps->p, "nan", 3)) &&
		    !is_ident_char(ps->p[3]))) {
		r = parse_number(ps);
	} else {
		char w[32];
		if (read_ident(ps, w, sizeof w))
			r = parse_call(ps, at, w);
		else
			errat(ps, at, "expected an expression");
	}
	ps->depth--;
	return ps->err ? NULL : r;
}

/* ---- statements ----------------------------------------------------------- */

static lathe_tir_stmt *parse_block(parser *ps);

static lathe_tir_stmt *bound_block(parser *ps, ent *e)
{
	/* ents may move while the body grows it: keep the index. */
	size_t i = (size_t)(e - ps->ents.data);
	ps->ents.data[i].bound = true;
	lathe_tir_stmt *body = parse_block(ps);
	ps->ents.data[i].bound = false;
	return body;
}

static lathe_tir_stmt *parse_for(parser *ps)
{
	lathe_tir_func *f = ps->f;
	const char *at = (skip(ps), ps->p);
	const char *name = read_name(ps, '%');
	if (!name || !declare(ps, at, name, ENT_VAR, NULL))
		return NULL;
	size_t ei = ps->ents.len - 1;
	if (!accept_kw(ps, "in")) {
		errat(ps, ps->p, "expected 'in' after the loop variable");
		return NULL;
	}
	lathe_tir_expr *lo = parse_expr(ps), *ext = NULL;
	if (!lo)
		return NULL;
	skip(ps);
	if (strncmp(ps->p, "..", 2)) {
		errat(ps, ps->p, "expected '..' in the loop range");
		return NULL;
	}
	ps->p += 2;
	bool plus = accept(ps, '+');
	lathe_tir_expr *end = parse_expr(ps);
	if (!end)
		return NULL;
	if (plus) {
		ext = end;
	} else if (lo->kind == LATHE_TIR_E_INT && end->kind == LATHE_TIR_E_INT &&
		   lo->dtype == LATHE_DT_I64 && end->dtype == LATHE_DT_I64) {
		int64_t n;
		if (__builtin_sub_overflow(end->u.i, lo->u.i, &n)) {
			errat(ps, at, "loop range overflows i64");
			return NULL;
		}
		ext = lathe_tir_i64(f, n);
	} else {
		ext = lathe_tir_binary(f, LATHE_TIR_SUB, end, lo);
	}
	int kind = LATHE_TIR_SERIAL;
	if (accept_kw(ps, "parallel"))
		kind = LATHE_TIR_PARALLEL;
	else if (accept_kw(ps, "vectorized"))
		kind = LATHE_TIR_VECTORIZED;
	else if (accept_kw(ps, "unrolled"))
		kind = LATHE_TIR_UNROLLED;
	lathe_tir_var *v = lathe_tir_new_var(f, name, LATHE_DT_I64);
	ps->ents.data[ei].p = v;
	lathe_tir_stmt *body = bound_block(ps, &ps->ents.data[ei]);
	return body ? lathe_tir_for(f, v, lo, ext, kind, body) : NULL;
}

static lathe_tir_stmt *parse_let(parser *ps)
{
	const char *at = (skip(ps), ps->p);
	const char *name = read_name(ps, '%');
	if (!name || !declare(ps, at, name, ENT_VAR, NULL))
		return NULL;
	size_t ei = ps->ents.len - 1;
	int dt;
	if (!expect(ps, ':', "after the let variable") || (dt = read_dtype(ps)) < 0 ||
	    !expect(ps, '=', "after the type of the let variable"))
		return NULL;
	lathe_tir_expr *value = parse_expr(ps);
	if (!value)
		return NULL;
	lathe_tir_var *v = lathe_tir_new_var(ps->f, name, dt);
	ps->ents.data[ei].p = v;
	lathe_tir_stmt *body = bound_block(ps, &ps->ents.data[ei]);
	return body ? lathe_tir_let(ps->f, v, value, body) : NULL;
}

/* call @name(read %b[i...], write ..., scratch ..., value...) */
static lathe_tir_stmt *parse_call_stmt(parser *ps)
{
	skip(ps);
	const char *callee = read_name(ps, '@');
	if (!callee || !expect(ps, '(', "after the callee's name"))
		return NULL;
	LATHE_VEC(lathe_tir_arg) args = {0};
	lathe_tir_stmt *r = NULL;
	skip(ps);
	if (!accept(ps, ')')) {
		do {
			lathe_tir_arg a = {0};
			skip(ps);
			const char *at = ps->p;
			if (accept_kw(ps, "read"))
				a.kind = LATHE_TIR_ARG_READ;
			else if (accept_kw(ps, "write"))
				a.kind = LATHE_TIR_ARG_WRITE;
			else if (accept_kw(ps, "scratch"))
				a.kind = LATHE_TIR_ARG_SCRATCH;
			if (a.kind == LATHE_TIR_ARG_VALUE) {
				a.value = parse_expr(ps);
			} else {
				skip(ps);
				at = ps->p;
				const char *name = read_name(ps, '%');
				ent *e = name ? lookup(ps, name) : NULL;
				if (name && (!e || e->kind != ENT_BUF))
					errat(ps, at, "%%%s is not a buffer", name);
				else if (name)
					a.idx = parse_indices(ps, a.buf = e->p, at);
			}
			if (ps->err)
				break;
			lathe_vec_push(&args, a);
		} while (accept(ps, ','));
		if (!ps->err)
			expect(ps, ')', "after the call's arguments");
	}
	if (!ps->err)
		r = lathe_tir_call(ps->f, callee, (int)args.len, args.data);
	lathe_vec_free(&args);
	return r;
}

static lathe_tir_stmt *parse_stmt(parser *ps)
{
	skip(ps);
	const char *at = ps->p;
	if (++ps->depth > MAX_DEPTH) {
		errat(ps, at, "statements nested deeper than %d", MAX_DEPTH);
		return NULL;
	}
	lathe_tir_stmt *r = NULL;
	if (accept_kw(ps, "for")) {
		r = parse_for(ps);
	} else if (accept_kw(ps, "let")) {
		r = parse_let(ps);
	} else if (accept_kw(ps, "if")) {
		lathe_tir_expr *c = parse_expr(ps);
		lathe_tir_stmt *then = c ? parse_block(ps) : NULL, *orelse = NULL;
		if (then && accept_kw(ps, "else"))
			orelse = parse_block(ps);
		if (then && !ps->err)
			r = lathe_tir_if(ps->f, c, then, orelse);
	} else if (accept_kw(ps, "call")) {
		r = parse_call_stmt(ps);
	} else if (*at == '%') {
		const char *name = read_name(ps, '%');
		ent *e = name ? lookup(ps, name) : NULL;
		if (name && (!e || e->kind != ENT_BUF)) {
			errat(ps, at, "%%%s is not a buffer; a statement stores into a buffer", name);
		} else if (name) {
			lathe_tir_expr **idx = parse_indices(ps, e->p, at);
			lathe_tir_expr *v = NULL;
			if (idx && expect(ps, '=', "after the store's indices"))
				v = parse_expr(ps);
			if (v)
				r = lathe_tir_store(ps->f, e->p, idx, v);
		}
	} else {
		errat(ps, at, "expected a statement (for, let, if, call or a store)");
	}
	ps->depth--;
	return ps->err ? NULL : r;
}

/* { stmts }: none gives an empty sequence, one gives that statement. */
static lathe_tir_stmt *parse_block(parser *ps)
{
	if (!expect(ps, '{', "to open a block"))
		return NULL;
	LATHE_VEC(lathe_tir_stmt *) ss = {0};
	while (!accept(ps, '}')) {
		if (!*ps->p) {
			errat(ps, ps->p, "unexpected end of input: a '}' is missing");
			break;
		}
		lathe_tir_stmt *s = parse_stmt(ps);
		if (!s)
			break;
		lathe_vec_push(&ss, s);
	}
	lathe_tir_stmt *r = NULL;
	if (!ps->err)
		r = ss.len == 1 ? ss.data[0] : lathe_tir_seq(ps->f, (int)ss.len, ss.data);
	lathe_vec_free(&ss);
	return r;
}

/* ---- functions ------------------------------------------------------------ */

static bool parse_decl(parser *ps, bool param)
{
	const char *at = (skip(ps), ps->p);
	const char *name = read_name(ps, '%');
	int dt;
	if (!name || !expect(ps, ':', "after the buffer name") || (dt = read_dtype(ps)) < 0 ||
	    !expect(ps, '[', "to open the shape"))
		return false;
	LATHE_VEC(int64_t) shape = {0};
	if (!accept(ps, ']')) {
		do {
			int64_t d;
			if (!read_size(ps, &d))
				break;
			lathe_vec_push(&shape, d);
		} while (accept(ps, ','));
		if (!ps->err)
			expect(ps, ']', "to close the shape");
	}
	if (!ps->err && !lookup(ps, name)) {
		lathe_tir_buf *b = param ? lathe_tir_param(ps->f, name, dt, (int)shape.len, shape.data)
					 : lathe_tir_local(ps->f, name, dt, (int)shape.len, shape.data);
		b->constant = param && accept_kw(ps, "const");
		declare(ps, at, name, ENT_BUF, b);
	} else if (!ps->err) {
		declare(ps, at, name, ENT_BUF, NULL); /* reports the duplicate */
	}
	lathe_vec_free(&shape);
	return !ps->err;
}

static void parse_func(parser *ps)
{
	skip(ps);
	if (!accept_kw(ps, "func")) {
		errat(ps, ps->p, "expected 'func'");
		return;
	}
	const char *name = read_name(ps, '@');
	if (!name || !expect(ps, '(', "after the function name"))
		return;
	ps->f->name = name;
	if (!accept(ps, ')')) {
		do {
			if (!parse_decl(ps, true))
				return;
		} while (accept(ps, ','));
		if (!expect(ps, ')', "after the parameters"))
			return;
	}
	if (!expect(ps, '{', "to open the function body"))
		return;
	while (accept_kw(ps, "local"))
		if (!parse_decl(ps, false))
			return;
	while (!accept(ps, '}')) {
		if (!*ps->p) {
			errat(ps, ps->p, "unexpected end of input: the function's '}' is missing");
			return;
		}
		lathe_tir_stmt *s = parse_stmt(ps);
		if (!s)
			return;
		lathe_tir_append(ps->f, s);
	}
	skip(ps);
	if (*ps->p)
		errat(ps, ps->p, "unexpected text after the function");
}

lathe_err lathe_tir_parse(lathe_arena *a, const char *text, const char *filename,
			  lathe_tir_func **out)
{
	*out = NULL;
	if (!text)
		return lathe_error(LATHE_EINVAL, "no text to parse");
	parser ps = {0};
	ps.src = ps.p = text;
	ps.filename = filename ? filename : "<input>";
	ps.f = lathe_tir_func_create(a, "");
	lathe_map_init(&ps.names);
	parse_func(&ps);
	lathe_map_deinit(&ps.names);
	lathe_vec_free(&ps.ents);
	if (ps.err) {
		lathe_tir_func_deinit(ps.f);
		return ps.err;
	}
	*out = ps.f;
	return NULL;
}
