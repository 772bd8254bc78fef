/* cmd_show.c: `lathe show`, which prints IR.
 *
 * A model (.onnx) is imported, its types inferred and verified, and printed
 * as graph IR; with --tir each node whose shapes are known is also lowered
 * and its loop program printed.  A graph text file (.ir) is parsed,
 * verified, inferred and printed again; a loop-IR text file (.tir) is parsed,
 * verified (and simplified if its name ends in .simp.tir) and printed again:
 * the golden tests use these to check that text forms round-trip.
 * --after PASS runs the graph passes (src/passes) up to PASS first;
 * --memory runs them all and prints the memory plan (src/plan) instead.
 */
#include "driver/driver.h"
#include "exec/exec.h"
#include "lower/group.h"
#include "onnx/onnx.h"
#include "passes/passes.h"
#include "plan/plan.h"
#include "sched/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char show_usage[] =
	"usage: lathe show FILE [--tir] [--no-infer] [--after PASS] [--memory [-v]]\n"
	"\n"
	"FILE is an ONNX model, a graph IR text file (.ir) or a loop IR text file (.tir).\n"
	"  --tir          for a model: also print each node's (or fusion group's)\n"
	"                 lowered loop program\n"
	"  --no-infer     print the graph as imported, before shape inference\n"
	"  --after PASS   run the graph passes up to PASS and print the graph there\n"
	"                 (passes: infer, const_fold, simplify, cse, dce, fuse)\n"
	"  --memory       run all passes and print the memory plan: the workspace\n"
	"                 against the sum of all intermediates and the largest\n"
	"                 live set; -v adds each tensor's offset\n"
	"  --sched S      for a .tir file: apply schedule script S (src/sched/script.c)\n"
	"  --sched-file F for a .tir file: apply the schedule script in file F\n";

/* A schedule to apply to a .tir file: script text, or the file holding it. */
typedef struct show_sched {
	const char *text, *file;
} show_sched;

static lathe_err apply_sched(lathe_tir_func *f, const show_sched *ss)
{
	if (!ss->text && !ss->file)
		return NULL;
	char *owned = NULL;
	if (ss->file)
		LATHE_TRY(lathe_read_text(ss->file, &owned));
	lathe_err e = lathe_sched_script(f, owned ? owned : ss->text, ss->file ? ss->file : "<sched>");
	free(owned);
	if (!e && (e = lathe_tir_verify(f)))
		e = lathe_error_wrap(e, "internal error: the scheduled function is invalid");
	return e;
}

static lathe_err show_tir(const char *path, const show_sched *ss)
{
	char *text;
	LATHE_TRY(lathe_read_text(path, &text));
	lathe_arena *a = lathe_arena_create();
	lathe_tir_func *f = NULL;
	lathe_err e = lathe_tir_parse(a, text, path, &f);
	if (!e)
		e = lathe_tir_verify(f);
	if (!e) {
		if (lathe_ends_with(path, ".simp.tir"))
			lathe_tir_simplify(f);
		e = apply_sched(f, ss);
	}
	if (!e) {
		lathe_buf b = {0};
		lathe_tir_print(&b, f);
		fputs(b.data ? b.data : "", stdout);
		lathe_buf_free(&b);
	}
	if (f)
		lathe_tir_func_deinit(f);
	lathe_arena_destroy(a);
	free(text);
	return e;
}

/* A fusion group's one loop program. */
static void print_group(lathe_graph *g, size_t first, size_t count)
{
	lathe_arena *a = lathe_arena_create();
	lathe_group_io io;
	lathe_tir_func *f = NULL;
	lathe_err e = lathe_lower_group(g, first, count, a, &io, &f);
	const lathe_node *n0 = &g->nodes.data[first], *n1 = &g->nodes.data[first + count - 1];
	/* Nodes by name, or by their first output where unnamed. */
	const char *a0 = *n0->name ? n0->name : g->values.data[n0->out[0]].name;
	const char *a1 = *n1->name ? n1->name : g->values.data[n1->out[0]].name;
	if (e) {
		printf("// group %u (%s..%s): not lowered: %s\n", (unsigned)n0->group, a0, a1,
		       lathe_error_message(e));
		lathe_error_free(e);
	} else {
		lathe_tir_simplify(f);
		lathe_buf b = {0};
		lathe_tir_print(&b, f);
		printf("// group %u (%s..%s)\n%s\n", (unsigned)n0->group, a0, a1, b.data);
		lathe_buf_free(&b);
		lathe_tir_func_deinit(f);
	}
	lathe_arena_destroy(a);
}

