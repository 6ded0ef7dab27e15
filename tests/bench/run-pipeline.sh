#!/usr/bin/env bash
# Full-pipeline benchmark: ingest with the example policy, the applier and delivery on, side by side with the Node
# peer and with a hub that has no policy, in one run.
#
#   tests/bench/run-pipeline.sh [--quick] [BUILD_DIR]        (default BUILD_DIR: <repo>/build-bench)
#
# 1. builds Release (switchyard, bench_ingest, sy_fake_spoke) into BUILD_DIR;
# 2. starts the two fake spokes (tests/fakes/: --api stripe, --api hubspot, on free loopback ports), seeds them
#    with the K customers the events are about (bench_ingest --print-seed), and starts three receivers:
#      - the hub with policies/customers.yaml and `api:` sections pointing at the fakes (applier + delivery on),
#      - the same hub config without a policy (applier and delivery off: the README's old setup),
#      - the Node peer (tests/bench/node-receiver: Node http, Stripe signature check, fdatasync per event);
# 3. for each connection count (64, 256) runs bench_ingest --mix pipeline against each of them in turn (same
#    events: signed Stripe customer.updated + customer.subscription.updated, HubSpot v3 contact.propertyChange,
#    over K customers). During the hub runs it samples GET /metrics (applier lag, queue depth) and VmRSS every
#    SAMPLE_S; after each policy run it waits for the applier lag to reach 0 and the queue to empty (time to drain);
# 4. prints one Markdown table (also saved in tests/bench/results/, ignored by git) and the machine.
#
# PERF=1 records `perf record -g -p <hub>` during the 64-connection run of the policy hub into
# BUILD_DIR/pipeline-perf.data (and the report of `perf report --no-children --sort dso,symbol` beside it).
#
# Tunables (environment): CONNS ("64 256"), REQS (hub events per run: 100000, --quick 30000), NODE_REQS (Node:
# 40000, --quick 6000), WARMUP (2000, --quick 500), CUSTOMERS (1000), THREADS (ingress threads, 2),
# API_RATE ("1000000/1s": pushes limited by the hub, not by a rate; "policy" keeps the policy's 25/1s and 100/10s),
# API_CONCURRENCY (4, the default), SAMPLE_S (0.5), DRAIN_TIMEOUT (120 s, --quick 10), RUN_TIMEOUT (120),
# BENCH_TMPDIR (parent of the temp dir, default BUILD_DIR: a real disk), KEEP_TMP=1, SKIP_BUILD=1, NO_NODE=1,
# NPM_INSTALL=1 (npm install the stripe package for the peer; without it the peer uses its built-in check when the
# package is absent, and the table says which).
# Everything stays on 127.0.0.1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
quick=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
build=$(realpath -m "${1:-$root/build-bench}")   # absolute: the hubs run in their own dirs

CONNS=${CONNS:-"64 256"}
if [ $quick = 1 ]; then
    REQS=${REQS:-30000}; NODE_REQS=${NODE_REQS:-10000}; WARMUP=${WARMUP:-1000}; DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-10}
else
    REQS=${REQS:-100000}; NODE_REQS=${NODE_REQS:-40000}; WARMUP=${WARMUP:-2000}; DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
fi
CUSTOMERS=${CUSTOMERS:-1000}
THREADS=${THREADS:-2}
API_RATE=${API_RATE:-1000000/1s}
API_CONCURRENCY=${API_CONCURRENCY:-4}
SAMPLE_S=${SAMPLE_S:-0.5}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
SECRET=whsec_pipeline_bench_secret
HS_SECRET=pipeline-bench-hubspot-client-secret
TOKEN=pipeline-bench-admin
STRIPE_KEY=sk_test_pipeline_bench
HS_TOKEN=pat-pipeline-bench

# shellcheck source=tests/bench/common.sh
. "$here/common.sh"
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
started=$(date +%s)
cmdline="tests/bench/run-pipeline.sh$([ $quick = 1 ] && echo ' --quick' || true)"

