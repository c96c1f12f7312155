# scripts/release.mk: `make release`: what a release ships, into build/release: the programs
# as `make install` lays them out under /usr/local (the static shim included) in one tarball,
# the static shim again on its own, as tini ships tini-static (a container image or a Mesos
# fetch needs only that file), and their SHA256SUMS.
VERSION      := $(shell sed -n 's/^\#define MB_VERSION "\(.*\)"/\1/p' bus/mb.h)
ARCH         := $(shell dpkg --print-architecture 2>/dev/null || uname -m)
RELEASE_DIR  ?= build/release
RELEASE_TAR  := metricsbus-$(VERSION)-linux-$(ARCH).tar.gz
RELEASE_SHIM := metricsbus-shim-static-$(VERSION)-linux-$(ARCH)

release: programs static
	rm -rf $(RELEASE_DIR) && mkdir -p $(RELEASE_DIR)
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(RELEASE_DIR))/stage PREFIX=/usr/local
	tar -C $(RELEASE_DIR)/stage --sort=name --owner=0 --group=0 --numeric-owner -czf $(RELEASE_DIR)/$(RELEASE_TAR) usr
	install -m 0755 $(STATIC)/metricsbus-shim $(RELEASE_DIR)/$(RELEASE_SHIM)
	rm -rf $(RELEASE_DIR)/stage
	cd $(RELEASE_DIR) && sha256sum $(RELEASE_TAR) $(RELEASE_SHIM) > SHA256SUMS
	@echo "release: $(RELEASE_DIR): $(RELEASE_TAR), $(RELEASE_SHIM), SHA256SUMS"

.PHONY: release
