"""Objectives while the load runs: after the warm-up, each objective is evaluated once a second
over a sliding window (its `abort_after`, else LIVE_WINDOW_S) with the same judging code as the
end of the run (objectives.py). The live status line shows each one's state (pass / FAIL / -),
the report marks when each first failed, and an objective with `abort_after` that has failed
at every evaluation for that long stops the run.

Cheap by construction: server figures come from the harness's own scrapes held in memory (only
the scrapes at the window's edges, unless the target restarted in between), else from
Prometheus (one query per figure); client figures from the rows the load generator appended
to its sample files since the last tick. It runs in its own thread, so a slow query never holds
the load loop. A figure it cannot compute (too few samples, a source error, a bug of its own)
is "-", never a breach: the harness's monitoring never stops the load by a fault of its own.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas  # noqa: F401 - imported now, in the warm-up, not at the first tick
import pandas as pd

from loadtest.judge.objectives import FAIL, PASS, ObjectiveResult, evaluate, evaluate_client
from loadtest.judge.sequential import Settler
from loadtest.metrics.base import MetricsSource, Window
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.slo import (
    BurnRateObjective,
    ClientObjective,
    NoAlertsObjective,
    PromqlObjective,
    RatioObjective,
    SloFile,
    ThresholdObjective,
    ThroughputObjective,
)
from loadtest.store.records import (
    AbortRecord,
    FirstBreach,
    LiveFigure,
    LiveObjective,
    LiveRecord,
    LiveState,
    WindowRecord,
)
from loadtest.store.samples import NewRows

LIVE_WINDOW_S = 10.0   # the sliding window of an objective without abort_after
TICK_S = 1.0
CLIENT_LAG_S = 1.5     # sample files are flushed about every second: the last one is partial
MAX_CHANGES = 500      # state changes kept per objective in results.json
UNKNOWN = "-"
SERVED_HORIZON_S = 30.0  # requests slower than this are not counted as completed by `served`


@dataclass(frozen=True)
class Abort:
    """A breach sustained for the objective's whole `abort_after`: the run stops here."""
    at: float                 # epoch seconds
    objective: str
    abort_after_s: float
    breached_since: float
    figures: LiveFigure       # the last live figure: value, threshold, comparison, window

    def reason(self, run_start: float | None) -> str:
        at = f"+{self.at - run_start:.0f} s" if run_start is not None else f"{self.at:.0f}"
        return (f"aborted at {at}: {self.objective} breached for "
                f"{self.at - self.breached_since:.0f} s")

    def record(self, run_start: float | None) -> AbortRecord:
        at_iso = datetime.fromtimestamp(self.at, UTC).isoformat(timespec="milliseconds")
        return AbortRecord(
            at=self.at, objective=self.objective, abort_after_s=self.abort_after_s,
            breached_since=self.breached_since, figures=self.figures.copy(), at_iso=at_iso,
            reason=self.reason(run_start),
            offset_s=None if run_start is None else round(self.at - run_start, 3),
            breached_for_s=round(self.at - self.breached_since, 3))


@dataclass
class Track:
    """One objective's live state."""
    obj: Any
    window_s: float
    abort_after_s: float | None
    state: str = UNKNOWN
    value: float | None = None
    fail_since: float | None = None
    first_fail: FirstBreach | None = None
    changes: list[list[float | str | None]] = field(default_factory=list)
    evaluations: int = 0
    failed: int = 0
    last: LiveFigure | None = None
    lag_only: int = 0  # evaluations failed on the generator's lag alone: never an abort


class SampleTail:
    """The rows appended to `samples-*.csv` since the last read, added to a frame that keeps
    the last `horizon_s` (only the new rows are parsed at each tick)."""

    COLUMNS = ("start", "intended", "method", "name", "response_ms", "status")

    def __init__(self, locust_dir: Path, horizon_s: float) -> None:
        self.locust_dir = locust_dir
        self.horizon_s = horizon_s
        self._rows = NewRows(locust_dir)
        self._frame: Any = None

    def read(self, now: float) -> Any:
        """The frame of the rows started within `horizon_s` of `now`, as load_samples gives."""
        new = []
        for row in self._rows():
            try:
                new.append((float(row[0]), float(row[1]), row[2], row[3], float(row[4]),
                            int(row[5])))
            except (IndexError, ValueError):
                continue  # the header, or a torn row
        df = pd.DataFrame(new, columns=list(self.COLUMNS))
        df["lag_ms"] = ((df["start"] - df["intended"]) * 1000.0).clip(lower=0.0)
        df["corrected_ms"] = df["response_ms"] + df["lag_ms"]
        if self._frame is not None:
            kept = self._frame[self._frame["start"] >= now - self.horizon_s]
            df = pd.concat([kept, df], ignore_index=True) if len(df) else kept
        self._frame = df
        return df


