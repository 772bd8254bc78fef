/* default.c: the schedule every function gets without tuning, keyed by the
 * class its lowering gives it (f->sched_class), built only from the
 * primitives, so each step is checked and results stay bit-identical.
 *
 * Each top-level loop nest is scheduled on its own:
 *   - an elementwise nest (loops around stores) vectorizes its innermost
 *     loop when the store is contiguous in it (split by the widest vector
 *     dividing it) and runs its outer loops in parallel, fused until there
 *     are enough chunks for the threads;
 *   - a reduction nest (spatial loops around `acc = init; for r {acc = ...};
 *     out = post(acc)`) gets a register tile: the innermost spatial loop
 *     split by the vector width (vectorized; a width no vector divides is
 *     overshot and the overhang dropped at the store), for matmul the row
 *     loop and for conv the output-channel loop split by 4 (unrolled); the
 *     accumulator becomes that tile (cache_write) and the reduction loops
 *     move outside the tile loops; the outer loops run in parallel over a
 *     few chunks (each chunk has its own tile).  Without a vector axis, 4
 *     outputs of the innermost loop are unrolled instead;
 *   - conv, depthwise conv and pooling read a padded copy of their input
 *     (cache_read), so the inner loop reads memory without bounds checks:
 *     a conv copies, per output row, the input rows its window covers (the
 *     row loop goes outside the channel blocks, which share the copy); a
 *     pool or depthwise conv copies one channel at a time;
 *   - softmax and normalization compute each row's statistics inside the
 *     row loop of the output nest (compute_at), then treat rows as above.
 * Float reductions are never reassociated: a reduction over the innermost
 * axis stays a serial loop (vectors run across independent outputs).
 * Anything not recognized, or any step a primitive refuses, is skipped: the
 * step is undone and the rest goes on.  Small nests (under PAR_MIN
 * iterations) stay serial: starting threads would cost more.
 */
#include <string.h>

#include "sched/sched_impl.h"

static const char *const class_names[] = {"none", "elementwise", "reduction", "matmul",
					  "conv", "depthwise_conv", "pool", "softmax_norm"};

const char *lathe_sched_class_name(int c)
{
	return c >= 0 && c < (int)(sizeof class_names / sizeof class_names[0]) ? class_names[c] : "?";
}

int lathe_sched_class_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof class_names / sizeof class_names[0]); i++)
		if (!strcmp(name, class_names[i]))
			return i;
	return -1;
}

enum {
	MAX_BAND = 32,
	PAR_MIN = 1 << 14,          /* innermost iterations worth starting threads for */
	CHUNKS_PER_THREAD = 4,      /* parallel chunks per thread */
	TILE_ROWS = 4,              /* register tile rows (matmul M, conv channels) */
};
/* Largest padded input copy (elements): of the whole input, of a tile. */
static const int64_t MAX_PAD = (int64_t)1 << 24;
static const int64_t MAX_PAD_TILE = (int64_t)1 << 18;

typedef struct dctx {
	lathe_tir_func *f;
	const lathe_target *t;
	int cls;
} dctx;

/* Runs a step; false (and the error dropped) if the primitive refused. */
static bool ok(lathe_err e)
{
	if (!e)
		return true;
	lathe_error_free(e);
	return false;
}

static lathe_tir_stmt *loop_of(dctx *c, lathe_tir_var *v)
{
	lathe_tir_stmt *s;
	return v && ok(sched_find_loop(c->f, "", v, &s, NULL)) ? s : NULL;
}

static int64_t extent_of(dctx *c, lathe_tir_var *v)
{
	int64_t e;
	lathe_tir_stmt *s = loop_of(c, v);
	return s && sched_loop_const(s, NULL, &e) ? e : -1;
}

/* Innermost iterations of s (non-constant loops count once). */
static int64_t work_of(lathe_tir_stmt *s)
{
	if (!s)
		return 0;
	int64_t w = 0, e;
	switch (s->kind) {
	case LATHE_TIR_S_FOR:
		w = work_of(s->body);
		if (sched_loop_const(s, NULL, &e) && e > 1 && __builtin_mul_overflow(w, e, &w))
			w = INT64_MAX;
		return w;
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++) {
			int64_t x = work_of(s->stmts[i]);
			if (__builtin_add_overflow(w, x, &w))
				w = INT64_MAX;
		}
		return w;
	case LATHE_TIR_S_LET:
		return work_of(s->body);
	case LATHE_TIR_S_IF: {
		int64_t a = work_of(s->body), b = work_of(s->orelse);
		return a > b ? a : b;
	}
	default:
		return 1;
	}
}

