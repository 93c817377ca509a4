#!/usr/bin/env bash
# check_golden.sh - golden tests of `kmsync check` diagnostics: every
# tests/check/NNNN-name.sync is checked from the source tree, and what it
# prints on stderr must equal tests/check/NNNN-name.expected byte for byte
# (file:line:col, message, source line and caret).  The exit status must be
# 1 when the expected output has an error, 0 otherwise; stdout must be empty.
# Usage: check_golden.sh PATH/TO/kmsync   (run by ctest from the source tree)
#        UPDATE=1 check_golden.sh PATH/TO/kmsync   rewrites the .expected
#        files from the current output: read every changed one before
#        committing it.
set -u
if [ $# -ne 1 ]; then
        echo "usage: $0 PATH/TO/kmsync" >&2
        exit 2
fi
km=$(readlink -f "$1")
cd "${KMSYNC_SOURCE_DIR:-$(dirname "$0")/../..}" || exit 2
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bad() {
        fail=$((fail + 1))
        echo "FAIL: $*"
}

# A diagnostic line (not a source excerpt, which is indented) that is an
# error.
has_error() {
        grep -Eq '^[^ ].*: error: ' "$1"
}

run_one() {
        local sync=$1
        local expected=${sync%.sync}.expected
        "$km" check "$sync" >"$tmp/out" 2>"$tmp/err"
        local got=$?
        if [ "${UPDATE:-0}" = 1 ]; then
                if ! cmp -s "$tmp/err" "$expected" 2>/dev/null; then
                        cp "$tmp/err" "$expected"
                        echo "updated $expected"
                fi
        fi
        if [ ! -f "$expected" ]; then
                bad "$sync: no $expected (run with UPDATE=1, then read it)"
                return
        fi
        local want=0 ok=1
        has_error "$expected" && want=1
        if ! diff -u --label "$expected" --label "kmsync check $sync" \
                "$expected" "$tmp/err" >"$tmp/diff"; then
                bad "$sync: stderr differs from $expected:"
                sed 's/^/    /' "$tmp/diff"
                ok=0
        fi
        if [ "$got" -ne "$want" ]; then
                [ "$ok" = 1 ] && bad "$sync: exit status $got, wanted $want"
                [ "$ok" = 0 ] && echo "    and exit status $got, wanted $want"
                ok=0
        fi
        if [ -s "$tmp/out" ]; then
                [ "$ok" = 1 ] && bad "$sync: stdout is not empty:"
                [ "$ok" = 0 ] && echo "    and stdout is not empty:"
                sed 's/^/    /' "$tmp/out" | head -5
                ok=0
        fi
        [ "$ok" = 1 ] && pass=$((pass + 1))
}

shopt -s nullglob
files=(tests/check/*.sync)
if [ ${#files[@]} -eq 0 ]; then
        echo "no tests/check/*.sync found in $(pwd)"
        exit 1
fi
for sync in "${files[@]}"; do
        run_one "$sync"
done
for expected in tests/check/*.expected; do
        [ -f "${expected%.expected}.sync" ] ||
                bad "$expected has no ${expected%.expected}.sync"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
