"""The load generator's own records in a run folder: per-request samples
(`locust/samples-<pid>.csv`, read whole for small folders; client_samples.py reads long runs in
chunks) and task starts (`tasks-<pid>.csv`). Latency is given both as measured and corrected
from the intended start (coordinated omission: a request that waited for a free user counts
the wait).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from loadtest.metrics.base import Window
from loadtest.store.client_samples import rank


def load_samples(folder: Path) -> Any:
    import pandas as pd

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


def load_task_starts(folder: Path) -> list[tuple[float, float]] | None:
    """(intended slot, actual start) of every task (`tasks-<pid>.csv`, written by the Locust
    side); None when the run recorded none (an older run, or Locust under the plugin)."""
    tasks: list[tuple[float, float]] = []
    for path in sorted(folder.glob("tasks-*.csv")):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split(",")
            try:
                tasks.append((float(parts[0]), float(parts[1])))
            except (IndexError, ValueError):
                continue  # a torn last line
    return tasks or None


def task_totals(tasks: list[tuple[float, float]] | None, window: Window) -> dict[str, Any]:
    """Tasks started in the window, their rate (with `--rate` counting task starts, a task of
    several requests makes requests/s higher than tasks/s), and the schedule lag of the task
    starts themselves (a task's later requests wait for its earlier ones, not for the
    schedule)."""
    if tasks is None:
        return {}
    lags = sorted(max(0.0, (s - i) * 1000.0) for i, s in tasks if window.start <= s < window.end)
    n = len(lags)
    out: dict[str, Any] = {"tasks": n,
                           "task_rate": n / window.seconds if window.seconds > 0 else 0.0}
    if n:
        def q(f: float) -> float:  # nearest rank, as for the samples
            return lags[rank(n, f)]
        out["schedule_lag_ms"] = {"p50": q(0.5), "p99": q(0.99), "max": lags[-1]}
    return out


class NewRows:
    """The complete sample rows written since the last call, file by file (a row still being
    written waits for the next call): what watches the samples while the load runs read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._offsets: dict[Path, int] = {}

    def __call__(self) -> list[list[str]]:
        rows: list[list[str]] = []
        for path in sorted(self.folder.glob("samples-*.csv")):
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
