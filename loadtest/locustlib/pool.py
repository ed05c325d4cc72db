"""The user pool sized from what the tasks do (open model, one local Locust process).

A Locust user runs one task at a time, and a task may be a journey: several requests with
think time between them. The pool the harness starts with (3 users per task start/s) carries
tasks of up to ~3 s; longer ones leave the schedule behind with every user busy inside a task.
Unless `--users` fixed the pool, this process watches its own schedule during the warm-up
and grows the pool by the rule in load/growth.py (every user busy, tasks older than the pool
allows for before any has finished, or finished tasks that ask for more), never beyond the
ceiling the harness set. From the judged window's start only every user busy grows it (a pool
that ran out in the window would leave the schedule behind, and that lag would be charged to
the service as corrected latency). What it chose and why goes to `pool.json` in the run's
Locust folder, for the harness to report.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import LocalRunner

from loadtest.load.growth import Seen, grow
from loadtest.locustlib import pacing, recorder
from loadtest.store.records import PoolChange, PoolRecord

POOL_FILE = "pool.json"
CHECK_EVERY_S = 0.25
SPAWN_RATE = 100     # users per second when growing (Locust warns above 100)


def settings() -> tuple[int, float] | None:
    """(ceiling, seconds after slot 0 to stop growing), or None: the pool is fixed."""
    ceiling = int(os.environ.get("LOADTEST_LOCUST_POOL_MAX", "0") or 0)
    until = float(os.environ.get("LOADTEST_LOCUST_POOL_UNTIL", "0") or 0)
    return (ceiling, until) if ceiling > 0 and until > 0 else None


def seen(users: int, rate: float, late_s: float, now: float) -> Seen:
    """What this process sees of its tasks now (locustlib/recorder.py)."""
    done, seconds = recorder.DONE
    ages = [now - t.start for t in recorder.RUNNING.values()]
    return Seen(users=users, rate=rate, late_s=late_s, busy=len(recorder.RUNNING), done=int(done),
                done_s=seconds, oldest_s=max(ages, default=0.0))


class PoolSizer:
    def __init__(self, runner: Any, ceiling: int, until_s: float, out: Path | None) -> None:
        self.runner = runner
        self.ceiling = ceiling
        self.until_s = until_s
        self.out = out
        self.record = PoolRecord(initial=None, final=None, ceiling=ceiling, until_s=until_s,
                                 changes=[], capped=False)

    def run(self, t0: float) -> None:
        self.record["initial"] = self.record["final"] = self.runner.target_user_count
        self.write()
        while time.time() < t0 + self.until_s:
            gevent.sleep(CHECK_EVERY_S)
            self.tick(time.time(), t0)
        self.record["task_s"] = seen(0, 0.0, 0.0, time.time()).task_s
        self.write()
        while True:  # in the window, only every user busy grows it
            gevent.sleep(CHECK_EVERY_S)
            self.tick(time.time(), t0, in_window=True)

    def tick(self, now: float, t0: float, in_window: bool = False) -> None:
        sched = pacing.SCHEDULE
        users = self.runner.target_user_count or 0
        nxt = getattr(sched, "_next", None)
        if sched is None or nxt is None:
            return
        rate = max([r for _, r in sched.profile] if sched.profile else [sched.rate])
        now_seen = seen(users, rate, now - nxt, now)
        growth = grow(now_seen, self.ceiling)
        if growth is None or (in_window and growth[1] not in ("busy", "late")):
            return
        new, why = growth
        if new <= users:  # at the ceiling
            self.record["capped"] = users >= self.ceiling
            return
        self.record["changes"].append(PoolChange({
            "at_s": round(now - t0, 2), "from": users, "users": new, "why": why,
            "task_s": round(now_seen.task_s, 3), "busy": now_seen.busy,
            "late_s": round(now - nxt, 3), "rate": rate}))
        self.record["final"] = new
        self.runner.start(new, SPAWN_RATE)
        self.write()

    def write(self) -> None:
        if self.out is None:
            return
        tmp = self.out / f".{POOL_FILE}.tmp"
        tmp.write_text(json.dumps(self.record), encoding="utf-8")
        tmp.replace(self.out / POOL_FILE)


@events.test_start.add_listener
def _start(environment, **_kw) -> None:  # type: ignore[no-untyped-def]

    chosen = settings()
    if chosen is None or not isinstance(environment.runner, LocalRunner) or \
            os.environ.get("LOADTEST_LOCUST_MODEL", "open") != "open":
        return
    out = os.environ.get("LOADTEST_LOCUST_OUT")
    sizer = PoolSizer(environment.runner, chosen[0], chosen[1], Path(out) if out else None)
    gevent.spawn(sizer.run, time.time() + pacing.SCHEDULE_DELAY_S)
