"""The options of the commands that load (`loadtest run`: RunOptions, `loadtest capacity`:
CapacityOptions), checked once when they are built, and the checks of the other commands'
options: every message names the option, the value and the fix."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx

from loadtest.connections import Connections
from loadtest.errors import UsageError
from loadtest.judge.resources import parse_headroom
from loadtest.load.locust_options import check_pass_through, check_scenario
from loadtest.load.locustfiles import check_locust_args
from loadtest.load.runner import default_users
from loadtest.load.shapes import build, is_file
from loadtest.stack.open import MIN_SCRAPES_PER_WINDOW, NO_METRICS, StackOptions
from loadtest.stack.open import check_window as check_scrape_window
from loadtest.stack.servers import DEFAULT_PROBES, LOCAL_SCRAPE_INTERVAL_S, prometheus_binary
from loadtest.target.faults import FaultSpecError, Latency
from loadtest.target.metrics import build_metrics

ARRIVALS = ("constant", "poisson")
SOURCES = ("auto", "prometheus", "embedded")
FAULT_KEYS = ("latency", "error_ratio", "db_latency", "max_concurrency", "endpoints", "cpu",
              "db_pool_size")
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
    report_url: str | None = None  # --report-url: where CI publishes the report (a link)
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
    auto_users: bool = False  # --users not given: the pool may grow in the warm-up
    remote_write: str | None = None  # --remote-write: the generator's figures pushed there
    grafana_url: str | None = None  # --grafana-url: the run's annotation posted there
    settle: bool = False  # --settle: end the load once every gating objective is decided
    connections: Connections = field(default_factory=Connections)  # --request-timeout, --insecure-* (tls.py)

    @classmethod
    def build(cls, *, target: str | None, scenario: Path, slo: Path, rate: float,
              duration_s: float, warmup_s: float, shape: str, arrivals: str,
              users: int | None, prometheus: str | None, metrics_source: str,
              database: str | None, target_faults: list[str], baseline: Path | None, out: Path,
              workers: int, tags: list[str], rules: list[Path] | None = None,
              given: frozenset[str] = frozenset(), probes: list[str] | None = None,
              metrics_url: str | None = None, model: str = "open",
              locust_args: list[str] | None = None, remote_workers: int = 0,
              master_port: int = 5557, master_bind_host: str = "*",
              report_url: str | None = None, http_buckets: str = "default",
              db_buckets: str = "default", fail_on_drift: bool = False,
              drift_significance: float = 0.01, drift_min_size: int = 3,
              remote_write: str | None = None, grafana_url: str | None = None,
              abort: bool = True, settle: bool = False,
              connections: Connections | None = None) -> RunOptions:
        """`given`: the options set explicitly (command line or environment); a stage file
        sets rate, warm-up and window itself and refuses them. The checks run in this order,
        so the first mistake is the one reported."""
        check_window(rate, duration_s, warmup_s)
        profile = build(shape, rate, warmup_s, duration_s)  # raises on an unknown shape
        rate, warmup_s, duration_s = stage_file_window(shape, profile, given, rate, warmup_s,
                                                       duration_s)
        check_choices(arrivals, metrics_source, workers, users, scenario)
        check_model(model, shape, users)
        facts = check_scenario(scenario)  # parses, imports found, a User class in it
        passed = check_locust_args(check_pass_through(locust_args or [], facts))
        check_stack(target, rules or [], prometheus, database, target_faults)
        check_local_window("--duration", duration_s, prometheus, metrics_source)
        faults = parse_faults(target_faults)
        probe_paths = check_probes(probes)
        metrics_url = check_metrics_url(metrics_url, target, prometheus, metrics_source)
        tag_map = parse_tags(tags)
        check_remote(remote_workers, workers, master_port, master_bind_host)
        if remote_workers and model == "closed":
            raise UsageError("--model closed with --remote-workers: remote workers pace the "
                             "open model; use --workers N on this machine, or the plugin "
                             "(import loadtest.locust_plugin) with your own distributed "
                             "Locust")
        check_buckets(target, http_buckets, db_buckets)
        from loadtest.regression.history import Detector  # it imports parse_tags from here

        Detector(drift_significance, drift_min_size).check(prefix="drift-")
        remote_write, grafana_url = check_export(remote_write, grafana_url)
        return cls(target=target, scenario=scenario, slo=slo, rate=rate, duration_s=duration_s,
                   warmup_s=warmup_s, shape=shape, arrivals=arrivals,
                   users=users or default_users(max(r for _, r in profile.points)),
                   prometheus=prometheus,
                   metrics_source=metrics_source, database=database, target_faults=faults,
                   baseline=baseline, out=out, workers=workers, tags=tag_map,
                   rules=tuple(rules or ()), probes=probe_paths, metrics_url=metrics_url,
                   model=model, locust_args=passed, auto_users=users is None,
                   remote_workers=remote_workers, master_port=master_port,
                   master_bind_host=master_bind_host, report_url=report_url,
                   http_buckets=http_buckets, db_buckets=db_buckets,
                   fail_on_drift=fail_on_drift, drift_significance=drift_significance,
                   drift_min_size=drift_min_size, remote_write=remote_write,
                   grafana_url=grafana_url, abort=abort, settle=settle,
                   connections=connections or Connections())


STEP_ABORT_AFTER_S = 5.0  # capacity: a step breached this long ends early (--step-abort-after)


@dataclass(frozen=True)
class CapacityOptions:
    stack: StackOptions
    scenario: Path
    slo: Path
    start_rate: float
    max_rate: float
    step_duration_s: float
    step_warmup_s: float
    precision: float
    require: float | None
    out: Path
    arrivals: str = "constant"
    max_steps: int = 20
    users: int | None = None   # None: sized per step from the previous step's latency
    workers: int = 1
    project: float | None = None  # --project RATE: instances needed for it
    headroom: float = 0.3
    # a gating objective breached at every live evaluation for this long ends the step
    # (failed); an objective's own abort_after wins; None: steps always run their course
    step_abort_after_s: float | None = STEP_ABORT_AFTER_S
    connections: Connections = field(default_factory=Connections)  # --request-timeout, --insecure-* (tls.py)

    @classmethod
    def build(cls, *, target: str | None, scenario: Path, slo: Path, start_rate: float,
              max_rate: float, step_duration_s: float, step_warmup_s: float,
              precision: float, require: float | None, prometheus: str | None,
              metrics_source: str, database: str | None, target_faults: list[str], out: Path,
              users: int | None, workers: int, project: float | None, headroom: str,
              step_abort_after_s: float | None, probes: list[str] | None = None,
              metrics_url: str | None = None,
              connections: Connections | None = None) -> CapacityOptions:
        """`loadtest capacity`'s options, checked in this order (the first mistake is the one
        reported): the search's numbers, then its load and its stack as a run's are."""
        connections = connections or Connections()
        check_capacity(start_rate=start_rate, max_rate=max_rate, precision=precision,
                       require=require, project=project, step_duration_s=step_duration_s,
                       step_warmup_s=step_warmup_s, step_abort_after_s=step_abort_after_s,
                       prometheus=prometheus, metrics_source=metrics_source)
        check_choices("constant", metrics_source, workers, users, scenario)
        check_locust_args(check_pass_through([], check_scenario(scenario)))
        check_stack(target, [], prometheus, database, target_faults)
        stack = StackOptions(target=target, prometheus=prometheus,
                             metrics_source=metrics_source, database=database,
                             target_faults=parse_faults(target_faults),
                             probes=check_probes(probes),
                             metrics_url=check_metrics_url(metrics_url, target, prometheus,
                                                           metrics_source),
                             insecure=connections.insecure)
        return cls(stack=stack, scenario=scenario, slo=slo, start_rate=start_rate,
                   max_rate=max_rate, step_duration_s=step_duration_s,
                   step_warmup_s=step_warmup_s, precision=precision, require=require,
                   out=out, users=users, workers=workers, project=project,
                   headroom=_headroom(headroom), step_abort_after_s=step_abort_after_s,
                   connections=connections)

    def check(self) -> None:
        if not 0 < self.start_rate <= self.max_rate:
            raise UsageError(f"--start-rate {self.start_rate:g} / --max-rate "
                             f"{self.max_rate:g}: need 0 < start <= max")
        if not 0 < self.precision < 1:
            raise UsageError(f"--precision {self.precision}: use a fraction such as 0.1")
        if self.step_duration_s < 2:
            raise UsageError("--step-duration: at least 2s")
        if self.project is not None and not self.project > 0:
            raise UsageError(f"--project {self.project:g}: give the req/s to plan for (> 0)")
        if self.users is not None and self.users < 1:
            raise UsageError(f"--users {self.users}: must be >= 1 (or leave it out: each "
                             "step sizes its users)")
        if not 1 <= self.workers <= 64:
            raise UsageError(f"--workers {self.workers}: use 1 to 64 local Locust processes")
        if not self.scenario.is_file():
            raise UsageError(f"--scenario {self.scenario}: no such file")
        if self.step_abort_after_s is not None and self.step_abort_after_s < 2:
            raise UsageError(f"--step-abort-after {self.step_abort_after_s:g}s: at least 2s "
                             "(or off)")


def check_window(rate: float, duration_s: float, warmup_s: float = 0.0) -> None:
    """--rate, --duration and --warmup as given (a stage file replaces them afterwards)."""
    check_range("--rate", rate, 0, MAX_RATE, "requests per second", above=True)
    if duration_s < 1:
        raise UsageError(f"--duration {duration_s}s: the window must be at least 1s "
                         "(4 x the scrape interval or more is sound)")
    check_range("--duration", duration_s, 1, MAX_DURATION_S, "seconds (7 days)")
    check_range("--warmup", warmup_s, 0, MAX_WARMUP_S, "seconds (a day)")


def check_local_window(option: str, window_s: float, prometheus: str | None,
                       metrics_source: str) -> None:
    """The window against the scrape interval of the local Prometheus the run will start
    (`prometheus` on PATH, no --prometheus, not --metrics-source embedded): refused now
    rather than after it started. A Prometheus given is asked for its interval later."""
    if prometheus or metrics_source == "embedded" or not prometheus_binary():
        return
    if window_s < MIN_SCRAPES_PER_WINDOW * LOCAL_SCRAPE_INTERVAL_S:
        check_scrape_window((option, window_s), LOCAL_SCRAPE_INTERVAL_S,
                            "the local Prometheus")


def stage_file_window(shape: str, profile: Any, given: frozenset[str], rate: float,
                      warmup_s: float, duration_s: float) -> tuple[float, float, float]:
    """(rate, warm-up, window): a stage file sets these itself, refuses them when they were
    given, and the run records what the file runs."""
    if not is_file(shape):
        return rate, warmup_s, duration_s
    clash = [n for n in ("rate", "duration", "warmup") if n in given]
    if clash:
        raise UsageError(f"--{clash[0]} (or LOADTEST_{clash[0].upper()}): the stage "
                         f"file {shape} sets the rates, the warm-up and the judged "
                         f"window; drop --{clash[0]} or edit the file")
    return (max(r for _, r in profile.points), profile.judge_from,
            profile.judge_to - profile.judge_from)


def check_choices(arrivals: str, metrics_source: str, workers: int, users: int | None,
                  scenario: Path) -> None:
    if arrivals not in ARRIVALS:
        raise UsageError(f"--arrivals {arrivals!r}: use constant or poisson")
    if metrics_source not in SOURCES:
        raise UsageError(f"--metrics-source {metrics_source!r}: use auto, prometheus or "
                         "embedded")
    if not 1 <= workers <= 64:
        raise UsageError(f"--workers {workers}: use 1 to 64 local Locust processes")
    if users is not None and users < 1:
        raise UsageError(f"--users {users}: must be >= 1")
    check_range("--users", users, 1, MAX_USERS, "Locust users")
    if not scenario.is_file():
        raise UsageError(f"--scenario {scenario}: no such file (e.g. scenarios/opscore.py)")


def check_model(model: str, shape: str, users: int | None) -> None:
    """--model open|closed, and what the closed model needs (users, no shape)."""
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


def check_stack(target: str | None, rules: list[Path], prometheus: str | None,
                database: str | None, target_faults: list[str]) -> None:
    """--target, --prometheus, --rules, --database and --target-fault: what the stack is made
    of."""
    if target is not None:
        check_url("--target", target, secrets="the target's token goes in "
                  "LOADTEST_TARGET_TOKEN")
    if prometheus:
        check_url("--prometheus", prometheus, "http://127.0.0.1:9090",
                  secrets="use LOADTEST_PROMETHEUS_TOKEN or LOADTEST_PROMETHEUS_USER and "
                  "LOADTEST_PROMETHEUS_PASSWORD")
    for rule_file in rules:
        if not rule_file.is_file():
            raise UsageError(f"--rules {rule_file}: no such file")
    if rules and prometheus:
        raise UsageError("--rules loads rule files into the local Prometheus; an external "
                         "--prometheus evaluates its own rules")
    if target is not None and (database or target_faults):
        raise UsageError("--database and --target-fault configure the reference target; "
                         "they do not apply with --target")
    check_database("--database", database)


def parse_faults(target_faults: list[str]) -> dict[str, Any]:
    """--target-fault KEY=VALUE (repeatable; `endpoints` accumulates)."""
    faults: dict[str, Any] = {}
    for item in target_faults:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in FAULT_KEYS:
            raise UsageError(f"--target-fault {item!r}: use KEY=VALUE with KEY one of "
                             f"{', '.join(FAULT_KEYS)}")
        problem = fault_value_problem(key, value)
        if problem:
            raise UsageError(f"--target-fault {item!r}: {problem}")
        if key == "endpoints":
            faults.setdefault("endpoints", []).append(value)
        else:
            faults[key] = value
    return faults


FAULT_LIMITS = {"max_concurrency": (0, 100_000), "db_pool_size": (1, 1000)}


def fault_value_problem(key: str, value: str) -> str | None:
    """What is wrong with one fault's value, as the reference target would refuse it at its
    start (None: it is sound)."""
    if key in ("latency", "db_latency", "cpu"):
        try:
            Latency.parse(value)
        except FaultSpecError as e:
            return str(e)
        return None
    if key == "error_ratio":
        try:
            ratio = float(value)
        except ValueError:
            ratio = math.nan
        if not 0 <= ratio <= 1:  # nan fails too
            return "error_ratio must be a share from 0 to 1 (e.g. error_ratio=0.05)"
        return None
    if key in FAULT_LIMITS:
        lo, hi = FAULT_LIMITS[key]
        try:
            n = int(value)
        except ValueError:
            n = lo - 1
        if not lo <= n <= hi:
            return f"{key} must be a whole number from {lo} to {hi:,}"
        return None
    if key == "endpoints" and (not value.strip() or any(c.isspace() for c in value)):
        return "endpoints takes a route template or glob such as /api/v1/documents*"
    return None


def parse_tags(tags: Sequence[str]) -> dict[str, str]:
    """--tag KEY=VALUE (repeatable), for run and history."""
    tag_map: dict[str, str] = {}
    for item in tags:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag {item!r}: use KEY=VALUE (e.g. runner=ci-1)")
        tag_map[key] = value
    return tag_map


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
    return check_url("--metrics-url", metrics_url, "http://127.0.0.1:9100/metrics")


# -- numbers, ports, URLs, databases: checked before anything starts (exit 2) ---------------
MAX_RATE = 1_000_000.0          # req/s offered (the generator's ceiling is far below)
MAX_DURATION_S = 7 * 86400.0    # a judged window (a soak of a week at most)
MAX_WARMUP_S = 86400.0
MAX_USERS = 1_000_000
MAX_REMOTE_WORKERS = 1000


def _shown(value: object) -> str:
    return str(value)


def check_range(option: str, value: float | None, lo: float, hi: float, unit: str = "",
                above: bool = False, fix: str = "") -> None:
    """`value` finite and within [lo, hi] ((lo, hi] with `above`); the message names the
    option, the value and the allowed range (None: not given, nothing to check)."""
    if value is None:
        return
    low_ok = value > lo if above else value >= lo
    if isinstance(value, bool) or not (math.isfinite(value) and low_ok and value <= hi):
        low = f"> {lo:g}" if above else f">= {lo:g}"
        raise UsageError(f"{option} {_shown(value)}: must be {low} and at most {hi:,.10g}"
                         f"{f' {unit}' if unit else ''}{f' ({fix})' if fix else ''}")


def check_port(option: str, port: int | None) -> None:
    """A TCP port: 1 to 65535 (None: not given)."""
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"{option} {port}: use a TCP port from 1 to 65535")


def check_host(option: str, host: str) -> None:
    """An interface or host name to bind or reach: no scheme, no spaces, not empty."""
    if not host or any(c.isspace() or ord(c) < 32 for c in host) or "/" in host:
        raise UsageError(f"{option} {host!r}: give a host name or address such as "
                         "127.0.0.1 (no scheme, no path)")


def redact(url: str) -> str:
    """`url` as a message may show it: user and password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    netloc = rest.split("/", 1)[0]
    if "@" not in netloc:
        return url
    return f"{scheme}{sep}***@{netloc.rsplit('@', 1)[1]}{rest[len(netloc):]}"


