"""`loadtest capacity`: the highest offered rate at which every objective still holds.

One stack (target, metrics source) for the whole search; each step is a load phase judged by
the same verifier as `loadtest run` over the step's steady window. The rate doubles from
`start_rate` until a step fails (or `max_rate`), then the bracket between the last passing and
the first failing rate is bisected until it is narrower than `precision` (relative). The
throughput objective is not judged per step (a step offers what it offers); instead each step
must deliver its rate. A step that could not is diagnosed (generator.diagnose): when every
user was waiting on a target whose latency rose against the first step, the target queued and
the step fails (the search bisects below it); only a generator short of CPU, or short of users
while the target's latency stayed flat, is the generator's limit: inconclusive, add workers or
users.

While a step runs, the objectives it is judged on are watched as in `loadtest run` (judge/
monitor.py): one breached at every evaluation for `step_abort_after_s` (its own `abort_after`
when it has one) ends the step there, failed; so does a step whose completed requests fell
more than DELIVERY_TOLERANCE short of its rate for as long (monitor.Served: a target that
queues, or a generator behind), then judged as any step over what ran. The search spends its
time near the knee rather than on steps already lost.

The user pool of each step is sized from what it needs: rate x (the previous step's client p99
x LATENCY_HEADROOM, at least MIN_WAIT_S), within generator.users_ceiling() (10,000 per Locust
process); a step that needs more says so and runs with the ceiling.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import __version__
from loadtest.errors import HarnessError, UsageError
from loadtest.judge import resources
from loadtest.judge.monitor import Served
from loadtest.judge.objectives import evaluate, evaluate_client
from loadtest.judge.resources import REFERENCE_CPU_CORES
from loadtest.judge.status import DELIVERY_TOLERANCE
from loadtest.judge.verdict import capacity_verdict
from loadtest.judgement import latency_thresholds
from loadtest.load.health import Shortfall, diagnose, early_p95_ms, saturation_problems, size_users
from loadtest.load.live import SearchStatus
from loadtest.load.phase import PhaseState, Progress, drive
from loadtest.load.runner import LoadPlan
from loadtest.options import CapacityOptions
from loadtest.session import Session, judged_run
from loadtest.session import git_revision as _git_revision
from loadtest.slo import SloFile, ThroughputObjective, load_slo
from loadtest.stack.open import Stack, StackOptions
from loadtest.store.client_samples import ClientSamples, client_stats
from loadtest.store.records import (
    CapacityStep,
    ClientSummary,
    ClientTotals,
    CpuSummary,
    ObjectiveRecord,
    ResultsRecord,
    RunMeta,
)

SEVERE_FACTOR = 10.0   # an error rate this many times its limit stops the ramp at once
STEP_START_S = 3.0  # a step's start-up and judging beyond its warm-up and duration (estimate)


class _Search:
    def __init__(self, opts: CapacityOptions, slo: Any, stack: Any, run_dir: Path,
                 exits: contextlib.ExitStack, progress: Progress,
                 live: Callable[[Any], None] | None = None) -> None:
        self.opts, self.slo, self.stack, self.run_dir = opts, slo, stack, run_dir
        # `live` gets each step's LiveStatus and, before each step, the search's SearchStatus
        self.exits, self.progress, self.live = exits, progress, live
        self.steps: list[CapacityStep] = []
        self.step_times: list[float] = []  # wall seconds of each step, start-up included
        self.started = time.monotonic()
        # watched while each step runs: every objective a step is judged on (not throughput)
        watched = [ob for ob in slo.objectives if not isinstance(ob, ThroughputObjective)]
        self.watched = slo.model_copy(update={"objectives": watched})

    def measure(self, rate: float) -> CapacityStep:
        """One step at `rate`: planned, run, judged, recorded."""
        if len(self.steps) >= self.opts.max_steps:
            raise UsageError(f"the search took more than {self.opts.max_steps} steps")
        n = len(self.steps) + 1
        step_dir = self.run_dir / "steps" / f"{n:02d}-{rate:g}"
        if self.live is not None:
            self.live(self._status(n, rate))
        t0 = time.monotonic()
        users, needed = self._users(n, rate)
        state = self._run(rate, users, step_dir)
        step = self._judge(n, rate, users, needed, state, step_dir / "locust")
        self.steps.append(step)
        self.step_times.append(time.monotonic() - t0)
        failed = step["failed"]
        early = (f"; ended at +{step['aborted']['offset_s']:.0f} s"
                 if step["aborted"] else "")
        self.progress(f"step {n}: {rate:g} req/s offered, {step['achieved_rate']:.1f} sent, "
                      f"{step['completed_rate']:.1f} completed: "
                      f"{step['status']}{' (' + ', '.join(failed) + ')' if failed else ''}"
                      f"{early}")
        return step

    def _status(self, n: int, rate: float) -> SearchStatus:
        """Where the search stands as step `n` starts: the most steps it can take and the
        seconds a step takes (as measured so far; planned, plus start-up, before the first)."""
        o = self.opts
        passed = [s["offered_rate"] for s in self.steps if s["status"] == "pass"]
        failed = [s["offered_rate"] for s in self.steps if s["status"] == "fail"]
        left = steps_at_most(rate, o.max_rate, o.precision, max(passed, default=None),
                             min(failed, default=None))
        step_s = (sum(self.step_times) / len(self.step_times) if self.step_times
                  else o.step_warmup_s + o.step_duration_s + STEP_START_S)
        return SearchStatus(step=n, steps_most=min(o.max_steps, n - 1 + left), rate=rate,
                            step_s=step_s, elapsed_s=time.monotonic() - self.started)

    def _users(self, n: int, rate: float) -> tuple[int, int]:
        """The step's user pool and the users it needs: --users, else sized from the client
        p99 of the nearest step below, within the generator's ceiling."""
        if self.opts.users is not None:
            return self.opts.users, self.opts.users
        below = [s for s in self.steps if s["offered_rate"] < rate]
        prev = max(below, key=lambda s: s["offered_rate"]) if below else None
        p99 = prev["latency_ms"].get("p99") if prev else None
        users, needed = size_users(rate, None if p99 is None else p99 / 1000,
                                   self.opts.workers)
        if needed > users:
            self.progress(f"step {n}: {rate:g} req/s at the latency seen needs {needed} "
                          f"users, above the ceiling of {users} "
                          f"({self.opts.workers} Locust process(es)): running with "
                          f"{users}; add --workers for more")
        return users, needed

    def _run(self, rate: float, users: int, step_dir: Path) -> PhaseState:
        """The step's load phase on the search's stack."""
        plan = LoadPlan(scenario=self.opts.scenario, host=self.stack.target_url, rate=rate,
                        users=users, warmup_s=self.opts.step_warmup_s,
                        duration_s=self.opts.step_duration_s, out_dir=step_dir / "locust",
                        arrivals=self.opts.arrivals, workers=self.opts.workers,
                        connections=self.opts.connections)
        state = PhaseState()
        self.current = state
        after = self.opts.step_abort_after_s
        served = (Served(rate, DELIVERY_TOLERANCE, after,
                         poisson=self.opts.arrivals == "poisson") if after is not None else None)
        drive(plan, self.stack, state, self.exits, self.progress, self.live,
              slo=self.watched if self.watched.objectives or served else None,
              abort=after is not None, abort_after=after, served=served)
        return state

    def _judge(self, n: int, rate: float, users: int, needed: int, state: PhaseState,
               locust_dir: Path) -> CapacityStep:
        """The step's record: its objectives (throughput aside), whether it delivered its rate
        and who limited it if not, its resources and status."""
        assert state.window is not None and state.run_start is not None
        df = ClientSamples(locust_dir, state.window, state.run_start,
                           thresholds_s=latency_thresholds(self.slo))
        client = client_stats(df)
        totals = client["totals"]
        objs = [o.to_dict() for o in evaluate(self.slo, self.stack.source, state.window,
                                                  client=df)]
        objs += [o.to_dict() for o in evaluate_client(self.slo, df, state.window)]
        judged = [o for o in objs if o["kind"] != "throughput" and o["severity"] == "fail"]
        missing = [o["name"] for o in judged if o["status"] == "no_data"]
        cpu = state.cpu.summary(state.window.start, state.window.end)
        busy = saturation_problems(cpu)  # the generator kept a core busy: its limit, not ours
        delivered = totals["achieved_rate"] >= rate * (1 - DELIVERY_TOLERANCE) and not busy
        server_p95 = next((o["value"] for o in objs if o["kind"] == "latency"
                           and o["source"] == "server"), None)
        diagnosis = (None if delivered
                     else self._diagnose(rate, client, cpu, users, server_p95))
        failed = ([o["name"] for o in judged if o["status"] == "fail"]
                  + _shortfall_failures(rate, totals, diagnosis))
        if state.aborted and state.aborted["objective"] not in failed + [Served.name]:
            # an objective breached for its whole abort_after: the step has failed, whatever
            # what ran says (a step not served is judged by the rules above, over what ran)
            failed.append(f"{state.aborted['objective']} breached for "
                          f"{state.aborted['breached_for_s']:.0f} s (the step ended early)")
        used = resources.measure(self.slo, self.stack.scrapes, self.stack.source,
                                 state.window, self._known_resources())
        return {"step": n, "offered_rate": rate, "achieved_rate": totals["achieved_rate"],
                "completed_rate": totals["completed_rate"],
                "error_ratio": totals["failures"] / totals["requests"] if totals["requests"]
                else None, "users": users,
                "users_needed": needed, "in_flight": totals.get("in_flight"),
                "shortfall": None if diagnosis is None else {
                    "limit": diagnosis.limit, "cause": diagnosis.cause,
                    "reason": diagnosis.reason},
                "status": _status(failed, missing, state.problems, delivered),
                "failed": failed, "no_data": missing, "severe": _severe(judged),
                "problems": list(state.problems) + busy, "generator_cpu": cpu,
                "aborted": state.aborted,
                "window": {"start": state.window.start, "end": state.window.end},
                "latency_ms": totals["latency_ms"],
                "corrected_latency_ms": totals["corrected_latency_ms"],
                "server_p95_s": server_p95, "objectives": objs, "resources": used}

    def _diagnose(self, rate: float, client: ClientSummary, cpu: CpuSummary, users: int,
                  server_p95: float | None) -> Shortfall:
        """Who limited a step that did not deliver its rate: the latencies against the first
        (lowest) step's tell a target that queued from a generator short of CPU or users."""
        first = min(self.steps, key=lambda s: s["offered_rate"]) if self.steps else None
        return diagnose(
            client["totals"], rate, cpu, users,
            before_p95_ms=first["latency_ms"].get("p95")
            if first else early_p95_ms(client["timeseries"]),
            server_p95_s=server_p95,
            before_server_p95_s=first["server_p95_s"] if first else None)

    def _known_resources(self) -> dict[str, tuple[float, str]]:
        return ({"cpu": (REFERENCE_CPU_CORES, "the reference target: one Python process")}
                if self.stack.meta.get("target", {}).get("kind") == "reference" else {})

    def run(self) -> dict[str, Any]:
        o = self.opts
        last_pass: float | None = None
        first_fail: float | None = None
        stop_reason = ""
        rate = o.start_rate
        while True:
            step = self.measure(rate)
            if step["status"] == "pass":
                last_pass = rate
                if rate >= o.max_rate:
                    stop_reason = f"every objective held up to --max-rate {o.max_rate:g}"
                    break
                rate = min(rate * 2, o.max_rate)
                continue
            if step["status"] == "fail":
                first_fail = rate
                if step["severe"]:
                    stop_reason = "a step failed badly (error rate far over its limit)"
            else:
                stop_reason = _why(step)
            break
        while (step["status"] in ("pass", "fail") and last_pass is not None
               and first_fail is not None
               and (first_fail - last_pass) / last_pass > o.precision):
            mid = round((last_pass + first_fail) / 2, 3)
            step = self.measure(mid)
            if step["status"] == "pass":
                last_pass = mid
            elif step["status"] == "fail":
                first_fail = mid
            else:
                stop_reason = _why(step)
        return {"last_pass": last_pass, "first_fail": first_fail, "stop_reason": stop_reason}


