# shim/: metricsbus-shim.
SHIM_SRCS := $(filter-out shim/main.c shim/%_test.c,$(wildcard shim/*.c))
SHIM_OBJS := $(SHIM_SRCS:%.c=$(B)/obj/%.o)
$(B)/bin/metricsbus-shim: $(B)/obj/shim/main.o $(SHIM_OBJS) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(NNG_SHIM_LIBS) $(MP_LIBS) -lm

UNIT_TESTS += $(B)/test/shim_unit
$(B)/test/shim_unit: $(SHIM_OBJS) $(patsubst %.c,$(B)/obj/%.o,$(wildcard shim/*_test.c)) $(RUNNER) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(NNG_LIBS) $(MP_LIBS) -lm

# The parser and aggregator are fuzzed by tests/fuzz/fuzz_statsd.c.
FUZZ_SRCS_statsd := shim/parse.c shim/agg.c
