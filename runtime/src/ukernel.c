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

enum { KC_MAX = 256, MC_MAX = 240, NC_MAX = 512, MAX_R = 64, SCRATCH_SLACK = 16 };

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
	ep->n = (int)nepi;
	int p = p0;
	for (int i = 0; i < ep->n; i++) {
		const int64_t *q = a->ip + at + i * LATHE_UK_EPI_INTS;
		int code = q[0] > 0 && q[0] < LATHE_UK_EPI_CODES ? (int)q[0] : 0;
		if (!code)
			return uk_fail(a, "epilogue %d: unknown operation %lld", i, (long long)q[0]);
		ep->code[i] = code;
		ep->s1[i] = q[1];
		ep->s2[i] = q[2];
		ep->v[i] = NULL;
		ep->f[i] = 0;
		if (code >= LATHE_UK_EPI_ADD_S) {
			if (q[1] < 0 || q[1] >= a->nfp)
				return uk_fail(a, "epilogue %d: float parameter %lld of %d", i,
					       (long long)q[1], a->nfp);
			ep->f[i] = (float)a->fp[q[1]];
			continue;
		}
		if (p >= a->nptr)
			return uk_fail(a, "epilogue %d: no operand pointer", i);
		int kind = (code - LATHE_UK_EPI_ADD_M) % 3; /* 0: by m, 1: by n, 2: by (m, n) */
		int64_t e[2] = {kind == 1 ? N : M, N}, s[2] = {q[1], q[2]};
		int64_t need = uk_span(kind == 2 ? 2 : 1, e, s);
		if (M == 0 || N == 0)
			need = 0;
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

LATHE_RT_UK_API void lathe_rt_uk_epi_row(const uk_epi *ep, float *r, int64_t n, int64_t m,
					 int64_t n0)
{
	for (int i = 0; i < ep->n; i++) {
		const float *v = ep->v[i];
		int64_t s1 = ep->s1[i], s2 = ep->s2[i];
		float f = ep->f[i];
		switch (ep->code[i]) {
		case LATHE_UK_EPI_ADD_M: {
			float x = v[m * s1];
			for (int64_t j = 0; j < n; j++)
				r[j] = r[j] + x;
			break;
		}
		case LATHE_UK_EPI_MUL_M: {
			float x = v[m * s1];
			for (int64_t j = 0; j < n; j++)
				r[j] = r[j] * x;
			break;
		}
		case LATHE_UK_EPI_ADD_N:
			if (s1 == 1)
				for (int64_t j = 0; j < n; j++)
					r[j] = r[j] + v[n0 + j];
			else
				for (int64_t j = 0; j < n; j++)
					r[j] = r[j] + v[(n0 + j) * s1];
			break;
		case LATHE_UK_EPI_MUL_N:
			for (int64_t j = 0; j < n; j++)
				r[j] = r[j] * v[(n0 + j) * s1];
			break;
		case LATHE_UK_EPI_ADD_MN: {
			const float *w = v + m * s1;
			if (s2 == 1)
				for (int64_t j = 0; j < n; j++)
					r[j] = r[j] + w[n0 + j];
			else
				for (int64_t j = 0; j < n; j++)
					r[j] = r[j] + w[(n0 + j) * s2];
			break;
		}
		case LATHE_UK_EPI_MUL_MN: {
			const float *w = v + m * s1;
			for (int64_t j = 0; j < n; j++)
				r[j] = r[j] * w[(n0 + j) * s2];
			break;
		}
		case LATHE_UK_EPI_ADD_S:
			for (int64_t j = 0; j < n; j++)
				r[j] = r[j] + f;
			break;
		case LATHE_UK_EPI_MUL_S:
			for (int64_t j = 0; j < n; j++)
				r[j] = r[j] * f;
			break;
		case LATHE_UK_EPI_MAX_S:
			if (s2)
				for (int64_t j = 0; j < n; j++)
					r[j] = uk_max(f, r[j]);
			else
				for (int64_t j = 0; j < n; j++)
					r[j] = uk_max(r[j], f);
			break;
		case LATHE_UK_EPI_MIN_S:
			if (s2)
				for (int64_t j = 0; j < n; j++)
					r[j] = uk_min(f, r[j]);
			else
				for (int64_t j = 0; j < n; j++)
					r[j] = uk_min(r[j], f);
			break;
		}
	}
}

/* ---- sgemm: parameters ------------------------------------------------------------ */

typedef struct uk_gemm {
	int64_t M, N, K, k[3], MR, NR;
	int afmt, bfmt;
	int64_t ars, ak[3], bcs, bk[3], ldc, slots;
	/* im2col */
	int64_t cc[3], ch[3], cw[3], sc, shs, sws, H, W, OW, sh, sw, h0, w0;
	const float *A, *B;
	float *C, *scratch;
	uk_epi ep;
	int64_t KC, MC, NC, ablk, bblk, slot; /* blocking; scratch floats per block and slot */
	lathe_rt_uk_tile_fn tile;
} uk_gemm;

/* Blocking, from the sizes alone (the scratch planned at compile time must
 * be what the kernel wants at run time). */
static void uk_block(uk_gemm *g)
{
	int64_t nk = uk_ceil(g->K > 0 ? g->K : 1, KC_MAX);
	g->KC = uk_ceil(g->K > 0 ? g->K : 1, nk);
	int64_t mcmax = g->MR * (MC_MAX / g->MR > 0 ? MC_MAX / g->MR : 1);
	int64_t ncmax = g->NR * (NC_MAX / g->NR > 0 ? NC_MAX / g->NR : 1);
	int64_t mfull = uk_ceil(g->M, g->MR) * g->MR, nfull = uk_ceil(g->N, g->NR) * g->NR;
	g->MC = mfull < mcmax ? mfull : mcmax;
	g->NC = nfull < ncmax ? nfull : ncmax;
	if (g->MC < 1)
		g->MC = g->MR;
	if (g->NC < 1)
		g->NC = g->NR;
	/* Enough tasks for the threads: narrower blocks first (B is packed
	 * per task, so splitting N costs no repacking), then shorter. */
	while (g->slots > 1 && uk_ceil(g->M, g->MC) * uk_ceil(g->N, g->NC) < 2 * g->slots) {
		if (g->NC >= 4 * g->NR)
			g->NC = uk_ceil(g->NC / 2, g->NR) * g->NR;
		else if (g->MC >= 2 * g->MR)
			g->MC = uk_ceil(g->MC / 2, g->MR) * g->MR;
		else
			break;
	}
	g->ablk = g->afmt == LATHE_UK_FMT_PACKED ? 0 : uk_ceil(g->MC * g->KC, 16) * 16;
	g->bblk = g->bfmt == LATHE_UK_FMT_PACKED ? 0 : uk_ceil(g->KC * g->NC, 16) * 16;
	g->slot = g->ablk + g->bblk;
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
	return g.slots * g.slot + SCRATCH_SLACK;
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
	need = g->slots * g->slot + SCRATCH_SLACK;
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
			if (g->bcs == 1)
				memcpy(dk, s, sizeof(float) * (size_t)cols);
			else
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
				if (g->sw == 1 && g->sws == 1) {
					/* Contiguous: zeros, a copy, zeros. */
					int64_t lo = w < 0 ? -w : 0, hi = g->W - w < len ? g->W - w : len;
					if (hi < lo)
						hi = lo;
					if (lo > len)
						lo = hi = len;
					memset(o, 0, sizeof(float) * (size_t)lo);
					for (int64_t j = lo; j < hi; j++)
						o[j] = xr[w + j];
					memset(o + hi, 0, sizeof(float) * (size_t)(len - hi));
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

static void uk_tile(const uk_gemm *g, int64_t kc, const float *a, const float *b, float *c,
		    int m, int n, int accumulate)
{
	if (g->tile)
		g->tile(kc, a, b, c, g->ldc, m, n, accumulate);
	else
		lathe_rt_uk_any_tile((int)g->MR, (int)g->NR, kc, a, b, c, g->ldc, m, n, accumulate);
}

/* Task t: the MC x NC block (t % blocks of M, t / blocks of M) of C. */
static void uk_gemm_task(const uk_gemm *g, float *slot, int64_t t)
{
	int64_t nm = uk_ceil(g->M, g->MC);
	int64_t m0 = (t % nm) * g->MC, n0 = (t / nm) * g->NC;
	int64_t mlen = g->M - m0 < g->MC ? g->M - m0 : g->MC;
	int64_t nlen = g->N - n0 < g->NC ? g->N - n0 : g->NC;
	float *ablk = slot, *bblk = slot + g->ablk;
	int64_t MR = g->MR, NR = g->NR;
	for (int64_t pc = 0; pc < g->K; pc += g->KC) {
		int64_t kc = g->K - pc < g->KC ? g->K - pc : g->KC;
		const float *ap, *bp;
		int64_t astride, bstride; /* between panels */
		if (g->afmt == LATHE_UK_FMT_PACKED) {
			ap = g->A + (m0 / MR) * g->K * MR + pc * MR;
			astride = g->K * MR;
		} else {
			uk_pack_a(g, ablk, m0, mlen, pc, kc);
			ap = ablk;
			astride = kc * MR;
		}
		if (g->bfmt == LATHE_UK_FMT_PACKED) {
			bp = g->B + (n0 / NR) * g->K * NR + pc * NR;
			bstride = g->K * NR;
		} else {
			if (g->bfmt == LATHE_UK_FMT_IM2COL)
				uk_pack_im2col(g, bblk, n0, nlen, pc, kc);
			else
				uk_pack_b(g, bblk, n0, nlen, pc, kc);
			bp = bblk;
			bstride = kc * NR;
		}
		int last = pc + kc >= g->K;
		for (int64_t jr = 0; jr < nlen; jr += NR) {
			int n = (int)(nlen - jr < NR ? nlen - jr : NR);
			for (int64_t ir = 0; ir < mlen; ir += MR) {
				int m = (int)(mlen - ir < MR ? mlen - ir : MR);
				float *c = g->C + (m0 + ir) * g->ldc + n0 + jr;
				uk_tile(g, kc, ap + (ir / MR) * astride, bp + (jr / NR) * bstride, c, m, n,
					pc > 0);
				if (last && g->ep.n)
					for (int i = 0; i < m; i++)
						lathe_rt_uk_epi_row(&g->ep, c + i * g->ldc, n, m0 + ir + i, n0 + jr);
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
		float *slot = r->scratch + s * r->g->slot;
		for (;;) {
			int64_t t = (int64_t)atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
			if (t >= r->ntasks)
				break;
			uk_gemm_task(r->g, slot, t);
		}
	}
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
		for (int64_t m = 0; m < g.M; m++) {
			memset(g.C + m * g.ldc, 0, sizeof(float) * (size_t)g.N);
			if (g.ep.n)
				lathe_rt_uk_epi_row(&g.ep, g.C + m * g.ldc, g.N, m, 0);
		}
		return 0;
	}
	g.tile = lathe_rt_uk_tile_kernel((int)g.MR, (int)g.NR);
	uk_gemm_run r = {.g = &g, .scratch = g.scratch,
			 .ntasks = uk_ceil(g.M, g.MC) * uk_ceil(g.N, g.NC)};
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
	int64_t k1 = e[2], k2 = e[3];
	for (int64_t p = 0; p < np; p++)
		for (int64_t k = 0; k < K; k++) {
			int64_t off = (k / (k1 * k2)) * s[1] + ((k / k2) % k1) * s[2] + (k % k2) * s[3];
			float *d = dst + (p * K + k) * R;
			for (int64_t i = 0; i < R; i++) {
				int64_t mn = p * R + i;
				d[i] = mn < MN ? src[mn * s[0] + off] : 0;
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
