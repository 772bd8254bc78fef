/* sched_impl.h: what the schedule files share (not a public header).
 *
 * - Paths and rebuilding: a primitive finds its loop with the chain of
 *   statements above it, builds the replacement, and sched_replace copies
 *   that chain with the new child: existing statements are never modified,
 *   so a snapshot (the old body pointer plus the buffer table) undoes any
 *   number of steps.
 * - The rewriter copies statements, substituting variables, optionally
 *   rebinding loops to fresh variables, and letting a primitive replace
 *   loads and stores.
 * - Analysis: accesses and the dependence tests of parallel, vectorize,
 *   reorder and distribution (dep.c), on affine forms of indices (the
 *   row-major flat offset, in which fused floordiv/floormod pairs
 *   recombine) and their ranges (affine.c).
 */
#ifndef LATHE_SCHED_IMPL_H
#define LATHE_SCHED_IMPL_H

#include <stdlib.h>

#include "sched/sched.h"

/* ---- snapshots ------------------------------------------------------------- */

typedef struct sched_snap {
	lathe_tir_stmt *body;
	lathe_tir_buf **bufs;
	size_t nbufs, nvars;
	int32_t nparams;
} sched_snap;
void sched_snap_take(lathe_tir_func *f, sched_snap *s);
/* Restores f as it was and frees the snapshot. */
void sched_snap_restore(lathe_tir_func *f, sched_snap *s);
void sched_snap_drop(sched_snap *s);

/* ---- paths ------------------------------------------------------------------ */

/* The statements above a target, root (f->body) first, and which child of
 * each leads down: the SEQ index, 0 for a body, 1 for an else. */
typedef struct sched_path {
	LATHE_VEC(lathe_tir_stmt *) node;
	LATHE_VEC(int) slot;
} sched_path;
void sched_path_free(sched_path *p);

/* The loop binding v, and the path to it.  Errors name the primitive. */
lathe_err sched_find_loop(lathe_tir_func *f, const char *prim, lathe_tir_var *v,
			  lathe_tir_stmt **out_loop, sched_path *out_path);
/* Path to statement s (by identity); false if it is not in f. */
bool sched_find_stmt(lathe_tir_func *f, const lathe_tir_stmt *s, sched_path *out_path);
/* Replaces the target of path with s (NULL: removes it from its sequence);
 * a SEQ put into a SEQ is spliced.  Rebuilds the path; sets f->body. */
void sched_replace(lathe_tir_func *f, const sched_path *p, lathe_tir_stmt *s);
/* Index in the top-level sequence of the statement the path leads into
 * (the path's first slot); -1 for the root itself. */
int sched_path_top(const sched_path *p);
/* True if a loop on the path (above the target) has this kind. */
bool sched_path_has_kind(const sched_path *p, int for_kind, lathe_tir_var **out_var);

/* ---- building ---------------------------------------------------------------- */

lathe_tir_expr *sched_i64(lathe_tir_func *f, int64_t v);
lathe_tir_expr *sched_var(lathe_tir_func *f, lathe_tir_var *v);
/* a + b, a * k, a + k with the trivial cases folded (x + 0, x * 1). */
lathe_tir_expr *sched_add(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b);
lathe_tir_expr *sched_addk(lathe_tir_func *f, lathe_tir_expr *a, int64_t k);
lathe_tir_expr *sched_mulk(lathe_tir_func *f, lathe_tir_expr *a, int64_t k);
lathe_tir_expr *sched_and(lathe_tir_func *f, lathe_tir_expr *a, lathe_tir_expr *b);
/* A sequence of n statements with nested sequences spliced; always a SEQ. */
lathe_tir_stmt *sched_seq(lathe_tir_func *f, int n, lathe_tir_stmt *const *s);
/* Like sched_seq, but one statement is returned as itself. */
lathe_tir_stmt *sched_block(lathe_tir_func *f, int n, lathe_tir_stmt *const *s);
/* A SEQ of one statement seen through. */
lathe_tir_stmt *sched_unwrap(lathe_tir_stmt *s);
/* Statements of s: a SEQ's (flattened one level), or s itself. */
int sched_stmts(lathe_tir_stmt *s, lathe_tir_stmt ***out, lathe_tir_stmt **one);
/* body = { ACC[] = v; for ...; S }, ACC a local f32 scalar: a reduction
 * nest's body (the initial store, the reduction loop, the final store
 * with S a store), out[0..2] = those three statements; false otherwise. */
