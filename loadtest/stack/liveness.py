"""Is the target still there while the load runs? Each watch answers `down_since()`: when the
current run of failures began (epoch seconds), or None while the target answers. The load
loop stops the load once any watch has seen the target down for TARGET_DEAD_S.

    the harness's own scrapes   EmbeddedSource.down_since (its /metrics failing)
    SampleWatch                 the load generator's samples: every request since then got no
                                HTTP answer at all (refused, reset, timed out)
    UpWatch                     Prometheus' `up` for the selector: 0 at two scrapes in a row or
                                more, on every matching series

The last two serve a target whose metrics the harness does not read itself
(`--metrics-url none`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol

from loadtest.metrics.base import Matcher, SourceError, render_selector
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.store.samples import NewRows

TARGET_DEAD_S = 5.0  # down this long: the target is gone, stop the load
UP_MIN_FAILED = 2    # `up` == 0 at this many scrapes in a row (one failed scrape is a blip)


class Watch(Protocol):
    def down_since(self) -> float | None: ...


def dead_since(watches: list[Watch], now: float | None = None) -> float | None:
    """The earliest down_since of a watch that has seen the target down for TARGET_DEAD_S."""
    now = time.time() if now is None else now
    found = [s for s in (w.down_since() for w in watches)
             if s is not None and now - s >= TARGET_DEAD_S]
    return min(found) if found else None


class SampleWatch:
    """Reads the per-request samples (`samples-*.csv`) as the Locust side appends them."""

    def __init__(self, locust_dir: Path, every_s: float = 0.5) -> None:
        self.locust_dir = locust_dir
        self.every_s = every_s
        self._new_rows = NewRows(locust_dir)
        self._last_read = 0.0
        self._last_answer = 0.0   # end of the latest request that got an HTTP answer
        self._unanswered: list[float] = []  # ends of requests without one, after it

    def down_since(self) -> float | None:
        if time.monotonic() - self._last_read >= self.every_s:
            self._last_read = time.monotonic()
            self._read()
        return min(self._unanswered) if self._unanswered else None

    def _read(self) -> None:
        rows: list[tuple[float, bool]] = []
        for row in self._new_rows():
            try:
                end = float(row[0]) + float(row[4]) / 1000
                rows.append((end, int(row[5]) > 0))
            except (IndexError, ValueError):
                continue  # the header, or a torn row
        for end, answered in sorted(rows):
            if answered:
                self._last_answer = max(self._last_answer, end)
                self._unanswered = [t for t in self._unanswered if t > self._last_answer]
            elif end > self._last_answer:
                self._unanswered.append(end)


class UpWatch:
    """Polls Prometheus' `up{selector}` in a thread (a query never blocks the load loop). A
    Prometheus that does not answer says nothing about the target: None."""

    def __init__(self, url: str, matchers: tuple[Matcher, ...], interval_s: float,
                 insecure: bool = False) -> None:
        self.source = PrometheusSource(url, matchers, timeout_s=3.0, insecure=insecure)
        self.interval_s = interval_s
        self._since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="up-watch", daemon=True)

    def start(self) -> UpWatch:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def down_since(self) -> float | None:
        return self._since

    def _loop(self) -> None:
        every = max(0.5, min(self.interval_s, 5.0))
        while not self._stop.is_set():
            try:
                self._since = self.poll()
            except SourceError:
                self._since = None
            self._stop.wait(every)

    def poll(self) -> float | None:
        sel = render_selector(self.source.up_matchers) if self.source.up_matchers else ""
        span_ms = int(max(30.0, 4 * self.interval_s) * 1000)
        series = self.source.query(f"up{sel}[{span_ms}ms]")
        if not series:
            return None
        latest_down: list[float] = []
        for s in series:
            failed: list[float] = []
            for t, v in reversed(s.get("values", [])):
                if float(v) >= 1:
                    break
                failed.append(float(t))
            if len(failed) < UP_MIN_FAILED:
                return None  # this instance answers (or failed only once)
            latest_down.append(min(failed))
        return max(latest_down)
