#!/usr/bin/env bash
# kill_rerun.sh - kill -9 in the middle of a run, then rerun: the partition
# ends up exactly right, and between the two it was never partial.
set -u
km=$(readlink -f "$1")
cd "${KMSYNC_SOURCE_DIR:-$(dirname "$0")/../..}"
tmp=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# 240000 records over 8 partitions, all inside one hour.
python3 - "$tmp/big.jsonl" <<'PY'
import sys
start = 1704103200000
with open(sys.argv[1], "w") as f:
    for i in range(240000):
        f.write('{"topic":"ev","partition":%d,"timestamp":%d,"key":"k%d","value":{"n":%d,"s":"%s"}}\n'
                % (i % 8, start + i * 10, i, i, "x" * (i % 40)))
PY
cat >"$tmp/ev.sync" <<'EOF2'
KAFKA CONNECTION k BROKERS '127.0.0.1:1';
MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.invalid/api' PROJECT p
  ACCESS KEY ENV('AK') SECRET ENV('SK');
SYNC ev FROM k INTO m.ev TIMEZONE 'UTC'
  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO '$[yyyymmddhh24]0000'
  PARTITION (ds = '$[yyyymmddhh24-1/24]')
  MAP (__partition__ AS p, __offset__ AS o, n AS n BIGINT, s AS s);
EOF2
part="$tmp/wh/p/ev/ds=2024010110"
# exec: in `run &`, $! must be kmsync itself, not a subshell around it.
run() {
        exec "$km" run "$tmp/ev.sync" --at '2024-01-01 11:05' --kafka "mock:$tmp/big.jsonl" \
                --partitions 8 --target "local:$tmp/wh" --rejects "$tmp/rej" --json "$@"
}

# Kill the run once its staging directory exists (rows are being written).
run >"$tmp/out1" 2>"$tmp/err1" &
pid=$!
killed=0
for _ in $(seq 1 3000); do
        if compgen -G "$tmp/wh/p/ev/.kmsync-staging-*" >/dev/null; then
                sleep 0.2
                kill -9 $pid && killed=1
                break
        fi
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
done
wait $pid 2>/dev/null
[ "$killed" = 1 ] && ok || bad "the run ended before it could be killed mid-write"
[ ! -e "$part" ] && ok || bad "a killed first run must leave no partition"

(run) >"$tmp/out2" 2>"$tmp/err2" && ok || { bad "rerun failed"; cat "$tmp/out2" "$tmp/err2"; }
rows=$(cat "$part"/part-*.jsonl | wc -l)
[ "$rows" = 240000 ] && ok || bad "rows after rerun: $rows, wanted 240000"
dups=$(cat "$part"/part-*.jsonl | python3 -c '
import sys, json
seen = set(); d = 0
for l in sys.stdin:
    r = json.loads(l); k = (r["p"], r["o"]); d += k in seen; seen.add(k)
print(d)')
[ "$dups" = 0 ] && ok || bad "$dups duplicate rows"
left=$(compgen -G "$tmp/wh/p/ev/.kmsync-staging-*" | wc -l)
[ "$left" = 0 ] && ok || bad "$left stale staging directories left"

# Killed while replacing a committed partition: the old one stays whole.
run >"$tmp/out3" 2>"$tmp/err3" &
pid=$!
for _ in $(seq 1 3000); do
        if compgen -G "$tmp/wh/p/ev/.kmsync-staging-*" >/dev/null; then
                sleep 0.2
                kill -9 $pid
                break
        fi
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
done
wait $pid 2>/dev/null
rows=$(cat "$part"/part-*.jsonl | wc -l)
[ "$rows" = 240000 ] && [ -f "$part/_SUCCESS" ] && ok || bad "previous partition damaged: $rows rows"

# Two runs of one partition at once: the second fails fast, naming the
# first; the first is not disturbed.
run >"$tmp/out4" 2>"$tmp/err4" &
pid=$!
# Its own staging directory (named after its pid): an earlier killed run's
# may still be there.
for _ in $(seq 1 3000); do
        compgen -G "$tmp/wh/p/ev/.kmsync-staging-$pid-*" >/dev/null && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
done
start=$(date +%s)
(run) >"$tmp/out5" 2>"$tmp/err5"
rc=$?
[ "$rc" = 1 ] && grep -q "is being run by process $pid" "$tmp/out5" && ok ||
        bad "second run: exit $rc, $(grep error "$tmp/out5")"
[ $(($(date +%s) - start)) -le 5 ] && ok || bad "the second run did not fail fast"
wait $pid && ok || bad "the first run failed"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
