/* ukernel_dw.c: depthwise 2-D convolution (lathe_rt_ukernel.h's dwconv):
 * one filter per channel, NCHW, any stride, dilation and padding, with
 * sgemm's epilogues.
 *
 * A depthwise convolution does two flops per input load, so loads, not
 * multiply-adds, bound it.  The paths, fastest first:
 *  - three columns of taps (KW 3, no dilation across), stride 1 or 2
 *    across (AVX-512; dw3s1, dw3s2): the image in place, output row by
 *    row; per row of taps the input columns under 16 outputs are loaded
 *    once and turned into the three taps in registers (shifts for stride
 *    1, even/odd splits for stride 2).  With three rows of taps one apart
 *    and the same stride down, output rows go by pairs (eight at a time
 *    on rows of one vector), each input row loaded once for all the
 *    output rows it feeds; edges by zero-masked loads.  No set-up per
 *    call, and one kernel call for all of a task's channels;
 *  - flat (AVX-512, stride 1 or 2, an output row as wide as an input
 *    row, i.e. 'same' padding): a channel is one run of outputs; tap t of
 *    output i reads input i + off[t] (of the image in place, or of its
 *    phase planes (h mod 2, w mod 2) for stride 2), and the lanes whose
 *    tap falls outside the image are masked (lane masks computed once per
 *    call);
 *  - padded planes (strides up to 2): the channel copied, zero-padded,
 *    into one plane per phase, every tap a contiguous run over the padded
 *    width, then the valid columns copied out;
 *  - rows (stride 1): the row kernel sums every tap for a vector of
 *    outputs, masked at the image's edges;
 *  - plain loops otherwise.
 * Every path sums each output's taps in (kh, kw) order; which one runs
 * depends on the shape and the CPU only, never on the thread count.
 * Channels are shared among the pool's threads; an epilogue whose
 * operands do not depend on the position is applied in registers, others
 * over a channel once it is done.
 *
 * Every region is checked against the pointers' avail counts first.
 * libc only.
 */
#include <string.h>

#include "lathe_rt_ukernel.h"

/* Floats of a channel's padded planes and sums (on the stack) and taps of
 * a filter: larger ones take the row-by-row or general paths. */
enum { DW_PLANE_MAX = 40960, DW_TAPS = 64 };
/* The flat path's lane masks (vectors of outputs x taps) and its columns'
 * masks (kernel columns x output columns). */
enum { DW_FLAT_MASKS = 16384, DW_FLAT_COLS = 4096 };

typedef struct dw_conv {
	int64_t C, H, W, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW, XSC, XSH, WSC, YSC;
	const float *X, *Wt;
	float *Y;
	lathe_rt_uk_epi ep;
	lathe_rt_uk_taps_fn taps;
	lathe_rt_uk_deint_fn deint;
	lathe_rt_uk_copy_fn copy;
	/* the flat path (dw_channel_plane): planes of Hq x Wq, pfloats of them
	 * with the slack that reads past the last one need */
	int plane;
	int64_t Hq, Wq, pfloats;
	int splat_ep; /* the epilogue's operands do not depend on the position */
	/* the masked flat path (dw_channel_flat): tap offsets, weights' order
	 * and lane masks; the input in place (stride 1) or split into phase
	 * planes of Hq x Wq */
	lathe_rt_uk_dwflat_fn flat;
	/* three columns of taps, stride 1 or 2 across, row by row in place */
	lathe_rt_uk_dw3s2_fn rows3;
	int64_t nband; /* bands of output rows (rows3): one per thread */
	int64_t hoff[DW_TAPS];
	int ntap, flat_copy;
	int64_t foff[DW_TAPS], ftap[DW_TAPS];
	const uint16_t *fmask;
} dw_conv;

/* Output columns [lo, hi) whose input column ow*SW + off lies in [0, W). */
static void dw_cols(const dw_conv *d, int64_t off, int64_t *lo, int64_t *hi)
{
	/* ow*SW + off >= 0  <=>  ow >= ceil(-off / SW) */
	int64_t l = off >= 0 ? 0 : (-off + d->SW - 1) / d->SW;
	/* ow*SW + off <= W - 1  <=>  ow <= floor((W - 1 - off) / SW) */
	int64_t h = d->W - 1 - off < 0 ? 0 : (d->W - 1 - off) / d->SW + 1;
	*lo = l;
	*hi = h < d->OW ? h : d->OW;
}

