"""The results model (loadtest/store/model.py): its JSON Schema is the one kept in the
repository, files written before the model existed still load, and a malformed section is
refused with its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.errors import ConfigError
from loadtest.reports import render_all
from loadtest.store.model import SCHEMA_FILE, schema_text
from loadtest.store.results import load_results, write_results
from tests.support import ROOT, made_up_results

OLD = ROOT / "tests" / "data" / "results-v1-before-model.json"  # a3fa19e, a 3 s run
runner = CliRunner()


def test_the_schema_in_the_repository_is_the_models() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "the results model changed: python -m loadtest.store.model > "
        "loadtest/store/results.schema.json")
    schema = json.loads(schema_text())
    assert set(schema["required"]) >= {"schema_version", "run", "verdict", "objectives"}


def test_a_file_written_before_the_model_loads_renders_and_compares(tmp_path: Path) -> None:
    old: dict[str, Any] = json.loads(OLD.read_text())
    assert old["run"]["git_revision"].startswith("a3fa19e") and "settle" not in old
    base, run = tmp_path / "base", tmp_path / "run"
    for d, run_id in ((base, "old-a"), (run, "old-b")):
        d.mkdir()
        data = json.loads(OLD.read_text())
        data["run"]["id"] = run_id
        (d / "results.json").write_text(json.dumps(data))
        assert load_results(d)["run"]["id"] == run_id
    written = render_all(load_results(base), base)
    assert {p.name for p in written} >= {"index.html", "junit.xml", "summary.md"}
    result = runner.invoke(app, ["compare", str(base), str(run), "--slo",
                                 str(ROOT / "slo" / "opscore.yaml")])
    assert result.exit_code in (0, 1, 3), result.output  # judged, not refused
    assert "response_time_p95" in result.output


@pytest.mark.parametrize(("change", "where"), [
    (lambda r: r["objectives"][0].update(status="maybe"), "objectives[0].status"),
    (lambda r: r["verdict"].update(exit_code="one"), "verdict.exit_code"),
    (lambda r: r["run"].update(window={"start": 1.0}), "run.window.end"),
    (lambda r: r.update(regressions=[{"objective": "x"}]), "regressions[0].name"),
])
def test_a_malformed_section_is_refused_with_its_path(tmp_path: Path, change: Any,
                                                      where: str) -> None:
    r = made_up_results()
    write_results(tmp_path, r)
    load_results(tmp_path)  # the made-up results are well formed
    data = json.loads((tmp_path / "results.json").read_text())
    change(data)
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError) as e:
        load_results(tmp_path)
    assert f"results.json: {where}: " in e.value.message
    assert "\n" not in e.value.message and e.value.exit_code == 2
