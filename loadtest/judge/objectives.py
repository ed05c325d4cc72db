"""Judge each SLO objective over a window, from a metrics source (server side).

A figure is `pass` or `fail` only when there is data behind it: an empty answer, NaN, too few
samples or a source error is `no_data` with its reason, never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypedDict

from loadtest.judge.status import FAIL, NO_DATA, PASS, ObjectiveStatus
from loadtest.metrics.base import Matcher, MetricsSource, SourceError, Window
from loadtest.metrics.histogram import (
    boundary_label,
    bracket,
    bracket_counts,
    histogram_quantile,
)
from loadtest.slo import (
    BurnRateObjective,
    ClientObjective,
    DbLatencyObjective,
    ErrorRateObjective,
    LatencyObjective,
    NoAlertsObjective,
    PromqlObjective,
    RatioObjective,
    SloFile,
    ThresholdObjective,
    ThroughputObjective,
)
from loadtest.store.client_samples import view
from loadtest.store.records import ObjectiveExtra, ObjectiveRecord

OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
       ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}

MAX_BURN_STEPS = 120  # a burn_rate objective is evaluated at most this many times per window


@dataclass(frozen=True)
class ObjectiveResult:
    name: str
    kind: str
    description: str
    severity: str
    source: str              # "server" (a metrics source) or "client" (load generator samples)
    metrics_source: str      # prometheus | embedded | locust
    status: ObjectiveStatus
    value: float | None
    unit: str
    threshold: float
    comparison: str          # "<=", "<", ">="
    samples: float | None
    reason: str = ""
    exact: bool | None = None
    decided_by: str | None = None  # histogram | client (latency kinds)
    detail: str = ""
    queries: list[str] = field(default_factory=list)
    extra: ObjectiveExtra = field(default_factory=lambda: ObjectiveExtra())

    def to_dict(self) -> ObjectiveRecord:
        """The record of results.json's `objectives` (its keys in the fields' order)."""
        return ObjectiveRecord(
            name=self.name, kind=self.kind, description=self.description,
            severity=self.severity, source=self.source, metrics_source=self.metrics_source,
            status=self.status, value=self.value, unit=self.unit, threshold=self.threshold,
            comparison=self.comparison, samples=self.samples, reason=self.reason,
            exact=self.exact, decided_by=self.decided_by, detail=self.detail,
            queries=list(self.queries), extra=self.extra.copy())

    @property
    def gates(self) -> bool:
        """A `warn` objective is reported but does not fail the gate."""
        return self.severity == "fail"


def _finite(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) or math.isinf(v) else v


def matchers_for(slo: SloFile, obj: Any, http: bool = True) -> tuple[Matcher, ...]:
    ms = [Matcher(k, "=", v) for k, v in sorted(slo.selector.items())]
    if http:
        if getattr(obj, "endpoint", None):
            ms.append(Matcher(slo.metrics.endpoint_label, "=", obj.endpoint))
        if getattr(obj, "method", None):
            ms.append(Matcher(slo.metrics.method_label, "=", obj.method.upper()))
    return tuple(ms)


class _Common(TypedDict, total=False):
    """What an objective's results share whatever their status (ObjectiveResult's fields)."""
    unit: str
    threshold: float
    comparison: str
    queries: list[str]
    extra: ObjectiveExtra


class _ClientFields(TypedDict):
    """What a client-side objective's results share."""
    name: str
    kind: str
    description: str
    severity: str
    source: str
    metrics_source: str
    samples: float
    queries: list[str]


