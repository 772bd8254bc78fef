/* tensor.c: TensorProto and SparseTensorProto to lathe_tensor, external
 * data files, and the .pb value files (TensorProto, SequenceProto,
 * OptionalProto) that carry test inputs and outputs.
 *
 * Where it sits: called by import.c for initializers, Constant nodes and
 * tensor attributes, and by lathe_onnx_read_value_pb for lone values.
 *
 * Invariants:
 *   - the element count implied by `dims` must equal the count of the data
 *     exactly (raw_data bytes, typed field values, or external bytes);
 *     nothing is allocated for the data before that check, so the output is
 *     at most a small multiple of the bytes present in the input;
 *   - raw data is borrowed (the tensor points into the input, no copy) only
 *     when the bytes outlive the graph (a mapping the graph holds), are
 *     aligned for the element type and the host is little-endian; otherwise
 *     it is copied into the arena;
 *   - sub-byte types (int4, uint4, float4, int2, uint2) come out one element
 *     per byte, signed ones sign-extended;
 *   - an empty tensor still has non-NULL data (NULL data means "missing
 *     input" to kernels).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_LITTLE 0
#else
#define HOST_LITTLE 1
#endif

/* TensorProto field numbers. */
enum {
	TP_DIMS = 1, TP_DATA_TYPE = 2, TP_SEGMENT = 3, TP_FLOAT = 4, TP_INT32 = 5,
	TP_STRING = 6, TP_INT64 = 7, TP_NAME = 8, TP_RAW = 9, TP_DOUBLE = 10,
	TP_UINT64 = 11, TP_EXTERNAL = 13, TP_LOCATION = 14,
};

static const char *field_name(int num)
{
	switch (num) {
	case TP_FLOAT: return "float_data";
	case TP_INT32: return "int32_data";
	case TP_STRING: return "string_data";
	case TP_INT64: return "int64_data";
	case TP_DOUBLE: return "double_data";
	case TP_UINT64: return "uint64_data";
	}
	return "?";
}

/* Elements per byte of packed sub-byte types (1 for the others). */
static int per_byte(int dt)
{
	switch (dt) {
	case LATHE_DT_U4:
	case LATHE_DT_I4:
	case LATHE_DT_F4E2M1: return 2;
	case LATHE_DT_U2:
	case LATHE_DT_I2: return 4;
	}
	return 1;
}

/* The typed field that carries dtype, and how many of its values one
 * element takes (complex numbers take two). */
static int typed_field(int dt, int *vals_per_elem)
{
	*vals_per_elem = 1;
	switch (dt) {
	case LATHE_DT_F32: return TP_FLOAT;
	case LATHE_DT_C64: *vals_per_elem = 2; return TP_FLOAT;
	case LATHE_DT_F64: return TP_DOUBLE;
	case LATHE_DT_C128: *vals_per_elem = 2; return TP_DOUBLE;
	case LATHE_DT_I64: return TP_INT64;
	case LATHE_DT_U32:
	case LATHE_DT_U64: return TP_UINT64;
	case LATHE_DT_STR: return TP_STRING;
	}
	return TP_INT32;
}

/* Alignment a borrowed pointer needs: the size of one scalar component. */
static size_t component_size(int dt)
{
	if (dt == LATHE_DT_C64)
		return 4;
	if (dt == LATHE_DT_C128)
		return 8;
	return lathe_dtype_size(dt);
}

static lathe_err spend(onnx_ctx *c, int64_t bytes)
{
	if (bytes > c->data_budget)
		return lathe_pb_err(&c->pb, LATHE_ENOMEM,
				    "tensor data would exceed %lld bytes, out of proportion to "
				    "the size of the model (hostile file?)",
				    (long long)(c->data_budget + bytes));
	c->data_budget -= bytes;
	return NULL;
}

