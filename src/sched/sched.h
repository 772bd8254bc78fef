/* sched.h: schedule primitives on the loop IR, and default schedules.
 *
 * A schedule changes how a loop program runs (loop structure, order,
 * annotations, where intermediate values live), never what it computes:
 * after any primitive, the interpreter gives bit-identical results.  Each
 * primitive checks that this holds for the request and returns an error
 * (LATHE_EINVAL, with a message naming the loop or buffer) when it cannot
 * prove it; the function is then left exactly as it was.
 *
 * Loops are named by their variable (the lathe_tir_var a `for` binds),
 * buffers by their lathe_tir_buf.  New loops and buffers get names derived
 * from the old ones (`i0` split gives `i0_o` and `i0_i`; `i1` fused with `i2`
 * gives `i1_i2`), made unique within the function.  Primitives rebuild the
 * statements they change and share untouched expressions; they never
 * modify a node that other code may hold, except that buffer ids are
 * renumbered when a local is removed (compute_inline,
 * reverse_compute_inline).
 *
 * Nothing here simplifies: a split leaves `add(mul(%i_o, 4), %i_i)` in the
 * indices; lathe_tir_simplify cleans up afterwards.  lathe_sched_default
 * simplifies before and after.
 *
 * Functions given to these must pass lathe_tir_verify (lowering and the
 * parser guarantee it); they still pass it afterwards.  Nothing here keeps
 * state between calls: concurrent use on different functions is safe.
 *
 * See docs/schedules.md for each primitive's exact rule and examples.
 */
#ifndef LATHE_SCHED_H
#define LATHE_SCHED_H

#include "tir/tir.h"

/* ---- target ---------------------------------------------------------------- */

/* What a default schedule is tuned for. */
typedef struct lathe_target {
	int vector_bytes; /* SIMD register width: 16, 32 (AVX2) or 64 (AVX-512) */
	int threads;      /* threads the code will run on; <= 1: no parallel loops */
	/* Nests with fewer innermost iterations stay serial (0: 16384, where
	 * starting threads starts to pay off). */
	int64_t min_parallel;
	/* Matrix products and convolutions become calls of the runtime's
	 * micro-kernels (src/sched/tensorize.c).  Their sums come out in
	 * another order (and with fused multiply-adds), equal to rounding but
	 * not bit for bit, so this is the one step that needs asking for:
	 * lathe_target_host sets it, a zeroed target does not. */
	bool ukernels;
	/* 3x3 convolutions never take Winograd's algorithm (tensorize.c's
	 * wino, which stores their weights as 6x6 tiles: 4x the bytes); a
	 * zeroed target allows it. */
	bool no_winograd;
} lathe_target;

/* The machine lathe runs on: vector width from cpuid (AVX-512F: 64, AVX2:
 * 32, otherwise 16) and the number of online CPUs. */
void lathe_target_host(lathe_target *out);
/* "host", "generic" (16 bytes), "sse" (16), "avx2" (32), "avx512" (64),
 * optionally followed by ",threads=N" and ",ukernels=0|1"; threads default
 * to the host's, micro-kernels to on. */
lathe_err lathe_target_parse(const char *spec, lathe_target *out);

/* ---- loop primitives ------------------------------------------------------- */

/* for v in lo..+E  ->  for v_o in 0..ceil(E/factor) { for v_i in 0..factor {
 *   [if v_o*factor + v_i < E] body[v := lo + v_o*factor + v_i] } }
 * E must be a constant; factor >= 1 (a factor >= E gives v_o extent 1).
 * The guard is there whenever factor does not divide E.
 * A parallel loop stays parallel on v_o; a vectorized or unrolled one keeps
 * its kind on v_i.  out_outer / out_inner may be NULL. */
lathe_err lathe_sched_split(lathe_tir_func *f, lathe_tir_var *loop, int64_t factor,
			    lathe_tir_var **out_outer, lathe_tir_var **out_inner);

/* Fuses `inner`, which must be the whole body of `outer`, into one serial
 * loop over outer's extent times inner's (both constants): outer :=
 * floordiv(v, Ei) + lo_o, inner := floormod(v, Ei) + lo_i.  out_fused may be
 * NULL. */
lathe_err lathe_sched_fuse(lathe_tir_func *f, lathe_tir_var *outer, lathe_tir_var *inner,
			   lathe_tir_var **out_fused);

/* Puts the n listed loops, which must lie in one perfect nest (each loop the
 * whole body of the one above it, apart from `if`s without `else` that do
 * not use the nest's variables below them — split guards), in the given
 * order, outermost first; unlisted loops of that nest keep their places.
 * Guards move to the innermost body.  Illegal when it would change the
 * order in which two iterations touch the same element of a buffer that one
 * of them writes. */
lathe_err lathe_sched_reorder(lathe_tir_func *f, int n, lathe_tir_var *const *order);

/* split(x, fx), split(y, fy), reorder(x_o, y_o, x_i, y_i); y must be in the
 * perfect nest below x.  out (may be NULL) receives x_o, y_o, x_i, y_i. */
lathe_err lathe_sched_tile(lathe_tir_func *f, lathe_tir_var *x, lathe_tir_var *y,
			   int64_t fx, int64_t fy, lathe_tir_var **out);

/* ---- annotations ----------------------------------------------------------- */

/* Marks a loop vectorized: a constant extent, no loop inside it, and no two
 * iterations touching the same element of a written buffer.  Locals that
 * each iteration writes before reading (temporaries) get one copy per
 * iteration (a new leading dimension). */
