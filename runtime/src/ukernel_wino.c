/* ukernel_wino.c: 3x3 convolutions of stride 1 by Winograd's minimal
 * filtering F(4x4, 3x3) (lathe_rt_ukernel.h's wino), and the transform of
 * their weights (pack, SIDE 2).
 *
 * The output is cut into tiles of 4x4; tile (th, tw) reads the 6x6 input
 * window d at rows 4*th - PH .. +5 and columns 4*tw - PW .. +5 (zeros
 * outside the image).  With g a 3x3 filter, U = G g G^T (done once, at
 * compile time) and V = B^T d B (per tile and input channel), the tile's
 * output for channel o is A^T M A with M = sum over c of U[o][c] . V[c]
 * (element-wise): 36 matrix products M[xi] = U[xi] x V[xi] over the input
 * channels, one per element xi of the 6x6 transformed tile, so that 16
 * outputs take 36 multiply-adds per input channel instead of 144 (plus the
 * transforms).  The points are 0, +-1, +-2 and infinity (the matrices
 * below); the sums differ from the direct convolution's by rounding (a few
 * ulp of the inputs' scale more than direct summation).
 *
 * Work goes in blocks of R whole rows of tiles (chosen so that a block's
 * transformed input fits the L2 cache and fills the register tile's
 * columns with little padding): a block's input is transformed into V,
 * laid out as sgemm's packed B panels (tiles on the vector axis: NR
 * columns per panel), then for each panel of MR output channels the 36
 * products run on sgemm's register-tile kernel against U (packed A
 * panels, [panel][xi][C][MR]) into a small buffer, and the output
 * transform writes those channels' rows of Y, applying the epilogue in
 * registers (AVX-512, for additions, multiplications, max and min of
 * scalars and of operands by channel or position) or over each row while
 * it is in L1.  The pool's threads take contiguous runs of (block,
 * share of the channel panels), then what is left of the others'; each
 * sum is computed the same way whichever thread computes it, so results
 * do not depend on the thread count.  With AVX-512 the transforms work on
 * 16 tiles of a row of tiles at once (their columns split into phases by
 * permutes), or, on images of 4, 8 or 12 tiles across, on 16 tiles of the
 * block taken flat, four per row; other CPUs take plain loops.
 *
 * Every region is checked against the pointers' avail counts first.
 * Names carry the uw_ prefix: the file is pasted, with the other kernel
 * sources, into one generated translation unit.  libc only.
 */
#include <string.h>

#include "lathe_rt_ukernel.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
	!defined(LATHE_UK_PORTABLE)
#define UW_X86 1
#include <immintrin.h>
#else
#define UW_X86 0
#endif

/* Elements of the 6x6 transformed tile; the largest transformed block of
 * input a slot holds (floats), beyond one panel of columns. */
enum { UW_XI = 36, UW_VMAX = 160 * 1024, UW_ALIGN = 16 };

typedef struct uw_conv {
	int64_t C, H, W, XSC, XSH, O, OH, OW, YSC, PH, PW, MR, NR;
	int64_t TH, TW, R, NP, npan, nblk, nop, nsplit, nitems, nslots, slot;
	const float *U, *X;
	float *Y, *scratch;
	lathe_rt_uk_epi ep;
	lathe_rt_uk_tile_fn tile;
	int vec;  /* the AVX-512 transforms */
	int flat; /* ... over the block's tiles taken flat (rows of 4, 8, 12 tiles) */
	int vec_ep; /* ... applying the epilogue before they store */
	lathe_rt_uk_runs runs; /* the slots' runs of items */
} uw_conv;

static int64_t uw_ceil(int64_t a, int64_t b)
{
	return (a + b - 1) / b;
}

/* The blocking: R rows of tiles per block (the last may have fewer), NP
 * columns of V (R*TW rounded up to panels of NR columns), and the floats
 * a slot needs.  The panels are the register tile's width, or half of it
 * when that pads fewer columns (a 12 x 16 tile does a little less per
 * load: counted as 1/8 more columns); R keeps the padded columns of all
 * blocks fewest, the block's V within UW_VMAX floats (or one panel), and
 * is the smallest such. */
static void uw_plan(uw_conv *w)
{
	w->TH = uw_ceil(w->OH, 4);
	w->TW = uw_ceil(w->OW, 4);
	int64_t best = -1, nr0 = w->NR;
	w->R = 1;
	for (int half = 0; half < 2; half++) {
		int64_t nr = half ? nr0 / 2 : nr0;
		if (half && (nr0 != 32))
			break;
		for (int64_t r = 1; r <= w->TH; r++) {
			int64_t np = uw_ceil(r * w->TW, nr) * nr;
			if (np > nr && UW_XI * w->C * np > UW_VMAX)
				break;
			int64_t full = w->TH / r, rest = w->TH % r;
			int64_t pad = full * np + (rest ? uw_ceil(rest * w->TW, nr) * nr : 0);
			if (half)
				pad += pad / 8;
			if (best < 0 || pad < best)
				best = pad, w->R = r, w->NR = nr;
		}
	}
	w->NP = uw_ceil(w->R * w->TW, w->NR) * w->NR;
	w->npan = w->NP / w->NR;
	w->nblk = uw_ceil(w->TH, w->R);
	w->nop = uw_ceil(w->O, w->MR);
	w->slot = (UW_XI * w->C * w->NP + UW_XI * w->MR * w->NP + UW_ALIGN) / UW_ALIGN * UW_ALIGN;
}

