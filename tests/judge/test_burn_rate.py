"""burn_rate objectives against a real Prometheus scraping the real reference target: judged
over a window, and live (through Prometheus alone) stopping a faulty run early."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from loadtest.judge.objectives import evaluate
from loadtest.metrics.base import Window
from loadtest.slo import parse_slo
from tests.support import ROOT, RunningTarget, ScrapedTarget

BURN = """\
version: 1
selector: {job: opscore-backend}
objectives:
  - {name: budget, kind: burn_rate, target: 0.999, long_window: 4s, short_window: 2s,
     factor: 14.4, min_samples: 20%s}
"""


def traffic(target: RunningTarget, seconds: float) -> Window:
    start = time.time()
    with httpx.Client(base_url=target.url, timeout=10) as c:
        i = 0
        while time.time() < start + seconds:  # bounded
            c.get(f"/api/v1/documents/{1 + i % 5}")
            i += 1
            time.sleep(0.01)
    return Window(start, time.time())


@pytest.mark.prometheus
def test_burn_rate_fails_with_5_percent_errors_and_passes_without(
        scraped_target: ScrapedTarget) -> None:
    target, src = scraped_target.target, scraped_target.source
    slo = parse_slo(BURN % "", "b.yaml")
    clean = traffic(target, 6)
    src.settle(clean, 10)
    ok = evaluate(slo, src, clean)[0]
    assert ok.status == "pass" and ok.value == 0, ok
    assert ok.extra["steps"] >= 2 and ok.comparison == "<" and ok.threshold == 14.4
    target.set_faults([{"error_ratio": 0.05}])
    faulty = traffic(target, 6)
    src.settle(faulty, 10)
    bad = evaluate(slo, src, faulty)[0]
    assert bad.status == "fail", bad
    assert 25 < bad.value < 100  # 5% errors over a 0.1% budget: 50x
    assert bad.extra["fired_at_offsets_s"] and "burned >= 14.4x" in bad.detail


@pytest.mark.prometheus
def test_burn_rate_with_abort_after_stops_a_faulty_run_early(scraped_target: ScrapedTarget,
                                                             tmp_path: Path) -> None:
    """Judged live through Prometheus alone (--metrics-url none: no scrapes of its own)."""
    target, prom = scraped_target.target, scraped_target.prometheus
    target.set_faults([{"error_ratio": 0.05}])
    # a 3 s short window: at 2 s its increase rests on two scrapes 1 s apart, and 2 errors/s
    # show none there 13.5% of the time (a "pass" that restarts abort_after: 24 s seen once)
    (tmp_path / "slo.yaml").write_text(
        BURN.replace("long_window: 4s", "long_window: 6s").replace(
            "short_window: 2s", "short_window: 3s") % ", abort_after: 3s")
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--target", target.url,
                        "--prometheus", prom.url, "--metrics-url", "none",
                        "--slo", str(tmp_path / "slo.yaml"), "--duration", "60s",
                        "--warmup", "2s", "--rate", "40", "--out", str(tmp_path / "out")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    ended = time.time()
    assert p.returncode == 1 and "aborted at" in p.stdout, p.stdout + p.stderr
    r = json.loads((tmp_path / "out" / "latest" / "results.json").read_text())
    assert r["load"]["aborted"]["objective"] == "budget"
    assert ended - r["run"]["load_started"] < 30  # of a 62 s run
    assert r["objectives"][0]["status"] == "fail" and r["objectives"][0]["metrics_source"] \
        == "prometheus"
    assert r["verdict"]["reason"].startswith("aborted at +")
