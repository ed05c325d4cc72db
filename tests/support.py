"""What the tests share: where the repository is, servers that must exist in CI, the reference
target started for a test, the CLI as a subprocess, and made-up results (no test module
imports another; fixtures live in conftest.py, built from these)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtest.processes import Child, free_port
from loadtest.results import decide

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(what: str, found: bool, install: str) -> None:
    if found:
        return
    message = f"{what} is not installed ({install})"
    if IN_CI:
        pytest.fail(f"CI needs {message}", pytrace=False)
    pytest.skip(message)


def postgres_bindir() -> Path | None:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists() and (d / "postgres").exists():
            return d
    return None


class RunningTarget:
    def __init__(self, url: str, child: Child, workdir: Path) -> None:
        self.url = url
        self.child = child
        self.workdir = workdir

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5).text

    def set_faults(self, rules: list[dict[str, object]]) -> None:
        r = httpx.put(f"{self.url}/admin/faults", json={"rules": rules}, timeout=5)
        assert r.status_code == 200, r.text


def start_target(workdir: Path, database: str | None = None,
                 extra: list[str] | None = None, port: int | None = None,
                 tls: tuple[Path, Path] | None = None,
                 ready_path: str = "/ready") -> RunningTarget:
    """`loadtest target` on a free port; `tls` = (certificate, key) serves https;
    `ready_path` is polled until it answers 200 (/health for a target started --no-ready)."""
    port = port or free_port()
    db = database or f"sqlite:///{workdir / 'opscore.db'}"
    argv = [sys.executable, "-m", "loadtest", "target", "--port", str(port), "--database", db,
            "--storage-dir", str(workdir / "attachments"), "--seed-documents", "20",
            *(extra or [])]
    if tls:
        argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    child = Child("target", argv, workdir / "target.log")
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert child.alive(), child.log_tail(20)
        try:
            if httpx.get(f"{url}{ready_path}", timeout=1, verify=False).status_code == 200:
                return RunningTarget(url, child, workdir)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    child.stop()
    raise AssertionError(f"target did not become ready: {child.log_tail(20)}")


EVIL = "<script>alert(1)</script>"


def made_up_results() -> dict[str, object]:
    objectives = [
        {"name": "response_time_p95", "kind": "latency", "description": "95% within 2 s",
         "severity": "fail", "source": "server", "metrics_source": "prometheus",
         "status": "fail", "value": 2.31, "unit": "s", "threshold": 2.0, "comparison": "<=",
         "samples": 6000.0, "reason": "", "exact": True,
         "detail": "93.1% of 6000 observations within 2 s", "queries": ["histogram_quantile(...)"],
         "extra": {}},
        {"name": "throughput", "kind": "throughput", "description": "", "severity": "fail",
         "source": "server", "metrics_source": "prometheus", "status": "pass", "value": 100.2,
         "unit": "req/s", "threshold": 100.0, "comparison": ">=", "samples": 6012.0,
         "reason": "", "exact": True, "detail": "", "queries": [], "extra": {}},
        {"name": "db_query_p95", "kind": "db_latency", "description": "", "severity": "fail",
         "source": "server", "metrics_source": "prometheus", "status": "no_data",
         "value": None, "unit": "s", "threshold": 0.1, "comparison": "<=", "samples": None,
         "reason": "no db_query_duration_seconds_bucket series", "exact": None, "detail": "",
         "queries": [], "extra": {}},
    ]
    load = {"requested_rate": 100.0, "achieved_rate": 99.9, "problems": []}
    return {
        "run": {"id": "r1", "scenario": "scenarios/opscore.py", "rate": 100.0,
                "shape": "constant", "arrivals": "constant", "users": 300, "warmup_s": 10.0,
                "duration_s": 60.0, "tags": {"branch": EVIL}, "slo_file": "slo/opscore.yaml",
                "harness_version": "0.1.0", "git_revision": "abc",
                "target": {"url": "http://127.0.0.1:1", "kind": "reference"},
                "metrics_source": {"name": "prometheus", "url": "http://127.0.0.1:2"},
                "window": {"start": 10.0, "end": 70.0, "start_iso": "a", "end_iso": "b",
                           "seconds": 60.0}, "load_started": 0.0},
        "load": load,
        "objectives": objectives,
        "client": {
            "totals": {"requests": 6000, "failures": 3, "server_errors": 3,
                       "connection_errors": 0, "achieved_rate": 99.9,
                       "latency_ms": {"p50": 3.0, "p95": 2100.0, "p99": 2500.0},
                       "corrected_latency_ms": {"p50": 3.1, "p95": 2200.0, "p99": 2600.0}},
            "endpoints": [{"method": "GET", "name": f"/api/{EVIL}", "count": 6000,
                           "failures": 3, "rate": 99.9, "p50_ms": 3.0, "p95_ms": 2100.0,
                           "p99_ms": 2500.0, "max_ms": 2900.0, "mean_ms": 120.0,
                           "corrected_p95_ms": 2200.0}],
            "errors": [{"method": "GET", "name": "/x", "status": 500, "count": 3,
                        "example": f"HTTPError: {EVIL}"}],
            "timeseries": [{"t": float(i), "offset_s": i, "in_window": 10 <= i < 70,
                            "rate": 100, "errors": 1 if i == 30 else 0, "p50_ms": 3.0,
                            "p95_ms": 2100.0, "p99_ms": 2500.0} for i in range(72)],
        },
        "regressions": [],
        "verdict": decide(objectives, load),
    }


def latencies(n_seconds: int, per_second: int, scale: float, seed: int
              ) -> tuple[list[int], list[float]]:
    rng = random.Random(seed)
    secs, vals = [], []
    for s in range(n_seconds):
        for _ in range(per_second):
            secs.append(s)
            vals.append(rng.lognormvariate(0, 0.5) * 10 * scale)
    return secs, vals


def run_with(scale: float = 1.0, errors: int = 0, seed: int = 1, n: int = 30,
             per_second: int = 100) -> dict[str, Any]:
    r = made_up_results()
    secs, vals = latencies(n, per_second, scale, seed)
    total = len(secs)
    status = [500 if i < errors else 200 for i in range(total)]
    random.Random(seed).shuffle(status)
    r["samples"] = {"client": {"window_s": float(n), "names": ["GET /api/v1/documents"],
                               "t": [s + 0.5 for s in secs], "ms": vals, "ep": [0] * total,
                               "status": status}}
    for o in r["objectives"]:  # type: ignore[union-attr]
        if o["name"] == "throughput":
            o["samples"] = float(total)
    r["run"]["window"]["seconds"] = float(n)  # type: ignore[index]
    return r


def loadtest(*args: str, timeout: float = 120, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    """`loadtest ARGS...` as a user runs it: a subprocess from the repository's root."""
    return subprocess.run([sys.executable, "-m", "loadtest", *args], cwd=ROOT, check=False,
                          capture_output=True, text=True, timeout=timeout, env=env)


def results_of(out: Path) -> dict[str, Any]:
    """The newest run's results.json under a reports folder."""
    return json.loads((out / "latest" / "results.json").read_text())


def by_name(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in results["objectives"]}
