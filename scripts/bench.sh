#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Side-by-side benchmark: meridian-server against nats-server on this machine.
#
# For each scenario it runs the two servers alternately (A B A B ...) for R rounds, each
# run on a freshly started server with default settings on a free port in 15000-15099,
# bound to 127.0.0.1, loaded by meridian-bench. The route128 scenario starts two servers of
# one kind joined by a route (client, cluster and monitoring ports from the same range)
# and measures a publisher on the first with its subscriber on the second. The leaf128
# scenario starts a hub and a leaf of one kind (the leaf solicits the hub's leafnodes
# port from a config file written to the work directory) and measures a publisher on the
# leaf with its subscriber on the hub. The JetStream scenarios (js*) start each server with
# -js and a fresh store directory of its own (-sd), removed after the run; meridian-bench
# creates the stream, measures, and deletes it.
# It prints a table of medians and the ratio
# meridian/nats-server, and with --markdown FILE writes the same table as markdown.
# It builds nothing; it checks that the binaries exist and says what to run if not.
# Every server it starts is stopped by PID, also on Ctrl-C or error (trap on EXIT).
#
# Usage: scripts/bench.sh [options]      (see --help; docs/performance.md explains method)
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/bench.sh [options]

Options:
  --meridian PATH    meridian-server binary (default $MERIDIAN_SERVER or
                     build/tools/meridian-server)
  --nats PATH        nats-server binary (default $NATS_SERVER, nats-server on PATH, or
                     /usr/sbin/nats-server)
  --bench PATH       meridian-bench binary (default $MERIDIAN_BENCH or
                     build/tools/meridian-bench)
  --servers LIST     which servers to run: meridian,nats (default both); with one server
                     the other column says "pending"
  --rounds R         rounds per scenario (default $BENCH_ROUNDS or 3)
  --scale F          multiply every message count by F (default $BENCH_SCALE or 1);
                     0.1 for a smoke run, 3 for steadier numbers
  --only LIST        comma-separated scenario keys (default all):
                     pub16,pub128,pubsub16,pubsub128,fanout16x4,queue128,reqrep128,idle5000,
                     route128,leaf128,jspub128,jspubasync128,jspubasyncmem128,
                     jsconsume128
  --store-dir DIR    where the JetStream scenarios' fresh store directories are made
                     (default: the script's temporary directory); it should be on the disk
                     to measure, not a tmpfs
  --idle-conns N     connections for the idle scenario (default 5000)
  --limit SECONDS    --duration-limit for each meridian-bench run (default 60)
  --markdown FILE    also write the result table as markdown to FILE
  --raw FILE         append every raw meridian-bench JSON line to FILE
  --meridian-args S  server arguments; PORT is replaced (default "-a 127.0.0.1 -p PORT")
  --nats-args S      same for nats-server (default "-a 127.0.0.1 -p PORT")
  -h, --help         this text

Ratios are meridian/nats-server: above 1 means meridian is faster for msgs/s rows; for
latency and memory rows lower is better, so below 1 means meridian is better.
EOF
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

meridian_bin=${MERIDIAN_SERVER:-$root/build/tools/meridian-server}
# Debian installs it as /usr/sbin/nats-server, which is not on every user's PATH.
nats_default=$(command -v nats-server || true)
for candidate in /usr/sbin/nats-server /usr/bin/nats-server; do
    if [ -z "$nats_default" ] && [ -x "$candidate" ]; then nats_default=$candidate; fi
done
nats_bin=${NATS_SERVER:-${nats_default:-/usr/sbin/nats-server}}
bench_bin=${MERIDIAN_BENCH:-$root/build/tools/meridian-bench}
servers=meridian,nats
rounds=${BENCH_ROUNDS:-3}
scale=${BENCH_SCALE:-1}
only=
idle_conns=5000
store_parent=
limit=60
markdown=
raw=
meridian_args="-a 127.0.0.1 -p PORT"
nats_args="-a 127.0.0.1 -p PORT"

while [ $# -gt 0 ]; do
    case "$1" in
        --meridian) meridian_bin=$2; shift 2 ;;
        --nats) nats_bin=$2; shift 2 ;;
        --bench) bench_bin=$2; shift 2 ;;
        --servers) servers=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --scale) scale=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --idle-conns) idle_conns=$2; shift 2 ;;
        --store-dir) store_parent=$2; shift 2 ;;
        --limit) limit=$2; shift 2 ;;
        --markdown) markdown=$2; shift 2 ;;
        --raw) raw=$2; shift 2 ;;
        --meridian-args) meridian_args=$2; shift 2 ;;
        --nats-args) nats_args=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 1 ;;
    esac
