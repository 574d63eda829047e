"""When a group's quota fills: pure computation, no I/O (forecast/table.py reads and writes).

One series is one (volume, group, measure) over the nights the database holds: the
used amount and the limit of each night. The forecast for a night:

1. The limit is that night's (a NULL limit, a failed look-up, takes the latest known
   one); 0 is unlimited. Used at or above the limit is full.
2. Only the nights since the last change of the limit count: growth against an older
   limit says nothing about the current one. The growth is fitted over the nights of
   ``window_days``; the pace (step 5) is read over the longer ``PACE_DAYS``.
3. A bulk deletion (a drop of at least ``deletion_fraction`` of the limit that holds
   for two nights) lowers the nights before it by the drop, so the growth on either
   side still counts and the drop is not fitted as a fall.
4. The growth per day is a Theil–Sen slope: the median of the slopes between every
   pair of nights, each over its own number of days (missing nights need nothing),
   the pairs weighted by the square of their days. A single-night spike moves few of
   the pairs' slopes and so hardly moves the median.
5. The pace: the growth of every week-long stretch (pairs of nights ``_WEEK`` days
   apart) of the last ``PACE_DAYS`` days, on the nights each smoothed to the median of
   itself and its neighbours (one odd night is no week's growth). Its 10th and 90th
   percentiles give the 80 % interval of days until full: a group that writes in
   batches or bursts fills early when its next weeks are like its faster ones, and the
   median says nothing of that.
6. The level tonight is the median of the last three nights, each carried to tonight
   along the slope: one odd night (a partial crawl, a spike) does not move it, a
   change that holds for two nights does.
7. Days until full = (limit − level) / slope; the interval's early end at the faster
   pace, its late end at the slower.
8. The status: ``critical`` when days until full ≤ ``critical_days``; ``warning`` when
   they are ≤ ``warning_days`` or the early end is (it may fill within the warning
   time at a pace the group has kept for a week lately).
9. A warning stays (hysteresis, as Prometheus' ``keep_firing_for``): a night that
   would read ``ok`` stays ``warning`` when a night of the last ``keep_warning_days``
   days warned (or was critical or full) by itself under the same limit and every
   night since, this one included, has its early end within ``_KEEP_WITHIN`` times
   ``warning_days``. A warning that flickers off for a night would otherwise lose its
   lead time and come back as a second warning. Those nights' own statuses are the
   forecast of the series cut at each of them: the forecast stays a function of the
   history alone, with no state kept between runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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

# Nights whose carried values make the level (step 6).
_LEVEL_NIGHTS = 3
# The pace (step 5): days looked back over, eight weeks (a group that writes in bursts
# a month or two apart has one in them; the fit's four weeks often have none), the
# days between the nights of a week-long stretch (a week, give or take a missed night
# or two), and the percentiles of the 80 % interval.
PACE_DAYS = 56
_WEEK = (5, 9)
_PACE_PERCENTILES = (10.0, 90.0)
# A warning stays (step 9) while the early end is within this many times warning_days.
_KEEP_WITHIN = 2.0
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


def theil_sen(days: np.ndarray, values: np.ndarray) -> float:
    """The median of the pairwise slopes, each pair weighted by the square of the days
    between its nights (after Sievers–Scholz, who weight by the days: a growth that
    comes in steps a week or more apart has most of its short pairs flat, and would
    otherwise read as no growth; the back-test chose the square)."""
    first, second = _pairs(len(days))
    spans = days[second] - days[first]
    slopes = (values[second] - values[first]) / spans
    order = np.argsort(slopes, kind="stable")
    cumulative = np.cumsum(spans[order] ** 2)
    index = int(np.searchsorted(cumulative, 0.5 * cumulative[-1], side="left"))
    return float(slopes[order][min(index, len(slopes) - 1)])


def pace(days: np.ndarray, values: np.ndarray) -> tuple[float, float] | None:
    """The 10th and 90th percentiles of the growth per day of the week-long stretches
    (step 5); None when no two nights are a week apart."""
    if len(values) < _LEVEL_NIGHTS + 1:
        return None
    smoothed = smoothed_nights(values)
    first, second = _pairs(len(days))
    spans = days[second] - days[first]
    week = (spans >= _WEEK[0]) & (spans <= _WEEK[1])
    if not week.any():
        return None
    growth = np.sort((smoothed[second][week] - smoothed[first][week]) / spans[week])
    low, high = (_percentile(growth, share) for share in _PACE_PERCENTILES)
    return low, high


def _percentile(ordered: np.ndarray, share: float) -> float:
    """numpy's default (linear) percentile of values already sorted, without its
    per-call overhead."""
    position = share / 100 * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return float(ordered[below] + (position - below) * (ordered[above] - ordered[below]))


def smoothed_nights(values: np.ndarray) -> np.ndarray:
    """Each night the median of itself and its neighbours; the first and the last by
    Tukey's end-point rule (the median of the night, its smoothed neighbour, and the
    line through the two smoothed nights next to it), so a steady growth is kept as it
    is. Needs four nights."""
    smoothed = values.copy()
    smoothed[1:-1] = _median_of_three(values[:-2], values[1:-1], values[2:])
    for end, next_, after_next in ((0, 1, 2), (-1, -2, -3)):
        line = 3 * smoothed[next_] - 2 * smoothed[after_next]
        smoothed[end] = _median([float(values[end]), float(smoothed[next_]), float(line)])
    return smoothed


@lru_cache(maxsize=128)
def _pairs(nights: int) -> tuple[np.ndarray, np.ndarray]:
    """The indices (first, second) of every pair of ``nights`` nights; a series has at
    most PACE_DAYS nights, so few sizes recur for every group."""
    first, second = np.triu_indices(nights, k=1)
    first.flags.writeable = second.flags.writeable = False
    return first, second


def current_limit(limits: tuple[int | None, ...]) -> int | None:
    """The latest limit known (a NULL is a failed look-up, not a change)."""
    return next((limit for limit in reversed(limits) if limit is not None), None)


def since_limit_change(series: Series, limit: int, first_day: int) -> int:
    """The index of the first night that counts: after the last night under another
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
    ``threshold`` that holds for two nights lowers every night before it by the drop. A
    drop on the last night alone may be a partial crawl and is left to the robust fit."""
    # Lowering the nights before a drop only makes a later drop smaller, so a night
    # whose drop is below the threshold on the values as read is no deletion: the
    # nights before the first that is can be skipped, and most series have none.
    candidates = np.flatnonzero(_drops(values) >= threshold)
    if not len(candidates):
        return values.astype(np.float64, copy=True)
    # Plain floats: numpy's per-call overhead on three numbers would be most of the time.
    raw = [float(value) for value in values]
    lowered = raw[:]
    for night in range(int(candidates[0]) + 1, len(raw) - 1):  # _drops' first is night 1
        # The night before, unless it is a spike above the three before it: a steady
        # fall is never taken for a deletion, nor is a spike's end.
        recent = _median(lowered[max(0, night - _LEVEL_NIGHTS) : night])
        before = min(recent, lowered[night - 1])
        after = max(raw[night], raw[night + 1])
        if before - after >= threshold:
            lowered[:night] = [value - (before - after) for value in lowered[:night]]
    return np.asarray(lowered, dtype=np.float64)


def _drops(values: np.ndarray) -> np.ndarray:
    """For each night from the second to the last but one, the drop without_deletions
    measures there on the values as read."""
    values = values.astype(np.float64, copy=False)
    nights = len(values)
    if nights < 3:
        return np.empty(0)
    recent = np.empty(nights - 2)
    recent[0] = values[0]
    if nights > 3:
        recent[1] = (values[0] + values[1]) / 2
    if nights > 4:
        recent[2:] = _median_of_three(values[:-4], values[1:-3], values[2:-2])
    before = np.minimum(recent, values[:-2])
    after = np.maximum(values[1:-1], values[2:])
    return before - after


def _median_of_three(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def level_tonight(days: np.ndarray, values: np.ndarray, slope: float) -> float:
    """The median of the last nights, each carried along ``slope`` to the last day."""
    last = slice(-_LEVEL_NIGHTS, None)
    carried = values[last] + slope * (days[-1] - days[last])
    return _median(carried.tolist())


def _days(headroom: float, slope: float) -> float | None:
    if slope <= 0:
        return None
    days = headroom / slope
    return round(days, 1) if days <= MAX_DAYS else None


def status_for(
    days: float | None, slope: float, settings: ForecastConfig, early: float | None = None
) -> str:
    """The status from days until full and the interval's early end (step 8)."""
    if slope < 0:
        return SHRINKING
    if days is not None and days <= settings.critical_days:
        return CRITICAL
    if any(d is not None and d <= settings.warning_days for d in (days, early)):
        return WARNING
    return OK


