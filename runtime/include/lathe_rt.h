/* lathe_rt.h: the runtime's one public header.
 *
 * The runtime is the part of lathe that ships with a compiled model.  It
 * depends on libc alone and includes no compiler header; the compiler
 * includes this header (never the other way round).  It defines the element
 * types, the tensor view every layer passes around, and the calling
 * convention of extern kernels: the ops whose meaning loops cannot express
 * (sorting, non-maximum suppression, data-dependent output sizes, strings).
 *
 * Errors are plain integer codes (LATHE_RT_*); a kernel that fails writes a
 * one-line reason into call->err.
 */
#ifndef LATHE_RT_H
#define LATHE_RT_H

#include <stddef.h>
#include <stdint.h>

/* Element types.  The numbers are ONNX's TensorProto.DataType values so that
 * files can name them directly; X(ENUM, number, text name, byte size).
 * Sub-byte types (int4, uint4, float4, int2, uint2) are held unpacked, one
 * element per byte. Strings are held as `char *` (NUL-terminated). */
#define LATHE_DTYPES(X)                       \
	X(UNDEF, 0, "undef", 0)               \
	X(F32, 1, "f32", 4)                   \
	X(U8, 2, "u8", 1)                     \
	X(I8, 3, "i8", 1)                     \
	X(U16, 4, "u16", 2)                   \
	X(I16, 5, "i16", 2)                   \
	X(I32, 6, "i32", 4)                   \
	X(I64, 7, "i64", 8)                   \
	X(STR, 8, "str", sizeof(char *))      \
	X(BOOL, 9, "bool", 1)                 \
	X(F16, 10, "f16", 2)                  \
	X(F64, 11, "f64", 8)                  \
	X(U32, 12, "u32", 4)                  \
	X(U64, 13, "u64", 8)                  \
	X(C64, 14, "c64", 8)                  \
	X(C128, 15, "c128", 16)               \
	X(BF16, 16, "bf16", 2)                \
	X(F8E4M3FN, 17, "f8e4m3fn", 1)        \
	X(F8E4M3FNUZ, 18, "f8e4m3fnuz", 1)    \
	X(F8E5M2, 19, "f8e5m2", 1)            \
	X(F8E5M2FNUZ, 20, "f8e5m2fnuz", 1)    \
	X(U4, 21, "u4", 1)                    \
	X(I4, 22, "i4", 1)                    \
	X(F4E2M1, 23, "f4e2m1", 1)            \
	X(F8E8M0, 24, "f8e8m0", 1)            \
	X(U2, 25, "u2", 1)                    \
	X(I2, 26, "i2", 1)

enum lathe_dtype {
#define X(e, n, s, b) LATHE_DT_##e = n,
	LATHE_DTYPES(X)
#undef X
	LATHE_DT_COUNT
};

/* Status codes of the runtime. */
enum {
	LATHE_RT_OK = 0,
	LATHE_RT_EINVAL = 1,   /* bad argument or input data */
	LATHE_RT_ENOMEM = 2,   /* allocator failed */
	LATHE_RT_EUNSUPPORTED = 3,
};

/* A tensor: a view of dense row-major data.  Who owns `shape` and `data` is
 * said by whoever hands the tensor over. */
typedef struct lathe_tensor {
	int32_t dtype;  /* enum lathe_dtype */
	int32_t rank;   /* 0 for a scalar */
	int64_t *shape; /* rank entries */
	void *data;     /* product(shape) elements of dtype */
} lathe_tensor;

/* The call of an extern kernel.  Inputs are given; an output may come
 * allocated (data != NULL, when the caller planned it); otherwise
 * (data == NULL) the kernel sizes it through call->alloc, which is how
 * data-dependent shapes (NonZero, Unique, ...) are produced.  Missing
 * optional inputs have data == NULL and dtype LATHE_DT_UNDEF.  Parameters (from the op's attributes) are passed in
 * the int/float/string arrays in an order each kernel documents. */
typedef struct lathe_rt_call {
	const lathe_tensor *in;
	int nin;
	lathe_tensor *out;
	int nout;
	const int64_t *ip; /* integer parameters */
	int nip;
	const double *fp;  /* float parameters */
	int nfp;
	const char *const *sp; /* string parameters */
	int nsp;
	/* Gives output `i` the shape (rank, shape) and storage for its data;
	 * returns LATHE_RT_OK or LATHE_RT_ENOMEM. Shape is copied. */
	int (*alloc)(struct lathe_rt_call *call, int i, int32_t dtype,
		     int32_t rank, const int64_t *shape);
	void *alloc_ctx;
	char err[256]; /* reason, when a kernel returns non-zero */
} lathe_rt_call;

