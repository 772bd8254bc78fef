/* test_onnx.c: the ONNX frontend.
 *
 * Loads a few of ONNX's node-test models and the hand-made seeds of
 * tests/fuzz/seeds (functions, old opsets, initializers, subgraphs), checks
 * external data and its path rules, and feeds the reader hostile input:
 * every truncation of a small model, random bit flips, huge lengths, deep
 * nesting, absurd dims, duplicate and undefined names, recursive and
 * exponential functions.  Hostile input must give an error (a crash is
 * caught by the sanitizer build, `make SAN=1 unit`).  Models are built here
 * with a small protobuf writer, so the test needs no Python.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "onnx/onnx.h"

static const char *NODES = ".venv/lib/python3.11/site-packages/onnx/backend/test/data/node";
static const char *SEEDS = "tests/fuzz/seeds";

/* ---- a protobuf writer ----------------------------------------------------- */

typedef struct pbw {
	uint8_t *d;
	size_t n, cap;
} pbw;

static void w_raw(pbw *w, const void *p, size_t n)
{
	if (!n)
		return;
	if (w->n + n > w->cap) {
		w->cap = (w->n + n) * 2 + 64;
		w->d = realloc(w->d, w->cap);
	}
	memcpy(w->d + w->n, p, n);
	w->n += n;
}
static void w_varint(pbw *w, uint64_t v)
{
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		if (v)
			b |= 0x80;
		w_raw(w, &b, 1);
	} while (v);
}
static void w_tag(pbw *w, int num, int wire)
{
	w_varint(w, ((uint64_t)num << 3) | (uint64_t)wire);
}
static void w_int(pbw *w, int num, int64_t v)
{
	w_tag(w, num, 0);
	w_varint(w, (uint64_t)v);
}
static void w_bytes(pbw *w, int num, const void *p, size_t n)
{
	w_tag(w, num, 2);
	w_varint(w, n);
	w_raw(w, p, n);
}
static void w_str(pbw *w, int num, const char *s)
{
	w_bytes(w, num, s, strlen(s));
}
/* Appends sub as a length-delimited field and frees it. */
static void w_msg(pbw *w, int num, pbw *sub)
{
	w_bytes(w, num, sub->d, sub->n);
	free(sub->d);
	memset(sub, 0, sizeof *sub);
}

/* ValueInfoProto of a float tensor with the given dims (rank < 0: none). */
static void w_value_info(pbw *w, int num, const char *name, int rank, const int64_t *dims)
{
	pbw vi = {0}, tp = {0}, tt = {0}, sh = {0};
	w_str(&vi, 1, name);
	w_int(&tt, 1, LATHE_DT_F32);
	if (rank >= 0) {
		for (int i = 0; i < rank; i++) {
			pbw d = {0};
			w_int(&d, 1, dims[i]);
			w_msg(&sh, 1, &d);
		}
		w_msg(&tt, 2, &sh);
	}
	w_msg(&tp, 1, &tt);
	w_msg(&vi, 2, &tp);
	w_msg(w, num, &vi);
}

/* NodeProto with up to 3 inputs and outputs (NULL-terminated lists). */
static void w_node(pbw *w, const char *op, const char *const *in, const char *const *out,
		   pbw *attrs)
{
	pbw n = {0};
	for (; in && *in; in++)
		w_str(&n, 1, *in);
	for (; out && *out; out++)
		w_str(&n, 2, *out);
	w_str(&n, 4, op);
	if (attrs && attrs->n)
		w_raw(&n, attrs->d, attrs->n);
	if (attrs) {
		free(attrs->d);
		memset(attrs, 0, sizeof *attrs);
	}
	w_msg(w, 1, &n);
}

/* ModelProto (ir 8, ai.onnx opset `opset`) around a GraphProto. */
static pbw model_of(pbw *graph, int opset)
{
	pbw m = {0}, os = {0};
	w_int(&m, 1, 8);
	w_str(&os, 1, "");
	w_int(&os, 2, opset);
	w_msg(&m, 8, &os);
	w_msg(&m, 7, graph);
	return m;
}

/* x[2] -> Relu -> y */
static pbw tiny_model(void)
{
	pbw g = {0};
	int64_t d2 = 2;
	const char *in[] = {"x", NULL}, *out[] = {"y", NULL};
	w_node(&g, "Relu", in, out, NULL);
	w_str(&g, 2, "tiny");
	w_value_info(&g, 11, "x", 1, &d2);
	w_value_info(&g, 12, "y", 1, &d2);
	return model_of(&g, 13);
}

