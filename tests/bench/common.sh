# Shell helpers shared by the benchmark scripts (sourced, not run).

say() { printf '%s\n' "$*" >&2; }

# A loopback TCP port nobody listens on and this script has not handed out yet (the tiny race with other programs
# is acceptable for a benchmark). Needs `ss` (iproute2).
used_ports=" "
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        case "$used_ports" in *" $p "*) continue ;; esac
        if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
            used_ports="$used_ports$p "
            echo "$p"
            return
        fi
    done
}

# stop_pid PID SECONDS: SIGTERM, up to SECONDS for a clean exit, then SIGKILL (said on stderr); reaps it.
stop_pid() {
    local pid=$1 secs=$2
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((secs * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "!! process $pid did not stop within $secs s of SIGTERM: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# hub_config DATA_DIR POLICY INGRESS_PORT ADMIN_PORT STORAGE STRIPE_SECRET STRIPE_API HUBSPOT_SECRET HUBSPOT_API
# prints a hub config on loopback: POLICY and the API settings ("base_url: ..., token: {...}", without braces) may
# be empty; STORAGE is the storage map's contents ("map_size: 1GiB, map_size_max: 64GiB"). Uses $THREADS and $TOKEN.
hub_config() {
    local data=$1 policy=$2 ingress=$3 admin=$4 storage=$5 stripe_secret=$6 stripe_api=$7 hs_secret=$8 hs_api=$9
    echo "data_dir: $data"
    [ -z "$policy" ] || echo "policy: $policy"
    cat <<CONF
storage: {$storage, max_batch: 4096}
ingress: {listen: 127.0.0.1:$ingress, threads: $THREADS, max_body: 1MiB}
admin: {listen: 127.0.0.1:$admin, token: {value: $TOKEN}}
sources:
  stripe:
    connector: stripe
    tolerance: 300s
    secrets: [{value: $stripe_secret}]
CONF
    [ -z "$stripe_api" ] || echo "    api: {$stripe_api}"
    cat <<CONF
  hubspot:
    connector: hubspot
    signature_version: 3
    tolerance: 5m
    secrets: [{value: $hs_secret}]
CONF
    [ -z "$hs_api" ] || echo "    api: {$hs_api}"
}
