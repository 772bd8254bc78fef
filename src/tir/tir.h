/* tir.h: the loop IR ("tensor programs").
 *
 * A function works on buffers: dense row-major arrays with an element type
 * and a constant shape.  Parameters are the buffers the caller passes (the
 * op's inputs, then its outputs); locals are scratch buffers the function
 * owns (accumulators, packed tiles).  The body is a tree of statements:
 * loops (serial, parallel, vectorized, unrolled), stores, sequences, ifs and
 * lets.  Expressions are typed trees: constants, loop and let variables,
 * loads, unary and binary operators, select and cast.  Buffer accesses take
 * one index per dimension; flattening is the backends' business.
 *
 * Arithmetic follows the expression's element type: integer ops wrap at the
 * type's width, float ops round to the type (f16 and bf16 included), DIV and
 * MOD on integers truncate toward zero like C, FLOORDIV and FLOORMOD round
 * toward minus infinity (index arithmetic), and shifts past the width give 0.
 * Index expressions and loop variables are i64.
 *
 * Everything of a function lives in the arena given at creation.
 */
#ifndef LATHE_TIR_H
#define LATHE_TIR_H

#include "base/base.h"

/* Unary operators: X(ENUM, "text name"). */
#define LATHE_TIR_UNOPS(X)                                                    \
	X(NEG, "neg") X(NOT, "not") X(BITNOT, "bitnot") X(ABS, "abs")          \
	X(SQRT, "sqrt") X(EXP, "exp") X(LOG, "log") X(SIN, "sin")              \
	X(COS, "cos") X(TAN, "tan") X(ASIN, "asin") X(ACOS, "acos")            \
	X(ATAN, "atan") X(SINH, "sinh") X(COSH, "cosh") X(TANH, "tanh")        \
	X(ASINH, "asinh") X(ACOSH, "acosh") X(ATANH, "atanh") X(ERF, "erf")    \
	X(FLOOR, "floor") X(CEIL, "ceil") X(ROUND, "round") /* half to even */ \
	X(TRUNC, "trunc") X(ISNAN, "isnan") X(ISINF, "isinf")                  \
	X(ISPOSINF, "isposinf") X(ISNEGINF, "isneginf") X(SIGN, "sign")        \
	X(SIGMOID, "sigmoid") X(LOG1P, "log1p") X(EXPM1, "expm1")

/* Binary operators.  Comparisons yield bool; AND/OR/XOR are logical on bool
 * and bitwise on integers. */
#define LATHE_TIR_BINOPS(X)                                                   \
	X(ADD, "add") X(SUB, "sub") X(MUL, "mul") X(DIV, "div") X(MOD, "mod")  \
	X(FLOORDIV, "floordiv") X(FLOORMOD, "floormod") X(FMOD, "fmod")        \
	X(MIN, "min") X(MAX, "max") X(POW, "pow") X(ATAN2, "atan2")            \
	X(EQ, "eq") X(NE, "ne") X(LT, "lt") X(LE, "le") X(GT, "gt") X(GE, "ge") \
	X(AND, "and") X(OR, "or") X(XOR, "xor") X(SHL, "shl") X(SHR, "shr")

enum lathe_tir_unop {
#define X(e, s) LATHE_TIR_##e,
	LATHE_TIR_UNOPS(X)
#undef X
	LATHE_TIR_UNOP_COUNT
};
enum lathe_tir_binop {
#define X(e, s) LATHE_TIR_##e,
	LATHE_TIR_BINOPS(X)
#undef X
	LATHE_TIR_BINOP_COUNT
};
const char *lathe_tir_unop_name(int op);
const char *lathe_tir_binop_name(int op);

typedef struct lathe_tir_var {
	const char *name;
	int32_t id;    /* index into fn->vars */
	int32_t dtype; /* i64 for loop variables */
} lathe_tir_var;

enum lathe_tir_buf_kind { LATHE_TIR_PARAM, LATHE_TIR_LOCAL };

typedef struct lathe_tir_buf {
	const char *name;
	int32_t id;    /* index into fn->bufs */
	int32_t dtype;
	int32_t rank;
	int64_t *shape;
	uint8_t kind;  /* enum lathe_tir_buf_kind */
	/* PARAM: the caller binds it to data that never changes (a model's
	 * weights), so a schedule may transform it once, ahead of time (packing
	 * for a micro-kernel).  Text form: `const` after the type. */
	bool constant;
} lathe_tir_buf;

