"""The harness's one error tree. Each class carries its exit code (README, "Exit codes").

    HarnessError                      (base; never raised itself)
    +-- UsageError             2      bad option or value: nothing was run
    |   +-- ConfigError        2      a file (SLO, shape, results) failed validation
    +-- InconclusiveError      3      the gate cannot be decided
    |   +-- TargetUnreachable  3      the target failed preflight or died
    |   +-- PrometheusUnavailable 3   Prometheus failed preflight or died
    |   +-- LoadGeneratorError 3      Locust crashed or could not deliver the rate
    +-- Interrupted          130      SIGINT / SIGTERM

The CLI catches HarnessError once, prints its one-line message and exits with `exit_code`.
Library code below the CLI raises these and never prints or exits.
"""

from __future__ import annotations


class ExitCode:
    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    INCONCLUSIVE = 3
    INTERRUPTED = 130


class HarnessError(Exception):
    exit_code: int = ExitCode.INCONCLUSIVE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(HarnessError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A file failed validation; the message names the file, the field (and line) and the fix."""


class InconclusiveError(HarnessError):
    exit_code = ExitCode.INCONCLUSIVE


class TargetUnreachable(InconclusiveError):
    pass


class PrometheusUnavailable(InconclusiveError):
    pass


class LoadGeneratorError(InconclusiveError):
    pass


class Interrupted(HarnessError):
    exit_code = ExitCode.INTERRUPTED
