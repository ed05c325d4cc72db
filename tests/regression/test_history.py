"""Change points over the history of runs: E-divisive on synthetic series, merged history files,
the drift check after a run, and six real gate runs with a latency fault from the fourth."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.commands.history import drift_check, history_report
from loadtest.regression.changepoints import e_divisive, min_p_value
from loadtest.regression.history import Detector
from loadtest.reports.html import render_html
from loadtest.reports.junit import render_junit
from tests.support import EVIL, loadtest, made_up_results

runner = CliRunner()


def noise(n: int, seed: int, mean: float = 100.0) -> np.ndarray:
    return mean * (1 + 0.03 * np.random.default_rng(seed).standard_normal(n))


def test_a_10pct_step_after_30_runs_of_3pct_noise_is_found_at_run_31() -> None:
    x = np.r_[noise(30, 1), noise(30, 101, mean=110.0)]
    assert [c.index for c in e_divisive(x)] == [30]


def test_a_creep_of_1pct_a_run_over_40_runs_is_found() -> None:
    x = noise(40, 3) * 1.01 ** np.arange(40)
    assert len(e_divisive(x)) >= 1


def test_pure_noise_gives_no_change_point_in_19_of_20_seeds() -> None:
    assert sum(not e_divisive(noise(60, seed)) for seed in range(20)) >= 19


def test_six_runs_reach_p_0_1_and_no_lower() -> None:
    step = [5.1, 4.9, 5.0, 205.0, 199.0, 201.0]
    assert min_p_value(6) == pytest.approx(0.1)  # 2 of the 20 ways to split 3 / 3
    assert e_divisive(step) == []                 # not at the default 0.01
    [cp] = e_divisive(step, significance=0.1)
    assert cp.index == 3 and cp.p_value == pytest.approx(0.1)


def line(i: int, seconds: float, runner: str, **extra: Any) -> dict[str, Any]:
    return {"time": f"2026-10-01T00:{i:02d}:00+00:00", "id": f"{runner}{i:02d}",
            "git_revision": f"rev{i:02d}", "tags": {"runner": runner},
            "scenario": "scenarios/opscore.py", "rate": 100.0, "shape": "constant",
            "verdict": "pass", "figures": {"response_time_p95": seconds},
            "units": {"response_time_p95": "s"}, "better": {"response_time_p95": "lower"},
            **extra}


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(h) + "\n" for h in lines))
    return path


def two_runners(tmp_path: Path) -> tuple[Path, Path]:
    """Runner a: 40 runs of noise. Runner b: +10% from its run 20. One line in both files."""
    a = [line(i, v / 1000, "a") for i, v in enumerate(noise(40, 5))]
    b = [line(i, v / 1000, "b") for i, v in enumerate(np.r_[noise(20, 5), noise(20, 105, 110)])]
    return (write(tmp_path / "a" / "history.jsonl", a),
            write(tmp_path / "b" / "history.jsonl", b + a[:1]))


def test_histories_of_two_runners_merge_and_stay_apart(tmp_path: Path) -> None:
    a, b = two_runners(tmp_path)
    analysis = history_report([a, b.parent], metric="response_time_p95")
    by_runner = {s["tags"]["runner"]: s for s in analysis["series"]}
    assert by_runner["a"]["runs"] == 40 and by_runner["b"]["runs"] == 40
    assert by_runner["a"]["metrics"][0]["change_points"] == []
    [cp] = by_runner["b"]["metrics"][0]["change_points"]
    assert (cp["id"], cp["git_revision"], cp["previous_git_revision"]) == ("b20", "rev20",
                                                                           "rev19")
    assert cp["worse"] and cp["change_pct"] == pytest.approx(10, abs=2)
    assert cp["time"] == "2026-10-01T00:20:00+00:00" and cp["runs_before"] == 20
    recent = history_report([b], since="2026-10-01T00:30:00Z", tags=["runner=b"])
    assert recent["series"][0]["runs"] == 10


def test_history_command_text_page_and_errors(tmp_path: Path) -> None:
    _, b = two_runners(tmp_path)
    write(b, [{**h, "tags": {"runner": h["tags"]["runner"], "x": EVIL}}
              for h in map(json.loads, b.read_text().splitlines())])
    page = tmp_path / "history.html"
    r = runner.invoke(app, ["history", "--history", str(b), "--tag", "runner=b",
                            "--html", str(page)])
    assert r.exit_code == 0, r.output
    assert "WORSE" in r.output and "from run b20 (git rev19..rev20" in r.output
    html = page.read_text()
    assert "<svg" in html and "+10" in html and EVIL not in html
    assert "http://" not in re.sub(r'xmlns(:\w+)?="[^"]*"', "", html)
    for args, named in ((["--since", "yesterday"], "--since"), (["--metric", "nope"],
                        "--metric"), (["--significance", "2"], "--significance"),
                        (["--tag", "runner"], "--tag")):
        bad = runner.invoke(app, ["history", "--history", str(b), *args])
        assert bad.exit_code == 2 and named in bad.output, bad.output
    missing = runner.invoke(app, ["history", "--out", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no history file" in missing.output


def test_a_run_that_completes_a_change_point_warns_and_can_fail(tmp_path: Path) -> None:
    results = made_up_results()  # response_time_p95 2.31 s, tags {"branch": EVIL}
    results["verdict"] = {"status": "pass", "exit_code": 0, "reason": "all hold"}
    earlier = [line(i, v / 1000, "x", tags={"branch": EVIL})
               for i, v in enumerate(np.r_[noise(20, 8, 1000), noise(2, 9, 2310)])]
    write(tmp_path / "history.jsonl", earlier)
    quiet = json.loads(json.dumps(results))
    drift_check(quiet, tmp_path)  # warns only
    assert quiet["verdict"]["status"] == "pass"
    assert any(w.startswith("drift: response_time_p95 worse") and "from run x20" in w
               for w in quiet["warnings"]), quiet["warnings"]
    drift_check(results, tmp_path, fail=True)
    assert results["verdict"]["status"] == "fail" and results["verdict"]["exit_code"] == 1
    assert results["verdict"]["reason"].startswith("drift: response_time_p95 +")
    assert "change points dotted" in render_html(results)
    assert 'name="drift"' in render_junit(results) and 'type="Drift"' in render_junit(results)
    # the run before (two slow runs of three) completed nothing: no warning
    before = json.loads(json.dumps(quiet))
    before["run"]["id"] = "x21"
    write(tmp_path / "history.jsonl", earlier[:-1])
    assert drift_check(before, tmp_path, detector=Detector())["new"] == []


@pytest.mark.slow
def test_six_gate_runs_with_a_latency_fault_from_the_fourth(tmp_path: Path) -> None:
    """With 6 runs split 3 / 3 a change can reach p = 0.1 at best: the test asks for 0.1."""
    common = ["run", "--duration", "1.5s", "--warmup", "0.5s", "--metrics-source", "embedded",
              "--out", str(tmp_path), "--drift-significance", "0.1"]
    for i in range(6):
        fault = ["--target-fault", "latency=150ms"] if i >= 3 else []
        p = loadtest(*common, *fault, *(["--fail-on-drift"] if i == 5 else []))
        if i < 5:
            assert p.returncode == 0, p.stderr + p.stdout
    ids = [json.loads(h)["id"] for h in (tmp_path / "history.jsonl").read_text().splitlines()]
    verdict = p.stdout.splitlines()[-1]  # last, after the summary table
    assert p.returncode == 1 and verdict.startswith("FAIL: drift: "), p.stderr + p.stdout
    assert "response_time_p95 +" in p.stdout and f"from run {ids[3]}" in p.stdout
    assert "loadtest: warning: drift: response_time_p95 worse" in p.stderr
    h = loadtest("history", "--out", str(tmp_path), "--metric", "response_time_p95",
                 "--significance", "0.1")
    assert h.returncode == 0, h.stderr
    assert f"from run {ids[3]}" in h.stdout and "3 runs before / 3 after" in h.stdout
    assert "change points dotted" in (tmp_path / "latest" / "index.html").read_text()
