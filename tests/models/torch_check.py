#!/usr/bin/env python3
"""Runs the whole-model test networks through lathe and compares with torch.

The models come from tools/export_models.py (`make models`): for each NAME,
build/models/NAME.onnx, NAME.input.npy and NAME.torch.npy (torch's output).
Each model runs in one or more of three ways:

    interp    lathe run NAME.onnx NAME.input.npy --backend interp -o OUT
    c         lathe run NAME.onnx NAME.input.npy --backend c -o OUT
    compiled  lathe compile NAME.onnx -o DIR   (timed: the compile budget)
              lathe run DIR NAME.input.npy -o OUT

and passes when its output has torch's shape and
max |lathe - torch| <= 1e-3 * max |torch|, the milestone's criterion.  Each
model and way prints one PASS or FAIL line with the difference and the
times (a failure carries lathe's error message), and a closing
"N passed, M failed" line sums them up.

    torch_check.py [--lathe build/lathe] [--models build/models]
                   [--mode WAYS] [--max-compile-s S] [--timeout S] [NAME ...]

--mode takes a comma-separated list of ways, or auto (the default:
`compiled` when the lathe binary has a `compile` command, `interp`
otherwise), both (interp,compiled) or all (interp,c,compiled).  --max-compile-s makes a compile
slower than S seconds a failure (the milestone wants resnet18 <= 10 s).
Without NAMEs it checks every exported model present except the benchmark
encoder (bert_base_encoder; name it to check it).  Exit status: 0 when all
checks passed, 1 when any failed or none ran, 2 on usage errors.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

DEFAULT = ["resnet18", "mobilenet_v2", "squeezenet1_1", "transformer_encoder"]
TOL = 1e-3
WAYS = ["interp", "c", "compiled"]


def lathe_has_compile(lathe):
    try:
        p = subprocess.run([lathe, "compile", "--help"], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def last_lines(text, n=6):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


def run(cmd, timeout):
    """(ok, seconds, message)"""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, time.time() - t0, "timed out after %d s: %s" % (timeout, " ".join(cmd))
    except OSError as e:
        return False, time.time() - t0, "cannot run %s: %s" % (cmd[0], e)
    dt = time.time() - t0
    if p.returncode != 0:
        return False, dt, "exit %d from `%s`: %s" % (p.returncode, " ".join(cmd),
                                                    last_lines(p.stderr + p.stdout))
    return True, dt, ""


def compare(outdir, want):
    """(ok, message) for OUT/output_0.npy against torch's output."""
    path = os.path.join(outdir, "output_0.npy")
    if not os.path.exists(path):
        return False, "lathe wrote no %s" % path
    got = np.load(path, allow_pickle=False)
    if got.shape != want.shape:
        return False, "shape %s, torch's is %s" % (got.shape, want.shape)
    got = got.astype(np.float64)
    want = want.astype(np.float64)
    scale = float(np.abs(want).max())
    diff = np.abs(got - want)
    if not np.all(np.isfinite(got)):
        return False, "%d non-finite values" % int((~np.isfinite(got)).sum())
    worst = float(diff.max())
    rel = worst / scale if scale else worst
    msg = "max abs diff %.3g = %.2g of max|torch| %.3g" % (worst, rel, scale)
    if worst <= TOL * scale:
        return True, msg
    at = np.unravel_index(int(diff.argmax()), diff.shape)
    return False, msg + " (limit %.0e); worst at %s: lathe %.6g, torch %.6g" % (
        TOL, list(map(int, at)), got[at], want[at])


def check(args, name, mode):
    """One model one way: returns True when it passed; prints its line."""
    stem = os.path.join(args.models, name)
    want = np.load(stem + ".torch.npy", allow_pickle=False)
    label = "%-20s %-8s" % (name, mode)
    with tempfile.TemporaryDirectory(prefix="lathe-torch-") as tmp:
        out = os.path.join(tmp, "out")
        times = []
        if mode in ("interp", "c"):
            ok, dt, err = run([args.lathe, "run", stem + ".onnx", stem + ".input.npy",
                               "--backend", mode, "-o", out], args.timeout)
            times.append("run %.1f s" % dt)
        else:
            mod = os.path.join(tmp, "module")
            ok, dt, err = run([args.lathe, "compile", stem + ".onnx", "-o", mod],
                              args.timeout)
            times.append("compile %.1f s" % dt)
            if ok and args.max_compile_s and dt > args.max_compile_s:
                ok, err = False, "compile took %.1f s, over the %.1f s budget" % (
                    dt, args.max_compile_s)
            if ok:
                ok, dt, err = run([args.lathe, "run", mod, stem + ".input.npy", "-o", out],
                                  args.timeout)
                times.append("run %.1f s" % dt)
        if ok:
            ok, msg = compare(out, want)
        else:
            msg = err
    print("%s %s: %s [%s]" % ("PASS" if ok else "FAIL", label, msg, ", ".join(times)),
          flush=True)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help="models to check (default: the exported ones of %s)"
                    % ", ".join(DEFAULT))
    ap.add_argument("--lathe", default="build/lathe")
    ap.add_argument("--models", default="build/models",
                    help="folder of NAME.onnx, NAME.input.npy, NAME.torch.npy")
    ap.add_argument("--mode", default="auto",
                    help="comma-separated ways among interp, c, compiled; or auto, both, all")
    ap.add_argument("--max-compile-s", type=float, default=0,
                    help="fail a compile slower than this many seconds (0: no limit)")
    ap.add_argument("--timeout", type=int, default=1800,
                    help="seconds allowed to one lathe command (default 1800)")
    args = ap.parse_args()

    if not os.access(args.lathe, os.X_OK):
        print("torch_check: no lathe binary at %s (run make)" % args.lathe, file=sys.stderr)
        return 2
    names = args.names
    if not names:
        names = [n for n in DEFAULT if os.path.exists(os.path.join(args.models, n + ".onnx"))]
        if not names:
            print("torch_check: no models in %s: run `make models` first" % args.models,
                  file=sys.stderr)
            return 2
    for n in names:
        for ext in (".onnx", ".input.npy", ".torch.npy"):
            if not os.path.exists(os.path.join(args.models, n + ext)):
                print("torch_check: %s%s is missing from %s: run `make models` (or "
                      "tools/export_models.py --only %s)" % (n, ext, args.models, n),
                      file=sys.stderr)
                return 2
    mode = args.mode
    if mode == "auto":
        mode = "compiled" if lathe_has_compile(args.lathe) else "interp"
    modes = {"both": ["interp", "compiled"], "all": WAYS}.get(mode, mode.split(","))
    for m in modes:
        if m not in WAYS:
            print("torch_check: unknown way '%s' in --mode (ways: %s; or auto, both, all)"
                  % (m, ", ".join(WAYS)), file=sys.stderr)
            return 2

    passed = failed = 0
    for n in names:
        for m in modes:
            if check(args, n, m):
                passed += 1
            else:
                failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
