/* ukernel.c: the sgemm and pack micro-kernels (lathe_rt_ukernel.h): checks,
 * blocking, packing, threads, epilogues; the register tiles themselves are
 * in ukernel_isa.c, depthwise convolution in ukernel_dw.c, max pooling in
 * ukernel_pool.c (their plane kernels in ukernel_plane.c), softmax and
 * layer normalization in ukernel_rows.c, the one-row case of sgemm (sgemv)
 * in ukernel_gemv.c.
 *
 * sgemm follows the usual blocked scheme.  K is cut into blocks of at most
 * KC_MAX (a block of B's panel then stays in the L1 cache while the tile
 * kernel sweeps a block of A's panels, which stays in L2); N into blocks
 * of NC columns, M into chunks of rows.  A strided A is packed once per
 * call into the shared scratch (a packed one, the usual case for weights,
 * is read in place).  One task is a block of C over all of K: per K block
 * it gets its columns of B ready (packed panels, rows read in place, or
 * im2col panels for a convolution, zero padding written into them, so the
 * tile kernel never tests a bound), then runs the tile kernel on each
 * MR x NR tile and applies the epilogue to a tile in registers once its
 * last K block is done.  A convolution over an NCHW input whose rows are
 * contiguous goes direct instead: the input is copied once, padded, into
 * one plane per stride phase (h mod SH, w mod SW) of each channel, so that
 * every tap's row of B is a contiguous run of a plane; C is computed over
 * the planes' padded width and the valid columns stored (no im2col copy
 * at all).  With the transposed tile (MR x NR = 32 x 14, for few output
 * positions) a task packs its columns of B into panels of 14 (gathered
 * from those planes for a convolution), sums C^T into its slot and stores
 * it transposed, with the epilogue, at the end.  Tasks are shared by SLOTS
 * threads through an atomic counter;
 * each thread packs into its own slot of the caller's scratch.  Only the K
 * blocking decides the order of a sum, and it depends on K alone: results
 * do not depend on the thread count.
 *
 * Every pointer's region is checked against its avail count before
 * anything is read or written; sizes are checked for overflow.  The thread
 * pool is reached through its first member (lathe_rt.h), so this file needs
 * no symbol of the rest of the runtime.  libc only.
 */
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lathe_rt_ukernel.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define UK_SSE 1
#else
#define UK_SSE 0
#endif

typedef void (*uk_task_fn)(void *ctx, int64_t begin, int64_t end);
typedef void (*uk_pfor_fn)(lathe_rt_pool *p, int64_t n, uk_task_fn fn, void *ctx);

enum { KC_MAX = 288, MC_MAX = 240, NC_MAX = 512, MAX_R = 64, SCRATCH_SLACK = 16 };
/* The transposed tile (lathe_rt_ukernel.h): MR x NR = 32 x 14 computes
 * C^T, 14 columns of C by 32 rows, the rows on the vector axis; a task
 * covers at most NCT_MAX columns. */
enum { UK_TMR = 32, UK_TNR = 14, NCT_MAX = 224 };
/* The longest input row a direct convolution of stride 2 splits on the
 * stack (longer ones are gathered element by element). */
enum { UK_ROW_MAX = 4096 };

LATHE_RT_UK_API int lathe_rt_uk_fail(const lathe_rt_uk_args *a, const char *fmt, ...)
{
	if (a->err && a->err_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(a->err, a->err_size, fmt, ap);
		va_end(ap);
	}
	return 1; /* LATHE_RT_EINVAL */
}

LATHE_RT_UK_API int lathe_rt_uk_need(const lathe_rt_uk_args *a, const char *kernel, int n,
				     const int64_t *need, const char *const *what)
{
	for (int i = 0; i < n; i++)
		if (need[i] > a->avail[i])
			return lathe_rt_uk_fail(a, "%s: %s needs %lld elements, %lld available", kernel,
						what[i], (long long)need[i], (long long)a->avail[i]);
	return 0;
}

LATHE_RT_UK_API void lathe_rt_uk_pfor(lathe_rt_pool *p, int64_t n, uk_task_fn fn, void *ctx)
{
	if (!p) {
		if (n > 0)
			fn(ctx, 0, n);
		return;
	}
	(*(uk_pfor_fn *)(void *)p)(p, n, fn, ctx);
}

LATHE_RT_UK_API int lathe_rt_uk_threads(const lathe_rt_pool *p)
{
	typedef struct {
		uk_pfor_fn pfor;
		int size;
	} head;
	return p ? ((const head *)(const void *)p)->size : 1;
}

LATHE_RT_UK_API int64_t lathe_rt_uk_bands(const lathe_rt_pool *p, int64_t OH)
{
	int threads = lathe_rt_uk_threads(p);
	return OH < LATHE_UK_BAND_ROWS ? 1 : threads < OH ? threads : OH;
}

LATHE_RT_UK_API void lathe_rt_uk_runs_init(lathe_rt_uk_runs *r, int64_t items, int64_t slots)
{
	r->n = slots < 1 ? 1 : slots < LATHE_RT_UK_RUNS ? (int)slots : LATHE_RT_UK_RUNS;
	for (int q = 0; q < r->n; q++) {
		atomic_init(&r->next[q], q * items / r->n);
		r->end[q] = (q + 1) * items / r->n;
	}
}

LATHE_RT_UK_API int64_t lathe_rt_uk_runs_take(lathe_rt_uk_runs *r, int64_t s, int *k)
{
	for (; *k < r->n; ++*k) {
		int q = (int)((s + *k) % r->n);
		int64_t t = (int64_t)atomic_fetch_add_explicit(&r->next[q], 1, memory_order_relaxed);
		if (t < r->end[q])
			return t;
	}
	return -1;
}

/* ---- checked arithmetic ------------------------------------------------------- */

/* Largest offset sum (e[i]-1)*s[i] + 1 of n (extent, stride) pairs, strides
 * >= 0; -1 on overflow or a negative stride.  0 when an extent is 0. */
static int64_t uk_span(int n, const int64_t *e, const int64_t *s)
{
	int64_t hi = 0;
	for (int i = 0; i < n; i++) {
		if (e[i] <= 0)
			return e[i] < 0 ? -1 : 0;
		int64_t t;
		if (s[i] < 0 || __builtin_mul_overflow(e[i] - 1, s[i], &t) ||
		    __builtin_add_overflow(hi, t, &hi))
			return -1;
	}
	return hi + 1;
}

static int64_t uk_ceil(int64_t a, int64_t b)
{
	return (a + b - 1) / b;
}

/* ---- epilogues ------------------------------------------------------------------ */

typedef lathe_rt_uk_epi uk_epi;

