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
