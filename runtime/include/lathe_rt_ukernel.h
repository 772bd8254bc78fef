/* lathe_rt_ukernel.h: the micro-kernels compiled loop programs call.
 *
 * The schedules (src/sched/tensorize.c) replace a loop nest that computes
 * exactly a matrix product or a convolution with a `call` statement of the
 * loop IR naming one of these functions; the interpreter calls them through
 * lathe_rt_uk_find, compiled code calls them by name.  Each op's meaning
 * stays defined once, by its lowering: a micro-kernel computes the same
 * sums, only in another order and with fused multiply-adds where the CPU
 * has them (so results agree with the loop nest to rounding, not to the
 * bit; they do not depend on the thread count).
 *
 * One calling convention: int f(const lathe_rt_uk_args *a).  Pointers are
 * element pointers into the caller's buffers (f32 for every kernel here),
 * and avail[i] says how many elements lie between ptr[i] and the end of
 * its buffer: each kernel checks every region it will touch against them
 * before touching anything, and returns LATHE_RT_EINVAL (1) with a reason
 * in err (when given) otherwise.  Integer and float parameters come in ip
 * and fp, laid out as the enums below say.  pool may be NULL (serial).
 * Nothing allocates: buffers the kernels pack into are scratch pointers the
 * caller provides, sized by lathe_rt_uk_sgemm_scratch.
 *
 * Kernels:
 *   sgemm   C[M,N] = epilogue(A[M,K] x B[K,N]).  A is strided or packed in
 *           panels of MR rows, B strided, packed in panels of NR columns, or
 *           an implicit im2col view of a convolution input (zero padding
 *           included); K may be the flattening of up to three loop axes.
 *   pack    packs a strided operand into panels (A: [ceil(M/MR)][K][MR],
 *           B: [ceil(N/NR)][K][NR], zero-padded), the layout sgemm takes;
 *           the compiler runs it on constant weights at compile time.
 *   wino    3x3 convolution of stride 1 by Winograd's F(4x4, 3x3), with
 *           sgemm's epilogues; its weights transformed by pack (SIDE 2).
 *   dwconv  depthwise 2-D convolution (one filter per channel) with the
 *           same epilogues.
 *   maxpool 2-D max pooling over windows of the same geometry.
 *   softmax softmax or log-softmax over the rows of a matrix.
 *   layernorm layer normalization over the rows of a matrix.
 *
 * The file is self-contained (stdint only) so that it can be pasted into
 * generated code ahead of the kernels' sources: LATHE_RT_UK_API is then
 * `static`.
 */
#ifndef LATHE_RT_UKERNEL_H
#define LATHE_RT_UKERNEL_H

#include <stddef.h>
#include <stdint.h>

#ifndef LATHE_RT_UK_API
#define LATHE_RT_UK_API
#endif

typedef struct lathe_rt_pool lathe_rt_pool;

typedef struct lathe_rt_uk_args {
	lathe_rt_pool *pool;   /* threads for the kernel; NULL: serial */
	void *const *ptr;      /* nptr element pointers */
	const int64_t *avail;  /* elements from ptr[i] to the end of its buffer */
	int nptr;
	const int64_t *ip;
	int nip;
	const double *fp;
	int nfp;
	char *err;             /* NULL, or err_size bytes for a one-line reason */
	size_t err_size;
} lathe_rt_uk_args;

typedef int (*lathe_rt_uk_fn)(const lathe_rt_uk_args *a);

