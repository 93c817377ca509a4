#!/usr/bin/env bash
# emulator_selftest.sh - runs the MaxCompute emulator's own self-test
# (tests/emulator/test_emulator.py: signatures, block vectors, SQL, upload
# sessions, fault knobs) under ctest and ends with "N passed, M failed".
# Usage: emulator_selftest.sh [PATH/TO/kmsync]   (the binary is not used)
set -u
cd "${KMSYNC_SOURCE_DIR:-$(dirname "$0")/../..}" || exit 2
out=$(python3 tests/emulator/test_emulator.py 2>&1)
rc=$?
printf '%s\n' "$out"
# A crash before the summary line still reports a failure in the same form.
if ! printf '%s\n' "$out" | tail -n 1 | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
        echo "0 passed, 1 failed"
        [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
