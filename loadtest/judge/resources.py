"""The target's resources over a load window, and the capacity planner's two questions on
them: what ran out first (the bottleneck), and how many instances a rate needs (a projection).

A resource is a gauge (its mean and peak over the window) or a counter (its rate, e.g. CPU
seconds per second = cores), read from the harness's own scrapes of the target when they hold
the metric, else from Prometheus (exporters: node-exporter, postgres-exporter). Its limit is a
number (the SLO file's `resources:` entry, or CPU cores the harness knows), or another gauge
read the same way (the connection pool's size). Without a limit a resource is drawn but cannot
be named the bottleneck.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from loadtest.metrics.base import Matcher, MetricsSource, SourceError, Window, render_selector
from loadtest.slo import ResourceSpec, SloFile
from loadtest.store.records import Bottleneck, CapacityStep, Projection, ResourceRecord

DEFAULT_RESOURCES = (
    ResourceSpec(name="cpu", metric="process_cpu_seconds_total", kind="counter", unit="cores"),
    ResourceSpec(name="memory", metric="process_resident_memory_bytes", unit="bytes"),
    ResourceSpec(name="db_connections", metric="db_connections_active", unit="connections",
                 limit_metric="db_connections_max"),
)
NEAR_LIMIT = 0.8           # a resource at or above this share of its limit may be the bottleneck
REFERENCE_CPU_CORES = 1.0  # the reference target is one Python process: its loop holds the GIL


def specs(slo: SloFile) -> tuple[ResourceSpec, ...]:
    return tuple(slo.resources) if slo.resources is not None else DEFAULT_RESOURCES


def _series(snapshot: Any, metric: str, selector: dict[str, str]) -> list[float]:
    return [v for (name, labels), v in snapshot.values.items()
            if name == metric and all(dict(labels).get(k) == w for k, w in selector.items())
            and not math.isnan(v)]


def _from_scrapes(scrapes: Any, metric: str, kind: str, selector: dict[str, str],
                  window: Window) -> tuple[float, float] | None:
    """(mean or rate, peak) from the harness's own scrapes inside the window."""
    if scrapes is None:
        return None
    snaps = [s for s in scrapes.snapshots() if s.ok and window.start - 0.5 <= s.t
             <= window.end + 0.5]
    points = [(s.t, sum(vs)) for s in snaps if (vs := _series(s, metric, selector))]
    if len(points) < 2:
        return None
    if kind == "counter":
        (t0, v0), (t1, v1) = points[0], points[-1]
        if v1 < v0 or t1 <= t0:  # a reset (restart): no honest rate
            return None
        rates = [(b - a) / (tb - ta) for (ta, a), (tb, b) in itertools.pairwise(points)
                 if tb > ta and b >= a]
        return (v1 - v0) / (t1 - t0), max(rates, default=(v1 - v0) / (t1 - t0))
    values = [v for _, v in points]
    return sum(values) / len(values), max(values)


def _from_prometheus(source: MetricsSource, metric: str, kind: str,
                     matchers: tuple[Matcher, ...], window: Window) -> tuple[float, float] | None:
    sel = f"{metric}{render_selector(matchers)}[{window.range_ms}ms]"
    try:
        if kind == "counter":
            rows = source.instant(f"sum(rate({sel}))", window.end)
            return (rows[0][1], rows[0][1]) if rows else None
        mean = source.instant(f"sum(avg_over_time({sel}))", window.end)
        peak = source.instant(f"sum(max_over_time({sel}))", window.end)
        return (mean[0][1], peak[0][1]) if mean and peak else None
    except SourceError:  # the embedded source runs no PromQL; an unreachable Prometheus
        return None


