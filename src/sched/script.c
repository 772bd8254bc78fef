/* script.c: schedule scripts, the text form of a sequence of primitives.
 *
 *     split(i0, 4); vectorize(i0_i)      # or // comments
 *     tile(i, j, 4, 16)
 *     cache_read(in0, root)              # root: before the first reader
 *     default(matmul, 32, 4)             # class, vector bytes, threads[, ukernels]
 *     simplify()
 *
 * Commands are separated by `;` or newlines; arguments name loops (by
 * their variable) and buffers as the printer shows them, with or without
 * the `%`; quoted names are allowed.  The golden tests
 * (tests/golden/sched) and `lathe show FILE.tir --sched` use this.  Errors
 * say FILE:LINE:COL and which command failed.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sched/sched_impl.h"

enum { MAX_ARGS = 16, MAX_NAME = 256 };

typedef struct arg {
	bool is_int;
	int64_t i;
	char name[MAX_NAME];
	int line, col;
} arg;

typedef struct lexer {
	const char *s, *p, *file;
	int line;
	const char *line_start;
} lexer;

static void skip_space(lexer *L, bool newlines)
{
	for (;;) {
		if (*L->p == '#' || (L->p[0] == '/' && L->p[1] == '/')) {
			while (*L->p && *L->p != '\n')
				L->p++;
			continue;
		}
		if (*L->p == '\n') {
			if (!newlines)
				return;
			L->p++;
			L->line++;
			L->line_start = L->p;
			continue;
		}
		if (*L->p == ' ' || *L->p == '\t' || *L->p == '\r') {
			L->p++;
			continue;
		}
		return;
	}
}

static int col_of(const lexer *L)
{
	return (int)(L->p - L->line_start) + 1;
}

static lathe_err lex_error(const lexer *L, const char *fmt, const char *what)
{
	char msg[512];
	snprintf(msg, sizeof msg, fmt, what);
	return lathe_error(LATHE_EINVAL, "%s:%d:%d: %s", L->file, L->line, col_of(L), msg);
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.';
}

static lathe_err lex_arg(lexer *L, arg *a)
{
	skip_space(L, false);
	memset(a, 0, sizeof *a);
	a->line = L->line;
	a->col = col_of(L);
	if (*L->p == '-' || isdigit((unsigned char)*L->p)) {
		char *end;
		long long v = strtoll(L->p, &end, 10);
		if (end == L->p)
			return lex_error(L, "%s", "expected a number");
		L->p = end;
		a->is_int = true;
		a->i = v;
		return NULL;
	}
	if (*L->p == '%')
		L->p++;
	size_t n = 0;
	if (*L->p == '"') {
		L->p++;
		while (*L->p && *L->p != '"' && *L->p != '\n') {
			char c = *L->p++;
			if (c == '\\' && *L->p)
				c = *L->p++;
			if (n + 1 < MAX_NAME)
				a->name[n++] = c;
		}
		if (*L->p != '"')
			return lex_error(L, "%s", "unterminated quoted name");
		L->p++;
	} else {
		while (is_name_char(*L->p)) {
			if (n + 1 < MAX_NAME)
				a->name[n++] = *L->p;
			L->p++;
		}
	}
	a->name[n] = '\0';
	if (!n)
		return lex_error(L, "%s", "expected a loop, a buffer or a number");
	return NULL;
}

typedef struct cmd {
	char name[64];
	int nargs;
	arg args[MAX_ARGS];
	int line, col;
} cmd;

static lathe_err at(const lexer *L, const arg *a, lathe_err e)
{
	if (!e)
		return NULL;
	return lathe_error_wrap(e, "%s:%d:%d", L->file, a->line, a->col);
}

static lathe_err want_args(const lexer *L, const cmd *c, int lo, int hi, const char *usage)
{
	if (c->nargs >= lo && c->nargs <= hi)
		return NULL;
	return lathe_error(LATHE_EINVAL, "%s:%d:%d: usage: %s", L->file, c->line, c->col, usage);
}

static lathe_err get_loop(const lexer *L, lathe_tir_func *f, const arg *a, lathe_tir_var **out)
{
	if (a->is_int || !(*out = lathe_sched_var(f, a->name)))
		return lathe_error(LATHE_EINVAL, "%s:%d:%d: no loop named %%%s", L->file, a->line,
				   a->col, a->is_int ? "(a number)" : a->name);
	return NULL;
}

static lathe_err get_buf(const lexer *L, lathe_tir_func *f, const arg *a, lathe_tir_buf **out)
{
	if (a->is_int || !(*out = lathe_sched_buf(f, a->name)))
		return lathe_error(LATHE_EINVAL, "%s:%d:%d: no buffer named %%%s", L->file, a->line,
				   a->col, a->is_int ? "(a number)" : a->name);
	return NULL;
}

static lathe_err get_int(const lexer *L, const arg *a, int64_t *out)
{
	if (!a->is_int)
		return lathe_error(LATHE_EINVAL, "%s:%d:%d: expected a number, not %s", L->file,
				   a->line, a->col, a->name);
	*out = a->i;
	return NULL;
}

static lathe_err run_cmd(const lexer *L, lathe_tir_func *f, const cmd *c)
{
	const char *n = c->name;
	const arg *a = c->args;
	lathe_tir_var *v[MAX_ARGS];
	lathe_tir_buf *b;
	int64_t k[2] = {0, 0};
	if (!strcmp(n, "split")) {
		LATHE_TRY(want_args(L, c, 2, 2, "split(loop, factor)"));
		LATHE_TRY(get_loop(L, f, &a[0], &v[0]));
		LATHE_TRY(get_int(L, &a[1], &k[0]));
		return at(L, &a[0], lathe_sched_split(f, v[0], k[0], NULL, NULL));
	}
	if (!strcmp(n, "fuse")) {
		LATHE_TRY(want_args(L, c, 2, 2, "fuse(outer, inner)"));
		LATHE_TRY(get_loop(L, f, &a[0], &v[0]));
		LATHE_TRY(get_loop(L, f, &a[1], &v[1]));
		return at(L, &a[0], lathe_sched_fuse(f, v[0], v[1], NULL));
	}
	if (!strcmp(n, "reorder")) {
		LATHE_TRY(want_args(L, c, 1, MAX_ARGS, "reorder(loop, loop...)"));
		for (int i = 0; i < c->nargs; i++)
			LATHE_TRY(get_loop(L, f, &a[i], &v[i]));
		return at(L, &a[0], lathe_sched_reorder(f, c->nargs, v));
	}
	if (!strcmp(n, "tile")) {
		LATHE_TRY(want_args(L, c, 4, 4, "tile(x, y, x_factor, y_factor)"));
		LATHE_TRY(get_loop(L, f, &a[0], &v[0]));
		LATHE_TRY(get_loop(L, f, &a[1], &v[1]));
		LATHE_TRY(get_int(L, &a[2], &k[0]));
		LATHE_TRY(get_int(L, &a[3], &k[1]));
		return at(L, &a[0], lathe_sched_tile(f, v[0], v[1], k[0], k[1], NULL));
	}
	static const struct {
		const char *name;
		lathe_err (*fn)(lathe_tir_func *, lathe_tir_var *);
	} annot[] = {{"vectorize", lathe_sched_vectorize}, {"unroll", lathe_sched_unroll},
		     {"parallel", lathe_sched_parallel}, {"serial", lathe_sched_serial}};
	for (size_t i = 0; i < sizeof annot / sizeof annot[0]; i++)
		if (!strcmp(n, annot[i].name)) {
			LATHE_TRY(want_args(L, c, 1, 1, "vectorize|unroll|parallel|serial(loop)"));
			LATHE_TRY(get_loop(L, f, &a[0], &v[0]));
			return at(L, &a[0], annot[i].fn(f, v[0]));
		}
	if (!strcmp(n, "compute_inline") || !strcmp(n, "reverse_compute_inline")) {
		LATHE_TRY(want_args(L, c, 1, 1, "compute_inline(buffer)"));
		LATHE_TRY(get_buf(L, f, &a[0], &b));
		return at(L, &a[0], n[0] == 'c' ? lathe_sched_compute_inline(f, b)
						: lathe_sched_reverse_compute_inline(f, b));
	}
	if (!strcmp(n, "compute_at")) {
		LATHE_TRY(want_args(L, c, 2, 2, "compute_at(buffer, loop)"));
		LATHE_TRY(get_buf(L, f, &a[0], &b));
		LATHE_TRY(get_loop(L, f, &a[1], &v[0]));
		return at(L, &a[0], lathe_sched_compute_at(f, b, v[0]));
	}
	if (!strcmp(n, "cache_read") || !strcmp(n, "cache_write")) {
		LATHE_TRY(want_args(L, c, 2, 2, "cache_read|cache_write(buffer, loop or root)"));
		LATHE_TRY(get_buf(L, f, &a[0], &b));
		v[0] = NULL;
		if (a[1].is_int || strcmp(a[1].name, "root") || n[6] == 'w' || lathe_sched_var(f, "root"))
			LATHE_TRY(get_loop(L, f, &a[1], &v[0]));
		return at(L, &a[0], n[6] == 'r' ? lathe_sched_cache_read(f, b, v[0], NULL)
						: lathe_sched_cache_write(f, b, v[0], NULL));
	}
	if (!strcmp(n, "simplify")) {
		LATHE_TRY(want_args(L, c, 0, 0, "simplify()"));
		lathe_tir_simplify(f);
		return NULL;
	}
	if (!strcmp(n, "default")) {
		LATHE_TRY(want_args(L, c, 0, 4,
				    "default([class[, vector_bytes[, threads[, ukernels]]]])"));
		lathe_target t = {.vector_bytes = 16, .threads = 1};
		if (c->nargs >= 1) {
			int cls = a[0].is_int ? -1 : lathe_sched_class_parse(a[0].name);
			if (cls < 0)
				return lathe_error(LATHE_EINVAL,
						   "%s:%d:%d: unknown schedule class %s (elementwise, reduction, matmul, conv, depthwise_conv, pool, softmax_norm, none)",
						   L->file, a[0].line, a[0].col, a[0].name);
			f->sched_class = cls;
		}
		if (c->nargs >= 2) {
			LATHE_TRY(get_int(L, &a[1], &k[0]));
			if (k[0] != 16 && k[0] != 32 && k[0] != 64)
				return lathe_error(LATHE_EINVAL, "%s:%d:%d: vector bytes must be 16, 32 or 64",
						   L->file, a[1].line, a[1].col);
			t.vector_bytes = (int)k[0];
		}
		if (c->nargs >= 3) {
			LATHE_TRY(get_int(L, &a[2], &k[1]));
			if (k[1] < 1 || k[1] > 1024)
				return lathe_error(LATHE_EINVAL, "%s:%d:%d: threads must be 1 to 1024",
						   L->file, a[2].line, a[2].col);
			t.threads = (int)k[1];
		}
		if (c->nargs >= 4) { /* 1: tensorize into micro-kernel calls */
			int64_t u = -1;
			LATHE_TRY(get_int(L, &a[3], &u));
			if (u != 0 && u != 1)
				return lathe_error(LATHE_EINVAL, "%s:%d:%d: ukernels must be 0 or 1",
						   L->file, a[3].line, a[3].col);
			t.ukernels = u == 1;
		}
		return lathe_error_wrap(lathe_sched_default(f, &t), "%s:%d:%d", L->file, c->line, c->col);
	}
	return lathe_error(LATHE_EINVAL, "%s:%d:%d: unknown schedule command '%s'", L->file, c->line,
			   c->col, n);
}

