#!/usr/bin/env bash
# The test command of shmbus: set up the machine, then configure, compile and
# test three builds (normal, ASan+UBSan, TSan) and print a summary.
#
#   env SB_SKIP_SETUP=1        skip scripts/install-deps.sh and hugepages.sh
#   env SB_BUILDS="build ..."  restrict the builds (default: build build-asan build-tsan)
#   env SB_STRESS_RECORDS=N    pass -Dstress_records=N to meson
#
# The last line printed is always "N passed, N failed, N skipped", totals
# over the builds that ran; a build that fails to configure or compile counts
# as one failure. Exits non-zero if any build or test failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '==> %s\n' "$*"; }

if [[ "${SB_SKIP_SETUP:-0}" != "1" ]]; then
    log "setup: scripts/install-deps.sh"
    bash scripts/install-deps.sh
    log "setup: scripts/hugepages.sh"
    bash scripts/hugepages.sh
else
    log "setup skipped (SB_SKIP_SETUP=1)"
fi

read -r -a builds <<<"${SB_BUILDS:-build build-asan build-tsan}"
if [[ ${#builds[@]} -eq 0 ]]; then
    echo "test.sh: SB_BUILDS names no build" >&2
    exit 2
fi

common_opts=()
if [[ -n "${SB_STRESS_RECORDS:-}" ]]; then
    common_opts+=("-Dstress_records=${SB_STRESS_RECORDS}")
fi

build_opts() {
    case "$1" in
        build) echo "-Dbuildtype=debugoptimized" ;;
        build-asan) echo "-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug" ;;
        build-tsan) echo "-Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized" ;;
        *) return 1 ;;
    esac
}

for dir in "${builds[@]}"; do
    if ! build_opts "$dir" >/dev/null; then
        echo "test.sh: unknown build '$dir' in SB_BUILDS (known: build build-asan build-tsan)" >&2
        exit 2
    fi
done

# Configure and compile one build; returns non-zero on failure.
configure_and_compile() {
    local dir="$1" opts=()
    read -r -a opts <<<"$(build_opts "$dir")"
    opts+=("${common_opts[@]}")
    if [[ -f "$dir/meson-private/coredata.dat" ]]; then
        log "$dir: meson setup --reconfigure $dir ${opts[*]}"
        meson setup --reconfigure "$dir" "${opts[@]}" || return 1
    else
        log "$dir: meson setup $dir ${opts[*]}"
        meson setup "$dir" "${opts[@]}" || return 1
    fi
    log "$dir: meson compile -C $dir"
    meson compile -C "$dir" || return 1
}

# Run one build's tests with its sanitizer environment.
run_tests() {
    local dir="$1"
    # A stale log from an earlier run must not be counted for this one.
    rm -f "$dir/meson-logs/testlog.json"
    case "$dir" in
        build)
            log "$dir: meson test -C $dir --print-errorlogs"
            meson test -C "$dir" --print-errorlogs
            ;;
        build-asan)
            log "$dir: meson test -C $dir --print-errorlogs (ASan+UBSan)"
            ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                meson test -C "$dir" --print-errorlogs
            ;;
        build-tsan)
            log "$dir: meson test -C $dir --print-errorlogs --suite concurrent --suite integration (TSan)"
            TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
                meson test -C "$dir" --print-errorlogs --suite concurrent --suite integration
            ;;
    esac
}

# Print "passed failed skipped" for one build's testlog.json (0 0 0 if absent).
count_results() {
    python3 - "$1/meson-logs/testlog.json" <<'EOF'
import json, os, sys

path = sys.argv[1]
passed = failed = skipped = 0
if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                result = json.loads(line).get("result", "ERROR")
            except ValueError:
                result = "ERROR"
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, INTERRUPT, ...
                failed += 1
print(passed, failed, skipped)
EOF
}

status=0
total_pass=0
total_fail=0
total_skip=0
summary=()

for dir in "${builds[@]}"; do
    if ! configure_and_compile "$dir"; then
        log "$dir: BUILD FAILED"
        status=1
        total_fail=$((total_fail + 1))
        summary+=("$dir: build failed (counted as 1 failed)")
        continue
    fi
    test_rc=0
    run_tests "$dir" || test_rc=$?
    if ! counts="$(count_results "$dir")"; then
        log "$dir: could not read $dir/meson-logs/testlog.json"
        counts="0 1 0"
    fi
    read -r p f s <<<"$counts"
    note=""
    if [[ "$test_rc" -ne 0 ]]; then
        status=1
        if [[ "$f" -eq 0 ]]; then
            # meson test failed without recording a failing test.
            f=1
            note=" (meson test exited $test_rc)"
        fi
    fi
    if [[ $((p + f + s)) -eq 0 ]]; then
        note="${note} (no tests ran)"
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + s))
    summary+=("$dir: $p passed, $f failed, $s skipped$note")
done

echo
log "summary"
for line in "${summary[@]}"; do
    echo "  $line"
done
if [[ "$total_fail" -gt 0 ]]; then
    status=1
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
exit "$status"
