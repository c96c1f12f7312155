# bus/: the shared library, linked statically into every program.
BUS_SRCS := $(filter-out bus/%_test.c,$(wildcard bus/*.c))
BUS_OBJS := $(BUS_SRCS:%.c=$(B)/obj/%.o)
$(LIBMB): $(BUS_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

UNIT_TESTS += $(B)/test/bus_unit
$(B)/test/bus_unit: $(patsubst %.c,$(B)/obj/%.o,$(wildcard bus/*_test.c)) $(RUNNER) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(NNG_LIBS) $(MP_LIBS) -lm