/* ---- transforms, plain ------------------------------------------------------------ */

/* B^T z for a 6-vector z (the input transform along one axis). */
static void uw_bt(const float *z, int64_t s, float *r, int64_t rs)
{
	float z0 = z[0], z1 = z[s], z2 = z[2 * s], z3 = z[3 * s], z4 = z[4 * s], z5 = z[5 * s];
	r[0] = 4 * z0 - 5 * z2 + z4;
	r[rs] = -4 * (z1 + z2) + (z3 + z4);
	r[2 * rs] = 4 * (z1 - z2) + (z4 - z3);
	r[3 * rs] = 2 * (z3 - z1) + (z4 - z2);
	r[4 * rs] = 2 * (z1 - z3) + (z4 - z2);
	r[5 * rs] = 4 * z1 - 5 * z3 + z5;
}

/* A^T z for a 6-vector z (the output transform along one axis). */
static void uw_at(const float *z, int64_t s, float *r, int64_t rs)
{
	float a = z[s] + z[2 * s], b = z[s] - z[2 * s];
	float c = z[3 * s] + z[4 * s], d = z[3 * s] - z[4 * s];
	r[0] = z[0] + a + c;
	r[rs] = b + 2 * d;
	r[2 * rs] = a + 4 * c;
	r[3 * rs] = b + 8 * d + z[5 * s];
}

/* Where tile column t (of the block) of channel c of element xi goes in V:
 * panels of NR columns, [xi][panel][C][NR]. */
static float *uw_vat(const uw_conv *w, float *V, int64_t xi, int64_t c, int64_t t)
{
	return V + ((xi * w->npan + t / w->NR) * w->C + c) * w->NR + t % w->NR;
}

/* Input transform of the block's tiles for channel c, tile by tile. */
static void uw_in_plain(const uw_conv *w, float *V, int64_t th0, int64_t nth, int64_t c)
{
	const float *xc = w->X + c * w->XSC;
	for (int64_t r = 0; r < nth; r++)
		for (int64_t tw = 0; tw < w->TW; tw++) {
			float d[36], t[36], v[36];
			int64_t h0 = 4 * (th0 + r) - w->PH, c0 = 4 * tw - w->PW;
			for (int i = 0; i < 6; i++)
				for (int j = 0; j < 6; j++) {
					int64_t h = h0 + i, x = c0 + j;
					d[i * 6 + j] = h >= 0 && h < w->H && x >= 0 && x < w->W
							       ? xc[h * w->XSH + x] : 0;
				}
			for (int i = 0; i < 6; i++) /* rows: t = d B */
				uw_bt(d + i * 6, 1, t + i, 6);
			for (int l = 0; l < 6; l++) /* columns: v = B^T t */
				uw_bt(t + l * 6, 1, v + l, 6);
			for (int xi = 0; xi < UW_XI; xi++)
				*uw_vat(w, V, xi, c, r * w->TW + tw) = v[xi];
		}
}

/* Output transform of channel o (row rr of the panel's products Mt) over
 * the block's tiles, into Y (clipped to OH x OW). */
static void uw_out_plain(const uw_conv *w, const float *Mt, int64_t th0, int64_t nth, int64_t o,
			 int64_t rr)
{
	float *yo = w->Y + o * w->YSC;
	for (int64_t r = 0; r < nth; r++)
		for (int64_t tw = 0; tw < w->TW; tw++) {
			float m[36], q[24], y[16];
			int64_t t = r * w->TW + tw;
			for (int xi = 0; xi < UW_XI; xi++)
				m[xi] = Mt[(xi * w->MR + rr) * w->NP + t];
			for (int l = 0; l < 6; l++) /* columns: q = A^T m, 4 x 6 */
				uw_at(m + l, 6, q + l, 6);
			for (int i = 0; i < 4; i++) /* rows: y = q A */
				uw_at(q + i * 6, 1, y + i * 4, 1);
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++) {
					int64_t h = 4 * (th0 + r) + i, x = 4 * tw + j;
					if (h < w->OH && x < w->OW)
						yo[h * w->OW + x] = y[i * 4 + j];
				}
		}
}

/* ---- transforms, AVX-512 ------------------------------------------------------------ */

#if UW_X86
#define UW_AVX512 __attribute__((target("avx512f")))

