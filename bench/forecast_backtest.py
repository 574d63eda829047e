"""Back-test of the quota-full forecast against synthetic group histories.

    python bench/forecast_backtest.py [--groups 240] [--days 365] [--seed 18]
    python bench/forecast_backtest.py --seeds 1-10,18 [--jobs 2]

With ``--seeds``, each seed is run in a pool of ``--jobs`` processes and printed as a
row (this product's scores per measure, the references' best, whether every target is
met), with the worst and the mean over the seeds.

Each group's true daily usage is drawn with a fixed seed from a mix of shapes
(steady growth, steps, bursts, bulk deletions, noise and single-night spikes, quota
raises, missed nights, flat and shrinking groups). A group fills when its usage
reaches its limit: that day is a planted fill; writes then stop at the limit until,
a few days later, the admin raises the quota or the group deletes. Every method is
run on every night the history holds (a missed night has no run), seeing only the
nights up to it (this product's: the days it reads from the database), and scored:

- lead time: for each planted fill, the days from the start of the unbroken run of
  `warning`/`critical` nights that reaches the last night before the fill (0 when
  that night was not warned); a fill is warned in time with a lead of 7 days or more.
  Fills in the first ``--settle`` days are not scored (no method has history then).
- false warnings: runs of `warning`/`critical` nights with no fill from their first
  night to ``horizon`` (the warning threshold, 28) days after their last, per 20
  group-months; runs starting within the horizon of the end are not scored.

Methods: this product's (forecast/method.py); lurge v2's two-point method (tonight
against the night two calendar days back; no forecast when that night is missing);
wrstat-ui's (from the third-last night to tonight, "never" beyond 5 years). The
references' days until full get the product's status thresholds.
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from humgen_storage.config import ForecastConfig  # noqa: E402
from humgen_storage.forecast import method  # noqa: E402

# A full night continues a run of warnings: the forecast came true a night early.
ALERTS = {method.WARNING, method.CRITICAL, method.FULL}
LEAD_TARGET = 7
# Issue 18's targets: the share of fills warned LEAD_TARGET days ahead, and false
# warnings per 20 group-months.
WARNED_TARGET = 0.90
FALSE_TARGET = 1.0
FIVE_YEARS = 5 * 365.25
# The admin's or the group's answer to a full quota comes after this many days.
REACTION_DAYS = (1, 8)


@dataclass
class History:
    """One group's measure: the nights observed, and the true fill days."""

    kind: str
    days: list[int]  # observed nights
    used: list[int]
    limits: list[int]
    fills: list[int]  # days the usage reached the limit
    # The day after each fill when the admin raised the quota or the group deleted:
    # until then the group is full, and an alert is about that fill, not a new one.
    reactions: list[int]


@dataclass(frozen=True)
class Scale:
    """A measure's magnitudes: limits and how fast a growing group grows."""

    name: str
    limit_low: float
    limit_high: float


BYTES = Scale("bytes", 2.0**40 * 5, 2.0**40 * 500)
INODES = Scale("inodes", 1e6, 1e8)

KINDS = ("steady", "steps", "bursts", "deletions", "noisy", "raises", "gaps", "flat")


def draw_history(rng: np.random.Generator, kind: str, scale: Scale, days: int) -> History:
    """A group's true daily usage and limit for ``days`` days, then what is observed."""
    limit = float(np.exp(rng.uniform(np.log(scale.limit_low), np.log(scale.limit_high))))
    used = limit * rng.uniform(0.05, 0.7)
    # Growth per day as a share of the limit: most groups fill in months to years.
    rate = limit * float(np.exp(rng.uniform(np.log(0.0008), np.log(0.012))))
    if kind == "flat":
        rate = limit * rng.choice([0.0, 0.0, -0.001, 0.00005])
    true_used, limits, fills, reactions = [], [], [], []
    stuck_until, stuck = -1, False
    burst_until = -1
    for day in range(days):
        if stuck:
            used = limit
            if day >= stuck_until:
                stuck = False
                if rng.random() < 0.5:
                    limit *= rng.uniform(1.2, 2.0)  # the admin raises the quota
                else:
                    used = limit * rng.uniform(0.3, 0.75)  # the group deletes
        else:
            used += _growth(rng, kind, rate, day, burst_until)
            if kind == "bursts" and day > burst_until and rng.random() < 0.02:
                burst_until = day + int(rng.integers(3, 15))
            if kind in ("deletions", "noisy") and rng.random() < 0.012:
                used *= rng.uniform(0.5, 0.9)  # a bulk deletion
            if kind == "raises" and rng.random() < 0.008:
                limit *= rng.uniform(1.1, 1.6)
            used = max(used, 0.0)
            if used >= limit:
                fills.append(day)
                stuck, used = True, limit
                stuck_until = day + int(rng.integers(*REACTION_DAYS))
                reactions.append(stuck_until)
        true_used.append(used)
        limits.append(limit)
    return _observe(rng, kind, true_used, limits, (fills, reactions))


