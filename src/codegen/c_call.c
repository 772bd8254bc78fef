/* c_call.c: the C emitter's `call` statements: a call of one of the
 * runtime's micro-kernels (runtime/include/lathe_rt_ukernel.h).
 *
 * A call becomes a block that gathers its arguments the way the kernel
 * takes them (element pointers with the number of elements left in their
 * buffers, integer and float parameters, the thread pool) and calls the
 * kernel by name; a kernel that refuses its arguments makes the function
 * return LATHE_RT_EINVAL, as a failed check does (the interpreter then
 * says why).  Offsets are computed, and checked when checks are on, before
 * anything is called.
 *
 * Where the kernels come from depends on what the C is for: a compiled
 * module links the runtime (or has its sources amalgamated in front), so
 * it calls them as external functions; code loaded at run time cannot
 * link the runtime, so with embed_ukernels the kernels' sources, which
 * lathe carries (src/module/embed.h), are pasted in front of the first
 * function that calls one, as static functions, once per file.
 */
#include <string.h>

#include "codegen/c_impl.h"
#include "module/embed.h"

static const char *const uk_sources[] = {
	"runtime/src/ukernel.c",
	"runtime/src/ukernel_isa.c",
	"runtime/src/ukernel_plane.c",
	"runtime/src/ukernel_dw.c",
	"runtime/src/ukernel_gemv.c",
	"runtime/src/ukernel_pool.c",
	"runtime/src/ukernel_rows.c",
	"runtime/src/ukernel_wino.c",
};

static const char *embedded(const char *path)
{
	for (int i = 0; i < lathe_rt_nembedded; i++)
		if (!strcmp(lathe_rt_embedded[i].path, path))
			return lathe_rt_embedded[i].text;
	return NULL;
}

/* text without its lines that include lathe_rt_ukernel.h. */
static void put_source(lathe_buf *out, const char *text)
{
	for (const char *p = text; *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		bool drop = n > 8 && !strncmp(p, "#include", 8) && memmem(p, n, "\"lathe_rt_ukernel.h\"", 20);
		if (!drop)
			lathe_buf_printf(out, "%.*s\n", (int)n, p);
		p += n + (e ? 1 : 0);
	}
}

lathe_err cg_ukernel_source(lathe_buf *out)
{
	const char *hdr = embedded("runtime/include/lathe_rt_ukernel.h");
	if (!hdr)
		return lathe_error(LATHE_EINTERNAL, "the micro-kernels' header is not built into lathe");
	lathe_buf_puts(out, "#ifndef LC_UKERNELS\n#define LC_UKERNELS\n"
		       "/* The runtime's micro-kernels, as static functions. */\n"
		       "#define LATHE_RT_UK_API static __attribute__((unused, noinline))\n");
	put_source(out, hdr);
	for (size_t i = 0; i < sizeof uk_sources / sizeof *uk_sources; i++) {
		const char *t = embedded(uk_sources[i]);
		if (!t)
			return lathe_error(LATHE_EINTERNAL, "%s is not built into lathe", uk_sources[i]);
		lathe_buf_printf(out, "/* ---- %s ---- */\n", uk_sources[i]);
		put_source(out, t);
	}
	lathe_buf_puts(out, "#endif /* LC_UKERNELS */\n\n");
	return NULL;
}

bool cg_func_has_call(const lathe_tir_stmt *s)
{
	if (!s)
		return false;
	switch (s->kind) {
	case LATHE_TIR_S_CALL:
		return true;
	case LATHE_TIR_S_SEQ:
		for (int32_t i = 0; i < s->n; i++)
			if (cg_func_has_call(s->stmts[i]))
				return true;
		return false;
	case LATHE_TIR_S_IF:
		return cg_func_has_call(s->body) || cg_func_has_call(s->orelse);
	case LATHE_TIR_S_FOR: case LATHE_TIR_S_LET:
		return cg_func_has_call(s->body);
	}
	return false;
}

