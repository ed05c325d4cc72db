"""Soak: a long run at a steady rate, watching the harness's own memory (RSS of the
`loadtest run` process, its Locust process and the target) at the start, middle and end, and
checking the results are complete.

    python bench/soak.py [--duration 30m] [--rate 200]
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
sys.path.insert(0, str(ROOT))


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().split(")")[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def main() -> int:
    from loadtest.durations import parse_duration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", default="30m")
    ap.add_argument("--rate", default="200")
    args = ap.parse_args()
    seconds = parse_duration(args.duration)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-m", "loadtest", "run", "--shape", "soak",
                                 "--rate", args.rate, "--duration", args.duration,
                                 "--warmup", "10s", "--metrics-source", "embedded",
                                 "--out", tmp], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        marks = {"start": 15.0, "middle": 10 + seconds / 2, "end": 10 + seconds - 5}
        t0 = time.monotonic()
        readings = []
        for name, at in marks.items():
            time.sleep(max(0.0, at - (time.monotonic() - t0)))
            kids = children(proc.pid)
            readings.append((name, rss_mb(proc.pid), [rss_mb(k) for k in kids]))
        proc.wait(timeout=seconds + 300)
        r = json.loads((Path(tmp) / "latest" / "results.json").read_text())
    print(f"soak {args.duration} at {args.rate} req/s: exit {proc.returncode}, "
          f"{r['client']['totals']['requests']:,} requests judged, verdict "
          f"{r['verdict']['status']}")
    for name, own, kids in readings:
        print(f"  {name:<7} harness RSS {own or 0:7.1f} MB; children (target, Locust, ...) "
              + ", ".join(f"{k or 0:.0f}" for k in kids) + " MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
