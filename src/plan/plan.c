/* plan.c: liveness-based memory planning (plan.h).
 *
 * Steps: a fusion group (contiguous nodes with one group id) or a single
 * node.  A value is planned when a step writes it and something outside
 * that step reads it (or nothing reads it at all: the step still writes
 * it), and it is not a graph output.  Its lifetime is [writing step, last
 * reading step]; a subgraph capture counts as a read by the node owning
 * the subgraph.
 *
 * Packing: values sorted by size (largest first, then by first step); each
 * is placed at the best-fitting gap among the already placed values whose
 * lifetimes overlap its own (the smallest gap that holds it, else past the
 * highest of them).  For chains of convolutions this lands within a few
 * percent of the largest live set, the lower bound any plan must reach.
 *
 * Concats in place: a Concat alone in its step, joining along an axis with
 * only 1s before it (so each input is one contiguous byte range of the
 * output), whose inputs are all planned intermediates that nothing else
 * reads, is elided: each input is placed at its slice of the output, whose
 * lifetime starts at the first of their writing steps, and the producers
 * write the output directly (elided[node], no step runs for the Concat).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

static int64_t align_up(int64_t n)
{
	return (n + LATHE_PLAN_ALIGN - 1) / LATHE_PLAN_ALIGN * LATHE_PLAN_ALIGN;
}

typedef struct item {
	lathe_vid v;
	int64_t size; /* aligned */
	int32_t first, last;
	int64_t offset;
} item;

static int by_size(const void *pa, const void *pb)
{
	const item *a = pa, *b = pb;
	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	return a->v < b->v ? -1 : a->v > b->v;
}

static int by_offset(const void *pa, const void *pb)
{
	const item *const *a = pa, *const *b = pb;
	return (*a)->offset < (*b)->offset ? -1 : (*a)->offset > (*b)->offset;
}

typedef struct cap_ctx {
	lathe_plan *p;
	int32_t step;
} cap_ctx;

static void read_at(lathe_plan *p, lathe_vid v, int32_t step)
{
	if (p->last_step[v] < step)
		p->last_step[v] = step;
}

static void capture_read(const lathe_graph *g, const lathe_graph *sub, cap_ctx *c)
{
	if (!sub || sub->parent != g)
		return;
	for (size_t i = 0; i < sub->values.len; i++) {
		const lathe_value *v = &sub->values.data[i];
		if (v->def == LATHE_DEF_OUTER && v->outer < g->values.len)
			read_at(c->p, v->outer, c->step);
	}
}

static lathe_err bytes_of(const lathe_type *t, int64_t *out)
{
	int64_t n = 1;
	for (int i = 0; i < t->rank; i++) {
		int64_t d = t->dims[i].size;
		if (d && n > ((int64_t)1 << 62) / d)
			return lathe_error(LATHE_ENOMEM, "a tensor of more than 2^62 bytes");
		n *= d;
	}
	int64_t es = (int64_t)lathe_dtype_size(t->dtype);
	if (n && es > ((int64_t)1 << 62) / n)
		return lathe_error(LATHE_ENOMEM, "a tensor of more than 2^62 bytes");
	*out = n * es;
	return NULL;
}

/* Whether node k is a Concat the plan can elide (see the top): its inputs'
 * byte offsets within the output into off[] (aligned, so that the slices
 * are placed like any value). */