class _Judge:
    def __init__(self, slo: SloFile, source: MetricsSource, window: Window,
                 client: Any = None, offered_rate: float | None = None,
                 burn_at_end_only: bool = False) -> None:
        self.slo, self.source, self.window = slo, source, window
        self.client = view(client, window)  # the load generator's samples, or None
        self.offered_rate = offered_rate  # the schedule's mean rate over the window
        self.burn_at_end_only = burn_at_end_only  # live: the alert's state at the window's end

    def base(self, obj: Any, **kw: Any) -> ObjectiveResult:
        return ObjectiveResult(**{
            "name": obj.name, "kind": obj.kind, "description": obj.description,
            "severity": obj.severity, "source": "server",
            "metrics_source": self.source.name, **kw})

    def latency(self, obj: LatencyObjective | DbLatencyObjective) -> ObjectiveResult:
        http = isinstance(obj, LatencyObjective)
        hist = self.slo.metrics.http_duration if http else self.slo.metrics.db_duration
        matchers = matchers_for(self.slo, obj, http=http)
        common = _Common(unit="s", threshold=obj.threshold, comparison="<=")
        buckets, bq = self.source.buckets(hist, matchers, self.window)
        queries = [bq]
        if not buckets:
            return self.base(obj, status=NO_DATA, value=None, samples=None, queries=queries,
                             reason=f"no {hist}_bucket series match {_sel(matchers)} in the "
                                    "window (check metrics and selector in the SLO file)",
                             **common)
        count = next((c for le, c in buckets.items() if le in ("+Inf", "Inf")), None)
        if count is None:
            return self.base(obj, status=NO_DATA, value=None, samples=None, queries=queries,
                             reason=f"{hist}_bucket has no le=\"+Inf\" bucket", **common)
        fig = self.source.quantile(obj.quantile, hist, matchers, self.window)
        queries.append(fig.query)
        value = _finite(fig.value)
        local = histogram_quantile(obj.quantile, buckets)
        extra = ObjectiveExtra(quantile=obj.quantile)
        if local is not None:
            extra["quantile_from_buckets"] = local
        if count < obj.min_samples:
            return self.base(obj, status=NO_DATA, value=value, samples=count, queries=queries,
                             reason=f"only {count:.0f} observations in the window (fewer than "
                                    f"min_samples {obj.min_samples}: too few for a "
                                    f"p{_pct(obj.quantile)})", extra=extra, **common)
        if value is None:
            return self.base(obj, status=NO_DATA, value=None, samples=count, queries=queries,
                             reason="the quantile is empty or NaN", extra=extra, **common)
        lo_v, hi_v = bracket(buckets, value)
        extra["value_bracket"] = [lo_v, hi_v if math.isfinite(hi_v) else None]
        le = boundary_label(buckets, obj.threshold)
        client = self.client_quantile(obj) if isinstance(obj, LatencyObjective) else None
        if client is not None:
            extra["client_quantile"], extra["client_ratio_within_threshold"] = client
        if le is not None:
            ratio = buckets[le] / count if count else 0.0
            extra["ratio_within_threshold"] = ratio
            status = PASS if ratio >= obj.quantile else FAIL
            detail = (f"{ratio:.2%} of {count:.0f} observations within {_fmt_s(obj.threshold)} "
                      f"(exact: {_fmt_s(obj.threshold)} is a bucket boundary, le=\"{le}\"); "
                      f"interpolated p{_pct(obj.quantile)} {_fmt_s(value)}")
            return self.base(obj, status=status, value=value, samples=count, queries=queries,
                             exact=True, detail=detail, extra=extra, decided_by="histogram",
                             **common)
        return self.inside_bucket(obj, buckets, count, value, extra, queries, client)

    def inside_bucket(self, obj: LatencyObjective | DbLatencyObjective,
                      buckets: dict[str, float], count: float, value: float,
                      extra: ObjectiveExtra, queries: list[str],
                      client: tuple[float, float] | None) -> ObjectiveResult:
        """The threshold lies inside a bucket: the histogram knows the share within it only
        to lie between the shares at the two bracketing bounds. Both on one side of the
        quantile decide exactly; otherwise the load generator's samples of the same requests
        decide (HTTP only), or there is no verdict."""
        common = _Common(unit="s", threshold=obj.threshold, comparison="<=")
        lo, hi, at_lo, at_hi = bracket_counts(buckets, obj.threshold)
        low, high = at_lo / count, at_hi / count
        extra["bucket_bracket"] = [lo, hi if math.isfinite(hi) else None]
        extra["ratio_within_bracket"] = [low, high]
        where = (f"{_fmt_s(obj.threshold)} is not a bucket bound: the histogram brackets it "
                 f"between {_fmt_s(lo)} and {_fmt_s(hi)}")
        shares = (f"{low:.2%} of {count:.0f} observations within {_fmt_s(lo)}, {high:.2%} "
                  f"within {_fmt_s(hi)}")
        interp = f"interpolated p{_pct(obj.quantile)} {_fmt_s(value)}"
        if low >= obj.quantile or high < obj.quantile:
            status = PASS if low >= obj.quantile else FAIL
            return self.base(obj, status=status, value=value, samples=count, queries=queries,
                             exact=True, decided_by="histogram", extra=extra,
                             detail=f"{shares}: decided either way ({where}); {interp}",
                             **common)
        if client is not None:
            q_client, within = client
            status = PASS if within >= obj.quantile else FAIL
            return self.base(obj, status=status, value=value, samples=count, queries=queries,
                             exact=False, decided_by="client", extra=extra,
                             detail=(f"decided by the load generator's samples: {within:.2%} "
                                     f"of the same requests within {_fmt_s(obj.threshold)} "
                                     f"(p{_pct(obj.quantile)} {_fmt_s(q_client)}), because "
                                     f"{where} ({shares}); {interp}"), **common)
        fix = f"add a {_fmt_s(obj.threshold)} bucket to {self.histogram_name(obj)}"
        return self.base(obj, status=NO_DATA, value=value, samples=count, queries=queries,
                         exact=False, extra=extra, detail=f"{shares}; {interp}",
                         reason=f"{where}, and {shares} straddle {obj.quantile:.0%}: the "
                                f"histogram cannot decide ({fix})", **common)

    def histogram_name(self, obj: LatencyObjective | DbLatencyObjective) -> str:
        return (self.slo.metrics.http_duration if isinstance(obj, LatencyObjective)
                else self.slo.metrics.db_duration)

    def client_quantile(self, obj: LatencyObjective) -> tuple[float, float] | None:
        """The load generator's exact quantile (s) and share within the threshold, over the
        same requests (window, endpoint and method filters) as measured; None without
        samples."""
        cs = self.client
        if cs is None:
            return None
        keys = cs.keys(obj.endpoint, obj.method)
        if cs.count(keys) < max(1, obj.min_samples):
            return None
        return ((cs.quantile(keys, "response_ms", obj.quantile) or 0.0) / 1000,
                cs.within(keys, "response_ms", obj.threshold))

    def throughput(self, obj: ThroughputObjective) -> ObjectiveResult:
        matchers = matchers_for(self.slo, obj)
        metric = self.slo.metrics.http_requests
        fig = self.source.increase(metric, matchers, self.window)
        floor = obj.min * (1 - obj.tolerance)
        common = _Common(unit="req/s", threshold=obj.min, comparison=">=", queries=[fig.query],
                         extra=ObjectiveExtra(tolerance=obj.tolerance, pass_at_or_above=floor,
                                              window_s=self.window.seconds))
        total = _finite(fig.value)
        if total is None:
            return self.base(obj, status=NO_DATA, value=None, samples=None,
                             reason=f"no {metric} series match {_sel(matchers)} in the window",
                             **common)
        value = total / self.window.seconds
        sent = self.sent(obj)
        if self.offered_rate is not None and sent is not None and sent[0] > 0:
            return self.throughput_offered(obj, total, sent, common)
        detail = f"{total:.0f} requests in {self.window.seconds:.1f} s"
        if obj.tolerance:
            detail += f"; passes at >= {floor:.2f} req/s ({obj.tolerance:.0%} counting tolerance)"
        return self.base(obj, status=PASS if value >= floor else FAIL, value=value,
                         samples=total, exact=True, detail=detail, **common)

    def throughput_offered(self, obj: ThroughputObjective, total: float,
                           sent: tuple[int, int], common: _Common) -> ObjectiveResult:
        """The harness generated the load: a count under `min` passes when the target served
        what it was sent (within the counting tolerance) and the schedule offered `min` on
        average, since random (Poisson) arrivals offer less than the mean by chance. A
        count at or above `min` passes as with any load."""
        assert self.offered_rate is not None
        mine, everything = sent
        offered = self.offered_rate * mine / everything  # the filter's share of the schedule
        seconds = self.window.seconds
        value = total / seconds
        reached = value >= obj.min * (1 - obj.tolerance)
        served = total >= mine * (1 - obj.tolerance)
        enough = offered >= obj.min * (1 - 1e-3)  # slack for the profile's integration only
        common["extra"].update(ObjectiveExtra(
            sent=mine, offered_rate=offered, judged_against="rate" if reached else "sent"))
        detail = (f"{total:.0f} requests served of {mine} sent in {seconds:.1f} s "
                  f"({value:.2f} req/s); the schedule offered {offered:.2f} req/s on average "
                  f"(min {obj.min:g})")
        if reached:
            detail += f": at or above {obj.min * (1 - obj.tolerance):.2f} req/s"
        elif not served:
            detail += f": fewer served than sent (beyond the {obj.tolerance:.0%} tolerance)"
        elif not enough:
            detail += f": the load offered less than {obj.min:g} req/s (raise --rate)"
        else:
            detail += ": every request sent was served; fewer arrived than the mean by chance"
        return self.base(obj, status=PASS if reached or (served and enough) else FAIL,
                         value=value, samples=total, exact=True, detail=detail, **common)

    def sent(self, obj: ThroughputObjective) -> tuple[int, int] | None:
        """Requests the load generator started in the window: (matching the objective's
        filters, all)."""
        cs = self.client
        if cs is None:
            return None
        return cs.count(cs.keys(obj.endpoint, obj.method)), cs.count(cs.keys())

    def error_rate(self, obj: ErrorRateObjective) -> ObjectiveResult:
        matchers = matchers_for(self.slo, obj)
        metric = self.slo.metrics.http_requests
        errs = self.source.increase(
            metric, matchers + (Matcher(self.slo.metrics.status_label, "=~", obj.statuses),),
            self.window)
        total = self.source.increase(metric, matchers, self.window)
        common = _Common(unit="ratio", threshold=obj.max, comparison="<",
                      queries=[errs.query, total.query])
        n = _finite(total.value)
        if n is None or n == 0:
            return self.base(obj, status=NO_DATA, value=None, samples=n,
                             reason=f"no {metric} requests match {_sel(matchers)} in the window",
                             **common)
        if n < obj.min_samples:
            return self.base(obj, status=NO_DATA, value=None, samples=n,
                             reason=f"only {n:.0f} requests in the window (fewer than "
                                    f"min_samples {obj.min_samples})", **common)
        e = _finite(errs.value) or 0.0  # no error series at all = no errors (numerator only)
        value = e / n
        return self.base(obj, status=PASS if value < obj.max else FAIL, value=value, samples=n,
                         exact=True, detail=f"{e:.0f} of {n:.0f} responses matched "
                                            f"status=~\"{obj.statuses}\"", **common)


    def burn_rate(self, obj: BurnRateObjective) -> ObjectiveResult:
        """The multi-window alert evaluated at steps through the window (each window clipped
        to the test window's start): it holds where the burn rate is >= factor over both."""
        matchers = matchers_for(self.slo, obj)
        bad = matchers + (Matcher(self.slo.metrics.status_label, "=~", obj.statuses),)
        queries: list[str] = []
        worst: tuple[float, float, float, float] | None = None  # (burn, at, long, short)
        fired: list[float] = []
        judged = 0
        for end in self.burn_steps(obj):
            burns = self.step_burn(obj, end, matchers, bad, queries)
            if burns is None:
                continue  # too few requests to say: never an alert
            judged += 1
            both = min(burns)
            if both >= obj.factor:
                fired.append(round(end - self.window.start, 3))
            if worst is None or both > worst[0]:
                worst = (both, end, burns[0], burns[1])
        return self.burn_result(obj, matchers, queries, worst, fired, judged)

    def burn_steps(self, obj: BurnRateObjective) -> list[float]:
        """Where the alert is evaluated: at the window's end only (live), else back from the
        end one short window apart (wider when that would make more than MAX_BURN_STEPS), while
        a short window still fits in the test window."""
        w = self.window
        if self.burn_at_end_only:
            return [w.end]
        step = max(obj.short_window, w.seconds / MAX_BURN_STEPS)
        ends, t = [], w.end
        while t >= w.start + min(obj.short_window, w.seconds) - 1e-6:
            ends.append(t)
            t -= step
        ends.reverse()
        return ends

    def step_burn(self, obj: BurnRateObjective, end: float, matchers: tuple[Matcher, ...],
                  bad: tuple[Matcher, ...], queries: list[str]) -> tuple[float, float] | None:
        """The burn rates over the long and the short window that end at `end`, or None when
        either has no requests or the long one fewer than min_samples. The first queries
        asked go to `queries`."""
        metric = self.slo.metrics.http_requests
        budget = 1.0 - obj.target
        burns: list[float] = []
        for length in (obj.long_window, obj.short_window):
            sub = Window(max(self.window.start, end - length), end)
            total = self.source.increase(metric, matchers, sub)
            errs = self.source.increase(metric, bad, sub)
            if not queries:
                queries += [errs.query, total.query]
            n = _finite(total.value)
            if n is None or n <= 0 or (length == obj.long_window and n < obj.min_samples):
                return None
            burns.append((_finite(errs.value) or 0.0) / n / budget)
        return burns[0], burns[1]

    def burn_result(self, obj: BurnRateObjective, matchers: tuple[Matcher, ...],
                    queries: list[str], worst: tuple[float, float, float, float] | None,
                    fired: list[float], judged: int) -> ObjectiveResult:
        """Fail when the alert fired at any step; the highest burn over both windows is the
        value."""
        budget = 1.0 - obj.target
        common = _Common(unit="x budget", threshold=obj.factor, comparison="<",
                         queries=queries)
        extra = ObjectiveExtra(target=obj.target, budget=budget, long_window_s=obj.long_window,
                               short_window_s=obj.short_window, steps=judged)
        if worst is None:
            return self.base(obj, status=NO_DATA, value=None, samples=None, extra=extra,
                             reason=f"no step of the window had {obj.min_samples} requests "
                                    f"(min_samples) in its long window ({_fmt_s(obj.long_window)})"
                                    f" matching {_sel(matchers)}", **common)
        burn, at, long_b, short_b = worst
        extra.update(ObjectiveExtra(burn_long=long_b, burn_short=short_b,
                                    at_offset_s=round(at - self.window.start, 3),
                                    fired_at_offsets_s=fired[:50]))
        windows = f"{_fmt_s(obj.long_window)} and {_fmt_s(obj.short_window)}"
        if fired:
            detail = (f"the error budget ({budget:.3%} of requests not {obj.statuses}) burned "
                      f">= {obj.factor:g}x over both {windows} windows at {len(fired)} of "
                      f"{judged} steps, first at +{fired[0]:.0f} s of the window (highest "
                      f"{burn:.1f}x: {long_b:.1f}x long, {short_b:.1f}x short)")
        else:
            detail = (f"highest burn rate over both {windows} windows {burn:.2f}x the budget "
                      f"({budget:.3%}) across {judged} steps; the alert needs {obj.factor:g}x")
        return self.base(obj, status=FAIL if fired else PASS, value=burn, samples=None,
                         exact=True, detail=detail, extra=extra, **common)

    def promql(self, obj: PromqlObjective) -> ObjectiveResult:
        query = obj.query.replace("$window", f"{self.window.range_ms}ms")
        common = _Common(unit=obj.unit, threshold=obj.threshold, comparison=obj.op,
                         queries=[query])
        rows = self.source.instant(query, self.window.end)
        if not rows:
            return self.base(obj, status=NO_DATA, value=None, samples=None,
                             reason="the query returned no series", **common)
        if len(rows) > 1:
            return self.base(obj, status=NO_DATA, value=None, samples=None,
                             reason=f"the query returned {len(rows)} series; aggregate it to "
                                    "one value (e.g. sum(...) or max(...))", **common)
        value = _finite(rows[0][1])
        if value is None:
            return self.base(obj, status=NO_DATA, value=None, samples=None,
                             reason="the query returned NaN or an infinity", **common)
        return self.base(obj, status=PASS if OPS[obj.op](value, obj.threshold) else FAIL,
                         value=value, samples=None, exact=True,
                         detail=f"{value:g} {obj.op} {obj.threshold:g}", **common)

    def scalar(self, query: str) -> float | None:
        """An aggregated query's one value at the window's end (None: no data, NaN, inf)."""
        rows = self.source.instant(query, self.window.end)
        return _finite(rows[0][1]) if rows else None

    def subquery_range(self) -> str:
        """`[Dms:Sms]`: the window as a subquery, at steps of at least 1 s and at most 1000
        steps (a query the user wrote is evaluated through the window as it is)."""
        ms = self.window.range_ms
        return f"[{ms}ms:{max(1000, ms // 1000)}ms]"

    def counter_range(self) -> str:
        """The subquery range over which a counter query's increase matches the native
        `increase(x[window])`: that counts from the first scrape inside the window to the
        last; a subquery's first point takes the scrape before the window (the last value at
        or before it), so its range starts one scrape interval later, at fine steps (1/200 of
        the interval, at most 20,000 points) so its points see each scrape as it lands."""
        ms = self.window.range_ms
        interval = getattr(self.source, "scrape_interval_s", None)
        if not interval or ms <= 4 * interval * 1000:
            return self.subquery_range()
        i_ms = round(interval * 1000)
        return f"[{ms - i_ms}ms:{max(1, i_ms // 200, ms // 20000)}ms]"

    def ratio(self, obj: RatioObjective) -> ObjectiveResult:
        """good (or 1 - bad) over total: counters by their increase over the window (the
        query as written, through a subquery), gauges by their mean; a raw ratio by its mean
        (or as written at the window's end when it holds $window)."""
        common = _Common(unit="ratio", threshold=obj.target, comparison=">=")
        extra = ObjectiveExtra(target=obj.target, counter=obj.counter)
        if obj.raw is not None:
            raw = obj.raw.replace("$window", f"{self.window.range_ms}ms")
            q = raw if "$window" in obj.raw else \
                f"avg_over_time(({raw}){self.subquery_range()})"
            q = f"sum({q})"
            value = self.scalar(q)
            if value is None:
                return self.base(obj, status=NO_DATA, value=None, samples=None, queries=[q],
                                 reason="the raw query returned no data in the window",
                                 extra=extra, **common)
            good = value if obj.raw_type == "success" else 1.0 - value
            return self.ratio_result(obj, good, None, [q], extra, common,
                                     f"raw {obj.raw_type} ratio {value:.4%}")
        fn, rng = ("increase", self.counter_range()) if obj.counter else \
            ("avg_over_time", self.subquery_range())
        num_q, total_q = (f"sum({fn}(({obj.good or obj.bad}){rng}))",
                          f"sum({fn}(({obj.total}){rng}))")
        n = self.scalar(total_q)
        queries = [num_q, total_q]
        if n is None or n <= 0:
            return self.base(obj, status=NO_DATA, value=None, samples=n, queries=queries,
                             reason="the total query has no events in the window", extra=extra,
                             **common)
        if obj.counter and n < obj.min_samples:
            return self.base(obj, status=NO_DATA, value=None, samples=n, queries=queries,
                             reason=f"only {n:.0f} events in the window (fewer than "
                                    f"min_samples {obj.min_samples})", extra=extra, **common)
        which = "good" if obj.good is not None else "bad"
        k = self.scalar(num_q)
        if k is None and which == "good":  # no series: a wrong label (le?), not zero good
            return self.base(obj, status=NO_DATA, value=None, samples=n, queries=queries,
                             reason="the good query matched no series in the window (check "
                                    "its metric and labels, e.g. the le bucket bound)",
                             extra=extra, **common)
        k = k or 0.0  # no bad series at all = no bad events
        good = k / n if which == "good" else 1.0 - k / n
        if which == "good":
            extra["good_events"] = k
        else:
            extra["bad_events"] = k
        extra["total_events"] = n
        what = (f"{k:.0f} {which} of {n:.0f} events (increase over the window)" if obj.counter
                else f"mean {which} {k:.4g} over mean total {n:.4g}")
        return self.ratio_result(obj, good, n, queries, extra, common, what)

    def ratio_result(self, obj: RatioObjective, good: float, n: float | None,
                     queries: list[str], extra: ObjectiveExtra, common: _Common,
                     what: str) -> ObjectiveResult:
        budget = 1.0 - obj.target
        extra["budget_spent"] = (1.0 - good) / budget  # the burn rate over the window
        return self.base(obj, status=PASS if good >= obj.target else FAIL, value=good,
                         samples=n, queries=queries, exact=True, extra=extra,
                         detail=f"good ratio {good:.4%} (target {obj.target:.4%}): {what}; "
                                f"{extra['budget_spent']:.2f}x the error budget", **common)

    def threshold_share(self, obj: ThresholdObjective) -> ObjectiveResult:
        """The share of steps through the window at which `query op value` holds."""
        query = obj.query.replace("$window", f"{self.window.range_ms}ms")
        sub = self.subquery_range()
        share_q = f"avg(avg_over_time((({query}) {obj.op} bool {obj.value!r}){sub}))"
        steps_q = f"max(count_over_time(({query}){sub}))"
        common = _Common(unit="ratio", threshold=obj.target, comparison=">=",
                         queries=[share_q, steps_q])
        share = self.scalar(share_q)
        steps = self.scalar(steps_q)
        if share is None:
            return self.base(obj, status=NO_DATA, value=None, samples=None,
                             reason="the query returned no data in the window", **common)
        return self.base(obj, status=PASS if share >= obj.target else FAIL, value=share,
                         samples=steps, exact=True,
                         extra=ObjectiveExtra(target=obj.target, op=obj.op, value=obj.value),
                         detail=f"{query} {obj.op} {obj.value:g} at {share:.2%} of "
                                f"{steps or 0:.0f} steps (target {obj.target:.2%})", **common)

    def no_alerts(self, obj: NoAlertsObjective) -> ObjectiveResult:
        ms = [Matcher("alertstate", "=", "firing")]
        if obj.alertname:
            ms.append(Matcher("alertname", "=~", obj.alertname))
        if obj.alert_severity:
            ms.append(Matcher("severity", "=~", obj.alert_severity))
        query = (f"max by (alertname, severity) (max_over_time(ALERTS{_sel(tuple(ms))}"
                 f"[{self.window.range_ms}ms]))")
        common = _Common(unit="alerts", threshold=0.0, comparison="==", queries=[query])
        rules = self.source.alert_rules()
        if rules == 0:
            return self.base(obj, status=NO_DATA, value=None, samples=None,
                             reason="Prometheus evaluates no alerting rules, so no alert "
                                    "could fire (load rules with --rules FILE)", **common)
        fired = self.source.instant(query, self.window.end)
        names = sorted({labels.get("alertname", "?") for labels, _ in fired})
        if names:
            return self.base(obj, status=FAIL, value=float(len(names)), samples=float(rules),
                             exact=True, detail="fired during the window: " + ", ".join(names),
                             extra=ObjectiveExtra(alerts=names), **common)
        return self.base(obj, status=PASS, value=0.0, samples=float(rules), exact=True,
                         detail=f"none of {rules} alerting rules fired during the window",
                         **common)


