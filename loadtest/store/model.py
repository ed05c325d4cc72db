"""The results model: what `results.json` holds, as pydantic models, validated once when a file
is read (store/results.load_results) and published as a JSON Schema
(`loadtest/store/results.schema.json`, generated from these models; a test fails when the two
disagree).

The models name every section a run, a verification, a capacity search or a plugin run
writes, and type the fields that other code reads (statuses, exit codes, the window, values).
Each section allows fields beyond those named (`extra="allow"`): results.json grows a field
at a time, and a file written by an older harness of the same schema_version still loads.
The code builds and reads the same sections as the TypedDicts of store/records.py; every
field named here is a key of the record of the same section there (tests/store/test_records.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loadtest.judge.status import ObjectiveStatus, VerdictStatus

SCHEMA_FILE = Path(__file__).with_name("results.schema.json")



class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


class Verdict(_Section):
    """The gate's answer: its status, exit code (0/1/2/3/130) and the reason in words."""
    status: VerdictStatus
    exit_code: int = Field(ge=0, le=255)
    reason: str = ""


class Window(_Section):
    """The judged window, wall clock (epoch seconds and ISO 8601, UTC)."""
    start: float
    end: float
    seconds: float | None = None
    start_iso: str | None = None
    end_iso: str | None = None


class Run(_Section):
    """What was run: id, harness and git revision, scenario, SLO file, rate, shape, users,
    the window once known, the target and the metrics source."""
    id: str
    harness_version: str | None = None
    git_revision: str | None = None
    started_at: str | None = None
    scenario: str | None = None
    slo_file: str | None = None
    rate: float | None = None
    shape: str | None = None
    model: str | None = None
    users: int | str | None = None
    window: Window | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class Objective(_Section):
    """One objective as judged: its status, value against the threshold, and the evidence."""
    name: str
    kind: str
    status: ObjectiveStatus
    value: float | None = None
    threshold: object = None  # a number as the harness writes it; not checked here
    comparison: str | None = None
    unit: str | None = None
    source: str | None = None
    severity: str = "fail"
    samples: float | None = None
    reason: str | None = None
    detail: str | None = None
    extra: dict[str, object] = Field(default_factory=dict)  # per kind: records.ObjectiveExtra


class Regression(_Section):
    """One objective compared with the baseline."""
    name: str
    objective: str
    status: ObjectiveStatus
    change: float | None = None
    tolerance: float | None = None


class Load(_Section):
    """The load as offered and achieved, the generator's health, the problems found."""
    requested_rate: float | None = None
    achieved_rate: float | None = None
    request_rate: float | None = None
    delivered: bool | None = None
    problems: list[str] = Field(default_factory=list)


class SettledObjective(_Section):
    name: str
    status: Literal["pass", "fail", "not settled"]
    at_s: float | None = None
    blocks: int


class Settle(_Section):
    """--settle: each objective's sequential decision and the time saved."""
    confidence: float
    settled_at_s: float | None = None
    planned_window_s: float
    window_s: float | None = None
    saved_s: float | None = None
    objectives: list[SettledObjective]


class Results(_Section):
    """results.json, schema_version 1."""
    schema_version: Literal[1]
    kind: str = "run"                    # run, capacity, judge
    phase: str | None = None             # a `running` record: started, stack, load
    run: Run
    verdict: Verdict
    objectives: list[Objective]
    regressions: list[Regression] = Field(default_factory=list)
    load: Load = Field(default_factory=Load)
    client: dict[str, object] = Field(default_factory=dict)  # records.ClientSummary
    warnings: list[str] = Field(default_factory=list)
    samples: dict[str, object] = Field(default_factory=dict)  # records.SamplesRecord
    interrupted: bool = False
    settle: Settle | None = None
    steps: list[dict[str, object]] | None = None    # a capacity search's steps
    capacity: dict[str, object] | None = None       # and what it found
    verification: dict[str, object] | None = None   # a `loadtest verify` of a run


def schema() -> dict[str, object]:
    return Results.model_json_schema()


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # python -m loadtest.store.model > loadtest/store/results.schema.json
    print(schema_text(), end="")
