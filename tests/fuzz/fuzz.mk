# Fuzzing: every tests/fuzz/fuzz_NAME.c is a libFuzzer target built with clang from its own
# source, all of bus/, and FUZZ_SRCS_NAME (set by the fragment that owns what it fuzzes, e.g.
# FUZZ_SRCS_statsd := shim/parse.c in shim/shim.mk). Corpus: tests/fuzz/corpus/NAME/.
FZ       := build/fuzz
FZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Ibus $(NNG_CFLAGS) -fsanitize=fuzzer,address,undefined \
            -fno-sanitize-recover=all
FUZZERS  := $(patsubst tests/fuzz/fuzz_%.c,$(FZ)/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
fuzzers: $(FUZZERS)
.SECONDEXPANSION:
$(FZ)/fuzz_%: tests/fuzz/fuzz_%.c $(BUS_SRCS) $$(FUZZ_SRCS_$$*) bus/mb.h | nng-ok
	@mkdir -p $(@D)
	clang $(FZ_FLAGS) -o $@ $< $(BUS_SRCS) $(FUZZ_SRCS_$*) $(NNG_LIBS) $(MP_LIBS) $(FUZZ_LIBS_$*) -lm
.PHONY: fuzzers
