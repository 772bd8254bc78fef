/* k_misc.c: extern kernels of the miscellaneous ops: BitCast, RNN/GRU/LSTM,
 * DFT, STFT, MelWeightMatrix, the random generators and TreeEnsemble.
 *
 * These are the ops whose meaning is a sequential algorithm (recurrences,
 * tree walks, pseudo-random streams) or whose cost a naive loop nest would
 * square for no gain in clarity.  Calling convention and parameter layouts:
 * lathe_rt_k_misc.h.  Every kernel validates the shapes it is given before
 * it touches data, computes in double (elements go through
 * lathe_rt_load_f64 / lathe_rt_store_f64, so every float type works), and
 * allocates all of its outputs through call->alloc.
 *
 * DFT and STFT use a radix-2 FFT for power-of-two lengths, a direct sum
 * for short ones and Bluestein's algorithm otherwise, so every length costs
 * O(n log n).
 * Random kernels use xoshiro256** seeded through splitmix64: a given seed
 * always gives the same stream, but not NumPy's stream.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lathe_rt_k_misc.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static int fail(lathe_rt_call *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return code;
}

static int oom(lathe_rt_call *c)
{
	return fail(c, LATHE_RT_ENOMEM, "out of memory for kernel scratch");
}

static int have(const lathe_rt_call *c, int i)
{
	return i < c->nin && c->in[i].data != NULL;
}

static int64_t ipar(const lathe_rt_call *c, int i, int64_t dflt)
{
	return i < c->nip ? c->ip[i] : dflt;
}

static double fpar(const lathe_rt_call *c, int i, double dflt)
{
	return i < c->nfp ? c->fp[i] : dflt;
}

/* Allocates output i if the call has it; *t is NULL for an absent one. */
static int out_alloc(lathe_rt_call *c, int i, int32_t dtype, int32_t rank, const int64_t *shape,
		     lathe_tensor **t)
{
	*t = NULL;
	if (i >= c->nout)
		return LATHE_RT_OK;
	int rc = c->alloc(c, i, dtype, rank, shape);
	if (rc != LATHE_RT_OK)
		return fail(c, rc, "cannot allocate output %d", i);
	*t = &c->out[i];
	return LATHE_RT_OK;
}

/* A double copy of t's elements (n of them); NULL on allocation failure. */
static double *load_all(const lathe_tensor *t, int64_t n)
{
	double *d = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
	if (!d)
		return NULL;
	for (int64_t i = 0; i < n; i++)
		d[i] = lathe_rt_load_f64(t, i);
	return d;
}

/* ---- BitCast ---------------------------------------------------------------- */

static int sub_bits(int32_t dt)
{
	switch (dt) {
	case LATHE_DT_U4: case LATHE_DT_I4: case LATHE_DT_F4E2M1: return 4;
	case LATHE_DT_U2: case LATHE_DT_I2: return 2;
	}
	return 0;
}

int lathe_rt_k_bitcast(lathe_rt_call *call)
{
	if (call->nin < 1 || (!call->in[0].data && lathe_rt_numel(&call->in[0]) > 0))
		return fail(call, LATHE_RT_EINVAL, "BitCast needs an input");
	const lathe_tensor *x = &call->in[0];
	int32_t to = (int32_t)ipar(call, 0, 0);
	size_t fs = lathe_rt_dtype_size(x->dtype), ts = lathe_rt_dtype_size(to);
	int fb = sub_bits(x->dtype), tb = sub_bits(to);
	if (!fs || !ts || x->dtype == LATHE_DT_STR || to == LATHE_DT_STR ||
	    (fb ? fb : (int)fs * 8) != (tb ? tb : (int)ts * 8))
		return fail(call, LATHE_RT_EINVAL, "BitCast from %s to %s: widths differ",
			    lathe_rt_dtype_name(x->dtype), lathe_rt_dtype_name(to));
	lathe_tensor *y;
	int rc = out_alloc(call, 0, to, x->rank, x->shape, &y);
	if (rc || !y)
		return rc;
	int64_t n = lathe_rt_numel(x);
	if (tb) {
		uint8_t mask = (uint8_t)((1u << tb) - 1);
		bool sgn = to == LATHE_DT_I4 || to == LATHE_DT_I2;
		for (int64_t i = 0; i < n; i++) {
			uint8_t b = ((const uint8_t *)x->data)[i] & mask;
			if (sgn && (b >> (tb - 1)))
				b |= (uint8_t)~mask;
			((uint8_t *)y->data)[i] = b;
		}
		return LATHE_RT_OK;
	}
	if (n > 0)
		memcpy(y->data, x->data, (size_t)n * ts);
	if (to == LATHE_DT_BOOL)
		for (int64_t i = 0; i < n; i++)
			((uint8_t *)y->data)[i] = ((uint8_t *)y->data)[i] != 0;
	return LATHE_RT_OK;
}

/* ---- RNN, GRU, LSTM ------------------------------------------------------------ */

enum act_kind {
	ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_AFFINE, ACT_LEAKYRELU, ACT_THRESHRELU,
	ACT_SCALEDTANH, ACT_HARDSIGMOID, ACT_ELU, ACT_SOFTSIGN, ACT_SOFTPLUS,
};

typedef struct act {
	int kind;
	double alpha, beta;
} act;

static const struct {
	const char *name;
	int kind;
	double alpha, beta;
} act_table[] = {
	{"Sigmoid", ACT_SIGMOID, 0, 0},       {"Tanh", ACT_TANH, 0, 0},
	{"Relu", ACT_RELU, 0, 0},             {"Affine", ACT_AFFINE, 1, 0},
	{"LeakyRelu", ACT_LEAKYRELU, 0.01, 0}, {"ThresholdedRelu", ACT_THRESHRELU, 1, 0},
	{"ScaledTanh", ACT_SCALEDTANH, 1, 1}, {"HardSigmoid", ACT_HARDSIGMOID, 0.2, 0.5},
	{"Elu", ACT_ELU, 1, 0},               {"Softsign", ACT_SOFTSIGN, 0, 0},
	{"Softplus", ACT_SOFTPLUS, 0, 0},
};