LATHE_RT_UK_API int lathe_rt_uk_epi_parse(const lathe_rt_uk_args *a, int at, int64_t nepi, int p0,
					  int64_t M, int64_t N, uk_epi *ep)
{
	if (nepi < 0 || nepi > LATHE_UK_EPI_MAX)
		return lathe_rt_uk_fail(a, "epilogue: %lld operations (at most %d)", (long long)nepi,
			       LATHE_UK_EPI_MAX);
	if (at + nepi * LATHE_UK_EPI_INTS > a->nip)
		return lathe_rt_uk_fail(a, "epilogue: %d integer parameters, %lld needed", a->nip,
			       (long long)(at + nepi * LATHE_UK_EPI_INTS));
	memset(ep, 0, sizeof *ep);
	ep->n = (int)nepi;
	ep->unit = ep->simple = 1;
	ep->rows = lathe_rt_uk_epi_rows_kernel();
	int p = p0, saved = 0;
	for (int i = 0; i < ep->n; i++) {
		const int64_t *q = a->ip + at + i * LATHE_UK_EPI_INTS;
		int64_t code = q[0];
		int tensor = 0;
		switch (code) {
		case LATHE_UK_EPI_ADD_S: case LATHE_UK_EPI_MUL_S: case LATHE_UK_EPI_MAX_S:
		case LATHE_UK_EPI_MIN_S: case LATHE_UK_EPI_SUB_S: case LATHE_UK_EPI_DIV_S:
			if (q[1] < 0 || q[1] >= a->nfp)
				return lathe_rt_uk_fail(a, "epilogue %d: float parameter %lld of %d", i,
					       (long long)q[1], a->nfp);
			ep->op[i] = code == LATHE_UK_EPI_ADD_S ? LATHE_UK_OP_ADD
				    : code == LATHE_UK_EPI_MUL_S ? LATHE_UK_OP_MUL
				    : code == LATHE_UK_EPI_MAX_S ? LATHE_UK_OP_MAX
				    : code == LATHE_UK_EPI_MIN_S ? LATHE_UK_OP_MIN
				    : code == LATHE_UK_EPI_SUB_S ? LATHE_UK_OP_SUB : LATHE_UK_OP_DIV;
			ep->rev[i] = q[2] != 0;
			ep->f[i] = (float)a->fp[q[1]];
			break;
		case LATHE_UK_EPI_ADD_M: case LATHE_UK_EPI_MUL_M:
			ep->op[i] = code == LATHE_UK_EPI_ADD_M ? LATHE_UK_OP_ADD : LATHE_UK_OP_MUL;
			ep->sm[i] = q[1];
			tensor = 1;
			break;
		case LATHE_UK_EPI_ADD_N: case LATHE_UK_EPI_MUL_N:
			ep->op[i] = code == LATHE_UK_EPI_ADD_N ? LATHE_UK_OP_ADD : LATHE_UK_OP_MUL;
			ep->sn[i] = q[1];
			tensor = 1;
			break;
		case LATHE_UK_EPI_ADD_MN: case LATHE_UK_EPI_MUL_MN: case LATHE_UK_EPI_MAX_T:
		case LATHE_UK_EPI_MAX_TR: case LATHE_UK_EPI_MIN_T: case LATHE_UK_EPI_MIN_TR:
		case LATHE_UK_EPI_SUB_T: case LATHE_UK_EPI_SUB_TR: case LATHE_UK_EPI_DIV_T:
		case LATHE_UK_EPI_DIV_TR:
			ep->op[i] = code == LATHE_UK_EPI_ADD_MN ? LATHE_UK_OP_ADD
				    : code == LATHE_UK_EPI_MUL_MN ? LATHE_UK_OP_MUL
				    : code <= LATHE_UK_EPI_MAX_TR ? LATHE_UK_OP_MAX
				    : code <= LATHE_UK_EPI_MIN_TR ? LATHE_UK_OP_MIN
				    : code <= LATHE_UK_EPI_SUB_TR ? LATHE_UK_OP_SUB : LATHE_UK_OP_DIV;
			ep->rev[i] = code == LATHE_UK_EPI_MAX_TR || code == LATHE_UK_EPI_MIN_TR ||
				     code == LATHE_UK_EPI_SUB_TR || code == LATHE_UK_EPI_DIV_TR;
			ep->sm[i] = q[1];
			ep->sn[i] = q[2];
			tensor = 1;
			break;
		case LATHE_UK_EPI_SAVE:
			ep->op[i] = LATHE_UK_OP_SAVE;
			saved = 1;
			break;
		case LATHE_UK_EPI_SAVED:
			if (!saved || q[1] < LATHE_UK_OP_ADD || q[1] > LATHE_UK_OP_DIV)
				return lathe_rt_uk_fail(a, "epilogue %d: nothing kept, or operator %lld", i,
					       (long long)q[1]);
			ep->op[i] = (uint8_t)q[1];
			ep->rev[i] = q[2] != 0;
			ep->saved[i] = 1;
			break;
		case LATHE_UK_EPI_ERF:
			ep->op[i] = LATHE_UK_OP_ERF;
			break;
		default:
			return lathe_rt_uk_fail(a, "epilogue %d: unknown operation %lld", i, (long long)code);
		}
		if (ep->op[i] > LATHE_UK_OP_MIN || ep->saved[i])
			ep->simple = 0;
		if (!tensor)
			continue;
		if (ep->sn[i] != 0 && ep->sn[i] != 1)
			ep->unit = 0;
		if (p >= a->nptr)
			return lathe_rt_uk_fail(a, "epilogue %d: no operand pointer", i);
		int64_t e[2] = {M, N}, s[2] = {ep->sm[i], ep->sn[i]};
		int64_t need = M == 0 || N == 0 ? 0 : uk_span(2, e, s);
		if (need < 0 || need > a->avail[p])
			return lathe_rt_uk_fail(a, "epilogue %d: operand needs %lld elements, %lld available", i,
				       (long long)need, (long long)a->avail[p]);
		ep->v[i] = a->ptr[p++];
	}
	return 0;
}

static inline float uk_max(float x, float y)
{
	return isnan(x) || isnan(y) ? NAN : (y > x ? y : x);
}

static inline float uk_min(float x, float y)
{
	return isnan(x) || isnan(y) ? NAN : (y < x ? y : x);
}

/* One row in plain loops: each operation exactly as the loop IR computes
 * it (erf in double, rounded). */
static void uk_epi_row(const uk_epi *ep, float *r, int64_t n, int64_t m, int64_t n0)
{
	for (int64_t j = 0; j < n; j++) {
		float t = r[j], kept = 0;
		for (int i = 0; i < ep->n; i++) {
			float x = ep->saved[i] ? kept : ep->v[i] ? ep->v[i][m * ep->sm[i] + (n0 + j) * ep->sn[i]]
							   : ep->f[i];
			float a = ep->rev[i] ? x : t, b = ep->rev[i] ? t : x;
			switch (ep->op[i]) {
			case LATHE_UK_OP_ADD: t = a + b; break;
			case LATHE_UK_OP_MUL: t = a * b; break;
			case LATHE_UK_OP_MAX: t = uk_max(a, b); break;
			case LATHE_UK_OP_MIN: t = uk_min(a, b); break;
			case LATHE_UK_OP_SUB: t = a - b; break;
			case LATHE_UK_OP_DIV: t = a / b; break;
			case LATHE_UK_OP_ERF: t = (float)erf((double)t); break;
			default: kept = t; break;
			}
		}
		r[j] = t;
	}
}

LATHE_RT_UK_API void lathe_rt_uk_epi_rows(const uk_epi *ep, float *c, int64_t ldc,
					  int64_t nrows, int64_t n, int64_t m0, int64_t n0)
{
	if (ep->rows) {
		ep->rows(ep, c, ldc, nrows, n, m0, n0);
		return;
	}
	for (int64_t i = 0; i < nrows; i++)
		uk_epi_row(ep, c + i * ldc, n, m0 + i, n0);
}

/* ---- packing ------------------------------------------------------------------ */

static int64_t uk_kc(int64_t K);

/* Packs rows (or columns) mn < MN of an operand, element (mn, k) at
 * src[mn*smn + k0*sk[0] + k1*sk[1] + k2*sk[2]], into panels of R: block by
 * block of K (uk_kc), panel by panel within, zeros past MN.  The layout
 * of lathe_rt_uk_pack, which sgemm reads in order. */
static void uk_pack_panels(float *dst, const float *src, int64_t MN, int64_t R, int64_t smn,
			   const int64_t *ke, const int64_t *sk)
{
	int64_t K = ke[0] * ke[1] * ke[2], KC = uk_kc(K), np = uk_ceil(MN, R);
	/* k contiguous in src: 4 x 4 blocks transposed in registers. */
	int linear = (ke[2] == 1 || sk[2] == 1) && (ke[1] == 1 || sk[1] == ke[2]) &&
		     (ke[0] == 1 || sk[0] == ke[1] * ke[2]);
	for (int64_t pc = 0; pc < K; pc += KC) {
		int64_t kc = K - pc < KC ? K - pc : KC;
		for (int64_t p = 0; p < np; p++) {
			float *d = dst + pc * np * R + p * kc * R;
			int64_t rows = MN - p * R < R ? MN - p * R : R, i0 = 0;
#if UK_SSE
			if (linear) {
				for (; i0 + 4 <= rows; i0 += 4) {
					const float *s0 = src + (p * R + i0) * smn + pc;
					int64_t k = 0;
					for (; k + 4 <= kc; k += 4) {
						__m128 r0 = _mm_loadu_ps(s0 + k), r1 = _mm_loadu_ps(s0 + smn + k);
						__m128 r2 = _mm_loadu_ps(s0 + 2 * smn + k);
						__m128 r3 = _mm_loadu_ps(s0 + 3 * smn + k);
						_MM_TRANSPOSE4_PS(r0, r1, r2, r3);
						_mm_storeu_ps(d + k * R + i0, r0);
						_mm_storeu_ps(d + (k + 1) * R + i0, r1);
						_mm_storeu_ps(d + (k + 2) * R + i0, r2);
						_mm_storeu_ps(d + (k + 3) * R + i0, r3);
					}
					for (; k < kc; k++)
						for (int64_t i = 0; i < 4; i++)
							d[k * R + i0 + i] = s0[i * smn + k];
				}
			}
#endif
			int64_t k2 = pc % ke[2], k1 = (pc / ke[2]) % ke[1], k0 = pc / (ke[2] * ke[1]);
			for (int64_t k = 0; k < kc; k++) {
				const float *sp = src + k0 * sk[0] + k1 * sk[1] + k2 * sk[2];
				float *dk = d + k * R;
				for (int64_t i = i0; i < R; i++)
					dk[i] = i < rows ? sp[(p * R + i) * smn] : 0;
				if (++k2 == ke[2]) {
					k2 = 0;
					if (++k1 == ke[1])
						k1 = 0, k0++;
				}
			}
		}
	}
}

/* ---- sgemm: parameters ------------------------------------------------------------ */

/* How B reaches the tile kernel. */
enum {
	BM_PACKED, /* packed by the caller (lathe_rt_uk_pack) */
	BM_ROWS,   /* strided, contiguous along n: rows read in place, the last
		    * partial panel packed */
	BM_PACK,   /* strided otherwise: packed per task */
	BM_DIRECT, /* stride-1 convolution: rows of a padded copy of the input
		    * read in place, over the padded width */
	BM_IM2COL, /* other convolutions: im2col packed per task */
};