/* ---- sgemm ------------------------------------------------------------------
 * Pointers: A, B, C, scratch, then one per epilogue operation that reads a
 * tensor (in order).  K = K0*K1*K2; an index k of K is (k0, k1, k2), k0
 * outermost.  Element (m, k) of a strided A is A[m*ARS + k0*AK0 + k1*AK1 +
 * k2*AK2]; of a strided B, (k, n) is B[k0*BK0 + k1*BK1 + k2*BK2 + n*BCS].
 * A packed A holds panels of MR rows, a packed B panels of NR columns
 * (lathe_rt_uk_pack's layout, by blocks of K).  C[m, n] is C[m*LDC + n].
 *
 * An im2col B is a convolution input X seen as a [K, N] matrix: with
 * ch = sum_j IM_CCj*kj, dh = sum_j IM_CHj*kj, dw = sum_j IM_CWj*kj and
 * n = oh*IM_OW + ow, h = oh*IM_SH + dh + IM_H0, w = ow*IM_SW + dw + IM_W0,
 * element (k, n) is X[ch*IM_SC + h*IM_SHS + w*IM_SWS] when 0 <= h < IM_H
 * and 0 <= w < IM_W, else 0.
 *
 * MR and NR are the register tile the caller chose
 * (lathe_rt_uk_gemm_tile); a CPU whose native tile differs still computes
 * the right result, more slowly.  MR x NR = 32 x 14 is the transposed
 * tile: it computes C^T, 14 columns of C by 32 rows, the rows on the
 * vector axis (AVX-512); A is packed in panels of 32 rows as usual, B's
 * columns go in panels of 14.  Made for convolutions with few output
 * positions (7x7) and many channels, where the native tile would waste
 * much of its width.  SLOTS is the number of threads the scratch was
 * sized for (lathe_rt_uk_sgemm_scratch). */
enum {
	LATHE_UK_FMT_STRIDED = 0,
	LATHE_UK_FMT_PACKED = 1,
	LATHE_UK_FMT_IM2COL = 2, /* B only */
};
enum {
	LATHE_UK_G_M, LATHE_UK_G_N, LATHE_UK_G_K0, LATHE_UK_G_K1, LATHE_UK_G_K2,
	LATHE_UK_G_MR, LATHE_UK_G_NR,
	LATHE_UK_G_AFMT, LATHE_UK_G_ARS, LATHE_UK_G_AK0, LATHE_UK_G_AK1, LATHE_UK_G_AK2,
	LATHE_UK_G_BFMT, LATHE_UK_G_BCS, LATHE_UK_G_BK0, LATHE_UK_G_BK1, LATHE_UK_G_BK2,
	LATHE_UK_G_LDC, LATHE_UK_G_SLOTS,
	LATHE_UK_G_IM_CC0, LATHE_UK_G_IM_CH0, LATHE_UK_G_IM_CW0,
	LATHE_UK_G_IM_CC1, LATHE_UK_G_IM_CH1, LATHE_UK_G_IM_CW1,
	LATHE_UK_G_IM_CC2, LATHE_UK_G_IM_CH2, LATHE_UK_G_IM_CW2,
	LATHE_UK_G_IM_SC, LATHE_UK_G_IM_SHS, LATHE_UK_G_IM_SWS, LATHE_UK_G_IM_H,
	LATHE_UK_G_IM_W, LATHE_UK_G_IM_OW, LATHE_UK_G_IM_SH, LATHE_UK_G_IM_SW,
	LATHE_UK_G_IM_H0, LATHE_UK_G_IM_W0,
	LATHE_UK_G_NEPI, /* epilogue operations; LATHE_UK_EPI_INTS ints each follow */
	LATHE_UK_G_FIXED
};

/* ---- epilogues ----------------------------------------------------------------
 * Applied in order to each finished sum t at (m, n) (for dwconv, m is the
 * channel and n the output position oh*OW + ow).  Each operation is three
 * ints: CODE, S1, S2.  Tensor operands are the next pointer argument:
 * ADD_M t = t + v[m*S1], ADD_N t = t + v[n*S1], ADD_MN t = t + v[m*S1 +
 * n*S2] (MUL_* alike); MAX_T t = max(t, v[m*S1 + n*S2]), MAX_TR the same
 * with v first (MIN_*, SUB_*, DIV_* alike: SUB_T t - v, SUB_TR v - t).
 * Scalar operands are fp[S1]; for MAX_S, MIN_S, SUB_S and DIV_S, S2 is 1
 * when the scalar is the operator's first operand.  SAVE keeps t aside;
 * SAVED applies operator S1 (LATHE_UK_OP_ADD ... DIV) to t and the kept
 * value (first when S2 is 1).  ERF is t = erf(t).  The order of max's and
 * min's operands decides the sign of a zero result; both return NaN when
 * either operand is NaN, as the loop IR's do. */
