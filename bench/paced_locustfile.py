"""The same requests as bench/plain_locustfile.py (bench/mix.py), on the harness's open-model
schedule with its per-request recorder (what `loadtest run` adds to a scenario)."""

from __future__ import annotations

from mix import TASKS  # bench/ is on Locust's path (the locustfile's folder)

from loadtest.locustlib import PacedUser


class PacedPlain(PacedUser):
    tasks = TASKS
