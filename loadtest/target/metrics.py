"""The monitoring guide's metrics, in a registry of their own.

Bucket boundaries matter to the verifier. By default both histograms have the Go client's
default buckets, as the guide's backend registers them (`prometheus.HistogramOpts{Name, Help}`
with no `Buckets`): 0.1 s (the DB KPI) is a bound, 2 s (the response-time KPI) is not.
`kpi` adds bounds at and around 2 s (and around 0.1 s for the DB), so both verdicts are exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from loadtest.errors import UsageError

# prometheus.DefBuckets of client_golang: what the guide's backend exposes.
GO_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KPI_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 1.75, 2.0,
                    2.5, 3.0, 5.0, 7.5, 10.0)
KPI_DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0,
                  2.5, 5.0)
# Statuses whose series are created at start (zero) for every route, so that a status first
# seen mid-window is not undercounted by increase() (which counts from a series' first sample:
# a series born with the value 1 loses that first request).
KNOWN_STATUSES = ("200", "201", "204", "400", "404", "422", "500", "503")

ACTIVE_USER_WINDOW_S = 300.0


class ActiveUsers:
    """Distinct callers seen in the last ACTIVE_USER_WINDOW_S seconds."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def touch(self, user: str) -> None:
        with self._lock:
            self._seen[user] = time.monotonic()

    def count(self) -> int:
        horizon = time.monotonic() - ACTIVE_USER_WINDOW_S
        with self._lock:
            for user in [u for u, t in self._seen.items() if t < horizon]:
                del self._seen[user]
            return len(self._seen)


class BucketSpecError(ValueError):
    """A bucket list that is not sorted, positive and finite."""


def parse_buckets(spec: str, kpi: tuple[float, ...]) -> tuple[float, ...]:
    """`default` (the Go client's), `kpi` (the given set with the KPI's bound) or a
    comma-separated list of upper bounds in seconds, strictly increasing and positive."""
    name = spec.strip().lower()
    if name == "default":
        return GO_DEFAULT_BUCKETS
    if name == "kpi":
        return kpi
    try:
        bounds = tuple(float(x) for x in spec.split(",") if x.strip())
    except ValueError:
        raise BucketSpecError(f"{spec!r}: use default, kpi or a list of seconds like "
                              "0.1,0.5,1,2,5") from None
    if not bounds:
        raise BucketSpecError(f"{spec!r}: use default, kpi or a list of seconds like "
                              "0.1,0.5,1,2,5")
    if any(not (0 < b < float("inf")) for b in bounds):
        raise BucketSpecError(f"{spec!r}: every bound must be a positive number of seconds")
    if any(b >= a for b, a in zip(bounds, bounds[1:], strict=False)):
        raise BucketSpecError(f"{spec!r}: bounds must be strictly increasing "
                              f"(e.g. {','.join(f'{b:g}' for b in sorted(set(bounds)))})")
    return bounds


class TargetMetrics:
    def __init__(self, http_buckets: tuple[float, ...] = GO_DEFAULT_BUCKETS,
                 db_buckets: tuple[float, ...] = GO_DEFAULT_BUCKETS) -> None:
        self.http_buckets, self.db_buckets = http_buckets, db_buckets
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.http_requests = Counter(
            "http_requests", "Total number of HTTP requests",
            ["method", "endpoint", "status"], registry=r)
        self.http_duration = Histogram(
            "http_request_duration_seconds", "HTTP request duration in seconds",
            ["method", "endpoint"], buckets=http_buckets, registry=r)
        self.db_query_duration = Histogram(
            "db_query_duration_seconds", "Database query duration in seconds",
            buckets=db_buckets, registry=r)
        self.db_connections_total = Gauge(
            "db_connections_total", "Open database connections (idle + in use)", registry=r)
        self.db_connections_active = Gauge(
            "db_connections_active", "Database connections in use", registry=r)
        self.db_connections_max = Gauge(  # set only where there is a pool (PostgreSQL)
            "db_connections_max", "Size of the database connection pool", registry=r)
        self.documents_total = Gauge("documents_total", "Documents stored", registry=r)
        self.execution_records_total = Gauge(
            "execution_records_total", "Execution records stored", registry=r)
        self.active_users = ActiveUsers()
        self.users_active_total = Gauge(
            "users_active_total",
            f"Distinct callers seen in the last {int(ACTIVE_USER_WINDOW_S)} s", registry=r)
        self.users_active_total.set_function(self.active_users.count)
        self.storage_usage_bytes = Gauge(
            "storage_usage_bytes", "Bytes stored as attachments", registry=r)

    def precreate(self, routes: Iterable[tuple[str, str]]) -> None:
        """Create every (method, endpoint[, status]) series at zero."""
        for method, endpoint in routes:
            self.http_duration.labels(method, endpoint)
            for status in KNOWN_STATUSES:
                self.http_requests.labels(method, endpoint, status)

    def observe_request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, endpoint, str(status)).inc()
        self.http_duration.labels(method, endpoint).observe(seconds)


def build_metrics(http_buckets: str, db_buckets: str) -> TargetMetrics:
    try:
        http = parse_buckets(http_buckets, KPI_HTTP_BUCKETS)
    except BucketSpecError as e:
        raise UsageError(f"--http-buckets {e}") from None
    try:
        db = parse_buckets(db_buckets, KPI_DB_BUCKETS)
    except BucketSpecError as e:
        raise UsageError(f"--db-buckets {e}") from None
    return TargetMetrics(http, db)
