/* compile.c: `lathe compile`, from a graph to a module on disk.
 *
 * The pipeline, in order:
 *   pin input shapes -> graph passes (infer, const_fold, simplify, cse,
 *   dce, fuse) -> check that every shape is static -> plan memory -> lower
 *   each fusion group (or node) to one loop program and schedule it, or
 *   record its extern kernel call -> place every value -> emit C, header,
 *   weights, manifest -> C compiler (shared library) or amalgamation
 *   (bundle).
 *
 * Requires: an imported graph.  Anything the compiled code could not do
 * without the graph executor (control flow, sequences, strings,
 * data-dependent shapes) is refused here, before any file is written, with
 * an error naming the node.  Files are written under temporary names and
 * renamed, so a process running the previous module is never handed a
 * half-written library.
 */
#include "module/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "codegen/codegen.h"
#include "lower/group.h"
#include "passes/passes.h"
#include "plan/plan.h"
#include "sched/sched.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *node_label(lathe_arena *a, const lathe_node *n)
{
	return lathe_arena_printf(a, "node '%s' (%s)", n->name ? n->name : "",
				  lathe_op_name(n->op));
}

static const char *type_str(lathe_arena *a, const lathe_graph *g, const lathe_type *t)
{
	lathe_buf b = {0};
	lathe_type_print(&b, g, t);
	const char *s = lathe_arena_strdup(a, b.data ? b.data : "?");
	lathe_buf_free(&b);
	return s;
}

uint64_t mod_value_nbytes(const lathe_graph *g, lathe_vid v)
{
	const lathe_type *t = &g->values.data[v].type;
	int64_t n = lathe_type_numel(t);
	return n < 0 ? 0 : (uint64_t)n * lathe_dtype_size(t->dtype);
}

