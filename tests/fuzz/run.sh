#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz/ and either replays the committed inputs or
# fuzzes. The repository is never modified.
#
#   tests/fuzz/run.sh --replay [TARGET...]          deterministic (what deploy/test runs): each target executes every
#                                                   file of tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/
#                                                   <target>/ exactly once, in name order, no mutation (libFuzzer given
#                                                   files, not directories: "Running: FILE" / "Executed FILE"), -seed=1
#   tests/fuzz/run.sh --minutes N [TARGET...]       a fuzzing campaign (random search) of N minutes per target on a
#                                                   copy of its corpus plus its regressions; never part of deploy/test
#   tests/fuzz/run.sh SECONDS [TARGET...]           the same campaign in seconds (the old form)
#   e.g. tests/fuzz/run.sh --minutes 60 json observe
#
# Targets run side by side, one per CPU. One line per target; the details stay in the logs under $build/logs/.
# A crash, leak, sanitizer report, failed check or 10 s timeout fails the run. Replay names the failing input (and goes
# on with the inputs after it); a campaign keeps the input under $build/artifacts/fuzz_<target>/ (add it to
# tests/fuzz/regressions/<target>/ once fixed).
#
# Environment: SY_FUZZ_BUILD (build dir, default build-fuzz/), SY_FUZZ_JOBS (targets at once), SY_FUZZ_CORPUS_OUT
# (campaign only: a directory to copy the grown corpora to, e.g. to merge new inputs into tests/fuzz/corpus/ with
# -merge=1), SY_FUZZ_SEED (campaign only: libFuzzer's -seed; default random, printed per target).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

usage() {
    echo "usage: tests/fuzz/run.sh --replay [TARGET...] | --minutes N [TARGET...] | SECONDS [TARGET...]" >&2
    exit 2
}
case "${1:-}" in
--replay) mode=replay; shift ;;
--minutes)
    [[ "${2:-}" =~ ^[0-9]+$ ]] && (( $2 > 0 )) || usage
    mode=campaign seconds=$(( $2 * 60 )); shift 2 ;;
[0-9]*)
    [[ "$1" =~ ^[0-9]+$ ]] && (( $1 > 0 )) || usage
    mode=campaign seconds=$1; shift ;;
