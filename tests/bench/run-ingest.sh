#!/usr/bin/env bash
# Ingest benchmark: how many signed Stripe events per second Switchyard makes durable, and how fast it answers.
#
#   tests/bench/run-ingest.sh [BUILD_DIR]        (default: <repo>/build-bench)
#
# Builds a Release binary, starts `switchyard serve` on free loopback ports with a temp config and data dir, drives
# it with bench_ingest (group commit at several connection counts), restarts it with storage.max_batch: 1 (one
# commit, so one fsync, per event) for contrast, then prints a Markdown table and the machine it ran on (also saved
# in tests/bench/results/, which git ignores).
# Everything stays on 127.0.0.1. See tests/bench/README.md for what is measured. Tunables (environment):
#   CONNS="1 16 64 128 256"   REQS_1=20000 (1 connection)   REQS=200000 (others)      group-commit runs
#   SYNC_CONNS="1 16 64"      SYNC_REQS_1=2000              SYNC_REQS=10000           max_batch 1 runs
#   WARMUP=1000 (untimed requests before each run)   THREADS=2 (ingress threads)   MAX_BATCH=4096
#   RUN_TIMEOUT=60 (seconds per run)   BENCH_TMPDIR (parent of the temp dir; default BUILD_DIR: a real disk,
#   not tmpfs, or fsync costs nothing)   KEEP_TMP=1 (keep config, data and logs)   SKIP_BUILD=1
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-bench}

CONNS=${CONNS:-"1 16 64 128 256"}
REQS_1=${REQS_1:-20000}
REQS=${REQS:-200000}
SYNC_CONNS=${SYNC_CONNS:-"1 16 64"}
SYNC_REQS_1=${SYNC_REQS_1:-2000}
SYNC_REQS=${SYNC_REQS:-10000}
WARMUP=${WARMUP:-1000}
THREADS=${THREADS:-2}
MAX_BATCH=${MAX_BATCH:-4096}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
SECRET=whsec_bench_secret
TOKEN=bench-token

# shellcheck source=tests/bench/common.sh
. "$here/common.sh"

# ---- build ----
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "== building Release into $build"
    mkdir -p "$build"
    blog=$build/bench-build.log
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSY_TESTS=OFF >"$blog" 2>&1 || { cat "$blog" >&2; exit 1; }
    cmake --build "$build" -j "$(nproc)" --target switchyard bench_ingest >>"$blog" 2>&1 ||
        { tail -n 40 "$blog" >&2; exit 1; }
fi
bin=$(find "$build" -maxdepth 2 -type f -name switchyard -perm -u+x | head -n 1)
gen=$(find "$build" -maxdepth 3 -type f -name bench_ingest -perm -u+x | head -n 1)
[ -n "$bin" ] && [ -n "$gen" ] || { say "switchyard or bench_ingest not found under $build"; exit 1; }

# ---- temp dir, server lifecycle ----
mkdir -p "${BENCH_TMPDIR:-$build}"
tmp=$(mktemp -d "${BENCH_TMPDIR:-$build}/ingest-bench.XXXXXX")
server_pid=

