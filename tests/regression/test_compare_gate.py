"""`loadtest compare` as a gate: --out/LOADTEST_OUT for promoted baselines, a comparison with an
inconclusive run is inconclusive, a significant improvement says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.commands.compare import exit_code, format_table
from loadtest.regression.compare import compare_runs
from loadtest.slo import load_slo
from loadtest.store.baselines import promote
from loadtest.store.results import write_results
from tests.support import ROOT, run_with

SLO = load_slo(ROOT / "slo" / "opscore.yaml")

runner = CliRunner()


def test_a_significant_improvement_is_labelled_so() -> None:
    comparison = compare_runs(run_with(seed=1), run_with(scale=0.05, seed=2), SLO)
    c = next(c for c in comparison.checks if c["objective"] == "response_time_p95")
    assert c["status"] == "pass" and c["change"] < -0.9 and c["ci"][1] < 0
    assert c["decided_by"] == "significant improvement" and c["improved"] is True
    assert "significant improvement" in format_table(comparison)
    same = compare_runs(run_with(seed=1), run_with(seed=2), SLO)
    c = next(c for c in same.checks if c["objective"] == "response_time_p95")
    assert c["decided_by"] == "no significant change" and "improved" not in c


@pytest.mark.parametrize("side", ["run", "baseline"])
def test_a_comparison_with_an_undelivered_run_is_inconclusive(side: str) -> None:
    healthy = run_with(seed=1)
    short = run_with(seed=2, per_second=38)  # the generator sent 38 of 100 req/s
    short["load"].update(delivered=False, achieved_rate=38.0, requested_rate=100.0)
    short["run"]["id"] = "r-short"
    base, run = (healthy, short) if side == "run" else (short, healthy)
    comparison = compare_runs(base, run, SLO)
    assert exit_code(comparison) == 3
    assert comparison.inconclusive == (f"the {side} r-short did not deliver its load (38.0 of "
                                       "100.0 req/s sent): compare runs that both delivered it")
    throughput = next(c for c in comparison.checks if c["objective"] == "throughput")
    assert throughput["status"] == "no_data"  # not a "regression" of -62%
    assert throughput["reason"].startswith("not compared: the")
    assert "INCONCLUSIVE: the" in format_table(comparison)


def test_a_comparison_with_an_inconclusive_verdict_is_inconclusive() -> None:
    odd = run_with(seed=2)
    odd["verdict"] = {"status": "inconclusive", "exit_code": 3, "reason": "Locust crashed"}
    comparison = compare_runs(run_with(seed=1), odd, SLO)
    assert exit_code(comparison) == 3
    assert "was inconclusive (Locust crashed)" in (comparison.inconclusive or "")


def test_compare_finds_a_baseline_promoted_under_out(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # ./reports holds no baseline named main
    out = tmp_path / "elsewhere"
    write_results(tmp_path / "base", run_with(seed=1))
    other = run_with(seed=2)
    other["run"]["id"] = "r2"  # another run (compare refuses a run against itself)
    write_results(tmp_path / "run", other)
    promote(tmp_path / "base", "main", out, force=True)  # the made-up run failed
    missing = runner.invoke(app, ["compare", "main", str(tmp_path / "run")])
    assert missing.exit_code == 2 and "no such run directory" in missing.output
    slo = str(ROOT / "slo" / "opscore.yaml")
    by_option = runner.invoke(app, ["compare", "main", str(tmp_path / "run"), "--out",
                                    str(out), "--slo", slo])
    by_env = runner.invoke(app, ["compare", "main", str(tmp_path / "run"), "--slo", slo],
                           env={"LOADTEST_OUT": str(out)})
    for result in (by_option, by_env):
        assert "response_time_p95" in result.output, result.output
        assert result.exit_code == 3  # made-up runs have no DB histograms: no_data
