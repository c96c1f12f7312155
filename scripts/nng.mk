# nng.mk: which nng the programs link. scripts/deps.sh builds Debian's nng 1.5.2 with our fixes
# (scripts/nng.sh) into build/nng (pools sized to the machine: agentd, bridge, CLI, tests) and
# build/nng-small (small fixed pools: the shim); a system nng is accepted only from 1.9, which
# has the fixes and sizes its pools at run time. Never the unpatched 1.5.x (docs/dependencies.md).
NNG_DIR       ?= build/nng
NNG_SMALL_DIR ?= build/nng-small
# The shim's pools: 2 task threads (nng's minimum against deadlocks), 1 expire, 1 resolver
# started only if a name is ever looked up (tcp://; ipc needs none).
NNG_SMALL_OPTS := --with-patch=small-resolver-on-first-use.patch \
                  -DNNG_NUM_TASKQ_THREADS=2 -DNNG_MAX_TASKQ_THREADS=2 -DNNG_RESOLV_CONCURRENCY=1 \
                  -DCMAKE_C_FLAGS=-DNNG_EXPIRE_THREADS=1
# make tsan's two: the same, built by clang with -fsanitize=thread, so that ThreadSanitizer
# sees nng's own locks and threads rather than guessing at an uninstrumented library.
NNG_TSAN_DIR       := build/nng-tsan
NNG_SMALL_TSAN_DIR := build/nng-small-tsan
NNG_TSAN_OPTS      := -DCMAKE_C_COMPILER=clang -DNNG_SANITIZER=thread
ifneq ($(wildcard $(NNG_DIR)/include/nng/mb_patches.h),)
NNG_CFLAGS    := -I$(NNG_DIR)/include
NNG_LIBS      := $(NNG_DIR)/lib/libnng.a -lpthread
NNG_SHIM_LIBS := $(NNG_SMALL_DIR)/lib/libnng.a -lpthread
NNG_ERROR     := $(if $(wildcard $(NNG_SMALL_DIR)/include/nng/mb_patches.h),,$(NNG_SMALL_DIR) is missing)
else
NNG_CFLAGS    :=
NNG_LIBS      := $(shell pkg-config --libs nng 2>/dev/null || echo -lnng) -lpthread
NNG_SHIM_LIBS := $(NNG_LIBS)
NNG_SYSVER    := $(shell printf '\043include <nng/nng.h>\nNNG_MAJOR_VERSION NNG_MINOR_VERSION NNG_PATCH_VERSION\n' | \
                   $(CC) -E -P -x c - 2>/dev/null | tail -n 1)
NNG_ERROR     := $(if $(NNG_SYSVER),$(shell set -- $(NNG_SYSVER); [ "$$1" -gt 1 ] || [ "$$2" -ge 9 ] || \
                   echo "the system nng is $$1.$$2.$$3, which lacks fixes we need"),no nng found)
endif

