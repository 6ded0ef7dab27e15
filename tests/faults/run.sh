#!/usr/bin/env bash
# Runs the fault-injection tests (tests/integration/test_faults_*.c) in their CI form or a long form.
# See tests/faults/README.md.
#
#   tests/faults/run.sh                      # CI form through ctest (SY_FAULT_ROUNDS=3), ASan build in build-faults/
#   tests/faults/run.sh --long               # SY_FAULT_ROUNDS=50, binaries run directly (no ctest 300 s timeout)
#   tests/faults/run.sh --rounds 200 --seed 12345 --only kill9
#
# Options:
#   --build-dir DIR   build tree (default: build-faults in the repository; configured with -DSY_SANITIZE=ON)
#   --no-build        do not configure/build, use the build tree as it is
#   --build-only      configure and build, run nothing
#   --long            SY_FAULT_ROUNDS=50 (unless --rounds is given)
#   --rounds N        SY_FAULT_ROUNDS=N
#   --seed N          SY_FAULT_SEED=N (replay the random choices of a failed run)
#   --only NAME       one scenario: kill9, storage, spokes, clock, sighup (repeatable)
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
build="$repo/build-faults"
do_build=1
build_only=0
rounds=""
seed=""
long=0
only=()

while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) build="$(realpath -m "$2")"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --build-only) build_only=1; shift ;;
    --long) long=1; shift ;;
    --rounds) rounds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$rounds" ] && [ "$long" = 1 ]; then
    rounds=50
fi
if [ ${#only[@]} -eq 0 ]; then
    only=(kill9 storage spokes clock sighup)
fi

if [ "$do_build" = 1 ]; then
    cmake -S "$repo" -B "$build" -DSY_SANITIZE=ON >/dev/null
    targets=()
    for n in "${only[@]}"; do targets+=(--target "it_test_faults_$n"); done
    cmake --build "$build" -j"$(nproc)" --target switchyard --target sy_fake_spoke "${targets[@]}"
fi
[ "$build_only" = 1 ] && exit 0

[ -n "$rounds" ] && export SY_FAULT_ROUNDS="$rounds"
[ -n "$seed" ] && export SY_FAULT_SEED="$seed"

if [ -z "$rounds" ] && [ -z "$seed" ]; then
    # The CI form, exactly as ctest runs it.
    regex="faults_($(IFS='|'; echo "${only[*]}"))\$"
    exec ctest --test-dir "$build" -R "$regex" --output-on-failure
fi

# Long or replayed runs: the binaries directly, with the environment ctest would give them.
export SY_BIN="$build/switchyard"
export SY_FAKE="$build/tests/fakes/sy_fake_spoke"
export SY_SOURCE_DIR="$repo"
export SY_TEST_DATA="$repo/tests/data"
export LSAN_OPTIONS="suppressions=$repo/tests/lsan.supp:print_suppressions=0"
status=0
for n in "${only[@]}"; do
    bin="$build/tests/it_test_faults_$n"
    echo "=== $n (SY_FAULT_ROUNDS=${SY_FAULT_ROUNDS:-3}${SY_FAULT_SEED:+ SY_FAULT_SEED=$SY_FAULT_SEED}) ==="
    start=$(date +%s)
    if "$bin"; then
        echo "=== $n: passed in $(( $(date +%s) - start )) s ==="
    else
        echo "=== $n: FAILED after $(( $(date +%s) - start )) s ===" >&2
        status=1
    fi
done
exit $status
