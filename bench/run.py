#!/usr/bin/env python3
"""Times lathe against ONNX Runtime and PyTorch on the benchmark models.

    make bench                       # the whole thing, as the README says
    python3 bench/run.py [--quick] [--models NAME ...] [--threads 1,2] [--runs N]
                         [--out docs/benchmarks.md] [--no-install] [--no-build]
    python3 bench/run.py --from-json build/bench/results.json   # report only

What it does, in order:
  1. Installs what it needs into the project's .venv (torch and torchvision
     from tools/requirements-torch.txt, onnxruntime from
     tools/requirements-bench.txt); a stamp file skips pip when neither
     changed.  Run with any python3: it re-executes itself in .venv.
  2. Builds lathe (make) and the models it lacks (make models: random
     weights, fixed seed; see tools/export_models.py).
  3. Builds bench/peak (-O2 -march=native) and measures the machine's FP32
     FMA peak at each thread count (the best of several tries, at the start
     and again at the end: the machine may be busy).
  4. Compiles each model with lathe for each thread count (--threads T).
  5. For each thread count and model: loads lathe's module (through ctypes:
     libNAME.so's NAME_run, with a workspace and lathe_rt_pool_create(T)),
     an ONNX Runtime session (intra-op threads T, inter-op 1, sequential,
     all graph optimizations) and the PyTorch module the ONNX file came
     from (rebuilt with export_models.py's builder and seed,
     torch.set_num_threads(T), inference_mode).  It checks that the three
     agree (lathe and torch against ORT: max |diff| <= 1e-3 of max |ORT|),
     then times them alternating: in each round every framework, in a
     rotating order, waits until the process's other threads stopped using
     CPU time (the previous framework's pool spins for up to ~50 ms after
     its last call, on the CPUs the next one needs; see
     await_idle_threads), then warms up (untimed calls for at least 20 ms
     and 3 calls: after a pause the first calls run several times slower
     while the CPU clocks up and its caches refill) and gets K timed calls
     (3; --quick: 2); rounds repeat until
     each has the samples asked for (30 by default; --quick: 5): ten rounds
     or more, so that each framework meets the machine's changing states
     (another tenant on a core, for seconds at a time) about as often.  Every
     sample is one call in this process, timed with perf_counter.
  6. Runs `lathe bench DIR --profile` per model and thread count for the
     time and GFLOP/s of each kernel class (conv, winograd, dwconv, matmul,
     other).
  7. Prints the tables and writes them, with the machine's description,
     versions, the command and the date, to docs/benchmarks.md; the raw
     numbers go to build/bench/results.json.

FLOPs are 2 x the multiply-adds of Conv, MatMul and Gemm nodes, counted by
lathe at compile time (module.txt's step lines); a model's GFLOP/s is its
FLOPs over lathe's median, and % of peak divides by the peak at the same
thread count: the measured one, or T x the 1-thread one where the
measured T-thread figure is below 90% of that (other work held a CPU while
measuring: see reference_peak).
"""
import argparse
import ctypes
import datetime
import gc
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VPY = VENV / "bin" / "python"
BUILD = ROOT / "build"
MODELS_DIR = BUILD / "models"
WORK = BUILD / "bench"
LATHE = BUILD / "lathe"
REQS = [ROOT / "tools" / "requirements.txt", ROOT / "tools" / "requirements-torch.txt",
        ROOT / "tools" / "requirements-bench.txt"]
MODELS = ["resnet18", "mobilenet_v2", "squeezenet1_1", "transformer_encoder",
          "bert_base_encoder"]
CLASSES = ["conv", "winograd", "dwconv", "matmul", "other", "total"]
TOL = 1e-3
PEAK_TRIES = 10


def say(msg):
    print(msg, flush=True)


