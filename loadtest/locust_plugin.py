"""The SLO gate inside a team's own `locust --headless` command.

One line in the locustfile, `import loadtest.locust_plugin`, adds to Locust's command line:

    --slo FILE                judge this SLO file at the end of a headless run
    --slo-prometheus URL      server objectives from this Prometheus (default: snapshots of the
                              target's /metrics at the window's start and end)
    --slo-out DIR             where the run directory goes (default: reports)
    --slo-warmup DURATION     the start of the run that is not judged (default: 10s)
    --slo-baseline NAME       a baseline (name, run directory or results.json) to compare with

Without `--slo` nothing changes. With it, the judged window is [test start + warm-up, test
stop]; client objectives come from Locust's own request samples, server objectives from
Prometheus or the target's /metrics; the run directory (results.json, index.html, junit.xml,
summary.md) is written by the harness's own functions, the verdict printed, and Locust's exit
code set by the harness's contract: 0 pass, 1 breach or regression, 2 bad SLO file or option,
3 inconclusive. Locust's own pacing stays (the closed model), and the report says so; with
the harness's paced users (`scenarios/opscore.py`, any `PacedUser`) the run is the open model
at `LOADTEST_LOCUST_RATE` (the aggregate: a master splits it over its workers), judged for
delivery like `loadtest run`.

Everything heavy happens after the load (at `quitting`), on the master or the single local
process; workers only send their samples to the master.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner

from loadtest import __version__, tls
from loadtest.durations import parse_duration
from loadtest.errors import ExitCode, HarnessError, UsageError
from loadtest.locustlib import pacing, recorder, workers
from loadtest.metrics.base import MetricsSource, SourceError, Window
from loadtest.slo import SloFile, load_slo

log = logging.getLogger("loadtest")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per scrape otherwise


class Gate:
    """One judged Locust run: its options, its sources and its window."""

    def __init__(self, environment: Any, slo_path: Path, slo: SloFile, warmup_s: float,
                 out: Path, prometheus: str | None, baseline: dict[str, Any] | None,
                 baseline_ref: str | None) -> None:
        from loadtest.session import new_run_dir as _new_run_dir

        self.environment = environment
        self.slo_path, self.slo, self.warmup_s = slo_path, slo, warmup_s
        self.out, self.prometheus = out, prometheus
        self.baseline, self.baseline_ref = baseline, baseline_ref
        self.run_id, self.run_dir = _new_run_dir(out)
        self.host = (environment.host or "").rstrip("/")
        self.started: float | None = None
        self.window_start: float | None = None
        self.window_end: float | None = None
        self.problems: list[str] = []
        self.source: MetricsSource | None = None
        self.scrapes: Any = None
        self.started_at = datetime.now(UTC).isoformat()

    # -- during the run -------------------------------------------------------------------
    def open_sources(self) -> None:
        from loadtest.metrics.embedded import EmbeddedSource
        from loadtest.metrics.prometheus import PrometheusSource
        from loadtest.stack.open import SNAPSHOTS, up_matchers

        job = self.slo.selector.get("job", "opscore-backend")
        if self.host:
            self.scrapes = EmbeddedSource(f"{self.host}/metrics", job=job,
                                          record_path=self.run_dir / "metrics" / SNAPSHOTS)
            self.scrapes.open()
        if self.prometheus:
            self.source = PrometheusSource(self.prometheus, up_matchers(self.slo))
        else:
            self.source = self.scrapes

    def at_start(self) -> None:
        self.started = time.time()
        gevent.spawn_later(self.warmup_s, self.open_window)

    def open_window(self) -> None:
        if self.window_end is not None:
            return  # the run ended inside the warm-up
        for s in self._sources():
            s.at_window_start(time.time())
        self.window_start = (self.scrapes.edges.get("start") if self.scrapes is not None
                             and not self.prometheus else None) or time.time()

    def close_window(self) -> None:
        if self.window_end is not None:
            return
        self.window_end = time.time()
        if self.window_start is None:
            return
        for s in self._sources():
            s.at_window_end(self.window_end)
        if self.scrapes is not None and not self.prometheus:
            self.window_end = self.scrapes.edges.get("end", self.window_end)

    def _sources(self) -> list[MetricsSource]:
        return [s for s in {id(x): x for x in (self.source, self.scrapes)
                            if x is not None}.values()]

    # -- after the run --------------------------------------------------------------------
    def judge(self) -> dict[str, Any]:
        from loadtest.judgement import assemble as _assemble
        from loadtest.load.phase import PhaseState
        from loadtest.session import git_revision as _git_revision
        from loadtest.session import publish
        from loadtest.store.baselines import read_history

        self.close_window()
        window = None
        if self.window_start is not None and self.window_end is not None and \
                self.window_end > self.window_start:
            window = Window(self.window_start, self.window_end)
        else:
            self.problems.append(f"the run ended before its warm-up did (--slo-warmup "
                                 f"{self.warmup_s:g}s): nothing was judged; run longer (-t) or "
                                 "shorten --slo-warmup")
        if self.source is None:
            self.problems.append("no target to judge server objectives on: pass -H URL (its "
                                 "/metrics) or --slo-prometheus URL")
        if window is not None and self.source is not None:
            try:
                self.source.settle(window, timeout_s=15.0)
            except SourceError as e:
                self.problems.append(str(e))
        opts = self.environment.parsed_options
        processes = getattr(opts, "processes", None) or 0
        remote = (getattr(opts, "expect_workers", 0) or 0) if getattr(opts, "master", False) \
            and not processes else 0
        meta: dict[str, Any] = {
            "id": self.run_id, "harness_version": __version__, "git_revision": _git_revision(),
            "started_at": self.started_at, "scenario": str(getattr(opts, "locustfile", "")),
            "slo_file": str(self.slo_path), "rate": None, "model": "closed",
            "driver": "locust --headless with loadtest.locust_plugin",
            "shape": "locust", "arrivals": "closed model (Locust's own wait_time)",
            "users": getattr(opts, "num_users", None), "warmup_s": self.warmup_s,
            "duration_s": window.seconds if window else 0.0, "tags": {},
            "baseline": self.baseline_ref, "workers": max(1, processes),
            "remote_workers": remote, "target": {"url": self.host, "kind": "external"},
        }
        if paced(self.environment):  # the schedule's rate, not Locust's wait_time
            plan = pacing.plan_from_env()
            meta.update({"rate": plan["rate"], "model": "open", "arrivals": plan["arrivals"],
                         "shape": "constant"})
        if self.source is not None:
            meta["metrics_source"] = self.source.describe()
            meta["tls"] = {"target": tls.describe("target", self.host),
                           "prometheus": tls.describe("prometheus",
                                                      meta["metrics_source"].get("url"))}
        state = PhaseState(problems=list(self.problems), window=window,
                           run_start=self.started if window else None)
        if recorder.RECORDER is not None:
            recorder.RECORDER.flush()
        results = _assemble(None, self.slo, self.source, state, self.run_dir, meta,
                            scrapes=self.scrapes, baseline=self.baseline)
        results["history"] = read_history(self.out, limit=50)
        publish(results, self.run_dir, self.out, self.run_id)
        if self.scrapes is not None:
            self.scrapes.close()
        return results


GATE: Gate | None = None


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group(
        "loadtest SLO gate", "added by `import loadtest.locust_plugin`; judged at the end of a "
        "--headless run, exit code 0 pass / 1 breach / 2 bad SLO file / 3 inconclusive")
    group.add_argument("--slo", metavar="FILE", default=None, env_var="LOADTEST_SLO",
                       help="SLO file to judge the run against (e.g. slo/opscore.yaml)")
    group.add_argument("--slo-prometheus", metavar="URL", default=None,
                       env_var="LOADTEST_PROMETHEUS",
                       help="Prometheus for the server objectives (default: the target's "
                            "/metrics at the window's start and end)")
    group.add_argument("--slo-out", metavar="DIR", default="reports", env_var="LOADTEST_OUT",
                       help="where the run directory is written (default: reports)")
    group.add_argument("--slo-warmup", metavar="DURATION", default="10s",
                       env_var="LOADTEST_WARMUP",
                       help="start of the run that is not judged (default: 10s)")
    group.add_argument("--slo-baseline", metavar="NAME", default=None,
                       env_var="LOADTEST_BASELINE",
                       help="baseline (promoted name, run directory or results.json): a "
                            "regression fails the gate")


def _usage_exit(message: str) -> None:
    sys.stderr.write(f"loadtest: error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(ExitCode.USAGE)


def build_gate(environment: Any) -> Gate | None:
    """The gate the options ask for (None: no --slo); a bad option or file is a UsageError."""
    opts = environment.parsed_options
    if opts is None or not getattr(opts, "slo", None):
        return None
    if os.environ.get("LOADTEST_LOCUST_OUT"):
        return None  # `loadtest run` drives this Locust and judges it itself
    if not opts.headless:
        raise UsageError("--slo judges a --headless run (add --headless and -t)")
    try:
        warmup_s = parse_duration(opts.slo_warmup)
    except ValueError as e:
        raise UsageError(f"--slo-warmup: {e}") from None
    slo_path = Path(opts.slo)
    slo = load_slo(slo_path)
    out = Path(opts.slo_out)
    baseline = None
    if opts.slo_baseline:
        from loadtest.store.baselines import load_baseline

        baseline = load_baseline(Path(opts.slo_baseline), out)
    if not environment.host and not opts.slo_prometheus:
        raise UsageError("--slo needs the target: pass -H URL (its /metrics serves the server "
                         "objectives) or --slo-prometheus URL")
    return Gate(environment, slo_path, slo, warmup_s, out, opts.slo_prometheus, baseline,
                opts.slo_baseline)


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    global GATE
    if isinstance(environment.runner, WorkerRunner):
        return  # a worker's samples reach the master (recorder.py)
    try:
        GATE = build_gate(environment)
        if GATE is None:
            return
        GATE.open_sources()
    except HarnessError as e:
        _usage_exit(e.message) if e.exit_code == ExitCode.USAGE else _fail(environment, e)
        return
    recorder.RECORDER = recorder.Recorder(GATE.run_dir / "locust", environment.runner)
    opts = environment.parsed_options
    workers.record_to(GATE.run_dir / "locust", int(getattr(opts, "expect_workers", 1) or 1))


def paced(environment: Any) -> bool:
    """The run's users pace the harness's open-model schedule (PacedUser subclasses)."""
    return any(isinstance(u, type) and issubclass(u, pacing.PacedUser)
               for u in environment.user_classes or [])


def _fail(environment: Any, err: HarnessError) -> None:
    sys.stderr.write(f"loadtest: error: {err.message}\n")
    environment.process_exit_code = err.exit_code


@events.test_start.add_listener
def _on_start(environment: Any, **_kw: Any) -> None:
    if GATE is not None:
        GATE.at_start()


@events.test_stopping.add_listener
def _on_stopping(environment: Any, **_kw: Any) -> None:
    if GATE is not None:
        GATE.close_window()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    if GATE is None:
        return
    try:
        results = GATE.judge()
    except HarnessError as e:
        _fail(environment, e)
        return
    except Exception as e:  # never a pass by accident
        log.exception("loadtest: judging the run failed")
        _fail(environment, HarnessError(f"judging the run failed: {type(e).__name__}: {e}"))
        return
    v = results["verdict"]
    sys.stderr.write(f"loadtest: {v['status'].upper()}: {v['reason']} -> "
                     f"{GATE.run_dir / 'index.html'}\n")
    sys.stderr.flush()
    environment.process_exit_code = int(v["exit_code"])