enum lathe_tir_expr_kind {
	LATHE_TIR_E_INT,    /* u.i, any integer or bool dtype */
	LATHE_TIR_E_FLOAT,  /* u.f */
	LATHE_TIR_E_VAR,
	LATHE_TIR_E_LOAD,
	LATHE_TIR_E_UNARY,
	LATHE_TIR_E_BINARY,
	LATHE_TIR_E_SELECT, /* a ? b : c (only the chosen arm is evaluated) */
	LATHE_TIR_E_CAST,   /* a converted to dtype (ONNX Cast semantics) */
};

typedef struct lathe_tir_expr {
	uint8_t kind;
	int32_t dtype;
	int32_t op;                /* UNARY, BINARY */
	union {
		int64_t i;
		double f;
		lathe_tir_var *var;
		lathe_tir_buf *buf;  /* LOAD */
	} u;
	struct lathe_tir_expr *a, *b, *c; /* operands */
	struct lathe_tir_expr **idx;      /* LOAD: buf->rank indices */
} lathe_tir_expr;

enum lathe_tir_for_kind {
	LATHE_TIR_SERIAL,
	LATHE_TIR_PARALLEL,
	LATHE_TIR_VECTORIZED,
	LATHE_TIR_UNROLLED,
};

enum lathe_tir_stmt_kind {
	LATHE_TIR_S_FOR,   /* for var in [lo, lo + extent): body */
	LATHE_TIR_S_STORE, /* buf[idx...] = value */
	LATHE_TIR_S_SEQ,   /* stmts[0..n) in order */
	LATHE_TIR_S_IF,    /* if cond then body else orelse (orelse may be NULL) */
	LATHE_TIR_S_LET,   /* var = value in body */
	LATHE_TIR_S_CALL,  /* callee(args): a runtime micro-kernel (lathe_rt_ukernel.h) */
};

/* An argument of a call: an element pointer &buf[idx...] that the callee
 * reads from (READ), reads and writes (WRITE) or uses as workspace whose
 * contents are undefined before and after the call (SCRATCH), each up to
 * the end of the buffer at most; or an i64 or f64 value (VALUE). */
enum lathe_tir_arg_kind {
	LATHE_TIR_ARG_VALUE,
	LATHE_TIR_ARG_READ,
	LATHE_TIR_ARG_WRITE,
	LATHE_TIR_ARG_SCRATCH,
};

typedef struct lathe_tir_arg {
	uint8_t kind;          /* enum lathe_tir_arg_kind */
	lathe_tir_buf *buf;    /* pointer arguments */
	struct lathe_tir_expr **idx; /* pointer arguments: buf->rank indices */
	struct lathe_tir_expr *value; /* VALUE */
} lathe_tir_arg;

typedef struct lathe_tir_stmt {
	uint8_t kind;
	uint8_t for_kind;           /* FOR */
	lathe_tir_var *var;         /* FOR, LET */
	lathe_tir_expr *lo, *extent; /* FOR */
	lathe_tir_expr *cond;       /* IF */
	lathe_tir_expr *value;      /* STORE, LET */
	lathe_tir_buf *buf;         /* STORE */
	lathe_tir_expr **idx;       /* STORE: buf->rank indices */
	struct lathe_tir_stmt *body, *orelse;
	struct lathe_tir_stmt **stmts; /* SEQ */
	int32_t n;                  /* SEQ length */
	const char *callee;         /* CALL: the micro-kernel's name ("sgemm") */
	lathe_tir_arg *args;        /* CALL */
	int32_t nargs;              /* CALL */
} lathe_tir_stmt;

/* What kind of computation a function is, as its lowering says: the key of
 * its default schedule. */
enum lathe_sched_class {
	LATHE_SCHED_NONE = 0,
	LATHE_SCHED_ELEMENTWISE,
	LATHE_SCHED_REDUCTION,
	LATHE_SCHED_MATMUL,
	LATHE_SCHED_CONV,
	LATHE_SCHED_DEPTHWISE_CONV,
	LATHE_SCHED_POOL,
	LATHE_SCHED_SOFTMAX_NORM,
};

typedef struct lathe_tir_func {
	lathe_arena *arena;
	const char *name;
	int32_t sched_class; /* enum lathe_sched_class */
	LATHE_VEC(lathe_tir_buf *) bufs; /* params first (in call order), then locals */
	int32_t nparams;
	LATHE_VEC(lathe_tir_var *) vars;
	lathe_tir_stmt *body; /* a SEQ; never NULL */
} lathe_tir_func;

