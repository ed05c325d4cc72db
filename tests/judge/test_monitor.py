"""Objectives while the load runs (monitor.py): the real embedded source fed synthetic scrapes,
ticked by hand; then real runs against the reference target (an abort, a healthy run: side by
side)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from loadtest.judge.monitor import ObjectiveMonitor
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.exposition import Snapshot, parse_exposition
from loadtest.slo import parse_slo
from tests.support import ROOT

T0 = 1_800_000_000.0
SLO = """\
version: 1
selector: {job: opscore-backend}
objectives:
  - {name: p95, kind: latency, quantile: 0.95, threshold: 1s, abort_after: 5s, min_samples: 10}
  - {name: p95_warn, kind: latency, quantile: 0.95, threshold: 1s, abort_after: 2s,
     min_samples: 10, severity: warn}
  - {name: raw, kind: promql, query: 'sum(up[$window])', op: ">", threshold: 0,
     abort_after: 2s}
  - {name: missing, kind: latency, quantile: 0.95, threshold: 1s, abort_after: 2s,
     endpoint: /nowhere}
"""


def scrapes(slow_seconds: set[int], seconds: int = 40) -> EmbeddedSource:
    """One scrape a second from T0 - 1: 20 requests a second, within 100 ms, or > 1 s in
    `slow_seconds` (seconds since T0)."""
    fast = slow = 0
    snaps = []
    for s in range(-1, seconds):
        if s >= 0:
            if s in slow_seconds:
                slow += 20
            else:
                fast += 20
        n = fast + slow
        text = "".join(
            f'http_request_duration_seconds_bucket{{endpoint="/x",le="{le}"}} {c}\n'
            for le, c in (("0.1", fast), ("1.0", fast), ("5.0", n), ("+Inf", n)))
        text += "process_start_time_seconds 1000\n"
        snaps.append(Snapshot(t=T0 + s, values=parse_exposition(
            text, {"job": "opscore-backend", "instance": "t:1"})))
    return EmbeddedSource(None, snapshots=snaps)


def ticks(monitor: ObjectiveMonitor, until: int) -> list[float]:
    """Tick once a second from T0 + 1; the times a tick found p95 failing."""
    failing = []
    for s in range(1, until):
        monitor.tick(T0 + s)
        if monitor.tracks[0].state == "fail":
            failing.append(T0 + s)
        if monitor.abort is not None:
            break
    return failing


def monitor(src: EmbeddedSource, tmp_path: Path, abort: bool = True) -> ObjectiveMonitor:
    return ObjectiveMonitor(parse_slo(SLO, "s.yaml"), src, src, tmp_path, window_start=T0,
                            run_start=T0 - 2, abort=abort)


def test_a_breach_for_the_whole_abort_after_stops_the_run(tmp_path: Path) -> None:
    m = monitor(scrapes(set(range(12, 40))), tmp_path)
    failing = ticks(m, 40)
    assert m.abort is not None and m.abort.objective == "p95"  # never the warn objective
    assert m.abort.at - failing[0] == 5.0 and m.abort.at == failing[-1]
    assert m.abort.reason(T0 - 2).startswith(f"aborted at +{m.abort.at - T0 + 2:.0f} s: p95 "
                                             "breached for 5 s")
    assert m.abort.figures["value"] > 1 and m.abort.figures["threshold"] == 1.0
    states = dict(part.rsplit(" ", 1) for part in m.status_text().split("  "))
    assert states == {"p95": "FAIL", "p95_warn": "FAIL", "raw": "-", "missing": "-"}
    record = {o["name"]: o for o in m.record()["objectives"]}
    assert record["p95"]["first_breach"]["at"] == failing[0]
    assert record["raw"]["first_breach"] is None and record["missing"]["first_breach"] is None


def test_a_shorter_breach_or_no_abort_never_stops_the_run(tmp_path: Path) -> None:
    # one slow second fails every 5 s window holding it: 4 s of failing evaluations
    m = monitor(scrapes({12}), tmp_path)
    failing = ticks(m, 40)
    assert failing and failing[-1] - failing[0] < 5 and m.abort is None
    assert m.tracks[0].state == "pass"  # recovered
    m = monitor(scrapes(set(range(12, 40))), tmp_path, abort=False)  # --no-abort
    failing = ticks(m, 40)
    assert m.abort is None and len(failing) > 20


def test_a_figure_it_cannot_compute_is_never_a_breach(tmp_path: Path) -> None:
    src = scrapes(set(range(40)))
    src._snapshots[20:] = [Snapshot(t=T0 + 19 + i, values={}, ok=False)
                           for i in range(1, 21)]  # the target's /metrics fails from +19 s
    m = monitor(src, tmp_path)
    m.tracks[0].abort_after_s = 30.0  # would abort only after 30 s of failing figures
    ticks(m, 40)
    assert m.abort is None and m.tracks[0].state == "-"
    assert [c[1] for c in m.tracks[0].changes] == ["fail", "-"]


def run(tmp_path: Path, slo: str, *args: str, timeout: float = 150
        ) -> tuple[subprocess.CompletedProcess[str], dict, float]:
    (tmp_path / "slo.yaml").write_text(slo)
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--slo",
                        str(tmp_path / "slo.yaml"), "--out", str(tmp_path / "out"),
                        "--metrics-source", "embedded", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=timeout, check=False)
    ended = time.time()
    return p, json.loads((tmp_path / "out" / "latest" / "results.json").read_text()), ended


@pytest.mark.usefixtures("healthy_run")  # the healthy run, made meanwhile
def test_a_slow_target_stops_a_120s_run_early_with_the_reason(tmp_path: Path) -> None:
    slo = """\
