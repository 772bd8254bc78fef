# lathe: plain Makefile.  `make` builds build/lathe, build/liblathe.a (the
# compiler) and build/liblathe_rt.a (the runtime).  See README.md.
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE
CPPFLAGS_ALL = -Isrc -Iruntime/include
BUILD ?= build
# The C backend runs the system compiler and dlopens what it built; the
# runtime's thread pool uses pthreads.
LIBS = -lm -lpthread -ldl
# Where `lathe run` (the C backend's JIT) caches compiled code when run from
# here: inside the build tree, not in ~/.cache.
export LATHE_CACHE ?= $(abspath build)/jit-cache
SAN ?=

ifeq ($(SAN),1)
  BUILD = build/san
  CFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC := $(sort $(wildcard src/base/*.c src/onnx/*.c src/graph/*.c src/ops/*.c \
	src/lower/*.c src/tir/*.c src/exec/*.c src/passes/*.c src/plan/*.c src/codegen/*.c src/sched/*.c \
	src/module/*.c))
DRV_SRC := $(sort $(wildcard src/driver/*.c))
RT_SRC := $(sort $(wildcard runtime/src/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
DRV_OBJ := $(DRV_SRC:%.c=$(BUILD)/obj/%.o)
RT_OBJ := $(RT_SRC:%.c=$(BUILD)/obj/%.o)
# The runtime's sources, carried inside lathe for standalone bundles
# (src/module/embed.h): generated, compiled into liblathe.a.
RT_EMBED_SRC := $(sort $(wildcard runtime/include/*.h runtime/src/*.c))
LIB_OBJ += $(BUILD)/obj/gen/rt_embed.o
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BUILD)/lathe $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS_ALL) $(CFLAGS) -MMD -MP -c $< -o $@

# The runtime is built without the compiler's include path: it cannot
# include a compiler header.  -fPIC: compiled modules (shared libraries)
# link it statically.
$(BUILD)/obj/runtime/%.o: runtime/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -Iruntime/include $(CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(BUILD)/gen/rt_embed.c: src/module/embed.sh $(RT_EMBED_SRC)
	@mkdir -p $(dir $@)
	sh src/module/embed.sh $@ $(RT_EMBED_SRC)

$(BUILD)/obj/gen/rt_embed.o: $(BUILD)/gen/rt_embed.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS_ALL) $(CFLAGS) -c $< -o $@

$(BUILD)/liblathe.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/liblathe_rt.a: $(RT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lathe: $(DRV_OBJ) $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(DRV_OBJ) $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS_ALL) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a $(LIBS)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do $$t; done

.PHONY: all unit test golden cli conformance conformance-check demo model venv clean example \
	module-test tsan
venv: .venv/.stamp
.venv/.stamp: tools/requirements.txt
	python3 -m venv .venv
	.venv/bin/pip install -q -r tools/requirements.txt
	touch $@

golden: $(BUILD)/lathe
	sh tests/golden/run.sh $(BUILD)/lathe

# The command line against wrong and hostile use: each case a clear error
# with the right exit code, never a crash or a hang (tests/cli/run.sh).
cli: $(BUILD)/lathe venv
	sh tests/cli/run.sh $(BUILD)/lathe .venv/bin/python

# The test command of the README: unit, golden and cli tests, the same under
# AddressSanitizer and UndefinedBehaviorSanitizer, the thread pool under
# ThreadSanitizer, a bounded fuzzing run of
# the ONNX reader, the shipped model against onnx's reference evaluator, and
# the ONNX conformance suite (at least 80% of cases, none crashing).
test: all venv
	$(MAKE) unit golden cli
	$(MAKE) example module-test
	$(MAKE) SAN=1 unit golden cli
	$(MAKE) tsan
	sh tests/fuzz/run.sh $(FUZZ_SECONDS)
	.venv/bin/python tests/models/check.py --lathe $(BUILD)/lathe
	$(MAKE) conformance-check
FUZZ_SECONDS ?= 60

# The thread pool's lock-free handshakes under ThreadSanitizer, and the
# kernels that share their work (tasks, runs, bands) through it (test_ukernel
# on 4 threads, test_wino on 3).
tsan: $(BUILD)/tsan/test_pool $(BUILD)/tsan/test_ukernel $(BUILD)/tsan/test_wino
	$(BUILD)/tsan/test_pool
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)/tsan/test_ukernel
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)/tsan/test_wino
$(BUILD)/tsan/test_pool: tests/unit/test_pool.c runtime/src/pool.c runtime/include/lathe_rt.h tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -Iruntime/include -Itests/unit -O1 -g -fsanitize=thread -o $@ \
		tests/unit/test_pool.c runtime/src/pool.c -lpthread
$(BUILD)/tsan/test_ukernel $(BUILD)/tsan/test_wino: $(BUILD)/tsan/%: tests/unit/%.c $(RT_SRC) \
		$(wildcard runtime/include/*.h) tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -Iruntime/include -Itests/unit -O1 -g -fsanitize=thread -o $@ \
		tests/unit/$*.c $(RT_SRC) -lpthread -lm

# examples/: a C program linking a standalone bundle of the shipped model,
# built with nothing but cc, libm and pthreads, checked against the
# expected output (docs/modules.md).
EXAMPLE_DIR = $(BUILD)/example
example: $(BUILD)/lathe
	@rm -rf $(EXAMPLE_DIR)
	$(BUILD)/lathe compile models/mobilenet_v2_tiny.onnx --emit c -o $(EXAMPLE_DIR) --quiet
	$(CC) -O2 -std=c11 -c $(EXAMPLE_DIR)/mobilenet_v2_tiny.c -o $(EXAMPLE_DIR)/mobilenet_v2_tiny.o
	$(CC) -O2 -std=c11 -Wall -Wextra -Werror -DMODEL=mobilenet_v2_tiny -I$(EXAMPLE_DIR) \
		examples/run_bundle.c $(EXAMPLE_DIR)/mobilenet_v2_tiny.o -o $(EXAMPLE_DIR)/run_bundle \
		-lm -lpthread -Wl,--no-undefined
	$(EXAMPLE_DIR)/run_bundle $(EXAMPLE_DIR)/weights.bin --threads 2 \
		--input models/mobilenet_v2_tiny.input.npy --expect models/mobilenet_v2_tiny.expected.npy

# Compiled modules end to end: library and bundle of the shipped model,
# hostile module directories and inputs (tests/module/run.sh).
module-test: $(BUILD)/lathe venv
	sh tests/module/run.sh $(BUILD)/lathe .venv/bin/python

# The README's main job: compile-and-run the model that ships in models/.
# Compiles it to native code, runs it (median of 20 runs), and prints the
# top classes and the time; then the same model on the interpreter, the
# reference the compiled code is checked against.
demo: all
	$(BUILD)/lathe compile models/mobilenet_v2_tiny.onnx -o $(BUILD)/demo/module
	$(BUILD)/lathe run $(BUILD)/demo/module models/mobilenet_v2_tiny.input.npy \
		-o $(BUILD)/demo/out --print --runs 20
	$(BUILD)/lathe run models/mobilenet_v2_tiny.onnx models/mobilenet_v2_tiny.input.npy \
		--backend interp --print

# Regenerates the shipped model (fixed seed: the same bytes every time).
model: venv
	.venv/bin/python tools/make_model.py models/mobilenet_v2_tiny

# Both backends: the interpreter and the C backend; the C backend must pass
# every case the interpreter passes.
conformance: all venv
	.venv/bin/python tests/conformance/run.py \
		--lathe $(BUILD)/lathe --backend both --quiet --report docs/conformance.md

conformance-check: all venv
	.venv/bin/python tests/conformance/run.py \
		--lathe $(BUILD)/lathe --backend both --quiet --min-pass 0.80

# Whole models from PyTorch (docs/models.md): torch and torchvision go into
# the venv on first use (a large download, pinned in
# tools/requirements-torch.txt); `models` exports torchvision's resnet18,
# mobilenet_v2, squeezenet1_1 and a transformer encoder with fixed-seed
# weights into build/models; `models-check` runs them through lathe and
# compares with torch.  MODELS=all adds the BERT-base-sized encoder.
MODELS_DIR = build/models
MODELS ?=
.PHONY: torch-venv models models-check
torch-venv: .venv/.torch-stamp
.venv/.torch-stamp: tools/requirements-torch.txt .venv/.stamp
	.venv/bin/pip install -q -r tools/requirements-torch.txt
	touch $@

models: .venv/.torch-stamp
	.venv/bin/python tools/export_models.py --out $(MODELS_DIR) $(if $(MODELS),--only $(MODELS))

models-check: all models
	.venv/bin/python tests/models/torch_check.py --lathe $(BUILD)/lathe --models $(MODELS_DIR) \
		$(if $(filter all,$(MODELS)),resnet18 mobilenet_v2 squeezenet1_1 transformer_encoder bert_base_encoder,$(MODELS)) \
		$(MODELS_CHECK_FLAGS)

# Benchmarks (docs/benchmarks.md): installs onnxruntime, torch and
# torchvision into .venv (tools/requirements-bench.txt,
# requirements-torch.txt), exports the five models, measures the FP32 peak
# and times lathe, ONNX Runtime and PyTorch alternating at 1 and 2
# threads, then rewrites docs/benchmarks.md.  BENCH_FLAGS=--quick for a
# short run; bench/run.py --help for the rest.
.PHONY: bench
BENCH_FLAGS ?=
bench: all
	python3 bench/run.py $(BENCH_FLAGS)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(DRV_OBJ:.o=.d) $(RT_OBJ:.o=.d)
