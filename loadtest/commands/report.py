"""`loadtest report`: a run's reports rendered again from its results.json (offline)."""

from __future__ import annotations

from pathlib import Path

from loadtest.commands.verify import run_directory
from loadtest.store.results import load_results


def render_again(run_dir: Path) -> list[Path]:
    """index.html, junit.xml and summary.md from the run's results.json; the files written.
    summary.md is not appended to $GITHUB_STEP_SUMMARY again: the run did that."""
    from loadtest.reports import render_all  # jinja2 and matplotlib: only when rendering

    run_dir = run_directory(run_dir)
    results = load_results(run_dir / "results.json")
    return render_all(results, run_dir, step_summary=False)
