"""``inspector_history``: the inspector's rows of every night in exact bytes.

spaceman keeps only the latest run, and it and the inspector TSV hold TiB to three
decimals, so neither can give an exact delta. ``manage inspect`` (``inspect --tosql``)
records each night's rows here after the spaceman merge; a night inspected again
replaces its rows for the run's volumes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from humgen_storage.db import Database

TABLE = "inspector_history"
# (Volume, Project, Directory, Total (bytes), Files, Unix Group)
HistoryRow = tuple[str, str, str, int, int, str | None]

_DELETE = "DELETE FROM `inspector_history` WHERE `date` = %s AND `Volume` = %s"
_INSERT = (
    "INSERT INTO `inspector_history` (`date`, `Volume`, `Project`, `Directory`,"
    " `Total (bytes)`, `Files`, `Unix Group`) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_SELECT = (
    "SELECT `Volume`, `Project`, `Directory`, `Total (bytes)`, `Files`, `Unix Group`"
    " FROM `inspector_history` WHERE `date` = %s"
)


def record_night(
    database: Database, day: dt.date, volumes: Sequence[str], rows: Iterable[HistoryRow]
) -> int:
    """Replace the night's rows of ``volumes`` with ``rows``, in one transaction."""
    values = [(day.isoformat(), *row) for row in rows]
    with database.transaction() as cursor:
        for volume in volumes:
            cursor.execute(_DELETE, (day.isoformat(), volume))
        cursor.executemany(_INSERT, values)
    return len(values)


def night_rows(database: Database, day: dt.date) -> list[HistoryRow]:
    return [
        (str(v), str(project), str(directory), int(total), int(files), group and str(group))
        for v, project, directory, total, files, group in database.query(
            _SELECT, (day.isoformat(),)
        )
    ]
