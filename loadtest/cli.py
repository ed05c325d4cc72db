"""The `loadtest` command: a thin layer over the library. Each command parses its options,
calls one library function and turns a HarnessError into a one-line message and an exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from loadtest import __version__, tls
from loadtest.commands.init import write_defaults
from loadtest.connections import Connections
from loadtest.console import note, terminal
from loadtest.defaults import resolve
from loadtest.durations import parse_duration
from loadtest.errors import ExitCode, HarnessError, UsageError
from loadtest.store.records import ResultsRecord, VerificationRecord

if TYPE_CHECKING:  # the commands are imported when they run: `loadtest --help` stays fast
    from loadtest.commands.run import Outcome

R = TypeVar("R")


def _one_line(text: str, limit: int = 1000) -> str:
    """A message as one line (the contract: one line per error), cut to `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


class _OneLineErrors(TyperGroup):
    """Typer's command group whose usage errors (a bad value, an unknown option or command)
    are one line, `loadtest: error: ...` and exit 2, like the harness's own errors, instead of
    a boxed panel; help is still shown when a group is called without a command."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except typer.TyperException as e:  # click's usage errors, as typer carries them
            code = _usage_error(e)
        except typer.Abort:
            code = ExitCode.INTERRUPTED
        if standalone_mode:
            sys.exit(code)
        return code


def _usage_error(e: typer.TyperException) -> int:
    """One line naming what was wrong and where help is; a group called without a command
    shows its help. Always exit 2: nothing was run."""
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
        typer.echo(ctx.get_help())
        return ExitCode.USAGE
    where = ctx.command_path if ctx is not None else "loadtest"
    typer.echo(f"loadtest: error: {_one_line(e.format_message())} (see `{where} --help`)",
               err=True)
    return ExitCode.USAGE


app = typer.Typer(
    cls=_OneLineErrors,
    name="loadtest",
    help="Synthetic load and SLO verification for the OpsCore API: drive real load, judge the "
         "KPIs from Prometheus, write reports, gate CI on the exit code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"loadtest {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Synthetic load and SLO verification for the OpsCore API."""


def _duration_opt(name: str, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as e:
        raise UsageError(f"--{name}: {e}") from None


# -- options several commands share, declared once ----------------------------------------
InsecureTarget = Annotated[bool, typer.Option(
    "--insecure-target", envvar=["LOADTEST_INSECURE_TARGET", "LOADTEST_TARGET_INSECURE"],
    help="Do not verify the target's TLS certificate (the report warns). A private CA: "
         "LOADTEST_TARGET_CA_FILE=PEM instead.")]
InsecurePrometheus = Annotated[bool, typer.Option(
    "--insecure-prometheus",
    envvar=["LOADTEST_INSECURE_PROMETHEUS", "LOADTEST_PROMETHEUS_INSECURE"],
    help="Do not verify Prometheus' TLS certificate (the report warns). A private CA: "
         "LOADTEST_PROMETHEUS_CA_FILE=PEM instead.")]
HttpBuckets = Annotated[str, typer.Option(
    envvar="LOADTEST_HTTP_BUCKETS", help="Reference target's http_request_duration_seconds "
    "buckets: default (the Go client's, as the guide's backend: no 2 s bound), kpi (with "
    "1.5/1.75/2/2.5 s), or a list of seconds like 0.1,0.5,1,2,5.")]
DbBuckets = Annotated[str, typer.Option(
    envvar="LOADTEST_DB_BUCKETS", help="Reference target's db_query_duration_seconds "
    "buckets: default (the Go client's, 0.1 s is a bound), kpi, or a list of seconds.")]
Probe = Annotated[list[str] | None, typer.Option(
    "--probe", envvar="LOADTEST_PROBE",
    help="Path the preflight GETs on the target, must answer 2xx; repeatable. Default: /health "
         "and /ready. `none` skips the probes.")]
MetricsUrl = Annotated[str | None, typer.Option(
    "--metrics-url", envvar="LOADTEST_METRICS_URL",
    help="Where the harness's own scrapes read the target's metrics (default "
         "{target}/metrics). `none`: read none (needs --prometheus; a dead target is then "
         "seen from the load generator and Prometheus' `up`).")]
RequestTimeout = Annotated[str, typer.Option(
    "--request-timeout", envvar="LOADTEST_REQUEST_TIMEOUT",
    help="Longest one request may take, body included; a slower one is a failed sample.")]
Slo = Annotated[Path, typer.Option(envvar="LOADTEST_SLO", help="SLO file.")]
MetricsSource = Annotated[str, typer.Option(
    "--metrics-source", envvar="LOADTEST_METRICS_SOURCE",
    help="auto, prometheus or embedded.")]
Out = Annotated[Path, typer.Option(envvar="LOADTEST_OUT", help="Reports folder.")]
Workers = Annotated[int, typer.Option(envvar="LOADTEST_WORKERS", help="Locust worker "
                                      "processes (1 = a single local process).")]
Quiet = Annotated[bool, typer.Option(
    "--quiet", "-q", envvar="LOADTEST_QUIET", help="Print only the verdict line (and "
    "errors): no progress, live status or warnings.")]
JsonOut = Annotated[bool, typer.Option(
    "--json", envvar="LOADTEST_JSON", help="Print the result as JSON on stdout (the exit "
    "code is unchanged).")]
# options run and capacity both take, with help of their own
RunTarget = Annotated[str | None, typer.Option(
    envvar="LOADTEST_TARGET", help="Base URL of the API under test. Default: "
    "start the reference target on a free port.")]
CapacityTarget = Annotated[str | None, typer.Option(
    envvar="LOADTEST_TARGET", help="Base URL of the API under test.")]
RunScenario = Annotated[Path, typer.Option(envvar="LOADTEST_SCENARIO",
                                           help="Locust file to run.")]
CapacityScenario = Annotated[Path, typer.Option(envvar="LOADTEST_SCENARIO",
                                                help="Locust file.")]
RunPrometheus = Annotated[str | None, typer.Option(
    envvar="LOADTEST_PROMETHEUS", help="Use this Prometheus. Default: a throwaway local "
    "one if `prometheus` is on PATH, else the embedded metrics source.")]
CapacityPrometheus = Annotated[str | None, typer.Option(envvar="LOADTEST_PROMETHEUS",
                                                        help="Use this Prometheus.")]
RunDatabase = Annotated[str | None, typer.Option(
    envvar="LOADTEST_DATABASE", help="Database of the reference target (sqlite:///PATH "
    "or postgresql://...). Default: SQLite in the run directory.")]
CapacityDatabase = Annotated[str | None, typer.Option(envvar="LOADTEST_DATABASE",
                                                      help="Reference target's database.")]
RunTargetFault = Annotated[list[str] | None, typer.Option(
    "--target-fault", envvar="LOADTEST_TARGET_FAULT",
    help="Fault of the reference target, KEY=VALUE (latency=2s, error_ratio=0.05, "
    "db_latency=50ms, endpoints=/api/v1/documents); repeatable.")]
CapacityTargetFault = Annotated[list[str] | None, typer.Option(
    "--target-fault", envvar="LOADTEST_TARGET_FAULT",
    help="Reference target fault KEY=VALUE (e.g. max_concurrency=4); repeatable.")]
RunUsers = Annotated[int | None, typer.Option(
    envvar="LOADTEST_USERS", help="Locust users (spare capacity for the schedule). "
    "Default: 3 x rate, between 20 and 1000, grown in the warm-up when the tasks need "
    "more (one local Locust process).")]
CapacityUsers = Annotated[int | None, typer.Option(
    envvar="LOADTEST_USERS", help="Locust users of every step. Default: sized per step, "
    "rate x 4 x the previous step's p99 (at least 0.5 s; 3 s for the first step), up to "
    "10,000 per Locust process.")]


def _connections(insecure_target: bool = False, insecure_prometheus: bool = False,
                 request_timeout: str | None = None, insecure_remote_write: bool = False
                 ) -> Connections:
    """TLS and timeout choices, passed to the harness's clients and (in their environment,
    load/runner.locust_env) to the Locust processes."""
    seconds = None
    if request_timeout is not None:
        seconds = _duration_opt("request-timeout", request_timeout)
        if not 0 < seconds <= 600:
            raise UsageError(f"--request-timeout {request_timeout}: use more than 0s and at "
                             "most 10m")
    insecure: set[tls.Server] = set()
    if insecure_target:
        insecure.add("target")
    if insecure_prometheus:
        insecure.add("prometheus")
    if insecure_remote_write:
        insecure.add("remote_write")
    return Connections(request_timeout_s=seconds, insecure=frozenset(insecure))


def _fail(err: HarnessError) -> NoReturn:
    typer.echo(f"loadtest: error: {_one_line(err.message)}", err=True)
    raise typer.Exit(err.exit_code)


def _given(ctx: typer.Context, *names: str) -> frozenset[str]:
    """Options set on the command line or in the environment (not defaults)."""
    # by name: typer may carry its own copy of click's ParameterSource enum
    return frozenset(n for n in names if getattr(ctx.get_parameter_source(n), "name", None)
                     in ("COMMANDLINE", "ENVIRONMENT"))


# -- run ---------------------------------------------------------------------------------------
Rate = Annotated[float, typer.Option(envvar="LOADTEST_RATE", help="Task starts per second "
                                     "to offer (aggregate; a task may make several requests).")]
Duration = Annotated[str, typer.Option(envvar="LOADTEST_DURATION",
                                       help="Judged window length (e.g. 60s, 5m).")]
Warmup = Annotated[str, typer.Option(envvar="LOADTEST_WARMUP",
                                     help="Warm-up before the window (not judged).")]
Shape = Annotated[str, typer.Option(envvar="LOADTEST_SHAPE",
                                    help="Load shape: constant, ramp, step, spike, soak, "
                                    "or a YAML file of stages (which sets the rates, "
                                    "warm-up and window: --rate, --duration and --warmup "
                                    "are refused with it).")]
Arrivals = Annotated[str, typer.Option(envvar="LOADTEST_ARRIVALS",
                                       help="constant spacing or poisson arrivals.")]
Baseline = Annotated[Path | None, typer.Option(
    envvar="LOADTEST_BASELINE", help="Baseline run directory, results.json or promoted "
    "baseline name: a regression against it fails the gate.")]
Tag = Annotated[list[str] | None, typer.Option(
    "--tag", envvar="LOADTEST_TAG", help="KEY=VALUE recorded in the results; repeatable.")]
ReportUrl = Annotated[str | None, typer.Option(
    envvar="LOADTEST_REPORT_URL", help="Where the report will be published (a CI job's "
    "artifact page): recorded in the results and linked from summary.md and pr-comment.md.")]
RemoteWorkers = Annotated[int, typer.Option(
    envvar="LOADTEST_REMOTE_WORKERS", help="Run Locust as a master awaiting this many "
    "workers from other machines (`loadtest worker --master-host ...`).")]
MasterPort = Annotated[int, typer.Option(envvar="LOADTEST_MASTER_PORT",
                                         help="Port the master listens on.")]
MasterBindHost = Annotated[str, typer.Option(
    envvar="LOADTEST_MASTER_BIND_HOST", help="Interface the master listens on.")]
Rules = Annotated[list[Path] | None, typer.Option(
    "--rules", envvar="LOADTEST_RULES", help="Alerting/recording rule file for the local "
    "Prometheus (e.g. deploy/prometheus/alerts.yml); repeatable.")]
Model = Annotated[str, typer.Option(
    envvar="LOADTEST_MODEL", help="open: task starts paced on the harness's schedule at "
    "--rate (latency corrected for coordinated omission); closed: the file's own "
    "wait_time and --users (the achieved rate is reported, not gated).")]
LocustArgs = Annotated[list[str] | None, typer.Argument(
    envvar="LOADTEST_LOCUST_ARGS", metavar="[-- LOCUST_OPTIONS]",
    help="Locust's own options and user class names, after `--` (e.g. -- --tags read).",
    show_default=False)]
FailOnDrift = Annotated[bool, typer.Option(
    envvar="LOADTEST_FAIL_ON_DRIFT", help="Fail the gate (exit 1) when this run "
    "completes a change point for the worse in its load's history (otherwise a warning; "
    "see `loadtest history`).")]
DriftSignificance = Annotated[float, typer.Option(
    envvar="LOADTEST_DRIFT_SIGNIFICANCE", help="Significance of the history's change "
    "point test (E-divisive, permutations).")]
DriftMinSize = Annotated[int, typer.Option(
    envvar="LOADTEST_DRIFT_MIN_SIZE", help="Fewest runs on each side of a change point.")]
NoAbort = Annotated[bool, typer.Option(
    "--no-abort", envvar="LOADTEST_NO_ABORT", help="Ignore the objectives' abort_after "
    "for this run: a sustained breach is shown live but does not stop the load.")]
RemoteWrite = Annotated[str | None, typer.Option(
    "--remote-write", envvar="LOADTEST_REMOTE_WRITE", help="Push the load generator's figures "
    "(requests, client latency histogram, offered rate, objective states, verdict) to this "
    "Prometheus remote-write URL (e.g. http://127.0.0.1:9090/api/v1/write) once a second. "
    "Credentials: LOADTEST_REMOTE_WRITE_TOKEN, or _USER and _PASSWORD; a private CA: "
    "LOADTEST_REMOTE_WRITE_CA_FILE. A failed push is a warning, never the verdict.")]
InsecureRemoteWrite = Annotated[bool, typer.Option(
    "--insecure-remote-write", envvar="LOADTEST_REMOTE_WRITE_INSECURE",
    help="Do not verify the remote-write receiver's TLS certificate (the report warns).")]
GrafanaUrl = Annotated[str | None, typer.Option(
    "--grafana-url", envvar="LOADTEST_GRAFANA_URL", help="Post the run's annotation "
    "(grafana-annotation.json) to this Grafana at the end, with the token in "
    "LOADTEST_GRAFANA_TOKEN; a failed post is a warning.")]
Settle = Annotated[bool, typer.Option(
    "--settle", envvar="LOADTEST_SETTLE", help="End the load as soon as every gating "
    "objective is decided at 95% confidence (sequential test over time blocks, at least 10 "
    "of them); --duration is the longest the judged window may run.")]


@app.command()
def run(
    ctx: typer.Context,
    target: RunTarget = None,
    scenario: RunScenario = Path("scenarios/opscore.py"),
    slo: Slo = Path("slo/opscore.yaml"),
    rate: Rate = 100.0,
    duration: Duration = "60s",
    warmup: Warmup = "10s",
    shape: Shape = "constant",
    arrivals: Arrivals = "constant",
    users: RunUsers = None,
    prometheus: RunPrometheus = None,
    metrics_source: MetricsSource = "auto",
    database: RunDatabase = None,
    target_fault: RunTargetFault = None,
    baseline: Baseline = None,
    out: Out = Path("reports"),
    workers: Workers = 1,
    tag: Tag = None,
    report_url: ReportUrl = None,
    quiet: Quiet = False,
    remote_workers: RemoteWorkers = 0,
    master_port: MasterPort = 5557,
    master_bind_host: MasterBindHost = "*",
    rules: Rules = None,
    probe: Probe = None,
    metrics_url: MetricsUrl = None,
    model: Model = "open",
    locust_args: LocustArgs = None,
    request_timeout: RequestTimeout = "30s",
    insecure_target: InsecureTarget = False,
    insecure_prometheus: InsecurePrometheus = False,
    http_buckets: HttpBuckets = "default",
    db_buckets: DbBuckets = "default",
    fail_on_drift: FailOnDrift = False,
    drift_significance: DriftSignificance = 0.01,
    drift_min_size: DriftMinSize = 3,
    no_abort: NoAbort = False,
    settle: Settle = False,
    remote_write: RemoteWrite = None,
    insecure_remote_write: InsecureRemoteWrite = False,
    grafana_url: GrafanaUrl = None,
) -> None:
    """Drive load, judge every objective, write the reports, exit 0/1/2/3/130."""
    from loadtest.commands.run import RunOptions, run_gate

    _QUIET.set(quiet)
    try:
        connections = _connections(insecure_target, insecure_prometheus, request_timeout,
                                   insecure_remote_write)
        scenario, slo = _defaults(ctx, scenario, slo)
        opts = RunOptions.build(
            target=target, scenario=scenario, slo=slo, rate=rate,
            duration_s=_duration_opt("duration", duration),
            warmup_s=_duration_opt("warmup", warmup), shape=shape, arrivals=arrivals,
            users=users, prometheus=prometheus, metrics_source=metrics_source,
            database=database, target_faults=target_fault or [], baseline=baseline, out=out,
            workers=workers, tags=tag or [], rules=rules or [], probes=probe,
            metrics_url=metrics_url, given=_given(ctx, "rate", "duration", "warmup"),
            model=model, locust_args=locust_args or [], remote_workers=remote_workers,
            master_port=master_port, master_bind_host=master_bind_host,
            report_url=report_url, http_buckets=http_buckets, db_buckets=db_buckets,
            fail_on_drift=fail_on_drift, drift_significance=drift_significance,
            drift_min_size=drift_min_size, remote_write=remote_write,
            grafana_url=grafana_url, abort=not no_abort, settle=settle,
            connections=connections)
        outcome = _live(run_gate, opts)
    except HarnessError as e:
        _fail(e)
    _gate_exit(outcome, quiet)


def _defaults(ctx: typer.Context, scenario: Path, slo: Path) -> tuple[Path, Path]:
    """--scenario/--slo not given and their relative defaults not here: the packaged ones,
    said on stderr (not with --quiet)."""
    scenario, slo, notes = resolve(scenario, slo, _given(ctx, "scenario", "slo"))
    for text in [] if _QUIET.get() else notes:
        note(sys.stderr, f"loadtest: {text}")
    return scenario, slo


_QUIET: ContextVar[bool] = ContextVar("quiet", default=False)  # the command's --quiet


def _live(start: Callable[..., R], opts: Any) -> R:
    """A load command's library call with its progress and live status on stderr (none with
    the command's --quiet)."""
    if _QUIET.get():
        _QUIET.set(False)  # for this command only (tests invoke several in one process)
        return start(opts, progress=lambda _m: None, live=None)
    with terminal(sys.stderr) as term:
        return start(opts, progress=term.message, live=term.status)


def _gate_exit(outcome: Outcome, quiet: bool = False) -> NoReturn:
    for w in [] if quiet else outcome.results.get("warnings", []):
        if w.startswith("drift: "):
            typer.echo(f"loadtest: warning: {w}", err=True)
    if not quiet:
        _summary(outcome.results)
    _verdict(outcome.summary_line)
    raise typer.Exit(outcome.exit_code)



@app.command()
def verify(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    slo: Annotated[Path | None, typer.Option(
        envvar="LOADTEST_SLO", help="Judge with this SLO file instead of the run's.")] = None,
    prometheus: Annotated[str | None, typer.Option(
        envvar="LOADTEST_PROMETHEUS", help="Query this Prometheus instead of the run's saved "
        "embedded scrapes.")] = None,
    out: Annotated[Path | None, typer.Option(
        envvar="LOADTEST_VERIFY_OUT", help="Write the judgement to DIR/<verify-id>/ instead of "
        "RUN_DIR/verify/<verify-id>/.")] = None,
    insecure_prometheus: InsecurePrometheus = False,
    quiet: Quiet = False,
) -> None:
    """Judge a finished run again over its recorded window; the run's own results and reports
    are kept as they are, the new judgement goes beside them (RUN_DIR/verify/<id>/)."""
    from loadtest.commands.verify import reverify
    from loadtest.options import check_url

    try:
        connections = _connections(insecure_prometheus=insecure_prometheus)
        if prometheus:
            check_url("--prometheus", prometheus, "http://127.0.0.1:9090")
        outcome = reverify(run_dir, slo_path=slo, prometheus=prometheus, out=out,
                           insecure_prometheus="prometheus" in connections.insecure)
    except HarnessError as e:
        _fail(e)
    if quiet:
        typer.echo(outcome.summary_line)
        raise typer.Exit(outcome.exit_code)
    verified = outcome.results.get("verification") or VerificationRecord()
    for w in verified.get("sample_warnings", []):
        typer.echo(f"loadtest: warning: {w}", err=True)
    _summary(outcome.results)
    original = verified["original_verdict"]
    killed = outcome.results.get("killed")
    if killed:
        typer.echo(f"(the run never finished: it was killed at {killed['at_iso']}; judged "
                   f"until {killed['judged_until']}, its own record stays `running`)")
    else:
        typer.echo(f"(the run's own verdict stays {original['status'].upper()}: "
                   f"{original.get('reason', '')})")
    _verdict(outcome.summary_line)
    raise typer.Exit(outcome.exit_code)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory holding results.json.")],
) -> None:
    """Render index.html, junit.xml and summary.md again from results.json.

    summary.md is not appended to $GITHUB_STEP_SUMMARY again: the run did that."""
    from loadtest.commands.report import render_again

    try:
        written = render_again(run_dir)
    except HarnessError as e:
        _fail(e)
    for path in written:
        typer.echo(str(path))


@app.command()
def compare(
    baseline: Annotated[Path, typer.Argument(help="Baseline: a run directory, its "
                                             "results.json, or a promoted baseline's name.")],
    run_dir: Annotated[Path, typer.Argument(help="The run to judge against it.")],
    slo: Annotated[Path | None, typer.Option(
        envvar="LOADTEST_SLO", help="Tolerances from this SLO file instead of the run's.")]
        = None,
    out: Annotated[Path, typer.Option(envvar="LOADTEST_OUT", help="Reports folder (where "
                                      "promoted baselines are looked up).")] = Path("reports"),
    quiet: Quiet = False,
    as_json: JsonOut = False,
) -> None:
    """The regression verdict between two finished runs: a table, exit 0/1/2/3."""
    from loadtest.commands.compare import compare_command

    try:
        text, code = compare_command(baseline, run_dir, slo, out, quiet, as_json)
    except HarnessError as e:
        _fail(e)
    typer.echo(text)
    raise typer.Exit(code)


@app.command("history")
def history_cmd(
    metric: Annotated[str | None, typer.Option(
        envvar="LOADTEST_METRIC", help="Only this figure: an objective's name, client_p50_ms, "
        "client_p95_ms, client_p99_ms, client_error_rate or achieved_rate.")] = None,
    since: Annotated[str | None, typer.Option(
        envvar="LOADTEST_SINCE", help="Only runs started at or after this date "
        "(2026-11-01, or 2026-11-01T08:00:00Z).")] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", envvar="LOADTEST_TAG", help="Only runs tagged KEY=VALUE (e.g. "
        "runner=ci-1); repeatable.")] = None,
    history: Annotated[list[Path] | None, typer.Option(
        "--history", envvar="LOADTEST_HISTORY", help="A history.jsonl (or a reports folder "
        "holding one); repeatable: the files of several machines merge. Default: "
        "OUT/history.jsonl.")] = None,
    out: Out = Path("reports"),
    html: Annotated[Path | None, typer.Option(
        envvar="LOADTEST_HTML", help="Also write a self-contained page of the series with "
        "the change points marked to this file.")] = None,
    significance: Annotated[float, typer.Option(
        envvar="LOADTEST_SIGNIFICANCE", help="Significance of the change point test "
        "(E-divisive, permutations).")] = 0.01,
    min_size: Annotated[int, typer.Option(
        envvar="LOADTEST_MIN_SIZE", help="Fewest runs on each side of a change point.")] = 3,
    as_json: JsonOut = False,
) -> None:
    """The series of each key figure over the runs of one load (scenario, rate, shape, tags),
    with the change points found in it, each with its run, git revision and time."""
    from loadtest.commands.history import history as history_lines
    from loadtest.regression.history import Detector

    try:
        lines = history_lines(history or [out], metric, since, tag or [],
                              Detector(significance, min_size),
                              "--history" if history else "--out", html, as_json)
    except HarnessError as e:
        _fail(e)
    for line in lines:
        typer.echo(line)


baseline_app = typer.Typer(help="Named baselines: promote a run for later comparisons.",
                           no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("promote")
def baseline_promote(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    name: Annotated[str, typer.Option(envvar="LOADTEST_NAME",
                                      help="Baseline name (e.g. main).")] = "main",
    out: Out = Path("reports"),
    force: Annotated[bool, typer.Option(envvar="LOADTEST_FORCE", help="Promote a run whose "
                                        "verdict was not a pass (the baseline records it).")]
        = False,
) -> None:
    """Keep a run as the named baseline (reports/baselines/NAME.json); `--baseline NAME`.
    Only a run that passed, unless --force."""
    from loadtest.commands.baseline import promote_run

    try:
        path = promote_run(run_dir, name, out, force)
    except HarnessError as e:
        _fail(e)
    typer.echo(str(path))


# -- capacity ----------------------------------------------------------------------------------
StartRate = Annotated[float, typer.Option(envvar="LOADTEST_START_RATE",
                                          help="First step's req/s.")]
MaxRate = Annotated[float, typer.Option(envvar="LOADTEST_MAX_RATE",
                                        help="Never offer more than this.")]
StepDuration = Annotated[str, typer.Option(envvar="LOADTEST_STEP_DURATION",
                                           help="Judged window of each step.")]
StepWarmup = Annotated[str, typer.Option(envvar="LOADTEST_STEP_WARMUP",
                                         help="Warm-up of each step.")]
Precision = Annotated[float, typer.Option(envvar="LOADTEST_PRECISION",
                                          help="Stop bisecting when (fail - pass) / pass "
                                               "is below this.")]
Require = Annotated[float | None, typer.Option(
    envvar="LOADTEST_REQUIRE", help="Exit 1 when the capacity is below this req/s "
    "(default: the SLO file's throughput objective).")]
Project = Annotated[float | None, typer.Option(
    envvar="LOADTEST_PROJECT", help="Also project how many instances of the target this "
    "req/s needs at the measured capacity (linear scaling).")]
Headroom = Annotated[str, typer.Option(envvar="LOADTEST_HEADROOM",
                                       help="Headroom of the projection: 30% or 0.3.")]
StepAbortAfter = Annotated[str, typer.Option(
    envvar="LOADTEST_STEP_ABORT_AFTER", help="End a step early when an objective it is "
    "judged on (its own abort_after wins), or its completed requests keeping up with the "
    "rate (served), fails at every live evaluation for this long; off: every step runs its "
    "whole duration.")]


@app.command()
def capacity(
    ctx: typer.Context,
    target: CapacityTarget = None,
    scenario: CapacityScenario = Path("scenarios/opscore.py"),
    slo: Slo = Path("slo/opscore.yaml"),
    start_rate: StartRate = 50.0,
    max_rate: MaxRate = 1600.0,
    step_duration: StepDuration = "20s",
    step_warmup: StepWarmup = "5s",
    precision: Precision = 0.1,
    require: Require = None,
    prometheus: CapacityPrometheus = None,
    metrics_source: MetricsSource = "auto",
    database: CapacityDatabase = None,
    target_fault: CapacityTargetFault = None,
    out: Out = Path("reports"),
    users: CapacityUsers = None,
    workers: Workers = 1,
    project: Project = None,
    headroom: Headroom = "30%",
    step_abort_after: StepAbortAfter = "5s",
    probe: Probe = None,
    metrics_url: MetricsUrl = None,
    request_timeout: RequestTimeout = "30s",
    insecure_target: InsecureTarget = False,
    insecure_prometheus: InsecurePrometheus = False,
    quiet: Quiet = False,
) -> None:
    """Find the highest rate at which every objective holds; the latency/throughput curve."""
    from loadtest.commands.capacity import find_capacity
    from loadtest.options import CapacityOptions

    _QUIET.set(quiet)
    try:
        connections = _connections(insecure_target, insecure_prometheus, request_timeout)
        scenario, slo = _defaults(ctx, scenario, slo)
        step_duration_s = _duration_opt("step-duration", step_duration)
        step_warmup_s = _duration_opt("step-warmup", step_warmup)
        step_abort_after_s = None if step_abort_after.strip().lower() == "off" \
            else _duration_opt("step-abort-after", step_abort_after)
        opts = CapacityOptions.build(
            target=target, scenario=scenario, slo=slo, start_rate=start_rate,
            max_rate=max_rate, step_duration_s=step_duration_s, step_warmup_s=step_warmup_s,
            precision=precision, require=require, prometheus=prometheus,
            metrics_source=metrics_source, database=database,
            target_faults=target_fault or [], out=out, users=users, workers=workers,
            project=project, headroom=headroom,
            step_abort_after_s=step_abort_after_s, probes=probe, metrics_url=metrics_url,
            connections=connections)
        results = _live(find_capacity, opts)
    except HarnessError as e:
        _fail(e)
    _capacity_exit(results, quiet)


def _capacity_exit(results: ResultsRecord, quiet: bool = False) -> NoReturn:
    v = results["verdict"]
    cap = results["capacity"]
    assert cap is not None  # a capacity search's
    if not quiet:
        _summary(results)
    if (bottle := cap.get("bottleneck")) and not quiet:
        typer.echo(f"bottleneck: {bottle['text']}")
    if (planned := cap.get("projection")) and not quiet:
        typer.echo(f"projection: {planned['text']}")
    _verdict(f"{v['status'].upper()}: {v['reason']} -> {results['run_dir']}/index.html")
    raise typer.Exit(v["exit_code"])



def _summary(results: ResultsRecord) -> None:
    """The tables a load command ends with, on stdout before its verdict line (the last)."""
    from loadtest.reports.terminal import summary_tables

    # a CI log is no terminal: wide enough that names are not folded (unless COLUMNS says)
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(file=sys.stdout, width=120 if wide else None, highlight=False)
    for table in summary_tables(results):
        console.print(table)


def _verdict(line: str) -> None:
    """The verdict line, last on stdout: as it is for scripts; wrapped within the width on a
    terminal (a person's)."""
    note(sys.stdout, line)


@app.command()
def judge(
    prometheus: Annotated[str, typer.Option(
        envvar="LOADTEST_PROMETHEUS", help="The Prometheus holding the traffic's metrics.")],
    slo: Slo = Path("slo/opscore.yaml"),
    last: Annotated[str | None, typer.Option(
        envvar="LOADTEST_LAST", help="Judge the window ending now, this long (e.g. 10m).")]
        = None,
    from_: Annotated[str | None, typer.Option(
        "--from", envvar="LOADTEST_FROM", help="Start of the window: ISO 8601 (UTC unless "
        "an offset is given) or epoch seconds.")] = None,
    to: Annotated[str | None, typer.Option(
        envvar="LOADTEST_TO", help="End of the window (same forms; not in the future).")]
        = None,
    selector: Annotated[list[str] | None, typer.Option(
        "--selector", envvar="LOADTEST_SELECTOR", help="KEY=VALUE added to every query "
        "(the canary's labels, e.g. version=canary); repeatable.")] = None,
    baseline_selector: Annotated[list[str] | None, typer.Option(
        "--baseline-selector", envvar="LOADTEST_BASELINE_SELECTOR", help="KEY=VALUE of the "
        "stable version to compare the --selector traffic with over the same window "
        "(e.g. version=stable); repeatable.")] = None,
    out: Out = Path("reports"),
    tag: Tag = None,
    insecure_prometheus: InsecurePrometheus = False,
) -> None:
    """Judge a window of traffic the harness did not make (no load, no stack): same
    objectives, verdicts, run directory, reports and exit codes as `run`."""
    from loadtest.commands.judge import JudgeOptions, judge_window, resolve_window
    from loadtest.options import check_url
    from loadtest.rules import parse_pairs

    try:
        connections = _connections(insecure_prometheus=insecure_prometheus)
        check_url("--prometheus", prometheus, "http://127.0.0.1:9090")
        opts = JudgeOptions(
            prometheus=prometheus, slo=slo, window=resolve_window(last, from_, to), out=out,
            selector=parse_pairs(selector or [], "--selector"),
            baseline_selector=(parse_pairs(baseline_selector, "--baseline-selector")
                               if baseline_selector else None),
            tags=parse_pairs(tag or [], "--tag"),
            insecure_prometheus="prometheus" in connections.insecure)
        outcome = judge_window(opts)
    except HarnessError as e:
        _fail(e)
    typer.echo(outcome.summary_line)
    raise typer.Exit(outcome.exit_code)


slo_app = typer.Typer(help="SLO files: validate them, check them against a Prometheus, "
                      "import OpenSLO, write Prometheus rules.",
                      no_args_is_help=True)
app.add_typer(slo_app, name="slo")


@slo_app.command("check")
def slo_check(
    file: Annotated[Path, typer.Argument(help="The SLO file.")],
    prometheus: Annotated[str | None, typer.Option(
        envvar="LOADTEST_PROMETHEUS", help="Also check, in this Prometheus, every "
        "metric with its selector and filters, the latency thresholds against the live "
        "buckets, and every raw query (WARN lines do not fail the check).")] = None,
    insecure_prometheus: InsecurePrometheus = False,
) -> None:
    """Validate an SLO file (exit 2 with the line and field when it is wrong)."""
    from loadtest.commands.slo_check import check_slo, raise_if_failed
    from loadtest.options import check_url

    try:
        connections = _connections(insecure_prometheus=insecure_prometheus)
        if prometheus:
            check_url("--prometheus", prometheus, "http://127.0.0.1:9090")
        _, checks = check_slo(file, prometheus, "prometheus" in connections.insecure)
        for c in checks:
            typer.echo(f"{c.label} {c.what}: {c.detail}")
        raise_if_failed(checks)
    except HarnessError as e:
        _fail(e)


@slo_app.command("import")
def slo_import(
    file: Annotated[Path, typer.Argument(help="The OpenSLO v1 file.")],
    out: Annotated[Path | None, typer.Option(
        "--out", envvar="LOADTEST_SLO_OUT", help="Write the native SLO file here (default: "
        "standard output).")] = None,
) -> None:
    """An OpenSLO v1 file as the equivalent native SLO file (`--slo` reads OpenSLO as it is)."""
    from loadtest.commands.slo_import import write_import

    try:
        text = write_import(file, out)
    except HarnessError as e:
        _fail(e)
    typer.echo(f"wrote {out}" if out is not None else text.rstrip("\n"))


@slo_app.command("rules")
def slo_rules(
    file: Annotated[Path, typer.Argument(help="The SLO file (native or OpenSLO).")],
    out: Annotated[Path | None, typer.Option(
        "--out", envvar="LOADTEST_RULES_OUT", help="Write the rule file here (default: "
        "standard output).")] = None,
    selector: Annotated[list[str] | None, typer.Option(
        "--selector", envvar="LOADTEST_RULES_SELECTOR", help="KEY=VALUE added to the SLO "
        "file's selector in every query (e.g. namespace=prod); repeatable.")] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", envvar="LOADTEST_RULES_LABEL", help="KEY=VALUE put on every rule and "
        "alert (e.g. team=docs); repeatable.")] = None,
    buckets: Annotated[str | None, typer.Option(
        "--buckets", envvar="LOADTEST_RULES_BUCKETS", help="The latency histograms' bucket "
        "bounds in seconds (0.1,0.25,...): a threshold that is not one is refused.")] = None,
    prometheus: Annotated[str | None, typer.Option(
        "--prometheus", envvar="LOADTEST_PROMETHEUS", help="Read the bucket bounds from "
        "this Prometheus instead of --buckets.")] = None,
) -> None:
    """Prometheus recording rules and multi-window burn-rate alerts for each availability
    and latency objective (promtool-valid)."""
    from loadtest.commands.slo_rules import write_rules

    try:
        text, rules = write_rules(file, out, selector or [], label or [], buckets, prometheus)
    except HarnessError as e:
        _fail(e)
    for line in rules.notes:
        typer.echo(f"note: {line}", err=True)
    typer.echo(f"wrote {out} ({len(rules.groups)} objectives)" if out is not None
               else text.rstrip("\n"))


@app.command()
def worker(
    master_host: Annotated[str, typer.Option(envvar="LOADTEST_MASTER_HOST",
                                             help="Host of the `loadtest run` master.")],
    master_port: Annotated[int, typer.Option(envvar="LOADTEST_MASTER_PORT",
                                             help="Its port.")] = 5557,
    scenario: Annotated[Path, typer.Option(envvar="LOADTEST_SCENARIO",
                                           help="The same Locust file as the master's.")]
        = Path("scenarios/opscore.py"),
    request_timeout: RequestTimeout = "30s",
    insecure_target: InsecureTarget = False,
) -> None:
    """A Locust worker on this machine for a `loadtest run --remote-workers N` master."""
    from loadtest.commands import worker as command

    try:
        connections = _connections(insecure_target, request_timeout=request_timeout)
        command.check(master_host, master_port, scenario)
    except HarnessError as e:
        _fail(e)
    raise typer.Exit(command.work(master_host, master_port, scenario, connections))


# -- target ------------------------------------------------------------------------------------
Port = Annotated[int, typer.Option(envvar=["LOADTEST_PORT", "LOADTEST_TARGET_PORT"],
                                   help="TCP port.")]
Host = Annotated[str, typer.Option(envvar=["LOADTEST_HOST", "LOADTEST_TARGET_HOST"],
                                   help="Address to bind.")]
TargetDatabase = Annotated[str | None, typer.Option(
    envvar="LOADTEST_DATABASE", help="sqlite:///PATH or postgresql://user@host:port/db. "
    "Default: a SQLite file in a fresh temporary folder, removed when it stops.")]
StorageDir = Annotated[Path | None, typer.Option(
    envvar="LOADTEST_STORAGE_DIR", help="Where attachments are stored.")]
SeedDocuments = Annotated[int, typer.Option(
    envvar="LOADTEST_SEED_DOCUMENTS", help="Documents to create at start if fewer exist.")]
Latency = Annotated[str | None, typer.Option(
    envvar=["LOADTEST_LATENCY", "LOADTEST_FAULT_LATENCY"], help="Added latency: 300ms, "
    "uniform:1s,3s, normal:2s,300ms, exp:200ms, lognormal:500ms,0.5.")]
ErrorRatio = Annotated[float, typer.Option(
    envvar=["LOADTEST_ERROR_RATIO", "LOADTEST_FAULT_ERROR_RATIO"],
    help="Share of requests answered with 500.")]
DbLatency = Annotated[str | None, typer.Option(
    envvar=["LOADTEST_DB_LATENCY", "LOADTEST_FAULT_DB_LATENCY"],
    help="Added time per DB query (same forms).")]
MaxConcurrency = Annotated[int, typer.Option(
    envvar=["LOADTEST_MAX_CONCURRENCY", "LOADTEST_FAULT_MAX_CONCURRENCY"],
    help="At most N requests in service at once (the rest queue): a capacity limit.")]
Cpu = Annotated[str | None, typer.Option(
    envvar=["LOADTEST_CPU", "LOADTEST_FAULT_CPU"], help="CPU time burnt per request in "
    "the server's loop (same forms as --latency): a CPU-bound capacity limit.")]
DbPoolSize = Annotated[int, typer.Option(
    envvar="LOADTEST_DB_POOL_SIZE", help="PostgreSQL: at most N connections (the rest "
    "wait for one).")]
FaultEndpoint = Annotated[list[str] | None, typer.Option(
    "--fault-endpoint", envvar="LOADTEST_FAULT_ENDPOINT",
    help="Limit the faults to these route templates (globs); repeatable.")]
TlsCert = Annotated[Path | None, typer.Option(
    envvar=["LOADTEST_TLS_CERT", "LOADTEST_TARGET_TLS_CERT"],
    help="Serve https with this PEM certificate (with --tls-key).")]
TlsKey = Annotated[Path | None, typer.Option(
    envvar=["LOADTEST_TLS_KEY", "LOADTEST_TARGET_TLS_KEY"], help="Its PEM private key.")]
MetricsPort = Annotated[int | None, typer.Option(
    envvar="LOADTEST_METRICS_PORT", help="Serve /metrics on this port (plain "
    "http) instead of the API's, like a service scraped on a port of its own.")]
Ready = Annotated[bool, typer.Option(
    "--ready/--no-ready", envvar="LOADTEST_READY",
    help="Serve /ready (--no-ready: only /health, like a service without a readiness "
    "probe).")]


@app.command("target")
def target_cmd(
    port: Port = 8080,
    host: Host = "127.0.0.1",
    database: TargetDatabase = None,
    storage_dir: StorageDir = None,
    seed_documents: SeedDocuments = 200,
    latency: Latency = None,
    error_ratio: ErrorRatio = 0.0,
    db_latency: DbLatency = None,
    max_concurrency: MaxConcurrency = 0,
    cpu: Cpu = None,
    db_pool_size: DbPoolSize = 10,
    fault_endpoint: FaultEndpoint = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    metrics_port: MetricsPort = None,
    ready: Ready = True,
    http_buckets: HttpBuckets = "default",
    db_buckets: DbBuckets = "default",
) -> None:
    """Serve the reference OpsCore API (faults also change at run time: PUT /admin/faults)."""
    from loadtest.commands.target import serve_target

    try:
        serve_target(port=port, host=host, database=database, storage_dir=storage_dir,
                     seed_documents=seed_documents, latency=latency, error_ratio=error_ratio,
                     db_latency=db_latency, max_concurrency=max_concurrency, cpu=cpu,
                     db_pool_size=db_pool_size, fault_endpoint=fault_endpoint or [],
                     tls_cert=tls_cert, tls_key=tls_key, metrics_port=metrics_port,
                     ready=ready, http_buckets=http_buckets, db_buckets=db_buckets)
    except HarnessError as e:
        _fail(e)



@app.command("init")
def init_cmd(
    folder: Annotated[Path, typer.Argument(help="Where to write (default: here).")]
        = Path("."),
    ci: Annotated[str, typer.Option(
        envvar="LOADTEST_CI", help="The CI file to write too: github "
        "(.github/workflows/loadtest.yml), gitlab (.gitlab-ci.yml) or none.")] = "github",
    force: Annotated[bool, typer.Option(
        "--force", envvar="LOADTEST_FORCE", help="Overwrite files that exist.")] = False,
) -> None:
    """Write editable copies of the packaged defaults: scenarios/opscore.py, slo/opscore.yaml
    and a CI file (then `loadtest run` uses them)."""
    try:
        written = write_defaults(folder, ci, force)
    except HarnessError as e:
        _fail(e)
    for path in written:
        typer.echo(str(path))


def main() -> None:
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
