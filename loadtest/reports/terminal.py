"""results.json -> the summary tables printed at the end of `run`, `verify` and `capacity`
(rich tables, fitted to the terminal's width, plain text in a CI log): each objective's value,
threshold, margin, status and source; each regression check's change and interval; each
capacity step's rate, p95, errors and outcome. Pure functions of the results; the CLI prints
them, then the verdict line (always the last line: scripts read it)."""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text

from loadtest.reports.view import STATUS_LABEL, fmt_threshold, fmt_value, regression_rows
from loadtest.store.records import (
    CapacityStep,
    ObjectiveExtra,
    ObjectiveRecord,
    Percentiles,
    ResultsRecord,
)

STYLE = {"pass": "green", "fail": "bold red", "no_data": "yellow", "warn": "yellow",
         "underpowered": "yellow", "inconclusive": "yellow", "saturated": "yellow"}


def margin(o: ObjectiveRecord) -> str:
    """How far the value is from its threshold, as a share of the threshold: positive is room
    left (`+99.8%`: a p95 of 4 ms against 2 s), negative is over the line. A throughput with a
    tolerance is measured from the line it passes at (`pass_at_or_above`). A zero threshold:
    the difference in the objective's unit."""
    value, comparison = o.get("value"), o.get("comparison")
    threshold = (o.get("extra") or ObjectiveExtra()).get("pass_at_or_above", o.get("threshold"))
    if not isinstance(value, int | float) or not isinstance(threshold, int | float) or \
            comparison not in ("<=", "<", ">=", ">") or not math.isfinite(value):
        return "—"
    room = threshold - value if comparison in ("<=", "<") else value - threshold
    if threshold == 0:
        sign = "+" if room >= 0 else "-"
        return sign + fmt_value(abs(room), o.get("unit", ""))
    return f"{room / abs(threshold):+.1%}"


def _status(status: str, severity: str = "fail") -> Text:
    label = "WARN" if status == "fail" and severity == "warn" else \
        STATUS_LABEL.get(status, status.upper())
    return Text(label, style=STYLE.get("warn" if label == "WARN" else status, ""))


def objectives_table(results: ResultsRecord) -> Table | None:
    """One row per objective: value, threshold, margin, status, source."""
    objectives = results.get("objectives") or []
    if not objectives:
        return None
    table = Table(title="objectives", title_justify="left", expand=False)
    for name in ("objective", "value", "threshold", "margin", "status", "source"):
        table.add_column(name, justify="right" if name in ("value", "margin") else "left",
                         overflow="fold")
    for o in objectives:
        tolerance = (o.get("extra") or ObjectiveExtra()).get("tolerance")
        table.add_row(o["name"], fmt_value(o.get("value"), o.get("unit", "")),
                      fmt_threshold(o) + (f" -{tolerance:.0%}" if tolerance else ""),
                      margin(o),
                      _status(o["status"], o.get("severity", "fail")),
                      f"{o.get('source', '')} ({o.get('metrics_source', '')})"
                      if o.get("metrics_source") else str(o.get("source", "")))
    return table


def regressions_table(results: ResultsRecord) -> Table | None:
    """One row per regression check against the baseline: values, change and its interval."""
    rows = regression_rows(results)
    if not rows:
        return None
    table = Table(title="regression against the baseline", title_justify="left")
    for name in ("objective", "baseline", "run", "change", "interval", "tolerance", "status"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(str(r["objective"]), r["base"], r["run"], r["change"], r["ci"],
                      r["tolerance"], _status(r["status"]))
    return table


def steps_table(results: ResultsRecord) -> Table | None:
    """One row per capacity step: offered tasks/s, achieved and completed req/s, client p95,
    errors, outcome (and what failed)."""
    steps = results.get("steps") or []
    if not steps:
        return None
    table = Table(title="capacity steps", title_justify="left")
    for name, right in (("step", True), ("offered tasks/s", True), ("sent req/s", True),
                        ("completed req/s", True), ("p95", True), ("errors", True),
                        ("outcome", False)):
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for s in steps:
        p95 = (s.get("latency_ms") or Percentiles()).get("p95")
        failed = ", ".join(s.get("failed") or [])
        outcome = _status(s["status"])
        if failed:
            outcome.append(f": {failed}")
        table.add_row(str(s["step"]), f"{s['offered_rate']:g}", f"{s['achieved_rate']:.1f}",
                      f"{s.get('completed_rate', s['achieved_rate']):.1f}",
                      "—" if p95 is None else f"{p95:.0f} ms", _errors(s), outcome)
    return table


def _errors(step: CapacityStep) -> str:
    ratio = step.get("error_ratio")
    if ratio is None:  # a record from before the step kept its own: its error objective
        ratio = next((o.get("value") for o in step.get("objectives", [])
                      if o.get("kind") == "error_rate"), None)
    return "—" if ratio is None else f"{ratio:.2%}"


def summary_tables(results: ResultsRecord) -> list[Table]:
    """The tables a run, a verification or a capacity search ends with."""
    tables = [objectives_table(results), regressions_table(results), steps_table(results)]
    return [t for t in tables if t is not None]