def history_days(settings: ForecastConfig) -> int:
    """How many days before the night a forecast reads: the pace's, or the fit's, and
    the nights the hysteresis looks back over."""
    return max(settings.window_days, PACE_DAYS) + settings.keep_warning_days


def forecast(series: Series, settings: ForecastConfig) -> Forecast:
    """The forecast for the series' last night, a warning kept as step 9 says."""
    tonight = forecast_night(series, settings)
    if _may_keep(tonight, settings) and _warned_lately(series, settings, tonight.limit):
        return replace(tonight, status=WARNING)
    return tonight


def _may_keep(night: Forecast, settings: ForecastConfig) -> bool:
    within = _KEEP_WITHIN * settings.warning_days
    return night.status == OK and night.days_low is not None and night.days_low <= within


def _warned_lately(series: Series, settings: ForecastConfig, limit: int | None) -> bool:
    """Whether a night of the last ``keep_warning_days`` days warned by itself under
    ``limit``, and every night since may keep its warning (step 9)."""
    last = series.days[-1]
    for end in range(len(series.days) - 1, 0, -1):
        if last - series.days[end - 1] > settings.keep_warning_days:
            return False
        cut = Series(series.days[:end], series.used[:end], series.limits[:end])
        earlier = forecast_night(cut, settings)
        if earlier.limit != limit:
            return False
        if earlier.status in (WARNING, CRITICAL, FULL):
            return True
        if not _may_keep(earlier, settings):
            return False
    return False


