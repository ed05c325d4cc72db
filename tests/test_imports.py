"""Which process imports what (STYLE.md 9): `loadtest --help` stays light, the harness never
imports Locust, a Locust process loads the judging code only when the plugin's --slo asks for
it; and the command line's connection choices reach a Locust process through the one
environment the harness builds for it, not through the harness's own environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loadtest.connections import Connections
from loadtest.load.runner import locust_env

ROOT = Path(__file__).resolve().parent.parent


def _loaded(code: str) -> set[str]:
    """Top-level packages in sys.modules after `code`, in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", (f"{code}\nimport sys\n"
                                "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return set(out.stdout.split())


def test_the_cli_imports_nothing_heavy() -> None:
    loaded = _loaded("import loadtest.cli")
    assert not loaded & {"locust", "gevent", "pandas", "numpy", "matplotlib", "jinja2"}


def test_the_harness_never_imports_locust() -> None:
    loaded = _loaded("import loadtest.commands.run, loadtest.commands.capacity, "
                     "loadtest.commands.verify, loadtest.commands.judge")
    assert "pandas" in loaded  # the commands do import the judging code
    assert not loaded & {"locust", "gevent"}


def test_a_locust_process_without_slo_loads_no_judging_code() -> None:
    loaded = _loaded("import loadtest.locust_plugin")
    assert "locust" in loaded
    assert not loaded & {"pandas", "numpy", "matplotlib"}


def test_connection_choices_reach_locust_through_its_environment_only() -> None:
    before = dict(os.environ)
    env = locust_env(Connections(request_timeout_s=12.5,
                                 insecure=frozenset({"target", "remote_write"})),
                     {"LOADTEST_LOCUST_RATE": "5.0"})
    assert env["LOADTEST_REQUEST_TIMEOUT"] == "12.5s"
    assert env["LOADTEST_TARGET_INSECURE"] == "1"
    assert env["LOADTEST_REMOTE_WRITE_INSECURE"] == "1"
    assert env["LOADTEST_LOCUST_RATE"] == "5.0"
    assert dict(os.environ) == before
    plain = locust_env(Connections())
    assert "LOADTEST_REQUEST_TIMEOUT" not in plain or \
        plain["LOADTEST_REQUEST_TIMEOUT"] == before.get("LOADTEST_REQUEST_TIMEOUT")
