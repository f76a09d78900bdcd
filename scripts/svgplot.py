"""Line charts as self-contained SVG files, for the figures the benchmark scripts draw.

The bench scripts run on fresh CI machines and on a newcomer's laptop; a plotting library would be
one more thing to install for a picture, so this writes the SVG itself: axes with round ticks
(linear or logarithmic), one polyline per series, a legend.  Enough for latency CDFs and cost
curves, nothing more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

# Colours that stay apart for the usual colour-vision deficiencies (Okabe-Ito).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 72, 20, 40, 56


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False


@dataclass(frozen=True)
class Axis:
    label: str
    log: bool = False


def _nice_step(span: float, target_ticks: int = 6) -> float:
    raw = span / max(target_ticks, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def linear_ticks(low: float, high: float) -> list[float]:
    if high <= low:
        high = low + 1
    step = _nice_step(high - low)
    # Whole steps from below the lowest value to above the highest: the data never touches the frame's
    # edge unlabelled.
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    low_exp = math.floor(math.log10(low))
    high_exp = math.ceil(math.log10(high))
    return [10.0**e for e in range(low_exp, high_exp + 1)]


def fmt_tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-2:
        mantissa, exponent = f"{value:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:g}"


class _Scale:
    def __init__(self, axis: Axis, low: float, high: float, start: float, end: float) -> None:
        self.log = axis.log
        self.ticks = log_ticks(low, high) if axis.log else linear_ticks(low, high)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        if self.log:
            low, high, value = math.log10(self.low), math.log10(self.high), math.log10(value)
        else:
            low, high = self.low, self.high
        return self.start + (value - low) / (high - low) * (self.end - self.start)


def line_chart(
    title: str, x: Axis, y: Axis, series: Sequence[Series], note: str = "", legend: str = "upper left"
) -> str:
    """The chart as SVG text; points with a non-positive coordinate on a log axis are left out.

    `legend` is "upper left" or "lower right", whichever corner the curves leave empty."""

    def usable(p: tuple[float, float]) -> bool:
        return (not x.log or p[0] > 0) and (not y.log or p[1] > 0)

    kept = [Series(s.label, [p for p in s.points if usable(p)], s.dashed) for s in series]
    xs = [p[0] for s in kept for p in s.points] or [0.0, 1.0]
    ys = [p[1] for s in kept for p in s.points] or [0.0, 1.0]
    sx = _Scale(x, min(xs), max(xs), LEFT, WIDTH - RIGHT)
    sy = _Scale(y, 0.0 if not y.log and min(ys) >= 0 else min(ys), max(ys), HEIGHT - BOTTOM, TOP)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for tick in sx.ticks:
        px = sx(tick)
        out.append(f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#e5e5e5"/>')
        out.append(
            f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{fmt_tick(tick)}</text>'
        )
    for tick in sy.ticks:
        py = sy(tick)
        out.append(f'<line x1="{LEFT}" y1="{py:.1f}" x2="{WIDTH - RIGHT}" y2="{py:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{fmt_tick(tick)}</text>')
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
        'fill="none" stroke="#333"/>'
    )
    centre = (LEFT + WIDTH - RIGHT) / 2
    out.append(f'<text x="{centre}" y="{HEIGHT - 18}" text-anchor="middle">{escape(x.label)}</text>')
    out.append(
        f'<text transform="translate(18 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y.label)}</text>'
    )
    for i, s in enumerate(kept):
        colour = PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        if len(s.points) == 1:
            (px, py) = s.points[0]
            out.append(f'<circle cx="{sx(px):.1f}" cy="{sy(py):.1f}" r="3" fill="{colour}"/>')
        elif s.points:
            path = " ".join(f"{sx(px):.1f},{sy(py):.1f}" for px, py in s.points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            if len(s.points) <= 20:  # a few measured points: show where they are
                for px, py in s.points:
                    out.append(f'<circle cx="{sx(px):.1f}" cy="{sy(py):.1f}" r="3" fill="{colour}"/>')
        if legend == "lower right":
            lx, ly = WIDTH - RIGHT - 200, HEIGHT - BOTTOM - 10 - 16 * (len(kept) - 1 - i)
        else:
            lx, ly = LEFT + 10, TOP + 16 + 16 * i
        out.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke="{colour}" '
            f'stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{lx + 30}" y="{ly}">{escape(s.label)}</text>')
    if note:
        out.append(
            f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end" fill="#666">{escape(note)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def cdf_points(samples: Sequence[float], max_points: int = 400) -> list[tuple[float, float]]:
    """(value, fraction of samples ≤ value), thinned to at most `max_points` steps; the tail kept whole."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        return []
    # Evenly spaced ranks up to p99, every rank beyond: the tail is what a CDF is drawn for.
    tail_start = int(n * 0.99)
    step = max(1, tail_start // max_points)
    ranks = [*range(0, tail_start, step), *range(tail_start, n)]
    return [(ordered[r], (r + 1) / n) for r in ranks]


def write_chart(path: Path, svg: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")
    return path
