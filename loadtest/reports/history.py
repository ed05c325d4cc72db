"""`loadtest history --html`: the series of each key figure with its change points marked;
and the history chart of a run's report. Plain data (history.analyse) -> view -> jinja2."""

from __future__ import annotations

from typing import TypedDict

import jinja2
from markupsafe import Markup

from loadtest.regression.history import describe, fmt
from loadtest.reports.charts import Chart, Series, render_svg
from loadtest.store.records import HistoryAnalysis, MetricSeries, SeriesKey

# how a figure's unit is drawn: unit -> (factor, axis label)
SCALE = {"s": (1000.0, "ms"), "ratio": (100.0, "%"), "ms": (1.0, "ms"), "req/s": (1.0, "req/s")}


class ChangeView(TypedDict):
    worse: bool
    text: str


class MetricView(TypedDict):
    name: str
    runs: int
    latest: str
    changes: list[ChangeView]
    chart: str | None                     # an SVG (Markup once rendered)


class SeriesView(SeriesKey):
    too_few: bool
    metrics: list[MetricView]


class HistoryPage(TypedDict):
    """What history.html.j2 shows."""
    significance: float
    min_size: int
    runs: int
    series: list[SeriesView]


def series_chart(metric: MetricSeries, title: str | None = None) -> str:
    """One figure over the runs (oldest first), a dotted line at each change point."""
    factor, label = SCALE.get(metric.get("unit") or "", (1.0, metric.get("unit") or ""))
    points: list[tuple[float, float | None]] = [
        (float(i), p["value"] * factor) for i, p in enumerate(metric["points"])]
    marks = [(float(c["index"]) - 0.5,
              ("change" if c.get("change_pct") is None else f"{c['change_pct']:+.1f}%")
              + f" at run {c['index'] + 1}") for c in metric.get("change_points", [])]
    return render_svg(Chart(
        title=title or f"{metric['name']} over {len(points)} runs", y_label=label,
        x_label="run (oldest first)", series=[Series(metric["name"], points)], vlines=marks))


def history_view(analysis: HistoryAnalysis) -> HistoryPage:
    series: list[SeriesView] = []
    for s in analysis["series"]:
        metrics: list[MetricView] = []
        for m in s["metrics"]:
            metrics.append(MetricView(
                name=m["name"], runs=len(m["points"]),
                latest=fmt(m["points"][-1]["value"] if m["points"] else None, m["unit"]),
                changes=[ChangeView(worse=c["worse"], text=describe(c, m["unit"]))
                         for c in m["change_points"]],
                chart=series_chart(m) if len(m["points"]) >= 2 else None))
        series.append(SeriesView(
            scenario=s["scenario"], rate=s["rate"], shape=s["shape"], tags=s["tags"],
            runs=s["runs"], first=s["first"], last=s["last"], min_p_value=s["min_p_value"],
            too_few=s["min_p_value"] > analysis["significance"], metrics=metrics))
    return HistoryPage(significance=analysis["significance"], min_size=analysis["min_size"],
                       runs=analysis["runs"], series=series)


def render_history_html(analysis: HistoryAnalysis) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("loadtest.reports", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    view = history_view(analysis)
    for s in view["series"]:
        for m in s["metrics"]:
            # chart SVGs are built by charts.py, which escapes every text it places
            m["chart"] = Markup(m["chart"]) if m["chart"] else None
    return env.get_template("history.html.j2").render(**view)