static int act_parse(const char *name, double alpha, double beta, act *a)
{
	for (size_t i = 0; i < sizeof act_table / sizeof act_table[0]; i++) {
		if (!strcasecmp(name, act_table[i].name)) {
			a->kind = act_table[i].kind;
			a->alpha = isnan(alpha) ? act_table[i].alpha : alpha;
			a->beta = isnan(beta) ? act_table[i].beta : beta;
			return 0;
		}
	}
	return -1;
}

static double act_apply(const act *a, double x)
{
	switch (a->kind) {
	case ACT_SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
	case ACT_TANH: return tanh(x);
	case ACT_RELU: return x > 0 ? x : 0;
	case ACT_AFFINE: return a->alpha * x + a->beta;
	case ACT_LEAKYRELU: return x >= 0 ? x : a->alpha * x;
	case ACT_THRESHRELU: return x > a->alpha ? x : 0;
	case ACT_SCALEDTANH: return a->alpha * tanh(a->beta * x);
	case ACT_HARDSIGMOID: return fmax(0, fmin(1, a->alpha * x + a->beta));
	case ACT_ELU: return x >= 0 ? x : a->alpha * (exp(x) - 1);
	case ACT_SOFTSIGN: return x / (1 + fabs(x));
	case ACT_SOFTPLUS: return x > 30 ? x : log1p(exp(x));
	}
	return x;
}

typedef struct rnn {
	int cell, nd, layout, lbr, input_forget;
	int64_t S, B, I, H, G;
	double clip;
	act acts[6]; /* [direction][f, g, h] */
	int nf;      /* activations per direction */
	double *w, *r, *b, *p;
} rnn;

static double clipv(const rnn *m, double v)
{
	if (m->clip > 0)
		return v < -m->clip ? -m->clip : (v > m->clip ? m->clip : v);
	return v;
}

/* pre[j] = x.W[d, j] + h.R[d, j] + Wb[j] + Rb[j] for the gate rows j in
 * [0, G*H) except those of `skip_rec` (GRU's h gate without
 * linear_before_reset, whose recurrent term uses r*h). */
static void rnn_pre(const rnn *m, int d, const double *x, const double *h, double *xw,
		    double *hr)
{
	int64_t GH = m->G * m->H;
	const double *W = m->w + d * GH * m->I, *R = m->r + d * GH * m->H;
	const double *Wb = m->b + d * 2 * GH, *Rb = Wb + GH;
	for (int64_t j = 0; j < GH; j++) {
		double s = Wb[j], t = Rb[j];
		for (int64_t i = 0; i < m->I; i++)
			s += x[i] * W[j * m->I + i];
		for (int64_t k = 0; k < m->H; k++)
			t += h[k] * R[j * m->H + k];
		xw[j] = s;
		hr[j] = t;
	}
}

/* One step for one batch row: h (and c) updated in place. */
static void rnn_step(const rnn *m, int d, const double *x, double *h, double *c, double *xw,
		     double *hr, double *tmp)
{
	const act *f = &m->acts[d * m->nf], *g = f + 1, *hh = f + 2;
	int64_t H = m->H;
	rnn_pre(m, d, x, h, xw, hr);
	if (m->cell == LATHE_RT_RNN) {
		for (int64_t j = 0; j < H; j++)
			h[j] = act_apply(f, clipv(m, xw[j] + hr[j]));
		return;
	}
	if (m->cell == LATHE_RT_GRU) {
		double *z = tmp, *r = tmp + H, *rh = tmp + 2 * H;
		for (int64_t j = 0; j < H; j++) {
			z[j] = act_apply(f, clipv(m, xw[j] + hr[j]));
			r[j] = act_apply(f, clipv(m, xw[H + j] + hr[H + j]));
		}
		const double *Rh = m->r + d * 3 * H * H + 2 * H * H;
		const double *Rbh = m->b + d * 6 * H + 3 * H + 2 * H;
		for (int64_t j = 0; j < H; j++) {
			double rec;
			if (m->lbr) {
				rec = r[j] * hr[2 * H + j];
			} else {
				rec = Rbh[j];
				for (int64_t k = 0; k < H; k++)
					rec += r[k] * h[k] * Rh[j * H + k];
			}
			rh[j] = act_apply(g, clipv(m, xw[2 * H + j] + rec));
		}
		for (int64_t j = 0; j < H; j++)
			h[j] = (1 - z[j]) * rh[j] + z[j] * h[j];
		return;
	}
	/* LSTM: gate rows i, o, f, c; peepholes i, o, f. */
	const double *P = m->p + d * 3 * H;
	for (int64_t j = 0; j < H; j++) {
		double ig = act_apply(f, clipv(m, xw[j] + hr[j] + P[j] * c[j]));
		double fg = m->input_forget ? 1 - ig
			    : act_apply(f, clipv(m, xw[2 * H + j] + hr[2 * H + j] + P[2 * H + j] * c[j]));
		double cc = act_apply(g, clipv(m, xw[3 * H + j] + hr[3 * H + j]));
		double cn = fg * c[j] + ig * cc;
		double og = act_apply(f, clipv(m, xw[H + j] + hr[H + j] + P[H + j] * cn));
		c[j] = cn;
		tmp[j] = og * act_apply(hh, cn);
	}
	memcpy(h, tmp, sizeof(double) * (size_t)H);
}

static int rnn_check(lathe_rt_call *c, const lathe_tensor *t, const char *name, int rank,
		     const int64_t *want)
{
	if (t->rank != rank)
		return fail(c, LATHE_RT_EINVAL, "%s has rank %d, expected %d", name, (int)t->rank, rank);
	for (int i = 0; i < rank; i++)
		if (t->shape[i] != want[i])
			return fail(c, LATHE_RT_EINVAL, "%s dim %d is %lld, expected %lld", name, i,
				    (long long)t->shape[i], (long long)want[i]);
	return LATHE_RT_OK;
}

