#!/usr/bin/env bash
# scheduler.sh - the scheduler and backfill as a user runs them: kill -9 of
# the scheduler mid-instance and a restart (the instance is run again and
# the history shows the interrupted attempt), a backfill interrupted and
# resumed with --skip-succeeded, and `kmsync status`.
set -u
km=$(readlink -f "$1")
cd "${KMSYNC_SOURCE_DIR:-$(dirname "$0")/../..}"
tmp=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
pid=0 pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

python3 - "$tmp" <<'PY'
import sys
d = sys.argv[1]
start = 1704103200000  # 2024-01-01 10:00 UTC
with open(d + "/big.jsonl", "w") as f:
    for i in range(240000):
        f.write('{"topic":"ev","partition":%d,"timestamp":%d,"value":{"n":%d}}\n'
                % (i % 8, start + i * 10, i))
with open(d + "/small.jsonl", "w") as f:
    for i in range(0, 4 * 24 * 60, 20):  # every 20 minutes over 4 days
        f.write('{"topic":"ev","partition":0,"timestamp":%d,"value":{"n":%d}}\n'
                % (start - 10 * 3600000 + i * 60000, i))
PY
cat >"$tmp/ev.sync" <<'EOF2'
KAFKA CONNECTION k BROKERS '127.0.0.1:1';
MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.invalid/api' PROJECT p
  ACCESS KEY ENV('AK') SECRET ENV('SK');
SYNC ev FROM k INTO m.ev TIMEZONE 'UTC'
  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO '$[yyyymmddhh24]0000'
  PARTITION (ds = '$[yyyymmddhh24-1/24]')
  SCHEDULE HOURLY AT MINUTE 5
  RETRY 2 TIMES EVERY 1 MINUTE
  MAP (__partition__ AS p, __offset__ AS o, n AS n BIGINT);
EOF2
sched() { # NOW UNTIL
        exec "$km" schedule "$tmp/ev.sync" --now "$1" --until "$2" \
                --kafka "mock:$tmp/big.jsonl" --partitions 8 \
                --target "local:$tmp/wh" --state "$tmp/st"
}
part="$tmp/wh/p/ev/ds=2024010110"

# --- kill -9 of the scheduler in the middle of an instance ---------------
sched '2024-01-01 11:04:50' '2024-01-01 11:06' 2>"$tmp/s1.log" &
pid=$!
for _ in $(seq 1 3000); do
        compgen -G "$tmp/wh/p/ev/.kmsync-staging-*" >/dev/null && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
done
sleep 0.2
kill -9 $pid && ok || bad "the scheduler finished before it could be killed"
wait $pid 2>/dev/null
[ ! -e "$part" ] && ok || bad "the killed instance left a partition"

(sched '2024-01-01 11:05:30' '2024-01-01 11:06') 2>"$tmp/s2.log"
grep -q "catch-up: interrupted before" "$tmp/s2.log" && ok ||
        bad "restart did not pick up the interrupted instance: $(cat "$tmp/s2.log")"
rows=$(cat "$part"/part-*.jsonl 2>/dev/null | wc -l)
[ "$rows" = 240000 ] && ok || bad "rows after restart: $rows"
"$km" status ev --state "$tmp/st" --json >"$tmp/status.json" && ok || bad "status failed"
python3 - "$tmp/status.json" "$tmp/st/state.db" <<'PY' && ok || bad "history"
import json, sqlite3, sys
latest = json.load(open(sys.argv[1]))
assert len(latest) == 1, latest
s = latest[0]
assert s["sync"] == "ev" and s["scheduled_at"] == "2024-01-01 11:05:00", s
assert s["status"] == "succeeded" and s["attempt"] == 2 and s["rows_written"] == 240000, s
assert s["partition"] == "ds=2024010110", s
db = sqlite3.connect(sys.argv[2])
first = db.execute("select status, error from attempts where sync='ev' and attempt=1").fetchone()
assert first[0] == "failed" and first[1].startswith("interrupted"), first
PY

# --- rerun: the same instance again, from the file the history names ----
"$km" rerun ev --at '2024-01-01 11:05' --state "$tmp/st" --kafka "mock:$tmp/big.jsonl" \
        --target "local:$tmp/wh" --json >"$tmp/rerun.json" 2>&1 && ok || bad "rerun failed"
"$km" status ev --state "$tmp/st" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]
assert s["attempt"] == 3 and s["status"] == "succeeded" and s["rows_written"] == 240000, s
' && ok || bad "rerun is attempt 3"
rows=$(cat "$part"/part-*.jsonl | wc -l)
[ "$rows" = 240000 ] && ok || bad "rows after rerun: $rows"

# --- SIGTERM with --grace 0 cancels the running instance cleanly --------
rm -rf "$tmp/wh2"
sched_to() { # WAREHOUSE GRACE
        exec "$km" schedule "$tmp/ev.sync" --now '2024-01-01 11:04:50' --until '2024-01-01 11:06' \
                --kafka "mock:$tmp/big.jsonl" --partitions 8 --target "local:$1" \
                --state "$tmp/st2" --grace "$2"
}
sched_to "$tmp/wh2" 0 2>"$tmp/s3.log" &
pid=$!
for _ in $(seq 1 3000); do
        compgen -G "$tmp/wh2/p/ev/.kmsync-staging-$pid-*" >/dev/null && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
done
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" = 0 ] && ok || bad "SIGTERM exit $rc"
grep -q "cancelled" "$tmp/s3.log" && ok || bad "no cancelled instance: $(tail -2 "$tmp/s3.log")"
[ ! -e "$tmp/wh2/p/ev/ds=2024010110" ] && ok || bad "a cancelled instance left a partition"
compgen -G "$tmp/wh2/p/ev/.kmsync-staging-*" >/dev/null && bad "staging left behind" || ok

# --- backfill: interrupted, then resumed --------------------------------
bf() {
        exec "$km" backfill "$tmp/ev.sync" --from '2024-01-01 00:00' \
                --to '2024-01-03 23:59' --parallel 2 --kafka "mock:$tmp/small.jsonl" \
                --target "local:$tmp/bwh" --state "$tmp/bst" "$@"
}
bf >"$tmp/b1.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
        n=$(compgen -G "$tmp/bwh/p/ev/ds=*/_SUCCESS" | wc -l)
        [ "$n" -ge 8 ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
done
kill -9 $pid 2>/dev/null && ok || bad "backfill ended before it could be interrupted"
wait $pid 2>/dev/null
(bf --skip-succeeded) >"$tmp/b2.out" 2>&1 && ok || bad "resumed backfill failed: $(tail -3 "$tmp/b2.out")"
tail -1 "$tmp/b2.out" | grep -Eq '^[0-9]+ succeeded, 0 failed, ([89]|[1-9][0-9]) skipped$' && ok ||
        bad "summary: $(tail -1 "$tmp/b2.out")"
n=$(compgen -G "$tmp/bwh/p/ev/ds=*/_SUCCESS" | wc -l)
[ "$n" = 72 ] && ok || bad "$n partitions after the backfill, wanted 72"
"$km" status --state "$tmp/bst" --json | python3 -c '
import json, sys
rows = json.load(sys.stdin)
assert len(rows) == 72 and all(r["status"] == "succeeded" for r in rows), len(rows)
' && ok || bad "backfill history"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
