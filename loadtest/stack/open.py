"""The stack a load phase runs against, opened once per command: the target (the reference one
as a child, or the one given), the judging metrics source (a Prometheus given, a local one,
or the harness's own scrapes), the preflight probes and the watches that tell a dead target."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest import tls
from loadtest.durations import format_duration
from loadtest.errors import PrometheusUnavailable, TargetUnreachable, UsageError
from loadtest.metrics.base import Matcher, MetricsSource, SourceError
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.slo import SloFile
from loadtest.stack.liveness import UpWatch, Watch
from loadtest.stack.servers import (
    DEFAULT_PROBES,
    LocalPrometheus,
    ReferenceTarget,
    preflight_target,
    prometheus_binary,
)
from loadtest.store.records import RunMeta, TargetInfo

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
    target_faults: dict[str, object]  # the reference target's fault rules (its API's body)
    rules: tuple[Path, ...] = ()
    http_buckets: str = "default"  # the reference target's histograms (loadtest target)
    db_buckets: str = "default"
    probes: tuple[str, ...] = DEFAULT_PROBES  # () = --probe none
    metrics_url: str | None = None  # None: {target}/metrics; NO_METRICS: none
    serve_metrics: Callable[[], str] | None = None  # starts the harness's /metrics: host:port
    insecure: frozenset[tls.Server] = frozenset()  # --insecure-target/-prometheus (tls.py)


@dataclass
class Stack:
    target_url: str
    source: MetricsSource
    scrapes: Any  # EmbeddedSource: the harness's own scrapes of the target (None: none)
    meta: RunMeta
    watches: list[Watch] = field(default_factory=list)  # is the target still there?
    scrape_interval_s: float | None = None  # how often the judging source sees the target

    def sources(self) -> list[Any]:
        """Where a window is marked: the judging source, and the harness's own scrapes when
        they are another source."""
        return [self.source] + ([self.scrapes] if self.scrapes is not None
                                and self.scrapes is not self.source else [])


def up_matchers(slo: SloFile) -> tuple[Matcher, ...]:
    return tuple(Matcher(k, "=", v) for k, v in sorted(slo.selector.items())
                 if k in ("job", "instance"))


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
    job = slo.selector.get("job", "opscore-backend")
    matchers = up_matchers(slo)
    own_metrics = opts.metrics_url != NO_METRICS
    if not own_metrics and not opts.prometheus:
        raise UsageError("--metrics-url none: the harness reads no metrics of the target, so "
                         "give the Prometheus that scrapes it with --prometheus URL")
    ref, target_url, target = _start_target(opts, run_dir, exits)
    metrics_url = (opts.metrics_url if opts.metrics_url and own_metrics
                   else f"{target_url}/metrics")
    target["metrics_url"] = metrics_url if own_metrics else None
    target["probes"] = list(opts.probes)
    prom, local_prom = _choose_prometheus(opts, matchers, job, target_url, metrics_url, run_dir,
                                          exits)
    if ref is not None:
        ref.wait_ready()
    target["health"] = preflight_target(target_url, opts.probes,
                                        insecure="target" in opts.insecure)
    # The harness keeps its own scrapes of the target: the embedded source when no
    # Prometheus serves, else a second opinion `loadtest verify` can judge from.
    scrapes = (_own_scrapes(metrics_url, job, run_dir, exits, "target" in opts.insecure)
               if own_metrics else None)
    watches: list[Watch] = [scrapes] if scrapes is not None else []
    source: MetricsSource
    if prom is None:
        assert scrapes is not None
        source, interval, interval_from = scrapes, scrapes.interval_s, "set by the harness"
    else:
        source = prom
        interval, interval_from = _prometheus_ready(prom, local_prom, window)
        if not own_metrics:
            up = UpWatch(prom.url, prom.up_matchers, interval, prom.insecure).start()
            exits.callback(up.close)
            watches.append(up)
    described = source.describe()
    described["scrape_interval_from"] = interval_from
    prometheus = source.name == "prometheus"
    ready = (f"target {target_url} ready; metrics from {source.name}"
             + (f" {described.get('url')}" if prometheus else "")
             + (f" (scrapes it every {format_duration(interval)})" if interval and prometheus
                else ""))
    meta = RunMeta(target=target, metrics_source=described)
    meta["tls"] = {"target": tls.describe("target", target_url, "target" in opts.insecure),
                   "prometheus": tls.describe("prometheus", described.get("url"),
                                              "prometheus" in opts.insecure)}
    progress(ready)
    return Stack(target_url=target_url, source=source, scrapes=scrapes, meta=meta,
                 watches=watches, scrape_interval_s=interval)


def _start_target(opts: StackOptions, run_dir: Path, exits: contextlib.ExitStack
                  ) -> tuple[ReferenceTarget | None, str, TargetInfo]:
    """The reference target as a child (not yet ready), unless --target names one; and what
    the results say of the target."""
    if opts.target is not None:
        url = opts.target.rstrip("/")
        return None, url, TargetInfo(url=url, kind="external")
    ref = ReferenceTarget(run_dir / "target", opts.database, opts.target_faults,
                          buckets=(opts.http_buckets, opts.db_buckets))
    exits.callback(ref.stop)
    return ref, ref.url, TargetInfo(url=ref.url, kind="reference",
                           database=ref.database.split("://")[0], faults=opts.target_faults)


def _choose_prometheus(opts: StackOptions, matchers: tuple[Matcher, ...], job: str, target_url: str,
                       metrics_url: str, run_dir: Path, exits: contextlib.ExitStack
                       ) -> tuple[PrometheusSource | None, LocalPrometheus | None]:
    """The Prometheus given (--prometheus), else a local one scraping the target when one is
    installed and not --metrics-source embedded, else none: the harness's own scrapes judge."""
    local_prom: LocalPrometheus | None = None
    if opts.prometheus:
        url = opts.prometheus
    elif opts.metrics_source == "embedded" or not prometheus_binary():
        return None, None
    else:
        harness = opts.serve_metrics() if opts.serve_metrics is not None else None
        local_prom = LocalPrometheus(run_dir / "prometheus", job, target_url, list(opts.rules),
                                     metrics_url=metrics_url, harness_hostport=harness)
        exits.callback(local_prom.stop)
        url = local_prom.url
    interval = local_prom.interval_s if local_prom is not None else None
    return (PrometheusSource(url, matchers, scrape_interval_s=interval,
                             local=local_prom is not None,
                             insecure="prometheus" in opts.insecure), local_prom)