/* ---- construction (all nodes in fn->arena) ------------------------------- */

lathe_tir_func *lathe_tir_func_create(lathe_arena *a, const char *name);
/* Frees the vectors (the arena owns the nodes). */
void lathe_tir_func_deinit(lathe_tir_func *f);
/* Parameters must all be added before any local. */
lathe_tir_buf *lathe_tir_param(lathe_tir_func *f, const char *name, int dtype,
			       int rank, const int64_t *shape);
lathe_tir_buf *lathe_tir_local(lathe_tir_func *f, const char *name, int dtype,
			       int rank, const int64_t *shape);
/* A new variable; its name is made unique within f. */
lathe_tir_var *lathe_tir_new_var(lathe_tir_func *f, const char *name, int dtype);

lathe_tir_expr *lathe_tir_int(lathe_tir_func *f, int dtype, int64_t v);
lathe_tir_expr *lathe_tir_i64(lathe_tir_func *f, int64_t v);
lathe_tir_expr *lathe_tir_float(lathe_tir_func *f, int dtype, double v);
lathe_tir_expr *lathe_tir_varref(lathe_tir_func *f, lathe_tir_var *v);
/* idx: buf->rank expressions (copied). */
lathe_tir_expr *lathe_tir_load(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *const *idx);
lathe_tir_expr *lathe_tir_unary(lathe_tir_func *f, int op, lathe_tir_expr *a);
/* Operands must have the same dtype; comparisons give bool. */
lathe_tir_expr *lathe_tir_binary(lathe_tir_func *f, int op, lathe_tir_expr *a, lathe_tir_expr *b);
lathe_tir_expr *lathe_tir_select(lathe_tir_func *f, lathe_tir_expr *c, lathe_tir_expr *a, lathe_tir_expr *b);
lathe_tir_expr *lathe_tir_cast(lathe_tir_func *f, int dtype, lathe_tir_expr *a);

lathe_tir_stmt *lathe_tir_for(lathe_tir_func *f, lathe_tir_var *v, lathe_tir_expr *lo,
			      lathe_tir_expr *extent, int for_kind, lathe_tir_stmt *body);
lathe_tir_stmt *lathe_tir_store(lathe_tir_func *f, lathe_tir_buf *b, lathe_tir_expr *const *idx,
				lathe_tir_expr *value);
lathe_tir_stmt *lathe_tir_seq(lathe_tir_func *f, int n, lathe_tir_stmt *const *stmts);
lathe_tir_stmt *lathe_tir_if(lathe_tir_func *f, lathe_tir_expr *cond, lathe_tir_stmt *then,
			     lathe_tir_stmt *orelse);
lathe_tir_stmt *lathe_tir_let(lathe_tir_func *f, lathe_tir_var *v, lathe_tir_expr *value,
			      lathe_tir_stmt *body);
/* A call of a runtime micro-kernel; args (and their index arrays) are
 * copied.  Pointer arguments come in the order the kernel takes its
 * pointers, values in the order of its integer and float parameters. */
lathe_tir_stmt *lathe_tir_call(lathe_tir_func *f, const char *callee, int nargs,
			       const lathe_tir_arg *args);
/* Appends s to the function's top-level sequence. */
void lathe_tir_append(lathe_tir_func *f, lathe_tir_stmt *s);

/* ---- passes over the IR --------------------------------------------------- */

/* Text form (docs/loop-ir.md).  The parser accepts what the printer prints. */
void lathe_tir_print(lathe_buf *b, const lathe_tir_func *f);
lathe_err lathe_tir_parse(lathe_arena *a, const char *text, const char *filename,
			  lathe_tir_func **out);
/* Types agree, every variable is bound where used, index counts match ranks,
 * constant indices are in bounds. */
lathe_err lathe_tir_verify(const lathe_tir_func *f);
/* Folds constants and simplifies integer expressions (x*1, x+0, nested
 * constant adds, floordiv/floormod by 1...); returns the same function. */
void lathe_tir_simplify(lathe_tir_func *f);

/* Runs f.  args[i] is the data of parameter i (its shape is the buffer's);
 * locals are allocated by the interpreter.  Out-of-bounds accesses are
 * reported as errors, not performed. */
lathe_err lathe_tir_interp(const lathe_tir_func *f, void *const *args);

#endif
