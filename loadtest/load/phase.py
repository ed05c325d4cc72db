"""One load phase, for `loadtest run` and `loadtest capacity`: Locust started at the plan's
rate, the judged window marked on the stack's sources and watched (a dead target, a dead Locust,
an objective breached for its `abort_after`), cut short or settled."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.judge.monitor import ObjectiveMonitor, Served
from loadtest.load.health import CpuMonitor
from loadtest.load.live import Ticker
from loadtest.load.runner import LocustRun
from loadtest.metrics.base import SourceError, Window
from loadtest.slo import SloFile
from loadtest.stack.liveness import SampleWatch, Watch, dead_since
from loadtest.stack.open import Stack
from loadtest.store.records import AbortRecord, CpuSummary, ShapeEnd

__all__ = ["PhaseState", "Progress", "cut_window", "drive", "iso"]

Progress = Callable[[str], None]


@dataclass
class PhaseState:
    """What one load phase measured so far; written out whatever happens."""
    problems: list[str] = field(default_factory=list)
    window: Window | None = None
    run_start: float | None = None
    locust_exit: int | None = None
    interrupted: bool = False
    load: Any = None  # the LocustRun of the phase, once started
    target_down_at: float | None = None  # the target stopped answering (for good)
    cpu: Any = None  # the CpuMonitor of the load processes (load/health.py)
    cpu_summary: CpuSummary | None = None  # from an earlier judging (loadtest verify)
    monitor: Any = None  # the ObjectiveMonitor evaluating objectives while the load runs
    aborted: AbortRecord | None = None  # a sustained breach stopped the run (Abort.record)
    locust_shape: ShapeEnd | None = None  # the locustfile's LoadTestShape, how it ended


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def cut_window(state: PhaseState, stack: Stack | None, progress: Progress,
               then: Callable[[], None] | None = None) -> None:
    """The load stopped early (a signal, an abort): the judged window ends now, with a last
    scrape at the cut so the server's figures cover exactly what ran; `then` (stopping the
    load) runs right after that scrape; Prometheus is given the time to store its scrape at or
    after the cut."""
    window = state.window
    now = time.time()
    if window is None or stack is None or now >= window.end or now <= window.start:
        if then is not None:
            then()
        return
    for s in stack.sources():
        try:
            s.at_window_end(now)
        except (SourceError, OSError) as e:  # judged from the scrapes that exist
            state.problems.append(f"no last scrape at the cut ({e})")
    end = now
    if stack.scrapes is not None:  # the last good scrape: the edge one, unless it failed
        good = [s.t for s in stack.scrapes.snapshots() if s.ok and s.t <= now + 5]
        end = good[-1] if good else now
    if then is not None:  # after the edge scrape: what runs while it stops is not judged
        then()
    state.window = Window(window.start, max(window.start + 1.0, min(end, window.end)))
    interval = getattr(stack.source, "scrape_interval_s", None) or 1.0
    try:
        stack.source.settle(state.window, timeout_s=min(10.0, 3 * interval))
    except SourceError as e:
        state.problems.append(f"after the interruption: {e}")
    progress(f"window cut at {iso(state.window.end)} ({state.window.seconds:.1f} s judged)")


def _sleep_until(t: float, load: Any, watches: list[Watch], state: PhaseState,
                 ticker: Any = None) -> None:
    while True:
        left = t - time.time()
        if left <= 0 or not load.alive():
            return
        if state.cpu is not None:
            state.cpu.tick()
        if ticker is not None:
            ticker.tick()
        since = dead_since(watches)
        if since is not None:
            state.target_down_at = since
            return
        if state.monitor is not None and (state.monitor.abort is not None
                                          or state.monitor.settled is not None):
            return
        time.sleep(min(left, 0.1))


def drive(plan: Any, stack: Stack, state: PhaseState, exits: contextlib.ExitStack,
          progress: Progress, live: Progress | None = None,
          on_window: Callable[[PhaseState], None] | None = None,
          slo: SloFile | None = None, abort: bool = True, record: Path | None = None,
          abort_after: float | None = None, served: Served | None = None,
          settle: bool = False, export: Any = None) -> Any:
    """One load phase: Locust at the plan's rate, the window marked on both sources, Locust
    awaited, the source settled. `live` shows a status line about once a second, and `record`
    (live.jsonl) gets the same figures as a JSON line a second; `on_window`
    is called once the load started and the window is known. With `slo`, every objective is
    evaluated while the load runs (judge/monitor.py), and one breached for its whole `abort_after`
    stops the load and cuts the window there (unless `abort` is False; `abort_after` applies to
    objectives without their own; `served`, a capacity step's own check, judge/monitor.Served).
    `settle` (with `slo`): the load ends as soon as every gating objective is decided
    (judge/sequential.py). `export` (loadtest/export Exporter) gets the live figures once a
    second. Returns the LocustRun (for interrupting it)."""
    load = _start_locust(plan, state, exits, progress)
    if on_window is not None:
        on_window(state)
    if slo is not None:
        _start_monitor(plan, slo, stack, state, exits, abort, abort_after, served, settle)
    ticker = _ticker(plan, state, live, record, export) \
        if live is not None or record or export is not None else None
    _watch_window(plan, stack, load, state, ticker)
    if state.monitor is not None:
        state.monitor.stop()
        if state.monitor.abort is not None and state.target_down_at is None:
            _stop_on_breach(load, stack, state, progress)
            return load
        if state.monitor.settled is not None and state.target_down_at is None:
            _stop_settled(load, stack, state, progress)
            return load
    if state.target_down_at is not None:
        _stop_for_dead_target(load, stack, state, progress)
        return load
    _settle(load, stack, state, progress)
    return load


def _closed(plan: Any) -> bool:
    return getattr(plan, "model", "open") == "closed"


def _start_locust(plan: Any, state: PhaseState, exits: contextlib.ExitStack,
                  progress: Progress) -> LocustRun:
    """Locust started (stopped by `exits`) and its CPU watched; the judged window placed on
    the shape from the moment the load started."""
    load = LocustRun(plan)
    state.load = load
    exits.callback(load.child.stop)
    state.cpu = CpuMonitor(load.child.pid)
    state.run_start = load.wait_started()
    shape = plan.shape
    state.window = Window(state.run_start + shape.judge_from, state.run_start + shape.judge_to)
    offered = (f"{plan.users} users (closed model)" if _closed(plan)
               else f"{plan.rate:g} task starts/s")
    progress(f"load started: {offered}; window {iso(state.window.start)} .. "
             f"{iso(state.window.end)}")
    return load


def _start_monitor(plan: Any, slo: SloFile, stack: Stack, state: PhaseState,
                   exits: contextlib.ExitStack, abort: bool, abort_after: float | None,
                   served: Served | None, settle: bool = False) -> None:
    """Every objective evaluated while the load runs (stopped by `exits`)."""
    assert state.window is not None and state.run_start is not None
    state.monitor = ObjectiveMonitor(slo, stack.source, stack.scrapes, plan.out_dir,
                                     state.window.start, state.run_start, plan.shape,
                                     abort=abort, abort_after=abort_after, served=served,
                                     settle=settle)
    exits.callback(state.monitor.stop)
    state.monitor.start()


def _ticker(plan: Any, state: PhaseState, live: Progress | None,
            record: Path | None, export: Any = None) -> Ticker:
    """The live status line and the live.jsonl stream."""
    assert state.window is not None and state.run_start is not None
    return Ticker(live, plan.out_dir, started=state.run_start,
                  total_s=state.window.end - state.run_start,
                  requested=None if _closed(plan) else plan.rate, cpu=state.cpu,
                  monitor=state.monitor, record=record,
                  profile=None if _closed(plan) else plan.shape,
                  window=(state.window.start, state.window.end), export=export)


def _watch_window(plan: Any, stack: Stack, load: LocustRun, state: PhaseState,
                  ticker: Ticker | None) -> None:
    """Wait for the window, mark its start on the sources, and watch the load until its end
    (or until the target dies, Locust stops or a breach asks for an abort)."""
    assert state.window is not None
    # without its own scrapes the harness hears of a dead target from the load generator
    watches = stack.watches + ([SampleWatch(plan.out_dir)] if stack.scrapes is None else [])
    _sleep_until(state.window.start, load, watches, state, ticker)
    for s in stack.sources():
        s.at_window_start(time.time())
    if state.target_down_at is None:
        _sleep_until(state.window.end, load, watches, state, ticker)
    state.cpu.tick(force=True)  # a last sample at the window's end


def _stop_on_breach(load: LocustRun, stack: Stack, state: PhaseState,
                    progress: Progress) -> None:
    """A breach sustained for its abort_after: stop the load, judge what ran."""
    assert state.run_start is not None
    ab = state.monitor.abort
    state.aborted = ab.record(state.run_start)
    progress(f"{ab.reason(state.run_start)}: stopping the load")

    def stop_load() -> None:
        state.locust_exit = load.interrupt()

    cut_window(state, stack, progress, then=stop_load)


def _stop_settled(load: LocustRun, stack: Stack, state: PhaseState,
                  progress: Progress) -> None:
    """--settle: every gating objective decided (or one failed): stop the load, judge what
    ran."""
    assert state.window is not None
    at = state.monitor.settled
    progress(f"settled at {at - state.window.start:.0f} s of the "
             f"{state.window.seconds:.0f} s window: stopping the load")

    def stop_load() -> None:
        state.locust_exit = load.interrupt()

    cut_window(state, stack, progress, then=stop_load)


def _stop_for_dead_target(load: LocustRun, stack: Stack, state: PhaseState,
                          progress: Progress) -> None:
    """The target is gone: stop the load now, judge what was seen before it went."""
    assert state.window is not None and state.target_down_at is not None
    progress(f"the target stopped answering at {iso(state.target_down_at)}: stopping "
             "the load")
    state.locust_exit = load.interrupt()
    end = max(state.window.start + 1.0, min(state.window.end, state.target_down_at))
    state.window = Window(state.window.start, end)
    for s in stack.sources():
        s.at_window_end(time.time())


def read_shape(out_dir: Path) -> ShapeEnd | None:
    """How the locustfile's LoadTestShape ended (closed model; locustlib/adopt.py)."""
    try:
        data = json.loads((out_dir / "shape.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    shape = ShapeEnd()  # what locustlib/adopt.py writes, each field checked
    if isinstance(name := data.get("name"), str):
        shape["name"] = name
    if (by := data.get("by")) in ("shape", "run_time"):
        shape["by"] = by
    if isinstance(started := data.get("started"), (int, float)):
        shape["started"] = float(started)
    if isinstance(ended := data.get("ended"), (int, float)):
        shape["ended"] = float(ended)
    return shape


def _settle(load: LocustRun, stack: Stack, state: PhaseState, progress: Progress) -> None:
    """The window ran its course: mark its end, await Locust (a problem if it stopped early or
    failed), and give the judging source the time to store the window's last scrapes."""
    assert state.window is not None
    shape = read_shape(load.plan.out_dir)
    if shape is not None and shape.get("by") == "shape" and \
            state.window.start + 1 <= float(shape.get("ended", 0)) < state.window.end:
        state.window = Window(state.window.start, float(shape["ended"]))
        progress(f"the locustfile's LoadTestShape {shape.get('name')} ended at "
                 f"{iso(state.window.end)}: the window judged ends there "
                 f"({state.window.seconds:.1f} s)")
    elif not load.alive() and time.time() < state.window.end:
        state.problems.append(f"Locust stopped before the window's end: "
                              f"{load.diagnose(during=True).message}")
    for s in stack.sources():
        s.at_window_end(time.time())
    state.locust_exit = load.wait()
    state.locust_shape = ended = read_shape(load.plan.out_dir)
    if ended is not None and ended.get("by") == "run_time":
        progress(f"the locustfile's LoadTestShape {ended.get('name')} drove the "
                 "users and was stopped at the run's end (warm-up + duration; Locust itself "
                 "ignores the run time while a shape runs)")
    if state.locust_exit != 0 and not any(p.startswith("Locust stopped before")
                                          for p in state.problems):
        state.problems.append(load.diagnose(during=True).message)
    interval = stack.scrape_interval_s or 1.0
    try:
        stack.source.settle(state.window, timeout_s=max(10.0, 5 * interval))
    except SourceError as e:
        state.problems.append(str(e))
