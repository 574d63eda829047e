"""A date's figures as the feeds and ``notify`` need them, read from the database.

Plain rows, one per (volume, group), per (volume, group, user) and per (volume,
group, measure) of the forecast; the builders never see the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from humgen_storage.db import Database


@dataclass(frozen=True)
class GroupUsage:
    """A (volume, group) of ``lustre_usage`` with ``usage_quota``'s figures when known."""

    volume: str  # `Lustre Volume`: scratch118
    group: str
    pi: str | None
    used_bytes: int  # the crawl's bytes (hard links once per volume)
    quota_bytes: int | None  # None: the look-up failed; 0: no limit
    files: int | None  # distinct inodes in the crawl
    quota_used_files: int | None  # the quota system's own count
    inode_quota: int | None


@dataclass(frozen=True)
class MemberUsage:
    """A user's share of a (volume, group): ``usage_by_user``."""

    volume: str
    group: str
    user: str
    used_bytes: int
    files: int


@dataclass(frozen=True)
class GroupForecast:
    """One (volume, group, measure) of the ``forecast`` table."""

    volume: str
    group: str
    measure: str  # "bytes" or "inodes" (the forecast's names)
    used: int
    limit: int | None
    status: str
    days_until_full: float | None


@dataclass(frozen=True)
class Directory:
    """A project directory of ``spaceman`` (the inspector's inventory)."""

    group: str
    directory: str
    total_tib: float  # spaceman keeps TiB, rounded to 3 places


_GROUPS = (
    "SELECT u.`Lustre Volume`, u.`Unix Group`, u.`PI`, u.`Used (bytes)`, u.`Quota (bytes)`,"
    " q.`Files`, q.`Quota Used (files)`, q.`Inode Quota`"
    " FROM `lustre_usage` u LEFT JOIN `usage_quota` q ON q.`date` = u.`date`"
    " AND q.`Lustre Volume` = u.`Lustre Volume` AND q.`Unix Group` = u.`Unix Group`"
    " WHERE u.`date` = %s ORDER BY u.`Lustre Volume`, u.`Unix Group`"
)
_MEMBERS = (
    "SELECT `Lustre Volume`, `Unix Group`, `User`, `Used (bytes)`, `Files`"
    " FROM `usage_by_user` WHERE `date` = %s"
    " ORDER BY `Lustre Volume`, `Unix Group`, `Used (bytes)` DESC, `User`"
)
_FORECASTS = (
    "SELECT `Lustre Volume`, `Unix Group`, `Measure`, `Used`, `Limit`, `Status`,"
    " `Days Until Full` FROM `forecast` WHERE `date` = %s"
    " ORDER BY `Lustre Volume`, `Unix Group`, `Measure`"
)
_DIRECTORIES = (
    "SELECT `Unix Group`, `Directory`, `Total` FROM `spaceman`"
    " WHERE `Total` IS NOT NULL ORDER BY `Unix Group`, `Total` DESC, `Directory`"
)


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def group_usage(db: Database, day: dt.date) -> list[GroupUsage]:
    return [
        GroupUsage(
            str(volume),
            str(group),
            None if pi is None else str(pi),
            int(used),
            _int(quota),
            _int(files),
            _int(quota_files),
            _int(inode_quota),
        )
        for volume, group, pi, used, quota, files, quota_files, inode_quota in db.query(
            _GROUPS, (day.isoformat(),)
        )
    ]


def member_usage(db: Database, day: dt.date) -> list[MemberUsage]:
    """Members by group, largest first."""
    return [
        MemberUsage(str(volume), str(group), str(user), int(used), int(files or 0))
        for volume, group, user, used, files in db.query(_MEMBERS, (day.isoformat(),))
    ]


def forecasts(db: Database, day: dt.date) -> list[GroupForecast]:
    return [
        GroupForecast(
            str(volume),
            str(group),
            str(measure),
            int(used),
            _int(limit),
            str(status),
            None if days is None else float(days),
        )
        for volume, group, measure, used, limit, status, days in db.query(
            _FORECASTS, (day.isoformat(),)
        )
    ]


def largest_directories(db: Database) -> list[Directory]:
    """Every group's project directories, largest first."""
    return [
        Directory(str(group), str(directory), float(total))
        for group, directory, total in db.query(_DIRECTORIES)
        if group is not None
    ]
