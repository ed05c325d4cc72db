"""The regression verdict between a baseline and a run, per objective.

A regression is declared only when the change is both larger than the objective's tolerance
and statistically significant: its confidence interval (block bootstrap over seconds for
latencies, Newcombe for error rates, Poisson for throughput), widened by the assumed run-to-run
noise, lies entirely on the worse side of "no change".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import numpy as np

from loadtest.judge.status import FAIL, NO_DATA, PASS, ObjectiveStatus
from loadtest.metrics.histogram import histogram_quantile, quantile_bucket
from loadtest.regression import stats
from loadtest.slo import (
    DEFAULT_MIN_CHANGE_S,
    DEFAULT_TOLERANCE,
    DbLatencyObjective,
    ErrorRateObjective,
    LatencyObjective,
    SloFile,
    ThroughputObjective,
)
from loadtest.store.records import (
    ComparisonSummary,
    HistoryLine,
    IntervalHistograms,
    LimitedBy,
    LoadRecord,
    RegressionRecord,
    ResultsRecord,
    RunMeta,
    SamplesRecord,
    SourceInfo,
)

__all__ = ["FAIL", "NO_DATA", "PASS"]  # judge/status.py's, named here too


@dataclass
class Comparison:
    checks: list[RegressionRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: ComparisonSummary = field(default_factory=lambda: ComparisonSummary())
    inconclusive: str | None = None  # why the two runs cannot be compared at all


def inconclusive_side(base: ResultsRecord, run: ResultsRecord) -> str | None:
    """A run whose own verdict was inconclusive, or whose load was not delivered, measured
    something other than what was asked: comparing it says nothing about the service."""
    for side, res in (("baseline", base), ("run", run)):
        rid = (res.get("run") or RunMeta()).get("id")
        load = res.get("load") or LoadRecord()
        verdict = res.get("verdict")
        if load.get("delivered") is False:
            achieved, requested = load.get("achieved_rate"), load.get("requested_rate")
            figures = (f" ({achieved:.1f} of {requested:.1f} req/s sent)"
                       if isinstance(achieved, (int, float))
                       and isinstance(requested, (int, float)) else "")
            return (f"the {side} {rid} did not deliver its load{figures}: compare runs that "
                    "both delivered it")
        if verdict is not None and verdict.get("status") == "inconclusive":
            return (f"the {side} {rid} was inconclusive ({verdict.get('reason', '')}): "
                    "compare runs that were judged")
    return None


def window_seconds(results: ResultsRecord) -> float | None:
    """The judged window's length, when the record holds one."""
    window = results.get("run", RunMeta()).get("window")
    return window.get("seconds") if window else None


def signed_pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def _client(results: ResultsRecord, endpoint: str | None, method: str | None
            ) -> tuple[list[float], list[float], list[int]] | None:
    s = (results.get("samples") or SamplesRecord()).get("client")
    if not s or not s.get("t"):
        return None
    names = s["names"]
    keep = [i for i, n in enumerate(names)
            if (method is None or n.split(" ", 1)[0] == method.upper())
            and (endpoint is None or n.split(" ", 1)[1] == endpoint)]
    wanted = set(keep)
    rows = [(t, ms, st) for t, ms, e, st in zip(s["t"], s["ms"], s["ep"], s["status"])
            if e in wanted]
    return ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


HISTORY_MIN = 5    # earlier runs of the same load before their spread replaces the assumed noise
HISTORY_RUNS = 20  # the most recent ones
MIN_BLOCKS = 10    # time blocks a side before a block bootstrap is an interval (fewer: underpowered)


def history_noise(history: list[HistoryLine], run: ResultsRecord, obj: Any
                  ) -> tuple[float, int] | None:
    """The run-to-run noise of an objective's figure over earlier runs of the same scenario,
    rate and shape: z * sqrt(2) * their coefficient of variation (the spread of a ratio of two
    runs at the comparison's confidence), with the number of runs; None with fewer than
    HISTORY_MIN."""
    meta = run.get("run", RunMeta())
    key = (meta.get("scenario"), meta.get("rate"), meta.get("shape") or "constant")

    def figure(h: HistoryLine) -> float | None:
        figures = h.get("client_figures") if obj.kind == "latency" else h.get("figures")
        return (figures or {}).get(obj.name)

    values = [float(v) for h in history
              if (h.get("scenario"), h.get("rate"), h.get("shape") or "constant") == key
              and h.get("id") != meta.get("id")
              and isinstance(v := figure(h), (int, float))
              and v > 0][-HISTORY_RUNS:]
    if len(values) < HISTORY_MIN:
        return None
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return stats.Z95 * math.sqrt(2) * sd / mean, len(values)


