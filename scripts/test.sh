#!/usr/bin/env bash
# test.sh - what `make test` runs: install missing dependencies, build twice
# (plain with warnings as errors, and ASan+UBSan), lint, then run every test
# suite: unit and integration tests in both builds, unit tests under valgrind.
# The last line is the summary "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export CI=${CI:-}

scripts/install-deps.sh test || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
failures=()
step() { # name, command...
    local name=$1; shift
    echo "== $name"
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}
# Adds the counts of a meson test run (from its JSON log) to the totals.
meson_suite() { # label, builddir, meson test args...
    local label=$1 dir=$2; shift 2
    echo "== $label"
    meson test -C "$dir" --no-rebuild --print-errorlogs "$@" >"$dir/meson-logs/$label.out" 2>&1
    local rc=$?
    tail -n 12 "$dir/meson-logs/$label.out"
    local ok fail
    ok=$(grep -cE '"result": "(OK|SKIP|EXPECTEDFAIL)"' "$dir/meson-logs/testlog.json" || true)
    fail=$(grep -cE '"result": "(FAIL|TIMEOUT|UNEXPECTEDPASS|ERROR)"' "$dir/meson-logs/testlog.json" || true)
    passed=$((passed + ok)); failed=$((failed + fail))
    if ((fail > 0 || rc != 0)); then
        grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT|ERROR)' "$dir/meson-logs/$label.out" | sed 's/^/   /'
        ((fail == 0)) && failed=$((failed + 1))
        failures+=("$label")
    fi
}

[[ -f build/build.ninja ]] || meson setup build --buildtype=debugoptimized -Dwerror=true >/dev/null
[[ -f build-asan/build.ninja ]] || meson setup build-asan --buildtype=debug -Dwerror=true \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null

step "build (warnings are errors)" ninja -C build
step "build ASan+UBSan" ninja -C build-asan
step "lint" scripts/lint.sh

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0

meson_suite unit build --suite unit
meson_suite integration build --suite integration
meson_suite unit-asan build-asan --suite unit
meson_suite integration-asan build-asan --suite integration
meson_suite unit-valgrind build --suite unit --wrapper "valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-fds=no"

if ((${#failures[@]})); then
    echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
