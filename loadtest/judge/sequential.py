"""Verdicts that settle (`loadtest run --settle`): every gating objective judged as the load
runs, on time blocks, with an anytime-valid confidence sequence, so the load can end as soon
as the answer is statistically settled instead of at a fixed duration.

The evidence is a series of blocks, never single requests (requests within a second are
correlated): one second of the load generator's samples for client objectives, one interval
between two of the harness's own scrapes for server objectives. Each block gives one figure in
[0, 1] with its requests: the share of requests within a latency threshold (a threshold inside
a histogram bucket gives two, at the bracketing bounds), the share of errors, or the requests
served over those the objective asks for (throughput). The mean of the blocks is bracketed by
the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas ("Time-
uniform central limit theory and asymptotic confidence sequences", Annals of Statistics 2024,
Theorem 2.2, the two-sided Robbins normal-mixture boundary): valid at every block at once,
so looking after every block costs no extra errors. The block variance is the blocks' own,
never below what independent requests would give (so a run of identical blocks cannot claim
certainty from nothing).

An objective is decided once it has MIN_BLOCKS blocks and its interval lies wholly on one side
of its threshold. The run settles when one gating objective is decided failed (the verdict
cannot be a pass any more) or every gating one is decided passed. Objectives that need the
whole window (raw PromQL, burn rate, no alerts, client throughput) never settle early: with one
of them gating, the load runs to --duration, and the run says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from loadtest.judge.objectives import FAIL, NO_DATA, PASS, evaluate, evaluate_client
from loadtest.metrics.base import Window
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.slo import (
    ClientObjective,
    DbLatencyObjective,
    ErrorRateObjective,
    LatencyObjective,
    SloFile,
    ThroughputObjective,
)
from loadtest.store.records import SettledObjectiveRecord, SettleRecord

CONFIDENCE = 0.95
MIN_BLOCKS = 10     # before any decision: the block bootstrap's minimum too
T_STAR = 20         # blocks at which the confidence sequence is tightest


def cs_halfwidth(variance: float, t: int, alpha: float, t_star: int = T_STAR) -> float:
    """Half-width of the two-sided asymptotic confidence sequence after `t` blocks of this
    variance, its mixture tuned to be tightest at `t_star` blocks."""
    if t <= 0:
        return math.inf
    log_a = math.log(alpha)
    rho2 = (-2 * log_a + math.log(-2 * log_a + 1)) / t_star
    inner = 2 * (t * rho2 + 1) / (t * t * rho2) * math.log(math.sqrt(t * rho2 + 1) / alpha)
    return math.sqrt(max(variance, 0.0) * inner)


@dataclass
class Evidence:
    """The blocks of one figure: each a value in [0, 1] and the requests behind it."""
    blocks: int = 0
    total: float = 0.0
    squares: float = 0.0
    requests: float = 0.0
    hits: float = 0.0

    def add(self, value: float, requests: float) -> None:
        self.blocks += 1
        self.total += value
        self.squares += value * value
        self.requests += requests
        self.hits += value * requests

    @property
    def mean(self) -> float:
        return self.total / self.blocks if self.blocks else math.nan

    def variance(self) -> float:
        """The blocks' sample variance, at least the variance of a share of independent
        requests (smoothed: (hits + 1/2) / (requests + 1))."""
        n = self.blocks
        sample = (self.squares - self.total ** 2 / n) / (n - 1) if n > 1 else 0.25
        p = (self.hits + 0.5) / (self.requests + 1.0)
        per_block = self.requests / n if n else 1.0
        return max(sample, p * (1 - p) / max(per_block, 1.0))

    def interval(self, alpha: float) -> tuple[float, float]:
        if not self.blocks:
            return (-math.inf, math.inf)
        h = cs_halfwidth(self.variance(), self.blocks, alpha)
        return (self.mean - h, self.mean + h)


@dataclass
class Settling:
    """One gating objective's sequential state. `low`/`high`: the evidence at the lower and
    upper bracketing bound (the same one when the threshold is exact); `passes_above`: the
    figure must be at least `target` (a share within a latency threshold, throughput), else
    below it (an error share)."""
    name: str
    kind: str
    source: str                      # client (1 s blocks) or server (scrape intervals)
    target: float
    passes_above: bool
    low: Evidence = field(default_factory=Evidence)
    high: Evidence = field(default_factory=Evidence)
    status: Literal["pass", "fail"] | None = None  # once decided
    at: float | None = None          # epoch seconds of the decision
    interval: tuple[float, float] | None = None

    def decide(self, now: float, alpha: float) -> None:
        if self.status is not None or min(self.low.blocks, self.high.blocks) < MIN_BLOCKS:
            return
        lo_low, _ = self.low.interval(alpha)
        _, hi_high = self.high.interval(alpha)
        self.interval = (lo_low, hi_high)
        verdict: Literal["pass", "fail"] | None
        if self.passes_above:
            verdict = PASS if lo_low >= self.target else FAIL if hi_high < self.target else None
        else:
            verdict = PASS if hi_high < self.target else FAIL if lo_low >= self.target else None
        if verdict is not None:
            self.status, self.at = verdict, now

    def record(self, window_start: float) -> SettledObjectiveRecord:
        lo, hi = self.interval or (None, None)
        return SettledObjectiveRecord(
            name=self.name, kind=self.kind, source=self.source,
            status=self.status or "not settled",
            at_s=None if self.at is None else round(self.at - window_start, 3),
            blocks=min(self.low.blocks, self.high.blocks),
            mean=None if not self.low.blocks else round(self.low.mean, 6),
            interval=None if lo is None or hi is None else [round(lo, 6), round(hi, 6)],
            target=self.target,
            evidence=("the share of requests within the threshold" if self.passes_above
                             and self.kind != "throughput" else
                             "requests served over the rate asked" if self.kind == "throughput"
                             else "the share of errors")
                + (" per second of samples" if self.source == "client"
                   else " per interval between scrapes"))


def settling_for(obj: Any, has_scrapes: bool) -> Settling | None:
    """The sequential test of one objective, or None when it is judged only at the end."""
    if isinstance(obj, ClientObjective):
        if obj.metric == "latency":
            return Settling(obj.name, obj.kind, "client", float(obj.quantile), True)
        if obj.metric == "error_rate":
            return Settling(obj.name, obj.kind, "client", float(obj.max), False)
        return None
    if not has_scrapes:
        return None
    if isinstance(obj, (LatencyObjective, DbLatencyObjective)):
        return Settling(obj.name, obj.kind, "server", float(obj.quantile), True)
    if isinstance(obj, ErrorRateObjective):
        return Settling(obj.name, obj.kind, "server", float(obj.max), False)
    if isinstance(obj, ThroughputObjective):
        return Settling(obj.name, obj.kind, "server", 1.0 - float(obj.tolerance), True)
    return None


class Settler:
    """Fed the client samples and the harness's scrapes once a second by the live monitor;
    `settled` is the moment the verdict no longer needs more load."""

    def __init__(self, slo: SloFile, window_start: float, has_scrapes: bool,
                 confidence: float = CONFIDENCE) -> None:
        self.slo = slo
        self.window_start = window_start
        self.alpha = 1 - confidence
        self.confidence = confidence
        self.objectives = {  # a block is judged on whatever it holds
            o.name: o.model_copy(update={"min_samples": 1})
            if "min_samples" in type(o).model_fields else o
            for o in slo.objectives if o.severity == "fail"}
        self.tracks: dict[str, Settling] = {}
        self.at_end: list[str] = []
        for name, obj in self.objectives.items():
            s = settling_for(obj, has_scrapes)
            if s is None:
                self.at_end.append(name)
            else:
                self.tracks[name] = s
        self.next_second = math.floor(window_start) + 1.0  # whole seconds from the start
        self.last_scrape: Any = None
        self.settled: float | None = None

    # -- client blocks: whole seconds of samples -----------------------------------------
    def client_blocks(self, df: Any, upto: float) -> None:
        client = [t for t in self.tracks.values() if t.source == "client"]
        start = max(self.window_start, self.next_second - 1.0)
        while df is not None and client and start + 1.0 <= upto:
            block = Window(start, start + 1.0)
            for t in client:
                self._client_block(t, df, block)
            start += 1.0
        self.next_second = start + 1.0

    def _client_block(self, track: Settling, df: Any, block: Window) -> None:
        obj = self.objectives[track.name]
        r = evaluate_client(self.slo, df, block, only=[obj])[0]
        if r.status == NO_DATA or not r.samples:
            return
        if track.passes_above:
            share = float((r.extra or {}).get("ratio_within_threshold", 0.0))
            track.low.add(share, r.samples)
            track.high.add(share, r.samples)
        else:
            track.low.add(float(r.value or 0.0), r.samples)
            track.high.add(float(r.value or 0.0), r.samples)

    # -- server blocks: intervals between two scrapes -------------------------------------
    def server_blocks(self, scrapes: Any) -> None:
        server = [t for t in self.tracks.values() if t.source == "server"]
        if not server or scrapes is None:
            return
        since = self.last_scrape.t if self.last_scrape is not None else self.window_start
        snaps = [s for s in scrapes.recent(since - scrapes.interval_s) if s.ok]
        prev = self.last_scrape
        shortest = 0.5 * scrapes.interval_s
        for snap in snaps:
            if snap.t < self.window_start - shortest or (prev is not None and snap.t <= prev.t):
                continue
            if prev is not None and snap.t - prev.t < shortest:
                # the window's edge is scraped too, a few ms from a periodic scrape: a block
                # that short is one request's quantisation (3 of 3.7 asked: 0.82, and a
                # healthy run's throughput took 36 s to settle instead of 10). The blocks
                # begin at the later of the two at the start, else the block runs on.
                if prev.t < self.window_start:
                    prev = snap
                continue
            if prev is not None:
                view = EmbeddedSource(None, job=scrapes.job, interval_s=scrapes.interval_s,
                                      snapshots=[prev, snap])
                for t in server:
                    self._server_block(t, view, Window(prev.t, snap.t))
            prev = snap
        self.last_scrape = prev

    def _server_block(self, track: Settling, view: Any, block: Window) -> None:
        obj = self.objectives[track.name]
        r = evaluate(self.slo, view, block, only=[obj])[0]
        extra = r.extra or {}
        if not r.samples:
            return
        n = float(r.samples)
        if isinstance(obj, ThroughputObjective):
            asked = obj.min * block.seconds
            track.low.add(min(1.0, n / asked), n)
            track.high.add(min(1.0, n / asked), n)
        elif track.passes_above:
            if "ratio_within_threshold" in extra:
                share = float(extra["ratio_within_threshold"])
                track.low.add(share, n)
                track.high.add(share, n)
            elif "ratio_within_bracket" in extra:
                low, high = extra["ratio_within_bracket"]
                track.low.add(float(low), n)
                track.high.add(float(high), n)
        elif r.value is not None:
            track.low.add(float(r.value), n)
            track.high.add(float(r.value), n)

    # -- the decision -------------------------------------------------------------------------
    def update(self, now: float, df: Any, scrapes: Any, client_lag_s: float) -> None:
        if self.settled is not None:
            return
        self.client_blocks(df, now - client_lag_s)
        self.server_blocks(scrapes)
        for t in self.tracks.values():
            t.decide(now, self.alpha)
        decided = [t.status for t in self.tracks.values()]
        if FAIL in decided or (decided and not self.at_end and None not in decided):
            self.settled = now

    def record(self, window_start: float, planned_s: float, ran_s: float | None
               ) -> SettleRecord:
        """results.json's `settle`: each objective's decision, when and on what, and the
        time saved."""
        return SettleRecord(
            confidence=self.confidence, min_blocks=MIN_BLOCKS,
            method="asymptotic confidence sequence over time blocks (Waudby-Smith et al. "
                   "2024, two-sided normal mixture)",
            settled_at_s=None if self.settled is None
            else round(self.settled - window_start, 3),
            planned_window_s=planned_s, window_s=ran_s,
            saved_s=None if ran_s is None else round(max(0.0, planned_s - ran_s), 3),
            objectives=[t.record(window_start) for t in self.tracks.values()],
            at_end_only=list(self.at_end))