static void unpack_sub_byte(int dt, const uint8_t *src, int64_t numel, int8_t *dst)
{
	int per = per_byte(dt);
	bool sign = dt == LATHE_DT_I4 || dt == LATHE_DT_I2;
	for (int64_t i = 0; i < numel; i++) {
		uint8_t b = src[i / per];
		int v;
		if (per == 2) {
			v = (i & 1) ? b >> 4 : b & 15;
			if (sign && v >= 8)
				v -= 16;
		} else {
			v = (b >> (2 * (i & 3))) & 3;
			if (sign && v >= 2)
				v -= 4;
		}
		dst[i] = (int8_t)v;
	}
}

static void byteswap(uint8_t *p, size_t n, size_t es)
{
	if (es < 2)
		return;
	for (size_t i = 0; i + es <= n; i += es)
		for (size_t j = 0; j < es / 2; j++) {
			uint8_t t = p[i + j];
			p[i + j] = p[i + es - 1 - j];
			p[i + es - 1 - j] = t;
		}
}

/* Fills t->data from little-endian fixed-width bytes (raw_data or an
 * external file). */
static lathe_err from_raw(onnx_ctx *c, lathe_tensor *t, int64_t numel, const uint8_t *p,
			  size_t n, bool borrowable, const char *what)
{
	int dt = t->dtype;
	if (dt == LATHE_DT_STR)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "%s cannot hold strings (use string_data)", what);
	int per = per_byte(dt);
	if (per > 1) {
		uint64_t need = ((uint64_t)numel + (uint64_t)per - 1) / (uint64_t)per;
		if (n != need)
			return lathe_pb_err(&c->pb, LATHE_EINVAL,
					    "%s has %zu bytes, but %lld elements of %s need %llu",
					    what, n, (long long)numel, lathe_dtype_name(dt),
					    (unsigned long long)need);
		LATHE_TRY(spend(c, numel));
		t->data = lathe_arena_alloc(c->arena, (size_t)numel);
		unpack_sub_byte(dt, p, numel, t->data);
		return NULL;
	}
	size_t es = lathe_dtype_size(dt);
	/* numel <= 2^40 and es <= 16: no overflow. */
	uint64_t need = (uint64_t)numel * es;
	if (n != need)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "%s has %zu bytes, but %lld elements of %s need %llu", what, n,
				    (long long)numel, lathe_dtype_name(dt),
				    (unsigned long long)need);
	size_t comp = component_size(dt);
	if (borrowable && HOST_LITTLE && numel > 0 && (uintptr_t)p % comp == 0) {
		t->data = (void *)p;
		return NULL;
	}
	LATHE_TRY(spend(c, (int64_t)n));
	t->data = lathe_arena_alloc(c->arena, n);
	if (n)
		memcpy(t->data, p, n);
	if (!HOST_LITTLE)
		byteswap(t->data, n, comp);
	return NULL;
}

