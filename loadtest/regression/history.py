"""Slow creep across runs: the series of each key figure over the runs of one load (scenario,
rate, shape and tags), with the change points E-divisive finds in it (changepoints.py), each
attributed to the run, git revision and time where it happened.

`loadtest history` shows every series of one or more history files (merged: the lines of
several machines' `history.jsonl`, each run once, in time order); `loadtest run` checks the
series of its own load after each run (`completed_changes`) and warns when the newest run
completes a change point, that is when a change is found with it that was not found without
it. Statistics only: reading the files, printing and the exit code are commands/history.py's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeGuard

from loadtest.errors import UsageError
from loadtest.regression.changepoints import MIN_SIZE, SIGNIFICANCE, e_divisive, min_p_value
from loadtest.store.records import (
    ChangePoint,
    DriftChange,
    HistoryAnalysis,
    HistoryLine,
    LoadSeries,
    MetricSeries,
    RunRef,
    SeriesPoint,
)

SCHEMA_VERSION = 1
DRIFT_RUNS = 100  # the newest runs of a load that `loadtest run` looks at
# the load generator's own figures: name -> (key in the line's "client", unit, better)
CLIENT = {"client_p50_ms": ("p50_ms", "ms", "lower"), "client_p95_ms": ("p95_ms", "ms", "lower"),
          "client_p99_ms": ("p99_ms", "ms", "lower"),
          "client_error_rate": ("error_rate", "ratio", "lower")}


@dataclass(frozen=True)
class Detector:
    significance: float = SIGNIFICANCE
    min_size: int = MIN_SIZE

    def check(self, prefix: str = "") -> Detector:
        """`prefix`: the options' prefix in the message (`drift-` for `loadtest run`)."""
        if not 0 < self.significance < 1:
            raise UsageError(f"--{prefix}significance {self.significance}: use a p-value "
                             "between 0 and 1 (e.g. 0.01)")
        if not 1 <= self.min_size <= 50:
            raise UsageError(f"--{prefix}min-size {self.min_size}: use 1 to 50 runs on each "
                             "side of a change")
        return self


LoadKey = tuple[str | None, float | None, str, tuple[tuple[str, str], ...]]


def load_key(line: HistoryLine) -> LoadKey:
    """Runs of the same load: scenario, rate, shape and every tag."""
    tags = line.get("tags") or {}
    return (line.get("scenario"), line.get("rate"), line.get("shape") or "constant",
            tuple(sorted((str(k), str(v)) for k, v in tags.items())))


