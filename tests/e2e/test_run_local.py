"""test_run_local.py - end to end: fixture -> embedded Kafka -> kmsync run
-> local warehouse, checked against an independent oracle of Kafka's window
semantics.  Usage: python3 test_run_local.py PATH/TO/kmsync"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from kafka_window import load_fixture, selected  # noqa: E402

KM = os.path.abspath(sys.argv[1])
ROOT = os.environ.get("KMSYNC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
os.chdir(ROOT)
TMP = tempfile.mkdtemp(prefix="kmsync-e2e-")
passed = failed = 0

W_START = 1704103200000  # 2024-01-01 10:00:00 UTC
W_END = W_START + 3600 * 1000
MIN = 60000


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def run(*args, expect=0):
    p = subprocess.run([KM, *args], capture_output=True, text=True)
    check(p.returncode == expect,
          "exit %d (wanted %d): %s\n%s" % (p.returncode, expect, " ".join(args), p.stderr[-2000:]))
    return p


SYNC = """
KAFKA CONNECTION k BROKERS '127.0.0.1:1';
MAXCOMPUTE CONNECTION m ENDPOINT 'http://mc.invalid/api' PROJECT proj
  ACCESS KEY ENV('AK') SECRET ENV('SK');
SYNC events FROM k INTO m.events
  TIMEZONE 'UTC'
  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO '$[yyyymmddhh24]0000'
  PARTITION (ds = '$[yyyymmdd-1/24]', hh = '$[hh24-1/24]')
  ERRORS LIMIT %(limit)d
  MAP (__key__ AS k, __value__ AS v, __partition__ AS p, __headers__ AS h,
       __offset__ AS o, __timestamp__ AS ts, a.a1 AS a1, b AS b, c[1] AS c1,
       d[0].AA AS aa, `x.y` AS xy, n AS n BIGINT, missing AS missing, 'k1' AS const);
