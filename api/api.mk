# api/: metricsbus-api (main.c) and the metricsbus CLI (cli_main.c) share the other files.
API_SRCS := $(filter-out api/main.c api/cli_main.c api/%_test.c,$(wildcard api/*.c))
API_OBJS := $(API_SRCS:%.c=$(B)/obj/%.o) $(UI_ASSETS_OBJ)
$(B)/bin/metricsbus-api: $(B)/obj/api/main.o $(API_OBJS) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lmicrohttpd -lz $(NNG_LIBS) $(MP_LIBS) -lm
$(B)/bin/metricsbus: $(B)/obj/api/cli_main.o $(API_OBJS) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lmicrohttpd -lz $(NNG_LIBS) $(MP_LIBS) -lm

UNIT_TESTS += $(B)/test/api_unit
$(B)/test/api_unit: $(API_OBJS) $(patsubst %.c,$(B)/obj/%.o,$(wildcard api/*_test.c)) $(RUNNER) $(LIBMB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lmicrohttpd -lz $(NNG_LIBS) $(MP_LIBS) -lm

# The fuzz target of the bridge's untrusted input (tests/fuzz/fuzz_http.c).
FUZZ_SRCS_http := api/routes.c api/range.c api/json.c api/prom.c api/gzip.c api/auth.c
FUZZ_LIBS_http := -lz
