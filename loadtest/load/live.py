"""The status of a run while it goes: elapsed and remaining time, achieved vs requested rate,
p95 and errors so far, and the generator's CPU. Read from Locust's own per-second history file
(`stats_stats_history.csv`, aggregated row); the CLI decides how to show it (one line updated
in place on a terminal, a plain line every few seconds otherwise). The same figures, with each
objective's live state, go to a machine-readable stream (`live.jsonl`, one JSON line a second)."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HISTORY = "stats_stats_history.csv"
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


def status_line(row: dict[str, str] | None, elapsed: float, total: float,
                requested: float | None, cpu_pct: float | None, objectives: str = "") -> str:
    """`objectives`: each objective's state over its sliding window (judge/monitor.py)."""
    clock = f"{_mmss(elapsed)} / {_mmss(total)}"
    if row is None:
        return f"{clock}  starting" + (f"  | {objectives}" if objectives else "")
    rate = _num(row.get("Requests/s")) or 0.0
    p95 = _num(row.get("95%"))
    done = _num(row.get("Total Request Count")) or 0.0
    failed = _num(row.get("Total Failure Count")) or 0.0
    parts = [clock, f"{rate:6.1f} / {requested:g} req/s" if requested is not None
             else f"{rate:6.1f} req/s (closed model)",
             f"p95 {p95:.0f} ms" if p95 is not None else "p95 -",
             f"errors {failed / done:.2%}" if done else "errors -"]
    if cpu_pct is not None:
        parts.append(f"generator CPU {cpu_pct:.0f}%")
    if objectives:
        parts.append(f"| {objectives}")
    return "  ".join(parts)


def live_line(row: dict[str, str] | None, now: float, started: float,
              window: tuple[float, float] | None, offered: float | None,
              cpu_pct: float | None, objectives: dict[str, dict[str, Any]] | None
              ) -> dict[str, Any]:
    """One line of live.jsonl: the time, the rate offered by the plan and the one achieved,
    Locust's current p50/p95/p99 (ms), requests and failures so far, the generator's CPU and
    each objective's live state (`pass`, `fail`, `-` where it cannot be computed yet)."""
    done = _num(row.get("Total Request Count")) if row else None
    failed = _num(row.get("Total Failure Count")) if row else None
    return {
        "t": round(now, 3), "offset_s": round(now - started, 3),
        "in_window": window is not None and window[0] <= now < window[1],
        "offered_rate": None if offered is None else round(offered, 3),
        "achieved_rate": _num(row.get("Requests/s")) if row else None,
        "p50_ms": _num(row.get("50%")) if row else None,
        "p95_ms": _num(row.get("95%")) if row else None,
        "p99_ms": _num(row.get("99%")) if row else None,
        "requests": None if done is None else int(done),
        "errors": None if failed is None else int(failed),
        "error_ratio": failed / done if done and failed is not None else None,
        "generator_cpu_pct": None if cpu_pct is None else round(cpu_pct, 1),
        "objectives": objectives or {},
    }


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
    """Called often by the load loop; about once a second shows a status line (when `show` is
    given) and appends a line to `record` (live.jsonl, when given)."""
    show: Callable[[str], None] | None
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
    _last: float = 0.0

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if now - self._last < self.every_s:
            return
        self._last = now
        cpu = self.cpu.current_pct() if self.cpu is not None else None
        row = latest(self.locust_dir)
        if self.show is not None:
            objectives = self.monitor.status_text() if self.monitor is not None else ""
            self.show(status_line(row, now - self.started, self.total_s, self.requested, cpu,
                                  objectives))
        if self.record is not None:
            self._append(row, now, cpu)

    def _append(self, row: dict[str, str] | None, now: float, cpu: float | None) -> None:
        offered = self.requested
        if self.profile is not None and self.requested is not None:
            offered = self.profile.rate_at(now - self.started)
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


class Terminal:
    """Progress messages and the live status on one stream: the status is one line redrawn in
    place on a terminal; elsewhere (CI logs) a plain line every `plain_every_s`."""

    def __init__(self, stream: Any, plain_every_s: float = 10.0) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.plain_every_s = plain_every_s
        self._drawn = False
        self._last_plain = 0.0

    def message(self, text: str) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        """End a status line left drawn."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def status(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            self._drawn = True
        else:
            now = time.monotonic()
            if now - self._last_plain < self.plain_every_s:
                return
            self._last_plain = now
            self.stream.write(text + "\n")
        self.stream.flush()


@contextmanager
def terminal(stream: Any) -> Iterator[Terminal]:
    """A Terminal whose status line is ended however the block ends."""
    term = Terminal(stream)
    try:
        yield term
    finally:
        term.done()