lathe_err lathe_sched_vectorize(lathe_tir_func *f, lathe_tir_var *loop);
/* Marks a loop unrolled: a constant extent of at most 512. */
lathe_err lathe_sched_unroll(lathe_tir_func *f, lathe_tir_var *loop);
/* Marks a loop parallel: no enclosing parallel or vectorized loop, and no
 * two iterations touching the same element of a written buffer.  Locals
 * each iteration writes before reading (accumulators) get one copy per
 * iteration, so threads never share them: keep such a loop's extent small
 * (split it first). */
lathe_err lathe_sched_parallel(lathe_tir_func *f, lathe_tir_var *loop);
/* Back to a plain serial loop. */
lathe_err lathe_sched_serial(lathe_tir_func *f, lathe_tir_var *loop);

/* ---- where values are computed --------------------------------------------- */

/* `buf` is a local written by exactly one store, `buf[v...] = E`, at the
 * bottom of a perfect top-level nest whose loops cover buf (one loop per
 * dimension, 0..size; a constant 0 for a dimension of size 1).  Every load
 * of buf (all after the nest) becomes E with the loop variables replaced by
 * the load's indices; the nest and the local are removed.  E may only read
 * buffers nothing writes after the nest. */
lathe_err lathe_sched_compute_inline(lathe_tir_func *f, lathe_tir_buf *buf);

/* The reverse: `buf` is a local written by one store (typically a
 * reduction's final store), read only by a later perfect top-level nest
 * `for w... { out[...] = G(buf[w...], ...) }` that reads each element of buf
 * once, at its own loop indices.  The consumer's store moves into the
 * producer, replacing the store to buf (epilogue fusion): the consumer nest
 * and the local are removed.  G may only read buffers nothing writes
 * between the two nests. */
lathe_err lathe_sched_reverse_compute_inline(lathe_tir_func *f, lathe_tir_buf *buf);

/* Moves the top-level nest that produces local `buf` (a perfect band of
 * loops covering buf, whose body may be a reduction) to the start of the
 * body of `loop`, a later loop that contains every read of buf, computing
 * only the region of buf one iteration of `loop` reads. */
lathe_err lathe_sched_compute_at(lathe_tir_func *f, lathe_tir_buf *buf, lathe_tir_var *loop);

/* ---- caches ------------------------------------------------------------------ */

/* Copies the region of `buf` that one iteration of `loop` reads into a new
 * local at the start of loop's body, and makes the loads there read the
 * copy.  With loop == NULL the copy is made once, before the first
 * top-level statement that reads buf, of everything the function reads.
 * Reads of the form select(in-bounds(idx), buf[idx], z) (padding) read the
 * copy, which holds z outside buf's bounds, without the select.  buf must
 * not be written where the copy is used.  out_cache may be NULL. */
lathe_err lathe_sched_cache_read(lathe_tir_func *f, lathe_tir_buf *buf, lathe_tir_var *loop,
				 lathe_tir_buf **out_cache);

/* Write caches.  Two cases:
 *  - `buf` is an accumulator: a local that each iteration of the perfect
 *    band of loops inside `loop` writes before reading (such as a
 *    reduction's rank-0 `acc`).  It gets one element per iteration of that
 *    band (a register tile), and the band is distributed over the
 *    statements that use it (init, update, final store), so that the
 *    reduction loop can then be reordered outside the tile loops.
 *    Statements that write only the accumulator and cannot fault anywhere
 *    in the loops' bounds drop the split guards around them (the tile has
 *    room for the overhang; the final store keeps its guard).
 *  - otherwise the region of `buf` that one iteration of `loop` accesses is
 *    kept in a new local while the body runs (read in first unless the body
 *    writes all of it first) and written back after.
 * out_cache may be NULL. */
lathe_err lathe_sched_cache_write(lathe_tir_func *f, lathe_tir_buf *buf, lathe_tir_var *loop,
				  lathe_tir_buf **out_cache);

/* ---- default schedules ------------------------------------------------------- */

/* Simplifies f, then applies the default schedule of f->sched_class for the
 * target (vectorized inner loops, parallel outer loops, register tiles for
 * matmul and conv...), then simplifies again.  A function whose shape the
 * schedule does not recognize (or class LATHE_SCHED_NONE) is only
 * simplified.  Errors are internal only (a failed step is undone). */
lathe_err lathe_sched_default(lathe_tir_func *f, const lathe_target *t);
const char *lathe_sched_class_name(int sched_class);
/* Whether s contains a call of the micro-kernel named name (any call when
 * name is NULL): a tensorized nest, or one using a given kernel. */
bool lathe_sched_calls(const lathe_tir_stmt *s, const char *name);
int lathe_sched_class_parse(const char *name); /* -1 if unknown */

/* ---- scripts ------------------------------------------------------------------ */

/* Applies a schedule script (docs/schedules.md):
 *     split(i0, 4); vectorize(i0_i)   // comment
 *     reorder(i1, i0); cache_write(acc, j_o); default(matmul, 32, 4)
 * Loops and buffers are named as printed (the % is optional).  Errors name
 * filename:line:column and the command. */
lathe_err lathe_sched_script(lathe_tir_func *f, const char *script, const char *filename);

/* Lookup by name (NULL if none). */
lathe_tir_var *lathe_sched_var(const lathe_tir_func *f, const char *name);
lathe_tir_buf *lathe_sched_buf(const lathe_tir_func *f, const char *name);

#endif
