#!/usr/bin/env python3
"""Exports the whole-model test networks from PyTorch to ONNX.

These are the models the milestone's end-to-end checks run (tests/models/
torch_check.py): three torchvision CNNs and two transformer encoders, with
random weights drawn from a fixed seed, so that every run writes the same
numbers and no weights are downloaded.  Accuracy is beside the point; what
matters is a real network's structure, its operators and its cost.

    resnet18            torchvision, eval mode, input 1x3x224x224
    mobilenet_v2        torchvision, eval mode, input 1x3x224x224
    squeezenet1_1       torchvision, eval mode, input 1x3x224x224
    transformer_encoder torch.nn.TransformerEncoder: 4 layers, d_model 256,
                        4 heads, feed-forward 2048 (torch's default), ReLU,
                        batch_first, input 1x128x256
    bert_base_encoder   the same module at BERT-base size, for benchmarks:
                        12 layers, d_model 768, 12 heads, feed-forward 3072,
                        GELU, layer-norm eps 1e-12, input 1x128x768

For each NAME it writes, into the output folder (build/models by default):
NAME.onnx (opset 17, static shapes, one input `input`, one output
`output`), NAME.input.npy (a fixed-seed float32 input) and NAME.torch.npy
(torch's float32 output for that input).  The generated files are build
products: `make models` regenerates them; they are not committed.

Why the weights are redrawn: torchvision's default initialisation leaves
every BatchNorm an identity in eval mode (weight 1, bias 0, mean 0, var 1)
and many biases zero, and nn.TransformerEncoder deep-copies one layer, so
its layers start with equal weights (which the exporter then shares).
Each would let a class of bugs pass unnoticed (a broken BatchNorm or its
folding into Conv, a dropped bias, a layer reading another's weights), so
we redraw them from the seed (see redraw()).

BatchNormalization stays in the CNN exports: torch's exporter folds it into
the preceding Conv in its default EVAL mode, which would leave lathe's own
folding pass untested; we export with TrainingMode.PRESERVE on a model in
eval mode, which keeps inference-mode BatchNormalization nodes.

The transformer's fast path: in eval mode torch may run
nn.TransformerEncoderLayer through one fused kernel (and nested tensors),
which the ONNX exporter cannot express.  We build the encoder with
enable_nested_tensor=False and export with autograd enabled on the
parameters, which keeps the layer on its composite path; then we check the
exported graph: only standard ONNX operators, with the attention's MatMul
and Softmax present, and torch's fused path agrees with the composite one.

Every export is also run through onnx's reference evaluator, which must
agree with torch's output (the test's tolerance): a check that the file
means what torch computed, independent of lathe (--no-verify skips it).

    export_models.py [--out build/models] [--only NAME ...] [--list]
                     [--no-verify]
"""
import argparse
import inspect
import os
import sys
import time
import warnings

import numpy as np

OPSET = 17
SEED = 20240917


def fail(msg):
    print("export_models: " + msg, file=sys.stderr)
    sys.exit(1)


try:
    import onnx
    import torch
    import torchvision
except ImportError as e:  # a clear next step instead of a traceback
    fail("%s: install torch and torchvision into the venv first "
         "(make torch-venv, or .venv/bin/pip install -r tools/requirements-torch.txt)" % e)


