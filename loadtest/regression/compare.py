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
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.errors import ExitCode, UsageError
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
    load_slo,
)
from loadtest.store.baselines import load_baseline, read_history

PASS, FAIL, NO_DATA = "pass", "fail", "no_data"


@dataclass
class Comparison:
    checks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    inconclusive: str | None = None  # why the two runs cannot be compared at all


def inconclusive_side(base: dict[str, Any], run: dict[str, Any]) -> str | None:
    """A run whose own verdict was inconclusive, or whose load was not delivered, measured
    something other than what was asked: comparing it says nothing about the service."""
    for side, res in (("baseline", base), ("run", run)):
        rid = (res.get("run") or {}).get("id")
        load = res.get("load") or {}
        verdict = res.get("verdict") or {}
        if load.get("delivered") is False:
            achieved, requested = load.get("achieved_rate"), load.get("requested_rate")
            figures = (f" ({achieved:.1f} of {requested:.1f} req/s sent)"
                       if isinstance(achieved, (int, float))
                       and isinstance(requested, (int, float)) else "")
            return (f"the {side} {rid} did not deliver its load{figures}: compare runs that "
                    "both delivered it")
        if verdict.get("status") == "inconclusive":
            return (f"the {side} {rid} was inconclusive ({verdict.get('reason', '')}): "
                    "compare runs that were judged")
    return None


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def _client(results: dict[str, Any], endpoint: str | None, method: str | None
            ) -> tuple[list[float], list[float], list[int]] | None:
    s = (results.get("samples") or {}).get("client")
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


def history_noise(history: list[dict[str, Any]], run: dict[str, Any], obj: Any
                  ) -> tuple[float, int] | None:
    """The run-to-run noise of an objective's figure over earlier runs of the same scenario,
    rate and shape: z * sqrt(2) * their coefficient of variation (the spread of a ratio of two
    runs at the comparison's confidence), with the number of runs; None with fewer than
    HISTORY_MIN."""
    meta = run.get("run", {})
    key = (meta.get("scenario"), meta.get("rate"), meta.get("shape") or "constant")
    figures_of = "client_figures" if obj.kind == "latency" else "figures"
    values = [float(v) for h in history
              if (h.get("scenario"), h.get("rate"), h.get("shape") or "constant") == key
              and h.get("id") != meta.get("id")
              and isinstance(v := (h.get(figures_of) or {}).get(obj.name), (int, float))
              and v > 0][-HISTORY_RUNS:]
    if len(values) < HISTORY_MIN:
        return None
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return stats.Z95 * math.sqrt(2) * sd / mean, len(values)


