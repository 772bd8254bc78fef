/* jit.c: the C backend as a backend of the graph executor (jit.h).
 *
 * The executor hands every lowered loop program to jit_run_fn.  It is
 * printed with a neutral symbol (LATHE_FN), and the hash of that text plus
 * a salt (the prelude, the compiler, the flags) is its key.  A key maps to
 * a function pointer: in memory once loaded, else through the cache's
 * f/KEY file to a library c/LIB.so.  Before pass 1, prescan lowers what it
 * can predict and compiles the missing functions in one go; keys pass 1
 * still misses are interpreted and recorded, and lathe_jit_run then
 * compiles them (symbol f_KEY, exported as lathe_f_KEY) and runs pass 2,
 * in which every key must resolve.
 *
 * Invariants: a loaded library stays loaded until lathe_jit_destroy (its
 * function pointers are in the map); the scratch buffer is only used by
 * one compiled call at a time (compiled code never calls back into the
 * executor); prescan never changes the graph.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codegen/codegen.h"
#include "codegen/jit.h"
#include "sched/sched.h"

typedef int (*jit_fn)(void *const *args, lathe_rt_pool *pool);

/* Bumped when the generated code's conventions change without the text
 * showing it. */
#define JIT_ABI "lathe-jit-1"
#define SYM_PLACEHOLDER "LATHE_FN"

struct lathe_jit {
	char *dir;
	char *cflags;
	char salt[33];
	lathe_codegen_opts co;
	lathe_rt_pool *pool;
	FILE *log;
	bool fallback;
	bool schedule;
	lathe_target target;
	lathe_map fns; /* key -> index in funcs */
	LATHE_VEC(jit_fn) funcs;
	lathe_map libs; /* library key -> 1 once loaded */
	LATHE_VEC(void *) handles;
	/* The current run. */
	int pass;
	lathe_map pending; /* key -> 1 */
	LATHE_VEC(char *) pkeys;
	LATHE_VEC(char *) ptexts;
	lathe_map used;
	int nused;
	void *scratch;
	size_t scratch_cap;
	lathe_jit_stats stats;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- keys ------------------------------------------------------------------ */

/* 128 bits from two independent 64-bit hashes (FNV-1a and a multiply-
 * rotate mix): collisions among a cache's functions are not a concern. */
static void hash_hex(const char *a, const char *b, char out[33])
{
	uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x9e3779b97f4a7c15ull;
	for (int part = 0; part < 2; part++) {
		const unsigned char *p = (const unsigned char *)(part ? b : a);
		for (; p && *p; p++) {
			h1 = (h1 ^ *p) * 0x100000001b3ull;
			h2 = (h2 ^ *p) * 0xff51afd7ed558ccdull;
			h2 = (h2 << 29) | (h2 >> 35);
		}
		h1 = (h1 ^ 0xff) * 0x100000001b3ull; /* separates a from b */
	}
	h2 ^= h2 >> 33;
	h2 *= 0xc4ceb9fe1a85ec53ull;
	h2 ^= h2 >> 33;
	snprintf(out, 33, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

static bool is_key(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 32;
}

/* ---- files ------------------------------------------------------------------ */

static lathe_err mkdirs(const char *path)
{
	char *p = lathe_xstrdup(path);
	lathe_err err = NULL;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, 0777) != 0 && errno != EEXIST) {
			err = lathe_error(LATHE_EIO, "cannot create the cache directory %s: %s "
					  "(set $LATHE_CACHE to a writable directory)", p, strerror(errno));
			break;
		}
		*s = saved;
		if (!saved)
			break;
	}
	free(p);
	return err;
}

