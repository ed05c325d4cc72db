"""The steps `loadtest run` and `loadtest capacity` share: open the stack (target, metrics
source, the harness's own scrapes, preflight) and drive one load phase over a window."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import tls
from loadtest.errors import PrometheusUnavailable
from loadtest.metrics.base import Matcher, MetricsSource, SourceError, Window
from loadtest.slo import SloFile

Progress = Callable[[str], None]
SNAPSHOTS = "embedded-snapshots.jsonl.gz"
TARGET_DEAD_S = 5.0  # the target's /metrics failing this long: it is gone, stop the load


@dataclass(frozen=True)
class StackOptions:
    target: str | None
    prometheus: str | None
    metrics_source: str
    database: str | None
    target_faults: dict[str, Any]
    rules: tuple[Path, ...] = ()


@dataclass
class Stack:
    target_url: str
    source: MetricsSource
    scrapes: Any  # EmbeddedSource: the harness's own scrapes of the target
    meta: dict[str, Any]


@dataclass
class PhaseState:
    """What one load phase measured so far; written out whatever happens."""
    problems: list[str] = field(default_factory=list)
    window: Window | None = None
    run_start: float | None = None
    locust_exit: int | None = None
    interrupted: bool = False
    load: Any = None  # the LocustRun of the phase, once started
    target_down_at: float | None = None  # the target stopped answering (for good)
    cpu: Any = None  # the CpuMonitor of the load processes (generator.py)
    cpu_summary: dict[str, Any] | None = None  # from an earlier judging (loadtest verify)


def up_matchers(slo: SloFile) -> tuple[Matcher, ...]:
    return tuple(Matcher(k, "=", v) for k, v in sorted(slo.selector.items())
                 if k in ("job", "instance"))


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def open_stack(opts: StackOptions, slo: SloFile, run_dir: Path,
               exits: contextlib.ExitStack, progress: Progress) -> Stack:
    """Start what the options ask for (each stopped by `exits`), preflight, and return it."""
    from loadtest.metrics.embedded import EmbeddedSource
    from loadtest.metrics.prometheus import PrometheusSource
    from loadtest.stack import LocalPrometheus, ReferenceTarget, preflight_target, prometheus_binary

    job = slo.selector.get("job", "opscore-backend")
    meta: dict[str, Any] = {}
    source: MetricsSource | None = None
    if opts.target is None:
        ref = ReferenceTarget(run_dir / "target", opts.database, opts.target_faults)
        exits.callback(ref.stop)
        target_url = ref.url
        meta["target"] = {"url": target_url, "kind": "reference",
                          "database": ref.database.split("://")[0],
                          "faults": opts.target_faults}
    else:
        ref = None
        target_url = opts.target.rstrip("/")
        meta["target"] = {"url": target_url, "kind": "external"}
    local_prom: LocalPrometheus | None = None
    if opts.prometheus:
        source = PrometheusSource(opts.prometheus, up_matchers(slo))
    elif opts.metrics_source != "embedded" and prometheus_binary():
        local_prom = LocalPrometheus(run_dir / "prometheus", job, target_url, list(opts.rules))
        exits.callback(local_prom.stop)
        source = PrometheusSource(local_prom.url, up_matchers(slo),
                                  scrape_interval_s=local_prom.interval_s, local=True)
    if ref is not None:
        ref.wait_ready()
    meta["target"]["health"] = preflight_target(target_url)
    # The harness always keeps its own scrapes of the target: the embedded source when no
    # Prometheus serves, else a second opinion `loadtest verify` can judge from.
    scrapes = EmbeddedSource(f"{target_url}/metrics", job=job,
                             record_path=run_dir / "metrics" / SNAPSHOTS)
    scrapes.start()
    exits.callback(scrapes.close)
    if source is None:
        source = scrapes
    else:
        assert isinstance(source, PrometheusSource)
        try:
            source.wait_ready(20.0 if local_prom else 5.0)
            # the window must not open before Prometheus' first scrape of the target (a
            # fresh Prometheus scrapes ~5 s after start: its discovery throttle)
            source.wait_target_up(20.0 if local_prom else 10.0)
        except SourceError as e:
            raise PrometheusUnavailable(str(e)) from None
    meta["metrics_source"] = source.describe()
    meta["tls"] = {"target": tls.describe("target", target_url),
                   "prometheus": tls.describe("prometheus", meta["metrics_source"].get("url"))}
    progress(f"target {target_url} ready; metrics from {source.name}"
             + (f" {meta['metrics_source'].get('url')}" if source.name == "prometheus"
                else ""))
    return Stack(target_url=target_url, source=source, scrapes=scrapes, meta=meta)


def _sleep_until(t: float, load: Any, scrapes: Any, state: PhaseState,
                 ticker: Any = None) -> None:
    while True:
        left = t - time.time()
        if left <= 0 or not load.alive():
            return
        if state.cpu is not None:
            state.cpu.tick()
        if ticker is not None:
            ticker.tick()
        since = scrapes.down_since() if scrapes is not None else None
        if since is not None and time.time() - since >= TARGET_DEAD_S:
            state.target_down_at = since
            return
        time.sleep(min(left, 0.1))


def drive(plan: Any, stack: Stack, state: PhaseState, exits: contextlib.ExitStack,
          progress: Progress, live: Progress | None = None) -> Any:
    """One load phase: Locust at the plan's rate, the window marked on both sources, Locust
    awaited, the source settled. `live` shows a status line about once a second. Returns the
    LocustRun (for interrupting it)."""
    from loadtest.generator import CpuMonitor
    from loadtest.live import Ticker
    from loadtest.load import LocustRun

    load = LocustRun(plan)
    state.load = load
    exits.callback(load.child.stop)
    state.cpu = CpuMonitor(load.child.pid)
    state.run_start = load.wait_started()
    shape = plan.shape
    state.window = Window(state.run_start + shape.judge_from, state.run_start + shape.judge_to)
    closed = getattr(plan, "model", "open") == "closed"
    offered = f"{plan.users} users (closed model)" if closed else f"{plan.rate:g} req/s"
    progress(f"load started: {offered}; window {iso(state.window.start)} .. "
             f"{iso(state.window.end)}")
    ticker = None
    if live is not None:
        ticker = Ticker(live, plan.out_dir, started=state.run_start,
                        total_s=state.window.end - state.run_start,
                        requested=None if closed else plan.rate, cpu=state.cpu)
    sources = [stack.source] + ([stack.scrapes] if stack.scrapes is not stack.source else [])
    _sleep_until(state.window.start, load, stack.scrapes, state, ticker)
    for s in sources:
        s.at_window_start(time.time())
    if state.target_down_at is None:
        _sleep_until(state.window.end, load, stack.scrapes, state, ticker)
    state.cpu.tick(force=True)  # a last sample at the window's end
    if state.target_down_at is not None:
        # the target is gone: stop the load now, judge what was seen before it went
        progress(f"the target stopped answering at {iso(state.target_down_at)}: stopping "
                 "the load")
        state.locust_exit = load.interrupt()
        end = max(state.window.start + 1.0, min(state.window.end, state.target_down_at))
        state.window = Window(state.window.start, end)
        for s in sources:
            s.at_window_end(time.time())
        return load
    if not load.alive() and time.time() < state.window.end:
        state.problems.append(f"Locust stopped before the window's end: "
                              f"{load.diagnose(during=True).message}")
    for s in sources:
        s.at_window_end(time.time())
    state.locust_exit = load.wait()
    if state.locust_exit != 0 and not any(p.startswith("Locust stopped before")
                                          for p in state.problems):
        state.problems.append(load.diagnose(during=True).message)
    interval = getattr(stack.source, "scrape_interval_s", None) or 1.0
    try:
        stack.source.settle(state.window, timeout_s=max(10.0, 5 * interval))
    except SourceError as e:
        state.problems.append(str(e))
    return load