/* Lanes l < 16 with 0 <= s + l < n. */
static inline __mmask16 uw_range(int64_t s, int64_t n)
{
	int64_t lo = s < 0 ? -s : 0, hi = n - s;
	if (hi > 16)
		hi = 16;
	if (lo >= hi)
		return 0;
	return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* B^T applied across six vectors (z[0..5] -> r[0..5]); z may be r. */
#define UW_BT16(z, r)                                                                          \
	do {                                                                                   \
		__m512 z0_ = (z)[0], z1_ = (z)[1], z2_ = (z)[2], z3_ = (z)[3], z4_ = (z)[4],   \
		       z5_ = (z)[5];                                                           \
		const __m512 f4_ = _mm512_set1_ps(4), f5_ = _mm512_set1_ps(5),                 \
			     f2_ = _mm512_set1_ps(2);                                          \
		(r)[0] = _mm512_fmadd_ps(f4_, z0_, _mm512_fnmadd_ps(f5_, z2_, z4_));           \
		(r)[1] = _mm512_fnmadd_ps(f4_, _mm512_add_ps(z1_, z2_), _mm512_add_ps(z3_, z4_)); \
		(r)[2] = _mm512_fmadd_ps(f4_, _mm512_sub_ps(z1_, z2_), _mm512_sub_ps(z4_, z3_)); \
		(r)[3] = _mm512_fmadd_ps(f2_, _mm512_sub_ps(z3_, z1_), _mm512_sub_ps(z4_, z2_)); \
		(r)[4] = _mm512_fmadd_ps(f2_, _mm512_sub_ps(z1_, z3_), _mm512_sub_ps(z4_, z2_)); \
		(r)[5] = _mm512_fmadd_ps(f4_, z1_, _mm512_fnmadd_ps(f5_, z3_, z5_));           \
	} while (0)

/* A^T applied across six vectors (z[0..5] -> r[0..3]). */
#define UW_AT16(z, r)                                                                          \
	do {                                                                                   \
		__m512 a_ = _mm512_add_ps((z)[1], (z)[2]), b_ = _mm512_sub_ps((z)[1], (z)[2]); \
		__m512 c_ = _mm512_add_ps((z)[3], (z)[4]), d_ = _mm512_sub_ps((z)[3], (z)[4]); \
		(r)[0] = _mm512_add_ps(_mm512_add_ps((z)[0], a_), c_);                         \
		(r)[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d_, b_);                           \
		(r)[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), c_, a_);                           \
		(r)[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d_, b_), (z)[5]);    \
	} while (0)

/* y[j][t] -> out[(4t + j) / 16][(4t + j) % 16]: four vectors of a tile's
 * columns into 64 consecutive outputs (unpacks, then 128-bit shuffles). */
#define UW_INTERLEAVE4(y, out)                                                                 \
	do {                                                                                   \
		__m512d a_ = _mm512_castps_pd(_mm512_unpacklo_ps((y)[0], (y)[1]));             \
		__m512d b_ = _mm512_castps_pd(_mm512_unpackhi_ps((y)[0], (y)[1]));             \
		__m512d c_ = _mm512_castps_pd(_mm512_unpacklo_ps((y)[2], (y)[3]));             \
		__m512d d_ = _mm512_castps_pd(_mm512_unpackhi_ps((y)[2], (y)[3]));             \
		__m512 e0_ = _mm512_castpd_ps(_mm512_unpacklo_pd(a_, c_));                     \
		__m512 e1_ = _mm512_castpd_ps(_mm512_unpackhi_pd(a_, c_));                     \
		__m512 e2_ = _mm512_castpd_ps(_mm512_unpacklo_pd(b_, d_));                     \
		__m512 e3_ = _mm512_castpd_ps(_mm512_unpackhi_pd(b_, d_));                     \
		__m512 f0_ = _mm512_shuffle_f32x4(e0_, e1_, 0x44);                             \
		__m512 f1_ = _mm512_shuffle_f32x4(e2_, e3_, 0x44);                             \
		__m512 g0_ = _mm512_shuffle_f32x4(e0_, e1_, 0xee);                             \
		__m512 g1_ = _mm512_shuffle_f32x4(e2_, e3_, 0xee);                             \
		(out)[0] = _mm512_shuffle_f32x4(f0_, f1_, 0x88);                               \
		(out)[1] = _mm512_shuffle_f32x4(f0_, f1_, 0xdd);                               \
		(out)[2] = _mm512_shuffle_f32x4(g0_, g1_, 0x88);                               \
		(out)[3] = _mm512_shuffle_f32x4(g0_, g1_, 0xdd);                               \
	} while (0)

/* Stores the cnt lanes of v at p, in a row of V whose panel has room for
 * first of them; lanes first.. go to q + lane, q being the same row of the
 * next panel less first (NR >= 16: two panels at most). */