def _split(option: str, url: str) -> SplitResult:
    """urlsplit, whose ValueError (an unclosed [IPv6 bracket) is a usage error."""
    try:
        return urlsplit(url)
    except ValueError as e:
        raise UsageError(f"{option} {redact(url)!r}: not a URL ({e})") from None


def check_url(option: str, url: str, example: str = "http://127.0.0.1:8080",
              secrets: str = "") -> str:
    """An http(s) base URL that every client of the harness (httpx, Locust, Prometheus'
    config) reads the same way: a valid host (an IPv4 address of four numbers up to 255), a
    port 1-65535, no spaces, no query or fragment, no credentials (`secrets` names where
    they go instead). Returns it without a trailing slash."""
    shown = redact(url)
    base = f"{option} {shown!r}"
    if not url or any(c.isspace() or ord(c) < 32 for c in url):
        raise UsageError(f"{base}: give a base URL like {example} (no spaces)")
    parts = _split(option, url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{base}: give a base URL like {example}")
    if "@" in parts.netloc:
        raise UsageError(f"{base}: credentials do not go in the URL (they would be shown in "
                         f"reports); {secrets or 'pass them in the environment'}")
    if parts.query or parts.fragment:
        raise UsageError(f"{base}: give a base URL without ?query or #fragment, like "
                         f"{example}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"{base}: the port must be a number from 1 to 65535")
    host = parts.hostname or ""
    try:
        host = host.encode("idna").decode("ascii")  # an internationalised name as DNS has it
    except UnicodeError:
        pass  # left as it is: refused below
    try:
        if re.fullmatch(r"[0-9.]+", host):
            ipaddress.IPv4Address(host)
        elif ":" in host:
            ipaddress.IPv6Address(host)
        elif not re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_-]+)*\.?", host):
            raise ValueError(host)
    except ValueError:
        raise UsageError(f"{base}: {host!r} is not a host name or IP address (an IPv4 "
                         "address is four numbers from 0 to 255)") from None
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as e:
        raise UsageError(f"{base}: not a URL the harness can use ({e})") from None
    return url


