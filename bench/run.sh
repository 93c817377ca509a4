#!/usr/bin/env bash
# run.sh - kmsync's benchmark (issue 7): one script that generates the data,
# serves it from `kmsync kafka-mock` and measures, side by side on the same
# data, a bare librdkafka reader (bench/bare_reader.c), `kmsync run` into the
# local warehouse, and `kcat | jq`; then kmsync's peak RSS at 1M and 4M
# records and the Tunnel block encoder (bench/bench_encode.c).  Prints one
# table.  Never fails on speed; exits 1 when a step breaks or kmsync's rows
# written differ from N.  See bench/README.md.
#
#   bench/run.sh [--n N] [--partitions P] [--variant 200B|1KB] [--kmsync PATH]
#                [--skip-4m] [--no-kcat] [--repeat R] [--encode-mb MB] [--tiny]
#
# Environment: N, PARTITIONS, VARIANT, KMSYNC, REPEAT, ENCODE_MB as the
# options; BENCH_CACHE (default /tmp/kmsync-bench) keeps the generated data.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${N:-1000000}
parts=${PARTITIONS:-}
variant=${VARIANT:-200B}
km=${KMSYNC:-}
repeat=${REPEAT:-1}
encode_mb=${ENCODE_MB:-1000}
cache=${BENCH_CACHE:-/tmp/kmsync-bench}
tiny=0 skip_4m=0 kcat_on=1
at='2022-11-23 00:30' # bench.sync's daily run that covers every record

usage() {
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
}

while [ $# -gt 0 ]; do
        case $1 in
        --n) n=$2; shift ;;
        --partitions) parts=$2; shift ;;
        --variant) variant=$2; shift ;;
        --kmsync) km=$2; shift ;;
        --repeat) repeat=$2; shift ;;
        --encode-mb) encode_mb=$2; shift ;;
        --skip-4m) skip_4m=1 ;;
        --no-kcat) kcat_on=0 ;;
        --tiny) tiny=1 ;;
        -h | --help) usage ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
        esac
        shift
done
if [ "$tiny" -eq 1 ]; then
        n=20000 parts=8 skip_4m=1 kcat_on=0 repeat=1 encode_mb=64
fi
case $variant in
200B | 200b) variant=200B per_part=16384 ;;
1KB | 1kb | 1K | 1k) variant=1KB per_part=4096 ;;
*) echo "run.sh: --variant is 200B or 1KB, not '$variant'" >&2; exit 2 ;;
esac

# Partitions for N records: the mock keeps at most 5 MB per partition, so
# about 3-4 MB each, a power of two, at least 8 (1M x 200 B: 64; 4M: 256).
default_parts() { # N PER_PARTITION
        local need=$((($1 + $2 - 1) / $2)) p=8
        while [ "$p" -lt "$need" ]; do p=$((p * 2)); done
        echo "$p"
}
[ -n "$parts" ] || parts=$(default_parts "$n" "$per_part")

if [ -z "$km" ]; then
        km=$src/build-bench/kmsync
        if [ ! -x "$km" ]; then
                echo "run.sh: building $km (RelWithDebInfo, no sanitizers)" >&2
                cmake -S "$src" -B "$src/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
                cmake --build "$src/build-bench" -j2 --target kmsync >/dev/null
        fi
fi
km=$(readlink -f "$km")
[ -x "$km" ] || { echo "run.sh: no kmsync at '$km'" >&2; exit 2; }

mkdir -p "$cache"
work=$(mktemp -d "$cache/run.XXXXXX")
mkdir -p "$work/res"
mock_pid=
cleanup() {
        if [ -n "$mock_pid" ]; then
                kill -TERM "$mock_pid" 2>/dev/null || true
                wait "$mock_pid" 2>/dev/null || true
        fi
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "run.sh: $*" >&2; }

# --- tools -------------------------------------------------------------------
gcc -std=gnu11 -O2 -Wall -Wextra "$src/bench/bare_reader.c" -lrdkafka \
        -o "$work/bare_reader"
