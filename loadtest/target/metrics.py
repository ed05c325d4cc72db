"""The monitoring guide's metrics, in a registry of their own.

Bucket boundaries matter to the verifier: the HTTP histogram has 2 s (the response-time KPI)
as a boundary with resolution around it, the DB histogram has 0.1 s (the DB KPI).
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

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 1.75, 2.0,
                2.5, 3.0, 5.0, 7.5, 10.0)
DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5,
              5.0)
# Statuses whose series are created at start (zero) for every route, so that a status first
# seen mid-window is not undercounted by increase() (see NOTES-prometheus-locust.md).
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


class TargetMetrics:
    def __init__(self) -> None:
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
            ["method", "endpoint"], buckets=HTTP_BUCKETS, registry=r)
        self.db_query_duration = Histogram(
            "db_query_duration_seconds", "Database query duration in seconds",
            buckets=DB_BUCKETS, registry=r)
        self.db_connections_total = Gauge(
            "db_connections_total", "Open database connections (idle + in use)", registry=r)
        self.db_connections_active = Gauge(
            "db_connections_active", "Database connections in use", registry=r)
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