def redraw(model, gen):
    """Redraws what a default initialisation leaves trivial or shared, from
    gen (see the module comment): BatchNorm statistics and affine
    parameters, LayerNorm affine parameters, biases (torchvision zeroes
    many), and the weights of every Linear and attention projection
    (nn.TransformerEncoder deep-copies one layer, so its layers start
    equal)."""
    def uniform(t, bound):
        t.copy_((torch.rand(t.shape, generator=gen) * 2 - 1) * bound)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            elif isinstance(m, torch.nn.LayerNorm) and m.elementwise_affine:
                shape = m.normalized_shape
                m.weight.copy_(torch.rand(shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(shape, generator=gen) * 0.1)
            elif isinstance(m, torch.nn.Linear):
                # torch's default bounds for a Linear layer: 1/sqrt(fan_in).
                b = m.in_features ** -0.5
                uniform(m.weight, b)
                if m.bias is not None:
                    uniform(m.bias, b)
            elif isinstance(m, torch.nn.MultiheadAttention) and m.in_proj_weight is not None:
                b = m.embed_dim ** -0.5
                uniform(m.in_proj_weight, b)
                if m.in_proj_bias is not None:
                    uniform(m.in_proj_bias, b)
            elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                uniform(m.bias, (m.in_channels // m.groups * m.weight[0, 0].numel()) ** -0.5)


def torchvision_cnn(name):
    def build(gen):
        # weights=None: random init, nothing fetched.  torch's global RNG is
        # seeded by the caller, so the init is reproducible.
        model = getattr(torchvision.models, name)(weights=None)
        redraw(model, gen)
        x = torch.randn(1, 3, 224, 224, generator=gen)
        return model, x
    return build


def encoder(layers, d_model, nhead, ffn, activation, eps):
    def build(gen):
        layer = torch.nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward=ffn, dropout=0.1, activation=activation,
            layer_norm_eps=eps, batch_first=True)
        model = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        redraw(model, gen)
        x = torch.randn(1, 128, d_model, generator=gen)
        return model, x
    return build


MODELS = {
    "resnet18": torchvision_cnn("resnet18"),
    "mobilenet_v2": torchvision_cnn("mobilenet_v2"),
    "squeezenet1_1": torchvision_cnn("squeezenet1_1"),
    "transformer_encoder": encoder(4, 256, 4, 2048, "relu", 1e-5),
    "bert_base_encoder": encoder(12, 768, 12, 3072, "gelu", 1e-12),
}
# The milestone's four; bert_base_encoder is for benchmarks.
DEFAULT = ["resnet18", "mobilenet_v2", "squeezenet1_1", "transformer_encoder"]


def check_graph(name, path, is_transformer):
    """Only standard ONNX operators in the exported graph; a transformer must
    show its attention decomposed (the composite path, not the fused one)."""
    m = onnx.load(path, load_external_data=False)
    onnx.checker.check_model(m)
    ops = {}
    for n in m.graph.node:
        if n.domain not in ("", "ai.onnx"):
            fail("%s: the export has operator %s of domain '%s': lathe reads standard "
                 "ONNX only" % (name, n.op_type, n.domain))
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    if "ATen" in ops:
        fail("%s: the export fell back to an ATen operator" % name)
    if is_transformer:
        for need in ("MatMul", "Softmax", "LayerNormalization"):
            if need not in ops:
                fail("%s: the export has no %s: the encoder did not take its "
                     "composite path (operators: %s)" % (name, need, sorted(ops)))
    return ops


def reference_check(name, path, x, want):
    """Runs onnx's reference evaluator on the exported file and compares with
    torch, with the same tolerance as tests/models/torch_check.py."""
    from onnx.reference import ReferenceEvaluator
    sess = ReferenceEvaluator(path)
    got = sess.run(None, {"input": x})[0]
    diff = float(np.abs(got - want).max())
    tol = 1e-3 * float(np.abs(want).max())
    if got.shape != want.shape or not diff <= tol:
        fail("%s: onnx's reference evaluator differs from torch on the export "
             "(max abs diff %.3g, tolerance %.3g)" % (name, diff, tol))
    return diff


def export_one(name, out, verify):
    build = MODELS[name]
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model, x = build(gen)
    model.eval()
    is_transformer = isinstance(model, torch.nn.TransformerEncoder)
    path = os.path.join(out, name + ".onnx")
    t0 = time.time()
    # Autograd stays on: with parameters that require grad, the transformer
    # layer cannot take its fused inference path, neither here nor in export.
    with torch.enable_grad():
        want = model(x).detach()
        kwargs = dict(input_names=["input"], output_names=["output"],
                      opset_version=OPSET, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE)
        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            kwargs["dynamo"] = False
        with warnings.catch_warnings():
            # The legacy exporter's deprecation notice, and its advice
            # against constant folding in PRESERVE mode, which concerns
            # models in training mode only.
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), path, **kwargs)
    if is_transformer:
        # The fused path (no autograd) must agree with what we exported.
        with torch.no_grad():
            fast = model(x)
        d = float((fast - want).abs().max())
        if d > 1e-3 * float(want.abs().max()):
            fail("%s: torch's fused and composite paths differ by %.3g" % (name, d))
    xn = x.numpy().astype(np.float32)
    wn = want.numpy().astype(np.float32)
    np.save(os.path.join(out, name + ".input.npy"), xn)
    np.save(os.path.join(out, name + ".torch.npy"), wn)
    ops = check_graph(name, path, is_transformer)
    note = ""
    if verify:
        note = ", onnx reference evaluator agrees (max abs diff %.3g)" % reference_check(
            name, path, xn, wn)
    size = os.path.getsize(path) / 2**20
    nodes = sum(ops.values())
    print("%-20s %6.1f MiB  %4d nodes  output %s, max|output| %.3g  %.1f s%s" % (
        name, size, nodes, "x".join(map(str, wn.shape)), float(np.abs(wn).max()),
        time.time() - t0, note))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/models", help="output folder")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help="models to export (default: %s; also: bert_base_encoder, all)"
                    % " ".join(DEFAULT))
    ap.add_argument("--list", action="store_true", help="list the models and exit")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip running onnx's reference evaluator on the exports")
    args = ap.parse_args()
    if args.list:
        for n in MODELS:
            print(n)
        return 0
    names = args.only or DEFAULT
    if names == ["all"]:
        names = list(MODELS)
    for n in names:
        if n not in MODELS:
            fail("unknown model '%s' (known: %s)" % (n, ", ".join(MODELS)))
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    print("torch %s, torchvision %s, onnx %s, opset %d, seed %d" % (
        torch.__version__, torchvision.__version__, onnx.__version__, OPSET, SEED))
    for n in names:
        export_one(n, args.out, not args.no_verify)
    return 0


if __name__ == "__main__":
    sys.exit(main())