int lathe_rt_k_rnn(lathe_rt_call *call)
{
	rnn m = {0};
	m.cell = (int)ipar(call, 0, 0);
	m.H = ipar(call, 1, 0);
	int dir = (int)ipar(call, 2, 0);
	m.layout = (int)ipar(call, 3, 0);
	m.lbr = (int)ipar(call, 4, 0);
	m.input_forget = (int)ipar(call, 5, 0);
	int nact = (int)ipar(call, 6, 0);
	m.clip = fpar(call, 0, 0);
	if (m.cell < 0 || m.cell > 2 || dir < 0 || dir > 2)
		return fail(call, LATHE_RT_EINVAL, "bad RNN cell or direction");
	if (call->nin < 3 || !call->in[0].data || !call->in[1].data || !call->in[2].data)
		return fail(call, LATHE_RT_EINVAL, "X, W and R are required");
	m.nd = dir == 2 ? 2 : 1;
	m.G = m.cell == LATHE_RT_RNN ? 1 : m.cell == LATHE_RT_GRU ? 3 : 4;
	m.nf = m.cell == LATHE_RT_RNN ? 1 : m.cell == LATHE_RT_GRU ? 2 : 3;
	const lathe_tensor *X = &call->in[0];
	if (X->rank != 3)
		return fail(call, LATHE_RT_EINVAL, "X must have rank 3, not %d", (int)X->rank);
	m.S = X->shape[m.layout ? 1 : 0];
	m.B = X->shape[m.layout ? 0 : 1];
	m.I = X->shape[2];
	int64_t GH = m.G * m.H;
	if (m.H <= 0)
		return fail(call, LATHE_RT_EINVAL, "hidden_size %lld must be positive", (long long)m.H);
	int rc;
	int64_t ws[3] = {m.nd, GH, m.I}, rs[3] = {m.nd, GH, m.H}, bs[2] = {m.nd, 2 * GH};
	int64_t hs[3] = {m.layout ? m.B : m.nd, m.layout ? m.nd : m.B, m.H};
	int64_t ps[2] = {m.nd, 3 * m.H}, ls[1] = {m.B};
	if ((rc = rnn_check(call, &call->in[1], "W", 3, ws)) ||
	    (rc = rnn_check(call, &call->in[2], "R", 3, rs)))
		return rc;
	if (have(call, 3) && (rc = rnn_check(call, &call->in[3], "B", 2, bs)))
		return rc;
	if (have(call, 4) && (rc = rnn_check(call, &call->in[4], "sequence_lens", 1, ls)))
		return rc;
	if (have(call, 5) && (rc = rnn_check(call, &call->in[5], "initial_h", 3, hs)))
		return rc;
	if (m.cell == LATHE_RT_LSTM && have(call, 6) &&
	    (rc = rnn_check(call, &call->in[6], "initial_c", 3, hs)))
		return rc;
	if (m.cell == LATHE_RT_LSTM && have(call, 7) &&
	    (rc = rnn_check(call, &call->in[7], "P", 2, ps)))
		return rc;
	/* Activations: given per direction, or the cell's defaults. */
	static const char *const defaults[3][3] = {
		{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
	if (nact != 0 && nact != m.nf * m.nd && !(nact == m.nf && m.nd == 2))
		return fail(call, LATHE_RT_EINVAL, "%d activations given, expected %d", nact,
			    m.nf * m.nd);
	for (int d = 0; d < m.nd; d++) {
		for (int j = 0; j < m.nf; j++) {
			int k = nact == m.nf * m.nd ? d * m.nf + j : j;
			const char *name = nact ? call->sp[k] : defaults[m.cell][j];
			double al = nact ? fpar(call, 1 + k, NAN) : NAN;
			double be = nact ? fpar(call, 1 + nact + k, NAN) : NAN;
			if (act_parse(name, al, be, &m.acts[d * m.nf + j]))
				return fail(call, LATHE_RT_EUNSUPPORTED, "activation '%s'", name);
		}
	}
	int64_t yshape[4], hshape[3] = {hs[0], hs[1], hs[2]};
	if (m.layout) {
		yshape[0] = m.B, yshape[1] = m.S, yshape[2] = m.nd, yshape[3] = m.H;
	} else {
		yshape[0] = m.S, yshape[1] = m.nd, yshape[2] = m.B, yshape[3] = m.H;
	}
	int32_t dt = X->dtype;
	lathe_tensor *Y, *Yh, *Yc = NULL;
	if ((rc = out_alloc(call, 0, dt, 4, yshape, &Y)) || (rc = out_alloc(call, 1, dt, 3, hshape, &Yh)))
		return rc;
	if (m.cell == LATHE_RT_LSTM && (rc = out_alloc(call, 2, dt, 3, hshape, &Yc)))
		return rc;

	m.w = load_all(&call->in[1], m.nd * GH * m.I);
	m.r = load_all(&call->in[2], m.nd * GH * m.H);
	m.b = calloc((size_t)(m.nd * 2 * GH), sizeof(double));
	m.p = calloc((size_t)(m.nd * 3 * m.H), sizeof(double));
	double *x = malloc(sizeof(double) * (size_t)(m.I > 0 ? m.I : 1));
	double *scr = malloc(sizeof(double) * (size_t)(2 * GH + 5 * m.H));
	if (!m.w || !m.r || !m.b || !m.p || !x || !scr) {
		rc = oom(call);
		goto done;
	}
	if (have(call, 3))
		for (int64_t i = 0; i < m.nd * 2 * GH; i++)
			m.b[i] = lathe_rt_load_f64(&call->in[3], i);
	if (m.cell == LATHE_RT_LSTM && have(call, 7))
		for (int64_t i = 0; i < m.nd * 3 * m.H; i++)
			m.p[i] = lathe_rt_load_f64(&call->in[7], i);
	if (Y)
		for (int64_t i = 0; i < lathe_rt_numel(Y); i++)
			lathe_rt_store_f64(Y, i, 0);
	double *xw = scr, *hr = scr + GH, *h = hr + GH, *cs = h + m.H, *tmp = cs + m.H;
	for (int d = 0; d < m.nd; d++) {
		bool rev = dir == 1 || d == 1;
		for (int64_t b = 0; b < m.B; b++) {
			int64_t len = m.S;
			if (have(call, 4)) {
				len = lathe_rt_load_i64(&call->in[4], b);
				if (len < 0 || len > m.S) {
					rc = fail(call, LATHE_RT_EINVAL, "sequence_lens[%lld] = %lld out of [0, %lld]",
						  (long long)b, (long long)len, (long long)m.S);
					goto done;
				}
			}
			int64_t hi = m.layout ? (b * m.nd + d) * m.H : (d * m.B + b) * m.H;
			for (int64_t j = 0; j < m.H; j++) {
				h[j] = have(call, 5) ? lathe_rt_load_f64(&call->in[5], hi + j) : 0;
				cs[j] = have(call, 6) && m.cell == LATHE_RT_LSTM
						? lathe_rt_load_f64(&call->in[6], hi + j) : 0;
			}
			for (int64_t s = 0; s < len; s++) {
				int64_t t = rev ? len - 1 - s : s;
				int64_t xi = m.layout ? (b * m.S + t) * m.I : (t * m.B + b) * m.I;
				for (int64_t i = 0; i < m.I; i++)
					x[i] = lathe_rt_load_f64(X, xi + i);
				rnn_step(&m, d, x, h, cs, xw, hr, tmp);
				if (Y) {
					int64_t yi = m.layout ? ((b * m.S + t) * m.nd + d) * m.H
							      : ((t * m.nd + d) * m.B + b) * m.H;
					for (int64_t j = 0; j < m.H; j++)
						lathe_rt_store_f64(Y, yi + j, h[j]);
				}
			}
			for (int64_t j = 0; j < m.H; j++) {
				if (Yh)
					lathe_rt_store_f64(Yh, hi + j, h[j]);
				if (Yc)
					lathe_rt_store_f64(Yc, hi + j, cs[j]);
			}
		}
	}
	rc = LATHE_RT_OK;
done:
	free(m.w);
	free(m.r);
	free(m.b);
	free(m.p);
	free(x);
	free(scr);
	return rc;
}

/* ---- DFT and STFT -------------------------------------------------------------------- */

/* A transform of one length n: radix-2 FFT when n is a power of two, a
 * direct sum for small n, Bluestein's chirp-z (a power-of-two convolution)
 * otherwise; O(n log n) for every large n. */
typedef struct dft_plan {
	int64_t n, m; /* m: the power-of-two FFT size used */
	int kind;     /* 0 direct, 1 radix-2, 2 Bluestein */
	double *cs, *sn; /* direct: 2*pi*k/n, k < n; else 2*pi*k/m, k < m/2 */
	double *wr, *wi; /* Bluestein chirp exp(-i*pi*k^2/n), k < n */
	double *br, *bi; /* Bluestein filter spectrum, m */
	double *ar, *ai; /* work, max(n, m) */
} dft_plan;

static void plan_free(dft_plan *p)
{
	free(p->cs), free(p->sn), free(p->wr), free(p->wi);
	free(p->br), free(p->bi), free(p->ar), free(p->ai);
	memset(p, 0, sizeof *p);
}

/* Forward radix-2 FFT in place; cs/sn hold m/2 twiddles of size m. */
static void fft2(double *re, double *im, int64_t m, const double *cs, const double *sn)
{
	for (int64_t i = 1, j = 0; i < m; i++) {
		int64_t bit = m >> 1;
		for (; j & bit; bit >>= 1)
			j ^= bit;
		j |= bit;
		if (i < j) {
			double t = re[i]; re[i] = re[j]; re[j] = t;
			t = im[i]; im[i] = im[j]; im[j] = t;
		}
	}
	for (int64_t len = 2; len <= m; len <<= 1) {
		int64_t half = len / 2, step = m / len;
		for (int64_t i = 0; i < m; i += len)
			for (int64_t j = 0; j < half; j++) {
				double wr = cs[j * step], wi = -sn[j * step];
				int64_t a = i + j, b = a + half;
				double xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
				re[b] = re[a] - xr, im[b] = im[a] - xi;
				re[a] += xr, im[a] += xi;
			}
	}
}

static double *dalloc(int64_t n)
{
	return malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
}

static int plan_init(dft_plan *p, int64_t n)
{
	memset(p, 0, sizeof *p);
	p->n = n;
	bool pow2 = (n & (n - 1)) == 0;
	p->kind = pow2 ? 1 : n <= 32 ? 0 : 2;
	p->m = n;
	if (p->kind == 2)
		for (p->m = 1; p->m < 2 * n - 1; p->m <<= 1)
			;
	int64_t nt = p->kind == 0 ? n : p->m / 2, nw = p->m > n ? p->m : n;
	p->cs = dalloc(nt), p->sn = dalloc(nt), p->ar = dalloc(nw), p->ai = dalloc(nw);
	if (!p->cs || !p->sn || !p->ar || !p->ai)
		return -1;
	for (int64_t k = 0; k < nt; k++) {
		double a = 2 * M_PI * (double)k / (double)(p->kind == 0 ? n : p->m);
		p->cs[k] = cos(a), p->sn[k] = sin(a);
	}
	if (p->kind != 2)
		return 0;
	p->wr = dalloc(n), p->wi = dalloc(n), p->br = dalloc(p->m), p->bi = dalloc(p->m);
	if (!p->wr || !p->wi || !p->br || !p->bi)
		return -1;
	for (int64_t k = 0; k < n; k++) {
		double a = M_PI * (double)((k * k) % (2 * n)) / (double)n;
		p->wr[k] = cos(a), p->wi[k] = -sin(a);
	}
	for (int64_t k = 0; k < p->m; k++)
		p->br[k] = p->bi[k] = 0;
	for (int64_t k = 0; k < n; k++) {
		p->br[k] = p->wr[k], p->bi[k] = -p->wi[k];
		if (k)
			p->br[p->m - k] = p->wr[k], p->bi[p->m - k] = -p->wi[k];
	}
	fft2(p->br, p->bi, p->m, p->cs, p->sn);
	return 0;
}

/* Unnormalized DFT of n points in place; inverse uses exp(+i...). */
static void plan_run(dft_plan *p, double *re, double *im, bool inverse)
{
	int64_t n = p->n, m = p->m;
	if (inverse) /* conj(DFT(conj(x))) */
		for (int64_t k = 0; k < n; k++)
			im[k] = -im[k];
	if (p->kind == 1) {
		fft2(re, im, n, p->cs, p->sn);
	} else if (p->kind == 0) {
		for (int64_t k = 0; k < n; k++) {
			double sr = 0, si = 0;
			for (int64_t t = 0; t < n; t++) {
				int64_t e = (k * t) % n;
				sr += re[t] * p->cs[e] + im[t] * p->sn[e];
				si += im[t] * p->cs[e] - re[t] * p->sn[e];
			}
			p->ar[k] = sr, p->ai[k] = si;
		}
		memcpy(re, p->ar, sizeof(double) * (size_t)n);
		memcpy(im, p->ai, sizeof(double) * (size_t)n);
	} else {
		double *ar = p->ar, *ai = p->ai;
		for (int64_t k = 0; k < m; k++) {
			ar[k] = k < n ? re[k] * p->wr[k] - im[k] * p->wi[k] : 0;
			ai[k] = k < n ? re[k] * p->wi[k] + im[k] * p->wr[k] : 0;
		}
		fft2(ar, ai, m, p->cs, p->sn);
		for (int64_t k = 0; k < m; k++) { /* multiply, conjugate for the inverse */
			double xr = ar[k] * p->br[k] - ai[k] * p->bi[k];
			double xi = ar[k] * p->bi[k] + ai[k] * p->br[k];
			ar[k] = xr, ai[k] = -xi;
		}
		fft2(ar, ai, m, p->cs, p->sn);
		for (int64_t k = 0; k < n; k++) {
			double cr = ar[k] / (double)m, ci = -ai[k] / (double)m;
			re[k] = cr * p->wr[k] - ci * p->wi[k];
			im[k] = cr * p->wi[k] + ci * p->wr[k];
		}
	}
	if (inverse)
		for (int64_t k = 0; k < n; k++)
			im[k] = -im[k];
}

int lathe_rt_k_dft(lathe_rt_call *call)
{
	if (call->nin < 1 || !call->in[0].data)
		return fail(call, LATHE_RT_EINVAL, "DFT needs an input");
	const lathe_tensor *x = &call->in[0];
	int r = x->rank;
	int axis = (int)ipar(call, 0, 1), inverse = (int)ipar(call, 1, 0);
	int onesided = (int)ipar(call, 2, 0);
	int64_t n = ipar(call, 3, 0);
	if (r < 2 || axis < 0 || axis >= r - 1)
		return fail(call, LATHE_RT_EINVAL, "axis %d out of range for rank %d (the last dim "
			    "holds real/imaginary parts)", axis, r);
	int64_t cin = x->shape[r - 1], m = x->shape[axis];
	if (cin != 1 && cin != 2)
		return fail(call, LATHE_RT_EINVAL, "last dim must be 1 (real) or 2 (complex), not %lld",
			    (long long)cin);
	bool irfft = inverse && onesided;
	if (n <= 0)
		n = irfft ? 2 * (m - 1) : m;
	if (n <= 0 || n > ((int64_t)1 << 32))
		return fail(call, LATHE_RT_EINVAL, "DFT length %lld out of range", (long long)n);
	if (onesided && !inverse && cin == 2)
		return fail(call, LATHE_RT_EINVAL, "onesided DFT needs a real input");
	int64_t outlen = (onesided && !inverse) ? n / 2 + 1 : n, cout = irfft ? 1 : 2;
	int64_t shape[64];
	if (r > 64)
		return fail(call, LATHE_RT_EUNSUPPORTED, "rank %d too large", r);
	int64_t outer = 1, inner = 1;
	for (int i = 0; i < r; i++) {
		shape[i] = x->shape[i];
		if (i < axis)
			outer *= x->shape[i];
		else if (i > axis && i < r - 1)
			inner *= x->shape[i];
	}
	shape[axis] = outlen;
	shape[r - 1] = cout;
	lathe_tensor *y;
	int rc = out_alloc(call, 0, x->dtype, r, shape, &y);
	if (rc || !y)
		return rc;
	dft_plan p;
	double *re = dalloc(n), *im = dalloc(n);
	if (plan_init(&p, n) || !re || !im) {
		rc = oom(call);
		goto done;
	}
	double scale = inverse ? 1.0 / (double)n : 1.0;
	int64_t avail = irfft ? n / 2 + 1 : n; /* input points used, zero-padded */
	for (int64_t o = 0; o < outer; o++) {
		for (int64_t i = 0; i < inner; i++) {
			for (int64_t t = 0; t < n; t++)
				re[t] = im[t] = 0;
			for (int64_t t = 0; t < avail && t < m; t++) {
				int64_t xi = ((o * m + t) * inner + i) * cin;
				re[t] = lathe_rt_load_f64(x, xi);
				im[t] = cin == 2 ? lathe_rt_load_f64(x, xi + 1) : 0;
			}
			if (irfft) /* Hermitian extension of the one-sided half */
				for (int64_t t = n / 2 + 1; t < n; t++) {
					re[t] = re[n - t];
					im[t] = -im[n - t];
				}
			plan_run(&p, re, im, inverse);
			for (int64_t k = 0; k < outlen; k++) {
				int64_t yi = ((o * outlen + k) * inner + i) * cout;
				lathe_rt_store_f64(y, yi, re[k] * scale);
				if (cout == 2)
					lathe_rt_store_f64(y, yi + 1, im[k] * scale);
			}
		}
	}
	rc = LATHE_RT_OK;
done:
	plan_free(&p);
	free(re);
	free(im);
	return rc;
}

int lathe_rt_k_stft(lathe_rt_call *call)
{
	if (call->nin < 1 || !call->in[0].data)
		return fail(call, LATHE_RT_EINVAL, "STFT needs a signal");
	const lathe_tensor *x = &call->in[0];
	int onesided = (int)ipar(call, 0, 1);
	int64_t step = ipar(call, 1, 0), fl = ipar(call, 2, 0);
	if (x->rank != 3 || (x->shape[2] != 1 && x->shape[2] != 2))
		return fail(call, LATHE_RT_EINVAL, "signal must be [batch, length, 1|2]");
	int64_t B = x->shape[0], L = x->shape[1], cin = x->shape[2];
	if (step <= 0 || fl <= 0 || fl > L)
		return fail(call, LATHE_RT_EINVAL, "frame_step %lld / frame_length %lld invalid for "
			    "signal length %lld", (long long)step, (long long)fl, (long long)L);
	const lathe_tensor *w = have(call, 2) ? &call->in[2] : NULL;
	if (w && (w->rank != 1 || w->shape[0] != fl))
		return fail(call, LATHE_RT_EINVAL, "window must be 1-D of frame_length %lld",
			    (long long)fl);
	if (onesided && cin == 2)
		return fail(call, LATHE_RT_EINVAL, "onesided STFT needs a real signal");
	int64_t frames = 1 + (L - fl) / step, bins = onesided ? fl / 2 + 1 : fl;
	int64_t shape[4] = {B, frames, bins, 2};
	lathe_tensor *y;
	int rc = out_alloc(call, 0, x->dtype, 4, shape, &y);
	if (rc || !y)
		return rc;
	dft_plan p;
	double *re = dalloc(fl), *im = dalloc(fl);
	if (plan_init(&p, fl) || !re || !im) {
		rc = oom(call);
		goto done;
	}
	for (int64_t b = 0; b < B; b++) {
		for (int64_t f = 0; f < frames; f++) {
			for (int64_t t = 0; t < fl; t++) {
				int64_t xi = (b * L + f * step + t) * cin;
				double wt = w ? lathe_rt_load_f64(w, t) : 1;
				re[t] = lathe_rt_load_f64(x, xi) * wt;
				im[t] = cin == 2 ? lathe_rt_load_f64(x, xi + 1) * wt : 0;
			}
			plan_run(&p, re, im, false);
			for (int64_t k = 0; k < bins; k++) {
				int64_t yi = ((b * frames + f) * bins + k) * 2;
				lathe_rt_store_f64(y, yi, re[k]);
				lathe_rt_store_f64(y, yi + 1, im[k]);
			}
		}
	}
	rc = LATHE_RT_OK;
done:
	plan_free(&p);
	free(re);
	free(im);
	return rc;
}

/* ---- MelWeightMatrix ------------------------------------------------------------------ */

int lathe_rt_k_mel(lathe_rt_call *call)
{
	for (int i = 0; i < 5; i++)
		if (!have(call, i) || lathe_rt_numel(&call->in[i]) != 1)
			return fail(call, LATHE_RT_EINVAL, "input %d must be a scalar", i);
	int64_t nmel = lathe_rt_load_i64(&call->in[0], 0), dftn = lathe_rt_load_i64(&call->in[1], 0);
	int64_t rate = lathe_rt_load_i64(&call->in[2], 0);
	double lo = lathe_rt_load_f64(&call->in[3], 0), hi = lathe_rt_load_f64(&call->in[4], 0);
	if (nmel <= 0 || dftn <= 0 || rate <= 0 || nmel > (1 << 20) || dftn > (1 << 24))
		return fail(call, LATHE_RT_EINVAL, "num_mel_bins %lld, dft_length %lld and "
			    "sample_rate %lld must be positive", (long long)nmel, (long long)dftn,
			    (long long)rate);
	if (!(lo >= 0 && hi > lo))
		return fail(call, LATHE_RT_EINVAL, "edges %g..%g: need 0 <= lower < upper", lo, hi);
	int64_t nspec = dftn / 2 + 1;
	int64_t shape[2] = {nspec, nmel};
	lathe_tensor *y;
	int rc = out_alloc(call, 0, (int32_t)ipar(call, 0, LATHE_DT_F32), 2, shape, &y);
	if (rc || !y)
		return rc;
	int64_t *fb = malloc(sizeof(int64_t) * (size_t)(nmel + 2));
	if (!fb)
		return oom(call);
	/* Evenly spaced points on the mel scale, mapped to DFT bins. */
	double lmel = 2595 * log10(1 + lo / 700), hmel = 2595 * log10(1 + hi / 700);
	double step = (hmel - lmel) / (double)(nmel + 2);
	for (int64_t i = 0; i < nmel + 2; i++) {
		double hz = 700 * (pow(10, ((double)i * step + lmel) / 2595) - 1);
		fb[i] = (int64_t)floor((double)(dftn + 1) * hz / (double)rate);
	}
	for (int64_t i = 0; i < nspec * nmel; i++)
		lathe_rt_store_f64(y, i, 0);
	for (int64_t i = 0; i < nmel; i++) {
		int64_t l = fb[i], c = fb[i + 1], h = fb[i + 2];
		if (l < 0 || h >= nspec + 1 || c >= nspec) {
			free(fb);
			return fail(call, LATHE_RT_EINVAL, "upper_edge_hertz %g is past the Nyquist "
				    "frequency of sample_rate %lld", hi, (long long)rate);
		}
		if (c == l)
			lathe_rt_store_f64(y, c * nmel + i, 1);
		else
			for (int64_t j = l; j <= c; j++)
				lathe_rt_store_f64(y, j * nmel + i, (double)(j - l) / (double)(c - l));
		for (int64_t j = c; j < h; j++)
			lathe_rt_store_f64(y, j * nmel + i, (double)(h - j) / (double)(h - c));
	}
	free(fb);
	return LATHE_RT_OK;
}

/* ---- random ------------------------------------------------------------------------------ */

typedef struct rng {
	uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *g)
{
	uint64_t r = rotl(g->s[1] * 5, 7) * 9, t = g->s[1] << 17;
	g->s[2] ^= g->s[0];
	g->s[3] ^= g->s[1];
	g->s[1] ^= g->s[2];
	g->s[0] ^= g->s[3];
	g->s[2] ^= t;
	g->s[3] = rotl(g->s[3], 45);
	return r;
}

static double rng_unit(rng *g) /* [0, 1) */
{
	return (double)(rng_next(g) >> 11) * 0x1.0p-53;
}

static double rng_normal(rng *g)
{
	double u1 = 1.0 - rng_unit(g), u2 = rng_unit(g);
	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

int lathe_rt_k_random(lathe_rt_call *call)
{
	int kind = (int)ipar(call, 0, 0);
	int32_t dt = (int32_t)ipar(call, 1, LATHE_DT_F32);
	int64_t samples = ipar(call, 3, 1), rank = ipar(call, 4, 0);
	double a = fpar(call, 1, 0), b = fpar(call, 2, 1);
	rng g;
	uint64_t seed;
	if (ipar(call, 2, 0)) {
		double sd = fpar(call, 0, 0);
		memcpy(&seed, &sd, sizeof seed);
	} else { /* unseeded: a fresh stream per call */
		seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)call ^ (uint64_t)clock();
	}
	for (int i = 0; i < 4; i++)
		g.s[i] = splitmix(&seed);
	const lathe_tensor *x = have(call, 0) ? &call->in[0] : NULL;
	lathe_tensor *y;
	int rc;
	if (kind == LATHE_RT_RAND_MULTINOMIAL) {
		if (!x || x->rank != 2)
			return fail(call, LATHE_RT_EINVAL, "Multinomial input must be [batch, classes]");
		int64_t shape[2] = {x->shape[0], samples}, C = x->shape[1];
		if (samples < 0 || C < 1)
			return fail(call, LATHE_RT_EINVAL, "sample_size and class count must be positive");
		if ((rc = out_alloc(call, 0, dt, 2, shape, &y)) || !y)
			return rc;
		double *cdf = malloc(sizeof(double) * (size_t)C);
		if (!cdf)
			return oom(call);
		for (int64_t r = 0; r < shape[0]; r++) {
			double mx = -INFINITY, tot = 0;
			for (int64_t j = 0; j < C; j++)
				mx = fmax(mx, lathe_rt_load_f64(x, r * C + j));
			for (int64_t j = 0; j < C; j++)
				cdf[j] = (tot += exp(lathe_rt_load_f64(x, r * C + j) - mx));
			for (int64_t s = 0; s < samples; s++) {
				double u = rng_unit(&g) * tot;
				int64_t j = 0;
				while (j < C - 1 && cdf[j] <= u)
					j++;
				lathe_rt_store_i64(y, r * samples + s, j);
			}
		}
		free(cdf);
		return LATHE_RT_OK;
	}
	int64_t shape[64];
	int32_t r = 0;
	if (x) {
		r = x->rank;
		memcpy(shape, x->shape, sizeof(int64_t) * (size_t)r);
	} else {
		if (rank < 0 || rank > 64 || call->nip < 5 + rank)
			return fail(call, LATHE_RT_EINVAL, "bad shape parameter");
		r = (int32_t)rank;
		for (int i = 0; i < r; i++)
			if ((shape[i] = call->ip[5 + i]) < 0)
				return fail(call, LATHE_RT_EINVAL, "shape[%d] = %lld is negative", i,
					    (long long)shape[i]);
	}
	if ((rc = out_alloc(call, 0, dt, r, shape, &y)) || !y)
		return rc;
	int64_t n = lathe_rt_numel(y);
	for (int64_t i = 0; i < n; i++) {
		double v;
		switch (kind) {
		case LATHE_RT_RAND_UNIFORM: v = a + (b - a) * rng_unit(&g); break;
		case LATHE_RT_RAND_NORMAL: v = a + b * rng_normal(&g); break;
		case LATHE_RT_RAND_BERNOULLI: v = rng_unit(&g) < lathe_rt_load_f64(x, i) ? 1 : 0; break;
		default: return fail(call, LATHE_RT_EINVAL, "unknown random kind %d", kind);
		}
		lathe_rt_store_f64(y, i, v);
	}
	return LATHE_RT_OK;
}

/* ---- TreeEnsemble ------------------------------------------------------------------------ */

/* sqrt(2) * erfinv(2p - 1): a coarse start refined by Newton steps on erf. */
static double probit(double p)
{
	if (!(p > 0 && p < 1))
		return p <= 0 ? -INFINITY : (p >= 1 ? INFINITY : p);
	double y = 2 * p - 1, w = -log((1 - y) * (1 + y)), x;
	if (w < 5) {
		w -= 2.5;
		x = 2.81022636e-08;
		x = 3.43273939e-07 + x * w; x = -3.5233877e-06 + x * w;
		x = -4.39150654e-06 + x * w; x = 0.00021858087 + x * w;
		x = -0.00125372503 + x * w; x = -0.00417768164 + x * w;
		x = 0.246640727 + x * w; x = 1.50140941 + x * w;
	} else {
		w = sqrt(w) - 3;
		x = -0.000200214257;
		x = 0.000100950558 + x * w; x = 0.00134934322 + x * w;
		x = -0.00367342844 + x * w; x = 0.00573950773 + x * w;
		x = -0.0076224613 + x * w; x = 0.00943887047 + x * w;
		x = 1.00167406 + x * w; x = 2.83297682 + x * w;
	}
	x *= y;
	for (int i = 0; i < 2; i++)
		x -= (erf(x) - y) / (2 / sqrt(M_PI) * exp(-x * x));
	return sqrt(2) * x;
}

enum { TM_LEQ, TM_LT, TM_GTE, TM_GT, TM_EQ, TM_NEQ, TM_MEMBER };

int lathe_rt_k_tree_ensemble(lathe_rt_call *call)
{
	if (call->nip < 7 || !have(call, 0))
		return fail(call, LATHE_RT_EINVAL, "TreeEnsemble needs X and its parameters");
	int64_t N = call->ip[0], L = call->ip[1], T = call->ip[2], K = call->ip[3];
	int agg = (int)call->ip[4], post = (int)call->ip[5];
	int64_t NM = call->ip[6];
	if (N < 0 || L < 0 || T < 0 || K < 1 || NM < 0 || call->nip != 7 + 7 * N + L + T ||
	    call->nfp != N + L + NM)
		return fail(call, LATHE_RT_EINVAL, "inconsistent tree ensemble parameters");
	const int64_t *feat = call->ip + 7, *mode = feat + N, *tn = mode + N, *fn = tn + N;
	const int64_t *tl = fn + N, *fl = tl + N, *miss = fl + N, *ltarget = miss + N, *roots = ltarget + L;
	const double *split = call->fp, *lw = split + N, *mem = lw + L;
	const lathe_tensor *X = &call->in[0];
	if (X->rank != 2)
		return fail(call, LATHE_RT_EINVAL, "X must be [batch, features]");
	int64_t nb = X->shape[0], nfeat = X->shape[1];
	for (int64_t i = 0; i < N; i++) {
		if (feat[i] < 0 || feat[i] >= nfeat || mode[i] < TM_LEQ || mode[i] > TM_MEMBER)
			return fail(call, LATHE_RT_EINVAL, "node %lld: bad feature id or mode", (long long)i);
		if (tn[i] < 0 || tn[i] >= (tl[i] ? L : N) || fn[i] < 0 || fn[i] >= (fl[i] ? L : N))
			return fail(call, LATHE_RT_EINVAL, "node %lld: child out of range", (long long)i);
	}
	for (int64_t i = 0; i < L; i++)
		if (ltarget[i] < 0 || ltarget[i] >= K)
			return fail(call, LATHE_RT_EINVAL, "leaf %lld: target out of range", (long long)i);
	for (int64_t t = 0; t < T; t++)
		if (roots[t] < 0 || roots[t] >= N)
			return fail(call, LATHE_RT_EINVAL, "tree %lld: root out of range", (long long)t);
	int64_t shape[2] = {nb, K};
	lathe_tensor *y;
	int rc = out_alloc(call, 0, X->dtype, 2, shape, &y);
	if (rc || !y)
		return rc;
	/* Where each membership node's set starts in mem (sets end at NaN). */
	int64_t *mstart = malloc(sizeof(int64_t) * (size_t)(N + 1));
	double *acc = malloc(sizeof(double) * (size_t)K);
	if (!mstart || !acc) {
		free(mstart);
		free(acc);
		return oom(call);
	}
	for (int64_t i = 0, p = 0; i < N; i++) {
		mstart[i] = p;
		if (mode[i] == TM_MEMBER) {
			while (p < NM && !isnan(mem[p]))
				p++;
			p++;
		}
	}
	double big = X->dtype == LATHE_DT_F64 ? DBL_MAX : X->dtype == LATHE_DT_F16 ? 65504.0 : FLT_MAX;
	for (int64_t r = 0; r < nb; r++) {
		for (int64_t k = 0; k < K; k++)
			acc[k] = agg == 2 ? big : agg == 3 ? -big : 0;
		for (int64_t t = 0; t < T; t++) {
			int64_t node = roots[t];
			bool leaf = tl[node] && fl[node] && tn[node] == fn[node];
			if (leaf)
				node = tn[node];
			for (int64_t steps = 0; !leaf; steps++) {
				if (steps > N) {
					free(mstart);
					free(acc);
					return fail(call, LATHE_RT_EINVAL, "tree %lld has a cycle", (long long)t);
				}
				double v = lathe_rt_load_f64(X, r * nfeat + feat[node]), s = split[node];
				bool c;
				switch (mode[node]) {
				case TM_LEQ: c = v <= s; break;
				case TM_LT: c = v < s; break;
				case TM_GTE: c = v >= s; break;
				case TM_GT: c = v > s; break;
				case TM_EQ: c = v == s; break;
				case TM_NEQ: c = v != s; break;
				default:
					c = false;
					for (int64_t p = mstart[node]; p < NM && !isnan(mem[p]); p++)
						c = c || mem[p] == v;
				}
				if (isnan(v) && miss[node])
					c = true;
				leaf = c ? tl[node] : fl[node];
				node = c ? tn[node] : fn[node];
			}
			double w = lw[node];
			int64_t k = ltarget[node];
			switch (agg) {
			case 2: acc[k] = fmin(acc[k], w); break;
			case 3: acc[k] = fmax(acc[k], w); break;
			default: acc[k] += agg == 0 ? w / (double)T : w; break;
			}
		}
		if (post == 1 || post == 3) { /* softmax (softmax_zero keeps zeros at zero) */
			double mx = -INFINITY, tot = 0;
			for (int64_t k = 0; k < K; k++)
				mx = fmax(mx, acc[k]);
			for (int64_t k = 0; k < K; k++)
				tot += (acc[k] = (post == 3 && acc[k] == 0) ? 0 : exp(acc[k] - mx));
			for (int64_t k = 0; k < K; k++)
				acc[k] = tot > 0 ? acc[k] / tot : 0;
		} else if (post == 2) {
			for (int64_t k = 0; k < K; k++)
				acc[k] = 1 / (1 + exp(-acc[k]));
		} else if (post == 4) {
			for (int64_t k = 0; k < K; k++)
				acc[k] = probit(acc[k]);
		}
		for (int64_t k = 0; k < K; k++)
			lathe_rt_store_f64(y, r * K + k, acc[k]);
	}
	free(mstart);
	free(acc);
	return LATHE_RT_OK;
}