bool sched_reduce_shell(lathe_tir_stmt *body, lathe_tir_stmt **out);
/* The constant value of an i64 constant expression. */
bool sched_const(const lathe_tir_expr *e, int64_t *out);
/* Constant extent (and lo) of a FOR. */
bool sched_loop_const(const lathe_tir_stmt *loop, int64_t *lo, int64_t *extent);
/* A new variable named after `base` with a suffix ("i0" + "_o"). */
lathe_tir_var *sched_new_var(lathe_tir_func *f, const char *base, const char *suffix);
/* The perfect band of FORs starting at s (through SEQs of one); returns the
 * count (at most max) and the innermost body. */
int sched_band(lathe_tir_stmt *s, lathe_tir_stmt **loops, int max, lathe_tir_stmt **out_body);

/* ---- buffers ----------------------------------------------------------------- */

/* A new local taking old's place (same id and name) with another shape. */
lathe_tir_buf *sched_local_reshape(lathe_tir_func *f, lathe_tir_buf *old, int rank,
				   const int64_t *shape);
/* Removes a local from f->bufs (renumbering the ones after it). */
void sched_remove_local(lathe_tir_func *f, lathe_tir_buf *b);
/* A new local named after base. */
lathe_tir_buf *sched_new_local(lathe_tir_func *f, const char *base, const char *suffix,
			       int dtype, int rank, const int64_t *shape);

/* ---- rewriting --------------------------------------------------------------- */

typedef struct sched_rw sched_rw;
struct sched_rw {
	lathe_tir_func *f;
	lathe_tir_expr **vmap; /* var id -> replacement, NULL to keep */
	size_t nvmap;
	bool fresh;            /* rebind every for/let to a new variable */
	/* Optional hooks.  pre: called on every expression before it is
	 * rewritten; a non-NULL result replaces it (not rewritten further).
	 * load / store: called on a rewritten load / store; return the
	 * replacement (or the argument). */
	lathe_tir_expr *(*pre)(sched_rw *rw, lathe_tir_expr *e);
	lathe_tir_expr *(*load)(sched_rw *rw, lathe_tir_expr *e);
	lathe_tir_stmt *(*store)(sched_rw *rw, lathe_tir_stmt *s);
	void *ctx;
};
/* vmap sized for f's current variables, all NULL. */
void sched_rw_init(sched_rw *rw, lathe_tir_func *f);
void sched_rw_deinit(sched_rw *rw);
void sched_rw_set(sched_rw *rw, lathe_tir_var *v, lathe_tir_expr *e);
lathe_tir_expr *sched_rw_expr(sched_rw *rw, lathe_tir_expr *e);
/* Copies s (statements are always new; unchanged expressions are shared). */
lathe_tir_stmt *sched_rw_stmt(sched_rw *rw, lathe_tir_stmt *s);
/* Convenience: s with v replaced by e. */
lathe_tir_stmt *sched_subst1(lathe_tir_func *f, lathe_tir_stmt *s, lathe_tir_var *v,
			     lathe_tir_expr *e);

/* ---- analysis (dep.c, affine.c) -------------------------------------------- */

/* Per variable: the FOR or LET that binds it. */
typedef struct sched_info {
	lathe_tir_func *f;
	lathe_tir_stmt **binder;
	size_t nvars;
} sched_info;
void sched_info_init(sched_info *I, lathe_tir_func *f);
void sched_info_deinit(sched_info *I);
const lathe_tir_stmt *sched_binder(const sched_info *I, const lathe_tir_var *v);

typedef struct sched_access {
	lathe_tir_buf *buf;
	lathe_tir_expr **idx;
	bool store;
	lathe_tir_stmt *stmt;       /* the statement holding it */
	lathe_tir_expr *load;       /* the load (NULL for a store) */
} sched_access;
typedef LATHE_VEC(sched_access) sched_accesses;
typedef LATHE_VEC(lathe_tir_buf *) sched_bufs;
/* Every access in s (to buf only, unless NULL), in program order. */
void sched_collect(lathe_tir_stmt *s, const lathe_tir_buf *buf, sched_accesses *out);
void sched_collect_expr(lathe_tir_expr *e, lathe_tir_stmt *st, const lathe_tir_buf *buf,
			sched_accesses *out);
