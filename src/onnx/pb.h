/* pb.h: a protobuf wire-format reader, the bottom layer of the ONNX frontend.
 *
 * It knows the wire format only (varints, fixed 32/64-bit words,
 * length-delimited payloads), never the ONNX schema: the files above it
 * (import.c, tensor.c, functions.c) walk the fields of each message by
 * number.  Nothing here copies or allocates from a count read off the wire
 * before that count has been checked against the bytes that are really
 * there, so a hostile file cannot make the reader allocate more than a small
 * multiple of its own size.
 *
 * Errors carry the path of the message being read, kept in lathe_pb_ctx as
 * fields are entered and left ("ModelProto.graph.node[3].attribute[1]"), so
 * that a message says where in the file the damage is.  Nesting is bounded
 * (LATHE_PB_MAX_DEPTH) because ONNX messages nest recursively (a graph holds
 * nodes that hold attributes that hold graphs) and a hostile file could
 * otherwise exhaust the C stack.
 */
#ifndef LATHE_ONNX_PB_H
#define LATHE_ONNX_PB_H

#include "base/base.h"

enum lathe_pb_wire {
	LATHE_PB_VARINT = 0,
	LATHE_PB_I64 = 1,
	LATHE_PB_LEN = 2,
	LATHE_PB_SGROUP = 3,
	LATHE_PB_EGROUP = 4,
	LATHE_PB_I32 = 5,
};

#define LATHE_PB_MAX_DEPTH 64
#define LATHE_PB_PATH_MAX 480

/* The reading context: where we are (for messages) and how deep. */
typedef struct lathe_pb_ctx {
	char path[LATHE_PB_PATH_MAX];
	size_t pathlen;
	int depth;
	/* Set once an error naming the path has been made, so that callers
	 * further up know not to add their own, vaguer context. */
	bool located;
} lathe_pb_ctx;

/* The unread bytes of one message: [p, end). */
typedef struct lathe_pb_msg {
	const uint8_t *p, *end;
} lathe_pb_msg;

/* One field as it was on the wire. */
typedef struct lathe_pb_field {
	uint32_t num;
	uint8_t wire;      /* enum lathe_pb_wire */
	uint64_t u;        /* VARINT, I64 and I32 payloads */
	lathe_pb_msg sub;  /* LEN payload */
} lathe_pb_field;

/* The kinds of repeated scalar fields ONNX uses; what the array holds. */
enum lathe_pb_scalar {
	LATHE_PB_K_INT64,  /* varint -> int64_t */
	LATHE_PB_K_INT32,  /* varint -> int32_t (truncated, as protobuf does) */
	LATHE_PB_K_UINT64, /* varint -> uint64_t */
	LATHE_PB_K_FLOAT,  /* fixed32 -> float */
	LATHE_PB_K_DOUBLE, /* fixed64 -> double */
};

static inline lathe_pb_msg lathe_pb_msg_of(const uint8_t *p, size_t n)
{
	lathe_pb_msg m = {p, p + n};
	return m;
}
static inline size_t lathe_pb_left(lathe_pb_msg m)
{
	return (size_t)(m.end - m.p);
}

void lathe_pb_init(lathe_pb_ctx *c, const char *root);
/* Enters a field (".name" or ".name[index]" when index >= 0) of the current
 * message; *saved is what lathe_pb_leave needs.  Fails past the depth limit. */
lathe_err lathe_pb_enter(lathe_pb_ctx *c, size_t *saved, const char *name, int64_t index);
void lathe_pb_leave(lathe_pb_ctx *c, size_t saved);
/* An error located at the current path: "<path>: <message>". */
lathe_err lathe_pb_err(lathe_pb_ctx *c, enum lathe_code code, const char *fmt, ...)
	LATHE_PRINTF(3, 4);

/* Reads the next field of m.  *more is false (and f untouched) at the end.
 * Groups are refused; a bad tag, truncated varint or a length past the end
 * of m is an error. */
lathe_err lathe_pb_next(lathe_pb_ctx *c, lathe_pb_msg *m, lathe_pb_field *f, bool *more);
/* lathe_pb_next restricted to the fields numbered num: the others are read
 * (so a malformed one is still an error) and passed over. */
lathe_err lathe_pb_next_of(lathe_pb_ctx *c, lathe_pb_msg *m, uint32_t num, lathe_pb_field *f,
			   bool *more);
/* Checks that f has the wire type a known field must have. */
lathe_err lathe_pb_want(lathe_pb_ctx *c, const lathe_pb_field *f, int wire, const char *name);
/* Checks that f is a message (length-delimited), then enters it as
 * lathe_pb_enter does; f->sub is its bytes. */
lathe_err lathe_pb_enter_msg(lathe_pb_ctx *c, const lathe_pb_field *f, size_t *saved,
			     const char *name, int64_t index);

/* Typed accessors of one field, checking its wire type. */
lathe_err lathe_pb_int(lathe_pb_ctx *c, const lathe_pb_field *f, const char *name, int64_t *out);
lathe_err lathe_pb_float(lathe_pb_ctx *c, const lathe_pb_field *f, const char *name, float *out);
/* A string copied into the arena.  Names must not hold NUL bytes (they
 * would silently alias shorter names), so those are refused. */
lathe_err lathe_pb_str(lathe_pb_ctx *c, const lathe_pb_field *f, const char *name,
		       lathe_arena *a, const char **out);
/* Any bytes, copied into the arena with a NUL added; *len is the length. */
lathe_err lathe_pb_bytes(lathe_pb_ctx *c, const lathe_pb_field *f, const char *name,
			 lathe_arena *a, const char **out, int64_t *len);

/* Number of fields numbered num in m (any wire type).  m is walked whole,
 * so a malformed field anywhere in it is an error. */
lathe_err lathe_pb_count(lathe_pb_ctx *c, lathe_pb_msg m, uint32_t num, int64_t *out);
/* Gathers every value of a repeated scalar field, packed or not (both may
 * be mixed, as protobuf allows), into an arena array of the kind's C type.
 * *n is the element count; *out is NULL when n == 0. */
lathe_err lathe_pb_repeated(lathe_pb_ctx *c, lathe_pb_msg m, uint32_t num,
			    enum lathe_pb_scalar kind, const char *name, lathe_arena *a,
			    void **out, int64_t *n);

#endif
