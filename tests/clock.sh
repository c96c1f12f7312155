#!/bin/sh
# clock.sh BUILD [all]: the integration tests that depend on the wall clock, run under faketime
# at the instants where epoch-aligned slots and steps turn over, so that the suite passes at any
# hour. Ends with the totals line "N passed, N failed". With "all": every integration file
# (except those that run Go programs, which libfaketime does not reach) at more instants.
#
# Each file starts at the instant (its whole process tree; only the wall clock is moved:
# FAKETIME_DONT_FAKE_MONOTONIC=1, see tests/integration/run.py and tests/clock/):
# - 23:59:40 UTC on the last day of this month: a 12 h step, a day and a month turn over
#   during the test;
# - 16:40 UTC: a test that looks back over hours spans 12:00 (what a fixed 12 h step split);
# - with "all", also 11:59:40 and 23:59:40 today and 04:40 (a look-back spans 00:00).
B=${1:-build}
cd "$(dirname "$0")/.."
command -v faketime >/dev/null 2>&1 || { echo "clock: faketime missing: run scripts/deps.sh"; echo "0 passed, 1 failed"; exit 1; }

# The tests that depend on slot or step alignment: ranges, windows, roll-ups and the bridge's
# range and DC/OS answers over the last minutes and hours.
FILES="test_agentd_windows.py test_api_range.py"

month_end=$(date -u -d "$(date -u +%Y-%m-01) +1 month -1 day 23:59:40" +%s)
at="$month_end $(date -u -d 'today 16:40:00' +%s)"
if [ "$2" = all ]; then
	FILES=$(cd tests/integration && ls test_*.py | grep -v '^test_api_prometheus.py$')
	at="$at $(date -u -d 'today 11:59:40' +%s) $(date -u -d 'today 23:59:40' +%s) $(date -u -d 'today 04:40:00' +%s)"
fi

pass=0; fail=0
out=$(mktemp)
for t in $at; do
	echo "== integration ($B) with the wall clock at $(date -u -d "@$t" '+%F %T UTC')"
	# shellcheck disable=SC2086
	MB_CLOCK_AT=$t MB_BUILD="$B" /usr/bin/python3 tests/integration/run.py $FILES >"$out" 2>&1
	cat "$out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [ -z "$line" ]; then fail=$((fail + 1)); continue; fi
	p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
	pass=$((pass + p)); fail=$((fail + f))
done
rm -f "$out"
echo "total (clock):"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
