"""results.json -> the plain dict the templates show: formatted values, rows, chart SVGs.
No I/O; the HTML, JUnit and Markdown writers all read from here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypedDict

from loadtest.reports.charts import ABORT, BREACH, Chart, Series, render_svg
from loadtest.reports.history import series_chart
from loadtest.store.records import (
    ClientSummary,
    ClientTotals,
    ComparisonSummary,
    ErrorStats,
    LiveFigure,
    LiveObjective,
    LoadRecord,
    ObjectiveRecord,
    Percentiles,
    RegressionRecord,
    ResultsRecord,
    RunMeta,
    SecondStats,
    ServerPoint,
    SettleRecord,
    SourceInfo,
    VerdictRecord,
    WorkersRecord,
)

STATUS_LABEL = {"pass": "PASS", "fail": "FAIL", "no_data": "NO DATA",
                "inconclusive": "INCONCLUSIVE", "interrupted": "INTERRUPTED",
                "running": "RUNNING / KILLED"}
COMPARISON = {"<=": "≤", "<": "<", ">=": "≥"}


class ObjectiveRow(TypedDict):
    name: str
    description: str
    status: str
    status_label: str
    value: str
    threshold: str
    source: str
    samples: str
    note: str
    exact: bool | None
    severity: str
    queries: list[str]
    live: str


class RegressionRow(TypedDict):
    objective: str
    status: str
    status_label: str
    base: str
    run: str
    change: str
    ci: str
    tolerance: str
    detectable: str
    underpowered: bool
    noise: str
    decided_by: str


class EndpointRow(TypedDict):
    method: str
    name: str
    count: str
    rate: str
    failures: str
    p50: str
    p95: str
    p99: str
    max: str
    cp95: str


class AbortedView(TypedDict):
    reason: str
    at_iso: str
    objective: str
    abort_after_s: float
    value: str
    threshold: str
    window_s: float | None
    detail: str


class VerificationView(TypedDict):
    id: str | None
    of_run: str | None
    run_dir: str | None
    slo_file: str | None
    slo_sha256: str
    slo_changed: bool | None
    source_text: str
    original_label: str
    original_reason: str
    original_exit_code: int | None


class ReportView(TypedDict):
    """What the templates (and markdown, pr_comment) show of a results.json."""
    verdict: VerdictRecord | None
    verdict_label: str
    run: RunMeta
    load: LoadRecord
    totals: ClientTotals
    source_text: str
    requested_rate: str
    achieved_rate: str
    load_rows: list[tuple[str, str]]
    settle: str | None
    generator: str
    objectives: list[ObjectiveRow]
    regressions: list[RegressionRow]
    comparison: ComparisonSummary
    endpoints: list[EndpointRow]
    errors: list[ErrorStats]
    problems: list[str]
    warnings: list[str]
    charts: list[str]
    latency: dict[str, str]
    corrected: dict[str, str]
    schema_version: int | None
    interrupted: bool
    verification: VerificationView | None
    aborted: AbortedView | None


def settle_text(record: SettleRecord) -> str:
    """--settle, in one line: when each objective was decided, on how many blocks, and the
    time saved."""
    parts = []
    for o in record.get("objectives", []):
        if o["status"] in ("pass", "fail"):
            parts.append(f"{o['name']} {o['status']} at {o['at_s']:.0f} s ({o['blocks']} "
                         "blocks)")
        else:
            parts.append(f"{o['name']} not settled")
    parts += [f"{n} judged at the end only" for n in record.get("at_end_only", [])]
    if record.get("settled_at_s") is None:
        head = (f"not settled within the {record.get('planned_window_s'):g} s window "
                f"({record['confidence']:.0%} confidence)")
    else:
        head = (f"settled after {record['settled_at_s']:.0f} s of the "
                f"{record.get('planned_window_s'):g} s window at {record['confidence']:.0%} "
                f"confidence ({record.get('saved_s') or 0:.0f} s saved)")
    return head + ": " + "; ".join(parts)


def fmt_value(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return "—"
    v = float(value)
    if unit == "s":
        return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.3f} s"
    if unit == "ratio":
        return f"{v:.3%}"
    if unit in ("req/s", "task starts/s", "tasks/s"):
        return f"{v:.2f} {unit}"
    if unit == "ms":
        return f"{v:.1f} ms"
    return f"{v:g}"


def fmt_threshold(o: ObjectiveRecord | LiveFigure) -> str:
    return f"{COMPARISON.get(o.get('comparison', ''), o.get('comparison', ''))} " \
           f"{fmt_value(o.get('threshold'), o.get('unit', ''))}".strip()


def fmt_count(v: float | None) -> str:
    return "—" if v is None else f"{float(v):,.0f}"


def objective_rows(results: ResultsRecord) -> list[ObjectiveRow]:
    rows: list[ObjectiveRow] = []
    for o in results.get("objectives", []):
        rows.append(ObjectiveRow(
            name=o["name"], description=o.get("description", ""),
            status=o["status"],
            status_label="WARN" if o["status"] == "fail" and o.get("severity") == "warn"
            else STATUS_LABEL.get(o["status"], o["status"]),
            value=fmt_value(o.get("value"), o.get("unit", "")),
            threshold=fmt_threshold(o), source=f"{o.get('source')} "
                                               f"({o.get('metrics_source')})",
            samples=fmt_count(o.get("samples")),
            note=o.get("reason") or o.get("detail") or "",
            exact=o.get("exact"), severity=o.get("severity", "fail"),
            queries=o.get("queries", []),
            live=live_note(results, o["name"]),
        ))
    return rows


def _live(results: ResultsRecord) -> dict[str, LiveObjective]:
    live = results.get("live")
    return {t["name"]: t for t in (live["objectives"] if live else [])}


def live_note(results: ResultsRecord, name: str) -> str:
    """When the objective first failed over its sliding window while the load ran."""
    t = _live(results).get(name)
    if not t:
        return ""
    window = f"its {t['window_s']:g} s sliding window"
    first = t.get("first_breach")
    if first is None:
        return f"live: never failed over {window}"
    return (f"live: first failed at +{first['offset_s']:.0f} s over {window} "
            f"({t.get('breached_evaluations', 0)} of {t.get('evaluations', 0)} evaluations "
            "failed)")


# which chart marks an objective's first breach (by kind; client objectives by metric)
CHART_OF = {"latency": "latency", "throughput": "throughput", "error_rate": "errors",
            "burn_rate": "errors", "db_latency": "db"}


def breach_marks(results: ResultsRecord) -> dict[str, list[tuple[float, str, str]]]:
    """Per chart: a line where each objective first failed live, and one where the run was
    aborted (on every chart)."""
    live = _live(results)
    out: dict[str, list[tuple[float, str, str]]] = {}
    for o in results.get("objectives", []):
        track = live.get(o["name"])
        first = track["first_breach"] if track else None
        if first is None:
            continue
        kind = o.get("kind", "")
        if kind == "client":
            kind = {"latency": "latency", "error_rate": "error_rate"}.get(
                str((o.get("queries") or [""])[0]).split(": ")[-1].split(" ")[0], "throughput")
        chart = CHART_OF.get(kind, "throughput")
        out.setdefault(chart, []).append(
            (float(first["offset_s"]), f"{o['name']} first FAIL +{first['offset_s']:.0f} s",
             BREACH))
    aborted = (results.get("load") or LoadRecord()).get("aborted")
    if aborted and (offset := aborted.get("offset_s")) is not None:
        label = f"aborted +{offset:.0f} s ({aborted.get('objective')})"
        mark = (float(offset), label, ABORT)
        for chart in ("throughput", "latency", "errors", "db"):
            out.setdefault(chart, []).append(mark)
    return out


def regression_rows(results: ResultsRecord) -> list[RegressionRow]:
    rows: list[RegressionRow] = []
    for c in results.get("regressions", []):
        rel = c.get("relative", True)

        def ch(x: float | None, rel: bool = rel) -> str:
            if x is None:
                return "—"
            return f"{x * 100:+.1f}%" if rel else f"{x * 100:+.2f} pp"

        def val(v: float | None, c: RegressionRecord = c) -> str:
            unit = {"latency": "s", "db_latency": "s", "error_rate": "ratio"}.get(
                c.get("kind", ""), "req/s")
            return fmt_value(v, unit)

        ci = c.get("ci")
        tol = c.get("tolerance")
        detect = c.get("detectable_change")
        rows.append(RegressionRow(
            objective=c.get("objective"), status=c["status"],
            status_label=STATUS_LABEL.get(c["status"], c["status"]),
            base=val(c.get("base_value")), run=val(c.get("run_value")),
            change=ch(c.get("change")),
            ci="—" if not ci else f"{ch(ci[0])} .. {ch(ci[1])}",
            tolerance="—" if tol is None else (f"{tol:.0%}" if rel else
                                               f"{tol * 100:.2f} pp"),
            detectable="—" if detect is None else
            (f"{detect:.0%}" if rel else f"{detect * 100:.2f} pp"),
            underpowered=bool(c.get("underpowered")),
            noise=c.get("noise_source") or "",
            decided_by=c.get("decided_by") or c.get("reason") or "",
        ))
    return rows


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{float(v):.1f}"


def endpoint_rows(results: ResultsRecord) -> list[EndpointRow]:
    return [EndpointRow(method=e["method"], name=e["name"], count=f"{e['count']:,}",
                        rate=f"{e['rate']:.2f}", failures=f"{e['failures']:,}",
                        p50=_ms(e.get("p50_ms")), p95=_ms(e.get("p95_ms")),
                        p99=_ms(e.get("p99_ms")), max=_ms(e.get("max_ms")),
                        cp95=_ms(e.get("corrected_p95_ms")))
            for e in results.get("client", ClientSummary()).get("endpoints", [])]


def charts(results: ResultsRecord) -> list[str]:
    """The run's charts as inline SVGs, in the page's order; none without a timeseries."""
    ts = results.get("client", ClientSummary()).get("timeseries", [])
    if not ts:
        return []
    axes = _axes(results, ts)
    drawn = [_throughput_chart(results, axes), _latency_chart(results, axes),
             _errors_chart(results, axes), _db_chart(results, axes), _users_chart(axes),
             _history_chart(results)]
    return [svg for svg in drawn if svg is not None]


@dataclass(frozen=True)
class _Axes:
    """What the run's charts share: the client's seconds and the server's scrapes on one
    time axis, the shaded warm-up and after-window, the marks of each chart."""
    ts: list[SecondStats]  # the client's per-second series
    xs: list[float]
    server: list[ServerPoint]  # the server's series, per scrape
    sx: list[float]
    shade: list[tuple[float, float, str]]
    marks: dict[str, list[tuple[float, str, str]]]
    errors_shown: bool


def _axes(results: ResultsRecord, ts: list[SecondStats]) -> _Axes:
    run = results.get("run", RunMeta())
    start = run.get("load_started")
    window = run.get("window")
    shade = []
    if start is not None and window:
        shade.append((0.0, window["start"] - start, "warm-up"))
        if ts[-1]["offset_s"] + 1 > window["end"] - start:
            shade.append((window["end"] - start, ts[-1]["offset_s"] + 1.0, "after window"))
    marks = breach_marks(results)
    server = results.get("client", ClientSummary()).get("server_timeseries") or []
    errors_shown = any(p["errors"] for p in ts) or any(p.get("error_ratio") for p in server)
    if not errors_shown:  # no errors chart: its marks go on the throughput chart
        marks.setdefault("throughput", []).extend(
            m for m in marks.get("errors", []) if m[2] == BREACH)
    return _Axes(ts=ts, xs=[float(p["offset_s"]) for p in ts], server=server,
                 sx=[float(p["offset_s"]) for p in server], shade=shade, marks=marks,
                 errors_shown=errors_shown)


def _throughput_chart(results: ResultsRecord, a: _Axes) -> str:
    """Sent (client), served (server) and the requested rate or profile."""
    run = results.get("run", RunMeta())
    rate = run.get("rate")
    shape = run.get("profile")
    profile = shape["points"] if shape else None
    requested = ([Series("requested", [(float(t), float(r)) for t, r in profile],
                         dashed=True, color="#6b7280")] if profile else
                 [Series("requested", [(a.xs[0], rate), (a.xs[-1], rate)], dashed=True,
                         color="#6b7280")] if rate else [])
    return render_svg(Chart(
        title="Throughput: sent vs requested (client) and served (server)", y_label="req/s",
        series=[Series("sent", list(zip(a.xs, [float(p["rate"]) for p in a.ts])))]
        + ([Series("served (server)", list(zip(a.sx, [p.get("rate") for p in a.server])),
                   color="#16a34a")] if a.server else []) + requested,
        shade=a.shade, marks=a.marks.get("throughput", [])))


_PERCENTILE_COLUMNS: tuple[tuple[str, Literal["p50_ms", "p95_ms", "p99_ms"]], ...] = (
    ("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))


def _latency_chart(results: ResultsRecord, a: _Axes) -> str:
    """Client percentiles per second, server p95 per scrape, the baseline's p95, the
    latency objectives' thresholds."""
    latency_thr = [(o["threshold"] * 1000, f"{o['name']} {fmt_threshold(o)}")
                   for o in results.get("objectives", [])
                   if o.get("kind") == "latency" and o.get("threshold")]
    base = results.get("baseline_timeseries") or []
    return render_svg(Chart(
        title="Latency percentiles (client per second; server p95 per scrape)", y_label="ms",
        series=[Series(n, list(zip(a.xs, [p[k] for p in a.ts]))) for n, k in _PERCENTILE_COLUMNS]
        + ([Series("server p95", list(zip(a.sx, [p.get("p95_ms") for p in a.server])),
                   dashed=True, color="#0891b2")] if a.server else [])
        + ([Series("baseline p95", [(float(p["offset_s"]), p.get("p95_ms")) for p in base],
                   dashed=True, color="#9ca3af")] if base else []),
        hlines=latency_thr, shade=a.shade, marks=a.marks.get("latency", [])))


