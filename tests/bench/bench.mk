# tests/bench/: the bench tools (load generator, agentd pusher/querier), built with every
# build so that the warnings and sanitizers see them; `make bench` drives them via run.sh.
BENCH_TOOLS := $(B)/bin/tools/blast $(B)/bin/tools/mbload $(B)/bin/tools/rwsink
TOOLS += $(BENCH_TOOLS)
bench-tools: $(BENCH_TOOLS)
.PHONY: bench-tools
$(B)/bin/tools/blast: $(B)/obj/tests/bench/blast.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^
$(B)/bin/tools/mbload: $(B)/obj/tests/bench/mbload.o $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(NNG_LIBS) $(MP_LIBS) -lm
$(B)/bin/tools/rwsink: $(B)/obj/tests/bench/rwsink.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lmicrohttpd -lsnappy -lpthread