/* Fills t->data from the type-specific repeated field `num`. */
static lathe_err from_typed(onnx_ctx *c, lathe_pb_msg m, lathe_tensor *t, int64_t numel,
			    int num)
{
	int dt = t->dtype;
	int vpe;
	int want = typed_field(dt, &vpe);
	if (num != want)
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "%s given for a tensor of type %s",
				    field_name(num), lathe_dtype_name(dt));
	int per = per_byte(dt);
	int64_t need = numel * vpe;
	if (per > 1)
		need = (numel + per - 1) / per;
	const char *fname = field_name(num);

	if (num == TP_STRING) {
		int64_t cnt;
		LATHE_TRY(lathe_pb_count(&c->pb, m, TP_STRING, &cnt));
		if (cnt != need)
			return lathe_pb_err(&c->pb, LATHE_EINVAL,
					    "%lld elements but string_data holds %lld strings",
					    (long long)numel, (long long)cnt);
		LATHE_TRY(spend(c, cnt * (int64_t)sizeof(char *)));
		const char **strs = lathe_arena_new(c->arena, const char *, cnt ? cnt : 1);
		lathe_pb_field f;
		bool more;
		int64_t i = 0;
		for (lathe_pb_msg it = m;;) {
			LATHE_TRY(lathe_pb_next_of(&c->pb, &it, TP_STRING, &f, &more));
			if (!more)
				break;
			int64_t len;
			LATHE_TRY(lathe_pb_bytes(&c->pb, &f, "string_data", c->arena, &strs[i++], &len));
		}
		t->data = (void *)strs;
		return NULL;
	}

	enum lathe_pb_scalar kind = num == TP_FLOAT    ? LATHE_PB_K_FLOAT
				    : num == TP_DOUBLE ? LATHE_PB_K_DOUBLE
				    : num == TP_INT64  ? LATHE_PB_K_INT64
				    : num == TP_UINT64 ? LATHE_PB_K_UINT64
						       : LATHE_PB_K_INT32;
	void *vals;
	int64_t cnt;
	LATHE_TRY(lathe_pb_repeated(&c->pb, m, (uint32_t)num, kind, fname, c->arena, &vals, &cnt));
	if (cnt != need)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "%lld elements of %s need %lld values in %s, but it holds %lld",
				    (long long)numel, lathe_dtype_name(dt), (long long)need, fname,
				    (long long)cnt);
	size_t es = lathe_dtype_size(dt);
	LATHE_TRY(spend(c, cnt * 8));
	/* Where the field's C type is the element type, the array is the data. */
	if (dt == LATHE_DT_F32 || dt == LATHE_DT_C64 || dt == LATHE_DT_F64 ||
	    dt == LATHE_DT_C128 || dt == LATHE_DT_I64 || dt == LATHE_DT_U64 ||
	    dt == LATHE_DT_I32) {
		t->data = vals ? vals : lathe_arena_alloc(c->arena, 1);
		return NULL;
	}
	if (dt == LATHE_DT_U32) {
		uint32_t *d = lathe_arena_new(c->arena, uint32_t, numel ? numel : 1);
		for (int64_t i = 0; i < numel; i++)
			d[i] = (uint32_t)((uint64_t *)vals)[i];
		t->data = d;
		return NULL;
	}
	const int32_t *v = vals;
	if (per > 1) {
		uint8_t *bytes = lathe_arena_alloc(c->arena, (size_t)(cnt ? cnt : 1));
		for (int64_t i = 0; i < cnt; i++)
			bytes[i] = (uint8_t)v[i];
		t->data = lathe_arena_alloc(c->arena, (size_t)(numel ? numel : 1));
		unpack_sub_byte(dt, bytes, numel, t->data);
		return NULL;
	}
	/* One int32 per element, holding the bits of a narrower type. */
	uint8_t *d = lathe_arena_alloc(c->arena, (size_t)numel * es);
	for (int64_t i = 0; i < numel; i++) {
		if (dt == LATHE_DT_BOOL)
			d[i] = v[i] != 0;
		else if (es == 1)
			d[i] = (uint8_t)v[i];
		else
			((uint16_t *)d)[i] = (uint16_t)v[i];
	}
	t->data = d;
	return NULL;
}

/* ---- external data ------------------------------------------------------ */

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* A location must stay inside the model's directory. */
static lathe_err check_location(onnx_ctx *c, const char *loc)
{
	if (!*loc)
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "external data: empty location");
	if (loc[0] == '/')
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "external data location '%s' is an absolute path; it must be "
				    "relative to the model's directory", loc);
	for (const char *s = loc; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return lathe_pb_err(&c->pb, LATHE_EINVAL,
					    "external data location '%s' leaves the model's "
					    "directory ('..')", loc);
		s += n;
		if (*s == '/')
			s++;
	}
	return NULL;
}

