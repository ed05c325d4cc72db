"""The cost of exporting the generator's figures (loadtest/export) at 1,000 req/s.

The export runs in the harness process, never in Locust: the generator's own CPU per request is
unchanged by construction. What it costs is the harness's CPU, measured here on the real code
path with synthetic input (no load, so nothing else competes for the two cores): a sample file
and a task file grow by 1,000 request rows (10 endpoints, 2% failed) and 500 task rows a second,
and once a "second" the exporter

  - tick: reads the new rows, updates counters and histograms, takes the snapshot of points;
  - push: encodes the WriteRequest of that snapshot and snappy-compresses it (what the
    remote-write thread does; the POST itself is not counted);
  - scrape: renders /metrics once (what the local Prometheus reads each second).

Printed: CPU ms per second of load (= per 1,000 requests) for each, their sum, and that sum as a
share of the generator's own CPU for the same 1,000 requests (0.505 CPU-s per 1,000 requests:
the harness's Locust process against nginx, NOTES-prometheus-locust.md, 2026-12-05).

    python bench/export_cost.py [--seconds 60] [--rate 1000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from loadtest.export.endpoint import exposition
from loadtest.export.exporter import Exporter
from loadtest.export.remote_write import compress, encode_write_request

GENERATOR_CPU_S_PER_1000 = 0.505
ENDPOINTS = [f"/api/v1/documents/{name}" for name in
             ("list", "search", "create", "read", "update", "delete", "executions",
              "attachments", "usage", "health")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--rate", type=int, default=1000)
    args = ap.parse_args()
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory() as d:
        locust = Path(d) / "locust"
        locust.mkdir()
        samples, tasks = locust / "samples-1.csv", locust / "tasks-1.csv"
        samples.write_text("start,intended,method,name,response_ms,status,failed,error,bytes\n")
        tasks.write_text("intended,start,end,requests,request_ms\n")
        e = Exporter("20261205T000000Z-bench", "opscore", locust, [2.0, 0.1])
        cost = {"tick": 0.0, "push": 0.0, "scrape": 0.0}
        t0 = 1.78e9
        series = 0
        for second in range(args.seconds):
            now = t0 + second
            with samples.open("a") as f:
                for i in range(args.rate):
                    start = now + i / args.rate
                    failed = rnd.random() < 0.02
                    f.write(f"{start:.6f},{start - 0.0004:.6f},GET,{rnd.choice(ENDPOINTS)},"
                            f"{rnd.lognormvariate(1.5, 0.8):.3f},{500 if failed else 200},"
                            f"{int(failed)},,512\n")
            with tasks.open("a") as f:
                for i in range(args.rate // 2):
                    start = now + 2 * i / args.rate
                    f.write(f"{start - 0.0004:.6f},{start:.6f},{start + 0.01:.6f},2,8.000\n")
            c = time.process_time()
            e.tick(None, now)
            cost["tick"] += time.process_time() - c
            c = time.process_time()
            points = e.figures.points(int(now * 1000))
            compress(encode_write_request(points))
            cost["push"] += time.process_time() - c
            series = len(points)
            c = time.process_time()
            exposition(e.figures)
            cost["scrape"] += time.process_time() - c
        e.close()
    per_s = {k: 1000 * v / args.seconds for k, v in cost.items()}
    total = sum(per_s.values())
    print(f"{args.rate} req/s for {args.seconds} s, {series} series a snapshot")
    for k, v in per_s.items():
        print(f"  {k:7s} {v:6.2f} CPU ms per second of load")
    share = total / 1000 / (GENERATOR_CPU_S_PER_1000 * args.rate / 1000)
    print(f"  total   {total:6.2f} CPU ms per {args.rate} requests = {share:.1%} of the "
          f"generator's own CPU for them ({GENERATOR_CPU_S_PER_1000} CPU-s per 1000)")


if __name__ == "__main__":
    main()
