"""Client statistics over the load generator's samples in bounded memory, exactly.

A run's samples (`locust/samples-<pid>.csv`) are read in chunks, never whole. The first pass
keeps, per endpoint (method, name) inside the window, counts by status, sums, maxima and fine
histograms of measured latency, corrected latency and schedule lag; per second of the whole
run, the count, errors and exact p50/p95/p99 (the seconds still open stay in memory, a few
seconds' worth); the top errors; the requests completed in the window. Every filter of an
objective (endpoint, method) is a union of endpoints, so its figures are sums of theirs.

Quantiles stay exact nearest-rank (the smallest value with at least q of the samples at or
below it: 0-based rank ceil(q x n - 1), numpy's "inverted_cdf", the definition the comparison
with a baseline uses too): the histogram finds the bin that holds the rank, a second pass
collects only that bin's values. Shares within a threshold are exact too: every threshold is a bin edge.
Memory grows with the number of endpoints and seconds of the run, never with the samples.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from loadtest.metrics.base import Window
from loadtest.store.records import (
    ClientSummary,
    ClientTotals,
    CompactSamples,
    EndpointStats,
    ErrorStats,
    Percentiles,
    SecondStats,
)

CHUNK_ROWS = 250_000
COLUMNS = ("response_ms", "corrected_ms", "lag_ms")
QUANTILES = (0.5, 0.95, 0.99)
TOP_ERRORS = 10
OPEN_SECONDS = 10  # a second is final once samples 10 s later have been read
Key = tuple[str, str]  # (method, name)
Quantiles = dict[tuple[tuple[Key, ...], str, float], float | None]  # (keys, column, q) -> ms


def read_chunks(folder: Path, rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """The samples as DataFrames of at most `rows` rows, file after file, with the derived
    columns lag_ms and corrected_ms; torn or unreadable lines are skipped (a killed run's
    last line)."""
    for path in sample_files(folder):
        yield from file_chunks(path, rows)


def sample_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("samples-*.csv"))


def file_chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """One file's samples in chunks (pandas' C parser: Arrow's streaming reader was about 20%
    faster here but its memory grew with every pass over a long run)."""
    try:
        reader = pd.read_csv(
            path, keep_default_na=False, on_bad_lines="skip", chunksize=rows,
            dtype={"method": "category", "name": "category", "error": "category",
                   "start": "float64", "intended": "float64", "response_ms": "float64"},
            usecols=lambda c: c != "bytes")
        for chunk in reader:
            yield _derive(chunk)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError):
        return


def in_time_order(folder: Path, rows: int) -> Iterator[tuple[Any, float]]:
    """Chunks of every file, always from the file read least far in time (each file is in
    time order: one per process), each with the time every file has been read up to."""
    streams = [file_chunks(p, rows) for p in sample_files(folder)]
    heap = [(-math.inf, i) for i in range(len(streams))]
    while heap:
        _, i = heapq.heappop(heap)
        chunk = next(streams[i], None)
        if chunk is None:
            continue
        heapq.heappush(heap, (float(chunk["start"].max()) if len(chunk) else -math.inf, i))
        if len(chunk):
            yield chunk, heap[0][0]


def _derive(df: Any) -> Any:
    for c in ("start", "intended", "response_ms"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["status"] = pd.to_numeric(df["status"], errors="coerce").fillna(0).astype(int)
    df["failed"] = pd.to_numeric(df["failed"], errors="coerce").fillna(0).astype(int)
    df = df.dropna(subset=["start", "response_ms"])
    df = df.assign(lag_ms=((df["start"] - df["intended"]) * 1000.0).clip(lower=0.0).fillna(0.0))
    return df.assign(corrected_ms=df["response_ms"] + df["lag_ms"])


class Bins:
    """The fine histogram's bins (ms): a geometric grid 0.2% apart from 1 us to 28 h, plus
    every threshold an objective asks about as an exact edge, so that "within the threshold"
    is a sum of whole bins. A value's bin is the number of edges below it: computed from its
    logarithm for the grid (monotonic, so the two passes agree) and exactly for thresholds."""
    LOW, HIGH, STEP = 1e-3, 1e8, 1.002

    def __init__(self, thresholds_ms: Iterable[float] = ()) -> None:
        self.grid = int(math.log(self.HIGH / self.LOW) / math.log(self.STEP)) + 1
        self.log_step = math.log(self.STEP)
        self.thresholds = np.unique(np.asarray(list(thresholds_ms), dtype=float))
        self.size = self.grid + len(self.thresholds) + 2

    def index(self, values: Any) -> Any:
        v = np.asarray(values, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            grid = np.ceil(np.log(np.maximum(v, 1e-300) / self.LOW) / self.log_step)
        grid = np.clip(np.nan_to_num(grid, nan=0.0), 0, self.grid).astype(np.int64)
        return grid + np.searchsorted(self.thresholds, v, side="left")

    def count(self, values: Any) -> Any:
        return np.bincount(self.index(values), minlength=self.size)

    def at_or_below(self, counts: Any, threshold_ms: float) -> int:
        """Values <= a threshold: the bins below the first value above it."""
        above = int(self.index(np.nextafter(threshold_ms, math.inf)))
        return int(counts[:above].sum())


@dataclass
class Endpoint:
    """What the first pass keeps of one endpoint's requests in the window."""
    hist: dict[str, NDArray[np.int64] | None]  # per column: counts per bin, None till seen
    statuses: dict[int, int] = field(default_factory=dict)
    count: int = 0
    failures: int = 0
    total_ms: float = 0.0
    max_ms: float = -math.inf
    max_lag_ms: float = -math.inf