/* Vector lanes for a dtype at the target's width; 0 when it does not
 * vectorize (sub-byte and unsized types). */
static int lanes_for(dctx *c, int dtype)
{
	size_t es = lathe_dtype_size(dtype);
	if (!es || dtype == LATHE_DT_BOOL)
		return 0;
	int l = c->t->vector_bytes / (int)es;
	return l >= 2 ? l : 0;
}

/* The widest vector (from `first` lanes down to one 16-byte register)
 * that divides extent. */
static int64_t pick_width(int64_t extent, int first, int dtype)
{
	size_t es = lathe_dtype_size(dtype);
	for (int64_t w = first; w >= 2 && (size_t)w * es >= 16; w /= 2)
		if (extent % w == 0)
			return w;
	return 0;
}

/* Coefficient of v in the flat offset of an access (false if unknown). */
static bool coef_of(dctx *c, const lathe_tir_buf *b, lathe_tir_expr *const *idx,
		    const lathe_tir_var *v, int64_t *k)
{
	sched_info I;
	sched_info_init(&I, c->f);
	sched_aff a;
	bool r = sched_aff_flat(&I, b, idx, &a);
	sched_info_deinit(&I);
	if (!r)
		return false;
	for (int i = 0; i < a.n; i++)
		if (!a.t[i].var && a.t[i].atom) {
			uint8_t *m = lathe_xcalloc(c->f->vars.len + 1, 1);
			m[v->id] = 1;
			bool uses = sched_expr_uses(a.t[i].atom, m);
			free(m);
			if (uses)
				return false;
		}
	*k = sched_aff_coef(&a, v);
	return true;
}

/* Every access in s is contiguous (coefficient 1) or invariant (0) in v,
 * apart from buffer `skip`. */
static bool contiguous_in(dctx *c, lathe_tir_stmt *s, const lathe_tir_var *v,
			  const lathe_tir_buf *skip)
{
	sched_accesses acc = {0};
	sched_collect(s, NULL, &acc);
	bool r = true;
	for (size_t i = 0; i < acc.len && r; i++) {
		int64_t k;
		if (acc.data[i].buf == skip)
			continue;
		r = coef_of(c, acc.data[i].buf, acc.data[i].idx, v, &k) && (k == 0 || k == 1);
	}
	lathe_vec_free(&acc);
	return r;
}

/* The first store in s (not to `skip`), depth first. */
static lathe_tir_stmt *first_store(lathe_tir_stmt *s, const lathe_tir_buf *skip, bool last)
{
	if (!s)
		return NULL;
	switch (s->kind) {
	case LATHE_TIR_S_STORE:
		return s->buf != skip ? s : NULL;
	case LATHE_TIR_S_SEQ:
		for (int i = 0; i < s->n; i++) {
			lathe_tir_stmt *r = first_store(s->stmts[last ? s->n - 1 - i : i], skip, last);
			if (r)
				return r;
		}
		return NULL;
	case LATHE_TIR_S_IF: {
		lathe_tir_stmt *r = first_store(s->body, skip, last);
		return r ? r : first_store(s->orelse, skip, last);
	}
	default:
		return first_store(s->body, skip, last);
	}
}

/* Locals private to the body of loop v (they would be expanded). */
static bool has_private(dctx *c, lathe_tir_var *v)
{
	lathe_tir_stmt *s = loop_of(c, v);
	if (!s)
		return false;
	sched_info I;
	sched_info_init(&I, c->f);
	bool r = false;
	for (size_t i = (size_t)c->f->nparams; i < c->f->bufs.len && !r; i++)
		r = sched_private(&I, s->body, c->f->bufs.data[i]);
	sched_info_deinit(&I);
	return r;
}

/* ---- parallel -------------------------------------------------------------------- */

