#!/usr/bin/env python3
"""Runs the ONNX backend node tests through `lathe run` and compares outputs.

The cases are the data that ships in the onnx package (pinned in
tools/requirements.txt): <case>/model.onnx and test_data_set_N/{input,output}_K.pb.
Each case runs `lathe run model.onnx input_0.pb ... -o DIR`; outputs are
compared with the expected ones: floats with rtol 1e-3, atol 1e-5 and NaN
where NaN is expected; integers, bools and strings exactly.  Every failure
keeps its reason (lathe's error message or the mismatch).

    run.py --lathe build/lathe [--filter REGEX] [--report docs/conformance.md]
           [--min-pass 0.80] [--jobs N] [--backend interp|c|both]

`--backend both` runs every case on the interpreter and on the C backend;
the report then has a column per backend, and a case that passes on the
interpreter but not on the C backend is a failure of the run.

Exit status: 1 if any case crashed or hung, a backend's pass rate is below
--min-pass, or (with both) the C backend fails a case the interpreter
passes; 0 otherwise.
"""
import argparse
import collections
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnx.defs
from onnx import numpy_helper

try:
    import ml_dtypes
except ImportError:  # older numpy stacks: those dtypes then count as failures
    ml_dtypes = None

TIMEOUT_S = 120


def node_test_dir():
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")


def snake(name):
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    return s.lower()


def op_prefixes():
    """(snake-case prefix, op name) for every op in the onnx release, longest first."""
    names = {s.name for s in onnx.defs.get_all_schemas_with_history()}
    pairs = set()
    for n in names:
        pairs.add((snake(n), n))
        pairs.add((n.lower(), n))
    return sorted(pairs, key=lambda p: -len(p[0]))


def case_op(case, prefixes):
    """The op a case tests, from its name (test_<op>_<variant>)."""
    body = case[len("test_"):]
    for pre, op in prefixes:
        if body == pre or body.startswith(pre + "_"):
            return op + (" (expanded)" if "_expanded" in body else "")
    return body.split("_")[0]


def read_expected(path, type_proto):
    data = open(path, "rb").read()
    which = type_proto.WhichOneof("value")
    if which == "sequence_type":
        p = onnx.SequenceProto()
        p.ParseFromString(data)
        return ("seq", [np.asarray(x) for x in numpy_helper.to_list(p)])
    if which == "optional_type":
        p = onnx.OptionalProto()
        p.ParseFromString(data)
        v = numpy_helper.to_optional(p)
        if v is None:
            return ("none", None)
        if isinstance(v, list):
            return ("seq", [np.asarray(x) for x in v])
        return ("tensor", np.asarray(v))
    p = onnx.TensorProto()
    p.ParseFromString(data)
    return ("tensor", numpy_helper.to_array(p))


def read_actual(outdir, k):
    base = os.path.join(outdir, "output_%d" % k)
    if os.path.exists(base + ".npy"):
        return ("tensor", np.load(base + ".npy", allow_pickle=False))
    if os.path.isdir(base):
        n = len(glob.glob(os.path.join(base, "*.npy")))
        return ("seq", [np.load(os.path.join(base, "%d.npy" % i), allow_pickle=False)
                        for i in range(n)])
    if os.path.exists(base + ".none"):
        return ("none", None)
    return (None, None)


def as_comparable(exp, act):
    """Brings lathe's raw storage of dtypes numpy lacks to the expected dtype."""
    if exp.dtype.kind == "V" or (ml_dtypes and exp.dtype.type in _ml_types()):
        if act.dtype.itemsize == exp.dtype.itemsize:
            act = act.view(exp.dtype)
        return exp.astype(np.float64), act.astype(np.float64)
    return exp, act


def _ml_types():
    names = ["bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
             "float8_e5m2fnuz", "int4", "uint4", "float4_e2m1fn", "float8_e8m0fnu",
             "int2", "uint2"]
    return {getattr(ml_dtypes, n).type if hasattr(getattr(ml_dtypes, n), "type")
            else getattr(ml_dtypes, n) for n in names if hasattr(ml_dtypes, n)}