done

die() {
    echo "bench.sh: $*" >&2
    exit 1
}

case "$rounds" in ''|*[!0-9]*|0) die "--rounds must be a positive integer" ;; esac
case "$idle_conns" in ''|*[!0-9]*|0) die "--idle-conns must be a positive integer" ;; esac
awk -v s="$scale" 'BEGIN { exit !(s + 0 > 0) }' || die "--scale must be a positive number"
if [ -n "$store_parent" ] && [ ! -d "$store_parent" ]; then
    die "--store-dir $store_parent is not a directory"
fi

run_meridian=0
run_nats=0
IFS=, read -r -a server_list <<<"$servers"
for s in "${server_list[@]}"; do
    case "$s" in
        meridian) run_meridian=1 ;;
        nats) run_nats=1 ;;
        *) die "--servers takes meridian and/or nats, not '$s'" ;;
    esac
done

# ---- binaries -------------------------------------------------------------------------

if [ ! -x "$bench_bin" ]; then
    die "meridian-bench not found at $bench_bin.
  Build it:   meson setup build && ninja -C build
  or alone:   mkdir -p build/tools && gcc -std=c17 -O2 -D_GNU_SOURCE \\
                -o build/tools/meridian-bench tools/bench/meridian_bench.c \\
                \$(pkg-config --cflags --libs glib-2.0)
  or pass --bench PATH"
fi
if [ "$run_meridian" = 1 ] && [ ! -x "$meridian_bin" ]; then
    die "meridian-server not found at $meridian_bin.
  Build it:   meson setup build && ninja -C build
  or pass --meridian PATH, or measure nats-server alone with --servers nats"
fi
if [ "$run_nats" = 1 ] && [ ! -x "$nats_bin" ]; then
    die "nats-server not found at $nats_bin.
  Install it: apt-get install nats-server   (or pass --nats PATH)"
fi

# ---- scenarios ------------------------------------------------------------------------
# key | label | meridian-bench arguments | base message count (scaled by --scale)
# Counts are chosen so that one nats-server run takes about a second on a 2-core machine
# and the default run (3 rounds, both servers) finishes in under five minutes.

scenario_table="
pub16|pub 16B|pub --size 16|5000000
pub128|pub 128B|pub --size 128|3000000
pubsub16|pubsub 16B|pubsub --size 16|3000000
pubsub128|pubsub 128B|pubsub --size 128|2000000
fanout16x4|fanout 16B x4 subs|fanout --size 16 --subs 4|1000000
queue128|queue 128B x4 subs|queue --size 128 --subs 4|1500000
reqrep128|reqrep 128B|reqrep --size 128|10000
idle5000|idle ${idle_conns} conns (RSS)|idle --conns ${idle_conns} --hold 3|0
route128|route pubsub 128B (pub A, sub B)|pubsub --size 128|2000000
leaf128|leaf pubsub 128B (pub leaf, sub hub)|pubsub --size 128|2000000
jspub128|js-pub 128B file, sync (window 1)|js-pub --size 128 --window 1|10000
jspubasync128|js-pub 128B file, window 256|js-pub --size 128 --window 256|300000
jspubasyncmem128|js-pub 128B mem, window 256|js-pub --size 128 --window 256 --storage memory|300000
jsconsume128|js-consume 128B file, batch 256, +ACK|js-consume --size 128 --batch 256|300000
"

keys=()
declare -A label args base
while IFS='|' read -r k l a n; do
    [ -n "$k" ] || continue
    if [ -n "$only" ] && [[ ",$only," != *",$k,"* ]]; then
        continue
    fi
    keys+=("$k")
    label[$k]=$l
    args[$k]=$a
    base[$k]=$n
