#!/bin/sh
# run.sh BUILD: the body of `make bench` (BUILD is the optimised build, build/bench): installs
# the peers (collectd-core, wrk; Etsy statsd from npm), builds the bench tools, runs bench.py.
# QUICK=1: one run per figure and fewer loads (under 3 minutes). BENCH_ONLY=ingest,api,...
# runs a subset; BENCH_NO_DOC=1 prints the table without rewriting docs/benchmarks.md.
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
exec /usr/bin/python3 tests/bench/bench.py "$B" ${QUICK:+--quick} ${BENCH_ONLY:+--only "$BENCH_ONLY"} ${BENCH_NO_DOC:+--no-doc}