/* Writes data to path through a temporary file and a rename. */
static lathe_err write_file(const char *path, const char *data, size_t n)
{
	size_t len = strlen(path);
	char *tmp = lathe_xmalloc(len + 16);
	snprintf(tmp, len + 16, "%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	lathe_err err = NULL;
	if (fd < 0) {
		err = lathe_error(LATHE_EIO, "cannot write %s: %s", path, strerror(errno));
	} else {
		FILE *f = fdopen(fd, "wb");
		bool ok = f && fwrite(data, 1, n, f) == n;
		ok = (f ? fclose(f) == 0 : (close(fd), false)) && ok;
		if (!ok || rename(tmp, path) != 0) {
			err = lathe_error(LATHE_EIO, "cannot write %s: %s", path, strerror(errno));
			unlink(tmp);
		}
	}
	free(tmp);
	return err;
}

static char *path_of(const lathe_jit *j, const char *sub, const char *key, const char *ext)
{
	size_t n = strlen(j->dir) + strlen(sub) + strlen(key) + strlen(ext) + 4;
	char *p = lathe_xmalloc(n);
	snprintf(p, n, "%s/%s/%s%s", j->dir, sub, key, ext);
	return p;
}

/* ---- libraries and lookups --------------------------------------------------- */

static bool load_lib(lathe_jit *j, const char *lib)
{
	uint64_t one;
	if (lathe_map_get(&j->libs, lib, &one))
		return true;
	char *path = path_of(j, "c", lib, ".so");
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	free(path);
	if (!h)
		return false;
	lathe_vec_push(&j->handles, h);
	lathe_map_put(&j->libs, lib, 1);
	return true;
}

static jit_fn sym_of(lathe_jit *j, const char *lib, const char *key)
{
	char name[64];
	snprintf(name, sizeof name, "lathe_f_%s", key);
	char *path = path_of(j, "c", lib, ".so");
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	free(path);
	if (!h)
		return NULL;
	void *p = dlsym(h, name);
	dlclose(h); /* drops the NOLOAD reference; load_lib's stays */
	jit_fn fn;
	memcpy(&fn, &p, sizeof fn); /* object pointer to function pointer, as POSIX allows */
	return p ? fn : NULL;
}

static void remember(lathe_jit *j, const char *key, jit_fn fn)
{
	lathe_map_put(&j->fns, key, j->funcs.len);
	lathe_vec_push(&j->funcs, fn);
}

/* The compiled function of key, from memory or the cache; NULL if none. */
static jit_fn find(lathe_jit *j, const char *key)
{
	uint64_t i;
	if (lathe_map_get(&j->fns, key, &i))
		return j->funcs.data[i];
	char *path = path_of(j, "f", key, "");
	char lib[40] = "";
	FILE *f = fopen(path, "r");
	free(path);
	if (!f)
		return NULL;
	bool ok = fgets(lib, sizeof lib, f) != NULL;
	fclose(f);
	lib[strcspn(lib, "\n")] = '\0';
	if (!ok || !is_key(lib) || !load_lib(j, lib))
		return NULL;
	jit_fn fn = sym_of(j, lib, key);
	if (fn)
		remember(j, key, fn);
	return fn;
}

/* ---- the executor backend ---------------------------------------------------- */

static lathe_err call(lathe_jit *j, lathe_tir_func *fn, jit_fn cfn, void *const *args)
{
	size_t need = lathe_codegen_scratch_size(fn);
	if (need > j->scratch_cap) {
		free(j->scratch);
		j->scratch_cap = (need + 63) / 64 * 64;
		j->scratch = aligned_alloc(64, j->scratch_cap);
		if (!j->scratch) {
			j->scratch_cap = 0;
			return lathe_error(LATHE_ENOMEM, "cannot allocate %zu bytes of scratch for func @%s",
					   need, fn->name);
		}
	}
	void **a = lathe_xcalloc((size_t)fn->nparams + 1, sizeof *a);
	memcpy(a, args, sizeof *a * (size_t)fn->nparams);
	a[fn->nparams] = j->scratch;
	int rc = cfn(a, j->pool);
	free(a);
	if (rc == 0)
		return NULL;
	/* The interpreter says precisely what went wrong. */
	lathe_err e = lathe_tir_interp(fn, args);
	if (!e)
		e = lathe_error(LATHE_EINTERNAL, "the compiled code of func @%s reported an error (%d) that "
				"the interpreter does not", fn->name, rc);
	return e;
}

/* Schedules fn (if it has a class) and prints it; its key. */
static lathe_err text_of(lathe_jit *j, lathe_tir_func *fn, lathe_buf *text, char key[33])
{
	if (j->schedule && fn->sched_class != LATHE_SCHED_NONE)
		LATHE_TRYF(lathe_sched_default(fn, &j->target), "scheduling func @%s", fn->name);
	LATHE_TRY(lathe_codegen_c_func_opts(text, fn, SYM_PLACEHOLDER, &j->co));
	hash_hex(text->data, j->salt, key);
	return NULL;
}

static void add_pending(lathe_jit *j, const char *key, lathe_buf *text)
{
	uint64_t one;
	if (!lathe_map_get(&j->pending, key, &one)) {
		lathe_map_put(&j->pending, key, 1);
		lathe_vec_push(&j->pkeys, lathe_xstrdup(key));
		lathe_vec_push(&j->ptexts, text->data);
		*text = (lathe_buf){0};
	} else {
		lathe_buf_free(text);
	}
}

static lathe_err jit_run_fn(void *ctx, lathe_tir_func *fn, void *const *args)
{
	lathe_jit *j = ctx;
	lathe_buf text = {0};
	char key[33];
	lathe_err err = text_of(j, fn, &text, key);
	if (err) {
		lathe_buf_free(&text);
		return err;
	}
	uint64_t one;
	if (!lathe_map_get(&j->used, key, &one)) {
		lathe_map_put(&j->used, key, 1);
		j->nused++;
	}
	jit_fn cfn = find(j, key);
	if (cfn) {
		lathe_buf_free(&text);
		return call(j, fn, cfn, args);
	}
	if (j->pass > 1) {
		lathe_buf_free(&text);
		return lathe_error(LATHE_EINTERNAL, "func @%s was not compiled in the first pass", fn->name);
	}
	add_pending(j, key, &text);
	return lathe_tir_interp(fn, args);
}

enum { SMALL = 4096 }; /* elements: values prescan computes itself */

static bool small_known(const lathe_tensor *t)
{
	return t && lathe_tensor_numel(t) <= SMALL;
}

/* Shape and Size need only their input's shape: run their kernels on a
 * tensor without data. */
static void shape_value(lathe_graph *g, const lathe_node *n, const lathe_type *t, lathe_arena *a,
			lathe_tensor **out)
{
	int64_t *shape = lathe_arena_new(a, int64_t, t->rank + 1);
	for (int d = 0; d < t->rank; d++)
		shape[d] = t->dims[d].size;
	lathe_tensor x = {t->dtype, t->rank, shape, NULL};
	lathe_rvalue in = {.kind = LATHE_TY_TENSOR, .dtype = t->dtype, .t = &x}, res = {0};
	lathe_kernel_ctx kc = {.graph = g, .node = n, .nin = 1, .nout = 1, .in = &in, .out = &res,
			       .arena = a};
	lathe_err err = lathe_ops[n->op].kernel(&kc);
	if (!err && res.kind == LATHE_TY_TENSOR)
		*out = res.t;
	lathe_error_free(err);
}

/* Runs a lowered node on small known inputs (shape arithmetic). */
static void small_value(const lathe_node *n, const lathe_tir_func *fn, lathe_tensor *const *kin,
			lathe_arena *a, lathe_tensor **out)
{
	void **args = lathe_arena_new(a, void *, fn->nparams + 1);
	lathe_tensor **res = lathe_arena_new(a, lathe_tensor *, n->nout + 1);
	int p = 0;
	for (int i = 0; i < n->nin; i++) {
		if (n->in[i] == LATHE_NOVAL)
			continue;
		if (!small_known(kin[i]))
			return;
		args[p++] = kin[i]->data;
	}
	for (int i = 0; i < n->nout; i++) {
		const lathe_tir_buf *b = fn->bufs.data[p];
		int64_t numel;
		lathe_err err = lathe_shape_numel(b->rank, b->shape, &numel);
		if (!err && numel <= SMALL)
			err = lathe_tensor_alloc(a, b->dtype, b->rank, b->shape, &res[i]);
		if (err || numel > SMALL) {
			lathe_error_free(err);
			return;
		}
		args[p++] = res[i]->data;
	}
	lathe_err err = lathe_tir_interp(fn, args);
	if (err) {
		lathe_error_free(err);
		return;
	}
	for (int i = 0; i < n->nout; i++)
		out[i] = res[i];
}

/* Before pass 1: walks g's nodes with the types the run will see (the
 * actual inputs', then each node's outputs as its op infers them), lowers
 * every node whose input types are all known exactly as the executor will,
 * and queues the functions not compiled yet, so that one compilation
 * covers nearly everything and pass 1 rarely interprets.  Parameter inputs
 * (a Reshape's shape) need values: constants, and the small shape
 * computations exported models do (Shape, Slice, Concat... on a few
 * integers), which are computed here.  What it cannot know (outputs of
 * data-dependent ops) it leaves to pass 1; a wrong guess only costs an
 * unused compiled function. */
static void prescan(lathe_jit *j, lathe_graph *g, const lathe_rvalue *in)
{
	lathe_arena *a = lathe_arena_create();
	size_t nv = g->values.len;
	const lathe_type **vt = lathe_arena_new(a, const lathe_type *, nv + 1);
	lathe_tensor **kv = lathe_arena_new(a, lathe_tensor *, nv + 1);
	for (size_t v = 0; v < nv; v++) {
		const lathe_value *val = &g->values.data[v];
		lathe_tensor *t = NULL;
		if (val->def == LATHE_DEF_CONST) {
			t = val->konst;
			kv[v] = t;
		} else if (val->def == LATHE_DEF_INPUT && in[val->index].kind == LATHE_TY_TENSOR) {
			t = in[val->index].t;
		}
		if (t && t->dtype != LATHE_DT_STR) {
			lathe_type *ty = lathe_arena_new(a, lathe_type, 1);
			*ty = lathe_type_tensor(a, t->dtype, t->rank, t->shape);
			vt[v] = ty;
		}
	}
	for (size_t k = 0; k < g->nodes.len; k++) {
		const lathe_node *n = &g->nodes.data[k];
		const lathe_op_info *op = &lathe_ops[n->op];
		if (n->dead || n->group)
			continue;
		const lathe_type **tin = lathe_arena_new(a, const lathe_type *, n->nin + 1);
		const lathe_tensor **vin = lathe_arena_new(a, const lathe_tensor *, n->nin + 1);
		lathe_tensor **kin = lathe_arena_new(a, lathe_tensor *, n->nin + 1);
		bool ok = true;
		for (int i = 0; i < n->nin && ok; i++) {
			if (n->in[i] == LATHE_NOVAL)
				continue;
			tin[i] = vt[n->in[i]];
			kin[i] = kv[n->in[i]];
			ok = tin[i] != NULL;
			if (ok && i < 32 && (op->params >> i & 1)) {
				ok = kin[i] != NULL;
				vin[i] = kin[i];
			}
		}
		if (!ok)
			continue;
		lathe_type *out = lathe_arena_new(a, lathe_type, n->nout + 1);
		lathe_infer_ctx ic = {.graph = g, .node = n, .nin = n->nin, .nout = n->nout,
				      .in = tin, .in_val = vin, .out = out, .arena = a};
		lathe_err err = op->infer(&ic);
		for (int i = 0; !err && i < n->nout; i++)
			if (out[i].kind == LATHE_TY_TENSOR && lathe_type_is_static(&out[i]) &&
			    out[i].dtype != LATHE_DT_STR)
				vt[n->out[i]] = &out[i];
		lathe_error_free(err);
		if ((n->op == LATHE_OP_Shape || n->op == LATHE_OP_Size) && n->nin >= 1 && tin[0] &&
		    n->nout == 1)
			shape_value(g, n, tin[0], a, &kv[n->out[0]]);
		if (!op->lower)
			continue;
		lathe_arena *fa = lathe_arena_create();
		lathe_tir_func *fn = NULL;
		err = lathe_exec_lower_node(g, n, tin, vin, fa, &fn);
		if (fn && !err) {
			lathe_tir_simplify(fn);
			err = lathe_tir_verify(fn);
		}
		if (fn && !err) {
			lathe_tensor **res = lathe_arena_new(a, lathe_tensor *, n->nout + 1);
			small_value(n, fn, kin, a, res);
			for (int i = 0; i < n->nout; i++)
				if (res[i])
					kv[n->out[i]] = res[i];
		}
		lathe_buf text = {0};
		char key[33];
		if (fn && !err)
			err = text_of(j, fn, &text, key);
		if (fn && !err && !find(j, key))
			add_pending(j, key, &text);
		lathe_buf_free(&text);
		lathe_error_free(err);
		if (fn)
			lathe_tir_func_deinit(fn);
		lathe_arena_destroy(fa);
	}
	lathe_arena_destroy(a);
}

/* Replaces every SYM_PLACEHOLDER in text by sym. */
static void put_renamed(lathe_buf *out, const char *text, const char *sym)
{
	size_t n = strlen(SYM_PLACEHOLDER);
	for (const char *p = text;;) {
		const char *q = strstr(p, SYM_PLACEHOLDER);
		if (!q) {
			lathe_buf_puts(out, p);
			return;
		}
		lathe_buf_printf(out, "%.*s%s", (int)(q - p), p, sym);
		p = q + n;
	}
}

static lathe_err compile_pending(lathe_jit *j)
{
	lathe_buf src = {0};
	lathe_codegen_c_prelude(&src);
	for (size_t i = 0; i < j->pkeys.len; i++) {
		char sym[48];
		snprintf(sym, sizeof sym, "f_%s", j->pkeys.data[i]);
		put_renamed(&src, j->ptexts.data[i], sym);
		lathe_buf_printf(&src, "int lathe_f_%s(void *const *args, lathe_rt_pool *pool);\n"
			       "int lathe_f_%s(void *const *args, lathe_rt_pool *pool)\n{\n"
			       "\treturn f_%s(args, pool);\n}\n\n",
			       j->pkeys.data[i], j->pkeys.data[i], j->pkeys.data[i]);
	}
	char lib[33];
	hash_hex(src.data, j->salt, lib);
	char *cpath = path_of(j, "c", lib, ".c"), *sopath = path_of(j, "c", lib, ".so");
	lathe_err err = NULL;
	struct stat st;
	if (stat(sopath, &st) != 0) {
		double t0 = now_ms();
		if (j->log)
			fprintf(j->log, "lathe: compiling %zu loop program%s with the C compiler...\n",
				j->pkeys.len, j->pkeys.len == 1 ? "" : "s");
		err = write_file(cpath, src.data, src.len);
		if (!err) {
			const char *files[1] = {cpath};
			err = lathe_codegen_cc_shared(files, 1, sopath, j->cflags);
		}
		j->stats.ms_cc += now_ms() - t0;
	}
	if (!err && !load_lib(j, lib))
		err = lathe_error(LATHE_EIO, "cannot load the compiled library %s: %s", sopath, dlerror());
	for (size_t i = 0; !err && i < j->pkeys.len; i++) {
		const char *key = j->pkeys.data[i];
		jit_fn fn = sym_of(j, lib, key);
		if (!fn) {
			err = lathe_error(LATHE_EINTERNAL, "%s lacks lathe_f_%s", sopath, key);
			break;
		}
		remember(j, key, fn);
		char *fpath = path_of(j, "f", key, "");
		char line[40];
		int n = snprintf(line, sizeof line, "%s\n", lib);
		lathe_err we = write_file(fpath, line, (size_t)n);
		lathe_error_free(we); /* a lost index entry only costs a recompile */
		free(fpath);
	}
	j->stats.ncompiled += (int)j->pkeys.len;
	free(cpath);
	free(sopath);
	lathe_buf_free(&src);
	return err;
}

static void clear_run(lathe_jit *j)
{
	for (size_t i = 0; i < j->pkeys.len; i++) {
		free(j->pkeys.data[i]);
		free(j->ptexts.data[i]);
	}
	j->pkeys.len = j->ptexts.len = 0;
	lathe_map_deinit(&j->pending);
	lathe_map_init(&j->pending);
	lathe_map_deinit(&j->used);
	lathe_map_init(&j->used);
	j->nused = 0;
}

static lathe_err run_pass(lathe_jit *j, lathe_graph *g, lathe_arena *arena, const lathe_rvalue *in,
			  lathe_rvalue *out)
{
	lathe_exec *x = lathe_exec_create(arena);
	lathe_exec_backend b = {.ctx = j, .run = jit_run_fn};
	lathe_exec_set_backend(x, &b);
	lathe_err err = lathe_exec_run(x, g, in, out);
	lathe_exec_destroy(x);
	return err;
}

lathe_err lathe_jit_run(lathe_jit *j, lathe_graph *g, lathe_arena *arena, const lathe_rvalue *in,
			lathe_rvalue *out)
{
	clear_run(j);
	memset(&j->stats, 0, sizeof j->stats);
	j->pass = 1;
	j->stats.npasses = 1;
	lathe_err err = NULL;
	prescan(j, g, in);
	if (j->pkeys.len) {
		err = compile_pending(j);
		if (err && j->fallback && lathe_error_code(err) == LATHE_EUNSUPPORTED) {
			lathe_error_free(err); /* pass 1 interprets; reported below */
			err = NULL;
		}
		clear_run(j);
	}
	if (!err)
		err = run_pass(j, g, arena, in, out);
	if (!err && j->pkeys.len) {
		err = compile_pending(j);
		if (err && j->fallback && lathe_error_code(err) == LATHE_EUNSUPPORTED) {
			/* No C compiler: pass 1's outputs are complete and correct. */
			lathe_error_free(err);
			err = NULL;
			j->stats.interpreted = true;
		} else if (!err) {
			j->pass = 2;
			j->stats.npasses = 2;
			err = run_pass(j, g, arena, in, out);
		}
	}
	j->stats.nfuncs = j->nused;
	clear_run(j);
	return err;
}

const lathe_jit_stats *lathe_jit_last_stats(const lathe_jit *j)
{
	return &j->stats;
}

/* ---- life cycle ---------------------------------------------------------------- */

static char *default_cache_dir(void)
{
	const char *s = getenv("LATHE_CACHE");
	if (s && *s)
		return lathe_xstrdup(s);
	lathe_buf b = {0};
	s = getenv("XDG_CACHE_HOME");
	if (s && *s) {
		lathe_buf_printf(&b, "%s/lathe", s);
		return b.data;
	}
	s = getenv("HOME");
	if (!s || !*s)
		return NULL;
	lathe_buf_printf(&b, "%s/.cache/lathe", s);
	return b.data;
}

lathe_err lathe_jit_create(const lathe_jit_opts *o, lathe_jit **out)
{
	lathe_jit_opts def = {0};
	if (!o)
		o = &def;
	char *dir = o->cache_dir ? lathe_xstrdup(o->cache_dir) : default_cache_dir();
	if (!dir)
		return lathe_error(LATHE_EINVAL, "no cache directory for compiled code: "
				   "set $LATHE_CACHE (or $HOME)");
	lathe_buf sub = {0};
	lathe_buf_printf(&sub, "%s/c", dir);
	lathe_err err = mkdirs(sub.data);
	sub.len = 0;
	lathe_buf_printf(&sub, "%s/f", dir);
	if (!err)
		err = mkdirs(sub.data);
	lathe_buf_free(&sub);
	if (err) {
		free(dir);
		return err;
	}
	lathe_jit *j = lathe_xcalloc(1, sizeof *j);
	j->dir = dir;
	j->cflags = lathe_xstrdup(o->cflags ? o->cflags : "-march=native -w");
	j->co.check_all = o->check_all;
	/* Loaded at run time: it cannot link the runtime's micro-kernels. */
	j->co.embed_ukernels = true;
	j->log = o->log;
	j->fallback = o->fallback;
	int nt = o->nthreads > 0 ? o->nthreads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	j->pool = lathe_rt_pool_create(nt > 0 ? nt : 1);
	j->schedule = !o->no_schedule;
	lathe_target_host(&j->target);
	j->target.threads = lathe_rt_pool_size(j->pool);
	j->co.vector_bytes = j->target.vector_bytes;
	lathe_map_init(&j->fns);
	lathe_map_init(&j->libs);
	lathe_map_init(&j->pending);
	lathe_map_init(&j->used);
	/* The salt: what else decides the machine code of a text. */
	lathe_buf salt = {0};
	lathe_codegen_c_prelude(&salt);
	const char *cc = getenv("CC");
	lathe_buf_printf(&salt, "\n%s\n%s\n%s\n%d %d\n", JIT_ABI, cc && *cc ? cc : "cc", j->cflags,
			 (int)o->check_all, j->co.vector_bytes);
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
	/* -march=native code of one CPU may not run on another sharing the
	 * cache (a network home directory). */
	__builtin_cpu_init();
	lathe_buf_printf(&salt, "cpu %d %d %d %d\n", __builtin_cpu_supports("avx512f") != 0,
			 __builtin_cpu_supports("avx2") != 0, __builtin_cpu_supports("fma") != 0,
			 __builtin_cpu_supports("sse4.2") != 0);
#endif
	hash_hex(salt.data, "", j->salt);
	lathe_buf_free(&salt);
	*out = j;
	return NULL;
}

void lathe_jit_destroy(lathe_jit *j)
{
	if (!j)
		return;
	clear_run(j);
	lathe_map_deinit(&j->pending);
	lathe_map_deinit(&j->used);
	lathe_map_deinit(&j->fns);
	lathe_map_deinit(&j->libs);
	lathe_vec_free(&j->funcs);
	lathe_vec_free(&j->pkeys);
	lathe_vec_free(&j->ptexts);
	/* The pool first: no compiled code runs after this. */
	lathe_rt_pool_destroy(j->pool);
	for (size_t i = 0; i < j->handles.len; i++)
		dlclose(j->handles.data[i]);
	lathe_vec_free(&j->handles);
	free(j->scratch);
	free(j->cflags);
	free(j->dir);
	free(j);
}
