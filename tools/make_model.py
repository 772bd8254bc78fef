#!/usr/bin/env python3
"""Builds the model that ships with lathe: a MobileNetV2-style CNN.

MobileNetV2's architecture (Sandler et al. 2018: a strided stem convolution,
inverted residual blocks of 1x1 expansion, 3x3 depthwise and 1x1 projection
convolutions with batch normalization and ReLU6, residual adds where shapes
allow, global average pooling and a linear classifier) at width multiplier
0.5, for 3x112x112 images and 1000 classes.  Weights are random with a fixed
seed: the point is a real network's structure and cost, not its accuracy.

Writes NAME.onnx, NAME.input.npy (a fixed-seed input) and NAME.expected.npy
(the output of onnx's reference evaluator on that input), so tests can
check lathe against an independent implementation.

    make_model.py models/mobilenet_v2_tiny   # writes the three files
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WIDTH = 0.5
SIZE = 112
CLASSES = 1000
# (expansion t, output channels c, repeats n, first stride s), as in the paper.
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
            (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def divisible(v, d=8):
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, p):
        self.count += 1
        return "%s_%d" % (p, self.count)

    def const(self, p, arr):
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(arr.astype(np.float32), n))
        return n

    def conv_bn(self, x, cin, cout, k, stride, group, relu6):
        fan_in = cin // group * k * k
        w = self.rng.normal(0, np.sqrt(2.0 / fan_in), (cout, cin // group, k, k))
        y = self.name("conv")
        self.nodes.append(helper.make_node(
            "Conv", [x, self.const("w", w)], [y], name=y, kernel_shape=[k, k],
            strides=[stride, stride], pads=[k // 2] * 4, group=group))
        bn = self.name("bn")
        self.nodes.append(helper.make_node(
            "BatchNormalization",
            [y, self.const("gamma", self.rng.uniform(0.5, 1.5, cout)),
             self.const("beta", self.rng.normal(0, 0.1, cout)),
             self.const("mean", self.rng.normal(0, 0.1, cout)),
             self.const("var", self.rng.uniform(0.5, 1.5, cout))],
            [bn], name=bn, epsilon=1e-5))
        if not relu6:
            return bn
        r = self.name("relu6")
        self.nodes.append(helper.make_node(
            "Clip", [bn, self.const("zero", np.array(0.0)), self.const("six", np.array(6.0))],
            [r], name=r))
        return r


def build(seed=0):
    b = Builder(seed)
    cin = divisible(32 * WIDTH)
    x = b.conv_bn("image", 3, cin, 3, 2, 1, True)
    for t, c, n, s in SETTINGS:
        cout = divisible(c * WIDTH)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = x
            if t != 1:
                y = b.conv_bn(y, cin, hidden, 1, 1, 1, True)
            y = b.conv_bn(y, hidden, hidden, 3, stride, hidden, True)
            y = b.conv_bn(y, hidden, cout, 1, 1, 1, False)
            if stride == 1 and cin == cout:
                a = b.name("add")
                b.nodes.append(helper.make_node("Add", [x, y], [a], name=a))
                y = a
            x, cin = y, cout
    last = 1280 if WIDTH <= 1.0 else divisible(1280 * WIDTH)
    x = b.conv_bn(x, cin, last, 1, 1, 1, True)
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    b.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))
    w = b.rng.normal(0, np.sqrt(1.0 / last), (CLASSES, last))
    b.nodes.append(helper.make_node(
        "Gemm", ["features", b.const("fc_w", w), b.const("fc_b", np.zeros(CLASSES))],
        ["logits"], name="classifier", transB=1))
    b.nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax",
                                    axis=1))
    graph = helper.make_graph(
        b.nodes, "mobilenet_v2_tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, CLASSES])],
        b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="lathe tools/make_model.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stem", help="output path without extension")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model = build(args.seed)
    onnx.save(model, args.stem + ".onnx")
    image = np.random.default_rng(args.seed + 1).uniform(-1, 1, (1, 3, SIZE, SIZE))
    image = image.astype(np.float32)
    np.save(args.stem + ".input.npy", image)
    from onnx.reference import ReferenceEvaluator
    (probs,) = ReferenceEvaluator(model).run(None, {"image": image})
    np.save(args.stem + ".expected.npy", probs.astype(np.float32))
    params = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    print("wrote %s.onnx (%d nodes, %.2f M parameters), %s.input.npy, %s.expected.npy" % (
        args.stem, len(model.graph.node), params / 1e6, args.stem, args.stem))


if __name__ == "__main__":
    main()