/* Any stride: tap by tap over the row, plain loops. */
static void dw_row_general(const dw_conv *d, const float *xc, const float *wc, float *y, int64_t oh)
{
	memset(y, 0, sizeof(float) * (size_t)d->OW);
	for (int64_t kh = 0; kh < d->KH; kh++) {
		int64_t h = oh * d->SH + kh * d->DH - d->PH;
		if (h < 0 || h >= d->H)
			continue;
		const float *xr = xc + h * d->XSH;
		for (int64_t kw = 0; kw < d->KW; kw++) {
			int64_t off = kw * d->DW - d->PW, lo, hi;
			dw_cols(d, off, &lo, &hi);
			float wt = wc[kh * d->KW + kw];
			for (int64_t ow = lo; ow < hi; ow++)
				y[ow] = y[ow] + wt * xr[ow * d->SW + off];
		}
	}
}

/* A channel, row by row (stride 1), every tap's columns read in place. */
static void dw_channel_rows(const dw_conv *d, int64_t c)
{
	const float *xc = d->X + c * d->XSC, *wc = d->Wt + c * d->WSC;
	float *yc = d->Y + c * d->YSC;
	const float *row[DW_TAPS];
	int64_t off[DW_TAPS], lo[DW_TAPS], hi[DW_TAPS];
	float wt[DW_TAPS];
	for (int64_t oh = 0; oh < d->OH; oh++) {
		float *y = yc + oh * d->OW;
		int nt = 0;
		for (int64_t kh = 0; kh < d->KH; kh++) {
			int64_t h = oh * d->SH + kh * d->DH - d->PH;
			if (h < 0 || h >= d->H)
				continue;
			for (int64_t kw = 0; kw < d->KW; kw++) {
				int64_t o = kw * d->DW - d->PW;
				dw_cols(d, o, &lo[nt], &hi[nt]);
				if (hi[nt] <= lo[nt])
					continue;
				wt[nt] = wc[kh * d->KW + kw];
				row[nt] = xc + h * d->XSH;
				off[nt++] = o;
			}
		}
		d->taps(y, d->OW, row, off, wt, lo, hi, nt, d->splat_ep ? &d->ep : NULL, c);
		if (d->ep.n && !d->splat_ep) /* while the row is in L1 */
			lathe_rt_uk_epi_rows(&d->ep, y, d->OW, 1, d->OW, c, oh * d->OW);
	}
}

/* A channel as one flat run.  The input is copied, zero-padded, into one
 * plane per phase (h mod SH, w mod SW) of rows Wq wide, so that tap
 * (kh, kw) of output (oh, ow) is element (kh*DH/SH + oh)*Wq + kw*DW/SW + ow
 * of its plane: over the padded width every tap is one contiguous run and
 * the whole channel one call of the row kernel, with no edge to mask.
 * The valid columns then go to Y, and the epilogue runs over the channel. */
