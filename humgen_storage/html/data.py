"""What the pages show, read from the database as plain data (the I/O of the HTML report).

``usage_by_user``, ``usage_quota`` and ``forecast`` are read when the database has
them; a page leaves out what its database does not hold.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from humgen_storage.changes.command import Comparison, compare_nights
from humgen_storage.changes.history import night_rows
from humgen_storage.changes.tables import as_date, has_table, previous_night, report_volume
from humgen_storage.db import Database

GroupKey = tuple[str, str]  # (Lustre Volume, Unix Group)

_GROUPS = (
    "SELECT `Lustre Volume`, `Unix Group`, `PI`, `Used (bytes)`, `Quota (bytes)`,"
    " `Last Modified (days)`, `Archived Directories`, `IsHumgen`"
    " FROM `lustre_usage` WHERE `date` = %s"
)
_HISTORY = (
    "SELECT `Lustre Volume`, `Unix Group`, `date`, `Used (bytes)`, `Quota (bytes)`"
    " FROM `lustre_usage` WHERE `date` <= %s"
)
_INODES = (
    "SELECT `Lustre Volume`, `Unix Group`, `date`, `Quota Used (files)`, `Files`, `Inode Quota`"
    " FROM `usage_quota` WHERE `date` <= %s"
)
_MEMBERS = (
    "SELECT `Lustre Volume`, `Unix Group`, `User`, `Used (bytes)`, `Files`,"
    " `Last Modified (days)` FROM `usage_by_user` WHERE `date` = %s"
)
# The forecast table of issue 18 (humgen_storage/forecast/, branch i18-forecast's
# db_tables.py): one row per volume, group and measure ('bytes' or 'inodes') a night.
_FORECAST = (
    "SELECT `Lustre Volume`, `Unix Group`, `Measure`, `Status`, `Days Until Full`,"
    " `Days Until Full (low)`, `Days Until Full (high)`, `Growth (per day)`"
    " FROM `forecast` WHERE `date` = %s"
)


@dataclass(frozen=True)
class Group:
    volume: str
    name: str
    pi: str | None
    used: int
    quota: int | None
    last_modified_days: float | None
    archived: str | None
    humgen: bool


@dataclass(frozen=True)
class Point:
    day: dt.date
    used: int
    limit: int | None


@dataclass(frozen=True)
class Forecast:
    status: str
    days: float | None
    days_low: float | None
    days_high: float | None
    growth_per_day: float | None


@dataclass(frozen=True)
class Member:
    user: str
    used: int
    files: int
    last_modified_days: float | None


@dataclass(frozen=True)
class Directory:
    project: str
    directory: str
    total: int
    files: int


@dataclass
class SiteData:
    day: dt.date
    since: dt.date | None
    groups: list[Group]
    bytes_history: dict[GroupKey, list[Point]] = field(default_factory=dict)
    inode_history: dict[GroupKey, list[Point]] = field(default_factory=dict)
    forecasts: dict[tuple[str, str, str], Forecast] = field(default_factory=dict)
    members: dict[GroupKey, list[Member]] = field(default_factory=dict)
    directories: dict[GroupKey, list[Directory]] = field(default_factory=dict)
    changes: Comparison | None = None


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def read_site(database: Database, day: dt.date) -> SiteData:
    when = (day.isoformat(),)
    groups = [
        Group(
            str(v),
            str(g),
            pi and str(pi),
            int(used),
            _int(quota),
            _float(lm),
            arch and str(arch),
            bool(h),
        )
        for v, g, pi, used, quota, lm, arch, h in database.query(_GROUPS, when)
    ]
    since = previous_night(database, day)
    data = SiteData(day, since, groups)
    data.bytes_history = _history(database.query(_HISTORY, when))
    if has_table(database, "usage_quota"):
        data.inode_history = _history(
            (v, g, d, quota_files if quota_files is not None else files, limit)
            for v, g, d, quota_files, files, limit in database.query(_INODES, when)
        )
    if has_table(database, "forecast"):
        data.forecasts = {
            (str(v), str(g), str(m)): Forecast(str(s), _float(d), _float(lo), _float(hi), _float(r))
            for v, g, m, s, d, lo, hi, r in database.query(_FORECAST, when)
        }
    if has_table(database, "usage_by_user"):
        members: dict[GroupKey, list[Member]] = defaultdict(list)
        for v, g, user, used, files, lm in database.query(_MEMBERS, when):
            members[(str(v), str(g))].append(Member(str(user), int(used), int(files), _float(lm)))
        data.members = dict(members)
    data.directories = _directories(database, day, {g.volume for g in groups})
    if since is not None:
        data.changes = compare_nights(database, day, since)
    return data


def _history(rows: object) -> dict[GroupKey, list[Point]]:
    history: dict[GroupKey, list[Point]] = defaultdict(list)
    for volume, group, day, used, limit in rows:  # type: ignore[attr-defined]
        if used is not None:
            history[(str(volume), str(group))].append(Point(as_date(day), int(used), _int(limit)))  # type: ignore[arg-type]
    for points in history.values():
        points.sort(key=lambda p: p.day)
    return dict(history)


def _directories(
    database: Database, day: dt.date, volumes: set[str]
) -> dict[GroupKey, list[Directory]]:
    """The night's inspector rows by the group the inspector gave them."""
    by_group: dict[GroupKey, list[Directory]] = defaultdict(list)
    for volume, project, directory, total, files, group in night_rows(database, day):
        if group is not None:
            key = (report_volume(volume, volumes), group)
            by_group[key].append(Directory(project, directory, total, files))
    return dict(by_group)
