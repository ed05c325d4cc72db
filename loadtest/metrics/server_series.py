"""Per-interval server figures over the whole run, from the harness's own scrapes of the target
(for the report's charts): request rate, 5xx share, latency p95, DB query p95, active users."""

from __future__ import annotations

import itertools
import math
import statistics
from typing import Any

from loadtest.metrics.base import Matcher, Window
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.histogram import histogram_quantile
from loadtest.slo import SloFile
from loadtest.store.records import ServerPoint

MAX_POINTS = 600


def server_timeseries(scrapes: Any, slo: SloFile, run_start: float,
                      end: float) -> list[ServerPoint]:
    snaps = whole_intervals([s for s in scrapes.snapshots()
                             if s.ok and run_start - 1 <= s.t <= end + 1])
    if len(snaps) < 2:
        return []
    stride = max(1, math.ceil((len(snaps) - 1) / MAX_POINTS))
    snaps = snaps[::stride] + ([snaps[-1]] if (len(snaps) - 1) % stride else [])
    sel = tuple(Matcher(k, "=", v) for k, v in sorted(slo.selector.items()))
    m = slo.metrics
    errors = sel + (Matcher(m.status_label, "=~", "5.."),)
    out: list[ServerPoint] = []
    for a, b in itertools.pairwise(snaps):
        pair = EmbeddedSource(None, snapshots=[a, b], interval_s=b.t - a.t)
        w = Window(a.t, b.t)
        dt = b.t - a.t
        total = pair.increase(m.http_requests, sel, w).value
        bad = pair.increase(m.http_requests, errors, w).value
        http, _ = pair.buckets(m.http_duration, sel, w)
        db, _ = pair.buckets(m.db_duration, sel, w)
        users = next((v for (n, _), v in b.values.items() if n == "users_active_total"), None)
        out.append(ServerPoint(
            offset_s=round(b.t - run_start, 3),
            rate=(total or 0.0) / dt if dt > 0 else None,
            error_ratio=(bad or 0.0) / total if total else None,
            p95_ms=_ms(histogram_quantile(0.95, http) if http else None),
            db_p95_ms=_ms(histogram_quantile(0.95, db) if db else None),
            users=users,
        ))
    return out


def whole_intervals(snaps: list[Any]) -> list[Any]:
    """The scrapes without those under half the usual interval after the one before: the
    window's edges are scraped besides the periodic scrapes, often a few ms from one, and a
    rate over 80 ms is one request's rounding (a dip to 12 of 20 req/s on the chart)."""
    if len(snaps) < 3:
        return snaps
    shortest = 0.5 * statistics.median(b.t - a.t for a, b in itertools.pairwise(snaps))
    kept = [snaps[0]]
    for s in snaps[1:]:
        if s.t - kept[-1].t >= shortest:
            kept.append(s)
    return kept


def _ms(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else round(v * 1000, 3)
