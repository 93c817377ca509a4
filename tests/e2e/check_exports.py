"""check_exports.py - `kmsync schedule export` against kmsync's own calendar.

For the five seed scenarios and schedules that one cron expression cannot
hold, every export's firing times over 60 days must equal the scheduled
times `kmsync plan --from --to --json` lists:

  cron              croniter over every crontab line
  systemd           `systemd-analyze calendar --iterations` (systemd's own
                    parser) over every OnCalendar=, and `systemd-analyze
                    verify` on the unit pair
  Airflow           the DAG file parsed with ast; its cron expressions with
                    croniter
  DolphinScheduler  the JSON parsed; its Quartz expression turned into a
                    5-field one for croniter
  Argo              the YAML parsed; its schedules with croniter

The shell the definitions run is run too, against a stub kmsync that
records its arguments and exits as told: the --at it gets must be the
scheduled time, exit status 1 must be retried RETRY times, 3 never.  The
Airflow DAG is executed with stand-ins for the airflow and pendulum
modules.  Schedules an engine cannot express must be refused.

Usage: /usr/bin/python3 check_exports.py PATH/TO/kmsync
Needs Debian's python3-croniter and python3-yaml (import from
/usr/bin/python3), systemd (systemd-analyze), GNU date and flock; exits 77
after naming what is missing.
"""
import ast
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

FROM = datetime(2024, 1, 20, 0, 0)   # 60 days, over a leap day and
TO = datetime(2024, 3, 19, 23, 59)   # month ends of 31 and 29 days
FMT = "%Y-%m-%d %H:%M:%S"
ENGINES = ["cron", "systemd", "airflow", "dolphinscheduler", "argo"]

CONNECTIONS = """\
KAFKA CONNECTION k BROKERS 'kafka-1:9092';
MAXCOMPUTE CONNECTION mc
  ENDPOINT 'http://service.cn-shanghai.maxcompute.aliyun.com/api'
  PROJECT p
  ACCESS KEY ENV('AK') SECRET ENV('SK');
"""

# name, SCHEDULE clause, zone, RETRY clause, engines that must refuse
# (engine -> a phrase of the message)
TRICKY = [
    ("every7", "EVERY 7 MINUTES FROM '00:00' TO '23:59'", "Asia/Shanghai",
     "RETRY 2 TIMES EVERY 90 SECONDS",
     {"dolphinscheduler": "needs 7 cron expressions"}),
    ("office", "EVERY 5 MINUTES FROM '08:10' TO '17:40'", "Asia/Shanghai",
     "RETRY 1 TIMES EVERY 1 MINUTES",
     {"dolphinscheduler": "needs 3 cron expressions"}),
    ("month_ends", "MONTHLY ON DAY 1, 15, LAST DAY AT '00:15'",
     "Asia/Shanghai", "RETRY 3 TIMES EVERY 2 MINUTES",
     {"cron": "cannot express LAST DAY", "argo": "cannot express LAST DAY",
      "dolphinscheduler": "needs 2 cron expressions"}),
    ("last_day", "MONTHLY ON LAST DAY AT '23:50'", "UTC", "",
     {"cron": "cannot express LAST DAY", "argo": "cannot express LAST DAY"}),
    ("day31", "MONTHLY ON DAY 31 AT '06:00'", "Asia/Shanghai",
     "RETRY 1 TIMES EVERY 5 MINUTES", {}),
    ("mon_thu", "WEEKLY ON MONDAY, THURSDAY AT '00:15'", "Asia/Shanghai",
     "RETRY 3 TIMES EVERY 2 MINUTES", {}),
    ("weekend", "WEEKLY ON SATURDAY, SUNDAY AT '23:59'", "Europe/Berlin",
     "RETRY 1 TIMES EVERY 30 SECONDS", {}),
    ("every2h", "EVERY 2 HOURS FROM '00:15' TO '23:59'", "Asia/Shanghai",
     "RETRY 3 TIMES EVERY 2 MINUTES", {}),
    ("every5h", "EVERY 5 HOURS FROM '01:30' TO '22:00'", "Asia/Tokyo",
     "RETRY 3 TIMES EVERY 2 MINUTES", {}),
    ("last_hour", "EVERY 1 MINUTES FROM '23:00' TO '23:59'",
     "Asia/Shanghai", "RETRY 3 TIMES EVERY 2 MINUTES", {}),
]

passed = failed = 0


def ok(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}" + (f"\n    {detail}" if detail else ""))
    return cond


# ------------------------------------------------------------ environment

