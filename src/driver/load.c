/* load.c: how every command reads a model and a text file.
 *
 * A model is an ONNX file, or lathe's graph text form when its name ends in
 * .ir; text files must hold no NUL byte (the parsers stop at one and would
 * point at the wrong place).
 */
#include "driver/driver.h"
#include "onnx/onnx.h"

#include <stdlib.h>
#include <string.h>

bool lathe_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

lathe_err lathe_read_text(const char *path, char **out)
{
	lathe_mapped_file f;
	LATHE_TRY(lathe_file_map(path, &f));
	size_t size = f.size;
	char *s = lathe_xmalloc(size + 1);
	if (size)
		memcpy(s, f.data, size);
	s[size] = '\0';
	lathe_file_unmap(&f);
	if (strlen(s) != size) {
		free(s);
		return lathe_error(LATHE_EINVAL, "%s: contains a NUL byte: not a text file", path);
	}
	*out = s;
	return NULL;
}

lathe_err lathe_load_model(const char *path, lathe_graph **out)
{
	if (!lathe_ends_with(path, ".ir"))
		return lathe_onnx_load(path, out);
	char *text;
	LATHE_TRY(lathe_read_text(path, &text));
	lathe_err e = lathe_graph_parse(text, path, out);
	free(text);
	return e;
}
