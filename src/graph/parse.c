/* parse.c: the graph IR's text form, reading side (print.c writes it).
 *
 * Reads what lathe_graph_print writes (see docs/graph-ir.md) into a new
 * graph, so that golden tests and bug reports can be text.  It is a
 * tokenizer over the whole text followed by a recursive-descent parser
 * that builds the graph through the graph.h API as it goes, in text order:
 *   - a use of a value must come after its definition in the text (graph
 *     outputs, listed in the header, are resolved at the closing brace);
 *     in a subgraph, a name not defined locally is looked up in the
 *     enclosing graphs, which creates the capture;
 *   - constants whose values were elided by the printer are refused: the
 *     text no longer holds them.
 * The parser checks syntax, names and literal ranges; op arity and SSA
 * order are the verifier's job (lathe show runs it next).
 *
 * Errors are "file:line:col: message" followed by the source line and a
 * caret under the offending token.  Bad input never aborts, never reads
 * past the text, and nesting depth is bounded, so hostile text cannot
 * overflow the stack.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

#define MAX_DEPTH 64 /* nested subgraphs */

enum {
	T_EOF,
	T_IDENT,  /* [A-Za-z_][A-Za-z0-9_]* */
	T_VALUE,  /* %name or %"name" */
	T_AT,     /* @name or @"name" */
	T_INT,    /* -?[0-9]+ */
	T_FLOAT,  /* a number with '.' or exponent, or -inf */
	T_STRING, /* "..." with escapes */
	T_PUNCT,  /* ( ) [ ] { } , : = < > ? and -> (as 'A') */
};

typedef struct tok {
	int kind;
	char punct;
	const char *pos; /* in the source */
	char *text;      /* decoded: name, string contents, number or identifier */
	size_t len;      /* decoded length (strings may hold NUL bytes) */
} tok;

typedef struct parser {
	const char *src, *end, *file;
	LATHE_VEC(tok) toks;
	size_t pos;
	lathe_arena *scratch; /* token texts; freed after parsing */
	lathe_graph *root;
} parser;

/* ---- diagnostics ------------------------------------------------------------- */

static lathe_err error_at(const parser *P, const char *pos, const char *fmt, ...)
	LATHE_PRINTF(3, 4);

static lathe_err error_at(const parser *P, const char *pos, const char *fmt, ...)
{
	const char *line = P->src;
	int lineno = 1;
	for (const char *p = P->src; p < pos; p++) {
		if (*p == '\n') {
			lineno++;
			line = p + 1;
		}
	}
	const char *eol = line;
	while (eol < P->end && *eol != '\n')
		eol++;
	lathe_buf b = {0};
	lathe_buf_printf(&b, "%s:%d:%d: ", P->file, lineno, (int)(pos - line) + 1);
	va_list ap;
	va_start(ap, fmt);
	lathe_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	lathe_buf_printf(&b, "\n%.*s\n", (int)(eol - line), line);
	/* Tabs stay tabs so the caret lines up however they are shown. */
	for (const char *p = line; p < pos; p++)
		lathe_buf_puts(&b, *p == '\t' ? "\t" : " ");
	lathe_buf_puts(&b, "^");
	lathe_err e = lathe_error(LATHE_EINVAL, "%s", b.data);
	lathe_buf_free(&b);
	return e;
}

/* ---- tokenizer --------------------------------------------------------------- */

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '.' || c == '/'; }

