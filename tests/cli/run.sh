#!/bin/sh
# run.sh LATHE_BIN [PYTHON]: the `lathe` command line against wrong and
# hostile use.
#
# Every case runs LATHE_BIN under `timeout 20` and wants one exit code
# (1 bad input, 2 usage, 3 unsupported) and a text on stderr that names the
# cause.  A crash (a signal), a hang (killed after 20 s) or a sanitizer
# report fails the case whatever the exit code; run it on the sanitizer
# build too (`make SAN=1` builds build/san/lathe; `make SAN=1 cli`).
#
# The cases: usage errors of each command; missing, empty, garbage,
# truncated and semantically broken models (ONNX and .ir); wrong input
# count, shape and element type; missing, garbage and truncated .npy and
# .pb inputs, a Fortran-order .npy; `-o` into a file, under a file, into a
# place that cannot be written; compiled module directories with a
# missing, garbage or mismatched module.txt, weights.bin or library; wrong
# inputs into a compiled module; `lathe show` of garbage .ir and .tir files.
#
# A case marked `known` is a bug someone owns and has not fixed yet: it
# prints KNOWN instead of FAIL and does not fail the run (and PASS, with a
# note to drop the mark, once it is fixed).
#
# Inputs are made with PYTHON (onnx, numpy; default .venv/bin/python) in a
# temporary directory.  Prints one line per case, then
# "cli: N passed, M failed"; exits non-zero if any failed.
set -u
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: sh tests/cli/run.sh LATHE_BIN [PYTHON]" >&2
	exit 2
fi
case $1 in
/*) lathe=$1 ;;
*) lathe=$(pwd)/$1 ;;
esac
python=${2:-.venv/bin/python}
case $python in
*/*) [ "${python#/}" = "$python" ] && python=$(pwd)/$python ;;
esac
case $lathe$python in
*[[:space:]]*)
	# The cases below split command strings into words.
	echo "cli: the paths of LATHE_BIN and PYTHON must not hold spaces" >&2
	exit 2
	;;
esac
if [ ! -x "$lathe" ]; then
	echo "cli: $1 is not an executable" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lathe-cli.XXXXXX") || exit 2
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
# The C backend's cache: the build tree's under make, else a private one.
export LATHE_CACHE="${LATHE_CACHE:-$tmp/cache}"
# Under the sanitizers a report exits 86, never 1 (ASan's default, which
# would pass for "bad input"); a huge allocation returns NULL, as malloc
# does, instead of being reported.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86:allocator_may_return_null=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=86:print_stacktrace=1"

pass=0
fail=0
known=0
mark=  # "known: WHY" for the next case only
limit= # seconds for the next case only, if not 20