def steps_at_most(rate: float, max_rate: float, precision: float,
                  last_pass: float | None, first_fail: float | None) -> int:
    """The most steps the search can still take, the one about to run at `rate` included:
    while it doubles, the doublings up to `max_rate` and then the bisection of a bracket one
    doubling wide; while it bisects (`rate` the middle of last_pass..first_fail), the halvings
    of that bracket down to `precision`. A search that stops early takes fewer."""
    def halvings(width: float) -> int:
        n = 0
        while width > precision:
            width /= 2
            n += 1
        return n

    if first_fail is None or last_pass is None:
        n, r = 1, rate
        while r < max_rate:
            r = min(r * 2, max_rate)
            n += 1
        return n + halvings(1.0)
    return max(1, halvings((first_fail - last_pass) / last_pass))


def _shortfall_failures(rate: float, totals: ClientTotals, diagnosis: Shortfall | None
                        ) -> list[str]:
    """What fails a step that was not served what it offered: the target's throughput
    saturated, or the target queued (the diagnosis of a step not delivered)."""
    failed = []
    achieved, completed = totals["achieved_rate"], totals["completed_rate"]
    if completed < min(rate, achieved) * (1 - DELIVERY_TOLERANCE):
        # sent but not served: the target's throughput saturated (its queue grows; a short
        # step would only show the latency later). Judged against what was actually sent,
        # so a generator that also fell short does not hide a target that fell shorter.
        failed.append(f"throughput (completed {completed:.1f} of {achieved:.1f} req/s "
                      "sent)")
    if diagnosis is not None and diagnosis.cause == "queued":  # ("behind" failed above)
        failed.append(diagnosis.reason)
    return failed


