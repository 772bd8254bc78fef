/* graph.h: the computational-graph IR.
 *
 * A graph is SSA: every value is defined once (a graph input, a constant, a
 * node output, or, in a subgraph, a capture of a value of the enclosing
 * graph) and named by a 32-bit id into the graph's value table.  Nodes come
 * from one op table (ops.def) and are kept in a topological order.  Types are
 * an element type plus a shape whose dimensions are constants or named
 * symbols (`batch`); after shape inference with concrete inputs every
 * dimension is a constant.
 *
 * The graph IR knows nothing of ONNX files: the frontend normalizes every
 * opset's form of an op to the one form ops.def documents (the newest
 * opset's), so passes and lowering see one meaning per op.
 *
 * Memory: everything of a graph (values, nodes, attributes, subgraphs,
 * constant tensors that were not mapped from a file) lives in its arena.
 * Constants may point into a mapped file that the graph holds open.
 */
#ifndef LATHE_GRAPH_H
#define LATHE_GRAPH_H

#include "base/base.h"

typedef uint32_t lathe_vid;
#define LATHE_NOVAL ((lathe_vid)UINT32_MAX) /* a missing optional input */

/* ---- ops ----------------------------------------------------------------- */

enum lathe_op {
#define OP(id, domain, name, infer, lower, kernel, params) LATHE_OP_##id,
#include "graph/ops.def"
#undef OP
	LATHE_OP_COUNT
};

const char *lathe_op_name(int op);   /* "Conv" */
const char *lathe_op_domain(int op); /* "" for ai.onnx */
/* Op id of (domain, name); -1 if lathe has no such op. */
int lathe_op_lookup(const char *domain, const char *name);
/* Bit i set: input i determines the output's shape or type (Reshape's
 * `shape`, Slice's `starts`...), so its value must be known when inferring
 * shapes or lowering. */
uint32_t lathe_op_param_inputs(int op);
/* The op's input and output counts (from its ONNX schema, newest opset);
 * a maximum of -1 means variadic.  False if lathe has no arity for op. */
bool lathe_op_arity(int op, int *min_in, int *max_in, int *min_out, int *max_out);

/* ---- types --------------------------------------------------------------- */

/* A dimension: a constant size (sym < 0; size -1 means unknown) or the
 * symbol graph->syms[sym]. */
typedef struct lathe_dim {
	int64_t size;
	int32_t sym;
} lathe_dim;

enum lathe_type_kind {
	LATHE_TY_TENSOR = 0,
	LATHE_TY_SEQUENCE, /* sequence of tensors of `dtype` (shape of elements may vary: rank -1) */
	LATHE_TY_OPTIONAL, /* optional tensor (elem_kind TENSOR) or sequence */
	LATHE_TY_UNKNOWN,  /* not inferred yet */
};

typedef struct lathe_type {
	uint8_t kind;      /* enum lathe_type_kind */
	uint8_t elem_kind; /* for OPTIONAL: TENSOR or SEQUENCE */
	int32_t dtype;     /* element type (of the tensors inside, for seq/opt) */
	int32_t rank;      /* -1: unknown rank */
	lathe_dim *dims;   /* rank entries, in the graph's arena */
} lathe_type;

/* ---- attributes ---------------------------------------------------------- */

enum lathe_attr_kind {
	LATHE_ATTR_INT,
	LATHE_ATTR_FLOAT,
	LATHE_ATTR_STRING,
	LATHE_ATTR_TENSOR,
	LATHE_ATTR_GRAPH,
	LATHE_ATTR_INTS,
	LATHE_ATTR_FLOATS,
	LATHE_ATTR_STRINGS,
	LATHE_ATTR_TENSORS,
	LATHE_ATTR_GRAPHS,
	LATHE_ATTR_TYPE, /* a type (TypeProto), e.g. Optional's */
};

struct lathe_graph;

typedef struct lathe_attr {
	const char *name;
	int kind; /* enum lathe_attr_kind */
	int64_t n; /* element count of list kinds */
	union {
		int64_t i;
		double f;
		const char *s;     /* strings may hold NUL bytes: see slen */
		lathe_tensor *t;
		struct lathe_graph *g;
		int64_t *ints;
		double *floats;
		const char **strs;
		lathe_tensor **tensors;
		struct lathe_graph **graphs;
		lathe_type type;
	} u;
	int64_t slen; /* byte length of u.s */
} lathe_attr;

/* ---- values, nodes, graphs ------------------------------------------------ */

enum lathe_def_kind {
	LATHE_DEF_INPUT,   /* graph input; index in graph->inputs */
	LATHE_DEF_CONST,   /* constant: value->konst */
	LATHE_DEF_NODE,    /* output `index` of node `node` */
	LATHE_DEF_OUTER,   /* subgraph capture of value `outer` of graph->parent */
};

typedef struct lathe_value {
	const char *name; /* unique within the graph; "" never */
	lathe_type type;
	uint8_t def;      /* enum lathe_def_kind */
	uint32_t node;    /* DEF_NODE: defining node */
	uint32_t index;   /* DEF_NODE: output index; DEF_INPUT: input index */
	lathe_vid outer;  /* DEF_OUTER */
	lathe_tensor *konst; /* DEF_CONST (also set for an input with a default) */
} lathe_value;