# case CODE TEXT NAME CMD...: CMD must exit CODE with TEXT (a fixed string)
# on stderr, within 20 s, without a sanitizer report.
case_() {
	want=$1 text=$2 name=$3
	shift 3
	# The subshell's own stderr is dropped: a shell reports a child killed by
	# a signal there ("Aborted"), and the case says so in its line instead.
	(timeout -k 5 "${limit:-20}" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"; echo $? >"$tmp/rc") 2>/dev/null
	rc=$(cat "$tmp/rc")
	why=
	if [ $rc -eq 124 ]; then
		why="hung: killed after ${limit:-20} s"
	elif [ $rc -gt 128 ]; then
		why="crashed: signal $((rc - 128))"
	elif grep -q -e 'ERROR: [A-Za-z]*Sanitizer' -e 'runtime error:' "$tmp/err"; then
		why="sanitizer report (exit code $rc)"
	elif [ $rc -ne "$want" ]; then
		why="exit code $rc, wanted $want"
	elif ! grep -qF -e "$text" "$tmp/err"; then
		why="stderr does not say '$text'"
	fi
	if [ -z "$why" ]; then
		pass=$((pass + 1))
		if [ -n "$mark" ]; then
			echo "PASS $name (fixed: drop its 'known' mark in tests/cli/run.sh)"
		else
			echo "PASS $name"
		fi
	elif [ -n "$mark" ]; then
		known=$((known + 1))
		echo "KNOWN $name: $why (${mark#known: })"
	else
		fail=$((fail + 1))
		echo "FAIL $name: $why"
		echo "    \$ $*" | sed "s|$lathe|lathe|g"
		head -c 2000 "$tmp/err" | sed 's/^/    /'
	fi
	mark=
	limit=
}

# ---- inputs ----------------------------------------------------------------

cd "$tmp" || exit 2
if ! "$python" - <<'EOF' >"$tmp/err" 2>&1; then
import numpy as np, onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T

vi = h.make_tensor_value_info

def model(name, nodes, ins, outs, inits=(), opset=17):
    g = h.make_graph(nodes, name, ins, outs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    with open(name + ".onnx", "wb") as f:
        f.write(m.SerializeToString())

def pb(name, a):
    with open(name, "wb") as f:
        f.write(nh.from_array(a, "t").SerializeToString())

X, Y, R = vi("x", T.FLOAT, [2, 3]), vi("y", T.FLOAT, [2, 3]), vi("r", T.FLOAT, [2, 3])
# Two inputs; one with weights (weights.bin not empty once compiled).
model("add", [h.make_node("Add", ["x", "y"], ["r"])], [X, Y], [R])
w = nh.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "w")
b = nh.from_array(np.ones(3, np.float32), "b")
model("lin", [h.make_node("MatMul", ["x", "w"], ["m"]), h.make_node("Add", ["m", "b"], ["s"]),
              h.make_node("Relu", ["s"], ["r"])],
      [vi("x", T.FLOAT, [2, 4])], [vi("r", T.FLOAT, [2, 3])], [w, b])
model("gather", [h.make_node("Gather", ["x", "i"], ["r"], axis=0)],
      [X, vi("i", T.INT64, [2])], [R])
model("dynamic", [h.make_node("Relu", ["x"], ["r"])], [vi("x", T.FLOAT, ["N", 3])],
      [vi("r", T.FLOAT, ["N", 3])])
model("huge", [h.make_node("Relu", ["x"], ["r"])], [vi("x", T.FLOAT, [1 << 20, 1 << 20])],
      [vi("r", T.FLOAT, [1 << 20, 1 << 20])])
# Broken models.
model("unknown_op", [h.make_node("FooBar", ["x"], ["r"])], [X], [R])
model("undefined", [h.make_node("Add", ["x", "nothere"], ["r"])], [X], [R])
model("twice", [h.make_node("Relu", ["x"], ["r"]), h.make_node("Relu", ["x"], ["r"])], [X], [R])
model("arity", [h.make_node("Relu", ["x", "x", "x"], ["r"])], [X], [R])
model("no_dtype", [h.make_node("Relu", ["x"], ["r"])], [vi("x", 0, [2, 3])], [R])
model("bad_perm", [h.make_node("Transpose", ["x"], ["r"], perm=[5, 7])], [X],
      [vi("r", T.FLOAT, [3, 2])])
short = nh.from_array(np.ones((2, 3), np.float32), "w")
short.raw_data = short.raw_data[:7]
model("short_init", [h.make_node("Add", ["x", "w"], ["r"])], [X], [R], [short])
empty = T(); empty.name = "w"; empty.data_type = T.FLOAT; empty.dims.extend([1 << 20, 1 << 20])
model("dataless_init", [h.make_node("Add", ["x", "w"], ["r"])], [X], [R], [empty])
vast = T(); vast.name = "w"; vast.data_type = T.FLOAT; vast.dims.extend([1 << 62, 4])
model("vast_init", [h.make_node("Add", ["x", "w"], ["r"])], [X], [R], [vast])

x = (np.arange(6, dtype=np.float32) - 2).reshape(2, 3)
np.save("x.npy", x)
np.save("lx.npy", np.ones((2, 4), np.float32))
np.save("x_t.npy", x.T.copy())
np.save("x_i64.npy", x.astype(np.int64))
np.save("x_f64.npy", x.astype(np.float64))
np.save("x_rank3.npy", x.reshape(1, 2, 3))
np.save("x_fortran.npy", np.asfortranarray(x))
np.save("idx_out.npy", np.array([0, 7], np.int64))
pb("x.pb", x)
pb("x_t.pb", x.T.copy())
pb("x_i64.pb", x.astype(np.int64))
raw = open("x.npy", "rb").read()
open("x_short_header.npy", "wb").write(raw[:40])
open("x_short_data.npy", "wb").write(raw[:-5])
open("x_long_data.npy", "wb").write(raw + b"\0" * 8)
open("x_magic.npy", "wb").write(raw[:5])
hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }"
hdr += b" " * (63 - (10 + len(hdr)) % 64) + b"\n"
open("x_vast.npy", "wb").write(b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr + b"\0" * 24)
open("x_header_len.npy", "wb").write(b"\x93NUMPY\x01\x00\xff\xff{'descr'")
open("x_short.pb", "wb").write(open("x.pb", "rb").read()[:10])
rng = np.random.default_rng(7)
garbage = bytes(rng.integers(0, 256, 4096, dtype=np.uint8))
for name in ("garbage.onnx", "garbage.npy", "garbage.pb", "garbage.ir", "garbage.tir"):
    open(name, "wb").write(garbage)