def check_database(option: str, database: str | None) -> None:
    """The reference target's database: sqlite:///PATH (its folder must exist) or
    postgresql://user@host:port/db."""
    if database is None:
        return
    shown = redact(database)
    if database.startswith("sqlite:///"):
        path = Path(database.removeprefix("sqlite:///"))
        if not str(path) or str(path) == ".":
            raise UsageError(f"{option} {shown!r}: name the file, e.g. sqlite:///opscore.db")
        if not path.parent.is_dir():
            raise UsageError(f"{option} {shown!r}: the folder {path.parent} does not exist "
                             "(create it, or name a file in an existing folder)")
        return
    if database.startswith(("postgresql://", "postgres://")):
        try:
            _split(option, database).port  # noqa: B018 - raises on a port that is not one
        except ValueError:
            raise UsageError(f"{option} {shown!r}: the port must be a number from 1 to "
                             "65535") from None
        return
    raise UsageError(f"{option} {shown!r}: use sqlite:///PATH or "
                     "postgresql://user@host:5432/db")


def check_remote(remote_workers: int, workers: int, master_port: int,
                 master_bind_host: str) -> None:
    """--remote-workers, --master-port and --master-bind-host of `loadtest run`."""
    if remote_workers < 0 or (remote_workers and workers != 1):
        raise UsageError("--remote-workers N (N >= 1) runs a master for other machines' "
                         "workers; do not combine it with --workers")
    check_range("--remote-workers", remote_workers, 0, MAX_REMOTE_WORKERS, "workers")
    check_port("--master-port", master_port)
    if master_bind_host != "*":
        check_host("--master-bind-host", master_bind_host)


