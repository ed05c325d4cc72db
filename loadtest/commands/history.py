"""`loadtest history` and the drift check of `loadtest run`: the command's side of
regression/history.py's statistics (the history files read, the text printed, a drift that
fails the verdict with exit 1)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from loadtest.commands.compare import json_text
from loadtest.errors import ExitCode, UsageError
from loadtest.judge.status import FAIL, INTERRUPTED
from loadtest.options import parse_tags
from loadtest.regression.changepoints import min_p_value
from loadtest.regression.history import (
    Detector,
    analyse,
    completed_changes,
    describe,
    fmt,
    load_key,
    select,
)
from loadtest.store.baselines import HISTORY, history_line, read_history
from loadtest.store.records import (
    DriftRecord,
    HistoryAnalysis,
    HistoryLine,
    ResultsRecord,
    VerdictRecord,
)
from loadtest.store.results import write_text_atomic

DEFAULT_DETECTOR = Detector()


def parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: not a date (use 2026-11-01 or "
                         "2026-11-01T08:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)



def load_lines(files: Sequence[Path], option: str = "--history") -> list[HistoryLine]:
    """The runs of every history file (a file, or a reports folder holding history.jsonl),
    each run once, oldest first. `option`: what named the files (--out when --history was
    not given)."""
    runs: dict[str, HistoryLine] = {}
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



def format_text(analysis: HistoryAnalysis) -> str:
    """`loadtest history`'s text: each load's series and their change points."""
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
                   detector: Detector = DEFAULT_DETECTOR, option: str = "--history"
                   ) -> HistoryAnalysis:
    """`loadtest history`: the merged files, selected, analysed. The options are checked
    before any file is read, so a wrong one is named first."""
    detector.check()
    when, tag_map = parse_since(since), parse_tags(tags)
    lines = select(load_lines(files, option), when, tag_map)
    return analyse(lines, metric, detector)



def drift_check(results: ResultsRecord, out: Path, fail: bool = False,
                detector: Detector = DEFAULT_DETECTOR) -> DriftRecord | None:
    """After a run: the series of its load in `out`/history.jsonl with this run last. A change
    point found now that was not found without this run (none within one run of it) is a
    warning in `results`; with `fail`, one that is worse also fails the verdict (exit 1).
    Writes `results["drift"]` and returns it; None for an interrupted run."""
    verdict = results.get("verdict")
    if results.get("interrupted") or (verdict is not None
                                      and verdict.get("status") == INTERRUPTED):
        return None
    # the line as history.jsonl holds it (what json.dumps(default=str) makes of it)
    line: HistoryLine = json.loads(json.dumps(history_line(results), default=str))
    key = load_key(line)
    earlier = [h for h in select(read_history(out, limit=1_000_000))
               if load_key(h) == key and h.get("id") != line.get("id")]
    runs, metrics, new = completed_changes(line, earlier, detector)
    warnings = [f"drift: {c['metric']} {'worse' if c['worse'] else 'better'}, "
                f"{describe(c, c['unit'])}, over the last {len(runs)} runs of this load "
                "(`loadtest history` shows the series)" for c in new]
    drift = DriftRecord(significance=detector.significance, min_size=detector.min_size,
                        runs=len(runs), min_p_value=min_p_value(len(runs), detector.min_size),
                        metrics=metrics, new=new, fail_on_drift=fail)
    results["drift"] = drift
    results.setdefault("warnings", []).extend(warnings)
    worse = [c for c in new if c["worse"]]
    if fail and worse:
        verdict = results["verdict"]
        reason = "drift: " + ", ".join(
            f"{c['metric']} {c['change_pct']:+.1f}% from run {c['id']}" if c["change_pct"]
            is not None else f"{c['metric']} from run {c['id']}" for c in worse)
        if verdict.get("status") == FAIL:
            verdict["reason"] = f"{verdict['reason']}; {reason}"
        else:
            results["verdict"] = VerdictRecord(status=FAIL, exit_code=ExitCode.GATE_FAILED,
                                               reason=reason)
    return drift


def history(sources: list[Path], metric: str | None, since: str | None, tags: list[str],
            detector: Detector, option: str, html: Path | None, as_json: bool) -> list[str]:
    """The lines to print: the analysis (text or JSON), then the page written (--html)."""
    analysis = history_report(sources, metric, since, tags, detector, option=option)
    if html is not None:
        from loadtest.reports.history import render_history_html  # jinja2: only for a page

        try:
            write_text_atomic(html, render_history_html(analysis))
        except OSError as e:
            raise UsageError(f"--html {html}: cannot write there ({e.strerror})") from None
    if as_json:
        return [json_text(analysis)]
    return [format_text(analysis)] + ([str(html)] if html is not None else [])
