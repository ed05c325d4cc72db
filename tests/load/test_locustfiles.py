"""Bring your own Locust: an unmodified locustfile under `loadtest run` (open and closed
model), Locust's options after `--`, and the errors when Locust cannot run the file. Real
reference target, real Locust subprocesses; short windows."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.load.locustfiles import check_locust_args
from tests.support import ROOT, RunningTarget, assert_published, loadtest

FILES = ROOT / "tests" / "locustfiles"
SLO = ROOT / "tests" / "slo_rate50.yaml"
runner = CliRunner()



def results_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "latest" / "results.json").read_text())


def endpoint_counts(r: dict[str, Any]) -> dict[str, int]:
    return {e["name"]: e["count"] for e in r["client"]["endpoints"]}


@pytest.mark.slow
def test_an_unmodified_locustfile_is_paced_and_corrected(sqlite_target: RunningTarget,
                                                         tmp_path: Path) -> None:
    common = ["run", "--target", sqlite_target.url, "--scenario", str(FILES / "plain_http.py"),
              "--slo", str(SLO), "--rate", "50", "--warmup", "2s", "--metrics-source",
              "embedded"]
    p = loadtest(*common, "--duration", "6s", "--out", str(tmp_path / "a"))
    assert p.returncode == 0, p.stdout + p.stderr
    r = results_of(tmp_path / "a")
    # the file's constant_throughput(1) would give 150 users 150 req/s: the schedule rules
    assert r["load"]["achieved_rate"] == pytest.approx(50, rel=0.01)
    totals = r["client"]["totals"]
    assert totals["tasks"] == totals["requests"] == 300  # one request per task
    counts = endpoint_counts(r)
    assert set(counts) == {"/api/v1/documents", "/health"}
    assert 2 * counts["/health"] < counts["/api/v1/documents"]  # @task(3) vs @task(1)
    assert totals["schedule_lag_ms"]["p99"] < 50 and totals["corrected_latency_ms"]["p99"] < 500
    assert "tasks/s" in (tmp_path / "a" / "latest" / "summary.md").read_text()
    # 150 users spawned at once, the harness's choice: not Locust's warning in the user's log
    assert "spawn rate" not in (tmp_path / "a" / "latest" / "locust" / "locust.log").read_text()

    # the same file, only its @tag("read") task, with the target stalled for 2 s once
    proc = subprocess.Popen([sys.executable, "-m", "loadtest", *common, "--duration", "8s",
                             "--out", str(tmp_path / "b"), "--", "--tags", "read"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (markers := list((tmp_path / "b").glob("*/locust/started-*.json"))):
            assert time.monotonic() < deadline and proc.poll() is None, "no load started"
            time.sleep(0.1)
        started = json.loads(markers[0].read_text())["started"]
        time.sleep(max(0.0, started + 0.5 + 2 + 2 - time.time()))  # 2 s into the window
        sqlite_target.set_faults([{"latency": "2s"}])
        time.sleep(2)
        sqlite_target.set_faults([])
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    r = results_of(tmp_path / "b")
    assert set(endpoint_counts(r)) == {"/api/v1/documents"}, out + err
    assert r["client"]["totals"]["corrected_latency_ms"]["p99"] > 1500
    assert r["load"]["achieved_rate"] == pytest.approx(50, rel=0.01)  # the open model holds
    assert proc.returncode == 1, out + err
    assert {o["name"]: o["status"] for o in r["objectives"]}["client_p99"] == "fail"


@pytest.mark.slow
def test_user_classes_tasksets_logins_and_multi_request_tasks(tmp_path: Path) -> None:
    """--rate counts task starts: a task of two requests is one start; its second request is
    charged the lag its task started with, not the first request's time. The file's own
    set-up at the test's start (1.5 s) delays the load, never shortens the window: Locust's
    --run-time counted it, and the load stopped 1.5 s before the window's end (INCONCLUSIVE)."""
    p = loadtest("run", "--scenario", str(FILES / "rich.py"), "--slo", str(SLO), "--rate", "40",
                 "--duration", "6s", "--warmup", "2s", "--metrics-source", "embedded",
                 "--request-timeout", "1s", "--target-fault", "latency=1500ms",
                 "--target-fault", "endpoints=/api/v1/documents/{id}",
                 "--target-fault", "endpoints=/api/v1/documents/search",
                 "--out", str(tmp_path))
    r = results_of(tmp_path)
    totals = r["client"]["totals"]
    assert totals["tasks"] == 240 and r["load"]["achieved_rate"] == pytest.approx(40, rel=0.01)
    assert r["load"]["request_rate"] > 45  # list_then_health makes two requests per start
    assert totals["schedule_lag_ms"]["p99"] < 100  # task starts held the schedule
    counts = endpoint_counts(r)
    assert set(counts) == {"/api/v1/documents", "/api/v1/documents/search", "/health",
                           "/api/v1/documents/{id}"}
    import pandas as pd

    df = pd.concat(pd.read_csv(f) for f in (tmp_path / "latest" / "locust").glob("samples-*.csv"))
    logins = df[df["name"] == "login"]
    assert len(logins) >= 80 and logins["failed"].sum() == 0  # on_start of 90 Reader users
    first = df[df["name"] == "/api/v1/documents"]
    health = df[df["name"] == "/health"]  # the second request: its own start minus the lag
    assert not health["intended"].isin(set(first["intended"])).any()
    lag = (health["start"] - health["intended"]).clip(lower=0)
    assert lag.quantile(0.99) <= (first["start"] - first["intended"]).quantile(0.99) + 0.005
    # answers in 1.5 s, cut at --request-timeout (a failed sample), for the HttpUser's TaskSet
    # and for the FastHttpUser; the other endpoints are not
    for e in r["client"]["endpoints"]:
        slow = e["name"] in ("/api/v1/documents/search", "/api/v1/documents/{id}")
        assert e["max_ms"] < 1300, e
        assert e["failures"] == (e["count"] if slow else 0), e
    assert any("within 1 s" in e["example"] for e in r["client"]["errors"])
    assert p.returncode == 1, p.stderr  # the failed samples breach client objectives


