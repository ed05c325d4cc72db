"""`loadtest slo check FILE [--prometheus URL]`: validate an SLO file and, given a Prometheus,
check that every metric it names exists there (with its selector) and every raw query runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from loadtest.errors import ConfigError, PrometheusUnavailable
from loadtest.metrics.base import Matcher, SourceError, render_selector
from loadtest.slo import (
    ClientObjective,
    DbLatencyObjective,
    ErrorRateObjective,
    LatencyObjective,
    PromqlObjective,
    SloFile,
    ThroughputObjective,
    load_slo,
)


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str


def metrics_named(slo: SloFile) -> list[tuple[str, str]]:
    """(objective, metric) pairs whose existence the file relies on."""
    out = []
    for o in slo.objectives:
        if isinstance(o, LatencyObjective):
            out.append((o.name, f"{slo.metrics.http_duration}_bucket"))
        elif isinstance(o, DbLatencyObjective):
            out.append((o.name, f"{slo.metrics.db_duration}_bucket"))
        elif isinstance(o, (ThroughputObjective, ErrorRateObjective)):
            out.append((o.name, slo.metrics.http_requests))
    return out


def check_slo(path: Path, prometheus: str | None = None) -> tuple[SloFile, list[Check]]:
    slo = load_slo(path)
    checks = [Check("file", True, f"{path}: version {slo.version}, "
                                  f"{len(slo.objectives)} objectives")]
    if prometheus is None:
        return slo, checks
    from loadtest.metrics.prometheus import PrometheusSource

    src = PrometheusSource(prometheus, timeout_s=10)
    if not src.ready():
        raise PrometheusUnavailable(f"Prometheus at {prometheus} is not ready (GET /-/ready)")
    selector = tuple(Matcher(k, "=", v) for k, v in sorted(slo.selector.items()))
    now = time.time()
    for name, metric in metrics_named(slo):
        sel = render_selector(selector) if selector else ""
        q = f"count({metric}{sel})"
        try:
            n = src.scalar(q, now)
        except SourceError as e:
            checks.append(Check(f"{name}: {metric}", False, str(e)))
            continue
        checks.append(Check(f"{name}: {metric}", bool(n),
                            f"{n:.0f} series" if n else
                            f"no series {metric}{sel} in Prometheus now (fix metrics: or "
                            "selector: in the SLO file)"))
    for o in slo.objectives:
        if isinstance(o, PromqlObjective):
            q = o.query.replace("$window", "60000ms")
            try:
                rows = src.instant(q, now)
                checks.append(Check(f"{o.name}: query", True, f"runs ({len(rows)} series now)"))
            except SourceError as e:
                checks.append(Check(f"{o.name}: query", False, str(e)))
        elif isinstance(o, ClientObjective):
            checks.append(Check(f"{o.name}: client", True, "computed from the load "
                                                           "generator's samples"))
    return slo, checks


def raise_if_failed(checks: list[Check]) -> None:
    bad = [c for c in checks if not c.ok]
    if bad:
        raise ConfigError(f"{bad[0].what}: {bad[0].detail}"
                          + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