enum {
	LATHE_UK_EPI_ADD_M = 1, LATHE_UK_EPI_ADD_N, LATHE_UK_EPI_ADD_MN,
	LATHE_UK_EPI_MUL_M, LATHE_UK_EPI_MUL_N, LATHE_UK_EPI_MUL_MN,
	LATHE_UK_EPI_ADD_S, LATHE_UK_EPI_MUL_S, LATHE_UK_EPI_MAX_S, LATHE_UK_EPI_MIN_S,
	LATHE_UK_EPI_MAX_T, LATHE_UK_EPI_MAX_TR, LATHE_UK_EPI_MIN_T, LATHE_UK_EPI_MIN_TR,
	LATHE_UK_EPI_SUB_S, LATHE_UK_EPI_DIV_S,
	LATHE_UK_EPI_SUB_T, LATHE_UK_EPI_SUB_TR, LATHE_UK_EPI_DIV_T, LATHE_UK_EPI_DIV_TR,
	LATHE_UK_EPI_SAVE, LATHE_UK_EPI_SAVED, LATHE_UK_EPI_ERF,
	LATHE_UK_EPI_CODES
};
enum { LATHE_UK_EPI_INTS = 3, LATHE_UK_EPI_MAX = 12 };
/* Operators of SAVED, and of the parsed form below. */
enum {
	LATHE_UK_OP_ADD, LATHE_UK_OP_MUL, LATHE_UK_OP_MAX, LATHE_UK_OP_MIN, LATHE_UK_OP_SUB,
	LATHE_UK_OP_DIV, LATHE_UK_OP_ERF, LATHE_UK_OP_SAVE
};

/* ---- pack -----------------------------------------------------------------------
 * Pointers: src, dst.  SIDE 0 packs an A (rows m of M, panels of R = MR
 * rows), SIDE 1 a B (columns n of N, panels of R = NR columns): element
 * (mn, k) is src[mn*SMN + k0*SK0 + k1*SK1 + k2*SK2].  K is cut into the
 * blocks sgemm uses (at most 256, as even as possible: KC of them), and
 * the packed operand holds them one after the other, each as its panels:
 * (mn, k) goes to dst[pc*P*R + (mn/R)*kc*R + (k-pc)*R + mn%R] where pc is
 * k's block, kc its size and P = ceil(MN/R): sgemm then reads it
 * sequentially.  Rows or columns past MN are zeros.
 *
 * SIDE 2 transforms the weights of a 3x3 convolution for wino: MN is the
 * number of output channels O, K0 the input channels C, K1 = K2 = 3 (kh,
 * kw), element (o, c, kh, kw) at src[o*SMN + c*SK0 + kh*SK1 + kw*SK2];
 * dst[((p*36 + xi)*C + c)*R + r] is element xi (row-major) of the 6x6
 * G g G^T of output channel o = p*R + r's filter g for input channel c
 * (computed in double; zeros for o >= O): ceil(MN/R)*R*36*C floats. */
enum {
	LATHE_UK_P_SIDE, LATHE_UK_P_MN, LATHE_UK_P_K0, LATHE_UK_P_K1, LATHE_UK_P_K2, LATHE_UK_P_R,
	LATHE_UK_P_SMN, LATHE_UK_P_SK0, LATHE_UK_P_SK1, LATHE_UK_P_SK2,
	LATHE_UK_P_FIXED
};

