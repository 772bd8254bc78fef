/* kernels.c: extern kernel calls in compiled modules.
 *
 * An op whose meaning lives in a runtime kernel (TopK, RNN/GRU/LSTM, DFT,
 * RoiAlign...) has a kernel function in src/ops that packs the node's
 * attributes into the kernel's parameter arrays and calls it through
 * lathe_kernel_call_rt.  To compile such a node, that same function is run
 * in capture mode: lathe_kernel_call_rt records which runtime kernel and
 * which parameters instead of running anything, so a node's parameters are
 * computed by exactly the code the interpreter uses and cannot drift.  The
 * compiled call then passes outputs the memory planner placed, and an
 * `alloc` callback that only accepts the planned shape.
 *
 * A kernel function that finishes without calling a runtime kernel computes
 * in the compiler (Identity, sequences, strings, label encoders): such ops
 * cannot be compiled and say so.
 */
#include "module/internal.h"

#include <string.h>

#include "lathe_rt_k_index.h"
#include "lathe_rt_k_misc.h"
#include "lathe_rt_k_nn.h"

/* Every runtime kernel a module may call: its address (to recognize the
 * capture), its C name and the runtime source that defines it. */
static const struct {
	lathe_rt_kernel fn;
	const char *name, *file;
} kernels[] = {
#define K(fn, file) {fn, #fn, file}
	K(lathe_rt_k_compress, "k_index.c"),
	K(lathe_rt_k_nonzero, "k_index.c"),
	K(lathe_rt_k_topk, "k_index.c"),
	K(lathe_rt_k_unique, "k_index.c"),
	K(lathe_rt_k_nms, "k_index.c"),
	K(lathe_rt_k_bitcast, "k_misc.c"),
	K(lathe_rt_k_rnn, "k_misc.c"),
	K(lathe_rt_k_dft, "k_misc.c"),
	K(lathe_rt_k_stft, "k_misc.c"),
	K(lathe_rt_k_mel, "k_misc.c"),
	K(lathe_rt_k_random, "k_misc.c"),
	K(lathe_rt_k_tree_ensemble, "k_misc.c"),
	K(lathe_rt_k_deform_conv, "k_nn.c"),
	K(lathe_rt_k_roi_align, "k_nn.c"),
	K(lathe_rt_k_max_roi_pool, "k_nn.c"),
	K(lathe_rt_k_det, "k_nn.c"),
#undef K
};

const char *mod_kernel_file(const char *rt_symbol)
{
	for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
		if (!strcmp(kernels[i].name, rt_symbol))
			return kernels[i].file;
	return NULL;
}

/* The run-time value the kernel function sees for input vid v: a constant's
 * tensor, or a zeroed tensor of v's static type.  Kernel functions read the
 * data of parameter inputs alone (constants, checked by the caller), but a
 * tensor with real storage keeps one that reads more from reading out of
 * bounds. */
static lathe_err capture_input(mod_unit *u, lathe_vid v, lathe_rvalue *out)
{
	if (v == LATHE_NOVAL) {
		*out = (lathe_rvalue){.kind = LATHE_TY_TENSOR};
		return NULL;
	}
	const lathe_value *val = &u->g->values.data[v];
	if (val->def == LATHE_DEF_CONST) {
		*out = (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = val->konst->dtype,
				      .t = val->konst};
		return NULL;
	}
	int rank = val->type.rank;
	int64_t *shape = lathe_arena_new(u->arena, int64_t, rank + 1);
	for (int d = 0; d < rank; d++)
		shape[d] = val->type.dims[d].size;
	lathe_tensor *t;
	LATHE_TRY(lathe_tensor_alloc(u->arena, val->type.dtype, rank, shape, &t));
	*out = (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = t->dtype, .t = t};
	return NULL;
}

lathe_err mod_kernel_step(mod_unit *u, lathe_node *n, mod_step *out)
{
	const lathe_op_info *op = &lathe_ops[n->op];
	if (!op->kernel)
		return lathe_error(LATHE_EINTERNAL, "%s has no kernel", op->name);
	/* Parameter inputs become constants in the recorded call: they must be
	 * constants already. */
	for (int i = 0; i < n->nin && i < 32; i++) {
		if (!(op->params >> i & 1) || n->in[i] == LATHE_NOVAL)
			continue;
		const lathe_value *v = &u->g->values.data[n->in[i]];
		if (v->def != LATHE_DEF_CONST)
			return lathe_error(LATHE_EUNSUPPORTED, "input %d ('%s') sets the kernel's "
					   "parameters but is computed at run time; compiled modules "
					   "need it constant", i, v->name);
	}
	lathe_rvalue *in = lathe_arena_new(u->arena, lathe_rvalue, n->nin + 1);
	lathe_rvalue *outs = lathe_arena_new(u->arena, lathe_rvalue, n->nout + 1);
	for (int i = 0; i < n->nin; i++)
		LATHE_TRYF(capture_input(u, n->in[i], &in[i]), "input %d", i);
	lathe_rt_capture cap = {0};
	lathe_kernel_ctx kc = {.graph = u->g, .node = n, .nin = n->nin, .nout = n->nout,
			       .in = in, .out = outs, .arena = u->arena, .capture = &cap};
	LATHE_TRY(op->kernel(&kc));
	if (!cap.fn)
		return lathe_error(LATHE_EUNSUPPORTED,
				   "%s runs only in the interpreter (its kernel is compiler code, not a "
				   "runtime kernel); compiled modules cannot contain it yet",
				   op->name);
	const char *name = NULL;
	for (size_t i = 0; i < sizeof kernels / sizeof kernels[0] && !name; i++)
		if (kernels[i].fn == cap.fn)
			name = kernels[i].name;
	if (!name)
		return lathe_error(LATHE_EINTERNAL,
				   "%s calls a runtime kernel missing from src/module/kernels.c's table",
				   op->name);
	*out = (mod_step){.kind = STEP_KERNEL, .rt_symbol = name, .nin = n->nin, .nout = n->nout,
			  .in = n->in, .out = n->out, .ip = cap.ip, .nip = cap.nip, .fp = cap.fp,
			  .nfp = cap.nfp, .sp = cap.sp, .nsp = cap.nsp};
	return NULL;
}
