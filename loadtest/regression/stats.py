"""Pure statistics for the regression gate (numpy only, no I/O).

Latency: the ratio of a quantile between two runs, with a confidence interval from a block
bootstrap over seconds (requests in the same second are correlated, so they are resampled
together). Error rate: the difference of two proportions (Newcombe's hybrid Wilson interval).
Throughput: the ratio of two Poisson counts (log-normal approximation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from loadtest.metrics.histogram import histogram_quantile

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A change between baseline and run: point estimate and confidence interval."""
    point: float
    low: float
    high: float
    n_base: int
    n_run: int


def _groups(seconds: Any, values: Any) -> list[Any]:
    seconds = np.asarray(seconds, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    order = np.argsort(seconds, kind="stable")
    seconds, values = seconds[order], values[order]
    cuts = np.flatnonzero(np.diff(seconds)) + 1
    return np.split(values, cuts)


EXACT_BINS = 4096   # up to this many distinct values, the bootstrap's quantiles are exact
RANK_BAND = 0.05    # else: fine bins over the ranks q +- RANK_BAND, where resampled quantiles lie
BAND_BINS = 2048
CELLS = 20_000_000  # floats of one batch of resamples (x (bins + blocks)): about 80 MB


def _bins(flat: Any, q: float) -> Any:
    """The values a resampled q-quantile can take: every distinct value when there are few;
    else 2048 quantile-spaced bounds over ranks q +- 5% (each bin 0.005% of the ranks), with
    one catch-all bin below and above (a resample's quantile never strays 5% of the ranks)."""
    distinct = np.unique(flat)
    if len(distinct) <= EXACT_BINS:
        return distinct
    ranks = np.linspace(max(0.0, q - RANK_BAND), min(1.0, q + RANK_BAND), BAND_BINS)
    inner = np.quantile(flat, ranks, method="inverted_cdf")
    return np.unique(np.concatenate([[distinct[0]], inner, [distinct[-1]]]))


def _boot_quantiles(blocks: list[Any], q: float, resamples: int, rng: Any) -> Any:
    """The q-quantile of `resamples` block-bootstrap resamples, all at once: each block as a
    histogram over `_bins`, a resample as the block multiplicities times those histograms,
    its quantile as the first bin whose cumulative count reaches q (numpy's inverted_cdf)."""
    k = len(blocks)
    sizes = np.array([len(b) for b in blocks])
    flat = np.concatenate(blocks)
    edges = _bins(flat, q)
    n_bins = len(edges)
    where = np.minimum(np.searchsorted(edges, flat, side="left"), n_bins - 1)
    block_of = np.repeat(np.arange(k), sizes)
    hist = np.bincount(block_of * n_bins + where, minlength=k * n_bins).reshape(
        k, n_bins).astype(np.float32)
    out = np.empty(resamples)
    step = max(1, CELLS // (n_bins + k))  # rows of resamples per product
    for first in range(0, resamples, step):
        rows = min(step, resamples - first)
        picks = rng.integers(0, k, size=(rows, k))
        mult = np.bincount((picks + (np.arange(rows) * k)[:, None]).ravel(),
                           minlength=rows * k).reshape(rows, k).astype(np.float32)
        cum = np.cumsum(mult @ hist, axis=1)
        need = q * cum[:, -1:]
        out[first:first + rows] = edges[np.minimum((cum < need).sum(axis=1), n_bins - 1)]
    return out


def quantile_ratio(base_seconds: Any, base_values: Any, run_seconds: Any, run_values: Any,
                   q: float, resamples: int = 1000, confidence: float = 0.95,
                   seed: int = 0) -> Estimate:
    """Ratio run/base of the q-quantile, with a block-bootstrap percentile interval."""
    rng = np.random.default_rng(seed)
    bb = _groups(base_seconds, base_values)
    rb = _groups(run_seconds, run_values)
    if not bb or not rb:
        raise ValueError("no samples")
    base_all = np.concatenate(bb)
    run_all = np.concatenate(rb)
    b0 = float(np.quantile(base_all, q, method="inverted_cdf"))
    r0 = float(np.quantile(run_all, q, method="inverted_cdf"))
    if b0 <= 0:
        raise ValueError("baseline quantile is zero")
    bs = _boot_quantiles(bb, q, resamples, rng)
    rs = _boot_quantiles(rb, q, resamples, rng)
    ratios = rs / np.where(bs > 0, bs, np.nan)
    ratios = ratios[np.isfinite(ratios)]
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return Estimate(point=r0 / b0, low=float(lo), high=float(hi), n_base=len(base_all),
                    n_run=len(run_all))


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def proportion_difference(k_base: float, n_base: float, k_run: float, n_run: float,
                          confidence: float = 0.95) -> Estimate:
    """run - base of two proportions, Newcombe's method 10 interval."""
    if n_base <= 0 or n_run <= 0:
        raise ValueError("no samples")
    z = _z(confidence)
    p1, p2 = k_base / n_base, k_run / n_run
    l1, u1 = _wilson(k_base, n_base, z)
    l2, u2 = _wilson(k_run, n_run, z)
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return Estimate(point=d, low=low, high=high, n_base=int(n_base), n_run=int(n_run))


def rate_ratio(count_base: float, seconds_base: float, count_run: float, seconds_run: float,
               confidence: float = 0.95) -> Estimate:
    """run/base of two Poisson rates."""
    if count_base <= 0 or count_run <= 0:
        raise ValueError("no samples")
    z = _z(confidence)
    ratio = (count_run / seconds_run) / (count_base / seconds_base)
    se = math.sqrt(1 / count_base + 1 / count_run)
    return Estimate(point=ratio, low=ratio * math.exp(-z * se), high=ratio * math.exp(z * se),
                    n_base=int(count_base), n_run=int(count_run))


def _z(confidence: float) -> float:
    if math.isclose(confidence, 0.95):
        return Z95

    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def histogram_quantile_ratio(les: list[str], base_rows: list[list[float]],
                             run_rows: list[list[float]], q: float, resamples: int = 1000,
                             confidence: float = 0.95, seed: int = 0) -> Estimate:
    """Ratio run/base of a histogram quantile; each row is one scrape interval's bucket
    increases (cumulative by `le`), resampled as a block."""
    b = np.asarray(base_rows, dtype=float)
    r = np.asarray(run_rows, dtype=float)
    if b.size == 0 or r.size == 0:
        raise ValueError("no samples")

    def quant(rows: Any) -> float | None:
        return histogram_quantile(q, dict(zip(les, rows.sum(axis=0))))

    b0, r0 = quant(b), quant(r)
    if not b0 or r0 is None:
        raise ValueError("baseline quantile is zero or empty")
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(resamples):
        bq = quant(b[rng.integers(0, len(b), size=len(b))])
        rq = quant(r[rng.integers(0, len(r), size=len(r))])
        if bq and rq is not None:
            ratios.append(rq / bq)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(np.asarray(ratios), [alpha, 1 - alpha])
    inf_col = len(les) - 1
    return Estimate(point=float(r0 / b0), low=float(lo), high=float(hi),
                    n_base=int(b[:, inf_col].sum()), n_run=int(r[:, inf_col].sum()))
