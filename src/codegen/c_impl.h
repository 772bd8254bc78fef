/* c_impl.h: what the C emitter's files (c.c, c_vec.c) share; not a public
 * header.
 *
 * Emission has two passes.  The plan (c.c: plan_func) decides where every
 * local lives and lays out the scratch area; lathe_codegen_scratch_size
 * runs only this pass.  Then statements are printed into one C function at
 * a time (a cg_fn): the main function, or the outlined body of a parallel
 * loop, which is printed into its own cg_fn and prepended to the output.
 * A function's declarations are written last, once its body shows which
 * buffers and flags it uses.
 */
#ifndef LATHE_CODEGEN_C_IMPL_H
#define LATHE_CODEGEN_C_IMPL_H

#include "codegen/codegen.h"

/* Where a buffer lives in the generated code. */
enum cg_storage {
	CG_PARAM,   /* args[i] */
	CG_SCRATCH, /* function-level local at an offset of the scratch area */
	CG_PRIV,    /* array local private to one parallel loop: per-task slot */
	CG_AUTO,    /* one-element local: a C variable (in main or in the outlined body) */
};

typedef struct cg_buf {
	uint8_t storage;   /* enum cg_storage */
	int32_t par;       /* PRIV, AUTO: owning parallel loop, -1 for main */
	int32_t seen;      /* plan: -2 never accessed, -1 accessed in main, k only inside par k */
	bool in_par;       /* plan: accessed inside some parallel loop */
	bool part;         /* plan: always indexed [par var, ...] in its parallel loop */
	bool written;
	bool scratch_only; /* plan: every access is a call's SCRATCH argument (never zeroed) */
	int64_t numel;
	int64_t *stride;   /* elements */
	size_t off;        /* SCRATCH: in the area; PRIV: in the owner's slot */
	const char *cname;
} cg_buf;

typedef struct cg_par {
	const lathe_tir_stmt *loop;
	bool tasks;        /* has private arrays: runs as ntasks tasks, one slot each */
	int64_t ntasks;
	size_t slot, off;  /* bytes per task slot; offset of slot 0 */
} cg_par;

typedef struct cg_var {
	const char *cname;
	bool tainted;  /* value depends on loaded data */
	bool in_scope;
	bool varying;  /* vector mode: holds a vector */
} cg_var;

/* One C function being printed. */
typedef struct cg_fn {
	lathe_buf body;
	bool *used;    /* per buffer */
	bool err_used;  /* reads or sets err_ (declare it) */
	bool fail_used; /* jumps to fail_ (print the label) */
	bool pool_used;
	int par;       /* -1: the main function; else the parallel loop printed */
	int indent;
} cg_fn;

typedef struct cg {
	const lathe_tir_func *f;
	lathe_codegen_opts o;
	const char *sym;
	lathe_arena *a;
	cg_buf *b;
	cg_var *v;
	LATHE_VEC(cg_par) pars;
	size_t fn_scratch;   /* bytes of function-level locals */
	size_t scratch_size; /* everything */
	lathe_buf pre;       /* outlined functions and their ctx structs */
	cg_fn *fn;
	/* Vector mode (c_vec.c): the loop variable and lane count. */
	const lathe_tir_var *vvar;
	int lanes;
	lathe_err err;
} cg;

/* ---- c_expr.c: printing helpers and expressions ------------------------------ */

void cg_line(cg *c, const char *fmt, ...) LATHE_PRINTF(2, 3);
void cg_put(cg *c, const char *s);
void cg_printf(cg *c, const char *fmt, ...) LATHE_PRINTF(2, 3);
void cg_indent(cg *c);
/* Whether e depends on loaded data; whether an index of it is checked. */
bool cg_tainted(cg *c, const lathe_tir_expr *e);
bool cg_checked(cg *c, const lathe_tir_expr *idx);
bool cg_const_int(const lathe_tir_expr *e, int64_t *v);
/* Element type of a buffer in memory (params: the unaligned forms). */
const char *cg_mem_type(int dtype, bool param);
/* An access as a C lvalue of the memory type. */
void cg_access(cg *c, const lathe_tir_buf *b, lathe_tir_expr *const *idx);
/* `value` (C text) converted to b's memory representation. */
void cg_stored_value(cg *c, const lathe_tir_buf *b, const char *value);
/* A scalar expression. */
void cg_expr(cg *c, const lathe_tir_expr *e);
/* The flat element offset of an access (scalar loop variables). */
void cg_offset(cg *c, const lathe_tir_buf *b, lathe_tir_expr *const *idx);
/* The C lvalue base of buffer b (marks it used): "b3_acc". */
const char *cg_bufname(cg *c, const lathe_tir_buf *b);
/* ---- c.c ---------------------------------------------------------------------- */

/* A statement in scalar form. */
void cg_stmt(cg *c, const lathe_tir_stmt *s);
/* Whether evaluating e can set err_ (checked index, integer division). */
bool cg_may_fail(cg *c, const lathe_tir_expr *e);
/* Whether e reads variable v (directly or through a varying let). */
bool cg_uses_var(const lathe_tir_expr *e, const lathe_tir_var *v);
/* C value type of a dtype: "float", "int8_t", ... */
const char *cg_ctype(int dtype);

/* ---- c_call.c ----------------------------------------------------------------- */

/* A call of a runtime micro-kernel. */
void cg_call(cg *c, const lathe_tir_stmt *s);
/* Whether s contains a call. */
bool cg_func_has_call(const lathe_tir_stmt *s);
/* The micro-kernels' sources as static functions, guarded (embed_ukernels). */
lathe_err cg_ukernel_source(lathe_buf *out);

/* ---- c_vec.c ------------------------------------------------------------------ */

/* Prints a vectorized loop as vector code (plus a scalar remainder) if its
 * body allows; returns false, having printed nothing, if it does not. */
bool cg_vec_loop(cg *c, const lathe_tir_stmt *loop);

#endif
