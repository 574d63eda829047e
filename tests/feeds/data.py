"""A hand-made night in the database for the feeds' and notify's tests. Holds no tests.

The tables the report and the forecast add (``usage_by_user``, ``usage_quota``,
``forecast``) are made here with exactly their columns where db.py's schema does not
make them yet.

Figures of 2026-11-20 (the day before has other rows, which no feed of the 20th holds):

| volume | group | PI | used | quota | files | quota files | inode quota | members |
|---|---|---|---|---|---|---|---|---|
| scratch118 | hgi | Smith | 10 000 000 | 20 000 000 | 30 | 31 | 1000 | alice 6 000 000 / 20, bob 4 000 000 / 10 |
| scratch118 | LONG_GROUP | Jones | 2049 | 0 | — | — | — | LONG_USER 2049 / 3 |
| scratch118 | carol | Carol | 5000 | NULL | 5 | 5 | 0 | carol 5000 / 5 |
| scratch115 | hgi | Smith | 1 000 000 | 1 000 000 | 12 | 12 | 100 | alice 1 000 000 / 12 |
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from humgen_storage.config import DatabaseConfig
from humgen_storage.db import Database, open_database

DAY = dt.date(2026, 11, 20)
DAY_BEFORE = dt.date(2026, 11, 19)
LONG_GROUP = "a-very-long-group-name-for-testing-xdmod"  # 40 characters
LONG_USER = "a-very-long-user-name-beyond-thirty-chars"  # 41 characters

# As the report's and the forecast's branches make them (db_tables.py there), with `id`.
_EXTRA_TABLES = (
    "CREATE TABLE IF NOT EXISTS `usage_by_user` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,"
    " `date` DATE NOT NULL, `Lustre Volume` TEXT NOT NULL, `Unix Group` TEXT NOT NULL,"
    " `User` TEXT NOT NULL, `Used (bytes)` BIGINT NOT NULL, `Files` BIGINT NOT NULL,"
    " `Last Modified (days)` DECIMAL(12,1) NOT NULL,"
    " UNIQUE (`date`, `Lustre Volume`, `Unix Group`, `User`))",
    "CREATE TABLE IF NOT EXISTS `usage_quota` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,"
    " `date` DATE NOT NULL, `Lustre Volume` TEXT NOT NULL, `Unix Group` TEXT NOT NULL,"
    " `Files` BIGINT NOT NULL, `Quota Used (bytes)` BIGINT, `Quota Used (files)` BIGINT,"
    " `Inode Quota` BIGINT, UNIQUE (`date`, `Lustre Volume`, `Unix Group`))",
    "CREATE TABLE IF NOT EXISTS `forecast` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,"
    " `date` DATE NOT NULL, `Lustre Volume` TEXT NOT NULL, `Unix Group` TEXT NOT NULL,"
    " `Measure` TEXT NOT NULL, `Used` BIGINT NOT NULL, `Limit` BIGINT,"
    " `Growth (per day)` DOUBLE, `Days Until Full` DOUBLE, `Days Until Full (low)` DOUBLE,"
    " `Days Until Full (high)` DOUBLE, `Status` TEXT NOT NULL, `Nights` INT NOT NULL,"
    " UNIQUE (`date`, `Lustre Volume`, `Unix Group`, `Measure`))",
)

# (volume, PI, group, used, quota)
USAGE = [
    ("scratch118", "Smith", "hgi", 10_000_000, 20_000_000),
    ("scratch118", "Jones", LONG_GROUP, 2049, 0),
    ("scratch118", "Carol", "carol", 5000, None),
    ("scratch115", "Smith", "hgi", 1_000_000, 1_000_000),
]
# (volume, group, files, quota used bytes, quota used files, inode quota)
QUOTA = [
    ("scratch118", "hgi", 30, 10_240_000, 31, 1000),
    ("scratch118", "carol", 5, 8192, 5, 0),
    ("scratch115", "hgi", 12, 1_000_448, 12, 100),
]
# (volume, group, user, used, files)
MEMBERS = [
    ("scratch118", "hgi", "alice", 6_000_000, 20),
    ("scratch118", "hgi", "bob", 4_000_000, 10),
    ("scratch118", LONG_GROUP, LONG_USER, 2049, 3),
    ("scratch118", "carol", "carol", 5000, 5),
    ("scratch115", "hgi", "alice", 1_000_000, 12),
]
# (volume, group, measure, used, limit, status, days until full)
FORECAST = [
    ("scratch118", "hgi", "bytes", 10_000_000, 20_000_000, "warning", 20.5),
    ("scratch118", "hgi", "inodes", 31, 1000, "ok", None),
    ("scratch118", LONG_GROUP, "bytes", 2049, 0, "unlimited", None),
    ("scratch118", "carol", "bytes", 5000, 6000, "critical", 3.0),
    ("scratch115", "hgi", "bytes", 1_000_000, 1_000_000, "full", 0.0),
]
# spaceman: (project, directory, volume, total TiB, group)
DIRECTORIES = [
    ("p1", "/lustre/scratch118/humgen/projects/p1", "scratch118", 3.5, "hgi"),
    ("p2", "/lustre/scratch118/humgen/projects/p2", "scratch118", 1.25, "hgi"),
    ("p3", "/lustre/scratch115/humgen/projects/p3", "scratch115", 0.5, "hgi"),
    ("c", "/lustre/scratch118/humgen/teams/carol", "scratch118", 0.001, "carol"),
]


def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'usage.db'}"


def fill(url: str) -> None:
    """The night above (and other rows the day before) in the database at ``url``."""
    with open_database(DatabaseConfig(url=url)) as db:
        fill_database(db)


def fill_database(db: Database) -> None:
    with db.transaction() as cursor:
        for statement in _EXTRA_TABLES:
            cursor.execute(statement)
        for day in (DAY_BEFORE, DAY):
            shrink = 2 if day == DAY_BEFORE else 1
            cursor.executemany(
                "INSERT INTO `lustre_usage` (`Lustre Volume`, `PI`, `Unix Group`,"
                " `Used (bytes)`, `Quota (bytes)`, `Last Modified (days)`, `date`, `IsHumgen`)"
                " VALUES (%s, %s, %s, %s, %s, 1.0, %s, 1)",
                [(v, pi, g, used // shrink, q, day.isoformat()) for v, pi, g, used, q in USAGE],
            )
            cursor.executemany(
                "INSERT INTO `usage_quota` (`date`, `Lustre Volume`, `Unix Group`, `Files`,"
                " `Quota Used (bytes)`, `Quota Used (files)`, `Inode Quota`)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(day.isoformat(), *row) for row in QUOTA],
            )
            cursor.executemany(
                "INSERT INTO `usage_by_user` (`date`, `Lustre Volume`, `Unix Group`, `User`,"
                " `Used (bytes)`, `Files`, `Last Modified (days)`)"
                " VALUES (%s, %s, %s, %s, %s, %s, 1.0)",
                [(day.isoformat(), v, g, u, used // shrink, f) for v, g, u, used, f in MEMBERS],
            )
            status = "ok" if day == DAY_BEFORE else None
            cursor.executemany(
                "INSERT INTO `forecast` (`date`, `Lustre Volume`, `Unix Group`, `Measure`,"
                " `Used`, `Limit`, `Status`, `Days Until Full`, `Nights`)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 14)",
                [
                    (day.isoformat(), v, g, m, u, lim, status or s, d)
                    for v, g, m, u, lim, s, d in FORECAST
                ],
            )
        cursor.executemany(
            "INSERT INTO `spaceman` (`Project`, `Directory`, `Volume`, `Total`, `Unix Group`)"
            " VALUES (%s, %s, %s, %s, %s)",
            DIRECTORIES,
        )
