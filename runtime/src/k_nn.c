/* k_nn.c: extern kernels of the nn and linalg families (DeformConv,
 * RoiAlign, MaxRoiPool, Det); their parameters are documented in
 * lathe_rt_k_nn.h.
 *
 * These are the ops whose loops depend on the data: sampling positions come
 * from an input (DeformConv, RoiAlign), window sizes from per-ROI boxes
 * (RoiAlign's adaptive sampling, MaxRoiPool), pivots from comparisons (Det).
 * Everything is computed in double and stored with Cast's rounding.  Shapes
 * are checked before any access; data-given indices (batch indices) are
 * checked before use.  libc only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lathe_rt_k_nn.h"

#define FAIL(call, code, ...)                                                 \
	do {                                                                  \
		snprintf((call)->err, sizeof (call)->err, __VA_ARGS__);       \
		return (code);                                                \
	} while (0)

static int is_float(int32_t dt)
{
	return dt == LATHE_DT_F32 || dt == LATHE_DT_F64 || dt == LATHE_DT_F16 ||
	       dt == LATHE_DT_BF16;
}

static int present(const lathe_rt_call *call, int i)
{
	return i < call->nin && call->in[i].dtype != LATHE_DT_UNDEF &&
	       (call->in[i].data != NULL || lathe_rt_numel(&call->in[i]) == 0);
}

/* ---- DeformConv --------------------------------------------------------------- */

/* Multilinear sample of one channel plane at real position p (zero outside),
 * align_corners semantics: integer positions are pixel centres. */
static double sample(const lathe_tensor *x, int64_t base, int n, const int64_t *size,
		     const double *p)
{
	int64_t lo[8];
	double fr[8];
	for (int i = 0; i < n; i++) {
		double f = floor(p[i]);
		if (!(f >= -2.0 && f <= (double)size[i] + 1.0))
			return 0.0; /* no corner inside (or NaN) */
		lo[i] = (int64_t)f;
		fr[i] = p[i] - f;
	}
	double acc = 0.0;
	for (int corner = 0; corner < (1 << n); corner++) {
		double w = 1.0;
		int64_t off = 0;
		int inside = 1;
		for (int i = 0; i < n; i++) {
			int hi = corner >> i & 1;
			int64_t q = lo[i] + hi;
			if (q < 0 || q >= size[i]) {
				inside = 0;
				break;
			}
			w *= hi ? fr[i] : 1.0 - fr[i];
			off = off * size[i] + q;
		}
		if (inside && w != 0.0)
			acc += w * lathe_rt_load_f64(x, base + off);
	}
	return acc;
}

