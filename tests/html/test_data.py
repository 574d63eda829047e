"""The pages from the tables of issue 18 (usage_by_user, usage_quota, forecast); those
the schema does not make yet are made here with exactly the columns their branches
give them."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

from humgen_storage.db import Database
from humgen_storage.html.data import read_site
from humgen_storage.html.site import build_pages

DAY = dt.date(2026, 11, 24)
TABLES = (
    "CREATE TABLE IF NOT EXISTS `usage_by_user` (`date` DATE NOT NULL, `Lustre Volume` TEXT NOT NULL,"
    " `Unix Group` TEXT NOT NULL, `User` TEXT NOT NULL, `Used (bytes)` BIGINT NOT NULL,"
    " `Files` BIGINT NOT NULL, `Last Modified (days)` DECIMAL(12,1) NOT NULL)",
    "CREATE TABLE IF NOT EXISTS `usage_quota` (`date` DATE NOT NULL, `Lustre Volume` TEXT NOT NULL,"
    " `Unix Group` TEXT NOT NULL, `Files` BIGINT NOT NULL, `Quota Used (bytes)` BIGINT,"
    " `Quota Used (files)` BIGINT, `Inode Quota` BIGINT)",
    "CREATE TABLE IF NOT EXISTS `forecast` (`date` DATE NOT NULL, `Lustre Volume` TEXT NOT NULL,"
    " `Unix Group` TEXT NOT NULL, `Measure` TEXT NOT NULL, `Used` BIGINT NOT NULL,"
    " `Limit` BIGINT, `Growth (per day)` DOUBLE, `Days Until Full` DOUBLE,"
    " `Days Until Full (low)` DOUBLE, `Days Until Full (high)` DOUBLE,"
    " `Status` TEXT NOT NULL, `Nights` INT NOT NULL)",
)


def database(path: Path) -> Database:
    db = Database(sqlite3.connect(path, isolation_level=None), "sqlite", str(path))
    db.create_schema()
    with db.transaction() as cursor:
        for statement in TABLES:
            cursor.execute(statement)
        for n in range(3):
            day = (DAY - dt.timedelta(days=2 - n)).isoformat()
            for group, used in (("hgi", 700 + 100 * n), ("tol", 50)):
                cursor.execute(
                    "INSERT INTO `lustre_usage` (`Lustre Volume`, `PI`, `Unix Group`,"
                    " `Used (bytes)`, `Quota (bytes)`, `date`, `IsHumgen`)"
                    " VALUES (%s, %s, %s, %s, %s, %s, 1)",
                    ("scratch118", "Barrett", group, used, 1000, day),
                )
                cursor.execute(
                    "INSERT INTO `usage_quota` (`date`, `Lustre Volume`, `Unix Group`, `Files`,"
                    " `Quota Used (bytes)`, `Quota Used (files)`, `Inode Quota`)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (day, "scratch118", group, 10 + n, used, 12 + n, 100),
                )
        cursor.execute(
            "INSERT INTO `usage_by_user` (`date`, `Lustre Volume`, `Unix Group`, `User`,"
            " `Used (bytes)`, `Files`, `Last Modified (days)`) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (DAY.isoformat(), "scratch118", "hgi", "alice<b>", 600, 7, 1.5),
        )
        cursor.execute(
            "INSERT INTO `forecast` (`date`, `Lustre Volume`, `Unix Group`, `Measure`, `Used`,"
            " `Limit`, `Growth (per day)`, `Days Until Full`, `Days Until Full (low)`,"
            " `Days Until Full (high)`, `Status`, `Nights`)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                DAY.isoformat(),
                "scratch118",
                "hgi",
                "bytes",
                900,
                1000,
                100.0,
                1.0,
                0.5,
                2.0,
                "critical",
                3,
            ),
        )
    return db


def test_members_inodes_and_the_forecast_reach_the_group_page(tmp_path: Path) -> None:
    with database(tmp_path / "usage.db") as db:
        data = read_site(db, DAY)
    pages = build_pages(data)
    hgi = pages["group-scratch118-hgi.html"]
    # Two charts (bytes, inodes), three nights each; the bytes forecast drawn ahead.
    assert hgi.count('<svg class="chart"') == 2
    assert len(re.findall('<circle class="point"', hgi)) == 6
    assert hgi.count('<line class="forecast"') == 1
    assert "<title>2026-11-24: 14 files</title>" in hgi
    assert "bytes: critical, full in 1 days (80 % interval 0 to 2 days)" in hgi
    assert "<td>alice&lt;b&gt;</td>" in hgi and 'title="600 bytes"' in hgi
    # The critical group first on the overview.
    index = pages["index.html"]
    assert index.index('href="group-scratch118-hgi.html"') < index.index(
        'href="group-scratch118-tol.html"'
    )
