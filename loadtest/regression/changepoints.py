"""Change points in a series of runs: E-divisive means (Matteson and James, 2014), as
MongoDB's performance CI uses it (Daly et al., ICPE 2020), with a permutation test.

Pure numbers, no I/O. One pass finds, in each stretch between the change points found so far,
the split that maximises the energy statistic

    Q(X, Y) = n m / (n + m) * (2/(n m) sum|X_i - Y_j| - sum_{i<k}|X_i - X_k| / C(n, 2)
                                                     - sum_{j<k}|Y_j - Y_k| / C(m, 2))

(X the stretch before the split, Y after it; both at least `min_size` long), takes the best
over all stretches, and keeps it when a permutation test says so: the runs are shuffled within
each stretch, and the p-value is the share of shufflings (the observed order counted among
them) whose best Q is at least as large. Repeat until a split is not significant.

A permutation test makes no assumption on the shape of the noise, but its p-value has a floor:
with n runs split k / n - k, two in C(n, k) orders are as extreme as a clean step (the runs
before it first, or last). Six runs split 3 / 3 can do no better than p = 0.1; at the default
significance (0.01) a clean step needs C(n, k) >= 200: 5 runs on each side, or 4 and 6. Where all shufflings are few
(at most EXACT_LIMIT) every one is tried, so that floor is reached exactly; otherwise
`permutations` random ones, from a fixed seed: the same series always gives the same answer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SIGNIFICANCE = 0.01
MIN_SIZE = 3
PERMUTATIONS = 199
EXACT_LIMIT = 5040  # 7! shufflings
_BATCH = 100


@dataclass(frozen=True)
class ChangePoint:
    index: int        # the first run after the change
    p_value: float
    q: float          # the energy statistic of the split


def _q_curve(d: np.ndarray, min_size: int) -> np.ndarray:
    """Q for every admissible split of every stretch in a batch: d is (B, L, L) pairwise
    distances; returns (B, L - 2 * min_size + 1) for splits tau = min_size .. L - min_size."""
    length = d.shape[-1]
    p = np.zeros((d.shape[0], length + 1, length + 1))
    p[:, 1:, 1:] = d.cumsum(axis=1).cumsum(axis=2)
    tau = np.arange(min_size, length - min_size + 1)
    n = tau.astype(float)
    m = (length - tau).astype(float)
    xx = p[:, tau, tau]                       # sum over X x X (both orders)
    xl = p[:, tau, length]
    cross = xl - xx
    yy = p[:, length, length][:, None] - 2 * xl + xx
    within_x = np.where(n > 1, xx / np.maximum(n * (n - 1), 1), 0.0)
    within_y = np.where(m > 1, yy / np.maximum(m * (m - 1), 1), 0.0)
    energy = 2 * cross / (n * m) - within_x - within_y
    return n * m / (n + m) * energy


def _best(values: np.ndarray, bounds: list[tuple[int, int]], min_size: int
          ) -> tuple[int, float] | None:
    """(split index, Q) of the best split over all stretches, or None when none is long
    enough to split."""
    best: tuple[int, float] | None = None
    for a, b in bounds:
        if b - a < 2 * min_size:
            continue
        seg = values[a:b]
        q = _q_curve(np.abs(seg[:, None] - seg[None, :])[None], min_size)[0]
        i = int(np.argmax(q))
        if best is None or q[i] > best[1]:
            best = (a + min_size + i, float(q[i]))
    return best


def _best_q_of_orders(values: np.ndarray, bounds: list[tuple[int, int]], min_size: int,
                      orders: np.ndarray) -> np.ndarray:
    """The best Q over all stretches for each row of `orders` (index permutations that keep
    every run inside its stretch)."""
    best = np.full(orders.shape[0], -np.inf)
    for a, b in bounds:
        if b - a < 2 * min_size:
            continue
        seg = values[orders[:, a:b]]                      # (B, L)
        d = np.abs(seg[:, :, None] - seg[:, None, :])
        best = np.maximum(best, _q_curve(d, min_size).max(axis=1))
    return best


def _shufflings(bounds: list[tuple[int, int]], n: int, permutations: int,
                rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Index orders that shuffle within each stretch: all of them when they are few (exact),
    else `permutations` random ones."""
    total = math.prod(math.factorial(b - a) for a, b in bounds)
    if total <= EXACT_LIMIT:
        rows = [np.concatenate(parts) for parts in itertools.product(
            *(list(itertools.permutations(range(a, b))) for a, b in bounds))]
        return np.array(rows, dtype=int).reshape(len(rows), n), True
    orders = np.tile(np.arange(n), (permutations, 1))
    for a, b in bounds:
        orders[:, a:b] = rng.permuted(orders[:, a:b], axis=1)
    return orders, False


def e_divisive(values: Sequence[float], significance: float = SIGNIFICANCE,
               min_size: int = MIN_SIZE, permutations: int = PERMUTATIONS,
               seed: int = 0) -> list[ChangePoint]:
    """The change points of `values` (in order), each the index of the first value after it."""
    if not 0 < significance < 1:
        raise ValueError(f"significance {significance}: use a number between 0 and 1")
    if min_size < 1:
        raise ValueError(f"min_size {min_size}: use at least 1")
    x = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite numbers")
    rng = np.random.default_rng(seed)
    found: list[ChangePoint] = []
    while True:
        cuts = [0, *sorted(c.index for c in found), len(x)]
        bounds = list(itertools.pairwise(cuts))
        best = _best(x, bounds, min_size)
        if best is None or best[1] <= 0:
            break
        index, q = best
        orders, exact = _shufflings(bounds, len(x), permutations, rng)
        as_large = 0
        for start in range(0, len(orders), _BATCH):
            qs = _best_q_of_orders(x, bounds, min_size, orders[start:start + _BATCH])
            as_large += int(np.sum(qs >= q * (1 - 1e-9)))
        # exact: the observed order is one of the rows; sampled: count it in (p > 0)
        p = as_large / len(orders) if exact else (as_large + 1) / (len(orders) + 1)
        if p > significance * (1 + 1e-9):
            break
        found.append(ChangePoint(index=index, p_value=p, q=q))
    return sorted(found, key=lambda c: c.index)


def min_p_value(n: int, min_size: int = MIN_SIZE) -> float:
    """The smallest p-value any change in n runs can have: 2 / C(n, k) for the most balanced
    admissible split k. 1.0 when n is too short to split."""
    if n < 2 * min_size:
        return 1.0
    return min(1.0, 2 / math.comb(n, n // 2))