def fail(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def sh(cmd, **kw):
    """Runs cmd in ROOT; its output goes to ours; fails loudly."""
    say("$ " + " ".join(str(c) for c in cmd))
    r = subprocess.run([str(c) for c in cmd], cwd=ROOT, **kw)
    if r.returncode:
        fail("%s failed with status %d" % (cmd[0], r.returncode))
    return r


# ---- 1. the environment -------------------------------------------------------

def in_venv():
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_env(args):
    if not args.no_install:
        if not VPY.exists():
            sh([sys.executable, "-m", "venv", str(VENV)])
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in REQS)).hexdigest()
        stamp = VENV / ".bench-stamp"
        if not stamp.exists() or stamp.read_text().strip() != digest:
            cmd = [VPY, "-m", "pip", "install", "-q"]
            for p in REQS:
                cmd += ["-r", p]
            sh(cmd)
            stamp.write_text(digest + "\n")
    if not in_venv():
        if not VPY.exists():
            fail("no .venv: run without --no-install once")
        os.execv(str(VPY), [str(VPY), str(Path(__file__).resolve())] + sys.argv[1:])


# ---- the machine --------------------------------------------------------------

def cmd_out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return ""


def machine():
    lscpu = {}
    for line in cmd_out(["lscpu"]).splitlines():
        k, _, v = line.partition(":")
        lscpu[k.strip()] = v.strip()
    flags = set(lscpu.get("Flags", "").split())
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) / 2**20
    cc = cmd_out(["cc", "--version"]).splitlines()
    cpu = lscpu.get("Model name", platform.processor() or "?")
    if "CPU family" in lscpu:  # "AMD EPYC" alone does not say which generation
        cpu += " (family %s, model %s)" % (lscpu["CPU family"], lscpu.get("Model", "?"))
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "cores_per_socket": lscpu.get("Core(s) per socket", "?"),
        "threads_per_core": lscpu.get("Thread(s) per core", "?"),
        "avx512f": "avx512f" in flags, "avx2": "avx2" in flags, "fma": "fma" in flags,
        "l2": lscpu.get("L2 cache", "?"), "l3": lscpu.get("L3 cache", "?"),
        "hypervisor": lscpu.get("Hypervisor vendor", ""),
        "memory_gib": round(mem, 1),
        "kernel": platform.release(),
        "cc": cc[0] if cc else "?",
        "python": platform.python_version(),
    }


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def git_rev():
    """HEAD's short hash, +changes when tracked files differ from it (the
    report this script writes, docs/benchmarks.md, aside: a previous
    run's output is no change to what is measured)."""
    rev = cmd_out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip()
    dirty = cmd_out(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no",
                     "--", ".", ":(exclude)docs/benchmarks.md"])
    return (rev or "?") + ("+changes" if dirty.strip() else "")


# ---- 3. the FP32 peak -----------------------------------------------------------

def run_peak(t):
    """One run of bench/peak on t threads (about 30 ms): GFLOP/s."""
    exe = WORK / "peak"
    src = ROOT / "bench" / "peak.c"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        sh(["cc", "-O2", "-march=native", "-o", exe, src, "-lpthread"])
    out = cmd_out([str(exe), str(t)])
    m = re.search(r"peak_gflops:\s*([0-9.]+)", out)
    if not m:
        fail("bench/peak printed no peak: %r" % out)
    return float(m.group(1))


def measure_peak(threads, tries):
    peak = {}
    for t in threads:
        best = 0.0
        for _ in range(tries):
            best = max(best, run_peak(t))
        peak[t] = best
        say("FP32 peak, %d thread%s: %.1f GFLOP/s" % (t, "" if t == 1 else "s", best))
    return peak


def reference_peak(measured):
    """The peak % of peak divides by, per thread count: the measured figure,
    unless it is below 90% of T x the per-thread figure of the smallest count,
    which says another process held a CPU while bench/peak ran (on a shared
    machine); then T x the per-thread figure, the hardware's capacity."""
    t0 = min(measured)
    per = measured[t0] / t0
    return {t: v if v >= 0.9 * t * per else t * per for t, v in measured.items()}


# ---- lathe's module through ctypes ------------------------------------------------

DTYPES = {"f32": "float32", "f64": "float64", "f16": "float16", "i8": "int8", "u8": "uint8",
          "i16": "int16", "u16": "uint16", "i32": "int32", "u32": "uint32", "i64": "int64",
          "u64": "uint64", "bool": "bool"}