/* Loads; returns the error message (static copy) or NULL on success. */
static char msgbuf[2048];
static const char *try_load(const pbw *m, const char *dir, lathe_graph **out)
{
	lathe_graph *g = NULL;
	lathe_err e = lathe_onnx_load_mem(m->d, m->n, dir, &g);
	if (out)
		*out = g;
	else if (g)
		lathe_graph_destroy(g);
	if (!e)
		return NULL;
	snprintf(msgbuf, sizeof msgbuf, "%s", lathe_error_message(e));
	lathe_error_free(e);
	return msgbuf;
}

static bool has(const char *msg, const char *part)
{
	bool ok = msg && strstr(msg, part);
	if (!ok)
		fprintf(stderr, "  message '%s' lacks '%s'\n", msg ? msg : "(none: loaded)", part);
	return ok;
}

/* ---- node tests and seeds -------------------------------------------------- */

static lathe_graph *load_file(const char *dir, const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	lathe_graph *g = NULL;
	lathe_err e = lathe_onnx_load(path, &g);
	if (e) {
		fprintf(stderr, "%s: %s\n", path, lathe_error_message(e));
		lathe_error_free(e);
	}
	CHECK(g != NULL);
	return g;
}

static int count_op(const lathe_graph *g, const char *op)
{
	int n = 0;
	for (size_t i = 0; i < g->nodes.len; i++)
		if (!strcmp(lathe_op_name(g->nodes.data[i].op), op))
			n++;
	return n;
}

static void test_node_models(void)
{
	if (access(NODES, R_OK) != 0) {
		printf("test_onnx: node tests not found (%s): skipped\n", NODES);
		return;
	}
	lathe_graph *g = load_file(NODES, "test_add/model.onnx");
	if (g) {
		CHECK(g->nodes.len == 1 && count_op(g, "Add") == 1);
		CHECK(g->inputs.len == 2 && g->outputs.len == 1);
		CHECK(g->opset >= 7);
		const lathe_value *x = &g->values.data[g->inputs.data[0]];
		CHECK(x->type.kind == LATHE_TY_TENSOR && x->type.dtype == LATHE_DT_F32 &&
		      x->type.rank == 3 && x->type.dims[2].size == 5);
		lathe_graph_destroy(g);
	}
	g = load_file(NODES, "test_if/model.onnx");
	if (g) {
		CHECK(g->nodes.len == 1 && count_op(g, "If") == 1);
		const lathe_attr *t = lathe_node_attr(&g->nodes.data[0], "then_branch");
		CHECK(t && t->kind == LATHE_ATTR_GRAPH && t->u.g->parent == g);
		CHECK(t && t->u.g->outputs.len == 1);
		lathe_graph_destroy(g);
	}
	/* Loop body at opset 11: Unsqueeze's axes attribute became input 1. */
	g = load_file(NODES, "test_loop11/model.onnx");
	if (g) {
		const lathe_attr *b = lathe_node_attr(&g->nodes.data[0], "body");
		CHECK(b && b->kind == LATHE_ATTR_GRAPH);
		lathe_graph *body = b ? b->u.g : NULL;
		int unsq = 0;
		for (size_t i = 0; body && i < body->nodes.len; i++) {
			const lathe_node *n = &body->nodes.data[i];
			if (!strcmp(lathe_op_name(n->op), "Unsqueeze")) {
				unsq++;
				CHECK(n->nin == 2 && !lathe_node_attr(n, "axes"));
				CHECK(body->values.data[n->in[1]].def == LATHE_DEF_CONST);
			}
		}
		CHECK(unsq == 2);
		lathe_graph_destroy(g);
	}
	g = load_file(NODES, "test_softmax_axis_0_expanded/model.onnx");
	if (g) {
		CHECK(count_op(g, "ReduceMax") == 1 && count_op(g, "Exp") == 1);
		lathe_graph_destroy(g);
	}
	/* Scan-8 (batched, with sequence_lens) is kept as is: control.c runs it. */
	g = load_file(NODES, "test_scan_sum/model.onnx");
	if (g) {
		CHECK(count_op(g, "Scan") == 1 && g->opset == 8);
		lathe_graph_destroy(g);
	}
}

