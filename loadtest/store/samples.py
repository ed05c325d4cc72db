"""The load generator's own records in a run folder: per-request samples
(`locust/samples-<pid>.csv`, read whole for small folders; client_samples.py reads long runs in
chunks) and tasks (`tasks-<pid>.csv`: slot, start, end, requests, time waiting on them). Latency is given both as measured and corrected
from the intended start (coordinated omission: a request that waited for a free user counts
the wait).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loadtest.metrics.base import Window
from loadtest.store.client_samples import rank
from loadtest.store.records import Percentiles, TaskTotals


def load_samples(folder: Path) -> Any:
    frames = []
    for path in sorted(folder.glob("samples-*.csv")):
        try:
            frames.append(pd.read_csv(
                path, keep_default_na=False, on_bad_lines="skip",
                # categories: a few distinct strings repeated millions of times
                dtype={"method": "category", "name": "category", "error": "category",
                       "start": "float64", "intended": "float64", "response_ms": "float64"},
                usecols=lambda c: c != "bytes"))
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
            continue
    cols = ["start", "intended", "method", "name", "response_ms", "status", "failed", "error",
            "bytes"]
    if not frames:
        return pd.DataFrame(columns=cols)
    df = pd.concat(frames, ignore_index=True)
    for c in ("start", "intended", "response_ms"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["status"] = pd.to_numeric(df["status"], errors="coerce").fillna(0).astype(int)
    df["failed"] = pd.to_numeric(df["failed"], errors="coerce").fillna(0).astype(int)
    df = df.dropna(subset=["start", "response_ms"])
    df["lag_ms"] = ((df["start"] - df["intended"]) * 1000.0).clip(lower=0.0)
    df["corrected_ms"] = df["response_ms"] + df["lag_ms"]
    if len(frames) > 1 or not df["start"].is_monotonic_increasing:
        df = df.sort_values("start", ignore_index=True)
    return df


MAX_COMPACT_SAMPLES = 200_000  # samples kept in results.json for comparisons (thinned evenly)


@dataclass(frozen=True)
class TaskRow:
    """One task of the load generator (`tasks-<pid>.csv`): its slot, start and end (None in a
    file from before ends were recorded, or a task still running when the run stopped), the
    requests it made and the time it waited on their answers."""
    intended: float
    start: float
    end: float | None = None
    requests: int | None = None
    request_ms: float | None = None


def task_rows(folder: Path) -> Iterator[TaskRow]:
    """Every task recorded in a run's Locust folder, streamed; torn lines skipped."""
    for path in sorted(folder.glob("tasks-*.csv")):
        try:
            with path.open(encoding="utf-8", errors="replace") as f:
                next(f, None)  # the header
                for line in f:
                    row = _task_row(line.rstrip("\n").split(","))
                    if row is not None:
                        yield row
        except OSError:
            continue


def _task_row(parts: list[str]) -> TaskRow | None:
    try:
        if len(parts) >= 5:
            return TaskRow(float(parts[0]), float(parts[1]), float(parts[2]), int(parts[3]),
                           float(parts[4]))
        if len(parts) == 2:
            return TaskRow(float(parts[0]), float(parts[1]))
    except (IndexError, ValueError):
        pass
    return None  # a torn last line


def task_totals(folder: Path, window: Window) -> TaskTotals:
    """Tasks started in the window and their rate (with `--rate` counting task starts, a task
    of several requests makes requests/s higher than tasks/s), the schedule lag of the task
    starts themselves (a task's later requests wait for its earlier ones, not for the
    schedule), and what the tasks kept the users doing: how long a task lasted, how many
    requests it made, how much of it was spent waiting on their answers, and how many users
    were inside a task on average over the window (Little's law on task time). Empty when
    the run recorded no tasks (an older run, or Locust under the plugin)."""
    lags: list[float] = []
    done = requests = 0
    task_s = waiting_s = busy_s = 0.0
    seen = False
    for t in task_rows(folder):
        seen = True
        if t.end is not None:  # user-seconds inside a task, within the window
            busy_s += max(0.0, min(t.end, window.end) - max(t.start, window.start))
        if not window.start <= t.start < window.end:
            continue
        lags.append(max(0.0, (t.start - t.intended) * 1000.0))
        if t.end is not None and t.requests is not None and t.request_ms is not None:
            done += 1
            requests += t.requests
            task_s += t.end - t.start
            waiting_s += t.request_ms / 1000.0
    if not seen:
        return TaskTotals()
    lags.sort()
    n = len(lags)
    out = TaskTotals(tasks=n, task_rate=n / window.seconds if window.seconds > 0 else 0.0)
    if n:
        def q(f: float) -> float:  # nearest rank, as for the samples
            return lags[rank(n, f)]
        out["schedule_lag_ms"] = Percentiles(p50=q(0.5), p99=q(0.99), max=lags[-1])
    if done:
        out.update(TaskTotals(tasks_done=done, task_ms=1000.0 * task_s / done,
                              requests_per_task=requests / done,
                              task_waiting_ms=1000.0 * waiting_s / done,
                              in_task=busy_s / window.seconds if window.seconds > 0 else 0.0))
    return out


class NewRows:
    """The complete sample rows written since the last call, file by file (a row still being
    written waits for the next call): what watches the samples while the load runs read.
    `pattern`: `tasks-*.csv` reads the tasks the same way."""

    def __init__(self, folder: Path, pattern: str = "samples-*.csv") -> None:
        self.folder = folder
        self.pattern = pattern
        self._offsets: dict[Path, int] = {}

    def __call__(self) -> list[list[str]]:
        rows: list[list[str]] = []
        for path in sorted(self.folder.glob(self.pattern)):
            offset = self._offsets.get(path, 0)
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                continue
            whole = chunk[:chunk.rfind(b"\n") + 1]
            self._offsets[path] = offset + len(whole)
            rows += csv.reader(io.StringIO(whole.decode("utf-8", "replace")))
        return rows
