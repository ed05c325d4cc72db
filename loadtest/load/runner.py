"""The load generator: `locust --headless` as a subprocess, never imported here.

The harness and the Locust side talk through environment variables and files in the run's
`locust/` folder (see loadtest/locustlib): the rate goes in, a start marker and per-request
samples come out, next to Locust's own JSON, CSV and HTML outputs.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from loadtest import tls
from loadtest.connections import Connections
from loadtest.errors import LoadGeneratorError
from loadtest.load.locustfiles import ADDON, diagnose
from loadtest.load.shapes import Profile, build
from loadtest.stack.processes import Child
from loadtest.store.records import PoolRecord, WorkersRecord

SCHEDULE_DELAY_S = 0.5   # the Locust side starts slot 0 this long after test_start
TAIL_S = 0.5             # keep the load on a little past the window's end
BACKSTOP_S = 10          # Locust's own --run-time, this much later: only if ours never fires
STOP_TIMEOUT_S = 5       # let in-flight requests finish
REMOTE_WAIT_S = 60       # how long a master waits for its remote workers


def locust_env(connections: Connections, entries: dict[str, str] | None = None
               ) -> dict[str, str]:
    """The environment of a Locust process the harness starts, built here only: this
    process's, the command line's connection choices (read by locustlib/pacing.py and
    tls.py inside Locust), and `entries`."""
    env = dict(os.environ)
    if connections.request_timeout_s is not None:
        env["LOADTEST_REQUEST_TIMEOUT"] = f"{connections.request_timeout_s}s"
    env.update(tls.child_env(sorted(connections.insecure)))
    env.update(entries or {})
    return env


@dataclass(frozen=True)
class LoadPlan:
    scenario: Path
    host: str
    rate: float
    users: int
    warmup_s: float
    duration_s: float
    out_dir: Path
    arrivals: str = "constant"
    profile: Profile | None = None   # None: constant `rate`
    workers: int = 1
    remote_workers: int = 0          # > 0: a master awaiting workers from other machines
    master_port: int = 5557
    master_bind_host: str = "*"
    model: str = "open"              # closed: the file's own wait_time and Locust's spawning
    locust_args: tuple[str, ...] = ()  # Locust's own options, passed through (after `--`)
    pool_ceiling: int = 0            # > 0: the Locust side grows the pool up to this during
                                     # the warm-up (locustlib/pool.py); 0: `users` fixed
    connections: Connections = field(default_factory=Connections)  # --request-timeout, --insecure-*

    @property
    def shape(self) -> Profile:
        return self.profile or build("constant", self.rate, self.warmup_s, self.duration_s)

    @property
    def run_time_s(self) -> float:
        """How long the load runs from the Locust side's start marker (recorder.py stops it
        then): slot 0 is SCHEDULE_DELAY_S after the marker, and the window ends at the
        shape's length. Not Locust's --run-time, whose clock starts before the test does
        (a CPU-starved start took 0.75 s, and the load stopped inside the window)."""
        return SCHEDULE_DELAY_S + self.shape.length + TAIL_S

    @property
    def backstop_s(self) -> int:
        return math.ceil(self.run_time_s) + BACKSTOP_S


def worker_argv(scenario: Path, master_host: str, master_port: int) -> list[str]:
    """A Locust worker for a harness master on another machine: it receives the rate plan
    from the master and sends its samples back over the same connection."""
    return [sys.executable, "-m", "locust", "-f", f"{scenario},{ADDON}", "--worker",
            "--master-host", master_host, "--master-port", str(master_port),
            "--loglevel", "WARNING"]


def default_users(rate: float) -> int:
    """Spare users so a slow target (up to ~3 s per request) does not lower the offered rate;
    at most 1000 (each holds a connection) to start with: a run whose tasks need more grows
    its pool during the warm-up (locustlib/pool.py), or pass --users."""
    return max(20, min(1000, math.ceil(rate * 3)))


def read_pool(out_dir: Path) -> PoolRecord | None:
    """What the Locust side chose for the user pool (`pool.json`), or None (a fixed pool)."""
    try:
        data = json.loads((out_dir / "pool.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cast(PoolRecord, data) if isinstance(data, dict) else None  # locustlib/pool.py's


def _secs(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def pool_text(pool: PoolRecord) -> str:
    """"user pool: 20 -> 80 during the warm-up (tasks last 9.9 s; 5 task starts/s need 74
    with 1.5x headroom)"."""
    every = pool.get("changes") or []
    changes = [c for c in every if c["at_s"] < pool["until_s"]]  # the warm-up's
    later = every[len(changes):]  # the window's: every user busy
    task_s = pool.get("task_s")
    if not changes:
        text = (f"user pool: {pool.get('initial')} users, enough for the tasks seen in the "
                "warm-up" + (f" (tasks last {_secs(task_s)})" if task_s else ""))
    else:
        last = changes[-1]
        text = (f"user pool: {pool.get('initial')} -> {last['users']} users during the "
                f"warm-up (tasks last {_secs(task_s or last['task_s'])} at {last['rate']:g} "
                f"task starts/s: {last['rate'] * (task_s or last['task_s']):.0f} users busy "
                "by Little's law, with headroom)")
    if later:
        text += (f"; {later[-1]['users']} from {later[0]['at_s']:.1f} s on, after the "
                 "warm-up (every user busy)")
    if pool.get("capped"):
        text += f"; held at the ceiling of {pool.get('ceiling')} users"
    return text


