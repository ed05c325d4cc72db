"""A plain closed-model Locust file for comparisons in bench/load_generator.py: the same
requests as scenarios/opscore.py's hot path (bench/mix.py), paced by Locust's own
constant_throughput, with no shared schedule and no per-request recorder."""

from __future__ import annotations

import os

from locust import FastHttpUser, constant_throughput
from mix import TASKS  # bench/ is on Locust's path (the locustfile's folder)

PER_USER = float(os.environ.get("PLAIN_PER_USER_RATE", "10"))


class PlainUser(FastHttpUser):
    wait_time = constant_throughput(PER_USER)
    tasks = TASKS
