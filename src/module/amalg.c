/* amalg.c: the runtime sources a module needs, as one translation unit.
 *
 * A standalone bundle is one .c file: the runtime headers, the runtime
 * sources (thread pool, dtype conversions, the extern kernels the model
 * calls) and the module's code, concatenated.  C has one file scope per
 * translation unit, so what each source file keeps to itself would clash:
 * two files may both define a static `fail` or a macro `MAX_RANK`.  So
 * each runtime source is wrapped:
 *   - a file-scope name it declares (static function or variable, typedef,
 *     struct/union/enum tag, enumerator) that another piece also declares
 *     is renamed for that file with a #define, #undef-ed after it;
 *   - a macro it defines that another piece defines too, or that names
 *     something another piece declares, is #undef-ed after it (macros it
 *     may only have defined when a system header did not, like M_PI,
 *     stay).
 * Includes of runtime headers ("lathe_rt*.h") are dropped everywhere: the
 * headers come once, first.  The scan is line-based and relies on the
 * runtime's style (file-scope declarations start in column 0); the tests
 * compile the amalgamation of every runtime source, which is what keeps
 * that assumption honest.
 */
#include "module/embed.h"
#include "module/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef LATHE_VEC(const char *) name_vec;

typedef struct piece {
	const char *path; /* for comments; NULL for the module's code */
	const char *text;
	const char *stem; /* rename prefix */
	name_vec names;   /* file-scope names it declares */
	name_vec macros;  /* macros it defines */
} piece;

static const lathe_embedded_file *find_file(const char *path)
{
	for (int i = 0; i < lathe_rt_nembedded; i++)
		if (!strcmp(lathe_rt_embedded[i].path, path))
			return &lathe_rt_embedded[i];
	return NULL;
}

int mod_base_rt_files(const char **out, int cap)
{
	int n = 0;
	for (int i = 0; i < lathe_rt_nembedded && n < cap; i++) {
		const char *p = lathe_rt_embedded[i].path;
		if (strncmp(p, "runtime/src/", 12) || !strncmp(p + 12, "k_", 2))
			continue;
		out[n++] = p + 12;
	}
	return n;
}

/* A copy of text with comments replaced by spaces (newlines kept), string
 * and character literals left alone. */
static char *strip_comments(lathe_arena *a, const char *text)
{
	size_t n = strlen(text);
	char *s = lathe_arena_strndup(a, text, n);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\'') {
			char q = s[i];
			for (i++; i < n && s[i] != q && s[i] != '\n'; i++)
				if (s[i] == '\\' && i + 1 < n)
					i++;
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
			for (; i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/'); i++)
				if (s[i] != '\n')
					s[i] = ' ';
			if (i < n)
				s[i] = ' ', s[i + 1] = ' ', i++;
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '/') {
			for (; i < n && s[i] != '\n'; i++)
				s[i] = ' ';
		}
	}
	return s;
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static const char *const keywords[] = {
	"static", "const", "inline", "volatile", "int", "char", "short", "long", "unsigned",
	"signed", "float", "double", "void", "struct", "union", "enum", "typedef", "extern",
	"restrict", "_Bool", "bool", "sizeof", NULL,
};

static bool is_keyword(const char *s, size_t n)
{
	for (int i = 0; keywords[i]; i++)
		if (strlen(keywords[i]) == n && !strncmp(keywords[i], s, n))
			return true;
	return false;
}

static void add_name(lathe_arena *a, name_vec *v, const char *s, size_t n)
{
	if (!n || is_keyword(s, n) || isdigit((unsigned char)s[0]))
		return;
	for (size_t i = 0; i < v->len; i++)
		if (strlen(v->data[i]) == n && !strncmp(v->data[i], s, n))
			return;
	lathe_vec_push(v, lathe_arena_strndup(a, s, n));
}

/* The last identifier in [s, e). */
static void add_last_ident(lathe_arena *a, name_vec *v, const char *s, const char *e)
{
	while (e > s && !ident_char(e[-1]))
		e--;
	const char *b = e;
	while (b > s && ident_char(b[-1]))
		b--;
	add_name(a, v, b, (size_t)(e - b));
}

/* The tag after struct/union/enum at the start of [s, e), if any. */
static void add_tag(lathe_arena *a, name_vec *v, const char *s, const char *e)
{
	static const char *const kinds[] = {"struct", "union", "enum"};
	for (const char *p = s; p < e; p++) {
		for (int k = 0; k < 3; k++) {
			size_t kl = strlen(kinds[k]);
			if ((p == s || !ident_char(p[-1])) && (size_t)(e - p) > kl &&
			    !strncmp(p, kinds[k], kl) && !ident_char(p[kl])) {
				const char *q = p + kl;
				while (q < e && isspace((unsigned char)*q))
					q++;
				const char *b = q;
				while (q < e && ident_char(*q))
					q++;
				add_name(a, v, b, (size_t)(q - b));
				return;
			}
		}
	}
}

