#!/usr/bin/env bash
# State benchmark (issue #11): the costs that must not grow with the state a hub holds.
#
#   tests/bench/run-state.sh [--quick] [BUILD_DIR]        (default BUILD_DIR: <repo>/build-bench-state)
#
# For each size N it fills a fresh data dir (bench_state_fill: N pushes queued for a spoke without api settings,
# all due, and N golden records), starts a Release `switchyard serve` on free loopback ports with the repository's
# policy and a second spoke (stripe) whose api points at a closed loopback port (so delivery runs its rounds), and
# measures:
#   - first start: seconds from exec to /healthz (a version with the per-spoke queue index builds it here once);
#   - delivery, idle: the hub's CPU ms per second while nothing is sent (delivery wakes about once a second; a
#     round that scans the queue costs O(N) each time) and, where /metrics has them, outbox documents decoded per
#     round;
#   - GET /metrics, GET /admin/api/status, GET /admin/api/health: median wall time of REPS requests (curl);
#   - a busy spoke: the same N pushes due for stripe instead, sent to a local fake Stripe (tests/fakes, built from
#     the same tree) as fast as the connector's rate allows: hub CPU ms/s, requests/s, rounds/s, docs per round.
# Then the ingest rate (bench_ingest, CONNS connections, INGEST_REQS events) on an empty log and on a log of EVENTS
# events filled beforehand (no policy: the applier does not run, only the log's size differs).
# Prints Markdown tables (cost vs state size), also saved in tests/bench/results/ (ignored by git).
#
#   --quick: SIZES="10 1000 20000 100000", EVENTS=300000, INGEST_REQS=20000, IDLE_S=3 (about a minute)
#   full:    SIZES="10 1000 100000 1000000", EVENTS=10000000, INGEST_REQS=100000, IDLE_S=5 (the 10M-event fill
#            alone takes minutes and ~5 GB of disk)
# Tunables (environment): SIZES, EVENTS, INGEST_REQS, INGEST_RUNS=3, CONNS=16, IDLE_S, REPS=5, THREADS=2, SRC (the source tree to
# build, default this repository: point it at an export of another commit to measure "before"; the helper is
# copied into it when missing), BENCH_TMPDIR (parent of the temp dir; default BUILD_DIR, a real disk),
# KEEP_TMP=1, SKIP_BUILD=1. Everything stays on 127.0.0.1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
quick=0
if [ "${1:-}" = --quick ]; then
    quick=1
    shift
fi
build=${1:-$root/build-bench-state}
src=${SRC:-$root}

if [ "$quick" = 1 ]; then
    SIZES=${SIZES:-"10 1000 20000 100000"}
    EVENTS=${EVENTS:-300000}
    INGEST_REQS=${INGEST_REQS:-20000}
    IDLE_S=${IDLE_S:-3}
else
    SIZES=${SIZES:-"10 1000 100000 1000000"}
    EVENTS=${EVENTS:-10000000}
    INGEST_REQS=${INGEST_REQS:-100000}
    IDLE_S=${IDLE_S:-5}
fi
CONNS=${CONNS:-16}
REPS=${REPS:-5}
INGEST_RUNS=${INGEST_RUNS:-3}
THREADS=${THREADS:-2}
SECRET=whsec_bench_secret
TOKEN=bench-token

# shellcheck source=tests/bench/common.sh
. "$here/common.sh"

# ---- build ----
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    [ -f "$src/tests/bench/state_fill.c" ] || cp "$here/state_fill.c" "$src/tests/bench/state_fill.c"
    say "== building Release from $src into $build"
    mkdir -p "$build"
    blog=$build/bench-build.log
    # SY_TESTS=ON only for the fake Stripe API (tests/fakes) of the busy-spoke runs; no test is built.
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSY_TESTS=ON >"$blog" 2>&1 || { cat "$blog" >&2; exit 1; }
    cmake --build "$build" -j 2 --target switchyard bench_ingest bench_state_fill sy_fake_spoke >>"$blog" 2>&1 ||
        { tail -n 40 "$blog" >&2; exit 1; }
