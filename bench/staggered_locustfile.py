"""Plain Locust with evenly spaced arrivals, for bench/generator_fair.py: the same requests as
bench/plain_locustfile.py (bench/mix.py), `constant_pacing` of users / rate, and user i's first
task at i / rate after a common start, so the process sends one request every 1 / rate
seconds, as the harness's shared schedule does, with no schedule, recorder or deadline."""

from __future__ import annotations

import itertools
import os
import time
from time import perf_counter

import gevent
from locust import FastHttpUser, constant_pacing
from mix import TASKS  # bench/ is on Locust's path (the locustfile's folder)

RATE = float(os.environ.get("STAGGER_RATE", "200"))
USERS = int(os.environ.get("STAGGER_USERS", "600"))
SPAWN_ALLOWANCE_S = 2.0  # every user spawned before the first slot
_index = itertools.count()
_start: list[float] = []


class Staggered(FastHttpUser):
    wait_time = constant_pacing(USERS / RATE)
    tasks = TASKS

    def on_start(self) -> None:
        if not _start:
            _start.append(time.time() + SPAWN_ALLOWANCE_S)
        gevent.sleep(max(0.0, _start[0] + next(_index) / RATE - time.time()))
        self._cp_last_run = perf_counter()  # constant_pacing counts from the first task
