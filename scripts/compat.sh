#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Run the compatibility tests (nats.js, nats.c, raw protocol) against a server
# binary and print a summary.
#
#   scripts/compat.sh                       # against build/tools/meridian-server
#   scripts/compat.sh --server nats         # against Debian's nats-server
#   scripts/compat.sh --server PATH         # against any binary
#   scripts/compat.sh --build DIR           # meson build dir (default: build)
#   scripts/compat.sh --port-base 16100     # ports from here (default 16000; 200 ports,
#                                           # or --port-count N)
#   scripts/compat.sh -- FILE... [--test-name-pattern=RE]   # a subset
#
# Needs node_modules (scripts/setup.sh runs `npm ci`). The nats.c program is
# taken from the build dir; if it is not built, it is compiled into a temporary
# dir with gcc and pkg-config libnats. Exit status: 0 when every test passed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
server="meridian"
build="$root/build"
extra=()

usage() {
    sed -n '4,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --server) server="${2:?--server needs meridian, nats or a path}"; shift 2 ;;
        --server=*) server="${1#--server=}"; shift ;;
        --build) build="${2:?--build needs a dir}"; shift 2 ;;
        --build=*) build="${1#--build=}"; shift ;;
        --port-base) export COMPAT_PORT_BASE="${2:?}"; shift 2 ;;
        --port-count) export COMPAT_PORT_COUNT="${2:?}"; shift 2 ;;
        -h|--help) usage ;;
        --) shift; extra=("$@"); break ;;
        *) echo "compat.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac

case "$server" in
    meridian) bin="$build/tools/meridian-server" ;;
    nats|nats-server)
        bin="$(command -v nats-server || true)"
        [ -n "$bin" ] || bin=/usr/sbin/nats-server ;;
    *) bin="$server" ;;
esac
if [ ! -x "$bin" ]; then
    echo "compat.sh: server binary '$bin' not found or not executable" >&2
    [ "$server" = meridian ] && echo "  build it first: meson setup build && ninja -C build" >&2
    exit 2
fi
export MERIDIAN_SERVER="$bin"

if ! command -v node > /dev/null; then
    echo "compat.sh: node not found (apt-get install nodejs npm; then scripts/setup.sh)" >&2
    exit 2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/meridian-compat.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

natsc="${NATSC_COMPAT_BIN:-$build/tests/compat/compat_natsc}"
if [ ! -x "$natsc" ]; then
    if command -v gcc > /dev/null && pkg-config --exists libnats 2> /dev/null; then
        natsc="$tmp/compat_natsc"
        # shellcheck disable=SC2046  # pkg-config output is meant to split
        gcc -std=c17 -O2 -Wall -Wextra -o "$natsc" "$root/tests/compat/natsc/compat_natsc.c" \
            $(pkg-config --cflags --libs libnats)
        echo "compat.sh: built nats.c program in $natsc"
    else
        echo "compat.sh: no compat_natsc and no gcc/libnats-dev to build it; its test will fail" >&2
    fi
fi
export NATSC_COMPAT_BIN="$natsc"

log="$tmp/output.log"
echo "compat.sh: server $MERIDIAN_SERVER ($("$MERIDIAN_SERVER" --version 2>&1 | head -n 1 || true))"
echo "compat.sh: ports ${COMPAT_PORT_BASE:-16000} + ${COMPAT_PORT_COUNT:-200}"
status=0
node "$root/tests/compat/run.mjs" --test-reporter=spec "${extra[@]}" 2>&1 | tee "$log" \
    || status=$?

# Summary from the spec reporter's closing lines ("ℹ pass N", ...) and its
# "failing tests:" section.
num() { sed -n "s/^ℹ $1 \([0-9]*\)\$/\1/p" "$log" | tail -n 1; }
echo
echo "==== compat summary: $(basename "$MERIDIAN_SERVER") ===="
pass="$(num pass)"
if [ -n "$pass" ]; then
    if grep -q '^✖ failing tests:' "$log"; then
        sed -n '/^✖ failing tests:/,$p' "$log" | grep -E '^✖ ' \
            | grep -v '^✖ failing tests:' | sed -E 's/^✖ /  FAIL: /' || true
    fi
    fail=$(( $(num fail) + $(num cancelled) ))
    echo "${pass} passed, ${fail} failed, $(num skipped) skipped"
    if [ "$status" -eq 0 ] && [ "$fail" -ne 0 ]; then
        status=1
    fi
else
    echo "no test results (see the output above)"
    [ "$status" -ne 0 ] || status=1
fi
exit "$status"
