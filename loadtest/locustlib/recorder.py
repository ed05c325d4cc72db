"""Per-request samples, captured through Locust's `request` event.

Rows are buffered in memory and flushed every second and at the end, so a crash loses at
most the last second (and the harness sees a target stop answering as it happens). A local
process (or the master) appends them to `samples-<pid>.csv`; a worker (local `--processes` or
on another machine) sends them to the master over Locust's own connection (`loadtest_samples`
messages), which writes them: every worker's samples reach the run directory. The start
marker `started-<pid>.json` tells the harness when the schedule began, and the load stops
`LOADTEST_LOCUST_RUN_TIME` seconds after it.
Tasks go the same way to `tasks-<pid>.csv` (adopt.py opens and closes them): the intended
slot, the actual start, the end, the requests the task made and the time it spent waiting on
their answers, for tasks/s next to requests/s, the time a user is busy inside a task, and how
much of it the target caused (a journey's think time is the generator's, not the target's).

A request made inside a task carries an intended start of its own: its actual start minus the
lag the task started with. The coordinated-omission correction then charges each request the
delay of its task's start, never the think time or the earlier requests before it in the task.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from loadtest.locustlib import pacing, workers

COLUMNS = ["start", "intended", "method", "name", "response_ms", "status", "failed", "error",
           "bytes"]
TASK_COLUMNS = ["intended", "start", "end", "requests", "request_ms"]
FLUSH_EVERY_S = 1.0  # the harness reads them live too (a target that stops answering)


class Recorder:
    def __init__(self, out: Path | None, runner: Any) -> None:
        self.out = out
        self.runner = runner
        self.rows: list[tuple[Any, ...]] = []
        self.tasks: list[tuple[str, ...]] = []
        self.last_flush = time.monotonic()
        self.path = out / f"samples-{os.getpid()}.csv" if out else None
        self.task_path = out / f"tasks-{os.getpid()}.csv" if out else None
        if self.path is not None and self.task_path is not None:
            out.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            with self.path.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(COLUMNS)
            with self.task_path.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(TASK_COLUMNS)

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.flush()

    def add_task(self, task: Task, end: float) -> None:
        self.tasks.append((f"{task.intended:.6f}", f"{task.start:.6f}", f"{end:.6f}",
                           str(task.requests), f"{task.request_ms:.3f}"))

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        tasks, self.tasks = self.tasks, []
        self.last_flush = time.monotonic()
        if not rows and not tasks:
            return

        if isinstance(self.runner, WorkerRunner):
            self.runner.send_message("loadtest_samples", {"rows": [list(r) for r in rows],
                                                          "tasks": [list(t) for t in tasks]})
        else:
            self.write(rows, tasks)

    def write(self, rows: list[Any], tasks: list[Any] | None = None) -> None:
        if self.path is not None and rows:
            with self.path.open("a", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(rows)
        if self.task_path is not None and tasks:
            with self.task_path.open("a", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(tasks)


RECORDER: Recorder | None = None


@dataclass
class Task:
    """One task being run by a user: its slot, its actual start, and the requests it made."""
    intended: float
    start: float
    requests: int = 0
    request_ms: float = 0.0

    @property
    def lag_s(self) -> float:
        return max(0.0, self.start - self.intended)


# the task each user's greenlet is inside (a request event fires in the greenlet that made it)
RUNNING: dict[Any, Task] = {}


def begin_task(intended: float, start: float) -> Task:
    task = Task(intended, start)
    RUNNING[gevent.getcurrent()] = task
    return task


DONE = [0, 0.0]  # tasks finished in this process, and their seconds (the pool sizer reads it)


def end_task(task: Task) -> None:
    if RUNNING.get(gevent.getcurrent()) is task:
        del RUNNING[gevent.getcurrent()]
    end = time.time()
    DONE[0] += 1
    DONE[1] += end - task.start
    if RECORDER is not None:
        RECORDER.add_task(task, end)


class SamplesMessage(TypedDict, total=False):
    """What a worker sends the master (`loadtest_samples`): its sample and task rows."""
    rows: list[list[object]]
    tasks: list[list[object]]


def write_rows(message: SamplesMessage) -> None:
    """The master writes what a worker sent."""
    if RECORDER is not None:
        RECORDER.write(message.get("rows", []), message.get("tasks", []))


def _on_worker_samples(environment, msg, **_kw) -> None:  # type: ignore[no-untyped-def]
    write_rows(msg.data)
    workers.received(msg.node_id, len(msg.data.get("rows", [])))  # each worker's share


@events.init.add_listener
def _on_init(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    global RECORDER

    if isinstance(environment.runner, MasterRunner):  # the workers' samples reach it
        environment.runner.register_message("loadtest_samples", _on_worker_samples)
    out = os.environ.get("LOADTEST_LOCUST_OUT")
    if isinstance(environment.runner, WorkerRunner):
        RECORDER = Recorder(None, environment.runner)   # sends to the master
    elif out:
        RECORDER = Recorder(Path(out), environment.runner)


@events.test_start.add_listener
def _on_start(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if RECORDER is None or RECORDER.out is None:
        return
    plan = pacing.plan_from_env()
    marker = {"pid": os.getpid(), "started": time.time(), "rate": plan["rate"],
              "arrivals": plan["arrivals"]}
    tmp = RECORDER.out / f".started-{os.getpid()}.json.tmp"
    tmp.write_text(json.dumps(marker), encoding="utf-8")
    tmp.replace(RECORDER.out / f"started-{os.getpid()}.json")
    run_time = float(os.environ.get("LOADTEST_LOCUST_RUN_TIME") or 0)
    if run_time > 0 and environment.shape_class is None:  # a shape: adopt.py bounds it
        gevent.spawn_later(run_time, _quit, environment.runner)


def _quit(runner: Any) -> None:
    """The run's end, `LOADTEST_LOCUST_RUN_TIME` after the marker: as Locust's --run-time
    ends a headless run (that one only a backstop, its clock starts before the test)."""
    runner.quit()


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, response=None,  # type: ignore[no-untyped-def]
                context=None, exception=None, start_time=None, **_kw) -> None:
    if RECORDER is None:
        return
    status = getattr(response, "status_code", 0) or 0
    error = ""
    if exception is not None:
        error = f"{type(exception).__name__}: {exception}"[:300]
    task = RUNNING.get(gevent.getcurrent())
    if task is not None and start_time:  # charged its task's start lag, nothing more
        task.requests += 1
        task.request_ms += response_time or 0.0
        intended = start_time - task.lag_s
    else:
        intended = (context or {}).get("intended") or start_time or 0.0
    RECORDER.add((f"{start_time or 0.0:.6f}", f"{intended:.6f}", request_type, name,
                  f"{response_time or 0.0:.3f}", status, int(exception is not None), error,
                  response_length or 0))


@events.test_stop.add_listener
def _on_stop(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if RECORDER is None:
        return
    RECORDER.flush()
    if RECORDER.out is not None:
        done = {"pid": os.getpid(), "stopped": time.time()}
        (RECORDER.out / f"stopped-{os.getpid()}.json").write_text(json.dumps(done),
                                                                   encoding="utf-8")
