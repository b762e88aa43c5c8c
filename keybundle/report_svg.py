"""SVG 1.1 line charts for the auditor's report (OPS §8.6): inline, no script, no fonts fetched.

The report is one self-contained HTML page that must render offline in any browser, so its
plots are drawn here as plain SVG elements (polylines, lines, text) rather than by a
charting library or JavaScript. Deterministic: the same series give the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["Series", "line_chart"]

WIDTH: Final = 760
HEIGHT: Final = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 20, 30, 40
_PALETTE: Final = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
MAX_POINTS: Final = 2000
"""Points drawn per series; longer series are thinned evenly (the last point always kept)."""


@dataclass(frozen=True)
class Series:
    """One named line: ``points`` are (x, y) pairs, x increasing; y None is a gap."""

    name: str
    points: Sequence[tuple[int, int | None]]


def _thin(points: Sequence[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    if len(points) <= MAX_POINTS:
        return list(points)
    step = len(points) / MAX_POINTS
    out = [points[int(i * step)] for i in range(MAX_POINTS - 1)]
    return [*out, points[-1]]


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: Callable[[int], str],
    y_label: Callable[[int], str],
    y_zero: bool = True,
) -> str:
    """An ``<svg>`` element: each series a polyline (broken at None), axes with their range
    labelled by ``x_label`` and ``y_label``, a legend; "no data" when there is nothing."""
    esc = html.escape
    drawn = [Series(s.name, _thin(s.points)) for s in series]
    xs = [x for s in drawn for x, _ in s.points]
    ys = [y for s in drawn for _, y in s.points if y is not None]
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{esc(title)}">'
        f'<text x="{_LEFT}" y="18" font-size="14" font-weight="bold">{esc(title)}</text>'
    )
    if not xs or not ys:
        return head + f'<text x="{_LEFT}" y="{HEIGHT // 2}" font-size="13">no data yet</text></svg>'
    x0, x1 = min(xs), max(xs)
    y0, y1 = (0 if y_zero else min(ys)), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    pw, ph = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def px(x: int) -> float:
        return _LEFT + (x - x0) * pw / (x1 - x0)

    def py(y: int) -> float:
        return _TOP + ph - (y - y0) * ph / (y1 - y0)

    parts = [head]
    bottom, right = _TOP + ph, _LEFT + pw
    parts.append(
        f'<g stroke="#999" stroke-width="1"><line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" '
        f'y2="{bottom}"/><line x1="{_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/></g>'
    )
    parts.append(
        f'<g font-size="11" fill="#333">'
        f'<text x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">{esc(y_label(y1))}</text>'
        f'<text x="{_LEFT - 6}" y="{bottom}" text-anchor="end">{esc(y_label(y0))}</text>'
        f'<text x="{_LEFT}" y="{bottom + 16}">{esc(x_label(x0))}</text>'
        f'<text x="{right}" y="{bottom + 16}" text-anchor="end">{esc(x_label(x1))}</text></g>'
    )
    for n, s in enumerate(drawn):
        color = _PALETTE[n % len(_PALETTE)]
        runs: list[list[str]] = [[]]
        for x, y in s.points:
            if y is None:
                runs.append([])
            else:
                runs[-1].append(f"{px(x):.1f},{py(y):.1f}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            elif run:
                dash = ' stroke-dasharray="6 3"' if n % 2 else ""
                parts.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.8"{dash} '
                    f'points="{" ".join(run)}"/>'
                )
        lx = _LEFT + 10 + (n % 4) * 170
        ly = bottom + 32
        parts.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{ly}" font-size="11">{esc(s.name[:26])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
