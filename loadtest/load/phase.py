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
from loadtest.durations import format_duration
from loadtest.errors import PrometheusUnavailable, TargetUnreachable, UsageError
from loadtest.metrics.base import Matcher, MetricsSource, SourceError, Window
from loadtest.slo import SloFile
from loadtest.stack.liveness import SampleWatch, UpWatch, Watch, dead_since
from loadtest.stack.servers import DEFAULT_PROBES

Progress = Callable[[str], None]
SNAPSHOTS = "embedded-snapshots.jsonl.gz"
NO_METRICS = "none"  # --metrics-url none: the harness does not read the target's metrics
MIN_SCRAPES_PER_WINDOW = 4  # increase() needs >= 2 samples in range; 4 intervals is sound
DISCOVERY_S = 10.0  # a fresh Prometheus lists its targets ~5 s after start


@dataclass(frozen=True)
class StackOptions:
    target: str | None
    prometheus: str | None
    metrics_source: str
    database: str | None
    target_faults: dict[str, Any]
    rules: tuple[Path, ...] = ()
    http_buckets: str = "default"  # the reference target's histograms (loadtest target)
    db_buckets: str = "default"
    probes: tuple[str, ...] = DEFAULT_PROBES  # () = --probe none
    metrics_url: str | None = None  # None: {target}/metrics; NO_METRICS: none


@dataclass
class Stack:
    target_url: str
    source: MetricsSource
    scrapes: Any  # EmbeddedSource: the harness's own scrapes of the target (None: none)
    meta: dict[str, Any]
    watches: list[Watch] = field(default_factory=list)  # is the target still there?
    scrape_interval_s: float | None = None  # how often the judging source sees the target


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
    cpu: Any = None  # the CpuMonitor of the load processes (load/health.py)
    cpu_summary: dict[str, Any] | None = None  # from an earlier judging (loadtest verify)
    monitor: Any = None  # the ObjectiveMonitor evaluating objectives while the load runs
    aborted: dict[str, Any] | None = None  # a sustained breach stopped the run (Abort.record)


def up_matchers(slo: SloFile) -> tuple[Matcher, ...]:
    return tuple(Matcher(k, "=", v) for k, v in sorted(slo.selector.items())
                 if k in ("job", "instance"))


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def check_window(window: tuple[str, float], interval_s: float | None, where: str) -> None:
    """Refuse a judged window shorter than MIN_SCRAPES_PER_WINDOW scrape intervals."""
    option, seconds = window
    if interval_s is None or seconds >= MIN_SCRAPES_PER_WINDOW * interval_s - 1e-9:
        return
    need = MIN_SCRAPES_PER_WINDOW * interval_s
    raise UsageError(f"{option} {format_duration(seconds)} is shorter than "
                     f"{MIN_SCRAPES_PER_WINDOW} x the target's scrape interval in {where} "
                     f"({format_duration(interval_s)}): use {option} "
                     f"{format_duration(need)} or more, or scrape the target more often")


