"""Counting a window from the raw scrapes around its edges (loadtest/metrics/edges.py): the
cases Prometheus' per-series increase() gets wrong, and the ones handed back to it."""

from __future__ import annotations

import random

import pytest

from loadtest.metrics.edges import increases

JOB = {"job": "api", "instance": "a:1"}


def scrapes(counts: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    return [(t, v) for t, v in counts if lo <= t <= hi]


def test_sparse_series_opening_the_window_near_zero_are_not_undercounted() -> None:
    """Requests complete at 100/s from 0.6 s before the window, spread over 40 sparse series
    (routes x statuses). Per series, increase() extrapolates each from its own few counts and
    never below zero; summed first, the target's rate carries the edges."""
    rng = random.Random(7)
    times = sorted(-0.6 + rng.random() * 12.0 for _ in range(1200))  # ~100/s to 11.4 s
    owner = [rng.randrange(40) for _ in times]
    scrape_at = [k - 0.03 for k in range(-2, 14)]  # every second, 0.03 s before each edge
    series = []
    for s in range(40):
        mine = [t for t, o in zip(times, owner) if o == s]
        counts = [(at, float(sum(1 for t in mine if t <= at))) for at in scrape_at]
        series.append(({**JOB, "route": f"/r{s}"}, counts))
    truth = sum(1 for t in times if 0.0 < t <= 10.0)
    got = increases([(lab, scrapes(c, -2, 2)) for lab, c in series],
                    [(lab, scrapes(c, 8, 12)) for lab, c in series], 0.0, 10.0)
    assert got is not None and abs(got[""] - truth) <= 0.02 * truth, (got, truth)


def test_load_that_starts_and_stops_at_the_edges_is_not_smeared_over_them() -> None:
    """Steady traffic exactly inside the window (none before, none after): the sum's rate
    inside extrapolates to the edges, bounded by the scrapes outside (0 before, the final
    count after)."""
    counts = [(t - 0.7, max(0.0, min(10.0, t - 0.7)) * 50) for t in range(-2, 14)]
    got = increases([(JOB, scrapes(counts, -2, 2))], [(JOB, scrapes(counts, 8, 12))], 0, 10)
    assert got == {"": pytest.approx(500.0)}


def test_buckets_are_summed_per_le_and_a_series_born_inside_counts_from_zero() -> None:
    a = ({**JOB, "le": "0.1"}, [(-0.5, 5.0), (0.5, 6.0), (9.5, 15.0), (10.5, 16.0)])
    b = ({**JOB, "le": "+Inf"}, [(-0.5, 5.0), (0.5, 6.0), (9.5, 15.0), (10.5, 16.0)])
    born = ({**JOB, "le": "+Inf", "route": "/new"}, [(9.5, 3.0), (10.5, 3.0)])
    got = increases([a, b], [a, b, born], 0.0, 10.0, group="le")
    assert got is not None and got["0.1"] == pytest.approx(10.0)
    assert got["+Inf"] - got["0.1"] == pytest.approx(3.0, abs=0.5)  # the born series' 3


@pytest.mark.parametrize("start_side, end_side", [
    ([(JOB, [(-0.5, 50.0), (0.5, 2.0)])], [(JOB, [(9.5, 12.0), (10.5, 13.0)])]),  # a reset
    ([(JOB, [(-0.5, 5.0), (0.5, 6.0)]), ({**JOB, "route": "/gone"}, [(-0.5, 1.0)])],
     [(JOB, [(9.5, 15.0), (10.5, 16.0)])]),  # a series gone before the end
    ([(JOB, [(-0.5, 5.0)])], [(JOB, [(10.5, 16.0)])]),  # no scrape inside the window
])
def test_what_the_scrapes_cannot_tell_is_handed_back(start_side: list, end_side: list) -> None:
    assert increases(start_side, end_side, 0.0, 10.0) is None
