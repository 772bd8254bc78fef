#!/bin/sh
# run.sh SECONDS: builds the ONNX reader's libFuzzer harness with
# AddressSanitizer and UndefinedBehaviorSanitizer, seeds a corpus, and fuzzes
# for SECONDS (default 60).  Prints the number of executions; exits non-zero
# if the fuzzer found a crash, a leak or a timeout (the input is kept as
# build/fuzz/crash-*), or if the harness does not build.  Without clang's
# libFuzzer runtime it installs it when run as root (Debian), else prints
# "skipped" and exits 0.
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-60}
out=build/fuzz
mkdir -p "$out/corpus"

probe() {
	printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$out/probe.c"
	clang -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" >/dev/null 2>&1
}
if ! command -v clang >/dev/null 2>&1 || ! probe; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "fuzz: installing clang's libFuzzer runtime (libclang-rt-14-dev)"
		apt-get install -y -qq clang libclang-rt-14-dev >/dev/null 2>&1 || true
	fi
	if ! command -v clang >/dev/null 2>&1 || ! probe; then
		echo "fuzz: skipped (clang with libFuzzer is not available)"
		exit 0
	fi
fi

# The compiler library (every src/ folder the Makefile puts in liblathe.a,
# that is all of src/ but the command line) and the runtime, built by the
# Makefile into their own folder with the fuzzer's instrumentation;
# incremental, so a second run only recompiles what changed.
san="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
echo "fuzz: building $out/fuzz_onnx"
make -s -j2 BUILD="$out/lib" CC=clang WARN="-std=c11 -D_GNU_SOURCE" \
	CFLAGS="$san -fsanitize=fuzzer-no-link" "$out/lib/liblathe.a" "$out/lib/liblathe_rt.a"
clang -std=c11 -D_GNU_SOURCE $san -fsanitize=fuzzer -Isrc -Iruntime/include \
	tests/fuzz/fuzz_onnx.c "$out/lib/liblathe.a" "$out/lib/liblathe_rt.a" -lm -o "$out/fuzz_onnx"

# Seeds: the tiny hand-made models, and a few dozen of ONNX's node tests.
cp tests/fuzz/seeds/*.onnx "$out/corpus/" 2>/dev/null || true
nodes=.venv/lib/python3.11/site-packages/onnx/backend/test/data/node
if [ -d "$nodes" ]; then
	for t in add conv_with_strides_padding if loop11 scan9_sum split_equal_parts_1d_opset13 \
		reduce_sum_default_axes_keepdims_example slice_default_axes constant \
		cast_FLOAT_to_STRING gather_0 resize_upsample_scales_linear lstm_defaults \
		sequence_map_add_2_sequences optional_get_element_sequence \
		layer_normalization_2d_axis0_expanded softmax_axis_0_expanded \
		unsqueeze_axis_0 squeeze pad constant_pad dropout_default_old clip_default_int8_min \
		dequantizelinear_int4 cast_INT4_to_FLOAT identity_sequence string_split_basic \
		range_float_type_positive_delta_expanded topk mvn_expanded einsum_batch_diagonal \
		nonmaxsuppression_center_point_box_format if_seq loop16_seq_none; do
		[ -f "$nodes/test_$t/model.onnx" ] && cp "$nodes/test_$t/model.onnx" "$out/corpus/node_$t.onnx"
	done
fi

log="$out/fuzz.log"
set +e
"$out/fuzz_onnx" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	-print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" >"$log" 2>&1
rc=$?
set -e
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
echo "fuzz: ${runs:-?} executions in ${secs}s (log: $log)"
if [ $rc -ne 0 ]; then
	echo "fuzz: FAILED (exit $rc); the last lines of the log:"
	tail -n 40 "$log"
	exit 1
fi
echo "fuzz: no crash"
