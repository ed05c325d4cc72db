"""The command line: help, version, exit codes and one-line messages (in process), plus one
smoke test of the installed entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from loadtest import __version__
from loadtest.cli import app
from loadtest.store.results import write_results
from tests.support import made_up_results

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_help_lists_every_command_and_each_has_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = get_command(app).commands  # type: ignore[attr-defined]
    for name, cmd in commands.items():
        assert name in result.output
        assert cmd.help, f"{name} has no help text"


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in get_command(app).commands:  # type: ignore[attr-defined]
        assert f"loadtest {name}" in readme, f"README does not document `loadtest {name}`"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"loadtest {__version__}"


@pytest.mark.parametrize("args, message", [
    (["run", "--duration", "2 sec"], "--duration: '2 sec' is not a duration"),
    (["run", "--rate", "0"], "--rate 0.0: must be > 0"),
    (["run", "--shape", "zigzag"], "--shape 'zigzag': not a known shape"),
    (["run", "--scenario", "nope.py"], "--scenario nope.py: no such file"),
    (["run", "--target-fault", "latency"], "--target-fault 'latency': use KEY=VALUE"),
    (["run", "--target", "127.0.0.1:8080"], "give a base URL like http://127.0.0.1:8080"),
    (["run", "--slo", "nope.yaml"], "nope.yaml: no such SLO file"),
    (["capacity", "--headroom", "lots"], "--headroom 'lots': use a share such as 30% or 0.3"),
    (["capacity", "--project", "0"], "--project 0: give the req/s to plan for"),
    (["capacity", "--users", "0"], "--users 0: must be >= 1"),
])
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_slo_file_exits_2_before_any_load(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nobjectives:\n  - name: x\n    kind: latency\n"
                   "    quantile: 0.95\n    threshold: 2 sec\n")
    result = runner.invoke(app, ["run", "--slo", str(bad), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert f"{bad}:6: objectives[0].threshold" in result.output
    assert not (tmp_path / "r").exists()  # nothing was run


def test_unknown_option_is_a_usage_error() -> None:
    assert runner.invoke(app, ["run", "--no-such-option"]).exit_code == 2


def test_unreachable_target_is_inconclusive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    from loadtest.stack.processes import free_port

    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, ["run", "--target", f"http://127.0.0.1:{free_port()}",
                                 "--metrics-source", "embedded", "--out", str(tmp_path)])
    assert result.exit_code == 3
    assert "is unreachable" in result.output and "pass the right --target" in result.output


def test_report_rerenders_from_results_json(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    step = tmp_path / "step.md"
    step.write_text("the run's summary\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    write_results(tmp_path, made_up_results())
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0
    assert step.read_text() == "the run's summary\n"  # a re-render adds no second copy
    assert (tmp_path / "index.html").exists() and (tmp_path / "junit.xml").exists()
    missing = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no results.json here" in missing.output


def test_installed_entry_point() -> None:
    exe = shutil.which("loadtest", path=str(Path(sys.executable).parent))
    assert exe is not None, "the loadtest console script is not installed"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "run" in out.stdout and "target" in out.stdout