class _Checker:
    def __init__(self, base: dict[str, Any], run: dict[str, Any], slo: SloFile,
                 history: list[dict[str, Any]] | None = None) -> None:
        self.base, self.run, self.slo = base, run, slo
        self.history = history or []
        self.settings = slo.regression
        self.min_change = 0.0  # the absolute floor of the objective being checked (s)

    def _result(self, obj: Any, **kw: Any) -> dict[str, Any]:
        out = {"name": f"{obj.name}.regression", "objective": obj.name, "kind": obj.kind,
               "status": NO_DATA, "reason": "", "message": "", "base_value": None,
               "run_value": None, "change": None, "ci": None, "tolerance": None,
               "significant": None, "decided_by": None, "samples": None}
        out.update(kw)
        return out

    def _judge(self, obj: Any, est: stats.Estimate, tol: float, worse_up: bool,
               relative: bool, base_value: float, run_value: float, what: str
               ) -> dict[str, Any]:
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
        extra_flags: dict[str, Any] = {}
        fmt = _pct if relative else (lambda x: f"{x * 100:+.2f} pp")
        tol_text = f"{tol:.0%}" if relative else f"{tol * 100:.2f} pp"
        if floor:
            tol_text += f" and {floor * 1000:g} ms"
        ci_text = f"{self.settings.confidence:.0%} CI {fmt(lo)} .. {fmt(hi)}"
        if exceeds and significant:
            status, decided = FAIL, "both: beyond the tolerance and significant"
        elif exceeds:
            status, decided = PASS, "significance: beyond the tolerance but within the noise"
        elif significant:
            status, decided = PASS, "tolerance: a real change, within the tolerance"
        elif improved:
            status, decided = PASS, "significant improvement"
            extra_flags["improved"] = True
        else:
            status, decided = PASS, "no significant change"
        power = self.power(est, tol, noise, worse_up, relative,
                           floor / base_value if floor and base_value > 0 else 0.0)
        message = f"{obj.name} {what} {fmt(change)} ({ci_text}; tolerance {tol_text})"
        return self._result(obj, status=status, base_value=base_value, run_value=run_value,
                            change=change, ci=[lo, hi], tolerance=tol, significant=significant,
                            decided_by=decided, message=message, relative=relative,
                            samples=[est.n_base, est.n_run], noise=noise,
                            noise_source=noise_source, **power, **extra_flags)

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
              relative: bool, floor: float) -> dict[str, Any]:
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
        out: dict[str, Any] = {"detectable_change": float(detectable),
                               # the floor is chosen, not a lack of samples: not counted here
                               "underpowered": bool(detect > 2 * tol)}
        if floor > max(detect, tol):
            out["limited_by"] = "min_change"
        seconds = (self.run.get("run", {}).get("window") or {}).get("seconds")
        if out["underpowered"] and seconds and spread > 0 and math.isfinite(spread):
            # the duration at which the sampling part brings the detectable change within the
            # tolerance; where the noise alone exceeds it, within twice the tolerance
            goal = tol if noise_part < tol * 0.9 else 2 * tol
            allowed = ((1 + goal) / (1 + noise_part) - 1) if relative else goal
            if allowed > 0:
                out["duration_needed_s"] = float(seconds * (spread / allowed) ** 2)
                out["duration_goal"] = goal
        return out

    def check(self, obj: Any) -> dict[str, Any] | None:
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

    def _enough(self, obj: Any, n_base: int, n_run: int, tol: float) -> dict[str, Any] | None:
        need = self.settings.min_samples
        if n_base < need or n_run < need:
            return self._result(obj, tolerance=tol, samples=[n_base, n_run],
                                reason=f"too few samples to compare ({n_base} baseline, "
                                       f"{n_run} run; need {need})")
        return None

    def _blocks(self, obj: Any, tol: float, n_base: int, n_run: int, block_s: float
                ) -> dict[str, Any] | None:
        """A block bootstrap treats each time block as one sample: fewer than MIN_BLOCKS on a
        side is underpowered (no_data: never a regression, never a pass), with the window
        that would do."""
        if min(n_base, n_run) >= MIN_BLOCKS:
            return None
        needed = MIN_BLOCKS * block_s
        return self._result(
            obj, tolerance=tol, underpowered=True, limited_by="blocks",
            blocks=[n_base, n_run], duration_needed_s=needed,
            reason=f"too few time blocks to compare ({n_base} baseline, {n_run} run, of "
                   f"{block_s:g} s; the block bootstrap needs {MIN_BLOCKS} a side: windows of "
                   f"{needed:.0f} s or more)")

    def latency(self, obj: LatencyObjective, tol: float) -> dict[str, Any]:
        b, r = self._client_pair(obj)
        short = self._enough(obj, len(b[1]), len(r[1]), tol)
        if short:
            return short
        base_v = float(np.quantile(b[1], obj.quantile, method="inverted_cdf")) / 1000
        run_v = float(np.quantile(r[1], obj.quantile, method="inverted_cdf")) / 1000
        few = self._blocks(obj, tol, len({math.floor(t) for t in b[0]}),
                           len({math.floor(t) for t in r[0]}), 1.0)
        if few:  # the figures are known; an interval over so few blocks is not
            return {**few, "base_value": base_v, "run_value": run_v}
        est = stats.quantile_ratio([math.floor(t) for t in b[0]], b[1],
                                   [math.floor(t) for t in r[0]], r[1], obj.quantile,
                                   self.settings.resamples, self.settings.confidence)
        return self._judge(obj, est, tol, worse_up=True, relative=True, base_value=base_v,
                           run_value=run_v, what=f"client p{obj.quantile * 100:g}")

    def db_latency(self, obj: DbLatencyObjective, tol: float) -> dict[str, Any]:
        def blocks(res: dict[str, Any]) -> dict[str, Any] | None:
            return ((res.get("samples") or {}).get("server_histograms") or {}).get(obj.name)

        b, r = blocks(self.base), blocks(self.run)
        if b is None or r is None:
            side = "baseline" if b is None else "run"
            return self._result(obj, tolerance=tol,
                                reason=f"the {side} has no per-interval histograms")
        les = sorted(set(b["le"]) | set(r["le"]), key=lambda x: float(
            "inf") if x in ("+Inf", "Inf") else float(x))

        def align(h: dict[str, Any]) -> list[list[float]]:
            idx = {le: i for i, le in enumerate(h["le"])}
            return [[row[idx[le]] if le in idx else 0.0 for le in les] for row in h["counts"]]

        base_rows, run_rows = align(b), align(r)
        n_b = int(sum(row[-1] for row in base_rows))
        n_r = int(sum(row[-1] for row in run_rows))
        short = self._enough(obj, n_b, n_r, tol) or self._blocks(
            obj, tol, len(base_rows), len(run_rows), float(
                (self.run.get("run", {}).get("metrics_source") or {}).get("scrape_interval_s")
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
            result.update(limited_by="buckets", underpowered=True, detectable_change=None,
                          bucket_bracket=[bucket[0], None if math.isinf(bucket[1])
                                          else bucket[1]])
            result.pop("duration_needed_s", None)
            result.pop("duration_goal", None)
        return result

    def error_rate(self, obj: ErrorRateObjective, tol: float) -> dict[str, Any]:
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

    def throughput(self, obj: ThroughputObjective, tol: float) -> dict[str, Any]:
        def figure(res: dict[str, Any]) -> tuple[float, float] | None:
            o = next((o for o in res.get("objectives", []) if o["name"] == obj.name), None)
            seconds = (res.get("run", {}).get("window") or {}).get("seconds")
            if not o or o.get("samples") is None or not seconds:
                return None
            return float(o["samples"]), float(seconds)

        b, r = figure(self.base), figure(self.run)
        if b is None or r is None:
            side = "baseline" if b is None else "run"
            return self._result(obj, tolerance=tol,
                                reason=f"the {side} has no server request count")
        est = stats.rate_ratio(b[0], b[1], r[0], r[1], self.settings.confidence)
        return self._judge(obj, est, tol, worse_up=False, relative=True,
                           base_value=b[0] / b[1], run_value=r[0] / r[1], what="throughput")


def compare_runs(base: dict[str, Any], run: dict[str, Any], slo: SloFile,
                 history: list[dict[str, Any]] | None = None) -> Comparison:
    """Every regression check of the SLO file; `history` (reports/history.jsonl) gives the
    run-to-run noise where it holds enough runs of the same load."""
    out = Comparison()
    brun, rrun = base.get("run", {}), run.get("run", {})
    for key in ("scenario", "rate", "shape", "arrivals"):
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
                result.update(status=NO_DATA, reason=f"not compared: {out.inconclusive}",
                              decided_by=None)
                result.pop("improved", None)
            out.checks.append(result)
            if result.get("underpowered"):
                out.warnings.append(underpowered_note(result))
    s = slo.regression
    sources = sorted({c["noise_source"].split(" (")[0] for c in out.checks
                      if c.get("relative") and c.get("noise_source")})
    out.summary = {
        "baseline": brun.get("id"), "baseline_git_revision": brun.get("git_revision"),
        "noise": s.noise, "noise_sources": sources, "confidence": s.confidence,
        "resamples": s.resamples,
        "method": (f"block bootstrap over 1 s (latency, {s.resamples} resamples), Newcombe "
                   "interval (error rate), Poisson ratio (throughput); relative intervals "
                   "widened by the run-to-run noise ("
                   + (" / ".join(sources) if sources else f"assumed {s.noise:.0%}")
                   + "); warm-up excluded"),
    }
    return out


def underpowered_note(check: dict[str, Any]) -> str:
    if check.get("limited_by") == "blocks":
        return f"{check['objective']}: underpowered: {check['reason']}"
    if check.get("limited_by") == "buckets":
        lo, hi = check["bucket_bracket"]
        share = f"{check['objective']}: in both runs the quantile lies in the histogram's"
        if hi is not None:
            return (f"{share} first bucket (0, {hi * 1000:g} ms]: a change below "
                    f"{hi * 1000:g} ms cannot be seen (the figure is interpolated from 0), so "
                    "this check could not have declared one; add bucket bounds below "
                    f"{hi * 1000:g} ms to the service's histogram")
        return (f"{share} last bucket (above {lo * 1000:g} ms): a change above it cannot be "
                "seen, so this check could not have declared one; add bucket bounds above "
                f"{lo * 1000:g} ms to the service's histogram")
    rel = check.get("relative", True)
    fmt = (lambda x: f"{x:.0%}") if rel else (lambda x: f"{x * 100:.2f} pp")
    note = (f"{check['objective']}: this pair could only declare a change of "
            f"{fmt(check['detectable_change'])} or more (tolerance {fmt(check['tolerance'])}): "
            "underpowered")
    if check.get("duration_needed_s"):
        note += (f"; windows of about {check['duration_needed_s']:.0f} s would bring it within "
                 f"{fmt(check['duration_goal'])}")
    return note


def compare_files(base_ref: Any, run_ref: Any, slo_path: Any = None,
                  out: Any = "reports") -> Comparison:
    """`loadtest compare BASELINE RUN`: both finished runs, judged with the run's SLO file
    (or `slo_path`); a promoted baseline's name, and the history that gives the run-to-run
    noise, are looked up under `out`."""
    base = load_baseline(Path(base_ref), Path(out))
    run = load_baseline(Path(run_ref), Path(out))
    same = base["run"].get("id")
    if same is not None and same == run["run"].get("id"):
        raise UsageError(f"{base_ref} and {run_ref} are the same run ({same}): compare two "
                         "different runs (the baseline first)")
    slo = load_slo(Path(str(slo_path or run["run"].get("slo_file") or "slo/opscore.yaml")))
    return compare_runs(base, run, slo, read_history(Path(out)))


def exit_code(comparison: Comparison) -> int:
    statuses = {c["status"] for c in comparison.checks}
    if comparison.inconclusive:
        return ExitCode.INCONCLUSIVE
    if FAIL in statuses:
        return ExitCode.GATE_FAILED
    if NO_DATA in statuses or not comparison.checks:
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK


def format_table(comparison: Comparison) -> str:
    rows = [("check", "status", "baseline", "run", "change", "CI", "tolerance", "detectable",
             "decided by")]
    for c in comparison.checks:
        rel = c.get("relative", True)
        fmt = _pct if rel else (lambda x: f"{x * 100:+.2f} pp")

        def val(v: Any, kind: str = c["kind"]) -> str:
            if v is None:
                return "-"
            if kind in ("latency", "db_latency"):
                return f"{v * 1000:.2f} ms"
            if kind == "error_rate":
                return f"{v:.3%}"
            return f"{v:.2f}/s"

        ci = c.get("ci")
        tol = c.get("tolerance")
        rows.append((c["objective"], c["status"].upper(), val(c.get("base_value")),
                     val(c.get("run_value")),
                     "-" if c.get("change") is None else fmt(c["change"]),
                     "-" if not ci else f"{fmt(ci[0])}..{fmt(ci[1])}",
                     "-" if tol is None else (f"{tol:.0%}" if rel else f"{tol * 100:.2f} pp"),
                     "-" if c.get("detectable_change") is None else
                     (f"{c['detectable_change']:.0%}" if rel else
                      f"{c['detectable_change'] * 100:.2f} pp")
                     + (" (underpowered)" if c.get("underpowered") else ""),
                     c.get("decided_by") or c.get("reason") or ""))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r[:-1], widths)) + "  " + str(r[-1])
             for r in rows]
    lines += [f"warning: {w}" for w in comparison.warnings]
    if comparison.inconclusive:
        lines.append(f"INCONCLUSIVE: {comparison.inconclusive}")
    lines.append(f"method: {comparison.summary.get('method', '')}")
    lines.append(verdict_line(comparison))
    return "\n".join(lines)


