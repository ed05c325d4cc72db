"""The status names of results.json, defined once: an objective's and a regression's (pass,
fail, no_data) and the verdict's (also inconclusive, interrupted, running), and the delivery
tolerance the run and the capacity search both judge the load by."""

from __future__ import annotations

from typing import Final, Literal

ObjectiveStatus = Literal["pass", "fail", "no_data"]
VerdictStatus = Literal["pass", "fail", "inconclusive", "interrupted", "running"]

PASS: Final = "pass"
FAIL: Final = "fail"
NO_DATA: Final = "no_data"
INCONCLUSIVE: Final = "inconclusive"
INTERRUPTED: Final = "interrupted"
RUNNING: Final = "running"  # the record while a run is under way; left as it is by a killed run

DELIVERY_TOLERANCE: Final = 0.05  # achieved client rate within 5% of the request