static bool concat_in_place(const lathe_graph *g, const lathe_plan *p, const bool *is_out,
			    const int32_t *nreads, size_t k, int64_t *off)
{
	const lathe_node *n = &g->nodes.data[k];
	size_t nn = g->nodes.len, nv = g->values.len;
	if (n->op != LATHE_OP_Concat || n->nout != 1 || n->nin < 1 || n->out[0] >= nv)
		return false;
	if (n->group && ((k > 0 && g->nodes.data[k - 1].group == n->group) ||
			 (k + 1 < nn && g->nodes.data[k + 1].group == n->group)))
		return false;
	const lathe_value *ov = &g->values.data[n->out[0]];
	const lathe_type *ot = &ov->type;
	if (is_out[n->out[0]] || ot->kind != LATHE_TY_TENSOR || !lathe_type_is_static(ot) ||
	    ot->dtype == LATHE_DT_STR || !lathe_dtype_size(ot->dtype))
		return false;
	int64_t axis = lathe_node_attr_int(n, "axis", 0);
	if (axis < 0)
		axis += ot->rank;
	if (axis < 0 || axis >= ot->rank)
		return false;
	for (int d = 0; d < axis; d++)
		if (ot->dims[d].size != 1)
			return false;
	int64_t at = 0;
	for (int i = 0; i < n->nin; i++) {
		lathe_vid v = n->in[i];
		if (v == LATHE_NOVAL || v >= nv || is_out[v] || nreads[v] != 1)
			return false;
		const lathe_value *iv = &g->values.data[v];
		if (iv->def != LATHE_DEF_NODE || p->elided[iv->node] || p->first_step[v] < 0 ||
		    p->first_step[v] >= p->step_of_node[k] || p->last_step[v] != p->step_of_node[k])
			return false;
		const lathe_type *t = &iv->type;
		if (t->kind != LATHE_TY_TENSOR || !lathe_type_is_static(t) || t->dtype != ot->dtype)
			return false;
		int64_t bytes = 0;
		lathe_err e = bytes_of(t, &bytes);
		if (e) {
			lathe_error_free(e);
			return false;
		}
		if (at % LATHE_PLAN_ALIGN)
			return false;
		off[i] = at;
		at += bytes;
	}
	int64_t total = 0;
	lathe_err e = bytes_of(ot, &total);
	if (e) {
		lathe_error_free(e);
		return false;
	}
	return at == total;
}