def _errors_chart(results: ResultsRecord, a: _Axes) -> str | None:
    """Failed requests (client) and the 5xx share (server), when there were any."""
    if not a.errors_shown:
        return None
    return render_svg(Chart(
        title="Errors: failed requests (client) and 5xx share (server)", y_label="%",
        series=[Series("client failures %", list(zip(a.xs, [
            100.0 * p["errors"] / p["rate"] if p["rate"] else None for p in a.ts])),
            color="#dc2626")]
        + ([Series("server 5xx %", list(zip(a.sx, [
            None if (r := p.get("error_ratio")) is None else 100.0 * r
            for p in a.server])), dashed=True, color="#9333ea")] if a.server else []),
        hlines=[(100.0 * o["threshold"], f"{o['name']} < {100 * o['threshold']:g}%")
                for o in results.get("objectives", [])
                if o.get("kind") == "error_rate" and o.get("threshold")],
        shade=a.shade, marks=a.marks.get("errors", [])))


def _db_chart(results: ResultsRecord, a: _Axes) -> str | None:
    """The server's DB query p95 per scrape, when it has one."""
    if not (a.server and any(p.get("db_p95_ms") is not None for p in a.server)):
        return None
    db_thr = [(o["threshold"] * 1000, f"{o['name']} {fmt_threshold(o)}")
              for o in results.get("objectives", [])
              if o.get("kind") == "db_latency" and o.get("threshold")]
    return render_svg(Chart(
        title="DB query p95 (server, per scrape)", y_label="ms",
        series=[Series("db p95", list(zip(a.sx, [p.get("db_p95_ms") for p in a.server])),
                       color="#ea580c")], hlines=db_thr, shade=a.shade,
        marks=a.marks.get("db", [])))