typedef struct uk_gemm {
	int64_t M, N, K, k[3], MR, NR;
	int afmt, bfmt, bmode;
	int trans; /* the transposed tile: C^T in a slot's buffer, stored at the end */
	int64_t ldt; /* that buffer's row stride (mchunk) */
	int64_t ars, ak[3], bcs, bk[3], ldc, slots;
	/* im2col */
	int64_t cc[3], ch[3], cw[3], sc, shs, sws, H, W, OW, sh, sw, h0, w0;
	/* direct convolution: padded input [nch][Hp][Wp], outputs over the
	 * padded width (n' = oh*Wp + ow, NP of them in panels), or, with row
	 * tiles (OWR > 0), over each output row rounded up to whole tiles
	 * (n' = oh*OWR + ow); planes of [Hp][Wp] per channel and phase
	 * (h mod dsh, w mod sw) */
	int64_t nch, dsh, Hp, Wp, xpad, NP, OWR, cq[3]; /* cq: the channel step of each K loop */
	int64_t nphr, nphc; /* phases of rows, of columns with planes: those up to the
			     * largest tap offset (a 1x1 convolution of stride 2 has one) */
	int ep_nfree; /* no operand of the epilogue depends on the column */
	int64_t planes_nb; /* blocks of rows per (channel, row phase) in the planes' copy */
	const float *A, *B;
	const float *apk; /* A packed: the caller's, or ours */
	float *C, *scratch;
	uk_epi ep;
	int64_t KC, MC, NC, ablk, bblk, slot; /* blocking; scratch floats per block and slot */
	int64_t mchunk;                       /* rows of C one task covers */
	int64_t shared;                       /* scratch floats before the slots */
	int64_t off_apack, off_boff, off_xp, off_cacc; /* where in it: packed A, offsets, padded
						      * input, sums */
	float *xp, *cacc;
	const int64_t *boff;
	lathe_rt_uk_tile_fn tile, half; /* half: MR x NR/2 tiles, for row tiles' last (or NULL) */
	lathe_rt_uk_copy_fn copy;
	lathe_rt_uk_panel_fn panel;
	lathe_rt_uk_gather_fn gather; /* the transposed tile's panels from the planes */
	lathe_rt_uk_untrans_fn untrans; /* the transposed tile's C^T to C */
	lathe_rt_uk_deint_fn deint;
	unsigned char rused[64], cused[64]; /* phases of rows, of columns some tap reads */
} uk_gemm;

static int64_t uk_round16(int64_t n)
{
	return uk_ceil(n, 16) * 16;
}

/* Blocking and scratch, from the sizes alone (the scratch planned at
 * compile time must be what the kernel wants at run time). */
/* The K block: at most KC_MAX, as even as possible.  Packed operands are
 * laid out block after block (lathe_rt_uk_pack), so this depends on K
 * alone. */
static int64_t uk_kc(int64_t K)
{
	int64_t nk = uk_ceil(K > 0 ? K : 1, KC_MAX);
	return uk_ceil(K > 0 ? K : 1, nk);
}

/* A direct convolution's tiles either run along the padded rows, one
 * after the other (a tile may straddle two output rows: it then goes
 * through a buffer, its valid runs copied to C), or stay within one
 * output row each (row tiles: C written in place).  A row's last tile,
 * of r < NR columns, is computed by the tile kernel's half-width sibling
 * when r <= NR/2 (112 columns: three tiles of 32 and one of 16), else by
 * the full one, both writing only its r columns (masked stores; a family
 * without them puts that tile through a buffer).  Row tiles are taken
 * where the columns they compute are no more than the padded row's (112
 * for OW 111 and Wp 112) or, where K is short and the copies would weigh
 * (a first layer's 3 channels), up to an eighth more.  The reads stay
 * inside the padded input: a row tile's last column is below
 * oh*Wp + OW + NR, which the flat tiles read too. */
static void uk_row_tiles(uk_gemm *g, int64_t oh_n)
{
	int64_t NR = g->NR, r = g->OW % NR, cols = g->OW - r;
	if (g->trans || g->OW < 1)
		return;
	cols += r == 0 ? 0 : 2 * r <= NR ? NR / 2 : NR;
	int64_t owr = uk_ceil(g->OW, NR) * NR, np, c;
	if ((cols <= g->Wp || (g->K <= 256 && 8 * cols <= 9 * g->Wp)) &&
	    !__builtin_mul_overflow(oh_n, owr, &np) && np < ((int64_t)1 << 40) &&
	    !__builtin_mul_overflow(np + NR, g->M, &c) && c < ((int64_t)1 << 40)) {
		g->OWR = owr;
		g->NP = np;
	}
}

