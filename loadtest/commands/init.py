"""`loadtest init`: editable copies of the packaged defaults in a folder (the OpsCore scenario,
its SLO file and a CI file), so that a team gating its own service starts from files it owns.
Nothing is overwritten unless asked."""

from __future__ import annotations

import shutil
from pathlib import Path

from loadtest.defaults import CI, SCENARIO, SLO, packaged
from loadtest.errors import UsageError


def write_defaults(folder: Path, ci: str = "github", force: bool = False) -> list[Path]:
    """Write scenarios/opscore.py, slo/opscore.yaml and the CI file of `ci` (github, gitlab,
    none) under `folder`; the paths written. An existing file is refused (UsageError naming
    it) unless `force`, before anything is written."""
    if ci not in (*CI, "none"):
        raise UsageError(f"--ci {ci}: use github, gitlab or none")
    plan = [(SCENARIO, "opscore.py"), (SLO, "opscore.yaml")]
    if ci != "none":
        plan.append(CI[ci])
    existing = [rel for rel, _ in plan if (folder / rel).exists()]
    if existing and not force:
        raise UsageError(f"{folder / existing[0]}: already exists (edit it, or pass --force "
                         "to overwrite it with the packaged default)")
    written = []
    for rel, name in plan:
        dest = folder / rel
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(packaged(name), dest)
        except OSError as e:
            raise UsageError(f"{dest}: cannot write it ({e.strerror})") from None
        written.append(dest)
    return written
