"""What the tests share: where the repository is, servers that must exist in CI, the reference
target started for a test (and scraped by a local Prometheus), PostgreSQL, the CLI as a
subprocess, and made-up results. The one support package: hostile.py (a server that answers
badly), ci_pipelines.py (the CI systems played locally). No test module imports another;
fixtures live in conftest.py, built from these."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from loadtest.judge.verdict import decide
from loadtest.metrics.base import Matcher, Window
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.stack.processes import Child, free_port
from loadtest.stack.servers import LocalPrometheus
from loadtest.store.samples import MAX_COMPACT_SAMPLES

ROOT = Path(__file__).resolve().parents[2]
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


def wait_ok(url: str, child: Child, timeout: float = 20) -> None:
    """Until `url` answers 200 (a child started for a test), else the child's last lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.alive(), child.log_tail(10)
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready: {child.log_tail(10)}")


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


# -- the client statistics as they were computed before streaming: the whole frame in pandas,
# the oracle the streamed figures are tested against ------------------------------------------
QUANTILES = (0.5, 0.95, 0.99)
TOP_ERRORS = 10


def _q(series: Any, q: float) -> float | None:
    """Nearest rank, as numpy's inverted_cdf (the harness's one definition)."""
    if len(series) == 0:
        return None
    return float(np.quantile(series.to_numpy(dtype=float), q, method="inverted_cdf"))


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


def whole_frame_stats(df: Any, window: Window, run_start: float) -> dict[str, Any]:
    """Statistics for the judged window, plus per-second series over the whole run."""
    inw = df[(df["start"] >= window.start) & (df["start"] < window.end)]
    secs = window.seconds
    server_errors = inw["status"].between(500, 599)
    done = df["start"] + df["response_ms"] / 1000.0
    completed = int(((done >= window.start) & (done < window.end)).sum())
    totals = {
        "requests": len(inw),
        "completed_rate": completed / secs if secs > 0 else 0.0,
        "failures": int(inw["failed"].sum()),
        "server_errors": int(server_errors.sum()),
        "connection_errors": int((inw["status"] == 0).sum()),
        "achieved_rate": len(inw) / secs if secs > 0 else 0.0,
        # mean requests in flight (Little's law: rate x mean latency, over the window)
        "in_flight": float(inw["response_ms"].sum()) / 1000.0 / secs if secs > 0 else 0.0,
        # the same per second of the window, at its highest (a queue that builds up over the
        # window shows here before it shows in the mean)
        "in_flight_peak": float(inw.groupby(inw["start"].floordiv(1))["response_ms"].sum()
                                .max()) / 1000.0 if len(inw) else 0.0,
        "latency_ms": {f"p{int(q * 100)}": _q(inw["response_ms"], q) for q in QUANTILES},
        "corrected_latency_ms": {f"p{int(q * 100)}": _q(inw["corrected_ms"], q)
                                 for q in QUANTILES},
        "max_ms": _num(inw["response_ms"].max()) if len(inw) else None,
        "schedule_lag_ms": {"p50": _q(inw["lag_ms"], 0.5), "p99": _q(inw["lag_ms"], 0.99),
                            "max": _num(inw["lag_ms"].max()) if len(inw) else None},
        "samples_total": len(df),
    }
    endpoints = []
    for (method, name), g in inw.groupby(["method", "name"], sort=True, observed=True):
        endpoints.append({
            "method": str(method), "name": str(name), "count": len(g),
            "failures": int(g["failed"].sum()), "rate": len(g) / secs if secs > 0 else 0.0,
            "p50_ms": _q(g["response_ms"], 0.5), "p95_ms": _q(g["response_ms"], 0.95),
            "p99_ms": _q(g["response_ms"], 0.99), "max_ms": _num(g["response_ms"].max()),
            "mean_ms": _num(g["response_ms"].mean()),
            "corrected_p95_ms": _q(g["corrected_ms"], 0.95),
        })
    errors: list[dict[str, Any]] = []
    failed = inw[inw["failed"] == 1]
    if len(failed):
        keyed = failed.assign(kind=failed["error"].str.split(":").str[0].fillna(""))
        for (method, name, status, kind), g in keyed.groupby(
                ["method", "name", "status", "kind"], sort=False, observed=True):
            errors.append({"method": str(method), "name": str(name), "status": int(status),
                           "count": len(g), "example": str(g["error"].iloc[0])[:300]})
        errors.sort(key=lambda e: -e["count"])
    timeseries = []
    if len(df):
        sec = (df["start"] - run_start).floordiv(1).astype(int)
        for s, g in df.groupby(sec, sort=True):
            t = run_start + int(s)
            timeseries.append({
                "t": float(t), "offset_s": int(s), "in_window": window.start <= t < window.end,
                "rate": len(g), "errors": int(g["failed"].sum()),
                "p50_ms": _q(g["response_ms"], 0.5), "p95_ms": _q(g["response_ms"], 0.95),
                "p99_ms": _q(g["response_ms"], 0.99),
            })
    return {"totals": totals, "endpoints": endpoints, "errors": errors[:TOP_ERRORS],
            "timeseries": timeseries}