encode_built=0
if gcc -std=gnu11 -O2 -I"$src/include" -I"$src/compiler" \
        -I"$src/runtime/maxcompute" "$src/bench/bench_encode.c" \
        "$src/runtime/maxcompute/mc_record.c" "$src/compiler/util.c" \
        -lisal -lz -o "$work/bench_encode" 2>"$work/encode_build.err"; then
        encode_built=1
fi
if [ "$kcat_on" -eq 1 ]; then
        for tool in kcat jq; do
                command -v "$tool" >/dev/null && continue
                say "installing $tool"
                { apt-get install -y "$tool" >/dev/null 2>&1 ||
                        { apt-get update >/dev/null 2>&1 &&
                                apt-get install -y "$tool" >/dev/null 2>&1; }; } ||
                        say "$tool could not be installed"
        done
fi
have_time=0
[ -x /usr/bin/time ] && have_time=1

# --- data and the mock cluster -------------------------------------------------
# data N P VARIANT: the cached fixture's path, generated if missing.
data() {
        local f="$cache/data-$3-$1x$2.jsonl" big=()
        [ "$3" = 1KB ] && big=(--big)
        if [ ! -s "$f" ]; then
                say "generating $1 records over $2 partitions ($3) into $f"
                python3 "$src/bench/gen_fixture.py" "$1" "$2" "$f.tmp.$$" "${big[@]}"
                mv -f "$f.tmp.$$" "$f"
        fi
        echo "$f"
}

# start_mock FILE P: serves it; the address in $addr.
start_mock() {
        addr=
        : >"$work/mock.out"
        "$km" kafka-mock --load "$1" --partitions "$2" >"$work/mock.out" \
                2>"$work/mock.err" &
        mock_pid=$!
        say "loading $1 into kafka-mock (pid $mock_pid)"
        for _ in $(seq 3000); do
                addr=$(head -n 1 "$work/mock.out" 2>/dev/null || true)
                [ -n "$addr" ] && return 0
                kill -0 "$mock_pid" 2>/dev/null || break
                sleep 0.2
        done
        echo "run.sh: kafka-mock failed to serve $1:" >&2
        sed 's/^/    /' "$work/mock.err" >&2
        mock_pid=
        exit 1
}

stop_mock() {
        kill -TERM "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
        mock_pid=
}

# CPU ticks (user + sys) the mock cluster has used so far.
mock_ticks() {
        awk '{ print $14 + $15 }' "/proc/$mock_pid/stat" 2>/dev/null || echo 0
}

# measure ID CMD...: runs CMD with its stdout and stderr in res/ID.out,
# res/ID.err, user/sys/RSS in res/ID.time and wall seconds, broker CPU
# seconds and exit status in res/ID.meta.  Never fails.
measure() {
        local id=$1 rc=0 t0 t1 m0 m1
        shift
        m0=$(mock_ticks)
        t0=$(date +%s.%N)
        if [ "$have_time" -eq 1 ]; then
                /usr/bin/time -f '%U %S %M' -o "$work/res/$id.time" "$@" \
                        >"$work/res/$id.out" 2>"$work/res/$id.err" || rc=$?
        else
                "$@" >"$work/res/$id.out" 2>"$work/res/$id.err" || rc=$?
        fi
        t1=$(date +%s.%N)
        m1=$(mock_ticks)
        awk -v t0="$t0" -v t1="$t1" -v m0="$m0" -v m1="$m1" -v hz="$(getconf CLK_TCK)" \
                -v rc="$rc" 'BEGIN { printf "wall=%.3f broker_cpu=%.2f rc=%d\n", t1 - t0, (m1 - m0) / hz, rc }' \
                >"$work/res/$id.meta"
}

run_kmsync() { # ID: one run into a fresh warehouse, then counts its lines
        local id=$1
        rm -rf "$work/wh" "$work/.kmsync"
        measure "$id" "$km" run "$src/bench/bench.sync" --at "$at" \
                --kafka "$addr" --target "local:$work/wh" --json --quiet
        local lines=0
        if [ -d "$work/wh" ]; then
                lines=$(find "$work/wh" -name 'part-*' -type f -exec cat {} + | wc -l)
        fi
        echo "lines=$lines" >>"$work/res/$id.meta"
        rm -rf "$work/wh" "$work/.kmsync"
}

