"""Why people failed, by hour, as an inline SVG stacked bar chart (no script, no library download).

Pure: figures in, markup out (escaped by the caller's template as ``Markup``; every text here is a
number or one of the fixed labels of :data:`center.console.figures.CATEGORIES`).
"""

from __future__ import annotations

from collections import Counter
from html import escape

from center.console.figures import CATEGORIES

WIDTH, HEIGHT = 640, 330
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 8, 20, 52
# Hall opening hours shown even when nothing happened in them (the chart widens for later records).
OPENING_HOURS = range(8, 18)


def failure_chart_svg(by_hour: dict[int, Counter[str]]) -> str:
    """The chart: one stacked bar per hour, a y axis in people-attempts, hour labels below."""
    hours = list(range(min([*OPENING_HOURS, *by_hour]), max([*OPENING_HOURS, *by_hour]) + 1))
    peak = max([sum(counts.values()) for counts in by_hour.values()] + [1])
    top = _nice_ceiling(peak)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    slot = plot_w / len(hours)
    bar = slot * 0.6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
             f'role="img" aria-label="各时段认证失败原因" class="chart">']
    for step in range(5):  # grid lines and y labels
        value = top * step / 4
        y = _TOP + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{_LEFT - 8}" y="{y + 6:.1f}" text-anchor="end" font-size="16">{value:g}</text>')
    for index, hour in enumerate(hours):
        x = _LEFT + slot * index + (slot - bar) / 2
        y = _TOP + plot_h
        counts = by_hour.get(hour, Counter())
        for key, label, colour in CATEGORIES:
            count = counts.get(key, 0)
            if not count:
                continue
            height = plot_h * count / top
            y -= height
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" fill="{colour}">'
                         f'<title>{hour}时 {escape(label)}: {count}</title></rect>')
        total = sum(counts.values())
        if total:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="16">{total}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - _BOTTOM + 22}" text-anchor="middle" '
                     f'font-size="16">{hour}</text>')
    parts.append(f'<text x="{_LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="16">'
                 f'时（北京时间）</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_ceiling(value: int) -> int:
    """The smallest of 4, 8, 12, 24, 48, 96, ... that is at least ``value`` (four grid steps of whole numbers)."""
    ceiling = 4
    while ceiling < value:
        ceiling = ceiling * 2 if ceiling < 8 else (ceiling + 4 if ceiling < 12 else ceiling * 2)
    return ceiling
