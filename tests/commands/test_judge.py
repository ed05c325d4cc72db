"""One SLO file from the load test to the canary (#35), against the shared Prometheus scraping
the reference target: an OpenSLO file gates `loadtest run` as its native equivalent does
(same figures within 0.1 percentage point, exit 0 healthy, exit 1 with 5% errors);
`loadtest judge` judges the run's traffic afterwards with the run's verdict; a canary
selector with 5% errors fails against a clean stable one and two clean ones pass. The canary
and stable versions are told apart by a label the reference target has (`endpoint`), as a
rollout's would be by `version`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ROOT, ScrapedTarget, scraped

OPENSLO = """\
apiVersion: openslo/v1
kind: DataSource
metadata: {name: prometheus}
spec: {type: Prometheus, connectionDetails: {url: "http://prometheus:9090"}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: availability}
spec:
  service: opscore
  budgetingMethod: Occurrences
  timeWindow: [{duration: 28d, isRolling: true}]
  indicator:
    metadata: {name: non-5xx}
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            metricSourceRef: prometheus
            spec: {query: 'sum(http_requests_total{job="opscore-backend",status!~"5.."})'}
        total:
          metricSource:
            metricSourceRef: prometheus
            spec: {query: 'sum(http_requests_total{job="opscore-backend"})'}
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: latency}
spec:
  service: opscore
  budgetingMethod: Occurrences
  indicator:
    metadata: {name: within-250ms}
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec: {query: 'sum(http_request_duration_seconds_bucket{job="opscore-backend",le="0.25"})'}
        total:
          metricSource:
            type: Prometheus
            spec: {query: 'sum(http_request_duration_seconds_count{job="opscore-backend"})'}
  objectives: [{targetPercent: 95}]
"""

NATIVE = """\
version: 1
selector: {job: opscore-backend}
objectives:
  - {name: p95, kind: latency, quantile: 0.95, threshold: 250ms}
  - {name: errors, kind: error_rate, max: 0.01}
"""


def loadtest(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadtest", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def results(out: Path) -> dict[str, Any]:
    return json.loads((out / "latest" / "results.json").read_text())


def by_name(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in r["objectives"]}


def gate(scraped: ScrapedTarget, tmp: Path, name: str, warmup: str = "2s"
         ) -> tuple[int, dict[str, Any]]:
    """`loadtest run --slo openslo.yaml` against the shared target and Prometheus, then the
    same window judged by the native file (`verify`): the two judgements' figures."""
    out = tmp / name
    p = loadtest("run", "--target", scraped.target.url, "--prometheus",
                 scraped.prometheus.url, "--slo", str(tmp / "openslo.yaml"), "--rate", "60",
                 "--duration", "6s", "--warmup", warmup, "--out", str(out),
                 "--scenario", str(ROOT / "tests" / "locustfiles" / "plain_http.py"),
                 "--", "--tags", "read")  # one route: see the faulty run's warm-up
    assert (out / "latest").exists(), p.stdout + p.stderr
    run = results(out)
    v = loadtest("verify", str(out / "latest"), "--slo", str(tmp / "native.yaml"),
                 "--prometheus", scraped.prometheus.url)
    assert v.returncode == p.returncode, p.stdout + p.stderr + v.stdout + v.stderr
    verify_dir = next((out / "latest" / "verify").iterdir())
    native = by_name(json.loads((verify_dir / "results.json").read_text()))
    o = by_name(run)
    assert o["availability"]["kind"] == "ratio" and o["availability"]["samples"] > 200
    # the same error share as the native objective and as the load generator's own count of
    # its 5xx answers, within a percentage point: at 5% of 60 req/s over 6 s the errors are
    # ~18 counts, and the two server figures estimate the window's edges from them
    # differently (the OpenSLO query's increase over a subquery of the summed series; the
    # native figure each target's series summed, extrapolated within the scrapes around
    # each edge)
    totals = run["client"]["totals"]
    client_share = totals["server_errors"] / totals["requests"]
    for share in (1 - o["availability"]["value"], native["errors"]["value"]):
        assert math.isclose(share, client_share, abs_tol=0.01), (share, client_share)
    assert math.isclose(o["latency"]["value"],
                        native["p95"]["extra"]["ratio_within_threshold"], abs_tol=0.001)
    assert native["p95"]["exact"] is True  # 250 ms is a bucket bound: the ratio decides
    return p.returncode, run


