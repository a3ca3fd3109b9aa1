#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up, builds and runs the whole test suite: unit suites, fuzz corpus replay, the
# tidy test, the simulator seed sweeps and the compatibility tests with real clients,
# first in a normal build and then in an AddressSanitizer + UBSan build. Ends with
# "N passed, N failed", counting meson tests.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "test: setup failed (see above)"; exit 1; }

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Runs one meson test selection and adds its test counts to the totals.
run_suite() { # name, build dir, meson test args...
    local name=$1 dir=$2
    shift 2
    echo "=== $name"
    local rc=0
    meson test -C "$dir" --print-errorlogs "$@" 2>&1 | tee "$log" || rc=1
    local ok fail
    ok=$(awk '/^Ok:/ { print $2 }' "$log" | tail -n 1)
    fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/ { n += $NF } END { print n + 0 }' "$log")
    passed=$((passed + ${ok:-0}))
    failed=$((failed + fail))
    if [ "$rc" -ne 0 ]; then
        [ "$fail" -gt 0 ] || failed=$((failed + 1))
        echo "test: $name FAILED: rerun with: meson test -C $dir --print-errorlogs $*"
    fi
}

meson compile -C build || { echo "test: build failed (see above)"; echo "0 passed, 1 failed"; exit 1; }
run_suite "unit+fuzz+tidy+sim" build --no-suite compat
run_suite "compat" build --suite compat

if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if meson compile -C build-asan; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_suite "asan: unit+fuzz" build-asan --no-suite compat --no-suite tidy --no-suite sim
    run_suite "asan: compat" build-asan --suite compat
else
    echo "test: sanitizer build failed"
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