def _severe(judged: list[ObjectiveRecord]) -> bool:
    """An error rate so far over its limit that the ramp stops at once."""
    return any(o["kind"] == "error_rate" and o["value"] is not None
               and o["value"] > SEVERE_FACTOR * o["threshold"] for o in judged)


def _status(failed: list[str], missing: list[str], problems: list[str],
            delivered: bool) -> str:
    if failed:
        return "fail"
    if missing or problems:
        return "no_data"
    if not delivered:
        return "saturated"
    return "pass"


def _why(step: CapacityStep) -> str:
    if step["status"] == "saturated":
        busy = [p for p in step["problems"] if "saturated" in p]
        shortfall = step.get("shortfall")
        why = shortfall["reason"] if shortfall else None
        ceiling = (f"; the step needed {step['users_needed']} users, above the ceiling of "
                   f"{step['users']}" if (step.get("users_needed") or 0) > step.get("users", 0)
                   else "")
        return (f"the load generator, not the target, was the limit at "
                f"{step['offered_rate']:g} req/s ({step['achieved_rate']:.1f} achieved, no "
                "objective failed): add workers (--workers) or users (--users)"
                + (f"; {busy[0]}" if busy else f"; {why}" if why else "") + ceiling)
    return (f"no data at {step['offered_rate']:g} req/s: "
            + "; ".join(step["no_data"] + step["problems"]))