static void uk_block(uk_gemm *g)
{
	int64_t nk = uk_ceil(g->K > 0 ? g->K : 1, KC_MAX);
	g->KC = uk_kc(g->K);
	/* B's mode */
	int64_t hw = g->H * g->W;
	g->bmode = g->bfmt == LATHE_UK_FMT_PACKED ? BM_PACKED
		   : g->bfmt == LATHE_UK_FMT_STRIDED ? (g->bcs == 1 ? BM_ROWS : BM_PACK)
						     : BM_IM2COL;
	g->trans = g->MR == UK_TMR && g->NR == UK_TNR;
	if (g->trans && g->bmode == BM_ROWS)
		g->bmode = BM_PACK; /* columns in panels of 14: packed */
	int64_t oh_n = g->OW > 0 ? g->N / g->OW : 0, sh = oh_n == 1 ? 1 : g->sh;
	if (g->bmode == BM_IM2COL && g->sw >= 1 && sh >= 1 && g->sws == 1 && g->shs == g->W &&
	    hw > 0) {
		int ok = 1;
		int64_t dh = 0, dw = 0, ch = 0;
		for (int i = 0; i < 3; i++) {
			/* both below 2^31: no overflow */
			int64_t e = g->cc[i] * g->sc;
			ok &= e % hw == 0;
			g->cq[i] = e / hw;
			ch += (g->k[i] - 1) * g->cq[i];
			dh += (g->k[i] - 1) * g->ch[i];
			dw += (g->k[i] - 1) * g->cw[i];
		}
		/* Strided: one plane per phase (h mod sh, w mod sw) of each
		 * channel, so that every tap reads a contiguous run. */
		int64_t hq = oh_n + dh / sh, wq = g->OW + dw / g->sw, x, np, c;
		/* Phase r of rows is read only when some tap's dh mod sh is r:
		 * none past dh's largest value. */
		int64_t nphr = dh + 1 < sh ? dh + 1 : sh, nphc = dw + 1 < g->sw ? dw + 1 : g->sw;
		/* Sizes stay far below 2^62: the scratch they ask for is checked. */
		if (ok && g->K > 0 && g->sw <= 64 && sh <= 64 &&
		    !__builtin_mul_overflow(ch + 1, nphr * nphc, &x) &&
		    !__builtin_mul_overflow(x, hq, &x) && !__builtin_mul_overflow(x, wq, &x) &&
		    x < ((int64_t)1 << 40) && !__builtin_mul_overflow(oh_n, wq, &np) &&
		    np < ((int64_t)1 << 40) && !__builtin_mul_overflow(g->M, np + g->NR, &c) &&
		    c < ((int64_t)1 << 40)) {
			g->bmode = BM_DIRECT;
			g->nch = ch + 1;
			g->dsh = sh;
			g->nphr = nphr;
			g->nphc = nphc;
			g->Hp = hq;
			g->Wp = wq;
			g->xpad = x + dw / g->sw + g->NR;
			g->NP = np;
			uk_row_tiles(g, oh_n);
		}
	}
	int64_t ncols = g->bmode == BM_DIRECT && !g->trans ? g->NP : g->N;
	int64_t mcmax = g->MR * (MC_MAX / g->MR > 0 ? MC_MAX / g->MR : 1);
	int64_t ncmax = g->trans ? NCT_MAX : g->NR * (NC_MAX / g->NR > 0 ? NC_MAX / g->NR : 1);
	int64_t mfull = uk_ceil(g->M, g->MR) * g->MR, nfull = uk_ceil(ncols, g->NR) * g->NR;
	g->MC = mfull < mcmax ? mfull : mcmax;
	g->NC = nfull < ncmax ? nfull : ncmax;
	if (g->MC < 1)
		g->MC = g->MR;
	if (g->NC < 1)
		g->NC = g->NR;
	/* Enough tasks for the threads: a task packs its columns of B once for
	 * all its rows, so narrower column blocks first, then fewer rows; but
	 * rows first on few panels of columns, which column blocks of whole
	 * panels would not share out evenly (169 positions: 3 panels of 32 and
	 * 2.3; 49: 2 panels of 14 and 1.5), where B is read in place (rows, or
	 * a convolution's planes), or where it is packed per task (the
	 * transposed tile) but there are row panels enough to share out evenly
	 * instead (packing 49 columns is little next to their sums). */
	int64_t nm = uk_ceil(g->M, g->MR), msplit = 1;
	int64_t npn = uk_ceil(ncols, g->NR);
	int rows_first = npn < 4 * g->slots &&
			 (g->trans ? nm >= 4 * g->slots
				   : g->bmode == BM_ROWS || g->bmode == BM_DIRECT);
	while (g->slots > 1 && uk_ceil(ncols, g->NC) * msplit < 2 * g->slots) {
		if (rows_first && msplit < nm)
			msplit++;
		else if (g->NC >= 4 * g->NR)
			g->NC = uk_ceil(g->NC / 2, g->NR) * g->NR;
		else if (msplit < nm)
			msplit++;
		else
			break;
	}
	/* Weights packed as B (a Linear): column blocks in a multiple of the
	 * threads, as even as the panels allow (2304 columns on 2 threads: 6
	 * blocks of 384, not 4 of 512 and one of 256). */
	if (g->slots > 1 && g->bmode == BM_PACKED && !g->trans && msplit == 1) {
		int64_t npn = uk_ceil(ncols, g->NR), nb = uk_ceil(ncols, g->NC);
		if (nb > 1 && nb % g->slots) {
			nb = uk_ceil(nb, g->slots) * g->slots;
			if (nb <= npn)
				g->NC = uk_ceil(npn, nb) * g->NR;
		}
	}
	g->mchunk = uk_ceil(uk_ceil(g->M, msplit), g->MR) * g->MR;
	if (g->mchunk < g->MR)
		g->mchunk = g->MR;
	if (g->MC > g->mchunk)
		g->MC = g->mchunk;
	g->ablk = 0; /* a strided A is packed once, into the shared part */
	g->bblk = g->bmode == BM_PACKED || (g->bmode == BM_DIRECT && !g->trans) ? 0
		  : g->bmode == BM_ROWS ? uk_round16(g->KC * g->NR)
					: uk_round16(g->KC * g->NC);
	g->slot = g->ablk + g->bblk;
	if (g->trans) {
		/* the task's C^T: NC rows of mchunk (a multiple of 32) */
		g->ldt = g->mchunk;
		g->slot += uk_round16(g->NC * g->ldt);
	}
	/* Shared: B's row offsets (int64, two floats each), the padded input,
	 * the sums of a direct convolution between K blocks. */
	int rows = g->bmode == BM_ROWS || g->bmode == BM_DIRECT;
	g->off_apack = 0;
	g->off_boff = g->afmt == LATHE_UK_FMT_PACKED ? 0 : uk_round16(uk_ceil(g->M, g->MR) * g->MR * g->K);
	g->off_xp = g->off_boff + (rows ? uk_round16(2 * g->K) : 0);
	g->off_cacc = g->off_xp + (g->bmode == BM_DIRECT ? uk_round16(g->xpad) : 0);
	g->shared = g->off_cacc + (g->bmode == BM_DIRECT && !g->trans && nk > 1
				   ? uk_round16(g->M * uk_ceil(g->NP, g->NR) * g->NR) : 0);
}
/* Reads and checks the integer parameters (not the pointers). */
static int uk_gemm_ints(const lathe_rt_uk_args *a, const int64_t *ip, int nip, uk_gemm *g)
{
	if (nip < LATHE_UK_G_FIXED)
		return lathe_rt_uk_fail(a, "sgemm: %d integer parameters, %d needed", nip, LATHE_UK_G_FIXED);
	memset(g, 0, sizeof *g);
	g->M = ip[LATHE_UK_G_M];
	g->N = ip[LATHE_UK_G_N];
	for (int i = 0; i < 3; i++) {
		g->k[i] = ip[LATHE_UK_G_K0 + i];
		g->ak[i] = ip[LATHE_UK_G_AK0 + i];
		g->bk[i] = ip[LATHE_UK_G_BK0 + i];
		g->cc[i] = ip[LATHE_UK_G_IM_CC0 + 3 * i];
		g->ch[i] = ip[LATHE_UK_G_IM_CH0 + 3 * i];
		g->cw[i] = ip[LATHE_UK_G_IM_CW0 + 3 * i];
	}
	g->MR = ip[LATHE_UK_G_MR];
	g->NR = ip[LATHE_UK_G_NR];
	g->afmt = (int)ip[LATHE_UK_G_AFMT];
	g->bfmt = (int)ip[LATHE_UK_G_BFMT];
	g->ars = ip[LATHE_UK_G_ARS];
	g->bcs = ip[LATHE_UK_G_BCS];
	g->ldc = ip[LATHE_UK_G_LDC];
	g->slots = ip[LATHE_UK_G_SLOTS];
	g->sc = ip[LATHE_UK_G_IM_SC];
	g->shs = ip[LATHE_UK_G_IM_SHS];
	g->sws = ip[LATHE_UK_G_IM_SWS];
	g->H = ip[LATHE_UK_G_IM_H];
	g->W = ip[LATHE_UK_G_IM_W];
	g->OW = ip[LATHE_UK_G_IM_OW];
	g->sh = ip[LATHE_UK_G_IM_SH];
	g->sw = ip[LATHE_UK_G_IM_SW];
	g->h0 = ip[LATHE_UK_G_IM_H0];
	g->w0 = ip[LATHE_UK_G_IM_W0];
	const int64_t lim = (int64_t)1 << 31;
	if (g->M < 0 || g->N < 0 || g->M >= lim || g->N >= lim)
		return lathe_rt_uk_fail(a, "sgemm: bad size %lld x %lld", (long long)g->M, (long long)g->N);
	g->K = 1;
	for (int i = 0; i < 3; i++) {
		if (g->k[i] < 0 || g->k[i] >= lim || __builtin_mul_overflow(g->K, g->k[i], &g->K) ||
		    g->K >= lim)
			return lathe_rt_uk_fail(a, "sgemm: bad reduction size");
	}
	if (g->MR < 1 || g->MR > MAX_R || g->NR < 1 || g->NR > MAX_R)
		return lathe_rt_uk_fail(a, "sgemm: register tile %lld x %lld (1 to %d each)", (long long)g->MR,
			       (long long)g->NR, MAX_R);
	if (g->afmt != LATHE_UK_FMT_STRIDED && g->afmt != LATHE_UK_FMT_PACKED)
		return lathe_rt_uk_fail(a, "sgemm: A format %d", g->afmt);
	if (g->bfmt < LATHE_UK_FMT_STRIDED || g->bfmt > LATHE_UK_FMT_IM2COL)
		return lathe_rt_uk_fail(a, "sgemm: B format %d", g->bfmt);
	if (g->ldc < g->N || g->slots < 1 || g->slots > 1024)
		return lathe_rt_uk_fail(a, "sgemm: C row stride %lld for %lld columns, %lld slots",
			       (long long)g->ldc, (long long)g->N, (long long)g->slots);
	if (g->bfmt == LATHE_UK_FMT_IM2COL) {
		if (g->OW < 1 || g->N % g->OW || g->H < 0 || g->W < 0 || g->H >= lim || g->W >= lim ||
		    g->sh < 0 || g->sw < 0 || g->sh >= lim || g->sw >= lim || g->h0 <= -lim ||
		    g->h0 >= lim || g->w0 <= -lim || g->w0 >= lim || g->sc < 0 || g->sc >= lim ||
		    g->shs < 0 || g->shs >= lim || g->sws < 0 || g->sws >= lim)
			return lathe_rt_uk_fail(a, "sgemm: bad convolution geometry");
		for (int i = 0; i < 3; i++)
			if (g->cc[i] < 0 || g->ch[i] < 0 || g->cw[i] < 0 || g->cc[i] >= lim ||
			    g->ch[i] >= lim || g->cw[i] >= lim)
				return lathe_rt_uk_fail(a, "sgemm: bad convolution geometry");
	}
	uk_block(g);
	return 0;
}

LATHE_RT_UK_API int64_t lathe_rt_uk_sgemm_scratch(const int64_t *ip, int nip)
{
	lathe_rt_uk_args a = {0};
	uk_gemm g;
	if (uk_gemm_ints(&a, ip, nip, &g))
		return -1;
	return g.shared + g.slots * g.slot + SCRATCH_SLACK;
}

/* Checks every region sgemm touches. */
static int uk_gemm_regions(const lathe_rt_uk_args *a, uk_gemm *g)
{
	if (a->nptr < 4)
		return lathe_rt_uk_fail(a, "sgemm: %d pointers, at least 4 needed", a->nptr);
	int64_t need;
	if (g->M && g->K) {
		if (g->afmt == LATHE_UK_FMT_PACKED) {
			need = uk_ceil(g->M, g->MR) * g->MR * g->K;
		} else {
			int64_t e[4] = {g->M, g->k[0], g->k[1], g->k[2]};
			int64_t s[4] = {g->ars, g->ak[0], g->ak[1], g->ak[2]};
			need = uk_span(4, e, s);
		}
		if (need < 0 || need > a->avail[0])
			return lathe_rt_uk_fail(a, "sgemm: A needs %lld elements, %lld available", (long long)need,
				       (long long)a->avail[0]);
	}
	if (g->N && g->K) {
		if (g->bfmt == LATHE_UK_FMT_PACKED) {
			need = uk_ceil(g->N, g->NR) * g->NR * g->K;
		} else if (g->bfmt == LATHE_UK_FMT_STRIDED) {
			int64_t e[4] = {g->N, g->k[0], g->k[1], g->k[2]};
			int64_t s[4] = {g->bcs, g->bk[0], g->bk[1], g->bk[2]};
			need = uk_span(4, e, s);
		} else {
			/* Channels reach sum cc*(k-1); rows and columns are clipped
			 * to the input's bounds. */
			int64_t ech = uk_span(3, g->k, g->cc);
			int64_t e[3] = {ech, g->H, g->W}, s[3] = {g->sc, g->shs, g->sws};
			need = ech < 0 ? -1 : g->H && g->W ? uk_span(3, e, s) : 0;
			int64_t hi;
			/* Positions are computed in 64 bits: bound them. */
			int64_t dh = uk_span(3, g->k, g->ch), dw = uk_span(3, g->k, g->cw);
			if (dh < 0 || dw < 0 || __builtin_mul_overflow(g->N / g->OW, g->sh, &hi) ||
			    hi + dh > ((int64_t)1 << 40) || __builtin_mul_overflow(g->OW, g->sw, &hi) ||
			    hi + dw > ((int64_t)1 << 40))
				need = -1;
		}
		if (need < 0 || need > a->avail[1])
			return lathe_rt_uk_fail(a, "sgemm: B needs %lld elements, %lld available", (long long)need,
				       (long long)a->avail[1]);
	}
	if (g->M && g->N) {
		need = (g->M - 1) * g->ldc + g->N;
		if (need > a->avail[2])
			return lathe_rt_uk_fail(a, "sgemm: C needs %lld elements, %lld available", (long long)need,
				       (long long)a->avail[2]);
	}
	need = g->shared + g->slots * g->slot + SCRATCH_SLACK;
	if (need > a->avail[3])
		return lathe_rt_uk_fail(a, "sgemm: scratch needs %lld elements, %lld available", (long long)need,
			       (long long)a->avail[3]);
	return 0;
}

