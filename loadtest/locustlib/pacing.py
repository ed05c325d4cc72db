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
from typing import Any

import gevent
import gevent.ssl
from gevent import sleep
from locust import FastHttpUser, events
from locust.runners import MasterRunner, WorkerRunner

from loadtest import tls
from loadtest.durations import parse_duration
from loadtest.load.schedule import Schedule, parse_profile

DEFAULT_REQUEST_TIMEOUT_S = 30.0
SCHEDULE_DELAY_S = 0.5  # slot 0 this long after test_start: let the first users spawn

SCHEDULE: Schedule | None = None
JOINED_AT_S: float | None = None  # a worker that joined a running test: seconds into the run


def plan_from_env() -> dict[str, object]:
    """The plan the harness passed to this process (the master, or a local process); on a
    plain `locust --master` (compose, a cluster), the master's `LOADTEST_LOCUST_RATE` is the
    aggregate. `workers` is what the harness asked for: a master sends each worker the plan
    with the number of workers actually connected (locustlib/workers.py), not this."""
    return {"rate": float(os.environ.get("LOADTEST_LOCUST_RATE", "10")),
            "profile": os.environ.get("LOADTEST_LOCUST_PROFILE") or "",
            "workers": max(1, int(os.environ.get("LOADTEST_LOCUST_WORKERS", "1"))),
            "arrivals": os.environ.get("LOADTEST_LOCUST_ARRIVALS", "constant")}


def use_plan(plan: dict[str, object]) -> Schedule:
    """Pace this process on its share of the plan (a worker paces rate / workers). A plan
    that arrives while this process paces (the master split the rate again: a worker joined
    or was lost) goes on from the same timeline: the profile's clock and the next slot."""
    global SCHEDULE, JOINED_AT_S
    old = SCHEDULE
    rate = float(plan["rate"])  # type: ignore[arg-type]
    workers = max(1, int(plan.get("workers", 1)))  # type: ignore[call-overload]
    profile = parse_profile(str(plan["profile"])) if plan.get("profile") else None
    if workers > 1:
        rate /= workers
        profile = [(t, r / workers) for t, r in profile] if profile else None
    SCHEDULE = Schedule(rate, str(plan.get("arrivals", "constant")), profile=profile)
    if old is not None and old.started:
        SCHEDULE.resume(old)
    elif plan.get("elapsed_s"):
        JOINED_AT_S = float(plan["elapsed_s"])  # type: ignore[arg-type]
    return SCHEDULE


def schedule() -> Schedule:
    return SCHEDULE if SCHEDULE is not None else use_plan(plan_from_env())


def _on_plan(environment, msg, **_kw) -> None:  # type: ignore[no-untyped-def]
    """A worker receives the master's plan (remote workers know nothing else)."""
    use_plan(dict(msg.data))


@events.init.add_listener
def _register(environment, **_kw) -> None:  # type: ignore[no-untyped-def]

    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message("loadtest_plan", _on_plan)


@events.test_start.add_listener
def _start_schedule(environment, **_kw) -> None:  # type: ignore[no-untyped-def]

    if isinstance(environment.runner, MasterRunner):
        return  # it sends the plan, split over its workers (locustlib/workers.py)
    now = time.time()
    if JOINED_AT_S is not None:  # the run's clock: a profile goes on where the others are
        schedule().start(now - JOINED_AT_S, first=now + SCHEDULE_DELAY_S)
    else:
        schedule().start(now + SCHEDULE_DELAY_S)


class RequestTimeout(TimeoutError):
    """A request (body included) took longer than --request-timeout."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or (f"no whole answer within {request_timeout_from_env():g} s",)))


def request_timeout_from_env() -> float:
    """`LOADTEST_REQUEST_TIMEOUT` (e.g. `10s`), set by `loadtest run --request-timeout`."""
    spec = os.environ.get("LOADTEST_REQUEST_TIMEOUT")
    return parse_duration(spec) if spec else DEFAULT_REQUEST_TIMEOUT_S


def _target_ssl_context():  # type: ignore[no-untyped-def]

    return gevent.ssl.create_default_context(cafile=tls.ca_file("target"))


def bound_requests(client: Any, seconds: float, exception: type[BaseException]) -> None:
    """Every request of `client` (body included) within `seconds`, else `exception` inside
    it. One timer per user, restarted for each request (cheaper than one per request); a
    timer that fired is replaced, since gevent fires a restarted one again at once (every
    later request of the user failed immediately: measured with gevent 26.9)."""
    timer = gevent.Timeout(seconds, exception)
    request = client.request

    def bounded_request(*args: Any, **kwargs: Any) -> Any:
        nonlocal timer
        timer.start()
        try:
            return request(*args, **kwargs)
        finally:
            if timer.pending:
                timer.cancel()
            else:  # it fired
                timer.close()
                timer = gevent.Timeout(seconds, exception)

    client.request = bounded_request


class PacedUser(FastHttpUser):
    """A FastHttpUser whose tasks start on the shared schedule. Each task should make exactly
    one request (its intended start is the slot it was given)."""

    abstract = True
    _intended: float = 0.0
    connection_timeout = 5.0
    network_timeout = 15.0  # per read: a body that trickles forever never trips it, hence:
    request_timeout = request_timeout_from_env()  # the whole request, body included
    # TLS: verified unless the harness was told otherwise (Locust's default is not to verify)
    insecure = tls.skipped("target")
    ssl_context_factory = staticmethod(_target_ssl_context) if tls.ca_file("target") else None

    def __init__(self, environment) -> None:  # type: ignore[no-untyped-def]
        super().__init__(environment)
        # an OSError is one of Locust's failure exceptions: a request past the deadline is
        # recorded as a failed sample, and the user moves on
        bound_requests(self.client, self.request_timeout, RequestTimeout)

    def _wait_for_slot(self) -> float:
        self._intended = schedule().claim()
        return max(0.0, self._intended - time.time())

    def on_start(self) -> None:
        sleep(self._wait_for_slot())

    def wait_time(self) -> float:
        return self._wait_for_slot()

    def context(self) -> dict[str, float]:
        return {"intended": self._intended}