fi
bin=$(find "$build" -maxdepth 2 -type f -name switchyard -perm -u+x | head -n 1)
gen=$(find "$build" -maxdepth 3 -type f -name bench_ingest -perm -u+x | head -n 1)
fill=$(find "$build" -maxdepth 3 -type f -name bench_state_fill -perm -u+x | head -n 1)
fake=$(find "$build" -maxdepth 4 -type f -name sy_fake_spoke -perm -u+x | head -n 1)
[ -n "$bin" ] && [ -n "$gen" ] && [ -n "$fill" ] && [ -n "$fake" ] ||
    { say "switchyard, bench_ingest, bench_state_fill or sy_fake_spoke missing in $build"; exit 1; }

mkdir -p "${BENCH_TMPDIR:-$build}"
tmp=$(mktemp -d "${BENCH_TMPDIR:-$build}/state-bench.XXXXXX")
server_pid=
fake_pid=
stop_fake() {
    [ -n "$fake_pid" ] || return 0
    kill -TERM "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
    fake_pid=
}
stop_server() {
    stop_pid "$server_pid" 30
    server_pid=
}
cleanup() {
    stop_server
    stop_fake
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# write_config DIR WITH_POLICY [STRIPE_API_URL]
write_config() {
    local dir=$1 with_policy=$2 api=${3:-} closed
    ingress_port=$(free_port)
    admin_port=$(free_port)
    closed=$(free_port) # nobody listens there: stripe's pushes (none are queued) would fail fast
    [ -n "$api" ] || api=http://127.0.0.1:$closed
    local pol= sapi=
    if [ "$with_policy" = 1 ]; then
        pol=$src/policies
        sapi="base_url: \"$api\", token: {value: sk_bench}"
    fi
    hub_config "$dir/data" "$pol" "$ingress_port" "$admin_port" "map_size: 1GiB, map_size_max: 64GiB" "$SECRET" \
        "$sapi" bench-hubspot-secret "" >"$dir/config.yaml"
}

# start_server DIR WITH_POLICY: starts, waits for /healthz; sets start_s (seconds to the first answer). A port taken
# meanwhile by another program (the machine is shared) gets a new config with other ports, up to 3 times.
start_server() {
    local dir=$1 with_policy=$2 t0 try
    for try in 1 2 3; do
        t0=$(date +%s.%N)
        "$bin" serve --config "$dir/config.yaml" >"$dir/server.log" 2>&1 &
        server_pid=$!
        for _ in $(seq 6000); do # up to 10 min (a first start may index a million pushes)
            if ! kill -0 "$server_pid" 2>/dev/null; then
                wait "$server_pid" 2>/dev/null || true
                server_pid=
                break
            fi
            if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$admin_port/healthz" 2>/dev/null; then
                start_s=$(echo "$(date +%s.%N) - $t0" | bc)
                return
            fi
            sleep 0.1
        done
        if [ -n "$server_pid" ]; then
            say "!! /healthz did not answer within 10 min"
            exit 1
        fi
        if grep -q "Address already in use" "$dir/server.log" && [ "$try" != 3 ]; then
            say "   a port was taken meanwhile: new ports"
            write_config "$dir" "$with_policy" "${stripe_api:-}"
            continue
        fi
        say "!! switchyard exited during start-up; its log:"
        tail -n 30 "$dir/server.log" >&2
        exit 1
    done
}

get_ms() { # PATH → wall ms of one authorised GET (fails the run on a non-200)
    curl -fsS -o /dev/null -w '%{time_total}\n' --max-time 600 -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$admin_port$1" | awk '{ printf "%.2f\n", $1 * 1000 }'
}
median_ms() { # PATH
    local i
    for i in $(seq "$REPS"); do get_ms "$1"; done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
metric() { # SERIES → value, or "" when /metrics has no such line
    curl -fsS --max-time 600 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$admin_port/metrics" |
        awk -v s="$1" '$1 == s { print $2; exit }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
hz=$(getconf CLK_TCK)

started=$(date +%s)
state_rows=
for n in $SIZES; do
    dir=$tmp/n$n
    mkdir -p "$dir"
    write_config "$dir" 1
    say "== $n queued pushes and $n records: filling"
    "$fill" --dir "$dir/data" --pushes "$n" --records "$n" --spoke hubspot >"$dir/fill.txt"
    start_server "$dir" 1
    # warm-up (a health cache's first scan, page cache), untimed
    get_ms /metrics >/dev/null
    get_ms /admin/api/status >/dev/null
    get_ms /admin/api/health >/dev/null
    r0=$(metric switchyard_delivery_rounds_total)
    d0=$(metric switchyard_delivery_docs_read_total)
    c0=$(cpu_ticks)
    sleep "$IDLE_S"
    c1=$(cpu_ticks)
    r1=$(metric switchyard_delivery_rounds_total)
    d1=$(metric switchyard_delivery_docs_read_total)
    idle=$(echo "scale=1; ($c1 - $c0) * 1000 / $hz / $IDLE_S" | bc)
    if [ -n "$r0" ] && [ -n "$r1" ] && [ "$r1" != "$r0" ]; then
        docs=$(echo "scale=1; ($d1 - $d0) / ($r1 - $r0)" | bc)
    else
        docs="n/a (scans all $n due)"
    fi
    m=$(median_ms /metrics)
    s=$(median_ms /admin/api/status)
    h=$(median_ms /admin/api/health)
    say "   first start $(printf '%.2f' "$start_s") s, idle ${idle} ms CPU/s, docs/round $docs, /metrics $m ms," \
        "status $s ms, health $h ms"
    state_rows="$state_rows| $n | $(printf '%.2f' "$start_s") | $idle | $docs | $m | $s | $h |"$'\n'
    stop_server
    [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$dir/data"
done

# ---- a busy spoke: N pushes due for stripe, sent to a local fake Stripe (tests/fakes) as fast as the connector's
# rate limit allows ----
busy_rows=
for n in $SIZES; do
    dir=$tmp/busy$n
    mkdir -p "$dir"
    fake_port=$(free_port)
    "$fake" --api stripe --listen "127.0.0.1:$fake_port" >"$dir/fake.log" 2>&1 &
    fake_pid=$!
    stripe_api=http://127.0.0.1:$fake_port
    write_config "$dir" 1 "$stripe_api"
    say "== $n pushes due for a spoke that is sending: filling"
    "$fill" --dir "$dir/data" --pushes "$n" --records "$n" --spoke stripe >"$dir/fill.txt"
    start_server "$dir" 1
    get_ms /admin/api/health >/dev/null # a health cache's first scan of the N records: not delivery's cost
    sleep 1 # past the first rounds
    r0=$(metric switchyard_delivery_rounds_total)
    d0=$(metric switchyard_delivery_docs_read_total)
    q0=$(metric switchyard_delivery_duration_seconds_count)
    c0=$(cpu_ticks)
    sleep "$IDLE_S"
    c1=$(cpu_ticks)
    r1=$(metric switchyard_delivery_rounds_total)
    d1=$(metric switchyard_delivery_docs_read_total)
    q1=$(metric switchyard_delivery_duration_seconds_count)
    cpu=$(echo "scale=1; ($c1 - $c0) * 1000 / $hz / $IDLE_S" | bc)
    reqs=$(echo "scale=1; (${q1:-0} - ${q0:-0}) / $IDLE_S" | bc)
    if [ -n "$r0" ] && [ -n "$r1" ] && [ "$r1" != "$r0" ]; then
        rounds=$(echo "scale=1; ($r1 - $r0) / $IDLE_S" | bc)
        docs=$(echo "scale=1; ($d1 - $d0) / ($r1 - $r0)" | bc)
    else
        rounds="n/a"
        docs="n/a (scans all $n due)"
    fi
    say "   CPU ${cpu} ms/s, $reqs requests/s, $rounds rounds/s, docs/round $docs"
    busy_rows="$busy_rows| $n | $cpu | $reqs | $rounds | $docs |"$'\n'
    stop_server
    stop_fake
    stripe_api=
    [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$dir/data"
done

# ---- ingest on an empty log and on a full one ----
ingest_rows=
for events in 0 "$EVENTS"; do
    dir=$tmp/ingest$events
    mkdir -p "$dir"
    write_config "$dir" 0
    fill_s=0
    if [ "$events" != 0 ]; then
        say "== filling the log with $events events"
        "$fill" --dir "$dir/data" --events "$events" >"$dir/fill.txt"
        fill_s=$(sed -n 's/.* seconds=\([^ ]*\).*/\1/p' "$dir/fill.txt")
    fi
    start_server "$dir" 0
    # INGEST_RUNS runs, the median by events/s (one run on a shared machine says little)
    runs=
    for run in $(seq "$INGEST_RUNS"); do
        log=$dir/ingest-$run.txt
        "$gen" --host 127.0.0.1 --port "$ingress_port" --connections "$CONNS" --requests "$INGEST_REQS" --warmup 1000 \
            --secret "$SECRET" --source stripe --timeout 120 >"$log" 2>&1 || true
        res=$(grep '^RESULT ' "$log" || true)
        [ -n "$res" ] || { say "!! bench_ingest failed:"; cat "$log" >&2; exit 1; }
        runs="$runs$(sed -n 's/.* rps=\([^ ]*\).*/\1/p' <<<"$res") $(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<<"$res") $(sed -n 's/.* errors=\([^ ]*\).*/\1/p' <<<"$res")"$'\n'
    done
    read -r rps p99 errors < <(printf '%s' "$runs" | sort -n | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
    all=$(printf '%s' "$runs" | awk '{ printf "%s%s", sep, $1; sep = ", " }')
    size=$(du -sh "$dir/data" | cut -f1)
    say "   $events events logged before: median $rps events/s (runs: $all), p99 $p99 ms, errors $errors (data dir $size)"
    [ "$events" = 0 ] && base_rps=$rps
    ratio=$(echo "scale=1; $rps * 100 / $base_rps" | bc)
    ingest_rows="$ingest_rows| $events | $size | $rps ($all) | $ratio % | $p99 | $errors |"$'\n'
    stop_server
    [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$dir/data"
done

# ---- report ----
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
fs=$(df -PT "$tmp" | awk 'NR == 2 { print $2 " on " $1 }')
if [ "$(git -C "$src" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$src" && pwd -P)" ]; then
    rev="commit $(git -C "$src" rev-parse --short HEAD)$(git -C "$src" diff --quiet HEAD 2>/dev/null || echo ", with local changes")"
else
    rev="not a git checkout (an export?)"
fi
mkdir -p "$here/results" # ignored by git
saved=$here/results/state-$(date +%Y%m%d-%H%M%S).md
tee "$saved" <<EOF

## Switchyard state benchmark: cost vs state size ($(date -u +%Y-%m-%dT%H:%MZ)$( [ "$quick" = 1 ] && echo ", --quick"))

Source: $src ($rev). N pushes queued for a spoke without api settings (all due) plus N golden records; delivery
runs for a second spoke with nothing queued. Idle CPU is the whole hub's, per second, with no request coming in
(delivery wakes about once a second). GET figures: median of $REPS requests, ms, curl on the same machine.

| N (queued pushes = records) | first start s | idle CPU ms/s | docs decoded per round | GET /metrics ms | GET /admin/api/status ms | GET /admin/api/health ms |
|---:|---:|---:|---:|---:|---:|---:|
$state_rows
A busy spoke: the N pushes are due for stripe, sent to a local fake Stripe API (lookups by email, creates) at
the rate the connector allows, over ${IDLE_S} s. requests/s: answered push requests (/metrics).

| N (pushes due for the spoke) | hub CPU ms/s | requests/s | rounds/s | docs decoded per round |
|---:|---:|---:|---:|---:|
$busy_rows
Ingest, $CONNS connections, $INGEST_REQS signed Stripe events per run, median of $INGEST_RUNS runs (all runs in
brackets), no policy (only the log's size differs):

| events in the log before | data dir | events/s (runs) | vs empty | p99 ms | errors |
|---:|---:|---:|---:|---:|---:|
$ingest_rows
Machine: $(nproc) cores, $cpu; data on $fs; $(($(date +%s) - started)) s in all. Shared machines give noisy
figures: compare shapes (flat or growing), not single values.
EOF
