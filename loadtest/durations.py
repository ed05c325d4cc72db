"""Durations as users write them: `250ms`, `30s`, `5m`, `1h` (and combinations like `1m30s`)."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str | float) -> float:
    """Seconds from `text`; raises ValueError with the accepted forms."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration (use 2s, 250ms, 5m, 1h)")
    if isinstance(text, (int, float)):
        if not math.isfinite(text):
            raise ValueError(f"{text!r} is not a duration (use 2s, 250ms, 5m, 1h)")
        if text < 0:
            raise ValueError(f"{text!r} is negative (a duration is >= 0)")
        return float(text)
    s = str(text).strip().lower()
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f"{_cut(text)!r} is not a duration (use 2s, 250ms, 5m, 1h)")
    if not math.isfinite(total):
        raise ValueError(f"{_cut(text)!r} is too long to be a duration")
    return total


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def format_duration(seconds: float) -> str:
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"