# kmsync keeps its rejects under ./.kmsync: run everything in the work dir.
cd "$work"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1-3: the main data set ------------------------------------------------------
main_file=$(data "$n" "$parts" "$variant")
start_mock "$main_file" "$parts"
for r in $(seq "$repeat"); do
        say "round $r/$repeat: bare reader"
        measure "main.bare.$r" "$work/bare_reader" "$addr" bench
        say "round $r/$repeat: kmsync run"
        run_kmsync "main.kmsync.$r"
        if [ "$kcat_on" -eq 1 ] && command -v kcat >/dev/null && command -v jq >/dev/null; then
                say "round $r/$repeat: kcat | jq"
                measure "main.kcat.$r" bash -c "kcat -C -b '$addr' -t bench -e -q -f '%s\n' | jq -c '[.a.a1,.b,.c[1],.d[0].AA]' | wc -l"
        fi
done
stop_mock

# --- 4: peak RSS at 1M and 4M, 256 partitions, 200 B ----------------------------
rss_sets=
if [ "$tiny" -eq 0 ]; then
        rss_sets="1000000"
        [ "$skip_4m" -eq 0 ] && rss_sets="$rss_sets 4000000"
fi
for rn in $rss_sets; do
        id=rss.$rn
        if [ "$rn" = "$n" ] && [ "$parts" = 256 ] && [ "$variant" = 200B ]; then
                for f in time out err meta; do
                        cp "$work/res/main.kmsync.1.$f" "$work/res/$id.kmsync.$f" 2>/dev/null || true
                        cp "$work/res/main.bare.1.$f" "$work/res/$id.bare.$f" 2>/dev/null || true
                done
                continue
        fi
        start_mock "$(data "$rn" 256 200B)" 256
        say "RSS at $rn records: bare reader"
        measure "$id.bare" "$work/bare_reader" "$addr" bench
        say "RSS at $rn records: kmsync run"
        run_kmsync "$id.kmsync"
        stop_mock
done

# --- 5: Tunnel block encoding --------------------------------------------------
if [ "$encode_built" -eq 1 ]; then
        say "Tunnel block encoding, $encode_mb MB"
        measure encode "$work/bench_encode" "$encode_mb"
fi

load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table -------------------------------------------------------------------
python3 - "$work/res" "$n" "$parts" "$variant" "$km" "$repeat" "$tiny" \
        "$kcat_on" "$skip_4m" "$encode_built" "$load_before" "$load_after" \
        "$(nproc)" "$work/encode_build.err" <<'PY'
import glob, json, os, sys

(res, n, parts, variant, km, repeat, tiny, kcat_on, skip_4m, encode_built,
 load_before, load_after, ncpu, encode_err) = sys.argv[1:]
n, repeat = int(n), int(repeat)
problems = []


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def kv(text):
    out = {}
    for word in text.split():
        if "=" in word:
            k, v = word.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def result(id_):
    """The figures of one measured command, or None if it did not run."""
    meta = read(os.path.join(res, id_ + ".meta"))
    if not meta:
        return None
    r = kv(meta)
    t = read(os.path.join(res, id_ + ".time")).strip().splitlines()
    if t:
        u, s, m = t[-1].split()
        r["cpu"] = float(u) + float(s)
        r["rss_mb"] = int(m) / 1024.0
    r["out"] = read(os.path.join(res, id_ + ".out"))
    r["err"] = read(os.path.join(res, id_ + ".err"))
    return r


def bare(id_):
    r = result(id_)
    if r is None:
        return None
    own = kv(r["out"])
    r["records"] = own.get("records", 0)
    r["bytes"] = own.get("bytes", 0)
    r["own_s"] = own.get("seconds")
    r.setdefault("cpu", own.get("cpu_seconds"))
    r.setdefault("rss_mb", own.get("max_rss_kb", 0) / 1024.0)
    return r


