/* manifest.c: DIR/module.txt, the small text file that tells `lathe run DIR`
 * (and any loader) what a compiled module is, without loading it:
 *
 *     lathe-module 1
 *     name mobilenet_v2_tiny
 *     library libmobilenet_v2_tiny.so      ("-" for a standalone bundle)
 *     weights 14336                         (bytes of weights.bin)
 *     workspace 802816                      (bytes NAME_run needs)
 *     input f32[1,3,112,112] image
 *     output f32[1,1000] probabilities
 *     step conv 236027904 Conv+Relu /conv1/Conv   (one per step, optional)
 *
 * Inputs and outputs come in NAME_run's order; a name is the rest of its
 * line, with bytes below '!' and '%' written as %XX.  A step line gives the
 * step's kind, its FLOPs, the ops it computes and its first node's name
 * (`lathe bench --profile` reads them).  The parser bounds
 * every count and size before allocating and names the line of any error.
 */
#include "module/module.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_IO = 65536, MAX_RANK = 64, MAX_STEPS = 1 << 20 };

static void put_name(lathe_buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= ' ' || *p == '%' || *p == 127)
			lathe_buf_printf(b, "%%%02X", *p);
		else
			lathe_buf_printf(b, "%c", *p);
	}
}

static void put_io(lathe_buf *b, const char *kind, const lathe_module_io *io)
{
	lathe_buf_printf(b, "%s %s[", kind, lathe_dtype_name(io->dtype));
	for (int d = 0; d < io->rank; d++)
		lathe_buf_printf(b, "%s%lld", d ? "," : "", (long long)io->shape[d]);
	lathe_buf_puts(b, "] ");
	put_name(b, io->name);
	lathe_buf_puts(b, "\n");
}

void lathe_manifest_print(lathe_buf *b, const lathe_manifest *m)
{
	lathe_buf_printf(b, "lathe-module 1\nname %s\nlibrary %s\nweights %llu\nworkspace %llu\n",
			 m->name, m->library ? m->library : "-",
			 (unsigned long long)m->weights_size, (unsigned long long)m->workspace_size);
	for (int i = 0; i < m->nin; i++)
		put_io(b, "input", &m->in[i]);
	for (int i = 0; i < m->nout; i++)
		put_io(b, "output", &m->out[i]);
	for (int i = 0; i < m->nsteps; i++) {
		const lathe_module_step *st = &m->steps[i];
		lathe_buf_printf(b, "step %s %llu ", st->kind, (unsigned long long)st->flops);
		put_name(b, st->ops);
		lathe_buf_puts(b, " ");
		put_name(b, st->node);
		lathe_buf_puts(b, "\n");
	}
}

/* ---- parsing ------------------------------------------------------------------ */

typedef struct cursor {
	lathe_arena *a;
	const char *what;
	int line;
} cursor;

static lathe_err bad(const cursor *c, const char *msg)
{
	return lathe_error(LATHE_EINVAL, "%s:%d: %s", c->what, c->line, msg);
}

static lathe_err parse_u64(const cursor *c, const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char)*s))
		return bad(c, "expected a byte count");
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > ((uint64_t)1 << 48))
		return bad(c, "byte count out of range");
	*out = v;
	return NULL;
}

static lathe_err parse_name(const cursor *c, const char *s, const char **out)
{
	size_t n = strlen(s);
	char *d = lathe_arena_alloc(c->a, n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			d[k++] = s[i];
			continue;
		}
		if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
		    !isxdigit((unsigned char)s[i + 2]))
			return bad(c, "bad %XX escape in a name");
		char hex[3] = {s[i + 1], s[i + 2], 0};
		d[k++] = (char)strtol(hex, NULL, 16);
		i += 2;
	}
	d[k] = 0;
	if (!k || strlen(d) != k)
		return bad(c, "empty or NUL-holding name");
	*out = d;
	return NULL;
}

/* "f32[1,3,224,224] name" */
static lathe_err parse_io(const cursor *c, const char *s, lathe_module_io *io)
{
	const char *br = strchr(s, '[');
	if (!br || br == s)
		return bad(c, "expected TYPE[D0,D1,...] NAME");
	char dt[16];
	size_t dl = (size_t)(br - s);
	if (dl >= sizeof dt)
		return bad(c, "unknown element type");
	memcpy(dt, s, dl);
	dt[dl] = 0;
	io->dtype = lathe_dtype_parse(dt);
	if (io->dtype <= 0 || io->dtype == LATHE_DT_STR || !lathe_dtype_size(io->dtype))
		return bad(c, "unknown element type");
	int64_t shape[MAX_RANK];
	int rank = 0;
	const char *p = br + 1;
	while (*p != ']') {
		if (rank == MAX_RANK)
			return bad(c, "more than 64 dimensions");
		if (!isdigit((unsigned char)*p))
			return bad(c, "expected a dimension");
		char *end;
		errno = 0;
		long long d = strtoll(p, &end, 10);
		if (errno || d < 0 || d > ((int64_t)1 << 40))
			return bad(c, "dimension out of range");
		shape[rank++] = d;
		p = end;
		if (*p == ',')
			p++;
		else if (*p != ']')
			return bad(c, "expected ',' or ']' in a shape");
	}
	if (p[1] != ' ')
		return bad(c, "expected a name after the shape");
	int64_t numel;
	lathe_err e = lathe_shape_numel(rank, shape, &numel);
	if (e) {
		lathe_error_free(e);
		return bad(c, "tensor too large");
	}
	io->rank = rank;
	io->shape = lathe_arena_memdup(c->a, shape, sizeof(int64_t) * (size_t)(rank + 1));
	io->nbytes = (uint64_t)numel * lathe_dtype_size(io->dtype);
	return parse_name(c, p + 2, &io->name);
}