static int hex_val(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads a quoted string at *pp (pointing at '"'); advances past it. */
static lathe_err lex_string(parser *P, const char **pp, tok *t)
{
	const char *start = *pp, *p = start + 1;
	char *out = lathe_arena_alloc(P->scratch, (size_t)(P->end - p) + 1);
	size_t n = 0;
	for (;;) {
		if (p >= P->end || *p == '\n')
			return error_at(P, start, "unterminated string");
		char c = *p;
		if (c == '"') {
			p++;
			break;
		}
		if (c != '\\') {
			out[n++] = c;
			p++;
			continue;
		}
		if (p + 1 >= P->end)
			return error_at(P, p, "unterminated string");
		switch (p[1]) {
		case '\\': out[n++] = '\\'; p += 2; break;
		case '"': out[n++] = '"'; p += 2; break;
		case 'n': out[n++] = '\n'; p += 2; break;
		case 't': out[n++] = '\t'; p += 2; break;
		case 'r': out[n++] = '\r'; p += 2; break;
		case 'x': {
			int hi = p + 2 < P->end ? hex_val(p[2]) : -1;
			int lo = p + 3 < P->end ? hex_val(p[3]) : -1;
			if (hi < 0 || lo < 0)
				return error_at(P, p, "\\x needs two hex digits");
			out[n++] = (char)(hi * 16 + lo);
			p += 4;
			break;
		}
		default:
			return error_at(P, p, "unknown escape '\\%c' in string", p[1]);
		}
	}
	out[n] = 0;
	t->text = out;
	t->len = n;
	*pp = p;
	return NULL;
}

static lathe_err tokenize(parser *P)
{
	const char *p = P->src;
	for (;;) {
		while (p < P->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
				      *p == '#')) {
			if (*p == '#')
				while (p < P->end && *p != '\n')
					p++;
			else
				p++;
		}
		tok t = {0};
		t.pos = p;
		if (p >= P->end) {
			t.kind = T_EOF;
			t.text = "";
			lathe_vec_push(&P->toks, t);
			return NULL;
		}
		char c = *p;
		if (c == 0)
			return error_at(P, p, "NUL byte in the text");
		if (is_alpha(c)) {
			const char *s = p;
			while (p < P->end && (is_alpha(*p) || is_digit(*p)))
				p++;
			t.kind = T_IDENT;
			t.len = (size_t)(p - s);
			t.text = lathe_arena_strndup(P->scratch, s, t.len);
		} else if (c == '%' || c == '@') {
			t.kind = c == '%' ? T_VALUE : T_AT;
			p++;
			if (p < P->end && *p == '"') {
				LATHE_TRY(lex_string(P, &p, &t));
				if (!t.len || memchr(t.text, 0, t.len))
					return error_at(P, t.pos, "a name must be non-empty and hold no NUL byte");
			} else {
				const char *s = p;
				while (p < P->end && is_name_char(*p))
					p++;
				if (p == s)
					return error_at(P, t.pos, "expected a name after '%c'", c);
				t.len = (size_t)(p - s);
				t.text = lathe_arena_strndup(P->scratch, s, t.len);
			}
		} else if (c == '-' && p + 1 < P->end && p[1] == '>') {
			t.kind = T_PUNCT;
			t.punct = 'A';
			p += 2;
		} else if (c == '-' && P->end - p >= 4 && !strncmp(p, "-inf", 4) &&
			   (P->end - p == 4 || !(is_alpha(p[4]) || is_digit(p[4])))) {
			t.kind = T_FLOAT;
			t.text = "-inf";
			t.len = 4;
			p += 4;
		} else if (is_digit(c) || (c == '-' && p + 1 < P->end &&
					   (is_digit(p[1]) || p[1] == '.'))) {
			const char *s = p;
			bool is_float = false;
			int digits = 0;
			if (*p == '-')
				p++;
			while (p < P->end && is_digit(*p))
				p++, digits++;
			if (p < P->end && *p == '.') {
				is_float = true;
				p++;
				while (p < P->end && is_digit(*p))
					p++, digits++;
			}
			if (digits && p < P->end && (*p == 'e' || *p == 'E')) {
				const char *q = p + 1;
				if (q < P->end && (*q == '+' || *q == '-'))
					q++;
				if (q < P->end && is_digit(*q)) {
					is_float = true;
					p = q;
					while (p < P->end && is_digit(*p))
						p++;
				}
			}
			if (!digits)
				return error_at(P, s, "malformed number");
			if (p < P->end && (is_alpha(*p) || *p == '.'))
				return error_at(P, s, "malformed number");
			t.kind = is_float ? T_FLOAT : T_INT;
			t.len = (size_t)(p - s);
			t.text = lathe_arena_strndup(P->scratch, s, t.len);
		} else if (c == '"') {
			t.kind = T_STRING;
			LATHE_TRY(lex_string(P, &p, &t));
		} else if (strchr("()[]{},:=<>?", c)) {
			t.kind = T_PUNCT;
			t.punct = c;
			p++;
		} else {
			if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
				return error_at(P, p, "unexpected byte 0x%02x", (unsigned char)c);
			return error_at(P, p, "unexpected character '%c'", c);
		}
		lathe_vec_push(&P->toks, t);
	}
}

/* ---- token helpers ------------------------------------------------------------ */

static tok *peek(parser *P) { return &P->toks.data[P->pos]; }

static tok *next(parser *P)
{
	tok *t = &P->toks.data[P->pos];
	if (t->kind != T_EOF)
		P->pos++;
	return t;
}

static bool is_punct(const tok *t, char c) { return t->kind == T_PUNCT && t->punct == c; }
static bool is_word(const tok *t, const char *w)
{
	return t->kind == T_IDENT && !strcmp(t->text, w);
}

static lathe_err expect(parser *P, char c, const char *msg)
{
	tok *t = peek(P);
	if (!is_punct(t, c))
		return error_at(P, t->pos, "%s", msg);
	next(P);
	return NULL;
}

static lathe_err expect_word(parser *P, const char *w, const char *msg)
{
	tok *t = peek(P);
	if (!is_word(t, w))
		return error_at(P, t->pos, "%s", msg);
	next(P);
	return NULL;
}

/* ---- types ------------------------------------------------------------------- */