/* ---- sgemm: packing --------------------------------------------------------------- */

/* Offsets of k = k0*K1*K2 + k1*K2 + k2 under strides s, for k in [k_begin,
 * k_begin + n), written to off. */
static void uk_koffsets(const uk_gemm *g, const int64_t *s, int64_t kb, int64_t n, int64_t *off)
{
	int64_t k2 = kb % g->k[2], k1 = (kb / g->k[2]) % g->k[1], k0 = kb / (g->k[2] * g->k[1]);
	for (int64_t i = 0; i < n; i++) {
		off[i] = k0 * s[0] + k1 * s[1] + k2 * s[2];
		if (++k2 == g->k[2]) {
			k2 = 0;
			if (++k1 == g->k[1])
				k1 = 0, k0++;
		}
	}
}

/* Columns [n0, n0+nlen) of a strided B, K block [pc, pc+kc), into panels of NR. */
static void uk_pack_b(const uk_gemm *g, float *dst, int64_t n0, int64_t nlen, int64_t pc,
		      int64_t kc)
{
	int64_t off[KC_MAX];
	uk_koffsets(g, g->bk, pc, kc, off);
	int64_t NR = g->NR;
	if (g->bcs == 1 && NR <= 64) { /* rows contiguous */
		for (int64_t p = 0; p < nlen; p += NR)
			g->panel(dst + (p / NR) * kc * NR, g->B + n0 + p, off, kc, (int)NR,
				 (int)(nlen - p < NR ? nlen - p : NR));
		return;
	}
	for (int64_t p = 0; p < nlen; p += NR) {
		float *d = dst + (p / NR) * kc * NR;
		int64_t cols = nlen - p < NR ? nlen - p : NR;
		const float *src = g->B + (n0 + p) * g->bcs;
		for (int64_t k = 0; k < kc; k++) {
			const float *s = src + off[k];
			float *dk = d + k * NR;
			for (int64_t j = 0; j < cols; j++)
				dk[j] = s[j * g->bcs];
			for (int64_t j = cols; j < NR; j++)
				dk[j] = 0;
		}
	}
}

/* One run of a panel: columns [j, j+len) are output row oh, columns ow.. */
typedef struct uk_seg {
	int64_t j, len, oh, ow;
} uk_seg;

/* Columns [n0, n0+nlen) of an im2col B, K block [pc, pc+kc). */
static void uk_pack_im2col(const uk_gemm *g, float *dst, int64_t n0, int64_t nlen, int64_t pc,
			   int64_t kc)
{
	int64_t NR = g->NR;
	int64_t oc[KC_MAX], oh_[KC_MAX], ow_[KC_MAX];
	uk_koffsets(g, g->cc, pc, kc, oc);
	uk_koffsets(g, g->ch, pc, kc, oh_);
	uk_koffsets(g, g->cw, pc, kc, ow_);
	uk_seg seg[MAX_R];
	for (int64_t p = 0; p < nlen; p += NR) {
		float *d = dst + (p / NR) * kc * NR;
		int64_t cols = nlen - p < NR ? nlen - p : NR;
		int ns = 0;
		for (int64_t j = 0; j < cols;) {
			int64_t n = n0 + p + j, oh = n / g->OW, ow = n % g->OW;
			int64_t len = g->OW - ow < cols - j ? g->OW - ow : cols - j;
			seg[ns++] = (uk_seg){j, len, oh, ow};
			j += len;
		}
		for (int64_t k = 0; k < kc; k++) {
			float *dk = d + k * NR;
			const float *xc = g->B + oc[k] * g->sc;
			for (int s = 0; s < ns; s++) {
				float *o = dk + seg[s].j;
				int64_t len = seg[s].len;
				int64_t h = seg[s].oh * g->sh + oh_[k] + g->h0;
				if (h < 0 || h >= g->H) {
					memset(o, 0, sizeof(float) * (size_t)len);
					continue;
				}
				const float *xr = xc + h * g->shs;
				int64_t w = seg[s].ow * g->sw + ow_[k] + g->w0;
				if (g->sw == 1 && g->sws == 1 && len >= 16) {
					g->copy(o, xr, w, len, g->W); /* zeros, a copy, zeros */
				} else if (w >= 0 && w + (len - 1) * g->sw < g->W) {
					/* all inside (short runs: no call) */
					for (int64_t j = 0; j < len; j++, w += g->sw)
						o[j] = xr[w * g->sws];
				} else {
					for (int64_t j = 0; j < len; j++, w += g->sw)
						o[j] = w >= 0 && w < g->W ? xr[w * g->sws] : 0;
				}
			}
			for (int64_t j = cols; j < NR; j++)
				dk[j] = 0;
		}
	}
}

/* Columns [n0, n0+nlen) of a convolution with padded planes (BM_DIRECT's,
 * uk_gemm_prepare), K block [pc, pc+kc), into panels of the transposed
 * tile's 14 columns: output (oh, ow) of tap k is xp[boff[k] + oh*Wp + ow],
 * padding included, so each panel is a gather at fixed offsets.  A last
 * panel's rows past nlen repeat its first column (their sums are never
 * stored). */
static void uk_pack_planes(const uk_gemm *g, float *dst, int64_t n0, int64_t nlen, int64_t pc,
			   int64_t kc)
{
	int64_t po[UK_TNR];
	for (int64_t p = 0; p < nlen; p += UK_TNR) {
		float *d = dst + (p / UK_TNR) * kc * UK_TNR;
		int64_t cols = nlen - p < UK_TNR ? nlen - p : UK_TNR;
		for (int64_t j = 0; j < UK_TNR; j++) {
			int64_t n = n0 + p + (j < cols ? j : 0);
			po[j] = n / g->OW * g->Wp + n % g->OW;
		}
		g->gather(d, g->xp, g->boff + pc, kc, UK_TNR, po);
	}
}

/* ---- sgemm: tasks --------------------------------------------------------------- */

static void uk_tile(const uk_gemm *g, int64_t kc, const float *a, const float *b,
		    const int64_t *boff, float *c, int64_t ldc, int m, int n, int acc,
		    const uk_epi *ep, int64_t m0, int64_t n0)
{
	if (g->tile)
		g->tile(kc, a, b, boff, c, ldc, m, n, acc, ep, m0, n0);
	else if (g->trans)
		lathe_rt_uk_any_tile(UK_TNR, UK_TMR, kc, a, b, boff, c, ldc, m, n, acc, ep, m0, n0);
	else
		lathe_rt_uk_any_tile((int)g->MR, (int)g->NR, kc, a, b, boff, c, ldc, m, n, acc, ep,
				     m0, n0);
}

/* A tile of padded columns whose epilogue reads tensors by column: their
 * values are gathered into tiles of the same shape (zeros in the padding
 * columns) so that the tile kernel applies it in registers; 0 when done,
 * 1 when there are too many such operands (the caller's runs get it). */
static __attribute__((noinline)) int uk_direct_epi_tile(const uk_gemm *g, int64_t kc,
							const float *a, const float *b,
							const int64_t *boff, float *t, int m,
							int64_t m0, int64_t pc, const int64_t *rj,
							const int64_t *rn, const int64_t *rlen,
							int nrun)
{
	enum { NOPS = 2 };
	float ob[NOPS][MAX_R * MAX_R] __attribute__((aligned(64)));
	int64_t NR = g->NR;
	uk_epi e = g->ep;
	int k = 0;
	for (int i = 0; i < e.n; i++) {
		if (!e.v[i])
			continue;
		if (!e.sn[i]) { /* by row: the tile's rows start at 0 */
			e.v[i] += m0 * e.sm[i];
			continue;
		}
		if (k == NOPS)
			return 1;
		float *o = ob[k++];
		memset(o, 0, sizeof(float) * (size_t)(m * NR));
		for (int r = 0; r < nrun; r++)
			for (int64_t row = 0; row < m; row++) {
				const float *src = e.v[i] + (m0 + row) * e.sm[i] + rn[r] * e.sn[i];
				float *dst = o + row * NR + rj[r];
				if (e.sn[i] == 1)
					memcpy(dst, src, sizeof(float) * (size_t)rlen[r]);
				else
					for (int64_t q = 0; q < rlen[r]; q++)
						dst[q] = src[q * e.sn[i]];
			}
		e.v[i] = o;
		e.sm[i] = NR;
		e.sn[i] = 1;
	}
	e.unit = 1;
	uk_tile(g, kc, a, b, boff, t, NR, m, (int)NR, pc > 0, &e, 0, 0);
	return 0;
}

/* uk_direct_tile's tile that straddles output rows: computed into a
 * buffer (its own function: the buffers' stack frame stays out of the
 * common paths), its runs of valid columns copied to C. */
