"""Server-side SVG charts: plain strings, no JavaScript, nothing fetched.

Every mark carries a ``<title>`` (the exact number on hover) and a class the tests count
(``point``, ``bar``). Text from outside (names) is escaped by the caller's formatter or
here with ``html.escape``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 14, 30
# How far ahead a forecast is drawn at most.
MAX_AHEAD_DAYS = 120


@dataclass(frozen=True)
class Ahead:
    """A forecast to draw: full at ``day + days`` (interval ``days_low``..``days_high``)."""

    days: float
    days_low: float | None
    days_high: float | None


@dataclass(frozen=True)
class Scale:
    x0: float
    x1: float
    y1: float

    def x(self, day: float) -> float:
        span = max(self.x1 - self.x0, 1.0)
        return round(LEFT + (day - self.x0) / span * (WIDTH - LEFT - RIGHT), 1)

    def y(self, value: float) -> float:
        return round(HEIGHT - BOTTOM - value / max(self.y1, 1.0) * (HEIGHT - TOP - BOTTOM), 1)


def history_chart(
    label: str,
    points: Sequence[tuple[dt.date, int]],
    limit: int | None,
    ahead: Ahead | None,
    shown: Callable[[int], str],
) -> str:
    """Used per night (a point each), the limit, and the forecast line to the limit with
    its interval as a band. ``shown``: a value as text (human units and exact)."""
    first, last = points[0][0].toordinal(), points[-1][0].toordinal()
    draw_ahead = ahead is not None and limit is not None and limit > 0
    end: float = last + 1
    if draw_ahead and ahead is not None:
        end = last + min(ahead.days_high or ahead.days, MAX_AHEAD_DAYS)
    top = max([value for _, value in points] + [limit or 0]) * 1.08
    scale = Scale(first - 0.5, max(end, last + 1), top)
    parts = [_frame(label, scale, first, last, end, shown)]
    if limit:
        y = scale.y(limit)
        parts.append(
            f'<line class="limit" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}">'
            f"<title>limit {escape(shown(limit))}</title></line>"
        )
    if draw_ahead and ahead is not None and limit:
        parts.append(_forecast(scale, last, points[-1][1], limit, ahead))
    line = " ".join(f"{scale.x(d.toordinal())},{scale.y(v)}" for d, v in points)
    parts.append(f'<polyline class="history" points="{line}"/>')
    for day, value in points:
        parts.append(
            f'<circle class="point" cx="{scale.x(day.toordinal())}" cy="{scale.y(value)}" r="3">'
            f"<title>{day.isoformat()}: {escape(shown(value))}</title></circle>"
        )
    return _svg(label, "".join(parts))


def _forecast(scale: Scale, last: int, used: int, limit: int, ahead: Ahead) -> str:
    """The line from tonight to the limit, and the band between the interval's ends."""
    x0, y0, y_full = scale.x(last), scale.y(used), scale.y(limit)
    low = ahead.days_low if ahead.days_low is not None else ahead.days
    high = ahead.days_high if ahead.days_high is not None else ahead.days
    reach = min(ahead.days, MAX_AHEAD_DAYS)
    # A line that would leave the chart ends at its edge, at the height it has there.
    y_reach = scale.y(used + (limit - used) * reach / ahead.days) if ahead.days > 0 else y_full
    band = (
        f"{x0},{y0} {scale.x(last + min(low, MAX_AHEAD_DAYS))},{y_full}"
        f" {scale.x(last + min(high, MAX_AHEAD_DAYS))},{y_full}"
    )
    when = f"full in {ahead.days:.0f} days (80 % interval {low:.0f} to {high:.0f})"
    return (
        f'<polygon class="interval" points="{band}"><title>{when}</title></polygon>'
        f'<line class="forecast" x1="{x0}" y1="{y0}" x2="{scale.x(last + reach)}" y2="{y_reach}">'
        f"<title>{when}</title></line>"
    )


def _frame(
    label: str, scale: Scale, first: int, last: int, end: float, shown: Callable[[int], str]
) -> str:
    base = HEIGHT - BOTTOM
    ticks = [first] if first == last else [first, last]
    if end > last + 1:
        ticks.append(int(end))
    texts = "".join(
        f'<text class="tick" x="{scale.x(t)}" y="{base + 16}" text-anchor="middle">'
        f"{dt.date.fromordinal(t).isoformat()}</text>"
        for t in ticks
    )
    top_value = int(scale.y1)
    return (
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{base}"/>'
        f'<text class="tick" x="{LEFT - 6}" y="{base}" text-anchor="end">0</text>'
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end">'
        f"{escape(shown(top_value).split(' (')[0])}</text>{texts}"
    )


@dataclass(frozen=True)
class Bar:
    label: str
    used: int
    limit: int | None
    title: str  # the hover text, exact numbers
    link: str | None = None


BAR_HEIGHT, BAR_GAP, BAR_LABEL = 16, 6, 150


def bar_chart(label: str, bars: Sequence[Bar]) -> str:
    """One bar per group: used as a share of its limit (a group without one: a grey bar
    against the largest use)."""
    scale_bytes = max([b.used for b in bars if not b.limit] + [1])
    track = WIDTH - BAR_LABEL - RIGHT - 50
    parts = []
    for n, bar in enumerate(bars):
        y = TOP + n * (BAR_HEIGHT + BAR_GAP)
        share = bar.used / bar.limit if bar.limit else bar.used / scale_bytes
        width = round(min(share, 1.0) * track, 1)
        state = "over" if bar.limit and share >= 1 else ("unlimited" if not bar.limit else "within")
        name = escape(bar.label)
        if bar.link:
            name = f'<a href="{escape(bar.link)}">{name}</a>'
        percent = f"{share:.0%}" if bar.limit else "no quota"
        parts.append(
            f'<text class="name" x="{BAR_LABEL - 6}" y="{y + 12}" text-anchor="end">{name}</text>'
            f'<rect class="track" x="{BAR_LABEL}" y="{y}" width="{track}" height="{BAR_HEIGHT}"/>'
            f'<rect class="bar {state}" x="{BAR_LABEL}" y="{y}" width="{width}" height="{BAR_HEIGHT}">'
            f"<title>{escape(bar.title)}</title></rect>"
            f'<text class="share" x="{BAR_LABEL + track + 6}" y="{y + 12}">{percent}</text>'
        )
    height = TOP + len(bars) * (BAR_HEIGHT + BAR_GAP) + 10
    return _svg(label, "".join(parts), height)


def _svg(label: str, body: str, height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}"'
        f' height="{height}" viewBox="0 0 {WIDTH} {height}" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )
