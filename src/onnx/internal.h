/* internal.h: what the files of the ONNX frontend share (not a public
 * header; only src/onnx/ includes it).
 *
 *   pb.c        protobuf wire format
 *   import.c    ModelProto, GraphProto, NodeProto, attributes, types
 *   tensor.c    TensorProto, SparseTensorProto, external data, .pb values
 *   functions.c model-local FunctionProto: parsing and inlining
 *   normalize.c older opsets' forms rewritten to the newest form
 *
 * Names.  ONNX names values by strings; lathe by vids in a graph.  Import
 * walks a chain of frames: a graph frame stands for a lathe graph (the main
 * graph or a subgraph) whose values keep their ONNX names; a function frame
 * stands for one inlined call, whose body's names are private and are
 * renamed (rename map) to names unique in the graph the call is inlined
 * into.  A name is resolved by walking the chain outwards; a function frame
 * is a wall (a body sees only its formal inputs and its own values).
 */
#ifndef LATHE_ONNX_INTERNAL_H
#define LATHE_ONNX_INTERNAL_H

#include "onnx/onnx.h"
#include "onnx/pb.h"

/* Hard limits against hostile models; each error message names its limit. */
#define ONNX_MAX_RANK 1024         /* dims of one tensor or type */
#define ONNX_MAX_INLINE_DEPTH 32   /* nested function calls */
#define ONNX_MAX_SPARSE_BYTES ((int64_t)1 << 30) /* one densified tensor */
#define ONNX_MAX_NODE_ATTRS 4096   /* attributes of a node */
#define ONNX_MAX_NODE_OUTPUTS 4096
#define ONNX_MAX_NODE_INPUTS 1000000
#define ONNX_MAX_FORMALS 4096      /* inputs, outputs, attributes of a function */
#define ONNX_MAX_OPSETS 1024       /* opset_import entries */
#define ONNX_MAX_SYMS 4096         /* distinct dim_param names */
/* Every subgraph holds a copy of the symbol table: bound their product. */
#define ONNX_MAX_SYM_COPIES ((int64_t)4 << 20)

typedef struct onnx_opset {
	const char *domain; /* "" for ai.onnx */
	int64_t version;
} onnx_opset;

typedef struct onnx_opsets {
	int n;
	onnx_opset *v;
	const struct onnx_opsets *fallback; /* a function's falls back to the model's */
} onnx_opsets;

/* A model-local function (FunctionProto), parsed once. */
typedef struct onnx_func {
	const char *domain, *name, *overload;
	int64_t index; /* in ModelProto.functions, for error paths */
	lathe_pb_msg msg;
	int nin, nout, nattr, ndefault;
	int64_t cost;               /* work units charged per call */
	const char **in, **out;
	const char **attr;          /* attribute names without a default */
	const char **default_name;  /* attribute_proto: names ... */
	lathe_pb_msg *default_msg;  /* ... and their AttributeProto */
	onnx_opsets opsets;
} onnx_func;

/* An attribute of a node as found: the AttributeProto bytes, its name, and
 * for a reference to a function attribute (ref_attr_name), that name. */
typedef struct onnx_attr_ref {
	const char *name;
	const char *ref; /* NULL unless a reference */
	lathe_pb_msg msg;
} onnx_attr_ref;

/* A NodeProto, names copied, attributes left as bytes. */
typedef struct onnx_node {
	const char *name, *op_type, *domain, *overload;
	int64_t index;
	int nin, nout, nattr;
	const char **in, **out;
	onnx_attr_ref *attrs;
} onnx_node;

typedef struct onnx_frame {
	struct onnx_frame *parent;
	lathe_graph *g;              /* where this frame's nodes go */
	const onnx_opsets *opsets;
	/* Function frames only: */
	const onnx_func *fn;
	lathe_map rename;            /* body name -> name in g (arena string) */
	int nattr;
	const onnx_attr_ref *attrs;  /* the call's attributes, refs resolved */
	const char *prefix;          /* for fresh names of body values */
} onnx_frame;

typedef struct onnx_ext_file {
	char *location;
	lathe_mapped_file f;
} onnx_ext_file;

typedef struct onnx_ctx {
	lathe_pb_ctx pb;
	lathe_arena *arena;   /* where IR and tensor data go */
	lathe_graph *root;    /* NULL when reading a lone .pb value */
	bool borrow_model;    /* raw_data may point into the input bytes */
	const char *dir;      /* external data directory, or NULL */
	LATHE_VEC(onnx_ext_file) ext; /* external files mapped so far */
	int64_t ir_version;
	onnx_opsets opsets;   /* the model's */
	int nfunc;
	onnx_func *funcs;
	lathe_map func_index; /* domain '\1' name '\1' overload -> index */
	int inline_depth;
	int64_t fresh;        /* counter for generated value names */
	lathe_map syms;       /* dim_param name -> symbol index */
	int64_t nsub;         /* subgraphs created */
	/* Work still allowed, in units of about one name or one field:
	 * function inlining multiplies work, and this bounds it. */
	int64_t work_budget;
	int64_t data_budget;  /* tensor bytes still allowed to be decoded */
} onnx_ctx;

