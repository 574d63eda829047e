"""When a group's quota fills: pure computation, no I/O (forecast/table.py reads and writes).

One series is one (volume, group, measure) over the nights the database holds: the
used amount and the limit of each night. The forecast for a night:

1. The limit is that night's (a NULL limit, a failed look-up, takes the latest known
   one); 0 is unlimited. Used at or above the limit is full.
2. Only the nights since the last change of the limit, within ``window_days``, count:
   growth against an older limit says nothing about the current one.
3. A bulk deletion (a drop of at least ``deletion_fraction`` of the limit that holds
   for two nights) lowers the nights before it by the drop, so the growth on either
   side still counts and the drop is not fitted as a fall.
4. The growth per day is a Theil–Sen slope: the median of the slopes between every
   pair of nights, each over its own number of days (missing nights need nothing),
   the pairs weighted by the square of their days. A single-night spike moves few of
   the pairs' slopes and so hardly moves the median.
   The 80 % interval of the slope is Sen's, from the ranks of the pairwise slopes.
5. Growth that has just sped up (a burst of writes, a new project) is late to move
   the long window's median. The recent growth is the plain Theil–Sen slope of the
   nights of the last ``_RECENT_DAYS`` days; when it is at least ``_RECENT_FACTOR``
   times the long slope and each of the last two nights grew at that pace too (one
   night's jump, a spike, is not enough), it is the growth, and the interval spans
   both slopes.
6. The level tonight is the median of the last three nights, each carried to tonight
   along the slope: one odd night (a partial crawl, a spike) does not move it, a
   change that holds for two nights does.
7. Days until full = (limit − level) / slope, with the interval from the slope's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from humgen_storage.config import ForecastConfig

FULL = "full"
CRITICAL = "critical"
WARNING = "warning"
OK = "ok"
UNLIMITED = "unlimited"
SHRINKING = "shrinking"
NOT_ENOUGH_HISTORY = "not enough history"
STATUSES = (FULL, CRITICAL, WARNING, OK, UNLIMITED, SHRINKING, NOT_ENOUGH_HISTORY)

# The standard normal quantile of 90 %: the two-sided 80 % interval of the slope.
_Z_80 = 1.2815515655446004
# Nights whose carried values make the level (step 5).
_LEVEL_NIGHTS = 3
# The recent growth (step 5): the nights of the last this many days, at least this many
# of them, and how many times steeper than the long slope it must be; the back-test
# chose these among steeper-than 1.5-3.5 times (false warnings rise below 3.5).
_RECENT_DAYS = 5
_RECENT_NIGHTS = 3
_RECENT_FACTOR = 3.5
# Days beyond which "until full" is not a number worth printing: a century.
MAX_DAYS = 36525.0


@dataclass(frozen=True)
class Series:
    """One (volume, group, measure): its nights in increasing order of day."""

    days: tuple[int, ...]  # date.toordinal()
    used: tuple[int, ...]
    limits: tuple[int | None, ...]


@dataclass(frozen=True)
class Forecast:
    used: int
    limit: int | None  # None: no limit known; 0: unlimited
    status: str
    days_until_full: float | None  # None: not within MAX_DAYS, or not growing
    days_low: float | None  # the 80 % interval of days_until_full
    days_high: float | None
    growth_per_day: float | None
    points: int  # nights the fit used


@dataclass(frozen=True)
class Slope:
    """A Theil–Sen slope and its 80 % interval."""

    median: float
    low: float
    high: float


def theil_sen(days: np.ndarray, values: np.ndarray) -> Slope:
    """The median of the pairwise slopes, each pair weighted by the square of the days
    between its nights (after Sievers–Scholz, who weight by the days: a growth that
    comes in steps a week or more apart has most of its short pairs flat, and would
    otherwise read as no growth; the back-test chose the square), and Sen's 80 % interval
    at the same shares of the weight: ranks (N ∓ z·√(n(n−1)(2n+5)/18)) / 2 of the N
    pairs, Kendall's variance without ties."""
    first, second = _pairs(len(days))
    spans = days[second] - days[first]
    slopes = (values[second] - values[first]) / spans
    order = np.argsort(slopes, kind="stable")
    slopes = slopes[order]
    cumulative = np.cumsum(spans[order] ** 2)
    n, pairs = len(days), len(slopes)
    spread = _Z_80 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)

    def at(share: float) -> float:
        share = min(1.0, max(0.0, share))
        index = int(np.searchsorted(cumulative, share * cumulative[-1], side="left"))
        return float(slopes[min(index, pairs - 1)])

    return Slope(at(0.5), at((pairs - spread) / 2 / pairs), at((pairs + spread) / 2 / pairs))


@lru_cache(maxsize=128)
def _pairs(nights: int) -> tuple[np.ndarray, np.ndarray]:
    """The indices (first, second) of every pair of ``nights`` nights; a series has at
    most a window's nights, so few sizes recur for every group."""
    first, second = np.triu_indices(nights, k=1)
    first.flags.writeable = second.flags.writeable = False
    return first, second


