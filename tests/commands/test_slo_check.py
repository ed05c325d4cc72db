"""`loadtest slo check FILE --prometheus URL` against a real Prometheus scraping the real
reference target: filters that match nothing, raw queries on missing metrics, thresholds that
are not bucket bounds. And the pure bracket logic."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.commands.slo_check import query_metrics
from loadtest.metrics.base import Matcher
from loadtest.metrics.histogram import threshold_bracket
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.stack.servers import LocalPrometheus
from tests.support import RunningTarget

runner = CliRunner()

SLO = """\
version: 1
selector: {job: opscore-backend}
objectives:
  - {name: search_typo, kind: latency, quantile: 0.95, threshold: 2s,
     endpoint: /api/v1/document/search}
  - {name: raw_path, kind: error_rate, max: 0.01, endpoint: /api/v1/documents/1}
  - {name: read_ok, kind: latency, quantile: 0.95, threshold: 2s,
     endpoint: "/api/v1/documents/{id}", method: get}
  - {name: bad_method, kind: throughput, min: 1, method: FETCH}
  - {name: db_p95, kind: db_latency, quantile: 0.95, threshold: 100ms}
  - name: ghost
    kind: promql
    query: 'sum(increase(no_such_metric_total{job="opscore-backend"}[$window]))'
    op: "<"
    threshold: 1
  - {name: quiet, kind: no_alerts}
"""


def test_threshold_bracket() -> None:
    bounds = [0.5, 1.0, 2.5, math.inf]
    assert threshold_bracket(bounds, 1.0) is None
    assert threshold_bracket(bounds, 2.0) == (1.0, 2.5)
    assert threshold_bracket(bounds, 0.1) == (0.0, 0.5)
    assert threshold_bracket(bounds, 3.0) == (2.5, math.inf)


def test_query_metrics_names_the_selectors() -> None:
    q = ('histogram_quantile(0.9, sum by (le) (rate(x_bucket{job="a"}[5m]))) '
         '/ on(job) y_total > bool 0')
    assert query_metrics(q) == ['x_bucket{job="a"}', "y_total"]


@pytest.mark.prometheus
def test_slo_check_flags_filters_missing_metrics_and_bucket_bounds(
        prometheus_bin: str, sqlite_target: RunningTarget, tmp_path: Path) -> None:
    prom = LocalPrometheus(tmp_path / "prom", "opscore-backend", sqlite_target.url)
    try:
        prom.wait_ready()
        PrometheusSource(prom.url, (Matcher("job", "=", "opscore-backend"),)
                         ).wait_target_up(20)
        slo = tmp_path / "slo.yaml"
        slo.write_text(SLO, encoding="utf-8")
        result = runner.invoke(app, ["slo", "check", str(slo), "--prometheus", prom.url])
    finally:
        prom.stop()
    out = result.output
    assert result.exit_code == 0, out  # warnings do not fail the check
    lines = {line.split(":", 1)[0]: line for line in out.splitlines()}
    typo = lines["WARN search_typo"]
    assert 'endpoint="/api/v1/document/search" (the endpoint: filter)' in typo
    assert 'did you mean endpoint: "/api/v1/documents/search"?' in typo
    raw = lines["WARN raw_path"]
    assert 'a raw path; the label holds the route template: endpoint: ' \
           '"/api/v1/documents/{id}"' in raw
    assert 'method="FETCH" (the method: filter)' in lines["WARN bad_method"]
    assert "Prometheus has no series no_such_metric_total" in lines["WARN ghost"]
    # filters that match: ok, and the thresholds against the live buckets
    assert any(line.startswith("ok  read_ok: http_request_duration_seconds_bucket")
               and "series" in line for line in out.splitlines())
    # the Go client's default buckets, as the guide's backend: 2 s is not among them
    assert ("WARN read_ok: buckets: 2 s is not a bucket bound: between 1 s and 2.5 s; "
            "the p95 verdict is decided only where the histogram can tell, add a 2 s bucket"
            ) in out
    assert "ok  db_p95: buckets: 100 ms is a bucket bound: the p95 verdict is exact" in out
    assert "WARN quiet: alert rules: Prometheus evaluates no alerting rules" in out
    assert "ok  search_typo" not in out and "ok  ghost" not in out