def rank(n: int, q: float) -> int:
    """The 0-based nearest rank of the q-quantile among n sorted values: the smallest value with
    at least q of them at or below it (numpy's `inverted_cdf`, computed as numpy does)."""
    return max(0, min(n - 1, math.ceil(n * q - 1)))


class ClientSamples:
    """The samples of one run folder over one window, read in two passes at most."""

    def __init__(self, folder: Path, window: Window, run_start: float | None = None,
                 thresholds_s: Iterable[float] = (), chunk_rows: int = CHUNK_ROWS) -> None:
        self.folder, self.window, self.chunk_rows = folder, window, chunk_rows
        self.run_start = window.start if run_start is None else run_start
        self.bins = Bins(t * 1000.0 for t in thresholds_s)
        self.endpoints: dict[Key, Endpoint] = {}
        self.completed = 0
        self.samples_total = 0
        self.errors: dict[tuple[str, str, int, str], list[Any]] = {}
        self.seconds: dict[int, list[int]] = {}  # offset -> [count, errors]
        self.busy_ms: dict[int, float] = {}  # second (epoch) -> response time started in it
        self.second_quantiles: dict[int, list[float | None]] = {}
        self._open: list[Any] = []
        self._cache: dict[tuple[tuple[Key, ...], str, float], float | None] = {}
        self._compact: dict[int, CompactSamples] = {}
        self._scan()

    # -- the first pass ---------------------------------------------------------------------
    def chunks(self) -> Iterator[Any]:
        return read_chunks(self.folder, self.chunk_rows)

    def _scan(self) -> None:
        w = self.window
        for df, read_to in in_time_order(self.folder, self.chunk_rows):
            self.samples_total += len(df)
            done = df["start"] + df["response_ms"] / 1000.0
            self.completed += int(((done >= w.start) & (done < w.end)).sum())
            self._per_second(df, read_to)
            inw = df[(df["start"] >= w.start) & (df["start"] < w.end)]
            if len(inw):
                for sec, ms in inw.groupby(inw["start"].floordiv(1))["response_ms"].sum(
                        ).items():
                    self.busy_ms[int(sec)] = self.busy_ms.get(int(sec), 0.0) + float(ms)
                self._per_endpoint(inw)
                self._errors(inw[inw["failed"] == 1])
        self._close_seconds()

    def _per_endpoint(self, inw: Any) -> None:
        for (method, name), g in inw.groupby(["method", "name"], sort=False, observed=True):
            key = (str(method), str(name))
            ep = self.endpoints.get(key)
            if ep is None:
                ep = self.endpoints[key] = Endpoint(hist={c: None for c in COLUMNS})
            ep.count += len(g)
            ep.failures += int(g["failed"].sum())
            ep.total_ms += float(g["response_ms"].sum())
            ep.max_ms = max(ep.max_ms, float(g["response_ms"].max()))
            ep.max_lag_ms = max(ep.max_lag_ms, float(g["lag_ms"].max()))
            for status, n in g["status"].value_counts().items():
                ep.statuses[int(status)] = ep.statuses.get(int(status), 0) + int(n)
            for c in COLUMNS:
                counts = self.bins.count(g[c].to_numpy())
                ep.hist[c] = counts if ep.hist[c] is None else ep.hist[c] + counts

    def _errors(self, failed: Any) -> None:
        if not len(failed):
            return
        kinds = failed["error"].astype(str).str.split(":").str[0].fillna("")
        keyed = failed.assign(kind=kinds)
        for (method, name, status, kind), g in keyed.groupby(
                ["method", "name", "status", "kind"], sort=False, observed=True):
            key = (str(method), str(name), int(status), str(kind))
            if key in self.errors:
                self.errors[key][0] += len(g)
            else:
                self.errors[key] = [len(g), str(g["error"].iloc[0])[:300]]

    def _per_second(self, df: Any, read_to: float) -> None:
        sec = (df["start"] - self.run_start).floordiv(1).astype(int)
        for s, n, e in zip(*_group_counts(sec, df["failed"]), strict=True):
            row = self.seconds.setdefault(int(s), [0, 0])
            row[0] += int(n)
            row[1] += int(e)
        self._open.append(df[["start", "response_ms"]].assign(sec=sec))
        if read_to != -math.inf:
            self._close_seconds(read_to)

    def _close_seconds(self, read_to: float = math.inf) -> None:
        """Per-second quantiles of the seconds every file has been read past (with a margin
        for rows written a little out of order)."""
        if not self._open:
            return
        final = read_to == math.inf
        if read_to == -math.inf:  # a file not read yet: nothing is complete
            return
        pending = pd.concat(self._open, ignore_index=True)
        horizon = math.inf if final else math.floor(read_to - self.run_start) - OPEN_SECONDS
        ready = pending[pending["sec"] < horizon]
        self._open = [pending[pending["sec"] >= horizon]] if not final else []
        for sec, values in _quantiles_by_second(ready["sec"].to_numpy(),
                                                ready["response_ms"].to_numpy()):
            self.second_quantiles.setdefault(sec, values)  # a straggler: already closed

    # -- figures ----------------------------------------------------------------------------
    def compact(self, limit: int) -> CompactSamples:
        """The window's samples as results.json keeps them for comparisons (offsets from the
        window's start, measured latency, endpoint index, status), thinned evenly to `limit`
        (collected in the second pass, or a pass of its own; only the kept rows are held)."""
        if limit not in self._compact:
            self._second_pass([], limit)
        return self._compact[limit]

    def _thinning(self, limit: int) -> tuple[float, dict[str, int], CompactSamples]:
        n = self.count(list(self.endpoints))
        names = sorted(f"{m} {nm}" for m, nm in self.endpoints)
        kept = CompactSamples(window_s=self.window.seconds, names=names, t=[], ms=[], ep=[],
                              status=[], thinned=n > limit)
        return (n / limit if n > limit else 1.0), {k: i for i, k in enumerate(names)}, kept

    def _keep(self, inw: Any, seen: int,
              thinning: tuple[float, dict[str, int], CompactSamples]) -> None:
        step, index, kept = thinning
        first = math.ceil(seen / step - 1e-9)
        picks = (np.arange(first, math.ceil((seen + len(inw)) / step - 1e-9)) * step
                 ).astype(np.int64) - seen
        picks = picks[(picks >= 0) & (picks < len(inw))]
        rows = inw.iloc[picks]
        labels = rows["method"].astype(str) + " " + rows["name"].astype(str)
        kept["t"] += (rows["start"] - self.window.start).round(3).tolist()
        kept["ms"] += rows["response_ms"].round(3).tolist()
        kept["ep"] += [index[k] for k in labels]
        kept["status"] += rows["status"].astype(int).tolist()

    def keys(self, endpoint: str | None = None, method: str | None = None) -> list[Key]:
        return [k for k in self.endpoints
                if (endpoint is None or k[1] == endpoint)
                and (method is None or k[0] == method.upper())]

    def count(self, keys: list[Key]) -> int:
        return sum(self.endpoints[k].count for k in keys)

    def histogram(self, keys: list[Key], column: str) -> Any:
        total = np.zeros(self.bins.size, dtype=np.int64)
        for k in keys:
            counts = self.endpoints[k].hist[column]
            if counts is not None:
                total += counts
        return total

    def within(self, keys: list[Key], column: str, threshold_s: float) -> float:
        """The share of the keys' requests at or below `threshold_s` (one of the thresholds
        given at construction, so exact)."""
        n = self.count(keys)
        at = self.bins.at_or_below(self.histogram(keys, column), threshold_s * 1000.0)
        return at / n if n else 0.0

    def statuses(self, keys: list[Key]) -> dict[int, int]:
        out: dict[int, int] = {}
        for k in keys:
            for status, n in self.endpoints[k].statuses.items():
                out[status] = out.get(status, 0) + n
        return out

    def matching(self, keys: list[Key], pattern: str) -> int:
        regex = re.compile(pattern)
        return sum(n for status, n in self.statuses(keys).items()
                   if regex.fullmatch(str(status)))

    def quantile(self, keys: Iterable[Key], column: str, q: float) -> float | None:
        """One exact quantile (a second pass, unless `quantiles` already fetched it)."""
        ask = (tuple(sorted(keys)), column, q)
        if ask not in self._cache:
            self.quantiles([ask])
        return self._cache[ask]

    def quantiles(self, asks: Iterable[tuple[tuple[Key, ...], str, float]],
                  compact_limit: int | None = None
                  ) -> dict[tuple[tuple[Key, ...], str, float], float | None]:
        """Exact nearest-rank quantiles for every (keys, column, q) asked, in one
        second pass that keeps only the values of the bins holding the ranks (and, with
        `compact_limit`, the thinned samples in the same pass)."""
        asks = [(tuple(sorted(k)), c, q) for k, c, q in asks]
        todo = [a for a in set(asks) if a not in self._cache]
        if todo or (compact_limit is not None and compact_limit not in self._compact):
            self._second_pass(todo, compact_limit)
        return {a: self._cache[a] for a in asks}

    def _second_pass(self, asks: list[tuple[tuple[Key, ...], str, float]],
                     compact_limit: int | None) -> None:
        targets: dict[tuple[tuple[Key, ...], str, float], tuple[int, int]] = {}
        for ask in asks:
            keys, column, q = ask
            n = self.count(list(keys))
            if n == 0:
                self._cache[ask] = None
                continue
            r = rank(n, q)
            cumulative = np.cumsum(self.histogram(list(keys), column))
            b = int(np.searchsorted(cumulative, r, side="right"))
            targets[ask] = (b, r - (int(cumulative[b - 1]) if b else 0))
        if not targets and compact_limit is None:
            return
        wanted: dict[tuple[frozenset[Key], str, int], list[Any]] = {
            (frozenset(keys), column, b): [] for (keys, column, _), (b, _) in targets.items()}
        thinning = self._thinning(compact_limit) if compact_limit is not None else None
        seen = 0
        w = self.window
        for df in self.chunks():
            inw = df[(df["start"] >= w.start) & (df["start"] < w.end)]
            if not len(inw):
                continue
            rows = {(str(m), str(n)): idx for (m, n), idx in inw.groupby(
                ["method", "name"], sort=False, observed=True).indices.items()}
            for (key_set, column, b), found in wanted.items():
                at = [rows[k] for k in key_set if k in rows]
                if not at:
                    continue
                values = inw[column].to_numpy()[np.concatenate(at)]
                found.append(values[self.bins.index(values) == b])
            if thinning is not None:
                self._keep(inw, seen, thinning)
            seen += len(inw)
        for ask, (b, within_bin) in targets.items():
            keys, column, _ = ask
            found = wanted[(frozenset(keys), column, b)]
            values = np.sort(np.concatenate(found)) if found else np.array([])
            self._cache[ask] = float(values[min(within_bin, len(values) - 1)]) \
                if len(values) else None
        if thinning is not None and compact_limit is not None:
            self._compact[compact_limit] = thinning[2]