bool sched_stmt_writes(lathe_tir_stmt *s, const lathe_tir_buf *b);
bool sched_stmt_reads(lathe_tir_stmt *s, const lathe_tir_buf *b);
bool sched_stmt_uses(lathe_tir_stmt *s, const lathe_tir_buf *b);
int sched_count_accesses(lathe_tir_stmt *s, const lathe_tir_buf *b);
bool sched_expr_reads(const lathe_tir_expr *e, const lathe_tir_buf *b);
bool sched_expr_eq(const lathe_tir_expr *a, const lathe_tir_expr *b);
/* True if e uses a variable whose marks[id] is set. */
bool sched_expr_uses(const lathe_tir_expr *e, const uint8_t *marks);
bool sched_stmt_uses_var(lathe_tir_stmt *s, const uint8_t *marks);
/* Marks (calloc'd, f->vars.len entries) of the variables bound in s. */
uint8_t *sched_bound_in(const lathe_tir_func *f, lathe_tir_stmt *s);
bool sched_stmt_has_loop(lathe_tir_stmt *s);

/* Affine forms: c + sum k*term, a term being a variable or an opaque atom
 * (any other subexpression, compared structurally). */
enum { SCHED_AFF_MAX = 24 };
typedef struct sched_term {
	lathe_tir_var *var;
	const lathe_tir_expr *atom;
	int64_t k;
} sched_term;
typedef struct sched_aff {
	int64_t c;
	int n;
	sched_term t[SCHED_AFF_MAX];
} sched_aff;
/* False when e is not an i64 expression or the form overflows. */
bool sched_aff_of(const sched_info *I, const lathe_tir_expr *e, sched_aff *out);
/* The row-major flat offset of an access, with floordiv/floormod pairs of
 * one expression recombined (what fusing loops produces). */
bool sched_aff_flat(const sched_info *I, const lathe_tir_buf *b, lathe_tir_expr *const *idx,
		    sched_aff *out);
bool sched_aff_eq(const sched_aff *a, const sched_aff *b);
/* Coefficient of variable v. */
int64_t sched_aff_coef(const sched_aff *a, const lathe_tir_var *v);
/* Range of a variable: a FOR with constant bounds (non-empty), or a LET of an
 * expression with a known range. */
bool sched_var_range(const sched_info *I, const lathe_tir_var *v, int64_t *lo, int64_t *hi);
/* Range of the terms whose `marks` bit is `want` (marks NULL: all terms),
 * constant included only when with_c. */
bool sched_aff_range(const sched_info *I, const sched_aff *a, const uint8_t *marks, bool want,
		     bool with_c, int64_t *lo, int64_t *hi);
bool sched_expr_range(const sched_info *I, const lathe_tir_expr *e, int64_t *lo, int64_t *hi);
/* Conditions of the `if`s enclosing target below root (at most max). */
int sched_guards(lathe_tir_stmt *root, const lathe_tir_stmt *target, const lathe_tir_expr **out,
		 int max);
/* sched_aff_range, with sums of terms that guards bound (v_o*f + v_i < E)
 * clipped to the guard. */
bool sched_aff_range_g(const sched_info *I, const sched_aff *a, const uint8_t *marks, bool want,
		       bool with_c, const lathe_tir_expr *const *guards, int ng, int64_t *lo,
		       int64_t *hi);
/* True if the term uses a variable in marks. */
bool sched_term_uses(const sched_term *t, const uint8_t *marks);

/* What a statement does to a buffer first: */
enum { SCHED_NONE, SCHED_KILL, SCHED_READ };
/* KILL when s certainly overwrites all of b before reading any of it. */
int sched_kill(const sched_info *I, lathe_tir_stmt *s, const lathe_tir_buf *b);
/* A local every access of which is in `body` and which body kills: its
 * value never flows between executions of body. */
bool sched_private(const sched_info *I, lathe_tir_stmt *body, const lathe_tir_buf *b);

/* No two iterations of `loop` touch the same element of a buffer one of
 * them writes, apart from private locals, which are returned (to expand). */
lathe_err sched_check_independent(const sched_info *I, const char *prim, lathe_tir_stmt *loop,
				  sched_bufs *out_private);
/* Loops (of the perfect band `loops`, body `body`, with `guards` around
 * body) that carry a dependence:
 * carry[i] is set for each loops[i] whose order relative to other carrying
 * loops must be kept; why[i] (optional) is the buffer that makes it so.
 * Private locals of body carry nothing. */
void sched_carried(const sched_info *I, lathe_tir_stmt *const *loops, int n, lathe_tir_stmt *body,
		   const lathe_tir_expr *const *guards, int ng, bool *carry, lathe_tir_buf **why);
