"""The forecast's method on small hand-made histories with known answers."""

from __future__ import annotations

import numpy as np

from humgen_storage.config import ForecastConfig
from humgen_storage.forecast.method import (
    CRITICAL,
    FULL,
    NOT_ENOUGH_HISTORY,
    OK,
    SHRINKING,
    UNLIMITED,
    WARNING,
    Series,
    forecast,
    without_deletions,
)

SETTINGS = ForecastConfig()
BASE = 739000  # an ordinal day


def series(days: list[int], used: list[int], limits: list[int | None] | int) -> Series:
    if isinstance(limits, int):
        limits = [limits] * len(days)
    return Series(tuple(BASE + d for d in days), tuple(used), tuple(limits))


def linear(days: list[int], limit: int | list[int | None]) -> Series:
    return series(days, [100 + 10 * d for d in days], limit)


def test_linear_growth_gives_exact_days() -> None:
    # 10 nights of 100 + 10·d: every pair's slope is 10; the level tonight is 190.
    days = list(range(10))
    ok = forecast(linear(days, 1000), SETTINGS)
    assert (ok.status, ok.days_until_full, ok.days_low, ok.days_high) == (OK, 81.0, 81.0, 81.0)
    assert (ok.used, ok.limit, ok.growth_per_day, ok.points) == (190, 1000, 10.0, 10)
    warning = forecast(linear(days, 400), SETTINGS)  # (400 - 190) / 10
    assert (warning.status, warning.days_until_full) == (WARNING, 21.0)
    critical = forecast(linear(days, 250), SETTINGS)  # (250 - 190) / 10
    assert (critical.status, critical.days_until_full) == (CRITICAL, 6.0)


def test_thresholds_are_inclusive_and_configurable() -> None:
    days = list(range(10))
    assert forecast(linear(days, 470), SETTINGS).status == WARNING  # 28.0 days
    assert forecast(linear(days, 260), SETTINGS).status == CRITICAL  # 7.0 days
    strict = ForecastConfig(critical_days=1.0, warning_days=5.0)
    assert forecast(linear(days, 260), strict).status == OK


def test_missing_nights_count_by_their_dates() -> None:
    # Nights 3, 4, 7 and 8 missing: the slope is still 10 a day; the level is night 10's.
    result = forecast(linear([0, 1, 2, 5, 6, 9, 10], 1000), SETTINGS)
    assert (result.days_until_full, result.growth_per_day, result.points) == (80.0, 10.0, 7)


def test_a_single_night_spike_moves_neither_slope_nor_level() -> None:
    # Night 12 reads 900 instead of 220. Its 14 pairs weigh 655 of the 4200 (span²);
    # the weighted median stays in the block of slope 10, and the level is the median
    # of 920, 240, 240 carried to night 14.
    days = list(range(15))
    used = [100 + 10 * d for d in days]
    used[12] = 900
    result = forecast(series(days, used, 1000), SETTINGS)
    assert (result.status, result.days_until_full, result.growth_per_day) == (OK, 76.0, 10.0)
    assert (result.days_low, result.days_high) == (76.0, 76.0)


def test_only_nights_since_the_last_quota_change_count() -> None:
    # Raised from 1000 to 2000 on night 5: nights 5-14 fit, (2000 - 240) / 10.
    days = list(range(15))
    raised = forecast(linear(days, [1000] * 5 + [2000] * 10), SETTINGS)
    assert (raised.limit, raised.days_until_full, raised.points) == (2000, 176.0, 10)
    # Raised on night 11: four nights under the new limit are not enough.
    recent = forecast(linear(days, [1000] * 11 + [2000] * 4), SETTINGS)
    assert (recent.status, recent.points) == (NOT_ENOUGH_HISTORY, 4)
    # A failed look-up (NULL) is no change: the latest known limit holds.
    failed = forecast(linear(days, [1000] * 13 + [None, None]), SETTINGS)
    assert (failed.limit, failed.days_until_full, failed.points) == (1000, 76.0, 15)


def test_the_window_bounds_the_nights() -> None:
    days = list(range(40))
    result = forecast(linear(days, 1000), SETTINGS)  # nights 12-39 of the 28-day window
    assert (result.points, result.days_until_full) == (28, 51.0)  # (1000 - 490) / 10