static lathe_err parse_tensor_type(parser *P, lathe_graph *g, lathe_type *out)
{
	tok *t = peek(P);
	if (t->kind != T_IDENT)
		return error_at(P, t->pos, "expected a type (f32[2,3], seq<f32>, opt<f32>, ?)");
	int dtype = strcmp(t->text, "undef") ? lathe_dtype_parse(t->text) : LATHE_DT_UNDEF;
	if (dtype < 0)
		return error_at(P, t->pos, "unknown element type '%s'", t->text);
	next(P);
	*out = lathe_type_tensor(g->arena, dtype, -1, NULL);
	if (!is_punct(peek(P), '['))
		return NULL;
	next(P);
	LATHE_VEC(lathe_dim) dims = {0};
	lathe_err e = NULL;
	while (!e && !is_punct(peek(P), ']')) {
		if (dims.len && (e = expect(P, ',', "expected ',' or ']' in the shape")))
			break;
		tok *d = next(P);
		lathe_dim dim = {-1, -1};
		if (d->kind == T_INT) {
			errno = 0;
			long long v = strtoll(d->text, NULL, 10);
			if (errno || v < 0)
				e = error_at(P, d->pos, "a dimension must be a non-negative size, a symbol or '?'");
			dim.size = v;
		} else if (d->kind == T_IDENT || d->kind == T_STRING) {
			if (!d->len || memchr(d->text, 0, d->len))
				e = error_at(P, d->pos, "a symbol must be non-empty and hold no NUL byte");
			else
				dim.sym = lathe_graph_intern_sym(g, d->text);
		} else if (!is_punct(d, '?')) {
			e = error_at(P, d->pos, "expected a dimension (a size, a symbol or '?')");
		}
		if (!e)
			lathe_vec_push(&dims, dim);
	}
	if (!e) {
		next(P); /* ']' */
		out->rank = (int32_t)dims.len;
		if (dims.len) {
			out->dims = lathe_arena_new(g->arena, lathe_dim, dims.len);
			memcpy(out->dims, dims.data, sizeof(lathe_dim) * dims.len);
		}
	}
	lathe_vec_free(&dims);
	return e;
}

static lathe_err parse_type(parser *P, lathe_graph *g, lathe_type *out)
{
	tok *t = peek(P);
	if (is_punct(t, '?')) {
		next(P);
		*out = lathe_type_unknown();
		return NULL;
	}
	if (is_word(t, "seq") || is_word(t, "opt")) {
		bool opt = is_word(t, "opt");
		next(P);
		LATHE_TRY(expect(P, '<', opt ? "expected '<' after 'opt'" : "expected '<' after 'seq'"));
		bool inner_seq = false;
		if (opt && is_word(peek(P), "seq")) {
			next(P);
			LATHE_TRY(expect(P, '<', "expected '<' after 'seq'"));
			inner_seq = true;
		}
		LATHE_TRY(parse_tensor_type(P, g, out));
		if (inner_seq)
			LATHE_TRY(expect(P, '>', "expected '>' to close 'seq<'"));
		LATHE_TRY(expect(P, '>', opt ? "expected '>' to close 'opt<'" : "expected '>' to close 'seq<'"));
		out->kind = opt ? LATHE_TY_OPTIONAL : LATHE_TY_SEQUENCE;
		out->elem_kind = inner_seq ? LATHE_TY_SEQUENCE : LATHE_TY_TENSOR;
		return NULL;
	}
	return parse_tensor_type(P, g, out);
}

/* ---- tensor literals --------------------------------------------------------- */

static bool real_token(const tok *t)
{
	return t->kind == T_INT || t->kind == T_FLOAT || is_word(t, "inf") || is_word(t, "nan");
}

static lathe_err int_elem(parser *P, const tok *t, int64_t lo, uint64_t hi, int dtype,
			  int64_t *s, uint64_t *u)
{
	if (t->kind != T_INT)
		return error_at(P, t->pos, "expected an integer for a %s tensor",
				lathe_dtype_name(dtype));
	errno = 0;
	if (t->text[0] == '-') {
		long long v = strtoll(t->text, NULL, 10);
		if (errno || v < lo)
			return error_at(P, t->pos, "%s is out of range for %s", t->text,
					lathe_dtype_name(dtype));
		*s = v;
		*u = (uint64_t)v;
	} else {
		unsigned long long v = strtoull(t->text, NULL, 10);
		if (errno || v > hi)
			return error_at(P, t->pos, "%s is out of range for %s", t->text,
					lathe_dtype_name(dtype));
		*u = v;
		*s = (int64_t)v;
	}
	return NULL;
}

