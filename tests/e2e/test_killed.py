"""A harness killed without warning (SIGKILL: a CI time limit, the OOM killer): no process it
started outlives it, and what it measured is still judged by `loadtest verify`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.judge.verdict import decide
from loadtest.store.results import running_results, write_results
from tests.support import ROOT, require

runner = CliRunner()
# the parent-death signal is Linux's; elsewhere only the Python children watch their parent
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

SLO = """version: 1
selector: {job: opscore-backend}
objectives:
  - {name: response_time_p95, kind: latency, quantile: 0.95, threshold: 2s}
  - {name: error_rate, kind: error_rate, max: 0.01, statuses: "5.."}
  - {name: throughput, kind: throughput, min: 15}
"""


def descendants(pid: int) -> set[int]:
    parent = {}
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit():
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
@linux
@pytest.mark.parametrize("workers,source", [(1, "prometheus"), (2, "embedded")])
def test_sigkill_leaves_no_process_and_verify_judges_what_ran(
        tmp_path: Path, workers: int, source: str) -> None:
    if source == "prometheus":
        import shutil

        require("Prometheus", shutil.which("prometheus") is not None,
                "apt-get install -y prometheus")
    slo = tmp_path / "slo.yaml"
    slo.write_text(SLO, encoding="utf-8")
    out = tmp_path / "reports"
    harness = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", "--duration", "60s", "--warmup", "2s",
         "--rate", "20", "--slo", str(slo), "--workers", str(workers), "--metrics-source",
         source, "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        record: dict = {}
        while time.monotonic() < deadline and "window" not in record.get("run", {}):
            time.sleep(0.2)
            for path in out.glob("2*/results.json"):
                record = json.loads(path.read_text())
                run_dir = path.parent
        assert "window" in record.get("run", {}), "the load never started"
        assert record["verdict"]["status"] == "running" and record["phase"] == "load"
        while time.time() < record["run"]["window"]["start"] + 6:
            time.sleep(0.2)
        started = descendants(harness.pid)
        # the target, Locust (and its workers), Prometheus
        assert len(started) >= 2 + (workers if workers > 1 else 0) + (source == "prometheus")
        harness.kill()
        harness.wait(5)
        killed_at = time.time()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(p) for p in started):
            time.sleep(0.1)
        assert not [p for p in started if alive(p)], "children outlived the harness"
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    v = runner.invoke(app, ["verify", str(run_dir)])
    assert v.exit_code == 3, v.output
    assert "killed at" in v.output
    judged = json.loads(next((run_dir / "verify").glob("*/results.json")).read_text())
    assert "killed at" in judged["verdict"]["reason"]
    assert (next((run_dir / "verify").glob("*/index.html"))).is_file()
    ran = killed_at - record["run"]["window"]["start"]
    assert ran - 2.5 <= judged["run"]["window"]["seconds"] <= ran
    totals = judged["client"]["totals"]
    assert totals["requests"] >= 0.8 * 20 * judged["run"]["window"]["seconds"], totals
    assert 16 <= totals["achieved_rate"] <= 24, totals
    assert {o["status"] for o in judged["objectives"]} == {"pass"}


def test_a_running_record_is_shown_as_such_and_refused_as_a_baseline(tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / "20260101T000000Z-abcdef"
    write_results(run_dir, running_results({"id": run_dir.name, "started_at": "then"},
                                           "started"))
    assert runner.invoke(app, ["report", str(run_dir)]).exit_code == 0
    assert "RUNNING / KILLED" in (run_dir / "index.html").read_text()
    for argv in (["baseline", "promote", str(run_dir), "--out", str(tmp_path / "reports")],
                 ["compare", str(run_dir), str(run_dir)]):
        r = runner.invoke(app, argv)
        assert r.exit_code == 2 and "never finished" in r.output, r.output
    v = runner.invoke(app, ["verify", str(run_dir)])
    assert v.exit_code == 2 and "killed, nothing was measured" in v.output, v.output
    harness = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10)",
                                "loadtest"])  # stands for a harness still at work
    try:
        record = json.loads((run_dir / "results.json").read_text())
        write_results(run_dir, {**record, "pid": harness.pid})
        v = runner.invoke(app, ["verify", str(run_dir)])
        assert v.exit_code == 2 and f"still in progress (pid {harness.pid})" in v.output
    finally:
        harness.kill()
        harness.wait()


def test_a_killed_run_is_inconclusive_unless_already_breached() -> None:
    ok = [{"name": "p95", "status": "pass"}]
    load = {"killed_at": "2026-01-01T00:00:10+00:00", "problems": []}
    assert decide(ok, load)["exit_code"] == 3
    assert "killed at 2026-01-01T00:00:10" in decide(ok, load)["reason"]
    breached = decide([{"name": "p95", "status": "fail"}], load)
    assert breached["exit_code"] == 1 and "killed at" in breached["reason"]


@linux
def test_children_die_with_a_parent_killed_outright(tmp_path: Path) -> None:
    """A Child (target, Prometheus, Locust) and the Locust worker of `loadtest worker`."""
    code = ("import time; from pathlib import Path;"
            "from loadtest.stack.processes import Child, call_dying_with_us;"
            f"c = Child('sleep', ['sleep', '30'], Path({str(tmp_path / 'log')!r}));"
            "print(c.pid, flush=True); call_dying_with_us(['sleep', '31'])")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    int(parent.stdout.readline())  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(descendants(parent.pid)) < 2:
        time.sleep(0.05)
    children = descendants(parent.pid)
    assert len(children) == 2 and all(alive(p) for p in children)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in children):
        time.sleep(0.05)
    assert not [p for p in children if alive(p)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_both_become_an_interrupt_and_are_given_back(
        sig: signal.Signals) -> None:
    """The run's handler (end to end with SIGTERM in test_run_e2e.py): either signal raises
    Interrupted where the run is, so its cleanup runs; the old handlers come back after."""
    from loadtest.errors import Interrupted
    from loadtest.session import signals_as_interrupt

    before = signal.getsignal(sig)
    with pytest.raises(Interrupted, match=f"interrupted by {sig.name}"), signals_as_interrupt():
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler raises at once; this is never reached
    assert signal.getsignal(sig) is before