def read_manifest(d):
    man = {"inputs": [], "outputs": [], "steps": []}
    for line in (d / "module.txt").read_text().splitlines():
        key, _, val = line.partition(" ")
        if key in ("name", "library"):
            man[key] = val
        elif key in ("weights", "workspace"):
            man[key] = int(val)
        elif key in ("input", "output"):
            m = re.match(r"(\w+)\[([0-9,]*)\] (.*)$", val)
            shape = tuple(int(x) for x in m.group(2).split(",") if x)
            man[key + "s"].append((m.group(3), DTYPES[m.group(1)], shape))
        elif key == "step":
            kind, flops, ops, node = val.split(" ", 3)
            man["steps"].append({"kind": kind, "flops": int(flops), "ops": ops, "node": node})
    return man


class LatheModule:
    """A compiled module in this process: NAME_run on buffers made once."""

    def __init__(self, d, threads, inputs):
        import numpy as np
        self.man = man = read_manifest(d)
        self.lib = ctypes.CDLL(str(d / man["library"]), mode=os.RTLD_LOCAL)
        self.fn = getattr(self.lib, man["name"] + "_run")
        self.fn.argtypes = [ctypes.c_void_p] * 5
        self.fn.restype = ctypes.c_int
        self.lib.lathe_rt_pool_create.restype = ctypes.c_void_p
        self.lib.lathe_rt_pool_create.argtypes = [ctypes.c_int]
        self.lib.lathe_rt_pool_destroy.argtypes = [ctypes.c_void_p]
        self.pool = self.lib.lathe_rt_pool_create(threads) if threads > 1 else None
        self.weights = (np.memmap(d / "weights.bin", dtype=np.uint8, mode="r")
                        if man["weights"] else self.aligned(np, 64))
        self.ws = self.aligned(np, max(man["workspace"], 64))
        self.ins = [np.ascontiguousarray(x.astype(dt)) for x, (_, dt, _) in
                    zip(inputs, man["inputs"])]
        self.outs = [np.zeros(shape, dtype=dt) for _, dt, shape in man["outputs"]]
        self.in_ptrs = (ctypes.c_void_p * max(1, len(self.ins)))(
            *[a.ctypes.data for a in self.ins])
        self.out_ptrs = (ctypes.c_void_p * len(self.outs))(*[a.ctypes.data for a in self.outs])
        self.args = (self.weights.ctypes.data, ctypes.addressof(self.in_ptrs),
                     ctypes.addressof(self.out_ptrs), self.ws.ctypes.data, self.pool)

    @staticmethod
    def aligned(np, n):
        raw = np.zeros(n + 64, dtype=np.uint8)
        off = (-raw.ctypes.data) % 64
        return raw[off:off + n]

    def __call__(self):
        rc = self.fn(*self.args)
        if rc:
            raise RuntimeError("%s_run returned %d" % (self.man["name"], rc))
        return self.outs[0]

    def close(self):
        if self.pool:
            self.lib.lathe_rt_pool_destroy(self.pool)
            self.pool = None


# ---- the other frameworks -----------------------------------------------------------

def ort_runner(path, threads, x):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    return lambda: sess.run(None, feed)[0]


def torch_runner(name, threads, x):
    import numpy as np
    import torch
    sys.path.insert(0, str(ROOT / "tools"))
    import export_models as em
    torch.set_num_threads(threads)
    torch.manual_seed(em.SEED)
    gen = torch.Generator().manual_seed(em.SEED)
    model, _ = em.MODELS[name](gen)
    model.eval()
    xt = torch.from_numpy(np.ascontiguousarray(x))

    def call():
        with torch.inference_mode():
            return model(xt).numpy()
    return call


# ---- 5. timing --------------------------------------------------------------------------

def check_close(name, what, got, want):
    import numpy as np
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        fail("%s: %s's output has shape %s, ONNX Runtime's %s" % (name, what, got.shape,
                                                                     want.shape))
    diff = float(np.abs(got - want).max()) if got.size else 0.0
    tol = TOL * float(np.abs(want).max()) if want.size else 0.0
    if not diff <= tol:
        fail("%s: %s differs from ONNX Runtime by %.3g (tolerance %.3g): not timing a wrong "
             "answer" % (name, what, diff, tol))
    return diff