done <<<"$scenario_table"
[ ${#keys[@]} -gt 0 ] || die "--only matched no scenario"

# ---- process hygiene ------------------------------------------------------------------

work=$(mktemp -d /tmp/meridian-bench.XXXXXX)
store_parent=${store_parent:-$work}
server_pid=
bench_pid=
# route128 and leaf128: the first server of the pair (route128: the publisher's; leaf128:
# the hub, the subscriber's) while the second one starts and runs in server_pid.
first_pid=

stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

keep_work=0

cleanup() {
    stop_pid "$bench_pid"
    stop_pid "$server_pid"
    stop_pid "$first_pid"
    bench_pid=
    server_pid=
    first_pid=
    drop_store
    if [ "$keep_work" = 0 ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'keep_work=1; exit 130' INT TERM

# 5000 idle connections need that many descriptors in the server and in the client.
want_fds=$((idle_conns + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ] || [ "$hard" -ge "$want_fds" ]; then
        ulimit -n "$want_fds"
    else
        ulimit -n "$hard"
        echo "bench.sh: warning: hard descriptor limit $hard < $want_fds;" \
             "the idle scenario may fail (raise it with ulimit -Hn as root)" >&2
    fi
fi

# ---- servers --------------------------------------------------------------------------

next_port=15000

port_free() {
    [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}

# Sets free_port to the next port in 15000-15099 that nothing listens on (bounded scan).
take_port() {
    local _
    for _ in $(seq 100); do
        free_port=$next_port
        next_port=$(( next_port >= 15099 ? 15000 : next_port + 1 ))
        if port_free "$free_port"; then return 0; fi
    done
    die "no free port in 15000-15099"
}

# A configuration file template for the next start_server, or empty: LPORT in it becomes
# a free port (leafnodes), kept in server_lport. start_server writes it, ports filled in,
# to server_conf_file and puts that path where CONF stands in its arguments.
server_conf=

# Starts server $1 (meridian|nats) on a free port; sets server_pid, server_port and
# server_log. Each attempt takes the next port, so a port lost to another process costs
# one retry. $2 (optional) is appended to the arguments: CPORT and HPORT in it become
# free ports too (cluster and monitoring), kept in server_cport and server_hport; CONF
# becomes the file written from server_conf; SDIR a new empty directory in store_parent,
# kept in server_sdir (the JetStream store, removed by drop_store).
start_server() {
    local which=$1 more=${2:-} bin argt attempt port log extra conf
    if [ "$which" = meridian ]; then bin=$meridian_bin; argt=$meridian_args
    else bin=$nats_bin; argt=$nats_args; fi
    for attempt in $(seq 5); do
        port=$next_port
        next_port=$(( next_port >= 15099 ? 15000 : next_port + 1 ))
        port_free "$port" || continue
        extra=$more
        if [[ "$extra" == *CPORT* ]]; then take_port; server_cport=$free_port; fi
        if [[ "$extra" == *HPORT* ]]; then take_port; server_hport=$free_port; fi
        if [[ "$server_conf" == *LPORT* ]]; then take_port; server_lport=$free_port; fi
        if [[ "$extra" == *SDIR* ]]; then
            server_sdir=$(mktemp -d "$store_parent/meridian-bench-store.XXXXXX")
            extra=${extra//SDIR/$server_sdir}
        fi
        extra=${extra//CPORT/${server_cport:-}}
        extra=${extra//HPORT/${server_hport:-}}
        if [ -n "$server_conf" ]; then
            conf=${server_conf//LPORT/${server_lport:-}}
            server_conf_file="$work/$which-$port.conf"
            printf '%s\n' "$conf" >"$server_conf_file"
            extra=${extra//CONF/$server_conf_file}
        fi
        log="$work/$which-$port.log"
        # shellcheck disable=SC2086 # the argument templates are split on purpose
        "$bin" ${argt//PORT/$port} $extra >"$log" 2>&1 &
        server_pid=$!
        local ok=0
        for _ in $(seq 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            if "$bench_bin" ping --url "127.0.0.1:$port" --quiet --duration-limit 1 \
                    >/dev/null 2>&1; then
                ok=1
                break
            fi
            sleep 0.05
        done
        # The listener must be ours, not another process that holds the port (ss shows
        # owners only to root; without them, trust that our server is still alive).
        if [ "$ok" = 1 ] && kill -0 "$server_pid" 2>/dev/null && listener_is "$port"; then
            server_port=$port
            server_log=$log
            return 0
        fi
        stop_pid "$server_pid"
        server_pid=
        drop_store
        echo "bench.sh: $which did not come up on port $port (attempt $attempt); log:" >&2
        tail -n 5 "$log" >&2 || true
    done
    return 1
}

listener_is() {
    local owners
    owners=$(ss -Htlnp "sport = :$1" 2>/dev/null)
    [[ "$owners" != *pid=* || "$owners" == *"pid=$server_pid,"* ]]
}

# Prints the body of GET $2 on monitoring port $1 (headers too without curl), or nothing.
monitor_get() {
    if command -v curl >/dev/null 2>&1; then
        curl -s --max-time 1 "http://127.0.0.1:$1$2" 2>/dev/null || true
        return 0
    fi
    # HTTP/1.0 by hand: both servers close the connection after answering it.
    # shellcheck disable=SC2016 # expanded by the inner shell
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3 && cat <&3' \
        _ "$1" "$2" 2>/dev/null || true
}

# Waits (bounded, 10 s) until GET $2 on monitoring port $1 matches the extended regex $3.
wait_monitor() {
    local end=$(( $(date +%s) + 10 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        if monitor_get "$1" "$2" | grep -Eq "$3"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# route128: starts two servers of kind $1 joined by a route: the first in first_pid
# (first_port), the second, which solicits the route, in server_pid (server_port). The
# pair is ready when /routez on both monitoring ports counts a route.
start_pair() {
    local which=$1 name="bench$$" first_cport first_hport first_log
    if ! start_server "$which" "--cluster nats://127.0.0.1:CPORT --cluster_name $name -m HPORT"
    then
        return 1
    fi
    first_pid=$server_pid
    first_port=$server_port
    first_cport=$server_cport
    first_hport=$server_hport
    first_log=$server_log
    server_pid=
    if ! start_server "$which" "--cluster nats://127.0.0.1:CPORT --cluster_name $name -m HPORT \
            --routes nats://127.0.0.1:$first_cport"; then
        return 1
    fi
    if ! wait_monitor "$first_hport" /routez '"num_routes": *[1-9]' ||
            ! wait_monitor "$server_hport" /routez '"num_routes": *[1-9]'; then
        echo "bench.sh: $which: no route between ports $first_cport and $server_cport" \
             "within 10 s; logs: $first_log $server_log" >&2
        return 1
    fi
    server_log="$first_log $server_log"
}

# leaf128: starts a hub and a leaf of kind $1, each from a config file with a leafnodes
# block: the hub, listening for leaf connections on 127.0.0.1, in first_pid (first_port);
# the leaf, whose one remote is the hub's leafnodes port (account $G on both sides), in
# server_pid (server_port). The link is up when /leafz on both monitoring ports counts a
# leafnode ("leafnodes" in nats-server 2.9's /leafz).
start_leaf_pair() {
    local which=$1 hub_lport hub_hport hub_log hub_conf
    server_conf='leafnodes { listen: "127.0.0.1:LPORT" }'
    if ! start_server "$which" "-c CONF -m HPORT"; then
        server_conf=
        return 1
    fi
    first_pid=$server_pid
    first_port=$server_port
    hub_lport=$server_lport
    hub_hport=$server_hport
    hub_log=$server_log
    hub_conf=$server_conf_file
    server_pid=
    server_conf="leafnodes { remotes [ { url: \"nats://127.0.0.1:$hub_lport\" } ] }"
    if ! start_server "$which" "-c CONF -m HPORT"; then
        server_conf=
        return 1
    fi
    server_conf=
    if ! wait_monitor "$hub_hport" /leafz '"leafnodes": *[1-9]' ||
            ! wait_monitor "$server_hport" /leafz '"leafnodes": *[1-9]'; then
        echo "bench.sh: $which: the leaf (client port $server_port) did not connect to the" \
             "hub's leafnodes port $hub_lport within 10 s: /leafz on monitoring ports" \
             "$hub_hport (hub) and $server_hport (leaf) counts no leafnode. Check the" \
             "leafnodes blocks in $hub_conf and $server_conf_file and the logs" \
             "$hub_log $server_log" >&2
        return 1
    fi
    server_log="$hub_log $server_log"
}

# Removes the JetStream store of the last server started with SDIR (after it stopped).
drop_store() {
    if [ -n "${server_sdir:-}" ]; then
        rm -rf "$server_sdir"
        server_sdir=
    fi
}

rss_kib() {
    awk '/^VmRSS:/ { print $2; exit }' "/proc/$1/status" 2>/dev/null || echo 0
}

# Pulls a numeric field out of one line of meridian-bench JSON.
json_num() {
    sed -n "s/.*\"$2\":\\([-0-9.eE+]*\\).*/\\1/p" <<<"$1"
}

# ---- one measurement ------------------------------------------------------------------
# Runs scenario $2 against server $1 and sets res_ok (1/0), res_a, res_b, res_why:
#   throughput rows: msgs/s MB/s;  reqrep: p50_us p99_us;  idle: rss_kib up.
# It runs in this shell, not in $(...), so that the EXIT trap knows the server's PID.

fail_result() {
    res_ok=0
    res_why=$*
}

ok_result() {
    res_ok=1
    res_a=$1
    res_b=$2
}

measure() {
    local which=$1 key=$2 n line rc=0 out="$work/out.json" err="$work/err.txt"
    res_ok=0 res_a='' res_b='' res_why=''
    n=$(awk -v b="${base[$key]}" -v s="$scale" 'BEGIN { v = int(b * s); print (v < 1 ? 1 : v) }')
    if [ "$key" = reqrep128 ] && [ "$n" -lt 100 ]; then n=100; fi
    local scenario_args cmd
    read -r -a scenario_args <<<"${args[$key]}"
    if [ "$key" = route128 ]; then
        if ! start_pair "$which"; then
            stop_pid "$server_pid"
            stop_pid "$first_pid"
            server_pid='' first_pid=''
            fail_result "the two clustered servers did not start or did not route"
            return
        fi
        # Publisher on the first server, subscriber on the second: every message crosses.
        cmd=("$bench_bin" "${scenario_args[@]}" --url "127.0.0.1:$first_port"
             --sub-url "127.0.0.1:$server_port" --json --quiet --duration-limit "$limit")
    elif [ "$key" = leaf128 ]; then
        if ! start_leaf_pair "$which"; then
            stop_pid "$server_pid"
            stop_pid "$first_pid"
            server_pid='' first_pid=''
            fail_result "the hub and leaf did not start or did not link (message above)"
            return
        fi
        # Publisher on the leaf, subscriber on the hub: every message crosses the leaf
        # connection, from the side that solicited it to the side that accepted it.
        cmd=("$bench_bin" "${scenario_args[@]}" --url "127.0.0.1:$server_port"
             --sub-url "127.0.0.1:$first_port" --json --quiet --duration-limit "$limit")
    elif [[ "$key" == js* ]]; then
        if ! start_server "$which" "-js -sd SDIR"; then
            drop_store
            fail_result "server did not start with JetStream (-js -sd)"
            return
        fi
        cmd=("$bench_bin" "${scenario_args[@]}" --url "127.0.0.1:$server_port" --json --quiet
             --duration-limit "$limit")
    else
        if ! start_server "$which"; then
            fail_result "server did not start"
            return
        fi
        cmd=("$bench_bin" "${scenario_args[@]}" --url "127.0.0.1:$server_port" --json --quiet
             --duration-limit "$limit")
    fi
    if [ "$key" != idle5000 ]; then
        cmd+=(--msgs "$n")
    fi
    if [ "$key" = idle5000 ]; then
        local ready="$work/ready" rss=0 r
        rm -f "$ready"
        "${cmd[@]}" --ready-file "$ready" >"$out" 2>"$err" &
        bench_pid=$!
        while kill -0 "$bench_pid" 2>/dev/null && [ ! -e "$ready" ]; do
            sleep 0.05
        done
        if [ -e "$ready" ]; then
            # After every connection is up: settle, then keep the largest of three samples.
            sleep 1
            for _ in 1 2 3; do
                r=$(rss_kib "$server_pid")
                if [ "$r" -gt "$rss" ]; then rss=$r; fi
                sleep 0.5
            done
        fi
        wait "$bench_pid" || rc=$?
        bench_pid=
        line=$(tail -n 1 "$out")
        if [ -n "$raw" ]; then
            echo "{\"server\":\"$which\",\"rss_kib\":$rss,\"result\":${line:-null}}" >>"$raw"
        fi
        stop_pid "$server_pid"
        server_pid=
        if [ "$rc" != 0 ] || [ "$rss" = 0 ]; then
            fail_result "rc=$rc $(tail -n 1 "$err") (server log: $server_log)"
            return
        fi
        ok_result "$rss" "$(json_num "$line" up)"
        return
    fi
    "${cmd[@]}" >"$out" 2>"$err" || rc=$?
    line=$(tail -n 1 "$out")
    if [ -n "$raw" ]; then
        echo "{\"server\":\"$which\",\"result\":${line:-null}}" >>"$raw"
    fi
    stop_pid "$server_pid"
    stop_pid "$first_pid"
    server_pid=
    first_pid=
    drop_store
    if [ "$rc" != 0 ]; then
        fail_result "rc=$rc $(tail -n 1 "$err") (server log: $server_log)"
        return
    fi
    if [ "$key" = reqrep128 ]; then
        ok_result "$(json_num "$line" p50_us)" "$(json_num "$line" p99_us)"
    else
        ok_result "$(json_num "$line" msgs_per_sec)" "$(json_num "$line" mb_per_sec)"
    fi
}

median() {
    # Median of the numbers on stdin (mean of the middle two for an even count).
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print ""; exit }
        if (NR % 2) { print v[(NR + 1) / 2] } else { print (v[NR / 2] + v[NR / 2 + 1]) / 2 }
    }'
}

# ---- run ------------------------------------------------------------------------------

declare -A vals1 vals2 fails
order=()
if [ "$run_meridian" = 1 ]; then order+=(meridian); fi
if [ "$run_nats" = 1 ]; then order+=(nats); fi

# Other processes on a 2-core machine move these numbers more than most server changes do.
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "bench.sh: warning: load average is $load; other processes compete for the" \
         "$(nproc) cores and the numbers will be noisy" >&2
fi

started=$(date +%s)
echo "bench.sh: ${#keys[@]} scenarios x $rounds rounds x ${#order[@]} servers," \
     "scale $scale" >&2
for key in "${keys[@]}"; do
    for r in $(seq "$rounds"); do
        for which in "${order[@]}"; do
            measure "$which" "$key"
            if [ "$res_ok" = 1 ]; then
                vals1[$which.$key]+="$res_a "
                vals2[$which.$key]+="$res_b "
                printf 'bench.sh: %-16s round %d %-8s %s %s\n' "$key" "$r" "$which" \
                    "$res_a" "$res_b" >&2
            else
                fails[$which.$key]+="round $r: $res_why; "
                printf 'bench.sh: %-16s round %d %-8s FAILED: %s\n' "$key" "$r" "$which" \
                    "$res_why" >&2
            fi
        done
    done
done
elapsed=$(( $(date +%s) - started ))

# ---- table ----------------------------------------------------------------------------

med() {
    tr ' ' '\n' <<<"${1:-}" | awk 'NF' | median
}

fmt_rate() {
    awk -v r="$1" -v m="$2" 'BEGIN {
        if (r >= 1e6) { s = sprintf("%.2fM", r / 1e6) } else { s = sprintf("%.1fk", r / 1e3) }
        printf "%s msg/s (%.1f MB/s)", s, m
    }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-";
                                     else printf "%.2f", a / b }'
}

cell() {
    # cell SERVER KEY: the formatted median for one server, or pending/failed.
    local which=$1 key=$2 a b
    if [ "$which" = meridian ] && [ "$run_meridian" = 0 ]; then echo "pending"; return; fi
    if [ "$which" = nats ] && [ "$run_nats" = 0 ]; then echo "not run"; return; fi
    a=$(med "${vals1[$which.$key]:-}")
    b=$(med "${vals2[$which.$key]:-}")
    if [ -z "$a" ]; then echo "failed"; return; fi
    case "$key" in
        reqrep128) printf 'p50 %.1f us / p99 %.1f us' "$a" "$b" ;;
        idle5000) printf '%s KiB' "$(printf '%.0f' "$a")" ;;
        *) fmt_rate "$a" "$b" ;;
    esac
}

ratio_cell() {
    local key=$1 ma mb na nb
    ma=$(med "${vals1[meridian.$key]:-}")
    na=$(med "${vals1[nats.$key]:-}")
    if [ "$run_meridian" = 0 ]; then echo "pending"; return; fi
    if [ -z "$ma" ] || [ -z "$na" ]; then echo "-"; return; fi
    case "$key" in
        reqrep128)
            mb=$(med "${vals2[meridian.$key]:-}")
            nb=$(med "${vals2[nats.$key]:-}")
            echo "p50 $(ratio "$ma" "$na") / p99 $(ratio "$mb" "$nb")" ;;
        *) ratio "$ma" "$na" ;;
    esac
}

better() {
    case "$1" in reqrep128|idle5000) echo "lower" ;; *) echo "higher" ;; esac
}

rows=()
for key in "${keys[@]}"; do
    row="${label[$key]}|$(cell meridian "$key")|$(cell nats "$key")"
    rows+=("$row|$(ratio_cell "$key")|$(better "$key")")
done

# Aligned text table on stdout: columns padded to their widest cell.
print_table() {
    awk -F'|' '
        { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
          n = NR; f = NF }
        function rule(   i, j, s, line) {
            line = ""
            for (i = 1; i <= f; i++) {
                s = ""
                for (j = 0; j < w[i]; j++) s = s "-"
                line = line s "  "
            }
            sub(/ +$/, "", line); print line
        }
        END {
            for (r = 1; r <= n; r++) {
                line = ""
                for (i = 1; i <= f; i++) line = line sprintf("%-" w[i] "s  ", c[r, i])
                sub(/ +$/, "", line); print line
                if (r == 1) rule()
            }
        }'
}

printf '%s\n' "scenario|meridian-server|nats-server|meridian/nats|better" "${rows[@]}" | print_table
echo
echo "medians of $rounds rounds (A B alternating), scale $scale, $(nproc) cores," \
     "load average $load at start, ${elapsed}s total"
nfail=0
for k in "${!fails[@]}"; do
    echo "FAILED $k: ${fails[$k]}"
    nfail=$((nfail + 1))
done
if [ "$nfail" != 0 ]; then
    keep_work=1
    echo "server logs kept in $work"
fi

if [ -n "$markdown" ]; then
    {
        echo "| scenario | meridian-server | nats-server | meridian/nats | better |"
        echo "| --- | --- | --- | --- | --- |"
        for row in "${rows[@]}"; do
            echo "| ${row//|/ | } |"
        done
        echo
        echo "Medians of $rounds rounds, servers alternating A B, scale $scale;" \
             "$(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo))," \
             "$(uname -sr); load average $load at start; $(date -u +%Y-%m-%d)."
        if [ "$run_nats" = 1 ]; then
            echo "nats-server: $nats_bin ($("$nats_bin" --version 2>&1 | head -n 1))."
        fi
        if [ "$run_meridian" = 1 ]; then
            # Relative to the checkout, so a pasted table names no machine path.
            echo "meridian-server: ${meridian_bin#"$PWD"/}" \
                 "($("$meridian_bin" --version 2>&1 | head -n 1))."
        fi
    } >"$markdown"
    echo "markdown table written to $markdown" >&2
fi

[ "$nfail" = 0 ]