class LocustRun:
    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        plan.out_dir.mkdir(parents=True, exist_ok=True)
        out = plan.out_dir
        # the harness's code joins the user's file in the Locust process (`-f theirs,ours`)
        argv = [sys.executable, "-m", "locust", "-f", f"{plan.scenario},{ADDON}", "--headless",
                "--host", plan.host, "-u", str(plan.users), "-r", str(plan.users),
                "--run-time", f"{plan.backstop_s}s", "--stop-timeout", str(STOP_TIMEOUT_S),
                "--json-file", str(out / "stats"), "--csv", str(out / "stats"),
                "--html", str(out / "report.html"), "--exit-code-on-error", "0",
                "--loglevel", "WARNING", "--only-summary"]
        if plan.remote_workers:  # a master; workers connect from elsewhere (`loadtest worker`)
            argv += ["--master", "--expect-workers", str(plan.remote_workers),
                     "--expect-workers-max-wait", str(REMOTE_WAIT_S),
                     "--master-bind-host", plan.master_bind_host,
                     "--master-bind-port", str(plan.master_port)]
        elif plan.workers > 1:  # master + N local worker processes (Locust's distributed mode)
            argv += ["--processes", str(plan.workers)]
        env = locust_env(plan.connections, {
                    "LOADTEST_LOCUST_RATE": repr(plan.rate),
                    "LOADTEST_LOCUST_PROFILE": plan.shape.to_env(),
                    "LOADTEST_LOCUST_WORKERS": str(plan.remote_workers or plan.workers),
                    "LOADTEST_LOCUST_ARRIVALS": plan.arrivals,
                    "LOADTEST_LOCUST_OUT": str(out),
                    "LOADTEST_LOCUST_MODEL": plan.model,
                    "LOADTEST_LOCUST_RUN_TIME": repr(plan.run_time_s),
                    "LOADTEST_LOCUST_POOL_MAX": str(plan.pool_ceiling),
                    "LOADTEST_LOCUST_POOL_UNTIL": f"{max(0.0, plan.shape.judge_from - 1):g}",
                    "PYTHONUNBUFFERED": "1"})
        argv += list(plan.locust_args)
        self.started_at = time.time()
        self.child = Child("locust", argv, out / "locust.log", env=env)

    def wait_started(self, timeout_s: float = 30.0) -> float:
        """Wall-clock time of slot 0 of the schedule."""
        if self.plan.remote_workers:
            timeout_s += REMOTE_WAIT_S
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            markers = sorted(self.plan.out_dir.glob("started-*.json"))
            if markers:
                try:
                    data = json.loads(markers[0].read_text(encoding="utf-8"))
                    return float(data["started"]) + SCHEDULE_DELAY_S
                except (ValueError, KeyError, OSError):
                    pass
            if not self.child.alive():
                raise self.diagnose()
            time.sleep(0.05)
        raise LoadGeneratorError(f"Locust did not start the load within {timeout_s:.0f} s "
                                 f"(log: {self.child.log_path})")

    def alive(self) -> bool:
        return self.child.alive()

    def diagnose(self, during: bool = False) -> Any:
        """Why Locust exited (a HarnessError to raise or report): never an empty reason."""
        try:
            text = self.child.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        return diagnose(self.child.proc.poll(), text, self.plan.out_dir, self.plan.scenario,
                        during=during)

    def wait(self) -> int:
        """Wait for the end of the run (bounded), return Locust's exit code."""
        limit = self.plan.backstop_s + STOP_TIMEOUT_S + 30 + (
            REMOTE_WAIT_S if self.plan.remote_workers else 0)
        deadline = self.started_at + limit
        while self.child.alive() and time.time() < deadline:
            time.sleep(0.1)
        if self.child.alive():
            self.child.stop(timeout_s=10, sig=signal.SIGINT)
            raise LoadGeneratorError(f"Locust did not finish within {limit} s and was stopped "
                                     f"(log: {self.child.log_path})")
        return self.child.stop()  # type: ignore[return-value]

    def interrupt(self) -> int | None:
        """Stop early: SIGINT lets Locust write its outputs and our samples."""
        return self.child.stop(timeout_s=STOP_TIMEOUT_S + 5, sig=signal.SIGINT)


