# scripts/install.mk: what `make install` adds beyond the binaries: man pages rendered from
# each program's --help, the bridge's systemd unit, and the docs under share/doc laid out as in
# the repository (README.md, docs/ with its examples, schemas/v1/README.md), so every link
# between them works installed.
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/metricsbus
MAN_PAGES := $(PROGRAMS:$(B)/bin/%=$(B)/man/%.1)
INSTALL_TARGETS += install-man install-api-unit install-docs

$(B)/man/%.1: $(B)/bin/% scripts/man.sh
	@mkdir -p $(@D)
	@# a temporary file of this make's own: tests run make install and make release side by side
	scripts/man.sh $< 1 > $@.$$$$.tmp && mv $@.$$$$.tmp $@

man: $(MAN_PAGES)

install-man: $(MAN_PAGES)
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man1/

# The unit names /usr/local/bin; point it at where the binaries really go.
install-api-unit: docs/examples/systemd/metricsbus-api.service
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/usr/local/share/|$(PREFIX)/share/|g' \
	  $< > $(DESTDIR)$(UNITDIR)/metricsbus-api.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/metricsbus-api.service

DOC_DEST = $(abspath $(DESTDIR)$(DOCDIR))
install-docs: install-examples
	install -d $(DOC_DEST)/docs $(DOC_DEST)/schemas/v1
	install -m 0644 README.md $(DOC_DEST)/
	install -m 0644 docs/*.md docs/*.png $(DOC_DEST)/docs/
	install -m 0644 schemas/v1/README.md $(DOC_DEST)/schemas/v1/

EXAMPLES_DEST = $(DOC_DEST)/docs/examples
install-examples:
	install -d $(EXAMPLES_DEST)
	cd docs/examples && find . -name __pycache__ -prune -o -type d -exec install -d $(EXAMPLES_DEST)/{} \;
	cd docs/examples && find . -name __pycache__ -prune -o -type f -exec install -m 0644 {} $(EXAMPLES_DEST)/{} \;

.PHONY: man install-man install-api-unit install-examples install-docs