static lathe_err plan(const lathe_graph *g, lathe_plan *p)
{
	size_t nv = g->values.len, nn = g->nodes.len;
	p->nvalues = nv;
	p->offset = lathe_xcalloc(nv + 1, sizeof *p->offset);
	p->size = lathe_xcalloc(nv + 1, sizeof *p->size);
	p->first_step = lathe_xcalloc(nv + 1, sizeof *p->first_step);
	p->last_step = lathe_xcalloc(nv + 1, sizeof *p->last_step);
	p->step_of_node = lathe_xcalloc(nn + 1, sizeof *p->step_of_node);
	p->elided = lathe_xcalloc(nn + 1, sizeof *p->elided);
	int32_t *nreads = lathe_xcalloc(nv + 1, sizeof *nreads);
	lathe_vid *alias = lathe_xcalloc(nv + 1, sizeof *alias); /* value -> its Concat's output */
	int64_t *alias_off = lathe_xcalloc(nv + 1, sizeof *alias_off);
	for (size_t v = 0; v < nv; v++) {
		p->offset[v] = -1;
		p->first_step[v] = -1;
		p->last_step[v] = -1;
	}
	int32_t step = -1;
	for (size_t k = 0; k < nn; k++) {
		const lathe_node *n = &g->nodes.data[k];
		if (n->dead) {
			p->step_of_node[k] = -1;
			continue;
		}
		if (!n->group || k == 0 || g->nodes.data[k - 1].group != n->group ||
		    g->nodes.data[k - 1].dead)
			step++;
		p->step_of_node[k] = step;
		for (int i = 0; i < n->nout; i++)
			p->first_step[n->out[i]] = step;
	}
	p->nsteps = step + 1;
	for (size_t k = 0; k < nn; k++) {
		const lathe_node *n = &g->nodes.data[k];
		if (n->dead)
			continue;
		int32_t s = p->step_of_node[k];
		for (int i = 0; i < n->nin; i++) {
			if (n->in[i] != LATHE_NOVAL && n->in[i] < nv && p->first_step[n->in[i]] != s)
				read_at(p, n->in[i], s);
			if (n->in[i] != LATHE_NOVAL && n->in[i] < nv)
				nreads[n->in[i]]++;
		}
		cap_ctx c = {p, s};
		for (int i = 0; i < n->nattr; i++) {
			const lathe_attr *a = &n->attrs[i];
			if (a->kind == LATHE_ATTR_GRAPH || a->kind == LATHE_ATTR_GRAPHS)
				for (size_t v = 0; v < nv; v++) /* captures: never aliased */
					nreads[v] += 2;
			if (a->kind == LATHE_ATTR_GRAPH)
				capture_read(g, a->u.g, &c);
			for (int64_t j = 0; a->kind == LATHE_ATTR_GRAPHS && j < a->n; j++)
				capture_read(g, a->u.graphs[j], &c);
		}
	}
	bool *is_out = lathe_xcalloc(nv + 1, sizeof *is_out);
	for (size_t i = 0; i < g->outputs.len; i++)
		is_out[g->outputs.data[i]] = true;
	for (size_t v = 0; v < nv; v++)
		alias[v] = LATHE_NOVAL;
	for (size_t k = 0; k < nn; k++) {
		const lathe_node *n = &g->nodes.data[k];
		int64_t off[64];
		if (n->dead || n->nin > 64 || !concat_in_place(g, p, is_out, nreads, k, off))
			continue;
		lathe_vid o = n->out[0];
		for (int i = 0; i < n->nin; i++) {
			alias[n->in[i]] = o;
			alias_off[n->in[i]] = off[i];
			if (p->first_step[n->in[i]] < p->first_step[o])
				p->first_step[o] = p->first_step[n->in[i]];
		}
		if (p->last_step[o] < p->step_of_node[k])
			p->last_step[o] = p->step_of_node[k];
		p->elided[k] = true;
		p->nelided++;
	}
	free(nreads);
	/* Which values need workspace. */
	LATHE_VEC(item) items = {0};
	lathe_err err = NULL;
	for (size_t v = 0; v < nv && !err; v++) {
		const lathe_value *val = &g->values.data[v];
		if (val->def != LATHE_DEF_NODE || p->first_step[v] < 0 || is_out[v] ||
		    alias[v] != LATHE_NOVAL)
			continue;
		const lathe_node *def = &g->nodes.data[val->node];
		/* Read only inside its own group step: a local of that program. */
		bool grouped = def->group != 0;
		if (grouped && p->last_step[v] < 0) {
			/* Unread: a group keeps it local unless it is the sink's. */
			size_t k = val->node;
			bool sink = k + 1 == nn || g->nodes.data[k + 1].group != def->group;
			if (!sink)
				continue;
		}
		if (p->last_step[v] < 0)
			p->last_step[v] = p->first_step[v];
		const lathe_type *t = &val->type;
		if (t->kind != LATHE_TY_TENSOR || !lathe_type_is_static(t) || t->dtype == LATHE_DT_STR ||
		    !lathe_dtype_size(t->dtype)) {
			p->unplanned++;
			continue;
		}
		int64_t bytes = 0;
		err = bytes_of(t, &bytes);
		if (err)
			break;
		p->size[v] = bytes;
		p->sum_intermediates += bytes;
		item it = {(lathe_vid)v, align_up(bytes ? bytes : 1), p->first_step[v],
			   p->last_step[v], 0};
		lathe_vec_push(&items, it);
	}
	free(is_out);
	if (err) {
		free(alias);
		free(alias_off);
		lathe_vec_free(&items);
		return err;
	}
	/* Largest live set, from per-step deltas. */
	int64_t *delta = lathe_xcalloc((size_t)p->nsteps + 2, sizeof *delta);
	for (size_t i = 0; i < items.len; i++) {
		delta[items.data[i].first] += p->size[items.data[i].v];
		delta[items.data[i].last + 1] -= p->size[items.data[i].v];
	}
	int64_t live = 0;
	for (int32_t s = 0; s < p->nsteps; s++) {
		live += delta[s];
		if (live > p->max_live)
			p->max_live = live;
	}
	free(delta);

	if (items.len)
		qsort(items.data, items.len, sizeof *items.data, by_size);
	item **overlap = lathe_xcalloc(items.len + 1, sizeof *overlap);
	for (size_t i = 0; i < items.len; i++) {
		item *it = &items.data[i];
		size_t no = 0;
		for (size_t j = 0; j < i; j++) {
			item *o = &items.data[j];
			if (o->first <= it->last && it->first <= o->last)
				overlap[no++] = o;
		}
		if (no)
			qsort(overlap, no, sizeof *overlap, by_offset);
		int64_t best = -1, best_gap = 0, end = 0;
		for (size_t j = 0; j < no; j++) {
			int64_t gap = overlap[j]->offset - end;
			if (gap >= it->size && (best < 0 || gap < best_gap)) {
				best = end;
				best_gap = gap;
			}
			int64_t oe = overlap[j]->offset + overlap[j]->size;
			if (oe > end)
				end = oe;
		}
		it->offset = best >= 0 ? best : end;
		p->offset[it->v] = it->offset;
		if (it->offset + it->size > p->workspace_size)
			p->workspace_size = it->offset + it->size;
	}
	p->nplanned = (int64_t)items.len;
	for (size_t v = 0; v < nv; v++) {
		if (alias[v] == LATHE_NOVAL || p->offset[alias[v]] < 0)
			continue;
		int64_t bytes = 0;
		lathe_err e = bytes_of(&g->values.data[v].type, &bytes);
		if (e)
			lathe_error_free(e);
		p->size[v] = bytes;
		p->offset[v] = p->offset[alias[v]] + alias_off[v];
		p->nplanned++;
	}
	free(alias);
	free(alias_off);
	free(overlap);
	lathe_vec_free(&items);
	return NULL;
}

