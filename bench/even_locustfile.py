"""Plain Locust with evenly spaced arrivals, the cheap way (issue #42): the requests of
bench/mix.py, `constant_throughput(PLAIN_PER_USER_RATE)` (10 a second by default), user i's
first task i / rate after a common start (5 ms apart at 200 req/s with 20 users), nothing
else. Unlike bench/staggered_locustfile.py, each user's pacing runs from its own first task
with Locust's own constant_throughput bookkeeping untouched."""

from __future__ import annotations

import itertools
import os
import time
from time import perf_counter

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, constant_throughput
from mix import TASKS  # bench/ is on Locust's path (the locustfile's folder)

PER_USER = float(os.environ.get("PLAIN_PER_USER_RATE", "10"))
RATE = float(os.environ.get("STAGGER_RATE", "200"))
SPAWN_ALLOWANCE_S = 2.0  # every user spawned before the first one starts
_index = itertools.count()
_start: list[float] = []


class EvenUser(FastHttpUser):
    wait_time = constant_throughput(PER_USER)
    tasks = TASKS  # type: ignore[assignment]

    def on_start(self) -> None:
        if not _start:
            _start.append(time.time() + SPAWN_ALLOWANCE_S)
        gevent.sleep(max(0.0, _start[0] + next(_index) / RATE - time.time()))
        self._cp_last_run = perf_counter()  # the pacing counts from the first task