static void test_seeds(void)
{
	if (access(SEEDS, R_OK) != 0) {
		printf("test_onnx: %s not found: seed models skipped\n", SEEDS);
		return;
	}
	/* Two calls of AddScale (itself calling Scale) and one of Scale. */
	lathe_graph *g = load_file(SEEDS, "functions.onnx");
	if (g) {
		CHECK(count_op(g, "Add") == 2 && count_op(g, "Mul") == 3);
		CHECK(count_op(g, "CastLike") == 3 && g->nodes.len == 8);
		/* alpha: 3 given, 2 by default, 3 given. */
		int threes = 0, twos = 0;
		for (size_t i = 0; i < g->values.len; i++) {
			const lathe_value *v = &g->values.data[i];
			if (v->def == LATHE_DEF_CONST && v->konst->dtype == LATHE_DT_F32) {
				float f = *(float *)v->konst->data;
				threes += f == 3.0f;
				twos += f == 2.0f;
			}
		}
		CHECK(threes == 2 && twos == 1);
		/* Both imported domains are recorded. */
		int found = 0;
		for (const lathe_opset_import *o = g->opsets; o; o = o->next)
			found += (!strcmp(o->domain, "") && o->version == 18) ||
				 (!strcmp(o->domain, "local") && o->version == 1);
		CHECK(found == 2 && g->opset == 18);
		lathe_graph_destroy(g);
	}
	g = load_file(SEEDS, "old_opsets.onnx");
	if (g) {
		for (size_t i = 0; i < g->nodes.len; i++) {
			const lathe_node *n = &g->nodes.data[i];
			const char *op = lathe_op_name(n->op);
			if (!strcmp(op, "Slice"))
				CHECK(n->nin == 4 && n->nattr == 0);
			if (!strcmp(op, "Softmax"))
				CHECK(lathe_node_attr_int(n, "_coerce2d", 0) == 1 &&
				      lathe_node_attr_int(n, "axis", -1) == 1);
			if (!strcmp(op, "Split"))
				CHECK(lathe_node_attr_int(n, "num_outputs", 0) == 2);
			if (!strcmp(op, "TopK") || !strcmp(op, "Dropout") || !strcmp(op, "Upsample") ||
			    !strcmp(op, "ReduceSum") || !strcmp(op, "Squeeze"))
				CHECK(n->nin == 2 && n->in[1] != LATHE_NOVAL);
			if (!strcmp(op, "Pad") || !strcmp(op, "Clip"))
				CHECK(n->nin == 3);
		}
		lathe_graph_destroy(g);
	}
	g = load_file(SEEDS, "opset3.onnx");
	if (g) {
		for (size_t i = 0; i < g->nodes.len; i++) {
			const lathe_node *n = &g->nodes.data[i];
			const char *op = lathe_op_name(n->op);
			if (!strcmp(op, "Cast"))
				CHECK(lathe_node_attr_int(n, "to", 0) == LATHE_DT_I32);
			if (!strcmp(op, "Concat"))
				CHECK(lathe_node_attr_int(n, "axis", -1) == 1);
			if (!strcmp(op, "Reshape") || !strcmp(op, "Upsample"))
				CHECK(n->nin == 2 && n->nattr <= 1);
			if (!strcmp(op, "Upsample"))
				CHECK(!strcmp(lathe_node_attr_str(n, "mode", ""), "linear"));
			if (!strcmp(op, "BatchNormalization"))
				CHECK(n->nattr == 0);
		}
		lathe_graph_destroy(g);
	}
	/* B of f32[3] aligned at axis 1 of f32[2,3,4,5]: unsqueezed to [3,1,1]. */
	g = load_file(SEEDS, "opset6_broadcast.onnx");
	if (g) {
		CHECK(count_op(g, "Unsqueeze") == 1 && count_op(g, "Add") == 1);
		CHECK(g->nodes.len == 2 && g->nodes.data[1].nattr == 0);
		lathe_graph_destroy(g);
	}
	g = load_file(SEEDS, "opset10_resize.onnx");
	if (g) {
		const lathe_node *n = &g->nodes.data[0];
		CHECK(n->nin == 3 && n->in[1] == LATHE_NOVAL && n->in[2] != LATHE_NOVAL);
		CHECK(!strcmp(lathe_node_attr_str(n, "coordinate_transformation_mode", ""),
			      "asymmetric"));
		CHECK(!strcmp(lathe_node_attr_str(n, "nearest_mode", ""), "floor"));
		lathe_graph_destroy(g);
	}
	g = load_file(SEEDS, "opset18_groupnorm.onnx");
	if (g) {
		CHECK(count_op(g, "Expand") == 2 && count_op(g, "Shape") == 1);
		lathe_graph_destroy(g);
	}
	g = load_file(SEEDS, "initializers.onnx");
	if (g) {
		/* w is an input and an initializer: a constant, not an input. */
		CHECK(g->inputs.len == 1);
		uint64_t id;
		CHECK(lathe_map_get(&g->names, "sp", &id));
		const lathe_tensor *sp = g->values.data[id].konst;
		CHECK(sp && sp->rank == 2 && ((float *)sp->data)[1] == 1.5f &&
		      ((float *)sp->data)[4] == -2.0f && ((float *)sp->data)[0] == 0.0f);
		CHECK(lathe_map_get(&g->names, "i4", &id));
		const int8_t *i4 = g->values.data[id].konst->data;
		CHECK(i4[0] == 1 && i4[1] == -2 && i4[2] == 7);
		CHECK(lathe_map_get(&g->names, "k2", &id));
		CHECK(!strcmp(((char **)g->values.data[id].konst->data)[1], "b"));
		const lathe_value *x = &g->values.data[g->inputs.data[0]];
		CHECK(x->type.rank == 2 && x->type.dims[0].sym >= 0 &&
		      !strcmp(g->syms.data[x->type.dims[0].sym], "batch"));
		lathe_graph_destroy(g);
	}
	g = load_file(SEEDS, "subgraphs.onnx");
	if (g) {
		/* The body and the If branches in it use the main graph's x and
		 * y: captures (DEF_OUTER) chained through each level. */
		const lathe_attr *b = lathe_node_attr(&g->nodes.data[2], "body");
		CHECK(b && b->u.g->nodes.len == 3);
		lathe_graph *body = b ? b->u.g : NULL;
		const lathe_attr *t = body ? lathe_node_attr(&body->nodes.data[2], "then_branch") : NULL;
		CHECK(t && t->kind == LATHE_ATTR_GRAPH && t->u.g->parent == body);
		uint64_t id, bid;
		if (t && lathe_map_get(&t->u.g->names, "x", &id)) {
			const lathe_value *v = &t->u.g->values.data[id];
			CHECK(v->def == LATHE_DEF_OUTER);
			CHECK(lathe_map_get(&body->names, "x", &bid) && v->outer == (lathe_vid)bid);
			CHECK(body->values.data[bid].def == LATHE_DEF_OUTER);
		} else {
			CHECK(!"then_branch captures x");
		}
		lathe_graph_destroy(g);
	}
}

