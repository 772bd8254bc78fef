/* tir_impl.h: what the loop-IR files share among themselves (not a public
 * header: nothing outside src/tir/ includes it).
 *
 * The scalar semantics of the loop IR live in scalar.c, once: the
 * interpreter evaluates with them and the simplifier folds constants with
 * them, so a folded constant is always the value the program would have
 * computed.  A value is a lathe_tir_val read through its dtype:
 *   - integers (and bool) in .i, normalized to the dtype's width (signed
 *     types sign-extended, unsigned zero-extended, bool 0 or 1); u64 is the
 *     bit pattern in .i / .u;
 *   - floats in .f as a double already rounded to the dtype.
 */
#ifndef LATHE_TIR_IMPL_H
#define LATHE_TIR_IMPL_H

#include "tir/tir.h"

typedef union lathe_tir_val {
	int64_t i;
	uint64_t u;
	double f;
} lathe_tir_val;

/* Integer width in bits of an integer or bool dtype (bool: 1), 0 otherwise. */
int lathe_tir_int_bits(int dtype);
/* v wrapped to dtype's width (two's complement), bool to 0/1. */
int64_t lathe_tir_wrap(int dtype, int64_t v);
/* v rounded to a float dtype (f32, f16, bf16, float8...). */
double lathe_tir_round(int dtype, double v);
/* True for dtypes a loop program can compute with (not str, complex, undef). */
bool lathe_tir_dtype_ok(int dtype);

/* Result dtype of an operator applied to operands of `dtype`. */
int lathe_tir_unary_dtype(int op, int dtype);
int lathe_tir_binary_dtype(int op, int dtype);
bool lathe_tir_binop_is_compare(int op);

/* Scalar evaluation; `dtype` is the operands' dtype.  Binary returns false
 * (and leaves *out zero) for an integer division or modulo by zero. */
lathe_tir_val lathe_tir_eval_unary(int op, int dtype, lathe_tir_val a);
bool lathe_tir_eval_binary(int op, int dtype, lathe_tir_val a, lathe_tir_val b,
			   lathe_tir_val *out);
lathe_tir_val lathe_tir_eval_cast(int to, int from, lathe_tir_val a);

/* Raw element access at p (one element of dtype), normalized as above. */
lathe_tir_val lathe_tir_load_raw(int dtype, const void *p);
void lathe_tir_store_raw(int dtype, void *p, lathe_tir_val v);

/* One expression in the text form (print.c); prints malformed trees too. */
void lathe_tir_print_expr(lathe_buf *b, const lathe_tir_expr *e);

/* Names: true when s prints bare after % or @ (letters, digits and _). */
bool lathe_tir_name_is_plain(const char *s);

#endif
