"""The interface every metrics source implements, and the values it deals in."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

from loadtest.store.records import ScrapeHealth, SourceInfo


@dataclass(frozen=True)
class Window:
    """The judged interval [start, end], epoch seconds (UTC)."""
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def range_ms(self) -> int:
        """PromQL range selectors want whole milliseconds (`[60500ms]`, never `[60.5s]`)."""
        return max(1, round(self.seconds * 1000))


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # "=", "!=", "=~", "!~"
    value: str

    def render(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.label}{self.op}"{escaped}"'

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit


def render_selector(matchers: tuple[Matcher, ...]) -> str:
    return "{" + ",".join(m.render() for m in matchers) + "}"


@dataclass(frozen=True)
class Figure:
    """A value and the query (or computation) that produced it. `value` None = no data."""
    value: float | None
    query: str


class SourceError(Exception):
    """The source could not answer (unreachable, bad query, garbage)."""


class Unsupported(SourceError):
    """The source cannot compute this kind of figure (e.g. raw PromQL without Prometheus)."""


class MetricsSource(ABC):
    name: str = "abstract"

    def at_window_start(self, t: float) -> None:
        """Called as the judged window opens (the embedded source snapshots here)."""

    def at_window_end(self, t: float) -> None:
        """Called as the judged window closes."""

    def settle(self, window: Window, timeout_s: float) -> None:
        """Block until the source holds data up to `window.end`; raise SourceError if not."""

    @abstractmethod
    def increase(self, metric: str, matchers: tuple[Matcher, ...], window: Window) -> Figure:
        """sum(increase(metric{matchers}[window])) at window.end."""

    @abstractmethod
    def buckets(self, histogram: str, matchers: tuple[Matcher, ...],
                window: Window) -> tuple[dict[str, float] | None, str]:
        """sum by (le) (increase(histogram_bucket{matchers}[window])): {le label: count}."""

    @abstractmethod
    def quantile(self, q: float, histogram: str, matchers: tuple[Matcher, ...],
                 window: Window) -> Figure:
        """histogram_quantile(q, sum by (le) (increase(histogram_bucket{...}[window])))."""

    def bucket_bounds(self, histogram: str, matchers: tuple[Matcher, ...]) -> list[str]:
        """The `le` labels the histogram's series carry now ([] when unknown)."""
        return []

    def instant(self, promql: str, at: float) -> list[tuple[dict[str, str], float]]:
        """A raw PromQL instant query: [(labels, value)]."""
        raise Unsupported(f"the {self.name} source cannot run PromQL (it needs Prometheus: "
                          "pass --prometheus URL or install prometheus)")

    def alert_rules(self) -> int:
        """How many alerting rules the source evaluates."""
        raise Unsupported(f"the {self.name} source evaluates no alert rules (it needs "
                          "Prometheus)")

    def scrape_health(self, window: Window) -> ScrapeHealth:
        """Scrapes of the target inside the window (scrapes, successful, failed, restarts)."""
        return ScrapeHealth()

    def describe(self) -> SourceInfo:
        return SourceInfo(name=self.name)

    def close(self) -> None:
        pass