/* Enumerators between braces [s, e). */
static void add_enumerators(lathe_arena *a, name_vec *v, const char *s, const char *e)
{
	const char *p = s;
	while (p < e) {
		while (p < e && (isspace((unsigned char)*p) || *p == ','))
			p++;
		const char *b = p;
		while (p < e && ident_char(*p))
			p++;
		add_name(a, v, b, (size_t)(p - b));
		int depth = 0;
		while (p < e && (depth > 0 || *p != ',')) {
			depth += *p == '(';
			depth -= *p == ')';
			p++;
		}
	}
}

static const char *line_end(const char *p)
{
	const char *e = strchr(p, '\n');
	return e ? e : p + strlen(p);
}

/* Where the name of the static declaration at p ends: at its first '(',
 * '[', '=', ';' or '{' that does not open an __attribute__ (the name may
 * be on a later line: "static inline __attribute__((...)) T\nname(..."). */
static const char *static_stop(const char *p)
{
	for (;;) {
		const char *stop = p + strcspn(p, "([=;{");
		const char *b = stop;
		while (b > p && isspace((unsigned char)b[-1]))
			b--;
		if (*stop != '(' || b - p < 13 || strncmp(b - 13, "__attribute__", 13))
			return stop;
		int depth = 0;
		do {
			depth += *stop == '(';
			depth -= *stop == ')';
			stop++;
		} while (*stop && depth > 0);
		p = stop;
	}
}

/* File-scope declarations and macros of a piece. */
static void scan_piece(lathe_arena *a, piece *pc)
{
	const char *s = strip_comments(a, pc->text);
	for (const char *p = s; *p;) {
		const char *e = line_end(p);
		size_t len = (size_t)(e - p);
		if (len > 7 && !strncmp(p, "#define", 7) && isspace((unsigned char)p[7])) {
			const char *q = p + 7;
			while (q < e && isspace((unsigned char)*q))
				q++;
			const char *b = q;
			while (q < e && ident_char(*q))
				q++;
			add_name(a, &pc->macros, b, (size_t)(q - b));
		} else if (len > 7 && !strncmp(p, "static ", 7) && strncmp(p, "static_assert", 13)) {
			const char *stop = static_stop(p);
			if (*stop == '{') /* "static struct tag {": the tag */
				add_tag(a, &pc->names, p, stop);
			else
				add_last_ident(a, &pc->names, p, stop);
		} else if ((len > 8 && !strncmp(p, "typedef ", 8)) || !strncmp(p, "struct ", 7) ||
			   !strncmp(p, "union ", 6) ||
			   (!strncmp(p, "enum", 4) && (p[4] == ' ' || p[4] == '{'))) {
			bool is_typedef = !strncmp(p, "typedef ", 8);
			const char *brace = memchr(p, '{', len);
			const char *stop = brace ? brace : p + strcspn(p, "(;\n");
			add_tag(a, &pc->names, p, stop);
			const char *tail = e; /* where the declaration's last line starts */
			if (brace) {
				/* The body ends at the first '}' that closes it. */
				int depth = 0;
				const char *q = brace;
				for (; *q; q++) {
					depth += *q == '{';
					depth -= *q == '}';
					if (!depth)
						break;
				}
				if (!strncmp(p + (is_typedef ? 8 : 0), "enum", 4) && *q)
					add_enumerators(a, &pc->names, brace + 1, q);
				tail = q;
				e = line_end(tail);
				const char *semi = memchr(tail, ';', (size_t)(e - tail));
				if (is_typedef && semi)
					add_last_ident(a, &pc->names, tail, semi);
			} else if (is_typedef) {
				const char *fp = strstr(p, "(*");
				if (fp && fp < e) {
					const char *q = fp + 2;
					const char *b = q;
					while (q < e && ident_char(*q))
						q++;
					add_name(a, &pc->names, b, (size_t)(q - b));
				} else {
					const char *semi = memchr(p, ';', len);
					if (semi)
						add_last_ident(a, &pc->names, p, semi);
				}
			}
		}
		p = *e ? e + 1 : e;
	}
}

static bool in_vec(const name_vec *v, const char *name)
{
	for (size_t k = 0; k < v->len; k++)
		if (!strcmp(v->data[k], name))
			return true;
	return false;
}

/* Whether another piece declares `name` (or, with macros, defines it). */
static bool used_elsewhere(const piece *pcs, int n, int self, const char *name, bool macros)
{
	for (int i = 0; i < n; i++)
		if (i != self && (in_vec(&pcs[i].names, name) || (macros && in_vec(&pcs[i].macros, name))))
			return true;
	return false;
}