static lathe_err ext_map(onnx_ctx *c, const char *loc, const lathe_mapped_file **out)
{
	for (size_t i = 0; i < c->ext.len; i++)
		if (!strcmp(c->ext.data[i].location, loc)) {
			*out = &c->ext.data[i].f;
			return NULL;
		}
	if (!c->dir)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "tensor data is in external file '%s', but no directory to "
				    "find it in was given (load the model from its file)", loc);
	LATHE_TRY(check_location(c, loc));
	char *full = lathe_arena_printf(c->arena, "%s/%s", c->dir, loc);
	/* A symbolic link could still lead out of the directory: compare the
	 * resolved paths. */
	char *rdir = realpath(c->dir, NULL);
	char *rfull = realpath(full, NULL);
	if (!rdir || !rfull) {
		free(rdir);
		free(rfull);
		return lathe_pb_err(&c->pb, LATHE_EIO, "external data file '%s' not found", full);
	}
	size_t nd = strlen(rdir);
	bool inside = !strncmp(rfull, rdir, nd) && (rfull[nd] == '/' || (nd == 1 && rdir[0] == '/'));
	lathe_mapped_file mf = {0};
	lathe_err e = NULL;
	if (!inside)
		e = lathe_pb_err(&c->pb, LATHE_EINVAL,
				 "external data file '%s' resolves outside the model's directory",
				 full);
	else
		e = lathe_file_map(rfull, &mf);
	free(rdir);
	free(rfull);
	if (e) {
		if (!c->pb.located)
			e = lathe_error_wrap(e, "%s", c->pb.path);
		c->pb.located = true;
		return e;
	}
	onnx_ext_file ef = {lathe_xstrdup(loc), mf};
	lathe_vec_push(&c->ext, ef);
	if (c->root)
		lathe_vec_push(&c->root->files, mf);
	*out = &c->ext.data[c->ext.len - 1].f;
	return NULL;
}

static lathe_err external(onnx_ctx *c, lathe_pb_msg m, const uint8_t **p, size_t *n)
{
	const char *loc = NULL, *off_s = NULL, *len_s = NULL;
	lathe_pb_field f;
	bool more;
	int64_t idx = 0;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next_of(&c->pb, &it, TP_EXTERNAL, &f, &more));
		if (!more)
			break;
		size_t saved;
		LATHE_TRY(lathe_pb_enter_msg(&c->pb, &f, &saved, "external_data", idx++));
		const char *key = "", *val = "";
		lathe_pb_field g;
		for (lathe_pb_msg e = f.sub;;) {
			LATHE_TRY(lathe_pb_next(&c->pb, &e, &g, &more));
			if (!more)
				break;
			if (g.num == 1)
				LATHE_TRY(lathe_pb_str(&c->pb, &g, "key", c->arena, &key));
			else if (g.num == 2)
				LATHE_TRY(lathe_pb_str(&c->pb, &g, "value", c->arena, &val));
		}
		lathe_pb_leave(&c->pb, saved);
		if (!strcmp(key, "location"))
			loc = val;
		else if (!strcmp(key, "offset"))
			off_s = val;
		else if (!strcmp(key, "length"))
			len_s = val;
	}
	if (!loc)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "data_location is EXTERNAL but external_data has no 'location'");
	uint64_t off = 0, len = 0;
	if (off_s && !parse_u64(off_s, &off))
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "external data offset '%s' is not a number",
				    off_s);
	if (len_s && !parse_u64(len_s, &len))
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "external data length '%s' is not a number",
				    len_s);
	const lathe_mapped_file *mf = NULL;
	LATHE_TRY(ext_map(c, loc, &mf));
	if (off > mf->size)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "external data offset %llu is past the end of '%s' (%zu bytes)",
				    (unsigned long long)off, loc, mf->size);
	if (!len_s)
		len = mf->size - off;
	if (len > mf->size - off)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "external data [%llu, +%llu) is past the end of '%s' (%zu bytes)",
				    (unsigned long long)off, (unsigned long long)len, loc, mf->size);
	*p = mf->data ? mf->data + off : (const uint8_t *)"";
	*n = (size_t)len;
	return NULL;
}

/* ---- TensorProto -------------------------------------------------------- */