/* "conv 236027904 Conv+Relu /conv1/Conv" */
static lathe_err parse_step(const cursor *c, const char *s, lathe_module_step *st)
{
	const char *sp1 = strchr(s, ' ');
	const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	const char *sp3 = sp2 ? strchr(sp2 + 1, ' ') : NULL;
	if (!sp3 || sp1 == s || !isdigit((unsigned char)sp1[1]))
		return bad(c, "expected step KIND FLOPS OPS NODE");
	for (const char *p = s; p < sp1; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return bad(c, "a step's kind must be a word");
	char *end;
	errno = 0;
	unsigned long long fl = strtoull(sp1 + 1, &end, 10);
	if (errno || end != sp2)
		return bad(c, "a step's FLOPs must be a count");
	st->kind = lathe_arena_strndup(c->a, s, (size_t)(sp1 - s));
	st->flops = fl;
	LATHE_TRY(parse_name(c, lathe_arena_strndup(c->a, sp2 + 1, (size_t)(sp3 - sp2 - 1)),
			     &st->ops));
	return parse_name(c, sp3 + 1, &st->node);
}

lathe_err lathe_manifest_parse(lathe_arena *a, const char *text, size_t len, const char *what,
			       lathe_manifest *out)
{
	*out = (lathe_manifest){0};
	cursor c = {.a = a, .what = what, .line = 0};
	if (len > ((size_t)1 << 24))
		return lathe_error(LATHE_EINVAL, "%s: too large for a module manifest", what);
	if (memchr(text, 0, len))
		return lathe_error(LATHE_EINVAL, "%s: not a text file", what);
	/* Count inputs and outputs first, to size the arrays. */
	int nin = 0, nout = 0, nsteps = 0;
	for (size_t i = 0; i < len; i++) {
		if (i == 0 || text[i - 1] == '\n') {
			nin += len - i > 6 && !strncmp(text + i, "input ", 6);
			nout += len - i > 7 && !strncmp(text + i, "output ", 7);
			nsteps += len - i > 5 && !strncmp(text + i, "step ", 5);
		}
	}
	if (nin > MAX_IO || nout > MAX_IO)
		return lathe_error(LATHE_EINVAL, "%s: too many inputs or outputs", what);
	if (nsteps > MAX_STEPS)
		return lathe_error(LATHE_EINVAL, "%s: too many steps", what);
	out->in = lathe_arena_new(a, lathe_module_io, nin + 1);
	out->out = lathe_arena_new(a, lathe_module_io, nout + 1);
	out->steps = lathe_arena_new(a, lathe_module_step, nsteps + 1);
	bool have_magic = false, have_ws = false, have_w = false, have_lib = false;
	size_t i = 0;
	while (i < len) {
		size_t e = i;
		while (e < len && text[e] != '\n')
			e++;
		c.line++;
		char *line = lathe_arena_strndup(a, text + i, e - i);
		i = e + 1;
		if (!*line)
			continue;
		char *sp = strchr(line, ' ');
		if (!sp)
			return bad(&c, "expected KEY VALUE");
		*sp = 0;
		const char *key = line, *val = sp + 1;
		if (!have_magic) {
			if (strcmp(key, "lathe-module"))
				return lathe_error(LATHE_EINVAL, "%s: not a lathe module manifest "
						   "(no 'lathe-module' line)", what);
			if (strcmp(val, "1"))
				return bad(&c, "manifest version other than 1: compiled by a newer lathe?");
			have_magic = true;
		} else if (!strcmp(key, "name")) {
			out->name = lathe_arena_strdup(a, val);
		} else if (!strcmp(key, "library")) {
			out->library = strcmp(val, "-") ? lathe_arena_strdup(a, val) : NULL;
			have_lib = true;
		} else if (!strcmp(key, "weights")) {
			LATHE_TRY(parse_u64(&c, val, &out->weights_size));
			have_w = true;
		} else if (!strcmp(key, "workspace")) {
			LATHE_TRY(parse_u64(&c, val, &out->workspace_size));
			have_ws = true;
		} else if (!strcmp(key, "input")) {
			LATHE_TRY(parse_io(&c, val, &out->in[out->nin++]));
		} else if (!strcmp(key, "output")) {
			LATHE_TRY(parse_io(&c, val, &out->out[out->nout++]));
		} else if (!strcmp(key, "step")) {
			LATHE_TRY(parse_step(&c, val, &out->steps[out->nsteps++]));
		} else {
			return bad(&c, "unknown key");
		}
	}
	if (!have_magic)
		return lathe_error(LATHE_EINVAL, "%s: empty, not a module manifest", what);
	if (!out->name || !have_lib || !have_w || !have_ws || !out->nout)
		return lathe_error(LATHE_EINVAL, "%s: incomplete manifest (it needs name, library, "
				   "weights, workspace and at least one output)", what);
	for (const char *p = out->name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return lathe_error(LATHE_EINVAL, "%s: module name '%s' is not a C identifier",
					   what, out->name);
	return NULL;
}
