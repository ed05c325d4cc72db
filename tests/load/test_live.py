"""Generator health (CPU of the load processes, through psutil) and the live status line."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest.console import Terminal
from loadtest.load.health import CpuMonitor, saturation_problems, shortfall
from loadtest.load.live import ObjectiveState, SearchStatus, latest, status_line


def monitored(code: str, seconds: float = 2.6) -> dict[str, object]:
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        mon = CpuMonitor(proc.pid)
        t0 = time.time()
        while time.time() - t0 < seconds:
            mon.tick()
            time.sleep(0.05)
        mon.tick(force=True)
        return mon.summary(t0, time.time())
    finally:
        proc.kill()
        proc.wait()


def test_a_process_that_keeps_a_core_busy_is_saturated() -> None:
    busy = monitored("import time\nt = time.time()\nwhile time.time() - t < 30: pass")
    [proc] = busy["processes"]  # type: ignore[misc]
    assert proc["mean_pct"] > 80 and proc["samples"] >= 3
    assert "saturated" in saturation_problems(busy)[0]
    assert "--workers" in saturation_problems(busy)[0]


def test_cpu_figures_are_the_kernels_and_health_reads_no_proc_itself() -> None:
    """The monitor's CPU seconds are what the kernel counts (utime + stime in /proc, read here
    by the test only); loadtest/load/health.py itself reads no /proc (psutil does, where the
    platform has one)."""
    import ast
    import os

    source = (Path(__file__).parents[2] / "loadtest" / "load" / "health.py").read_text()
    strings = [n.value for n in ast.walk(ast.parse(source))
               if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not any(s.startswith("/proc") for s in strings)  # no path under /proc
    proc = subprocess.Popen([sys.executable, "-c",
                             "import time\nt = time.time()\nwhile time.time() - t < 30: pass"])
    try:
        time.sleep(1.0)
        mon = CpuMonitor(proc.pid)
        mon.tick(force=True)
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        kernel = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        [(_, used)] = mon.samples[proc.pid]
        assert used > 0.5 and abs(used - kernel) < 0.1
    finally:
        proc.kill()
        proc.wait()
    gone = CpuMonitor(proc.pid)  # a process that is gone: no sample, no error
    gone.tick(force=True)
    assert gone.samples == {} and gone.summary(0, time.time())["processes"] == []


def test_an_idle_process_and_its_children_are_not() -> None:
    code = ("import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
            "time.sleep(30)")
    idle = monitored(code)
    procs = idle["processes"]
    assert len(procs) == 2  # type: ignore[arg-type]
    assert {p["role"] for p in procs} == {"locust", "worker"}  # type: ignore[union-attr]
    assert all(p["mean_pct"] < 20 for p in procs)  # type: ignore[union-attr]
    assert saturation_problems(idle) == []


def test_status_line_reads_locusts_history(tmp_path: Path) -> None:
    (tmp_path / "stats_stats_history.csv").write_text(
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,"
        "99.9%,99.99%,100%,Total Request Count,Total Failure Count\n"
        "1,20,,Aggregated,0.000000,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0\n"
        "2,20,GET,/x,99.0,0,3,4,4,5,6,7,8,9,10,10,10,150,3\n"
        "2,20,,Aggregated,99.5,0,3,4,4,5,6,7,8,9,10,10,10,200,3\n")
    row = latest(tmp_path)
    assert row is not None
    line = status_line(row, 75, 130, 100, 42.4,
                       (ObjectiveState("response_time_p95", "pass", 0.0048, "s"),
                        ObjectiveState("error_rate", "fail", 0.015, "ratio"),
                        ObjectiveState("db_query_p95", "-")))
    assert line.startswith("01:15 / 02:10")
    # --rate counts task starts (a task may make several requests): offered in tasks/s
    assert "offered 100 tasks/s  achieved 99.5 req/s" in line
    assert "p95 7 ms" in line and "errors 1.50%" in line
    assert "generator CPU 42%" in line
    assert line.endswith("| response_time_p95 pass 4.8 ms  error_rate FAIL 1.50%  "
                         "db_query_p95 -")
    assert status_line(None, 1, 130, 100, None).endswith("starting")
    assert "closed model" in status_line(row, 75, 130, None, None)
    assert latest(tmp_path / "nowhere") is None


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_redraws_in_place_on_a_tty_and_throttles_plain_lines() -> None:
    """On a terminal the view is drawn by rich within the width and redrawn in place (the
    cursor moved back over it, not a carriage return over a wrapped line); elsewhere plain
    lines only, the status once per `plain_every_s`, never an escape code."""
    from loadtest.load.live import LiveStatus

    objectives = tuple(ObjectiveState(f"objective_number_{i}", "pass", 0.004 * i, "s")
                       for i in range(1, 7))
    tty = FakeTty()
    term = Terminal(tty)
    term.console.width = 60  # type: ignore[union-attr]
    for t in (1.0, 2.0):
        term.status(LiveStatus(t, 70, 100, 99.5, 7.0, 200, 3, 42.0, objectives))
    term.message("judging")
    out = tty.getvalue()
    assert "\x1b[" in out and "\r\x1b[K" not in out  # cursor movements of rich's Live
    plain = _visible(out)
    assert all(len(line) <= 60 for line in plain.splitlines()), plain
    assert "offered 100 tasks/s" in plain and "objective_number_6 pass 24.0 ms" in plain
    assert plain.rstrip().endswith("judging")
    log = io.StringIO()
    term = Terminal(log, plain_every_s=60)
    for t in (1.0, 2.0, 3.0):
        term.status(LiveStatus(t, 70, 100, 99.5, 7.0, 200, 3, 42.0, objectives))
    term.message("judging")
    term.done()
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("00:01 / 01:10  offered 100 tasks/s")
    assert lines[1] == "judging" and "\x1b" not in log.getvalue()


def _visible(out: str) -> str:
    """What the terminal shows of rich's output, escape sequences removed."""
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out).replace("\r", "\n")