int lathe_rt_k_deform_conv(lathe_rt_call *call)
{
	if (call->nin < 3 || call->nout < 1 || call->nip < 3)
		FAIL(call, LATHE_RT_EINVAL, "DeformConv: needs X, W, offset and its parameters");
	const lathe_tensor *x = &call->in[0], *w = &call->in[1], *off = &call->in[2];
	const lathe_tensor *b = present(call, 3) ? &call->in[3] : NULL;
	const lathe_tensor *mask = present(call, 4) ? &call->in[4] : NULL;
	int64_t group = call->ip[0], og = call->ip[1], n64 = call->ip[2];
	if (n64 < 1 || n64 > 8 || call->nip != 3 + 4 * n64)
		FAIL(call, LATHE_RT_EUNSUPPORTED, "DeformConv: 1 to 8 spatial dims are supported");
	int n = (int)n64;
	const int64_t *st = call->ip + 3, *dil = st + n, *pad = dil + n, *osz = pad + n;
	if (!is_float(x->dtype))
		FAIL(call, LATHE_RT_EUNSUPPORTED, "DeformConv: element type %s is not supported",
		     lathe_rt_dtype_name(x->dtype));
	if (x->rank != n + 2 || w->rank != n + 2 || off->rank != n + 2)
		FAIL(call, LATHE_RT_EINVAL, "DeformConv: X, W and offset must have rank %d", n + 2);
	int64_t N = x->shape[0], C = x->shape[1], M = w->shape[0], K = 1;
	for (int i = 0; i < n; i++)
		K *= w->shape[i + 2];
	if (group <= 0 || og <= 0 || group > C || og > C || C % group || M % group ||
	    C / group != w->shape[1] || C % og)
		FAIL(call, LATHE_RT_EINVAL,
		     "DeformConv: channels (X %lld, W %lld x %lld) do not fit group %lld and "
		     "offset_group %lld",
		     (long long)C, (long long)M, (long long)w->shape[1], (long long)group,
		     (long long)og);
	if (off->shape[0] != N || off->shape[1] != og * K * n) /* og <= C, K*n <= numel(W)*8 */
		FAIL(call, LATHE_RT_EINVAL, "DeformConv: offset must have shape [%lld, %lld, ...]",
		     (long long)N, (long long)(og * K * n));
	int64_t P = 1;
	for (int i = 0; i < n; i++) {
		if (off->shape[i + 2] != osz[i])
			FAIL(call, LATHE_RT_EINVAL,
			     "DeformConv: offset's spatial dim %d is %lld, the output's is %lld", i,
			     (long long)off->shape[i + 2], (long long)osz[i]);
		P *= osz[i];
	}
	if (b && (b->rank != 1 || b->shape[0] != M))
		FAIL(call, LATHE_RT_EINVAL, "DeformConv: B must have shape [%lld]", (long long)M);
	if (mask) {
		int ok = mask->rank == n + 2 && mask->shape[0] == N && mask->shape[1] == og * K;
		for (int i = 0; ok && i < n; i++)
			ok = mask->shape[i + 2] == osz[i];
		if (!ok)
			FAIL(call, LATHE_RT_EINVAL, "DeformConv: mask must have shape [%lld, %lld, out...]",
			     (long long)N, (long long)(og * K));
	}
	int64_t yshape[10];
	yshape[0] = N;
	yshape[1] = M;
	for (int i = 0; i < n; i++)
		yshape[i + 2] = osz[i];
	int rc = call->alloc(call, 0, x->dtype, n + 2, yshape);
	if (rc)
		return rc;
	lathe_tensor *y = &call->out[0];
	int64_t S = 1;
	for (int i = 0; i < n; i++)
		S *= x->shape[i + 2];
	int64_t Cg = C / group, Mg = M / group, Cog = C / og;
	double pos[8];
	int64_t o[8], k[8];
	for (int64_t bn = 0; bn < N; bn++)
		for (int64_t m = 0; m < M; m++)
			for (int64_t pi = 0; pi < P; pi++) {
				int64_t t = pi;
				for (int i = n - 1; i >= 0; i--) {
					o[i] = t % osz[i];
					t /= osz[i];
				}
				double acc = b ? lathe_rt_load_f64(b, m) : 0.0;
				int64_t g = m / Mg;
				for (int64_t ci = 0; ci < Cg; ci++) {
					int64_t cin = g * Cg + ci, gof = cin / Cog;
					for (int64_t kf = 0; kf < K; kf++) {
						int64_t u = kf;
						for (int i = n - 1; i >= 0; i--) {
							k[i] = u % w->shape[i + 2];
							u /= w->shape[i + 2];
						}
						for (int i = 0; i < n; i++) {
							int64_t ch = (gof * K + kf) * n + i;
							pos[i] = (double)(o[i] * st[i] - pad[i] + k[i] * dil[i]) +
								 lathe_rt_load_f64(off, (bn * off->shape[1] + ch) * P + pi);
						}
						double mv = mask ? lathe_rt_load_f64(
									   mask, (bn * og * K + gof * K + kf) * P + pi)
								 : 1.0;
						if (mv == 0.0)
							continue;
						double wv = lathe_rt_load_f64(w, (m * Cg + ci) * K + kf);
						acc += wv * mv *
						       sample(x, (bn * C + cin) * S, n, x->shape + 2, pos);
					}
				}
				lathe_rt_store_f64(y, (bn * M + m) * P + pi, acc);
			}
	return LATHE_RT_OK;
}

/* ---- RoiAlign ------------------------------------------------------------------ */

enum { MAX_SAMPLES = 1 << 24 }; /* samples per RoiAlign bin */

/* Bilinear weights and offsets of one sample, as the ONNX reference computes
 * them (samples past the border by more than one pixel count as zero). */
