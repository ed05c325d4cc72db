"""Generator health: the CPU of the Locust processes (the local one, or a master and its
`--processes` workers), sampled through psutil (any platform it supports, no /proc of our
own) once a second while the load runs.

A Python load process is single-threaded: one that keeps a core busy (>= 80 % over the window)
cannot hold its schedule for long, and its latencies include its own queueing. Such a run is
marked inconclusive with the advice to add workers: a slow generator must never be reported as
a slow service. Workers on other machines are not sampled (their lag still shows).
"""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from loadtest.store.records import ClientTotals, CpuProcess, CpuSummary, SecondStats

SATURATED_PCT = 80.0
SAMPLE_EVERY_S = 1.0


def _cpu_seconds(proc: psutil.Process) -> float | None:
    """CPU seconds a process used (user + system, its own, not its children's), or None when
    it is gone."""
    try:
        t = proc.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return t.user + t.system


def descendants(root: int) -> list[psutil.Process]:
    """`root` and every process below it (none when `root` is gone)."""
    try:
        proc = psutil.Process(root)
        return [proc, *proc.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


@dataclass
class CpuMonitor:
    root_pid: int
    samples: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    _last: float = 0.0

    def tick(self, force: bool = False) -> None:
        now = time.time()
        if now - self._last < SAMPLE_EVERY_S and not force:
            return
        self._last = now
        for proc in descendants(self.root_pid):
            used = _cpu_seconds(proc)
            if used is not None:
                self.samples.setdefault(proc.pid, []).append((now, used))

    def current_pct(self) -> float | None:
        """The busiest process's CPU over the last interval."""
        pcts = [p for p in (_pct(s[-2:]) for s in self.samples.values() if len(s) >= 2)
                if p is not None]
        return max(pcts, default=None)

    def summary(self, start: float, end: float) -> CpuSummary:
        """Per process: mean CPU % of one core over [start, end], and the highest second."""
        procs: list[CpuProcess] = []
        for pid, series in sorted(self.samples.items()):
            inside = [s for s in series if start - SAMPLE_EVERY_S <= s[0] <= end + SAMPLE_EVERY_S]
            if len(inside) < 2:
                continue
            steps = [p for p in (_pct(inside[i:i + 2]) for i in range(len(inside) - 1))
                     if p is not None]
            procs.append({"pid": pid, "role": "locust" if pid == self.root_pid else "worker",
                          "mean_pct": round(_pct([inside[0], inside[-1]]) or 0.0, 1),
                          "max_pct": round(max(steps, default=0.0), 1),
                          "samples": len(inside)})
        return {"processes": procs, "saturated_pct": SATURATED_PCT}


def _pct(pair: list[tuple[float, float]]) -> float | None:
    (t0, c0), (t1, c1) = pair[0], pair[-1]
    return 100.0 * (c1 - c0) / (t1 - t0) if t1 > t0 else None


def saturation_problems(summary: CpuSummary) -> list[str]:
    return [f"the load generator's {p['role']} process {p['pid']} kept {p['mean_pct']:.0f}% of "
            f"a core busy over the window (>= {SATURATED_PCT:.0f}%): it is saturated and its "
            "latencies include its own queueing; add --workers or lower --rate"
            for p in summary.get("processes", []) if p["mean_pct"] >= SATURATED_PCT]


# Sizing the user pool. Each Locust user holds at most one request and one connection: a
# pool of N users sends at most N / latency req/s. Measured here (Locust 2.47, FastHttpUser):
# ~20 KB of memory per user with its request in flight (2,500 users waiting on a 5 s target
# took the Locust process from 75 to 125 MB), so the ceiling is set by file descriptors
# (one connection each, in the generator and in the target) rather than memory.
USERS_CEILING = 10_000   # per Locust process: ~0.3 GB with every user in flight
FIRST_WAIT_S = 3.0       # before any latency is known: users for ~3 s per request
LATENCY_HEADROOM = 4.0   # users for this many times the latency seen at the previous step
MIN_WAIT_S = 0.5         # and never for less than this per request
ALL_WAITING = 0.85       # in flight (Little's law) >= this share of the users: all waiting
LATENCY_ROSE = 2.0       # p95 at least this many times the earlier step's, and
LATENCY_ROSE_MS = 20.0   # at least this much higher, is "latency rising"


def users_ceiling(workers: int = 1) -> int:
    """The largest user pool: USERS_CEILING per Locust process, and never more than half the
    open-file limit (the target on this machine needs a descriptor per connection too)."""
    try:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ValueError, OSError):
        soft = -1
    per_process = USERS_CEILING if soft < 0 else min(USERS_CEILING, max(100, soft // 2))
    return per_process * max(1, workers)


def size_users(rate: float, latency_s: float | None, workers: int = 1) -> tuple[int, int]:
    """(users, needed): the pool for `rate` given the client latency (p99, seconds) seen at
    the previous step, and what the step would need were there no ceiling."""
    wait = FIRST_WAIT_S if latency_s is None else max(MIN_WAIT_S, latency_s * LATENCY_HEADROOM)
    needed = max(20, math.ceil(rate * wait))
    return min(needed, users_ceiling(workers)), needed


@dataclass(frozen=True)
class Shortfall:
    """Why fewer requests were sent than asked: `limit` is "target" (every user was waiting
    on a target whose latency rose: it queued) or "generator" (short of CPU, or of users while
    the target's latency stayed flat)."""
    limit: str
    reason: str
    in_flight: float | None = None
    cause: str = ""  # cpu, queued (target), behind (target), users, journeys, cpu_time


def _t(ms: float | None) -> str:
    if ms is None:
        return "?"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def rose(before_ms: float | None, now_ms: float | None) -> bool:
    return (before_ms is not None and now_ms is not None and now_ms >= LATENCY_ROSE * before_ms
            and now_ms - before_ms >= LATENCY_ROSE_MS)


def early_p95_ms(timeseries: list[SecondStats], seconds: int = 3) -> float | None:
    """The client p95 of a run's first seconds (before any queue built up): the baseline a
    single run compares its latency with."""
    first = [p for s in timeseries[:seconds] if (p := s.get("p95_ms")) is not None]
    return min(first) if first else None


JOURNEY_HEADROOM = 1.25  # users advised for a journey: task starts/s x task time x this


def journeys(totals: ClientTotals) -> bool:
    """The tasks are journeys: several requests each, or time inside a task not spent
    waiting on an answer (think time, task code)."""
    task_ms, waiting_ms = totals.get("task_ms"), totals.get("task_waiting_ms")
    if task_ms is None or waiting_ms is None:
        return False
    return (totals.get("requests_per_task") or 1.0) > 1.05 or \
        task_ms - waiting_ms > max(20.0, 0.2 * task_ms)


def users_for(rate: float, task_ms: float) -> int:
    """Users that carry `rate` task starts/s of tasks lasting `task_ms` (Little's law) with
    JOURNEY_HEADROOM, rounded up to a round number."""
    needed = rate * task_ms / 1000.0 * JOURNEY_HEADROOM
    step = 10 if needed <= 200 else 50
    return max(step, step * math.ceil(needed / step))


def journey_reason(totals: ClientTotals, requested: float, users: int | None) -> str:
    """"tasks last 9.8 s on average (10.4 requests each); 60 users can start at most 6.1
    tasks/s; use --users 250 or more, or --model closed"."""
    task_ms = totals["task_ms"]
    per_task = totals.get("requests_per_task") or 1.0
    waiting = totals.get("task_waiting_ms") or 0.0
    can = f"{users} users can start at most {users * 1000.0 / task_ms:.1f} tasks/s; " \
        if users else ""
    return (f"tasks last {_t(task_ms)} on average ({per_task:.1f} requests each, "
            f"{_t(waiting)} of it waiting on answers); {can}use --users "
            f"{users_for(requested, task_ms)} or more, or --model closed")


def diagnose(totals: ClientTotals, requested: float, cpu: CpuSummary | None,
             users: int | None, *, before_p95_ms: float | None = None,
             server_p95_s: float | None = None,
             before_server_p95_s: float | None = None) -> Shortfall:
    """Who was the limit when the load generator started fewer tasks than `requested` (task
    starts/s; a task of one request: requests/s). `before_*`: latency at an earlier, lighter
    load (an earlier step, or the run's first seconds). A user is busy while it is inside a
    task, asleep in it included, not only while a request is in flight."""
    achieved = totals.get("achieved_rate") or 0.0
    completed = totals.get("completed_rate") or 0.0
    in_flight = totals.get("in_flight")
    lag = (totals.get("schedule_lag_ms") or {}).get("p99") or 0.0
    p95 = (totals.get("latency_ms") or {}).get("p95")
    if "task_rate" in totals:
        head = (f"the load generator started {totals['task_rate']:.1f} of {requested:.1f} "
                f"tasks/s ({achieved:.1f} requests/s sent, {completed:.1f} served; schedule "
                f"lag p99 {lag:.0f} ms): ")
    else:
        head = (f"the load generator delivered {achieved:.1f} of {requested:.1f} req/s "
                f"(schedule lag p99 {lag:.0f} ms): ")
    busiest = max((p["mean_pct"] for p in (cpu or {}).get("processes", [])), default=None)
    if busiest is not None and busiest >= SATURATED_PCT:
        return Shortfall("generator", head + (
            f"its busiest process kept {busiest:.0f}% of a core busy; add --workers or lower "
            "--rate"), in_flight, "cpu")
    in_task = totals.get("in_task")
    peak = max(in_flight or 0.0, totals.get("in_flight_peak") or 0.0, in_task or 0.0)
    waiting = bool(users and peak >= ALL_WAITING * users)
    journey = journeys(totals)
    busy = (f"up to {min(peak, users or peak):.0f} of {users} users "
            + ("busy" if journey else "in flight")) if waiting else ""
    server_ms = None if server_p95_s is None else server_p95_s * 1000
    server_before_ms = None if before_server_p95_s is None else before_server_p95_s * 1000
    if journey and waiting:  # think time or task code kept them, unless the answers did
        task_ms, waiting_ms = totals["task_ms"], totals.get("task_waiting_ms") or 0.0
        if users and users * 1000.0 / max(1.0, task_ms - waiting_ms) < requested:
            return Shortfall("generator", head + (
                f"every user was busy inside its tasks ({busy}), mostly not waiting on "
                "answers: " + journey_reason(totals, requested, users)), in_flight, "journeys")
    if waiting and (rose(before_p95_ms, p95) or rose(server_before_ms, server_ms)):
        if server_ms is not None and server_before_ms is not None:
            what = f"server p95 {_t(server_before_ms)} -> {_t(server_ms)}"
            if not rose(server_before_ms, server_ms):
                what += f" (client {_t(before_p95_ms)} -> {_t(p95)}: before the server's timer)"
        else:
            what = f"client p95 {_t(before_p95_ms)} -> {_t(p95)}"
        return Shortfall("target", f"the target queued: {what}, every user waiting ({busy}, "
                         f"{achieved:.1f} of {requested:g} req/s sent)", in_flight, "queued")
    if achieved and completed < achieved * 0.95:
        who = f"all {users} users" if users else "every user"
        return Shortfall("target", head + (
            f"the target fell behind (it completed {completed:.1f} req/s of "
            f"{achieved:.1f} sent) and {who} waited on it; the generator was "
            + (f"not busy ({busiest:.0f}% of a core). " if busiest is not None
               else "not the limit. ")
            + "Raise --users to keep offering the rate, or find the target's "
            "limit with `loadtest capacity`"), in_flight, "behind")
    if waiting and journey:
        return Shortfall("generator", head + (
            f"every user was busy inside its tasks ({busy}): "
            + journey_reason(totals, requested, users)), in_flight, "journeys")
    if waiting:
        return Shortfall("generator", head + (
            f"every user was busy ({busy}) while the target's latency stayed flat (p95 "
            f"{_t(before_p95_ms)} -> {_t(p95)}): too few users for the rate; add workers "
            "(--workers) or users (--users)"), in_flight, "users")
    if in_flight is None:  # (figures from before in-flight was recorded)
        return Shortfall("generator", head + "too few users for the latency seen (raise "
                         "--users, or lower --rate)", in_flight, "users")
    return Shortfall("generator", head + (
        "the users were not all busy and no process was saturated: the generator was short "
        "of CPU time on this machine (other processes?); add workers (--workers) or users "
        "(--users), or lower --rate"), in_flight, "cpu_time")


def shortfall(totals: ClientTotals, requested: float, cpu: CpuSummary | None,
              users: int | None, **baseline: Any) -> str:
    """Why the load generator sent less than asked, as far as the figures tell (the message
    of `diagnose`)."""
    return diagnose(totals, requested, cpu, users, **baseline).reason
