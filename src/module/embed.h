/* embed.h: the runtime's sources, carried inside lathe.
 *
 * The build generates the table (src/module/embed.sh) from runtime/include
 * and runtime/src, so a standalone bundle gets exactly the runtime lathe
 * was built with, wherever lathe is installed.  Paths are relative to the
 * source tree ("runtime/src/dtype.c"); texts are NUL-terminated.
 */
#ifndef LATHE_MODULE_EMBED_H
#define LATHE_MODULE_EMBED_H

typedef struct lathe_embedded_file {
	const char *path;
	const char *text;
} lathe_embedded_file;

extern const lathe_embedded_file lathe_rt_embedded[];
extern const int lathe_rt_nembedded;

#endif