def missing_tools():
    missing = []
    for mod, pkg in (("croniter", "python3-croniter"),
                     ("yaml", "python3-yaml")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(f"python module {mod} ({pkg}) in {sys.executable}")
    for tool, pkg in (("systemd-analyze", "systemd"), ("flock", "util-linux"),
                      ("date", "coreutils"), ("bash", "bash")):
        if not shutil.which(tool):
            missing.append(f"{tool} ({pkg})")
    if shutil.which("date"):
        r = subprocess.run(["date", "-d", "@0", "+%s"], capture_output=True,
                           text=True)
        if r.stdout.strip() != "0":
            missing.append("GNU date (coreutils)")
    return missing


# ------------------------------------------------------------- the stubs

STUB = """#!/bin/sh
# A kmsync that runs `plan` for real and records every other call.
if [ "$1" = plan ]; then exec "$KMSYNC_REAL" "$@"; fi
{ printf '%s' "$(pwd)"; for a in "$@"; do printf '\\037%s' "$a"; done
  printf '\\036%s\\n' "$(/bin/date +%s.%N)"; } >> "$STUB_LOG"
code=$(head -n 1 "$STUB_CODES" 2>/dev/null)
[ -f "$STUB_CODES" ] && sed -i 1d "$STUB_CODES"
[ -n "${STUB_HOLD:-}" ] && /bin/sleep "$STUB_HOLD"
printf '%s\\n' "$(/bin/date +%s.%N)" >> "$STUB_LOG.end"
exit "${code:-0}"
"""

SLEEP = """#!/bin/sh
# The retry loops' sleep, recorded instead of slept.
printf '%s\\n' "$*" >> "$STUB_LOG.sleep"
"""


class Stub:
    def __init__(self, tmp, real):
        self.dir = os.path.join(tmp, "stub")
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, "kmsync")
        self.log = os.path.join(tmp, "stub.log")
        self.codes = os.path.join(tmp, "stub.codes")
        for name, text in (("kmsync", STUB), ("sleep", SLEEP)):
            p = os.path.join(self.dir, name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o755)
        self.real = real

    def env(self, codes=(), hold=None, extra=None):
        for p in (self.log, self.log + ".sleep", self.log + ".end"):
            if os.path.exists(p):
                os.remove(p)
        with open(self.codes, "w") as f:
            f.write("".join(f"{c}\n" for c in codes))
        env = dict(os.environ)
        env.update({"KMSYNC_REAL": self.real, "STUB_LOG": self.log,
                    "STUB_CODES": self.codes,
                    "PATH": self.dir + ":" + env.get("PATH", "/usr/bin:/bin")})
        if hold:
            env["STUB_HOLD"] = str(hold)
        env.update(extra or {})
        return env

    def calls(self):
        if not os.path.exists(self.log):
            return []
        out = []
        with open(self.log) as f:
            for line in f:
                head, _, started = line.rstrip("\n").partition("\x1e")
                parts = head.split("\x1f")
                out.append({"cwd": parts[0], "args": parts[1:],
                            "start": float(started)})
        return out

    def sleeps(self):
        p = self.log + ".sleep"
        return open(p).read().split() if os.path.exists(p) else []


def at_of(call):
    args = call["args"]
    return args[args.index("--at") + 1] if "--at" in args else None


# -------------------------------------------------------------- kmsync

