"""A target or a Prometheus that answers badly (non-UTF-8, huge, endless, slow): each request
is bounded in time and memory, and the harness says what happened instead of hanging."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest.errors import TargetUnreachable
from loadtest.metrics.base import SourceError, Window
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.stack.servers import preflight_target
from tests.support import ROOT
from tests.support.hostile import hostile_server

HEALTHY = 'json:{"status":"healthy","checks":{}}'
METRICS = "json:" + "\n".join([
    "# TYPE http_requests_total counter",
    'http_requests_total{method="GET",endpoint="/x",status="200"} 5', ""])


def test_a_probe_answering_non_utf8_is_read_not_crashed_on() -> None:
    with hostile_server({"/health": "nonutf8", "/ready": "nonutf8"}) as url:
        assert preflight_target(url) == {}  # answered 200: ready, no parsable checks


@pytest.mark.parametrize("mode, expect", [("endless", "still sending"),
                                          ("huge:3", "more than 1 MB"),
                                          ("slow:30", "ReadTimeout")])
def test_a_probe_that_never_ends_is_refused_in_bounded_time(mode: str, expect: str) -> None:
    with hostile_server({"/health": mode, "/ready": HEALTHY}) as url:
        t0 = time.monotonic()
        with pytest.raises(TargetUnreachable, match=expect):
            preflight_target(url, timeout_s=1.0)
        assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("mode, expect", [("nonutf8", None), ("endless", "still sending"),
                                          ("huge:40", "more than 32 MB"),
                                          ("status:500", "HTTP 500")])
def test_embedded_scrapes_of_a_hostile_metrics_page_fail_cleanly(mode: str,
                                                                 expect: str | None) -> None:
    with hostile_server({"/metrics": mode}) as url:
        src = EmbeddedSource(f"{url}/metrics", deadline_s=1.0)
        src.start()
        try:
            t0 = time.monotonic()
            snap = src.scrape_now()
            assert time.monotonic() - t0 < 3
        finally:
            src.close()
        assert not snap.ok  # up == 0 for that scrape, never a crash of the scraper
        if expect:
            assert snap.error is not None and expect in snap.error, snap.error


def test_embedded_scrapes_of_a_good_page_still_work() -> None:
    with hostile_server({"/metrics": METRICS}) as url:
        src = EmbeddedSource(f"{url}/metrics")
        src.start()
        try:
            snap = src.scrape_now()
        finally:
            src.close()
        assert snap.ok, snap.error
        assert 5.0 in snap.values.values()


@pytest.mark.parametrize("mode, expect", [("slow:30", "did not answer"),
                                          ("endless", "still sending"),
                                          ("nonutf8", "garbage")])
def test_a_prometheus_answering_slowly_or_forever_is_bounded(mode: str, expect: str) -> None:
    with hostile_server({"/api/v1/query": mode}) as url:
        src = PrometheusSource(url, timeout_s=1.0)
        t0 = time.monotonic()
        with pytest.raises(SourceError, match=expect):
            src.scalar("up", time.time())
        # one retry on a timeout at most: two reads of a 1 s timeout, plus a backoff
        assert time.monotonic() - t0 < 6
        w = Window(time.time() - 10, time.time())
        with pytest.raises(SourceError):
            src.increase("http_requests_total", (), w)


@pytest.mark.slow
def test_a_run_against_a_target_that_never_finishes_its_answers(tmp_path: Path) -> None:
    """Lists answer bytes that are not UTF-8, every other API call streams forever: the run
    ends on time, each stuck request is a failed sample after --request-timeout, and the
    non-JSON answers are failures too."""
    routes = {"/health": HEALTHY, "/ready": HEALTHY, "/metrics": METRICS,
              "/api": "endless", "/api/v1/documents": "nonutf8"}
    routes["/api/v1/documents/"] = "endless"
    with hostile_server(routes) as url:
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--target", url,
                            "--metrics-source", "embedded", "--rate", "20", "--duration", "3s",
                            "--warmup", "1s", "--request-timeout", "1s", "--out",
                            str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        elapsed = time.monotonic() - t0
    assert p.returncode in (1, 3), p.stderr
    assert elapsed < 40, f"the run took {elapsed:.0f} s"
    r = json.loads((tmp_path / "latest" / "results.json").read_text())
    errors = {e["example"].split(":")[0]: e for e in r["client"]["errors"]}
    assert "RequestTimeout" in errors and "CatchResponseError" in errors, errors
    assert "no whole answer within 1 s" in errors["RequestTimeout"]["example"]
    assert "not the API's JSON" in errors["CatchResponseError"]["example"]
    totals = r["client"]["totals"]
    assert totals["failures"] >= 0.8 * totals["requests"] > 0
    assert totals["latency_ms"]["p99"] < 1500  # the deadline held, body included