def check_buckets(target: str | None, http_buckets: str, db_buckets: str) -> None:
    """--http-buckets and --db-buckets: they shape the reference target's histograms only."""
    if target is not None and (http_buckets, db_buckets) != ("default", "default"):
        raise UsageError("--http-buckets and --db-buckets shape the reference target's "
                         "histograms; they do not apply with --target")
    build_metrics(http_buckets, db_buckets)


def check_export(remote_write: str | None, grafana_url: str | None
                 ) -> tuple[str | None, str | None]:
    """Where the generator's figures are pushed and the annotation posted."""
    if remote_write is not None:
        remote_write = check_url("--remote-write", remote_write,
                                 "http://127.0.0.1:9090/api/v1/write",
                                 "pass them in LOADTEST_REMOTE_WRITE_TOKEN or "
                                 "LOADTEST_REMOTE_WRITE_USER/_PASSWORD")
    if grafana_url is not None:
        grafana_url = check_url("--grafana-url", grafana_url, "http://127.0.0.1:3000",
                                "pass the token in LOADTEST_GRAFANA_TOKEN")
    return remote_write, grafana_url


def check_capacity(*, start_rate: float, max_rate: float, precision: float,
                   require: float | None, project: float | None, step_duration_s: float,
                   step_warmup_s: float, step_abort_after_s: float | None,
                   prometheus: str | None, metrics_source: str) -> None:
    """The numbers of `loadtest capacity`, before anything starts."""
    check_range("--start-rate", start_rate, 0, MAX_RATE, "requests per second", above=True)
    check_range("--max-rate", max_rate, 0, MAX_RATE, "requests per second", above=True)
    if start_rate > max_rate:
        raise UsageError(f"--start-rate {start_rate:g} / --max-rate {max_rate:g}: need "
                         "0 < start <= max")
    if not 0 < precision < 1:  # nan fails too
        raise UsageError(f"--precision {_shown(precision)}: use a fraction such as 0.1")
    check_range("--require", require, 0, MAX_RATE, "requests per second", above=True)
    if project is not None and not (math.isfinite(project) and project > 0):
        raise UsageError(f"--project {project:g}: give the req/s to plan for (> 0)")
    check_range("--project", project, 0, 1e12, "requests per second", above=True)
    if step_duration_s < 2:
        raise UsageError("--step-duration: at least 2s")
    check_range("--step-duration", step_duration_s, 2, MAX_DURATION_S, "seconds")
    check_range("--step-warmup", step_warmup_s, 0, MAX_WARMUP_S, "seconds")
    if step_abort_after_s is not None and step_abort_after_s < 2:
        raise UsageError(f"--step-abort-after {step_abort_after_s:g}s: at least 2s (or off)")
    check_local_window("--step-duration", step_duration_s, prometheus, metrics_source)


