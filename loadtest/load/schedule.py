"""The open-model schedule of intended start times (pure Python: the Locust side imports it,
and so can tests, without gevent)."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence


def interpolate(points: Sequence[tuple[float, float]], t: float) -> float:
    """The piecewise-linear value of `points` at `t` (held flat outside them; a repeated time
    is a step)."""
    if t <= points[0][0]:
        return points[0][1]
    for (t0, r0), (t1, r1) in itertools.pairwise(points):
        if t0 <= t <= t1:
            return r0 if t1 == t0 else r0 + (r1 - r0) * (t - t0) / (t1 - t0)
    return points[-1][1]


def parse_profile(text: str) -> list[tuple[float, float]]:
    """`t,rate;t,rate;...` (seconds since the schedule's start, req/s), piecewise linear."""
    points = []
    for part in text.split(";"):
        t, r = part.split(",")
        points.append((float(t), float(r)))
    return points


class Schedule:
    def __init__(self, rate: float, arrivals: str = "constant", seed: int | None = None,
                 profile: list[tuple[float, float]] | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.rate = rate
        self.arrivals = arrivals
        self.profile = profile
        self._rng = random.Random(seed)
        self._t0: float | None = None
        self._next: float | None = None
        self.claimed = 0

    def start(self, t0: float, first: float | None = None) -> None:
        """Slot 0 at `t0` (the profile's clock starts there); `first`: the first slot handed
        out when it is later (a worker that joins a run already going)."""
        self._t0 = t0
        self._next = max(t0, first) if first is not None else t0

    @property
    def started(self) -> bool:
        return self._next is not None

    def resume(self, other: Schedule) -> None:
        """Go on from `other`'s timeline (a new split of the rate mid-run): the same profile
        clock and next slot, this schedule's rate from there on."""
        self._t0, self._next, self.claimed = other._t0, other._next, other.claimed

    def rate_at(self, t: float) -> float:
        return interpolate(self.profile, t) if self.profile else self.rate

    def claim(self) -> float:
        if self._next is None:
            self.start(time.time())
        assert self._next is not None and self._t0 is not None
        slot = self._next
        rate = max(0.01, self.rate_at(slot - self._t0))
        step = self._rng.expovariate(rate) if self.arrivals == "poisson" else 1.0 / rate
        self._next = slot + step
        self.claimed += 1
        return slot
