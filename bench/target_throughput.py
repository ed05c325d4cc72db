"""Sustained throughput of the reference target (SQLite, default read/write mix) on this
machine: `loadtest run` offered far more than the target can serve, with few users (a closed
loop), so the achieved rate is the target's capacity on the cores it shares with Locust.

    python bench/target_throughput.py [--duration 20s] [--users 32] [--database URL]

Prints a table; not a test (no assertion on speed).
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
    ap.add_argument("--duration", default="20s")
    ap.add_argument("--warmup", default="5s")
    ap.add_argument("--users", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--offer", type=float, default=5000.0, help="offered req/s (unreachable)")
    ap.add_argument("--database", default=None)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for users in args.users:
            out = Path(tmp) / f"u{users}"
            cmd = [sys.executable, "-m", "loadtest", "run", "--rate", str(args.offer),
                   "--users", str(users), "--duration", args.duration, "--warmup",
                   args.warmup, "--metrics-source", "embedded", "--out", str(out)]
            if args.database:
                cmd += ["--database", args.database]
            t0 = time.monotonic()
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
            wall = time.monotonic() - t0
            try:
                r = json.loads((out / "latest" / "results.json").read_text())
            except FileNotFoundError:
                print(p.stderr, file=sys.stderr)
                return 1
            objs = {o["name"]: o for o in r["objectives"]}
            t = r["client"]["totals"]
            rows.append((users, r["load"]["achieved_rate"], objs["throughput"]["value"],
                         t["latency_ms"]["p50"], t["latency_ms"]["p95"], t["failures"], wall))
    print(f"reference target, {args.database or 'SQLite'}, default OpsCore mix, "
          f"{args.duration} window, Locust on the same 2-core machine")
    print(f"{'users':>6} {'client req/s':>13} {'server req/s':>13} {'p50 ms':>8} "
          f"{'p95 ms':>8} {'failures':>9} {'wall s':>7}")
    for users, client, server, p50, p95, fails, wall in rows:
        print(f"{users:>6} {client:>13.1f} {server or 0:>13.1f} {p50:>8.1f} {p95:>8.1f} "
              f"{fails:>9} {wall:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
