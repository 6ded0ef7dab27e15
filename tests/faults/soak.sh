#!/usr/bin/env bash
# Repeats one fault-injection scenario with a fresh seed each time, to find the rare interleaving. Every seed is
# printed; a failing one is kept in the summary file so `tests/faults/run.sh --seed N --only NAME` replays its
# random choices (kill delays, event mix). See tests/faults/README.md.
#
#   tests/faults/soak.sh                       # kill9, 20 runs of SY_FAULT_ROUNDS=10, stop at the first failure
#   tests/faults/soak.sh --only sighup --runs 50 --rounds 5 --keep-going
#
# Options: --only NAME (default kill9), --runs N (20), --rounds N (10), --keep-going, --build-dir DIR, --no-build,
#          --out FILE (summary, default fault-soak.txt in the build tree)
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
build="$repo/build-faults"
name=kill9
runs=20
rounds=10
keep_going=0
build_flag=()
out=""

while [ $# -gt 0 ]; do
    case "$1" in
    --only) name="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --keep-going) keep_going=1; shift ;;
    --build-dir) build="$(realpath -m "$2")"; shift 2 ;;
    --no-build) build_flag=(--no-build); shift ;;
    --out) out="$2"; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
out="${out:-$build/fault-soak.txt}"

if [ ${#build_flag[@]} -eq 0 ]; then
    "$repo/tests/faults/run.sh" --build-only --build-dir "$build" --only "$name"
fi
mkdir -p "$(dirname "$out")"
: >"$out"
failed=0
for i in $(seq 1 "$runs"); do
    seed=$(( (RANDOM << 15 | RANDOM) ))
    log="$build/fault-soak-$name-$seed.log"
    start=$(date +%s)
    if "$repo/tests/faults/run.sh" --no-build --build-dir "$build" --only "$name" --rounds "$rounds" --seed "$seed" \
        >"$log" 2>&1; then
        echo "run $i/$runs: $name seed $seed passed ($(( $(date +%s) - start )) s)" | tee -a "$out"
        rm -f "$log"
    else
        echo "run $i/$runs: $name seed $seed FAILED ($(( $(date +%s) - start )) s), log $log" | tee -a "$out"
        failed=$((failed + 1))
        [ "$keep_going" = 1 ] || break
    fi
done
echo "$failed failed; summary in $out"
[ "$failed" = 0 ]
