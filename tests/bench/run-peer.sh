#!/usr/bin/env bash
# Side by side: Switchyard against the receiver a user would otherwise write (tests/bench/node-receiver: Node.js,
# the official `stripe` package's constructEvent, an fdatasync'd append), under the same load from bench_ingest:
# signed ~1.5 KB Stripe events, each with its own id, keep-alive, on this machine. Prints a Markdown table with
# events/s, p50, p99 and the server's peak anonymous RSS (heap; LMDB's file-backed map pages are not counted), and
# the ratio.
#   tests/bench/run-peer.sh [BUILD_DIR]      (needs node and npm; installs the stripe package into node-receiver/)
# Env: CONNS (default "64 256"), REQS (Switchyard, default 100000), NODE_REQS (default 20000).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-bench}
CONNS=${CONNS:-"64 256"}
REQS=${REQS:-100000}
NODE_REQS=${NODE_REQS:-20000}
SECRET=whsec_peer_bench_secret

command -v node >/dev/null && command -v npm >/dev/null || { echo "run-peer.sh: needs node and npm" >&2; exit 2; }
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSY_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target switchyard bench_ingest >/dev/null
(cd tests/bench/node-receiver && npm install --no-audit --no-fund --silent >/dev/null)

tmp=$(mktemp -d "${BENCH_TMPDIR:-$BUILD}/peer.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# shellcheck source=tests/bench/common.sh
. tests/bench/common.sh

# Runs the generator against PORT and samples the server's RSS meanwhile; prints "rps p50 p99 rss_mib".
measure() {
    local port=$1 pid=$2 conns=$3 reqs=$4 peak=0
    "$BUILD/tests/bench/bench_ingest" --port "$port" --secret "$SECRET" --connections "$conns" --requests "$reqs" \
        --warmup 1000 --id-prefix "p$RANDOM$conns" >"$tmp/out" 2>&1 &
    local gen=$!
    while kill -0 "$gen" 2>/dev/null; do
        local rss
        rss=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        (( rss > peak )) && peak=$rss
        sleep 0.2
    done
    wait "$gen" || true
    local line
    line=$(grep '^RESULT' "$tmp/out" | tail -1)
    echo "$(sed -n 's/.* rps=\([0-9]*\).*/\1/p' <<<"$line") $(sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p' <<<"$line")" \
         "$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$line") $((peak / 1024))"
}

sport=$(free_port); aport=$(free_port); nport=$(free_port)
cat >"$tmp/hub.yaml" <<YAML
data_dir: $tmp/data
storage: {map_size: 4GiB, map_size_max: 16GiB}
ingress: {listen: 127.0.0.1:$sport, threads: 2}
admin: {listen: 127.0.0.1:$aport, token: {value: bench}}
sources:
  stripe: {connector: stripe, secrets: [{value: $SECRET}]}
YAML
"$BUILD/switchyard" serve --config "$tmp/hub.yaml" >"$tmp/hub.log" 2>&1 &
pids+=($!); hub=$!
node tests/bench/node-receiver/server.js "$nport" "$SECRET" "$tmp/node.log" >"$tmp/node.out" 2>&1 &
pids+=($!); nodepid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$aport/healthz" >/dev/null && grep -q listening "$tmp/node.out" && break
    sleep 0.1
done

echo "| receiver | connections | events/s | p50 ms | p99 ms | peak anon RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|"
for c in $CONNS; do
    read -r srps sp50 sp99 srss < <(measure "$sport" "$hub" "$c" "$REQS")
    read -r nrps np50 np99 nrss < <(measure "$nport" "$nodepid" "$c" "$NODE_REQS")
    echo "| Switchyard | $c | $srps | $sp50 | $sp99 | $srss |"
    echo "| Node.js + stripe SDK + fdatasync | $c | $nrps | $np50 | $np99 | $nrss |"
    awk -v a="$srps" -v b="$nrps" -v c="$c" 'BEGIN { if (b > 0) printf "| ratio | %s | **%.1f×** | | | |\n", c, a / b }'
done
echo
echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r), node $(node --version)"