text = bytes(rng.integers(33, 127, 2048, dtype=np.uint8))
for name in ("text.onnx", "text.ir", "text.tir"):
    open(name, "wb").write(text)
for name in ("empty.onnx", "empty.npy", "empty.pb", "empty.ir", "empty.tir"):
    open(name, "wb").write(b"")
m = open("lin.onnx", "rb").read()
open("truncated.onnx", "wb").write(m[: len(m) // 2])
open("nested.tir", "w").write("func @f(%A: f32[2], %C: f32[2]) {\n  for %i in 0..2 {\n    %C[%i] = "
                              + "add(" * 100000 + "%A[%i]" + ", 1.0)" * 100000 + "\n  }\n}\n")
open("loops.tir", "w").write("func @f(%A: f32[2], %C: f32[2]) {\n"
                             + "".join("for %%i%d in 0..2 {\n" % k for k in range(20000))
                             + "}\n" * 20001)
open("nested.ir", "w").write("graph g(%x: f32[1]) -> (%y) {\n  opset 17\n  %y: f32[1] = Relu(%x) {a = "
                             + "[" * 100000 + "1" + "]" * 100000 + "}\n}\n")
open("vast_const.ir", "w").write("graph g(%x: f32[1]) -> (%y) {\n  opset 17\n"
                                 "  const %w: f32[1099511627776] = [1]\n  %y: f32[1] = Add(%x, %w)\n}\n")
open("vast_dim.tir", "w").write("func @f(%A: f32[99999999999999999999999]) {\n}\n")
EOF
	echo "cli: cannot make the inputs with $python:"
	sed 's/^/    /' "$tmp/err"
	echo "cli: 0 passed, 1 failed"
	exit 1
fi
mkdir adir
# Halves of real .ir and .tir files: parsers meeting an unexpected end.
for f in "$root"/tests/golden/graph/basic.ir "$root"/tests/golden/tir/add.tir; do
	base=$(basename "$f")
	head -c $(($(wc -c <"$f") / 2)) "$f" >"half_$base"
done
printf 'lathe-module 1\nname lin\0\n' >nul_manifest

# A place -o cannot write: under /proc for root (whom permissions do not
# stop), else a directory without write permission.
# $refused: the directory the error names.
if [ "$(id -u)" = 0 ]; then
	unwritable=/proc/lathe-cli-test/out
	refused=/proc/lathe-cli-test
else
	mkdir ro && chmod 500 ro
	unwritable=$tmp/ro/out
	refused=$unwritable
fi

L=$lathe

# ---- usage (exit 2) ----------------------------------------------------------

case_ 2 "usage: lathe" "no command" $L
case_ 2 "unknown command 'frobnicate'" "unknown command" $L frobnicate
case_ 2 "usage: lathe run" "run: no model" $L run
case_ 2 "unknown option '--bogus'" "run: unknown option" $L run add.onnx x.npy x.npy --bogus
case_ 2 "-o needs a value" "run: -o without a value" $L run add.onnx x.npy x.npy -o
case_ 2 "--runs" "run: --runs without a value" $L run add.onnx x.npy x.npy --runs
case_ 2 "--runs wants a count" "run: --runs not a number" $L run add.onnx x.npy x.npy --runs many
case_ 2 "--runs wants a count" "run: --runs 0" $L run add.onnx x.npy x.npy --runs 0
case_ 2 "--threads needs a value" "run: --threads without a value" $L run add.onnx x.npy x.npy --threads
case_ 2 "--threads wants a count" "run: --threads -3" $L run add.onnx x.npy x.npy --threads -3
case_ 2 "--backend needs a value" "run: --backend without a value" $L run add.onnx x.npy x.npy --backend
case_ 2 "unknown backend 'gpu'" "run: unknown backend" $L run add.onnx x.npy x.npy --backend gpu
case_ 2 "exclusive" "run: --random-inputs with input files" $L run add.onnx x.npy --random-inputs
case_ 2 "no model given" "compile: no model" $L compile -o out
case_ 2 "-o DIR is required" "compile: no -o" $L compile add.onnx
case_ 2 "-o needs a value" "compile: -o without a value" $L compile add.onnx -o
case_ 2 "--emit takes 'c'" "compile: --emit js" $L compile add.onnx -o out --emit js
case_ 2 "--name needs a value" "compile: --name without a value" $L compile add.onnx -o out --name
case_ 2 "--threads wants a count" "compile: --threads not a number" $L compile add.onnx -o out --threads x
case_ 2 "unknown option '--bogus'" "compile: unknown option" $L compile add.onnx -o out --bogus
case_ 2 "one model at a time" "compile: two models" $L compile add.onnx lin.onnx -o out
case_ 2 "usage: lathe show" "show: no file" $L show
case_ 2 "unknown option '--bogus'" "show: unknown option" $L show add.onnx --bogus
case_ 2 "more than one file" "show: two files" $L show add.onnx lin.onnx
case_ 2 "--after needs a pass name" "show: --after without a value" $L show add.onnx --after
case_ 2 "unknown pass 'nope'" "show: unknown pass" $L show add.onnx --after nope
case_ 2 "--sched-file needs an argument" "show: --sched-file without a value" $L show x.tir --sched-file

# ---- models (`run`, `compile`, `show`) ---------------------------------------

for cmd in run compile show; do
	case $cmd in
	run) args="x.npy" ;;
	compile) args="-o out_$cmd --quiet" ;;
	show) args= ;;
	esac
	# $args is split into words on purpose.
	case_ 1 "nonexistent.onnx: cannot open" "$cmd: missing model" $L $cmd nonexistent.onnx $args
	case_ 1 "no graph" "$cmd: empty model file" $L $cmd empty.onnx $args
	case_ 1 "garbage.onnx: ModelProto" "$cmd: model of random bytes" $L $cmd garbage.onnx $args
	case_ 1 "text.onnx: ModelProto" "$cmd: model of random text" $L $cmd text.onnx $args
	case_ 1 "truncated.onnx: ModelProto" "$cmd: truncated model" $L $cmd truncated.onnx $args
	case_ 1 "x.npy: ModelProto" "$cmd: a .npy file as the model" $L $cmd x.npy $args
	case_ 3 "FooBar" "$cmd: unknown operator (unsupported)" $L $cmd unknown_op.onnx $args
	case_ 1 "'nothere' is not defined" "$cmd: node input never defined" $L $cmd undefined.onnx $args
	case_ 1 "'r' is defined twice" "$cmd: value defined twice" $L $cmd twice.onnx $args
	case_ 1 "Relu takes 1 input, not 3" "$cmd: wrong operator arity" $L $cmd arity.onnx $args
	case_ 1 "perm entry 5 out of range" "$cmd: attribute out of range" $L $cmd bad_perm.onnx $args
	case_ 1 "has no element type" "$cmd: graph input without an element type" \
		$L $cmd no_dtype.onnx $args
	case_ 1 "raw_data has 7 bytes" "$cmd: initializer shorter than its shape" \
		$L $cmd short_init.onnx $args
	case_ 1 "elements but no data" "$cmd: initializer without data" \
		$L $cmd dataless_init.onnx $args
	case_ 1 "tensor too large" "$cmd: initializer of 2^64 elements" $L $cmd vast_init.onnx $args
