"""`loadtest run`, end to end: stack -> preflight -> load -> window -> settle -> verify ->
results -> report -> exit code. And `loadtest verify`: judge a finished run again."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import __version__, tls
from loadtest.commands.slo_check import bucket_warnings
from loadtest.errors import (
    ConfigError,
    HarnessError,
    Interrupted,
    PrometheusUnavailable,
    UsageError,
)
from loadtest.load.phase import PhaseState, cut_window, drive, iso
from loadtest.metrics.base import MetricsSource, Window
from loadtest.slo import SloFile, load_slo, parse_slo
from loadtest.stack.open import NO_METRICS, SNAPSHOTS, StackOptions, open_stack, up_matchers
from loadtest.stack.servers import DEFAULT_PROBES
from loadtest.store.digests import changed_samples, sample_digests, slo_record

Progress = Callable[[str], None]
ARRIVALS = ("constant", "poisson")
SOURCES = ("auto", "prometheus", "embedded")
FAULT_KEYS = ("latency", "error_ratio", "db_latency", "max_concurrency", "endpoints", "cpu",
              "db_pool_size")
DELIVERY_TOLERANCE = 0.05   # achieved client rate within 5% of the request
MODELS = ("open", "closed")


@dataclass(frozen=True)
class RunOptions:
    target: str | None
    scenario: Path
    slo: Path
    rate: float
    duration_s: float
    warmup_s: float
    shape: str
    arrivals: str
    users: int
    prometheus: str | None
    metrics_source: str
    database: str | None
    target_faults: dict[str, Any]
    baseline: Path | None
    out: Path
    workers: int
    tags: dict[str, str]
    rules: tuple[Path, ...] = ()
    remote_workers: int = 0
    master_port: int = 5557
    master_bind_host: str = "*"
    http_buckets: str = "default"  # the reference target's histograms
    db_buckets: str = "default"
    probes: tuple[str, ...] = DEFAULT_PROBES
    metrics_url: str | None = None  # None: {target}/metrics; "none": no own scrapes
    fail_on_drift: bool = False  # a change point completed by this run fails it (regression/history.py)
    drift_significance: float = 0.01
    drift_min_size: int = 3
    model: str = "open"                # open: paced on the schedule; closed: the file's own
    locust_args: tuple[str, ...] = ()  # Locust's own options (after `--`)
    abort: bool = True  # False: --no-abort, objectives' abort_after ignored for this run

    @classmethod
    def build(cls, *, target: str | None, scenario: Path, slo: Path, rate: float,
              duration_s: float, warmup_s: float, shape: str, arrivals: str,
              users: int | None, prometheus: str | None, metrics_source: str,
              database: str | None, target_faults: list[str], baseline: Path | None, out: Path,
              workers: int, tags: list[str], rules: list[Path] | None = None,
              given: frozenset[str] = frozenset(), probes: list[str] | None = None,
              metrics_url: str | None = None, model: str = "open",
              locust_args: list[str] | None = None) -> RunOptions:
        """`given`: the options set explicitly (command line or environment); a stage file
        sets rate, warm-up and window itself and refuses them."""
        from loadtest.load.locustfiles import check_locust_args, check_locustfile
        from loadtest.load.runner import default_users

        if not rate > 0:
            raise UsageError(f"--rate {rate}: must be > 0 requests per second")
        if duration_s < 1:
            raise UsageError(f"--duration {duration_s}s: the window must be at least 1s "
                             "(4 x the scrape interval or more is sound)")
        from loadtest.load.shapes import build

        profile = build(shape, rate, warmup_s, duration_s)  # raises on an unknown shape
        from loadtest.load.shapes import is_file

        if is_file(shape):  # the stage file sets these: refuse them, record what runs
            clash = [n for n in ("rate", "duration", "warmup") if n in given]
            if clash:
                raise UsageError(f"--{clash[0]} (or LOADTEST_{clash[0].upper()}): the stage "
                                 f"file {shape} sets the rates, the warm-up and the judged "
                                 f"window; drop --{clash[0]} or edit the file")
            rate = max(r for _, r in profile.points)
            warmup_s = profile.judge_from
            duration_s = profile.judge_to - profile.judge_from
        if arrivals not in ARRIVALS:
            raise UsageError(f"--arrivals {arrivals!r}: use constant or poisson")
        if metrics_source not in SOURCES:
            raise UsageError(f"--metrics-source {metrics_source!r}: use auto, prometheus or "
                             "embedded")
        if not 1 <= workers <= 64:
            raise UsageError(f"--workers {workers}: use 1 to 64 local Locust processes")
        if users is not None and users < 1:
            raise UsageError(f"--users {users}: must be >= 1")
        if not scenario.is_file():
            raise UsageError(f"--scenario {scenario}: no such file (e.g. scenarios/opscore.py)")
        if model not in MODELS:
            raise UsageError(f"--model {model!r}: use open (paced on the harness's schedule) or "
                             "closed (the file's own wait_time)")
        if model == "closed" and shape != "constant":
            raise UsageError(f"--shape {shape}: shapes pace the open model; with --model closed "
                             "the users' own wait_time (or a LoadTestShape in the file) sets the "
                             "load")
        if model == "closed" and users is None:
            raise UsageError("--model closed: pass --users N (the number of Locust users; "
                             "their own wait_time sets the rate)")
        passed = check_locust_args(locust_args or [])
        check_locustfile(scenario)
        if target is not None and not target.startswith(("http://", "https://")):
            raise UsageError(f"--target {target!r}: give a base URL like http://127.0.0.1:8080")
        for rule_file in rules or []:
            if not rule_file.is_file():
                raise UsageError(f"--rules {rule_file}: no such file")
        if rules and prometheus:
            raise UsageError("--rules loads rule files into the local Prometheus; an external "
                             "--prometheus evaluates its own rules")
        if target is not None and (database or target_faults):
            raise UsageError("--database and --target-fault configure the reference target; "
                             "they do not apply with --target")
        faults: dict[str, Any] = {}
        for item in target_faults:
            key, sep, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in FAULT_KEYS:
                raise UsageError(f"--target-fault {item!r}: use KEY=VALUE with KEY one of "
                                 f"{', '.join(FAULT_KEYS)}")
            if key == "endpoints":
                faults.setdefault("endpoints", []).append(value)
            else:
                faults[key] = value
        probe_paths = check_probes(probes)
        metrics_url = check_metrics_url(metrics_url, target, prometheus, metrics_source)
        tag_map: dict[str, str] = {}
        for item in tags:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"--tag {item!r}: use KEY=VALUE")
            tag_map[key] = value
        return cls(target=target, scenario=scenario, slo=slo, rate=rate, duration_s=duration_s,
                   warmup_s=warmup_s, shape=shape, arrivals=arrivals,
                   users=users or default_users(max(r for _, r in profile.points)),
                   prometheus=prometheus,
                   metrics_source=metrics_source, database=database, target_faults=faults,
                   baseline=baseline, out=out, workers=workers, tags=tag_map,
                   rules=tuple(rules or ()), probes=probe_paths, metrics_url=metrics_url,
                   model=model, locust_args=passed)


def check_probes(probes: list[str] | None) -> tuple[str, ...]:
    """--probe PATH (repeatable) or --probe none; default the guide's /health and /ready."""
    if not probes:
        return DEFAULT_PROBES
    if any(p.strip().lower() == "none" for p in probes):
        if len(probes) > 1:
            raise UsageError(f"--probe none skips the probes; do not combine it with "
                             f"--probe {', '.join(p for p in probes if p.lower() != 'none')}")
        return ()
    for p in probes:
        if not p.startswith("/") or any(c.isspace() for c in p):
            raise UsageError(f"--probe {p!r}: give a path on the target such as /health or "
                             "/-/healthy (or --probe none to skip the probes)")
    return tuple(dict.fromkeys(probes))


