"""Adopting an unmodified locustfile (`loadtest run --scenario theirs.py`).

Inside the Locust process, at `init`, every User class of the run is adopted:
- its requests are recorded (recorder.py, Locust's `request` event);
- every task is recorded (intended slot, actual start, end, its requests and the time it
  waited on them), so the report gives tasks/s next to requests/s and the harness knows what
  kept its users busy;
- open model (`LOADTEST_LOCUST_MODEL=open`, the default): each task start waits for the next
  slot of the shared schedule (pacing.py) instead of the class's `wait_time` (set to 0, and so
  is any TaskSet's own). Every request a task makes is charged the lag its task started with
  (recorder.py), so the coordinated-omission correction holds for journeys too: a later
  request is not charged the think time or the requests before it;
- closed model: the file's own `wait_time` and Locust's spawning stay; nothing is paced.

A PacedUser paces itself (its `wait_time` claims the slot): it is recorded, not re-paced.
Any other user gets PacedUser's bounds in both models: `--request-timeout` over each whole
request (a slower one is a failed sample), and the target's TLS policy (verified unless
`--insecure-target`; a FastHttpUser that sets `insecure` or `ssl_context_factory` itself keeps
its choice).

A LoadTestShape in the file cannot run on the open-model schedule: the run is refused, and the
reason written to `usage-error.txt` in the run's Locust folder for the harness to report.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import gevent
import requests
from locust import FastHttpUser, TaskSet, events
from locust.exception import StopUser
from locust.user.task import (
    LOCUST_STATE_RUNNING,
    LOCUST_STATE_STOPPING,
    LOCUST_STATE_WAITING,
    DefaultTaskSet,
)

from loadtest import tls
from loadtest.locustlib import pool, recorder  # noqa: F401 - pool registers its listener
from loadtest.locustlib.pacing import (
    PacedUser,
    RequestTimeout,
    _target_ssl_context,
    bound_requests,
    request_timeout_from_env,
    schedule,
)
from loadtest.store.records import ShapeEnd

USAGE_ERROR_FILE = "usage-error.txt"


def model() -> str:
    return os.environ.get("LOADTEST_LOCUST_MODEL", "open")


def _no_wait(*_args: Any) -> float:
    return 0.0


def _is_taskset(task: Any) -> bool:
    return isinstance(task, type) and issubclass(task, TaskSet)


def _tasksets(tasks: Any, seen: set[type]) -> None:
    for t in tasks or []:
        if _is_taskset(t) and t not in seen:
            seen.add(t)
            _tasksets(t.tasks, seen)


def _paced_execute(original: Any) -> Any:
    def execute_task(self: Any, task: Any) -> Any:
        if _is_taskset(task):  # a nested TaskSet: its own tasks are the task starts
            return original(self, task)
        user = self.user
        if getattr(type(user), "_loadtest_paced", False):
            slot = schedule().claim()
            delay = slot - time.time()
            if delay > 0:  # waiting, like Locust's own wait(): a stop may end it at once
                user._state = LOCUST_STATE_WAITING
                gevent.sleep(delay)
                if user._state == LOCUST_STATE_STOPPING:
                    raise StopUser()
                user._state = LOCUST_STATE_RUNNING
            user._loadtest_intended = slot
        else:  # a PacedUser claimed its slot in wait_time; closed model: no slot at all
            slot = getattr(user, "_intended", 0.0) or 0.0
        started = time.time()
        record = recorder.begin_task(slot or started, started)
        try:
            return original(self, task)
        finally:
            recorder.end_task(record)
            user._loadtest_intended = 0.0
    execute_task._loadtest = True  # type: ignore[attr-defined]
    return execute_task


def _with_intended(original: Any) -> Any:
    def context(self: Any) -> dict[str, object]:  # a user's own context: free-form
        ctx = original(self)
        intended = self.__dict__.get("_loadtest_intended")
        return {**ctx, "intended": intended} if intended else ctx
    return context


class HttpRequestTimeout(requests.exceptions.Timeout):
    """--request-timeout for HttpUser: a requests exception, so Locust records a failure."""

    def __init__(self, *args: object) -> None:
        message = f"no whole answer within {request_timeout_from_env():g} s"
        super().__init__(*(args or (message,)))


def _bound_client(user: Any) -> None:
    """The whole of each request within --request-timeout; the target's TLS policy."""
    client = getattr(user, "client", None)
    if client is None or not hasattr(client, "request") or \
            getattr(client, "_loadtest_bounded", False):
        return
    session = isinstance(client, requests.Session)
    if session and tls.skipped("target"):
        client.verify = False
    elif session and tls.ca_file("target"):
        client.verify = tls.ca_file("target")
    bound_requests(client, request_timeout_from_env(),
                   HttpRequestTimeout if session else RequestTimeout)
    client._loadtest_bounded = True