/* ---- wino -------------------------------------------------------------------------
 * Pointers: U (pack SIDE 2's transform of the weights, panels of MR), X,
 * Y, scratch, then epilogue operands.  For each output channel o < O:
 * Y[o*YSC + oh*OW + ow] = epilogue(sum over c < C, kh, kw < 3 of
 * W[o][c][kh][kw] * X[c*XSC + h*XSH + w]) with h = oh + kh - PH,
 * w = ow + kw - PW, zero where (h, w) is outside [0,H) x [0,W); the
 * epilogue's m is o and n is oh*OW + ow.  MR x NR is sgemm's register
 * tile the products run on; SLOTS the threads the scratch is sized for
 * (lathe_rt_uk_wino_scratch).  Computed with Winograd's F(4x4, 3x3): the
 * sums differ from the direct ones by rounding, more than sgemm's
 * (runtime/src/ukernel_wino.c). */
enum {
	LATHE_UK_W_C, LATHE_UK_W_H, LATHE_UK_W_W, LATHE_UK_W_XSC, LATHE_UK_W_XSH,
	LATHE_UK_W_O, LATHE_UK_W_OH, LATHE_UK_W_OW, LATHE_UK_W_YSC, LATHE_UK_W_PH, LATHE_UK_W_PW,
	LATHE_UK_W_MR, LATHE_UK_W_NR, LATHE_UK_W_SLOTS, LATHE_UK_W_NEPI,
	LATHE_UK_W_FIXED
};

/* ---- dwconv -----------------------------------------------------------------------
 * Pointers: X, W, Y, then epilogue operands.  For each channel c of C:
 * Y[c*YSC + oh*OW + ow] = epilogue(sum over kh < KH, kw < KW of
 * W[c*WSC + kh*KW + kw] * X[c*XSC + h*XSH + w]) with h = oh*SH + kh*DH - PH,
 * w = ow*SW + kw*DW - PW, zero where (h, w) is outside [0,H) x [0,W). */
enum {
	LATHE_UK_D_C, LATHE_UK_D_H, LATHE_UK_D_W, LATHE_UK_D_OH, LATHE_UK_D_OW,
	LATHE_UK_D_KH, LATHE_UK_D_KW, LATHE_UK_D_SH, LATHE_UK_D_SW, LATHE_UK_D_DH, LATHE_UK_D_DW,
	LATHE_UK_D_PH, LATHE_UK_D_PW, LATHE_UK_D_XSC, LATHE_UK_D_XSH, LATHE_UK_D_WSC, LATHE_UK_D_YSC,
	LATHE_UK_D_NEPI,
	LATHE_UK_D_FIXED
};

/* ---- maxpool ----------------------------------------------------------------------
 * dwconv's integer parameters (WSC is not used); pointers X, Y, then
 * epilogue operands.  Y[c*YSC + oh*OW + ow] = epilogue(m) where m starts
 * at -inf and becomes max(m, X[c*XSC + h*XSH + w]) for each (kh, kw) in
 * order whose (h, w) (as for dwconv) is inside the image; max as the loop
 * IR's: NaN if either operand is. */

/* ---- softmax ----------------------------------------------------------------------
 * Pointers: X, Y.  For each row r < ROWS, with x = X[r*XRS + j] and
 * y = Y[r*YRS + j] (j < N), m the row's max (the loop IR's: NaN if any
 * element is) and s the sum of exp(x - m): y = exp(x - m) / s (LOG 0) or
 * (x - m) - log(s) (LOG 1).  Rows of Y must not overlap; Y may be X. */
enum {
	LATHE_UK_S_ROWS, LATHE_UK_S_N, LATHE_UK_S_XRS, LATHE_UK_S_YRS, LATHE_UK_S_LOG,
	LATHE_UK_S_FIXED
};

/* ---- layernorm ----------------------------------------------------------------------
 * softmax's integer parameters, LOG read as BIAS (0 or 1); fp[0] is eps.
 * Pointers: X, Y, scale, then bias when BIAS is 1.  For each row, with x
 * and y as for softmax, mean = sum(x)/N, var = sum((x - mean)^2)/N and
 * inv = 1/sqrt(var + eps): y[j] = (x[j] - mean) * inv * scale[j]
 * (+ bias[j]). */