static void dw_channel_plane(const dw_conv *d, int64_t c, float *buf)
{
	const float *xc = d->X + c * d->XSC, *wc = d->Wt + c * d->WSC;
	float *yc = d->Y + c * d->YSC;
	int64_t Hq = d->Hq, Wq = d->Wq, plane = Hq * Wq, np = d->OH * Wq;
	float *P = buf, *yp = buf + d->pfloats;
	int64_t nplanes = d->SH * d->SW;
	/* Plane rows no input row reaches are zeros; the others get their
	 * row's columns (split into even and odd ones for stride 2), zeros
	 * around them. */
	memset(P, 0, sizeof(float) * (size_t)d->pfloats);
	for (int64_t h = 0; h < d->H; h++) {
		int64_t r = h + d->PH, ph = r % d->SH, hq = r / d->SH;
		if (hq >= Hq)
			break;
		const float *xr = xc + h * d->XSH;
		float *pr = P + ph * d->SW * plane + hq * Wq;
		/* column w goes to plane (w + PW) % SW at (w + PW) / SW */
		int64_t first = d->PW, cnt = d->W;
		if (d->SW == 1) {
			int64_t lo = first < 0 ? -first : 0, n = cnt - lo;
			if (first + lo + n > Wq)
				n = Wq - first - lo;
			if (n > 0)
				memcpy(pr + first + lo, xr + lo, sizeof(float) * (size_t)n);
		} else {
			int64_t pe = d->PW & 1, qe = d->PW >> 1, qo = (d->PW + 1) >> 1;
			int64_t ne = (d->W + 1) / 2, no = d->W / 2;
			if (qe + ne <= Wq && qo + no <= Wq) {
				d->deint(pr + pe * plane + qe, pr + (1 - pe) * plane + qo, xr, d->W);
			} else { /* columns past the planes' width are never read */
				for (int64_t w = 0; w < d->W; w++) {
					int64_t q = (w + d->PW) / 2;
					if (q < Wq)
						pr[((w + d->PW) & 1) * plane + q] = xr[w];
				}
			}
		}
	}
	(void)nplanes;
	const float *row[DW_TAPS];
	int64_t off[DW_TAPS], lo[DW_TAPS], hi[DW_TAPS];
	float wt[DW_TAPS];
	int nt = 0;
	for (int64_t kh = 0; kh < d->KH; kh++)
		for (int64_t kw = 0; kw < d->KW; kw++, nt++) {
			int64_t dh = kh * d->DH, dw = kw * d->DW;
			row[nt] = P + ((dh % d->SH) * d->SW + dw % d->SW) * plane;
			off[nt] = (dh / d->SH) * Wq + dw / d->SW;
			lo[nt] = 0;
			hi[nt] = np;
			wt[nt] = wc[kh * d->KW + kw];
		}
	d->taps(yp, np, row, off, wt, lo, hi, nt, d->splat_ep ? &d->ep : NULL, c);
	for (int64_t oh = 0; oh < d->OH; oh++)
		memcpy(yc + oh * d->OW, yp + oh * Wq, sizeof(float) * (size_t)d->OW);
	if (d->ep.n && !d->splat_ep)
		lathe_rt_uk_epi_rows(&d->ep, yc, d->OH * d->OW, 1, d->OH * d->OW, c, 0);
}

/* A channel as one flat run without padding: when each output row is as
 * wide as a (phase plane's) input row, tap t of output i reads input
 * i + foff[t], and the lanes whose tap falls outside the image are masked
 * (fmask).  Stride 1 reads X in place; stride 2 first splits the channel
 * into its phase planes (h mod SH, w mod SW). */
static void dw_channel_flat(const dw_conv *d, int64_t c, float *buf)
{
	const float *xc = d->X + c * d->XSC, *wc = d->Wt + c * d->WSC;
	float *yc = d->Y + c * d->YSC;
	const float *src = xc;
	if (d->flat_copy) {
		int64_t plane = d->Hq * d->Wq;
		for (int64_t h = 0; h < d->H; h++) {
			const float *xr = xc + h * d->XSH;
			float *pr = buf + (h % d->SH) * d->SW * plane + (h / d->SH) * d->Wq;
			if (d->SW == 1)
				memcpy(pr, xr, sizeof(float) * (size_t)d->W);
			else
				d->deint(pr, pr + plane, xr, d->W);
		}
		src = buf;
	}
	float wt[DW_TAPS];
	for (int t = 0; t < d->ntap; t++)
		wt[t] = wc[d->ftap[t]];
	int64_t n = d->OH * d->OW;
	d->flat(yc, n, src, d->foff, wt, d->ntap, d->fmask, d->splat_ep ? &d->ep : NULL, c);
	if (d->ep.n && !d->splat_ep)
		lathe_rt_uk_epi_rows(&d->ep, yc, n, 1, n, c, 0);
}