lathe_err lathe_onnx_tensor(onnx_ctx *c, lathe_pb_msg m, lathe_tensor **out, const char **name)
{
	int64_t dtype = 0, location = 0;
	const char *tname = "";
	bool has_raw = false, has_ext = false;
	lathe_pb_msg raw = {0};
	int typed = 0; /* the typed data field seen, if any */
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		switch (f.num) {
		case TP_DATA_TYPE:
			LATHE_TRY(lathe_pb_int(&c->pb, &f, "data_type", &dtype));
			break;
		case TP_SEGMENT:
			return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
					    "segmented tensors (TensorProto.segment) are not supported");
		case TP_NAME:
			LATHE_TRY(lathe_pb_str(&c->pb, &f, "name", c->arena, &tname));
			break;
		case TP_RAW:
			LATHE_TRY(lathe_pb_want(&c->pb, &f, LATHE_PB_LEN, "raw_data"));
			has_raw = true;
			raw = f.sub;
			break;
		case TP_LOCATION:
			LATHE_TRY(lathe_pb_int(&c->pb, &f, "data_location", &location));
			break;
		case TP_EXTERNAL:
			has_ext = true;
			break;
		case TP_FLOAT:
		case TP_INT32:
		case TP_STRING:
		case TP_INT64:
		case TP_DOUBLE:
		case TP_UINT64:
			if (typed && typed != (int)f.num)
				return lathe_pb_err(&c->pb, LATHE_EINVAL,
						    "tensor '%s' has both %s and %s", tname,
						    field_name(typed), field_name((int)f.num));
			typed = (int)f.num;
			break;
		default:
			break; /* dims (read below), doc_string, metadata, unknown */
		}
	}
	if (name)
		*name = tname;
	if (dtype <= 0 || dtype >= LATHE_DT_COUNT)
		return lathe_pb_err(&c->pb, dtype == 0 ? LATHE_EINVAL : LATHE_EUNSUPPORTED,
				    "tensor '%s': data_type %lld is %s", tname, (long long)dtype,
				    dtype == 0 ? "missing (UNDEFINED)" : "not an element type lathe knows");
	int64_t *dims, rank;
	LATHE_TRY(lathe_pb_repeated(&c->pb, m, TP_DIMS, LATHE_PB_K_INT64, "dims", c->arena,
				    (void **)&dims, &rank));
	if (rank > ONNX_MAX_RANK)
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
				    "tensor '%s' has rank %lld, more than lathe's limit of %d", tname,
				    (long long)rank, ONNX_MAX_RANK);
	int64_t numel;
	lathe_err e = lathe_shape_numel((int)rank, dims, &numel);
	if (e) {
		lathe_err r = lathe_pb_err(&c->pb, lathe_error_code(e), "tensor '%s': %s", tname,
					   lathe_error_message(e));
		lathe_error_free(e);
		return r;
	}
	lathe_tensor *t = lathe_tensor_header(c->arena, (int)dtype, (int)rank, dims);
	if (location == 1) {
		if (has_raw || typed)
			return lathe_pb_err(&c->pb, LATHE_EINVAL,
					    "tensor '%s' is EXTERNAL but also holds data in the file",
					    tname);
		const uint8_t *p = NULL;
		size_t n = 0;
		LATHE_TRY(external(c, m, &p, &n));
		LATHE_TRY(from_raw(c, t, numel, p, n, c->root != NULL, "external data"));
	} else if (location != 0) {
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "tensor '%s': data_location %lld is invalid",
				    tname, (long long)location);
	} else if (has_raw) {
		if (typed)
			return lathe_pb_err(&c->pb, LATHE_EINVAL, "tensor '%s' has both raw_data and %s",
					    tname, field_name(typed));
		LATHE_TRY(from_raw(c, t, numel, raw.p, lathe_pb_left(raw), c->borrow_model,
				   "raw_data"));
	} else if (typed) {
		LATHE_TRY(from_typed(c, m, t, numel, typed));
	} else if (numel > 0) {
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "tensor '%s' has %lld elements but no data%s",
				    tname, (long long)numel,
				    has_ext ? " (external_data given without data_location EXTERNAL)" : "");
	}
	if (!t->data)
		t->data = lathe_arena_alloc(c->arena, 1);
	*out = t;
	return NULL;
}