typedef int (*lathe_rt_kernel)(lathe_rt_call *call);

/* Byte size of one element (sizeof(char *) for strings), 0 if unknown. */
size_t lathe_rt_dtype_size(int32_t dtype);
/* Text name ("f32", "i64", ...) or NULL if unknown. */
const char *lathe_rt_dtype_name(int32_t dtype);
/* Number of elements of a tensor. */
int64_t lathe_rt_numel(const lathe_tensor *t);

/* Half-precision conversions (round to nearest even). */
float lathe_rt_f16_to_f32(uint16_t h);
uint16_t lathe_rt_f32_to_f16(float f);
float lathe_rt_bf16_to_f32(uint16_t h);
uint16_t lathe_rt_f32_to_bf16(float f);

/* Narrowing from double with ONNX Cast's rules (round to nearest even).
 * lathe_rt_f64_to_f8 handles the float8 types, E8M0 and float4 E2M1:
 * `saturate` is Cast's attribute (out-of-range and infinite values become
 * the largest finite value; otherwise NaN, or infinity for E5M2); float4
 * always saturates.  `round_mode` applies to E8M0 only.  Unknown dtypes
 * give 0.  lathe_rt_f8_to_f64 decodes the same types. */
enum { LATHE_RT_ROUND_UP = 0, LATHE_RT_ROUND_NEAREST = 1, LATHE_RT_ROUND_DOWN = 2 };
uint8_t lathe_rt_f64_to_f8(int32_t dtype, double v, int saturate, int round_mode);
double lathe_rt_f8_to_f64(int32_t dtype, uint8_t bits);
uint16_t lathe_rt_f64_to_f16(double v);
uint16_t lathe_rt_f64_to_bf16(double v);

/* Element access as double / int64, whatever the dtype (not strings). */
double lathe_rt_load_f64(const lathe_tensor *t, int64_t i);
int64_t lathe_rt_load_i64(const lathe_tensor *t, int64_t i);
/* Stores with the conversion ONNX's Cast does (saturating for float8). */
void lathe_rt_store_f64(lathe_tensor *t, int64_t i, double v);
void lathe_rt_store_i64(lathe_tensor *t, int64_t i, int64_t v);

/* ---- thread pool -----------------------------------------------------------
 * The caller chooses the thread count; creating the pool is the only
 * allocation (its threads start then; between jobs they spin for up to a
 * few milliseconds, then sleep on a condition variable, so an idle pool uses no
 * CPU).  lathe_rt_parallel_for splits
 * [0, n) into chunks and calls fn(ctx, begin, end) on them from the
 * pool's threads and the calling thread, returning when all are done.  A
 * NULL pool, a pool of one thread, n <= 1, or a call made while the pool
 * is already running a job (from inside fn, or from another thread) runs
 * fn(ctx, 0, n) on the calling thread instead: correct, just serial.
 *
 * A pool's first member is the address of its parallel_for, so that code
 * loaded at run time (the C backend's JIT libraries) can dispatch through
 * the pool without linking the runtime:
 *   (*(lathe_rt_parallel_for_fn *)pool)(pool, n, fn, ctx)
 * is the same call as lathe_rt_parallel_for(pool, n, fn, ctx); its second,
 * an int, is lathe_rt_pool_size(pool).  parallel_for gives participant r
 * of T (the caller is 0) the r-th of T contiguous runs of [0, n) first:
 * loops that order their iterations by position keep each thread on the
 * same part of the data from one loop to the next. */
typedef struct lathe_rt_pool lathe_rt_pool;
typedef void (*lathe_rt_task_fn)(void *ctx, int64_t begin, int64_t end);
typedef void (*lathe_rt_parallel_for_fn)(lathe_rt_pool *p, int64_t n, lathe_rt_task_fn fn,
					 void *ctx);

/* nthreads counts the calling thread (nthreads - 1 workers are started);
 * values < 1 mean 1.  Returns NULL if memory or threads cannot be had
 * (a NULL pool is valid everywhere and runs serially). */
lathe_rt_pool *lathe_rt_pool_create(int nthreads);
void lathe_rt_pool_destroy(lathe_rt_pool *p);
/* Threads that share the work (1 for NULL). */
int lathe_rt_pool_size(const lathe_rt_pool *p);
void lathe_rt_parallel_for(lathe_rt_pool *p, int64_t n, lathe_rt_task_fn fn, void *ctx);

#endif