class _Power(TypedDict, total=False):
    """What a pair could have declared (_Checker.power), into the regression record."""
    detectable_change: float | None
    underpowered: bool
    limited_by: LimitedBy
    duration_needed_s: float
    duration_goal: float


class _Checker:
    def __init__(self, base: ResultsRecord, run: ResultsRecord, slo: SloFile,
                 history: list[HistoryLine] | None = None) -> None:
        self.base, self.run, self.slo = base, run, slo
        self.history = history or []
        self.settings = slo.regression
        self.min_change = 0.0  # the absolute floor of the objective being checked (s)

    def _result(self, obj: Any, *, status: ObjectiveStatus = NO_DATA, reason: str = "",
                tolerance: float | None = None, samples: list[int] | None = None
                ) -> RegressionRecord:
        return RegressionRecord(
            name=f"{obj.name}.regression", objective=obj.name, kind=obj.kind, status=status,
            reason=reason, message="", base_value=None, run_value=None, change=None, ci=None,
            tolerance=tolerance, significant=None, decided_by=None, samples=samples)

    def _judge(self, obj: Any, est: stats.Estimate, tol: float, worse_up: bool,
               relative: bool, base_value: float, run_value: float, what: str
               ) -> RegressionRecord:
        noise, noise_source = self.noise_for(obj, relative)
        if relative:
            change, lo, hi = est.point - 1, est.low / (1 + noise) - 1, est.high * (1 + noise) - 1
        else:
            change, lo, hi = est.point, est.low, est.high
        worse = change if worse_up else -change
        exceeds = worse > tol
        floor = self.min_change if obj.kind in ("latency", "db_latency") \
            else 0.0
        if floor and abs(run_value - base_value) <= floor:
            exceeds = False
        significant = (lo > 0) if worse_up else (hi < 0)
        improved = (hi < 0) if worse_up else (lo > 0)
        fmt = signed_pct if relative else (lambda x: f"{x * 100:+.2f} pp")
        tol_text = f"{tol:.0%}" if relative else f"{tol * 100:.2f} pp"
        if floor:
            tol_text += f" and {floor * 1000:g} ms"
        ci_text = f"{self.settings.confidence:.0%} CI {fmt(lo)} .. {fmt(hi)}"
        status: ObjectiveStatus
        if exceeds and significant:
            status, decided = FAIL, "both: beyond the tolerance and significant"
        elif exceeds:
            status, decided = PASS, "significance: beyond the tolerance but within the noise"
        elif significant:
            status, decided = PASS, "tolerance: a real change, within the tolerance"
        elif improved:
            status, decided = PASS, "significant improvement"
        else:
            status, decided = PASS, "no significant change"
        power = self.power(est, tol, noise, worse_up, relative,
                           floor / base_value if floor and base_value > 0 else 0.0)
        message = f"{obj.name} {what} {fmt(change)} ({ci_text}; tolerance {tol_text})"
        out = self._result(obj, status=status, tolerance=tol, samples=[est.n_base, est.n_run])
        out["base_value"], out["run_value"], out["change"] = base_value, run_value, change
        out["ci"], out["significant"] = [lo, hi], significant
        out["decided_by"], out["message"] = decided, message
        out["relative"], out["noise"], out["noise_source"] = relative, noise, noise_source
        out.update(power)
        if decided == "significant improvement":
            out["improved"] = True
        return out

    def noise_for(self, obj: Any, relative: bool) -> tuple[float, str]:
        """The run-to-run noise that widens a relative interval: the spread of this
        objective's figure over >= HISTORY_MIN earlier runs of the same load, else the SLO
        file's assumed value."""
        assumed = self.settings.noise
        if not relative:
            return 0.0, "none (an absolute difference of proportions)"
        spread = history_noise(self.history, self.run, obj)
        if spread is None:
            return assumed, (f"assumed ({assumed:.0%}; fewer than {HISTORY_MIN} earlier runs "
                             "of the same scenario, rate and shape)")
        value, n = spread
        return value, f"history ({value:.1%} from {n} runs of the same scenario, rate and shape)"

    def power(self, est: stats.Estimate, tol: float, noise: float, worse_up: bool,
              relative: bool, floor: float) -> _Power:
        """The smallest change this pair could have declared: the interval's half-width on
        the worse side, widened by the noise, and at least the tolerance (and the floor).
        More than twice the tolerance is underpowered; the sampling part shrinks as
        1/sqrt(duration), the noise part does not."""
        if relative:
            point = est.point if est.point > 0 else 1.0
            spread = (point / est.low - 1 if worse_up else 1 - est.high / point) \
                if est.low > 0 and est.high > 0 else math.inf
            spread = max(spread, 0.0)
            noise_part = noise
            detect = (1 + noise) * (1 + spread) - 1 if worse_up else \
                1 - 1 / ((1 + noise) * (1 + spread))
        else:
            spread = max(est.point - est.low if worse_up else est.high - est.point, 0.0)
            noise_part = 0.0
            detect = spread
        detectable = max(detect, tol, floor)
        out = _Power(detectable_change=float(detectable),
                     # the floor is chosen, not a lack of samples: not counted here
                     underpowered=bool(detect > 2 * tol))
        if floor > max(detect, tol):
            out["limited_by"] = "min_change"
        seconds = window_seconds(self.run)
        if out["underpowered"] and seconds and spread > 0 and math.isfinite(spread):
            # the duration at which the sampling part brings the detectable change within the
            # tolerance; where the noise alone exceeds it, within twice the tolerance
            goal = tol if noise_part < tol * 0.9 else 2 * tol
            allowed = ((1 + goal) / (1 + noise_part) - 1) if relative else goal
            if allowed > 0:
                out["duration_needed_s"] = float(seconds * (spread / allowed) ** 2)
                out["duration_goal"] = goal
        return out

    def check(self, obj: Any) -> RegressionRecord | None:
        rule = obj.regression
        if obj.kind not in DEFAULT_TOLERANCE or (rule is not None and not rule.enabled):
            return None
        tol = rule.tolerance if rule and rule.tolerance is not None else \
            DEFAULT_TOLERANCE[obj.kind]
        self.min_change = rule.min_change if rule and rule.min_change is not None else \
            DEFAULT_MIN_CHANGE_S.get(obj.kind, 0.0)
        try:
            if isinstance(obj, LatencyObjective):
                return self.latency(obj, tol)
            if isinstance(obj, DbLatencyObjective):
                return self.db_latency(obj, tol)
            if isinstance(obj, ErrorRateObjective):
                return self.error_rate(obj, tol)
            if isinstance(obj, ThroughputObjective):
                return self.throughput(obj, tol)
        except ValueError as e:
            return self._result(obj, reason=str(e), tolerance=tol)
        return None

    def _client_pair(self, obj: Any) -> tuple[Any, Any]:
        """Both runs' client samples for the objective's filter; ValueError (no_data) when a
        side has none."""
        b = _client(self.base, obj.endpoint, obj.method)
        r = _client(self.run, obj.endpoint, obj.method)
        if b is None or r is None:
            raise ValueError(f"the {'baseline' if b is None else 'run'} has no client samples")
        return b, r

    def _enough(self, obj: Any, n_base: int, n_run: int, tol: float
                ) -> RegressionRecord | None:
        need = self.settings.min_samples
        if n_base < need or n_run < need:
            return self._result(obj, tolerance=tol, samples=[n_base, n_run],
                                reason=f"too few samples to compare ({n_base} baseline, "
                                       f"{n_run} run; need {need})")
        return None

    def _blocks(self, obj: Any, tol: float, n_base: int, n_run: int, block_s: float
                ) -> RegressionRecord | None:
        """A block bootstrap treats each time block as one sample: fewer than MIN_BLOCKS on a
        side is underpowered (no_data: never a regression, never a pass), with the window
        that would do."""
        if min(n_base, n_run) >= MIN_BLOCKS:
            return None
        needed = MIN_BLOCKS * block_s
        out = self._result(
            obj, tolerance=tol,
            reason=f"too few time blocks to compare ({n_base} baseline, {n_run} run, of "
                   f"{block_s:g} s; the block bootstrap needs {MIN_BLOCKS} a side: windows of "
                   f"{needed:.0f} s or more)")
        out["underpowered"], out["limited_by"] = True, "blocks"
        out["blocks"], out["duration_needed_s"] = [n_base, n_run], needed
        return out

    def latency(self, obj: LatencyObjective, tol: float) -> RegressionRecord:
        b, r = self._client_pair(obj)
        short = self._enough(obj, len(b[1]), len(r[1]), tol)
        if short:
            return short
        base_v = float(np.quantile(b[1], obj.quantile, method="inverted_cdf")) / 1000
        run_v = float(np.quantile(r[1], obj.quantile, method="inverted_cdf")) / 1000
        few = self._blocks(obj, tol, len({math.floor(t) for t in b[0]}),
                           len({math.floor(t) for t in r[0]}), 1.0)
        if few:  # the figures are known; an interval over so few blocks is not
            few["base_value"], few["run_value"] = base_v, run_v
            return few
        est = stats.quantile_ratio([math.floor(t) for t in b[0]], b[1],
                                   [math.floor(t) for t in r[0]], r[1], obj.quantile,
                                   self.settings.resamples, self.settings.confidence)
        return self._judge(obj, est, tol, worse_up=True, relative=True, base_value=base_v,
                           run_value=run_v, what=f"client p{obj.quantile * 100:g}")

    def db_latency(self, obj: DbLatencyObjective | LatencyObjective, tol: float
                   ) -> RegressionRecord:
        def blocks(res: ResultsRecord) -> IntervalHistograms | None:
            return ((res.get("samples") or SamplesRecord()).get("server_histograms")
                    or {}).get(obj.name)

        b, r = blocks(self.base), blocks(self.run)
        if b is None or r is None:
            side = "baseline" if b is None else "run"
            return self._result(obj, tolerance=tol,
                                reason=f"the {side} has no per-interval histograms")
        les = sorted(set(b["le"]) | set(r["le"]), key=lambda x: float(
            "inf") if x in ("+Inf", "Inf") else float(x))

        def align(h: IntervalHistograms) -> list[list[float]]:
            idx = {le: i for i, le in enumerate(h["le"])}
            return [[row[idx[le]] if le in idx else 0.0 for le in les] for row in h["counts"]]

        base_rows, run_rows = align(b), align(r)
        n_b = int(sum(row[-1] for row in base_rows))
        n_r = int(sum(row[-1] for row in run_rows))
        short = self._enough(obj, n_b, n_r, tol) or self._blocks(
            obj, tol, len(base_rows), len(run_rows), float(
                (self.run.get("run", RunMeta()).get("metrics_source")
                 or SourceInfo()).get("scrape_interval_s")
                or 1.0))
        if short:
            return short
        est = stats.histogram_quantile_ratio(les, base_rows, run_rows, obj.quantile,
                                             self.settings.resamples, self.settings.confidence)

        def total(rows: list[list[float]]) -> dict[str, float]:
            return dict(zip(les, map(sum, zip(*rows))))

        result = self._judge(obj, est, tol, worse_up=True, relative=True,
                             base_value=histogram_quantile(obj.quantile, total(base_rows)) or 0.0,
                             run_value=histogram_quantile(obj.quantile, total(run_rows)) or 0.0,
                             what=f"server p{obj.quantile * 100:g}")
        # Both quantiles in the first bucket (interpolated from 0) or the +Inf one (capped at
        # the last bound): a change there moves no count, and the bootstrap sees "no change"
        bucket = quantile_bucket(obj.quantile, total(base_rows))
        if bucket is not None and bucket == quantile_bucket(obj.quantile, total(run_rows)) \
                and (bucket[0] == 0 or math.isinf(bucket[1])):
            result["limited_by"], result["underpowered"] = "buckets", True
            result["detectable_change"] = None
            result["bucket_bracket"] = [bucket[0], None if math.isinf(bucket[1]) else bucket[1]]
            result.pop("duration_needed_s", None)
            result.pop("duration_goal", None)
        return result

    def error_rate(self, obj: ErrorRateObjective, tol: float) -> RegressionRecord:
        b, r = self._client_pair(obj)
        pattern = re.compile(obj.statuses)
        kb = sum(1 for st in b[2] if pattern.fullmatch(str(st)))
        kr = sum(1 for st in r[2] if pattern.fullmatch(str(st)))
        short = self._enough(obj, len(b[2]), len(r[2]), tol)
        if short:
            return short
        est = stats.proportion_difference(kb, len(b[2]), kr, len(r[2]),
                                          self.settings.confidence)
        return self._judge(obj, est, tol, worse_up=True, relative=False,
                           base_value=kb / len(b[2]), run_value=kr / len(r[2]),
                           what="error rate")

    def throughput(self, obj: ThroughputObjective, tol: float) -> RegressionRecord:
        def figure(res: ResultsRecord) -> tuple[float, float] | None:
            o = next((o for o in res.get("objectives", []) if o["name"] == obj.name), None)
            seconds = window_seconds(res)
            samples = o.get("samples") if o else None
            if samples is None or not seconds:
                return None
            return float(samples), float(seconds)

        b, r = figure(self.base), figure(self.run)
        if b is None or r is None:
            side = "baseline" if b is None else "run"
            return self._result(obj, tolerance=tol,
                                reason=f"the {side} has no server request count")
        est = stats.rate_ratio(b[0], b[1], r[0], r[1], self.settings.confidence)
        return self._judge(obj, est, tol, worse_up=False, relative=True,
                           base_value=b[0] / b[1], run_value=r[0] / r[1], what="throughput")


