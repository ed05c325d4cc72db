"""Reports of a capacity search: the latency-vs-throughput curve, the steps, the verdict."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import jinja2
from markupsafe import Markup

from loadtest.reports.charts import Chart, Series, render_svg
from loadtest.reports.view import STATUS_LABEL


def capacity_view(results: dict[str, Any]) -> dict[str, Any]:
    cap = results.get("capacity", {})
    def served(s: dict[str, Any]) -> float:
        return float(s.get("completed_rate", s["achieved_rate"]))

    steps = sorted(results.get("steps", []), key=served)
    xs = [served(s) for s in steps]

    def lat(key: str, q: str) -> list[tuple[float, float | None]]:
        return [(x, (s.get(key) or {}).get(q)) for x, s in zip(xs, steps)]

    thresholds = []
    for s in results.get("steps", [])[:1]:
        for o in s.get("objectives", []):
            if o["kind"] in ("latency",) and o.get("threshold"):
                thresholds.append((o["threshold"] * 1000, f"{o['name']} ≤ "
                                                          f"{o['threshold'] * 1000:g} ms"))
    vlines = []
    if cap.get("rate"):
        bound = ">= " if cap.get("lower_bound") else ""
        vlines.append((cap["rate"], f"capacity {bound}{cap['rate']:g} req/s"))
    if cap.get("require"):
        vlines.append((cap["require"], f"required {cap['require']:g}"))
    chart = render_svg(Chart(
        title="Latency vs achieved throughput (client p50/p95/p99, server p95)",
        y_label="ms", x_label="completed req/s (throughput)", x_from_zero=True,
        series=[Series("p50", lat("latency_ms", "p50")),
                Series("p95", lat("latency_ms", "p95")),
                Series("p99", lat("latency_ms", "p99")),
                Series("server p95", [(x, s["server_p95_s"] * 1000
                                       if s.get("server_p95_s") is not None else None)
                                      for x, s in zip(xs, steps)], dashed=True)],
        hlines=thresholds, vlines=vlines))
    rows = []
    for s in results.get("steps", []):
        rows.append({"step": s["step"], "offered": f"{s['offered_rate']:g}",
                     "achieved": f"{s['achieved_rate']:.1f}", "status": s["status"],
                     "p95": _ms((s.get("latency_ms") or {}).get("p95")),
                     "p99": _ms((s.get("latency_ms") or {}).get("p99")),
                     "server_p95": _ms(s["server_p95_s"] * 1000
                                       if s.get("server_p95_s") is not None else None),
                     "failed": ", ".join(s.get("failed", []))
                     + (f"; ended early at +{s['aborted']['offset_s']:.0f} s "
                        f"({s['aborted']['objective']} breached for "
                        f"{s['aborted']['breached_for_s']:.0f} s)" if s.get("aborted")
                        else ""),
                     "objectives": [(o["name"], o["status"], o.get("value"), o.get("unit"))
                                    for o in s.get("objectives", [])]})
    verdict = results.get("verdict", {})
    return {"verdict": verdict, "verdict_label": STATUS_LABEL.get(verdict.get("status", ""),
                                                                   "?"),
            "run": results.get("run", {}), "capacity": cap, "chart": chart, "steps": rows,
            "resource_charts": resource_charts(steps, xs, vlines),
            "bottleneck": cap.get("bottleneck"), "projection": cap.get("projection")}


def resource_charts(steps: list[dict[str, Any]], xs: list[float],
                    vlines: list[tuple[float, str]]) -> list[str]:
    """One chart per resource against the completed rate: the share of its limit where the
    limit is known (mean and peak), else its value."""
    names: list[str] = []
    for s in steps:
        for r in s.get("resources", []):
            if r["name"] not in names:
                names.append(r["name"])
    charts = []
    for name in names:
        got = [(x, next((r for r in s.get("resources", []) if r["name"] == name), None))
               for x, s in zip(xs, steps)]
        limited = any(r and r.get("limit") for _, r in got)
        unit = next((r["unit"] for _, r in got if r), "")
        if limited:
            def pct(r: dict[str, Any] | None, key: str) -> float | None:
                return (100 * r[key] / r["limit"] if r and r.get("limit") and
                        r.get(key) is not None else None)
            series = [Series("mean", [(x, pct(r, "value")) for x, r in got]),
                      Series("peak", [(x, pct(r, "peak")) for x, r in got], dashed=True)]
            y_label, hlines = "% of limit", [(80.0, "80%"), (100.0, "limit")]
        else:
            scale = 2 ** 20 if unit == "bytes" else 1
            series = [Series("mean", [(x, r["value"] / scale if r else None) for x, r in got]),
                      Series("peak", [(x, r["peak"] / scale if r else None) for x, r in got],
                             dashed=True)]
            y_label, hlines = ("MiB" if unit == "bytes" else unit or "value"), []
        metric = next((r["metric"] for _, r in got if r), name)
        charts.append(render_svg(Chart(
            title=f"Resource: {name} ({metric}) vs completed rate", y_label=y_label,
            x_label="completed req/s (throughput)", x_from_zero=True, series=series,
            hlines=hlines, vlines=vlines, height=220)))
    return charts


def _ms(v: Any) -> str:
    return "—" if v is None else f"{float(v):.1f}"


def render_capacity_html(results: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("loadtest.reports", "templates"),
                             autoescape=True, undefined=jinja2.ChainableUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    view = capacity_view(results)
    view["chart"] = Markup(view["chart"])  # built by charts.py, which escapes its text
    view["resource_charts"] = [Markup(c) for c in view["resource_charts"]]
    return env.get_template("capacity.html.j2").render(**view)


def render_capacity_junit(results: dict[str, Any]) -> str:
    cap = results.get("capacity", {})
    verdict = results.get("verdict", {})
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


def render_capacity_markdown(results: dict[str, Any]) -> str:
    v = capacity_view(results)
    lines = [f"## loadtest capacity: {v['verdict_label']} (exit {v['verdict'].get('exit_code')})",
             "", str(v["verdict"].get("reason", "")).replace("|", "\\|"), ""]
    for key in ("bottleneck", "projection"):
        if v[key]:
            lines += [f"**{key}**: {v[key]['text']}", ""]
    lines += [
             "| step | offered req/s | achieved | status | client p95 ms | failed |",
             "| ---: | ---: | ---: | --- | ---: | --- |"]
    for s in v["steps"]:
        lines.append(f"| {s['step']} | {s['offered']} | {s['achieved']} | {s['status']} | "
                     f"{s['p95']} | {s['failed']} |")
    return "\n".join(lines) + "\n"
