"""Slow creep across runs: the series of each key figure over the runs of one load (scenario,
rate, shape and tags), with the change points E-divisive finds in it (changepoints.py), each
attributed to the run, git revision and time where it happened.

`loadtest history` shows every series of one or more history files (merged: the lines of
several machines' `history.jsonl`, each run once, in time order); `loadtest run` checks the
series of its own load after each run (`drift_check`) and warns when the newest run completes
a change point, that is when a change is found with it that was not found without it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.errors import ExitCode, UsageError
from loadtest.options import parse_tags
from loadtest.regression.changepoints import MIN_SIZE, SIGNIFICANCE, e_divisive, min_p_value
from loadtest.store.baselines import HISTORY, history_line, read_history

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


def parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: not a date (use 2026-11-01 or "
                         "2026-11-01T08:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def load_lines(files: Sequence[Path], option: str = "--history") -> list[dict[str, Any]]:
    """The runs of every history file (a file, or a reports folder holding history.jsonl),
    each run once, oldest first. `option`: what named the files (--out when --history was
    not given)."""
    runs: dict[str, dict[str, Any]] = {}
    for f in files:
        path = f / HISTORY if f.is_dir() else f
        if not path.is_file():
            fix = ("pass that file or its folder" if option == "--history" else
                   "pass --history FILE, or the --out your runs wrote to")
            raise UsageError(f"{option} {f}: no history file there (each `loadtest run` "
                             f"appends to OUT/{HISTORY}; {fix})")
        for line in read_history(path, limit=1_000_000):
            if line.get("id") and isinstance(line.get("tags") or {}, dict):
                runs.setdefault(str(line["id"]), line)
    return sorted(runs.values(), key=lambda h: str(h.get("time") or ""))


def load_key(line: dict[str, Any]) -> tuple[Any, ...]:
    """Runs of the same load: scenario, rate, shape and every tag."""
    tags = line.get("tags") or {}
    return (line.get("scenario"), line.get("rate"), line.get("shape") or "constant",
            tuple(sorted((str(k), str(v)) for k, v in tags.items())))


def _time(line: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(line.get("time")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def select(lines: Sequence[dict[str, Any]], since: datetime | None = None,
           tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Runs that finished their window (not interrupted), since a time, carrying the tags."""
    out = []
    for h in lines:
        if h.get("verdict") == "interrupted":
            continue
        if since is not None and ((t := _time(h)) is None or t < since):
            continue
        if any((h.get("tags") or {}).get(k) != v for k, v in (tags or {}).items()):
            continue
        out.append(h)
    return out


def figures(line: dict[str, Any]) -> dict[str, tuple[float, str, str]]:
    """Every key figure of a run: name -> (value, unit, which way is better)."""
    out: dict[str, tuple[float, str, str]] = {}
    units = line.get("units") or {}
    better = line.get("better") or {}
    for name, value in (line.get("figures") or {}).items():
        if _number(value):
            out[name] = (float(value), units.get(name) or "", better.get(name) or "lower")
    client = line.get("client") or {}
    for name, (key, unit, way) in CLIENT.items():
        if _number(client.get(key)):
            out[name] = (float(client[key]), unit, way)
    if _number(line.get("achieved_rate")):
        out["achieved_rate"] = (float(line["achieved_rate"]), "req/s", "higher")
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _run_ref(line: dict[str, Any]) -> dict[str, Any]:
    return {"id": line.get("id"), "git_revision": line.get("git_revision"),
            "time": line.get("time"), "verdict": line.get("verdict")}


def metric_series(name: str, runs: Sequence[dict[str, Any]], detector: Detector
                  ) -> dict[str, Any]:
    """One figure over the runs that have it, with its change points: each the first run
    after the change (id, git revision, time), the revision before it, and the means of the
    stretches before and after it."""
    points, unit, better = [], "", "lower"
    for h in runs:
        fig = figures(h).get(name)
        if fig is not None:
            points.append({**_run_ref(h), "value": fig[0]})
            unit, better = fig[1], fig[2]
    values = [p["value"] for p in points]
    found = e_divisive(values, detector.significance, detector.min_size) if values else []
    cuts = [0, *(c.index for c in found), len(values)]
    change_points = []
    for k, c in enumerate(found):
        before = values[cuts[k]:c.index]
        after = values[c.index:cuts[k + 2]]
        mb, ma = sum(before) / len(before), sum(after) / len(after)
        pct = None if mb == 0 else 100.0 * (ma - mb) / abs(mb)
        change_points.append({
            "index": c.index, **_run_ref(points[c.index]),
            "previous_git_revision": points[c.index - 1].get("git_revision"),
            "before": mb, "after": ma, "change_pct": pct, "p_value": c.p_value,
            "runs_before": len(before), "runs_after": len(after),
            "worse": (ma > mb) if better == "lower" else (ma < mb)})
    return {"name": name, "unit": unit, "better": better, "points": points,
            "change_points": change_points}


