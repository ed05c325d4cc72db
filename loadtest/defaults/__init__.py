"""The defaults the package carries, so that `loadtest run` works from any folder once it is
installed: the OpsCore scenario (opscore.py, a copy of scenarios/opscore.py) and SLO file
(opscore.yaml, a copy of slo/opscore.yaml; a test keeps the copies equal), and CI files for
`loadtest init`. A run whose --scenario/--slo were not given and whose relative defaults are
not in the current folder uses these, and says so."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SCENARIO = Path("scenarios/opscore.py")  # the relative defaults of run and capacity
SLO = Path("slo/opscore.yaml")
CI = {"github": (Path(".github/workflows/loadtest.yml"), "ci/github-actions.yml"),
      "gitlab": (Path(".gitlab-ci.yml"), "ci/gitlab-ci.yml")}


def packaged(name: str) -> Path:
    """The shipped file `name` (opscore.py, opscore.yaml, ci/...) as a path on disk."""
    return Path(str(files(__name__).joinpath(name)))


def resolve(scenario: Path, slo: Path, given: frozenset[str]
            ) -> tuple[Path, Path, list[str]]:
    """The scenario and SLO file a command uses: what it was given, else the relative default
    when it is here, else the packaged copy (with a line saying so)."""
    notes = []
    if "scenario" not in given and scenario == SCENARIO and not scenario.exists():
        scenario = packaged("opscore.py")
        notes.append(f"{SCENARIO} is not in this folder: the packaged OpsCore scenario "
                     f"{scenario}")
    if "slo" not in given and slo == SLO and not slo.exists():
        slo = packaged("opscore.yaml")
        notes.append(f"{SLO} is not in this folder: the packaged SLO file {slo}")
    if notes:
        notes.append("`loadtest init` writes editable copies here")
    return scenario, slo, notes
