"""The user pool sized from what the tasks do (open model, one local Locust process).

A Locust user runs one task at a time, and a task may be a journey: several requests with
think time between them. The pool the harness starts with (3 users per task start/s) carries
tasks of up to ~3 s; longer ones leave the schedule behind with every user busy inside a task.
Unless `--users` fixed the pool, this process watches its own schedule during the warm-up:
when a slot is late and every user is inside a task, it grows the pool to what Little's law
asks for the tasks seen (task starts/s x task time x POOL_HEADROOM; the time is the mean of
the tasks finished so far, or the age of the oldest still running if that is longer),
at least doubling it, never beyond the ceiling the harness set; and when the tasks finished
so far ask for a pool more than GROW_OVER times today's (task starts/s x their mean time x
POOL_HEADROOM: tasks that last longer under load would otherwise fill a pool sized from the
first ones), it grows to that before a slot is late. It stops growing at the
judged window's start, so the window runs on one pool; what it chose and why goes to
`pool.json` in the run's Locust folder, for the harness to report.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import LocalRunner

from loadtest.locustlib import pacing, recorder
from loadtest.store.records import PoolChange, PoolRecord

POOL_FILE = "pool.json"
POOL_HEADROOM = 1.5
CHECK_EVERY_S = 0.25
LATE_S = 0.05        # a slot this late, with every user busy, is a pool too small
BUSY_SHARE = 0.9     # "every user": at least this share of the pool inside a task
GROW_OVER = 1.1      # the tasks finished ask for this much more than the pool: it grows
SPAWN_RATE = 100     # users per second when growing (Locust warns above 100)


def settings() -> tuple[int, float] | None:
    """(ceiling, seconds after slot 0 to stop growing), or None: the pool is fixed."""
    ceiling = int(os.environ.get("LOADTEST_LOCUST_POOL_MAX", "0") or 0)
    until = float(os.environ.get("LOADTEST_LOCUST_POOL_UNTIL", "0") or 0)
    return (ceiling, until) if ceiling > 0 and until > 0 else None


def task_seconds(now: float) -> float:
    """What a task lasts, as far as this process has seen: the mean of the tasks finished, or
    the age of the oldest still running, whichever is longer (early in a run the finished
    ones are the short ones: a mix of short and long tasks would otherwise look short)."""
    done, seconds = recorder.DONE
    ages = [now - t.start for t in recorder.RUNNING.values()]
    return max(seconds / done if done else 0.0, max(ages, default=0.0))


def wanted(users: int, rate: float, task_s: float, ceiling: int) -> int:
    """The next pool: Little's law with headroom, at least twice today's, within the ceiling."""
    return min(ceiling, max(2 * users, math.ceil(rate * task_s * POOL_HEADROOM)))


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
        self.record["task_s"] = task_seconds(time.time())
        self.write()

    def tick(self, now: float, t0: float) -> None:
        sched = pacing.SCHEDULE
        users = self.runner.target_user_count or 0
        nxt = getattr(sched, "_next", None)
        if sched is None or nxt is None:
            return
        rate = max([r for _, r in sched.profile] if sched.profile else [sched.rate])
        task_s = task_seconds(now)
        done, seconds = recorder.DONE
        if now - nxt >= LATE_S and len(recorder.RUNNING) >= BUSY_SHARE * users:
            new, why = wanted(users, rate, task_s, self.ceiling), "late"  # short now
        elif done and (need := math.ceil(rate * seconds / done * POOL_HEADROOM)) > \
                GROW_OVER * users:  # Little's law with its headroom asks for more
            new, why = min(self.ceiling, need), "full"
        else:
            return
        if new <= users:
            self.record["capped"] = users >= self.ceiling
            return
        self.record["changes"].append(PoolChange({
            "at_s": round(now - t0, 2), "from": users, "users": new, "why": why,
            "task_s": round(task_s, 3), "busy": len(recorder.RUNNING),
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