static void roi_bilinear(double y, double x, int64_t H, int64_t W, int64_t pos[4],
			 double wt[4])
{
	if (!(y >= -1.0 && y <= (double)H && x >= -1.0 && x <= (double)W)) {
		for (int i = 0; i < 4; i++) {
			pos[i] = 0;
			wt[i] = 0.0;
		}
		return;
	}
	if (y < 0)
		y = 0;
	if (x < 0)
		x = 0;
	int64_t yl = (int64_t)y, xl = (int64_t)x, yh, xh;
	if (yl >= H - 1) {
		yh = yl = H - 1;
		y = (double)yl;
	} else {
		yh = yl + 1;
	}
	if (xl >= W - 1) {
		xh = xl = W - 1;
		x = (double)xl;
	} else {
		xh = xl + 1;
	}
	double ly = y - (double)yl, lx = x - (double)xl, hy = 1.0 - ly, hx = 1.0 - lx;
	pos[0] = yl * W + xl;
	pos[1] = yl * W + xh;
	pos[2] = yh * W + xl;
	pos[3] = yh * W + xh;
	wt[0] = hy * hx;
	wt[1] = hy * lx;
	wt[2] = ly * hx;
	wt[3] = ly * lx;
}

int lathe_rt_k_roi_align(lathe_rt_call *call)
{
	if (call->nin < 3 || call->nout < 1 || call->nip < 5 || call->nfp < 1)
		FAIL(call, LATHE_RT_EINVAL, "RoiAlign: needs X, rois, batch_indices and parameters");
	const lathe_tensor *x = &call->in[0], *rois = &call->in[1], *bi = &call->in[2];
	int64_t oh = call->ip[0], ow = call->ip[1], sr = call->ip[2];
	int max_mode = call->ip[3] == 1, half = call->ip[4] == 1;
	double scale = call->fp[0];
	if (!is_float(x->dtype))
		FAIL(call, LATHE_RT_EUNSUPPORTED, "RoiAlign: element type %s is not supported",
		     lathe_rt_dtype_name(x->dtype));
	if (x->rank != 4 || rois->rank != 2 || rois->shape[1] != 4 || bi->rank != 1 ||
	    bi->shape[0] != rois->shape[0])
		FAIL(call, LATHE_RT_EINVAL,
		     "RoiAlign: X must be [N,C,H,W], rois [R,4] and batch_indices [R]");
	if (oh <= 0 || ow <= 0 || sr < 0)
		FAIL(call, LATHE_RT_EINVAL, "RoiAlign: bad output size or sampling_ratio");
	int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
	int64_t R = rois->shape[0];
	int64_t yshape[4] = {R, C, oh, ow};
	int rc = call->alloc(call, 0, x->dtype, 4, yshape);
	if (rc)
		return rc;
	lathe_tensor *y = &call->out[0];
	for (int64_t r = 0; r < R; r++) {
		int64_t bn = lathe_rt_load_i64(bi, r);
		if (bn < 0 || bn >= N)
			FAIL(call, LATHE_RT_EINVAL, "RoiAlign: batch index %lld of roi %lld is outside [0, %lld)",
			     (long long)bn, (long long)r, (long long)N);
		double off = half ? 0.5 : 0.0;
		double x0 = lathe_rt_load_f64(rois, r * 4 + 0) * scale - off;
		double y0 = lathe_rt_load_f64(rois, r * 4 + 1) * scale - off;
		double x1 = lathe_rt_load_f64(rois, r * 4 + 2) * scale - off;
		double y1 = lathe_rt_load_f64(rois, r * 4 + 3) * scale - off;
		double rw = x1 - x0, rh = y1 - y0;
		if (!half) {
			rw = rw > 1.0 ? rw : 1.0;
			rh = rh > 1.0 ? rh : 1.0;
		}
		double bh = rh / (double)oh, bw = rw / (double)ow;
		/* Adaptive sampling takes ceil(bin size) samples per bin; a
		 * degenerate (negative) roi takes none, a NaN or huge one is
		 * refused rather than looped over. */
		double ghd = sr > 0 ? (double)sr : ceil(rh / (double)oh);
		double gwd = sr > 0 ? (double)sr : ceil(rw / (double)ow);
		if (!(ghd <= MAX_SAMPLES && gwd <= MAX_SAMPLES && ghd * gwd <= MAX_SAMPLES))
			FAIL(call, LATHE_RT_EINVAL,
			     "RoiAlign: roi %lld needs too many samples per bin (%g x %g)", (long long)r,
			     ghd, gwd);
		int64_t gh = ghd > 0 ? (int64_t)ghd : 0, gw = gwd > 0 ? (int64_t)gwd : 0;
		double count = (double)(gh * gw > 1 ? gh * gw : 1);
		for (int64_t c = 0; c < C; c++) {
			int64_t base = (bn * C + c) * H * W;
			for (int64_t ph = 0; ph < oh; ph++)
				for (int64_t pw = 0; pw < ow; pw++) {
					double acc = 0.0;
					int first = 1;
					for (int64_t iy = 0; iy < gh; iy++) {
						double yy = y0 + (double)ph * bh +
							    ((double)iy + 0.5) * bh / (double)gh;
						for (int64_t ix = 0; ix < gw; ix++) {
							double xx = x0 + (double)pw * bw +
								    ((double)ix + 0.5) * bw / (double)gw;
							int64_t pos[4];
							double wt[4];
							roi_bilinear(yy, xx, H, W, pos, wt);
							if (H == 0 || W == 0)
								continue;
							double v[4];
							for (int q = 0; q < 4; q++)
								v[q] = wt[q] * lathe_rt_load_f64(x, base + pos[q]);
							if (max_mode) {
								double mv = v[0];
								for (int q = 1; q < 4; q++)
									mv = v[q] > mv ? v[q] : mv;
								acc = first || mv > acc ? mv : acc;
								first = 0;
							} else {
								acc += v[0] + v[1] + v[2] + v[3];
							}
						}
					}
					if (!max_mode)
						acc /= count;
					lathe_rt_store_f64(y, ((r * C + c) * oh + ph) * ow + pw, acc);
				}
		}
	}
	return LATHE_RT_OK;
}

