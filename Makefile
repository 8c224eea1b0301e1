# kiln - one Makefile (STYLE.md K20).
#
#   make run           install what is missing, build, start `kiln server`
#   make test          install, build, run every test (unit, integration,
#                      fuzz-corpus replay); ends with "N passed, N failed"
#   make asan test     the same under ASan + UBSan (build/asan)
#   make fuzz          libFuzzer sessions (clang), FUZZ_SECONDS each
#   make format | format-check | lint | tidy | cppcheck
#
# Switches: DEBUG=1, SANITIZE=address,undefined, DEVELOPER=0 (warnings are
# errors unless set to 0), CC=clang.

CC        ?= cc
DEVELOPER ?= 1
BUILD     ?= build

ifneq ($(filter asan,$(MAKECMDGOALS)),)
SANITIZE  := address,undefined
BUILD     := build/asan
endif

PKGS      := libmicrohttpd jansson sqlite3 libcrypto libpcre2-8 zlib libxml-2.0
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wvla -Wwrite-strings -Wformat=2 -Wcast-qual \
        -fno-common
ifeq ($(DEVELOPER),1)
WARN += -Werror
endif

OPT := -O2 -g
ifeq ($(DEBUG),1)
OPT := -O0 -g3 -DKILN_DEBUG
endif

SAN :=
ifneq ($(SANITIZE),)
SAN := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SAN) -Isrc $(PKG_CFLAGS) -MMD -MP
LDFLAGS += $(SAN)
LDLIBS  += $(PKG_LIBS) -lpthread -lm

LIB_SRC  := $(filter-out src/cmd/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
KILN     := $(BUILD)/kiln

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60

.PHONY: all run test asan deps fuzz format format-check lint tidy cppcheck \
        clean unit-bins docs bench-s3

all: $(KILN) unit-bins $(FUZZ_REPLAY)

asan:
	@:

deps:
	@scripts/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libkiln.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(KILN): $(BUILD)/src/cmd/main.o $(BUILD)/libkiln.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit-bins: $(UNIT_BIN)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/harness.h $(BUILD)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libkiln.a $(LDLIBS) $(LDFLAGS)

$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(BUILD)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(BUILD)/libkiln.a $(LDLIBS) $(LDFLAGS)

bench-s3: deps $(KILN)
	KILN_BIN=$(CURDIR)/$(KILN) /usr/bin/python3 bench/s3_bench.py

docs: $(KILN)
	$(KILN) admin config doc > docs/configuration.options.md
	$(KILN) admin api-coverage > docs/api-coverage.md

run: deps $(KILN)
	$(KILN) server

test: deps all
	@KILN_BUILD=$(BUILD) scripts/run-tests

# libFuzzer builds: clang only, separate tree.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -Isrc $(PKG_CFLAGS) \
               -fsanitize=fuzzer,address,undefined
build/fuzz/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(LDLIBS)

fuzz: deps $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=tests/fuzz/crashes/ \
	      build/fuzz/corpus-$$n tests/fuzz/corpus/$${n#fuzz_} || exit 1; \
	done

FORMAT_FILES = $(shell find src tests -name '*.[ch]')
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

lint:
	@tools/checksrc src

tidy:
	clang-tidy -quiet $(LIB_SRC) -- $(CFLAGS)

cppcheck:
	cppcheck --enable=warning,performance,portability --error-exitcode=1 \
	  --inline-suppr -q -Isrc src

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