def _growth(rng: np.random.Generator, kind: str, rate: float, day: int, burst_until: int) -> float:
    if kind == "steps":
        # A batch about once a week: the week's growth in one night.
        return rate * 7 * rng.uniform(0.5, 1.5) if rng.random() < 1 / 7 else 0.0
    if kind == "bursts":
        # Bursts of 3-14 nights at five times the usual growth (a new sequencing run),
        # little in between.
        return rate * 5 * rng.uniform(0.5, 1.5) if day <= burst_until else rate * 0.3
    return rate * rng.uniform(0.3, 1.7)


def _observe(
    rng: np.random.Generator,
    kind: str,
    true_used: list[float],
    limits: list[float],
    fills: tuple[list[int], list[int]],
) -> History:
    """What the nightly report sees: missed nights, and spikes or partial crawls."""
    missing = 0.03 if kind != "gaps" else 0.15
    days, used, observed_limits = [], [], []
    outage_until = -1
    for day, (value, limit) in enumerate(zip(true_used, limits, strict=True)):
        if kind == "gaps" and rng.random() < 0.02:
            outage_until = day + int(rng.integers(2, 6))
        if day <= outage_until or rng.random() < missing:
            continue
        seen = value
        if kind == "noisy" and rng.random() < 0.06:
            seen = value * rng.uniform(0.6, 1.3)  # one night's spike or partial crawl
        seen *= 1 + rng.normal(0, 0.002)
        days.append(day)
        used.append(int(min(seen, limit * 1.3)))
        observed_limits.append(int(limit))
    return History(kind, days, used, observed_limits, *fills)


# -- the methods: the statuses of every observed night --------------------------------------

Method = Callable[[History, int, ForecastConfig], str]


def product(history: History, night: int, settings: ForecastConfig) -> str:
    # The nights the forecast reads, as forecast/table.py reads them from the database.
    first = bisect.bisect_left(
        history.days, history.days[night] - method.history_days(settings) + 1
    )
    series = method.Series(
        tuple(history.days[first : night + 1]),
        tuple(history.used[first : night + 1]),
        tuple(history.limits[first : night + 1]),
    )
    return method.forecast(series, settings).status


def _reference(history: History, night: int, back: int, settings: ForecastConfig) -> str:
    used, limit = history.used[night], history.limits[night]
    if limit == 0:
        return method.UNLIMITED
    if used >= limit:
        return method.FULL
    if back < 0:
        return method.NOT_ENOUGH_HISTORY
    slope = (used - history.used[back]) / (history.days[night] - history.days[back])
    days = (limit - used) / slope if slope > 0 else None
    if days is not None and days > FIVE_YEARS:
        days = None
    return method.status_for(days, slope, settings)


def lurge_v2(history: History, night: int, settings: ForecastConfig) -> str:
    """Tonight against the run two days back (none when that night is missing)."""
    wanted = history.days[night] - 2
    back = night - 1 if night >= 1 and history.days[night - 1] == wanted else night - 2
    if back < 0 or history.days[back] != wanted:
        back = -1
    return _reference(history, night, back, settings)


def wrstat_ui(history: History, night: int, settings: ForecastConfig) -> str:
    """From the third-last night to tonight."""
    return _reference(history, night, night - 2, settings)


PRODUCT = "humgen-storage"
METHODS: dict[str, Method] = {
    PRODUCT: product,
    "lurge v2 (two-point)": lurge_v2,
    "wrstat-ui (third-last)": wrstat_ui,
}


# -- scoring --------------------------------------------------------------------------------


@dataclass
class Score:
    fills: int = 0
    warned: int = 0
    leads: list[int] | None = None
    false_alerts: int = 0
    group_months: float = 0.0

    @property
    def warned_share(self) -> float:
        return self.warned / self.fills if self.fills else 0.0

    @property
    def false_per_20(self) -> float:
        return 20 * self.false_alerts / self.group_months if self.group_months else 0.0


def alert_runs(days: Sequence[int], alerts: Sequence[bool]) -> list[tuple[int, int]]:
    """(first day, last day) of each unbroken run of alerted nights."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    previous = days[0] if days else 0
    for day, alert in zip(days, alerts, strict=True):
        if alert and start is None:
            start = day
        if not alert and start is not None:
            runs.append((start, previous))
            start = None
        previous = day
    if start is not None:
        runs.append((start, days[-1]))
    return runs


def score_history(
    history: History, statuses: Sequence[str], score: Score, horizon: int, settle: int, end: int
) -> None:
    alerts = [status in ALERTS for status in statuses]
    runs = alert_runs(history.days, alerts)
    score.group_months += (end - settle) / 30.4375
    for fill in history.fills:
        if fill < settle:
            continue
        before = [i for i, day in enumerate(history.days) if day < fill]
        lead = 0
        if before and alerts[before[-1]]:
            last = history.days[before[-1]]
            lead = fill - next(first for first, stop in runs if first <= last <= stop)
        score.fills += 1
        score.warned += lead >= LEAD_TARGET
        assert score.leads is not None
        score.leads.append(lead)
    for first, last in runs:
        if first < settle or first > end - horizon:
            continue
        if any(
            fill <= first <= reaction
            for fill, reaction in zip(history.fills, history.reactions, strict=True)
        ):
            continue  # the group is full: the alert is about that fill
        if not any(first <= fill <= last + horizon for fill in history.fills):
            score.false_alerts += 1


def run(seed: int, groups: int, days: int, settle: int) -> dict[tuple[str, str], Score]:
    """Every method's scores on the histories of ``seed``, per (measure, method)."""
    settings = ForecastConfig()
    horizon = int(settings.warning_days)
    results: dict[tuple[str, str], Score] = {}
    for scale_index, scale in enumerate((BYTES, INODES)):
        rng = np.random.default_rng([seed, scale_index])
        histories = [draw_history(rng, KINDS[g % len(KINDS)], scale, days) for g in range(groups)]
        for name, forecast in METHODS.items():
            score = Score(leads=[])
            for history in histories:
                statuses = [forecast(history, n, settings) for n in range(len(history.days))]
                score_history(history, statuses, score, horizon, settle, days)
            results[(scale.name, name)] = score
    return results


