"""How far a p95 interpolated from histogram buckets is from the exact p95 of what the server
observed, for known latency distributions: the reference target's buckets, prometheus_client's
default buckets, and Go client_golang's defaults. Pure computation, no server.

    python bench/interpolation_error.py
"""

from __future__ import annotations

import bisect
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest.metrics.histogram import histogram_quantile
from loadtest.target.metrics import GO_DEFAULT_BUCKETS, KPI_DB_BUCKETS, KPI_HTTP_BUCKETS

PY_DEFAULT = (.005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 7.5, 10.0)
N = 200_000


def distributions(rng: random.Random) -> dict[str, list[float]]:
    return {
        "lognormal median 40 ms, sigma 0.6": [rng.lognormvariate(-3.22, 0.6) for _ in range(N)],
        "lognormal median 1 s, sigma 0.4": [rng.lognormvariate(0.0, 0.4) for _ in range(N)],
        "normal 1.6 s, sd 0.15 s (p95 ~1.85 s)": [max(0.0, rng.gauss(1.6, 0.15))
                                                  for _ in range(N)],
        "exponential mean 300 ms": [rng.expovariate(1 / 0.3) for _ in range(N)],
        "DB: lognormal median 2 ms, sigma 0.8": [rng.lognormvariate(-6.21, 0.8)
                                                for _ in range(N)],
    }


def buckets_of(values: list[float], bounds: tuple[float, ...]) -> dict[str, float]:
    ordered = sorted(values)
    out = {repr(float(b)): float(bisect.bisect_right(ordered, b)) for b in bounds}
    out["+Inf"] = float(len(values))
    return out


def main() -> int:
    rng = random.Random(7)
    sets = {"reference target kpi HTTP": KPI_HTTP_BUCKETS, "reference target kpi DB":
            KPI_DB_BUCKETS, "prometheus_client default": PY_DEFAULT,
            "client_golang default": GO_DEFAULT_BUCKETS}
    print(f"p95 from buckets vs the exact p95 of {N:,} observations")
    print(f"{'distribution':<40}{'buckets':<28}{'exact':>10}{'interpolated':>14}{'error':>9}")
    for name, values in distributions(rng).items():
        exact = sorted(values)[int(0.95 * N) - 1]
        for label, bounds in sets.items():
            est = histogram_quantile(0.95, buckets_of(values, bounds))
            assert est is not None
            print(f"{name:<40}{label:<28}{exact * 1000:>8.1f}ms{est * 1000:>12.1f}ms"
                  f"{(est - exact) / exact:>+9.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
