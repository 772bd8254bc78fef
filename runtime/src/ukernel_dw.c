/* ukernel_dw.c: depthwise 2-D convolution (lathe_rt_ukernel.h's dwconv):
 * one filter per channel, NCHW, any stride, dilation and padding, with
 * sgemm's epilogues.
 *
 * A depthwise convolution does two flops per input load, so memory, not
 * multiply-adds, bounds it: the kernel works an output row at a time, in
 * place in Y (a row stays in L1), adding each filter tap's contribution in
 * one pass over the row.  A tap's pass covers only the output columns
 * whose input column lies inside the image, so no bound is tested per
 * element; with stride 1 the pass is a contiguous multiply-add the
 * compiler vectorizes, with stride 2 the input row is first split into its
 * even and odd columns, which makes it contiguous again.  Channels are
 * shared among the pool's threads.  Each output's sum runs over the taps
 * in (kh, kw) order, skipping taps that fall in the padding.
 *
 * Every region is checked against the pointers' avail counts first.
 * libc only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lathe_rt_ukernel.h"

/* Input columns a stride-2 row split can hold (wider rows take the
 * general path). */
enum { DW_SPLIT_MAX = 4096 };

static int dw_fail(const lathe_rt_uk_args *a, const char *fmt, ...)
{
	if (a->err && a->err_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(a->err, a->err_size, fmt, ap);
		va_end(ap);
	}
	return 1;
}

typedef struct dw_conv {
	int64_t C, H, W, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW, XSC, XSH, WSC, YSC;
	const float *X, *Wt;
	float *Y;
	lathe_rt_uk_epi ep;
} dw_conv;

/* y[j] += w * x[j] for j < n. */
static void dw_axpy(float *restrict y, const float *restrict x, float w, int64_t n)
{
	for (int64_t j = 0; j < n; j++)
		y[j] = y[j] + w * x[j];
}

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

static void dw_channel(const dw_conv *d, int64_t c, float *split)
{
	const float *xc = d->X + c * d->XSC, *wc = d->Wt + c * d->WSC;
	float *yc = d->Y + c * d->YSC;
	int64_t half = (d->W + 1) / 2;
	for (int64_t oh = 0; oh < d->OH; oh++) {
		float *y = yc + oh * d->OW;
		memset(y, 0, sizeof(float) * (size_t)d->OW);
		for (int64_t kh = 0; kh < d->KH; kh++) {
			int64_t h = oh * d->SH + kh * d->DH - d->PH;
			if (h < 0 || h >= d->H)
				continue;
			const float *xr = xc + h * d->XSH;
			if (split) { /* even columns, then odd ones */
				for (int64_t w = 0; w < d->W; w++)
					split[(w & 1) * half + w / 2] = xr[w];
			}
			for (int64_t kw = 0; kw < d->KW; kw++) {
				int64_t off = kw * d->DW - d->PW, lo, hi;
				dw_cols(d, off, &lo, &hi);
				if (hi <= lo)
					continue;
				float wt = wc[kh * d->KW + kw];
				if (d->SW == 1) {
					dw_axpy(y + lo, xr + lo + off, wt, hi - lo);
				} else if (split) {
					/* column 2*ow + off lies in half (off & 1) at ow + off/2 */
					int64_t par = off & 1, base = (off - par) / 2;
					dw_axpy(y + lo, split + par * half + lo + base, wt, hi - lo);
				} else {
					for (int64_t ow = lo; ow < hi; ow++)
						y[ow] = y[ow] + wt * xr[ow * d->SW + off];
				}
			}
		}
		if (d->ep.n)
			lathe_rt_uk_epi_rows(&d->ep, y, d->OW, 1, d->OW, c, oh * d->OW);
	}
}

static void dw_task(void *ctx, int64_t begin, int64_t end)
{
	const dw_conv *d = ctx;
	float split[DW_SPLIT_MAX];
	int use = d->SW == 2 && d->W <= DW_SPLIT_MAX;
	for (int64_t c = begin; c < end; c++)
		dw_channel(d, c, use ? split : NULL);
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
		return dw_fail(a, "dwconv: %d integer parameters and %d pointers (%d and 3 needed)",
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
			return dw_fail(a, "dwconv: parameter %d is %lld (0 to %lld)", i, (long long)ip[i],
				       (long long)lim - 1);
	}
	if (d.SH < 1 || d.SW < 1)
		return dw_fail(a, "dwconv: strides must be at least 1");
	/* Strides are below 2^24 and sizes too: products fit in 64 bits. */
	int64_t nx = dw_span3(d.C, d.XSC, d.H, d.XSH, d.W, 1);
	int64_t nw = dw_span3(d.C, d.WSC, d.KH, d.KW, d.KW, 1);
	int64_t ny = dw_span3(d.C, d.YSC, d.OH, d.OW, d.OW, 1);
	if (d.C && d.OH && d.OW && d.KH && d.KW && d.H && d.W && nx > a->avail[0])
		return dw_fail(a, "dwconv: X needs %lld elements, %lld available", (long long)nx,
			       (long long)a->avail[0]);
	if (d.C && d.KH && d.KW && nw > a->avail[1])
		return dw_fail(a, "dwconv: W needs %lld elements, %lld available", (long long)nw,
			       (long long)a->avail[1]);
	if (ny > a->avail[2] || (d.C > 1 && d.YSC < d.OH * d.OW))
		return dw_fail(a, "dwconv: Y needs %lld elements, %lld available", (long long)ny,
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
	lathe_rt_uk_pfor(a->pool, d.C, dw_task, &d);
	return 0;
}
