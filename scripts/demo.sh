#!/bin/sh
# demo.sh: `make demo`: agentd, the HTTP bridge, and the example Flask app and its poller
# under metricsbus-shim, on a data and run dir under build/demo; runs until Ctrl-C.
#
# Environment: DEMO_SECONDS=N stops by itself after N seconds; DEMO_DIR (default
# build/demo, or $TMPDIR/metricsbus-demo when that path is too long for an ipc socket);
# DEMO_PORT (default 61001, or the next free port); B (build dir, default build).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BIN=$ROOT/${B:-build}/bin
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

say() { printf 'demo: %s\n' "$*"; }
die() {
	printf 'demo: error: %s\n' "$*" >&2
	for f in "$LOGS"/*.log; do # the last words of each process, often the reason
		[ -s "$f" ] && { printf -- '--- %s\n' "$f"; tail -n 3 "$f"; } >&2
	done
	stop_all
	exit 1
}

for p in metricsbus-agentd metricsbus-api metricsbus-shim metricsbus; do
	[ -x "$BIN/$p" ] || { printf 'demo: error: %s missing: run make first\n' "$BIN/$p" >&2; exit 1; }
done
"$PY" -c 'import flask, statsd, requests' 2>/dev/null ||
	{ echo "demo: error: python3-flask, python3-statsd, python3-requests needed: run make deps" >&2; exit 1; }

DIR=${DEMO_DIR:-$ROOT/build/demo}
# An ipc socket path is at most 107 bytes: a deep checkout falls back to $TMPDIR.
if [ ${#DIR} -gt 80 ]; then
	DIR=${TMPDIR:-/tmp}/metricsbus-demo-$(id -u)
fi
RUN=$DIR/run
DATA=$DIR/data
LOGS=$DIR/logs
mkdir -p "$RUN" "$DATA" "$LOGS" || exit 1
# One demo per directory: a second would share agentd's sockets and overwrite the logs.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$DIR/demo.lock"
	flock -n 9 || { echo "demo: error: another demo is running on $DIR (Ctrl-C it first)" >&2; exit 1; }
fi
INGEST=ipc://$RUN/ingest.sock
QUERY=ipc://$RUN/query.sock
export METRICSBUS_RUN_DIR="$RUN"
export PYTHONDONTWRITEBYTECODE=1 # keep docs/examples free of __pycache__
# The demo names its container; a METRICSBUS_CONTAINER_ID from the caller would not matter
# (the flag wins) but other METRICSBUS_* settings would, so drop them all.
for v in $(env | sed -n 's/^\(METRICSBUS_[A-Z_]*\)=.*/\1/p'); do
	[ "$v" = METRICSBUS_RUN_DIR ] || unset "$v"
done

# Pids in start order; stop_all stops them in reverse.
PIDS=""
started() { PIDS="$PIDS $1"; }

port_free() { # port -> exit 0 when 127.0.0.1:port can be bound
	"$PY" -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}
free_port() { # -> an ephemeral port that is free now
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# until DEADLINE_SECONDS WHAT CMD...: polls CMD every 0.2 s; fails the demo at the deadline.
until_ok() {
	limit=$1; what=$2; shift 2
	end=$(($(date +%s) + limit))
	while ! "$@" >/dev/null 2>&1; do
		if [ "$STOP" = 1 ]; then stop_all; exit 130; fi
		[ "$(date +%s)" -ge "$end" ] && die "timed out after ${limit}s waiting for $what (logs in $LOGS)"
		for pid in $PIDS; do
			kill -0 "$pid" 2>/dev/null || die "a process exited early while waiting for $what; see $LOGS"
		done
		sleep 0.2
	done
}

stop_one() { # pid: TERM, up to 10 s, then KILL; always reaped
	kill -TERM "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return; }
	n=0
	while kill -0 "$1" 2>/dev/null && [ $n -lt 50 ]; do
		sleep 0.2; n=$((n + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		say "pid $1 did not stop in 10s: killing it"
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
}

STOPPED=0
stop_all() {
	[ "$STOPPED" = 1 ] && return
	STOPPED=1
	[ -n "$PIDS" ] && say "stopping (poller, app, bridge, agentd)..."
	rev=""
	for pid in $PIDS; do rev="$pid $rev"; done
	for pid in $rev; do stop_one "$pid"; done
	PIDS=""
	say "stopped. The data is in $DATA (logs in $LOGS); make demo again resumes on it."
}

STOP=0
trap 'STOP=1' INT TERM HUP
trap 'stop_all' EXIT

# Ports: the bridge's 61001 unless taken, then the next free one; the app's any free one.
PORT=${DEMO_PORT:-61001}
while ! port_free "$PORT"; do
	PORT=$((PORT + 1))
	[ "$PORT" -gt 61100 ] && die "no free port in 61001-61100"
done
APP_PORT=$(free_port)
BASE=http://127.0.0.1:$PORT

say "data in $DATA, sockets in $RUN, logs in $LOGS"
"$BIN/metricsbus-agentd" --data-dir "$DATA" --ingest "$INGEST" --query "$QUERY" \
	>"$LOGS/agentd.log" 2>&1 9>&- &
started $!
until_ok 20 "agentd" "$BIN/metricsbus" --query "$QUERY" containers

"$BIN/metricsbus-api" --listen "127.0.0.1:$PORT" --query "$QUERY" >"$LOGS/api.log" 2>&1 9>&- &
started $!
until_ok 20 "the HTTP bridge on $BASE" curl -fsS -o /dev/null "$BASE/system/v1/metrics/v0/ping"

# The app and its poller, each in its own shim as each would be in its own container
# entrypoint; both report as the container demo-app.
APP_PORT=$APP_PORT PYTHONUNBUFFERED=1 "$BIN/metricsbus-shim" --agent "$INGEST" \
	--flush-interval 2s --container-id demo-app --dimension task_name=demo-app -- \
	"$PY" "$ROOT/docs/examples/app/app.py" >"$LOGS/app.log" 2>&1 9>&- &
started $!
until_ok 20 "the demo app on port $APP_PORT" curl -fsS -o /dev/null "http://127.0.0.1:$APP_PORT/health"

APP_URL=http://127.0.0.1:$APP_PORT/ "$BIN/metricsbus-shim" --agent "$INGEST" \
	--flush-interval 2s --container-id demo-app --dimension task_name=demo-app -- \
	"$PY" "$ROOT/docs/examples/app/poller.py" >"$LOGS/poller.log" 2>&1 9>&- &
started $!

APPURL=$BASE/system/v1/metrics/v0/containers/demo-app/app
# Fresh points only: a store kept from an earlier demo may still hold the metric.
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
has_latency() {
	curl -fsS "$APPURL" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)["datapoints"]
sys.exit(not any(p["name"] == "testapp.response.latency" and p["timestamp"] > sys.argv[1] for p in d))' "$START"
}
say "waiting for testapp.response.latency to arrive..."
until_ok 60 "testapp.response.latency at $APPURL" has_latency

cat <<EOF

  metricsbus is up: the demo app's metrics, through shim -> agentd -> bridge.

  The dashboard (open it in a browser):
    $BASE/ui/#/container/demo-app
  The app's statsd metrics (DC/OS metrics API v0):
    curl $APPURL
  One metric (its derived names too: .count, .p99, ...):
    curl $APPURL/testapp.response.latency
  Prometheus exposition of every series:
    curl $BASE/metrics
  The latency's p99 over the last 15 minutes:
    curl '$BASE/v1/range?source=demo-app&name=testapp.response.latency&from=-15m&to=now&step=10s&stat=p99'
  Node metrics:
    curl $BASE/system/v1/metrics/v0/node
  A live view in the terminal:
    $BIN/metricsbus --query $QUERY top

EOF
if [ -n "${DEMO_SECONDS:-}" ]; then
	say "running for ${DEMO_SECONDS}s (DEMO_SECONDS)"
	END=$(($(date +%s) + DEMO_SECONDS))
else
	say "running; press Ctrl-C to stop"
	END=""
fi
while [ "$STOP" = 0 ]; do
	[ -n "$END" ] && [ "$(date +%s)" -ge "$END" ] && break
	for pid in $PIDS; do
		[ "$STOP" = 1 ] && break
		kill -0 "$pid" 2>/dev/null || { say "pid $pid exited on its own; see $LOGS"; STOP=1; }
	done
	# A waited-for background sleep: the INT/TERM trap runs at once, not after the sleep.
	sleep 1 &
	SLEEPER=$!
	wait "$SLEEPER" 2>/dev/null
	kill "$SLEEPER" 2>/dev/null
	wait "$SLEEPER" 2>/dev/null
done
stop_all
