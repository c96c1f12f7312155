#!/bin/sh
# debian-source.sh PKG DIR: unpacks Debian's own source package PKG (the version of the
# machine's release, Debian's patches applied) into DIR, once; prints DIR's Debian version.
#
# The source comes from the machine's own Debian mirror through apt, which checks it against
# the signed index: a deb-src list is derived from the deb lines the machine already has, in a
# temporary apt state that leaves the system's untouched. Idempotent and offline once DIR is
# there (a new PKG version in the mirror is not looked for: remove DIR to refetch).
set -e
[ $# -eq 2 ] || { echo "usage: debian-source.sh PKG DIR" >&2; exit 2; }
pkg=$1 dir=$2
if [ ! -f "$dir/.unpacked" ]; then
	for tool in apt-get dpkg-source; do
		command -v $tool >/dev/null 2>&1 ||
			{ echo "debian-source.sh: $tool missing: run scripts/deps.sh" >&2; exit 1; }
	done
	t=$(mktemp -d)
	trap 'rm -rf "$t"' EXIT
	# deb-src twins of the machine's configured Debian deb lines (main mirror, updates, security),
	# as apt knows them from its indexes (an image whose lists were cleaned has none: update)
	targets() {
		# shellcheck disable=SC2016
		apt-get indextargets --format '$(TARGET_OF) $(ORIGIN) $(REPO_URI) $(RELEASE) $(COMPONENT)' |
			awk '$1 == "deb" && $2 == "Debian" { print "deb-src " $3 " " $4 " " $5 }' | sort -u >"$t/sources.list"
	}
	targets
	if [ ! -s "$t/sources.list" ] && [ "$(id -u)" = 0 ]; then
		apt-get -qq update >&2
		targets
	fi
	[ -s "$t/sources.list" ] || { echo "debian-source.sh: no Debian deb line in apt's indexes (apt-get update?)" >&2; exit 1; }
	mkdir -p "$t/parts" "$t/lists/partial" "$t/cache/archives/partial" "$t/dl"
	apt_opts="-o Dir::Etc::SourceList=$t/sources.list -o Dir::Etc::SourceParts=$t/parts
		-o Dir::State::Lists=$t/lists -o Dir::Cache=$t/cache -o Debug::NoLocking=1
		-o APT::Sandbox::User=$(id -un)"
	echo "$pkg: fetching Debian's source package from $(cut -d' ' -f2 "$t/sources.list" | sort -u | tr '\n' ' ')" >&2
	# shellcheck disable=SC2086
	apt-get $apt_opts -qq update >&2
	# shellcheck disable=SC2086
	(cd "$t/dl" && apt-get $apt_opts -qq source --download-only "$pkg" >&2)
	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	dpkg-source --no-copy -x "$t"/dl/"${pkg}"_*.dsc "$dir" >/dev/null
	touch "$dir/.unpacked"
fi
dpkg-parsechangelog -l "$dir/debian/changelog" -S Version
