/* emit.c: prints a compiled module as C: the generated header NAME.h, the
 * module's code (loop programs from the C backend, extern kernel calls and
 * NAME_run) and the weights file.
 *
 * NAME_run is straight-line code: one block per step, calling the step's
 * function with pointers computed from the caller's buffers and planned
 * offsets.  It allocates nothing and keeps no state: two threads may run
 * one module at once on different workspaces.  The header depends on
 * nothing but <stddef.h> and <stdint.h>, so a program using a module never
 * needs a lathe header.
 *
 * Invariant (from compile.c): every value a step touches has a place.
 */
#include "module/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"

/* s as a C string literal (trigraph-safe, octal escapes for the rest). */
static void put_cstr(lathe_buf *b, const char *s)
{
	lathe_buf_puts(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == '?')
			lathe_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			lathe_buf_puts(b, "\\n");
		else if (*p < 32 || *p >= 127)
			lathe_buf_printf(b, "\\%03o", *p);
		else
			lathe_buf_printf(b, "%c", *p);
	}
	lathe_buf_puts(b, "\"");
}

/* A comment-safe copy of a name (no "*" + "/" sequences, printable). */
static void put_comment_text(lathe_buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 32 || *p >= 127 || (*p == '*' && p[1] == '/') || (*p == '/' && p[1] == '*'))
			lathe_buf_puts(b, "?");
		else
			lathe_buf_printf(b, "%c", *p);
	}
}

static void put_upper(lathe_buf *b, const char *s)
{
	for (; *s; s++)
		lathe_buf_printf(b, "%c", toupper((unsigned char)*s));
}

static void put_shape(lathe_buf *b, const lathe_module_io *io, const char *open, const char *close)
{
	lathe_buf_puts(b, open);
	for (int d = 0; d < io->rank; d++)
		lathe_buf_printf(b, "%s%lld", d ? ", " : "", (long long)io->shape[d]);
	if (io->rank == 0)
		lathe_buf_puts(b, "1");
	lathe_buf_puts(b, close);
}

