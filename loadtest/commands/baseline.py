"""`loadtest baseline promote`: keep a finished run as a named baseline."""

from __future__ import annotations

from pathlib import Path

from loadtest.store.baselines import promote


def promote_run(run_dir: Path, name: str, out: Path, force: bool) -> Path:
    """reports/baselines/NAME.json from the run (only a run that passed, unless `force`)."""
    return promote(run_dir, name, out, force=force)