# ---- build ----
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "== building Release into $build"
    mkdir -p "$build"
    blog=$build/bench-build.log
    # SY_TESTS for the fake spoke; SY_WERROR off: GCC's -Wformat-truncation fires on tests/fakes at -O3.
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSY_TESTS=ON -DSY_WERROR=OFF >"$blog" 2>&1 ||
        { cat "$blog" >&2; exit 1; }
    cmake --build "$build" -j "$(nproc)" --target switchyard bench_ingest sy_fake_spoke >>"$blog" 2>&1 ||
        { tail -n 40 "$blog" >&2; exit 1; }
fi
bin=$build/switchyard
gen=$build/tests/bench/bench_ingest
fake=$build/tests/fakes/sy_fake_spoke
for f in "$bin" "$gen" "$fake"; do [ -x "$f" ] || { say "missing $f (build first)"; exit 1; }; done
use_node=1
if [ "${NO_NODE:-0}" = 1 ] || ! command -v node >/dev/null; then use_node=0; fi
if [ $use_node = 1 ] && [ "${NPM_INSTALL:-0}" = 1 ]; then
    (cd "$here/node-receiver" && npm install --no-audit --no-fund --silent >/dev/null)
fi

# ---- temp dir, processes ----
mkdir -p "${BENCH_TMPDIR:-$build}"
tmp=$(mktemp -d "${BENCH_TMPDIR:-$build}/pipeline-bench.XXXXXX")
pids=()
cleanup() {
    local p i
    # newest first: the hubs stop before the fakes they push to
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        p=${pids[i]}
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# start_fake API TOKEN: sets fake_port (reads "listening on PORT" from its stdout).
start_fake() {
    local api=$1 token=$2 out=$tmp/fake-$1.out
    "$fake" --api "$api" --listen 127.0.0.1:0 --token "$token" >"$out" 2>"$tmp/fake-$api.log" &
    pids+=($!)
    for _ in $(seq 150); do
        fake_port=$(sed -n 's/^listening on \([0-9]*\).*/\1/p' "$out")
        [ -n "$fake_port" ] && break
        sleep 0.1
    done
    [ -n "$fake_port" ] || { say "!! the $api fake did not start"; cat "$tmp/fake-$api.log" >&2; exit 1; }
    "$gen" --print-seed "$api" --customers "$CUSTOMERS" >"$tmp/seed-$api.json"
    curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/seed-$api.json" \
        "http://127.0.0.1:$fake_port/_fake/seed" || { say "!! seeding the $api fake failed"; exit 1; }
}

# start_hub NAME WITH_POLICY: sets hub_pid, hub_port, hub_admin.
start_hub() {
    local name=$1 policy=$2 dir=$tmp/$1 rate
    mkdir -p "$dir/data"
    hub_port=$(free_port)
    hub_admin=$(free_port)
    rate=
    [ "$API_RATE" = policy ] || rate=", rate: \"$API_RATE\""
    local pol= sapi= hapi=
    if [ "$policy" = 1 ]; then
        pol=$root/policies/customers.yaml
        sapi="base_url: \"http://127.0.0.1:$stripe_port\", token: {value: $STRIPE_KEY}$rate, concurrency: $API_CONCURRENCY"
        hapi="base_url: \"http://127.0.0.1:$hubspot_port\", token: {value: $HS_TOKEN}$rate, concurrency: $API_CONCURRENCY"
    fi
    hub_config "$dir/data" "$pol" "$hub_port" "$hub_admin" "map_size: 4GiB, map_size_max: 16GiB" "$SECRET" "$sapi" \
        "$HS_SECRET" "$hapi" >"$dir/config.yaml"
    "$bin" serve --config "$dir/config.yaml" >"$dir/server.log" 2>&1 &
    hub_pid=$!
    pids+=($hub_pid)
    for _ in $(seq 300); do
        kill -0 "$hub_pid" 2>/dev/null || { say "!! switchyard ($name) exited at start-up:"; tail -n 30 "$dir/server.log" >&2; exit 1; }
        if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$hub_admin/healthz" 2>/dev/null; then
            say "== $name: switchyard up (pid $hub_pid, ingress :$hub_port, admin :$hub_admin)"
            return
        fi
        sleep 0.1
    done
    say "!! /healthz of $name did not answer within 30 s"; tail -n 30 "$dir/server.log" >&2; exit 1
}

metrics() { curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/metrics" 2>/dev/null || true; }
# lag, total queue depth, pushes sent ok (from one /metrics text on stdin)
parse_metrics() {
    awk '/^switchyard_applier_lag_events /{lag=$2} /^switchyard_queue_depth\{/{q+=$2}
         /^switchyard_pushes_total\{.*outcome="done"/{ok+=$2} /^switchyard_applier_total\{outcome="observations"/{obs=$2}
         END{printf "%d %d %d %d\n", lag, q, ok, obs}'
}
# commits, events in them, seconds spent in them (group commits of the ingress writer, from /metrics)
commit_stats() {
    awk '/^switchyard_commit_batch_events_sum /{ev=$2} /^switchyard_commit_batch_events_count /{n=$2}
         /^switchyard_commit_duration_seconds_sum /{t=$2} END{printf "%d %d %.6f\n", n, ev, t}'
}
# VmRSS and RssAnon (heap, without LMDB's file-backed map pages) in KiB
rss_kib() { awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} END{print r+0, a+0}' "/proc/$1/status" 2>/dev/null || echo 0 0; }
# CPU time a process used so far (user + system, all threads), in clock ticks (fields 14 and 15 of /proc/PID/stat,
# counted after the command name, which may hold spaces)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
tick_hz=$(getconf CLK_TCK)
# bytes a process passed to write system calls so far (wchar of /proc/PID/io: LMDB's page writes, its log file, its
# answers). Not write_bytes: on this kernel that counts whole large folios dirtied, 6-10x what reaches the disk.
io_bytes() { awk '/^wchar/{print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }

start_fake stripe "$STRIPE_KEY"; stripe_port=$fake_port
start_fake hubspot "$HS_TOKEN"; hubspot_port=$fake_port
say "== fakes: stripe :$stripe_port, hubspot :$hubspot_port, seeded with $CUSTOMERS customers each"
start_hub policy 1; pol_pid=$hub_pid; pol_port=$hub_port; pol_admin=$hub_admin
start_hub nopolicy 0; nop_pid=$hub_pid; nop_port=$hub_port; nop_admin=$hub_admin
node_label=
if [ $use_node = 1 ]; then
    node_port=$(free_port)
    node "$here/node-receiver/server.js" "$node_port" "$SECRET" "$tmp/node.log" "$HS_SECRET" >"$tmp/node.out" 2>&1 &
    node_pid=$!
    pids+=($node_pid)
    for _ in $(seq 100); do grep -q listening "$tmp/node.out" && break; sleep 0.1; done
    grep -q listening "$tmp/node.out" || { say "!! the Node peer did not start:"; cat "$tmp/node.out" >&2; exit 1; }
    node_label=$(sed -n 's/.*verifier: \(.*\))$/\1/p' "$tmp/node.out")
    say "== Node peer up (pid $node_pid, :$node_port, verifier: $node_label, node $(node --version))"
fi

# run_gen PORT CONNS N OUT: one bench_ingest run (pipeline mix), RESULT line in OUT.
# run_gen PORT CONNS N OUT [TIMES]: TIMES gets the generator's own user and system CPU seconds.
run_gen() {
    local TIMEFORMAT='%U %S'
    { time gen_once "$1" "$2" "$3" "$4"; } 2>"${5:-/dev/null}"
}
gen_once() {
    "$gen" --port "$1" --connections "$2" --requests "$3" --warmup "$WARMUP" --secret "$SECRET" \
        --hubspot-secret "$HS_SECRET" --mix pipeline --customers "$CUSTOMERS" --timeout "$RUN_TIMEOUT" >"$4" 2>&1
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
fmt_int() { LC_ALL=C printf "%'d" "$1" 2>/dev/null || echo "$1"; }

rows=
commits=
failed=0
declare -A rps_of
# measure LABEL KIND(pol|nop|node) CONNS: runs, samples, waits for drain (policy hub), adds a table row.
measure() {
    local label=$1 kind=$2 c=$3 port pid admin n out rc=0 gpid perf_pid=
    case $kind in
    pol) port=$pol_port; pid=$pol_pid; admin=$pol_admin; n=$REQS ;;
    nop) port=$nop_port; pid=$nop_pid; admin=$nop_admin; n=$REQS ;;
    node) port=$node_port; pid=$node_pid; admin=; n=$NODE_REQS ;;
    esac
    out=$tmp/$kind-c$c.txt
    local ok0=0 obs0=0 lag q ok obs
    local cn0=0 cev0=0 ct0=0 cn cev ct
    if [ -n "$admin" ]; then
        metrics "$admin" >"$tmp/m0"
        read -r lag q ok0 obs0 < <(parse_metrics <"$tmp/m0")
        read -r cn0 cev0 ct0 < <(commit_stats <"$tmp/m0")
    fi
    local cpu0 io0
    cpu0=$(cpu_ticks "$pid"); io0=$(io_bytes "$pid")
    run_gen "$port" "$c" "$n" "$out" "$tmp/gen-cpu-$kind-c$c.txt" &
    gpid=$!
    if [ "${PERF:-0}" = 1 ] && [ "$kind" = pol ] && [ "$c" = "$(set -- $CONNS; echo "$1")" ]; then
        # wait for the timed phase (after warm-up) before recording
        while kill -0 "$gpid" 2>/dev/null && ! grep -q 'warm-up' "$out" 2>/dev/null; do sleep 0.1; done
        perf record ${PERF_RECORD_OPTS:--g} -o "$build/pipeline-perf.data" -p "$pid" >"$tmp/perf.log" 2>&1 &
        perf_pid=$!
    fi
    local maxlag=0 maxq=0 maxrss=0 maxanon=0 rss anon t0
    t0=$(date +%s.%N)
    while kill -0 "$gpid" 2>/dev/null; do
        read -r rss anon < <(rss_kib "$pid"); ((rss > maxrss)) && maxrss=$rss; ((anon > maxanon)) && maxanon=$anon
        if [ -n "$admin" ]; then
            read -r lag q ok obs < <(metrics "$admin" | parse_metrics)
            ((lag > maxlag)) && maxlag=$lag
            ((q > maxq)) && maxq=$q
        fi
        sleep "$SAMPLE_S"
    done
    wait "$gpid" || rc=$?
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        perf report -i "$build/pipeline-perf.data" --no-children --sort dso,symbol 2>/dev/null | head -60 \
            >"$build/pipeline-perf.txt" || true
        say "   perf: $build/pipeline-perf.data, top of the report in $build/pipeline-perf.txt"
    fi
    local res
    res=$(grep '^RESULT ' "$out" || true)
    if [ -z "$res" ]; then
        say "!! $label, $c connections: bench_ingest failed (exit $rc):"; tail -n 20 "$out" >&2
        failed=1
        rows="$rows| $label | $c | failed | | | | | | | | | |"$'\n'
        return
    fi
    [ "${PERF:-0}" = 1 ] && [ -n "$perf_pid" ] && label="$label (under perf record)"
    local rps p50 p99 errors
    rps=$(field rps "$res"); p50=$(field p50_ms "$res"); p99=$(field p99_ms "$res"); errors=$(field errors "$res")
    rps_of[$kind-$c]=$rps
    [ "$errors" = 0 ] || { failed=1; grep -E '^(errors|  status|  first)' "$out" | sed 's/^/      /' >&2; }
    local endlag=– drain=– qcell=– lagcell=– pushes=
    if [ -n "$admin" ]; then
        metrics "$admin" >"$tmp/m1"
        cp "$tmp/m1" "$tmp/metrics-$kind-c$c.txt"
        read -r lag q ok obs < <(parse_metrics <"$tmp/m1")
        read -r cn cev ct < <(commit_stats <"$tmp/m1")
        commits="$commits| $label | $c | $(fmt_int $((cn - cn0))) | $(awk -v n=$((cn - cn0)) -v e=$((cev - cev0)) -v t1="$ct" -v t0="$ct0" \
            'BEGIN{if (n > 0) printf "%.1f | %.2f", e / n, (t1 - t0) * 1000 / n; else printf "– | –"}') |"$'\n'
        ((lag > maxlag)) && maxlag=$lag
        ((q > maxq)) && maxq=$q
        endlag=$lag
        lagcell=$(fmt_int "$maxlag")
        if [ "$kind" = pol ]; then
            # time to drain: from the generator's end until applier lag 0 and queue empty
            local td0 td1 deadline
            td0=$(date +%s.%N)
            deadline=$(($(date +%s) + DRAIN_TIMEOUT))
            while { [ "$lag" != 0 ] || [ "$q" != 0 ]; } && [ "$(date +%s)" -lt "$deadline" ]; do
                sleep 0.2
                read -r rss anon < <(rss_kib "$pid"); ((rss > maxrss)) && maxrss=$rss; ((anon > maxanon)) && maxanon=$anon
                read -r lag q ok obs < <(metrics "$admin" | parse_metrics)
            done
            td1=$(date +%s.%N)
            if [ "$lag" = 0 ] && [ "$q" = 0 ]; then
                drain=$(awk -v a="$td0" -v b="$td1" 'BEGIN{printf "%.1f s", b - a}')
            else
                drain="> ${DRAIN_TIMEOUT} s (lag $lag, queue $q)"
            fi
            qcell=$(fmt_int "$maxq")
            pushes=" (applied $(fmt_int $((obs - obs0))) obs., pushed $(fmt_int $((ok - ok0))))"
        else
            lagcell="– (off)"
        fi
    fi
    # CPU per event: the receiver's from the start of the run to the end of the drain (the applier's and delivery's
    # work included), the generator's for signing and sending; every event sent counts (onboarding and warm-up too)
    local sent=$((n + WARMUP + CUSTOMERS)) cpucell
    cpucell=$(awk -v a="$cpu0" -v b="$(cpu_ticks "$pid")" -v hz="$tick_hz" -v n=$sent -v g="$(cat "$tmp/gen-cpu-$kind-c$c.txt" 2>/dev/null)" \
        'BEGIN{split(g, t, " "); printf "%.0f / %.0f", (b - a) / hz * 1e6 / n, (t[1] + t[2]) * 1e6 / n}')
    local iocell
    iocell=$(awk -v a="$io0" -v b="$(io_bytes "$pid")" -v n=$sent 'BEGIN{printf "%.1f", (b - a) / 1024 / n}')
    local endcell=–
    [ -n "$admin" ] && [ "$kind" = pol ] && endcell="$(fmt_int "$endlag") / $drain"
    say "   $label, $c conns: $rps ev/s, p50 $p50, p99 $p99 ms, errors $errors, max lag $maxlag, max queue $maxq," \
        "max RSS $((maxrss / 1024)) MiB (anon $((maxanon / 1024))), end lag $endlag, drain $drain$pushes"
    rows="$rows| $label | $c | $(fmt_int "$rps") | $p50 / $p99 | $lagcell | $endcell | $qcell | $((maxrss / 1024)) / $((maxanon / 1024)) MiB | $cpucell | $iocell | @RATIO-$kind-$c@ | $errors |"$'\n'
}

for c in $CONNS; do
    measure "hub, example policy (applier + delivery on)" pol "$c"
    measure "hub, no policy (applier off)" nop "$c"
    [ $use_node = 0 ] || measure "Node peer (http + ${node_label:-?} + fdatasync)" node "$c"
done

# ratios hub/Node per connection count
for c in $CONNS; do
    for k in pol nop node; do
        r=–
        if [ $use_node = 1 ] && [ -n "${rps_of[$k-$c]:-}" ] && [ -n "${rps_of[node-$c]:-}" ] && [ "${rps_of[node-$c]}" != 0 ]; then
            r=$(awk -v a="${rps_of[$k-$c]}" -v b="${rps_of[node-$c]}" 'BEGIN{printf "%.2f×", a / b}')
        fi
        [ "$k" = node ] && r="1×"
        rows=${rows//@RATIO-$k-$c@/$r}
    done
done

# pushes the fakes took (proof the applier and delivery really worked)
fake_requests() { curl -fsS "http://127.0.0.1:$1/_fake/state" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p' | head -n 1; }
sreq=$(fake_requests "$stripe_port" || echo "?"); hreq=$(fake_requests "$hubspot_port" || echo "?")

cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
fs=$(df -PT "$tmp" | awk 'NR == 2 { print $2 " on " $1 }')
mkdir -p "$here/results"
saved=$here/results/pipeline-$(date +%Y%m%d-%H%M%S).md
tee "$saved" <<EOF

## Switchyard full-pipeline benchmark ($(date -u +%Y-%m-%dT%H:%MZ))

\`$cmdline\`: $(fmt_int "$REQS") events per hub run, $(fmt_int "$NODE_REQS") per Node run, $(fmt_int "$WARMUP") warm-up
each; the mix over $(fmt_int "$CUSTOMERS") customers: 2/5 Stripe \`customer.updated\`, 1/5 Stripe
\`customer.subscription.updated\`, 2/5 HubSpot \`contact.propertyChange\` (signature v3), one event per request,
keep-alive, one request in flight per connection, generator on the same machine. events/s counts 200 answers only.
Lag and queue depth sampled from /metrics every $SAMPLE_S s, RSS: VmRSS (with LMDB's mapped file pages) / RssAnon (heap only).
CPU µs per event: the receiver's CPU time (all threads, user + system) from the start of the run to the end of the drain,
and the generator's, each divided by every event sent (onboarding and warm-up included); both share the $(nproc) cores,
so $(nproc) s / (receiver + generator µs) is the most this machine can answer per second. KiB written per event: what
the receiver passed to write system calls (wchar of /proc/PID/io: storage pages, its log, its answers) over the same
span, per event sent.
API rate of the spokes: $API_RATE, concurrency $API_CONCURRENCY.

| receiver | conns | events/s | p50 / p99 ms | max applier lag | lag at end / time to drain | max queue depth | max RSS / anon | CPU µs/event receiver / generator | KiB written/event | ratio to Node | errors |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows%$'\n'}

Group commits of the ingress writer during each hub run (from /metrics: switchyard_commit_batch_events,
switchyard_commit_duration_seconds; a commit's time includes the applier's and delivery's writes riding on it,
its fsync, and waiting for LMDB's write lock):

| receiver | conns | commits | events per commit | ms per commit |
|---|---:|---:|---:|---:|
${commits%$'\n'}

Fakes received $sreq (Stripe) and $hreq (HubSpot) API requests in all.
Machine: $(nproc) CPUs ($cpu), Linux $(uname -r), data dir on $fs; ingress threads $THREADS; load average at the
end $(cut -d' ' -f1-3 /proc/loadavg)$([ $use_node = 1 ] && echo "; node $(node --version)"). Total time $(($(date +%s) - started)) s.
EOF
say "(report saved in $saved)"
exit "$failed"
