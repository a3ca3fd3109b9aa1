#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Tidy test: the core stays sans-I/O and deterministic, and the tree stays tidy.
#  1. No OS headers or banned calls in core/ outside core/realenv/ (and core/panic.c,
#     the one place that may print before aborting).
#  2. The core library's object code references no OS or clock symbols (nm).
#  3. sim/ reads no wall clock and no unseeded randomness (it may read and write files).
#  4. No FIXME anywhere in source; no source line over 100 columns.
# Usage: tidy.sh SOURCE_ROOT [CORE_LIBRARY.a]
set -u
root=${1:?usage: tidy.sh SOURCE_ROOT [CORE_LIBRARY.a]}
lib=${2:-}
cd "$root" || exit 2
fail=0
report() { echo "tidy: $*"; fail=1; }
# Blanks string literals and comments (keeping line numbers) before looking for calls.
strip_code() {
    sed -E 's#"([^"\\]|\\.)*"#""#g; s#/\*.*\*/##g; s#^[[:space:]]*(/\*|\*).*$##; s#//.*$##' "$1"
}

core_files=$(find core -name '*.[ch]' -not -path 'core/realenv/*' -not -name panic.c | sort)

banned_headers='#include <(sys/[a-z_]+|unistd|fcntl|poll|pthread|threads|time|signal|dirent|netdb|netinet/[a-z_]+|arpa/[a-z_]+|openssl/(ssl|rand))\.h>'
banned_calls='(^|[^>.[:alnum:]_])(rand|random|srand|srandom|arc4random|getrandom|drand48|clock_gettime|gettimeofday|time|sleep|usleep|nanosleep|getenv|getpid|socket|connect|accept|bind|listen|select|poll|epoll_[a-z_]+|read|write|open|close|fopen|fread|fwrite|fprintf|printf|puts|putchar|perror|RAND_bytes|g_random_[a-z_]+|g_rand_new|g_get_monotonic_time|g_get_real_time|g_timeout_add|g_idle_add|g_main_loop_new|g_thread_new|g_mutex_lock|g_print|g_printerr)\s*\('
banned_types='\b(GMainLoop|GMainContext|GSource|GThread|GMutex|GAsyncQueue|GDateTime|_Thread_local|__thread)\b'

for f in $core_files; do
    grep -nE "$banned_headers" "$f" | sed "s|^|$f:|;s|$| (OS header in core)|" | while read -r l; do echo "tidy: $l"; done
    grep -nE "$banned_headers" "$f" >/dev/null && fail=1
    # Strip string literals and comments roughly before looking for calls.
    if strip_code "$f" | grep -nE "$banned_calls" >/dev/null; then
        strip_code "$f" | grep -nE "$banned_calls" |
            sed "s|^|tidy: $f:|;s|$| (banned call in core)|"
        fail=1
    fi
    if grep -nE "$banned_types" "$f" >/dev/null; then
        grep -nE "$banned_types" "$f" | sed "s|^|tidy: $f:|;s|$| (banned type in core)|"
        fail=1
    fi
    if grep -n '%p' "$f" >/dev/null; then
        grep -n '%p' "$f" | sed "s|^|tidy: $f:|;s|$| (pointer value in output)|"
        fail=1
    fi
done

# sim/ may read scenario files and write reports, but its clock and randomness come only
# from the virtual world: no wall clock, no unseeded randomness, no threads.
sim_banned='(^|[^>.[:alnum:]_])(rand|random|srand|srandom|arc4random|getrandom|drand48|clock_gettime|gettimeofday|time|g_random_[a-z_]+|g_rand_new|g_get_monotonic_time|g_get_real_time|pthread_[a-z_]+|g_thread_new)\s*\('
for f in $(find sim -name '*.[ch]' | sort); do
    if strip_code "$f" | grep -nE "$sim_banned" >/dev/null; then
        strip_code "$f" | grep -nE "$sim_banned" |
            sed "s|^|tidy: $f:|;s|$| (wall clock or unseeded randomness in sim)|"
        fail=1
    fi
done

if [ -n "$lib" ]; then
    if [ ! -f "$lib" ]; then
        report "core library $lib not found: build first (meson compile -C build)"
    else
        syms=$(nm -u "$lib" 2>/dev/null | awk '{print $2}' | sort -u)
        for s in clock_gettime gettimeofday time rand random srand getrandom socket connect \
                 accept bind listen epoll_wait epoll_create1 read write open close fopen \
                 pthread_create sleep usleep nanosleep getenv getpid RAND_bytes \
                 g_random_int g_get_monotonic_time g_get_real_time g_main_loop_new; do
            if printf '%s\n' "$syms" | grep -qx "$s"; then
                # panic.c may only use stdio; every other OS symbol is a leak.
                report "core library references $s: only core/realenv/ may call the OS"
            fi
        done
    fi
fi

src_files=$(git ls-files '*.c' '*.h' '*.sh' '*.mjs' '*.build' 2>/dev/null || find . -name '*.[ch]')
for f in $src_files; do
    [ -f "$f" ] || continue
    case "$f" in tests/tidy.sh) continue ;; esac
    if grep -n 'FIXME' "$f" >/dev/null; then
        grep -n 'FIXME' "$f" | sed "s|^|tidy: $f:|;s|$| (FIXME: fix it or file an issue, TODO(#n))|"
        fail=1
    fi
    case "$f" in
    *.c | *.h)
        awk -v f="$f" 'length($0) > 100 { printf "tidy: %s:%d: line over 100 columns (%d)\n", f, NR, length($0); bad=1 } END { exit bad }' "$f" || fail=1
        ;;
    esac
done

if [ $fail -ne 0 ]; then
    echo "tidy: FAILED: fix the lines above (see STYLE.md sections 1, 7, 9)"
    exit 1
fi
echo "tidy: ok ($(echo "$core_files" | wc -l) core files checked)"