/* The element an access touches is a one-to-one function of the variables
 * it uses among `marks` (constant extents), with the same form at every
 * access in `acc`: then two accesses conflict only at equal values of
 * those variables.  Guards below root common to all accesses, and
 * `extra`, bound guarded sums.  out_used (optional) marks the variables
 * used. */
bool sched_uniform_injective(const sched_info *I, const sched_accesses *acc, const uint8_t *marks,
			     uint8_t *out_used, lathe_tir_stmt *root,
			     const lathe_tir_expr *const *extra, int nextra);

/* The second independence test (affine.c): iterations of v touch
 * different elements of b because the flat offset, the same at every
 * access, is one-to-one in its pieces, among which v itself or a
 * floordiv/floormod pair of one X = K*v + R with R spanning less than |K|
 * (loops fused in an order that is not the buffer's).  Guards below root
 * that every access has clip ranges. */
bool sched_coord_independent(const sched_info *I, const sched_accesses *acc,
			     const lathe_tir_var *v, const uint8_t *marks, lathe_tir_stmt *root);

/* Gives private locals one copy per iteration of `loop` (extent E, lower
 * bound lo): b[idx] -> b'[v - lo, idx].  Returns the new loop statement. */
lathe_tir_stmt *sched_expand_private(lathe_tir_func *f, lathe_tir_stmt *loop,
				     lathe_tir_buf *const *bufs, size_t n);

/* ---- regions (region.c) ---------------------------------------------------- */

/* The box of a buffer that some accesses touch, per dimension
 * start[d] .. start[d] + extent[d] - 1, where start[d] = outer[d] + lo[d]
 * depends only on variables that do not vary in the scope (not in marks). */
typedef struct sched_region {
	int rank;
	lathe_tir_expr **start;
	int64_t *lo, *extent;
	sched_aff *outer;
	bool *may_oob; /* the box may leave [0, shape) in this dimension */
} sched_region;
/* Fails (naming prim) unless every access is affine in the scope's
 * variables, with one outer part per dimension.  Guards inside scope clip
 * the ranges. */
lathe_err sched_region_of(const sched_info *I, const char *prim, const lathe_tir_buf *b,
			  const sched_accesses *acc, const uint8_t *marks, lathe_tir_stmt *scope,
			  sched_region *out);
/* idx_d - start[d], built from idx_d's varying part (in scope of idx_d). */
lathe_tir_expr *sched_region_index(const sched_info *I, const sched_region *r, int d,
				   const lathe_tir_expr *idx_d, const uint8_t *marks);
/* The terms of a selected by marks/want (all if marks is NULL) as an
 * expression, plus the constant if with_c. */
lathe_tir_expr *sched_aff_build(lathe_tir_func *f, const sched_aff *a, const uint8_t *marks,
				bool want, bool with_c);
/* cond is exactly "idx is inside b's bounds" wherever it is evaluated: a
 * conjunction of ge(idx[d], 0) and lt(idx[d], shape[d]), the missing ones
 * provably true. */
bool sched_is_inbounds(const sched_info *I, const lathe_tir_expr *cond, const lathe_tir_buf *b,
		       lathe_tir_expr *const *idx);
/* and(ge(p[d], 0), lt(p[d], shape[d])) over the dimensions with may_oob. */
lathe_tir_expr *sched_inbounds_cond(lathe_tir_func *f, const lathe_tir_buf *b,
				    lathe_tir_expr *const *p, const bool *may_oob);

/* s reads b through select(in-bounds, b[...], z): padding (cache.c). */
bool sched_has_pad_read(lathe_tir_func *f, lathe_tir_stmt *s, lathe_tir_buf *b);

/* Number of elements of a buffer (saturating). */
int64_t sched_numel(const lathe_tir_buf *b);

/* ---- tensorize (tensorize.c) ----------------------------------------------- */

/* Replaces each top-level nest of f (class matmul, conv or depthwise conv)
 * that computes exactly a matrix product or convolution by a call of the
 * runtime's micro-kernel; nests that do not match stay as they are. */
void sched_tensorize(lathe_tir_func *f, const lathe_target *t);
/* Softmax and LogSoftmax as one call of the softmax kernel, and
 * LayerNormalization as one call of layernorm (tensorize_rows.c); false, with f untouched, when f is not exactly their
 * lowering. */
bool sched_tensorize_rows(lathe_tir_func *f, const lathe_target *t);

#endif