def _quantiles_by_second(secs: Any, values: Any) -> Iterator[tuple[int, list[float | None]]]:
    """Each second's QUANTILES (nearest rank, as `rank`), all seconds at once: sorted by
    (second, value), each rank is an offset from its second's first row."""
    if not len(secs):
        return
    order = np.lexsort((values, secs))
    secs, values = secs[order], values[order]
    starts = np.flatnonzero(np.r_[True, secs[1:] != secs[:-1]])
    sizes = np.diff(np.r_[starts, len(secs)])
    picks = [values[starts + np.clip(np.ceil(sizes * q - 1), 0, sizes - 1).astype(np.int64)]
             for q in QUANTILES]
    for i, start in enumerate(starts):
        yield int(secs[start]), [float(p[i]) for p in picks]


def _nearest_rank(series: Any, q: float) -> float | None:
    """The q-quantile of a pandas Series as `rank` defines it (missing values left out)."""
    values = series.dropna().to_numpy(dtype=float)
    if len(values) == 0:
        return None
    k = rank(len(values), q)
    return float(np.partition(values, k)[k])


def _group_counts(sec: Any, failed: Any) -> tuple[Any, Any, Any]:
    counts = sec.value_counts(sort=False)
    errors = failed.groupby(sec).sum()
    index = counts.index
    return index, counts.to_numpy(), errors.reindex(index).fillna(0).to_numpy()


