"""The status of a run while it goes: elapsed and remaining time, the rate offered (task
starts/s: a task may make several requests) and the requests/s achieved, p95 and errors so far,
the generator's CPU and each objective's live state and figure. Read from Locust's own
per-second history file (`stats_stats_history.csv`, aggregated row) into a LiveStatus; the CLI
decides how to show it (console.py: a view redrawn in place on a terminal, a plain line every
10 s otherwise). The same figures go to a machine-readable stream (`live.jsonl`, one JSON line
a second). A capacity search adds a SearchStatus before each step (its place in the search)."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadtest.store.records import LiveLine, LiveState

HISTORY = "stats_stats_history.csv"
RATE_WINDOW_S = 3.0  # the live view's achieved rate: requests completed over this long
LIVE_RECORD = "live.jsonl"  # in the run directory: one JSON line a second while the load runs


def latest(locust_dir: Path) -> dict[str, str] | None:
    """The last aggregated row Locust wrote (None before the first)."""
    path = locust_dir / HISTORY
    try:
        with path.open("rb") as f:
            head = f.readline().decode("utf-8", "replace")
            f.seek(0, io.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail[1:] if len(tail) > 1 else []):
        row = next(csv.DictReader([head, line]), None)
        if row and row.get("Name") == "Aggregated":
            return row
    return None


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "N/A") else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ObjectiveState:
    """One objective's live state (`pass`, `fail`, `-`) and figure (None until computable)."""
    name: str
    state: str
    value: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class LiveStatus:
    """What a person watching the run sees, about once a second. `offered` counts task starts
    per second (None: closed model, no rate is offered); `achieved` is Locust's requests/s."""
    elapsed_s: float
    total_s: float
    offered: float | None
    achieved: float | None = None
    p95_ms: float | None = None
    requests: int | None = None
    errors: int | None = None
    cpu_pct: float | None = None
    objectives: tuple[ObjectiveState, ...] = ()
    started: bool = True  # False until Locust wrote its first figures

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.requests if self.requests and self.errors is not None \
            else None

    def __str__(self) -> str:
        return plain_line(self)


@dataclass(frozen=True)
class SearchStatus:
    """A capacity search about to run a step: its number, the most steps the search can still
    take (doubling up to --max-rate, then bisecting to --precision), the step's rate and the
    seconds a step takes (planned, or as measured so far)."""
    step: int
    steps_most: int
    rate: float
    step_s: float
    elapsed_s: float = 0.0  # since the search started

    def left_s(self, step_elapsed_s: float = 0.0) -> float:
        """The most time left: this step's rest and every step the search may still take."""
        return max(0.0, self.step_s - step_elapsed_s) + \
            (self.steps_most - self.step) * self.step_s

    def __str__(self) -> str:
        return (f"step {self.step} of at most {self.steps_most}: {self.rate:g} tasks/s, at "
                f"most {_mmss(self.left_s())} left")


def fmt_figure(value: float | None, unit: str) -> str:
    """An objective's live figure, short: `4.8 ms`, `0.12%`, `99.5 req/s`."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit:
        return f"{value:.1f} {unit}"
    return f"{value:g}"


def plain_line(s: LiveStatus) -> str:
    """The status as one plain line (CI logs): clock, rates, p95, errors, CPU, objectives."""
    clock = f"{_mmss(s.elapsed_s)} / {_mmss(s.total_s)}"
    objectives = "  ".join(f"{o.name} {'FAIL' if o.state == 'fail' else o.state}"
                           + (f" {fmt_figure(o.value, o.unit)}" if o.value is not None else "")
                           for o in s.objectives)
    tail = f"  | {objectives}" if objectives else ""
    if not s.started:
        return f"{clock}  starting{tail}"
    offered = ("closed model" if s.offered is None
               else f"offered {s.offered:g} tasks/s")
    parts = [clock, offered, f"achieved {s.achieved or 0.0:.1f} req/s",
             f"p95 {s.p95_ms:.0f} ms" if s.p95_ms is not None else "p95 -",
             f"errors {s.error_ratio:.2%}" if s.error_ratio is not None else "errors -"]
    if s.cpu_pct is not None:
        parts.append(f"generator CPU {s.cpu_pct:.0f}%")
    return "  ".join(parts) + tail


def live_status(row: dict[str, str] | None, elapsed: float, total: float,
                offered: float | None, cpu_pct: float | None,
                objectives: tuple[ObjectiveState, ...] = ()) -> LiveStatus:
    """The status from Locust's last aggregated row (None before the first)."""
    if row is None:
        return LiveStatus(elapsed, total, offered, cpu_pct=cpu_pct, objectives=objectives,
                          started=False)
    done = _num(row.get("Total Request Count"))
    failed = _num(row.get("Total Failure Count"))
    return LiveStatus(elapsed, total, offered, achieved=_num(row.get("Requests/s")) or 0.0,
                      p95_ms=_num(row.get("95%")),
                      requests=None if done is None else int(done),
                      errors=None if failed is None else int(failed),
                      cpu_pct=cpu_pct, objectives=objectives)