def open_stack(opts: StackOptions, slo: SloFile, run_dir: Path,
               exits: contextlib.ExitStack, progress: Progress,
               window: tuple[str, float] | None = None) -> Stack:
    """Start what the options ask for (each stopped by `exits`), preflight, and return it.
    `window` = (option, seconds) of the judged window, checked against the scrape interval
    before any load."""
    from loadtest.metrics.embedded import EmbeddedSource
    from loadtest.metrics.prometheus import PrometheusSource
    from loadtest.stack.servers import (
        LocalPrometheus,
        ReferenceTarget,
        preflight_target,
        prometheus_binary,
    )

    job = slo.selector.get("job", "opscore-backend")
    meta: dict[str, Any] = {}
    source: MetricsSource | None = None
    own_metrics = opts.metrics_url != NO_METRICS
    if not own_metrics and not opts.prometheus:
        raise UsageError("--metrics-url none: the harness reads no metrics of the target, so "
                         "give the Prometheus that scrapes it with --prometheus URL")
    if opts.target is None:
        ref = ReferenceTarget(run_dir / "target", opts.database, opts.target_faults,
                              buckets=(opts.http_buckets, opts.db_buckets))
        exits.callback(ref.stop)
        target_url = ref.url
        meta["target"] = {"url": target_url, "kind": "reference",
                          "database": ref.database.split("://")[0],
                          "faults": opts.target_faults}
    else:
        ref = None
        target_url = opts.target.rstrip("/")
        meta["target"] = {"url": target_url, "kind": "external"}
    metrics_url = (opts.metrics_url if opts.metrics_url and own_metrics
                   else f"{target_url}/metrics")
    meta["target"]["metrics_url"] = metrics_url if own_metrics else None
    meta["target"]["probes"] = list(opts.probes)
    local_prom: LocalPrometheus | None = None
    if opts.prometheus:
        source = PrometheusSource(opts.prometheus, up_matchers(slo))
    elif opts.metrics_source != "embedded" and prometheus_binary():
        local_prom = LocalPrometheus(run_dir / "prometheus", job, target_url, list(opts.rules),
                                     metrics_url=metrics_url)
        exits.callback(local_prom.stop)
        source = PrometheusSource(local_prom.url, up_matchers(slo),
                                  scrape_interval_s=local_prom.interval_s, local=True)
    if ref is not None:
        ref.wait_ready()
    meta["target"]["health"] = preflight_target(target_url, opts.probes)
    # The harness keeps its own scrapes of the target: the embedded source when no
    # Prometheus serves, else a second opinion `loadtest verify` can judge from.
    scrapes = None
    watches: list[Watch] = []
    if own_metrics:
        scrapes = EmbeddedSource(metrics_url, job=job,
                                 record_path=run_dir / "metrics" / SNAPSHOTS)
        scrapes.start()
        exits.callback(scrapes.close)
        first = scrapes.scrape_now()
        if not first.ok:  # else the load would start and be stopped 5 s later as "dead"
            raise TargetUnreachable(
                f"the target's metrics at {metrics_url} could not be read ({first.error}): "
                "pass --metrics-url URL where they are served, or --metrics-url none with "
                "--prometheus URL of the Prometheus that scrapes them")
        watches.append(scrapes)
    interval: float | None = None
    interval_from = "set by the harness"
    if source is None:
        assert scrapes is not None
        source = scrapes
        interval = scrapes.interval_s
    else:
        assert isinstance(source, PrometheusSource)
        try:
            source.wait_ready(20.0 if local_prom else 5.0)
            if local_prom is None:
                found = source.target_scrape_interval()
                discovering = time.monotonic() + DISCOVERY_S  # a fresh Prometheus lists
                while found is None and time.monotonic() < discovering:  # targets late
                    time.sleep(0.5)
                    found = source.target_scrape_interval()
                if found is None:
                    sel = ", ".join(m.render() for m in source.up_matchers) or "none"
                    raise SourceError(
                        f"Prometheus at {source.url} scrapes no target matching the SLO "
                        f"file's selector ({sel}) after {DISCOVERY_S:.0f} s: check "
                        "`selector` in the SLO file and Prometheus' scrape config")
                interval, interval_from = found
                source.scrape_interval_s = interval
            else:
                interval = local_prom.interval_s
            if window is not None:
                check_window(window, interval, "Prometheus" if local_prom is None
                             else "the local Prometheus")
            # the window must not open before Prometheus' first scrape of the target (a
            # fresh Prometheus scrapes ~5 s after start: its discovery throttle); a running
            # one scrapes it within an interval
            source.wait_target_up(20.0 if local_prom else 2 * interval + 5.0)
        except SourceError as e:
            raise PrometheusUnavailable(str(e)) from None
        if not own_metrics:
            up = UpWatch(source.url, source.up_matchers, interval).start()
            exits.callback(up.close)
            watches.append(up)
    meta["metrics_source"] = source.describe()
    meta["metrics_source"]["scrape_interval_from"] = interval_from
    meta["tls"] = {"target": tls.describe("target", target_url),
                   "prometheus": tls.describe("prometheus", meta["metrics_source"].get("url"))}
    progress(f"target {target_url} ready; metrics from {source.name}"
             + (f" {meta['metrics_source'].get('url')}" if source.name == "prometheus"
                else "")
             + (f" (scrapes it every {format_duration(interval)})" if interval and
                source.name == "prometheus" else ""))
    return Stack(target_url=target_url, source=source, scrapes=scrapes, meta=meta,
                 watches=watches, scrape_interval_s=interval)


