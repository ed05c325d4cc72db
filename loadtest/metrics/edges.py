"""A counter's increase over a window, from the raw scrapes around its two edges, summed per
target before it is extrapolated.

Prometheus' `increase()` extrapolates each series on its own from the samples inside the
range, and never below zero: a sparse series (a rare route, a 5xx series, a bucket that just
began to fill, slow requests that only began to complete in the warm-up) is extrapolated on
the few counts it happened to show, and cut at zero. Summed over the many sparse series of a
short window that is a real undercount: 955 requests counted where the target's own counters
and the load generator both said 1,004 (10 s window, 1 s scrapes, 2.4 s requests after a 3 s
warm-up), a throughput that failed on the count alone.

Here the series of one target (scraped together, so sharing their timestamps) are summed
first, per group (`le` for a histogram), and the sum is extrapolated from its own rate inside
the window to each edge, as Prometheus does, but bounded by the sum's scrapes just outside
the window instead of by zero: the value at the start is at least the value before it (zero
when the target was not scraped before it, as with `increase()`), the value at the end at most
the value after it. A series born inside the window counts from zero. What this cannot tell
(a sum that went down: a reset or a series gone; a target with fewer than two scrapes inside
the window) is `None`, and the caller asks `increase()`."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

Samples = Sequence[tuple[float, float]]  # (time, value), in time order
Labels = Mapping[str, str]


def summed(series: Iterable[tuple[Labels, Samples]], group: str | None
           ) -> dict[tuple[str, str, str], dict[float, float]]:
    """The series summed per (job, instance, group value), timestamp by timestamp (a series
    not yet born at a timestamp adds nothing there)."""
    out: dict[tuple[str, str, str], dict[float, float]] = {}
    for labels, samples in series:
        key = (labels.get("job", ""), labels.get("instance", ""),
               labels.get(group, "") if group else "")
        sums = out.setdefault(key, {})
        for t, v in samples:
            sums[t] = sums.get(t, 0.0) + v
    return out


def sum_increase(start_side: Mapping[float, float], end_side: Mapping[float, float],
                 start: float, end: float) -> float | None:
    """One summed series' increase over [start, end] from its scrapes around each edge; None
    when it went down or has fewer than two scrapes inside the window."""
    points = sorted({**start_side, **end_side}.items())
    if any(b[1] < a[1] for a, b in itertools.pairwise(points)):
        return None  # a reset, or a series gone
    before = [p for p in points if p[0] <= start]
    inside = [p for p in points if start < p[0] <= end]
    after = [p for p in points if p[0] > end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    (t0, v0), (t1, v1) = inside[0], inside[-1]
    rate = (v1 - v0) / (t1 - t0)
    at_start = max(v0 - rate * (t0 - start), before[-1][1] if before else 0.0)
    at_end = v1 + rate * (end - t1)
    if after:
        at_end = min(at_end, after[0][1])
    return at_end - at_start


def increases(start_side: Iterable[tuple[Labels, Samples]],
              end_side: Iterable[tuple[Labels, Samples]], start: float, end: float,
              group: str | None = None) -> dict[str, float] | None:
    """The increase over [start, end] per group value, from every matching series' raw
    samples around `start` and around `end`; None when any target's sum cannot tell."""
    start_side, end_side = list(start_side), list(end_side)
    ends = {tuple(sorted(labels.items())) for labels, _ in end_side}
    if any(tuple(sorted(labels.items())) not in ends for labels, _ in start_side):
        return None  # a series gone before the end: its last counts are not here
    at_start, at_end = summed(start_side, group), summed(end_side, group)
    totals: dict[str, float] = {}
    for key in set(at_start) | set(at_end):
        got = sum_increase(at_start.get(key, {}), at_end.get(key, {}), start, end)
        if got is None:
            return None
        totals[key[2]] = totals.get(key[2], 0.0) + got
    return totals
