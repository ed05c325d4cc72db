"""A canary judged against its stable version over the same window (`loadtest judge
--selector ... --baseline-selector ...`), with the regression check's statistics on
per-interval server figures: each interval's latency histogram (a block bootstrap of the
histogram quantile's ratio, as the DB latency check of runs) and each interval's error and
request counts (Newcombe's interval of the difference of proportions), the power stated.
Throughput is not compared: a rollout sets the canary's share of the traffic."""

from __future__ import annotations

import math
from typing import Any

from loadtest.metrics.base import Matcher, MetricsSource, SourceError, Window, render_selector
from loadtest.regression import stats
from loadtest.regression.compare import (
    MIN_BLOCKS,
    NO_DATA,
    Comparison,
    _Checker,
    underpowered_note,
)
from loadtest.slo import (
    DbLatencyObjective,
    ErrorRateObjective,
    LatencyObjective,
    SloFile,
)
from loadtest.store.records import (
    ComparisonSummary,
    ErrorCounts,
    IntervalHistograms,
    RegressionRecord,
    ResultsRecord,
    RunMeta,
    SamplesRecord,
    SourceInfo,
    WindowRecord,
)


def block_seconds(window: Window, scrape_interval_s: float) -> float:
    """Intervals of at least two scrapes, and about 20 of them in the window."""
    return max(2 * scrape_interval_s, window.seconds / (2 * MIN_BLOCKS), 1.0)


class _Side:
    """One side's per-interval figures from the source, as a results-like dict the regression
    checker reads (`samples.server_histograms`, `samples.counts`)."""

    def __init__(self, name: str, slo: SloFile, source: MetricsSource, window: Window,
                 selector: dict[str, str], block_s: float) -> None:
        self.slo, self.source, self.window, self.block_s = slo, source, window, block_s
        self.selector = {**slo.selector, **selector}
        self.queries: list[str] = []
        self.histograms: dict[str, IntervalHistograms] = {}
        self.counted: dict[str, ErrorCounts] = {}
        self.results = ResultsRecord(
            run=RunMeta(id=name, window=WindowRecord(start=window.start, end=window.end,
                                                     seconds=window.seconds),
                        metrics_source=SourceInfo(scrape_interval_s=block_s)),
            samples=SamplesRecord(server_histograms=self.histograms, counts=self.counted),
            objectives=[])

    def matchers(self, obj: Any, http: bool) -> tuple[Matcher, ...]:
        ms = [Matcher(k, "=", v) for k, v in sorted(self.selector.items())]
        names = self.slo.metrics
        if http and getattr(obj, "endpoint", None):
            ms.append(Matcher(names.endpoint_label, "=", obj.endpoint))
        if http and getattr(obj, "method", None):
            ms.append(Matcher(names.method_label, "=", obj.method.upper()))
        return tuple(ms)

    def series(self, expr: str, by: str | None) -> dict[str, dict[float, float]]:
        """expr's increase per interval through the window: {label value: {t: value}}."""
        b, d = round(self.block_s * 1000), self.window.range_ms
        grouping = f" by ({by})" if by else ""
        q = f"(sum{grouping} (increase({expr}[{b}ms])))[{d}ms:{b}ms]"
        self.queries.append(q)
        rows = self.source.query(q, self.window.end)  # type: ignore[attr-defined]
        out: dict[str, dict[float, float]] = {}
        for r in rows:
            key = (r.get("metric") or {}).get(by, "") if by else ""
            out[key] = {float(t): (0.0 if math.isnan(float(v)) else float(v))
                        for t, v in r.get("values", [])
                        if self.window.start < float(t) <= self.window.end + 1e-3}
        return out

    def histogram(self, obj: LatencyObjective | DbLatencyObjective) -> None:
        http = isinstance(obj, LatencyObjective)
        hist = self.slo.metrics.http_duration if http else self.slo.metrics.db_duration
        by_le = self.series(f"{hist}_bucket{render_selector(self.matchers(obj, http))}", "le")
        if not by_le:
            return
        les = sorted(by_le, key=lambda x: math.inf if x in ("+Inf", "Inf") else float(x))
        times = sorted({t for s in by_le.values() for t in s})
        self.histograms[obj.name] = IntervalHistograms(
            le=les, counts=[[by_le[le].get(t, 0.0) for le in les] for t in times])

    def counts(self, obj: ErrorRateObjective) -> None:
        names = self.slo.metrics
        ms = self.matchers(obj, True)
        total = self.series(f"{names.http_requests}{render_selector(ms)}", None)
        bad = self.series(f"{names.http_requests}"
                          f"{render_selector(ms + (Matcher(names.status_label, '=~', obj.statuses),))}",
                          None)
        n = sum(total.get("", {}).values())
        k = sum(bad.get("", {}).values())
        self.counted[obj.name] = ErrorCounts(errors=k, total=n,
                                             intervals=len(total.get("", {})))