def table(results: dict[tuple[str, str], Score]) -> str:
    lines = [
        "| measure | method | planted fills | warned ≥ 7 days ahead | median lead (days)"
        " | false warnings per 20 group-months |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (measure, name), s in results.items():
        median = float(np.median(s.leads)) if s.leads else 0.0
        lines.append(
            f"| {measure} | {name} | {s.fills} | {s.warned_share:.1%} | {median:.0f}"
            f" | {s.false_per_20:.2f} |"
        )
    return "\n".join(lines)


def seed_table(per_seed: dict[int, dict[tuple[str, str], Score]]) -> str:
    """One row per seed: the product's two scores per measure, the references' best,
    and whether every target is met; then the worst and the mean over the seeds."""
    measures = (BYTES.name, INODES.name)
    head = ["seed"]
    for measure in measures:
        head += [f"{measure} warned", f"{measure} false/20", f"{measure} refs best"]
    lines = ["| " + " | ".join([*head, "targets"]) + " |", "|" + "---:|" * (len(head) + 1)]
    shares: dict[str, list[float]] = {measure: [] for measure in measures}
    falses: dict[str, list[float]] = {measure: [] for measure in measures}
    for seed, results in per_seed.items():
        cells, met = [str(seed)], True
        for measure in measures:
            ours = results[(measure, PRODUCT)]
            refs = [s for (m, name), s in results.items() if m == measure and name != PRODUCT]
            best_share = max(r.warned_share for r in refs)
            best_false = min(r.false_per_20 for r in refs)
            met &= ours.warned_share >= WARNED_TARGET and ours.false_per_20 <= FALSE_TARGET
            met &= ours.warned_share > best_share and ours.false_per_20 < best_false
            shares[measure].append(ours.warned_share)
            falses[measure].append(ours.false_per_20)
            cells += [
                f"{ours.warned_share:.1%}",
                f"{ours.false_per_20:.2f}",
                f"{best_share:.1%} / {best_false:.2f}",
            ]
        lines.append("| " + " | ".join([*cells, "met" if met else "**not met**"]) + " |")
    for label, pick_share, pick_false in (("worst", min, max), ("mean", np.mean, np.mean)):
        cells = [label]
        for measure in measures:
            share, false = float(pick_share(shares[measure])), float(pick_false(falses[measure]))
            cells += [f"{share:.1%}", f"{false:.2f}", ""]
        lines.append("| " + " | ".join([*cells, ""]) + " |")
    return "\n".join(lines)


def seed_list(text: str) -> list[int]:
    """``1-10,18`` → [1, …, 10, 18]."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


def _run_seed(job: tuple[int, argparse.Namespace]) -> tuple[int, dict[tuple[str, str], Score]]:
    seed, args = job
    return seed, run(seed, args.groups, args.days, args.settle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=240, help="groups per measure")
    parser.add_argument("--days", type=int, default=365, help="days of history per group")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--seeds", type=seed_list, help="e.g. 1-10,18: a row per seed instead of one table"
    )
    parser.add_argument("--jobs", type=int, default=2, help="seeds run at once (--seeds)")
    parser.add_argument("--settle", type=int, default=35, help="days before fills are scored")
    args = parser.parse_args()
    started = time.monotonic()
    seeds = args.seeds or [args.seed]
    pool = multiprocessing.Pool(min(args.jobs, len(seeds)))
    per_seed = dict(pool.imap(_run_seed, [(seed, args) for seed in seeds]))
    pool.close()
    pool.join()  # the workers' CPU time counts once they are reaped
    times = os.times()
    cpu = times.user + times.system + times.children_user + times.children_system
    print(
        f"forecast back-test: {args.groups} groups x {args.days} days per measure,"
        f" seed{'s' if args.seeds else ''} {', '.join(map(str, seeds))}"
        f" ({time.monotonic() - started:.0f} s, {cpu:.0f} s CPU)"
    )
    print(seed_table(per_seed) if args.seeds else table(per_seed[args.seed]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
