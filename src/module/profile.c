/* profile.c: what each step of a compiled module is, for profilers.
 *
 * After compile.c has built and placed the steps, mod_profile_steps
 * describes each one in the manifest (`step KIND FLOPS OPS NODE` lines):
 * the kind is the loop program's schedule class (conv, matmul, ...), with
 * conv_winograd for a convolution that runs Winograd's algorithm (the
 * wino micro-kernel: its GFLOP/s counts the direct convolution's FLOPs,
 * not the ones it executes), or "kernel" / "copy"; FLOPs are counted from the graph at compile time, so
 * `lathe bench --profile` (and anyone reading module.txt) can turn a
 * step's measured time into GFLOP/s without knowing the graph.
 *
 * FLOPs follow the usual convention for a model's cost: 2 x the
 * multiply-adds of Conv, ConvTranspose, MatMul and Gemm nodes, and 0 for
 * every other op (their arithmetic is small and their speed is bound by
 * memory, so a FLOP rate says little about them).  A fused group counts
 * all of its nodes.  Requires: static shapes on every value (compile.c
 * has checked them); an unexpected shape counts 0, never a failure.
 */
#include "module/internal.h"

#include <string.h>

#include "lower/group.h"
#include "sched/sched.h"

/* Element count of a value, -1 when not a static tensor. */
static int64_t numel(const lathe_graph *g, lathe_vid v)
{
	if (v == LATHE_NOVAL)
		return -1;
	return lathe_type_numel(&g->values.data[v].type);
}

static int64_t dim(const lathe_graph *g, lathe_vid v, int d)
{
	const lathe_type *t = &g->values.data[v].type;
	if (d < 0)
		d += t->rank;
	return d >= 0 && d < t->rank ? t->dims[d].size : -1;
}

/* 2 x multiply-adds of one node (0 for ops that do not count). */
static uint64_t node_flops(const lathe_graph *g, const lathe_node *n)
{
	if (n->nin < 2 || n->nout < 1)
		return 0;
	int64_t out = numel(g, n->out[0]), w = numel(g, n->in[1]), k = -1;
	switch (n->op) {
	case LATHE_OP_Conv: /* each output: (C/group) x kernel MACs, numel(W)/M */
		k = dim(g, n->in[1], 0) > 0 && w >= 0 ? w / dim(g, n->in[1], 0) : -1;
		break;
	case LATHE_OP_ConvTranspose: { /* each input: (M/group) x kernel MACs */
		int64_t c = dim(g, n->in[1], 0);
		out = numel(g, n->in[0]);
		k = c > 0 && w >= 0 ? w / c : -1;
		break;
	}
	case LATHE_OP_MatMul:
		k = dim(g, n->in[0], -1);
		break;
	case LATHE_OP_Gemm:
		k = dim(g, n->in[0], lathe_node_attr_int(n, "transA", 0) ? 0 : 1);
		break;
	default:
		return 0;
	}
	if (out <= 0 || k <= 0 || out > INT64_MAX / 2 / k)
		return 0;
	return 2 * (uint64_t)out * (uint64_t)k;
}

/* "Conv+Add+Relu": the ops in order, a repeat of the previous op folded,
 * at most 6 named ("+..." for the rest).  No spaces: it is one field of a
 * manifest line. */
static const char *ops_text(lathe_arena *a, const lathe_graph *g, size_t first, size_t count)
{
	lathe_buf b = {0};
	int named = 0, last = -1;
	bool more = false;
	for (size_t k = first; k < first + count; k++) {
		const lathe_node *n = &g->nodes.data[k];
		if (n->dead || n->op == last)
			continue;
		last = n->op;
		if (named == 6) {
			more = true;
			continue;
		}
		lathe_buf_printf(&b, "%s%s", named ? "+" : "", lathe_op_name(n->op));
		named++;
	}
	if (more)
		lathe_buf_puts(&b, "+...");
	const char *s = lathe_arena_strdup(a, b.data ? b.data : "-");
	lathe_buf_free(&b);
	return s;
}

void mod_profile_steps(mod_unit *u)
{
	lathe_manifest *m = &u->manifest;
	const lathe_graph *g = u->g;
	m->nsteps = (int)u->steps.len;
	m->steps = lathe_arena_new(u->arena, lathe_module_step, u->steps.len + 1);
	for (size_t s = 0; s < u->steps.len; s++) {
		const mod_step *st = &u->steps.data[s];
		lathe_module_step *ps = &m->steps[s];
		size_t first = 0, count = 0;
		if (st->node >= 0 && (size_t)st->node < g->nodes.len) {
			lathe_group_range(g, (size_t)st->node, &first, &count);
			if (st->kind != STEP_FUNC) /* a kernel call or copy is one node */
				first = (size_t)st->node, count = 1;
		}
		ps->kind = st->kind == STEP_FUNC ? lathe_sched_class_name(st->fn->sched_class)
			   : st->kind == STEP_KERNEL ? "kernel" : "copy";
		if (st->kind == STEP_FUNC && lathe_sched_calls(st->fn->body, "wino"))
			ps->kind = "conv_winograd";
		ps->flops = 0;
		for (size_t k = first; k < first + count; k++)
			if (!g->nodes.data[k].dead)
				ps->flops += node_flops(g, &g->nodes.data[k]);
		if (count) {
			const char *name = g->nodes.data[first].name;
			ps->ops = ops_text(u->arena, g, first, count);
			ps->node = name && *name ? name : "-";
		} else { /* a graph output copied at the end */
			ps->ops = "Copy";
			ps->node = st->nargs > 0 ? g->values.data[st->args[0]].name : "-";
		}
	}
}