class _CanaryChecker(_Checker):
    """The regression checks of runs, on the two sides' per-interval server figures."""

    def latency(self, obj: LatencyObjective, tol: float) -> RegressionRecord:
        return self.db_latency(obj, tol)  # the same histogram check

    def error_rate(self, obj: ErrorRateObjective, tol: float) -> RegressionRecord:
        b = self.base.get("samples", SamplesRecord()).get("counts", {}).get(obj.name)
        r = self.run.get("samples", SamplesRecord()).get("counts", {}).get(obj.name)
        if not b or not r or not b["total"] or not r["total"]:
            side = "baseline" if not b or not b["total"] else "canary"
            return self._result(obj, tolerance=tol, reason=f"the {side} selector matched no "
                                "requests in the window")
        short = self._enough(obj, int(b["total"]), int(r["total"]), tol)
        if short:
            return short
        est = stats.proportion_difference(b["errors"], b["total"], r["errors"], r["total"],
                                          self.settings.confidence)
        return self._judge(obj, est, tol, worse_up=True, relative=False,
                           base_value=b["errors"] / b["total"],
                           run_value=r["errors"] / r["total"], what="server error rate")


def compare_canary(slo: SloFile, source: MetricsSource, window: Window,
                   canary: dict[str, str], baseline: dict[str, str],
                   scrape_interval_s: float) -> Comparison:
    """Every latency and error-rate objective of `slo`, the canary's selector against the
    baseline's, over the same window."""
    block_s = block_seconds(window, scrape_interval_s)
    sides = [_Side(name, slo, source, window, sel, block_s)
             for name, sel in (("baseline", baseline), ("canary", canary))]
    out = Comparison()
    for obj in slo.objectives:
        try:
            for side in sides:
                if isinstance(obj, (LatencyObjective, DbLatencyObjective)):
                    side.histogram(obj)
                elif isinstance(obj, ErrorRateObjective):
                    side.counts(obj)
        except SourceError as e:
            out.warnings.append(f"{obj.name}: not compared ({e})")
    base, run = sides[0].results, sides[1].results
    checker = _CanaryChecker(base, run, slo)
    for obj in slo.objectives:
        if isinstance(obj, (LatencyObjective, DbLatencyObjective, ErrorRateObjective)):
            result = checker.check(obj)
            if result is None:
                continue
            if (isinstance(obj, (LatencyObjective, DbLatencyObjective)) and result["status"]
                    == NO_DATA and "no per-interval histograms" in result["reason"]):
                result["reason"] = result["reason"].replace(
                    "the run has", "the canary has").replace("per-interval histograms",
                                                             "latency observations")
            out.checks.append(result)
            if result.get("underpowered"):
                out.warnings.append(underpowered_note(result))
    s = slo.regression
    out.summary = ComparisonSummary(
        baseline=render_selector(tuple(Matcher(k, "=", v) for k, v in baseline.items())),
        canary=render_selector(tuple(Matcher(k, "=", v) for k, v in canary.items())),
        noise=s.noise, noise_sources=["assumed"], confidence=s.confidence,
        resamples=s.resamples, interval_s=block_s,
        intervals=max((len(h["counts"]) for h in sides[1].histograms.values()),
                      default=None),
        method=(f"server figures per {block_s:g} s interval of the same window: block "
                   f"bootstrap of the histogram quantile's ratio ({s.resamples} resamples), "
                   "Newcombe interval of the error rates' difference; relative intervals "
                   f"widened by an assumed {s.noise:.0%} noise; throughput not compared (the "
                "rollout sets the canary's share)"),
        queries=sides[1].queries[:6],
    )
    return out