static UW_AVX512 inline void uw_put16(float *p, float *q, int64_t first, int64_t cnt, __m512 v)
{
	if (first >= cnt) {
		_mm512_mask_storeu_ps(p, (__mmask16)((1u << cnt) - 1), v);
		return;
	}
	_mm512_mask_storeu_ps(p, (__mmask16)((1u << first) - 1), v);
	_mm512_mask_storeu_ps(q, (__mmask16)(((1u << cnt) - 1) & ~((1u << first) - 1)), v);
}

/* z[k] = columns 4t + j0 + k (t < 16) of the 64 floats L[0..3], k < n:
 * a phase of the columns under 16 tiles, by two permutes and a shuffle. */
static UW_AVX512 inline void uw_phases(const __m512 *L, int j0, int n, __m512 *z)
{
	__m512i ij = _mm512_add_epi32(
		_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 28, 24, 20, 16, 12, 8, 4, 0),
		_mm512_set1_epi32(j0));
	for (int k = 0; k < n; k++) {
		__m512 lo = _mm512_permutex2var_ps(L[0], ij, L[1]);
		__m512 hi = _mm512_permutex2var_ps(L[2], ij, L[3]);
		z[k] = _mm512_shuffle_f32x4(lo, hi, 0x44);
		ij = _mm512_add_epi32(ij, _mm512_set1_epi32(1));
	}
}

/* Input transform of channel c over the block's rows of tiles, 16 tiles
 * of a row at a time: the 66 input columns under them are loaded once per
 * input row and split into the six taps' columns (4t + j) by permutes. */
static UW_AVX512 void uw_in16(const uw_conv *w, float *V, int64_t th0, int64_t nth, int64_t c)
{
	const float *xc = w->X + c * w->XSC;
	for (int64_t tw0 = 0; tw0 < w->TW; tw0 += 16) {
		int64_t cnt = w->TW - tw0 < 16 ? w->TW - tw0 : 16, x0 = 4 * tw0 - w->PW;
		__mmask16 k[5];
		for (int q = 0; q < 5; q++)
			k[q] = uw_range(x0 + 16 * q, w->W);
		k[4] &= 3;
		for (int64_t r = 0; r < nth; r++) {
			__m512 t[6][6];
			int64_t h0 = 4 * (th0 + r) - w->PH;
			for (int i = 0; i < 6; i++) {
				int64_t h = h0 + i;
				if (h < 0 || h >= w->H) {
					for (int l = 0; l < 6; l++)
						t[i][l] = _mm512_setzero_ps();
					continue;
				}
				const float *p = xc + h * w->XSH + x0;
				__m512 L[5], z[6];
				for (int q = 0; q < 5; q++)
					L[q] = _mm512_maskz_loadu_ps(k[q], p + 16 * q);
				uw_phases(L, 0, 4, z);
				__m512i l4 = _mm512_castps_si512(L[4]);
				z[4] = _mm512_castsi512_ps(
					_mm512_alignr_epi32(l4, _mm512_castps_si512(z[0]), 1));
				z[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(
					_mm512_alignr_epi32(l4, l4, 1), _mm512_castps_si512(z[1]), 1));
				UW_BT16(z, t[i]);
			}
			int64_t tt = r * w->TW + tw0, first = w->NR - tt % w->NR;
			float *p = uw_vat(w, V, 0, c, tt);
			float *q = first < cnt ? uw_vat(w, V, 0, c, tt + first) - first : p;
			int64_t xs = w->npan * w->C * w->NR; /* from one xi to the next */
			for (int l = 0; l < 6; l++) {
				__m512 col[6] = {t[0][l], t[1][l], t[2][l], t[3][l], t[4][l], t[5][l]};
				UW_BT16(col, col);
				for (int kk = 0; kk < 6; kk++)
					uw_put16(p + (kk * 6 + l) * xs, q + (kk * 6 + l) * xs, first, cnt,
						 col[kk]);
			}
		}
	}
}

/* The first half of the output transform for 16 tiles (the lanes of kin)
 * whose 36 products start at m, xs apart: q[i][l] = (A^T M)[i][l]. */
static UW_AVX512 inline void uw_at_cols(const float *m, int64_t xs, __mmask16 kin, __m512 q[4][6])
{
	for (int l = 0; l < 6; l++) {
		__m512 z[6], s[4];
		for (int kk = 0; kk < 6; kk++)
			z[kk] = _mm512_maskz_loadu_ps(kin, m + (kk * 6 + l) * xs);
		UW_AT16(z, s);
		for (int i = 0; i < 4; i++)
			q[i][l] = s[i];
	}
}

/* Channel o's epilogue on 16 outputs at positions n0.. (the lanes of k):
 * operands per channel and scalars from xs (splatted once per channel),
 * per position loaded; max and min as the loop IR's (NaN when either
 * operand is, else the second where it is greater / smaller). */