/* Runs the leading loops of `outer` (a perfect band, outermost first) in
 * parallel: fused until there are CHUNKS_PER_THREAD chunks per thread; when
 * the body has private locals (accumulator tiles), split so that only that
 * many chunks (and copies) exist. */
static void parallel_outer(dctx *c, lathe_tir_var *const *outer, int n, int64_t work)
{
	if (c->t->threads <= 1 || n <= 0 || work < (c->t->min_parallel > 0 ? c->t->min_parallel : PAR_MIN))
		return;
	int64_t want = (int64_t)c->t->threads * CHUNKS_PER_THREAD;
	sched_snap snap;
	sched_snap_take(c->f, &snap);
	lathe_tir_var *p = outer[0];
	int64_t e = extent_of(c, p);
	for (int i = 1; i < n && e >= 0 && e < want; i++) {
		int64_t ei = extent_of(c, outer[i]);
		lathe_tir_var *fused;
		if (ei < 0 || !ok(lathe_sched_fuse(c->f, p, outer[i], &fused)))
			break;
		p = fused;
		e *= ei;
	}
	if (e < 2) {
		sched_snap_restore(c->f, &snap);
		return;
	}
	lathe_tir_var *par = p;
	if (has_private(c, p) && e > want) {
		lathe_tir_var *po;
		if (ok(lathe_sched_split(c->f, p, (e + want - 1) / want, &po, NULL)))
			par = po;
	}
	if (ok(lathe_sched_parallel(c->f, par))) {
		sched_snap_drop(&snap);
		return;
	}
	/* Fusing may have mixed in a loop that carries a dependence: try the
	 * outermost loop alone. */
	sched_snap_restore(c->f, &snap);
	sched_snap_take(c->f, &snap);
	par = outer[0];
	e = extent_of(c, par);
	if (e > want && has_private(c, par)) {
		lathe_tir_var *po;
		if (ok(lathe_sched_split(c->f, par, (e + want - 1) / want, &po, NULL)))
			par = po;
	}
	if (e >= 2 && ok(lathe_sched_parallel(c->f, par)))
		sched_snap_drop(&snap);
	else
		sched_snap_restore(c->f, &snap);
}

/* ---- elementwise ------------------------------------------------------------------- */

/* Vectorizes the innermost loop of the perfect nest whose outermost loop
 * is top (when vec), and runs its outer loops in parallel.  A short or odd
 * inner dimension (7x7 maps) is not fused with the next one to reach a
 * vector multiple: the fused index costs a division per element, and the
 * C backend only vectorizes offsets that are the loop variable plus
 * something uniform. */
static void schedule_elementwise(dctx *c, lathe_tir_var *top, bool vec)
{
	lathe_tir_stmt *loops[MAX_BAND], *body;
	int k = sched_band(loop_of(c, top), loops, MAX_BAND, &body);
	if (k == 0 || sched_stmt_has_loop(body))
		return;
	int64_t work = work_of(loop_of(c, top));
	lathe_tir_var *vars[MAX_BAND];
	for (int i = 0; i < k; i++)
		vars[i] = loops[i]->var;
	lathe_tir_stmt *st = first_store(body, NULL, false);
	int lanes = st && vec ? lanes_for(c, st->buf->dtype) : 0;
	int nout = k; /* loops outside the vector loop */
	lathe_tir_var *in = vars[k - 1];
	int64_t e = extent_of(c, in), kin, w;
	if (lanes && e >= 1 && coef_of(c, st->buf, st->idx, in, &kin) && kin == 1 &&
	    (w = pick_width(e, lanes, st->buf->dtype)) != 0) {
		sched_snap snap;
		sched_snap_take(c->f, &snap);
		lathe_tir_var *vo = NULL, *vi = in;
		if ((e == w || ok(lathe_sched_split(c->f, in, w, &vo, &vi))) &&
		    ok(lathe_sched_vectorize(c->f, vi))) {
			sched_snap_drop(&snap);
			if (vo)
				vars[k - 1] = vo;
			else
				nout = k - 1;
		} else {
			sched_snap_restore(c->f, &snap);
		}
	}
	parallel_outer(c, vars, nout, work);
}

/* ---- reductions: register tiles -------------------------------------------------------- */

