#!/bin/sh
# run.sh FUZZDIR SECONDS: runs every built fuzz target for SECONDS from its checked-in corpus
# (tests/fuzz/corpus/NAME; new finds go to build/fuzz/corpus/NAME, crashes to build/fuzz/),
# then replays tests/fuzz/regress/NAME/* (inputs that once crashed). Fails on any crash.
FZ=${1:-build/fuzz}; SECS=${2:-120}
cd "$(dirname "$0")/../.."
pass=0; fail=0
for f in "$FZ"/fuzz_*; do
	[ -x "$f" ] || continue
	name=${f##*/fuzz_}
	seed=tests/fuzz/corpus/$name; work=$FZ/corpus/$name
	mkdir -p "$seed" "$work"
	echo "== fuzz $name for ${SECS}s"
	if "$f" -max_total_time="$SECS" -max_len=70000 -rss_limit_mb=1024 -timeout=10 \
		-artifact_prefix="$FZ/crash-$name-" -print_final_stats=0 "$work" "$seed" \
		>"$FZ/$name.log" 2>&1; then
		pass=$((pass + 1)); tail -n 1 "$FZ/$name.log"
	else
		fail=$((fail + 1)); tail -n 40 "$FZ/$name.log"
	fi
	if [ -d tests/fuzz/regress/$name ] && [ -n "$(ls tests/fuzz/regress/$name)" ]; then
		if "$f" tests/fuzz/regress/$name/* >"$FZ/$name.regress.log" 2>&1; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1)); tail -n 40 "$FZ/$name.regress.log"
		fi
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
