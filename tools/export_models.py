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
every BatchNorm an identity in eval mode (weight 1, bias 0, mean 0, var 1),
which would let a broken BatchNorm or BatchNorm-into-Conv folding pass
unnoticed; we draw BatchNorm statistics and affine parameters from the seed
too.  Transformer layers keep torch's initialisation, with LayerNorm
parameters redrawn for the same reason.

The transformer's fast path: in eval mode torch may run
nn.TransformerEncoderLayer through one fused kernel (and nested tensors),
which the ONNX exporter cannot express.  We build the encoder with
enable_nested_tensor=False and export with autograd enabled on the
parameters, which keeps the layer on its composite path; then we check the
exported graph: only standard ONNX operators, with the attention's MatMul
and Softmax present, and (for models small enough) onnx's reference
evaluator on the exported file agrees with torch.

    export_models.py [--out build/models] [--only NAME ...] [--list]
                     [--no-verify]
"""
import argparse
import os
import sys
import time

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


def randomize_norms(model, gen):
    """Redraws BatchNorm / LayerNorm parameters and statistics from gen, so
    that normalisation is not an identity (see the module comment)."""
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


def torchvision_cnn(name):
    def build(gen):
        # weights=None: random init, nothing fetched.  torch's global RNG is
        # seeded by the caller, so the init is reproducible.
        model = getattr(torchvision.models, name)(weights=None)
        randomize_norms(model, gen)
        x = torch.randn(1, 3, 224, 224, generator=gen)
        return model, x
    return build


def encoder(layers, d_model, nhead, ffn, activation, eps):
    def build(gen):
        layer = torch.nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward=ffn, dropout=0.1, activation=activation,
            layer_norm_eps=eps, batch_first=True)
        model = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        randomize_norms(model, gen)
        x = torch.randn(1, 128, d_model, generator=gen)
        return model, x
    return build


# name -> (builder, run onnx's reference evaluator on the export by default)
MODELS = {
    "resnet18": (torchvision_cnn("resnet18"), False),
    "mobilenet_v2": (torchvision_cnn("mobilenet_v2"), False),
    "squeezenet1_1": (torchvision_cnn("squeezenet1_1"), False),
    "transformer_encoder": (encoder(4, 256, 4, 2048, "relu", 1e-5), True),
    "bert_base_encoder": (encoder(12, 768, 12, 3072, "gelu", 1e-12), False),
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
    build, ref_default = MODELS[name]
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
                      opset_version=OPSET, do_constant_folding=True)
        if "dynamo" in torch.onnx.export.__code__.co_varnames:
            kwargs["dynamo"] = False
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
    if verify and ref_default:
        note = ", onnx reference evaluator agrees (max abs diff %.3g)" % reference_check(
            name, path, xn, wn)
    size = os.path.getsize(path) / 2**20
    nodes = sum(ops.values())
    print("%-20s %7.1f MiB  %4d nodes  output %s  %.1f s%s" % (
        name, size, nodes, "x".join(map(str, wn.shape)), time.time() - t0, note))


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
