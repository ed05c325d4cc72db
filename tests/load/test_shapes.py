"""Stage files: validated like the SLO file (unknown keys refused with file:line, exit 2,
nothing run); the options a stage file sets are refused when given, and what ran is recorded;
the banner names the shape and what it judges."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.commands.run import RunOptions
from loadtest.errors import ConfigError
from loadtest.load.shapes import build, describe, from_file
from tests.support import ROOT

runner = CliRunner()
STAGES = "stages:\n  - {duration: 2s, rate: 50}\n  - {duration: 3s, rate: 100}\n"


@pytest.mark.parametrize("text, where", [
    (STAGES + "jugde: {from: 2s}\n", (":4: jugde: not a field of a shape file (use stages, "
                                      "judge; check its spelling)")),
    (STAGES + "judge: {form: 5s}\n", (":4: judge.form: not a field of a shape file (use "
                                      "from, to; check its spelling)")),
    ("stages:\n  - {duration: 2s, rat: 50}\n", ":2: stages[0].rat: not a field"),
    ("stages:\n  - {duration: 2 sec, rate: 50}\n", ":2: stages[0].duration: '2 sec': "),
    (STAGES + "judge: {from: 4s, to: 9s}\n", (":4: judge: from 4s to 9s does not lie "
                                              "inside the 5s of stages")),
])
def test_a_bad_stage_file_exits_2_naming_the_line(text: str, where: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    f = tmp_path / "shape.yaml"
    f.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["run", "--shape", str(f), "--metrics-source", "embedded",
                                 "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert f"{f}{where}" in result.output
    assert not (tmp_path / "r").exists()  # nothing was run


@pytest.mark.parametrize("args, env, option", [
    (["--rate", "100"], {}, "--rate"),
    (["--warmup", "5s"], {}, "--warmup"),
    ([], {"LOADTEST_DURATION": "30s"}, "--duration"),
])
def test_options_a_stage_file_sets_are_refused(args: list[str], env: dict[str, str],
                                               option: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    f = tmp_path / "shape.yaml"
    f.write_text(STAGES, encoding="utf-8")
    result = runner.invoke(app, ["run", "--shape", str(f), *args, "--out",
                                 str(tmp_path / "r")], env=env)
    assert result.exit_code == 2, result.output
    assert f"{option} (or LOADTEST_{option[2:].upper()}): the stage file {f} sets" \
        in result.output


def test_a_stage_file_records_what_runs(tmp_path: Path) -> None:
    f = tmp_path / "shape.yaml"
    f.write_text(STAGES + "judge: {from: 2s}\n", encoding="utf-8")
    opts = RunOptions.build(
        target=None, scenario=ROOT / "scenarios" / "opscore.py", slo=ROOT / "slo" /
        "opscore.yaml", rate=100.0, duration_s=60.0, warmup_s=10.0, shape=str(f),
        arrivals="constant", users=None, prometheus=None, metrics_source="embedded",
        database=None, target_faults=[], baseline=None, out=tmp_path, workers=1, tags=[])
    assert (opts.rate, opts.warmup_s, opts.duration_s) == (100.0, 2.0, 3.0)
    assert describe(from_file(f)) == (f"shape {f}: 50 -> 100 req/s over 5s; judged 2s..5s "
                                      "(3s at 100 req/s)")


def test_the_banner_names_the_shape_and_what_it_judges() -> None:
    assert describe(build("step", 100.0, 0.0, 12.0)) == (
        "shape step: 50 -> 100 -> 200 req/s over 12s; judged 8s..12s (4s at 200 req/s)")
    assert describe(build("constant", 100.0, 10.0, 60.0)) == (
        "shape constant: 100 req/s over 70s; judged 10s..70s (60s at 100 req/s)")
    with pytest.raises(ConfigError, match="no such shape file"):
        from_file(Path("nope.yaml"))


@pytest.mark.slow
def test_a_stage_file_run_records_its_rates(tmp_path: Path) -> None:
    f = tmp_path / "shape.yaml"
    f.write_text("stages:\n  - {duration: 2s, rate: 20}\n  - {duration: 3s, rate: 40}\n"
                 "judge: {from: 2s}\n", encoding="utf-8")
    out = tmp_path / "reports"
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--metrics-source",
                        "embedded", "--shape", str(f), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, check=False)
    assert f"shape {f}: 20 -> 40 req/s over 5s; judged 2s..5s (3s at 40 req/s)" in p.stderr
    r = json.loads((out / "latest" / "results.json").read_text())
    assert (r["run"]["rate"], r["run"]["warmup_s"], r["run"]["duration_s"]) == (40, 2, 3)
    assert r["run"]["window"]["seconds"] == pytest.approx(3.0)
    history = json.loads((out / "history.jsonl").read_text().splitlines()[-1])
    assert history["rate"] == 40