def whole_frame_compact(df: Any, window: Window) -> dict[str, Any]:
    """The judged window's per-request samples in a compact, JSON-friendly form (offsets from
    the window start, measured latency, endpoint index, status), kept in results.json so any
    run can serve as a baseline. Long runs are thinned evenly to MAX_COMPACT_SAMPLES."""
    inw = df[(df["start"] >= window.start) & (df["start"] < window.end)]
    if len(inw) > MAX_COMPACT_SAMPLES:
        step = len(inw) / MAX_COMPACT_SAMPLES
        inw = inw.iloc[[int(i * step) for i in range(MAX_COMPACT_SAMPLES)]]
    keys = (inw["method"].astype(str) + " " + inw["name"].astype(str))
    names = sorted(set(keys))
    index = {n: i for i, n in enumerate(names)}
    return {
        "window_s": window.seconds,
        "names": names,
        "t": [round(float(x), 3) for x in (inw["start"] - window.start)],
        "ms": [round(float(x), 3) for x in inw["response_ms"]],
        "ep": [index[k] for k in keys],
        "status": [int(x) for x in inw["status"]],
        "thinned": len(df) > MAX_COMPACT_SAMPLES,
    }


PUBLISHED = ("results.json", "index.html", "junit.xml", "summary.md",
             "grafana-annotation.json")
# results.json's sections that every judged run has (run, capacity search, plugin run)
SECTIONS = ("schema_version", "run", "objectives", "regressions", "interrupted", "inputs",
            "verdict")
RUNNING_PHASES = ("started", "stack", "load")


@contextlib.contextmanager
def watch_records(out: Path) -> Iterator[list[str]]:
    """What the results.json of the run under `out` was, looked at every 20 ms while the block
    runs: the `running` record's phases ("started", "stack", "load"), then "final"."""
    seen: list[str] = []
    stop = threading.Event()

    def look() -> None:
        for path in out.glob("*/results.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # replaced atomically: only a vanished file, never a torn one
            label = (data.get("phase", "?") if data["verdict"]["status"] == "running"
                     else "final")
            if not seen or seen[-1] != label:
                seen.append(label)

    def poll() -> None:
        while not stop.wait(0.02):
            look()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()
        look()


def assert_published(out: Path, run_dir: Path, seen: list[str] | None = None
                     ) -> dict[str, Any]:
    """What the session leaves of every judged run, capacity search and plugin run alike
    (loadtest/session.py `publish`): the reports, the Grafana annotation, the raw samples'
    digests in results.json, `latest` pointing at it, and its line in the history."""
    run_dir = run_dir.resolve()
    missing = [name for name in PUBLISHED if not (run_dir / name).is_file()]
    assert not missing, f"{run_dir}: {missing} missing"
    results = json.loads((run_dir / "results.json").read_text())
    digests = (results.get("inputs") or {}).get("samples") or {}
    assert digests and all(len(d) == 64 for d in digests.values()), results.get("inputs")
    assert all((run_dir / name).is_file() for name in digests)
    assert (out / "latest").resolve() == run_dir
    ids = [json.loads(line).get("id") for line in
           (out / "history.jsonl").read_text().splitlines() if line.strip()]
    assert results["run"]["id"] in ids
    assert not [k for k in SECTIONS if k not in results], results.keys()
    if seen is not None:  # watch_records: the `running` record, then the results
        assert len(seen) >= 2 and seen[-1] == "final", seen
        assert all(phase in RUNNING_PHASES for phase in seen[:-1]), seen
    return results


@dataclass
class ScrapedTarget:
    """The reference target, scraped every second by a local Prometheus."""
    target: RunningTarget
    prometheus: LocalPrometheus
    source: PrometheusSource


@contextmanager
def scraped(workdir: Path) -> Iterator[ScrapedTarget]:
    """A reference target started in `workdir` and a local Prometheus scraping it every
    second, once the target's first scrape is in (a fresh Prometheus: ~5 s)."""
    target = start_target(workdir / "target")
    prom = LocalPrometheus(workdir / "prom", "opscore-backend", target.url)
    try:
        prom.wait_ready()
        src = PrometheusSource(prom.url, (Matcher("job", "=", "opscore-backend"),),
                               scrape_interval_s=1.0, local=True)
        src.wait_target_up(20)
        yield ScrapedTarget(target, prom, src)
    finally:
        prom.stop()
        target.child.stop()


class PostgresServer:
    def __init__(self, bindir: Path, datadir: Path, port: int) -> None:
        self.bindir, self.datadir, self.port = bindir, datadir, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.proc: subprocess.Popen[bytes] | None = None

    def _as_postgres(self) -> dict[str, object]:
        return {"user": "postgres"} if os.geteuid() == 0 else {}

    def start(self) -> None:
        log = open(self.datadir.parent / "postgres.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             "-c", "fsync=off", "-c", "max_connections=50"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            **self._as_postgres())  # type: ignore[call-overload]
        deadline = time.monotonic() + 30
        import psycopg

        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.url, connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise AssertionError("PostgreSQL did not start: "
                             + (self.datadir.parent / "postgres.log").read_text()[-2000:])

    def new_database(self) -> str:
        """A fresh, empty database on this server (tests do not see each other's rows)."""
        import secrets

        import psycopg

        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        """A fast shutdown (SIGINT): sessions are ended at once. SIGTERM is the smart one,
        which waits for every client (the target's pool) to disconnect."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