def measure(slo: SloFile, scrapes: Any, source: MetricsSource, window: Window,
            known_limits: dict[str, tuple[float, str]] | None = None) -> list[ResourceRecord]:
    """Each resource of the SLO file (or the defaults) that exists for the target, over the
    window. `known_limits`: name -> (limit, where it comes from) the harness knows (the
    reference target's CPU)."""
    out: list[ResourceRecord] = []
    for spec in specs(slo):
        selector = {**slo.selector, **spec.selector}
        matchers = tuple(Matcher(k, "=", v) for k, v in sorted(selector.items()))
        got = _from_scrapes(scrapes, spec.metric, spec.kind, spec.selector, window)
        where = "the harness's scrapes"
        if got is None and source is not scrapes:
            got = _from_prometheus(source, spec.metric, spec.kind, matchers, window)
            where = source.name
        if got is None:
            continue
        limit, limit_from = spec.limit, "the SLO file" if spec.limit else None
        if limit is None and spec.limit_metric:
            peak = _from_scrapes(scrapes, spec.limit_metric, "gauge", spec.selector, window)
            if peak is None and source is not scrapes:
                peak = _from_prometheus(source, spec.limit_metric, "gauge", matchers, window)
            if peak is not None and peak[1] > 0:
                limit, limit_from = peak[1], spec.limit_metric
        if limit is None and spec.name in (known_limits or {}):
            limit, limit_from = (known_limits or {})[spec.name]
        value, peak_value = got
        out.append(ResourceRecord(name=spec.name, metric=spec.metric, unit=spec.unit,
                                  value=value, peak=peak_value, limit=limit,
                                  limit_from=limit_from, source=where,
                                  utilization=value / limit if limit else None))
    return out


def _fmt(r: ResourceRecord, v: float | None) -> str:
    if v is None:
        return "?"
    if r.get("unit") == "bytes":
        return f"{v / 2**20:.0f} MiB"
    return f"{v:.2f}" if v < 10 else f"{v:.0f}"


def bottleneck(steps: list[CapacityStep], first_fail: float | None) -> Bottleneck | None:
    """The resource nearest its limit at the first failing step, or none of them when every
    measured resource stayed below NEAR_LIMIT (latency broke first)."""
    step = next((s for s in steps if s["offered_rate"] == first_fail), None)
    if step is None:
        return None
    limited = [(u, r) for r in step.get("resources", [])
               if (u := r.get("utilization")) is not None]
    where = f"at {first_fail:g} req/s"
    use, top = max(limited, key=lambda ur: ur[0], default=(None, None))
    if use is None or top is None or use < NEAR_LIMIT:
        shares = ", ".join(f"{r.get('name')} {math.floor(u * 100):.0f}%"
                           for u, r in limited) or \
            "no resource with a known limit was measured"
        return Bottleneck(name=None, rate=first_fail, utilization=None,
                          text=f"none of the measured resources: latency broke first {where} "
                               f"with every resource below {NEAR_LIMIT:.0%} ({shares})")
    unit = f" {top.get('unit')}" if top.get("unit") and top.get("unit") != "bytes" else ""
    return Bottleneck(name=top.get("name"), rate=first_fail, utilization=use,
                      text=f"{top.get('name')}: {_fmt(top, top.get('value'))} of "
                           f"{_fmt(top, top.get('limit'))}{unit} in use ({use:.0%}, limit from "
                           f"{top.get('limit_from')}) {where}")


def parse_headroom(text: str) -> float:
    """`30%` or `0.3` -> 0.3."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise ValueError(f"--headroom {text!r}: use a share such as 30% or 0.3") from None
    if not 0 <= value < 10:
        raise ValueError(f"--headroom {text!r}: use a share such as 30% or 0.3")
    return value


def projection(capacity: float | None, rate: float, headroom: float, lower_bound: bool,
               bottle: Bottleneck | None) -> Projection | None:
    """Instances of the target for `rate` at the measured per-instance capacity."""
    if not capacity:
        return None
    instances = math.ceil(rate * (1 + headroom) / capacity - 1e-9)
    db = ("the database is shared by every instance and was not measured as a separate "
          "limit" if not bottle or bottle.get("name") != "db_connections" else
          "each instance brings its own connection pool to the same shared database, whose "
          "own limit was not measured")
    return Projection(rate=rate, headroom=headroom, per_instance=capacity,
                      instances=instances, at_most=lower_bound,
                      text=f"{'at most ' if lower_bound else ''}{instances} instance(s) for "
                           f"{rate:g} req/s with {headroom:.0%} headroom, at "
                           f"{'>= ' if lower_bound else ''}{capacity:g} req/s per instance: a "
                           f"projection assuming linear scaling; {db}")
