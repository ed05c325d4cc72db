"""How the harness and its Locust processes connect: the command line's request timeout and
TLS choices (--request-timeout, --insecure-*), passed as a value: to the harness's own clients
as `insecure=` arguments, to the Locust processes in the environment built by
loadtest/load/runner.locust_env."""

from __future__ import annotations

from dataclasses import dataclass

from loadtest import tls


@dataclass(frozen=True)
class Connections:
    request_timeout_s: float | None = None  # None: the Locust side's default
    insecure: frozenset[tls.Server] = frozenset()  # certificates not verified (tls.py)
