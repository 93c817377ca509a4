"""kafka_window.py - an independent oracle for the tests: which records of a
fixture a window selects, computed straight from Kafka's definition (start =
first offset whose timestamp >= window start; end = first offset whose
timestamp >= window end, else the end of the partition)."""
import json


def load_fixture(path, default_topic):
    parts = {}
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            continue
        rec = json.loads(line)
        topic = rec.get("topic", default_topic)
        p = rec.get("partition", 0)
        lst = parts.setdefault((topic, p), [])
        rec["offset"] = len(lst)
        lst.append(rec)
    return parts


def window_offsets(records, start_ms, end_ms):
    n = len(records)
    start = next((r["offset"] for r in records if r["timestamp"] >= start_ms), n)
    end = next((r["offset"] for r in records if r["timestamp"] >= end_ms), n)
    return start, max(start, end)


def selected(parts, topic, start_ms, end_ms):
    """[(partition, offset, record)] in the window, all partitions."""
    out = []
    for (t, p), recs in sorted(parts.items()):
        if t != topic:
            continue
        s, e = window_offsets(recs, start_ms, end_ms)
        out.extend((p, r["offset"], r) for r in recs[s:e])
    return out
