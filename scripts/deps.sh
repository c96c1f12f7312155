#!/bin/sh
# deps.sh: installs the Debian packages that build, test, demo and bench need, when missing.
# Idempotent: does nothing (and needs no network) when everything is there.
set -e
PKGS="gcc make pkg-config clang libclang-rt-14-dev liblmdb-dev lmdb-utils libnng-dev
libmsgpack-dev libmicrohttpd-dev zlib1g-dev python3 python3-statsd python3-flask
python3-requests curl netcat-openbsd procps tmux prometheus iproute2 util-linux chromium"
[ -n "$BENCH" ] && PKGS="$PKGS collectd-core wrk"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# Node.js brings its own npm (a Debian 'npm' would conflict): install nodejs only when absent.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
# The dashboard's chart library and the browser-test driver come from the npm registry.
npm_deps() { "$(dirname "$0")/npm-deps.sh"; }
if [ -z "$missing" ]; then
	npm_deps
	exit 0
fi
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: not root; install these first: apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
npm_deps