void lathe_module_default_name(const char *path, char *out, size_t n)
{
	const char *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path ? path : "";
	size_t len = strcspn(base, ".");
	size_t k = 0;
	if (n == 0)
		return;
	if (len && base[0] >= '0' && base[0] <= '9' && k + 1 < n)
		out[k++] = 'm';
	for (size_t i = 0; i < len && k + 1 < n && k < 64; i++) {
		char c = base[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		out[k++] = ok ? c : '_';
	}
	if (!k)
		snprintf(out, n, "model");
	else
		out[k] = 0;
}

static lathe_err check_name(const char *s)
{
	size_t n = strlen(s);
	bool ok = n > 0 && n <= 64 && !(s[0] >= '0' && s[0] <= '9');
	for (size_t i = 0; ok && i < n; i++) {
		char c = s[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '_';
	}
	if (!ok)
		return lathe_error(LATHE_EINVAL,
				   "module name '%s' is not a C identifier of at most 64 characters", s);
	return NULL;
}

/* ---- input shapes ------------------------------------------------------------ */

static lathe_err pin_shape(lathe_graph *g, const char *spec)
{
	const char *eq = strrchr(spec, '=');
	if (!eq || eq == spec)
		return lathe_error(LATHE_EINVAL, "--input-shape '%s': expected NAME=D0,D1,...", spec);
	char *name = lathe_arena_strndup(g->arena, spec, (size_t)(eq - spec));
	lathe_value *val = NULL;
	for (size_t i = 0; i < g->inputs.len && !val; i++)
		if (!strcmp(g->values.data[g->inputs.data[i]].name, name))
			val = &g->values.data[g->inputs.data[i]];
	if (!val) {
		lathe_buf names = {0};
		for (size_t i = 0; i < g->inputs.len; i++)
			lathe_buf_printf(&names, "%s'%s'", i ? ", " : "",
					 g->values.data[g->inputs.data[i]].name);
		lathe_err e = lathe_error(LATHE_EINVAL, "--input-shape: the model has no input '%s' "
					  "(its inputs: %s)", name, names.data ? names.data : "none");
		lathe_buf_free(&names);
		return e;
	}
	int64_t dims[64];
	int rank = 0;
	const char *p = eq + 1;
	while (*p) {
		char *end;
		errno = 0;
		long long d = strtoll(p, &end, 10);
		if (end == p || errno || d < 0 || d > ((int64_t)1 << 40) || (*end && *end != ','))
			return lathe_error(LATHE_EINVAL, "--input-shape '%s': dimensions must be "
					   "non-negative integers separated by commas", spec);
		if (rank == 64)
			return lathe_error(LATHE_EINVAL, "--input-shape '%s': more than 64 dimensions",
					   spec);
		dims[rank++] = d;
		p = *end ? end + 1 : end;
	}
	const lathe_type *t = &val->type;
	if (t->kind != LATHE_TY_TENSOR && t->kind != LATHE_TY_UNKNOWN)
		return lathe_error(LATHE_EINVAL, "--input-shape: input '%s' is not a tensor", name);
	if (t->rank >= 0 && t->rank != rank)
		return lathe_error(LATHE_EINVAL, "--input-shape: input '%s' has rank %d (%s), %d "
				   "dimensions given", name, t->rank, type_str(g->arena, g, t), rank);
	for (int d = 0; t->rank >= 0 && d < rank; d++)
		if (t->dims[d].sym < 0 && t->dims[d].size >= 0 && t->dims[d].size != dims[d])
			return lathe_error(LATHE_EINVAL, "--input-shape: input '%s' is %s; dimension %d "
					   "is fixed at %lld, %lld given", name,
					   type_str(g->arena, g, t), d, (long long)t->dims[d].size,
					   (long long)dims[d]);
	if (t->kind == LATHE_TY_UNKNOWN || t->dtype == LATHE_DT_UNDEF)
		return lathe_error(LATHE_EINVAL, "--input-shape: input '%s' has no element type",
				   name);
	val->type = lathe_type_tensor(g->arena, t->dtype, rank, dims);
	return NULL;
}

/* ---- what compiled code cannot do ------------------------------------------------ */

static bool has_graph_attr(const lathe_node *n)
{
	for (int i = 0; i < n->nattr; i++)
		if (n->attrs[i].kind == LATHE_ATTR_GRAPH || n->attrs[i].kind == LATHE_ATTR_GRAPHS)
			return true;
	return false;
}

static lathe_err check_inputs(lathe_graph *g, lathe_arena *a)
{
	for (size_t i = 0; i < g->inputs.len; i++) {
		const lathe_value *v = &g->values.data[g->inputs.data[i]];
		if (v->type.kind != LATHE_TY_TENSOR)
			return lathe_error(LATHE_EUNSUPPORTED, "input '%s' is a %s; compiled modules "
					   "take tensors", v->name, type_str(a, g, &v->type));
		if (v->type.dtype == LATHE_DT_STR)
			return lathe_error(LATHE_EUNSUPPORTED, "input '%s' holds strings; compiled "
					   "modules take numeric tensors", v->name);
		if (!lathe_type_is_static(&v->type)) {
			lathe_buf ex = {0};
			for (int d = 0; d < v->type.rank; d++)
				lathe_buf_printf(&ex, "%s%lld", d ? "," : "",
						 v->type.dims[d].sym < 0 && v->type.dims[d].size >= 0
							 ? (long long)v->type.dims[d].size : 1LL);
			lathe_err e = lathe_error(LATHE_EINVAL, "input '%s' has shape %s, which is not "
						  "static: pin it, e.g. --input-shape %s=%s", v->name,
						  type_str(a, g, &v->type), v->name,
						  ex.data ? ex.data : "");
			lathe_buf_free(&ex);
			return e;
		}
	}
	return NULL;
}

static lathe_err check_outputs(lathe_graph *g, lathe_arena *a)
{
	for (size_t i = 0; i < g->outputs.len; i++) {
		const lathe_value *v = &g->values.data[g->outputs.data[i]];
		if (v->type.kind != LATHE_TY_TENSOR || v->type.dtype == LATHE_DT_STR)
			return lathe_error(LATHE_EUNSUPPORTED, "output '%s' is %s; compiled modules "
					   "produce numeric tensors", v->name, type_str(a, g, &v->type));
	}
	return NULL;
}

static lathe_err check_nodes(lathe_graph *g, lathe_arena *a)
{
	for (size_t k = 0; k < g->nodes.len; k++) {
		lathe_node *n = &g->nodes.data[k];
		if (n->dead)
			continue;
		lathe_err e = NULL;
		if (has_graph_attr(n))
			e = lathe_error(LATHE_EUNSUPPORTED, "control flow (subgraphs) needs the graph "
					"executor; compiled modules cannot contain it yet "
					"(run the model with `lathe run MODEL --backend interp`)");
		for (int i = 0; !e && i < n->nout; i++) {
			const lathe_value *v = &g->values.data[n->out[i]];
			if (v->type.kind != LATHE_TY_TENSOR)
				e = lathe_error(LATHE_EUNSUPPORTED, "output %d is %s: sequences and "
						"optionals need the graph executor", i,
						type_str(a, g, &v->type));
			else if (v->type.dtype == LATHE_DT_STR)
				e = lathe_error(LATHE_EUNSUPPORTED, "output %d holds strings, which "
						"compiled modules do not support", i);
			else if (!lathe_type_is_static(&v->type))
				e = lathe_error(LATHE_EUNSUPPORTED, "output %d ('%s') has shape %s, which "
						"depends on the data or on a symbolic input dimension; "
						"compiled modules need static shapes (pin symbolic inputs "
						"with --input-shape)", i, v->name,
						type_str(a, g, &v->type));
		}
		if (e)
			return lathe_error_wrap(e, "%s", node_label(a, n));
	}
	return NULL;
}

/* ---- lowering --------------------------------------------------------------------- */

/* The loop program of nodes [first, first + count): a fusion group or
 * one node.  Its parameters are the run's external inputs, then outputs. */
static lathe_err lower_run(mod_unit *u, size_t first, size_t count, mod_step *st)
{
	lathe_group_io io = {0};
	lathe_tir_func *fn = NULL;
	LATHE_TRY(lathe_lower_group(u->g, first, count, u->arena, &io, &fn));
	int na = io.nin + io.nout;
	if (fn->nparams != na) {
		lathe_tir_func_deinit(fn);
		return lathe_error(LATHE_EINTERNAL, "lowered to %d parameters for %d values",
				   fn->nparams, na);
	}
	lathe_vid *args = lathe_arena_new(u->arena, lathe_vid, na + 1);
	memcpy(args, io.in, sizeof *args * (size_t)io.nin);
	memcpy(args + io.nin, io.out, sizeof *args * (size_t)io.nout);
	*st = (mod_step){.kind = STEP_FUNC, .fn = fn, .nargs = na, .args = args};
	return NULL;
}

static void add_step(mod_unit *u, mod_step st, const char *label, const char *what)
{
	st.label = label;
	st.symbol = lathe_arena_printf(u->arena, "lathe_s%zu_%s", u->steps.len, what);
	for (char *p = (char *)st.symbol; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	lathe_vec_push(&u->steps, st);
}

static lathe_err build_steps(mod_unit *u, const lathe_target *target, const lathe_plan *plan)
{
	lathe_graph *g = u->g;
	for (size_t k = 0; k < g->nodes.len;) {
		lathe_node *n = &g->nodes.data[k];
		if (n->dead || plan->elided[k]) { /* elided: its inputs are views of its output */
			k++;
			continue;
		}
		size_t first = k, count = 1;
		lathe_group_range(g, k, &first, &count);
		LATHE_ASSERT(first == k && count >= 1);
		const char *label = node_label(u->arena, n);
		if (count > 1)
			label = lathe_arena_printf(u->arena, "%s and %zu more (fused)", label, count - 1);
		mod_step st = {0};
		lathe_err e = NULL;
		bool named = false; /* the error names the node already */
		if (count == 1 && n->op == LATHE_OP_Identity) {
			/* Left by the passes when it must copy (an input to an output). */
			lathe_vid *args = lathe_arena_new(u->arena, lathe_vid, 2);
			args[0] = n->in[0], args[1] = n->out[0];
			st = (mod_step){.kind = STEP_COPY, .args = args, .nargs = 2};
		} else if (count == 1 && !lathe_ops[n->op].lower) {
			e = mod_kernel_step(u, n, &st);
		} else {
			e = lower_run(u, k, count, &st);
			named = e != NULL;
		}
		if (!e && st.kind == STEP_FUNC) {
			/* Weights are constants: schedules may pack them (prepack.c). */
			for (int i = 0; i < st.fn->nparams && i < st.nargs; i++)
				st.fn->bufs.data[i]->constant =
					g->values.data[st.args[i]].def == LATHE_DEF_CONST;
			e = lathe_sched_default(st.fn, target);
			if (!e) {
				e = lathe_tir_verify(st.fn);
				if (e)
					e = lathe_error_wrap(e, "internal error: the scheduled loop program "
							     "is invalid");
			}
			if (!e) /* packing constant weights: src/module/prepack.c */
				e = mod_prepack(u, &st);
			if (!e)
				st.scratch = lathe_codegen_scratch_size(st.fn);
		}
		if (e) {
			if (st.kind == STEP_FUNC && st.fn)
				lathe_tir_func_deinit(st.fn);
			return named ? e : lathe_error_wrap(e, "%s", label);
		}
		st.node = (int32_t)k;
		add_step(u, st, label, lathe_op_name(n->op));
		k = first + count;
	}
	return NULL;
}

/* ---- placing values ----------------------------------------------------------------- */

static void place_weight(mod_unit *u, lathe_vid v)
{
	if (u->place[v].kind != PLACE_NONE)
		return;
	u->place[v] = (mod_place){.kind = PLACE_WEIGHT, .offset = u->weights_size};
	u->weights_size = mod_align(u->weights_size + mod_value_nbytes(u->g, v));
	lathe_vec_push(&u->weights, v);
}

typedef struct span {
	uint64_t lo, hi;
} span;

static int cmp_span(const void *a, const void *b)
{
	const span *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* A loop program's scratch is needed only while its step runs, so it goes
 * in the lowest gap of the workspace that no tensor live at that step
 * occupies (often the space of tensors already dead), past the tensors
 * only when no gap is large enough. */
static void place_scratch(mod_unit *u, const lathe_plan *plan, mod_step *st)
{
	if (!st->scratch)
		return;
	int32_t step = st->node >= 0 ? plan->step_of_node[st->node] : -1;
	LATHE_VEC(span) busy = {0};
	for (size_t v = 0; v < u->g->values.len; v++) {
		const mod_place *p = &u->place[v];
		if (p->kind != PLACE_WORK)
			continue;
		bool planned = v < plan->nvalues && plan->offset[v] >= 0;
		/* Values the planner left out live throughout. */
		if (planned && step >= 0 &&
		    (plan->first_step[v] > step || plan->last_step[v] < step))
			continue;
		uint64_t n = mod_align(mod_value_nbytes(u->g, (lathe_vid)v));
		lathe_vec_push(&busy, ((span){p->offset, p->offset + (n ? n : MOD_ALIGN)}));
	}
	if (busy.len)
		qsort(busy.data, busy.len, sizeof *busy.data, cmp_span);
	uint64_t at = 0, need = mod_align(st->scratch);
	for (size_t i = 0; i < busy.len; i++) {
		if (busy.data[i].lo >= at + need)
			break;
		if (busy.data[i].hi > at)
			at = busy.data[i].hi;
	}
	lathe_vec_free(&busy);
	st->scratch_offset = at;
	if (at + need > u->workspace_size)
		u->workspace_size = at + need;
}

static lathe_err place_values(mod_unit *u, const lathe_plan *plan)
{
	lathe_graph *g = u->g;
	for (size_t i = 0; i < g->inputs.len; i++)
		u->place[g->inputs.data[i]] = (mod_place){.kind = PLACE_INPUT, .index = (uint32_t)i};
	/* Outputs a step writes go straight to the caller's buffer; outputs
	 * that are inputs, constants or repeats are copied at the end. */
	for (size_t j = 0; j < g->outputs.len; j++) {
		lathe_vid v = g->outputs.data[j];
		if (g->values.data[v].def == LATHE_DEF_NODE && u->place[v].kind == PLACE_NONE) {
			u->place[v] = (mod_place){.kind = PLACE_OUTPUT, .index = (uint32_t)j};
			continue;
		}
		lathe_vid *args = lathe_arena_new(u->arena, lathe_vid, 2);
		args[0] = v, args[1] = LATHE_NOVAL;
		mod_step st = {.kind = STEP_COPY, .out_index = (uint32_t)j, .args = args, .nargs = 2,
			       .node = -1};
		add_step(u, st, lathe_arena_printf(u->arena, "output %zu", j), "copy");
	}
	uint64_t ws = (uint64_t)plan->workspace_size;
	for (size_t s = 0; s < u->steps.len; s++) {
		mod_step *st = &u->steps.data[s];
		lathe_vid *vals = st->kind == STEP_KERNEL ? st->in : st->args;
		int nv = st->kind == STEP_KERNEL ? st->nin : st->nargs;
		for (int pass = 0; pass < 2; pass++) {
			for (int i = 0; i < nv; i++) {
				lathe_vid v = vals[i];
				if (v == LATHE_NOVAL || u->place[v].kind != PLACE_NONE)
					continue;
				const lathe_value *val = &g->values.data[v];
				if (val->def == LATHE_DEF_CONST) {
					if (val->konst->dtype == LATHE_DT_STR)
						return lathe_error(LATHE_EUNSUPPORTED, "%s: constant '%s' holds "
								   "strings", st->label, val->name);
					place_weight(u, v);
				} else if (val->def == LATHE_DEF_NODE) {
					int64_t off = v < plan->nvalues ? plan->offset[v] : -1;
					if (off < 0) { /* the planner left it out: a place of its own */
						off = (int64_t)mod_align(ws);
						ws = (uint64_t)off + mod_value_nbytes(g, v);
					}
					u->place[v] = (mod_place){.kind = PLACE_WORK, .offset = (uint64_t)off};
				} else {
					return lathe_error(LATHE_EINTERNAL, "%s: value '%s' has no place",
							   st->label, val->name);
				}
			}
			if (st->kind != STEP_KERNEL)
				break;
			vals = st->out, nv = st->nout;
		}
	}
	u->tensors_size = mod_align(ws);
	u->workspace_size = u->tensors_size;
	for (size_t s = 0; s < u->steps.len; s++)
		place_scratch(u, plan, &u->steps.data[s]);
	return NULL;
}

/* ---- manifest ----------------------------------------------------------------------- */

static void fill_io(mod_unit *u, lathe_vid v, lathe_module_io *io)
{
	const lathe_value *val = &u->g->values.data[v];
	io->name = val->name;
	io->dtype = val->type.dtype;
	io->rank = val->type.rank;
	io->shape = lathe_arena_new(u->arena, int64_t, io->rank + 1);
	for (int d = 0; d < io->rank; d++)
		io->shape[d] = val->type.dims[d].size;
	io->nbytes = mod_value_nbytes(u->g, v);
}

static void fill_manifest(mod_unit *u, bool bundle)
{
	lathe_manifest *m = &u->manifest;
	lathe_graph *g = u->g;
	m->name = u->name;
	m->library = bundle ? NULL : lathe_arena_printf(u->arena, "lib%s.so", u->name);
	m->workspace_size = u->workspace_size;
	m->weights_size = u->weights_size;
	m->nin = (int)g->inputs.len;
	m->nout = (int)g->outputs.len;
	m->in = lathe_arena_new(u->arena, lathe_module_io, m->nin + 1);
	m->out = lathe_arena_new(u->arena, lathe_module_io, m->nout + 1);
	for (int i = 0; i < m->nin; i++)
		fill_io(u, g->inputs.data[i], &m->in[i]);
	for (int i = 0; i < m->nout; i++)
		fill_io(u, g->outputs.data[i], &m->out[i]);
}

/* ---- files -------------------------------------------------------------------------- */

static lathe_err write_file(const char *path, const char *data, size_t n)
{
	char *tmp = lathe_xmalloc(strlen(path) + 8);
	sprintf(tmp, "%s.tmp", path);
	lathe_err e = NULL;
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		e = lathe_error(LATHE_EIO, "cannot write %s: %s", tmp, strerror(errno));
	} else {
		bool ok = (n == 0 || fwrite(data, 1, n, f) == n);
		ok &= fclose(f) == 0;
		if (!ok)
			e = lathe_error(LATHE_EIO, "cannot write %s: %s", tmp, strerror(errno));
		else if (rename(tmp, path))
			e = lathe_error(LATHE_EIO, "cannot rename %s to %s: %s", tmp, path,
					strerror(errno));
		if (e)
			remove(tmp);
	}
	free(tmp);
	return e;
}


/* The source of the module: its own code, with the runtime headers (a
 * library linking the runtime archive) or the runtime sources too (a
 * bundle, or a library when no archive is at hand). */
static lathe_err module_source(mod_unit *u, bool with_runtime, lathe_buf *out)
{
	lathe_buf code = {0};
	lathe_err e = mod_emit_code(&code, u);
	if (!e) {
		const char *files[64];
		int n = with_runtime ? mod_base_rt_files(files, 48) : 0;
		for (size_t i = 0; with_runtime && i < u->rt_files.len && n < 64; i++) {
			bool dup = false;
			for (int k = 0; k < n; k++)
				dup |= !strcmp(files[k], u->rt_files.data[i]);
			if (!dup)
				files[n++] = u->rt_files.data[i];
		}
		e = mod_amalgamate(out, files, n, code.data ? code.data : "");
	}
	lathe_buf_free(&code);
	return e;
}

static lathe_err write_outputs(mod_unit *u, const char *dir, const lathe_compile_opts *o,
			       lathe_compile_stats *st)
{
	lathe_arena *a = u->arena;
	LATHE_TRY(lathe_dir_create(dir));
	double t0 = now_ms();
	const char *c_path = lathe_arena_printf(a, "%s/%s.c", dir, u->name);
	const char *h_path = lathe_arena_printf(a, "%s/%s.h", dir, u->name);
	lathe_buf hdr = {0}, src = {0}, man = {0};
	mod_emit_header(&hdr, u);
	lathe_err e = write_file(h_path, hdr.data, hdr.len);
	bool link_rt = !o->emit_c && o->runtime_lib;
	if (!e)
		e = module_source(u, !link_rt, &src);
	if (!e)
		e = write_file(c_path, src.data, src.len);
	if (!e)
		e = mod_write_weights(lathe_arena_printf(a, "%s/weights.bin", dir), u);
	st->ms_emit = now_ms() - t0;
	if (!e && !o->emit_c) {
		if (o->progress)
			fprintf(o->progress, "lathe compile: running the C compiler on %s\n", c_path);
		t0 = now_ms();
		const char *so = lathe_arena_printf(a, "%s/lib%s.so", dir, u->name);
		/* lathe_codegen_cc_shared splits the flags at spaces and puts them
		 * before the sources: --whole-archive makes the archive's place
		 * irrelevant, --no-undefined turns a missing symbol into a build
		 * error instead of a load error. */
		const char *flags = lathe_arena_printf(
			a, "%s%s%s%s -lpthread -Wl,--no-undefined", o->cflags ? o->cflags : "",
			link_rt ? " -Wl,--whole-archive " : "", link_rt ? o->runtime_lib : "",
			link_rt ? " -Wl,--no-whole-archive" : "");
		if (link_rt && strchr(o->runtime_lib, ' '))
			e = lathe_error(LATHE_EINVAL, "the runtime archive's path %s has a space: "
					"set LATHE_RT_LIB to a path without one", o->runtime_lib);
		const char *files[1] = {c_path};
		/* It writes under a temporary name and renames into place. */
		if (!e)
			e = lathe_codegen_cc_shared(files, 1, so, flags);
		/* With the user's own flags in the command, a compiler failure is
		 * more likely theirs than lathe's: bad input, not a bug. */
		if (e && o->cflags && o->cflags[0] && lathe_error_code(e) == LATHE_EINTERNAL) {
			lathe_err w = lathe_error(LATHE_EINVAL, "%s (check the flags given with --cflags: %s)",
						  lathe_error_message(e), o->cflags);
			lathe_error_free(e);
			e = w;
		}
		st->ms_cc = now_ms() - t0;
	}
	if (!e) {
		lathe_manifest_print(&man, &u->manifest);
		e = write_file(lathe_arena_printf(a, "%s/module.txt", dir), man.data, man.len);
	}
	lathe_buf_free(&hdr);
	lathe_buf_free(&src);
	lathe_buf_free(&man);
	return e;
}

/* ---- the pipeline ---------------------------------------------------------------------- */

static lathe_err compile(mod_unit *u, const char *dir, const lathe_compile_opts *o,
			 lathe_compile_stats *st)
{
	lathe_graph *g = u->g;
	lathe_arena *a = u->arena;
	double t0 = now_ms();
	for (int i = 0; i < o->n_input_shapes; i++)
		LATHE_TRY(pin_shape(g, o->input_shapes[i]));
	LATHE_TRY(check_inputs(g, a));
	lathe_pass_opts po = {0};
	LATHE_TRY(lathe_passes_run(g, &po));
	LATHE_TRY(check_outputs(g, a));
	LATHE_TRY(check_nodes(g, a));
	lathe_plan plan = {0};
	LATHE_TRY(lathe_plan_memory(g, &plan));
	st->sum_intermediates = (uint64_t)plan.sum_intermediates;
	st->max_live = (uint64_t)plan.max_live;
	st->ms_frontend = now_ms() - t0;

	t0 = now_ms();
	lathe_target target;
	lathe_target_host(&target);
	target.no_winograd = o->no_winograd;
	if (o->threads > 0)
		target.threads = o->threads;
	lathe_err e = build_steps(u, &target, &plan);
	/* After the steps: packing weights adds constants (prepack.c). */
	u->place = lathe_arena_new(a, mod_place, g->values.len + 1);
	if (!e)
		e = place_values(u, &plan);
	lathe_plan_deinit(&plan);
	LATHE_TRY(e);
	for (size_t s = 0; s < u->steps.len; s++) {
		const mod_step *sp = &u->steps.data[s];
		if (sp->kind != STEP_KERNEL)
			continue;
		st->nkernels++;
		const char *file = mod_kernel_file(sp->rt_symbol);
		bool dup = false;
		for (size_t i = 0; i < u->rt_files.len; i++)
			dup |= !strcmp(u->rt_files.data[i], file);
		if (!dup)
			lathe_vec_push(&u->rt_files, file);
	}
	fill_manifest(u, o->emit_c);
	mod_profile_steps(u);
	st->ms_lower = now_ms() - t0;
	st->nsteps = (int)u->steps.len;
	st->workspace_size = u->workspace_size;
	st->scratch_size = u->workspace_size - u->tensors_size;
	st->weights_size = u->weights_size;
	if (o->progress)
		fprintf(o->progress, "lathe compile: %s: %d steps (%d extern kernel calls), "
			"workspace %llu bytes, weights %llu bytes\n", u->name, st->nsteps,
			st->nkernels, (unsigned long long)u->workspace_size,
			(unsigned long long)u->weights_size);
	return write_outputs(u, dir, o, st);
}

lathe_err lathe_module_compile(lathe_graph *g, const char *dir, const lathe_compile_opts *o,
			       lathe_compile_stats *stats)
{
	lathe_compile_stats st = {0};
	if (o->name)
		snprintf(st.name, sizeof st.name, "%s", o->name);
	else
		lathe_module_default_name(o->model_path, st.name, sizeof st.name);
	LATHE_TRY(check_name(st.name));
	mod_unit u = {.arena = lathe_arena_create(), .g = g};
	u.name = lathe_arena_strdup(u.arena, st.name);
	lathe_err e = compile(&u, dir, o, &st);
	for (size_t s = 0; s < u.steps.len; s++)
		if (u.steps.data[s].fn)
			lathe_tir_func_deinit(u.steps.data[s].fn);
	lathe_vec_free(&u.steps);
	lathe_vec_free(&u.weights);
	lathe_vec_free(&u.rt_files);
	lathe_arena_destroy(u.arena);
	if (stats)
		*stats = st;
	return e;
}