static __attribute__((noinline)) void uk_direct_runs(const uk_gemm *g, int64_t kc, const float *a,
						     const float *b, const int64_t *boff,
						     const float *acc, int64_t ldp, int64_t pc,
						     int m, int64_t m0, int64_t np0,
						     const uk_epi *ep)
{
	int64_t NR = g->NR;
	float t[MAX_R * MAX_R] __attribute__((aligned(64)));
	if (pc > 0)
		for (int i = 0; i < m; i++)
			memcpy(t + i * NR, acc + i * ldp, sizeof(float) * (size_t)NR);
	/* Runs of valid columns: output row oh, columns ow.., at tile column j. */
	int64_t rj[MAX_R], rn[MAX_R], rlen[MAX_R];
	int nrun = 0;
	for (int64_t j = 0; j < NR && np0 + j < g->NP;) {
		int64_t np = np0 + j, oh = np / g->Wp, ow = np % g->Wp;
		int64_t run = g->Wp - ow < NR - j ? g->Wp - ow : NR - j;
		if (np0 + j + run > g->NP)
			run = g->NP - np0 - j;
		if (ow < g->OW) {
			rj[nrun] = j;
			rn[nrun] = oh * g->OW + ow;
			rlen[nrun++] = g->OW - ow < run ? g->OW - ow : run;
		}
		j += run;
	}
	int done = 0; /* the tile with its epilogue */
	if (ep && !g->ep_nfree)
		done = !uk_direct_epi_tile(g, kc, a, b, boff, t, m, m0, pc, rj, rn, rlen, nrun);
	if (done)
		ep = NULL;
	else
		uk_tile(g, kc, a, b, boff, t, NR, m, (int)NR, pc > 0, ep && g->ep_nfree ? ep : NULL,
			m0, 0);
	for (int r = 0; r < nrun; r++) {
		float *c = g->C + m0 * g->ldc + rn[r];
		for (int i = 0; i < m; i++)
			memcpy(c + i * g->ldc, t + i * NR + rj[r], sizeof(float) * (size_t)rlen[r]);
		if (ep && !g->ep_nfree)
			lathe_rt_uk_epi_rows(ep, c, g->ldc, m, rlen[r], m0, rn[r]);
	}
}

/* A direct convolution's tile over padded columns [n0', n0'+NR): sums of
 * this K block (plus the earlier ones, kept in cacc), then, after the last
 * block, the valid columns to C with the epilogue: in registers where the
 * tile is one run of C's columns (always, with row tiles) or the epilogue
 * does not depend on the column, else on each run copied. */
static void uk_direct_tile(const uk_gemm *g, int64_t kc, const float *a, int64_t pc, int m,
			   int64_t m0, int64_t np0, int last)
{
	int64_t NR = g->NR, ldp = uk_ceil(g->NP, NR) * NR;
	const float *b = g->xp + (g->OWR ? np0 / g->OWR * g->Wp + np0 % g->OWR : np0);
	const int64_t *boff = g->boff + pc;
	float *acc = g->cacc ? g->cacc + m0 * ldp + np0 : NULL;
	if (!last) {
		uk_tile(g, kc, a, b, boff, acc, ldp, m, (int)NR, pc > 0, NULL, 0, 0);
		return;
	}
	const uk_epi *ep = g->ep.n ? &g->ep : NULL;
	if (g->OWR) { /* a row tile: its columns of C, in place */
		int64_t ow0 = np0 % g->OWR, n = g->OW - ow0 < NR ? g->OW - ow0 : NR;
		int64_t nc = np0 / g->OWR * g->OW + ow0;
		float *c = g->C + m0 * g->ldc + nc;
		if (pc > 0)
			for (int i = 0; i < m; i++)
				memcpy(c + i * g->ldc, acc + i * ldp, sizeof(float) * (size_t)n);
		if (2 * n <= NR && g->half)
			g->half(kc, a, b, boff, c, g->ldc, m, (int)n, pc > 0, ep, m0, nc);
		else
			uk_tile(g, kc, a, b, boff, c, g->ldc, m, (int)n, pc > 0, ep, m0, nc);
		return;
	}
	int64_t oh0 = np0 / g->Wp, ow0 = np0 % g->Wp;
	if (ow0 + NR <= g->OW || (g->Wp == g->OW && np0 + NR <= g->NP)) {
		/* All in one output row, or no padding columns (a 1x1
		 * convolution): all valid, straight into C. */
		int64_t n = oh0 * g->OW + ow0;
		float *c = g->C + m0 * g->ldc + n;
		if (pc > 0)
			for (int i = 0; i < m; i++)
				memcpy(c + i * g->ldc, acc + i * ldp, sizeof(float) * (size_t)NR);
		uk_tile(g, kc, a, b, boff, c, g->ldc, m, (int)NR, pc > 0, ep, m0, n);
		return;
	}
	uk_direct_runs(g, kc, a, b, boff, acc, ldp, pc, m, m0, np0, ep);
}

static void uk_gemm_k_blocks(const uk_gemm *g, float *bblk, int64_t mbeg, int64_t mend,
			     int64_t n0, int64_t nlen);
static void uk_trans_k_blocks(const uk_gemm *g, float *bblk, int64_t mbeg, int64_t mend,
			      int64_t n0, int64_t nlen);

/* Task t: columns block t / (row chunks) of NC, row chunk t % (row chunks)
 * of mchunk rows.  B's block is packed once per K block for all the rows. */
static void uk_gemm_task(const uk_gemm *g, float *slot, int64_t t)
{
	int64_t ncols = g->bmode == BM_DIRECT && !g->trans ? g->NP : g->N;
	int64_t nmc = uk_ceil(g->M, g->mchunk);
	int64_t mbeg = (t % nmc) * g->mchunk, n0 = (t / nmc) * g->NC;
	int64_t mend = g->M - mbeg < g->mchunk ? g->M : mbeg + g->mchunk;
	int64_t nlen = ncols - n0 < g->NC ? ncols - n0 : g->NC;
	if (g->trans)
		uk_trans_k_blocks(g, slot + g->ablk, mbeg, mend, n0, nlen);
	else
		uk_gemm_k_blocks(g, slot + g->ablk, mbeg, mend, n0, nlen);
}

/* The K blocks of a task with the transposed tile: per K block its
 * columns of B packed in panels of 14 (the tile's A side), then for each
 * such panel and each 32-row panel of A (the tile's B side, 32 rows of C
 * on the vector axis) the sums of C^T into the slot's buffer t (rows: the
 * task's columns, stride ldt); after the last block t goes to C, and the
 * epilogue is applied there.  Sums in the same order as the other tiles:
 * k in order within a block, blocks in order. */
static void uk_trans_k_blocks(const uk_gemm *g, float *bblk, int64_t mbeg, int64_t mend,
			      int64_t n0, int64_t nlen)
{
	float *t = bblk + g->bblk;
	int64_t ldt = g->ldt, mlen = mend - mbeg, mpan = uk_ceil(g->M, UK_TMR) * UK_TMR;
	int64_t npn = uk_ceil(nlen, UK_TNR), npm = uk_ceil(mlen, UK_TMR);
	for (int64_t pc = 0; pc < g->K; pc += g->KC) {
		int64_t kc = g->K - pc < g->KC ? g->K - pc : g->KC;
		const float *bp = bblk;
		if (g->bmode == BM_PACKED)
			bp = g->B + pc * uk_ceil(g->N, UK_TNR) * UK_TNR + (n0 / UK_TNR) * kc * UK_TNR;
		else if (g->bmode == BM_PACK)
			uk_pack_b(g, bblk, n0, nlen, pc, kc);
		else if (g->bmode == BM_DIRECT)
			uk_pack_planes(g, bblk, n0, nlen, pc, kc);
		else
			uk_pack_im2col(g, bblk, n0, nlen, pc, kc);
		const float *ap = g->apk + pc * mpan + (mbeg / UK_TMR) * kc * UK_TMR;
		/* A panel of the weights (kc x 32) stays in L1 while the
		 * columns' panels go by. */
		for (int64_t o = 0; o < npm; o++)
			for (int64_t p = 0; p < npn; p++) {
				int m = (int)(nlen - p * UK_TNR < UK_TNR ? nlen - p * UK_TNR : UK_TNR);
				uk_tile(g, kc, bp + p * kc * UK_TNR, ap + o * kc * UK_TMR, NULL,
					t + p * UK_TNR * ldt + o * UK_TMR, ldt, m, UK_TMR, pc > 0,
					NULL, 0, 0);
			}
	}
	g->untrans(g->C + mbeg * g->ldc + n0, g->ldc, t, ldt, mlen, nlen, g->ep.n ? &g->ep : NULL,
		   mbeg, n0);
}