def thread_cpu_ns():
    """{thread id: nanoseconds on a CPU} of this process's threads other than
    the calling one, from /proc/self/task/*/schedstat (None where Linux does
    not give it)."""
    me = str(threading.get_native_id())
    ns = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tids:
        if tid == me:
            continue
        try:
            with open("/proc/self/task/%s/schedstat" % tid) as f:
                ns[tid] = int(f.read().split()[0])
        except FileNotFoundError:
            continue  # the thread ended
        except (OSError, ValueError, IndexError):
            return None
    return ns


def await_idle_threads(least=0.02, most=1.0, window=0.01):
    """Sleeps until no other thread of this process ran for more than a tenth
    of a window (at least `least`, at most `most` seconds).  A framework's pool
    keeps its threads spinning after a call (ONNX Runtime's for ~50 ms on
    this kind of machine, PyTorch's OpenMP threads and lathe's for less than
    10 ms); a framework timed while the previous one's threads still spin
    shares the CPUs with them."""
    time.sleep(least)
    end = time.monotonic() + most - least
    prev = thread_cpu_ns()
    while prev is not None and time.monotonic() < end:
        time.sleep(window)
        cur = thread_cpu_ns()
        if cur is None or all(cur[t] - prev.get(t, cur[t]) < window * 1e8 for t in cur):
            return
        prev = cur


def warm_up(f, least_calls=3, least_s=0.02, most_calls=50):
    """Untimed calls until at least least_calls and least_s seconds: after
    a pause a machine like this one runs the first calls several times
    slower (an idle CPU clocks down and its caches cool; measured: a
    0.1 ms call takes 0.7 ms after 20 ms of sleep and is back to speed
    after 3 to 8 calls), which would time each framework's recovery
    rather than its speed."""
    t0 = time.perf_counter()
    for n in range(most_calls):
        f()
        if n + 1 >= least_calls and time.perf_counter() - t0 >= least_s:
            return


def time_alternating(runners, samples, per_turn, probe=None):
    """{framework: [ms, ...]}: rounds in which each framework, in a rotating
    order, waits for the other threads to go idle, warms up (warm_up),
    then gets per_turn timed calls; probe(), when given, runs at the start
    of each round."""
    names = list(runners)
    times = {n: [] for n in names}
    rnd = 0
    while any(len(times[n]) < samples for n in names):
        if probe:
            probe()
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for n in order:
            if len(times[n]) >= samples:
                continue
            await_idle_threads()
            f = runners[n]
            warm_up(f)
            for _ in range(min(per_turn, samples - len(times[n]))):
                t0 = time.perf_counter()
                f()
                times[n].append((time.perf_counter() - t0) * 1e3)
        rnd += 1
    return times


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def bench_model(name, threads, args):
    import numpy as np
    onnx_path = MODELS_DIR / (name + ".onnx")
    x = np.load(MODELS_DIR / (name + ".input.npy"))
    d = WORK / ("%s-t%d" % (name, threads))
    runners = {}
    lathe = LatheModule(d, threads, [x])
    try:
        runners["lathe"] = lathe
        runners["ort"] = ort_runner(onnx_path, threads, x)
        runners["torch"] = torch_runner(name, threads, x)
        ref = runners["ort"]()
        diffs = {"lathe": check_close(name, "lathe", runners["lathe"]().copy(), ref),
                 "torch": check_close(name, "torch", runners["torch"](), ref)}
        want = np.load(MODELS_DIR / (name + ".torch.npy"))
        check_close(name, "the exported torch output (%s.torch.npy)" % name, want, ref)
        for f in runners.values():  # warm-up
            for _ in range(args.warmup):
                f()
        # On T > 1 threads, the T-thread FMA rate once per round: on a
        # shared machine another tenant may hold a core for a while, which
        # hurts every framework but not evenly (the report shows it).
        fma = []
        probe = (lambda: fma.append(run_peak(threads))) if threads > 1 else None
        times = time_alternating(runners, args.runs, args.per_turn, probe)
    finally:
        lathe.close()
    flops = sum(s["flops"] for s in lathe.man["steps"])
    r = {"model": name, "threads": threads, "flops": flops, "max_abs_diff": diffs,
         "samples": {k: len(v) for k, v in times.items()}, "fma_gflops": fma,
         "median_ms": {k: median(v) for k, v in times.items()},
         "min_ms": {k: min(v) for k, v in times.items()},
         "max_ms": {k: max(v) for k, v in times.items()}}
    del runners
    gc.collect()
    return r


