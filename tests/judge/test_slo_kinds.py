"""Every objective kind judged against a real Prometheus scraping the real reference target
(and itself: a second exporter whose metrics are named differently), plus client objectives."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from loadtest.judge.objectives import evaluate, evaluate_client
from loadtest.judge.verdict import decide
from loadtest.metrics.base import Matcher, Window
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.slo import parse_slo
from loadtest.stack.servers import LocalPrometheus
from tests.support import RunningTarget

RULES = """\
groups:
  - name: test
    rules:
      - alert: DocumentReadsSeen
        expr: sum(rate(http_requests_total{endpoint="/api/v1/documents/{id}"}[5s])) > 1
        labels: {severity: page}
"""

SLO = """\
version: 1
selector: {job: opscore-backend}
objectives:
  - {name: read_p95, kind: latency, quantile: 0.95, threshold: 2s,
     endpoint: "/api/v1/documents/{id}", method: GET, min_samples: 50}
  - {name: list_p95_strict, kind: latency, quantile: 0.95, threshold: 1ms, severity: warn,
     endpoint: /api/v1/documents, min_samples: 10}
  - {name: reads_only_throughput, kind: throughput, min: 5, endpoint: "/api/v1/documents/{id}"}
  - {name: errors, kind: error_rate, max: 0.01, min_samples: 50}
  - {name: not_found_rate, kind: error_rate, max: 0.01, statuses: "404", min_samples: 50}
  - {name: db, kind: db_latency, quantile: 0.95, threshold: 100ms, min_samples: 50}
  - {name: raw_requests, kind: promql, op: ">", threshold: 50,
     query: 'sum(increase(http_requests_total{job="opscore-backend"}[$window]))'}
  - {name: raw_many_series, kind: promql, op: ">", threshold: 0,
     query: 'increase(http_requests_total{job="opscore-backend"}[$window])'}
  - {name: no_page, kind: no_alerts, alert_severity: page}
  - {name: no_unrelated_alert, kind: no_alerts, alertname: "Nothing.*"}
  - {name: too_few, kind: latency, quantile: 0.95, threshold: 2s, endpoint: /health,
     min_samples: 1000}
"""

# Prometheus' own HTTP metrics: other names, `handler` instead of `endpoint`, `code` instead
# of `status`, and Go-style `le` labels ("1" not "1.0"); judged by editing only the SLO file.
SELF_SLO = """\
version: 1
metrics:
  http_requests: prometheus_http_requests_total
  http_duration: prometheus_http_request_duration_seconds
  endpoint_label: handler
  status_label: code
selector: {job: prometheus}
objectives:
  - {name: query_p95, kind: latency, quantile: 0.95, threshold: 1s,
     endpoint: /api/v1/query, min_samples: 20}
  - {name: query_errors, kind: error_rate, max: 0.5, endpoint: /api/v1/query, min_samples: 20}
  - {name: query_rate, kind: throughput, min: 1, endpoint: /api/v1/query}
"""


@pytest.mark.prometheus
def test_every_kind_against_real_prometheus(prometheus_bin: str, sqlite_target: RunningTarget,
                                            tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    prom = LocalPrometheus(tmp_path / "prom", "opscore-backend", sqlite_target.url, [rules])
    try:
        prom.wait_ready()
        src = PrometheusSource(prom.url, (Matcher("job", "=", "opscore-backend"),),
                               scrape_interval_s=1.0, local=True)
        src.wait_target_up(20)
        ws = time.time()
        c = httpx.Client(base_url=sqlite_target.url, timeout=10)
        while time.time() < ws + 8:  # bounded: 8 s of traffic
            for i in range(5):
                assert c.get(f"/api/v1/documents/{1 + i}").status_code == 200
            c.get("/api/v1/documents")
            c.get("/api/v1/documents/999999")  # a 404
            src.scalar("up")  # traffic to Prometheus' own /api/v1/query
            time.sleep(0.02)
        window = Window(ws, time.time())
        src.settle(window, 10)
        results = {o.name: o for o in evaluate(parse_slo(SLO, "t.yaml"), src, window)}
        assert results["read_p95"].status == "pass" and results["read_p95"].exact is True
        # 1 ms lies inside the first bucket (0, 5 ms]: no client samples here to decide it
        strict = results["list_p95_strict"]
        assert strict.status == "no_data" and "add a 1 ms bucket" in strict.reason
        assert results["reads_only_throughput"].status == "pass"
        assert results["errors"].status == "pass"
        assert results["not_found_rate"].status == "fail"   # statuses are configurable
        assert results["not_found_rate"].value == pytest.approx(1 / 7, rel=0.1)
        assert results["db"].status == "pass"
        assert results["raw_requests"].status == "pass"
        assert "[8" in results["raw_requests"].queries[0]   # $window became whole ms
        assert results["raw_many_series"].status == "no_data"
        assert "aggregate it" in results["raw_many_series"].reason
        assert results["no_page"].status == "fail"
        assert results["no_page"].extra["alerts"] == ["DocumentReadsSeen"]
        assert results["no_unrelated_alert"].status == "pass"
        assert results["too_few"].status == "no_data"
        assert "min_samples 1000" in results["too_few"].reason
        verdict = decide([o.to_dict() for o in results.values()
                          if o.name not in ("not_found_rate", "no_page", "raw_many_series",
                                            "too_few")], {})
        assert verdict["exit_code"] == 0  # the failing warn objective does not fail the gate
        # the second exporter, by editing only the SLO file
        own = {o.name: o for o in evaluate(parse_slo(SELF_SLO, "self.yaml"), src, window)}
        assert own["query_p95"].status == "pass", own["query_p95"]
        assert own["query_p95"].exact is True and 'le="1"' in own["query_p95"].detail
        assert own["query_errors"].status == "pass"
        assert own["query_rate"].status == "pass", own["query_rate"]
    finally:
        prom.stop()


def test_client_objectives_from_samples() -> None:
    rows = []
    for i in range(1000):
        start = 100.0 + i * 0.01
        lag = 1.5 if 500 <= i < 560 else 0.0  # 60 requests waited 1.5 s for a free user
        rows.append({"start": start, "intended": start - lag, "method": "GET",
                     "name": "/api/v1/documents", "response_ms": 20.0,
                     "status": 500 if i % 100 == 0 else 200, "failed": int(i % 100 == 0),
                     "error": ""})
    df = pd.DataFrame(rows)
    df["lag_ms"] = (df["start"] - df["intended"]) * 1000
    df["corrected_ms"] = df["response_ms"] + df["lag_ms"]
    slo = parse_slo("""\
version: 1
objectives:
  - {name: corrected_p95, kind: client, metric: latency, quantile: 0.95, threshold: 1s}
  - {name: measured_p95, kind: client, metric: latency, quantile: 0.95, threshold: 1s,
     corrected: false}
  - {name: client_errors, kind: client, metric: error_rate, max: 0.02}
  - {name: client_rate, kind: client, metric: throughput, min: 99}
  - {name: other_endpoint, kind: client, metric: error_rate, max: 0.02, endpoint: /x}
""", "c.yaml")
    r = {o.name: o for o in evaluate_client(slo, df, Window(100.0, 110.0))}
    assert r["corrected_p95"].status == "fail" and r["corrected_p95"].value == pytest.approx(
        1.52)
    assert r["measured_p95"].status == "pass" and r["measured_p95"].value == pytest.approx(0.02)
    assert r["client_errors"].status == "pass" and r["client_errors"].value == 0.01
    assert r["client_rate"].status == "pass" and r["client_rate"].value == 100
    assert r["other_endpoint"].status == "no_data"