/* ---- MaxRoiPool ---------------------------------------------------------------- */

int lathe_rt_k_max_roi_pool(lathe_rt_call *call)
{
	if (call->nin < 2 || call->nout < 1 || call->nip < 2 || call->nfp < 1)
		FAIL(call, LATHE_RT_EINVAL, "MaxRoiPool: needs X, rois and parameters");
	const lathe_tensor *x = &call->in[0], *rois = &call->in[1];
	int64_t ph_n = call->ip[0], pw_n = call->ip[1];
	double scale = call->fp[0];
	if (!is_float(x->dtype))
		FAIL(call, LATHE_RT_EUNSUPPORTED, "MaxRoiPool: element type %s is not supported",
		     lathe_rt_dtype_name(x->dtype));
	if (x->rank != 4 || rois->rank != 2 || rois->shape[1] != 5)
		FAIL(call, LATHE_RT_EINVAL, "MaxRoiPool: X must be [N,C,H,W] and rois [R,5]");
	if (ph_n <= 0 || pw_n <= 0)
		FAIL(call, LATHE_RT_EINVAL, "MaxRoiPool: pooled_shape must be positive");
	int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
	int64_t R = rois->shape[0];
	int64_t yshape[4] = {R, C, ph_n, pw_n};
	int rc = call->alloc(call, 0, x->dtype, 4, yshape);
	if (rc)
		return rc;
	lathe_tensor *y = &call->out[0];
	for (int64_t r = 0; r < R; r++) {
		double bd = lathe_rt_load_f64(rois, r * 5);
		if (!(bd >= 0 && bd < (double)N))
			FAIL(call, LATHE_RT_EINVAL, "MaxRoiPool: roi %lld names batch %g outside [0, %lld)",
			     (long long)r, bd, (long long)N);
		int64_t bn = (int64_t)bd;
		int64_t box[4];
		for (int q = 0; q < 4; q++) {
			double v = round(lathe_rt_load_f64(rois, r * 5 + 1 + q) * scale);
			if (!(v > -1e15 && v < 1e15))
				FAIL(call, LATHE_RT_EINVAL, "MaxRoiPool: roi %lld has a coordinate out of range",
				     (long long)r);
			box[q] = (int64_t)v;
		}
		int64_t sw = box[0], sh = box[1], ew = box[2], eh = box[3];
		int64_t rw = ew - sw + 1 > 1 ? ew - sw + 1 : 1;
		int64_t rh = eh - sh + 1 > 1 ? eh - sh + 1 : 1;
		double bh = (double)rh / (double)ph_n, bw = (double)rw / (double)pw_n;
		for (int64_t c = 0; c < C; c++) {
			int64_t base = (bn * C + c) * H * W;
			for (int64_t ph = 0; ph < ph_n; ph++) {
				int64_t hs = (int64_t)floor((double)ph * bh) + sh;
				int64_t he = (int64_t)ceil((double)(ph + 1) * bh) + sh;
				hs = hs < 0 ? 0 : hs > H ? H : hs;
				he = he < 0 ? 0 : he > H ? H : he;
				for (int64_t pw = 0; pw < pw_n; pw++) {
					int64_t ws = (int64_t)floor((double)pw * bw) + sw;
					int64_t we = (int64_t)ceil((double)(pw + 1) * bw) + sw;
					ws = ws < 0 ? 0 : ws > W ? W : ws;
					we = we < 0 ? 0 : we > W ? W : we;
					double m = 0.0;
					int any = 0;
					for (int64_t h = hs; h < he; h++)
						for (int64_t w = ws; w < we; w++) {
							double v = lathe_rt_load_f64(x, base + h * W + w);
							if (!any || v > m)
								m = v;
							any = 1;
						}
					lathe_rt_store_f64(y, ((r * C + c) * ph_n + ph) * pw_n + pw, m);
				}
			}
		}
	}
	return LATHE_RT_OK;
}

