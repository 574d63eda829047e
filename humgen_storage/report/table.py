"""The lustre_usage table and report-YYYYMMDD.tsv."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from humgen_storage.db import Cursor, Database
from humgen_storage.errors import JobFailed
from humgen_storage.report.aggregate import consumption
from humgen_storage.run.report_staging import UsageRow
from humgen_storage.tsv import write_tsv, write_tsv_lines

TSV_HEADER = (
    "Lustre Volume",
    "PI",
    "Unix Group",
    "Used (bytes)",
    "Quota (bytes)",
    "Consumption",
    "Last Modified (days)",
    "Archived Directories",
    "Is Humgen?",
)

INSERT_ROW = (
    "INSERT INTO `lustre_usage` (`Lustre Volume`, `PI`, `Unix Group`, `Used (bytes)`, `Quota (bytes)`,"
    " `Consumption`, `Last Modified (days)`, `Archived Directories`, `date`, `IsHumgen`)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
SELECT_DATE = (
    "SELECT `Lustre Volume`, `PI`, `Unix Group`, `Used (bytes)`, `Quota (bytes)`, `Consumption`,"
    " `Last Modified (days)`, `Archived Directories`, `date`, `IsHumgen`"
    " FROM `lustre_usage` WHERE `date` = %s"
)


# `Used (bytes)` is a BIGINT (SQLite's INTEGER is the same 8 bytes): a larger sum is
# refused before anything is written, never wrapped, cut short or left to the driver.
BIGINT_MAX = 2**63 - 1


def check_used_fits(volume_name: str, group: str, gid: int, used: int) -> None:
    """JobFailed, naming the volume and the group, when ``used`` does not fit its column."""
    if used > BIGINT_MAX:
        raise JobFailed(
            f"volume {volume_name}: group {group} (gid {gid}) uses {used} bytes, more than"
            f" the `Used (bytes)` column holds (BIGINT, at most {BIGINT_MAX}); nothing of"
            " the run was written"
        )


def has_rows_for(db: Database, day: dt.date) -> bool:
    rows = db.query("SELECT COUNT(*) FROM `lustre_usage` WHERE `date` = %s", (day.isoformat(),))
    return bool(rows[0][0])


def volume_names_for(db: Database, day: dt.date) -> set[str]:
    """The ``Lustre Volume`` names that have rows for the date."""
    rows = db.query(
        "SELECT DISTINCT `Lustre Volume` FROM `lustre_usage` WHERE `date` = %s", (day.isoformat(),)
    )
    return {str(row[0]) for row in rows}


# The report's tables, each replaced per (date, volume) by `--force`. Written out
# whole: no statement is built from a name.
_DELETE_VOLUME_OF_DATE = {
    "lustre_usage": "DELETE FROM `lustre_usage` WHERE `date` = %s AND `Lustre Volume` = %s",
    "usage_by_user": "DELETE FROM `usage_by_user` WHERE `date` = %s AND `Lustre Volume` = %s",
    "usage_quota": "DELETE FROM `usage_quota` WHERE `date` = %s AND `Lustre Volume` = %s",
}


def delete_volumes_of_date(
    cursor: Cursor, table: str, day: dt.date, volume_names: Iterable[str]
) -> None:
    """Delete ``table``'s rows of ``day`` for the run's volumes (and only those)."""
    statement = _DELETE_VOLUME_OF_DATE[table]
    for name in volume_names:
        cursor.execute(statement, (day.isoformat(), name))


def load_rows(
    cursor: Cursor,
    day: dt.date,
    volume_names: Sequence[str],
    rows: Iterable[UsageRow],
    replace: bool,
) -> int:
    """Insert a run's rows inside the caller's transaction; with ``replace``, first delete
    that date's rows of the run's volumes (and only those).

    A group whose quota look-up failed in this run keeps the quota an earlier run of
    the same date stored, if any: ``--force`` after a quota outage must not replace
    good numbers with NULL."""
    if replace:
        stored = _stored_quotas(cursor, day, volume_names)
        rows = [_with_stored_quota(row, stored) for row in rows]
        delete_volumes_of_date(cursor, "lustre_usage", day, volume_names)
    values = [
        (
            r.volume_name,
            r.pi,
            r.group,
            r.used,
            r.quota,
            r.consumption,
            r.last_modified,
            r.archived,
            r.date,
            int(r.is_humgen),
        )
        for r in rows
    ]
    cursor.executemany(INSERT_ROW, values)
    return len(values)


def _stored_quotas(
    cursor: Cursor, day: dt.date, volume_names: Sequence[str]
) -> dict[tuple[str, str], int]:
    stored: dict[tuple[str, str], int] = {}
    for name in volume_names:
        cursor.execute(
            "SELECT `Unix Group`, `Quota (bytes)` FROM `lustre_usage`"
            " WHERE `date` = %s AND `Lustre Volume` = %s AND `Quota (bytes)` IS NOT NULL",
            (day.isoformat(), name),
        )
        stored.update({(name, group): int(quota) for group, quota in cursor.fetchall()})
    return stored


def _with_stored_quota(row: UsageRow, stored: dict[tuple[str, str], int]) -> UsageRow:
    quota = stored.get((row.volume_name, row.group))
    if row.quota is not None or quota is None:
        return row
    return replace(row, quota=quota, consumption=consumption(row.used, quota))


def _number(value: Decimal | float | None) -> float | None:
    # MySQL returns DECIMAL(12,1) as Decimal, SQLite as float: one type for both.
    return None if value is None else float(value)


def rows_for(db: Database, day: dt.date) -> list[UsageRow]:
    """Every row of the date, in the TSV's order."""
    return _usage_rows(db.query(SELECT_DATE, (day.isoformat(),)))


