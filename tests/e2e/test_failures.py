"""Faults of the harness's surroundings give a clear verdict and keep what was measured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadtest.stack.servers import LocalPrometheus
from tests.support import ROOT, start_target


@dataclass(frozen=True)
class Outcome:
    """What a run under a fault left: its exit code, output and reports folder."""
    code: int
    output: str
    out: Path
    prometheus_url: str = ""
    seconds: float = 0.0


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Outcome]]]:
    """The four runs under a fault go side by side, each with its own target (their
    assertions are exit codes, counts and files, not latencies); each test reads its own
    (`.result()` raises a run's own failure in its test)."""
    scenarios = {"prometheus_dying": prometheus_dying, "secrets": secrets,
                 "dies_for_good": dies_for_good, "target_restart": target_restart}
    with ThreadPoolExecutor(len(scenarios)) as pool:
        yield {name: pool.submit(f, tmp_path_factory.mktemp(name))
               for name, f in scenarios.items()}


def test_unwritable_out_dir_is_a_usage_error_before_load(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--out", str(blocker / "x"),
                        "--metrics-source", "embedded"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    assert "cannot write a run directory there" in p.stderr and "--out" in p.stderr


def prometheus_dying(tmp_path: Path) -> Outcome:
    """Prometheus killed inside the window of a run judged from it."""
    target = start_target(tmp_path / "target")
    try:
        prom = LocalPrometheus(tmp_path / "prom", "opscore-backend", target.url)
    except BaseException:
        target.child.stop()
        raise
    try:
        prom.wait_ready()
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadtest", "run", "--target", target.url,
             "--prometheus", prom.url, "--duration", "8s", "--warmup", "2s",
             "--out", str(tmp_path / "out")], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(
                (tmp_path / "out").glob("*/locust/started-*.json")):
            time.sleep(0.2)
        time.sleep(4)
        prom.child.signal(signal.SIGKILL)  # Prometheus dies inside the window
        out, err = proc.communicate(timeout=120)
    finally:
        prom.stop()
        target.child.stop()
    return Outcome(proc.returncode, out + err, tmp_path / "out", prom.url)


@pytest.mark.prometheus
@pytest.mark.slow
def test_prometheus_dying_mid_run_is_inconclusive_and_keeps_client_results(
        prometheus_bin: str, faults: dict[str, Future[Outcome]]) -> None:
    o = faults["prometheus_dying"].result()
    assert o.code == 3, o.output
    r = json.loads((o.out / "latest" / "results.json").read_text())
    server = [x for x in r["objectives"] if x["source"] == "server"]
    assert server and all(x["status"] == "no_data" for x in server)
    assert any(o.prometheus_url in x["reason"] for x in server)
    assert r["client"]["totals"]["requests"] >= 700  # the client side was kept
    # the harness stopped waiting for the window's last scrape once Prometheus went silent
    assert any("did not answer" in p and "window's end" in p for p in r["load"]["problems"])
    assert (o.out / "latest" / "index.html").exists()
    # the harness's own scrapes can still judge the window
    v = subprocess.run([sys.executable, "-m", "loadtest", "verify",
                        str((o.out / "latest").resolve())], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v.stdout + v.stderr


SECRET = "planted-secret-4f1e9c"


def secrets(tmp_path: Path) -> Outcome:
    env = dict(os.environ, LOADTEST_TARGET_TOKEN=SECRET, LOADTEST_PROMETHEUS_TOKEN=SECRET,
               LOADTEST_PROMETHEUS_PASSWORD=SECRET)
    # at 50 req/s: beside three other runs on two cores, a healthy run all the same
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--duration", "4s",
                        "--rate", "50", "--slo", str(ROOT / "tests" / "slo_rate50.yaml"),
                        "--warmup", "2s", "--metrics-source", "embedded", "--out",
                        str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=env)
    return Outcome(p.returncode, p.stdout + p.stderr, tmp_path)


@pytest.mark.slow
def test_secrets_never_reach_any_output(faults: dict[str, Future[Outcome]]) -> None:
    o = faults["secrets"].result()
    secret, tmp_path = SECRET, o.out
    assert o.code == 0, o.output
    assert secret not in o.output
    checked = 0
    for f in tmp_path.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            if f.suffix == ".gz":
                import gzip

                data = gzip.decompress(data)
            assert secret.encode() not in data, f"{f} holds the secret"
            checked += 1
    assert checked > 10


def pids_with(text: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                out.append(int(d.name))
    return out


def dies_for_good(tmp_path: Path) -> Outcome:
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "loadtest", "run", "--duration", "40s",
                             "--warmup", "2s", "--metrics-source", "embedded", "--out",
                             str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(
                tmp_path.glob("*/locust/started-*.json")):
            time.sleep(0.2)
        time.sleep(5)
        targets = [p for p in pids_with("loadtest target") if p in pids_with(str(tmp_path))]
        assert targets
        for pid in targets:
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return Outcome(proc.returncode, out + err, tmp_path, seconds=time.monotonic() - started)


@pytest.mark.slow
def test_a_target_that_dies_for_good_stops_the_load_and_fails(
        faults: dict[str, Future[Outcome]]) -> None:
    o = faults["dies_for_good"].result()
    assert o.code == 1, o.output
    assert o.seconds < 30, f"the load was not stopped early ({o.seconds:.0f} s)"
    r = json.loads((o.out / "latest" / "results.json").read_text())
    assert r["load"]["target_died"]
    assert "stopped answering" in r["verdict"]["reason"]
    assert r["client"]["totals"]["requests"] > 100
    assert r["run"]["window"]["seconds"] < 40


@pytest.mark.parametrize("body, status, expect", [
    (b"<html>not json</html>", 200, "garbage"),
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},'
     b'"value":[1,"NaN"]}]}}', 200, None),
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},'
     b'"value":[1,"+Inf"]}]}}', 200, "inf"),
    (b'{"status":"success","data":{"resultType":"vector","result":"surprise"}}', 200,
     "unexpected shape"),
    (b'{"status":"error","error":"boom"}', 400, "rejected the query"),
    (b"", 503, "did not answer"),
])
def test_a_prometheus_answering_garbage(body: bytes, status: int, expect: str | None) -> None:
    """A real HTTP server on loopback answers the queries badly; the source never crashes
    and never turns garbage into a pass."""
    import http.server
    import threading

    from loadtest.judge.objectives import evaluate
    from loadtest.metrics.base import Matcher, SourceError, Window
    from loadtest.metrics.prometheus import PrometheusSource
    from loadtest.slo import load_slo

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        src = PrometheusSource(f"http://127.0.0.1:{server.server_address[1]}",
                               (Matcher("job", "=", "x"),), timeout_s=2)
        w = Window(time.time() - 10, time.time())
        try:
            fig = src.increase("http_requests_total", (), w)
            value: object = fig.value
        except SourceError as e:
            value = str(e)
        if expect is None:
            assert value is None  # NaN is no data
        elif expect == "inf":
            assert value == float("inf")
        else:
            assert isinstance(value, str) and expect in value, value
        results = evaluate(load_slo(ROOT / "slo" / "opscore.yaml"), src, w)
        assert all(o.status in ("no_data", "fail") for o in results)
        assert not any(o.status == "pass" for o in results)
    finally:
        server.shutdown()


