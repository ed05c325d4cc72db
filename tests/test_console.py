"""The terminal a person watches: the summary tables (made-up results), the capacity search's
step bound, and real runs in a real terminal (tmux, 100 columns): every line within the width,
the table of every objective, the verdict as the last line; a capacity search's bar and its
step table."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from loadtest.commands.capacity import steps_at_most
from loadtest.reports.terminal import margin, summary_tables
from tests.support import ROOT, made_up_results, require

WIDTH = 100
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def rendered(results: dict[str, Any], width: int) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    for table in summary_tables(results):
        console.print(table)
    return console.export_text()


def test_the_summary_lists_every_objective_with_value_threshold_margin_status() -> None:
    r: dict[str, Any] = made_up_results()
    r["regressions"] = [{"objective": "response_time_p95", "kind": "latency", "status": "fail",
                         "base_value": 0.1, "run_value": 0.125, "change": 0.25,
                         "ci": [0.2, 0.3], "tolerance": 0.1}]
    text = rendered(r, 100)
    assert all(len(line) <= 100 for line in text.splitlines())
    objectives, regressions = text.split("regression against the baseline")
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in objectives.splitlines() if line.startswith("│")}
    assert rows["response_time_p95"][:4] == ["2.310 s", "≤ 2.000 s", "-15.5%", "FAIL"]
    assert rows["throughput"][2:4] == ["+0.2%", "PASS"]
    assert rows["db_query_p95"][0] == "—" and rows["db_query_p95"][3] == "NO DATA"
    assert "server (prometheus)" in rows["throughput"][4]
    # the regression row: its change and interval
    assert re.search(r"│ response_time_p95 │ 100\.0 ms │ 125\.0 ms │ \+25\.0% │ "
                     r"\+20\.0% \.\. \+30\.0% │ 10% +│ FAIL", regressions), regressions
    # at 60 columns the tables fold their cells but keep within the width
    assert all(len(line) <= 60 for line in rendered(r, 60).splitlines())


def test_margin_is_room_left_against_the_line_the_objective_passes_at() -> None:
    assert margin({"value": 0.5, "threshold": 2.0, "comparison": "<="}) == "+75.0%"
    assert margin({"value": 0.012, "threshold": 0.01, "comparison": "<"}) == "-20.0%"
    assert margin({"value": 99.5, "threshold": 100.0, "comparison": ">=",
                   "extra": {"pass_at_or_above": 98.0}}) == "+1.5%"
    assert margin({"value": 1.0, "threshold": 0, "comparison": "<=", "unit": ""}) == "-1"
    assert margin({"value": None, "threshold": 2.0, "comparison": "<="}) == "—"


def test_capacity_steps_table() -> None:
    r: dict[str, Any] = {"objectives": [], "steps": [
        {"step": 1, "offered_rate": 50, "achieved_rate": 49.9, "completed_rate": 49.8,
         "status": "pass", "failed": [], "latency_ms": {"p95": 4.2}, "error_ratio": 0.0},
        {"step": 2, "offered_rate": 100, "achieved_rate": 99.0, "completed_rate": 80.0,
         "status": "fail", "failed": ["error_rate"], "latency_ms": {"p95": 2400.0},
         "objectives": [{"kind": "error_rate", "value": 0.031}]}]}
    text = rendered(r, 100)
    assert re.search(r"│ +1 │ +50 │ +49\.9 │ +49\.8 │ +4 ms │ +0\.00% │ PASS", text), text
    # a step recorded before steps kept their own error ratio: its error objective's figure
    assert re.search(r"│ +2 │ +100 │ .* │ +2400 ms │ +3\.10% │ FAIL: error_rate", text), text


def test_steps_at_most_bounds_the_search() -> None:
    # doubling 50..1600 is 6 steps, then a bracket one doubling wide halved to 10%: 4 more
    assert steps_at_most(50, 1600, 0.1, None, None) == 10
    assert steps_at_most(1600, 1600, 0.1, 800, None) == 1 + 4
    # bisecting 400..800 (100% wide) to 10%: 4 steps, the middle one included
    assert steps_at_most(600, 1600, 0.1, 400, 800) == 4
    assert steps_at_most(650, 1600, 0.1, 600, 700) == 1  # 16.7% wide: one more step


# -- in a real terminal ---------------------------------------------------------------------
class Tmux:
    """A tmux server of its own (its own socket), one window WIDTH columns wide."""

    def __init__(self, folder: Path) -> None:
        self.socket = f"loadtest-{uuid.uuid4().hex[:8]}"
        self.folder = folder

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=True, timeout=10).stdout

    def start(self, command: list[str]) -> None:
        script = self.folder / "cmd.sh"
        # the terminal's own size, not one an environment variable claims
        script.write_text(f"unset COLUMNS LINES\ncd {shlex.quote(str(self.folder))}\n"
                          f"{shlex.join(command)}\necho EXIT=$?\nsleep 600\n")
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", str(WIDTH), "-y", "40",
                  "-s", "t", f"sh {shlex.quote(str(script))}")
        self.tmux("set-option", "-t", "t", "history-limit", "5000")

    def screen(self) -> str:
        """Everything shown so far, wrapped lines joined (a line the terminal wrapped is
        one line here, as wide as it was written)."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if re.search(pattern, text):
                return text
            time.sleep(0.3)
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.screen()}")

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10, check=False)