def compare_runs(base: ResultsRecord, run: ResultsRecord, slo: SloFile,
                 history: list[HistoryLine] | None = None) -> Comparison:
    """Every regression check of the SLO file; `history` (reports/history.jsonl) gives the
    run-to-run noise where it holds enough runs of the same load."""
    out = Comparison()
    brun, rrun = base.get("run", RunMeta()), run.get("run", RunMeta())
    keys: tuple[Literal["scenario", "rate", "shape", "arrivals"], ...] = (
        "scenario", "rate", "shape", "arrivals")
    for key in keys:
        if brun.get(key) != rrun.get(key):
            out.warnings.append(f"baseline {brun.get('id')} differs in {key}: "
                                f"{brun.get(key)!r} vs {rrun.get(key)!r} (the comparison "
                                "assumes the same load)")
    checker = _Checker(base, run, slo, history)
    out.inconclusive = inconclusive_side(base, run)
    for obj in slo.objectives:
        result = checker.check(obj)
        if result is not None:
            if out.inconclusive and result["status"] != NO_DATA:
                result["status"] = NO_DATA
                result["reason"] = f"not compared: {out.inconclusive}"
                result["decided_by"] = None
                result.pop("improved", None)
            out.checks.append(result)
            if result.get("underpowered"):
                out.warnings.append(underpowered_note(result))
    s = slo.regression
    sources = sorted({c.get("noise_source", "").split(" (")[0] for c in out.checks
                      if c.get("relative") and c.get("noise_source")})
    out.summary = ComparisonSummary(
        baseline=brun.get("id"), baseline_git_revision=brun.get("git_revision"),
        noise=s.noise, noise_sources=sources, confidence=s.confidence,
        resamples=s.resamples,
        method=(f"block bootstrap over 1 s (latency, {s.resamples} resamples), Newcombe "
                "interval (error rate), Poisson ratio (throughput); relative intervals "
                "widened by the run-to-run noise ("
                + (" / ".join(sources) if sources else f"assumed {s.noise:.0%}")
                + "); warm-up excluded"),
    )
    return out