def test_a_bulk_deletion_is_taken_out_not_fitted_as_a_fall() -> None:
    # Flat at 600, then 300 from night 7: the nights before are lowered by the drop.
    days = list(range(14))
    used = [600] * 7 + [300] * 7
    result = forecast(series(days, used, 1000), SETTINGS)
    assert (result.status, result.growth_per_day, result.days_until_full) == (OK, 0.0, None)
    # With growth: before = min(median(540, 550, 560), 560) = 550, after = max(270, 280),
    # so nights 0-6 are lowered by 270.
    growing = np.array([500 + 10 * d for d in range(7)] + [200 + 10 * d for d in range(7, 14)])
    adjusted = without_deletions(growing, 20.0)
    assert adjusted.tolist() == [230 + 10 * d for d in range(7)] + [
        200 + 10 * d for d in range(7, 14)
    ]
    # A fall smaller than the threshold, or on the last night only, is left alone.
    assert without_deletions(growing, 300.0).tolist() == growing.tolist()
    last_night = np.array([500.0, 510.0, 520.0, 530.0, 100.0])
    assert without_deletions(last_night, 20.0).tolist() == last_night.tolist()


def test_flat_unlimited_shrinking_full_and_too_short() -> None:
    days = list(range(10))
    flat = forecast(series(days, [500] * 10, 1000), SETTINGS)
    assert (flat.status, flat.days_until_full, flat.growth_per_day) == (OK, None, 0.0)
    unlimited = forecast(series(days, [500] * 10, 0), SETTINGS)
    assert (unlimited.status, unlimited.limit) == (UNLIMITED, 0)
    shrinking = forecast(series(days, [900 - 10 * d for d in days], 1000), SETTINGS)
    assert (shrinking.status, shrinking.growth_per_day, shrinking.days_until_full) == (
        SHRINKING,
        -10.0,
        None,
    )
    full = forecast(series(days, [100 * d + 200 for d in days], 1000), SETTINGS)
    assert (full.status, full.used, full.days_until_full) == (FULL, 1100, 0.0)
    four = forecast(linear([0, 2, 4, 8], 1000), SETTINGS)
    assert (four.status, four.points) == (NOT_ENOUGH_HISTORY, 4)
    short = forecast(linear([0, 1, 2, 3, 4, 5], 1000), SETTINGS)  # five days apart
    assert short.status == NOT_ENOUGH_HISTORY
    unknown = forecast(series(days, [500] * 10, [None] * 10), SETTINGS)
    assert (unknown.status, unknown.limit) == (NOT_ENOUGH_HISTORY, None)


def test_growth_that_speeds_up_for_two_nights_takes_the_recent_slope() -> None:
    # Nights 0-24 at 100 + 10·d, then +100 a night: 440, 540, 640. The long slope stays
    # 10 (the pairs within nights 0-24 hold 32500 of the 51156 of span² weight). The
    # recent nights 22-27 (320, 330, 340, 440, 540, 640) have 15 pairwise slopes, sorted
    # 10, 10, 10, 40, 55, 55, 64, 70, 77.5 and six of 100: the median, the 8th, is 70
    # (night 23 to 26); it is at least 3.5 × 10 and so are the last two nights' 100. The level is median(440 + 140, 540 + 70, 640) = 610.
    days = list(range(28))
    used = [100 + 10 * d for d in range(25)] + [440, 540, 640]
    result = forecast(series(days, used, 2000), SETTINGS)
    assert (result.status, result.growth_per_day, result.days_until_full) == (WARNING, 70.0, 19.9)
    # The interval spans both slopes: 1390 / 70 and 1390 / 10.
    assert (result.days_low, result.days_high) == (19.9, 139.0)
    # One night's jump is not enough: the long slope stays, the level is median(370,
    # 370, 640), and (2000 - 370) / 10.
    jump = [100 + 10 * d for d in range(27)] + [640]
    single = forecast(series(days, jump, 2000), SETTINGS)
    assert (single.status, single.growth_per_day, single.days_until_full) == (OK, 10.0, 163.0)
