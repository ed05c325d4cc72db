"""junit.xml: one test case per objective, per regression check, and one for the run itself
("run": fails when the verdict is fail or inconclusive and no objective or regression check
says why, e.g. the generator saturated, Locust crashed, a worker was lost, the target died)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

from loadtest.reports.view import fmt_threshold, fmt_value
from loadtest.store.records import (
    DriftRecord,
    LoadRecord,
    ObjectiveRecord,
    RegressionRecord,
    ResultsRecord,
    RunMeta,
    VerdictRecord,
    WindowRecord,
)


@dataclass
class _Tally:
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    explained: bool = False  # a failing case already says why the gate did not pass

    def failed(self) -> None:
        self.failures += 1
        self.explained = True


def render_junit(results: ResultsRecord) -> str:
    objectives = results.get("objectives", [])
    regressions = results.get("regressions", [])
    suite = ET.Element("testsuite", name="loadtest",
                       tests=str(len(objectives) + len(regressions) + 1))
    _set_time(suite, results.get("run") or RunMeta())
    tally = _Tally()
    for o in objectives:
        _objective_case(suite, o, tally)
    for r in regressions:
        _regression_case(suite, r, tally)
    _drift_case(suite, results.get("drift"), tally)
    _run_case(suite, results, tally)
    suite.set("failures", str(tally.failures))
    suite.set("errors", str(tally.errors))
    suite.set("skipped", str(tally.skipped))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") \
        + "\n"


def _objective_case(suite: ET.Element, o: ObjectiveRecord, tally: _Tally) -> None:
    case = ET.SubElement(suite, "testcase", classname="loadtest.objectives", name=o["name"])
    value = fmt_value(o.get("value"), o.get("unit", ""))
    msg = f"{o['name']}: {value} (threshold {fmt_threshold(o)})"
    gating = o.get("severity", "fail") == "fail"
    if o["status"] == "fail" and gating:
        tally.failed()
        el = ET.SubElement(case, "failure", message=msg, type="SLOBreach")
        el.text = o.get("detail") or ""
    elif o["status"] == "no_data" and gating:
        tally.errors += 1
        ET.SubElement(case, "error", message=f"{o['name']}: no data: {o.get('reason')}",
                      type="NoData")
    elif o["status"] != "pass":
        tally.skipped += 1
        ET.SubElement(case, "skipped", message=f"warn only: {msg}")
    out = ET.SubElement(case, "system-out")
    out.text = "\n".join([msg, o.get("detail") or o.get("reason") or ""]
                         + list(o.get("queries", [])))


def _regression_case(suite: ET.Element, r: RegressionRecord, tally: _Tally) -> None:
    case = ET.SubElement(suite, "testcase", classname="loadtest.regressions",
                         name=str(r.get("name")))
    if r.get("status") == "fail":
        tally.failed()
        ET.SubElement(case, "failure", message=str(r.get("message", "")), type="Regression")
    elif r.get("status") != "pass":  # no data: not compared, never a pass
        tally.skipped += 1
        ET.SubElement(case, "skipped",
                      message=f"{r.get('name')}: not compared: {r.get('reason') or 'no data'}")


def _drift_case(suite: ET.Element, drift: DriftRecord | None, tally: _Tally) -> None:
    if not drift or not drift.get("fail_on_drift"):  # `loadtest run --fail-on-drift`: the history checks
        return
    suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    case = ET.SubElement(suite, "testcase", classname="loadtest.history", name="drift")
    worse = [c for c in drift.get("new", []) if c.get("worse")]
    if worse:
        tally.failed()
        ET.SubElement(case, "failure", type="Drift", message="; ".join(
            f"{c['metric']} changed from run {c['id']}" for c in worse))


def _run_case(suite: ET.Element, results: ResultsRecord, tally: _Tally) -> None:
    """The run itself: failing on exit 1 or 3 that no other case explains."""
    verdict: VerdictRecord | dict[str, object] = results.get("verdict") or {}
    case = ET.SubElement(suite, "testcase", classname="loadtest.run", name="run")
    if verdict.get("exit_code") in (1, 3) and not tally.explained:
        tally.failures += 1
        el = ET.SubElement(case, "failure", type=str(verdict.get("status", "")).capitalize(),
                           message=f"{verdict.get('status')}: {verdict.get('reason', '')}")
        el.text = "\n".join(str(p) for p in (results.get("load") or LoadRecord()).get(
            "problems", []))
    out = ET.SubElement(case, "system-out")
    out.text = f"{verdict.get('status')} (exit {verdict.get('exit_code')}): " \
        f"{verdict.get('reason', '')}"


def _set_time(suite: ET.Element, run: RunMeta) -> None:
    """`timestamp`: when the run started (UTC, ISO 8601 without zone, as JUnit has it);
    `time`: seconds from the load's start to the window's end."""
    window: WindowRecord | dict[str, float] = run.get("window") or {}
    started = run.get("load_started") or window.get("start")
    if isinstance(started, (int, float)) and started > 0:
        suite.set("timestamp", datetime.fromtimestamp(started, UTC)
                  .replace(tzinfo=None).isoformat(timespec="seconds"))
    elif run.get("started_at"):
        suite.set("timestamp", str(run["started_at"])[:19])
    end = window.get("end")
    if isinstance(end, (int, float)) and isinstance(started, (int, float)) and end >= started:
        suite.set("time", f"{end - started:.3f}")
    elif isinstance(seconds := window.get("seconds"), (int, float)):
        suite.set("time", f"{seconds:.3f}")