/* A local private to the body of the band: the accumulator. */
static lathe_tir_buf *find_acc(dctx *c, lathe_tir_stmt *body)
{
	sched_info I;
	sched_info_init(&I, c->f);
	lathe_tir_buf *r = NULL;
	for (size_t i = (size_t)c->f->nparams; i < c->f->bufs.len && !r; i++)
		if (sched_stmt_writes(body, c->f->bufs.data[i]) &&
		    sched_private(&I, body, c->f->bufs.data[i]))
			r = c->f->bufs.data[i];
	sched_info_deinit(&I);
	return r;
}

/* Padded copies of the inputs the nest reads through padding selects
 * (conv, pool), so that its inner loops read plain memory.  Each copy is
 * made inside loop `at` (one output row of a conv: the input rows its
 * window covers, shared by every channel block; one channel of a pool):
 * small, and private to each parallel chunk.  Failing that, one copy of
 * the whole input is made before the nest. */
static void pad_inputs(dctx *c, lathe_tir_var *top, lathe_tir_var *at)
{
	for (int i = 0; i < c->f->nparams; i++) {
		lathe_tir_buf *b = c->f->bufs.data[i];
		lathe_tir_stmt *s = loop_of(c, top);
		if (!s || !sched_has_pad_read(c->f, s, b) || sched_stmt_writes(c->f->body, b))
			continue;
		sched_snap snap;
		sched_snap_take(c->f, &snap);
		lathe_tir_buf *pc;
		if (at && ok(lathe_sched_cache_read(c->f, b, at, &pc)) && sched_numel(pc) <= MAX_PAD_TILE) {
			sched_snap_drop(&snap);
			continue;
		}
		sched_snap_restore(c->f, &snap);
		sched_snap_take(c->f, &snap);
		if (!ok(lathe_sched_cache_read(c->f, b, NULL, &pc)) || sched_numel(pc) > MAX_PAD) {
			sched_snap_restore(c->f, &snap);
			continue;
		}
		sched_snap_drop(&snap);
		/* The copy is an elementwise nest just before the first reader;
		 * its select guards a load, so no vector code for it. */
		for (int k = 0; k < c->f->body->n; k++) {
			lathe_tir_stmt *cp = c->f->body->stmts[k];
			if (cp->kind == LATHE_TIR_S_FOR && sched_stmt_writes(cp, pc)) {
				schedule_elementwise(c, cp->var, false);
				break;
			}
		}
	}
}

/* The loop inside which padded input copies are made: a conv's output row
 * loop (dimension 2), a pool's or depthwise conv's channel loop
 * (dimension 1); -1 for other classes. */
static int pad_axis(dctx *c, lathe_tir_stmt *const *loops, int k, const lathe_tir_stmt *out)
{
	int d = c->cls == LATHE_SCHED_CONV ? 2
		: c->cls == LATHE_SCHED_DEPTHWISE_CONV || c->cls == LATHE_SCHED_POOL ? 1
											: -1;
	if (d < 0 || out->buf->rank < 4)
		return -1;
	const lathe_tir_expr *x = out->idx[d];
	for (int i = 0; i < k; i++)
		if (x->kind == LATHE_TIR_E_VAR && x->u.var == loops[i]->var)
			return i;
	return -1;
}

static bool reads_padded(dctx *c, lathe_tir_var *top)
{
	lathe_tir_stmt *s = loop_of(c, top);
	for (int i = 0; s && i < c->f->nparams; i++)
		if (sched_has_pad_read(c->f, s, c->f->bufs.data[i]))
			return true;
	return false;
}

/* The register-tile axis: matmul's row loop (just outside the vector
 * loop), conv's output-channel loop (dimension 1 of the output). */
static int tile_row_axis(dctx *c, lathe_tir_stmt *const *loops, int k, const lathe_tir_stmt *out)
{
	int r = out->buf->rank;
	for (int i = 0; i < k; i++) {
		const lathe_tir_expr *want = NULL;
		if (c->cls == LATHE_SCHED_MATMUL && r >= 2)
			want = out->idx[r - 2];
		else if (c->cls == LATHE_SCHED_CONV && r >= 3)
			want = out->idx[1];
		if (want && want->kind == LATHE_TIR_E_VAR && want->u.var == loops[i]->var)
			return i;
	}
	return -1;
}

