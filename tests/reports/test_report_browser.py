"""index.html in a real browser (Debian's headless Chromium): it renders, logs nothing to the
console, requests nothing but itself (every host name is mapped to a local server that records
what is asked), and an injected <script> stays text."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from loadtest.reports import render_all
from tests.support import EVIL, made_up_results, require


@pytest.mark.parametrize("variant", ["fail", "pass_with_baseline", "inconclusive"])
def test_report_in_headless_chromium(tmp_path: Path, variant: str) -> None:
    results = made_up_results()
    if variant == "pass_with_baseline":
        for o in results["objectives"]:  # type: ignore[union-attr]
            o["status"] = "pass"
        results["regressions"] = [{
            "objective": "response_time_p95", "kind": "latency", "status": "pass",
            "base_value": 0.1, "run_value": 0.105, "change": 0.05, "ci": [-0.02, 0.12],
            "tolerance": 0.1, "decided_by": "no significant change", "relative": True}]
        results["comparison"] = {"baseline": "b1", "method": "bootstrap"}
        results["verdict"] = {"status": "pass", "exit_code": 0, "reason": "all hold"}
    elif variant == "inconclusive":
        results["verdict"] = {"status": "inconclusive", "exit_code": 3,
                              "reason": "no data for db_query_p95"}
    site = tmp_path / "site"
    site.mkdir()
    render_all(results, site)
    _check_in_chromium(site, tmp_path)
    html = (site / "index.html").read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def _check_in_chromium(site: Path, tmp_path: Path) -> None:
    """index.html of `site` renders in headless Chromium, logs nothing to the console and
    asks for nothing but itself."""
    exe = shutil.which("chromium")
    require("chromium", exe is not None, "apt-get install -y chromium")
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(site), **kw)

        def log_message(self, *args: object) -> None:
            asked.append(f"{self.headers.get('Referer')} {self.path}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shot = tmp_path / "report.png"
    try:
        p = subprocess.run(
            [str(exe), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             f"--host-resolver-rules=MAP * 127.0.0.1:{port}", "--enable-logging=stderr",
             "--v=0", "--window-size=1200,2000", f"--screenshot={shot}",
             f"http://127.0.0.1:{port}/index.html"],
            capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert shot.exists() and shot.stat().st_size > 20_000, p.stderr[-2000:]
    console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    # what the page asked for carries it as Referer (the browser's own update and time
    # checks, also mapped here, carry none)
    from_page = [a for a in asked if a.startswith("http://")]
    assert from_page == [], from_page
    assert any(a.endswith(" /index.html") for a in asked)


def test_capacity_report_in_headless_chromium(tmp_path: Path) -> None:
    """The capacity report with its resource charts, bottleneck and projection (#22)."""
    def res(cpu: float, pool: float) -> list[dict[str, object]]:
        return [{"name": "cpu", "metric": "process_cpu_seconds_total", "unit": "cores",
                 "value": cpu, "peak": cpu * 1.1, "limit": 1.0, "limit_from": "known",
                 "utilization": cpu},
                {"name": "memory", "metric": "process_resident_memory_bytes", "unit": "bytes",
                 "value": 7e7 + pool * 1e6, "peak": 8e7, "limit": None, "limit_from": None,
                 "utilization": None},
                {"name": "db_connections", "metric": "db_connections_active",
                 "unit": "connections", "value": pool, "peak": min(2.0, pool + 0.5),
                 "limit": 2.0, "limit_from": "db_connections_max", "utilization": pool / 2}]
    steps = [{"step": i + 1, "offered_rate": r, "achieved_rate": r, "completed_rate": c,
              "status": st, "failed": [] if st == "pass" else ["throughput"],
              "latency_ms": {"p50": 10, "p95": p95, "p99": p95 * 1.2},
              "server_p95_s": p95 / 1000, "objectives": [], "resources": res(cpu, pool)}
             for i, (r, c, st, p95, cpu, pool) in enumerate(
                 [(40, 40, "pass", 25, 0.1, 0.2), (80, 80, "pass", 24, 0.15, 1.0),
                  (160, 142, "fail", 650, 0.25, 2.0), (120, 120, "pass", 25, 0.2, 1.8)])]
    bottle = {"name": "db_connections", "text": "db_connections: 2.00 of 2.00 connections "
              "in use (100%, limit from db_connections_max) at 160 req/s"}
    results = {"kind": "capacity", "run": {"id": "c1", "start_rate": 40, "max_rate": 640,
                                          "precision": 0.5, "target": {"url": EVIL}},
               "steps": steps, "verdict": {"status": "pass", "exit_code": 0,
                                           "reason": "capacity 120 req/s"},
               "capacity": {"rate": 120, "first_fail": 160, "require": 100,
                            "bottleneck": bottle,
                            "projection": {"instances": 11, "text": "11 instance(s) for 1000 "
                                           "req/s with 30% headroom, at 120 req/s per "
                                           "instance: a projection assuming linear scaling"}}}
    site = tmp_path / "site"
    site.mkdir()
    render_all(results, site)
    _check_in_chromium(site, tmp_path)
    html = (site / "index.html").read_text()
    for name in ("cpu", "memory", "db_connections"):
        assert f"Resource: {name}" in html
    assert "Bottleneck:</strong> db_connections: 2.00 of 2.00" in html
    assert "11 instance(s) for 1000 req/s" in html
    assert EVIL not in html
    assert "**bottleneck**: db_connections" in (site / "summary.md").read_text()