lathe_err lathe_sched_script(lathe_tir_func *f, const char *script, const char *filename)
{
	lexer L = {script, script, filename ? filename : "<script>", 1, script};
	for (;;) {
		skip_space(&L, true);
		while (*L.p == ';') {
			L.p++;
			skip_space(&L, true);
		}
		if (!*L.p)
			return NULL;
		cmd c;
		memset(&c, 0, sizeof c);
		c.line = L.line;
		c.col = col_of(&L);
		size_t n = 0;
		while (isalnum((unsigned char)*L.p) || *L.p == '_') {
			if (n + 1 < sizeof c.name)
				c.name[n++] = *L.p;
			L.p++;
		}
		if (!n)
			return lex_error(&L, "%s", "expected a schedule command");
		skip_space(&L, false);
		if (*L.p != '(')
			return lex_error(&L, "expected '(' after %s", c.name);
		L.p++;
		skip_space(&L, false);
		if (*L.p != ')') {
			for (;;) {
				if (c.nargs == MAX_ARGS)
					return lex_error(&L, "%s", "too many arguments");
				LATHE_TRY(lex_arg(&L, &c.args[c.nargs++]));
				skip_space(&L, false);
				if (*L.p == ',') {
					L.p++;
					continue;
				}
				break;
			}
		}
		if (*L.p != ')')
			return lex_error(&L, "%s", "expected ',' or ')'");
		L.p++;
		skip_space(&L, false);
		if (*L.p && *L.p != ';' && *L.p != '\n')
			return lex_error(&L, "%s", "expected ';' or a new line after a command");
		LATHE_TRY(run_cmd(&L, f, &c));
	}
}
