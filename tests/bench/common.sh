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
