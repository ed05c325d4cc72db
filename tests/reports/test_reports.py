"""Reports from made-up results (no load, no Prometheus): content, escaping, formats."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from loadtest.errors import ConfigError
from loadtest.judge.verdict import decide
from loadtest.reports import render_all
from loadtest.store.results import SCHEMA_VERSION, load_results, write_results
from tests.support import EVIL, made_up_results


def test_all_formats_render_and_escape_target_strings(tmp_path: Path) -> None:
    results = made_up_results()
    write_results(tmp_path, results)
    written = render_all(load_results(tmp_path), tmp_path)
    assert {p.name for p in written} == {"index.html", "junit.xml", "summary.md",
                                         "load-performance.json", "pr-comment.md"}
    assert EVIL not in (tmp_path / "pr-comment.md").read_text()
    html = (tmp_path / "index.html").read_text()
    assert EVIL not in html and "&lt;script&gt;" in html
    assert html.index("FAIL") < html.index("Objectives")  # the verdict comes first
    assert "objective breached: response_time_p95" in html
    assert html.count("<svg") >= 3  # rate, latency, failures
    import re

    # nothing refers to a network (XML namespace names are names, not fetches)
    assert "http://" not in re.sub(r'xmlns(:\w+)?="[^"]*"', "",
                                   html.replace("http://127.0.0.1", ""))
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    assert suite.get("errors") == "1"
    failure = suite.find("testcase[@name='response_time_p95']/failure")
    assert failure is not None and "2.310 s (threshold ≤ 2.000 s)" in failure.get("message", "")
    md = (tmp_path / "summary.md").read_text()
    assert "## loadtest: FAIL (exit 1)" in md and "| response_time_p95 | FAIL |" in md


def test_github_step_summary_is_appended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "step.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    render_all(made_up_results(), tmp_path)
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "loadtest: FAIL" in text


def test_results_json_is_versioned_and_checked(tmp_path: Path) -> None:
    write_results(tmp_path, made_up_results())
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    data["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="newer than this harness reads"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{trunc")
    with pytest.raises(ConfigError, match="not a readable results file"):
        load_results(tmp_path)


def test_nan_and_infinity_never_reach_json(tmp_path: Path) -> None:
    results = made_up_results()
    results["objectives"][0]["value"] = float("nan")  # type: ignore[index]
    results["objectives"][1]["value"] = float("inf")  # type: ignore[index]
    write_results(tmp_path, results)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["objectives"][0]["value"] is None and data["objectives"][1]["value"] is None


def test_an_aborted_run_says_when_and_why_and_marks_its_charts(tmp_path: Path) -> None:
    r = made_up_results()
    load = r["load"]
    assert isinstance(load, dict)
    load["aborted"] = {"at": 43.0, "at_iso": "t43", "offset_s": 43.0,
                       "objective": "response_time_p95", "abort_after_s": 30.0,
                       "breached_since": 13.0, "breached_for_s": 30.0,
                       "reason": "aborted at +43 s: response_time_p95 breached for 30 s",
                       "figures": {"value": 3.2, "threshold": 2.0, "comparison": "<=",
                                   "unit": "s", "window": {"seconds": 30.0}, "detail": EVIL}}
    r["live"] = {"objectives": [
        {"name": "response_time_p95", "window_s": 30.0, "first_breach": {"offset_s": 13.0},
         "evaluations": 33, "breached_evaluations": 30},
        {"name": "throughput", "window_s": 10.0, "first_breach": None}]}
    r["verdict"] = decide(r["objectives"], load)  # type: ignore[arg-type]
    assert r["verdict"]["exit_code"] == 1
    assert r["verdict"]["reason"].startswith("aborted at +43 s: response_time_p95 breached")
    render_all(r, tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert "<h2>Aborted</h2>" in html and "3.200 s against ≤ 2.000 s over 30.0 s" in html
    assert "response_time_p95 first FAIL +13 s" in html  # on the latency chart
    assert html.count("aborted +43 s (response_time_p95)") >= 2  # on every chart drawn
    assert "live: first failed at +13 s over its 30 s sliding window" in html
    assert "live: never failed over its 10 s sliding window" in html
    assert EVIL not in html
    assert "Aborted at t43: `response_time_p95`" in (tmp_path / "summary.md").read_text()
    # an abort alone fails the gate, even when every objective passes over what ran
    for o in r["objectives"]:  # type: ignore[union-attr]
        o["status"] = "pass"
    assert decide(r["objectives"], load)["exit_code"] == 1  # type: ignore[arg-type]


def _junit(results: dict[str, object]) -> ET.Element:
    from loadtest.reports.junit import render_junit

    return ET.fromstring(render_junit(results))


def _passing_results() -> dict:
    results: dict = made_up_results()
    objectives = [o for o in results["objectives"] if o["status"] == "pass"]
    results["objectives"] = objectives
    results["verdict"] = decide(objectives, results["load"])
    assert results["verdict"]["exit_code"] == 0
    return results


def test_junit_run_case_fails_when_the_run_is_inconclusive_without_a_failed_objective() -> None:
    results = _passing_results()
    results["load"] = {**results["load"], "problems": ["load generator saturated: 71 req/s"]}
    results["verdict"] = decide(results["objectives"], results["load"])
    assert results["verdict"]["exit_code"] == 3
    suite = _junit(results)
    failure = suite.find("testcase[@name='run']/failure")
    assert failure is not None and "saturated" in failure.get("message", "")
    assert suite.get("failures") == "1" and suite.get("tests") == "2"
    # the target died: exit 1 with every objective passing, still a failure of "run"
    results["load"] = {**results["load"], "problems": [], "target_died": "12:00:03"}
    results["verdict"] = decide(results["objectives"], results["load"])
    assert results["verdict"]["exit_code"] == 1
    assert _junit(results).find("testcase[@name='run']/failure") is not None
    # a passing run: the run case passes
    suite = _junit(_passing_results())
    case = suite.find("testcase[@name='run']")
    assert case is not None and case.find("failure") is None and suite.get("failures") == "0"


def test_junit_run_case_passes_when_a_failed_objective_already_says_why() -> None:
    suite = _junit(made_up_results())  # response_time_p95 breached, db_query_p95 no data
    case = suite.find("testcase[@name='run']")
    assert case is not None and case.find("failure") is None


def test_junit_regression_without_data_is_not_a_pass_and_suite_has_time() -> None:
    results = _passing_results()
    results["regressions"] = [
        {"name": "throughput.regression", "objective": "throughput", "status": "no_data",
         "reason": "the baseline has no samples", "message": ""},
        {"name": "p95.regression", "objective": "p95", "status": "pass", "reason": "",
         "message": ""}]
    results["verdict"] = decide(results["objectives"], results["load"],
                                regressions=results["regressions"])
    suite = _junit(results)
    skipped = suite.find("testcase[@name='throughput.regression']/skipped")
    assert skipped is not None and "the baseline has no samples" in skipped.get("message", "")
    assert suite.find("testcase[@name='p95.regression']/skipped") is None
    assert suite.get("skipped") == "1"
    assert suite.find("testcase[@name='run']/failure") is not None  # exit 3
    assert suite.get("timestamp") == "1970-01-01T00:00:10"  # the window's start (load_started 0)
    assert float(suite.get("time", "nan")) == 60.0