@dataclass(frozen=True)
class Served:
    """A capacity step's own live check: requests completed per second, over the sliding
    window, keep up with the rate offered (within `tolerance`). A step whose target queues, or
    whose generator falls behind, fails it long before the step's end; the step's verdict is
    still the end-of-step judgement over what ran."""
    rate: float
    tolerance: float
    abort_after: float
    poisson: bool = False  # Poisson arrivals: a count also allowed 3 standard deviations
    name: str = "served"
    severity: str = "fail"
    kind: str = "served"
    description: str = "requests completed keep up with the rate offered"

    def judge(self, df: Any, window: Window) -> ObjectiveResult:
        done = df["start"] + df["response_ms"] / 1000.0
        n = int(((done >= window.start) & (done < window.end)).sum())
        value = n / window.seconds
        expected = self.rate * window.seconds
        floor_n = expected * (1 - self.tolerance)
        if self.poisson:
            floor_n = min(floor_n, expected - 3 * math.sqrt(expected))
        floor = floor_n / window.seconds
        return ObjectiveResult(
            name=self.name, kind=self.kind, description=self.description,
            severity=self.severity, source="client", metrics_source="locust",
            status=PASS if value >= floor else FAIL, value=value, unit="req/s",
            threshold=floor, comparison=">=", samples=float(n),
            detail=f"{n} requests completed in {window.seconds:.1f} s against "
                   f"{self.rate:g} req/s offered")


def _counts(obj: Any) -> bool:
    """A throughput: requests are seen as they complete, so a count over a window that has
    not filled yet is all ramp-up (a slow service would look idle)."""
    return isinstance(obj, (ThroughputObjective, Served)) or (
        isinstance(obj, ClientObjective) and obj.metric == "throughput")


def _needs_prometheus(obj: Any) -> bool:
    return isinstance(obj, (PromqlObjective, NoAlertsObjective, RatioObjective,
                            ThresholdObjective))  # the file's own PromQL