def compare_tensor(exp, act, what):
    exp = np.asarray(exp)
    if act.shape != exp.shape:
        return "%s: shape %s, expected %s" % (what, list(act.shape), list(exp.shape))
    if exp.dtype.kind in "OUS":
        a = [x.decode() if isinstance(x, bytes) else str(x) for x in act.ravel()]
        e = [x.decode() if isinstance(x, bytes) else str(x) for x in exp.ravel()]
        if a != e:
            i = next(i for i in range(len(a)) if a[i] != e[i])
            return "%s: string %d is %r, expected %r" % (what, i, a[i], e[i])
        return None
    try:
        exp, act = as_comparable(exp, act)
    except Exception as ex:  # noqa: BLE001 - report, don't crash the runner
        return "%s: cannot compare dtype %s with %s: %s" % (what, act.dtype, exp.dtype, ex)
    if exp.dtype != act.dtype and not (exp.dtype.kind == "f" and act.dtype.kind == "f"):
        return "%s: dtype %s, expected %s" % (what, act.dtype, exp.dtype)
    if exp.dtype.kind in "fc":
        ok = np.isclose(act, exp, rtol=1e-3, atol=1e-5, equal_nan=True)
        if not ok.all():
            i = int(np.argmin(ok.ravel()))
            return "%s: %d of %d values differ, first at flat index %d: %r, expected %r" % (
                what, int((~ok).sum()), ok.size, i, act.ravel()[i], exp.ravel()[i])
        return None
    if not np.array_equal(act, exp):
        ne = act.ravel() != exp.ravel()
        i = int(np.argmax(ne))
        return "%s: %d of %d values differ, first at flat index %d: %r, expected %r" % (
            what, int(ne.sum()), ne.size, i, act.ravel()[i], exp.ravel()[i])
    return None


def compare(exp, act, what):
    ekind, ev = exp
    akind, av = act
    if akind is None:
        return "%s: not written" % what
    if ekind != akind:
        return "%s: got a %s, expected a %s" % (what, akind, ekind)
    if ekind == "none":
        return None
    if ekind == "seq":
        if len(av) != len(ev):
            return "%s: sequence of %d, expected %d" % (what, len(av), len(ev))
        for i, (e, a) in enumerate(zip(ev, av)):
            r = compare_tensor(e, a, "%s[%d]" % (what, i))
            if r:
                return r
        return None
    return compare_tensor(ev, av, what)


def run_case(lathe, case_dir, backend):
    """Returns (status, reason): status in PASS, FAIL, CRASH, TIMEOUT."""
    model_path = os.path.join(case_dir, "model.onnx")
    try:
        model = onnx.load(model_path, load_external_data=False)
    except Exception as ex:  # noqa: BLE001
        return "FAIL", "the reference cannot read the model: %s" % ex
    inits = {i.name for i in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in inits]
    for ds in sorted(glob.glob(os.path.join(case_dir, "test_data_set_*"))):
        ins = sorted(glob.glob(os.path.join(ds, "input_*.pb")),
                     key=lambda p: int(re.findall(r"(\d+)\.pb$", p)[0]))
        outs = sorted(glob.glob(os.path.join(ds, "output_*.pb")),
                      key=lambda p: int(re.findall(r"(\d+)\.pb$", p)[0]))
        with tempfile.TemporaryDirectory(prefix="lathe-conf-") as tmp:
            cmd = [lathe, "run", model_path] + ins + ["-o", tmp, "--backend", backend]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                                   errors="replace")
            except subprocess.TimeoutExpired:
                return "TIMEOUT", "no result after %d s" % TIMEOUT_S
            if p.returncode < 0 or p.returncode > 4:
                return "CRASH", "exit status %d: %s" % (p.returncode, p.stderr.strip()[-300:])
            if p.returncode != 0:
                msg = p.stderr.strip().splitlines()
                return "FAIL", (msg[-1] if msg else "exit status %d" % p.returncode)
            for k, path in enumerate(outs):
                tp = model.graph.output[k].type if k < len(model.graph.output) else None
                try:
                    exp = read_expected(path, tp)
                except Exception as ex:  # noqa: BLE001
                    return "FAIL", "the reference cannot read %s: %s" % (os.path.basename(path), ex)
                try:
                    act = read_actual(tmp, k)
                except Exception as ex:  # noqa: BLE001
                    return "FAIL", "output %d unreadable: %s" % (k, ex)
                r = compare(exp, act, "output %d" % k)
                if r:
                    return "FAIL", r
    del real_inputs
    return "PASS", ""