@pytest.mark.slow
@pytest.mark.prometheus
@pytest.mark.usefixtures("canary_traffic")  # the canary test's traffic, made meanwhile
def test_openslo_gates_a_run_as_its_native_equivalent_and_judge_agrees(
        scraped_target: ScrapedTarget, tmp_path: Path) -> None:
    (tmp_path / "openslo.yaml").write_text(OPENSLO)
    (tmp_path / "native.yaml").write_text(NATIVE)
    code, run = gate(scraped_target, tmp_path, "healthy")
    assert code == 0, run["verdict"]
    assert any("timeWindow 28d (rolling) not used" in w for w in run["warnings"])
    assert any("DataSource prometheus: url http://prometheus:9090 recorded" in w
               for w in run["warnings"])
    # the run's traffic judged afterwards, by a command that made no load
    since = math.ceil(time.time() - run["run"]["window"]["start"])
    out = tmp_path / "judged"
    p = loadtest("judge", "--prometheus", scraped_target.prometheus.url, "--slo",
                 str(tmp_path / "openslo.yaml"), "--last", f"{since}s", "--out", str(out))
    assert p.returncode == 0 and p.stdout.startswith("PASS"), p.stdout + p.stderr
    judged = results(out)
    assert judged["kind"] == "judge" and judged["run"]["made_load"] is False
    assert judged["judged"]["made_load"] is False and judged["client"] == {}
    assert (out / "latest" / "index.html").is_file() and (out / "latest" / "junit.xml").is_file()
    assert math.isclose(by_name(judged)["availability"]["value"],
                        by_name(run)["availability"]["value"], abs_tol=0.001)

    # errors from the warm-up on, on the one route the load reads
    scraped_target.target.set_faults([{"error_ratio": 0.05}])
    code, run = gate(scraped_target, tmp_path, "faulty", warmup="4s")
    assert code == 1 and "availability" in run["verdict"]["reason"], run["verdict"]
    assert 0.90 < by_name(run)["availability"]["value"] < 0.99
    assert by_name(run)["latency"]["status"] == "pass"
    w = run["run"]["window"]
    p = loadtest("judge", "--prometheus", scraped_target.prometheus.url, "--slo",
                 str(tmp_path / "openslo.yaml"), "--from", str(w["start"]), "--to",
                 str(w["end"]), "--out", str(out))
    assert p.returncode == 1 and "availability" in p.stdout, p.stdout + p.stderr


FAULTY, STABLE, CLEAN = ("/api/v1/documents/{id}", "/api/v1/documents/{id}/execution-records",
                         "/api/v1/documents/{id}/attachments")


def canary_and_stable(s: ScrapedTarget) -> tuple[ScrapedTarget, float, float]:
    """22 s of traffic, three requests a turn: the canary (5% errors), stable and a clean
    canary; the window's start and end."""
    s.target.set_faults([{"error_ratio": 0.05, "endpoints": [FAULTY]}])
    start = time.time()
    with httpx.Client(base_url=s.target.url, timeout=10) as c:
        i = 0
        while time.time() < start + 22:  # bounded: 22 s, three requests a turn
            doc = 1 + i % 5
            for path in ("", "/execution-records", "/attachments"):
                c.get(f"/api/v1/documents/{doc}{path}")
            i += 1
            time.sleep(0.01)
    return s, start, time.time()


@pytest.fixture(scope="module")
def canary_traffic(prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Future[tuple[ScrapedTarget, float, float]]]:
    """The canary's traffic on a target and Prometheus of their own (its faults are not the
    OpenSLO test's), both started and driven in the background from the OpenSLO test's
    start, which asks for this fixture for that reason: the two tests' ~28 s and ~30 s
    overlap. The servers stop after the canary test."""
    workdir = tmp_path_factory.mktemp("canary")
    with ExitStack() as servers, ThreadPoolExecutor(1) as pool:
        yield pool.submit(lambda: canary_and_stable(servers.enter_context(scraped(workdir))))


@pytest.mark.prometheus
def test_a_canary_with_5_percent_errors_fails_against_stable_and_a_clean_one_passes(
        canary_traffic: Future[tuple[ScrapedTarget, float, float]], tmp_path: Path) -> None:
    scraped_target, start, end = canary_traffic.result()
    (tmp_path / "native.yaml").write_text(NATIVE)

    def judge(canary: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        out = tmp_path / canary.strip("/").replace("/", "_")
        p = loadtest("judge", "--prometheus", scraped_target.prometheus.url, "--slo",
                     str(tmp_path / "native.yaml"), "--from", str(start), "--to", str(end),
                     "--selector", f"endpoint={canary}", "--baseline-selector",
                     f"endpoint={STABLE}", "--out", str(out))
        return p, results(out)

    p, bad = judge(FAULTY)
    assert p.returncode == 1, p.stdout + p.stderr
    checks = {c["objective"]: c for c in bad["regressions"]}
    assert checks["errors"]["status"] == "fail" and checks["errors"]["significant"]
    assert 0.02 < checks["errors"]["run_value"] < 0.09 and checks["errors"]["base_value"] == 0
    assert "detectable_change" in checks["errors"] and "underpowered" in checks["errors"]
    assert bad["comparison"]["intervals"] >= 10
    assert by_name(bad)["errors"]["status"] == "fail"  # the canary's own SLO, too
    p, good = judge(CLEAN)
    assert p.returncode == 0, p.stdout + p.stderr + json.dumps(good["regressions"])
    assert {c["status"] for c in good["regressions"]} == {"pass"}
    assert {c["objective"] for c in good["regressions"]} == {"p95", "errors"}


def test_the_window_is_checked_before_anything_is_asked(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from loadtest.cli import app

    base = ["judge", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path / "o")]
    for extra, message in (
            ([], "give the window: --last 10m, or --from T and --to T"),
            (["--last", "5m", "--from", "0"], "--last goes without --from/--to"),
            (["--from", "yesterday", "--to", "0"], "--from 'yesterday': not a time"),
            (["--from", "2026-01-01T00:00:00Z", "--to", "2999-01-01T00:00:00Z"],
             "in the future"),
            (["--from", "100", "--to", "101"], "the window is 1s: judge at least 2s"),
            (["--last", "5m", "--baseline-selector", "version=stable"],
             "--baseline-selector needs --selector")):
        r = CliRunner().invoke(app, base + extra)
        assert r.exit_code == 2 and message in r.output, (extra, r.output)
        assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
