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
from typing import Any

from loadtest import stats
from loadtest.slo import (
    DEFAULT_MIN_CHANGE_S,
    DEFAULT_TOLERANCE,
    DbLatencyObjective,
    ErrorRateObjective,
    LatencyObjective,
    SloFile,
    ThroughputObjective,
)

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


def _mark_improvement(result: dict[str, Any]) -> None:
    """A change whose whole interval lies on the better side is a significant improvement
    (the checks only look at the worse side)."""
    ci = result.get("ci")
    if result.get("status") != PASS or not ci or result.get("significant"):
        return
    better = ci[0] > 0 if result.get("kind") == "throughput" else ci[1] < 0
    if better:
        result["improved"] = True
        result["decided_by"] = "significant improvement"


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


class _Checker:
    def __init__(self, base: dict[str, Any], run: dict[str, Any], slo: SloFile) -> None:
        self.base, self.run, self.slo = base, run, slo
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
        noise = self.settings.noise
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
        else:
            status, decided = PASS, "no significant change"
        message = f"{obj.name} {what} {fmt(change)} ({ci_text}; tolerance {tol_text})"
        return self._result(obj, status=status, base_value=base_value, run_value=run_value,
                            change=change, ci=[lo, hi], tolerance=tol, significant=significant,
                            decided_by=decided, message=message, relative=relative,
                            samples=[est.n_base, est.n_run])

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

    def latency(self, obj: LatencyObjective, tol: float) -> dict[str, Any]:
        b, r = self._client_pair(obj)
        short = self._enough(obj, len(b[1]), len(r[1]), tol)
        if short:
            return short
        est = stats.quantile_ratio([math.floor(t) for t in b[0]], b[1],
                                   [math.floor(t) for t in r[0]], r[1], obj.quantile,
                                   self.settings.resamples, self.settings.confidence)
        import numpy as np

        base_v = float(np.quantile(b[1], obj.quantile, method="inverted_cdf")) / 1000
        run_v = float(np.quantile(r[1], obj.quantile, method="inverted_cdf")) / 1000
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
        short = self._enough(obj, n_b, n_r, tol)
        if short:
            return short
        est = stats.histogram_quantile_ratio(les, base_rows, run_rows, obj.quantile,
                                             self.settings.resamples, self.settings.confidence)
        from loadtest.metrics.histogram import histogram_quantile

        def q(rows: list[list[float]]) -> float | None:
            return histogram_quantile(obj.quantile, dict(zip(les, map(sum, zip(*rows)))))

        return self._judge(obj, est, tol, worse_up=True, relative=True,
                           base_value=q(base_rows) or 0.0, run_value=q(run_rows) or 0.0,
                           what=f"server p{obj.quantile * 100:g}")

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


def compare_runs(base: dict[str, Any], run: dict[str, Any], slo: SloFile) -> Comparison:
    out = Comparison()
    brun, rrun = base.get("run", {}), run.get("run", {})
    for key in ("scenario", "rate", "shape", "arrivals"):
        if brun.get(key) != rrun.get(key):
            out.warnings.append(f"baseline {brun.get('id')} differs in {key}: "
                                f"{brun.get(key)!r} vs {rrun.get(key)!r} (the comparison "
                                "assumes the same load)")
    checker = _Checker(base, run, slo)
    out.inconclusive = inconclusive_side(base, run)
    for obj in slo.objectives:
        result = checker.check(obj)
        if result is not None:
            _mark_improvement(result)
            if out.inconclusive and result["status"] != NO_DATA:
                result.update(status=NO_DATA, reason=f"not compared: {out.inconclusive}",
                              decided_by=None)
                result.pop("improved", None)
            out.checks.append(result)
    s = slo.regression
    out.summary = {
        "baseline": brun.get("id"), "baseline_git_revision": brun.get("git_revision"),
        "noise": s.noise, "confidence": s.confidence, "resamples": s.resamples,
        "method": (f"block bootstrap over 1 s (latency, {s.resamples} resamples), Newcombe "
                   "interval (error rate), Poisson ratio (throughput); intervals widened by "
                   f"an assumed run-to-run noise of {s.noise:.0%}; warm-up excluded"),
    }
    return out


def compare_files(base_ref: Any, run_ref: Any, slo_path: Any = None,
                  out: Any = "reports") -> Comparison:
    """`loadtest compare BASELINE RUN`: both finished runs, judged with the run's SLO file
    (or `slo_path`); a promoted baseline's name is looked up under `out`."""
    from pathlib import Path

    from loadtest.baselines import load_baseline
    from loadtest.slo import load_slo

    base = load_baseline(Path(base_ref), Path(out))
    run = load_baseline(Path(run_ref), Path(out))
    slo = load_slo(Path(slo_path or run["run"].get("slo_file") or "slo/opscore.yaml"))
    return compare_runs(base, run, slo)


def exit_code(comparison: Comparison) -> int:
    from loadtest.errors import ExitCode

    statuses = {c["status"] for c in comparison.checks}
    if comparison.inconclusive:
        return ExitCode.INCONCLUSIVE
    if FAIL in statuses:
        return ExitCode.GATE_FAILED
    if NO_DATA in statuses or not comparison.checks:
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK


def format_table(comparison: Comparison) -> str:
    rows = [("check", "status", "baseline", "run", "change", "CI", "tolerance", "decided by")]
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
                     c.get("decided_by") or c.get("reason") or ""))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r[:-1], widths)) + "  " + str(r[-1])
             for r in rows]
    lines += [f"warning: {w}" for w in comparison.warnings]
    if comparison.inconclusive:
        lines.append(f"INCONCLUSIVE: {comparison.inconclusive}")
    lines.append(f"method: {comparison.summary.get('method', '')}")
    return "\n".join(lines)