def _users_chart(a: _Axes) -> str | None:
    """The server's active users gauge, when it has one."""
    if not (a.server and any(p.get("users") is not None for p in a.server)):
        return None
    return render_svg(Chart(
        title="Active users (server gauge)", y_label="users",
        series=[Series("users_active_total", list(zip(a.sx, [p.get("users")
                                                             for p in a.server])))],
        shade=a.shade))


def _history_chart(results: ResultsRecord) -> str | None:
    """The first latency objective over this load's runs (with the change points), else over
    the last runs recorded; none with fewer than two."""
    history = results.get("history") or []
    name = next((o["name"] for o in results.get("objectives", [])
                 if o.get("kind") == "latency"), None)
    recorded = results.get("drift")
    drift = next((m for m in (recorded["metrics"] if recorded else [])
                  if m["name"] == name and len(m["points"]) >= 2), None)
    if drift is not None:  # this load's runs only, with the change points marked
        return series_chart(drift, title=f"History: {name} over the last "
                            f"{len(drift['points'])} runs of this load (change points "
                            "dotted)")
    if not (len(history) >= 2 and name):
        return None
    pts = [(float(i), (h.get("figures") or {}).get(name)) for i, h in
           enumerate(history)]
    pts.append((float(len(history)), next(
        (o.get("value") for o in results["objectives"] if o["name"] == name), None)))
    return render_svg(Chart(
        title=f"History: {name} over the last {len(pts)} runs", y_label="ms",
        x_label="run (oldest to this one)",
        series=[Series(name, [(x, None if y is None else y * 1000)
                              for x, y in pts])]))