done
case_ 1 "adir has no module.txt" "run: a directory that is not a module" $L run adir x.npy
case_ 1 "adir: is a directory" "compile: a directory as the model" $L compile adir -o out
case_ 1 "adir: is a directory" "show: a directory" $L show adir
case_ 1 "not a text file" "compile: .ir of random bytes" $L compile garbage.ir -o out
case_ 1 "expected 'graph'" "compile: empty .ir" $L compile empty.ir -o out
case_ 1 "f32[1,3,8,8]" "run: a .ir model, fed the wrong shape" $L run "$root/tests/golden/graph/basic.ir" x.npy

# ---- inputs of `lathe run MODEL` ----------------------------------------------

R="$L run add.onnx"
case_ 1 "takes 2 inputs ('x', 'y'), 1 given" "run: too few inputs" $R x.npy
case_ 1 "takes 2 inputs ('x', 'y'), 3 given" "run: too many inputs" $R x.npy x.npy x.npy
case_ 1 "expected f32[2,3], got f32[3,2]" "run: wrong shape (.npy)" $R x_t.npy x.npy
case_ 1 "expected f32[2,3], got f32[1,2,3]" "run: wrong rank (.npy)" $R x.npy x_rank3.npy
case_ 1 "expected f32[2,3], got i64[2,3]" "run: wrong element type (.npy)" $R x_i64.npy x.npy
case_ 1 "expected f32[2,3], got f64[2,3]" "run: f64 for f32 (.npy)" $R x_f64.npy x.npy
case_ 1 "expected f32[2,3], got f32[3,2]" "run: wrong shape (.pb)" $R x.npy x_t.pb
case_ 1 "expected f32[2,3], got i64[2,3]" "run: wrong element type (.pb)" $R x_i64.pb x.npy
case_ 1 "nonexistent.npy: cannot open" "run: missing input file" $R nonexistent.npy x.npy
case_ 1 "adir: is a directory" "run: a directory as an input" $R x.npy adir
case_ 1 "not a .npy file" "run: empty .npy" $R empty.npy x.npy
case_ 1 "not a .npy file" "run: .npy of random bytes" $R garbage.npy x.npy
case_ 1 "not a .npy file" "run: .npy cut inside its magic" $R x_magic.npy x.npy
case_ 1 "truncated .npy header" "run: .npy cut inside its header" $R x_short_header.npy x.npy
case_ 1 "truncated .npy header" "run: .npy header length past the end" $R x_header_len.npy x.npy
case_ 1 ".npy data is 19 bytes" "run: .npy cut inside its data" $R x_short_data.npy x.npy
case_ 1 ".npy data is 32 bytes" "run: .npy with bytes after its data" $R x_long_data.npy x.npy
case_ 1 "tensor too large" "run: .npy header claiming 2^80 elements" $R x_vast.npy x.npy
case_ 3 "Fortran-order arrays are not supported" "run: Fortran-order .npy" $R x_fortran.npy x.npy
case_ 1 "data_type 0 is missing" "run: empty .pb" $R x.npy empty.pb
case_ 1 "garbage.pb: TensorProto" "run: .pb of random bytes" $R x.npy garbage.pb
case_ 1 "x_short.pb: TensorProto" "run: truncated .pb" $R x.npy x_short.pb
for backend in interp c; do
	case_ 1 "index [7, 0] out of bounds" "run ($backend): Gather index out of range" \
		$L run gather.onnx x.npy idx_out.npy --backend $backend
