"""The open-model schedule of intended start times (pure Python: the Locust side imports it,
and so can tests, without gevent)."""

from __future__ import annotations

import random
import time


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

    def start(self, t0: float) -> None:
        self._t0 = t0
        self._next = t0

    def rate_at(self, t: float) -> float:
        pts = self.profile
        if not pts:
            return self.rate
        if t <= pts[0][0]:
            return pts[0][1]
        for (t0, r0), (t1, r1) in zip(pts, pts[1:]):
            if t0 <= t <= t1:
                return r0 if t1 == t0 else r0 + (r1 - r0) * (t - t0) / (t1 - t0)
        return pts[-1][1]

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