/* text without its lines that include a runtime header. */
static void put_text(lathe_buf *out, const char *text)
{
	for (const char *p = text; *p;) {
		const char *e = line_end(p);
		const char *q = p;
		while (q < e && (*q == ' ' || *q == '\t'))
			q++;
		bool drop = false;
		if (*q == '#') {
			q++;
			while (q < e && (*q == ' ' || *q == '\t'))
				q++;
			drop = (size_t)(e - q) > 18 && !strncmp(q, "include", 7) &&
			       strstr(q, "\"lathe_rt") && strstr(q, "\"lathe_rt") < e;
		}
		if (!drop) {
			lathe_buf_printf(out, "%.*s\n", (int)(e - p), p);
		}
		p = *e ? e + 1 : e;
	}
}

lathe_err mod_amalgamate(lathe_buf *out, const char *const *rt_files, int n, const char *code)
{
	lathe_arena *a = lathe_arena_create();
	piece *pcs = lathe_arena_new(a, piece, n + 1);
	lathe_err e = NULL;
	for (int i = 0; i < n && !e; i++) {
		const char *path = lathe_arena_printf(a, "runtime/src/%s", rt_files[i]);
		const lathe_embedded_file *f = find_file(path);
		if (!f) {
			e = lathe_error(LATHE_EINTERNAL, "the runtime source %s is not built into lathe",
					path);
			break;
		}
		size_t stem = strcspn(rt_files[i], ".");
		char *st = lathe_arena_strndup(a, rt_files[i], stem);
		for (char *c = st; *c; c++)
			if (!ident_char(*c))
				*c = '_';
		pcs[i] = (piece){.path = f->path, .text = f->text, .stem = st};
	}
	pcs[n] = (piece){.text = code};
	for (int i = 0; i <= n && !e; i++)
		scan_piece(a, &pcs[i]);
	/* What the runtime headers declare is shared by design, never a clash. */
	piece hdrs = {0};
	for (int i = 0; i < lathe_rt_nembedded; i++)
		if (!strncmp(lathe_rt_embedded[i].path, "runtime/include/", 16)) {
			hdrs.text = lathe_rt_embedded[i].text;
			scan_piece(a, &hdrs);
		}
	if (!e) {
		lathe_buf_puts(out, "#if !defined(_GNU_SOURCE)\n#define _GNU_SOURCE 1 /* as the runtime "
			       "is built */\n#endif\n\n");
		/* The headers: lathe_rt.h first, the kernels' headers after. */
		const lathe_embedded_file *h = find_file("runtime/include/lathe_rt.h");
		if (h) {
			lathe_buf_puts(out, "/* ---- runtime/include/lathe_rt.h ---- */\n");
			put_text(out, h->text);
		}
		for (int i = 0; i < lathe_rt_nembedded; i++) {
			const lathe_embedded_file *f = &lathe_rt_embedded[i];
			if (strncmp(f->path, "runtime/include/", 16) || f == h)
				continue;
			lathe_buf_printf(out, "/* ---- %s ---- */\n", f->path);
			put_text(out, f->text);
		}
	}
	for (int i = 0; i < n && !e; i++) {
		piece *pc = &pcs[i];
		lathe_buf_printf(out, "\n/* ---- %s ---- */\n", pc->path);
		name_vec renamed = {0};
		for (size_t k = 0; k < pc->names.len; k++) {
			const char *nm = pc->names.data[k];
			if (!used_elsewhere(pcs, n + 1, i, nm, false) || in_vec(&hdrs.names, nm))
				continue;
			lathe_buf_printf(out, "#define %s lathe_rt_%s_%s\n", nm, pc->stem, nm);
			lathe_vec_push(&renamed, nm);
		}
		put_text(out, pc->text);
		for (size_t k = 0; k < renamed.len; k++)
			lathe_buf_printf(out, "#undef %s\n", renamed.data[k]);
		for (size_t k = 0; k < pc->macros.len; k++)
			if (used_elsewhere(pcs, n + 1, i, pc->macros.data[k], true))
				lathe_buf_printf(out, "#undef %s\n", pc->macros.data[k]);
		lathe_vec_free(&renamed);
	}
	if (!e) {
		lathe_buf_puts(out, "\n/* ---- the module ---- */\n");
		put_text(out, code);
	}
	lathe_vec_free(&hdrs.names);
	lathe_vec_free(&hdrs.macros);
	for (int i = 0; i <= n; i++) {
		lathe_vec_free(&pcs[i].names);
		lathe_vec_free(&pcs[i].macros);
	}
	lathe_arena_destroy(a);
	return e;
}