static lathe_err store_elem(parser *P, lathe_graph *g, lathe_tensor *t, int64_t i,
			    const tok *a, const tok *b)
{
	void *d = t->data;
	int dt = t->dtype;
	int64_t s = 0;
	uint64_t u = 0;
	if (dt == LATHE_DT_STR) {
		if (a->kind != T_STRING)
			return error_at(P, a->pos, "expected a string for a str tensor");
		if (memchr(a->text, 0, a->len))
			return error_at(P, a->pos, "a str tensor element cannot hold a NUL byte");
		((char **)d)[i] = lathe_arena_strndup(g->arena, a->text, a->len);
		return NULL;
	}
	if (dt == LATHE_DT_BOOL) {
		if (is_word(a, "true") || (a->kind == T_INT && !strcmp(a->text, "1")))
			((uint8_t *)d)[i] = 1;
		else if (is_word(a, "false") || (a->kind == T_INT && !strcmp(a->text, "0")))
			((uint8_t *)d)[i] = 0;
		else
			return error_at(P, a->pos, "expected true or false for a bool tensor");
		return NULL;
	}
	if (lathe_dtype_is_float(dt) || dt == LATHE_DT_C64 || dt == LATHE_DT_C128) {
		if (!real_token(a))
			return error_at(P, a->pos, "expected a number for a %s tensor",
					lathe_dtype_name(dt));
		if (b && !real_token(b))
			return error_at(P, b->pos, "expected a number for a %s tensor",
					lathe_dtype_name(dt));
		switch (dt) {
		case LATHE_DT_F32: ((float *)d)[i] = strtof(a->text, NULL); break;
		case LATHE_DT_F64: ((double *)d)[i] = strtod(a->text, NULL); break;
		case LATHE_DT_F16:
			((uint16_t *)d)[i] = lathe_rt_f32_to_f16(strtof(a->text, NULL));
			break;
		case LATHE_DT_BF16:
			((uint16_t *)d)[i] = lathe_rt_f32_to_bf16(strtof(a->text, NULL));
			break;
		case LATHE_DT_C64:
			((float *)d)[2 * i] = strtof(a->text, NULL);
			((float *)d)[2 * i + 1] = strtof(b->text, NULL);
			break;
		case LATHE_DT_C128:
			((double *)d)[2 * i] = strtod(a->text, NULL);
			((double *)d)[2 * i + 1] = strtod(b->text, NULL);
			break;
		default:
			lathe_rt_store_f64(t, i, strtod(a->text, NULL));
			break;
		}
		return NULL;
	}
	switch (dt) {
	case LATHE_DT_I8:
		LATHE_TRY(int_elem(P, a, INT8_MIN, INT8_MAX, dt, &s, &u));
		((int8_t *)d)[i] = (int8_t)s;
		return NULL;
	case LATHE_DT_U8:
		LATHE_TRY(int_elem(P, a, 0, UINT8_MAX, dt, &s, &u));
		((uint8_t *)d)[i] = (uint8_t)u;
		return NULL;
	case LATHE_DT_I16:
		LATHE_TRY(int_elem(P, a, INT16_MIN, INT16_MAX, dt, &s, &u));
		((int16_t *)d)[i] = (int16_t)s;
		return NULL;
	case LATHE_DT_U16:
		LATHE_TRY(int_elem(P, a, 0, UINT16_MAX, dt, &s, &u));
		((uint16_t *)d)[i] = (uint16_t)u;
		return NULL;
	case LATHE_DT_I32:
		LATHE_TRY(int_elem(P, a, INT32_MIN, INT32_MAX, dt, &s, &u));
		((int32_t *)d)[i] = (int32_t)s;
		return NULL;
	case LATHE_DT_U32:
		LATHE_TRY(int_elem(P, a, 0, UINT32_MAX, dt, &s, &u));
		((uint32_t *)d)[i] = (uint32_t)u;
		return NULL;
	case LATHE_DT_I64:
		LATHE_TRY(int_elem(P, a, INT64_MIN, INT64_MAX, dt, &s, &u));
		((int64_t *)d)[i] = s;
		return NULL;
	case LATHE_DT_U64:
		LATHE_TRY(int_elem(P, a, 0, UINT64_MAX, dt, &s, &u));
		((uint64_t *)d)[i] = u;
		return NULL;
	case LATHE_DT_I4: LATHE_TRY(int_elem(P, a, -8, 7, dt, &s, &u)); break;
	case LATHE_DT_U4: LATHE_TRY(int_elem(P, a, 0, 15, dt, &s, &u)); break;
	case LATHE_DT_I2: LATHE_TRY(int_elem(P, a, -2, 1, dt, &s, &u)); break;
	case LATHE_DT_U2: LATHE_TRY(int_elem(P, a, 0, 3, dt, &s, &u)); break;
	default:
		return error_at(P, a->pos, "cannot write a literal of element type %s",
				lathe_dtype_name(dt));
	}
	lathe_rt_store_i64(t, i, s);
	return NULL;
}

/* `[v, ...]` for a tensor of type `ty` (static); `what` names it in errors. */
static lathe_err parse_literal(parser *P, lathe_graph *g, const lathe_type *ty,
			       const tok *type_tok, const char *what, lathe_tensor **out)
{
	tok *t = peek(P);
	if (is_punct(t, '<')) {
		tok *w = &P->toks.data[P->pos + 1];
		if (is_word(w, "elided"))
			return error_at(P, t->pos,
					"the values of %s were elided when it was printed; "
					"the text form cannot restore them", what);
	}
	if (ty->kind != LATHE_TY_TENSOR || ty->rank < 0 || !lathe_type_is_static(ty) ||
	    ty->dtype == LATHE_DT_UNDEF)
		return error_at(P, type_tok->pos,
				"%s needs a static tensor type (like f32[2,3]) to hold values", what);
	if (!is_punct(t, '['))
		return error_at(P, t->pos, "expected '[' to start the values of %s", what);
	next(P);
	int64_t shape_buf[8];
	int64_t *shape = ty->rank <= 8 ? shape_buf
				       : lathe_arena_new(P->scratch, int64_t, ty->rank);
	for (int i = 0; i < ty->rank; i++)
		shape[i] = ty->dims[i].size;
	int64_t numel;
	lathe_err e = lathe_shape_numel(ty->rank, shape, &numel);
	if (e) {
		lathe_error_free(e);
		return error_at(P, type_tok->pos, "%s has too many elements", what);
	}
	/* Count the element tokens before allocating, so that a huge shape
	 * with few values fails without a huge allocation. */
	size_t first = P->pos, count = 0;
	while (!is_punct(peek(P), ']')) {
		if (count && !is_punct(next(P), ','))
			return error_at(P, P->toks.data[P->pos - 1].pos,
					"expected ',' or ']' in the values of %s", what);
		tok *v = next(P);
		if (v->kind == T_EOF || v->kind == T_PUNCT)
			return error_at(P, v->pos, "expected a value in the values of %s", what);
		count++;
	}
	tok *close = next(P);
	bool complex = ty->dtype == LATHE_DT_C64 || ty->dtype == LATHE_DT_C128;
	uint64_t want = (uint64_t)numel * (complex ? 2 : 1);
	if (count != want)
		return error_at(P, close->pos, "%s has %lld element%s but %zu value%s %s given%s",
				what, (long long)numel, numel == 1 ? "" : "s", count,
				count == 1 ? "" : "s", count == 1 ? "is" : "are",
				complex ? " (complex values are written as real, imaginary pairs)"
					: "");
	lathe_tensor *tensor;
	LATHE_TRY(lathe_tensor_alloc(g->arena, ty->dtype, ty->rank, shape, &tensor));
	for (int64_t i = 0; i < numel; i++) {
		size_t k = first + (size_t)i * (complex ? 4 : 2);
		const tok *a = &P->toks.data[k];
		const tok *b = complex ? &P->toks.data[k + 2] : NULL;
		LATHE_TRY(store_elem(P, g, tensor, i, a, b));
	}
	*out = tensor;
	return NULL;
}