stop_server() {
    stop_pid "$server_pid" 10
    server_pid=
}
cleanup() {
    stop_server
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# start_server NAME MAX_BATCH: fresh data dir and config, start, wait for /healthz.
start_server() {
    local name=$1 batch=$2 dir=$tmp/$1
    mkdir -p "$dir/data"
    ingress_port=$(free_port)
    admin_port=$(free_port)
    cat >"$dir/config.yaml" <<EOF
data_dir: $dir/data
storage: {map_size: 4GiB, map_size_max: 16GiB, max_batch: $batch}
ingress: {listen: 127.0.0.1:$ingress_port, threads: $THREADS, max_body: 1MiB}
admin: {listen: 127.0.0.1:$admin_port, token: {value: $TOKEN}}
sources:
  stripe: {connector: stripe, tolerance: 300s, secrets: [{value: $SECRET}]}
EOF
    "$bin" serve --config "$dir/config.yaml" >"$dir/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 300); do # up to 30 s
        if ! kill -0 "$server_pid" 2>/dev/null; then
            server_pid=
            say "!! switchyard exited during start-up; its log:"
            tail -n 30 "$dir/server.log" >&2
            exit 1
        fi
        if curl -fsS -o /dev/null --max-time 1 -H "Authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$admin_port/healthz" 2>/dev/null; then
            say "== $name: switchyard up (pid $server_pid, ingress :$ingress_port, admin :$admin_port," \
                "max_batch $batch)"
            return
        fi
        sleep 0.1
    done
    say "!! /healthz did not answer within 30 s; server log:"
    tail -n 30 "$dir/server.log" >&2
    exit 1
}

# run_one KEY CONNS REQUESTS: one generator run (output in $tmp/KEY-cCONNS.txt), one table row.
rows=
failed=0
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
run_one() {
    local key=$1 conns=$2 n=$3 rc=0 res mode
    local log=$tmp/$key-c$conns.txt
    mode=$(mode_label "$key")
    "$gen" --host 127.0.0.1 --port "$ingress_port" --connections "$conns" --requests "$n" --warmup "$WARMUP" \
        --secret "$SECRET" --source stripe --timeout "$RUN_TIMEOUT" >"$log" 2>&1 || rc=$?
    res=$(grep '^RESULT ' "$log" || true)
    if [ -z "$res" ]; then
        say "!! $mode, $conns connections: the generator failed (exit $rc):"
        cat "$log" >&2
        failed=1
        check_server "$key" "$conns" || rc="server died"
        rows="$rows| $mode | $conns | – | – | – | failed ($rc) |"$'\n'
        return
    fi
    local rps p50 p99 errors
    rps=$(field rps "$res")
    p50=$(field p50_ms "$res")
    p99=$(field p99_ms "$res")
    errors=$(field errors "$res")
    say "   $mode, $(printf '%3d' "$conns") connections, $n events: $rps/s, p50 $p50 ms, p99 $p99 ms, errors $errors"
    if [ "$errors" != 0 ]; then
        failed=1
        grep -E '^(errors|  status|  first)' "$log" | sed 's/^/      /' >&2
        grep '^bench_ingest:' "$log" | sed 's/^/      /' >&2 || true
    fi
    check_server "$key" "$conns" || errors="$errors (server died)"
    rows="$rows| $mode | $conns | $rps | $p50 | $p99 | $errors |"$'\n'
}
mode_label() {
    if [ "$1" = group ]; then echo "group commit (max_batch $MAX_BATCH)"; else echo "one commit per event (max_batch 1)"; fi
}
mode_batch() { if [ "$1" = group ]; then echo "$MAX_BATCH"; else echo 1; fi; }

# check_server KEY CONNS, after a run: if the server died, show its log and restart it (fresh data dir) so the next
# runs still measure something; returns 1 then.
notes=
check_server() {
    local status=0 sig=
    kill -0 "$server_pid" 2>/dev/null && return 0
    wait "$server_pid" 2>/dev/null || status=$?
    server_pid=
    failed=1
    [ "$status" -gt 128 ] && sig=", signal $((status - 128))"
    say "!! switchyard died during that run: exit status $status$sig; last lines of its log:"
    tail -n 15 "$tmp/$1/server.log" | sed 's/^/      /' >&2
    mv "$tmp/$1" "$tmp/$1.crashed.$(date +%s%N)"
    notes="$notes- switchyard died (exit status $status$sig) during a $(mode_label "$1") run at $2 connections;"
    notes="$notes restarted on a fresh data dir."$'\n'
    start_server "$1" "$(mode_batch "$1")"
    return 1
}

started=$(date +%s)

start_server group "$(mode_batch group)"
for c in $CONNS; do
    run_one group "$c" "$(if [ "$c" = 1 ]; then echo "$REQS_1"; else echo "$REQS"; fi)"
done
group_size=$(du -sh "$tmp/group/data" | cut -f1)
stop_server
[ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$tmp/group/data"

start_server sync "$(mode_batch sync)"
for c in $SYNC_CONNS; do
    run_one sync "$c" "$(if [ "$c" = 1 ]; then echo "$SYNC_REQS_1"; else echo "$SYNC_REQS"; fi)"
done
stop_server

# ---- report ----
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
fs=$(df -PT "$tmp" | awk 'NR == 2 { print $2 " on " $1 }')
mkdir -p "$here/results" # ignored by git
saved=$here/results/ingest-$(date +%Y%m%d-%H%M%S).md
tee "$saved" <<EOF

## Switchyard ingest benchmark ($(date -u +%Y-%m-%dT%H:%MZ))

Signed ~1.5 KB Stripe \`customer.updated\` events, keep-alive HTTP/1.1, one request in flight per connection,
load generator on the same machine. events/s counts 200 answers only (200 = durable). Latencies in ms.

| mode | connections | events/s | p50 ms | p99 ms | errors |
|---|---:|---:|---:|---:|---:|
${rows%$'\n'}

Machine: $(nproc) CPUs ($cpu), Linux $(uname -r), data dir on $fs; ingress threads $THREADS.
Group-commit data dir after its runs: $group_size. Total time $(($(date +%s) - started)) s.
${notes:+
$notes}
EOF
say "(report saved in $saved)"
exit "$failed"
