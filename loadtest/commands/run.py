"""`loadtest run`, end to end: stack -> preflight -> load -> window -> settle -> verify ->
results -> report -> exit code. `run_gate` tells it; the session (loadtest/session.py) owns
the run directory, signals and the end, loadtest/judgement.py the results. `loadtest verify`
is in commands/verify.py."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loadtest import __version__
from loadtest.commands.history import drift_check
from loadtest.commands.slo_check import bucket_warnings
from loadtest.errors import HarnessError, UsageError
from loadtest.export.exporter import Exporter
from loadtest.judgement import assemble, latency_thresholds, window_record
from loadtest.load.health import users_ceiling
from loadtest.load.live import LIVE_RECORD
from loadtest.load.phase import PhaseState, cut_window, drive
from loadtest.load.runner import LoadPlan, pool_text, read_pool
from loadtest.load.shapes import Profile, build, describe
from loadtest.options import RunOptions
from loadtest.regression.history import Detector
from loadtest.reports.view import settle_text
from loadtest.session import Outcome, Session, git_revision, judged_run
from loadtest.slo import SloFile, load_slo
from loadtest.stack.open import Stack, StackOptions
from loadtest.stack.servers import prometheus_binary
from loadtest.store.baselines import load_baseline, read_history
from loadtest.store.digests import slo_record
from loadtest.store.records import ResultsRecord, RunMeta

__all__ = ["Outcome", "Progress", "RunOptions", "run_gate"]

Progress = Callable[[str], None]


def run_gate(opts: RunOptions, progress: Progress = lambda _m: None,
             live: Progress | None = None) -> Outcome:
    return judged_run(Gate(opts, progress, live), progress)


@dataclass
class Gate:
    """`loadtest run`'s steps in a session (loadtest/session.py decides their order): the
    exporter, the preflight, one load phase, the results, the history and drift."""
    opts: RunOptions
    progress: Progress
    live: Progress | None
    state: PhaseState = field(default_factory=PhaseState)
    stack: Stack | None = None
    export: Exporter | None = None
    slo: SloFile = field(init=False)
    baseline: ResultsRecord | None = field(init=False)
    profile: Profile = field(init=False)

    @property
    def out(self) -> Path:
        return self.opts.out

    @property
    def window(self) -> tuple[str, float]:
        return ("--duration", self.opts.duration_s)

    def prepare(self) -> None:
        opts = self.opts
        self.slo = load_slo(opts.slo)
        self.baseline = (load_baseline(opts.baseline, opts.out) if opts.baseline is not None
                         else None)
        if opts.metrics_source == "prometheus" and not opts.prometheus and \
                not prometheus_binary():
            raise UsageError("--metrics-source prometheus: `prometheus` is not on PATH "
                             "(apt-get install -y prometheus) and no --prometheus URL was "
                             "given")
        self.profile = build(opts.shape, opts.rate, opts.warmup_s, opts.duration_s)

    @property
    def stack_options(self) -> StackOptions:
        return stack_options(self.opts, self.export)

    def meta(self, run_id: str) -> RunMeta:
        return run_meta(self.opts, run_id, self.baseline)

    def opening(self, session: Session) -> str:
        return f"run {session.run_id}: {offered(self.opts)} -> {session.run_dir}"

    def begin(self, session: Session) -> None:
        # the generator's figures as Prometheus series: scraped by a local Prometheus, pushed
        # with --remote-write (loadtest/export)
        self.export = Exporter(session.run_id, self.opts.scenario.stem,
                               session.run_dir / "locust", latency_thresholds(self.slo),
                               remote_write=self.opts.remote_write,
                               grafana_url=self.opts.grafana_url,
                               insecure="remote_write" in self.opts.connections.insecure)

    def ready(self, session: Session, stack: Stack) -> None:
        preflight(stack, self.slo, session.meta, self.progress)
        self.stack = stack
        session.meta["profile"] = {"points": self.profile.points,
                                   "judge_from": self.profile.judge_from,
                                   "judge_to": self.profile.judge_to}

    def load(self, session: Session, stack: Stack, exits: contextlib.ExitStack) -> None:
        o = self.opts
        drive(load_plan(o, stack, session.run_dir, self.profile), stack, self.state, exits,
              self.progress, self.live, on_window=functools.partial(_window_known, session),
              slo=self.slo, abort=o.abort, record=session.run_dir / LIVE_RECORD,
              settle=o.settle, export=self.export)

    def measured(self) -> bool:
        return self.state.run_start is not None

    def interrupted(self, stack: Stack | None) -> None:
        _interrupted(self.state, stack, self.progress)

    def stopped(self, error: HarnessError) -> None:
        self.state.problems.append(error.message)  # a problem of the run

    def results(self, session: Session) -> ResultsRecord:
        """Still inside the stack (the source may be needed)."""
        run_dir, meta = session.run_dir, session.meta
        pool = read_pool(run_dir / "locust")
        if pool is not None and pool.get("final") is not None:
            meta["users"] = pool["final"]
            self.progress(pool_text(pool))
        stack = self.stack
        results = assemble(self.opts, self.slo, stack.source if stack else None, self.state,
                           run_dir, meta, scrapes=stack.scrapes if stack else None,
                           baseline=self.baseline)
        if pool is not None:
            results["load"]["pool"] = pool
        if settled := results.get("settle"):
            self.progress(settle_text(settled))
        return results

    def finish(self, session: Session, results: ResultsRecord) -> None:
        """The history (and drift, as if this run's line were appended), the verdict exported
        (its delivery recorded)."""
        o = self.opts
        results["history"] = read_history(o.out, limit=50)
        drift_check(results, o.out, o.fail_on_drift,
                    Detector(o.drift_significance, o.drift_min_size))
        if self.export is not None:
            self.export.finish(results)

    def end(self) -> None:
        if self.export is not None:
            self.export.close()


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



def _window_known(session: Session, state: PhaseState) -> None:
    if state.window is not None:
        session.meta["window"] = window_record(state.window)
        session.meta["load_started"] = state.run_start
    session.phase("load")


def _interrupted(state: PhaseState, stack: Stack | None, progress: Progress) -> None:
    state.interrupted = True
    progress("interrupted: stopping the load and writing partial results")
    if state.load is not None:
        state.locust_exit = state.load.interrupt()
    cut_window(state, stack, progress)
