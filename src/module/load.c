/* load.c: opening and running a compiled module (a shared library).
 *
 * lathe_module_open reads DIR/module.txt, dlopens DIR/libNAME.so (local
 * symbols: several modules can be open at once) and maps DIR/weights.bin.
 * Before anything runs it checks that the three belong together: the
 * library carries the text of the manifest it was built with
 * (NAME_manifest), which must equal DIR/module.txt, and the weights file
 * must have the size the manifest says.  The library's ELF headers are
 * checked against its size before dlopen: the loader maps a truncated file
 * (a full disk, an interrupted copy) past its end and dies of SIGBUS
 * instead of reporting it.  A module compiled again while another process
 * holds the old one open is safe: compile.c renames new files into place
 * instead of rewriting them.
 */
#include "module/module.h"

#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lathe_rt.h"

typedef int (*run_fn)(const void *weights, void *const *inputs, void *const *outputs,
		      void *workspace, struct lathe_rt_pool *pool);
typedef int (*run_hooked_fn)(const void *weights, void *const *inputs, void *const *outputs,
			     void *workspace, struct lathe_rt_pool *pool,
			     void (*hook)(void *ctx, int step), void *ctx);

struct lathe_module {
	lathe_arena *arena;
	lathe_manifest m;
	void *dl;
	run_fn run;
	run_hooked_fn run_hooked; /* NULL in a library that predates profiling */
	lathe_mapped_file weights;
	bool mapped;
};

const lathe_manifest *lathe_module_manifest(const lathe_module *m)
{
	return &m->m;
}

void lathe_module_close(lathe_module *m)
{
	if (!m)
		return;
	if (m->mapped)
		lathe_file_unmap(&m->weights);
	if (m->dl)
		dlclose(m->dl);
	lathe_arena_destroy(m->arena);
	free(m);
}

/* Whether every part of the file its ELF headers name lies inside it. */
static bool elf_fits(const uint8_t *p, size_t size, const char **why)
{
	ElfW(Ehdr) eh;
	if (size < sizeof eh || memcmp(p, ELFMAG, SELFMAG)) {
		*why = "not an ELF shared library";
		return false;
	}
	memcpy(&eh, p, sizeof eh);
	if (eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
	    eh.e_type != ET_DYN || eh.e_phentsize != sizeof(ElfW(Phdr))) {
		*why = "an ELF file, but not a shared library for this machine";
		return false;
	}
	*why = "truncated or damaged: its ELF headers describe more bytes than it has";
	if (eh.e_phoff > size || eh.e_phnum > (size - eh.e_phoff) / sizeof(ElfW(Phdr)))
		return false;
	if (eh.e_shoff && (eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shoff > size ||
			   eh.e_shnum > (size - eh.e_shoff) / sizeof(ElfW(Shdr))))
		return false;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		ElfW(Phdr) ph;
		memcpy(&ph, p + eh.e_phoff + (size_t)i * sizeof ph, sizeof ph);
		if (ph.p_type != PT_NULL && (ph.p_offset > size || ph.p_filesz > size - ph.p_offset))
			return false;
	}
	return true;
}

static lathe_err check_library(const char *lib)
{
	lathe_mapped_file f;
	LATHE_TRY(lathe_file_map(lib, &f));
	const char *why = NULL;
	bool ok = f.size && elf_fits(f.data, f.size, &why);
	lathe_file_unmap(&f);
	if (!ok)
		return lathe_error(LATHE_EINVAL, "cannot load %s: it is %s: compile the model again",
				   lib, why ? why : "empty");
	return NULL;
}

