"""The forecast's table, TSV and command, on SQLite and MySQL, and `manage report` running it."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.config import DatabaseConfig, ForecastConfig
from humgen_storage.db import Database, open_database
from humgen_storage.forecast import table
from humgen_storage.forecast.table import Selection, compute, publish
from humgen_storage.report.table import INSERT_ROW
from tests.helpers import base_sections, write_ini
from tests.sites import Site, days_ago

DAY = dt.date(2026, 11, 20)
NIGHTS = [DAY - dt.timedelta(days=n) for n in range(9, -1, -1)]  # ten nights to DAY
TIB = 2**40

# usage_quota as the report fills it (db.py creates the table with the others).
INSERT_QUOTA = (
    "INSERT INTO `usage_quota` (`date`, `Lustre Volume`, `Unix Group`, `Files`,"
    " `Quota Used (bytes)`, `Quota Used (files)`, `Inode Quota`)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)

HEADER = (
    "Lustre Volume\tUnix Group\tMeasure\tUsed\tLimit\tGrowth (per day)\tDays Until Full"
    "\tDays Until Full (low)\tDays Until Full (high)\tStatus\tNights\n"
)


def usage(volume: str, group: str, day: dt.date, used: int, quota: int | None) -> tuple:
    return (volume, None, group, used, quota, "", 1.0, None, day.isoformat(), 0)


def fill_history(db: Database, inodes: bool) -> None:
    """hgi on scratch118 grows 1 TiB a night towards 20 TiB; on its last night it has
    used 10 TiB, so (20 - 10) / 1 = 10 days. team1 is flat and unlimited; old-team is
    not in the last night's report. Inodes: hgi's quota system counts 1000 + 100·n
    files of 2000 (from Files where the quota system said nothing), team1 has no limit."""
    rows = []
    for n, night in enumerate(NIGHTS):
        rows.append(usage("scratch118", "hgi", night, (1 + n) * TIB, 20 * TIB))
        rows.append(usage("scratch118", "team1", night, 5 * TIB, 0))
        if n < 9:
            rows.append(usage("scratch118", "old-team", night, TIB, 2 * TIB))
    with db.transaction() as cursor:
        cursor.executemany(INSERT_ROW, rows)
        if inodes:
            cursor.executemany(
                INSERT_QUOTA,
                [
                    (night.isoformat(), "scratch118", "hgi", 1000 + 100 * n)
                    + (None, None if n == 4 else 1000 + 100 * n, 2000)
                    for n, night in enumerate(NIGHTS)
                ]
                + [(DAY.isoformat(), "scratch118", "team1", 7, 0, 7, 0)],
            )


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    return open_database(DatabaseConfig(url=f"sqlite:///{tmp_path / 'usage.db'}"))


def test_bytes_and_inodes_into_the_table_and_the_tsv(sqlite_db: Database, tmp_path: Path) -> None:
    fill_history(sqlite_db, inodes=True)
    rows = compute(sqlite_db, DAY, ForecastConfig(), Selection())
    tsv = publish(sqlite_db, tmp_path / "reports", DAY, rows, Selection())

    assert tsv == tmp_path / "reports" / "report-output-files" / "forecast-20261120.tsv"
    # hgi inodes: (2000 - 1900) / 100 = 1 day.
    assert tsv.read_text() == HEADER + (
        f"scratch118\thgi\tbytes\t{10 * TIB}\t{20 * TIB}\t{float(TIB)}\t10.0\t10.0\t10.0"
        "\twarning\t10\n"
        "scratch118\thgi\tinodes\t1900\t2000\t100.0\t1.0\t1.0\t1.0\tcritical\t10\n"
        f"scratch118\tteam1\tbytes\t{5 * TIB}\t0\t-\t-\t-\t-\tunlimited\t0\n"
        "scratch118\tteam1\tinodes\t7\t0\t-\t-\t-\t-\tunlimited\t0\n"
    )
    stored = sqlite_db.query(
        "SELECT `date`, `Unix Group`, `Measure`, `Days Until Full`, `Status` FROM `forecast`"
        " ORDER BY `Unix Group`, `Measure`"
    )
    assert stored == [
        ("2026-11-20", "hgi", "bytes", 10.0, "warning"),
        ("2026-11-20", "hgi", "inodes", 1.0, "critical"),
        ("2026-11-20", "team1", "bytes", None, "unlimited"),
        ("2026-11-20", "team1", "inodes", None, "unlimited"),
    ]


def test_a_selection_replaces_only_its_rows(sqlite_db: Database, tmp_path: Path) -> None:
    fill_history(sqlite_db, inodes=False)  # no usage_quota rows: bytes only
    every = compute(sqlite_db, DAY, ForecastConfig(), Selection())
    assert [(r.group, r.measure) for r in every] == [("hgi", "bytes"), ("team1", "bytes")]
    publish(sqlite_db, tmp_path, DAY, every, Selection())
    hgi = Selection(volume="118", group="hgi")
    tighter = compute(sqlite_db, DAY, ForecastConfig(warning_days=5.0), hgi)
    assert [(r.group, r.forecast.status) for r in tighter] == [("hgi", "ok")]
    publish(sqlite_db, tmp_path, DAY, tighter, hgi)
    assert sqlite_db.query("SELECT `Unix Group`, `Status` FROM `forecast` ORDER BY 1") == [
        ("hgi", "ok"),
        ("team1", "unlimited"),
    ]
    assert table.latest_date(sqlite_db) == DAY


def test_the_table_on_mysql(mysql_db: Database, tmp_path: Path) -> None:
    with mysql_db.transaction() as cursor:
        cursor.execute("DELETE FROM `forecast`")
    fill_history(mysql_db, inodes=False)
    rows = compute(mysql_db, DAY, ForecastConfig(), Selection())
    publish(mysql_db, tmp_path, DAY, rows, Selection())
    publish(mysql_db, tmp_path, DAY, rows, Selection())  # again: replaced, not doubled
    stored = mysql_db.query(
        "SELECT `date`, `Unix Group`, `Used`, `Limit`, `Days Until Full`, `Status`, `Nights`"
        " FROM `forecast` ORDER BY `Unix Group`"
    )
    assert stored == [
        (DAY, "hgi", 10 * TIB, 20 * TIB, 10.0, "warning", 10),
        (DAY, "team1", 5 * TIB, 0, None, "unlimited", 0),
    ]


def test_the_command_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_ini(tmp_path / "humgen_storage.ini", base_sections(tmp_path))
    with open_database(DatabaseConfig(url=f"sqlite:///{tmp_path / 'usage.db'}")) as db:
        fill_history(db, inodes=False)

    assert main(["--config", str(config), "forecast", "--group", "hgi"]) == 0

    out = capsys.readouterr().out
    assert f"scratch118\thgi\tbytes\t{10 * TIB}\t{20 * TIB}\t10 (10-10)\twarning" in out
    assert "team1" not in out
    tsv = tmp_path / "reports" / "report-output-files" / "forecast-20261120.tsv"
    assert tsv.read_text().count("\n") == 2  # the header and hgi's row


def test_manage_report_forecasts_after_publishing(site: Site) -> None:
    day = days_ago(1)
    site.add_set(day)

    assert main(site.argv("manage", "report")) == 0

    tsv = site.report_dir / "report-output-files" / f"forecast-{day.strftime('%Y%m%d')}.tsv"
    # One night of history: each report row's status follows from its quota alone.
    expected = sorted(
        (
            str(volume),
            str(group),
            "bytes",
            str(used),
            "-" if quota is None else str(quota),
            "unlimited"
            if quota == 0
            else "full"
            if quota is not None and used >= quota
            else "not enough history",
        )
        for volume, _, group, used, quota, *_ in site.usage_rows()
    )
    lines = [line.split("\t") for line in tsv.read_text().splitlines()[1:]]
    bytes_lines = [line for line in lines if line[2] == "bytes"]
    assert sorted(tuple(line[:5] + line[9:10]) for line in bytes_lines) == expected
    assert {line[9] for line in bytes_lines} == {"unlimited", "full", "not enough history"}
    # Inodes: one line per usage_quota row the report wrote, its used figure the quota
    # system's file count, else the crawl's distinct inodes.
    with sqlite3.connect(site.database) as db:
        quota_rows = db.execute(
            "SELECT `Lustre Volume`, `Unix Group`, `Files`, `Quota Used (files)`, `Inode Quota`"
            " FROM `usage_quota` WHERE `date` = ?",
            (day.isoformat(),),
        ).fetchall()
    inode_lines = sorted(tuple(line[:5]) for line in lines if line[2] == "inodes")
    assert inode_lines == sorted(
        (
            v,
            g,
            "inodes",
            str(counted if counted is not None else files),
            "-" if lim is None else str(lim),
        )
        for v, g, files, counted, lim in quota_rows
    )


def test_a_failed_forecast_leaves_the_report_published_and_degraded(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr("humgen_storage.forecast.command.compute", broken)
    day = days_ago(1)
    site.add_set(day)

    assert main(site.argv("manage", "report")) == 3

    assert site.tsv(day).is_file()
    assert not list((site.report_dir / "report-output-files").glob("forecast-*"))
    err = capsys.readouterr().err
    assert "forecast for" in err and "disk on fire" in err
