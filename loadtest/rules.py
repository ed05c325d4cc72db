"""Prometheus rules from an SLO file: for each availability or latency objective, recording
rules of its error ratio over the SRE workbook's windows, and the multi-window,
multi-burn-rate alerts (page: 14.4x over 1h and 5m, or 6x over 6h and 30m; ticket: 3x over 1d
and 2h, or 1x over 3d and 6h), each pair firing only when both windows burn faster than the
factor.

Objectives and what their error ratio is:
- error_rate / burn_rate: responses whose status matches `statuses` over all (target
  1 - max, or the burn_rate's target);
- latency / db_latency: observations above the threshold's bucket (target: the quantile); a
  threshold that is not a bucket bound is refused with the bounds around it, when the bounds
  are known (--buckets, or read from a Prometheus);
- ratio (OpenSLO ratioMetric): the user's good/bad/total queries recorded as they are, then
  their increase (counters) or mean (gauges) over each window; a raw ratio by its mean.
Other kinds (throughput, promql, client, no_alerts, threshold) have no error budget to burn:
named in the notes, never silently dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from loadtest.errors import ConfigError, UsageError
from loadtest.metrics.base import Matcher, render_selector
from loadtest.metrics.histogram import parse_le, threshold_bracket
from loadtest.slo import (
    BurnRateObjective,
    DbLatencyObjective,
    ErrorRateObjective,
    LatencyObjective,
    RatioObjective,
    SloFile,
)

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (severity, factor, long window, short window): the SRE workbook's table 5-8
BURNS = (("page", 14.4, "1h", "5m"), ("page", 6.0, "6h", "30m"),
         ("ticket", 3.0, "1d", "2h"), ("ticket", 1.0, "3d", "6h"))
RESERVED = ("slo", "severity", "alertname", "__name__")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def error_ratio_name(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


class RecordingRule(TypedDict):
    record: str
    expr: str
    labels: dict[str, str]


class AlertingRule(TypedDict):
    alert: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]


class RuleGroup(TypedDict):
    name: str
    rules: list[RecordingRule | AlertingRule]


class RulesFile(TypedDict):
    """A Prometheus rules file (`groups:`)."""
    groups: list[RuleGroup]


ErrorRatio = Callable[[str], str]  # window ("5m") -> the error ratio's expression over it


@dataclass
class Rules:
    groups: list[RuleGroup] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def document(self) -> RulesFile:
        return RulesFile(groups=self.groups)


def parse_pairs(values: list[str], option: str) -> dict[str, str]:
    """KEY=VALUE options (--selector, --label) as a dict; a bad one is a usage error."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip()
        value = value.strip().strip('"')
        if not sep or not _LABEL.match(key):
            raise UsageError(f"{option} {item!r}: write KEY=VALUE with a Prometheus label name "
                             "(e.g. job=opscore-backend)")
        out[key] = value
    return out


def _fmt(x: float) -> str:
    return f"{x:.12g}"