/* Like pick_width for an extent no vector divides: the widest vector
 * whose tiles cover the extent with at most a quarter more columns. */
static int64_t pick_overhang(int64_t extent, int first, int dtype)
{
	size_t es = lathe_dtype_size(dtype);
	for (int64_t w = first; w >= 2 && (size_t)w * es >= 16; w /= 2) {
		int64_t cover = (extent + w - 1) / w * w;
		if (extent >= w / 2 && cover * 4 <= extent * 5)
			return w;
	}
	return 0;
}

static int pick_rows(int64_t e)
{
	for (int m = TILE_ROWS; m >= 2; m /= 2)
		if (e % m == 0)
			return m;
	return 0;
}

/* The nests cache_write distributed into the body of loop L: vectorize and
 * unroll the tile loops of the ones that have no reduction loop left. */
static void finish_tile_nests(dctx *c, lathe_tir_var *L, bool vec, bool rows)
{
	lathe_tir_stmt *s = loop_of(c, L);
	if (!s)
		return;
	lathe_tir_stmt **ss, *one;
	int n = sched_stmts(s->body, &ss, &one);
	struct {
		lathe_tir_var *v;
		bool vec;
	} todo[64];
	int nt = 0;
	for (int i = 0; i < n && nt < 62; i++) {
		lathe_tir_stmt *loops[MAX_BAND], *body;
		int k = sched_band(ss[i], loops, MAX_BAND, &body);
		if (k == 0 || sched_stmt_has_loop(body))
			continue;
		/* The tile loops are the band's last: rows outside, vector inside. */
		if (vec) {
			todo[nt].v = loops[k - 1]->var;
			todo[nt++].vec = true;
		}
		if (rows && k >= 1 + vec) {
			todo[nt].v = loops[k - 1 - vec]->var;
			todo[nt++].vec = false;
		}
	}
	for (int i = 0; i < nt; i++)
		ok(todo[i].vec ? lathe_sched_vectorize(c->f, todo[i].v)
			       : lathe_sched_unroll(c->f, todo[i].v));
}

/* One reduction nest, as schedule_reduction found it. */
typedef struct rnest {
	lathe_tir_var *top, *vars[MAX_BAND];
	int k;
	lathe_tir_buf *acc;
	const lathe_tir_stmt *out;
	int pa;      /* pad_axis, or -1 */
	bool padded; /* reads an input through padding selects */
	int64_t work;
} rnest;

/* The register tile: the vector loop (innermost spatial loop split by w,
 * w = 0 for none; `overhang` when w does not divide it) and the row loop
 * vars[ri] split by mr (unrolled).  All or nothing: false, with the
 * function unchanged, if a step is refused. */
