#!/usr/bin/env bash
# lint.sh - refuses banned functions (STYLE.md habit 8) and unchecked strtol in
# our C; runs cppcheck when present. Exit status 1 on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."

dirs=(src examples tests/unit tests/fuzz bench)
status=0
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atoll|system|popen|alloca|rand|srand|tmpnam|mktemp)[[:space:]]*\('
hits=$(grep -rnE --include='*.c' --include='*.h' "$banned" "${dirs[@]}" 2>/dev/null |
       grep -vE '^[^:]+:[0-9]+:[[:space:]]*(//|/?\*)' || true)
if [[ -n $hits ]]; then
    echo "lint: banned functions (see STYLE.md):"
    echo "$hits"
    status=1
fi
# strtol family must have its end pointer checked: require a non-NULL endptr argument.
hits=$(grep -rnE --include='*.c' 'strto(l|ll|ul|ull|d)[[:space:]]*\([^,]+,[[:space:]]*NULL' "${dirs[@]}" 2>/dev/null || true)
if [[ -n $hits ]]; then
    echo "lint: strtol-family call without an end pointer check:"
    echo "$hits"
    status=1
fi
if command -v cppcheck >/dev/null; then
    if ! cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
        --enable=warning,portability --suppress=missingIncludeSystem \
        --include=/usr/include/jansson.h -D__GNUC__ -I src -I . src 2>&1; then
        status=1
    fi
fi
[[ $status == 0 ]] && echo "lint: ok"
exit $status