done
mkfifo fifo.npy fifo.onnx
# (5 s: a known hang need not cost 20.)
limit=5
case_ 1 "fifo.npy: not a regular file" "run: a FIFO as an input" $R fifo.npy x.npy
limit=5
case_ 1 "fifo.onnx: not a regular file" "show: a FIFO as the model" $L show fifo.onnx
case_ 1 "/dev/null: not a regular file" "run: a device as an input" $R /dev/null x.npy
case_ 1 "has no static shape" "run: --random-inputs for a symbolic shape" \
	$L run dynamic.onnx --random-inputs
case_ 1 "cannot allocate" "run: --random-inputs of 4 TiB" $L run huge.onnx --random-inputs

# ---- where outputs go ---------------------------------------------------------

mkdir -p taken/output_0.npy
case_ 1 "x.npy exists and is not a directory" "run: -o is a file" $R x.npy x.npy -o x.npy
case_ 1 "x.npy exists and is not a directory" "run: -o under a file" $R x.npy x.npy -o x.npy/out
case_ 1 "cannot create directory $refused" "run: -o not writable" $R x.npy x.npy -o "$unwritable"
case_ 1 "output_0.npy: cannot create" "run: an output file is a directory" $R x.npy x.npy -o taken
C="$L compile add.onnx --quiet"
case_ 1 "x.npy exists and is not a directory" "compile: -o is a file" $C -o x.npy
case_ 1 "x.npy exists and is not a directory" "compile: -o under a file" $C -o x.npy/out
case_ 1 "cannot create directory $refused" "compile: -o not writable" $C -o "$unwritable"
mkdir -p occupied/module.txt
case_ 1 "module.txt: Is a directory" "compile: module.txt is a directory" $C -o occupied

