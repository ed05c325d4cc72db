"""What `abort_after` on every objective costs the load generator: the same healthy run with
and without it, alternated, generator CPU per request over the judged window (from
results.json `load.generator_cpu`). Both runs evaluate every objective live (the status line
and the report's marks); `abort_after` only sets the sliding windows and arms the abort.

    python bench/abort_cost.py [--pairs 2] [--rate 200] [--duration 15s]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OBJECTIVES = """\
version: 1
selector: {job: opscore-backend}
objectives:
  - {name: p95, kind: latency, quantile: 0.95, threshold: 2s%(a)s}
  - {name: rate, kind: throughput, min: %(rate)s, tolerance: 0.05%(a)s}
  - {name: errors, kind: error_rate, max: 0.01%(a)s}
  - {name: db, kind: db_latency, quantile: 0.95, threshold: 100ms%(a)s}
  - {name: budget, kind: burn_rate, target: 0.999, long_window: 10s, short_window: 2s,
     factor: 14.4%(a)s}
  - {name: client_p95, kind: client, metric: latency, quantile: 0.95, threshold: 1s%(a)s}
"""


def one(tmp: Path, name: str, rate: float, duration: str, abort: bool) -> dict[str, float]:
    slo = tmp / f"{name}.yaml"
    slo.write_text(OBJECTIVES % {"a": ", abort_after: 5s" if abort else "", "rate": rate})
    out = tmp / name
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--slo", str(slo),
                        "--rate", str(rate), "--duration", duration, "--warmup", "3s",
                        "--metrics-source", "embedded", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600, check=False)
    r = json.loads((out / "latest" / "results.json").read_text())
    procs = r["load"]["generator_cpu"]["processes"]
    seconds = r["run"]["window"]["seconds"]
    requests = r["client"]["totals"]["requests"]
    cpu_s = sum(pr["mean_pct"] for pr in procs) / 100 * seconds
    return {"exit": p.returncode, "aborted": "aborted" in r["load"],
            "ms_per_request": 1000 * cpu_s / requests, "requests": requests,
            "tick_ms": (r.get("live") or {}).get("cpu_ms_per_tick")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--duration", default="15s")
    args = ap.parse_args()
    figures: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for i in range(args.pairs):
            for abort in ((False, True) if i % 2 == 0 else (True, False)):
                f = one(tmp, f"{i}-{abort}", args.rate, args.duration, abort)
                print(f"pair {i} abort_after={'on ' if abort else 'off'}: exit {f['exit']}, "
                      f"aborted {f['aborted']}, {f['requests']} requests, "
                      f"{f['ms_per_request']:.3f} ms CPU per request; the harness's live "
                      f"monitor {f['tick_ms']} ms CPU per tick")
                figures[abort].append(f["ms_per_request"])
    off, on = statistics.median(figures[False]), statistics.median(figures[True])
    print(f"generator CPU per request, median of {args.pairs}: without {off:.3f} ms, with "
          f"{on:.3f} ms ({(on / off - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
