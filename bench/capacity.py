"""The capacity of the reference target (SQLite, default OpsCore mix) on this machine, found
by `loadtest capacity` (Locust shares the same cores). Prints the capacity, the bottleneck, the
steps taken (users, in flight, latency, how long each ran) and the wall time. Its defaults are
those of `loadtest capacity`.

    python bench/capacity.py [--step-duration 20s] [--max-rate 1600]
    python bench/capacity.py --target-fault max_concurrency=4 --target-fault latency=20ms \
        --target-fault endpoints=/api/* --step-abort-after off     # steps never end early
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
    ap.add_argument("--start-rate", default="50")
    ap.add_argument("--max-rate", default="1600")
    ap.add_argument("--step-duration", default="20s")
    ap.add_argument("--step-warmup", default="5s")
    ap.add_argument("--precision", default="0.1")
    ap.add_argument("--step-abort-after", default="5s")
    ap.add_argument("--target-fault", action="append", default=[])
    args = ap.parse_args()
    faults = [x for f in args.target_fault for x in ("--target-fault", f)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "loadtest", "capacity", "--start-rate",
                            args.start_rate, "--max-rate", args.max_rate, "--step-duration",
                            args.step_duration, "--step-warmup", args.step_warmup,
                            "--precision", args.precision, "--step-abort-after",
                            args.step_abort_after, *faults, "--out", tmp],
                           cwd=ROOT, capture_output=True, text=True, timeout=3600)
        wall = time.monotonic() - t0
        try:
            r = json.loads((Path(tmp) / "latest" / "results.json").read_text())
        except FileNotFoundError:
            print(p.stderr, file=sys.stderr)
            return 1
    cap = r["capacity"]
    print(f"reference target (SQLite{', ' + ', '.join(args.target_fault) if faults else ''}"
          f"), default mix, {args.step_duration} steps, --step-abort-after "
          f"{args.step_abort_after}: capacity "
          f"{cap['rate']} req/s, first failing {cap['first_fail']} "
          f"({cap['first_broken']}); {len(r['steps'])} steps, {wall:.0f} s wall; exit "
          f"{p.returncode}")
    print(f"bottleneck: {(cap.get('bottleneck') or {}).get('text', '-')}")
    print(f"{'offered':>8} {'sent':>8} {'completed':>10} {'users':>6} {'flight':>7} "
          f"{'p95 ms':>8} {'srv p95':>8} {'judged':>6}  status")
    for s in r["steps"]:
        lat = s["latency_ms"]
        srv = s.get("server_p95_s")
        print(f"{s['offered_rate']:>8g} {s['achieved_rate']:>8.1f} {s['completed_rate']:>10.1f} "
              f"{s.get('users', 0):>6} {s.get('in_flight') or 0:>7.1f} {lat['p95'] or 0:>8.1f} "
              f"{(srv or 0) * 1000:>8.1f} {s['window']['end'] - s['window']['start']:>6.1f}  "
              f"{s['status']} {'; '.join(s['failed'])}")
    print(f"stop: {cap['stop_reason'] or '-'}; verdict: {r['verdict']['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
