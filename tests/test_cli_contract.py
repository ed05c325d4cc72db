"""Smaller points of the user contract: every option reads LOADTEST_<NAME>, help agrees with
the code and the README, summary.md labels, what can be a baseline, capacity as a lower bound,
no empty run directory after a preflight failure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.errors import UsageError
from loadtest.judge.verdict import capacity_verdict
from loadtest.load.runner import default_users
from loadtest.reports.markdown import render_markdown
from loadtest.stack.processes import free_port
from loadtest.store.baselines import promote
from loadtest.store.results import write_results
from tests.support import ROOT, made_up_results

runner = CliRunner()


def _commands(cmd: click.Command, path: str = "") -> list[tuple[str, click.Command]]:
    if isinstance(cmd, click.Group):
        out = []
        for name, sub in cmd.commands.items():
            out += _commands(sub, f"{path} {name}".strip())
        return out
    return [(path, cmd)]


def test_every_option_reads_loadtest_name_from_the_environment() -> None:
    wrong = []
    for path, cmd in _commands(get_command(app)):
        for p in cmd.params:
            if not isinstance(p, click.Option) or p.name in ("help", "version"):
                continue
            env = p.envvar if isinstance(p.envvar, (list, tuple)) else [p.envvar]
            want = f"LOADTEST_{str(p.name).upper()}"
            if not env or env[0] != want:
                wrong.append(f"{path} {p.opts[0]}: {env[0] if env else None} (want {want})")
    assert not wrong, wrong


def test_renamed_variables_keep_their_old_names() -> None:
    params = {p.name: p for p in get_command(app).commands["target"].params}  # type: ignore
    assert params["port"].envvar == ["LOADTEST_PORT", "LOADTEST_TARGET_PORT"]
    assert params["latency"].envvar == ["LOADTEST_LATENCY", "LOADTEST_FAULT_LATENCY"]


def test_users_and_target_help_agree_with_the_code_and_readme() -> None:
    out = runner.invoke(app, ["run", "--help"], terminal_width=200).output
    text = re.sub(r"[\s│]+", " ", out)
    assert "Default: 3 x rate, between 20 and 1000, grown in the warm-up when the tasks " \
        "need more (one local Locust process)." in text
    assert (default_users(1), default_users(100), default_users(10_000)) == (20, 300, 1000)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| `--users N` | 3 x rate (20 to 1000), grown in the warm-up for long tasks |" \
        in readme
    assert "loopback" not in text.split("--target", 1)[1].split("--scenario", 1)[0]


def test_summary_labels_a_warn_objective_warn_and_a_missing_baseline_id() -> None:
    r: dict[str, Any] = made_up_results()
    r["objectives"][0]["severity"] = "warn"
    r["regressions"] = [{"objective": "response_time_p95", "kind": "latency", "status": "pass",
                         "base_value": 0.1, "run_value": 0.1, "change": 0.0,
                         "ci": [-0.01, 0.01], "tolerance": 0.1}]
    r.pop("comparison", None)
    md = render_markdown(r)
    assert "| response_time_p95 | WARN |" in md
    assert "`None`" not in md and "Against the baseline:" in md
    r["objectives"][0]["severity"] = "fail"
    assert "| response_time_p95 | FAIL |" in render_markdown(r)


def test_a_capacity_run_cannot_be_promoted(tmp_path: Path) -> None:
    r: dict[str, Any] = made_up_results()
    r["kind"] = "capacity"
    write_results(tmp_path / "cap", r)
    with pytest.raises(UsageError, match="a capacity search cannot be a baseline"):
        promote(tmp_path / "cap", "main", tmp_path)
    assert not (tmp_path / "baselines").exists()


def _step(rate: float, status: str = "pass") -> dict[str, Any]:
    return {"offered_rate": rate, "status": status, "failed": [], "no_data": [],
            "problems": []}


def test_capacity_at_max_rate_is_a_lower_bound() -> None:
    steps = [_step(100), _step(200), _step(400)]
    outcome = {"last_pass": 400, "first_fail": None, "stop_reason": "x"}
    v = capacity_verdict(400, outcome, 100, False, None, steps)
    assert v["status"] == "pass"
    assert v["reason"].startswith("capacity >= 400 req/s (every step passed up to --max-rate)")
    # below the requirement but nothing failed: it cannot tell
    low = capacity_verdict(50, {**outcome, "last_pass": 50}, 100, False, None, [_step(50)])
    assert low["exit_code"] == 3 and "raise --max-rate to at least 100" in low["reason"]
    found = capacity_verdict(400, {**outcome, "first_fail": 450}, 100, False, "throughput", steps)
    assert found["reason"].startswith("capacity 400 req/s")


def test_a_preflight_failure_leaves_no_empty_run_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "reports"
    result = runner.invoke(app, ["run", "--target", f"http://127.0.0.1:{free_port()}",
                                 "--metrics-source", "embedded", "--out", str(out)])
    assert result.exit_code == 3 and "is unreachable" in result.output
    assert list(out.iterdir()) == []
    cap = runner.invoke(app, ["capacity", "--target", f"http://127.0.0.1:{free_port()}",
                              "--metrics-source", "embedded", "--out", str(out)])
    assert cap.exit_code == 3 and "is unreachable" in cap.output
    assert list(out.iterdir()) == []