# ---- compile options ---------------------------------------------------------

case_ 1 "is not a C identifier" "compile: --name with a slash" $C -o out --name ../evil
case_ 1 "expected NAME=D0,D1" "compile: --input-shape without '='" $C -o out --input-shape x
case_ 1 "the model has no input 'z'" "compile: --input-shape of no input" $C -o out --input-shape z=2,3
case_ 1 "dimension 0 is fixed at 2" "compile: --input-shape against a fixed dim" \
	$C -o out --input-shape x=3,3
case_ 1 "must be non-negative integers" "compile: --input-shape negative" $C -o out --input-shape x=-1,3
case_ 1 "must be non-negative integers" "compile: --input-shape overflowing" \
	$C -o out --input-shape x=99999999999999999999999,3
case_ 1 "not static: pin it" "compile: symbolic input not pinned" $L compile dynamic.onnx -o out
case_ 1 "-fno-such-flag" "compile: --cflags the C compiler refuses" \
	$C -o out-cflags --cflags -fno-such-flag

# ---- compiled modules ------------------------------------------------------------

if $L compile lin.onnx -o lin --quiet >/dev/null 2>"$tmp/err" &&
	$L compile add.onnx -o add --quiet >/dev/null 2>>"$tmp/err" &&
	$L compile add.onnx -o other --name lin --quiet >/dev/null 2>>"$tmp/err" &&
	$L compile gather.onnx -o gather --quiet >/dev/null 2>>"$tmp/err" &&
	$L compile huge.onnx -o huge --quiet >/dev/null 2>>"$tmp/err" &&
	$L compile add.onnx -o bundle --emit c --quiet >/dev/null 2>>"$tmp/err"; then
	pass=$((pass + 1))
	echo "PASS compile the modules the next cases damage"
	D="$L run add"
	case_ 1 "takes 2 inputs ('x' f32[2,3], 'y' f32[2,3]), 1 given" "module: too few inputs" $D x.npy
	case_ 1 "3 given" "module: too many inputs" $D x.npy x.npy x.npy
	case_ 1 "compiled for f32[2,3], x_t.npy holds f32[3,2]" "module: wrong shape (.npy)" $D x_t.npy x.npy
	case_ 1 "x_rank3.npy holds f32[1,2,3]" "module: wrong rank (.npy)" $D x.npy x_rank3.npy
	case_ 1 "x_i64.npy holds i64[2,3]" "module: wrong element type (.npy)" $D x_i64.npy x.npy
	case_ 1 "x_t.pb holds f32[3,2]" "module: wrong shape (.pb)" $D x.npy x_t.pb
	case_ 1 "x_i64.pb holds i64[2,3]" "module: wrong element type (.pb)" $D x_i64.pb x.npy
	case_ 1 "nonexistent.npy: cannot open" "module: missing input file" $D nonexistent.npy x.npy
	case_ 1 "truncated .npy header" "module: truncated .npy" $D x_short_header.npy x.npy
	case_ 1 ".npy data is 19 bytes" "module: .npy cut inside its data" $D x_short_data.npy x.npy
	case_ 1 "garbage.pb: TensorProto" "module: .pb of random bytes" $D garbage.pb x.npy
	case_ 3 "Fortran-order" "module: Fortran-order .npy" $D x_fortran.npy x.npy
	case_ 1 "x.npy exists and is not a directory" "module: -o is a file" $D x.npy x.npy -o x.npy
	case_ 1 "cannot create directory $refused" "module: -o not writable" $D x.npy x.npy -o "$unwritable"
	case_ 1 "output_0.npy: cannot create" "module: an output file is a directory" $D x.npy x.npy -o taken
	case_ 1 "input data is invalid" "module: Gather index out of range" $L run gather x.npy idx_out.npy
	case_ 1 "cannot allocate 4398046511104 bytes" "module: --random-inputs of 4 TiB" \
		$L run huge --random-inputs
	case_ 1 "standalone C bundle" "module: a bundle directory" $L run bundle x.npy x.npy

	# damage FILE ACTION: a fresh copy of module lin in directory m, FILE
	# in it replaced as ACTION says.
	damage() {
		rm -rf m
		cp -r lin m
		case $2 in
		remove) rm -f "m/$1" ;;
		empty) : >"m/$1" ;;
		garbage) cp garbage.onnx "m/$1" ;;
		dir) rm -f "m/$1" && mkdir "m/$1" ;;
		half) head -c $(($(wc -c <"lin/$1") / 2)) "lin/$1" >"m/$1" ;;
		head) head -c 64 "lin/$1" >"m/$1" ;;
		double) cat "lin/$1" "lin/$1" >"m/$1" ;;
		*) sed -i "$2" "m/$1" ;;
		esac
	}
	M="$L run m lx.npy"
	wsize=$(($(wc -c <lin/weights.bin)))
	damage module.txt remove
	case_ 1 "m has no module.txt" "module: module.txt missing" $M
	damage module.txt empty
	case_ 1 "empty, not a module manifest" "module: module.txt empty" $M
	damage module.txt garbage
	case_ 1 "module.txt: not a text file" "module: module.txt of random bytes" $M
	cp nul_manifest m/module.txt
	case_ 1 "module.txt: not a text file" "module: module.txt holding a NUL" $M
	damage module.txt dir
	case_ 1 "m has no module.txt" "module: module.txt is a directory" $M
	damage module.txt half
	case_ 1 "module.txt" "module: module.txt cut in half" $M
	damage module.txt 's/^lathe-module 1/lathe-module 7/'
	case_ 1 "manifest version other than 1" "module: module.txt of a newer version" $M
	damage module.txt 's/^name lin/name ..\/..\/evil/'
	case_ 1 "is not a C identifier" "module: module name with a path" $M
	damage module.txt 's/^name lin/name add/'
	case_ 1 "must be libadd.so" "module: module.txt names another library" $M
	damage module.txt 's/f32\[2,4\]/f32[2,5]/'
	case_ 1 "built for another manifest" "module: module.txt with another input shape" $M
	damage module.txt 's/f32\[2,4\]/f32[1099511627776,1099511627776]/'
	case_ 1 "tensor too large" "module: module.txt with an absurd shape" $M
	damage module.txt 's/f32\[2,4\]/f32[2,4/'
	case_ 1 "expected ',' or ']'" "module: module.txt with a broken shape" $M
	damage module.txt 's/f32\[2,4\]/q99[2,4]/'
	case_ 1 "unknown element type" "module: module.txt with an unknown element type" $M
	damage module.txt 's/^weights .*/weights 99999999999999999999999/'
	case_ 1 "byte count out of range" "module: module.txt with an absurd weights size" $M
	damage module.txt '/^output/d'
	case_ 1 "incomplete manifest" "module: module.txt without outputs" $M
	damage module.txt 's/^workspace/frobnicate/'
	case_ 1 "unknown key" "module: module.txt with an unknown key" $M
	damage weights.bin remove
	case_ 1 "weights.bin: cannot open" "module: weights.bin missing" $M
	damage weights.bin half
	case_ 1 "weights.bin has $((wsize / 2)) bytes, the module expects $wsize" \
		"module: weights.bin truncated" $M
	damage weights.bin double
	case_ 1 "weights.bin has $((wsize * 2)) bytes" "module: weights.bin too long" $M
	damage weights.bin empty
	case_ 1 "weights.bin has 0 bytes" "module: weights.bin empty" $M
	damage weights.bin dir
	case_ 1 "weights.bin: is a directory" "module: weights.bin is a directory" $M
	damage liblin.so remove
	case_ 1 "liblin.so is missing" "module: library missing" $M
	damage liblin.so empty
	case_ 1 "cannot load m/liblin.so: it is empty" "module: library empty" $M
	damage liblin.so garbage
	case_ 1 "liblin.so: it is not an ELF shared library" "module: library of random bytes" $M
	damage liblin.so head
	case_ 1 "liblin.so: it is truncated or damaged" "module: library cut inside its ELF header" $M
	damage liblin.so half
	case_ 1 "liblin.so: it is truncated or damaged" "module: library cut in half" $M
	damage liblin.so dir
	case_ 1 "liblin.so" "module: library is a directory" $M
	damage liblin.so remove
	cp add/libadd.so m/liblin.so
	case_ 1 "does not define lin_run and lin_manifest" "module: another module's library" $M
	damage liblin.so remove
	cp other/liblin.so m/liblin.so
	case_ 1 "built for another manifest" "module: library of the same name, other model" $M
	damage weights.bin remove
	cp add/weights.bin m/weights.bin
	case_ 1 "weights.bin has 0 bytes" "module: another module's weights" $M