# ---- 6. per-kernel-class profile ------------------------------------------------------------

def profile(name, threads, peak, runs):
    """Per-class figures from `lathe bench --profile` (its %peak column uses
    the peak measured so far; the report computes its own)."""
    d = WORK / ("%s-t%d" % (name, threads))
    p = subprocess.run([str(LATHE), "bench", str(d), "--profile", "--threads", str(threads),
                        "--runs", str(runs), "--warmup", "1", "--peak", "%.1f" % peak],
                       capture_output=True, text=True)
    if p.returncode:
        fail("lathe bench --profile %s failed: %s" % (d, p.stderr.strip()))
    classes = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^(conv|winograd|dwconv|matmul|other|total)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)%\s+"
                     r"(\S+)\s+(\S+)", line)
        if m:
            gf = None if m.group(6) == "-" else float(m.group(6))
            classes[m.group(1)] = {"steps": int(m.group(2)), "ms": float(m.group(3)),
                                   "share": float(m.group(4)), "gflops": gf}
    (d / "profile.txt").write_text(p.stdout)
    return classes


# ---- 7. the report ---------------------------------------------------------------------------

def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def fma_check(r, peak):
    """The T-thread FMA rate sampled while r was timed, as min/median % of
    the T-thread peak ("-" on one thread): well below 100, a core was
    shared with another tenant for part of the run."""
    v = r.get("fma_gflops") or []
    if not v:
        return "-"
    p = peak[r["threads"]]
    return "%.0f/%.0f%%" % (100 * min(v) / p, 100 * median(v) / p)


def latency_rows(results, peak):
    rows = []
    for r in results:
        m = r["median_ms"]
        gf = r["flops"] / (m["lathe"] * 1e6)
        rows.append([r["model"], str(r["threads"]), fmt(m["lathe"]), fmt(m["ort"]),
                     fmt(m["torch"]), fmt(m["lathe"] / m["ort"]), fmt(m["lathe"] / m["torch"]),
                     fmt(r["flops"] / 1e9), fmt(gf, "%.1f"),
                     fmt(100 * gf / peak[r["threads"]], "%.1f%%"), fma_check(r, peak)])
    return rows


LAT_HEAD = ["model", "threads", "lathe ms", "ORT ms", "torch ms", "lathe/ORT", "lathe/torch",
            "GFLOP", "lathe GFLOP/s", "% of peak", "FMA check"]
CLS_HEAD = ["model", "threads", "class", "steps", "ms", "share", "GFLOP/s", "% of peak"]


def peak_pct(v, peak, threads):
    return None if v["gflops"] is None else 100 * v["gflops"] / peak[threads]


def class_rows(results, peak):
    rows = []
    for r in results:
        for c in CLASSES:
            v = r.get("classes", {}).get(c)
            if v:
                rows.append([r["model"], str(r["threads"]), c, str(v["steps"]),
                             fmt(v["ms"]), fmt(v["share"], "%.1f%%"),
                             fmt(v["gflops"], "%.1f"),
                             fmt(peak_pct(v, peak, r["threads"]), "%.1f%%")])
    return rows