def cut_window(state: PhaseState, stack: Stack | None, progress: Progress,
               then: Callable[[], None] | None = None) -> None:
    """The load stopped early (a signal, an abort): the judged window ends now, with a last
    scrape at the cut so the server's figures cover exactly what ran; `then` (stopping the
    load) runs right after that scrape; Prometheus is given the time to store its scrape at or
    after the cut."""
    window = state.window
    now = time.time()
    if window is None or stack is None or now >= window.end or now <= window.start:
        if then is not None:
            then()
        return
    sources = [stack.source] + ([stack.scrapes] if stack.scrapes is not None
                                and stack.scrapes is not stack.source else [])
    for s in sources:
        try:
            s.at_window_end(now)
        except (SourceError, OSError) as e:  # judged from the scrapes that exist
            state.problems.append(f"no last scrape at the cut ({e})")
    end = now
    if stack.scrapes is not None:  # the last good scrape: the edge one, unless it failed
        good = [s.t for s in stack.scrapes.snapshots() if s.ok and s.t <= now + 5]
        end = good[-1] if good else now
    if then is not None:  # after the edge scrape: what runs while it stops is not judged
        then()
    state.window = Window(window.start, max(window.start + 1.0, min(end, window.end)))
    interval = getattr(stack.source, "scrape_interval_s", None) or 1.0
    try:
        stack.source.settle(state.window, timeout_s=min(10.0, 3 * interval))
    except SourceError as e:
        state.problems.append(f"after the interruption: {e}")
    progress(f"window cut at {iso(state.window.end)} ({state.window.seconds:.1f} s judged)")


def _sleep_until(t: float, load: Any, watches: list[Watch], state: PhaseState,
                 ticker: Any = None) -> None:
    while True:
        left = t - time.time()
        if left <= 0 or not load.alive():
            return
        if state.cpu is not None:
            state.cpu.tick()
        if ticker is not None:
            ticker.tick()
        since = dead_since(watches)
        if since is not None:
            state.target_down_at = since
            return
        if state.monitor is not None and state.monitor.abort is not None:
            return
        time.sleep(min(left, 0.1))


def drive(plan: Any, stack: Stack, state: PhaseState, exits: contextlib.ExitStack,
          progress: Progress, live: Progress | None = None,
          on_window: Callable[[PhaseState], None] | None = None,
          slo: SloFile | None = None, abort: bool = True) -> Any:
    """One load phase: Locust at the plan's rate, the window marked on both sources, Locust
    awaited, the source settled. `live` shows a status line about once a second; `on_window`
    is called once the load started and the window is known. With `slo`, every objective is
    evaluated while the load runs (judge/monitor.py), and one breached for its whole `abort_after`
    stops the load and cuts the window there (unless `abort` is False). Returns the LocustRun
    (for interrupting it)."""
    from loadtest.judge.monitor import ObjectiveMonitor
    from loadtest.load.health import CpuMonitor
    from loadtest.load.live import Ticker
    from loadtest.load.runner import LocustRun

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
    if on_window is not None:
        on_window(state)
    if slo is not None:
        state.monitor = ObjectiveMonitor(slo, stack.source, stack.scrapes, plan.out_dir,
                                         state.window.start, state.run_start, shape,
                                         abort=abort)
        exits.callback(state.monitor.stop)
        state.monitor.start()
    ticker = None
    if live is not None:
        ticker = Ticker(live, plan.out_dir, started=state.run_start,
                        total_s=state.window.end - state.run_start,
                        requested=None if closed else plan.rate, cpu=state.cpu,
                        monitor=state.monitor)
    sources = [stack.source] + ([stack.scrapes] if stack.scrapes is not None
                                and stack.scrapes is not stack.source else [])
    # without its own scrapes the harness hears of a dead target from the load generator
    watches = stack.watches + ([SampleWatch(plan.out_dir)] if stack.scrapes is None else [])
    _sleep_until(state.window.start, load, watches, state, ticker)
    for s in sources:
        s.at_window_start(time.time())
    if state.target_down_at is None:
        _sleep_until(state.window.end, load, watches, state, ticker)
    state.cpu.tick(force=True)  # a last sample at the window's end
    if state.monitor is not None:
        state.monitor.stop()
        if state.monitor.abort is not None and state.target_down_at is None:
            # a breach sustained for its abort_after: stop the load, judge what ran
            ab = state.monitor.abort
            state.aborted = ab.record(state.run_start)
            progress(f"{ab.reason(state.run_start)}: stopping the load")

            def stop_load() -> None:
                state.locust_exit = load.interrupt()

            cut_window(state, stack, progress, then=stop_load)
            return load
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
    interval = stack.scrape_interval_s or 1.0
    try:
        stack.source.settle(state.window, timeout_s=max(10.0, 5 * interval))
    except SourceError as e:
        state.problems.append(str(e))
    return load