def build_view(results: ResultsRecord, with_charts: bool = True) -> ReportView:
    """The report's plain data; `with_charts` False leaves the charts out (summary.md has
    none, and they are most of the rendering time)."""
    run = results.get("run", RunMeta())
    load = results.get("load", LoadRecord())
    client = results.get("client", ClientSummary())
    totals = client.get("totals", ClientTotals())
    verdict = results.get("verdict")
    settle = results.get("settle")
    return ReportView(
        verdict=verdict,
        verdict_label=STATUS_LABEL.get(verdict.get("status", "") if verdict else "", "?"),
        run=run, load=load, totals=totals,
        source_text=_source_text(run.get("metrics_source") or SourceInfo()),
        requested_rate=_requested_text(run, load),
        achieved_rate=_achieved_text(totals, load),
        load_rows=load_rows(results),
        settle=settle_text(settle) if settle else None,
        generator=_generator_line(load),
        objectives=objective_rows(results),
        regressions=regression_rows(results),
        comparison=results.get("comparison") or ComparisonSummary(),
        endpoints=endpoint_rows(results),
        errors=client.get("errors", []),
        problems=load.get("problems", []),
        warnings=results.get("warnings", []),
        charts=charts(results) if with_charts else [],
        latency=_ms_each(totals.get("latency_ms")),
        corrected=_ms_each(totals.get("corrected_latency_ms")),
        schema_version=results.get("schema_version"),
        interrupted=results.get("interrupted", False),
        verification=verification_view(results),
        aborted=aborted_view(results),
    )