static int64_t dw_floordiv(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Sets up the flat path if it applies: masks into mask, colm. */
static void dw_flat_setup(dw_conv *d, uint16_t *mask, uint16_t *colm)
{
	if (!d->flat || d->SH > 2 || d->SW > 2 || d->KH * d->KW > DW_TAPS || !d->KH || !d->KW)
		return;
	int64_t Hq = (d->H + d->SH - 1) / d->SH, Wq = (d->W + d->SW - 1) / d->SW;
	int64_t n = d->OH * d->OW, nb = (n + 15) / 16, ntap = d->KH * d->KW;
	if (d->OW != Wq || nb * ntap > DW_FLAT_MASKS || d->KW * d->OW > DW_FLAT_COLS)
		return;
	int copy = d->SH > 1 || d->SW > 1 || d->XSH != d->W;
	/* planes, and the deinterleaver's writes past their last column */
	if (copy && d->SH * d->SW * Hq * Wq + 32 > DW_PLANE_MAX)
		return;
	int64_t plane = copy ? Hq * Wq : 0, rs = copy ? Wq : d->XSH;
	/* Columns: for output column phase s (of the vector's first lane) and
	 * kernel column kw, the lanes whose input column is inside. */
	for (int64_t kw = 0; kw < d->KW; kw++) {
		int64_t cw = kw * d->DW - d->PW;
		for (int64_t s0 = 0; s0 < d->OW; s0++) {
			unsigned m = 0;
			for (int l = 0, ow = (int)s0; l < 16; l++) {
				int64_t w = ow * d->SW + cw;
				if (w >= 0 && w < d->W)
					m |= 1u << l;
				if (++ow == d->OW)
					ow = 0;
			}
			colm[kw * d->OW + s0] = (uint16_t)m;
		}
	}
	int t = 0;
	int64_t lo[DW_TAPS], hi[DW_TAPS];
	for (int64_t kh = 0; kh < d->KH; kh++) {
		int64_t ch = kh * d->DH - d->PH;
		/* rows oh with 0 <= oh*SH + ch < H */
		int64_t r0 = ch >= 0 ? 0 : (-ch + d->SH - 1) / d->SH;
		int64_t r1 = d->H - 1 - ch < 0 ? 0 : (d->H - 1 - ch) / d->SH + 1;
		if (r1 > d->OH)
			r1 = d->OH;
		for (int64_t kw = 0; kw < d->KW; kw++, t++) {
			int64_t cw = kw * d->DW - d->PW;
			int64_t p = (ch - dw_floordiv(ch, d->SH) * d->SH) * d->SW +
				    (cw - dw_floordiv(cw, d->SW) * d->SW);
			d->foff[t] = p * plane + dw_floordiv(ch, d->SH) * rs + dw_floordiv(cw, d->SW);
			d->ftap[t] = kh * d->KW + kw;
			lo[t] = r0 * d->OW;
			hi[t] = r1 > r0 ? r1 * d->OW : lo[t];
		}
	}
	for (int64_t b = 0, s0 = 0; b < nb; b++) {
		int64_t j = b * 16;
		for (t = 0; t < ntap; t++) {
			int64_t l = lo[t] - j, h = hi[t] - j;
			l = l < 0 ? 0 : l > 16 ? 16 : l;
			h = h < 0 ? 0 : h > 16 ? 16 : h;
			unsigned rm = h <= l ? 0 : (h >= 16 ? 0xFFFFu : (1u << h) - 1) & ~((1u << l) - 1);
			mask[b * ntap + t] = (uint16_t)(rm & colm[(t % d->KW) * d->OW + s0]);
		}
		s0 = (s0 + 16) % d->OW;
	}
	d->ntap = (int)ntap;
	d->flat_copy = copy;
	d->Hq = Hq;
	d->Wq = Wq;
	d->fmask = mask;
}

/* Channels [cb, ce) by a three-column row kernel, X read in place: one
 * call for them all. */
/* Output rows of band b (of nband) of channels [cb, ce): the row kernel
 * with its rows' taps moved down to the band's first row. */
static void dw_channels_rows3(const dw_conv *d, int64_t b, int64_t cb, int64_t ce)
{
	int64_t oh0 = b * d->OH / d->nband, oh1 = (b + 1) * d->OH / d->nband, hoff[DW_TAPS];
	if (oh1 <= oh0)
		return;
	for (int64_t kh = 0; kh < d->KH; kh++)
		hoff[kh] = d->hoff[kh] + oh0 * d->SH;
	int64_t y0 = oh0 * d->OW, n = (oh1 - oh0) * d->OW;
	d->rows3(d->Y + cb * d->YSC + y0, oh1 - oh0, d->OW, d->X + cb * d->XSC, d->H, d->W, d->XSH,
		 d->SH, hoff, (int)d->KH, -d->PW, d->Wt + cb * d->WSC,
		 d->splat_ep ? &d->ep : NULL, cb, ce - cb, d->XSC, d->WSC, d->YSC);
	for (int64_t c = cb; d->ep.n && !d->splat_ep && c < ce; c++)
		lathe_rt_uk_epi_rows(&d->ep, d->Y + c * d->YSC + y0, n, 1, n, c, y0);
}

static void dw_channel(const dw_conv *d, int64_t c, float *buf)
{
	if (d->fmask) {
		dw_channel_flat(d, c, buf);
	} else if (d->plane) {
		dw_channel_plane(d, c, buf);
	} else if (d->SW == 1 && d->KH * d->KW <= DW_TAPS) {
		dw_channel_rows(d, c);
	} else {
		float *yc = d->Y + c * d->YSC;
		for (int64_t oh = 0; oh < d->OH; oh++) {
			dw_row_general(d, d->X + c * d->XSC, d->Wt + c * d->WSC, yc + oh * d->OW, oh);
			if (d->ep.n)
				lathe_rt_uk_epi_rows(&d->ep, yc + oh * d->OW, d->OW, 1, d->OW, c, oh * d->OW);
		}
	}
}

/* Items [begin, end): channels, or with the row kernel (band, channel)
 * pairs band by band, so that the pool's contiguous runs give each
 * thread its band of rows in every channel (the rows the layers before
 * and after it give that thread too). */
static void dw_task(void *ctx, int64_t begin, int64_t end)
{
	const dw_conv *d = ctx;
	if (d->rows3) {
		for (int64_t i = begin; i < end;) {
			int64_t b = i / d->C, cb = i % d->C;
			int64_t ce = end - b * d->C < d->C ? end - b * d->C : d->C;
			dw_channels_rows3(d, b, cb, ce);
			i = b * d->C + ce;
		}
		return;
	}
	float buf[DW_PLANE_MAX];
	for (int64_t c = begin; c < end; c++)
		dw_channel(d, c, buf);
}

static int64_t dw_span3(int64_t e0, int64_t s0, int64_t e1, int64_t s1, int64_t e2, int64_t s2)
{
	if (e0 <= 0 || e1 <= 0 || e2 <= 0)
		return 0;
	return (e0 - 1) * s0 + (e1 - 1) * s1 + (e2 - 1) * s2 + 1;
}

LATHE_RT_UK_API int lathe_rt_uk_dwconv(const lathe_rt_uk_args *a)
{
	if (a->nip < LATHE_UK_D_FIXED || a->nptr < 3)
		return lathe_rt_uk_fail(a, "dwconv: %d integer parameters and %d pointers (%d and 3 needed)",
			       a->nip, a->nptr, LATHE_UK_D_FIXED);
	const int64_t *ip = a->ip;
	dw_conv d;
	memset(&d, 0, sizeof d);
	int64_t *f[] = {&d.C, &d.H, &d.W, &d.OH, &d.OW, &d.KH, &d.KW, &d.SH, &d.SW, &d.DH,
			&d.DW, &d.PH, &d.PW, &d.XSC, &d.XSH, &d.WSC, &d.YSC};
	const int64_t lim = (int64_t)1 << 24;
	for (int i = 0; i < LATHE_UK_D_NEPI; i++) {
		*f[i] = ip[i];
		if (ip[i] < 0 || ip[i] >= lim)
			return lathe_rt_uk_fail(a, "dwconv: parameter %d is %lld (0 to %lld)", i, (long long)ip[i],
				       (long long)lim - 1);
	}
	if (d.SH < 1 || d.SW < 1)
		return lathe_rt_uk_fail(a, "dwconv: strides must be at least 1");
	/* Strides are below 2^24 and sizes too: products fit in 64 bits. */
	int64_t nx = dw_span3(d.C, d.XSC, d.H, d.XSH, d.W, 1);
	int64_t nw = dw_span3(d.C, d.WSC, d.KH, d.KW, d.KW, 1);
	int64_t ny = dw_span3(d.C, d.YSC, d.OH, d.OW, d.OW, 1);
	if (d.C && d.OH && d.OW && d.KH && d.KW && d.H && d.W && nx > a->avail[0])
		return lathe_rt_uk_fail(a, "dwconv: X needs %lld elements, %lld available", (long long)nx,
			       (long long)a->avail[0]);
	if (d.C && d.KH && d.KW && nw > a->avail[1])
		return lathe_rt_uk_fail(a, "dwconv: W needs %lld elements, %lld available", (long long)nw,
			       (long long)a->avail[1]);
	if (ny > a->avail[2] || (d.C > 1 && d.YSC < d.OH * d.OW))
		return lathe_rt_uk_fail(a, "dwconv: Y needs %lld elements, %lld available", (long long)ny,
			       (long long)a->avail[2]);
	if (lathe_rt_uk_epi_parse(a, LATHE_UK_D_FIXED, ip[LATHE_UK_D_NEPI], 3, d.C, d.OH * d.OW,
				  &d.ep))
		return 1;
	if (!d.C || !d.OH || !d.OW)
		return 0;
	d.X = a->ptr[0];
	d.Wt = a->ptr[1];
	d.Y = a->ptr[2];
	if (!d.H || !d.W) { /* every tap is padding */
		d.KH = 0;
	}
	d.taps = lathe_rt_uk_taps_kernel();
	d.splat_ep = d.ep.n > 0 && d.ep.simple;
	for (int e = 0; e < d.ep.n; e++)
		if (d.ep.v[e] && d.ep.sn[e])
			d.splat_ep = 0;
	d.deint = lathe_rt_uk_deint_kernel();
	d.copy = lathe_rt_uk_copy_kernel();
	d.flat = lathe_rt_uk_dwflat_kernel();
	/* Sizes are below 2^24: the columns' offsets fit in int64_t. */
	if (d.KW == 3 && d.DW == 1 && d.SW <= 2 && d.KH && d.KH <= DW_TAPS &&
	    d.H && d.W) {
		d.rows3 = d.SW == 2 ? lathe_rt_uk_dw3s2_kernel() : lathe_rt_uk_dw3s1_kernel();
		for (int64_t kh = 0; kh < d.KH; kh++)
			d.hoff[kh] = kh * d.DH - d.PH;
		d.nband = lathe_rt_uk_bands(a->pool, d.OH);
	}
	/* The flat path's masks cost about a microsecond per thousand
	 * outputs: not computed when a row kernel takes the call. */
	uint16_t fmask[DW_FLAT_MASKS], colm[DW_FLAT_COLS];
	if (!d.rows3)
		dw_flat_setup(&d, fmask, colm);
	/* Sizes are below 2^24, so these products fit. */
	if (!d.fmask && d.SH <= 2 && d.SW <= 2 && d.KH * d.KW <= DW_TAPS && d.KH && d.KW) {
		d.Hq = d.OH + (d.KH - 1) * d.DH / d.SH;
		d.Wq = d.OW + (d.KW - 1) * d.DW / d.SW;
		int64_t maxoff = ((d.KH - 1) * d.DH / d.SH) * d.Wq + (d.KW - 1) * d.DW / d.SW;
		d.pfloats = d.SH * d.SW * d.Hq * d.Wq + maxoff + 32;
		int64_t need = d.pfloats + d.OH * d.Wq + 16;
		d.plane = d.Hq < lim && d.Wq < lim && d.PW >= 0 && need <= DW_PLANE_MAX;
	}
	lathe_rt_uk_pfor(a->pool, d.rows3 ? d.nband * d.C : d.C, dw_task, &d);
	return 0;
}
