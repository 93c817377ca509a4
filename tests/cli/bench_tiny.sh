#!/usr/bin/env bash
# bench_tiny.sh - keeps the benchmark from rotting: runs `bench/run.sh --tiny`
# (20,000 records, 8 partitions, no 4M run, no kcat) against the kmsync under
# test and passes when the table was printed and kmsync wrote N rows.  Speed
# is never checked.
# Usage: bench_tiny.sh PATH/TO/kmsync   (run by ctest from the source tree)
set -euo pipefail
km=$(readlink -f "$1")
cd "${KMSYNC_SOURCE_DIR:-$(dirname "$0")/../..}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# One check: the script succeeded, printed the table with both rows, and
# kmsync wrote N rows.
why=
rc=0
bash bench/run.sh --tiny --kmsync "$km" >"$out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
        why="bench/run.sh --tiny exited $rc"
elif ! grep -q '^| 1 bare reader  *| *20000 |' "$out"; then
        why="no bare reader row of 20000 records in the table"
elif ! grep -Eq '^\| 2 kmsync run \(local\) +\| +20000 \|.*\| +20000 \|$' "$out"; then
        why="no kmsync row with 20000 rows written in the table"
elif ! grep -q '^all steps ran; rows written == N == 20000$' "$out"; then
        why="no 'rows written == N' line"
fi
if [ -z "$why" ]; then
        echo "1 passed, 0 failed"
        exit 0
fi
echo "FAIL: $why"
sed 's/^/    /' "$out"
echo "0 passed, 1 failed"
exit 1
