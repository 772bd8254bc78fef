/* reorder.c: reorder(loops...).
 *
 * The listed loops must lie on one perfect nest: from the outermost listed
 * loop down to the innermost, each loop's body is the next loop, except for
 * `if`s without `else` that read no memory (the guards non-dividing splits
 * leave).  The listed loops are permuted among the places they occupy;
 * unlisted loops of the nest stay put; guards move to the innermost body,
 * where they still see every variable they use and skip exactly the same
 * iterations.
 *
 * Legality (dep.c, sched_carried): a loop "carries" a dependence when two
 * iterations that differ in it may touch the same element of a written
 * buffer.  Carrying loops must keep their relative order; the others can go
 * anywhere.  E.g. `acc'[ii, ji] += A[i, k] * B[k, j]` is carried by k only,
 * so reorder(k, ii, ji) is legal and keeps each element's sum in order.
 */
#include <stdlib.h>

#include "sched/sched_impl.h"

typedef LATHE_VEC(lathe_tir_stmt *) stmt_vec;
typedef LATHE_VEC(lathe_tir_expr *) expr_vec;

static bool listed(lathe_tir_var *const *order, int n, const lathe_tir_var *v, int *at)
{
	for (int i = 0; i < n; i++)
		if (order[i] == v) {
			if (at)
				*at = i;
			return true;
		}
	return false;
}

static bool expr_has_load(const lathe_tir_expr *e)
{
	if (!e)
		return false;
	if (e->kind == LATHE_TIR_E_LOAD)
		return true;
	return expr_has_load(e->a) || expr_has_load(e->b) || expr_has_load(e->c);
}

