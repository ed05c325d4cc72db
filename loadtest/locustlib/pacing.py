"""Open-model pacing on top of Locust's closed model.

One schedule of intended start times per process (constant spacing or Poisson arrivals) is
shared by all users: a user that is free claims the next slot and sleeps until it. With more
users than requests in flight, a slow target does not lower the offered rate; when every user
is busy the claimed slot is already in the past, and the lag (actual - intended start) is
recorded with each sample, so the harness can correct latency and detect a saturated or
undersized generator instead of silently sending less.
"""

from __future__ import annotations

import os
import time

from locust import FastHttpUser, events

from loadtest.schedule import Schedule, parse_profile

SCHEDULE: Schedule | None = None


def schedule() -> Schedule:
    global SCHEDULE
    if SCHEDULE is None:
        rate = float(os.environ.get("LOADTEST_LOCUST_RATE", "10"))
        profile_text = os.environ.get("LOADTEST_LOCUST_PROFILE")
        workers = max(1, int(os.environ.get("LOADTEST_LOCUST_WORKERS", "1")))
        profile = parse_profile(profile_text) if profile_text else None
        if workers > 1:  # each worker process paces its share of the aggregate
            rate /= workers
            profile = [(t, r / workers) for t, r in profile] if profile else None
        SCHEDULE = Schedule(rate, os.environ.get("LOADTEST_LOCUST_ARRIVALS", "constant"),
                            profile=profile)
    return SCHEDULE


@events.test_start.add_listener
def _start_schedule(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    schedule().start(time.time() + 0.5)  # let the first users spawn before slot 0


class PacedUser(FastHttpUser):
    """A FastHttpUser whose tasks start on the shared schedule. Each task should make exactly
    one request (its intended start is the slot it was given)."""

    abstract = True
    _intended: float = 0.0
    # every request is bounded: a target that stalls or streams forever costs one timeout
    connection_timeout = 5.0
    network_timeout = 15.0

    def _wait_for_slot(self) -> float:
        self._intended = schedule().claim()
        return max(0.0, self._intended - time.time())

    def on_start(self) -> None:
        from gevent import sleep

        sleep(self._wait_for_slot())

    def wait_time(self) -> float:
        return self._wait_for_slot()

    def context(self) -> dict[str, float]:
        return {"intended": self._intended}
