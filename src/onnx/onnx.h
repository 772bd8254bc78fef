/* onnx.h: the ONNX frontend, the only part of lathe that knows ONNX.
 *
 * It reads a model (protobuf ModelProto) into graph IR: initializers become
 * constants, nodes become nodes of lathe's op table in the form the newest
 * opset gives them (older opsets' attribute forms are rewritten, see
 * normalize.c), model-local functions are inlined, If/Loop/Scan bodies
 * become subgraphs.  It also reads the TensorProto / SequenceProto /
 * OptionalProto .pb files that carry test inputs and outputs.
 * docs/onnx-reader.md describes the design.
 *
 * Ownership: the returned graph owns everything it points to; constants may
 * point into files the graph maps (the model file for lathe_onnx_load,
 * external data files), which stay mapped until lathe_graph_destroy.
 *
 * Failure: any malformed, truncated or hostile input gives an error (never a
 * crash, an out-of-bounds read or an allocation out of proportion to the
 * input), with *out set to NULL.  Messages name what was being read
 * ("ModelProto.graph.node[3].attribute[1]: ...") or the node
 * ("node 'conv1' (ai.onnx::Conv, opset 13): ...").
 */
#ifndef LATHE_ONNX_H
#define LATHE_ONNX_H

#include "graph/graph.h"
#include "ops/op.h"

/* Loads an ONNX model file into a graph.  External data is looked up next
 * to the model.  Errors name the file, then the node, op type, opset and
 * reason. */
lathe_err lathe_onnx_load(const char *path, lathe_graph **out);

/* The same from memory.  `data` is not referenced after the call (tensor
 * data is copied into the graph).  External data files are looked up in
 * dir_for_external_data; with NULL, a model with external data is an
 * error. */
lathe_err lathe_onnx_load_mem(const uint8_t *data, size_t size,
			      const char *dir_for_external_data, lathe_graph **out);

/* Reads a TensorProto / SequenceProto / OptionalProto .pb file into a
 * run-time value allocated in `a`.  `expect` says which message the file
 * holds: a tensor type (or NULL) for TensorProto, a sequence type for
 * SequenceProto, an optional type for OptionalProto.  An optional that holds
 * a value is returned as that value (kind TENSOR or SEQUENCE); an empty one
 * as kind OPTIONAL.  The element type of the file wins over `expect`'s
 * (callers check agreement). */
lathe_err lathe_onnx_read_value_pb(lathe_arena *a, const char *path, const lathe_type *expect,
				   lathe_rvalue *out);

#endif
