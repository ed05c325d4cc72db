"""`loadtest worker`: a Locust worker on this machine for a `loadtest run --remote-workers N`
master."""

from __future__ import annotations

from pathlib import Path

from loadtest.connections import Connections
from loadtest.errors import UsageError
from loadtest.load.locust_options import check_scenario
from loadtest.load.runner import locust_env, worker_argv
from loadtest.options import check_worker
from loadtest.stack import processes


def check(master_host: str, master_port: int, scenario: Path) -> None:
    check_worker(master_host, master_port)
    if not scenario.is_file():
        raise UsageError(f"--scenario {scenario}: no such file")
    check_scenario(scenario)


def work(master_host: str, master_port: int, scenario: Path, connections: Connections
         ) -> int:
    """Locust's worker until the master ends the run (or a signal); its exit code."""
    return processes.call_dying_with_us(worker_argv(scenario, master_host, master_port),
                                        locust_env(connections))
