"""history: import a site's old report TSVs into lustre_usage, for the dates it lacks.

``humgen-storage history import report-*.tsv``: each file is one date (from its
name) and one transaction; a date the database already holds is left as it is, so
importing again changes nothing. A file that cannot be read is named and skipped;
when others were imported the run ends degraded (exit status 3), when none could be
it fails (exit 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.db import Database, open_database
from humgen_storage.errors import JobFailed
from humgen_storage.history.legacy import LegacyFormatError, date_of, parse
from humgen_storage.report.table import INSERT_ROW
from humgen_storage.run.record import current

log = logging.getLogger(__name__)

_ROWS_OF_DATE = "SELECT COUNT(*) FROM `lustre_usage` WHERE `date` = %s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("import",), help="import: load legacy TSVs")
    parser.add_argument("files", nargs="+", metavar="FILE", help="report-YYYYMMDD.tsv files")


def run(args: argparse.Namespace, config: Config) -> int:
    paths = [Path(name) for name in args.files]
    failed: list[str] = []
    imported = 0
    with open_database(config.database, base_dir=config.source.parent) as db:
        for path in sorted(paths, key=_date_or_max):
            try:
                imported += import_file(db, path)
            except (LegacyFormatError, OSError) as exc:
                log.error("%s", exc)
                failed.append(str(exc))
    current().rows_written["lustre_usage"] = imported
    if failed and imported == 0:
        raise JobFailed(f"{len(failed)} of {len(paths)} files could not be imported", failed)
    if failed:
        current().degrade(
            f"{len(failed)} of {len(paths)} files were not imported (named above); the"
            " others were, and importing them all again loads only the missing dates"
        )
    return 0


def _date_or_max(path: Path) -> dt.date:
    try:
        return date_of(path)
    except LegacyFormatError:
        return dt.date.max  # named as a failure in its turn


def import_file(db: Database, path: Path) -> int:
    """Load one file's rows when the database holds nothing for its date; the rows
    loaded (0 when the date was there)."""
    day = date_of(path)
    rows = parse(path, path.read_bytes())
    with db.transaction() as cursor:
        cursor.execute(_ROWS_OF_DATE, (day.isoformat(),))
        if cursor.fetchall()[0][0]:
            log.info("%s: %s is already in %s; left as it is", path, day, db.description)
            return 0
        cursor.executemany(INSERT_ROW, [row.values() for row in rows])
    log.info("%s: imported %d rows for %s into %s", path, len(rows), day, db.description)
    return len(rows)
