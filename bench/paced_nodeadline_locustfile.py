"""Experiment (issue #42): bench/paced_locustfile.py without the per-user request deadline
timer (the client's unbounded request restored), to measure what the timer costs."""

from __future__ import annotations

from mix import TASKS  # bench/ is on Locust's path (the locustfile's folder)

from loadtest.locustlib import PacedUser


class PacedNoDeadline(PacedUser):
    tasks = TASKS  # type: ignore[assignment]

    def __init__(self, environment) -> None:  # type: ignore[no-untyped-def]
        super().__init__(environment)
        del self.client.request  # the instance attribute bound_requests set: the class's again