/* `= [..]` or `= tensor T [..]` after a value's declared type. */
static lathe_err parse_value_literal(parser *P, lathe_graph *g, const lathe_type *declared,
				     const tok *type_tok, const char *what, lathe_tensor **out)
{
	if (is_word(peek(P), "tensor")) {
		next(P);
		tok *tt = peek(P);
		lathe_type ty;
		LATHE_TRY(parse_tensor_type(P, g, &ty));
		return parse_literal(P, g, &ty, tt, what, out);
	}
	return parse_literal(P, g, declared, type_tok, what, out);
}

/* ---- attributes -------------------------------------------------------------- */

static lathe_err parse_graph(parser *P, lathe_graph *parent, int depth, lathe_graph **out);

static lathe_err parse_real(parser *P, const tok *t, double *out)
{
	if (!real_token(t))
		return error_at(P, t->pos, "expected a number");
	*out = strtod(t->text, NULL);
	return NULL;
}

static lathe_err parse_int(parser *P, const tok *t, int64_t *out)
{
	if (t->kind != T_INT)
		return error_at(P, t->pos, "expected an integer");
	errno = 0;
	long long v = strtoll(t->text, NULL, 10);
	if (errno)
		return error_at(P, t->pos, "integer %s is out of range", t->text);
	*out = v;
	return NULL;
}

static lathe_err parse_attr_tensor(parser *P, lathe_graph *g, lathe_tensor **out)
{
	LATHE_TRY(expect_word(P, "tensor", "expected 'tensor'"));
	tok *tt = peek(P);
	lathe_type ty;
	LATHE_TRY(parse_tensor_type(P, g, &ty));
	return parse_literal(P, g, &ty, tt, "the tensor", out);
}

static lathe_err parse_list(parser *P, lathe_graph *g, int depth, int kind, lathe_attr *a)
{
	tok *open = peek(P);
	LATHE_TRY(expect(P, '[', "expected '['"));
	tok *t = peek(P);
	if (is_punct(t, ']')) {
		if (kind < 0)
			return error_at(P, open->pos,
					"an empty list needs its kind: write ints[], floats[], "
					"strings[], tensors[] or graphs[]");
		next(P);
		a->kind = kind;
		a->n = 0;
		return NULL;
	}
	if (kind < 0) {
		if (real_token(t)) {
			kind = LATHE_ATTR_INTS;
			for (size_t k = P->pos; real_token(&P->toks.data[k]) ||
						is_punct(&P->toks.data[k], ',');
			     k++)
				if (P->toks.data[k].kind != T_INT && P->toks.data[k].kind != T_PUNCT)
					kind = LATHE_ATTR_FLOATS;
		} else if (t->kind == T_STRING) {
			kind = LATHE_ATTR_STRINGS;
		} else if (is_word(t, "tensor")) {
			kind = LATHE_ATTR_TENSORS;
		} else if (is_word(t, "graph")) {
			kind = LATHE_ATTR_GRAPHS;
		} else {
			return error_at(P, t->pos, "expected a list element (number, string, tensor or graph)");
		}
	}
	LATHE_VEC(int64_t) ints = {0};
	LATHE_VEC(double) floats = {0};
	LATHE_VEC(void *) ptrs = {0};
	lathe_err e = NULL;
	for (size_t i = 0; !e; i++) {
		if (i) {
			if (is_punct(peek(P), ']'))
				break;
			if ((e = expect(P, ',', "expected ',' or ']' in the list")))
				break;
		}
		tok *el = peek(P);
		switch (kind) {
		case LATHE_ATTR_INTS: {
			int64_t v = 0;
			if (!(e = parse_int(P, el, &v))) {
				next(P);
				lathe_vec_push(&ints, v);
			}
			break;
		}
		case LATHE_ATTR_FLOATS: {
			double v = 0;
			if (!(e = parse_real(P, el, &v))) {
				next(P);
				lathe_vec_push(&floats, v);
			}
			break;
		}
		case LATHE_ATTR_STRINGS:
			if (el->kind != T_STRING) {
				e = error_at(P, el->pos, "expected a string");
			} else if (memchr(el->text, 0, el->len)) {
				e = error_at(P, el->pos, "a string in a list cannot hold a NUL byte");
			} else {
				next(P);
				lathe_vec_push(&ptrs, lathe_arena_strndup(g->arena, el->text, el->len));
			}
			break;
		case LATHE_ATTR_TENSORS: {
			lathe_tensor *tensor = NULL;
			if (!(e = parse_attr_tensor(P, g, &tensor)))
				lathe_vec_push(&ptrs, tensor);
			break;
		}
		default: {
			lathe_graph *sub = NULL;
			if (!(e = parse_graph(P, g, depth + 1, &sub)))
				lathe_vec_push(&ptrs, sub);
			break;
		}
		}
	}
	if (!e)
		e = expect(P, ']', "expected ']' to close the list");
	if (!e) {
		a->kind = kind;
		if (kind == LATHE_ATTR_INTS) {
			a->n = (int64_t)ints.len;
			a->u.ints = lathe_arena_memdup(g->arena, ints.data, sizeof(int64_t) * ints.len);
		} else if (kind == LATHE_ATTR_FLOATS) {
			a->n = (int64_t)floats.len;
			a->u.floats =
				lathe_arena_memdup(g->arena, floats.data, sizeof(double) * floats.len);
		} else {
			a->n = (int64_t)ptrs.len;
			void **arr = lathe_arena_memdup(g->arena, ptrs.data, sizeof(void *) * ptrs.len);
			if (kind == LATHE_ATTR_STRINGS)
				a->u.strs = (const char **)arr;
			else if (kind == LATHE_ATTR_TENSORS)
				a->u.tensors = (lathe_tensor **)arr;
			else
				a->u.graphs = (lathe_graph **)arr;
		}
	}
	lathe_vec_free(&ints);
	lathe_vec_free(&floats);
	lathe_vec_free(&ptrs);
	return e;
}

