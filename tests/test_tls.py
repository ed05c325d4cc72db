"""TLS: certificates are verified by default for the target (preflight, scrapes and Locust's
traffic) and for Prometheus; a private CA is trusted through LOADTEST_*_CA_FILE; skipping the
check takes an explicit option and leaves a warning in the results and the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest.metrics.base import SourceError
from loadtest.metrics.prometheus import PrometheusSource
from tests.support import ROOT, RunningTarget, start_target
from tests.support.hostile import hostile_server

PROM_ANSWER = 'json:{"status":"success","data":{"resultType":"vector","result":[' \
              '{"metric":{},"value":[1,"1"]}]}}'


@pytest.fixture
def https_target(tmp_path: Path, self_signed: tuple[Path, Path]) -> RunningTarget:
    t = start_target(tmp_path / "target", tls=self_signed)
    yield t  # type: ignore[misc]
    t.child.stop()


def run(target: str, out: Path, *extra: str,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    return subprocess.run([sys.executable, "-m", "loadtest", "run", "--target", target,
                           "--metrics-source", "embedded", "--rate", "20", "--duration", "3s",
                           "--warmup", "1s", "--out", str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**clean, **(env or {})})


def test_an_unverifiable_target_certificate_stops_the_run_before_load(
        https_target: RunningTarget, tmp_path: Path) -> None:
    p = run(https_target.url, tmp_path / "out")
    assert p.returncode == 3, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert "CERTIFICATE_VERIFY_FAILED" in last and "--insecure-target" in last, last
    assert not (tmp_path / "out" / "latest" / "locust").exists()


@pytest.mark.slow
def test_skipping_verification_is_explicit_and_warned(https_target: RunningTarget,
                                                      tmp_path: Path) -> None:
    p = run(https_target.url, tmp_path / "out", "--insecure-target")
    assert p.returncode in (0, 1), p.stderr
    out = tmp_path / "out" / "latest"
    r = json.loads((out / "results.json").read_text())
    assert r["run"]["tls"]["target"] == "certificate NOT verified"
    assert r["client"]["totals"]["requests"] >= 40
    assert r["client"]["totals"]["connection_errors"] == 0
    warning = "TLS certificate verification of the target was skipped"
    assert any(warning in w for w in r["warnings"])
    assert warning in (out / "index.html").read_text()


def test_prometheus_certificates_are_verified_unless_skipped(
        self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LOADTEST_PROMETHEUS_CA_FILE", "LOADTEST_PROMETHEUS_INSECURE"):
        monkeypatch.delenv(var, raising=False)
    with hostile_server({"/api/v1/query": PROM_ANSWER, "/-/ready": "json:ok"},
                        tls=self_signed) as url:
        with pytest.raises(SourceError, match="did not answer: SSLError"):
            PrometheusSource(url, timeout_s=2).scalar("up", time.time())
        assert not PrometheusSource(url, timeout_s=2).ready()
        monkeypatch.setenv("LOADTEST_PROMETHEUS_CA_FILE", str(self_signed[0]))
        assert PrometheusSource(url, timeout_s=2).scalar("up", time.time()) == 1.0
        assert PrometheusSource(url, timeout_s=2).ready()
        monkeypatch.delenv("LOADTEST_PROMETHEUS_CA_FILE")
        monkeypatch.setenv("LOADTEST_PROMETHEUS_INSECURE", "1")
        assert PrometheusSource(url, timeout_s=2).scalar("up", time.time()) == 1.0


@pytest.mark.parametrize("trust", [False, True])
@pytest.mark.parametrize("locustfile", ["scenarios/opscore.py", "adopted"])
def test_locust_traffic_verifies_the_target_certificate(
        https_target: RunningTarget, tmp_path: Path, self_signed: tuple[Path, Path],
        trust: bool, locustfile: str) -> None:
    """Locust's FastHttpUser does not verify by default; the scenario's users do, and so do an
    unmodified locustfile's (an HttpUser and a FastHttpUser, adopted by the harness's code),
    and trust a private CA given as LOADTEST_TARGET_CA_FILE."""
    if locustfile == "adopted":
        from loadtest.load.locustfiles import ADDON

        locustfile = f"tests/locustfiles/rich.py,{ADDON}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env = {**clean, "LOADTEST_LOCUST_RATE": "10", "LOADTEST_LOCUST_OUT": str(tmp_path)}
    if trust:
        env["LOADTEST_TARGET_CA_FILE"] = str(self_signed[0])
    p = subprocess.run([sys.executable, "-m", "locust", "-f", locustfile,
                        "--headless", "-u", "2", "-r", "2", "--run-time", "3s",
                        "--host", https_target.url, "--json", "--only-summary",
                        "--loglevel", "ERROR", "--exit-code-on-error", "0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    stats = json.loads(p.stdout)
    total = sum(s["num_requests"] for s in stats)
    failed = sum(s["num_failures"] for s in stats)
    assert total >= 5, p.stderr[-2000:]
    if trust:
        assert failed == 0, p.stderr[-2000:]
    else:
        assert failed == total, p.stderr[-2000:]
        assert "certificate verify failed" in (p.stderr + p.stdout).lower(), p.stderr[-2000:]


def test_the_preflight_trusts_a_private_ca(https_target: RunningTarget,
                                           self_signed: tuple[Path, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from loadtest import tls
    from loadtest.errors import TargetUnreachable
    from loadtest.stack.servers import preflight_target

    for var in ("LOADTEST_TARGET_CA_FILE", "LOADTEST_TARGET_INSECURE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(TargetUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        preflight_target(https_target.url)
    monkeypatch.setenv("LOADTEST_TARGET_CA_FILE", str(self_signed[0]))
    assert preflight_target(https_target.url)["status"] == "ok"
    assert tls.describe("target", https_target.url) == "verified (private CA)"
    assert tls.describe("target", "http://127.0.0.1:1") == "plain http"
    assert tls.warnings({"target": tls.describe("target", https_target.url)}) == []
