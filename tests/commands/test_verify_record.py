"""A run's verdict is a record: `loadtest verify` writes its judgement beside the run and never
replaces the run's own files; it warns when the raw samples changed since; `baseline promote`
takes only a run that passed, unless --force (recorded)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from tests.support import ROOT

runner = CliRunner()
REPORTS = ("results.json", "index.html", "junit.xml", "summary.md")
SLO = """\
version: 1
selector: {{job: opscore-backend}}
objectives:
  - {{name: throughput, kind: throughput, min: {min_rate}}}
  - {{name: error_rate, kind: error_rate, max: 0.01, min_samples: 10}}
"""


def digests(run_dir: Path) -> dict[str, str]:
    return {n: hashlib.sha256((run_dir / n).read_bytes()).hexdigest() for n in REPORTS}


@pytest.mark.slow
def test_verify_keeps_the_record_and_promote_takes_only_a_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step = tmp_path / "step-summary.md"  # $GITHUB_STEP_SUMMARY: one copy per run, per verify
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    strict, loose = tmp_path / "strict.yaml", tmp_path / "loose.yaml"
    strict.write_text(SLO.format(min_rate=1000), encoding="utf-8")
    loose.write_text(SLO.format(min_rate=10), encoding="utf-8")
    out = tmp_path / "reports"
    p = subprocess.run([sys.executable, "-m", "loadtest", "run", "--metrics-source",
                        "embedded", "--rate", "20", "--duration", "3s", "--warmup", "1s",
                        "--slo", str(strict), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 1, p.stdout + p.stderr  # 20 req/s is not 1000
    assert step.read_text().count("## loadtest: FAIL") == 1
    run_dir = (out / "latest").resolve()
    original = json.loads((run_dir / "results.json").read_text())
    assert original["run"]["slo"]["text"] == strict.read_text()
    assert original["run"]["slo"]["sha256"] == hashlib.sha256(strict.read_bytes()).hexdigest()
    samples = original["inputs"]["samples"]
    assert any(k.startswith("locust/samples-") for k in samples)
    assert "metrics/embedded-snapshots.jsonl.gz" in samples
    before = digests(run_dir)

    # a looser SLO: a new judgement beside the run, the run's own four files untouched
    v = runner.invoke(app, ["verify", str(run_dir), "--slo", str(loose)])
    assert v.exit_code == 0, v.output
    assert digests(run_dir) == before
    [vdir] = (run_dir / "verify").iterdir()
    assert {f.name for f in vdir.iterdir()} == set(REPORTS) | {"load-performance.json",
                                                     "pr-comment.md"}
    r = json.loads((vdir / "results.json").read_text())
    assert r["verdict"]["status"] == "pass"
    ver = r["verification"]
    assert ver["of_run"] == original["run"]["id"] and ver["run_dir"] == str(run_dir)
    assert ver["slo_file"] == str(loose) and ver["slo_changed"] is True
    assert ver["metrics_source"]["name"] == "embedded"
    assert ver["original_verdict"]["status"] == "fail" and ver["sample_warnings"] == []
    assert "stays FAIL" in v.output
    md = (vdir / "summary.md").read_text()
    assert f"Re-judged run `{original['run']['id']}`" in md and "**FAIL**" in md
    assert "Re-judged run" in (vdir / "index.html").read_text()
    summary = step.read_text()  # the run's summary once, then the verification's own, once
    assert summary.count("## loadtest: FAIL") == 1 and summary.count("Re-judged run") == 1

    # `loadtest report` re-renders the same results: the record itself does not move
    verified = digests(vdir)
    assert runner.invoke(app, ["report", str(vdir)]).exit_code == 0
    assert runner.invoke(app, ["report", str(run_dir)]).exit_code == 0
    assert digests(vdir) == verified and digests(run_dir) == before
    assert step.read_text() == summary  # re-renders add no copy

    # a sample file edited after the run: verify says so
    sample = run_dir / next(k for k in samples if k.startswith("locust/samples-"))
    with sample.open("a", encoding="utf-8") as f:
        f.write(sample.read_text().splitlines()[-1] + "\n")
    again = runner.invoke(app, ["verify", str(run_dir), "--slo", str(loose)])
    assert "changed since the run" in again.output
    assert len(list((run_dir / "verify").iterdir())) == 2
    assert digests(run_dir) == before

    # promote: not a failed run, unless --force, and then the baseline says so
    refused = runner.invoke(app, ["baseline", "promote", str(run_dir), "--out", str(out)])
    assert refused.exit_code == 2
    assert "its verdict was FAIL" in refused.output and "--force" in refused.output
    assert not (out / "baselines").exists()
    forced = runner.invoke(app, ["baseline", "promote", str(run_dir), "--out", str(out),
                                 "--force"])
    assert forced.exit_code == 0, forced.output
    kept = json.loads((out / "baselines" / "main.json").read_text())
    assert kept["promotion"] == {**kept["promotion"], "name": "main", "verdict": "fail",
                                 "forced": True}
    # the verification that passed is a run that held
    ok = runner.invoke(app, ["baseline", "promote", str(vdir), "--name", "loose", "--out",
                             str(out)])
    assert ok.exit_code == 0, ok.output