static lathe_err parse_attr_value(parser *P, lathe_graph *g, int depth, lathe_attr *a)
{
	static const struct {
		const char *word;
		int kind;
	} list_kinds[] = {
		{"ints", LATHE_ATTR_INTS},       {"floats", LATHE_ATTR_FLOATS},
		{"strings", LATHE_ATTR_STRINGS}, {"tensors", LATHE_ATTR_TENSORS},
		{"graphs", LATHE_ATTR_GRAPHS},
	};
	tok *t = peek(P);
	if (t->kind == T_INT) {
		a->kind = LATHE_ATTR_INT;
		LATHE_TRY(parse_int(P, t, &a->u.i));
		next(P);
		return NULL;
	}
	if (real_token(t)) {
		a->kind = LATHE_ATTR_FLOAT;
		LATHE_TRY(parse_real(P, t, &a->u.f));
		next(P);
		return NULL;
	}
	if (t->kind == T_STRING) {
		next(P);
		a->kind = LATHE_ATTR_STRING;
		a->u.s = lathe_arena_strndup(g->arena, t->text, t->len);
		a->slen = (int64_t)t->len;
		return NULL;
	}
	if (is_punct(t, '['))
		return parse_list(P, g, depth, -1, a);
	for (size_t i = 0; i < sizeof list_kinds / sizeof list_kinds[0]; i++) {
		if (is_word(t, list_kinds[i].word)) {
			next(P);
			return parse_list(P, g, depth, list_kinds[i].kind, a);
		}
	}
	if (is_word(t, "tensor")) {
		a->kind = LATHE_ATTR_TENSOR;
		return parse_attr_tensor(P, g, &a->u.t);
	}
	if (is_word(t, "graph")) {
		a->kind = LATHE_ATTR_GRAPH;
		return parse_graph(P, g, depth + 1, &a->u.g);
	}
	if (is_word(t, "type")) {
		next(P);
		a->kind = LATHE_ATTR_TYPE;
		return parse_type(P, g, &a->u.type);
	}
	return error_at(P, t->pos,
			"expected an attribute value (integer, float, string, list, tensor, "
			"graph or type)");
}

/* `{name = value, ...}` into a fresh array in g's arena. */
static lathe_err parse_attrs(parser *P, lathe_graph *g, int depth, lathe_attr **out, int *n)
{
	LATHE_VEC(lathe_attr) attrs = {0};
	lathe_err e = NULL;
	next(P); /* '{' */
	while (!e && !is_punct(peek(P), '}')) {
		if (attrs.len && (e = expect(P, ',', "expected ',' or '}' after an attribute")))
			break;
		tok *name = peek(P);
		if (name->kind != T_IDENT && name->kind != T_STRING) {
			e = error_at(P, name->pos, "expected an attribute name");
			break;
		}
		if (!name->len || memchr(name->text, 0, name->len)) {
			e = error_at(P, name->pos, "an attribute name must be non-empty and hold no NUL byte");
			break;
		}
		for (size_t i = 0; i < attrs.len && !e; i++)
			if (!strcmp(attrs.data[i].name, name->text))
				e = error_at(P, name->pos, "attribute '%s' is given twice", name->text);
		if (e)
			break;
		next(P);
		if ((e = expect(P, '=', "expected '=' after the attribute name")))
			break;
		lathe_attr a = {0};
		a.name = lathe_arena_strdup(g->arena, name->text);
		if (!(e = parse_attr_value(P, g, depth, &a)))
			lathe_vec_push(&attrs, a);
	}
	if (!e) {
		next(P); /* '}' */
		*n = (int)attrs.len;
		*out = attrs.len ? lathe_arena_memdup(g->arena, attrs.data,
						      sizeof(lathe_attr) * attrs.len)
				 : NULL;
	}
	lathe_vec_free(&attrs);
	return e;
}