static UW_AVX512 inline __m512 uw_epi16(const lathe_rt_uk_epi *ep, const __m512 *xs, __m512 t,
					int64_t o, int64_t n0, __mmask16 k)
{
	for (int e = 0; e < ep->n; e++) {
		__m512 x = ep->v[e] && ep->sn[e]
				   ? _mm512_maskz_loadu_ps(k, ep->v[e] + o * ep->sm[e] + n0)
				   : xs[e];
		__m512 a = ep->rev[e] ? x : t, b = ep->rev[e] ? t : x;
		if (ep->op[e] == LATHE_UK_OP_ADD)
			t = _mm512_add_ps(a, b);
		else if (ep->op[e] == LATHE_UK_OP_MUL)
			t = _mm512_mul_ps(a, b);
		else
			t = ep->op[e] == LATHE_UK_OP_MAX
				    ? _mm512_mask_max_ps(b, _mm512_cmp_ps_mask(b, b, _CMP_ORD_Q), b, a)
				    : _mm512_mask_min_ps(b, _mm512_cmp_ps_mask(b, b, _CMP_ORD_Q), b, a);
	}
	return t;
}

/* Whether uw_epi16 can apply ep (add, mul, max, min of scalars and of
 * operands by channel or by consecutive positions). */
static int uw_epi16_ok(const lathe_rt_uk_epi *ep)
{
	if (!ep->simple)
		return 0;
	for (int e = 0; e < ep->n; e++)
		if (ep->v[e] && ep->sn[e] != 0 && ep->sn[e] != 1)
			return 0;
	return 1;
}

/* The splatted operands of channel o's epilogue. */
static UW_AVX512 inline void uw_epi16_set(const lathe_rt_uk_epi *ep, int64_t o, __m512 *xs)
{
	for (int e = 0; e < ep->n; e++)
		xs[e] = _mm512_set1_ps(!ep->v[e] ? ep->f[e] : ep->sn[e] ? 0 : ep->v[e][o * ep->sm[e]]);
}

/* Output transform of channel o (row rr of Mt) over the block's rows of
 * tiles, 16 tiles of a row at a time: the four columns of each output row
 * are interleaved into 64 consecutive outputs by unpacks and shuffles. */
static UW_AVX512 void uw_out16(const uw_conv *w, const float *Mt, int64_t th0, int64_t nth,
			       int64_t o, int64_t rr, const lathe_rt_uk_epi *ep)
{
	float *yo = w->Y + o * w->YSC;
	__m512 xs[LATHE_UK_EPI_MAX];
	if (ep)
		uw_epi16_set(ep, o, xs);
	for (int64_t tw0 = 0; tw0 < w->TW; tw0 += 16) {
		int64_t cnt = w->TW - tw0 < 16 ? w->TW - tw0 : 16, x0 = 4 * tw0;
		__mmask16 kin = (__mmask16)((1u << cnt) - 1), kout[4];
		for (int q = 0; q < 4; q++)
			kout[q] = uw_range(x0 + 16 * q, w->OW);
		for (int64_t r = 0; r < nth; r++) {
			__m512 q[4][6];
			uw_at_cols(Mt + rr * w->NP + r * w->TW + tw0, w->MR * w->NP, kin, q);
			for (int i = 0; i < 4; i++) {
				int64_t h = 4 * (th0 + r) + i;
				if (h >= w->OH)
					break;
				__m512 y[4];
				UW_AT16(q[i], y);
				__m512 out[4];
				UW_INTERLEAVE4(y, out);
				float *yr = yo + h * w->OW + x0;
				for (int qq = 0; qq < 4; qq++) {
					if (ep)
						out[qq] = uw_epi16(ep, xs, out[qq], o, h * w->OW + x0 + 16 * qq,
								   kout[qq]);
					_mm512_mask_storeu_ps(yr + 16 * qq, kout[qq], out[qq]);
				}
			}
		}
	}
}

/* The same over the block's tiles taken flat (t = r*TW + tw), 16 at a
 * time, for rows of 4, 8 or 12 tiles (small images, whose rows would fill
 * a vector only partly): every four lanes are four tiles of one row, 16
 * input columns loaded at once (and 16 from two columns on for the last
 * two taps). */
