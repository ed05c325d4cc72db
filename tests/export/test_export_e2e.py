"""The generator's figures in a real Prometheus (loadtest/export), end to end: pushed with
`--remote-write` to a Prometheus started with its remote-write receiver (the user's Prometheus:
it also scrapes the target and judges the run), and scraped by the local Prometheus the
harness starts, without any option. Each run is a few seconds; the two go side by side."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from loadtest.export.figures import DURATION_BOUNDS_S
from loadtest.stack.processes import Child, free_port
from loadtest.store.samples import load_samples
from tests.support import ROOT, RunningTarget, start_target, wait_ok

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "opscore-loadtest.json"


def query(prom: str, q: str, at: float | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"query": q}
    if at is not None:
        params["time"] = at
    r = httpx.get(f"{prom}/api/v1/query", params=params, timeout=10).json()
    assert r["status"] == "success", (q, r)
    return r["data"]["result"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def users_prometheus(prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[tuple[str, RunningTarget]]:
    """The user's Prometheus: scrapes the target every second and takes remote write."""
    d = tmp_path_factory.mktemp("rw")
    target = start_target(d / "target")
    port = free_port()
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": "opscore-backend", "static_configs": [
                  {"targets": [target.url.removeprefix("http://")]}]}]}
    (d / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = Child("prometheus", [prometheus_bin, f"--config.file={d / 'prometheus.yml'}",
                                f"--storage.tsdb.path={d / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}",
                                "--web.enable-remote-write-receiver", "--log.level=warn"],
                 d / "prometheus.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ok(f"{url}/-/ready", prom)
        yield url, target
    finally:
        prom.stop()
        target.child.stop()


def popen_run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "loadtest", "run", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def running_record(out: Path, timeout: float = 30) -> dict[str, Any]:
    """The run's results.json as written at its start (the run id)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in out.glob("*/results.json"):
            try:
                return json.loads(f.read_text())  # type: ignore[no-any-return]
            except ValueError:
                pass  # replaced as we read it
        time.sleep(0.1)
    raise AssertionError("no results.json")


def bucket_of(seconds: float) -> int:
    return next((i for i, b in enumerate(DURATION_BOUNDS_S) if seconds <= b),
                len(DURATION_BOUNDS_S))


def panel_queries() -> list[tuple[str, str]]:
    d = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in d["panels"] for t in p.get("targets", [])]


@pytest.mark.usefixtures("local_run")  # the other test's run, made meanwhile
def test_remote_write_leaves_the_run_in_the_users_prometheus(
        users_prometheus: tuple[str, RunningTarget], tmp_path: Path) -> None:
    prom, target = users_prometheus
    target.set_faults([])
    out = tmp_path / "reports"
    p = popen_run("--target", target.url, "--prometheus", prom, "--remote-write",
                  f"{prom}/api/v1/write", "--duration", "10s", "--warmup", "2s",
                  "--users", "400", "--out", str(out))
    try:
        run_id = running_record(out)["run"]["id"]
        # a latency fault from 2 s into the window: the p95 objective flips live
        started = time.monotonic()
        while time.monotonic() - started < 40 and p.poll() is None:
            rec = json.loads(next(out.glob("*/results.json")).read_text())
            window = (rec["run"].get("window") or {}).get("start")
            if window is not None and time.time() >= window + 2:
                break
            time.sleep(0.1)
        target.set_faults([{"latency": "3s", "endpoints": ["/api/*"]}])
        stdout, stderr = p.communicate(timeout=90)
    finally:
        if p.poll() is None:
            p.kill()
        target.set_faults([])
    assert p.returncode == 1, stderr + stdout
    run_dir = next(out.glob(f"{run_id}*"))
    r = json.loads((run_dir / "results.json").read_text())
    rw = r["export"]["remote_write"]
    assert rw["undelivered_samples"] == 0 and rw["delivered_samples"] > 1000, rw
    assert not [w for w in r["warnings"] if "remote write" in w]
    end = r["run"]["window"]["end"] + 60  # after the last push
    sel = f'run_id="{run_id}"'
    # every request the generator recorded, counted once
    df = load_samples(run_dir / "locust")
    [total] = query(prom, f"sum(loadtest_client_requests_total{{{sel}}})", end)
    assert float(total["value"][1]) == len(df) == r["export"]["rows"]
    assert r["client"]["totals"]["requests"] <= len(df)  # the window's share of them
    [failed] = query(prom, f"sum(loadtest_client_request_failures_total{{{sel}}})", end)
    assert float(failed["value"][1]) == int(df["failed"].sum())
    # the client p95 from the exported histogram, in the bucket of the samples' own p95
    [p95] = query(prom, "histogram_quantile(0.95, sum by (le) ("
                        f"loadtest_client_request_duration_seconds_bucket{{{sel}}}))", end)
    exact = float(df["response_ms"].quantile(0.95)) / 1000.0
    assert abs(bucket_of(float(p95["value"][1])) - bucket_of(exact)) <= 1, (p95, exact)
    # the p95 objective held, then flipped to breached once the fault was in
    ok = httpx.get(f"{prom}/api/v1/query_range", params={
        "query": f'loadtest_objective_ok{{{sel},objective="response_time_p95"}}',
        "start": r["run"]["load_started"], "end": r["run"]["window"]["end"] + 5,
        "step": 1}, timeout=10).json()["data"]["result"]
    states = [float(v) for _, v in ok[0]["values"]]
    assert 1.0 in states and states[-1] == 0.0, states
    assert states.index(0.0) > states.index(1.0)
    # the end: the verdict and exit code
    [code] = query(prom, f"loadtest_run_exit_code{{{sel}}}", end)
    assert code["value"][1] == "1"
    [verdict] = query(prom, f"loadtest_run_verdict{{{sel}}}", end)
    assert verdict["metric"]["verdict"] == "fail"
    # every query of the dashboard returns data for this run, at the run's last push
    [pushed] = query(prom, f"timestamp(loadtest_run_exit_code{{{sel}}})", end)
    last = float(pushed["value"][1])
    for title, expr in panel_queries():
        q = expr.replace("$run_id", run_id)
        assert query(prom, q, last), f"{title}: {q} returned nothing"


class Recorder:
    """A loopback Grafana: records each POST to /api/annotations."""

    def __init__(self, status: int = 200) -> None:
        import http.server

        got: list[tuple[str, dict[str, str], bytes]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"id": 7, "message": "Annotation added"}')

            def log_message(self, *_a: object) -> None:
                pass

        self.got = got
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class LocalRun:
    p: subprocess.Popen[str]
    stdout: str
    stderr: str
    out: Path
    run_id: str
    seen: dict[str, Any]  # the series read from the local Prometheus while the run went
    grafana: Recorder
    refusing: Recorder


def local_prometheus_run(tmp_path: Path) -> LocalRun:
    """A run with no Prometheus given (the harness starts one, which scrapes it too),
    --grafana-url to a loopback Grafana and --remote-write to a receiver answering 500; the
    local Prometheus read while the run goes."""
    grafana = Recorder()
    refusing = Recorder(status=500)
    out = tmp_path / "reports"
    p = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", "--duration", "5s", "--warmup", "2s",
         "--rate", "30", "--grafana-url", grafana.url, "--out", str(out),
         "--remote-write", f"{refusing.url}/api/v1/write"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**__import__("os").environ, "LOADTEST_GRAFANA_TOKEN": "glsa_test"})
    seen: dict[str, Any] = {}
    try:
        run_id = running_record(out)["run"]["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None and len(seen) < 3:
            rec = json.loads(next(out.glob("*/results.json")).read_text())
            prom = (rec["run"].get("metrics_source") or {}).get("url")
            if prom:
                try:
                    for name in ("loadtest_client_requests_total", "loadtest_users",
                                 "loadtest_offered_task_rate"):
                        got = query(prom, f'{name}{{run_id="{run_id}",job="loadtest"}}')
                        if got and float(got[0]["value"][1]) > 0:
                            seen[name] = float(got[0]["value"][1])
                except httpx.HTTPError:
                    pass  # it stopped with the run
            time.sleep(0.5)
        stdout, stderr = p.communicate(timeout=90)
    finally:
        if p.poll() is None:
            p.kill()
        grafana.server.shutdown()
        refusing.server.shutdown()
    return LocalRun(p, stdout, stderr, out, run_id, seen, grafana, refusing)


@pytest.fixture(scope="module")
def local_run(prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Future[LocalRun]]:
    """Made in the background from the remote-write test's start (which asks for this
    fixture for that reason): the two runs' stacks are their own, their loads light."""
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(local_prometheus_run, tmp_path_factory.mktemp("local"))


def test_the_local_prometheus_scrapes_the_harness_and_grafana_gets_the_annotation(
        local_run: Future[LocalRun]) -> None:
    """Also: a remote-write receiver answering 500 is a warning in the report with the count
    of samples not delivered; the verdict and the run's files are there as ever."""
    run = local_run.result()
    p, stdout, stderr, out, run_id, seen = (run.p, run.stdout, run.stderr, run.out, run.run_id,
                                            run.seen)
    grafana, refusing = run.grafana, run.refusing
    assert p.returncode in (0, 1), stderr + stdout  # 30 req/s: the throughput KPI fails
    assert set(seen) == {"loadtest_client_requests_total", "loadtest_users",
                         "loadtest_offered_task_rate"}, (seen, stderr)
    assert seen["loadtest_offered_task_rate"] == 30
    run_dir = next(out.glob(f"{run_id}*"))
    r = json.loads((run_dir / "results.json").read_text())
    assert r["export"]["pull"]["url"].startswith("http://127.0.0.1:")
    rw = r["export"]["remote_write"]
    assert rw["delivered_samples"] == 0 and rw["undelivered_samples"] > 0 and refusing.got
    [warning] = [w for w in r["warnings"] if w.startswith("remote write")]
    assert f"{rw['undelivered_samples']} of {rw['undelivered_samples']} samples not " \
        "delivered (HTTP 500" in warning
    assert p.returncode == r["verdict"]["exit_code"]
    assert "samples not delivered" in (run_dir / "index.html").read_text()
    for name in ("junit.xml", "summary.md", "live.jsonl", "grafana-annotation.json"):
        assert (run_dir / name).stat().st_size > 0, name
    config = (run_dir / "prometheus" / "prometheus.yml").read_text()
    assert re.search(r"job_name: loadtest\n", config)
    # the annotation, as written beside the run, posted once with the token
    [(path, headers, body)] = grafana.got
    assert path == "/api/annotations" and headers["Authorization"] == "Bearer glsa_test"
    assert json.loads(body) == json.loads((run_dir / "grafana-annotation.json").read_text())
    assert r["export"]["grafana"] == {"url": f"{grafana.url}/api/annotations", "status": 200,
                                      "id": 7}
    assert "glsa_test" not in (run_dir / "results.json").read_text() + stdout + stderr
    assert not math.isnan(seen["loadtest_users"])
