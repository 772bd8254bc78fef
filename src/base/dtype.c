/* dtype.c: the compiler's element-type helpers, all derived from the
 * LATHE_DTYPES table in lathe_rt.h so that a new type is one table row.
 * Unknown numbers never crash: they give 0, "?", -1 or false.
 */
#include <string.h>

#include "base/base.h"

static int known(int dt)
{
	switch (dt) {
#define X(e, n, s, b) case n:
		LATHE_DTYPES(X)
#undef X
		return 1;
	}
	return 0;
}

size_t lathe_dtype_size(int dtype)
{
	switch (dtype) {
#define X(e, n, s, b) case n: return (size_t)(b);
		LATHE_DTYPES(X)
#undef X
	}
	return 0;
}

const char *lathe_dtype_name(int dtype)
{
	switch (dtype) {
#define X(e, n, s, b) case n: return s;
		LATHE_DTYPES(X)
#undef X
	}
	return "?";
}

int lathe_dtype_parse(const char *name)
{
	if (!name)
		return -1;
#define X(e, n, s, b) if (!strcmp(name, s)) return n;
	LATHE_DTYPES(X)
#undef X
	return -1;
}

bool lathe_dtype_is_float(int dtype)
{
	switch (dtype) {
	case LATHE_DT_F16: case LATHE_DT_BF16: case LATHE_DT_F32: case LATHE_DT_F64:
	case LATHE_DT_F8E4M3FN: case LATHE_DT_F8E4M3FNUZ: case LATHE_DT_F8E5M2:
	case LATHE_DT_F8E5M2FNUZ: case LATHE_DT_F8E8M0: case LATHE_DT_F4E2M1:
		return true;
	}
	return false;
}

bool lathe_dtype_is_int(int dtype)
{
	switch (dtype) {
	case LATHE_DT_U8: case LATHE_DT_I8: case LATHE_DT_U16: case LATHE_DT_I16:
	case LATHE_DT_I32: case LATHE_DT_I64: case LATHE_DT_U32: case LATHE_DT_U64:
	case LATHE_DT_U4: case LATHE_DT_I4: case LATHE_DT_U2: case LATHE_DT_I2:
		return true;
	}
	return false;
}

bool lathe_dtype_is_signed(int dtype)
{
	switch (dtype) {
	case LATHE_DT_I8: case LATHE_DT_I16: case LATHE_DT_I32: case LATHE_DT_I64:
	case LATHE_DT_I4: case LATHE_DT_I2:
		return true;
	}
	/* E8M0 is an exponent alone: it has no sign bit. */
	return known(dtype) && lathe_dtype_is_float(dtype) && dtype != LATHE_DT_F8E8M0;
}
