# lathe: plain Makefile.  `make` builds build/lathe, build/liblathe.a (the
# compiler) and build/liblathe_rt.a (the runtime).  See README.md.
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE
CPPFLAGS_ALL = -Isrc -Iruntime/include
BUILD ?= build
SAN ?=

ifeq ($(SAN),1)
  BUILD = build/san
  CFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC := $(sort $(wildcard src/base/*.c src/onnx/*.c src/graph/*.c src/ops/*.c \
	src/lower/*.c src/tir/*.c src/exec/*.c))
DRV_SRC := $(sort $(wildcard src/driver/*.c))
RT_SRC := $(sort $(wildcard runtime/src/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
DRV_OBJ := $(DRV_SRC:%.c=$(BUILD)/obj/%.o)
RT_OBJ := $(RT_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BUILD)/lathe $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS_ALL) $(CFLAGS) -MMD -MP -c $< -o $@

# The runtime is built without the compiler's include path: it cannot
# include a compiler header.
$(BUILD)/obj/runtime/%.o: runtime/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -Iruntime/include $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/liblathe.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/liblathe_rt.a: $(RT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lathe: $(DRV_OBJ) $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(DRV_OBJ) $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a -lm

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS_ALL) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/liblathe.a $(BUILD)/liblathe_rt.a -lm

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do $$t; done

.PHONY: all unit test golden conformance conformance-check demo model venv clean
venv: .venv/.stamp
.venv/.stamp: tools/requirements.txt
	python3 -m venv .venv
	.venv/bin/pip install -q -r tools/requirements.txt
	touch $@

golden: $(BUILD)/lathe
	sh tests/golden/run.sh $(BUILD)/lathe

# The test command of the README: unit and golden tests, the same under
# AddressSanitizer and UndefinedBehaviorSanitizer, a bounded fuzzing run of
# the ONNX reader, the shipped model against onnx's reference evaluator, and
# the ONNX conformance suite (at least 80% of cases, none crashing).
test: all venv
	$(MAKE) unit golden
	$(MAKE) SAN=1 unit golden
	sh tests/fuzz/run.sh $(FUZZ_SECONDS)
	.venv/bin/python tests/models/check.py --lathe $(BUILD)/lathe
	$(MAKE) conformance-check
FUZZ_SECONDS ?= 60

# The README's main job: compile-and-run the model that ships in models/.
demo: all
	$(BUILD)/lathe run models/mobilenet_v2_tiny.onnx models/mobilenet_v2_tiny.input.npy \
		-o $(BUILD)/demo --print

# Regenerates the shipped model (fixed seed: the same bytes every time).
model: venv
	.venv/bin/python tools/make_model.py models/mobilenet_v2_tiny

conformance: all venv
	.venv/bin/python tests/conformance/run.py --lathe $(BUILD)/lathe --quiet --report docs/conformance.md

conformance-check: all venv
	.venv/bin/python tests/conformance/run.py --lathe $(BUILD)/lathe --quiet --min-pass 0.80

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(DRV_OBJ:.o=.d) $(RT_OBJ:.o=.d)
