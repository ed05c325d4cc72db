"""The harness's user code (PacedUser: recorder, request deadline) on plain Locust's timing
(`constant_throughput`, no shared schedule), for bench/load_generator.py: it separates what the
harness's code costs from what evenly spaced (open-model) arrivals cost."""

from __future__ import annotations

import os

from locust import constant_throughput
from mix import TASKS  # bench/ is on Locust's path (the locustfile's folder)

from loadtest.locustlib import PacedUser

PER_USER = float(os.environ.get("PLAIN_PER_USER_RATE", "10"))


class LocustTimed(PacedUser):
    wait_time = constant_throughput(PER_USER)
    tasks = TASKS

    def on_start(self) -> None:
        pass  # no slot from the shared schedule
