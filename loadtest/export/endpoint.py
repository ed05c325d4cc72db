"""Pull: the figures served in Prometheus' text format at http://127.0.0.1:PORT/metrics (a free
port) while the run goes; the local Prometheus the harness starts gets a scrape job for it."""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server

from loadtest.export.figures import ClientFigures

JOB = "loadtest"  # the scrape job of the harness in the local Prometheus' config


class _Collector:
    def __init__(self, figures: ClientFigures) -> None:
        self.figures = figures

    def collect(self) -> Any:
        return self.figures.families()


def registry_of(figures: ClientFigures) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(figures))  # type: ignore[arg-type]
    return registry


def exposition(figures: ClientFigures) -> str:
    """The text a scrape of the endpoint reads."""
    return generate_latest(registry_of(figures)).decode("utf-8")


class MetricsEndpoint:
    """prometheus_client's own HTTP server on 127.0.0.1, port chosen by the kernel."""

    def __init__(self, figures: ClientFigures) -> None:
        self._server, self._thread = start_http_server(0, "127.0.0.1", registry_of(figures))
        self.hostport = f"127.0.0.1:{self._server.server_port}"
        self._closed = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.hostport}/metrics"

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
