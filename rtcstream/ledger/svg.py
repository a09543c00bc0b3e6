"""Charts drawn on the server as SVG: no script, no inline style, so a strict CSP shows them as they are.

Colours and sizes are presentation attributes (``fill``, ``font-size``),
which a Content-Security-Policy does not govern; each bar and point has a
``<title>``, its tooltip, and each chart a title of its own for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString

PALETTE = ("#3b6fb6", "#d9822b", "#b84a4a", "#5a9e4b", "#7b5ea7", "#3a9a9a", "#8c8c8c")
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 28, 40
TEXT = 'font-family="sans-serif" font-size="11" fill="#555"'


def nice_ticks(peak: float, count: int = 4, *, integer: bool = False) -> list[float]:
    """Round tick values from 0 to at least ``peak``: steps of 1, 2 or 5 times a power of ten (whole, for counts)."""
    if peak <= 0:
        return [0.0, 1.0]
    raw = max(peak / count, 1.0) if integer else peak / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    top = math.ceil(peak / step - 1e-9) * step
    return [round(i * step, 10) for i in range(int(round(top / step)) + 1)]


def _number(value: float) -> str:
    return f"{value:g}" if value < 10000 else f"{value:,.0f}"


def _frame(title: str, body: str, height: int = HEIGHT) -> SafeString:
    label = escape(title)
    return SafeString(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="rtcs-chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{label}"><title>{label}</title>{body}</svg>'
    )


def _axes(labels: Sequence[str], ticks: list[float], unit: str) -> tuple[list[str], float, float]:
    """Grid lines, y labels and x labels; return them with the plot's width and height."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = []
    for tick in ticks:
        y = TOP + plot_h - tick / ticks[-1] * plot_h
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" {TEXT}>{_number(tick)}</text>')
    if unit:
        parts.append(f'<text x="{LEFT - 6}" y="{TOP - 12}" text-anchor="end" {TEXT}>{escape(unit)}</text>')
    every = max(1, math.ceil(len(labels) / 12))
    slot = plot_w / max(1, len(labels))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + (i + 0.5) * slot
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" {TEXT}>{escape(label)}</text>'
            )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#999" stroke-width="1"/>'
    )
    return parts, plot_w, plot_h


def _legend(names: Sequence[str]) -> list[str]:
    parts, x = [], WIDTH - RIGHT
    for i, name in reversed(list(enumerate(names))):
        x -= 26 + 7 * len(name)
        parts.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="15" {TEXT}>{escape(name)}</text>')
    return parts


def stacked_bars(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], unit: str = ""
) -> SafeString:
    """One bar per label, the series stacked; each segment's tooltip says its label, series and value."""
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    ticks = nice_ticks(max(totals, default=0), integer=True)
    parts, plot_w, plot_h = _axes(labels, ticks, unit)
    slot = plot_w / max(1, len(labels))
    width = max(1.0, slot * 0.8)
    for i, label in enumerate(labels):
        base = 0
        for s, (name, values) in enumerate(series):
            value = values[i]
            if not value:
                continue
            y = TOP + plot_h - (base + value) / ticks[-1] * plot_h
            h = value / ticks[-1] * plot_h
            x = LEFT + i * slot + (slot - width) / 2
            tip = escape(f"{label}: {value} {name}")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}" data-value="{value}"><title>{tip}</title></rect>'
            )
            base += value
    parts += _legend([name for name, _ in series])
    return _frame(title, "".join(parts))


def lines(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], unit: str = ""
) -> SafeString:
    """One line per series, broken where a value is missing; each point has its tooltip."""
    values = [v for _, vs in series for v in vs if v is not None]
    ticks = nice_ticks(max(values, default=0.0))
    parts, plot_w, plot_h = _axes(labels, ticks, unit)
    slot = plot_w / max(1, len(labels))
    for s, (name, points) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        run: list[str] = []
        for i, value in enumerate([*points, None]):
            if value is None:
                if len(run) > 1:
                    parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>')
                run = []
                continue
            x = LEFT + (i + 0.5) * slot
            y = TOP + plot_h - value / ticks[-1] * plot_h
            run.append(f"{x:.1f},{y:.1f}")
            tip = escape(f"{labels[i]}: {name} {_number(value)} {unit}".rstrip())
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}" data-value="{value}"><title>{tip}</title></circle>'
            )
    parts += _legend([name for name, _ in series])
    return _frame(title, "".join(parts))


def horizontal_bars(title: str, items: Sequence[tuple[str, int]]) -> SafeString:
    """One bar per item, longest first as given; the count at its end."""
    row, label_w = 22, 170
    height = TOP + row * max(1, len(items)) + 8
    peak = max((n for _, n in items), default=0) or 1
    plot_w = WIDTH - label_w - RIGHT - 48
    parts = []
    for i, (label, count) in enumerate(items):
        y = TOP + i * row
        w = count / peak * plot_w
        tip = escape(f"{label}: {count}")
        parts.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" {TEXT}>{escape(label)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[0]}" '
            f'data-value="{count}"><title>{tip}</title></rect>'
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" {TEXT}>{count}</text>')
    if not items:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{TOP + 14}" text-anchor="middle" {TEXT}>No sessions ended in this range.</text>'
        )
    return _frame(title, "".join(parts), height)