def check_metrics_url(metrics_url: str | None, target: str | None, prometheus: str | None,
                      metrics_source: str = "auto") -> str | None:
    """--metrics-url URL|none: where the harness's own scrapes read the target's metrics."""
    if metrics_url is None or metrics_url == "":
        return None
    if target is None:
        raise UsageError("--metrics-url describes your service's metrics; it needs --target "
                         "(the reference target serves them at its own /metrics)")
    if metrics_url.strip().lower() == NO_METRICS:
        if not prometheus:
            raise UsageError("--metrics-url none: the harness reads no metrics of the target, "
                             "so --prometheus URL (the Prometheus that scrapes it) is required")
        if metrics_source == "embedded":
            raise UsageError("--metrics-url none leaves nothing for --metrics-source embedded "
                             "to read; use --prometheus URL")
        return NO_METRICS
    if not metrics_url.startswith(("http://", "https://")):
        raise UsageError(f"--metrics-url {metrics_url!r}: give a full URL like "
                         "http://127.0.0.1:9100/metrics, or none")
    return metrics_url


@dataclass
class Outcome:
    run_dir: Path
    results: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return int(self.results["verdict"]["exit_code"])

    @property
    def summary_line(self) -> str:
        v = self.results["verdict"]
        return f"{v['status'].upper()}: {v['reason']} -> {self.run_dir / 'index.html'}"