static UW_AVX512 void uw_in16f(const uw_conv *w, float *V, int64_t th0, int64_t nth, int64_t c)
{
	const float *xc = w->X + c * w->XSC;
	int64_t n = nth * w->TW;
	for (int64_t t0 = 0; t0 < n; t0 += 16) {
		int64_t cnt = n - t0 < 16 ? n - t0 : 16;
		__m512 t[6][6];
		for (int i = 0; i < 6; i++) {
			__m512 L[4], M[4], z[6];
			for (int q = 0; q < 4; q++) {
				int64_t tt = t0 + 4 * q, r = tt / w->TW;
				int64_t h = 4 * (th0 + r) - w->PH + i, x0 = 4 * (tt % w->TW) - w->PW;
				L[q] = M[q] = _mm512_setzero_ps();
				if (tt >= n || h < 0 || h >= w->H)
					continue;
				const float *p = xc + h * w->XSH + x0;
				L[q] = _mm512_maskz_loadu_ps(uw_range(x0, w->W), p);
				M[q] = _mm512_maskz_loadu_ps(uw_range(x0 + 2, w->W), p + 2);
			}
			uw_phases(L, 0, 4, z);
			uw_phases(M, 2, 2, z + 4); /* columns 4t + 4, 4t + 5 */
			UW_BT16(z, t[i]);
		}
		int64_t first = w->NR - t0 % w->NR;
		float *p = uw_vat(w, V, 0, c, t0);
		float *q = first < cnt ? uw_vat(w, V, 0, c, t0 + first) - first : p;
		int64_t xs = w->npan * w->C * w->NR;
		for (int l = 0; l < 6; l++) {
			__m512 col[6] = {t[0][l], t[1][l], t[2][l], t[3][l], t[4][l], t[5][l]};
			UW_BT16(col, col);
			for (int kk = 0; kk < 6; kk++)
				uw_put16(p + (kk * 6 + l) * xs, q + (kk * 6 + l) * xs, first, cnt, col[kk]);
		}
	}
}

/* The output side of uw_in16f: 16 tiles taken flat, every four lanes of
 * the interleaved rows one run of 16 output columns. */
static UW_AVX512 void uw_out16f(const uw_conv *w, const float *Mt, int64_t th0, int64_t nth,
				int64_t o, int64_t rr, const lathe_rt_uk_epi *ep)
{
	float *yo = w->Y + o * w->YSC;
	__m512 xs[LATHE_UK_EPI_MAX];
	if (ep)
		uw_epi16_set(ep, o, xs);
	int64_t n = nth * w->TW;
	for (int64_t t0 = 0; t0 < n; t0 += 16) {
		int64_t cnt = n - t0 < 16 ? n - t0 : 16;
		__mmask16 kin = (__mmask16)((1u << cnt) - 1);
		__m512 q[4][6];
		uw_at_cols(Mt + rr * w->NP + t0, w->MR * w->NP, kin, q);
		for (int i = 0; i < 4; i++) {
			__m512 y[4], out[4];
			UW_AT16(q[i], y);
			UW_INTERLEAVE4(y, out);
			for (int qq = 0; qq < 4; qq++) {
				int64_t tt = t0 + 4 * qq;
				if (tt >= n)
					break;
				int64_t h = 4 * (th0 + tt / w->TW) + i, x0 = 4 * (tt % w->TW);
				if (h >= w->OH)
					continue;
				__mmask16 k = uw_range(x0, w->OW);
				if (ep)
					out[qq] = uw_epi16(ep, xs, out[qq], o, h * w->OW + x0, k);
				_mm512_mask_storeu_ps(yo + h * w->OW + x0, k, out[qq]);
			}
		}
	}
}

static int uw_has_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
}
#endif

/* ---- the convolution ---------------------------------------------------------------- */

/* Transformed input of block b into V (padded columns zeroed). */
static void uw_input(const uw_conv *w, float *V, int64_t b)
{
	int64_t th0 = b * w->R, nth = w->TH - th0 < w->R ? w->TH - th0 : w->R;
	int64_t n = nth * w->TW;
	for (int64_t c = 0; c < w->C; c++) {
#if UW_X86
		if (w->vec) {
			if (w->flat)
				uw_in16f(w, V, th0, nth, c);
			else
				uw_in16(w, V, th0, nth, c);
			continue;
		}
#endif
		uw_in_plain(w, V, th0, nth, c);
	}
	/* The padded columns of the last panel: the tile kernels read whole
	 * panels. */
	int64_t q = n / w->NR, t0 = n % w->NR;
	if (q < w->npan)
		for (int64_t xi = 0; xi < UW_XI; xi++) {
			float *p = V + (xi * w->npan + q) * w->C * w->NR + t0;
			for (int64_t c = 0; c < w->C; c++)
				memset(p + c * w->NR, 0, sizeof(float) * (size_t)(w->NR - t0));
		}
	for (q++; q < w->npan; q++) /* panels past the block's tiles */
		for (int64_t xi = 0; xi < UW_XI; xi++)
			memset(V + (xi * w->npan + q) * w->C * w->NR, 0,
			       sizeof(float) * (size_t)(w->C * w->NR));
}

/* Channel panels [p0, p1) of block b: the 36 products of each panel into
 * Mt, then its output transform and epilogue. */