def write_report(path, results, prefixes, backends, version):
    """results: backend -> {case: (status, reason)}."""
    first = results[backends[0]]
    by_op = collections.OrderedDict()
    for case in sorted(first):
        by_op.setdefault(case_op(case, prefixes), []).append(case)
    total = len(first)
    names = {"interp": "interpreter", "c": "C backend"}
    lines = [
        "# ONNX conformance",
        "",
        "The ONNX backend node tests (onnx %s, %d cases) run through `lathe run` "
        "(backend%s: %s). Regenerate with `make conformance`." % (
            version, total, "s" if len(backends) > 1 else "",
            ", ".join("`%s`" % b for b in backends)),
        "",
        "Floats compare with rtol 1e-3, atol 1e-5 (NaN where NaN is expected); integers, "
        "bools and strings exactly. A case with a type or op lathe does not support counts "
        "as a failure.",
        "",
    ]
    for b in backends:
        res = results[b]
        passed = sum(1 for s, _ in res.values() if s == "PASS")
        lines.append("**%s (`--backend %s`): %d of %d cases pass (%.1f%%).** Crashes: %d. "
                     "Timeouts: %d." % (
                         names.get(b, b), b, passed, total, 100.0 * passed / max(total, 1),
                         sum(1 for s, _ in res.values() if s == "CRASH"),
                         sum(1 for s, _ in res.values() if s == "TIMEOUT")))
        lines.append("")
    head = "| op |" + "".join(" %s pass | %s fail |" % (b, b) for b in backends)
    lines += [head, "|---|" + "---:|---:|" * len(backends)]
    for op, cases in sorted(by_op.items()):
        row = "| %s |" % op
        for b in backends:
            p = sum(1 for c in cases if results[b][c][0] == "PASS")
            row += " %d | %d |" % (p, len(cases) - p)
        lines.append(row)
    lines += ["", "## Failures", "",
              "| case |" + "".join(" %s |" % b for b in backends) + " reason |",
              "|---|" + "---|" * len(backends) + "---|"]
    for case in sorted(first):
        sts = [results[b][case] for b in backends]
        if all(st == "PASS" for st, _ in sts):
            continue
        reason = next(r for st, r in sts if st != "PASS")
        reason = reason.replace(node_test_dir() + os.sep, "").replace("|", "\\|").replace("\n", " ")
        lines.append("| %s |" % case + "".join(" %s |" % st for st, _ in sts) +
                     " %s |" % reason[:300])
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lathe", default="build/lathe")
    ap.add_argument("--filter", default=None, help="regex over case names")
    ap.add_argument("--report", default=None, help="write the markdown table here")
    ap.add_argument("--min-pass", type=float, default=None)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--backend", default="interp", choices=["interp", "c", "both"])
    ap.add_argument("--quiet", action="store_true", help="print failures only")
    args = ap.parse_args()

    root = node_test_dir()
    cases = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if args.filter:
        rx = re.compile(args.filter)
        cases = [c for c in cases if rx.search(c)]
    if not cases:
        print("no cases match", file=sys.stderr)
        return 1
    lathe = os.path.abspath(args.lathe)
    backends = ["interp", "c"] if args.backend == "both" else [args.backend]
    results = {b: {} for b in backends}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = {ex.submit(run_case, lathe, os.path.join(root, c), b): (b, c)
                for c in cases for b in backends}
        for fut in concurrent.futures.as_completed(futs):
            b, c = futs[fut]
            results[b][c] = fut.result()
            s, r = results[b][c]
            if s != "PASS" or not args.quiet:
                tag = "" if len(backends) == 1 else "[%s] " % b
                print("%-7s %s%s%s" % (s, tag, c, ("  " + r) if r else ""), flush=True)
    prefixes = op_prefixes()
    if args.report:
        write_report(args.report, results, prefixes, backends, onnx.__version__)
    status = 0
    for b in backends:
        counts = collections.Counter(s for s, _ in results[b].values())
        passed = counts["PASS"]
        rate = passed / len(results[b])
        tag = "" if len(backends) == 1 else " [%s]" % b
        print("conformance%s: %d of %d cases pass (%.1f%%); %d crashed, %d timed out" % (
            tag, passed, len(results[b]), 100 * rate, counts["CRASH"], counts["TIMEOUT"]))
        bad = counts["CRASH"] + counts["TIMEOUT"]
        if bad:
            print("conformance%s: FAILED: %d cases crashed or hung" % (tag, bad))
            status = 1
        if args.min_pass is not None and rate < args.min_pass:
            print("conformance%s: FAILED: pass rate %.1f%% is below %.1f%%" % (
                tag, 100 * rate, 100 * args.min_pass))
            status = 1
    if len(backends) == 2:
        worse = sorted(c for c in cases if results["interp"][c][0] == "PASS"
                       and results["c"][c][0] != "PASS")
        for c in worse:
            print("REGRESS [c] %s  %s" % (c, results["c"][c][1]))
        if worse:
            print("conformance: FAILED: the C backend fails %d case%s the interpreter passes" % (
                len(worse), "" if len(worse) == 1 else "s"))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
