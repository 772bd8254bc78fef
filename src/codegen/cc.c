/* cc.c: running the system C compiler.
 *
 * The C backend's output becomes a shared library by one call of the
 * system compiler ($CC, else cc).  The compiler runs as a child process
 * (posix_spawnp, no shell, so no quoting issues) with its output captured
 * in a temporary file; a failure returns an error carrying the command line
 * and the end of that output, which is what a user needs to act.  The
 * library is written under a temporary name in the target directory and
 * renamed into place, so a concurrent reader (another lathe process using
 * the same cache) never loads a half-written file.
 *
 * The flags that define float semantics are always given: no contraction
 * into fused multiply-adds and no fast-math, so compiled code rounds like
 * the interpreter.  -fno-math-errno only lets sqrt inline; results are the
 * same.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/codegen.h"

extern char **environ;

enum { MAX_ARGS = 256, MAX_LOG = 6000 };

/* Splits s at spaces into argv (pointers into a copy in *owned). */
static int split_words(const char *s, char **owned, char **argv, int cap)
{
	int n = 0;
	if (!s)
		return 0;
	char *copy = lathe_xstrdup(s);
	*owned = copy;
	for (char *p = strtok(copy, " \t\n"); p && n < cap; p = strtok(NULL, " \t\n"))
		argv[n++] = p;
	return n;
}

static char *read_log(int fd)
{
	lathe_buf b = {0};
	char chunk[4096];
	if (lseek(fd, 0, SEEK_SET) < 0)
		return lathe_xstrdup("");
	ssize_t r;
	while ((r = read(fd, chunk, sizeof chunk - 1)) > 0) {
		chunk[r] = '\0';
		lathe_buf_puts(&b, chunk);
	}
	if (!b.data)
		return lathe_xstrdup("");
	return b.data;
}

lathe_err lathe_codegen_cc_shared(const char *const *c_files, int n, const char *out_so,
				  const char *extra_flags)
{
	if (n < 1 || !out_so)
		return lathe_error(LATHE_EINVAL, "C compiler: no source files or no output given");
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	char *cc_owned = NULL, *flags_owned = NULL;
	const char *cc_env = getenv("CC");
	argc += split_words(cc_env && *cc_env ? cc_env : "cc", &cc_owned, argv, 8);
	if (argc == 0)
		argv[argc++] = "cc";
	static const char *const fixed[] = {"-O2", "-std=c11", "-fPIC", "-shared", "-ffp-contract=off",
					     "-fno-fast-math", "-fno-math-errno"};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		argv[argc++] = (char *)fixed[i];
	argc += split_words(extra_flags, &flags_owned, argv + argc, MAX_ARGS - argc - n - 8);
	size_t len = strlen(out_so);
	char *tmp = lathe_xmalloc(len + 16);
	snprintf(tmp, len + 16, "%s.XXXXXX", out_so);
	lathe_err err = NULL;
	int tfd = mkstemp(tmp);
	if (tfd < 0) {
		err = lathe_error(LATHE_EIO, "cannot create a file next to %s: %s", out_so, strerror(errno));
		goto done;
	}
	close(tfd);
	argv[argc++] = "-o";
	argv[argc++] = tmp;
	for (int i = 0; i < n && argc < MAX_ARGS - 1; i++)
		argv[argc++] = (char *)c_files[i];
	argv[argc++] = "-lm";
	argv[argc] = NULL;

	char logname[] = "/tmp/lathe-cc-XXXXXX";
	int lfd = mkstemp(logname);
	if (lfd < 0) {
		err = lathe_error(LATHE_EIO, "cannot create a temporary file: %s", strerror(errno));
		unlink(tmp);
		goto done;
	}
	unlink(logname);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, lfd, 1);
	posix_spawn_file_actions_adddup2(&fa, lfd, 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	lathe_buf cmd = {0};
	for (int i = 0; i < argc; i++)
		lathe_buf_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
	if (rc != 0) {
		err = lathe_error(LATHE_EUNSUPPORTED,
				  "cannot run the C compiler '%s': %s (set $CC to a C compiler)", argv[0],
				  strerror(rc));
	} else {
		int status = 0;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			char *log = read_log(lfd);
			size_t ll = strlen(log);
			const char *tail = ll > MAX_LOG ? log + ll - MAX_LOG : log;
			if (WIFEXITED(status))
				err = lathe_error(LATHE_EINTERNAL, "the C compiler failed (exit status %d): %s\n%s",
						  WEXITSTATUS(status), cmd.data, tail);
			else
				err = lathe_error(LATHE_EINTERNAL, "the C compiler was killed (signal %d): %s\n%s",
						  WIFSIGNALED(status) ? WTERMSIG(status) : 0, cmd.data, tail);
			free(log);
		} else if (rename(tmp, out_so) != 0) {
			err = lathe_error(LATHE_EIO, "cannot rename %s to %s: %s", tmp, out_so,
					  strerror(errno));
		}
	}
	if (err)
		unlink(tmp);
	lathe_buf_free(&cmd);
	close(lfd);
done:
	free(tmp);
	free(cc_owned);
	free(flags_owned);
	return err;
}