@contextlib.contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGINT) raise Interrupted in the main thread, so cleanup runs."""
    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}")

    try:
        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread (e.g. called from a test thread)
        yield
        return
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _new_run_dir(out: Path) -> tuple[str, Path]:
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    run_dir = out / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        probe = run_dir / ".writable"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write a run directory there ({e.strerror}); "
                         "pass a writable --out") from None
    return run_id, run_dir


def _point_latest(out: Path, run_id: str) -> None:
    link = out / "latest"
    tmp = out / f".latest-{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_id, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _no_empty_run_dir(run_dir: Path, measured: Callable[[], bool]) -> Iterator[None]:
    """A preflight error (nothing measured) leaves no empty run directory behind; one that
    holds files (the target's or Prometheus' logs) is kept, and the message says where."""
    try:
        yield
    except HarnessError as e:
        if measured():
            raise
        (run_dir / "results.json").unlink(missing_ok=True)  # the `running` record of nothing
        if not any(p.is_file() for p in run_dir.rglob("*")):
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        raise type(e)(f"{e.message} (logs in {run_dir})") from None


def run_gate(opts: RunOptions, progress: Progress = lambda _m: None,
             live: Progress | None = None) -> Outcome:
    from loadtest.load.runner import LoadPlan
    from loadtest.stack.servers import prometheus_binary

    slo = load_slo(opts.slo)
    baseline = None
    baseline_note = None
    if opts.baseline is not None:
        from loadtest.store.baselines import load_baseline

        baseline = load_baseline(opts.baseline, opts.out)
        baseline_note = str(baseline["run"].get("id"))
    if opts.metrics_source == "prometheus" and not opts.prometheus and not prometheus_binary():
        raise UsageError("--metrics-source prometheus: `prometheus` is not on PATH "
                         "(apt-get install -y prometheus) and no --prometheus URL was given")
    run_id, run_dir = _new_run_dir(opts.out)
    state = PhaseState()
    meta: dict[str, Any] = {
        "id": run_id, "harness_version": __version__, "git_revision": _git_revision(),
        "started_at": datetime.now(UTC).isoformat(), "scenario": str(opts.scenario),
        "slo_file": str(opts.slo), "rate": opts.rate, "shape": opts.shape,
        "arrivals": opts.arrivals, "users": opts.users, "warmup_s": opts.warmup_s,
        "duration_s": opts.duration_s, "tags": opts.tags, "baseline": baseline_note,
        "workers": opts.workers, "remote_workers": opts.remote_workers,
        "slo": slo_record(opts.slo),  # its text and digest, as judged
        "model": opts.model, "locust_args": list(opts.locust_args),
    }
    from loadtest.load.shapes import build as build_shape
    from loadtest.load.shapes import describe as describe_shape

    offered = (f"{opts.users} users on their own wait_time (closed model)"
               if opts.model == "closed" else
               describe_shape(build_shape(opts.shape, opts.rate, opts.warmup_s,
                                          opts.duration_s)))
    progress(f"run {run_id}: {offered} -> {run_dir}")
    from loadtest.store.results import running_results
    from loadtest.store.results import write_results as write_running

    write_running(run_dir, running_results(meta, "started"))  # replaced at each phase

    def window_known(state: PhaseState) -> None:
        if state.window is not None:
            meta["window"] = window_record(state.window)
            meta["load_started"] = state.run_start
        write_running(run_dir, running_results(meta, "load"))
    source: MetricsSource | None = None
    scrapes: Any = None  # the harness's own scrapes of the target (EmbeddedSource)
    stack_opts = StackOptions(target=opts.target, prometheus=opts.prometheus,
                              metrics_source=opts.metrics_source, database=opts.database,
                              target_faults=opts.target_faults, rules=opts.rules,
                              http_buckets=opts.http_buckets, db_buckets=opts.db_buckets,
                              probes=opts.probes, metrics_url=opts.metrics_url)
    stack = None
    with _no_empty_run_dir(run_dir, lambda: state.run_start is not None), \
            contextlib.ExitStack() as exits, \
            _signals_as_interrupt():
        try:
            stack = open_stack(stack_opts, slo, run_dir, exits, progress,
                               window=("--duration", opts.duration_s))
            meta.update(stack.meta)
            meta["preflight_warnings"] = bucket_warnings(slo, stack.source)
            for warning in meta["preflight_warnings"]:
                progress(f"warning: {warning}")
            source, scrapes = stack.source, stack.scrapes
            from loadtest.load.shapes import build

            profile = build(opts.shape, opts.rate, opts.warmup_s, opts.duration_s)
            meta["profile"] = {"points": profile.points, "judge_from": profile.judge_from,
                               "judge_to": profile.judge_to}
            write_running(run_dir, running_results(meta, "stack"))
            plan = LoadPlan(scenario=opts.scenario, host=stack.target_url, rate=opts.rate,
                            users=opts.users, warmup_s=opts.warmup_s,
                            duration_s=opts.duration_s, out_dir=run_dir / "locust",
                            arrivals=opts.arrivals, profile=profile, workers=opts.workers,
                            remote_workers=opts.remote_workers, master_port=opts.master_port,
                            master_bind_host=opts.master_bind_host, model=opts.model,
                            locust_args=opts.locust_args)
            drive(plan, stack, state, exits, progress, live, on_window=window_known, slo=slo,
                  abort=opts.abort)
        except Interrupted:
            state.interrupted = True
            progress("interrupted: stopping the load and writing partial results")
            if state.load is not None:
                state.locust_exit = state.load.interrupt()
            cut_window(state, stack, progress)
        except HarnessError as e:
            if state.run_start is None:
                raise  # nothing measured yet: a preflight error
            state.problems.append(e.message)
        # -- verify, results, report (still inside the stack: the source may be needed) --
        results = _assemble(opts, slo, source, state, run_dir, meta,
                            scrapes=scrapes, baseline=baseline)
    from loadtest.reports import render_all
    from loadtest.store.baselines import append_history, read_history
    from loadtest.store.results import write_results

    results["history"] = read_history(opts.out, limit=50)
    from loadtest.regression.history import Detector, drift_check

    drift_check(results, opts.out, opts.fail_on_drift,  # as if this run's line were appended
                Detector(opts.drift_significance, opts.drift_min_size))
    results["inputs"] = {"samples": sample_digests(run_dir)}  # checked by `loadtest verify`
    write_results(run_dir, results)
    render_all(results, run_dir)
    _point_latest(opts.out, run_id)
    append_history(results, opts.out)
    return Outcome(run_dir=run_dir, results=results)



def _assemble(opts: RunOptions | None, slo: SloFile, source: MetricsSource | None,
              state: PhaseState, run_dir: Path, meta: dict[str, Any],
              scrapes: Any = None, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    from loadtest.judge.objectives import evaluate, interpolation_warnings, matchers_for
    from loadtest.load.health import early_p95_ms, saturation_problems, shortfall
    from loadtest.load.runner import lost_worker_problems, read_workers
    from loadtest.slo import DbLatencyObjective
    from loadtest.store.client_samples import ClientSamples, client_stats
    from loadtest.store.results import decide
    from loadtest.store.samples import MAX_COMPACT_SAMPLES

    window = state.window
    objectives: list[dict[str, Any]] = []
    warnings: list[str] = tls.warnings(meta.get("tls", {})) + list(
        meta.get("preflight_warnings", []))
    df = None  # the load generator's samples, streamed (never all in memory)
    requested = meta.get("rate") or 0
    if window is not None:
        if state.interrupted and time.time() < window.end:
            window = Window(window.start, max(window.start + 1.0, time.time()))
        if state.run_start is not None:
            df = ClientSamples(run_dir / "locust", window, state.run_start,
                               thresholds_s=latency_thresholds(slo))
        if state.run_start is not None and meta.get("profile"):
            requested = offered_rate(meta, window, state.run_start)
        if source is not None:
            objectives = [o.to_dict() for o in evaluate(
                slo, source, window, client=df,
                offered_rate=offered_requests(requested, meta, df, run_dir, window))]
            warnings.extend(interpolation_warnings(objectives))
            health = source.scrape_health(window)
            meta["scrape_health"] = health
            if health.get("failed"):
                warnings.append(f"{health['failed']:.0f} of {health.get('scrapes') or 0:.0f} "
                                "scrapes of the target failed inside the window: counts are "
                                "extrapolated over the gaps")
            if health.get("restarts"):
                warnings.append(f"the target restarted {health['restarts']:.0f} time(s) inside "
                                "the window: what it observed after its last scrape is lost")
    client: dict[str, Any] = {}
    samples: dict[str, Any] = {}
    cpu = state.cpu.summary(window.start, window.end) if state.cpu is not None and \
        window is not None else state.cpu_summary
    load: dict[str, Any] = {"requested_rate": meta.get("rate"),
                            "locust_exit_code": state.locust_exit}
    if window is not None and scrapes is not None:
        histograms = {}
        for obj in slo.objectives:
            if isinstance(obj, DbLatencyObjective):
                blocks = scrapes.interval_buckets(slo.metrics.db_duration,
                                                  matchers_for(slo, obj, http=False), window)
                if blocks:
                    histograms[obj.name] = blocks
        samples["server_histograms"] = histograms
    if window is not None and state.run_start is not None and df is not None:
        client = client_stats(df, MAX_COMPACT_SAMPLES)
        from loadtest.store.samples import load_task_starts, task_totals

        client["totals"].update(task_totals(load_task_starts(run_dir / "locust"), window))
        if meta.get("model") == "closed":  # intended start = actual start: nothing to correct
            client["totals"]["corrected_latency_ms"] = None
            warnings.append("closed model: the load followed the file's own wait_time, so "
                            "latency is as measured, not corrected for coordinated omission "
                            "(client latency objectives judge measured latency)")
        from loadtest.judge.objectives import evaluate_client

        client_objs = {o.name: o.to_dict() for o in evaluate_client(slo, df, window)}
        objectives = [o for o in objectives if o["name"] not in client_objs]
        order = [o.name for o in slo.objectives]
        objectives = sorted(objectives + list(client_objs.values()),
                            key=lambda o: order.index(o["name"]) if o["name"] in order else 0)
        samples["client"] = df.compact(MAX_COMPACT_SAMPLES)
        if scrapes is not None:
            from loadtest.metrics.server_series import server_timeseries

            client["server_timeseries"] = server_timeseries(
                scrapes, slo, state.run_start, window.end + 2)
        achieved = client["totals"]["achieved_rate"]
        load["request_rate"] = achieved
        if "task_rate" in client["totals"]:  # --rate counts task starts
            achieved = client["totals"]["task_rate"]
        load["achieved_rate"] = achieved
        load["requested_rate"] = requested
        if meta.get("model") == "closed":  # the file's own pacing: reported, not gated
            requested = 0
            load["requested_rate"] = None
            load["model"] = "closed"
        delivered = requested == 0 or achieved >= requested * (1 - DELIVERY_TOLERANCE)
        load["delivered"] = delivered
        if not delivered and not state.interrupted:
            # the server cannot be judged on a rate it was not offered
            for o in objectives:
                # (a pass judged against what was sent is not shown either: the target
                # served all it got, but was not offered the rate)
                if o["kind"] == "throughput" and (o["status"] == "fail" or (
                        o.get("extra") or {}).get("judged_against") == "sent"):
                    o["status"] = "no_data"
                    o["reason"] = (f"the load generator offered {achieved:.1f} of "
                                   f"{requested:.1f} req/s: throughput cannot be judged")
        if not delivered and not state.interrupted:
            state.problems.append(shortfall(
                client["totals"], requested, cpu, meta.get("users"),
                before_p95_ms=early_p95_ms(client["timeseries"]),
                server_p95_s=next((o.get("value") for o in objectives
                                   if o["kind"] == "latency" and o.get("source") == "server"
                                   and o.get("value") is not None), None)))
        server_count = next((o.get("samples") for o in objectives
                             if o["kind"] == "throughput" and o["status"] != "no_data"), None)
        sent = client["totals"]["requests"]
        if server_count is not None and sent and abs(server_count - sent) > 0.05 * sent:
            warnings.append(f"the server counted {server_count:.0f} requests in the window, the "
                            f"load generator sent {sent}: lost scrapes, a restart, a wrong "
                            "selector, or traffic from elsewhere")
        server_p95 = next((o.get("value") for o in objectives if o["kind"] == "latency"
                           and o.get("source") == "server" and o.get("value") is not None
                           and o.get("extra", {}).get("quantile") == 0.95), None)
        client_p95 = (client["totals"].get("latency_ms") or {}).get("p95")
        if server_p95 is not None and client_p95 is not None and \
                client_p95 / 1000 > 2 * server_p95 + 0.05:
            warnings.append(f"the load generator measured p95 {client_p95:.0f} ms, the server "
                            f"{server_p95 * 1000:.0f} ms: time is lost between them (network, "
                            "a saturated generator, or queueing before the server's timer)")
    if state.target_down_at is not None:
        load["target_died"] = iso(state.target_down_at)
    if state.aborted is not None:
        load["aborted"] = state.aborted
    if cpu is not None:
        load["generator_cpu"] = cpu
        for problem in saturation_problems(cpu):
            if problem not in state.problems:
                state.problems.append(problem)
    workers = read_workers(run_dir / "locust")
    if workers is not None:
        load["workers"] = workers
        for problem in lost_worker_problems(workers, window):
            if problem not in state.problems:
                state.problems.append(problem)
    load["problems"] = list(state.problems)
    if window is not None and source is not None:  # the target's CPU, memory, DB connections
        from loadtest.judge.resources import REFERENCE_CPU_CORES, measure

        known = ({"cpu": (REFERENCE_CPU_CORES, "the reference target: one Python process")}
                 if meta.get("target", {}).get("kind") == "reference" else {})
        load["resources"] = measure(slo, scrapes, source, window, known)
    if window is not None:
        meta["window"] = {"start": window.start, "end": window.end,
                          "start_iso": iso(window.start), "end_iso": iso(window.end),
                          "seconds": window.seconds}
        meta["load_started"] = state.run_start
    results: dict[str, Any] = {"run": meta, "load": load, "objectives": objectives,
                               "client": client, "warnings": warnings, "regressions": [],
                               "samples": samples, "interrupted": state.interrupted}
    if state.monitor is not None:
        results["live"] = state.monitor.record()
        warnings.extend(f"live monitor: {e} (that figure was shown as -)"
                        for e in results["live"]["errors"][:3])
    if baseline is not None:
        from loadtest.regression.compare import compare_runs

        results["baseline_timeseries"] = [
            {"offset_s": p["offset_s"], "p95_ms": p.get("p95_ms")}
            for p in (baseline.get("client") or {}).get("timeseries", [])]

        from loadtest.store.baselines import read_history

        history = read_history(opts.out) if opts is not None else []
        comparison = compare_runs(baseline, results, slo, history)
        results["regressions"] = comparison.checks
        results["comparison"] = comparison.summary
        warnings.extend(comparison.warnings)
    results["verdict"] = decide(objectives, load, interrupted=state.interrupted,
                                regressions=results["regressions"])
    return results


def window_record(window: Window) -> dict[str, Any]:
    return {"start": window.start, "end": window.end, "start_iso": iso(window.start),
            "end_iso": iso(window.end), "seconds": window.seconds}


def offered_rate(meta: dict[str, Any], window: Window, run_start: float) -> float:
    """The rate the load shape offers on average over the judged window (which an
    interruption or a dead target may have cut short)."""
    from loadtest.load.shapes import Profile

    prof = meta["profile"]
    shape = Profile(tuple(tuple(p) for p in prof["points"]),  # type: ignore[misc]
                    prof["judge_from"], prof["judge_to"], meta.get("shape", ""))
    return shape.expected(window.start - run_start, window.end - run_start) / window.seconds


def latency_thresholds(slo: SloFile) -> list[float]:
    """Every latency threshold the samples are asked about (exact shares within each)."""
    return [float(t) for o in slo.objectives
            if (t := getattr(o, "threshold", None)) is not None and o.kind in (
                "latency", "client")]


def offered_requests(requested: float, meta: dict[str, Any], df: Any, run_dir: Path,
                     window: Window) -> float | None:
    """The request rate the schedule offered over the window: the task rate asked times the
    requests each task made (an adopted locustfile's task may make several); None when the
    load was not the harness's schedule (closed model) or nothing was recorded."""
    from loadtest.store.samples import load_task_starts

    if df is None or meta.get("model") == "closed" or not requested:
        return None
    tasks = load_task_starts(run_dir / "locust")
    if not tasks:
        return requested
    started = sum(1 for _, start in tasks if window.start <= start < window.end)
    if not started:
        return None
    # a task makes one request or more; the last tasks of a cut window may have none yet
    return requested * max(1.0, df.count(df.keys()) / started)


def _redecide(results: dict[str, Any]) -> dict[str, Any]:
    from loadtest.store.results import decide

    return decide(results["objectives"], results["load"], results.get("interrupted", False),
                  results.get("regressions"))


def _verify_slo(meta: dict[str, Any], slo_path: Path | None
                ) -> tuple[SloFile, Path, dict[str, Any]]:
    """The SLO file to judge with: `slo_path`, else the text the run recorded (the file on
    disk may have changed since), else the run's file as it is now (an older run)."""
    if slo_path is not None:
        return load_slo(slo_path), slo_path, slo_record(slo_path)
    recorded = meta.get("slo") or {}
    if recorded.get("text"):
        path = Path(recorded.get("path", "slo.yaml"))
        slo = parse_slo(recorded["text"], f"{path} (as recorded in results.json)")
        return slo, path, recorded
    path = Path(meta.get("slo_file", "slo/opscore.yaml"))
    return load_slo(path), path, slo_record(path)


def reverify(run_dir: Path, slo_path: Path | None = None,
             prometheus: str | None = None, out: Path | None = None) -> Outcome:
    """Judge a finished run again from its recorded window (another SLO file, another
    Prometheus, or the run's saved embedded scrapes). The run's own results and reports are a
    record and are never replaced: the judgement goes to `RUN_DIR/verify/<verify-id>/` (or
    `out/<verify-id>/`), naming the run, the SLO file, the metrics source and the original
    verdict; a raw-sample file that no longer matches its recorded digest is a warning."""
    from loadtest.metrics.embedded import EmbeddedSource
    from loadtest.metrics.prometheus import PrometheusSource
    from loadtest.reports import render_all
    from loadtest.store.results import is_running, load_results, still_running, write_results

    old = load_results(run_dir / "results.json")
    if old.get("kind") == "capacity":
        raise UsageError(f"{run_dir}: a capacity search is judged step by step; verify takes "
                         "a `loadtest run` directory")
    if old.get("verification"):
        raise UsageError(f"{run_dir}: this is a verification of run "
                         f"{old['verification'].get('of_run')}; verify the run's directory "
                         f"({old['verification'].get('run_dir')})")
    killed = is_running(old)
    if killed and still_running(old):
        raise UsageError(f"{run_dir}: the run is still in progress (pid {old.get('pid')}); "
                         "verify it once it has finished")
    meta = dict(old["run"])
    if "window" not in meta:
        raise ConfigError(f"{run_dir}/results.json: the run has no recorded window "
                          "(it stopped before the load started)"
                          + (": it was killed, nothing was measured" if killed else ""))
    slo, slo_file, slo_rec = _verify_slo(meta, slo_path)
    window = Window(meta["window"]["start"], meta["window"]["end"])
    snapshots = run_dir / "metrics" / SNAPSHOTS
    killed_at = None
    if killed:  # judged over what it recorded before it died
        killed_at, window = killed_window(run_dir, window, snapshots)
    source: MetricsSource
    if prometheus:
        source = PrometheusSource(prometheus, up_matchers(slo))
        if not source.ready():
            raise PrometheusUnavailable(f"Prometheus at {prometheus} is not ready")
    elif snapshots.exists():
        source = EmbeddedSource.from_file(snapshots, job=slo.selector.get("job",
                                                                          "opscore-backend"))
    else:
        raise UsageError(f"{run_dir}: the run was judged by Prometheus "
                         f"{meta.get('metrics_source', {}).get('url')}; pass --prometheus URL "
                         "of a server that still holds its data")
    sample_warnings = [] if killed else changed_samples(  # a killed run recorded no digests
        run_dir, (old.get("inputs") or {}).get("samples"))
    verify_id = "verify-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + \
        secrets.token_hex(3)
    dest = (out if out is not None else run_dir / "verify") / verify_id
    try:
        dest.mkdir(parents=True, exist_ok=False)
    except OSError as e:
        raise UsageError(f"{'--out ' + str(out) if out is not None else run_dir}: cannot "
                         f"write the verification there ({e.strerror}); pass a writable "
                         "--out") from None
    old_source = meta.get("metrics_source")
    meta["slo_file"] = str(slo_file)
    meta["slo"] = slo_rec
    meta["metrics_source"] = source.describe()
    meta["tls"] = {**meta.get("tls", {}),
                   "prometheus": tls.describe("prometheus", meta["metrics_source"].get("url"))}
    state = PhaseState(problems=[p for p in old.get("load", {}).get("problems", [])
                             if "Locust" in p],
                   window=window, run_start=meta.get("load_started"),
                   locust_exit=old.get("load", {}).get("locust_exit_code"),
                   interrupted=bool(old.get("interrupted")),
                   cpu_summary=old.get("load", {}).get("generator_cpu"),
                   aborted=old.get("load", {}).get("aborted"))
    scrapes = EmbeddedSource.from_file(snapshots) if snapshots.exists() else None
    results = _assemble(None, slo, source, state, run_dir, meta, scrapes=scrapes)
    results["regressions"] = old.get("regressions", [])
    if old.get("comparison"):
        results["comparison"] = old["comparison"]
    results["warnings"] = sample_warnings + results.get("warnings", [])
    results["inputs"] = old.get("inputs")
    if old.get("live"):
        results["live"] = old["live"]
    old_slo = (old["run"].get("slo") or {}).get("sha256")
    results["verification"] = {
        "id": verify_id, "of_run": meta.get("id"), "run_dir": str(run_dir),
        "at": datetime.now(UTC).isoformat(), "slo_file": str(slo_file),
        "slo_sha256": slo_rec.get("sha256"),
        "slo_changed": None if old_slo is None else old_slo != slo_rec.get("sha256"),
        "metrics_source": meta["metrics_source"], "original_metrics_source": old_source,
        "original_verdict": old["verdict"], "sample_warnings": sample_warnings,
    }
    if killed_at is not None:
        results["load"]["killed_at"] = iso(killed_at)
        results["killed"] = {"at": killed_at, "at_iso": iso(killed_at),
                             "judged_until": iso(window.end)}
    results["verdict"] = _redecide(results)
    write_results(dest, results)
    render_all(results, dest)
    return Outcome(run_dir=dest, results=results)


def killed_window(run_dir: Path, window: Window, snapshots: Path) -> tuple[float, Window]:
    """A run killed outright: when it died (its last recorded sample or scrape), and its
    window clipped to the last good scrape of the target before the last client sample that
    got an answer (the requests refused as the target died with it are the kill, not the
    service): client and server figures then cover the same seconds, and the window's end is
    a real scrape (as when a signal cuts the window)."""
    from loadtest.metrics.base import SourceError
    from loadtest.metrics.embedded import EmbeddedSource
    from loadtest.store.client_samples import read_chunks

    times: list[float] = []
    last_start = last_answered = None
    for df in read_chunks(run_dir / "locust"):  # in chunks: a killed soak can be long
        if not len(df):
            continue
        times.append(float((df["start"] + df["response_ms"] / 1000.0).max()))
        last_start = max(last_start or -math.inf, float(df["start"].max()))
        answered = df[df["status"] > 0]
        if len(answered):
            last_answered = max(last_answered or -math.inf, float(answered["start"].max()))
    end = None
    if last_start is not None:
        end = (last_answered if last_answered is not None else last_start) + 0.001
    if snapshots.exists():
        try:
            snaps = EmbeddedSource.from_file(snapshots).snapshots()
        except SourceError:
            snaps = []
        times += [s.t for s in snaps]
        good = [s.t for s in snaps if s.ok and (end is None or s.t <= end)]
        if good:
            end = good[-1]
    died = max(times, default=window.start)
    end = window.end if end is None else min(end, window.end)
    return died, Window(window.start, max(window.start + 1.0, end))
