"""A run's results from its judged window, shared by `loadtest run`, `loadtest verify` and
the Locust plugin: the objectives (server and client side), the other checks of
judge/checks.py, the load generator's health, the client's figures, the comparison with a
baseline, and the verdict.

`assemble` reads as the story; each step below it fills one part of the results."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest import tls
from loadtest.judge import checks
from loadtest.judge.objectives import (
    evaluate,
    evaluate_client,
    interpolation_warnings,
    matchers_for,
)
from loadtest.judge.resources import REFERENCE_CPU_CORES, measure
from loadtest.judge.verdict import decide
from loadtest.load.health import SATURATED_PCT, diagnose, early_p95_ms, saturation_problems
from loadtest.load.phase import PhaseState, iso
from loadtest.load.runner import busy_worker_problems, lost_worker_problems, read_workers
from loadtest.load.shapes import Profile
from loadtest.metrics.base import MetricsSource, Window
from loadtest.metrics.server_series import server_timeseries
from loadtest.options import RunOptions
from loadtest.regression.compare import compare_runs
from loadtest.slo import DbLatencyObjective, SloFile
from loadtest.store.baselines import read_history
from loadtest.store.client_samples import ClientSamples, client_stats
from loadtest.store.records import (
    BaselinePoint,
    ClientSummary,
    ClientTotals,
    CpuSummary,
    IntervalHistograms,
    LoadRecord,
    ObjectiveRecord,
    ResourceRecord,
    ResultsRecord,
    RunMeta,
    SamplesRecord,
    SecondStats,
    Shortfall,
    WindowRecord,
)
from loadtest.store.samples import MAX_COMPACT_SAMPLES, task_totals


def assemble(opts: RunOptions | None, slo: SloFile, source: MetricsSource | None,
             state: PhaseState, run_dir: Path, meta: RunMeta,
             scrapes: Any = None, baseline: ResultsRecord | None = None) -> ResultsRecord:
    """The results dict of a run (without its history and inputs). Adds the window and the
    scrape health to `meta` and the load side's problems to `state.problems`."""
    window = judged_window(state)
    warnings: list[str] = tls.warnings(meta.get("tls", {})) + list(
        meta.get("preflight_warnings", [])) + [f"SLO file: {n}" for n in slo.notes]
    df = client_samples(slo, state, run_dir, window)
    requested = requested_rate(meta, state, window)
    objectives = server_objectives(slo, source, window, df, requested, meta, run_dir, warnings)
    cpu = state.cpu.summary(window.start, window.end) if state.cpu is not None and \
        window is not None else state.cpu_summary
    load = LoadRecord(requested_rate=meta.get("rate"), locust_exit_code=state.locust_exit)
    samples = SamplesRecord()
    if window is not None and scrapes is not None:
        samples["server_histograms"] = server_histograms(slo, scrapes, window)
    client = ClientSummary()
    if window is not None and state.run_start is not None and df is not None:
        client, objectives = client_side(slo, df, window, state, run_dir, meta, objectives,
                                         scrapes, warnings)
        samples["client"] = df.compact(MAX_COMPACT_SAMPLES)
        found = judge_delivery(client["totals"], requested, cpu, state, meta, objectives,
                               client["timeseries"], slo, df, window)
        load.update(found.load)
        objectives = found.objectives
        if found.problem is not None:
            state.problems.append(found.problem)
        warnings.extend(found.warnings)
    load_health(load, state, cpu, run_dir, window)
    if window is not None and source is not None:  # the target's CPU, memory, DB connections
        load["resources"] = target_resources(slo, scrapes, source, window, meta)
    if window is not None:
        meta["window"] = window_record(window)
        meta["load_started"] = state.run_start
    results = ResultsRecord(run=meta, load=load, objectives=objectives, client=client,
                            warnings=warnings, regressions=[], samples=samples,
                            interrupted=state.interrupted)
    if state.monitor is not None:
        live = results["live"] = state.monitor.record()
        if state.monitor.settler is not None and window is not None:
            results["settle"] = state.monitor.settler.record(
                window.start, float(meta.get("duration_s") or window.seconds), window.seconds)
        warnings.extend(f"live monitor: {e} (that figure was shown as -)"
                        for e in live["errors"][:3])
    if baseline is not None:
        compare_baseline(results, baseline, opts, slo)
    results["verdict"] = decide(objectives, load, interrupted=state.interrupted,
                                regressions=results.get("regressions"))
    return results


def judged_window(state: PhaseState) -> Window | None:
    """The window judged: an interrupted run's ends now, if it had not ended yet."""
    window = state.window
    if window is not None and state.interrupted and time.time() < window.end:
        window = Window(window.start, max(window.start + 1.0, time.time()))
    return window


