#!/usr/bin/env python3
"""Runs the shipped model through `lathe run` and compares its output with
the one onnx's reference evaluator computed (models/*.expected.npy).

Tolerance: 1e-3 of the output's largest magnitude, plus rtol 1e-3.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lathe", default="build/lathe")
    args = ap.parse_args()
    passed = failed = 0
    for model in sorted(glob.glob("models/*.onnx")):
        stem = model[:-len(".onnx")]
        with tempfile.TemporaryDirectory() as tmp:
            p = subprocess.run([args.lathe, "run", model, stem + ".input.npy", "-o", tmp],
                               capture_output=True, text=True)
            if p.returncode != 0:
                print("FAIL %s: %s" % (model, p.stderr.strip()))
                failed += 1
                continue
            got = np.load(os.path.join(tmp, "output_0.npy"))
        want = np.load(stem + ".expected.npy")
        tol = 1e-3 * float(np.abs(want).max())
        if got.shape == want.shape and np.allclose(got, want, rtol=1e-3, atol=tol):
            print("PASS %s (max abs diff %.3g)" % (model, float(np.abs(got - want).max())))
            passed += 1
        else:
            print("FAIL %s: output differs from the reference (shape %s vs %s)" % (
                model, got.shape, want.shape))
            failed += 1
    print("models: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
