"""`loadtest slo check FILE [--prometheus URL]`: validate an SLO file and, given a Prometheus,
check what every objective will query there: the metric with the file's selector (missing:
BAD), the objective's `endpoint:`/`method:` filters (matching nothing: WARN, naming the filter
and the nearest label value Prometheus has), whether a latency threshold is a bucket bound of
the live histogram (not: WARN, with the bracket), and that every raw query runs (no series:
WARN, naming the metric that has none); a no_alerts objective on a Prometheus without alerting
rules is a WARN too (it could never fire)."""

from __future__ import annotations

import difflib
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.errors import ConfigError, PrometheusUnavailable
from loadtest.judge.objectives import matchers_for
from loadtest.metrics.base import Matcher, SourceError, render_selector
from loadtest.metrics.histogram import parse_le, threshold_bracket
from loadtest.metrics.prometheus import PrometheusSource
from loadtest.slo import (
    BurnRateObjective,
    ClientObjective,
    DbLatencyObjective,
    ErrorRateObjective,
    LatencyObjective,
    NoAlertsObjective,
    PromqlObjective,
    SloFile,
    ThroughputObjective,
    load_slo,
)

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan", "atan2"}


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str
    warn: bool = False  # printed as WARN: the run may give no data or an inexact verdict

    @property
    def label(self) -> str:
        return "BAD" if not self.ok else ("WARN" if self.warn else "ok ")


def metrics_named(slo: SloFile) -> list[tuple[str, str]]:
    """(objective, metric) pairs whose existence the file relies on."""
    out = []
    for o in slo.objectives:
        if isinstance(o, LatencyObjective):
            out.append((o.name, f"{slo.metrics.http_duration}_bucket"))
        elif isinstance(o, DbLatencyObjective):
            out.append((o.name, f"{slo.metrics.db_duration}_bucket"))
        elif isinstance(o, (ThroughputObjective, ErrorRateObjective, BurnRateObjective)):
            out.append((o.name, slo.metrics.http_requests))
    return out


def seconds_text(s: float) -> str:
    if s == math.inf:
        return "+Inf"
    return f"{s:g} s" if s >= 1 else f"{s * 1000:g} ms"


def bucket_check(name: str, quantile: float, threshold: float, les: list[str]) -> Check:
    """Whether `threshold` is a bucket bound of a histogram whose `le` labels are `les`."""
    bounds = [parse_le(le) for le in les]
    what = f"{name}: buckets"
    br = threshold_bracket(bounds, threshold)
    q = f"p{quantile * 100:g}"
    if br is None:
        return Check(what, True, f"{seconds_text(threshold)} is a bucket bound: the {q} "
                                 "verdict is exact")
    lo, hi = br
    return Check(what, True,
                 f"{seconds_text(threshold)} is not a bucket bound: between {seconds_text(lo)} "
                 f"and {seconds_text(hi)}; the {q} verdict is decided only where the histogram "
                 f"can tell, add a {seconds_text(threshold)} bucket to the service's histogram "
                 "(or set the threshold to a bound)", warn=True)


def bucket_warnings(slo: SloFile, source: Any) -> list[str]:
    """The preflight of `loadtest run`: each latency objective whose threshold is not a bucket
    bound of the live histogram, with the bracket and the fix (never an error)."""
    out = []
    for o in slo.objectives:
        if not isinstance(o, (LatencyObjective, DbLatencyObjective)):
            continue
        http = isinstance(o, LatencyObjective)
        metric = slo.metrics.http_duration if http else slo.metrics.db_duration
        try:
            les = source.bucket_bounds(metric, matchers_for(slo, o, http=http))
        except SourceError:
            continue
        if les:
            check = bucket_check(o.name, o.quantile, o.threshold, les)
            if check.warn:
                out.append(f"{o.name}: {metric}: {check.detail}")
    return out


def _label_values(src: Any, metric: str, selector: tuple[Matcher, ...], label: str,
                  now: float) -> list[str]:
    rows = src.instant(f"count by ({label}) ({metric}{render_selector(selector)})", now)
    return sorted({r[0].get(label, "") for r in rows} - {""})


def _filter_check(src: Any, name: str, metric: str, selector: tuple[Matcher, ...],
                  filters: tuple[Matcher, ...], now: float, method_label: str) -> Check:
    """The objective's filters on top of the selector: which one matches nothing, and the
    nearest value Prometheus has."""
    full = render_selector(selector + filters)
    what = f"{name}: {metric}{full}"
    n = src.scalar(f"count({metric}{full})", now)
    if n:
        return Check(what, True, f"{n:.0f} series")
    for m in filters:
        if src.scalar(f"count({metric}{render_selector(selector + (m,))})", now):
            continue
        values = _label_values(src, metric, selector, m.label, now)
        templates = [v for v in values if "{" in v and re.fullmatch(
            re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(v)), m.value)]
        near = difflib.get_close_matches(m.value, values, n=1, cutoff=0.6)
        if templates:
            hint = (f'a raw path; the label holds the route template: {m.label}: '
                    f'"{templates[0]}"')
        elif near:
            hint = f'did you mean {m.label}: "{near[0]}"?'
        elif values:
            hint = "it has: " + ", ".join(values[:8]) + (" ..." if len(values) > 8 else "")
        else:
            hint = f"the metric has no {m.label} label (rename it in metrics:)"
        field = "method" if m.label == method_label else "endpoint"
        return Check(what, True,
                     f'no series with {m.label}="{m.value}" (the {field}: filter); the run '
                     f"would give no data for it: {hint}", warn=True)
    return Check(what, True, "each filter matches series but not together; the run would give "
                             "no data for it (check endpoint: and method:)", warn=True)