def client_samples(slo: SloFile, state: PhaseState, run_dir: Path,
                   window: Window | None) -> Any:
    """The load generator's samples of the window, streamed (never all in memory)."""
    if window is None or state.run_start is None:
        return None
    return ClientSamples(run_dir / "locust", window, state.run_start,
                         thresholds_s=latency_thresholds(slo))


def requested_rate(meta: RunMeta, state: PhaseState, window: Window | None) -> float:
    """The rate asked: the shape's mean over the judged window, else --rate."""
    if window is not None and state.run_start is not None and meta.get("profile"):
        return offered_rate(meta, window, state.run_start)
    return meta.get("rate") or 0


def server_objectives(slo: SloFile, source: MetricsSource | None, window: Window | None,
                      df: Any, requested: float, meta: RunMeta, run_dir: Path,
                      warnings: list[str]) -> list[ObjectiveRecord]:
    """Every objective judged on the metrics source; its warnings (interpolated quantiles,
    scrape health) added to `warnings`, the scrape health to `meta`."""
    if window is None or source is None:
        return []
    objectives = [o.to_dict() for o in evaluate(
        slo, source, window, client=df,
        offered_rate=offered_requests(requested, meta, df, run_dir, window))]
    warnings.extend(interpolation_warnings(objectives))
    health = source.scrape_health(window)
    meta["scrape_health"] = health
    warnings.extend(checks.scrape_warnings(health))
    return objectives


def server_histograms(slo: SloFile, scrapes: Any, window: Window
                      ) -> dict[str, IntervalHistograms]:
    """The DB latency histograms of the harness's own scrapes, per objective."""
    histograms = {}
    for obj in slo.objectives:
        if isinstance(obj, DbLatencyObjective):
            blocks = scrapes.interval_buckets(slo.metrics.db_duration,
                                              matchers_for(slo, obj, http=False), window)
            if blocks:
                histograms[obj.name] = blocks
    return histograms


def client_side(slo: SloFile, df: Any, window: Window, state: PhaseState, run_dir: Path,
                meta: RunMeta, objectives: list[ObjectiveRecord], scrapes: Any,
                warnings: list[str]) -> tuple[ClientSummary, list[ObjectiveRecord]]:
    """The client's figures, and the objectives with the client-side ones judged on the
    samples (in the SLO file's order)."""
    assert state.run_start is not None
    client = client_stats(df, MAX_COMPACT_SAMPLES)
    client["totals"].update(task_totals(run_dir / "locust", window))  # the tasks' figures
    if meta.get("model") == "closed":  # intended start = actual start: nothing to correct
        client["totals"]["corrected_latency_ms"] = None
        warnings.append(checks.CLOSED_MODEL)
    client_objs = {o.name: o.to_dict() for o in evaluate_client(slo, df, window)}
    objectives = [o for o in objectives if o["name"] not in client_objs]
    order = [o.name for o in slo.objectives]
    objectives = sorted(objectives + list(client_objs.values()),
                        key=lambda o: order.index(o["name"]) if o["name"] in order else 0)
    if scrapes is not None:
        client["server_timeseries"] = server_timeseries(
            scrapes, slo, state.run_start, window.end + 2)
    return client, objectives


@dataclass(frozen=True)
class DeliveryFinding:
    """What judging the delivery found: its fields of `load` (achieved vs requested, the
    shortfall), the objectives as they now stand (throughput unjudged on a rate not
    offered, a generator's lag not charged to the service), the shortfall's problem, and the
    client/server agreement warnings."""
    load: LoadRecord
    objectives: list[ObjectiveRecord]
    problem: str | None
    warnings: list[str]


def judge_delivery(totals: ClientTotals, requested: float, cpu: CpuSummary | None,
                   state: PhaseState, meta: RunMeta, objectives: list[ObjectiveRecord],
                   timeseries: list[SecondStats], slo: SloFile | None = None,
                   df: Any = None, window: Window | None = None) -> DeliveryFinding:
    """Achieved vs requested; a shortfall a problem (and throughput unjudged); a shortfall
    of the generator's own never charged to the service as corrected latency; the
    client/server agreement warnings. Changes none of its arguments."""
    # the judged window's length (achieved = requests / seconds)
    seconds = totals["requests"] / totals["achieved_rate"] if totals.get("achieved_rate") \
        else None
    d = checks.delivery(totals, requested, closed=meta.get("model") == "closed",
                        poisson_seconds=seconds if meta.get("arrivals") == "poisson" else None)
    load = d.record()
    objectives = [_copy(o) for o in objectives]
    problem = None
    if not d.delivered and not state.interrupted:
        checks.throughput_not_offered(objectives, d)
        users = meta.get("users")  # a count (run_meta's --users), or None
        why = diagnose(totals, d.requested, cpu, users if isinstance(users, int) else None,
                       before_p95_ms=early_p95_ms(timeseries),
                       server_p95_s=checks.server_latency_s(objectives))
        problem = why.reason
        load["shortfall"] = Shortfall(limit=why.limit, cause=why.cause)
        if why.limit == "generator" and slo is not None and window is not None:
            measured = {o.name: o for o in evaluate_client(
                slo, df, window, only=checks.corrected_latency(slo.objectives))}
            checks.lag_not_charged(objectives, measured, why.cause)
    return DeliveryFinding(load, objectives, problem,
                           checks.agreement_warnings(objectives, totals))


