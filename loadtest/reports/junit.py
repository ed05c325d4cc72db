"""junit.xml: one test case per objective (and per regression check)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from loadtest.reports.view import fmt_threshold, fmt_value


def render_junit(results: dict[str, Any]) -> str:
    objectives = results.get("objectives", [])
    regressions = results.get("regressions", [])
    suite = ET.Element("testsuite", name="loadtest", tests=str(len(objectives) + len(regressions)))
    failures = errors = skipped = 0
    for o in objectives:
        case = ET.SubElement(suite, "testcase", classname="loadtest.objectives", name=o["name"])
        value = fmt_value(o.get("value"), o.get("unit", ""))
        msg = f"{o['name']}: {value} (threshold {fmt_threshold(o)})"
        if o["status"] == "fail" and o.get("severity", "fail") == "fail":
            failures += 1
            el = ET.SubElement(case, "failure", message=msg, type="SLOBreach")
            el.text = o.get("detail") or ""
        elif o["status"] == "no_data" and o.get("severity", "fail") == "fail":
            errors += 1
            el = ET.SubElement(case, "error", message=f"{o['name']}: no data: {o.get('reason')}",
                               type="NoData")
        elif o["status"] != "pass":
            skipped += 1
            ET.SubElement(case, "skipped", message=f"warn only: {msg}")
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join([msg, o.get("detail") or o.get("reason") or ""]
                             + list(o.get("queries", [])))
    for r in regressions:
        case = ET.SubElement(suite, "testcase", classname="loadtest.regressions",
                             name=str(r.get("name")))
        if r.get("status") == "fail":
            failures += 1
            ET.SubElement(case, "failure", message=str(r.get("message", "")), type="Regression")
    drift = results.get("drift") or {}
    if drift.get("fail_on_drift"):  # `loadtest run --fail-on-drift`: the history is a check
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
        case = ET.SubElement(suite, "testcase", classname="loadtest.history", name="drift")
        worse = [c for c in drift.get("new", []) if c.get("worse")]
        if worse:
            failures += 1
            ET.SubElement(case, "failure", type="Drift", message="; ".join(
                f"{c['metric']} changed from run {c['id']}" for c in worse))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") \
        + "\n"
