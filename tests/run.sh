#!/bin/sh
# run.sh BUILD [soak|valgrind|static|tsan]: every unit binary in BUILD/test, then the integration
# suite against BUILD/bin; ends with the totals line "N passed, N failed" and fails if any failed.
# static: the shim's integration tests again, against build/static/metricsbus-shim (make static).
# tsan (BUILD/tsan, make tsan): the unit binaries and TSAN_TESTS, the integration tests that
# drive agentd's threads (ingest contexts, writer, query workers, mapping reloads), the bridge's
# and the shim's sender, not the whole suite: under ThreadSanitizer it alone took longer than
# make check's budget allows (TSAN_TESTS=all tests/run.sh build/tsan tsan runs every one, for
# a change to threads elsewhere). Every ThreadSanitizer report is a failure.
TSAN_TESTS=${TSAN_TESTS:-"test_agentd_ingest.py test_agentd_life.py test_agentd_mapping.py
test_agentd_sockets.py test_api_prometheus.py test_shim_delivery.py"}
[ "$TSAN_TESTS" = all ] && TSAN_TESTS=
B=${1:-build}
MODE=${2:-}
cd "$(dirname "$0")/.."
pass=0; fail=0
tally() { # reads a runner's output, adds its closing "N passed, N failed"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
	if [ -z "$line" ]; then fail=$((fail + 1)); echo "no result line from $2"; return; fi
	p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
	pass=$((pass + p)); fail=$((fail + f))
}
out=$(mktemp)
if [ "$MODE" = tsan ]; then
	# reports of processes outside a test's stack (those are the test's) land in $reports/run.*
	reports=$PWD/$B/tsan-reports
	rm -rf "$reports"
	mkdir -p "$reports"
	export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp second_deadlock_stack=1 log_path=$reports/run"
fi
if [ -z "$MODE" ] || [ "$MODE" = tsan ]; then
	for t in "$B"/test/*_unit; do
		[ -x "$t" ] || continue
		echo "== $t"
		"$t" >"$out" 2>&1; rc=$?
		cat "$out"; tally "$out" "$t"
		[ $rc -ne 0 ] && ! grep -qE '[1-9][0-9]* failed' "$out" && fail=$((fail + 1))
	done
fi
echo "== integration ($B${MODE:+, $MODE})"
if [ "$MODE" = static ]; then
	if [ ! -x build/static/metricsbus-shim ]; then
		echo "no build/static/metricsbus-shim: run make static"
		echo "0 passed, 1 failed"
		exit 1
	fi
	MB_BUILD="$B" MB_SHIM=build/static/metricsbus-shim /usr/bin/python3 tests/integration/run.py \
		'test_shim_*.py' test_hostile_shim.py test_clients.py test_programs.py >"$out" 2>&1
elif [ "$MODE" = tsan ]; then
	MB_BUILD="$B" /usr/bin/python3 tests/integration/run.py $TSAN_TESTS >"$out" 2>&1
else
	MB_BUILD="$B" MB_MODE="$MODE" /usr/bin/python3 tests/integration/run.py >"$out" 2>&1
fi
cat "$out"; tally "$out" integration
rm -f "$out"
if [ "$MODE" = tsan ]; then
	for r in "$reports"/run.*; do
		[ -s "$r" ] || continue
		echo "ThreadSanitizer report: $r"; head -n 40 "$r"
		fail=$((fail + 1))
	done
fi
echo "total ($B${MODE:+ $MODE}):"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