static bool is_ident(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static void header_io(lathe_buf *b, const char *N, const char *kind, int i,
		      const lathe_module_io *io, bool alias)
{
	int64_t numel = 1;
	for (int d = 0; d < io->rank; d++)
		numel *= io->shape[d];
	lathe_buf_printf(b, "/* %s %d '", !strcmp(kind, "INPUT") ? "input" : "output", i);
	put_comment_text(b, io->name);
	lathe_buf_printf(b, "': %s", lathe_dtype_name(io->dtype));
	put_shape(b, io, "[", "]");
	lathe_buf_puts(b, " */\n");
	lathe_buf_printf(b, "#define %s_%s_%d_NAME ", N, kind, i);
	put_cstr(b, io->name);
	lathe_buf_printf(b, "\n#define %s_%s_%d_DTYPE %d /* %s (ONNX TensorProto data type) */\n", N,
			 kind, i, io->dtype, lathe_dtype_name(io->dtype));
	lathe_buf_printf(b, "#define %s_%s_%d_RANK %d\n", N, kind, i, io->rank);
	lathe_buf_printf(b, "#define %s_%s_%d_SHAPE ", N, kind, i);
	put_shape(b, io, "{", "}");
	lathe_buf_printf(b, "%s\n", io->rank ? "" : " /* a scalar */");
	lathe_buf_printf(b, "#define %s_%s_%d_NUMEL ((size_t)%lld)\n", N, kind, i, (long long)numel);
	lathe_buf_printf(b, "#define %s_%s_%d_SIZE ((size_t)%llu) /* bytes */\n", N, kind, i,
			 (unsigned long long)io->nbytes);
	if (alias)
		lathe_buf_printf(b, "#define %s_%s_%s %d\n", N, kind, io->name, i);
	lathe_buf_puts(b, "\n");
}

/* Names usable as macro suffixes: identifiers, unique among inputs and outputs. */
static bool io_alias_ok(const lathe_module_io *ios, int n, int i)
{
	if (!is_ident(ios[i].name) || strlen(ios[i].name) > 64)
		return false;
	for (int k = 0; k < n; k++)
		if (k != i && !strcmp(ios[k].name, ios[i].name))
			return false;
	return true;
}

/* The same facts as initializer lists, for loops over inputs or outputs:
 * static const size_t sizes[] = NAME_INPUT_SIZES; */
static void put_io_lists(lathe_buf *b, const char *N, const char *kind, const lathe_module_io *ios,
			 int n)
{
	static const char *const what[] = {"NAMES", "DTYPES", "RANKS", "NUMELS", "SIZES"};
	for (int w = 0; w < 5; w++) {
		lathe_buf_printf(b, "#define %s_%s_%s {", N, kind, what[w]);
		for (int i = 0; i < n; i++) {
			const lathe_module_io *io = &ios[i];
			int64_t numel = 1;
			for (int d = 0; d < io->rank; d++)
				numel *= io->shape[d];
			lathe_buf_puts(b, i ? ", " : "");
			if (w == 0)
				put_cstr(b, io->name);
			else if (w == 1)
				lathe_buf_printf(b, "%d", io->dtype);
			else if (w == 2)
				lathe_buf_printf(b, "%d", io->rank);
			else
				lathe_buf_printf(b, "%llu", w == 3 ? (unsigned long long)numel
								   : (unsigned long long)io->nbytes);
		}
		lathe_buf_puts(b, n ? "}\n" : "0} /* none */\n");
	}
}

void mod_emit_header(lathe_buf *b, const mod_unit *u)
{
	const lathe_manifest *m = &u->manifest;
	const char *n = u->name;
	/* Macros carry the name as it is, like NAME_run: a program that knows
	 * the name can paste both. */
	const char *N = n;
	lathe_buf up = {0};
	put_upper(&up, n);
	lathe_buf_printf(b, "/* %s.h: the interface of module '%s', generated by lathe; do not "
			 "edit.\n", n, n);
	lathe_buf_printf(b,
		" *\n"
		" * int %s_run(weights, inputs, outputs, workspace, pool) runs the model once:\n"
		" *   weights    the contents of weights.bin (%s_WEIGHTS_SIZE bytes, %d-byte aligned);\n"
		" *   inputs     one pointer per input, in the order below, to dense row-major\n"
		" *              data of the input's type and shape (%s_INPUT_i_SIZE bytes);\n"
		" *   outputs    one pointer per output, likewise, written by the call;\n"
		" *   workspace  %s_WORKSPACE_SIZE bytes, %d-byte aligned, for intermediate\n"
		" *              tensors (its contents need not survive between calls);\n"
		" *   pool       a thread pool from lathe_rt_pool_create(n), or NULL for one thread.\n"
		" * It allocates nothing and keeps no state: calls on different workspaces may\n"
		" * run at once.  Returns 0, or a non-zero code if the data is invalid for the\n"
		" * model (1: e.g. an index out of range) or an extern kernel failed (2: out of\n"
		" * memory, 3: unsupported).\n"
		" */\n", n, N, MOD_ALIGN, N, N, MOD_ALIGN);
	lathe_buf_printf(b, "#ifndef LATHE_MODULE_%s_H\n#define LATHE_MODULE_%s_H\n\n"
			 "#include <stddef.h>\n#include <stdint.h>\n\n", up.data, up.data);
	lathe_buf_puts(b, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
	lathe_buf_puts(b, "/* The runtime's thread pool (declared alike in lathe_rt.h): workers sleep\n"
		       " * while idle; nthreads <= 1 runs everything on the calling thread. */\n"
		       "typedef struct lathe_rt_pool lathe_rt_pool;\n"
		       "lathe_rt_pool *lathe_rt_pool_create(int nthreads);\n"
		       "void lathe_rt_pool_destroy(lathe_rt_pool *pool);\n\n");
	lathe_buf_printf(b, "#define %s_NUM_INPUTS %d\n#define %s_NUM_OUTPUTS %d\n", N, m->nin, N,
			 m->nout);
	lathe_buf_printf(b, "#define %s_WORKSPACE_SIZE ((size_t)%llu)\n", N,
			 (unsigned long long)m->workspace_size);
	lathe_buf_printf(b, "#define %s_WEIGHTS_SIZE ((size_t)%llu)\n", N,
			 (unsigned long long)m->weights_size);
	lathe_buf_printf(b, "#define %s_ALIGNMENT %d\n\n", N, MOD_ALIGN);
	put_io_lists(b, N, "INPUT", m->in, m->nin);
	put_io_lists(b, N, "OUTPUT", m->out, m->nout);
	lathe_buf_puts(b, "\n");
	for (int i = 0; i < m->nin; i++)
		header_io(b, N, "INPUT", i, &m->in[i], io_alias_ok(m->in, m->nin, i));
	for (int i = 0; i < m->nout; i++)
		header_io(b, N, "OUTPUT", i, &m->out[i], io_alias_ok(m->out, m->nout, i));
	lathe_buf_printf(b, "int %s_run(const void *weights, void *const *inputs, void *const *outputs,\n"
			 "\t%*svoid *workspace, lathe_rt_pool *pool);\n\n", n, (int)strlen(n), "");
	lathe_buf_printf(b, "/* For profilers: %s_run, calling hook(hook_ctx, k) just before step k\n"
			 " * (module.txt lists the %d steps) and hook(hook_ctx, %d) after the last. */\n"
			 "int %s_run_hooked(const void *weights, void *const *inputs,\n"
			 "\t%*s       void *const *outputs, void *workspace, lathe_rt_pool *pool,\n"
			 "\t%*s       void (*hook)(void *ctx, int step), void *hook_ctx);\n\n",
			 n, (int)u->steps.len, (int)u->steps.len, n, (int)strlen(n), "",
			 (int)strlen(n), "");
	lathe_buf_puts(b, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
	lathe_buf_free(&up);
}

/* ---- the module's code -------------------------------------------------------- */

static void put_ptr(lathe_buf *b, const mod_unit *u, lathe_vid v)
{
	const mod_place *p = &u->place[v];
	switch (p->kind) {
	case PLACE_INPUT:
		lathe_buf_printf(b, "inputs[%u]", p->index);
		break;
	case PLACE_OUTPUT:
		lathe_buf_printf(b, "outputs[%u]", p->index);
		break;
	case PLACE_WEIGHT:
		lathe_buf_printf(b, "(void *)(w + %llu)", (unsigned long long)p->offset);
		break;
	case PLACE_WORK:
		lathe_buf_printf(b, "(void *)(ws + %llu)", (unsigned long long)p->offset);
		break;
	default:
		LATHE_ASSERT(!"value without a place");
	}
}

static void put_tensor(lathe_buf *b, const mod_unit *u, lathe_vid v, int k, const char *shape_var)
{
	if (v == LATHE_NOVAL) {
		lathe_buf_puts(b, "\t\t{0, 0, NULL, NULL},\n");
		return;
	}
	const lathe_type *t = &u->g->values.data[v].type;
	lathe_buf_printf(b, "\t\t{%d, %d, %s%d, ", t->dtype, t->rank, shape_var, k);
	put_ptr(b, u, v);
	lathe_buf_puts(b, "},\n");
}

static void put_shapes(lathe_buf *b, const mod_unit *u, const lathe_vid *vs, int n,
		       const char *prefix)
{
	for (int k = 0; k < n; k++) {
		if (vs[k] == LATHE_NOVAL)
			continue;
		const lathe_type *t = &u->g->values.data[vs[k]].type;
		lathe_buf_printf(b, "\tint64_t %s%d[%d] = {", prefix, k, t->rank ? t->rank : 1);
		for (int d = 0; d < t->rank; d++)
			lathe_buf_printf(b, "%s%lld", d ? ", " : "", (long long)t->dims[d].size);
		lathe_buf_printf(b, "%s};\n", t->rank ? "" : "0");
	}
}

static void put_double(lathe_buf *b, double v)
{
	if (isnan(v))
		lathe_buf_puts(b, "NAN");
	else if (isinf(v))
		lathe_buf_puts(b, v < 0 ? "-INFINITY" : "INFINITY");
	else
		lathe_buf_printf(b, "%a", v);
}

/* The wrapper that calls runtime kernel `st` on planned buffers. */
static void emit_kernel(lathe_buf *b, const mod_unit *u, const mod_step *st)
{
	lathe_buf_printf(b, "/* %s: the runtime kernel %s */\n", st->label, st->rt_symbol);
	lathe_buf_printf(b, "static int %s(const char *w, void *const *inputs, void *const *outputs,"
			 " char *ws)\n{\n", st->symbol);
	lathe_buf_puts(b, "\t(void)w, (void)inputs, (void)outputs, (void)ws;\n");
	put_shapes(b, u, st->in, st->nin, "si");
	put_shapes(b, u, st->out, st->nout, "so");
	lathe_buf_printf(b, "\tlathe_tensor in[%d] = {\n", st->nin ? st->nin : 1);
	for (int k = 0; k < st->nin; k++)
		put_tensor(b, u, st->in[k], k, "si");
	if (!st->nin)
		lathe_buf_puts(b, "\t\t{0, 0, NULL, NULL},\n");
	lathe_buf_printf(b, "\t};\n\tlathe_tensor out[%d] = {\n", st->nout ? st->nout : 1);
	for (int k = 0; k < st->nout; k++)
		put_tensor(b, u, st->out[k], k, "so");
	if (!st->nout)
		lathe_buf_puts(b, "\t\t{0, 0, NULL, NULL},\n");
	lathe_buf_puts(b, "\t};\n");
	if (st->nip) {
		lathe_buf_puts(b, "\tstatic const int64_t ip[] = {");
		for (int k = 0; k < st->nip; k++)
			lathe_buf_printf(b, "%s%lldLL", k ? ", " : "", (long long)st->ip[k]);
		lathe_buf_puts(b, "};\n");
	}
	if (st->nfp) {
		lathe_buf_puts(b, "\tstatic const double fp[] = {");
		for (int k = 0; k < st->nfp; k++) {
			lathe_buf_puts(b, k ? ", " : "");
			put_double(b, st->fp[k]);
		}
		lathe_buf_puts(b, "};\n");
	}
	if (st->nsp) {
		lathe_buf_puts(b, "\tstatic const char *const sp[] = {");
		for (int k = 0; k < st->nsp; k++) {
			lathe_buf_puts(b, k ? ", " : "");
			put_cstr(b, st->sp[k]);
		}
		lathe_buf_puts(b, "};\n");
	}
	lathe_buf_printf(b, "\tlathe_rt_call call = {.in = in, .nin = %d, .out = out, .nout = %d,\n",
			 st->nin, st->nout);
	lathe_buf_printf(b, "\t\t.ip = %s, .nip = %d, .fp = %s, .nfp = %d, .sp = %s, .nsp = %d,\n",
			 st->nip ? "ip" : "NULL", st->nip, st->nfp ? "fp" : "NULL", st->nfp,
			 st->nsp ? "sp" : "NULL", st->nsp);
	lathe_buf_puts(b, "\t\t.alloc = lathe_alloc_planned};\n");
	lathe_buf_printf(b, "\treturn %s(&call);\n}\n\n", st->rt_symbol);
}

static const char alloc_planned[] =
	"/* Extern kernels get their outputs allocated at planned places; asking for\n"
	" * any other shape is an error, never an allocation. */\n"
	"static int lathe_alloc_planned(lathe_rt_call *c, int i, int32_t dtype, int32_t rank,\n"
	"\t\t\t       const int64_t *shape)\n"
	"{\n"
	"\tif (i < 0 || i >= c->nout)\n"
	"\t\treturn LATHE_RT_EINVAL;\n"
	"\tconst lathe_tensor *t = &c->out[i];\n"
	"\tint same = t->dtype == dtype && t->rank == rank;\n"
	"\tfor (int32_t d = 0; same && d < rank; d++)\n"
	"\t\tsame = t->shape[d] == shape[d];\n"
	"\tif (!same) {\n"
	"\t\tstrcpy(c->err, \"the kernel's output shape differs from the planned one\");\n"
	"\t\treturn LATHE_RT_EINVAL;\n"
	"\t}\n"
	"\treturn LATHE_RT_OK;\n"
	"}\n\n";

/* NAME_run_hooked holds the steps; NAME_run is it without a hook.  The
 * hook (profilers: `lathe bench --profile`) is called with each step's
 * index before the step and with the step count after the last; a NULL
 * hook costs one test per step. */
static void emit_run(lathe_buf *b, const mod_unit *u)
{
	int pad = (int)strlen(u->name);
	lathe_buf_printf(b, "int %s_run_hooked(const void *weights, void *const *inputs,\n"
			 "\t%*s       void *const *outputs, void *workspace, lathe_rt_pool *pool,\n"
			 "\t%*s       void (*hook)(void *ctx, int step), void *hook_ctx)\n{\n",
			 u->name, pad, "", pad, "");
	lathe_buf_puts(b, "\tconst char *w = (const char *)weights;\n"
		       "\tchar *ws = (char *)workspace;\n");
	lathe_buf_puts(b, "\tint rc = 0;\n"
		       "\t(void)w, (void)ws, (void)inputs, (void)outputs, (void)pool;\n");
	for (size_t s = 0; s < u->steps.len; s++) {
		const mod_step *st = &u->steps.data[s];
		lathe_buf_puts(b, "\t/* ");
		put_comment_text(b, st->label);
		lathe_buf_puts(b, " */\n");
		lathe_buf_printf(b, "\tif (hook)\n\t\thook(hook_ctx, %zu);\n", s);
		switch (st->kind) {
		case STEP_FUNC:
			lathe_buf_puts(b, "\t{\n\t\tvoid *a[] = {");
			for (int i = 0; i < st->nargs; i++) {
				put_ptr(b, u, st->args[i]);
				lathe_buf_puts(b, ", ");
			}
			/* The scratch area (a pointer even when empty). */
			lathe_buf_printf(b, "(void *)(ws + %llu)};\n\t\tif ((rc = %s(a, pool)) != 0)\n"
					 "\t\t\treturn rc;\n\t}\n",
					 (unsigned long long)st->scratch_offset, st->symbol);
			break;
		case STEP_KERNEL:
			lathe_buf_printf(b, "\tif ((rc = %s(w, inputs, outputs, ws)) != 0)\n"
					 "\t\treturn rc;\n", st->symbol);
			break;
		case STEP_COPY: {
			uint64_t nb = mod_value_nbytes(u->g, st->args[0]);
			if (!nb)
				break;
			lathe_buf_puts(b, "\tmemcpy(");
			if (st->args[1] == LATHE_NOVAL)
				lathe_buf_printf(b, "outputs[%u]", st->out_index);
			else
				put_ptr(b, u, st->args[1]);
			lathe_buf_puts(b, ", ");
			put_ptr(b, u, st->args[0]);
			lathe_buf_printf(b, ", %llu);\n", (unsigned long long)nb);
			break;
		}
		}
	}
	lathe_buf_printf(b, "\tif (hook)\n\t\thook(hook_ctx, %zu);\n", u->steps.len);
	lathe_buf_puts(b, "\treturn rc;\n}\n\n");
	lathe_buf_printf(b, "int %s_run(const void *weights, void *const *inputs, void *const *outputs,\n"
			 "\t%*svoid *workspace, lathe_rt_pool *pool)\n{\n", u->name, pad, "");
	lathe_buf_printf(b, "\treturn %s_run_hooked(weights, inputs, outputs, workspace, pool, NULL, "
			 "NULL);\n}\n", u->name);
}

lathe_err mod_emit_code(lathe_buf *b, const mod_unit *u)
{
	lathe_buf_printf(b, "/* %s.c: module '%s', generated by lathe; do not edit.\n", u->name,
			 u->name);
	lathe_buf_printf(b, " * %s.h describes how to call %s_run. */\n", u->name, u->name);
	lathe_buf_printf(b, "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n"
			 "#include <string.h>\n\n#include \"lathe_rt.h\"\n#include \"%s.h\"\n\n",
			 u->name);
	lathe_codegen_c_prelude(b);
	lathe_buf_puts(b, "\n");
	bool any_kernel = false;
	for (size_t s = 0; s < u->steps.len; s++) {
		const mod_step *st = &u->steps.data[s];
		if (st->kind == STEP_FUNC) {
			lathe_buf_puts(b, "/* ");
			put_comment_text(b, st->label);
			lathe_buf_puts(b, " */\n");
			LATHE_TRYF(lathe_codegen_c_func(b, st->fn, st->symbol), "%s", st->label);
			lathe_buf_puts(b, "\n");
		} else if (st->kind == STEP_KERNEL) {
			if (!any_kernel)
				lathe_buf_puts(b, alloc_planned);
			any_kernel = true;
			emit_kernel(b, u, st);
		}
	}
	/* The manifest, so that a loader can tell this library from another. */
	lathe_buf man = {0};
	lathe_manifest_print(&man, &u->manifest);
	lathe_buf_printf(b, "const char %s_manifest[] =", u->name);
	for (const char *p = man.data; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p + 1) : strlen(p);
		char *line = lathe_xmalloc(n + 1);
		memcpy(line, p, n);
		line[n] = 0;
		lathe_buf_puts(b, "\n\t");
		put_cstr(b, line);
		free(line);
		p += n;
	}
	lathe_buf_puts(b, man.len ? ";\n\n" : " \"\";\n\n");
	lathe_buf_free(&man);
	emit_run(b, u);
	return NULL;
}

lathe_err mod_write_weights(const char *path, const mod_unit *u)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return lathe_error(LATHE_EIO, "cannot write %s: %s", tmp, strerror(errno));
	static const char zeros[MOD_ALIGN];
	uint64_t at = 0;
	bool ok = true;
	for (size_t i = 0; ok && i < u->weights.len; i++) {
		lathe_vid v = u->weights.data[i];
		const lathe_tensor *t = u->g->values.data[v].konst;
		uint64_t off = u->place[v].offset;
		LATHE_ASSERT(off >= at && off - at < MOD_ALIGN);
		ok = off == at || fwrite(zeros, 1, off - at, f) == off - at;
		size_t nb = lathe_tensor_nbytes(t);
		LATHE_ASSERT(nb == mod_value_nbytes(u->g, v));
		ok = ok && (nb == 0 || fwrite(t->data, 1, nb, f) == nb);
		at = off + nb;
	}
	if (ok && at < u->weights_size)
		ok = fwrite(zeros, 1, u->weights_size - at, f) == u->weights_size - at;
	ok &= fclose(f) == 0;
	if (!ok) {
		remove(tmp);
		return lathe_error(LATHE_EIO, "cannot write %s: %s", tmp, strerror(errno));
	}
	if (rename(tmp, path)) {
		remove(tmp);
		return lathe_error(LATHE_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	}
	return NULL;
}
