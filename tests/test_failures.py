"""Faults of the harness's surroundings give a clear verdict and keep what was measured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest.stack import LocalPrometheus
from tests.conftest import ROOT, RunningTarget


def test_unwritable_out_dir_is_a_usage_error_before_load(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--out", str(blocker / "x"),
                        "--metrics-source", "embedded"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    assert "cannot write a run directory there" in p.stderr and "--out" in p.stderr


@pytest.mark.prometheus
@pytest.mark.slow
def test_prometheus_dying_mid_run_is_inconclusive_and_keeps_client_results(
        prometheus_bin: str, sqlite_target: RunningTarget, tmp_path: Path) -> None:
    prom = LocalPrometheus(tmp_path / "prom", "opscore-backend", sqlite_target.url)
    try:
        prom.wait_ready()
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadtest", "run", "--target", sqlite_target.url,
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
    assert proc.returncode == 3, out + err
    r = json.loads((tmp_path / "out" / "latest" / "results.json").read_text())
    server = [o for o in r["objectives"] if o["source"] == "server"]
    assert server and all(o["status"] == "no_data" for o in server)
    assert any(prom.url in o["reason"] for o in server)
    assert r["client"]["totals"]["requests"] >= 700  # the client side was kept
    assert (tmp_path / "out" / "latest" / "index.html").exists()
    # the harness's own scrapes can still judge the window
    v = subprocess.run([sys.executable, "-m", "loadtest", "verify",
                        str((tmp_path / "out" / "latest").resolve())], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v.stdout + v.stderr


@pytest.mark.slow
def test_secrets_never_reach_any_output(tmp_path: Path) -> None:
    secret = "planted-secret-4f1e9c"
    env = dict(os.environ, LOADTEST_TARGET_TOKEN=secret, LOADTEST_PROMETHEUS_TOKEN=secret,
               LOADTEST_PROMETHEUS_PASSWORD=secret)
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--duration", "4s",
                        "--warmup", "2s", "--metrics-source", "embedded", "--out",
                        str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert secret not in p.stdout + p.stderr
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