/* The K blocks of a task: rows [mbeg, mend), columns [n0, n0+nlen). */
static void uk_gemm_k_blocks(const uk_gemm *g, float *bblk, int64_t mbeg, int64_t mend,
			     int64_t n0, int64_t nlen)
{
	int64_t MR = g->MR, NR = g->NR;
	for (int64_t pc = 0; pc < g->K; pc += g->KC) {
		int64_t kc = g->K - pc < g->KC ? g->K - pc : g->KC;
		const float *bp = NULL;
		int64_t bstride = 0; /* between panels */
		switch (g->bmode) {
		case BM_PACKED: /* K blocks one after the other, panels within */
			bp = g->B + pc * uk_ceil(g->N, NR) * NR + (n0 / NR) * kc * NR;
			bstride = kc * NR;
			break;
		case BM_ROWS:
			/* Only the last panel, when partial, is packed. */
			if (nlen % NR) {
				int64_t p = nlen / NR * NR, cols = nlen - p;
				for (int64_t k = 0; k < kc; k++)
					g->copy(bblk + k * NR, g->B + g->boff[pc + k] + n0 + p, 0, NR, cols);
			}
			break;
		case BM_PACK:
			uk_pack_b(g, bblk, n0, nlen, pc, kc);
			bp = bblk;
			bstride = kc * NR;
			break;
		case BM_IM2COL:
			uk_pack_im2col(g, bblk, n0, nlen, pc, kc);
			bp = bblk;
			bstride = kc * NR;
			break;
		}
		int last = pc + kc >= g->K;
		const uk_epi *ep = last && g->ep.n ? &g->ep : NULL;
		/* An epilogue the tile cannot apply in registers (erf, division,
		 * a kept value...) would go tile by tile through a buffer and
		 * a pass of a few vectors per row: instead the tiles store their
		 * sums and the epilogue runs over each row panel's whole width
		 * once its tiles are done (still in L1), or over the block. */
		const uk_epi *late = ep && !(ep->unit && ep->simple) && g->bmode != BM_DIRECT ? ep : NULL;
		if (late)
			ep = NULL;
		for (int64_t m0 = mbeg; m0 < mend; m0 += g->MC) {
			int64_t mlen = mend - m0 < g->MC ? mend - m0 : g->MC;
			const float *ap;
			int64_t astride;
			/* A packed by the caller, or once by uk_gemm_prepare */
			ap = g->apk + pc * uk_ceil(g->M, MR) * MR + (m0 / MR) * kc * MR;
			astride = kc * MR;
			/* Row panels outside: a panel of A stays in L1 while its
			 * tiles go along the block of B (in L2), and C is written as
			 * MR streams rather than one per row of the block. */
			/* Tiles in order: with more than a few column panels, row
			 * panels outside (a panel of A stays in L1 while its tiles
			 * go along the block of B, in L2, and C is written as MR
			 * streams, not one per row of the block); otherwise column
			 * panels outside (a panel of B stays in L1). */
			int64_t npr = uk_ceil(mlen, MR), npc = uk_ceil(nlen, NR);
			int rows_out = npc > 2;
			for (int64_t t = 0; t < npr * npc; t++) {
				int64_t ir = (rows_out ? t / npc : t % npr) * MR;
				int64_t jr = (rows_out ? t % npc : t / npr) * NR;
				int n = (int)(nlen - jr < NR ? nlen - jr : NR);
				{
					int m = (int)(mlen - ir < MR ? mlen - ir : MR);
					const float *a = ap + (ir / MR) * astride;
					if (g->bmode == BM_DIRECT) {
						uk_direct_tile(g, kc, a, pc, m, m0 + ir, n0 + jr, last);
						continue;
					}
					float *c = g->C + (m0 + ir) * g->ldc + n0 + jr;
					if (g->bmode == BM_ROWS && n == NR)
						uk_tile(g, kc, a, g->B + n0 + jr, g->boff + pc, c, g->ldc, m, n,
							pc > 0, ep, m0 + ir, n0 + jr);
					else if (g->bmode == BM_ROWS)
						uk_tile(g, kc, a, bblk, NULL, c, g->ldc, m, n, pc > 0, ep,
							m0 + ir, n0 + jr);
					else
						uk_tile(g, kc, a, bp + (jr / NR) * bstride, NULL, c, g->ldc, m,
							n, pc > 0, ep, m0 + ir, n0 + jr);
					if (late && rows_out && t % npc == npc - 1)
						lathe_rt_uk_epi_rows(late, g->C + (m0 + ir) * g->ldc + n0,
								     g->ldc, m, nlen, m0 + ir, n0);
				}
			}
			if (late && !rows_out)
				lathe_rt_uk_epi_rows(late, g->C + m0 * g->ldc + n0, g->ldc, mlen, nlen, m0,
						     n0);
		}
	}
}

/* The tasks in one run per slot (lathe_rt_uk_runs): a thread computes the
 * same columns (positions) in every layer, where the layer before left
 * them in its caches. */
typedef struct uk_gemm_run {
	const uk_gemm *g;
	float *scratch;
	lathe_rt_uk_runs runs;
} uk_gemm_run;

static void uk_gemm_slots(void *ctx, int64_t begin, int64_t end)
{
	uk_gemm_run *r = ctx;
	for (int64_t s = begin; s < end; s++) {
		float *slot = r->scratch + r->g->shared + s * r->g->slot;
		int k = 0;
		for (int64_t t; (t = lathe_rt_uk_runs_take(&r->runs, s, &k)) >= 0;)
			uk_gemm_task(r->g, slot, t);
	}
}

/* Zeros row[0, a) and row[b, n). */
static void uk_zero_out(float *row, int64_t a, int64_t b, int64_t n)
{
	for (int64_t q = 0; q < a; q++)
		row[q] = 0;
	for (int64_t q = b; q < n; q++)
		row[q] = 0;
}

/* What every task shares: B's row offsets; for a direct convolution the
 * padded copy of the input, one plane per channel c and phase (ph, pw)
 * (only the phases up to the largest tap offset: nphr x nphc of them):
 * xp[c][ph][pw][hq][q] = X[c][hq*sh + ph + h0][q*sw + pw + w0] (zero
 * outside), so that tap (dh, dw) of output (oh, ow) is element
 * (dh/sh + oh, dw/sw + ow) of plane (dh mod sh, dw mod sw). */
/* The padded phase planes of a direct convolution, tasks [tb, te): task
 * t is the rows of block t / (nch * nphr) (of nb blocks of Hp) of channel
 * t % (nch * nphr) / nphr, row phase t % nphr; so a few channels (a first
 * layer's 3) still make enough tasks for the threads, and the pool's
 * contiguous runs of tasks give each thread a band of rows, those its
 * tiles (contiguous runs of columns) read. */
static void uk_planes_task(void *ctx, int64_t tb, int64_t te)
{
	uk_gemm *g = ctx;
	int64_t nb = g->planes_nb, hblk = uk_ceil(g->Hp, nb);
	int64_t hw = g->H * g->W, plane = g->Hp * g->Wp, sh = g->dsh, sw = g->sw;
	int64_t ph = g->nphr * g->nphc, half = (g->W + 1) / 2;
	float tmp[UK_ROW_MAX]; /* an input row split in halves (stride 2) */
	int split = sw == 2 && g->W <= UK_ROW_MAX;
	/* One phase of columns, all inside the row (a 1x1 convolution of
	 * stride 2): the even half goes straight into the plane. */
	int even = split && g->nphc == 1 && g->w0 >= 0 && g->w0 + 2 * (g->Wp - 1) < g->W;
	/* Both phases of columns (a wider kernel of stride 2): the row's even
	 * half goes straight into the plane of phase pe at column oe, its odd
	 * half into the other's at column oo (the left padding), the columns
	 * around them zeroed (where a half would pass the plane's row, the row
	 * goes through tmp as below). */
	int64_t pe = (g->w0 & 1) ? 1 : 0, oe = -(pe + g->w0) / 2, oo = -(g->w0 - pe) / 2;
	int two = split && !even && g->nphc == 2 && g->cused[0] && g->cused[1] && oe >= 0 &&
		  oo >= 0 && oe + half <= g->Wp && oo + g->W / 2 <= g->Wp;
	for (int64_t t = tb; t < te; t++) {
		int64_t hb = t / (g->nch * g->nphr), c = t % (g->nch * g->nphr) / g->nphr;
		int64_t pr = t % g->nphr;
		int64_t hend = (hb + 1) * hblk < g->Hp ? (hb + 1) * hblk : g->Hp;
		for (int64_t hq = hb * hblk; hq < hend; hq++) {
				int64_t h = hq * sh + pr + g->h0;
				const float *xr = g->B + c * hw + (h >= 0 && h < g->H ? h : 0) * g->W;
				if (two && h >= 0 && h < g->H && g->rused[pr]) {
					float *de = g->xp + (c * ph + pr * 2 + pe) * plane + hq * g->Wp;
					float *dd = g->xp + (c * ph + pr * 2 + 1 - pe) * plane + hq * g->Wp;
					g->deint(de + oe, dd + oo, xr, g->W);
					uk_zero_out(de, oe, oe + half, g->Wp);
					uk_zero_out(dd, oo, oo + g->W / 2, g->Wp);
					continue;
				}
				/* once per row: both phases read it */
				if (split && !even && h >= 0 && h < g->H && g->rused[pr])
					g->deint(tmp, tmp + half, xr, g->W);
				for (int64_t pc = 0; pc < g->nphc; pc++) {
					int64_t p = pr * g->nphc + pc, w0 = pc + g->w0;
					float *d = g->xp + (c * ph + p) * plane + hq * g->Wp;
					if (!g->rused[pr] || !g->cused[pc] || h < 0 || h >= g->H) {
						/* outside, or never a tap's: zeros (also for
						 * the reads past a plane's end into the next,
						 * whose columns are discarded) */
						memset(d, 0, sizeof(float) * (size_t)g->Wp);
					} else if (sw == 1) {
						g->copy(d, xr, w0, g->Wp, g->W);
					} else if (even) {
						/* Wp columns from w0, stride 2: the odd ones
						 * between them go to tmp */
						g->deint(d, tmp, xr + w0, 2 * g->Wp - 1);
					} else if (split) {
						/* column 2q + w0 is in half (w0 & 1) at q + (w0 - (w0 & 1))/2 */
						int64_t par = w0 & 1;
						g->copy(d, tmp + par * half, (w0 - par) / 2, g->Wp,
							par ? g->W / 2 : half);
					} else {
						for (int64_t q = 0, w = w0; q < g->Wp; q++, w += sw)
							d[q] = w >= 0 && w < g->W ? xr[w] : 0;
					}
				}
			}
	}
}

