#!/bin/sh
# check.sh: what `make check` runs once everything is built: the suite against the normal
# build, agentd's layers and sizes (tests/layers.py), the shim's part of it again against the
# static shim, the tests that depend on the wall clock again under faketime at day and month
# boundaries (tests/clock.sh), the suite against the ASan+UBSan build, the unit tests and agentd's
# threaded integration tests against the ThreadSanitizer build (tests/run.sh names them), each
# fuzz target for a few seconds; then the grand total as the last line, "check: N passed, N failed".
cd "$(dirname "$0")/.."
out=$(mktemp)
pass=0; fail=0; rc=0
phase() { # runs one phase, shows its output, adds its closing "N passed, N failed"
	"$@" >"$out" 2>&1 || rc=1
	cat "$out"
	line=$(grep -E '^(fuzz: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1 | sed 's/^fuzz: //')
	if [ -z "$line" ]; then echo "check: no result from: $*"; fail=$((fail + 1)); return; fi
	p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
	pass=$((pass + p)); fail=$((fail + f))
}
phase tests/run.sh build
phase /usr/bin/python3 tests/layers.py build
phase tests/run.sh build static
phase tests/clock.sh build
phase tests/run.sh build/asan
phase tests/run.sh build/tsan tsan
phase tests/fuzz/run.sh build/fuzz "${FUZZ_SECONDS:-4}"
rm -f "$out"
[ "$fail" -ne 0 ] && rc=1
echo "check: $pass passed, $fail failed"
exit $rc
