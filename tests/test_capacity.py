"""`loadtest capacity` on the reference target with an injected capacity limit: at most 2
requests in service, each held 20 ms, so about 2 / 0.0225 s = ~89 req/s of API traffic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT


@pytest.mark.slow
def test_capacity_finds_an_injected_limit(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "loadtest", "capacity", "--start-rate", "25", "--max-rate",
         "400", "--step-duration", "4s", "--step-warmup", "1s", "--precision", "0.2",
         "--target-fault", "max_concurrency=2", "--target-fault", "latency=20ms",
         "--target-fault", "endpoints=/api/*", "--metrics-source", "embedded",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert p.returncode == 1, p.stderr + p.stdout  # below the SLO file's 100 req/s
    r = json.loads((tmp_path / "latest" / "results.json").read_text())
    cap = r["capacity"]
    assert cap["require"] == 100
    # the true limit is 2 / (20 ms + the target's own service time): 80-100 req/s
    assert 60 <= cap["rate"] <= 100
    assert cap["first_fail"] > cap["rate"]
    assert (cap["first_fail"] - cap["rate"]) / cap["rate"] <= 0.2   # the requested precision
    assert cap["first_broken"]
    offered = [s["offered_rate"] for s in r["steps"]]
    assert offered[:3] == [25, 50, 100] and max(offered) <= 400
    passing = [s for s in r["steps"] if s["status"] == "pass"]
    assert all(abs(s["completed_rate"] - s["offered_rate"]) <= 0.05 * s["offered_rate"]
               for s in passing)
    html = (tmp_path / "latest" / "index.html").read_text()
    assert "Latency vs achieved throughput" in html and "capacity" in html
    assert "broke first at" in p.stdout


def test_target_concurrency_cap_queues_requests(tmp_path: Path) -> None:
    import concurrent.futures
    import time

    import httpx

    from tests.support import start_target

    t = start_target(tmp_path, extra=["--max-concurrency", "2", "--latency", "100ms",
                                      "--fault-endpoint", "/api/*"])
    try:
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda i: httpx.get(f"{t.url}/api/v1/documents/1",
                                                      timeout=10).status_code, range(8)))
        elapsed = time.monotonic() - started
        assert codes == [200] * 8
        assert elapsed >= 0.4  # 8 requests, 2 at a time, 100 ms each
        assert httpx.get(f"{t.url}/health", timeout=5).elapsed.total_seconds() < 0.1
    finally:
        t.child.stop()