/* The kernel of that name ("sgemm", "sgemv", "pack", "wino", "dwconv",
 * "maxpool", "softmax", "layernorm"), or NULL; with
 * out_dtype (may be NULL), the element type its pointers must have. */
LATHE_RT_UK_API lathe_rt_uk_fn lathe_rt_uk_find(const char *name, int32_t *out_dtype);

LATHE_RT_UK_API int lathe_rt_uk_sgemm(const lathe_rt_uk_args *a);
LATHE_RT_UK_API int lathe_rt_uk_pack(const lathe_rt_uk_args *a);
LATHE_RT_UK_API int lathe_rt_uk_dwconv(const lathe_rt_uk_args *a);
LATHE_RT_UK_API int lathe_rt_uk_maxpool(const lathe_rt_uk_args *a);
/* sgemm with M = 1 (ukernel_gemv.c): sgemm's arguments, A and B strided
 * (LATHE_UK_FMT_STRIDED), no im2col; the scratch pointer is not used. */
LATHE_RT_UK_API int lathe_rt_uk_sgemv(const lathe_rt_uk_args *a);
LATHE_RT_UK_API int lathe_rt_uk_softmax(const lathe_rt_uk_args *a);
LATHE_RT_UK_API int lathe_rt_uk_wino(const lathe_rt_uk_args *a);
LATHE_RT_UK_API int lathe_rt_uk_layernorm(const lathe_rt_uk_args *a);

/* The register tile (MR rows, NR columns) for vectors of vector_bytes
 * (16, 32, 64): the shape the CPU's fastest kernel computes. */
LATHE_RT_UK_API void lathe_rt_uk_gemm_tile(int vector_bytes, int *mr, int *nr);
/* Elements of scratch an sgemm with these integer parameters needs (the
 * caller's ip, NEPI may be 0); -1 if they are invalid. */
LATHE_RT_UK_API int64_t lathe_rt_uk_sgemm_scratch(const int64_t *ip, int nip);
/* The same for wino. */
LATHE_RT_UK_API int64_t lathe_rt_uk_wino_scratch(const int64_t *ip, int nip);

/* ---- shared by the runtime's ukernel files (not for callers) ------------------ */

/* A parsed epilogue, normalized: operation e is t = op(t, x) (op(x, t)
 * when rev), x = v[m*sm + n*sn] for a tensor operand (checked against its
 * avail), the kept value when saved, else f; ERF and SAVE take no x. */
typedef struct lathe_rt_uk_epi {
	int n;
	uint8_t op[LATHE_UK_EPI_MAX], rev[LATHE_UK_EPI_MAX], saved[LATHE_UK_EPI_MAX];
	const float *v[LATHE_UK_EPI_MAX];
	int64_t sm[LATHE_UK_EPI_MAX], sn[LATHE_UK_EPI_MAX];
	float f[LATHE_UK_EPI_MAX];
	int unit;   /* every tensor operand has sn 0 or 1 */
	int simple; /* only add, mul, max and min of tensors and scalars */
	/* this CPU's function for a block of rows (lathe_rt_uk_epi_rows calls it) */
	void (*rows)(const struct lathe_rt_uk_epi *ep, float *c, int64_t ldc, int64_t nrows,
		     int64_t n, int64_t m0, int64_t n0);
} lathe_rt_uk_epi;

/* Computes a tile of MR x NR: c[i*ldc + j] (+)= sum over k < kc of
 * a[k*MR + i] * B(k, j) for i < m, j < n (m <= MR, n <= NR), where B(k, j)
 * is b[k*NR + j] (a packed panel) or, with boff, b[boff[k] + j] (rows read
 * in place; all NR columns of each are read, whatever n); adds to c when
 * accumulate is set; then, when ep is given, applies it (the tile's first
 * row is m0 of the matrix, its first column n0). */