/* ---- Det ----------------------------------------------------------------------- */

int lathe_rt_k_det(lathe_rt_call *call)
{
	if (call->nin < 1 || call->nout < 1)
		FAIL(call, LATHE_RT_EINVAL, "Det: needs X");
	const lathe_tensor *x = &call->in[0];
	if (!is_float(x->dtype))
		FAIL(call, LATHE_RT_EUNSUPPORTED, "Det: element type %s is not supported",
		     lathe_rt_dtype_name(x->dtype));
	if (x->rank < 2 || x->shape[x->rank - 1] != x->shape[x->rank - 2])
		FAIL(call, LATHE_RT_EINVAL, "Det: X must be [..., n, n]");
	int64_t n = x->shape[x->rank - 1];
	if (n > 1 << 14)
		FAIL(call, LATHE_RT_EINVAL, "Det: matrices of order %lld are too large", (long long)n);
	int rc = call->alloc(call, 0, x->dtype, x->rank - 2, x->shape);
	if (rc)
		return rc;
	lathe_tensor *y = &call->out[0];
	int64_t batch = lathe_rt_numel(y);
	double *a = malloc(sizeof(double) * (size_t)(n * n > 0 ? n * n : 1));
	if (!a)
		FAIL(call, LATHE_RT_ENOMEM, "Det: out of memory");
	for (int64_t bi = 0; bi < batch; bi++) {
		for (int64_t i = 0; i < n * n; i++)
			a[i] = lathe_rt_load_f64(x, bi * n * n + i);
		double det = 1.0;
		for (int64_t k = 0; k < n; k++) {
			int64_t p = k;
			for (int64_t i = k + 1; i < n; i++)
				if (fabs(a[i * n + k]) > fabs(a[p * n + k]))
					p = i;
			if (a[p * n + k] == 0.0) {
				det = 0.0;
				break;
			}
			if (p != k) {
				for (int64_t j = 0; j < n; j++) {
					double t = a[k * n + j];
					a[k * n + j] = a[p * n + j];
					a[p * n + j] = t;
				}
				det = -det;
			}
			double piv = a[k * n + k];
			det *= piv;
			for (int64_t i = k + 1; i < n; i++) {
				double f = a[i * n + k] / piv;
				for (int64_t j = k + 1; j < n; j++)
					a[i * n + j] -= f * a[k * n + j];
			}
		}
		lathe_rt_store_f64(y, bi, det);
	}
	free(a);
	return LATHE_RT_OK;
}