def kmsync(id_):
    r = result(id_)
    if r is None:
        return None
    try:
        rep = json.loads(r["out"])
    except ValueError:
        rep = {}
    r["report"] = rep
    r["records"] = rep.get("records_read", 0)
    r["rows"] = rep.get("rows_written")
    r["bytes"] = rep.get("bytes", 0)
    r["own_s"] = rep.get("seconds")
    return r


def kcat(id_):
    r = result(id_)
    if r is None:
        return None
    try:
        r["records"] = int(r["out"].strip() or 0)
    except ValueError:
        r["records"] = 0
    return r


def best(kind, fn):
    runs = [fn(os.path.basename(p)[:-5])
            for p in sorted(glob.glob(os.path.join(res, "main.%s.*.meta" % kind)))]
    runs = [r for r in runs if r]
    ok = [r for r in runs if r["rc"] == 0]
    if not ok:
        return runs[0] if runs else None
    return max(ok, key=lambda r: r["records"] / r["wall"] if r["wall"] else 0)


def rate(r):
    return r["records"] / r["wall"] if r and r["wall"] else 0.0


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


b, k, c = best("bare", bare), best("kmsync", kmsync), best("kcat", kcat)
mb = lambda r: (r.get("bytes") or 0) / 1e6 / r["wall"] if r and r["wall"] else None
avg = (b or k or {}).get("bytes", 0) / n if n else 0

print("kmsync benchmark (bench/run.sh, issue 7)")
print("  data     %d records, %s variant (%.0f B key+value on average), %s partitions, topic 'bench'"
      % (n, variant, avg, parts))
print("  kmsync   %s" % km)
print("  machine  %s cores, load average %s before, %s after; best of %d round(s)"
      % (ncpu, load_before, load_after, repeat))
print("  records/s and MB/s use each process's wall time (start to exit); CPU s is user+sys")
print("  of that process (kcat|jq: both); broker CPU s is what kafka-mock used meanwhile.")
print()
hdr = "| %-22s | %9s | %10s | %7s | %7s | %7s | %8s | %10s | %12s |" % (
    "step", "records", "records/s", "MB/s", "wall s", "CPU s", "RSS MB", "broker s",
    "rows written")
print(hdr)
print("|" + "|".join("-" * (len(x)) for x in hdr.split("|")[1:-1]) + "|")


def row(name, r, rows=None, why=None):
    if r is None:
        print("| %-22s | %s" % (name, why or "not run"))
        return
    if r["rc"] != 0:
        msg = r.get("report", {}).get("error") or (r["err"].strip().splitlines() or [""])[-1]
        print("| %-22s | FAILED (exit %d): %s" % (name, r["rc"], msg[:160]))
        problems.append("%s failed (exit %d)" % (name, r["rc"]))
        return
    print("| %-22s | %9d | %10.0f | %7s | %7.2f | %7s | %8s | %10.2f | %12s |" % (
        name, r["records"], rate(r), fmt(mb(r), ".1f") if r.get("bytes") else "-",
        r["wall"], fmt(r.get("cpu"), ".2f"), fmt(r.get("rss_mb"), ".0f"),
        r["broker_cpu"], "-" if rows is None else rows))


row("1 bare reader", b)
if k is not None and k["rc"] == 0:
    rows = k["rows"]
    row("2 kmsync run (local)", k, "%d" % rows)
    if rows != n or k["lines"] != n or k["records"] != n:
        problems.append("kmsync wrote %s rows (%d lines in the warehouse) of %d records read; N is %d"
                        % (rows, k["lines"], k["records"], n))
else:
    row("2 kmsync run (local)", k)
    if k is None:
        problems.append("kmsync did not run")
if kcat_on == "0":
    row("3 kcat piped to jq", None, why="not run (--tiny or --no-kcat)")
elif c is None:
    row("3 kcat piped to jq", None, why="not installed (kcat or jq)")
else:
    row("3 kcat piped to jq", c)
    if c["rc"] == 0 and c["records"] != n:
        problems.append("kcat | jq printed %d lines, not %d" % (c["records"], n))