def target_restart(tmp_path: Path) -> Outcome:
    first = start_target(tmp_path / "t")
    port = int(first.url.rsplit(":", 1)[1])
    proc = subprocess.Popen([sys.executable, "-m", "loadtest", "run", "--target", first.url,
                             "--duration", "12s", "--warmup", "2s", "--metrics-source",
                             "embedded", "--out", str(tmp_path / "out")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(
                (tmp_path / "out").glob("*/locust/started-*.json")):
            time.sleep(0.2)
        time.sleep(6)
        first.child.stop()  # counters reset: a new process on the same port and database
        second = start_target(tmp_path / "t", port=port)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        if second is not None:
            second.child.stop()
    return Outcome(proc.returncode, out + err, tmp_path / "out")


@pytest.mark.slow
def test_a_target_restart_mid_run_keeps_the_counts_right(
        faults: dict[str, Future[Outcome]]) -> None:
    o = faults["target_restart"].result()
    tmp_path, out, err = o.out.parent, o.output, ""
    r = json.loads((tmp_path / "out" / "latest" / "results.json").read_text())
    assert any("restarted" in w for w in r["warnings"]), r["warnings"]
    assert r["run"]["scrape_health"]["restarts"] >= 1
    throughput = next(o for o in r["objectives"] if o["kind"] == "throughput")
    served = r["client"]["totals"]["requests"] - r["client"]["totals"]["connection_errors"]
    # the counter reset is handled (no negative or doubled increase); what the old process
    # served after its last scrape is lost, as with Prometheus (about a second's worth)
    assert 0.85 * served <= throughput["samples"] <= 1.02 * served, (throughput, served)
    assert r["client"]["totals"]["connection_errors"] > 0  # the gap is visible
    assert o.code in (0, 1), out + err
