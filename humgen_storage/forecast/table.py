"""The forecast's I/O: the history it reads, the ``forecast`` table and forecast-D.tsv.

Bytes come from ``lustre_usage`` (``Used (bytes)`` against ``Quota (bytes)``); inodes
from ``usage_quota`` when the database has it (``Quota Used (files)``, else the
crawl's ``Files``, against ``Inode Quota``). Only the nights the method reads before
the date (method.history_days) are read. The table's rows for the date (of the
selection) are replaced in one transaction, and the TSV, written in full from that
transaction's view of the date before the commit, is renamed into place after it (as
the report's).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from humgen_storage.config import ForecastConfig
from humgen_storage.db import Cursor, Database
from humgen_storage.forecast.method import Forecast, Series, forecast, history_days
from humgen_storage.run import layout
from humgen_storage.run.atomic import prepared_text_file
from humgen_storage.tsv import write_tsv_lines

BYTES = "bytes"
INODES = "inodes"

# Every statement is fixed text. The selection's filters are parameters: NULL matches
# every volume or group; a volume is named as in the table (scratch118) or by number.
_BYTES_HISTORY = (
    "SELECT `Lustre Volume`, `Unix Group`, `date`, `Used (bytes)`, `Quota (bytes)`"
    " FROM `lustre_usage` WHERE `date` > %s AND `date` <= %s"
    " AND (%s IS NULL OR `Lustre Volume` = %s OR `Lustre Volume` = %s)"
    " AND (%s IS NULL OR `Unix Group` = %s)"
)
_INODES_HISTORY = (
    "SELECT `Lustre Volume`, `Unix Group`, `date`, COALESCE(`Quota Used (files)`, `Files`),"
    " `Inode Quota` FROM `usage_quota` WHERE `date` > %s AND `date` <= %s"
    " AND (%s IS NULL OR `Lustre Volume` = %s OR `Lustre Volume` = %s)"
    " AND (%s IS NULL OR `Unix Group` = %s)"
)
_TABLE_EXISTS = {
    "sqlite": "SELECT COUNT(*) FROM `sqlite_master` WHERE `type` = 'table' AND `name` = %s",
    "mysql": "SELECT COUNT(*) FROM information_schema.`TABLES`"
    " WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` = %s",
}
_LATEST_DATE = "SELECT MAX(`date`) FROM `lustre_usage`"
_INSERT = (
    "INSERT INTO `forecast` (`date`, `Lustre Volume`, `Unix Group`, `Measure`, `Used`,"
    " `Limit`, `Growth (per day)`, `Days Until Full`, `Days Until Full (low)`,"
    " `Days Until Full (high)`, `Status`, `Nights`)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_DELETE = (
    "DELETE FROM `forecast` WHERE `date` = %s"
    " AND (%s IS NULL OR `Lustre Volume` = %s OR `Lustre Volume` = %s)"
    " AND (%s IS NULL OR `Unix Group` = %s)"
)
_SELECT_DATE = (
    "SELECT `Lustre Volume`, `Unix Group`, `Measure`, `Used`, `Limit`, `Growth (per day)`,"
    " `Days Until Full`, `Days Until Full (low)`, `Days Until Full (high)`, `Status`, `Nights`"
    " FROM `forecast` WHERE `date` = %s"
)

TSV_HEADER = (
    "Lustre Volume",
    "Unix Group",
    "Measure",
    "Used",
    "Limit",
    "Growth (per day)",
    "Days Until Full",
    "Days Until Full (low)",
    "Days Until Full (high)",
    "Status",
    "Nights",
)


@dataclass(frozen=True)
class Selection:
    """Which groups a run forecasts: None is every one."""

    volume: str | None = None
    group: str | None = None

    def parameters(self) -> tuple[str | None, ...]:
        volume = self.volume
        return (volume, volume, None if volume is None else f"scratch{volume}", *(self.group,) * 2)


@dataclass(frozen=True)
class ForecastRow:
    volume: str
    group: str
    measure: str
    forecast: Forecast


def _date(value: Any) -> dt.date:
    # MySQL returns DATE as datetime.date, SQLite as its ISO text.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def latest_date(db: Database) -> dt.date | None:
    """The newest date ``lustre_usage`` holds."""
    value = db.query(_LATEST_DATE)[0][0]
    return None if value is None else _date(value)


def has_table(db: Database, table: str) -> bool:
    return bool(db.query(_TABLE_EXISTS[db.dialect], (table,))[0][0])


def _series(rows: Iterable[tuple[Any, ...]], day: dt.date) -> Iterator[tuple[str, str, Series]]:
    """(volume, group, nights in date order) for each group with a row on ``day``."""
    nights: dict[tuple[str, str], list[tuple[int, int, int | None]]] = {}
    for volume, group, date, used, limit in rows:
        if used is None:
            continue
        night = (_date(date).toordinal(), int(used), None if limit is None else int(limit))
        nights.setdefault((str(volume), str(group)), []).append(night)
    for (volume, group), points in sorted(nights.items()):
        points.sort()
        if points[-1][0] != day.toordinal():
            continue  # not in tonight's report: nothing to forecast
        days, used, limits = zip(*points, strict=True)
        yield volume, group, Series(days, used, limits)


def compute(
    db: Database, day: dt.date, settings: ForecastConfig, selection: Selection
) -> list[ForecastRow]:
    """The forecasts of ``day`` for every (volume, group) of the selection, both measures."""
    first = day - dt.timedelta(days=history_days(settings))
    window = (first.isoformat(), day.isoformat())
    parameters = (*window, *selection.parameters())
    queries = [(BYTES, _BYTES_HISTORY)]
    if has_table(db, "usage_quota"):
        queries.append((INODES, _INODES_HISTORY))
    out = []
    for measure, query in queries:
        for volume, group, series in _series(db.query(query, parameters), day):
            out.append(ForecastRow(volume, group, measure, forecast(series, settings)))
    return out


def _values(row: ForecastRow) -> tuple[Any, ...]:
    f = row.forecast
    return (
        row.volume,
        row.group,
        row.measure,
        f.used,
        f.limit,
        f.growth_per_day,
        f.days_until_full,
        f.days_low,
        f.days_high,
        f.status,
        f.points,
    )


def forecast_tsv(report_dir: Path, day: dt.date) -> Path:
    return layout.output_files_dir(report_dir) / f"forecast-{layout.day_stamp(day)}.tsv"


def _tsv_order(row: tuple[Any, ...]) -> tuple[bytes, bytes, bytes]:
    return (str(row[0]).encode(), str(row[1]).encode(), str(row[2]).encode())


def _escaped(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # A name with a tab or a newline would break the format: shown escaped, as the report's.
    group = str(row[1]).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return (row[0], group, *row[2:])


def rows_of(cursor: Cursor, day: dt.date) -> list[tuple[Any, ...]]:
    """The table's rows of ``day`` as the caller's transaction sees them, in TSV order."""
    cursor.execute(_SELECT_DATE, (day.isoformat(),))
    return sorted(cursor.fetchall(), key=_tsv_order)


def publish(
    db: Database, report_dir: Path, day: dt.date, rows: list[ForecastRow], selection: Selection
) -> Path:
    """Replace the selection's rows of ``day`` and write forecast-D.tsv from every row
    of the date; the TSV appears complete, after the commit, or not at all."""
    tsv = forecast_tsv(report_dir, day)
    with prepared_text_file(tsv, base=report_dir) as prepared:
        with db.transaction() as cursor:
            cursor.execute(_DELETE, (day.isoformat(), *selection.parameters()))
            cursor.executemany(_INSERT, [(day.isoformat(), *_values(row)) for row in rows])
            write_tsv_lines(
                prepared.handle, TSV_HEADER, (_escaped(row) for row in rows_of(cursor, day))
            )
            prepared.finish()
        prepared.install()
    return tsv