def verdict_line(comparison: Comparison) -> str:
    """The comparison's verdict in one line, as `loadtest compare` ends (and, with --quiet,
    all it prints): PASS, FAIL with each regression, or INCONCLUSIVE with the reason."""
    base = comparison.summary.get("baseline")
    against = f" against baseline {base}" if base else ""
    if comparison.inconclusive:
        return f"INCONCLUSIVE: {comparison.inconclusive}"
    failed = [c for c in comparison.checks if c["status"] == FAIL]
    if failed:
        return "FAIL: regression" + against + ": " + "; ".join(c["message"] for c in failed)
    missing = [c for c in comparison.checks if c["status"] == NO_DATA]
    if missing or not comparison.checks:
        return ("INCONCLUSIVE: " + ("; ".join(f"{c['objective']}: {c['reason']}" for c in missing)
                                    or "no objective could be compared"))
    return f"PASS: no regression in {len(comparison.checks)} checks{against}"


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """`loadtest compare --json`: the comparison as plain data, with its exit code."""
    return {"schema_version": 1, "exit_code": int(exit_code(comparison)),
            "verdict": verdict_line(comparison), "inconclusive": comparison.inconclusive,
            "summary": comparison.summary, "checks": comparison.checks,
            "warnings": comparison.warnings}
