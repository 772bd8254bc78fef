/* lathe_rt_k_index.h: extern kernels of the indexing ops whose output size
 * depends on the data or whose meaning is a sort or a greedy selection.
 *
 * These are the runtime half of Compress, NonZero, TopK, Unique and
 * NonMaxSuppression (the compiler half, in src/ops/index.c, packs the
 * node's attributes into ip[]).  They depend on libc and lathe_rt.h alone.
 * Inputs come in the op's ONNX order, missing optional inputs with
 * data == NULL.  Outputs not allocated by the caller (data == NULL) are
 * sized here through call->alloc; outputs the caller allocated must have the
 * shape the kernel computes, or the kernel fails with LATHE_RT_EINVAL.
 *
 * Integer parameters (ip[]), per kernel:
 *   compress: [has_axis (0/1), axis]
 *   nonzero:  none
 *   topk:     [axis, largest (0/1), sorted (0/1)]   (k is input 1)
 *   unique:   [has_axis (0/1), axis, sorted (0/1)]
 *   nms:      [center_point_box (0/1)]
 * Axes may be negative (counted from the end).
 */
#ifndef LATHE_RT_K_INDEX_H
#define LATHE_RT_K_INDEX_H

#include "lathe_rt.h"

int lathe_rt_k_compress(lathe_rt_call *call);
int lathe_rt_k_nonzero(lathe_rt_call *call);
int lathe_rt_k_topk(lathe_rt_call *call);
int lathe_rt_k_unique(lathe_rt_call *call);
int lathe_rt_k_nms(lathe_rt_call *call);

#endif
