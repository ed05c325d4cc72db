"""What one comparison of two long runs costs: two 1-hour runs at 1000 req/s (3.6 M samples
each, thinned to the 200,000 that results.json keeps, as today), compared by the harness's
`compare_runs` with the SLO file's checks; wall time and peak RSS of this process.

    python bench/compare_cost.py [--hours 1] [--rate 1000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def made_up_run(hours: float, rate: float, seed: int) -> dict:
    import numpy as np

    from loadtest.store.samples import MAX_COMPACT_SAMPLES

    rng = np.random.default_rng(seed)
    seconds = hours * 3600
    n = min(int(seconds * rate), MAX_COMPACT_SAMPLES)  # thinned evenly, as results.json
    t = np.sort(rng.uniform(0, seconds, n))
    ms = rng.lognormal(np.log(150), 0.6, n)
    return {"run": {"id": f"r{seed}", "scenario": "s", "rate": rate, "shape": "constant",
                    "window": {"seconds": seconds}},
            "objectives": [{"name": "throughput", "samples": seconds * rate}],
            "load": {"delivered": True}, "verdict": {"status": "pass"},
            "samples": {"client": {"names": ["GET /api/v1/documents"], "t": t.tolist(),
                                   "ms": ms.tolist(), "ep": [0] * n,
                                   "status": [200] * n}}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    args = ap.parse_args()
    from loadtest.regression.compare import compare_runs
    from loadtest.slo import load_slo

    slo = load_slo(ROOT / "slo" / "opscore.yaml")
    base, run = made_up_run(args.hours, args.rate, 1), made_up_run(args.hours, args.rate, 2)
    started = time.perf_counter()
    comparison = compare_runs(base, run, slo)
    wall = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    checks = {c["objective"]: c["status"] for c in comparison.checks}
    print(f"comparison of two {args.hours:g} h runs at {args.rate:g} req/s "
          f"({len(base['samples']['client']['t']):,} kept samples each): {wall:.2f} s, "
          f"peak RSS {rss:.0f} MB; checks {checks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
