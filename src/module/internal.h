/* internal.h: what compile.c, emit.c, kernels.c and amalg.c share.
 *
 * A compilation builds a mod_unit: where every value lives at run time (a
 * caller's input or output buffer, an offset in the weights, an offset in
 * the workspace) and the steps NAME_run takes in order (a loop program, an
 * extern kernel call, or a copy).  emit.c prints a unit as C; amalg.c
 * turns the runtime sources lathe carries into one translation unit.
 *
 * Invariant: every value a step reads or writes has a place other than
 * PLACE_NONE before emission; offsets are multiples of MOD_ALIGN.
 */
#ifndef LATHE_MODULE_INTERNAL_H
#define LATHE_MODULE_INTERNAL_H

#include "module/module.h"
#include "ops/op.h"

enum { MOD_ALIGN = 64 };

enum mod_place_kind { PLACE_NONE, PLACE_INPUT, PLACE_OUTPUT, PLACE_WEIGHT, PLACE_WORK };

typedef struct mod_place {
	uint8_t kind;    /* enum mod_place_kind */
	uint32_t index;  /* INPUT, OUTPUT: position in the caller's array */
	uint64_t offset; /* WEIGHT, WORK: byte offset */
} mod_place;

enum mod_step_kind { STEP_FUNC, STEP_KERNEL, STEP_COPY };

typedef struct mod_step {
	uint8_t kind;        /* enum mod_step_kind */
	const char *label;   /* "node 'conv1' (Conv)", for comments */
	const char *symbol;  /* C name of the function this step calls */
	/* FUNC: the loop program; args[i] is the value of its parameter i.
	 * COPY: see below. */
	lathe_tir_func *fn;
	int nargs;
	lathe_vid *args;
	size_t scratch;          /* bytes of scratch the function wants */
	uint64_t scratch_offset; /* where it gets them in the workspace */
	int32_t node;            /* index of the step's first node; -1 for a final copy */
	/* KERNEL: a runtime kernel (rt_symbol) on in[] (LATHE_NOVAL: missing)
	 * and out[], with the parameters the op's kernel function packed. */
	const char *rt_symbol;
	int nin, nout;
	lathe_vid *in, *out;
	const int64_t *ip;
	const double *fp;
	const char *const *sp;
	int nip, nfp, nsp;
	/* COPY: args[0] into args[1], or into graph output out_index when
	 * args[1] is LATHE_NOVAL. */
	uint32_t out_index;
} mod_step;

typedef struct mod_unit {
	lathe_arena *arena;
	lathe_graph *g;
	const char *name;
	mod_place *place; /* one per value id */
	LATHE_VEC(mod_step) steps;
	LATHE_VEC(lathe_vid) weights;    /* constants in weights-file order */
	LATHE_VEC(const char *) rt_files; /* runtime sources the kernels need */
	uint64_t weights_size;
	uint64_t workspace_size; /* planned tensors + scratch */
	uint64_t tensors_size;   /* the part for tensors (the planner's and overflow) */
	lathe_manifest manifest;
} mod_unit;

/* Byte size of a value with a static tensor type. */
uint64_t mod_value_nbytes(const lathe_graph *g, lathe_vid v);
static inline uint64_t mod_align(uint64_t n)
{
	return (n + MOD_ALIGN - 1) / MOD_ALIGN * MOD_ALIGN;
}

/* ---- kernels.c ------------------------------------------------------------- */

/* Builds the KERNEL step of node n: asks the op's kernel function which
 * runtime kernel it calls and with which parameters, without running it. */
lathe_err mod_kernel_step(mod_unit *u, lathe_node *n, mod_step *out);
/* The runtime source file (under runtime/src) that defines a kernel. */
const char *mod_kernel_file(const char *rt_symbol);

/* ---- emit.c ----------------------------------------------------------------- */

/* NAME.h. */
void mod_emit_header(lathe_buf *b, const mod_unit *u);
/* The module's own code: loop programs, kernel calls, NAME_run (no
 * runtime sources; amalg.c adds those). */
lathe_err mod_emit_code(lathe_buf *b, const mod_unit *u);
/* weights.bin. */
lathe_err mod_write_weights(const char *path, const mod_unit *u);

/* ---- profile.c -------------------------------------------------------------- */

/* Fills u->manifest's steps (kind, FLOPs, ops, first node) from u->steps. */
void mod_profile_steps(mod_unit *u);

/* ---- prepack.c -------------------------------------------------------------- */

/* Runs a scheduled step's pack calls of constant weights now and binds the
 * packed weights as new constants (see the file). */
lathe_err mod_prepack(mod_unit *u, mod_step *st);

/* ---- amalg.c ---------------------------------------------------------------- */

/* One C translation unit: the runtime headers, the given runtime sources
 * (names under runtime/src, e.g. "dtype.c"; file-scope names that would
 * clash are renamed per file), then `code` with its includes of runtime
 * headers dropped.  Fails if a named source is not one lathe carries. */
lathe_err mod_amalgamate(lathe_buf *out, const char *const *rt_files, int n, const char *code);
/* The runtime sources every module needs (dtype conversions, thread pool). */
int mod_base_rt_files(const char **out, int cap);

#endif
