# tests/: the unit runner, test tools (small C programs the integration tests drive).
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOLS += $(TOOL_SRCS:tests/tools/%.c=$(B)/bin/tools/%)
$(B)/bin/tools/%: $(B)/obj/tests/tools/%.o $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(NNG_LIBS) $(MP_LIBS) -lm
