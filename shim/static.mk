# shim/static.mk: `make static`: build/static/metricsbus-shim, the shim as one statically linked,
# stripped binary with no runtime library (musl, and musl builds of nng and msgpack-c that
# scripts/static-deps.sh makes from Debian's source packages), for any container image.
STATIC      := build/static
STATIC_DEPS := $(STATIC)/deps
MUSL_CC     ?= musl-gcc
STATIC_MAX  := 2097152
# `make install STATIC_SHIM=0` installs without it (no musl-tools needed).
STATIC_SHIM ?= 1

# The shim's own sources, compiled again by an inner make into build/static with musl-gcc.
STATIC_NNG  := $(STATIC_DEPS)/nng/lib/libnng.a -lpthread
static:
	@scripts/static-deps.sh $(STATIC_DEPS) $(NNG_SMALL_OPTS)
	@$(MAKE) --no-print-directory B=$(STATIC) CC=$(MUSL_CC) SAN= \
	  NNG_DIR=$(STATIC_DEPS)/nng NNG_SMALL_DIR=$(STATIC_DEPS)/nng \
	  NNG_LIBS="$(STATIC_NNG)" NNG_SHIM_LIBS="$(STATIC_NNG)" MP_LIBS=$(STATIC_DEPS)/lib/libmsgpackc.a \
	  EXTRA_CFLAGS="-isystem $(STATIC_DEPS)/include -isystem $(STATIC_DEPS)/nng/include" \
	  EXTRA_LDFLAGS=-static $(STATIC)/metricsbus-shim

# Only the inner make (B=build/static) has a rule for $(B)/bin/metricsbus-shim built with musl.
$(STATIC)/metricsbus-shim: $(STATIC)/bin/metricsbus-shim
	strip -o $@.tmp $<
	@size=$$(stat -c %s $@.tmp); echo "static: $@: $$size bytes stripped (limit $(STATIC_MAX))"; \
	  if [ $$size -ge $(STATIC_MAX) ]; then rm -f $@.tmp; echo "static: over the size limit" >&2; exit 1; fi
	mv $@.tmp $@

ifeq ($(STATIC_SHIM),1)
INSTALL_TARGETS += install-static
endif
install-static: static
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(STATIC)/metricsbus-shim $(DESTDIR)$(PREFIX)/bin/metricsbus-shim-static

.PHONY: static install-static
