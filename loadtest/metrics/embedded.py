"""The embedded metrics source: the harness scrapes the target's /metrics itself (used when no
Prometheus is installed). Snapshots are taken every `interval` and at the window's edges, and
appended to a gzipped JSON-lines file (one gzip member per scrape) as they are taken, so
`loadtest verify` can judge them again. On long runs only the last scrapes stay in memory.

Figures follow Prometheus' semantics: counter resets (a restarted target) are handled like
`increase()` does, series that appear mid-window count from zero, and quantiles use the same
interpolation as `histogram_quantile` (histogram.py).
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from loadtest import tls
from loadtest.httpread import bounded_get
from loadtest.metrics.base import (
    Figure,
    Matcher,
    MetricsSource,
    SourceError,
    Window,
    render_selector,
)
from loadtest.metrics.exposition import ExpositionError, SeriesKey, Snapshot, parse_exposition
from loadtest.metrics.histogram import histogram_quantile, parse_le
from loadtest.store.records import IntervalHistograms, ScrapeHealth, SourceInfo

MAX_BODY_BYTES = 32 * 1024 * 1024
SCRAPE_DEADLINE_S = 5.0
IN_MEMORY = 120  # scrapes kept in memory while recording; older ones are read back from the file


class EmbeddedSource(MetricsSource):
    name = "embedded"

    def __init__(self, metrics_url: str | None, job: str = "opscore-backend",
                 interval_s: float = 1.0, record_path: Path | None = None,
                 snapshots: list[Snapshot] | None = None,
                 deadline_s: float = SCRAPE_DEADLINE_S, insecure: bool = False) -> None:
        """`insecure`: --insecure-target (see loadtest/tls.py)."""
        self.metrics_url = metrics_url
        self.insecure = insecure
        self.deadline_s = deadline_s  # a whole scrape, however slowly the body arrives
        self.job = job
        self.interval_s = interval_s
        self.record_path = record_path
        self._snapshots: list[Snapshot] = list(snapshots or [])
        self._recorded = 0          # scrapes written to record_path
        self._cache: tuple[int, list[Snapshot]] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self.edges: dict[str, float] = {}
        self.keep_in_memory = IN_MEMORY  # raised by the live monitor for its longest window

    @classmethod
    def from_file(cls, path: Path, job: str = "opscore-backend") -> EmbeddedSource:
        snaps = []
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        snaps.append(Snapshot.from_json(json.loads(line)))
        except (EOFError, gzip.BadGzipFile, ValueError, KeyError, TypeError, AttributeError,
                OSError) as e:
            if not snaps:
                raise SourceError(f"{path}: not a readable snapshot file ({e})") from None
            # a torn last scrape after a crash: keep what is whole
        return cls(None, job=job, snapshots=snaps)

    # -- scraping ---------------------------------------------------------------------------
    def open(self) -> None:
        """Ready to scrape, without the periodic loop: scrapes happen at the window's edges
        only (the Locust plugin, inside Locust's process)."""
        if self.metrics_url is None:
            raise SourceError("embedded source has no /metrics URL to scrape")
        self._client = httpx.Client(timeout=httpx.Timeout(self.deadline_s), trust_env=False,
                                    verify=tls.httpx_verify("target", self.insecure))
        if self.record_path:
            self.record_path.parent.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.open()
        self._thread = threading.Thread(target=self._loop, name="embedded-scrape", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_t = time.time()
        while not self._stop.is_set():
            self.scrape_now()
            next_t += self.interval_s
            self._stop.wait(max(0.0, next_t - time.time()))

    def scrape_now(self) -> Snapshot:
        t = time.time()
        instance = urlsplit(self.metrics_url or "").netloc
        try:
            resp = bounded_get(self._client, self.metrics_url or "", deadline_s=self.deadline_s,
                               max_bytes=MAX_BODY_BYTES)
            if resp.status_code != 200:
                raise ExpositionError(f"/metrics answered HTTP {resp.status_code}")
            values = parse_exposition(resp.text, {"job": self.job, "instance": instance})
            values[("up", (("instance", instance), ("job", self.job)))] = 1.0
            snap = Snapshot(t=t, values=values)
        except Exception as e:  # noqa: BLE001 - any scrape failure is recorded, like up == 0
            snap = Snapshot(t=t, values={("up", (("instance", instance), ("job", self.job))): 0.0},
                            ok=False, error=str(e).splitlines()[0][:200] if str(e) else repr(e))
        with self._lock:
            self._snapshots.append(snap)
            if self.record_path:
                line = json.dumps(snap.to_json(), separators=(",", ":")) + "\n"
                with self.record_path.open("ab") as f:
                    f.write(gzip.compress(line.encode("utf-8"), compresslevel=6))
                self._recorded += 1
                # a long run's memory stays flat: the file holds every scrape
                del self._snapshots[:-self.keep_in_memory]
        return snap

    def down_since(self) -> float | None:
        """When the current run of failed scrapes began (None: the last scrape worked)."""
        with self._lock:
            since = None
            for snap in reversed(self._snapshots):
                if snap.ok:
                    break
                since = snap.t
            return since

    def at_window_start(self, t: float) -> None:
        if self._client is not None:
            self.edges["start"] = self.scrape_now().t

    def at_window_end(self, t: float) -> None:
        if self._client is not None:
            self.edges["end"] = self.scrape_now().t

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._client is not None:
            self._client.close()

    # -- figures ----------------------------------------------------------------------------
    def recent(self, since: float) -> list[Snapshot]:
        """The scrapes held in memory taken at or after `since` (never reads the file: the
        live monitor calls this once a second)."""
        with self._lock:
            return [s for s in self._snapshots if s.t >= since]

    def snapshots(self) -> list[Snapshot]:
        with self._lock:
            if not self.record_path or self._recorded <= len(self._snapshots):
                return list(self._snapshots)
            if self._cache is None or self._cache[0] != self._recorded:
                self._cache = (self._recorded,
                               EmbeddedSource.from_file(self.record_path).snapshots())
            return list(self._cache[1])

    def _in_window(self, window: Window) -> list[Snapshot]:
        """The scrapes nearest to the window's edges (within half an interval) and every
        scrape between them."""
        tol = 0.5 * self.interval_s
        ok = [s for s in self.snapshots() if s.ok]
        near_start = [s for s in ok if abs(s.t - window.start) <= tol]
        near_end = [s for s in ok if abs(s.t - window.end) <= tol]
        if not near_start or not near_end:
            return []
        first = min(near_start, key=lambda s: abs(s.t - window.start))
        last = min(near_end, key=lambda s: abs(s.t - window.end))
        return [s for s in ok if first.t <= s.t <= last.t]

    def _increase_by(self, name: str, matchers: tuple[Matcher, ...], window: Window,
                     group: str | None = None) -> dict[str, float] | None:
        snaps = self._in_window(window)
        if len(snaps) < 2:
            return None
        totals: dict[str, float] = {}
        seen = False
        prev: dict[SeriesKey, float] = {}
        first = True
        for snap in snaps:
            for key, value in snap.values.items():
                if key[0] != name:
                    continue
                labels = dict(key[1])
                if not all(m.matches(labels) for m in matchers):
                    continue
                seen = True
                g = labels.get(group, "") if group else ""
                totals.setdefault(g, 0.0)
                if first:
                    prev[key] = value
                    continue
                before = prev.get(key, 0.0)  # a series new in this scrape counts from zero
                totals[g] += value - before if value >= before else value  # reset
                prev[key] = value
            first = False
        return totals if seen else None

    def _describe(self, expr: str, window: Window) -> str:
        snaps = self._in_window(window)
        if len(snaps) < 2:
            return f"embedded: {expr} (fewer than 2 scrapes in the window)"
        return (f"embedded: {expr} over {len(snaps)} scrapes "
                f"{snaps[0].t:.3f}..{snaps[-1].t:.3f}")

    def increase(self, metric: str, matchers: tuple[Matcher, ...], window: Window) -> Figure:
        totals = self._increase_by(metric, matchers, window)
        expr = f"sum(increase({metric}{render_selector(matchers)}))"
        return Figure(None if totals is None else sum(totals.values()),
                      self._describe(expr, window))

    def buckets(self, histogram: str, matchers: tuple[Matcher, ...],
                window: Window) -> tuple[dict[str, float] | None, str]:
        totals = self._increase_by(f"{histogram}_bucket", matchers, window, group="le")
        expr = f"sum by (le) (increase({histogram}_bucket{render_selector(matchers)}))"
        return totals, self._describe(expr, window)

    def bucket_bounds(self, histogram: str, matchers: tuple[Matcher, ...]) -> list[str]:
        ok = [s for s in self.snapshots() if s.ok]
        if not ok and self._client is not None:
            ok = [s for s in [self.scrape_now()] if s.ok]
        les = set()
        for (name, labels), _ in (ok[-1].values.items() if ok else ()):
            label_map = dict(labels)
            if name == f"{histogram}_bucket" and "le" in label_map and \
                    all(m.matches(label_map) for m in matchers):
                les.add(label_map["le"])
        return sorted(les)

    def quantile(self, q: float, histogram: str, matchers: tuple[Matcher, ...],
                 window: Window) -> Figure:
        totals, _ = self.buckets(histogram, matchers, window)
        expr = (f"histogram_quantile({q}, sum by (le) (increase("
                f"{histogram}_bucket{render_selector(matchers)})))")
        return Figure(None if totals is None else histogram_quantile(q, totals),
                      self._describe(expr, window))

    def interval_buckets(self, histogram: str, matchers: tuple[Matcher, ...],
                         window: Window) -> IntervalHistograms | None:
        """Per-scrape-interval bucket increases inside the window, for a block bootstrap:
        {"le": [labels], "t": [interval end offsets], "counts": [[per le], ...]}."""
        snaps = self._in_window(window)
        if len(snaps) < 2:
            return None
        rows: list[dict[str, float]] = []
        name = f"{histogram}_bucket"
        for a, b in zip(snaps, snaps[1:]):
            pair = EmbeddedSource(None, snapshots=[a, b], interval_s=self.interval_s)
            totals = pair._increase_by(name, matchers, Window(a.t, b.t), group="le")
            rows.append(totals or {})
        les = sorted({le for r in rows for le in r}, key=parse_le)
        if not les:
            return None
        return IntervalHistograms(le=les, t=[round(b.t - window.start, 3) for b in snaps[1:]],
                                  counts=[[round(r.get(le, 0.0), 3) for le in les]
                                          for r in rows])

    def effective_window(self, window: Window) -> Window | None:
        snaps = self._in_window(window)
        return Window(snaps[0].t, snaps[-1].t) if len(snaps) >= 2 else None

    def scrape_health(self, window: Window) -> ScrapeHealth:
        every = [s for s in self.snapshots()
                 if window.start - 0.5 * self.interval_s <= s.t <= window.end
                 + 0.5 * self.interval_s]
        starts = [v for s in every if s.ok for (n, _), v in s.values.items()
                  if n == "process_start_time_seconds"]
        return ScrapeHealth(scrapes=len(every), successful=sum(1 for s in every if s.ok),
                            failed=sum(1 for s in every if not s.ok),
                            restarts=sum(1 for a, b in zip(starts, starts[1:]) if a != b))

    def describe(self) -> SourceInfo:
        return SourceInfo(name=self.name, url=self.metrics_url,
                          scrape_interval_s=self.interval_s, job=self.job)
