#!/usr/bin/env bash
# Cluster ingest benchmark: events/s and p99 of a cluster of hubs (issue 14: 3 NATS JetStream nodes, stream R3,
# 3 hubs) next to a single hub, same generator, same events.
#
#   tests/bench/run-cluster.sh [BUILD_DIR]        (default: <repo>/build-bench)
#
# Builds a Release binary (SKIP_BUILD=1 uses BUILD_DIR as it is), starts a single hub and measures it, then starts
# 3 nats-server nodes routed to each other and 3 hubs (each with the URL of its own node) on free loopback ports
# and measures the cluster through hub 0 (its acknowledgement waits for the stream's quorum AND its own log), and
# prints a Markdown table (also saved in tests/bench/results/, which git ignores). Everything stays on 127.0.0.1.
# Needs nats-server (deploy/install-deps). Tunables (environment):
#   CONNS="16 64"   REQS=20000 (events per run)   WARMUP=500   THREADS=2   RUN_TIMEOUT=60   ACK_TIMEOUT=5s
#   BENCH_TMPDIR (parent of the temp dir; default BUILD_DIR)   KEEP_TMP=1   SKIP_BUILD=1   NATS=/usr/sbin/nats-server
# A smoke run (to see that the script works, not to measure): CONNS=8 REQS=500 WARMUP=50 SKIP_BUILD=1 run-cluster.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-bench}

CONNS=${CONNS:-"16 64"}
REQS=${REQS:-20000}
WARMUP=${WARMUP:-500}
THREADS=${THREADS:-2}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
ACK_TIMEOUT=${ACK_TIMEOUT:-5s}
NATS=${NATS:-/usr/sbin/nats-server}
SECRET=whsec_bench_secret
TOKEN=bench-token

# shellcheck source=tests/bench/common.sh
. "$here/common.sh"

[ -x "$NATS" ] || { say "nats-server not found at $NATS (deploy/install-deps installs it)"; exit 1; }

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