static bool tile_reduction(dctx *c, const rnest *n, int64_t w, bool overhang, int ri, int64_t mr)
{
	const int k = n->k;
	lathe_tir_var *const *vars = n->vars;
	lathe_tir_var *sv = vars[k - 1];
	sched_snap snap;
	sched_snap_take(c->f, &snap);
	lathe_tir_var *outer[MAX_BAND], *tile[2];
	int no = 0, nt = 0;
	lathe_tir_var *vo = NULL, *vi = NULL, *ro = NULL, *rin = NULL;
	bool good = true;
	if (w) {
		vi = sv;
		if (extent_of(c, sv) != w)
			good = ok(lathe_sched_split(c->f, sv, w, &vo, &vi));
	}
	if (good && mr) {
		rin = vars[ri];
		if (extent_of(c, vars[ri]) != mr)
			good = ok(lathe_sched_split(c->f, vars[ri], mr, &ro, &rin));
	}
	for (int i = 0; i < k && good; i++) {
		if (i == ri)
			outer[no] = ro;
		else if (i == k - 1 && w)
			outer[no] = vo;
		else
			outer[no] = vars[i];
		if (outer[no])
			no++;
	}
	if (rin)
		tile[nt++] = rin;
	if (vi)
		tile[nt++] = vi;
	if (good && n->padded && c->cls == LATHE_SCHED_CONV) {
		/* Output rows outside the channel blocks: the padded input rows
		 * one output row needs are copied once and serve every block. */
		const lathe_tir_expr *ch = n->out->idx[1];
		lathe_tir_var *cv = ro ? ro : ch->kind == LATHE_TIR_E_VAR ? ch->u.var : NULL;
		int at = -1, co = -1;
		for (int i = 0; i < no; i++) {
			if (outer[i] == vars[n->pa])
				at = i;
			if (outer[i] == cv)
				co = i;
		}
		if (at > co && co >= 0) {
			lathe_tir_var *t = outer[at];
			memmove(outer + co + 1, outer + co, sizeof *outer * (size_t)(at - co));
			outer[co] = t;
		}
	}
	good = good && no >= 1;
	if (good) {
		lathe_tir_var *order[MAX_BAND];
		memcpy(order, outer, sizeof *outer * (size_t)no);
		memcpy(order + no, tile, sizeof *tile * (size_t)nt);
		good = ok(lathe_sched_reorder(c->f, no + nt, order));
	}
	lathe_tir_var *L = good ? outer[no - 1] : NULL;
	good = good && ok(lathe_sched_cache_write(c->f, n->acc, L, NULL));
	if (good) {
		/* The update nest kept the tile variables: move its reduction loops
		 * outside them. */
		lathe_tir_stmt *rl[MAX_BAND], *rbody;
		lathe_tir_stmt *inner = loop_of(c, tile[nt - 1]);
		int nr = inner ? sched_band(inner->body, rl, MAX_BAND - 2, &rbody) : 0;
		lathe_tir_var *order[MAX_BAND];
		for (int i = 0; i < nr; i++)
			order[i] = rl[i]->var;
		for (int i = 0; i < nt; i++)
			order[nr + i] = tile[i];
		good = nr > 0 && ok(lathe_sched_reorder(c->f, nr + nt, order));
	}
	if (good && overhang) {
		/* The overhang pays only if the update runs without the guard. */
		lathe_tir_stmt *vl = loop_of(c, vi);
		lathe_tir_stmt *vb = vl ? sched_unwrap(vl->body) : NULL;
		good = vb && vb->kind != LATHE_TIR_S_IF;
	}
	if (good && vi)
		good = ok(lathe_sched_vectorize(c->f, vi));
	if (good && rin)
		ok(lathe_sched_unroll(c->f, rin));
	if (!good) {
		sched_snap_restore(c->f, &snap);
		return false;
	}
	sched_snap_drop(&snap);
	finish_tile_nests(c, L, vi != NULL, rin != NULL);
	if (n->padded)
		pad_inputs(c, outer[0], vars[n->pa]);
	parallel_outer(c, outer, no, n->work);
	return true;
}

static void schedule_reduction(dctx *c, lathe_tir_var *top)
{
	rnest n = {.top = top, .pa = -1};
	lathe_tir_stmt *loops[MAX_BAND], *body;
	n.k = sched_band(loop_of(c, top), loops, MAX_BAND, &body);
	if (n.k == 0)
		return;
	n.work = work_of(loop_of(c, top));
	n.acc = find_acc(c, body);
	n.out = n.acc ? first_store(body, n.acc, true) : NULL;
	for (int i = 0; i < n.k; i++)
		n.vars[i] = loops[i]->var;
	n.pa = n.out ? pad_axis(c, loops, n.k, n.out) : -1;
	n.padded = n.pa >= 0 && reads_padded(c, top);
	/* Untiled, a conv pads its whole input once (a copy per output row
	 * would be redone for every output channel). */
	lathe_tir_var *pad_at = n.padded && c->cls != LATHE_SCHED_CONV ? n.vars[n.pa] : NULL;
	if (n.acc && n.out && n.k <= MAX_BAND - 2) {
		/* The vector axis: the innermost spatial loop, when the output and
		 * the inputs are contiguous (or invariant) in it. */
		const int k = n.k;
		int lanes = lanes_for(c, n.acc->dtype);
		lathe_tir_var *sv = n.vars[k - 1];
		int64_t ev = extent_of(c, sv), kv, w = 0, wo = 0;
		if (lanes && ev > 0 && coef_of(c, n.out->buf, n.out->idx, sv, &kv) && kv == 1 &&
		    contiguous_in(c, body, sv, n.acc)) {
			bool wide = c->cls == LATHE_SCHED_MATMUL || c->cls == LATHE_SCHED_CONV;
			w = pick_width(ev, wide ? 2 * lanes : lanes, n.acc->dtype);
			/* No vector divides the width (14, 7): compute a few columns
			 * past it, which the final store's guard drops. */
			if (!w && c->cls != LATHE_SCHED_REDUCTION)
				wo = pick_overhang(ev, wide ? 2 * lanes : lanes, n.acc->dtype);
		}
		int ri = tile_row_axis(c, loops, k, n.out);
		int64_t mr = ri >= 0 && ri != k - 1 ? pick_rows(extent_of(c, n.vars[ri])) : 0;
		/* Without vectors (a transposed weight, a strided window), a few
		 * outputs of the innermost loop at once still run independent
		 * accumulation chains side by side. */
		int ri2 = ri, mr2 = (int)mr;
		if (!mr2 && c->cls != LATHE_SCHED_REDUCTION) {
			ri2 = k - 1;
			mr2 = pick_rows(ev);
		}
		if (w && tile_reduction(c, &n, w, false, ri, mr))
			return;
		if (wo && tile_reduction(c, &n, wo, true, ri, mr))
			return;
		if (mr2 && tile_reduction(c, &n, 0, false, ri2, mr2))
			return;
	}
	pad_inputs(c, top, pad_at);
	parallel_outer(c, n.vars, n.k, n.work);
}