def query_metrics(query: str) -> list[str]:
    """Vector selectors a PromQL query names (`metric` or `metric{...}`), best effort."""
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", query)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    out = []
    for m in re.finditer(r"(?<![\w:$.\"'])([A-Za-z_:][\w:]*)(?![\w:])\s*(\{[^}]*\})?", text):
        rest = text[m.end():].lstrip()
        if m.group(1).lower() in PROMQL_WORDS or rest.startswith("("):
            continue
        out.append(m.group(1) + (m.group(2) or ""))
    return out


def _promql_check(src: Any, o: PromqlObjective, now: float) -> Check:
    q = o.query.replace("$window", "60000ms")
    what = f"{o.name}: query"
    try:
        rows = src.instant(q, now)
    except SourceError as e:
        return Check(what, False, str(e))
    if rows:
        return Check(what, True, f"runs ({len(rows)} series now)")
    for sel in query_metrics(q):
        metric = sel.split("{", 1)[0]
        try:
            if not src.scalar(f"count({metric})", now):
                return Check(what, True, f"runs but returns nothing: Prometheus has no series "
                                         f"{metric}; the run would give no data (fix the "
                                         "metric name)", warn=True)
            if sel != metric and not src.scalar(f"count({sel})", now):
                return Check(what, True, f"runs but returns nothing: {sel} matches no series "
                                         f"(its labels); the run would give no data",
                             warn=True)
        except SourceError:
            continue
    return Check(what, True, "runs but returns nothing now; the run would give no data unless "
                             "the load creates its series", warn=True)


def _alerts_check(src: Any, name: str) -> Check:
    try:
        rules = src.alert_rules()
    except SourceError as e:
        return Check(f"{name}: alert rules", False, str(e))
    if rules == 0:
        return Check(f"{name}: alert rules", True, "Prometheus evaluates no alerting rules, so "
                     "no alert can fire; the run would give no data (load rules: --rules FILE "
                     "with the local Prometheus)", warn=True)
    return Check(f"{name}: alert rules", True, f"{rules} alerting rules evaluated")


def check_slo(path: Path, prometheus: str | None = None,
              insecure_prometheus: bool = False) -> tuple[SloFile, list[Check]]:
    slo = load_slo(path, option=None)  # the command's argument, not --slo
    checks = [Check("file", True, f"{path}: version {slo.version}, "
                                  f"{len(slo.objectives)} objectives")]
    if prometheus is None:
        return slo, checks

    src = PrometheusSource(prometheus, timeout_s=10, insecure=insecure_prometheus)
    if not src.ready():
        raise PrometheusUnavailable(f"Prometheus at {prometheus} is not ready (GET /-/ready)")
    selector = tuple(Matcher(k, "=", v) for k, v in sorted(slo.selector.items()))
    sel = render_selector(selector) if selector else ""
    now = time.time()
    metric_of = dict(metrics_named(slo))
    for o in slo.objectives:
        if isinstance(o, PromqlObjective):
            checks.append(_promql_check(src, o, now))
            continue
        if isinstance(o, ClientObjective):
            checks.append(Check(f"{o.name}: client", True, "computed from the load "
                                                           "generator's samples"))
            continue
        if isinstance(o, NoAlertsObjective):
            checks.append(_alerts_check(src, o.name))
            continue
        if o.name not in metric_of:
            continue
        metric = metric_of[o.name]
        try:
            n = src.scalar(f"count({metric}{sel})", now)
            if not n:
                checks.append(Check(f"{o.name}: {metric}", False,
                                    f"no series {metric}{sel} in Prometheus now (fix metrics: "
                                    "or selector: in the SLO file)"))
                continue
            full = matchers_for(slo, o, http=not isinstance(o, DbLatencyObjective))
            filters = tuple(m for m in full if m not in selector)
            if filters:
                checks.append(_filter_check(src, o.name, metric, selector, filters, now,
                                            slo.metrics.method_label))
            else:
                checks.append(Check(f"{o.name}: {metric}", True, f"{n:.0f} series"))
            if isinstance(o, (LatencyObjective, DbLatencyObjective)):
                rows = src.instant(f"count by (le) ({metric}{render_selector(full)})", now)
                les = [r[0]["le"] for r in rows if "le" in r[0]]
                if les:
                    checks.append(bucket_check(o.name, o.quantile, o.threshold, les))
        except SourceError as e:
            checks.append(Check(f"{o.name}: {metric}", False, str(e)))
    return slo, checks


def raise_if_failed(checks: list[Check]) -> None:
    bad = [c for c in checks if not c.ok]
    if bad:
        raise ConfigError(f"{bad[0].what}: {bad[0].detail}"
                          + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