mkdir -p "${BENCH_TMPDIR:-$build}"
tmp=$(mktemp -d "${BENCH_TMPDIR:-$build}/cluster-bench.XXXXXX")
pids=()
cleanup() {
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[$i]}" 10; done
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_healthy ADMIN_PORT PID LOG: up to 60 s (a hub of a fresh cluster waits for the stream's leader).
wait_healthy() {
    local port=$1 pid=$2 log=$3
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || { say "!! switchyard exited during start-up:"; tail -n 20 "$log" >&2; exit 1; }
        if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null; then return; fi
        sleep 0.1
    done
    say "!! /healthz did not answer within 60 s:"
    tail -n 20 "$log" >&2
    exit 1
}

# start_hub NAME [CLUSTER_YAML]: sets ingress_port.
start_hub() {
    local name=$1 cluster=${2:-} dir=$tmp/$1
    mkdir -p "$dir/data"
    ingress_port=$(free_port)
    local admin_port
    admin_port=$(free_port)
    cat >"$dir/config.yaml" <<EOF
data_dir: $dir/data
storage: {map_size: 4GiB, map_size_max: 16GiB, max_batch: 4096}
ingress: {listen: 127.0.0.1:$ingress_port, threads: $THREADS, max_body: 1MiB}
admin: {listen: 127.0.0.1:$admin_port, token: {value: $TOKEN}}
sources:
  stripe: {connector: stripe, tolerance: 300s, secrets: [{value: $SECRET}]}
$cluster
EOF
    "$bin" serve --config "$dir/config.yaml" >"$dir/server.log" 2>&1 &
    pids+=($!)
    wait_healthy "$admin_port" "$!" "$dir/server.log"
    say "== $name up (ingress :$ingress_port)"
}

rows=
failed=0
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# run_one KEY LABEL CONNS: one generator run against $ingress_port (KEY: letters only, the event ids' prefix).
run_one() {
    local key=$1 label=$2 conns=$3 rc=0 res log=$tmp/run-$1-$3.txt
    "$gen" --host 127.0.0.1 --port "$ingress_port" --connections "$conns" --requests "$REQS" --warmup "$WARMUP" \
        --secret "$SECRET" --source stripe --id-prefix "$key$conns" --timeout "$RUN_TIMEOUT" >"$log" 2>&1 || rc=$?
    res=$(grep '^RESULT ' "$log" || true)
    if [ -z "$res" ]; then
        say "!! $label, $conns connections: the generator failed (exit $rc):"
        cat "$log" >&2
        failed=1
        rows="$rows| $label | $conns | – | – | – | failed ($rc) |"$'\n'
        return
    fi
    local rps p50 p99 errors
    rps=$(field rps "$res")
    p50=$(field p50_ms "$res")
    p99=$(field p99_ms "$res")
    errors=$(field errors "$res")
    [ "$errors" = 0 ] || failed=1
    say "   $label, $conns connections, $REQS events: $rps/s, p50 $p50 ms, p99 $p99 ms, errors $errors"
    rows="$rows| $label | $conns | $rps | $p50 | $p99 | $errors |"$'\n'
}

started=$(date +%s)

# ---- single hub ----
start_hub single
for c in $CONNS; do run_one single "single hub" "$c"; done
stop_pid "${pids[0]}" 10
pids=()

# ---- the cluster: 3 NATS nodes, 3 hubs ----
declare -a cport rport
for i in 0 1 2; do cport[$i]=$(free_port); rport[$i]=$(free_port); done
routes="nats-route://127.0.0.1:${rport[0]}, nats-route://127.0.0.1:${rport[1]}, nats-route://127.0.0.1:${rport[2]}"
for i in 0 1 2; do
    mkdir -p "$tmp/nats$i"
    cat >"$tmp/nats$i/nats.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:${cport[$i]}
jetstream { store_dir: "$tmp/nats$i/js" }
cluster { name: sy-bench, listen: 127.0.0.1:${rport[$i]}, routes: [$routes] }
EOF
    "$NATS" -c "$tmp/nats$i/nats.conf" >"$tmp/nats$i/nats.log" 2>&1 &
    pids+=($!)
done
for i in 0 1 2; do # one after the other: hub 0 creates the stream, the others find it
    start_hub "hub$i" "cluster: {node: hub-$i, nats: nats://127.0.0.1:${cport[$i]}, ack_timeout: $ACK_TIMEOUT}"
    [ "$i" != 0 ] || hub0_port=$ingress_port
done
ingress_port=$hub0_port
# the first events after the stream is created may wait for its leader: a short untimed warm-up
"$gen" --host 127.0.0.1 --port "$ingress_port" --connections 1 --requests 10 --secret "$SECRET" --source stripe \
    --id-prefix warm --timeout "$RUN_TIMEOUT" >"$tmp/warm.txt" 2>&1 || true
for c in $CONNS; do run_one cluster "cluster: 3 NATS nodes (R3), 3 hubs, via hub 0" "$c"; done

# ---- report ----
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
mkdir -p "$here/results" # ignored by git
saved=$here/results/cluster-$(date +%Y%m%d-%H%M%S).md
tee "$saved" <<EOF

## Switchyard cluster ingest benchmark ($(date -u +%Y-%m-%dT%H:%MZ))

Signed ~1.5 KB Stripe \`customer.updated\` events, keep-alive HTTP/1.1, one request in flight per connection,
$REQS events per run after $WARMUP untimed ones; load generator, NATS nodes and hubs on the same machine.
events/s counts 200 answers only (single hub: on disk; cluster: on a quorum of NATS nodes and in hub 0's log).

| setup | connections | events/s | p50 ms | p99 ms | errors |
|---|---:|---:|---:|---:|---:|
${rows%$'\n'}

Machine: $(nproc) CPUs ($cpu), Linux $(uname -r); ingress threads $THREADS; binary from $build.
Total time $(($(date +%s) - started)) s.
EOF
say "(report saved in $saved)"
exit "$failed"