static void uk_gemm_prepare(uk_gemm *g, lathe_rt_pool *pool)
{
	int64_t *boff = (int64_t *)(void *)(g->scratch + g->off_boff);
	g->boff = boff;
	g->apk = g->A;
	if (g->afmt == LATHE_UK_FMT_STRIDED) {
		float *d = g->scratch + g->off_apack;
		uk_pack_panels(d, g->A, g->M, g->MR, g->ars, g->k, g->ak);
		g->apk = d;
	}
	if (g->bmode == BM_ROWS) {
		uk_koffsets(g, g->bk, 0, g->K, boff);
		return;
	}
	if (g->bmode != BM_DIRECT)
		return;
	int64_t plane = g->Hp * g->Wp, sh = g->dsh, sw = g->sw, ph = g->nphr * g->nphc;
	const int64_t *cq = g->cq;
	int64_t k2 = 0, k1 = 0, k0 = 0;
	/* Phases (of rows, of columns) some tap reads: a 1x1 convolution of
	 * stride 2 reads one of the four planes. */
	unsigned char rused[64] = {0}, cused[64] = {0};
	for (int64_t k = 0; k < g->K; k++) {
		int64_t c = k0 * cq[0] + k1 * cq[1] + k2 * cq[2];
		int64_t dh = k0 * g->ch[0] + k1 * g->ch[1] + k2 * g->ch[2];
		int64_t dw = k0 * g->cw[0] + k1 * g->cw[1] + k2 * g->cw[2];
		boff[k] = ((c * ph + (dh % sh) * g->nphc + dw % sw) * g->Hp + dh / sh) * g->Wp + dw / sw;
		rused[dh % sh] = cused[dw % sw] = 1;
		if (++k2 == g->k[2]) {
			k2 = 0;
			if (++k1 == g->k[1])
				k1 = 0, k0++;
		}
	}
	g->xp = g->scratch + g->off_xp;
	g->deint = lathe_rt_uk_deint_kernel();
	memcpy(g->rused, rused, sizeof rused);
	memcpy(g->cused, cused, sizeof cused);
	/* Channels' planes in parallel: a copy of the input is much of a small
	 * convolution's time. */
	/* blocks of rows: some 16 tasks at least, and a block per thread at
	 * least (a thread copies the rows its tiles read: see uk_planes_task) */
	int64_t tasks = g->nch * g->nphr, nb = tasks >= 16 ? 1 : uk_ceil(16, tasks);
	if (nb < g->slots)
		nb = g->slots;
	g->planes_nb = nb < g->Hp ? nb : g->Hp;
	if (g->planes_nb < 1)
		g->planes_nb = 1;
	lathe_rt_uk_pfor(pool, tasks * g->planes_nb, uk_planes_task, g);
	int64_t used = g->nch * ph * plane;
	memset(g->xp + used, 0, sizeof(float) * (size_t)(g->xpad - used));
	g->cacc = g->shared > g->off_cacc ? g->scratch + g->off_cacc : NULL;
}

LATHE_RT_UK_API int lathe_rt_uk_sgemm(const lathe_rt_uk_args *a)
{
	uk_gemm g;
	if (uk_gemm_ints(a, a->ip, a->nip, &g) || uk_gemm_regions(a, &g))
		return 1;
	int64_t nepi = a->nip > LATHE_UK_G_NEPI ? a->ip[LATHE_UK_G_NEPI] : 0;
	if (lathe_rt_uk_epi_parse(a, LATHE_UK_G_FIXED, nepi, 4, g.M, g.N, &g.ep))
		return 1;
	g.ep_nfree = 1;
	for (int e = 0; e < g.ep.n; e++)
		if (g.ep.v[e] && g.ep.sn[e])
			g.ep_nfree = 0;
	if (!g.M || !g.N)
		return 0;
	g.A = a->ptr[0];
	g.B = a->ptr[1];
	g.C = a->ptr[2];
	uintptr_t sp = (uintptr_t)a->ptr[3];
	g.scratch = (float *)(void *)((sp + 63) & ~(uintptr_t)63);
	if (g.K == 0) {
		for (int64_t m = 0; m < g.M; m++)
			memset(g.C + m * g.ldc, 0, sizeof(float) * (size_t)g.N);
		if (g.ep.n)
			lathe_rt_uk_epi_rows(&g.ep, g.C, g.ldc, g.M, g.N, 0, 0);
		return 0;
	}
	/* Weights packed as B, activations as A (packed here, hot): prefetch
	 * B, which streams from memory (the other way round, A is the
	 * weights, prefetched). */
	g.tile = g.trans ? lathe_rt_uk_tile_kernel(UK_TNR, UK_TMR)
		 : g.bmode == BM_PACKED && g.afmt == LATHE_UK_FMT_STRIDED
			 ? lathe_rt_uk_tile_kernel_pfb((int)g.MR, (int)g.NR)
			 : lathe_rt_uk_tile_kernel((int)g.MR, (int)g.NR);
	g.half = g.OWR && g.OW % g.NR ? lathe_rt_uk_tile_kernel((int)g.MR, (int)g.NR / 2) : NULL;
	g.copy = lathe_rt_uk_copy_kernel();
	g.untrans = lathe_rt_uk_untrans_kernel();
	g.panel = lathe_rt_uk_panel_kernel();
	g.gather = lathe_rt_uk_gather_kernel();
	uk_gemm_prepare(&g, a->pool);
	int64_t ncols = g.bmode == BM_DIRECT && !g.trans ? g.NP : g.N;
	uk_gemm_run r = {.g = &g, .scratch = g.scratch};
	int64_t ntasks = uk_ceil(g.M, g.mchunk) * uk_ceil(ncols, g.NC);
	int64_t slots = g.slots < ntasks ? g.slots : ntasks;
	lathe_rt_uk_runs_init(&r.runs, ntasks, slots);
	lathe_rt_uk_pfor(a->pool, slots, uk_gemm_slots, &r);
	return 0;
}

/* ---- pack ------------------------------------------------------------------------------- */

LATHE_RT_UK_API int lathe_rt_uk_pack(const lathe_rt_uk_args *a)
{
	if (a->nip < LATHE_UK_P_FIXED || a->nptr < 2)
		return lathe_rt_uk_fail(a, "pack: %d integer parameters and %d pointers (%d and 2 needed)",
			       a->nip, a->nptr, LATHE_UK_P_FIXED);
	const int64_t *ip = a->ip;
	int64_t side = ip[LATHE_UK_P_SIDE], MN = ip[LATHE_UK_P_MN], R = ip[LATHE_UK_P_R];
	int64_t e[4] = {MN, ip[LATHE_UK_P_K0], ip[LATHE_UK_P_K1], ip[LATHE_UK_P_K2]};
	int64_t s[4] = {ip[LATHE_UK_P_SMN], ip[LATHE_UK_P_SK0], ip[LATHE_UK_P_SK1],
			ip[LATHE_UK_P_SK2]};
	const int64_t lim = (int64_t)1 << 31;
	int64_t K = 1;
	for (int i = 0; i < 4; i++)
		if (e[i] < 0 || e[i] >= lim || (i && (__builtin_mul_overflow(K, e[i], &K) || K >= lim)))
			return lathe_rt_uk_fail(a, "pack: bad sizes");
	if ((side != 0 && side != 1 && side != 2) || R < 1 || R > MAX_R)
		return lathe_rt_uk_fail(a, "pack: side %lld, panel width %lld", (long long)side, (long long)R);
	int64_t need = MN && K ? uk_span(4, e, s) : 0;
	if (need < 0 || need > a->avail[0])
		return lathe_rt_uk_fail(a, "pack: the source needs %lld elements, %lld available",
			       (long long)need, (long long)a->avail[0]);
	if (side == 2 && (e[2] != 3 || e[3] != 3))
		return lathe_rt_uk_fail(a, "pack: a Winograd transform takes 3x3 filters, not %lldx%lld",
					(long long)e[2], (long long)e[3]);
	int64_t np = uk_ceil(MN, R), out = np * R * K * (side == 2 ? 4 : 1);
	if (out > a->avail[1])
		return lathe_rt_uk_fail(a, "pack: the destination needs %lld elements, %lld available",
			       (long long)out, (long long)a->avail[1]);
	int64_t ke[3] = {e[1], e[2], e[3]}, sk[3] = {s[1], s[2], s[3]};
	if (side == 2 && MN && K)
		lathe_rt_uk_wino_pack(a->ptr[1], a->ptr[0], MN, e[1], R, s[0], s[1], s[2], s[3]);
	else if (MN && K)
		uk_pack_panels(a->ptr[1], a->ptr[0], MN, R, s[0], ke, sk);
	(void)np;
	return 0;
}

/* ---- names ---------------------------------------------------------------------------- */

LATHE_RT_UK_API lathe_rt_uk_fn lathe_rt_uk_find(const char *name, int32_t *out_dtype)
{
	static const struct {
		const char *name;
		lathe_rt_uk_fn fn;
	} table[] = {
		{"sgemm", lathe_rt_uk_sgemm},
		{"sgemv", lathe_rt_uk_sgemv},
		{"pack", lathe_rt_uk_pack},
		{"wino", lathe_rt_uk_wino},
		{"dwconv", lathe_rt_uk_dwconv},
		{"maxpool", lathe_rt_uk_maxpool},
		{"softmax", lathe_rt_uk_softmax},
		{"layernorm", lathe_rt_uk_layernorm},
	};
	for (size_t i = 0; name && i < sizeof table / sizeof table[0]; i++)
		if (!strcmp(table[i].name, name)) {
			if (out_dtype)
				*out_dtype = 1; /* LATHE_DT_F32 */
			return table[i].fn;
		}
	return NULL;
}