def _own_scrapes(metrics_url: str, job: str, run_dir: Path,
                 exits: contextlib.ExitStack, insecure: bool = False) -> EmbeddedSource:
    """The harness's own scrapes of the target's metrics, recorded in the run directory; the
    first one must succeed."""
    scrapes = EmbeddedSource(metrics_url, job=job, record_path=run_dir / "metrics" / SNAPSHOTS,
                             insecure=insecure)
    scrapes.start()
    exits.callback(scrapes.close)
    first = scrapes.scrape_now()
    if not first.ok:  # else the load would start and be stopped 5 s later as "dead"
        raise TargetUnreachable(
            f"the target's metrics at {metrics_url} could not be read ({first.error}): "
            "pass --metrics-url URL where they are served, or --metrics-url none with "
            "--prometheus URL of the Prometheus that scrapes them")
    return scrapes


def _prometheus_ready(source: PrometheusSource, local_prom: LocalPrometheus | None,
                      window: tuple[str, float] | None) -> tuple[float, str]:
    """Wait until Prometheus answers and has scraped the target; its scrape interval (and where
    it came from), against which the judged window is checked."""
    try:
        source.wait_ready(20.0 if local_prom else 5.0)
        if local_prom is None:
            interval, interval_from = _discover_interval(source)
            source.scrape_interval_s = interval
        else:
            interval, interval_from = local_prom.interval_s, "set by the harness"
        if window is not None:
            check_window(window, interval, "Prometheus" if local_prom is None
                         else "the local Prometheus")
        # the window must not open before Prometheus' first scrape of the target (a
        # fresh Prometheus scrapes ~5 s after start: its discovery throttle); a running
        # one scrapes it within an interval
        source.wait_target_up(20.0 if local_prom else 2 * interval + 5.0)
    except SourceError as e:
        raise PrometheusUnavailable(str(e)) from None
    return interval, interval_from


def _discover_interval(source: PrometheusSource) -> tuple[float, str]:
    """How often a Prometheus we did not start scrapes the target (a fresh one lists its
    targets late: asked again for DISCOVERY_S)."""
    found = source.target_scrape_interval()
    discovering = time.monotonic() + DISCOVERY_S
    while found is None and time.monotonic() < discovering:
        time.sleep(0.5)
        found = source.target_scrape_interval()
    if found is None:
        sel = ", ".join(m.render() for m in source.up_matchers) or "none"
        raise SourceError(
            f"Prometheus at {source.url} scrapes no target matching the SLO "
            f"file's selector ({sel}) after {DISCOVERY_S:.0f} s: check "
            "`selector` in the SLO file and Prometheus' scrape config")
    return found