typedef void (*lathe_rt_uk_tile_fn)(int64_t kc, const float *a, const float *b,
				    const int64_t *boff, float *c, int64_t ldc, int m, int n,
				    int accumulate, const lathe_rt_uk_epi *ep, int64_t m0, int64_t n0);
/* The tile kernel for (mr, nr) on this CPU, or NULL when no native kernel
 * has that shape. */
LATHE_RT_UK_API lathe_rt_uk_tile_fn lathe_rt_uk_tile_kernel(int mr, int nr);
/* The same tile, prefetching B's packed panel rather than A's (B streamed
 * from memory, A hot in the caches); the same sums, bit for bit. */
LATHE_RT_UK_API lathe_rt_uk_tile_fn lathe_rt_uk_tile_kernel_pfb(int mr, int nr);
/* The same computation for any (mr, nr), in plain loops (what runs when
 * lathe_rt_uk_tile_kernel has no kernel of that shape). */
LATHE_RT_UK_API void lathe_rt_uk_any_tile(int mr, int nr, int64_t kc, const float *a,
					  const float *b, const int64_t *boff, float *c, int64_t ldc,
					  int m, int n, int accumulate, const lathe_rt_uk_epi *ep,
					  int64_t m0, int64_t n0);
/* The native tile on this CPU. */
LATHE_RT_UK_API void lathe_rt_uk_native_tile(int *mr, int *nr);
/* dst[j] = 0 <= w + j < W ? row[w + j] : 0 for j < len (row[w + j] is
 * only read where it is inside). */
typedef void (*lathe_rt_uk_copy_fn)(float *dst, const float *row, int64_t w, int64_t len,
				    int64_t W);
LATHE_RT_UK_API lathe_rt_uk_copy_fn lathe_rt_uk_copy_kernel(void);
/* One panel of a B whose rows are contiguous: dst[k*nr + j] =
 * src[off[k] + j] for j < cols, 0 for cols <= j < nr, k < kc (nr <= 64). */
typedef void (*lathe_rt_uk_panel_fn)(float *dst, const float *src, const int64_t *off,
				     int64_t kc, int nr, int cols);
LATHE_RT_UK_API lathe_rt_uk_panel_fn lathe_rt_uk_panel_kernel(void);
/* A panel gathered at fixed columns: dst[k*nr + j] = src[off[k] + col[j]]
 * for j < nr, k < kc (nr <= 16; only those elements are read): the
 * transposed tile's panels of output positions, from a convolution's
 * padded planes. */
typedef void (*lathe_rt_uk_gather_fn)(float *dst, const float *src, const int64_t *off,
				      int64_t kc, int nr, const int64_t *col);
LATHE_RT_UK_API lathe_rt_uk_gather_fn lathe_rt_uk_gather_kernel(void);
/* The epilogue function for this CPU (NULL: lathe_rt_uk_epi_rows' own
 * loops). */
LATHE_RT_UK_API void (*lathe_rt_uk_epi_rows_kernel(void))(const struct lathe_rt_uk_epi *ep,
							    float *c, int64_t ldc, int64_t nrows,
							    int64_t n, int64_t m0, int64_t n0);

/* c[i*ldc + j] = t[j*ldt + i] for i < m, j < n, then ep's operations on
 * them as lathe_rt_uk_epi_rows(ep, c, ldc, m, n, m0, n0) would apply them
 * (ep may be NULL): the transposed tile's sums (C^T) to C. */
typedef void (*lathe_rt_uk_untrans_fn)(float *c, int64_t ldc, const float *t, int64_t ldt,
				       int64_t m, int64_t n, const struct lathe_rt_uk_epi *ep,
				       int64_t m0, int64_t n0);
LATHE_RT_UK_API lathe_rt_uk_untrans_fn lathe_rt_uk_untrans_kernel(void);

/* y[j] = sum over taps t < ntap, in order, of w[t] * row[t][off[t] + j]
 * for j < n, where tap t counts only for lo[t] <= j < hi[t] (row[t] is
 * read nowhere else): depthwise convolution's rows.  With ep (whose
 * operands must not depend on n), each sum gets ep's row m before it is
 * stored. */
