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
    forecast_night,
    smoothed_nights,
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
    # Smoothed, night 12 reads 230 (the median of 210, 900, 230): of the 40 week-long
    # stretches (5-9 days), the 30 that miss it grow 10 a day, the 10 that end on it
    # 11.1-12. The 90th percentile, 0.1 of the way from the 36th (11.43) to the 37th
    # (11.67), is 11.45: the early end is 760 / 11.45; the late end 760 / 10.
    assert (result.days_low, result.days_high) == (66.4, 76.0)


def test_smoothing_takes_out_a_spike_and_keeps_a_steady_growth() -> None:
    steady = np.array([100.0 + 10 * d for d in range(8)])
    assert smoothed_nights(steady).tolist() == steady.tolist()
    spiked = steady.copy()
    # Night 3 reads the median of 120, 900, 140; night 6 of 150, 160, 10; the last night
    # by Tukey's rule, the median of 10, 150 and the line 3 · 150 - 2 · 150.
    spiked[3], spiked[7] = 900.0, 10.0
    assert smoothed_nights(spiked).tolist() == [100, 110, 120, 140, 150, 150, 150, 150]


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


def test_a_fast_week_within_the_pace_days_gives_the_early_end() -> None:
    # 50 a night for nights 0-20 (a burst), then 10 a night to night 55 (1350). The fit
    # (nights 28-55) grows 10 a day: (2350 - 1350) / 10 = 100 days, ok by itself. Of the
    # 245 week-long stretches of the 56 days, the 70 within the burst grew 50 a day and
    # the 140 after it 10: the 90th percentile is 50 and the 10th 10, so the early end
    # is 1000 / 50 = 20 days, within warning_days: a burst like the last fills it.
    burst = [50 * d for d in range(21)] + [1000 + 10 * (d - 20) for d in range(21, 56)]
    result = forecast(series(list(range(56)), burst, 2350), SETTINGS)
    assert (result.status, result.growth_per_day) == (WARNING, 10.0)
    assert (result.days_until_full, result.days_low, result.days_high) == (100.0, 20.0, 100.0)
    # Its last 28 nights alone hold no burst: ok.
    calm = forecast(series(list(range(28)), burst[28:], 2350), SETTINGS)
    assert (calm.status, calm.days_low) == (OK, 100.0)


# 100 + 10·d to night 28 (380): (650 - 380) / 10 = 27 days, a warning. Then 330, 340, …
# from night 29: a drop of 30 below the three before (median 370) held for two nights
# is a bulk deletion (over 2 % of 650), so the nights before are lowered by 30 and the
# growth stays 10 a day. Night 29 alone is a partial crawl to the level (median of 350
# + 20, 340 + 10, 330, carried): 26 days. On night 30 the level is median(350 + 20,
# 330 + 10, 340) = 340: 31 days, ok by itself, and its early end (31) is within twice
# warning_days.
SLOWED = [100 + 10 * d for d in range(29)] + [330 + 10 * k for k in range(8)]


def slowed(nights: int, limits: list[int | None] | int = 650) -> Series:
    return series(list(range(nights)), SLOWED[:nights], limits)


def test_a_warning_stays_for_a_night_that_would_read_ok() -> None:
    assert forecast_night(slowed(31), SETTINGS).status == OK
    kept = forecast(slowed(31), SETTINGS)
    assert (kept.status, kept.days_until_full, kept.days_low) == (WARNING, 31.0, 31.0)
    # Without hysteresis the night reads ok, as it does on its own.
    assert forecast(slowed(31), ForecastConfig(keep_warning_days=0)).status == OK


def test_a_kept_warning_ends_after_keep_warning_days() -> None:
    # Night 29 was the last to warn by itself: kept on nights 30 and 31, not on 32.
    two_days = ForecastConfig(keep_warning_days=2)
    assert [forecast(slowed(n), two_days).status for n in (31, 32, 33)] == [
        WARNING,
        WARNING,
        OK,
    ]
    # The default week keeps it to night 33; night 34 warns by itself again.
    assert [forecast_night(slowed(n), SETTINGS).status for n in (32, 33, 34, 35)] == [OK] * 3 + [
        WARNING
    ]
    assert {forecast(slowed(n), SETTINGS).status for n in (32, 33, 34, 35)} == {WARNING}


def test_a_warning_is_not_kept_far_from_full_or_across_a_quota_change() -> None:
    # A drop to 30 on night 29, 40 on night 30: a bulk deletion of 330; the level is
    # median(50 + 20, 30 + 10, 40) = 40, (650 - 40) / 10 = 61 days, over twice
    # warning_days.
    deleted = [100 + 10 * d for d in range(29)] + [30, 40]
    far = forecast(series(list(range(31)), deleted, 650), SETTINGS)
    assert (far.status, far.days_until_full) == (OK, 61.0)
    # The quota raised on night 30: too few nights under the new one, no warning kept.
    raised = forecast(slowed(31, [650] * 30 + [700]), SETTINGS)
    assert raised.status == NOT_ENOUGH_HISTORY
