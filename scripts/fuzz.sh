#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets with clang (ASan+UBSan) and runs each
# for FUZZ_SECONDS (default 60). New crashing inputs land in build-fuzz/crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
[[ -f build-fuzz/build.ninja ]] || CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false \
    -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized \
    -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
ninja -C build-fuzz >/dev/null
for exe in build-fuzz/tests/fuzz/fuzz_*; do
    t=${exe##*/fuzz_}
    mkdir -p "build-fuzz/corpus-$t"
    echo "== fuzz $t (${secs}s)"
    "$exe" -max_total_time="$secs" -max_len=65536 "build-fuzz/corpus-$t" "tests/fuzz/corpus/$t" \
        -artifact_prefix="build-fuzz/crash-$t-" 2>&1 | tail -n 3
done
