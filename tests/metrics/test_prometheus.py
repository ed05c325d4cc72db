"""The Prometheus source against a real Prometheus scraping the real reference target, and
the embedded source's figures against it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from loadtest.metrics.base import Matcher, Window
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.histogram import histogram_quantile
from loadtest.metrics.prometheus import PrometheusSource
from tests.support import ROOT, ScrapedTarget

pytestmark = pytest.mark.prometheus
JOB = (Matcher("job", "=", "opscore-backend"),)


def test_figures_from_prometheus_and_embedded_agree(scraped_target: ScrapedTarget,
                                                    tmp_path: Path) -> None:
    sqlite_target, src = scraped_target.target, scraped_target.source
    embedded = EmbeddedSource(f"{sqlite_target.url}/metrics",
                              record_path=tmp_path / "snaps.jsonl.gz")
    try:
        assert src.ready()
        embedded.start()
        sqlite_target.set_faults([{"latency": "uniform:0ms,10ms",
                                   "endpoints": ["/api/v1/documents/{id}"]}])
        time.sleep(1.5)
        ws = time.time()
        embedded.at_window_start(ws)
        c = httpx.Client(base_url=sqlite_target.url, timeout=10)
        # documents that exist now (the target is shared: a run before may have deleted some)
        ids = [d["id"] for d in c.get("/api/v1/documents", params={"limit": 10}).json()["items"]]
        assert len(ids) >= 5, ids
        n = 0
        while time.time() < ws + 10:  # bounded: 10 s of sequential requests
            assert c.get(f"/api/v1/documents/{ids[n % len(ids)]}").status_code == 200
            n += 1
        time.sleep(max(0.0, ws + 10 - time.time()))
        window = Window(ws, time.time())
        embedded.at_window_end(window.end)
        # Prometheus answers about the future without error: settle first
        src.settle(window, timeout_s=10)
        # resources from Prometheus (no own scrapes): a counter as a rate, a gauge that only
        # Prometheus has (`up`), each against its limit
        from loadtest.judge.resources import measure
        from loadtest.slo import ResourceSpec, load_slo

        slo = load_slo(ROOT / "slo" / "opscore.yaml").model_copy(update={"resources": [
            ResourceSpec(name="cpu", metric="process_cpu_seconds_total", kind="counter",
                         limit=1),
            ResourceSpec(name="up", metric="up", limit=1)]})
        used = {r["name"]: r for r in measure(slo, None, src, window)}
        assert 0 < used["cpu"]["value"] < 1.5 and used["cpu"]["source"] == "prometheus"
        assert used["up"]["value"] == 1.0 and used["up"]["utilization"] == 1.0
        ep = (Matcher("endpoint", "=", "/api/v1/documents/{id}"),)
        count = src.increase("http_requests_total", JOB + ep, window).value
        # requests only inside the window: the summed series extrapolated to the edges from
        # its rate inside, bounded by the scrapes outside (0 before, the final count after)
        assert count is not None and abs(count - n) <= 0.02 * n, (count, n)
        e_count = embedded.increase("http_requests_total", JOB + ep, window).value
        assert e_count == n  # edge scrapes at the window's edges: exact
        buckets, _ = src.buckets("http_request_duration_seconds", JOB + ep, window)
        assert buckets is not None and "2.5" in buckets  # the Go client's default bounds
        q = src.quantile(0.95, "http_request_duration_seconds", JOB + ep, window).value
        assert q is not None
        # the figure is histogram_quantile over those buckets; Prometheus' own over its
        # increase() of the same histogram is within 5%
        assert histogram_quantile(0.95, buckets) == pytest.approx(q, rel=1e-9)
        own = src.scalar("histogram_quantile(0.95, sum by (le) (increase(http_request_duration"
                         f"_seconds_bucket{{job=\"opscore-backend\",endpoint=\"/api/v1/"
                         f"documents/{{id}}\"}}[{window.range_ms}ms])))", window.end)
        assert own is not None and abs(own - q) <= 0.05 * own, (own, q)
        eq = embedded.quantile(0.95, "http_request_duration_seconds", JOB + ep, window).value
        assert eq is not None and abs(eq - q) <= 0.05 * q
        # no data stays no data
        assert src.increase("no_such_metric_total", JOB, window).value is None
        assert src.quantile(0.95, "no_such_seconds", JOB, window).value is None
    finally:
        embedded.close()
    # the recorded scrapes judge the same window again
    again = EmbeddedSource.from_file(tmp_path / "snaps.jsonl.gz")
    assert again.increase("http_requests_total", JOB + ep, window).value == n


def test_unreachable_prometheus_is_a_clear_source_error() -> None:
    from loadtest.metrics.base import SourceError
    from loadtest.stack.processes import free_port

    src = PrometheusSource(f"http://127.0.0.1:{free_port()}", JOB, timeout_s=2)
    assert not src.ready()
    with pytest.raises(SourceError, match="did not answer"):
        src.increase("http_requests_total", JOB, Window(time.time() - 10, time.time()))