/* ---- SparseTensorProto -------------------------------------------------- */

lathe_err lathe_onnx_sub_tensor(onnx_ctx *c, const lathe_pb_field *f, const char *field,
				int64_t idx, bool sparse, lathe_tensor **out)
{
	size_t saved;
	LATHE_TRY(lathe_pb_enter_msg(&c->pb, f, &saved, field, idx));
	if (sparse)
		LATHE_TRY(lathe_onnx_sparse(c, f->sub, out, NULL));
	else
		LATHE_TRY(lathe_onnx_tensor(c, f->sub, out, NULL));
	lathe_pb_leave(&c->pb, saved);
	return NULL;
}

lathe_err lathe_onnx_sparse(onnx_ctx *c, lathe_pb_msg m, lathe_tensor **out, const char **name)
{
	lathe_tensor *vals = NULL, *idx = NULL;
	lathe_pb_field f;
	bool more;
	lathe_pb_msg vals_msg = {0};
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num == 1) {
			LATHE_TRY(lathe_onnx_sub_tensor(c, &f, "values", -1, false, &vals));
			vals_msg = f.sub;
		} else if (f.num == 2) {
			LATHE_TRY(lathe_onnx_sub_tensor(c, &f, "indices", -1, false, &idx));
		}
	}
	if (!vals || !idx)
		return lathe_pb_err(&c->pb, LATHE_EINVAL, "sparse tensor without %s",
				    vals ? "indices" : "values");
	/* The sparse tensor's name is its values' name. */
	const char *sname = "";
	for (lathe_pb_msg it = vals_msg;;) {
		LATHE_TRY(lathe_pb_next_of(&c->pb, &it, TP_NAME, &f, &more));
		if (!more)
			break;
		LATHE_TRY(lathe_pb_str(&c->pb, &f, "name", c->arena, &sname));
	}
	if (name)
		*name = sname;
	int64_t *dims, rank;
	LATHE_TRY(lathe_pb_repeated(&c->pb, m, 3, LATHE_PB_K_INT64, "dims", c->arena,
				    (void **)&dims, &rank));
	if (rank > ONNX_MAX_RANK)
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED, "sparse tensor '%s' has rank %lld",
				    sname, (long long)rank);
	int64_t numel;
	lathe_err e = lathe_shape_numel((int)rank, dims, &numel);
	if (e) {
		lathe_err r = lathe_pb_err(&c->pb, lathe_error_code(e), "sparse tensor '%s': %s",
					   sname, lathe_error_message(e));
		lathe_error_free(e);
		return r;
	}
	if (vals->rank != 1)
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "sparse tensor '%s': values must be 1-D, not rank %d", sname,
				    vals->rank);
	int64_t nnz = vals->shape[0];
	bool linear = idx->rank == 1 && idx->shape[0] == nnz;
	bool coords = idx->rank == 2 && idx->shape[0] == nnz && idx->shape[1] == rank;
	if ((!linear && !coords) || (idx->dtype != LATHE_DT_I64 && idx->dtype != LATHE_DT_I32))
		return lathe_pb_err(&c->pb, LATHE_EINVAL,
				    "sparse tensor '%s': indices must be int64 [%lld] or [%lld, %lld]",
				    sname, (long long)nnz, (long long)nnz, (long long)rank);
	size_t es = lathe_dtype_size(vals->dtype);
	if ((int64_t)es > 0 && numel > ONNX_MAX_SPARSE_BYTES / (int64_t)es)
		return lathe_pb_err(&c->pb, LATHE_ENOMEM,
				    "sparse tensor '%s' would densify to more than %lld bytes", sname,
				    (long long)ONNX_MAX_SPARSE_BYTES);
	LATHE_TRY(spend(c, numel * (int64_t)es));
	lathe_tensor *t = lathe_tensor_header(c->arena, vals->dtype, (int)rank, dims);
	uint8_t *d = lathe_arena_alloc(c->arena, (size_t)numel * es);
	if (vals->dtype == LATHE_DT_STR)
		for (int64_t i = 0; i < numel; i++)
			((const char **)d)[i] = "";
	for (int64_t k = 0; k < nnz; k++) {
		int64_t lin = 0;
		int64_t ncoord = linear ? 1 : rank;
		for (int64_t j = 0; j < ncoord; j++) {
			int64_t at = k * ncoord + j;
			int64_t v = idx->dtype == LATHE_DT_I64 ? ((const int64_t *)idx->data)[at]
							       : ((const int32_t *)idx->data)[at];
			int64_t extent = linear ? numel : dims[j];
			if (v < 0 || v >= extent)
				return lathe_pb_err(&c->pb, LATHE_EINVAL,
						    "sparse tensor '%s': index %lld of value %lld is "
						    "out of range [0, %lld)", sname, (long long)v,
						    (long long)k, (long long)extent);
			lin = linear ? v : lin * dims[j] + v;
		}
		memcpy(d + (size_t)lin * es, (const uint8_t *)vals->data + (size_t)k * es, es);
	}
	t->data = d;
	*out = t;
	return NULL;
}

