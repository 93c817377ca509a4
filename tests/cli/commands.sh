#!/usr/bin/env bash
# commands.sh - end-to-end tests of the kmsync command line: exit codes,
# `param` against DataWorks' results, `plan` (text, JSON, ranges), `ddl`.
# Usage: commands.sh PATH/TO/kmsync   (run by ctest from the source tree)
set -u
km=$(readlink -f "$1")
cd "${KMSYNC_SOURCE_DIR:-$(dirname "$0")/../..}"
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_status WANT CMD...: runs CMD, keeps its output in $tmp/out, err.
expect_status() {
        local want=$1
        shift
        "$@" >"$tmp/out" 2>"$tmp/err"
        local got=$?
        if [ "$got" -eq "$want" ]; then ok; else
                bad "exit $got, wanted $want: $*"
                sed 's/^/    /' "$tmp/err" | head -5
        fi
}

expect_out() { # WANT-STDOUT CMD...
        local want=$1
        shift
        local got
        got=$("$@" 2>"$tmp/err")
        if [ "$got" = "$want" ]; then ok; else bad "$*: got '$got', wanted '$want'"; fi
}

expect_grep() { # FILE PATTERN
        if grep -q -- "$2" "$1"; then ok; else bad "no '$2' in $1:"; head -5 "$1"; fi
}

# --- usage and exit codes -------------------------------------------------
expect_status 2 "$km"
expect_status 2 "$km" frobnicate
expect_grep "$tmp/err" "'frobnicate' is not a command"
expect_status 0 "$km" help
expect_grep "$tmp/out" "check"
expect_status 0 "$km" version
expect_grep "$tmp/out" "^kmsync "
expect_status 2 "$km" check
expect_status 2 "$km" plan examples/orders.sync
expect_status 2 "$km" plan examples/orders.sync --at 'yesterday'
expect_grep "$tmp/err" "is not a time"
expect_status 2 "$km" plan examples/orders.sync --at '2022-11-22 10:15' --no-such
expect_grep "$tmp/err" "unknown option '--no-such'"
expect_status 2 "$km" plan examples/orders.sync --a '2022-11-22 10:15'
expect_status 1 "$km" check no/such/file.sync
expect_grep "$tmp/err" "cannot open 'no/such/file.sync'"
expect_status 0 "$km" check examples/orders.sync examples/seed/hourly.sync
printf "SYNC s FROM k INTO m.t;\n" >"$tmp/bad.sync"
expect_status 1 "$km" check examples/orders.sync "$tmp/bad.sync"
printf "KAFKA CONNECTION k BROKERS 'b:1';\nMAXCOMPUTE CONNECTION m ENDPOINT 'http://e' PROJECT p ACCESS KEY ENV('A') SECRET ENV('B');\nSYNC s FROM k INTO m.t WINDOW FROM '\$[yyyymmdd-1]' TO '\$[yyyymmdd]';\n" >"$tmp/warn.sync"
expect_status 0 "$km" check "$tmp/warn.sync"
expect_grep "$tmp/err" "warning: SYNC s gives no TIMEZONE"

# --- param: DataWorks' results --------------------------------------------
expect_out 202211220952 "$km" param '$[yyyymmddhh24mi-8/24/60]' --at '2022-11-22 10:00'
expect_out 20221122095700 "$km" param '$[yyyymmddhh24mi-3/24/60]00' --at '2022-11-22 10:00'
expect_out 2022112210 "$km" param '$[yyyymmddhh24]' --at '2022-11-22 10:05'
expect_out 20221121000000 "$km" param '$[yyyymmdd-1]000000' --at '2022-11-22 00:05'
expect_out 20221021 "$km" param '${yyyymmdd-1}' --at '2022-10-23 00:00'
expect_out 20250228 "$km" param '$[add_months(yyyymmdd,-1)]' --at '2025-03-31 00:00'
expect_out 2022112123 "$km" param '$[yyyymmddhh24-1/24]' --at '2022-11-22 00:00'
expect_out 'ds=20251031/t=20251101023045' "$km" param 'ds=$bizdate/t=$cyctime' --at '2025-11-01 02:30:45'
expect_status 1 "$km" param '$[yyyy mm]' --at '2022-11-22 00:00'
expect_grep "$tmp/err" "error:"

# --- plan -----------------------------------------------------------------
expect_status 0 "$km" plan examples/orders.sync --at '2022-11-22 10:15'
expect_grep "$tmp/out" "partition    ds=2022112210"
expect_grep "$tmp/out" "window       \[2022-11-22 09:00:00, 2022-11-22 10:00:00) Asia/Shanghai"
expect_grep "$tmp/out" "sasl.password = \*\*\*"
expect_status 0 "$km" plan examples/orders.sync --at '2022-11-22 10:15' --json
if python3 - "$tmp/out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
s = doc["syncs"][0]
assert s["name"] == "orders" and s["topic"] == "orders"
assert s["table"] == "test_project.test_table"
assert s["partition"] == "ds=2022112210"
assert s["window_start_ms"] == 1669078800000 and s["window_end_ms"] == 1669082400000
assert s["timezone"] == "Asia/Shanghai" and s["end"] == "window_end"
assert [c["column"] for c in s["columns"]] == ["k", "a1", "b", "c1", "aa", "xyz", "ts"]
assert s["kafka"]["options"]["sasl.password"] == "***"
assert s["maxcompute"]["access_key_secret"] == "***"
PY
then ok; else bad "plan --json contents"; fi
expect_status 0 "$km" plan examples/orders.sync --at '2022-11-22 10:05'
expect_grep "$tmp/err" "not a scheduled time of SYNC orders"
expect_status 1 "$km" plan examples/orders.sync --at '2022-11-22 10:15' --sync nope
expect_grep "$tmp/err" "no SYNC named 'nope'"
expect_status 0 "$km" plan examples/seed/every_5_minutes.sync --from '2022-11-22 23:50' --to '2022-11-23 00:05'
expect_out 4 wc -l <"$tmp/out"
expect_grep "$tmp/out" "sync_5min  2022-11-23 00:00:00  \[2022-11-22 23:52:00, 2022-11-22 23:57:00)  ds=202211222352"
expect_status 0 "$km" plan examples/seed/monthly.sync --from '2024-01-01 00:00' --to '2024-12-31 23:59' --json
if python3 - "$tmp/out" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["instances"]
assert len(runs) == 12, len(runs)
assert runs[2]["scheduled_at"] == "2024-03-01 00:15:00"
assert runs[2]["window_start"] == "2024-02-01 00:00:00"
assert runs[2]["partition"] == "ds=20240229"
for a, b in zip(runs, runs[1:]):
    assert a["window_end_ms"] == b["window_start_ms"]
PY
then ok; else bad "monthly range tiles the year"; fi

# --- ddl ------------------------------------------------------------------
expect_status 0 "$km" ddl examples/seed/daily.sync
expect_grep "$tmp/out" "^CREATE TABLE IF NOT EXISTS test_project.test_table ($"
expect_grep "$tmp/out" "__timestamp__ BIGINT COMMENT"
expect_grep "$tmp/out" "^PARTITIONED BY (ds STRING)$"
expect_grep "$tmp/out" "^LIFECYCLE 36500;$"
expect_status 1 "$km" ddl "$tmp/bad.sync"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
