#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The command lines of meridian-topo and meridian-sim --report, end to end: outputs where
# -o says (one file per frame with --frames), exit status 1 for bad input and 2 for bad
# usage with a message naming what, and a report page. Runs from the source root.
# Usage: cli.sh MERIDIAN_TOPO MERIDIAN_SIM
set -u
topo=${1:?usage: cli.sh MERIDIAN_TOPO MERIDIAN_SIM}
sim=${2:?usage: cli.sh MERIDIAN_TOPO MERIDIAN_SIM}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check WHAT CONDITION...
    local what=$1
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAIL: $what"
        fail=1
    fi
}
sc=tests/conf/mission/supercluster

"$topo" -T svg --servers 3 -o "$tmp/sc.svg" $sc/region1.conf $sc/region2.conf $sc/region3.conf
check "-o writes the svg" grep -q '^<svg' "$tmp/sc.svg"
check "nothing else is written" test "$(ls "$tmp")" = "sc.svg"

"$topo" -T png tests/conf/mission/leafnode/server.hub.conf \
    tests/conf/mission/leafnode/server.leaf.conf > "$tmp/leaf.png"
check "png on standard output" test "$(head -c 4 "$tmp/leaf.png" | od -An -c | tr -d ' ')" \
    = "211PNG"

"$topo" -T svg --frames -o "$tmp/f.svg" scenarios/mission_supercluster.conf
frames=$(ls "$tmp" | grep -c '^f-[0-9][0-9]\.svg$')
# The start and mission_supercluster's 7 faults (its schedule is fixed: no random {}).
check "--frames writes one file per fault plus the start ($frames)" test "$frames" -eq 8
check "a frame shows the crash" grep -q '(down)' "$tmp/f-03.svg"

out=$("$topo" -T canon --frames scenarios/mission_supercluster.conf)
check "--frames -T canon: graphs one after another" test "$(grep -c '^digraph' <<<"$out")" -eq 8

"$topo" -T svg --frames scenarios/mission_supercluster.conf > /dev/null 2> "$tmp/err"
check "--frames -T svg without -o is bad usage" test $? -eq 2
check "... and says so" grep -q 'needs -o' "$tmp/err"

"$topo" --at 90s scenarios/mission_supercluster.conf > /dev/null 2> "$tmp/err"
check "--at past the duration is bad usage" test $? -eq 2
check "... naming the duration" grep -q 'duration 60s' "$tmp/err"

printf 'port: 4222\ninclude ./missing.conf\n' > "$tmp/bad.conf"
"$topo" "$tmp/bad.conf" > /dev/null 2> "$tmp/err"
check "a missing include exits 1" test $? -eq 1
check "... naming file, line and include" grep -q 'bad.conf:2:1: .*missing.conf' "$tmp/err"

"$topo" -T jpeg "$tmp/bad.conf" > /dev/null 2> "$tmp/err"
check "an unknown format is bad usage" test $? -eq 2

"$sim" --quiet --report "$tmp/report" scenarios/mission_supercluster.conf > /dev/null
check "meridian-sim --report passes the run" test $? -eq 0
check "the report page exists" test -s "$tmp/report/index.html"
check "with the topology and 7 fault frames" \
    test "$(grep -o '<svg' "$tmp/report/index.html" | wc -l)" -eq 8
check "and the verdicts" grep -q 'Checker verdicts' "$tmp/report/index.html"

exit $fail
