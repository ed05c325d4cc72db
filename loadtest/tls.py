"""TLS policy for the servers the harness talks to: the target, Prometheus and a remote-write
receiver (--remote-write).

Certificates are verified by default. The command line's choices (`--insecure-*`) are passed to
the harness's own clients as arguments (`insecure=`), and to the Locust processes (which send the
target's traffic) in their environment, built in one place (loadtest/load/runner.locust_env);
the environment is read too:

    LOADTEST_TARGET_CA_FILE / LOADTEST_PROMETHEUS_CA_FILE    a private CA bundle (PEM)
    LOADTEST_REMOTE_WRITE_CA_FILE
    LOADTEST_TARGET_INSECURE=1 / LOADTEST_PROMETHEUS_INSECURE=1 / LOADTEST_REMOTE_WRITE_INSECURE=1
        skip verification (`--insecure-target`, `--insecure-prometheus`,
        `--insecure-remote-write`); the report says so
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from typing import Literal

Server = Literal["target", "prometheus", "remote_write"]
_ENV = {"target": "LOADTEST_TARGET", "prometheus": "LOADTEST_PROMETHEUS",
        "remote_write": "LOADTEST_REMOTE_WRITE"}


def skipped(server: Server, insecure: bool = False) -> bool:
    """`insecure`: the command line's choice for this server (else the environment's)."""
    return insecure or os.environ.get(f"{_ENV[server]}_INSECURE", "").lower() in (
        "1", "true", "yes")


def ca_file(server: Server) -> str | None:
    return os.environ.get(f"{_ENV[server]}_CA_FILE") or None


def requests_verify(server: Server, insecure: bool = False) -> bool | str:
    """What requests' `session.verify` takes (prometheus-api-client)."""
    if skipped(server, insecure):
        return False
    return ca_file(server) or True


def httpx_verify(server: Server, insecure: bool = False) -> bool | ssl.SSLContext:
    """What httpx's `verify=` takes (a CA path as a string is deprecated there)."""
    if skipped(server, insecure):
        return False
    cafile = ca_file(server)
    return ssl.create_default_context(cafile=cafile) if cafile else True


def child_env(insecure: Iterable[Server]) -> dict[str, str]:
    """The environment entries that carry these choices into a Locust process."""
    return {f"{_ENV[server]}_INSECURE": "1" for server in insecure}


SKIPPED = "certificate NOT verified"


def describe(server: Server, url: str | None, insecure: bool = False) -> str:
    """How this process talks to `url`, for the results (`run.tls`)."""
    if not url or not url.startswith("https://"):
        return "plain http"
    if skipped(server, insecure):
        return SKIPPED
    return "verified" + (" (private CA)" if ca_file(server) else "")


def warnings(described: dict[str, str]) -> list[str]:
    """One line per server whose certificate went unchecked (from `run.tls`)."""
    return [f"TLS certificate verification of the {server} was skipped "
            f"(--insecure-{server}): its identity was not checked"
            for server, how in sorted(described.items()) if how == SKIPPED]
