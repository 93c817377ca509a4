#!/usr/bin/env python3
"""gen_fixture.py - benchmark data: N JSON records of about 200 bytes (or
1 KB with --big), with a key and one header, spread round-robin over P
partitions, timestamps over 3 hours from 2022-11-22 00:00 UTC and slightly
out of order.

    python3 bench/gen_fixture.py N P OUT.jsonl [--big]
"""
import json
import random
import sys

START_MS = 1669075200000  # 2022-11-22 00:00:00 UTC
SPAN_MS = 3 * 3600 * 1000


def main():
    n, parts, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    big = "--big" in sys.argv[4:]
    rnd = random.Random(7)
    pad = "p" * (880 if big else 60)
    with open(out, "w") as f:
        for i in range(n):
            ts = START_MS + i * SPAN_MS // n + rnd.randint(-2000, 2000)
            value = {"a": {"a1": "hello-%d" % i}, "b": "world", "c": ["x", "y%d" % (i % 100)],
                     "d": [{"AA": "this", "BB": "is_data"}], "ts": ts,
                     "amount": round(rnd.uniform(0, 1000), 2), "pad": pad}
            f.write(json.dumps({"topic": "bench", "partition": i % parts,
                                "timestamp": max(START_MS, ts), "key": "k%d" % i,
                                "value": value, "headers": [["src", "bench"]]},
                               separators=(",", ":")))
            f.write("\n")


if __name__ == "__main__":
    main()
