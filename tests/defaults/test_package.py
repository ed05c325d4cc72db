"""The package carries its defaults: the OpsCore scenario and SLO file ship inside it (equal to
the repository's), `loadtest init` writes editable copies, and the package installed into a
fresh virtual environment runs `loadtest run` from an empty folder outside the repository
(exit 0), its output piped: no escape codes, the live status once per 10 s."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.defaults import packaged
from tests.support import ROOT, results_of


def test_the_packaged_defaults_are_the_repositorys() -> None:
    for shipped, repo in (("opscore.py", "scenarios/opscore.py"),
                          ("opscore.yaml", "slo/opscore.yaml")):
        assert packaged(shipped).read_bytes() == (ROOT / repo).read_bytes(), (
            f"loadtest/defaults/{shipped} differs from {repo}: "
            f"cp {repo} loadtest/defaults/{shipped}")


def test_init_writes_editable_copies_and_refuses_to_overwrite(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["scenarios/opscore.py", "slo/opscore.yaml",
                                     ".github/workflows/loadtest.yml"]
    assert (tmp_path / "slo/opscore.yaml").read_bytes() == \
        (ROOT / "slo/opscore.yaml").read_bytes()
    assert "loadtest run" in (tmp_path / ".github/workflows/loadtest.yml").read_text()
    (tmp_path / "slo/opscore.yaml").write_text("edited\n")
    again = runner.invoke(app, ["init", "--ci", "gitlab"])
    assert again.exit_code == 2
    assert "scenarios/opscore.py: already exists" in again.output and "--force" in again.output
    assert (tmp_path / "slo/opscore.yaml").read_text() == "edited\n"  # nothing written
    assert not (tmp_path / ".gitlab-ci.yml").exists()
    forced = runner.invoke(app, ["init", "--ci", "gitlab", "--force", "team"])
    assert forced.exit_code == 0 and (tmp_path / "team/.gitlab-ci.yml").exists()
    assert runner.invoke(app, ["init", "--ci", "jenkins", "x"]).exit_code == 2


def _install(tmp_path: Path) -> Path:
    """The working tree's package built as a wheel and installed (no dependencies) into a new
    virtual environment, which reads its dependencies from this one's site-packages (a .pth
    added after the install, so pip never sees this environment's own loadtest)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "loadtest", src / "loadtest",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(tmp_path / "wheel"), str(src)],
                   check=True, timeout=120, capture_output=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    [wheel] = (tmp_path / "wheel").glob("opscore_loadtest-*.whl")
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    str(wheel)], check=True, timeout=120, capture_output=True)
    site = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.mark.slow
def test_the_installed_package_runs_from_an_empty_folder_and_pipes_plain(
        tmp_path: Path) -> None:
    venv = _install(tmp_path)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env.pop("COLUMNS", None)
    p = subprocess.run([str(venv / "bin" / "loadtest"), "run", "--duration", "11s",
                        "--warmup", "1s"], cwd=folder, capture_output=True, text=True,
                       timeout=150, env=env, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    # the defaults it used, said; the files are the installed package's
    assert "scenarios/opscore.py is not in this folder: the packaged OpsCore scenario" in p.stderr
    assert "slo/opscore.yaml is not in this folder: the packaged SLO file" in p.stderr
    r = results_of(folder / "reports")
    assert r["run"]["scenario"].startswith(str(venv)), r["run"]["scenario"]
    assert r["run"]["slo_file"].startswith(str(venv))
    # piped: plain text only, the live status once per 10 s (12 s of load: two lines)
    assert "\x1b" not in p.stdout + p.stderr
    live = [line for line in p.stderr.splitlines()
            if re.match(r"\d\d:\d\d / 00:12  ", line)]
    assert len(live) == 2, p.stderr
    clocks = [int(line[:2]) * 60 + int(line[3:5]) for line in live]
    assert 9 <= clocks[1] - clocks[0] <= 11  # 10 s apart (whole seconds shown, truncated)
    assert "offered 100 tasks/s" in live[1] and "response_time_p95" in live[1]
    # the summary table, then the verdict as the last line
    lines = p.stdout.splitlines()
    assert lines[-1].startswith("PASS: all 4 objectives hold -> reports/"), p.stdout
    for name in ("response_time_p95", "throughput", "error_rate", "db_query_p95"):
        assert re.search(rf"│ {name} +│ +[\d.]+ ?(ms|s|req/s|%) │", p.stdout), (name, p.stdout)