def _copy(o: ObjectiveRecord) -> ObjectiveRecord:
    """An objective's record to change: its own `extra` too."""
    copy = o.copy()
    copy["extra"] = o["extra"].copy()
    return copy


def load_health(load: LoadRecord, state: PhaseState, cpu: CpuSummary | None,
                run_dir: Path, window: Window | None) -> None:
    """The load side into `load`: a dead target, an abort, the generator's CPU (saturation
    a problem), its workers (a lost one a problem), and every problem of the run."""
    if state.target_down_at is not None:
        load["target_died"] = iso(state.target_down_at)
    if state.aborted is not None:
        load["aborted"] = state.aborted
    if state.locust_shape is not None:
        load["locust_shape"] = state.locust_shape
    if cpu is not None:
        load["generator_cpu"] = cpu
        state.problems.extend(checks.unseen(saturation_problems(cpu), state.problems))
    workers = read_workers(run_dir / "locust")
    if workers is not None:
        load["workers"] = workers
        lost = lost_worker_problems(workers, window)
        for i, p in enumerate(state.problems):  # a shortfall: the lost share, not the CPU
            if lost and "shortfall" in load and p.startswith("the load generator ") and \
                    "): " in p:
                state.problems[i] = p.split("): ", 1)[0] + "): the share of a lost Locust worker"
                load["shortfall"]["cause"] = "worker lost"
        state.problems.extend(checks.unseen(lost, state.problems))
        sampled = any(p.get("role") == "worker" for p in (cpu or CpuSummary()).get("processes", []))
        if not sampled:  # workers elsewhere: only their own heartbeats say how busy they were
            state.problems.extend(checks.unseen(
                busy_worker_problems(workers, window, SATURATED_PCT), state.problems))
    load["problems"] = list(state.problems)


def target_resources(slo: SloFile, scrapes: Any, source: MetricsSource, window: Window,
                     meta: RunMeta) -> list[ResourceRecord]:
    """The target's CPU, memory and DB connections over the window."""
    known = ({"cpu": (REFERENCE_CPU_CORES, "the reference target: one Python process")}
             if meta.get("target", {}).get("kind") == "reference" else {})
    return measure(slo, scrapes, source, window, known)


def compare_baseline(results: ResultsRecord, baseline: ResultsRecord,
                     opts: RunOptions | None, slo: SloFile) -> None:
    """The baseline's latency series for the charts, and the regressions against it."""
    results["baseline_timeseries"] = [
        BaselinePoint(offset_s=p["offset_s"], p95_ms=p.get("p95_ms"))
        for p in (baseline.get("client") or ClientSummary()).get("timeseries", [])]
    history = read_history(opts.out) if opts is not None else []
    comparison = compare_runs(baseline, results, slo, history)
    results["regressions"] = comparison.checks
    results["comparison"] = comparison.summary
    results.setdefault("warnings", []).extend(comparison.warnings)


def window_record(window: Window) -> WindowRecord:
    return WindowRecord(start=window.start, end=window.end, start_iso=iso(window.start),
                        end_iso=iso(window.end), seconds=window.seconds)


def offered_rate(meta: RunMeta, window: Window, run_start: float) -> float:
    """The rate the load shape offers on average over the judged window (which an
    interruption or a dead target may have cut short)."""
    prof = meta["profile"]
    assert prof is not None  # requested_rate asks only with a profile
    shape = Profile(tuple((float(p[0]), float(p[1])) for p in prof["points"]),
                    prof["judge_from"], prof["judge_to"], meta.get("shape") or "")
    return shape.expected(window.start - run_start, window.end - run_start) / window.seconds


def latency_thresholds(slo: SloFile) -> list[float]:
    """Every latency threshold the samples are asked about (exact shares within each)."""
    return [float(t) for o in slo.objectives
            if (t := getattr(o, "threshold", None)) is not None and o.kind in (
                "latency", "client")]


def offered_requests(requested: float, meta: RunMeta, df: Any, run_dir: Path,
                     window: Window) -> float | None:
    """The request rate the schedule offered over the window: the task rate asked times the
    requests each task made (an adopted locustfile's task may make several); None when the
    load was not the harness's schedule (closed model) or nothing was recorded."""
    if df is None or meta.get("model") == "closed" or not requested:
        return None
    totals = task_totals(run_dir / "locust", window)
    if not totals:
        return requested
    if not totals["tasks"]:
        return None
    # a task makes one request or more; the last tasks of a cut window may have none yet
    return requested * max(1.0, df.count(df.keys()) / totals["tasks"])
