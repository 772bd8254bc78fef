/* ukernel_pool.c: 2-D max pooling (lathe_rt_ukernel.h's maxpool): NCHW, any
 * window, stride, dilation and padding, with sgemm's epilogues.
 *
 * Pooling reads each input about KH*KW/(SH*SW) times and computes nothing
 * else, so the loads decide its speed: the plane kernel (ukernel_plane.c)
 * keeps a vector of outputs in a register over the whole window, reading
 * a tap's columns with one load (two and a shuffle for stride 2), masked
 * at the image's edges, instead of a scalar loop per output with its
 * bounds tests; for 3x3 windows of stride 2 each input row's three taps
 * are folded once and the fold shared by the two output rows it serves
 * (the max is associative, so the bits stay those of the window order).
 * Where the CPU has no plane kernel, or the stride is
 * neither 1 nor 2, plain loops do the same.  Padding positions are
 * skipped, as the loop IR's max with -inf leaves the value; the window's
 * taps are taken in (kh, kw) order, so a NaN or a signed zero comes out
 * as the loop nest it replaces would have it.  Channels are shared among
 * the pool's threads; the epilogue runs over a channel once it is done.
 *
 * Every region is checked against the pointers' avail counts first.
 * libc only.
 */
#include <math.h>
#include <string.h>

#include "lathe_rt_ukernel.h"

enum { MP_ROWS = 64, MP_COLS = 64 }; /* window sides the plane kernel takes */

typedef struct mp_pool {
	int64_t C, H, W, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW, XSC, XSH, YSC;
	const float *X;
	float *Y;
	lathe_rt_uk_epi ep;
	lathe_rt_uk_maxplane_fn plane;
	int64_t nband; /* bands of output rows: one per thread, or one */
} mp_pool;

static void mp_row_plain(const mp_pool *p, const float *xc, float *y, int64_t oh)
{
	for (int64_t ow = 0; ow < p->OW; ow++) {
		float m = -INFINITY;
		for (int64_t kh = 0; kh < p->KH; kh++) {
			int64_t h = oh * p->SH + kh * p->DH - p->PH;
			if (h < 0 || h >= p->H)
				continue;
			for (int64_t kw = 0; kw < p->KW; kw++) {
				int64_t w = ow * p->SW + kw * p->DW - p->PW;
				if (w >= 0 && w < p->W)
					m = lathe_rt_uk_maxf(m, xc[h * p->XSH + w]);
			}
		}
		y[ow] = m;
	}
}

/* Output rows of band b (of nband) of channel c. */
static void mp_band(const mp_pool *p, int64_t b, int64_t c)
{
	int64_t oh0 = b * p->OH / p->nband, oh1 = (b + 1) * p->OH / p->nband;
	const float *xc = p->X + c * p->XSC;
	float *yc = p->Y + c * p->YSC + oh0 * p->OW;
	if (oh1 <= oh0)
		return;
	if (p->plane && (p->SW == 1 || p->SW == 2) && p->KH <= MP_ROWS && p->KW <= MP_COLS) {
		/* the window's rows moved down to the band's first row */
		int64_t hoff[MP_ROWS], off[MP_COLS];
		for (int64_t kh = 0; kh < p->KH; kh++)
			hoff[kh] = kh * p->DH - p->PH + oh0 * p->SH;
		for (int64_t kw = 0; kw < p->KW; kw++)
			off[kw] = kw * p->DW - p->PW;
		p->plane(yc, oh1 - oh0, p->OW, xc, p->H, p->W, p->XSH, p->SH, hoff, (int)p->KH, p->SW,
			 off, (int)p->KW);
	} else {
		for (int64_t oh = oh0; oh < oh1; oh++)
			mp_row_plain(p, xc, yc + (oh - oh0) * p->OW, oh);
	}
	if (p->ep.n)
		lathe_rt_uk_epi_rows(&p->ep, yc, (oh1 - oh0) * p->OW, 1, (oh1 - oh0) * p->OW, c,
				     oh0 * p->OW);
}

/* Items [begin, end): (band, channel) pairs band by band, so that the
 * pool's contiguous runs give each thread its band of rows in every
 * channel (as dwconv does). */
static void mp_task(void *ctx, int64_t begin, int64_t end)
{
	const mp_pool *p = ctx;
	for (int64_t i = begin; i < end; i++)
		mp_band(p, i / p->C, i % p->C);
}

static int64_t mp_span3(int64_t e0, int64_t s0, int64_t e1, int64_t s1, int64_t e2, int64_t s2)
{
	if (e0 <= 0 || e1 <= 0 || e2 <= 0)
		return 0;
	return (e0 - 1) * s0 + (e1 - 1) * s1 + (e2 - 1) * s2 + 1;
}

LATHE_RT_UK_API int lathe_rt_uk_maxpool(const lathe_rt_uk_args *a)
{
	if (a->nip < LATHE_UK_D_FIXED || a->nptr < 2)
		return lathe_rt_uk_fail(a, "maxpool: %d integer parameters and %d pointers (%d and 2 needed)",
			       a->nip, a->nptr, LATHE_UK_D_FIXED);
	const int64_t *ip = a->ip;
	mp_pool p;
	memset(&p, 0, sizeof p);
	int64_t wsc = 0;
	int64_t *f[] = {&p.C, &p.H, &p.W, &p.OH, &p.OW, &p.KH, &p.KW, &p.SH, &p.SW, &p.DH,
			&p.DW, &p.PH, &p.PW, &p.XSC, &p.XSH, &wsc, &p.YSC};
	const int64_t lim = (int64_t)1 << 24;
	for (int i = 0; i < LATHE_UK_D_NEPI; i++) {
		*f[i] = ip[i];
		if (ip[i] < 0 || ip[i] >= lim)
			return lathe_rt_uk_fail(a, "maxpool: parameter %d is %lld (0 to %lld)", i,
				       (long long)ip[i], (long long)lim - 1);
	}
	if (p.SH < 1 || p.SW < 1)
		return lathe_rt_uk_fail(a, "maxpool: strides must be at least 1");
	/* Strides are below 2^24 and sizes too: products fit in 64 bits. */
	int64_t nx = mp_span3(p.C, p.XSC, p.H, p.XSH, p.W, 1);
	int64_t ny = mp_span3(p.C, p.YSC, p.OH, p.OW, p.OW, 1);
	if (p.C && p.OH && p.OW && p.KH && p.KW && p.H && p.W && nx > a->avail[0])
		return lathe_rt_uk_fail(a, "maxpool: X needs %lld elements, %lld available", (long long)nx,
			       (long long)a->avail[0]);
	if (ny > a->avail[1] || (p.C > 1 && p.YSC < p.OH * p.OW))
		return lathe_rt_uk_fail(a, "maxpool: Y needs %lld elements, %lld available", (long long)ny,
			       (long long)a->avail[1]);
	if (lathe_rt_uk_epi_parse(a, LATHE_UK_D_FIXED, ip[LATHE_UK_D_NEPI], 2, p.C, p.OH * p.OW,
				  &p.ep))
		return 1;
	if (!p.C || !p.OH || !p.OW)
		return 0;
	p.X = a->ptr[0];
	p.Y = a->ptr[1];
	if (!p.H || !p.W) /* every tap is padding */
		p.KH = 0;
	p.plane = lathe_rt_uk_maxplane_kernel();
	p.nband = lathe_rt_uk_bands(a->pool, p.OH);
	lathe_rt_uk_pfor(a->pool, p.nband * p.C, mp_task, &p);
	return 0;
}
