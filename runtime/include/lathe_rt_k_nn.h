/* lathe_rt_k_nn.h: the runtime's extern kernels of the convolution, pooling
 * and linear-algebra ops whose meaning needs data-dependent control
 * (sampling at data-given positions, per-ROI window sizes, pivoting).
 *
 * Calling convention: lathe_rt.h's lathe_rt_call.  Every kernel sizes its
 * outputs through call->alloc, computes in double and stores with ONNX's
 * Cast rounding; it returns LATHE_RT_EINVAL with a reason in call->err for
 * inconsistent shapes or out-of-range data (a batch index past the batch),
 * never reading out of bounds.  Parameters, in order:
 *
 * lathe_rt_k_deform_conv   in: X [N,C,s...], W [M,C/group,k...],
 *                          offset [N, offset_group*K*n, o...], B [M]?,
 *                          mask [N, offset_group*K, o...]?  (K = prod k)
 *                          ip: group, offset_group, n (spatial dims),
 *                          strides[n], dilations[n], pads_begin[n], out[n]
 *                          out: Y [N,M,o...]
 * lathe_rt_k_roi_align     in: X [N,C,H,W], rois [R,4], batch_indices [R]
 *                          ip: output_height, output_width, sampling_ratio,
 *                          mode (0 avg, 1 max), half_pixel (1, else 0)
 *                          fp: spatial_scale
 *                          out: Y [R,C,output_height,output_width]
 * lathe_rt_k_max_roi_pool  in: X [N,C,H,W], rois [R,5] (batch, x1,y1,x2,y2)
 *                          ip: pooled_h, pooled_w   fp: spatial_scale
 *                          out: Y [R,C,pooled_h,pooled_w]
 * lathe_rt_k_det           in: X [..., n, n]   out: Y [...]
 *                          (LU factorization with partial pivoting)
 */
#ifndef LATHE_RT_K_NN_H
#define LATHE_RT_K_NN_H

#include "lathe_rt.h"

int lathe_rt_k_deform_conv(lathe_rt_call *call);
int lathe_rt_k_roi_align(lathe_rt_call *call);
int lathe_rt_k_max_roi_pool(lathe_rt_call *call);
int lathe_rt_k_det(lathe_rt_call *call);

#endif