def read_workers(out_dir: Path) -> WorkersRecord | None:
    """The master's `workers.json` (distributed runs only)."""
    path = out_dir / "workers.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        return {"lost": [], "error": f"{path}: unreadable ({e})"}
    return cast(WorkersRecord, data) if isinstance(data, dict) else None  # locustlib/workers.py


def busy_worker_problems(workers: WorkersRecord, window: Any,
                         saturated_pct: float) -> list[str]:
    """A worker (on another machine: the harness cannot sample it) that reported a core
    busy over the window sent requests late, and timed them with its own queueing."""
    out = []
    for w in workers.get("connected", []):
        cpu = [pct for t, pct in w.get("cpu", [])
               if window is None or window.start <= t <= window.end]
        if cpu and sum(cpu) / len(cpu) >= saturated_pct:
            out.append(f"Locust worker {w.get('id', '?')} reported {sum(cpu) / len(cpu):.0f}% "
                       f"of a core busy over the window (>= {saturated_pct:.0f}%): it is "
                       "saturated and its latencies include its own queueing; add workers or "
                       "lower the rate")
    return out


def lost_worker_problems(workers: WorkersRecord, window: Any) -> list[str]:
    """A worker lost before the window's end took its share of the rate with it: the run
    did not send what was asked and cannot be judged as if it had."""
    out = []
    for w in workers.get("lost", []):
        at = float(w.get("at", 0.0))
        if window is not None and at > window.end:
            continue
        into = f" ({at - window.start:+.0f} s from the window's start)" if window else ""
        split = next((s for s in workers.get("splits", [])
                      if w.get("id") in str(s.get("why", "")) and s.get("at", 0) >= at), None)
        until = (f"until the master split the rate over the {split['workers']} others "
                 f"({float(split['at']) - at:.0f} s later)") if split else "from then on"
        out.append(f"Locust worker {w.get('id', '?')} {w.get('how', 'was lost')}{into}: its "
                   f"share of the rate was not sent {until}; the other workers' samples "
                   "and its own up to its last flush are kept")
    return out