/* ---- softmax and normalization: statistics inside the row loop ------------------------- */

/* Top-level statements that use b. */
static int users(lathe_tir_func *f, const lathe_tir_buf *b, int *last)
{
	int n = 0;
	for (int k = 0; k < f->body->n; k++)
		if (sched_stmt_uses(f->body->stmts[k], b)) {
			n++;
			*last = k;
		}
	return n;
}

/* The row loop of nest `top` for local b: the deepest band loop such that
 * b's loads use it and every band loop above it (no recomputation). */
static lathe_tir_var *row_loop(dctx *c, lathe_tir_var *top, lathe_tir_buf *b)
{
	lathe_tir_stmt *loops[MAX_BAND], *body;
	int k = sched_band(loop_of(c, top), loops, MAX_BAND, &body);
	sched_accesses acc = {0};
	sched_collect(loop_of(c, top), b, &acc);
	uint8_t *used = lathe_xcalloc(c->f->vars.len + 1, 1);
	sched_info I;
	sched_info_init(&I, c->f);
	for (size_t i = 0; i < acc.len; i++)
		for (int d = 0; d < b->rank; d++) {
			sched_aff a;
			if (!sched_aff_of(&I, acc.data[i].idx[d], &a))
				continue;
			for (int t = 0; t < a.n; t++)
				if (a.t[t].var)
					used[a.t[t].var->id] = 1;
		}
	sched_info_deinit(&I);
	lathe_tir_var *r = NULL;
	for (int i = 0; i < k && used[loops[i]->var->id]; i++)
		r = loops[i]->var;
	free(used);
	lathe_vec_free(&acc);
	return r;
}

static void schedule_rows(dctx *c)
{
	lathe_tir_func *f = c->f;
	int main = -1;
	for (int k = f->body->n - 1; k >= 0 && main < 0; k--)
		if (f->body->stmts[k]->kind == LATHE_TIR_S_FOR)
			main = k;
	if (main < 1)
		return;
	lathe_tir_var *top = f->body->stmts[main]->var;
	lathe_tir_var *deepest = NULL;
	/* Locals in reverse order of production, each read only by the main nest. */
	for (bool moved = true; moved;) {
		moved = false;
		for (int k = f->body->n - 1; k >= 0 && !moved; k--) {
			lathe_tir_stmt *s = f->body->stmts[k];
			if (s->var == top)
				continue;
			for (size_t i = (size_t)f->nparams; i < f->bufs.len && !moved; i++) {
				lathe_tir_buf *b = f->bufs.data[i];
				int last = -1;
				if (!sched_stmt_writes(s, b) || users(f, b, &last) != 2 ||
				    f->body->stmts[last]->var != top)
					continue;
				lathe_tir_var *L = row_loop(c, top, b);
				if (L && ok(lathe_sched_compute_at(f, b, L))) {
					moved = true;
					/* The deepest row loop chosen so far bounds the parallel fuse. */
					lathe_tir_stmt *band[MAX_BAND];
					int nb = sched_band(loop_of(c, top), band, MAX_BAND, NULL);
					int at = -1, dl = -1;
					for (int j = 0; j < nb; j++) {
						if (band[j]->var == L)
							at = j;
						if (band[j]->var == deepest)
							dl = j;
					}
					if (at > dl)
						deepest = L;
				}
			}
		}
	}
	if (!deepest)
		return;
	/* Rows in parallel; the output loop inside them vectorized. */
	lathe_tir_stmt *band[MAX_BAND], *body;
	int nb = sched_band(loop_of(c, top), band, MAX_BAND, &body);
	lathe_tir_var *vars[MAX_BAND];
	int nv = 0;
	for (int j = 0; j < nb; j++) {
		vars[nv++] = band[j]->var;
		if (band[j]->var == deepest)
			break;
	}
	lathe_tir_stmt **ss, *one;
	int n = sched_stmts(loop_of(c, deepest)->body, &ss, &one);
	lathe_tir_stmt *lastst = n ? ss[n - 1] : NULL;
	if (lastst && lastst->kind == LATHE_TIR_S_FOR)
		schedule_elementwise(c, lastst->var, true);
	int64_t work = work_of(loop_of(c, top));
	parallel_outer(c, vars, nv, work);
}

