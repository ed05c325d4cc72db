"""The capacity of the unmodified reference target (SQLite, default OpsCore mix) on this
machine, found by `loadtest capacity` (Locust shares the same cores). Prints the capacity, the
steps taken and the wall time.

    python bench/capacity.py [--step-duration 10s] [--max-rate 3200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start-rate", default="100")
    ap.add_argument("--max-rate", default="3200")
    ap.add_argument("--step-duration", default="10s")
    ap.add_argument("--step-warmup", default="3s")
    ap.add_argument("--precision", default="0.1")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "loadtest", "capacity", "--start-rate",
                            args.start_rate, "--max-rate", args.max_rate, "--step-duration",
                            args.step_duration, "--step-warmup", args.step_warmup,
                            "--precision", args.precision, "--out", tmp],
                           cwd=ROOT, capture_output=True, text=True, timeout=3600)
        wall = time.monotonic() - t0
        try:
            r = json.loads((Path(tmp) / "latest" / "results.json").read_text())
        except FileNotFoundError:
            print(p.stderr, file=sys.stderr)
            return 1
    cap = r["capacity"]
    print(f"reference target (SQLite), default mix, {args.step_duration} steps: capacity "
          f"{cap['rate']} req/s, first failing {cap['first_fail']} "
          f"({cap['first_broken']}); {len(r['steps'])} steps, {wall:.0f} s wall; exit "
          f"{p.returncode}")
    print(f"{'offered':>8} {'sent':>8} {'completed':>10} {'p95 ms':>8} {'p99 ms':>8}  status")
    for s in r["steps"]:
        lat = s["latency_ms"]
        print(f"{s['offered_rate']:>8g} {s['achieved_rate']:>8.1f} {s['completed_rate']:>10.1f} "
              f"{lat['p95'] or 0:>8.1f} {lat['p99'] or 0:>8.1f}  {s['status']} "
              f"{', '.join(s['failed'])}")
    print(f"stop: {cap['stop_reason'] or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