def test_a_capacity_search_shows_a_bar_over_its_steps_with_the_time_left() -> None:
    from loadtest.load.live import LiveStatus

    search = SearchStatus(step=2, steps_most=5, rate=100, step_s=30)
    assert search.left_s() == 30 + 3 * 30 and search.left_s(10) == 20 + 90
    tty = FakeTty()
    term = Terminal(tty)
    term.console.width = 80  # type: ignore[union-attr]
    term.status(search)
    term.status(LiveStatus(15, 30, 100, 99.0, 5.0, 100, 0, 20.0))
    term.done()
    plain = _visible(tty.getvalue())
    assert "step 2 of at most 5" in plain and "at most 01:45 left" in plain
    assert "━" in plain  # the bar
    log = io.StringIO()
    term = Terminal(log)
    term.status(search)
    term.status(LiveStatus(15, 30, 100, 99.0, 5.0, 100, 0, 20.0))
    assert log.getvalue().splitlines() == [
        "capacity step 2 of at most 5: 100 tasks/s, at most 02:00 left",
        ("step 2/5  00:15 / 00:30  offered 100 tasks/s  achieved 99.0 req/s  p95 5 ms  "
         "errors 0.00%  generator CPU 20%")]


def test_a_shortfall_names_its_likely_cause() -> None:
    lag = {"p99": 900.0}
    cpu = {"processes": [{"pid": 1, "role": "locust", "mean_pct": 31.0, "max_pct": 40.0}]}
    behind = shortfall({"achieved_rate": 728.6, "completed_rate": 631.3,
                        "schedule_lag_ms": lag}, 800, cpu, 1000)
    assert behind.startswith("the load generator delivered 728.6 of 800.0 req/s")
    assert "the target fell behind (it completed 631.3 req/s of 728.6 sent)" in behind
    assert "all 1000 users" in behind and "not busy (31% of a core)" in behind
    busy = {"processes": [{"pid": 1, "role": "locust", "mean_pct": 93.0, "max_pct": 99.0}]}
    assert "add --workers" in shortfall({"achieved_rate": 700, "completed_rate": 650,
                                         "schedule_lag_ms": lag}, 800, busy, 1000)
    assert "too few users" in shortfall({"achieved_rate": 20, "completed_rate": 20,
                                         "schedule_lag_ms": lag}, 100, cpu, 2)


def test_the_live_view_reads_the_rate_from_the_running_count(tmp_path: Path) -> None:
    """Locust's own Requests/s leaves out the last 2 s (0 in a run's first seconds): the view
    shows the requests completed over the last seconds, from the running count."""
    from loadtest.load.live import Ticker

    head = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,"
            "99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count\n")
    shown: list[object] = []
    ticker = Ticker(shown.append, tmp_path, started=100.0, total_s=10, requested=50)
    for i, count in enumerate((0, 40, 90, 140, 190)):
        (tmp_path / "stats_stats_history.csv").write_text(
            head + f"{i},20,,Aggregated,0.000000,0,3,4,4,5,6,7,8,9,10,10,10,{count},0\n")
        ticker.tick(now=100.0 + i)
    achieved = [s.achieved for s in shown]  # type: ignore[attr-defined]
    assert achieved[0] == 0.0  # one count: Locust's figure
    assert achieved[1:] == [40.0, 45.0, 140 / 3, 50.0]
    assert "achieved 50.0 req/s" in str(shown[-1])


def test_colour_only_where_no_color_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    from loadtest.load.live import LiveStatus

    status = LiveStatus(5, 70, 100, 99.5, 7.0, 200, 3, 42.0,
                        (ObjectiveState("error_rate", "fail", 0.015, "ratio"),))
    for no_color, coloured in ((None, True), ("1", False)):
        if no_color is None:
            monkeypatch.delenv("NO_COLOR", raising=False)
        else:
            monkeypatch.setenv("NO_COLOR", no_color)
        tty = FakeTty()
        term = Terminal(tty)
        term.status(status)
        term.done()
        out = tty.getvalue()
        assert "error_rate" in out and "FAIL" in out
        assert bool(re.search(r"\x1b\[[0-9;]*3[1-7]m", out)) is coloured, repr(out)
