"""How often `--settle` decides wrongly, how soon it settles, and how often it runs to the end.

Ground truth: a seeded lognormal latency whose true p95 is known (median M, sigma S: p95 =
M x exp(1.645 S)). A client latency objective (p95, as measured) is set at 0.5x, 0.9x, 1.0x,
1.1x and 2x that p95. A decision is wrong when it passes a threshold under the true p95 or fails
one over it (at 1.0x either answer is right; the table shows the split).

Two campaigns:
- `--simulate N` (default 2000 per threshold, seconds): the sequential test itself
  (loadtest/judge/sequential.py) on synthetic one-second blocks of `--rate` requests each, with a
  per-block random factor on the median (`--block-sd`, the correlation within a second that real
  blocks have);
- `--runs N` (default 0): real runs, `loadtest run --settle` against the reference target with
  the fault `latency=lognormal:M,S`, one shared target, N runs per threshold.

    python bench/sequential_campaign.py                      # simulation only
    python bench/sequential_campaign.py --runs 20 --rate 50  # and real runs (~5 x N x 25 s)

Not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.judge.sequential import CONFIDENCE, Settling

FACTORS = (0.5, 0.9, 1.0, 1.1, 2.0)
Z95 = 1.6448536269514722


def true_p95(median_s: float, sigma: float) -> float:
    return median_s * math.exp(Z95 * sigma)


def wrong(factor: float, status: str) -> bool:
    """A pass under the true p95 or a fail over it, settled early or judged at the end."""
    status = status.removeprefix("end-")
    return (factor < 1 and status == "pass") or (factor > 1 and status == "fail")


def simulate(factor: float, args: argparse.Namespace, rng: np.random.Generator
             ) -> tuple[str, int]:
    """One sequential test on synthetic blocks: (decision or "end", blocks used)."""
    # the blocks' own factor widens the whole run's distribution: the truth includes it
    threshold = factor * true_p95(args.median, math.hypot(args.sigma, args.block_sd))
    track = Settling("p95", "client", "client", 0.95, True)
    blocks = int(args.max_duration)
    for b in range(1, blocks + 1):
        shift = rng.normal(0.0, args.block_sd)
        lat = np.exp(np.log(args.median) + shift + args.sigma * rng.standard_normal(args.rate))
        share = float((lat <= threshold).mean())
        track.low.add(share, args.rate)
        track.high.add(share, args.rate)
        track.decide(float(b), 1 - CONFIDENCE)
        if track.status is not None:
            return track.status, b
    # not settled: judged at --duration on every request of the window (the fixed rule)
    return ("end-pass" if track.low.hits / track.low.requests >= 0.95 else "end-fail"), blocks


def real_run(factor: float, args: argparse.Namespace, target: str, out: Path
             ) -> tuple[str, float, bool]:
    """(verdict pass/fail/other, judged window seconds, settled early)."""
    threshold = factor * true_p95(args.median, args.sigma)
    slo = out / f"slo-{factor}.yaml"
    slo.write_text("version: 1\nobjectives:\n"
                   f"  - {{name: p95, kind: client, metric: latency, quantile: 0.95, "
                   f"threshold: {threshold * 1000:.3f}ms, corrected: false, "
                   "min_samples: 50}\n", encoding="utf-8")
    run_out = out / f"runs-{factor}"
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--settle", "--target", target,
                        "--slo", str(slo), "--rate", str(args.rate), "--warmup", "2s",
                        "--duration", f"{args.max_duration:g}s", "--metrics-source", "embedded",
                        "--probe", "none", "--users", str(max(20, args.rate)), "--out",
                        str(run_out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       check=False)
    r = json.loads((run_out / "latest" / "results.json").read_text())
    status = {0: "pass", 1: "fail"}.get(p.returncode, f"exit {p.returncode}")
    settle = r.get("settle") or {}
    return status, float(r["run"]["window"]["seconds"]), settle.get("settled_at_s") is not None


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                     for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--simulate", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--rate", type=int, default=50)
    ap.add_argument("--median", type=float, default=0.05, help="seconds")
    ap.add_argument("--sigma", type=float, default=0.5)
    ap.add_argument("--block-sd", type=float, default=0.1)
    ap.add_argument("--max-duration", type=float, default=60.0, help="seconds")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    p95 = true_p95(args.median, args.sigma)
    print(f"true p95 {p95 * 1000:.1f} ms (lognormal median {args.median * 1000:g} ms, sigma "
          f"{args.sigma:g}); {args.rate} requests a second; at most {args.max_duration:g} s; "
          f"confidence {CONFIDENCE:.0%}")
    if args.simulate:
        rng = np.random.default_rng(args.seed)
        rows = [("threshold", "settled pass", "settled fail", "ran to the end",
                 "wrong (settled or at the end)", "median s to settle")]
        for f in FACTORS:
            outcomes = [simulate(f, args, rng) for _ in range(args.simulate)]
            settled = [b for s, b in outcomes if not s.startswith("end")]
            sim_p95 = true_p95(args.median, math.hypot(args.sigma, args.block_sd))
            rows.append((f"{f:g}x ({f * sim_p95 * 1000:.0f} ms)",
                         f"{sum(s == 'pass' for s, _ in outcomes) / len(outcomes):.1%}",
                         f"{sum(s == 'fail' for s, _ in outcomes) / len(outcomes):.1%}",
                         f"{sum(s.startswith('end') for s, _ in outcomes) / len(outcomes):.1%}",
                         f"{sum(wrong(f, s) for s, _ in outcomes) / len(outcomes):.2%}",
                         f"{np.median(settled):.0f}" if settled else "-"))
        print(f"\nsimulated: {args.simulate} sequential tests per threshold, block sd "
              f"{args.block_sd:g} (true p95 of the run "
              f"{true_p95(args.median, math.hypot(args.sigma, args.block_sd)) * 1000:.1f} ms)")
        print(table(rows))
    if args.runs:
        from tests.support import start_target

        with tempfile.TemporaryDirectory() as d:
            out = Path(d)
            t = start_target(out / "target")
            try:
                t.set_faults([{"latency": f"lognormal:{args.median * 1000:g}ms,{args.sigma:g}",
                               "endpoints": ["/api/*"]}])
                rows = [("threshold", "pass", "fail", "other", "wrong", "settled early",
                         "median window s")]
                for f in FACTORS:
                    runs = []
                    for _ in range(args.runs):
                        started = time.monotonic()
                        runs.append(real_run(f, args, t.url, out))
                        print(f"  {f:g}x: {runs[-1]} ({time.monotonic() - started:.0f} s)",
                              file=sys.stderr)
                    rows.append((f"{f:g}x ({f * p95 * 1000:.0f} ms)",
                                 str(sum(s == "pass" for s, _, _ in runs)),
                                 str(sum(s == "fail" for s, _, _ in runs)),
                                 str(sum(s not in ("pass", "fail") for s, _, _ in runs)),
                                 f"{sum(wrong(f, s) for s, _, _ in runs)} of {len(runs)}",
                                 f"{sum(e for _, _, e in runs)} of {len(runs)}",
                                 f"{np.median([w for _, w, _ in runs]):.0f}"))
            finally:
                t.child.stop()
        print(f"\nreal runs: loadtest run --settle, {args.runs} per threshold, --rate "
              f"{args.rate}, window at most {args.max_duration:g} s")
        print(table(rows))


if __name__ == "__main__":
    main()