void cg_call(cg *c, const lathe_tir_stmt *s)
{
	int np = 0, ni = 0, nf = 0;
	for (int32_t i = 0; i < s->nargs; i++) {
		const lathe_tir_arg *a = &s->args[i];
		if (a->kind != LATHE_TIR_ARG_VALUE)
			np++;
		else if (a->value->dtype == LATHE_DT_F64)
			nf++;
		else
			ni++;
	}
	cg_line(c, "{ /* call @%s */", s->callee);
	c->fn->indent++;
	bool fails = false;
	for (int32_t i = 0; i < s->nargs; i++) {
		const lathe_tir_arg *a = &s->args[i];
		if (a->kind == LATHE_TIR_ARG_VALUE) {
			fails |= cg_may_fail(c, a->value);
			continue;
		}
		for (int k = 0; k < a->buf->rank; k++)
			fails |= cg_checked(c, a->idx[k]) || cg_may_fail(c, a->idx[k]);
	}
	/* Offsets first: a failed check stops before the call. */
	int p = 0;
	for (int32_t i = 0; i < s->nargs; i++) {
		const lathe_tir_arg *a = &s->args[i];
		if (a->kind == LATHE_TIR_ARG_VALUE)
			continue;
		cg_indent(c);
		cg_printf(c, "const int64_t o%d_ = ", p++);
		cg_offset(c, a->buf, a->idx);
		cg_put(c, ";\n");
	}
	if (fails) {
		cg_line(c, "if (LC_UNLIKELY(err_))");
		cg_line(c, "\tgoto fail_;");
		c->fn->err_used = true;
		c->fn->fail_used = true;
	}
	cg_indent(c);
	cg_put(c, "void *const p_[] = {");
	p = 0;
	for (int32_t i = 0; i < s->nargs; i++) {
		const lathe_tir_arg *a = &s->args[i];
		if (a->kind == LATHE_TIR_ARG_VALUE)
			continue;
		const char *name = cg_bufname(c, a->buf);
		if (c->b[a->buf->id].storage == CG_AUTO)
			cg_printf(c, "%s(void *)&%s", p ? ", " : "", name);
		else
			cg_printf(c, "%s(void *)&%s[o%d_]", p ? ", " : "", name, p);
		p++;
	}
	cg_put(c, "};\n");
	cg_indent(c);
	cg_put(c, "const int64_t n_[] = {");
	p = 0;
	for (int32_t i = 0; i < s->nargs; i++) {
		const lathe_tir_arg *a = &s->args[i];
		if (a->kind == LATHE_TIR_ARG_VALUE)
			continue;
		cg_printf(c, "%s%lld - o%d_", p ? ", " : "", (long long)c->b[a->buf->id].numel, p);
		p++;
	}
	cg_put(c, "};\n");
	cg_indent(c);
	cg_put(c, "const int64_t i_[] = {");
	int k = 0;
	for (int32_t i = 0; i < s->nargs; i++) {
		const lathe_tir_arg *a = &s->args[i];
		if (a->kind != LATHE_TIR_ARG_VALUE || a->value->dtype == LATHE_DT_F64)
			continue;
		cg_put(c, k++ ? ", " : "");
		cg_expr(c, a->value);
	}
	cg_put(c, ni ? "};\n" : "0};\n");
	cg_indent(c);
	cg_put(c, "const double f_[] = {");
	k = 0;
	for (int32_t i = 0; i < s->nargs; i++) {
		const lathe_tir_arg *a = &s->args[i];
		if (a->kind != LATHE_TIR_ARG_VALUE || a->value->dtype != LATHE_DT_F64)
			continue;
		cg_put(c, k++ ? ", " : "");
		cg_expr(c, a->value);
	}
	cg_put(c, nf ? "};\n" : "0};\n");
	/* A call inside an outlined parallel body runs serially. */
	const char *pool = c->fn->par < 0 ? "pool" : "NULL";
	if (c->fn->par < 0)
		c->fn->pool_used = true;
	cg_line(c, "const lathe_rt_uk_args u_ = {%s, p_, n_, %d, i_, %d, f_, %d, NULL, 0};", pool, np,
		ni, nf);
	cg_line(c, "if (LC_UNLIKELY(lathe_rt_uk_%s(&u_) != 0))", s->callee);
	cg_line(c, "\tgoto fail_;");
	c->fn->fail_used = true;
	c->fn->indent--;
	cg_line(c, "}");
}
