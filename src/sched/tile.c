/* tile.c: tile(x, y, fx, fy) = split(x, fx), split(y, fy),
 * reorder(x_o, y_o, x_i, y_i): the 2-D blocking of matmul and conv.  It is
 * all or nothing: if the reorder is illegal, the splits are undone too.
 */
#include "sched/sched_impl.h"

lathe_err lathe_sched_tile(lathe_tir_func *f, lathe_tir_var *x, lathe_tir_var *y, int64_t fx,
			   int64_t fy, lathe_tir_var **out)
{
	if (!x || !y || x == y)
		return lathe_error(LATHE_EINVAL, "tile: two different loops are needed");
	sched_snap snap;
	sched_snap_take(f, &snap);
	lathe_tir_var *v[4];
	lathe_err err = lathe_sched_split(f, x, fx, &v[0], &v[2]);
	if (!err)
		err = lathe_sched_split(f, y, fy, &v[1], &v[3]);
	if (!err)
		err = lathe_sched_reorder(f, 4, v);
	if (err) {
		sched_snap_restore(f, &snap);
		return lathe_error_wrap(err, "tile(%%%s, %%%s)", x->name, y->name);
	}
	sched_snap_drop(&snap);
	if (out)
		for (int i = 0; i < 4; i++)
			out[i] = v[i];
	return NULL;
}