typedef void (*lathe_rt_uk_taps_fn)(float *y, int64_t n, const float *const *row,
				    const int64_t *off, const float *w, const int64_t *lo,
				    const int64_t *hi, int ntap, const struct lathe_rt_uk_epi *ep,
				    int64_t m);
LATHE_RT_UK_API lathe_rt_uk_taps_fn lathe_rt_uk_taps_kernel(void);
/* y[j] = sum over taps t < ntap, in order, of w[t] * src[j + off[t]] for
 * j < n, where tap t counts only in the lanes of mask[(j/16)*ntap + t]
 * (bit j%16; src is read nowhere else): depthwise convolution over a
 * channel's flat run of outputs.  ep as for the taps kernel.  NULL where
 * the CPU has no such kernel (it needs masked loads). */
typedef void (*lathe_rt_uk_dwflat_fn)(float *y, int64_t n, const float *src, const int64_t *off,
				      const float *w, int ntap, const uint16_t *mask,
				      const struct lathe_rt_uk_epi *ep, int64_t m);
LATHE_RT_UK_API lathe_rt_uk_dwflat_fn lathe_rt_uk_dwflat_kernel(void);
/* Three columns of taps, stride 2 across, from the image in place, for
 * channels m0 .. m0 + nch - 1 (x, w and y advanced by XSC, WSC and YSC per
 * channel): y[oh*OW + ow] = sum over kh < nkh and kw < 3, in that order, of
 * w[3*kh + kw] * x[h*XSH + c] with h = oh*SH + hoff[kh] and
 * c = 2*ow + off0 + kw, where (h, c) counts only inside [0, H) x [0, W);
 * then ep's operations with splat operands (of the channel's row m) when
 * ep is given.  Reads only inside the image.  NULL where the CPU lacks
 * AVX-512. */
typedef void (*lathe_rt_uk_dw3s2_fn)(float *y, int64_t OH, int64_t OW, const float *x,
				     int64_t H, int64_t W, int64_t XSH, int64_t SH,
				     const int64_t *hoff, int nkh, int64_t off0, const float *w,
				     const struct lathe_rt_uk_epi *ep, int64_t m0, int64_t nch,
				     int64_t XSC, int64_t WSC, int64_t YSC);
LATHE_RT_UK_API lathe_rt_uk_dw3s2_fn lathe_rt_uk_dw3s2_kernel(void);
/* The same with stride 1 across: c = ow + off0 + kw (SH, hoff, nkh as
 * there).  NULL where the CPU lacks AVX-512. */
LATHE_RT_UK_API lathe_rt_uk_dw3s2_fn lathe_rt_uk_dw3s1_kernel(void);
/* y[oh*OW + ow] for oh < OH, ow < OW: the max (the loop IR's: NaN if
 * either is), over kh < nkh and kw < nkw in order, of x[h*XSH + w] with
 * h = oh*SH + hoff[kh], w = ow*SW + off[kw] where (h, w) is inside
 * [0, H) x [0, W); -inf when none is.  SW must be 1 or 2 and nkw at most
 * 64.  NULL where the CPU has no such kernel. */
typedef void (*lathe_rt_uk_maxplane_fn)(float *y, int64_t OH, int64_t OW, const float *x,
					int64_t H, int64_t W, int64_t XSH, int64_t SH,
					const int64_t *hoff, int nkh, int64_t SW, const int64_t *off,
					int nkw);
LATHE_RT_UK_API lathe_rt_uk_maxplane_fn lathe_rt_uk_maxplane_kernel(void);
/* even[i] = src[2i], odd[i] = src[2i + 1] for 2i (2i + 1) < n. */
typedef void (*lathe_rt_uk_deint_fn)(float *even, float *odd, const float *src, int64_t n);
LATHE_RT_UK_API lathe_rt_uk_deint_fn lathe_rt_uk_deint_kernel(void);

