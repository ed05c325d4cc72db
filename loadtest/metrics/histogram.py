"""Histogram math, exactly as Prometheus 2.x does it (promql/quantile.go)."""

from __future__ import annotations

import math


def parse_le(le: str) -> float:
    return math.inf if le in ("+Inf", "Inf", "inf") else float(le)


def histogram_quantile(q: float, buckets: dict[str, float]) -> float | None:
    """The interpolated q-quantile of cumulative `buckets` ({le: count}); None = no data.

    Like Prometheus: buckets sorted by upper bound, counts forced monotonic, linear
    interpolation inside the bucket holding rank q*total (lower bound 0 for the first bucket
    when its upper bound is positive), the +Inf bucket answers the highest finite bound.
    """
    if not buckets or math.isnan(q):
        return None
    pairs = sorted((parse_le(le), c) for le, c in buckets.items())
    if pairs[-1][0] != math.inf or len(pairs) < 2:
        return None
    # ensure monotonic (counts are increases, which can be slightly off after extrapolation)
    fixed: list[tuple[float, float]] = []
    high = 0.0
    for ub, c in pairs:
        high = max(high, c)
        fixed.append((ub, high))
    total = fixed[-1][1]
    if total == 0 or math.isnan(total):
        return None
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    rank = q * total
    b = next(i for i, (_, c) in enumerate(fixed) if c >= rank)
    if b == len(fixed) - 1:
        return fixed[-2][0]
    if b == 0 and fixed[0][0] <= 0:
        return fixed[0][0]
    start, count_before = (0.0, 0.0) if b == 0 else (fixed[b - 1][0], fixed[b - 1][1])
    end, count = fixed[b]
    count -= count_before
    rank -= count_before
    if count == 0:
        return end
    return start + (end - start) * (rank / count)


def quantile_bucket(q: float, buckets: dict[str, float]) -> tuple[float, float] | None:
    """The bucket (lower, upper] that histogram_quantile interpolates the q-quantile in (lower
    0 for the first; upper +Inf for the +Inf bucket, where it answers the highest finite
    bound). None = no data."""
    if not buckets:
        return None
    pairs = sorted((parse_le(le), c) for le, c in buckets.items())
    high, fixed = 0.0, []
    for ub, c in pairs:  # counts forced monotonic, as histogram_quantile does
        high = max(high, c)
        fixed.append((ub, high))
    if not fixed[-1][1]:
        return None
    b = next(i for i, (_, c) in enumerate(fixed) if c >= q * fixed[-1][1])
    return (0.0 if b == 0 else fixed[b - 1][0]), fixed[b][0]


def boundary_label(buckets: dict[str, float], threshold: float) -> str | None:
    """The `le` label (as the service spells it: "2" or "2.0") equal to `threshold`."""
    for le in buckets:
        bound = parse_le(le)
        if bound != math.inf and math.isclose(bound, threshold, rel_tol=1e-9, abs_tol=1e-12):
            return le
    return None


def bracket(buckets: dict[str, float], value: float) -> tuple[float, float]:
    """The bucket bounds around `value` (for "not a boundary" notes)."""
    bounds = sorted(parse_le(le) for le in buckets)
    lower = 0.0
    for b in bounds:
        if value <= b:
            return lower, b
        lower = b
    return lower, math.inf


def bracket_counts(buckets: dict[str, float], threshold: float
                      ) -> tuple[float, float, float, float]:
    """The bounds around a `threshold` that is not one (lower, upper) and the cumulative
    counts at each (0 below the first bound; the +Inf bucket's count above the last)."""
    pairs = sorted((parse_le(le), c) for le, c in buckets.items())
    lower, at_lower = 0.0, 0.0
    high = 0.0
    for bound, count in pairs:
        high = max(high, count)  # counts forced monotonic, as histogram_quantile does
        if bound > threshold:
            return lower, bound, at_lower, high
        lower, at_lower = bound, high
    return lower, math.inf, at_lower, high


def threshold_bracket(bounds: list[float], threshold: float) -> tuple[float, float] | None:
    """None when `threshold` is one of the histogram's finite bucket bounds (the verdict at
    it is exact); else the bounds around it (lower 0 below the first bucket, upper +Inf above
    the last finite one)."""
    finite = sorted(b for b in bounds if b != math.inf)
    if any(math.isclose(b, threshold, rel_tol=1e-9, abs_tol=1e-12) for b in finite):
        return None
    lower = 0.0
    for b in finite:
        if threshold < b:
            return lower, b
        lower = b
    return lower, math.inf