*) usage ;;
esac
build=${SY_FUZZ_BUILD:-$root/build-fuzz}
[[ "$build" = /* ]] || build=$root/$build
jobs=${SY_FUZZ_JOBS:-$(nproc)}
rel() { echo "${1#"$root"/}"; }

# clang and its libFuzzer runtime come with deploy/install-deps --test; without them, say so and skip (the gcc test
# build still replays the same files: ctest -R fuzz).
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$probe/p.c"
if ! command -v clang >/dev/null || ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null; then
    echo "tests/fuzz/run.sh: clang with libFuzzer is not installed (deploy/install-deps --test, or apt-get install" \
         "clang libclang-rt-14-dev): skipped" >&2
    exit 0
fi

mkdir -p "$build/logs"
if ! { cmake -S tests/fuzz -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
       cmake --build "$build" -j"$(nproc)"; } >"$build/logs/build.log" 2>&1; then
    echo "tests/fuzz/run.sh: building the fuzz targets failed; end of $(rel "$build/logs/build.log"):" >&2
    tail -n 40 "$build/logs/build.log" >&2
    exit 1
fi

targets=()
if (( $# > 0 )); then
    for t in "$@"; do
        targets+=("fuzz_${t#fuzz_}")
    done
else
    for src in tests/fuzz/fuzz_*.c; do
        targets+=("$(basename "$src" .c)")
    done
fi
for t in "${targets[@]}"; do
    [[ -x "$build/$t" ]] || { echo "tests/fuzz/run.sh: no target $t" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$probe" "$work"' EXIT
export SY_SOURCE_DIR="$root" TMPDIR="$work"
# Leaks count as failures; UBSan reports stop the run like ASan's do.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# The committed inputs of a target, regressions first, each directory in name order (as test_fuzz_regressions.c).
inputs_of() {
    local name=${1#fuzz_} kind
    for kind in regressions corpus; do
        [[ -d $root/tests/fuzz/$kind/$name ]] || continue
        find "$root/tests/fuzz/$kind/$name" -maxdepth 1 -type f ! -name '.*' | LC_ALL=C sort
    done
}

# Replay: libFuzzer given only files runs each of them once (-runs=0 still means once) and does not fuzz; given a
# directory it would fuzz, so only regular files are passed. A failing input stops the process: note it (the last
# "Running:" without its "Executed") and start again with the inputs after it, so that one run reports them all.
replay_one() {
    local t=$1 dir="$work/$1" log="$build/logs/$1.log" chunk
    mkdir -p "$dir/artifacts"
    local -a files
    mapfile -t files < <(inputs_of "$t")
    : >"$log"
    : >"$dir/failed"
    echo "${#files[@]}" >"$dir/count"
    local start=0 rc
    while (( start < ${#files[@]} )); do
        chunk="$dir/chunk"
        rc=0
        (cd "$dir" && "$build/$t" -runs=0 -seed=1 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$dir/artifacts/" \
            "${files[@]:start}" </dev/null >"$chunk" 2>&1) || rc=$?
        cat "$chunk" >>"$log"
        (( rc == 0 )) && break
        local last i next=-1
        last=$(sed -n 's/^Running: //p' "$chunk" | tail -n 1)
        if [[ -z "$last" ]]; then
            last="(before the first input)"
        elif grep -qxF "Executed $last" <(sed -E 's/ in [0-9]+ ms$//' "$chunk"); then
            last="(at exit, after the last input)"
        else
            for (( i = start; i < ${#files[@]}; ++i )); do
                [[ "${files[i]}" == "$last" ]] && { next=$((i + 1)); break; }
            done
        fi
        # The first line of the report: a sanitizer's "file:line: runtime error: ..." or "ERROR: ...", a failed check.
        local what
        what=$(grep -m1 -E 'runtime error:|ERROR:|fuzz check failed|cannot initialise' "$chunk" \
               | sed -E 's/^==[0-9]+==//; s/^ *//; s#^'"$root"'/##' | cut -c1-160 || true)
        if (( next < 0 )); then
            # Not in an input (initialisation, or at exit: a leak report after the last one): the whole run failed.
            printf '%s\t%s\t%s\n' "$last" "exit $rc" "$what" >>"$dir/failed"
            break
        fi
        printf '%s\t%s\t%s\n' "$last" "exit $rc" "$what" >>"$dir/failed"
        start=$next
        printf '\n==== tests/fuzz/run.sh: %s failed (exit %s); going on with the inputs after it\n\n' "$last" "$rc" >>"$log"
    done
    rm -f "$dir/chunk"
}

campaign_one() {
    local t=$1 dir="$work/$1" name=${1#fuzz_} log="$build/logs/$1.log"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    cp -r tests/fuzz/corpus/"$name"/. "$dir/corpus/" 2>/dev/null || true
    cp -r tests/fuzz/regressions/"$name"/. "$dir/corpus/" 2>/dev/null || true
    local rc=0 seed=()
    [[ -n "${SY_FUZZ_SEED:-}" ]] && seed=(-seed="$SY_FUZZ_SEED")
    (cd "$dir" && "$build/$t" "${seed[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/" corpus </dev/null >"$log" 2>&1) || rc=$?
    echo "$rc" >"$dir/rc"
}

running=0
for t in "${targets[@]}"; do
    if [[ $mode == replay ]]; then replay_one "$t" & else campaign_one "$t" & fi
    if (( ++running >= jobs )); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

failed=0
for t in "${targets[@]}"; do
    dir="$work/$t" log=$(rel "$build/logs/$t.log")
    if [[ $mode == replay ]]; then
        total=$(cat "$dir/count" 2>/dev/null || echo 0)
        nfail=$(wc -l <"$dir/failed" 2>/dev/null || echo 1)
        # Every input must show as executed ("Executed FILE in N ms") unless it is one of the failures.
        executed=$(grep -c '^Executed ' "$build/logs/$t.log" || true)
        if (( nfail == 0 && total > 0 && executed == total )); then
            printf '%-22s ok    %4s inputs replayed\n' "$t" "$total"
            continue
        fi
        failed=1
        if (( nfail == 0 )); then
            printf '%-22s FAIL  %s of %s inputs executed (log: %s)\n' "$t" "$executed" "$total" "$log"
            continue
        fi
        failed=1
        if (( total == 0 )); then
            printf '%-22s FAIL  no committed inputs (tests/fuzz/corpus/%s/)\n' "$t" "${t#fuzz_}"
            continue
        fi
        printf '%-22s FAIL  %s of %s inputs failed (log: %s)\n' "$t" "$nfail" "$total" "$log"
        while IFS=$'\t' read -r input status what; do
            printf '%-22s       %s (%s): %s\n' "" "$(rel "$input")" "$status" "${what:-see the log}"
        done <"$dir/failed"
    else
        rc=$(cat "$dir/rc" 2>/dev/null || echo 1)
        # The last status line: "#N DONE cov: C ft: F corp: K/S ... exec/s: E ..."
        line=$(grep -E '^#[0-9]+' "$build/logs/$t.log" | tail -n 1 || true)
        execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$build/logs/$t.log" | tail -n 1)
        rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$build/logs/$t.log" | tail -n 1)
        seed=$(sed -nE 's/^INFO: Seed: ([0-9]+).*/\1/p' "$build/logs/$t.log" | head -n 1)
        cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
        ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
        corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p' <<<"$line")
        printf '%-22s %s  runs %-9s exec/s %-7s cov %-6s ft %-6s corpus %-10s seed %s\n' "$t" \
            "$([[ $rc == 0 ]] && echo ok || echo FAIL)" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${seed:-?}"
        if [[ -n "${SY_FUZZ_CORPUS_OUT:-}" ]]; then
            mkdir -p "$SY_FUZZ_CORPUS_OUT/$t"
            cp -r "$dir/corpus/." "$SY_FUZZ_CORPUS_OUT/$t/"
        fi
        if [[ $rc != 0 ]]; then
            failed=1
            mkdir -p "$build/artifacts/$t"
            cp -r "$dir/artifacts/." "$build/artifacts/$t/" 2>/dev/null || true
            echo "---- $t (exit $rc): end of its log ($log); the input is under $(rel "$build/artifacts/$t")/" >&2
            tail -n 40 "$build/logs/$t.log" >&2
        fi
    fi
done
exit "$failed"
