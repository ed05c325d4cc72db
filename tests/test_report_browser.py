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
    exe = shutil.which("chromium")
    require("chromium", exe is not None, "apt-get install -y chromium")
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
    html = (site / "index.html").read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
