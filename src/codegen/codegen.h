/* codegen.h: the C backend: loop IR in, C source and shared libraries out.
 *
 * lathe_codegen_c_func prints one loop-IR function as C with the same
 * meaning as the interpreter (src/tir/interp.c, the reference): integer
 * arithmetic wraps, floats round to their type after every operation,
 * f16 / bf16 / float8 values convert exactly as the runtime does, and an
 * integer division by zero or an out-of-bounds data-dependent index makes
 * the function return LATHE_RT_EINVAL instead of trapping or reading out of
 * bounds.  Loops marked vectorized become GCC vector-extension code where
 * the body allows it, unrolled loops carry an unroll pragma, and parallel
 * loops run on a lathe_rt_pool.  Every generated file starts with
 * lathe_codegen_c_prelude; the result needs libc and libm only.
 * docs/c-backend.md describes the generated code.
 *
 * lathe_codegen_cc_shared runs the system C compiler.  The JIT that runs a
 * graph through compiled code is in codegen/jit.h.
 */
#ifndef LATHE_CODEGEN_H
#define LATHE_CODEGEN_H

#include "tir/tir.h"

typedef struct lathe_codegen_opts {
	/* Bounds-check every load and store, not only those whose index
	 * depends on loaded data (a debugging aid; slower). */
	bool check_all;
	/* Bytes of the vectors a vectorized loop uses when its extent is not
	 * itself a small power of two: 16, 32 or 64 (0: 32). */
	int vector_bytes;
	/* Calls of the runtime's micro-kernels (loop IR `call`) reach them by
	 * name.  A module links the runtime, so they are external functions;
	 * code that is loaded at run time cannot, so with this set the
	 * kernels' sources are pasted in front of the first function that
	 * calls one (once per file, as static functions). */
	bool embed_ukernels;
} lathe_codegen_opts;

/* Emits `static int SYMBOL(void *const *args, lathe_rt_pool *pool)`
 * computing f, plus static helpers named SYMBOL_* (outlined parallel loop
 * bodies), appended to out.  At run time args[i] is the data of buffer i
 * (the parameters in order; none may overlap a buffer the function writes;
 * no alignment needed) and args[f->nparams] a scratch area of
 * lathe_codegen_scratch_size(f) bytes, 64-byte aligned, where the locals
 * live (zeroed on entry, as the interpreter does).  pool may be NULL.  The
 * function returns 0, or LATHE_RT_EINVAL for an integer division by zero or
 * an out-of-bounds data-dependent index (nothing was read out of bounds;
 * outputs are then unspecified).
 *
 * f must pass lathe_tir_verify; symbol must be a C identifier.  Fails with
 * LATHE_EINVAL otherwise.  o may be NULL (defaults). */
lathe_err lathe_codegen_c_func(lathe_buf *out, const lathe_tir_func *f, const char *symbol);
lathe_err lathe_codegen_c_func_opts(lathe_buf *out, const lathe_tir_func *f, const char *symbol,
				    const lathe_codegen_opts *o);
/* Bytes of scratch f's generated code wants (0 if none). */
size_t lathe_codegen_scratch_size(const lathe_tir_func *f);

/* The C prelude every generated file starts with (includes, conversion
 * helpers, vector types).  Guarded: including it twice is harmless. */
void lathe_codegen_c_prelude(lathe_buf *out);

/* Compiles C files into the shared library out_so with the system C
 * compiler ($CC, else cc): -O2 -std=c11 -fPIC -shared, the flags that keep
 * float semantics exact (-ffp-contract=off -fno-fast-math), then
 * extra_flags (split at spaces; may be NULL), linking libm.  The library
 * is written to a temporary name and renamed, so a reader never sees a
 * partial file.  A compiler failure is an error carrying the command and
 * the compiler's output. */
lathe_err lathe_codegen_cc_shared(const char *const *c_files, int n, const char *out_so,
				  const char *extra_flags);

#endif