def client_stats(cs: ClientSamples, compact_limit: int | None = None) -> ClientSummary:
    """The judged window's statistics and the whole run's per-second series, as
    samples.client_stats gives them from a DataFrame, from the two passes (the second also
    collects the compact samples when `compact_limit` is given)."""
    everything = tuple(sorted(cs.endpoints))
    q = cs.quantiles(_asks(everything), compact_limit)
    return ClientSummary(totals=_totals(cs, everything, q),
                         endpoints=_endpoints(cs, everything, q),
                         errors=_errors(cs)[:TOP_ERRORS], timeseries=_timeseries(cs))


def _asks(everything: tuple[Key, ...]) -> list[tuple[tuple[Key, ...], str, float]]:
    """The quantiles the statistics show: of all requests, then of each endpoint."""
    asks = [(everything, c, q) for c in ("response_ms", "corrected_ms") for q in QUANTILES]
    asks += [(everything, "response_ms", 0.9)]  # p90: GitLab's load-performance widget
    asks += [(everything, "lag_ms", q) for q in (0.5, 0.99)]
    for key in everything:
        asks += [((key,), "response_ms", q) for q in QUANTILES] + \
            [((key,), "corrected_ms", 0.95)]
    return asks


def _totals(cs: ClientSamples, everything: tuple[Key, ...], q: Quantiles) -> ClientTotals:
    secs = cs.window.seconds
    n = cs.count(list(everything))
    statuses = cs.statuses(list(everything))
    eps = cs.endpoints.values()
    return ClientTotals(
        requests=n,
        completed_rate=cs.completed / secs if secs > 0 else 0.0,
        failures=sum(e.failures for e in eps),
        server_errors=sum(c for s, c in statuses.items() if 500 <= s <= 599),
        connection_errors=statuses.get(0, 0),
        achieved_rate=n / secs if secs > 0 else 0.0,
        # mean requests in flight (Little's law: rate x mean latency, over the window)
        in_flight=sum(e.total_ms for e in eps) / 1000.0 / secs if secs > 0 else 0.0,
        # the same per second of the window, at its highest (a queue that builds up over the
        # window shows here before it shows in the mean)
        in_flight_peak=max(cs.busy_ms.values(), default=0.0) / 1000.0,
        latency_ms=_percentiles(q, everything, "response_ms", sorted((*QUANTILES, 0.9))),
        mean_ms=sum(e.total_ms for e in eps) / n if n else None,
        corrected_latency_ms=_percentiles(q, everything, "corrected_ms", QUANTILES),
        max_ms=max((e.max_ms for e in eps), default=None) if n else None,
        schedule_lag_ms=Percentiles(p50=q[(everything, "lag_ms", 0.5)],
                                    p99=q[(everything, "lag_ms", 0.99)],
                                    max=max((e.max_lag_ms for e in eps), default=None)
                                    if n else None),
        samples_total=cs.samples_total,
    )


