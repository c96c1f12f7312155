# metricsbus: one Makefile, a fragment per folder (bus/bus.mk, shim/shim.mk, ...).
# make | make check | make demo | make static | make release | make asan | make tsan | make fuzz | make bench | make soak | make install
# make doc-flags (rewrites the flag tables in docs/ from the programs' own)
B        ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
OPT      ?= -O2 -g
SAN      ?=
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual
include scripts/nng.mk
CFLAGS   := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SAN) -MMD -MP -Ibus $(NNG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  := $(SAN) $(EXTRA_LDFLAGS)
MP_LIBS  := $(shell pkg-config --libs msgpack 2>/dev/null || echo -lmsgpackc)
LIBMB    := $(B)/lib/libmb.a
RUNNER   := $(B)/obj/tests/unit/runner.o
PROGRAMS := $(B)/bin/metricsbus-shim $(B)/bin/metricsbus-agentd $(B)/bin/metricsbus-api $(B)/bin/metricsbus
UNIT_TESTS :=
INSTALL_TARGETS :=
TOOLS    :=
FUZZERS  :=

all: programs tests-build
programs: $(PROGRAMS)

include bus/bus.mk shim/shim.mk shim/static.mk agentd/agentd.mk ui/ui.mk api/api.mk tests/tests.mk tests/fuzz/fuzz.mk scripts/install.mk scripts/release.mk tests/bench/bench.mk

$(B)/obj/%.o: %.c | nng-ok
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

tests-build: $(UNIT_TESTS) $(TOOLS)

deps:
	@scripts/deps.sh

# The fixed nng (scripts/nng.sh, docs/dependencies.md); scripts/deps.sh runs this when the
# system's nng is older than 1.9. Instant when already built.
nng:
	@scripts/nng.sh $(NNG_DIR)
	@scripts/nng.sh $(NNG_SMALL_DIR) $(NNG_SMALL_OPTS)
# Every object depends on this check: it fails the build, before the first compile, with what
# to do, rather than link a library that loses messages.
nng-ok:
	@$(if $(NNG_ERROR),echo "make: $(NNG_ERROR): run scripts/deps.sh (or make deps) to build the fixed nng into $(NNG_DIR)" >&2; exit 1,:)

# The sanitizer build: same sources, clang with ASan + UBSan, into build/asan.
asan:
	$(MAKE) B=build/asan CC=clang OPT="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all

# The ThreadSanitizer build: clang with TSan, linked against nng built with TSan too (the nng
# variants are built first: instant when built), into build/tsan; tests/tsan.supp names what
# is suppressed in uninstrumented libraries, and why.
tsan:
	@scripts/nng.sh $(NNG_TSAN_DIR) $(NNG_TSAN_OPTS)
	@scripts/nng.sh $(NNG_SMALL_TSAN_DIR) $(NNG_SMALL_OPTS) $(NNG_TSAN_OPTS)
	$(MAKE) B=build/tsan CC=clang OPT="-O1 -g" SAN="-fsanitize=thread" \
	  NNG_DIR=$(NNG_TSAN_DIR) NNG_SMALL_DIR=$(NNG_SMALL_TSAN_DIR) all

check: deps
	$(MAKE) all
	$(MAKE) static
	$(MAKE) asan
	$(MAKE) tsan
	$(MAKE) fuzzers
	tests/check.sh

fuzz: deps fuzzers
	@tests/fuzz/run.sh $(FZ) $(if $(FUZZ_SECONDS),$(FUZZ_SECONDS),120)

demo: deps
	$(MAKE) programs
	@scripts/demo.sh

bench: deps
	$(MAKE) B=build/bench OPT="-O2 -g -DNDEBUG" all
	@tests/bench/run.sh build/bench

soak: deps
	$(MAKE) all
	@tests/run.sh $(B) soak

check-valgrind: deps
	$(MAKE) all
	@tests/run.sh $(B) valgrind

# Fragments add their own steps (units, man pages) to INSTALL_TARGETS.
install: programs $(INSTALL_TARGETS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/

doc-flags: programs
	/usr/bin/python3 tests/doctest/mbdoc.py --build $(B) --flags --write

clean:
	rm -rf build

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Objects of tools are intermediate files to make; keep them for incremental rebuilds.
.SECONDARY:
.PHONY: all programs tests-build nng nng-ok deps asan tsan check fuzz demo bench soak check-valgrind install clean format doc-flags
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
