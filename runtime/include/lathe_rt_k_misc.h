/* lathe_rt_k_misc.h: extern kernels of the miscellaneous ops (recurrent
 * nets, signal processing, random numbers, tree ensembles, BitCast).
 *
 * Each kernel follows lathe_rt.h's calling convention: inputs in the ONNX
 * order (a missing optional input has data == NULL), every output sized by
 * the kernel through call->alloc, attributes in ip/fp/sp in the order given
 * here.  Kernels compute in double and convert on store, so they accept
 * every float type the runtime can load and store.  Scratch memory comes
 * from malloc and is freed before return; failures return LATHE_RT_ENOMEM.
 */
#ifndef LATHE_RT_K_MISC_H
#define LATHE_RT_K_MISC_H

#include "lathe_rt.h"

/* BitCast.  ip: [to dtype].  Same bit width; the bytes are kept (sub-byte
 * types: their low bits), bool output normalizes to 0/1. */
int lathe_rt_k_bitcast(lathe_rt_call *call);

/* RNN, GRU and LSTM.  Inputs: X, W, R, B?, sequence_lens?, initial_h?,
 * initial_c? (LSTM), P? (LSTM).  Outputs: Y, Y_h, Y_c (LSTM).
 * ip: [cell (0 RNN, 1 GRU, 2 LSTM), hidden_size, direction (0 forward,
 *      1 reverse, 2 bidirectional), layout, linear_before_reset,
 *      input_forget, nact]
 * fp: [clip (<= 0: none), alpha[0..nact), beta[0..nact)] (NaN: the
 *      activation's default)
 * sp: nact activation names (per direction, forward first), or none for
 *     the cell's defaults. */
enum { LATHE_RT_RNN = 0, LATHE_RT_GRU = 1, LATHE_RT_LSTM = 2 };
int lathe_rt_k_rnn(lathe_rt_call *call);

/* DFT.  Inputs: x [..., n, ..., 1|2] (real or complex in the last dim).
 * ip: [axis (normalized, not the last), inverse, onesided, dft_length
 *      (<= 0: default)].  One-sided inverse input gives a real output. */
int lathe_rt_k_dft(lathe_rt_call *call);

/* STFT.  Inputs: signal [batch, length, 1|2], (frame_step), window?.
 * ip: [onesided, frame_step, frame_length]. */
int lathe_rt_k_stft(lathe_rt_call *call);

/* MelWeightMatrix.  Inputs: num_mel_bins, dft_length, sample_rate,
 * lower_edge_hertz, upper_edge_hertz (scalars).  ip: [output dtype]. */
int lathe_rt_k_mel(lathe_rt_call *call);

/* Random numbers.  Inputs: none (RandomUniform/Normal), a shape donor
 * (*Like), probabilities (Bernoulli) or logits [batch, classes]
 * (Multinomial).
 * ip: [kind (enum below), output dtype, has_seed, sample_size, rank,
 *      shape[rank]]   (shape only for RandomUniform/RandomNormal)
 * fp: [seed, low|mean, high|scale] */
enum {
	LATHE_RT_RAND_UNIFORM = 0,
	LATHE_RT_RAND_NORMAL = 1,
	LATHE_RT_RAND_BERNOULLI = 2,
	LATHE_RT_RAND_MULTINOMIAL = 3,
};
int lathe_rt_k_random(lathe_rt_call *call);

/* TreeEnsemble (ai.onnx.ml).  Input: X [batch, features].  Output
 * [batch, n_targets] of X's type.
 * ip: [n_nodes, n_leaves, n_trees, n_targets, aggregate (0 average, 1 sum,
 *      2 min, 3 max), post_transform (0 none, 1 softmax, 2 logistic,
 *      3 softmax_zero, 4 probit), n_members,
 *      featureids[N], modes[N], truenodeids[N], falsenodeids[N],
 *      trueleafs[N], falseleafs[N], missing_tracks_true[N],
 *      leaf_targetids[L], tree_roots[T]]
 * fp: [splits[N], leaf_weights[L], membership_values[n_members]] */
int lathe_rt_k_tree_ensemble(lathe_rt_call *call);

#endif