def text_table(head, rows):
    w = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda r: "  ".join(x.rjust(n) if i else x.ljust(n) for i, (x, n) in
                               enumerate(zip(r, w)))
    return "\n".join([line(head)] + [line(r) for r in rows])


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1))
           + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def checks(results, peak):
    """The milestone's targets, as met / not met lines."""
    lines = []
    slower = [r for r in results if r["median_ms"]["lathe"] > r["median_ms"]["ort"]]
    lines.append("- lathe's median <= ONNX Runtime's: %d of %d (model, threads) pairs%s" % (
        len(results) - len(slower), len(results),
        "" if not slower else "; not yet: " + ", ".join(
            "%s/%d (%.1fx)" % (r["model"], r["threads"],
                               r["median_ms"]["lathe"] / r["median_ms"]["ort"])
            for r in slower)))
    for r in results:
        if r["threads"] != 1 or r["model"] not in ("resnet18", "bert_base_encoder"):
            continue
        for c in ("conv", "matmul"):
            v = r.get("classes", {}).get(c)
            pct = peak_pct(v, peak, 1) if v else None
            if pct is not None and v["ms"] > 0.05 * r["classes"]["total"]["ms"]:
                lines.append("- %s, 1 thread, %s kernels: %.1f%% of peak (target 80%%): %s" % (
                    r["model"], c, pct, "met" if pct >= 80 else "not yet"))
        v = r.get("classes", {}).get("winograd")
        if v and v["gflops"] is not None:
            lines.append("- %s, 1 thread, Winograd convolutions (not a hardware rate, not "
                         "counted for the target): %.1f GFLOP/s effective, %.1f%% of peak in "
                         "direct-convolution FLOPs" % (r["model"], v["gflops"],
                                                      peak_pct(v, peak, 1)))
    return lines