def _ms_each(p: Percentiles | None) -> dict[str, str]:
    """{"p50": "12.3", ...}: each percentile the record holds, in order."""
    names: tuple[Literal["p50", "p90", "p95", "p99", "max"], ...] = (
        "p50", "p90", "p95", "p99", "max")
    return {k: _ms(p[k]) for k in names if p and k in p}


def _source_text(source: SourceInfo) -> str:
    url = source.get("url")
    return f"{source.get('name', '?')}" + (f" {url}" if url else "")


def aborted_view(results: ResultsRecord) -> AbortedView | None:
    """A run stopped on a sustained breach: when, which objective, its last live figure."""
    a = (results.get("load") or LoadRecord()).get("aborted")
    if not a:
        return None
    f = a.get("figures") or LiveFigure()
    window = f.get("window")
    return AbortedView(reason=a.get("reason", ""), at_iso=a.get("at_iso"),
                       objective=a.get("objective"), abort_after_s=a.get("abort_after_s"),
                       value=fmt_value(f.get("value"), f.get("unit", "")),
                       threshold=fmt_threshold(f) if f.get("threshold") is not None else "—",
                       window_s=window.get("seconds") if window else None,
                       detail=f.get("detail", ""))


def verification_view(results: ResultsRecord) -> VerificationView | None:
    """A `loadtest verify` judgement: which run it re-judged, with what, and the run's own
    verdict beside the new one."""
    v = results.get("verification")
    if not v:
        return None
    original = v.get("original_verdict")
    return VerificationView(
        id=v.get("id"), of_run=v.get("of_run"), run_dir=v.get("run_dir"),
        slo_file=v.get("slo_file"), slo_sha256=str(v.get("slo_sha256") or "")[:12],
        slo_changed=v.get("slo_changed"),
        source_text=_source_text(v.get("metrics_source") or SourceInfo()),
        original_label=STATUS_LABEL.get(original.get("status", "") if original else "", "?"),
        original_reason=original.get("reason", "") if original else "",
        original_exit_code=original.get("exit_code") if original else None)


