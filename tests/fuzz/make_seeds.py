"""Writes the fuzzer's hand-made seed models into tests/fuzz/seeds/.

Each seed is a small model that reaches a part of the ONNX reader the node
tests do not: model-local functions (nested, with attribute references and
defaults), sparse initializers, external data, older opsets' forms that
normalize.c rewrites, subgraphs capturing outer values, symbolic dims,
packed sub-byte tensors, every Constant form.  The unit test
(tests/unit/test_onnx.c) loads them too.  Run from the repository root:

    .venv/bin/python tests/fuzz/make_seeds.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "seeds")


def save(name, model):
    # No checker: some seeds are deliberately at the edge of the spec.
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def vi(name, dt=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, dt, shape)


def functions():
    # Scale(x; alpha) = x * alpha (alpha defaults to 2), AddScale calls it.
    scale = helper.make_function(
        "local", "Scale", ["x"], ["y"],
        [helper.make_node("Constant", [], ["a"], value_float=0.0),
         helper.make_node("CastLike", ["a_ref", "x"], ["ac"]),
         helper.make_node("Mul", ["x", "ac"], ["y"])],
        [helper.make_opsetid("", 18)], attributes=[])
    # Replace the placeholder constant by a reference to attribute alpha.
    c = scale.node[0]
    del c.attribute[:]
    ref = helper.make_attribute_ref("value_float", onnx.AttributeProto.FLOAT)
    ref.ref_attr_name = "alpha"
    c.attribute.append(ref)
    c.output[0] = "a_ref"
    scale.attribute_proto.append(helper.make_attribute("alpha", 2.0))
    add_scale = helper.make_function(
        "local", "AddScale", ["p", "q"], ["r"],
        [helper.make_node("Add", ["p", "q"], ["s"]),
         helper.make_node("Scale", ["s"], ["r"], domain="local", alpha=3.0)],
        [helper.make_opsetid("", 18), helper.make_opsetid("local", 1)])
    g = helper.make_graph(
        [helper.make_node("AddScale", ["a", "b"], ["t"], domain="local"),
         helper.make_node("Scale", ["t"], ["u"], domain="local"),
         helper.make_node("AddScale", ["t", "u"], ["v"], domain="local")],
        "functions", [vi("a", shape=[2]), vi("b", shape=[2])], [vi("v", shape=[2])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18),
                                               helper.make_opsetid("local", 1)],
                             functions=[scale, add_scale])


def old_opsets():
    nodes = [
        helper.make_node("Slice", ["x"], ["s"], starts=[0, 1], ends=[2, 3], axes=[0, 1]),
        helper.make_node("Pad", ["s"], ["p"], pads=[1, 1, 1, 1], value=0.5),
        helper.make_node("ReduceSum", ["p"], ["r"], axes=[1], keepdims=1),
        helper.make_node("Unsqueeze", ["r"], ["u"], axes=[0]),
        helper.make_node("Squeeze", ["u"], ["q"], axes=[0]),
        helper.make_node("Clip", ["q"], ["c"], min=-1.0, max=1.0),
        helper.make_node("Softmax", ["c"], ["m"]),
        helper.make_node("Upsample", ["m"], ["up"], scales=[1.0, 2.0]),
        helper.make_node("Split", ["up"], ["o1", "o2"], axis=1),
        helper.make_node("TopK", ["o1"], ["tv", "ti"], k=1),
        helper.make_node("Dropout", ["tv"], ["d"], ratio=0.25),
    ]
    g = helper.make_graph(nodes, "old", [vi("x", shape=[3, 4])],
                          [vi("d"), vi("o2"), helper.make_tensor_value_info("ti", TensorProto.INT64, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 8)], ir_version=3)


def older_forms():
    """One model per opset for the rewrites old_opsets() cannot hold."""
    x4 = vi("x", shape=[1, 4, 2, 2])
    op3 = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["c"], to="INT32"),
         helper.make_node("Concat", ["x", "x"], ["cc"]),
         helper.make_node("Reshape", ["x"], ["r"], shape=[16]),
         helper.make_node("Upsample", ["x"], ["u"], height_scale=2.0, width_scale=2.0,
                          mode="bilinear"),
         helper.make_node("BatchNormalization", ["x", "s", "s", "s", "s"], ["bn"], is_test=1,
                          spatial=1, consumed_inputs=[0, 0, 0, 1, 1])],
        "opset3", [x4, vi("s", shape=[4])],
        [helper.make_tensor_value_info("c", TensorProto.INT32, None), vi("cc"), vi("r"),
         vi("u"), vi("bn")])
    op6 = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"], broadcast=1, axis=1)], "opset6",
        [vi("a", shape=[2, 3, 4, 5]), vi("b", shape=[3])], [vi("c")])
    op10 = helper.make_graph(
        [helper.make_node("Resize", ["x", "sc"], ["y"], mode="nearest")], "opset10",
        [x4, vi("sc", shape=[4])], [vi("y")])
    op18 = helper.make_graph(
        [helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2)],
        "opset18", [x4, vi("s", shape=[2]), vi("b", shape=[2])], [vi("y")])
    return [(name, helper.make_model(g, opset_imports=[helper.make_opsetid("", v)]))
            for name, g, v in (("opset3", op3, 3), ("opset6_broadcast", op6, 6),
                               ("opset10_resize", op10, 10), ("opset18_groupnorm", op18, 18))]


def initializers():
    dense = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    vals = numpy_helper.from_array(np.array([1.5, -2.0], dtype=np.float32), "sp")
    idx = numpy_helper.from_array(np.array([1, 4], dtype=np.int64), "sp_idx")
    sparse = helper.make_sparse_tensor(vals, idx, [2, 3])
    i4 = helper.make_tensor("i4", TensorProto.INT4, [3], [1, -2, 7])
    s = helper.make_tensor("s", TensorProto.STRING, [2], [b"ab", b"c"])
    f16 = helper.make_tensor("h", TensorProto.FLOAT16, [2], [1.0, -2.0])
    ext = helper.make_tensor("e", TensorProto.FLOAT, [1], [0.0])
    ext.ClearField("float_data")
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", "4")):
        e = ext.external_data.add()
        e.key, e.value = k, v
    nodes = [helper.make_node("Add", ["x", "w"], ["y0"]),
             helper.make_node("Add", ["y0", "sp"], ["y"]),
             helper.make_node("Constant", [], ["k1"], value_ints=[1, 2]),
             helper.make_node("Constant", [], ["k2"], value_strings=["a", "b"]),
             helper.make_node("Constant", [], ["k3"], sparse_value=sparse)]
    g = helper.make_graph(nodes, "inits", [vi("x", shape=["batch", 3]), vi("w", shape=[2, 3])],
                          [vi("y"), vi("k1"), vi("k2"), vi("k3")],
                          initializer=[dense, i4, s, f16], sparse_initializer=[sparse])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m_ext = onnx.ModelProto()
    m_ext.CopyFrom(m)
    m_ext.graph.initializer.append(ext)
    return m, m_ext


def subgraphs():
    then_g = helper.make_graph([helper.make_node("Add", ["x", "y"], ["t"])], "then", [],
                               [vi("t")])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "y"], ["e"])], "else", [],
                               [vi("e")])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "x"], ["acc_out"]),
         helper.make_node("If", ["cond_in"], ["scan_out"], then_branch=then_g, else_branch=else_g)],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), vi("acc_in")],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), vi("acc_out"),
         vi("scan_out")])
    g = helper.make_graph(
        [helper.make_node("Add", ["a", "a"], ["x"]), helper.make_node("Mul", ["a", "a"], ["y"]),
         helper.make_node("Loop", ["n", "c", "a"], ["acc", "scans"], body=body)],
        "sub", [vi("a", shape=["n_dim"]), helper.make_tensor_value_info("n", TensorProto.INT64, []),
                helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [vi("acc"), vi("scans")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)])


def main():
    os.makedirs(OUT, exist_ok=True)
    save("functions", functions())
    save("old_opsets", old_opsets())
    m, m_ext = initializers()
    save("initializers", m)
    save("external", m_ext)
    save("subgraphs", subgraphs())
    for name, model in older_forms():
        save(name, model)


if __name__ == "__main__":
    main()
