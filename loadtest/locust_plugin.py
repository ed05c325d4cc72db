"""The SLO gate inside a team's own `locust --headless` command.

One line in the locustfile, `import loadtest.locust_plugin`, adds to Locust's command line:

    --slo FILE                judge this SLO file at the end of a headless run
    --slo-prometheus URL      server objectives from this Prometheus (default: snapshots of the
                              target's /metrics at the window's start and end)
    --slo-out DIR             where the run directory goes (default: reports)
    --slo-warmup DURATION     the start of the run that is not judged (default: 10s)
    --slo-baseline NAME       a baseline (name, run directory or results.json) to compare with

Without `--slo` nothing changes. With it, the judged window is [test start + warm-up, test
stop]; client objectives come from Locust's own request samples, server objectives from
Prometheus or the target's /metrics; the run directory (results.json, index.html, junit.xml,
summary.md) is written by the harness's own functions, the verdict printed, and Locust's exit
code set by the harness's contract: 0 pass, 1 breach or regression, 2 bad SLO file or option,
3 inconclusive. Locust's own pacing stays (the closed model), and the report says so; with
the harness's paced users (`scenarios/opscore.py`, any `PacedUser`) the run is the open model
at `LOADTEST_LOCUST_RATE` (the aggregate: a master splits it over its workers), judged for
delivery like `loadtest run`.

Everything heavy happens after the load (at `quitting`), on the master or the single local
process; workers only send their samples to the master.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locust import events
from locust.runners import WorkerRunner

from loadtest.durations import parse_duration
from loadtest.errors import ExitCode, HarnessError, UsageError
from loadtest.locustlib import recorder, workers
from loadtest.slo import load_slo

if TYPE_CHECKING:
    from loadtest.locustlib.gate import Gate

log = logging.getLogger("loadtest")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per scrape otherwise


GATE: Gate | None = None


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group(
        "loadtest SLO gate", "added by `import loadtest.locust_plugin`; judged at the end of a "
        "--headless run, exit code 0 pass / 1 breach / 2 bad SLO file / 3 inconclusive")
    group.add_argument("--slo", metavar="FILE", default=None, env_var="LOADTEST_SLO",
                       help="SLO file to judge the run against (e.g. slo/opscore.yaml)")
    group.add_argument("--slo-prometheus", metavar="URL", default=None,
                       env_var="LOADTEST_PROMETHEUS",
                       help="Prometheus for the server objectives (default: the target's "
                            "/metrics at the window's start and end)")
    group.add_argument("--slo-out", metavar="DIR", default="reports", env_var="LOADTEST_OUT",
                       help="where the run directory is written (default: reports)")
    group.add_argument("--slo-warmup", metavar="DURATION", default="10s",
                       env_var="LOADTEST_WARMUP",
                       help="start of the run that is not judged (default: 10s)")
    group.add_argument("--slo-baseline", metavar="NAME", default=None,
                       env_var="LOADTEST_BASELINE",
                       help="baseline (promoted name, run directory or results.json): a "
                            "regression fails the gate")


def _usage_exit(message: str) -> None:
    sys.stderr.write(f"loadtest: error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(ExitCode.USAGE)


def build_gate(environment: Any) -> Gate | None:
    """The gate the options ask for (None: no --slo); a bad option or file is a UsageError."""
    opts = environment.parsed_options
    if opts is None or not getattr(opts, "slo", None):
        return None
    if os.environ.get("LOADTEST_LOCUST_OUT"):
        return None  # `loadtest run` drives this Locust and judges it itself
    if not opts.headless:
        raise UsageError("--slo judges a --headless run (add --headless and -t)")
    # the judging code is imported here, when --slo asks for it, not in every Locust process
    from loadtest.locustlib.gate import Gate
    from loadtest.store.baselines import load_baseline

    try:
        warmup_s = parse_duration(opts.slo_warmup)
    except ValueError as e:
        raise UsageError(f"--slo-warmup: {e}") from None
    slo_path = Path(opts.slo)
    slo = load_slo(slo_path)
    out = Path(opts.slo_out)
    baseline = None
    if opts.slo_baseline:
        baseline = load_baseline(Path(opts.slo_baseline), out)
    if not environment.host and not opts.slo_prometheus:
        raise UsageError("--slo needs the target: pass -H URL (its /metrics serves the server "
                         "objectives) or --slo-prometheus URL")
    return Gate(environment, slo_path, slo, warmup_s, out, opts.slo_prometheus, baseline,
                opts.slo_baseline)


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    global GATE
    if isinstance(environment.runner, WorkerRunner):
        return  # a worker's samples reach the master (recorder.py)
    try:
        GATE = build_gate(environment)
        if GATE is None:
            return
        GATE.open_sources()
    except HarnessError as e:
        _usage_exit(e.message) if e.exit_code == ExitCode.USAGE else _fail(environment, e)
        return
    recorder.RECORDER = recorder.Recorder(GATE.run_dir / "locust", environment.runner)
    opts = environment.parsed_options
    workers.record_to(GATE.run_dir / "locust", int(getattr(opts, "expect_workers", 1) or 1))


def _fail(environment: Any, err: HarnessError) -> None:
    sys.stderr.write(f"loadtest: error: {err.message}\n")
    environment.process_exit_code = err.exit_code


@events.test_start.add_listener
def _on_start(environment: Any, **_kw: Any) -> None:
    if GATE is not None:
        GATE.at_start()


@events.test_stopping.add_listener
def _on_stopping(environment: Any, **_kw: Any) -> None:
    if GATE is not None:
        GATE.close_window()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    if GATE is None:
        return
    try:
        results = GATE.judge()
    except HarnessError as e:
        _fail(environment, e)
        return
    except Exception as e:  # never a pass by accident
        log.exception("loadtest: judging the run failed")
        _fail(environment, HarnessError(f"judging the run failed: {type(e).__name__}: {e}"))
        return
    v = results["verdict"]
    sys.stderr.write(f"loadtest: {v['status'].upper()}: {v['reason']} -> "
                     f"{GATE.run_dir / 'index.html'}\n")
    sys.stderr.flush()
    environment.process_exit_code = int(v["exit_code"])
