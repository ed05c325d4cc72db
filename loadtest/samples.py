"""Client-side statistics from the load generator's own per-request samples (pandas).

Samples are the CSV files the Locust side writes (`locust/samples-<pid>.csv`); percentiles are
nearest-rank over the raw samples (no bucket rounding). Latency is given both as measured and
corrected from the intended start (coordinated omission: a request that waited for a free user
counts the wait).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from loadtest.metrics.base import Window

QUANTILES = (0.5, 0.95, 0.99)
TOP_ERRORS = 10


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


def _q(series: Any, q: float) -> float | None:
    if len(series) == 0:
        return None
    return float(series.quantile(q, interpolation="higher"))


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


def client_stats(df: Any, window: Window, run_start: float) -> dict[str, Any]:
    """Statistics for the judged window, plus per-second series over the whole run."""
    inw = df[(df["start"] >= window.start) & (df["start"] < window.end)]
    secs = window.seconds
    server_errors = inw["status"].between(500, 599)
    done = df["start"] + df["response_ms"] / 1000.0
    completed = int(((done >= window.start) & (done < window.end)).sum())
    totals = {
        "requests": len(inw),
        "completed_rate": completed / secs if secs > 0 else 0.0,
        "failures": int(inw["failed"].sum()),
        "server_errors": int(server_errors.sum()),
        "connection_errors": int((inw["status"] == 0).sum()),
        "achieved_rate": len(inw) / secs if secs > 0 else 0.0,
        # mean requests in flight (Little's law: rate x mean latency, over the window)
        "in_flight": float(inw["response_ms"].sum()) / 1000.0 / secs if secs > 0 else 0.0,
        # the same per second of the window, at its highest (a queue that builds up over the
        # window shows here before it shows in the mean)
        "in_flight_peak": float(inw.groupby(inw["start"].floordiv(1))["response_ms"].sum()
                                .max()) / 1000.0 if len(inw) else 0.0,
        "latency_ms": {f"p{int(q * 100)}": _q(inw["response_ms"], q) for q in QUANTILES},
        "corrected_latency_ms": {f"p{int(q * 100)}": _q(inw["corrected_ms"], q)
                                 for q in QUANTILES},
        "max_ms": _num(inw["response_ms"].max()) if len(inw) else None,
        "schedule_lag_ms": {"p50": _q(inw["lag_ms"], 0.5), "p99": _q(inw["lag_ms"], 0.99),
                            "max": _num(inw["lag_ms"].max()) if len(inw) else None},
        "samples_total": len(df),
    }
    endpoints = []
    for (method, name), g in inw.groupby(["method", "name"], sort=True, observed=True):
        endpoints.append({
            "method": str(method), "name": str(name), "count": len(g),
            "failures": int(g["failed"].sum()), "rate": len(g) / secs if secs > 0 else 0.0,
            "p50_ms": _q(g["response_ms"], 0.5), "p95_ms": _q(g["response_ms"], 0.95),
            "p99_ms": _q(g["response_ms"], 0.99), "max_ms": _num(g["response_ms"].max()),
            "mean_ms": _num(g["response_ms"].mean()),
            "corrected_p95_ms": _q(g["corrected_ms"], 0.95),
        })
    errors: list[dict[str, Any]] = []
    failed = inw[inw["failed"] == 1]
    if len(failed):
        keyed = failed.assign(kind=failed["error"].str.split(":").str[0].fillna(""))
        for (method, name, status, kind), g in keyed.groupby(
                ["method", "name", "status", "kind"], sort=False, observed=True):
            errors.append({"method": str(method), "name": str(name), "status": int(status),
                           "count": len(g), "example": str(g["error"].iloc[0])[:300]})
        errors.sort(key=lambda e: -e["count"])
    timeseries = []
    if len(df):
        sec = (df["start"] - run_start).floordiv(1).astype(int)
        for s, g in df.groupby(sec, sort=True):
            t = run_start + int(s)
            timeseries.append({
                "t": float(t), "offset_s": int(s), "in_window": window.start <= t < window.end,
                "rate": len(g), "errors": int(g["failed"].sum()),
                "p50_ms": _q(g["response_ms"], 0.5), "p95_ms": _q(g["response_ms"], 0.95),
                "p99_ms": _q(g["response_ms"], 0.99),
            })
    return {"totals": totals, "endpoints": endpoints, "errors": errors[:TOP_ERRORS],
            "timeseries": timeseries}


MAX_COMPACT_SAMPLES = 200_000


def compact_samples(df: Any, window: Window) -> dict[str, Any]:
    """The judged window's per-request samples in a compact, JSON-friendly form (offsets from
    the window start, measured latency, endpoint index, status), kept in results.json so any
    run can serve as a baseline. Long runs are thinned evenly to MAX_COMPACT_SAMPLES."""
    inw = df[(df["start"] >= window.start) & (df["start"] < window.end)]
    if len(inw) > MAX_COMPACT_SAMPLES:
        step = len(inw) / MAX_COMPACT_SAMPLES
        inw = inw.iloc[[int(i * step) for i in range(MAX_COMPACT_SAMPLES)]]
    keys = (inw["method"].astype(str) + " " + inw["name"].astype(str))
    names = sorted(set(keys))
    index = {n: i for i, n in enumerate(names)}
    return {
        "window_s": window.seconds,
        "names": names,
        "t": [round(float(x), 3) for x in (inw["start"] - window.start)],
        "ms": [round(float(x), 3) for x in inw["response_ms"]],
        "ep": [index[k] for k in keys],
        "status": [int(x) for x in inw["status"]],
        "thinned": len(df) > MAX_COMPACT_SAMPLES,
    }


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
        def q(f: float) -> float:  # the next rank up, as for the samples (_q)
            return lags[min(n - 1, math.ceil((n - 1) * f))]
        out["schedule_lag_ms"] = {"p50": q(0.5), "p99": q(0.99), "max": lags[-1]}
    return out