/* ---- import.c ---- */
lathe_err lathe_onnx_graph(onnx_ctx *c, onnx_frame *parent, lathe_graph *g, lathe_pb_msg m);
/* Parses a NodeProto. */
lathe_err lathe_onnx_node_parse(onnx_ctx *c, lathe_pb_msg m, int64_t index, onnx_node *out);
/* The name of the AttributeProto m (an error when it has none) and, when
 * ref is not NULL, its ref_attr_name (NULL when absent). */
lathe_err lathe_onnx_attr_names(onnx_ctx *c, lathe_pb_msg m, const char **name,
				const char **ref);
/* Turns one parsed node into graph nodes in frame f. */
lathe_err lathe_onnx_node_emit(onnx_ctx *c, onnx_frame *f, const onnx_node *n);
/* Decodes a TypeProto; symbols are interned in g. */
lathe_err lathe_onnx_type(onnx_ctx *c, lathe_graph *g, lathe_pb_msg m, lathe_type *out);
/* Name handling across frames (see the top of this file). */
enum onnx_res { ONNX_FOUND, ONNX_MISSING, ONNX_UNDEFINED };
enum onnx_res lathe_onnx_resolve(onnx_frame *f, const char *name, lathe_vid *out);
/* The name in f->g for a value the frame defines; error if defined twice. */
lathe_err lathe_onnx_define(onnx_ctx *c, onnx_frame *f, const char *name, const char **out);
int64_t lathe_onnx_opset_of(const onnx_opsets *s, const char *domain);
/* Reads the OperatorSetIdProto fields numbered `num` of m. */
lathe_err lathe_onnx_opsets_parse(onnx_ctx *c, lathe_pb_msg m, uint32_t num, onnx_opsets *out);
/* "" for ai.onnx (and for its alias "ai.onnx"). */
const char *lathe_onnx_norm_domain(const char *d);
/* Adds one node made by the importer itself (normalization); its single
 * output gets a fresh name. */
lathe_err lathe_onnx_add_aux_node(onnx_ctx *c, lathe_graph *g, int op, int nin,
				  const lathe_vid *in, int nattr, const lathe_attr *attrs,
				  lathe_vid *out);

/* Charges `units` of work; an error once the budget is spent. */
lathe_err lathe_onnx_charge(onnx_ctx *c, int64_t units);

/* ---- tensor.c ---- */
/* Decodes a TensorProto into c->arena; *name (may be NULL) gets its name. */
lathe_err lathe_onnx_tensor(onnx_ctx *c, lathe_pb_msg m, lathe_tensor **out, const char **name);
lathe_err lathe_onnx_sparse(onnx_ctx *c, lathe_pb_msg m, lathe_tensor **out, const char **name);
/* The TensorProto (or SparseTensorProto) held by field f, entered as
 * `field` (with idx >= 0, `field[idx]`) for error paths. */
lathe_err lathe_onnx_sub_tensor(onnx_ctx *c, const lathe_pb_field *f, const char *field,
				int64_t idx, bool sparse, lathe_tensor **out);
void lathe_onnx_ctx_deinit(onnx_ctx *c);

/* ---- functions.c ---- */
lathe_err lathe_onnx_functions_parse(onnx_ctx *c, lathe_pb_msg model);
const onnx_func *lathe_onnx_function_find(const onnx_ctx *c, const char *domain,
					  const char *name, const char *overload);
/* Inlines a call of fn (node n, attributes already resolved) into frame f. */
lathe_err lathe_onnx_function_inline(onnx_ctx *c, onnx_frame *f, const onnx_node *n,
				     const onnx_func *fn);

/* ---- normalize.c ---- */
/* A node about to be added: inputs resolved, attributes decoded. */
typedef struct onnx_nb {
	int op;
	const char *label; /* "node 'x' (ai.onnx::Op, opset N)" for errors */
	int64_t opset;
	int nin, cap_in;
	lathe_vid *in;
	int nout;
	const char **out;
	int nattr, cap_attr;
	lathe_attr *attrs;
} onnx_nb;
lathe_err lathe_onnx_normalize(onnx_ctx *c, lathe_graph *g, onnx_nb *nb);

#endif
