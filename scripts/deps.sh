#!/bin/sh
# deps.sh: installs the Debian packages that build, test, demo and bench need, when missing,
# and builds the fixed nng when the system's is older than 1.9 (scripts/nng.sh).
# Idempotent: does nothing (and needs no network) when everything is there.
set -e
PKGS="gcc make pkg-config clang libclang-rt-14-dev liblmdb-dev lmdb-utils libnng-dev
libmsgpack-dev libmicrohttpd-dev libyaml-dev zlib1g-dev libcurl4-openssl-dev libsnappy-dev
libprotobuf-c-dev protobuf-c-compiler python3 python3-statsd python3-flask
python3-requests curl netcat-openbsd procps tmux prometheus iproute2 util-linux chromium
cmake dpkg-dev patch faketime golang-go
musl-tools g++ busybox-static python3-yaml"
[ -n "$BENCH" ] && PKGS="$PKGS collectd-core wrk"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# Node.js brings its own npm (a Debian 'npm' would conflict): install nodejs only when absent.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "deps: not root; install these first: apt-get install$missing" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing
fi
# The dashboard's chart library and the browser-test driver come from the npm registry.
"$(dirname "$0")/npm-deps.sh"

# nng: a system nng from 1.9 has the fixes and sizes its thread pools at run time; an older one
# (Debian 12's 1.5.2) is replaced by its own source package built with our fixes (make nng:
# build/nng and, for the shim, build/nng-small). See docs/dependencies.md.
set -- $(printf '#include <nng/nng.h>\nNNG_MAJOR_VERSION NNG_MINOR_VERSION\n' | cc -E -P -x c - 2>/dev/null | tail -n 1)
major=${1:-0} minor=${2:-0}
case "$major$minor" in *[!0-9]*) major=0 minor=0 ;; esac # no nng.h: the macros stay words
if [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge 9 ]; }; then
	exit 0
fi
cd "$(dirname "$0")/.."
exec make -s nng
