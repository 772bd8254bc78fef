/* npy.h: tensors in and out as NumPy .npy files.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0, C-order arrays of
 *   f2 f4 f8, i1 i2 i4 i8, u1 u2 u4 u8, b1, c8 c16 (either byte order),
 *   U<n> (UTF-32 text) and S<n> (bytes), both read as STR tensors whose
 *   elements are NUL-terminated UTF-8 strings (trailing NULs dropped, as
 *   NumPy does).
 * A Fortran-order array of rank 2 or more is refused ("Fortran-order
 * arrays are not supported"); for rank 0 and 1 the two orders coincide.
 *
 * Writing uses version 1.0 (2.0 if the header would not fit) and
 * little-endian data.  Types NumPy lacks are written as their raw storage,
 * so reading such a file back gives the storage type, which the caller
 * reinterprets:
 *   bf16                           -> '<u2' (the bit pattern)
 *   float8 (all four), e8m0, f4e2m1 -> '|u1' (the bit pattern, one a byte)
 *   i4, i2                         -> '|i1' (one value a byte)
 *   u4, u2                         -> '|u1' (one value a byte)
 *   str                            -> '<U<n>', n the longest element in
 *                                      code points (at least 1).
 *
 * Every failure is a lathe_err whose message names the file (`path`, or
 * `what` for the in-memory reader) and the problem; malformed input never
 * reads out of bounds and sizes are bounded before anything is allocated.
 * The tensor, its shape, data and strings all live in arena `a`.
 */
#ifndef LATHE_NPY_H
#define LATHE_NPY_H

#include "base/base.h"

lathe_err lathe_npy_read(lathe_arena *a, const char *path, lathe_tensor **out);
lathe_err lathe_npy_read_mem(lathe_arena *a, const uint8_t *data, size_t size,
			     const char *what, lathe_tensor **out);
lathe_err lathe_npy_write(const char *path, const lathe_tensor *t);
/* The bytes of a .npy file for t, appended to *out (out->len counts them;
 * the data may hold NULs, so use len, not strlen). */
lathe_err lathe_npy_encode(const lathe_tensor *t, lathe_buf *out);

#endif