def _bounded(user_class: type) -> None:
    own = [c for c in user_class.__mro__ if not c.__module__.startswith("locust")]
    if issubclass(user_class, FastHttpUser):
        if not any("insecure" in c.__dict__ for c in own):
            user_class.insecure = tls.skipped("target")  # type: ignore[attr-defined]
        if tls.ca_file("target") and not any("ssl_context_factory" in c.__dict__ for c in own):
            user_class.ssl_context_factory = staticmethod(  # type: ignore[attr-defined]
                _target_ssl_context)
    init = user_class.__init__  # type: ignore[misc]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        _bound_client(self)

    user_class.__init__ = __init__  # type: ignore[misc]


def adopt(user_class: type, open_model: bool) -> None:
    """Record (and, in the open model, pace) one User class, without touching its file."""
    if issubclass(user_class, PacedUser):
        return
    _bounded(user_class)
    if not open_model:
        return
    user_class._loadtest_paced = True  # type: ignore[attr-defined]
    user_class.wait_time = _no_wait  # type: ignore[attr-defined]
    user_class.context = _with_intended(user_class.context)  # type: ignore[attr-defined]
    sets: set[type] = set()
    _tasksets(getattr(user_class, "tasks", []), sets)
    for ts in sets:
        if "wait_time" in ts.__dict__:
            ts.wait_time = _no_wait  # type: ignore[attr-defined]


def _refuse(environment: Any, message: str) -> None:
    out = os.environ.get("LOADTEST_LOCUST_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / USAGE_ERROR_FILE).write_text(message + "\n", encoding="utf-8")
    raise RuntimeError(message)  # Locust treats an exception at init as fatal (exit 1)


SHAPE_FILE = "shape.json"


def _bound_shape(environment: Any, name: str) -> None:
    """Closed model: the file's LoadTestShape drives the users, as Locust runs it, but only
    for the run's time (Locust ignores --run-time while a shape runs): at
    LOADTEST_LOCUST_RUN_TIME after the test starts the shape is stopped, and Locust quits as
    when a shape ends. `shape.json` tells the harness which of the two ended it, and when."""
    run_time = float(os.environ.get("LOADTEST_LOCUST_RUN_TIME") or 0)
    out = os.environ.get("LOADTEST_LOCUST_OUT")
    ended = ShapeEnd(name=name, by="shape")

    def stop(runner: Any) -> None:
        if runner.shape_greenlet is not None:
            ended["by"] = "run_time"
            runner.shape_greenlet.kill(block=False)

    def on_start(environment: Any, **_kw: Any) -> None:
        if run_time > 0 and "started" not in ended:
            ended["started"] = time.time()
            gevent.spawn_later(run_time, stop, environment.runner)

    def on_stop(environment: Any, **_kw: Any) -> None:
        if out and "ended" not in ended:
            ended["ended"] = time.time()
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / SHAPE_FILE).write_text(json.dumps(ended), encoding="utf-8")

    environment.events.test_start.add_listener(on_start)
    environment.events.test_stop.add_listener(on_stop)


def _harness_spawn_rate(record: logging.LogRecord) -> bool:
    """Locust warns of a spawn rate over 100 in every run of more users: the harness spawns
    them all at once on purpose (the schedule paces them), so the warning only misleads in the
    log a reader opens, and in the last lines quoted when Locust exits."""
    return "spawn rate is very high" not in record.getMessage()


@events.init.add_listener
def _on_init(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    logging.getLogger("locust.runners").addFilter(_harness_spawn_rate)
    open_model = model() == "open"
    shape = environment.shape_class
    if open_model and shape is not None:
        try:
            where = inspect.getsourcefile(type(shape)) or "the locustfile"
        except TypeError:
            where = "the locustfile"
        _refuse(environment, f"{where}: {type(shape).__name__} is a LoadTestShape, which the "
                "open model cannot run (the harness paces on its own schedule): use --shape "
                "NAME or a stages file, or --model closed to let Locust run the shape")
    if shape is not None:
        _bound_shape(environment, type(shape).__name__)
    for cls in environment.user_classes:
        adopt(cls, open_model)
    for ts_class in (TaskSet, DefaultTaskSet):
        if "execute_task" in ts_class.__dict__ and \
                not getattr(ts_class.execute_task, "_loadtest", False):
            ts_class.execute_task = _paced_execute(ts_class.execute_task)  # type: ignore
