"""What CI systems read: load-performance.json (GitLab's widget, k6's summary format),
pr-comment.md, `--quiet` (the verdict line only) and `--json` on compare and history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.reports.load_performance import load_performance
from loadtest.reports.pr_comment import MARKER, render_pr_comment
from loadtest.store.results import write_results
from tests.support import EVIL, ROOT, loadtest, made_up_results, run_with

runner = CliRunner()


def test_load_performance_holds_the_fields_gitlabs_widget_reads() -> None:
    r = made_up_results()
    totals = r["client"]["totals"]  # type: ignore[index]
    totals.update(mean_ms=120.0, max_ms=2900.0)
    totals["latency_ms"]["p90"] = 1900.0
    m = load_performance(r)["metrics"]
    # GitLab: RPS = http_reqs.rate; TTFB P90/P95 = http_req_waiting["p(90)"/"p(95)"];
    # Checks = checks.passes / (passes + fails)
    assert m["http_reqs"] == {"count": 6000, "rate": 99.9}
    assert m["http_req_waiting"] == {"avg": 120.0, "med": 3.0, "max": 2900.0,
                                     "p(90)": 1900.0, "p(95)": 2100.0}
    assert m["checks"] == {"passes": 5997, "fails": 3, "value": 0.9995}
    assert m["http_req_failed"]["passes"] == 3
    empty = made_up_results()
    empty["client"] = {"totals": {"requests": 0}}
    assert load_performance(empty)["metrics"] == {"http_reqs": {"count": 0, "rate": 0.0}}


def test_pr_comment_has_verdict_objectives_comparison_drift_and_link() -> None:
    r = made_up_results()
    r["run"]["report_url"] = "https://ci.example/run/1"  # type: ignore[index]
    r["regressions"] = [{"objective": "response_time_p95", "kind": "latency", "status": "fail",
                         "base_value": 0.1, "run_value": 0.15, "change": 0.5,
                         "ci": [0.3, 0.7], "tolerance": 0.1, "detectable_change": 0.12,
                         "relative": True}]
    r["comparison"] = {"baseline": "main"}
    r["warnings"] = [f"drift: response_time_p95 worse, 100 ms -> 150 ms from run {EVIL}"]
    text = render_pr_comment(r)
    assert text.startswith(MARKER + "\n### Performance gate: FAIL (exit 1)")
    assert "| response_time_p95 | FAIL | 2.310 s | ≤ 2.000 s |" in text
    assert "Against the baseline `main`" in text
    assert "| response_time_p95 | FAIL | 100.0 ms | 150.0 ms | +50.0% | +30.0% .. +70.0% | " \
           "10% | 12% |" in text
    assert "drift: response_time_p95 worse" in text and EVIL not in text
    assert text.rstrip().endswith("[Full report](https://ci.example/run/1)")
    assert "No baseline compared" in render_pr_comment(made_up_results())


def test_compare_quiet_and_json(tmp_path: Path) -> None:
    write_results(tmp_path / "base", run_with(seed=1))
    slow = run_with(scale=1.5, seed=2)
    slow["run"]["id"] = "r2"
    write_results(tmp_path / "slow", slow)
    args = ["compare", str(tmp_path / "base"), str(tmp_path / "slow"), "--out", str(tmp_path)]
    table = runner.invoke(app, args)
    quiet = runner.invoke(app, [*args, "--quiet"])
    as_json = runner.invoke(app, [*args, "--json"])
    assert table.exit_code == quiet.exit_code == as_json.exit_code == 1
    [line] = quiet.output.splitlines()
    assert line.startswith("FAIL: regression against baseline r1: response_time_p95")
    assert table.output.rstrip().endswith(line)
    data = json.loads(as_json.output)
    assert data["exit_code"] == 1 and data["verdict"] == line
    rows = {row.split()[0]: row.split()[1] for row in table.output.splitlines()[1:5]}
    assert rows == {c["objective"]: c["status"].upper() for c in data["checks"]}
    history = runner.invoke(app, ["history", "--history", str(tmp_path), "--json"])
    assert history.exit_code == 2  # no history file: the error, not JSON


@pytest.mark.slow
def test_quiet_run_and_verify_print_the_verdict_line_only(tmp_path: Path) -> None:
    p = loadtest("run", "--duration", "2s", "--warmup", "0.5s", "--metrics-source",
                 "embedded", "--out", str(tmp_path), "--quiet")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    [line] = p.stdout.splitlines()
    assert line.startswith("PASS: all 4 objectives hold -> ")
    run_dir = (tmp_path / "latest").resolve()
    assert json.loads((run_dir / "load-performance.json").read_text())["loadtest"]["run"] \
        == run_dir.name
    v = loadtest("verify", str(run_dir), "--quiet", "--slo", str(ROOT / "tests" /
                                                                 "slo_rate50.yaml"))
    assert v.returncode in (0, 1) and v.stderr == "", v.stderr
    [line] = v.stdout.splitlines()
    assert line.startswith(("PASS: ", "FAIL: "))
    h = loadtest("history", "--out", str(tmp_path), "--json")
    assert h.returncode == 0 and json.loads(h.stdout)["runs"] == 1
