"""The plugin's SLO gate (`import loadtest.locust_plugin`, `locust --slo FILE`), inside the
Locust process: the run's sources, its window and its judgement with the harness's own
functions. Imported by the plugin only when --slo asks for a gate: the judging code (pandas,
the reports) stays out of every other Locust process."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent

from loadtest import __version__, tls
from loadtest.judgement import assemble
from loadtest.load.phase import PhaseState
from loadtest.locustlib import pacing, recorder
from loadtest.metrics.base import MetricsSource, SourceError, Window
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.session import Session, git_revision, no_empty_run_dir
from loadtest.slo import SloFile
from loadtest.stack.open import SNAPSHOTS, up_matchers
from loadtest.store.baselines import read_history
from loadtest.store.records import ResultsRecord, RunMeta


class Gate:
    """One judged Locust run: its options, its sources and its window."""

    def __init__(self, environment: Any, slo_path: Path, slo: SloFile, warmup_s: float,
                 out: Path, prometheus: str | None, baseline: ResultsRecord | None,
                 baseline_ref: str | None) -> None:
        self.environment = environment
        self.slo_path, self.slo, self.warmup_s = slo_path, slo, warmup_s
        self.out, self.prometheus = out, prometheus
        self.baseline, self.baseline_ref = baseline, baseline_ref
        self.host = (environment.host or "").rstrip("/")
        self.started: float | None = None
        self.window_start: float | None = None
        self.window_end: float | None = None
        self.problems: list[str] = []
        self.source: MetricsSource | None = None
        self.scrapes: Any = None
        self.started_at = datetime.now(UTC).isoformat()
        # the session: a new run directory and its `running` record (Locust owns the loop and
        # the signals: its events call the session's steps)
        self.session = Session.open(out, self.run_meta)
        self.run_id, self.run_dir = self.session.run_id, self.session.run_dir

    def run_meta(self, run_id: str) -> RunMeta:
        """results.json's `run` as the run starts (its window's length added at the end)."""
        opts = self.environment.parsed_options
        processes = getattr(opts, "processes", None) or 0
        remote = (getattr(opts, "expect_workers", 0) or 0) if getattr(opts, "master", False) \
            and not processes else 0
        meta: RunMeta = {
            "id": run_id, "harness_version": __version__, "git_revision": git_revision(),
            "started_at": self.started_at, "scenario": str(getattr(opts, "locustfile", "")),
            "slo_file": str(self.slo_path), "rate": None, "model": "closed",
            "driver": "locust --headless with loadtest.locust_plugin",
            "shape": "locust", "arrivals": "closed model (Locust's own wait_time)",
            "users": getattr(opts, "num_users", None), "warmup_s": self.warmup_s,
            "duration_s": 0.0, "tags": {},
            "baseline": self.baseline_ref, "workers": max(1, processes),
            "remote_workers": remote, "target": {"url": self.host, "kind": "external"},
        }
        if paced(self.environment):  # the schedule's rate, not Locust's wait_time
            plan = pacing.plan_from_env()
            rate, arrivals = plan["rate"], plan["arrivals"]
            assert isinstance(rate, float) and isinstance(arrivals, str)  # plan_from_env's
            meta.update({"rate": rate, "model": "open", "arrivals": arrivals,
                         "shape": "constant"})
        return meta

    # -- during the run -------------------------------------------------------------------
    def open_sources(self) -> None:
        """The run's sources; one that cannot open leaves no empty run directory (as a run's
        preflight error)."""
        with no_empty_run_dir(self.run_dir, lambda: False):
            self._open_sources()

    def _open_sources(self) -> None:
        job = self.slo.selector.get("job", "opscore-backend")
        if self.host:
            self.scrapes = EmbeddedSource(f"{self.host}/metrics", job=job,
                                          record_path=self.run_dir / "metrics" / SNAPSHOTS)
            self.scrapes.open()
        if self.prometheus:
            self.source = PrometheusSource(self.prometheus, up_matchers(self.slo))
        else:
            self.source = self.scrapes
        if self.source is not None:
            meta = self.session.meta
            meta["metrics_source"] = self.source.describe()
            meta["tls"] = {"target": tls.describe("target", self.host),
                           "prometheus": tls.describe("prometheus",
                                                      meta["metrics_source"].get("url"))}

    def at_start(self) -> None:
        self.started = time.time()
        self.session.phase("load")
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
    def judge(self) -> ResultsRecord:
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
        meta = self.session.meta
        meta["duration_s"] = window.seconds if window else 0.0
        state = PhaseState(problems=list(self.problems), window=window,
                           run_start=self.started if window else None)
        if recorder.RECORDER is not None:
            recorder.RECORDER.flush()
        results = assemble(None, self.slo, self.source, state, self.run_dir, meta,
                            scrapes=self.scrapes, baseline=self.baseline)
        results["history"] = read_history(self.out, limit=50)
        self.session.publish(results)
        if self.scrapes is not None:
            self.scrapes.close()
        return results


def paced(environment: Any) -> bool:
    """The run's users pace the harness's open-model schedule (PacedUser subclasses)."""
    return any(isinstance(u, type) and issubclass(u, pacing.PacedUser)
               for u in environment.user_classes or [])