/* ---- external data ----------------------------------------------------------- */

/* A model whose initializer `w` (f32[2]) lives in an external file. */
static pbw external_model(const char *location, const char *offset, const char *length)
{
	pbw g = {0}, t = {0};
	w_int(&t, 1, 2);
	w_int(&t, 2, LATHE_DT_F32);
	w_str(&t, 8, "w");
	const char *kv[3][2] = {{"location", location}, {"offset", offset}, {"length", length}};
	for (int i = 0; i < 3; i++) {
		if (!kv[i][1])
			continue;
		pbw e = {0};
		w_str(&e, 1, kv[i][0]);
		w_str(&e, 2, kv[i][1]);
		w_msg(&t, 13, &e);
	}
	w_int(&t, 14, 1);
	w_msg(&g, 5, &t);
	const char *in[] = {"x", "w", NULL}, *out[] = {"y", NULL};
	w_node(&g, "Add", in, out, NULL);
	int64_t d2 = 2;
	w_value_info(&g, 11, "x", 1, &d2);
	w_value_info(&g, 12, "y", 1, &d2);
	return model_of(&g, 13);
}

static void test_external(void)
{
	char dir[] = "/tmp/lathe_onnx_XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	char path[256], sub[256];
	snprintf(sub, sizeof sub, "%s/m", dir);
	CHECK(mkdir(sub, 0700) == 0);
	float vals[3] = {9.0f, 1.5f, -2.5f};
	snprintf(path, sizeof path, "%s/m/w.bin", dir);
	FILE *f = fopen(path, "wb");
	fwrite(vals, sizeof vals, 1, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/outside.bin", dir);
	f = fopen(path, "wb");
	fwrite(vals, sizeof vals, 1, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/m/link.bin", dir);
	CHECK(symlink("../outside.bin", path) == 0);

	lathe_graph *g;
	pbw m = external_model("w.bin", "4", "8");
	CHECK(try_load(&m, sub, &g) == NULL);
	if (g) {
		uint64_t id;
		CHECK(lathe_map_get(&g->names, "w", &id));
		const float *w = g->values.data[id].konst->data;
		CHECK(w[0] == 1.5f && w[1] == -2.5f);
		CHECK(g->files.len == 1);
		lathe_graph_destroy(g);
	}
	/* Through a file, as lathe_onnx_load sees it: found next to the model. */
	snprintf(path, sizeof path, "%s/m/model.onnx", dir);
	f = fopen(path, "wb");
	fwrite(m.d, m.n, 1, f);
	fclose(f);
	g = load_file(sub, "model.onnx");
	lathe_graph_destroy(g);
	free(m.d);

	m = external_model("w.bin", "4", "8");
	CHECK(has(try_load(&m, NULL, NULL), "no directory"));
	free(m.d);
	m = external_model("../outside.bin", NULL, "8");
	CHECK(has(try_load(&m, sub, NULL), "leaves the model's directory"));
	free(m.d);
	snprintf(path, sizeof path, "%s/outside.bin", dir);
	m = external_model(path, NULL, "8");
	CHECK(has(try_load(&m, sub, NULL), "absolute path"));
	free(m.d);
	m = external_model("link.bin", NULL, "8");
	CHECK(has(try_load(&m, sub, NULL), "outside the model's directory"));
	free(m.d);
	m = external_model("w.bin", "8", "8");
	CHECK(has(try_load(&m, sub, NULL), "past the end"));
	free(m.d);
	m = external_model("w.bin", "99999999999999999999999", "8");
	CHECK(has(try_load(&m, sub, NULL), "not a number"));
	free(m.d);
	m = external_model("w.bin", "0", "12"); /* 3 floats for 2 elements */
	CHECK(has(try_load(&m, sub, NULL), "need 8"));
	free(m.d);
	m = external_model("missing.bin", NULL, NULL);
	CHECK(has(try_load(&m, sub, NULL), "not found"));
	free(m.d);

	snprintf(path, sizeof path, "%s/m/link.bin", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/m/w.bin", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/m/model.onnx", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/outside.bin", dir);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

/* ---- .pb values ---------------------------------------------------------------- */

static void test_value_pb(void)
{
	char path[] = "/tmp/lathe_onnx_pb_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	lathe_arena *a = lathe_arena_create();
	/* i64 [3] in int64_data, packed. */
	pbw t = {0}, packed = {0};
	w_int(&t, 1, 3);
	w_int(&t, 2, LATHE_DT_I64);
	w_varint(&packed, 5);
	w_varint(&packed, (uint64_t)-7);
	w_varint(&packed, 300);
	w_bytes(&t, 7, packed.d, packed.n);
	free(packed.d);
	FILE *f = fopen(path, "wb");
	fwrite(t.d, t.n, 1, f);
	fclose(f);
	lathe_rvalue rv;
	CHECK_OK(lathe_onnx_read_value_pb(a, path, NULL, &rv));
	CHECK(rv.kind == LATHE_TY_TENSOR && rv.t->dtype == LATHE_DT_I64 && rv.t->shape[0] == 3);
	CHECK(((int64_t *)rv.t->data)[1] == -7 && ((int64_t *)rv.t->data)[2] == 300);

	/* The same tensor as the one element of a SequenceProto. */
	pbw s = {0};
	w_int(&s, 2, 1);
	w_msg(&s, 3, &t);
	f = fopen(path, "wb");
	fwrite(s.d, s.n, 1, f);
	fclose(f);
	lathe_type seq = {.kind = LATHE_TY_SEQUENCE, .dtype = LATHE_DT_I64, .rank = -1};
	CHECK_OK(lathe_onnx_read_value_pb(a, path, &seq, &rv));
	CHECK(rv.kind == LATHE_TY_SEQUENCE && rv.nseq == 1 && rv.seq[0]->shape[0] == 3);
	free(s.d);

	/* An empty OptionalProto. */
	f = fopen(path, "wb");
	fclose(f);
	lathe_type opt = {.kind = LATHE_TY_OPTIONAL, .dtype = LATHE_DT_F32, .rank = -1};
	CHECK_OK(lathe_onnx_read_value_pb(a, path, &opt, &rv));
	CHECK(rv.kind == LATHE_TY_OPTIONAL && rv.dtype == LATHE_DT_F32);
	/* An empty file is no TensorProto. */
	lathe_err e = lathe_onnx_read_value_pb(a, path, NULL, &rv);
	CHECK(e && has(lathe_error_message(e), "data_type"));
	lathe_error_free(e);
	unlink(path);
	lathe_arena_destroy(a);
}

/* ---- hostile input ------------------------------------------------------------ */

static void test_truncation_and_flips(void)
{
	pbw m = tiny_model();
	lathe_graph *g;
	CHECK(try_load(&m, NULL, &g) == NULL);
	CHECK(g && g->nodes.len == 1);
	lathe_graph_destroy(g);
	/* Every strict prefix cuts a length-delimited field or drops the
	 * graph or the opset import: all errors. */
	int errors = 0;
	for (size_t n = 0; n < m.n; n++) {
		pbw p = {m.d, n, n};
		if (try_load(&p, NULL, NULL))
			errors++;
		else
			fprintf(stderr, "  prefix of %zu bytes loaded\n", n);
	}
	CHECK(errors == (int)m.n);

	/* Random bit flips of the tiny model and of a node test: any outcome
	 * but a crash (the sanitizer build checks that). */
	uint64_t s = 0x2545F4914F6CDD1Dull;
	pbw models[2] = {m, {0}};
	char path[1024];
	snprintf(path, sizeof path, "%s/test_conv_with_strides_padding/model.onnx", NODES);
	FILE *f = fopen(path, "rb");
	if (f) {
		models[1].d = malloc(1 << 16);
		models[1].n = fread(models[1].d, 1, 1 << 16, f);
		fclose(f);
	}
	int loaded = 0, runs = 0;
	for (int k = 0; k < 2; k++) {
		if (!models[k].n)
			continue;
		uint8_t *buf = malloc(models[k].n);
		for (int it = 0; it < 3000; it++) {
			memcpy(buf, models[k].d, models[k].n);
			int flips = 1 + it % 4;
			for (int j = 0; j < flips; j++) {
				s ^= s << 13, s ^= s >> 7, s ^= s << 17;
				size_t bit = s % (models[k].n * 8);
				buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			}
			pbw p = {buf, models[k].n, models[k].n};
			lathe_graph *h = NULL;
			if (!try_load(&p, NULL, &h)) {
				lathe_buf b = {0};
				lathe_graph_print(&b, h);
				lathe_buf_free(&b);
				lathe_graph_destroy(h);
				loaded++;
			}
			runs++;
		}
		free(buf);
	}
	CHECK(runs > 0 && loaded < runs);
	free(models[1].d);
	free(m.d);
}

static void test_wire_errors(void)
{
	/* A graph field claiming 4294967295 bytes. */
	pbw m = {0};
	w_int(&m, 1, 8);
	w_tag(&m, 7, 2);
	w_varint(&m, 4294967295u);
	w_raw(&m, "abc", 3);
	const char *e = try_load(&m, NULL, NULL);
	CHECK(has(e, "ModelProto: field 7: length 4294967295 past end of data (3 bytes left)"));
	free(m.d);

	/* The same inside a node's attribute: the path names it. */
	pbw g = {0}, at = {0}, att = {0};
	w_str(&att, 1, "alpha");
	w_tag(&att, 4, 2);
	w_varint(&att, 1000);
	w_msg(&at, 5, &att);
	const char *in[] = {"x", NULL}, *out[] = {"y", NULL}, *out2[] = {"z", NULL};
	int64_t d2 = 2;
	w_value_info(&g, 11, "x", 1, &d2);
	w_node(&g, "Relu", in, out, NULL);
	w_node(&g, "Elu", out, out2, &at);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL),
		  "ModelProto.graph.node[1].attribute[0]: field 4: length 1000 past end"));
	free(m.d);

	/* Groups, overlong varints, field number 0, garbage. */
	uint8_t group[] = {0x0b, 0x0c};
	pbw p = {group, 2, 2};
	CHECK(has(try_load(&p, NULL, NULL), "groups"));
	uint8_t longv[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	p = (pbw){longv, sizeof longv, 0};
	CHECK(has(try_load(&p, NULL, NULL), "varint"));
	uint8_t zero[] = {0x00, 0x01};
	p = (pbw){zero, 2, 0};
	CHECK(has(try_load(&p, NULL, NULL), "field number 0"));
	p = (pbw){(uint8_t *)"", 0, 0};
	CHECK(has(try_load(&p, NULL, NULL), "no graph"));
	const char *text = "this is not an onnx file at all";
	p = (pbw){(uint8_t *)text, strlen(text), 0};
	CHECK(try_load(&p, NULL, NULL) != NULL);
}

/* Attribute `g` holding a graph that holds a node with such an attribute...
 * `depth` times. */
static void nest(pbw *graph, int depth)
{
	pbw g = {0};
	if (depth > 0) {
		pbw inner = {0}, attrs = {0}, a = {0};
		nest(&inner, depth - 1);
		w_str(&a, 1, "then_branch");
		w_int(&a, 20, 5);
		w_msg(&a, 6, &inner);
		w_msg(&attrs, 5, &a);
		const char *in[] = {"c", NULL}, *out[] = {"o", NULL};
		w_node(&g, "If", in, out, &attrs);
	}
	*graph = g;
}

static void test_structure_errors(void)
{
	pbw g, m;
	const char *in1[] = {"x", NULL}, *out1[] = {"y", NULL}, *in_u[] = {"nope", NULL};
	int64_t d2 = 2;

	nest(&g, 100);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL), "nested more than 64 deep"));
	free(m.d);

	/* Unknown op: the node, its domain, op type and opset. */
	g = (pbw){0};
	pbw n = {0};
	w_str(&n, 1, "x");
	w_str(&n, 2, "y");
	w_str(&n, 3, "mystery");
	w_str(&n, 4, "Frobnicate");
	w_msg(&g, 1, &n);
	w_value_info(&g, 11, "x", 1, &d2);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL),
		  "node 'mystery' (ai.onnx::Frobnicate, opset 13): unsupported operator"));
	free(m.d);

	/* Undefined input, duplicate output, output nobody computes. */
	g = (pbw){0};
	w_node(&g, "Relu", in_u, out1, NULL);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL), "input 0 'nope' is not defined"));
	free(m.d);
	g = (pbw){0};
	w_value_info(&g, 11, "x", 1, &d2);
	w_node(&g, "Relu", in1, out1, NULL);
	w_node(&g, "Relu", in1, out1, NULL);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL), "defined twice"));
	free(m.d);
	g = (pbw){0};
	w_value_info(&g, 11, "x", 1, &d2);
	w_value_info(&g, 11, "x", 1, &d2);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL), "declared twice"));
	free(m.d);
	g = (pbw){0};
	w_value_info(&g, 11, "x", 1, &d2);
	w_value_info(&g, 12, "z", 1, &d2);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL), "graph output 'z' is not computed"));
	free(m.d);

	/* Tensors: absurd dims, negative dims, size mismatches, bad types. */
	struct {
		int64_t dims[3];
		int rank, dtype;
		size_t raw;
		const char *want;
	} cases[] = {
		{{1 << 30, 1 << 30, 1 << 30}, 3, LATHE_DT_F32, 4, "2^40"},
		{{(int64_t)1 << 62, 4, 0}, 2, LATHE_DT_F32, 4, "2^40"},
		{{-3, 0, 0}, 1, LATHE_DT_F32, 4, "negative"},
		{{2, 0, 0}, 1, LATHE_DT_F32, 4, "need 8"},
		{{3, 0, 0}, 1, LATHE_DT_I4, 1, "need 2"},
		{{2, 0, 0}, 1, 99, 8, "not an element type"},
		{{2, 0, 0}, 1, 0, 8, "UNDEFINED"},
		{{1, 0, 0}, 1, LATHE_DT_STR, 8, "strings"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		g = (pbw){0};
		pbw t = {0};
		for (int d = 0; d < cases[i].rank; d++)
			w_int(&t, 1, cases[i].dims[d]);
		w_int(&t, 2, cases[i].dtype);
		w_str(&t, 8, "w");
		w_bytes(&t, 9, "\0\0\0\0\0\0\0\0", cases[i].raw);
		w_msg(&g, 5, &t);
		m = model_of(&g, 13);
		const char *e = try_load(&m, NULL, NULL);
		CHECK(has(e, cases[i].want) && has(e, "ModelProto.graph.initializer[0]"));
		free(m.d);
	}
	/* float_data with one value too few. */
	g = (pbw){0};
	pbw t = {0};
	w_int(&t, 1, 2);
	w_int(&t, 2, LATHE_DT_F32);
	w_str(&t, 8, "w");
	w_tag(&t, 4, 5);
	w_raw(&t, "\0\0\x80\x3f", 4);
	w_msg(&g, 5, &t);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL), "float_data, but it holds 1"));
	free(m.d);

	/* A negative dim_value in a declared type. */
	g = (pbw){0};
	int64_t neg = -1;
	w_value_info(&g, 11, "x", 1, &neg);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL), "negative dim_value"));
	free(m.d);

	/* No opset for the node's domain. */
	g = (pbw){0};
	w_value_info(&g, 11, "x", 1, &d2);
	n = (pbw){0};
	w_str(&n, 1, "x");
	w_str(&n, 2, "y");
	w_str(&n, 4, "LabelEncoder");
	w_str(&n, 7, "ai.onnx.ml");
	w_msg(&g, 1, &n);
	m = model_of(&g, 13);
	CHECK(has(try_load(&m, NULL, NULL), "imports no opset for domain 'ai.onnx.ml'"));
	free(m.d);
}