lathe_err lathe_sched_reorder(lathe_tir_func *f, int n, lathe_tir_var *const *order)
{
	if (n < 1 || !order)
		return lathe_error(LATHE_EINVAL, "reorder: no loops given");
	for (int i = 0; i < n; i++) {
		if (!order[i])
			return lathe_error(LATHE_EINVAL, "reorder: no loop given");
		for (int j = 0; j < i; j++)
			if (order[i] == order[j])
				return lathe_error(LATHE_EINVAL, "reorder: %%%s is listed twice",
						   order[i]->name);
	}
	/* The outermost listed loop: the one with the shortest path. */
	lathe_tir_stmt *top = NULL;
	sched_path tpath = {0};
	for (int i = 0; i < n; i++) {
		lathe_tir_stmt *s;
		sched_path p;
		lathe_err e = sched_find_loop(f, "reorder", order[i], &s, &p);
		if (e) {
			sched_path_free(&tpath);
			return e;
		}
		if (!top || p.node.len < tpath.node.len) {
			sched_path_free(&tpath);
			tpath = p;
			top = s;
		} else {
			sched_path_free(&p);
		}
	}
	stmt_vec chain = {0};
	expr_vec guards = {0};
	lathe_err err = NULL;
	int found = 0;
	for (lathe_tir_stmt *cur = top; cur;) {
		lathe_vec_push(&chain, cur);
		if (listed(order, n, cur->var, NULL))
			found++;
		if (found == n)
			break;
		lathe_tir_stmt *b = sched_unwrap(cur->body);
		while (b->kind == LATHE_TIR_S_IF && !b->orelse) {
			if (expr_has_load(b->cond)) {
				err = lathe_error(LATHE_EINVAL,
						  "reorder: an `if` inside the nest of %%%s reads memory",
						  top->var->name);
				break;
			}
			lathe_vec_push(&guards, b->cond);
			b = sched_unwrap(b->body);
		}
		if (err)
			break;
		if (b->kind != LATHE_TIR_S_FOR) {
			const char *what = b->kind == LATHE_TIR_S_SEQ ? "a sequence of statements"
					   : b->kind == LATHE_TIR_S_IF ? "an `if` with an `else`"
					   : b->kind == LATHE_TIR_S_LET ? "a let"
									: "a store";
			const char *missing = "?";
			for (int i = 0; i < n; i++) {
				bool in = false;
				for (size_t k = 0; k < chain.len && !in; k++)
					in = chain.data[k]->var == order[i];
				if (!in) {
					missing = order[i]->name;
					break;
				}
			}
			err = lathe_error(LATHE_EINVAL,
					  "reorder: %%%s is not in the perfect nest below %%%s (%s is in the way)",
					  missing, top->var->name, what);
			break;
		}
		cur = b;
	}
	int m = (int)chain.len;
	uint8_t *marks = lathe_xcalloc(f->vars.len + 1, 1);
	for (int i = 0; i < m && !err; i++)
		marks[chain.data[i]->var->id] = 1;
	for (int i = 0; i < m && !err; i++) {
		lathe_tir_stmt *s = chain.data[i];
		if (sched_expr_uses(s->lo, marks) || sched_expr_uses(s->extent, marks))
			err = lathe_error(LATHE_EINVAL,
					  "reorder: the bounds of %%%s depend on another loop of the nest",
					  s->var->name);
		else if (expr_has_load(s->lo) || expr_has_load(s->extent))
			err = lathe_error(LATHE_EINVAL, "reorder: the bounds of %%%s read memory",
					  s->var->name);
	}
	free(marks);
	lathe_tir_stmt **neu = NULL;
	if (!err) {
		lathe_tir_stmt *body = chain.data[m - 1]->body;
		neu = lathe_xcalloc((size_t)m + 1, sizeof *neu);
		int k = 0;
		for (int i = 0; i < m; i++) {
			neu[i] = chain.data[i];
			if (listed(order, n, chain.data[i]->var, NULL)) {
				/* The k-th listed place gets the k-th loop of `order`. */
				for (int j = 0; j < m; j++)
					if (chain.data[j]->var == order[k])
						neu[i] = chain.data[j];
				k++;
			}
		}
		sched_info I;
		sched_info_init(&I, f);
		bool *carry = lathe_xcalloc((size_t)m + 1, sizeof *carry);
		lathe_tir_buf **why = lathe_xcalloc((size_t)m + 1, sizeof *why);
		sched_carried(&I, chain.data, m, body, (const lathe_tir_expr *const *)guards.data,
			      (int)guards.len, carry, why);
		/* Carrying loops keep their relative order. */
		int *newpos = lathe_xcalloc((size_t)m + 1, sizeof *newpos);
		for (int i = 0; i < m; i++)
			for (int j = 0; j < m; j++)
				if (neu[j] == chain.data[i])
					newpos[i] = j;
		for (int i = 0; i < m && !err; i++)
			for (int j = i + 1; j < m && !err; j++)
				if (carry[i] && carry[j] && newpos[j] < newpos[i]) {
					lathe_tir_buf *b = why[j] ? why[j] : why[i];
					err = lathe_error(LATHE_EINVAL,
							  "reorder: cannot move %%%s outside %%%s: both order the updates of %%%s",
							  chain.data[j]->var->name, chain.data[i]->var->name,
							  b ? b->name : "?");
				}
		free(newpos);
		free(carry);
		free(why);
		sched_info_deinit(&I);
		if (!err) {
			lathe_tir_stmt *inner = body;
			if (guards.len) {
				lathe_tir_expr *c = NULL;
				for (size_t i = 0; i < guards.len; i++)
					c = sched_and(f, c, guards.data[i]);
				inner = lathe_tir_if(f, c, inner, NULL);
			}
			for (int i = m - 1; i >= 0; i--)
				inner = lathe_tir_for(f, neu[i]->var, neu[i]->lo, neu[i]->extent,
						      neu[i]->for_kind, inner);
			sched_replace(f, &tpath, inner);
		}
	}
	free(neu);
	lathe_vec_free(&chain);
	lathe_vec_free(&guards);
	sched_path_free(&tpath);
	return err;
}
