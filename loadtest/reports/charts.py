"""Charts for the reports: plain series in, inline SVG out, drawn by matplotlib (no script, no
network, text kept as escaped SVG text)."""

from __future__ import annotations

import io
import math
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib itself is imported when a chart is drawn
    from matplotlib.axes import Axes

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")
THRESHOLD = "#b91c1c"
CAPACITY = "#15803d"
BREACH = "#b45309"   # an objective first failed while the load ran
ABORT = "#7f1d1d"    # the run was aborted here


@dataclass
class Series:
    name: str
    points: list[tuple[float, float | None]]
    color: str | None = None
    dashed: bool = False


@dataclass
class Chart:
    title: str
    y_label: str
    series: list[Series]
    hlines: list[tuple[float, str]] = field(default_factory=list)
    vlines: list[tuple[float, str]] = field(default_factory=list)
    shade: list[tuple[float, float, str]] = field(default_factory=list)
    marks: list[tuple[float, str, str]] = field(default_factory=list)  # (x, label, color)
    x_label: str = "seconds since load start"
    x_from_zero: bool = False
    width: int = 720
    height: int = 280


def preload() -> None:
    """Import matplotlib in a background thread while the load runs: otherwise ~0.6 s paid
    after the load, before the first chart. A failed import is left to the first chart, which
    raises it where it is reported."""
    threading.Thread(target=_load, name="preload-matplotlib", daemon=True).start()


def _load() -> None:
    """matplotlib is the one import deferred below the commands (a heavy import waits for
    what needs it): a run pays it in preload's thread, while the load runs, not before the
    load starts."""
    try:
        import matplotlib.backends.backend_svg
        import matplotlib.figure  # noqa: F401
    except Exception:  # noqa: BLE001, S110 - raised again, and reported, by render_svg
        pass


def _plain(text: str) -> str:
    """Matplotlib reads `$...$` as mathtext: keep every label literal."""
    return text.replace("$", r"\$")


def render_svg(chart: Chart) -> str:
    import matplotlib
    from matplotlib.figure import Figure

    hlines, off_scale = _on_scale(chart)
    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 8,
                                "svg.hashsalt": "loadtest", "axes.edgecolor": "#9ca3af"}):
        fig = Figure(figsize=(chart.width / 100, chart.height / 100), dpi=100)
        ax = fig.add_subplot()
        _draw_shade(ax, chart.shade)
        _draw_series(ax, chart.series)
        _draw_lines(ax, hlines, chart.vlines, chart.marks)
        _draw_frame(ax, chart, off_scale)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return _inline(buf.getvalue())


def _on_scale(chart: Chart) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """The thresholds to draw, and those far above the data (they would flatten it: named in
    a note instead)."""
    ys = [y for s in chart.series for _, y in s.points if y is not None and math.isfinite(y)]
    data_max = max(ys) if ys else 0.0
    off_scale = [(y, label) for y, label in chart.hlines if data_max and y > 4 * data_max]
    return [h for h in chart.hlines if h not in off_scale], off_scale


def _draw_shade(ax: Axes, shade: list[tuple[float, float, str]]) -> None:
    for a, b, label in shade:
        if b > a:
            ax.axvspan(a, b, color="#f3f4f6", zorder=0, lw=0)
            ax.text(a, 1.0, " " + _plain(label), transform=ax.get_xaxis_transform(),
                    va="top", ha="left", color="#9ca3af", fontsize=7)


def _draw_series(ax: Axes, series: list[Series]) -> None:
    for i, s in enumerate(series):
        xs = [x for x, _ in s.points]
        vs = [math.nan if y is None else y for _, y in s.points]
        ax.plot(xs, vs, label=_plain(s.name), color=s.color or PALETTE[i % len(PALETTE)],
                linestyle="--" if s.dashed else "-", linewidth=1.4,
                marker="." if len(xs) < 3 else None)


def _draw_lines(ax: Axes, hlines: list[tuple[float, str]], vlines: list[tuple[float, str]],
                marks: list[tuple[float, str, str]]) -> None:
    """Thresholds (horizontal), capacity lines and marks (vertical), each labelled."""
    for y, label in hlines:
        ax.axhline(y, color=THRESHOLD, linestyle="--", linewidth=1)
        ax.text(1.0, y, _plain(label) + " ", transform=ax.get_yaxis_transform(),
                ha="right", va="bottom", color=THRESHOLD, fontsize=7)
    for k, (x, label) in enumerate(vlines):
        ax.axvline(x, color=CAPACITY, linestyle=":", linewidth=1.2)
        ax.text(x, 0.85 - 0.1 * k, " " + _plain(label), transform=ax.get_xaxis_transform(),
                ha="left", color=CAPACITY, fontsize=7)
    for k, (x, label, color) in enumerate(marks):
        ax.axvline(x, color=color, linestyle="-." if color == BREACH else "-",
                   linewidth=1.2)
        ax.text(x, 0.95 - 0.09 * (k % 8), " " + _plain(label),
                transform=ax.get_xaxis_transform(), ha="left", color=color, fontsize=7)


def _draw_frame(ax: Axes, chart: Chart, off_scale: list[tuple[float, str]]) -> None:
    """The off-scale note, title, labels, limits, grid and legend."""
    if off_scale:
        note = "; ".join(label for _, label in off_scale) + ": far above the data"
        ax.text(1.0, 1.0, _plain(note), transform=ax.transAxes, ha="right", va="bottom",
                color=THRESHOLD, fontsize=7)
    ax.set_title(_plain(chart.title), loc="left", fontsize=9, fontweight="bold", pad=14)
    ax.set_xlabel(_plain(chart.x_label))
    ax.set_ylabel(_plain(chart.y_label))
    ax.set_ylim(bottom=0)
    if chart.x_from_zero:
        ax.set_xlim(left=0)
    ax.grid(color="#e5e7eb", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    if chart.series:
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.18), ncol=min(6, len(
            chart.series)), frameon=False, fontsize=7)


def _inline(svg: str) -> str:
    """The SVG element alone, without metadata, sized by the page."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    # responsive: drop the fixed size, keep the viewBox; a class for the page's CSS
    svg = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"',
                 r'<svg \1class="chart" role="img"', svg, count=1)
    return svg