@pytest.fixture
def tmux(tmp_path: Path) -> Any:
    require("tmux", shutil.which("tmux") is not None, "apt-get install tmux")
    t = Tmux(tmp_path)
    yield t
    t.stop()


def _lines(screen: str) -> list[str]:
    lines = [line.rstrip() for line in screen.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


@pytest.mark.slow
def test_a_run_in_a_100_column_terminal_fits_and_ends_with_table_and_verdict(
        tmux: Tmux, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "loadtest", "run", "--duration", "4s", "--warmup", "1s",
           "--metrics-source", "embedded", "--scenario", str(ROOT / "scenarios/opscore.py"),
           "--slo", str(ROOT / "slo/opscore.yaml")]
    tmux.start(cmd)
    # the live view, while the load runs
    tmux.wait_for(r"offered 100 tasks/s  achieved [\d.]+ req/s .* generator CPU \d+%", 60)
    screen = tmux.wait_for(r"EXIT=\d+", 90)
    lines = _lines(screen)
    wide = [line for line in lines if len(line) > WIDTH]
    assert not wide, "\n".join(wide)
    assert lines[-1] == "EXIT=0", screen
    verdict = lines[-2]
    assert verdict.startswith("PASS: all 4 objectives hold -> reports/"), screen
    # the table above the verdict: each objective with its value
    for name, value in (("response_time_p95", r"[\d.]+ ms"), ("throughput", r"[\d.]+ req/s"),
                        ("error_rate", r"[\d.]+%"), ("db_query_p95", r"[\d.]+ ms")):
        assert re.search(rf"│ {name} +│ +{value} │", screen), (name, screen)
    # the live view left drawn once, not a trail of half-redrawn lines
    assert len([line for line in lines if "offered 100 tasks/s" in line]) == 1, screen


@pytest.mark.slow
def test_capacity_in_a_terminal_shows_a_bar_and_ends_with_the_step_table(
        tmux: Tmux, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "loadtest", "capacity", "--start-rate", "50", "--max-rate", "100",
           "--require", "50", "--step-duration", "3s", "--step-warmup", "1s",
           "--metrics-source", "embedded", "--scenario", str(ROOT / "scenarios/opscore.py"),
           "--slo", str(ROOT / "slo/opscore.yaml")]
    tmux.start(cmd)
    bar = tmux.wait_for(r"step 1 of at most \d+ +━", 60)
    assert re.search(r"at most \d\d:\d\d left", bar), bar
    screen = tmux.wait_for(r"EXIT=\d+", 120)
    lines = _lines(screen)
    assert not [line for line in lines if len(line) > WIDTH], screen
    assert lines[-1] == "EXIT=0", screen
    # the verdict last, wrapped within the width on a terminal (as it is when piped)
    start = max(i for i, line in enumerate(lines) if line.startswith("PASS: "))
    verdict = " ".join(lines[start:-1])
    assert re.match(r"PASS: capacity >= 100 req/s .* -> reports/\S+/index.html$", verdict), \
        screen
    assert re.search(r"│ +1 │ +50 │ .* │ PASS", screen), screen
    assert re.search(r"│ +2 │ +100 │ .* │ PASS", screen), screen
    table_at = max(i for i, line in enumerate(lines) if "capacity steps" in line)
    assert table_at > max(i for i, line in enumerate(lines) if "step 2 of at most" in line)
