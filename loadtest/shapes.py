"""Load shapes: a rate profile over the run (piecewise linear in time since load start) and
the steady window that is judged. The Locust side paces on the same profile.

    constant  the rate throughout; judged after the warm-up
    ramp      from a tenth of the rate up to the rate during the warm-up, then held; judged
              while held
    step      a third of the duration at each of rate/2, rate and 2 x rate; judged on the
              last (peak) step
    spike     the rate, with 3 x the rate for the middle tenth of the duration; judged over
              the whole duration (how the service rides out the spike)
    soak      the rate held for a long duration; judged after the warm-up (samples are flushed
              every few seconds, so a long run loses little if the harness dies)
    FILE      a YAML file: `stages: [{duration: 30s, rate: 50}, {duration: 60s, rate: 200,
              ramp: true}]` and optionally `judge: {from: 30s, to: 90s}`
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.durations import parse_duration
from loadtest.errors import ConfigError, UsageError
from loadtest.schedule import interpolate

NAMES = ("constant", "ramp", "step", "spike", "soak")
MIN_RATE = 0.1


@dataclass(frozen=True)
class Profile:
    points: tuple[tuple[float, float], ...]   # (seconds since load start, req/s), linear
    judge_from: float
    judge_to: float
    name: str

    @property
    def length(self) -> float:
        return self.points[-1][0]

    def rate_at(self, t: float) -> float:
        return interpolate(self.points, t)

    def expected(self, a: float, b: float, steps: int = 2000) -> float:
        """Requests the profile offers between offsets a and b (trapezoid rule)."""
        if b <= a:
            return 0.0
        h = (b - a) / steps
        total = sum(self.rate_at(a + i * h) for i in range(1, steps))
        return h * (total + (self.rate_at(a) + self.rate_at(b)) / 2)

    def scaled(self, factor: float) -> "Profile":
        return Profile(tuple((t, max(MIN_RATE, r * factor)) for t, r in self.points),
                       self.judge_from, self.judge_to, self.name)

    def to_env(self) -> str:
        return ";".join(f"{t:.3f},{r:.6g}" for t, r in self.points)


def build(shape: str, rate: float, warmup_s: float, duration_s: float) -> Profile:
    w, d, r = warmup_s, duration_s, rate
    if shape in ("constant", "soak"):
        return Profile(((0.0, r), (w + d, r)), w, w + d, shape)
    if shape == "ramp":
        return Profile(((0.0, max(MIN_RATE, r / 10)), (w, r), (w + d, r)), w, w + d, shape)
    if shape == "step":
        third = d / 3
        pts = ((0.0, r / 2), (w + third, r / 2), (w + third, r), (w + 2 * third, r),
               (w + 2 * third, 2 * r), (w + d, 2 * r))
        return Profile(pts, w + 2 * third, w + d, shape)
    if shape == "spike":
        a, b = w + 0.45 * d, w + 0.55 * d
        pts = ((0.0, r), (a, r), (a, 3 * r), (b, 3 * r), (b, r), (w + d, r))
        return Profile(pts, w, w + d, shape)
    path = Path(shape)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        return from_file(path)
    raise UsageError(f"--shape {shape!r}: not a known shape (use {', '.join(NAMES)} or a "
                     "YAML file of stages)")


def from_file(path: Path) -> Profile:
    import yaml

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such shape file") from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read it as YAML ({e})") from None
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"{path}: stages: a list of {{duration, rate}} is required")
    t = 0.0
    pts: list[tuple[float, float]] = []
    for i, st in enumerate(stages):
        if not isinstance(st, dict) or set(st) - {"duration", "rate", "ramp"}:
            raise ConfigError(f"{path}: stages[{i}]: use duration, rate and optionally ramp")
        try:
            dur = parse_duration(st["duration"])
            rate = float(st["rate"])
        except (KeyError, ValueError, TypeError) as e:
            raise ConfigError(f"{path}: stages[{i}]: {e} (e.g. {{duration: 30s, rate: 50}})") \
                from None
        if dur <= 0 or rate <= 0:
            raise ConfigError(f"{path}: stages[{i}]: duration and rate must be > 0")
        if not st.get("ramp") or not pts:
            pts.append((t, rate))
        t += dur
        pts.append((t, rate))
    judge = data.get("judge") or {}
    try:
        a = parse_duration(judge.get("from", 0))
        b = parse_duration(judge.get("to", t)) if "to" in judge else t
    except (ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: judge: {e}") from None
    if not 0 <= a < b <= t:
        raise ConfigError(f"{path}: judge: from/to must lie inside the {t:g}s of stages")
    return Profile(tuple(pts), a, b, str(path))
