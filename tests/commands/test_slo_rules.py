"""`loadtest slo rules`: the rule file from slo/opscore.yaml (and from an OpenSLO file) passes
`promtool check rules`, and `promtool test rules` proves that a 14.4x burn of the error budget
fires the page alert while a 1x burn fires nothing; a latency threshold that is not a bucket
bound is refused with the bounds around it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from loadtest.cli import app
from tests.support import ROOT, require

runner = CliRunner()
# 7 h of series: a constant burn is the same over the 1d and 3d windows (rate over the data
# there is), and 3 days of samples would make promtool take ten times as long
MINUTES = 7 * 60 + 10


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    require("promtool", path is not None, "apt-get install -y prometheus")
    return subprocess.run([str(path), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def write_rules(tmp_path: Path, slo: Path, *extra: str) -> dict[str, Any]:
    r = runner.invoke(app, ["slo", "rules", str(slo), "--out", str(tmp_path / "rules.yml"),
                            *extra])
    assert r.exit_code == 0, r.output
    return yaml.safe_load((tmp_path / "rules.yml").read_text())


def alert(rules: dict[str, Any], slo: str, severity: str) -> dict[str, Any]:
    """The expected alert as promtool compares it: labels and annotations."""
    group = next(g for g in rules["groups"] if g["name"] == f"slo-{slo}")
    rule = next(r for r in group["rules"] if r.get("labels", {}).get("severity") == severity)
    return {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}


def burn(ok_per_min: int, bad_per_min: int) -> list[dict[str, str]]:
    """Counters of a service answering `ok` and `bad` (5xx, and slower than 2 s) a minute."""
    sel = 'job="opscore-backend"'
    total = ok_per_min + bad_per_min
    return [
        {"series": f'http_requests_total{{{sel},status="200"}}',
         "values": f"0+{ok_per_min}x{MINUTES}"},
        {"series": f'http_requests_total{{{sel},status="500"}}',
         "values": f"0+{bad_per_min}x{MINUTES}"},
        {"series": f'http_request_duration_seconds_bucket{{{sel},le="2.0"}}',
         "values": f"0+{ok_per_min}x{MINUTES}"},
        {"series": f'http_request_duration_seconds_bucket{{{sel},le="+Inf"}}',
         "values": f"0+{total}x{MINUTES}"},
    ]


@pytest.mark.prometheus
def test_rules_from_the_shipped_slo_file_pass_promtool_and_burn_as_the_workbook(
        tmp_path: Path) -> None:
    rules = write_rules(tmp_path, ROOT / "slo" / "opscore.yaml", "--label", "team=docs")
    p = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    names = {g["name"] for g in rules["groups"]}
    assert names == {"slo-response_time_p95", "slo-error_rate", "slo-db_query_p95"}
    page_err, page_lat = alert(rules, "error_rate", "page"), alert(rules,
                                                                  "response_time_p95", "page")
    assert page_err["exp_labels"] == {"slo": "error_rate", "team": "docs", "severity": "page"}
    quiet = [{"eval_time": t, "alertname": name, "exp_alerts": []}
             for t in ("1h", "6h", "7h") for name in ("SLOErrorBudgetBurnPage",
                                                           "SLOErrorBudgetBurnTicket")]
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [
        {"name": "14.4x: 14.4% 5xx (budget 1%) and 72% slower than 2 s (budget 5%)",
         "interval": "1m", "input_series": burn(856, 144)[:2] + burn(280, 720)[2:],
         "alert_rule_test": [{"eval_time": "1h", "alertname": "SLOErrorBudgetBurnPage",
                              "exp_alerts": [page_lat, page_err]}]},
        {"name": "1x: 1% 5xx and 5% slower than 2 s",
         "interval": "1m", "input_series": burn(990, 10)[:2] + burn(950, 50)[2:],
         "alert_rule_test": quiet}]}
    (tmp_path / "rules_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    p = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    # the test can fail: 10% 5xx (10x) pages through the 6h/30m pair
    ten_x = burn(900, 100)
    tests["tests"][1]["input_series"] = ten_x[:2] + burn(950, 50)[2:]
    (tmp_path / "rules_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    p = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert p.returncode != 0 and "SLOErrorBudgetBurnPage" in p.stdout + p.stderr


@pytest.mark.prometheus
def test_rules_from_an_openslo_file_record_the_users_queries(tmp_path: Path) -> None:
    slo = tmp_path / "o.yaml"
    slo.write_text("""\
apiVersion: openslo/v1
kind: SLO
metadata: {name: availability}
spec:
  budgetingMethod: Occurrences
  indicator:
    metadata: {name: ok}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'sum(http_requests_total{status!~"5.."})'}}}
        total: {metricSource: {type: Prometheus, spec: {query: sum(http_requests_total)}}}
  objectives: [{target: 0.99}]
""")
    rules = write_rules(tmp_path, slo)
    assert promtool("check", "rules", "rules.yml", cwd=tmp_path).returncode == 0
    page = alert(rules, "availability", "page")
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": burn(856, 144)[:2],
         "alert_rule_test": [{"eval_time": "1h", "alertname": "SLOErrorBudgetBurnPage",
                              "exp_alerts": [page]}]},
        {"interval": "1m", "input_series": burn(990, 10)[:2],
         "alert_rule_test": [{"eval_time": t, "alertname": "SLOErrorBudgetBurnPage",
                              "exp_alerts": []} for t in ("1h", "6h", "7h")]}]}
    (tmp_path / "rules_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    p = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_threshold_between_buckets_is_refused_with_the_bracket(tmp_path: Path) -> None:
    r = runner.invoke(app, ["slo", "rules", str(ROOT / "slo" / "opscore.yaml"), "--buckets",
                            "0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10,+Inf"])
    assert r.exit_code == 2
    assert "response_time_p95: 2 s is not a bucket bound of http_request_duration_seconds: " \
        "the histogram brackets it between 1 s and 2.5 s" in r.output, r.output
    ok = runner.invoke(app, ["slo", "rules", str(ROOT / "slo" / "opscore.yaml"), "--buckets",
                             "0.1,0.5,1,2,2.5,+Inf"])
    assert ok.exit_code == 0 and 'le="2"' in ok.output  # the label as the service spells it
    for bad in (["--label", "severity=x"], ["--selector", "no equals"]):
        r = runner.invoke(app, ["slo", "rules", str(ROOT / "slo" / "opscore.yaml"), *bad])
        assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
