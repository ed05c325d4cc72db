"""Reports of a capacity search: the latency-vs-throughput curve, the steps, the verdict."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Literal, TypedDict

import jinja2
from markupsafe import Markup

from loadtest.reports.charts import Chart, Series, render_svg
from loadtest.reports.view import STATUS_LABEL
from loadtest.store.records import (
    Bottleneck,
    CapacityRecord,
    CapacityStep,
    Percentiles,
    Projection,
    ResourceRecord,
    ResultsRecord,
    RunMeta,
    VerdictRecord,
)


class StepRow(TypedDict):
    step: int
    offered: str
    achieved: str
    status: str
    p95: str
    p99: str
    server_p95: str
    failed: str
    objectives: list[tuple[str, str, float | None, str | None]]


class CapacityView(TypedDict):
    """What capacity.html.j2 (and the markdown) show of a capacity search."""
    verdict: VerdictRecord | None
    verdict_label: str
    run: RunMeta
    capacity: CapacityRecord | None
    chart: str
    steps: list[StepRow]
    resource_charts: list[str]
    bottleneck: Bottleneck | None
    projection: Projection | None


def capacity_view(results: ResultsRecord) -> CapacityView:
    cap = results.get("capacity")
    all_steps = results.get("steps") or []

    def served(s: CapacityStep) -> float:
        return float(s.get("completed_rate", s["achieved_rate"]))

    steps = sorted(all_steps, key=served)
    xs = [served(s) for s in steps]

    def lat(q: Literal["p50", "p95", "p99"]) -> list[tuple[float, float | None]]:
        return [(x, (s.get("latency_ms") or Percentiles()).get(q)) for x, s in zip(xs, steps)]

    thresholds = []
    for s in all_steps[:1]:
        for o in s.get("objectives", []):
            if o["kind"] in ("latency",) and o.get("threshold"):
                thresholds.append((o["threshold"] * 1000, f"{o['name']} ≤ "
                                                          f"{o['threshold'] * 1000:g} ms"))
    vlines = []
    if cap and (rate := cap.get("rate")):
        bound = ">= " if cap.get("lower_bound") else ""
        vlines.append((rate, f"capacity {bound}{rate:g} req/s"))
    if cap and (require := cap.get("require")):
        vlines.append((require, f"required {require:g}"))
    chart = render_svg(Chart(
        title="Latency vs achieved throughput (client p50/p95/p99, server p95)",
        y_label="ms", x_label="completed req/s (throughput)", x_from_zero=True,
        series=[Series("p50", lat("p50")), Series("p95", lat("p95")), Series("p99", lat("p99")),
                Series("server p95", [(x, None if (p95 := s.get("server_p95_s")) is None
                                       else p95 * 1000) for x, s in zip(xs, steps)],
                       dashed=True)],
        hlines=thresholds, vlines=vlines))
    rows: list[StepRow] = []
    for s in all_steps:
        latency = s.get("latency_ms") or Percentiles()
        a = s.get("aborted")
        rows.append(StepRow(
            step=s["step"], offered=f"{s['offered_rate']:g}",
            achieved=f"{s['achieved_rate']:.1f}", status=s["status"],
            p95=_ms(latency.get("p95")), p99=_ms(latency.get("p99")),
            server_p95=_ms(None if (p95 := s.get("server_p95_s")) is None else p95 * 1000),
            failed=", ".join(s.get("failed", []))
            + (f"; ended early at +{a['offset_s'] or 0:.0f} s ({a['objective']} breached for "
               f"{a['breached_for_s']:.0f} s)" if a else ""),
            objectives=[(o["name"], o["status"], o.get("value"), o.get("unit"))
                        for o in s.get("objectives", [])]))
    verdict = results.get("verdict")
    return CapacityView(
        verdict=verdict,
        verdict_label=STATUS_LABEL.get(verdict.get("status", "") if verdict else "", "?"),
        run=results.get("run", RunMeta()), capacity=cap, chart=chart, steps=rows,
        resource_charts=resource_charts(steps, xs, vlines),
        bottleneck=cap.get("bottleneck") if cap else None,
        projection=cap.get("projection") if cap else None)


def resource_charts(steps: list[CapacityStep], xs: list[float],
                    vlines: list[tuple[float, str]]) -> list[str]:
    """One chart per resource against the completed rate: the share of its limit where the
    limit is known (mean and peak), else its value."""
    names: list[str] = []
    for s in steps:
        for r in s.get("resources", []):
            if r.get("name", "") not in names:
                names.append(r.get("name", ""))
    charts = []
    for name in names:
        got = [(x, next((r for r in s.get("resources", []) if r.get("name") == name), None))
               for x, s in zip(xs, steps)]
        limited = any(r and r.get("limit") for _, r in got)
        unit = next((r.get("unit", "") for _, r in got if r), "")
        if limited:
            def pct(r: ResourceRecord | None, key: Literal["value", "peak"]) -> float | None:
                limit = r.get("limit") if r else None
                figure = r.get(key) if r else None
                return 100 * figure / limit if limit and figure is not None else None
            series = [Series("mean", [(x, pct(r, "value")) for x, r in got]),
                      Series("peak", [(x, pct(r, "peak")) for x, r in got], dashed=True)]
            y_label, hlines = "% of limit", [(80.0, "80%"), (100.0, "limit")]
        else:
            scale = 2 ** 20 if unit == "bytes" else 1
            series = [Series("mean", [(x, _scaled(r.get("value") if r else None, scale))
                                      for x, r in got]),
                      Series("peak", [(x, _scaled(r.get("peak") if r else None, scale))
                                      for x, r in got], dashed=True)]
            y_label, hlines = ("MiB" if unit == "bytes" else unit or "value"), []
        metric = next((r.get("metric", name) for _, r in got if r), name)
        charts.append(render_svg(Chart(
            title=f"Resource: {name} ({metric}) vs completed rate", y_label=y_label,
            x_label="completed req/s (throughput)", x_from_zero=True, series=series,
            hlines=hlines, vlines=vlines, height=220)))
    return charts


def _scaled(v: float | None, scale: float) -> float | None:
    return None if v is None else v / scale


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{float(v):.1f}"


def render_capacity_html(results: ResultsRecord) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("loadtest.reports", "templates"),
                             autoescape=True, undefined=jinja2.ChainableUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    view = capacity_view(results)
    view["chart"] = Markup(view["chart"])  # built by charts.py, which escapes its text
    view["resource_charts"] = [Markup(c) for c in view["resource_charts"]]
    return env.get_template("capacity.html.j2").render(**view)


def render_capacity_junit(results: ResultsRecord) -> str:
    cap: CapacityRecord | dict[str, object] = results.get("capacity") or {}
    verdict: VerdictRecord | dict[str, str] = results.get("verdict") or {}
    suite = ET.Element("testsuite", name="loadtest.capacity", tests="1")
    case = ET.SubElement(suite, "testcase", classname="loadtest.capacity", name="capacity")
    failures = errors = 0
    if verdict.get("status") == "fail":
        failures = 1
        ET.SubElement(case, "failure", message=verdict.get("reason", ""), type="Capacity")
    elif verdict.get("status") != "pass":
        errors = 1
        ET.SubElement(case, "error", message=verdict.get("reason", ""), type="Inconclusive")
    out = ET.SubElement(case, "system-out")
    out.text = f"capacity {cap.get('rate')} req/s, required {cap.get('require')}"
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") \
        + "\n"


def render_capacity_markdown(results: ResultsRecord) -> str:
    v = capacity_view(results)
    verdict = v["verdict"]
    code = verdict.get("exit_code") if verdict else None
    lines = [f"## loadtest capacity: {v['verdict_label']} (exit {code})", "",
             str(verdict.get("reason", "") if verdict else "").replace("|", "\\|"), ""]
    for key, found in (("bottleneck", v["bottleneck"]), ("projection", v["projection"])):
        if found:
            lines += [f"**{key}**: {found['text']}", ""]
    lines += [
             "| step | offered req/s | achieved | status | client p95 ms | failed |",
             "| ---: | ---: | ---: | --- | ---: | --- |"]
    for s in v["steps"]:
        lines.append(f"| {s['step']} | {s['offered']} | {s['achieved']} | {s['status']} | "
                     f"{s['p95']} | {s['failed']} |")
    return "\n".join(lines) + "\n"