else
	fail=$((fail + 1))
	echo "FAIL compile the modules the next cases damage"
	sed 's/^/    /' "$tmp/err"
fi

# ---- `lathe show` of text files --------------------------------------------------

case_ 1 "garbage.ir: contains a NUL byte" "show: .ir of random bytes" $L show garbage.ir
case_ 1 "garbage.tir: contains a NUL byte" "show: .tir of random bytes" $L show garbage.tir
case_ 1 "text.ir:1:" "show: .ir of random text" $L show text.ir
case_ 1 "text.tir:1:" "show: .tir of random text" $L show text.tir
case_ 1 "expected 'graph'" "show: empty .ir" $L show empty.ir
case_ 1 "expected 'func'" "show: empty .tir" $L show empty.tir
case_ 1 "half_basic.ir:" "show: .ir cut in half" $L show half_basic.ir
case_ 1 "half_add.tir:" "show: .tir cut in half" $L show half_add.tir
case_ 1 "nonexistent.ir: cannot open" "show: missing .ir" $L show nonexistent.ir
case_ 1 "nonexistent.tir: cannot open" "show: missing .tir" $L show nonexistent.tir
case_ 1 "nested deeper than" "show: .tir expression nested 100000 deep" $L show nested.tir
case_ 1 "nested deeper than" "show: .tir loops nested 20000 deep" $L show loops.tir
case_ 1 "nested.ir:3:" "show: .ir list nested 100000 deep" $L show nested.ir
case_ 1 "1099511627776 elements but 1 value" "show: .ir constant of 2^40 elements" $L show vast_const.ir
case_ 1 "size too large" "show: .tir dimension past 2^64" $L show vast_dim.tir
case_ 1 "nonexistent.sched: cannot open" "show: missing --sched-file" \
	$L show "$root/tests/golden/tir/add.tir" --sched-file nonexistent.sched
case_ 1 "garbage.tir: contains a NUL byte" "show: --sched-file of random bytes" \
	$L show "$root/tests/golden/tir/add.tir" --sched-file garbage.tir

if [ $known -gt 0 ]; then
	echo "cli: $known known bugs (KNOWN above) not counted"
fi
echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