/* ---- statements -------------------------------------------------------------- */

static int lookup_op(const char *name)
{
	for (int op = 0; op < LATHE_OP_COUNT; op++)
		if (!strcmp(lathe_op_name(op), name))
			return op;
	return -1;
}

typedef struct out_decl {
	tok *name;
	bool typed;
	lathe_type type;
} out_decl;

static lathe_err check_new_name(parser *P, lathe_graph *g, const tok *t)
{
	if (lathe_map_get(&g->names, t->text, NULL))
		return error_at(P, t->pos, "value %%%s is defined twice", t->text);
	return NULL;
}

/* `%a: T, %b = Op(%x, _) {attrs} @name`, or `Op(...)` with no outputs. */
static lathe_err parse_node(parser *P, lathe_graph *g, int depth)
{
	LATHE_VEC(out_decl) outs = {0};
	LATHE_VEC(lathe_vid) ins = {0};
	LATHE_VEC(const char *) names = {0};
	lathe_err e = NULL;
	if (peek(P)->kind == T_VALUE) {
		for (;;) {
			out_decl d = {0};
			d.name = next(P);
			if (is_punct(peek(P), ':')) {
				next(P);
				d.typed = true;
				if ((e = parse_type(P, g, &d.type)))
					goto done;
			}
			lathe_vec_push(&outs, d);
			if (!is_punct(peek(P), ','))
				break;
			next(P);
			if (peek(P)->kind != T_VALUE) {
				e = error_at(P, peek(P)->pos, "expected an output value after ','");
				goto done;
			}
		}
		if ((e = expect(P, '=', "expected '=' after the node's outputs")))
			goto done;
	}
	tok *optok = peek(P);
	if (optok->kind != T_IDENT) {
		e = error_at(P, optok->pos, "expected an op name");
		goto done;
	}
	int op = lookup_op(optok->text);
	if (op < 0) {
		e = error_at(P, optok->pos, "unknown op '%s'", optok->text);
		goto done;
	}
	next(P);
	if ((e = expect(P, '(', "expected '(' after the op name")))
		goto done;
	while (!is_punct(peek(P), ')')) {
		if (ins.len && (e = expect(P, ',', "expected ',' or ')' after an input")))
			goto done;
		tok *in = next(P);
		if (is_word(in, "_")) {
			lathe_vec_push(&ins, LATHE_NOVAL);
			continue;
		}
		if (in->kind != T_VALUE) {
			e = error_at(P, in->pos, "expected an input value (%%name, or _ for a missing one)");
			goto done;
		}
		lathe_vid v = lathe_graph_lookup(g, in->text);
		if (v == LATHE_NOVAL) {
			e = error_at(P, in->pos, "value %%%s is not defined", in->text);
			goto done;
		}
		lathe_vec_push(&ins, v);
	}
	next(P); /* ')' */
	lathe_attr *attrs = NULL;
	int nattr = 0;
	if (is_punct(peek(P), '{') && (e = parse_attrs(P, g, depth, &attrs, &nattr)))
		goto done;
	const char *node_name = "";
	if (peek(P)->kind == T_AT)
		node_name = next(P)->text;
	int64_t group = 0; /* `group N`: fusion group (src/passes/fuse.c) */
	if (is_word(peek(P), "group")) {
		next(P);
		tok *gt = next(P);
		if ((e = parse_int(P, gt, &group)))
			goto done;
		if (group < 1 || group >= (int64_t)UINT32_MAX) {
			e = error_at(P, gt->pos, "a fusion group is a number from 1 to %u",
				     (unsigned)(UINT32_MAX - 1));
			goto done;
		}
	}
	/* Output names are checked now, after the inputs and subgraphs, which
	 * may have created captures under the same names. */
	for (size_t i = 0; i < outs.len; i++) {
		if ((e = check_new_name(P, g, outs.data[i].name)))
			goto done;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(outs.data[j].name->text, outs.data[i].name->text)) {
				e = error_at(P, outs.data[i].name->pos, "value %%%s is defined twice",
					     outs.data[i].name->text);
				goto done;
			}
		lathe_vec_push(&names, outs.data[i].name->text);
	}
	lathe_node *n;
	if ((e = lathe_graph_add_node(g, op, node_name, (int)ins.len, ins.data, (int)outs.len,
				      names.data, &n)))
		goto done;
	n->attrs = attrs;
	n->nattr = nattr;
	n->group = (uint32_t)group;
	for (size_t i = 0; i < outs.len; i++)
		if (outs.data[i].typed)
			g->values.data[n->out[i]].type = outs.data[i].type;
done:
	lathe_vec_free(&outs);
	lathe_vec_free(&ins);
	lathe_vec_free(&names);
	return e;
}

