#!/bin/sh
# static-deps.sh DIR [-DNAME=VALUE ...]: what `make static` links the shim against, built with musl-gcc (Debian's
# musl-tools) into DIR: msgpack-c and nng as static libraries, from Debian's own source packages
# (scripts/debian-source.sh; nng with our patches, by scripts/nng.sh), and DIR/include holding
# the kernel's uapi headers, which musl-gcc leaves out. Idempotent: instant and offline once built.
set -e
[ $# -ge 1 ] || { echo "usage: static-deps.sh DIR [-DNAME=VALUE ...]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; shift
case $dir in /*) ;; *) dir=$top/$dir ;; esac
cc=${MUSL_CC:-musl-gcc}
command -v "$cc" >/dev/null 2>&1 || { echo "static-deps.sh: $cc missing: run scripts/deps.sh (musl-tools)" >&2; exit 1; }
command -v cmake >/dev/null 2>&1 || { echo "static-deps.sh: cmake missing: run scripts/deps.sh" >&2; exit 1; }
mkdir -p "$dir/include"
exec 9>"$dir/.lock" # two makes at once wait for each other
flock 9

# musl-gcc searches musl's headers only: add the kernel's (linux/, asm/, asm-generic/), as
# Alpine's linux-headers does. They are the same for any libc.
arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
for h in linux asm-generic; do ln -sfn "/usr/include/$h" "$dir/include/$h"; done
ln -sfn "/usr/include/$arch/asm" "$dir/include/asm"

# cmake_static NAME SRC PREFIX STAMP [-DNAME=VALUE ...]: builds SRC with musl into PREFIX as a
# static library, unless PREFIX/.NAME holds STAMP already.
cmake_static() {
	name=$1 src=$2 prefix=$3 stamp=$4
	shift 4
	[ "$(cat "$prefix/.$name" 2>/dev/null)" = "$stamp" ] && return 0
	b=$dir/build-$name
	rm -rf "$b"
	cmake -S "$src" -B "$b" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DBUILD_SHARED_LIBS=OFF -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib "$@" \
		>"$b.log" 2>&1 || { cat "$b.log" >&2; exit 1; }
	cmake --build "$b" -j "$(nproc 2>/dev/null || echo 2)" >>"$b.log" 2>&1 || { tail -n 40 "$b.log" >&2; exit 1; }
	DESTDIR='' cmake --install "$b" >/dev/null # not make install's DESTDIR: the prefix is ours
	rm -rf "$b" "$b.log"
	echo "$stamp" >"$prefix/.$name"
	echo "static: built $stamp into $prefix" >&2
}

# msgpack-c: the C library only (Debian's msgpack-c is also its C++ headers' source).
src=$top/build/msgpack-c-src
ver=$("$top/scripts/debian-source.sh" msgpack-c "$src")
cmake_static msgpack-c "$src" "$dir" "Debian's msgpack-c $ver with $cc" \
	-DMSGPACK_BUILD_TESTS=OFF -DMSGPACK_BUILD_EXAMPLES=OFF -DMSGPACK_ENABLE_SHARED=OFF

# nng: the same source and patches as the dynamic programs' (scripts/nng.sh), with the options
# given here (the shim's small thread pools), by musl. nng.sh owns its prefix (it starts it
# afresh), hence a directory of its own.
"$top/scripts/nng.sh" "$dir/nng" -DCMAKE_C_COMPILER="$cc" "$@"