static void uw_panels(const uw_conv *w, const float *V, float *Mt, int64_t b, int64_t p0, int64_t p1)
{
	int64_t th0 = b * w->R, nth = w->TH - th0 < w->R ? w->TH - th0 : w->R;
	int64_t h1 = 4 * (th0 + nth) < w->OH ? 4 * (th0 + nth) : w->OH;
	for (int64_t p = p0; p < p1; p++) {
		int64_t m = w->O - p * w->MR < w->MR ? w->O - p * w->MR : w->MR;
		for (int64_t xi = 0; xi < UW_XI; xi++) {
			const float *a = w->U + (p * UW_XI + xi) * w->C * w->MR;
			for (int64_t q = 0; q < w->npan; q++) {
				const float *bp = V + (xi * w->npan + q) * w->C * w->NR;
				float *c = Mt + xi * w->MR * w->NP + q * w->NR;
				if (w->tile)
					w->tile(w->C, a, bp, NULL, c, w->NP, (int)m, (int)w->NR, 0, NULL, 0, 0);
				else
					lathe_rt_uk_any_tile((int)w->MR, (int)w->NR, w->C, a, bp, NULL, c, w->NP,
							     (int)m, (int)w->NR, 0, NULL, 0, 0);
			}
		}
		for (int64_t r = 0; r < m; r++) {
			int64_t o = p * w->MR + r;
#if UW_X86
			/* the epilogue in registers where it can be */
			const lathe_rt_uk_epi *ep = w->vec_ep ? &w->ep : NULL;
			if (w->vec && w->flat)
				uw_out16f(w, Mt, th0, nth, o, r, ep);
			else if (w->vec)
				uw_out16(w, Mt, th0, nth, o, r, ep);
			else
#endif
				uw_out_plain(w, Mt, th0, nth, o, r);
			if (w->ep.n && !w->vec_ep)
				for (int64_t h = 4 * th0; h < h1; h++)
					lathe_rt_uk_epi_rows(&w->ep, w->Y + o * w->YSC + h * w->OW, w->OW, 1,
							     w->OW, o, h * w->OW);
		}
	}
}

/* Slots [s0, s1): slot s takes the items of its run, [s*n/S, (s+1)*n/S)
 * of the n = blocks x shares items, block-major, then what is left of the
 * other runs (a thread slowed down, by another tenant of its core say,
 * holds up the others by one item, not by its run), transforming a
 * block's input once per sequence of its items. */
static void uw_slots(void *ctx, int64_t s0, int64_t s1)
{
	uw_conv *w = ctx;
	for (int64_t s = s0; s < s1; s++) {
		float *V = w->scratch + s * w->slot, *Mt = V + UW_XI * w->C * w->NP;
		int64_t cur = -1;
		int k = 0;
		for (int64_t i; (i = lathe_rt_uk_runs_take(&w->runs, s, &k)) >= 0;) {
			int64_t b = i / w->nsplit, j = i % w->nsplit;
			if (b != cur)
				uw_input(w, V, cur = b);
			uw_panels(w, V, Mt, b, j * w->nop / w->nsplit, (j + 1) * w->nop / w->nsplit);
		}
	}
}

static int uw_ints(const lathe_rt_uk_args *a, const int64_t *ip, int nip, uw_conv *w)
{
	if (nip < LATHE_UK_W_FIXED)
		return lathe_rt_uk_fail(a, "wino: %d integer parameters (%d needed)", nip, LATHE_UK_W_FIXED);
	for (int i = 0; i < LATHE_UK_W_NEPI; i++)
		if (ip[i] < 0 || ip[i] >= ((int64_t)1 << 24))
			return lathe_rt_uk_fail(a, "wino: parameter %d is %lld (0 to 2^24 - 1 allowed)", i,
						(long long)ip[i]);
	memset(w, 0, sizeof *w);
	w->C = ip[LATHE_UK_W_C], w->H = ip[LATHE_UK_W_H], w->W = ip[LATHE_UK_W_W];
	w->XSC = ip[LATHE_UK_W_XSC], w->XSH = ip[LATHE_UK_W_XSH];
	w->O = ip[LATHE_UK_W_O], w->OH = ip[LATHE_UK_W_OH], w->OW = ip[LATHE_UK_W_OW];
	w->YSC = ip[LATHE_UK_W_YSC], w->PH = ip[LATHE_UK_W_PH], w->PW = ip[LATHE_UK_W_PW];
	w->MR = ip[LATHE_UK_W_MR], w->NR = ip[LATHE_UK_W_NR];
	if (w->MR < 1 || w->MR > 64 || w->NR < 1 || w->NR > 64)
		return lathe_rt_uk_fail(a, "wino: register tile %lld x %lld (1 to 64 each)",
					(long long)w->MR, (long long)w->NR);
	if (w->XSH < w->W || w->YSC < w->OH * w->OW)
		return lathe_rt_uk_fail(a, "wino: rows of X or channels of Y overlap");
	int64_t slots = ip[LATHE_UK_W_SLOTS];
	w->nslots = slots < 1 ? 1 : slots > LATHE_RT_UK_RUNS ? LATHE_RT_UK_RUNS : slots;
	uw_plan(w);
	return 0;
}