void lathe_onnx_ctx_deinit(onnx_ctx *c)
{
	for (size_t i = 0; i < c->ext.len; i++) {
		/* With a graph, the graph owns the mappings (root->files). */
		if (!c->root)
			lathe_file_unmap(&c->ext.data[i].f);
		free(c->ext.data[i].location);
	}
	lathe_vec_free(&c->ext);
	lathe_map_deinit(&c->func_index);
	lathe_map_deinit(&c->syms);
}

/* ---- .pb value files ---------------------------------------------------- */

static lathe_err read_sequence(onnx_ctx *c, lathe_pb_msg m, int32_t dtype, lathe_rvalue *out)
{
	int64_t n = 0, elem_type = 0;
	lathe_pb_field f;
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num == 2)
			LATHE_TRY(lathe_pb_int(&c->pb, &f, "elem_type", &elem_type));
		else if (f.num == 3 || f.num == 4)
			n++;
		else if (f.num >= 5 && f.num <= 7)
			return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
					    "sequences of sequences, maps or optionals are not supported");
	}
	if (elem_type != 0 && elem_type != 1 && elem_type != 2)
		return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
				    "sequence elem_type %lld is not supported (tensors only)",
				    (long long)elem_type);
	lathe_tensor **seq = lathe_arena_new(c->arena, lathe_tensor *, n ? n : 1);
	int64_t i = 0;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num != 3 && f.num != 4)
			continue;
		const char *field = f.num == 3 ? "tensor_values" : "sparse_tensor_values";
		size_t saved;
		LATHE_TRY(lathe_pb_want(&c->pb, &f, LATHE_PB_LEN, field));
		LATHE_TRY(lathe_pb_enter(&c->pb, &saved, field, i));
		if (f.num == 3)
			LATHE_TRY(lathe_onnx_tensor(c, f.sub, &seq[i], NULL));
		else
			LATHE_TRY(lathe_onnx_sparse(c, f.sub, &seq[i], NULL));
		if (i > 0 && seq[i]->dtype != seq[0]->dtype)
			return lathe_pb_err(&c->pb, LATHE_EINVAL,
					    "sequence element of type %s after elements of type %s",
					    lathe_dtype_name(seq[i]->dtype),
					    lathe_dtype_name(seq[0]->dtype));
		lathe_pb_leave(&c->pb, saved);
		i++;
	}
	out->kind = LATHE_TY_SEQUENCE;
	out->dtype = n ? seq[0]->dtype : dtype;
	out->seq = seq;
	out->nseq = n;
	out->t = NULL;
	return NULL;
}