def current_limit(limits: tuple[int | None, ...]) -> int | None:
    """The latest limit known (a NULL is a failed look-up, not a change)."""
    return next((limit for limit in reversed(limits) if limit is not None), None)


def since_limit_change(series: Series, limit: int, first_day: int) -> int:
    """The index of the first night of the fit: after the last night under another
    (known) limit, and on or after ``first_day``."""
    start = len(series.days)
    while start > 0:
        night = start - 1
        other = series.limits[night] is not None and series.limits[night] != limit
        if other or series.days[night] < first_day:
            break
        start = night
    return start


def without_deletions(values: np.ndarray, threshold: float) -> np.ndarray:
    """``values`` with each bulk deletion taken out: a drop below the level before it
    (the night before, or the median of the three before when lower) by at least
    ``threshold`` that holds for two nights lowers every night before it by the drop. A drop on the last night
    alone may be a partial crawl and is left to the robust fit."""
    # Plain floats: the loop runs for every night of every group, and numpy's per-call
    # overhead on three numbers would be most of the forecast's time.
    raw = [float(value) for value in values]
    lowered = raw[:]
    for night in range(1, len(raw) - 1):
        # The night before, unless it is a spike above the three before it: a steady
        # fall is never taken for a deletion, nor is a spike's end.
        recent = _median(lowered[max(0, night - _LEVEL_NIGHTS) : night])
        before = min(recent, lowered[night - 1])
        after = max(raw[night], raw[night + 1])
        if before - after >= threshold:
            lowered[:night] = [value - (before - after) for value in lowered[:night]]
    return np.asarray(lowered, dtype=np.float64)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def recent_growth(days: np.ndarray, values: np.ndarray, long: float) -> float | None:
    """The plain Theil–Sen slope of the last ``_RECENT_DAYS`` days, when it is at least
    ``_RECENT_FACTOR`` times ``long`` (and growing) and each of the last two nights grew
    at that pace too; else None."""
    recent = days >= days[-1] - _RECENT_DAYS
    if int(recent.sum()) < _RECENT_NIGHTS:
        return None
    near_days, near_values = days[recent], values[recent]
    first, second = _pairs(len(near_days))
    pairwise = (near_values[second] - near_values[first]) / (near_days[second] - near_days[first])
    growth = float(np.median(pairwise))
    threshold = _RECENT_FACTOR * max(long, 0.0)
    last_two = np.diff(near_values[-3:]) / np.diff(near_days[-3:])
    if growth <= 0 or growth < threshold or not bool(np.all(last_two >= threshold)):
        return None
    return growth


def level_tonight(days: np.ndarray, values: np.ndarray, slope: float) -> float:
    """The median of the last nights, each carried along ``slope`` to the last day."""
    last = slice(-_LEVEL_NIGHTS, None)
    carried = values[last] + slope * (days[-1] - days[last])
    return float(np.median(carried))


def _days(headroom: float, slope: float) -> float | None:
    if slope <= 0:
        return None
    days = headroom / slope
    return round(days, 1) if days <= MAX_DAYS else None


def status_for(days: float | None, slope: float, settings: ForecastConfig) -> str:
    if slope < 0:
        return SHRINKING
    if days is None:
        return OK
    if days <= settings.critical_days:
        return CRITICAL
    if days <= settings.warning_days:
        return WARNING
    return OK


def forecast(series: Series, settings: ForecastConfig) -> Forecast:
    """The forecast for the series' last night."""
    used, limit = series.used[-1], current_limit(series.limits)
    if limit is None:
        return Forecast(used, None, NOT_ENOUGH_HISTORY, None, None, None, None, 0)
    if limit == 0:
        return Forecast(used, 0, UNLIMITED, None, None, None, None, 0)
    if used >= limit:
        return Forecast(used, limit, FULL, 0.0, 0.0, 0.0, None, 0)
    first_day = series.days[-1] - settings.window_days + 1
    start = since_limit_change(series, limit, first_day)
    days = np.asarray(series.days[start:], dtype=np.float64)
    points = len(days)
    if points < settings.min_points or days[-1] - days[0] < settings.min_span_days:
        return Forecast(used, limit, NOT_ENOUGH_HISTORY, None, None, None, None, points)
    values = np.asarray(series.used[start:], dtype=np.float64)
    values = without_deletions(values, settings.deletion_fraction * limit)
    slope = theil_sen(days, values)
    recent = recent_growth(days, values, slope.median)
    if recent is not None:
        slope = Slope(recent, min(recent, slope.low), max(recent, slope.high))
    headroom = max(0.0, limit - level_tonight(days, values, slope.median))
    estimate = _days(headroom, slope.median)
    return Forecast(
        used=used,
        limit=limit,
        status=status_for(estimate, slope.median, settings),
        days_until_full=estimate,
        days_low=_days(headroom, slope.high),
        days_high=_days(headroom, slope.low),
        growth_per_day=round(slope.median, 1),
        points=points,
    )
