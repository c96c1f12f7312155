# agentd/: metricsbus-agentd.
AGENTD_SRCS := $(filter-out agentd/main.c agentd/%_test.c,$(wildcard agentd/*.c))
# Remote write's protobuf messages: C generated at build time by protoc-c from our .proto.
AGENTD_GEN  := $(B)/gen/agentd
AGENTD_OBJS := $(AGENTD_SRCS:%.c=$(B)/obj/%.o) $(B)/obj/gen/agentd/remote.pb-c.o
AGENTD_LIBS := -llmdb -lyaml $(NNG_LIBS) $(MP_LIBS) -lcurl -lsnappy -lprotobuf-c -lm
# one run makes both files (a grouped target: make -j would otherwise run protoc-c once per
# file, and the second run, newer than the objects, made every later make rebuild agentd)
$(AGENTD_GEN)/remote.pb-c.c $(AGENTD_GEN)/remote.pb-c.h &: agentd/remote.proto
	@mkdir -p $(AGENTD_GEN)
	protoc-c --proto_path=agentd --c_out=$(AGENTD_GEN) agentd/remote.proto
$(B)/obj/gen/agentd/remote.pb-c.o: $(AGENTD_GEN)/remote.pb-c.c
	@mkdir -p $(@D)
	$(CC) -std=c11 $(OPT) $(SAN) -I$(AGENTD_GEN) -c $< -o $@
$(B)/obj/agentd/rw_encode.o $(B)/obj/agentd/rw_test.o: $(AGENTD_GEN)/remote.pb-c.h
$(B)/obj/agentd/rw_encode.o $(B)/obj/agentd/rw_test.o: CFLAGS += -I$(AGENTD_GEN)
$(B)/bin/metricsbus-agentd: $(B)/obj/agentd/main.o $(AGENTD_OBJS) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(AGENTD_LIBS)

# --verify-peer's cgroup parser (tests/fuzz/fuzz_cgroup.c).
FUZZ_SRCS_cgroup := agentd/peer.c

# The unit tests link env.c built with its fault hooks; the programs never have them.
UNIT_TESTS += $(B)/test/agentd_unit
$(B)/obj/agentd/env_hooks.o: agentd/env.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DAGENT_TEST_HOOKS -c $< -o $@
$(B)/test/agentd_unit: $(filter-out %/env.o,$(AGENTD_OBJS)) $(B)/obj/agentd/env_hooks.o $(patsubst %.c,$(B)/obj/%.o,$(wildcard agentd/*_test.c)) $(RUNNER) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(AGENTD_LIBS)

# make install: the systemd unit (pointed at PREFIX) and the tmpfiles.d snippet for the run dir.
AGENTD_UNITDIR    ?= $(PREFIX)/lib/systemd/system
AGENTD_TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
INSTALL_TARGETS += install-agentd
install-agentd: agentd/metricsbus-agentd.service agentd/metricsbus.tmpfiles
	install -d $(DESTDIR)$(AGENTD_UNITDIR) $(DESTDIR)$(AGENTD_TMPFILESDIR)
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/usr/local/share/|$(PREFIX)/share/|g' \
	  agentd/metricsbus-agentd.service > $(DESTDIR)$(AGENTD_UNITDIR)/metricsbus-agentd.service
	chmod 0644 $(DESTDIR)$(AGENTD_UNITDIR)/metricsbus-agentd.service
	install -m 0644 agentd/metricsbus.tmpfiles $(DESTDIR)$(AGENTD_TMPFILESDIR)/metricsbus.conf
.PHONY: install-agentd

# The store's micro-benchmark (make bench runs it): points/s committed, bytes on disk.
TOOLS += $(B)/bin/tools/agentd-store-bench
$(B)/bin/tools/agentd-store-bench: $(B)/obj/agentd/bench/store_bench.o $(AGENTD_OBJS) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(AGENTD_LIBS)

# --mapping: names through the rules, and mapping files (tests/fuzz/fuzz_mapping.c).
FUZZ_SRCS_mapping := $(filter-out %_test.c,$(wildcard agentd/mapping*.c)) agentd/batch.c
FUZZ_LIBS_mapping := -lyaml