def _first_broken(steps: list[CapacityStep], rate: float | None) -> str | None:
    if rate is None:
        return None
    step = next((s for s in steps if s["offered_rate"] == rate), None)
    if not step or not step["failed"]:
        return None
    return step["failed"][0]


def find_capacity(opts: CapacityOptions, progress: Progress = lambda _m: None,
                  live: Progress | None = None) -> ResultsRecord:
    """The search in a session (a new run directory): the stack opened once, steps until the
    bracket is narrow enough (or the search stops), then the results published."""
    outcome = judged_run(Capacity(opts, progress, live), progress)
    results = outcome.results
    results["run_dir"] = str(outcome.run_dir)
    return results


@dataclass
class Capacity:
    """`loadtest capacity`'s steps in a session (loadtest/session.py decides their order):
    the search on the session's stack, then its write-up. An error after a step stops the
    search with what was measured; before any, it propagates."""
    opts: CapacityOptions
    progress: Progress
    live: Progress | None
    search: _Search | None = None
    outcome: dict[str, Any] = field(default_factory=lambda: {
        "last_pass": None, "first_fail": None, "stop_reason": ""})
    was_interrupted: bool = False
    slo: SloFile = field(init=False)
    require: float | None = field(init=False)

    @property
    def out(self) -> Path:
        return self.opts.out

    @property
    def stack_options(self) -> StackOptions:
        return self.opts.stack

    @property
    def window(self) -> tuple[str, float]:
        return ("--step-duration", self.opts.step_duration_s)

    def prepare(self) -> None:
        self.opts.check()
        self.slo = load_slo(self.opts.slo)
        self.require = self.opts.require
        if self.require is None:
            self.require = next((ob.min for ob in self.slo.objectives
                                 if isinstance(ob, ThroughputObjective)), None)

    def meta(self, run_id: str) -> RunMeta:
        return _run_meta(self.opts, run_id, self.require)

    def opening(self, session: Session) -> str:
        o = self.opts
        return (f"capacity {session.run_id}: from {o.start_rate:g} req/s up to "
                f"{o.max_rate:g}, steps of {o.step_duration_s:g}s -> {session.run_dir}")

    def begin(self, session: Session) -> None:
        pass

    def ready(self, session: Session, stack: Stack) -> None:
        pass

    def load(self, session: Session, stack: Stack, exits: contextlib.ExitStack) -> None:
        self.search = _Search(self.opts, self.slo, stack, session.run_dir, exits,
                              self.progress, self.live)
        self.outcome = self.search.run()

    def measured(self) -> bool:
        return self.search is not None and bool(self.search.steps)

    def interrupted(self, stack: Stack | None) -> None:
        self.was_interrupted = True
        search = self.search
        if search is not None and getattr(search, "current", None) is not None \
                and search.current.load is not None:
            search.current.load.interrupt()

    def stopped(self, error: HarnessError) -> None:
        self.outcome["stop_reason"] = "the search stopped on an error"

    def results(self, session: Session) -> ResultsRecord:
        steps = self.search.steps if self.search else []
        return _write_up(self.opts, session.meta, steps, self.outcome, self.require,
                         self.was_interrupted)

    def finish(self, session: Session, results: ResultsRecord) -> None:
        pass

    def end(self) -> None:
        pass


