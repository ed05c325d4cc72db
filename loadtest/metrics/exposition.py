"""The Prometheus text exposition format, flattened to samples."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

from prometheus_client.parser import text_string_to_metric_families

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, sorted label pairs)


class ExpositionError(ValueError):
    pass


class SnapshotJson(TypedDict):
    """One scrape as scrapes.jsonl holds it (a line of the harness's own scrapes)."""
    t: float
    ok: bool
    error: str
    samples: list[tuple[str, dict[str, str], float]]  # JSON arrays: name, labels, value


@dataclass(frozen=True)
class Snapshot:
    """One scrape: wall-clock time and every sample's value."""
    t: float
    values: dict[SeriesKey, float]
    ok: bool = True
    error: str = ""

    def to_json(self) -> SnapshotJson:
        return SnapshotJson(t=self.t, ok=self.ok, error=self.error,
                            samples=[(n, dict(lbl), v) for (n, lbl), v in self.values.items()
                                     if not math.isnan(v)])

    @classmethod
    def from_json(cls, data: SnapshotJson) -> Snapshot:
        values: dict[SeriesKey, float] = {}
        for name, labels, value in data.get("samples", []):
            values[(str(name), tuple(sorted((str(k), str(v)) for k, v in labels.items())))] = \
                float(value)
        return cls(t=float(data["t"]), values=values, ok=bool(data.get("ok", True)),
                   error=str(data.get("error", "")))


def parse_exposition(text: str, extra_labels: dict[str, str] | None = None
                     ) -> dict[SeriesKey, float]:
    """{(sample name, labels): value}; `extra_labels` (job, instance) are added to each."""
    out: dict[SeriesKey, float] = {}
    extra = extra_labels or {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = {**s.labels, **extra}
                out[(s.name, tuple(sorted(labels.items())))] = float(s.value)
    except (ValueError, TypeError, IndexError) as e:
        raise ExpositionError(f"not the Prometheus text format: {e}") from None
    return out
