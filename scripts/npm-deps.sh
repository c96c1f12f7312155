#!/bin/sh
# npm-deps.sh: installs the dashboard's chart library (uPlot) and the browser-test driver
# (puppeteer-core) from the npm registry into ui/node_modules, exactly as ui/package-lock.json
# pins them. Idempotent: does nothing (and needs no network) when they are there.
set -e
cd "$(dirname "$0")/../ui"
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ] &&
	[ -f node_modules/uplot/dist/uPlot.iife.min.js ]; then
	exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm-deps: npm missing: run scripts/deps.sh as root" >&2; exit 1; }
echo "npm-deps: npm ci in ui/"
# No download from a lifecycle script: puppeteer-core fetches no browser, tests use Debian's.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
touch "$stamp"