static lathe_err open_module(lathe_module *mod, const char *dir)
{
	lathe_arena *a = mod->arena;
	struct stat st;
	if (stat(dir, &st))
		return lathe_error(LATHE_EIO, "%s: no such module directory", dir);
	if (!S_ISDIR(st.st_mode))
		return lathe_error(LATHE_EINVAL, "%s is not a module directory", dir);
	const char *man_path = lathe_arena_printf(a, "%s/module.txt", dir);
	lathe_mapped_file mf;
	lathe_err e = lathe_file_map(man_path, &mf);
	if (e) {
		lathe_error_free(e);
		return lathe_error(LATHE_EIO, "%s has no module.txt: not a compiled module (make one "
				   "with `lathe compile MODEL -o %s`)", dir, dir);
	}
	/* An empty file maps to no address at all. */
	char *text = mf.size ? lathe_arena_strndup(a, (const char *)mf.data, mf.size)
			     : lathe_arena_strdup(a, "");
	size_t len = mf.size;
	lathe_file_unmap(&mf);
	LATHE_TRY(lathe_manifest_parse(a, text, len, man_path, &mod->m));
	const lathe_manifest *m = &mod->m;
	if (!m->library)
		return lathe_error(LATHE_EINVAL, "%s holds a standalone C bundle, not a shared library: "
				   "build %s/%s.c with your program (see examples/), or compile the "
				   "model without --emit c", dir, dir, m->name);
	const char *want = lathe_arena_printf(a, "lib%s.so", m->name);
	if (strcmp(m->library, want))
		return lathe_error(LATHE_EINVAL, "%s: the library of module '%s' must be %s", man_path,
				   m->name, want);
	const char *lib = lathe_arena_printf(a, "%s/%s", dir, m->library);
	if (stat(lib, &st))
		return lathe_error(LATHE_EIO, "%s is missing: compile the model again", lib);
	LATHE_TRY(check_library(lib));
	mod->dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!mod->dl) {
		const char *why = dlerror();
		return lathe_error(LATHE_EINVAL, "cannot load %s: %s", lib, why ? why : "dlopen failed");
	}
	const char *run_sym = lathe_arena_printf(a, "%s_run", m->name);
	const char *man_sym = lathe_arena_printf(a, "%s_manifest", m->name);
	void *run = dlsym(mod->dl, run_sym);
	const char *built = dlsym(mod->dl, man_sym);
	if (!run || !built)
		return lathe_error(LATHE_EINVAL, "%s does not define %s and %s: not module '%s'", lib,
				   run_sym, man_sym, m->name);
	if (strlen(built) != len || memcmp(built, text, len))
		return lathe_error(LATHE_EINVAL, "%s was built for another manifest than %s (files of "
				   "two compilations mixed?): compile the model again", lib, man_path);
	/* dlsym returns an object pointer; POSIX guarantees it converts. */
	memcpy(&mod->run, &run, sizeof run);
	void *hooked = dlsym(mod->dl, lathe_arena_printf(a, "%s_run_hooked", m->name));
	if (hooked)
		memcpy(&mod->run_hooked, &hooked, sizeof hooked);
	const char *wpath = lathe_arena_printf(a, "%s/weights.bin", dir);
	e = lathe_file_map(wpath, &mod->weights);
	if (e)
		return lathe_error_wrap(e, "the module's weights");
	mod->mapped = true;
	if (mod->weights.size != m->weights_size)
		return lathe_error(LATHE_EINVAL, "%s has %zu bytes, the module expects %llu: compile the "
				   "model again", wpath, mod->weights.size,
				   (unsigned long long)m->weights_size);
	return NULL;
}

lathe_err lathe_module_open(const char *dir, lathe_module **out)
{
	*out = NULL;
	lathe_module *m = lathe_xcalloc(1, sizeof *m);
	m->arena = lathe_arena_create();
	lathe_err e = open_module(m, dir);
	if (e) {
		lathe_module_close(m);
		return e;
	}
	*out = m;
	return NULL;
}

static lathe_err run(lathe_module *m, void *const *inputs, void *const *outputs,
		     void *workspace, struct lathe_rt_pool *pool, lathe_module_step_hook hook,
		     void *ctx)
{
	if (m->m.workspace_size && ((uintptr_t)workspace % 64 || !workspace))
		return lathe_error(LATHE_EINVAL, "the workspace must be 64-byte aligned");
	if (hook && !m->run_hooked)
		return lathe_error(LATHE_EINVAL, "module '%s' was compiled without step hooks "
				   "(by an older lathe): compile the model again to profile it",
				   m->m.name);
	/* An empty weights file maps to no address; the module reads none. */
	static const char no_weights[64];
	const void *w = m->weights.size ? (const void *)m->weights.data : (const void *)no_weights;
	int rc = hook ? m->run_hooked(w, inputs, outputs, workspace, pool, hook, ctx)
		      : m->run(w, inputs, outputs, workspace, pool);
	switch (rc) {
	case LATHE_RT_OK:
		return NULL;
	case LATHE_RT_EINVAL:
		return lathe_error(LATHE_EINVAL, "module '%s' failed: the input data is invalid for the "
				   "model (e.g. an index out of range)", m->m.name);
	case LATHE_RT_ENOMEM:
		return lathe_error(LATHE_ENOMEM, "module '%s' failed: an extern kernel ran out of memory",
				   m->m.name);
	case LATHE_RT_EUNSUPPORTED:
		return lathe_error(LATHE_EUNSUPPORTED, "module '%s' failed: an extern kernel does not "
				   "support its input", m->m.name);
	default:
		return lathe_error(LATHE_EINTERNAL, "module '%s' failed with code %d", m->m.name, rc);
	}
}

lathe_err lathe_module_run(lathe_module *m, void *const *inputs, void *const *outputs,
			   void *workspace, struct lathe_rt_pool *pool)
{
	return run(m, inputs, outputs, workspace, pool, NULL, NULL);
}

lathe_err lathe_module_run_profiled(lathe_module *m, void *const *inputs, void *const *outputs,
				    void *workspace, struct lathe_rt_pool *pool,
				    lathe_module_step_hook hook, void *ctx)
{
	return run(m, inputs, outputs, workspace, pool, hook, ctx);
}