def evaluate_client(slo: SloFile, samples: Any, window: Window,
                    only: list[Any] | None = None) -> list[ObjectiveResult]:
    """Client-side objectives, from the load generator's per-request samples (a
    streaming.ClientSamples, or a DataFrame of them; `only`: these objectives, default the
    file's)."""
    cs = view(samples, window)
    return [_client_objective(obj, cs, window)
            for obj in (slo.objectives if only is None else only)
            if isinstance(obj, ClientObjective)]


def _client_objective(obj: ClientObjective, cs: Any, window: Window) -> ObjectiveResult:
    keys = cs.keys(obj.endpoint, obj.method)
    n = cs.count(keys)
    base = _ClientFields(
        name=obj.name, kind=obj.kind, description=obj.description, severity=obj.severity,
        source="client", metrics_source="locust", samples=float(n),
        queries=[f"client samples: {obj.metric}" + (f" {obj.method or ''} {obj.endpoint or ''}"
                                                    if obj.endpoint or obj.method else "")])
    if obj.metric == "throughput":
        assert obj.min is not None
        value = n / window.seconds
        return ObjectiveResult(status=PASS if value >= obj.min else FAIL, value=value,
                               unit="req/s", threshold=obj.min, comparison=">=", exact=True,
                               detail=f"{n} requests started in {window.seconds:.1f} s", **base)
    latency = obj.metric == "latency"
    if n < obj.min_samples:
        return ObjectiveResult(
            status=NO_DATA, value=None, unit="s" if latency else "ratio",
            threshold=float((obj.threshold if latency else obj.max) or 0),
            comparison="<=" if latency else "<",
            reason=f"only {n} samples (fewer than min_samples {obj.min_samples})", **base)
    if latency:
        assert obj.quantile is not None and obj.threshold is not None
        column = "corrected_ms" if obj.corrected else "response_ms"
        value = (cs.quantile(keys, column, obj.quantile) or 0.0) / 1000
        within = cs.within(keys, column, obj.threshold)
        return ObjectiveResult(
            status=PASS if value <= obj.threshold else FAIL, value=value, unit="s",
            threshold=obj.threshold, comparison="<=", exact=True,
            detail=f"{within:.2%} of {n} requests within {_fmt_s(obj.threshold)} "
                   + ("(from the intended start: coordinated omission corrected)"
                      if obj.corrected else "(as measured)"),
            extra={"ratio_within_threshold": within, "corrected": obj.corrected}, **base)
    assert obj.max is not None
    errors = cs.matching(keys, obj.statuses)
    return ObjectiveResult(
        status=PASS if errors / n < obj.max else FAIL, value=errors / n, unit="ratio",
        threshold=obj.max, comparison="<", exact=True,
        detail=f"{errors} of {n} responses matched status=~\"{obj.statuses}\"", **base)


