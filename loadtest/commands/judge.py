"""`loadtest judge`: judge a window of traffic the harness did not make (`--last 10m`, or
`--from T --to T`) from a Prometheus, with the same objective kinds, verdict rules, run
directory, reports and exit codes as `loadtest run`; no load, no stack. With `--selector`
and `--baseline-selector`, a canary is judged on its own and against its stable version over
the same window (loadtest/regression/canary.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loadtest import __version__, tls
from loadtest.durations import format_duration, parse_duration
from loadtest.errors import PrometheusUnavailable, UsageError
from loadtest.judge.verdict import decide
from loadtest.judgement import assemble
from loadtest.load.phase import PhaseState
from loadtest.metrics.base import SourceError, Window
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.regression.canary import compare_canary
from loadtest.session import Outcome, git_revision, new_run_dir, no_empty_run_dir, publish
from loadtest.slo import (
    ClientObjective,
    PromqlObjective,
    RatioObjective,
    SloFile,
    ThresholdObjective,
    load_slo,
)
from loadtest.stack.open import up_matchers
from loadtest.store.digests import slo_record
from loadtest.store.records import RunMeta

MIN_WINDOW_S = 2.0
MAX_WINDOW_S = 31 * 86400.0
SETTLE_S = 30.0  # the longest wait for a scrape at or after the window's end


@dataclass(frozen=True)
class JudgeOptions:
    prometheus: str
    slo: Path
    window: Window
    out: Path = Path("reports")
    selector: dict[str, str] = field(default_factory=dict)
    baseline_selector: dict[str, str] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    insecure_prometheus: bool = False  # --insecure-prometheus (loadtest/tls.py)


def parse_time(text: str, option: str) -> float:
    """Epoch seconds, or ISO 8601 (UTC when no offset is given; `Z` accepted)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.strip())  # `Z` read as UTC (Python 3.11)
    except ValueError:
        raise UsageError(f"{option} {text!r}: not a time (use ISO 8601 like "
                         "2026-12-05T10:00:00Z, or epoch seconds)") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def resolve_window(last: str | None, start: str | None, end: str | None,
                   now: float | None = None) -> Window:
    """--last D (ending now), or --from T --to T (in the past)."""
    now = time.time() if now is None else now
    if last is not None and (start is not None or end is not None):
        raise UsageError("--last goes without --from/--to (give one of them)")
    if last is None and (start is None or end is None):
        raise UsageError("give the window: --last 10m, or --from T and --to T")
    if last is not None:
        try:
            seconds = parse_duration(last)
        except ValueError as e:
            raise UsageError(f"--last: {e}") from None
        window = Window(now - seconds, now)
    else:
        assert start is not None and end is not None
        window = Window(parse_time(start, "--from"), parse_time(end, "--to"))
        if window.end > now + 1:
            raise UsageError(f"--to {end}: in the future (Prometheus would answer for a "
                             "moment it has no data of); judge a window that has ended")
    if window.seconds < MIN_WINDOW_S:
        raise UsageError(f"the window is {window.seconds:g}s: judge at least "
                         f"{MIN_WINDOW_S:g}s (--to after --from)")
    if window.seconds > MAX_WINDOW_S:
        raise UsageError(f"the window is {format_duration(window.seconds)}: judge at most "
                         "31 days at once")
    return window


