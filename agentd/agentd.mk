# agentd/: metricsbus-agentd.
AGENTD_SRCS := $(filter-out agentd/main.c agentd/%_test.c,$(wildcard agentd/*.c))
AGENTD_OBJS := $(AGENTD_SRCS:%.c=$(B)/obj/%.o)
$(B)/bin/metricsbus-agentd: $(B)/obj/agentd/main.o $(AGENTD_OBJS) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -llmdb $(NNG_LIBS) $(MP_LIBS) -lm

UNIT_TESTS += $(B)/test/agentd_unit
$(B)/test/agentd_unit: $(AGENTD_OBJS) $(patsubst %.c,$(B)/obj/%.o,$(wildcard agentd/*_test.c)) $(RUNNER) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -llmdb $(NNG_LIBS) $(MP_LIBS) -lm