/* ---- driver --------------------------------------------------------------------------- */

static void schedule_nest(dctx *c, lathe_tir_var *top)
{
	lathe_tir_stmt *s = loop_of(c, top);
	if (!s || (s->for_kind != LATHE_TIR_SERIAL))
		return;
	lathe_tir_stmt *loops[MAX_BAND], *body;
	int k = sched_band(s, loops, MAX_BAND, &body);
	if (k == 0)
		return;
	if (!sched_stmt_has_loop(body)) {
		schedule_elementwise(c, top, true);
		return;
	}
	schedule_reduction(c, top);
}

static bool already_scheduled(const lathe_tir_stmt *s)
{
	if (!s)
		return false;
	if (s->kind == LATHE_TIR_S_FOR && s->for_kind != LATHE_TIR_SERIAL)
		return true;
	if (s->kind == LATHE_TIR_S_SEQ) {
		for (int i = 0; i < s->n; i++)
			if (already_scheduled(s->stmts[i]))
				return true;
		return false;
	}
	return already_scheduled(s->body) || already_scheduled(s->orelse);
}

lathe_err lathe_sched_default(lathe_tir_func *f, const lathe_target *t)
{
	if (!f || !t)
		return lathe_error(LATHE_EINVAL, "default schedule: no function or target");
	lathe_tir_simplify(f);
	/* Hand-scheduled (or already tensorized) functions keep their schedule. */
	if (f->sched_class == LATHE_SCHED_NONE || already_scheduled(f->body) ||
	    lathe_sched_calls(f->body, NULL))
		return NULL;
	lathe_target tt = *t;
	if (tt.vector_bytes < 16)
		tt.vector_bytes = 16;
	dctx c = {f, &tt, f->sched_class};
	sched_snap snap;
	sched_snap_take(f, &snap);
	if (tt.ukernels)
		sched_tensorize(f, &tt);
	if (c.cls == LATHE_SCHED_SOFTMAX_NORM)
		schedule_rows(&c);
	/* The top-level nests, by their outermost variable (statements are
	 * rebuilt as they are scheduled; variables stay). */
	LATHE_VEC(lathe_tir_var *) tops = {0};
	for (int k = 0; k < f->body->n; k++) {
		lathe_tir_stmt *s = f->body->stmts[k];
		if (s->kind == LATHE_TIR_S_FOR && !already_scheduled(s) && !lathe_sched_calls(s, NULL))
			lathe_vec_push(&tops, s->var);
	}
	for (size_t i = 0; i < tops.len; i++)
		schedule_nest(&c, tops.data[i]);
	lathe_vec_free(&tops);
	lathe_tir_simplify(f);
	lathe_err e = lathe_tir_verify(f);
	if (e) {
		sched_snap_restore(f, &snap);
		return lathe_error_wrap(e, "internal error: default schedule (%s)",
					lathe_sched_class_name(c.cls));
	}
	sched_snap_drop(&snap);
	return NULL;
}
