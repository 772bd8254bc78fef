/* ukernel.c: the sgemm and pack micro-kernels (lathe_rt_ukernel.h): checks,
 * blocking, packing, threads, epilogues; the register tiles themselves are
 * in ukernel_isa.c, depthwise convolution in ukernel_dw.c.
 *
 * sgemm follows the usual blocked scheme.  K is cut into blocks of at most
 * 256 (a block of B's panel then stays in the L1 cache while the tile
 * kernel sweeps a block of A's panels, which stays in L2); M and N into
 * blocks of MC rows and NC columns.  One task is an MC x NC block of C over
 * all of K: it packs, per K block, its columns of B (im2col for a
 * convolution: zero padding is written into the panel, so the tile kernel
 * never tests a bound) and, unless A came packed, its rows of A, then runs
 * the tile kernel on each MR x NR tile and applies the epilogue to a tile
 * once its last K block is done, while the tile is still in cache.  Tasks
 * are shared by SLOTS threads through an atomic counter; each thread packs
 * into its own slot of the caller's scratch.  Only the K blocking decides
 * the order of a sum, and it depends on K alone: results do not depend on
 * the thread count.
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

typedef void (*uk_task_fn)(void *ctx, int64_t begin, int64_t end);
typedef void (*uk_pfor_fn)(lathe_rt_pool *p, int64_t n, uk_task_fn fn, void *ctx);

enum { KC_MAX = 192, MC_MAX = 240, NC_MAX = 512, MAX_R = 64, SCRATCH_SLACK = 16 };

static int uk_fail(const lathe_rt_uk_args *a, const char *fmt, ...)
{
	if (a->err && a->err_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(a->err, a->err_size, fmt, ap);
		va_end(ap);
	}
	return 1; /* LATHE_RT_EINVAL */
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
		return uk_fail(a, "epilogue: %lld operations (at most %d)", (long long)nepi,
			       LATHE_UK_EPI_MAX);
	if (at + nepi * LATHE_UK_EPI_INTS > a->nip)
		return uk_fail(a, "epilogue: %d integer parameters, %lld needed", a->nip,
			       (long long)(at + nepi * LATHE_UK_EPI_INTS));
	memset(ep, 0, sizeof *ep);
	ep->n = (int)nepi;
	ep->unit = 1;
	ep->rows = lathe_rt_uk_epi_rows_kernel();
	int p = p0;
	for (int i = 0; i < ep->n; i++) {
		const int64_t *q = a->ip + at + i * LATHE_UK_EPI_INTS;
		int64_t code = q[0];
		if (code < 1 || code >= LATHE_UK_EPI_CODES)
			return uk_fail(a, "epilogue %d: unknown operation %lld", i, (long long)code);
		if (code >= LATHE_UK_EPI_ADD_S && code <= LATHE_UK_EPI_MIN_S) {
			if (q[1] < 0 || q[1] >= a->nfp)
				return uk_fail(a, "epilogue %d: float parameter %lld of %d", i,
					       (long long)q[1], a->nfp);
			ep->op[i] = code == LATHE_UK_EPI_ADD_S ? LATHE_UK_OP_ADD
				    : code == LATHE_UK_EPI_MUL_S ? LATHE_UK_OP_MUL
				    : code == LATHE_UK_EPI_MAX_S ? LATHE_UK_OP_MAX : LATHE_UK_OP_MIN;
			ep->rev[i] = q[2] != 0;
			ep->f[i] = (float)a->fp[q[1]];
			continue;
		}
		switch (code) {
		case LATHE_UK_EPI_ADD_M: case LATHE_UK_EPI_MUL_M:
			ep->sm[i] = q[1];
			break;
		case LATHE_UK_EPI_ADD_N: case LATHE_UK_EPI_MUL_N:
			ep->sn[i] = q[1];
			break;
		default:
			ep->sm[i] = q[1];
			ep->sn[i] = q[2];
			break;
		}
		ep->op[i] = code <= LATHE_UK_EPI_ADD_MN ? LATHE_UK_OP_ADD
			    : code <= LATHE_UK_EPI_MUL_MN ? LATHE_UK_OP_MUL
			    : code <= LATHE_UK_EPI_MAX_TR ? LATHE_UK_OP_MAX : LATHE_UK_OP_MIN;
		ep->rev[i] = code == LATHE_UK_EPI_MAX_TR || code == LATHE_UK_EPI_MIN_TR;
		if (ep->sn[i] != 0 && ep->sn[i] != 1)
			ep->unit = 0;
		if (p >= a->nptr)
			return uk_fail(a, "epilogue %d: no operand pointer", i);
		int64_t e[2] = {M, N}, s[2] = {ep->sm[i], ep->sn[i]};
		int64_t need = M == 0 || N == 0 ? 0 : uk_span(2, e, s);
		if (need < 0 || need > a->avail[p])
			return uk_fail(a, "epilogue %d: operand needs %lld elements, %lld available", i,
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

/* One row in plain loops. */
static void uk_epi_row(const uk_epi *ep, float *r, int64_t n, int64_t m, int64_t n0)
{
	for (int i = 0; i < ep->n; i++) {
		const float *v = ep->v[i] ? ep->v[i] + m * ep->sm[i] : NULL;
		int64_t sn = ep->sn[i];
		int rev = ep->rev[i];
		for (int64_t j = 0; j < n; j++) {
			float x = v ? v[(n0 + j) * sn] : ep->f[i], t = r[j];
			switch (ep->op[i]) {
			case LATHE_UK_OP_ADD: t = t + x; break;
			case LATHE_UK_OP_MUL: t = t * x; break;
			case LATHE_UK_OP_MAX: t = rev ? uk_max(x, t) : uk_max(t, x); break;
			default: t = rev ? uk_min(x, t) : uk_min(t, x); break;
			}
			r[j] = t;
		}
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
	int64_t ars, ak[3], bcs, bk[3], ldc, slots;
	/* im2col */
	int64_t cc[3], ch[3], cw[3], sc, shs, sws, H, W, OW, sh, sw, h0, w0;
	/* direct convolution: padded input [nch][Hp][Wp], outputs over the
	 * padded width (n' = oh*Wp + ow, NP of them in panels); planes of
	 * [Hp][Wp] per channel and phase (h mod dsh, w mod sw) */
	int64_t nch, dsh, Hp, Wp, xpad, NP;
	const float *A, *B;
	float *C, *scratch;
	uk_epi ep;
	int64_t KC, MC, NC, ablk, bblk, slot; /* blocking; scratch floats per block and slot */
	int64_t mchunk;                       /* rows of C one task covers */
	int64_t shared;                       /* scratch floats before the slots */
	int64_t off_boff, off_xp, off_cacc;   /* where in it: offsets, padded input, sums */
	float *xp, *cacc;
	const int64_t *boff;
	lathe_rt_uk_tile_fn tile;
	lathe_rt_uk_copy_fn copy;
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

static void uk_block(uk_gemm *g)
{
	int64_t nk = uk_ceil(g->K > 0 ? g->K : 1, KC_MAX);
	g->KC = uk_kc(g->K);
	/* B's mode */
	int64_t hw = g->H * g->W;
	g->bmode = g->bfmt == LATHE_UK_FMT_PACKED ? BM_PACKED
		   : g->bfmt == LATHE_UK_FMT_STRIDED ? (g->bcs == 1 ? BM_ROWS : BM_PACK)
						     : BM_IM2COL;
	int64_t oh_n = g->OW > 0 ? g->N / g->OW : 0, sh = oh_n == 1 ? 1 : g->sh;
	if (g->bmode == BM_IM2COL && g->sw >= 1 && sh >= 1 && g->sws == 1 && g->shs == g->W &&
	    hw > 0) {
		int ok = 1;
		int64_t dh = 0, dw = 0, ch = 0;
		for (int i = 0; i < 3; i++) {
			ok &= g->cc[i] % hw == 0;
			ch += (g->k[i] - 1) * (g->cc[i] / hw);
			dh += (g->k[i] - 1) * g->ch[i];
			dw += (g->k[i] - 1) * g->cw[i];
		}
		/* Strided: one plane per phase (h mod sh, w mod sw) of each
		 * channel, so that every tap reads a contiguous run. */
		int64_t hq = oh_n + dh / sh, wq = g->OW + dw / g->sw, x, np, c;
		/* Sizes stay far below 2^62: the scratch they ask for is checked. */
		if (ok && g->K > 0 && g->sw <= 64 && sh <= 64 &&
		    !__builtin_mul_overflow(ch + 1, sh * g->sw, &x) &&
		    !__builtin_mul_overflow(x, hq, &x) && !__builtin_mul_overflow(x, wq, &x) &&
		    x < ((int64_t)1 << 40) && !__builtin_mul_overflow(oh_n, wq, &np) &&
		    np < ((int64_t)1 << 40) && !__builtin_mul_overflow(g->M, np + g->NR, &c) &&
		    c < ((int64_t)1 << 40)) {
			g->bmode = BM_DIRECT;
			g->nch = ch + 1;
			g->dsh = sh;
			g->Hp = hq;
			g->Wp = wq;
			g->xpad = x + dw / g->sw + g->NR;
			g->NP = np;
		}
	}
	int64_t ncols = g->bmode == BM_DIRECT ? g->NP : g->N;
	int64_t mcmax = g->MR * (MC_MAX / g->MR > 0 ? MC_MAX / g->MR : 1);
	int64_t ncmax = g->NR * (NC_MAX / g->NR > 0 ? NC_MAX / g->NR : 1);
	int64_t mfull = uk_ceil(g->M, g->MR) * g->MR, nfull = uk_ceil(ncols, g->NR) * g->NR;
	g->MC = mfull < mcmax ? mfull : mcmax;
	g->NC = nfull < ncmax ? nfull : ncmax;
	if (g->MC < 1)
		g->MC = g->MR;
	if (g->NC < 1)
		g->NC = g->NR;
	/* Enough tasks for the threads: a task packs its columns of B once for
	 * all its rows, so narrower column blocks first, then fewer rows. */
	int64_t nm = uk_ceil(g->M, g->MR), msplit = 1;
	while (g->slots > 1 && uk_ceil(ncols, g->NC) * msplit < 2 * g->slots) {
		if (g->NC >= 4 * g->NR)
			g->NC = uk_ceil(g->NC / 2, g->NR) * g->NR;
		else if (msplit < nm)
			msplit++;
		else
			break;
	}
	g->mchunk = uk_ceil(uk_ceil(g->M, msplit), g->MR) * g->MR;
	if (g->mchunk < g->MR)
		g->mchunk = g->MR;
	if (g->MC > g->mchunk)
		g->MC = g->mchunk;
	g->ablk = g->afmt == LATHE_UK_FMT_PACKED ? 0 : uk_round16(g->MC * g->KC);
	g->bblk = g->bmode == BM_PACKED || g->bmode == BM_DIRECT ? 0
		  : g->bmode == BM_ROWS ? uk_round16(g->KC * g->NR)
					: uk_round16(g->KC * g->NC);
	g->slot = g->ablk + g->bblk;
	/* Shared: B's row offsets (int64, two floats each), the padded input,
	 * the sums of a direct convolution between K blocks. */
	int rows = g->bmode == BM_ROWS || g->bmode == BM_DIRECT;
	g->off_boff = 0;
	g->off_xp = rows ? uk_round16(2 * g->K) : 0;
	g->off_cacc = g->off_xp + (g->bmode == BM_DIRECT ? uk_round16(g->xpad) : 0);
	g->shared = g->off_cacc + (g->bmode == BM_DIRECT && nk > 1
				   ? uk_round16(g->M * uk_ceil(g->NP, g->NR) * g->NR) : 0);
}
/* Reads and checks the integer parameters (not the pointers). */
static int uk_gemm_ints(const lathe_rt_uk_args *a, const int64_t *ip, int nip, uk_gemm *g)
{
	if (nip < LATHE_UK_G_FIXED)
		return uk_fail(a, "sgemm: %d integer parameters, %d needed", nip, LATHE_UK_G_FIXED);
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
		return uk_fail(a, "sgemm: bad size %lld x %lld", (long long)g->M, (long long)g->N);
	g->K = 1;
	for (int i = 0; i < 3; i++) {
		if (g->k[i] < 0 || g->k[i] >= lim || __builtin_mul_overflow(g->K, g->k[i], &g->K) ||
		    g->K >= lim)
			return uk_fail(a, "sgemm: bad reduction size");
	}
	if (g->MR < 1 || g->MR > MAX_R || g->NR < 1 || g->NR > MAX_R)
		return uk_fail(a, "sgemm: register tile %lld x %lld (1 to %d each)", (long long)g->MR,
			       (long long)g->NR, MAX_R);
	if (g->afmt != LATHE_UK_FMT_STRIDED && g->afmt != LATHE_UK_FMT_PACKED)
		return uk_fail(a, "sgemm: A format %d", g->afmt);
	if (g->bfmt < LATHE_UK_FMT_STRIDED || g->bfmt > LATHE_UK_FMT_IM2COL)
		return uk_fail(a, "sgemm: B format %d", g->bfmt);
	if (g->ldc < g->N || g->slots < 1 || g->slots > 1024)
		return uk_fail(a, "sgemm: C row stride %lld for %lld columns, %lld slots",
			       (long long)g->ldc, (long long)g->N, (long long)g->slots);
	if (g->bfmt == LATHE_UK_FMT_IM2COL) {
		if (g->OW < 1 || g->N % g->OW || g->H < 0 || g->W < 0 || g->H >= lim || g->W >= lim ||
		    g->sh < 0 || g->sw < 0 || g->sh >= lim || g->sw >= lim || g->h0 <= -lim ||
		    g->h0 >= lim || g->w0 <= -lim || g->w0 >= lim)
			return uk_fail(a, "sgemm: bad convolution geometry");
		for (int i = 0; i < 3; i++)
			if (g->cc[i] < 0 || g->ch[i] < 0 || g->cw[i] < 0 || g->cc[i] >= lim ||
			    g->ch[i] >= lim || g->cw[i] >= lim)
				return uk_fail(a, "sgemm: bad convolution geometry");
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
		return uk_fail(a, "sgemm: %d pointers, at least 4 needed", a->nptr);
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
			return uk_fail(a, "sgemm: A needs %lld elements, %lld available", (long long)need,
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
			return uk_fail(a, "sgemm: B needs %lld elements, %lld available", (long long)need,
				       (long long)a->avail[1]);
	}
	if (g->M && g->N) {
		need = (g->M - 1) * g->ldc + g->N;
		if (need > a->avail[2])
			return uk_fail(a, "sgemm: C needs %lld elements, %lld available", (long long)need,
				       (long long)a->avail[2]);
	}
	need = g->shared + g->slots * g->slot + SCRATCH_SLACK;
	if (need > a->avail[3])
		return uk_fail(a, "sgemm: scratch needs %lld elements, %lld available", (long long)need,
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

/* Rows [m0, m0+mlen) of a strided A, K block [pc, pc+kc), into panels of MR. */
static void uk_pack_a(const uk_gemm *g, float *dst, int64_t m0, int64_t mlen, int64_t pc,
		      int64_t kc)
{
	int64_t off[KC_MAX];
	uk_koffsets(g, g->ak, pc, kc, off);
	int64_t MR = g->MR;
	for (int64_t p = 0; p < mlen; p += MR) {
		float *d = dst + (p / MR) * kc * MR;
		int64_t rows = mlen - p < MR ? mlen - p : MR;
		for (int64_t i = 0; i < MR; i++) {
			if (i >= rows) {
				for (int64_t k = 0; k < kc; k++)
					d[k * MR + i] = 0;
				continue;
			}
			const float *src = g->A + (m0 + p + i) * g->ars;
			for (int64_t k = 0; k < kc; k++)
				d[k * MR + i] = src[off[k]];
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
	for (int64_t p = 0; p < nlen; p += NR) {
		float *d = dst + (p / NR) * kc * NR;
		int64_t cols = nlen - p < NR ? nlen - p : NR;
		const float *src = g->B + (n0 + p) * g->bcs;
		for (int64_t k = 0; k < kc; k++) {
			const float *s = src + off[k];
			float *dk = d + k * NR;
			if (g->bcs == 1) {
				g->copy(dk, s, 0, NR, cols);
			} else {
				for (int64_t j = 0; j < cols; j++)
					dk[j] = s[j * g->bcs];
				for (int64_t j = cols; j < NR; j++)
					dk[j] = 0;
			}
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
				if (g->sw == 1 && g->sws == 1) {
					g->copy(o, xr, w, len, g->W); /* zeros, a copy, zeros */
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

/* ---- sgemm: tasks --------------------------------------------------------------- */

static void uk_tile(const uk_gemm *g, int64_t kc, const float *a, const float *b,
		    const int64_t *boff, float *c, int64_t ldc, int m, int n, int acc,
		    const uk_epi *ep, int64_t m0, int64_t n0)
{
	if (g->tile)
		g->tile(kc, a, b, boff, c, ldc, m, n, acc, ep, m0, n0);
	else
		lathe_rt_uk_any_tile((int)g->MR, (int)g->NR, kc, a, b, boff, c, ldc, m, n, acc, ep,
				     m0, n0);
}

/* A direct convolution's tile over padded columns [n0', n0'+NR): sums of
 * this K block (plus the earlier ones, kept in cacc), then, after the last
 * block, the valid columns copied to C (the task applies the epilogue to
 * its whole block afterwards: long rows, not a few columns per tile). */
static void uk_direct_tile(const uk_gemm *g, int64_t kc, const float *a, int64_t pc, int m,
			   int64_t m0, int64_t np0, int last)
{
	int64_t NR = g->NR, ldp = uk_ceil(g->NP, NR) * NR;
	const float *b = g->xp + np0;
	const int64_t *boff = g->boff + pc;
	float *acc = g->cacc ? g->cacc + m0 * ldp + np0 : NULL;
	if (!last) {
		uk_tile(g, kc, a, b, boff, acc, ldp, m, (int)NR, pc > 0, NULL, 0, 0);
		return;
	}
	float t[MAX_R * MAX_R] __attribute__((aligned(64)));
	if (pc > 0)
		for (int i = 0; i < m; i++)
			memcpy(t + i * NR, acc + i * ldp, sizeof(float) * (size_t)NR);
	uk_tile(g, kc, a, b, boff, t, NR, m, (int)NR, pc > 0, NULL, 0, 0);
	/* Runs of valid columns: output row oh, columns ow.. */
	for (int64_t j = 0; j < NR && np0 + j < g->NP;) {
		int64_t np = np0 + j, oh = np / g->Wp, ow = np % g->Wp;
		int64_t run = g->Wp - ow < NR - j ? g->Wp - ow : NR - j;
		if (np0 + j + run > g->NP)
			run = g->NP - np0 - j;
		if (ow < g->OW) {
			int64_t len = g->OW - ow < run ? g->OW - ow : run, n = oh * g->OW + ow;
			float *c = g->C + m0 * g->ldc + n;
			for (int i = 0; i < m; i++)
				memcpy(c + i * g->ldc, t + i * NR + j, sizeof(float) * (size_t)len);
		}
		j += run;
	}
}

static void uk_gemm_k_blocks(const uk_gemm *g, float *ablk, float *bblk, int64_t mbeg,
			     int64_t mend, int64_t n0, int64_t nlen);

/* Task t: columns block t / (row chunks) of NC, row chunk t % (row chunks)
 * of mchunk rows.  B's block is packed once per K block for all the rows. */
static void uk_gemm_task(const uk_gemm *g, float *slot, int64_t t)
{
	int64_t ncols = g->bmode == BM_DIRECT ? g->NP : g->N;
	int64_t nmc = uk_ceil(g->M, g->mchunk);
	int64_t mbeg = (t % nmc) * g->mchunk, n0 = (t / nmc) * g->NC;
	int64_t mend = g->M - mbeg < g->mchunk ? g->M : mbeg + g->mchunk;
	int64_t nlen = ncols - n0 < g->NC ? ncols - n0 : g->NC;
	uk_gemm_k_blocks(g, slot, slot + g->ablk, mbeg, mend, n0, nlen);
	if (g->bmode == BM_DIRECT && g->ep.n) {
		/* The valid columns of [n0', n0'+nlen) are one run of C's. */
		int64_t e = n0 + nlen, ow0 = n0 % g->Wp, ow1 = e % g->Wp;
		int64_t nf = n0 / g->Wp * g->OW + (ow0 < g->OW ? ow0 : g->OW);
		int64_t nl = e / g->Wp * g->OW + (ow1 < g->OW ? ow1 : g->OW);
		if (nl > nf)
			lathe_rt_uk_epi_rows(&g->ep, g->C + mbeg * g->ldc + nf, g->ldc, mend - mbeg,
					     nl - nf, mbeg, nf);
	}
}

/* The K blocks of a task: rows [mbeg, mend), columns [n0, n0+nlen). */
static void uk_gemm_k_blocks(const uk_gemm *g, float *ablk, float *bblk, int64_t mbeg,
			     int64_t mend, int64_t n0, int64_t nlen)
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
		for (int64_t m0 = mbeg; m0 < mend; m0 += g->MC) {
			int64_t mlen = mend - m0 < g->MC ? mend - m0 : g->MC;
			const float *ap;
			int64_t astride;
			if (g->afmt == LATHE_UK_FMT_PACKED) {
				ap = g->A + pc * uk_ceil(g->M, MR) * MR + (m0 / MR) * kc * MR;
				astride = kc * MR;
			} else {
				uk_pack_a(g, ablk, m0, mlen, pc, kc);
				ap = ablk;
				astride = kc * MR;
			}
			for (int64_t jr = 0; jr < nlen; jr += NR) {
				int n = (int)(nlen - jr < NR ? nlen - jr : NR);
				for (int64_t ir = 0; ir < mlen; ir += MR) {
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
				}
			}
		}
	}
}

typedef struct uk_gemm_run {
	const uk_gemm *g;
	float *scratch;
	int64_t ntasks;
	atomic_llong next;
} uk_gemm_run;

static void uk_gemm_slots(void *ctx, int64_t begin, int64_t end)
{
	uk_gemm_run *r = ctx;
	for (int64_t s = begin; s < end; s++) {
		float *slot = r->scratch + r->g->shared + s * r->g->slot;
		for (;;) {
			int64_t t = (int64_t)atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
			if (t >= r->ntasks)
				break;
			uk_gemm_task(r->g, slot, t);
		}
	}
}

/* What every task shares: B's row offsets; for a direct convolution the
 * padded copy of the input, one plane per channel c and phase (ph, pw):
 * xp[c][ph][pw][hq][q] = X[c][hq*sh + ph + h0][q*sw + pw + w0] (zero
 * outside), so that tap (dh, dw) of output (oh, ow) is element
 * (dh/sh + oh, dw/sw + ow) of plane (dh mod sh, dw mod sw). */
static void uk_gemm_prepare(uk_gemm *g)
{
	int64_t *boff = (int64_t *)(void *)(g->scratch + g->off_boff);
	g->boff = boff;
	if (g->bmode == BM_ROWS) {
		uk_koffsets(g, g->bk, 0, g->K, boff);
		return;
	}
	if (g->bmode != BM_DIRECT)
		return;
	int64_t hw = g->H * g->W, plane = g->Hp * g->Wp, sh = g->dsh, sw = g->sw, ph = sh * sw;
	int64_t cq[3] = {g->cc[0] / hw, g->cc[1] / hw, g->cc[2] / hw};
	int64_t k2 = 0, k1 = 0, k0 = 0;
	for (int64_t k = 0; k < g->K; k++) {
		int64_t c = k0 * cq[0] + k1 * cq[1] + k2 * cq[2];
		int64_t dh = k0 * g->ch[0] + k1 * g->ch[1] + k2 * g->ch[2];
		int64_t dw = k0 * g->cw[0] + k1 * g->cw[1] + k2 * g->cw[2];
		boff[k] = ((c * ph + (dh % sh) * sw + dw % sw) * g->Hp + dh / sh) * g->Wp + dw / sw;
		if (++k2 == g->k[2]) {
			k2 = 0;
			if (++k1 == g->k[1])
				k1 = 0, k0++;
		}
	}
	g->xp = g->scratch + g->off_xp;
	for (int64_t c = 0; c < g->nch; c++)
		for (int64_t p = 0; p < ph; p++)
			for (int64_t hq = 0; hq < g->Hp; hq++) {
				float *d = g->xp + (c * ph + p) * plane + hq * g->Wp;
				int64_t h = hq * sh + p / sw + g->h0, w0 = p % sw + g->w0;
				const float *xr = g->B + c * hw + h * g->W;
				if (h < 0 || h >= g->H)
					memset(d, 0, sizeof(float) * (size_t)g->Wp);
				else if (sw == 1)
					g->copy(d, xr, w0, g->Wp, g->W);
				else
					for (int64_t q = 0, w = w0; q < g->Wp; q++, w += sw)
						d[q] = w >= 0 && w < g->W ? xr[w] : 0;
			}
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
	g.tile = lathe_rt_uk_tile_kernel((int)g.MR, (int)g.NR);
	g.copy = lathe_rt_uk_copy_kernel();
	uk_gemm_prepare(&g);
	int64_t ncols = g.bmode == BM_DIRECT ? g.NP : g.N;
	uk_gemm_run r = {.g = &g, .scratch = g.scratch,
			 .ntasks = uk_ceil(g.M, g.mchunk) * uk_ceil(ncols, g.NC)};
	atomic_init(&r.next, 0);
	int64_t slots = g.slots < r.ntasks ? g.slots : r.ntasks;
	lathe_rt_uk_pfor(a->pool, slots, uk_gemm_slots, &r);
	return 0;
}

/* ---- pack ------------------------------------------------------------------------------- */

LATHE_RT_UK_API int lathe_rt_uk_pack(const lathe_rt_uk_args *a)
{
	if (a->nip < LATHE_UK_P_FIXED || a->nptr < 2)
		return uk_fail(a, "pack: %d integer parameters and %d pointers (%d and 2 needed)",
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
			return uk_fail(a, "pack: bad sizes");
	if ((side != 0 && side != 1) || R < 1 || R > MAX_R)
		return uk_fail(a, "pack: side %lld, panel width %lld", (long long)side, (long long)R);
	int64_t need = MN && K ? uk_span(4, e, s) : 0;
	if (need < 0 || need > a->avail[0])
		return uk_fail(a, "pack: the source needs %lld elements, %lld available",
			       (long long)need, (long long)a->avail[0]);
	int64_t np = uk_ceil(MN, R), out = np * R * K;
	if (out > a->avail[1])
		return uk_fail(a, "pack: the destination needs %lld elements, %lld available",
			       (long long)out, (long long)a->avail[1]);
	const float *src = a->ptr[0];
	float *dst = a->ptr[1];
	int64_t k1 = e[2], k2 = e[3], KC = uk_kc(K);
	/* Block by block of K (sgemm's), panel by panel within. */
	for (int64_t pc = 0; pc < K; pc += KC) {
		int64_t kc = K - pc < KC ? K - pc : KC;
		for (int64_t p = 0; p < np; p++)
			for (int64_t k = pc; k < pc + kc; k++) {
				int64_t off = (k / (k1 * k2)) * s[1] + ((k / k2) % k1) * s[2] + (k % k2) * s[3];
				float *d = dst + pc * np * R + (p * kc + k - pc) * R;
				for (int64_t i = 0; i < R; i++) {
					int64_t mn = p * R + i;
					d[i] = mn < MN ? src[mn * s[0] + off] : 0;
				}
			}
	}
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
		{"pack", lathe_rt_uk_pack},
		{"dwconv", lathe_rt_uk_dwconv},
	};
	for (size_t i = 0; name && i < sizeof table / sizeof table[0]; i++)
		if (!strcmp(table[i].name, name)) {
			if (out_dtype)
				*out_dtype = 1; /* LATHE_DT_F32 */
			return table[i].fn;
		}
	return NULL;
}