def bullet(label, text):
    return textwrap.fill("**%s**: %s" % (label, text), width=76, initial_indent="- ",
                         subsequent_indent="  ", break_on_hyphens=False)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def write_report(path, args, mach, versions, measured, results, load, command, now):
    peak = reference_peak(measured)
    feats = ", ".join(f for f in ("avx512f", "avx2", "fma") if mach[f]) or "no AVX flags"
    samples = min(min(r["samples"].values()) for r in results)
    vm = ", %s virtual machine" % mach["hypervisor"] if mach["hypervisor"] else ""
    peaks = ", ".join("%.1f GFLOP/s on %d thread%s" % (measured[t], t, "" if t == 1 else "s")
                      for t in sorted(measured))
    peaks += "."
    for t in sorted(t for t in peak if peak[t] != measured[t]):
        peaks += (" %% of peak below uses %.1f GFLOP/s for %d threads (%d x the per-thread "
                  "figure): the %d-thread measurement fell below 90%% of that, so other work "
                  "held a CPU while it ran." % (peak[t], t, t, t))
    quick = (" This was a `--quick` run: fewer samples than the 30 of a full run."
             if args.quick else "")
    head = "\n".join([
        bullet("Command", "`%s` (`make bench` runs `bench/run.py`)" % command),
        bullet("Date", now),
        bullet("Versions", "lathe %s; ONNX Runtime %s; PyTorch %s; C compiler %s; Python %s"
               % (versions["lathe"], versions["ort"], versions["torch"], mach["cc"],
                  mach["python"])),
        bullet("Machine", "%s; %s CPUs (%s cores per socket, %s thread(s) per core%s); "
               "flags %s; L2 %s, L3 %s; %s GiB memory; Linux %s"
               % (mach["cpu"], mach["cpus"], mach["cores_per_socket"],
                  mach["threads_per_core"], vm, feats, mach["l2"], mach["l3"],
                  mach["memory_gib"], mach["kernel"])),
        bullet("FP32 peak", "measured by bench/peak.c (independent vector FMAs; the best of "
               "%d tries at the start and %d at the end): %s" % (PEAK_TRIES, PEAK_TRIES,
                                                                 peaks)),
        bullet("Samples", "%d timed calls per framework, model and thread count; the tables "
               "give medians.%s Load average %s at the start and %s at the end: the "
               "machine is shared, so compare numbers within one run rather than across "
               "runs." % (samples, quick, load[0], load[1])),
    ])
    md = f"""# Benchmarks

lathe against ONNX Runtime and PyTorch on the same machine, in one run,
frameworks alternating (bench/run.py; method below). Batch 1, FP32. Lower
latency is better; a ratio below 1 means lathe is faster. `make bench`
reruns everything and rewrites this file.

{head}

## Latency

{md_table(LAT_HEAD, latency_rows(results, peak))}

GFLOP: 2 x the multiply-adds of the model's Conv, MatMul and Gemm nodes
(counted by lathe at compile time); lathe GFLOP/s: that over lathe's
median; % of peak: of the peak at the same thread count (above). Where
lathe runs 3x3 convolutions by Winograd's algorithm (resnet18,
squeezenet1_1: the winograd class below) it executes fewer multiply-adds
than counted, so their GFLOP/s and % of peak are effective rates, not
hardware ones. FMA check (rows of more than one thread): bench/peak on
that many threads, run at the start of each round of the row's timing,
as the lowest and the median of its rates in % of the peak above; well
below 100%, another tenant of the machine held one of the cores for part
of the run, which slows every framework, but not by the same amount.

## lathe per kernel class

From `lathe bench DIR --profile`, run after the timing above (so its times
can differ from the latency table's when the machine's load changes): the
sum of each step's median, where a step is one fused kernel (for example
Conv+Add+Relu). conv: dense convolutions computed directly; winograd:
3x3 stride-1 convolutions computed by Winograd's F(4x4, 3x3), whose
GFLOP/s count the direct convolution's FLOPs (an effective rate: they
execute about a third of those multiply-adds plus the transforms, so
their % of peak is not a hardware figure and can pass 100%); dwconv:
depthwise convolutions; matmul: MatMul and Gemm; other: everything else
(pooling, softmax, normalization, elementwise ops, copies), whose FLOPs
count 0.

{md_table(CLS_HEAD, [r for r in class_rows(results, peak) if r[2] != "total"])}

## Against the milestone's targets

""" + "\n".join(textwrap.fill(c, width=76, subsequent_indent="  ", break_on_hyphens=False)
                for c in checks(results, peak)) + """

## Method

- Each model is compiled by `lathe compile --threads T` for the thread
  count T it runs on, and run in process through its shared library
  (`NAME_run` called with ctypes on buffers made once, a thread pool of T
  threads). ONNX Runtime: `InferenceSession` on the same ONNX file,
  CPU provider, `intra_op_num_threads=T`, `inter_op_num_threads=1`,
  sequential execution, all graph optimizations. PyTorch: the module the
  ONNX file was exported from, rebuilt from the same seed
  (tools/export_models.py), `torch.set_num_threads(T)`, eval mode,
  `inference_mode` (the transformers take PyTorch's fused fast path).
- Before timing, lathe's and PyTorch's outputs are checked against ONNX
  Runtime's (max |diff| <= 1e-3 x max |output|).
- Timing alternates: in each round every framework, in a rotating order,
  waits until no other thread of the process ran more than 1 ms in 10 ms
  (at least 20 ms, at most 1 s: the previous framework's thread pool
  spins for a while after its last call, ONNX Runtime's for ~50 ms),
  then untimed calls for at least 20 ms and 3 calls (after a pause the
  first calls run several times slower while the CPU clocks up and its
  caches refill), then 3 timed calls, until each has its samples (ten
  rounds or more: each framework meets the machine's changing states
  about as often); each sample is one call, timed with
  `time.perf_counter`, after warm-up calls.
- Per-step times come from `NAME_run_hooked`, which calls back before each
  step (docs/modules.md); raw numbers are in build/bench/results.json and
  each module's profile in build/bench/NAME-tT/profile.txt.
- `make bench` reruns all of it; `make bench BENCH_FLAGS=--quick` is the
  short version.
"""
    path.write_text(md)
    say("wrote " + str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))