/* Prints the loop program of every node whose input types are static. */
static lathe_err print_lowered(lathe_graph *g)
{
	for (size_t k = 0; k < g->nodes.len; k++) {
		lathe_node *n = &g->nodes.data[k];
		if (n->dead || !lathe_ops[n->op].lower)
			continue;
		if (n->group) {
			size_t first, count;
			lathe_group_range(g, k, &first, &count);
			if (count > 1) {
				if (first == k)
					print_group(g, first, count);
				continue;
			}
		}
		lathe_arena *a = lathe_arena_create();
		const lathe_type **in = lathe_arena_new(a, const lathe_type *, n->nin + 1);
		const lathe_tensor **val = lathe_arena_new(a, const lathe_tensor *, n->nin + 1);
		bool ok = true;
		for (int i = 0; i < n->nin; i++) {
			if (n->in[i] == LATHE_NOVAL)
				continue;
			lathe_value *v = &g->values.data[n->in[i]];
			in[i] = &v->type;
			val[i] = v->def == LATHE_DEF_CONST ? v->konst : NULL;
			ok = ok && lathe_type_is_static(&v->type);
		}
		lathe_tir_func *f = NULL;
		lathe_err e = ok ? lathe_exec_lower_node(g, n, in, val, a, &f) : NULL;
		if (e) {
			printf("// node '%s' (%s): not lowered: %s\n", n->name,
			       lathe_op_name(n->op), lathe_error_message(e));
			lathe_error_free(e);
		} else if (f) {
			lathe_tir_simplify(f);
			lathe_buf b = {0};
			lathe_tir_print(&b, f);
			printf("// node '%s' (%s)\n%s\n", n->name, lathe_op_name(n->op), b.data);
			lathe_buf_free(&b);
			lathe_tir_func_deinit(f);
		}
		lathe_arena_destroy(a);
	}
	return NULL;
}

typedef struct show_opts {
	bool infer, tir, memory, verbose;
	const char *after;
} show_opts;

static lathe_err show_graph(const char *path, const show_opts *so)
{
	bool infer = so->infer, tir = so->tir;
	lathe_graph *g = NULL;
	LATHE_TRY(lathe_load_model(path, &g));
	lathe_err e = lathe_graph_verify(g);
	if (!e && infer)
		e = lathe_graph_infer(g);
	if (!e && (so->after || so->memory)) {
		lathe_pass_opts po = {.stop_after = so->after};
		e = lathe_passes_run(g, &po);
	}
	if (!e && so->memory) {
		lathe_plan plan;
		e = lathe_plan_memory(g, &plan);
		if (!e) {
			lathe_buf b = {0};
			lathe_plan_print(&b, g, &plan, so->verbose);
			fputs(b.data ? b.data : "", stdout);
			lathe_buf_free(&b);
			lathe_plan_deinit(&plan);
		}
		lathe_graph_destroy(g);
		return e;
	}
	if (!e) {
		lathe_buf b = {0};
		lathe_graph_print(&b, g);
		fputs(b.data ? b.data : "", stdout);
		lathe_buf_free(&b);
		if (tir)
			e = print_lowered(g);
	}
	lathe_graph_destroy(g);
	return e;
}

int lathe_cmd_show(int argc, char **argv)
{
	const char *path = NULL;
	bool tir = false, infer = true;
	show_opts so = {0};
	show_sched ss = {0};
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(show_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--tir")) {
			tir = true;
		} else if (!strcmp(argv[i], "--no-infer")) {
			infer = false;
		} else if (!strcmp(argv[i], "--after")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "lathe show: --after needs a pass name\n%s", show_usage);
				return 2;
			}
			so.after = argv[++i];
			if (!lathe_passes_known(so.after)) {
				fprintf(stderr, "lathe show: unknown pass '%s'; passes:", so.after);
				for (const char *const *p = lathe_passes_names(); *p; p++)
					fprintf(stderr, " %s", *p);
				fputs("\n", stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--sched") || !strcmp(argv[i], "--sched-file")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "lathe show: %s needs an argument\n%s", argv[i], show_usage);
				return 2;
			}
			*(argv[i][7] ? &ss.file : &ss.text) = argv[i + 1];
			i++;
		} else if (!strcmp(argv[i], "--memory")) {
			so.memory = true;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			so.verbose = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "lathe show: unknown option '%s'\n%s", argv[i], show_usage);
			return 2;
		} else if (path) {
			fprintf(stderr, "lathe show: more than one file given\n%s", show_usage);
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		fputs(show_usage, stderr);
		return 2;
	}
	if (lathe_ends_with(path, ".tir"))
		return lathe_report(show_tir(path, &ss));
	so.infer = infer || so.after || so.memory;
	so.tir = tir;
	return lathe_report(show_graph(path, &so));
}