/* `const %w: T = [..]` */
static lathe_err parse_const(parser *P, lathe_graph *g)
{
	next(P); /* const */
	tok *name = next(P);
	if (name->kind != T_VALUE)
		return error_at(P, name->pos, "expected a value name after 'const'");
	LATHE_TRY(check_new_name(P, g, name));
	LATHE_TRY(expect(P, ':', "expected ':' and a type after the constant's name"));
	tok *tt = peek(P);
	lathe_type ty;
	LATHE_TRY(parse_type(P, g, &ty));
	LATHE_TRY(expect(P, '=', "expected '=' and the constant's values"));
	char *what = lathe_arena_printf(P->scratch, "constant %%%s", name->text);
	lathe_tensor *t;
	LATHE_TRY(parse_value_literal(P, g, &ty, tt, what, &t));
	lathe_vid v;
	LATHE_TRY(lathe_graph_add_const(g, name->text, t, &v));
	g->values.data[v].type = ty;
	return NULL;
}

static lathe_err parse_inputs(parser *P, lathe_graph *g)
{
	while (!is_punct(peek(P), ')')) {
		if (g->inputs.len)
			LATHE_TRY(expect(P, ',', "expected ',' or ')' after a graph input"));
		tok *name = next(P);
		if (name->kind != T_VALUE)
			return error_at(P, name->pos, "expected a graph input (%%name: type)");
		LATHE_TRY(check_new_name(P, g, name));
		LATHE_TRY(expect(P, ':', "expected ':' and a type after the input's name"));
		tok *tt = peek(P);
		lathe_type ty;
		LATHE_TRY(parse_type(P, g, &ty));
		lathe_tensor *dflt = NULL;
		if (is_punct(peek(P), '=')) {
			next(P);
			char *what = lathe_arena_printf(P->scratch, "the default of %%%s", name->text);
			LATHE_TRY(parse_value_literal(P, g, &ty, tt, what, &dflt));
		}
		lathe_vid v;
		LATHE_TRY(lathe_graph_add_input(g, name->text, ty, &v));
		g->values.data[v].konst = dflt;
	}
	next(P); /* ')' */
	return NULL;
}

/* `graph name(inputs) -> (outputs) { statements }` */
static lathe_err parse_graph(parser *P, lathe_graph *parent, int depth, lathe_graph **out)
{
	tok *kw = peek(P);
	if (depth > MAX_DEPTH)
		return error_at(P, kw->pos, "subgraphs are nested more than %d deep", MAX_DEPTH);
	LATHE_TRY(expect_word(P, "graph", "expected 'graph'"));
	tok *name = next(P);
	if (name->kind != T_IDENT && name->kind != T_STRING)
		return error_at(P, name->pos, "expected the graph's name after 'graph'");
	if (memchr(name->text, 0, name->len))
		return error_at(P, name->pos, "a graph name cannot hold a NUL byte");
	lathe_graph *g = parent ? lathe_graph_create_sub(parent) : P->root;
	g->name = lathe_arena_strdup(g->arena, name->text);
	LATHE_TRY(expect(P, '(', "expected '(' and the graph's inputs after its name"));
	LATHE_TRY(parse_inputs(P, g));
	LATHE_TRY(expect(P, 'A', "expected '->' and the graph's outputs after the input list"));
	LATHE_TRY(expect(P, '(', "expected '(' to start the output list"));
	size_t first_out = P->pos, nout = 0;
	while (!is_punct(peek(P), ')')) {
		if (nout)
			LATHE_TRY(expect(P, ',', "expected ',' or ')' after a graph output"));
		tok *t = next(P);
		if (t->kind != T_VALUE)
			return error_at(P, t->pos, "expected a graph output (%%name)");
		nout++;
	}
	next(P); /* ')' */
	LATHE_TRY(expect(P, '{', "expected '{' to start the graph's body"));
	for (;;) {
		tok *t = peek(P);
		if (is_punct(t, '}'))
			break;
		if (t->kind == T_EOF)
			return error_at(P, t->pos, "expected '}' to close graph '%s'", g->name);
		if (is_word(t, "opset")) {
			next(P);
			tok *v = next(P);
			LATHE_TRY(parse_int(P, v, &g->opset));
		} else if (is_word(t, "const")) {
			LATHE_TRY(parse_const(P, g));
		} else if (t->kind == T_VALUE || t->kind == T_IDENT) {
			LATHE_TRY(parse_node(P, g, depth));
		} else {
			return error_at(P, t->pos, "expected a node, 'const' or 'opset'");
		}
	}
	next(P); /* '}' */
	for (size_t i = 0, k = first_out; i < nout; i++, k += 2) {
		tok *t = &P->toks.data[k];
		lathe_vid v = lathe_graph_lookup(g, t->text);
		if (v == LATHE_NOVAL)
			return error_at(P, t->pos, "graph output %%%s is not defined", t->text);
		lathe_vec_push(&g->outputs, v);
	}
	*out = g;
	return NULL;
}

lathe_err lathe_graph_parse(const char *text, const char *filename, lathe_graph **out)
{
	parser P = {0};
	P.src = text;
	P.end = text + strlen(text);
	P.file = filename ? filename : "<input>";
	P.scratch = lathe_arena_create();
	P.root = lathe_graph_create();
	lathe_err e = tokenize(&P);
	lathe_graph *g = NULL;
	if (!e)
		e = parse_graph(&P, NULL, 0, &g);
	if (!e && peek(&P)->kind != T_EOF)
		e = error_at(&P, peek(&P)->pos, "expected the end of the text after the graph");
	lathe_vec_free(&P.toks);
	lathe_arena_destroy(P.scratch);
	if (e) {
		lathe_graph_destroy(P.root);
		return e;
	}
	*out = g;
	return NULL;
}