def rows_in(cursor: Cursor, day: dt.date) -> list[UsageRow]:
    """Every row of the date as the caller's transaction sees it (its own inserts
    included), in the TSV's order."""
    cursor.execute(SELECT_DATE, (day.isoformat(),))
    return _usage_rows(cursor.fetchall())


def _usage_rows(result: Iterable[tuple[Any, ...]]) -> list[UsageRow]:
    rows = [
        UsageRow(
            volume_name=volume,
            pi=pi,
            group=group,
            used=int(used),
            quota=None if quota is None else int(quota),
            consumption=consumption,
            last_modified=_number(last_modified),
            archived=archived,
            date=str(date)[:10],
            is_humgen=bool(is_humgen),
        )
        for volume, pi, group, used, quota, consumption, last_modified, archived, date, is_humgen in result
    ]
    rows.sort(key=tsv_order)
    return rows


def tsv_order(row: UsageRow) -> tuple[bytes, bool, bytes, bytes]:
    """By volume, then PI with NULL first, then group, comparing bytes."""
    pi = row.pi.encode("utf-8") if row.pi is not None else b""
    return (row.volume_name.encode("utf-8"), row.pi is not None, pi, row.group.encode("utf-8"))


def _tsv_values(row: UsageRow) -> tuple[Any, ...]:
    # Tabs or newlines in LDAP values would break the format; show them escaped.
    def text(value: str | None) -> str | None:
        if value is None:
            return None
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    return (
        row.volume_name,
        text(row.pi),
        text(row.group),
        row.used,
        row.quota,
        row.consumption,
        row.last_modified,
        text(row.archived),
        "True" if row.is_humgen else "False",
    )


def write_report_tsv(path: Path, rows: Iterable[UsageRow]) -> None:
    write_tsv(path, TSV_HEADER, (_tsv_values(row) for row in rows))


def write_report_lines(handle: IO[str], rows: Iterable[UsageRow]) -> None:
    """The TSV into an open file (a ``run.atomic.PreparedFile`` before the commit)."""
    write_tsv_lines(handle, TSV_HEADER, (_tsv_values(row) for row in rows))