def interpolation_warnings(objectives: list[ObjectiveRecord]) -> list[str]:
    """A server quantile interpolated well above the load generator's exact one for the same
    requests: the client's figure includes the network, so the excess is the interpolation's
    error inside a wide bucket, not time the server spent."""
    out = []
    for o in objectives:
        extra = o.get("extra") or {}
        client, value = extra.get("client_quantile"), o.get("value")
        if client is None or value is None or value <= client * 1.10 + 0.005:
            continue
        lo, hi = (extra.get("value_bracket") or [None, None])[:2]
        inside = (f" between bucket bounds {_fmt_s(lo)} and "
                  f"{_fmt_s(hi) if hi is not None else '+Inf'}" if lo is not None else "")
        out.append(f"{o['name']}: the server's p{_pct(extra.get('quantile', 0.95))} "
                   f"{_fmt_s(value)} (interpolated{inside}) is above the load generator's "
                   f"{_fmt_s(client)} for the same requests: the interpolation's error, not "
                   "server time (more bucket bounds there make it exact)")
    return out


def _pct(q: float) -> str:
    return f"{q * 100:g}"


def _fmt_s(seconds: float) -> str:
    if math.isinf(seconds):
        return "+Inf"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.3g} s"


def _sel(matchers: tuple[Matcher, ...]) -> str:
    return "{" + ",".join(m.render() for m in matchers) + "}"


