"""Inline SVG line charts from plain series: self-contained, no script, no network.
Every text that reaches the SVG is escaped here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


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
    x_label: str = "seconds since load start"
    x_from_zero: bool = False
    width: int = 720
    height: int = 260


def _nice(v: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= v (axis maxima and tick steps)."""
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def render_svg(chart: Chart) -> str:
    left, right, top, bottom = 56, 12, 44, 36
    w, h = chart.width, chart.height
    pw, ph = w - left - right, h - top - bottom
    xs = [x for s in chart.series for x, y in s.points if y is not None]
    xs += [x for x, _ in chart.vlines]
    ys = [y for s in chart.series for _, y in s.points if y is not None]
    # a threshold far above the data would flatten it: name it instead of drawing it
    data_max = max(ys) if ys else 0.0
    off_scale = [(y, label) for y, label in chart.hlines if data_max and y > 4 * data_max]
    hlines = [h for h in chart.hlines if h not in off_scale]
    ys += [y for y, _ in hlines]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if chart.x_from_zero:
        x0 = min(x0, 0.0)
    if x1 <= x0:
        x1 = x0 + 1
    ymax = _nice(max(ys) * 1.05 if ys else 1.0)

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - min(y, ymax) / ymax * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
           f'class="chart" aria-label="{escape(chart.title)}">',
           f'<text x="{left}" y="16" class="ct">{escape(chart.title)}</text>']
    if off_scale:
        note = "; ".join(label for _, label in off_scale)
        out.append(f'<text x="{left + pw}" y="{top - 4}" class="tl">{escape(note)} (far above '
                   'the data)</text>')
    for a, b, label in chart.shade:
        a, b = max(a, x0), min(b, x1)
        if b > a:
            out.append(f'<rect x="{sx(a):.1f}" y="{top}" width="{sx(b) - sx(a):.1f}" '
                       f'height="{ph}" class="shade"><title>{escape(label)}</title></rect>')
            out.append(f'<text x="{sx(a) + 4:.1f}" y="{top + 12}" class="sl">'
                       f'{escape(label)}</text>')
    for i in range(5):
        yv = ymax * i / 4
        y = sy(yv)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="yt">{_fmt(yv)}</text>')
    step = _nice((x1 - x0) / 6)
    xv = math.ceil(x0 / step) * step
    while xv <= x1 + 1e-9:
        out.append(f'<text x="{sx(xv):.1f}" y="{top + ph + 16}" class="xt">{_fmt(xv)}</text>')
        xv += step
    out.append(f'<text x="{left + pw / 2:.1f}" y="{h - 4}" class="xl">'
               f'{escape(chart.x_label)}</text>')
    out.append(f'<text x="12" y="{top + ph / 2:.1f}" class="yl" transform="rotate(-90 12 '
               f'{top + ph / 2:.1f})">{escape(chart.y_label)}</text>')
    for xv, label in chart.vlines:
        if x0 <= xv <= x1:
            x = sx(xv)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" '
                       f'class="cap"/><text x="{x + 4:.1f}" y="{top + 24}" class="cl">'
                       f'{escape(label)}</text>')
    for yv, label in hlines:
        y = sy(yv)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'class="thr"/><text x="{left + pw - 4}" y="{y - 4:.1f}" class="tl">'
                   f'{escape(label)}</text>')
    legend_x = left + 8
    for i, s in enumerate(chart.series):
        color = s.color or PALETTE[i % len(PALETTE)]
        segs: list[list[str]] = [[]]
        for x, value in s.points:
            if value is None:
                segs.append([])
            else:
                segs[-1].append(f"{sx(x):.1f},{sy(value):.1f}")
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        for seg in segs:
            if len(seg) > 1:
                out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} '
                           f'points="{" ".join(seg)}"/>')
            elif len(seg) == 1:
                cx, cy = seg[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="1.8" fill="{color}"/>')
        out.append(f'<rect x="{legend_x}" y="28" width="10" height="3" fill="{color}"/>')
        out.append(f'<text x="{legend_x + 14}" y="33" class="lg">{escape(s.name)}</text>')
        legend_x += 22 + 7 * len(s.name)
    out.append("</svg>")
    return "\n".join(out)


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.2f}".rstrip("0").rstrip(".")