def _time(line: HistoryLine) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(line.get("time")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def select(lines: Sequence[HistoryLine], since: datetime | None = None,
           tags: dict[str, str] | None = None) -> list[HistoryLine]:
    """Runs that finished their window (not interrupted), since a time, carrying the tags."""
    out: list[HistoryLine] = []
    for h in lines:
        if h.get("verdict") == "interrupted":
            continue
        if since is not None and ((t := _time(h)) is None or t < since):
            continue
        if any((h.get("tags") or {}).get(k) != v for k, v in (tags or {}).items()):
            continue
        out.append(h)
    return out


def figures(line: HistoryLine) -> dict[str, tuple[float, str, str]]:
    """Every key figure of a run: name -> (value, unit, which way is better)."""
    out: dict[str, tuple[float, str, str]] = {}
    units = line.get("units") or {}
    better = line.get("better") or {}
    for name, value in (line.get("figures") or {}).items():
        if _number(value):
            out[name] = (float(value), units.get(name) or "", better.get(name) or "lower")
    client: dict[str, object] = dict(line.get("client") or {})
    for name, (key, unit, way) in CLIENT.items():
        if _number(v := client.get(key)):
            out[name] = (float(v), unit, way)
    if _number(rate := line.get("achieved_rate")):
        out["achieved_rate"] = (float(rate), "req/s", "higher")
    return out


def _number(v: object) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _run_ref(line: HistoryLine | SeriesPoint) -> RunRef:
    return RunRef(id=line.get("id"), git_revision=line.get("git_revision"),
                  time=line.get("time"), verdict=line.get("verdict"))


def metric_series(name: str, runs: Sequence[HistoryLine], detector: Detector
                  ) -> MetricSeries:
    """One figure over the runs that have it, with its change points: each the first run
    after the change (id, git revision, time), the revision before it, and the means of the
    stretches before and after it."""
    points: list[SeriesPoint] = []
    unit, better = "", "lower"
    for h in runs:
        fig = figures(h).get(name)
        if fig is not None:
            points.append(SeriesPoint(**_run_ref(h), value=fig[0]))
            unit, better = fig[1], fig[2]
    values = [p["value"] for p in points]
    found = e_divisive(values, detector.significance, detector.min_size) if values else []
    cuts = [0, *(c.index for c in found), len(values)]
    change_points: list[ChangePoint] = []
    for k, c in enumerate(found):
        before = values[cuts[k]:c.index]
        after = values[c.index:cuts[k + 2]]
        mb, ma = sum(before) / len(before), sum(after) / len(after)
        pct = None if mb == 0 else 100.0 * (ma - mb) / abs(mb)
        change_points.append(ChangePoint(
            index=c.index, **_run_ref(points[c.index]),
            previous_git_revision=points[c.index - 1].get("git_revision"),
            before=mb, after=ma, change_pct=pct, p_value=c.p_value,
            runs_before=len(before), runs_after=len(after),
            worse=(ma > mb) if better == "lower" else (ma < mb)))
    return MetricSeries(name=name, unit=unit, better=better, points=points,
                        change_points=change_points)


def analyse(lines: Sequence[HistoryLine], metric: str | None = None,
            detector: Detector = Detector()) -> HistoryAnalysis:
    """Every load's series (or only `metric`'s), with change points: plain data."""
    groups: dict[LoadKey, list[HistoryLine]] = {}
    for h in lines:
        groups.setdefault(load_key(h), []).append(h)
    names = sorted({n for h in lines for n in figures(h)})
    if metric is not None and metric not in names:
        raise UsageError(f"--metric {metric!r}: no run has that figure (the history has: "
                         f"{', '.join(names) or 'none'})")
    series: list[LoadSeries] = []
    for key, runs in groups.items():
        wanted = [metric] if metric else sorted({n for h in runs for n in figures(h)})
        series.append(LoadSeries(
            scenario=key[0], rate=key[1], shape=key[2], tags=dict(key[3]),
            runs=len(runs), first=runs[0].get("time"), last=runs[-1].get("time"),
            min_p_value=min_p_value(len(runs), detector.min_size),
            metrics=[metric_series(n, runs, detector) for n in wanted]))
    return HistoryAnalysis(schema_version=SCHEMA_VERSION, significance=detector.significance,
                           min_size=detector.min_size, runs=len(lines), series=series)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms"
    if unit == "ratio":
        return f"{value:.2%}"
    return f"{value:.1f} {unit}".strip() if unit else f"{value:g}"


def describe(cp: ChangePoint, unit: str) -> str:
    pct = "" if cp["change_pct"] is None else f" ({cp['change_pct']:+.1f}%)"
    rev = str(cp.get("git_revision") or "?")[:10]
    prev = str(cp.get("previous_git_revision") or "?")[:10]
    revs = rev if prev == rev else f"{prev}..{rev}"  # the change lies in this range
    return (f"{fmt(cp['before'], unit)} -> {fmt(cp['after'], unit)}{pct} from run {cp['id']} "
            f"(git {revs}, {cp.get('time')}), p = {cp['p_value']:.3g}, "
            f"{cp['runs_before']} runs before / {cp['runs_after']} after")


def completed_changes(line: HistoryLine, earlier: Sequence[HistoryLine],
                      detector: Detector) -> tuple[list[HistoryLine], list[MetricSeries],
                                                   list[DriftChange]]:
    """The series of a run's load with the run last (its newest DRIFT_RUNS runs), and the
    change points found now that were not found without this run (none within one run of
    it): (the runs, every figure's series, the new change points)."""
    runs = [*earlier, line][-DRIFT_RUNS:]
    new: list[DriftChange] = []
    metrics: list[MetricSeries] = []
    for name in sorted(figures(line)):
        now = metric_series(name, runs, detector)
        metrics.append(now)
        if len(now["points"]) < 2:
            continue
        before = {c.index for c in e_divisive([p["value"] for p in now["points"][:-1]],
                                              detector.significance, detector.min_size)}
        for cp in now["change_points"]:
            if not any(abs(cp["index"] - i) <= 1 for i in before):
                new.append(DriftChange(metric=name, unit=now["unit"], **cp))
    return runs, metrics, new