def _percentiles(q: Quantiles, everything: tuple[Key, ...], column: str,
                 quantiles: Iterable[float]) -> Percentiles:
    """{"p50": ..., "p95": ...}: the quantiles asked of a column, in their order."""
    out = Percentiles()
    for x in quantiles:
        out[_PERCENTILE[x]] = q[(everything, column, x)]
    return out


_PERCENTILE: dict[float, Literal["p50", "p90", "p95", "p99"]] = {
    0.5: "p50", 0.9: "p90", 0.95: "p95", 0.99: "p99"}  # f"p{int(x * 100)}" of each


def _endpoints(cs: ClientSamples, everything: tuple[Key, ...],
               q: Quantiles) -> list[EndpointStats]:
    secs = cs.window.seconds
    endpoints = []
    for key in sorted(everything):
        e = cs.endpoints[key]
        endpoints.append(EndpointStats(
            method=key[0], name=key[1], count=e.count, failures=e.failures,
            rate=e.count / secs if secs > 0 else 0.0,
            p50_ms=q[((key,), "response_ms", 0.5)],
            p95_ms=q[((key,), "response_ms", 0.95)],
            p99_ms=q[((key,), "response_ms", 0.99)], max_ms=e.max_ms,
            mean_ms=e.total_ms / e.count if e.count else None,
            corrected_p95_ms=q[((key,), "corrected_ms", 0.95)],
        ))
    return endpoints


