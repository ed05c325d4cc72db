"""Plain Locust with evenly spaced arrivals on fixed slots (issue #42's fair baseline): the
requests of bench/mix.py; user i of n sends at start + i / rate + k * n / rate (k = 0, 1, ...),
each user sleeping until its own next slot, computed from the start, so no user drifts. No
shared schedule, recorder or deadline: the cheapest plain Locust whose arrivals are as even
as the harness's."""

from __future__ import annotations

import itertools
import os
import time

from locust import FastHttpUser
from mix import TASKS  # bench/ is on Locust's path (the locustfile's folder)

RATE = float(os.environ.get("STAGGER_RATE", "200"))
USERS = int(os.environ.get("STAGGER_USERS", "20"))
SPAWN_ALLOWANCE_S = 2.0  # every user spawned before the first slot
_index = itertools.count()
_start: list[float] = []


class SlotUser(FastHttpUser):
    tasks = TASKS  # type: ignore[assignment]
    _next = 0.0

    def on_start(self) -> None:
        if not _start:
            _start.append(time.time() + SPAWN_ALLOWANCE_S)
        self._next = _start[0] + next(_index) / RATE
        time.sleep(max(0.0, self._next - time.time()))  # gevent-patched

    def wait_time(self) -> float:
        self._next += USERS / RATE
        return max(0.0, self._next - time.time())
