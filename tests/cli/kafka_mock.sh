#!/usr/bin/env bash
# kafka_mock.sh - end-to-end tests of `kmsync kafka-mock`: the address on the
# first line of stdout, a listening broker, a clean exit on SIGTERM and
# SIGINT, and the exit codes of bad fixtures, --port and usage errors.
# Usage: kafka_mock.sh PATH/TO/kmsync   (run by ctest from the source tree)
set -u
km=$(readlink -f "$1")
cd "${KMSYNC_SOURCE_DIR:-$(dirname "$0")/../..}"
pass=0 fail=0
tmp=$(mktemp -d)
mock_pid=
trap '[ -n "$mock_pid" ] && kill -KILL "$mock_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

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

expect_grep() { # FILE PATTERN
        if grep -q -- "$2" "$1"; then ok; else bad "no '$2' in $1:"; head -5 "$1"; fi
}

# start_mock ARGS...: runs kafka-mock in the background and waits (20 s at
# most) for the first line of its stdout, left in $addr.  Each start has
# its own files: the shell may read one before the child has truncated it.
starts=0
start_mock() {
        addr=
        starts=$((starts + 1))
        mock_out=$tmp/mock$starts.out mock_err=$tmp/mock$starts.err
        "$km" kafka-mock "$@" >"$mock_out" 2>"$mock_err" &
        mock_pid=$!
        for _ in $(seq 200); do
                addr=$(head -n 1 "$mock_out" 2>/dev/null)
                [ -n "$addr" ] && return 0
                kill -0 "$mock_pid" 2>/dev/null || break
                sleep 0.1
        done
        bad "kafka-mock $* printed no address:"
        sed 's/^/    /' "$mock_err" | head -5
        return 1
}

# stop_mock SIGNAL: sends it and expects a clean exit within 10 s.
stop_mock() {
        kill -"$1" "$mock_pid"
        for _ in $(seq 100); do
                kill -0 "$mock_pid" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$mock_pid" 2>/dev/null; then
                kill -KILL "$mock_pid"
                bad "kafka-mock still running 10 s after SIG$1"
        fi
        wait "$mock_pid"
        local got=$?
        mock_pid=
        if [ "$got" -eq 0 ]; then ok; else bad "kafka-mock exit $got after SIG$1"; fi
}

listens() { # HOST:PORT
        (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

cat >"$tmp/f.jsonl" <<'EOF'
{"topic": "orders", "partition": 0, "timestamp": 1669078800000, "key": "k1", "value": {"id": 1}}

{"topic": "orders", "partition": 2, "timestamp": 1669078801000, "key_base64": "AAE=", "value": "text", "headers": [["h", "v"], ["h", null]]}
{"timestamp": 1669078802000, "value": null}
EOF

# --- serving ---------------------------------------------------------------
if start_mock --load "$tmp/f.jsonl" --topic events; then
        if [[ $addr =~ ^127\.0\.0\.1:[0-9]+$ ]]; then ok; else bad "first line '$addr' is not 127.0.0.1:PORT"; fi
        if listens "$addr"; then ok; else bad "nothing listens on $addr"; fi
        expect_grep "$mock_err" "topic orders: 3 partitions, 2 records"
        expect_grep "$mock_err" "topic events: 1 partition, 1 record$"
        [ "$(wc -l <"$mock_out")" -eq 1 ] && ok || bad "stdout has more than the address"
        stop_mock TERM
        if listens "$addr"; then bad "$addr still listens after exit"; else ok; fi
fi
if start_mock --load "$tmp/f.jsonl" --topic events --brokers 3 --partitions 4; then
        if [[ $addr =~ ^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}$ ]]; then ok; else bad "3 brokers: '$addr'"; fi
        expect_grep "$mock_err" "topic orders: 4 partitions, 2 records"
        stop_mock INT
fi

# --- failures --------------------------------------------------------------
printf '{"timestamp": 1, "topic": "t"}\n\n{"timestamp": 2, "topic": "t", "vaule": 1}\n' >"$tmp/bad.jsonl"
expect_status 1 "$km" kafka-mock --load "$tmp/bad.jsonl"
expect_grep "$tmp/err" "bad.jsonl:3: unknown field 'vaule'; did you mean 'value'?"
[ -s "$tmp/out" ] && bad "a failed load printed an address" || ok
expect_status 1 "$km" kafka-mock --load "$tmp/f.jsonl" --topic events --port 1
expect_grep "$tmp/err" "^kmsync kafka-mock: --port 1: the mock cluster got port [0-9]*; librdkafka 2.0.2 cannot choose the port"
[ -s "$tmp/out" ] && bad "--port printed an address" || ok
expect_status 1 "$km" kafka-mock --load "$tmp/no-such.jsonl"
expect_grep "$tmp/err" "cannot open '.*no-such.jsonl'"
printf '{"timestamp": 1}\n' >"$tmp/notopic.jsonl"
expect_status 1 "$km" kafka-mock --load "$tmp/notopic.jsonl"
expect_grep "$tmp/err" "notopic.jsonl:1: no 'topic'"

# --- usage -----------------------------------------------------------------
expect_status 2 "$km" kafka-mock
expect_grep "$tmp/err" "name the fixture with --load FIXTURE.jsonl"
expect_grep "$tmp/err" "librdkafka 2.0.2 picks the ports itself"
expect_status 2 "$km" kafka-mock "$tmp/f.jsonl"
expect_status 2 "$km" kafka-mock --load "$tmp/f.jsonl" --brokers 0
expect_status 2 "$km" kafka-mock --load "$tmp/f.jsonl" --partitions 0
expect_status 2 "$km" kafka-mock --load "$tmp/f.jsonl" --port 70000
expect_status 2 "$km" kafka-mock --load
expect_status 0 "$km" help
expect_grep "$tmp/out" "kafka-mock"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