def _run_meta(opts: CapacityOptions, run_id: str, require: float | None) -> RunMeta:
    return {
        "id": run_id, "kind": "capacity", "harness_version": __version__,
        "git_revision": _git_revision(), "started_at": datetime.now(UTC).isoformat(),
        "scenario": str(opts.scenario), "slo_file": str(opts.slo),
        "start_rate": opts.start_rate, "max_rate": opts.max_rate,
        "step_duration_s": opts.step_duration_s, "step_warmup_s": opts.step_warmup_s,
        "precision": opts.precision, "require": require,
        "users": opts.users or "sized per step", "workers": opts.workers,
    }


def _write_up(opts: CapacityOptions, meta: RunMeta, steps: list[CapacityStep],
              outcome: dict[str, Any], require: float | None, interrupted: bool
              ) -> ResultsRecord:
    """The results of a search: its steps, the capacity found (the bottleneck, the fleet for
    --project, the headroom over the required rate) and the verdict."""
    capacity = outcome["last_pass"]
    broken = _first_broken(steps, outcome["first_fail"])
    verdict = capacity_verdict(capacity, outcome, require, interrupted, broken, steps)
    lower_bound = capacity is not None and outcome["first_fail"] is None
    bottle = resources.bottleneck(steps, outcome["first_fail"])
    planned = (resources.projection(capacity, opts.project, opts.headroom, lower_bound, bottle)
               if opts.project else None)
    return {"kind": "capacity", "run": meta, "steps": steps,
            "capacity": {"rate": capacity, "first_fail": outcome["first_fail"],
                         "first_broken": broken, "require": require,
                         # a lower bound: every step passed, up to --max-rate
                         "lower_bound": lower_bound,
                         "bottleneck": bottle, "projection": planned,
                         "headroom": (capacity / require - 1) if capacity and require
                         else None,
                         "stop_reason": outcome["stop_reason"]},
            "objectives": [], "regressions": [], "verdict": verdict,
            "interrupted": interrupted}