LATHE_RT_UK_API int64_t lathe_rt_uk_wino_scratch(const int64_t *ip, int nip)
{
	uw_conv w;
	lathe_rt_uk_args none = {0};
	if (uw_ints(&none, ip, nip, &w))
		return -1;
	return w.nslots * w.slot + UW_ALIGN;
}

LATHE_RT_UK_API int lathe_rt_uk_wino(const lathe_rt_uk_args *a)
{
	uw_conv w;
	if (uw_ints(a, a->ip, a->nip, &w))
		return 1;
	if (a->nptr < 4)
		return lathe_rt_uk_fail(a, "wino: %d pointers (4 needed)", a->nptr);
	int64_t nepi = a->ip[LATHE_UK_W_NEPI];
	if (lathe_rt_uk_epi_parse(a, LATHE_UK_W_FIXED, nepi, 4, w.O, w.OH * w.OW, &w.ep))
		return 1;
	if (!w.O || !w.OH || !w.OW)
		return 0;
	int64_t need[4] = {w.nop * w.MR * UW_XI * w.C,
			   w.C && w.H && w.W ? (w.C - 1) * w.XSC + (w.H - 1) * w.XSH + w.W : 0,
			   (w.O - 1) * w.YSC + w.OH * w.OW, w.nslots * w.slot + UW_ALIGN};
	static const char *const what[4] = {"the weights", "X", "Y", "the scratch"};
	if (lathe_rt_uk_need(a, "wino", 4, need, what))
		return 1;
	w.U = a->ptr[0];
	w.X = a->ptr[1];
	w.Y = a->ptr[2];
	uintptr_t sp = (uintptr_t)a->ptr[3];
	w.scratch = (float *)(void *)((sp + 63) & ~(uintptr_t)63);
	w.tile = lathe_rt_uk_tile_kernel((int)w.MR, (int)w.NR);
#if UW_X86
	w.vec = w.NR >= 16 && uw_has_avx512();
	w.flat = w.TW % 4 == 0 && w.TW < 16;
	w.vec_ep = w.vec && w.ep.n && uw_epi16_ok(&w.ep);
#endif
	/* Shares of the channel panels per block: whole blocks when they
	 * divide among the slots, else one share per slot. */
	int64_t S = w.nslots < w.nblk * w.nop ? w.nslots : w.nblk * w.nop;
	w.nsplit = w.nblk % S == 0 ? 1 : (S < w.nop ? S : w.nop);
	w.nitems = w.nblk * w.nsplit;
	w.nslots = S < w.nitems ? S : w.nitems;
	lathe_rt_uk_runs_init(&w.runs, w.nitems, w.nslots);
	lathe_rt_uk_pfor(a->pool, w.nslots, uw_slots, &w);
	return 0;
}

/* ---- the weights: pack SIDE 2 ------------------------------------------------------ */

/* The rows of G (the filter transform), and U = G g G^T for the n <= 64
 * filters g[9][n] of a panel at once (in double, the filters innermost so
 * that the loops vectorize): u[36][n]. */
static const double uw_G[6][3] = {{1.0 / 4, 0, 0},
				  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
				  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
				  {1.0 / 24, 1.0 / 12, 1.0 / 6},
				  {1.0 / 24, -1.0 / 12, 1.0 / 6},
				  {0, 0, 1}};

static void uw_filters(const double (*g)[64], double (*u)[64], int64_t n)
{
	double t[18][64];
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 3; j++)
			for (int64_t r = 0; r < n; r++)
				t[i * 3 + j][r] = uw_G[i][0] * g[j][r] + uw_G[i][1] * g[3 + j][r] +
						  uw_G[i][2] * g[6 + j][r];
	for (int i = 0; i < 6; i++)
		for (int l = 0; l < 6; l++)
			for (int64_t r = 0; r < n; r++)
				u[i * 6 + l][r] = t[i * 3][r] * uw_G[l][0] + t[i * 3 + 1][r] * uw_G[l][1] +
						  t[i * 3 + 2][r] * uw_G[l][2];
}

LATHE_RT_UK_API void lathe_rt_uk_wino_pack(float *dst, const float *src, int64_t O, int64_t C,
					   int64_t R, int64_t so, int64_t sc, int64_t skh, int64_t skw)
{
	int64_t np = uw_ceil(O, R);
	double g[9][64], u[36][64];
	for (int64_t p = 0; p < np; p++)
		for (int64_t c = 0; c < C; c++) {
			/* rows past O: zero filters, zero transforms */
			for (int64_t r = 0; r < R; r++) {
				int64_t o = p * R + r;
				for (int k = 0; k < 9; k++)
					g[k][r] = o < O ? src[o * so + c * sc + (k / 3) * skh + (k % 3) * skw] : 0;
			}
			uw_filters((const double (*)[64])g, u, R);
			for (int xi = 0; xi < UW_XI; xi++)
				for (int64_t r = 0; r < R; r++)
					dst[((p * UW_XI + xi) * C + c) * R + r] = (float)u[xi][r];
		}
}
