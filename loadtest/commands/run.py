"""`loadtest run`, end to end: stack -> preflight -> load -> window -> settle -> verify ->
results -> report -> exit code. `run_gate` tells it; the session (loadtest/session.py) owns
the run directory, signals and the end, loadtest/judgement.py the results. `loadtest verify`
is in commands/verify.py."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import __version__
from loadtest.commands.history import drift_check
from loadtest.commands.slo_check import bucket_warnings
from loadtest.errors import HarnessError, Interrupted, UsageError
from loadtest.export.exporter import Exporter
from loadtest.judgement import assemble, latency_thresholds, window_record
from loadtest.load.health import users_ceiling
from loadtest.load.live import LIVE_RECORD
from loadtest.load.phase import PhaseState, cut_window, drive
from loadtest.load.runner import LoadPlan, pool_text, read_pool
from loadtest.load.shapes import Profile, build, describe
from loadtest.metrics.base import MetricsSource
from loadtest.options import RunOptions
from loadtest.regression.history import Detector
from loadtest.reports import charts
from loadtest.reports.view import settle_text
from loadtest.session import (
    Outcome,
    git_revision,
    new_run_dir,
    no_empty_run_dir,
    publish,
    record_phase,
    signals_as_interrupt,
)
from loadtest.slo import SloFile, load_slo
from loadtest.stack.open import Stack, StackOptions, open_stack
from loadtest.stack.servers import prometheus_binary
from loadtest.store.baselines import load_baseline, read_history
from loadtest.store.digests import slo_record
from loadtest.store.records import ResultsRecord, RunMeta

__all__ = ["Outcome", "Progress", "RunOptions", "run_gate"]

Progress = Callable[[str], None]


def run_gate(opts: RunOptions, progress: Progress = lambda _m: None,
             live: Progress | None = None) -> Outcome:
    slo = load_slo(opts.slo)
    baseline = load_baseline(opts.baseline, opts.out) if opts.baseline is not None else None
    if opts.metrics_source == "prometheus" and not opts.prometheus and not prometheus_binary():
        raise UsageError("--metrics-source prometheus: `prometheus` is not on PATH "
                         "(apt-get install -y prometheus) and no --prometheus URL was given")
    run_id, run_dir = new_run_dir(opts.out)
    state = PhaseState()
    meta = run_meta(opts, run_id, baseline)
    progress(f"run {run_id}: {offered(opts)} -> {run_dir}")
    record_phase(run_dir, meta, "started")  # replaced at each phase
    # the generator's figures as Prometheus series: scraped by a local Prometheus, pushed
    # with --remote-write (loadtest/export)
    export = Exporter(run_id, opts.scenario.stem, run_dir / "locust", latency_thresholds(slo),
                      remote_write=opts.remote_write, grafana_url=opts.grafana_url,
                      insecure="remote_write" in opts.connections.insecure)
    try:
        results = _measure(opts, slo, baseline, state, run_dir, meta, progress, live, export)
        _finish(opts, results, run_dir, run_id, export)
    finally:
        export.close()
    return Outcome(run_dir=run_dir, results=results)


def run_meta(opts: RunOptions, run_id: str, baseline: ResultsRecord | None) -> RunMeta:
    """results.json's `run` as the run starts (the stack, the profile and the window are
    added as they become known)."""
    return {
        "id": run_id, "harness_version": __version__, "git_revision": git_revision(),
        "started_at": datetime.now(UTC).isoformat(), "scenario": str(opts.scenario),
        "slo_file": str(opts.slo), "rate": opts.rate, "shape": opts.shape,
        "arrivals": opts.arrivals, "users": opts.users, "warmup_s": opts.warmup_s,
        "duration_s": opts.duration_s, "tags": opts.tags,
        "baseline": str(baseline["run"].get("id")) if baseline is not None else None,
        "workers": opts.workers, "remote_workers": opts.remote_workers,
        "slo": slo_record(opts.slo),  # its text and digest, as judged
        "model": opts.model, "locust_args": list(opts.locust_args),
        "report_url": opts.report_url,
    }


def offered(opts: RunOptions) -> str:
    """The load offered, in words."""
    if opts.model == "closed":
        return f"{opts.users} users on their own wait_time (closed model)"
    return describe(build(opts.shape, opts.rate, opts.warmup_s, opts.duration_s))


def _measure(opts: RunOptions, slo: SloFile, baseline: ResultsRecord | None,
             state: PhaseState, run_dir: Path, meta: RunMeta, progress: Progress,
             live: Progress | None, export: Exporter | None = None) -> ResultsRecord:
    """Inside the session: the stack up, the load driven, the results assembled (still
    inside the stack: the source may be needed); a signal cuts the window, an error after
    the load started becomes a problem of the run."""
    source: MetricsSource | None = None
    scrapes: Any = None  # the harness's own scrapes of the target (EmbeddedSource)
    stack: Stack | None = None
    with no_empty_run_dir(run_dir, lambda: state.run_start is not None), \
            contextlib.ExitStack() as exits, \
            signals_as_interrupt():
        try:
            stack = open_stack(stack_options(opts, export), slo, run_dir, exits, progress,
                               window=("--duration", opts.duration_s))
            preflight(stack, slo, meta, progress)
            source, scrapes = stack.source, stack.scrapes
            profile = build(opts.shape, opts.rate, opts.warmup_s, opts.duration_s)
            meta["profile"] = {"points": profile.points, "judge_from": profile.judge_from,
                               "judge_to": profile.judge_to}
            record_phase(run_dir, meta, "stack")
            charts.preload()  # for the report, while the load runs
            drive(load_plan(opts, stack, run_dir, profile), stack, state, exits, progress,
                  live, on_window=functools.partial(_window_known, run_dir, meta), slo=slo,
                  abort=opts.abort, record=run_dir / LIVE_RECORD, settle=opts.settle,
                  export=export)
        except Interrupted:
            _interrupted(state, stack, progress)
        except HarnessError as e:
            if state.run_start is None:
                raise  # nothing measured yet: a preflight error
            state.problems.append(e.message)
        pool = read_pool(run_dir / "locust")
        if pool is not None and pool.get("final") is not None:
            meta["users"] = pool["final"]
            progress(pool_text(pool))
        results = assemble(opts, slo, source, state, run_dir, meta,
                           scrapes=scrapes, baseline=baseline)
        if pool is not None:
            results["load"]["pool"] = pool
        if settled := results.get("settle"):
            progress(settle_text(settled))
        return results


def stack_options(opts: RunOptions, export: Exporter | None = None) -> StackOptions:
    return StackOptions(target=opts.target, prometheus=opts.prometheus,
                        metrics_source=opts.metrics_source, database=opts.database,
                        target_faults=opts.target_faults, rules=opts.rules,
                        http_buckets=opts.http_buckets, db_buckets=opts.db_buckets,
                        probes=opts.probes, metrics_url=opts.metrics_url,
                        serve_metrics=export.serve if export is not None else None,
                        insecure=opts.connections.insecure)


def preflight(stack: Stack, slo: SloFile, meta: RunMeta, progress: Progress) -> None:
    """The stack's description into `meta`, and the SLO file's buckets against the source."""
    meta.update(stack.meta)
    meta["preflight_warnings"] = bucket_warnings(slo, stack.source)
    for warning in meta["preflight_warnings"]:
        progress(f"warning: {warning}")


def load_plan(opts: RunOptions, stack: Stack, run_dir: Path, profile: Profile) -> LoadPlan:
    return LoadPlan(scenario=opts.scenario, host=stack.target_url, rate=opts.rate,
                    users=opts.users, warmup_s=opts.warmup_s,
                    duration_s=opts.duration_s, out_dir=run_dir / "locust",
                    arrivals=opts.arrivals, profile=profile, workers=opts.workers,
                    remote_workers=opts.remote_workers, master_port=opts.master_port,
                    master_bind_host=opts.master_bind_host, model=opts.model,
                    locust_args=opts.locust_args, pool_ceiling=pool_ceiling(opts),
                    connections=opts.connections)


def pool_ceiling(opts: RunOptions) -> int:
    """The largest pool the Locust side may grow to in the warm-up: only when --users was
    not given, in the open model, with one local Locust process (it sees its own users)."""
    if not opts.auto_users or opts.model != "open" or opts.workers != 1 or \
            opts.remote_workers:
        return 0
    return users_ceiling(1)



def _window_known(run_dir: Path, meta: RunMeta, state: PhaseState) -> None:
    if state.window is not None:
        meta["window"] = window_record(state.window)
        meta["load_started"] = state.run_start
    record_phase(run_dir, meta, "load")


def _interrupted(state: PhaseState, stack: Stack | None, progress: Progress) -> None:
    state.interrupted = True
    progress("interrupted: stopping the load and writing partial results")
    if state.load is not None:
        state.locust_exit = state.load.interrupt()
    cut_window(state, stack, progress)


def _finish(opts: RunOptions, results: ResultsRecord, run_dir: Path, run_id: str,
            export: Exporter | None = None) -> None:
    """The history (and drift, as if this run's line were appended), the verdict exported
    (its delivery recorded), the samples' digests (checked by `loadtest verify`), then the
    session's end."""
    results["history"] = read_history(opts.out, limit=50)
    drift_check(results, opts.out, opts.fail_on_drift,
                Detector(opts.drift_significance, opts.drift_min_size))
    if export is not None:
        export.finish(results)
    publish(results, run_dir, opts.out, run_id)