class _Builder:
    def __init__(self, slo: SloFile, selector: dict[str, str], labels: dict[str, str],
                 bounds: dict[str, list[str]] | None) -> None:
        self.slo, self.labels, self.bounds = slo, labels, bounds
        self.selector = {**slo.selector, **selector}
        bad = sorted(set(labels) & set(RESERVED))
        if bad:
            raise UsageError(f"--label {bad[0]}: set by the rules themselves (choose another "
                             "label name)")

    def matchers(self, obj: Any, http: bool = True) -> list[Matcher]:
        ms = [Matcher(k, "=", v) for k, v in sorted(self.selector.items())]
        names = self.slo.metrics
        if http and getattr(obj, "endpoint", None):
            ms.append(Matcher(names.endpoint_label, "=", obj.endpoint))
        if http and getattr(obj, "method", None):
            ms.append(Matcher(names.method_label, "=", obj.method.upper()))
        return ms

    def target_and_ratio(self, obj: Any
                         ) -> tuple[float, ErrorRatio, list[RecordingRule]] | None:
        """(target, window -> error-ratio expression, recording rules it needs first)."""
        names = self.slo.metrics
        if isinstance(obj, (ErrorRateObjective, BurnRateObjective)):
            ms = self.matchers(obj)
            bad = render_selector(tuple(ms + [Matcher(names.status_label, "=~",
                                                      obj.statuses)]))
            all_ = render_selector(tuple(ms))
            target = 1.0 - obj.max if isinstance(obj, ErrorRateObjective) else obj.target
            return target, lambda w: (
                f"(sum(rate({names.http_requests}{bad}[{w}])) or vector(0))\n"
                f"/\nsum(rate({names.http_requests}{all_}[{w}]))"), []
        if isinstance(obj, (LatencyObjective, DbLatencyObjective)):
            http = isinstance(obj, LatencyObjective)
            hist = names.http_duration if http else names.db_duration
            ms = self.matchers(obj, http=http)
            le = self.bucket_label(obj, hist)
            good = render_selector(tuple(ms + [Matcher("le", "=", le)]))
            all_ = render_selector(tuple(ms + [Matcher("le", "=", "+Inf")]))
            return obj.quantile, lambda w: (
                f"1 - (\n  sum(rate({hist}_bucket{good}[{w}]))\n  /\n"
                f"  sum(rate({hist}_bucket{all_}[{w}]))\n)"), []
        if isinstance(obj, RatioObjective):
            return obj.target, *self.ratio(obj)
        return None

    def bucket_label(self, obj: LatencyObjective | DbLatencyObjective, hist: str) -> str:
        """The `le` label of the threshold's bucket; refused with the bracket when the known
        bounds do not hold it."""
        known = (self.bounds or {}).get(hist)
        if not known:  # unknown: written as prometheus_client spells a bound ("2.0")
            return repr(float(obj.threshold))
        finite = [le for le in known if not math.isinf(parse_le(le))]
        for le in finite:
            if math.isclose(parse_le(le), obj.threshold, rel_tol=1e-9, abs_tol=1e-12):
                return le
        br = threshold_bracket([parse_le(le) for le in finite], obj.threshold)
        assert br is not None
        lo, hi = br
        raise ConfigError(
            f"{obj.name}: {_s(obj.threshold)} is not a bucket bound of {hist}: the histogram "
            f"brackets it between {_s(lo)} and {_s(hi)}, so no rule can count the requests "
            f"within it (add a {_s(obj.threshold)} bucket to the service, or set the "
            f"threshold to {_s(lo)} or {_s(hi)})")

    def ratio(self, obj: RatioObjective) -> tuple[ErrorRatio, list[RecordingRule]]:
        """The user's queries recorded as they are (summed to one series), then taken over
        each window: increase for counters, the mean for gauges and raw ratios."""
        slo_label = {"slo": obj.name, **self.labels}
        sel = render_selector((Matcher("slo", "=", obj.name),))
        raw = obj.raw
        if raw is not None:
            if "$window" in raw:
                return (lambda w: (
                    f"1 - ({raw.replace('$window', w)})" if obj.raw_type == "success"
                    else raw.replace("$window", w))), []
            pre = [RecordingRule(record="slo:sli_raw:ratio", expr=f"sum({raw})",
                                 labels=slo_label)]
            flip = "1 - " if obj.raw_type == "success" else ""
            return (lambda w: f"{flip}avg_over_time(slo:sli_raw:ratio{sel}[{w}])"), pre
        which = "good" if obj.good is not None else "bad"
        kind = "total" if obj.counter else "gauge"
        pre = [RecordingRule(record=f"slo:sli_{which}:{kind}",
                             expr=f"sum({obj.good or obj.bad})", labels=slo_label),
               RecordingRule(record=f"slo:sli_events:{kind}", expr=f"sum({obj.total})",
                             labels=slo_label)]
        fn = "increase" if obj.counter else "avg_over_time"
        def num(w: str) -> str:
            return f"sum({fn}(slo:sli_{which}:{kind}{sel}[{w}]))"

        def den(w: str) -> str:
            return f"sum({fn}(slo:sli_events:{kind}{sel}[{w}]))"

        if which == "good":
            return (lambda w: f"1 - (\n  {num(w)}\n  /\n  {den(w)}\n)"), pre
        return (lambda w: f"{num(w)}\n/\n{den(w)}"), pre

    def group(self, obj: Any) -> RuleGroup | None:
        found = self.target_and_ratio(obj)
        if found is None:
            return None
        target, ratio, pre = found
        budget = round(1.0 - target, 12)
        labels = {"slo": obj.name, **self.labels}
        rules: list[RecordingRule | AlertingRule] = list(pre)
        for w in WINDOWS:
            rules.append(RecordingRule(record=error_ratio_name(w), expr=ratio(w), labels=labels))
        sel = render_selector((Matcher("slo", "=", obj.name),))
        for severity in ("page", "ticket"):
            pairs = [(f, lw, sw) for s, f, lw, sw in BURNS if s == severity]
            expr = "\nor\n".join(
                f"(\n  {error_ratio_name(lw)}{sel} > {_fmt(f * budget)}\n  and\n"
                f"  {error_ratio_name(sw)}{sel} > {_fmt(f * budget)}\n)"
                for f, lw, sw in pairs)
            windows = " or ".join(f"{f:g}x over {lw} and {sw}" for f, lw, sw in pairs)
            rules.append(AlertingRule(
                alert="SLOErrorBudgetBurn" + severity.capitalize(), expr=expr,
                labels={**labels, "severity": severity},
                annotations={
                    "summary": f"{obj.name}: error budget burning ({windows})",
                    "description": (f"{obj.name} (target {target:.6g}, error budget "
                                    f"{budget:.6g}) burns its budget faster than {windows} "
                                    "allow (SRE workbook multi-window, multi-burn-rate)")}))
        return RuleGroup(name=f"slo-{obj.name}", rules=rules)


def build_rules(slo: SloFile, selector: dict[str, str] | None = None,
                labels: dict[str, str] | None = None,
                bounds: dict[str, list[str]] | None = None) -> Rules:
    """Every objective's recording rules and burn-rate alerts; `selector` extends the SLO
    file's, `labels` go on every rule; `bounds` ({histogram: [le labels]}) checks latency
    thresholds against the buckets."""
    b = _Builder(slo, selector or {}, labels or {}, bounds)
    out = Rules()
    for obj in slo.objectives:
        group = b.group(obj)
        if group is None:
            out.notes.append(f"{obj.name} ({obj.kind}): no error budget to burn, no rules "
                             "written (availability and latency objectives have them)")
        else:
            out.groups.append(group)
    if not out.groups:
        raise ConfigError("no availability or latency objective in the SLO file: no rules "
                          "to write (kinds with rules: error_rate, burn_rate, latency, "
                          "db_latency, ratio)")
    if any(isinstance(o, RatioObjective) for o in slo.objectives) and selector:
        out.notes.append("--selector is not added to a ratio objective's own queries (they "
                         "are recorded as written)")
    return out


def _s(seconds: float) -> str:
    if math.isinf(seconds):
        return "+Inf"
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"