lathe_err lathe_plan_memory(const lathe_graph *g, lathe_plan *out)
{
	memset(out, 0, sizeof *out);
	lathe_err e = plan(g, out);
	if (e)
		lathe_plan_deinit(out);
	return e;
}

void lathe_plan_deinit(lathe_plan *p)
{
	free(p->offset);
	free(p->size);
	free(p->first_step);
	free(p->last_step);
	free(p->step_of_node);
	free(p->elided);
	memset(p, 0, sizeof *p);
}

static void put_bytes(lathe_buf *b, const char *what, int64_t n)
{
	lathe_buf_printf(b, "  %-22s %12lld bytes", what, (long long)n);
	if (n >= 1 << 20)
		lathe_buf_printf(b, " (%.2f MiB)", (double)n / (1 << 20));
	else if (n >= 1 << 10)
		lathe_buf_printf(b, " (%.2f KiB)", (double)n / (1 << 10));
	lathe_buf_puts(b, "\n");
}

void lathe_plan_print(lathe_buf *b, const lathe_graph *g, const lathe_plan *p, bool per_value)
{
	lathe_buf_printf(b, "memory plan: %lld intermediate tensors in %d steps\n",
			 (long long)p->nplanned, (int)p->nsteps);
	put_bytes(b, "workspace", p->workspace_size);
	put_bytes(b, "sum of intermediates", p->sum_intermediates);
	put_bytes(b, "largest live set", p->max_live);
	if (p->max_live > 0)
		lathe_buf_printf(b, "  workspace / largest live set: %.3f\n",
				 (double)p->workspace_size / (double)p->max_live);
	if (p->nelided)
		lathe_buf_printf(b, "  %lld Concats elided (inputs placed in their output)\n",
				 (long long)p->nelided);
	if (p->unplanned)
		lathe_buf_printf(b, "  %lld values without a static shape are not planned\n",
				 (long long)p->unplanned);
	if (!per_value)
		return;
	lathe_buf_printf(b, "  %12s %12s  %-11s %s\n", "offset", "bytes", "steps", "value");
	for (size_t v = 0; v < p->nvalues && v < g->values.len; v++) {
		if (p->offset[v] < 0)
			continue;
		char steps[32];
		snprintf(steps, sizeof steps, "%d..%d", (int)p->first_step[v], (int)p->last_step[v]);
		lathe_buf_printf(b, "  %12lld %12lld  %-11s %%%s\n", (long long)p->offset[v],
				 (long long)p->size[v], steps, g->values.data[v].name);
	}
}
