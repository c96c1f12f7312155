# ui/: the dashboard served at /ui/ by metricsbus-api. Its own files (index.html, app.js,
# style.css) and uPlot from npm (installed into ui/node_modules by scripts/npm-deps.sh) are
# compiled into the binary by ui/embed.c.
UI_OWN   := ui/index.html ui/app.js ui/style.css
UPLOT    := ui/node_modules/uplot/dist
UI_EMBED := /ui/=ui/index.html /ui/app.js=ui/app.js /ui/style.css=ui/style.css \
            /ui/uplot.js=$(UPLOT)/uPlot.iife.min.js /ui/uplot.css=$(UPLOT)/uPlot.min.css
UI_ASSETS_OBJ := $(B)/obj/ui/assets.o

$(UPLOT)/uPlot.iife.min.js $(UPLOT)/uPlot.min.css: ui/package.json ui/package-lock.json
	@scripts/npm-deps.sh

$(B)/bin/tools/embed: ui/embed.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(B)/gen/ui/assets.c: $(B)/bin/tools/embed $(UI_OWN) $(UPLOT)/uPlot.iife.min.js $(UPLOT)/uPlot.min.css
	@mkdir -p $(@D)
	$(B)/bin/tools/embed $(UI_EMBED) > $@.tmp && mv $@.tmp $@

$(UI_ASSETS_OBJ): $(B)/gen/ui/assets.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iapi -c $< -o $@
