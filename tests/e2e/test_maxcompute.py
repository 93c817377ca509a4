"""test_maxcompute.py - end to end: fixture -> embedded Kafka -> kmsync run
-> the MaxCompute emulator (tests/emulator/), over the real protocol: DDL
through SQL instances, overwrite upload sessions, deflated blocks, faults,
kill -9 during upload, and secrets kept out of every output.
Usage: python3 test_maxcompute.py PATH/TO/kmsync"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from kafka_window import load_fixture, selected  # noqa: E402

KM = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.environ.get("KMSYNC_SOURCE_DIR",
                                      os.path.join(os.path.dirname(__file__), "../..")))
os.chdir(ROOT)
TMP = tempfile.mkdtemp(prefix="kmsync-mc-")
AK, SK = "test-access-id", "Sup3r-s3cret-value-never-shown"
passed = failed = 0
outputs = []  # every stdout/stderr kmsync printed, searched for the secret

W_START = 1704103200000  # 2024-01-01 10:00:00 UTC
MIN = 60000


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def start_emulator():
    data = os.path.join(TMP, "mcdata")
    p = subprocess.Popen([sys.executable, "tests/emulator/mc_emulator.py", "--port", "0",
                          "--data", data, "--access-id", AK, "--access-key", SK],
                         stdout=subprocess.PIPE, text=True)
    base = p.stdout.readline().strip()
    return p, base, data


def control(base, path, body=None):
    req = urllib.request.Request(base + "/__emulator/" + path,
                                 data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"{}")


def env(secret=SK):
    e = dict(os.environ)
    e["KM_AK"], e["KM_SK"] = AK, secret
    e["KMSYNC_STATE"] = os.path.join(TMP, "state")
    return e


def km(*args, expect=0, secret=SK):
    p = subprocess.run([KM, *args], capture_output=True, text=True, env=env(secret))
    outputs.append(p.stdout + p.stderr)
    check(p.returncode == expect, "exit %d (wanted %d): %s\n%s"
          % (p.returncode, expect, " ".join(args), p.stderr[-1500:]))
    return p


SYNC = """
KAFKA CONNECTION k BROKERS '127.0.0.1:1';
MAXCOMPUTE CONNECTION mc ENDPOINT '%(base)s/api' PROJECT proj
  ACCESS KEY ENV('KM_AK') SECRET ENV('KM_SK')
  OPTIONS ('block.size.mb' = '1', 'parallel.blocks' = '2');
SYNC events FROM k INTO mc.events
  TIMEZONE 'UTC'
  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO '$[yyyymmddhh24]0000'
  PARTITION (ds = '$[yyyymmdd-1/24]', hh = '$[hh24-1/24]')
  MAP (__key__ AS k, __partition__ AS p, __offset__ AS o, __timestamp__ AS ts DATETIME,
       n AS n BIGINT, x AS x DOUBLE, flag AS flag BOOLEAN, amount AS amount DECIMAL(10,2),
       s AS s, missing AS missing);