class Case:
    def __init__(self, name, path, sync, zone, retry_times, retry_s,
                 refuse):
        self.name, self.path, self.sync, self.zone = name, path, sync, zone
        self.retry_times, self.retry_s, self.refuse = (retry_times, retry_s,
                                                       refuse)
        self.ref = []

    def scheduled(self, km):
        r = subprocess.run([km, "plan", self.path, "--sync", self.sync,
                            "--from", FROM.strftime(FMT), "--to",
                            TO.strftime(FMT), "--json"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise SystemExit(f"kmsync plan failed for {self.path}: "
                             f"{r.stderr}")
        self.ref = [i["scheduled_at"] for i in json.loads(r.stdout)
                    ["instances"]]
        return self.ref

    def instant(self, wall):
        """The UTC instant of a wall-clock text in the case's zone."""
        d = datetime.strptime(wall, FMT).replace(tzinfo=ZoneInfo(self.zone))
        return d.astimezone(timezone.utc)


def export(km, case, engine, kmsync_path):
    return subprocess.run([km, "schedule", "export", case.path, "--sync",
                           case.sync, "--to", engine, "--kmsync",
                           kmsync_path], capture_output=True, text=True,
                          env=dict(os.environ, SOURCE_DATE_EPOCH="1705708800"))


# ----------------------------------------------------------- calendars

def cron_times(exprs, label):
    """Wall-clock firing times of 5-field expressions in [FROM, TO]; also
    checks no two expressions fire at one time."""
    from croniter import croniter
    seen, total = set(), 0
    for e in exprs:
        it = croniter(e, FROM - timedelta(minutes=1))
        while True:
            t = it.get_next(datetime)
            if t > TO:
                break
            seen.add(t.strftime(FMT))
            total += 1
    ok(total == len(seen), f"{label}: expressions fire once per time",
       f"{total} firings for {len(seen)} times: {exprs}")
    return sorted(seen)


def same_times(got, ref, label):
    g, r = set(got), set(ref)
    detail = ""
    if g != r:
        detail = (f"{len(r)} scheduled, {len(g)} fired; scheduled only: "
                  f"{sorted(r - g)[:5]}; fired only: {sorted(g - r)[:5]}")
    return ok(g == r and len(ref) > 0, f"{label}: firing times over 60 days "
              f"equal kmsync plan", detail)


def systemd_times(expr, zone, want):
    """Wall-clock times in the zone at which systemd fires `expr`."""
    base = datetime(FROM.year, FROM.month, FROM.day,
                    tzinfo=ZoneInfo(zone)) - timedelta(seconds=1)
    base = base.astimezone(timezone.utc)
    end = TO.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
    out, n = [], max(16, want + 2)
    pat = re.compile(r"(?:Next elapse|Iter\. #\d+): \w+ "
                     r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")
    while True:
        r = subprocess.run(["systemd-analyze", "calendar",
                            f"--iterations={n}", "--base-time",
                            base.strftime("%Y-%m-%d %H:%M:%S UTC"), expr],
                           capture_output=True, text=True,
                           env=dict(os.environ, TZ="UTC"))
        if r.returncode != 0:
            raise ValueError(r.stderr.strip())
        got = [datetime.strptime(m, FMT).replace(tzinfo=timezone.utc)
               for m in pat.findall(r.stdout)]
        if not got:
            break
        out += [t for t in got if t <= end]
        if got[-1] > end or len(got) < n:
            break
        base = got[-1]
    return [t.astimezone(ZoneInfo(zone)).strftime(FMT) for t in out]


# ---------------------------------------------------------------- shell

def run_sh(script, env, cwd, shell="sh"):
    return subprocess.run([shell, "-c", script], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def check_retries(label, case, stub, run):
    """run(env) runs the definition's command once; checks RETRY and 3."""
    n, d = case.retry_times, case.retry_s
    r = run(stub.env(codes=[1, 0]))
    calls = stub.calls()
    want = 2 if n else 1
    ok(len(calls) == want and r.returncode == (0 if n else 1),
       f"{label}: exit status 1 then 0 runs {want} time(s)",
       f"{len(calls)} calls, exit {r.returncode}: {r.stderr[-300:]}")
    if n:
        ok(stub.sleeps() == [str(d)], f"{label}: retries after {d} s",
           f"slept {stub.sleeps()}")
    r = run(stub.env(codes=[3, 0]))
    ok(len(stub.calls()) == 1 and r.returncode == 3,
       f"{label}: exit status 3 is not retried",
       f"{len(stub.calls())} calls, exit {r.returncode}")
    r = run(stub.env(codes=[1] * (n + 2)))
    ok(len(stub.calls()) == n + 1 and r.returncode == 1,
       f"{label}: exit status 1 is retried {n} time(s), then given up",
       f"{len(stub.calls())} calls, exit {r.returncode}")


# ----------------------------------------------------------------- cron

def check_cron(case, text, stub):
    label = f"{case.name}/cron"
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    envs = [ln for ln in lines if re.match(r"^[A-Z_]+=", ln)]
    entries = [ln.split(None, 5) for ln in lines if ln not in envs]
    ok(envs == [f"CRON_TZ={case.zone}"], f"{label}: CRON_TZ names the zone",
       str(envs))
    ok(f"must then be {case.zone}" in text,
       f"{label}: a comment names the system zone cron must run in")
    ok(all(len(e) == 6 for e in entries) and
       len({e[5] for e in entries}) == 1, f"{label}: every line runs the "
       f"same command", str(entries)[:300])
    same_times(cron_times([" ".join(e[:5]) for e in entries], label),
               case.ref, label)
    cmd = entries[0][5]
    ok(re.search(r"(?<!\\)%", cmd) is None,
       f"{label}: every % is escaped for cron")
    cmd = cmd.replace("\\%", "%")
    cwd = os.path.dirname(case.path)
    zone = ZoneInfo(case.zone)
    before = datetime.now(zone).strftime("%Y-%m-%d %H:%M:00")
    r = run_sh(cmd, stub.env(codes=[0]), cwd)
    after = datetime.now(zone).strftime("%Y-%m-%d %H:%M:00")
    calls = stub.calls()
    ok(r.returncode == 0 and len(calls) == 1 and
       calls[0]["args"][:4] == ["run", case.path, "--sync", case.sync] and
       at_of(calls[0]) in (before, after) and calls[0]["cwd"] == cwd,
       f"{label}: runs kmsync run FILE --sync NAME --at <this minute>",
       f"exit {r.returncode}, calls {calls}, {r.stderr[-300:]}")
    check_retries(label, case, stub, lambda env: run_sh(cmd, env, cwd))
    # One at a time: two jobs started together run one after the other.
    env = stub.env(codes=[0, 0], hold=0.3)
    procs = [subprocess.Popen(["sh", "-c", cmd], env=env, cwd=cwd)
             for _ in range(2)]
    for p in procs:
        p.wait(timeout=60)
    calls = stub.calls()
    ends = sorted(float(x) for x in open(stub.log + ".end").read().split())
    starts = sorted(c["start"] for c in calls)
    ok(len(calls) == 2 and starts[1] >= ends[0],
       f"{label}: flock keeps a second run waiting for the first",
       f"starts {starts}, ends {ends}")


# -------------------------------------------------------------- systemd

def split_units(text):
    units, name = {}, None
    for line in text.splitlines(keepends=True):
        m = re.match(r"^# ---- (kmsync-[^ ]+\.(service|timer)) ----$", line)
        if m:
            name = m.group(1)
            units[name] = ""
        elif name:
            units[name] += line
    return units


def unit_values(text, key):
    """Values of key= in a unit file, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    return [ln[len(key) + 1:] for ln in joined.splitlines()
            if ln.startswith(key + "=")]


def unescape_unit(s):
    out, i = [], 0
    while i < len(s):
        if s[i] in "$%" and i + 1 < len(s) and s[i + 1] == s[i]:
            out.append(s[i])
            i += 2
        elif s[i] == "%":
            raise ValueError(f"unescaped % in {s!r}")
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def check_systemd(case, text, stub, tmp):
    label = f"{case.name}/systemd"
    units = split_units(text)
    svc = f"kmsync-{case.sync}.service"
    tmr = f"kmsync-{case.sync}.timer"
    if not ok(set(units) == {svc, tmr}, f"{label}: a .service and a .timer",
              str(list(units))):
        return
    d = os.path.join(tmp, f"units-{case.name}")
    os.makedirs(d, exist_ok=True)
    for name, body in units.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(body)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        os.path.join(d, tmr), os.path.join(d, svc)],
                       capture_output=True, text=True)
    ok(r.returncode == 0 and "rror" not in r.stderr,
       f"{label}: systemd-analyze verify accepts both units",
       r.stderr.strip()[:500])
    timer = units[tmr]
    ok(unit_values(timer, "Persistent") == ["true"],
       f"{label}: Persistent=true")
    exprs = unit_values(timer, "OnCalendar")
    ok(exprs and all(e.endswith(" " + case.zone) for e in exprs),
       f"{label}: every OnCalendar= names the zone", str(exprs))
    got = []
    try:
        per = len(case.ref) // max(1, len(exprs)) + 2
        for e in exprs:
            got += systemd_times(e, case.zone, per)
    except ValueError as err:
        ok(False, f"{label}: systemd-analyze calendar parses {exprs}",
           str(err))
        return
    ok(len(got) == len(set(got)), f"{label}: no two OnCalendar= fire at once")
    same_times(got, case.ref, label)
    check_systemd_script(case, units[svc], stub, label)


def service_env(svc):
    env = {}
    for v in unit_values(svc, "Environment"):
        m = re.fullmatch(r'"([A-Z_]+)=(.*)"', v)
        if m:
            env[m.group(1)] = unescape_unit(m.group(2))
    return env


def check_systemd_script(case, svc, stub, label):
    (start,) = unit_values(svc, "ExecStart")
    m = re.fullmatch(r"/bin/sh -c '([^']*)'", start)
    if not ok(m is not None, f"{label}: ExecStart is /bin/sh -c '...'",
              start[:200]):
        return
    script = unescape_unit(m.group(1))
    (cwd,) = unit_values(svc, "WorkingDirectory")
    env = service_env(svc)
    ok(env.get("KMSYNC_FILE") == case.path and
       env.get("KMSYNC_SYNC") == case.sync, f"{label}: the unit names the "
       f"file and the SYNC", str(env))
    ok(unit_values(svc, "Type") == ["oneshot"], f"{label}: Type=oneshot")

    def run(stub_env, trigger):
        stub_env.update(env)
        stub_env["KMSYNC"] = stub.path
        if trigger is None:
            stub_env.pop("TRIGGER_TIMER_REALTIME_USEC", None)
        else:
            stub_env["TRIGGER_TIMER_REALTIME_USEC"] = str(
                int(trigger.timestamp() * 1e6))
        return run_sh(script, stub_env, unescape_unit(cwd))

    k = (len(case.ref) - 1) // 2
    on_time = case.instant(case.ref[k]) + timedelta(milliseconds=400)
    r = run(stub.env(codes=[0]), on_time)
    calls = stub.calls()
    ok(r.returncode == 0 and len(calls) == 1 and
       at_of(calls[0]) == case.ref[k] and
       calls[0]["args"][:4] == ["run", case.path, "--sync", case.sync],
       f"{label}: a timer elapsing at {case.ref[k]} runs --at that time",
       f"exit {r.returncode}, calls {calls}, {r.stderr[-300:]}")
    if k + 1 < len(case.ref):
        late = case.instant(case.ref[k + 1]) - timedelta(seconds=1)
    else:
        late = case.instant(case.ref[k]) + timedelta(days=1)
    r = run(stub.env(codes=[0]), late)
    calls = stub.calls()
    ok(len(calls) == 1 and at_of(calls[0]) == case.ref[k],
       f"{label}: a run made up late (Persistent=) takes the last "
       f"scheduled time before it", f"calls {calls}, {r.stderr[-300:]}")
    r = run(stub.env(codes=[0]), None)
    calls = stub.calls()
    ok(len(calls) == 1 and at_of(calls[0]) is not None and
       subprocess.run([stub.real, "plan", case.path, "--sync", case.sync,
                       "--from", at_of(calls[0]), "--to", at_of(calls[0])],
                      capture_output=True, text=True).stdout.strip() != "",
       f"{label}: without $TRIGGER_TIMER_REALTIME_USEC it takes a "
       f"scheduled time before now", f"calls {calls}, {r.stderr[-300:]}")
    check_retries(label, case, stub, lambda e: run(e, on_time))


# --------------------------------------------------------------- Airflow

def kw(call):
    return {k.arg: k.value for k in call.keywords}


def const(node):
    return ast.literal_eval(node)


def airflow_crons(sched, zone, label):
    if isinstance(sched, ast.Constant):
        return [sched.value]
    if (isinstance(sched, ast.Call) and
            getattr(sched.func, "id", "") == "MultipleCronTriggerTimetable"):
        ok(const(kw(sched)["timezone"]) == zone,
           f"{label}: the timetable's timezone is the SYNC's")
        return [const(a) for a in sched.args]
    ok(False, f"{label}: schedule is a cron string or "
       f"MultipleCronTriggerTimetable", ast.dump(sched)[:200])
    return []


def check_airflow_ast(case, text, label):
    tree = ast.parse(text)
    dags = [item.context_expr for node in ast.walk(tree)
            if isinstance(node, ast.With) for item in node.items
            if isinstance(item.context_expr, ast.Call) and
            getattr(item.context_expr.func, "id", "") == "DAG"]
    if not ok(len(dags) == 1, f"{label}: one DAG", str(len(dags))):
        return
    k = kw(dags[0])
    start = k.get("start_date")
    ok(isinstance(start, ast.Call) and const(kw(start)["tz"]) == case.zone,
       f"{label}: start_date is in the SYNC's zone")
    ok(const(k["catchup"]) is True, f"{label}: catchup=True")
    ok(const(k["max_active_runs"]) == 1, f"{label}: max_active_runs=1")
    args = k["default_args"]
    args = dict(zip([const(x) for x in args.keys], args.values))
    ok(const(args["retries"]) == case.retry_times,
       f"{label}: retries={case.retry_times}")
    delay = args["retry_delay"]
    ok(isinstance(delay, ast.Call) and delay.func.id == "timedelta" and
       const(kw(delay)["seconds"]) == case.retry_s,
       f"{label}: retry_delay={case.retry_s} s")
    words = [[getattr(e, "value", None) for e in n.elts]
             for n in ast.walk(tree) if isinstance(n, ast.List)]
    ok(any("--at" in w and "--sync" in w and "run" in w for w in words),
       f"{label}: the command is kmsync run ... --sync ... --at ...")
    ok("data_interval_end" in text and "AirflowFailException" in text and
       "rc == 3" in text, f"{label}: --at from data_interval_end, exit 3 "
       f"raises AirflowFailException")
    same_times(cron_times(airflow_crons(k["schedule"], case.zone, label),
                          label), case.ref, label)


class FakeAirflow:
    """Stand-ins for the parts of airflow and pendulum the DAG uses."""

    def __init__(self):
        self.dags, self.ops = [], []
        fake = self

        class AirflowException(Exception):
            pass

        class AirflowFailException(AirflowException):
            pass

        class DAG:
            def __init__(self, **kwargs):
                self.kwargs = kwargs
                fake.dags.append(self)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

        class PythonOperator:
            def __init__(self, **kwargs):
                fake.ops.append(kwargs)

        class Timetable:
            def __init__(self, *crons, timezone):
                self.crons, self.timezone = crons, timezone

        def pdatetime(y, m, d, tz):
            return datetime(y, m, d, tzinfo=ZoneInfo(tz))

        self.exc = AirflowException
        self.fail = AirflowFailException
        mods = {
            "airflow": {"DAG": DAG},
            "airflow.exceptions": {"AirflowException": AirflowException,
                                   "AirflowFailException":
                                       AirflowFailException},
            "airflow.sdk": {"DAG": DAG},
            "airflow.providers": {}, "airflow.providers.standard": {},
            "airflow.providers.standard.operators": {},
            "airflow.providers.standard.operators.python":
                {"PythonOperator": PythonOperator},
            "airflow.timetables": {},
            "airflow.timetables.trigger":
                {"MultipleCronTriggerTimetable": Timetable},
            "pendulum": {"datetime": pdatetime, "timezone": ZoneInfo},
        }
        self.modules = {}
        for name, attrs in mods.items():
            mod = types.ModuleType(name)
            mod.__dict__.update(attrs)
            mod.__path__ = []
            self.modules[name] = mod


def check_airflow(case, text, stub):
    label = f"{case.name}/airflow"
    check_airflow_ast(case, text, label)
    fake = FakeAirflow()
    saved = {k: sys.modules.get(k) for k in fake.modules}
    sys.modules.update(fake.modules)
    try:
        exec(compile(text, f"{case.name}_dag.py", "exec"), {})
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    if not ok(len(fake.dags) == 1 and len(fake.ops) == 1,
              f"{label}: the file runs and makes one DAG with one task"):
        return
    op = fake.ops[0]
    k = len(case.ref) // 3
    end = case.instant(case.ref[k])  # as Airflow has it: in UTC

    def run(env):
        saved_env = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                op["python_callable"](data_interval_end=end, ti=None,
                                      **op["op_kwargs"])
            return 0
        except fake.fail:
            return 3
        except fake.exc:
            return 1
        finally:
            os.environ.clear()
            os.environ.update(saved_env)

    rc = run(stub.env(codes=[0]))
    calls = stub.calls()
    ok(rc == 0 and len(calls) == 1 and at_of(calls[0]) == case.ref[k] and
       calls[0]["args"][:4] == ["run", case.path, "--sync", case.sync] and
       calls[0]["cwd"] == os.path.dirname(case.path),
       f"{label}: data_interval_end {end:%Y-%m-%d %H:%M} UTC runs --at "
       f"{case.ref[k]}", f"rc {rc}, calls {calls}")
    ok(run(stub.env(codes=[3])) == 3,
       f"{label}: exit status 3 raises AirflowFailException")
    ok(run(stub.env(codes=[1])) == 1,
       f"{label}: exit status 1 raises a retryable AirflowException")


# ------------------------------------------------------ DolphinScheduler

def quartz_to_cron(q, label):
    f = q.split()
    if not ok(len(f) == 7 and f[0] == "0" and f[6] == "*" and
              (f[3] == "?") != (f[5] == "?"), f"{label}: Quartz cron "
              f"'{q}' has seconds 0, any year and one '?'"):
        return None
    return " ".join([f[1], f[2], f[3].replace("?", "*"), f[4],
                     f[5].replace("?", "*")])


def check_ds(case, text, stub):
    label = f"{case.name}/dolphinscheduler"
    doc = json.loads(text)
    if not ok(isinstance(doc, list) and len(doc) == 1,
              f"{label}: a JSON array of one workflow definition"):
        return
    d = doc[0]
    wf = d["workflowDefinition"]
    ok(d["processDefinition"] == wf and
       d["processTaskRelationList"] == d["workflowTaskRelationList"],
       f"{label}: the 3.3 and the 3.0-3.2 keys say the same")
    ok(wf["executionType"] == "SERIAL_WAIT", f"{label}: serial wait")
    (task,) = d["taskDefinitionList"]
    rel = d["workflowTaskRelationList"]
    ok(len(rel) == 1 and rel[0]["postTaskCode"] == task["code"] and
       str(task["code"]) in wf["locations"], f"{label}: the relation and "
       f"the location name the task")
    ok(task["taskType"] == "SHELL", f"{label}: a shell task")
    ok(task["failRetryTimes"] == case.retry_times and
       task["failRetryInterval"] == -(-case.retry_s // 60),
       f"{label}: failRetryTimes={case.retry_times}, failRetryInterval="
       f"{-(-case.retry_s // 60)} min", str(task)[:300])
    sched = d["schedule"]
    ok(sched["timezoneId"] == case.zone, f"{label}: timezoneId")
    cron = quartz_to_cron(sched["crontab"], label)
    if cron:
        same_times(cron_times([cron], label), case.ref, label)
    script = task["taskParams"]["rawScript"]
    k = len(case.ref) // 4
    cwd = os.path.dirname(case.path)
    for worker in (case.zone, "UTC"):
        wall = case.instant(case.ref[k]).astimezone(ZoneInfo(worker))
        body = script.replace("${system.datetime}",
                              wall.strftime("%Y%m%d%H%M%S"))
        ok("${" not in body and "$[" not in body,
           f"{label}: the script has no other DolphinScheduler parameter")
        r = run_sh(body, stub.env(codes=[0], extra={"TZ": worker}), cwd,
                   shell="bash")
        calls = stub.calls()
        ok(r.returncode == 0 and len(calls) == 1 and
           at_of(calls[0]) == case.ref[k] and
           calls[0]["args"][:4] == ["run", case.path, "--sync", case.sync],
           f"{label}: a worker in {worker} runs --at {case.ref[k]}",
           f"exit {r.returncode}, calls {calls}, {r.stderr[-300:]}")


# ------------------------------------------------------------------ Argo

def argo_retry_allows(expr, status, code):
    py = expr.replace("||", " or ").replace("&&", " and ")
    last = types.SimpleNamespace(status=status, exitCode=str(code))
    return bool(eval(py, {"__builtins__": {}},
                     {"lastRetry": last, "asInt": int}))


def check_argo(case, text, stub):
    import yaml
    label = f"{case.name}/argo"
    docs = [x for x in yaml.safe_load_all(text) if x]
    if not ok(len(docs) == 1 and docs[0].get("kind") == "CronWorkflow" and
              docs[0].get("apiVersion") == "argoproj.io/v1alpha1",
              f"{label}: one CronWorkflow"):
        return
    spec = docs[0]["spec"]
    name = docs[0]["metadata"]["name"]
    ok(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) is not None and
       len(name) <= 52, f"{label}: metadata.name is a valid name", name)
    ok(spec["timezone"] == case.zone, f"{label}: timezone")
    ok(spec["concurrencyPolicy"] == "Forbid", f"{label}: Forbid")
    same_times(cron_times(spec["schedules"], label), case.ref, label)
    wspec = spec["workflowSpec"]
    (tpl,) = [t for t in wspec["templates"] if t["name"] ==
              wspec["entrypoint"]]
    rs = tpl.get("retryStrategy")
    if case.retry_times:
        ok(rs and rs["limit"] == str(case.retry_times) and
           rs["backoff"]["duration"] == f"{case.retry_s}s" and
           rs["backoff"].get("factor") in ("1", 1),
           f"{label}: retryStrategy limit {case.retry_times}, "
           f"{case.retry_s}s apart", str(rs))
        e = rs["expression"]
        ok(not argo_retry_allows(e, "Failed", 3) and
           argo_retry_allows(e, "Failed", 1) and
           argo_retry_allows(e, "Error", -1),
           f"{label}: the retry expression stops at exit status 3 only", e)
    else:
        ok(rs is None, f"{label}: no retryStrategy without RETRY")
    c = tpl["container"]
    ok(c["command"] == ["/bin/sh", "-c"], f"{label}: /bin/sh -c")
    env = {v["name"]: v["value"] for v in c["env"]}
    ok(env.get("KMSYNC_SCHEDULED_TIME") == "{{workflow.scheduledTime}}",
       f"{label}: the scheduled time comes from workflow.scheduledTime")
    k = len(case.ref) // 5
    inst = case.instant(case.ref[k])
    for shown in (inst.astimezone(ZoneInfo(case.zone)).isoformat(),
                  inst.strftime("%Y-%m-%dT%H:%M:%SZ")):
        r = run_sh(c["args"][0], stub.env(
            codes=[0], extra={"KMSYNC_SCHEDULED_TIME": shown}),
            c["workingDir"])
        calls = stub.calls()
        ok(r.returncode == 0 and len(calls) == 1 and
           at_of(calls[0]) == case.ref[k],
           f"{label}: scheduledTime {shown} runs --at {case.ref[k]}",
           f"exit {r.returncode}, calls {calls}, {r.stderr[-300:]}")


CHECKS = {"cron": check_cron, "airflow": check_airflow,
          "dolphinscheduler": check_ds, "argo": check_argo}


# ----------------------------------------------------------------- cases

def retry_of(clause):
    m = re.search(r"RETRY (\d+) TIMES EVERY (\d+) (SECONDS|MINUTES)", clause)
    if not m:
        return 0, 0
    return int(m.group(1)), int(m.group(2)) * (60 if m.group(3) ==
                                                "MINUTES" else 1)


def make_cases(src, tmp):
    cases = []
    for f in sorted(os.listdir(os.path.join(src, "examples/seed"))):
        path = os.path.join(tmp, f)
        shutil.copy(os.path.join(src, "examples/seed", f), path)
        text = open(path).read()
        sync = re.search(r"^SYNC (\w+)", text, re.M).group(1)
        zone = re.search(r"TIMEZONE '([^']+)'", text).group(1)
        n, d = retry_of(text)
        cases.append(Case(f[:-5], path, sync, zone, n, d, {}))
    for name, sched, zone, retry, refuse in TRICKY:
        path = os.path.join(tmp, name + ".sync")
        with open(path, "w") as f:
            f.write(CONNECTIONS + f"""\
SYNC {name} FROM k INTO mc.t
  TOPIC 't'
  TIMEZONE '{zone}'
  WINDOW FROM '$[yyyymmddhh24mi-1]00' TO '$[yyyymmddhh24mi]00'
  PARTITION (ds = '$[yyyymmddhh24mi]')
  SCHEDULE {sched}
  {retry};
""")
        n, d = retry_of(retry)
        cases.append(Case(name, path, name, zone, n, d, refuse))
    return cases


def check_case(km, case, stub, tmp):
    case.scheduled(km)
    for engine in ENGINES:
        r = export(km, case, engine, stub.path)
        label = f"{case.name}/{engine}"
        if engine in case.refuse:
            ok(r.returncode == 1 and r.stdout == "" and
               case.refuse[engine] in r.stderr and "export it to" in
               r.stderr, f"{label}: refused with a reason and the formats "
               f"that can", f"exit {r.returncode}: {r.stderr[-400:]}")
            continue
        if not ok(r.returncode == 0 and r.stdout, f"{label}: exported",
                  f"exit {r.returncode}: {r.stderr[-400:]}"):
            continue
        try:
            if engine == "systemd":
                check_systemd(case, r.stdout, stub, tmp)
            else:
                CHECKS[engine](case, r.stdout, stub)
        except Exception as err:  # a malformed export: report, go on
            ok(False, f"{label}: checks ran", f"{type(err).__name__}: {err}")


# --------------------------------------------------------- other checks

def check_command_line(km, tmp):
    seed = os.path.join(tmp, "hourly.sync")
    r = subprocess.run([km, "schedule", "export", seed], capture_output=True,
                       text=True)
    ok(r.returncode == 2 and "--to" in r.stderr, "no --to: usage error")
    r = subprocess.run([km, "schedule", "export", seed, "--to", "at"],
                       capture_output=True, text=True)
    ok(r.returncode == 2 and "dolphinscheduler" in r.stderr,
       "an unknown --to: usage error naming the formats")
    r = subprocess.run([km, "schedule", "export", seed, "--to", "cron",
                        "--sync", "nope"], capture_output=True, text=True)
    ok(r.returncode == 1 and "nope" in r.stderr, "an unknown --sync: error")
    path = os.path.join(tmp, "two.sync")
    with open(path, "w") as f:
        f.write(CONNECTIONS + """\
SYNC scheduled FROM k INTO mc.t
  TOPIC 't' TIMEZONE 'Asia/Shanghai'
  WINDOW FROM '$[yyyymmdd-1]000000' TO '$[yyyymmdd]000000'
  PARTITION (ds = '$[yyyymmdd-1]')
  SCHEDULE DAILY AT '00:15';
SYNC by_hand FROM k INTO mc.t2
  TOPIC 't' TIMEZONE 'Asia/Shanghai'
  WINDOW FROM '$[yyyymmdd-1]000000' TO '$[yyyymmdd]000000'
  PARTITION (ds = '$[yyyymmdd-1]');
""")
    r = subprocess.run([km, "schedule", "export", path, "--to", "argo"],
                       capture_output=True, text=True)
    ok(r.returncode == 0 and "name: kmsync-scheduled" in r.stdout and
       "by_hand" in r.stderr and "by_hand" not in r.stdout,
       "without --sync: the scheduled SYNCs, with a note on the others",
       r.stderr[-300:])
    r = subprocess.run([km, "schedule", "export", path, "--to", "cron",
                        "--sync", "by_hand"], capture_output=True, text=True)
    ok(r.returncode == 1 and "no SCHEDULE" in r.stderr and r.stdout == "",
       "a SYNC without SCHEDULE is refused")
    check_two_scheduled(km, tmp)
    ny = os.path.join(tmp, "ny.sync")
    with open(ny, "w") as f:
        f.write(CONNECTIONS + """\
SYNC ny FROM k INTO mc.t
  TOPIC 't' TIMEZONE 'America/New_York'
  WINDOW FROM '$[yyyymmdd-1]000000' TO '$[yyyymmdd]000000'
  PARTITION (ds = '$[yyyymmdd-1]')
  SCHEDULE DAILY AT '02:30';
""")
    for engine in ENGINES:
        r = subprocess.run([km, "schedule", "export", ny, "--to", engine],
                           capture_output=True, text=True)
        ok(r.returncode == 0 and "daylight saving time" in r.stderr,
           f"ny/{engine}: a zone with DST draws a note", r.stderr[-300:])
    r = subprocess.run([km, "schedule", "export", "hourly.sync", "--to",
                        "cron"], capture_output=True, text=True, cwd=tmp)
    lines = [x for x in r.stdout.splitlines() if x.startswith("15 ")]
    ok(len(lines) == 1 and f" cd '{tmp}' && " in lines[0] and
       f" run '{seed}' " in lines[0], "a relative FILE is exported as an "
       "absolute path, its directory the working directory", r.stdout[-300:])

def check_two_scheduled(km, tmp):
    """A file with two scheduled SYNCs: one definition holding both."""
    import yaml
    path = os.path.join(tmp, "pair.sync")
    with open(path, "w") as f:
        f.write(CONNECTIONS + "".join(f"""\
SYNC {name} FROM k INTO mc.{name}
  TOPIC 't' TIMEZONE 'Asia/Shanghai'
  WINDOW FROM '$[yyyymmddhh24-1/24]0000' TO '$[yyyymmddhh24]0000'
  PARTITION (ds = '$[yyyymmddhh24]')
  SCHEDULE {sched}
  RETRY 1 TIMES EVERY 1 MINUTES;
""" for name, sched in (("first", "HOURLY AT MINUTE 5"),
                        ("second", "EVERY 2 HOURS FROM '00:30' TO '23:59'"))))
    out = {}
    for engine in ENGINES:
        r = subprocess.run([km, "schedule", "export", path, "--to", engine],
                           capture_output=True, text=True)
        ok(r.returncode == 0, f"pair/{engine}: two SYNCs export",
           r.stderr[-300:])
        out[engine] = r.stdout
    crons = [ln.split(None, 5)[:5] for ln in out["cron"].splitlines()
             if ln[:1].isdigit() or ln[:1] == "*"]
    ok([" ".join(c) for c in crons] == ["5 * * * *", "30 */2 * * *"],
       "pair/cron: a block per SYNC", str(crons))
    ok(sorted(split_units(out["systemd"])) ==
       ["kmsync-first.service", "kmsync-first.timer",
        "kmsync-second.service", "kmsync-second.timer"],
       "pair/systemd: a unit pair per SYNC")
    tree = ast.parse(out["airflow"])
    ids = [const(kw(n)["dag_id"]) for n in ast.walk(tree)
           if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DAG"]
    ok(ids == ["kmsync_first", "kmsync_second"], "pair/airflow: a DAG per "
       "SYNC in one file", str(ids))
    ds = json.loads(out["dolphinscheduler"])
    ok([d["taskDefinitionList"][0]["name"] for d in ds] ==
       ["first", "second"], "pair/dolphinscheduler: a definition per SYNC")
    docs = [d for d in yaml.safe_load_all(out["argo"]) if d]
    ok([d["metadata"]["name"] for d in docs] ==
       ["kmsync-first", "kmsync-second"], "pair/argo: a CronWorkflow per "
       "SYNC")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_exports.py PATH/TO/kmsync")
    km = os.path.abspath(sys.argv[1])
    missing = missing_tools()
    if missing:
        for m in missing:
            print(f"SKIP: missing {m}")
        print("SKIP: schedule export checks need python3-croniter, "
              "python3-yaml, systemd, util-linux and coreutils "
              "(apt-get install -y python3-croniter python3-yaml systemd); "
              "0 passed, 0 failed, not run")
        sys.exit(77)
    src = os.environ.get("KMSYNC_SOURCE_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="kmsync-export-"))
    try:
        stub = Stub(tmp, km)
        for case in make_cases(src, tmp):
            check_case(km, case, stub, tmp)
        check_command_line(km, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