"""

SEED_VALUE = {"a": {"a1": "hello"}, "b": "world", "c": ["xxxxxxx", "yyyyyyy"],
              "d": [{"AA": "this", "BB": "is_data"}, {"AA": "that", "BB": "is_also_data"}],
              "x.y": "dotted", "n": 7}


def fixture_records():
    recs = []

    def add(p, ts, n, **kw):
        v = dict(SEED_VALUE, n=n)
        recs.append(dict({"topic": "events", "partition": p, "timestamp": ts,
                          "key": "k%d-%d" % (p, n), "value": v,
                          "headers": [["h", "1"], ["h", "2"], ["z", None]]}, **kw))
    # partition 0: before, exactly start, inside, late-but-inside, exactly end, after
    add(0, W_START - 1, 1)
    add(0, W_START, 2)
    add(0, W_START + 10 * MIN, 3)
    add(0, W_START - 30 * MIN, 4)      # out of order: written, out-of-window
    add(0, W_END, 5)                   # ends the window (not written)
    add(0, W_END - MIN, 6)             # after the end offset: not written
    # partition 1: all inside, one null value, one null key
    add(1, W_START + MIN, 10)
    recs.append({"topic": "events", "partition": 1, "timestamp": W_START + 2 * MIN,
                 "key": None, "value": None})
    add(1, W_START + 3 * MIN, 12)
    # partition 2: everything after the window
    add(2, W_END + MIN, 20)
    # partition 3: empty (the topic gets 4 partitions)
    return recs


def write_fixture(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def read_partition(wh, spec_path):
    d = os.path.join(wh, "proj", "events", spec_path)
    rows = []
    if not os.path.isdir(d):
        return None, None
    for name in sorted(os.listdir(d)):
        if name.endswith(".jsonl"):
            rows += [json.loads(l) for l in open(os.path.join(d, name))]
    manifest = json.load(open(os.path.join(d, "_SUCCESS")))
    return rows, manifest


def test_window_semantics():
    fx = os.path.join(TMP, "events.jsonl")
    recs = fixture_records()
    write_fixture(fx, recs)
    sync = os.path.join(TMP, "events.sync")
    open(sync, "w").write(SYNC % {"limit": 0})
    wh = os.path.join(TMP, "wh")
    p = run("run", sync, "--at", "2024-01-01 11:05", "--kafka", "mock:" + fx,
            "--partitions", "4", "--target", "local:" + wh, "--json",
            "--rejects", os.path.join(TMP, "rej"))
    rep = json.loads(p.stdout)
    want = selected(load_fixture(fx, "events"), "events", W_START, W_END)
    rows, manifest = read_partition(wh, "ds=20240101/hh=10")
    check(rows is not None, "partition ds=20240101/hh=10 exists")
    got = sorted((r["p"], r["o"]) for r in rows or [])
    check(got == sorted((p_, o) for p_, o, _ in want),
          "rows = Kafka's window: got %s want %s" % (got, [(a, b) for a, b, _ in want]))
    check(rep["rows_written"] == len(want) and rep["committed"], "report counts")
    check(rep["out_of_window"] == 1, "one late record counted: %s" % rep["out_of_window"])
    ranges = {r["partition"]: (r["start_offset"], r["end_offset"]) for r in rep["partitions"]}
    check(ranges == {0: (1, 4), 1: (0, 3), 2: (0, 0), 3: (0, 0)}, "offset ranges %s" % ranges)
    check(manifest["rows"] == len(want), "manifest rows")
    by = {(r["p"], r["o"]): r for r in rows or []}
    r = by.get((0, 2), {})
    check(r.get("a1") == "hello" and r.get("b") == "world" and r.get("c1") == "yyyyyyy"
          and r.get("aa") == "this" and r.get("xy") == "dotted", "JSON paths %s" % r)
    check(r.get("n") == 3 and r.get("missing") is None and r.get("const") == "k1", "types, NULL, constant")
    check(r.get("k") == "k0-3" and r.get("ts") == W_START + 10 * MIN, "key and timestamp")
    check(json.loads(r.get("h", "null")) == {"h": ["1", "2"], "z": None}, "headers %s" % r.get("h"))
    check(json.loads(r.get("v", "null")) == dict(SEED_VALUE, n=3), "__value__ is the JSON text")
    null_row = by.get((1, 1), {})
    check(null_row.get("k") is None and null_row.get("v") is None and null_row.get("a1") is None,
          "null key and value: %s" % null_row)
    # A rerun of the same window gives the same partition, no duplicates.
    run("run", sync, "--at", "2024-01-01 11:05", "--kafka", "mock:" + fx, "--partitions", "4",
        "--target", "local:" + wh, "--json", "--rejects", os.path.join(TMP, "rej"))
    rows2, _ = read_partition(wh, "ds=20240101/hh=10")
    check(sorted(json.dumps(x, sort_keys=True) for x in rows2 or [])
          == sorted(json.dumps(x, sort_keys=True) for x in rows or []), "rerun gives the same rows")
    # An empty window commits an empty partition.
    run("run", sync, "--at", "2024-01-01 15:05", "--kafka", "mock:" + fx, "--partitions", "4",
        "--target", "local:" + wh, "--json")
    rows3, m3 = read_partition(wh, "ds=20240101/hh=14")
    check(rows3 == [] and m3["rows"] == 0, "empty window")
    return fx, sync, wh


def test_dirty_records(fx, sync, wh):
    recs = fixture_records()
    recs.insert(3, {"topic": "events", "partition": 0, "timestamp": W_START + MIN,
                    "key": "bad", "value": "not json"})
    fx2 = os.path.join(TMP, "dirty.jsonl")
    write_fixture(fx2, recs)
    before, _ = read_partition(wh, "ds=20240101/hh=10")
    rej = os.path.join(TMP, "rej2")
    p = run("run", sync, "--at", "2024-01-01 11:05", "--kafka", "mock:" + fx2, "--partitions", "4",
            "--target", "local:" + wh, "--json", "--rejects", rej, expect=3)
    rep = json.loads(p.stdout)
    check(rep["status"] == "failed" and "ERRORS LIMIT 0" in (rep["error"] or ""), "over the limit fails")
    after, _ = read_partition(wh, "ds=20240101/hh=10")
    check(before == after, "a failed run leaves the partition as it was")
    lines = [json.loads(l) for l in open(rep["rejects_file"])] if rep["rejects_file"] else []
    check(len(lines) == 1 and lines[0]["offset"] == 3 and lines[0]["partition"] == 0
          and "not JSON" in lines[0]["reason"], "rejects file: %s" % lines)
    # With ERRORS LIMIT 1 the same run succeeds without the dirty record.
    sync1 = os.path.join(TMP, "events1.sync")
    open(sync1, "w").write(SYNC % {"limit": 1})
    p = run("run", sync1, "--at", "2024-01-01 11:05", "--kafka", "mock:" + fx2, "--partitions", "4",
            "--target", "local:" + wh, "--json", "--rejects", rej)
    rep = json.loads(p.stdout)
    want = selected(load_fixture(fx2, "events"), "events", W_START, W_END)
    check(rep["rows_rejected"] == 1 and rep["rows_written"] == len(want) - 1,
          "limit 1: %s" % rep)


def test_idle_end_and_preview(fx):
    """END WHEN IDLE reads from the start offset and stops each partition at
    its first record at or after the window end, or after the idle delay:
    on this fixture, the same rows as END AT WINDOW END."""
    sync = os.path.join(TMP, "idle.sync")
    open(sync, "w").write((SYNC % {"limit": 0}).replace(
        "ERRORS LIMIT 0", "ERRORS LIMIT 0 END WHEN IDLE 2 SECONDS"))
    wh = os.path.join(TMP, "idle-wh")
    p = run("run", sync, "--at", "2024-01-01 11:05", "--kafka", "mock:" + fx,
            "--partitions", "4", "--target", "local:" + wh, "--json")
    rep = json.loads(p.stdout)
    want = selected(load_fixture(fx, "events"), "events", W_START, W_END)
    rows, _ = read_partition(wh, "ds=20240101/hh=10")
    check(sorted((r["p"], r["o"]) for r in rows or []) == sorted((a, b) for a, b, _ in want),
          "END WHEN IDLE rows: %s" % rep)
    check(rep["seconds"] >= 2.0, "the empty partition waited for the idle delay")
    # preview: the first rows as JSON lines, nothing written.
    pv = os.path.join(TMP, "preview-wh")
    p = run("preview", sync, "--at", "2024-01-01 11:05", "--kafka", "mock:" + fx,
            "--partitions", "4", "--limit", "2")
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    check(len(lines) == 2 and set(lines[0]) >= {"k", "v", "p", "o", "a1", "const"},
          "preview prints 2 rows: %s" % p.stdout[:300])
    check(not os.path.exists(pv), "preview writes nothing")


def test_quickstart():
    wh = os.path.join(TMP, "qs")
    fx = "examples/quickstart.jsonl"
    parts = load_fixture(fx, "orders")
    for at, start in (("2022-11-22 10:15", 1669078800000), ("2022-11-22 00:15", 1669042800000)):
        p = run("run", "examples/quickstart.sync", "--at", at, "--kafka", "mock:" + fx,
                "--target", "local:" + wh, "--json", "--rejects", os.path.join(TMP, "qsrej"))
        rep = json.loads(p.stdout)
        want = selected(parts, "orders", start, start + 3600000)
        dirty = [w for w in want if not isinstance(w[2]["value"], dict)
                 or not isinstance(w[2]["value"]["user"]["id"], int)]
        check(rep["rows_written"] == len(want) - len(dirty) and rep["rows_rejected"] == len(dirty),
              "quickstart %s: %s vs %d-%d" % (at, rep.get("rows_written"), len(want), len(dirty)))


fx, sync, wh = test_window_semantics()
test_dirty_records(fx, sync, wh)
test_idle_end_and_preview(fx)
test_quickstart()
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
