#!/bin/sh
# run.sh BUILD: the body of `make bench` (BUILD is the optimised build, build/bench): installs
# the peers (collectd-core, wrk; Etsy statsd from npm), builds the bench tools, runs bench.py.
# QUICK=1: one run per figure and fewer loads (under 3 minutes). BENCH_ONLY=agentd,queries,api,...
# runs a subset; BENCH_NO_DOC=1 prints the table without rewriting docs/benchmarks.md.
# BASELINE=<git rev>: that revision's programs are built too (its tree from `git archive`, its
# own build dir, the same OPT and nng) and the agentd, queries and api sections run against
# both, interleaved: "before" and "after" side by side in one run.
set -e
B=${1:-build/bench}
cd "$(dirname "$0")/../.."
BENCH=1 scripts/deps.sh
if [ ! -f "$B/npm/node_modules/statsd/stats.js" ]; then
	echo "bench: installing Etsy statsd from the npm registry into $B/npm"
	mkdir -p "$B/npm"
	npm install --silent --no-audit --no-fund --prefix "$B/npm" statsd >/dev/null
fi
# blast is built with every build; mbload too once the bus client links (tolerated if not).
make -s B="$B" OPT="-O2 -g -DNDEBUG" "$B/bin/tools/blast"
make -s B="$B" OPT="-O2 -g -DNDEBUG" "$B/bin/tools/mbload" ||
	echo "bench: mbload did not build: metricsbus figures will be missing" >&2
make -s B="$B" OPT="-O2 -g -DNDEBUG" "$B/bin/tools/rwsink" ||
	echo "bench: rwsink did not build: the remote write figures will be missing" >&2
set --
if [ -n "$BASELINE" ]; then
	rev=$(git rev-parse --verify "$BASELINE^{commit}")
	short=$(git rev-parse --short "$rev")
	src="$B/baseline/$rev"
	if [ ! -f "$src/Makefile" ]; then
		echo "bench: extracting $short into $src"
		rm -rf "$src" && mkdir -p "$src"
		git archive "$rev" | tar -x -C "$src"
	fi
	# The dashboard's npm packages and the patched nng are the same for both: not fetched again.
	[ -e "$src/ui/node_modules" ] || ln -s "$PWD/ui/node_modules" "$src/ui/node_modules"
	echo "bench: building the baseline $short (programs only) in $src/build"
	make -s -j2 -C "$src" B=build OPT="-O2 -g -DNDEBUG" NNG_DIR="$PWD/build/nng" \
		NNG_SMALL_DIR="$PWD/build/nng-small" programs
	set -- --baseline "$src/build" --baseline-rev "$short"
fi
exec /usr/bin/python3 tests/bench/bench.py "$B" ${QUICK:+--quick} ${BENCH_ONLY:+--only "$BENCH_ONLY"} ${BENCH_NO_DOC:+--no-doc} "$@"