typedef struct lathe_node {
	int op;            /* enum lathe_op */
	const char *name;  /* may be "" */
	int nin, nout;
	lathe_vid *in;     /* LATHE_NOVAL for a missing optional input */
	lathe_vid *out;
	int nattr;
	lathe_attr *attrs;
	bool dead;         /* removed by a pass; skipped everywhere */
	uint32_t group;    /* fusion group (0: none); a group's nodes are contiguous */
} lathe_node;

typedef struct lathe_opset_import {
	const char *domain; /* "" for ai.onnx */
	int64_t version;
	const struct lathe_opset_import *next;
} lathe_opset_import;

typedef struct lathe_graph {
	lathe_arena *arena;          /* owned by the root graph; shared by subgraphs */
	struct lathe_graph *parent;  /* NULL for the main graph */
	const char *name;
	LATHE_VEC(lathe_value) values;
	LATHE_VEC(lathe_node) nodes;  /* topological order */
	LATHE_VEC(lathe_vid) inputs;  /* graph inputs, in order (no initializers) */
	LATHE_VEC(lathe_vid) outputs;
	LATHE_VEC(const char *) syms; /* names of symbolic dimensions */
	lathe_map names;              /* value name -> vid */
	int64_t opset;                /* ai.onnx opset the model was written for */
	/* Every opset the model imports, ai.onnx ("") included; a list in the
	 * arena, NULL when not known (a graph not read from ONNX). */
	const struct lathe_opset_import *opsets;
	LATHE_VEC(lathe_mapped_file) files; /* mapped weight files, unmapped on destroy */
} lathe_graph;

lathe_graph *lathe_graph_create(void);
/* A subgraph shares its parent's arena; it is destroyed with the root. */
lathe_graph *lathe_graph_create_sub(lathe_graph *parent);
void lathe_graph_destroy(lathe_graph *g); /* root only */

/* Adds a value named `name` (copied; must be unique in g). */
lathe_err lathe_graph_add_value(lathe_graph *g, const char *name, lathe_type type,
				lathe_vid *out);
lathe_err lathe_graph_add_input(lathe_graph *g, const char *name, lathe_type type,
				lathe_vid *out);
/* t must live as long as g (in g's arena or a mapped file). */
lathe_err lathe_graph_add_const(lathe_graph *g, const char *name, lathe_tensor *t,
				lathe_vid *out);
/* Adds a node; its outputs get fresh values with the given names (unique;
 * NULL or "" names an output that is not used: it gets a generated name). */
lathe_err lathe_graph_add_node(lathe_graph *g, int op, const char *name,
			       int nin, const lathe_vid *in, int nout,
			       const char *const *out_names, lathe_node **out);
/* Looks a value up by name in g, then (creating a DEF_OUTER capture in g)
 * in its ancestors.  Returns LATHE_NOVAL if nowhere. */
lathe_vid lathe_graph_lookup(lathe_graph *g, const char *name);
/* A fresh unique value name with the given prefix. */
const char *lathe_graph_fresh_name(lathe_graph *g, const char *prefix);
int32_t lathe_graph_intern_sym(lathe_graph *g, const char *name);

static inline lathe_value *lathe_graph_value(lathe_graph *g, lathe_vid v)
{
	return &g->values.data[v];
}

/* Attribute lookup on a node; NULL if absent. */
const lathe_attr *lathe_node_attr(const lathe_node *n, const char *name);
int64_t lathe_node_attr_int(const lathe_node *n, const char *name, int64_t dflt);
double lathe_node_attr_float(const lathe_node *n, const char *name, double dflt);
const char *lathe_node_attr_str(const lathe_node *n, const char *name, const char *dflt);
/* Appends an attribute (copied shallowly; arrays must be in g's arena). */
void lathe_node_set_attr(lathe_graph *g, lathe_node *n, lathe_attr a);

/* Types. */
lathe_type lathe_type_tensor(lathe_arena *a, int dtype, int rank, const int64_t *shape);
lathe_type lathe_type_unknown(void);
bool lathe_type_is_static(const lathe_type *t); /* tensor with every dim constant */
bool lathe_type_equal(const lathe_type *a, const lathe_type *b);
/* "f32[1,3,224,224]", "f32[batch,?]", "seq<f32>", "opt<f32[2]>", "?" */
void lathe_type_print(lathe_buf *b, const lathe_graph *g, const lathe_type *t);

/* ---- text form, verifier, inference --------------------------------------- */

/* Prints g in lathe's graph text form (see docs/graph-ir.md). */
void lathe_graph_print(lathe_buf *b, const lathe_graph *g);
/* n bytes of s as a quoted string of the text form, with C-like escapes. */
void lathe_graph_put_quoted(lathe_buf *b, const char *s, size_t n);
/* Parses the text form; errors name the line and column. */
lathe_err lathe_graph_parse(const char *text, const char *filename, lathe_graph **out);
/* Checks SSA, topological order, arities from the op table, attribute kinds,
 * and that recorded types agree with inference where both are known. */
lathe_err lathe_graph_verify(const lathe_graph *g);
/* Infers the type of every node output from the op table's infer functions,
 * using constants' values for parameter inputs.  Unknowable dims stay
 * unknown (-1) or symbolic. */
lathe_err lathe_graph_infer(lathe_graph *g);

#endif
