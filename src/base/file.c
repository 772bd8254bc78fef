/* file.c: whole-file read-only mappings, used for model files and their
 * weights so that constants point into the mapping without copying.
 * Errors name the path and the system's reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

lathe_err lathe_file_map(const char *path, lathe_mapped_file *out)
{
	out->data = NULL;
	out->size = 0;
	/* O_NONBLOCK: a FIFO must not block the open; fstat then refuses it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return lathe_error(LATHE_EIO, "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int err = errno;
		close(fd);
		return lathe_error(LATHE_EIO, "%s: cannot stat: %s", path, strerror(err));
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return lathe_error(LATHE_EIO, "%s: is a directory", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return lathe_error(LATHE_EIO, "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return NULL;
	}
	if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
		close(fd);
		return lathe_error(LATHE_ENOMEM, "%s: file too large to map", path);
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int err = errno;
	close(fd);
	if (p == MAP_FAILED)
		return lathe_error(LATHE_EIO, "%s: cannot map: %s", path, strerror(err));
	out->data = p;
	out->size = (size_t)st.st_size;
	return NULL;
}

void lathe_file_unmap(lathe_mapped_file *f)
{
	if (f->data && f->size)
		munmap((void *)f->data, f->size);
	f->data = NULL;
	f->size = 0;
}

lathe_err lathe_dir_create(const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || n >= 4096)
		return lathe_error(LATHE_EIO, "directory name of %zu bytes", n);
	char buf[4096];
	memcpy(buf, path, n + 1);
	/* Each prefix ending at a '/', then the whole path. */
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		struct stat st;
		if (stat(buf, &st)) {
			if (mkdir(buf, 0777) && errno != EEXIST)
				return lathe_error(LATHE_EIO, "cannot create directory %s: %s", buf,
						   strerror(errno));
		} else if (!S_ISDIR(st.st_mode)) {
			return lathe_error(LATHE_EIO, "%s exists and is not a directory", buf);
		}
		buf[i] = c;
	}
	return NULL;
}
