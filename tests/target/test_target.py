"""The reference OpsCore target, served for real (uvicorn subprocess) on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support import RunningTarget, start_target

H = {"X-User-Id": "alice"}


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(4))
            found = True
    assert found, f"no sample {name}{labels}"
    return total


def exercise_every_endpoint(t: RunningTarget) -> None:
    c = httpx.Client(base_url=t.url, headers=H, timeout=10)
    before = t.metrics()
    r = c.post("/api/v1/documents", json={"title": "Backup runbook", "content": "restore it"})
    assert r.status_code == 201
    doc = r.json()
    assert doc["title"] == "Backup runbook" and doc["owner"] == "alice"
    assert c.get(f"/api/v1/documents/{doc['id']}").json()["content"] == "restore it"
    page = c.get("/api/v1/documents", params={"limit": 5, "offset": 0}).json()
    assert len(page["items"]) == 5 and page["items"][0]["id"] == doc["id"]
    found = c.get("/api/v1/documents/search", params={"q": "BACKUP"}).json()["items"]
    assert [d["id"] for d in found] == [doc["id"]]
    assert c.get("/api/v1/documents/search", params={"q": "100%_"}).json()["items"] == []
    r = c.put(f"/api/v1/documents/{doc['id']}", json={"content": "v2"})
    assert r.json()["content"] == "v2" and r.json()["title"] == "Backup runbook"
    r = c.post(f"/api/v1/documents/{doc['id']}/execution-records",
               json={"status": "succeeded", "note": "done"})
    assert r.status_code == 201
    recs = c.get(f"/api/v1/documents/{doc['id']}/execution-records").json()["items"]
    assert [x["status"] for x in recs] == ["succeeded"]
    r = c.post(f"/api/v1/documents/{doc['id']}/attachments", params={"filename": "e.txt"},
               content=b"x" * 1234)
    assert r.status_code == 201 and r.json()["size_bytes"] == 1234
    assert len(c.get(f"/api/v1/documents/{doc['id']}/attachments").json()["items"]) == 1
    assert c.get("/api/v1/users/me").json() == {"user": "alice"}
    mid = t.metrics()
    assert metric(mid, "documents_total") == metric(before, "documents_total") + 1
    assert metric(mid, "execution_records_total") == metric(before, "execution_records_total") + 1
    assert metric(mid, "storage_usage_bytes") == metric(before, "storage_usage_bytes") + 1234
    assert metric(mid, "users_active_total") >= 1
    assert metric(mid, "http_requests_total", method="POST", endpoint="/api/v1/documents",
                  status="201") == 1
    assert metric(mid, "http_request_duration_seconds_count", method="GET",
                  endpoint="/api/v1/documents/{id}") >= 1
    assert metric(mid, "db_query_duration_seconds_count") > metric(
        before, "db_query_duration_seconds_count")
    assert metric(mid, "db_connections_total") >= 1
    assert metric(mid, "process_resident_memory_bytes") > 0
    assert c.delete(f"/api/v1/documents/{doc['id']}").status_code == 204
    assert c.get(f"/api/v1/documents/{doc['id']}").status_code == 404
    after = t.metrics()
    assert metric(after, "documents_total") == metric(before, "documents_total")
    assert metric(after, "storage_usage_bytes") == metric(before, "storage_usage_bytes")
    assert metric(after, "execution_records_total") == metric(before, "execution_records_total")


def test_every_endpoint_and_metric_on_sqlite(sqlite_target: RunningTarget) -> None:
    exercise_every_endpoint(sqlite_target)


@pytest.mark.postgres
def test_every_endpoint_and_metric_on_postgresql(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = start_target(tmp_path, database=postgres.new_database())
    try:
        exercise_every_endpoint(t)
        health = httpx.get(f"{t.url}/health").json()
        assert health["checks"]["database"]["status"] == "ok"
    finally:
        t.child.stop()


@pytest.mark.postgres
def test_postgresql_outage_gives_503_and_degraded_health(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = start_target(tmp_path, database=postgres.new_database())
    try:
        postgres.stop()
        r = httpx.get(f"{t.url}/api/v1/documents", timeout=15)
        assert r.status_code == 503 and r.json()["code"] == "database_unavailable"
        h = httpx.get(f"{t.url}/health", timeout=15)
        assert h.status_code == 503 and h.json()["status"] == "degraded"
        assert h.json()["checks"]["database"]["status"] == "error"
        assert httpx.get(f"{t.url}/ready", timeout=15).status_code == 503
    finally:
        postgres.start()
        t.child.stop()


def test_health_has_the_guides_shape(sqlite_target: RunningTarget) -> None:
    r = httpx.get(f"{sqlite_target.url}/health")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"status", "timestamp", "version", "checks"}
    assert body["status"] == "ok"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", body["timestamp"])
    assert body["checks"]["database"]["status"] == "ok"
    assert isinstance(body["checks"]["database"]["response_time_ms"], (int, float))
    assert body["checks"]["storage"] == {"status": "ok", "type": "local"}
    assert httpx.get(f"{sqlite_target.url}/ready").json() == {"ready": True}


def buckets_of(text: str, histogram: str) -> list[str]:
    return sorted({m for m in re.findall(rf'^{histogram}_bucket{{[^}}]*le="([^"]+)"', text,
                                         re.MULTILINE)}, key=lambda le: float(le.replace("+Inf", "inf")))


def test_metrics_expose_the_go_clients_default_buckets(sqlite_target: RunningTarget) -> None:
    text = sqlite_target.metrics()
    # as the guide's backend registers them (HistogramOpts without Buckets): no 2 s bound
    go = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0",
          "+Inf"]
    assert buckets_of(text, "http_request_duration_seconds") == go
    assert buckets_of(text, "db_query_duration_seconds") == go  # 0.1 s, the DB KPI, is one
    text = sqlite_target.metrics()
    # series exist before the first request (no undercount when they appear mid-window)
    assert metric(text, "http_requests_total", endpoint="/api/v1/documents/{id}",
                  method="DELETE", status="500") == 0
    # the raw path never becomes a label value
    httpx.get(f"{sqlite_target.url}/api/v1/documents/12345")
    assert "/api/v1/documents/12345" not in sqlite_target.metrics()


def test_bad_input_gets_4xx_json_never_500(sqlite_target: RunningTarget) -> None:
    c = httpx.Client(base_url=sqlite_target.url, timeout=10)
    cases = [
        c.post("/api/v1/documents", content=b"{not json", headers={"content-type":
                                                                    "application/json"}),
        c.post("/api/v1/documents", json={"title": ""}),
        c.post("/api/v1/documents", json={"title": "x", "surprise": 1}),
        c.get("/api/v1/documents/abc"),
        c.get("/api/v1/documents/-1"),
        c.get("/api/v1/documents/99999999999999999999999"),
        c.get("/api/v1/documents", params={"limit": 0}),
        c.get("/api/v1/documents/search"),
        c.post("/api/v1/documents/1/execution-records", json={"status": "bogus"}),
        c.get("/api/v1/documents/999999"),
        c.get("/api/v1/users/me"),
        c.get("/no/such/route"),
        c.put("/admin/faults", json={"rules": [{"error_ratio": 7}]}),
        c.put("/admin/faults", json={"rules": [{"latency": "2 sec"}]}),
    ]
    for r in cases:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
        assert "error" in r.json() or "detail" in r.json()
    assert 'status="500"} 1.0' not in sqlite_target.metrics()


def test_error_ratio_fault_yields_that_share_of_5xx(sqlite_target: RunningTarget) -> None:
    sqlite_target.set_faults([{"error_ratio": 0.2, "endpoints": ["/api/v1/documents"]}])
    c = httpx.Client(base_url=sqlite_target.url, timeout=10)
    codes = [c.get("/api/v1/documents").status_code for _ in range(500)]
    assert set(codes) <= {200, 500}
    text = sqlite_target.metrics()
    errors = metric(text, "http_requests_total", endpoint="/api/v1/documents", status="500")
    total = metric(text, "http_requests_total", endpoint="/api/v1/documents", method="GET")
    assert total == 500
    assert 0.15 <= errors / total <= 0.25
    # other endpoints are untouched
    assert all(c.get("/api/v1/documents/1").status_code == 200 for _ in range(50))


def test_blanket_http_faults_spare_the_probes_unless_named(sqlite_target: RunningTarget) -> None:
    # a run with error_ratio=0.05 once failed its own preflight: /ready drew an injected 500
    c = httpx.Client(base_url=sqlite_target.url, timeout=10)
    sqlite_target.set_faults([{"error_ratio": 1.0}])
    assert c.get("/api/v1/documents").status_code == 500
    assert [c.get(p).status_code for p in ("/ready", "/health") for _ in range(20)] == [200] * 40
    sqlite_target.set_faults([{"error_ratio": 1.0, "endpoints": ["/ready"]}])
    assert c.get("/ready").status_code == 500
    sqlite_target.set_faults([{"db_down": True}])  # a DB outage reaches the probes either way
    assert c.get("/ready").status_code == 503
    c.delete("/admin/faults")


def test_faults_switch_on_and_off_at_run_time(sqlite_target: RunningTarget) -> None:
    c = httpx.Client(base_url=sqlite_target.url, timeout=10)

    def timed(path: str) -> float:
        r = c.get(path)
        assert r.status_code == 200
        return r.elapsed.total_seconds()

    assert timed("/api/v1/documents/1") < 0.2
    sqlite_target.set_faults([{"latency": "uniform:300ms,400ms", "methods": ["GET"]}])
    assert c.get("/admin/faults").json()["rules"][0]["latency"] == "uniform:300ms,400ms"
    assert 0.3 <= timed("/api/v1/documents/1") < 1.0
    sqlite_target.set_faults([{"db_latency": "250ms"}])
    assert timed("/api/v1/documents/1") >= 0.25
    assert 'db_query_duration_seconds_bucket{le="0.1"}' in sqlite_target.metrics()
    sqlite_target.set_faults([{"db_down": True}])
    h = c.get("/health")
    assert h.status_code == 503 and h.json()["status"] == "degraded"
    assert c.get("/api/v1/documents/1").status_code == 503
    assert c.delete("/admin/faults").json() == {"rules": []}
    assert c.get("/health").status_code == 200
    assert timed("/api/v1/documents/1") < 0.2


def test_faults_set_at_start_from_the_command_line(tmp_path: Path) -> None:
    t = start_target(tmp_path, extra=["--latency", "200ms", "--fault-endpoint", "/health"])
    try:
        r = httpx.get(f"{t.url}/health", timeout=10)
        assert r.elapsed.total_seconds() >= 0.2
        r = httpx.get(f"{t.url}/api/v1/documents", timeout=10)
        assert r.elapsed.total_seconds() < 0.2
    finally:
        t.child.stop()


def test_openapi_description_lists_the_api(sqlite_target: RunningTarget) -> None:
    spec = httpx.get(f"{sqlite_target.url}/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/api/v1/documents", "/api/v1/documents/{id}", "/api/v1/documents/search",
            "/api/v1/documents/{id}/execution-records", "/api/v1/documents/{id}/attachments",
            "/health", "/ready"} <= paths


def test_kpi_and_listed_buckets_and_a_bad_list(tmp_path: Path) -> None:
    t = start_target(tmp_path, extra=["--http-buckets", "kpi", "--db-buckets", "0.05,0.1,1"])
    try:
        text = t.metrics()
    finally:
        t.child.stop()
    http = buckets_of(text, "http_request_duration_seconds")
    assert {"1.5", "1.75", "2.0", "2.5"} <= set(http)
    assert buckets_of(text, "db_query_duration_seconds") == ["0.05", "0.1", "1.0", "+Inf"]
    from typer.testing import CliRunner

    from loadtest.cli import app

    for bad, says in (("2,1", "strictly increasing"), ("0,1", "positive"),
                      ("fast", "use default, kpi or a list")):
        r = CliRunner().invoke(app, ["target", "--http-buckets", bad, "--port", "1"])
        assert r.exit_code == 2 and f"--http-buckets {bad!r}" in r.output and says in r.output
