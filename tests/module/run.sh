#!/bin/sh
# run.sh [LATHE] [PYTHON]: compiled modules end to end, on the shipped model.
#
#   1. `lathe compile` as a shared library, run with `lathe run DIR`, output
#      compared with models/*.expected.npy (1e-3 of its largest magnitude);
#   2. `lathe compile --emit c`, the bundle built with `cc -O2 -std=c11 -c`
#      alone, linked into examples/run_bundle.c with -Wl,--no-undefined and
#      into a shared object with -Wl,--no-undefined, the example's output
#      checked the same way;
#   3. hostile use: wrong input shape, wrong input count, damaged module
#      directories: each a clear error (exit code 1), never a crash.
# Prints one line per check; exits non-zero if any failed.
set -u
lathe=${1:-build/lathe}
python=${2:-.venv/bin/python}
cc=${CC:-cc}
model=models/mobilenet_v2_tiny
name=mobilenet_v2_tiny
tmp=$(mktemp -d /tmp/lathe_module_test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "PASS $1"; }
ko() { failed=$((failed + 1)); echo "FAIL $1"; [ -f "$tmp/err" ] && sed 's/^/    /' "$tmp/err"; }

# expect_error WHAT TEXT CMD...: CMD must exit 1 with TEXT on stderr.
expect_error() {
	what=$1 text=$2
	shift 2
	"$@" >/dev/null 2>"$tmp/err"
	rc=$?
	if [ $rc -eq 1 ] && grep -q -- "$text" "$tmp/err"; then ok "$what"; else
		echo "    exit code $rc, wanted 1 and '$text'" >>"$tmp/err"; ko "$what"; fi
}

compare() { # compare WHAT GOT.npy
	if "$python" -c '
import sys, numpy as np
got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
tol = 1e-3 * float(np.abs(want).max())
ok = got.shape == want.shape and bool(np.all(np.abs(got - want) <= tol))
print("    max abs diff %.3g (tolerance %.3g)" % (float(np.abs(got - want).max()), tol))
sys.exit(0 if ok else 1)' "$2" "$model.expected.npy" >"$tmp/err" 2>&1; then ok "$1"; else ko "$1"; fi
}

# 1. The shared library.
if "$lathe" compile "$model.onnx" -o "$tmp/lib" --quiet >/dev/null 2>"$tmp/err"; then
	ok "compile $model as a shared library"
	for f in lib$name.so $name.h weights.bin module.txt; do
		[ -f "$tmp/lib/$f" ] || { echo "    $f missing" >"$tmp/err"; ko "file $f"; }
	done
	if "$lathe" run "$tmp/lib" "$model.input.npy" -o "$tmp/out" --threads 2 >/dev/null 2>"$tmp/err"; then
		compare "lathe run DIR matches the expected output" "$tmp/out/output_0.npy"
	else
		ko "lathe run DIR"
	fi
	expect_error "wrong input shape is refused" "compiled for f32\[1,3,112,112\]" \
		"$lathe" run "$tmp/lib" "$model.expected.npy"
	expect_error "wrong input count is refused" "takes 1 input" "$lathe" run "$tmp/lib"
	expect_error "a missing input file is refused" "cannot" \
		"$lathe" run "$tmp/lib" "$tmp/nonexistent.npy"
	cp -r "$tmp/lib" "$tmp/broken"
	rm "$tmp/broken/weights.bin"
	expect_error "a module without weights.bin is refused" "weights" \
		"$lathe" run "$tmp/broken" "$model.input.npy"
	rm "$tmp/broken/module.txt"
	expect_error "a directory without module.txt is refused" "module.txt" \
		"$lathe" run "$tmp/broken" "$model.input.npy"
else
	ko "compile $model as a shared library"
fi
expect_error "compiling a missing model is refused" "nonexistent" \
	"$lathe" compile "$tmp/nonexistent.onnx" -o "$tmp/x"

# 2. The standalone bundle.
if "$lathe" compile "$model.onnx" -o "$tmp/bundle" --emit c --quiet >/dev/null 2>"$tmp/err"; then
	ok "compile $model as a standalone bundle"
	if "$cc" -O2 -std=c11 -c "$tmp/bundle/$name.c" -o "$tmp/bundle.o" 2>"$tmp/err"; then
		ok "the bundle compiles with cc -O2 -std=c11 -c alone"
		if "$cc" -O2 -std=c11 -Wall -Wextra -Werror -DMODEL=$name -I"$tmp/bundle" \
			examples/run_bundle.c "$tmp/bundle.o" -o "$tmp/run_bundle" \
			-lm -lpthread -Wl,--no-undefined 2>"$tmp/err"; then
			ok "examples/run_bundle.c links the bundle with -lm -lpthread -Wl,--no-undefined"
			if "$tmp/run_bundle" "$tmp/bundle/weights.bin" --input "$model.input.npy" \
				--expect "$model.expected.npy" --threads 2 --runs 2 >"$tmp/err" 2>&1; then
				ok "the example's output matches the expected output"
			else
				ko "the example's output matches the expected output"
			fi
		else
			ko "examples/run_bundle.c links the bundle"
		fi
		if "$cc" -O2 -std=c11 -fPIC -c "$tmp/bundle/$name.c" -o "$tmp/bundle_pic.o" 2>"$tmp/err" &&
			"$cc" -shared "$tmp/bundle_pic.o" -o "$tmp/bundle.so" -lm -lpthread \
				-Wl,--no-undefined 2>"$tmp/err"; then
			ok "the bundle links as a shared object with -Wl,--no-undefined"
		else
			ko "the bundle links as a shared object with -Wl,--no-undefined"
		fi
	else
		ko "the bundle compiles with cc -O2 -std=c11 -c alone"
	fi
	expect_error "lathe run refuses a bundle directory" "standalone C bundle" \
		"$lathe" run "$tmp/bundle" "$model.input.npy"
else
	ko "compile $model as a standalone bundle"
fi

echo "module tests: $passed passed, $failed failed"
[ $failed -eq 0 ]