def test_locust_options_the_harness_owns_are_refused(tmp_path: Path) -> None:
    assert check_locust_args(["--tags", "read", "--exclude-tags", "slow", "Reader"]) == (
        "--tags", "read", "--exclude-tags", "slow", "Reader")
    for args, use in ((["-u", "5"], "--users"), (["-u5"], "--users"),
                      (["--run-time=5s"], "--duration"), (["-H", "http://x"], "--target"),
                      (["--processes", "2"], "--workers"), (["--headless"], "headless"),
                      (["--slo-warmup", "5s"], "--warmup")):
        result = runner.invoke(app, ["run", "--scenario", str(FILES / "plain_http.py"),
                                     "--out", str(tmp_path), "--", *args])
        assert result.exit_code == 2, result.output
        name = args[0].split("=")[0]
        name = name if name.startswith("--") else name[:2]
        assert f"Locust option {name} after --" in result.output, result.output
        assert use in result.output, result.output
    result = runner.invoke(app, ["run", "--scenario", str(FILES / "plain_http.py"),
                                 "--model", "closed", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--users" in result.output


def test_a_broken_locustfile_is_exit_2_with_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from locust import HttpUser, task\n\n\nclass B(HttpUser):\n"
                      "    @task\n    def go(self)\n        pass\n")
    missing = tmp_path / "missing.py"
    missing.write_text('"""Needs a package nobody installed."""\n\nimport opscore_sdk_xyz\n')
    for path, expected in ((broken, f"{broken}:6: syntax error"),
                           (missing, (f"{missing}:3: import error: no module named "
                                      "'opscore_sdk_xyz'"))):
        result = runner.invoke(app, ["run", "--scenario", str(path), "--out", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert expected in result.output
    assert not [d for d in tmp_path.iterdir() if d.is_dir()]  # found before anything ran
    # what is importable is not flagged: the installed harness (an editable install has its
    # own finder, off sys.path) from another folder, and a module beside the file
    (tmp_path / "helpers.py").write_text("")
    fine = tmp_path / "fine.py"
    fine.write_text("import helpers\nimport loadtest.locust_plugin\nfrom locust import task\n")
    code = ("import sys, pathlib; from loadtest.load.locustfiles import check_locustfile; "
            "check_locustfile(pathlib.Path(sys.argv[1]))")
    p = subprocess.run([sys.executable, "-c", code, str(fine)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=30, check=False)
    assert p.returncode == 0, p.stderr


@pytest.mark.slow
def test_what_locust_refuses_is_exit_2_with_its_reason(sqlite_target: RunningTarget,
                                                       tmp_path: Path) -> None:
    common = ["run", "--target", sqlite_target.url, "--metrics-source", "embedded",
              "--rate", "5", "--duration", "2s", "--warmup", "1s", "--out", str(tmp_path)]
    # refused before Locust starts (#41): no User class, an option Locust does not have
    before = set(tmp_path.iterdir())
    p = loadtest(*common, "--scenario", str(FILES / "no_user.py"))
    assert p.returncode == 2, p.stderr
    assert f"{FILES / 'no_user.py'}: no User class found" in p.stderr
    p = loadtest(*common, "--scenario", str(FILES / "plain_http.py"), "--", "--no-such-opt")
    assert p.returncode == 2, p.stderr
    assert "Locust option --no-such-opt after --: Locust has no such option" in p.stderr
    assert set(tmp_path.iterdir()) == before  # no run folder
    p = loadtest(*common, "--scenario", str(FILES / "plain_http.py"), "--", "Writer")
    assert p.returncode == 2, p.stderr
    assert f"user class Writer (after --) is not in {FILES / 'plain_http.py'}" in p.stderr
    # a crash while the load runs: inconclusive, with the code and Locust's last lines
    p = loadtest(*common[:-1], str(tmp_path / "crash"), "--scenario",
                 str(FILES / "crashes.py"), "--duration", "6s")
    assert p.returncode == 3, p.stderr
    reason = results_of(tmp_path / "crash")["verdict"]["reason"]
    assert "Locust exited with code 7 while the load ran" in reason
    assert "crashing on purpose" in reason and reason.count("code 7") == 1
    p = loadtest(*common, "--scenario", str(FILES / "with_shape.py"))
    assert p.returncode == 2, p.stderr
    assert "Steps is a LoadTestShape" in p.stderr and "--model closed" in p.stderr
    # under the closed model Locust runs the shape (5 users at 1 task/s each) as it would
    p = loadtest(*common, "--scenario", str(FILES / "with_shape.py"), "--model", "closed",
                 "--users", "1", "--slo", str(SLO))
    r = results_of(tmp_path)
    assert r["run"]["model"] == "closed" and r["load"]["requested_rate"] is None
    assert r["load"]["delivered"] and r["client"]["totals"]["corrected_latency_ms"] is None
    assert r["load"]["achieved_rate"] == pytest.approx(5, abs=1.5), p.stderr
    assert "closed model" in (tmp_path / "latest" / "summary.md").read_text()


def locust_headless(target: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The team's own command, with the plugin imported by their locustfile."""
    return subprocess.run([sys.executable, "-m", "locust", "-f", str(FILES / "with_plugin.py"),
                           "--headless", "-u", "20", "-r", "20", "-t", "8s", "-H", target,
                           "--only-summary", "--slo", str(ROOT / "slo" / "opscore.yaml"),
                           "--slo-warmup", "2s", "--slo-out", str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)


@pytest.mark.slow
@pytest.mark.prometheus
def test_the_plugin_gates_a_locust_headless_run(prometheus_bin: str,
                                                sqlite_target: RunningTarget,
                                                tmp_path: Path) -> None:
    from loadtest.metrics.prometheus import PrometheusSource
    from loadtest.stack.servers import LocalPrometheus
    from loadtest.store.results import load_results

    prom = LocalPrometheus(tmp_path / "prom", "opscore-backend", sqlite_target.url)
    try:
        prom.wait_ready()
        PrometheusSource(prom.url).wait_target_up(20)
        p = locust_headless(sqlite_target.url, tmp_path / "a", "--slo-prometheus", prom.url)
    finally:
        prom.stop()
    assert p.returncode == 0, p.stderr[-3000:]
    assert "loadtest: PASS: all 4 objectives hold" in p.stderr
    r = load_results(tmp_path / "a" / "latest" / "results.json")  # the harness's schema
    assert r["run"]["model"] == "closed" and r["run"]["metrics_source"]["name"] == "prometheus"
    assert 3 < r["run"]["window"]["seconds"] <= 6.1  # the run time (8 s) minus the warm-up
    assert r["run"]["window"]["start"] - r["run"]["load_started"] == pytest.approx(2, abs=0.2)
    assert r["load"]["request_rate"] == pytest.approx(120, rel=0.1)  # reported, not gated
    assert {o["status"] for o in r["objectives"]} == {"pass"}
    assert "closed model" in (tmp_path / "a" / "latest" / "summary.md").read_text()
    assert_published(tmp_path / "a", tmp_path / "a" / "latest")  # as a run's, digests too

    # a 3 s latency fault: breached, Locust's exit code 1; judged from the target's /metrics
    sqlite_target.set_faults([{"latency": "3s", "endpoints": ["/api/*", "/health"]}])
    healthy = (tmp_path / "a" / "latest").resolve()
    p = locust_headless(sqlite_target.url, tmp_path / "b", "--slo-baseline", str(healthy))
    assert p.returncode == 1, p.stderr[-3000:]
    r = load_results(tmp_path / "b" / "latest" / "results.json")
    assert r["run"]["metrics_source"]["name"] == "embedded"
    assert r["run"]["baseline"] == str(healthy) and r["regressions"]
    objs = {o["name"]: o for o in r["objectives"]}
    # 20 users at 3 s a request: ~7 req/s, a breach of the 100 req/s KPI; too few requests in
    # 6 s (min_samples 100) to judge the server's p95, which the client saw at 3 s
    assert objs["throughput"]["status"] == "fail" and objs["throughput"]["value"] < 10
    assert objs["response_time_p95"]["status"] != "pass"
    assert r["client"]["totals"]["latency_ms"]["p95"] >= 2900
    assert "loadtest: FAIL: objective breached: throughput" in p.stderr


def test_the_plugin_refuses_a_bad_slo_file_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nobjectives:\n  - {name: x, kind: latency, quantile: 0.95, "
                   "threshold: 2 sec}\n")
    p = locust_headless("http://127.0.0.1:9", tmp_path / "out", "--slo", str(bad))
    assert p.returncode == 2, p.stderr[-2000:]
    assert f"loadtest: error: {bad}:3" in p.stderr and "'2 sec'" in p.stderr
    assert not (tmp_path / "out").exists()
