#!/bin/sh
# nng.sh PREFIX [-DNAME=VALUE ...]: builds Debian's own nng source package with our patches
# (scripts/nng-patches/) as a static library into PREFIX; the -D arguments go to cmake.
#
# Why: Debian 12's libnng (1.5.2) has bugs we cannot work around from outside (see
# docs/dependencies.md, "nng"); upstream fixed them in 1.6.0, and Debian 12 has no newer nng.
# The source comes from the machine's own Debian mirror through apt, which checks it against
# the signed index: a deb-src list is derived from the deb lines the machine already has, in a
# temporary apt state that leaves the system's untouched. Nothing of nng's is in this
# repository but our patches. Idempotent: a second run with the same patches and options
# does nothing, offline.
set -e
[ $# -ge 1 ] || { echo "usage: nng.sh PREFIX [--with-patch=FILE ...] [-DNAME=VALUE ...]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
prefix=$1; shift
case $prefix in /*) ;; *) prefix=$top/$prefix ;; esac
patches=$top/scripts/nng-patches
src=$top/build/nng-src
# --with-patch=FILE (in scripts/nng-patches/): applied after the series, for this build only.
extras=""
for a in "$@"; do
	shift
	case $a in
	--with-patch=*) extras="$extras ${a#--with-patch=}" ;;
	*) set -- "$@" "$a" ;;
	esac
done

# The stamp names everything the result depends on; an equal stamp means nothing to do.
pstamp=$( (cat "$patches"/series; echo "$extras"; for p in $(grep -v '^#' "$patches"/series) $extras; do
	cat "$patches/$p"; done) | cksum | cut -d' ' -f1)
stamp=$(echo "$pstamp $*" | cksum | cut -d' ' -f1)
[ -f "$prefix/lib/libnng.a" ] && [ "$(cat "$prefix/.stamp" 2>/dev/null)" = "$stamp" ] && exit 0

mkdir -p "$top/build"
exec 9>"$top/build/.nng.lock" # two builds at once (make -j, two checks) wait for each other
flock 9
[ -f "$prefix/lib/libnng.a" ] && [ "$(cat "$prefix/.stamp" 2>/dev/null)" = "$stamp" ] && exit 0

for tool in apt-get dpkg-source patch cmake cc; do
	command -v $tool >/dev/null 2>&1 || { echo "nng.sh: $tool missing: run scripts/deps.sh" >&2; exit 1; }
done

# 1. The source package, once: Debian's orig tarball with Debian's own patches applied, fetched
# by apt from the machine's configured Debian mirror (scripts/debian-source.sh).
ver=$("$top/scripts/debian-source.sh" nng "$src/pkg")

# 2. Our patches, on a fresh copy so that a changed series starts clean.
tree=$src/tree-$pstamp
if [ ! -f "$tree/.patched" ]; then
	rm -rf "$src"/tree-*
	cp -a "$src/pkg" "$tree"
	names=""
	for p in $(grep -v '^#' "$patches"/series) $extras; do
		patch -d "$tree" -p1 --batch --forward --quiet --no-backup-if-mismatch <"$patches/$p" ||
			{ echo "nng.sh: $p does not apply to nng $ver" >&2; exit 1; }
		names="$names${names:+ }${p%.patch}"
	done
	echo "$names" >"$tree/.patches"
	touch "$tree/.patched"
fi

# 3. A static library without TLS, tests or tools, and the header that names what it is.
bdir=$tree/build-$(echo "$prefix" | cksum | cut -d' ' -f1)
jobs=$(nproc 2>/dev/null || echo 2)
rm -rf "$bdir" "$prefix"
cmake -S "$tree" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_SHARED_LIBS=OFF \
	-DNNG_ENABLE_TLS=OFF -DNNG_TESTS=OFF -DNNG_TOOLS=OFF -DNNG_ENABLE_NNGCAT=OFF \
	-DNNG_ENABLE_HTTP=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
	-DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib "$@" >"$bdir.log" 2>&1 ||
	{ cat "$bdir.log" >&2; exit 1; }
cmake --build "$bdir" -j "$jobs" >>"$bdir.log" 2>&1 ||
	{ tail -n 40 "$bdir.log" >&2; exit 1; }
# DESTDIR (from `make install DESTDIR=...`) would move the prefix: it is not ours.
DESTDIR= cmake --install "$bdir" >/dev/null
rm -rf "$bdir"
cat >"$prefix/include/nng/mb_patches.h" <<EOF
/* mb_patches.h: written by metricsbus's scripts/nng.sh: this nng is Debian's source package
 * $ver, built here with metricsbus's fixes (scripts/nng-patches/). */
#define MB_NNG_DEBIAN_VERSION "$ver"
#define MB_NNG_PATCHES "$(cat "$tree/.patches")"
#define MB_NNG_BUILD_OPTIONS "$*"
EOF
echo "$stamp" >"$prefix/.stamp"
echo "nng: built Debian's nng $ver with: $(cat "$tree/.patches")${*:+ ($*)} into $prefix"