def forecast_night(series: Series, settings: ForecastConfig) -> Forecast:
    """The forecast for the series' last night from its own history (steps 1-8)."""
    used, limit = series.used[-1], current_limit(series.limits)
    if limit is None:
        return Forecast(used, None, NOT_ENOUGH_HISTORY, None, None, None, None, 0)
    if limit == 0:
        return Forecast(used, 0, UNLIMITED, None, None, None, None, 0)
    if used >= limit:
        return Forecast(used, limit, FULL, 0.0, 0.0, 0.0, None, 0)
    last = series.days[-1]
    start = since_limit_change(series, limit, last - max(settings.window_days, PACE_DAYS) + 1)
    all_days = np.asarray(series.days[start:], dtype=np.float64)
    fit = int(np.searchsorted(all_days, last - settings.window_days + 1))
    days = all_days[fit:]
    points = len(days)
    if points < settings.min_points or days[-1] - days[0] < settings.min_span_days:
        return Forecast(used, limit, NOT_ENOUGH_HISTORY, None, None, None, None, points)
    all_values = np.asarray(series.used[start:], dtype=np.float64)
    all_values = without_deletions(all_values, settings.deletion_fraction * limit)
    values = all_values[fit:]
    slope = theil_sen(days, values)
    low, high = pace(all_days, all_values) or (slope, slope)
    headroom = max(0.0, limit - level_tonight(days, values, slope))
    estimate = _days(headroom, slope)
    early = _days(headroom, max(high, slope))
    return Forecast(
        used=used,
        limit=limit,
        status=status_for(estimate, slope, settings, early),
        days_until_full=estimate,
        days_low=early,
        days_high=_days(headroom, min(low, slope)),
        growth_per_day=round(slope, 1),
        points=points,
    )