static lathe_err read_optional(onnx_ctx *c, lathe_pb_msg m, int32_t dtype, lathe_rvalue *out)
{
	int64_t elem_type = -1;
	lathe_pb_field f, val = {0};
	bool more;
	for (lathe_pb_msg it = m;;) {
		LATHE_TRY(lathe_pb_next(&c->pb, &it, &f, &more));
		if (!more)
			break;
		if (f.num == 2)
			LATHE_TRY(lathe_pb_int(&c->pb, &f, "elem_type", &elem_type));
		else if (f.num >= 3 && f.num <= 5)
			val = f;
		else if (f.num == 6 || f.num == 7)
			return lathe_pb_err(&c->pb, LATHE_EUNSUPPORTED,
					    "optionals of maps or optionals are not supported");
	}
	*out = (lathe_rvalue){.kind = LATHE_TY_OPTIONAL, .dtype = dtype};
	if (!val.num || elem_type == 0)
		return NULL; /* an empty optional */
	static const char *const names[] = {"", "", "", "tensor_value", "sparse_tensor_value",
					    "sequence_value"};
	size_t saved;
	LATHE_TRY(lathe_pb_want(&c->pb, &val, LATHE_PB_LEN, names[val.num]));
	LATHE_TRY(lathe_pb_enter(&c->pb, &saved, names[val.num], -1));
	if (val.num == 5) {
		LATHE_TRY(read_sequence(c, val.sub, dtype, out));
	} else {
		lathe_tensor *t;
		if (val.num == 3)
			LATHE_TRY(lathe_onnx_tensor(c, val.sub, &t, NULL));
		else
			LATHE_TRY(lathe_onnx_sparse(c, val.sub, &t, NULL));
		*out = (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = t->dtype, .t = t};
	}
	lathe_pb_leave(&c->pb, saved);
	return NULL;
}

static const char *dir_of(lathe_arena *a, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return ".";
	if (slash == path)
		return "/";
	return lathe_arena_strndup(a, path, (size_t)(slash - path));
}

lathe_err lathe_onnx_read_value_pb(lathe_arena *a, const char *path, const lathe_type *expect,
				   lathe_rvalue *out)
{
	lathe_mapped_file mf;
	LATHE_TRY(lathe_file_map(path, &mf));
	int kind = expect ? expect->kind : LATHE_TY_TENSOR;
	const char *root = kind == LATHE_TY_SEQUENCE   ? "SequenceProto"
			   : kind == LATHE_TY_OPTIONAL ? "OptionalProto"
						       : "TensorProto";
	onnx_ctx c = {0};
	lathe_pb_init(&c.pb, root);
	c.arena = a;
	c.dir = dir_of(a, path);
	/* A lone value owns no mapping past this call: everything is copied.
	 * The only amplification is varint -> 8 bytes, so no budget is needed
	 * beyond what the data's own size implies. */
	c.data_budget = INT64_MAX;
	lathe_pb_msg m = lathe_pb_msg_of(mf.data, mf.size);
	int32_t dtype = expect ? expect->dtype : 0;
	lathe_err e;
	if (kind == LATHE_TY_SEQUENCE) {
		e = read_sequence(&c, m, dtype, out);
	} else if (kind == LATHE_TY_OPTIONAL) {
		e = read_optional(&c, m, dtype, out);
	} else {
		lathe_tensor *t = NULL;
		e = lathe_onnx_tensor(&c, m, &t, NULL);
		if (!e)
			*out = (lathe_rvalue){.kind = LATHE_TY_TENSOR, .dtype = t->dtype, .t = t};
	}
	/* Nothing points into the mappings: from_raw borrows only when a graph
	 * holds them (c.root), and there is none here. */
	lathe_onnx_ctx_deinit(&c);
	lathe_file_unmap(&mf);
	return lathe_error_wrap(e, "%s", path);
}