if b and k and b["rc"] == 0 and k["rc"] == 0 and b.get("records") != n:
    problems.append("the bare reader read %d records, not %d" % (b["records"], n))
print()

print("ratios (targets of issue 7; informational, never a failure)")
if b and k and b["rc"] == 0 and k["rc"] == 0 and rate(b):
    rr = rate(k) / rate(b)
    print("  kmsync / bare reader, records/s  %5.2fx   (target >= 0.8x: %s)"
          % (rr, "met" if rr >= 0.8 else "not met"))
    if b.get("cpu") and k.get("cpu") is not None:
        cr = k["cpu"] / b["cpu"]
        print("  kmsync / bare reader, CPU s      %5.2fx   (target <= 1.5x: %s)"
              % (cr, "met" if cr <= 1.5 else "not met"))
else:
    print("  kmsync / bare reader             -        (a step failed)")
if c and k and c["rc"] == 0 and k["rc"] == 0 and rate(c):
    print("  kmsync / kcat|jq, records/s      %5.2fx" % (rate(k) / rate(c)))
else:
    print("  kmsync / kcat|jq                 -        (kcat|jq not measured)")
print()

print("kmsync stage counters (the run report's \"stages\")")
stages = (k or {}).get("report", {}).get("stages") if k else None
if isinstance(stages, dict) and stages:
    total = (k or {}).get("own_s") or 0
    notes = {"parse_extract_s": "  (on both threads, beside the others)",
             "map_wait_s": "  (part of other_s)"}
    for name, v in stages.items():
        if name.endswith("_s") and isinstance(v, (int, float)):
            share = " (%4.1f%% of the run's %.2f s)" % (100 * v / total, total) if total else ""
            print("  %-16s %8.3f s%s%s" % (name, v, share, notes.get(name, "")))
        else:
            print("  %-16s %s" % (name, json.dumps(v)))
else:
    print("  not in the run report: this kmsync's `run --json` has no \"stages\" object")
print()

print("peak RSS, 200 B records over 256 partitions (target: 4M within 10% of 1M, under 128 MB)")
if tiny == "1":
    print("  not run (--tiny)")
else:
    got = {}
    for rn, label in (("1000000", "1M"), ("4000000", "4M")):
        rk, rb = kmsync("rss.%s.kmsync" % rn), bare("rss.%s.bare" % rn)
        if rk is None:
            print("  N=%s  not run (--skip-4m)" % label)
            continue
        ok = rk["rc"] == 0 and rk["rows"] == int(rn)
        if not ok:
            problems.append("kmsync at N=%s: exit %d, %s rows" % (label, rk["rc"], rk.get("rows")))
        got[label] = rk.get("rss_mb")
        print("  N=%s  kmsync %6s MB (%s rows, %.0f records/s)   bare reader %6s MB"
              % (label, fmt(rk.get("rss_mb"), ".0f"), rk.get("rows"), rate(rk),
                 fmt(rb.get("rss_mb") if rb else None, ".0f")))
    if got.get("1M") and got.get("4M"):
        g = got["4M"] / got["1M"]
        print("  4M / 1M  %.2fx (%s)" % (g, "met" if g <= 1.10 and got["4M"] < 128 else "not met"))
print()

print("Tunnel block encoding on one core (bench/bench_encode.c; the MaxCompute target compresses at level 1;")
print("target >= 200 MB/s of uncompressed block bytes)")
e = result("encode")
if encode_built != "1":
    print("  not run: bench_encode.c did not build: %s"
          % (read(encode_err).strip().splitlines() or ["?"])[0][:200])
elif e is None or e["rc"] != 0:
    print("  FAILED: %s" % ((e or {}).get("err", "").strip()[:200]))
    problems.append("bench_encode failed")
else:
    for line in e["out"].strip().splitlines():
        print("  " + line)
print()

if problems:
    print("!" * 78)
    for p in problems:
        print("!!! " + p)
    print("!" * 78)
    sys.exit(1)
print("all steps ran; rows written == N == %d" % n)
PY
