"""Verdicts that settle (`loadtest run --settle`): the sequential test on made-up blocks, and
two real runs side by side, each against its own reference target (healthy: settled passed; a
3 s latency: settled failed), each judged over the window that ran, as without --settle."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from loadtest.judge.sequential import MIN_BLOCKS, Evidence, Settler, Settling, cs_halfwidth
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.exposition import Snapshot
from loadtest.reports.view import settle_text
from loadtest.slo import load_slo
from tests.support import ROOT, RunningTarget, loadtest, results_of, start_target


def test_the_confidence_sequence_narrows_and_never_collapses() -> None:
    widths = [cs_halfwidth(0.01, t, 0.05) for t in (10, 20, 40, 80)]
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0
    # valid at every block at once: wider than a fixed-time 95% interval (1.96 sd/sqrt(t))
    assert cs_halfwidth(0.01, 20, 0.05) > 1.96 * 0.1 / 20 ** 0.5
    identical = Evidence()
    for _ in range(12):
        identical.add(1.0, 100)  # every request within: the block variance is 0
    assert identical.variance() > 0  # no certainty from nothing: independent requests' floor
    lo, hi = identical.interval(0.05)
    assert lo > 0.95 and hi > 1.0


def settle(shares: list[float], target: float = 0.95, above: bool = True,
           requests: int = 100) -> Settling:
    track = Settling("p95", "client", "client", target, above)
    for i, x in enumerate(shares, start=1):
        track.low.add(x, requests)
        track.high.add(x, requests)
        track.decide(float(i), 0.05)
    return track


def test_decisions_wait_for_ten_blocks_and_a_clear_side() -> None:
    fast = settle([1.0] * 30)
    assert fast.status == "pass" and fast.at == MIN_BLOCKS  # not before the minimum
    slow = settle([0.2] * 30)
    assert slow.status == "fail" and slow.at == MIN_BLOCKS
    # blocks that straddle the target: never decided, judged at the end
    borderline = settle([0.93, 0.97] * 30)
    assert borderline.status is None
    errors = settle([0.0] * 15, target=0.01, above=False)
    assert errors.status == "pass"
    assert settle([0.05] * 15, target=0.01, above=False).status == "fail"
    rec = fast.record(0.0)
    assert rec["blocks"] == 30 and rec["at_s"] == 10 and rec["interval"][0] > 0.95
    text = settle_text({"confidence": 0.95, "settled_at_s": 10.0, "planned_window_s": 60.0,
                        "saved_s": 50.0, "objectives": [rec], "at_end_only": ["alerts"]})
    assert text.startswith("settled after 10 s of the 60 s window at 95% confidence (50 s "
                           "saved): p95 pass at 10 s (30 blocks); alerts judged at the end")


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, Future[tuple[subprocess.CompletedProcess[str], Path]]]]:
    """The two runs side by side, each against its own reference target (the slow one's
    carries a 3 s latency on /api/*); each test reads its own run."""
    healthy = start_target(tmp_path_factory.mktemp("settle-healthy-target"))
    slow = start_target(tmp_path_factory.mktemp("settle-slow-target"))

    def settle_run(target: RunningTarget, out: Path
                   ) -> tuple[subprocess.CompletedProcess[str], Path]:
        return loadtest("run", "--settle", "--target", target.url, "--warmup", "2s",
                        "--metrics-source", "embedded", "--out", str(out)), out

    try:
        slow.set_faults([{"latency": "3s", "endpoints": ["/api/*"]}])
        with ThreadPoolExecutor(2) as pool:
            yield {"healthy": pool.submit(settle_run, healthy, tmp_path_factory.mktemp("healthy")),
                   "slow": pool.submit(settle_run, slow, tmp_path_factory.mktemp("slow"))}
    finally:
        healthy.child.stop()
        slow.child.stop()


@pytest.mark.slow
def test_a_healthy_service_settles_passed_early(
        settled: dict[str, Future[tuple[subprocess.CompletedProcess[str], Path]]]) -> None:
    p, out = settled["healthy"].result()
    assert p.returncode == 0, p.stdout + p.stderr
    r = results_of(out)
    s = r["settle"]
    # early: 10 s (the minimum); beside the slow run its throughput took 26 s and 36 s while
    # a 36 ms block at the window's start counted as one (sequential.py: no short block)
    assert s["settled_at_s"] is not None and r["run"]["window"]["seconds"] < 25
    assert s["saved_s"] > 35 and s["planned_window_s"] == 60
    assert {o["status"] for o in s["objectives"]} == {"pass"}
    assert {o["name"] for o in s["objectives"]} == {o["name"] for o in r["objectives"]}
    assert {o["status"] for o in r["objectives"]} == {"pass"}  # judged as without --settle
    assert "settled after" in p.stderr and "s saved" in p.stderr
    assert "Sequential: settled after" in (out / "latest" / "summary.md").read_text()


@pytest.mark.slow
def test_a_slow_service_settles_failed_early(
        settled: dict[str, Future[tuple[subprocess.CompletedProcess[str], Path]]]) -> None:
    p, out = settled["slow"].result()
    assert p.returncode == 1, p.stdout + p.stderr
    r = results_of(out)
    assert r["run"]["window"]["seconds"] < 15
    latency = next(o for o in r["settle"]["objectives"] if o["name"] == "response_time_p95")
    assert latency["status"] == "fail" and latency["interval"][1] < 0.95
    assert "response_time_p95" in r["verdict"]["reason"]


def test_a_scrape_at_the_windows_edge_makes_no_short_block() -> None:
    """The harness scrapes the window's start besides its periodic scrapes: 36 ms apart, a
    block of 3 requests where 3.7 were asked (0.82) widened a healthy run's throughput
    interval until 36 s of its window. Blocks are whole intervals; 100 req/s, exactly."""
    start = 1_000.0
    key = ("http_requests_total", (("job", "opscore-backend"), ("status", "200")))
    times = sorted([start - 1.036 + k for k in range(25)] + [start, start + 20.0])
    served = [Snapshot(t, {key: float(math.floor((t - start + 5.008) * 100))}) for t in times]
    slo = load_slo(ROOT / "slo" / "opscore.yaml")
    settler = Settler(slo, start, has_scrapes=True)
    scrapes = EmbeddedSource(None, interval_s=1.0, snapshots=served)
    settler.server_blocks(scrapes)
    track = settler.tracks["throughput"]
    # from the edge scrape at `start` to the last; the one at start + 20 is not a boundary
    assert track.low.blocks == 23
    assert track.low.mean > 0.99 and track.low.variance() < 1e-4
    track.decide(start + 19, settler.alpha)
    assert track.status == "pass"
