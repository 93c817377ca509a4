#!/usr/bin/env python3
"""make_quickstart_fixture.py - writes examples/quickstart.jsonl, the
fixture of the quickstart: 4000 order events over two days (2022-11-21 and
2022-11-22, Asia/Shanghai) in 3 Kafka partitions, keyed by order id.

Realistic on purpose: timestamps jitter around their slot so some records
are out of order within a partition, a few arrive 10 minutes late, and a few
are dirty (a value that is not JSON; a user id that is not a number).
Deterministic: the same file every time (fixed seed)."""
import json
import random
import sys

START_MS = 1668960000000  # 2022-11-21 00:00:00 +08:00
SPAN_MS = 2 * 86400 * 1000
N = 4000
CITIES = ["Hangzhou", "Shanghai", "Beijing", "Shenzhen", "Chengdu", "Xi'an"]
SKUS = ["A-1", "A-2", "B-7", "C-3", "D-9"]
STATUSES = ["created", "paid", "shipped", "refunded"]


def value_for(i, rnd):
    items = [{"sku": rnd.choice(SKUS), "qty": rnd.randint(1, 4),
              "price": round(rnd.uniform(1, 200), 2)}
             for _ in range(rnd.randint(1, 3))]
    amount = round(sum(it["qty"] * it["price"] for it in items), 2)
    return {"order_id": "o-%06d" % i,
            "user": {"id": rnd.randint(1, 5000), "city": rnd.choice(CITIES)},
            "items": items, "amount": amount,
            "status": rnd.choice(STATUSES), "note": None if i % 7 else "gift"}


def main(path):
    rnd = random.Random(20221122)
    out = []
    for i in range(N):
        slot = START_MS + i * SPAN_MS // N
        ts = slot + rnd.randint(-90000, 90000)
        if i % 97 == 0:
            ts -= 10 * 60 * 1000  # arrives late
        ts = max(START_MS, min(START_MS + SPAN_MS - 1, ts))
        rec = {"partition": i % 3, "timestamp": ts, "key": "o-%06d" % i,
               "value": value_for(i, rnd),
               "headers": [["source", "app" if i % 5 else "web"],
                           ["trace", "t%08x" % rnd.getrandbits(32)]]}
        if i % 1000 == 500:
            rec["value"] = "not json {order %d" % i
        elif i % 1000 == 777:
            rec["value"]["user"]["id"] = "user-%d" % i
        out.append(rec)
    with open(path, "w") as f:
        for rec in out:
            f.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/quickstart.jsonl")
