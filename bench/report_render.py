"""Report cost of a long, heavy run: 1 hour at 1000 req/s (3.6 million synthesised samples).
Prints the time and peak memory to compute the client statistics from the samples (streamed
in chunks, two passes), and to render index.html / junit.xml / summary.md from results.json,
and the sizes written. `--check` also computes them the old way (the whole frame in pandas)
and says whether p50/p95/p99 are equal.

    python bench/report_render.py [--seconds 3600] [--rate 1000] [--check]
    python bench/report_render.py --seconds 86400   # a 24 h soak (86.4 M samples, ~7 GB CSV)
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    """Peak RSS of this process image (VmHWM: unlike ru_maxrss, not inherited over fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, run_dir: Path, args: argparse.Namespace) -> int:
    from loadtest.metrics.base import Window
    from loadtest.reports import render_all
    from loadtest.store.client_samples import ClientSamples
    from loadtest.store.client_samples import client_stats as streamed_stats
    from loadtest.store.results import load_results, write_results
    from loadtest.store.samples import MAX_COMPACT_SAMPLES, load_samples
    from tests.support import whole_frame_stats  # the statistics before streaming

    t = time.monotonic()
    t0 = 1_800_000_000.0
    window = Window(t0 + 60, t0 + args.seconds)
    if name == "whole":  # the old way, for --check: p50/p95/p99 of the whole frame
        totals = whole_frame_stats(load_samples(run_dir / "locust"), window, t0)["totals"]
        print(f"{time.monotonic() - t:.2f} s, peak RSS {rss_mb():.0f} MB; "
              f"{totals['latency_ms']} {totals['corrected_latency_ms']}")
        return 0
    if name == "stats":
        cs = ClientSamples(run_dir / "locust", window, t0)
        client = streamed_stats(cs, MAX_COMPACT_SAMPLES)
        compact = cs.compact(MAX_COMPACT_SAMPLES)
        results = {"run": {"id": "bench", "rate": args.rate, "window": {
            "start": window.start, "end": window.end, "seconds": window.seconds,
            "start_iso": "", "end_iso": ""}, "load_started": t0, "warmup_s": 60},
            "load": {"requested_rate": args.rate, "achieved_rate":
                     client["totals"]["achieved_rate"], "problems": []},
            "objectives": [], "client": client, "samples": {"client": compact},
            "regressions": [], "verdict": {"status": "pass", "exit_code": 0,
                                           "reason": "bench"}}
        write_results(run_dir, results)
    else:
        render_all(load_results(run_dir), run_dir)
    if name == "stats":
        totals = client["totals"]
        print(f"{time.monotonic() - t:.2f} s, peak RSS {rss_mb():.0f} MB; "
              f"{totals['latency_ms']} {totals['corrected_latency_ms']}")
    else:
        print(f"{time.monotonic() - t:.2f} s, peak RSS {rss_mb():.0f} MB")
    return 0


def main() -> int:
    import numpy as np
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--check", action="store_true", help="also the whole-frame figures")
    ap.add_argument("--phase", nargs=2, metavar=("PHASE", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        return phase(args.phase[0], Path(args.phase[1]), args)
    n = args.seconds * args.rate
    rng = np.random.default_rng(1)
    names = ["/api/v1/documents", "/api/v1/documents/{id}", "/api/v1/documents/search",
             "/api/v1/documents/{id}/execution-records", "/health"]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        (run_dir / "locust").mkdir()
        t0 = 1_800_000_000.0
        t = time.monotonic()
        hour = 3600
        for first in range(0, args.seconds, hour):  # written an hour at a time
            span = min(hour, args.seconds - first)
            k = span * args.rate
            start = t0 + first + np.sort(rng.uniform(0, span, k))
            df = pd.DataFrame({
                "start": start, "intended": start - rng.exponential(0.001, k),
                "method": "GET", "name": rng.choice(names, k),
                "response_ms": rng.lognormal(3, 0.6, k).round(3),
                "status": np.where(rng.random(k) < 0.002, 500, 200),
                "failed": 0, "error": "", "bytes": 512})
            df.loc[df["status"] == 500, ["failed", "error"]] = [1, "HTTPError: 500 <b>boom</b>"]
            df.to_csv(run_dir / "locust" / "samples-1.csv", index=False, mode="a",
                      header=first == 0)
            del df
        write_s = time.monotonic() - t

        def phase_run(name: str) -> str:
            return subprocess.run([sys.executable, __file__, "--phase", name, str(run_dir),
                                   "--seconds", str(args.seconds), "--rate", str(args.rate)],
                                  capture_output=True, text=True, check=True).stdout

        stats = phase_run("stats")
        whole = phase_run("whole") if args.check else ""
        render = phase_run("render")
        sizes = {f: (run_dir / f).stat().st_size / 1e6 for f in
                 ("results.json", "index.html", "junit.xml", "summary.md")}
    print(f"{n:,} samples ({args.seconds} s at {args.rate} req/s); CSV written in "
          f"{write_s:.1f} s (not counted)")
    print(f"client statistics from the samples, streamed (own process): {stats.strip()}")
    if whole:
        print(f"the same from the whole frame, as before (own process): {whole.strip()}")
        same = stats.split(";", 1)[1].strip() == whole.split(";", 1)[1].strip()
        print(f"p50/p95/p99 (measured and corrected) equal: {same}")
    print(f"render from results.json (own process, as `loadtest report`): {render.strip()}")
    print("sizes: " + ", ".join(f"{k} {v:.2f} MB" for k, v in sizes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