def judge_window(opts: JudgeOptions) -> Outcome:
    slo = load_slo(opts.slo)
    canary = opts.baseline_selector is not None
    check_selectable(slo, opts.selector, opts.baseline_selector)
    judged = slo.model_copy(update={"selector": {**slo.selector, **opts.selector}})
    source = PrometheusSource(opts.prometheus, up_matchers(judged),
                              insecure=opts.insecure_prometheus)
    if not source.ready():
        raise PrometheusUnavailable(f"Prometheus at {opts.prometheus} is not ready (GET "
                                    "/-/ready failed)")
    run_id, run_dir = new_run_dir(opts.out)
    with no_empty_run_dir(run_dir, lambda: True):
        meta = judge_meta(opts, run_id, source)
        warnings = settle(source, opts.window, meta)
        state = PhaseState(window=opts.window)
        results = assemble(None, judged, source, state, run_dir, meta)
        results["kind"] = "judge"
        results["judged"] = {
            "what": "a window of traffic the harness did not make", "made_load": False,
            "selector": opts.selector, "baseline_selector": opts.baseline_selector}
        results["warnings"][:0] = warnings + not_judged(slo)
        if canary:
            assert opts.baseline_selector is not None
            comparison = compare_canary(judged, source, opts.window, opts.selector,
                                        opts.baseline_selector,
                                        meta["metrics_source"].get("scrape_interval_s") or 1.0)
            results["regressions"] = comparison.checks
            results["comparison"] = comparison.summary
            results["warnings"].extend(comparison.warnings)
        results["verdict"] = decide(results["objectives"], results["load"],
                                    regressions=results["regressions"])
        publish(results, run_dir, opts.out, run_id, made_load=False)  # no samples, no history
    return Outcome(run_dir=run_dir, results=results)


def check_selectable(slo: SloFile, selector: dict[str, str],
                     baseline: dict[str, str] | None) -> None:
    if baseline is not None and not selector:
        raise UsageError("--baseline-selector needs --selector (the canary's labels, e.g. "
                         "--selector version=canary --baseline-selector version=stable)")
    if baseline is not None and baseline == selector:
        raise UsageError("--selector and --baseline-selector are the same: give the canary's "
                         "and the stable version's labels")
    if not selector:
        return
    own = [o.name for o in slo.objectives
           if isinstance(o, (RatioObjective, ThresholdObjective, PromqlObjective))]
    if own:
        raise UsageError(f"--selector cannot filter {', '.join(own)}: their queries are the "
                         "file's own, used as written (write the label into them, or judge a "
                         "native file of built-in kinds: `loadtest slo import`)")


def judge_meta(opts: JudgeOptions, run_id: str, source: PrometheusSource) -> RunMeta:
    """results.json's `run` for a judged window: no load, no scenario, no rate."""
    interval = source.target_scrape_interval()
    if interval is not None:
        source.scrape_interval_s = interval[0]
    described = source.describe()
    if interval is not None:
        described["scrape_interval_from"] = interval[1]
    return {
        "id": run_id, "kind": "judge", "harness_version": __version__,
        "git_revision": git_revision(), "started_at": datetime.now(UTC).isoformat(),
        "made_load": False, "scenario": None, "rate": None, "shape": None,
        "slo_file": str(opts.slo), "slo": slo_record(opts.slo),
        "selector": opts.selector, "baseline_selector": opts.baseline_selector,
        "tags": opts.tags, "metrics_source": described,
        "target": {"kind": "external", "url": None},
        "tls": {"prometheus": tls.describe("prometheus", opts.prometheus,
                                           opts.insecure_prometheus)},
    }


def settle(source: PrometheusSource, window: Window, meta: RunMeta) -> list[str]:
    """A window ending now is judged once Prometheus holds a scrape at or after its end (it
    answers for moments it has no data of yet); a warning when it never does."""
    interval = (meta["metrics_source"].get("scrape_interval_s") or 15.0)
    if time.time() - window.end > 2 * interval:
        return []
    try:
        source.settle(window, min(SETTLE_S, 3 * interval + 1))
    except SourceError as e:
        return [f"the window's end may lack its last scrape: {e}"]
    return []


def not_judged(slo: SloFile) -> list[str]:
    """Client-side objectives need the harness's own load: named, not judged."""
    names = [o.name for o in slo.objectives if isinstance(o, ClientObjective)]
    if not names:
        return []
    return [(f"not judged: {', '.join(names)} (client-side objectives need the load "
             "generator's samples; `loadtest judge` made no load)")]
