# labloop — one Makefile for the whole tree.
#   make                  build build/labloop
#   make test             unit tests (cmocka) and integration tests (real processes)
#   make demo             install missing packages, build, run a simulated campaign
#   make bench            benchmarks (print figures, assert nothing about time)
#   make bench-hub        only the PostgreSQL hub benchmark (1,000,000 records, 6 labs)
#   make bench-planner    the gp planner against its peers (scikit-learn, Optuna)
#   make SANITIZE=address,undefined test    the same under ASan + UBSan (in build/san)
#   make fuzz             libFuzzer harnesses (clang) in build/fuzz, each run FUZZ_SECONDS
#   make clean

ifdef SANITIZE
BUILD ?= build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

CC      ?= cc
PKGS    := libzmq libuv libprotobuf-c yaml-0.1 jansson sqlite3 libgpiod libcrypto lapacke openblas nlopt libmicrohttpd libpq libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
OPT     ?= -O2
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) -MMD -MP $(SANFLAGS) \
               -I. -I$(BUILD)/gen $(PKG_CFLAGS)
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers -Wno-format-truncation
LDLIBS  := $(PKG_LIBS) -lm -lpthread
LDFLAGS += $(SANFLAGS)

LIB_DIRS := common protocols devices devices/drivers sim planners orchestrator \
            orchestrator/hub orchestrator/review orchestrator/cli
LIB_SRC  := $(filter-out orchestrator/cli/main.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
GEN_C    := $(BUILD)/gen/labloop.pb-c.c
GEN_H    := $(BUILD)/gen/labloop.pb-c.h
GEN_OBJ  := $(BUILD)/obj/gen/labloop.pb-c.o
LIB      := $(BUILD)/liblabloop.a
BIN      := $(BUILD)/labloop

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG    := $(sort $(wildcard tests/integration/test_*.sh))
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all test unit check-includes integration demo bench bench-hub bench-planner clean deps fuzz fuzz-build torture torture-short
all: $(BIN)

$(GEN_C) $(GEN_H): protocols/labloop.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -Iprotocols protocols/labloop.proto

# Python code for devices/python/labloop_worker.py, generated from the same
# .proto (a build output, never committed). Needs protobuf-compiler.
GEN_PY := $(BUILD)/gen/python/labloop_pb2.py
$(GEN_PY): protocols/labloop.proto
	@mkdir -p $(BUILD)/gen/python
	protoc --python_out=$(BUILD)/gen/python -Iprotocols protocols/labloop.proto
all: $(GEN_PY)

$(GEN_OBJ): $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -c $< -o $@

$(BUILD)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(WARN) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ) $(GEN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/orchestrator/cli/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB) | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c $(LIB) | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

RUN_UNIT  = set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done
RUN_INTEG = LABLOOP=$(abspath $(BIN)) TOOLS=$(abspath $(BUILD)/tools) bash tests/integration/run.sh $(INTEG)

unit: $(UNIT_BIN)
	@python3 scripts/check_includes.py
	@$(RUN_UNIT)

# No include cycles between orchestrator/ modules; the campaign's modules
# include nothing of the lab's (scripts/check_includes.py).
check-includes:
	@python3 scripts/check_includes.py

integration: $(BIN) $(TOOL_BIN) $(GEN_PY)
	@$(RUN_INTEG)

# Build everything first (in parallel with -j), then run the suites one after
# the other: integration tests start real processes and want the cores.
test: $(UNIT_BIN) $(BIN) $(TOOL_BIN) $(GEN_PY)
	@python3 scripts/check_includes.py
	@$(RUN_UNIT)
	@$(RUN_INTEG)
	@echo "all tests passed ($(BUILD))"

# The torture suite (tests/torture/README.md): a real campaign under injected
# faults, checked against the simulated lab's own journal. `make torture` is
# the long run (10 seeds of 24 orchestrator kills: at least 200 wanted; then
# TORTURE_SEEDS_2 seeds of two campaigns in one lab service); TORTURE_SEEDS=3
# or 1-4 picks seeds. torture-short is the CI run: one seed of each.
TORTURE_PYTHON ?= /usr/bin/python3
TORTURE_SEEDS ?= 1-10
TORTURE_KILLS ?= 24
TORTURE_SEEDS_2 ?= 1-3
TORTURE = $(TORTURE_PYTHON) tests/torture/torture.py --labloop $(abspath $(BIN)) --python $(TORTURE_PYTHON)
torture: $(BIN) $(GEN_PY)
	@$(TORTURE) --seeds $(TORTURE_SEEDS) --kills $(TORTURE_KILLS) \
	  --min-kills $(if $(filter command line environment,$(origin TORTURE_SEEDS)),0,200)
	@$(TORTURE) --campaigns 2 --seeds $(TORTURE_SEEDS_2) --kills $(TORTURE_KILLS) --experiments 60

torture-short: $(BIN) $(GEN_PY)
	@$(TORTURE) --seeds 1 --kills 24 --min-kills 20
	@$(TORTURE) --campaigns 2 --seeds 1 --kills 10 --min-kills 8 --experiments 30

# Fuzzing: the library built again with clang, instrumented for libFuzzer
# and ASan + UBSan (build/fuzz), one binary per harness in tests/fuzz/; then
# each run for FUZZ_SECONDS from its seed corpus (tests/fuzz/corpus/NAME),
# FUZZ_JOBS at a time. Prints the executions per target; fails on a crash.
FUZZ_TARGETS := envelope campaign lab worker_config control
FUZZ_SECONDS ?= 300
FUZZ_JOBS    ?= 1
FUZZ_BUILD   := build/fuzz

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB) | $(GEN_H)
	$(CC) $(CFLAGS_BASE) $(WARN) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDLIBS)

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
	    CFLAGS=-Wno-unknown-warning-option SANITIZE=fuzzer-no-link,address,undefined $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

demo:
	@bash scripts/demo.sh

bench: $(BIN)
	@bash scripts/bench.sh $(abspath $(BIN))

# The gp planner against scikit-learn, Optuna and random on the benchmark
# suite, then with measurement noise (docs/PLANNERS.md); about 14 minutes on
# two cores.
bench-planner: $(BIN)
	@/usr/bin/python3 tests/planner_peers/table.py --labloop $(abspath $(BIN)) --out $(BUILD)/bench-planner.jsonl

# The shared PostgreSQL hub at scale only (a part of bench too).
bench-hub: $(BIN) $(BUILD)/tools/hubgen
	@bash scripts/bench_hub.sh $(abspath $(BIN))

deps:
	@bash scripts/install-deps.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