def analyse(lines: Sequence[dict[str, Any]], metric: str | None = None,
            detector: Detector = Detector()) -> dict[str, Any]:
    """Every load's series (or only `metric`'s), with change points: plain data."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for h in lines:
        groups.setdefault(load_key(h), []).append(h)
    names = sorted({n for h in lines for n in figures(h)})
    if metric is not None and metric not in names:
        raise UsageError(f"--metric {metric!r}: no run has that figure (the history has: "
                         f"{', '.join(names) or 'none'})")
    series = []
    for key, runs in groups.items():
        wanted = [metric] if metric else sorted({n for h in runs for n in figures(h)})
        series.append({
            "scenario": key[0], "rate": key[1], "shape": key[2], "tags": dict(key[3]),
            "runs": len(runs), "first": runs[0].get("time"), "last": runs[-1].get("time"),
            "min_p_value": min_p_value(len(runs), detector.min_size),
            "metrics": [metric_series(n, runs, detector) for n in wanted]})
    return {"schema_version": SCHEMA_VERSION, "significance": detector.significance,
            "min_size": detector.min_size, "runs": len(lines), "series": series}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms"
    if unit == "ratio":
        return f"{value:.2%}"
    return f"{value:.1f} {unit}".strip() if unit else f"{value:g}"


def describe(cp: dict[str, Any], unit: str) -> str:
    pct = "" if cp["change_pct"] is None else f" ({cp['change_pct']:+.1f}%)"
    rev = str(cp.get("git_revision") or "?")[:10]
    prev = str(cp.get("previous_git_revision") or "?")[:10]
    revs = rev if prev == rev else f"{prev}..{rev}"  # the change lies in this range
    return (f"{fmt(cp['before'], unit)} -> {fmt(cp['after'], unit)}{pct} from run {cp['id']} "
            f"(git {revs}, {cp.get('time')}), p = {cp['p_value']:.3g}, "
            f"{cp['runs_before']} runs before / {cp['runs_after']} after")


def format_text(analysis: dict[str, Any]) -> str:
    out = []
    if not analysis["series"]:
        return "no runs match"
    for s in analysis["series"]:
        tags = ", ".join(f"{k}={v}" for k, v in s["tags"].items())
        out.append(f"{s['scenario']} at {s['rate']} req/s, {s['shape']}"
                   + (f" [{tags}]" if tags else "") + f": {s['runs']} runs, "
                   f"{s['first']} .. {s['last']}")
        if s["min_p_value"] > analysis["significance"]:
            out.append(f"  too few runs to find a change at significance "
                       f"{analysis['significance']:g} (the best p-value {s['runs']} runs can "
                       f"reach is {s['min_p_value']:.3g})")
        for m in s["metrics"]:
            last = m["points"][-1]["value"] if m["points"] else None
            marks = m["change_points"]
            out.append(f"  {m['name']}: {len(m['points'])} runs, latest {fmt(last, m['unit'])}"
                       f", {len(marks) or 'no'} change point{'' if len(marks) == 1 else 's'}")
            for cp in marks:
                out.append(f"    {'WORSE' if cp['worse'] else 'better'}: "
                           + describe(cp, m["unit"]))
    return "\n".join(out)


def history_report(files: Sequence[Path], metric: str | None = None,
                   since: str | None = None, tags: Sequence[str] = (),
                   detector: Detector = Detector(), option: str = "--history"
                   ) -> dict[str, Any]:
    """`loadtest history`: the merged files, selected, analysed. The options are checked
    before any file is read, so a wrong one is named first."""
    detector.check()
    when, tag_map = parse_since(since), parse_tags(tags)
    lines = select(load_lines(files, option), when, tag_map)
    return analyse(lines, metric, detector)


def drift_check(results: dict[str, Any], out: Path, fail: bool = False,
                detector: Detector = Detector()) -> dict[str, Any] | None:
    """After a run: the series of its load in `out`/history.jsonl with this run last. A change
    point found now that was not found without this run (none within one run of it) is a
    warning in `results`; with `fail`, one that is worse also fails the verdict (exit 1).
    Writes `results["drift"]` and returns it; None for an interrupted run."""
    if results.get("interrupted") or (results.get("verdict") or {}).get("status") == \
            "interrupted":
        return None
    line = json.loads(json.dumps(history_line(results), default=str))
    key = load_key(line)
    earlier = [h for h in select(read_history(out, limit=1_000_000))
               if load_key(h) == key and h.get("id") != line.get("id")]
    runs = (earlier + [line])[-DRIFT_RUNS:]
    new: list[dict[str, Any]] = []
    metrics = []
    for name in sorted(figures(line)):
        now = metric_series(name, runs, detector)
        metrics.append(now)
        if len(now["points"]) < 2:
            continue
        before = {c.index for c in e_divisive([p["value"] for p in now["points"][:-1]],
                                              detector.significance, detector.min_size)}
        for cp in now["change_points"]:
            if not any(abs(cp["index"] - i) <= 1 for i in before):
                new.append({"metric": name, "unit": now["unit"], **cp})
    warnings = [f"drift: {c['metric']} {'worse' if c['worse'] else 'better'}, "
                f"{describe(c, c['unit'])}, over the last {len(runs)} runs of this load "
                "(`loadtest history` shows the series)" for c in new]
    drift = {"significance": detector.significance, "min_size": detector.min_size,
             "runs": len(runs), "min_p_value": min_p_value(len(runs), detector.min_size),
             "metrics": metrics, "new": new, "fail_on_drift": fail}
    results["drift"] = drift
    results.setdefault("warnings", []).extend(warnings)
    worse = [c for c in new if c["worse"]]
    if fail and worse:
        verdict = results["verdict"]
        reason = "drift: " + ", ".join(
            f"{c['metric']} {c['change_pct']:+.1f}% from run {c['id']}" if c["change_pct"]
            is not None else f"{c['metric']} from run {c['id']}" for c in worse)
        if verdict.get("status") == "fail":
            verdict["reason"] = f"{verdict['reason']}; {reason}"
        else:
            results["verdict"] = {"status": "fail", "exit_code": ExitCode.GATE_FAILED,
                                  "reason": reason}
    return drift