def status_line(row: dict[str, str] | None, elapsed: float, total: float,
                requested: float | None, cpu_pct: float | None,
                objectives: tuple[ObjectiveState, ...] = ()) -> str:
    """The plain status line from Locust's last row (`requested`: task starts/s offered)."""
    return plain_line(live_status(row, elapsed, total, requested, cpu_pct, objectives))


def live_line(row: dict[str, str] | None, now: float, started: float,
              window: tuple[float, float] | None, offered: float | None,
              cpu_pct: float | None, objectives: dict[str, LiveState] | None
              ) -> LiveLine:
    """One line of live.jsonl: the time, the rate offered by the plan and the one achieved,
    Locust's current p50/p95/p99 (ms), requests and failures so far, the generator's CPU and
    each objective's live state (`pass`, `fail`, `-` where it cannot be computed yet)."""
    done = _num(row.get("Total Request Count")) if row else None
    failed = _num(row.get("Total Failure Count")) if row else None
    return LiveLine(
        t=round(now, 3), offset_s=round(now - started, 3),
        in_window=window is not None and window[0] <= now < window[1],
        offered_rate=None if offered is None else round(offered, 3),
        achieved_rate=_num(row.get("Requests/s")) if row else None,
        p50_ms=_num(row.get("50%")) if row else None,
        p95_ms=_num(row.get("95%")) if row else None,
        p99_ms=_num(row.get("99%")) if row else None,
        requests=None if done is None else int(done),
        errors=None if failed is None else int(failed),
        error_ratio=failed / done if done and failed is not None else None,
        generator_cpu_pct=None if cpu_pct is None else round(cpu_pct, 1),
        objectives=objectives or {},
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _mmss(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60:02d}:{s % 60:02d}"


@dataclass
class Ticker:
    """Called often by the load loop; about once a second shows a LiveStatus (when `show` is
    given: str() of it is the plain line) and appends a line to `record` (live.jsonl)."""
    show: Callable[[Any], None] | None
    locust_dir: Path
    started: float
    total_s: float
    requested: float | None
    cpu: Any = None  # a CpuMonitor, for its current figure
    monitor: Any = None  # an ObjectiveMonitor, for each objective's live state
    every_s: float = 1.0
    record: Path | None = None  # live.jsonl
    profile: Any = None  # the load's Profile: the rate offered at each moment (open model)
    window: tuple[float, float] | None = None
    export: Any = None  # an Exporter (loadtest/export): the same figures as Prometheus series
    _last: float = 0.0
    _counts: list[tuple[float, float]] = field(default_factory=list)  # (t, requests so far)

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if now - self._last < self.every_s:
            return
        self._last = now
        cpu = self.cpu.current_pct() if self.cpu is not None else None
        row = latest(self.locust_dir)
        if self.show is not None:
            status = live_status(row, now - self.started, self.total_s, self._offered(now),
                                 cpu, self._objectives())
            achieved = self._achieved(row, now)
            self.show(status if achieved is None else replace(status, achieved=achieved))
        if self.record is not None:
            self._append(row, now, cpu)
        if self.export is not None:
            self.export.tick(self, now, row)

    def _achieved(self, row: dict[str, str] | None, now: float) -> float | None:
        """Requests/s completed over the last RATE_WINDOW_S, from Locust's running count (its
        own Requests/s leaves out the last 2 s and reads 0 for a run's first seconds); None
        until two counts a second apart."""
        done = _num(row.get("Total Request Count")) if row else None
        if done is None:
            return None
        self._counts.append((now, done))
        while len(self._counts) > 2 and now - self._counts[1][0] >= RATE_WINDOW_S:
            del self._counts[0]
        (t0, n0), (t1, n1) = self._counts[0], self._counts[-1]
        return (n1 - n0) / (t1 - t0) if t1 - t0 >= 1.0 else None

    def _offered(self, now: float) -> float | None:
        """Task starts/s the plan offers now (None: the closed model)."""
        if self.profile is not None and self.requested is not None:
            return float(self.profile.rate_at(now - self.started))
        return self.requested

    def _objectives(self) -> tuple[ObjectiveState, ...]:
        if self.monitor is None:
            return ()
        return tuple(ObjectiveState(name, f["state"], f.get("value"), f.get("unit", ""))
                     for name, f in self.monitor.states().items())

    def _append(self, row: dict[str, str] | None, now: float, cpu: float | None) -> None:
        offered = self._offered(now)
        states = self.monitor.states() if self.monitor is not None else None
        line = live_line(row, now, self.started, self.window, offered, cpu, states)
        path = self.record
        if path is None:
            return
        try:
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(_finite(line), allow_nan=False) + "\n")
        except OSError:
            self.record = None  # a stream that cannot be written never stops the load