def _requested_text(run: RunMeta, load: LoadRecord) -> str:
    """Open model: the rate of task starts asked for; closed model: the users."""
    if run.get("model") == "closed" or load.get("model") == "closed":
        return (f"no rate (closed model: {run.get('users')} users on the file's own wait_time; "
                "the rate is reported, not gated, and latency is not corrected)")
    return fmt_value(load.get("requested_rate"), "task starts/s")


def load_rows(results: ResultsRecord) -> list[tuple[str, str]]:
    """The load table, each figure with its unit: task starts/s offered, tasks/s achieved,
    requests/s sent and served, requests per task, what a task lasted and the user pool."""
    run, load = results.get("run", RunMeta()), results.get("load", LoadRecord())
    totals = results.get("client", ClientSummary()).get("totals", ClientTotals())
    rows = [("task starts/s offered", _requested_text(run, load))]
    if "task_rate" in totals:
        rows.append(("tasks/s achieved", (f"{totals['task_rate']:.2f} tasks/s "
                     f"({totals.get('tasks', 0):,} tasks started in the window)")))
    if totals:
        rows += [("requests/s sent", fmt_value(totals.get("achieved_rate"), "req/s")),
                 ("requests/s served", fmt_value(totals.get("completed_rate"), "req/s"))]
    if (per_task := totals.get("requests_per_task")) is not None:
        rows += [("requests per task", f"{per_task:.2f}"),
                 ("task time (mean)", (f"{totals.get('task_ms', 0.0) / 1000:.2f} s, of it "
                  f"{totals.get('task_waiting_ms', 0) / 1000:.2f} s waiting on answers; "
                  f"{totals.get('in_task', 0):.1f} users inside a task on average"))]
    pool = load.get("pool")
    rows.append(("user pool", f"{run.get('users')} users" + (
        f" (grown from {pool['initial']} in the warm-up)" if pool and pool.get("changes")
        else "")))
    return rows


def _achieved_text(totals: ClientTotals, load: LoadRecord) -> str:
    """Tasks/s and requests/s when the run recorded task starts (a task may make several
    requests), else requests/s."""
    if "task_rate" in totals:
        return (f"{totals['task_rate']:.2f} tasks/s "
                f"({fmt_value(load.get('request_rate', totals.get('achieved_rate')), 'req/s')})")
    return fmt_value(load.get("achieved_rate"), "req/s")


def _generator_line(load: LoadRecord) -> str:
    """CPU of the load processes over the window, and any worker lost."""
    procs = (load.get("generator_cpu") or {}).get("processes") or []
    parts = [f"{p['role']} {p['pid']}: {p['mean_pct']:.0f}% of a core (peak {p['max_pct']:.0f}%)"
             for p in procs]
    lost = (load.get("workers") or WorkersRecord()).get("lost") or []
    if lost:
        parts.append(f"{len(lost)} worker(s) lost")
    return "; ".join(parts) or "not sampled"
