"""The options of a load run (`loadtest run`), checked once when they are built: every
message names the option, the value and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.errors import UsageError
from loadtest.stack.open import NO_METRICS
from loadtest.stack.servers import DEFAULT_PROBES

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
        sets rate, warm-up and window itself and refuses them. The checks run in this order,
        so the first mistake is the one reported."""
        from loadtest.load.locustfiles import check_locust_args, check_locustfile
        from loadtest.load.runner import default_users
        from loadtest.load.shapes import build

        check_window(rate, duration_s)
        profile = build(shape, rate, warmup_s, duration_s)  # raises on an unknown shape
        rate, warmup_s, duration_s = stage_file_window(shape, profile, given, rate, warmup_s,
                                                       duration_s)
        check_choices(arrivals, metrics_source, workers, users, scenario)
        check_model(model, shape, users)
        passed = check_locust_args(locust_args or [])
        check_locustfile(scenario)
        check_stack(target, rules or [], prometheus, database, target_faults)
        faults = parse_faults(target_faults)
        probe_paths = check_probes(probes)
        metrics_url = check_metrics_url(metrics_url, target, prometheus, metrics_source)
        tag_map = parse_tags(tags)
        return cls(target=target, scenario=scenario, slo=slo, rate=rate, duration_s=duration_s,
                   warmup_s=warmup_s, shape=shape, arrivals=arrivals,
                   users=users or default_users(max(r for _, r in profile.points)),
                   prometheus=prometheus,
                   metrics_source=metrics_source, database=database, target_faults=faults,
                   baseline=baseline, out=out, workers=workers, tags=tag_map,
                   rules=tuple(rules or ()), probes=probe_paths, metrics_url=metrics_url,
                   model=model, locust_args=passed, auto_users=users is None)


def check_window(rate: float, duration_s: float) -> None:
    """--rate and --duration as given (a stage file replaces them afterwards)."""
    if not rate > 0:
        raise UsageError(f"--rate {rate}: must be > 0 requests per second")
    if duration_s < 1:
        raise UsageError(f"--duration {duration_s}s: the window must be at least 1s "
                         "(4 x the scrape interval or more is sound)")


def stage_file_window(shape: str, profile: Any, given: frozenset[str], rate: float,
                      warmup_s: float, duration_s: float) -> tuple[float, float, float]:
    """(rate, warm-up, window): a stage file sets these itself, refuses them when they were
    given, and the run records what the file runs."""
    from loadtest.load.shapes import is_file

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
    """--target, --rules, --database and --target-fault: what the stack is made of."""
    if target is not None and not target.startswith(("http://", "https://")):
        raise UsageError(f"--target {target!r}: give a base URL like http://127.0.0.1:8080")
    for rule_file in rules:
        if not rule_file.is_file():
            raise UsageError(f"--rules {rule_file}: no such file")
    if rules and prometheus:
        raise UsageError("--rules loads rule files into the local Prometheus; an external "
                         "--prometheus evaluates its own rules")
    if target is not None and (database or target_faults):
        raise UsageError("--database and --target-fault configure the reference target; "
                         "they do not apply with --target")


def parse_faults(target_faults: list[str]) -> dict[str, Any]:
    """--target-fault KEY=VALUE (repeatable; `endpoints` accumulates)."""
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
    return faults


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
    return metrics_url
