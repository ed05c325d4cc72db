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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadtest.errors import ConfigError, UsageError
from loadtest.inputs import YamlDocument, read_yaml
from loadtest.load.schedule import interpolate
from loadtest.slo import Duration, format_loc

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

    def scaled(self, factor: float) -> Profile:
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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)


class Stage(_Strict):
    duration: Duration = Field(gt=0, le=7 * 86400)
    rate: float = Field(gt=0, le=1_000_000)
    ramp: bool = False


class Judge(_Strict):
    start: Duration = Field(default=0.0, ge=0, alias="from")
    end: Duration | None = Field(default=None, gt=0, alias="to")


class StageFile(_Strict):
    """A shape file: `stages` (each `duration`, `rate`, optionally `ramp: true` for a line from
    the previous stage's rate) and optionally `judge: {from, to}` (offsets since load start;
    default the whole run)."""
    stages: list[Stage] = Field(min_length=1)
    judge: Judge = Judge()


_KEYS = {(): "stages, judge", "stages": "duration, rate, ramp", "judge": "from, to"}


def _stage_error(e: ValidationError, doc: YamlDocument, path: Path) -> ConfigError:
    # an unknown key first: a typo ("rat:") also makes its field look missing
    err = min(e.errors(), key=lambda x: x["type"] != "extra_forbidden")
    loc = tuple(err["loc"])
    line = doc.line(loc)
    where = f"{path}:{line}" if line else str(path)
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        parent = "stages" if len(loc) > 1 and loc[0] == "stages" else \
            ("judge" if len(loc) > 1 else ())
        msg = f"not a field of a shape file (use {_KEYS[parent]}; check its spelling)"
    elif err["type"] == "missing":
        msg = "missing (add it, e.g. {duration: 30s, rate: 50})"
    elif not isinstance(err.get("input"), (dict, list, type(None))):
        msg = f"{err['input']!r}: {msg}"
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return ConfigError(f"{where}: {format_loc(loc)}: {msg}{more}")


def from_file(path: Path) -> Profile:
    """A shape file, validated like the SLO file: unknown keys refused, errors name the file,
    the line, the field and the fix."""
    try:
        doc = read_yaml(path, "shape file")  # bounded: size, aliases expanded, depth
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such shape file (--shape takes {', '.join(NAMES)} or a "
                          "YAML file of stages)") from None
    data: Any = doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with stages: (e.g. stages: "
                          "[{duration: 30s, rate: 50}])")
    try:
        spec = StageFile.model_validate(data)
    except ValidationError as e:
        raise _stage_error(e, doc, path) from None
    t = 0.0
    pts: list[tuple[float, float]] = []
    for st in spec.stages:
        if not st.ramp or not pts:
            pts.append((t, st.rate))
        t += st.duration
        pts.append((t, st.rate))
    a = spec.judge.start
    b = spec.judge.end if spec.judge.end is not None else t
    if not 0 <= a < b <= t:
        line = doc.lines().get(("judge",))
        raise ConfigError(f"{path}{f':{line}' if line else ''}: judge: from {a:g}s to {b:g}s "
                          f"does not lie inside the {t:g}s of stages (use 0s <= from < to <= "
                          f"{t:g}s)")
    if b - a < 1:
        raise ConfigError(f"{path}: judge: the judged window is {b - a:g}s; make it at least "
                          "1s (4 x the scrape interval or more is sound)")
    return Profile(tuple(pts), a, b, str(path))


def is_file(shape: str) -> bool:
    """A stage file rather than a named shape (it then sets rate, warm-up and window)."""
    return shape not in NAMES


def _s(x: float) -> str:
    return f"{x:g}s"


def describe(profile: Profile) -> str:
    """What the run offers and what it judges, for the banner: the shape by name, its rates,
    and the judged window with the rate offered in it."""
    judged = profile.judge_to - profile.judge_from
    avg = profile.expected(profile.judge_from, profile.judge_to) / judged if judged else 0.0
    rates: list[float] = []
    for _, r in profile.points:
        if not rates or abs(rates[-1] - r) > 1e-9:
            rates.append(r)
    offered = " -> ".join(f"{r:g}" for r in rates) + " req/s"
    return (f"shape {profile.name}: {offered} over {_s(profile.length)}; judged "
            f"{_s(profile.judge_from)}..{_s(profile.judge_to)} ({_s(judged)} at "
            f"{avg:.3g} req/s)")