/* A model whose functions f0..f{n-1} each call the previous one `calls`
 * times (f0 is a Relu); main calls f{n-1}.  With self == true f0 calls
 * itself instead. */
static pbw function_model(int n, int calls, bool self)
{
	pbw m = {0}, os = {0}, g = {0};
	w_int(&m, 1, 8);
	w_str(&os, 1, "");
	w_int(&os, 2, 13);
	w_msg(&m, 8, &os);
	os = (pbw){0};
	w_str(&os, 1, "local");
	w_int(&os, 2, 1);
	w_msg(&m, 8, &os);
	char name[32], callee[32];
	for (int i = 0; i < n; i++) {
		pbw fn = {0};
		snprintf(name, sizeof name, "f%d", i);
		w_str(&fn, 1, name);
		w_str(&fn, 10, "local");
		w_str(&fn, 4, "a");
		w_str(&fn, 5, "b");
		const char *prev = "a";
		char vals[64][16];
		for (int k = 0; k < calls; k++) {
			pbw nd = {0};
			snprintf(vals[k], sizeof vals[k], k == calls - 1 ? "b" : "v%d", k);
			w_str(&nd, 1, prev);
			w_str(&nd, 2, vals[k]);
			if (i == 0 && !self) {
				w_str(&nd, 4, "Relu");
			} else {
				snprintf(callee, sizeof callee, "f%d", self ? 0 : i - 1);
				w_str(&nd, 4, callee);
				w_str(&nd, 7, "local");
			}
			w_msg(&fn, 7, &nd);
			prev = vals[k];
		}
		w_msg(&m, 25, &fn);
	}
	pbw nd = {0};
	w_str(&nd, 1, "x");
	w_str(&nd, 2, "y");
	snprintf(name, sizeof name, "f%d", n - 1);
	w_str(&nd, 4, name);
	w_str(&nd, 7, "local");
	w_msg(&g, 1, &nd);
	int64_t d2 = 2;
	w_value_info(&g, 11, "x", 1, &d2);
	w_value_info(&g, 12, "y", 1, &d2);
	w_msg(&m, 7, &g);
	return m;
}

static void test_functions(void)
{
	lathe_graph *g;
	pbw m = function_model(3, 2, false); /* 2^3 Relus */
	CHECK(try_load(&m, NULL, &g) == NULL);
	CHECK(g && g->nodes.len == 8 && count_op(g, "Relu") == 8);
	lathe_graph_destroy(g);
	free(m.d);
	m = function_model(1, 1, true);
	CHECK(has(try_load(&m, NULL, NULL), "nested more than 32 deep"));
	free(m.d);
	/* 2^30 Relus from a few hundred bytes. */
	m = function_model(31, 2, false);
	CHECK(has(try_load(&m, NULL, NULL), "expands to far more nodes"));
	free(m.d);
}

int main(void)
{
	test_node_models();
	test_seeds();
	test_external();
	test_value_pb();
	test_truncation_and_flips();
	test_wire_errors();
	test_structure_errors();
	test_functions();
	return CHECK_DONE("test_onnx");
}