def check_worker(master_host: str, master_port: int) -> None:
    """`loadtest worker`: where the master is."""
    check_host("--master-host", master_host)
    check_port("--master-port", master_port)


def check_target(*, port: int, host: str, metrics_port: int | None, seed_documents: int,
                 error_ratio: float, max_concurrency: int, db_pool_size: int,
                 database: str | None, latencies: dict[str, str | None],
                 buckets: tuple[str, str] = ("default", "default"),
                 tls: tuple[Path | None, Path | None] = (None, None)) -> None:
    """`loadtest target`: every option, before it opens a database or a port."""
    check_port("--port", port)
    check_host("--host", host)
    build_metrics(*buckets)  # --http-buckets, --db-buckets
    if (tls[0] is None) != (tls[1] is None):
        raise UsageError("--tls-cert and --tls-key go together (PEM certificate and key)")
    for option, path in zip(("--tls-cert", "--tls-key"), tls, strict=True):
        if path is not None and not path.is_file():
            raise UsageError(f"{option} {path}: no such file (a PEM certificate or key)")
    check_port("--metrics-port", metrics_port)
    if metrics_port is not None and metrics_port == port:
        raise UsageError(f"--metrics-port {metrics_port}: the API listens there already "
                         "(use another port, or leave --metrics-port out)")
    check_range("--seed-documents", seed_documents, 0, 1_000_000, "documents")
    check_range("--error-ratio", error_ratio, 0, 1, fix="a share, e.g. 0.05")
    lo, hi = FAULT_LIMITS["max_concurrency"]
    check_range("--max-concurrency", max_concurrency, lo, hi, "requests (0: no limit)")
    lo, hi = FAULT_LIMITS["db_pool_size"]
    check_range("--db-pool-size", db_pool_size, lo, hi, "connections")
    check_database("--database", database)
    for option, spec in latencies.items():
        if spec is not None:
            try:
                Latency.parse(spec)
            except FaultSpecError as e:
                raise UsageError(f"{option}: {e}") from None


def _headroom(text: str) -> float:
    """--headroom: a share (0.3) or a percentage (30%)."""
    try:
        return parse_headroom(text)
    except ValueError as e:
        raise UsageError(str(e)) from None
