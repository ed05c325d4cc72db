"""Baselines and run history.

Any finished run is a baseline (its run directory or its results.json: results carry the
compact samples the comparison needs). Named baselines live in `reports/baselines/NAME.json`
(`loadtest baseline promote RUN --name main`); every run appends one line to
`reports/history.jsonl` for trend charts.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from loadtest.errors import ConfigError, UsageError
from loadtest.judge.status import PASS
from loadtest.store.records import (
    ClientLine,
    ClientSummary,
    ClientTotals,
    HistoryLine,
    LoadRecord,
    Percentiles,
    Promotion,
    ResultsRecord,
)
from loadtest.store.results import load_results, require_finished, write_json_atomic

STORE = "baselines"
HISTORY = "history.jsonl"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # not `..`, not hidden
MAX_HISTORY_BYTES = 64 * 1024 * 1024  # the newest runs of a history.jsonl grown larger


def resolve(ref: Path, out: Path = Path("reports")) -> Path:
    """A run directory, a results file, or the name of a promoted baseline."""
    if ref.exists():
        return ref
    named = out / STORE / f"{ref.name}.json"
    if NAME.fullmatch(str(ref)) and named.exists():
        return named
    raise ConfigError(f"--baseline {ref}: no such run directory, results file or named "
                      f"baseline (promoted baselines are in {out / STORE})")


def load_baseline(ref: Path, out: Path = Path("reports")) -> ResultsRecord:
    data = load_results(resolve(ref, out))
    require_finished(data, ref, "compared (as a baseline or as the run)")
    if "window" not in data["run"]:
        raise ConfigError(f"{ref}: the run has no judged window (it stopped before the load); "
                          "choose another baseline")
    return data


def promote(run: Path, name: str, out: Path = Path("reports"), force: bool = False) -> Path:
    """Keep a run as the named baseline. Only a run whose final verdict was a pass serves,
    unless `force` (the baseline then records that it was forced, and over which verdict)."""
    if not NAME.fullmatch(name):
        raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' or '-', starting "
                         "with a letter or digit (e.g. main)")
    results = load_results(run)
    require_finished(results, run, "a baseline")
    if results.get("kind") == "capacity":
        raise UsageError(f"{run}: a capacity search cannot be a baseline (it has no single "
                         "window to compare); promote a `loadtest run` directory")
    if results["verdict"]["status"] == "interrupted":
        raise UsageError(f"{run}: an interrupted run cannot be a baseline")
    verdict = results["verdict"]
    if verdict.get("status") != "pass" and not force:
        raise UsageError(f"{run}: its verdict was {str(verdict.get('status')).upper()} "
                         f"({verdict.get('reason', '')}), not a pass; a baseline should be a "
                         "run that held (pass --force to promote it anyway)")
    results["promotion"] = Promotion(name=name, at=datetime.now(UTC).isoformat(),
                                     verdict=verdict.get("status"),
                                     forced=verdict.get("status") != PASS)
    path = out / STORE / f"{name}.json"
    write_json_atomic(path, results)
    return path


def history_line(results: ResultsRecord) -> HistoryLine:
    run = results["run"]
    if results.get("kind") == "capacity":  # a series of its own: the capacity found
        capacity = results.get("capacity")
        return HistoryLine(
            time=run.get("started_at"), id=run.get("id"), kind="capacity",
            git_revision=run.get("git_revision"), tags=run.get("tags", {}),
            scenario=run.get("scenario"), rate=None, shape="capacity",
            verdict=results["verdict"]["status"],
            figures={"capacity": capacity.get("rate") if capacity else None},
            client_figures={}, achieved_rate=None, client={}, units={"capacity": "req/s"},
            better={"capacity": "higher"})
    objectives = results.get("objectives", [])
    return HistoryLine(
        time=run.get("started_at"), id=run.get("id"),
        git_revision=run.get("git_revision"), tags=run.get("tags", {}),
        scenario=run.get("scenario"), rate=run.get("rate"), shape=run.get("shape"),
        verdict=results["verdict"]["status"],
        figures={o["name"]: o.get("value") for o in objectives},
        # the load generator's exact quantile of each server latency objective's requests
        client_figures={o["name"]: q for o in objectives
                        if (q := (o.get("extra") or {}).get("client_quantile")) is not None},
        achieved_rate=results.get("load", LoadRecord()).get("achieved_rate"),
        # for `loadtest history`: the load generator's own figures over the window, and how
        # to read each objective's figure
        client=_client_line(results),
        units={o["name"]: o.get("unit") for o in objectives},
        better={o["name"]: "higher" if str(o.get("comparison", "")).startswith(">")
                else "lower" for o in objectives if o.get("comparison")},
    )


def _client_line(results: ResultsRecord) -> ClientLine:
    totals = (results.get("client") or ClientSummary()).get("totals") or ClientTotals()
    latency = totals.get("latency_ms") or Percentiles()
    requests = totals.get("requests")
    return ClientLine(p50_ms=latency.get("p50"), p95_ms=latency.get("p95"),
                      p99_ms=latency.get("p99"),
                      error_rate=totals.get("failures", 0) / requests if requests else None)


def point_latest(out: Path, run_id: str) -> None:
    """`out/latest` pointed at the run (replaced atomically; best effort)."""
    link = out / "latest"
    tmp = out / f".latest-{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_id, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)


def append_history(results: ResultsRecord, out: Path) -> None:
    """One line per run; a single O_APPEND write, so concurrent runs do not interleave."""
    line = (json.dumps(history_line(results), separators=(",", ":"), allow_nan=False,
                       default=str) + "\n").encode("utf-8")
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / HISTORY, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _tail(path: Path, max_bytes: int) -> str:
    """The last `max_bytes` of a file, from its first whole line: a history grown huge is
    read in bounded memory (its oldest lines are left out)."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - max_bytes))
        data = f.read(max_bytes)
    if size > max_bytes:
        data = data.split(b"\n", 1)[-1]
    return data.decode("utf-8", errors="replace")


def read_history(out: Path, limit: int = 200) -> list[HistoryLine]:
    """The last `limit` runs of `out`/history.jsonl (or of `out` itself, a history file)."""
    path = out if out.is_file() else out / HISTORY
    if not path.is_file():
        return []
    try:
        text = _tail(path, MAX_HISTORY_BYTES)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the history ({e.strerror or e})") from None
    rows: list[HistoryLine] = []
    for line in text.splitlines()[-limit:]:
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a torn line (or not a run's): skip it
        if isinstance(row, dict):  # a line history_line wrote: its readers ask each key
            rows.append(cast(HistoryLine, row))  # with .get, and check each figure they use
    return rows