/* The loop IR's max: b where b > a, NaN where either is (a's NaN first). */
static inline float lathe_rt_uk_maxf(float a, float b)
{
	if (a != a || b != b)
		return a != a ? a : b;
	return b > a ? b : a;
}

/* Reads nepi operations from a->ip[at..], their tensors from a->ptr[p0..],
 * for rows M and columns N; 0, or 1 with a->err set. */
LATHE_RT_UK_API int lathe_rt_uk_epi_parse(const lathe_rt_uk_args *a, int at, int64_t nepi, int p0,
					  int64_t M, int64_t N, lathe_rt_uk_epi *ep);
/* Applies it to c[i*ldc + j] for i < nrows, j < n: rows m0.., columns
 * n0.. of the matrix. */
LATHE_RT_UK_API void lathe_rt_uk_epi_rows(const lathe_rt_uk_epi *ep, float *c, int64_t ldc,
					  int64_t nrows, int64_t n, int64_t m0, int64_t n0);
/* Runs fn(ctx, 0..n) on the pool (its first member is its parallel_for:
 * lathe_rt.h), or inline without one. */
LATHE_RT_UK_API void lathe_rt_uk_pfor(lathe_rt_pool *p, int64_t n,
				      void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx);
/* The pool's threads (its second member: lathe_rt.h); 1 without one. */
LATHE_RT_UK_API int lathe_rt_uk_threads(const lathe_rt_pool *p);
/* Bands of output rows a plane kernel (depthwise convolution, pooling)
 * cuts each channel's OH rows into on pool p: one per thread on planes of
 * LATHE_UK_BAND_ROWS rows or more, where a second call per channel costs
 * little next to its rows (each thread then keeps the same rows in every
 * layer: kernels order their items by position), else one (channels are
 * shared out instead). */
enum { LATHE_UK_BAND_ROWS = 28 };
LATHE_RT_UK_API int64_t lathe_rt_uk_bands(const lathe_rt_pool *p, int64_t OH);
/* Items [0, items) cut into one contiguous run per slot (up to
 * LATHE_RT_UK_RUNS): slot s takes the items of its own run, then what is
 * left of the others', in turn (sgemm's tasks, wino's items).  With the
 * pool's threads each on its own slot, a thread takes the same part of
 * every layer, and a slowed one holds the others up by one item. */
enum { LATHE_RT_UK_RUNS = 64 };
typedef struct lathe_rt_uk_runs {
	int n;
	int64_t end[LATHE_RT_UK_RUNS];
	_Atomic long long next[LATHE_RT_UK_RUNS];
} lathe_rt_uk_runs;
LATHE_RT_UK_API void lathe_rt_uk_runs_init(lathe_rt_uk_runs *r, int64_t items, int64_t slots);
/* Slot s's next item, or -1 when none is left; *k (0 at first) is the
 * run it has got to, counted from its own. */
LATHE_RT_UK_API int64_t lathe_rt_uk_runs_take(lathe_rt_uk_runs *r, int64_t s, int *k);
/* pack SIDE 2 (ukernel_wino.c): dst of ceil(O/R)*R*36*C floats from a
 * 3x3 filter bank at src[o*so + c*sc + kh*skh + kw*skw]. */
LATHE_RT_UK_API void lathe_rt_uk_wino_pack(float *dst, const float *src, int64_t O, int64_t C,
					   int64_t R, int64_t so, int64_t sc, int64_t skh, int64_t skw);
/* 0 when need[i] <= a->avail[i] for i < n, else kernel's refusal naming
 * what[i]. */
LATHE_RT_UK_API int lathe_rt_uk_need(const lathe_rt_uk_args *a, const char *kernel, int n,
				     const int64_t *need, const char *const *what);
/* Writes the printf-formatted reason into a->err (when given) and returns
 * LATHE_RT_EINVAL (1): every kernel's refusal. */
LATHE_RT_UK_API int lathe_rt_uk_fail(const lathe_rt_uk_args *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