# ---- main ---------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer samples (5 per framework) and profile runs, for development")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=MODELS, metavar="NAME",
                    help="models to time (default: all five)")
    ap.add_argument("--threads", default="1,2", help="thread counts (default: 1,2)")
    ap.add_argument("--runs", type=int, help="timed samples per framework (default 30; "
                    "--quick: 5)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"),
                    help="the report (default: docs/benchmarks.md)")
    ap.add_argument("--no-install", action="store_true",
                    help="do not pip install into .venv (it must have what is needed)")
    ap.add_argument("--no-build", action="store_true",
                    help="do not run make (lathe and the models must exist)")
    ap.add_argument("--from-json", metavar="FILE",
                    help="only rewrite the report from a results.json of an earlier run")
    args = ap.parse_args()
    if args.from_json:
        j = json.loads(Path(args.from_json).read_text())
        args.quick = j.get("quick", False)
        measured = {int(k): v for k, v in j["peak_measured"].items()}
        write_report(Path(args.out), args, j["machine"], j["versions"], measured, j["results"],
                     j["load"], j["command"], j.get("date", "?"))
        return 0
    try:
        threads = sorted({int(t) for t in args.threads.split(",")})
    except ValueError:
        fail("--threads wants a comma-separated list of counts, e.g. 1,2")
    if not threads or threads[0] < 1:
        fail("--threads wants counts of at least 1")
    args.runs = args.runs or (5 if args.quick else 30)
    if args.runs < 1:
        fail("--runs wants at least 1")
    args.per_turn = 2 if args.quick else 3
    args.warmup = 2
    prof_runs = 3 if args.quick else 10
    command = " ".join(["bench/run.py"] + sys.argv[1:])

    ensure_env(args)
    import numpy  # noqa: F401  (fail early, with the venv's own message)
    import onnxruntime
    import torch
    WORK.mkdir(parents=True, exist_ok=True)
    if not args.no_build:
        sh(["make", "-j2", "all"])
        missing = [m for m in args.models if not all(
            (MODELS_DIR / (m + ext)).exists() for ext in (".onnx", ".input.npy", ".torch.npy"))]
        if missing:
            sh(["make", "models", "MODELS=" + ("all" if set(missing) == set(MODELS) else
                                               " ".join(missing))])
    load = [loadavg()]
    date = utc_now()
    mach = machine()
    versions = {"lathe": git_rev(), "ort": onnxruntime.__version__, "torch": torch.__version__}
    say("machine: %s, %d CPUs, %s; load %s" % (mach["cpu"], mach["cpus"],
                                               "AVX-512" if mach["avx512f"] else "no AVX-512",
                                               load[0]))
    peak = measure_peak(threads, PEAK_TRIES)

    for name in args.models:
        for t in threads:
            d = WORK / ("%s-t%d" % (name, t))
            t0 = time.time()
            p = subprocess.run([str(LATHE), "compile", str(MODELS_DIR / (name + ".onnx")),
                                "-o", str(d), "--threads", str(t), "--quiet"],
                               capture_output=True, text=True)
            if p.returncode:
                fail("lathe compile %s failed:\n%s" % (name, p.stderr.strip()))
            say("compiled %s for %d thread%s in %.1f s" % (name, t, "" if t == 1 else "s",
                                                          time.time() - t0))

    results = []
    for t in threads:
        for name in args.models:
            say("timing %s on %d thread%s ..." % (name, t, "" if t == 1 else "s"))
            r = bench_model(name, t, args)
            r["classes"] = profile(name, t, peak[t], prof_runs)
            m = r["median_ms"]
            say("  lathe %.2f ms, ORT %.2f ms, torch %.2f ms (lathe/ORT %.2f)" % (
                m["lathe"], m["ort"], m["torch"], m["lathe"] / m["ort"]))
            results.append(r)
    load.append(loadavg())
    at_end = measure_peak(threads, PEAK_TRIES)
    measured = {t: max(peak[t], at_end[t]) for t in threads}
    peak = reference_peak(measured)

    say("\n" + text_table(LAT_HEAD, latency_rows(results, peak)))
    say("\n" + text_table(CLS_HEAD, class_rows(results, peak)))
    say("\n" + "\n".join(checks(results, peak)))
    (WORK / "results.json").write_text(json.dumps(
        {"machine": mach, "versions": versions, "peak_measured": measured,
         "peak_gflops": peak, "load": load,
         "command": command, "quick": args.quick, "date": date, "results": results},
        indent=1))
    write_report(Path(args.out), args, mach, versions, measured, results, load, command,
                 date)
    return 0


if __name__ == "__main__":
    sys.exit(main())