"""


def fixture(path, n_per_part=6, parts=3, big=0):
    with open(path, "w") as f:
        for i in range(n_per_part):
            for p in range(parts):
                ts = W_START - 20 * MIN + i * (100 * MIN // max(n_per_part, 1))
                v = {"n": i, "x": i / 4, "flag": i % 2 == 0, "amount": "%d.5" % i,
                     "s": ("s%d-" % i) + "y" * big}
                f.write(json.dumps({"topic": "events", "partition": p, "timestamp": ts,
                                    "key": "k%d" % i, "value": v}) + "\n")


def rows_of(data, ds, hh):
    path = os.path.join(data, "proj", "events", "ds=%s" % ds, "hh=%s" % hh, "rows.json")
    return json.load(open(path)) if os.path.exists(path) else None


def start_kafka(fixture_path):
    p = subprocess.Popen([KM, "kafka-mock", "--load", fixture_path],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p, p.stdout.readline().strip()


def broker_fault_during_upload(base, data, sync, _bigfx, _want_big):
    # More data than the consumer prefetches (16 MB), in partitions the
    # mock can hold (5 MB each), so the kill lands while records remain.
    bigfx = os.path.join(TMP, "huge.jsonl")
    fixture(bigfx, n_per_part=4000, parts=12, big=1000)
    want_big = selected(load_fixture(bigfx, "events"), "events", W_START, W_START + 60 * MIN)
    before = rows_of(data, "20240101", "10")
    kafka, addr = start_kafka(bigfx)
    # Slow uploads hold the reader back: when the broker dies, most of the
    # window (about 32 MB) is still unread.
    control(base, "faults", {"delay_ms": {"block_put": 1000}})
    seen = max([q["seq"] for q in control(base, "log")["requests"]] or [0])
    e = env()
    e["KMSYNC_STALL_TIMEOUT"] = "3"
    proc = subprocess.Popen([KM, "run", sync, "--at", "2024-01-01 11:05", "--kafka", addr,
                             "--target", "maxcompute", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if any(q.get("op") == "block_put"
               for q in control(base, "log?since=%d" % seen)["requests"]):
            break
        time.sleep(0.05)
    kafka.send_signal(signal.SIGKILL)
    kafka.wait()
    out, err = proc.communicate(timeout=120)
    outputs.append(out + err)
    control(base, "faults", {})
    rep = json.loads(out)
    check(proc.returncode == 1 and not rep["committed"],
          "broker lost mid-upload fails retryably: %s %s" % (proc.returncode, rep["error"]))
    check(rows_of(data, "20240101", "10") == before, "partition untouched by the failed run")
    kafka, addr = start_kafka(bigfx)
    try:
        km("run", sync, "--at", "2024-01-01 11:05", "--kafka", addr, "--target", "maxcompute",
           "--json")
    finally:
        kafka.send_signal(signal.SIGTERM)
        kafka.wait()
    rows = rows_of(data, "20240101", "10")
    keys = [(x["p"], x["o"]) for x in rows]
    check(len(keys) == len(set(keys)) == len(want_big), "rerun after the broker came back")


def main():
    emu, base, data = start_emulator()
    try:
        run_all(base, data)
    finally:
        emu.send_signal(signal.SIGTERM)
        emu.wait(timeout=10)


def run_all(base, data):
    sync = os.path.join(TMP, "events.sync")
    open(sync, "w").write(SYNC % {"base": base})
    fx = os.path.join(TMP, "events.jsonl")
    fixture(fx)
    run = ["run", sync, "--at", "2024-01-01 11:05", "--kafka", "mock:" + fx,
           "--target", "maxcompute", "--json", "--rejects", os.path.join(TMP, "rej")]

    # No table yet: fails for good before reading, and says how to fix it.
    p = km(*run, expect=3)
    check("ddl" in json.loads(p.stdout)["error"], "missing table names the fix")

    km("ddl", sync, "--apply")
    schema = json.load(open(os.path.join(data, "proj", "events", "schema.json")))
    check([c["name"] for c in schema["columns"]][:3] == ["k", "p", "o"], "table created")

    rep = json.loads(km(*run).stdout)
    want = selected(load_fixture(fx, "events"), "events", W_START, W_START + 60 * MIN)
    rows = rows_of(data, "20240101", "10")
    check(rep["committed"] and rep["rows_written"] == len(want), "report: %s" % rep)
    check(sorted((r["p"], r["o"]) for r in rows or []) == sorted((a, b) for a, b, _ in want),
          "rows are the window's")
    r = next(x for x in rows if x["p"] == 0 and x["o"] == 2)
    src = next(w[2] for w in want if w[0] == 0 and w[1] == 2)
    check(r["n"] == 2 and r["x"] == 0.5 and r["flag"] is True and r["amount"] == "2.50"
          and r["s"] == "s2-" and r["missing"] is None and r["k"] == "k2"
          and r["ts"] == src["timestamp"], "typed values: %s" % r)

    # Rerun: the partition is replaced, not appended to.
    km(*run)
    check(len(rows_of(data, "20240101", "10")) == len(want), "rerun overwrites")

    # Faults the client rides out: a 500 on a block, a reset mid-body, a
    # failed commit, a lost commit reply.
    for fault in ({"fail_block_put": {"nth": 1, "status": 500}},
                  {"drop_block_put_mid_body": {"nth": 1}},
                  {"fail_commit": {"nth": 1, "status": 503}},
                  {"drop_commit_reply": {"nth": 1}}):
        control(base, "faults", fault)
        rep = json.loads(km(*run).stdout)
        check(rep["committed"] and len(rows_of(data, "20240101", "10")) == len(want),
              "fault %s: %s" % (fault, rep.get("error")))
    control(base, "faults", {})

    # A signature the service rejects: fails for good, partition untouched.
    before = rows_of(data, "20240101", "10")
    control(base, "faults", {"reject_signature": {"nth": 1, "times": -1, "endpoint": "tunnel"}})
    rep = json.loads(km(*run, expect=3).stdout)
    check("SignatureNotMatch" in (rep["error"] or ""), "auth error code: %s" % rep["error"])
    check(rows_of(data, "20240101", "10") == before, "rejected run left the partition")
    control(base, "faults", {})

    # A wrong secret: same, and the secret shows nowhere.
    km(*run, expect=3, secret="wrong-secret-also-hidden")
    check(not any("wrong-secret-also-hidden" in o for o in outputs), "wrong secret not printed")

    # Empty window: an empty partition.
    p = km("run", sync, "--at", "2024-01-01 18:05", "--kafka", "mock:" + fx,
           "--target", "maxcompute", "--json")
    check(rows_of(data, "20240101", "17") == [], "empty window commits an empty partition")

    # Blocks: 6000 rows of ~1 KB with 1 MB blocks -> several blocks in parallel.
    bigfx = os.path.join(TMP, "big.jsonl")
    fixture(bigfx, n_per_part=2000, big=1000)
    bigrun = ["run", sync, "--at", "2024-01-01 11:05", "--kafka", "mock:" + bigfx,
              "--target", "maxcompute", "--json"]
    rep = json.loads(km(*bigrun).stdout)
    log = control(base, "log")["requests"]
    blocks = {q.get("blockid") for q in log
              if q.get("op") == "block_put" and q.get("blockid") is not None}
    want_big = selected(load_fixture(bigfx, "events"), "events", W_START, W_START + 60 * MIN)
    check(rep["rows_written"] == len(want_big) and len(blocks) >= 3,
          "several blocks: %d rows, blocks %s" % (rep["rows_written"], sorted(map(str, blocks))[:5]))
    check(len(rows_of(data, "20240101", "10")) == len(want_big), "all rows of all blocks")

    # kill -9 during upload, then a rerun: exactly the window, once.
    control(base, "faults", {"delay_ms": {"block_put": 400}})
    seen = max([q["seq"] for q in control(base, "log")["requests"]] or [0])
    proc = subprocess.Popen([KM, *bigrun], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env())
    deadline, uploading = time.time() + 60, False
    while time.time() < deadline and not uploading and proc.poll() is None:
        log = control(base, "log?since=%d" % seen)["requests"]
        uploading = any(q.get("op") == "block_put" for q in log)
        time.sleep(0.05)
    check(uploading and proc.poll() is None, "killed while uploading blocks")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    check(len(rows_of(data, "20240101", "10")) == len(want_big), "killed upload changed nothing")
    control(base, "faults", {})
    km(*bigrun)
    rows = rows_of(data, "20240101", "10")
    keys = [(x["p"], x["o"]) for x in rows]
    check(len(keys) == len(set(keys)) == len(want_big), "rerun after kill: exact, no duplicates")

    # Schema mismatch: fails for good before a record is read.
    bad = os.path.join(TMP, "bad.sync")
    open(bad, "w").write((SYNC % {"base": base}).replace("n AS n BIGINT", "n AS n STRING"))
    rep = json.loads(km("run", bad, "--at", "2024-01-01 11:05", "--kafka", "mock:" + fx,
                        "--target", "maxcompute", "--json", expect=3).stdout)
    check("column 'n'" in (rep["error"] or "") and rep["records_read"] == 0,
          "schema mismatch: %s" % rep["error"])

    # A service that refuses overwrite sessions: the fallback is explicit.
    control(base, "faults", {"fail_create_session": {
        "nth": 1, "status": 400, "code": "InvalidArgument",
        "message": "overwrite is not supported by this service"}})
    rep = json.loads(km(*run).stdout)
    control(base, "faults", {})
    check(rep["committed"] and "refused an overwrite" in (rep["warning"] or ""),
          "overwrite fallback reported: %s" % rep.get("warning"))
    check(len(rows_of(data, "20240101", "10")) == len(want), "fallback replaced the rows")

    # DDL errors come back verbatim, with the SYNC's line.
    control(base, "faults", {"fail_sql": {"match": "CREATE TABLE", "message":
                                          "ODPS-0130071:[1,1] Semantic analysis exception - boom"}})
    p = km("ddl", sync, "--apply", expect=1)
    control(base, "faults", {})
    check("events.sync:6: error: SYNC events: CREATE TABLE failed: "
          "ODPS-0130071:[1,1] Semantic analysis exception - boom" in p.stderr,
          "ddl error verbatim: %s" % p.stderr[-400:])

    # A Kafka broker lost during the upload: the run fails, the partition
    # stays whole; a rerun once Kafka is back gives exactly the window.
    broker_fault_during_upload(base, data, sync, bigfx, want_big)

    # The secret never appears in kmsync's output or the requests it made.
    log = json.dumps(control(base, "log"))
    check(not any(SK in o for o in outputs) and SK not in log, "secret never shown")


main()
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
