"""The load generator's figures as Prometheus metric families, in Prometheus' own conventions
(base units, `_total` counters, classic histograms), every series labelled `run_id` and
`scenario`:

    loadtest_client_requests_total{method,endpoint}            requests completed (counter)
    loadtest_client_request_failures_total{method,endpoint}    of them failed (counter)
    loadtest_client_request_duration_seconds{method,endpoint}  response time as the client
        measured it (histogram; every latency threshold of the SLO file is a bucket bound)
    loadtest_schedule_lag_seconds         a task's start behind its slot in the schedule
    loadtest_tasks_completed_total        tasks recorded (a task may make several requests)
    loadtest_offered_task_rate            task starts/s the plan offers now (open model: --rate
                                          counts task starts)
    loadtest_users                        Locust users running
    loadtest_generator_cpu_seconds_total  CPU of the load processes (counter)
    loadtest_generator_cpu_ratio          the busiest load process's share of one core
    loadtest_objective_ok{objective}      1 holds, 0 breached over its live window (absent: not
                                          computable yet)
    loadtest_objective_value{objective}   its live figure, in the objective's own unit
    loadtest_run_verdict{verdict}         1 at the end (pass, fail, inconclusive, interrupted)
    loadtest_run_exit_code                the run's exit code, at the end

Requests are counted from the sample rows the generator flushes about once a second, over the
whole run (warm-up included); the judged window is the run's annotation.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from loadtest.export.remote_write import Point, labels_of
from loadtest.store.records import LiveState

# prometheus_client's defaults with the guide's KPI bounds (1.5 s, 2 s) added
DURATION_BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0,
                     2.5, 5.0, 7.5, 10.0)
LAG_BOUNDS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_ENDPOINTS = 200  # label sets per metric; more (a URL with ids as its name) share "other"


def duration_bounds(thresholds_s: Iterable[float]) -> tuple[float, ...]:
    """The histogram's bounds: the defaults plus every latency threshold (so an objective's
    share under its threshold is exact, not interpolated)."""
    extra = {round(float(t), 6) for t in thresholds_s if t is not None and
             math.isfinite(float(t)) and float(t) > 0}
    return tuple(sorted(set(DURATION_BOUNDS_S) | extra))


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, the last one +Inf
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, v: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, v)] += 1  # le: v <= bound
        self.total += v

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip((*self.bounds, math.inf), self.counts):
            running += n
            out.append((floatToGoString(bound), float(running)))
        return out


@dataclass
class Objective:
    state: str
    value: float | None


class ClientFigures:
    """The run's figures, updated from the load loop (`add_samples`, `add_tasks`, `set_*`) and
    read as metric families from other threads (`families`)."""

    def __init__(self, run_id: str, scenario: str, thresholds_s: Iterable[float] = ()) -> None:
        self.base = {"run_id": run_id, "scenario": scenario}
        self.bounds = duration_bounds(thresholds_s)
        self.requests: dict[tuple[str, str], int] = {}
        self.failures: dict[tuple[str, str], int] = {}
        self.durations: dict[tuple[str, str], Histogram] = {}
        self.lag = Histogram(LAG_BOUNDS_S)
        self.tasks = 0
        self.offered: float | None = None
        self.users: float | None = None
        self.cpu_seconds: float | None = None
        self.cpu_ratio: float | None = None
        self.objectives: dict[str, Objective] = {}
        self.verdict: str | None = None
        self.exit_code: int | None = None
        self._lock = threading.Lock()

    # -- updates (the load loop) -----------------------------------------------------------
    def add_samples(self, rows: Iterable[list[str]]) -> int:
        """Rows of samples-*.csv (start, intended, method, name, response_ms, status, failed,
        ...); the header and torn rows are skipped. Returns the rows counted."""
        n = 0
        with self._lock:
            for row in rows:
                try:
                    seconds = float(row[4]) / 1000.0
                    failed = row[6] != "0"
                    key = (row[2], row[3])
                except (IndexError, ValueError):
                    continue
                if key not in self.requests and len(self.requests) >= MAX_ENDPOINTS:
                    key = (row[2], "other")
                self.requests[key] = self.requests.get(key, 0) + 1
                if failed:
                    self.failures[key] = self.failures.get(key, 0) + 1
                hist = self.durations.get(key)
                if hist is None:
                    hist = self.durations[key] = Histogram(self.bounds)
                    self.failures.setdefault(key, 0)
                hist.observe(seconds)
                n += 1
        return n

    def add_tasks(self, rows: Iterable[list[str]]) -> None:
        """Rows of tasks-*.csv (intended, start, ...): the schedule lag of each task's start."""
        with self._lock:
            for row in rows:
                try:
                    lag = max(0.0, float(row[1]) - float(row[0]))
                except (IndexError, ValueError):
                    continue
                self.lag.observe(lag)
                self.tasks += 1

    def set_load(self, offered: float | None, users: float | None,
                 cpu_seconds: float | None, cpu_ratio: float | None) -> None:
        with self._lock:
            self.offered, self.users = offered, users
            if cpu_seconds is not None:  # a counter never goes down (a process that ended)
                self.cpu_seconds = max(cpu_seconds, self.cpu_seconds or 0.0)
            self.cpu_ratio = cpu_ratio

    def set_objectives(self, states: dict[str, LiveState]) -> None:
        with self._lock:
            self.objectives = {name: Objective(str(f.get("state")), _number(f.get("value")))
                               for name, f in states.items()}

    def set_end(self, verdict: str, exit_code: int | None) -> None:
        with self._lock:
            self.verdict, self.exit_code = verdict, exit_code

    # -- reads (any thread) ----------------------------------------------------------------
    def families(self) -> list[Metric]:
        with self._lock:
            return list(self._families())

    def _families(self) -> Iterable[Metric]:
        base = list(self.base)
        ep = [*base, "method", "endpoint"]
        labels = list(self.base.values())
        requests = CounterMetricFamily(
            "loadtest_client_requests", "Requests the load generator completed.", labels=ep)
        failures = CounterMetricFamily(
            "loadtest_client_request_failures", "Requests that failed (status, timeout, "
            "connection error or a check of the scenario).", labels=ep)
        durations = HistogramMetricFamily(
            "loadtest_client_request_duration_seconds", "Response time measured by the load "
            "generator (the SLO file's latency thresholds are bucket bounds).", labels=ep)
        for key in sorted(self.requests):
            values = [*labels, *key]
            requests.add_metric(values, self.requests[key])
            failures.add_metric(values, self.failures.get(key, 0))
            hist = self.durations[key]
            durations.add_metric(values, hist.buckets(), hist.total)
        yield from (requests, failures, durations)
        lag = HistogramMetricFamily(
            "loadtest_schedule_lag_seconds", "How late each task started behind its slot in "
            "the schedule (coordinated omission shows here).", labels=base)
        lag.add_metric(labels, self.lag.buckets(), self.lag.total)
        tasks = CounterMetricFamily("loadtest_tasks_completed", "Tasks the load generator "
                                    "recorded (a task may make several requests).", labels=base)
        tasks.add_metric(labels, self.tasks)
        yield from (lag, tasks)
        yield from self._gauges(base, labels)

    def _gauges(self, base: list[str], labels: list[str]) -> Iterable[Metric]:
        for name, doc, value in (
                ("loadtest_offered_task_rate", ("Task starts per second the load plan offers "
                 "now (open model; --rate counts task starts)."), self.offered),
                ("loadtest_users", "Locust users running.", self.users),
                ("loadtest_generator_cpu_ratio", ("The busiest load process's CPU, as a share "
                 "of one core (1 = saturated)."), self.cpu_ratio)):
            if value is not None:
                g = GaugeMetricFamily(name, doc, labels=base)
                g.add_metric(labels, value)
                yield g
        if self.cpu_seconds is not None:
            c = CounterMetricFamily("loadtest_generator_cpu_seconds", "CPU time of the load "
                                    "generator's processes.", labels=base)
            c.add_metric(labels, self.cpu_seconds)
            yield c
        ok = GaugeMetricFamily("loadtest_objective_ok", "1 while the objective holds over its "
                               "live window, 0 while breached.", labels=[*base, "objective"])
        figure = GaugeMetricFamily("loadtest_objective_value", "The objective's live figure "
                                   "(its own unit).", labels=[*base, "objective"])
        for name, o in sorted(self.objectives.items()):
            if o.state in ("pass", "fail"):
                ok.add_metric([*labels, name], 1.0 if o.state == "pass" else 0.0)
            if o.value is not None:
                figure.add_metric([*labels, name], o.value)
        yield from (ok, figure)
        if self.verdict is not None:
            v = GaugeMetricFamily("loadtest_run_verdict", "1 for the run's verdict, at its "
                                  "end.", labels=[*base, "verdict"])
            v.add_metric([*labels, self.verdict], 1.0)
            yield v
        if self.exit_code is not None:
            e = GaugeMetricFamily("loadtest_run_exit_code", "The run's exit code (0 pass, 1 "
                                  "fail, 3 inconclusive, 130 interrupted).", labels=base)
            e.add_metric(labels, float(self.exit_code))
            yield e

    def points(self, timestamp_ms: int) -> list[Point]:
        """Every sample of the families at `timestamp_ms`, as remote write sends them."""
        return [(labels_of(s.name, s.labels), timestamp_ms, float(s.value))
                for family in self.families() for s in family.samples]


def _number(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
