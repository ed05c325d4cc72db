"""Gating a service that is not the reference target (issue #13): its own probes, its metrics
served elsewhere or not at all to the harness, its own Prometheus and scrape interval.

Real processes on 127.0.0.1: the example service of the README (examples/own-service/), the
reference target with its metrics on a port of its own and without /ready, Prometheus, and
Locust under `loadtest run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.stack.liveness import SampleWatch, UpWatch
from loadtest.stack.processes import Child, free_port
from loadtest.stack.servers import LocalPrometheus
from tests.support import ROOT, loadtest, start_target

EXAMPLE = ROOT / "examples" / "own-service"
runner = CliRunner()



def results_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "latest" / "results.json").read_text())


def by_name(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in results["objectives"]}


def wait_started(out: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not list(out.glob("*/locust/started-*.json")):
        time.sleep(0.2)
    assert list(out.glob("*/locust/started-*.json")), "the load never started"


class Service:
    """examples/own-service/service.py as a child process."""

    def __init__(self, workdir: Path, delay: str = "20ms",
                 metrics_port: int | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, str(EXAMPLE / "service.py"), "--port", str(self.port),
                "--delay", delay]
        if metrics_port:
            argv += ["--metrics-port", str(metrics_port)]
        workdir.mkdir(parents=True, exist_ok=True)
        self.child = Child("example service", argv, workdir / "service.log")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.child.alive(), self.child.log_tail(20)
            try:
                if httpx.get(f"{self.url}/-/healthy", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.child.stop()
        raise AssertionError(f"the example service did not start: {self.child.log_tail(20)}")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    s = Service(tmp_path / "service")
    yield s
    s.child.stop()


# -- options: one line, exit 2, nothing run ---------------------------------------------------
@pytest.mark.parametrize("args, env, message", [
    (["--metrics-url", "none"], {}, "--metrics-url none"),
    ([], {"LOADTEST_METRICS_URL": "none"}, "--metrics-url none"),
    (["--probe", "health"], {}, "--probe 'health': give a path"),
    (["--probe", "none", "--probe", "/ready"], {}, "--probe none skips the probes"),
    ([], {"LOADTEST_PROBE": "/-/healthy ready"}, "--probe 'ready': give a path"),
    (["--metrics-url", "127.0.0.1:9100/metrics"], {}, "--metrics-url '127.0.0.1:9100/metrics'"),
])
def test_bad_probe_and_metrics_options_exit_2_naming_them(
        args: list[str], env: dict[str, str], message: str,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = runner.invoke(app, ["run", "--target", "http://127.0.0.1:9", "--out",
                                 str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    if "none" in message and "probe" not in message:
        assert "--prometheus" in result.output  # names both options
    assert len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing was run


def test_metrics_url_needs_a_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, ["run", "--metrics-url", "http://127.0.0.1:9/metrics"])
    assert result.exit_code == 2 and "--metrics-url" in result.output \
        and "--target" in result.output, result.output


# -- probes -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_probe_answering_404_is_inconclusive_naming_the_path_and_the_option(
        service: Service, tmp_path: Path) -> None:
    # the default probes: the example service has no /health
    p = loadtest("run", "--target", service.url, "--metrics-source", "embedded",
                 "--scenario", str(EXAMPLE / "locustfile.py"), "--slo",
                 str(EXAMPLE / "slo.yaml"), "--out", str(tmp_path), timeout=60)
    assert p.returncode == 3, p.stdout + p.stderr
    [line] = [x for x in p.stderr.splitlines() if "error:" in x]
    assert f"{service.url}/health answered 404" in line and "--probe" in line, line
    # a probe the user names that is not there either
    p = loadtest("run", "--target", service.url, "--probe", "/-/healthy", "--probe",
                 "/-/ready", "--metrics-source", "embedded", "--out", str(tmp_path),
                 timeout=60)
    assert p.returncode == 3 and "/-/ready answered 404" in p.stderr, p.stderr
    assert not list(tmp_path.glob("*/locust/started-*.json"))  # no load was sent


@pytest.mark.slow
def test_metrics_not_where_the_harness_reads_them_stop_the_run_before_load(
        tmp_path: Path) -> None:
    service = Service(tmp_path / "service", metrics_port=free_port())
    try:  # its /metrics is on another port: {target}/metrics answers 404
        p = loadtest("run", "--target", service.url, "--probe", "/-/healthy",
                     "--metrics-source", "embedded", "--scenario",
                     str(EXAMPLE / "locustfile.py"), "--slo", str(EXAMPLE / "slo.yaml"),
                     "--out", str(tmp_path / "out"), timeout=60)
    finally:
        service.child.stop()
    assert p.returncode == 3, p.stdout + p.stderr
    assert f"{service.url}/metrics could not be read" in p.stderr and "404" in p.stderr \
        and "--metrics-url" in p.stderr, p.stderr
    assert not list((tmp_path / "out").glob("*/locust/started-*.json"))


def test_probe_none_still_needs_something_listening(tmp_path: Path) -> None:
    p = loadtest("run", "--target", f"http://127.0.0.1:{free_port()}", "--probe", "none",
                 "--metrics-source", "embedded", "--out", str(tmp_path), timeout=60)
    assert p.returncode == 3 and "is unreachable" in p.stderr, p.stdout + p.stderr
    assert not list(tmp_path.glob("*/locust"))


# -- a service that is not OpsCore, judged by editing only the SLO file -----------------------
@pytest.mark.prometheus
@pytest.mark.slow
def test_a_service_with_its_own_names_is_judged_from_its_slo_file(
        prometheus_bin: str, tmp_path: Path) -> None:
    """Its own metric names and job (only the SLO file changes), its metrics on another port
    (--metrics-url): the local Prometheus and the harness's own scrapes both read them there,
    so `loadtest verify` can judge the run again from the scrapes the harness kept."""
    metrics_port = free_port()
    service = Service(tmp_path / "service", metrics_port=metrics_port)
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        assert httpx.get(f"{service.url}/metrics", timeout=5).status_code == 404
        p = loadtest("run", "--target", service.url, "--probe", "/-/healthy", "--metrics-url",
                     metrics_url, "--scenario", str(EXAMPLE / "locustfile.py"), "--rate", "40",
                     "--duration", "8s", "--warmup", "2s", "--slo", str(EXAMPLE / "slo.yaml"),
                     "--out", str(tmp_path / "a"))
    finally:
        service.child.stop()
    assert p.returncode == 0, p.stdout + p.stderr
    r = results_of(tmp_path / "a")
    assert r["run"]["metrics_source"]["name"] == "prometheus"
    assert r["run"]["target"]["probes"] == ["/-/healthy"]
    objs = by_name(r)
    assert {o["status"] for o in objs.values()} == {"pass"}, objs
    latency = objs["latency_p95"]
    queries = json.dumps(latency.get("queries") or latency.get("query"))
    assert "shop_request_seconds_bucket" in queries and 'job=\\"shop\\"' in queries, queries
    assert 0.02 <= latency["value"] <= 0.06  # what it serves: 20 ms of sleep and a little
    sent = r["client"]["totals"]["requests"]
    assert objs["throughput"]["samples"] == pytest.approx(sent, rel=0.03)
    # read where --metrics-url said, by both scrapers
    run_dir = (tmp_path / "a" / "latest").resolve()
    assert r["run"]["target"]["metrics_url"] == metrics_url
    assert f"127.0.0.1:{metrics_port}" in (run_dir / "prometheus" / "prometheus.yml").read_text()
    assert r["run"]["scrape_health"]["failed"] == 0
    v = loadtest("verify", str(run_dir))  # from the harness's own scrapes of metrics_url
    assert v.returncode == 0, v.stdout + v.stderr
    [verified] = list((run_dir / "verify").glob("*/results.json"))  # beside the run's own
    judged_again = json.loads(verified.read_text())
    assert judged_again["run"]["metrics_source"]["name"] == "embedded"
    assert by_name(judged_again)["throughput"]["samples"] == pytest.approx(
        objs["throughput"]["samples"], rel=0.02)
    # the same run judged again with a threshold below what it serves: only the file changes
    strict = tmp_path / "strict.yaml"
    strict.write_text((EXAMPLE / "slo.yaml").read_text().replace("threshold: 100ms",
                                                                 "threshold: 10ms"))
    p = loadtest("verify", str(run_dir), "--slo", str(strict))
    assert p.returncode == 1, p.stdout + p.stderr
    [strictly] = set((run_dir / "verify").glob("*/results.json")) - {verified}
    objs = by_name(json.loads(strictly.read_text()))
    assert objs["latency_p95"]["status"] == "fail" and objs["latency_p95"]["value"] > 0.01
    assert objs["error_rate"]["status"] == "pass" and objs["throughput"]["status"] == "pass"
    assert "latency_p95" in p.stdout


# -- metrics the harness does not read: a target that dies ------------------------------------
def test_sample_watch_sees_a_target_that_stops_answering(tmp_path: Path) -> None:
    """The samples as the Locust side writes them: answered requests, then only refusals."""
    path = tmp_path / "samples-1.csv"
    t0 = 1_000_000.0
    rows = ["start,intended,method,name,response_ms,status,failed,error,bytes"]
    rows += [f"{t0 + i * 0.1:.6f},{t0 + i * 0.1:.6f},GET,/x,2.0,200,0,,10" for i in range(50)]
    path.write_text("\n".join(rows) + "\n")
    watch = SampleWatch(tmp_path, every_s=0)
    assert watch.down_since() is None
    with path.open("a") as f:  # one refused request between answers is no outage
        f.write(f"{t0 + 5.05:.6f},{t0 + 5.05:.6f},GET,/x,0.5,0,1,"
                f"\"ConnectionRefusedError: [Errno 111] refused, sorry\",0\n")
        f.write(f"{t0 + 5.1:.6f},{t0 + 5.1:.6f},GET,/x,2.0,200,0,,10\n")
    assert watch.down_since() is None
    with path.open("a") as f:
        for i in range(60):
            f.write(f"{t0 + 6 + i * 0.1:.6f},{t0 + 6 + i * 0.1:.6f},GET,/x,0.4,0,1,"
                    f"ConnectionRefusedError,0\n")
        f.write(f"{t0 + 12:.6f},{t0 + 12:.6f},GET,/x")  # a row still being written
    assert watch.down_since() == pytest.approx(t0 + 6.0004, abs=1e-3)
    with path.open("a") as f:
        f.write(",1.0,200,0,,10\n")  # ... and it was answered: the target is back
    assert watch.down_since() is None


@pytest.mark.prometheus
def test_interval_selector_and_up_read_from_a_real_prometheus(prometheus_bin: str,
                                                      tmp_path: Path) -> None:
    """A real Prometheus (1 s scrapes) of the example service: its interval is read; a
    selector naming no job it scrapes stops the run (exit 3); `up` gives None while the
    service answers, then the time of the first failed scrape once two in a row failed."""
    from loadtest.metrics.base import Matcher

    service = Service(tmp_path / "service")
    prom = LocalPrometheus(tmp_path / "prom", "shop", service.url)
    try:
        prom.wait_ready()
        watch = UpWatch(prom.url, (Matcher("job", "=", "shop"),), 1.0)
        watch.source.wait_target_up(20)
        assert watch.poll() is None
        assert watch.source.target_scrape_interval() == (1.0, "/api/v1/targets")
        # an SLO file whose selector names no job this Prometheus scrapes: stopped, named
        p = loadtest("run", "--target", service.url, "--probe", "/-/healthy", "--prometheus",
                     prom.url, "--out", str(tmp_path / "out"), timeout=60)
        assert p.returncode == 3 and 'job="opscore-backend"' in p.stderr \
            and "selector" in p.stderr, p.stderr
        killed_at = time.time()
        service.child.signal(signal.SIGKILL)
        deadline = time.monotonic() + 15
        since = None
        while since is None and time.monotonic() < deadline:
            time.sleep(0.5)
            since = watch.poll()
        assert since is not None, "up never showed the service down"
        assert killed_at - 0.1 <= since <= killed_at + 2.5, since - killed_at
    finally:
        service.child.stop()
        prom.stop()


@pytest.mark.prometheus
@pytest.mark.slow
def test_with_metrics_url_none_a_target_killed_mid_run_stops_the_load(
        prometheus_bin: str, tmp_path: Path) -> None:
    metrics_port = free_port()
    target = start_target(tmp_path / "t", extra=["--metrics-port", str(metrics_port),
                                                 "--no-ready"], ready_path="/health")
    prom = LocalPrometheus(tmp_path / "prom", "opscore-backend", target.url,
                           metrics_url=f"http://127.0.0.1:{metrics_port}/metrics")
    out = tmp_path / "out"
    try:
        prom.wait_ready()
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadtest", "run", "--target", target.url, "--probe",
             "/health", "--metrics-url", "none", "--prometheus", prom.url, "--duration",
             "40s", "--warmup", "2s", "--out", str(out)], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_started(out)
            time.sleep(5)
            killed_at = time.time()
            target.child.signal(signal.SIGKILL)
            stdout, stderr = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        target.child.stop()
        prom.stop()
    assert proc.returncode == 1, stdout + stderr  # as when the harness scrapes the target
    r = results_of(out)
    assert r["run"]["target"]["metrics_url"] is None
    assert not (out / "latest" / "metrics").exists()  # no scrapes of its own were made
    assert r["load"]["target_died"] and "stopped answering" in r["verdict"]["reason"]
    [stopped] = list((out / "latest" / "locust").glob("stopped-*.json"))
    load_stopped = json.loads(stopped.read_text())["stopped"]
    assert load_stopped - killed_at <= 10, f"the load ran {load_stopped - killed_at:.1f} s on"
    assert r["client"]["totals"]["requests"] > 200  # the client results are kept
    assert r["run"]["window"]["seconds"] < 15


# -- its own Prometheus at a slower scrape interval than the harness's ------------------------
@pytest.mark.prometheus
@pytest.mark.slow
def test_metrics_elsewhere_judged_by_a_prometheus_scraping_every_3s(
        prometheus_bin: str, tmp_path: Path) -> None:
    """The interval is read from Prometheus, not assumed: the window must hold 4 of them
    (the guide's 15 s is the same code with 60 s; measured in the README)."""
    metrics_port = free_port()
    target = start_target(tmp_path / "t", extra=["--metrics-port", str(metrics_port),
                                                 "--no-ready"], ready_path="/health")
    assert httpx.get(f"{target.url}/metrics", timeout=5).status_code == 404
    assert httpx.get(f"{target.url}/ready", timeout=5).status_code == 404
    prom = LocalPrometheus(tmp_path / "prom", "opscore-backend", target.url,
                           metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
                           interval_s=3.0)
    args = ["run", "--target", target.url, "--probe", "/health", "--metrics-url", "none",
            "--prometheus", prom.url, "--warmup", "3s"]
    try:
        prom.wait_ready()
        # too short a window for a 3 s scrape: refused before any load, both figures named
        p = loadtest(*args, "--duration", "11s", "--out", str(tmp_path / "short"))
        assert p.returncode == 2, p.stdout + p.stderr
        assert "--duration 11s" in p.stderr and "(3s)" in p.stderr \
            and "--duration 12s" in p.stderr, p.stderr
        assert not list((tmp_path / "short").glob("*/locust"))
        p = loadtest(*args, "--duration", "12s", "--out", str(tmp_path / "out"), timeout=240)
    finally:
        target.child.stop()
        prom.stop()
    assert p.returncode == 0, p.stdout + p.stderr
    r = results_of(tmp_path / "out")
    assert r["run"]["metrics_source"]["scrape_interval_s"] == 3.0
    assert r["run"]["metrics_source"]["scrape_interval_from"] == "/api/v1/targets"
    objs = by_name(r)
    assert {o["status"] for o in objs.values()} == {"pass"}, objs
    sent = r["client"]["totals"]["requests"]
    counted = objs["throughput"]["samples"]
    assert sent >= 1170 and abs(counted - sent) <= 0.01 * sent, (counted, sent)
    assert os.path.exists(tmp_path / "out" / "latest" / "index.html")