version: 1
selector: {job: opscore-backend}
objectives:
  - {name: response_time_p95, kind: latency, quantile: 0.95, threshold: 2s, abort_after: 5s,
     min_samples: 20}
  - {name: error_rate, kind: error_rate, max: 0.01, min_samples: 20}
  - {name: client_p95, kind: client, metric: latency, quantile: 0.95, threshold: 2s,
     min_samples: 20}
"""
    p, r, ended = run(tmp_path, slo, "--target-fault", "latency=3s", "--duration", "120s",
                      "--warmup", "2s", "--rate", "20", "--users", "90")
    assert p.returncode == 1, p.stdout + p.stderr
    assert ended - r["run"]["load_started"] < 40
    aborted = r["load"]["aborted"]
    assert aborted["objective"] == "response_time_p95" and aborted["breached_for_s"] >= 5
    assert aborted["figures"]["value"] > 2 and aborted["figures"]["threshold"] == 2
    assert r["verdict"]["reason"].startswith(f"aborted at +{aborted['offset_s']:.0f} s: "
                                             "response_time_p95 breached for ")
    assert r["run"]["window"]["end"] <= aborted["at"] + 1.5  # cut at the abort
    objs = {o["name"]: o for o in r["objectives"]}
    assert objs["response_time_p95"]["status"] == "fail" and objs["response_time_p95"][
        "samples"] >= 50  # server figures up to the abort kept
    assert objs["client_p95"]["status"] == "fail" and r["client"]["totals"]["requests"] >= 50
    assert objs["error_rate"]["status"] == "pass"
    html = (tmp_path / "out" / "latest" / "index.html").read_text()
    assert "<h2>Aborted</h2>" in html and "response_time_p95 first FAIL +" in html
    assert f"aborted +{aborted['offset_s']:.0f} s (response_time_p95)" in html
    assert "Aborted at" in (tmp_path / "out" / "latest" / "summary.md").read_text()
    v = subprocess.run([sys.executable, "-m", "loadtest", "verify",  # judged again: still
                        str((tmp_path / "out" / "latest").resolve())], cwd=ROOT,  # aborted
                       capture_output=True, text=True, timeout=60, check=False)
    assert v.returncode == 1 and "FAIL: aborted at +" in v.stdout, v.stdout + v.stderr


HEALTHY = """\
version: 1
selector: {job: opscore-backend}
objectives:
  - {name: p95, kind: latency, quantile: 0.95, threshold: 2s, abort_after: 3s, min_samples: 20}
  - {name: rate, kind: throughput, min: 40, tolerance: 0.05, abort_after: 3s}
  - {name: errors, kind: error_rate, max: 0.01, min_samples: 20, abort_after: 3s}
  - {name: db, kind: db_latency, quantile: 0.95, threshold: 100ms, min_samples: 20,
     abort_after: 3s}
  - {name: budget, kind: burn_rate, target: 0.999, long_window: 6s, short_window: 2s,
     factor: 14.4, min_samples: 20, abort_after: 3s}
  - {name: client, kind: client, metric: latency, quantile: 0.95, threshold: 1s,
     min_samples: 20, abort_after: 3s}
"""


@pytest.fixture(scope="module")
def healthy_run(tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Future[tuple[subprocess.CompletedProcess[str], dict, float]]]:
    """Made in the background from the slow-target test's start (which asks for this
    fixture for that reason: that run mostly waits on its target's 3 s answers, 20 req/s)."""
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(run, tmp_path_factory.mktemp("healthy"), HEALTHY, "--duration", "6s",
                          "--warmup", "2s", "--rate", "40")


def test_a_healthy_run_with_abort_after_everywhere_is_not_aborted(
        healthy_run: Future[tuple[subprocess.CompletedProcess[str], dict, float]]) -> None:
    p, r, _ = healthy_run.result()
    assert p.returncode == 0, p.stdout + p.stderr
    assert "aborted" not in r["load"]
    live = {o["name"]: o for o in r["live"]["objectives"]}
    assert all(o["first_breach"] is None for o in live.values()), live
    assert all(o["state"] == "pass" for o in live.values()), live  # every kind judged live
    assert not r["live"]["errors"]
