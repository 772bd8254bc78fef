/* fuzz_onnx.c: libFuzzer harness of the ONNX reader.
 *
 * Each input is taken as a model file: lathe_onnx_load_mem must either
 * return an error or a graph that can be printed and destroyed, without a
 * crash, a sanitizer report, a leak, a hang or an absurd allocation.  No
 * external-data directory is given, so the harness never touches the file
 * system.  Built and run by tests/fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>

#include "onnx/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lathe_graph *g = NULL;
	lathe_err e = lathe_onnx_load_mem(data, size, NULL, &g);
	if (e) {
		/* Every error must carry a message a user can act on. */
		const char *m = lathe_error_message(e);
		if (!m || !*m)
			__builtin_trap();
		lathe_error_free(e);
		return 0;
	}
	lathe_buf b = {0};
	lathe_graph_print(&b, g);
	lathe_buf_free(&b);
	lathe_graph_destroy(g);
	return 0;
}