def _errors(cs: ClientSamples) -> list[ErrorStats]:
    """Every kind of failure in the window, the most frequent first."""
    return sorted((ErrorStats(method=m, name=nm, status=st, count=c, example=ex)
                   for (m, nm, st, _), (c, ex) in cs.errors.items()),
                  key=lambda e: -e["count"])


def _timeseries(cs: ClientSamples) -> list[SecondStats]:
    """The whole run, per second since its start."""
    timeseries: list[SecondStats] = []
    for s in sorted(cs.seconds):
        t = cs.run_start + s
        count, errs = cs.seconds[s]
        p50, p95, p99 = cs.second_quantiles.get(s, [None, None, None])
        timeseries.append(SecondStats(t=float(t), offset_s=s,
                                      in_window=cs.window.start <= t < cs.window.end,
                                      rate=count, errors=errs, p50_ms=p50, p95_ms=p95,
                                      p99_ms=p99))
    return timeseries


class FrameSamples:
    """The same questions as ClientSamples, answered from a DataFrame already in memory (a
    few seconds' samples, or a test's): what the judging code asks of either."""

    def __init__(self, df: Any, window: Window) -> None:
        self.window = window
        self.df = df[(df["start"] >= window.start) & (df["start"] < window.end)]
        self.endpoints = {(str(m), str(n)) for m, n in zip(
            self.df["method"], self.df["name"], strict=True)}

    def keys(self, endpoint: str | None = None, method: str | None = None) -> list[Key]:
        return sorted(k for k in self.endpoints if (endpoint is None or k[1] == endpoint)
                      and (method is None or k[0] == method.upper()))

    def _rows(self, keys: Iterable[Key]) -> Any:
        labels = self.df["method"].astype(str) + " " + self.df["name"].astype(str)
        return self.df[labels.isin([f"{m} {n}" for m, n in keys])]

    def count(self, keys: list[Key]) -> int:
        return len(self._rows(keys))

    def quantile(self, keys: Iterable[Key], column: str, q: float) -> float | None:
        return _nearest_rank(self._rows(keys)[column], q)

    def within(self, keys: list[Key], column: str, threshold_s: float) -> float:
        rows = self._rows(keys)
        return float((rows[column] <= threshold_s * 1000).mean()) if len(rows) else 0.0

    def matching(self, keys: list[Key], pattern: str) -> int:
        regex = re.compile(pattern)
        return int(self._rows(keys)["status"].astype(str).map(
            lambda s: regex.fullmatch(s) is not None).sum())


def view(samples: Any, window: Window) -> Any:
    """A DataFrame wrapped as FrameSamples; a ClientSamples (or None) as it is."""
    if samples is None or isinstance(samples, ClientSamples | FrameSamples):
        return samples
    return FrameSamples(samples, window)
