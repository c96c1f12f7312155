#!/bin/sh
# man.sh PROGRAM [SECTION]: renders a program's --help and --version as a man page on stdout,
# so that installed man pages never drift from the flags the program really takes.
set -e
prog=$1
sec=${2:-1}
name=$(basename "$prog")
help=$("$prog" --help 2>&1)
version=$("$prog" --version 2>&1 | head -n 1)
# roff: a leading . or ' would be read as a request, and \ starts an escape.
esc() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }
summary=$(printf '%s\n' "$help" | sed -n '2,$p' | sed -e '/^[[:space:]]*$/d' | head -n 1 | sed -e 's/[.;] .*//' -e 's/[.;]$//' | esc)
# A help text that opens with a list ("Commands:") has no one-line summary to offer.
case $summary in *:) summary="" ;; esac
[ -z "$summary" ] && [ "$name" = metricsbus ] && summary="command-line client for metricsbus-agentd"
printf '.TH %s %s "" "%s" "metricsbus"\n' "$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')" "$sec" "$version"
printf '.SH NAME\n%s \\- %s\n' "$name" "${summary:-part of metricsbus}"
printf '.SH DESCRIPTION\n.nf\n'
printf '%s\n' "$help" | esc
printf '.fi\n'
printf '.SH ENVIRONMENT\nEvery flag also reads METRICSBUS_ followed by its name in capitals with - as _\n'
printf '(\\-\\-flush\\-interval is METRICSBUS_FLUSH_INTERVAL); the flag wins.\n'
printf '.SH SEE ALSO\n'
printf 'metricsbus(1), metricsbus\\-agentd(1), metricsbus\\-api(1), metricsbus\\-shim(1);\n'
printf 'docs/operations.md, docs/api.md and docs/statsd.md in PREFIX/share/doc/metricsbus.\n'