def underpowered_note(check: RegressionRecord) -> str:
    if check.get("limited_by") == "blocks":
        return f"{check['objective']}: underpowered: {check['reason']}"
    if check.get("limited_by") == "buckets":
        lo, hi = check.get("bucket_bracket", [None, None])
        share = f"{check['objective']}: in both runs the quantile lies in the histogram's"
        if hi is not None:
            return (f"{share} first bucket (0, {hi * 1000:g} ms]: a change below "
                    f"{hi * 1000:g} ms cannot be seen (the figure is interpolated from 0), so "
                    "this check could not have declared one; add bucket bounds below "
                    f"{hi * 1000:g} ms to the service's histogram")
        low = lo or 0.0
        return (f"{share} last bucket (above {low * 1000:g} ms): a change above it cannot be "
                "seen, so this check could not have declared one; add bucket bounds above "
                f"{low * 1000:g} ms to the service's histogram")
    rel = check.get("relative", True)
    fmt = (lambda x: f"{x:.0%}") if rel else (lambda x: f"{x * 100:.2f} pp")
    note = (f"{check['objective']}: this pair could only declare a change of "
            f"{fmt(check.get('detectable_change') or 0.0)} or more (tolerance "
            f"{fmt(check['tolerance'] or 0.0)}): underpowered")
    if needed := check.get("duration_needed_s"):
        note += (f"; windows of about {needed:.0f} s would bring it within "
                 f"{fmt(check.get('duration_goal', 0.0))}")
    return note
