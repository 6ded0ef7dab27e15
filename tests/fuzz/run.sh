#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz/ and runs each for SECONDS (default 30) on a
# copy of its committed corpus plus its regression inputs, so the repository is never modified. Targets run
# side by side, one per CPU. A crash, leak, sanitizer report or timeout fails the run; the input that caused it is
# kept under build-fuzz/artifacts/fuzz_<target>/ (add it to tests/fuzz/regressions/<target>/ once fixed).
#
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]     e.g. tests/fuzz/run.sh 600 json observe
# Environment: SY_FUZZ_BUILD (build dir), SY_FUZZ_JOBS (targets at once), SY_FUZZ_CORPUS_OUT (a directory to copy
# the grown corpora to, e.g. to merge new inputs into tests/fuzz/corpus/ with -merge=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
seconds=${1:-30}
shift || true
build=${SY_FUZZ_BUILD:-$root/build-fuzz}
jobs=${SY_FUZZ_JOBS:-$(nproc)}

# clang and its libFuzzer runtime are not among deploy/install-deps' packages: without them, say so and skip.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$probe/p.c"
if ! command -v clang >/dev/null || ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null; then
    echo "tests/fuzz/run.sh: clang with libFuzzer is not installed (apt-get install clang libclang-rt-14-dev): skipped" >&2
    exit 0
fi

cmake -S tests/fuzz -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1 || { cat "$build/build.log" >&2; exit 1; }

if (( $# > 0 )); then
    targets=()
    for t in "$@"; do
        targets+=("fuzz_${t#fuzz_}")
    done
else
    targets=()
    for src in tests/fuzz/fuzz_*.c; do
        targets+=("$(basename "$src" .c)")
    done
fi

work=$(mktemp -d)
trap 'rm -rf "$probe" "$work"' EXIT
export SY_SOURCE_DIR="$root" TMPDIR="$work"
# Leaks count as failures; UBSan reports stop the run like ASan's do.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run_one() {
    local t=$1 dir="$work/$1" name=${1#fuzz_}
    mkdir -p "$dir/corpus" "$dir/artifacts"
    cp -r tests/fuzz/corpus/"$name"/. "$dir/corpus/" 2>/dev/null || true
    cp -r tests/fuzz/regressions/"$name"/. "$dir/corpus/" 2>/dev/null || true
    local rc=0
    (cd "$dir" && "$build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/" corpus </dev/null >"$dir/log" 2>&1) || rc=$?
    echo "$rc" >"$dir/rc"
}

running=0
for t in "${targets[@]}"; do
    [[ -x "$build/$t" ]] || { echo "tests/fuzz/run.sh: no target $t" >&2; exit 2; }
    run_one "$t" &
    if (( ++running >= jobs )); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

failed=0
for t in "${targets[@]}"; do
    dir="$work/$t"
    rc=$(cat "$dir/rc" 2>/dev/null || echo 1)
    # The last status line: "#N DONE cov: C ft: F corp: K/S ... exec/s: E ..."
    line=$(grep -E '^#[0-9]+' "$dir/log" | tail -n 1 || true)
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$dir/log" | tail -n 1)
    rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$dir/log" | tail -n 1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p' <<<"$line")
    printf '%-22s %s  runs %-9s exec/s %-7s cov %-6s ft %-6s corpus %s\n' "$t" "$([[ $rc == 0 ]] && echo ok || echo FAIL)" \
        "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
    if [[ -n "${SY_FUZZ_CORPUS_OUT:-}" ]]; then
        mkdir -p "$SY_FUZZ_CORPUS_OUT/$t"
        cp -r "$dir/corpus/." "$SY_FUZZ_CORPUS_OUT/$t/"
    fi
    if [[ $rc != 0 ]]; then
        failed=1
        mkdir -p "$build/artifacts/$t"
        cp -r "$dir/artifacts/." "$build/artifacts/$t/" 2>/dev/null || true
        echo "---- $t (exit $rc): end of its log; the input is under $build/artifacts/$t/" >&2
        tail -n 40 "$dir/log" >&2
    fi
done
exit "$failed"
