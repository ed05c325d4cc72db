"""`loadtest compare`: the regression verdict between two finished runs, as a table (or its
verdict line, or JSON) and an exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtest.regression.compare import (
    compare_files,
    comparison_json,
    exit_code,
    format_table,
    verdict_line,
)


def compare_runs(baseline: Path, run_dir: Path, slo: Path | None, out: Path, quiet: bool,
                 as_json: bool) -> tuple[str, int]:
    """(what to print, the exit code): 0 no regression, 1 a regression, 3 inconclusive."""
    comparison = compare_files(baseline, run_dir, slo, out)
    if as_json:
        text = json_text(comparison_json(comparison))
    else:
        text = verdict_line(comparison) if quiet else format_table(comparison)
    return text, exit_code(comparison)


def json_text(data: Any) -> str:
    """`--json` output: indented, numpy numbers and the like as plain numbers."""
    def plain(v: Any) -> Any:
        return float(v) if hasattr(v, "__float__") else str(v)

    return json.dumps(data, indent=2, default=plain)