def evaluate(slo: SloFile, source: MetricsSource, window: Window,
             client: Any = None, offered_rate: float | None = None,
             only: list[Any] | None = None,
             burn_at_end_only: bool = False) -> list[ObjectiveResult]:
    """Server-side objectives (client objectives: evaluate_client). `client`, the load
    generator's samples, decides a latency threshold the histogram brackets; with
    `offered_rate` (the harness made the load) throughput is judged against what was sent.
    `only`: these objectives (default: the file's); `burn_at_end_only`: a burn_rate
    objective's alert at the window's end only (the live monitor)."""
    judge = _Judge(slo, source, window, client, offered_rate, burn_at_end_only)
    out: list[ObjectiveResult] = []
    for obj in (slo.objectives if only is None else only):
        try:
            if isinstance(obj, (LatencyObjective, DbLatencyObjective)):
                out.append(judge.latency(obj))
            elif isinstance(obj, ThroughputObjective):
                out.append(judge.throughput(obj))
            elif isinstance(obj, ErrorRateObjective):
                out.append(judge.error_rate(obj))
            elif isinstance(obj, PromqlObjective):
                out.append(judge.promql(obj))
            elif isinstance(obj, NoAlertsObjective):
                out.append(judge.no_alerts(obj))
            elif isinstance(obj, BurnRateObjective):
                out.append(judge.burn_rate(obj))
            elif isinstance(obj, RatioObjective):
                out.append(judge.ratio(obj))
            elif isinstance(obj, ThresholdObjective):
                out.append(judge.threshold_share(obj))
        except SourceError as e:
            out.append(judge.base(obj, status=NO_DATA, value=None, unit="", samples=None,
                                  threshold=float(getattr(obj, "threshold", None)
                                                  or getattr(obj, "factor", None)
                                                  or getattr(obj, "target", None)
                                                  or getattr(obj, "min", None)
                                                  or getattr(obj, "max", 0.0) or 0.0),
                                  comparison="", reason=str(e)))
    return out
