"""The report's per-interval server figures, from the harness's own scrapes."""

from __future__ import annotations

import math

from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.exposition import Snapshot
from loadtest.metrics.server_series import server_timeseries
from loadtest.slo import load_slo
from tests.support import ROOT


def test_the_window_edges_scrapes_make_no_dip_or_spike() -> None:
    """A steady 20 req/s, scraped every second and at the window's edges (92 ms and 83 ms
    from a periodic scrape, as a run scrapes them): every point reads 20 req/s, where the
    83 ms interval read 12 (one request's rounding)."""
    start = 1_000.0
    key = ("http_requests_total", (("job", "opscore-backend"), ("status", "200")))
    times = sorted([start - 0.908 + k for k in range(7)] + [start + 1.0, start + 4.009])
    served = [Snapshot(t, {key: float(math.floor((t - start + 5.003) * 20))}) for t in times]
    points = server_timeseries(EmbeddedSource(None, snapshots=served),
                               load_slo(ROOT / "slo" / "opscore.yaml"), start, start + 6)
    rates = [p["rate"] for p in points]
    assert len(points) == 6 and all(r is not None and 19 <= r <= 21 for r in rates), rates