class ObjectiveMonitor:
    """Evaluates every objective once a second from `window_start` on, in a thread.
    `abort`: False ignores `abort_after` (--no-abort); the states are still shown.
    `abort_after`: for objectives without their own (a capacity step's
    --step-abort-after)."""

    def __init__(self, slo: SloFile, source: MetricsSource, scrapes: Any, locust_dir: Path,
                 window_start: float, run_start: float, profile: Any = None,
                 abort: bool = True, abort_after: float | None = None,
                 served: Served | None = None, settle: bool = False) -> None:
        self.slo, self.source, self.scrapes = slo, source, scrapes
        # --settle: every gating objective tested sequentially (judge/sequential.py)
        self.settler = Settler(slo, window_start, scrapes is not None) if settle else None
        self.window_start, self.run_start = window_start, run_start
        self.profile = profile
        self.abort_enabled = abort
        self.tracks = []
        for o in slo.objectives:
            after = o.abort_after or abort_after
            self.tracks.append(Track(o, float(after or LIVE_WINDOW_S), after))
        if served is not None:
            self.tracks.append(Track(served, served.abort_after, served.abort_after))
        longest = max([t.window_s for t in self.tracks]
                      + [o.long_window for o in slo.objectives
                         if isinstance(o, BurnRateObjective)])
        # a completion counted by `served` may come from a request that started long before
        self.tail = SampleTail(locust_dir, longest + 5.0
                               + (SERVED_HORIZON_S if served is not None else 0.0))
        if scrapes is not None:
            scrapes.keep_in_memory = max(scrapes.keep_in_memory,
                                         int(longest / scrapes.interval_s) + 10)
        self.abort: Abort | None = None
        self.errors: list[str] = []
        self.ticks = 0
        self.cpu_s = 0.0  # the monitor thread's own CPU time (its cost to the harness)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- the thread --------------------------------------------------------------------------
    def start(self) -> ObjectiveMonitor:
        self._thread = threading.Thread(target=self._loop, name="objective-monitor",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=15)

    def _loop(self) -> None:
        next_t = self.window_start + TICK_S
        while not self._stop.wait(max(0.0, next_t - time.time())):
            cpu = time.thread_time()
            self.tick(time.time())
            self.ticks += 1
            self.cpu_s += time.thread_time() - cpu
            if self.abort is not None or self.settled is not None:
                return
            next_t = max(next_t + TICK_S, time.time())

    # -- one evaluation ----------------------------------------------------------------------
    def tick(self, now: float) -> None:
        try:
            df = self.tail.read(now)
        except Exception as e:  # noqa: BLE001 - the monitor never stops the load
            self._error(f"client samples: {type(e).__name__}: {e}")
            df = None
        for track in self.tracks:
            try:
                result, window = self._evaluate(track, now, df)
            except Exception as e:  # noqa: BLE001 - a figure it cannot compute is "-"
                self._error(f"{track.obj.name}: {type(e).__name__}: {e}")
                result, window = None, None
            lag_only = self._lag_only(track, df, result, window)
            self._update(track, now, result, window, lag_only)
            if self.abort is not None:
                return
        if self.settler is not None:
            try:
                self.settler.update(now, df, self.scrapes, CLIENT_LAG_S)
            except Exception as e:  # noqa: BLE001 - the monitor never stops the load
                self._error(f"settle: {type(e).__name__}: {e}")

    def _lag_only(self, track: Track, df: Any, result: ObjectiveResult | None,
                  window: Window | None) -> bool:
        """A corrected client latency that fails while the same requests, as measured, hold:
        the lag may be the generator's (too few users, short of CPU), which only the end of
        the run can tell (judge/checks.lag_not_charged), so it never aborts the run."""
        obj = track.obj
        if (result is None or result.status != FAIL or window is None
                or not isinstance(obj, ClientObjective) or obj.metric != "latency"
                or not obj.corrected):
            return False
        measured = obj.model_copy(update={"corrected": False})
        return evaluate_client(self.slo, df, window, only=[measured])[0].status == PASS

    def _evaluate(self, track: Track, now: float, df: Any
                  ) -> tuple[ObjectiveResult | None, Window | None]:
        obj = track.obj
        burn = isinstance(obj, BurnRateObjective)
        length = obj.long_window if burn else track.window_s
        if isinstance(obj, (ClientObjective, Served)):
            end = now - CLIENT_LAG_S
            window = Window(max(self.window_start, end - length), end)
            if df is None or window.seconds < 1.0 or (
                    _counts(obj) and window.seconds < length - 1.5 * TICK_S):
                return None, None
            if isinstance(obj, Served):
                return obj.judge(df, window), window
            return evaluate_client(self.slo, df, window, only=[obj])[0], window
        source: MetricsSource = self.source
        if self.scrapes is not None and not _needs_prometheus(obj):
            view = self._scrape_view(max(self.window_start, now - length - 0.5 * TICK_S), now,
                                     length, burn_short=obj.short_window if burn else None)
            if view is None:
                return None, None
            source, window = view
        else:
            window = Window(max(self.window_start, now - length), now)
        if window.seconds < 1.0 or (_counts(obj) and window.seconds < length - 1.5 * TICK_S):
            return None, None  # a count over a part-filled window is all ramp: not judged
        offered = None
        if self.profile is not None and df is not None:
            offered = self.profile.expected(window.start - self.run_start,
                                            window.end - self.run_start, steps=50) \
                / window.seconds
        return evaluate(self.slo, source, window, client=df, offered_rate=offered, only=[obj],
                        burn_at_end_only=True)[0], window

    def _scrape_view(self, since: float, now: float, length: float,
                     burn_short: float | None) -> tuple[MetricsSource, Window] | None:
        """The harness's own scrapes from `since` on, as a source over a window between two
        real scrapes. Counters need only the scrapes at the window's edges (and at a burn
        rate's short window), unless the target restarted in between."""
        snaps = [s for s in self.scrapes.recent(since - self.scrapes.interval_s)
                 if s.ok and s.t <= now]
        if len(snaps) < 2:
            return None
        last = snaps[-1]
        start_t = max(self.window_start, last.t - length)
        # the scrape nearest the window's start, not before the judged window opened
        inside = [s for s in snaps if s.t >= self.window_start - 0.5 * self.scrapes.interval_s]
        if len(inside) < 2:
            return None
        first = min(inside, key=lambda s: abs(s.t - start_t))
        span = [s for s in inside if first.t <= s.t <= last.t]
        if len(span) < 2:
            return None
        keep = {id(span[0]), id(span[-1])}
        if burn_short is not None:
            keep.add(id(min(span, key=lambda s: abs(s.t - (last.t - burn_short)))))
        starts = [k for k in last.values if k[0] == "process_start_time_seconds"]
        if not starts or len({tuple(s.values.get(k) for k in starts) for s in span}) > 1:
            thin = span  # a restart (or no way to tell): every scrape, like increase()
        else:
            thin = [s for s in span if id(s) in keep]
        view = EmbeddedSource(None, job=self.scrapes.job, interval_s=self.scrapes.interval_s,
                              snapshots=thin)
        return view, Window(first.t, last.t)

    def _update(self, track: Track, now: float, result: ObjectiveResult | None,
                window: Window | None, lag_only: bool = False) -> None:
        state = UNKNOWN
        if result is not None and result.status in (PASS, FAIL):
            state = result.status
        with self._lock:
            track.evaluations += 1
            track.value = result.value if result is not None and state != UNKNOWN else None
            offset = round(now - self.run_start, 3)
            if state != track.state:
                track.changes.append([offset, state, track.value])
                del track.changes[:-MAX_CHANGES]
            track.state = state
            if result is not None and window is not None:
                track.last = LiveFigure(
                    value=result.value, threshold=result.threshold,
                    comparison=result.comparison, unit=result.unit, samples=result.samples,
                    status=result.status, detail=result.detail or result.reason,
                    window=WindowRecord(start=window.start, end=window.end,
                                        seconds=round(window.seconds, 3)))
            if state != FAIL:
                track.fail_since = None
                return
            track.failed += 1
            if track.first_fail is None:
                track.first_fail = FirstBreach(at=now, offset_s=offset, value=track.value)
            if lag_only:  # shown failed, but no breach of the service's that aborts
                track.lag_only += 1
                track.fail_since = None
                return
            if track.fail_since is None:
                track.fail_since = now
            if (self.abort_enabled and track.abort_after_s is not None
                    and track.obj.severity == "fail" and self.abort is None
                    and now - track.fail_since >= track.abort_after_s - 1e-6):
                self.abort = Abort(at=now, objective=track.obj.name,
                                   abort_after_s=track.abort_after_s,
                                   breached_since=track.fail_since,
                                   figures=(track.last or LiveFigure()).copy())

    def _error(self, message: str) -> None:
        with self._lock:
            if len(self.errors) < 20 and message not in self.errors:
                self.errors.append(message)

    # -- what others read --------------------------------------------------------------------
    @property
    def settled(self) -> float | None:
        """--settle: the moment every gating objective was decided (or one failed)."""
        return self.settler.settled if self.settler is not None else None

    def status_text(self) -> str:
        """`name pass  name FAIL  name -` for the live line."""
        with self._lock:
            return "  ".join(f"{t.obj.name} {'FAIL' if t.state == FAIL else t.state}"
                             for t in self.tracks)

    def states(self) -> dict[str, LiveState]:
        """Each objective's live state and figure (None where it cannot be computed yet) and
        the figure's unit, for the run's live.jsonl and the live view."""
        with self._lock:
            return {t.obj.name: LiveState(state=t.state, value=t.value,
                                          unit=(t.last or LiveFigure()).get("unit", ""))
                    for t in self.tracks}

    def record(self) -> LiveRecord:
        """results.json's `live`: each objective's sliding window, first breach and changes."""
        with self._lock:
            return LiveRecord(
                tick_s=TICK_S, abort_enabled=self.abort_enabled, ticks=self.ticks,
                cpu_ms_per_tick=round(1000 * self.cpu_s / self.ticks, 2) if self.ticks
                else None,
                objectives=[LiveObjective(
                    name=t.obj.name, window_s=t.window_s,
                    abort_after_s=t.abort_after_s, state=t.state, lag_only=t.lag_only,
                    first_breach=t.first_fail, evaluations=t.evaluations,
                    breached_evaluations=t.failed, changes=list(t.changes))
                    for t in self.tracks],
                errors=list(self.errors))

